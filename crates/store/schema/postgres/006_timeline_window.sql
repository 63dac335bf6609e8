-- Schema version 6 (PostgreSQL): the indexes a timeline read in windows needs, as SQLite's
-- schema 7 (`schema/007_timeline_window.sql`) has them.
--
-- A page of the timeline reads the facts of a few days through `events_by_occurred` and then
-- the corrections and retractions of exactly those facts, as known at a log position, and the
-- few facts that do not stand on the timeline where that index puts them (those dated to a
-- period, and those a correction gives another date). Without these indexes each of those is
-- a read of every correction, retraction or fact in the log for every page.
--
-- Partial indexes over `events`, so that only the events they are for are in them: the append
-- of any other event pays one comparison of its kind. The content is the canonical JSON text
-- that was hashed; `content::jsonb` reads it (the cast is immutable, so it may index), and only
-- for the rows the predicate admits. The expressions must be written exactly as
-- `crates/store/src/postgres_window.rs` writes its queries, or the planner does not use them (a
-- conformance case checks the plans). Only indexes: no table, no trigger, no grant changes.
-- Building them reads the log once, holding appends for that time (a migration is one
-- transaction, which CREATE INDEX CONCURRENTLY cannot run in).

-- The corrections and retractions of an event, by the target's sequence number as JSON text
-- (every stored correction names its target by seq: the append resolves a key to it).
CREATE INDEX events_by_target ON events (((content::jsonb) #>> '{data,target,seq}'), seq)
    WHERE kind IN ('event_corrected', 'event_retracted');

-- The corrections that give their target another date: the facts they move may land in any
-- window, so a window reads them all (there are few).
CREATE INDEX events_redated ON events (seq)
    WHERE kind = 'event_corrected' AND ((content::jsonb) #>> '{data,occurred}') IS NOT NULL;

-- The timeline-only facts dated only to a period (a year `2020`, a half-year `2020-H1`, a span
-- `2019/2020`): the timeline places them at the period's middle, not on the first day the
-- valid-time index orders them by, so a window reads them all.
CREATE INDEX events_period_facts ON events (seq)
    WHERE kind = 'fact_reported'
    AND (length(occurred) = 4 OR strpos(occurred, 'H') > 0 OR strpos(occurred, '/') > 0);
