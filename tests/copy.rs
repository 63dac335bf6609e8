//! Choosing the backend with `--db` / `LAGESBILD_DB`, `init` on PostgreSQL, and `copy` between
//! backends, through the `lagesbild` binary: a log copied SQLite → PostgreSQL → SQLite keeps
//! its head hash, an export of one restored into the other gives the same hashes, a target that
//! holds events is refused and left as it was, and an unreachable server or a missing or newer
//! schema is an error naming the database without its password.
//!
//! The PostgreSQL cases use the server named by `LAGESBILD_TEST_PG` (a fresh database each);
//! without it they say so loudly and pass, except under `CI=true`, where they fail.

use std::path::Path;
use std::process::{Command, Output};

use lagesbild_store::testing::{execute, fresh_database, postgres_test_url};

const BIN: &str = env!("CARGO_BIN_EXE_lagesbild");
const NOW: &str = "2026-01-01T00:00:00Z";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn failed(self) -> Run {
        assert_eq!(
            self.code,
            Some(1),
            "expected a reported failure (exit 1, not a panic)\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `lagesbild ARGS` with the clock fixed; the log is chosen by the arguments.
fn run(args: &[&str]) -> Run {
    let output: Output = Command::new(BIN)
        .args(args)
        .env("LAGESBILD_NOW", NOW)
        .env_remove("LAGESBILD_DB")
        .output()
        .expect("runs lagesbild");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `lagesbild --db DB ARGS`.
fn on(db: &str, args: &[&str]) -> Run {
    let mut all = vec!["--db", db];
    all.extend_from_slice(args);
    run(&all)
}

/// The head `verify` prints (`SEQ:HASH`), after checking that the log verifies.
fn verified_head(db: &str) -> String {
    let verified = on(db, &["verify"]).ok();
    verified
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("head: "))
        .unwrap_or_else(|| panic!("no head in {}", verified.stdout))
        .to_owned()
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// A SQLite log holding the bundled history and a published report (so that the copy's check
/// of published reports has something to check).
fn seeded_file(dir: &Path, name: &str) -> String {
    let db = text(&dir.join(name)).to_owned();
    on(&db, &["init"]).ok();
    let out = dir.join("rapporter");
    on(
        &db,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--out-dir",
            text(&out),
        ],
    )
    .ok();
    db
}

#[test]
fn a_copy_between_files_keeps_every_hash_and_refuses_a_target_that_holds_events() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let source = seeded_file(dir.path(), "a.db");
    let head = verified_head(&source);

    let target = text(&dir.path().join("b.db")).to_owned();
    let copied = run(&["copy", "--from", &source, "--to", &target]).ok();
    assert!(copied.stdout.contains(&head), "{}", copied.stdout);
    assert_eq!(verified_head(&target), head);

    // Again into the same target: it holds events now, and stays as it is.
    let refused = run(&["copy", "--from", &source, "--to", &target]).failed();
    assert!(
        refused.stderr.contains("already holds") && refused.stderr.contains("nothing was copied"),
        "{}",
        refused.stderr
    );
    assert_eq!(verified_head(&target), head);

    let same = run(&["copy", "--from", &source, "--to", &source]).failed();
    assert!(same.stderr.contains("the same log"), "{}", same.stderr);

    // A missing source creates nothing, neither there nor at the target.
    let missing = text(&dir.path().join("finns-inte.db")).to_owned();
    let new_target = dir.path().join("c.db");
    let refused = run(&["copy", "--from", &missing, "--to", text(&new_target)]).failed();
    assert!(
        refused.stderr.contains("does not exist"),
        "{}",
        refused.stderr
    );
    assert!(!Path::new(&missing).exists());
    assert!(!new_target.exists());
}

#[test]
fn an_unreachable_server_is_named_without_its_password() {
    // Nothing listens on port 1 of loopback.
    let url = "postgres://skribent:hemligt@127.0.0.1:1/lagesbild";
    for args in [&["log"][..], &["init"], &["verify"], &["serve"]] {
        let refused = on(url, args).failed();
        assert!(
            refused
                .stderr
                .contains("postgres://skribent:***@127.0.0.1:1/lagesbild"),
            "{args:?}: {}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("cannot connect"),
            "{args:?}: {}",
            refused.stderr
        );
        assert!(!refused.stderr.contains("hemligt"), "{}", refused.stderr);
    }
    // LAGESBILD_DB chooses it too.
    let output = Command::new(BIN)
        .arg("log")
        .env("LAGESBILD_DB", url)
        .output()
        .expect("runs lagesbild");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("skribent:***@127.0.0.1:1"), "{stderr}");
}

