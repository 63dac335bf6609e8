//! The store's errors, shaped by what the caller does next: fix the input (`Invalid`,
//! `KeyConflict`, `StaleVersion`, `NotFound`), retry (`Busy`, `Conflict`), or investigate the
//! database (`Broken`, `Storage`, …). None carries a backend's types: both backends map their
//! errors here, so a caller never depends on which one it talks to.

use lagesbild_model::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An event of the batch is invalid in a way only the log can tell (a correction's target
    /// does not exist, its data does not fit the target's kind). `index` is its place in the
    /// batch.
    #[error("event {index} of the batch: {error}")]
    Invalid { index: usize, error: FieldError },

    /// The key is in the log already with other content.
    #[error(
        "event {index} of the batch: key {key:?} is already in the log as event {seq} with different content"
    )]
    KeyConflict { index: usize, key: String, seq: u64 },

    /// Optimistic concurrency: the stream moved on since the caller read it.
    #[error(
        "stream {stream:?} is at version {actual}, not the expected {expected}; nothing was written"
    )]
    StaleVersion {
        stream: String,
        expected: u64,
        actual: u64,
    },

    /// Another writer held the database longer than the busy timeout.
    #[error(
        "the database stayed locked by another writer for more than {timeout_ms} ms; nothing was written, try again"
    )]
    Busy { timeout_ms: u64 },

    #[error(
        "the database has schema version {found}, newer than this program understands ({supported}); use a newer lagesbild"
    )]
    SchemaTooNew { found: i64, supported: i64 },

    /// `verify` found the log broken at `seq`.
    #[error("the log is broken at event {seq}: {reason}")]
    Broken { seq: u64, reason: String },

    /// A checkpoint was offered for an event the log does not hold yet.
    #[error("a checkpoint at event {seq} is past the head of the log (event {head})")]
    CheckpointAhead { seq: u64, head: u64 },

    /// Restore refuses a database that already holds events.
    #[error("restore needs an empty database; this one holds {count} events")]
    NotEmpty { count: u64 },

    /// A row of a cache beside the log (the material index) cannot be read. The log is not
    /// affected; the cache is rebuilt from it.
    #[error("a cache beside the log is damaged: {0}")]
    CacheDamaged(String),

    /// What was asked for is not there: a proof or tree root for a size or event the tree does
    /// not hold, an edition's outputs for an event the log does not hold. The message names it.
    #[error("{0}")]
    NotFound(String),

    /// Two writers' transactions could not both commit (a serialization failure or a deadlock
    /// the database broke); nothing of this one was written and it can be retried as it is.
    #[error("{message}; nothing was written, try again")]
    Conflict { message: String },

    /// The database failed in a way the caller cannot fix by retrying or changing the input:
    /// the file or server cannot be reached or read, a statement failed. The message is the
    /// backend's, without its error type, so that no caller depends on a backend.
    #[error("storage: {message}")]
    Storage { message: String },
}

impl StoreError {
    /// Whether the same call may succeed if simply made again: another writer held the log too
    /// long, or the database broke off the transaction. Nothing of it was written.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy { .. } | StoreError::Conflict { .. })
    }

    pub(crate) fn storage(message: impl std::fmt::Display) -> StoreError {
        StoreError::Storage {
            message: message.to_string(),
        }
    }
}

/// Lets the SQLite backend use `?` on rusqlite's errors; the error becomes
/// [`StoreError::Storage`] with rusqlite's message, and the type stays inside this crate.
#[doc(hidden)]
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::storage(error)
    }
}

impl StoreError {
    pub(crate) fn from_sqlite(error: rusqlite::Error, timeout_ms: u64) -> StoreError {
        match &error {
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                StoreError::Busy { timeout_ms }
            }
            _ => StoreError::storage(error),
        }
    }
}
