//! The Merkle tree and the signed tree heads on PostgreSQL (`schema/postgres/005_tree.sql`):
//! the backend's [`TreeTables`], over which `tree.rs` catches up, proves and verifies exactly
//! as it does for a SQLite file, so both keep the same nodes and roots.
//!
//! A catch-up runs in one READ COMMITTED transaction holding an advisory lock, so two servers
//! catching up at once take turns while appends go on; every event up to the head it sees is
//! committed (events commit in sequence order, `postgres.rs`). The checks read in one
//! REPEATABLE READ READ ONLY transaction, so a concurrent catch-up cannot split them.

use lagesbild_merkle::{Hash, SignedTreeHead, VerifyingKey};
use lagesbild_model::StoredEvent;

use crate::postgres::{AppendOnly, PostgresStore, Tx, to_i64, to_u64};
use crate::tree::{self, TreeReport, TreeState, TreeTables};
use crate::{EventLog, Filter, StoreError};

/// The schema version that added the tree and the signed tree heads.
pub(crate) const TREE_SCHEMA_VERSION: i32 = 5;

/// The advisory lock that serialises catch-ups of the stored tree.
const TREE_LOCK: i64 = 0x6c61_6765_7362_0005;

/// The triggers that keep `tree_heads` append-only, as `pg_get_triggerdef` gives them.
const HEAD_TRIGGERS: &[(&str, &str)] = &[
    (
        "tree_heads_refuse_update",
        "CREATE TRIGGER tree_heads_refuse_update BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()",
    ),
    (
        "tree_heads_refuse_delete",
        "CREATE TRIGGER tree_heads_refuse_delete BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()",
    ),
    (
        "tree_heads_refuse_truncate",
        "CREATE TRIGGER tree_heads_refuse_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ),
];

/// The tree's tables through the store's connection, inside whatever transaction is open.
struct PgTree<'a> {
    store: &'a PostgresStore,
}

impl TreeTables for PgTree<'_> {
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        let level = i32::try_from(level).unwrap_or(i32::MAX);
        let Ok(index) = i64::try_from(index) else {
            return Ok(None);
        };
        let row = self.store.query_opt(
            "SELECT hash FROM tree_nodes WHERE level = $1 AND idx = $2",
            &[&level, &index],
        )?;
        Ok(row.and_then(|row| <Hash>::try_from(row.get::<_, Vec<u8>>(0).as_slice()).ok()))
    }

    fn position(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .store
            .query_opt(
                "SELECT size, chain_hash FROM tree_position WHERE id = 1",
                &[],
            )?
            .map(|row| (to_u64(row.get(0)), row.get(1))))
    }

    fn has_nodes(&self) -> Result<bool, StoreError> {
        Ok(self
            .store
            .query_opt("SELECT 1 FROM tree_nodes LIMIT 1", &[])?
            .is_some())
    }

    fn node_count(&self) -> Result<u64, StoreError> {
        let row = self
            .store
            .query_opt("SELECT count(*) FROM tree_nodes", &[])?;
        Ok(row.map_or(0, |row| to_u64(row.get(0))))
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.read_page(&Filter::default(), after, limit)
    }

    fn log_size(&self) -> Result<u64, StoreError> {
        Ok(self.store.head_in()?.seq)
    }

    fn heads(&self) -> Result<Vec<SignedTreeHead>, StoreError> {
        Ok(self
            .store
            .query(
                "SELECT size, root, timestamp_ms, key_id, signature FROM tree_heads ORDER BY id",
                &[],
            )?
            .iter()
            .map(|row| SignedTreeHead {
                size: to_u64(row.get(0)),
                root: row.get(1),
                timestamp_ms: to_u64(row.get(2)),
                key_id: row.get(3),
                signature: row.get(4),
            })
            .collect())
    }

    fn check_head_triggers(&self) -> Result<(), StoreError> {
        self.store.check_append_only(
            &AppendOnly {
                table: "tree_heads",
                function: "tree_heads_refuse_change",
                triggers: HEAD_TRIGGERS,
                migration: include_str!("../schema/postgres/005_tree.sql"),
                protects: "signed tree heads are no longer protected",
            },
            &|reason| StoreError::Broken { seq: 0, reason },
        )
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.store.clear_tree()
    }

    fn put_nodes(&mut self, nodes: &[(u32, u64, Hash)]) -> Result<(), StoreError> {
        // One statement per page of events rather than one per node: a catch-up of a long log
        // would otherwise wait on a round trip per node.
        let levels: Vec<i32> = nodes
            .iter()
            .map(|(level, _, _)| i32::try_from(*level).unwrap_or(i32::MAX))
            .collect();
        let indexes: Vec<i64> = nodes.iter().map(|(_, index, _)| to_i64(*index)).collect();
        let hashes: Vec<&[u8]> = nodes.iter().map(|(_, _, hash)| &hash[..]).collect();
        self.store.execute(
            "INSERT INTO tree_nodes (level, idx, hash) \
             SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[]) \
             ON CONFLICT (level, idx) DO UPDATE SET hash = EXCLUDED.hash",
            &[&levels, &indexes, &hashes],
        )?;
        Ok(())
    }

    fn set_position(&mut self, size: u64, chain_hash: &str) -> Result<(), StoreError> {
        self.store.execute(
            "INSERT INTO tree_position (id, size, chain_hash) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, chain_hash = EXCLUDED.chain_hash",
            &[&to_i64(size), &chain_hash],
        )?;
        Ok(())
    }
}

