-- PostgreSQL schema version 2: checkpoints of projections, a cache beside the log, bound to the
-- chain as on SQLite (`../002_checkpoints.sql`, `../004_cache_bindings.sql`): each records the
-- chain hash at its seq and the SHA-256 of its state; a read checks both and refuses (and
-- rebuilds) a checkpoint that does not match. Not part of the log: no trigger protects it, no
-- hash covers it, `restore` empties it.
CREATE TABLE checkpoints (
    name        text    COLLATE "C" NOT NULL,
    seq         bigint  NOT NULL,
    format      bigint  NOT NULL,
    chain_hash  text    COLLATE "C" NOT NULL,
    digest      text    COLLATE "C" NOT NULL,
    state       bytea   NOT NULL,
    PRIMARY KEY (name, seq)
);
