//! What every backend does the same way: the append of a batch (targets, keys, expected
//! versions, stream versions, the chain), and the check of a stored row and of the chain that
//! `verify` and `restore` run. A backend supplies only the reads and the insert, inside its own
//! transaction ([`AppendTx`]), and the raw columns of a row ([`RawRow`]); so a log written through
//! one backend verifies, exports and restores byte for byte the same through the other.

use std::borrow::Cow;
use std::collections::HashMap;

use lagesbild_model::date::push_day;
use lagesbild_model::trusted::content_and_envelope;
use lagesbild_model::{
    EventData, FieldError, FuzzyDate, GENESIS_HASH, NewEvent, RecordedAt, Rules, SCHEMA_VERSION,
    StoredEvent, canonical_json, chain_hash, envelope_json, event_from_value_under,
};

use crate::{AppendReport, Expectation, Head, Outcome, StoreError};

/// What a correction or retraction points at, read from the log (which, inside the append's
/// transaction, already holds the earlier events of the same batch).
#[derive(Clone)]
pub(crate) struct TargetInfo {
    pub(crate) seq: u64,
    pub(crate) kind: String,
    pub(crate) content: String,
}

impl TargetInfo {
    fn event(&self) -> Result<NewEvent, StoreError> {
        let broken = |reason: String| StoreError::Broken {
            seq: self.seq,
            reason,
        };
        let value: serde_json::Value = serde_json::from_str(&self.content)
            .map_err(|e| broken(format!("content is not JSON: {e}")))?;
        // Stored content: checked by the rules it was appended under.
        event_from_value_under(value, Rules::Stored)
            .map_err(|e| broken(format!("content is not a valid event: {e}")))
    }
}

