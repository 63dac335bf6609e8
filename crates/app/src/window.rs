//! The timeline a page at a time: the facts around a day, as of a day and as known at a log
//! position, read so that a page's cost follows the page and not the log.
//!
//! The timeline is the programme's entries (from its checkpoints, a few hundred) and the
//! timeline-only facts (`fact_reported`, most of a busy log), merged by [`TimelineKey`]. A page
//! takes the programme from memory and reads only the facts it shows from the store: by day
//! through the valid-time index, whole days at a time (a day's facts are ordered by their full
//! date only once all of them are read), then those facts with their corrections and
//! retractions up to the position (an index by target). Two kinds of fact are read whole and
//! placed by their own key, as there are few: those a correction moved to another date, and
//! those dated only to a period, which the timeline places at the period's middle
//! ([`TimelineKey`]'s order) rather than on their first day. Each fact is folded exactly as [`Projection::apply_fact`] folds it, so the pages of a
//! timeline, one after another, are the whole timeline of [`Projection::view_public`] (property
//! test in `crates/app/tests/timeline_window.rs`).
//!
//! What a page costs beyond its own facts: the facts it skips (a public-record day that hides
//! many), and the facts recorded after the known-at position whose stored date falls within the
//! page's days (historical facts imported late); the read of facts stops at the latest day any
//! event up to the position begins ([`Projection::latest_day`], kept in the checkpoints).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use lagesbild_model::StoredEvent;
use lagesbild_store::{DayScan, Store, StoreError};
use lagesbild_timeline::{
    Entry, Projection, TIMELINE_ONLY_KINDS, TimelineEntry, TimelineKey, View, is_timeline_only,
};

/// The facts on a page unless asked otherwise.
pub const DEFAULT_PAGE: usize = 100;

/// The most facts one page shows.
pub const MAX_PAGE: usize = 1_000;

/// Which part of the timeline a page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last facts (as of the as-of day, if one is asked).
    Latest,
    /// The facts around a day: about half before it, the rest on it and after.
    Around(NaiveDate),
    /// The facts after a place (the next page).
    After(TimelineKey),
    /// The facts before a place (the previous page).
    Before(TimelineKey),
}

/// What a page of the timeline shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageQuery {
    pub as_of: Option<NaiveDate>,
    pub public_at: Option<NaiveDate>,
    pub window: Window,
    /// At most this many facts (1 to [`MAX_PAGE`]).
    pub limit: usize,
}

/// A page of the timeline, with where the pages before and after it begin.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelinePage {
    pub entries: Vec<TimelineEntry>,
    /// The first entry's place, when facts come before it: `Window::Before` of it is the
    /// previous page.
    pub previous: Option<TimelineKey>,
    /// The last entry's place, when facts come after it: `Window::After` of it is the next page.
    pub next: Option<TimelineKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// Where a read in one direction starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// From either end of the timeline.
    Open,
    /// Past this place, not including it.
    Past(TimelineKey),
    /// Forward: from the first fact the timeline places on the day; backward: from the last one
    /// it places before it.
    Day(NaiveDate),
}

impl Start {
    /// Whether `key` lies beyond the start in `direction`.
    fn admits(self, key: &TimelineKey, direction: Direction) -> bool {
        match (self, direction) {
            (Start::Open, _) => true,
            (Start::Past(past), Direction::Forward) => *key > past,
            (Start::Past(past), Direction::Backward) => *key < past,
            (Start::Day(day), Direction::Forward) => key.day() >= day,
            (Start::Day(day), Direction::Backward) => key.day() < day,
        }
    }

    /// The first day a read by day begins with in `direction`.
    fn day(self, direction: Direction) -> Option<NaiveDate> {
        match (self, direction) {
            (Start::Open, _) => None,
            (Start::Past(key), _) => Some(key.day()),
            (Start::Day(day), Direction::Forward) => Some(day),
            // Before the day: from the day before (the first day of the calendar has none).
            (Start::Day(day), Direction::Backward) => {
                Some(day.checked_sub_days(Days::new(1)).unwrap_or(NaiveDate::MIN))
            }
        }
    }
}

/// One page of the timeline of `programme` (the programme replayed to the log position the page
/// is known at, [`crate::replay::programme`]) with the timeline-only facts up to that position
/// read from `store`.
pub fn timeline_page(
    store: &dyn Store,
    programme: &Projection,
    query: &PageQuery,
) -> Result<TimelinePage, StoreError> {
    let reader = Reader::new(store, programme, query)?;
    let limit = query.limit.clamp(1, MAX_PAGE);
    Ok(match query.window {
        Window::Latest => reader.page_backward(Start::Open, limit)?,
        Window::Before(key) => reader.page_backward(Start::Past(key), limit)?,
        Window::After(key) => reader.page_forward(Start::Past(key), limit)?,
        Window::Around(day) => {
            let (before, more_before) = reader.read(Direction::Backward, Start::Day(day), limit)?;
            let (after, more_after) = reader.read(Direction::Forward, Start::Day(day), limit)?;
            // Half before the day, unless the facts after it are too few to fill the page.
            let wanted_before = (limit / 2).max(limit.saturating_sub(after.len()));
            let take_before = before.len().min(wanted_before);
            let take_after = after.len().min(limit - take_before);
            let has_previous = more_before || take_before < before.len();
            let has_next = more_after || take_after < after.len();
            let mut entries: Vec<TimelineEntry> = before
                .into_iter()
                .take(take_before)
                .rev()
                .map(|(_, e)| e)
                .collect();
            entries.extend(after.into_iter().take(take_after).map(|(_, e)| e));
            TimelinePage {
                previous: has_previous
                    .then(|| entries.first().map(entry_key))
                    .flatten(),
                next: has_next.then(|| entries.last().map(entry_key)).flatten(),
                entries,
            }
        }
    })
}

