-- Schema version 2: checkpoints of projections, a cache beside the log.
--
-- A checkpoint is the state of a named projection (`name`, e.g. a timeline) after folding the
-- events up to and including `seq`, serialized by the projection in its own `format`. The owner
-- bumps `format` whenever the serialization or the fold changes, so that an old state is never
-- read as a new one: `load_checkpoint` returns only the newest checkpoint of the wanted format at
-- or below a given seq, and replay goes on from there with the events after it.
--
-- This table is NOT part of the log. No trigger protects it, no hash covers it, `verify` ignores
-- it (until schema 4: see 004_cache_bindings.sql), `export` leaves it out and `restore` empties it. Anything may empty it at any time
-- (`drop_checkpoints`, or `DELETE FROM checkpoints`); projections are then rebuilt from `events`.
-- Never keep a fact here that is not in `events`.
CREATE TABLE checkpoints (
    name    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    format  INTEGER NOT NULL,
    state   BLOB    NOT NULL,
    PRIMARY KEY (name, seq)
) STRICT;
