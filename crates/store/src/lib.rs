//! The append-only event log: schema, append, read, hash chain, verify, restore, and the caches
//! beside it (checkpoints, the material index, the Merkle tree). This is the only crate that
//! knows SQL.
//!
//! The rest of the program sees the log through [`Store`] (and its narrow part [`EventLog`]:
//! append a batch, read a page, look one event up, the head, verify), never through a backend's
//! type: [`SqliteStore`] is the embedded default. Errors are [`StoreError`], which carries no
//! backend's types; its [`ErrorKind`] (Busy, Conflict, NotFound, Invalid, Storage) is what a
//! caller branches on, the same for the same failure on either backend.

mod chain;
mod editions;
mod error;
mod location;
mod material;
mod postgres;
mod postgres_caches;
mod postgres_tree;
mod postgres_window;
mod sqlite;
/// Test support for PostgreSQL cases in every crate; not for programs.
#[doc(hidden)]
pub mod testing;
mod tree;
mod window;

pub use editions::{EditionOutput, EditionOutputs};
pub use error::{ErrorKind, StoreError};
pub use location::{StoreLocation, without_password};
pub use material::{
    MaterialDigest, MaterialOrder, MaterialQuery, MaterialRow, MaterialState, MaterialWriter,
    SqliteMaterialWriter,
};
pub use postgres::{POSTGRES_SCHEMA_VERSION, PostgresStore, is_postgres_url};
pub use postgres_caches::PgMaterialWriter;
pub use sqlite::{
    BUSY_TIMEOUT_DEFAULT, CheckpointLoad, CheckpointRow, SUPPORTED_SCHEMA_VERSION, SqliteStore,
};
pub use tree::{TreeReport, TreeState, event_leaf_hash};
pub use window::DayScan;

use chrono::{DateTime, NaiveDate, Utc};
use lagesbild_merkle::{Hash, SignedTreeHead, VerifyingKey};
use lagesbild_model::{FuzzyDate, NewEvent, RecordedAt, StoredEvent};

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
    /// Appends a batch in one transaction: all of it or none of it. The batch is borrowed, so a
    /// caller keeps it to name an event an error points at (by its index) or to try again
    /// after a stale version; an event the append rewrites (a target's position) is copied.
    fn append(
        &mut self,
        batch: &[NewEvent],
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

    /// The events [`EventLog::read_page`] reads, each handed to `each` as it is read rather
    /// than collected into a page; returns how many. A replay that folds every event and drops
    /// it reads this way: collecting a page of 2,000 events (464 bytes each), moving each out of
    /// it again and freeing the page were 141 of 2,157 samples of a read in a profile
    /// (BENCHMARKS.md). `each` must not call back into this log. The default collects the page.
    fn read_each(
        &self,
        filter: &Filter,
        after_seq: u64,
        limit: usize,
        each: &mut dyn FnMut(StoredEvent),
    ) -> Result<usize, StoreError> {
        let page = self.read_page(filter, after_seq, limit)?;
        let count = page.len();
        page.into_iter().for_each(each);
        Ok(count)
    }

    fn event(&self, which: &EventRef) -> Result<Option<StoredEvent>, StoreError>;

    fn head(&self) -> Result<Head, StoreError>;

    /// The last sequence number recorded at or before `at` (0 when none was).
    fn seq_known_at(&self, at: &RecordedAt) -> Result<u64, StoreError>;

    /// Recomputes the chain from the first event and checks every invariant of the log.
    /// `progress` is called with the number of events checked so far.
    fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError>;
}

/// A log handed to a check that runs inside the append's (or the restore's) transaction: it sees
/// the batch as it will be committed.
pub type CheckFn<'a> = dyn FnMut(&dyn Store, &AppendReport) -> Result<(), StoreError> + 'a;

/// Events for [`Store::restore`], in log order.
pub type RestoreEvents<'a> = dyn Iterator<Item = Result<StoredEvent, StoreError>> + 'a;

/// The whole interface of a log and the caches beside it, whatever the backend. The CLI, the web
/// app, `app` and the bench take `&dyn Store` / `&mut dyn Store` (or a `Box<dyn Store>`), never
/// a backend's type; each backend keeps every guarantee stated here.
pub trait Store: EventLog + Send {
    /// The number of events in the log.
    fn count(&self) -> Result<u64, StoreError>;

    /// How long a writer waits for another before failing with [`StoreError::Busy`].
    fn set_busy_timeout(&mut self, ms: u64) -> Result<(), StoreError>;

