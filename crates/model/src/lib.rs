//! The shared vocabulary of lagesbild: events and their kinds, fuzzy valid-time dates,
//! validation with located errors, and the canonical encoding the hash chain covers. No I/O.

mod canonical;
pub mod date;
pub mod event;
pub mod kinds;
mod stored;
pub mod text;
pub mod trusted;

pub use date::{DateError, FuzzyDate, Half, MonthSpan, Period, Precision};
pub use event::{
    Disagreement, FieldError, GENESIS_HASH, MAX_JSON_DEPTH, MAX_LINE_BYTES, MAX_SUMMARY_CHARS,
    NewEvent, RecordedAt, SCHEMA_VERSION, Source, StoredEvent, canonical_json, chain_hash,
    check_event, envelope_json, event_from_value, event_from_value_under, parse_event,
    parse_json_strict, sha256_hex, stored_from_export_value, typed_data,
};
pub use kinds::{EventData, KINDS, Section, Target};
pub use text::{Amount, EventKey, HashHex, Id, Rules, StreamId, Text, Url};
