//! Checkpoints: a projection's saved state beside the log, found by name, format and the newest
//! seq at or below the one asked for; never part of the log; added to older databases by
//! migration 2.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use lagesbild_model::{NewEvent, event_from_value, stored_from_export_value};
use lagesbild_store::{EventLog, Filter, SUPPORTED_SCHEMA_VERSION, SqliteStore, StoreError, scan};
use proptest::prelude::*;
use rusqlite::Connection;
use serde_json::json;

use common::config;

const MIGRATION_2: &str = include_str!("../schema/002_checkpoints.sql");

fn fact(n: u64) -> NewEvent {
    event_from_value(json!({
        "key": format!("fakta-{n}"),
        "kind": "fact_reported",
        "occurred": "2024-11-12",
        "summary": format!("Fakta nummer {n}."),
        "source": {"title": "Källa"}
    }))
    .expect("a valid event")
}

fn store_with(count: u64) -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().expect("store");
    store
        .append(&(1..=count).map(fact).collect::<Vec<_>>(), &[])
        .expect("append");
    store
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("the schema version")
}

/// A database as the previous version of lagesbild left it: schema 1, with events.
fn version_1_database(path: &Path, count: u64) {
    let mut store = SqliteStore::open(path).expect("store");
    store
        .append(&(1..=count).map(fact).collect::<Vec<_>>(), &[])
        .expect("append");
    drop(store);
    let conn = Connection::open(path).expect("open");
    conn.execute_batch(
        "DROP TABLE checkpoints; DROP TABLE material; DROP TABLE material_names; \
         DROP TABLE material_position; DROP TABLE tree_nodes; DROP TABLE tree_position; \
         DROP TABLE tree_heads; DROP TABLE edition_outputs; DROP INDEX events_by_target; \
         DROP INDEX events_redated; DROP INDEX events_period_facts; PRAGMA user_version = 1;",
    )
    .expect("back to schema 1");
    drop(conn);
    assert_eq!(user_version(path), 1);
}

#[test]
fn a_checkpoint_is_read_back_as_saved() {
    let mut store = store_with(3);
    let states: [&[u8]; 3] = [b"", b"\0\xff\x00binary\n", "tidslinje ÅÄÖ".as_bytes()];
    for (seq, state) in (1..=3).zip(states) {
        store.save_checkpoint("timeline", seq, 7, state).unwrap();
    }
    for (seq, state) in (1..=3).zip(states) {
        assert_eq!(
            store.load_checkpoint("timeline", 7, seq).unwrap(),
            Some((seq, state.to_vec()))
        );
    }
}

#[test]
fn saving_again_at_the_same_seq_replaces_the_checkpoint() {
    let mut store = store_with(3);
    store.save_checkpoint("timeline", 2, 1, b"gammal").unwrap();
    store.save_checkpoint("timeline", 2, 1, b"ny").unwrap();
    assert_eq!(
        store.load_checkpoint("timeline", 1, 3).unwrap(),
        Some((2, b"ny".to_vec()))
    );
    // One checkpoint per name and seq: a new format replaces the old one there.
    store
        .save_checkpoint("timeline", 2, 2, b"format 2")
        .unwrap();
    assert_eq!(store.load_checkpoint("timeline", 1, 3).unwrap(), None);
    assert_eq!(
        store.load_checkpoint("timeline", 2, 3).unwrap(),
        Some((2, b"format 2".to_vec()))
    );
}

#[test]
fn checkpoints_of_another_format_or_name_are_ignored() {
    let mut store = store_with(10);
    store
        .save_checkpoint("timeline", 8, 1, b"format 1")
        .unwrap();
    store
        .save_checkpoint("timeline", 4, 2, b"format 2")
        .unwrap();
    store.save_checkpoint("waves", 9, 2, b"waves").unwrap();
    assert_eq!(
        store.load_checkpoint("timeline", 2, 10).unwrap(),
        Some((4, b"format 2".to_vec()))
    );
    assert_eq!(
        store.load_checkpoint("timeline", 1, 10).unwrap(),
        Some((8, b"format 1".to_vec()))
    );
    assert_eq!(store.load_checkpoint("timeline", 3, 10).unwrap(), None);
    assert_eq!(store.load_checkpoint("report", 2, 10).unwrap(), None);
}

