//! The store's fast paths. Reading content the store already holds: the canonical JSON of an
//! event that passed every check of [`crate::event_from_value`] before it was appended, and that
//! the hash chain proves unchanged since. Reading it again needs no second round of validation
//! or error locating, so [`event_from_stored_content`] deserializes the text straight into the
//! typed event (`data` as the struct of the event's kind, with no `serde_json::Value` between),
//! through [`Stored`], the deserializer under which the scalar types of [`crate::text`] are built
//! by their `from_stored` constructors instead of being checked again (`crate::stored` says why
//! that is sound). `verify` still checks every event in full; nothing here is used for input
//! from outside the log. And writing: the canonical content and the canonical envelope in one
//! pass ([`content_and_envelope`]), byte for byte what [`crate::canonical_json`] and
//! [`crate::envelope_json`] give.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::canonical::{Writer, write_string, write_u64};
use crate::event::{FieldError, NewEvent, Source};
use crate::kinds::DataReader;
use crate::stored::Stored;
use crate::text::{EventKey, StreamId, Text, default_stream};
use crate::{FuzzyDate, RecordedAt};

/// Reads `T` from stored JSON text through [`Stored`]: no scalar is checked again.
fn from_stored_text<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(Stored::new(&mut deserializer))?;
    deserializer.end()?;
    Ok(value)
}

/// The envelope of stored content, borrowed where it can be; `data` is kept as its text until
/// `kind` (which sorts after it) says what it is.
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
    source: Option<Box<Source>>,
    #[serde(default)]
    by: Option<Text>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// Stored `data` text, read as the struct of its kind.
struct FromStoredText<'a>(&'a str);

impl DataReader for FromStoredText<'_> {
    type Error = serde_json::Error;
    fn read<T: serde::de::DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        from_stored_text(self.0)
    }
}

/// The event whose canonical content, as the store keeps it, is `content`. Fails only on text
/// that is not an event at all (a damaged file); neither the checks of each field nor the
/// cross-field checks of a new event are repeated.
pub fn event_from_stored_content(content: &str) -> Result<NewEvent, FieldError> {
    {
        let raw: StoredContent<'_> =
            from_stored_text(content).map_err(|e| FieldError::new("(json)", e.to_string()))?;
        let data = FromStoredText(raw.data.map_or("{}", RawValue::get));
        let data = match crate::kinds::read_data(&raw.kind, data) {
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
}

/// Like [`event_from_stored_content`], read in one pass when `kind` is the content's kind (the
/// store's `kind` column repeats it): `data`, which sorts before `kind`, goes straight into the
/// struct of that kind rather than being kept as text and read a second time (decoding was 28 %
/// of a full replay's samples; BENCHMARKS.md). The content decides: if its own kind is not `kind`, or
/// it does not read this way for any other reason, it is read by [`event_from_stored_content`],
/// which gives a damaged row's error.
pub fn event_from_stored_content_of_kind(
    content: &str,
    kind: &str,
) -> Result<NewEvent, FieldError> {
    event_from_stored_content_in_one_pass(content, kind)
        .or_else(|_| event_from_stored_content(content))
}

/// The one pass of [`event_from_stored_content_of_kind`] alone, without the fallback; an error
/// says only that it did not apply. Public for the tests that check it applies to every kind.
#[doc(hidden)]
pub fn event_from_stored_content_in_one_pass(
    content: &str,
    kind: &str,
) -> Result<NewEvent, serde_json::Error> {
    use serde::Deserializer as _;
    let mut deserializer = serde_json::Deserializer::from_str(content);
    let event = Stored::new(&mut deserializer).deserialize_map(OnePass { kind })?;
    deserializer.end()?;
    Ok(event)
}

/// The visitor of stored content whose kind is known before `data` is met.
struct OnePass<'k> {
    kind: &'k str,
}

/// `data` read as the struct of a known kind, from the deserializer the map hands it.
struct DataOf<'k>(&'k str);

/// A deserializer of `data`, read as the struct of its kind.
struct FromDeserializer<'de, D>(D, std::marker::PhantomData<&'de ()>);

impl<'de, D: serde::Deserializer<'de>> DataReader for FromDeserializer<'de, D> {
    type Error = D::Error;
    fn read<T: serde::de::DeserializeOwned>(self) -> Result<T, D::Error> {
        T::deserialize(self.0)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for DataOf<'_> {
    type Value = crate::EventData;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        crate::kinds::read_data(self.0, FromDeserializer(d, std::marker::PhantomData))
            .unwrap_or_else(|| Err(serde::de::Error::custom("not a kind")))
    }
}

