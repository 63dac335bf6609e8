//! The tree against the Certificate Transparency reference vectors (the eight leaves of the
//! RFC 6962 reference implementation's tests), and proofs against forgery: every valid proof
//! verifies, every altered one (a flipped byte, a wrong size or index, swapped or reordered
//! siblings, a truncated or extended path, a proof for another tree) is rejected. The immudb
//! advisory GHSA-672p-m5jq-mrh8 was a verifier that accepted such a proof.

use lagesbild_merkle::{
    Hash, MemoryTree, ProofError, RequestError, consistency_path, empty_root, inclusion_path,
    leaf_hash, root, root_of, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

fn h(text: &str) -> Hash {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).expect("test vector is hex");
    hash
}

fn leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|l| hex::decode(l).expect("hex"))
    .collect()
}

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_tree() -> (Vec<Hash>, MemoryTree) {
    let hashes: Vec<Hash> = leaves().iter().map(|l| leaf_hash(l)).collect();
    let tree = MemoryTree::from_leaves(hashes.iter().copied());
    (hashes, tree)
}

#[test]
fn the_empty_tree_has_the_hash_of_nothing() {
    assert_eq!(
        empty_root(),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
}

#[test]
fn roots_of_the_reference_vectors() {
    let (hashes, mut tree) = reference_tree();
    for (i, expected) in ROOTS.iter().enumerate() {
        let size = i as u64 + 1;
        assert_eq!(
            root_of(&hashes[..=i]),
            h(expected),
            "recursive, size {size}"
        );
        assert_eq!(
            root(&mut tree, size),
            Ok(h(expected)),
            "stored, size {size}"
        );
    }
}

#[test]
fn inclusion_paths_of_the_reference_vectors() {
    let (_, mut tree) = reference_tree();
    let cases: &[(u64, u64, &[&str])] = &[
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    let hashes: Vec<Hash> = leaves().iter().map(|l| leaf_hash(l)).collect();
    for (index, size, expected) in cases {
        let path = inclusion_path(&mut tree, *index, *size).expect("in range");
        let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
        assert_eq!(path, expected, "leaf {index} of {size}");
        let root = h(ROOTS[*size as usize - 1]);
        assert_eq!(
            verify_inclusion(&hashes[*index as usize], *index, *size, &path, &root),
            Ok(())
        );
    }
}

#[test]
fn consistency_proofs_of_the_reference_vectors() {
    let (_, mut tree) = reference_tree();
    let cases: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (first, second, expected) in cases {
        let path = consistency_path(&mut tree, *first, *second).expect("in order");
        let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
        assert_eq!(path, expected, "{first} to {second}");
        assert_eq!(
            verify_consistency(
                *first,
                *second,
                &h(ROOTS[*first as usize - 1]),
                &h(ROOTS[*second as usize - 1]),
                &path
            ),
            Ok(())
        );
    }
}

#[test]
fn requests_outside_the_tree_are_refused() {
    let (_, mut tree) = reference_tree();
    assert!(matches!(
        inclusion_path(&mut tree, 8, 8),
        Err(lagesbild_merkle::ProveError::Request(
            RequestError::NoSuchLeaf { .. }
        ))
    ));
    assert!(matches!(
        consistency_path(&mut tree, 5, 4),
        Err(lagesbild_merkle::ProveError::Request(
            RequestError::Shrinks { .. }
        ))
    ));
    // The tree holds 8 leaves: a proof in a tree of 9 needs a node it does not have.
    assert!(inclusion_path(&mut tree, 0, 9).is_err());
}

#[test]
fn edge_cases_of_the_verifiers() {
    let (hashes, _) = reference_tree();
    let r1 = h(ROOTS[0]);
    let r8 = h(ROOTS[7]);
    // A single-leaf tree: the leaf is the root and the path is empty; a non-empty one is refused.
    assert_eq!(verify_inclusion(&hashes[0], 0, 1, &[], &r1), Ok(()));
    assert_eq!(
        verify_inclusion(&hashes[0], 0, 1, &[r1], &r1),
        Err(ProofError::PathTooLong)
    );
    assert_eq!(
        verify_inclusion(&hashes[0], 1, 1, &[], &r1),
        Err(ProofError::IndexOutOfRange { index: 1, size: 1 })
    );
    assert_eq!(
        verify_inclusion(&hashes[0], 0, 0, &[], &empty_root()),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    // An empty path for a larger tree.
    assert_eq!(
        verify_inclusion(&hashes[0], 0, 8, &[], &r8),
        Err(ProofError::PathTooShort)
    );
    // Consistency: equal sizes need equal roots and nothing else.
    assert_eq!(verify_consistency(8, 8, &r8, &r8, &[]), Ok(()));
    assert_eq!(
        verify_consistency(8, 8, &r8, &r1, &[]),
        Err(ProofError::SameSizeDifferentRoots)
    );
    assert_eq!(
        verify_consistency(8, 8, &r8, &r8, &[r1]),
        Err(ProofError::PathNotEmpty)
    );
    assert_eq!(verify_consistency(0, 8, &empty_root(), &r8, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 8, &r1, &r8, &[]),
        Err(ProofError::NotEmptyRoot)
    );
    assert_eq!(
        verify_consistency(0, 8, &empty_root(), &r8, &[r1]),
        Err(ProofError::PathNotEmpty)
    );
    assert_eq!(
        verify_consistency(8, 1, &r8, &r1, &[]),
        Err(ProofError::SizesOutOfOrder {
            first: 8,
            second: 1
        })
    );
    assert_eq!(
        verify_consistency(1, 8, &r1, &r8, &[]),
        Err(ProofError::EmptyPath)
    );
}

/// Every way a proof can be altered; each alteration that changes anything must be rejected.
fn inclusion_forgeries(
    leaf: Hash,
    index: u64,
    size: u64,
    path: &[Hash],
) -> Vec<(String, Hash, u64, u64, Vec<Hash>)> {
    let mut forged = Vec::new();
    for i in 0..path.len() {
        for byte in [0usize, 13, 31] {
            let mut p = path.to_vec();
            p[i][byte] ^= 0x01;
            forged.push((
                format!("path[{i}] byte {byte} flipped"),
                leaf,
                index,
                size,
                p,
            ));
        }
    }
    let mut l = leaf;
    l[7] ^= 0x80;
    forged.push(("leaf flipped".into(), l, index, size, path.to_vec()));
    // Sizes the leaf cannot be in. (Another size whose tree has the same shape along this
    // path leads to the same root: the path alone cannot tell; the size is authenticated by
    // the signed tree head, whose signature covers it, and `tests/evidence.rs` forges that.)
    forged.push(("size zero".into(), leaf, index, 0, path.to_vec()));
    if index > 0 {
        forged.push((
            "size at the index".into(),
            leaf,
            index,
            index,
            path.to_vec(),
        ));
    }
    for wrong in [index + 1, index ^ 1, index.saturating_sub(1)] {
        if wrong != index {
            forged.push((format!("index {wrong}"), leaf, wrong, size, path.to_vec()));
        }
    }
    for i in 1..path.len() {
        let mut p = path.to_vec();
        p.swap(i - 1, i);
        if p != path {
            forged.push((
                format!("siblings {} and {i} swapped", i - 1),
                leaf,
                index,
                size,
                p,
            ));
        }
    }
    if !path.is_empty() {
        forged.push((
            "truncated".into(),
            leaf,
            index,
            size,
            path[..path.len() - 1].to_vec(),
        ));
        forged.push((
            "first dropped".into(),
            leaf,
            index,
            size,
            path[1..].to_vec(),
        ));
    }
    let mut extended = path.to_vec();
    extended.push(leaf);
    forged.push(("extended".into(), leaf, index, size, extended));
    let mut doubled = path.to_vec();
    doubled.extend_from_slice(path);
    if !path.is_empty() {
        forged.push(("doubled".into(), leaf, index, size, doubled));
    }
    forged
}

fn tree_of(size: u64, salt: u8) -> (Vec<Hash>, MemoryTree) {
    let hashes: Vec<Hash> = (0..size)
        .map(|i| {
            let mut leaf = i.to_be_bytes().to_vec();
            leaf.push(salt);
            leaf_hash(&leaf)
        })
        .collect();
    let tree = MemoryTree::from_leaves(hashes.iter().copied());
    (hashes, tree)
}

fn cases() -> u32 {
    if std::env::var_os("LAGESBILD_SLOW_TESTS").is_some() {
        2_000
    } else {
        200
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn inclusion_proofs_verify_and_forgeries_do_not(size in 1u64..300, pick in any::<u64>()) {
        let (hashes, mut tree) = tree_of(size, 0);
        let index = pick % size;
        let path = inclusion_path(&mut tree, index, size).expect("in range");
        let root = root_of(&hashes);
        prop_assert_eq!(verify_inclusion(&hashes[index as usize], index, size, &path, &root), Ok(()));
        for (what, leaf, i, n, p) in inclusion_forgeries(hashes[index as usize], index, size, &path) {
            let result = verify_inclusion(&leaf, i, n, &p, &root);
            prop_assert!(result.is_err(), "{} accepted for leaf {} of {}", what, index, size);
        }
        // The same proof against another tree of the same size.
        let (_, mut other) = tree_of(size, 1);
        let other_root = lagesbild_merkle::root(&mut other, size).expect("built");
        prop_assert!(verify_inclusion(&hashes[index as usize], index, size, &path, &other_root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_forgeries_do_not(second in 1u64..300, pick in any::<u64>()) {
        let (hashes, mut tree) = tree_of(second, 0);
        let first = 1 + pick % second;
        let path = consistency_path(&mut tree, first, second).expect("in order");
        let first_root = root_of(&hashes[..first as usize]);
        let second_root = root_of(&hashes);
        prop_assert_eq!(verify_consistency(first, second, &first_root, &second_root, &path), Ok(()));
        if first == second {
            return Ok(());
        }
        let mut forged: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = Vec::new();
        for i in 0..path.len() {
            for byte in [0usize, 17, 31] {
                let mut p = path.clone();
                p[i][byte] ^= 0x04;
                forged.push((format!("path[{i}] byte {byte}"), first, second, first_root, second_root, p));
            }
        }
        let mut r = first_root;
        r[0] ^= 1;
        forged.push(("first root".into(), first, second, r, second_root, path.clone()));
        let mut r = second_root;
        r[31] ^= 1;
        forged.push(("second root".into(), first, second, first_root, r, path.clone()));
        // Sizes that the roots do not belong to: the second tree claimed as the first, or
        // the first claimed as the second.
        forged.push(("second as first".into(), second, second, first_root, second_root, path.clone()));
        forged.push(("first as second".into(), first, first, first_root, second_root, path.clone()));
        forged.push(("sizes swapped".into(), second, first, second_root, first_root, path.clone()));
        for i in 1..path.len() {
            let mut p = path.clone();
            p.swap(i - 1, i);
            if p != path {
                forged.push((format!("swapped {i}"), first, second, first_root, second_root, p));
            }
        }
        forged.push(("truncated".into(), first, second, first_root, second_root, path[..path.len() - 1].to_vec()));
        let mut extended = path.clone();
        extended.push(first_root);
        forged.push(("extended".into(), first, second, first_root, second_root, extended));
        let mut with_first = vec![first_root];
        with_first.extend_from_slice(&path);
        forged.push(("first root prepended".into(), first, second, first_root, second_root, with_first));
        // Another tree's roots of the same sizes.
        let (other, _) = tree_of(second, 1);
        forged.push(("another tree".into(), first, second, root_of(&other[..first as usize]), root_of(&other), path.clone()));
        for (what, f, s, fr, sr, p) in forged {
            prop_assert!(verify_consistency(f, s, &fr, &sr, &p).is_err(), "{} accepted for {} to {}", what, first, second);
        }
    }
}
