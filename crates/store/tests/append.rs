//! Appending: optimistic concurrency, key idempotency, all-or-nothing batches, corrections checked
//! against their targets, monotonic transaction time, schema versions, and export and restore.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use lagesbild_model::{
    FieldError, NewEvent, StoredEvent, chain_hash, event_from_value, stored_from_export_value,
};
use lagesbild_store::{
    EventLog, EventRef, Expectation, Filter, Head, Outcome, SUPPORTED_SCHEMA_VERSION, SqliteStore,
    StoreError, scan,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use common::{config, log};

fn event(value: Value) -> NewEvent {
    event_from_value(value.clone()).unwrap_or_else(|e| panic!("{e} in {value}"))
}

fn decision(key: &str) -> NewEvent {
    event(json!({
        "key": key,
        "kind": "decision_made",
        "occurred": "2018-10",
        "summary": "Regionfullmäktige beslutade att Millennium ska vara obligatoriskt.",
        "source": {"title": "Informationsforum privat vårdleverantör", "published": "2022-10-24"},
        "data": {"decided_by": "Regionfullmäktige"}
    }))
}

fn plan(key: &str) -> NewEvent {
    event(json!({
        "key": key,
        "kind": "plan_revised",
        "occurred": "2019-12",
        "summary": "En ny tidplan fastslogs.",
        "source": {"title": "Fakta om programmet"},
        "data": {"label": "Tidplan december 2019", "waves": [
            {"wave": "sodra-1", "area": "SÄS och södra området", "planned": "2022-H1"},
            {"wave": "hela", "area": "Hela VGR", "planned": "2023-H2"}
        ]}
    }))
}

fn note(key: &str, stream: &str) -> NewEvent {
    event(json!({
        "key": key,
        "kind": "situation_noted",
        "occurred": "2024-12-27",
        "stream": stream,
        "summary": "Inga beslut fattas innan granskningen är klar.",
        "data": {"section": "operations", "until": "2025-03-31"}
    }))
}

fn correction(target: Value, fields: Value) -> NewEvent {
    let mut data = json!({"target": target, "reason": "Fel i källan."});
    for (name, value) in fields.as_object().expect("fields are an object") {
        data[name] = value.clone();
    }
    event(json!({
        "kind": "event_corrected",
        "occurred": "2026-11-23",
        "summary": "Rättat.",
        "data": data
    }))
}

/// Everything a reader can see of the log.
fn snapshot(store: &SqliteStore) -> (Head, Vec<StoredEvent>) {
    let events = scan(store, &Filter::default())
        .collect::<Result<_, _>>()
        .expect("scan");
    (store.head().expect("head"), events)
}

fn store_with(events: Vec<NewEvent>) -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().expect("store");
    store.append(&events, &[]).expect("append");
    store
}

fn invalid_field(result: Result<impl std::fmt::Debug, StoreError>) -> (usize, FieldError) {
    match result {
        Err(StoreError::Invalid { index, error }) => (index, error),
        other => panic!("expected an invalid event, got {other:?}"),
    }
}

/// The append borrows its batch: a writer refused for a stale version tries the very same batch
/// again, and a correction the append rewrites (its target's position filled in) is stored
/// rewritten while the caller's copy stays as given. Large enough to go through the worker.
#[test]
fn a_borrowed_batch_is_tried_again_as_it_is_and_left_as_given() {
    let mut store = store_with(vec![decision("a"), decision("b")]);
    let mut batch: Vec<NewEvent> = (0..100)
        .map(|i| note(&format!("n{i}"), "rapport"))
        .collect();
    batch.push(correction(
        json!({"key": "a"}),
        json!({"summary": "Ny text."}),
    ));
    let given = batch.clone();
    let stale = [Expectation {
        stream: "program".into(),
        version: 1,
    }];
    assert!(matches!(
        store.append(&batch, &stale),
        Err(StoreError::StaleVersion { actual: 2, .. })
    ));
    let current = [Expectation {
        stream: "program".into(),
        version: 2,
    }];
    let report = store
        .append(&batch, &current)
        .expect("the same batch again");
    assert_eq!(report.head.seq, 103);
    assert_eq!(batch, given);
    let stored = store
        .event(&EventRef::Seq(103))
        .expect("read")
        .expect("the correction");
    let target = stored.event.data.target().expect("a target");
    assert_eq!(target.seq, Some(1));
    assert_eq!(given[100].data.target().expect("a target").seq, None);
}

