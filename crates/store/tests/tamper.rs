//! Every single-byte change, deletion, insertion or reordering made in the stored log behind the
//! store's back is caught by verify, which names the first affected event. The tampering is done
//! on a real SQLite file with a plain connection, the append-only triggers dropped for the edit
//! and recreated exactly as the schema has them, so that only the data differs.

mod common;

use std::path::Path;

use lagesbild_model::RecordedAt;
use lagesbild_store::{EventLog, EventRef, Head, SqliteStore, StoreError};
use proptest::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use common::{GeneratedLog, config, log};

const SCHEMA: &str = include_str!("../schema/001_events.sql");
const TRIGGERS: [&str; 2] = ["events_refuse_update", "events_refuse_delete"];

/// The columns of `events`, in table order.
const COLUMNS: [&str; 13] = [
    "seq",
    "stream",
    "stream_version",
    "key",
    "kind",
    "occurred",
    "occurred_first",
    "occurred_last",
    "recorded_at",
    "schema_version",
    "content",
    "prev_hash",
    "hash",
];

/// A trigger's statement exactly as the first migration creates it.
fn trigger_sql(name: &str) -> &'static str {
    let start = SCHEMA
        .find(&format!("CREATE TRIGGER {name} "))
        .expect("the trigger is in the schema");
    let end = SCHEMA[start..].find("END;").expect("the trigger ends") + start + 4;
    &SCHEMA[start..end]
}

