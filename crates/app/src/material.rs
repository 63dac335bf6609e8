//! The weekly report's material for one day, looked up in the material index (a cache beside
//! the log, `crates/store/schema/003_material.sql`) instead of folded from every note, link and
//! figure in the log. The index is brought up to the head first, which folds only the material
//! added since the last time; the lookups then read what [`build_report`] reads for the day:
//! their cost follows the report, not the log.
//!
//! The lookups must find every item [`build_report`] would use from a full fold; a property
//! test below compares the two on generated logs at every position and many days.
//!
//! [`build_report`]: lagesbild_timeline::build_report

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use lagesbild_model::EventData;
use lagesbild_store::{
    EventLog, MaterialOrder, MaterialQuery, MaterialRow, MaterialWriter, SqliteStore, StoreError,
};
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
pub fn catch_up(store: &mut SqliteStore) -> Result<(), StoreError> {
    let head = store.head()?.seq;
    if store.material_position(MATERIAL_FORMAT)? == Some(head) {
        return Ok(());
    }
    let kinds = kinds();
    loop {
        let writer = store.material_writer(MATERIAL_FORMAT)?;
        let page = writer.read_page(&kinds, writer.position(), PAGE)?;
        for event in &page {
            fold(&writer, event)?;
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

fn fold(
    writer: &MaterialWriter<'_>,
    event: &lagesbild_model::StoredEvent,
) -> Result<(), StoreError> {
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
                writer.insert(&encode(&fixed)?, event.seq)?;
            }
        }
        EventData::EventRetracted(r) => {
            if let Some(target) = r.target.seq {
                writer.end(target, event.seq)?;
            }
        }
        _ => {
            if let Some(item) = MaterialItem::from_event(event) {
                writer.insert(&encode(&item)?, event.seq)?;
            }
        }
    }
    Ok(())
}

fn add(items: &mut BTreeMap<u64, MaterialItem>, rows: Vec<MaterialRow>) -> Result<(), StoreError> {
    for row in rows {
        items.insert(row.seq, decode(&row)?);
    }
    Ok(())
}

fn encode(item: &MaterialItem) -> Result<MaterialRow, StoreError> {
    let key = item.key();
    Ok(MaterialRow {
        seq: item.seq,
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
/// index that is up to date (see [`catch_up`]).
pub fn for_day(store: &SqliteStore, known_at: u64, day: NaiveDate) -> Result<Material, StoreError> {
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
