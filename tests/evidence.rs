//! Signed tree heads and Merkle proofs end to end, through both verifiers: an evidence bundle
//! of the bundled history, an inclusion proof for a point of the report of 27 December 2024 and
//! a consistency proof pass the Rust checks and the independent Python verifier
//! (`tools/verify_evidence.py`); every forged proof (a flipped byte anywhere, a wrong size,
//! swapped siblings, a truncated or extended path, a proof for another tree) is rejected by
//! both; `verify --against` and `restore --pubkey` catch a cut-off log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use lagesbild_merkle::{
    ConsistencyProof, InclusionProof, VerifyingKey, check_consistency, check_inclusion,
    public_key_from_pem,
};
use proptest::prelude::*;
use serde_json::Value;

const NOW: &str = "2026-01-01T00:00:00Z";
/// The fifth point of the summary of the report of 27 December 2024 (events/2024.jsonl).
const POINT: &str = "rapport-2024-12-27-summary-5";

fn run(dir: &Path, args: &[&str]) -> Output {
    run_at(dir, NOW, args)
}

/// `LAGESBILD_NOW` fixes the transaction time too: logs made at another `now` have other hashes.
fn run_at(dir: &Path, now: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(args)
        .current_dir(dir)
        .env("LAGESBILD_DB", dir.join("log.db"))
        .env("LAGESBILD_NOW", now)
        .env_remove("LAGESBILD_SIGNING_KEY")
        .env_remove("LAGESBILD_PUBKEY")
        .output()
        .expect("the binary runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    ok_at(dir, NOW, args)
}

fn ok_at(dir: &Path, now: &str, args: &[&str]) -> String {
    let output = run_at(dir, now, args);
    assert!(
        output.status.success(),
        "lagesbild {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(!output.status.success(), "lagesbild {args:?} succeeded");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The Python verifier's command, or `None` (with a notice) where python3 with
/// `cryptography` is missing; under `CI=true` a missing one fails the test.
fn python() -> Option<&'static str> {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import cryptography"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found {
        return Some("python3");
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI needs python3 with the PyPI package cryptography for the second verifier (.ci/run installs it)"
    );
    eprintln!("notice: python3 with cryptography is missing; the Python verifier was not run");
    None
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_evidence.py")
}

/// Runs the Python verifier; its exit status and what it printed.
fn python_verify(python: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(python)
        .arg(script())
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "the verifier crashed on {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// A seeded log with two signed tree heads (the bundled history, then one more note), the key
/// pair, the heads and both proofs.
struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    key: VerifyingKey,
    first_head: String,
    inclusion: String,
    consistency: String,
}

fn fixture() -> Fixture {
    fixture_at(NOW)
}

fn fixture_at(now: &str) -> Fixture {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_owned();
    ok_at(&dir, now, &["init"]);
    ok_at(&dir, now, &["keygen", "-o", "key"]);
    let first_head = ok_at(&dir, now, &["checkpoint", "--signing-key", "key.key"]);
    ok_at(
        &dir,
        now,
        &[
            "note",
            "--section",
            "summary",
            "Granskningen fortsätter i januari.",
        ],
    );
    ok_at(&dir, now, &["checkpoint", "--signing-key", "key.key"]);
    let inclusion = ok_at(&dir, now, &["proof", "inclusion", POINT]);
    let first_size = serde_json::from_str::<Value>(&first_head).expect("JSON")["size"]
        .as_u64()
        .expect("size");
    let consistency = ok_at(
        &dir,
        now,
        &[
            "proof",
            "consistency",
            &first_size.to_string(),
            &(first_size + 1).to_string(),
        ],
    );
    let key = public_key_from_pem(&std::fs::read_to_string(dir.join("key.pub")).expect("pub"))
        .expect("a public key");
    Fixture {
        _dir: tmp,
        dir,
        key,
        first_head,
        inclusion,
        consistency,
    }
}

fn shared() -> &'static (String, String, VerifyingKey) {
    static SHARED: OnceLock<(String, String, VerifyingKey)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let f = fixture();
        (f.inclusion, f.consistency, f.key)
    })
}

