//! The edition as a PDF end to end: the 27 December 2024 report read back with poppler's
//! `pdftotext` (day, week, number, every section, the sender, "sida 1 av N"), its fonts
//! embedded (`pdffonts`), identical bytes on two runs, the PDF's digest in the provenance and
//! checked by `report reproduce` and the append gate, editions from before the PDF still
//! reproducing, and hostile text set literally instead of run as typst.
//!
//! poppler-utils is a Debian package `.ci/run` installs; without it these tests fail under
//! `CI=true` and print a notice and pass elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-01-01T00:00:00Z";

fn run(dir: &Path, now: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(args)
        .current_dir(dir)
        .env("LAGESBILD_DB", dir.join("log.db"))
        .env("LAGESBILD_NOW", now)
        .output()
        .expect("the binary runs")
}

fn ok(dir: &Path, now: &str, args: &[&str]) -> String {
    let output = run(dir, now, args);
    assert!(
        output.status.success(),
        "lagesbild {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn seeded() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_owned();
    ok(&path, NOW, &["init"]);
    (dir, path)
}

/// A poppler tool's output, or `None` (with a notice) where poppler-utils is not installed
/// outside CI.
fn poppler(tool: &str, args: &[&str]) -> Option<String> {
    match Command::new(tool).args(args).output() {
        Ok(output) => {
            assert!(
                output.status.success(),
                "{tool} {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Some(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{tool} is required under CI (Debian's poppler-utils, see .ci/run): {e}")
        }
        Err(e) => {
            eprintln!(
                "notice: {tool} not found ({e}); install poppler-utils to check the PDF's text"
            );
            None
        }
    }
}

/// The PDF's text, pages separated by form feeds; `-layout` off so lines follow reading order.
fn pdf_text(pdf: &Path) -> Option<String> {
    poppler(
        "pdftotext",
        &["-enc", "UTF-8", pdf.to_str().expect("path"), "-"],
    )
}

fn report_pdf(dir: &Path, date: &str, out: &str) -> PathBuf {
    ok(
        dir,
        NOW,
        &[
            "report",
            "--date",
            date,
            "--compiled-at",
            &format!("{date}T11:15"),
            "--format",
            "pdf",
            "--out",
            out,
        ],
    );
    dir.join(out)
}

/// Text with hyphenation and line breaks undone, spaces collapsed: what a reader sees.
fn flat(text: &str) -> String {
    // typst hyphenates with a soft hyphen, which pdftotext keeps at the line's end.
    let joined = text
        .replace("\u{ad}\n", "")
        .replace('\u{ad}', "")
        .replace(['\n', '\u{c}'], " ");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_pdf_of_27_december_2024_has_the_edition_every_section_the_sender_and_page_numbers() {
    let (_tmp, dir) = seeded();
    let pdf = report_pdf(&dir, "2024-12-27", "a.pdf");
    let bytes = std::fs::read(&pdf).expect("pdf");
    assert!(bytes.starts_with(b"%PDF-"), "a PDF");
    // Two runs, identical bytes: fixed creation date and document id.
    let again = std::fs::read(report_pdf(&dir, "2024-12-27", "b.pdf")).expect("pdf");
    assert!(bytes == again, "two runs give identical bytes");

    let Some(text) = pdf_text(&pdf) else { return };
    let flat = flat(&text);
    assert!(
        flat.contains(
            "Regional rapport Samordning vårdinformationssystem · vecka 52 · 27 december 2024 · nr 1"
        ),
        "the heading names day, week and number:\n{text}"
    );
    assert!(
        flat.contains("Sammanställd: 2024-12-27 klockan 11.15"),
        "{text}"
    );
    for heading in [
        "Sammanfattande lägesbild",
        "Kommunikativ lägesbild",
        "Verksamhetens kommentar",
        "Kommunikativa åtgärder, urval",
        "Samlad information",
        "Talesperson VGR",
        "Nytt sedan",
        "Etappernas plan och status",
        "Öppna ärenden",
        "Nyckeltal",
        "Källor",
        "Om Samordning vårdinformationssystem",
        "Om Regional rapport samordnad hantering av införande av vårdinformationssystem",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim() == heading || l.trim().starts_with(heading)),
            "section {heading:?} in the PDF:\n{text}"
        );
    }
    assert!(flat.contains("Koncernstab kommunikation"), "the sender");
    assert!(
        flat.contains(
            "Rapporten skickas till politisk ledning, chefer och publiceras på intranätet."
        ),
        "the distribution line"
    );
    let pages = text.matches('\u{c}').count();
    assert!(pages >= 2, "several pages: {pages}");
    for page in 1..=pages {
        assert!(
            flat.contains(&format!("sida {page} av {pages}")),
            "page number {page} of {pages}:\n{text}"
        );
    }
    // Links keep their address on paper.
    assert!(flat.contains("(https://"), "addresses printed:\n{text}");

    // Every font is embedded (a subset), so it looks the same everywhere.
    let Some(fonts) = poppler("pdffonts", &[pdf.to_str().expect("path")]) else {
        return;
    };
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "fonts listed:\n{fonts}");
    for row in rows {
        let columns: Vec<&str> = row.split_whitespace().collect();
        // name type [encoding…] emb sub uni object ID: "emb" is the fifth column from the end.
        let emb = columns[columns.len() - 5];
        assert_eq!(emb, "yes", "font embedded: {row}");
    }
}

fn published_event(dir: &Path) -> serde_json::Value {
    let log: serde_json::Value = serde_json::from_str(&ok(
        dir,
        NOW,
        &["log", "--kind", "report_published", "--format", "json"],
    ))
    .expect("JSON");
    log.as_array().expect("list").last().expect("one").clone()
}

