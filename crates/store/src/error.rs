//! The store's errors. Each is one of five kinds ([`ErrorKind`]), shaped by what the caller does
//! next: retry as it is (`Busy`), re-read the log and change the input (`Conflict`), ask for
//! something that is there (`NotFound`), fix the input (`Invalid`), or investigate the database
//! (`Storage`). The variants keep the details a caller shows people (the key and event of a key
//! conflict, the versions of a stale expectation, the event where the log is broken). None
//! carries a backend's types: both backends map their errors here, so a caller never depends on
//! which one it talks to, and the same failure is the same kind on both.

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

    /// The database broke the transaction off because it could not commit beside another
    /// writer's (a serialization failure, a deadlock it broke); nothing of it was written and it
    /// can be retried as it is. Of kind [`ErrorKind::Busy`].
    #[error("{message}; nothing was written, try again")]
    Aborted { message: String },

    /// The database failed in a way the caller cannot fix by retrying or changing the input:
    /// the file or server cannot be reached or read, a statement failed. The message is the
    /// backend's, without its error type, so that no caller depends on a backend.
    #[error("storage: {message}")]
    Storage { message: String },
}

/// The five kinds of [`StoreError`], by what the caller does next. Front ends branch on this,
/// not on the variants: the web app answers 503, 409, 404, 400 and 500 by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Nothing was written, and the same call may succeed if simply made again: another writer
    /// held the log past the busy timeout, or the database broke the transaction off
    /// ([`StoreError::Busy`], [`StoreError::Aborted`]).
    Busy,
    /// Nothing was written, and the same call fails again: the log as it stands refuses it. Read
    /// the log again and change the input: a key already in the log with other content
    /// ([`StoreError::KeyConflict`]), a stream that moved past the expected version
    /// ([`StoreError::StaleVersion`]), a restore into a log that holds events
    /// ([`StoreError::NotEmpty`]).
    Conflict,
    /// What was asked for, or what a cache entry would describe, is not there: a proof or root
    /// for a size the tree does not cover, an edition's outputs or a checkpoint for an event
    /// past the head ([`StoreError::NotFound`], [`StoreError::CheckpointAhead`]).
    NotFound,
    /// An event of a batch is wrong in a way only the log can tell, named by its place in the
    /// batch and its field ([`StoreError::Invalid`]).
    Invalid,
    /// The database failed or holds something wrong; no change of input helps: it cannot be
    /// reached or read ([`StoreError::Storage`]), the log is broken ([`StoreError::Broken`]), its
    /// schema is newer than this program ([`StoreError::SchemaTooNew`]), a cache beside it is
    /// damaged ([`StoreError::CacheDamaged`]).
    Storage,
}

impl StoreError {
    /// What kind of failure this is, the same on every backend.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Busy { .. } | StoreError::Aborted { .. } => ErrorKind::Busy,
            StoreError::KeyConflict { .. }
            | StoreError::StaleVersion { .. }
            | StoreError::NotEmpty { .. } => ErrorKind::Conflict,
            StoreError::NotFound(_) | StoreError::CheckpointAhead { .. } => ErrorKind::NotFound,
            StoreError::Invalid { .. } => ErrorKind::Invalid,
            StoreError::Storage { .. }
            | StoreError::Broken { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::CacheDamaged(_) => ErrorKind::Storage,
        }
    }

    /// Whether the same call may succeed if simply made again (kind [`ErrorKind::Busy`]):
    /// another writer held the log too long, or the database broke off the transaction.
    /// Nothing of it was written.
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Busy
    }

    pub(crate) fn storage(message: impl std::fmt::Display) -> StoreError {
        StoreError::Storage {
            message: message.to_string(),
        }
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

/// What lets the SQLite backend use `?` on rusqlite's results, as `.storage()?`: the error
/// becomes [`StoreError::Storage`] with rusqlite's message. A trait of this crate, not a `From`
/// impl, since an impl of `From<rusqlite::Error>` would put rusqlite's type in the public API.
pub(crate) trait SqliteResult<T> {
    fn storage(self) -> Result<T, StoreError>;
}

impl<T> SqliteResult<T> for Result<T, rusqlite::Error> {
    fn storage(self) -> Result<T, StoreError> {
        self.map_err(StoreError::storage)
    }
}
