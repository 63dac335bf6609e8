//! The events communications staff write every week (a note, something published, a key
//! figure, a correction, a retraction), built from plain inputs by one set of rules for the
//! command line and the web forms alike. Every builder validates through the model, so a bad
//! input gets the same field and reason wherever it was typed.

use chrono::NaiveDate;
use lagesbild_model::{FieldError, FuzzyDate, NewEvent, event_from_value};
use serde_json::{Map, Value, json};

/// The stream the week's material is recorded in.
pub const REPORT_STREAM: &str = "rapport";

/// What every staff event carries besides its own data.
#[derive(Clone, Debug, Default)]
pub struct Common {
    /// When it happened; the caller defaults it to today.
    pub occurred: Option<FuzzyDate>,
    /// An idempotency key: the same key and content twice is recorded once.
    pub key: Option<String>,
    /// Who records it.
    pub by: Option<String>,
}

/// Which section of the report a note belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteSection {
    Summary,
    Communications,
    Operations,
    About,
}

impl NoteSection {
    pub const ALL: [NoteSection; 4] = [
        NoteSection::Summary,
        NoteSection::Communications,
        NoteSection::Operations,
        NoteSection::About,
    ];

    /// The name in the log (`data.section`).
    pub fn name(self) -> &'static str {
        match self {
            NoteSection::Summary => "summary",
            NoteSection::Communications => "communications",
            NoteSection::Operations => "operations",
            NoteSection::About => "about",
        }
    }

    /// The section's heading in the report.
    pub fn heading(self) -> &'static str {
        match self {
            NoteSection::Summary => "Sammanfattande lägesbild",
            NoteSection::Communications => "Kommunikativ lägesbild",
            NoteSection::Operations => "Verksamhetens kommentar",
            NoteSection::About => "Om rapporten",
        }
    }

    pub fn from_name(name: &str) -> Option<NoteSection> {
        NoteSection::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How long a note stands in the reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The ISO week it was written in (the default).
    Week,
    /// Every report up to and including this day.
    Until(NaiveDate),
    /// Until it is retracted.
    Standing,
}

#[derive(Clone, Debug)]
pub struct Note {
    pub section: NoteSection,
    pub text: String,
    pub points: Vec<String>,
    pub standing: Standing,
}

#[derive(Clone, Debug)]
pub struct Publication {
    pub title: String,
    pub url: Option<String>,
    pub channel: Option<String>,
    /// A standing link under *Samlad information* rather than a dated item.
    pub collected: bool,
}

#[derive(Clone, Debug)]
pub struct Figure {
    pub figure: String,
    /// As typed: a decimal point or comma, spaces as thousands separators.
    pub value: String,
    pub unit: String,
    pub label: Option<String>,
}

/// What a correction changes; at least one field.
#[derive(Clone, Debug, Default)]
pub struct Correction {
    /// The target, by sequence number or key, as typed.
    pub target: String,
    pub reason: String,
    pub occurred: Option<String>,
    pub summary: Option<String>,
    /// The target's corrected data, whole, as JSON text.
    pub data: Option<String>,
}

pub fn note(note: &Note, common: &Common, today: NaiveDate) -> Result<NewEvent, FieldError> {
    let mut data = json!({ "section": note.section.name() });
    let points: Vec<&str> = note
        .points
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if !points.is_empty() {
        data["points"] = json!(points);
    }
    match note.standing {
        Standing::Week => {}
        Standing::Until(day) => data["until"] = json!(day.to_string()),
        Standing::Standing => data["standing"] = json!(true),
    }
    build(
        "situation_noted",
        note.text.trim().to_owned(),
        data,
        common,
        today,
    )
}

pub fn publication(
    publication: &Publication,
    common: &Common,
    today: NaiveDate,
) -> Result<NewEvent, FieldError> {
    let title = publication.title.trim();
    let mut data = json!({ "title": title });
    if let Some(url) = nonempty(&publication.url) {
        data["url"] = json!(url);
    }
    if let Some(channel) = nonempty(&publication.channel) {
        data["channel"] = json!(channel);
    }
    if publication.collected {
        data["listing"] = json!("collected");
    }
    let summary = format!("Publicerat: {}.", title.trim_end_matches('.'));
    build("communication_published", summary, data, common, today)
}

pub fn figure(figure: &Figure, common: &Common, today: NaiveDate) -> Result<NewEvent, FieldError> {
    let value: f64 = figure
        .value
        .trim()
        .replace(',', ".")
        .replace([' ', '\u{a0}'], "")
        .parse()
        .map_err(|_| {
            FieldError::new("data.value", format!("{:?} is not a number", figure.value))
        })?;
    let amount = lagesbild_model::Amount::from_f64(value)
        .map_err(|e| FieldError::new("data.value", e.to_string()))?;
    let mut data =
        json!({ "figure": figure.figure.trim(), "value": amount, "unit": figure.unit.trim() });
    let label = nonempty(&figure.label);
    if let Some(label) = label {
        data["label"] = json!(label);
    }
    let name = label.unwrap_or(figure.figure.trim());
    let summary = format!("{name}: {} {}.", swedish_number(value), figure.unit.trim());
    build("figure_reported", summary, data, common, today)
}

