//! What the reliability tests share: running the binary against a database in a temporary
//! folder, synthetic events with keys, reading the log back with plain SQLite, a seeded random
//! number generator, and mounting file systems where the machine allows it.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_lagesbild");
pub const NOW: &str = "2026-01-01T00:00:00Z";

/// Whether the slow suites run (`.ci/run` sets `LAGESBILD_SLOW_TESTS=1`).
pub fn slow() -> bool {
    std::env::var_os("LAGESBILD_SLOW_TESTS").is_some_and(|v| v == "1")
}

/// Whether this is CI (`CI=true`), where a test that cannot run must fail instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// A reported failure: exit 1, not a panic (101) or a signal.
    pub fn failed(self) -> Run {
        assert_eq!(
            self.code,
            Some(1),
            "expected a reported failure (exit 1)\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }
}

pub fn from_output(output: Output) -> Run {
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A temporary folder with a database path in it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("logg.db");
        Workspace { dir, db }
    }

    /// A workspace with an empty log (schema only).
    pub fn empty() -> Workspace {
        let workspace = Workspace::new();
        workspace.run(&["init", "--empty"]).ok();
        workspace
    }

    /// A workspace whose log holds the bundled history.
    pub fn seeded() -> Workspace {
        let workspace = Workspace::new();
        workspace.run(&["init"]).ok();
        workspace
    }

    pub fn at(db: PathBuf) -> Workspace {
        let dir = tempfile::tempdir().expect("a temporary folder");
        Workspace { dir, db }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        command_for(&self.db, self.dir.path(), args)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        from_output(self.command(args).output().expect("the binary runs"))
    }

    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write a file");
        path
    }

    /// `verify`'s whole output, asserting it passed.
    pub fn verify(&self) -> String {
        self.run(&["verify"]).ok().stdout
    }

    /// The `SEQ:HASH` of a passing `verify`.
    pub fn head(&self) -> String {
        head_of(&self.verify())
    }

    pub fn events(&self) -> Vec<Row> {
        rows(&self.db)
    }
}

pub fn command_for(db: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .arg("--db")
        .arg(db)
        .current_dir(dir)
        .env("LAGESBILD_NOW", NOW)
        .env_remove("LAGESBILD_DB")
        .env_remove("LAGESBILD_BUSY_TIMEOUT_MS")
        .env_remove("RUST_LOG");
    command
}

/// The `SEQ:HASH` of `verify`'s head line.
pub fn head_of(verify_output: &str) -> String {
    verify_output
        .lines()
        .find_map(|line| line.strip_prefix("head: "))
        .unwrap_or_else(|| panic!("no head line in {verify_output:?}"))
        .to_owned()
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// One synthetic event with a key, on one line: `{prefix}-{index}` in `stream`.
pub fn synthetic_event(prefix: &str, index: usize, stream: &str) -> String {
    format!(
        r#"{{"key":"{prefix}-{index:06}","kind":"fact_reported","occurred":"2024-{month:02}","stream":"{stream}","summary":"Syntetisk uppgift {index} från {prefix}.","source":{{"title":"Syntetisk källa"}}}}"#,
        month = index % 12 + 1
    )
}

/// `count` synthetic events as a JSON Lines text.
pub fn synthetic_file(prefix: &str, count: usize, stream: &str) -> String {
    let mut text = String::with_capacity(count * 200);
    for index in 1..=count {
        text.push_str(&synthetic_event(prefix, index, stream));
        text.push('\n');
    }
    text
}

/// One event of the log as plain SQLite holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub seq: u64,
    pub key: Option<String>,
    pub stream: String,
    pub stream_version: u64,
}

/// Every event of the log, in sequence order, read with SQLite alone (read-only).
pub fn rows(db: &Path) -> Vec<Row> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the log read-only");
    let mut statement = conn
        .prepare("SELECT seq, key, stream, stream_version FROM events ORDER BY seq")
        .expect("the events table");
    statement
        .query_map([], |row| {
            Ok(Row {
                seq: row.get::<_, i64>(0)? as u64,
                key: row.get(1)?,
                stream: row.get(2)?,
                stream_version: row.get::<_, i64>(3)? as u64,
            })
        })
        .expect("read the events")
        .collect::<Result<_, _>>()
        .expect("read the events")
}

/// Asserts the invariants every writer must keep: sequence 1..n without gaps, every key once,
/// every stream's versions 1..k without gaps.
pub fn assert_gapless_and_unique(rows: &[Row]) {
    let mut keys = HashSet::new();
    let mut versions: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, index as u64 + 1, "sequence numbers have a gap");
        if let Some(key) = &row.key {
            assert!(keys.insert(key.clone()), "key {key} is in the log twice");
        }
        let version = versions.entry(row.stream.as_str()).or_insert(0);
        *version += 1;
        assert_eq!(
            row.stream_version, *version,
            "stream {} has a gap at event {}",
            row.stream, row.seq
        );
    }
}

/// A small seeded generator (SplitMix64), so that every trial can be rerun from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A file system mounted for one test, unmounted when dropped.
pub struct Mount {
    pub path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` (e.g. "2m") at `path`; `Err` says why not.
    pub fn tmpfs(path: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        run_mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            path_str(path),
        ])?;
        Ok(Mount {
            path: path.to_owned(),
        })
    }

    /// Makes `path` (a folder) read-only by bind-mounting it on itself and remounting the bind
    /// read-only; this stops root too, where chmod does not.
    pub fn read_only_bind(path: &Path) -> Result<Mount, String> {
        run_mount(&["--bind", path_str(path), path_str(path)])?;
        let mount = Mount {
            path: path.to_owned(),
        };
        run_mount(&["-o", "remount,bind,ro", path_str(path)])?;
        Ok(mount)
    }
}

fn run_mount(args: &[&str]) -> Result<(), String> {
    let output = Command::new("mount")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "mount {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Reports loudly that a test could not run here; fails under CI, where it must run.
pub fn skipped(test: &str, why: &str) {
    let message = format!("SKIPPED {test}: {why}");
    if in_ci() {
        panic!("{message} (CI=true: this test must run in CI)");
    }
    eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
}

/// The three ways to write through the CLI: one append, an import in one transaction, and a
/// batched import of `file`.
pub fn writing_commands<'a>(summary: &'a str, file: &'a Path) -> Vec<Vec<&'a str>> {
    vec![
        vec![
            "append",
            "--kind",
            "fact_reported",
            "--occurred",
            "2025",
            "--summary",
            summary,
            "--source-title",
            "T",
        ],
        vec!["import", path_str(file)],
        vec!["import", "--batch-size", "1", path_str(file)],
    ]
}
