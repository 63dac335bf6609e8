//! The Merkle tree over the log, kept as a table of subtree hashes beside it (schema
//! `005_tree.sql`, on PostgreSQL `postgres/005_tree.sql`), and the signed tree heads. The tree
//! is derived data: it is caught up from the events before a proof or a tree head, bound to the
//! chain hash at its size, rebuilt when that binding fails, and recomputed in full by
//! `verify_tree`.
//!
//! What a backend provides is [`TreeTables`]: its node table, position row, signed heads and a
//! page of events, read inside whatever transaction it opened. Catching up, the binding, the
//! proofs and both checks are written once here over it, so the two backends keep the same
//! tree byte for byte and judge it alike.

use crate::error::SqliteResult;
use lagesbild_merkle::{
    Frontier, Hash, Nodes, ProveError, SignedTreeHead, VerifyingKey, consistency_path,
    envelope_digest, event_leaf, hash_from_hex, inclusion_path, leaf_hash, root,
};
use lagesbild_model::{GENESIS_HASH, StoredEvent};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::sqlite::{read_page_in, to_i64, to_u64};
use crate::{Filter, SqliteStore, StoreError};

/// The schema version that added the tree and the signed tree heads.
pub(crate) const TREE_SCHEMA_VERSION: i64 = 5;

/// The triggers that keep signed tree heads append-only; `verify_tree` checks they are there.
const HEAD_TRIGGERS: &[&str] = &["tree_heads_refuse_update", "tree_heads_refuse_delete"];

/// How far the stored tree reaches and its root there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeState {
    pub size: u64,
    pub root: Hash,
}

/// What [`SqliteStore::verify_tree`] found: the tree recomputed over the whole log, and the
/// signed tree heads it checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeReport {
    pub size: u64,
    pub root: Hash,
    pub heads: usize,
    /// Whether their signatures were checked (a public key was given).
    pub signatures_checked: bool,
    /// How many events the stored node table covered (all of it was compared).
    pub stored_size: u64,
}

/// The leaf hash of a stored event.
pub fn event_leaf_hash(event: &StoredEvent) -> Result<Hash, StoreError> {
    let chain = hash_from_hex(&event.hash).ok_or_else(|| StoreError::Broken {
        seq: event.seq,
        reason: "hash is not 64 hex digits".into(),
    })?;
    let digest = envelope_digest(&event.canonical_envelope());
    Ok(leaf_hash(&event_leaf(event.seq, &digest, &chain)))
}

/// A backend's tables of the tree, read and written inside the transaction it opened.
pub(crate) trait TreeTables {
    /// The stored hash of the perfect subtree at (`level`, `index`), if there is one.
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StoreError>;

    /// The position row: the size the stored tree covers and the chain hash recorded there.
    fn position(&self) -> Result<Option<(u64, String)>, StoreError>;

    /// Whether the node table holds any row.
    fn has_nodes(&self) -> Result<bool, StoreError>;

    /// How many rows the node table holds.
    fn node_count(&self) -> Result<u64, StoreError>;

    /// Up to `limit` events after `after`, in log order.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// The log's head seq.
    fn log_size(&self) -> Result<u64, StoreError>;

    /// Every signed tree head, oldest first.
    fn heads(&self) -> Result<Vec<SignedTreeHead>, StoreError>;

    /// The triggers that keep the signed heads append-only are there, as the schema says.
    fn check_head_triggers(&self) -> Result<(), StoreError>;

    /// Empties the node table and the position.
    fn clear(&mut self) -> Result<(), StoreError>;

    /// Stores the nodes `(level, index, hash)`, replacing any at the same place.
    fn put_nodes(&mut self, nodes: &[(u32, u64, Hash)]) -> Result<(), StoreError>;

    /// Records the size the stored tree covers and the chain hash of event `size`.
    fn set_position(&mut self, size: u64, chain_hash: &str) -> Result<(), StoreError>;
}

/// The node table as a source of subtree hashes; a missing node is a damaged cache.
pub(crate) struct TableNodes<'t> {
    pub(crate) tables: &'t dyn TreeTables,
}

impl Nodes for TableNodes<'_> {
    type Error = StoreError;
    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        self.tables.node(level, index)?.ok_or_else(|| {
            StoreError::CacheDamaged(format!(
                "tree_nodes lacks the node at level {level}, index {index}"
            ))
        })
    }
}

fn prove<T>(result: Result<T, ProveError<StoreError>>) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        ProveError::Request(request) => StoreError::NotFound(request.to_string()),
        ProveError::Nodes(error) => error,
    })
}