#[test]
fn a_bundle_and_both_proofs_pass_both_verifiers() {
    let f = fixture();
    let dir = &f.dir;
    let inclusion: InclusionProof = serde_json::from_str(&f.inclusion).expect("a proof");
    assert!(
        inclusion
            .envelope
            .as_deref()
            .is_some_and(|e| e.contains("Konkurrensverket") && e.contains(POINT)),
        "{:?}",
        inclusion.envelope
    );
    let head = inclusion
        .tree_head
        .as_ref()
        .expect("the newest signed head");
    assert_eq!(head.size, inclusion.tree_size);
    assert_eq!(check_inclusion(&inclusion, Some(&f.key)), Ok(()));
    let consistency: ConsistencyProof = serde_json::from_str(&f.consistency).expect("a proof");
    assert!(consistency.first_tree_head.is_some() && consistency.second_tree_head.is_some());
    assert_eq!(check_consistency(&consistency, Some(&f.key)), Ok(()));

    // The log extends the head kept outside; the stored heads verify with the key.
    std::fs::write(dir.join("kept.json"), &f.first_head).expect("write");
    let said = ok(
        dir,
        &["verify", "--pubkey", "key.pub", "--against", "kept.json"],
    );
    assert!(
        said.contains("the log extends the tree head you kept"),
        "{said}"
    );
    assert!(
        said.contains("2 signed tree heads match the log, signatures checked"),
        "{said}"
    );

    ok(
        dir,
        &["export", "--evidence", "bundle", "--pubkey", "key.pub"],
    );
    for file in [
        "events.jsonl",
        "tree-heads.json",
        "public-key.pem",
        "log-format.md",
    ] {
        assert!(dir.join("bundle").join(file).is_file(), "{file}");
    }
    std::fs::write(dir.join("inclusion.json"), &f.inclusion).expect("write");
    std::fs::write(dir.join("consistency.json"), &f.consistency).expect("write");

    // The bundle's export restores, its heads checked; cut short, it is refused.
    let restored = tempfile::tempdir().expect("temp dir");
    let export = dir.join("bundle/events.jsonl");
    let export = export.to_str().expect("UTF-8 path");
    let said = ok(
        restored.path(),
        &[
            "restore",
            export,
            "--pubkey",
            &dir.join("key.pub").display().to_string(),
        ],
    );
    assert!(
        said.contains("2 signed tree heads match the events and their signatures verify"),
        "{said}"
    );
    let text = std::fs::read_to_string(export).expect("read");
    let short: String = text.lines().take(50).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("short.jsonl"), short).expect("write");
    let cut = tempfile::tempdir().expect("temp dir");
    let said = fails(
        cut.path(),
        &["restore", &dir.join("short.jsonl").display().to_string()],
    );
    assert!(
        said.contains("it was cut short") && said.contains("nothing was restored"),
        "{said}"
    );

    let Some(python) = python() else { return };
    let bundle = dir.join("bundle").display().to_string();
    let (passed, said) = python_verify(python, &["bundle", &bundle]);
    assert!(passed, "{said}");
    assert!(
        said.contains("2 signed tree heads match and verify"),
        "{said}"
    );
    let key = dir.join("key.pub").display().to_string();
    for (kind, file) in [
        ("inclusion", "inclusion.json"),
        ("consistency", "consistency.json"),
    ] {
        let file = dir.join(file).display().to_string();
        let (passed, said) = python_verify(python, &[kind, &file, "--pubkey", &key]);
        assert!(passed, "{kind}: {said}");
    }
    // A bundle whose events were cut short is refused by the Python verifier too.
    std::fs::copy(dir.join("short.jsonl"), dir.join("bundle/events.jsonl")).expect("copy");
    let (passed, said) = python_verify(python, &["bundle", &bundle]);
    assert!(!passed && said.contains("cut short"), "{said}");
}

