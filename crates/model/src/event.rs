//! The event envelope as writers give it ([`NewEvent`]) and as the log holds it
//! ([`StoredEvent`]), parsing with located errors, and the canonical encoding the hash chain covers.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::date::{FuzzyDate, Precision};
use crate::kinds::{EditionReviewed, EditionSent, EventData, PointsOrdered, SendOutcome};
use crate::text::{EventKey, HashHex, Rules, StreamId, Text, Url, default_stream};

/// The version of the event schema this program writes. Stored with every event so that later
/// versions can upcast older ones.
pub const SCHEMA_VERSION: u32 = 1;

// Every limit on an event is defined once, in `text.rs`, and used from there by the command
// line, the web app and restore alike.
pub use crate::text::{MAX_JSON_DEPTH, MAX_LINE_BYTES, MAX_SUMMARY_CHARS};

/// The chain hash before the first event: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a fact comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<FuzzyDate>,
    /// The event's date is worked out from context rather than printed by the source: how
    /// (issue 14). Every output marks such a date as inferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_inferred: Option<Text>,
    /// Further sources for the same fact, each with its own title, address and publication.
    #[serde(
        default,
        deserialize_with = "crate::text::bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub also: Vec<Source>,
    /// Sources that say otherwise about the fact, each with what it says: the log records a
    /// disagreement rather than picking one version silently. They do not make the fact
    /// public (see [`Source::public_from`]): they tell another version of it.
    #[serde(
        default,
        deserialize_with = "crate::text::bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub disputed: Vec<Disagreement>,
}

/// One source's differing version of a fact ([`Source::disputed`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disagreement {
    /// What the sources disagree on: `occurred`, `summary`, `kind` or a field of the event's
    /// `data` (`data.delay_months`), which the event must give.
    pub about: Text,
    /// What this source says instead, as a Swedish phrase a report can print.
    pub says: Text,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<FuzzyDate>,
}

impl Source {
    /// The day from which the public could surely have known the fact from its sources: the
    /// last day of the earliest publication date among this source and its `also` sources
    /// (a source published "2022-05" counts from 31 May 2022). `None` when no source says when
    /// it was published.
    pub fn public_from(&self) -> Option<chrono::NaiveDate> {
        std::iter::once(self)
            .chain(self.also.iter())
            .filter_map(|s| s.published.map(|p| p.last_day()))
            .min()
    }
}

/// A validated event, before the store gives it a place in the log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<EventKey>,
    pub stream: StreamId,
    pub occurred: FuzzyDate,
    pub summary: Text,
    /// Boxed: a source is 144 bytes, and many events have none (a busy log's figures); inline
    /// it made every event read and every fact a replay keeps that much larger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Box<Source>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<Text>,
    #[serde(flatten)]
    pub data: EventData,
}

impl NewEvent {
    pub fn kind(&self) -> &'static str {
        self.data.kind()
    }

    /// The event's content as canonical JSON (RFC 8785): what idempotency compares and what
    /// the store keeps. Written from the typed event; the same text as
    /// `canonical_json(&self.to_value())`.
    pub fn canonical_content(&self) -> String {
        crate::canonical::to_canonical_string(self).expect("events always serialize to JSON")
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("events always serialize to JSON")
    }
}

/// Transaction time: when the store recorded an event, in UTC to the microsecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordedAt(pub DateTime<Utc>);

impl RecordedAt {
    /// Parses the stored form, `2026-11-23T10:15:30.123456Z`.
    pub fn parse(text: &str) -> Result<RecordedAt, String> {
        let parsed = DateTime::parse_from_rfc3339(text)
            .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"))?;
        let at = RecordedAt(parsed.with_timezone(&Utc));
        if at.to_string() != text {
            return Err(format!(
                "{text:?} is not in the stored form YYYY-MM-DDTHH:MM:SS.ffffffZ"
            ));
        }
        Ok(at)
    }

    /// Truncated to whole microseconds, the precision the log keeps.
    pub fn from_datetime(at: DateTime<Utc>) -> RecordedAt {
        let micros = at.timestamp_micros();
        RecordedAt(DateTime::from_timestamp_micros(micros).expect("a timestamp within range"))
    }
}

