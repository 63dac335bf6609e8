//! The caches beside the log on PostgreSQL: the report material's index
//! (`schema/postgres/003_material.sql`) and the published editions' outputs
//! (`schema/postgres/004_edition_outputs.sql`). They store and find rows exactly as the SQLite
//! backend does (`material.rs`, `editions.rs`), bound to the chain hash where they were built;
//! what a user reads from them is judged by the caller (`lagesbild_app::material`,
//! `lagesbild_app::edition_cache`) against the log, the same way for both backends.
//!
//! On SQLite an update of a cache takes the file's write lock and so runs alone. Here appends
//! are not held up by it: each cache's updates are serialised among themselves by a
//! transaction-level advisory lock (waited for at most the busy timeout, like the append lock),
//! and read the log under READ COMMITTED after taking it. Since events commit in sequence order
//! (`postgres.rs`), every event up to the head such a transaction sees is committed, so an
//! index bound at a position has read every event up to it.

use chrono::NaiveDate;
use lagesbild_model::{StoredEvent, sha256_hex};
use postgres::Row;
use postgres::types::ToSql;

use crate::material::{name_hash, row_hash};
use crate::postgres::{PostgresStore, Tx, to_i64, to_u64};
use crate::{
    EditionOutput, EditionOutputs, EventLog, Filter, MaterialDigest, MaterialOrder, MaterialQuery,
    MaterialRow, MaterialState, MaterialWriter, StoreError,
};

/// The schema version that added the material index.
pub(crate) const MATERIAL_SCHEMA_VERSION: i32 = 3;

/// The schema version that added the edition cache.
pub(crate) const EDITION_OUTPUTS_SCHEMA_VERSION: i32 = 4;

/// The advisory lock (one key of the database's space) that serialises updates of the material
/// index: two servers catching it up at once would both add the same rows.
const MATERIAL_LOCK: i64 = 0x6c61_6765_7362_0003;

/// The advisory lock that serialises writes of the edition cache.
const EDITION_LOCK: i64 = 0x6c61_6765_7362_0004;

const MATERIAL_COLUMNS: &str =
    "seq, known_from, known_until, class, name, first_day, last_day, item";

/// A row of `material`, its days parsed; a day that is not one is a damaged cache.
fn material_row(row: &Row) -> Result<MaterialRow, StoreError> {
    let day = |index: usize, column: &str| {
        let text: String = row.get(index);
        text.parse::<NaiveDate>().map_err(|_| {
            StoreError::CacheDamaged(format!("material index: {column} {text:?} is not a date"))
        })
    };
    Ok(MaterialRow {
        seq: to_u64(row.get(0)),
        known_from: to_u64(row.get(1)),
        known_until: row.get::<_, Option<i64>>(2).map(to_u64),
        class: row.get(3),
        name: row.get(4),
        first_day: day(5, "first_day")?,
        last_day: day(6, "last_day")?,
        item: row.get(7),
    })
}

fn state_from(row: &Row) -> MaterialState {
    MaterialState {
        format: u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX),
        seq: to_u64(row.get(1)),
        chain_hash: row.get(2),
        digest: row.get(3),
    }
}

impl PostgresStore {
    fn has_material(&self) -> bool {
        self.schema() >= MATERIAL_SCHEMA_VERSION
    }

    fn has_edition_outputs(&self) -> bool {
        self.schema() >= EDITION_OUTPUTS_SCHEMA_VERSION
    }

    /// Waits (at most the busy timeout) for the advisory lock `key` until the transaction ends.
    fn lock_cache(&self, key: i64) -> Result<(), StoreError> {
        self.query("SELECT pg_advisory_xact_lock($1)", &[&key])?;
        Ok(())
    }

    fn material_state_row(&self) -> Result<Option<MaterialState>, StoreError> {
        if !self.has_material() {
            return Ok(None);
        }
        Ok(self
            .query_opt(
                "SELECT format, seq, chain_hash, digest FROM material_position WHERE id = 1",
                &[],
            )?
            .as_ref()
            .map(state_from))
    }

    /// Empties the index (inside the caller's transaction, or on its own).
    pub(crate) fn clear_material(&self) -> Result<(), StoreError> {
        if !self.has_material() {
            return Ok(());
        }
        self.execute("DELETE FROM material", &[])?;
        self.execute("DELETE FROM material_names", &[])?;
        self.execute("DELETE FROM material_position", &[])?;
        Ok(())
    }

    /// Empties the edition cache (inside the caller's transaction, or on its own).
    pub(crate) fn clear_edition_outputs(&self) -> Result<(), StoreError> {
        if !self.has_edition_outputs() {
            return Ok(());
        }
        self.execute("DELETE FROM edition_outputs", &[])?;
        Ok(())
    }