/// Runs `edit` on the file with the triggers dropped, then recreates them as they were.
fn behind_the_stores_back(
    path: &Path,
    edit: impl FnOnce(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    let tx = conn.transaction()?;
    for name in TRIGGERS {
        tx.execute_batch(&format!("DROP TRIGGER {name};"))?;
    }
    let result = edit(&tx);
    for name in TRIGGERS {
        tx.execute_batch(trigger_sql(name))?;
    }
    tx.commit()?;
    result
}

#[derive(Clone, Debug)]
enum Tamper {
    /// XOR one byte of one column of one row with a non-zero mask.
    Byte {
        row: prop::sample::Index,
        column: usize,
        position: prop::sample::Index,
        mask: u8,
    },
    /// Give a keyless row a key, possibly the empty string.
    KeyOnKeyless { key: String },
    /// Delete a row that is not the last.
    Delete { row: prop::sample::Index },
    /// Copy a row to the end with a fresh seq, linked to the head and in its stream's next
    /// version, as a careless forger would.
    Copy { row: prop::sample::Index, gap: u64 },
    /// Swap two rows' places.
    Swap {
        a: prop::sample::Index,
        b: prop::sample::Index,
    },
    /// Move a row's transaction time back.
    Earlier {
        row: prop::sample::Index,
        micros: i64,
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    use prop::sample::Index;
    prop_oneof![
        6 => (any::<Index>(), 0..COLUMNS.len(), any::<Index>(), 1u8..=255)
            .prop_map(|(row, column, position, mask)| Tamper::Byte { row, column, position, mask }),
        1 => prop_oneof![Just(String::new()), "[a-z0-9]{1,8}"].prop_map(|key| Tamper::KeyOnKeyless { key }),
        1 => any::<Index>().prop_map(|row| Tamper::Delete { row }),
        1 => (any::<Index>(), 0u64..3).prop_map(|(row, gap)| Tamper::Copy { row, gap }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
        1 => (any::<Index>(), prop_oneof![1i64..1_000, 1i64..1_000_000_000_000])
            .prop_map(|(row, micros)| Tamper::Earlier { row, micros }),
    ]
}

fn build(path: &Path, generated: &GeneratedLog) -> Head {
    let mut store = SqliteStore::open(path)
        .expect("store")
        .with_clock(common::ticking_clock("2026-01-01T00:00:00Z"));
    // One batch: each commit is a synced write to the file.
    store
        .append(&generated.parsed().expect("a valid log"), &[])
        .expect("append");
    let report = store.verify(&mut |_| {}).expect("an honest log verifies");
    report.head
}

/// Applies the tampering; `Ok(None)` when it does not apply to this log (a constraint refuses
/// it, or there is no row of the needed sort), else the seq verify must name.
fn apply(conn: &Connection, tamper: &Tamper, count: u64) -> rusqlite::Result<Option<u64>> {
    let seq_of = |index: &prop::sample::Index| index.index(count as usize) as u64 + 1;
    let refused = |result: rusqlite::Result<usize>| match result {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Ok(false)
        }
        // The timeline's partial indexes (schema 7) read the content as JSON, so SQLite itself
        // refuses an edit that leaves it malformed: a refusal like a constraint's.
        Err(rusqlite::Error::SqliteFailure(_, Some(message))) if message == "malformed JSON" => {
            Ok(false)
        }
        Err(other) => Err(other),
    };
    Ok(match tamper {
        Tamper::Byte {
            row,
            column,
            position,
            mask,
        } => {
            let seq = seq_of(row);
            let name = COLUMNS[*column];
            let value: SqlValue = conn.query_row(
                &format!("SELECT {name} FROM events WHERE seq = ?1"),
                [seq],
                |r| r.get(0),
            )?;
            let update = format!("UPDATE events SET {name} = ?1 WHERE seq = ?2");
            let applied = match value {
                SqlValue::Integer(number) => {
                    let mut bytes = number.to_le_bytes();
                    bytes[position.index(8)] ^= mask;
                    refused(
                        conn.execute(&update, rusqlite::params![i64::from_le_bytes(bytes), seq]),
                    )?
                }
                SqlValue::Text(text) => {
                    let mut bytes = text.into_bytes();
                    let at = position.index(bytes.len());
                    bytes[at] ^= mask;
                    // As text, even when the bytes are no longer UTF-8.
                    refused(conn.execute(
                        &format!("UPDATE events SET {name} = CAST(?1 AS TEXT) WHERE seq = ?2"),
                        rusqlite::params![bytes, seq],
                    ))?
                }
                // A NULL key: see KeyOnKeyless.
                _ => false,
            };
            applied.then_some(seq)
        }
        Tamper::KeyOnKeyless { key } => {
            let seq: Option<u64> = conn
                .query_row(
                    "SELECT seq FROM events WHERE key IS NULL ORDER BY seq LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .ok();
            match seq {
                Some(seq) => refused(conn.execute(
                    "UPDATE events SET key = ?1 WHERE seq = ?2",
                    rusqlite::params![key, seq],
                ))?
                .then_some(seq),
                None => None,
            }
        }
        Tamper::Delete { row } => {
            // Deleting the last row is truncation, which only a kept head reveals.
            let seq = row.index(count as usize - 1) as u64 + 1;
            conn.execute("DELETE FROM events WHERE seq = ?1", [seq])?;
            Some(seq)
        }
        Tamper::Copy { row, gap } => {
            let seq = seq_of(row);
            let columns = COLUMNS[1..].join(", ");
            let copied = refused(conn.execute(
                &format!(
                    "INSERT INTO events (seq, {columns}) \
                     SELECT ?2, stream, \
                        (SELECT max(stream_version) + 1 FROM events AS s WHERE s.stream = e.stream), \
                        CASE WHEN key IS NULL THEN NULL ELSE key || '-kopia' END, \
                        kind, occurred, occurred_first, occurred_last, recorded_at, schema_version, \
                        content, (SELECT hash FROM events WHERE seq = ?3), hash \
                     FROM events AS e WHERE seq = ?1"
                ),
                rusqlite::params![seq, count + 1 + gap, count],
            ))?;
            copied.then_some(count + 1)
        }
        Tamper::Swap { a, b } => {
            let (a, b) = (seq_of(a), seq_of(b));
            if a == b {
                return Ok(None);
            }
            let columns = COLUMNS[1..].join(", ");
            conn.execute_batch(&format!(
                "CREATE TEMP TABLE swapped AS SELECT * FROM events WHERE seq IN ({a}, {b});
                 DELETE FROM events WHERE seq IN ({a}, {b});
                 INSERT INTO events (seq, {columns})
                     SELECT CASE seq WHEN {a} THEN {b} ELSE {a} END, {columns} FROM swapped;
                 DROP TABLE swapped;"
            ))?;
            Some(a.min(b))
        }
        Tamper::Earlier { row, micros } => {
            let seq = seq_of(row);
            let text: String = conn.query_row(
                "SELECT recorded_at FROM events WHERE seq = ?1",
                [seq],
                |r| r.get(0),
            )?;
            let at = RecordedAt::parse(&text).expect("stored form");
            let earlier = RecordedAt(at.0 - chrono::Duration::microseconds(*micros));
            conn.execute(
                "UPDATE events SET recorded_at = ?1 WHERE seq = ?2",
                rusqlite::params![earlier.to_string(), seq],
            )?;
            Some(seq)
        }
    })
}

fn verify_file(path: &Path) -> Result<lagesbild_store::VerifyReport, StoreError> {
    let store = SqliteStore::open(path)?;
    store.verify(&mut |_| {})
}

proptest! {
    #![proptest_config(ProptestConfig {
        max_global_rejects: 100_000,
        ..config(128, 1024)
    })]

    #[test]
    fn every_tampering_is_caught_naming_the_first_affected_event(
        generated in log(false, 3..40),
        tamper in tamper(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lagesbild.db");
        let kept = build(&path, &generated);
        let count = kept.seq;
        let mut expected = None;
        behind_the_stores_back(&path, |conn| {
            expected = apply(conn, &tamper, count)?;
            Ok(())
        })
        .expect("the tampering runs");
        let Some(expected) = expected else {
            // A constraint refused the edit, or the log has no row of the needed sort.
            return Err(TestCaseError::reject("the tampering does not apply to this log"));
        };
        match verify_file(&path) {
            Err(StoreError::Broken { seq, reason }) => prop_assert_eq!(seq, expected, "{}", reason),
            other => prop_assert!(false, "{:?} was not caught: {:?}", tamper, other),
        }
    }

}

proptest! {
    #![proptest_config(config(32, 256))]

    /// Dropping the last events leaves a shorter log that is valid in itself; the head an
    /// auditor kept is what reveals it.
    #[test]
    fn truncation_is_caught_by_the_kept_head(generated in log(false, 3..40), dropped in 1u64..3) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lagesbild.db");
        let kept = build(&path, &generated);
        behind_the_stores_back(&path, |conn| {
            conn.execute("DELETE FROM events WHERE seq > ?1", [kept.seq - dropped]).map(|_| ())
        })
        .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let report = store.verify(&mut |_| {}).expect("a truncated log is a valid log");
        prop_assert_eq!(report.head.seq, kept.seq - dropped);
        prop_assert_ne!(&report.head.hash, &kept.hash);
        prop_assert_eq!(store.event(&EventRef::Seq(kept.seq)).unwrap(), None);
    }
}