    /// Replaces the clock that stamps transaction time (tests and `LAGESBILD_NOW`).
    fn set_clock(&mut self, clock: Box<dyn Fn() -> DateTime<Utc> + Send>);

    /// Runs every check of [`EventLog::append`] and reports what would happen; writes nothing.
    fn append_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError>;

    /// Like [`EventLog::append`], and before the batch is committed `check` is called with the
    /// store as it will be (the batch's events readable at their seqs) and what became of each
    /// event; an error from it rolls the whole batch back. The application checks the claims an
    /// event makes about the log (a `report_published`'s position, hash and digests) here.
    fn append_checked(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut CheckFn<'_>,
    ) -> Result<AppendReport, StoreError>;

    /// Like [`Store::append_checked`] but never commits: a dry run of the whole check.
    fn append_checked_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut CheckFn<'_>,
    ) -> Result<AppendReport, StoreError>;

    /// Loads an export into an empty log, checking every hash as it goes, so that the restored
    /// log has the same sequence numbers, times and hashes as the original; before it is
    /// committed `check` is called with the store holding it, and an error from it restores
    /// nothing. All or nothing. Empties the caches.
    fn restore_checked(
        &mut self,
        events: &mut RestoreEvents<'_>,
        check: &mut dyn FnMut(&dyn Store) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;

    /// [`Store::restore_checked`] with no check of its own.
    fn restore(&mut self, events: &mut RestoreEvents<'_>) -> Result<u64, StoreError> {
        self.restore_checked(events, &mut |_| Ok(()))
    }

    /// The chain hash of event `seq` (64 zeros for 0, the empty log), or `None` past the head.
    fn chain_hash_at(&self, seq: u64) -> Result<Option<String>, StoreError>;

    /// Saves a checkpoint of projection `name` after event `seq` (see
    /// [`SqliteStore::save_checkpoint`]); one past the head is refused.
    fn save_checkpoint(
        &mut self,
        name: &str,
        seq: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError>;

    /// The newest checkpoint of `name` in `format` at or below `max_seq` bound to this log, and
    /// the newer ones refused with the reason.
    fn load_checkpoint_checked(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<CheckpointLoad, StoreError>;

    /// The newest bound checkpoint of `name` in `format` at or below `max_seq`, as (seq, state).
    fn load_checkpoint(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .load_checkpoint_checked(name, format, max_seq, &|_| true)?
            .found)
    }

    /// Every checkpoint row, in (name, seq) order, for `verify`.
    fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError>;

    /// Why checkpoint `row` is not bound to this log, or `None` when it is.
    fn checkpoint_binding_problem(
        &self,
        row: &CheckpointRow,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<Option<String>, StoreError>;

    /// Drops the checkpoint of `name` at `seq`.
    fn drop_checkpoint(&mut self, name: &str, seq: u64) -> Result<(), StoreError>;

    /// Drops every checkpoint of `name`, in all formats.
    fn drop_checkpoints(&mut self, name: &str) -> Result<(), StoreError>;

    /// The material index's state if it is kept in `format`.
    fn material_state(&self, format: u32) -> Result<Option<MaterialState>, StoreError>;

    /// The log position the material index has read up to, if it is kept in `format`.
    fn material_position(&self, format: u32) -> Result<Option<u64>, StoreError> {
        Ok(self.material_state(format)?.map(|state| state.seq))
    }

    /// The material index's state row whatever its format, for `verify`.
    fn material_state_any(&self) -> Result<Option<MaterialState>, StoreError>;

    /// Every version of the item `seq` added, in the order they were known.
    fn material_versions(&self, seq: u64) -> Result<Vec<MaterialRow>, StoreError>;

    /// Every row of the index in (seq, known_from) order and every name, for `verify`.
    #[allow(clippy::type_complexity)]
    fn material_all(&self) -> Result<(Vec<MaterialRow>, Vec<(String, String)>), StoreError>;

    /// Starts updating the index in its own write transaction (an index kept in another format
    /// is emptied first); nothing is kept unless [`MaterialWriter::commit`] is called.
    fn material_writer(&mut self, format: u32) -> Result<Box<dyn MaterialWriter + '_>, StoreError>;

    /// Empties the material index.
    fn drop_material(&mut self) -> Result<(), StoreError>;

    /// The versions `query` selects.
    fn material_rows(&self, query: &MaterialQuery<'_>) -> Result<Vec<MaterialRow>, StoreError>;

    /// Every name ever given in `class`, sorted bytewise.
    fn material_names(&self, class: &str) -> Result<Vec<String>, StoreError>;

    /// Keeps the outputs of the published edition `seq` rendered with templates
    /// `template_digest`, bound to the chain hash at `seq` (a cache; see
    /// [`SqliteStore::save_edition_outputs`]).
    fn save_edition_outputs(
        &mut self,
        seq: u64,
        template_digest: &str,
        outputs: &[(&str, &[u8])],
    ) -> Result<(), StoreError>;

    /// The kept outputs of edition `seq` with templates `template_digest`, unjudged.
    fn edition_outputs(
        &self,
        seq: u64,
        template_digest: &str,
    ) -> Result<Option<EditionOutputs>, StoreError>;

    /// Every kept edition's outputs, for `verify`.
    fn all_edition_outputs(&self) -> Result<Vec<EditionOutputs>, StoreError>;

    /// Drops the kept outputs of edition `seq`.
    fn drop_edition_outputs(&mut self, seq: u64) -> Result<(), StoreError>;

    /// How many output rows the edition cache holds.
    fn edition_output_rows(&self) -> Result<u64, StoreError>;

    /// The newest event of `kind` (its seq), or `None`: one index seek (the home page's edition).
    fn newest_of_kind(&self, kind: &str) -> Result<Option<u64>, StoreError>;

    /// The events [`DayScan`] selects, as (seq, stored valid time): what a timeline page reads
    /// first. The default reads the whole log through [`EventLog::read_page`] (any backend);
    /// SQLite and PostgreSQL answer with one index range.
    fn scan_by_day(&self, day_scan: &DayScan<'_>) -> Result<Vec<(u64, FuzzyDate)>, StoreError> {
        let filter = Filter {
            kinds: day_scan.kinds.iter().map(|k| (*k).to_owned()).collect(),
            max_seq: Some(day_scan.max_seq),
            ..Filter::default()
        };
        let mut found = Vec::new();
        for event in scan(self, &filter) {
            let event = event?;
            let first = event.event.occurred.first_day();
            if day_scan.first_from.is_none_or(|from| first >= from)
                && day_scan.first_to.is_none_or(|to| first <= to)
            {
                found.push((first, event.seq, event.event.occurred));
            }
        }
        found.sort_by_key(|(first, seq, _)| (*first, *seq));
        if day_scan.descending {
            found.reverse();
        }
        found.truncate(day_scan.limit);
        Ok(found
            .into_iter()
            .map(|(_, seq, occurred)| (seq, occurred))
            .collect())
    }

    /// The events with these sequence numbers (those the log holds), in log order.
    fn events_at(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::new();
        for seq in seqs {
            events.extend(self.event(&EventRef::Seq(*seq))?);
        }
        events.sort_by_key(|e| e.seq);
        events.dedup_by_key(|e| e.seq);
        Ok(events)
    }

    /// The corrections and retractions up to and including `max_seq` of the events `targets`,
    /// in log order. The default reads every correction and retraction of the log; both
    /// backends read an index of them by target.
    fn amendments_of(&self, targets: &[u64], max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        window::amendments_by_reading(self, targets, max_seq)
    }

    /// Every `fact_reported` up to and including `max_seq` dated to a period (a year, a
    /// half-year, a span): the timeline places them at the period's middle. In log order; the
    /// default reads every fact of the log; both backends read an index.
    fn period_facts(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        window::period_facts_by_reading(self, max_seq)
    }

    /// Every correction up to and including `max_seq` that gives its target another date, in
    /// log order. The default reads every correction of the log; both backends read an index.
    fn redatings(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        window::redatings_by_reading(self, max_seq)
    }

    /// Brings the stored Merkle tree up to the head (rebuilding one no longer bound to the log).
    fn tree_catch_up(&mut self) -> Result<TreeState, StoreError>;

    /// Drops the stored tree and builds it again from the log.
    fn tree_rebuild(&mut self) -> Result<TreeState, StoreError>;

    /// The size the stored tree covers (without catching up).
    fn tree_size(&self) -> Result<u64, StoreError>;

    /// The root of the tree over the first `size` events.
    fn tree_root(&self, size: u64) -> Result<Hash, StoreError>;

    /// The inclusion path of event `seq` in the tree of the first `size` events.
    fn tree_inclusion_path(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError>;

    /// The consistency path from the tree of `first` events to the tree of `second`.
    fn tree_consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError>;

    /// Stores a signed tree head (append-only); returns its id.
    fn insert_tree_head(&mut self, head: &SignedTreeHead) -> Result<u64, StoreError>;

    /// Every signed tree head, oldest first.
    fn tree_heads(&self) -> Result<Vec<SignedTreeHead>, StoreError>;

    /// The newest signed tree head of `size`, if one was signed.
    fn tree_head_of_size(&self, size: u64) -> Result<Option<SignedTreeHead>, StoreError> {
        Ok(self
            .tree_heads()?
            .into_iter()
            .rev()
            .find(|h| h.size == size))
    }

    /// Recomputes the tree over the whole log and checks every stored node and signed head.
    fn verify_tree(
        &self,
        key: Option<&VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<TreeReport, StoreError>;

    /// `verify --quick`'s part of the tree check.
    fn verify_tree_quick(&self, key: Option<&VerifyingKey>) -> Result<TreeReport, StoreError>;
}

/// A boxed store is a store, so that `&mut Box<dyn Store>` passes where `&mut dyn Store` is
/// asked for, as the CLI's `db::open` returns one.
impl<T: Store + ?Sized> Store for Box<T> {
    fn count(&self) -> Result<u64, StoreError> {
        (**self).count()
    }
    fn set_busy_timeout(&mut self, ms: u64) -> Result<(), StoreError> {
        (**self).set_busy_timeout(ms)
    }
    fn set_clock(&mut self, clock: Box<dyn Fn() -> DateTime<Utc> + Send>) {
        (**self).set_clock(clock)
    }
    fn append_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError> {
        (**self).append_dry_run(batch, expectations)
    }
    fn append_checked(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut CheckFn<'_>,
    ) -> Result<AppendReport, StoreError> {
        (**self).append_checked(batch, expectations, check)
    }
    fn append_checked_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut CheckFn<'_>,
    ) -> Result<AppendReport, StoreError> {
        (**self).append_checked_dry_run(batch, expectations, check)
    }
    fn restore_checked(
        &mut self,
        events: &mut RestoreEvents<'_>,
        check: &mut dyn FnMut(&dyn Store) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        (**self).restore_checked(events, check)
    }
    fn restore(&mut self, events: &mut RestoreEvents<'_>) -> Result<u64, StoreError> {
        (**self).restore(events)
    }
    fn chain_hash_at(&self, seq: u64) -> Result<Option<String>, StoreError> {
        (**self).chain_hash_at(seq)
    }
    fn save_checkpoint(
        &mut self,
        name: &str,
        seq: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        (**self).save_checkpoint(name, seq, format, state)
    }
    fn load_checkpoint_checked(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<CheckpointLoad, StoreError> {
        (**self).load_checkpoint_checked(name, format, max_seq, on_policy)
    }
    fn load_checkpoint(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        (**self).load_checkpoint(name, format, max_seq)
    }
    fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        (**self).checkpoints()
    }
    fn checkpoint_binding_problem(
        &self,
        row: &CheckpointRow,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<Option<String>, StoreError> {
        (**self).checkpoint_binding_problem(row, on_policy)
    }
    fn drop_checkpoint(&mut self, name: &str, seq: u64) -> Result<(), StoreError> {
        (**self).drop_checkpoint(name, seq)
    }
    fn drop_checkpoints(&mut self, name: &str) -> Result<(), StoreError> {
        (**self).drop_checkpoints(name)
    }
    fn material_state(&self, format: u32) -> Result<Option<MaterialState>, StoreError> {
        (**self).material_state(format)
    }
    fn material_position(&self, format: u32) -> Result<Option<u64>, StoreError> {
        (**self).material_position(format)
    }
    fn material_state_any(&self) -> Result<Option<MaterialState>, StoreError> {
        (**self).material_state_any()
    }
    fn material_versions(&self, seq: u64) -> Result<Vec<MaterialRow>, StoreError> {
        (**self).material_versions(seq)
    }
    fn material_all(&self) -> Result<(Vec<MaterialRow>, Vec<(String, String)>), StoreError> {
        (**self).material_all()
    }
    fn material_writer(&mut self, format: u32) -> Result<Box<dyn MaterialWriter + '_>, StoreError> {
        (**self).material_writer(format)
    }
    fn drop_material(&mut self) -> Result<(), StoreError> {
        (**self).drop_material()
    }
    fn material_rows(&self, query: &MaterialQuery<'_>) -> Result<Vec<MaterialRow>, StoreError> {
        (**self).material_rows(query)
    }
    fn material_names(&self, class: &str) -> Result<Vec<String>, StoreError> {
        (**self).material_names(class)
    }
    fn save_edition_outputs(
        &mut self,
        seq: u64,
        template_digest: &str,
        outputs: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        (**self).save_edition_outputs(seq, template_digest, outputs)
    }
    fn edition_outputs(
        &self,
        seq: u64,
        template_digest: &str,
    ) -> Result<Option<EditionOutputs>, StoreError> {
        (**self).edition_outputs(seq, template_digest)
    }
    fn all_edition_outputs(&self) -> Result<Vec<EditionOutputs>, StoreError> {
        (**self).all_edition_outputs()
    }
    fn drop_edition_outputs(&mut self, seq: u64) -> Result<(), StoreError> {
        (**self).drop_edition_outputs(seq)
    }
    fn edition_output_rows(&self) -> Result<u64, StoreError> {
        (**self).edition_output_rows()
    }
    fn newest_of_kind(&self, kind: &str) -> Result<Option<u64>, StoreError> {
        (**self).newest_of_kind(kind)
    }
    fn scan_by_day(&self, day_scan: &DayScan<'_>) -> Result<Vec<(u64, FuzzyDate)>, StoreError> {
        (**self).scan_by_day(day_scan)
    }
    fn events_at(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).events_at(seqs)
    }
    fn amendments_of(&self, targets: &[u64], max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).amendments_of(targets, max_seq)
    }
    fn redatings(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).redatings(max_seq)
    }
    fn period_facts(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).period_facts(max_seq)
    }
    fn tree_catch_up(&mut self) -> Result<TreeState, StoreError> {
        (**self).tree_catch_up()
    }
    fn tree_rebuild(&mut self) -> Result<TreeState, StoreError> {
        (**self).tree_rebuild()
    }
    fn tree_size(&self) -> Result<u64, StoreError> {
        (**self).tree_size()
    }
    fn tree_root(&self, size: u64) -> Result<Hash, StoreError> {
        (**self).tree_root(size)
    }
    fn tree_inclusion_path(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        (**self).tree_inclusion_path(seq, size)
    }
    fn tree_consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        (**self).tree_consistency_path(first, second)
    }
    fn insert_tree_head(&mut self, head: &SignedTreeHead) -> Result<u64, StoreError> {
        (**self).insert_tree_head(head)
    }
    fn tree_heads(&self) -> Result<Vec<SignedTreeHead>, StoreError> {
        (**self).tree_heads()
    }
    fn tree_head_of_size(&self, size: u64) -> Result<Option<SignedTreeHead>, StoreError> {
        (**self).tree_head_of_size(size)
    }
    fn verify_tree(
        &self,
        key: Option<&VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<TreeReport, StoreError> {
        (**self).verify_tree(key, progress)
    }
    fn verify_tree_quick(&self, key: Option<&VerifyingKey>) -> Result<TreeReport, StoreError> {
        (**self).verify_tree_quick(key)
    }
}

