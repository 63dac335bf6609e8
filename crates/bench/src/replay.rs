//! Replay for the benchmark: the shared use cases of `lagesbild-app` (replay from checkpoints,
//! the report model), and a one-pass full replay without checkpoints for the throughput figure.

use anyhow::Result;
use lagesbild_store::{EventLog, Filter, SqliteStore};
use lagesbild_timeline::{Material, Projection};

const PAGE: usize = 2_000;

/// The shared use cases, as the binary runs them.
pub use lagesbild_app::replay::{CHECKPOINT_NAME, projection};
pub use lagesbild_app::report::build_model;

/// A full replay from the first event, without checkpoints: the projection and the report's
/// material folded in one pass over the log. Returns how many events were read.
pub fn full_replay(store: &SqliteStore) -> Result<(Projection, Material, u64)> {
    let mut projection = Projection::new();
    let mut material = Material::new();
    let filter = Filter::default();
    let mut after = 0;
    let mut count = 0;
    loop {
        let page = store.read_page(&filter, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            projection.apply(event);
            material.apply(event);
        }
        count += page.len() as u64;
        if page.len() < PAGE {
            break;
        }
    }
    Ok((projection, material, count))
}
