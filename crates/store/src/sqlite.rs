//! The SQLite backend of [`EventLog`](crate::EventLog): one file, WAL, `STRICT` tables, triggers
//! that refuse UPDATE and DELETE, one `BEGIN IMMEDIATE` transaction per batch.

use crate::error::SqliteResult;
use std::path::Path;

use chrono::{DateTime, Utc};
use lagesbild_model::trusted::{event_from_stored_content_of_kind, recorded_at_from_stored};
use lagesbild_model::{GENESIS_HASH, NewEvent, RecordedAt, StoredEvent, sha256_hex};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::chain::{AppendTx, ChainChecker, RawRow, Row, TargetInfo};
use crate::{
    AppendReport, EventLog, EventRef, Expectation, Filter, Head, StoreError, VerifyReport,
};

/// The schema migrations, in order; `PRAGMA user_version` holds the last one applied. The first
/// holds the log and its triggers; later ones must not touch them (`verify` compares the
/// triggers with the first migration's text).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../schema/001_events.sql")),
    (2, include_str!("../schema/002_checkpoints.sql")),
    (3, include_str!("../schema/003_material.sql")),
    (4, include_str!("../schema/004_cache_bindings.sql")),
    (5, include_str!("../schema/005_tree.sql")),
    (6, include_str!("../schema/006_edition_outputs.sql")),
    (7, include_str!("../schema/007_timeline_window.sql")),
];

/// The newest schema version this program reads and writes.
pub const SUPPORTED_SCHEMA_VERSION: i64 = 7;

/// The schema version that bound the checkpoints to the chain; older checkpoints are never read.
const CHECKPOINTS_SCHEMA_VERSION: i64 = 4;

/// The schema version that added the report material's index.
pub(crate) const MATERIAL_SCHEMA_VERSION: i64 = 3;

/// How long a writer waits for another to finish before giving up, in milliseconds. Long enough
/// for a million-event import batch of another process to commit, short enough that a stuck
/// writer is reported instead of hanging forever.
pub const BUSY_TIMEOUT_DEFAULT: u64 = 30_000;

/// The triggers that make the log append-only; `verify` checks they are present and unchanged.
const TRIGGERS: &[&str] = &["events_refuse_update", "events_refuse_delete"];

pub(crate) const COLUMNS: &str = "seq, stream, stream_version, key, kind, occurred, occurred_first, \
     occurred_last, recorded_at, schema_version, content, prev_hash, hash";

/// The columns a read of events selects, in the order [`stored_from_row`] takes them: what a
/// [`StoredEvent`] is made of, and `kind` to read the content in one pass. The other five repeat
/// fields of the content for the indexes; a read selected them and dropped them (`verify` reads
/// and checks them all, through [`COLUMNS`]).
pub(crate) const READ_COLUMNS: &str =
    "seq, stream_version, kind, recorded_at, schema_version, content, prev_hash, hash";

type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

