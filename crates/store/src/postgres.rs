//! The PostgreSQL backend of [`Store`](crate::Store), for many writers at several sites: the
//! same log, chain and checks as the SQLite file (`chain.rs` is shared), on a database server.
//!
//! Appends are serialised by one row (`append_lock`) that every append transaction locks with
//! `SELECT … FOR UPDATE` as its first statement, under READ COMMITTED; every read the append
//! makes (the head, stream versions, keys, correction targets) comes in later statements, which
//! see everything committed before the lock was granted. So sequence numbers are given in commit
//! order, gapless, each hash chaining on the one before, and a reader polling for `seq > N`
//! never sees N + 2 before N + 1 (docs/postgres.md says why this and not something cleverer).
//! `verify` reads in one REPEATABLE READ READ ONLY transaction and checks the triggers that
//! refuse UPDATE, DELETE and TRUNCATE are there, unchanged and enabled ALWAYS.
//!
//! The client is the synchronous `postgres` crate; like SQLite it is called on tokio's blocking
//! pool by the web app, never on an async thread.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use lagesbild_model::trusted::{event_from_stored_content_of_kind, recorded_at_from_stored};
use lagesbild_model::{GENESIS_HASH, NewEvent, RecordedAt, StoredEvent, sha256_hex};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use crate::chain::{self, AppendTx, ChainChecker, RawRow, TargetInfo};
use crate::{
    AppendReport, BUSY_TIMEOUT_DEFAULT, CheckpointLoad, CheckpointRow, EventLog, EventRef,
    Expectation, Filter, Head, StoreError, VerifyReport,
};

/// The schema migrations, in order; table `schema_version` holds one row per migration applied.
/// The first holds the log and its triggers; later ones must not touch them (`verify` compares
/// the triggers with the first migration's text).
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../schema/postgres/001_events.sql")),
    (2, include_str!("../schema/postgres/002_checkpoints.sql")),
    (3, include_str!("../schema/postgres/003_material.sql")),
    (
        4,
        include_str!("../schema/postgres/004_edition_outputs.sql"),
    ),
    (5, include_str!("../schema/postgres/005_tree.sql")),
    (
        6,
        include_str!("../schema/postgres/006_timeline_window.sql"),
    ),
];

/// The newest PostgreSQL schema version this program reads and writes.
pub const POSTGRES_SCHEMA_VERSION: i32 = 6;

/// The advisory lock that serialises migrations between processes opening the same database.
const MIGRATION_LOCK: i64 = 0x6c61_6765_7362_696c;

/// The longest one statement may run before the server cancels it: far above any append or
/// page read, short enough that a runaway query is reported instead of holding the log.
const STATEMENT_TIMEOUT_MS: u64 = 600_000;

/// The triggers that make the log append-only, with what `pg_get_triggerdef` gives for each
/// (the table qualified by its schema, `{table}` here; the function as `search_path` shows it).
const TRIGGERS: &[(&str, &str)] = &[
    (
        "events_refuse_update",
        "CREATE TRIGGER events_refuse_update BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()",
    ),
    (
        "events_refuse_delete",
        "CREATE TRIGGER events_refuse_delete BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()",
    ),
    (
        "events_refuse_truncate",
        "CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ),
];

pub(crate) const COLUMNS: &str = "seq, stream, stream_version, key, kind, occurred, occurred_first, \
     occurred_last, recorded_at, schema_version, content, prev_hash, hash";

type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// A log in a PostgreSQL database; one connection. Open one per thread (the web app opens one
/// per request on the blocking pool).
pub struct PostgresStore {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    clock: Clock,
    busy_timeout_ms: u64,
    /// The schema version as opened (after migrating), so that a call on a database an auditor
    /// opened before a migration knows which tables exist without asking each time.
    schema: std::cell::Cell<i32>,
    /// Whether a [`Tx`] is open on the connection.
    in_transaction: std::cell::Cell<bool>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

/// Whether `location` names a PostgreSQL database (a `postgres://` or `postgresql://` URL)
/// rather than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A backend error as a [`StoreError`]: waiting for a lock past the timeout is Busy, a
/// serialization failure or a broken deadlock is Aborted (both of kind Busy: retry), anything
/// else Storage with the server's message.
fn pg_error(error: postgres::Error, busy_timeout_ms: u64) -> StoreError {
    let message = match error.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(detail) = db.detail() {
                text.push_str(": ");
                text.push_str(detail);
            }
            text
        }
        None => error.to_string(),
    };
    match error.code() {
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => StoreError::Busy {
            timeout_ms: busy_timeout_ms,
        },
        Some(code) if *code == SqlState::QUERY_CANCELED => StoreError::Busy {
            timeout_ms: busy_timeout_ms,
        },
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Aborted {
                message: format!("the database refused the transaction ({message})"),
            }
        }
        _ => StoreError::Storage { message },
    }
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).expect("sequence numbers stay below 2^63")
}

pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A transaction begun with plain SQL on the store's one connection, so that reads through the
/// store (a check inside an append) see it; rolled back when dropped uncommitted.
pub(crate) struct Tx<'a> {
    store: &'a PostgresStore,
    open: bool,
}

impl<'a> Tx<'a> {
    /// Begins a transaction with `begin`; inside one already open on this connection (a cache
    /// read from a check inside an append) it joins that one instead, which commits or rolls
    /// back for both: a second BEGIN would only warn, and its COMMIT would end the outer one.
    pub(crate) fn begin(store: &'a PostgresStore, begin: &str) -> Result<Tx<'a>, StoreError> {
        if store.in_transaction.get() {
            return Ok(Tx { store, open: false });
        }
        store.with(|client| client.batch_execute(begin))?;
        store.in_transaction.set(true);
        Ok(Tx { store, open: true })
    }

    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        self.end("COMMIT")
    }

    pub(crate) fn rollback(mut self) -> Result<(), StoreError> {
        self.end("ROLLBACK")
    }

    fn end(&mut self, statement: &str) -> Result<(), StoreError> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        self.store.in_transaction.set(false);
        self.store.with(|client| client.batch_execute(statement))
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        self.store.in_transaction.set(false);
        if let Ok(mut client) = self.store.client.try_borrow_mut()
            && let Err(error) = client.batch_execute("ROLLBACK")
        {
            tracing::warn!(%error, "rolling back a PostgreSQL transaction failed");
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/dbname`, with `?host=/dir`
    /// for a Unix socket) and creates or migrates the schema.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let store = PostgresStore::connect(url)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connects without creating or migrating anything (an auditor's read-only role); a
    /// database of a newer schema is refused.
    pub fn open_read_only(url: &str) -> Result<PostgresStore, StoreError> {
        let store = PostgresStore::connect(url)?;
        let version = store.schema_version()?;
        store.schema.set(version);
        if version > POSTGRES_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: i64::from(version),
                supported: i64::from(POSTGRES_SCHEMA_VERSION),
            });
        }
        if version == 0 {
            return Err(StoreError::Storage {
                message: "the database holds no lagesbild log (no table schema_version); run `lagesbild init` with a role that may create tables".into(),
            });
        }
        Ok(store)
    }

    fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let client = Client::connect(url, NoTls).map_err(|error| {
            // The error says only "error connecting to server"; its source says why (refused,
            // no such host, the server's refusal of the role).
            let cause = std::error::Error::source(&error)
                .map(|cause| format!(" ({cause})"))
                .unwrap_or_default();
            StoreError::Storage {
                message: format!("cannot connect to PostgreSQL: {error}{cause}"),
            }
        })?;
        let mut store = PostgresStore {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            clock: Box::new(Utc::now),
            busy_timeout_ms: BUSY_TIMEOUT_DEFAULT,
            schema: std::cell::Cell::new(0),
            in_transaction: std::cell::Cell::new(false),
        };
        store.set_timeouts(BUSY_TIMEOUT_DEFAULT)?;
        Ok(store)
    }

    fn set_timeouts(&mut self, busy_ms: u64) -> Result<(), StoreError> {
        // lock_timeout is how long a writer waits for the append lock (SQLite's busy timeout);
        // a session idle inside a transaction is ended so that it cannot hold the lock forever.
        let sql = format!(
            "SET lock_timeout = {busy_ms}; SET statement_timeout = {STATEMENT_TIMEOUT_MS}; \
             SET idle_in_transaction_session_timeout = {STATEMENT_TIMEOUT_MS}; \
             SET default_transaction_isolation = 'read committed'"
        );
        self.with(|client| client.batch_execute(&sql))?;
        self.busy_timeout_ms = busy_ms;
        Ok(())
    }

    /// Runs `work` on the connection, its errors as [`StoreError`]s.
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut client = self
            .client
            .try_borrow_mut()
            .expect("the store's connection is used by one call at a time");
        work(&mut client).map_err(|e| pg_error(e, self.busy_timeout_ms))
    }

    /// The prepared statement for `sql`, prepared once per connection.
    fn statement(&self, client: &mut Client, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.with(|client| {
            let statement = self.statement(client, sql)?;
            client.query(&statement, params)
        })
    }

    pub(crate) fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub(crate) fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.with(|client| {
            let statement = self.statement(client, sql)?;
            client.execute(&statement, params)
        })
    }

    /// The schema version as opened: the last migration applied when the store was opened.
    pub(crate) fn schema(&self) -> i32 {
        self.schema.get()
    }

    /// The last migration applied, 0 for a database without the schema.
    pub fn schema_version(&self) -> Result<i32, StoreError> {
        let exists = self
            .query_opt("SELECT to_regclass('schema_version')::text", &[])?
            .and_then(|row| row.get::<_, Option<String>>(0));
        if exists.is_none() {
            return Ok(0);
        }
        let row = self.query_opt("SELECT coalesce(max(version), 0) FROM schema_version", &[])?;
        Ok(row.map_or(0, |row| row.get(0)))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let too_new = |found: i32| -> Result<(), StoreError> {
            if found > POSTGRES_SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    found: i64::from(found),
                    supported: i64::from(POSTGRES_SCHEMA_VERSION),
                });
            }
            Ok(())
        };
        let found = self.schema_version()?;
        too_new(found)?;
        if found == POSTGRES_SCHEMA_VERSION {
            self.schema.set(found);
            return Ok(());
        }
        let tx = Tx::begin(self, "BEGIN")?;
        // Read the version again under the migration lock: another process may have migrated
        // meanwhile, and its migrations must not run twice.
        self.with(|client| {
            client
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .map(|_| ())
        })?;
        let found = self.schema_version()?;
        too_new(found)?;
        for (version, sql) in MIGRATIONS {
            if *version > found {
                self.with(|client| {
                    client.batch_execute(sql)?;
                    client.execute(
                        "INSERT INTO schema_version (version) VALUES ($1)",
                        &[version],
                    )
                })?;
                tracing::info!(version, "applied PostgreSQL schema migration");
            }
        }
        tx.commit()?;
        self.schema.set(POSTGRES_SCHEMA_VERSION);
        // Statements prepared before the migration may name tables it replaced.
        self.statements.borrow_mut().clear();
        Ok(())
    }

    /// Replaces the clock that stamps transaction time; tests fix it for reproducible hashes.
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    fn append_inner(
        &self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        commit: bool,
        check: &mut crate::CheckFn<'_>,
    ) -> Result<AppendReport, StoreError> {
        let now = RecordedAt::from_datetime((self.clock)());
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL READ COMMITTED")?;
        // The first statement: every later one sees all that was committed before the lock.
        self.lock_appends()?;
        let report = chain::append_batch(&mut PgAppend::new(self), batch, expectations, now)?;
        check(self, &report)?;
        if commit {
            tx.commit()?;
        } else {
            tx.rollback()?;
        }
        Ok(report)
    }

    /// Takes the append lock for the rest of the transaction, waiting at most the busy timeout.
    fn lock_appends(&self) -> Result<(), StoreError> {
        let locked = self.execute("SELECT id FROM append_lock WHERE id = 1 FOR UPDATE", &[])?;
        if locked != 1 {
            // Without the row nothing serialises appends; refuse rather than risk a fork.
            return Err(StoreError::Broken {
                seq: 0,
                reason: "table append_lock has lost its row: appends are no longer serialised; restore it with INSERT INTO append_lock VALUES (1)".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn head_in(&self) -> Result<Head, StoreError> {
        let row = self.query_opt(
            "SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1",
            &[],
        )?;
        Ok(match row {
            Some(row) => Head {
                seq: to_u64(row.get(0)),
                hash: row.get(1),
                recorded_at: RecordedAt::parse(&row.get::<_, String>(2)).ok(),
            },
            None => Head {
                seq: 0,
                hash: GENESIS_HASH.to_owned(),
                recorded_at: None,
            },
        })
    }

    pub(crate) fn read_events(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.query(sql, params)?
            .iter()
            .map(stored_from_row)
            .collect()
    }

    fn restore_inner(
        &mut self,
        events: &mut crate::RestoreEvents<'_>,
        check: &mut dyn FnMut(&dyn crate::Store) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL READ COMMITTED")?;
        self.lock_appends()?;
        let count = crate::Store::count(self)?;
        if count > 0 {
            return Err(StoreError::NotEmpty { count });
        }
        // Checkpoints describe the log that was here; the restored one is another.
        self.execute("DELETE FROM checkpoints", &[])?;
        self.clear_material()?;
        self.clear_edition_outputs()?;
        self.clear_tree()?;
        let mut checker = ChainChecker::default();
        let mut restored = 0;
        let mut append = PgAppend::new(self);
        for event in events {
            let event = event?;
            chain::check_restored(&mut checker, &event)?;
            let content = event.event.canonical_content();
            chain::Row::restored(&event, &content, |row| append.insert(row))?;
            restored += 1;
        }
        append.flush()?;
        check(self)?;
        tx.commit()?;
        Ok(restored)
    }

    fn verify_in(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError> {
        const PAGE: i64 = 5_000;
        let mut checker = ChainChecker::default();
        let mut count = 0;
        let mut after = 0i64;
        loop {
            let rows = self.query(
                &format!("SELECT {COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"),
                &[&after, &PAGE],
            )?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for row in &rows {
                chain::verify_row(&mut checker, raw_row(row)?)?;
                count += 1;
                if count % 10_000 == 0 {
                    progress(count);
                }
            }
        }
        progress(count);
        self.check_triggers(count)?;
        Ok(VerifyReport {
            count,
            head: Head {
                seq: count,
                hash: checker.prev_hash,
                recorded_at: checker.last_recorded,
            },
        })
    }

    /// The append-only triggers are there, say exactly what the first migration says, call a
    /// function whose body is the migration's, and are enabled ALWAYS.
    fn check_triggers(&self, head_seq: u64) -> Result<(), StoreError> {
        self.check_append_only(
            &AppendOnly {
                table: "events",
                function: "events_refuse_change",
                triggers: TRIGGERS,
                migration: MIGRATIONS[0].1,
                protects: "the log is no longer protected against edits",
            },
            &|reason| StoreError::Broken {
                seq: head_seq,
                reason,
            },
        )
    }

    /// The triggers `table` is kept append-only by are there, say exactly what their migration
    /// says, call a function whose body is the migration's, and are enabled ALWAYS.
    pub(crate) fn check_append_only(
        &self,
        expected: &AppendOnly<'_>,
        broken: &dyn Fn(String) -> StoreError,
    ) -> Result<(), StoreError> {
        let rows = self.query(
            "SELECT t.tgname::text, pg_get_triggerdef(t.oid), t.tgenabled::text, p.prosrc, \
                    n.nspname::text || '.' || c.relname::text, t.tgfoid::regproc::text \
             FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
             JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE t.tgrelid = $1::text::regclass AND NOT t.tgisinternal",
            &[&expected.table],
        )?;
        let found: HashMap<String, (String, String, String, String, String)> = rows
            .iter()
            .map(|row| {
                (
                    row.get(0),
                    (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5)),
                )
            })
            .collect();
        let body = function_body(expected.migration, expected.function);
        for (name, definition) in expected.triggers {
            let Some((actual, enabled, source, table, function)) = found.get(*name) else {
                return Err(broken(format!(
                    "trigger {name} is missing: {}",
                    expected.protects
                )));
            };
            let wanted = definition
                .replace("{table}", table)
                .replace("{function}", function);
            if normalize(actual) != normalize(&wanted) || !function.ends_with(expected.function) {
                return Err(broken(format!("trigger {name} was altered: {actual}")));
            }
            if normalize(source) != body {
                return Err(broken(format!(
                    "trigger {name} calls {function}, whose body was altered"
                )));
            }
            if enabled != "A" {
                return Err(broken(format!(
                    "trigger {name} is not enabled ALWAYS (tgenabled {enabled:?}): it can be switched off for a session"
                )));
            }
        }
        Ok(())
    }
}

/// What keeps a table append-only: its triggers (name, what `pg_get_triggerdef` gives, with
/// `{table}` and `{function}` for the qualified names), the function they call and the
/// migration that defines it.
pub(crate) struct AppendOnly<'a> {
    pub(crate) table: &'a str,
    pub(crate) function: &'a str,
    pub(crate) triggers: &'a [(&'a str, &'a str)],
    pub(crate) migration: &'a str,
    /// What a missing trigger means, for the message.
    pub(crate) protects: &'a str,
}

fn normalize(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The body of `function` as `migration` defines it.
fn function_body(migration: &str, function: &str) -> String {
    let definition = migration
        .find(&format!("CREATE FUNCTION {function}()"))
        .expect("the function is in its migration");
    let start = migration[definition..]
        .find("AS $$")
        .expect("the function has a body")
        + definition
        + 5;
    let end = migration[start..].find("$$").expect("the function ends") + start;
    normalize(&migration[start..end])
}

/// The columns of a stored row, with a NULL or a wrong type reported as a broken log.
fn raw_row(row: &Row) -> Result<RawRow, StoreError> {
    let seq = to_u64(row.try_get(0).map_err(|e| StoreError::Broken {
        seq: 0,
        reason: format!("a row's seq cannot be read: {e}"),
    })?);
    let broken = |name: &str, e: postgres::Error| StoreError::Broken {
        seq,
        reason: format!("column {name} cannot be read: {e}"),
    };
    let text = |i: usize, name: &str| row.try_get::<_, String>(i).map_err(|e| broken(name, e));
    Ok(RawRow {
        seq,
        stream: text(1, "stream")?,
        stream_version: to_u64(row.try_get(2).map_err(|e| broken("stream_version", e))?),
        key: row
            .try_get::<_, Option<String>>(3)
            .map_err(|e| broken("key", e))?,
        kind: text(4, "kind")?,
        occurred: text(5, "occurred")?,
        occurred_first: text(6, "occurred_first")?,
        occurred_last: text(7, "occurred_last")?,
        recorded_at: text(8, "recorded_at")?,
        schema: u32::try_from(
            row.try_get::<_, i32>(9)
                .map_err(|e| broken("schema_version", e))?,
        )
        .unwrap_or(0),
        content: text(10, "content")?,
        prev_hash: text(11, "prev_hash")?,
        hash: text(12, "hash")?,
    })
}

fn stored_from_row(row: &Row) -> Result<StoredEvent, StoreError> {
    let seq = to_u64(row.get(0));
    let broken = |reason: String| StoreError::Broken { seq, reason };
    // The content passed every check before it was appended and the chain covers it, so it is
    // read without validating it again; `verify` is what re-checks everything. The `kind`
    // column only says how to read it in one pass: the content's own kind decides.
    let content: &str = row.get(10);
    let kind: Option<&str> = row.try_get(4).ok();
    let event = event_from_stored_content_of_kind(content, kind.unwrap_or(""))
        .map_err(|e| broken(format!("content is not a valid event: {e}")))?;
    let recorded_at = recorded_at_from_stored(row.get(8)).map_err(broken)?;
    Ok(StoredEvent {
        seq,
        stream_version: to_u64(row.get(2)),
        recorded_at,
        schema: u32::try_from(row.get::<_, i32>(9)).unwrap_or(u32::MAX),
        event,
        prev_hash: row.get(11),
        hash: row.get(12),
    })
}

/// Rows an append holds back before writing them in one statement.
const FLUSH_ROWS: usize = 1_000;

/// The reads and the insert of an append, on the store's connection inside its transaction.
/// Round trips are what an append costs here, so the batch's keys are fetched in one query and
/// its rows written in one statement per [`FLUSH_ROWS`] (`unnest` of one array per column),
/// instead of a query and an insert per event; rows held back answer `by_key` and `by_seq`.
struct PgAppend<'a> {
    store: &'a PostgresStore,
    /// The keys fetched up front: the event holding each, or `None` when none does.
    keys: HashMap<String, Option<TargetInfo>>,
    pending: PendingRows,
}

impl<'a> PgAppend<'a> {
    fn new(store: &'a PostgresStore) -> PgAppend<'a> {
        PgAppend {
            store,
            keys: HashMap::new(),
            pending: PendingRows::default(),
        }
    }
}

/// Rows not yet written, a vector per column.
#[derive(Default)]
struct PendingRows {
    seq: Vec<i64>,
    stream: Vec<String>,
    stream_version: Vec<i64>,
    key: Vec<Option<String>>,
    kind: Vec<String>,
    occurred: Vec<String>,
    occurred_first: Vec<String>,
    occurred_last: Vec<String>,
    recorded_at: Vec<String>,
    schema_version: Vec<i32>,
    content: Vec<String>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
    /// Where each keyed row is in the vectors.
    by_key: HashMap<String, usize>,
}

impl PendingRows {
    fn target(&self, index: usize) -> TargetInfo {
        TargetInfo {
            seq: to_u64(self.seq[index]),
            kind: self.kind[index].clone(),
            content: self.content[index].clone(),
        }
    }

    fn clear(&mut self) {
        *self = PendingRows::default();
    }
}

impl AppendTx for PgAppend<'_> {
    fn head(&mut self) -> Result<Head, StoreError> {
        self.store.head_in()
    }

    fn stream_version(&mut self, stream: &str) -> Result<u64, StoreError> {
        // The chain asks once per stream and batch, before inserting any event of it, so no
        // row held back belongs to `stream`.
        let row = self.store.query_opt(
            "SELECT max(stream_version) FROM events WHERE stream = $1",
            &[&stream],
        )?;
        Ok(row
            .and_then(|row| row.get::<_, Option<i64>>(0))
            .map_or(0, to_u64))
    }

    fn prefetch_keys(&mut self, keys: &[&str]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let rows = self.store.query(
            "SELECT key, seq, kind, content FROM events WHERE key = ANY($1)",
            &[&keys],
        )?;
        for key in keys {
            self.keys.insert((*key).to_owned(), None);
        }
        for row in rows {
            self.keys.insert(
                row.get(0),
                Some(TargetInfo {
                    seq: to_u64(row.get(1)),
                    kind: row.get(2),
                    content: row.get(3),
                }),
            );
        }
        Ok(())
    }

    fn by_key(&mut self, key: &str) -> Result<Option<TargetInfo>, StoreError> {
        if let Some(index) = self.pending.by_key.get(key) {
            return Ok(Some(self.pending.target(*index)));
        }
        if let Some(found) = self.keys.get(key) {
            return Ok(found.clone());
        }
        let row = self.store.query_opt(
            "SELECT seq, kind, content FROM events WHERE key = $1",
            &[&key],
        )?;
        Ok(row.map(|row| TargetInfo {
            seq: to_u64(row.get(0)),
            kind: row.get(1),
            content: row.get(2),
        }))
    }

    fn by_seq(&mut self, seq: u64) -> Result<Option<TargetInfo>, StoreError> {
        let wanted = to_i64(seq);
        // Held-back rows are the highest seqs, in order.
        if let Some(first) = self.pending.seq.first()
            && wanted >= *first
        {
            let index = usize::try_from(wanted - first).unwrap_or(usize::MAX);
            return Ok((index < self.pending.seq.len()).then(|| self.pending.target(index)));
        }
        let row = self.store.query_opt(
            "SELECT kind, content FROM events WHERE seq = $1",
            &[&wanted],
        )?;
        Ok(row.map(|row| TargetInfo {
            seq,
            kind: row.get(0),
            content: row.get(1),
        }))
    }

    fn insert(&mut self, row: &chain::Row<'_>) -> Result<(), StoreError> {
        let e = row.event;
        let rows = &mut self.pending;
        if let Some(key) = &e.key {
            rows.by_key.insert(key.to_string(), rows.seq.len());
        }
        rows.seq.push(to_i64(row.seq));
        rows.stream.push(e.stream.to_string());
        rows.stream_version.push(to_i64(row.stream_version));
        rows.key.push(e.key.as_ref().map(|k| k.to_string()));
        rows.kind.push(e.kind().to_owned());
        rows.occurred.push(row.occurred.to_owned());
        rows.occurred_first.push(row.occurred_first.to_owned());
        rows.occurred_last.push(row.occurred_last.to_owned());
        rows.recorded_at.push(row.recorded_at.to_owned());
        rows.schema_version
            .push(i32::try_from(row.schema).unwrap_or(i32::MAX));
        rows.content.push(row.content.to_owned());
        rows.prev_hash.push(row.prev_hash.to_owned());
        rows.hash.push(row.hash.to_owned());
        if rows.seq.len() >= FLUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.seq.is_empty() {
            return Ok(());
        }
        let rows = &self.pending;
        self.store.execute(
            &format!(
                "INSERT INTO events ({COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::text[], \
                 $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
                 $9::text[], $10::integer[], $11::text[], $12::text[], $13::text[])"
            ),
            &[
                &rows.seq,
                &rows.stream,
                &rows.stream_version,
                &rows.key,
                &rows.kind,
                &rows.occurred,
                &rows.occurred_first,
                &rows.occurred_last,
                &rows.recorded_at,
                &rows.schema_version,
                &rows.content,
                &rows.prev_hash,
                &rows.hash,
            ],
        )?;
        // Written rows are found by query from now on, like any other (and a restore of a long
        // log keeps no map of every key).
        for key in rows.by_key.keys() {
            self.keys.remove(key);
        }
        self.pending.clear();
        Ok(())
    }
}

/// The conditions of `filter` after `seq > $1`, each starting with " AND ", and their values.
fn conditions(filter: &Filter) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    let mut sql = String::new();
    let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    let mut bound = |sql: &mut String, condition: &str, value: Box<dyn ToSql + Sync>| {
        params.push(value);
        // $1 is the seq the page starts after.
        sql.push_str(&condition.replace('?', &format!("${}", params.len() + 1)));
    };
    if !filter.streams.is_empty() {
        bound(
            &mut sql,
            " AND stream = ANY(?)",
            Box::new(filter.streams.clone()),
        );
    }
    if !filter.kinds.is_empty() {
        bound(
            &mut sql,
            " AND kind = ANY(?)",
            Box::new(filter.kinds.clone()),
        );
    }
    if let Some(from) = filter.occurred_from {
        bound(
            &mut sql,
            " AND occurred_last >= ?",
            Box::new(from.to_string()),
        );
    }
    if let Some(to) = filter.occurred_to {
        bound(
            &mut sql,
            " AND occurred_first <= ?",
            Box::new(to.to_string()),
        );
    }
    if let Some(from) = &filter.recorded_from {
        bound(
            &mut sql,
            " AND recorded_at >= ?",
            Box::new(from.to_string()),
        );
    }
    if let Some(to) = &filter.recorded_to {
        bound(&mut sql, " AND recorded_at <= ?", Box::new(to.to_string()));
    }
    if let Some(max) = filter.max_seq {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        bound(&mut sql, " AND seq <= ?", Box::new(max));
    }
    (sql, params)
}

impl EventLog for PostgresStore {
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
        let Ok(after) = i64::try_from(after_seq) else {
            return Ok(Vec::new());
        };
        let (conditions, params) = conditions(filter);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE seq > $1{conditions} ORDER BY seq LIMIT ${}",
            params.len() + 2
        );
        let mut refs: Vec<&(dyn ToSql + Sync)> = vec![&after];
        refs.extend(params.iter().map(|p| p.as_ref()));
        refs.push(&limit);
        self.read_events(&sql, &refs)
    }

    fn event(&self, which: &EventRef) -> Result<Option<StoredEvent>, StoreError> {
        let events = match which {
            EventRef::Seq(seq) => {
                let Ok(seq) = i64::try_from(*seq) else {
                    return Ok(None);
                };
                self.read_events(
                    &format!("SELECT {COLUMNS} FROM events WHERE seq = $1"),
                    &[&seq],
                )?
            }
            EventRef::Key(key) => self.read_events(
                &format!("SELECT {COLUMNS} FROM events WHERE key = $1"),
                &[key],
            )?,
        };
        Ok(events.into_iter().next())
    }

    fn head(&self) -> Result<Head, StoreError> {
        self.head_in()
    }

    fn seq_known_at(&self, at: &RecordedAt) -> Result<u64, StoreError> {
        let row = self.query_opt(
            "SELECT seq FROM events WHERE recorded_at <= $1 \
             ORDER BY recorded_at DESC, seq DESC LIMIT 1",
            &[&at.to_string()],
        )?;
        Ok(row.map_or(0, |row| to_u64(row.get(0))))
    }

    fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError> {
        let version = self.schema_version()?;
        if version > POSTGRES_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: i64::from(version),
                supported: i64::from(POSTGRES_SCHEMA_VERSION),
            });
        }
        // One snapshot for the whole check, so that a concurrent append cannot split it.
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let report = self.verify_in(progress)?;
        tx.commit()?;
        Ok(report)
    }
}

impl crate::Store for PostgresStore {
    fn count(&self) -> Result<u64, StoreError> {
        let row = self.query_opt("SELECT count(*) FROM events", &[])?;
        Ok(row.map_or(0, |row| to_u64(row.get(0))))
    }

    fn set_busy_timeout(&mut self, ms: u64) -> Result<(), StoreError> {
        self.set_timeouts(ms)
    }

    fn set_clock(&mut self, clock: Box<dyn Fn() -> DateTime<Utc> + Send>) {
        self.clock = clock;
    }

    fn append_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, false, &mut |_, _| Ok(()))
    }

    fn append_checked(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut crate::CheckFn<'_>,
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, true, check)
    }

    fn append_checked_dry_run(
        &mut self,
        batch: &[NewEvent],
        expectations: &[Expectation],
        check: &mut crate::CheckFn<'_>,
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(batch, expectations, false, check)
    }

    fn restore_checked(
        &mut self,
        events: &mut crate::RestoreEvents<'_>,
        check: &mut dyn FnMut(&dyn crate::Store) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.restore_inner(events, check)
    }

    fn chain_hash_at(&self, seq: u64) -> Result<Option<String>, StoreError> {
        if seq == 0 {
            return Ok(Some(GENESIS_HASH.to_owned()));
        }
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let row = self.query_opt("SELECT hash FROM events WHERE seq = $1", &[&seq])?;
        Ok(row.map(|row| row.get(0)))
    }

    fn save_checkpoint(
        &mut self,
        name: &str,
        seq: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL READ COMMITTED")?;
        let head = self.head_in()?;
        let chain_hash = match self.chain_hash_at(seq)? {
            Some(hash) if seq <= head.seq => hash,
            _ => {
                return Err(StoreError::CheckpointAhead {
                    seq,
                    head: head.seq,
                });
            }
        };
        self.execute(
            "INSERT INTO checkpoints (name, seq, format, chain_hash, digest, state) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name, seq) DO UPDATE SET format = EXCLUDED.format, \
             chain_hash = EXCLUDED.chain_hash, digest = EXCLUDED.digest, state = EXCLUDED.state",
            &[
                &name,
                &to_i64(seq),
                &i64::from(format),
                &chain_hash,
                &sha256_hex(state),
                &state,
            ],
        )?;
        tx.commit()
    }

    fn load_checkpoint_checked(
        &self,
        name: &str,
        format: u32,
        max_seq: u64,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<CheckpointLoad, StoreError> {
        let mut load = CheckpointLoad::default();
        let head = self.head_in()?.seq;
        let rows = self.query(
            "SELECT seq, chain_hash, digest, state FROM checkpoints \
             WHERE name = $1 AND format = $2 AND seq <= $3 ORDER BY seq DESC",
            &[
                &name,
                &i64::from(format),
                &i64::try_from(max_seq).unwrap_or(i64::MAX),
            ],
        )?;
        for row in rows {
            let seq = to_u64(row.get(0));
            let recorded: String = row.get(1);
            let digest: String = row.get(2);
            let state: Vec<u8> = row.get(3);
            match chain::checkpoint_problem(
                &|seq| self.chain_hash_at(seq),
                head,
                seq,
                &recorded,
                &digest,
                &state,
                on_policy,
            )? {
                None => {
                    load.found = Some((seq, state));
                    break;
                }
                Some(reason) => load.refused.push((seq, reason)),
            }
        }
        Ok(load)
    }

    fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        let rows = self.query(
            "SELECT name, seq, format, chain_hash, digest, state FROM checkpoints ORDER BY name, seq",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|row| CheckpointRow {
                name: row.get(0),
                seq: to_u64(row.get(1)),
                format: u32::try_from(row.get::<_, i64>(2)).unwrap_or(u32::MAX),
                chain_hash: row.get(3),
                digest: row.get(4),
                state: row.get(5),
            })
            .collect())
    }

    fn checkpoint_binding_problem(
        &self,
        row: &CheckpointRow,
        on_policy: &dyn Fn(u64) -> bool,
    ) -> Result<Option<String>, StoreError> {
        let head = self.head_in()?.seq;
        chain::checkpoint_problem(
            &|seq| self.chain_hash_at(seq),
            head,
            row.seq,
            &row.chain_hash,
            &row.digest,
            &row.state,
            on_policy,
        )
    }

    fn drop_checkpoint(&mut self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM checkpoints WHERE name = $1 AND seq = $2",
            &[&name, &to_i64(seq)],
        )?;
        Ok(())
    }

    fn drop_checkpoints(&mut self, name: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM checkpoints WHERE name = $1", &[&name])?;
        Ok(())
    }

    fn material_state(&self, format: u32) -> Result<Option<crate::MaterialState>, StoreError> {
        PostgresStore::material_state(self, format)
    }

    fn material_state_any(&self) -> Result<Option<crate::MaterialState>, StoreError> {
        PostgresStore::material_state_any(self)
    }

    fn material_versions(&self, seq: u64) -> Result<Vec<crate::MaterialRow>, StoreError> {
        PostgresStore::material_versions(self, seq)
    }

    fn material_all(&self) -> Result<(Vec<crate::MaterialRow>, Vec<(String, String)>), StoreError> {
        PostgresStore::material_all(self)
    }

    fn material_writer(
        &mut self,
        format: u32,
    ) -> Result<Box<dyn crate::MaterialWriter + '_>, StoreError> {
        Ok(Box::new(PostgresStore::material_writer(self, format)?))
    }

    fn drop_material(&mut self) -> Result<(), StoreError> {
        PostgresStore::drop_material(self)
    }

    fn material_rows(
        &self,
        query: &crate::MaterialQuery<'_>,
    ) -> Result<Vec<crate::MaterialRow>, StoreError> {
        PostgresStore::material_rows(self, query)
    }

    fn material_names(&self, class: &str) -> Result<Vec<String>, StoreError> {
        PostgresStore::material_names(self, class)
    }

    fn save_edition_outputs(
        &mut self,
        seq: u64,
        template_digest: &str,
        outputs: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        PostgresStore::save_edition_outputs(self, seq, template_digest, outputs)
    }

    fn edition_outputs(
        &self,
        seq: u64,
        template_digest: &str,
    ) -> Result<Option<crate::EditionOutputs>, StoreError> {
        PostgresStore::edition_outputs(self, seq, template_digest)
    }

    fn all_edition_outputs(&self) -> Result<Vec<crate::EditionOutputs>, StoreError> {
        PostgresStore::all_edition_outputs(self)
    }

    fn drop_edition_outputs(&mut self, seq: u64) -> Result<(), StoreError> {
        PostgresStore::drop_edition_outputs(self, seq)
    }

    fn edition_output_rows(&self) -> Result<u64, StoreError> {
        PostgresStore::edition_output_rows(self)
    }

    fn newest_of_kind(&self, kind: &str) -> Result<Option<u64>, StoreError> {
        PostgresStore::newest_of_kind(self, kind)
    }

    fn scan_by_day(
        &self,
        day_scan: &crate::DayScan<'_>,
    ) -> Result<Vec<(u64, lagesbild_model::FuzzyDate)>, StoreError> {
        PostgresStore::scan_by_day(self, day_scan)
    }

    fn events_at(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        PostgresStore::events_at(self, seqs)
    }

    fn amendments_of(&self, targets: &[u64], max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        PostgresStore::amendments_of(self, targets, max_seq)
    }

    fn period_facts(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        PostgresStore::period_facts(self, max_seq)
    }

    fn redatings(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        PostgresStore::redatings(self, max_seq)
    }

    fn tree_catch_up(&mut self) -> Result<crate::TreeState, StoreError> {
        PostgresStore::tree_catch_up(self)
    }

    fn tree_rebuild(&mut self) -> Result<crate::TreeState, StoreError> {
        PostgresStore::tree_rebuild(self)
    }

    fn tree_size(&self) -> Result<u64, StoreError> {
        PostgresStore::tree_size(self)
    }

    fn tree_root(&self, size: u64) -> Result<lagesbild_merkle::Hash, StoreError> {
        PostgresStore::tree_root(self, size)
    }

    fn tree_inclusion_path(
        &self,
        seq: u64,
        size: u64,
    ) -> Result<Vec<lagesbild_merkle::Hash>, StoreError> {
        PostgresStore::tree_inclusion_path(self, seq, size)
    }

    fn tree_consistency_path(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<lagesbild_merkle::Hash>, StoreError> {
        PostgresStore::tree_consistency_path(self, first, second)
    }

    fn insert_tree_head(
        &mut self,
        head: &lagesbild_merkle::SignedTreeHead,
    ) -> Result<u64, StoreError> {
        PostgresStore::insert_tree_head(self, head)
    }

    fn tree_heads(&self) -> Result<Vec<lagesbild_merkle::SignedTreeHead>, StoreError> {
        PostgresStore::tree_heads(self)
    }

    fn verify_tree(
        &self,
        key: Option<&lagesbild_merkle::VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::TreeReport, StoreError> {
        PostgresStore::verify_tree(self, key, progress)
    }

    fn verify_tree_quick(
        &self,
        key: Option<&lagesbild_merkle::VerifyingKey>,
    ) -> Result<crate::TreeReport, StoreError> {
        PostgresStore::verify_tree_quick(self, key)
    }
}
