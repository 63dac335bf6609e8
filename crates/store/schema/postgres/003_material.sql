-- PostgreSQL schema version 3: the index of the weekly report's material, a cache beside the
-- log, bound to the chain as on SQLite (`../003_material.sql`, `../004_cache_bindings.sql`).
--
-- One row per version of an item: the version of `seq` the log knew from position
-- `known_from` (the event itself, or the correction that made this version) until
-- `known_until` (the correction or retraction that ended it; NULL while it is current). A
-- report as known at position S reads the versions with known_from <= S < known_until.
-- `class`, `name`, `first_day` and `last_day` are the item's key (lagesbild-timeline's
-- `MaterialKey`), `item` its serialized state. Days are ISO text, compared bytewise like every
-- text column here (`COLLATE "C"`), so both backends order names and days alike.
--
-- Not part of the log: no trigger protects it, no hash covers it, `restore` empties it, and it
-- is rebuilt from `events` when it is missing, behind, bound to another chain or kept in
-- another format. What a user reads from it is checked against the log first
-- (`lagesbild_app::material`); `verify` recomputes it.
CREATE TABLE material (
    seq         bigint  NOT NULL CHECK (seq >= 1),
    known_from  bigint  NOT NULL,
    known_until bigint,
    class       text    COLLATE "C" NOT NULL,
    name        text    COLLATE "C" NOT NULL,
    first_day   text    COLLATE "C" NOT NULL,
    last_day    text    COLLATE "C" NOT NULL,
    item        bytea   NOT NULL,
    PRIMARY KEY (seq, known_from)
);

CREATE INDEX material_by_day ON material (class, name, first_day, seq);
CREATE INDEX material_by_seq ON material (class, name, seq);

-- Every name ever used in a class (a figure's id), so the report lists them without reading
-- every row.
CREATE TABLE material_names (
    class text COLLATE "C" NOT NULL,
    name  text COLLATE "C" NOT NULL,
    PRIMARY KEY (class, name)
);

-- How far the index has read the log, bound to the chain there (the chain hash of event `seq`,
-- 64 zeros for 0), and the digest of the rows of `material` and `material_names` (the sum
-- modulo 2^256 of each row's SHA-256, crates/store/src/material.rs `MaterialDigest`), kept up
-- to date as rows are added and ended. One row at most. Updates of the index are serialised by
-- a transaction-level advisory lock (crates/store/src/postgres_caches.rs), not by this row,
-- which may not exist yet.
CREATE TABLE material_position (
    id          integer PRIMARY KEY CHECK (id = 1),
    format      bigint  NOT NULL,
    seq         bigint  NOT NULL,
    chain_hash  text    COLLATE "C" NOT NULL,
    digest      text    COLLATE "C" NOT NULL
);
