//! lagesbild's leaves and signed tree heads: what an event contributes to the tree, the bytes a
//! tree head's Ed25519 signature covers, and the key files (PKCS#8 and SPKI PEM, as openssl
//! writes them). `docs/log-format.md` specifies all of it with test vectors.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tree::Hash;

/// The leaf of event `seq`: `seq` as 8 bytes big-endian, the SHA-256 of its canonical envelope
/// and its chain hash (32 bytes each), 72 bytes in all. Neither digest changes when the event's
/// personal data is later replaced by its digest (the erased event keeps both), so every proof
/// stays valid; the chain hash binds the tree at any size to the chain's head at that size.
pub fn event_leaf(seq: u64, envelope_digest: &Hash, chain_hash: &Hash) -> [u8; 72] {
    let mut leaf = [0u8; 72];
    leaf[..8].copy_from_slice(&seq.to_be_bytes());
    leaf[8..40].copy_from_slice(envelope_digest);
    leaf[40..].copy_from_slice(chain_hash);
    leaf
}

/// SHA-256 of a canonical envelope's UTF-8 bytes.
pub fn envelope_digest(canonical_envelope: &str) -> Hash {
    Sha256::digest(canonical_envelope.as_bytes()).into()
}

/// 64 lowercase hex digits as a hash.
pub fn hash_from_hex(text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

/// What a signature covers is prefixed by this, so that the key signs nothing else by mistake.
pub const SIGNATURE_CONTEXT: &[u8] = b"lagesbild tree head v1\0";

/// A tree head: the log's size, the tree's root at that size, and when it was signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    /// Milliseconds since 1970-01-01T00:00:00Z, as RFC 9162's timestamps.
    pub timestamp_ms: u64,
}

impl TreeHead {
    /// The signed bytes: [`SIGNATURE_CONTEXT`], then RFC 9162's `TreeHeadDataV2` in TLS
    /// encoding: timestamp (u64), tree size (u64), the root with its one-byte length (32), and
    /// an empty extension list (two zero bytes). 74 bytes.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(SIGNATURE_CONTEXT.len() + 51);
        bytes.extend_from_slice(SIGNATURE_CONTEXT);
        bytes.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        bytes.extend_from_slice(&self.size.to_be_bytes());
        bytes.push(32);
        bytes.extend_from_slice(&self.root);
        bytes.extend_from_slice(&[0, 0]);
        bytes
    }

    pub fn sign(&self, key: &SigningKey) -> SignedTreeHead {
        let signature = key.sign(&self.signed_bytes());
        SignedTreeHead {
            size: self.size,
            root: hex::encode(self.root),
            timestamp_ms: self.timestamp_ms,
            key_id: key_id(&key.verifying_key()),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// A signed tree head as JSON (in the database, the export and the proofs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTreeHead {
    pub size: u64,
    /// The root, 64 lowercase hex digits.
    pub root: String,
    pub timestamp_ms: u64,
    /// SHA-256 of the 32-byte public key, hex: which key signed.
    pub key_id: String,
    /// The Ed25519 signature over [`TreeHead::signed_bytes`], 128 hex digits.
    pub signature: String,
}

/// Why a signed tree head is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the root is not 64 hex digits")]
    BadRoot,
    #[error("the signature is not 128 hex digits")]
    BadSignatureEncoding,
    #[error("it was signed by key {found}, not by the given key {expected}")]
    OtherKey { found: String, expected: String },
    #[error("the signature does not verify with the given key")]
    BadSignature,
}

impl SignedTreeHead {
    pub fn head(&self) -> Result<TreeHead, HeadError> {
        Ok(TreeHead {
            size: self.size,
            root: self.root_hash()?,
            timestamp_ms: self.timestamp_ms,
        })
    }

    pub fn root_hash(&self) -> Result<Hash, HeadError> {
        if self.root.len() != 64 || self.root.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(HeadError::BadRoot);
        }
        hash_from_hex(&self.root).ok_or(HeadError::BadRoot)
    }

    /// Checks the signature with `key`; the key id must name that key.
    pub fn verify(&self, key: &VerifyingKey) -> Result<TreeHead, HeadError> {
        let head = self.head()?;
        let expected = key_id(key);
        if self.key_id != expected {
            return Err(HeadError::OtherKey {
                found: self.key_id.clone(),
                expected,
            });
        }
        let mut signature = [0u8; 64];
        if self.signature.len() != 128 || self.signature.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(HeadError::BadSignatureEncoding);
        }
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|_| HeadError::BadSignatureEncoding)?;
        let signature = ed25519_dalek::Signature::from_bytes(&signature);
        // `verify_strict` refuses the malleable and small-order forms plain verification admits.
        key.verify_strict(&head.signed_bytes(), &signature)
            .map_err(|_| HeadError::BadSignature)?;
        Ok(head)
    }
}

/// The key id: SHA-256 of the raw 32-byte public key, as hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not an Ed25519 private key in PKCS#8 PEM (\"BEGIN PRIVATE KEY\"): {0}")]
    Private(String),
    #[error("not an Ed25519 public key in SPKI PEM (\"BEGIN PUBLIC KEY\"): {0}")]
    Public(String),
}

/// A signing key from 32 bytes of randomness (`lagesbild keygen` reads them from the system).
pub fn signing_key_from_seed(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

pub fn signing_key_from_pem(text: &str) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| KeyError::Private(e.to_string()))
}

pub fn signing_key_to_pem(key: &SigningKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 key encodes as PKCS#8")
        .to_string()
}

pub fn public_key_from_pem(text: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| KeyError::Public(e.to_string()))
}

pub fn public_key_to_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("an Ed25519 key encodes as SPKI")
}
