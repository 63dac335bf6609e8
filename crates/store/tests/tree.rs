//! The stored Merkle tree: caught up incrementally it equals the tree recomputed from the
//! events at every size; its proofs verify against its roots; a tampered node, position or
//! signed tree head is caught by `verify_tree` or rebuilt; signed tree heads are append-only.

use lagesbild_merkle::{
    MemoryTree, SigningKey, TreeHead, root_of, signing_key_from_seed, verify_consistency,
    verify_inclusion,
};
use lagesbild_model::{NewEvent, event_from_value};
use lagesbild_store::{EventLog, Filter, SqliteStore, StoreError, event_leaf_hash, scan};
use rusqlite::Connection;
use serde_json::json;

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

fn append(store: &mut SqliteStore, from: u64, to: u64) {
    store
        .append(&(from..=to).map(fact).collect::<Vec<_>>(), &[])
        .expect("append");
}

fn leaves(store: &SqliteStore) -> Vec<[u8; 32]> {
    scan(store, &Filter::default())
        .map(|e| event_leaf_hash(&e.expect("read")).expect("leaf"))
        .collect()
}

fn key() -> SigningKey {
    signing_key_from_seed(&[7u8; 32])
}

fn sign(store: &mut SqliteStore, timestamp_ms: u64) -> lagesbild_merkle::SignedTreeHead {
    let state = store.tree_catch_up().expect("catch up");
    let head = TreeHead {
        size: state.size,
        root: state.root,
        timestamp_ms,
    }
    .sign(&key());
    store.insert_tree_head(&head).expect("insert");
    head
}

/// A file-backed store, so that a second connection can tamper with it.
fn file_store() -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.db");
    let store = SqliteStore::open(&path).expect("open");
    (dir, path, store)
}

#[test]
fn caught_up_in_steps_the_tree_equals_the_recomputed_one_at_every_size() {
    let mut store = SqliteStore::open_in_memory().expect("store");
    assert_eq!(store.tree_catch_up().expect("empty").size, 0);
    let mut total = 0;
    for step in [1u64, 1, 2, 5, 8, 16, 3, 31] {
        append(&mut store, total + 1, total + step);
        total += step;
        let state = store.tree_catch_up().expect("catch up");
        let all = leaves(&store);
        assert_eq!(state.size, total);
        assert_eq!(state.root, root_of(&all));
        for size in 1..=total {
            assert_eq!(
                store.tree_root(size).expect("root"),
                root_of(&all[..size as usize])
            );
        }
    }
    // Every proof the store gives verifies, and equals the in-memory reference's.
    let all = leaves(&store);
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
    assert!(store.verify_tree(None, &mut |_| {}).is_ok());
}