fn small_log(path: &Path) -> Head {
    let generated = common::GeneratedLog {
        plans: Vec::new(),
        events: vec![
            serde_json::json!({"key": "a", "kind": "fact_reported", "occurred": "2019", "summary": "Första.", "source": {"title": "Källa"}}),
            serde_json::json!({"key": "b", "kind": "fact_reported", "occurred": "2020", "summary": "Andra.", "source": {"title": "Källa"}}),
            serde_json::json!({"kind": "figure_reported", "occurred": "2024-12", "stream": "rapport", "summary": "120 konsulter.", "data": {"figure": "konsulter", "value": 120, "unit": "st"}}),
        ],
        batch_sizes: vec![1],
    };
    build(path, &generated)
}

fn expect_broken_at(path: &Path, expected: u64, needle: &str) {
    match verify_file(path) {
        Err(StoreError::Broken { seq, reason }) => {
            assert_eq!(seq, expected, "{reason}");
            assert!(
                reason.contains(needle),
                "{reason:?} should mention {needle:?}"
            );
        }
        other => panic!("expected Broken at {expected}, got {other:?}"),
    }
}

#[test]
fn a_dropped_trigger_is_caught() {
    for name in TRIGGERS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lagesbild.db");
        let head = small_log(&path);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("DROP TRIGGER {name};"))
            .unwrap();
        drop(conn);
        expect_broken_at(&path, head.seq, name);
    }
}

#[test]
fn an_altered_trigger_is_caught() {
    for (name, change) in [
        ("events_refuse_update", "BEFORE UPDATE ON events WHEN 0"),
        (
            "events_refuse_delete",
            "BEFORE DELETE ON events WHEN old.seq < 0",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lagesbild.db");
        let head = small_log(&path);
        let conn = Connection::open(&path).unwrap();
        let original = trigger_sql(name);
        let kind = if name.ends_with("update") {
            "BEFORE UPDATE ON events"
        } else {
            "BEFORE DELETE ON events"
        };
        conn.execute_batch(&format!(
            "DROP TRIGGER {name}; {}",
            original.replace(kind, change)
        ))
        .unwrap();
        drop(conn);
        expect_broken_at(&path, head.seq, "altered");
    }
}

#[test]
fn the_triggers_refuse_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    small_log(&path);
    let conn = Connection::open(&path).unwrap();
    for sql in [
        "UPDATE events SET content = 'x' WHERE seq = 1",
        "UPDATE events SET recorded_at = recorded_at WHERE seq = 3",
        "DELETE FROM events WHERE seq = 3",
        "DELETE FROM events",
    ] {
        let error = conn.execute(sql, []).unwrap_err();
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
}

/// Regression: verify read a NULL key column as "", so a keyless event whose key column was set
/// to "" passed, and `show ""` found it.
#[test]
fn a_keyless_event_given_an_empty_key_column_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    small_log(&path);
    behind_the_stores_back(&path, |conn| {
        conn.execute("UPDATE events SET key = '' WHERE seq = 3", [])
            .map(|_| ())
    })
    .unwrap();
    expect_broken_at(&path, 3, "key");
}