pub struct SqliteStore {
    pub(crate) conn: Connection,
    clock: Clock,
    pub(crate) busy_timeout_ms: u64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.conn.path())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the log at `path`, creating the file and the schema if needed.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).storage()?;
        SqliteStore::setup(conn)
    }

    /// Opens an existing log for reading only; never creates or migrates anything.
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .storage()?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_DEFAULT))
            .storage()?;
        let store = SqliteStore {
            conn,
            clock: Box::new(Utc::now),
            busy_timeout_ms: BUSY_TIMEOUT_DEFAULT,
        };
        let version = store.schema_version()?;
        if version > SUPPORTED_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SUPPORTED_SCHEMA_VERSION,
            });
        }
        Ok(store)
    }

    /// A log in memory, for tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::setup(Connection::open_in_memory().storage()?)
    }

    fn setup(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_DEFAULT))
            .storage()?;
        // WAL lets readers go on while one writer appends; synchronous=FULL because an audit log
        // must not lose a committed event to a power cut.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .storage()?;
        if mode != "wal" && mode != "memory" {
            tracing::warn!(mode, "SQLite did not switch to WAL");
        }
        conn.pragma_update(None, "synchronous", "FULL").storage()?;
        let mut store = SqliteStore {
            conn,
            clock: Box::new(Utc::now),
            busy_timeout_ms: BUSY_TIMEOUT_DEFAULT,
        };
        store.migrate()?;
        Ok(store)
    }

    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .storage()
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let too_new = |found: i64| -> Result<(), StoreError> {
            if found > SUPPORTED_SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    found,
                    supported: SUPPORTED_SCHEMA_VERSION,
                });
            }
            Ok(())
        };
        let found = self.schema_version()?;
        too_new(found)?;
        if found == SUPPORTED_SCHEMA_VERSION {
            return Ok(());
        }
        let busy = self.busy_timeout_ms;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;
        // Read the version again under the write lock: another process may have migrated
        // between the read above and now, and its migrations must not run twice.
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .storage()?;
        too_new(found)?;
        for (version, sql) in MIGRATIONS {
            if *version > found {
                tx.execute_batch(sql).storage()?;
                tx.pragma_update(None, "user_version", version).storage()?;
                tracing::info!(version, "applied schema migration");
            }
        }
        tx.commit().map_err(|e| StoreError::from_sqlite(e, busy))?;
        Ok(())
    }

    /// Replaces the clock that stamps transaction time; tests fix it for reproducible hashes.
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    pub fn set_busy_timeout(&mut self, ms: u64) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(std::time::Duration::from_millis(ms))
            .storage()?;
        self.busy_timeout_ms = ms;
        Ok(())
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .storage()?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) fn sql_error(&self, error: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(error, self.busy_timeout_ms)
    }

    /// Loads an export into an empty log, checking every hash as it goes, so that the restored
    /// log has the same sequence numbers, times and hashes as the original. All or nothing.
    pub fn restore(
        &mut self,
        events: impl IntoIterator<Item = Result<StoredEvent, StoreError>>,
    ) -> Result<u64, StoreError> {
        self.restore_checked(events, &mut |_| Ok(()))
    }

    /// Like [`SqliteStore::restore`], and before the restored log is committed `check` is
    /// called with the store holding it; an error from it restores nothing. The application
    /// checks the events' claims about the log here (provenance, an expected head).
    pub fn restore_checked(
        &mut self,
        events: impl IntoIterator<Item = Result<StoredEvent, StoreError>>,
        check: &mut dyn FnMut(&SqliteStore) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let busy = self.busy_timeout_ms;
        // Shared borrow, as in `append_inner`, so that `check` reads through `self`.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;
        let count: i64 = tx
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .storage()?;
        if count > 0 {
            return Err(StoreError::NotEmpty {
                count: u64::try_from(count).unwrap_or(0),
            });
        }
        // Every cache describes the log that was here; the restored one is another. Emptied
        // here, as PostgreSQL's restore does, so that no row of them is served for it: one
        // left bound to a chain hash the restored log has would pass its binding.
        tx.execute("DELETE FROM checkpoints", []).storage()?;
        crate::material::clear(&tx)?;
        crate::editions::clear(&tx)?;
        crate::tree::clear(&tx)?;
        let mut checker = ChainChecker::default();
        let mut restored = 0;
        {
            let mut insert = tx.prepare_cached(&insert_sql()).storage()?;
            for event in events {
                let event = event?;
                let content = event.event.canonical_content();
                crate::chain::check_restored(&mut checker, &event)?;
                Row::restored(&event, &content, |row| insert_row(&mut insert, row)).storage()?;
                restored += 1;
            }
        }
        check(self)?;
        tx.commit().map_err(|e| StoreError::from_sqlite(e, busy))?;
        Ok(restored)
    }

    /// Saves the state of the projection `name` after the events up to and including `seq`,
    /// serialized in the projection's own `format`; replaces a checkpoint of the same name and
    /// seq. Checkpoints are a cache beside the log, not part of it (see
    /// `schema/002_checkpoints.sql`), bound to it by the chain hash at `seq` and the digest of
    /// `state` (`schema/004_cache_bindings.sql`). A checkpoint past the head is refused: it
    /// would describe events the log does not hold.
    pub fn save_checkpoint(
        &mut self,
        name: &str,
        seq: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let busy = self.busy_timeout_ms;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;
        let head = head_of(&tx)?;
        let chain_hash = match chain_hash_at(&tx, seq)? {
            Some(hash) if seq <= head.seq => hash,
            _ => {
                return Err(StoreError::CheckpointAhead {
                    seq,
                    head: head.seq,
                });
            }
        };
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints (name, seq, format, chain_hash, digest, state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, seq, format, chain_hash, sha256_hex(state), state],
        )
        .storage()?;
        tx.commit().map_err(|e| StoreError::from_sqlite(e, busy))?;
        Ok(())
    }

    /// The newest checkpoint of `name` in `format` at or below `max_seq` whose binding holds,
    /// as (seq, state); see [`SqliteStore::load_checkpoint_checked`].
    pub fn load_checkpoint(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .load_checkpoint_checked(name, format, max_seq, &|_| true)?
            .found)
    }

    /// The newest checkpoint of `name` in `format` at or below `max_seq` that is bound to this
    /// log: at or below the head, where `on_policy` says checkpoints are written, its recorded
    /// chain hash the chain hash at its seq (one index seek) and its digest that of its state.
    /// Every newer one that fails is returned in `refused` with the reason, so the caller can
    /// say so and drop it. Checkpoints in other formats are ignored. A database not yet
    /// migrated to bound checkpoints (one opened read-only) has none.
    pub fn load_checkpoint_checked(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<CheckpointLoad, StoreError> {
        let mut load = CheckpointLoad::default();
        if self.schema_version()? < CHECKPOINTS_SCHEMA_VERSION {
            return Ok(load);
        }
        let head = head_of(&self.conn)?.seq;
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT seq, chain_hash, digest, state FROM checkpoints \
             WHERE name = ?1 AND format = ?2 AND seq <= ?3 ORDER BY seq DESC",
            )
            .storage()?;
        let mut rows = statement
            .query(params![
                name,
                format,
                seq_param(max_seq).unwrap_or(i64::MAX)
            ])
            .map_err(|e| self.sql_error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.sql_error(e))? {
            let seq = to_u64(row.get(0).storage()?);
            let recorded: String = row.get(1).storage()?;
            let digest: String = row.get(2).storage()?;
            let state: Vec<u8> = row.get(3).storage()?;
            match checkpoint_problem(&self.conn, head, seq, &recorded, &digest, &state, on_policy)?
            {
                None => {
                    load.found = Some((seq, state));
                    break;
                }
                Some(reason) => load.refused.push((seq, reason)),
            }
        }
        Ok(load)
    }

    /// Every checkpoint row, in (name, seq) order, for `verify`.
    pub fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        if self.schema_version()? < CHECKPOINTS_SCHEMA_VERSION {
            return Ok(Vec::new());
        }
        let mut statement = self.conn.prepare(
            "SELECT name, seq, format, chain_hash, digest, state FROM checkpoints ORDER BY name, seq",
        ).storage()?;
        let rows = statement
            .query_map([], |row| {
                Ok(CheckpointRow {
                    name: row.get(0)?,
                    seq: to_u64(row.get(1)?),
                    format: row.get(2)?,
                    chain_hash: row.get(3)?,
                    digest: row.get(4)?,
                    state: row.get(5)?,
                })
            })
            .storage()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql_error(e))?;
        Ok(rows)
    }

    /// Why checkpoint `row` is not bound to this log (past the head, off `on_policy`, another
    /// chain hash, a digest that does not match its state), or `None` when it is.
    pub fn checkpoint_binding_problem(
        &self,
        row: &CheckpointRow,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<Option<String>, StoreError> {
        let head = head_of(&self.conn)?.seq;
        checkpoint_problem(
            &self.conn,
            head,
            row.seq,
            &row.chain_hash,
            &row.digest,
            &row.state,
            on_policy,
        )
    }

    /// Drops the checkpoint of `name` at `seq` (one a read refused); the projection is rebuilt
    /// from the log.
    pub fn drop_checkpoint(&mut self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM checkpoints WHERE name = ?1 AND seq = ?2",
                params![name, to_i64(seq)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    /// The chain hash of event `seq` (64 zeros for 0, the empty log), or `None` past the head:
    /// one index seek, what every cache's binding is checked against.
    pub fn chain_hash_at(&self, seq: u64) -> Result<Option<String>, StoreError> {
        chain_hash_at(&self.conn, seq)
    }

    /// Drops every checkpoint of `name`, in all formats; the projection is then rebuilt from
    /// the events.
    pub fn drop_checkpoints(&mut self, name: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM checkpoints WHERE name = ?1", [name])
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    fn read_rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<StoredEvent>, StoreError> {
        read_rows_in(&self.conn, self.busy_timeout_ms, sql, params)
    }
}

/// What [`SqliteStore::load_checkpoint_checked`] found: the newest bound checkpoint, and the
/// newer ones it refused with the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointLoad {
    pub found: Option<(u64, Vec<u8>)>,
    pub refused: Vec<(u64, String)>,
}

/// One row of the checkpoints table as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    pub name: String,
    pub seq: u64,
    pub format: u32,
    pub chain_hash: String,
    pub digest: String,
    pub state: Vec<u8>,
}

pub(crate) fn chain_hash_at(conn: &Connection, seq: u64) -> Result<Option<String>, StoreError> {
    if seq == 0 {
        return Ok(Some(GENESIS_HASH.to_owned()));
    }
    let Some(seq) = seq_param(seq) else {
        return Ok(None);
    };
    conn.prepare_cached("SELECT hash FROM events WHERE seq = ?1")
        .storage()?
        .query_row([seq], |row| row.get(0))
        .optional()
        .storage()
}

fn checkpoint_problem(
    conn: &Connection,
    head: u64,
    seq: u64,
    recorded: &str,
    digest: &str,
    state: &[u8],
    on_policy: &dyn Fn(u64) -> bool,
) -> Result<Option<String>, StoreError> {
    crate::chain::checkpoint_problem(
        &|seq| chain_hash_at(conn, seq),
        head,
        seq,
        recorded,
        digest,
        state,
        on_policy,
    )
}

pub(crate) fn read_rows_in(
    conn: &Connection,
    busy_timeout_ms: u64,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut events = Vec::new();
    read_rows_each(conn, busy_timeout_ms, sql, params, &mut |event| {
        events.push(event)
    })?;
    Ok(events)
}

/// Runs `sql` (selecting [`READ_COLUMNS`]) and hands each event to `each` as its row is read;
/// returns how many.
fn read_rows_each(
    conn: &Connection,
    busy_timeout_ms: u64,
    sql: &str,
    params: &[SqlValue],
    each: &mut dyn FnMut(StoredEvent),
) -> Result<usize, StoreError> {
    // A reader can meet SQLITE_BUSY too (a WAL checkpoint or recovery under way): say Busy.
    let sql_error = |e| StoreError::from_sqlite(e, busy_timeout_ms);
    let mut statement = conn.prepare_cached(sql).map_err(sql_error)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(sql_error)?;
    let mut count = 0;
    while let Some(row) = rows.next().map_err(sql_error)? {
        each(stored_from_row(row)?);
        count += 1;
    }
    Ok(count)
}

/// The most events a page reader reserves room for before reading (a caller may ask for a
/// page far larger than the log).
const PAGE_RESERVE: usize = 4_096;

fn insert_sql() -> String {
    format!(
        "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    )
}

fn insert_row(
    insert: &mut rusqlite::CachedStatement<'_>,
    row: &Row<'_>,
) -> Result<(), rusqlite::Error> {
    let e = row.event;
    insert.execute(params![
        to_i64(row.seq),
        e.stream.as_str(),
        to_i64(row.stream_version),
        e.key.as_ref().map(|k| k.as_str()),
        e.kind(),
        row.occurred,
        row.occurred_first,
        row.occurred_last,
        row.recorded_at,
        i64::from(row.schema),
        row.content,
        row.prev_hash,
        row.hash,
    ])?;
    Ok(())
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).expect("sequence numbers stay below 2^63")
}

/// A sequence number a caller asks about, as SQLite holds it; `None` above `i64::MAX`, where no
/// event can be. Callers' numbers come from users (`show 18446744073709551615`) and must not
/// panic.
pub(crate) fn seq_param(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn stored_from_row(row: &rusqlite::Row<'_>) -> Result<StoredEvent, StoreError> {
    let seq = to_u64(row.get(0).storage()?);
    let broken = |reason: String| StoreError::Broken { seq, reason };
    let text = |i: usize, name: &str| -> Result<&str, StoreError> {
        stored_text(row.get_ref(i).storage()?).map_err(|e| broken(format!("{name} {e}")))
    };
    // The content passed every check before it was appended and the chain covers it, so it is
    // read without validating it again; `verify` is what re-checks everything. The `kind`
    // column only says how to read it in one pass: the content's own kind decides.
    let kind = row.get_ref(2).ok().and_then(|kind| stored_text(kind).ok());
    let event = event_from_stored_content_of_kind(text(5, "content")?, kind.unwrap_or(""))
        .map_err(|e| broken(format!("content is not a valid event: {e}")))?;
    let recorded_at = recorded_at_from_stored(text(3, "recorded_at")?).map_err(broken)?;
    Ok(StoredEvent {
        seq,
        stream_version: to_u64(row.get(1).storage()?),
        recorded_at,
        schema: u32::try_from(row.get::<_, i64>(4).storage()?).unwrap_or(u32::MAX),
        event,
        prev_hash: text(6, "prev_hash")?.to_owned(),
        hash: text(7, "hash")?.to_owned(),
    })
}

/// A text column as `&str`. SQLite does not check that text is UTF-8, so it is checked here,
/// with SIMD: with the standard library's check, a replay spent about 7 % of its samples on the
/// content column's (BENCHMARKS.md). The error says why, for the caller to name the column.
fn stored_text(value: rusqlite::types::ValueRef<'_>) -> Result<&str, String> {
    match value {
        rusqlite::types::ValueRef::Text(bytes) => simdutf8::basic::from_utf8(bytes).map_err(|_| {
            // The fast check does not say where; the standard one does.
            match std::str::from_utf8(bytes) {
                Err(e) => format!("is not UTF-8: {e}"),
                Ok(_) => "is not UTF-8".to_owned(),
            }
        }),
        other => Err(format!("is not text: it is {}", other.data_type())),
    }
}

/// The reads and the insert of an append, inside its `BEGIN IMMEDIATE` transaction.
struct SqliteAppend<'a> {
    conn: &'a Connection,
    /// The insert, prepared at the first event and held for the batch: looking it up in the
    /// statement cache per event (hashing its text) was 2.7 % of an import's samples.
    insert: Option<rusqlite::CachedStatement<'a>>,
}

impl AppendTx for SqliteAppend<'_> {
    fn head(&mut self) -> Result<Head, StoreError> {
        head_of(self.conn)
    }

    fn stream_version(&mut self, stream: &str) -> Result<u64, StoreError> {
        let version: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(stream_version) FROM events WHERE stream = ?1")
            .storage()?
            .query_row([stream], |row| row.get(0))
            .storage()?;
        Ok(to_u64(version.unwrap_or(0)))
    }

    fn by_key(&mut self, key: &str) -> Result<Option<TargetInfo>, StoreError> {
        self.conn
            .prepare_cached("SELECT seq, content, kind FROM events WHERE key = ?1")
            .storage()?
            .query_row([key], |row| {
                Ok(TargetInfo {
                    seq: to_u64(row.get(0)?),
                    kind: row.get(2)?,
                    content: row.get(1)?,
                })
            })
            .optional()
            .storage()
    }

    fn by_seq(&mut self, seq: u64) -> Result<Option<TargetInfo>, StoreError> {
        let Some(param) = seq_param(seq) else {
            return Ok(None);
        };
        self.conn
            .prepare_cached("SELECT kind, content FROM events WHERE seq = ?1")
            .storage()?
            .query_row([param], |row| {
                Ok(TargetInfo {
                    seq,
                    kind: row.get(0)?,
                    content: row.get(1)?,
                })
            })
            .optional()
            .storage()
    }

    fn insert(&mut self, row: &Row<'_>) -> Result<(), StoreError> {
        let insert = match &mut self.insert {
            Some(insert) => insert,
            empty => empty.insert(self.conn.prepare_cached(&insert_sql()).storage()?),
        };
        insert_row(insert, row).storage()?;
        Ok(())
    }
}