#[test]
fn drop_checkpoints_drops_every_format_of_that_name_only() {
    let mut store = store_with(5);
    store.save_checkpoint("timeline", 1, 1, b"a").unwrap();
    store.save_checkpoint("timeline", 3, 2, b"b").unwrap();
    store.save_checkpoint("waves", 2, 1, b"c").unwrap();
    store.drop_checkpoints("timeline").unwrap();
    assert_eq!(store.load_checkpoint("timeline", 1, 5).unwrap(), None);
    assert_eq!(store.load_checkpoint("timeline", 2, 5).unwrap(), None);
    assert_eq!(
        store.load_checkpoint("waves", 1, 5).unwrap(),
        Some((2, b"c".to_vec()))
    );
    store.drop_checkpoints("finns-inte").unwrap();
}

#[test]
fn a_checkpoint_past_the_head_is_refused() {
    let mut store = store_with(3);
    store.save_checkpoint("timeline", 3, 1, b"ok").unwrap();
    store.save_checkpoint("timeline", 0, 1, b"tom").unwrap();
    for seq in [4, u64::MAX] {
        match store.save_checkpoint("timeline", seq, 1, b"framtid") {
            Err(StoreError::CheckpointAhead { seq: at, head: 3 }) => assert_eq!(at, seq),
            other => panic!("expected CheckpointAhead, got {other:?}"),
        }
    }
    assert_eq!(
        store.load_checkpoint("timeline", 1, u64::MAX).unwrap(),
        Some((3, b"ok".to_vec()))
    );
}

proptest! {
    #![proptest_config(config(64, 512))]

    /// The newest checkpoint of the name and format at or below the seq asked for, whatever
    /// else is saved.
    #[test]
    fn the_nearest_checkpoint_at_or_below_is_found(
        saved in prop::collection::vec((0u64..=30, 1u32..=3, prop::bool::ANY), 0..20),
        max_seq in prop_oneof![0u64..=35, Just(u64::MAX)],
        format in 1u32..=3,
    ) {
        let mut store = store_with(30);
        // The last save at a name and seq wins, whatever its format.
        let mut current = std::collections::BTreeMap::new();
        for (seq, saved_format, other_name) in &saved {
            let name = if *other_name { "annan" } else { "timeline" };
            let state = format!("{name} {seq} {saved_format}");
            store.save_checkpoint(name, *seq, *saved_format, state.as_bytes()).unwrap();
            if !other_name {
                current.insert(*seq, (*saved_format, state));
            }
        }
        let expected = current
            .iter()
            .rev()
            .find(|(seq, (f, _))| **seq <= max_seq && *f == format)
            .map(|(seq, (_, state))| (*seq, state.clone().into_bytes()));
        prop_assert_eq!(store.load_checkpoint("timeline", format, max_seq).unwrap(), expected);
    }
}

#[test]
fn checkpoints_are_not_part_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .append(&(1..=4).map(fact).collect::<Vec<_>>(), &[])
        .unwrap();
    let before = store.verify(&mut |_| {}).unwrap();
    let exported: Vec<_> = scan(&store, &Filter::default())
        .map(|e| e.unwrap().to_export_value())
        .collect();
    store
        .save_checkpoint("timeline", 4, 1, b"tillstand")
        .unwrap();
    assert_eq!(store.verify(&mut |_| {}).unwrap(), before);
    let after: Vec<_> = scan(&store, &Filter::default())
        .map(|e| e.unwrap().to_export_value())
        .collect();
    assert_eq!(after, exported);
    drop(store);

    // Anything may empty the table: no trigger guards it, and the log still verifies.
    let conn = Connection::open(&path).unwrap();
    conn.execute("UPDATE checkpoints SET state = x'00'", [])
        .unwrap();
    conn.execute("DELETE FROM checkpoints", []).unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.verify(&mut |_| {}).unwrap(), before);
    assert_eq!(store.load_checkpoint("timeline", 1, 4).unwrap(), None);
}