impl<T: EventLog + ?Sized> EventLog for Box<T> {
    fn append(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError> {
        (**self).append(batch, expectations)
    }
    fn read_page(
        &self,
        filter: &Filter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).read_page(filter, after_seq, limit)
    }
    fn read_each(
        &self,
        filter: &Filter,
        after_seq: u64,
        limit: usize,
        each: &mut dyn FnMut(StoredEvent),
    ) -> Result<usize, StoreError> {
        (**self).read_each(filter, after_seq, limit, each)
    }
    fn event(&self, which: &EventRef) -> Result<Option<StoredEvent>, StoreError> {
        (**self).event(which)
    }
    fn head(&self) -> Result<Head, StoreError> {
        (**self).head()
    }
    fn seq_known_at(&self, at: &RecordedAt) -> Result<u64, StoreError> {
        (**self).seq_known_at(at)
    }
    fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError> {
        (**self).verify(progress)
    }
}

/// Hands every event matching `filter` to `each`, in sequence order, read event by event
/// ([`EventLog::read_each`]) in pages of `page` events; returns how many. What a replay that
/// folds every event runs. `each` must not call back into the log.
pub fn for_each<L: EventLog + ?Sized>(
    log: &L,
    filter: &Filter,
    page: usize,
    each: &mut dyn FnMut(StoredEvent),
) -> Result<u64, StoreError> {
    let mut after = 0;
    let mut count = 0;
    loop {
        let read = log.read_each(filter, after, page, &mut |event| {
            after = event.seq;
            each(event);
        })?;
        count += read as u64;
        if read < page {
            return Ok(count);
        }
    }
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
