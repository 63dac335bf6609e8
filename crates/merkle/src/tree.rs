//! The Merkle tree of RFC 9162 §2.1: hashes, the tree's shape for any size, inclusion and
//! consistency proofs generated from a source of subtree hashes, and their verification exactly
//! as the RFC's algorithms (§2.1.3.2, §2.1.4.2) state them.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || leaf)`, the hash of one leaf (RFC 9162 §2.1.1).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`, the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (for `n >= 2`): where RFC 9162 splits a tree.
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` (leaf hashes), by the RFC's recursive definition of MTH.
/// The reference the stored tree is tested against; O(n).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Where proofs get their hashes from: the hash of the *perfect* subtree of `2^level` leaves
/// starting at leaf `index * 2^level`. A tree kept in a database answers from its node table;
/// [`MemoryTree`] from memory. Every subtree a proof needs is built from these.
pub trait Nodes {
    type Error;
    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The hash of leaves `start .. start + size` as the RFC's MTH of that range (`size >= 1`):
/// a stored perfect subtree when the range is one, else split at the largest power of two.
pub fn subtree_hash<N: Nodes + ?Sized>(
    nodes: &mut N,
    start: u64,
    size: u64,
) -> Result<Hash, N::Error> {
    debug_assert!(size >= 1);
    if size.is_power_of_two() && start.is_multiple_of(size) {
        return nodes.perfect(size.trailing_zeros(), start / size);
    }
    let k = split(size);
    let left = subtree_hash(nodes, start, k)?;
    let right = subtree_hash(nodes, start + k, size - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves.
pub fn root<N: Nodes + ?Sized>(nodes: &mut N, size: u64) -> Result<Hash, N::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(nodes, 0, size)
}

/// Why a proof cannot be made: the caller asked for something the tree does not hold.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    NoSuchLeaf { index: u64, size: u64 },
    #[error("a tree of {first} leaves cannot be consistent with a smaller one of {second}")]
    Shrinks { first: u64, second: u64 },
}

/// A proof request that failed: the request itself, or the node source.
#[derive(Debug, PartialEq, Eq)]
pub enum ProveError<E> {
    Request(RequestError),
    Nodes(E),
}

impl<E> From<E> for ProveError<E> {
    fn from(error: E) -> Self {
        ProveError::Nodes(error)
    }
}

/// The inclusion path of leaf `index` in the tree of the first `size` leaves, `PATH(m, D[n])`
/// of RFC 9162 §2.1.3.1, nearest the leaf first.
pub fn inclusion_path<N: Nodes + ?Sized>(
    nodes: &mut N,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProveError<N::Error>> {
    if index >= size {
        return Err(ProveError::Request(RequestError::NoSuchLeaf {
            index,
            size,
        }));
    }
    let mut path = Vec::new();
    path_into(nodes, index, 0, size, &mut path)?;
    Ok(path)
}

/// `PATH(m, D[start : start + n])`, appended to `path` leaf side first.
fn path_into<N: Nodes + ?Sized>(
    nodes: &mut N,
    m: u64,
    start: u64,
    n: u64,
    path: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path_into(nodes, m, start, k, path)?;
        path.push(subtree_hash(nodes, start + k, n - k)?);
    } else {
        path_into(nodes, m - k, start + k, n - k, path)?;
        path.push(subtree_hash(nodes, start, k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `first` leaves to the tree of `second`,
/// `PROOF(m, D[n])` of RFC 9162 §2.1.4.1. Empty when `first` is 0 or equals `second`: every
/// tree extends the empty one and itself.
pub fn consistency_path<N: Nodes + ?Sized>(
    nodes: &mut N,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProveError<N::Error>> {
    if first > second {
        return Err(ProveError::Request(RequestError::Shrinks { first, second }));
    }
    let mut path = Vec::new();
    if first == 0 || first == second {
        return Ok(path);
    }
    subproof_into(nodes, first, 0, second, true, &mut path)?;
    Ok(path)
}

/// `SUBPROOF(m, D[start : start + n], b)`.
fn subproof_into<N: Nodes + ?Sized>(
    nodes: &mut N,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    path: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    if m == n {
        if !whole {
            path.push(subtree_hash(nodes, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof_into(nodes, m, start, k, whole, path)?;
        path.push(subtree_hash(nodes, start + k, n - k)?);
    } else {
        subproof_into(nodes, m - k, start + k, n - k, false, path)?;
        path.push(subtree_hash(nodes, start, k)?);
    }
    Ok(())
}

/// Why a proof was rejected. Each names the RFC step that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the path is longer than a tree of this size allows")]
    PathTooLong,
    #[error("the path is shorter than a tree of this size needs")]
    PathTooShort,
    #[error("the path does not lead to the root of the tree head")]
    RootMismatch,
    #[error("the first tree ({first} leaves) is larger than the second ({second})")]
    SizesOutOfOrder { first: u64, second: u64 },
    #[error("a consistency proof between these sizes must be empty")]
    PathNotEmpty,
    #[error("the consistency proof is empty")]
    EmptyPath,
    #[error("the path does not lead to the first tree's root")]
    FirstRootMismatch,
    #[error("the path does not lead to the second tree's root")]
    SecondRootMismatch,
    #[error("the two tree heads have the same size but different roots")]
    SameSizeDifferentRoots,
    #[error("the empty tree's root is not the hash of nothing")]
    NotEmptyRoot,
}

/// Verifies that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves whose root is
/// `root`: the algorithm of RFC 9162 §2.1.3.2, step by step.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // 1. The index must be below the size.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // 2.-3.
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = *leaf;
    // 4.
    for p in path {
        if snode == 0 {
            return Err(ProofError::PathTooLong);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // 5.
    if snode != 0 {
        return Err(ProofError::PathTooShort);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `second` leaves with root `second_root` extends the tree of `first`
/// leaves with root `first_root`: RFC 9162 §2.1.4.2 for `0 < first < second`; for equal sizes the
/// roots must be equal and the path empty, and every tree extends the empty one (whose root must
/// then be the empty hash) with an empty path.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    path: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesOutOfOrder { first, second });
    }
    if first == 0 {
        if !path.is_empty() {
            return Err(ProofError::PathNotEmpty);
        }
        if first_root != &empty_root() {
            return Err(ProofError::NotEmptyRoot);
        }
        return Ok(());
    }
    if first == second {
        if !path.is_empty() {
            return Err(ProofError::PathNotEmpty);
        }
        if first_root != second_root {
            return Err(ProofError::SameSizeDifferentRoots);
        }
        return Ok(());
    }
    // 1.
    if path.is_empty() {
        return Err(ProofError::EmptyPath);
    }
    // 2. A first tree that is a perfect subtree is its own first node of the path.
    let mut nodes: Vec<Hash> = Vec::with_capacity(path.len() + 1);
    if first.is_power_of_two() {
        nodes.push(*first_root);
    }
    nodes.extend_from_slice(path);
    // 3.-4.
    let mut fnode = first - 1;
    let mut snode = second - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // 5.
    let mut fr = nodes[0];
    let mut sr = nodes[0];
    // 6.
    for c in &nodes[1..] {
        if snode == 0 {
            return Err(ProofError::PathTooLong);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // 7.
    if snode != 0 {
        return Err(ProofError::PathTooShort);
    }
    if &fr != first_root {
        return Err(ProofError::FirstRootMismatch);
    }
    if &sr != second_root {
        return Err(ProofError::SecondRootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first, one per
/// set bit of the size. Appending a leaf completes at most one subtree per level; those are the
/// nodes a stored tree must add.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    subtrees: Vec<(u32, Hash)>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The frontier of the tree of `size` leaves, from its node source.
    pub fn load<N: Nodes + ?Sized>(nodes: &mut N, size: u64) -> Result<Frontier, N::Error> {
        let mut subtrees = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                subtrees.push((level, nodes.perfect(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, subtrees })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns the nodes it completed as (level, index, hash), the leaf
    /// itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let index = self.size;
        let mut completed = vec![(0, index, leaf)];
        let mut hash = leaf;
        let mut level = 0u32;
        while let Some(&(top_level, top)) = self.subtrees.last() {
            if top_level != level {
                break;
            }
            self.subtrees.pop();
            hash = node_hash(&top, &hash);
            level += 1;
            completed.push((level, index >> level, hash));
        }
        self.subtrees.push((level, hash));
        self.size += 1;
        completed
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.subtrees.iter().rev();
        let Some(&(_, mut root)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            root = node_hash(left, &root);
        }
        root
    }
}

/// A whole tree in memory, level by level: the reference for tests and small trees.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> MemoryTree {
        let mut tree = MemoryTree::new();
        let mut frontier = Frontier::new();
        for leaf in leaves {
            for (level, index, hash) in frontier.push(leaf) {
                tree.set(level, index, hash);
            }
        }
        tree
    }

    fn set(&mut self, level: u32, index: u64, hash: Hash) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize(level + 1, Vec::new());
        }
        let row = &mut self.levels[level];
        debug_assert_eq!(row.len() as u64, index, "nodes are completed in order");
        row.push(hash);
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |row| row.len() as u64)
    }
}

/// A node a [`MemoryTree`] does not hold.
#[derive(Debug, PartialEq, Eq)]
pub struct MissingNode {
    pub level: u32,
    pub index: u64,
}

impl Nodes for MemoryTree {
    type Error = MissingNode;
    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(8), 4);
        assert_eq!(split(9), 8);
        assert_eq!(split(1 << 40), 1 << 39);
    }

    #[test]
    fn the_frontier_root_is_the_recursive_root_at_every_size() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (i, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.root(), root_of(&leaves[..=i]), "size {}", i + 1);
            let mut tree = MemoryTree::from_leaves(leaves[..=i].iter().copied());
            assert_eq!(root(&mut tree, i as u64 + 1), Ok(root_of(&leaves[..=i])));
            assert_eq!(
                Frontier::load(&mut tree, i as u64 + 1),
                Ok(frontier.clone())
            );
        }
    }
}
