//! The index of the weekly report's material (`schema/003_material.sql`): a cache beside the
//! log, like the checkpoints, that lets a report for one day look up the few items it reads
//! instead of folding all of them. This module only stores and finds rows; what an item is, its
//! class, name and days, and how corrections change it, are the caller's (the timeline crate's
//! `MaterialItem` and the application's fold).

use crate::error::SqliteResult;
use chrono::NaiveDate;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::sqlite::{
    MATERIAL_SCHEMA_VERSION, chain_hash_at, head_of, read_page_in, seq_param, to_i64, to_u64,
};
use crate::{Filter, SqliteStore, StoreError};
use lagesbild_model::{StoredEvent, sha256_hex};

/// One version of an item of material, as the index keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialRow {
    /// The event that added the item.
    pub seq: u64,
    /// The log position this version is known from: `seq` itself, or the correction that made it.
    pub known_from: u64,
    /// The correction or retraction that ended this version; `None` while it is current.
    pub known_until: Option<u64>,
    pub class: String,
    pub name: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// The item's state, serialized by its owner.
    pub item: Vec<u8>,
}

/// The order of [`MaterialQuery`]'s rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaterialOrder {
    /// By the adding event's seq: first added first.
    Seq,
    /// Latest first day first, then the latest seq.
    LatestDay,
    /// By name, last first.
    NameDescending,
}

/// Which versions of one class to find: those the log knew at position `known_at`, within the
/// given bounds, in `order`, at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialQuery<'a> {
    pub class: &'a str,
    pub name: Option<&'a str>,
    /// Only names sorting before this one.
    pub name_below: Option<&'a str>,
    pub first_day_from: Option<NaiveDate>,
    pub first_day_to: Option<NaiveDate>,
    /// Only items whose last day is on or after this one.
    pub last_day_from: Option<NaiveDate>,
    pub known_at: u64,
    pub order: MaterialOrder,
    pub limit: Option<u64>,
}

impl<'a> MaterialQuery<'a> {
    /// Every version of `class` known at `known_at`, in seq order.
    pub fn new(class: &'a str, known_at: u64) -> MaterialQuery<'a> {
        MaterialQuery {
            class,
            name: None,
            name_below: None,
            first_day_from: None,
            first_day_to: None,
            last_day_from: None,
            known_at,
            order: MaterialOrder::Seq,
            limit: None,
        }
    }
}

/// The index's state: how far it has read the log, the chain hash there, and the digest of its
/// rows ([`MaterialDigest`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialState {
    pub format: u32,
    pub seq: u64,
    pub chain_hash: String,
    pub digest: String,
}

/// A digest of a set of rows that can be kept up to date as rows come and go: the sum modulo
/// 2^256 of the SHA-256 of each row (of `material` and of `material_names`, each in a fixed
/// text form), so that adding, ending or removing one row changes it by that row's hash alone,
/// and any edit, insertion or deletion of a row changes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaterialDigest([u64; 4]);

impl MaterialDigest {
    /// The digest of exactly these rows and names.
    pub fn of<'a>(
        rows: impl IntoIterator<Item = &'a MaterialRow>,
        names: impl IntoIterator<Item = &'a (String, String)>,
    ) -> MaterialDigest {
        let mut digest = MaterialDigest::default();
        for row in rows {
            digest.add(&row_hash(row));
        }
        for (class, name) in names {
            digest.add(&name_hash(class, name));
        }
        digest
    }

    fn limbs(hash: &str) -> [u64; 4] {
        let bytes = hex::decode(hash).unwrap_or_default();
        let mut limbs = [0u64; 4];
        for (i, chunk) in bytes.chunks(8).take(4).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            // Big-endian text, so limb 3 is the least significant.
            limbs[i] = u64::from_be_bytes(word);
        }
        limbs
    }

    pub(crate) fn add(&mut self, hash: &str) {
        let other = MaterialDigest::limbs(hash);
        let mut carry = false;
        for i in (0..4).rev() {
            let (sum, c1) = self.0[i].overflowing_add(other[i]);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            self.0[i] = sum;
            carry = c1 || c2;
        }
    }

    pub(crate) fn subtract(&mut self, hash: &str) {
        let other = MaterialDigest::limbs(hash);
        let mut borrow = false;
        for i in (0..4).rev() {
            let (diff, b1) = self.0[i].overflowing_sub(other[i]);
            let (diff, b2) = diff.overflowing_sub(u64::from(borrow));
            self.0[i] = diff;
            borrow = b1 || b2;
        }
    }

    pub fn to_hex(self) -> String {
        self.0.iter().map(|limb| format!("{limb:016x}")).collect()
    }

    pub(crate) fn from_hex(text: &str) -> MaterialDigest {
        MaterialDigest(MaterialDigest::limbs(text))
    }
}

