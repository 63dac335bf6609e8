//! Hostile input through `lagesbild import`: each bad line is refused with an error naming
//! file:line and the field, and nothing is committed, in one transaction and with
//! `--batch-size` alike. The parser itself is fuzzed by crates/model/tests/hostile_input.rs.

mod reliability_support;

use std::io::Write;

use reliability_support::{Workspace, path_str, slow};

const GOOD: &str = r#"{"key":"fientlig-bra","kind":"fact_reported","occurred":"2025-01","summary":"En bra rad före den dåliga.","source":{"title":"Testkälla"}}"#;

fn fact(key: &str, occurred: &str, summary: &str) -> String {
    format!(
        r#"{{"key":"{key}","kind":"fact_reported","occurred":"{occurred}","summary":"{summary}","source":{{"title":"Testkälla"}}}}"#
    )
}

/// (case, the lines after the good first line, the line the error names, the field, a part of
/// the reason)
type Case = (
    &'static str,
    Vec<Vec<u8>>,
    usize,
    &'static str,
    &'static str,
);

fn hostile_cases() -> Vec<Case> {
    let nested = format!(
        r#"{{"kind":"fact_reported","occurred":"2025","summary":"x","source":{{"title":"t"}},"data":{}1{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let many_waves: Vec<String> = (0..201)
        .map(|i| format!(r#"{{"wave":"w{i}","area":"Område","planned":"2026"}}"#))
        .collect();
    let too_many = format!(
        r#"{{"kind":"plan_revised","occurred":"2025","summary":"x","source":{{"title":"t"}},"data":{{"waves":[{}]}}}}"#,
        many_waves.join(",")
    );
    vec![
        ("invalid UTF-8", vec![b"{\"kind\":\"fact_reported\",\"occurred\":\"2025\",\"summary\":\"\xc3\x28\",\"source\":{\"title\":\"t\"}}".to_vec()], 2, "(line)", "not valid UTF-8"),
        ("a NUL byte", vec![fact("nul", "2025", "a\0b").into_bytes()], 2, "(line)", "NUL"),
        ("an escaped NUL", vec![fact("nul", "2025", "a\\u0000b").into_bytes()], 2, "summary", "U+0000"),
        ("an unknown field", vec![br#"{"kind":"fact_reported","occurred":"2025","summary":"x","source":{"title":"t"},"okand":1}"#.to_vec()], 2, "okand", "unknown field"),
        ("an unknown field in source", vec![br#"{"kind":"fact_reported","occurred":"2025","summary":"x","source":{"title":"t","okand":1}}"#.to_vec()], 2, "source.okand", "unknown field"),
        ("a JSON key twice in one object", vec![br#"{"kind":"fact_reported","occurred":"2025","summary":"x","summary":"y","source":{"title":"t"}}"#.to_vec()], 2, "summary", "appears twice"),
        ("an event key twice with different content", vec![fact("dubbel", "2025", "Först.").into_bytes(), b"# kommentar".to_vec(), fact("dubbel", "2025", "Sedan.").into_bytes()], 4, "key", "is also on"),
        ("2024-02-30", vec![fact("datum", "2024-02-30", "x").into_bytes()], 2, "occurred", "no such day"),
        ("hösten 20x", vec![fact("datum", "hösten 20x", "x").into_bytes()], 2, "occurred", "\"hösten 20x\" is not a date"),
        ("nesting deeper than the limit", vec![nested.into_bytes()], 2, "data[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]", "nests deeper than 16"),
        ("a summary longer than the limit", vec![fact("lang", "2025", &"å".repeat(2_001)).into_bytes()], 2, "summary", "at most 2000"),
        ("a text field longer than the limit", vec![format!(r#"{{"kind":"fact_reported","occurred":"2025","summary":"x","source":{{"title":"{}"}}}}"#, "t".repeat(4_001)).into_bytes()], 2, "source.title", "at most 4000"),
        ("a key longer than the limit", vec![fact(&"k".repeat(129), "2025", "x").into_bytes()], 2, "key", "at most 128"),
        ("more list items than the limit", vec![too_many.into_bytes()], 2, "data.waves", "200"),
        ("a line longer than the limit (2 MiB)", vec![vec![b'x'; 2 << 20]], 2, "(line)", "longer than 1048576 bytes"),
        ("not JSON", vec![b"{\"kind\":".to_vec()], 2, "(json)", "not valid JSON"),
    ]
}

fn assert_refused(
    workspace: &Workspace,
    args: &[&str],
    file: &str,
    line: usize,
    field: &str,
    reason: &str,
    case: &str,
) {
    let run = workspace.run(args).failed();
    let located = format!("{file}:{line}: field {field:?}");
    assert!(
        run.stderr.contains(&located),
        "{case}: expected {located:?} in {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(reason),
        "{case}: expected {reason:?} in {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("nothing was imported"),
        "{case}: {}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "{case}: nothing may be reported committed: {}",
        run.stdout
    );
}

#[test]
fn each_hostile_line_is_refused_at_file_line_and_field_and_nothing_is_committed() {
    let workspace = Workspace::seeded();
    let before = workspace.verify();
    let count = workspace.events().len();
    for (case, lines, line, field, reason) in hostile_cases() {
        let mut bytes = format!("{GOOD}\n").into_bytes();
        for l in &lines {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
        let file = workspace.file("fientlig.jsonl", &bytes);
        let name = path_str(&file);
        assert_refused(
            &workspace,
            &["import", name],
            name,
            line,
            field,
            reason,
            case,
        );
        assert_refused(
            &workspace,
            &["import", "--batch-size", "1", name],
            name,
            line,
            field,
            reason,
            case,
        );
        assert_eq!(workspace.verify(), before, "{case}: the log changed");
        assert_eq!(workspace.events().len(), count, "{case}");
    }
}

#[test]
fn a_100_mb_line_is_refused_without_reading_it_whole_and_later_lines_keep_their_numbers() {
    let size = if slow() { 100 << 20 } else { 8 << 20 };
    let workspace = Workspace::seeded();
    let before = workspace.verify();
    let path = workspace.dir.path().join("stor.jsonl");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        writeln!(file, "{GOOD}").expect("write");
        let chunk = vec![b'a'; 1 << 20];
        file.write_all(b"{\"kind\":\"").expect("write");
        for _ in 0..size >> 20 {
            file.write_all(&chunk).expect("write");
        }
        file.write_all(b"\"}\n").expect("write");
        writeln!(file, "{}", fact("efter", "2024-02-30", "x")).expect("write");
    }
    let name = path_str(&path);
    let run = workspace.run(&["import", name]).failed();
    assert!(
        run.stderr.contains(&format!(
            "{name}:2: field \"(line)\": the line is longer than 1048576 bytes"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("{name}:3: field \"occurred\"")),
        "the line after keeps its number: {}",
        run.stderr
    );
    assert_eq!(workspace.verify(), before);
}

#[test]
fn hostile_json_on_stdin_and_in_data_is_refused_naming_the_field() {
    let workspace = Workspace::seeded();
    let before = workspace.verify();
    let mut child = workspace
        .command(&["append"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"kind":"fact_reported","occurred":"2025","occurred":"2019","summary":"x","source":{"title":"t"}}"#)
        .expect("write");
    let run = reliability_support::from_output(child.wait_with_output().expect("ends")).failed();
    assert!(
        run.stderr
            .contains("(stdin): field \"occurred\": the key \"occurred\" appears twice"),
        "{}",
        run.stderr
    );

    let run = workspace
        .run(&[
            "append",
            "--kind",
            "plan_revised",
            "--occurred",
            "2025",
            "--summary",
            "x",
            "--source-title",
            "t",
            "--data",
            r#"{"waves":[{"wave":"a","wave":"b","area":"A","planned":"2026"}]}"#,
        ])
        .failed();
    assert!(
        run.stderr.contains("--data: field \"data.waves[0].wave\""),
        "{}",
        run.stderr
    );
    assert_eq!(workspace.verify(), before);
}