impl<'de> serde::de::Visitor<'de> for OnePass<'_> {
    type Value = NewEvent;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stored event content")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NewEvent, A::Error> {
        use serde::de::Error;
        let (mut key, mut stream, mut source, mut by, mut data) = (None, None, None, None, None);
        let (mut occurred, mut summary, mut kind_seen) = (None, None, false);
        while let Some(field) = map.next_key::<&str>()? {
            match field {
                "data" if data.is_none() => data = Some(map.next_value_seed(DataOf(self.kind))?),
                "kind" if !kind_seen => {
                    if map.next_value::<&str>()? != self.kind {
                        return Err(A::Error::custom("another kind"));
                    }
                    kind_seen = true;
                }
                "key" if key.is_none() => key = Some(map.next_value::<Option<EventKey>>()?),
                "stream" if stream.is_none() => {
                    stream = Some(map.next_value::<Option<StreamId>>()?);
                }
                "source" if source.is_none() => {
                    source = Some(map.next_value::<Option<Box<Source>>>()?);
                }
                "by" if by.is_none() => by = Some(map.next_value::<Option<Text>>()?),
                "occurred" if occurred.is_none() => occurred = Some(map.next_value()?),
                "summary" if summary.is_none() => summary = Some(map.next_value()?),
                _ => return Err(A::Error::custom("a field read the other way")),
            }
        }
        let (Some(occurred), Some(summary), true) = (occurred, summary, kind_seen) else {
            return Err(A::Error::custom("a field missing"));
        };
        let data = match data {
            Some(data) => data,
            None => match crate::kinds::read_data(self.kind, FromStoredText("{}")) {
                Some(Ok(data)) => data,
                _ => return Err(A::Error::custom("no data")),
            },
        };
        Ok(NewEvent {
            key: key.flatten(),
            stream: stream.flatten().unwrap_or_else(default_stream),
            occurred,
            summary,
            source: source.flatten(),
            by: by.flatten(),
            data,
        })
    }
}

