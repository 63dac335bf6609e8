-- PostgreSQL schema version 1: the append-only event log (the same columns and meaning as
-- `../001_events.sql` for SQLite; docs/postgres.md says why it is shaped so).
--
-- Text is compared bytewise (`COLLATE "C"`), as SQLite compares it, so that keys, streams and
-- `recorded_at` sort and match the same on both backends whatever the server's locale.
-- `recorded_at` is kept as the exact text that was hashed, not as a timestamp, so that no
-- round trip through a time type can change a byte the chain covers.
CREATE TABLE schema_version (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    seq             bigint  PRIMARY KEY CHECK (seq >= 1),
    stream          text    COLLATE "C" NOT NULL,
    stream_version  bigint  NOT NULL CHECK (stream_version >= 1),
    key             text    COLLATE "C" UNIQUE,
    kind            text    COLLATE "C" NOT NULL,
    occurred        text    COLLATE "C" NOT NULL,
    occurred_first  text    COLLATE "C" NOT NULL,
    occurred_last   text    COLLATE "C" NOT NULL,
    recorded_at     text    COLLATE "C" NOT NULL,
    schema_version  integer NOT NULL,
    content         text    COLLATE "C" NOT NULL,
    prev_hash       text    COLLATE "C" NOT NULL,
    hash            text    COLLATE "C" NOT NULL,
    UNIQUE (stream, stream_version)
);

CREATE INDEX events_by_occurred ON events (occurred_first, seq);
CREATE INDEX events_by_recorded ON events (recorded_at, seq);
CREATE INDEX events_by_kind ON events (kind, seq);
CREATE INDEX events_by_stream ON events (stream, stream_version);

-- The one row every append locks first (`SELECT ... FOR UPDATE`), so that appends run one at a
-- time in commit order: the next sequence number, the previous hash, stream versions, keys and
-- correction targets are all read after the lock, in later statements, which under READ
-- COMMITTED see every event committed before it. Sequence numbers are then gapless and a
-- reader polling for `seq > N` never sees N + 2 before N + 1.
CREATE TABLE append_lock (
    id integer PRIMARY KEY CHECK (id = 1)
);
INSERT INTO append_lock (id) VALUES (1);

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % is refused; append a correction or retraction instead', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- ALWAYS: the triggers fire even under `session_replication_role = replica`, which would
-- otherwise switch them off for a session; `verify` checks each is enabled so.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_refuse_update;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_refuse_delete;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_refuse_truncate;