impl SqliteStore {
    /// Runs every check of [`EventLog::append`] and reports what would happen, then rolls back:
    /// nothing is written.
    pub fn append_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, false, &mut |_, _| Ok(()))
    }

    /// Like [`EventLog::append`], and before the batch is committed `check` is called with the
    /// store as it will be (the batch's events readable at their seqs) and what became of each
    /// event; an error from it rolls the whole batch back. The application checks claims an
    /// event makes about the log (a `report_published`'s position, hash and digests) here,
    /// where "the head at that point of the append" is exactly the log it sees.
    pub fn append_checked(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut dyn FnMut(&SqliteStore, &AppendReport) -> Result<(), StoreError>,
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, true, check)
    }

    /// Like [`SqliteStore::append_checked`] but never commits: a dry run of the whole check.
    pub fn append_checked_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut dyn FnMut(&SqliteStore, &AppendReport) -> Result<(), StoreError>,
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, false, check)
    }

    fn append_inner(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        commit: bool,
        check: &mut dyn FnMut(&SqliteStore, &AppendReport) -> Result<(), StoreError>,
    ) -> Result<AppendReport, StoreError> {
        let busy = self.busy_timeout_ms;
        let now = RecordedAt::from_datetime((self.clock)());
        // An unchecked transaction borrows the connection shared, so that `check` can read
        // through `self` inside it (seeing the batch) before the commit.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;

        let report = crate::chain::append_batch(
            &mut SqliteAppend {
                conn: &tx,
                insert: None,
            },
            batch,
            expectations,
            now,
        )?;
        check(self, &report)?;
        if commit {
            tx.commit().map_err(|e| StoreError::from_sqlite(e, busy))?;
        } else {
            tx.rollback().storage()?;
        }
        Ok(report)
    }
}

