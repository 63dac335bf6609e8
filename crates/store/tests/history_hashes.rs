//! The bundled history's chain hashes are fixed: `events/*.jsonl` appended with a fixed clock
//! ends at the same head hash, and every event at the same chain hash, as the encoding gave
//! before the canonical writers were merged into one (issue 17). A change to the canonical
//! encoding that moves any byte of any envelope fails here, since every log already written
//! would then stop verifying.

use chrono::{DateTime, Utc};
use lagesbild_model::parse_event;
use lagesbild_store::{EventLog, EventRef, SqliteStore};

/// The head after the whole history, as computed before the change.
const HEAD_HASH: &str = "3db56d583bcf77b95898da5159dafd5df10b5ce92d4ad00c85193d31d8525ab0";

fn history() -> Vec<String> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("the events folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .expect("a history file")
                .lines()
                .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_bundled_history_keeps_its_chain_hashes() {
    let at: DateTime<Utc> = "2026-01-01T00:00:00.123456Z".parse().expect("a time");
    let mut store = SqliteStore::open_in_memory()
        .expect("store")
        .with_clock(move || at);
    let batch = history()
        .iter()
        .map(|line| parse_event(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect::<Vec<_>>();
    let count = batch.len() as u64;
    assert!(count > 100, "the history has {count} events");
    store.append(&batch, &[]).expect("appends");
    let head = store.head().expect("head");
    assert_eq!(head.seq, count);
    assert_eq!(head.hash, HEAD_HASH);
    // Every event reads back with the envelope its hash covers, and verify agrees.
    let report = store.verify(&mut |_| {}).expect("verifies");
    assert_eq!(report.count, count);
    let last = store
        .event(&EventRef::Seq(count))
        .expect("reads")
        .expect("there");
    assert_eq!(last.hash, HEAD_HASH);
}