/// The SHA-256 of one row of `material` in a fixed text form (every column, the item last).
pub(crate) fn row_hash(row: &MaterialRow) -> String {
    let mut bytes = format!(
        "material\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        row.seq,
        row.known_from,
        row.known_until.map_or("-".to_owned(), |s| s.to_string()),
        row.class,
        row.name,
        row.first_day,
        row.last_day
    )
    .into_bytes();
    bytes.extend_from_slice(&row.item);
    sha256_hex(&bytes)
}

pub(crate) fn name_hash(class: &str, name: &str) -> String {
    sha256_hex(format!("material_names\n{class}\n{name}\n").as_bytes())
}

/// Empties the index, which is then rebuilt from the log (after a restore, or a new format).
pub(crate) fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "DELETE FROM material; DELETE FROM material_names; DELETE FROM material_position;",
    )
    .storage()?;
    Ok(())
}

impl SqliteStore {
    /// The log position the index has read up to, if it is kept in `format`; `None` if it
    /// is empty, in another format, or the database has no index (opened read-only before the
    /// migration that adds it).
    pub fn material_position(&self, format: u32) -> Result<Option<u64>, StoreError> {
        Ok(self.material_state(format)?.map(|state| state.seq))
    }

    /// The index's state if it is kept in `format` (see [`SqliteStore::material_position`]).
    pub fn material_state(&self, format: u32) -> Result<Option<MaterialState>, StoreError> {
        if self.schema_version()? < MATERIAL_SCHEMA_VERSION {
            return Ok(None);
        }
        position(&self.conn, format)
    }

    /// The state row whatever its format, for `verify`.
    pub fn material_state_any(&self) -> Result<Option<MaterialState>, StoreError> {
        if self.schema_version()? < MATERIAL_SCHEMA_VERSION {
            return Ok(None);
        }
        state_row(&self.conn)
    }

