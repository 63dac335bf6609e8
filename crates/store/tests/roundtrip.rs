//! What is appended is read back identically, by every way of reading, for every kind of event;
//! and the log it makes verifies, with gapless sequence numbers and stream versions 1, 2, … per
//! stream.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use lagesbild_model::{KINDS, StoredEvent, stored_from_export_value};
use lagesbild_store::{EventLog, EventRef, Filter, Outcome, SqliteStore, scan};
use proptest::prelude::*;

use common::{GeneratedLog, config, log};

fn check_roundtrip(generated: &GeneratedLog, page_size: usize) -> Result<(), TestCaseError> {
    let expected = generated.expected().map_err(TestCaseError::fail)?;
    let batches = generated.batches().map_err(TestCaseError::fail)?;
    let mut store = SqliteStore::open_in_memory().expect("an in-memory store opens");

    // Every event is appended, in order, each stream counting its versions from 1.
    let mut next_seq = 1;
    let mut stream_versions: BTreeMap<String, u64> = BTreeMap::new();
    for batch in batches {
        let streams: Vec<String> = batch.iter().map(|e| e.stream.to_string()).collect();
        let report = store
            .append(&batch, &[])
            .map_err(|e| TestCaseError::fail(format!("append refused a valid batch: {e}")))?;
        for (outcome, stream) in report.outcomes.iter().zip(streams) {
            let version = stream_versions.entry(stream).or_insert(0);
            *version += 1;
            prop_assert_eq!(
                *outcome,
                Outcome::Appended {
                    seq: next_seq,
                    stream_version: *version
                }
            );
            next_seq += 1;
        }
        prop_assert_eq!(report.head, store.head().expect("head"));
    }
    let count = expected.len() as u64;
    prop_assert_eq!(next_seq, count + 1);

    // One page holding everything.
    let all = store
        .read_page(&Filter::default(), 0, usize::MAX)
        .expect("read_page");
    prop_assert_eq!(all.len(), expected.len());
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    let mut previous: Option<&StoredEvent> = None;
    for (i, (stored, appended)) in all.iter().zip(&expected).enumerate() {
        prop_assert_eq!(
            &stored.event,
            appended,
            "event {} read back differently",
            i + 1
        );
        prop_assert_eq!(stored.seq, i as u64 + 1, "sequence numbers are gapless");
        let version = versions.entry(appended.stream.as_str()).or_insert(0);
        *version += 1;
        prop_assert_eq!(stored.stream_version, *version);
        if let Some(previous) = previous {
            prop_assert_eq!(&stored.prev_hash, &previous.hash);
            prop_assert!(stored.recorded_at >= previous.recorded_at);
        }
        // The export form reads back to the same stored event.
        let exported = stored_from_export_value(stored.to_export_value())
            .map_err(|e| TestCaseError::fail(format!("export of event {}: {e}", i + 1)))?;
        prop_assert_eq!(&exported, stored);
        previous = Some(stored);
    }

    // Pages of any size, and scan, give the same events.
    let mut paged = Vec::new();
    loop {
        let after = paged.last().map_or(0, |e: &StoredEvent| e.seq);
        let page = store
            .read_page(&Filter::default(), after, page_size)
            .expect("read_page");
        prop_assert!(page.len() <= page_size);
        let done = page.len() < page_size;
        paged.extend(page);
        if done {
            break;
        }
    }
    prop_assert_eq!(&paged, &all);
    let scanned: Vec<StoredEvent> = scan(&store, &Filter::default())
        .collect::<Result<_, _>>()
        .expect("scan");
    prop_assert_eq!(&scanned, &all);

    // Looked up one by one, by sequence number and by key.
    for stored in &all {
        prop_assert_eq!(
            store.event(&EventRef::Seq(stored.seq)).expect("event"),
            Some(stored.clone())
        );
        if let Some(key) = &stored.event.key {
            prop_assert_eq!(
                store.event(&EventRef::Key(key.to_string())).expect("event"),
                Some(stored.clone())
            );
        }
    }

    // Filters by stream and kind return exactly the matching events, in order.
    for stream in versions.keys() {
        let filter = Filter {
            streams: vec![(*stream).to_owned()],
            ..Filter::default()
        };
        let want: Vec<&StoredEvent> = all
            .iter()
            .filter(|e| e.event.stream.as_str() == *stream)
            .collect();
        let got = store.read_page(&filter, 0, usize::MAX).expect("read_page");
        prop_assert_eq!(got.iter().collect::<Vec<_>>(), want);
    }
    // A few kinds suffice: each read parses the events it returns.
    let kinds: BTreeSet<&str> = all.iter().map(|e| e.event.kind()).take(4).collect();
    for kind in &kinds {
        let filter = Filter {
            kinds: vec![(*kind).to_owned()],
            ..Filter::default()
        };
        let got = store.read_page(&filter, 0, usize::MAX).expect("read_page");
        prop_assert!(got.iter().all(|e| e.event.kind() == *kind));
        prop_assert_eq!(
            got.len(),
            all.iter().filter(|e| e.event.kind() == *kind).count()
        );
    }
    // Several kinds at once, in small pages (read by one index range per kind, then merged):
    // exactly the matching events, in order, whatever the page size.
    let several: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    let want: Vec<&StoredEvent> = all
        .iter()
        .filter(|e| several.iter().any(|k| k == e.event.kind()))
        .collect();
    for page_size in [1, 2, 5] {
        let filter = Filter {
            kinds: several.clone(),
            ..Filter::default()
        };
        let mut got = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .read_page(&filter, after, page_size)
                .expect("read_page");
            let Some(last) = page.last() else { break };
            after = last.seq;
            prop_assert!(page.len() <= page_size);
            got.extend(page);
        }
        prop_assert_eq!(got.iter().collect::<Vec<_>>(), want.clone());
    }

    let report = store
        .verify(&mut |_| {})
        .map_err(|e| TestCaseError::fail(format!("verify failed on an honest log: {e}")))?;
    prop_assert_eq!(report.count, count);
    prop_assert_eq!(report.head, store.head().expect("head"));
    Ok(())
}

proptest! {
    #![proptest_config(config(64, 1024))]

    #[test]
    fn every_kind_is_read_back_as_appended(generated in log(true, 0..12), page_size in 1usize..12) {
        // The generator puts every kind in every log; a kind without a generator panics there.
        let kinds: BTreeSet<&str> = generated.plans.iter().map(|p| p.kind).collect();
        prop_assert_eq!(kinds, KINDS.iter().copied().collect::<BTreeSet<_>>());
        check_roundtrip(&generated, page_size)?;
    }
}