#[test]
fn a_log_cut_off_or_rewritten_after_a_kept_head_fails_verify_against() {
    let f = fixture();
    // Another log with the same history up to the kept head's size but other events:
    // recorded at other times, so every hash differs.
    let other = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(["init"])
        .env("LAGESBILD_DB", other.path().join("log.db"))
        .output()
        .expect("runs");
    assert!(output.status.success());
    std::fs::write(other.path().join("kept.json"), &f.first_head).expect("write");
    let said = fails(other.path(), &["verify", "--against", "kept.json"]);
    assert!(
        said.contains("do not have the root of the tree head you kept"),
        "{said}"
    );
    // A head of more events than the log holds.
    let mut head: Value = serde_json::from_str(&f.first_head).expect("JSON");
    head["size"] = Value::from(500);
    std::fs::write(other.path().join("kept.json"), head.to_string()).expect("write");
    let said = fails(other.path(), &["verify", "--against", "kept.json"]);
    assert!(
        said.contains("fewer than the 500 of the tree head you kept"),
        "{said}"
    );
}

/// Flips one hex digit of the string at `pointer` (keeping it lowercase hex).
fn flip_hex(value: &mut Value, pointer: &str, at: usize) {
    let text = value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}"));
    let mut chars: Vec<char> = text.as_str().expect("a string").chars().collect();
    let at = at % chars.len();
    chars[at] = if chars[at] == '0' { '1' } else { '0' };
    *text = Value::String(chars.into_iter().collect());
}

fn swap(value: &mut Value, pointer: &str, i: usize) {
    let list = value
        .pointer_mut(pointer)
        .and_then(Value::as_array_mut)
        .expect("a list");
    list.swap(i, i + 1);
}

fn inclusion_forgeries(proof: &str) -> Vec<(String, Value)> {
    let original: Value = serde_json::from_str(proof).expect("JSON");
    let path_len = original["path"].as_array().expect("path").len();
    let mut forged = Vec::new();
    let mut with = |what: String, change: &dyn Fn(&mut Value)| {
        let mut value = original.clone();
        change(&mut value);
        forged.push((what, value));
    };
    for i in 0..path_len {
        for at in [0, 31, 63] {
            with(format!("path[{i}] digit {at}"), &|v| {
                flip_hex(v, &format!("/path/{i}"), at)
            });
        }
    }
    for pointer in [
        "/root",
        "/leaf/envelope_sha256",
        "/leaf/chain_hash",
        "/prev_hash",
        "/tree_head/root",
        "/tree_head/signature",
        "/tree_head/key_id",
    ] {
        with(format!("{pointer} flipped"), &|v| flip_hex(v, pointer, 17));
    }
    with("envelope changed".into(), &|v| {
        let e = v["envelope"]
            .as_str()
            .expect("envelope")
            .replace("Konkurrensverket", "Konkurrensverkat");
        v["envelope"] = Value::String(e);
    });
    with("timestamp changed".into(), &|v| {
        let t = v["tree_head"]["timestamp_ms"].as_u64().expect("time");
        v["tree_head"]["timestamp_ms"] = Value::from(t + 1);
    });
    let size = original["tree_size"].as_u64().expect("size");
    for wrong in [size - 1, size + 1, 2 * size] {
        with(format!("tree_size {wrong}"), &|v| {
            v["tree_size"] = Value::from(wrong)
        });
        with(format!("tree_size and head size {wrong}"), &|v| {
            v["tree_size"] = Value::from(wrong);
            v["tree_head"]["size"] = Value::from(wrong);
        });
    }
    let seq = original["leaf"]["seq"].as_u64().expect("seq");
    with("another leaf index".into(), &|v| {
        v["leaf_index"] = Value::from(seq);
        v["leaf"]["seq"] = Value::from(seq + 1);
    });
    for i in 0..path_len - 1 {
        with(format!("siblings {i} and {} swapped", i + 1), &|v| {
            swap(v, "/path", i)
        });
    }
    with("truncated".into(), &|v| {
        v["path"].as_array_mut().expect("path").pop();
    });
    with("first sibling dropped".into(), &|v| {
        v["path"].as_array_mut().expect("path").remove(0);
    });
    with("extended".into(), &|v| {
        let root = v["root"].clone();
        v["path"].as_array_mut().expect("path").push(root);
    });
    with("unsigned".into(), &|v| v["tree_head"] = Value::Null);
    forged
}

