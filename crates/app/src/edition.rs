//! The weekly edition as one document: its day, week and number, the draft as the log has it
//! now (or had it at any position), what changed since the last published edition, its review,
//! the flags for the editor, and every change staff make to it in place. Each change is one or
//! two events on the stream `rapport`, dated on the edition's day, so the draft is a projection
//! of the append-only log like everything else:
//!
//! - a point added: `situation_noted` (and a `points_ordered` when it goes anywhere but last);
//! - a point edited: `event_corrected` of its note, with the new text, sub-points and standing;
//! - a point removed: `event_retracted`;
//! - a point moved: `points_ordered`, the section's whole order;
//! - last week's points brought in: `situation_noted` with `carried_from` and `proposed`, kept
//!   one by one (or all at once) by a correction that clears `proposed`;
//! - the review: `edition_reviewed` (submitted, approved, returned);
//! - publishing: `report_published` through [`crate::publish`], a second time for the same day
//!   as version 2.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, Weekday};
use lagesbild_model::kinds::{ReportPublished, ReviewStep};
use lagesbild_model::{
    EventData, FieldError, FuzzyDate, NewEvent, Section, StoredEvent, event_from_value, sha256_hex,
};
use lagesbild_render::report::TemplateSet;
use lagesbild_store::{EventRef, Filter, Outcome, Store, StoreError, scan};
use lagesbild_timeline::{Material, NoteLine, ReportModel, iso_week, week_start};
use serde::Serialize;
use serde_json::{Value, json};

use crate::publish::{self, PublishError, Published};
use crate::report::build_model;
use crate::staff::{self, NoteSection, REPORT_STREAM, Standing};

#[derive(Debug, thiserror::Error)]
pub enum EditionError {
    /// A field as typed is wrong; `field` is the form's field name or the model's, and the
    /// reason is the model's own (English, for the log, not for the person).
    #[error("{}: {}", .0.field, .0.reason)]
    Invalid(FieldError),
    /// A field as typed is wrong, and the reason is written for the person who typed it, in
    /// Swedish; `field` is the form's field name.
    #[error("{}: {}", .0.field, .0.reason)]
    Explained(FieldError),
    /// The edition's state does not allow it (review rules, points not kept yet); the reason
    /// is in Swedish, for the person who asked.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl From<FieldError> for EditionError {
    fn from(error: FieldError) -> EditionError {
        EditionError::Invalid(error)
    }
}

/// A refused field with a reason in Swedish for the person ([`EditionError::Explained`]).
fn invalid(field: &str, reason: &str) -> EditionError {
    EditionError::Explained(FieldError::new(field, reason))
}

/// What a person may do with an edition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads, writes nothing.
    Reader,
    /// Writes and edits, submits for review, publishes when the four-eyes rule is off.
    Editor,
    /// An editor who may also approve or send back someone else's edition.
    Approver,
}

impl Role {
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "reader" => Some(Role::Reader),
            "editor" => Some(Role::Editor),
            "approver" => Some(Role::Approver),
            _ => None,
        }
    }

    pub fn can_edit(self) -> bool {
        self >= Role::Editor
    }

    pub fn can_approve(self) -> bool {
        self == Role::Approver
    }
}

/// Who does something to an edition.
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

/// The rules an edition is published under.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    /// An edition must be submitted and approved by someone else before it is published.
    pub four_eyes: bool,
    /// A figure older than this is flagged as probably stale.
    pub figure_max_age_weeks: u32,
}

/// The report day of an edition named `2024-W52` (its Friday) or `2024-12-27` (that day).
pub fn parse_edition(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    if let Some((year, week)) = text.split_once("-W") {
        let year: i32 = year
            .parse()
            .map_err(|_| format!("{text:?} är ingen vecka; skriv till exempel 2024-W52"))?;
        let week: u32 = week
            .parse()
            .map_err(|_| format!("{text:?} är ingen vecka; skriv till exempel 2024-W52"))?;
        return NaiveDate::from_isoywd_opt(year, week, Weekday::Fri)
            .ok_or_else(|| format!("år {year} har ingen vecka {week}"));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} är varken en vecka (2024-W52) eller en dag (2024-12-27)"))
}

/// The name of the edition of `day` in paths: its week when it is the week's Friday, else the
/// day.
pub fn edition_name(day: NaiveDate) -> String {
    if day.weekday() == Weekday::Fri {
        iso_week(day)
    } else {
        day.to_string()
    }
}

/// The edition of the week `today` is in: that week's Friday.
pub fn current_edition(today: NaiveDate) -> NaiveDate {
    week_start(today) + Days::new(4)
}

/// A published version of an edition.
#[derive(Clone, Debug, Serialize)]
pub struct PublishedVersion {
    pub seq: u64,
    pub version: u32,
    pub compiled_at: String,
    pub by: Option<String>,
    pub log_seq: u64,
}

/// One word-level piece of a changed point: `same`, `removed` or `added` text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Piece {
    pub kind: &'static str,
    pub text: String,
}

/// How one point compares with the last published edition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointChange {
    /// `new`, `changed`, `dropped` or `same`.
    pub change: &'static str,
    /// The point now (for a dropped one, as it was).
    pub text: String,
    pub seq: u64,
    /// For a changed point: the word-level difference, sub-points included.
    pub pieces: Vec<Piece>,
}

/// The changes of one section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SectionChanges {
    pub heading: &'static str,
    pub points: Vec<PointChange>,
}

