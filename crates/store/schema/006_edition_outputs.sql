-- Schema version 6: what a published edition's verification produced, so that its pages are
-- served without rebuilding the report from the log on every view.
--
-- A published edition is immutable: its `report_published` event (at `seq`) records the log
-- position it was built from, the template digest and the SHA-256 of every output. When a
-- rebuild from the log alone gives exactly those bytes (at publish, or on the first successful
-- reproduction), each output is kept here as (format, sha256, bytes), bound to the chain hash
-- of event `seq` and to the digest of the templates that rendered it. Like the other caches
-- this one is untrusted: a view checks the binding (one index seek on `events`), that the
-- templates are the edition's, that the set of formats is the one the event lists, and that
-- every output's bytes hash to the digest the event recorded; it refuses and rebuilds what
-- fails. `verify` checks every row the same way and, unless `--quick`, rebuilds the edition.
-- Formats are open-ended (`md`, `html`, later `pdf`): bytes are a BLOB, whatever the format.
CREATE TABLE edition_outputs (
    seq             INTEGER NOT NULL CHECK (seq > 0),
    -- The chain hash of event `seq`, the `report_published` event.
    chain_hash      TEXT    NOT NULL,
    template_digest TEXT    NOT NULL,
    format          TEXT    NOT NULL,
    -- SHA-256 of `bytes`, lowercase hex.
    sha256          TEXT    NOT NULL,
    bytes           BLOB    NOT NULL,
    PRIMARY KEY (seq, template_digest, format)
) STRICT;
