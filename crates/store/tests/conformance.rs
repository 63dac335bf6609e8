//! One suite of the store's behaviours, written once against [`Store`] and run against every
//! backend: SQLite (a temporary file) and PostgreSQL (a fresh database per case on the server
//! named by `LAGESBILD_TEST_PG`). Round trip of every kind, idempotent keys, expected versions,
//! tamper detection, export and restore with identical hashes, checkpoints, the material index
//! and the edition cache with their binding to the chain, restore emptying every cache, a
//! timeline page's reads equal to reading the log, the Merkle tree and signed tree heads, the
//! same failure the same `ErrorKind` with the same message, a writer refused as Busy after its
//! timeout, concurrent writers on separate connections and a reader polling past a slow writer.
//! PostgreSQL alone (`postgres_only`): eight writer processes, a deadlock reported as aborted
//! (to retry), and the roles docs/postgres.md documents, created from its SQL.
//!
//! Without `LAGESBILD_TEST_PG` the PostgreSQL cases say so loudly and pass on a developer's
//! machine, and fail under `CI=true`; `tools/with-postgres cargo test -p lagesbild-store --test
//! conformance` runs them against a throwaway cluster.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use chrono::NaiveDate;
use lagesbild_merkle::{
    MemoryTree, SignedTreeHead, SigningKey, TreeHead, root_of, signing_key_from_seed,
    verify_consistency, verify_inclusion,
};
use lagesbild_model::{KINDS, NewEvent, StoredEvent, parse_event, sha256_hex};
use lagesbild_store::{
    ErrorKind, EventLog, EventRef, Expectation, Filter, MaterialDigest, MaterialOrder,
    MaterialQuery, MaterialRow, Outcome, PostgresStore, SqliteStore, Store, StoreError,
    event_leaf_hash, scan, testing,
};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// Runs SQL behind a store's back, giving the database's message when it refuses.
type Raw = Box<dyn FnMut(&str) -> Result<(), String>>;

/// A store under test, and a way to change its tables behind its back.
struct Fresh {
    store: Box<dyn Store>,
    /// Runs SQL with the privileges of the database's owner, bypassing the store; the
    /// database's message when it refuses.
    raw: Raw,
    /// An SQL expression of 32 zero bytes, in this backend's dialect.
    zero_hash: &'static str,
    postgres: bool,
    /// Opens another connection to the same log.
    reopen: Box<dyn Fn() -> Box<dyn Store> + Send + Sync>,
    /// Opens another connection to the same log, or says why it cannot.
    try_reopen: Box<dyn Fn() -> Result<Box<dyn Store>, StoreError>>,
}

impl Fresh {
    /// Runs SQL behind the store's back; it must succeed.
    fn sql(&mut self, sql: &str) {
        if let Err(error) = (self.raw)(sql) {
            panic!("raw SQL {sql:?} fails: {error}");
        }
    }
}

type Open = fn() -> Option<Fresh>;

fn sqlite() -> Option<Fresh> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("log.db");
    let store = SqliteStore::open(&path)
        .expect("opens")
        .with_clock(common::ticking_clock("2026-11-23T08:00:00Z"));
    let raw_path = path.clone();
    let try_path = path.clone();
    // The folder lives as long as the closures that use it.
    let dir = std::sync::Arc::new(dir);
    let keep = dir.clone();
    Some(Fresh {
        store: Box::new(store),
        raw: Box::new(move |sql| {
            let _ = &keep;
            let conn = rusqlite::Connection::open(&raw_path).expect("opens");
            conn.execute_batch(sql).map_err(|e| e.to_string())
        }),
        zero_hash: "zeroblob(32)",
        postgres: false,
        try_reopen: Box::new(move || {
            SqliteStore::open(&try_path).map(|store| Box::new(store) as Box<dyn Store>)
        }),
        reopen: Box::new(move || {
            let _ = &dir;
            Box::new(SqliteStore::open(&path).expect("opens"))
        }),
    })
}

/// A new, empty database on the test server (`None`, said loudly, when there is none; a
/// failure under `CI=true`).
fn postgres_database() -> Option<String> {
    let url = testing::postgres_test_url("the store's conformance suite")?;
    Some(testing::fresh_database(&url, "lagesbild_test"))
}

fn postgres() -> Option<Fresh> {
    let url = postgres_database()?;
    let store = PostgresStore::open(&url)
        .expect("opens")
        .with_clock(common::ticking_clock("2026-11-23T08:00:00Z"));
    let raw_url = url.clone();
    let try_url = url.clone();
    Some(Fresh {
        store: Box::new(store),
        raw: Box::new(move |sql| {
            let mut client =
                postgres::Client::connect(&raw_url, postgres::NoTls).expect("connects");
            client
                .batch_execute(sql)
                .map_err(|e| match e.as_db_error() {
                    Some(db) => db.message().to_owned(),
                    None => e.to_string(),
                })
        }),
        zero_hash: "decode(repeat('00', 32), 'hex')",
        postgres: true,
        try_reopen: Box::new(move || {
            PostgresStore::open(&try_url).map(|store| Box::new(store) as Box<dyn Store>)
        }),
        reopen: Box::new(move || Box::new(PostgresStore::open(&url).expect("opens"))),
    })
}

fn event(line: &str) -> NewEvent {
    parse_event(line).expect("a valid event")
}

fn note(key: &str, stream: &str, text: &str) -> NewEvent {
    event(&format!(
        r#"{{"kind":"fact_reported","occurred":"2024-03","stream":"{stream}","key":"{key}","summary":"{text}","source":{{"title":"Källa"}},"data":{{"topic":"t"}}}}"#
    ))
}

/// A log in which every kind appears, from the shared generators, the same for every backend.
fn every_kind() -> common::GeneratedLog {
    let mut runner = TestRunner::deterministic();
    common::log(true, 0..12)
        .new_tree(&mut runner)
        .expect("a generated log")
        .current()
}

fn all(store: &dyn Store) -> Vec<StoredEvent> {
    scan(store, &Filter::default())
        .collect::<Result<_, _>>()
        .expect("reads")
}

fn round_trip_of_every_kind(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    let generated = every_kind();
    let kinds: BTreeSet<&str> = generated.plans.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, KINDS.iter().copied().collect::<BTreeSet<_>>());
    let expected = generated.expected().expect("expected events");
    let mut next = 1;
    for batch in generated.batches().expect("batches") {
        let report = store
            .append(&batch, &[])
            .expect("a valid batch is appended");
        for outcome in &report.outcomes {
            assert!(matches!(outcome, Outcome::Appended { seq, .. } if *seq == next));
            next += 1;
        }
        assert_eq!(report.head, store.head().expect("head"));
    }
    let events = all(store);
    assert_eq!(events.len(), expected.len());
    for (stored, appended) in events.iter().zip(&expected) {
        assert_eq!(&stored.event, appended, "event {} reads back", stored.seq);
        assert_eq!(
            store
                .event(&EventRef::Seq(stored.seq))
                .expect("by seq")
                .as_ref(),
            Some(stored)
        );
        if let Some(key) = &stored.event.key {
            assert_eq!(
                store
                    .event(&EventRef::Key(key.to_string()))
                    .expect("by key")
                    .as_ref(),
                Some(stored)
            );
        }
    }
    // Pages of every size give the same events; filters select the same ones on every backend.
    for size in [1, 3, 7] {
        let mut paged = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .read_page(&Filter::default(), after, size)
                .expect("page");
            let Some(last) = page.last() else { break };
            after = last.seq;
            paged.extend(page);
        }
        assert_eq!(paged, events);
        // Read event by event, the same pages give the same events.
        let mut each = Vec::new();
        let mut after = 0;
        loop {
            let read = store
                .read_each(&Filter::default(), after, size, &mut |event| {
                    after = event.seq;
                    each.push(event);
                })
                .expect("events");
            if read < size {
                break;
            }
        }
        assert_eq!(each, events, "read_each in pages of {size}");
    }
    // Under a filter of several kinds and a last seq, a read event by event is the page.
    let several = Filter {
        kinds: KINDS
            .iter()
            .step_by(3)
            .map(|kind| (*kind).to_owned())
            .collect(),
        max_seq: Some(events.len() as u64 - 2),
        ..Filter::default()
    };
    for after in [0, 3, events.len() as u64 / 2] {
        let page = store.read_page(&several, after, 5).expect("page");
        let mut each = Vec::new();
        let read = store
            .read_each(&several, after, 5, &mut |event| each.push(event))
            .expect("events");
        assert_eq!(read, page.len());
        assert_eq!(each, page, "read_each after {after} under {several:?}");
    }
    for kind in KINDS {
        let filter = Filter {
            kinds: vec![(*kind).to_owned()],
            ..Filter::default()
        };
        let found: Vec<u64> = scan(store, &filter)
            .map(|e| e.expect("reads").seq)
            .collect();
        let wanted: Vec<u64> = events
            .iter()
            .filter(|e| e.event.kind() == *kind)
            .map(|e| e.seq)
            .collect();
        assert_eq!(found, wanted, "kind {kind}");
    }
    let last = events.last().expect("events");
    assert_eq!(
        store.seq_known_at(&last.recorded_at).expect("known at"),
        last.seq
    );
    let report = store.verify(&mut |_| {}).expect("an honest log verifies");
    assert_eq!(report.count, expected.len() as u64);
    assert_eq!(report.head, store.head().expect("head"));
    assert_eq!(store.count().expect("count"), expected.len() as u64);
}

