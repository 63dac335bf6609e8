#!/usr/bin/env python3
"""A second verifier of lagesbild's evidence, independent of its Rust code.

Written from docs/log-format.md alone: the hash chain over canonical (RFC 8785) envelopes, the
Merkle tree of RFC 9162 over the events' leaves, and the Ed25519 signed tree heads. The
standard library does the hashing and the tree; PyPI's `cryptography` checks the signatures.

    verify_evidence.py bundle DIR                    an evidence bundle (export --evidence)
    verify_evidence.py inclusion PROOF.json... [--pubkey PEM]
    verify_evidence.py consistency PROOF.json... [--pubkey PEM]

Exit status 0 and a line starting "ok:" when everything holds; 1 and "FAILED: why" otherwise
(with several proofs, one line each, "FILE: ok: ..." or "FILE: FAILED: ...", and 0 only when
all hold); 2 for a usage error.
"""

import argparse
import hashlib
import json
import math
import os
import sys

GENESIS = "0" * 64
CONTEXT = b"lagesbild tree head v1\x00"


class Failed(Exception):
    """The evidence does not hold; the message says where and why."""


# --- RFC 8785 canonical JSON -----------------------------------------------------------------


def canonical(value):
    """RFC 8785 (JCS): members sorted by UTF-16 code units, no whitespace, strings escaped as
    ECMAScript's JSON.stringify does, numbers in their shortest form."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Failed("a number is not finite")
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        text = repr(value)
        if "e" in text or "E" in text:
            raise Failed(f"the number {text} needs an exponent, which lagesbild never writes")
        return text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(canonical(k) + ":" + canonical(value[k]) for k in keys) + "}"
    raise Failed(f"unexpected JSON value {value!r}")


def strict_object(text, where):
    def pairs(items):
        seen = {}
        for key, val in items:
            if key in seen:
                raise Failed(f"{where}: the key {key!r} appears twice")
            seen[key] = val
        return seen

    try:
        value = json.loads(text, object_pairs_hook=pairs)
    except ValueError as error:
        raise Failed(f"{where}: not JSON: {error}") from None
    if not isinstance(value, dict):
        raise Failed(f"{where}: not a JSON object")
    return value


# --- RFC 9162 Merkle tree --------------------------------------------------------------------


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(leaf):
    return sha256(b"\x00" + leaf)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def event_leaf(seq, envelope_sha256, chain_hash):
    """seq as 8 bytes big-endian, SHA-256 of the canonical envelope, the chain hash."""
    return seq.to_bytes(8, "big") + envelope_sha256 + chain_hash


class Frontier:
    """The right edge of a growing tree: one perfect subtree root per set bit of the size."""

    def __init__(self):
        self.size = 0
        self.stack = []  # (level, hash), largest first

    def push(self, leaf):
        level, value = 0, leaf
        while self.stack and self.stack[-1][0] == level:
            value = node_hash(self.stack.pop()[1], value)
            level += 1
        self.stack.append((level, value))
        self.size += 1

    def root(self):
        if not self.stack:
            return sha256(b"")
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = node_hash(left, value)
        return value


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 section 2.1.3.2, step by step."""
    if index >= size:
        raise Failed(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Failed("the inclusion path is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Failed("the inclusion path is shorter than the tree needs")
    if r != root:
        raise Failed("the inclusion path does not lead to the root")


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 section 2.1.4.2 for 0 < first < second; equal sizes need equal roots and an
    empty path, and every tree extends the empty one."""
    if first > second:
        raise Failed(f"the first size {first} is larger than the second {second}")
    if first == 0:
        if path:
            raise Failed("a proof from the empty tree must be empty")
        if first_root != sha256(b""):
            raise Failed("the empty tree's root is not the hash of nothing")
        return
    if first == second:
        if path:
            raise Failed("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise Failed("two tree heads of the same size have different roots")
        return
    if not path:
        raise Failed("the consistency proof is empty")
    nodes = ([first_root] if first & (first - 1) == 0 else []) + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise Failed("the consistency path is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Failed("the consistency path is shorter than the trees need")
    if fr != first_root:
        raise Failed("the consistency path does not lead to the first tree's root")
    if sr != second_root:
        raise Failed("the consistency path does not lead to the second tree's root")


# --- signed tree heads -----------------------------------------------------------------------


def hex32(text, what):
    if not isinstance(text, str) or len(text) != 64 or text != text.lower():
        raise Failed(f"{what} is not 64 lowercase hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise Failed(f"{what} is not 64 lowercase hex digits") from None


def uint(value, what):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        raise Failed(f"{what} is not an unsigned 64-bit integer")
    return value


def load_public_key(path):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_public_key,
        )
    except ImportError:
        raise Failed("checking signatures needs the PyPI package cryptography") from None
    with open(path, "rb") as handle:
        key = load_pem_public_key(handle.read())
    if not isinstance(key, Ed25519PublicKey):
        raise Failed(f"{path}: not an Ed25519 public key")
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, sha256(raw).hex()


HEAD_FIELDS = {"size", "root", "timestamp_ms", "key_id", "signature"}


def check_head(head, key, what):
    """A signed tree head's fields, and with `key` (key, key id) its signature. Returns
    (size, root)."""
    if not isinstance(head, dict) or set(head) != HEAD_FIELDS:
        raise Failed(f"{what}: a signed tree head has exactly the fields {sorted(HEAD_FIELDS)}")
    size = uint(head["size"], f"{what}: size")
    root = hex32(head["root"], f"{what}: root")
    timestamp = uint(head["timestamp_ms"], f"{what}: timestamp_ms")
    if key is not None:
        public, key_id = key
        if head["key_id"] != key_id:
            raise Failed(f"{what}: signed by key {head['key_id']}, not by the given key {key_id}")
        signature = head["signature"]
        if not isinstance(signature, str) or len(signature) != 128 or signature != signature.lower():
            raise Failed(f"{what}: the signature is not 128 lowercase hex digits")
        message = CONTEXT + timestamp.to_bytes(8, "big") + size.to_bytes(8, "big")
        message += b"\x20" + root + b"\x00\x00"
        try:
            public.verify(bytes.fromhex(signature), message)
        except Exception:  # cryptography raises InvalidSignature; bad hex raises ValueError
            raise Failed(f"{what}: the signature does not verify with the given key") from None
    return size, root


# --- the three checks ------------------------------------------------------------------------


def check_bundle(directory):
    key = load_public_key(os.path.join(directory, "public-key.pem"))
    with open(os.path.join(directory, "tree-heads.json"), encoding="utf-8") as handle:
        listed = json.load(handle)
    if not isinstance(listed, list):
        raise Failed("tree-heads.json: not a list")
    heads_in_export = []
    frontier = Frontier()
    prev_hash = GENESIS
    roots = {0: frontier.root()}
    name = os.path.join(directory, "events.jsonl")
    wanted = set()
    for head in listed:
        if isinstance(head, dict) and isinstance(head.get("size"), int):
            wanted.add(head["size"])
    with open(name, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            where = f"events.jsonl:{number}"
            if not line.strip():
                continue
            value = strict_object(line, where)
            if "signed_tree_head" in value:
                if frontier.size:
                    raise Failed(f"{where}: a signed tree head after the events")
                if set(value) != {"signed_tree_head"}:
                    raise Failed(f"{where}: a tree head line holds only signed_tree_head")
                heads_in_export.append(value["signed_tree_head"])
                continue
            seq = value.get("seq")
            if seq != frontier.size + 1:
                raise Failed(f"{where}: seq is {seq!r}, expected {frontier.size + 1}")
            given_prev = value.pop("prev_hash", None)
            given_hash = value.pop("hash", None)
            if given_prev != prev_hash:
                raise Failed(f"{where}: event {seq}: prev_hash is not the previous event's hash")
            envelope = canonical(value).encode("utf-8")
            computed = sha256(prev_hash.encode("ascii") + b"\n" + envelope).hex()
            if computed != given_hash:
                raise Failed(f"{where}: event {seq}: hash {given_hash} is not the recomputed {computed}")
            frontier.push(leaf_hash(event_leaf(seq, sha256(envelope), bytes.fromhex(computed))))
            prev_hash = computed
            if frontier.size in wanted:
                roots[frontier.size] = frontier.root()
    if heads_in_export != listed:
        raise Failed("the tree heads in events.jsonl are not those in tree-heads.json")
    if not listed:
        raise Failed("the bundle holds no signed tree head")
    for number, head in enumerate(listed, 1):
        what = f"tree-heads.json[{number - 1}]"
        size, root = check_head(head, key, what)
        if size > frontier.size:
            raise Failed(f"{what}: covers {size} events, but the bundle holds only {frontier.size}: it was cut short")
        if roots.get(size) != root:
            raise Failed(f"{what}: its root is not the root of the first {size} events")
    return (
        f"ok: {frontier.size} events, chain intact (head {frontier.size}:{prev_hash}), "
        f"Merkle root {frontier.root().hex()}; {len(listed)} signed tree heads match and verify "
        f"with key {key[1]}"
    )


PROOF_INCLUSION = {"proof", "leaf_index", "tree_size", "root", "tree_head", "leaf", "envelope", "prev_hash", "path"}
PROOF_CONSISTENCY = {"proof", "first_size", "first_root", "first_tree_head", "second_size", "second_root", "second_tree_head", "path"}


def load_proof(path, kind, fields):
    with open(path, encoding="utf-8") as handle:
        proof = strict_object(handle.read(), path)
    if proof.get("proof") != kind:
        raise Failed(f'{path}: "proof" is {proof.get("proof")!r}, not {kind!r}')
    if set(proof) != fields:
        raise Failed(f"{path}: an {kind} proof has exactly the fields {sorted(fields)}")
    if not isinstance(proof["path"], list):
        raise Failed(f"{path}: path is not a list")
    return proof


def head_matches(head, size, root, key, what):
    if head is None:
        if key is not None:
            raise Failed(f"{what}: no signed tree head to check against the key")
        return "unsigned"
    head_size, head_root = check_head(head, key, what)
    if head_size != size:
        raise Failed(f"{what}: the tree head is for {head_size} events, the proof for {size}")
    if head_root != root:
        raise Failed(f"{what}: the tree head's root is not the proof's root")
    return "signed" if key is not None else "signature not checked"


def check_inclusion(path, key):
    proof = load_proof(path, "inclusion", PROOF_INCLUSION)
    size = uint(proof["tree_size"], "tree_size")
    index = uint(proof["leaf_index"], "leaf_index")
    root = hex32(proof["root"], "root")
    state = head_matches(proof["tree_head"], size, root, key, "tree_head")
    leaf = proof["leaf"]
    if not isinstance(leaf, dict) or set(leaf) != {"seq", "envelope_sha256", "chain_hash"}:
        raise Failed("leaf has exactly seq, envelope_sha256 and chain_hash")
    seq = uint(leaf["seq"], "leaf.seq")
    if seq == 0 or index != seq - 1:
        raise Failed(f"leaf_index {index} is not the leaf's seq {seq} less one")
    digest = hex32(leaf["envelope_sha256"], "leaf.envelope_sha256")
    chain = hex32(leaf["chain_hash"], "leaf.chain_hash")
    envelope, prev_hash = proof["envelope"], proof["prev_hash"]
    if (envelope is None) != (prev_hash is None):
        raise Failed("envelope and prev_hash come together or not at all")
    if envelope is not None:
        if not isinstance(envelope, str):
            raise Failed("envelope is not a string")
        data = envelope.encode("utf-8")
        if sha256(data) != digest:
            raise Failed("the envelope's SHA-256 is not leaf.envelope_sha256")
        parsed = strict_object(envelope, "envelope")
        if canonical(parsed) != envelope:
            raise Failed("the envelope is not in canonical form")
        if parsed.get("seq") != seq:
            raise Failed(f"the envelope's seq is {parsed.get('seq')!r}, not the leaf's {seq}")
        hex32(prev_hash, "prev_hash")
        if sha256(prev_hash.encode("ascii") + b"\n" + data) != chain:
            raise Failed("SHA-256(prev_hash, newline, envelope) is not leaf.chain_hash")
    hashes = [hex32(h, f"path[{i}]") for i, h in enumerate(proof["path"])]
    verify_inclusion(leaf_hash(event_leaf(seq, digest, chain)), index, size, hashes, root)
    return f"ok: event {seq} is in the log of {size} events with root {root.hex()} ({state})"


def check_consistency(path, key):
    proof = load_proof(path, "consistency", PROOF_CONSISTENCY)
    first = uint(proof["first_size"], "first_size")
    second = uint(proof["second_size"], "second_size")
    first_root = hex32(proof["first_root"], "first_root")
    second_root = hex32(proof["second_root"], "second_root")
    states = (
        head_matches(proof["first_tree_head"], first, first_root, key, "first_tree_head"),
        head_matches(proof["second_tree_head"], second, second_root, key, "second_tree_head"),
    )
    hashes = [hex32(h, f"path[{i}]") for i, h in enumerate(proof["path"])]
    verify_consistency(first, second, first_root, second_root, hashes)
    return (
        f"ok: the log of {second} events ({states[1]}) extends the log of {first} events "
        f"({states[0]})"
    )


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bundle = sub.add_parser("bundle", help="check an evidence bundle")
    bundle.add_argument("directory")
    for name in ("inclusion", "consistency"):
        proof = sub.add_parser(name, help=f"check an {name} proof")
        proof.add_argument("proof", nargs="+")
        proof.add_argument("--pubkey", help="the tree heads must be signed by this key (PEM)")
    args = parser.parse_args(argv)
    try:
        if args.command == "bundle":
            print(check_bundle(args.directory))
            return 0
        key = load_public_key(args.pubkey) if args.pubkey else None
    except (Failed, OSError, ValueError) as error:
        print(f"FAILED: {error}")
        return 1
    check = check_inclusion if args.command == "inclusion" else check_consistency
    status = 0
    for name in args.proof:
        prefix = f"{name}: " if len(args.proof) > 1 else ""
        try:
            print(prefix + check(name, key))
        except (Failed, OSError, ValueError, TypeError, AttributeError) as error:
            print(f"{prefix}FAILED: {error}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
