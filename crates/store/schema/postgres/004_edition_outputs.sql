-- PostgreSQL schema version 4: what a published edition's verification produced, so that its
-- pages are served without rebuilding the report on every view (as `../006_edition_outputs.sql`
-- on SQLite).
--
-- A row is written only from a rebuild from the log that gave exactly the digests the
-- edition's `report_published` event (at `seq`) recorded, bound to the chain hash of event
-- `seq` and to the digest of the templates that rendered it. Like the other caches it is
-- untrusted: a view checks the binding (one index seek on `events`), the templates, the set of
-- formats and every output's SHA-256 against the event, and refuses and rebuilds what fails
-- (`lagesbild_app::edition_cache`); `verify` checks every row. Not part of the log: no trigger
-- protects it, `restore` empties it.
CREATE TABLE edition_outputs (
    seq             bigint  NOT NULL CHECK (seq > 0),
    -- The chain hash of event `seq`, the `report_published` event.
    chain_hash      text    COLLATE "C" NOT NULL,
    template_digest text    COLLATE "C" NOT NULL,
    format          text    COLLATE "C" NOT NULL,
    -- SHA-256 of `bytes`, lowercase hex.
    sha256          text    COLLATE "C" NOT NULL,
    bytes           bytea   NOT NULL,
    PRIMARY KEY (seq, template_digest, format)
);
