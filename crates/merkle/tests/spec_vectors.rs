//! The test vectors of `docs/log-format.md`, computed here and looked up in the document, so
//! that the specification an auditor reads is the one the code implements.

use lagesbild_merkle::{
    Frontier, MemoryTree, TreeHead, consistency_path, envelope_digest, event_leaf, inclusion_path,
    key_id, leaf_hash, public_key_from_pem, public_key_to_pem, signing_key_from_pem,
    signing_key_from_seed, signing_key_to_pem, verify_consistency, verify_inclusion,
};
use sha2::{Digest, Sha256};

const SPEC: &str = include_str!("../../../docs/log-format.md");
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn says(value: &str) {
    assert!(
        SPEC.contains(value),
        "docs/log-format.md does not say {value}"
    );
}

#[test]
fn the_specifications_vectors_are_what_the_code_computes() {
    let mut prev = "0".repeat(64);
    let mut leaves = Vec::new();
    for n in 1u64..=5 {
        let envelope = format!("{{\"n\":{},\"seq\":{n}}}", n * n);
        says(&format!("`{envelope}`"));
        let chain: [u8; 32] = Sha256::new()
            .chain_update(prev.as_bytes())
            .chain_update(b"\n")
            .chain_update(envelope.as_bytes())
            .finalize()
            .into();
        let leaf = event_leaf(n, &envelope_digest(&envelope), &chain);
        if n == 1 {
            says(&hex::encode(leaf));
        }
        let hash = leaf_hash(&leaf);
        says(&format!(
            "| {n} | `{envelope}` | `{}` | `{}` |",
            hex::encode(chain),
            hex::encode(hash)
        ));
        leaves.push(hash);
        prev = hex::encode(chain);
    }
    let mut frontier = Frontier::new();
    for (i, leaf) in leaves.iter().enumerate() {
        frontier.push(*leaf);
        says(&format!(
            "| {} | `{}` |",
            i + 1,
            hex::encode(frontier.root())
        ));
    }
    let root = frontier.root();
    let mut tree = MemoryTree::from_leaves(leaves.iter().copied());
    let path = inclusion_path(&mut tree, 2, 5).expect("in range");
    assert_eq!(verify_inclusion(&leaves[2], 2, 5, &path, &root), Ok(()));
    let listed = |hashes: &[[u8; 32]]| {
        hashes
            .iter()
            .map(|h| format!("`{}`", hex::encode(h)))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    says(&format!("the tree of 5:\n{}.", listed(&path)));
    let proof = consistency_path(&mut tree, 3, 5).expect("in order");
    let mut three = Frontier::new();
    leaves[..3].iter().for_each(|l| {
        three.push(*l);
    });
    assert_eq!(
        verify_consistency(3, 5, &three.root(), &root, &proof),
        Ok(())
    );
    says(&format!("size 3 to size 5:\n{}.", listed(&proof)));

    let mut seed = [0u8; 32];
    hex::decode_to_slice(SEED, &mut seed).expect("hex");
    let key = signing_key_from_seed(&seed);
    says(SEED);
    says(&hex::encode(key.verifying_key().as_bytes()));
    says(&key_id(&key.verifying_key()));
    let head = TreeHead {
        size: 5,
        root,
        timestamp_ms: 1_735_300_800_000,
    };
    assert_eq!(head.signed_bytes().len(), 74);
    says(&hex::encode(head.signed_bytes()));
    let signed = head.sign(&key);
    says(&signed.signature);
    assert_eq!(signed.verify(&key.verifying_key()), Ok(head));
    // The PEM files in the document (the private one as openssl writes it, PKCS#8 v1) are
    // this key; what `keygen` writes (PKCS#8 v2, with the public key) reads back as it too.
    let start = SPEC
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("a private key");
    let end = SPEC[start..]
        .find("-----END PRIVATE KEY-----")
        .expect("its end")
        + start
        + 25;
    assert_eq!(
        signing_key_from_pem(&SPEC[start..end])
            .expect("reads")
            .to_bytes(),
        key.to_bytes()
    );
    let private = signing_key_to_pem(&key);
    let public = public_key_to_pem(&key.verifying_key());
    says(public.trim());
    assert_eq!(
        signing_key_from_pem(&private).expect("reads").to_bytes(),
        key.to_bytes()
    );
    assert_eq!(
        public_key_from_pem(&public).expect("reads"),
        key.verifying_key()
    );
}
