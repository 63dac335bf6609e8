//! Crashes: `lagesbild import --batch-size N` of a large file is killed with SIGKILL at seeded
//! random moments. After each kill the log must hold whole batches only, every batch the
//! process reported committed among them, `verify` must pass, and the same import run again
//! must complete the log without duplicates. The full trial count runs with
//! `LAGESBILD_SLOW_TESTS=1`; RELIABILITY.md records what was observed.

mod reliability_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reliability_support::{
    Rng, Workspace, assert_gapless_and_unique, path_str, slow, synthetic_file,
};

/// One `committed lines A-B of FILE: events X-Y` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Committed {
    first_line: usize,
    last_line: usize,
    events: Option<(u64, u64)>,
}

fn parse_committed(line: &str) -> Option<Committed> {
    let rest = line.strip_prefix("committed lines ")?;
    let (lines, rest) = rest.split_once(" of ")?;
    let (first, last) = lines.split_once('-')?;
    let (_, events) = rest.rsplit_once(": ")?;
    let events = match events.strip_prefix("events ") {
        Some(range) => {
            let range = range.split(' ').next()?;
            let (x, y) = range.split_once('-')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        }
        None => None,
    };
    Some(Committed {
        first_line: first.parse().ok()?,
        last_line: last.parse().ok()?,
        events,
    })
}

#[test]
fn the_committed_line_format_is_what_the_harness_reads() {
    assert_eq!(
        parse_committed("committed lines 1-250 of /tmp/x/e.jsonl: events 1-250"),
        Some(Committed {
            first_line: 1,
            last_line: 250,
            events: Some((1, 250))
        })
    );
    assert_eq!(
        parse_committed("committed lines 251-500 of e.jsonl: no new events (250 already present)")
            .map(|c| c.events),
        Some(None)
    );
}

/// What one trial saw.
#[derive(Debug, Default)]
struct Outcome {
    reported: usize,
    present: usize,
    unreported_batches: usize,
    finished_before_kill: bool,
}

/// When to kill: a moment counted from the start (during startup and the checking pass), or
/// from the first batch reported committed (while batches are being committed).
#[derive(Debug, Clone, Copy)]
enum KillAt {
    FromStart(Duration),
    AfterFirstCommit(Duration),
}

fn trial(
    file: &std::path::Path,
    total: usize,
    batch: usize,
    kill_at: KillAt,
    seed: u64,
) -> Outcome {
    let workspace = Workspace::empty();
    let batch_text = batch.to_string();
    let mut child = workspace
        .command(&["import", "--batch-size", &batch_text, path_str(file)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (first_line, first_line_seen) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.is_empty() {
                let _ = first_line.send(());
            }
            lines.push(line);
        }
        lines
    });
    match kill_at {
        KillAt::FromStart(after) => std::thread::sleep(after),
        KillAt::AfterFirstCommit(after) => {
            // The channel closes without a line if the import ends first.
            let _ = first_line_seen.recv_timeout(Duration::from_secs(120));
            std::thread::sleep(after);
        }
    }
    let finished_before_kill = child.try_wait().expect("wait").is_some();
    let _ = child.kill(); // SIGKILL on Unix
    child.wait().expect("the child ends");
    let lines = reader.join().expect("the reader thread");
    let reported: Vec<Committed> = lines.iter().filter_map(|l| parse_committed(l)).collect();

    // The log after the kill: verify passes (the first open after a crash recovers the WAL).
    workspace.verify();
    let rows = workspace.events();
    assert_gapless_and_unique(&rows);
    let present = rows.len();
    // Whole batches only: the events present are the first `present` lines of the file, and
    // `present` is a batch boundary.
    assert!(
        present.is_multiple_of(batch) || present == total,
        "seed {seed}: {present} events present, not a whole number of batches of {batch}"
    );
    for (index, row) in rows.iter().enumerate() {
        let expected = format!("krasch-{:06}", index + 1);
        assert_eq!(row.key.as_deref(), Some(expected.as_str()), "seed {seed}");
    }
    // Every batch reported committed is present, with the events it named.
    for (index, committed) in reported.iter().enumerate() {
        assert_eq!(committed.first_line, index * batch + 1, "seed {seed}");
        let (x, y) = committed.events.expect("a fresh log appends every batch");
        assert_eq!(
            (x, y),
            (committed.first_line as u64, committed.last_line as u64),
            "seed {seed}"
        );
        assert!(
            y as usize <= present,
            "seed {seed}: batch {committed:?} was reported committed but the log holds {present} events"
        );
    }
    let reported_events = reported.last().map_or(0, |c| c.last_line);
    // A kill between a commit and its line may leave one batch committed but unreported.
    let unreported = present - reported_events;
    assert!(
        unreported <= batch,
        "seed {seed}: {unreported} events present beyond the reported batches"
    );

    // The same import again completes the log, adding each missing event once.
    let run = workspace
        .run(&["import", "--batch-size", &batch_text, path_str(file)])
        .ok();
    assert!(
        run.stdout
            .contains(&format!("appended {} of {total} events", total - present)),
        "seed {seed}: {}",
        run.stdout
    );
    workspace.verify();
    let rows = workspace.events();
    assert_eq!(rows.len(), total, "seed {seed}");
    assert_gapless_and_unique(&rows);
    Outcome {
        reported: reported.len(),
        present,
        unreported_batches: usize::from(unreported > 0),
        finished_before_kill,
    }
}