fn keys_are_idempotent(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    store
        .append(&[note("k-1", "s", "Ett."), note("k-2", "s", "Två.")], &[])
        .expect("appends");
    let again = store
        .append(&[note("k-1", "s", "Ett."), note("k-3", "s", "Tre.")], &[])
        .expect("the same key with the same content is already present");
    assert_eq!(again.outcomes[0], Outcome::AlreadyPresent { seq: 1 });
    assert!(matches!(
        again.outcomes[1],
        Outcome::Appended { seq: 3, .. }
    ));
    let head = store.head().expect("head");
    match store.append(
        &[note("k-4", "s", "Fyra."), note("k-2", "s", "Annat.")],
        &[],
    ) {
        Err(StoreError::KeyConflict { index, key, seq }) => {
            assert_eq!((index, key.as_str(), seq), (1, "k-2", 2));
        }
        other => panic!("a key with other content must be refused, got {other:?}"),
    }
    assert_eq!(store.head().expect("head"), head, "nothing was written");
    assert_eq!(store.count().expect("count"), 3);
}

fn expected_versions_are_checked(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    let expect = |stream: &str, version| Expectation {
        stream: stream.to_owned(),
        version,
    };
    store
        .append(&[note("a-1", "a", "Ett.")], &[expect("a", 0)])
        .expect("a new stream at version 0");
    match store.append(&[note("a-2", "a", "Två.")], &[expect("a", 0)]) {
        Err(StoreError::StaleVersion {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (0, 1)),
        other => panic!("a stale version must be refused, got {other:?}"),
    }
    let report = store
        .append(&[note("a-2", "a", "Två.")], &[expect("a", 1)])
        .expect("the current version");
    assert_eq!(
        report.outcomes[0],
        Outcome::Appended {
            seq: 2,
            stream_version: 2
        }
    );
    // A correction of an unknown key is refused naming the field, nothing written.
    let correction = event(
        r#"{"kind":"event_corrected","occurred":"2026-11-23","summary":"Rättelse.","data":{"target":{"key":"finns-inte"},"reason":"Fel.","summary":"Rätt."}}"#,
    );
    match store.append(&[correction], &[]) {
        Err(StoreError::Invalid { error, .. }) => assert_eq!(error.field, "data.target.key"),
        other => panic!("an unknown target must be refused, got {other:?}"),
    }
    assert_eq!(store.count().expect("count"), 2);
}

/// An edit made behind the store (with the append-only triggers switched off, as the owner of
/// the tables can) is found by `verify`, naming the event.
fn tampering_is_found(open: Open, postgres: bool) {
    let Some(mut fresh) = open() else { return };
    let batch: Vec<NewEvent> = (1..=5)
        .map(|i| note(&format!("t-{i}"), "s", &format!("Händelse {i}.")))
        .collect();
    fresh.store.append(&batch, &[]).expect("appends");
    fresh.store.verify(&mut |_| {}).expect("verifies");
    let edit =
        "UPDATE events SET content = replace(content, 'Händelse 3', 'Händelse 9') WHERE seq = 3";
    if postgres {
        // The triggers refuse the edit and TRUNCATE...
        assert!((fresh.raw)(edit).is_err(), "the trigger refuses UPDATE");
        assert!(
            (fresh.raw)("TRUNCATE events").is_err(),
            "the trigger refuses TRUNCATE"
        );
        // ...and a trigger switched off is itself a finding.
        fresh.sql("ALTER TABLE events DISABLE TRIGGER events_refuse_update");
        match fresh.store.verify(&mut |_| {}) {
            Err(StoreError::Broken { reason, .. }) => {
                assert!(reason.contains("events_refuse_update"), "{reason}")
            }
            other => panic!("a disabled trigger must fail verify, got {other:?}"),
        }
        fresh.sql(edit);
        fresh.sql("ALTER TABLE events ENABLE ALWAYS TRIGGER events_refuse_update");
    } else {
        fresh.sql(&format!(
            "DROP TRIGGER events_refuse_update; {edit}; \
             CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events \
             BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE is refused; append a correction instead'); END;"
        ));
    }
    match fresh.store.verify(&mut |_| {}) {
        Err(error @ StoreError::Broken { seq: 3, .. }) => {
            assert_eq!(error.kind(), ErrorKind::Storage)
        }
        other => panic!("an edited event must fail verify at 3, got {other:?}"),
    }
}

fn export_and_restore_keep_every_hash(from: Open, to: Open) {
    let Some(mut source) = from() else { return };
    let Some(mut target) = to() else { return };
    for batch in every_kind().batches().expect("batches") {
        source.store.append(&batch, &[]).expect("appends");
    }
    let events = all(source.store.as_ref());
    let mut iter = events.clone().into_iter().map(Ok);
    let restored = target.store.restore(&mut iter).expect("restores");
    assert_eq!(restored, events.len() as u64);
    assert_eq!(all(target.store.as_ref()), events);
    assert_eq!(
        target.store.verify(&mut |_| {}).expect("verifies").head,
        source.store.head().expect("head")
    );
    // A second restore into a log that holds events is refused.
    let mut again = events.clone().into_iter().map(Ok);
    assert!(matches!(
        target.store.restore(&mut again),
        Err(StoreError::NotEmpty { .. })
    ));
    // One altered hash refuses the whole restore, naming the event.
    let Some(mut empty) = to() else { return };
    let mut altered = events.clone();
    altered[2].hash = "0".repeat(64);
    let mut iter = altered.into_iter().map(Ok);
    match empty.store.restore(&mut iter) {
        Err(StoreError::Broken { seq, .. }) => assert_eq!(seq, 3),
        other => panic!("an altered hash must be refused, got {other:?}"),
    }
    assert_eq!(empty.store.count().expect("count"), 0, "nothing restored");
}

fn checkpoints_are_bound_to_the_chain(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    let batch: Vec<NewEvent> = (1..=4)
        .map(|i| note(&format!("c-{i}"), "s", &format!("Händelse {i}.")))
        .collect();
    store.append(&batch, &[]).expect("appends");
    store.save_checkpoint("p", 2, 1, b"two").expect("saves");
    store.save_checkpoint("p", 4, 1, b"four").expect("saves");
    store
        .save_checkpoint("p", 4, 1, b"four again")
        .expect("replaces");
    assert!(matches!(
        store.save_checkpoint("p", 5, 1, b"ahead"),
        Err(StoreError::CheckpointAhead { seq: 5, head: 4 })
    ));
    assert_eq!(
        store.load_checkpoint("p", 1, 3).expect("loads"),
        Some((2, b"two".to_vec()))
    );
    assert_eq!(
        store.load_checkpoint("p", 1, 10).expect("loads"),
        Some((4, b"four again".to_vec()))
    );
    assert_eq!(store.load_checkpoint("p", 2, 10).expect("loads"), None);
    // An edited digest (or state) is refused and the older one is used.
    fresh.sql("UPDATE checkpoints SET digest = 'edited' WHERE seq = 4");
    let load = fresh
        .store
        .load_checkpoint_checked("p", 1, 10, &|_| true)
        .expect("loads");
    assert_eq!(load.found, Some((2, b"two".to_vec())));
    assert_eq!(load.refused.len(), 1);
    assert_eq!(fresh.store.checkpoints().expect("rows").len(), 2);
    fresh.store.drop_checkpoints("p").expect("drops");
    assert!(fresh.store.checkpoints().expect("rows").is_empty());
}

/// Appends `per_writer` events of stream `w<writer>` in batches of 1 to 25, retrying a batch
/// refused as Busy or Conflict as it is; returns the seqs each batch was given.
fn write_batches(store: &mut dyn Store, writer: usize, per_writer: usize) -> Vec<Vec<u64>> {
    let mut written = 0;
    let mut batches = Vec::new();
    let mut round = 0;
    while written < per_writer {
        let size = (1 + (writer + round) % 25).min(per_writer - written);
        let batch: Vec<NewEvent> = (written..written + size)
            .map(|i| note(&format!("w{writer}-{i}"), &format!("w{writer}"), "Skrivet."))
            .collect();
        let report = loop {
            match store.append(&batch, &[]) {
                Ok(report) => break report,
                Err(error) if error.is_retryable() => continue,
                Err(other) => panic!("writer {writer}: {other}"),
            }
        };
        let seqs: Vec<u64> = report
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Appended { seq, .. } => *seq,
                Outcome::AlreadyPresent { .. } => panic!("every key is new"),
            })
            .collect();
        batches.push(seqs);
        written += size;
        round += 1;
    }
    batches
}

/// What concurrent writers must leave: each batch contiguous, every seq given once and to the
/// writer whose event it holds, no gap, every event once, and a log that verifies.
fn check_gapless(store: &dyn Store, batches: Vec<Vec<Vec<u64>>>, total: u64) {
    let mut owner: BTreeMap<u64, usize> = BTreeMap::new();
    for (writer, batches) in batches.into_iter().enumerate() {
        for batch in batches {
            assert!(
                batch.windows(2).all(|w| w[1] == w[0] + 1),
                "a batch is contiguous: {batch:?}"
            );
            for seq in batch {
                assert!(owner.insert(seq, writer).is_none(), "seq {seq} given twice");
            }
        }
    }
    assert_eq!(
        owner.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>(),
        "gapless"
    );
    let report = store.verify(&mut |_| {}).expect("the log verifies");
    assert_eq!(report.count, total);
    let events = all(store);
    let keys: BTreeSet<String> = events
        .iter()
        .map(|e| e.event.key.as_ref().expect("keyed").to_string())
        .collect();
    assert_eq!(keys.len(), events.len(), "every event once");
    for event in &events {
        let writer = event.event.stream.as_str()[1..]
            .parse::<usize>()
            .expect("w<n>");
        assert_eq!(
            owner[&event.seq], writer,
            "event {} is its writer's",
            event.seq
        );
    }
}

