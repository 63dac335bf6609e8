//! The weekly report's material for one day, looked up in the material index (a cache beside
//! the log, `crates/store/schema/003_material.sql`) instead of folded from every note, link and
//! figure in the log. The index is brought up to the head first, which folds only the material
//! added since the last time; the lookups then read what [`build_report`] reads for the day:
//! their cost follows the report, not the log.
//!
//! The lookups must find every item [`build_report`] would use from a full fold; a property
//! test below compares the two on generated logs at every position and many days.
//!
//! The index is a cache anyone with write access to the file can edit, so nothing read from it
//! is used unchecked: [`catch_up`] checks the index's state against the chain (the chain hash at
//! its position, one seek), and [`for_day`] checks every row it reads against the log: the row
//! must be exactly what the fold makes of its source event (one seek) and, for a corrected
//! version, of the corrections in its history. An edited or inserted row is refused on read
//! ([`StoreError::CacheDamaged`]) and the report folds the material instead; a deleted row (an
//! item missing), or a version whose end was erased, is what `verify` finds
//! ([`verify_index`], and the state's digest in `verify --quick`).
//!
//! [`build_report`]: lagesbild_timeline::build_report

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use lagesbild_model::{EventData, StoredEvent};
use lagesbild_store::{
    EventRef, Filter, MaterialDigest, MaterialOrder, MaterialQuery, MaterialRow, MaterialWriter,
    Store, StoreError, scan,
};

use crate::caches::{CacheNotice, CacheProblem};
use lagesbild_timeline::{
    ACTIONS_WINDOW_DAYS, Material, MaterialItem, REPORT_MATERIAL_KINDS, material_class, week_start,
};

/// The format the index keeps items in: the JSON of [`MaterialItem`] and the classes of
/// [`MaterialItem::key`]. Bump it when either changes; an index in another format is rebuilt.
pub const MATERIAL_FORMAT: u32 = 1;

/// Events folded into the index per write transaction, so that a first build of a long log
/// does not hold the write lock for long.
const PAGE: usize = 5_000;

/// The kinds the index reads: the material and the corrections and retractions of it.
fn kinds() -> Vec<&'static str> {
    REPORT_MATERIAL_KINDS
        .iter()
        .copied()
        .chain(["event_corrected", "event_retracted"])
        .collect()
}

/// Brings the material index up to the head of the log. Nothing is written when it is there
/// already, so a read-only database with a current index is fine.
pub fn catch_up(store: &mut dyn Store) -> Result<(), StoreError> {
    catch_up_noted(store, &mut Vec::new())
}

/// Why the index's state is not bound to this log (its position past the head, or another
/// chain hash there), or `None` when it is (or there is no index).
pub fn state_problem(store: &dyn Store) -> Result<Option<(u64, String)>, StoreError> {
    let Some(state) = store.material_state(MATERIAL_FORMAT)? else {
        return Ok(None);
    };
    let head = store.head()?.seq;
    if state.seq > head {
        return Ok(Some((
            state.seq,
            format!(
                "it claims to have read up to event {}, past the head (event {head})",
                state.seq
            ),
        )));
    }
    let actual = store.chain_hash_at(state.seq)?.unwrap_or_default();
    if actual != state.chain_hash {
        return Ok(Some((
            state.seq,
            format!(
                "it is bound to chain hash {}, but the log has {actual} at event {}",
                state.chain_hash, state.seq
            ),
        )));
    }
    Ok(None)
}