#[test]
fn an_import_killed_at_random_moments_keeps_whole_reported_batches_and_a_rerun_completes_it() {
    let (total, batch, trials) = if slow() {
        (6_000, 200, 24)
    } else {
        (1_500, 100, 3)
    };
    let data = Workspace::new();
    let file = data.file(
        "krasch.jsonl",
        synthetic_file("krasch", total, "krasch").as_bytes(),
    );

    // How long the checking pass and the commits take here, so that kill moments spread over
    // both: one trial in four is killed counting from the start (mostly while every line is
    // checked, before anything is written), the others counting from the first commit.
    let calibration = Workspace::empty();
    let started = Instant::now();
    let mut child = calibration
        .command(&[
            "import",
            "--batch-size",
            &batch.to_string(),
            path_str(&file),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let _ = lines.next();
    let to_first_commit = started.elapsed();
    lines.for_each(drop);
    assert!(child.wait().expect("ends").success());
    let full = started.elapsed();
    let commits = full.saturating_sub(to_first_commit);

    let mut rng = Rng::new(0x1a6e_5b11d);
    let mut summary = Vec::new();
    for index in 0..trials {
        let seed = rng.next_u64();
        let mut trial_rng = Rng::new(seed);
        let kill_at = if index % 4 == 0 {
            let span = to_first_commit.as_millis() as u64 * 12 / 10;
            KillAt::FromStart(Duration::from_millis(trial_rng.below(span.max(1))))
        } else {
            let span = commits.as_millis() as u64;
            KillAt::AfterFirstCommit(Duration::from_millis(trial_rng.below(span.max(1))))
        };
        let outcome = trial(&file, total, batch, kill_at, seed);
        let when = match kill_at {
            KillAt::FromStart(d) => format!("{:5} ms after the start", d.as_millis()),
            KillAt::AfterFirstCommit(d) => format!("{:5} ms after the first commit", d.as_millis()),
        };
        summary.push(format!(
            "trial {index:2} seed {seed:016x}: killed {when}; {:3} batches reported, {:5} events present{}{}",
            outcome.reported,
            outcome.present,
            if outcome.unreported_batches > 0 {
                ", one batch committed but not yet reported"
            } else {
                ""
            },
            if outcome.finished_before_kill {
                ", finished before the kill"
            } else {
                ""
            },
        ));
    }
    eprintln!(
        "crash harness: {trials} trials, {total} events in batches of {batch}; a whole import took {} ms, the first commit came after {} ms\n{}",
        full.as_millis(),
        to_first_commit.as_millis(),
        summary.join("\n")
    );
}
