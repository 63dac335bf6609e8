//! Self-contained proofs as JSON, as `lagesbild proof` prints them, and their complete check:
//! the encoding, the event's own bytes, the path (RFC 9162) and the tree head's signature.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::head::{HeadError, SignedTreeHead, envelope_digest, event_leaf};
use crate::tree::{Hash, ProofError, leaf_hash, verify_consistency, verify_inclusion};

/// The three parts of an event's leaf (see [`event_leaf`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafPreimage {
    pub seq: u64,
    pub envelope_sha256: String,
    pub chain_hash: String,
}

/// That one event is in the log at a tree size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// Always `"inclusion"`.
    pub proof: String,
    /// The leaf's index in the tree: `seq - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    pub root: String,
    /// The signed tree head of that size, when one was signed.
    pub tree_head: Option<SignedTreeHead>,
    pub leaf: LeafPreimage,
    /// The event's canonical envelope and the previous event's chain hash, so that the leaf can
    /// be recomputed from the event; absent for an event whose content was erased.
    pub envelope: Option<String>,
    pub prev_hash: Option<String>,
    /// The inclusion path, nearest the leaf first.
    pub path: Vec<String>,
}

/// That the log at one size extends the log at an earlier size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Always `"consistency"`.
    pub proof: String,
    pub first_size: u64,
    pub first_root: String,
    pub first_tree_head: Option<SignedTreeHead>,
    pub second_size: u64,
    pub second_root: String,
    pub second_tree_head: Option<SignedTreeHead>,
    pub path: Vec<String>,
}

/// Why a proof was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Format(String),
    #[error("the event does not match its leaf: {0}")]
    Event(String),
    #[error("tree head: {0}")]
    Head(#[from] HeadError),
    #[error("the proof has no signed tree head to check against the key")]
    Unsigned,
    #[error("proof: {0}")]
    Proof(#[from] ProofError),
}

fn hex32(what: &str, text: &str) -> Result<Hash, CheckError> {
    let bad = || CheckError::Format(format!("{what} is not 64 lowercase hex digits"));
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| bad())?;
    Ok(hash)
}

fn path_hashes(path: &[String]) -> Result<Vec<Hash>, CheckError> {
    path.iter()
        .enumerate()
        .map(|(i, h)| hex32(&format!("path[{i}]"), h))
        .collect()
}

/// The tree head beside a proof's root must be for the same size and root, and signed by `key`
/// when one is given.
fn check_head(
    head: Option<&SignedTreeHead>,
    size: u64,
    root: &Hash,
    key: Option<&VerifyingKey>,
) -> Result<(), CheckError> {
    match (head, key) {
        (None, Some(_)) => Err(CheckError::Unsigned),
        (None, None) => Ok(()),
        (Some(head), key) => {
            let parsed = match key {
                Some(key) => head.verify(key)?,
                None => head.head()?,
            };
            if parsed.size != size {
                return Err(CheckError::Format(format!(
                    "the tree head is for {} events, the proof for {size}",
                    parsed.size
                )));
            }
            if &parsed.root != root {
                return Err(CheckError::Format(
                    "the tree head's root is not the proof's root".into(),
                ));
            }
            Ok(())
        }
    }
}

/// Checks an inclusion proof completely; with `key`, its tree head must be signed by that key.
pub fn check_inclusion(
    proof: &InclusionProof,
    key: Option<&VerifyingKey>,
) -> Result<(), CheckError> {
    if proof.proof != "inclusion" {
        return Err(CheckError::Format(format!(
            "proof is {:?}, not \"inclusion\"",
            proof.proof
        )));
    }
    let root = hex32("root", &proof.root)?;
    check_head(proof.tree_head.as_ref(), proof.tree_size, &root, key)?;
    if proof.leaf.seq == 0 || proof.leaf_index != proof.leaf.seq - 1 {
        return Err(CheckError::Format(format!(
            "leaf_index {} is not the leaf's seq {} less one",
            proof.leaf_index, proof.leaf.seq
        )));
    }
    let envelope_sha256 = hex32("leaf.envelope_sha256", &proof.leaf.envelope_sha256)?;
    let chain_hash = hex32("leaf.chain_hash", &proof.leaf.chain_hash)?;
    match (&proof.envelope, &proof.prev_hash) {
        (Some(envelope), Some(prev_hash)) => {
            if envelope_digest(envelope) != envelope_sha256 {
                return Err(CheckError::Event(
                    "the envelope's SHA-256 is not leaf.envelope_sha256".into(),
                ));
            }
            let seq = serde_json::from_str::<serde_json::Value>(envelope)
                .ok()
                .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64));
            if seq != Some(proof.leaf.seq) {
                return Err(CheckError::Event(format!(
                    "the envelope's seq is {seq:?}, not the leaf's {}",
                    proof.leaf.seq
                )));
            }
            hex32("prev_hash", prev_hash)?;
            let mut hasher = Sha256::new();
            hasher.update(prev_hash.as_bytes());
            hasher.update(b"\n");
            hasher.update(envelope.as_bytes());
            let computed: Hash = hasher.finalize().into();
            if computed != chain_hash {
                return Err(CheckError::Event(
                    "SHA-256(prev_hash \\n envelope) is not leaf.chain_hash".into(),
                ));
            }
        }
        (None, None) => {}
        _ => {
            return Err(CheckError::Format(
                "envelope and prev_hash come together or not at all".into(),
            ));
        }
    }
    let leaf = leaf_hash(&event_leaf(proof.leaf.seq, &envelope_sha256, &chain_hash));
    verify_inclusion(
        &leaf,
        proof.leaf_index,
        proof.tree_size,
        &path_hashes(&proof.path)?,
        &root,
    )?;
    Ok(())
}

/// Checks a consistency proof completely; with `key`, both tree heads must be signed by it.
pub fn check_consistency(
    proof: &ConsistencyProof,
    key: Option<&VerifyingKey>,
) -> Result<(), CheckError> {
    if proof.proof != "consistency" {
        return Err(CheckError::Format(format!(
            "proof is {:?}, not \"consistency\"",
            proof.proof
        )));
    }
    let first_root = hex32("first_root", &proof.first_root)?;
    let second_root = hex32("second_root", &proof.second_root)?;
    check_head(
        proof.first_tree_head.as_ref(),
        proof.first_size,
        &first_root,
        key,
    )?;
    check_head(
        proof.second_tree_head.as_ref(),
        proof.second_size,
        &second_root,
        key,
    )?;
    verify_consistency(
        proof.first_size,
        proof.second_size,
        &first_root,
        &second_root,
        &path_hashes(&proof.path)?,
    )?;
    Ok(())
}
