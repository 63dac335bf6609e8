//! Replay for the benchmark: the shared use cases of `lagesbild-app` (replay from checkpoints,
//! the report model), and a one-pass full replay without checkpoints for the throughput figure.

use anyhow::Result;
use lagesbild_model::StoredEvent;
use lagesbild_store::{EventLog, Filter, SqliteStore};
use lagesbild_timeline::{Material, Projection};

const PAGE: usize = 2_000;

/// The shared use cases, as the binary runs them.
pub use lagesbild_app::replay::{CHECKPOINT_NAME, programme, projection};
pub use lagesbild_app::report::build_model;

/// A full replay from the first event, without checkpoints: the projection and the report's
/// material folded in one pass over the log. Returns how many events were read.
pub fn full_replay(store: &SqliteStore) -> Result<(Projection, Material, u64)> {
    replay_all(store, Projection::apply)
}

/// A full replay of the state the application keeps across queries: the programme without the
/// timeline-only facts (what checkpoints hold) and the report's material, in one pass.
pub fn programme_replay(store: &SqliteStore) -> Result<(Projection, Material, u64)> {
    replay_all(store, Projection::apply_programme)
}

/// Every event, page by page, through `fold` and into the report's material.
fn replay_all(
    store: &SqliteStore,
    fold: impl Fn(&mut Projection, &StoredEvent),
) -> Result<(Projection, Material, u64)> {
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
            fold(&mut projection, event);
            material.apply(event);
        }
        count += page.len() as u64;
        if page.len() < PAGE {
            break;
        }
    }
    Ok((projection, material, count))
}
