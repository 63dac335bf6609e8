//! The index of the weekly report's material (`schema/003_material.sql`): a cache beside the
//! log, like the checkpoints, that lets a report for one day look up the few items it reads
//! instead of folding all of them. This module only stores and finds rows; what an item is, its
//! class, name and days, and how corrections change it, are the caller's (the timeline crate's
//! `MaterialItem` and the application's fold).

use chrono::NaiveDate;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::sqlite::{MATERIAL_SCHEMA_VERSION, head_of, read_page_in, seq_param, to_i64, to_u64};
use crate::{Filter, SqliteStore, StoreError};
use lagesbild_model::StoredEvent;

/// One version of an item of material, as the index keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialRow {
    /// The event that added the item.
    pub seq: u64,
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

/// Empties the index, which is then rebuilt from the log (after a restore, or a new format).
pub(crate) fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "DELETE FROM material; DELETE FROM material_names; DELETE FROM material_position;",
    )?;
    Ok(())
}

impl SqliteStore {
    /// The log position the index has read up to, if it is kept in `format`; `None` if it
    /// is empty, in another format, or the database has no index (opened read-only before the
    /// migration that adds it).
    pub fn material_position(&self, format: u32) -> Result<Option<u64>, StoreError> {
        if self.schema_version()? < MATERIAL_SCHEMA_VERSION {
            return Ok(None);
        }
        position(&self.conn, format)
    }

    /// Starts updating the index in its own write transaction. An index kept in another format
    /// is emptied first. Nothing is kept unless [`MaterialWriter::commit`] is called.
    pub fn material_writer(&mut self, format: u32) -> Result<MaterialWriter<'_>, StoreError> {
        let busy = self.busy_timeout_ms;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;
        let position = match position(&tx, format)? {
            Some(seq) => seq,
            None => {
                clear(&tx)?;
                0
            }
        };
        let head = head_of(&tx)?.seq;
        Ok(MaterialWriter {
            tx,
            busy,
            format,
            position,
            head,
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
            "SELECT seq, class, name, first_day, last_day, item FROM {table} \
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
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values.iter()), row_from)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?;
        rows.into_iter().collect()
    }

    /// Every name ever given in `class`, sorted.
    pub fn material_names(&self, class: &str) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT name FROM material_names WHERE class = ?1 ORDER BY name")?;
        let names = statement
            .query_map([class], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?;
        Ok(names)
    }
}

fn position(conn: &Connection, format: u32) -> Result<Option<u64>, StoreError> {
    let found: Option<(u32, i64)> = conn
        .query_row(
            "SELECT format, seq FROM material_position WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(found.and_then(|(kept, seq)| (kept == format).then(|| to_u64(seq))))
}

type RawRow = (i64, String, String, String, String, Vec<u8>);

fn row_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<MaterialRow, StoreError>> {
    let (seq, class, name, first, last, item): RawRow = (
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    );
    let day = |text: &str, column: &str| {
        text.parse::<NaiveDate>().map_err(|_| {
            StoreError::CacheDamaged(format!("material index: {column} {text:?} is not a date"))
        })
    };
    Ok((|| {
        Ok(MaterialRow {
            seq: to_u64(seq),
            first_day: day(&first, "first_day")?,
            last_day: day(&last, "last_day")?,
            class,
            name,
            item,
        })
    })())
}

/// An update of the material index in one write transaction; see
/// [`SqliteStore::material_writer`].
pub struct MaterialWriter<'a> {
    tx: Transaction<'a>,
    busy: u64,
    format: u32,
    position: u64,
    head: u64,
}

impl MaterialWriter<'_> {
    /// The log position the index has read up to.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The log's head as this transaction sees it; no event after it can appear before commit.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Up to `limit` events of `kinds` after `after`, up to the head, in log order.
    pub fn read_page(
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

    /// The current version of the item `seq` added: `None` if there is none (it is not
    /// material, or it was retracted).
    pub fn current(&self, seq: u64) -> Result<Option<MaterialRow>, StoreError> {
        let mut statement = self.tx.prepare_cached(
            "SELECT seq, class, name, first_day, last_day, item FROM material \
             WHERE seq = ?1 AND known_until IS NULL",
        )?;
        statement
            .query_row([to_i64(seq)], row_from)
            .optional()?
            .transpose()
    }

    /// Adds a version of an item, current from log position `known_from` on.
    pub fn insert(&self, row: &MaterialRow, known_from: u64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO material (seq, known_from, class, name, first_day, last_day, item) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                to_i64(row.seq),
                to_i64(known_from),
                row.class,
                row.name,
                row.first_day.to_string(),
                row.last_day.to_string(),
                row.item,
            ])?;
        self.tx
            .prepare_cached("INSERT OR IGNORE INTO material_names (class, name) VALUES (?1, ?2)")?
            .execute(params![row.class, row.name])?;
        Ok(())
    }

    /// Ends the current version of the item `seq` added at log position `at` (a correction
    /// that replaces it, or a retraction).
    pub fn end(&self, seq: u64, at: u64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE material SET known_until = ?2 WHERE seq = ?1 AND known_until IS NULL",
            )?
            .execute(params![to_i64(seq), to_i64(at)])?;
        Ok(())
    }

    /// Keeps the update, with the index read up to log position `position`.
    pub fn commit(self, position: u64) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT OR REPLACE INTO material_position (id, format, seq) VALUES (1, ?1, ?2)",
            params![self.format, to_i64(position)],
        )?;
        self.tx
            .commit()
            .map_err(|e| StoreError::from_sqlite(e, self.busy))
    }
}
