//! Checks added for new input only (bidirectional control characters in text, negative
//! contract values and budgets) do not make an older log bad: a log written before them still
//! reads, verifies and restores from its export, while the same events are refused as new input.

use lagesbild_model::{Rules, event_from_value, event_from_value_under, stored_from_export_value};
use lagesbild_store::{EventLog, EventRef, Filter, SqliteStore, scan};
use serde_json::{Value, json};

fn older_events() -> Vec<Value> {
    vec![
        json!({"kind": "fact_reported", "occurred": "2023", "summary": "Betalt \u{202e}000 01 kr", "source": {"title": "Rapport \u{2067}x\u{2069}"}}),
        json!({"kind": "contract_signed", "occurred": "2019-06", "summary": "Avtal.", "source": {"title": "Avtalet"}, "data": {"supplier": "Cerner", "buyer": "VGR", "value_msek": -5}}),
        json!({"kind": "budget_set", "occurred": "2020", "summary": "Budget.", "source": {"title": "Beslutet"}, "data": {"budget": "program", "value_msek": -0.5}}),
    ]
}

#[test]
fn a_log_written_before_the_new_input_rules_still_reads_verifies_and_restores() {
    for value in older_events() {
        assert!(event_from_value(value).is_err(), "refused as new input");
    }
    // As an older lagesbild wrote them.
    let mut store = SqliteStore::open_in_memory().expect("store");
    let batch: Vec<_> = older_events()
        .into_iter()
        .map(|v| event_from_value_under(v, Rules::Stored).expect("valid under the older rules"))
        .collect();
    store.append(&batch, &[]).expect("appends");

    let report = store.verify(&mut |_| {}).expect("the older log verifies");
    assert_eq!(report.count, 3);
    let first = store
        .event(&EventRef::Seq(1))
        .expect("reads")
        .expect("there");
    assert_eq!(first.event.summary.as_str(), "Betalt \u{202e}000 01 kr");

    let export: Vec<Value> = scan(&store, &Filter::default())
        .map(|e| e.expect("scan").to_export_value())
        .collect();
    let mut restored = SqliteStore::open_in_memory().expect("store");
    let count = restored
        .restore(export.into_iter().map(|value| {
            stored_from_export_value(value).map_err(|e| lagesbild_store::StoreError::Broken {
                seq: 0,
                reason: e.to_string(),
            })
        }))
        .expect("restores");
    assert_eq!(count, 3);
    assert_eq!(
        restored.head().expect("head"),
        store.head().expect("head"),
        "the same chain"
    );
}
