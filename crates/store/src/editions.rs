//! The cache of published editions' outputs (`schema/006_edition_outputs.sql`): stores and
//! finds the rows as they are, bound to the chain hash of the edition's event when written.
//! Whether a row may be served is decided by the caller against the edition's
//! `report_published` event (`lagesbild_app::edition_cache`); here nothing is trusted or judged.

use crate::error::SqliteResult;
use lagesbild_model::sha256_hex;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::sqlite::{chain_hash_at, head_of, seq_param, to_i64, to_u64};
use crate::{SqliteStore, StoreError};

/// The schema version that added the cache.
const EDITION_OUTPUTS_SCHEMA_VERSION: i64 = 6;

/// One output of an edition as kept: its format's name (`md`, `html`, …), the SHA-256 recorded
/// beside it and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditionOutput {
    pub format: String,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// Every cached output of one edition rendered with one template set, as stored: nothing here
/// has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditionOutputs {
    /// The edition's `report_published` event.
    pub seq: u64,
    /// The chain hash the rows say event `seq` had when they were written; rows written at
    /// different times may disagree, so each output keeps its own.
    pub chain_hashes: Vec<String>,
    pub template_digest: String,
    /// In format name order.
    pub outputs: Vec<EditionOutput>,
}

/// Empties the edition cache, inside `restore`'s transaction.
pub(crate) fn clear(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM edition_outputs", []).storage()?;
    Ok(())
}

impl SqliteStore {
    fn has_edition_outputs(&self) -> Result<bool, StoreError> {
        Ok(self.schema_version()? >= EDITION_OUTPUTS_SCHEMA_VERSION)
    }

    /// Keeps the outputs (format, bytes) of the edition recorded by event `seq`, rendered with
    /// the templates of `template_digest`, replacing what was kept for that pair. They are bound
    /// to the chain hash of event `seq` as it is now; an event the log does not hold is refused.
    /// The caller keeps only outputs it has checked against the event (see the schema file).
    pub fn save_edition_outputs(
        &mut self,
        seq: u64,
        template_digest: &str,
        outputs: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let busy = self.busy_timeout_ms;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;
        let head = head_of(&tx)?.seq;
        let chain_hash = match chain_hash_at(&tx, seq)? {
            Some(hash) if seq > 0 && seq <= head => hash,
            _ => {
                return Err(StoreError::NotFound(format!(
                    "no edition outputs are kept for event {seq}: the log holds events 1 to {head}"
                )));
            }
        };
        tx.execute(
            "DELETE FROM edition_outputs WHERE seq = ?1 AND template_digest = ?2",
            params![to_i64(seq), template_digest],
        )
        .storage()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO edition_outputs (seq, chain_hash, template_digest, format, sha256, bytes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            ).storage()?;
            for (format, bytes) in outputs {
                insert
                    .execute(params![
                        to_i64(seq),
                        chain_hash,
                        template_digest,
                        format,
                        sha256_hex(bytes),
                        bytes
                    ])
                    .storage()?;
            }
        }
        tx.commit().map_err(|e| StoreError::from_sqlite(e, busy))?;
        Ok(())
    }

    /// What is kept for the edition of event `seq` rendered with `template_digest`, unchecked;
    /// `None` when nothing is (or the database predates the cache, opened read-only).
    pub fn edition_outputs(
        &self,
        seq: u64,
        template_digest: &str,
    ) -> Result<Option<EditionOutputs>, StoreError> {
        let Some(seq_value) = seq_param(seq) else {
            return Ok(None);
        };
        if !self.has_edition_outputs()? {
            return Ok(None);
        }
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT chain_hash, format, sha256, bytes FROM edition_outputs \
             WHERE seq = ?1 AND template_digest = ?2 ORDER BY format",
            )
            .storage()?;
        let mut rows = statement
            .query(params![seq_value, template_digest])
            .map_err(|e| self.sql_error(e))?;
        let mut found = EditionOutputs {
            seq,
            chain_hashes: Vec::new(),
            template_digest: template_digest.to_owned(),
            outputs: Vec::new(),
        };
        while let Some(row) = rows.next().map_err(|e| self.sql_error(e))? {
            found.chain_hashes.push(row.get(0).storage()?);
            found.outputs.push(EditionOutput {
                format: row.get(1).storage()?,
                sha256: row.get(2).storage()?,
                bytes: row.get(3).storage()?,
            });
        }
        Ok((!found.outputs.is_empty()).then_some(found))
    }

    /// Every edition in the cache, by (seq, template digest), for `verify`.
    pub fn all_edition_outputs(&self) -> Result<Vec<EditionOutputs>, StoreError> {
        if !self.has_edition_outputs()? {
            return Ok(Vec::new());
        }
        let mut statement = self.conn.prepare(
            "SELECT seq, template_digest, chain_hash, format, sha256, bytes FROM edition_outputs \
             ORDER BY seq, template_digest, format",
        ).storage()?;
        let mut rows = statement.query([]).map_err(|e| self.sql_error(e))?;
        let mut all: Vec<EditionOutputs> = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.sql_error(e))? {
            let seq = to_u64(row.get(0).storage()?);
            let template_digest: String = row.get(1).storage()?;
            let output = EditionOutput {
                format: row.get(3).storage()?,
                sha256: row.get(4).storage()?,
                bytes: row.get(5).storage()?,
            };
            let chain_hash: String = row.get(2).storage()?;
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

    /// Drops everything kept for the edition of event `seq` (one a view refused); it is
    /// rebuilt from the log.
    pub fn drop_edition_outputs(&mut self, seq: u64) -> Result<(), StoreError> {
        if !self.has_edition_outputs()? {
            return Ok(());
        }
        self.conn
            .execute(
                "DELETE FROM edition_outputs WHERE seq = ?1",
                params![seq_param(seq).unwrap_or(i64::MAX)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    /// The newest event of `kind` (its seq), or `None`: one seek on the kind index. The home
    /// page asks it for the newest `report_published` instead of reading them all.
    pub fn newest_of_kind(&self, kind: &str) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(seq) FROM events WHERE kind = ?1")
            .storage()?
            .query_row([kind], |row| row.get(0))
            .map_err(|e| self.sql_error(e))?;
        Ok(seq.map(to_u64))
    }

    /// How many rows the cache holds (for tests and `verify`'s count).
    pub fn edition_output_rows(&self) -> Result<u64, StoreError> {
        if !self.has_edition_outputs()? {
            return Ok(0);
        }
        let count: Option<i64> = self
            .conn
            .query_row("SELECT count(*) FROM edition_outputs", [], |row| row.get(0))
            .optional()
            .storage()?;
        Ok(count.map_or(0, to_u64))
    }
}