fn entry_key(entry: &TimelineEntry) -> TimelineKey {
    TimelineKey {
        occurred: entry.occurred,
        seq: entry.seq,
    }
}

/// What a page reads from: the programme's entries in memory and the facts in the store.
struct Reader<'a> {
    store: &'a dyn Store,
    programme: &'a Projection,
    as_of: Option<NaiveDate>,
    public_at: Option<NaiveDate>,
    max_seq: u64,
    /// No stored fact up to `max_seq` that is on the timeline as of `as_of` begins later.
    last_day: Option<NaiveDate>,
    /// The facts read whole, as now known, by seq: those a correction gave another date and
    /// those dated to a period (the timeline places them at its middle, not on the first day
    /// the read by day finds them at). Placed by their own key; the read by day skips them.
    whole: BTreeMap<u64, Entry>,
}

impl<'a> Reader<'a> {
    fn new(
        store: &'a dyn Store,
        programme: &'a Projection,
        query: &PageQuery,
    ) -> Result<Reader<'a>, StoreError> {
        let max_seq = programme.last_seq();
        let last_day = match (programme.latest_day(), query.as_of) {
            (Some(latest), Some(as_of)) => Some(latest.min(as_of)),
            (latest, _) => latest,
        };
        // The corrections that redate something; of their targets, the timeline-only facts.
        let redatings = store.redatings(max_seq)?;
        let targets: BTreeSet<u64> = redatings
            .iter()
            .filter_map(|e| e.event.data.target().and_then(|t| t.seq))
            .collect();
        let targets: Vec<u64> = targets.into_iter().collect();
        let mut facts: Vec<StoredEvent> = store
            .events_at(&targets)?
            .into_iter()
            .filter(|e| is_timeline_only(e.event.data.kind()))
            .collect();
        facts.extend(store.period_facts(max_seq)?);
        facts.sort_by_key(|e| e.seq);
        facts.dedup_by_key(|e| e.seq);
        let whole = fold_facts(store, max_seq, facts)?;
        Ok(Reader {
            store,
            programme,
            as_of: query.as_of,
            public_at: query.public_at,
            max_seq,
            last_day,
            whole,
        })
    }

    fn page_forward(&self, start: Start, limit: usize) -> Result<TimelinePage, StoreError> {
        let (after, more) = self.read(Direction::Forward, start, limit)?;
        let entries: Vec<TimelineEntry> = after.into_iter().map(|(_, e)| e).collect();
        let previous = match entries.first() {
            Some(first) => {
                let key = entry_key(first);
                let (before, _) = self.read(Direction::Backward, Start::Past(key), 1)?;
                (!before.is_empty()).then_some(key)
            }
            None => None,
        };
        let next = more.then(|| entries.last().map(entry_key)).flatten();
        Ok(TimelinePage {
            entries,
            previous,
            next,
        })
    }

    fn page_backward(&self, start: Start, limit: usize) -> Result<TimelinePage, StoreError> {
        let (before, more) = self.read(Direction::Backward, start, limit)?;
        let entries: Vec<TimelineEntry> = before.into_iter().rev().map(|(_, e)| e).collect();
        let next = match entries.last() {
            Some(last) => {
                let key = entry_key(last);
                let (after, _) = self.read(Direction::Forward, Start::Past(key), 1)?;
                (!after.is_empty()).then_some(key)
            }
            None => None,
        };
        let previous = more.then(|| entries.first().map(entry_key)).flatten();
        Ok(TimelinePage {
            entries,
            previous,
            next,
        })
    }

    /// Up to `need` entries beyond `start` in `direction`, nearest first, and whether more lie
    /// beyond them.
    fn read(
        &self,
        direction: Direction,
        start: Start,
        need: usize,
    ) -> Result<(Vec<(TimelineKey, TimelineEntry)>, bool), StoreError> {
        let mut found: Vec<(TimelineKey, &Entry)> = self
            .programme
            .entries()
            .chain(self.whole.values())
            .filter(|e| e.on_timeline(self.as_of, self.public_at))
            .map(|e| (e.timeline_key(), e))
            .filter(|(key, _)| start.admits(key, direction))
            .collect();
        let facts = self.facts(direction, start, need + 1)?;
        found.extend(facts.iter().map(|e| (e.timeline_key(), e)));
        found.sort_by_key(|(key, _)| *key);
        if direction == Direction::Backward {
            found.reverse();
        }
        let more = found.len() > need;
        Ok((
            found
                .into_iter()
                .take(need)
                .map(|(key, e)| (key, e.timeline_entry(self.as_of)))
                .collect(),
            more,
        ))
    }

    /// At least `need` timeline-only facts beyond `start` in `direction` (all of them if fewer),
    /// folded as of the position and on the timeline, nearest first: read whole days at a time
    /// through the valid-time index, and of each day only as many facts as the page still
    /// needs, nearest first.
    fn facts(
        &self,
        direction: Direction,
        start: Start,
        need: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut found = Vec::new();
        let Some(last_day) = self.last_day else {
            return Ok(found);
        };
        let mut from = start.day(direction);
        loop {
            let (first_from, first_to) = match direction {
                Direction::Forward => (from, Some(last_day)),
                Direction::Backward => (None, Some(from.map_or(last_day, |d| d.min(last_day)))),
            };
            if let (Some(a), Some(b)) = (first_from, first_to)
                && a > b
            {
                break;
            }
            let chunk = need.saturating_sub(found.len()).max(1) + 1;
            let scan = DayScan {
                kinds: &TIMELINE_ONLY_KINDS,
                max_seq: self.max_seq,
                first_from,
                first_to,
                descending: direction == Direction::Backward,
                limit: chunk,
            };
            let mut rows = self.store.scan_by_day(&scan)?;
            let exhausted = rows.len() < chunk;
            // The last day read may have more facts: read all of it, so that its facts are in
            // their full order before any is taken.
            let edge = rows.last().map(|(_, occurred)| occurred.first_day());
            if !exhausted && let Some(edge) = edge {
                rows.retain(|(_, occurred)| occurred.first_day() != edge);
                rows.extend(self.store.scan_by_day(&DayScan {
                    first_from: Some(edge),
                    first_to: Some(edge),
                    limit: usize::MAX,
                    ..scan
                })?);
            }
            let mut candidates: Vec<TimelineKey> = rows
                .into_iter()
                .filter(|(seq, _)| !self.whole.contains_key(seq))
                .map(|(seq, occurred)| TimelineKey { occurred, seq })
                .filter(|key| start.admits(key, direction))
                .collect();
            candidates.sort();
            if direction == Direction::Backward {
                candidates.reverse();
            }
            // Folded in batches of what is still needed: facts a correction or the public
            // record leaves out make the next batch.
            let mut rest = candidates.as_slice();
            while !rest.is_empty() && found.len() < need {
                let take = (need - found.len()).min(rest.len());
                let (batch, tail) = rest.split_at(take);
                rest = tail;
                let seqs: Vec<u64> = batch.iter().map(|k| k.seq).collect();
                let events = self.store.events_at(&seqs)?;
                let folded = fold_facts(self.store, self.max_seq, events)?;
                found.extend(
                    batch
                        .iter()
                        .filter_map(|key| folded.get(&key.seq))
                        .filter(|e| e.on_timeline(self.as_of, self.public_at))
                        .cloned(),
                );
            }
            if found.len() >= need || exhausted {
                break;
            }
            // On to the days beyond the edge.
            let Some(edge) = edge else { break };
            from = match direction {
                Direction::Forward => edge.checked_add_days(Days::new(1)),
                Direction::Backward => edge.checked_sub_days(Days::new(1)),
            };
            if from.is_none() {
                break;
            }
        }
        Ok(found)
    }
}

