//! The projection state: every programme fact in the log with its corrections and retractions
//! applied, folded in log order. Cannot fail; serializable so that the store can keep
//! checkpoints of it.
//!
//! The state has two parts. The *programme* (plans, waves, matters, decisions, budgets: every
//! kind a view derives state from) grows with the programme and is what checkpoints hold. The
//! *timeline-only facts* ([`is_timeline_only`]: `fact_reported`, which includes operational
//! streams such as support tickets) only ever appear as lines on the timeline; they grow with
//! the log, so checkpoints leave them out and a caller that needs the timeline folds them in
//! from the log after the programme ([`Projection::apply_fact`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use lagesbild_model::kinds::EventCorrected;
use lagesbild_model::{EventData, FuzzyDate, NewEvent, RecordedAt, Source, StoredEvent, Text};
use serde::{Deserialize, Serialize};

/// Bumped whenever [`Projection`]'s serialized form changes, so that stale checkpoints are
/// ignored rather than misread.
pub const PROJECTION_FORMAT: u32 = 3;

/// The kinds the weekly report reads (notes, publications, figures, roles, published reports).
/// They are not part of the programme's history and the projection leaves them out, so that its
/// state grows with the programme, not with the weekly material.
pub fn is_report_material(kind: &str) -> bool {
    REPORT_MATERIAL_KINDS.contains(&kind)
}

/// The kinds [`is_report_material`] names; the report reads these and the corrections of them.
/// The edition's own workflow (the order of its points, its review) belongs here too: the
/// programme knows nothing of it.
pub const REPORT_MATERIAL_KINDS: [&str; 7] = [
    "situation_noted",
    "communication_published",
    "figure_reported",
    "role_assigned",
    "report_published",
    "points_ordered",
    "edition_reviewed",
];

/// The kinds that only ever appear as lines on the timeline: no view derives any other state from
/// them, so the programme's state (and its checkpoints) can leave them out. Operational streams
/// (support tickets, deviation reports) are made of these.
pub fn is_timeline_only(kind: &str) -> bool {
    TIMELINE_ONLY_KINDS.contains(&kind)
}

/// The kinds [`is_timeline_only`] names.
pub const TIMELINE_ONLY_KINDS: [&str; 1] = ["fact_reported"];

/// The corrected occurred, summary, source and data of an event a fold keeps, by the model's
/// own rules ([`EventCorrected::apply_to`]). `None` if the correction does not apply, which the
/// store's checks on append rule out.
pub(crate) fn corrected(
    correction: &EventCorrected,
    occurred: FuzzyDate,
    summary: &str,
    source: &Option<Box<Source>>,
    data: &EventData,
) -> Option<NewEvent> {
    let target = NewEvent {
        key: None,
        stream: lagesbild_model::text::default_stream(),
        occurred,
        summary: Text::new(summary).ok()?,
        source: source.clone(),
        by: None,
        data: data.clone(),
    };
    correction.apply_to(&target).ok()
}

/// A correction or retraction as the projection remembers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Amendment {
    pub seq: u64,
    pub recorded_at: String,
    pub reason: String,
}

/// One programme fact as currently known: the event with every correction applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub key: Option<String>,
    pub stream: String,
    /// Kept as a time, not as its text, which cost a replay an allocation and a formatting for
    /// every fact it kept. It serializes as that same text.
    pub recorded_at: RecordedAt,
    pub occurred: FuzzyDate,
    pub summary: String,
    pub source: Option<Box<Source>>,
    pub data: EventData,
    pub corrections: Vec<Amendment>,
    /// Boxed: a retraction is rare, and inline it made every fact kept in memory 48 bytes
    /// larger.
    pub retracted: Option<Box<Amendment>>,
}

impl Entry {
    /// The entry an event adds, uncorrected: an owned event's text moves in; a borrowed one (a
    /// programme event, of which there are few) is copied first.
    fn from_event(event: Cow<'_, StoredEvent>) -> Entry {
        let recorded_at = event.recorded_at;
        let StoredEvent { seq, event: e, .. } = event.into_owned();
        Entry {
            seq,
            key: e.key.map(|key| key.into_string()),
            stream: e.stream.into_string(),
            recorded_at,
            occurred: e.occurred,
            summary: e.summary.into_string(),
            source: e.source,
            data: e.data,
            corrections: Vec::new(),
            retracted: None,
        }
    }
}

