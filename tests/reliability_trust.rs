//! Trust in what users read, tried as an attacker with write access would (issue 12): forged
//! provenance through `import`, a publish head that must cover the publish event, restores of a
//! truncated or rechained export against an expected head, and edits of the caches beside the
//! log (checkpoints, the material index) that must never reach a report, the waves or a
//! "byte-identical". Each test is named after what broke; `RELIABILITY.md` has the table.

mod reliability_support;

use reliability_support::{Workspace, path_str};

/// A log with the bundled history and the report of 27 December 2024 published; returns the
/// workspace and the publish command's output.
fn published() -> (Workspace, String) {
    let workspace = Workspace::seeded();
    let out = workspace
        .run(&[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T11:15",
        ])
        .ok()
        .stdout;
    (workspace, out)
}

fn forged_report(log_seq: u64, head_hash: &str, template_digest: &str, sha256: &str) -> String {
    serde_json::json!({
        "kind": "report_published",
        "occurred": "2024-12-27T11:15",
        "stream": "rapport",
        "summary": "Regional rapport för 27 december 2024 publicerades.",
        "data": {
            "report_date": "2024-12-27",
            "compiled_at": "2024-12-27T11:15",
            "log_seq": log_seq,
            "head_hash": head_hash,
            "template_digest": template_digest,
            "outputs": [{"format": "md", "sha256": sha256}],
        }
    })
    .to_string()
}

fn head_seq(workspace: &Workspace) -> u64 {
    workspace.events().len() as u64
}

fn hash_at(workspace: &Workspace, seq: u64) -> String {
    let conn = rusqlite::Connection::open(&workspace.db).expect("opens");
    conn.query_row("SELECT hash FROM events WHERE seq = ?1", [seq], |row| {
        row.get(0)
    })
    .expect("the event is in the log")
}

fn embedded_digest() -> String {
    lagesbild_render::report::TemplateSet::embedded().digest()
}

#[test]
fn forged_report_published_with_log_seq_99999_is_refused_by_import_naming_file_line_and_field() {
    let workspace = Workspace::seeded();
    let before = head_seq(&workspace);
    let head_hash = hash_at(&workspace, before);
    let digest = embedded_digest();
    let fake = "ab".repeat(32);
    let cases = [
        (
            forged_report(99_999, &head_hash, &digest, &fake),
            "\"data.log_seq\"",
            "past the head",
        ),
        (
            forged_report(before, &"cd".repeat(32), &digest, &fake),
            "\"data.head_hash\"",
            "is not the chain hash",
        ),
        (
            forged_report(before, &head_hash, &"ef".repeat(32), &fake),
            "\"data.template_digest\"",
            "no templates with digest",
        ),
        (
            forged_report(before, &head_hash, &digest, &fake),
            "\"data.outputs[0].sha256\"",
            "is not the digest of the report",
        ),
    ];
    for (event, field, reason) in cases {
        // Line 2, after a valid event, so that the location is not simply the first line.
        let note = r#"{"kind":"situation_noted","occurred":"2024-12-27","stream":"rapport","summary":"En notering.","data":{"section":"summary"}}"#;
        let file = workspace.file("forged.jsonl", format!("{note}\n{event}\n").as_bytes());
        let run = workspace.run(&["import", path_str(&file)]).failed();
        assert!(
            run.stderr.contains("forged.jsonl:2: field ")
                && run.stderr.contains(field)
                && run.stderr.contains(reason)
                && run.stderr.contains("nothing was imported"),
            "{field}: {}",
            run.stderr
        );
        // `append` refuses it the same way.
        let mut child = workspace
            .command(&["append"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), event.as_bytes())
            .expect("write");
        let run = reliability_support::from_output(child.wait_with_output().expect("runs"));
        assert!(
            run.code == Some(1) && run.stderr.contains(field),
            "{}",
            run.stderr
        );
    }
    assert_eq!(head_seq(&workspace), before, "nothing was written");
    let archive = workspace
        .run(&["log", "--kind", "report_published", "--format", "json"])
        .ok()
        .stdout;
    assert_eq!(archive.trim(), "[]");
}