/// Events read per page while catching up or verifying.
const PAGE: usize = 2_000;

/// The stored tree's size, if it is still bound to the log: event `size` has the recorded
/// chain hash and the stored leaf is that event's. Otherwise `None`: the tree must be rebuilt.
pub(crate) fn bound_size(tables: &dyn TreeTables) -> Result<Option<u64>, StoreError> {
    let Some((size, chain_hash)) = tables.position()? else {
        return Ok(if tables.has_nodes()? { None } else { Some(0) });
    };
    if size == 0 {
        return Ok((chain_hash == GENESIS_HASH).then_some(0));
    }
    let Some(event) = tables.events_after(size - 1, 1)?.pop() else {
        return Ok(None);
    };
    if event.seq != size || event.hash != chain_hash {
        return Ok(None);
    }
    match tables.node(0, size - 1)? {
        Some(leaf) if leaf == event_leaf_hash(&event)? => Ok(Some(size)),
        _ => Ok(None),
    }
}

/// Brings the stored tree up to the head of the log (from the first event when `rebuild` or
/// when it is no longer bound to the log, with a warning), and returns its size and root.
pub(crate) fn update(tables: &mut dyn TreeTables, rebuild: bool) -> Result<TreeState, StoreError> {
    let size = match bound_size(tables)? {
        Some(size) if !rebuild => size,
        found => {
            if found.is_none() {
                tracing::warn!(
                    "the stored Merkle tree does not match the log (tree_position or a leaf \
                     was changed, or the log was replaced); rebuilding it from the events"
                );
            }
            tables.clear()?;
            0
        }
    };
    let mut frontier = Frontier::load(&mut TableNodes { tables: &*tables }, size)?;
    let mut last_hash: Option<String> = None;
    let mut after = size;
    loop {
        let page = tables.events_after(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let mut completed = Vec::new();
        for event in &page {
            if event.seq != frontier.size() + 1 {
                return Err(StoreError::Broken {
                    seq: frontier.size() + 1,
                    reason: format!(
                        "event {} is missing: the next event found is {}",
                        frontier.size() + 1,
                        event.seq
                    ),
                });
            }
            completed.extend(frontier.push(event_leaf_hash(event)?));
        }
        tables.put_nodes(&completed)?;
        last_hash = page.last().map(|e| e.hash.clone());
    }
    if let Some(hash) = last_hash {
        tables.set_position(frontier.size(), &hash)?;
    } else if frontier.size() == 0 {
        tables.set_position(0, GENESIS_HASH)?;
    }
    Ok(TreeState {
        size: frontier.size(),
        root: frontier.root(),
    })
}

fn check_covered(tables: &dyn TreeTables, size: u64) -> Result<(), StoreError> {
    let covered = tables.position()?.map_or(0, |(size, _)| size);
    if size > covered {
        return Err(StoreError::NotFound(format!(
            "the tree covers {covered} events, not {size}"
        )));
    }
    Ok(())
}

/// The root of the tree over the first `size` events, from the stored nodes.
pub(crate) fn tree_root(tables: &dyn TreeTables, size: u64) -> Result<Hash, StoreError> {
    check_covered(tables, size)?;
    root(&mut TableNodes { tables }, size)
}

/// The inclusion path of event `seq` in the tree of the first `size` events.
pub(crate) fn tree_inclusion_path(
    tables: &dyn TreeTables,
    seq: u64,
    size: u64,
) -> Result<Vec<Hash>, StoreError> {
    check_covered(tables, size)?;
    if seq == 0 {
        return Err(StoreError::NotFound("there is no event 0".into()));
    }
    prove(inclusion_path(&mut TableNodes { tables }, seq - 1, size))
}

/// The consistency path from the tree of `first` events to the tree of `second`.
pub(crate) fn tree_consistency_path(
    tables: &dyn TreeTables,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, StoreError> {
    check_covered(tables, second)?;
    prove(consistency_path(&mut TableNodes { tables }, first, second))
}

/// `verify --quick`'s part: the triggers, the stored tree's binding to the log, and every
/// signed tree head against the stored tree's root at its size (and with `key` its signature),
/// without recomputing the tree from the events. `Ok(None)` where the stored tree does not
/// reach a head (a restored log whose tree was not caught up): the caller runs [`verify_full`].
pub(crate) fn verify_quick(
    tables: &dyn TreeTables,
    key: Option<&VerifyingKey>,
) -> Result<Option<TreeReport>, StoreError> {
    tables.check_head_triggers()?;
    let log_size = tables.log_size()?;
    let heads = tables.heads()?;
    // A head past the end of the log is the finding that matters; say it first.
    if let Some((number, head)) = heads.iter().enumerate().find(|(_, h)| h.size > log_size) {
        return Err(StoreError::Broken {
            seq: log_size + 1,
            reason: format!(
                "signed tree head {} covers {} events but the log holds only {log_size}: it was cut off or an older copy was restored",
                number + 1,
                head.size
            ),
        });
    }
    let Some(stored_size) = bound_size(tables)? else {
        return Err(StoreError::Broken {
            seq: tables.position()?.map_or(0, |(size, _)| size),
            reason: "tables tree_position and tree_nodes do not match the log at the size they claim: the log was rewritten, or the tree was edited".into(),
        });
    };
    if heads.iter().any(|h| h.size > stored_size) {
        return Ok(None);
    }
    let mut nodes = TableNodes { tables };
    for (number, head) in heads.iter().enumerate() {
        let name = format!("signed tree head {} (size {})", number + 1, head.size);
        let parsed = match key {
            Some(key) => head.verify(key),
            None => head.head(),
        }
        .map_err(|e| StoreError::Broken {
            seq: head.size,
            reason: format!("{name}: {e}"),
        })?;
        if parsed.root != root(&mut nodes, head.size)? {
            return Err(StoreError::Broken {
                seq: head.size,
                reason: format!(
                    "{name}: its root {} is not the stored tree's root at that size: the log or the tree was rewritten",
                    head.root
                ),
            });
        }
    }
    Ok(Some(TreeReport {
        size: stored_size,
        root: root(&mut nodes, stored_size)?,
        heads: heads.len(),
        signatures_checked: key.is_some(),
        stored_size,
    }))
}

/// Recomputes the tree over the whole log from the events and checks it against everything
/// kept of it: every stored node (and that there are no others), and every signed tree head's
/// root at its size, and with `key` its signature. A head past the end of the log means the log
/// was cut off. The chain itself is `verify`'s; run that first.
pub(crate) fn verify_full(
    tables: &dyn TreeTables,
    key: Option<&VerifyingKey>,
    progress: &mut dyn FnMut(u64),
) -> Result<TreeReport, StoreError> {
    tables.check_head_triggers()?;
    let mut heads: Vec<(usize, SignedTreeHead)> = tables.heads()?.into_iter().enumerate().collect();
    heads.sort_by_key(|(_, h)| h.size);
    let stored_size = tables.position()?.map_or(0, |(size, _)| size);
    let mut frontier = Frontier::new();
    let mut next_head = 0;
    let check_heads = |frontier: &Frontier, next_head: &mut usize| -> Result<(), StoreError> {
        while let Some((number, head)) = heads.get(*next_head) {
            if head.size != frontier.size() {
                break;
            }
            let name = format!("signed tree head {} (size {})", number + 1, head.size);
            let parsed = match key {
                Some(key) => head.verify(key),
                None => head.head(),
            }
            .map_err(|e| StoreError::Broken {
                seq: head.size,
                reason: format!("{name}: {e}"),
            })?;
            if parsed.root != frontier.root() {
                return Err(StoreError::Broken {
                    seq: head.size,
                    reason: format!(
                        "{name}: its root {} is not the root of the log's first {} events, {}: the log was rewritten",
                        head.root,
                        head.size,
                        hex::encode(frontier.root())
                    ),
                });
            }
            *next_head += 1;
        }
        Ok(())
    };
    check_heads(&frontier, &mut next_head)?;
    let mut after = 0;
    loop {
        let page = tables.events_after(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            for (level, index, hash) in frontier.push(event_leaf_hash(event)?) {
                // Only nodes inside the stored tree are kept; compare each.
                if (index + 1) << level <= stored_size {
                    let missing = || StoreError::Broken {
                        seq: event.seq,
                        reason: format!(
                            "table tree_nodes: the node at level {level}, index {index} is missing"
                        ),
                    };
                    let stored = tables.node(level, index)?.ok_or_else(missing)?;
                    if stored != hash {
                        return Err(StoreError::Broken {
                            seq: event.seq,
                            reason: format!(
                                "table tree_nodes: the node at level {level}, index {index} is not the hash the log gives"
                            ),
                        });
                    }
                }
            }
            check_heads(&frontier, &mut next_head)?;
        }
        progress(frontier.size());
    }
    // A head past the end of the log is the finding that matters (the log was cut off);
    // the cache's disagreement follows from it.
    if let Some((number, head)) = heads.get(next_head) {
        return Err(StoreError::Broken {
            seq: frontier.size() + 1,
            reason: format!(
                "signed tree head {} covers {} events but the log holds only {}: it was cut off or an older copy was restored",
                number + 1,
                head.size,
                frontier.size()
            ),
        });
    }
    if stored_size > frontier.size() {
        return Err(StoreError::Broken {
            seq: frontier.size(),
            reason: format!(
                "table tree_position says the tree covers {stored_size} events, the log holds {}",
                frontier.size()
            ),
        });
    }
    let expected_rows: u64 = (0..64).map(|level| stored_size >> level).sum();
    let rows = tables.node_count()?;
    if rows != expected_rows {
        return Err(StoreError::Broken {
            seq: stored_size,
            reason: format!(
                "table tree_nodes holds {rows} nodes, a tree of {stored_size} events has {expected_rows}"
            ),
        });
    }
    Ok(TreeReport {
        size: frontier.size(),
        root: frontier.root(),
        heads: heads.len(),
        signatures_checked: key.is_some(),
        stored_size,
    })
}

/// The SQLite file's tree tables, through a connection or a transaction on it.
struct SqliteTree<'c> {
    conn: &'c Connection,
    busy: u64,
}

impl TreeTables for SqliteTree<'_> {
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2")
            .storage()?;
        let blob: Option<Vec<u8>> = statement
            .query_row(params![level, to_i64(index)], |row| row.get(0))
            .optional()
            .storage()?;
        Ok(blob.and_then(|b| <Hash>::try_from(b.as_slice()).ok()))
    }

    fn position(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT size, chain_hash FROM tree_position WHERE id = 1",
                [],
                |row| Ok((to_u64(row.get(0)?), row.get(1)?)),
            )
            .optional()
            .storage()
    }

    fn has_nodes(&self) -> Result<bool, StoreError> {
        let any: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM tree_nodes LIMIT 1", [], |row| row.get(0))
            .optional()
            .storage()?;
        Ok(any.is_some())
    }

    fn node_count(&self) -> Result<u64, StoreError> {
        let rows: i64 = self
            .conn
            .query_row("SELECT count(*) FROM tree_nodes", [], |row| row.get(0))
            .storage()?;
        Ok(to_u64(rows))
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        read_page_in(self.conn, self.busy, &Filter::default(), after, limit)
    }

    fn log_size(&self) -> Result<u64, StoreError> {
        Ok(crate::sqlite::head_of(self.conn)?.seq)
    }

    fn heads(&self) -> Result<Vec<SignedTreeHead>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT size, root, timestamp_ms, key_id, signature FROM tree_heads ORDER BY id",
            )
            .storage()?;
        let heads = statement
            .query_map([], |row| {
                Ok(SignedTreeHead {
                    size: to_u64(row.get(0)?),
                    root: row.get(1)?,
                    timestamp_ms: to_u64(row.get(2)?),
                    key_id: row.get(3)?,
                    signature: row.get(4)?,
                })
            })
            .storage()?
            .collect::<Result<Vec<_>, _>>()
            .storage()?;
        Ok(heads)
    }

    fn check_head_triggers(&self) -> Result<(), StoreError> {
        for name in HEAD_TRIGGERS {
            let found: Option<String> = self
                .conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                    [name],
                    |row| row.get(0),
                )
                .optional()
                .storage()?;
            let expected = expected_head_trigger(name);
            if found.as_deref().map(normalize) != Some(expected) {
                return Err(StoreError::Broken {
                    seq: 0,
                    reason: format!(
                        "trigger {name} is missing or altered: signed tree heads are no longer protected"
                    ),
                });
            }
        }
        Ok(())
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        clear(self.conn)
    }

    fn put_nodes(&mut self, nodes: &[(u32, u64, Hash)]) -> Result<(), StoreError> {
        let mut insert = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO tree_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
            )
            .storage()?;
        for (level, index, hash) in nodes {
            insert
                .execute(params![level, to_i64(*index), &hash[..]])
                .storage()?;
        }
        Ok(())
    }

    fn set_position(&mut self, size: u64, chain_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO tree_position (id, size, chain_hash) VALUES (1, ?1, ?2)",
                params![to_i64(size), chain_hash],
            )
            .storage()?;
        Ok(())
    }
}

