//! The store's fast paths. Reading content the store already holds: the canonical JSON of an
//! event that passed every check of [`crate::event_from_value`] before it was appended, and that
//! the hash chain proves unchanged since. Reading it again needs no second round of validation
//! or error locating, so this path deserializes the text straight into the typed event. `verify`
//! still checks every event in full; nothing here is used for input from outside the log. And
//! writing: the canonical content and the canonical envelope in one pass
//! ([`content_and_envelope`]), byte for byte what [`crate::canonical_json`] and
//! [`crate::envelope_json`] give.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::event::{FieldError, NewEvent, Source};
use crate::text::{EventKey, StreamId, Text, default_stream};
use crate::{FuzzyDate, RecordedAt, canonical_json};

/// The envelope of stored content, borrowed where it can be.
#[derive(Deserialize)]
struct StoredContent<'a> {
    #[serde(default)]
    key: Option<EventKey>,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    occurred: FuzzyDate,
    #[serde(default)]
    stream: Option<StreamId>,
    summary: Text,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    by: Option<Text>,
    #[serde(default)]
    data: Option<Value>,
}

/// The event whose canonical content, as the store keeps it, is `content`. Fails only on text
/// that is not an event at all (a damaged file); the cross-field checks of a new event are not
/// repeated.
pub fn event_from_stored_content(content: &str) -> Result<NewEvent, FieldError> {
    let raw: StoredContent<'_> =
        serde_json::from_str(content).map_err(|e| FieldError::new("(json)", e.to_string()))?;
    let data = raw.data.unwrap_or_else(|| Value::Object(Map::new()));
    let data = match crate::kinds::data_for_kind(&raw.kind, data) {
        Some(Ok(data)) => data,
        Some(Err(e)) => return Err(FieldError::new("data", e.to_string())),
        None => {
            return Err(FieldError::new(
                "kind",
                format!("{:?} is not a kind", raw.kind),
            ));
        }
    };
    Ok(NewEvent {
        key: raw.key,
        stream: raw.stream.unwrap_or_else(default_stream),
        occurred: raw.occurred,
        summary: raw.summary,
        source: raw.source,
        by: raw.by,
        data,
    })
}

/// Parses a transaction time as the store writes it. Unlike [`RecordedAt::parse`] it does not
/// print the time again to check the stored form; `verify` does.
pub fn recorded_at_from_stored(text: &str) -> Result<RecordedAt, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| RecordedAt(at.with_timezone(&chrono::Utc)))
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"))
}

/// The canonical content of an event given as its JSON value, and the canonical envelope the
/// chain hash covers (the content plus `seq`, `stream_version`, `recorded_at` and `schema`),
/// each member serialized once for both.
pub fn content_and_envelope(
    content: &Value,
    seq: u64,
    stream_version: u64,
    recorded_at: &RecordedAt,
    schema: u32,
) -> (String, String) {
    let Value::Object(map) = content else {
        unreachable!("an event serializes to an object")
    };
    let key = |k: &str| serde_json::to_string(k).expect("strings always serialize");
    let mut members: Vec<(&str, String)> = map
        .iter()
        .map(|(k, v)| (k.as_str(), canonical_json(v)))
        .collect();
    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let extras = [
        ("recorded_at", key(&recorded_at.to_string())),
        ("schema", schema.to_string()),
        ("seq", seq.to_string()),
        ("stream_version", stream_version.to_string()),
    ];
    let size: usize = members.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut content = String::with_capacity(size + 2);
    let mut envelope = String::with_capacity(size + 128);
    content.push('{');
    envelope.push('{');
    let mut extra = extras.iter().peekable();
    for (i, (name, value)) in members.iter().enumerate() {
        while let Some((extra_name, extra_value)) = extra.next_if(|(n, _)| *n < *name) {
            if envelope.len() > 1 {
                envelope.push(',');
            }
            envelope.push_str(&key(extra_name));
            envelope.push(':');
            envelope.push_str(extra_value);
        }
        let member = format!("{}:{value}", key(name));
        if i > 0 {
            content.push(',');
        }
        content.push_str(&member);
        if envelope.len() > 1 {
            envelope.push(',');
        }
        envelope.push_str(&member);
    }
    for (extra_name, extra_value) in extra {
        if envelope.len() > 1 {
            envelope.push(',');
        }
        envelope.push_str(&key(extra_name));
        envelope.push(':');
        envelope.push_str(extra_value);
    }
    content.push('}');
    envelope.push('}');
    (content, envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{envelope_json, parse_event};

    #[test]
    fn content_and_envelope_are_what_the_documented_encoding_gives() {
        let at = RecordedAt::parse("2026-11-23T10:15:30.123456Z").expect("a time");
        for line in [
            r#"{"kind":"plan_revised","occurred":"2020-05","summary":"Ny plan.","source":{"title":"Källa","url":"https://example.invalid/a"},"data":{"waves":[{"wave":"w1","area":"Södra","planned":"2022-H1"}]}}"#,
            r#"{"kind":"fact_reported","key":"k-1","stream":"support","occurred":"2024","summary":"Ärende \"ett\"\n.","source":{"title":"Ärende 1"},"by":"Anna"}"#,
            r#"{"kind":"budget_set","occurred":"2024","summary":"Budget.","source":{"title":"Beslut"},"data":{"budget":"b","value_msek":12.5}}"#,
        ] {
            let event = parse_event(line).expect("valid");
            let value = event.to_value();
            let (content, envelope) = content_and_envelope(&value, 7, 3, &at, 1);
            assert_eq!(content, canonical_json(&value));
            assert_eq!(envelope, envelope_json(value, 7, 3, &at, 1));
        }
        assert_eq!(recorded_at_from_stored(&at.to_string()), Ok(at));
    }

    #[test]
    fn stored_content_reads_back_as_the_event_that_was_stored() {
        for line in [
            r#"{"kind":"plan_revised","occurred":"2020-05","summary":"Ny plan.","source":{"title":"Källa","url":"https://example.invalid/a","published":"2020-05-02"},"data":{"label":"Plan B","waves":[{"wave":"w1","area":"Södra","planned":"2022-H1"}]}}"#,
            r#"{"kind":"fact_reported","key":"k-1","stream":"support","occurred":"2024","summary":"Ärende \"ett\".","source":{"title":"Ärende 1"},"by":"Anna"}"#,
            r#"{"kind":"event_corrected","occurred":"2026-11-23","summary":"Rättad.","data":{"target":{"seq":3},"reason":"Fel.","summary":"Ny text."}}"#,
        ] {
            let event = parse_event(line).expect("valid");
            let read = event_from_stored_content(&event.canonical_content()).expect("reads");
            assert_eq!(read, event);
        }
        assert!(event_from_stored_content("{}").is_err());
        assert!(
            event_from_stored_content(r#"{"kind":"nonsense","occurred":"2024","summary":"x"}"#)
                .is_err()
        );
    }
}