fn consistency_forgeries(proof: &str, other_head: &Value) -> Vec<(String, Value)> {
    let original: Value = serde_json::from_str(proof).expect("JSON");
    let path_len = original["path"].as_array().expect("path").len();
    let mut forged = Vec::new();
    let mut with = |what: String, change: &dyn Fn(&mut Value)| {
        let mut value = original.clone();
        change(&mut value);
        forged.push((what, value));
    };
    for i in 0..path_len {
        for at in [0, 40, 63] {
            with(format!("path[{i}] digit {at}"), &|v| {
                flip_hex(v, &format!("/path/{i}"), at)
            });
        }
    }
    for pointer in [
        "/first_root",
        "/second_root",
        "/first_tree_head/root",
        "/second_tree_head/signature",
    ] {
        with(format!("{pointer} flipped"), &|v| flip_hex(v, pointer, 5));
    }
    let first = original["first_size"].as_u64().expect("size");
    let second = original["second_size"].as_u64().expect("size");
    with("first size wrong".into(), &|v| {
        v["first_size"] = Value::from(first - 1)
    });
    with("second size wrong".into(), &|v| {
        v["second_size"] = Value::from(second + 1)
    });
    with("sizes swapped".into(), &|v| {
        v["first_size"] = Value::from(second);
        v["second_size"] = Value::from(first);
    });
    with("heads swapped".into(), &|v| {
        let a = v["first_tree_head"].clone();
        v["first_tree_head"] = v["second_tree_head"].clone();
        v["second_tree_head"] = a;
    });
    for i in 0..path_len.saturating_sub(1) {
        with(format!("siblings {i} and {} swapped", i + 1), &|v| {
            swap(v, "/path", i)
        });
    }
    with("truncated".into(), &|v| {
        v["path"].as_array_mut().expect("path").pop();
    });
    with("extended".into(), &|v| {
        let root = v["first_root"].clone();
        v["path"].as_array_mut().expect("path").push(root);
    });
    with("emptied".into(), &|v| v["path"] = Value::Array(Vec::new()));
    with("a head of another tree".into(), &|v| {
        v["first_tree_head"] = other_head.clone();
        v["first_root"] = other_head["root"].clone();
    });
    forged
}

/// Every forgery is refused by the Rust checks with the key; returns the forged texts.
fn rejected_by_rust(forged: &[(String, Value)], key: &VerifyingKey, inclusion: bool) {
    for (what, value) in forged {
        let result = if inclusion {
            serde_json::from_value::<InclusionProof>(value.clone())
                .map_err(|e| e.to_string())
                .and_then(|p| check_inclusion(&p, Some(key)).map_err(|e| e.to_string()))
        } else {
            serde_json::from_value::<ConsistencyProof>(value.clone())
                .map_err(|e| e.to_string())
                .and_then(|p| check_consistency(&p, Some(key)).map_err(|e| e.to_string()))
        };
        assert!(result.is_err(), "the Rust check accepted a forgery: {what}");
    }
}