/// [`catch_up`], first checking the index's binding to the chain: an index bound to another
/// log (or a position past the head) is dropped, rebuilt, and said so in `notices`.
pub fn catch_up_noted(
    store: &mut dyn Store,
    notices: &mut Vec<CacheNotice>,
) -> Result<(), StoreError> {
    if let Some((seq, reason)) = state_problem(store)? {
        let notice = CacheNotice::new("material_position", seq, reason);
        notice.warn();
        notices.push(notice);
        store.drop_material()?;
    }
    let head = store.head()?.seq;
    if store.material_position(MATERIAL_FORMAT)? == Some(head) {
        return Ok(());
    }
    let kinds = kinds();
    loop {
        let mut writer = store.material_writer(MATERIAL_FORMAT)?;
        let page = writer.read_page(&kinds, writer.position(), PAGE)?;
        for event in &page {
            fold(&mut writer, event)?;
        }
        let done = page.len() < PAGE;
        let position = match page.last() {
            Some(last) if !done => last.seq,
            _ => writer.head(),
        };
        writer.commit(position)?;
        if done {
            return Ok(());
        }
    }
}

/// Where the fold keeps the index: the table (through a [`MaterialWriter`]), or memory, when
/// `verify` recomputes what the table should hold with the very same fold.
trait Index {
    fn current(&self, seq: u64) -> Result<Option<MaterialRow>, StoreError>;
    fn insert(&mut self, row: &MaterialRow) -> Result<(), StoreError>;
    fn end(&mut self, seq: u64, at: u64) -> Result<(), StoreError>;
}

impl Index for Box<dyn MaterialWriter + '_> {
    fn current(&self, seq: u64) -> Result<Option<MaterialRow>, StoreError> {
        (**self).current(seq)
    }
    fn insert(&mut self, row: &MaterialRow) -> Result<(), StoreError> {
        (**self).insert(row)
    }
    fn end(&mut self, seq: u64, at: u64) -> Result<(), StoreError> {
        (**self).end(seq, at)
    }
}

/// The index in memory: rows by (seq, known_from), the current version of each item, names.
#[derive(Default)]
struct MemoryIndex {
    rows: BTreeMap<(u64, u64), MaterialRow>,
    current: BTreeMap<u64, u64>,
    names: BTreeSet<(String, String)>,
}

impl Index for MemoryIndex {
    fn current(&self, seq: u64) -> Result<Option<MaterialRow>, StoreError> {
        Ok(self
            .current
            .get(&seq)
            .and_then(|from| self.rows.get(&(seq, *from)))
            .cloned())
    }
    fn insert(&mut self, row: &MaterialRow) -> Result<(), StoreError> {
        self.rows.insert((row.seq, row.known_from), row.clone());
        self.current.insert(row.seq, row.known_from);
        self.names.insert((row.class.clone(), row.name.clone()));
        Ok(())
    }
    fn end(&mut self, seq: u64, at: u64) -> Result<(), StoreError> {
        if let Some(from) = self.current.remove(&seq)
            && let Some(row) = self.rows.get_mut(&(seq, from))
        {
            row.known_until = Some(at);
        }
        Ok(())
    }
}

fn fold(writer: &mut impl Index, event: &StoredEvent) -> Result<(), StoreError> {
    match &event.event.data {
        EventData::EventCorrected(c) => {
            let Some(target) = c.target.seq else {
                return Ok(());
            };
            let Some(row) = writer.current(target)? else {
                return Ok(());
            };
            if let Some(fixed) = decode(&row)?.corrected_by(c) {
                writer.end(target, event.seq)?;
                writer.insert(&encode(&fixed, event.seq)?)?;
            }
        }
        EventData::EventRetracted(r) => {
            if let Some(target) = r.target.seq {
                writer.end(target, event.seq)?;
            }
        }
        _ => {
            if let Some(item) = MaterialItem::from_event(event) {
                writer.insert(&encode(&item, event.seq)?)?;
            }
        }
    }
    Ok(())
}

/// Adds the rows read to `items`, each checked against the log first ([`checked`]).
fn add(
    store: &dyn Store,
    position: u64,
    items: &mut BTreeMap<u64, MaterialItem>,
    rows: Vec<MaterialRow>,
) -> Result<(), StoreError> {
    for row in rows {
        items.insert(row.seq, checked(store, position, &row)?);
    }
    Ok(())
}

