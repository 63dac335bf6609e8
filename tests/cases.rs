//! Data-driven end-to-end cases: each folder in tests/cases/ holds the events to import, the
//! commands to run and the expected output. `UPDATE_EXPECT=1 cargo test --test cases` rewrites
//! the expected files on purpose; review their diff like code.
//!
//! A case folder holds:
//! - `events.jsonl` (optional): imported into an empty log at 2026-01-01T00:00:00Z; without it the
//!   case runs on the bundled Millennium history;
//! - `later.jsonl` (optional): imported at 2026-06-01T00:00:00Z, after the first snapshot, so that
//!   `--known-at` can look from before it;
//! - `commands`: one lagesbild command line per line (arguments split on spaces; `#` lines skipped);
//! - `expected.txt`: every command's output, each after a `$ command` line.

use std::path::Path;
use std::process::Command;

fn run(db: &Path, now: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(args)
        .env("LAGESBILD_DB", db)
        .env("LAGESBILD_NOW", now)
        .output()
        .expect("the binary runs");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        text.push_str(&format!(
            "[exit {}] {}",
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    text
}

fn run_case(dir: &Path) -> (String, String) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join("case.db");
    let first = "2026-01-01T00:00:00Z";
    let events = dir.join("events.jsonl");
    if events.exists() {
        run(&db, first, &["init", "--empty"]);
        let out = run(
            &db,
            first,
            &["import", events.to_str().expect("UTF-8 path")],
        );
        assert!(
            out.starts_with("appended"),
            "{}: import failed: {out}",
            dir.display()
        );
    } else {
        run(&db, first, &["init"]);
    }
    let later = dir.join("later.jsonl");
    if later.exists() {
        let out = run(
            &db,
            "2026-06-01T00:00:00Z",
            &["import", later.to_str().expect("UTF-8 path")],
        );
        assert!(
            out.starts_with("appended"),
            "{}: later import failed: {out}",
            dir.display()
        );
    }
    let commands = std::fs::read_to_string(dir.join("commands")).expect("a commands file");
    let mut actual = String::new();
    for line in commands
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let args: Vec<&str> = line.split_whitespace().collect();
        actual.push_str(&format!("$ {line}\n"));
        actual.push_str(&run(&db, "2026-12-01T00:00:00Z", &args));
    }
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap_or_default();
    (actual, expected)
}

#[test]
fn every_case_folder_gives_its_expected_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases in {}", root.display());
    let update = std::env::var("UPDATE_EXPECT").is_ok();
    let mut failed = Vec::new();
    for dir in &dirs {
        let (actual, expected) = run_case(dir);
        if actual == expected {
            continue;
        }
        if update {
            std::fs::write(dir.join("expected.txt"), &actual).expect("write expected.txt");
            eprintln!("updated {}", dir.display());
            continue;
        }
        let diff = similar::TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .header("expected.txt", "actual")
            .to_string();
        failed.push(format!("{}:\n{diff}", dir.display()));
    }
    assert!(
        failed.is_empty(),
        "cases differ (UPDATE_EXPECT=1 to accept):\n{}",
        failed.join("\n")
    );
}