/// As its stored form, the text `Display` writes (what a projection's checkpoint holds).
impl Serialize for RecordedAt {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From the stored form only ([`RecordedAt::parse`]): a checkpoint holding any other text for a
/// time is not what its projection writes, and `verify` must not find it equal to one that is.
impl<'de> Deserialize<'de> for RecordedAt {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RecordedAt, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RecordedAt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time as YYYY-MM-DDTHH:MM:SS.ffffffZ")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RecordedAt, E> {
                match crate::trusted::stored_form(text) {
                    Some(at) => Ok(RecordedAt(at)),
                    None => RecordedAt::parse(text).map_err(E::custom),
                }
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl fmt::Display for RecordedAt {
    /// The stored form, as chrono's `to_rfc3339_opts(SecondsFormat::Micros, true)` writes it,
    /// digit by digit (every read of a projection prints the time); a leap second or a year
    /// that needs a sign is left to chrono.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::date::{write_day, write_digits};
        let at = self.0.naive_utc();
        let mut text = *b"YYYY-MM-DDTHH:MM:SS.ffffffZ";
        let nanos = at.nanosecond();
        if nanos >= 1_000_000_000 || write_day(&mut text, at.date()) == 0 {
            return f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
        write_digits(&mut text[11..13], at.hour());
        write_digits(&mut text[14..16], at.minute());
        write_digits(&mut text[17..19], at.second());
        write_digits(&mut text[20..26], nanos / 1_000);
        f.write_str(std::str::from_utf8(&text).expect("ASCII digits"))
    }
}

/// An event in the log: its content plus the place, time and hashes the store gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub seq: u64,
    pub stream_version: u64,
    pub recorded_at: RecordedAt,
    pub schema: u32,
    pub event: NewEvent,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    /// The canonical envelope the chain hash covers: the content plus `seq`, `stream_version`,
    /// `recorded_at` and `schema`.
    pub fn canonical_envelope(&self) -> String {
        crate::trusted::content_and_envelope(
            &self.event,
            self.seq,
            self.stream_version,
            &self.recorded_at,
            self.schema,
        )
        .1
    }

    /// The full envelope with both hashes, as `log --format json` and `export` write it.
    pub fn to_export_value(&self) -> Value {
        let mut map = match self.event.to_value() {
            Value::Object(map) => map,
            _ => unreachable!("an event serializes to an object"),
        };
        map.insert("seq".into(), self.seq.into());
        map.insert("stream_version".into(), self.stream_version.into());
        map.insert("recorded_at".into(), self.recorded_at.to_string().into());
        map.insert("schema".into(), self.schema.into());
        map.insert("prev_hash".into(), self.prev_hash.clone().into());
        map.insert("hash".into(), self.hash.clone().into());
        Value::Object(map)
    }
}

/// Builds the canonical envelope text from content and the store's fields: the content's
/// members plus `seq`, `stream_version`, `recorded_at` and `schema`, which replace members of
/// the same name.
pub fn envelope_json(
    content: Value,
    seq: u64,
    stream_version: u64,
    recorded_at: &RecordedAt,
    schema: u32,
) -> String {
    assert!(content.is_object(), "an event serializes to an object");
    crate::trusted::content_and_envelope(&content, seq, stream_version, recorded_at, schema).1
}

/// The chain hash: SHA-256 over the previous hash (64 lowercase hex digits), one newline, and
/// the canonical envelope, written as lowercase hex. `printf '%s\n%s' PREV ENVELOPE | sha256sum`
/// computes the same.
pub fn chain_hash(prev_hash: &str, canonical_envelope: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_envelope.as_bytes());
    digest_hex(&hasher.finalize())
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest_hex(&Sha256::digest(bytes))
}

/// A SHA-256 digest as 64 lowercase hex digits, written into one buffer (`hex::encode` collects
/// them a character at a time).
fn digest_hex(digest: &[u8]) -> String {
    let mut text = [0u8; 64];
    hex::encode_to_slice(digest, &mut text).expect("a SHA-256 digest is 32 bytes");
    String::from_utf8(text.to_vec()).expect("hex digits are ASCII")
}

/// `value` in the canonical form of RFC 8785 (JCS), written by [`crate::canonical`], the one
/// canonical writer (the store's append, `verify` and this all use it).
pub fn canonical_json(value: &Value) -> String {
    crate::canonical::to_canonical_string(value).expect("a JSON value has string keys")
}

/// Why one event was refused, and which field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(default)]
    key: Option<EventKey>,
    kind: String,
    occurred: FuzzyDate,
    #[serde(default)]
    stream: Option<StreamId>,
    #[serde(deserialize_with = "crate::text::summary")]
    summary: Text,
    #[serde(default)]
    source: Option<Box<Source>>,
    #[serde(default)]
    by: Option<Text>,
    #[serde(default)]
    data: Option<Value>,
}