#[test]
fn signed_tree_heads_verify_and_are_append_only() {
    let (_dir, path, mut store) = file_store();
    append(&mut store, 1, 10);
    let first = sign(&mut store, 1_000);
    append(&mut store, 11, 12);
    let second = sign(&mut store, 2_000);
    assert_eq!(store.tree_heads().expect("heads"), vec![first, second]);
    let report = store
        .verify_tree(Some(&key().verifying_key()), &mut |_| {})
        .expect("verifies");
    assert_eq!((report.size, report.heads), (12, 2));
    // Another key's heads are refused.
    let other = signing_key_from_seed(&[8u8; 32]).verifying_key();
    let error = store.verify_tree(Some(&other), &mut |_| {}).unwrap_err();
    assert!(error.to_string().contains("signed tree head 1"), "{error}");

    let raw = Connection::open(&path).expect("raw");
    for sql in [
        "UPDATE tree_heads SET size = 11",
        "DELETE FROM tree_heads WHERE id = 2",
    ] {
        let refused = raw.execute(sql, []).unwrap_err().to_string();
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
}

#[test]
fn a_tampered_node_is_caught_by_verify_and_a_stale_position_rebuilds() {
    let (_dir, path, mut store) = file_store();
    append(&mut store, 1, 20);
    let good = store.tree_catch_up().expect("catch up");
    let raw = Connection::open(&path).expect("raw");

    for (level, idx) in [(0, 3), (2, 1), (4, 0)] {
        let original: Vec<u8> = raw
            .query_row(
                "SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2",
                [level, idx],
                |row| row.get(0),
            )
            .expect("node");
        raw.execute(
            "UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = ?1 AND idx = ?2",
            [level, idx],
        )
        .expect("tamper");
        let error = store.verify_tree(None, &mut |_| {}).unwrap_err();
        assert!(
            error.to_string().contains(&format!(
                "tree_nodes: the node at level {level}, index {idx}"
            )),
            "{error}"
        );
        raw.execute(
            "UPDATE tree_nodes SET hash = ?3 WHERE level = ?1 AND idx = ?2",
            rusqlite::params![level, idx, original],
        )
        .expect("restore");
    }
    // A node that no tree of this size has.
    raw.execute(
        "INSERT INTO tree_nodes (level, idx, hash) VALUES (3, 7, zeroblob(32))",
        [],
    )
    .expect("insert");
    let error = store.verify_tree(None, &mut |_| {}).unwrap_err();
    assert!(error.to_string().contains("holds"), "{error}");
    raw.execute("DELETE FROM tree_nodes WHERE level = 3 AND idx = 7", [])
        .expect("delete");

    // A position that claims another chain hash: the tree no longer matches the log and is
    // rebuilt, to the same root.
    raw.execute("UPDATE tree_position SET chain_hash = 'x'", [])
        .expect("tamper");
    assert_eq!(store.tree_catch_up().expect("rebuilt"), good);
    // A last leaf that is not the event's.
    raw.execute(
        "UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 19",
        [],
    )
    .expect("tamper");
    assert_eq!(store.tree_catch_up().expect("rebuilt"), good);
    assert!(store.verify_tree(None, &mut |_| {}).is_ok());
}

#[test]
fn the_quick_check_uses_the_stored_tree_and_its_binding() {
    let (_dir, path, mut store) = file_store();
    append(&mut store, 1, 10);
    sign(&mut store, 1);
    append(&mut store, 11, 15);
    let quick = store
        .verify_tree_quick(Some(&key().verifying_key()))
        .expect("quick");
    assert_eq!(
        (quick.size, quick.heads),
        (10, 1),
        "the stored tree is not caught up"
    );
    sign(&mut store, 2);
    let quick = store.verify_tree_quick(None).expect("quick");
    assert_eq!(quick.size, 15);
    assert_eq!(
        quick.root,
        store.verify_tree(None, &mut |_| {}).expect("full").root
    );
    let raw = Connection::open(&path).expect("raw");
    // A head whose size the stored tree does not reach: checked by the full pass instead.
    raw.execute("DELETE FROM tree_nodes", [])
        .expect("drop the cache");
    raw.execute("DELETE FROM tree_position", [])
        .expect("drop the cache");
    assert_eq!(store.verify_tree_quick(None).expect("falls back").heads, 2);
    // A position that no longer matches the log is a finding.
    store.tree_catch_up().expect("rebuilt");
    raw.execute("UPDATE tree_position SET chain_hash = 'x'", [])
        .expect("tamper");
    let error = store.verify_tree_quick(None).unwrap_err().to_string();
    assert!(error.contains("do not match the log"), "{error}");
}

#[test]
fn a_head_past_the_log_or_with_another_root_is_caught() {
    let mut store = SqliteStore::open_in_memory().expect("store");
    append(&mut store, 1, 5);
    let state = store.tree_catch_up().expect("catch up");
    let ahead = TreeHead {
        size: 9,
        root: state.root,
        timestamp_ms: 5,
    }
    .sign(&key());
    store.insert_tree_head(&ahead).expect("insert");
    let error = store
        .verify_tree(None, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("covers 9 events but the log holds only 5"),
        "{error}"
    );

    let mut store = SqliteStore::open_in_memory().expect("store");
    append(&mut store, 1, 5);
    let forged = TreeHead {
        size: 4,
        root: state.root,
        timestamp_ms: 5,
    }
    .sign(&key());
    store.insert_tree_head(&forged).expect("insert");
    let error = store
        .verify_tree(None, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("is not the root of the log's first 4 events"),
        "{error}"
    );
}