#[test]
fn forged_proofs_are_rejected_by_both_verifiers() {
    let f = fixture();
    let inclusion = inclusion_forgeries(&f.inclusion);
    rejected_by_rust(&inclusion, &f.key, true);
    // A head of another log (the same history, recorded at another time) for the same size.
    let other = fixture_at("2026-02-01T00:00:00Z");
    let other_head: Value = serde_json::from_str(&other.first_head).expect("JSON");
    let consistency = consistency_forgeries(&f.consistency, &other_head);
    rejected_by_rust(&consistency, &f.key, false);
    // The other log's valid proof with this log's heads: a proof for another tree.
    let mut crossed: Value = serde_json::from_str(&other.inclusion).expect("JSON");
    let ours: Value = serde_json::from_str(&f.inclusion).expect("JSON");
    crossed["root"] = ours["root"].clone();
    crossed["tree_head"] = ours["tree_head"].clone();
    let crossed = vec![("another tree's proof".to_string(), crossed)];
    rejected_by_rust(&crossed, &f.key, true);

    let Some(python) = python() else { return };
    let key = f.dir.join("key.pub").display().to_string();
    let scratch = tempfile::tempdir().expect("temp dir");
    // One byte flipped at positions spread over the whole file, too.
    let bytes = f.inclusion.as_bytes();
    let mut flipped = Vec::new();
    for at in (0..bytes.len()).step_by(bytes.len() / 40 + 1) {
        let mut b = bytes.to_vec();
        b[at] ^= 0x01;
        flipped.push((format!("byte {at} flipped"), b));
    }
    let cases = inclusion
        .iter()
        .chain(crossed.iter())
        .map(|(w, v)| ("inclusion", w.clone(), v.to_string().into_bytes()))
        .chain(flipped.into_iter().map(|(w, b)| ("inclusion", w, b)))
        .chain(
            consistency
                .iter()
                .map(|(w, v)| ("consistency", w.clone(), v.to_string().into_bytes())),
        );
    // One run of the verifier per kind, every forged file named on its command line.
    let mut files: std::collections::BTreeMap<&str, Vec<(String, String)>> = Default::default();
    for (n, (kind, what, bytes)) in cases.enumerate() {
        let file = scratch.path().join(format!("forged-{n}.json"));
        std::fs::write(&file, &bytes).expect("write");
        files
            .entry(kind)
            .or_default()
            .push((file.display().to_string(), what));
    }
    for (kind, files) in files {
        let mut args = vec![kind, "--pubkey", &key];
        args.extend(files.iter().map(|(file, _)| file.as_str()));
        let (passed, said) = python_verify(python, &args);
        assert!(!passed, "{said}");
        let lines: Vec<&str> = said.lines().collect();
        assert_eq!(lines.len(), files.len(), "{said}");
        for ((file, what), line) in files.iter().zip(lines) {
            assert!(
                line.starts_with(&format!("{file}: FAILED")),
                "the Python verifier accepted a forgery: {what}: {line}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        if std::env::var("LAGESBILD_SLOW_TESTS").is_ok_and(|v| v == "1") { 2_000 } else { 200 }
    ))]

    /// Any byte of a proof changed to any other value: the proof no longer parses, or the
    /// Rust check with the key rejects it.
    #[test]
    fn any_changed_byte_of_a_proof_is_rejected(inclusion in any::<bool>(), at in any::<usize>(), mask in 1u8..=255) {
        let (inclusion_text, consistency_text, key) = shared();
        let text = if inclusion { inclusion_text } else { consistency_text };
        let mut bytes = text.as_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] ^= mask;
        let original: Value = serde_json::from_str(text).expect("JSON");
        let Ok(changed) = serde_json::from_slice::<Value>(&bytes) else { return Ok(()) };
        // Some bytes carry no meaning (whitespace between tokens turned into other whitespace).
        prop_assume!(changed != original);
        let result = if inclusion {
            serde_json::from_value::<InclusionProof>(changed).map_err(|e| e.to_string())
                .and_then(|p| check_inclusion(&p, Some(key)).map_err(|e| e.to_string()))
        } else {
            serde_json::from_value::<ConsistencyProof>(changed).map_err(|e| e.to_string())
                .and_then(|p| check_consistency(&p, Some(key)).map_err(|e| e.to_string()))
        };
        prop_assert!(result.is_err(), "byte {} ^ {:#x} accepted", at, mask);
    }
}