fn field_error_from_serde<E: fmt::Display>(path: String, error: E) -> FieldError {
    let reason = error.to_string();
    // serde names a missing or unknown field in its message; the path is then the parent.
    let named = |prefix: &str| {
        reason
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let reason = strip_position(&reason);
    // serde_path_to_error's path ends at the parent for a missing field, and at the field
    // itself for an unknown one.
    let field = match named("missing field `") {
        Some(name) if path == "." => name,
        Some(name) => format!("{path}.{name}"),
        None => path,
    };
    // A field with an empty name (`"": 1`) has an empty path, or one ending in a dot; name it
    // so that the error still points somewhere (found by tests/hostile_input.rs).
    let field = if field.is_empty() || field.ends_with('.') {
        format!("{field}(a field with an empty name)")
    } else {
        field
    };
    FieldError { field, reason }
}

/// serde_json appends " at line 1 column 57" to its messages; the caller names the line itself.
fn strip_position(reason: &str) -> String {
    match reason.rfind(" at line ") {
        Some(at) if reason[at..].contains(" column ") => reason[..at].to_owned(),
        _ => reason.to_owned(),
    }
}

/// Parses and validates one event written as JSON.
pub fn parse_event(line: &str) -> Result<NewEvent, FieldError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(FieldError::new("(line)", crate::text::line_too_long()));
    }
    if line.contains('\0') {
        return Err(FieldError::new("(line)", "the line contains a NUL byte"));
    }
    let value = parse_json_strict(line)?;
    event_from_value(value)
}

/// Reads JSON text as a [`Value`] like `serde_json::from_str`, but refuses what a plain reader
/// would silently accept: a key given twice in one object (`serde_json` keeps the last, other
/// readers the first, so the log would hold something else than an auditor reads in the file)
/// and nesting deeper than [`MAX_JSON_DEPTH`]. Errors name the field (`data.waves[0].area`).
pub fn parse_json_strict(text: &str) -> Result<Value, FieldError> {
    use serde::de::DeserializeSeed;
    let found = std::cell::RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let seed = StrictValue {
        at: &JsonPath::Root,
        depth: 0,
        found: &found,
    };
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    result.map_err(|error| {
        found.into_inner().unwrap_or_else(|| {
            FieldError::new(
                "(json)",
                format!("not valid JSON: {}", strip_position(&error.to_string())),
            )
        })
    })
}

/// Where in a JSON document a value is, kept as a chain of borrowed segments so that reading
/// builds no path text unless an error needs one.
enum JsonPath<'a> {
    Root,
    Key(&'a JsonPath<'a>, &'a str),
    Index(&'a JsonPath<'a>, usize),
}

impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonPath::Root => f.write_str("(json)"),
            // An empty key still names a place (found by tests/hostile_input.rs).
            JsonPath::Key(parent, "") => match parent {
                JsonPath::Root => f.write_str("(a field with an empty name)"),
                parent => write!(f, "{parent}.(a field with an empty name)"),
            },
            JsonPath::Key(JsonPath::Root, key) => f.write_str(key),
            JsonPath::Key(parent, key) => write!(f, "{parent}.{key}"),
            JsonPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

struct StrictValue<'a> {
    at: &'a JsonPath<'a>,
    depth: usize,
    found: &'a std::cell::RefCell<Option<FieldError>>,
}