/// The folded state. `entries` is keyed by sequence number, so a correction finds its target in
/// O(log n) and replay order never matters for the views, which sort by valid time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    last_seq: u64,
    /// The latest first day of any event folded in, as stored (timeline-only facts and report
    /// material included, corrections not applied): no stored fact up to `last_seq` begins
    /// later, which bounds a timeline page's read of the facts by day (format 3).
    latest_day: Option<chrono::NaiveDate>,
    /// Boxed: an entry is 280 bytes, and a B-tree filled in key order leaves its nodes about
    /// half full, so inline entries kept twice their size in memory and every node split moved
    /// them (a full replay at 1M; BENCHMARKS.md).
    entries: BTreeMap<u64, Box<Entry>>,
}

/// The day a fact became public: its sources' [`Source::public_from`], or without a
/// publication date the day it was recorded (UTC).
pub fn public_from(source: Option<&Source>, recorded_at: RecordedAt) -> chrono::NaiveDate {
    source
        .and_then(Source::public_from)
        .unwrap_or_else(|| recorded_at.0.date_naive())
}

impl Entry {
    /// The day the fact became public ([`public_from`]).
    pub fn public_from(&self) -> chrono::NaiveDate {
        public_from(self.source.as_deref(), self.recorded_at)
    }
}

impl Projection {
    pub fn new() -> Projection {
        Projection::default()
    }

    /// The last sequence number folded in.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The latest day on which any event folded in begins, as it was stored (before any
    /// correction): no timeline-only fact up to [`Projection::last_seq`] is stored with a later
    /// first day. `None` before the first event.
    pub fn latest_day(&self) -> Option<chrono::NaiveDate> {
        self.latest_day
    }