/// The sections that hold points, with their headings, in the report's order.
pub const NOTE_SECTIONS: [(Section, &str, &str); 4] = [
    (Section::Summary, "summary", "Sammanfattande lägesbild"),
    (
        Section::Communications,
        "communications",
        "Kommunikativ lägesbild",
    ),
    (Section::Operations, "operations", "Verksamhetens kommentar"),
    (
        Section::About,
        "about",
        "Om Samordning vårdinformationssystem",
    ),
];

pub fn section_name(section: Section) -> &'static str {
    NOTE_SECTIONS
        .iter()
        .find(|(s, _, _)| *s == section)
        .map(|(_, name, _)| *name)
        .expect("every section is listed")
}

pub fn section_heading(section: Section) -> &'static str {
    NOTE_SECTIONS
        .iter()
        .find(|(s, _, _)| *s == section)
        .map(|(_, _, heading)| *heading)
        .expect("every section is listed")
}

fn whole_text(line: &NoteLine) -> String {
    let mut text = line.text.clone();
    for point in &line.points {
        text.push_str("\n– ");
        text.push_str(point);
    }
    text
}

/// A word-level difference of two texts.
pub fn word_diff(before: &str, after: &str) -> Vec<Piece> {
    let diff = similar::TextDiff::from_words(before, after);
    let mut pieces: Vec<Piece> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            similar::ChangeTag::Equal => "same",
            similar::ChangeTag::Delete => "removed",
            similar::ChangeTag::Insert => "added",
        };
        match pieces.last_mut() {
            Some(last) if last.kind == kind => last.text.push_str(change.value()),
            _ => pieces.push(Piece {
                kind,
                text: change.value().to_owned(),
            }),
        }
    }
    pieces
}

/// Point by point, what is new, changed and dropped in `now` against `before`. A point is the
/// same point when it is the same note (a standing one), was carried over from it, or reads
/// the same.
pub fn changes(before: &ReportModel, now: &ReportModel) -> Vec<SectionChanges> {
    let mut out = Vec::new();
    for ((section, now_lines), (_, before_lines)) in
        now.note_sections().into_iter().zip(before.note_sections())
    {
        let mut matched: BTreeSet<u64> = BTreeSet::new();
        let mut points = Vec::new();
        for line in now_lines {
            let same_note = before_lines.iter().find(|b| {
                !matched.contains(&b.seq)
                    && (b.seq == line.seq
                        || line.carried_from == Some(b.seq)
                        || (b.carried_from.is_some() && b.carried_from == line.carried_from))
            });
            let earlier = same_note.or_else(|| {
                before_lines
                    .iter()
                    .find(|b| !matched.contains(&b.seq) && whole_text(b) == whole_text(line))
            });
            let (change, pieces) = match earlier {
                Some(b) => {
                    matched.insert(b.seq);
                    if whole_text(b) == whole_text(line) {
                        ("same", Vec::new())
                    } else {
                        ("changed", word_diff(&whole_text(b), &whole_text(line)))
                    }
                }
                None => ("new", Vec::new()),
            };
            points.push(PointChange {
                change,
                text: whole_text(line),
                seq: line.seq,
                pieces,
            });
        }
        for b in before_lines {
            if !matched.contains(&b.seq) {
                points.push(PointChange {
                    change: "dropped",
                    text: whole_text(b),
                    seq: b.seq,
                    pieces: Vec::new(),
                });
            }
        }
        out.push(SectionChanges {
            heading: section_heading(section),
            points,
        });
    }
    out
}

/// Where an edition's review stands, since it was last published.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Review {
    Draft,
    Submitted {
        by: String,
        digest: Option<String>,
    },
    Approved {
        by: String,
        submitted_by: String,
        digest: Option<String>,
    },
    Returned {
        by: String,
        comment: Option<String>,
    },
}

/// Something the editor should look at before publishing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flag {
    /// Where the flagged thing is on the page (a fragment id), if it is shown there.
    pub anchor: Option<String>,
    pub message: String,
}

/// One edition as the log has it.
#[derive(Clone, Debug, Serialize)]
pub struct Draft {
    pub day: NaiveDate,
    pub name: String,
    pub model: ReportModel,
    /// The edition compared with: the current published version of this day, or else the
    /// latest edition published before it.
    pub baseline: Option<Baseline>,
    pub changes: Vec<SectionChanges>,
    /// The versions of this day already published, first first.
    pub versions: Vec<PublishedVersion>,
    pub review: Review,
    pub flags: Vec<Flag>,
    /// SHA-256 of the draft's content, what an approval approves.
    pub digest: String,
    /// The log position the draft was built at.
    pub at: u64,
    /// Whether it is the draft at the head of the log, which can be edited.
    pub at_head: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    pub seq: u64,
    pub day: NaiveDate,
    pub number: u32,
    pub version: u32,
    /// The same day published before: this would be its next version.
    pub same_day: bool,
}

