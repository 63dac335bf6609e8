//! Every single-row edit, insertion or deletion in a cache table beside the log (the
//! checkpoints, the material index's rows, names and state, the published edition's outputs) is
//! either caught by `verify`, which names the table, or changes nothing a user reads: the report
//! of 27 December 2024, the waves and the published edition's page come out byte for byte as
//! from the untouched file.
//!
//! The log: the bundled history, filler facts up to 10,000 events (so a checkpoint is kept at
//! 10,000), then the week's notes and a figure, a correction and a retraction of them, so the
//! index holds corrected and ended versions too; and that report published, so the edition cache
//! holds its outputs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use lagesbild_app::{caches, replay, report};
use lagesbild_model::{FuzzyDate, parse_event};
use lagesbild_render::report::{ReportFormat, ReportRenderer, TemplateSet};
use lagesbild_store::{EventLog, SqliteStore};
use proptest::prelude::*;
use rusqlite::types::Value as SqlValue;

const TABLES: [&str; 5] = [
    "checkpoints",
    "material",
    "material_names",
    "material_position",
    "edition_outputs",
];

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 27).expect("a day")
}

struct Base {
    _dir: tempfile::TempDir,
    db: PathBuf,
    /// What users read from the untouched file.
    genuine: (String, String, String),
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("base.db");
        let mut store = SqliteStore::open(&db).expect("opens");
        let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&events)
            .expect("events/")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        let mut batch = Vec::new();
        for file in files {
            for line in std::fs::read_to_string(&file).expect("reads").lines() {
                let line = line.trim();
                if !line.is_empty() && !line.starts_with('#') {
                    batch.push(parse_event(line).expect("the bundled history is valid"));
                }
            }
        }
        let filler = 10_000 - batch.len();
        for i in 0..filler {
            batch.push(parse_event(&format!(
                r#"{{"kind":"fact_reported","occurred":"2024-{:02}","stream":"synt","summary":"Uppgift {i}.","source":{{"title":"Källa"}}}}"#,
                i % 12 + 1
            )).expect("valid"));
        }
        store.append(&batch, &[]).expect("appends");
        let week = [
            r#"{"key":"n1","kind":"situation_noted","occurred":"2024-12-23","stream":"rapport","summary":"Första noteringen.","data":{"section":"summary"}}"#,
            r#"{"key":"n2","kind":"situation_noted","occurred":"2024-12-24","stream":"rapport","summary":"Andra noteringen.","data":{"section":"operations"}}"#,
            r#"{"key":"f1","kind":"figure_reported","occurred":"2024-12-20","stream":"rapport","summary":"Konsulter.","data":{"figure":"konsulter","value":120,"unit":"st","label":"Konsulter"}}"#,
            r#"{"kind":"event_corrected","occurred":"2024-12-25","summary":"Rättelse.","data":{"target":{"key":"n1"},"reason":"Stavfel.","summary":"Första noteringen, rättad."}}"#,
            r#"{"kind":"event_retracted","occurred":"2024-12-25","summary":"Återkallad.","data":{"target":{"key":"n2"},"reason":"Fel."}}"#,
        ];
        store
            .append(
                &week.iter().map(|l| parse_event(l).expect("valid")).collect::<Vec<_>>(),
                &[],
            )
            .expect("appends");
        lagesbild_app::publish::publish(
            &mut store,
            &TemplateSet::embedded(),
            day(),
            day().and_hms_opt(11, 15, 0).expect("a time"),
            None,
        )
        .expect("publishes");
        let genuine = read(&mut store);
        assert!(genuine.0.contains("Första noteringen, rättad."));
        assert!(!genuine.0.contains("Andra noteringen."));
        assert!(store.load_checkpoint(replay::CHECKPOINT_NAME, lagesbild_timeline::PROJECTION_FORMAT, 10_005).expect("load").is_some());
        drop(store);
        let conn = rusqlite::Connection::open(&db).expect("opens");
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint the WAL");
        Base {
            _dir: dir,
            db,
            genuine,
        }
    })
}

/// The report (Markdown) and the waves (JSON) as a user reads them, and the published edition's
/// page (its HTML, from the edition cache when that holds).
fn read(store: &mut SqliteStore) -> (String, String, String) {
    let published = store.head().expect("head").seq;
    let edition = lagesbild_app::publish::view(
        store,
        &TemplateSet::embedded(),
        &lagesbild_store::EventRef::Seq(published),
        &mut Vec::new(),
    )
    .expect("views");
    assert!(edition.identical(), "the edition page says byte for byte");
    let edition = edition.text(ReportFormat::Html).expect("html").to_owned();
    // The report as of the log before the edition was published.
    let head = published - 1;
    let compiled = FuzzyDate::parse("2024-12-27T11:15").expect("a time");
    let model =
        report::build_model_noted(store, head, day(), compiled, &mut Vec::new()).expect("model");
    let md = ReportRenderer::new(TemplateSet::embedded(), ReportFormat::Markdown)
        .and_then(|r| r.render(&model, ReportFormat::Markdown))
        .expect("renders");
    let view = replay::programme_noted(store, head, &mut Vec::new())
        .expect("replay")
        .view(Some(day()));
    let waves = serde_json::to_string(&(&view.waves, &view.plans)).expect("JSON");
    (md, waves, edition)
}

