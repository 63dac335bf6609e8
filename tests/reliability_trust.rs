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

// ---- The caches beside the log ----

const INVENTED: &str = "patient deaths were covered up";

fn sql(workspace: &Workspace, statement: &str) {
    let conn = rusqlite::Connection::open(&workspace.db).expect("opens");
    conn.execute_batch(statement)
        .expect("the attacker's SQL runs");
}

/// The material row of the first note of 27 December 2024, as (seq, item).
fn note_row(workspace: &Workspace) -> (i64, String) {
    let conn = rusqlite::Connection::open(&workspace.db).expect("opens");
    conn.query_row(
        "SELECT seq, CAST(item AS TEXT) FROM material WHERE class = 'note_dated' \
         AND first_day = '2024-12-27' ORDER BY seq LIMIT 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .expect("the index holds the week's notes")
}

/// Recomputes the material index's digest as a careful attacker would, so that only the
/// per-row check against the log stands between the edit and the report.
fn recompute_material_digest(workspace: &Workspace) {
    let store = lagesbild_store::SqliteStore::open(&workspace.db).expect("opens");
    let (rows, names) = store.material_all().expect("rows");
    let digest = lagesbild_store::MaterialDigest::of(&rows, &names).to_hex();
    drop(store);
    sql(
        workspace,
        &format!("UPDATE material_position SET digest = '{digest}'"),
    );
}

fn report_md(workspace: &Workspace) -> reliability_support::Run {
    workspace
        .run(&[
            "report",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T11:15",
        ])
        .ok()
}

#[test]
fn an_edited_material_row_no_longer_prints_invented_text_in_report_publish_or_reproduce() {
    for careful in [false, true] {
        let workspace = Workspace::seeded();
        let genuine = report_md(&workspace).stdout;
        let (seq, item) = note_row(&workspace);
        let first_sentence = item
            .split("\"summary\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the note has a summary")
            .to_owned();
        let forged = item.replace(&first_sentence, INVENTED);
        sql(
            &workspace,
            &format!(
                "UPDATE material SET item = CAST('{}' AS BLOB) WHERE seq = {seq}",
                forged.replace('\'', "''")
            ),
        );
        if careful {
            recompute_material_digest(&workspace);
        }
        // verify passes the chain and names the table and row.
        let run = workspace.run(&["verify"]).failed();
        assert!(
            run.stdout.contains(&format!(
                "FAILED: cache table material, event {seq} known from {seq}"
            )) || (!careful && run.stdout.contains("FAILED: cache table material,")),
            "careful {careful}: {}",
            run.stdout
        );
        // The report refuses the row, says so, and prints what the log says.
        let run = report_md(&workspace);
        assert!(!run.stdout.contains(INVENTED), "careful {careful}");
        assert_eq!(run.stdout, genuine, "careful {careful}");
        assert!(
            run.stderr.contains("warning: the cache in table material"),
            "careful {careful}: {}",
            run.stderr
        );
        // Publishing and reproducing never read the index.
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
        let seq_published = out
            .split("as event ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .expect("the event")
            .to_owned();
        // The text outputs are searched; the PDF (compressed) is shown below to be the one
        // reproduced from the log alone.
        for entry in std::fs::read_dir(workspace.dir.path().join("reports")).expect("reports") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "pdf") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("reads");
            assert!(!text.contains(INVENTED));
        }
        let out = workspace
            .run(&["report", "reproduce", &seq_published])
            .ok()
            .stdout;
        assert!(out.contains("md: byte-identical"), "{out}");
        assert!(out.contains("pdf: byte-identical"), "{out}");
    }
}

#[test]
fn a_material_row_with_a_seq_past_the_head_is_never_printed() {
    let workspace = Workspace::seeded();
    let genuine = report_md(&workspace).stdout;
    let head = head_seq(&workspace);
    let (seq, item) = note_row(&workspace);
    // Known from the head, so that a report as of now selects it; its event lies past the head.
    let past = head + 5;
    let forged = item
        .replace(&format!("\"seq\":{seq}"), &format!("\"seq\":{past}"))
        .replace("\"summary\":\"", &format!("\"summary\":\"{INVENTED} "));
    sql(
        &workspace,
        &format!(
            "INSERT INTO material (seq, known_from, class, name, first_day, last_day, item) \
             VALUES ({past}, {head}, 'note_dated', '', '2024-12-27', '2024-12-27', CAST('{}' AS BLOB))",
            forged.replace('\'', "''")
        ),
    );
    recompute_material_digest(&workspace);
    let run = report_md(&workspace);
    assert!(!run.stdout.contains(INVENTED));
    assert_eq!(run.stdout, genuine);
    assert!(run.stderr.contains("warning: the cache"), "{}", run.stderr);
    // The read dropped the index; the next one rebuilds it, quietly.
    let run = report_md(&workspace);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    // Inserted again, verify names the row.
    sql(
        &workspace,
        &format!(
            "INSERT INTO material (seq, known_from, class, name, first_day, last_day, item) \
             VALUES ({past}, {head}, 'note_dated', '', '2024-12-27', '2024-12-27', CAST('{}' AS BLOB))",
            forged.replace('\'', "''")
        ),
    );
    let run = workspace.run(&["verify"]).failed();
    assert!(
        run.stdout.contains(&format!(
            "FAILED: cache table material, event {past} known from {head}: the row is not derived from the log"
        )),
        "{}",
        run.stdout
    );
}

