//! The append-only event log in one SQLite file: schema, append, read, hash chain, verify,
//! restore. This is the only crate that knows SQL.
//!
//! The rest of the program sees the log through [`EventLog`]: append a batch, read a page,
//! look one event up, the head, verify. A PostgreSQL backend would implement the same trait.

mod editions;
mod error;
mod material;
mod sqlite;
mod tree;

pub use editions::{EditionOutput, EditionOutputs};
pub use error::StoreError;
pub use material::{
    MaterialDigest, MaterialOrder, MaterialQuery, MaterialRow, MaterialState, MaterialWriter,
};
pub use sqlite::{
    BUSY_TIMEOUT_DEFAULT, CheckpointLoad, CheckpointRow, SUPPORTED_SCHEMA_VERSION, SqliteStore,
};
pub use tree::{TreeReport, TreeState, event_leaf_hash};

use chrono::NaiveDate;
use lagesbild_model::{NewEvent, RecordedAt, StoredEvent};

/// What an append expects of a stream, for optimistic concurrency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub stream: String,
    /// The stream's version before the append: 0 for a stream that must not exist yet.
    pub version: u64,
}

/// What became of one event of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Appended {
        seq: u64,
        stream_version: u64,
    },
    /// The key was in the log already with the same content: nothing was written.
    AlreadyPresent {
        seq: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendReport {
    pub outcomes: Vec<Outcome>,
    pub head: Head,
}

impl AppendReport {
    pub fn appended(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Appended { .. }))
            .count()
    }

    pub fn already_present(&self) -> usize {
        self.outcomes.len() - self.appended()
    }
}

/// The last event of the log: its sequence number, chain hash and transaction time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub recorded_at: Option<RecordedAt>,
}

/// Which events a read returns; every condition left empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub streams: Vec<String>,
    pub kinds: Vec<String>,
    /// Events whose valid time may fall on or after this day.
    pub occurred_from: Option<NaiveDate>,
    /// Events whose valid time may fall on or before this day.
    pub occurred_to: Option<NaiveDate>,
    pub recorded_from: Option<RecordedAt>,
    pub recorded_to: Option<RecordedAt>,
    /// Only events up to and including this sequence number.
    pub max_seq: Option<u64>,
}

/// One event named by sequence number or key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventRef {
    Seq(u64),
    Key(String),
}

impl std::str::FromStr for EventRef {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<EventRef, Self::Err> {
        Ok(match text.parse::<u64>() {
            Ok(seq) => EventRef::Seq(seq),
            Err(_) => EventRef::Key(text.to_owned()),
        })
    }
}

/// A verified log: how many events and the head hash an auditor should keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub count: u64,
    pub head: Head,
}

/// The narrow interface the rest of lagesbild uses.
pub trait EventLog {
    /// Appends a batch in one transaction: all of it or none of it.
    fn append(
        &mut self,
        batch: Vec<NewEvent>,
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError>;

    /// Up to `limit` events matching `filter` with a sequence number above `after_seq`, in
    /// sequence order.
    fn read_page(
        &self,
        filter: &Filter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    fn event(&self, which: &EventRef) -> Result<Option<StoredEvent>, StoreError>;

    fn head(&self) -> Result<Head, StoreError>;

    /// The last sequence number recorded at or before `at` (0 when none was).
    fn seq_known_at(&self, at: &RecordedAt) -> Result<u64, StoreError>;

    /// Recomputes the chain from the first event and checks every invariant of the log.
    /// `progress` is called with the number of events checked so far.
    fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError>;
}

/// Reads every event matching `filter` in pages, in sequence order, without holding the log in
/// memory.
pub fn scan<'a, L: EventLog + ?Sized>(
    log: &'a L,
    filter: &'a Filter,
) -> impl Iterator<Item = Result<StoredEvent, StoreError>> + 'a {
    const PAGE: usize = 1_000;
    let mut after = 0;
    let mut page: std::vec::IntoIter<StoredEvent> = Vec::new().into_iter();
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if let Some(event) = page.next() {
                after = event.seq;
                return Some(Ok(event));
            }
            if done {
                return None;
            }
            match log.read_page(filter, after, PAGE) {
                Ok(events) => {
                    done = events.len() < PAGE;
                    page = events.into_iter();
                }
                Err(error) => {
                    done = true;
                    return Some(Err(error));
                }
            }
        }
    })
}