impl EventLog for SqliteStore {
    fn append(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, true, &mut |_, _| Ok(()))
    }

    fn read_page(
        &self,
        filter: &Filter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_page_in(&self.conn, self.busy_timeout_ms, filter, after_seq, limit)
    }

    fn read_each(
        &self,
        filter: &Filter,
        after_seq: u64,
        limit: usize,
        each: &mut dyn FnMut(StoredEvent),
    ) -> Result<usize, StoreError> {
        read_each_in(
            &self.conn,
            self.busy_timeout_ms,
            filter,
            after_seq,
            limit,
            each,
        )
    }

    fn event(&self, which: &EventRef) -> Result<Option<StoredEvent>, StoreError> {
        let (sql, param) = match which {
            EventRef::Seq(seq) => {
                let Some(seq) = seq_param(*seq) else {
                    return Ok(None);
                };
                (
                    format!("SELECT {READ_COLUMNS} FROM events WHERE seq = ?"),
                    SqlValue::Integer(seq),
                )
            }
            EventRef::Key(key) => (
                format!("SELECT {READ_COLUMNS} FROM events WHERE key = ?"),
                SqlValue::Text(key.clone()),
            ),
        };
        Ok(self.read_rows(&sql, &[param])?.into_iter().next())
    }

    fn head(&self) -> Result<Head, StoreError> {
        head_of(&self.conn)
    }

    fn seq_known_at(&self, at: &RecordedAt) -> Result<u64, StoreError> {
        // Transaction time never decreases along the log, so the last entry at or below `at` in
        // the `(recorded_at, seq)` index is the highest seq: one index seek. (`max(seq)` over
        // the range read every entry of it, which grew with the log.)
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM events WHERE recorded_at <= ?1 \
                 ORDER BY recorded_at DESC, seq DESC LIMIT 1",
                [at.to_string()],
                |row| row.get(0),
            )
            .optional()
            .storage()?;
        Ok(to_u64(seq.unwrap_or(0)))
    }

    fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError> {
        let version = self.schema_version()?;
        if version > SUPPORTED_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SUPPORTED_SCHEMA_VERSION,
            });
        }
        // Read in one transaction so that a concurrent append cannot split the check.
        self.conn.execute_batch("BEGIN DEFERRED").storage()?;
        let result = verify_in(&self.conn, progress);
        let _ = self.conn.execute_batch("COMMIT");
        result
    }
}