#[test]
fn a_genuine_report_published_passes_the_same_gate_through_import_and_restore() {
    let (workspace, _) = published();
    let export = workspace.dir.path().join("export.jsonl");
    workspace
        .run(&["export", "--output", path_str(&export)])
        .ok();
    // The genuine event, imported again as a new event, is accepted: its claims hold.
    let line = workspace
        .run(&["log", "--kind", "report_published", "--format", "json"])
        .ok()
        .stdout;
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    let mut event = event[0].clone();
    let object = event.as_object_mut().expect("object");
    for envelope in [
        "seq",
        "stream_version",
        "recorded_at",
        "schema",
        "prev_hash",
        "hash",
    ] {
        object.remove(envelope);
    }
    let file = workspace.file("again.jsonl", format!("{event}\n").as_bytes());
    workspace.run(&["import", path_str(&file)]).ok();
    // And the export restores elsewhere, its report rebuilt and found the same.
    let other = Workspace::new();
    let out = other.run(&["restore", path_str(&export)]).ok().stdout;
    assert!(out.starts_with("restored "), "{out}");
}

#[test]
fn the_head_report_publish_prints_covers_the_publish_event_itself() {
    let (workspace, out) = published();
    let head = workspace.head();
    let seq: u64 = head.split(':').next().unwrap().parse().unwrap();
    assert!(
        out.contains(&format!("as event {seq};")),
        "the publish event is the head: {out}"
    );
    assert!(
        out.trim_end().ends_with(&format!("head {head}")),
        "{out} should end with head {head}"
    );
}

/// A restore of `lines` into a fresh database with `--expect-head`.
fn restore_expecting(
    workspace: &Workspace,
    lines: &[String],
    head: &str,
) -> reliability_support::Run {
    let file = workspace.file("export.jsonl", (lines.join("\n") + "\n").as_bytes());
    let target = Workspace::new();
    let run = target.run(&["restore", path_str(&file), "--expect-head", head]);
    if run.code != Some(0) {
        assert_eq!(
            target.events().len(),
            0,
            "a refused restore leaves nothing behind"
        );
    }
    run
}

#[test]
fn restore_of_a_truncated_or_rechained_export_is_refused_with_expect_head() {
    let workspace = Workspace::seeded();
    let head = workspace.head();
    let export = workspace.run(&["export"]).ok().stdout;
    let lines: Vec<String> = export.lines().map(str::to_owned).collect();
    // The whole export reaches the head.
    restore_expecting(&workspace, &lines, &head).ok();
    // Truncated: self-consistent, shorter.
    let run = restore_expecting(&workspace, &lines[..lines.len() - 3], &head).failed();
    assert!(
        run.stderr.contains("--expect-head") && run.stderr.contains("truncated"),
        "{}",
        run.stderr
    );
    // Rechained: one early event's summary changed and every hash after it recomputed, so the
    // export is self-consistent and plain restore would take it.
    let mut prev = lagesbild_model::GENESIS_HASH.to_owned();
    let rechained: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut value: serde_json::Value = serde_json::from_str(line).expect("JSON");
            if i == 10 {
                value["summary"] = serde_json::json!("Något som aldrig hände.");
            }
            value["prev_hash"] = serde_json::json!(prev);
            let mut event =
                lagesbild_model::stored_from_export_value(value.clone()).expect("valid");
            event.prev_hash = prev.clone();
            event.hash = lagesbild_model::chain_hash(&prev, &event.canonical_envelope());
            prev = event.hash.clone();
            event.to_export_value().to_string()
        })
        .collect();
    let target = Workspace::new();
    let file = target.file("rechained.jsonl", (rechained.join("\n") + "\n").as_bytes());
    target.run(&["restore", path_str(&file)]).ok();
    let run = restore_expecting(&workspace, &rechained, &head).failed();
    assert!(
        run.stderr.contains("--expect-head") && run.stderr.contains("rewritten"),
        "{}",
        run.stderr
    );
}