#[test]
fn restore_empties_the_checkpoints() {
    let source = store_with(3);
    let exported: Vec<_> = scan(&source, &Filter::default())
        .map(|e| e.unwrap().to_export_value())
        .collect();
    let mut target = SqliteStore::open_in_memory().unwrap();
    target
        .save_checkpoint("timeline", 0, 1, b"en annan logg")
        .unwrap();
    target
        .restore(
            exported
                .into_iter()
                .map(|v| Ok(stored_from_export_value(v).unwrap())),
        )
        .unwrap();
    assert_eq!(target.load_checkpoint("timeline", 1, 3).unwrap(), None);
}

#[test]
fn the_checkpoints_migration_creates_exactly_the_documented_table() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(MIGRATION_2).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'checkpoints'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let normalized = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        normalized,
        "CREATE TABLE checkpoints ( name TEXT NOT NULL, seq INTEGER NOT NULL, format INTEGER NOT NULL, state BLOB NOT NULL, PRIMARY KEY (name, seq) ) STRICT"
    );
    let triggers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 0, "checkpoints are a cache, not append-only");
}

#[test]
fn a_version_1_database_is_migrated_to_the_current_schema_and_keeps_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    version_1_database(&path, 5);

    // Read-only, nothing is migrated, and there are no checkpoints to find.
    let reader = SqliteStore::open_read_only(&path).unwrap();
    let before = reader.verify(&mut |_| {}).unwrap();
    assert_eq!(reader.load_checkpoint("timeline", 1, 5).unwrap(), None);
    drop(reader);
    assert_eq!(user_version(&path), 1);

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SUPPORTED_SCHEMA_VERSION);
    assert_eq!(SUPPORTED_SCHEMA_VERSION, 7);
    // The triggers of migration 1 are still found and unchanged.
    assert_eq!(store.verify(&mut |_| {}).unwrap(), before);
    store.save_checkpoint("timeline", 5, 1, b"efter").unwrap();
    assert_eq!(
        store.load_checkpoint("timeline", 1, 5).unwrap(),
        Some((5, b"efter".to_vec()))
    );
    store.append(&[fact(6)], &[]).unwrap();
    assert_eq!(store.verify(&mut |_| {}).unwrap().count, 6);
    drop(store);
    // Opening again applies nothing twice.
    SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SUPPORTED_SCHEMA_VERSION);
}

/// Regression: the schema version was read before the write lock was taken, so a program that
/// opened a version-1 database while another was migrating it ran migration 2 again and failed
/// with "table checkpoints already exists".
#[test]
fn a_migration_done_by_another_process_meanwhile_is_not_applied_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    version_1_database(&path, 2);

    // Another process holds the write lock while it migrates.
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let opener = {
        let path = path.clone();
        std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
    };
    // Let the opener read version 1 and wait for the lock.
    std::thread::sleep(Duration::from_millis(300));
    other.execute_batch(MIGRATION_2).unwrap();
    other.pragma_update(None, "user_version", 2).unwrap();
    other.execute_batch("COMMIT").unwrap();
    let result = opener.join().unwrap();
    assert!(result.is_ok(), "{result:?}");
    // The opener found version 2 under the lock and applied only the later migrations.
    assert_eq!(user_version(&path), SUPPORTED_SCHEMA_VERSION);
}

#[test]
fn checkpoint_names_are_free_text_not_sql() {
    let mut store = store_with(2);
    let names: BTreeSet<&str> = ["timeline", "'; DROP TABLE events; --", "tidslinje ÅÄÖ", ""]
        .into_iter()
        .collect();
    for (i, name) in names.iter().enumerate() {
        store
            .save_checkpoint(name, 2, 1, i.to_string().as_bytes())
            .unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            store.load_checkpoint(name, 1, 2).unwrap(),
            Some((2, i.to_string().into_bytes()))
        );
    }
    assert_eq!(store.count().unwrap(), 2);
}