/// A read checks that the text it hands on is UTF-8 (SQLite stores whatever bytes it is
/// given): bytes that are not, put into a row behind the store's back, are refused by name.
#[test]
fn a_read_refuses_text_that_is_not_utf8_naming_the_event_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    small_log(&path);
    for (column, seq) in [("content", 2), ("hash", 3)] {
        // The column's text with one byte (at 2) that cannot start a UTF-8 character.
        behind_the_stores_back(&path, |conn| {
            conn.execute(
                &format!(
                    "UPDATE events SET {column} = CAST(substr({column}, 1, 2) || X'FF' || substr({column}, 4) AS TEXT) WHERE seq = ?1"
                ),
                [seq],
            )
            .map(|_| ())
        })
        .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        match store.event(&EventRef::Seq(seq as u64)) {
            Err(StoreError::Broken { seq: at, reason }) => {
                assert_eq!(at, seq as u64, "{reason}");
                assert!(
                    reason.starts_with(&format!("{column} is not UTF-8"))
                        && reason.contains("index 2"),
                    "{reason}"
                );
            }
            other => panic!("expected the {column} of event {seq} refused, got {other:?}"),
        }
    }
}

/// Regression: verify checked a row's columns before its place in the sequence, so a row
/// copied to the end after a gap was reported at its own seq, not at the missing event before it.
#[test]
fn a_gap_is_reported_at_the_missing_event_not_at_the_row_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    small_log(&path);
    behind_the_stores_back(&path, |conn| {
        let columns = COLUMNS[1..].join(", ");
        conn.execute_batch(&format!(
            "INSERT INTO events (seq, {columns}) SELECT 5, stream, 9, 'a-kopia', kind, occurred, \
             occurred_first, occurred_last, recorded_at, schema_version, content, prev_hash, hash \
             FROM events WHERE seq = 1"
        ))
    })
    .unwrap();
    expect_broken_at(&path, 4, "missing");
}

/// Regression guard: an event rewritten with event schema 2 and a recomputed hash must fail,
/// although the database schema is now version 2.
#[test]
fn an_event_claiming_a_newer_event_schema_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    small_log(&path);
    let store = SqliteStore::open(&path).unwrap();
    let mut last = store.event(&EventRef::Seq(3)).unwrap().unwrap();
    drop(store);
    last.schema = 2;
    last.hash = lagesbild_model::chain_hash(&last.prev_hash, &last.canonical_envelope());
    behind_the_stores_back(&path, |conn| {
        conn.execute(
            "UPDATE events SET schema_version = 2, hash = ?1 WHERE seq = 3",
            [&last.hash],
        )
        .map(|_| ())
    })
    .unwrap();
    expect_broken_at(&path, 3, "schema");
}

/// Flips bytes of the raw file where a summary is stored: SQLite keeps no checksums, so the
/// changed text is read as it is, and verify must name its event.
#[test]
fn flipped_bytes_of_the_raw_file_inside_a_summary_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagesbild.db");
    let marker = "Sammanfattning med ett unikt märke ÅÄÖ \\\"citat\\\" och <b>";
    let generated = common::GeneratedLog {
        plans: Vec::new(),
        events: vec![
            serde_json::json!({"key": "a", "kind": "fact_reported", "occurred": "2019", "summary": "Först.", "source": {"title": "Källa"}}),
            serde_json::json!({"key": "b", "kind": "fact_reported", "occurred": "2020", "summary": marker.replace("\\\"", "\""), "source": {"title": "Källa"}}),
            serde_json::json!({"key": "c", "kind": "fact_reported", "occurred": "2021", "summary": "Sist.", "source": {"title": "Källa"}}),
        ],
        batch_sizes: vec![1],
    };
    build(&path, &generated);
    assert!(
        !path.with_extension("db-wal").exists(),
        "the log was checkpointed into the file on close"
    );
    let original = std::fs::read(&path).unwrap();
    let found: Vec<usize> = original
        .windows(marker.len())
        .enumerate()
        .filter(|(_, window)| *window == marker.as_bytes())
        .map(|(at, _)| at)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the summary is stored once, as the content's JSON text"
    );
    let start = found[0];
    for offset in 0..marker.len() {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut bytes = original.clone();
            bytes[start + offset] ^= mask;
            let copy = dir.path().join(format!("flip-{offset}-{mask}.db"));
            std::fs::write(&copy, &bytes).unwrap();
            match verify_file(&copy) {
                Err(StoreError::Broken { seq, reason }) => {
                    assert_eq!(seq, 2, "byte {offset} ^ {mask:#x}: {reason}")
                }
                other => panic!("byte {offset} ^ {mask:#x} was not caught: {other:?}"),
            }
            std::fs::remove_file(&copy).unwrap();
        }
    }
}
