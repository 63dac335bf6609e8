//! Concurrent writers: four processes appending through the CLI to one database at the same
//! time. Every event must be in the log exactly once, the sequence gapless, the chain valid;
//! a stale expected version must be reported as a conflict, never as damage; a writer that
//! waits too long for another must give up within its busy timeout and say so.

mod reliability_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use reliability_support::{
    Workspace, assert_gapless_and_unique, path_str, slow, synthetic_file, writing_commands,
};

const WRITERS: usize = 4;

#[test]
fn four_importers_at_once_append_every_event_exactly_once_with_a_gapless_valid_chain() {
    let (per_writer, batch) = if slow() { (2_500, 25) } else { (300, 10) };
    let workspace = Workspace::empty();
    let files: Vec<_> = (0..WRITERS)
        .map(|w| {
            let prefix = format!("skrivare{w}");
            // Two writers share a stream, two have their own: stream versions are contended too.
            let stream = if w < 2 {
                "delad".to_owned()
            } else {
                prefix.clone()
            };
            workspace.file(
                &format!("{prefix}.jsonl"),
                synthetic_file(&prefix, per_writer, &stream).as_bytes(),
            )
        })
        .collect();
    let batch_text = batch.to_string();
    let started = Instant::now();
    let children: Vec<_> = files
        .iter()
        .map(|file| {
            workspace
                .command(&["import", "--batch-size", &batch_text, path_str(file)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary starts")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| reliability_support::from_output(child.wait_with_output().expect("ends")))
        .collect();
    let elapsed = started.elapsed();
    for output in outputs {
        output.ok();
    }

    workspace.verify();
    let rows = workspace.events();
    assert_eq!(rows.len(), WRITERS * per_writer);
    assert_gapless_and_unique(&rows);
    for w in 0..WRITERS {
        let prefix = format!("skrivare{w}-");
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with(&prefix)))
            .collect();
        assert_eq!(mine.len(), per_writer, "writer {w}");
        // Each writer's events keep its file's order.
        assert!(mine.windows(2).all(|p| p[0].key < p[1].key), "writer {w}");
    }
    // How often the log switches from one writer's batch to another's: the writers really ran
    // at the same time.
    let writer_of = |key: &Option<String>| key.as_deref().map(|k| k.as_bytes()[8]);
    let switches = rows
        .windows(2)
        .filter(|p| writer_of(&p[0].key) != writer_of(&p[1].key))
        .count();
    eprintln!(
        "{WRITERS} importers x {per_writer} events in batches of {batch}: {} ms, {switches} switches between writers in the log",
        elapsed.as_millis()
    );
    assert!(switches >= WRITERS - 1);
}

/// The version a successful `append` reports: `appended event 12 (stream version 3), head …`.
fn reported_version(stdout: &str) -> Option<u64> {
    let rest = stdout.split("(stream version ").nth(1)?;
    rest.split(')').next()?.parse().ok()
}

/// The actual version a conflict reports: `stream "x" is at version 7, not the expected 5`.
fn conflict_version(stderr: &str) -> Option<u64> {
    let rest = stderr.split(" is at version ").nth(1)?;
    rest.split(',').next()?.parse().ok()
}

#[test]
fn four_appenders_with_expected_versions_see_conflicts_reported_as_conflicts() {
    let per_writer = if slow() { 30 } else { 6 };
    let workspace = Workspace::empty();
    let db = workspace.db.clone();
    let dir = workspace.dir.path().to_owned();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut expected = 0u64;
                let mut conflicts = 0usize;
                for n in 0..per_writer {
                    let key = format!("version-{w}-{n:03}");
                    let summary = format!("Skrivare {w} lägger till händelse {n}.");
                    loop {
                        let output = reliability_support::command_for(
                            &db,
                            &dir,
                            &[
                                "append",
                                "--kind",
                                "fact_reported",
                                "--occurred",
                                "2025",
                                "--stream",
                                "konflikt",
                                "--key",
                                &key,
                                "--summary",
                                &summary,
                                "--source-title",
                                "Testkälla",
                                "--expect-version",
                                &expected.to_string(),
                            ],
                        )
                        .output()
                        .expect("the binary runs");
                        let run = reliability_support::from_output(output);
                        if run.code == Some(0) {
                            expected = reported_version(&run.stdout)
                                .unwrap_or_else(|| panic!("no version in {}", run.stdout));
                            break;
                        }
                        assert_eq!(run.code, Some(1), "writer {w}: {}", run.stderr);
                        assert!(
                            run.stderr
                                .starts_with("error: conflict: stream \"konflikt\" is at version")
                                && run.stderr.contains("nothing was written"),
                            "writer {w}: a refusal other than a conflict: {}",
                            run.stderr
                        );
                        let actual = conflict_version(&run.stderr).expect("the actual version");
                        assert!(actual > expected, "writer {w}: versions only grow");
                        expected = actual;
                        conflicts += 1;
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: usize = writers
        .into_iter()
        .map(|w| w.join().expect("a writer thread"))
        .sum();
    workspace.verify();
    let rows = workspace.events();
    assert_eq!(rows.len(), WRITERS * per_writer);
    assert_gapless_and_unique(&rows);
    eprintln!(
        "{WRITERS} appenders x {per_writer} events with --expect-version: {conflicts} conflicts, each reported as a conflict and retried"
    );
}

#[test]
fn a_writer_held_up_by_another_gives_up_within_its_busy_timeout_and_says_so() {
    let workspace = Workspace::empty();
    let file = workspace.file(
        "vantar.jsonl",
        synthetic_file("vantar", 5, "vantar").as_bytes(),
    );
    let before = workspace.head();

    // Another writer holds the write lock (an open BEGIN IMMEDIATE transaction).
    let holder = rusqlite::Connection::open(&workspace.db).expect("open");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");

    for args in writing_commands("Väntar.", &file) {
        let started = Instant::now();
        let output = workspace
            .command(&args)
            .env("LAGESBILD_BUSY_TIMEOUT_MS", "400")
            .output()
            .expect("the binary runs");
        let elapsed = started.elapsed();
        let run = reliability_support::from_output(output).failed();
        assert!(
            run.stderr.contains(
                "the database stayed locked by another writer for more than 400 ms; nothing was written, try again"
            ),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(10),
            "{args:?}: gave up after {elapsed:?}"
        );
        eprintln!("{args:?} gave up after {} ms", elapsed.as_millis());
    }
    // Readers are not held up by a writer: verify passes meanwhile, and nothing was written.
    assert_eq!(workspace.head(), before);

    holder.execute_batch("ROLLBACK").expect("release the lock");
    drop(holder);
    workspace
        .command(&["import", path_str(&file)])
        .env("LAGESBILD_BUSY_TIMEOUT_MS", "400")
        .output()
        .map(reliability_support::from_output)
        .expect("runs")
        .ok();
    assert_eq!(workspace.events().len(), 5);
    workspace.verify();

    let run = workspace
        .command(&["log"])
        .env("LAGESBILD_BUSY_TIMEOUT_MS", "soon")
        .output()
        .map(reliability_support::from_output)
        .expect("runs")
        .failed();
    assert!(
        run.stderr.contains("LAGESBILD_BUSY_TIMEOUT_MS"),
        "{}",
        run.stderr
    );
}
