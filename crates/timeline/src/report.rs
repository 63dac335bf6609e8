//! The weekly *Regional rapport* as a read model: the notes in force for the report date, the
//! week's publications, standing links, spokespeople, figures, and the programme's state from the
//! projection. Built from events; rendered elsewhere.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Days, NaiveDate};
use lagesbild_model::kinds::{EventCorrected, Listing};
use lagesbild_model::{EventData, FuzzyDate, Section, Source, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::projection::{Amendment, corrected, is_report_material};
use crate::view::View;

/// Report material as currently known, with corrections and retractions applied. Folds events in
/// log order like [`crate::Projection`], keeping only the report's own kinds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Material {
    last_seq: u64,
    /// Boxed: an item is 352 bytes, and a B-tree filled in key order leaves its nodes
    /// about half full, so inline items kept twice their size in memory and every node split
    /// moved them (a full replay at 1M; BENCHMARKS.md).
    items: BTreeMap<u64, Box<MaterialItem>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaterialItem {
    pub seq: u64,
    pub key: Option<String>,
    pub occurred: FuzzyDate,
    pub summary: String,
    pub source: Option<Box<Source>>,
    pub data: EventData,
    /// Boxed, as a timeline entry's: rare, and 48 bytes on every item inline.
    pub retracted: Option<Box<Amendment>>,
}

/// The classes of report material, by how the report looks an item up for a day; see
/// [`MaterialItem::key`].
pub mod material_class {
    /// A situation note for its own week.
    pub const NOTE_DATED: &str = "note_dated";
    /// A situation note in force from its day on.
    pub const NOTE_STANDING: &str = "note_standing";
    /// A situation note in force from its day until its `until`.
    pub const NOTE_UNTIL: &str = "note_until";
    /// A communication for *Kommunikativa åtgärder*, listed for a week.
    pub const COMMUNICATION: &str = "communication";
    /// A collected link, listed from its day on.
    pub const COLLECTED: &str = "collected";
    /// A published report; named by its report date.
    pub const REPORT: &str = "report";
    /// A role assignment.
    pub const ROLE: &str = "role";
    /// A figure's value; named by the figure.
    pub const FIGURE: &str = "figure";
    /// The order of one section's points in an edition, on the edition's day.
    pub const ORDER: &str = "order";
    /// A step of an edition's review; named by the edition's day.
    pub const REVIEW: &str = "review";
    /// Not report material; no report reads it.
    pub const OTHER: &str = "other";
}

/// Where an item of material sits in an index that a report for one day can query without
/// reading the rest: its class, a name within it (a figure's id, a report's date, or empty) and
/// the days it covers (its first day, and the last day it is in force: a note's `until`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialKey {
    pub class: &'static str,
    pub name: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl MaterialItem {
    /// The item a report-material event adds; `None` for every other kind.
    pub fn from_event(event: &StoredEvent) -> Option<MaterialItem> {
        let e = &event.event;
        is_report_material(e.data.kind()).then(|| MaterialItem {
            seq: event.seq,
            key: e.key.as_ref().map(ToString::to_string),
            occurred: e.occurred,
            summary: e.summary.to_string(),
            source: e.source.clone(),
            data: e.data.clone(),
            retracted: None,
        })
    }

    /// Like [`MaterialItem::from_event`], taking the event: its text moves into the item.
    pub fn from_owned(event: StoredEvent) -> Option<MaterialItem> {
        let StoredEvent { seq, event: e, .. } = event;
        is_report_material(e.data.kind()).then(|| MaterialItem {
            seq,
            key: e.key.map(|key| key.into_string()),
            occurred: e.occurred,
            summary: e.summary.into_string(),
            source: e.source,
            data: e.data,
            retracted: None,
        })
    }

    /// The item as `correction` leaves it (not retracted); `None` if the correction does not
    /// apply, which the store's checks on append rule out.
    pub fn corrected_by(&self, correction: &EventCorrected) -> Option<MaterialItem> {
        let fixed = corrected(
            correction,
            self.occurred,
            &self.summary,
            &self.source,
            &self.data,
        )?;
        Some(MaterialItem {
            seq: self.seq,
            key: self.key.clone(),
            occurred: fixed.occurred,
            summary: fixed.summary.to_string(),
            source: fixed.source,
            data: fixed.data,
            retracted: None,
        })
    }

    /// The item's place in a material index. [`build_report`] for a day reads, of each class:
    /// dated notes of the day's week, standing notes and collected links from before it, notes
    /// whose `until` reaches it, communications and reports of the seven days before it, the
    /// latest report dated before it, every role, and per figure its first item and its latest
    /// as of the day and as of the previous report.
    pub fn key(&self) -> MaterialKey {
        let first_day = self.occurred.first_day();
        let (class, name, last_day) = match &self.data {
            EventData::SituationNoted(n)
                if n.standing || (n.while_open.is_some() && n.until.is_none()) =>
            {
                (material_class::NOTE_STANDING, String::new(), first_day)
            }
            EventData::SituationNoted(n) => match &n.until {
                Some(until) => (material_class::NOTE_UNTIL, String::new(), until.last_day()),
                None => (material_class::NOTE_DATED, String::new(), first_day),
            },
            EventData::CommunicationPublished(c) if c.listing == Listing::Collected => {
                (material_class::COLLECTED, String::new(), first_day)
            }
            EventData::CommunicationPublished(_) => {
                (material_class::COMMUNICATION, String::new(), first_day)
            }
            EventData::ReportPublished(r) => (
                material_class::REPORT,
                r.report_date.first_day().to_string(),
                first_day,
            ),
            EventData::FigureReported(f) => {
                (material_class::FIGURE, f.figure.to_string(), first_day)
            }
            EventData::RoleAssigned(_) => (material_class::ROLE, String::new(), first_day),
            EventData::PointsOrdered(o) => {
                let day = o.edition.first_day();
                return MaterialKey {
                    class: material_class::ORDER,
                    name: String::new(),
                    first_day: day,
                    last_day: day,
                };
            }
            EventData::EditionReviewed(r) => (
                material_class::REVIEW,
                r.edition.first_day().to_string(),
                first_day,
            ),
            _ => (material_class::OTHER, String::new(), first_day),
        };
        MaterialKey {
            class,
            name,
            first_day,
            last_day,
        }
    }
}

impl Material {
    pub fn new() -> Material {
        Material::default()
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Material made of chosen items, for a report that needs only some: the items a
    /// [`MaterialKey`] index finds for a day (see [`MaterialItem::key`]). `last_seq` is the log
    /// position the items are known at.
    pub fn from_items(items: impl IntoIterator<Item = MaterialItem>, last_seq: u64) -> Material {
        Material {
            last_seq,
            items: items
                .into_iter()
                .map(|item| (item.seq, Box::new(item)))
                .collect(),
        }
    }

    /// Folds one event in (events in sequence order; one at or below
    /// [`Material::last_seq`] is skipped).
    pub fn apply(&mut self, event: &StoredEvent) {
        self.fold(Cow::Borrowed(event));
    }

    /// Like [`Material::apply`], taking the event: an item's text moves in rather than being
    /// copied.
    pub fn apply_owned(&mut self, event: StoredEvent) {
        self.fold(Cow::Owned(event));
    }

    fn fold(&mut self, event: Cow<'_, StoredEvent>) {
        if event.seq <= self.last_seq {
            return;
        }
        self.last_seq = event.seq;
        match &event.event.data {
            EventData::EventCorrected(c) => {
                if let Some(item) = c.target.seq.and_then(|s| self.items.get_mut(&s))
                    && let Some(fixed) = item.corrected_by(c)
                {
                    **item = MaterialItem {
                        retracted: item.retracted.take(),
                        ..fixed
                    };
                }
            }
            EventData::EventRetracted(r) => {
                if let Some(item) = r.target.seq.and_then(|s| self.items.get_mut(&s)) {
                    item.retracted = Some(Box::new(Amendment {
                        seq: event.seq,
                        recorded_at: event.recorded_at.to_string(),
                        reason: r.reason.to_string(),
                    }));
                }
            }
            _ => {
                let item = match event {
                    Cow::Borrowed(event) => MaterialItem::from_event(event),
                    Cow::Owned(event) => MaterialItem::from_owned(event),
                };
                if let Some(item) = item {
                    self.items.insert(item.seq, Box::new(item));
                }
            }
        }
    }

    /// The item event `seq` added, as corrected, unless it was retracted.
    pub fn item(&self, seq: u64) -> Option<&MaterialItem> {
        self.items
            .get(&seq)
            .map(|item| &**item)
            .filter(|i| i.retracted.is_none())
    }

    /// The material as the public record stood on `day`: items whose sources were published
    /// after it are left out (items without a publication date stay: the staff's own notes).
    pub fn public_at(&self, day: NaiveDate) -> Material {
        Material {
            last_seq: self.last_seq,
            items: self
                .items
                .iter()
                .filter(|(_, item)| {
                    item.source
                        .as_ref()
                        .and_then(|s| s.public_from())
                        .is_none_or(|from| from <= day)
                })
                .map(|(seq, item)| (*seq, item.clone()))
                .collect(),
        }
    }

    fn live(&self) -> impl Iterator<Item = &MaterialItem> {
        self.items
            .values()
            .map(|item| &**item)
            .filter(|i| i.retracted.is_none())
    }

    /// Per section, the latest order of its points given for an edition of `day`'s week up to
    /// `day`.
    pub fn orders(&self, day: NaiveDate) -> BTreeMap<Section, Vec<u64>> {
        let mut latest: BTreeMap<Section, (u64, Vec<u64>)> = BTreeMap::new();
        for item in self.live() {
            if let EventData::PointsOrdered(o) = &item.data {
                let edition = o.edition.first_day();
                if edition < week_start(day) || edition > day {
                    continue;
                }
                if latest
                    .get(&o.section)
                    .is_none_or(|(seq, _)| *seq < item.seq)
                {
                    latest.insert(o.section, (item.seq, o.order.clone()));
                }
            }
        }
        latest.into_iter().map(|(s, (_, o))| (s, o)).collect()
    }

    /// The edition of `day` in the series: its running number (one more than the days
    /// published before it) and its version (one more than the times `day` was published).
    pub fn edition_number(&self, day: NaiveDate) -> (u32, u32) {
        let mut days = std::collections::BTreeSet::new();
        let mut same_day = 0u32;
        for item in self.live() {
            if let EventData::ReportPublished(r) = &item.data {
                let date = r.report_date.first_day();
                if date < day {
                    days.insert(date);
                } else if date == day {
                    same_day += 1;
                }
            }
        }
        let before = u32::try_from(days.len()).unwrap_or(u32::MAX);
        (before.saturating_add(1), same_day.saturating_add(1))
    }

    /// The latest published report dated before `day`.
    pub fn previous_report(&self, day: NaiveDate) -> Option<NaiveDate> {
        self.live()
            .filter_map(|i| match &i.data {
                EventData::ReportPublished(r) => Some(r.report_date.first_day()),
                _ => None,
            })
            .filter(|d| *d < day)
            .max()
    }
}

/// Puts the lines `order` names first, in its order; the rest follow in the order they had
/// (the order they were written in).
fn arrange(lines: &mut [NoteLine], order: &[u64]) {
    let rank = |line: &NoteLine| {
        order
            .iter()
            .position(|s| *s == line.seq)
            .unwrap_or(usize::MAX)
    };
    lines.sort_by_key(rank);
}

/// The ISO week of a day, as `2024-W52`.
pub fn iso_week(day: NaiveDate) -> String {
    let week = day.iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

/// The Monday of the ISO week of `day`.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// How many days back *Kommunikativa åtgärder, urval* reaches: the report day and the seven days
/// before it, so that a weekly report on Friday lists last Friday's items too, as the seed does.
pub const ACTIONS_WINDOW_DAYS: u64 = 7;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoteLine {
    pub seq: u64,
    pub text: String,
    pub points: Vec<String>,
    /// The last day the note stands, when it stands until a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// It stands until withdrawn.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standing: bool,
    /// The point of an earlier edition it was carried over from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<u64>,
}

/// A point carried over from the last edition that staff have not kept yet: not in the
/// report, shown to them in its section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposedLine {
    pub section: Section,
    pub line: NoteLine,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionLine {
    pub seq: u64,
    /// "27/12", as the seed prints it.
    pub date_label: String,
    pub title: String,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkLine {
    /// The event that added the link.
    #[serde(default)]
    pub seq: u64,
    pub title: String,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonLine {
    /// The event that assigned the role.
    #[serde(default)]
    pub seq: u64,
    pub person: String,
    pub title: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FigureLine {
    /// The event of the value shown.
    #[serde(default)]
    pub seq: u64,
    pub figure: String,
    pub label: String,
    pub value: f64,
    pub unit: String,
    /// When the value was measured (`measured`, or the event's `occurred`).
    pub as_of: FuzzyDate,
    /// When the figure's source was published, if it says.
    #[serde(default)]
    pub published: Option<FuzzyDate>,
    /// Days from the end of the measured period to the report day.
    #[serde(default)]
    pub age_days: i64,
    /// Older than the report's [`ReportModel::figure_max_age_days`].
    #[serde(default)]
    pub stale: bool,
    /// The value in the previous published report; `None` when no report was published before
    /// this one (then nothing is compared) or the figure was not in it.
    pub previous: Option<f64>,
    pub change: Option<f64>,
}

/// A figure measured longer ago than this, in days, is marked as old in the report unless the
/// caller sets another age ([`ReportModel::set_figure_max_age`]).
pub const FIGURE_MAX_AGE_DAYS: u64 = 92;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaveLine {
    pub wave: String,
    pub area: String,
    pub planned: Option<FuzzyDate>,
    pub actual_start: Option<FuzzyDate>,
    pub state: String,
    pub state_since: Option<FuzzyDate>,
    pub slip_months: Option<i64>,
    pub slip_plus_minus: Option<u32>,
    /// The slip is a lower bound that grows with the report day: the wave is overdue.
    #[serde(default)]
    pub slip_at_least: bool,
    /// The first day the wave was overdue (its planned period had passed without a start).
    #[serde(default)]
    pub overdue_since: Option<NaiveDate>,
    /// How it ended, by whom: "genom beslut av Regionstyrelsen", "ur Tidplan maj 2022".
    #[serde(default)]
    pub ended_by: Option<String>,
    /// The day a pause in force was formalised.
    #[serde(default)]
    pub formal_pause_since: Option<FuzzyDate>,
    /// The formal pause's notice period, as the report says it: "fyra månaders".
    #[serde(default)]
    pub pause_notice: Option<String>,
}

/// "fyra månaders": a notice period in the words of a report (numbers up to twelve in words).
pub fn notice_words(months: u32) -> String {
    const WORDS: [&str; 13] = [
        "noll", "en", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio", "tio", "elva",
        "tolv",
    ];
    let number = WORDS
        .get(months as usize)
        .map_or_else(|| months.to_string(), |w| (*w).to_owned());
    if months == 1 {
        "en månads".to_owned()
    } else {
        format!("{number} månaders")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatterLine {
    pub matter: String,
    pub category: String,
    pub summary: String,
    pub party: Option<String>,
    pub next_date: Option<FuzzyDate>,
    pub next_step: Option<String>,
    /// The next date had passed on the report day with the matter still open.
    #[serde(default)]
    pub overdue: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceLine {
    pub title: String,
    pub url: Option<String>,
    pub published: Option<FuzzyDate>,
}

/// What is new since the previous published report (or the last seven days without one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewSince {
    pub since: NaiveDate,
    pub since_previous_report: bool,
    pub lines: Vec<String>,
}

/// Everything a report template needs, in order; every list is an ordered array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportModel {
    pub title: String,
    pub report_date: NaiveDate,
    pub week: String,
    /// The edition's running number in the series: one more than the days published before.
    #[serde(default = "first")]
    pub number: u32,
    /// 1, or 2 and on when the same day was published before and this supersedes it.
    #[serde(default = "first")]
    pub version: u32,
    /// `YYYY-MM-DDTHH:MM`, local time.
    pub compiled_at: FuzzyDate,
    pub summary: Vec<NoteLine>,
    pub communications: Vec<NoteLine>,
    pub operations: Vec<NoteLine>,
    pub actions: Vec<ActionLine>,
    pub collected: Vec<LinkLine>,
    pub spokespersons: Vec<PersonLine>,
    pub about: Vec<NoteLine>,
    pub new_since: NewSince,
    pub waves: Vec<WaveLine>,
    pub open_matters: Vec<MatterLine>,
    pub figures: Vec<FigureLine>,
    pub sources: Vec<SourceLine>,
    /// Suggestions from the last edition not yet kept; never rendered in the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposed: Vec<ProposedLine>,
    /// The last log position the report was built from.
    pub log_seq: u64,
    /// The age in days beyond which a figure is marked as old.
    #[serde(default = "default_figure_max_age")]
    pub figure_max_age_days: u64,
    /// The day of the previous published report, the only edition figures are compared with.
    #[serde(default)]
    pub previous_report: Option<NaiveDate>,
    /// Notes that would stand but follow a matter that has closed: left out of the report, and
    /// listed here so that the editor is told why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lapsed_notes: Vec<LapsedNote>,
}

/// A note that stopped standing because the matter it follows closed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LapsedNote {
    pub seq: u64,
    pub section: Section,
    pub text: String,
    /// Its sub-points, so that the edition page can offer it for editing as it stood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<String>,
    pub matter: String,
    /// When the matter closed.
    pub closed: Option<FuzzyDate>,
    /// What closed it: the matter, with its finding or outcome.
    pub reason: String,
}

fn default_figure_max_age() -> u64 {
    FIGURE_MAX_AGE_DAYS
}

impl ReportModel {
    /// Marks the figures older than `days` (from the end of the measured period to the report
    /// day) as old.
    pub fn set_figure_max_age(&mut self, days: u64) {
        self.figure_max_age_days = days;
        for figure in &mut self.figures {
            figure.stale = figure.age_days > i64::try_from(days).unwrap_or(i64::MAX);
        }
    }
}

fn first() -> u32 {
    1
}

impl ReportModel {
    /// The note sections in the report's order, with their lists.
    pub fn note_sections(&self) -> [(Section, &Vec<NoteLine>); 4] {
        [
            (Section::Summary, &self.summary),
            (Section::Communications, &self.communications),
            (Section::Operations, &self.operations),
            (Section::About, &self.about),
        ]
    }
}

fn note_in_force(item: &MaterialItem, day: NaiveDate) -> Option<(Section, bool, NoteLine)> {
    let EventData::SituationNoted(note) = &item.data else {
        return None;
    };
    let begins = item.occurred.first_day();
    let in_force = begins <= day
        && if note.standing || (note.while_open.is_some() && note.until.is_none()) {
            true
        } else if let Some(until) = &note.until {
            day <= until.last_day()
        } else {
            begins >= week_start(day)
        };
    in_force.then(|| {
        (
            note.section,
            note.proposed,
            NoteLine {
                seq: item.seq,
                text: item.summary.clone(),
                points: note.points.iter().map(ToString::to_string).collect(),
                until: note.until.map(|u| u.last_day()),
                standing: note.standing,
                carried_from: note.carried_from,
            },
        )
    })
}

fn source_line(source: &Source) -> SourceLine {
    SourceLine {
        title: source.title.to_string(),
        url: source.url.as_ref().map(ToString::to_string),
        published: source.published,
    }
}

/// Builds the report for `day` from the material and the programme's views as of `day` and as of
/// the previous report (or a week before).
pub fn build_report(
    material: &Material,
    view: &View,
    earlier: &View,
    day: NaiveDate,
    compiled_at: FuzzyDate,
) -> ReportModel {
    let mut summary = Vec::new();
    let mut communications = Vec::new();
    let mut operations = Vec::new();
    let mut about = Vec::new();
    let mut proposed = Vec::new();
    let mut lapsed_notes = Vec::new();
    for item in material.live() {
        if let Some((section, is_proposed, line)) = note_in_force(item, day) {
            // A note that follows a matter stops standing when the matter has closed.
            if let EventData::SituationNoted(note) = &item.data
                && let Some(id) = &note.while_open
                && let Some(m) = view.matter(id.as_str())
                && !m.open
            {
                lapsed_notes.push(LapsedNote {
                    seq: item.seq,
                    section,
                    points: line.points.clone(),
                    text: line.text,
                    matter: id.to_string(),
                    closed: m.closed,
                    reason: match (&m.finding, &m.outcome) {
                        (Some(finding), _) => format!("{} Slutsats: {finding}", m.summary),
                        (None, Some(outcome)) => format!("{} Utfall: {outcome}", m.summary),
                        _ => m.summary.clone(),
                    },
                });
                continue;
            }
            if is_proposed {
                proposed.push(ProposedLine { section, line });
                continue;
            }
            match section {
                Section::Summary => summary.push(line),
                Section::Communications => communications.push(line),
                Section::Operations => operations.push(line),
                Section::About => about.push(line),
            }
        }
    }
    let orders = material.orders(day);
    for (section, lines) in [
        (Section::Summary, &mut summary),
        (Section::Communications, &mut communications),
        (Section::Operations, &mut operations),
        (Section::About, &mut about),
    ] {
        if let Some(order) = orders.get(&section) {
            arrange(lines, order);
        }
    }
    let (number, version) = material.edition_number(day);

    let window_start = day - Days::new(ACTIONS_WINDOW_DAYS);
    let mut actions: Vec<(NaiveDate, ActionLine)> = Vec::new();
    let mut collected = Vec::new();
    let mut roles: BTreeMap<(String, String), (FuzzyDate, u64, PersonLine)> = BTreeMap::new();
    let previous = material.previous_report(day);
    let since = previous.unwrap_or(day - Days::new(7));
    // A figure counts from its source's publication: one published after the report day could
    // not have been in the report, whatever the day it describes.
    let public_by = |item: &MaterialItem, by: NaiveDate| {
        item.source
            .as_ref()
            .and_then(|s| s.published)
            .is_none_or(|p| p.first_day() <= by)
    };
    // Each figure's latest value as of the day and as of `since`, in the order the figures first
    // appear, found in one pass over the material.
    let mut figure_ids: Vec<&str> = Vec::new();
    let mut latest: HashMap<&str, (&MaterialItem, Option<&MaterialItem>)> = HashMap::new();
    let later = |item: &MaterialItem, than: &MaterialItem| {
        item.occurred
            .cmp(&than.occurred)
            .then(item.seq.cmp(&than.seq))
            .is_gt()
    };
    for item in material.live() {
        let begins = item.occurred.first_day();
        if begins > day {
            continue;
        }
        match &item.data {
            EventData::CommunicationPublished(c) if c.listing == Listing::Collected => collected
                .push(LinkLine {
                    seq: item.seq,
                    title: c.title.to_string(),
                    url: c.url.as_ref().map(ToString::to_string),
                }),
            EventData::CommunicationPublished(c) if begins >= window_start => actions.push((
                begins,
                ActionLine {
                    seq: item.seq,
                    date_label: format!("{}/{}", begins.day(), begins.month()),
                    title: c.title.to_string(),
                    url: c.url.as_ref().map(ToString::to_string),
                },
            )),
            EventData::ReportPublished(r)
                if begins >= window_start && r.report_date.first_day() < day =>
            {
                let date = r.report_date.first_day();
                actions.push((
                    begins,
                    ActionLine {
                        seq: item.seq,
                        date_label: format!("{}/{}", begins.day(), begins.month()),
                        title: format!(
                            "Regional rapport {} (vecka {})",
                            date.format("%Y-%m-%d"),
                            date.iso_week().week()
                        ),
                        url: None,
                    },
                ));
            }
            EventData::RoleAssigned(r) => {
                let slot = (r.role.to_string(), r.person.to_string());
                let line = PersonLine {
                    seq: item.seq,
                    person: r.person.to_string(),
                    title: r.title.as_ref().map(ToString::to_string),
                };
                let newer = roles
                    .get(&slot)
                    .is_none_or(|(o, s, _)| (item.occurred, item.seq) >= (*o, *s));
                if newer {
                    roles.insert(slot, (item.occurred, item.seq, line));
                }
            }
            EventData::FigureReported(_) if !public_by(item, day) => {}
            EventData::FigureReported(f) => {
                // Compared only with an edition that was published, as it could have read it.
                let by_since = (previous.is_some() && begins <= since && public_by(item, since))
                    .then_some(item);
                match latest.entry(f.figure.as_str()) {
                    Entry::Vacant(slot) => {
                        figure_ids.push(f.figure.as_str());
                        slot.insert((item, by_since));
                    }
                    Entry::Occupied(mut slot) => {
                        let (at_day, at_since) = slot.get_mut();
                        if later(item, at_day) {
                            *at_day = item;
                        }
                        if let Some(candidate) = by_since
                            && at_since.is_none_or(|best| later(candidate, best))
                        {
                            *at_since = Some(candidate);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Newest first, as the seed lists them; within a day in the order they were written.
    actions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.seq.cmp(&b.1.seq)));
    let mut spokespersons: Vec<(FuzzyDate, u64, PersonLine)> = roles
        .into_iter()
        .filter(|((role, _), _)| role == "talesperson")
        .map(|(_, v)| v)
        .collect();
    spokespersons.sort_by_key(|(_, seq, _)| *seq);

    let value_of = |item: &MaterialItem| match &item.data {
        EventData::FigureReported(f) => Some((
            f.value.as_f64(),
            f.unit.to_string(),
            f.label.as_ref().map(ToString::to_string),
            f.measured.unwrap_or(item.occurred),
        )),
        _ => None,
    };
    let figures = figure_ids
        .iter()
        .filter_map(|id| {
            let (item, at_since) = latest.get(id)?;
            let (value, unit, label, measured) = value_of(item)?;
            let before = at_since.and_then(value_of).map(|(v, _, _, _)| v);
            let age_days = (day - measured.last_day()).num_days();
            Some(FigureLine {
                seq: item.seq,
                figure: (*id).to_owned(),
                label: label.unwrap_or_else(|| (*id).to_owned()),
                value,
                unit,
                as_of: measured,
                published: item.source.as_ref().and_then(|s| s.published),
                age_days,
                stale: age_days > i64::try_from(FIGURE_MAX_AGE_DAYS).unwrap_or(i64::MAX),
                previous: before,
                change: before.map(|b| value - b),
            })
        })
        .collect();

    let diff = crate::diff::diff(earlier, view);
    let mut new_lines = Vec::new();
    for plan in &diff.new_plans {
        let mut line = format!("Ny tidplan: {}", plan.summary);
        // Where the sources disagree on the plan, the report says so where it shows it.
        for d in plan.source.iter().flat_map(|s| &s.disputed) {
            line.push_str(&format!(
                " (Källorna är oense: {} anger: {})",
                d.title, d.says
            ));
        }
        new_lines.push(line);
    }
    if let Some(end) = &diff.programme_ended {
        new_lines.push(match &end.by {
            Some(by) => format!("Programmet avslutas genom beslut av {by}: {}", end.summary),
            None => format!("Programmet avslutas: {}", end.summary),
        });
    }
    for change in &diff.wave_changes {
        let mut line = format!(
            "Etapp {} ({}): {}",
            change.wave, change.area, change.after.state
        );
        if let Some(by) = &change.after.ended_by
            && change.before.as_ref().and_then(|b| b.ended_by.as_ref()) != Some(by)
        {
            line.push(' ');
            line.push_str(by);
        }
        if change.after.formal_pause_since.is_some()
            && change
                .before
                .as_ref()
                .and_then(|b| b.formal_pause_since.as_ref())
                .is_none()
        {
            line.push_str(", nu formell paus");
        }
        new_lines.push(line);
    }
    for r in &diff.new_recommendations {
        new_lines.push(format!(
            "Rekommendation från {} (inget beslut): {}",
            r.by, r.summary
        ));
    }
    for m in &diff.opened_matters {
        new_lines.push(format!(
            "Nytt ärende ({}): {}",
            m.category.swedish(),
            m.summary
        ));
    }
    for m in &diff.closed_matters {
        let mut line = format!("Avslutat ärende ({}): {}", m.category.swedish(), m.summary);
        // A review's finding, or the outcome of a case or settlement, where the closing is shown.
        match (&m.finding, &m.outcome) {
            (Some(finding), _) => line.push_str(&format!(" Slutsats: {finding}")),
            (None, Some(outcome)) if *outcome != m.summary => {
                line.push_str(&format!(" Utfall: {outcome}"));
            }
            _ => {}
        }
        new_lines.push(line);
    }

    let waves = view
        .waves
        .iter()
        .filter(|w| w.current.is_some() || w.actual_start.is_some())
        .map(|w| WaveLine {
            wave: w.wave.clone(),
            area: w.area.clone(),
            planned: w.current.as_ref().map(|c| c.planned),
            actual_start: w.actual_start,
            state: w.state.swedish().to_owned(),
            state_since: w.state_since,
            slip_months: w.slip_vs_baseline.map(|s| s.months),
            slip_plus_minus: w.slip_vs_baseline.map(|s| s.plus_minus),
            slip_at_least: w.slip_vs_baseline.is_some_and(|s| s.at_least),
            overdue_since: w.overdue_since,
            ended_by: w.ended.as_ref().and_then(crate::view::WaveEnd::swedish),
            formal_pause_since: w
                .pause
                .as_ref()
                .and_then(|p| p.formal.as_ref())
                .map(|f| f.since),
            pause_notice: w
                .pause
                .as_ref()
                .and_then(|p| p.formal.as_ref())
                .and_then(|f| f.notice_months)
                .map(notice_words),
        })
        .collect();
    let open: Vec<&crate::view::Matter> = view.open_matters().collect();
    let open_matters = open
        .iter()
        .map(|m| MatterLine {
            matter: m.matter.clone(),
            category: m.category.swedish().to_owned(),
            summary: m.summary.clone(),
            party: m.party.clone(),
            next_date: m.next_date,
            next_step: m.next_step.clone(),
            overdue: m.overdue_since.is_some(),
        })
        .collect();
    let mut sources: Vec<SourceLine> = Vec::new();
    let mut push_source = |s: Option<&Source>| {
        if let Some(s) = s {
            let line = source_line(s);
            if !sources.contains(&line) {
                sources.push(line);
            }
        }
    };
    for m in &open {
        for h in &m.history {
            push_source(h.source.as_ref());
        }
    }
    for w in &view.waves {
        for h in &w.history {
            if let Some(e) = view.timeline.iter().find(|e| e.seq == h.seq) {
                push_source(e.source.as_ref());
            }
        }
    }
    for plan in view.plans.iter().rev().take(1) {
        push_source(plan.source.as_ref());
    }
    // The plan each wave in the table stands on: a partial revision (the private providers'
    // move) is a source of the table as much as the latest plan is.
    for w in view.waves.iter().filter(|w| w.actual_start.is_none()) {
        if let Some(current) = &w.current
            && let Some(plan) = view.plans.iter().find(|p| p.seq == current.plan_seq)
        {
            push_source(plan.source.as_ref());
        }
    }

    ReportModel {
        title: "Regional rapport Samordning vårdinformationssystem".to_owned(),
        report_date: day,
        week: iso_week(day),
        number,
        version,
        compiled_at,
        summary,
        communications,
        operations,
        actions: actions.into_iter().map(|(_, a)| a).collect(),
        collected,
        spokespersons: spokespersons.into_iter().map(|(_, _, p)| p).collect(),
        about,
        new_since: NewSince {
            since,
            since_previous_report: previous.is_some(),
            lines: new_lines,
        },
        waves,
        open_matters,
        figures,
        sources,
        proposed,
        log_seq: view.log_seq.max(material.last_seq()),
        figure_max_age_days: FIGURE_MAX_AGE_DAYS,
        previous_report: previous,
        lapsed_notes,
    }
}