#[test]
fn a_stale_expected_version_is_refused_and_nothing_is_written() {
    let mut store = store_with(vec![decision("a"), decision("b")]);
    let before = snapshot(&store);
    let result = store.append(
        &[decision("c")],
        &[Expectation {
            stream: "program".into(),
            version: 1,
        }],
    );
    match result {
        Err(StoreError::StaleVersion {
            stream,
            expected,
            actual,
        }) => {
            assert_eq!((stream.as_str(), expected, actual), ("program", 1, 2));
        }
        other => panic!("expected StaleVersion, got {other:?}"),
    }
    assert_eq!(snapshot(&store), before);

    // The current version is accepted.
    let report = store
        .append(
            &[decision("c")],
            &[Expectation {
                stream: "program".into(),
                version: 2,
            }],
        )
        .expect("append at the current version");
    assert_eq!(
        report.outcomes,
        [Outcome::Appended {
            seq: 3,
            stream_version: 3
        }]
    );
}

#[test]
fn expectation_zero_means_the_stream_must_be_new() {
    let mut store = store_with(vec![decision("a")]);
    let new_stream = || Expectation {
        stream: "rapport".into(),
        version: 0,
    };
    let report = store
        .append(&[note("n1", "rapport")], &[new_stream()])
        .expect("a new stream at version 0");
    assert_eq!(
        report.outcomes,
        [Outcome::Appended {
            seq: 2,
            stream_version: 1
        }]
    );
    let before = snapshot(&store);
    let error = store
        .append(&[note("n2", "rapport")], &[new_stream()])
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::StaleVersion {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(snapshot(&store), before);
    // An existing stream is not new either.
    let error = store
        .append(
            &[decision("b")],
            &[Expectation {
                stream: "program".into(),
                version: 0,
            }],
        )
        .unwrap_err();
    assert!(
        matches!(error, StoreError::StaleVersion { actual: 1, .. }),
        "{error:?}"
    );
}

#[test]
fn the_same_key_with_the_same_content_is_already_present_and_writes_nothing() {
    let mut store = store_with(vec![decision("a"), plan("p")]);
    let before = snapshot(&store);
    let report = store
        .append(&[plan("p"), decision("a")], &[])
        .expect("a repeated import");
    assert_eq!(
        report.outcomes,
        [
            Outcome::AlreadyPresent { seq: 2 },
            Outcome::AlreadyPresent { seq: 1 }
        ]
    );
    assert_eq!(report.head, before.0);
    assert_eq!(snapshot(&store), before);

    // Twice in one batch: the second is already present as the first.
    let report = store
        .append(&[decision("c"), decision("c")], &[])
        .expect("a batch with a repeated line");
    assert_eq!(
        report.outcomes,
        [
            Outcome::Appended {
                seq: 3,
                stream_version: 3
            },
            Outcome::AlreadyPresent { seq: 3 }
        ]
    );
}

#[test]
fn the_same_key_with_different_content_refuses_the_whole_batch() {
    let mut store = store_with(vec![decision("a")]);
    let before = snapshot(&store);
    let mut changed = decision("a");
    changed.summary = "Regionfullmäktige beslutade något annat.".parse().unwrap();
    let error = store
        .append(&[decision("b"), changed.clone(), decision("c")], &[])
        .unwrap_err();
    match error {
        StoreError::KeyConflict { index, key, seq } => {
            assert_eq!((index, key.as_str(), seq), (1, "a", 1));
        }
        other => panic!("expected KeyConflict, got {other:?}"),
    }
    assert_eq!(snapshot(&store), before, "nothing of the batch was written");

    // Within one batch too.
    let mut other_b = decision("b");
    other_b.by = Some("Någon annan".parse().unwrap());
    let error = store.append(&[decision("b"), other_b], &[]).unwrap_err();
    assert!(
        matches!(error, StoreError::KeyConflict { index: 1, .. }),
        "{error:?}"
    );
    assert_eq!(snapshot(&store), before);
}

#[test]
fn a_correction_of_an_unknown_key_is_refused_naming_data_target_key() {
    let mut store = store_with(vec![decision("a")]);
    let before = snapshot(&store);
    let (index, error) = invalid_field(store.append(
        &[
            decision("b"),
            correction(json!({"key": "saknas"}), json!({"summary": "Ny text."})),
        ],
        &[],
    ));
    assert_eq!(index, 1);
    assert_eq!(error.field, "data.target.key");
    assert!(error.reason.contains("saknas"), "{error}");
    assert_eq!(snapshot(&store), before);

    let (_, error) = invalid_field(store.append(
        &[correction(
            json!({"seq": 9}),
            json!({"summary": "Ny text."}),
        )],
        &[],
    ));
    assert_eq!(error.field, "data.target.seq");

    // A key and a seq that name different events.
    let (_, error) = invalid_field(store.append(
        &[
            decision("b"),
            correction(
                json!({"key": "b", "seq": 1}),
                json!({"summary": "Ny text."}),
            ),
        ],
        &[],
    ));
    assert_eq!(error.field, "data.target");
    assert_eq!(snapshot(&store), before);
}

#[test]
fn a_correction_may_point_at_an_event_earlier_in_the_same_batch() {
    let mut store = SqliteStore::open_in_memory().expect("store");
    let report = store
        .append(
            &[
                plan("p"),
                correction(json!({"key": "p"}), json!({"occurred": "hösten 2019"})),
                correction(
                    json!({"seq": 1}),
                    json!({"data": {"waves": [{"wave": "hela", "area": "Hela VGR", "planned": "hösten 2024"}], "partial": false}}),
                ),
            ],
            &[],
        )
        .expect("corrections of an event in the same batch");
    assert_eq!(report.appended(), 3);
    let stored = store.event(&EventRef::Seq(3)).unwrap().unwrap();
    let content = stored.event.canonical_content();
    // The store fills in the target's seq and keeps the corrected data in canonical form.
    assert!(
        content.contains(
            r#""data":{"waves":[{"area":"Hela VGR","planned":"2024-H2","wave":"hela"}]}"#
        ),
        "{content}"
    );
    let by_key = store.event(&EventRef::Seq(2)).unwrap().unwrap();
    assert!(
        by_key
            .event
            .canonical_content()
            .contains(r#""target":{"key":"p","seq":1}"#)
    );
}

#[test]
fn correction_data_is_checked_against_the_targets_kind_naming_the_field() {
    let mut store = store_with(vec![decision("d"), plan("p")]);
    let before = snapshot(&store);
    for (target, data, field) in [
        (
            "d",
            json!({"decidedby": "Regionstyrelsen"}),
            "data.data.decidedby",
        ),
        (
            "d",
            json!({"reference": "RS 2019-01"}),
            "data.data.decided_by",
        ),
        (
            "p",
            json!({"waves": [{"wave": "sodra-1", "area": "Södra", "planned": "hösten 20x"}]}),
            "data.data.waves[0].planned",
        ),
        ("p", json!({"waves": []}), "data.data.waves"),
        // A decision's data is not a plan's.
        (
            "p",
            json!({"decided_by": "Regionstyrelsen"}),
            "data.data.waves",
        ),
    ] {
        let (_, error) = invalid_field(store.append(
            &[correction(json!({"key": target}), json!({"data": data}))],
            &[],
        ));
        assert_eq!(error.field, field, "{error}");
        assert_eq!(snapshot(&store), before);
    }
}

/// Regression: corrected data was only deserialized as the target's kind, never held to the
/// checks that span fields, so a correction could give a note an `until` that is a year or lies
/// before the note, both `until` and `standing`, or a plan the same wave twice: data no new event
/// may carry, which projections assume cannot occur.
#[test]
fn corrected_data_must_pass_the_checks_a_new_event_passes() {
    let mut store = store_with(vec![note("n", "rapport"), plan("p")]);
    let before = snapshot(&store);
    for (target, fields, field) in [
        (
            "n",
            json!({"data": {"section": "operations", "until": "2025"}}),
            "data.data.until",
        ),
        (
            "n",
            json!({"data": {"section": "operations", "until": "2024-01-01"}}),
            "data.data.until",
        ),
        (
            "n",
            json!({"data": {"section": "operations", "until": "2025-03-31", "standing": true}}),
            "data.data.standing",
        ),
        // Moving the note past the day it stands until.
        ("n", json!({"occurred": "2025-06"}), "data.data.until"),
        (
            "p",
            json!({"data": {"waves": [
                {"wave": "hela", "area": "Hela VGR", "planned": "2024"},
                {"wave": "hela", "area": "Hela VGR igen", "planned": "2025"}
            ]}}),
            "data.data.waves[1].wave",
        ),
    ] {
        let (_, error) =
            invalid_field(store.append(&[correction(json!({"key": target}), fields)], &[]));
        assert_eq!(error.field, field, "{error}");
        assert_eq!(snapshot(&store), before);
    }
    // A new summary past the limit is refused already when the correction is read, with the
    // summary's one message.
    let overlong = lagesbild_model::event_from_value(json!({
        "kind": "event_corrected", "occurred": "2026-11-23", "summary": "Rättelse.",
        "data": {"target": {"key": "p"}, "reason": "Fel i källan.",
                 "summary": "x".repeat(lagesbild_model::MAX_SUMMARY_CHARS + 1)}
    }))
    .expect_err("refused");
    assert_eq!(overlong.field, "data.summary");
    assert!(overlong.reason.contains("at most 2000"), "{overlong}");
    // The same corrections made valid are accepted.
    store
        .append(
            &[
                correction(
                    json!({"key": "n"}),
                    json!({"occurred": "2025-01", "data": {"section": "operations", "until": "2025-02-28"}}),
                ),
                correction(json!({"key": "n"}), json!({"occurred": "2025-03-31"})),
            ],
            &[],
        )
        .expect("valid corrections");
}

#[test]
fn correcting_a_correction_or_a_retraction_is_refused() {
    let mut store = store_with(vec![
        decision("d"),
        correction(json!({"key": "d"}), json!({"summary": "Rättad."})),
    ]);
    let retraction = event(json!({
        "key": "r", "kind": "event_retracted", "occurred": "2026-11-23", "summary": "Tillbakadragen.",
        "data": {"target": {"key": "d"}, "reason": "Fel."}
    }));
    store.append(&[retraction], &[]).expect("a retraction");
    let before = snapshot(&store);
    for target in [json!({"seq": 2}), json!({"key": "r"})] {
        let (_, error) = invalid_field(store.append(
            &[correction(target, json!({"summary": "Rättad igen."}))],
            &[],
        ));
        assert_eq!(error.field, "data.target");
        assert!(error.reason.contains("original event"), "{error}");
    }
    assert_eq!(snapshot(&store), before);
}

#[test]
fn recorded_at_never_decreases_when_the_clock_goes_backwards() {
    let at = |text: &str| -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    };
    let now = Arc::new(Mutex::new(at("2026-01-01T12:00:00.5Z")));
    let clock = Arc::clone(&now);
    let mut store = SqliteStore::open_in_memory()
        .unwrap()
        .with_clock(move || *clock.lock().unwrap());
    store.append(&[decision("a")], &[]).unwrap();
    *now.lock().unwrap() = at("2025-06-01T00:00:00Z");
    let report = store.append(&[decision("b")], &[]).unwrap();
    let first = store.event(&EventRef::Seq(1)).unwrap().unwrap();
    let second = store.event(&EventRef::Seq(2)).unwrap().unwrap();
    assert_eq!(second.recorded_at, first.recorded_at);
    assert_eq!(
        second.recorded_at.to_string(),
        "2026-01-01T12:00:00.500000Z"
    );
    assert_eq!(report.head.recorded_at, Some(first.recorded_at));
    *now.lock().unwrap() = at("2026-01-02T00:00:00Z");
    store.append(&[decision("c")], &[]).unwrap();
    let third = store.event(&EventRef::Seq(3)).unwrap().unwrap();
    assert_eq!(third.recorded_at.to_string(), "2026-01-02T00:00:00.000000Z");
    store.verify(&mut |_| {}).expect("the log verifies");
}

#[test]
fn a_database_newer_than_this_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ny.db");
    drop(store_on(&path));
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SUPPORTED_SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    for result in [SqliteStore::open(&path), SqliteStore::open_read_only(&path)] {
        match result {
            Err(StoreError::SchemaTooNew { found, supported }) => {
                assert_eq!(
                    (found, supported),
                    (SUPPORTED_SCHEMA_VERSION + 1, SUPPORTED_SCHEMA_VERSION)
                );
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}

fn store_on(path: &std::path::Path) -> SqliteStore {
    let mut store = SqliteStore::open(path).expect("store");
    store.append(&[decision("a")], &[]).expect("append");
    store
}

#[test]
fn append_dry_run_reports_what_would_happen_and_writes_nothing() {
    let mut store = store_with(vec![decision("a")]);
    let before = snapshot(&store);
    let report = store
        .append_dry_run(&[decision("a"), decision("b")], &[])
        .expect("dry run");
    assert_eq!(
        report.outcomes,
        [
            Outcome::AlreadyPresent { seq: 1 },
            Outcome::Appended {
                seq: 2,
                stream_version: 2
            }
        ]
    );
    assert_eq!(report.head.seq, 2);
    assert_eq!(snapshot(&store), before);
}

/// Regression: sequence numbers from users (`show 18446744073709551615`, a correction's
/// `target.seq`, `verify --expect-head`) above i64::MAX panicked converting to SQLite's integer.
#[test]
fn sequence_numbers_above_what_sqlite_holds_are_not_found_instead_of_panicking() {
    let mut store = store_with(vec![decision("a")]);
    assert_eq!(store.event(&EventRef::Seq(u64::MAX)).unwrap(), None);
    assert_eq!(
        store.read_page(&Filter::default(), u64::MAX, 10).unwrap(),
        []
    );
    let everything = Filter {
        max_seq: Some(u64::MAX),
        ..Filter::default()
    };
    assert_eq!(store.read_page(&everything, 0, 10).unwrap().len(), 1);
    let (_, error) = invalid_field(store.append(
        &[correction(
            json!({"seq": u64::MAX}),
            json!({"summary": "Rättad."}),
        )],
        &[],
    ));
    assert_eq!(error.field, "data.target.seq");
}

fn export(store: &SqliteStore) -> Vec<Value> {
    scan(store, &Filter::default())
        .map(|e| e.expect("scan").to_export_value())
        .collect()
}

fn restore_from(values: Vec<Value>) -> (SqliteStore, Result<u64, StoreError>) {
    let mut target = SqliteStore::open_in_memory().expect("store");
    // As the CLI does: an event that no longer parses (an altered summary past the length
    // limit, say) is named by the sequence number its export line carries.
    let result = target.restore(values.into_iter().map(|value| {
        let seq = value["seq"].as_u64().unwrap_or(0);
        stored_from_export_value(value).map_err(|e| StoreError::Broken {
            seq,
            reason: e.to_string(),
        })
    }));
    (target, result)
}

fn generated_store(generated: &common::GeneratedLog) -> SqliteStore {
    let mut store = SqliteStore::open_in_memory()
        .expect("store")
        .with_clock(common::ticking_clock("2026-01-01T00:00:00Z"));
    generated.append_to(&mut store).expect("a valid log");
    store
}

proptest! {
    #![proptest_config(config(32, 256))]

    #[test]
    fn export_then_restore_reproduces_the_identical_chain(generated in log(false, 1..20)) {
        let source = generated_store(&generated);
        let exported = export(&source);
        // Through text, as the CLI writes and reads it.
        let text: Vec<Value> = exported
            .iter()
            .map(|v| serde_json::from_str(&v.to_string()).expect("export is JSON"))
            .collect();
        let (target, result) = restore_from(text);
        prop_assert_eq!(result.expect("restore"), generated.events.len() as u64);
        prop_assert_eq!(snapshot(&target), snapshot(&source));
        prop_assert_eq!(
            target.verify(&mut |_| {}).expect("verify").head,
            source.verify(&mut |_| {}).expect("verify").head
        );
        // A restored log is a log: it can be restored into nothing else, and grows on.
        let (mut again, _) = restore_from(Vec::new());
        again.append(&[decision("x")], &[]).unwrap();
        let error = again
            .restore(export(&source).into_iter().map(|v| Ok(stored_from_export_value(v).unwrap())))
            .unwrap_err();
        prop_assert!(matches!(error, StoreError::NotEmpty { count: 1 }), "{:?}", error);
    }

    #[test]
    fn a_restore_with_one_altered_hash_or_summary_fails_naming_the_event_and_writes_nothing(
        generated in log(false, 1..20),
        which in any::<prop::sample::Index>(),
        alter_summary in any::<bool>(),
        digit in 0usize..64,
    ) {
        let source = generated_store(&generated);
        let mut exported = export(&source);
        let altered = which.index(exported.len());
        let value = &mut exported[altered];
        if alter_summary {
            let summary = value["summary"].as_str().unwrap().to_owned();
            value["summary"] = json!(format!("{summary} (ändrad)"));
        } else {
            let mut hash: Vec<u8> = value["hash"].as_str().unwrap().bytes().collect();
            hash[digit] = if hash[digit] == b'0' { b'1' } else { b'0' };
            value["hash"] = json!(String::from_utf8(hash).unwrap());
        }
        let (target, result) = restore_from(exported);
        match result {
            Err(StoreError::Broken { seq, .. }) => prop_assert_eq!(seq, altered as u64 + 1),
            other => prop_assert!(false, "expected Broken, got {:?}", other),
        }
        prop_assert_eq!(target.count().unwrap(), 0);
        prop_assert_eq!(target.head().unwrap().seq, 0);
    }
}

/// Regression guard for the database schema going to 2: the chain check compared an event's
/// schema with the database's schema version, so an event claiming schema 2 (hash recomputed to
/// match) would have been restored although this program writes event schema 1 only.
#[test]
fn restore_refuses_an_event_schema_this_program_does_not_write() {
    let source = store_with(vec![decision("a")]);
    let mut exported = export(&source);
    let mut event = stored_from_export_value(exported[0].clone()).unwrap();
    event.schema = lagesbild_model::SCHEMA_VERSION + 1;
    event.hash = chain_hash(&event.prev_hash, &event.canonical_envelope());
    exported[0] = event.to_export_value();
    let (target, result) = restore_from(exported);
    match result {
        Err(StoreError::Broken { seq: 1, reason }) => {
            assert!(reason.contains("schema"), "{reason}")
        }
        other => panic!("expected Broken at 1, got {other:?}"),
    }
    assert_eq!(target.count().unwrap(), 0);
}

proptest! {
    #![proptest_config(config(32, 256))]

    /// A batch with one bad event anywhere is refused whole: the log is exactly as before, and
    /// the same batch without the bad event is then accepted.
    #[test]
    fn a_batch_with_one_bad_event_leaves_the_log_unchanged(
        generated in log(false, 1..12),
        batch in log(false, 1..8),
        position in any::<prop::sample::Index>(),
        badness in 0u8..5,
    ) {
        let mut store = generated_store(&generated);
        let before = snapshot(&store);
        // The second log's keys must not collide with the first's.
        let mut good: Vec<NewEvent> = batch.parsed().map_err(TestCaseError::fail)?;
        for (i, event) in good.iter_mut().enumerate() {
            if event.key.is_some() {
                event.key = Some(format!("andra-{i}").parse().unwrap());
            }
            // Its corrections point into the first log, by its first event's seq.
            if let Some(target) = event.data.target_mut() {
                *target = lagesbild_model::Target { key: None, seq: Some(1) };
            }
            if let lagesbild_model::EventData::EventCorrected(c) = &mut event.data {
                c.data = None;
                c.occurred = None;
                c.summary = Some("Rättad sammanfattning.".parse().unwrap());
            }
        }
        // The generator starts every log with an event a correction may point at.
        let existing_key = before.1.iter().find_map(|e| e.event.key.clone());
        let mut earliest = 0;
        let bad = match badness {
            0 => correction(json!({"key": "finns-inte"}), json!({"summary": "Rättad."})),
            1 => correction(json!({"seq": before.0.seq + 100}), json!({"summary": "Rättad."})),
            2 => {
                // A key already in the log, with other content.
                let Some(key) = existing_key else { return Ok(()) };
                let mut changed = decision(key.as_str());
                changed.summary = "Något helt annat hände.".parse().unwrap();
                changed
            }
            3 => correction(json!({"seq": 1}), json!({"data": {"okänt_fält": 1}})),
            _ => {
                // A correction of a correction appended earlier in the same batch.
                good.insert(0, correction(json!({"seq": 1}), json!({"summary": "Rättad."})));
                earliest = 1;
                correction(json!({"seq": before.0.seq + 1}), json!({"summary": "Rättad igen."}))
            }
        };
        let mut with_bad = good.clone();
        let at = earliest + position.index(good.len() + 1 - earliest);
        with_bad.insert(at, bad);
        let result = store.append(&with_bad, &[]);
        prop_assert!(result.is_err(), "a batch with a bad event was accepted");
        prop_assert_eq!(&snapshot(&store), &before);
        store.verify(&mut |_| {}).expect("verify");
        let report = store.append(&good, &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(report.appended(), good.len());
    }
}

/// A store whose clock stands still, so that two stores given the same events in different
/// batches hold the same chain.
fn still_store() -> SqliteStore {
    let at: DateTime<Utc> = "2026-01-01T00:00:00.5Z".parse().expect("a time");
    SqliteStore::open_in_memory()
        .expect("store")
        .with_clock(move || at)
}

proptest! {
    #![proptest_config(config(12, 64))]

    /// A large batch is encoded and hashed on a second thread ahead of the inserts
    /// (`chain.rs`, `PIPELINE_MIN_EVENTS`); what it appends is exactly what the same events
    /// give appended through the one-thread path, batch by batch: the same outcomes, rows and
    /// chain, also when the worker's assumptions break (corrections and retractions, whose
    /// targets the store resolves, and keyed events already present, appended a second time).
    #[test]
    fn a_large_batch_appends_what_small_batches_append(generated in log(true, 60..160)) {
        let events = generated.parsed().map_err(TestCaseError::fail)?;
        let mut large = still_store();
        let mut small = still_store();
        for _round in 0..2 {
            let report = large.append(&events, &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut outcomes = Vec::new();
            for event in &events {
                let one = small.append(std::slice::from_ref(event), &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
                outcomes.extend(one.outcomes);
            }
            prop_assert_eq!(&report.outcomes, &outcomes);
            prop_assert_eq!(snapshot(&large), snapshot(&small));
        }
        large.verify(&mut |_| {}).expect("verify");
    }
}

/// An error in a large batch names the same event and field as in a small one, and nothing of
/// the batch is written.
#[test]
fn an_error_deep_in_a_large_batch_names_its_event_and_writes_nothing() {
    let mut store = still_store();
    store.append(&[decision("a")], &[]).expect("append");
    let before = snapshot(&store);
    let mut batch: Vec<NewEvent> = (0..300).map(|i| decision(&format!("k-{i}"))).collect();
    batch.insert(
        200,
        correction(json!({"key": "finns-inte"}), json!({"summary": "Rättad."})),
    );
    let (index, error) = invalid_field(store.append(&batch, &[]));
    assert_eq!(index, 200);
    assert_eq!(error.field, "data.target.key");
    assert_eq!(snapshot(&store), before);
    // A key given twice with other content, after the worker's events.
    let mut batch: Vec<NewEvent> = (0..300).map(|i| decision(&format!("k-{i}"))).collect();
    let mut changed = decision("k-3");
    changed.summary = "Något helt annat hände.".parse().expect("a summary");
    batch.push(changed);
    match store.append(&batch, &[]) {
        Err(StoreError::KeyConflict { index, key, .. }) => {
            assert_eq!((index, key.as_str()), (300, "k-3"));
        }
        other => panic!("expected a key conflict, got {other:?}"),
    }
    assert_eq!(snapshot(&store), before);
    // After both errors, each in the middle of its batch's encoding, the next large batch is
    // encoded whole, from the head as it stands.
    let batch: Vec<NewEvent> = (0..300).map(|i| decision(&format!("k-{i}"))).collect();
    let report = store.append(&batch, &[]).expect("append");
    assert_eq!(report.appended(), 300);
    assert_eq!(report.head.seq, before.0.seq + 300);
    store.verify(&mut |_| {}).expect("verify");
}