#[derive(Clone, Debug)]
enum Change {
    /// Column `column` of row `row` gets a value derived from `noise`.
    Edit {
        column: usize,
        noise: u64,
    },
    Delete,
    /// A copy of the row with column `column` changed.
    Insert {
        column: usize,
        noise: u64,
    },
}

fn perturbed(value: &SqlValue, noise: u64) -> SqlValue {
    match value {
        SqlValue::Integer(n) => SqlValue::Integer(match noise % 3 {
            0 => n + 1,
            1 => n - 1,
            _ => (noise % 20_000) as i64,
        }),
        SqlValue::Text(text) => {
            let mut chars: Vec<char> = text.chars().collect();
            if chars.is_empty() || noise.is_multiple_of(4) {
                chars.push('x');
            } else {
                let i = (noise as usize / 4) % chars.len();
                chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
            }
            SqlValue::Text(chars.into_iter().collect())
        }
        SqlValue::Blob(bytes) => {
            let mut bytes = bytes.clone();
            if bytes.is_empty() {
                bytes.push(b'x');
            } else {
                let i = (noise as usize / 8) % bytes.len();
                bytes[i] ^= 1 << (noise % 8);
            }
            SqlValue::Blob(bytes)
        }
        SqlValue::Null => SqlValue::Integer((noise % 20_000) as i64),
        SqlValue::Real(r) => SqlValue::Real(r + 1.0),
    }
}

/// Applies `change` to row `row` (modulo the row count) of `table`; false when the table is
/// empty or the database refuses it (a key taken, a constraint), so nothing changed.
fn apply(db: &Path, table: &str, row: usize, change: &Change) -> bool {
    let conn = rusqlite::Connection::open(db).expect("opens");
    let columns: Vec<String> = conn
        .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
        .expect("the table")
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut statement = conn
        .prepare(&format!("SELECT * FROM {table}"))
        .expect("select");
    let rows: Vec<Vec<SqlValue>> = statement
        .query_map([], |r| {
            (0..columns.len())
                .map(|i| r.get::<_, SqlValue>(i))
                .collect()
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    drop(statement);
    if rows.is_empty() {
        return false;
    }
    let values = &rows[row % rows.len()];
    // Every column identifies the row: no two rows of a cache table are equal in all of them.
    let matches: Vec<String> = columns.iter().map(|c| format!("{c} IS ?")).collect();
    let matches = matches.join(" AND ");
    let result = match change {
        Change::Edit { column, noise } => {
            let column = column % columns.len();
            let mut params = vec![perturbed(&values[column], *noise)];
            params.extend(values.iter().cloned());
            conn.execute(
                &format!("UPDATE {table} SET {} = ? WHERE {matches}", columns[column]),
                rusqlite::params_from_iter(params),
            )
        }
        Change::Delete => conn.execute(
            &format!("DELETE FROM {table} WHERE {matches}"),
            rusqlite::params_from_iter(values.iter().cloned()),
        ),
        Change::Insert { column, noise } => {
            let column = column % columns.len();
            let mut copy = values.clone();
            copy[column] = perturbed(&values[column], *noise);
            let marks = vec!["?"; columns.len()].join(", ");
            conn.execute(
                &format!(
                    "INSERT INTO {table} ({}) VALUES ({marks})",
                    columns.join(", ")
                ),
                rusqlite::params_from_iter(copy),
            )
        }
    };
    matches!(result, Ok(1))
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), any::<u64>()).prop_map(|(column, noise)| Change::Edit { column, noise }),
        Just(Change::Delete),
        (any::<usize>(), any::<u64>()).prop_map(|(column, noise)| Change::Insert { column, noise }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        if std::env::var_os("LAGESBILD_SLOW_TESTS").is_some() { 120 } else { 24 }
    ))]

    #[test]
    fn every_single_row_change_of_a_cache_is_caught_by_verify_or_changes_nothing_read(
        table in 0..TABLES.len(),
        row in any::<usize>(),
        change in change(),
    ) {
        let base = base();
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("copy.db");
        std::fs::copy(&base.db, &db).expect("copy");
        let table = TABLES[table];
        let changed = apply(&db, table, row, &change);
        let mut store = SqliteStore::open(&db).expect("opens");
        let report = caches::verify(&store, false).expect("verify runs");
        if report.problems.is_empty() {
            prop_assert_eq!(&read(&mut store), &base.genuine, "{} {:?} changed what users read and verify missed it", table, change);
        } else {
            prop_assert!(changed, "verify found a problem in an untouched file: {:?}", report.problems);
            prop_assert!(
                report.problems.iter().any(|p| p.table == table),
                "{} {:?}: the problems do not name the table: {:?}", table, change, report.problems
            );
            // Whatever was caught, a read never prints something the log does not say: the
            // read refuses or rebuilds, or the change was one verify alone can see (an item
            // deleted or its end erased), which only leaves something out or puts back what
            // the log once said. A figure's only version up to the day deleted leaves the
            // figure out, and the section then says that none was reported.
            let (md, _, edition) = read(&mut store);
            prop_assert_eq!(&edition, &base.genuine.2, "{} {:?}: the edition page is the log's", table, change);
            for line in md.lines() {
                prop_assert!(
                    base.genuine.0.contains(line)
                        || line.contains("Andra noteringen.")
                        || line.contains("Första noteringen.")
                        || line == "- Inga nyckeltal rapporterade.",
                    "{} {:?} printed {:?}", table, change, line
                );
            }
        }
    }
}