    /// The index's state if it is kept in `format`.
    pub fn material_state(&self, format: u32) -> Result<Option<MaterialState>, StoreError> {
        Ok(self
            .material_state_row()?
            .filter(|state| state.format == format))
    }

    /// The state row whatever its format, for `verify`.
    pub fn material_state_any(&self) -> Result<Option<MaterialState>, StoreError> {
        self.material_state_row()
    }

    /// Every version of the item `seq` added, in the order they were known.
    pub fn material_versions(&self, seq: u64) -> Result<Vec<MaterialRow>, StoreError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(Vec::new());
        };
        if !self.has_material() {
            return Ok(Vec::new());
        }
        self.query(
            &format!("SELECT {MATERIAL_COLUMNS} FROM material WHERE seq = $1 ORDER BY known_from"),
            &[&seq],
        )?
        .iter()
        .map(material_row)
        .collect()
    }

    /// Every row of the index in (seq, known_from) order and every name, for `verify`.
    #[allow(clippy::type_complexity)]
    pub fn material_all(&self) -> Result<(Vec<MaterialRow>, Vec<(String, String)>), StoreError> {
        if !self.has_material() {
            return Ok((Vec::new(), Vec::new()));
        }
        // One snapshot for both tables, so that a catch-up committing meanwhile cannot give rows
        // of one state and names of another.
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let rows = self
            .query(
                &format!("SELECT {MATERIAL_COLUMNS} FROM material ORDER BY seq, known_from"),
                &[],
            )?
            .iter()
            .map(material_row)
            .collect::<Result<Vec<_>, _>>()?;
        let names = self
            .query(
                "SELECT class, name FROM material_names ORDER BY class, name",
                &[],
            )?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        tx.commit()?;
        Ok((rows, names))
    }

    /// Starts updating the index in its own transaction, after every other update of it has
    /// ended; an index kept in another format is emptied first. Nothing is kept unless
    /// [`MaterialWriter::commit`] is called.
    pub fn material_writer(&mut self, format: u32) -> Result<PgMaterialWriter<'_>, StoreError> {
        if !self.has_material() {
            return Err(StoreError::Storage {
                message: format!(
                    "the database has schema version {}, without the material index; open it with a role that may migrate it",
                    self.schema()
                ),
            });
        }
        let store: &PostgresStore = self;
        let tx = Tx::begin(store, "BEGIN ISOLATION LEVEL READ COMMITTED")?;
        store.lock_cache(MATERIAL_LOCK)?;
        // Read after the lock: what the previous update committed is seen.
        let (position, digest) = match store.material_state(format)? {
            Some(state) => (state.seq, MaterialDigest::from_hex(&state.digest)),
            None => {
                store.clear_material()?;
                (0, MaterialDigest::default())
            }
        };
        let head = store.head_in()?.seq;
        Ok(PgMaterialWriter {
            store,
            tx,
            format,
            position,
            head,
            digest,
        })
    }

    /// Empties the material index; the next report rebuilds it from the log.
    pub fn drop_material(&mut self) -> Result<(), StoreError> {
        if !self.has_material() {
            return Ok(());
        }
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL READ COMMITTED")?;
        self.lock_cache(MATERIAL_LOCK)?;
        self.clear_material()?;
        tx.commit()
    }

    /// The versions `query` selects.
    pub fn material_rows(&self, query: &MaterialQuery<'_>) -> Result<Vec<MaterialRow>, StoreError> {
        if !self.has_material() {
            return Ok(Vec::new());
        }
        let known_at = i64::try_from(query.known_at).unwrap_or(i64::MAX);
        let mut values: Vec<Box<dyn ToSql + Sync>> =
            vec![Box::new(query.class.to_owned()), Box::new(known_at)];
        let mut sql = format!(
            "SELECT {MATERIAL_COLUMNS} FROM material \
             WHERE class = $1 AND known_from <= $2 AND (known_until IS NULL OR known_until > $2)"
        );
        let mut bound = |condition: &str, value: Box<dyn ToSql + Sync>| {
            values.push(value);
            sql.push_str(&condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(name) = query.name {
            bound(" AND name = ?", Box::new(name.to_owned()));
        }
        if let Some(name) = query.name_below {
            bound(" AND name < ?", Box::new(name.to_owned()));
        }
        if let Some(day) = query.first_day_from {
            bound(" AND first_day >= ?", Box::new(day.to_string()));
        }
        if let Some(day) = query.first_day_to {
            bound(" AND first_day <= ?", Box::new(day.to_string()));
        }
        if let Some(day) = query.last_day_from {
            bound(" AND last_day >= ?", Box::new(day.to_string()));
        }
        sql.push_str(match query.order {
            MaterialOrder::Seq => " ORDER BY seq, known_from",
            MaterialOrder::LatestDay => " ORDER BY first_day DESC, seq DESC",
            MaterialOrder::NameDescending => " ORDER BY name DESC, seq DESC",
        });
        if let Some(limit) = query.limit {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            values.push(Box::new(limit));
            sql.push_str(&format!(" LIMIT ${}", values.len()));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        self.query(&sql, &refs)?.iter().map(material_row).collect()
    }

    /// Every name ever given in `class`, sorted bytewise.
    pub fn material_names(&self, class: &str) -> Result<Vec<String>, StoreError> {
        if !self.has_material() {
            return Ok(Vec::new());
        }
        Ok(self
            .query(
                "SELECT name FROM material_names WHERE class = $1 ORDER BY name",
                &[&class],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    /// Keeps the outputs (format, bytes) of the edition recorded by event `seq`, rendered with
    /// the templates of `template_digest`, replacing what was kept for that pair, bound to the
    /// chain hash of event `seq` as it is now; an event the log does not hold is refused.
    pub fn save_edition_outputs(
        &mut self,
        seq: u64,
        template_digest: &str,
        outputs: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        if !self.has_edition_outputs() {
            return Err(StoreError::Storage {
                message: format!(
                    "the database has schema version {}, without the edition cache; open it with a role that may migrate it",
                    self.schema()
                ),
            });
        }
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL READ COMMITTED")?;
        self.lock_cache(EDITION_LOCK)?;
        let head = self.head_in()?.seq;
        let chain_hash = match crate::Store::chain_hash_at(self, seq)? {
            Some(hash) if seq > 0 && seq <= head => hash,
            _ => {
                return Err(StoreError::NotFound(format!(
                    "no edition outputs are kept for event {seq}: the log holds events 1 to {head}"
                )));
            }
        };
        let seq = to_i64(seq);
        self.execute(
            "DELETE FROM edition_outputs WHERE seq = $1 AND template_digest = $2",
            &[&seq, &template_digest],
        )?;
        for (format, bytes) in outputs {
            self.execute(
                "INSERT INTO edition_outputs (seq, chain_hash, template_digest, format, sha256, bytes) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &seq,
                    &chain_hash,
                    &template_digest,
                    format,
                    &sha256_hex(bytes),
                    bytes,
                ],
            )?;
        }
        tx.commit()
    }

    /// What is kept for the edition of event `seq` rendered with `template_digest`, unchecked.
    pub fn edition_outputs(
        &self,
        seq: u64,
        template_digest: &str,
    ) -> Result<Option<EditionOutputs>, StoreError> {
        let Ok(seq_value) = i64::try_from(seq) else {
            return Ok(None);
        };
        if !self.has_edition_outputs() {
            return Ok(None);
        }
        let rows = self.query(
            "SELECT chain_hash, format, sha256, bytes FROM edition_outputs \
             WHERE seq = $1 AND template_digest = $2 ORDER BY format",
            &[&seq_value, &template_digest],
        )?;
        let mut found = EditionOutputs {
            seq,
            chain_hashes: Vec::new(),
            template_digest: template_digest.to_owned(),
            outputs: Vec::new(),
        };
        for row in &rows {
            found.chain_hashes.push(row.get(0));
            found.outputs.push(EditionOutput {
                format: row.get(1),
                sha256: row.get(2),
                bytes: row.get(3),
            });
        }
        Ok((!found.outputs.is_empty()).then_some(found))
    }

    /// Every edition in the cache, by (seq, template digest), for `verify`.
    pub fn all_edition_outputs(&self) -> Result<Vec<EditionOutputs>, StoreError> {
        if !self.has_edition_outputs() {
            return Ok(Vec::new());
        }
        let rows = self.query(
            "SELECT seq, template_digest, chain_hash, format, sha256, bytes FROM edition_outputs \
             ORDER BY seq, template_digest, format",
            &[],
        )?;
        let mut all: Vec<EditionOutputs> = Vec::new();
        for row in &rows {
            let seq = to_u64(row.get(0));
            let template_digest: String = row.get(1);
            let chain_hash: String = row.get(2);
            let output = EditionOutput {
                format: row.get(3),
                sha256: row.get(4),
                bytes: row.get(5),
            };
            match all.last_mut() {
                Some(last) if last.seq == seq && last.template_digest == template_digest => {
                    last.chain_hashes.push(chain_hash);
                    last.outputs.push(output);
                }
                _ => all.push(EditionOutputs {
                    seq,
                    chain_hashes: vec![chain_hash],
                    template_digest,
                    outputs: vec![output],
                }),
            }
        }
        Ok(all)
    }

    /// Drops everything kept for the edition of event `seq`; it is rebuilt from the log.
    pub fn drop_edition_outputs(&mut self, seq: u64) -> Result<(), StoreError> {
        if !self.has_edition_outputs() {
            return Ok(());
        }
        self.execute(
            "DELETE FROM edition_outputs WHERE seq = $1",
            &[&i64::try_from(seq).unwrap_or(i64::MAX)],
        )?;
        Ok(())
    }

    /// How many rows the edition cache holds.
    pub fn edition_output_rows(&self) -> Result<u64, StoreError> {
        if !self.has_edition_outputs() {
            return Ok(0);
        }
        let row = self.query_opt("SELECT count(*) FROM edition_outputs", &[])?;
        Ok(row.map_or(0, |row| to_u64(row.get(0))))
    }

    /// The newest event of `kind` (its seq), or `None`: one seek on `events_by_kind`.
    pub fn newest_of_kind(&self, kind: &str) -> Result<Option<u64>, StoreError> {
        let row = self.query_opt(
            "SELECT seq FROM events WHERE kind = $1 ORDER BY seq DESC LIMIT 1",
            &[&kind],
        )?;
        Ok(row.map(|row| to_u64(row.get(0))))
    }
}

/// The PostgreSQL backend's [`MaterialWriter`]: one READ COMMITTED transaction holding the
/// index's advisory lock; see [`PostgresStore::material_writer`].
pub struct PgMaterialWriter<'a> {
    store: &'a PostgresStore,
    tx: Tx<'a>,
    format: u32,
    position: u64,
    head: u64,
    digest: MaterialDigest,
}

impl MaterialWriter for PgMaterialWriter<'_> {
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
        self.store.read_page(&filter, after, limit)
    }

    fn current(&self, seq: u64) -> Result<Option<MaterialRow>, StoreError> {
        self.store
            .query_opt(
                &format!(
                    "SELECT {MATERIAL_COLUMNS} FROM material WHERE seq = $1 AND known_until IS NULL"
                ),
                &[&to_i64(seq)],
            )?
            .as_ref()
            .map(material_row)
            .transpose()
    }

    fn insert(&mut self, row: &MaterialRow) -> Result<(), StoreError> {
        let row = MaterialRow {
            known_until: None,
            ..row.clone()
        };
        self.store.execute(
            &format!(
                "INSERT INTO material ({MATERIAL_COLUMNS}) VALUES ($1, $2, NULL, $3, $4, $5, $6, $7)"
            ),
            &[
                &to_i64(row.seq),
                &to_i64(row.known_from),
                &row.class,
                &row.name,
                &row.first_day.to_string(),
                &row.last_day.to_string(),
                &row.item,
            ],
        )?;
        self.digest.add(&row_hash(&row));
        let added = self.store.execute(
            "INSERT INTO material_names (class, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&row.class, &row.name],
        )?;
        if added > 0 {
            self.digest.add(&name_hash(&row.class, &row.name));
        }
        Ok(())
    }

    fn end(&mut self, seq: u64, at: u64) -> Result<(), StoreError> {
        let Some(current) = self.current(seq)? else {
            return Ok(());
        };
        self.store.execute(
            "UPDATE material SET known_until = $2 WHERE seq = $1 AND known_until IS NULL",
            &[&to_i64(seq), &to_i64(at)],
        )?;
        self.digest.subtract(&row_hash(&current));
        self.digest.add(&row_hash(&MaterialRow {
            known_until: Some(at),
            ..current
        }));
        Ok(())
    }

    fn commit(self: Box<Self>, position: u64) -> Result<(), StoreError> {
        let chain_hash = match crate::Store::chain_hash_at(self.store, position)? {
            Some(hash) if position <= self.head => hash,
            _ => {
                return Err(StoreError::CacheDamaged(format!(
                    "material index: position {position} is past the head {}",
                    self.head
                )));
            }
        };
        self.store.execute(
            "INSERT INTO material_position (id, format, seq, chain_hash, digest) \
             VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET format = EXCLUDED.format, seq = EXCLUDED.seq, \
             chain_hash = EXCLUDED.chain_hash, digest = EXCLUDED.digest",
            &[
                &i64::from(self.format),
                &to_i64(position),
                &chain_hash,
                &self.digest.to_hex(),
            ],
        )?;
        self.tx.commit()
    }
}