/// A page of the events `filter` selects after `after_seq`, in log order, read through `conn`
/// (the store's connection, or a transaction on it).
pub(crate) fn read_page_in(
    conn: &Connection,
    busy_timeout_ms: u64,
    filter: &Filter,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    // Reserved ahead: growing a page of 2,000 events by doubling was 5 % of a replay (when an
    // event read was 464 bytes; 328 since its source is boxed).
    let mut events = Vec::with_capacity(limit.min(PAGE_RESERVE));
    read_each_in(
        conn,
        busy_timeout_ms,
        filter,
        after_seq,
        limit,
        &mut |event| events.push(event),
    )?;
    Ok(events)
}

/// Like [`read_page_in`], handing each event to `each` as it is read; returns how many.
pub(crate) fn read_each_in(
    conn: &Connection,
    busy_timeout_ms: u64,
    filter: &Filter,
    after_seq: u64,
    limit: usize,
    each: &mut dyn FnMut(StoredEvent),
) -> Result<usize, StoreError> {
    let Some(after_seq) = seq_param(after_seq) else {
        return Ok(0);
    };
    let limit_param = SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX));
    let mut upto = None;
    if filter.kinds.len() > 1 {
        // `kind IN (a, b, …) ORDER BY seq` makes SQLite read every remaining row of those
        // kinds from the `(kind, seq)` index and sort them, for every page: quadratic in the
        // log. Instead find the page's last seq with one index range per kind (each reads at
        // most `limit` entries), then read the rows up to it.
        let mut seqs = Vec::new();
        for kind in &filter.kinds {
            let (conditions, mut params) = conditions(filter, std::slice::from_ref(kind));
            params.insert(0, SqlValue::Integer(after_seq));
            params.push(limit_param.clone());
            let sql =
                format!("SELECT seq FROM events WHERE seq > ?{conditions} ORDER BY seq LIMIT ?");
            let mut statement = conn.prepare_cached(&sql).storage()?;
            let found = statement
                .query_map(rusqlite::params_from_iter(params.iter()), |row| {
                    row.get::<_, i64>(0)
                })
                .storage()?
                .collect::<Result<Vec<i64>, _>>()
                .map_err(|e| StoreError::from_sqlite(e, busy_timeout_ms))?;
            seqs.extend(found);
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs.truncate(limit);
        let Some(&last) = seqs.last() else {
            return Ok(0);
        };
        upto = Some(last);
    }
    let (conditions, mut params) = conditions(filter, &filter.kinds);
    params.insert(0, SqlValue::Integer(after_seq));
    let mut sql = format!("SELECT {READ_COLUMNS} FROM events WHERE seq > ?{conditions}");
    if let Some(last) = upto {
        sql.push_str(" AND seq <= ?");
        params.push(SqlValue::Integer(last));
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    params.push(limit_param);
    read_rows_each(conn, busy_timeout_ms, &sql, &params, each)
}

/// The SQL conditions of `filter` (with `kinds` in place of its kinds), each starting with
/// " AND ", and their parameters in order.
fn conditions(filter: &Filter, kinds: &[String]) -> (String, Vec<SqlValue>) {
    let mut sql = String::new();
    let mut params = Vec::new();
    let mut any_of = |column: &str, values: &[String]| {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        sql.push_str(&format!(" AND {column} IN ({marks})"));
        params.extend(values.iter().map(|v| SqlValue::Text(v.clone())));
    };
    any_of("stream", &filter.streams);
    any_of("kind", kinds);
    if let Some(from) = filter.occurred_from {
        sql.push_str(" AND occurred_last >= ?");
        params.push(SqlValue::Text(from.to_string()));
    }
    if let Some(to) = filter.occurred_to {
        sql.push_str(" AND occurred_first <= ?");
        params.push(SqlValue::Text(to.to_string()));
    }
    if let Some(from) = &filter.recorded_from {
        sql.push_str(" AND recorded_at >= ?");
        params.push(SqlValue::Text(from.to_string()));
    }
    if let Some(to) = &filter.recorded_to {
        sql.push_str(" AND recorded_at <= ?");
        params.push(SqlValue::Text(to.to_string()));
    }
    if let Some(max) = filter.max_seq {
        sql.push_str(" AND seq <= ?");
        params.push(SqlValue::Integer(seq_param(max).unwrap_or(i64::MAX)));
    }
    (sql, params)
}

pub(crate) fn head_of(conn: &Connection) -> Result<Head, StoreError> {
    let head = conn
        .query_row(
            "SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |row| {
                Ok((
                    to_u64(row.get(0)?),
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            },
        )
        .optional()
        .storage()?;
    Ok(match head {
        Some((seq, hash, recorded_at)) => Head {
            seq,
            hash,
            recorded_at: RecordedAt::parse(&recorded_at).ok(),
        },
        None => Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
            recorded_at: None,
        },
    })
}

fn normalize_sql(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn expected_trigger_sql(name: &str) -> Option<String> {
    let schema = MIGRATIONS[0].1;
    let start = schema.find(&format!("CREATE TRIGGER {name} "))?;
    let end = schema[start..].find("END;")? + start + 3;
    Some(normalize_sql(&schema[start..end]))
}

fn verify_in(conn: &Connection, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError> {
    let mut checker = ChainChecker::default();
    let mut statement = conn
        .prepare(&format!("SELECT {COLUMNS} FROM events ORDER BY seq"))
        .storage()?;
    let mut rows = statement.query([]).storage()?;
    let mut count = 0;
    while let Some(row) = rows.next().storage()? {
        let seq = to_u64(row.get(0).storage()?);
        checker.check_seq(seq)?;
        let broken = |reason: String| StoreError::Broken { seq, reason };
        let text = |i: usize, name: &str| -> Result<String, StoreError> {
            match row.get_ref(i).storage()? {
                rusqlite::types::ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                    .map_err(|_| broken(format!("{name} is not valid UTF-8"))),
                other => Err(broken(format!(
                    "{name} has type {:?}, not text",
                    other.data_type()
                ))),
            }
        };
        // A key column that is NULL for a keyed event holds no text; anything else must.
        let key = match row.get_ref(3).storage()? {
            rusqlite::types::ValueRef::Null => None,
            _ => Some(text(3, "key")?),
        };
        let raw = RawRow {
            seq,
            stream: text(1, "stream")?,
            stream_version: to_u64(row.get(2).storage()?),
            key,
            kind: text(4, "kind")?,
            occurred: text(5, "occurred")?,
            occurred_first: text(6, "occurred_first")?,
            occurred_last: text(7, "occurred_last")?,
            recorded_at: text(8, "recorded_at")?,
            schema: u32::try_from(row.get::<_, i64>(9).storage()?).unwrap_or(0),
            content: text(10, "content")?,
            prev_hash: text(11, "prev_hash")?,
            hash: text(12, "hash")?,
        };
        crate::chain::verify_row(&mut checker, raw)?;
        count += 1;
        if count % 10_000 == 0 {
            progress(count);
        }
    }
    progress(count);
    drop(rows);
    drop(statement);

    let head_seq = count;
    for name in TRIGGERS {
        let sql: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
            .storage()?;
        let expected = expected_trigger_sql(name).expect("every trigger is in the first migration");
        match sql {
            None => {
                return Err(StoreError::Broken {
                    seq: head_seq,
                    reason: format!(
                        "trigger {name} is missing: the log is no longer protected against edits"
                    ),
                });
            }
            Some(sql) if normalize_sql(&sql) != expected => {
                return Err(StoreError::Broken {
                    seq: head_seq,
                    reason: format!("trigger {name} was altered"),
                });
            }
            Some(_) => {}
        }
    }
    Ok(VerifyReport {
        count,
        head: Head {
            seq: head_seq,
            hash: checker.prev_hash,
            recorded_at: checker.last_recorded,
        },
    })
}

/// The SQLite backend behind the backend-neutral interface: each method is the inherent one of
/// the same name (which callers holding a `SqliteStore` may use directly).
impl crate::Store for SqliteStore {
    fn count(&self) -> Result<u64, StoreError> {
        SqliteStore::count(self)
    }

    fn set_busy_timeout(&mut self, ms: u64) -> Result<(), StoreError> {
        SqliteStore::set_busy_timeout(self, ms)
    }

    fn set_clock(&mut self, clock: Box<dyn Fn() -> DateTime<Utc> + Send>) {
        self.clock = clock;
    }

    fn append_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError> {
        SqliteStore::append_dry_run(self, batch, expectations)
    }

    fn append_checked(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut crate::CheckFn<'_>,
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, true, &mut |store, report| {
            check(store, report)
        })
    }

    fn append_checked_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut crate::CheckFn<'_>,
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, false, &mut |store, report| {
            check(store, report)
        })
    }

    fn restore_checked(
        &mut self,
        events: &mut crate::RestoreEvents<'_>,
        check: &mut dyn FnMut(&dyn crate::Store) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        SqliteStore::restore_checked(self, events, &mut |store| check(store))
    }

    fn chain_hash_at(&self, seq: u64) -> Result<Option<String>, StoreError> {
        SqliteStore::chain_hash_at(self, seq)
    }

    fn save_checkpoint(
        &mut self,
        name: &str,
        seq: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        SqliteStore::save_checkpoint(self, name, seq, format, state)
    }

    fn load_checkpoint_checked(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<CheckpointLoad, StoreError> {
        SqliteStore::load_checkpoint_checked(self, name, format, max_seq, on_policy)
    }

    fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        SqliteStore::checkpoints(self)
    }

    fn checkpoint_binding_problem(
        &self,
        row: &CheckpointRow,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<Option<String>, StoreError> {
        SqliteStore::checkpoint_binding_problem(self, row, on_policy)
    }

    fn drop_checkpoint(&mut self, name: &str, seq: u64) -> Result<(), StoreError> {
        SqliteStore::drop_checkpoint(self, name, seq)
    }

    fn drop_checkpoints(&mut self, name: &str) -> Result<(), StoreError> {
        SqliteStore::drop_checkpoints(self, name)
    }

    fn material_state(&self, format: u32) -> Result<Option<crate::MaterialState>, StoreError> {
        SqliteStore::material_state(self, format)
    }

    fn material_state_any(&self) -> Result<Option<crate::MaterialState>, StoreError> {
        SqliteStore::material_state_any(self)
    }

    fn material_versions(&self, seq: u64) -> Result<Vec<crate::MaterialRow>, StoreError> {
        SqliteStore::material_versions(self, seq)
    }

    fn material_all(&self) -> Result<(Vec<crate::MaterialRow>, Vec<(String, String)>), StoreError> {
        SqliteStore::material_all(self)
    }

    fn material_writer(
        &mut self,
        format: u32,
    ) -> Result<Box<dyn crate::MaterialWriter + '_>, StoreError> {
        Ok(Box::new(SqliteStore::material_writer(self, format)?))
    }

    fn drop_material(&mut self) -> Result<(), StoreError> {
        SqliteStore::drop_material(self)
    }

    fn material_rows(
        &self,
        query: &crate::MaterialQuery<'_>,
    ) -> Result<Vec<crate::MaterialRow>, StoreError> {
        SqliteStore::material_rows(self, query)
    }

    fn material_names(&self, class: &str) -> Result<Vec<String>, StoreError> {
        SqliteStore::material_names(self, class)
    }

    fn save_edition_outputs(
        &mut self,
        seq: u64,
        template_digest: &str,
        outputs: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        SqliteStore::save_edition_outputs(self, seq, template_digest, outputs)
    }

    fn edition_outputs(
        &self,
        seq: u64,
        template_digest: &str,
    ) -> Result<Option<crate::EditionOutputs>, StoreError> {
        SqliteStore::edition_outputs(self, seq, template_digest)
    }

    fn all_edition_outputs(&self) -> Result<Vec<crate::EditionOutputs>, StoreError> {
        SqliteStore::all_edition_outputs(self)
    }

    fn drop_edition_outputs(&mut self, seq: u64) -> Result<(), StoreError> {
        SqliteStore::drop_edition_outputs(self, seq)
    }

    fn edition_output_rows(&self) -> Result<u64, StoreError> {
        SqliteStore::edition_output_rows(self)
    }

    fn newest_of_kind(&self, kind: &str) -> Result<Option<u64>, StoreError> {
        SqliteStore::newest_of_kind(self, kind)
    }

    fn scan_by_day(
        &self,
        day_scan: &crate::DayScan<'_>,
    ) -> Result<Vec<(u64, lagesbild_model::FuzzyDate)>, StoreError> {
        SqliteStore::scan_by_day(self, day_scan)
    }

    fn events_at(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        SqliteStore::events_at(self, seqs)
    }

    fn amendments_of(&self, targets: &[u64], max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        SqliteStore::amendments_of(self, targets, max_seq)
    }

    fn redatings(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        SqliteStore::redatings(self, max_seq)
    }

    fn period_facts(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        SqliteStore::period_facts(self, max_seq)
    }

    fn tree_catch_up(&mut self) -> Result<crate::TreeState, StoreError> {
        SqliteStore::tree_catch_up(self)
    }

    fn tree_rebuild(&mut self) -> Result<crate::TreeState, StoreError> {
        SqliteStore::tree_rebuild(self)
    }

    fn tree_size(&self) -> Result<u64, StoreError> {
        SqliteStore::tree_size(self)
    }

    fn tree_root(&self, size: u64) -> Result<lagesbild_merkle::Hash, StoreError> {
        SqliteStore::tree_root(self, size)
    }

    fn tree_inclusion_path(
        &self,
        seq: u64,
        size: u64,
    ) -> Result<Vec<lagesbild_merkle::Hash>, StoreError> {
        SqliteStore::tree_inclusion_path(self, seq, size)
    }

    fn tree_consistency_path(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<lagesbild_merkle::Hash>, StoreError> {
        SqliteStore::tree_consistency_path(self, first, second)
    }

    fn insert_tree_head(
        &mut self,
        head: &lagesbild_merkle::SignedTreeHead,
    ) -> Result<u64, StoreError> {
        SqliteStore::insert_tree_head(self, head)
    }

    fn tree_heads(&self) -> Result<Vec<lagesbild_merkle::SignedTreeHead>, StoreError> {
        SqliteStore::tree_heads(self)
    }

    fn verify_tree(
        &self,
        key: Option<&lagesbild_merkle::VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::TreeReport, StoreError> {
        SqliteStore::verify_tree(self, key, progress)
    }

    fn verify_tree_quick(
        &self,
        key: Option<&lagesbild_merkle::VerifyingKey>,
    ) -> Result<crate::TreeReport, StoreError> {
        SqliteStore::verify_tree_quick(self, key)
    }
}