fn refused(row: &MaterialRow, reason: impl std::fmt::Display) -> StoreError {
    StoreError::CacheDamaged(format!(
        "material row of event {} known from {}: {reason}",
        row.seq, row.known_from
    ))
}

/// The item of `row`, once the row is found to be exactly what the fold makes of the log: its
/// source event re-read (one seek) and, for a version a correction made, each correction in
/// its history re-applied; its end, if any, a correction or retraction of it. Anything else is
/// refused with [`StoreError::CacheDamaged`].
fn checked(
    store: &dyn Store,
    position: u64,
    row: &MaterialRow,
) -> Result<MaterialItem, StoreError> {
    let beyond = |at: u64| at > position;
    if beyond(row.seq) || beyond(row.known_from) || row.known_until.is_some_and(beyond) {
        return Err(refused(
            row,
            format!("it names a position past the index's (event {position})"),
        ));
    }
    let source = store
        .event(&EventRef::Seq(row.seq))?
        .ok_or_else(|| refused(row, "the log holds no such event"))?;
    let mut item = MaterialItem::from_event(&source)
        .ok_or_else(|| refused(row, "its event is not report material"))?;
    let mut known_from = row.seq;
    if row.known_from != row.seq {
        // Walk the item's versions from the first, each end a correction that made the next.
        let versions = store.material_versions(row.seq)?;
        loop {
            let stored = versions
                .iter()
                .find(|v| v.known_from == known_from)
                .ok_or_else(|| refused(row, format!("no version known from {known_from}")))?;
            if encode(&item, known_from)?
                != (MaterialRow {
                    known_until: None,
                    ..stored.clone()
                })
            {
                return Err(refused(
                    row,
                    format!("its version known from {known_from} is not what the log says"),
                ));
            }
            if known_from == row.known_from {
                break;
            }
            let at = stored
                .known_until
                .filter(|at| *at <= row.known_from)
                .ok_or_else(|| refused(row, "its history does not reach it"))?;
            let correction = store.event(&EventRef::Seq(at))?;
            let fixed = match correction.as_ref().map(|e| &e.event.data) {
                Some(EventData::EventCorrected(c)) if c.target.seq == Some(row.seq) => {
                    item.corrected_by(c)
                }
                _ => None,
            };
            item = fixed.ok_or_else(|| {
                refused(
                    row,
                    format!("event {at} is not a correction that changed it"),
                )
            })?;
            known_from = at;
        }
    }
    let expected = encode(&item, known_from)?;
    if expected
        != (MaterialRow {
            known_until: None,
            ..row.clone()
        })
    {
        return Err(refused(row, "it is not what the log says"));
    }
    if let Some(at) = row.known_until {
        let ended = match store.event(&EventRef::Seq(at))?.map(|e| e.event.data) {
            Some(EventData::EventCorrected(c)) => {
                c.target.seq == Some(row.seq) && item.corrected_by(&c).is_some()
            }
            Some(EventData::EventRetracted(r)) => r.target.seq == Some(row.seq),
            _ => false,
        };
        if !ended {
            return Err(refused(
                row,
                format!("event {at} is not a correction or retraction of it"),
            ));
        }
    }
    Ok(item)
}

fn encode(item: &MaterialItem, known_from: u64) -> Result<MaterialRow, StoreError> {
    let key = item.key();
    Ok(MaterialRow {
        seq: item.seq,
        known_from,
        known_until: None,
        class: key.class.to_owned(),
        name: key.name,
        first_day: key.first_day,
        last_day: key.last_day,
        item: serde_json::to_vec(item)
            .map_err(|e| StoreError::CacheDamaged(format!("material item {}: {e}", item.seq)))?,
    })
}

fn decode(row: &MaterialRow) -> Result<MaterialItem, StoreError> {
    serde_json::from_slice(&row.item)
        .map_err(|e| StoreError::CacheDamaged(format!("material item {}: {e}", row.seq)))
}

