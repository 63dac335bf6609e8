//! The Merkle tree's costs: an import that keeps the tree current after every batch beside the
//! plain import, catching the tree up after an import, inclusion and consistency proofs (made,
//! as `lagesbild proof` makes them, and checked), signing a tree head, and `verify_tree`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use lagesbild_merkle::{
    ConsistencyProof, InclusionProof, LeafPreimage, TreeHead, check_consistency, check_inclusion,
    envelope_digest, signing_key_from_seed,
};
use lagesbild_model::NewEvent;
use lagesbild_store::{EventLog, EventRef, SqliteStore, Store};
use serde_json::{Value, json};

use crate::{BATCH, percentile, rate, remove_db, synth};

/// Imports the same history into a second file, catching the tree up after every batch (as if
/// every append were followed by a proof or a tree head); returns the seconds spent.
fn import_with_tree(dir: &Path, n: usize, seed: u64) -> Result<f64> {
    let db = dir.join(format!("store-tree-{n}.db"));
    remove_db(&db);
    let mut store = SqliteStore::open(&db)?;
    let mut events = synth::events(n, seed);
    let mut seconds = 0.0;
    loop {
        let batch: Vec<NewEvent> = events.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let started = Instant::now();
        store.append(&batch, &[])?;
        store.tree_catch_up()?;
        seconds += started.elapsed().as_secs_f64();
    }
    drop(store);
    remove_db(&db);
    Ok(seconds)
}

fn inclusion(store: &dyn Store, seq: u64, size: u64) -> Result<InclusionProof> {
    let event = store
        .event(&EventRef::Seq(seq))?
        .ok_or_else(|| anyhow::anyhow!("no event {seq}"))?;
    let envelope = event.canonical_envelope();
    Ok(InclusionProof {
        proof: "inclusion".into(),
        leaf_index: seq - 1,
        tree_size: size,
        root: hex::encode(store.tree_root(size)?),
        tree_head: None,
        leaf: LeafPreimage {
            seq,
            envelope_sha256: hex::encode(envelope_digest(&envelope)),
            chain_hash: event.hash.clone(),
        },
        envelope: Some(envelope),
        prev_hash: Some(event.prev_hash),
        path: store
            .tree_inclusion_path(seq, size)?
            .iter()
            .map(hex::encode)
            .collect(),
    })
}

fn consistency(store: &dyn Store, first: u64, second: u64) -> Result<ConsistencyProof> {
    Ok(ConsistencyProof {
        proof: "consistency".into(),
        first_size: first,
        first_root: hex::encode(store.tree_root(first)?),
        first_tree_head: None,
        second_size: second,
        second_root: hex::encode(store.tree_root(second)?),
        second_tree_head: None,
        path: store
            .tree_consistency_path(first, second)?
            .iter()
            .map(hex::encode)
            .collect(),
    })
}

/// Measures the tree on `store` (a freshly imported log of `n` events) and the import with the
/// tree kept current; `import_s` is the plain import's time. Adds the figures to `row`.
pub fn measure(
    dir: &Path,
    store: &mut dyn Store,
    n: usize,
    seed: u64,
    queries: usize,
    import_s: f64,
    row: &mut Value,
) -> Result<()> {
    let with_tree_s = import_with_tree(dir, n, seed)?;

    let started = Instant::now();
    let state = store.tree_catch_up()?;
    let catch_up_s = started.elapsed().as_secs_f64();
    let head = state.size;

    let mut rng = synth::Rng::new(seed ^ 0x7EE);
    let mut inclusion_ms = Vec::new();
    for _ in 0..queries {
        let seq = 1 + rng.below(head);
        let started = Instant::now();
        let proof = inclusion(store, seq, head)?;
        if check_inclusion(&proof, None).is_err() {
            bail!("the inclusion proof of event {seq} does not verify");
        }
        inclusion_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut consistency_ms = Vec::new();
    for _ in 0..queries {
        let first = 1 + rng.below(head);
        let started = Instant::now();
        let proof = consistency(store, first, head)?;
        if check_consistency(&proof, None).is_err() {
            bail!("the consistency proof from {first} does not verify");
        }
        consistency_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    inclusion_ms.sort_by(f64::total_cmp);
    consistency_ms.sort_by(f64::total_cmp);

    // A signed tree head of the whole log, as `checkpoint` makes one (the tree is current).
    let key = signing_key_from_seed(&[42; 32]);
    let started = Instant::now();
    let state = store.tree_catch_up()?;
    let head_signed = TreeHead {
        size: state.size,
        root: state.root,
        timestamp_ms: 0,
    }
    .sign(&key);
    store.insert_tree_head(&head_signed)?;
    let sign_ms = started.elapsed().as_secs_f64() * 1e3;

    let started = Instant::now();
    let report = store.verify_tree(Some(&key.verifying_key()), &mut |_| {})?;
    let verify_tree_s = started.elapsed().as_secs_f64();
    if report.size != head || report.heads != 1 {
        bail!(
            "verify_tree saw {} events and {} heads",
            report.size,
            report.heads
        );
    }

    row["import_with_tree_eps"] = json!(rate(n as u64, with_tree_s));
    row["import_with_tree_over_without"] = json!(with_tree_s / import_s);
    row["tree_catch_up_s"] = json!(catch_up_s);
    row["inclusion_proof_ms_p50"] = json!(percentile(&inclusion_ms, 0.5));
    row["inclusion_proof_ms_p99"] = json!(percentile(&inclusion_ms, 0.99));
    row["consistency_proof_ms_p50"] = json!(percentile(&consistency_ms, 0.5));
    row["consistency_proof_ms_p99"] = json!(percentile(&consistency_ms, 0.99));
    row["sign_tree_head_ms"] = json!(sign_ms);
    row["verify_tree_eps"] = json!(rate(head, verify_tree_s));
    row["verify_tree_s"] = json!(verify_tree_s);
    Ok(())
}

/// The tree's table, after the main one.
pub fn print_table(rows: &[Value]) {
    let f = |row: &Value, key: &str| row[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "\n| events | import ev/s | import with tree ev/s | with/without | tree catch-up after import s | inclusion proof p50/p99 ms | consistency proof p50/p99 ms | sign tree head ms | verify ev/s | verify tree ev/s |"
    );
    println!("|{}", "---|".repeat(10));
    for row in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.1} | {:.0} | {:.0} |",
            row["events"],
            f(row, "import_eps"),
            f(row, "import_with_tree_eps"),
            f(row, "import_with_tree_over_without"),
            f(row, "tree_catch_up_s"),
            f(row, "inclusion_proof_ms_p50"),
            f(row, "inclusion_proof_ms_p99"),
            f(row, "consistency_proof_ms_p50"),
            f(row, "consistency_proof_ms_p99"),
            f(row, "sign_tree_head_ms"),
            f(row, "verify_eps"),
            f(row, "verify_tree_eps"),
        );
    }
}