/// Eight writers on connections of their own (threads of this process), each appending batches
/// of its own stream: every event once, in gapless order, each batch contiguous, and the log
/// verifies.
fn concurrent_writers_keep_the_log_gapless(open: Open, per_writer: usize) {
    let Some(fresh) = open() else { return };
    const WRITERS: usize = 8;
    let reopen = std::sync::Arc::new(fresh.reopen);
    let threads: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let reopen = reopen.clone();
            std::thread::spawn(move || write_batches(reopen().as_mut(), writer, per_writer))
        })
        .collect();
    let batches = threads
        .into_iter()
        .map(|thread| thread.join().expect("the writer finished"))
        .collect();
    check_gapless(reopen().as_ref(), batches, (WRITERS * per_writer) as u64);
}

/// A writer that holds the append lock for a long while (its in-transaction check sleeps)
/// while others append and a reader polls for the events after the last one it saw: the reader
/// never sees a later event before an earlier one, so it never skips one.
fn a_polling_reader_never_skips_past_a_slow_writer(open: Open) {
    let Some(fresh) = open() else { return };
    let reopen = std::sync::Arc::new(fresh.reopen);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slow = {
        let reopen = reopen.clone();
        std::thread::spawn(move || {
            let mut store = reopen();
            for i in 0..6 {
                store
                    .append_checked(
                        &[note(&format!("slow-{i}"), "slow", "Långsam.")],
                        &[],
                        &mut |_, _| {
                            std::thread::sleep(std::time::Duration::from_millis(150));
                            Ok(())
                        },
                    )
                    .expect("the slow writer appends");
            }
        })
    };
    let fast: Vec<_> = (0..3)
        .map(|writer| {
            let reopen = reopen.clone();
            std::thread::spawn(move || {
                let mut store = reopen();
                for i in 0..40 {
                    store
                        .append(
                            &[note(&format!("fast-{writer}-{i}"), "fast", "Snabb.")],
                            &[],
                        )
                        .expect("a fast writer appends");
                }
            })
        })
        .collect();
    let reader = {
        let reopen = reopen.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let store = reopen();
            let mut last = 0;
            let mut seen = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store
                    .read_page(&Filter::default(), last, 1_000)
                    .expect("polls");
                for event in page {
                    assert_eq!(
                        event.seq,
                        last + 1,
                        "the reader skipped past event {}",
                        last + 1
                    );
                    last = event.seq;
                    seen += 1;
                }
                if finished {
                    return seen;
                }
            }
        })
    };
    slow.join().expect("slow writer");
    for thread in fast {
        thread.join().expect("fast writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("the reader never skipped");
    assert_eq!(seen, 6 + 3 * 40);
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a day")
}

/// The index's row for event `seq` as a test fold makes it: class `note`, its key as name.
fn material_row(event: &StoredEvent, known_from: u64, name: &str, first: &str) -> MaterialRow {
    MaterialRow {
        seq: event.seq,
        known_from,
        known_until: None,
        class: "note".into(),
        name: name.into(),
        first_day: day(first),
        last_day: day("2024-03-31"),
        // Bytes that are not UTF-8, so that the column is really binary.
        item: [&[0u8, 0xff, 0xfe][..], event.hash.as_bytes()].concat(),
    }
}

/// The material index keeps its rows as written, finds the versions known at a position, and
/// records the position, the chain hash there and the digest of its rows, which are what a read
/// and `verify` check it against (the application's `material::state_problem`, `verify_index`).
fn the_material_index_is_bound_to_the_chain(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    let batch: Vec<NewEvent> = (1..=4)
        .map(|i| note(&format!("m-{i}"), "s", &format!("Notering {i}.")))
        .collect();
    store.append(&batch, &[]).expect("appends");
    let events = all(store);
    assert_eq!(store.material_state(1).expect("state"), None);
    // Names sort bytewise on every backend: "Z" < "a" < "å".
    let names = ["a", "Z", "å", "a"];
    {
        let mut writer = store.material_writer(1).expect("a writer");
        assert_eq!((writer.position(), writer.head()), (0, 4));
        let page = writer
            .read_page(&["fact_reported"], 0, 10)
            .expect("reads the log");
        assert_eq!(page, events);
        for (event, name) in events.iter().zip(names) {
            writer
                .insert(&material_row(event, event.seq, name, "2024-03-01"))
                .expect("inserts");
        }
        // Event 4 corrects the first item: its version ends and a new one is current.
        assert!(writer.current(1).expect("current").is_some());
        writer.end(1, 4).expect("ends");
        writer
            .insert(&material_row(&events[0], 4, "a", "2024-03-05"))
            .expect("inserts the corrected version");
        assert_eq!(
            writer.current(1).expect("current").map(|r| r.known_from),
            Some(4)
        );
        writer.commit(4).expect("commits");
    }
    let state = store.material_state(1).expect("state").expect("kept");
    assert_eq!(state.seq, 4);
    assert_eq!(
        Some(state.chain_hash.clone()),
        store.chain_hash_at(4).expect("hash")
    );
    assert_eq!(
        store.material_state(2).expect("state"),
        None,
        "another format"
    );
    assert_eq!(
        store.material_state_any().expect("state"),
        Some(state.clone())
    );
    let (rows, all_names) = store.material_all().expect("all rows");
    assert_eq!(rows.len(), 5);
    assert_eq!(
        all_names,
        [("note", "Z"), ("note", "a"), ("note", "å")]
            .map(|(c, n)| (c.to_owned(), n.to_owned()))
            .to_vec()
    );
    assert_eq!(MaterialDigest::of(&rows, &all_names).to_hex(), state.digest);
    assert_eq!(
        store.material_names("note").expect("names"),
        ["Z", "a", "å"]
    );
    let versions = store.material_versions(1).expect("versions");
    assert_eq!(
        versions
            .iter()
            .map(|r| (r.known_from, r.known_until))
            .collect::<Vec<_>>(),
        [(1, Some(4)), (4, None)]
    );
    assert_eq!(
        versions[0].item,
        material_row(&events[0], 1, "a", "2024-03-01").item
    );
    let query = |known_at| MaterialQuery::new("note", known_at);
    let seqs = |rows: Vec<MaterialRow>| -> Vec<(u64, u64)> {
        rows.iter().map(|r| (r.seq, r.known_from)).collect()
    };
    assert_eq!(
        seqs(store.material_rows(&query(3)).expect("rows")),
        [(1, 1), (2, 2), (3, 3)],
        "as known at 3: the first version, not yet the fourth item"
    );
    assert_eq!(
        seqs(store.material_rows(&query(4)).expect("rows")),
        [(1, 4), (2, 2), (3, 3), (4, 4)]
    );
    assert_eq!(
        seqs(
            store
                .material_rows(&MaterialQuery {
                    name: Some("a"),
                    ..query(4)
                })
                .expect("rows")
        ),
        [(1, 4), (4, 4)]
    );
    assert_eq!(
        seqs(
            store
                .material_rows(&MaterialQuery {
                    order: MaterialOrder::NameDescending,
                    limit: Some(2),
                    ..query(4)
                })
                .expect("rows")
        ),
        [(3, 3), (4, 4)],
        "å, then the later a"
    );
    assert_eq!(
        seqs(
            store
                .material_rows(&MaterialQuery {
                    name_below: Some("a"),
                    ..query(4)
                })
                .expect("rows")
        ),
        [(2, 2)]
    );
    assert_eq!(
        seqs(
            store
                .material_rows(&MaterialQuery {
                    order: MaterialOrder::LatestDay,
                    first_day_from: Some(day("2024-03-02")),
                    first_day_to: Some(day("2024-03-31")),
                    last_day_from: Some(day("2024-03-31")),
                    ..query(4)
                })
                .expect("rows")
        ),
        [(1, 4)]
    );
    // An edit behind the store leaves the recorded digest standing against other rows, and a
    // state bound to another chain hash no longer matches the log: what reads and verify find.
    fresh.sql("UPDATE material SET name = 'b' WHERE seq = 2");
    let (rows, all_names) = fresh.store.material_all().expect("all rows");
    assert_ne!(MaterialDigest::of(&rows, &all_names).to_hex(), state.digest);
    fresh.sql(&format!(
        "UPDATE material_position SET chain_hash = '{}'",
        "0".repeat(64)
    ));
    let edited = fresh.store.material_state(1).expect("state").expect("kept");
    assert_ne!(
        Some(edited.chain_hash),
        fresh.store.chain_hash_at(edited.seq).expect("hash")
    );
    let store = fresh.store.as_mut();
    // A writer dropped without commit keeps nothing; a position past the head is refused.
    {
        let mut writer = store.material_writer(1).expect("a writer");
        writer.end(2, 4).expect("ends");
    }
    assert_eq!(
        store.material_versions(2).expect("versions")[0].known_until,
        None
    );
    let writer = store.material_writer(1).expect("a writer");
    assert!(matches!(writer.commit(5), Err(StoreError::CacheDamaged(_))));
    // A writer of another format starts from an empty index.
    {
        let writer = store.material_writer(2).expect("a writer");
        assert_eq!(writer.position(), 0);
        writer.commit(0).expect("commits");
    }
    assert_eq!(store.material_all().expect("all").0.len(), 0);
    let state = store.material_state(2).expect("state").expect("kept");
    assert_eq!((state.seq, state.chain_hash), (0, "0".repeat(64)));
    store.drop_material().expect("drops");
    assert_eq!(store.material_state_any().expect("state"), None);
}

/// Several connections catching the index up at once (as several servers do on their first
/// report) each wait for the other: every event is folded once, and the state is the last one.
fn concurrent_catch_ups_of_the_material_index_fold_each_event_once(open: Open) {
    let Some(mut fresh) = open() else { return };
    let batch: Vec<NewEvent> = (1..=30)
        .map(|i| note(&format!("c-{i}"), "s", &format!("Notering {i}.")))
        .collect();
    fresh.store.append(&batch, &[]).expect("appends");
    let reopen = std::sync::Arc::new(fresh.reopen);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let reopen = reopen.clone();
            std::thread::spawn(move || {
                let mut store = reopen();
                loop {
                    let mut writer = match store.material_writer(1) {
                        Ok(writer) => writer,
                        Err(StoreError::Busy { .. }) => continue,
                        Err(other) => panic!("a writer: {other}"),
                    };
                    let page = writer
                        .read_page(&["fact_reported"], writer.position(), 1_000)
                        .expect("reads");
                    for event in &page {
                        let key = event.event.key.as_ref().expect("keyed").to_string();
                        writer
                            .insert(&material_row(event, event.seq, &key, "2024-03-01"))
                            .expect("inserts");
                    }
                    // Long enough that the others wait for this one.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    let head = writer.head();
                    writer.commit(head).expect("commits");
                    return;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a catch-up finished");
    }
    let store = reopen();
    let (rows, names) = store.material_all().expect("all rows");
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    let state = store.material_state(1).expect("state").expect("kept");
    assert_eq!(state.seq, 30);
    assert_eq!(MaterialDigest::of(&rows, &names).to_hex(), state.digest);
}

/// The edition cache keeps a published edition's outputs as given, each bound to the chain hash
/// of the edition's event and with the SHA-256 of its bytes (what `edition_cache::view` checks
/// against the event), replaces them per template set, and refuses an event the log lacks.
fn the_edition_cache_is_bound_to_the_chain(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    let batch: Vec<NewEvent> = (1..=3)
        .map(|i| note(&format!("e-{i}"), "s", &format!("Händelse {i}.")))
        .collect();
    store.append(&batch, &[]).expect("appends");
    assert_eq!(
        store.newest_of_kind("fact_reported").expect("newest"),
        Some(3)
    );
    assert_eq!(
        store.newest_of_kind("report_published").expect("newest"),
        None
    );
    let binary: &[u8] = &[0, 0xff, b'%', b'P', b'D', b'F', 0];
    store
        .save_edition_outputs(
            2,
            "digest-a",
            &[
                ("md", b"# Rapport\n"),
                ("html", b"<h1>Rapport</h1>"),
                ("pdf", binary),
            ],
        )
        .expect("saves");
    let kept = store
        .edition_outputs(2, "digest-a")
        .expect("reads")
        .expect("kept");
    let hash_2 = store.chain_hash_at(2).expect("hash").expect("event 2");
    assert_eq!(kept.chain_hashes, vec![hash_2.clone(); 3]);
    assert_eq!(
        kept.outputs
            .iter()
            .map(|o| o.format.as_str())
            .collect::<Vec<_>>(),
        ["html", "md", "pdf"],
        "in format name order"
    );
    for output in &kept.outputs {
        assert_eq!(output.sha256, sha256_hex(&output.bytes));
    }
    assert_eq!(kept.outputs[2].bytes, binary);
    assert_eq!(store.edition_outputs(2, "digest-b").expect("reads"), None);
    assert_eq!(store.edition_outputs(3, "digest-a").expect("reads"), None);
    // Saving again for the same templates replaces; another template set is kept beside.
    store
        .save_edition_outputs(2, "digest-a", &[("md", b"# Rapport igen\n")])
        .expect("replaces");
    store
        .save_edition_outputs(2, "digest-b", &[("md", b"# Annan mall\n")])
        .expect("saves");
    store
        .save_edition_outputs(3, "digest-a", &[("md", b"# Tre\n")])
        .expect("saves");
    let kept = store
        .edition_outputs(2, "digest-a")
        .expect("reads")
        .expect("kept");
    assert_eq!(kept.outputs.len(), 1);
    assert_eq!(kept.outputs[0].bytes, b"# Rapport igen\n");
    assert_eq!(store.edition_output_rows().expect("rows"), 3);
    let every = store.all_edition_outputs().expect("all");
    assert_eq!(
        every
            .iter()
            .map(|e| (e.seq, e.template_digest.as_str(), e.outputs.len()))
            .collect::<Vec<_>>(),
        [(2, "digest-a", 1), (2, "digest-b", 1), (3, "digest-a", 1)]
    );
    // An event the log does not hold is refused, nothing kept.
    for seq in [0, 4] {
        assert!(matches!(
            store.save_edition_outputs(seq, "digest-a", &[("md", b"x")]),
            Err(StoreError::NotFound(_))
        ));
    }
    assert_eq!(store.edition_output_rows().expect("rows"), 3);
    // A row edited behind the store is returned as it is, for the caller to refuse: its
    // binding no longer matches the log, or its bytes no longer hash to what it records.
    fresh.sql(&format!(
        "UPDATE edition_outputs SET chain_hash = '{}' WHERE seq = 3",
        "1".repeat(64)
    ));
    fresh.sql(
        "UPDATE edition_outputs SET sha256 = 'forged' WHERE seq = 2 AND template_digest = 'digest-b'",
    );
    let forged = fresh
        .store
        .edition_outputs(3, "digest-a")
        .expect("reads")
        .expect("kept");
    assert_ne!(
        Some(forged.chain_hashes[0].clone()),
        fresh.store.chain_hash_at(3).expect("hash")
    );
    let forged = fresh
        .store
        .edition_outputs(2, "digest-b")
        .expect("reads")
        .expect("kept");
    assert_ne!(
        forged.outputs[0].sha256,
        sha256_hex(&forged.outputs[0].bytes)
    );
    fresh.store.drop_edition_outputs(2).expect("drops");
    assert_eq!(
        fresh.store.edition_outputs(2, "digest-a").expect("reads"),
        None
    );
    assert_eq!(fresh.store.edition_output_rows().expect("rows"), 1);
}

/// A restore replaces the log, so every cache describing the old one is emptied.
fn restore_empties_the_caches(open: Open) {
    let Some(mut source) = open() else { return };
    let Some(mut target) = open() else { return };
    let batch: Vec<NewEvent> = (1..=3)
        .map(|i| note(&format!("r-{i}"), "s", &format!("Händelse {i}.")))
        .collect();
    source.store.append(&batch, &[]).expect("appends");
    let events = all(source.store.as_ref());
    // Rows a cache could hold for the log being restored, bound to its chain hash at event 1
    // (left by an earlier log, or written behind the store): had restore kept them, they would
    // pass their binding and be served.
    let first_hash = &events[0].hash;
    let zero = target.zero_hash;
    target.sql(&format!(
        "INSERT INTO edition_outputs (seq, chain_hash, template_digest, format, sha256, bytes) \
         VALUES (1, '{first_hash}', 'mallar', 'md', '{}', {zero})",
        sha256_hex(&[0; 32])
    ));
    target.sql(&format!(
        "INSERT INTO checkpoints (name, seq, format, chain_hash, digest, state) \
         VALUES ('q', 1, 1, '{first_hash}', '{}', {zero})",
        sha256_hex(&[0; 32])
    ));
    let store = target.store.as_mut();
    let writer = store.material_writer(1).expect("a writer");
    writer.commit(0).expect("commits an empty index");
    store.save_checkpoint("p", 0, 1, b"empty").expect("saves");
    store.tree_catch_up().expect("an empty tree");
    sign_head(store, 1);
    assert!(store.material_state(1).expect("state").is_some());
    assert_eq!(store.edition_output_rows().expect("rows"), 1);
    let mut iter = events.into_iter().map(Ok);
    store.restore(&mut iter).expect("restores");
    assert_eq!(store.material_state_any().expect("state"), None);
    assert!(store.checkpoints().expect("rows").is_empty());
    assert_eq!(store.load_checkpoint("q", 1, 3).expect("reads"), None);
    assert_eq!(store.edition_output_rows().expect("rows"), 0);
    assert_eq!(store.edition_outputs(1, "mallar").expect("reads"), None);
    assert!(store.all_edition_outputs().expect("rows").is_empty());
    assert_eq!(store.tree_size().expect("size"), 0);
    // Signed heads are evidence, not a cache: they stay, and the restored log extends them.
    assert_eq!(store.tree_heads().expect("heads").len(), 1);
    store.verify_tree(None, &mut |_| {}).expect("verifies");
}

/// Each kind of failure, caused the same way on every backend, is the same [`ErrorKind`] with
/// the same message: what a caller branches on (the web app's status) and shows people does not
/// depend on the backend.
fn the_same_failure_is_the_same_kind_on_every_backend(open: Open) {
    let Some(mut fresh) = open() else { return };
    let postgres = fresh.postgres;
    let store = fresh.store.as_mut();
    let expect = |stream: &str, version| Expectation {
        stream: stream.to_owned(),
        version,
    };
    store
        .append(
            &[note("f-1", "a", "Ett."), note("f-2", "a", "Två.")],
            &[expect("a", 0)],
        )
        .expect("appends");
    let mut seen: Vec<(&str, ErrorKind, String)> = Vec::new();
    let mut failure = |what: &'static str, result: Result<(), StoreError>| match result {
        Err(error) => seen.push((what, error.kind(), error.to_string())),
        Ok(()) => panic!("{what} must fail"),
    };
    failure(
        "a key with other content",
        store
            .append(&[note("f-3", "a", "Tre."), note("f-1", "a", "Annat.")], &[])
            .map(|_| ()),
    );
    failure(
        "a stale expected version",
        store
            .append(&[note("f-3", "a", "Tre.")], &[expect("a", 1)])
            .map(|_| ()),
    );
    failure(
        "a correction of an unknown key",
        store
            .append(
                &[event(
                    r#"{"kind":"event_corrected","occurred":"2026-11-23","summary":"Rättelse.","data":{"target":{"key":"finns-inte"},"reason":"Fel.","summary":"Rätt."}}"#,
                )],
                &[],
            )
            .map(|_| ()),
    );
    failure(
        "a checkpoint past the head",
        store.save_checkpoint("p", 3, 1, b"state"),
    );
    failure(
        "edition outputs past the head",
        store.save_edition_outputs(3, "mallar", &[("md", b"text")]),
    );
    store.tree_catch_up().expect("catches up");
    failure("a root past the tree", store.tree_root(3).map(|_| ()));
    failure(
        "an inclusion proof of event 0",
        store.tree_inclusion_path(0, 2).map(|_| ()),
    );
    let events = all(store);
    failure(
        "a restore into a log that holds events",
        store.restore(&mut events.into_iter().map(Ok)).map(|_| ()),
    );
    assert_eq!(
        store.count().expect("count"),
        2,
        "no failure wrote anything"
    );
    let bump = if postgres {
        "INSERT INTO schema_version (version) VALUES (999)"
    } else {
        "PRAGMA user_version = 999"
    };
    fresh.sql(bump);
    let newer = (fresh.try_reopen)();
    failure("a schema newer than this program", newer.map(|_| ()));
    let supported = if postgres {
        lagesbild_store::POSTGRES_SCHEMA_VERSION as i64
    } else {
        lagesbild_store::SUPPORTED_SCHEMA_VERSION
    };
    let expected: Vec<(&str, ErrorKind, String)> = vec![
        (
            "a key with other content",
            ErrorKind::Conflict,
            "event 1 of the batch: key \"f-1\" is already in the log as event 1 with different content".into(),
        ),
        (
            "a stale expected version",
            ErrorKind::Conflict,
            "stream \"a\" is at version 2, not the expected 1; nothing was written".into(),
        ),
        (
            "a correction of an unknown key",
            ErrorKind::Invalid,
            "event 0 of the batch: field \"data.target.key\": no event with key \"finns-inte\" is in the log".into(),
        ),
        (
            "a checkpoint past the head",
            ErrorKind::NotFound,
            "a checkpoint at event 3 is past the head of the log (event 2)".into(),
        ),
        (
            "edition outputs past the head",
            ErrorKind::NotFound,
            "no edition outputs are kept for event 3: the log holds events 1 to 2".into(),
        ),
        (
            "a root past the tree",
            ErrorKind::NotFound,
            "the tree covers 2 events, not 3".into(),
        ),
        (
            "an inclusion proof of event 0",
            ErrorKind::NotFound,
            "there is no event 0".into(),
        ),
        (
            "a restore into a log that holds events",
            ErrorKind::Conflict,
            "restore needs an empty database; this one holds 2 events".into(),
        ),
        (
            "a schema newer than this program",
            ErrorKind::Storage,
            format!(
                "the database has schema version 999, newer than this program understands ({supported}); use a newer lagesbild"
            ),
        ),
    ];
    assert_eq!(seen, expected);
    for (what, kind, _) in &expected {
        let retryable = *kind == ErrorKind::Busy;
        assert!(!retryable, "{what} is not to be retried as it is");
    }
}

/// A timeline page's reads (`scan_by_day`, `events_at`, `amendments_of`, `period_facts`,
/// `redatings`), which each backend answers from its indexes, give what reading the whole log
/// gives (the trait's default), at every log position, for every target set and window.
fn the_window_reads_equal_reading_the_log(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    let fact = |key: &str, occurred: &str| {
        event(&format!(
            r#"{{"kind":"fact_reported","occurred":"{occurred}","key":"{key}","summary":"Fakta {key}.","source":{{"title":"Källa"}},"data":{{"topic":"t"}}}}"#
        ))
    };
    let dates = [
        "2020",
        "2020-H1",
        "2019/2020",
        "2020-01",
        "2020-03-02",
        "2020-03-02T08:30",
        "2021-05-05",
        "hösten 2021",
        "2024-01/2024-03",
        "2020-03-02",
    ];
    let facts: Vec<NewEvent> = dates
        .iter()
        .enumerate()
        .map(|(i, date)| fact(&format!("f{i}"), date))
        .collect();
    store.append(&facts, &[]).expect("appends the facts");
    store
        .append(
            &[event(
                r#"{"kind":"plan_revised","occurred":"2020-03-02","summary":"Plan.","source":{"title":"K"},"data":{"waves":[{"wave":"w","area":"A","planned":"2030"}]}}"#,
            )],
            &[],
        )
        .expect("appends a plan");
    let amendments = [
        r#"{"kind":"event_corrected","occurred":"2026-11-23","summary":"Nytt datum.","data":{"target":{"key":"f4"},"reason":"Fel dag.","occurred":"2020-04-01"}}"#,
        r#"{"kind":"event_corrected","occurred":"2026-11-23","summary":"Ny text.","data":{"target":{"seq":2},"reason":"Fel.","summary":"Rätt."}}"#,
        r#"{"kind":"event_retracted","occurred":"2026-11-24","summary":"Återkallad.","data":{"target":{"seq":7},"reason":"Gäller inte."}}"#,
        r#"{"kind":"event_corrected","occurred":"2026-11-25","summary":"Till ett år.","data":{"target":{"seq":4},"reason":"Osäkert.","occurred":"2021"}}"#,
        r#"{"kind":"event_retracted","occurred":"2026-11-26","summary":"Återkallad.","data":{"target":{"key":"f4"},"reason":"Fel."}}"#,
    ];
    for amendment in amendments {
        store
            .append(&[event(amendment)], &[])
            .expect("appends an amendment");
        store
            .append(
                &[fact(
                    &format!("g{}", store.count().expect("count")),
                    "2020-H2",
                )],
                &[],
            )
            .expect("appends a fact after it");
    }
    let log = all(store);
    let head = log.len() as u64;
    let seqs = |events: Vec<StoredEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    let up_to = |max_seq: u64| log.iter().filter(move |e| e.seq <= max_seq);
    let day = |text: &str| text.parse::<NaiveDate>().expect("a day");
    let mut checked = 0;
    for max_seq in [0, 1, 5, 11, 13, 16, head, head + 10] {
        for targets in [
            vec![],
            vec![5],
            vec![2, 4, 5, 7],
            (1..=head).collect::<Vec<_>>(),
            vec![99],
        ] {
            let expected: Vec<u64> = up_to(max_seq)
                .filter(|e| {
                    e.event
                        .data
                        .target()
                        .and_then(|t| t.seq)
                        .is_some_and(|seq| targets.contains(&seq))
                })
                .map(|e| e.seq)
                .collect();
            let found = seqs(store.amendments_of(&targets, max_seq).expect("amendments"));
            assert_eq!(found, expected, "amendments of {targets:?} up to {max_seq}");
            checked += 1;
        }
        let expected: Vec<u64> = up_to(max_seq)
            .filter(|e| {
                e.event.data.kind() == "fact_reported" && e.event.occurred.precision().is_period()
            })
            .map(|e| e.seq)
            .collect();
        assert_eq!(
            seqs(store.period_facts(max_seq).expect("periods")),
            expected,
            "period facts up to {max_seq}"
        );
        let expected: Vec<u64> = up_to(max_seq)
            .filter(|e| {
                matches!(&e.event.data, lagesbild_model::EventData::EventCorrected(c) if c.occurred.is_some())
            })
            .map(|e| e.seq)
            .collect();
        assert_eq!(
            seqs(store.redatings(max_seq).expect("redatings")),
            expected,
            "redatings up to {max_seq}"
        );
        let windows = [
            (None, None),
            (Some(day("2020-01-01")), Some(day("2020-03-02"))),
            (Some(day("2020-03-02")), None),
            (None, Some(day("2019-12-31"))),
        ];
        for (first_from, first_to) in windows {
            for kinds in [
                &["fact_reported"][..],
                &["fact_reported", "plan_revised"][..],
                &[][..],
            ] {
                for descending in [false, true] {
                    for limit in [0, 1, 3, 100] {
                        let mut expected: Vec<(NaiveDate, u64, String)> = up_to(max_seq)
                            .filter(|e| kinds.contains(&e.event.data.kind()))
                            .map(|e| {
                                (
                                    e.event.occurred.first_day(),
                                    e.seq,
                                    e.event.occurred.to_string(),
                                )
                            })
                            .filter(|(first, _, _)| {
                                first_from.is_none_or(|from| *first >= from)
                                    && first_to.is_none_or(|to| *first <= to)
                            })
                            .collect();
                        expected.sort();
                        if descending {
                            expected.reverse();
                        }
                        expected.truncate(limit);
                        let expected: Vec<(u64, String)> = expected
                            .into_iter()
                            .map(|(_, seq, date)| (seq, date))
                            .collect();
                        let found: Vec<(u64, String)> = store
                            .scan_by_day(&lagesbild_store::DayScan {
                                kinds,
                                max_seq,
                                first_from,
                                first_to,
                                descending,
                                limit,
                            })
                            .expect("scans")
                            .into_iter()
                            .map(|(seq, date)| (seq, date.to_string()))
                            .collect();
                        assert_eq!(
                            found, expected,
                            "{kinds:?} from {first_from:?} to {first_to:?} up to {max_seq}, descending {descending}, limit {limit}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    for wanted in [
        vec![],
        vec![3, 1, 3, 99],
        (0..=head + 2).rev().collect::<Vec<_>>(),
    ] {
        let mut expected: Vec<u64> = wanted
            .iter()
            .copied()
            .filter(|s| (1..=head).contains(s))
            .collect();
        expected.sort();
        expected.dedup();
        let found = store.events_at(&wanted).expect("events");
        assert_eq!(seqs(found.clone()), expected, "events at {wanted:?}");
        for event in found {
            assert_eq!(
                Some(&event),
                log.get(event.seq as usize - 1),
                "event {} as read",
                event.seq
            );
        }
    }
    assert!(checked > 500, "{checked} reads compared");
}

fn leaves(store: &dyn Store) -> Vec<[u8; 32]> {
    all(store)
        .iter()
        .map(|e| event_leaf_hash(e).expect("leaf"))
        .collect()
}

fn tree_key() -> SigningKey {
    signing_key_from_seed(&[7u8; 32])
}

fn append_notes(store: &mut dyn Store, from: u64, to: u64) {
    let batch: Vec<NewEvent> = (from..=to)
        .map(|i| note(&format!("t-{i}"), "s", &format!("Händelse {i}.")))
        .collect();
    store.append(&batch, &[]).expect("appends");
}

fn sign_head(store: &mut dyn Store, timestamp_ms: u64) -> SignedTreeHead {
    let state = store.tree_catch_up().expect("catch up");
    let head = TreeHead {
        size: state.size,
        root: state.root,
        timestamp_ms,
    }
    .sign(&tree_key());
    store.insert_tree_head(&head).expect("insert");
    head
}

/// Caught up in steps, the stored tree equals the tree recomputed from the events at every
/// size, and every proof it gives verifies and equals the in-memory reference's.
fn the_stored_tree_equals_the_recomputed_one(open: Open) {
    let Some(mut fresh) = open() else { return };
    let store = fresh.store.as_mut();
    assert_eq!(store.tree_catch_up().expect("empty").size, 0);
    let mut total = 0;
    for step in [1u64, 1, 2, 5, 8, 16, 3, 31] {
        append_notes(store, total + 1, total + step);
        total += step;
        let state = store.tree_catch_up().expect("catch up");
        let all = leaves(store);
        assert_eq!(state.size, total);
        assert_eq!(store.tree_size().expect("size"), total);
        assert_eq!(state.root, root_of(&all));
        for size in 1..=total {
            assert_eq!(
                store.tree_root(size).expect("root"),
                root_of(&all[..size as usize])
            );
        }
    }
    let all = leaves(store);
    let mut reference = MemoryTree::from_leaves(all.iter().copied());
    for size in [1, 2, 7, 33, total] {
        let root = root_of(&all[..size as usize]);
        for seq in 1..=size {
            let path = store.tree_inclusion_path(seq, size).expect("path");
            assert_eq!(
                path,
                lagesbild_merkle::inclusion_path(&mut reference, seq - 1, size).expect("ref")
            );
            assert_eq!(
                verify_inclusion(&all[seq as usize - 1], seq - 1, size, &path, &root),
                Ok(())
            );
        }
        for first in 0..=size {
            let path = store.tree_consistency_path(first, size).expect("path");
            let first_root = root_of(&all[..first as usize]);
            assert_eq!(
                verify_consistency(first, size, &first_root, &root, &path),
                Ok(())
            );
        }
    }
    assert!(matches!(
        store.tree_inclusion_path(total + 1, total + 1),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.tree_root(total + 1),
        Err(StoreError::NotFound(_))
    ));
    let report = store.verify_tree(None, &mut |_| {}).expect("verifies");
    assert_eq!((report.size, report.stored_size), (total, total));
    assert_eq!(store.tree_rebuild().expect("rebuilds").root, root_of(&all));
}

/// Signed tree heads are kept in order, verify with their key and not another's, cannot be
/// changed or deleted, and a trigger switched off or dropped is itself a finding.
fn signed_tree_heads_verify_and_are_append_only(open: Open) {
    let Some(mut fresh) = open() else { return };
    append_notes(fresh.store.as_mut(), 1, 10);
    let first = sign_head(fresh.store.as_mut(), 1_000);
    append_notes(fresh.store.as_mut(), 11, 12);
    let second = sign_head(fresh.store.as_mut(), 2_000);
    assert_eq!(
        fresh.store.tree_heads().expect("heads"),
        vec![first.clone(), second]
    );
    assert_eq!(
        fresh.store.tree_head_of_size(10).expect("head"),
        Some(first)
    );
    let report = fresh
        .store
        .verify_tree(Some(&tree_key().verifying_key()), &mut |_| {})
        .expect("verifies");
    assert_eq!((report.size, report.heads), (12, 2));
    assert!(report.signatures_checked);
    let other = signing_key_from_seed(&[8u8; 32]).verifying_key();
    let error = fresh
        .store
        .verify_tree(Some(&other), &mut |_| {})
        .expect_err("refused");
    assert!(error.to_string().contains("signed tree head 1"), "{error}");
    let mut refused = vec![
        "UPDATE tree_heads SET size = 11",
        "DELETE FROM tree_heads WHERE id = 2",
    ];
    if fresh.postgres {
        refused.push("TRUNCATE tree_heads");
    }
    for sql in refused {
        let error = (fresh.raw)(sql).expect_err("refused");
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    fresh.sql(if fresh.postgres {
        "ALTER TABLE tree_heads DISABLE TRIGGER tree_heads_refuse_delete"
    } else {
        "DROP TRIGGER tree_heads_refuse_delete"
    });
    for result in [
        fresh.store.verify_tree(None, &mut |_| {}),
        fresh.store.verify_tree_quick(None),
    ] {
        match result {
            Err(StoreError::Broken { reason, .. }) => {
                assert!(reason.contains("tree_heads_refuse_delete"), "{reason}")
            }
            other => panic!("a switched-off trigger must fail verify, got {other:?}"),
        }
    }
}

/// A node edited, added or lost behind the store is found by `verify_tree`, naming it; a
/// position or last leaf that no longer matches the log makes the next catch-up rebuild.
fn a_tampered_tree_is_caught_or_rebuilt(open: Open) {
    let Some(mut fresh) = open() else { return };
    append_notes(fresh.store.as_mut(), 1, 20);
    let good = fresh.store.tree_catch_up().expect("catch up");
    let zero = fresh.zero_hash;
    for (level, idx) in [(0, 3), (2, 1), (4, 0)] {
        fresh.sql(&format!(
            "CREATE TABLE saved AS SELECT * FROM tree_nodes WHERE level = {level} AND idx = {idx}; \
             UPDATE tree_nodes SET hash = {zero} WHERE level = {level} AND idx = {idx}"
        ));
        let error = fresh
            .store
            .verify_tree(None, &mut |_| {})
            .expect_err("refused");
        assert!(
            error.to_string().contains(&format!(
                "tree_nodes: the node at level {level}, index {idx}"
            )),
            "{error}"
        );
        fresh.sql(&format!(
            "DELETE FROM tree_nodes WHERE level = {level} AND idx = {idx}; \
             INSERT INTO tree_nodes SELECT * FROM saved; DROP TABLE saved"
        ));
    }
    fresh
        .store
        .verify_tree(None, &mut |_| {})
        .expect("restored");
    fresh.sql(&format!(
        "INSERT INTO tree_nodes (level, idx, hash) VALUES (3, 7, {zero})"
    ));
    let error = fresh
        .store
        .verify_tree(None, &mut |_| {})
        .expect_err("refused");
    assert!(error.to_string().contains("holds"), "{error}");
    fresh.sql("DELETE FROM tree_nodes WHERE level = 3 AND idx = 7");
    fresh.sql("DELETE FROM tree_nodes WHERE level = 1 AND idx = 2");
    let error = fresh
        .store
        .verify_tree(None, &mut |_| {})
        .expect_err("refused");
    assert!(error.to_string().contains("is missing"), "{error}");
    fresh.store.tree_rebuild().expect("rebuilds");
    // A position claiming another chain hash, or a last leaf not the event's: rebuilt to the
    // same root.
    fresh.sql("UPDATE tree_position SET chain_hash = 'x'");
    assert_eq!(fresh.store.tree_catch_up().expect("rebuilt"), good);
    fresh.sql(&format!(
        "UPDATE tree_nodes SET hash = {zero} WHERE level = 0 AND idx = 19"
    ));
    assert_eq!(fresh.store.tree_catch_up().expect("rebuilt"), good);
    fresh
        .store
        .verify_tree(None, &mut |_| {})
        .expect("verifies");
}

/// `verify --quick` checks heads against the stored tree without recomputing it, falls back to
/// the full check where the stored tree does not reach a head, and finds a stale binding.
fn the_quick_check_uses_the_stored_tree_and_its_binding(open: Open) {
    let Some(mut fresh) = open() else { return };
    append_notes(fresh.store.as_mut(), 1, 10);
    sign_head(fresh.store.as_mut(), 1);
    append_notes(fresh.store.as_mut(), 11, 15);
    let quick = fresh
        .store
        .verify_tree_quick(Some(&tree_key().verifying_key()))
        .expect("quick");
    assert_eq!((quick.size, quick.heads), (10, 1), "not caught up");
    sign_head(fresh.store.as_mut(), 2);
    let quick = fresh.store.verify_tree_quick(None).expect("quick");
    assert_eq!(quick.size, 15);
    assert_eq!(
        quick.root,
        fresh
            .store
            .verify_tree(None, &mut |_| {})
            .expect("full")
            .root
    );
    fresh.sql("DELETE FROM tree_nodes");
    fresh.sql("DELETE FROM tree_position");
    assert_eq!(
        fresh
            .store
            .verify_tree_quick(None)
            .expect("falls back")
            .heads,
        2
    );
    fresh.store.tree_catch_up().expect("rebuilt");
    fresh.sql("UPDATE tree_position SET chain_hash = 'x'");
    let error = fresh
        .store
        .verify_tree_quick(None)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("do not match the log"), "{error}");
}

/// A signed head past the end of the log (the log was cut off) or with another root (the log
/// was rewritten) fails both checks.
fn a_head_past_the_log_or_with_another_root_is_caught(open: Open) {
    for (size, finding) in [
        (9, "covers 9 events but the log holds only 5"),
        (4, "is not the root of the log's first 4 events"),
    ] {
        let Some(mut fresh) = open() else { return };
        append_notes(fresh.store.as_mut(), 1, 5);
        let state = fresh.store.tree_catch_up().expect("catch up");
        let head = TreeHead {
            size,
            root: state.root,
            timestamp_ms: 5,
        }
        .sign(&tree_key());
        fresh.store.insert_tree_head(&head).expect("insert");
        let error = fresh
            .store
            .verify_tree(None, &mut |_| {})
            .expect_err("refused")
            .to_string();
        assert!(error.contains(finding), "{error}");
        assert!(fresh.store.verify_tree_quick(None).is_err());
    }
}

/// Several connections catching the tree up while others append: each catch-up gives a tree
/// that verifies, and the last one covers the whole log.
fn concurrent_catch_ups_of_the_tree_keep_it_whole(open: Open) {
    let Some(fresh) = open() else { return };
    let reopen = std::sync::Arc::new(fresh.reopen);
    let writer = {
        let reopen = reopen.clone();
        std::thread::spawn(move || {
            let mut store = reopen();
            for round in 0..20 {
                append_notes(store.as_mut(), round * 10 + 1, round * 10 + 10);
            }
        })
    };
    let catchers: Vec<_> = (0..3)
        .map(|_| {
            let reopen = reopen.clone();
            std::thread::spawn(move || {
                let mut store = reopen();
                for _ in 0..10 {
                    loop {
                        match store.tree_catch_up() {
                            Ok(state) => {
                                assert_eq!(state.root, store.tree_root(state.size).expect("root"));
                                break;
                            }
                            Err(StoreError::Busy { .. }) => continue,
                            Err(other) => panic!("a catch-up: {other}"),
                        }
                    }
                }
            })
        })
        .collect();
    writer.join().expect("the writer finished");
    for thread in catchers {
        thread.join().expect("a catch-up finished");
    }
    let mut store = reopen();
    assert_eq!(store.tree_catch_up().expect("catch up").size, 200);
    let report = store.verify_tree(None, &mut |_| {}).expect("verifies");
    assert_eq!((report.size, report.stored_size), (200, 200));
    assert_eq!(report.root, root_of(&leaves(store.as_ref())));
}

/// Runs `hold` on a connection of its own until it calls the function it is given, which
/// signals that it holds what it took and waits to be released; returns the thread and the
/// release.
fn holding(
    reopen: &std::sync::Arc<Box<dyn Fn() -> Box<dyn Store> + Send + Sync>>,
    hold: impl FnOnce(&mut dyn Store, &dyn Fn()) + Send + 'static,
) -> (std::thread::JoinHandle<()>, std::sync::mpsc::Sender<()>) {
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let reopen = reopen.clone();
    let thread = std::thread::spawn(move || {
        let mut store = reopen();
        hold(store.as_mut(), &|| {
            held_tx.send(()).expect("the test waits");
            release_rx.recv().expect("the test releases");
        });
    });
    held_rx.recv().expect("the holder took its lock");
    (thread, release_tx)
}

/// How long `work` took and what it gave.
fn timed<T>(work: impl FnOnce() -> T) -> (std::time::Duration, T) {
    let started = std::time::Instant::now();
    let result = work();
    (started.elapsed(), result)
}

/// A writer that waits longer than its busy timeout for another (an append held open, an
/// update of the material index) is refused with Busy, a message saying so, and nothing
/// written, after about that timeout; once the other is done it succeeds. On SQLite a catch-up
/// of the tree waits for an append (the file has one writer); on PostgreSQL neither a cache
/// update nor an append waits for the other.
fn a_writer_held_past_the_busy_timeout_is_busy(open: Open) {
    let Some(fresh) = open() else { return };
    let postgres = fresh.postgres;
    let reopen = std::sync::Arc::new(fresh.reopen);
    let mut store = reopen();
    store.set_busy_timeout(200).expect("sets the timeout");
    let expect_busy = |what: &str, waited: std::time::Duration, result: Result<(), StoreError>| {
        match result {
            Err(error @ StoreError::Busy { timeout_ms: 200 }) => {
                assert_eq!(error.kind(), ErrorKind::Busy);
                assert!(error.is_retryable());
                assert_eq!(
                    error.to_string(),
                    "the database stayed locked by another writer for more than 200 ms; nothing was written, try again"
                );
            }
            other => panic!("{what} must be refused as busy, got {other:?}"),
        }
        assert!(
            waited >= std::time::Duration::from_millis(150)
                && waited < std::time::Duration::from_secs(10),
            "{what} waited {waited:?} for a timeout of 200 ms"
        );
    };

    let (holder, release) = holding(&reopen, |store, hold| {
        store
            .append_checked(&[note("held", "s", "Håller.")], &[], &mut |_, _| {
                hold();
                Ok(())
            })
            .expect("the holder appends");
    });
    let (waited, result) = timed(|| {
        store
            .append(&[note("waits", "s", "Väntar.")], &[])
            .map(|_| ())
    });
    expect_busy("an append", waited, result);
    release.send(()).expect("releases");
    holder.join().expect("the holder finished");
    assert_eq!(
        store.count().expect("count"),
        1,
        "the refused batch wrote nothing"
    );
    store
        .append(&[note("waits", "s", "Väntar.")], &[])
        .expect("appends once the lock is free");

    let (holder, release) = holding(&reopen, |store, hold| {
        let writer = store.material_writer(1).expect("a writer");
        hold();
        writer.commit(0).expect("commits");
    });
    let (waited, result) = timed(|| store.material_writer(1).map(|_| ()));
    expect_busy("an update of the material index", waited, result);
    if postgres {
        // Here an update of a cache does not hold up appends.
        let (waited, appended) = timed(|| store.append(&[note("free", "s", "Fri.")], &[]));
        appended.expect("appends while the index is updated");
        assert!(waited < std::time::Duration::from_millis(150), "{waited:?}");
    }
    release.send(()).expect("releases");
    holder.join().expect("the holder finished");

    let (holder, release) = holding(&reopen, |store, hold| {
        store
            .append_checked(&[note("tree", "s", "Träd.")], &[], &mut |_, _| {
                hold();
                Ok(())
            })
            .expect("appends");
    });
    let (waited, result) = timed(|| store.tree_catch_up().map(|_| ()));
    if postgres {
        // A catch-up does not wait for an append either: it reads what is committed.
        result.expect("catches up while an append is held");
    } else {
        expect_busy("a catch-up of the tree", waited, result);
    }
    release.send(()).expect("releases");
    holder.join().expect("the holder finished");
    store.tree_catch_up().expect("catches up");
    store.verify(&mut |_| {}).expect("verifies");
}

/// The cases every backend runs, as one module per backend.
macro_rules! conformance {
    ($backend:ident, $open:expr, $postgres:expr, $writers:expr) => {
        mod $backend {
            use super::*;

            #[test]
            fn every_kind_round_trips() {
                super::round_trip_of_every_kind($open);
            }

            #[test]
            fn keys_are_idempotent_and_conflicts_write_nothing() {
                super::keys_are_idempotent($open);
            }

            #[test]
            fn expected_versions_and_targets_are_checked() {
                super::expected_versions_are_checked($open);
            }

            #[test]
            fn tampering_behind_the_store_is_found() {
                super::tampering_is_found($open, $postgres);
            }

            #[test]
            fn export_and_restore_keep_every_hash() {
                super::export_and_restore_keep_every_hash($open, $open);
            }

            #[test]
            fn checkpoints_are_bound_to_the_chain() {
                super::checkpoints_are_bound_to_the_chain($open);
            }

            #[test]
            fn the_material_index_is_bound_to_the_chain() {
                super::the_material_index_is_bound_to_the_chain($open);
            }

            #[test]
            fn concurrent_catch_ups_of_the_material_index_fold_each_event_once() {
                super::concurrent_catch_ups_of_the_material_index_fold_each_event_once($open);
            }

            #[test]
            fn the_edition_cache_is_bound_to_the_chain() {
                super::the_edition_cache_is_bound_to_the_chain($open);
            }

            #[test]
            fn the_same_failure_is_the_same_kind_on_every_backend() {
                super::the_same_failure_is_the_same_kind_on_every_backend($open);
            }

            #[test]
            fn the_window_reads_equal_reading_the_log() {
                super::the_window_reads_equal_reading_the_log($open);
            }

            #[test]
            fn restore_empties_the_caches() {
                super::restore_empties_the_caches($open);
            }

            #[test]
            fn the_stored_tree_equals_the_recomputed_one() {
                super::the_stored_tree_equals_the_recomputed_one($open);
            }

            #[test]
            fn signed_tree_heads_verify_and_are_append_only() {
                super::signed_tree_heads_verify_and_are_append_only($open);
            }

            #[test]
            fn a_tampered_tree_is_caught_or_rebuilt() {
                super::a_tampered_tree_is_caught_or_rebuilt($open);
            }

            #[test]
            fn the_quick_check_uses_the_stored_tree_and_its_binding() {
                super::the_quick_check_uses_the_stored_tree_and_its_binding($open);
            }

            #[test]
            fn a_head_past_the_log_or_with_another_root_is_caught() {
                super::a_head_past_the_log_or_with_another_root_is_caught($open);
            }

            #[test]
            fn concurrent_catch_ups_of_the_tree_keep_it_whole() {
                super::concurrent_catch_ups_of_the_tree_keep_it_whole($open);
            }

            #[test]
            fn a_writer_held_past_the_busy_timeout_is_busy() {
                super::a_writer_held_past_the_busy_timeout_is_busy($open);
            }

            #[test]
            fn concurrent_writers_keep_the_log_gapless() {
                super::concurrent_writers_keep_the_log_gapless($open, $writers);
            }

            #[test]
            fn a_polling_reader_never_skips_past_a_slow_writer() {
                super::a_polling_reader_never_skips_past_a_slow_writer($open);
            }
        }
    };
}

conformance!(on_sqlite, sqlite, false, 200);
conformance!(on_postgres, postgres, true, 250);

/// A log copied SQLite → PostgreSQL → SQLite through the interface keeps its head hash.
#[test]
fn a_log_copied_between_backends_keeps_its_head_hash() {
    export_and_restore_keep_every_hash(sqlite, postgres);
    export_and_restore_keep_every_hash(postgres, sqlite);
}

/// The variables that make this test binary one writer process of
/// `postgres_only::writer_processes_keep_the_log_gapless`.
const CHILD_URL: &str = "LAGESBILD_TEST_CHILD_URL";
const CHILD_WRITER: &str = "LAGESBILD_TEST_CHILD_WRITER";
const CHILD_EVENTS: &str = "LAGESBILD_TEST_CHILD_EVENTS";
const CHILD_OUT: &str = "LAGESBILD_TEST_CHILD_OUT";

/// One writer process of `postgres_only::writer_processes_keep_the_log_gapless`, which runs
/// this test binary with only this test and the `LAGESBILD_TEST_CHILD_*` variables set: it
/// appends its events and writes the seqs of each batch, a line per batch, to the file named.
/// Run without them (as every `cargo test` does) it has nothing to do.
#[test]
fn child_writer_process_when_spawned() {
    let (Ok(url), Ok(writer), Ok(events), Ok(out)) = (
        std::env::var(CHILD_URL),
        std::env::var(CHILD_WRITER),
        std::env::var(CHILD_EVENTS),
        std::env::var(CHILD_OUT),
    ) else {
        return;
    };
    let mut store = PostgresStore::open(&url).expect("the child connects");
    let batches = write_batches(
        &mut store,
        writer.parse().expect("a writer number"),
        events.parse().expect("a count"),
    );
    let lines: Vec<String> = batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(out, lines.join("\n")).expect("writes its batches");
}

/// The cases only PostgreSQL has: writers in processes of their own, a deadlock the server
/// breaks, and the roles docs/postgres.md documents.
mod postgres_only {
    use super::*;

    /// Eight writer processes, each on its own connection, a thousand events each in batches
    /// of 1 to 25: every event once, the sequence gapless, each batch contiguous, and the log
    /// verifies.
    #[test]
    fn writer_processes_keep_the_log_gapless() {
        const WRITERS: usize = 8;
        const EVENTS: usize = 1_000;
        let Some(url) = postgres_database() else {
            return;
        };
        PostgresStore::open(&url).expect("creates the schema");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let exe = std::env::current_exe().expect("this test binary");
        let children: Vec<_> = (0..WRITERS)
            .map(|writer| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "child_writer_process_when_spawned",
                        "--test-threads=1",
                        "--quiet",
                    ])
                    .env(CHILD_URL, &url)
                    .env(CHILD_WRITER, writer.to_string())
                    .env(CHILD_EVENTS, EVENTS.to_string())
                    .env(CHILD_OUT, dir.path().join(format!("w{writer}")))
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("starts a writer process")
            })
            .collect();
        for (writer, mut child) in children.into_iter().enumerate() {
            assert!(
                child.wait().expect("the writer ends").success(),
                "writer process {writer} failed"
            );
        }
        let batches = (0..WRITERS)
            .map(|writer| {
                std::fs::read_to_string(dir.path().join(format!("w{writer}")))
                    .expect("the writer's batches")
                    .lines()
                    .map(|line| {
                        line.split(' ')
                            .map(|seq| seq.parse().expect("a seq"))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let store = PostgresStore::open(&url).expect("opens");
        check_gapless(&store, batches, (WRITERS * EVENTS) as u64);
    }

    /// An append caught in a deadlock with another transaction (here one that inserted the
    /// same key and then asks for the append lock) is broken by the server after its deadlock
    /// timeout; the store reports it aborted, of kind Busy (retry as it is), nothing of it written,
    /// and the retry
    /// succeeds.
    #[test]
    fn a_deadlock_the_server_breaks_is_busy_to_retry() {
        let Some(url) = postgres_database() else {
            return;
        };
        let mut store = PostgresStore::open(&url).expect("opens");
        let mut other = postgres::Client::connect(&url, postgres::NoTls).expect("connects");
        other
            .batch_execute(
                "BEGIN; INSERT INTO events (seq, stream, stream_version, key, kind, occurred, \
                 occurred_first, occurred_last, recorded_at, schema_version, content, prev_hash, hash) \
                 VALUES (1000, 'annan', 1, 'dead-1', 'fact_reported', '2024', '2024-01-01', \
                 '2024-12-31', '2026-11-23T08:00:00Z', 1, '{}', 'p', 'h')",
            )
            .expect("the other transaction inserts");
        let appender = std::thread::spawn(move || {
            // Waits on the uncommitted key, holding the append lock.
            let result = store.append(&[note("dead-1", "s", "Låst.")], &[]);
            (store, result)
        });
        // The append waits first, so its deadlock check (after deadlock_timeout, 1 s) is the
        // one that finds the cycle.
        std::thread::sleep(std::time::Duration::from_millis(300));
        other
            .batch_execute("SELECT id FROM append_lock FOR UPDATE")
            .expect("gets the lock once the append is broken off");
        other.batch_execute("ROLLBACK").expect("rolls back");
        let (mut store, result) = appender.join().expect("the appender ends");
        match result {
            Err(error @ StoreError::Aborted { .. }) => {
                assert_eq!(error.kind(), ErrorKind::Busy);
                assert!(error.is_retryable());
                let message = error.to_string();
                assert!(message.contains("deadlock"), "{message}");
                assert!(
                    message.ends_with("nothing was written, try again"),
                    "{message}"
                );
            }
            other => panic!("a broken deadlock must be aborted, to retry, got {other:?}"),
        }
        assert_eq!(store.count().expect("count"), 0);
        let report = store
            .append(&[note("dead-1", "s", "Låst.")], &[])
            .expect("the retry appends");
        assert_eq!(report.head.seq, 1);
    }

    /// `url` with its user replaced by `user`.
    fn with_user(url: &str, user: &str) -> String {
        let start = url.find("://").expect("a URL") + 3;
        let end = url.find('@').expect("a user in the URL");
        format!("{}{user}{}", &url[..start], &url[end..])
    }

    /// The roles docs/postgres.md gives, created from its SQL as written: the writer appends
    /// and keeps every cache and signed tree heads, and cannot truncate, edit the log or the
    /// heads, or switch a trigger off; the auditor reads and verifies and cannot write.
    #[test]
    fn the_documented_roles_append_and_audit_and_nothing_more() {
        let Some(url) = postgres_database() else {
            return;
        };
        PostgresStore::open(&url).expect("creates the schema as the owner");
        let docs = include_str!("../../../docs/postgres.md");
        let roles = &docs[docs.find("## Roles").expect("a section Roles")..];
        let start = roles.find("```sql\n").expect("the roles' SQL") + 7;
        let end = roles[start..].find("```").expect("the block ends") + start;
        let database = url
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .expect("a database name");
        let suffix = format!("{}_{}", std::process::id(), database.len());
        let writer = format!("lagesbild_writer_{database}_{suffix}");
        let auditor = format!("lagesbild_auditor_{database}_{suffix}");
        // The owner's role and database are this test's; everything after them runs as written.
        let sql: String = roles[start..end]
            .lines()
            .filter(|line| {
                !line.starts_with("CREATE ROLE lagesbild_owner")
                    && !line.starts_with("CREATE DATABASE")
                    && !line.starts_with("\\c")
            })
            .map(|line| line.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("lagesbild_writer", &writer)
            .replace("lagesbild_auditor", &auditor)
            .replace("DATABASE lagesbild ", &format!("DATABASE {database} "));
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connects");
        admin.batch_execute(&sql).expect("the documented SQL runs");

        let writer_url = with_user(&url, &writer);
        let mut store: Box<dyn Store> =
            Box::new(PostgresStore::open(&writer_url).expect("the writer opens"));
        let batch: Vec<NewEvent> = (1..=3)
            .map(|i| note(&format!("r-{i}"), "s", &format!("Händelse {i}.")))
            .collect();
        store.append(&batch, &[]).expect("the writer appends");
        store
            .save_checkpoint("p", 3, 1, b"tre")
            .expect("a checkpoint");
        store.drop_checkpoints("p").expect("drops checkpoints");
        let writer_index = store.material_writer(1).expect("updates the index");
        writer_index.commit(3).expect("commits the index");
        store.drop_material().expect("drops the index");
        store
            .save_edition_outputs(2, "d", &[("md", b"# R\n")])
            .expect("keeps an edition");
        store.drop_edition_outputs(2).expect("drops it");
        sign_head(store.as_mut(), 1);
        store.tree_rebuild().expect("rebuilds the tree");
        store.verify(&mut |_| {}).expect("the writer verifies");
        store.verify_tree(None, &mut |_| {}).expect("and the tree");
        let mut raw = postgres::Client::connect(&writer_url, postgres::NoTls).expect("connects");
        for refused in [
            "TRUNCATE events",
            "UPDATE events SET kind = 'x'",
            "DELETE FROM events",
            "ALTER TABLE events DISABLE TRIGGER events_refuse_update",
            "DROP TRIGGER events_refuse_update ON events",
            "DELETE FROM tree_heads",
            "TRUNCATE tree_heads",
            "CREATE TABLE extra (id integer)",
        ] {
            assert!(
                raw.batch_execute(refused).is_err(),
                "the writer must not run {refused}"
            );
        }

        let auditor_url = with_user(&url, &auditor);
        let mut audit = PostgresStore::open_read_only(&auditor_url).expect("the auditor opens");
        assert_eq!(audit.verify(&mut |_| {}).expect("verifies").count, 3);
        assert_eq!(
            audit
                .verify_tree(None, &mut |_| {})
                .expect("the tree")
                .heads,
            1
        );
        assert!(
            audit.append(&[note("r-4", "s", "Fyra.")], &[]).is_err(),
            "the auditor must not append"
        );
        assert!(
            audit.save_checkpoint("p", 1, 1, b"x").is_err(),
            "the auditor must not keep a cache"
        );
        drop((store, audit, raw));
        admin
            .batch_execute(&format!(
                "DROP OWNED BY {writer}, {auditor}; DROP ROLE {writer}; DROP ROLE {auditor}"
            ))
            .expect("drops the roles");
    }
}
