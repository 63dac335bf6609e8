-- Schema version 3: an index of the weekly report's material, a cache beside the log.
--
-- The report for one day reads a few items of its material (the week's notes, the standing
-- ones, the latest value of each figure…), not all of it. This index lets it look them up
-- instead of folding every note, link and figure in the log. Like `checkpoints` it is NOT part
-- of the log: no trigger protects it, no hash covers it, `verify` ignores it, and it is rebuilt
-- from `events` whenever it is missing, behind, or kept in another `format`. Rows are updated
-- (a version's `known_until` is set) because this is a cache; the log itself never is.
--
-- One row per version of an item: the version of `seq` that the log knew from position
-- `known_from` (the event itself, or the correction that made this version) until
-- `known_until` (the correction or retraction that ended it; NULL while it is current). A
-- report "as known at" position S reads the versions with known_from <= S < known_until.
-- `class`, `name`, `first_day` and `last_day` are the item's `MaterialKey` (lagesbild-timeline);
-- `item` its serialized state.
CREATE TABLE material (
    seq         INTEGER NOT NULL,
    known_from  INTEGER NOT NULL,
    known_until INTEGER,
    class       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    first_day   TEXT    NOT NULL,
    last_day    TEXT    NOT NULL,
    item        BLOB    NOT NULL,
    PRIMARY KEY (seq, known_from)
) STRICT;

CREATE INDEX material_by_day ON material (class, name, first_day, seq);
CREATE INDEX material_by_seq ON material (class, name, seq);

-- Every name ever used in a class (a figure's id), so that the report can list them without
-- reading every row.
CREATE TABLE material_names (
    class TEXT NOT NULL,
    name  TEXT NOT NULL,
    PRIMARY KEY (class, name)
) STRICT, WITHOUT ROWID;

-- How far the index has read the log, and in which format it keeps items. One row at most.
CREATE TABLE material_position (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    format INTEGER NOT NULL,
    seq    INTEGER NOT NULL
) STRICT;
