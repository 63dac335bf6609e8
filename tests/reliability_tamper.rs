//! Tampering, beyond the store's property test (crates/store/tests/tamper.rs): damage done to the
//! file with other tools — a truncated file, a restored older copy, a dropped or altered
//! trigger, an edited `recorded_at` — each caught by `lagesbild verify` through the CLI, naming
//! the first bad event.

mod reliability_support;

use std::path::Path;

use reliability_support::{Workspace, path_str, synthetic_file};

/// A log with the bundled history and some synthetic events, closed cleanly.
fn log_with_events() -> Workspace {
    let workspace = Workspace::seeded();
    let file = workspace.file(
        "extra.jsonl",
        synthetic_file("manipulation", 2_000, "synt").as_bytes(),
    );
    workspace.run(&["import", path_str(&file)]).ok();
    workspace
}

fn count(workspace: &Workspace) -> u64 {
    workspace.events().len() as u64
}

/// `verify` failed, naming event `seq` first; returns its line.
fn assert_fails_at(workspace: &Workspace, args: &[&str], seq: Option<u64>) -> String {
    let run = workspace.run(args).failed();
    let line = run.stdout.lines().next().unwrap_or_default().to_owned();
    match seq {
        Some(seq) => assert!(
            line.starts_with(&format!("FAILED at event {seq}: ")),
            "expected the first bad event {seq}: {line:?} {}",
            run.stderr
        ),
        None => assert!(
            line.starts_with("FAILED at event "),
            "{line:?} {}",
            run.stderr
        ),
    }
    line
}

/// The first event whose row lies at or after byte `offset` cannot be known without reading
/// the b-tree; what must hold is that verify names an event, and no later event than the last.
fn event_number(line: &str) -> u64 {
    line.strip_prefix("FAILED at event ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event number in {line:?}"))
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy the database");
}

#[test]
fn a_truncated_database_file_is_caught_naming_the_first_lost_event() {
    let original = log_with_events();
    let total = count(&original);
    let size = std::fs::metadata(&original.db).expect("size").len();
    let mut observed = Vec::new();
    for (what, keep) in [
        ("a quarter", size / 4),
        ("half", size / 2),
        ("nine tenths", size * 9 / 10),
        ("all but the last page", size - 4096),
        ("all but 1000 bytes, mid-page", size - 1000),
        ("all but one byte", size - 1),
        ("the header alone", 100),
        ("50 bytes", 50),
        ("nothing", 0),
    ] {
        let damaged = Workspace::new();
        copy(&original.db, &damaged.db);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&damaged.db)
            .and_then(|f| f.set_len(keep))
            .expect("truncate");
        let line = assert_fails_at(&damaged, &["verify"], None);
        let seq = event_number(&line);
        assert!(seq >= 1 && seq <= total + 1, "{what}: {line}");
        assert!(line.contains("truncated"), "{what}: {line}");
        observed.push(format!("{what} ({keep} of {size} bytes): {line}"));
    }
    eprintln!("{}", observed.join("\n"));
}

#[test]
fn a_restored_older_copy_is_caught_against_the_kept_head() {
    let workspace = log_with_events();
    let older = workspace.dir.path().join("aldre.db");
    copy(&workspace.db, &older);
    let file = workspace.file(
        "senare.jsonl",
        synthetic_file("senare", 10, "synt").as_bytes(),
    );
    workspace.run(&["import", path_str(&file)]).ok();
    let kept = workspace.head();
    let kept_seq: u64 = kept
        .split(':')
        .next()
        .expect("seq")
        .parse()
        .expect("a number");

    // Someone puts the older copy back: it is a valid log on its own...
    copy(&older, &workspace.db);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", workspace.db.display()));
    }
    workspace.verify();
    // ...but not the log whose head was kept.
    let line = assert_fails_at(
        &workspace,
        &["verify", "--expect-head", &kept],
        Some(kept_seq),
    );
    assert!(line.contains("older copy was restored"), "{line}");
}

/// Runs SQL on the database with the triggers out of the way, the way someone with write
/// access to the file could, putting the triggers back as they were afterwards.
fn edit_behind_the_triggers(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).expect("open");
    let triggers: Vec<String> = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")
        .and_then(|mut s| {
            s.query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .expect("the triggers");
    assert_eq!(triggers.len(), 2);
    conn.execute_batch("DROP TRIGGER events_refuse_update; DROP TRIGGER events_refuse_delete;")
        .expect("drop the triggers");
    conn.execute_batch(sql).expect("the edit");
    for trigger in triggers {
        conn.execute_batch(&trigger).expect("put the trigger back");
    }
}

#[test]
fn a_dropped_or_altered_trigger_is_caught() {
    let workspace = log_with_events();
    let head = count(&workspace);
    let conn = rusqlite::Connection::open(&workspace.db).expect("open");
    conn.execute_batch("DROP TRIGGER events_refuse_delete")
        .expect("drop a trigger");
    drop(conn);
    let line = assert_fails_at(&workspace, &["verify"], Some(head));
    assert!(
        line.contains("trigger events_refuse_delete is missing"),
        "{line}"
    );

    let workspace = log_with_events();
    let conn = rusqlite::Connection::open(&workspace.db).expect("open");
    conn.execute_batch(
        "DROP TRIGGER events_refuse_update;
         CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events WHEN 0 BEGIN SELECT 1; END;",
    )
    .expect("alter a trigger");
    drop(conn);
    let line = assert_fails_at(&workspace, &["verify"], Some(head));
    assert!(
        line.contains("trigger events_refuse_update was altered"),
        "{line}"
    );
}

#[test]
fn an_edited_recorded_at_is_caught_at_that_event() {
    for (what, seq, recorded_at, expected) in [
        // Earlier than the event before it: the order of transaction time is broken.
        (
            "moved earlier",
            500,
            "2000-01-01T00:00:00.000000Z",
            "earlier than the previous",
        ),
        // Later, but still in order: the hash no longer matches.
        (
            "moved later",
            1_500,
            "2026-01-01T00:00:00.000001Z",
            "the event was changed",
        ),
        // The same instant written another way: not the stored form.
        (
            "rewritten",
            2_000,
            "2026-01-01T01:00:00+01:00",
            "stored form",
        ),
    ] {
        let workspace = log_with_events();
        edit_behind_the_triggers(
            &workspace.db,
            &format!("UPDATE events SET recorded_at = '{recorded_at}' WHERE seq = {seq}"),
        );
        let line = assert_fails_at(&workspace, &["verify"], Some(seq));
        assert!(line.contains(expected), "{what}: {line}");
    }
}