pub(crate) fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM tree_nodes", []).storage()?;
    conn.execute("DELETE FROM tree_position", []).storage()?;
    Ok(())
}

impl SqliteStore {
    fn has_tree(&self) -> Result<bool, StoreError> {
        Ok(self.schema_version()? >= TREE_SCHEMA_VERSION)
    }

    fn tree_tables(&self) -> SqliteTree<'_> {
        SqliteTree {
            conn: &self.conn,
            busy: self.busy_timeout_ms,
        }
    }

    /// Brings the stored tree up to the head of the log, in one transaction, and returns its
    /// size and root. A tree no longer bound to the log is rebuilt from the first event (with a
    /// warning); appends never wait for this.
    pub fn tree_catch_up(&mut self) -> Result<TreeState, StoreError> {
        self.tree_update(false)
    }

    /// Drops the stored tree and builds it again from the log.
    pub fn tree_rebuild(&mut self) -> Result<TreeState, StoreError> {
        self.tree_update(true)
    }

    fn tree_update(&mut self, rebuild: bool) -> Result<TreeState, StoreError> {
        let busy = self.busy_timeout_ms;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy))?;
        let state = update(&mut SqliteTree { conn: &tx, busy }, rebuild)?;
        tx.commit().map_err(|e| StoreError::from_sqlite(e, busy))?;
        Ok(state)
    }

    /// The size the stored tree covers (without catching up).
    pub fn tree_size(&self) -> Result<u64, StoreError> {
        if !self.has_tree()? {
            return Ok(0);
        }
        Ok(self.tree_tables().position()?.map_or(0, |(size, _)| size))
    }

    /// The root of the tree over the first `size` events, from the stored nodes.
    pub fn tree_root(&self, size: u64) -> Result<Hash, StoreError> {
        tree_root(&self.tree_tables(), size)
    }

    /// The inclusion path of event `seq` in the tree of the first `size` events.
    pub fn tree_inclusion_path(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        tree_inclusion_path(&self.tree_tables(), seq, size)
    }

    /// The consistency path from the tree of `first` events to the tree of `second`.
    pub fn tree_consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        tree_consistency_path(&self.tree_tables(), first, second)
    }

    /// Stores a signed tree head (append-only); returns its id.
    pub fn insert_tree_head(&mut self, head: &SignedTreeHead) -> Result<u64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO tree_heads (size, root, timestamp_ms, key_id, signature) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    to_i64(head.size),
                    head.root,
                    to_i64(head.timestamp_ms),
                    head.key_id,
                    head.signature
                ],
            )
            .map_err(|e| StoreError::from_sqlite(e, self.busy_timeout_ms))?;
        Ok(to_u64(self.conn.last_insert_rowid()))
    }

    /// Every signed tree head, oldest first.
    pub fn tree_heads(&self) -> Result<Vec<SignedTreeHead>, StoreError> {
        if !self.has_tree()? {
            return Ok(Vec::new());
        }
        self.tree_tables().heads()
    }

    /// The newest signed tree head of `size`, if one was signed.
    pub fn tree_head_of_size(&self, size: u64) -> Result<Option<SignedTreeHead>, StoreError> {
        Ok(self
            .tree_heads()?
            .into_iter()
            .rev()
            .find(|h| h.size == size))
    }

    /// Recomputes the tree over the whole log from the events and checks it against everything
    /// kept of it (see [`verify_full`]), in one read transaction.
    pub fn verify_tree(
        &self,
        key: Option<&VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<TreeReport, StoreError> {
        if !self.has_tree()? {
            return Ok(TreeReport {
                size: 0,
                root: lagesbild_merkle::empty_root(),
                heads: 0,
                signatures_checked: key.is_some(),
                stored_size: 0,
            });
        }
        self.conn.execute_batch("BEGIN DEFERRED").storage()?;
        let result = verify_full(&self.tree_tables(), key, progress);
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    /// `verify --quick`'s part of the tree check (see [`verify_quick`]); where the stored tree
    /// does not reach a head it falls back to [`SqliteStore::verify_tree`].
    pub fn verify_tree_quick(&self, key: Option<&VerifyingKey>) -> Result<TreeReport, StoreError> {
        if !self.has_tree()? {
            return self.verify_tree(key, &mut |_| {});
        }
        match verify_quick(&self.tree_tables(), key)? {
            Some(report) => Ok(report),
            None => self.verify_tree(key, &mut |_| {}),
        }
    }
}

fn normalize(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn expected_head_trigger(name: &str) -> String {
    let schema = include_str!("../schema/005_tree.sql");
    let start = schema
        .find(&format!("CREATE TRIGGER {name} "))
        .expect("the trigger is in the schema");
    let end = schema[start..].find("END;").expect("the trigger ends") + start + 3;
    normalize(&schema[start..end])
}
