-- Schema version 5: the Merkle tree over the events (RFC 9162) and the signed tree heads.
--
-- `tree_nodes` holds the hash of every complete (perfect) subtree of the tree over the first
-- `tree_position.size` events: level 0 the leaf hashes, level L the subtree of 2^L leaves
-- starting at leaf idx * 2^L. Any tree size's root and every proof are built from these (the
-- right edge of a tree whose size is not a power of two is combined on the fly). Like
-- `checkpoints` and the material index this is a cache beside the log, derived from `events`:
-- no trigger protects it, `restore` empties it, and it is caught up lazily, before a proof or a
-- tree head, from the events after `size`. `tree_position` binds it to the log: `chain_hash` is
-- the hash of event `size`; when the log no longer holds that event with that hash (a restored
-- older copy, a rewrite) the tree is rebuilt from the log. `verify` recomputes every node.
CREATE TABLE tree_nodes (
    level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE tree_position (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       INTEGER NOT NULL CHECK (size >= 0),
    chain_hash TEXT    NOT NULL
) STRICT;

-- Signed tree heads: (size, root, time) signed with Ed25519 by a key kept outside the
-- database (docs/log-format.md gives the signed bytes). They are evidence, not a cache: kept
-- append-only like the log, exported with it and checked by `verify`.
CREATE TABLE tree_heads (
    id           INTEGER PRIMARY KEY,
    size         INTEGER NOT NULL CHECK (size >= 0),
    root         TEXT    NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    key_id       TEXT    NOT NULL,
    signature    TEXT    NOT NULL
) STRICT;

CREATE TRIGGER tree_heads_refuse_update BEFORE UPDATE ON tree_heads
BEGIN
    SELECT RAISE(ABORT, 'signed tree heads are append-only: UPDATE is refused');
END;

CREATE TRIGGER tree_heads_refuse_delete BEFORE DELETE ON tree_heads
BEGIN
    SELECT RAISE(ABORT, 'signed tree heads are append-only: DELETE is refused');
END;