#[test]
fn init_creates_the_schema_on_postgres_and_a_missing_or_newer_schema_is_refused() {
    let Some(server) = postgres_test_url("init on PostgreSQL") else {
        return;
    };
    let url = fresh_database(&server, "lagesbild_cli");
    let refused = on(&url, &["log"]).failed();
    assert!(
        refused.stderr.contains("no lagesbild log") && refused.stderr.contains("init"),
        "{}",
        refused.stderr
    );
    let created = on(&url, &["init"]).ok();
    assert!(
        created
            .stderr
            .contains("imported the bundled Millennium history"),
        "{}",
        created.stderr
    );
    // The same history as in a file, event for event.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = text(&dir.path().join("logg.db")).to_owned();
    on(&file, &["init"]).ok();
    assert_eq!(verified_head(&url), verified_head(&file));
    let again = on(&url, &["init"]).ok();
    assert!(again.stdout.contains("exists already"), "{}", again.stdout);

    execute(&url, "INSERT INTO schema_version (version) VALUES (999)");
    let newer = on(&url, &["log"]).failed();
    assert!(
        newer.stderr.contains("newer than this program"),
        "{}",
        newer.stderr
    );
}

#[test]
fn a_log_copied_sqlite_to_postgres_to_sqlite_keeps_its_head_and_exports_restore_alike() {
    let Some(server) = postgres_test_url("copy between SQLite and PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let source = seeded_file(dir.path(), "a.db");
    let head = verified_head(&source);

    // SQLite → PostgreSQL (its schema created by the copy) → SQLite.
    let postgres = fresh_database(&server, "lagesbild_cli");
    run(&["copy", "--from", &source, "--to", &postgres]).ok();
    assert_eq!(verified_head(&postgres), head);
    let back = text(&dir.path().join("tillbaka.db")).to_owned();
    run(&["copy", "--from", &postgres, "--to", &back]).ok();
    assert_eq!(verified_head(&back), head);

    // A PostgreSQL target that holds events is refused and left as it was.
    let refused = run(&["copy", "--from", &source, "--to", &postgres]).failed();
    assert!(
        refused.stderr.contains("already holds"),
        "{}",
        refused.stderr
    );
    assert_eq!(verified_head(&postgres), head);

    // The exports of the two are the same bytes, and each restores into the other backend with
    // the same head.
    let from_file = dir.path().join("fil.jsonl");
    let from_postgres = dir.path().join("postgres.jsonl");
    on(&source, &["export", "--output", text(&from_file)]).ok();
    on(&postgres, &["export", "--output", text(&from_postgres)]).ok();
    let exported = std::fs::read(&from_file).expect("reads");
    assert_eq!(
        exported,
        std::fs::read(&from_postgres).expect("reads"),
        "the exports differ"
    );
    let restored = fresh_database(&server, "lagesbild_cli");
    on(&restored, &["restore", text(&from_file)]).ok();
    assert_eq!(verified_head(&restored), head);
    let restored_file = text(&dir.path().join("aterstalld.db")).to_owned();
    on(&restored_file, &["restore", text(&from_postgres)]).ok();
    assert_eq!(verified_head(&restored_file), head);
}