/// The reads and the insert an append makes, inside the backend's write transaction, which
/// holds the log's write lock from before the first of them.
pub(crate) trait AppendTx {
    /// The head as it stands in the transaction.
    fn head(&mut self) -> Result<Head, StoreError>;
    /// The last version of `stream` in the log (0 for a new stream).
    fn stream_version(&mut self, stream: &str) -> Result<u64, StoreError>;
    /// The event with `key`, if any.
    fn by_key(&mut self, key: &str) -> Result<Option<TargetInfo>, StoreError>;
    /// The event `seq`, if any.
    fn by_seq(&mut self, seq: u64) -> Result<Option<TargetInfo>, StoreError>;
    /// Inserts one event's row. A backend may hold rows back until [`AppendTx::flush`],
    /// answering [`AppendTx::by_key`] and [`AppendTx::by_seq`] for them.
    fn insert(&mut self, row: &Row<'_>) -> Result<(), StoreError>;
    /// Every key the batch names (its events' and its targets'), before any is looked up, for a
    /// backend that fetches them in one query rather than one each.
    fn prefetch_keys(&mut self, _keys: &[&str]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Writes every row held back; called once the batch is checked, before anything else reads
    /// the log.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One row of the `events` table as an append inserts it, every column ready: the text columns
/// borrowed from wherever they were written (for an event the worker encoded, one buffer per
/// chunk of events).
pub(crate) struct Row<'a> {
    pub(crate) seq: u64,
    pub(crate) stream_version: u64,
    pub(crate) schema: u32,
    /// The stream, key and kind columns are read from the event.
    pub(crate) event: &'a NewEvent,
    /// The transaction time as text (an append's is the same for its whole batch).
    pub(crate) recorded_at: &'a str,
    /// The canonical content.
    pub(crate) content: &'a str,
    pub(crate) occurred: &'a str,
    pub(crate) occurred_first: &'a str,
    pub(crate) occurred_last: &'a str,
    pub(crate) prev_hash: &'a str,
    pub(crate) hash: &'a str,
}

impl Row<'_> {
    /// The row of a stored event, as a restore inserts it again: `content` is its canonical
    /// content; the days are printed here as an append prints them.
    pub(crate) fn restored<T>(
        event: &StoredEvent,
        content: &str,
        insert: impl FnOnce(&Row<'_>) -> T,
    ) -> T {
        let mut text = String::new();
        let columns = Columns::write(&mut text, content, &event.hash, &event.event.occurred);
        let [content, hash, occurred, occurred_first, occurred_last] = columns.get(&text);
        insert(&Row {
            seq: event.seq,
            stream_version: event.stream_version,
            schema: event.schema,
            event: &event.event,
            recorded_at: &event.recorded_at.to_string(),
            content,
            occurred,
            occurred_first,
            occurred_last,
            prev_hash: &event.prev_hash,
            hash,
        })
    }
}

/// Where the computed text columns of one row lie in a buffer they were appended to: the
/// content, the chain hash, and the valid time with its first and last day, one after another.
#[derive(Clone, Copy)]
struct Columns {
    start: usize,
    ends: [usize; 5],
}

impl Columns {
    /// Appends the columns to `out`.
    fn write(out: &mut String, content: &str, hash: &str, occurred: &FuzzyDate) -> Columns {
        use std::fmt::Write as _;
        let start = out.len();
        out.push_str(content);
        let content_end = out.len();
        out.push_str(hash);
        let hash_end = out.len();
        write!(out, "{occurred}").expect("writing to a String cannot fail");
        let occurred_end = out.len();
        push_day(out, occurred.first_day());
        let first_end = out.len();
        push_day(out, occurred.last_day());
        Columns {
            start,
            ends: [content_end, hash_end, occurred_end, first_end, out.len()],
        }
    }

    /// The content, hash, valid time, first and last day, as written into `text`.
    fn get<'t>(&self, text: &'t str) -> [&'t str; 5] {
        let mut from = self.start;
        self.ends.map(|end| {
            let column = &text[from..end];
            from = end;
            column
        })
    }
}

fn stream_version(
    tx: &mut dyn AppendTx,
    versions: &mut HashMap<String, u64>,
    stream: &str,
) -> Result<u64, StoreError> {
    if let Some(version) = versions.get(stream) {
        return Ok(*version);
    }
    let version = tx.stream_version(stream)?;
    versions.insert(stream.to_owned(), version);
    Ok(version)
}

/// Appends `batch` through `tx`, stamped `now` (or the head's time, if the clock went back):
/// every check of [`EventLog::append`](crate::EventLog::append), in order, the first failure
/// returned with nothing of it committed by the caller. The batch is borrowed: an event the
/// checks rewrite (a correction's or retraction's target) is copied first.
pub(crate) fn append_batch(
    tx: &mut dyn AppendTx,
    batch: &[NewEvent],
    expectations: &[Expectation],
    now: RecordedAt,
) -> Result<AppendReport, StoreError> {
    let head = tx.head()?;
    // Transaction time never goes backwards, even if the system clock does.
    let recorded_at = match head.recorded_at {
        Some(last) if last > now => last,
        _ => now,
    };

    let mut versions: HashMap<String, u64> = HashMap::new();
    for expectation in expectations {
        let actual = stream_version(tx, &mut versions, &expectation.stream)?;
        if actual != expectation.version {
            return Err(StoreError::StaleVersion {
                stream: expectation.stream.clone(),
                expected: expectation.version,
                actual,
            });
        }
    }

    let keys: Vec<&str> = batch
        .iter()
        .flat_map(|event| {
            let target = event.data.target().and_then(|t| t.key.as_ref());
            event.key.iter().chain(target).map(|key| key.as_str())
        })
        .collect();
    tx.prefetch_keys(&keys)?;
    drop(keys);

    if batch.len() < PIPELINE_MIN_EVENTS {
        let chunk = Chunk {
            items: vec![None; batch.len()],
            text: String::new(),
        };
        return append_items(
            tx,
            batch,
            std::iter::once(chunk),
            head,
            versions,
            recorded_at,
        );
    }
    // A large batch: its events are encoded and hashed on a second thread, ahead of this one,
    // which makes the reads, checks and inserts (SQLite's connection stays on this thread). The
    // worker assumes every event is appended in order; where that stops holding (an event with
    // a target, which the checks rewrite, or one already present) this thread encodes the rest
    // itself, as for a small batch. The result is the same either way (test in
    // crates/store/tests/append.rs).
    for event in batch {
        stream_version(tx, &mut versions, event.stream.as_str())?;
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(PIPELINE_DEPTH / PIPELINE_CHUNK);
    let start = (head.seq, head.hash.clone(), versions.clone());
    std::thread::scope(|scope| {
        scope.spawn(move || speculate(batch, start, recorded_at, sender));
        // Returning (an error included) drops the receiver, which ends the worker.
        append_items(tx, batch, receiver.into_iter(), head, versions, recorded_at)
    })
}

/// Below this many events a batch is encoded on the appending thread: a second thread costs
/// more than it hides (a web append is one event).
const PIPELINE_MIN_EVENTS: usize = 64;

/// How many encoded events the worker may be ahead of the inserts: a whole batch of the import
/// (1,000 events, about 0.5 MB of text). With 256, the worker, which is faster than the inserts,
/// filled the channel and waited, and the appending thread woke it through the kernel for
/// every chunk it took (1.5 % of the appending thread's samples, BENCHMARKS.md).
const PIPELINE_DEPTH: usize = 1_024;

/// Events per message from the worker. One message per event made the two threads wake each
/// other through the kernel about once per event (13 % of an import's samples in the profile in
/// BENCHMARKS.md); a chunk makes that once per `PIPELINE_CHUNK` events.
const PIPELINE_CHUNK: usize = 64;

/// Events in the worker's first message, which the appending thread waits for: with a whole
/// chunk first, the appending thread waited 0.26–0.30 s in all of a 4.1–4.2 s import of 300k
/// events (batches of 1,000); starting at 4 and doubling, 0.14–0.17 s (BENCHMARKS.md).
const PIPELINE_FIRST_CHUNK: usize = 4;
const _: () = assert!(0 < PIPELINE_FIRST_CHUNK && PIPELINE_FIRST_CHUNK <= PIPELINE_CHUNK);

/// What the worker computed for the next events of a batch, in order (`None` for an event it
/// did not encode), with their text in one buffer. The appending thread frees a chunk's text in
/// one go: when it freed each event's content and hash, which the worker had allocated, not
/// freeing them at all made the import about a tenth faster (BENCHMARKS.md).
struct Chunk {
    items: Vec<Option<Speculated>>,
    text: String,
}

impl Chunk {
    /// Room for `events`, and for their text if the worker is still encoding (`encoding`).
    fn with_capacity(events: usize, encoding: bool) -> Chunk {
        Chunk {
            items: Vec::with_capacity(events),
            text: String::with_capacity(if encoding {
                events * CHUNK_TEXT_PER_EVENT
            } else {
                0
            }),
        }
    }
}

/// Room for one event's text columns in a chunk's buffer, reserved ahead: about what a fact of
/// the bench's history takes (content 360 bytes, hash 64, days 30), so that a chunk's buffer
/// rarely grows.
const CHUNK_TEXT_PER_EVENT: usize = 512;

/// The columns of an event (content, chain hash, days) in its chunk's text, computed for the
/// place it gets if every event before it in the batch is appended as given.
#[derive(Clone, Copy)]
struct Speculated {
    seq: u64,
    stream_version: u64,
    columns: Columns,
}

/// The worker of a large batch: encodes and hashes each event for the place it gets if every
/// earlier one is appended as given, until the first event with a target (its content depends
/// on the log), after which it only passes events on.
fn speculate(
    batch: &[NewEvent],
    (mut seq, mut prev_hash, mut versions): (u64, String, HashMap<String, u64>),
    recorded_at: RecordedAt,
    sender: std::sync::mpsc::SyncSender<Chunk>,
) {
    let mut going = true;
    // The first chunks are small, so that the inserts start once a few events are encoded
    // rather than a whole chunk; each is twice the one before, up to `PIPELINE_CHUNK`.
    let mut size = PIPELINE_FIRST_CHUNK;
    let mut chunk = Chunk::with_capacity(size, true);
    for event in batch {
        going = going && event.data.target().is_none();
        let speculated = match versions.get_mut(event.stream.as_str()) {
            Some(version) if going => {
                seq += 1;
                *version += 1;
                let (content, envelope) =
                    content_and_envelope(&event, seq, *version, &recorded_at, SCHEMA_VERSION);
                let hash = chain_hash(&prev_hash, &envelope);
                let columns = Columns::write(&mut chunk.text, &content, &hash, &event.occurred);
                prev_hash = hash;
                Some(Speculated {
                    seq,
                    stream_version: *version,
                    columns,
                })
            }
            _ => {
                going = false;
                None
            }
        };
        chunk.items.push(speculated);
        if chunk.items.len() == size {
            size = (size * 2).min(PIPELINE_CHUNK);
            let full = std::mem::replace(&mut chunk, Chunk::with_capacity(size, going));
            if sender.send(full).is_err() {
                // The append stopped (an error): nothing more is wanted.
                return;
            }
        }
    }
    if !chunk.items.is_empty() {
        // An error on the other side needs nothing more of this one either.
        let _ = sender.send(chunk);
    }
}

/// The append proper, event by event in order: targets, keys, versions, the chain and the
/// insert. An event's worker-computed content and hash are used while every event before it
/// was appended as the worker assumed; otherwise they are computed here.
fn append_items(
    tx: &mut dyn AppendTx,
    batch: &[NewEvent],
    chunks: impl Iterator<Item = Chunk>,
    head: Head,
    mut versions: HashMap<String, u64>,
    recorded_at: RecordedAt,
) -> Result<AppendReport, StoreError> {
    let recorded_text = recorded_at.to_string();
    let mut outcomes = Vec::new();
    // Keys appended in this batch: key -> (seq, content).
    let mut batch_keys: HashMap<String, (u64, String)> = HashMap::new();
    let mut seq = head.seq;
    let mut prev_hash = head.hash.clone();
    // Whether every event so far was appended as the worker assumed.
    let mut speculation_holds = true;
    // The columns of an event encoded on this thread, one buffer reused for every such event.
    let mut own = String::new();
    let mut next_index = 0;
    for Chunk { items, text } in chunks {
        for speculated in items {
            let index = next_index;
            next_index += 1;
            let mut event = Cow::Borrowed(&batch[index]);
            let invalid = |field: &str, reason: String| StoreError::Invalid {
                index,
                error: FieldError::new(field, reason),
            };
            if let Some(target) = event.data.target().cloned() {
                let info = if let Some(key) = &target.key {
                    let info = tx.by_key(key.as_str())?.ok_or_else(|| {
                        invalid(
                            "data.target.key",
                            format!("no event with key {:?} is in the log", key.as_str()),
                        )
                    })?;
                    if let Some(given) = target.seq
                        && given != info.seq
                    {
                        return Err(invalid(
                            "data.target",
                            format!(
                                "key {:?} is event {}, not event {given}",
                                key.as_str(),
                                info.seq
                            ),
                        ));
                    }
                    info
                } else {
                    let given = target.seq.expect("the model requires a key or a seq");
                    // A seq above what the database holds is no event (and must not panic).
                    let found = match i64::try_from(given) {
                        Ok(_) => tx.by_seq(given)?,
                        Err(_) => None,
                    };
                    found.ok_or_else(|| {
                        invalid(
                            "data.target.seq",
                            format!("there is no event {given} in the log"),
                        )
                    })?
                };
                if matches!(
                    info.kind.as_str(),
                    "event_corrected" | "event_retracted" | "report_published"
                ) {
                    return Err(invalid(
                        "data.target",
                        format!(
                            "event {} is a {}; correct or retract the original event instead",
                            info.seq, info.kind
                        ),
                    ));
                }
                if let EventData::EventCorrected(correction) = &mut event.to_mut().data {
                    // The target as corrected must be a valid event; corrected data is kept in the
                    // canonical form of the target's kind.
                    let corrected = correction
                        .apply_to(&info.event()?)
                        .map_err(|error| StoreError::Invalid { index, error })?;
                    if correction.data.is_some() {
                        let mut value =
                            serde_json::to_value(&corrected.data).expect("data serializes");
                        correction.data = value.get_mut("data").map(serde_json::Value::take);
                    }
                }
                if let Some(target) = event.to_mut().data.target_mut() {
                    target.seq = Some(info.seq);
                }
            }

            // The content and the envelope in one pass, straight from the typed event (byte for
            // byte its canonical JSON value's; tests in crates/model), with the seq and stream
            // version the event gets if it is appended (both are discarded if it is already
            // present); or the content and hash the worker computed for exactly that place.
            let next_version = stream_version(tx, &mut versions, event.stream.as_str())? + 1;
            let encoding = match speculated {
                Some(done)
                    if speculation_holds
                        && done.seq == seq + 1
                        && done.stream_version == next_version =>
                {
                    Encoding::Worker(done.columns)
                }
                _ => {
                    speculation_holds = false;
                    let (content, envelope) = content_and_envelope(
                        &event,
                        seq + 1,
                        next_version,
                        &recorded_at,
                        SCHEMA_VERSION,
                    );
                    Encoding::Here { content, envelope }
                }
            };
            let content = encoding.content(&text);
            if let Some(key) = &event.key {
                if let Some((existing, existing_content)) = batch_keys.get(key.as_str()) {
                    if existing_content == content {
                        // Not appended: the worker's places for the events after it are wrong.
                        speculation_holds = false;
                        outcomes.push(Outcome::AlreadyPresent { seq: *existing });
                        continue;
                    }
                    return Err(StoreError::KeyConflict {
                        index,
                        key: key.to_string(),
                        seq: *existing,
                    });
                }
                if let Some(existing) = tx.by_key(key.as_str())? {
                    if existing.content == content {
                        speculation_holds = false;
                        outcomes.push(Outcome::AlreadyPresent { seq: existing.seq });
                        continue;
                    }
                    return Err(StoreError::KeyConflict {
                        index,
                        key: key.to_string(),
                        seq: existing.seq,
                    });
                }
            }

            seq += 1;
            let version = next_version;
            // `stream_version` above entered the stream, so no key is allocated here per event.
            match versions.get_mut(event.stream.as_str()) {
                Some(known) => *known = version,
                None => {
                    versions.insert(event.stream.to_string(), version);
                }
            }
            let [content, hash, occurred, occurred_first, occurred_last] = match &encoding {
                Encoding::Worker(columns) => columns.get(&text),
                Encoding::Here { content, envelope } => {
                    own.clear();
                    let hash = chain_hash(&prev_hash, envelope);
                    Columns::write(&mut own, content, &hash, &event.occurred).get(&own)
                }
            };
            if let Some(key) = &event.key {
                batch_keys.insert(key.to_string(), (seq, content.to_owned()));
            }
            tx.insert(&Row {
                seq,
                stream_version: version,
                schema: SCHEMA_VERSION,
                event: &event,
                recorded_at: &recorded_text,
                content,
                occurred,
                occurred_first,
                occurred_last,
                prev_hash: &prev_hash,
                hash,
            })?;
            prev_hash.clear();
            prev_hash.push_str(hash);
            outcomes.push(Outcome::Appended {
                seq,
                stream_version: version,
            });
        }
    }
    tx.flush()?;
    let head = if seq == head.seq {
        head
    } else {
        Head {
            seq,
            hash: prev_hash,
            recorded_at: Some(recorded_at),
        }
    };
    Ok(AppendReport { outcomes, head })
}

/// An event's columns as the worker wrote them into its chunk's text, or its content and
/// envelope encoded on the appending thread (the hash and days are written once it is known to
/// be appended).
enum Encoding {
    Worker(Columns),
    Here { content: String, envelope: String },
}

impl Encoding {
    /// The canonical content; `text` is the event's chunk's.
    fn content<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Encoding::Worker(columns) => columns.get(text)[0],
            Encoding::Here { content, .. } => content,
        }
    }
}