impl StrictValue<'_> {
    fn refuse<E: serde::de::Error>(&self, field: String, reason: String) -> E {
        let message = format!("field {field:?}: {reason}");
        *self.found.borrow_mut() = Some(FieldError::new(field, reason));
        E::custom(message)
    }

    fn enter<E: serde::de::Error>(&self) -> Result<usize, E> {
        let depth = self.depth + 1;
        if depth > MAX_JSON_DEPTH {
            return Err(self.refuse(
                self.at.to_string(),
                format!("the JSON nests deeper than {MAX_JSON_DEPTH} levels"),
            ));
        }
        Ok(depth)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // As serde_json's own reader does: a number it cannot hold becomes null.
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.enter()?;
        let mut items = Vec::new();
        loop {
            let at = JsonPath::Index(self.at, items.len());
            let seed = StrictValue {
                at: &at,
                depth,
                found: self.found,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.enter()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = JsonPath::Key(self.at, &key);
            if object.contains_key(&key) {
                return Err(self.refuse(
                    at.to_string(),
                    format!("the key {key:?} appears twice in one object; give each field once"),
                ));
            }
            let value = map.next_value_seed(StrictValue {
                at: &at,
                depth,
                found: self.found,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Validates an event given as a JSON value, as new input ([`Rules::NewInput`]).
pub fn event_from_value(value: Value) -> Result<NewEvent, FieldError> {
    event_from_value_under(value, Rules::NewInput)
}

/// Validates an event given as a JSON value by `rules`: [`Rules::Stored`] for content already
/// in a log (`verify`, `restore`, a correction's target), which a check added later for new
/// input only does not make bad.
pub fn event_from_value_under(mut value: Value, rules: Rules) -> Result<NewEvent, FieldError> {
    if !value.is_object() {
        return Err(FieldError::new("(json)", "an event must be a JSON object"));
    }
    if rules == Rules::NewInput {
        whole_numbers_as_integers(&mut value);
    }
    let raw: RawEvent = crate::stored::from_value_tracked(value, rules)
        .map_err(|e| field_error_from_serde(e.path().to_string(), e.inner()))?;
    let data = typed_data_under(
        &raw.kind,
        raw.data.unwrap_or_else(|| Value::Object(Map::new())),
        rules,
    )?;
    let event = NewEvent {
        key: raw.key,
        stream: raw.stream.unwrap_or_else(default_stream),
        occurred: raw.occurred,
        summary: raw.summary,
        source: raw.source,
        by: raw.by,
        data,
    };
    check_event_under(&event, rules)?;
    Ok(event)
}

/// Makes the numbers of new input such that the canonical writer writes them as RFC 8785 does
/// (`crate::canonical`): a whole number written as a fraction (`12.0`) becomes the integer, as
/// [`crate::text::Amount`] already does for its own fields; this reaches a correction's `data`,
/// which is kept as given.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            // Within 2^53 every whole double is an integer both ways.
            if float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                let whole = float as i64;
                *value = Value::from(whole);
            }
        }
        _ => {}
    }
}

/// Deserializes `data` as the data of `kind`, naming the field that is wrong, as new input.
pub fn typed_data(kind: &str, data: Value) -> Result<EventData, FieldError> {
    typed_data_under(kind, data, Rules::NewInput)
}

/// [`typed_data`] by `rules`.
pub fn typed_data_under(kind: &str, data: Value, rules: Rules) -> Result<EventData, FieldError> {
    if !data.is_object() {
        return Err(FieldError::new("data", "data must be a JSON object"));
    }
    match crate::kinds::data_for_kind(kind, data, rules) {
        None => Err(FieldError::new(
            "kind",
            format!(
                "{:?} is not a kind of event; the kinds are {}",
                kind.chars().take(60).collect::<String>(),
                crate::kinds::KINDS.join(", ")
            ),
        )),
        Some(Ok(data)) => Ok(data),
        Some(Err(e)) => {
            let path = e.path().to_string();
            let path = if path == "." {
                "data".to_owned()
            } else {
                format!("data.{path}")
            };
            Err(field_error_from_serde(path, e.inner()))
        }
    }
}

/// The checks that span fields, after each field is valid on its own, for new input.
pub fn check_event(event: &NewEvent) -> Result<(), FieldError> {
    check_event_under(event, Rules::NewInput)
}

/// [`check_event`] by `rules`.
pub fn check_event_under(event: &NewEvent, rules: Rules) -> Result<(), FieldError> {
    // Again here for a correction's new summary, which is checked as a field of its data.
    crate::text::check_summary_under(event.summary.as_str(), rules)
        .map_err(|reason| FieldError::new("summary", reason))?;
    if event.data.requires_source() && event.source.is_none() {
        return Err(FieldError::new(
            "source",
            format!(
                "a {} event is a historical fact and must name its source",
                event.kind()
            ),
        ));
    }
    if let Some(source) = &event.source {
        check_disputed(event, source)?;
    }
    match &event.data {
        EventData::BudgetSet(budget)
            if budget
                .value_high_msek
                .as_ref()
                .is_some_and(|high| high.as_f64() < budget.value_msek.as_f64()) =>
        {
            return Err(FieldError::new(
                "data.value_high_msek",
                "the top of the range is below value_msek, its bottom",
            ));
        }
        EventData::SituationNoted(note) => {
            if let Some(until) = &note.until {
                if until.precision() != Precision::Day {
                    return Err(FieldError::new(
                        "data.until",
                        format!(
                            "{until} is not a day; a note stands until a given day (YYYY-MM-DD)"
                        ),
                    ));
                }
                if until.last_day() < event.occurred.first_day() {
                    return Err(FieldError::new(
                        "data.until",
                        format!("{until} is before the note's own date {}", event.occurred),
                    ));
                }
                if note.standing {
                    return Err(FieldError::new(
                        "data.standing",
                        "a note either stands until a day or until withdrawn, not both",
                    ));
                }
            }
        }
        EventData::PlanRevised(plan) => {
            let mut seen = std::collections::BTreeSet::new();
            for (i, wave) in plan.waves.iter().enumerate() {
                if !seen.insert(wave.wave.as_str()) {
                    return Err(FieldError::new(
                        format!("data.waves[{i}].wave"),
                        format!("wave {:?} is listed twice in one plan", wave.wave.as_str()),
                    ));
                }
            }
        }
        EventData::EventCorrected(correction) => {
            check_target(&correction.target)?;
            if correction.occurred.is_none()
                && correction.summary.is_none()
                && correction.source.is_none()
                && correction.data.is_none()
            {
                return Err(FieldError::new(
                    "data",
                    "a correction must correct at least one of occurred, summary, source and data",
                ));
            }
        }
        EventData::EventRetracted(retraction) => check_target(&retraction.target)?,
        EventData::PointsOrdered(PointsOrdered { edition, .. })
        | EventData::EditionReviewed(EditionReviewed { edition, .. })
        | EventData::EditionSent(EditionSent { edition, .. })
            if edition.precision() != Precision::Day =>
        {
            return Err(FieldError::new(
                "data.edition",
                "the edition is named by its report day (YYYY-MM-DD)",
            ));
        }
        EventData::EditionSent(sent)
            if (sent.outcome == SendOutcome::Failed) != sent.error.is_some() =>
        {
            return Err(FieldError::new(
                "data.error",
                "a failed send says why (error); a send that succeeded has no error",
            ));
        }
        EventData::ReportPublished(report) => {
            if report.report_date.precision() != Precision::Day {
                return Err(FieldError::new(
                    "data.report_date",
                    "the report date must be a day",
                ));
            }
            if report.compiled_at.precision() != Precision::Minute {
                return Err(FieldError::new(
                    "data.compiled_at",
                    "the compilation time must be a minute (YYYY-MM-DDTHH:MM)",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Each disagreement names something the event states: `occurred`, `summary`, `kind`, or a
/// field its `data` gives (a source cannot dispute a value the fact does not claim).
fn check_disputed(event: &NewEvent, source: &Source) -> Result<(), FieldError> {
    if let Some(i) = source
        .also
        .iter()
        .position(|also| !also.disputed.is_empty())
    {
        return Err(FieldError::new(
            format!("source.also[{i}].disputed"),
            "a disagreement belongs to the event's source, not to one of its also sources",
        ));
    }
    if source.disputed.is_empty() {
        return Ok(());
    }
    let content = event.to_value();
    for (i, disagreement) in source.disputed.iter().enumerate() {
        let about = disagreement.about.as_str();
        let known = match about.strip_prefix("data.") {
            Some(field) => content["data"].get(field).is_some_and(|v| !v.is_null()),
            None => matches!(about, "occurred" | "summary" | "kind"),
        };
        if !known {
            return Err(FieldError::new(
                format!("source.disputed[{i}].about"),
                format!(
                    "{:?} is not something this event states; name occurred, summary, kind \
                     or a field of its data (data.{})",
                    about.chars().take(60).collect::<String>(),
                    content["data"]
                        .as_object()
                        .and_then(|data| data.keys().next().cloned())
                        .unwrap_or_else(|| "FIELD".to_owned())
                ),
            ));
        }
    }
    Ok(())
}

impl crate::kinds::EventCorrected {
    /// The target as this correction makes it: each corrected field replaces the old value
    /// whole, corrected `data` is read as the data of the target's kind, and the result must
    /// pass every check a new event passes, so that a correction cannot put into the log what an
    /// event could not. Errors name the correction's own fields (`data.data.until`).
    pub fn apply_to(&self, target: &NewEvent) -> Result<NewEvent, FieldError> {
        let mut corrected = target.clone();
        if let Some(occurred) = self.occurred {
            corrected.occurred = occurred;
        }
        if let Some(summary) = &self.summary {
            corrected.summary = summary.clone();
        }
        if let Some(source) = &self.source {
            corrected.source = Some(Box::new(source.clone()));
        }
        if let Some(data) = &self.data {
            corrected.data = typed_data(target.kind(), data.clone()).map_err(|e| {
                FieldError::new(
                    format!("data.{}", e.field),
                    format!(
                        "{} (checked as the data of the target's kind {})",
                        e.reason,
                        target.kind()
                    ),
                )
            })?;
        }
        check_event(&corrected).map_err(|e| {
            FieldError::new(
                format!("data.{}", e.field),
                format!("{} (in the target as corrected)", e.reason),
            )
        })?;
        Ok(corrected)
    }
}

fn check_target(target: &crate::kinds::Target) -> Result<(), FieldError> {
    if target.key.is_none() && target.seq.is_none() {
        return Err(FieldError::new(
            "data.target",
            "name the event to correct by its key or its sequence number",
        ));
    }
    if target.seq == Some(0) {
        return Err(FieldError::new(
            "data.target.seq",
            "sequence numbers start at 1",
        ));
    }
    Ok(())
}

/// Reads an envelope as `export` writes it (content plus seq, stream_version, recorded_at,
/// schema, prev_hash and hash), validating the content like any event by the rules it was
/// appended under ([`Rules::Stored`]): an export is a log's content, so a check added later for
/// new input does not keep an older log from restoring.
pub fn stored_from_export_value(value: Value) -> Result<StoredEvent, FieldError> {
    let Value::Object(mut map) = value else {
        return Err(FieldError::new(
            "(json)",
            "an exported event must be a JSON object",
        ));
    };
    let mut take_u64 = |name: &str| -> Result<u64, FieldError> {
        map.remove(name)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| FieldError::new(name, "missing or not a non-negative integer"))
    };
    let seq = take_u64("seq")?;
    let stream_version = take_u64("stream_version")?;
    let schema = u32::try_from(take_u64("schema")?)
        .map_err(|_| FieldError::new("schema", "out of range"))?;
    let mut take_string = |name: &str| -> Result<String, FieldError> {
        match map.remove(name) {
            Some(Value::String(text)) => Ok(text),
            _ => Err(FieldError::new(name, "missing or not a string")),
        }
    };
    let recorded_at = RecordedAt::parse(&take_string("recorded_at")?)
        .map_err(|reason| FieldError::new("recorded_at", reason))?;
    let prev_hash = take_string("prev_hash")?;
    let hash = take_string("hash")?;
    for (name, value) in [("prev_hash", &prev_hash), ("hash", &hash)] {
        HashHex::new(value.clone()).map_err(|reason| FieldError::new(name, reason))?;
    }
    let event = event_from_value_under(Value::Object(map), Rules::Stored)?;
    Ok(StoredEvent {
        seq,
        stream_version,
        recorded_at,
        schema,
        event,
        prev_hash,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"{"key":"2022-05-17-ny-tidplan","kind":"plan_revised","occurred":"2022-05-17","summary":"Regionstyrelsen beslutade om ny tidplan.","source":{"title":"Fakta om programmet","url":"https://www.vgregion.se/x","published":"2022-11-02"},"data":{"decided_by":"Regionstyrelsen","waves":[{"wave":"sodra-1","area":"Merparten av södra området","planned":"hösten 2024"}]}}"#;

    #[test]
    fn a_plan_parses_with_default_stream_and_canonical_dates() {
        let event = parse_event(PLAN).expect("valid");
        assert_eq!(event.stream.as_str(), "program");
        assert_eq!(event.kind(), "plan_revised");
        let content = event.canonical_content();
        assert!(content.contains(r#""planned":"2024-H2""#), "{content}");
        assert!(content.starts_with(r#"{"data":"#), "keys sorted: {content}");
    }

    #[test]
    fn an_edition_is_named_by_its_day_and_an_old_note_reads_as_before() {
        let order = r#"{"kind":"points_ordered","occurred":"2024-12-27","stream":"rapport","summary":"Ordning.","data":{"edition":"2024-12-27","section":"summary","order":[3,1,2]}}"#;
        assert!(parse_event(order).is_ok());
        let error =
            parse_event(&order.replace("\"edition\":\"2024-12-27\"", "\"edition\":\"2024-W52\""))
                .unwrap_err();
        assert_eq!(error.field, "data.edition");
        let review = r#"{"kind":"edition_reviewed","occurred":"2024-12-27T10:40","stream":"rapport","summary":"Godkänd.","data":{"edition":"2024-12","step":"approved"}}"#;
        assert_eq!(parse_event(review).unwrap_err().field, "data.edition");
        let error = parse_event(
            &review
                .replace("\"2024-12\"", "\"2024-12-27\"")
                .replace("approved", "waved"),
        )
        .unwrap_err();
        assert_eq!(error.field, "data.step");
        // A note written before carried_from and proposed existed reads as it did.
        let note = parse_event(r#"{"kind":"situation_noted","occurred":"2024-12-27","stream":"rapport","summary":"En punkt.","data":{"section":"summary"}}"#)
            .expect("valid");
        match &note.data {
            EventData::SituationNoted(n) => assert!(n.carried_from.is_none() && !n.proposed),
            other => panic!("{other:?}"),
        }
        assert!(
            !note.to_value()["data"]
                .as_object()
                .expect("data")
                .contains_key("proposed")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let bad = PLAN.replace("hösten 2024", "hösten 20x");
        let error = parse_event(&bad).unwrap_err();
        assert_eq!(error.field, "data.waves[0].planned");
        assert!(error.reason.contains("hösten 20x"), "{error}");

        let error = parse_event(&PLAN.replace("\"decided_by\"", "\"decidedby\"")).unwrap_err();
        assert_eq!(error.field, "data.decidedby");
        assert!(error.reason.contains("unknown field"), "{error}");

        let error = parse_event(&PLAN.replace(
            "\"summary\":\"Regionstyrelsen beslutade om ny tidplan.\",",
            "",
        ))
        .unwrap_err();
        assert_eq!(error.field, "summary");

        let error = parse_event(&PLAN.replace("plan_revised", "plan_reviesd")).unwrap_err();
        assert_eq!(error.field, "kind");

        let error = parse_event(r#"{"kind":"decision_made","occurred":"2018","summary":"x","data":{"decided_by":"RF"}}"#).unwrap_err();
        assert_eq!(error.field, "source");

        let error =
            parse_event(r#"{"kind":"decision_made","occurred":"2018","summary":"x","extra":1}"#)
                .unwrap_err();
        assert_eq!(error.field, "extra");
    }

    /// Regression: events/README.md allows a summary of at most 2,000 characters, but any text
    /// of up to 4,000 was accepted.
    #[test]
    fn a_summary_longer_than_the_format_allows_is_refused() {
        let with_summary = |chars: usize| serde_json::json!({"kind": "fact_reported", "occurred": "2024", "summary": "å".repeat(chars), "source": {"title": "Källa"}});
        assert!(event_from_value(with_summary(MAX_SUMMARY_CHARS)).is_ok());
        let error = event_from_value(with_summary(MAX_SUMMARY_CHARS + 1)).unwrap_err();
        assert_eq!(error.field, "summary");
        assert!(error.reason.contains("2000"), "{error}");
    }

    #[test]
    fn a_correction_replaces_fields_whole_and_is_checked_as_a_new_event() {
        let target = parse_event(PLAN).expect("valid");
        let correction = |data: serde_json::Value| match event_from_value(serde_json::json!({
            "kind": "event_corrected", "occurred": "2026-11-23", "summary": "Rättad.",
            "data": data,
        }))
        .expect("a valid correction")
        .data
        {
            EventData::EventCorrected(correction) => correction,
            other => panic!("{other:?}"),
        };
        let corrected = correction(serde_json::json!({
            "target": {"key": "2022-05-17-ny-tidplan"}, "reason": "Fel år.", "occurred": "våren 2022",
            "data": {"waves": [{"wave": "hela", "area": "Hela VGR", "planned": "hösten 2026"}]}
        }))
        .apply_to(&target)
        .expect("a valid correction");
        assert_eq!(corrected.occurred.to_string(), "2022-H1");
        assert_eq!(corrected.summary, target.summary);
        assert_eq!(corrected.source, target.source);
        let content = corrected.canonical_content();
        assert!(
            content.contains(
                r#""data":{"waves":[{"area":"Hela VGR","planned":"2026-H2","wave":"hela"}]}"#
            ),
            "{content}"
        );

        let error = correction(serde_json::json!({
            "target": {"seq": 1}, "reason": "r",
            "data": {"waves": [{"wave": "a", "area": "A", "planned": "2026"}, {"wave": "a", "area": "B", "planned": "2027"}]}
        }))
        .apply_to(&target)
        .unwrap_err();
        assert_eq!(error.field, "data.data.waves[1].wave");
    }

    #[test]
    fn an_empty_key_given_twice_is_refused_naming_a_place() {
        let error = parse_event(&PLAN.replacen('{', r#"{"":1,"":2,"#, 1)).unwrap_err();
        assert_eq!(error.field, "(a field with an empty name)");
        let nested =
            parse_event(&PLAN.replace(r#""data":{"#, r#""data":{"":1,"":2,"#)).unwrap_err();
        assert_eq!(nested.field, "data.(a field with an empty name)");
    }

    #[test]
    fn a_key_given_twice_in_one_object_is_refused_naming_it() {
        let error = parse_event(&PLAN.replace(r#""summary":"#, r#""summary":"Först.","summary":"#))
            .unwrap_err();
        assert_eq!(error.field, "summary");
        assert!(error.reason.contains("appears twice"), "{error}");

        let error = parse_event(&PLAN.replace(
            r#""planned":"hösten 2024""#,
            r#""planned":"hösten 2024","planned":"2030""#,
        ))
        .unwrap_err();
        assert_eq!(error.field, "data.waves[0].planned");
    }

    /// Regression (found by the hostile-input property test): an unknown field with an empty
    /// name gave an error naming the field "".
    #[test]
    fn regression_a_field_with_an_empty_name_is_named() {
        for line in [
            r#"{"kind":"fact_reported","occurred":"2024","summary":"x","":1}"#,
            r#"{"kind":"plan_revised","occurred":"2024","summary":"x","source":{"title":"t"},"data":{"waves":[],"":1}}"#,
        ] {
            let error = parse_event(line).unwrap_err();
            assert!(
                error.field.ends_with("(a field with an empty name)"),
                "{error}"
            );
            assert!(!error.field.starts_with('.'), "{error}");
        }
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_naming_where() {
        let nested = |depth: usize| {
            format!(
                r#"{{"kind":"fact_reported","occurred":"2024","summary":"x","data":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        let error = parse_event(&nested(MAX_JSON_DEPTH)).unwrap_err();
        assert!(error.reason.contains("nests deeper"), "{error}");
        assert!(error.field.starts_with("data[0]"), "{error}");
        // Far past serde_json's own recursion limit: still our error, not a stack overflow.
        let error = parse_event(&nested(100_000)).unwrap_err();
        assert!(error.reason.contains("nests deeper"), "{error}");
        // Within the limit the data is read (and refused by the kind, as data is no array).
        let error = parse_event(&nested(MAX_JSON_DEPTH - 2)).unwrap_err();
        assert_eq!(error.field, "data");
    }

    #[test]
    fn the_strict_reader_reads_what_serde_json_reads() {
        for text in [
            PLAN,
            r#"[1,-2,3.5,1e300,18446744073709551615,-9223372036854775808,null,true,"\u00e5"]"#,
            r#"{"a":{"b":[{}]},"c":""}"#,
        ] {
            let plain: Value = serde_json::from_str(text).expect("JSON");
            assert_eq!(parse_json_strict(text).expect("JSON"), plain, "{text}");
        }
        let error = parse_json_strict("{\"a\":1} x").unwrap_err();
        assert_eq!(error.field, "(json)");
        assert!(error.reason.starts_with("not valid JSON"), "{error}");
    }

    proptest::proptest! {
        /// The stored form of a time is what chrono's RFC 3339 writer gives, leap seconds and
        /// years with a sign included.
        #[test]
        fn recorded_at_prints_as_chrono_prints_it(
            micros in -70_000_000_000_000_000i64..250_000_000_000_000_000,
            leap in proptest::prelude::any::<bool>(),
        ) {
            let at = DateTime::from_timestamp_micros(micros).expect("in range");
            let at = if leap {
                at.with_nanosecond(1_000_000_000 + at.nanosecond() % 1_000_000_000).unwrap_or(at)
            } else {
                at
            };
            proptest::prop_assert_eq!(
                RecordedAt(at).to_string(),
                at.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }

        /// In JSON (a projection's checkpoint) a time is its stored form, and reads back.
        #[test]
        fn recorded_at_serializes_as_its_stored_form(
            micros in 0i64..250_000_000_000_000_000,
        ) {
            let at = RecordedAt(DateTime::from_timestamp_micros(micros).expect("in range"));
            let json = serde_json::to_string(&at).expect("serializes");
            proptest::prop_assert_eq!(&json, &format!("\"{at}\""));
            proptest::prop_assert_eq!(serde_json::from_str::<RecordedAt>(&json).expect("reads"), at);
        }
    }

    #[test]
    fn a_recorded_time_not_in_the_stored_form_is_refused_by_name() {
        let error = serde_json::from_str::<RecordedAt>("\"2026-13-01\"").unwrap_err();
        assert!(
            error.to_string().contains("not an RFC 3339 timestamp"),
            "{error}"
        );
        // The same instant written another way is not what a projection writes.
        for other in ["2026-01-02T03:04:05+01:00", "2026-01-02T02:04:05Z"] {
            let error = serde_json::from_str::<RecordedAt>(&format!("\"{other}\"")).unwrap_err();
            assert!(
                error.to_string().contains("stored form"),
                "{other}: {error}"
            );
        }
        let at: RecordedAt =
            serde_json::from_str("\"2026-01-02T02:04:05.000000Z\"").expect("stored form reads");
        assert_eq!(at.to_string(), "2026-01-02T02:04:05.000000Z");
    }

    #[test]
    fn chain_hash_matches_the_documented_recipe() {
        // printf '%s\n%s' 000…0 '{}' | sha256sum
        assert_eq!(
            chain_hash(GENESIS_HASH, "{}"),
            sha256_hex(format!("{GENESIS_HASH}\n{{}}").as_bytes())
        );
    }

    #[test]
    fn canonical_json_escapes_like_json_stringify() {
        let value = serde_json::json!({"b": "a\"\\\n\u{1f}ö", "a": [1, 2.5, true, null]});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":[1,2.5,true,null],"b":"a\"\\\n\u001fö"}"#
        );
    }

    #[test]
    fn a_disagreement_must_name_something_the_event_states() {
        let line = |about: &str| {
            format!(
                r#"{{"kind":"delay_announced","occurred":"2019-09","summary":"Ett år.","source":{{"title":"A","disputed":[{{"about":"{about}","says":"Sju månader.","title":"B","published":"2019-H2"}}]}},"data":{{"delay_months":12}}}}"#
            )
        };
        for about in ["occurred", "summary", "kind", "data.delay_months"] {
            let event = parse_event(&line(about)).expect(about);
            let disputed = &event.source.as_ref().unwrap().disputed;
            assert_eq!(disputed[0].about.as_str(), about);
            assert_eq!(disputed[0].says.as_str(), "Sju månader.");
        }
        for about in ["data.reason", "value", "data."] {
            let error = parse_event(&line(about)).expect_err(about);
            assert_eq!(error.field, "source.disputed[0].about", "{about}");
            assert!(
                error.reason.contains("not something this event states"),
                "{error}"
            );
        }
        // The disputing source does not make the fact public earlier than its own source.
        let early = line("occurred").replace(r#""title":"A""#, r#""title":"A","published":"2020""#);
        let event = parse_event(&early).unwrap();
        assert_eq!(
            event.source.unwrap().public_from(),
            chrono::NaiveDate::from_ymd_opt(2020, 12, 31)
        );
    }
}
