//! The log's Merkle tree in the form of RFC 9162 (Certificate Transparency v2), its leaves,
//! signed tree heads and self-contained proofs. Pure: no I/O, no SQL; the store keeps the nodes
//! and answers [`Nodes`] from its table.

mod head;
mod proof;
mod tree;

pub use head::{
    HeadError, KeyError, SIGNATURE_CONTEXT, SignedTreeHead, TreeHead, envelope_digest, event_leaf,
    hash_from_hex, key_id, public_key_from_pem, public_key_to_pem, signing_key_from_pem,
    signing_key_from_seed, signing_key_to_pem,
};
pub use proof::{
    CheckError, ConsistencyProof, InclusionProof, LeafPreimage, check_consistency, check_inclusion,
};
pub use tree::{
    Frontier, Hash, MemoryTree, MissingNode, Nodes, ProofError, ProveError, RequestError,
    consistency_path, empty_root, inclusion_path, leaf_hash, node_hash, root, root_of, split,
    subtree_hash, verify_consistency, verify_inclusion,
};

pub use ed25519_dalek::{SigningKey, VerifyingKey};