    /// Every version of the item `seq` added, in the order they were known (`known_from`): one
    /// range of the primary key, what a read checks a row's history against.
    pub fn material_versions(&self, seq: u64) -> Result<Vec<MaterialRow>, StoreError> {
        let Some(seq) = seq_param(seq) else {
            return Ok(Vec::new());
        };
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT seq, known_from, known_until, class, name, first_day, last_day, item \
             FROM material WHERE seq = ?1 ORDER BY known_from",
            )
            .storage()?;
        let rows = statement
            .query_map([seq], row_from)
            .storage()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?;
        rows.into_iter().collect()
    }

    /// Every row of the index in (seq, known_from) order and every name, for `verify`.
    #[allow(clippy::type_complexity)]
    pub fn material_all(&self) -> Result<(Vec<MaterialRow>, Vec<(String, String)>), StoreError> {
        if self.schema_version()? < MATERIAL_SCHEMA_VERSION {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut statement = self
            .conn
            .prepare(
                "SELECT seq, known_from, known_until, class, name, first_day, last_day, item \
             FROM material ORDER BY seq, known_from",
            )
            .storage()?;
        let rows = statement
            .query_map([], row_from)
            .storage()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut statement = self
            .conn
            .prepare("SELECT class, name FROM material_names ORDER BY class, name")
            .storage()?;
        let names = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .storage()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?;
        Ok((rows, names))
    }

    /// Starts updating the index in its own write transaction. An index kept in another format
    /// is emptied first. Nothing is kept unless [`MaterialWriter::commit`] is called.
    pub fn material_writer(&mut self, format: u32) -> Result<SqliteMaterialWriter<'_>, StoreError> {
        let busy = self.busy_timeout_ms;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;
        let (position, digest) = match position(&tx, format)? {
            Some(state) => (state.seq, MaterialDigest::from_hex(&state.digest)),
            None => {
                clear(&tx)?;
                (0, MaterialDigest::default())
            }
        };
        let head = head_of(&tx)?.seq;
        Ok(SqliteMaterialWriter {
            tx,
            busy,
            format,
            position,
            head,
            digest,
        })
    }

    /// Empties the material index; the next report rebuilds it from the log.
    pub fn drop_material(&mut self) -> Result<(), StoreError> {
        if self.schema_version()? < MATERIAL_SCHEMA_VERSION {
            return Ok(());
        }
        clear(&self.conn)
    }

    /// The versions `query` selects.
    pub fn material_rows(&self, query: &MaterialQuery<'_>) -> Result<Vec<MaterialRow>, StoreError> {
        let known_at = SqlValue::Integer(seq_param(query.known_at).unwrap_or(i64::MAX));
        // The first few rows in seq order are found by walking `(class, name, seq)` and stopping
        // at the limit. Left to itself, the planner prefers the `first_day` index and sorts
        // every row of the name, which grows with the log.
        let table = if query.order == MaterialOrder::Seq && query.limit.is_some() {
            "material INDEXED BY material_by_seq"
        } else {
            "material"
        };
        let mut sql = format!(
            "SELECT seq, known_from, known_until, class, name, first_day, last_day, item FROM {table} \
             WHERE class = ? AND known_from <= ? AND (known_until IS NULL OR known_until > ?)"
        );
        let mut values = vec![
            SqlValue::Text(query.class.to_owned()),
            known_at.clone(),
            known_at,
        ];
        let mut bound = |condition: &str, value: SqlValue| {
            sql.push_str(condition);
            values.push(value);
        };
        if let Some(name) = query.name {
            bound(" AND name = ?", SqlValue::Text(name.to_owned()));
        }
        if let Some(name) = query.name_below {
            bound(" AND name < ?", SqlValue::Text(name.to_owned()));
        }
        if let Some(day) = query.first_day_from {
            bound(" AND first_day >= ?", SqlValue::Text(day.to_string()));
        }
        if let Some(day) = query.first_day_to {
            bound(" AND first_day <= ?", SqlValue::Text(day.to_string()));
        }
        if let Some(day) = query.last_day_from {
            bound(" AND last_day >= ?", SqlValue::Text(day.to_string()));
        }
        sql.push_str(match query.order {
            MaterialOrder::Seq => " ORDER BY seq",
            MaterialOrder::LatestDay => " ORDER BY first_day DESC, seq DESC",
            MaterialOrder::NameDescending => " ORDER BY name DESC, seq DESC",
        });
        if let Some(limit) = query.limit {
            sql.push_str(" LIMIT ?");
            values.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        }
        let mut statement = self.conn.prepare_cached(&sql).storage()?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values.iter()), row_from)
            .storage()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?;
        rows.into_iter().collect()
    }

    /// Every name ever given in `class`, sorted.
    pub fn material_names(&self, class: &str) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT name FROM material_names WHERE class = ?1 ORDER BY name")
            .storage()?;
        let names = statement
            .query_map([class], |row| row.get(0))
            .storage()?
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?;
        Ok(names)
    }
}

fn position(conn: &Connection, format: u32) -> Result<Option<MaterialState>, StoreError> {
    Ok(state_row(conn)?.filter(|state| state.format == format))
}

fn state_row(conn: &Connection) -> Result<Option<MaterialState>, StoreError> {
    conn.query_row(
        "SELECT format, seq, chain_hash, digest FROM material_position WHERE id = 1",
        [],
        |row| {
            Ok(MaterialState {
                format: row.get(0)?,
                seq: to_u64(row.get(1)?),
                chain_hash: row.get(2)?,
                digest: row.get(3)?,
            })
        },
    )
    .optional()
    .storage()
}

fn row_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<MaterialRow, StoreError>> {
    let seq: i64 = row.get(0)?;
    let known_from: i64 = row.get(1)?;
    let known_until: Option<i64> = row.get(2)?;
    let (class, name, first, last, item): (String, String, String, String, Vec<u8>) = (
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
    );
    let day = |text: &str, column: &str| {
        text.parse::<NaiveDate>().map_err(|_| {
            StoreError::CacheDamaged(format!("material index: {column} {text:?} is not a date"))
        })
    };
    Ok((|| {
        Ok(MaterialRow {
            seq: to_u64(seq),
            known_from: to_u64(known_from),
            known_until: known_until.map(to_u64),
            first_day: day(&first, "first_day")?,
            last_day: day(&last, "last_day")?,
            class,
            name,
            item,
        })
    })())
}

/// An update of the material index in one write transaction, whatever the backend; see
/// [`Store::material_writer`](crate::Store::material_writer).
pub trait MaterialWriter {
    /// The log position the index has read up to.
    fn position(&self) -> u64;