fn tree_heads(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("opens");
    conn.query_row("SELECT count(*) FROM tree_heads", [], |row| row.get(0))
        .expect("counts")
}

/// Regression (issue 12): anyone who could write the file could cut off the log's tail and
/// plain `verify` passed. A signed tree head stored before the cut now makes it fail, naming
/// the head and how many events it covers.
#[test]
fn a_tail_cut_off_behind_the_triggers_fails_plain_verify() {
    let f = fixture();
    let db = f.dir.join("log.db");
    let conn = rusqlite::Connection::open(&db).expect("opens");
    conn.execute_batch(
        "DROP TRIGGER events_refuse_delete;
         DELETE FROM events WHERE seq > 100;
         CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
         BEGIN
             SELECT RAISE(ABORT, 'the event log is append-only: DELETE is refused; append a retraction instead');
         END;",
    )
    .expect("the attacker's edit");
    drop(conn);
    for args in [&["verify"][..], &["verify", "--quick"]] {
        let said = fails(&f.dir, args);
        assert!(
            said.contains("covers 108 events but the log holds only 100"),
            "{args:?}: {said}"
        );
    }
    // Nothing is signed over a log that no longer extends its last head.
    let said = fails(&f.dir, &["checkpoint", "--signing-key", "key.key"]);
    assert!(
        said.contains("does not extend the last signed tree head"),
        "{said}"
    );
}

#[test]
fn report_publish_signs_a_tree_head_covering_the_publication_when_a_key_is_configured() {
    let f = fixture();
    let before = tree_heads(&f.dir.join("log.db"));
    let said = ok(
        &f.dir,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--out-dir",
            "out",
            "--signing-key",
            "key.key",
        ],
    );
    assert!(said.contains("signed tree head:"), "{said}");
    assert_eq!(tree_heads(&f.dir.join("log.db")), before + 1);
    let head = ok(&f.dir, &["verify", "--pubkey", "key.pub"]);
    let seq = head
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .and_then(|h| h.split(':').next())
        .expect("a head line")
        .to_owned();
    assert!(
        said.contains(&format!("signed tree head: {seq} events")),
        "the head covers the publish event {seq}: {said}"
    );
    // Without a key, publish signs nothing.
    ok(
        &f.dir,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--out-dir",
            "out2",
        ],
    );
    assert_eq!(tree_heads(&f.dir.join("log.db")), before + 1);
}

#[test]
fn serve_signs_tree_heads_on_its_schedule_while_the_log_grows() {
    use std::io::BufRead;
    let f = fixture();
    let db = f.dir.join("log.db");
    let before = tree_heads(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(["serve", "--addr", "127.0.0.1:0", "--sth-interval", "1"])
        .args(["--signing-key", "key.key"])
        .current_dir(&f.dir)
        .env("LAGESBILD_DB", &db)
        .env("LAGESBILD_NOW", NOW)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    while !lines
        .next()
        .expect("an address line")
        .expect("reads")
        .starts_with("lagesbild serves ")
    {}
    let wait_for = |count: i64| {
        let started = std::time::Instant::now();
        while tree_heads(&db) < count {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "no tree head {count} after 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    // The fixture's last head covers the whole log: nothing new to sign until it grows.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    assert_eq!(tree_heads(&db), before);
    ok(&f.dir, &["note", "--section", "summary", "Ännu en not."]);
    wait_for(before + 1);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    child.wait().expect("stops");
    let said = ok(&f.dir, &["verify", "--pubkey", "key.pub"]);
    assert!(
        said.contains(&format!("{} signed tree heads match the log", before + 1)),
        "{said}"
    );
}