    /// An empty projection positioned at `last_seq`, to which [`Projection::apply_fact`] adds
    /// chosen timeline-only facts and their corrections and retractions: the facts of one page
    /// of the timeline, each as a full fold up to `last_seq` knows it.
    pub fn facts_at(last_seq: u64) -> Projection {
        Projection {
            last_seq,
            ..Projection::default()
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().map(|entry| &**entry)
    }

    /// The entries by sequence number, moved out.
    pub fn into_entries(self) -> BTreeMap<u64, Entry> {
        self.entries
            .into_iter()
            .map(|(seq, entry)| (seq, *entry))
            .collect()
    }

    pub fn entry(&self, seq: u64) -> Option<&Entry> {
        self.entries.get(&seq).map(|entry| &**entry)
    }

    /// Folds one event in. Events must come in sequence order; an event at or below
    /// [`Projection::last_seq`] was folded already and is skipped, which makes replay from a
    /// checkpoint idempotent.
    pub fn apply(&mut self, event: &StoredEvent) {
        self.fold(Cow::Borrowed(event), true);
    }

    /// Like [`Projection::apply`], taking the event: the text of a fact it keeps moves into
    /// the entry rather than being copied (a replay that reads the log and then drops what it
    /// read).
    pub fn apply_owned(&mut self, event: StoredEvent) {
        self.fold(Cow::Owned(event), true);
    }

    /// Folds one event into the programme only: like [`Projection::apply`], but timeline-only
    /// facts ([`is_timeline_only`]) and the corrections and retractions of them are left out.
    /// This is the state checkpoints hold; [`Projection::apply_fact`] adds the facts afterwards.
    pub fn apply_programme(&mut self, event: &StoredEvent) {
        self.fold(Cow::Borrowed(event), false);
    }

    /// Adds a timeline-only fact, or a correction or retraction of one, to a projection that
    /// was folded with [`Projection::apply_programme`] up to at least `event.seq`. Feed each such
    /// event once, in sequence order; anything else is ignored (the programme has it already).
    /// The result equals folding every event with [`Projection::apply`].
    pub fn apply_fact(&mut self, event: &StoredEvent) {
        self.add_fact(Cow::Borrowed(event));
    }

    /// Like [`Projection::apply_fact`], taking the event: the fact's text moves into the entry.
    pub fn apply_fact_owned(&mut self, event: StoredEvent) {
        self.add_fact(Cow::Owned(event));
    }

    fn add_fact(&mut self, event: Cow<'_, StoredEvent>) {
        if event.seq > self.last_seq {
            return;
        }
        let fact_target = |entries: &BTreeMap<u64, Box<Entry>>, seq: Option<u64>| {
            seq.and_then(|seq| entries.get(&seq))
                .is_some_and(|entry| is_timeline_only(entry.data.kind()))
        };
        let relevant = match &event.event.data {
            EventData::EventCorrected(c) => fact_target(&self.entries, c.target.seq),
            EventData::EventRetracted(r) => fact_target(&self.entries, r.target.seq),
            data => is_timeline_only(data.kind()),
        };
        if relevant {
            self.fold_one(event, true);
        }
    }

    fn fold(&mut self, event: Cow<'_, StoredEvent>, with_facts: bool) {
        if event.seq <= self.last_seq {
            return;
        }
        self.last_seq = event.seq;
        let first = event.event.occurred.first_day();
        if self.latest_day.is_none_or(|day| first > day) {
            self.latest_day = Some(first);
        }
        self.fold_one(event, with_facts);
    }

    fn fold_one(&mut self, event: Cow<'_, StoredEvent>, with_facts: bool) {
        // Printed only for what is kept: report material, half of a busy log, is skipped.
        let recorded_at = || event.recorded_at.to_string();
        let keep = match &event.event.data {
            EventData::EventCorrected(correction) => {
                let Some(target) = correction
                    .target
                    .seq
                    .and_then(|seq| self.entries.get_mut(&seq))
                else {
                    // The target is report material or unknown: nothing here to correct.
                    return;
                };
                if let Some(fixed) = corrected(
                    correction,
                    target.occurred,
                    &target.summary,
                    &target.source,
                    &target.data,
                ) {
                    target.occurred = fixed.occurred;
                    target.summary = fixed.summary.to_string();
                    target.source = fixed.source;
                    target.data = fixed.data;
                }
                target.corrections.push(Amendment {
                    seq: event.seq,
                    recorded_at: recorded_at(),
                    reason: correction.reason.to_string(),
                });
                false
            }
            EventData::EventRetracted(retraction) => {
                if let Some(target) = retraction
                    .target
                    .seq
                    .and_then(|seq| self.entries.get_mut(&seq))
                {
                    target.retracted = Some(Box::new(Amendment {
                        seq: event.seq,
                        recorded_at: recorded_at(),
                        reason: retraction.reason.to_string(),
                    }));
                }
                false
            }
            data if is_report_material(data.kind()) => false,
            data if !with_facts && is_timeline_only(data.kind()) => false,
            _ => true,
        };
        if keep {
            let entry = Entry::from_event(event);
            self.entries.insert(entry.seq, Box::new(entry));
        }
    }

    /// Serializes the state for a checkpoint.
    pub fn to_checkpoint(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the projection always serializes")
    }

    /// Reads a checkpoint written by [`Projection::to_checkpoint`] of the same
    /// [`PROJECTION_FORMAT`]; `None` if it cannot be read (it is then rebuilt from the log).
    pub fn from_checkpoint(bytes: &[u8]) -> Option<Projection> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod size_tests {
    /// A full replay keeps every fact as an [`Entry`](super::Entry) and every item of report
    /// material as a [`MaterialItem`](crate::report::MaterialItem), and moves each from the
    /// event it was read as: their size is memory and copying per event of a million-event log
    /// (BENCHMARKS.md). A field that makes them grow should be boxed if it is rare, as a
    /// retraction is.
    #[test]
    fn kept_facts_and_items_stay_small() {
        let entry = std::mem::size_of::<super::Entry>();
        assert!(entry <= 280, "a timeline entry is {entry} bytes");
        let item = std::mem::size_of::<crate::report::MaterialItem>();
        assert!(item <= 216, "a material item is {item} bytes");
    }
}
