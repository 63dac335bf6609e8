-- Schema version 4: the caches beside the log are bound to it.
--
-- A cache that anyone with write access to the file can edit must not decide what a user reads.
-- Every checkpoint and the material index's state now record the log position they were built
-- from, the chain hash of the event at that position (64 zeros for position 0) and a SHA-256
-- digest of their own content. A read checks the binding against the log (one index seek on
-- `events`) and the digest, and refuses a cache that does not match, lies past the head or (a
-- checkpoint) is not where the policy writes one; it then rebuilds from the log. `verify`
-- recomputes what each cache should hold and names the table and position of any difference.
--
-- Old caches carry no binding: they are dropped here and rebuilt from `events` on first use.
-- The log itself is not touched.

DROP TABLE IF EXISTS checkpoints;
CREATE TABLE checkpoints (
    name        TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    format      INTEGER NOT NULL,
    -- The chain hash of event `seq`: the checkpoint describes that log and no other.
    chain_hash  TEXT    NOT NULL,
    -- SHA-256 of `state`, lowercase hex.
    digest      TEXT    NOT NULL,
    state       BLOB    NOT NULL,
    PRIMARY KEY (name, seq)
) STRICT;

DELETE FROM material;
DELETE FROM material_names;
DROP TABLE IF EXISTS material_position;
-- How far the index has read the log, bound to the chain there, and the digest of the index's
-- rows: the sum modulo 2^256 of the SHA-256 of every row of `material` and `material_names`
-- (crates/store/src/material.rs, `RowDigest`), kept up to date as rows are added and ended.
CREATE TABLE material_position (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    format      INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    chain_hash  TEXT    NOT NULL,
    digest      TEXT    NOT NULL
) STRICT;
