-- Schema version 1: the append-only event log.
-- The `content` column holds the event's canonical JSON (RFC 8785); the other columns repeat
-- fields of it for indexes and are checked against it by `verify`. `hash` is
-- SHA-256(prev_hash || "\n" || canonical envelope), see docs/log-format.md.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
    stream          TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version >= 1),
    key             TEXT    UNIQUE,
    kind            TEXT    NOT NULL,
    occurred        TEXT    NOT NULL,
    occurred_first  TEXT    NOT NULL,
    occurred_last   TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    content         TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (stream, stream_version)
) STRICT;

CREATE INDEX events_by_occurred ON events (occurred_first, seq);
CREATE INDEX events_by_recorded ON events (recorded_at, seq);
CREATE INDEX events_by_kind ON events (kind, seq);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE is refused; append a correction instead');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: DELETE is refused; append a retraction instead');
END;