fn waves_text(workspace: &Workspace) -> reliability_support::Run {
    workspace.run(&["waves", "--as-of", "2024-12-27"]).ok()
}

/// The programme's checkpoint state with the pause of 15 November 2024 taken out, so that
/// sodra-1 reads as started.
fn without_the_pause(state: &[u8]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(state).expect("JSON state");
    let entries = value["entries"].as_object_mut().expect("entries");
    let before = entries.len();
    entries.retain(|_, entry| entry["data"]["kind"] != "rollout_paused");
    assert_eq!(entries.len(), before - 1, "the pause was in the state");
    serde_json::to_vec(&value).expect("serializes")
}

fn checkpoint_state(workspace: &Workspace, seq: u64) -> Vec<u8> {
    let conn = rusqlite::Connection::open(&workspace.db).expect("opens");
    conn.query_row(
        "SELECT state FROM checkpoints WHERE name = 'programme' AND seq = ?1",
        [seq],
        |row| row.get(0),
    )
    .expect("the checkpoint was written")
}

#[test]
fn an_edited_checkpoint_no_longer_makes_sodra_1_startad() {
    let workspace = Workspace::seeded();
    let filler = workspace.file(
        "filler.jsonl",
        reliability_support::synthetic_file("fyllnad", 10_000 - 108, "synt").as_bytes(),
    );
    workspace.run(&["import", path_str(&filler)]).ok();
    let genuine = waves_text(&workspace).stdout;
    assert!(genuine.contains("pausad"), "{genuine}");
    let forged = without_the_pause(&checkpoint_state(&workspace, 10_000));
    let conn = rusqlite::Connection::open(&workspace.db).expect("opens");
    conn.execute(
        "UPDATE checkpoints SET state = ?1 WHERE name = 'programme' AND seq = 10000",
        [&forged],
    )
    .expect("edit");
    drop(conn);
    // The naive edit: caught on read by the digest, and by verify.
    let run = workspace.run(&["verify", "--quick"]).failed();
    assert!(
        run.stdout.contains(
            "FAILED: cache table checkpoints, programme at event 10000: its state has digest"
        ),
        "{}",
        run.stdout
    );
    let run = waves_text(&workspace);
    assert_eq!(run.stdout, genuine);
    assert!(
        run.stderr.contains("table checkpoints at event 10000"),
        "{}",
        run.stderr
    );
    // The careful edit, digest recomputed: the binding holds, so the read cannot tell; verify's
    // recompute names it, and publish and reproduce never read it.
    waves_text(&workspace);
    let conn = rusqlite::Connection::open(&workspace.db).expect("opens");
    conn.execute(
        "UPDATE checkpoints SET state = ?1, digest = ?2 WHERE name = 'programme' AND seq = 10000",
        rusqlite::params![&forged, lagesbild_model::sha256_hex(&forged)],
    )
    .expect("edit");
    drop(conn);
    workspace.run(&["verify", "--quick"]).ok();
    let run = workspace.run(&["verify"]).failed();
    assert!(
        run.stdout.contains(
            "FAILED: cache table checkpoints, programme at event 10000: its state is not the programme folded from the log"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_checkpoint_inserted_off_policy_at_seq_108_is_not_used() {
    let workspace = Workspace::seeded();
    assert_eq!(head_seq(&workspace), 108);
    let genuine = waves_text(&workspace).stdout;
    assert!(genuine.contains("pausad"), "{genuine}");
    // A well-formed state of this very log without the pause, bound to the chain hash at 108
    // with a correct digest: only the policy tells it from a real one.
    let store = lagesbild_store::SqliteStore::open(&workspace.db).expect("opens");
    let events: Vec<_> = lagesbild_store::scan(&store, &lagesbild_store::Filter::default())
        .collect::<Result<_, _>>()
        .expect("reads");
    let state = lagesbild_timeline::replay(&events).to_checkpoint();
    drop(store);
    let forged = without_the_pause(&state);
    let conn = rusqlite::Connection::open(&workspace.db).expect("opens");
    conn.execute(
        "INSERT INTO checkpoints (name, seq, format, chain_hash, digest, state) \
         VALUES ('programme', 108, ?1, ?2, ?3, ?4)",
        rusqlite::params![
            lagesbild_timeline::PROJECTION_FORMAT,
            hash_at(&workspace, 108),
            lagesbild_model::sha256_hex(&forged),
            &forged
        ],
    )
    .expect("insert");
    drop(conn);
    let run = workspace.run(&["verify", "--quick"]).failed();
    assert!(
        run.stdout
            .contains("FAILED: cache table checkpoints, programme at event 108: no checkpoint is written at event 108"),
        "{}",
        run.stdout
    );
    let run = waves_text(&workspace);
    assert_eq!(run.stdout, genuine);
    assert!(run.stderr.contains("off the policy"), "{}", run.stderr);
    // The refused checkpoint was dropped: the next read is quiet and verify passes.
    let run = waves_text(&workspace);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    workspace.run(&["verify"]).ok();
}
