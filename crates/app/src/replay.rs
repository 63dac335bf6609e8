//! Replaying the log into the projection up to a log position, from the nearest checkpoint, and
//! keeping new checkpoints so that any date replays in bounded time however long the log grows.

use lagesbild_model::RecordedAt;
use lagesbild_store::{Filter, Store, StoreError};
use lagesbild_timeline::{PROJECTION_FORMAT, Projection, TIMELINE_ONLY_KINDS};

use crate::caches::CacheNotice;

/// The name the projection's checkpoints are kept under.
pub const CHECKPOINT_NAME: &str = "programme";

/// A checkpoint every this many events: a replay of the programme folds at most this many events
/// after loading one. Ten thousand events fold in milliseconds; a checkpoint holds the programme
/// only (no timeline-only facts), a few kilobytes to a few hundred.
pub const CHECKPOINT_INTERVAL: u64 = 10_000;

/// Events read from the store at a time.
const PAGE: usize = 2_000;

/// The log position a transaction time means: the last event recorded at or before it.
pub fn seq_known_at(store: &dyn Store, known_at: Option<&RecordedAt>) -> Result<u64, StoreError> {
    Ok(match known_at {
        Some(at) => store.seq_known_at(at)?,
        None => store.head()?.seq,
    })
}

/// The projection of the log up to and including `max_seq`, timeline-only facts included: the
/// programme from its checkpoints ([`programme`]), then every timeline-only fact and its
/// corrections read from the log. Reading the facts costs time in proportion to how many there
/// are (they are all on the timeline); views that do not list them should use [`programme`].
pub fn projection(store: &mut dyn Store, max_seq: u64) -> Result<Projection, StoreError> {
    projection_noted(store, max_seq, &mut Vec::new())
}

/// [`projection`], saying in `notices` which checkpoints it refused (see [`programme_noted`]).
pub fn projection_noted(
    store: &mut dyn Store,
    max_seq: u64,
    notices: &mut Vec<CacheNotice>,
) -> Result<Projection, StoreError> {
    let mut projection = programme_noted(store, max_seq, notices)?;
    add_facts(store, &mut projection)?;
    Ok(projection)
}

/// The programme's state up to and including `max_seq` without the timeline-only facts
/// ([`lagesbild_timeline::is_timeline_only`]): plans, waves, matters, decisions, budgets and
/// every other kind a view derives state from. Loaded from the nearest checkpoint plus at most
/// [`CHECKPOINT_INTERVAL`] events, so its cost does not grow with operational streams. The
/// waves, plans, matters and the report read from it; its timeline lacks the facts.
pub fn programme(store: &mut dyn Store, max_seq: u64) -> Result<Projection, StoreError> {
    programme_noted(store, max_seq, &mut Vec::new())
}

/// [`programme`], saying in `notices` which checkpoints it refused: one not bound to this log
/// (another chain hash at its seq, a digest that does not match its state, a seq past the head)
/// or not where the policy writes one. A refused checkpoint is dropped (where the file can be
/// written) and the replay goes on from an older one, or from the first event.
pub fn programme_noted(
    store: &mut dyn Store,
    max_seq: u64,
    notices: &mut Vec<CacheNotice>,
) -> Result<Projection, StoreError> {
    programme_with_interval(store, max_seq, CHECKPOINT_INTERVAL, notices)
}

