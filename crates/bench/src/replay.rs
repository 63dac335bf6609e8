//! Replay for the benchmark: the shared use cases of `lagesbild-app` (replay from checkpoints,
//! the report model), and a one-pass full replay without checkpoints for the throughput figure.

use anyhow::Result;
use lagesbild_model::StoredEvent;
use lagesbild_store::{Filter, Store};
use lagesbild_timeline::{Material, Projection, is_report_material};

const PAGE: usize = 2_000;

/// The shared use cases, as the binary runs them.
pub use lagesbild_app::replay::{CHECKPOINT_NAME, programme, projection};
pub use lagesbild_app::report::{build_model, fold_material};

/// A full replay from the first event, without checkpoints: the projection and the report's
/// material folded in one pass over the log. Returns how many events were read. Each event is
/// handed to the one that keeps it (report material to the material, anything else to the
/// projection), so its text moves rather than being copied; the other sees it borrowed, which
/// for a kind it does not keep only moves its position.
pub fn full_replay(store: &dyn Store) -> Result<(Projection, Material, u64)> {
    let mut projection = Projection::new();
    let mut material = Material::new();
    let count = for_each_owned(store, |event| {
        if is_report_material(event.event.data.kind()) {
            projection.apply(&event);
            material.apply_owned(event);
        } else {
            material.apply(&event);
            projection.apply_owned(event);
        }
    })?;
    Ok((projection, material, count))
}

/// A full replay of the state the application keeps across queries, from nothing: the
/// programme without the timeline-only facts (what checkpoints hold), folded in memory, and the
/// report's material, folded into its index in the database (emptied first). Returns the
/// programme and how many events were read.
pub fn programme_replay(store: &mut dyn Store) -> Result<(Projection, u64)> {
    let mut projection = Projection::new();
    let count = for_each_event(store, |event| projection.apply_programme(event))?;
    store.drop_material()?;
    lagesbild_app::material::catch_up(store)?;
    Ok((projection, count))
}

/// Every event read and decoded, page by page, and dropped: the replay's read without its fold.
/// Returns how many events were read.
pub fn read_only(store: &dyn Store) -> Result<u64> {
    for_each_owned(store, |event| {
        std::hint::black_box(&event);
    })
}

/// Every event, page by page, in log order, handed over; returns how many there were.
fn for_each_owned(store: &dyn Store, mut fold: impl FnMut(StoredEvent)) -> Result<u64> {
    Ok(lagesbild_store::for_each(
        store,
        &Filter::default(),
        PAGE,
        &mut fold,
    )?)
}

/// Every event, page by page, in log order; returns how many there were.
fn for_each_event(store: &dyn Store, mut fold: impl FnMut(&StoredEvent)) -> Result<u64> {
    for_each_owned(store, |event| fold(&event))
}
