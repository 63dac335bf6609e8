-- PostgreSQL schema version 5: the Merkle tree over the events (RFC 9162) and the signed tree
-- heads, as `../005_tree.sql` on SQLite.
--
-- `tree_nodes` holds the hash of every complete (perfect) subtree of the tree over the first
-- `tree_position.size` events: level 0 the leaf hashes, level L the subtree of 2^L leaves
-- starting at leaf idx * 2^L. Like the other caches it is derived from `events`: no trigger
-- protects it, `restore` empties it, it is caught up before a proof or a tree head, and
-- `tree_position` binds it to the log (`chain_hash` is the hash of event `size`); a tree no
-- longer bound is rebuilt. `verify` recomputes every node. Catch-ups are serialised by an
-- advisory lock (crates/store/src/postgres_tree.rs), so appends never wait for them.
CREATE TABLE tree_nodes (
    level integer NOT NULL CHECK (level >= 0 AND level < 64),
    idx   bigint  NOT NULL CHECK (idx >= 0),
    hash  bytea   NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

CREATE TABLE tree_position (
    id         integer PRIMARY KEY CHECK (id = 1),
    size       bigint  NOT NULL CHECK (size >= 0),
    chain_hash text    COLLATE "C" NOT NULL
);

-- Signed tree heads: (size, root, time) signed with Ed25519 by a key kept outside the
-- database (docs/log-format.md gives the signed bytes). They are evidence, not a cache: kept
-- append-only like the log (row triggers refuse UPDATE and DELETE, a statement trigger
-- TRUNCATE, all enabled ALWAYS), exported with it and checked by `verify`, which also checks
-- the triggers.
CREATE TABLE tree_heads (
    id           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size         bigint  NOT NULL CHECK (size >= 0),
    root         text    COLLATE "C" NOT NULL,
    timestamp_ms bigint  NOT NULL,
    key_id       text    COLLATE "C" NOT NULL,
    signature    text    COLLATE "C" NOT NULL
);

CREATE FUNCTION tree_heads_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signed tree heads are append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER tree_heads_refuse_update BEFORE UPDATE ON tree_heads
    FOR EACH ROW EXECUTE FUNCTION tree_heads_refuse_change();
CREATE TRIGGER tree_heads_refuse_delete BEFORE DELETE ON tree_heads
    FOR EACH ROW EXECUTE FUNCTION tree_heads_refuse_change();
CREATE TRIGGER tree_heads_refuse_truncate BEFORE TRUNCATE ON tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION tree_heads_refuse_change();

ALTER TABLE tree_heads ENABLE ALWAYS TRIGGER tree_heads_refuse_update;
ALTER TABLE tree_heads ENABLE ALWAYS TRIGGER tree_heads_refuse_delete;
ALTER TABLE tree_heads ENABLE ALWAYS TRIGGER tree_heads_refuse_truncate;