/// One stored row as the backend read it, every column as text or number, before any check.
pub(crate) struct RawRow {
    pub(crate) seq: u64,
    pub(crate) stream: String,
    pub(crate) stream_version: u64,
    pub(crate) key: Option<String>,
    pub(crate) kind: String,
    pub(crate) occurred: String,
    pub(crate) occurred_first: String,
    pub(crate) occurred_last: String,
    pub(crate) recorded_at: String,
    pub(crate) schema: u32,
    pub(crate) content: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

/// `verify`'s check of one row, in the order the SQLite backend always made it: the content is
/// a valid event in canonical form (by the rules it was appended under), every column repeats
/// the content, and the chain holds.
pub(crate) fn verify_row(checker: &mut ChainChecker, row: RawRow) -> Result<(), StoreError> {
    let seq = row.seq;
    checker.check_seq(seq)?;
    let broken = |reason: String| StoreError::Broken { seq, reason };
    let value: serde_json::Value = serde_json::from_str(&row.content)
        .map_err(|e| broken(format!("content is not JSON: {e}")))?;
    // Every check, but by the rules the event was appended under: a check added later for new
    // input (bidirectional controls, negative amounts) does not make an old log bad.
    let event = event_from_value_under(value.clone(), Rules::Stored)
        .map_err(|e| broken(format!("content is not a valid event: {e}")))?;
    let event_value = event.to_value();
    if canonical_json(&event_value) != row.content {
        return Err(broken(
            "content is not in canonical form: it was edited".into(),
        ));
    }
    let recorded_at =
        RecordedAt::parse(&row.recorded_at).map_err(|e| broken(format!("recorded_at: {e}")))?;
    // A key column that is NULL for a keyed event, or holds anything (even "") for a keyless
    // one, was edited: the column is what `show KEY` and idempotency look up.
    let key_content = event.key.as_ref().map(ToString::to_string);
    if row.key != key_content {
        return Err(broken(format!(
            "column key says {:?} but the content says {key_content:?}",
            row.key
        )));
    }
    let columns = [
        ("stream", row.stream, event.stream.to_string()),
        ("kind", row.kind, event.kind().to_owned()),
        ("occurred", row.occurred, event.occurred.to_string()),
        (
            "occurred_first",
            row.occurred_first,
            event.occurred.first_day().to_string(),
        ),
        (
            "occurred_last",
            row.occurred_last,
            event.occurred.last_day().to_string(),
        ),
    ];
    for (name, column, from_content) in columns {
        if column != from_content {
            return Err(broken(format!(
                "column {name} says {column:?} but the content says {from_content:?}"
            )));
        }
    }
    let envelope = envelope_json(
        event_value,
        seq,
        row.stream_version,
        &recorded_at,
        row.schema,
    );
    checker.check(
        seq,
        event.stream.as_str(),
        row.stream_version,
        &recorded_at,
        row.schema,
        &row.prev_hash,
        &row.hash,
        &envelope,
    )
}

/// `restore`'s check of one exported event before it is inserted.
pub(crate) fn check_restored(
    checker: &mut ChainChecker,
    event: &StoredEvent,
) -> Result<(), StoreError> {
    checker.check(
        event.seq,
        event.event.stream.as_ref(),
        event.stream_version,
        &event.recorded_at,
        event.schema,
        &event.prev_hash,
        &event.hash,
        &event.canonical_envelope(),
    )
}
/// The running state of a chain check, shared by `verify` and `restore`.
pub(crate) struct ChainChecker {
    pub(crate) expected_seq: u64,
    pub(crate) prev_hash: String,
    pub(crate) last_recorded: Option<RecordedAt>,
    stream_versions: HashMap<String, u64>,
}

impl Default for ChainChecker {
    fn default() -> ChainChecker {
        ChainChecker {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            last_recorded: None,
            stream_versions: HashMap::new(),
        }
    }
}

impl ChainChecker {
    /// The first check of every event: a gap is reported at the missing event, before anything
    /// found in the event after it.
    pub(crate) fn check_seq(&self, seq: u64) -> Result<(), StoreError> {
        if seq == self.expected_seq {
            return Ok(());
        }
        Err(StoreError::Broken {
            seq: self.expected_seq,
            reason: if seq > self.expected_seq {
                format!(
                    "event {} is missing: the next event found is {seq}",
                    self.expected_seq
                )
            } else {
                format!("event {seq} appears where {} should be", self.expected_seq)
            },
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check(
        &mut self,
        seq: u64,
        stream: &str,
        stream_version: u64,
        recorded_at: &RecordedAt,
        schema: u32,
        prev_hash: &str,
        hash: &str,
        envelope: &str,
    ) -> Result<(), StoreError> {
        let broken = |seq: u64, reason: String| Err(StoreError::Broken { seq, reason });
        self.check_seq(seq)?;
        // The event schema (what the model wrote), not the database schema.
        if schema > SCHEMA_VERSION || schema == 0 {
            return broken(
                seq,
                format!("schema version {schema} is not one this program wrote"),
            );
        }
        let last_version = self.stream_versions.get(stream).copied().unwrap_or(0);
        if stream_version != last_version + 1 {
            return broken(
                seq,
                format!("stream {stream:?} jumps from version {last_version} to {stream_version}"),
            );
        }
        if let Some(last) = &self.last_recorded
            && recorded_at < last
        {
            return broken(
                seq,
                format!("recorded_at {recorded_at} is earlier than the previous event's {last}"),
            );
        }
        if prev_hash != self.prev_hash {
            return broken(
                seq,
                format!(
                    "prev_hash {prev_hash} does not match the previous event's hash {}",
                    self.prev_hash
                ),
            );
        }
        let computed = chain_hash(prev_hash, envelope);
        if computed != hash {
            return broken(
                seq,
                format!(
                    "hash {hash} does not match the recomputed {computed}: the event was changed"
                ),
            );
        }
        self.expected_seq += 1;
        self.prev_hash = computed;
        self.last_recorded = Some(*recorded_at);
        self.stream_versions
            .insert(stream.to_owned(), stream_version);
        Ok(())
    }
}

/// Why a checkpoint at `seq` recorded with chain hash `recorded` and `digest` over `state` is
/// not bound to this log (past the head, off `on_policy`, another chain hash, a digest that
/// does not match its state), or `None` when it is. `chain_hash_at` is the backend's seek.
pub(crate) fn checkpoint_problem(
    chain_hash_at: &dyn Fn(u64) -> Result<Option<String>, StoreError>,
    head: u64,
    seq: u64,
    recorded: &str,
    digest: &str,
    state: &[u8],
    on_policy: &dyn Fn(u64) -> bool,
) -> Result<Option<String>, StoreError> {
    if seq > head {
        return Ok(Some(format!(
            "it claims event {seq}, past the head of the log (event {head})"
        )));
    }
    if !on_policy(seq) {
        return Ok(Some(format!(
            "no checkpoint is written at event {seq} (off the policy)"
        )));
    }
    let actual = chain_hash_at(seq)?.unwrap_or_default();
    if actual != recorded {
        return Ok(Some(format!(
            "it is bound to chain hash {recorded}, but the log has {actual} at event {seq}"
        )));
    }
    let computed = lagesbild_model::sha256_hex(state);
    if computed != digest {
        return Ok(Some(format!(
            "its state has digest {computed}, not the recorded {digest}: it was edited"
        )));
    }
    Ok(None)
}
