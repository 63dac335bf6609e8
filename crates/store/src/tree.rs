//! The Merkle tree over the log, kept as a table of subtree hashes beside it (schema
//! `005_tree.sql`), and the signed tree heads. The tree is derived data: it is caught up from
//! the events before a proof or a tree head, bound to the chain hash at its size, rebuilt when
//! that binding fails, and recomputed in full by [`SqliteStore::verify_tree`].

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

/// The node table as a source of subtree hashes, read through a connection or transaction.
struct TableNodes<'c> {
    conn: &'c Connection,
}

impl Nodes for TableNodes<'_> {
    type Error = StoreError;
    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2")?;
        let blob: Option<Vec<u8>> = statement
            .query_row(params![level, to_i64(index)], |row| row.get(0))
            .optional()?;
        blob.and_then(|b| <Hash>::try_from(b.as_slice()).ok())
            .ok_or_else(|| {
                StoreError::CacheDamaged(format!(
                    "tree_nodes lacks the node at level {level}, index {index}"
                ))
            })
    }
}

fn prove<T>(result: Result<T, ProveError<StoreError>>) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        ProveError::Request(request) => StoreError::OutOfRange(request.to_string()),
        ProveError::Nodes(error) => error,
    })
}

pub(crate) fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM tree_nodes", [])?;
    conn.execute("DELETE FROM tree_position", [])?;
    Ok(())
}

/// The stored tree's size, if it is still bound to the log: event `size` has the recorded
/// chain hash and the stored leaf is that event's. Otherwise `None`: the tree must be rebuilt.
fn bound_size(conn: &Connection, busy: u64) -> Result<Option<u64>, StoreError> {
    let position: Option<(i64, String)> = conn
        .query_row(
            "SELECT size, chain_hash FROM tree_position WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((size, chain_hash)) = position else {
        let any: Option<i64> = conn
            .query_row("SELECT 1 FROM tree_nodes LIMIT 1", [], |row| row.get(0))
            .optional()?;
        return Ok(if any.is_some() { None } else { Some(0) });
    };
    let size = to_u64(size);
    if size == 0 {
        return Ok((chain_hash == GENESIS_HASH).then_some(0));
    }
    let filter = Filter::default();
    let Some(event) = read_page_in(conn, busy, &filter, size - 1, 1)?.pop() else {
        return Ok(None);
    };
    if event.seq != size || event.hash != chain_hash {
        return Ok(None);
    }
    let stored = TableNodes { conn }.perfect(0, size - 1);
    match stored {
        Ok(leaf) if leaf == event_leaf_hash(&event)? => Ok(Some(size)),
        _ => Ok(None),
    }
}