/// The material a report for `day` reads, as the log knew it at position `known_at`, from an
/// index that is up to date (see [`catch_up`]). Every row read is checked against the log
/// first; one that does not match fails the lookup with [`StoreError::CacheDamaged`].
pub fn for_day(store: &dyn Store, known_at: u64, day: NaiveDate) -> Result<Material, StoreError> {
    let position = store
        .material_position(MATERIAL_FORMAT)?
        .ok_or_else(|| StoreError::CacheDamaged("material index: not built".into()))?;
    if known_at > position {
        return Err(StoreError::CacheDamaged(format!(
            "material index: read up to event {position}, asked at {known_at}"
        )));
    }
    let add = |items: &mut BTreeMap<u64, MaterialItem>, rows: Vec<MaterialRow>| {
        add(store, position, items, rows)
    };
    let mut items: BTreeMap<u64, MaterialItem> = BTreeMap::new();
    // Classes without names are looked up by name "" all the same, so that a range of days is
    // found through the `(class, name, first_day)` index.
    let query = |class| MaterialQuery {
        name: Some(""),
        ..MaterialQuery::new(class, known_at)
    };
    let window_start = day - Days::new(ACTIONS_WINDOW_DAYS);

    // Notes: the day's week, those in force until a day that reaches it, and standing ones.
    add(
        &mut items,
        store.material_rows(&MaterialQuery {
            first_day_from: Some(week_start(day)),
            first_day_to: Some(day),
            ..query(material_class::NOTE_DATED)
        })?,
    )?;
    add(
        &mut items,
        store.material_rows(&MaterialQuery {
            first_day_to: Some(day),
            last_day_from: Some(day),
            ..query(material_class::NOTE_UNTIL)
        })?,
    )?;
    for class in [
        material_class::NOTE_STANDING,
        material_class::COLLECTED,
        material_class::ROLE,
    ] {
        add(
            &mut items,
            store.material_rows(&MaterialQuery {
                first_day_to: Some(day),
                ..query(class)
            })?,
        )?;
    }
    // The week's communications and reports, and the latest report dated before the day.
    for (class, name) in [
        (material_class::COMMUNICATION, Some("")),
        // Reports are named by their date.
        (material_class::REPORT, None),
    ] {
        add(
            &mut items,
            store.material_rows(&MaterialQuery {
                name,
                first_day_from: Some(window_start),
                first_day_to: Some(day),
                ..query(class)
            })?,
        )?;
    }
    // Every report dated up to the day: the latest before it is the previous report, and
    // their days give the edition's running number and version. A report a week, so few.
    let next_day_name = (day + Days::new(1)).to_string();
    add(
        &mut items,
        store.material_rows(&MaterialQuery {
            name_below: Some(&next_day_name),
            order: MaterialOrder::NameDescending,
            ..MaterialQuery::new(material_class::REPORT, known_at)
        })?,
    )?;
    // The orders of the points given for editions of the day's week.
    add(
        &mut items,
        store.material_rows(&MaterialQuery {
            first_day_from: Some(week_start(day)),
            first_day_to: Some(day),
            ..query(material_class::ORDER)
        })?,
    )?;
    let previous = Material::from_items(items.values().cloned(), known_at).previous_report(day);
    let since = previous.unwrap_or(day - Days::new(7));

    // Per figure: its first item by then (the report lists figures in that order), and its
    // latest as of the day and as of `since`. "Latest" is by valid time, then seq; every item of
    // the latest first day is read, as a finer date on that day may sort later.
    for name in store.material_names(material_class::FIGURE)? {
        let figure = MaterialQuery {
            name: Some(&name),
            first_day_to: Some(day),
            limit: Some(1),
            ..query(material_class::FIGURE)
        };
        let first = store.material_rows(&figure)?;
        if first.is_empty() {
            continue;
        }
        add(&mut items, first)?;
        for until in [day, since] {
            let latest = store.material_rows(&MaterialQuery {
                first_day_to: Some(until),
                order: MaterialOrder::LatestDay,
                ..figure.clone()
            })?;
            if let Some(row) = latest.first() {
                // The row chooses which day is read: it is checked like the rows kept.
                checked(store, position, row)?;
                add(
                    &mut items,
                    store.material_rows(&MaterialQuery {
                        first_day_from: Some(row.first_day),
                        first_day_to: Some(row.first_day),
                        limit: None,
                        ..figure.clone()
                    })?,
                )?;
            }
        }
    }
    Ok(Material::from_items(items.into_values(), known_at))
}