#[test]
fn a_published_edition_records_the_pdf_digest_and_reproduce_and_the_gate_check_it() {
    let (_tmp, dir) = seeded();
    ok(
        &dir,
        "2024-12-27T10:15:00Z",
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T11:15",
        ],
    );
    let event = published_event(&dir);
    let seq = event["seq"].to_string();
    let outputs = event["data"]["outputs"].as_array().expect("outputs");
    let pdf_output = outputs
        .iter()
        .find(|o| o["format"] == "pdf")
        .expect("the PDF is one of the outputs");
    let written = std::fs::read(dir.join("reports").join(format!(
        "regional-rapport-2024-12-27-h{}.pdf",
        event["data"]["log_seq"]
    )))
    .expect("the PDF is written beside the others");
    assert_eq!(
        pdf_output["sha256"],
        lagesbild_model::sha256_hex(&written),
        "the recorded digest is the written file's"
    );
    let out = ok(&dir, NOW, &["report", "reproduce", &seq]);
    assert!(out.contains("pdf: byte-identical"), "{out}");

    // A claim with a changed PDF digest is refused by the gate, naming the field.
    let mut forged = event.clone();
    let index = outputs
        .iter()
        .position(|o| o["format"] == "pdf")
        .expect("pdf");
    forged["data"]["outputs"][index]["sha256"] = serde_json::json!("0".repeat(64));
    let forged = serde_json::json!({
        "kind": "report_published",
        "occurred": forged["occurred"],
        "stream": forged["stream"],
        "summary": forged["summary"],
        "data": forged["data"],
    });
    let file = dir.join("forged.jsonl");
    std::fs::write(&file, format!("{forged}\n")).expect("write");
    let output = run(&dir, NOW, &["import", file.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a forged PDF digest is refused");
    assert!(
        stderr.contains(&format!("data.outputs[{index}].sha256")),
        "{stderr}"
    );

    // Other print templates give another PDF: reproduce says the PDF differs.
    let templates = dir.join("my-templates");
    ok(
        &dir,
        NOW,
        &["templates", "init", templates.to_str().expect("path")],
    );
    let typ = templates.join("report.typ");
    let text = std::fs::read_to_string(&typ)
        .expect("report.typ is written by templates init")
        .replace("== Nyckeltal", "== Nyckeltalen");
    std::fs::write(&typ, text).expect("write");
    let output = run(
        &dir,
        NOW,
        &[
            "report",
            "reproduce",
            &seq,
            "--templates",
            templates.to_str().expect("path"),
        ],
    );
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains("pdf: DIFFERS") && out.contains("md: byte-identical"),
        "{out}"
    );
}

#[test]
fn an_edition_published_before_the_pdf_still_reproduces_and_imports() {
    let (_tmp, dir) = seeded();
    // The templates as they were before report.typ: what older logs recorded the digest of.
    let templates = dir.join("old-templates");
    ok(
        &dir,
        NOW,
        &["templates", "init", templates.to_str().expect("path")],
    );
    std::fs::remove_file(templates.join("report.typ")).expect("remove");
    ok(
        &dir,
        "2024-12-27T10:15:00Z",
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T11:15",
            "--templates",
            templates.to_str().expect("path"),
        ],
    );
    let event = published_event(&dir);
    let formats: Vec<&str> = event["data"]["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| o["format"].as_str().expect("format"))
        .collect();
    assert_eq!(formats, ["md", "html"], "no PDF without report.typ");
    // Reproduced with the built-in templates: the set less report.typ is the recorded one.
    let out = ok(
        &dir,
        NOW,
        &["report", "reproduce", &event["seq"].to_string()],
    );
    assert!(
        out.contains("md: byte-identical")
            && out.contains("html: byte-identical")
            && !out.contains("templates differ"),
        "{out}"
    );
    // And the log, exported and restored, passes the provenance gate with the built-in sets.
    let export = dir.join("export.jsonl");
    ok(
        &dir,
        NOW,
        &["export", "--output", export.to_str().expect("path")],
    );
    let other = tempfile::tempdir().expect("temp dir");
    ok(
        other.path(),
        NOW,
        &["restore", export.to_str().expect("path")],
    );
    ok(other.path(), NOW, &["verify"]);
}

const HOSTILE: &[&str] = &[
    r#"#read("/etc/passwd")"#,
    r#"#import "@preview/cetz:0.3.0": *"#,
    "] #set page(width: 2cm) [",
    "$x^2$ och \\ och *fet* och _kursiv_",
    "<etikett> @hänvisning // kommentar /* block */",
    "#{ panic(\"nej\") }",
];

#[test]
fn hostile_text_is_set_literally_and_reads_no_file() {
    let (_tmp, dir) = seeded();
    for (i, text) in HOSTILE.iter().enumerate() {
        ok(
            &dir,
            "2024-12-27T09:00:00Z",
            &[
                "note",
                "--section",
                "summary",
                "--date",
                "2024-12-27",
                "--key",
                &format!("fientlig-{i}"),
                text,
            ],
        );
    }
    let pdf = report_pdf(&dir, "2024-12-27", "hostile.pdf");
    let Some(text) = pdf_text(&pdf) else { return };
    let flat = flat(&text);
    for hostile in HOSTILE {
        assert!(
            flat.contains(hostile),
            "{hostile:?} appears literally in the PDF:\n{text}"
        );
    }
    assert!(!flat.contains("root:x:0"), "no file was read");
    // The page width was not changed: A4 still (595 × 842 points).
    let Some(info) = poppler("pdfinfo", &[pdf.to_str().expect("path")]) else {
        return;
    };
    assert!(info.contains("595.276 x 841.89 pts (A4)"), "{info}");
}