impl SqliteStore {
    fn has_tree(&self) -> Result<bool, StoreError> {
        Ok(self.schema_version()? >= TREE_SCHEMA_VERSION)
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
        let size = match bound_size(&tx, busy)? {
            Some(size) if !rebuild => size,
            found => {
                if found.is_none() {
                    tracing::warn!(
                        "the stored Merkle tree does not match the log (tree_position or a leaf \
                         was changed, or the log was replaced); rebuilding it from the events"
                    );
                }
                clear(&tx)?;
                0
            }
        };
        let mut frontier = Frontier::load(&mut TableNodes { conn: &tx }, size)?;
        let mut last_hash: Option<String> = None;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO tree_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
            )?;
            let filter = Filter::default();
            let mut after = size;
            loop {
                let page = read_page_in(&tx, busy, &filter, after, 2_000)?;
                let Some(last) = page.last() else { break };
                after = last.seq;
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
                    for (level, index, hash) in frontier.push(event_leaf_hash(event)?) {
                        insert.execute(params![level, to_i64(index), &hash[..]])?;
                    }
                }
                last_hash = page.last().map(|e| e.hash.clone());
            }
        }
        if let Some(hash) = last_hash {
            tx.execute(
                "INSERT OR REPLACE INTO tree_position (id, size, chain_hash) VALUES (1, ?1, ?2)",
                params![to_i64(frontier.size()), hash],
            )?;
        } else if frontier.size() == 0 {
            tx.execute(
                "INSERT OR REPLACE INTO tree_position (id, size, chain_hash) VALUES (1, 0, ?1)",
                [GENESIS_HASH],
            )?;
        }
        let state = TreeState {
            size: frontier.size(),
            root: frontier.root(),
        };
        tx.commit().map_err(|e| StoreError::from_sqlite(e, busy))?;
        Ok(state)
    }

    /// The size the stored tree covers (without catching up).
    pub fn tree_size(&self) -> Result<u64, StoreError> {
        if !self.has_tree()? {
            return Ok(0);
        }
        let size: Option<i64> = self
            .conn
            .query_row("SELECT size FROM tree_position WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(size.map_or(0, to_u64))
    }

    fn check_covered(&self, size: u64) -> Result<(), StoreError> {
        let covered = self.tree_size()?;
        if size > covered {
            return Err(StoreError::OutOfRange(format!(
                "the tree covers {covered} events, not {size}"
            )));
        }
        Ok(())
    }

    /// The root of the tree over the first `size` events, from the stored nodes.
    pub fn tree_root(&self, size: u64) -> Result<Hash, StoreError> {
        self.check_covered(size)?;
        root(&mut TableNodes { conn: &self.conn }, size)
    }

    /// The inclusion path of event `seq` in the tree of the first `size` events.
    pub fn tree_inclusion_path(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_covered(size)?;
        if seq == 0 {
            return Err(StoreError::OutOfRange("there is no event 0".into()));
        }
        prove(inclusion_path(
            &mut TableNodes { conn: &self.conn },
            seq - 1,
            size,
        ))
    }

    /// The consistency path from the tree of `first` events to the tree of `second`.
    pub fn tree_consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_covered(second)?;
        prove(consistency_path(
            &mut TableNodes { conn: &self.conn },
            first,
            second,
        ))
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
        let mut statement = self.conn.prepare_cached(
            "SELECT size, root, timestamp_ms, key_id, signature FROM tree_heads ORDER BY id",
        )?;
        let heads = statement
            .query_map([], |row| {
                Ok(SignedTreeHead {
                    size: to_u64(row.get(0)?),
                    root: row.get(1)?,
                    timestamp_ms: to_u64(row.get(2)?),
                    key_id: row.get(3)?,
                    signature: row.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(heads)
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
    /// kept of it: every stored node (and that there are no others), and every signed tree
    /// head's root at its size, and with `key` its signature. A head past the end of the log
    /// means the log was cut off. The chain itself is `verify`'s; run that first.
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
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let result = self.verify_tree_in(key, progress);
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    /// `verify --quick`'s part: the triggers, the stored tree's binding to the log, and every
    /// signed tree head against the stored tree's root at its size (and with `key` its
    /// signature), without recomputing the tree from the events. Where the stored tree does not
    /// reach a head (a restored log whose tree was not caught up), it falls back to
    /// [`SqliteStore::verify_tree`].
    pub fn verify_tree_quick(&self, key: Option<&VerifyingKey>) -> Result<TreeReport, StoreError> {
        if !self.has_tree()? {
            return self.verify_tree(key, &mut |_| {});
        }
        self.check_head_triggers()?;
        let log_size = crate::sqlite::head_of(&self.conn)?.seq;
        let heads = self.tree_heads()?;
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
        let Some(stored_size) = bound_size(&self.conn, self.busy_timeout_ms)? else {
            return Err(StoreError::Broken {
                seq: self.tree_size()?,
                reason: "tables tree_position and tree_nodes do not match the log at the size they claim: the log was rewritten, or the tree was edited".into(),
            });
        };
        if heads.iter().any(|h| h.size > stored_size) {
            return self.verify_tree(key, &mut |_| {});
        }
        let mut nodes = TableNodes { conn: &self.conn };
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
        Ok(TreeReport {
            size: stored_size,
            root: root(&mut nodes, stored_size)?,
            heads: heads.len(),
            signatures_checked: key.is_some(),
            stored_size,
        })
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
                .optional()?;
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

    fn verify_tree_in(
        &self,
        key: Option<&VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<TreeReport, StoreError> {
        self.check_head_triggers()?;
        let mut heads: Vec<(usize, SignedTreeHead)> =
            self.tree_heads()?.into_iter().enumerate().collect();
        heads.sort_by_key(|(_, h)| h.size);
        let stored_size = self.tree_size()?;
        let mut nodes = TableNodes { conn: &self.conn };
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
        let filter = Filter::default();
        let mut after = 0;
        loop {
            let page = read_page_in(&self.conn, self.busy_timeout_ms, &filter, after, 2_000)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                for (level, index, hash) in frontier.push(event_leaf_hash(event)?) {
                    // Only nodes inside the stored tree are kept; compare each.
                    if (index + 1) << level <= stored_size {
                        let stored = nodes.perfect(level, index).map_err(|_| StoreError::Broken {
                            seq: event.seq,
                            reason: format!(
                                "table tree_nodes: the node at level {level}, index {index} is missing"
                            ),
                        })?;
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
        let rows: i64 = self
            .conn
            .query_row("SELECT count(*) FROM tree_nodes", [], |row| row.get(0))?;
        if to_u64(rows) != expected_rows {
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
