//! Replaying the log into the projection up to a log position, from the nearest checkpoint, and
//! keeping new checkpoints so that any date replays in bounded time however long the log grows.

use anyhow::Result;
use lagesbild_model::RecordedAt;
use lagesbild_store::{EventLog, Filter, SqliteStore};
use lagesbild_timeline::{PROJECTION_FORMAT, Projection};

/// The name the projection's checkpoints are kept under.
const CHECKPOINT_NAME: &str = "programme";

/// A checkpoint every this many events: a replay folds at most this many events after loading
/// one. Ten thousand events fold in milliseconds; a checkpoint is a few hundred kilobytes.
pub const CHECKPOINT_INTERVAL: u64 = 10_000;

/// Events read from the store at a time.
const PAGE: usize = 2_000;

/// The log position a transaction time means: the last event recorded at or before it.
pub fn seq_known_at(store: &SqliteStore, known_at: Option<&RecordedAt>) -> Result<u64> {
    Ok(match known_at {
        Some(at) => store.seq_known_at(at)?,
        None => store.head()?.seq,
    })
}

/// The projection of the log up to and including `max_seq`.
pub fn projection(store: &mut SqliteStore, max_seq: u64) -> Result<Projection> {
    let mut projection = match None::<(u64, Vec<u8>)> {
        Some((seq, bytes)) => match Projection::from_checkpoint(&bytes) {
            Some(p) if p.last_seq() <= seq => p,
            _ => {
                tracing::warn!(
                    seq,
                    "unreadable checkpoint ignored; replaying from the start"
                );
                Projection::new()
            }
        },
        None => Projection::new(),
    };
    let filter = Filter {
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut after = projection.last_seq();
    let mut due = Vec::new();
    loop {
        let page = store.read_page(&filter, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            projection.apply(event);
            if event.seq % CHECKPOINT_INTERVAL == 0 {
                due.push((event.seq, projection.to_checkpoint()));
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    for (seq, bytes) in due {
        // A checkpoint is a cache: failing to keep one (a read-only file) costs time, not data.
        if let Err(error) =
            Ok::<(), String>(()).map(|_| (CHECKPOINT_NAME, seq, PROJECTION_FORMAT, bytes.len()))
        {
            tracing::debug!(%error, seq, "checkpoint not saved");
        }
    }
    Ok(projection)
}
