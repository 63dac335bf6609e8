//! Replaying the log into the projection up to a log position, from the nearest checkpoint, and
//! keeping new checkpoints so that any date replays in bounded time however long the log grows.

use lagesbild_model::RecordedAt;
use lagesbild_store::{EventLog, Filter, SqliteStore, StoreError};
use lagesbild_timeline::{PROJECTION_FORMAT, Projection};

/// The name the projection's checkpoints are kept under.
pub const CHECKPOINT_NAME: &str = "programme";

/// A checkpoint every this many events: a replay folds at most this many events after loading
/// one. Ten thousand events fold in milliseconds; a checkpoint is a few hundred kilobytes.
pub const CHECKPOINT_INTERVAL: u64 = 10_000;

/// Events read from the store at a time.
const PAGE: usize = 2_000;

/// The log position a transaction time means: the last event recorded at or before it.
pub fn seq_known_at(store: &SqliteStore, known_at: Option<&RecordedAt>) -> Result<u64, StoreError> {
    Ok(match known_at {
        Some(at) => store.seq_known_at(at)?,
        None => store.head()?.seq,
    })
}

/// The projection of the log up to and including `max_seq`.
pub fn projection(store: &mut SqliteStore, max_seq: u64) -> Result<Projection, StoreError> {
    projection_with_interval(store, max_seq, CHECKPOINT_INTERVAL)
}

fn projection_with_interval(
    store: &mut SqliteStore,
    max_seq: u64,
    interval: u64,
) -> Result<Projection, StoreError> {
    let mut projection = match store.load_checkpoint(CHECKPOINT_NAME, PROJECTION_FORMAT, max_seq)? {
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
    loop {
        let page = store.read_page(&filter, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        // Due checkpoints are kept page by page, so that a first replay of a long log never
        // holds more than one page's worth of them.
        let mut due = Vec::new();
        for event in &page {
            projection.apply(event);
            if event.seq % interval == 0 {
                due.push((event.seq, projection.to_checkpoint()));
            }
        }
        for (seq, bytes) in due {
            // A checkpoint is a cache: failing to keep one (a read-only file) costs time, not data.
            if let Err(error) =
                store.save_checkpoint(CHECKPOINT_NAME, seq, PROJECTION_FORMAT, &bytes)
            {
                tracing::debug!(%error, seq, "checkpoint not saved");
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(projection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagesbild_model::parse_event;

    fn store_with(events: usize) -> SqliteStore {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let batch = (0..events)
            .map(|i| {
                let line = format!(
                    r#"{{"kind":"plan_revised","occurred":"20{:02}-{:02}","summary":"Plan {i}.","source":{{"title":"Källa"}},"data":{{"waves":[{{"wave":"w{}","area":"Område","planned":"2030-H{}"}}]}}}}"#,
                    18 + i % 8,
                    1 + i % 12,
                    i % 3,
                    1 + i % 2
                );
                parse_event(&line).expect("valid")
            })
            .collect();
        store.append(batch, &[]).expect("append");
        store
    }

    #[test]
    fn replay_through_checkpoints_equals_replay_from_scratch_at_every_position() {
        let mut store = store_with(57);
        let scratch: Vec<Projection> = (0..=57)
            .map(|seq| {
                let events: Vec<_> = store
                    .read_page(
                        &Filter {
                            max_seq: Some(seq),
                            ..Filter::default()
                        },
                        0,
                        100,
                    )
                    .expect("read");
                lagesbild_timeline::replay(&events)
            })
            .collect();
        // The first full replay leaves checkpoints every 10 events...
        let full = projection_with_interval(&mut store, 57, 10).expect("replay");
        assert_eq!(full, scratch[57]);
        assert_eq!(
            store
                .load_checkpoint(CHECKPOINT_NAME, PROJECTION_FORMAT, 57)
                .expect("load")
                .map(|c| c.0),
            Some(50)
        );
        // ...and every later replay that starts from one gives the same state as from scratch.
        for seq in 0..=57 {
            assert_eq!(
                projection_with_interval(&mut store, seq, 10).expect("replay"),
                scratch[seq as usize],
                "at {seq}"
            );
        }
    }
}