/// Every `report_published` of the log up to `max_seq`, first first.
fn publications(
    store: &dyn Store,
    max_seq: u64,
) -> Result<Vec<(StoredEvent, ReportPublished)>, StoreError> {
    let filter = Filter {
        kinds: vec!["report_published".into()],
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut out = Vec::new();
    for event in scan(store, &filter) {
        let event = event?;
        if let EventData::ReportPublished(p) = &event.event.data {
            let p = (**p).clone();
            out.push((event, p));
        }
    }
    Ok(out)
}

/// The review events of the edition of `day` after `after`, first first.
fn reviews(
    store: &dyn Store,
    day: NaiveDate,
    after: u64,
    max_seq: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let filter = Filter {
        kinds: vec!["edition_reviewed".into()],
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut out = Vec::new();
    for event in scan(store, &filter) {
        let event = event?;
        if event.seq <= after {
            continue;
        }
        if let EventData::EditionReviewed(r) = &event.event.data
            && r.edition.first_day() == day
        {
            out.push(event);
        }
    }
    Ok(out)
}

fn review_state(events: &[StoredEvent]) -> Review {
    let mut state = Review::Draft;
    for event in events {
        let EventData::EditionReviewed(r) = &event.event.data else {
            continue;
        };
        let by = event
            .event
            .by
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let digest = r.draft_sha256.as_ref().map(ToString::to_string);
        state = match r.step {
            ReviewStep::Submitted => Review::Submitted { by, digest },
            ReviewStep::Approved => Review::Approved {
                by,
                submitted_by: match &state {
                    Review::Submitted { by, .. } => by.clone(),
                    _ => String::new(),
                },
                digest,
            },
            ReviewStep::Returned => Review::Returned {
                by,
                comment: r.comment.as_ref().map(ToString::to_string),
            },
        };
    }
    state
}

/// The SHA-256 of what the draft says: its model without the compile time and the log
/// position, which change without the content changing.
pub fn digest(model: &ReportModel) -> String {
    let mut content = model.clone();
    content.compiled_at = FuzzyDate::Day(model.report_date);
    content.log_seq = 0;
    let bytes = serde_json::to_vec(&content).expect("the report model always serializes");
    sha256_hex(&bytes)
}

fn flags(model: &ReportModel, baseline: Option<&ReportModel>, rules: Rules) -> Vec<Flag> {
    let day = model.report_date;
    let mut flags = Vec::new();
    if !model.proposed.is_empty() {
        flags.push(Flag {
            anchor: Some("forslag".into()),
            message: format!(
                "{} förslag från förra veckan är inte genomgångna: behåll, ändra eller ta bort dem.",
                model.proposed.len()
            ),
        });
    }
    for matter in &model.open_matters {
        // The programme's own reading of "overdue": the next date's last day has passed.
        if let Some(next) = matter.next_date
            && matter.overdue
        {
            flags.push(Flag {
                anchor: None,
                message: format!(
                    "Ärendet {} hade nästa datum {}, som har passerat: stämmer det fortfarande?",
                    matter.summary,
                    lagesbild_render::swedish::fuzzy(&next)
                ),
            });
        }
    }
    // A note that stood until its matter closed: no longer in the report, but kept here so
    // the editor decides whether it should stand some other way or go.
    for note in &model.lapsed_notes {
        let closed = note.closed.as_ref().map_or_else(
            || "ärendet avslutades".to_owned(),
            |closed| {
                format!(
                    "ärendet avslutades {}",
                    lagesbild_render::swedish::fuzzy(closed)
                )
            },
        );
        flags.push(Flag {
            anchor: Some(format!("punkt-{}", note.seq)),
            message: format!(
                "”{}” står tills ärendet är avslutat – {closed} ({}), så punkten är inte längre med i rapporten: ändra den om den ska stå kvar, eller ta bort den.",
                note.text,
                note.reason.trim_end_matches('.')
            ),
        });
    }
    let max_age = Days::new(u64::from(rules.figure_max_age_weeks) * 7);
    for figure in &model.figures {
        if rules.figure_max_age_weeks > 0 && figure.as_of.last_day() + max_age < day {
            flags.push(Flag {
                anchor: Some(format!("nyckeltal-{}", figure.seq)),
                message: format!(
                    "Nyckeltalet {} är från {}, äldre än {} veckor: lägg in ett nytt värde.",
                    figure.label,
                    lagesbild_render::swedish::fuzzy(&figure.as_of),
                    rules.figure_max_age_weeks
                ),
            });
        }
    }
    for (_, lines) in model.note_sections() {
        for line in lines {
            if let Some(until) = line.until
                && until < day + Days::new(7)
            {
                flags.push(Flag {
                    anchor: Some(format!("punkt-{}", line.seq)),
                    message: format!(
                        "Punkten står till {} och kommer inte med i nästa veckas rapport.",
                        lagesbild_render::swedish::day(until)
                    ),
                });
            }
        }
    }
    if let Some(before) = baseline {
        for (_, lines) in before.note_sections() {
            for line in lines {
                if let Some(until) = line.until
                    && until < day
                {
                    flags.push(Flag {
                        anchor: None,
                        message: format!(
                            "Punkten \"{}\" stod till {}, som har passerat, och är inte längre med.",
                            line.text,
                            lagesbild_render::swedish::day(until)
                        ),
                    });
                }
            }
        }
    }
    flags
}

/// The edition of `day` as the log had it at `at` (the head if `None`).
pub fn draft(
    store: &mut dyn Store,
    day: NaiveDate,
    at: Option<u64>,
    rules: Rules,
    compiled_at: NaiveDateTime,
) -> Result<Draft, EditionError> {
    let head = store.head()?.seq;
    let at = at.unwrap_or(head).min(head);
    let model = build_model(store, at, day, FuzzyDate::Minute(compiled_at))?;
    let published = publications(store, at)?;
    let mut versions = Vec::new();
    for (event, p) in published
        .iter()
        .filter(|(_, p)| p.report_date.first_day() == day)
    {
        versions.push(PublishedVersion {
            seq: event.seq,
            version: u32::try_from(versions.len() + 1).unwrap_or(u32::MAX),
            compiled_at: p.compiled_at.to_string(),
            by: event.event.by.as_ref().map(ToString::to_string),
            log_seq: p.log_seq,
        });
    }
    let baseline_event = published
        .iter()
        .rev()
        .find(|(_, p)| p.report_date.first_day() == day)
        .or_else(|| {
            published
                .iter()
                .filter(|(_, p)| p.report_date.first_day() < day)
                .max_by_key(|(e, p)| (p.report_date.first_day(), e.seq))
        });
    let (baseline, baseline_model) = match baseline_event {
        Some((event, p)) => {
            let bday = p.report_date.first_day();
            let bmodel = build_model(store, p.log_seq, bday, p.compiled_at)?;
            (
                Some(Baseline {
                    seq: event.seq,
                    day: bday,
                    number: bmodel.number,
                    version: bmodel.version,
                    same_day: bday == day,
                }),
                Some(bmodel),
            )
        }
        None => (None, None),
    };
    let changes = baseline_model
        .as_ref()
        .map(|b| changes(b, &model))
        .unwrap_or_default();
    let last_publication = versions.last().map(|v| v.seq).unwrap_or(0);
    let review = review_state(&reviews(store, day, last_publication, at)?);
    let flags = flags(&model, baseline_model.as_ref(), rules);
    Ok(Draft {
        day,
        name: edition_name(day),
        digest: digest(&model),
        model,
        baseline,
        changes,
        versions,
        review,
        flags,
        at,
        at_head: at == head,
    })
}

/// The edition's history: the `rapport` events dated in its week, and its reviews, newest
/// first, at most `limit`.
pub fn history(
    store: &dyn Store,
    day: NaiveDate,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let filter = Filter {
        streams: vec![REPORT_STREAM.into()],
        occurred_from: Some(week_start(day)),
        occurred_to: Some(week_start(day) + Days::new(6)),
        ..Filter::default()
    };
    let mut events = scan(store, &filter).collect::<Result<Vec<StoredEvent>, StoreError>>()?;
    events.reverse();
    events.truncate(limit);
    Ok(events)
}

// ---- Changes staff make ----

/// A point as typed in the edition's forms.
#[derive(Clone, Debug, Default)]
pub struct PointInput {
    pub text: String,
    /// One sub-point a line.
    pub points: String,
    /// `week`, `until` or `standing`.
    pub lasts: String,
    pub until: Option<String>,
}

impl PointInput {
    fn standing(&self) -> Result<Standing, EditionError> {
        match self.lasts.trim() {
            "" | "week" => Ok(Standing::Week),
            "standing" => Ok(Standing::Standing),
            "until" => {
                let text = self.until.as_deref().map(str::trim).unwrap_or("");
                if text.is_empty() {
                    return Err(invalid(
                        "until",
                        "Ange den sista dagen punkten står, till exempel 31 mars 2025.",
                    ));
                }
                crate::day_input::parse_day(text)
                    .map(Standing::Until)
                    .map_err(|e| invalid("until", &e.to_string()))
            }
            _ => Err(invalid(
                "lasts",
                "Välj hur länge punkten står: veckan, till en dag eller tills vidare.",
            )),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.points
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn text(&self) -> Result<String, EditionError> {
        let text = self.text.trim();
        if text.is_empty() {
            return Err(invalid("text", "Skriv punktens text."));
        }
        Ok(text.to_owned())
    }
}

/// Appends events in one transaction; the seq of each.
fn append(store: &mut dyn Store, events: Vec<NewEvent>) -> Result<Vec<u64>, EditionError> {
    let report = store.append(&events, &[]).map_err(|error| match error {
        StoreError::Invalid { error, .. } => EditionError::Invalid(error),
        other => EditionError::Store(other),
    })?;
    Ok(report
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Appended { seq, .. } | Outcome::AlreadyPresent { seq } => *seq,
        })
        .collect())
}

fn common(day: NaiveDate, actor: &Actor) -> staff::Common {
    staff::Common {
        occurred: Some(FuzzyDate::Day(day)),
        key: None,
        by: Some(actor.name.clone()),
    }
}

fn require_editor(actor: &Actor) -> Result<(), EditionError> {
    if actor.role.can_edit() {
        Ok(())
    } else {
        Err(EditionError::Refused(format!(
            "{} har läsbehörighet och kan inte ändra utgåvan.",
            actor.name
        )))
    }
}

fn event(
    kind: &str,
    day: NaiveDate,
    actor: &Actor,
    summary: &str,
    data: Value,
) -> Result<NewEvent, EditionError> {
    Ok(event_from_value(json!({
        "kind": kind,
        "occurred": day.to_string(),
        "stream": REPORT_STREAM,
        "summary": summary,
        "by": actor.name,
        "data": data,
    }))?)
}

fn head_model(store: &mut dyn Store, day: NaiveDate) -> Result<ReportModel, EditionError> {
    let head = store.head()?.seq;
    Ok(build_model(store, head, day, FuzzyDate::Day(day))?)
}

fn section_lines(model: &ReportModel, section: Section) -> Vec<u64> {
    model
        .note_sections()
        .into_iter()
        .find(|(s, _)| *s == section)
        .map(|(_, lines)| lines.iter().map(|l| l.seq).collect())
        .unwrap_or_default()
}

fn order_event(
    day: NaiveDate,
    actor: &Actor,
    section: Section,
    order: &[u64],
) -> Result<NewEvent, EditionError> {
    event(
        "points_ordered",
        day,
        actor,
        &format!("Ordningen i {} ändrades.", section_heading(section)),
        json!({ "edition": day.to_string(), "section": section_name(section), "order": order }),
    )
}

/// Adds a point to `section`, at `position` (0 first; `None` last). Returns its seq.
pub fn add_point(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    section: &str,
    input: &PointInput,
    position: Option<usize>,
) -> Result<u64, EditionError> {
    require_editor(actor)?;
    let note_section = NoteSection::from_name(section)
        .ok_or_else(|| invalid("section", "Välj en del av rapporten."))?;
    let note = staff::Note {
        section: note_section,
        text: input.text()?,
        points: input.lines(),
        standing: input.standing()?,
    };
    let event = staff::note(&note, &common(day, actor), day).map_err(|e| {
        if e.field == "data.until" {
            invalid("until", "Den sista dagen kan inte vara före utgåvans dag.")
        } else {
            fields_in_swedish(e)
        }
    })?;
    let seq = append(store, vec![event])?[0];
    let section = section_of(section);
    if let Some(position) = position {
        let mut order = section_lines(&head_model(store, day)?, section);
        if position < order.len().saturating_sub(1) {
            order.retain(|s| *s != seq);
            order.insert(position.min(order.len()), seq);
            append(store, vec![order_event(day, actor, section, &order)?])?;
        }
    }
    Ok(seq)
}

fn section_of(name: &str) -> Section {
    NOTE_SECTIONS
        .iter()
        .find(|(_, n, _)| *n == name)
        .map(|(s, _, _)| *s)
        .unwrap_or(Section::Summary)
}

/// Field errors from the model, named for the edition's forms: those whose reason can be said
/// in Swedish without the model's words are [`EditionError::Explained`]; the rest keep the
/// model's reason as [`EditionError::Invalid`], which the web app words by the field's kind.
fn fields_in_swedish(error: FieldError) -> EditionError {
    let explained = |field: &str, reason: &str| invalid(field, reason);
    let renamed = |field: &str| EditionError::Invalid(FieldError::new(field, error.reason.clone()));
    match error.field.as_str() {
        "summary" => renamed("text"),
        f if f.starts_with("data.points") => renamed("points"),
        f if f.starts_with("data.value") => explained("value", "Ange ett tal, till exempel 120."),
        f if f.starts_with("data.figure") => explained(
            "figure",
            "Ange nyckeltalets namn med små bokstäver, siffror och bindestreck, till exempel konsulter.",
        ),
        f if f.starts_with("data.unit") => renamed("unit"),
        f if f.starts_with("data.label") => renamed("label"),
        f if f.starts_with("data.title") => renamed("title"),
        f if f.starts_with("data.url") => {
            explained("url", "Ange en fullständig adress som börjar med https://.")
        }
        f if f.starts_with("data.person") => renamed("person"),
        f if f.starts_with("data.comment") => renamed("comment"),
        _ => EditionError::Invalid(error.clone()),
    }
}

/// The current state of the item event `seq` added, for an edition of `day`.
fn current_item(
    store: &mut dyn Store,
    day: NaiveDate,
    seq: u64,
) -> Result<lagesbild_timeline::MaterialItem, EditionError> {
    let head = store.head()?.seq;
    let material: Material = match crate::material::catch_up(store)
        .and_then(|()| crate::material::for_day(store, head, day))
    {
        Ok(material) => material,
        Err(_) => crate::report::fold_material(store, head)?,
    };
    material
        .item(seq)
        .cloned()
        .ok_or_else(|| EditionError::NotFound(format!("punkt {seq} finns inte i utgåvan")))
}

/// Edits the point (a note) event `seq` added: its text, sub-points and how long it stands.
/// A suggestion from last week is kept by it.
pub fn revise_point(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    seq: u64,
    input: &PointInput,
) -> Result<u64, EditionError> {
    require_editor(actor)?;
    let item = current_item(store, day, seq)?;
    let EventData::SituationNoted(note) = &item.data else {
        return Err(EditionError::NotFound(format!("{seq} är ingen punkt")));
    };
    let text = input.text()?;
    let mut data = json!({ "section": section_name(note.section) });
    let points = input.lines();
    if !points.is_empty() {
        data["points"] = json!(points);
    }
    match input.standing()? {
        Standing::Week => {}
        Standing::Until(until) => {
            if until < item.occurred.first_day() {
                return Err(invalid(
                    "until",
                    "Den sista dagen kan inte vara före punktens egen dag.",
                ));
            }
            data["until"] = json!(until.to_string());
        }
        Standing::Standing => data["standing"] = json!(true),
    }
    if let Some(from) = note.carried_from {
        data["carried_from"] = json!(from);
    }
    let reason = if note.proposed {
        "Behållen från förra veckan och ändrad i utgåvan."
    } else {
        "Ändrad i utgåvan."
    };
    let correction = event(
        "event_corrected",
        day,
        actor,
        "Punkten ändrades.",
        json!({ "target": { "seq": seq }, "reason": reason, "summary": text, "data": data }),
    )
    .map_err(|e| match e {
        EditionError::Invalid(f) => fields_in_swedish(FieldError::new(
            f.field
                .replace("data.summary", "summary")
                .replace("data.data.", "data."),
            f.reason,
        )),
        other => other,
    })?;
    append(store, vec![correction])?;
    Ok(seq)
}

/// Keeps suggestions from last week as they are: `seq`, or every one still open.
pub fn keep_proposed(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    seq: Option<u64>,
) -> Result<usize, EditionError> {
    require_editor(actor)?;
    let model = head_model(store, day)?;
    let mut events = Vec::new();
    for proposed in &model.proposed {
        if seq.is_some_and(|s| s != proposed.line.seq) {
            continue;
        }
        let item = current_item(store, day, proposed.line.seq)?;
        let EventData::SituationNoted(note) = &item.data else {
            continue;
        };
        let mut note = note.clone();
        note.proposed = false;
        let data = serde_json::to_value(EventData::SituationNoted(note))
            .expect("event data serializes")["data"]
            .clone();
        events.push(event(
            "event_corrected",
            day,
            actor,
            "Punkten från förra veckan behölls.",
            json!({ "target": { "seq": proposed.line.seq }, "reason": "Behållen från förra veckan.", "data": data }),
        )?);
    }
    if events.is_empty() {
        return Err(EditionError::NotFound(
            "det finns inget förslag att behålla".into(),
        ));
    }
    let n = events.len();
    append(store, events)?;
    Ok(n)
}

/// Removes the item event `seq` added from the edition (and from every later report).
pub fn remove_item(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    seq: u64,
) -> Result<u64, EditionError> {
    require_editor(actor)?;
    let item = current_item(store, day, seq)?;
    let what = match &item.data {
        EventData::SituationNoted(n) if n.proposed => "Förslaget från förra veckan togs bort.",
        EventData::SituationNoted(_) => "Punkten togs bort ur utgåvan.",
        EventData::CommunicationPublished(_) => "Länken togs bort.",
        EventData::RoleAssigned(_) => "Rollen togs bort.",
        EventData::FigureReported(_) => "Nyckeltalets värde togs bort.",
        _ => {
            return Err(EditionError::Refused(
                "det här går inte att ta bort i utgåvan".into(),
            ));
        }
    };
    append(
        store,
        vec![event(
            "event_retracted",
            day,
            actor,
            what,
            json!({ "target": { "seq": seq }, "reason": format!("Borttagen i utgåvan {}.", edition_name(day)) }),
        )?],
    )?;
    Ok(seq)
}

/// Moves a point one step up (`up`) or down in its section.
pub fn move_point(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    seq: u64,
    up: bool,
) -> Result<u64, EditionError> {
    require_editor(actor)?;
    let model = head_model(store, day)?;
    for (section, lines) in model.note_sections() {
        let mut order: Vec<u64> = lines.iter().map(|l| l.seq).collect();
        let Some(at) = order.iter().position(|s| *s == seq) else {
            continue;
        };
        let to = if up {
            at.checked_sub(1)
        } else {
            (at + 1 < order.len()).then_some(at + 1)
        };
        let Some(to) = to else {
            return Ok(seq);
        };
        order.swap(at, to);
        append(store, vec![order_event(day, actor, section, &order)?])?;
        return Ok(seq);
    }
    Err(EditionError::NotFound(format!(
        "punkt {seq} finns inte i utgåvan"
    )))
}

/// Brings the points of the last edition published before `day` into the draft as
/// suggestions, each marked with the point it came from. Points already in the draft (standing
/// ones) and points brought in before (kept, changed or dropped since) are left alone. Returns
/// how many were brought in.
pub fn start_from_last_week(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
) -> Result<usize, EditionError> {
    require_editor(actor)?;
    let head = store.head()?.seq;
    let published = publications(store, head)?;
    let Some((_, last)) = published
        .iter()
        .filter(|(_, p)| p.report_date.first_day() < day)
        .max_by_key(|(e, p)| (p.report_date.first_day(), e.seq))
    else {
        return Err(EditionError::Refused(
            "Ingen tidigare utgåva är publicerad att börja från.".into(),
        ));
    };
    let last_day = last.report_date.first_day();
    let before = build_model(store, last.log_seq, last_day, last.compiled_at)?;
    let now = head_model(store, day)?;
    let present: BTreeSet<u64> = now
        .note_sections()
        .into_iter()
        .flat_map(|(_, lines)| lines.iter().map(|l| l.seq))
        .chain(now.proposed.iter().map(|p| p.line.seq))
        .collect();
    let mut events = Vec::new();
    for (section, lines) in before.note_sections() {
        for line in lines {
            if present.contains(&line.seq) || line.standing || line.until.is_some() {
                continue;
            }
            let key = format!("utgava-{day}-fran-{}", line.seq);
            if store.event(&EventRef::Key(key.clone()))?.is_some() {
                continue;
            }
            let mut data = json!({
                "section": section_name(section),
                "carried_from": line.seq,
                "proposed": true,
            });
            if !line.points.is_empty() {
                data["points"] = json!(line.points);
            }
            events.push(event_from_value(json!({
                "kind": "situation_noted",
                "key": key,
                "occurred": day.to_string(),
                "stream": REPORT_STREAM,
                "summary": line.text,
                "by": actor.name,
                "data": data,
            }))?);
        }
    }
    let n = events.len();
    if n > 0 {
        append(store, events)?;
    }
    Ok(n)
}

/// A new value of a key figure, dated on the edition's day.
pub fn add_figure(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    figure: &staff::Figure,
) -> Result<u64, EditionError> {
    require_editor(actor)?;
    if figure.figure.trim().is_empty() {
        return Err(invalid(
            "figure",
            "Ange nyckeltalets namn, till exempel konsulter.",
        ));
    }
    if figure.value.trim().is_empty() {
        return Err(invalid("value", "Ange ett tal, till exempel 120."));
    }
    let event = staff::figure(figure, &common(day, actor), day).map_err(fields_in_swedish)?;
    Ok(append(store, vec![event])?[0])
}

/// A link under *Samlad information* (`collected`) or an item under *Kommunikativa åtgärder*,
/// dated on the edition's day.
pub fn add_link(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    publication: &staff::Publication,
) -> Result<u64, EditionError> {
    require_editor(actor)?;
    if publication.title.trim().is_empty() {
        return Err(invalid("title", "Skriv länkens titel."));
    }
    let event =
        staff::publication(publication, &common(day, actor), day).map_err(fields_in_swedish)?;
    Ok(append(store, vec![event])?[0])
}

/// Edits a link (title and address) or a role (person and title) in place.
pub fn revise_item(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    seq: u64,
    title: &str,
    detail: &str,
) -> Result<u64, EditionError> {
    require_editor(actor)?;
    let item = current_item(store, day, seq)?;
    let (summary, data) = match &item.data {
        EventData::CommunicationPublished(c) => {
            let title = title.trim();
            if title.is_empty() {
                return Err(invalid("title", "Skriv länkens titel."));
            }
            let mut data = serde_json::to_value(EventData::CommunicationPublished(c.clone()))
                .expect("event data serializes")["data"]
                .clone();
            data["title"] = json!(title);
            match detail.trim() {
                "" => {
                    data.as_object_mut().map(|d| d.remove("url"));
                }
                url => data["url"] = json!(url),
            }
            (
                format!("Publicerat: {}.", title.trim_end_matches('.')),
                data,
            )
        }
        EventData::RoleAssigned(r) => {
            let person = title.trim();
            if person.is_empty() {
                return Err(invalid("title", "Skriv personens namn."));
            }
            let mut data = json!({ "role": r.role.as_str(), "person": person });
            if !detail.trim().is_empty() {
                data["title"] = json!(detail.trim());
            }
            (format!("{person} har rollen {}.", r.role.as_str()), data)
        }
        _ => {
            return Err(EditionError::Refused(
                "det här går inte att ändra här".into(),
            ));
        }
    };
    let correction = event(
        "event_corrected",
        day,
        actor,
        "Ändrad i utgåvan.",
        json!({ "target": { "seq": seq }, "reason": "Ändrad i utgåvan.", "summary": summary, "data": data }),
    )
    .map_err(|e| match e {
        EditionError::Invalid(f) if f.field.contains("url") => invalid(
            "detail",
            "Ange en fullständig adress som börjar med https://.",
        ),
        EditionError::Invalid(f) => EditionError::Invalid(FieldError::new("title", f.reason)),
        other => other,
    })?;
    append(store, vec![correction]).map_err(|e| match e {
        EditionError::Invalid(f) if f.field.contains("url") => invalid(
            "detail",
            "Ange en fullständig adress som börjar med https://.",
        ),
        other => other,
    })?;
    Ok(seq)
}

/// A step of the review: an editor submits, an approver (someone else) approves or returns.
pub fn review(
    store: &mut dyn Store,
    day: NaiveDate,
    actor: &Actor,
    step: ReviewStep,
    comment: Option<&str>,
    rules: Rules,
    now: NaiveDateTime,
) -> Result<u64, EditionError> {
    let draft = draft(store, day, None, rules, now)?;
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    let summary = match step {
        ReviewStep::Submitted => {
            require_editor(actor)?;
            if !draft.model.proposed.is_empty() {
                return Err(EditionError::Refused(format!(
                    "Gå först igenom de {} förslagen från förra veckan.",
                    draft.model.proposed.len()
                )));
            }
            "skickades till granskning"
        }
        ReviewStep::Approved | ReviewStep::Returned => {
            if !actor.role.can_approve() {
                return Err(EditionError::Refused(format!(
                    "{} har inte behörighet att godkänna utgåvor.",
                    actor.name
                )));
            }
            let Review::Submitted { by, .. } = &draft.review else {
                return Err(EditionError::Refused(
                    "Utgåvan är inte skickad till granskning.".into(),
                ));
            };
            if *by == actor.name {
                return Err(EditionError::Refused(
                    "Du skickade själv utgåvan till granskning; någon annan måste godkänna den."
                        .into(),
                ));
            }
            if step == ReviewStep::Returned && comment.is_none() {
                return Err(invalid(
                    "comment",
                    "Skriv vad som behöver ändras innan utgåvan skickas tillbaka.",
                ));
            }
            if step == ReviewStep::Approved {
                "godkändes"
            } else {
                "skickades tillbaka"
            }
        }
    };
    let mut data = json!({
        "edition": day.to_string(),
        "step": match step {
            ReviewStep::Submitted => "submitted",
            ReviewStep::Approved => "approved",
            ReviewStep::Returned => "returned",
        },
        "draft_sha256": draft.digest,
    });
    if let Some(comment) = comment {
        data["comment"] = json!(comment);
    }
    let event = event_from_value(json!({
        "kind": "edition_reviewed",
        "occurred": FuzzyDate::Minute(now).to_string(),
        "stream": REPORT_STREAM,
        "summary": format!("Utgåvan {} {summary}.", lagesbild_render::swedish::day(day)),
        "by": actor.name,
        "data": data,
    }))
    .map_err(fields_in_swedish)?;
    Ok(append(store, vec![event])?[0])
}

/// Why the edition cannot be published now, if it cannot.
pub fn publish_blocker(draft: &Draft, actor: &Actor, rules: Rules) -> Option<String> {
    if !actor.role.can_edit() {
        return Some(format!("{} kan inte publicera utgåvor.", actor.name));
    }
    if !draft.model.proposed.is_empty() {
        return Some(format!(
            "Gå först igenom de {} förslagen från förra veckan.",
            draft.model.proposed.len()
        ));
    }
    if rules.four_eyes {
        match &draft.review {
            Review::Approved { digest, .. } if digest.as_deref() == Some(&draft.digest) => None,
            Review::Approved { .. } => Some(
                "Utgåvan har ändrats sedan den godkändes: skicka den till granskning igen.".into(),
            ),
            _ => Some(
                "Utgåvan måste skickas till granskning och godkännas av någon annan innan den publiceras."
                    .into(),
            ),
        }
    } else {
        None
    }
}

/// Whether the edition that `published` records was approved as it was published: the draft of
/// its day at the log position it was built from had an approval of exactly its content (what
/// [`publish_blocker`] asks under the four-eyes rule). False for a report published past the
/// review (`report publish`, the plain publish form), or changed after its approval.
pub fn approved_as_published(
    store: &mut dyn Store,
    published: &ReportPublished,
    rules: Rules,
) -> Result<bool, EditionError> {
    let compiled_at = match published.compiled_at {
        FuzzyDate::Minute(at) => at,
        other => other.first_day().and_time(chrono::NaiveTime::MIN),
    };
    let draft = draft(
        store,
        published.report_date.first_day(),
        Some(published.log_seq),
        rules,
        compiled_at,
    )?;
    Ok(matches!(
        &draft.review,
        Review::Approved { digest, .. } if digest.as_deref() == Some(&draft.digest)
    ))
}

/// Publishes the edition of `day` (its day, not today) once the rules allow it.
pub fn publish_edition(
    store: &mut dyn Store,
    set: &TemplateSet,
    day: NaiveDate,
    actor: &Actor,
    rules: Rules,
    now: NaiveDateTime,
) -> Result<Published, EditionError> {
    let draft = draft(store, day, None, rules, now)?;
    if let Some(reason) = publish_blocker(&draft, actor, rules) {
        return Err(EditionError::Refused(reason));
    }
    Ok(publish::publish(store, set, day, now, Some(&actor.name))?)
}

/// A published report in the archive, with its place among the versions of its day.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveEntry {
    pub seq: u64,
    pub version: u32,
    /// The latest version of its day: the one that stands.
    pub current: bool,
    /// The version that supersedes it, if any.
    pub superseded_by: Option<u64>,
    /// For version 2 and on: what it changed against the version before, in words.
    pub changed: Option<String>,
}

/// The archive's versions: per report (newest first, as [`crate::publish::archive`] lists
/// them), its version of its day, whether it stands, and what it changed.
pub fn archive_versions(
    store: &mut dyn Store,
    reports: &[(StoredEvent, ReportPublished)],
) -> Result<Vec<ArchiveEntry>, EditionError> {
    let mut entries = Vec::new();
    for (event, p) in reports {
        let day = p.report_date.first_day();
        let mut same: Vec<&(StoredEvent, ReportPublished)> = reports
            .iter()
            .filter(|(_, q)| q.report_date.first_day() == day)
            .collect();
        same.sort_by_key(|(e, _)| e.seq);
        let index = same
            .iter()
            .position(|(e, _)| e.seq == event.seq)
            .expect("the report is among its day's");
        let changed = match index.checked_sub(1).map(|i| same[i]) {
            Some((_, before)) => {
                let old = build_model(store, before.log_seq, day, before.compiled_at)?;
                let new = build_model(store, p.log_seq, day, p.compiled_at)?;
                let all = changes(&old, &new);
                let count = |kind: &str| {
                    all.iter()
                        .flat_map(|s| &s.points)
                        .filter(|c| c.change == kind)
                        .count()
                };
                Some(format!(
                    "{} nya, {} ändrade och {} borttagna punkter mot version {}",
                    count("new"),
                    count("changed"),
                    count("dropped"),
                    index
                ))
            }
            None => None,
        };
        entries.push(ArchiveEntry {
            seq: event.seq,
            version: u32::try_from(index + 1).unwrap_or(u32::MAX),
            current: index + 1 == same.len(),
            superseded_by: same.get(index + 1).map(|(e, _)| e.seq),
            changed,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edition_is_named_by_its_week_and_falls_on_friday() {
        let friday = NaiveDate::from_ymd_opt(2024, 12, 27).expect("a day");
        assert_eq!(parse_edition("2024-W52"), Ok(friday));
        assert_eq!(edition_name(friday), "2024-W52");
        let monday = NaiveDate::from_ymd_opt(2024, 12, 23).expect("a day");
        assert_eq!(parse_edition("2024-12-23"), Ok(monday));
        assert_eq!(edition_name(monday), "2024-12-23");
        assert_eq!(current_edition(monday), friday);
        assert!(parse_edition("2024-W60").is_err());
        assert!(parse_edition("<script>").is_err());
    }

    #[test]
    fn a_changed_point_shows_the_words_that_changed() {
        let pieces = word_diff(
            "VGR svarar i mitten av januari.",
            "VGR svarar senast 15 januari.",
        );
        let removed: String = pieces
            .iter()
            .filter(|p| p.kind == "removed")
            .map(|p| p.text.as_str())
            .collect();
        let added: String = pieces
            .iter()
            .filter(|p| p.kind == "added")
            .map(|p| p.text.as_str())
            .collect();
        assert!(removed.contains("mitten"), "{pieces:?}");
        assert!(
            added.contains("senast") && added.contains("15"),
            "{pieces:?}"
        );
        assert!(
            !removed.contains("VGR") && !added.contains("januari"),
            "{pieces:?}"
        );
        assert!(
            pieces
                .iter()
                .any(|p| p.kind == "same" && p.text.contains("VGR"))
        );
    }
}