/// The programme's state up to and including `max_seq` folded from the first event, reading no
/// cache and writing none: what publishing, reproducing and the provenance check build from, as
/// they must not trust anything the chain does not cover. Only reads, so it also works inside
/// another transaction on the store (an append being checked, a restore).
pub fn programme_from_log(store: &dyn Store, max_seq: u64) -> Result<Projection, StoreError> {
    let mut projection = Projection::new();
    let filter = Filter {
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    lagesbild_store::for_each(store, &filter, PAGE, &mut |event| {
        projection.apply_programme(&event)
    })?;
    Ok(projection)
}

/// Folds every timeline-only fact up to the projection's position, and the corrections and
/// retractions of them, into a programme projection.
fn add_facts(store: &dyn Store, projection: &mut Projection) -> Result<(), StoreError> {
    let filter = Filter {
        kinds: TIMELINE_ONLY_KINDS
            .iter()
            .chain(&["event_corrected", "event_retracted"])
            .map(|kind| (*kind).to_owned())
            .collect(),
        max_seq: Some(projection.last_seq()),
        ..Filter::default()
    };
    lagesbild_store::for_each(store, &filter, PAGE, &mut |event| {
        projection.apply_fact_owned(event)
    })?;
    Ok(())
}

fn programme_with_interval(
    store: &mut dyn Store,
    max_seq: u64,
    interval: u64,
    notices: &mut Vec<CacheNotice>,
) -> Result<Projection, StoreError> {
    Ok(programme_folded(store, max_seq, interval, notices)?.0)
}

/// [`programme_with_interval`], and what its fold after the checkpoint read.
fn programme_folded(
    store: &mut dyn Store,
    max_seq: u64,
    interval: u64,
    notices: &mut Vec<CacheNotice>,
) -> Result<(Projection, Folded), StoreError> {
    let on_policy = |seq: u64| seq > 0 && seq.is_multiple_of(interval);
    let load =
        store.load_checkpoint_checked(CHECKPOINT_NAME, PROJECTION_FORMAT, max_seq, &on_policy)?;
    let mut refused = load.refused;
    let mut projection = match load.found {
        Some((seq, bytes)) => match Projection::from_checkpoint(&bytes) {
            Some(p) if p.last_seq() <= seq => p,
            _ => {
                refused.push((seq, "its state cannot be read".into()));
                Projection::new()
            }
        },
        None => Projection::new(),
    };
    for (seq, reason) in refused {
        let notice = CacheNotice::new("checkpoints", seq, reason);
        notice.warn();
        notices.push(notice);
        // Dropped, so the next read does not refuse it again; a read-only file keeps it.
        if let Err(error) = store.drop_checkpoint(CHECKPOINT_NAME, seq) {
            tracing::debug!(%error, seq, "refused checkpoint not dropped");
        }
    }
    let folded = fold_programme(store, &mut projection, max_seq, interval, None)?;
    Ok((projection, folded))
}

/// What a fold read, so that what it built can be bound to the chain it read.
#[derive(Debug)]
struct Folded {
    /// The seq and chain hash of the last event folded, if any was.
    last: Option<(u64, String)>,
    /// Every event folded followed the one before it: the next seq, naming the previous one's
    /// hash as its `prev_hash` (the first one the hash given to the fold, when one was). False
    /// when the log changed between two of the fold's reads (another file moved in, a restore),
    /// or the events after the position given are not chained to the hash given.
    chained: bool,
}

/// Folds the events after the projection's position up to and including `max_seq` into the
/// programme, keeping the checkpoints due on the way. `after_hash`, when given, is the chain
/// hash the programme was folded to: the first event read must name it as its previous hash.
fn fold_programme(
    store: &mut dyn Store,
    projection: &mut Projection,
    max_seq: u64,
    interval: u64,
    after_hash: Option<&str>,
) -> Result<Folded, StoreError> {
    let filter = Filter {
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut after = projection.last_seq();
    let mut last: Option<(u64, String)> = after_hash.map(|hash| (after, hash.to_owned()));
    let mut chained = true;
    loop {
        // Due checkpoints are kept page by page, so that a first replay of a long log never
        // holds more than one page's worth of them.
        let mut due = Vec::new();
        let read = store.read_each(&filter, after, PAGE, &mut |event| {
            if let Some((seq, hash)) = &last
                && (event.seq != seq + 1 || event.prev_hash != *hash)
            {
                chained = false;
            }
            after = event.seq;
            projection.apply_programme(&event);
            if event.seq % interval == 0 {
                due.push((event.seq, projection.to_checkpoint()));
            }
            last = Some((event.seq, event.hash));
        })?;
        for (seq, bytes) in due {
            // A checkpoint is a cache: failing to keep one (a read-only file) costs time, not data.
            if let Err(error) =
                store.save_checkpoint(CHECKPOINT_NAME, seq, PROJECTION_FORMAT, &bytes)
            {
                tracing::debug!(%error, seq, "checkpoint not saved");
            }
        }
        if read < PAGE {
            break;
        }
    }
    Ok(Folded { last, chained })
}

/// The programme of the latest position asked for, kept in memory between reads (the web
/// server keeps one, so that `/api/waves`, the waves and matter pages and a timeline page's
/// programme part do not replay per request): a cache like a checkpoint, bound to the chain
/// hash at its position and never served unless that binding holds against the log read now.
///
/// - A read at the kept position checks the chain hash there (one index seek) and serves the
///   kept programme when it is the one kept; another log (another file moved in, a restore of
///   a different log of the same length) has another hash there, and is replayed.
/// - A later read folds only the events since onto a copy, checking that the first of them
///   names the kept hash as its previous hash and that each names the one before it, so the
///   events folded continue the very chain the kept programme was folded from; the new
///   programme is kept bound to the hash of the last event folded (what was read, not a
///   second look that a restore in between could change). Only when no checkpoint lies
///   between the two positions: else a replay from that checkpoint is cheaper to trust.
/// - Any other read (earlier, as known at a past time; refused) replays through
///   [`programme_noted`], and keeps the result only if the chain hash at its position was the
///   same before and after the replay and its events were chained, so a log replaced during the
///   replay is never kept.
///
/// The programme depends only on the log position, not on the day a view is as of, so one kept
/// programme answers every `as_of`/`public_at`. Requests share it through an `Arc`; the lock is
/// held only to look at or replace the slot, never during a read of the store.
#[derive(Debug, Default)]
pub struct ProgrammeCache {
    slot: std::sync::Mutex<Option<Kept>>,
}

#[derive(Clone, Debug)]
struct Kept {
    seq: u64,
    chain_hash: String,
    programme: std::sync::Arc<Projection>,
}

impl ProgrammeCache {
    /// The programme up to and including `max_seq` (see [`programme_noted`]), from memory when
    /// the kept one holds against the chain.
    pub fn programme(
        &self,
        store: &mut dyn Store,
        max_seq: u64,
        notices: &mut Vec<CacheNotice>,
    ) -> Result<std::sync::Arc<Projection>, StoreError> {
        let nearest_checkpoint = max_seq - max_seq % CHECKPOINT_INTERVAL;
        if let Some(kept) = self
            .kept()
            .filter(|k| k.seq <= max_seq && k.seq >= nearest_checkpoint)
        {
            if kept.seq == max_seq {
                if store.chain_hash_at(max_seq)?.as_deref() == Some(kept.chain_hash.as_str()) {
                    return Ok(kept.programme);
                }
            } else {
                let mut programme = (*kept.programme).clone();
                let folded = fold_programme(
                    store,
                    &mut programme,
                    max_seq,
                    CHECKPOINT_INTERVAL,
                    Some(&kept.chain_hash),
                )?;
                if folded.chained
                    && let Some((seq, hash)) = folded.last
                    && seq == max_seq
                {
                    return Ok(self.keep(max_seq, hash, programme));
                }
            }
            // Not an integrity failure of a stored cache (nothing to verify): the log this
            // server reads is no longer the one the programme was folded from.
            tracing::warn!(
                kept_seq = kept.seq,
                max_seq,
                "the programme kept in memory does not continue the log read now; replayed"
            );
            self.forget(&kept);
        }
        let before = store.chain_hash_at(max_seq)?;
        let (programme, folded) = programme_folded(store, max_seq, CHECKPOINT_INTERVAL, notices)?;
        let after = store.chain_hash_at(max_seq)?;
        let read_one_chain = folded.chained
            && programme.last_seq() == max_seq
            && folded
                .last
                .as_ref()
                .is_none_or(|(_, hash)| before.as_ref() == Some(hash));
        match before {
            Some(hash) if read_one_chain && after.as_ref() == Some(&hash) => {
                Ok(self.keep(max_seq, hash, programme))
            }
            _ => Ok(std::sync::Arc::new(programme)),
        }
    }

    fn kept(&self) -> Option<Kept> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Empties the slot if it still holds `refused`.
    fn forget(&self, refused: &Kept) {
        let mut slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|k| k.seq == refused.seq && k.chain_hash == refused.chain_hash)
        {
            *slot = None;
        }
    }

    /// Keeps `programme`, folded to `seq` whose chain hash is `chain_hash`, unless a later
    /// position is kept already (requests at an older head finishing late).
    fn keep(
        &self,
        seq: u64,
        chain_hash: String,
        programme: Projection,
    ) -> std::sync::Arc<Projection> {
        let programme = std::sync::Arc::new(programme);
        let mut slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_none_or(|k| k.seq <= seq) {
            *slot = Some(Kept {
                seq,
                chain_hash,
                programme: std::sync::Arc::clone(&programme),
            });
        }
        programme
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagesbild_model::parse_event;
    use lagesbild_store::{EventLog, SqliteStore};

    /// A log of plans and timeline-only facts, with corrections and retractions of both.
    fn store_with(events: usize) -> SqliteStore {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let batch: Vec<_> = (0..events)
            .map(|i| {
                let occurred = format!("20{:02}-{:02}", 18 + i % 8, 1 + i % 12);
                let line = match i % 6 {
                    1 | 4 => format!(
                        r#"{{"kind":"fact_reported","occurred":"{occurred}","stream":"support","summary":"Ärende {i}.","source":{{"title":"Ärende {i}"}},"data":{{"topic":"supportarende"}}}}"#
                    ),
                    // Event i has seq i + 1: corrects the fact at i - 2.
                    3 => format!(
                        r#"{{"kind":"event_corrected","occurred":"2026-11-23","summary":"Rättelse {i}.","data":{{"target":{{"seq":{}}},"reason":"Fel i källan.","summary":"Rättad {i}."}}}}"#,
                        i - 1
                    ),
                    // Retracts the fact at i - 1.
                    5 => format!(
                        r#"{{"kind":"event_retracted","occurred":"2026-11-23","summary":"Återkallad {i}.","data":{{"target":{{"seq":{i}}},"reason":"Fel."}}}}"#
                    ),
                    // Corrects the plan at i - 2.
                    2 if i % 4 == 0 && (i - 2) % 11 != 0 => format!(
                        r#"{{"kind":"event_corrected","occurred":"2026-11-23","summary":"Rättelse {i}.","data":{{"target":{{"seq":{}}},"reason":"Fel i källan.","occurred":"2017-05"}}}}"#,
                        i - 1
                    ),
                    // Retracts the plan at i - 6.
                    0 if i % 11 == 0 && i >= 6 => format!(
                        r#"{{"kind":"event_retracted","occurred":"2026-11-23","summary":"Återkallad {i}.","data":{{"target":{{"seq":{}}},"reason":"Fel."}}}}"#,
                        i - 5
                    ),
                    _ => format!(
                        r#"{{"kind":"plan_revised","occurred":"{occurred}","summary":"Plan {i}.","source":{{"title":"Källa"}},"data":{{"waves":[{{"wave":"w{}","area":"Område","planned":"2030-H{}"}}]}}}}"#,
                        i % 3,
                        1 + i % 2
                    ),
                };
                parse_event(&line).expect("valid")
            })
            .collect();
        store.append(&batch, &[]).expect("append");
        store
    }

    fn projection_with_interval(
        store: &mut dyn Store,
        max_seq: u64,
        interval: u64,
    ) -> Result<Projection, StoreError> {
        let mut projection = programme_with_interval(store, max_seq, interval, &mut Vec::new())?;
        add_facts(store, &mut projection)?;
        Ok(projection)
    }

    /// `count` plans for wave w9, planned `year`, to append after a log.
    fn plans(count: usize, year: u32) -> Vec<lagesbild_model::NewEvent> {
        (0..count)
            .map(|i| {
                parse_event(&format!(
                    r#"{{"kind":"plan_revised","occurred":"2031-0{}","summary":"Ny plan.","source":{{"title":"Källa"}},"data":{{"waves":[{{"wave":"w9","area":"Område","planned":"{year}"}}]}}}}"#,
                    i + 1
                ))
                .expect("valid")
            })
            .collect()
    }

    #[test]
    fn the_kept_programme_is_served_at_its_position_and_equals_a_replay_everywhere() {
        let mut store = store_with(40);
        let cache = ProgrammeCache::default();
        let mut notices = Vec::new();
        let at_head = cache
            .programme(&mut store, 40, &mut notices)
            .expect("programme");
        assert_eq!(*at_head, programme(&mut store, 40).expect("replay"));
        // The same position again is served from memory (the very same programme).
        let again = cache
            .programme(&mut store, 40, &mut notices)
            .expect("programme");
        assert!(std::sync::Arc::ptr_eq(&at_head, &again));
        // An earlier position (known at a past time) is replayed, and does not replace it.
        for seq in [0, 1, 12, 39] {
            let earlier = cache
                .programme(&mut store, seq, &mut notices)
                .expect("programme");
            assert_eq!(
                *earlier,
                programme(&mut store, seq).expect("replay"),
                "at {seq}"
            );
            assert_eq!(earlier.last_seq(), seq);
        }
        let still = cache
            .programme(&mut store, 40, &mut notices)
            .expect("programme");
        assert!(std::sync::Arc::ptr_eq(&at_head, &still));
        assert!(notices.is_empty());
    }

    #[test]
    fn events_appended_by_another_connection_are_folded_onto_the_kept_programme() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.db");
        let mut reader = SqliteStore::open(&path).expect("opens");
        let mut writer = SqliteStore::open(&path).expect("opens");
        writer.append(&plans(3, 2030), &[]).expect("append");
        let cache = ProgrammeCache::default();
        let mut notices = Vec::new();
        let first = cache
            .programme(&mut reader, 3, &mut notices)
            .expect("programme");
        for (round, year) in [(1, 2032), (2, 2033), (3, 2034)] {
            writer.append(&plans(2, year), &[]).expect("append");
            let head = reader.head().expect("head").seq;
            assert_eq!(head, 3 + 2 * round);
            let kept = cache
                .programme(&mut reader, head, &mut notices)
                .expect("programme");
            assert_eq!(
                *kept,
                programme(&mut reader, head).expect("replay"),
                "round {round}"
            );
            assert_ne!(*kept, *first);
            // The folded one is now kept, and served as it is.
            let again = cache
                .programme(&mut reader, head, &mut notices)
                .expect("programme");
            assert!(std::sync::Arc::ptr_eq(&kept, &again));
        }
        assert!(notices.is_empty());
    }

    #[test]
    fn the_kept_programme_is_never_served_for_another_log_of_the_same_or_greater_length() {
        let mut store = store_with(40);
        store.append(&plans(5, 2031), &[]).expect("append");
        let cache = ProgrammeCache::default();
        let mut notices = Vec::new();
        let kept = cache
            .programme(&mut store, 45, &mut notices)
            .expect("programme");
        assert_eq!(*kept, programme(&mut store, 45).expect("replay"));
        // Another log of the same length: the chain hash at the kept position differs, so the
        // programme is replayed from it, not served from memory.
        let mut other = store_with(40);
        other.append(&plans(5, 2039), &[]).expect("append");
        let from_other = cache
            .programme(&mut other, 45, &mut notices)
            .expect("programme");
        assert_eq!(*from_other, programme(&mut other, 45).expect("replay"));
        assert_ne!(*from_other, *kept);
        // A longer one: its events after the kept position do not continue the kept chain
        // (the next event names another previous hash), so nothing is folded onto it.
        let mut longer = store_with(40);
        longer.append(&plans(7, 2040), &[]).expect("append");
        let from_longer = cache
            .programme(&mut longer, 47, &mut notices)
            .expect("programme");
        assert_eq!(*from_longer, programme(&mut longer, 47).expect("replay"));
        // And back on the first log: the kept programme (now the longer log's) is refused too.
        let back = cache
            .programme(&mut store, 45, &mut notices)
            .expect("programme");
        assert_eq!(*back, *kept);
        assert!(notices.is_empty());
    }

    #[test]
    fn a_fold_notices_events_that_do_not_continue_the_chain_it_was_given() {
        let mut store = store_with(10);
        let mut projection = programme(&mut store, 4).expect("replay");
        let right = store.chain_hash_at(4).expect("hash").expect("present");
        let folded = fold_programme(&mut store, &mut projection.clone(), 10, 100, Some(&right))
            .expect("fold");
        assert!(folded.chained);
        assert_eq!(
            folded.last,
            Some((10, store.chain_hash_at(10).unwrap().unwrap()))
        );
        let wrong = store.chain_hash_at(3).expect("hash").expect("present");
        let folded =
            fold_programme(&mut store, &mut projection, 10, 100, Some(&wrong)).expect("fold");
        assert!(!folded.chained);
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
        // ...and every later replay that starts from one gives the same state as from scratch,
        // and the programme alone the same views of waves, plans and matters.
        for seq in 0..=57 {
            assert_eq!(
                projection_with_interval(&mut store, seq, 10).expect("replay"),
                scratch[seq as usize],
                "at {seq}"
            );
            let programme =
                programme_with_interval(&mut store, seq, 10, &mut Vec::new()).expect("replay");
            let (alone, full) = (programme.view(None), scratch[seq as usize].view(None));
            assert_eq!(
                (&alone.waves, &alone.plans, &alone.matters, alone.log_seq),
                (&full.waves, &full.plans, &full.matters, full.log_seq),
                "at {seq}"
            );
            assert!(
                programme
                    .entries()
                    .all(|e| e.data.kind() != "fact_reported")
            );
        }
        assert!(
            scratch[57]
                .entries()
                .any(|e| e.data.kind() == "fact_reported" && !e.corrections.is_empty())
        );
    }
}