/// Compares the index with what the fold makes of the log up to the index's position, and its
/// state's binding and digest; every difference names the table and the row. With `quick`, only
/// the binding and the digest (every row read and hashed, nothing folded).
pub fn verify_index(store: &dyn Store, quick: bool) -> Result<Vec<CacheProblem>, StoreError> {
    let mut problems = Vec::new();
    let (rows, names) = match store.material_all() {
        Ok(all) => all,
        Err(StoreError::CacheDamaged(reason)) => {
            problems.push(CacheProblem::new("material", "a row".into(), reason));
            return Ok(problems);
        }
        Err(other) => return Err(other),
    };
    let Some(state) = store.material_state_any()? else {
        if let Some(row) = rows.first() {
            problems.push(CacheProblem::new(
                "material_position",
                "the state row".into(),
                format!(
                    "it is missing while the index holds rows (first: event {} known from {})",
                    row.seq, row.known_from
                ),
            ));
        }
        return Ok(problems);
    };
    if state.format != MATERIAL_FORMAT {
        // Never read: the next catch-up empties an index kept in another format.
        return Ok(problems);
    }
    if let Some((seq, reason)) = state_problem(store)? {
        problems.push(CacheProblem::new(
            "material_position",
            format!("event {seq}"),
            reason,
        ));
        return Ok(problems);
    }
    let digest = MaterialDigest::of(&rows, &names).to_hex();
    if digest != state.digest {
        problems.push(CacheProblem::new(
            "material_position",
            format!("event {}", state.seq),
            format!(
                "the rows of material and material_names have digest {digest}, not the recorded {}: a row was edited, added or deleted",
                state.digest
            ),
        ));
    }
    if quick {
        return Ok(problems);
    }
    let mut expected = MemoryIndex::default();
    let filter = Filter {
        kinds: kinds().iter().map(|k| (*k).to_owned()).collect(),
        max_seq: Some(state.seq),
        ..Filter::default()
    };
    for event in scan(store, &filter) {
        fold(&mut expected, &event?)?;
    }
    let actual: BTreeMap<(u64, u64), &MaterialRow> =
        rows.iter().map(|r| ((r.seq, r.known_from), r)).collect();
    let at = |(seq, from): (u64, u64)| format!("event {seq} known from {from}");
    for (key, want) in &expected.rows {
        match actual.get(key) {
            None => problems.push(CacheProblem::new(
                "material",
                at(*key),
                "the row is missing".into(),
            )),
            Some(have) if *have != want => {
                let column = if have.known_until != want.known_until {
                    "known_until"
                } else if have.item != want.item {
                    "item"
                } else {
                    "class, name or days"
                };
                problems.push(CacheProblem::new(
                    "material",
                    at(*key),
                    format!("column {column} is not what the log says"),
                ));
            }
            Some(_) => {}
        }
    }
    for key in actual.keys() {
        if !expected.rows.contains_key(key) {
            problems.push(CacheProblem::new(
                "material",
                at(*key),
                "the row is not derived from the log".into(),
            ));
        }
    }
    let names: BTreeSet<(String, String)> = names.into_iter().collect();
    for (class, name) in expected.names.symmetric_difference(&names) {
        let what = if expected.names.contains(&(class.clone(), name.clone())) {
            "is missing"
        } else {
            "is not derived from the log"
        };
        problems.push(CacheProblem::new(
            "material_names",
            format!("{class} {name:?}"),
            format!("the name {what}"),
        ));
    }
    Ok(problems)
}