/// A correction of an earlier event. `summary_text` is the correction's own summary.
pub fn correction(
    correction: &Correction,
    summary_text: &str,
    common: &Common,
    today: NaiveDate,
) -> Result<NewEvent, FieldError> {
    let mut data = json!({
        "target": target(&correction.target)?,
        "reason": correction.reason.trim(),
    });
    if let Some(occurred) = nonempty(&correction.occurred) {
        data["occurred"] = json!(occurred);
    }
    if let Some(summary) = nonempty(&correction.summary) {
        data["summary"] = json!(summary);
    }
    if let Some(text) = nonempty(&correction.data) {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| FieldError::new("data.data", format!("not JSON: {e}")))?;
        data["data"] = value;
    }
    build(
        "event_corrected",
        summary_text.trim().to_owned(),
        data,
        common,
        today,
    )
}

/// A retraction of an earlier event.
pub fn retraction(
    target_text: &str,
    reason: &str,
    summary_text: &str,
    common: &Common,
    today: NaiveDate,
) -> Result<NewEvent, FieldError> {
    let data = json!({ "target": target(target_text)?, "reason": reason.trim() });
    build(
        "event_retracted",
        summary_text.trim().to_owned(),
        data,
        common,
        today,
    )
}

/// `131` → `{"seq": 131}`, anything else → `{"key": …}`.
fn target(text: &str) -> Result<Value, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FieldError::new(
            "data.target",
            "name the event: a sequence number or a key",
        ));
    }
    Ok(match text.parse::<u64>() {
        Ok(seq) => json!({ "seq": seq }),
        Err(_) => json!({ "key": text }),
    })
}

fn nonempty(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// Swedish number formatting for summaries: `1 234,5`.
fn swedish_number(value: f64) -> String {
    lagesbild_render::swedish::number(value)
}

fn build(
    kind: &str,
    summary: String,
    data: Value,
    common: &Common,
    today: NaiveDate,
) -> Result<NewEvent, FieldError> {
    let occurred = common.occurred.unwrap_or(FuzzyDate::Day(today));
    let mut event = Map::new();
    event.insert("kind".into(), json!(kind));
    event.insert("occurred".into(), json!(occurred.to_string()));
    event.insert("stream".into(), json!(REPORT_STREAM));
    event.insert("summary".into(), json!(summary));
    event.insert("data".into(), data);
    if let Some(key) = nonempty(&common.key) {
        event.insert("key".into(), json!(key));
    }
    if let Some(by) = nonempty(&common.by) {
        event.insert("by".into(), json!(by));
    }
    event_from_value(Value::Object(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 12, 27).expect("a day")
    }

    #[test]
    fn a_note_defaults_to_today_and_drops_blank_points() {
        let event = note(
            &Note {
                section: NoteSection::Operations,
                text: " Inga beslut fattas. ".into(),
                points: vec!["".into(), "Granskning i mars".into()],
                standing: Standing::Until(day()),
            },
            &Common::default(),
            day(),
        )
        .expect("valid");
        assert_eq!(event.occurred, FuzzyDate::Day(day()));
        assert_eq!(event.summary.as_str(), "Inga beslut fattas.");
        let value = event.to_value();
        assert_eq!(value["data"]["points"], json!(["Granskning i mars"]));
        assert_eq!(value["data"]["until"], json!("2024-12-27"));
    }

    #[test]
    fn a_figure_takes_a_swedish_decimal_comma_and_names_the_field_when_wrong() {
        let common = Common::default();
        let ok = figure(
            &Figure {
                figure: "konsulter".into(),
                value: "1 234,5".into(),
                unit: "st".into(),
                label: None,
            },
            &common,
            day(),
        )
        .expect("valid");
        assert_eq!(ok.to_value()["data"]["value"], json!(1234.5));
        let bad = figure(
            &Figure {
                figure: "konsulter".into(),
                value: "många".into(),
                unit: "st".into(),
                label: None,
            },
            &common,
            day(),
        )
        .expect_err("not a number");
        assert_eq!(bad.field, "data.value");
    }

    #[test]
    fn a_correction_targets_a_seq_or_a_key_and_needs_a_target() {
        let common = Common::default();
        let by_seq = correction(
            &Correction {
                target: "12".into(),
                reason: "Fel dag.".into(),
                occurred: Some("2022-02-03".into()),
                ..Correction::default()
            },
            "Datum rättat.",
            &common,
            day(),
        )
        .expect("valid");
        assert_eq!(by_seq.to_value()["data"]["target"], json!({"seq": 12}));
        let missing =
            retraction(" ", "Fel.", "Tillbakadragen.", &common, day()).expect_err("no target");
        assert_eq!(missing.field, "data.target");
    }
}