/// Parses a transaction time as the store writes it (`2026-11-23T10:15:30.123456Z`). Unlike
/// [`RecordedAt::parse`] it does not print the time again to check the stored form; `verify`
/// does. The stored form is read by position; anything else goes through chrono's RFC 3339
/// reader.
pub fn recorded_at_from_stored(text: &str) -> Result<RecordedAt, String> {
    if let Some(at) = stored_form(text) {
        return Ok(RecordedAt(at));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| RecordedAt(at.with_timezone(&chrono::Utc)))
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"))
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` read by position; `None` for anything else, a leap second
/// included.
pub(crate) fn stored_form(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() != 27
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
        || bytes[19] != b'.'
        || bytes[26] != b'Z'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |value, &b| {
            b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
        })
    };
    let day = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(5..7)?,
        number(8..10)?,
    )?;
    let second = number(17..19)?;
    if second > 59 {
        return None;
    }
    let time = chrono::NaiveTime::from_hms_micro_opt(
        number(11..13)?,
        number(14..16)?,
        second,
        number(20..26)?,
    )?;
    Some(day.and_time(time).and_utc())
}

/// The canonical content of an event, and the canonical envelope the chain hash covers (the
/// content plus `seq`, `stream_version`, `recorded_at` and `schema`), written in one pass from
/// the event itself or from its JSON value (`NewEvent::to_value`): the content is written once,
/// and the envelope is its members with the four added in key order.
pub fn content_and_envelope<T: Serialize + ?Sized>(
    content: &T,
    seq: u64,
    stream_version: u64,
    recorded_at: &RecordedAt,
    schema: u32,
) -> (String, String) {
    let mut writer = Writer::new(512);
    content
        .serialize(&mut writer)
        .expect("events always serialize to JSON");
    let (content, top) = (&writer.out, &writer.top);
    assert!(content.starts_with('{'), "an event serializes to an object");
    let mut envelope = String::with_capacity(content.len() + 128);
    let mut extras = STORE_FIELDS
        .into_iter()
        .zip([
            Extra::Time(recorded_at),
            Extra::Number(u64::from(schema)),
            Extra::Number(seq),
            Extra::Number(stream_version),
        ])
        .peekable();
    envelope.push('{');
    let separate = |envelope: &mut String| {
        if envelope.len() > 1 {
            envelope.push(',');
        }
    };
    for member in top {
        let key = member.key(content);
        while let Some((name, extra)) =
            extras.next_if(|(name, _)| writer.compare_keys(name, key).is_le())
        {
            separate(&mut envelope);
            extra.write(name, &mut envelope);
        }
        if STORE_FIELDS.contains(&key) {
            // The store's field replaces a member of the same name, as in `envelope_json`.
            continue;
        }
        separate(&mut envelope);
        envelope.push_str(&content[member.start..member.end]);
    }
    for (name, extra) in extras {
        separate(&mut envelope);
        extra.write(name, &mut envelope);
    }
    envelope.push('}');
    (writer.out, envelope)
}

/// The fields the store adds to the content in the envelope, in key order.
const STORE_FIELDS: [&str; 4] = ["recorded_at", "schema", "seq", "stream_version"];

/// A field the store adds to the envelope.
enum Extra<'a> {
    Time(&'a RecordedAt),
    Number(u64),
}

impl Extra<'_> {
    fn write(&self, name: &str, out: &mut String) {
        write_string(out, name);
        out.push(':');
        match self {
            // The stored form has nothing JSON escapes.
            Extra::Time(at) => {
                use std::fmt::Write as _;
                write!(out, "\"{at}\"").expect("writing to a String cannot fail");
            }
            Extra::Number(number) => write_u64(out, *number),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{canonical_json, envelope_json, parse_event};

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
            assert_eq!(
                content_and_envelope(&event, 7, 3, &at, 1),
                (content.clone(), envelope.clone())
            );
            assert_eq!(event.canonical_content(), content);
            assert_eq!(envelope, envelope_json(value, 7, 3, &at, 1));
        }
        assert_eq!(recorded_at_from_stored(&at.to_string()), Ok(at));
    }

    #[test]
    fn the_store_fields_replace_members_of_the_same_name() {
        let at = RecordedAt::parse("2026-11-23T10:15:30.000001Z").expect("a time");
        for value in [
            serde_json::json!({"seq": "x", "a": 1, "z": 2, "schema": [1]}),
            serde_json::json!({}),
            serde_json::json!({"s": 1, "recorded_at_": 2, "stream_version": 3, "stream": 4}),
        ] {
            let (content, envelope) = content_and_envelope(&value, 1, 2, &at, 3);
            assert_eq!(content, canonical_json(&value));
            assert_eq!(envelope, envelope_json(value, 1, 2, &at, 3));
        }
    }

    #[test]
    fn stored_times_read_as_chrono_reads_them() {
        for text in [
            "2026-11-23T10:15:30.123456Z",
            "1970-01-01T00:00:00.000000Z",
            "2024-02-29T23:59:59.999999Z",
            "2016-12-31T23:59:60.500000Z",
            "2026-11-23T10:15:30Z",
            "2026-11-23T10:15:30.123456+01:00",
        ] {
            let chrono = chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| RecordedAt(at.with_timezone(&chrono::Utc)))
                .expect(text);
            assert_eq!(recorded_at_from_stored(text), Ok(chrono), "{text}");
        }
        for text in [
            "2023-02-29T10:15:30.123456Z",
            "2026-11-23T24:15:30.123456Z",
            "x",
        ] {
            assert!(recorded_at_from_stored(text).is_err(), "{text}");
        }
    }

    #[test]
    fn only_the_stored_read_skips_the_checks() {
        let bad = r#"{"kind":"fact_reported","occurred":"2024","summary":" ","source":{"title":"\u0000"}}"#;
        let read = event_from_stored_content(bad).expect("stored content is not checked again");
        assert_eq!(read.summary.as_str(), " ");
        assert!(parse_event(bad).is_err());
        assert!(serde_json::from_str::<Text>("\" \"").is_err());
        // A negative amount that cannot be negative, as an older lagesbild stored it.
        let old = r#"{"data":{"budget":"b","value_msek":-0.5},"kind":"budget_set","occurred":"2020","stream":"program","summary":"Budget."}"#;
        let read = event_from_stored_content(old).expect("stored content reads");
        assert_eq!(read.canonical_content(), old);
        assert!(parse_event(old).is_err());
        // Nested scalars too: an identifier in a list in `data`, and a URL in the source.
        let nested = r#"{"data":{"waves":[{"area":"Södra","planned":"2022-H1","wave":"Våg 1"}]},"kind":"plan_revised","occurred":"2020-05","source":{"title":"K","url":"ftp://x"},"stream":"program","summary":"Ny plan."}"#;
        let read = event_from_stored_content(nested).expect("stored content reads");
        assert_eq!(read.canonical_content(), nested);
        assert!(parse_event(nested).is_err());
        let value: serde_json::Value = serde_json::from_str(nested).expect("JSON");
        assert!(crate::event_from_value(value).is_err());
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