/// Timeline-only facts folded with their corrections and retractions up to `max_seq`, by seq.
fn fold_facts(
    store: &dyn Store,
    max_seq: u64,
    facts: Vec<StoredEvent>,
) -> Result<BTreeMap<u64, Entry>, StoreError> {
    if facts.is_empty() {
        return Ok(BTreeMap::new());
    }
    let seqs: Vec<u64> = facts.iter().map(|e| e.seq).collect();
    let mut events = facts;
    events.extend(store.amendments_of(&seqs, max_seq)?);
    events.sort_by_key(|e| e.seq);
    let mut projection = Projection::facts_at(max_seq);
    for event in events {
        projection.apply_fact_owned(event);
    }
    Ok(projection.into_entries())
}

/// A timeline page as the front ends show it: the programme's view as of the page's days, with
/// the page as its timeline, and where the pages before and after begin.
#[derive(Clone, Debug, PartialEq)]
pub struct PageView {
    pub view: View,
    pub previous: Option<TimelineKey>,
    pub next: Option<TimelineKey>,
}

/// The page `query` asks for of the timeline of `programme` (the programme replayed to the
/// position the page is known at: [`crate::replay::programme_noted`] or a
/// [`crate::replay::ProgrammeCache`]): what the web page and `/api/timeline` serve.
pub fn page_view(
    store: &dyn Store,
    programme: &Projection,
    query: &PageQuery,
) -> Result<PageView, StoreError> {
    let page = timeline_page(store, programme, query)?;
    let mut view = programme.view_public(query.as_of, query.public_at);
    view.timeline = page.entries;
    Ok(PageView {
        view,
        previous: page.previous,
        next: page.next,
    })
}