impl PostgresStore {
    fn has_tree(&self) -> bool {
        self.schema() >= TREE_SCHEMA_VERSION
    }

    fn tree_tables(&self) -> PgTree<'_> {
        PgTree { store: self }
    }

    fn needs_tree(&self) -> Result<(), StoreError> {
        if self.has_tree() {
            return Ok(());
        }
        Err(StoreError::Storage {
            message: format!(
                "the database has schema version {}, without the Merkle tree; open it with a role that may migrate it",
                self.schema()
            ),
        })
    }

    /// Empties the stored tree (inside the caller's transaction, or on its own).
    pub(crate) fn clear_tree(&self) -> Result<(), StoreError> {
        if !self.has_tree() {
            return Ok(());
        }
        self.execute("DELETE FROM tree_nodes", &[])?;
        self.execute("DELETE FROM tree_position", &[])?;
        Ok(())
    }

    /// Brings the stored tree up to the head of the log, in one transaction, after any other
    /// catch-up has ended, and returns its size and root; a tree no longer bound to the log is
    /// rebuilt from the first event (with a warning).
    pub fn tree_catch_up(&mut self) -> Result<TreeState, StoreError> {
        self.tree_update(false)
    }

    /// Drops the stored tree and builds it again from the log.
    pub fn tree_rebuild(&mut self) -> Result<TreeState, StoreError> {
        self.tree_update(true)
    }

    fn tree_update(&mut self, rebuild: bool) -> Result<TreeState, StoreError> {
        self.needs_tree()?;
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL READ COMMITTED")?;
        self.query("SELECT pg_advisory_xact_lock($1)", &[&TREE_LOCK])?;
        let state = tree::update(&mut self.tree_tables(), rebuild)?;
        tx.commit()?;
        Ok(state)
    }

    /// The size the stored tree covers (without catching up).
    pub fn tree_size(&self) -> Result<u64, StoreError> {
        if !self.has_tree() {
            return Ok(0);
        }
        Ok(self.tree_tables().position()?.map_or(0, |(size, _)| size))
    }

    /// The root of the tree over the first `size` events, from the stored nodes.
    pub fn tree_root(&self, size: u64) -> Result<Hash, StoreError> {
        self.needs_tree()?;
        tree::tree_root(&self.tree_tables(), size)
    }

    /// The inclusion path of event `seq` in the tree of the first `size` events.
    pub fn tree_inclusion_path(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.needs_tree()?;
        tree::tree_inclusion_path(&self.tree_tables(), seq, size)
    }

    /// The consistency path from the tree of `first` events to the tree of `second`.
    pub fn tree_consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        self.needs_tree()?;
        tree::tree_consistency_path(&self.tree_tables(), first, second)
    }

    /// Stores a signed tree head (append-only); returns its id.
    pub fn insert_tree_head(&mut self, head: &SignedTreeHead) -> Result<u64, StoreError> {
        self.needs_tree()?;
        let row = self.query_opt(
            "INSERT INTO tree_heads (size, root, timestamp_ms, key_id, signature) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &to_i64(head.size),
                &head.root,
                &to_i64(head.timestamp_ms),
                &head.key_id,
                &head.signature,
            ],
        )?;
        Ok(row.map_or(0, |row| to_u64(row.get(0))))
    }

    /// Every signed tree head, oldest first.
    pub fn tree_heads(&self) -> Result<Vec<SignedTreeHead>, StoreError> {
        if !self.has_tree() {
            return Ok(Vec::new());
        }
        self.tree_tables().heads()
    }

    /// Recomputes the tree over the whole log and checks every stored node and signed head (see
    /// `tree::verify_full`), in one snapshot.
    pub fn verify_tree(
        &self,
        key: Option<&VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<TreeReport, StoreError> {
        if !self.has_tree() {
            // An auditor's view of a database not yet migrated: no tree or heads stored, so the
            // tree over the log is recomputed from the events with nothing to compare it to.
            let mut frontier = lagesbild_merkle::Frontier::new();
            for event in crate::scan(self, &Filter::default()) {
                frontier.push(crate::event_leaf_hash(&event?)?);
                progress(frontier.size());
            }
            return Ok(TreeReport {
                size: frontier.size(),
                root: frontier.root(),
                heads: 0,
                signatures_checked: key.is_some(),
                stored_size: 0,
            });
        }
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let report = tree::verify_full(&self.tree_tables(), key, progress)?;
        tx.commit()?;
        Ok(report)
    }

    /// `verify --quick`'s part of the tree check; where the stored tree does not reach a head it
    /// falls back to [`PostgresStore::verify_tree`].
    pub fn verify_tree_quick(&self, key: Option<&VerifyingKey>) -> Result<TreeReport, StoreError> {
        if !self.has_tree() {
            return self.verify_tree(key, &mut |_| {});
        }
        let tx = Tx::begin(self, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let quick = tree::verify_quick(&self.tree_tables(), key)?;
        tx.commit()?;
        match quick {
            Some(report) => Ok(report),
            None => self.verify_tree(key, &mut |_| {}),
        }
    }
}
