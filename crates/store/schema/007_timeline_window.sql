-- Schema version 7: indexes for a timeline read in windows (a page of facts around a day).
--
-- A page of the timeline reads the facts of a few days through `events_by_occurred` and then
-- needs the corrections and retractions of exactly those facts, as known at a log position,
-- and the few facts that do not stand on the timeline where that index puts them.
-- Without an index that is a read of every correction and retraction in the log for every page.
-- These are ordinary SQLite indexes over `events` (SQLite keeps them in the append's own
-- transaction), partial so that only corrections and retractions are in them: the append of
-- any other event pays one comparison of its kind.
--
-- The expressions must be written exactly as `crates/store/src/window.rs` writes its queries,
-- or SQLite does not use the index (a test there checks the query plans).

-- The corrections and retractions of an event, by the target's sequence number (every stored
-- correction names its target by seq: the append resolves a key to it).
CREATE INDEX events_by_target ON events (json_extract(content, '$.data.target.seq'), seq)
    WHERE kind IN ('event_corrected', 'event_retracted');

-- The corrections that give their target another date: the facts they move may land in any
-- window, so a window reads them all (there are few).
CREATE INDEX events_redated ON events (seq)
    WHERE kind = 'event_corrected' AND json_extract(content, '$.data.occurred') IS NOT NULL;

-- The timeline-only facts dated only to a period (a year `2020`, a half-year `2020-H1`, a span
-- `2019/2020`): the timeline places them at the period's middle, not on the first day the
-- valid-time index orders them by, so a window reads them all (operational streams date their
-- facts to the day or the minute; these are few).
CREATE INDEX events_period_facts ON events (seq)
    WHERE kind = 'fact_reported'
    AND (length(occurred) = 4 OR instr(occurred, 'H') > 0 OR instr(occurred, '/') > 0);