    /// The log's head as this transaction sees it; no event after it can appear before commit.
    fn head(&self) -> u64;

    /// Up to `limit` events of `kinds` after `after`, up to the head, in log order.
    fn read_page(
        &self,
        kinds: &[&str],
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The current version of the item `seq` added: `None` if there is none (it is not
    /// material, or it was retracted).
    fn current(&self, seq: u64) -> Result<Option<MaterialRow>, StoreError>;

    /// Adds a version of an item, current from log position `row.known_from` on.
    fn insert(&mut self, row: &MaterialRow) -> Result<(), StoreError>;

    /// Ends the current version of the item `seq` added at log position `at` (a correction
    /// that replaces it, or a retraction).
    fn end(&mut self, seq: u64, at: u64) -> Result<(), StoreError>;

    /// Keeps the update, with the index read up to log position `position`, bound to the
    /// chain hash there.
    fn commit(self: Box<Self>, position: u64) -> Result<(), StoreError>;
}

/// The SQLite backend's [`MaterialWriter`]: one `BEGIN IMMEDIATE` transaction; see
/// [`SqliteStore::material_writer`].
pub struct SqliteMaterialWriter<'a> {
    tx: Transaction<'a>,
    busy: u64,
    format: u32,
    position: u64,
    head: u64,
    digest: MaterialDigest,
}

impl MaterialWriter for SqliteMaterialWriter<'_> {
    fn position(&self) -> u64 {
        self.position
    }

    fn head(&self) -> u64 {
        self.head
    }

    fn read_page(
        &self,
        kinds: &[&str],
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let filter = Filter {
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            max_seq: Some(self.head),
            ..Filter::default()
        };
        read_page_in(&self.tx, self.busy, &filter, after, limit)
    }

    fn current(&self, seq: u64) -> Result<Option<MaterialRow>, StoreError> {
        let mut statement = self
            .tx
            .prepare_cached(
                "SELECT seq, known_from, known_until, class, name, first_day, last_day, item \
             FROM material WHERE seq = ?1 AND known_until IS NULL",
            )
            .storage()?;
        statement
            .query_row([to_i64(seq)], row_from)
            .optional()
            .storage()?
            .transpose()
    }

    fn insert(&mut self, row: &MaterialRow) -> Result<(), StoreError> {
        let row = MaterialRow {
            known_until: None,
            ..row.clone()
        };
        self.tx
            .prepare_cached(
                "INSERT INTO material (seq, known_from, class, name, first_day, last_day, item) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .storage()?
            .execute(params![
                to_i64(row.seq),
                to_i64(row.known_from),
                row.class,
                row.name,
                row.first_day.to_string(),
                row.last_day.to_string(),
                row.item,
            ])
            .storage()?;
        self.digest.add(&row_hash(&row));
        let added = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO material_names (class, name) VALUES (?1, ?2)")
            .storage()?
            .execute(params![row.class, row.name])
            .storage()?;
        if added > 0 {
            self.digest.add(&name_hash(&row.class, &row.name));
        }
        Ok(())
    }

    fn end(&mut self, seq: u64, at: u64) -> Result<(), StoreError> {
        let Some(current) = self.current(seq)? else {
            return Ok(());
        };
        self.tx
            .prepare_cached(
                "UPDATE material SET known_until = ?2 WHERE seq = ?1 AND known_until IS NULL",
            )
            .storage()?
            .execute(params![to_i64(seq), to_i64(at)])
            .storage()?;
        self.digest.subtract(&row_hash(&current));
        self.digest.add(&row_hash(&MaterialRow {
            known_until: Some(at),
            ..current
        }));
        Ok(())
    }

    fn commit(self: Box<Self>, position: u64) -> Result<(), StoreError> {
        let chain_hash = chain_hash_at(&self.tx, position)?.ok_or_else(|| {
            StoreError::CacheDamaged(format!(
                "material index: position {position} is past the head {}",
                self.head
            ))
        })?;
        self.tx
            .execute(
                "INSERT OR REPLACE INTO material_position (id, format, seq, chain_hash, digest) \
             VALUES (1, ?1, ?2, ?3, ?4)",
                params![
                    self.format,
                    to_i64(position),
                    chain_hash,
                    self.digest.to_hex()
                ],
            )
            .storage()?;
        self.tx
            .commit()
            .map_err(|e| StoreError::from_sqlite(e, self.busy))
    }
}
