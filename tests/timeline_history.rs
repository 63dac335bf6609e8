//! The analyst's questions of the real history (events/), asked through the binary: the plan as
//! of a date, the first wave's start, pause and slippage, the open matters, and the two time
//! axes with a correction appended after the fact.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn lagesbild(db: &Path, now: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(args)
        .env("LAGESBILD_DB", db)
        .env("LAGESBILD_NOW", now)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "lagesbild {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn waves_as_of(db: &Path, as_of: &str, extra: &[&str]) -> Value {
    let mut args = vec!["waves", "--format", "json", "--as-of", as_of];
    args.extend_from_slice(extra);
    serde_json::from_str(&lagesbild(db, "2026-01-01T00:00:00Z", &args)).expect("JSON")
}

fn wave<'a>(waves: &'a Value, id: &str) -> &'a Value {
    waves["waves"]
        .as_array()
        .expect("waves")
        .iter()
        .find(|w| w["wave"] == id)
        .unwrap_or_else(|| panic!("no wave {id} in {waves:#}"))
}

fn planned(waves: &Value, id: &str) -> String {
    wave(waves, id)["current"]["planned"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

fn seeded() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    lagesbild(&db, "2026-01-01T00:00:00Z", &["init"]);
    (dir, db)
}

#[test]
fn the_plan_as_of_each_date() {
    let (_dir, db) = seeded();
    assert_eq!(
        planned(&waves_as_of(&db, "2019-06-01", &[]), "sodra-1"),
        "2021-H1"
    );
    assert_eq!(
        planned(&waves_as_of(&db, "2020-06-01", &[]), "sodra-1"),
        "2022-H1"
    );
    let mid_2022 = waves_as_of(&db, "2022-06-01", &[]);
    assert_eq!(planned(&mid_2022, "sodra-1"), "2024-H2");
    assert_eq!(planned(&mid_2022, "sodra-2"), "2025-H2");
    assert_eq!(planned(&mid_2022, "norra-ostra"), "2026-H1");
    assert_eq!(planned(&mid_2022, "vastra"), "2026-H2");
    // The December 2019 plan's later stages left the plan in May 2022: dropped by the revision,
    // not cancelled by a decision, and without slippage.
    assert_eq!(wave(&mid_2022, "etapp-2")["state"], "dropped");
    assert_eq!(wave(&mid_2022, "etapp-2")["ended"]["how"], "dropped");
    assert!(wave(&mid_2022, "etapp-2")["slip_vs_baseline"].is_null());
    // The e-services of the May 2022 plan have no start in the record: overdue from 2023.
    let late_2024 = waves_as_of(&db, "2024-12-27", &[]);
    assert_eq!(wave(&late_2024, "e-tjanster")["state"], "overdue");
    assert_eq!(
        wave(&late_2024, "e-tjanster")["overdue_since"],
        "2023-01-01"
    );
}

#[test]
fn the_first_wave_as_of_the_report_of_27_december_2024() {
    let (_dir, db) = seeded();
    let view = waves_as_of(&db, "2024-12-27", &[]);
    let first = wave(&view, "sodra-1");
    assert_eq!(first["actual_start"], "2024-11-12T05:30");
    assert_eq!(first["state"], "paused");
    assert_eq!(first["state_since"], "2024-11-15");
    assert_eq!(first["baseline"]["planned"], "2021-H1");
    // Spring 2021 counts from its midpoint (April); November 2024 is 43 months later, give or
    // take the three months the half-year leaves open.
    assert_eq!(first["slip_vs_baseline"]["months"], 43);
    assert_eq!(first["slip_vs_baseline"]["plus_minus"], 3);

    let open: Vec<&str> = view["open_matters"]
        .as_array()
        .expect("open matters")
        .iter()
        .map(|m| m["matter"].as_str().expect("id"))
        .collect();
    for matter in [
        "privata-vardgivare-2024",
        "konkurrensverket-kpmg",
        "kpmg-granskning",
    ] {
        assert!(
            open.contains(&matter),
            "{matter} should be open as of 2024-12-27: {open:?}"
        );
    }
    // Before the wave started it was planned, not paused.
    let before = waves_as_of(&db, "2024-11-01", &[]);
    assert_eq!(wave(&before, "sodra-1")["state"], "planned");
}

#[test]
fn a_correction_changes_the_past_but_not_what_was_known_before_it() {
    let (_dir, db) = seeded();
    // Recorded "today", long after the seed: the first go-live really was a day later.
    lagesbild(
        &db,
        "2026-06-01T09:00:00Z",
        &[
            "append",
            "--kind",
            "event_corrected",
            "--occurred",
            "2026-06-01",
            "--summary",
            "Starttiden rättad.",
            "--data",
            r#"{"target":{"key":"2024-11-12-driftstart"},"reason":"Källan angav fel dag.","occurred":"2024-11-13T05:30"}"#,
        ],
    );
    let corrected = waves_as_of(&db, "2024-12-27", &[]);
    assert_eq!(
        wave(&corrected, "sodra-1")["actual_start"],
        "2024-11-13T05:30"
    );
    // As of 12 November the wave had not started yet according to the corrected history.
    assert_eq!(
        wave(&waves_as_of(&db, "2024-11-12", &[]), "sodra-1")["state"],
        "planned"
    );

    let known_before = waves_as_of(&db, "2024-12-27", &["--known-at", "2026-03-01"]);
    assert_eq!(
        wave(&known_before, "sodra-1")["actual_start"],
        "2024-11-12T05:30"
    );
    let known_after = waves_as_of(&db, "2024-12-27", &["--known-at", "2026-06-01T09:00:00Z"]);
    assert_eq!(
        wave(&known_after, "sodra-1")["actual_start"],
        "2024-11-13T05:30"
    );
}

#[test]
fn a_retraction_removes_a_fact_from_every_later_view() {
    let (_dir, db) = seeded();
    let timeline = |extra: &[&str]| {
        let mut args = vec!["timeline", "--format", "json"];
        args.extend_from_slice(extra);
        let view: Value =
            serde_json::from_str(&lagesbild(&db, "2026-06-01T00:00:00Z", &args)).expect("JSON");
        view["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .any(|e| e["key"] == "2024-11-15-paus")
    };
    assert!(timeline(&[]));
    lagesbild(
        &db,
        "2026-06-01T00:00:00Z",
        &[
            "append",
            "--kind",
            "event_retracted",
            "--occurred",
            "2026-06-01",
            "--summary",
            "Återkallad.",
            "--data",
            r#"{"target":{"key":"2024-11-15-paus"},"reason":"Prov."}"#,
        ],
    );
    assert!(!timeline(&[]));
    assert!(timeline(&["--known-at", "2026-01-01T00:00:00Z"]));
}

#[test]
fn diff_between_the_plans_of_2019_and_2022() {
    let (_dir, db) = seeded();
    let out = lagesbild(
        &db,
        "2026-01-01T00:00:00Z",
        &[
            "diff",
            "--from",
            "2020-01-01",
            "--to",
            "2022-06-01",
            "--format",
            "json",
        ],
    );
    let diff: Value = serde_json::from_str(&out).expect("JSON");
    let plans: Vec<&str> = diff["new_plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["occurred"].as_str().unwrap())
        .collect();
    assert_eq!(plans, ["2022-05-17"]);
    let changed: Vec<&str> = diff["wave_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["wave"].as_str().unwrap())
        .collect();
    assert!(
        changed.contains(&"sodra-1") && changed.contains(&"vastra"),
        "{changed:?}"
    );
    let text = lagesbild(
        &db,
        "2026-01-01T00:00:00Z",
        &["diff", "--from", "2020-01-01", "--to", "2022-06-01"],
    );
    assert!(text.contains("Nya tidplaner"), "{text}");
    assert!(text.contains("hösten 2024"), "{text}");
}

#[test]
fn every_format_renders_and_html_is_a_standalone_page_with_the_chart() {
    let (_dir, db) = seeded();
    let now = "2026-01-01T00:00:00Z";
    let html = lagesbild(
        &db,
        now,
        &["waves", "--format", "html", "--as-of", "2024-12-27"],
    );
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains(r#"<html lang="sv">"#));
    assert!(
        html.contains("<svg")
            && html.contains("<title id=\"mta-title\">")
            && html.contains("<desc id=\"mta-desc\">")
    );
    assert!(html.contains("<caption>Milstolpstrendanalys som tabell"));
    assert!(!html.contains("<script"), "no JavaScript in the page");
    let svg = lagesbild(&db, now, &["waves", "--format", "svg"]);
    assert!(svg.starts_with("<svg") && svg.contains("role=\"img\""));
    let md = lagesbild(
        &db,
        now,
        &["timeline", "--format", "md", "--as-of", "2019-12-31"],
    );
    assert!(md.starts_with("# Tidslinje") && md.contains("## 2019"));
    assert!(
        !md.contains("## 2020"),
        "nothing after the as-of date:\n{md}"
    );
    let tl: Value = serde_json::from_str(&lagesbild(
        &db,
        now,
        &["timeline", "--format", "timelinejs"],
    ))
    .expect("JSON");
    let events = tl["events"].as_array().expect("events");
    assert!(events.len() > 50);
    let autumn = events
        .iter()
        .find(|e| e["display_date"] == "hösten 2019")
        .expect("a half-year event");
    assert_eq!(autumn["start_date"]["month"], 7);
    assert_eq!(autumn["end_date"]["month"], 12);
}

/// The day a timeline entry's sources had surely been published (the last day of the earliest
/// publication date), or `None` when none of them says: then it counts from when it was
/// recorded, the import in 2026.
fn published_by(entry: &Value) -> Option<chrono::NaiveDate> {
    let source = &entry["source"];
    let mut all = vec![source];
    if let Some(also) = source["also"].as_array() {
        all.extend(also);
    }
    all.iter()
        .filter_map(|s| s["published"].as_str())
        .map(|p| {
            lagesbild_model::FuzzyDate::parse(p)
                .expect("a date")
                .last_day()
        })
        .min()
}

#[test]
fn the_public_record_differs_from_as_of_exactly_where_sources_were_published_later() {
    let (_dir, db) = seeded();
    for day in ["2022-06-01", "2024-12-27"] {
        let timeline = |extra: &[&str]| -> Value {
            let mut args = vec!["timeline", "--format", "json", "--as-of", day];
            args.extend_from_slice(extra);
            serde_json::from_str(&lagesbild(&db, "2026-01-01T00:00:00Z", &args)).expect("JSON")
        };
        let as_of = timeline(&[]);
        let public = timeline(&["--public-at", day]);
        let seqs = |view: &Value| -> Vec<u64> {
            view["timeline"]
                .as_array()
                .expect("timeline")
                .iter()
                .map(|e| e["seq"].as_u64().expect("seq"))
                .collect()
        };
        let public_seqs = seqs(&public);
        let cutoff: chrono::NaiveDate = day.parse().expect("day");
        let mut left_out = 0;
        for entry in as_of["timeline"].as_array().expect("timeline") {
            let expected = published_by(entry).is_some_and(|p| p <= cutoff);
            let seq = entry["seq"].as_u64().expect("seq");
            assert_eq!(
                public_seqs.contains(&seq),
                expected,
                "{day}: event {seq} ({}) published {:?}",
                entry["summary"],
                published_by(entry)
            );
            left_out += usize::from(!expected);
        }
        assert!(left_out > 0, "{day}: some sources were published later");
        // Nothing appears in the public record that had not happened by the day.
        assert!(public_seqs.iter().all(|s| seqs(&as_of).contains(s)));
    }
    // On 1 June 2022 the May plan was public (Läkartidningen, May 2022), and so is its e-services wave.
    let waves = waves_as_of(&db, "2022-06-01", &["--public-at", "2022-06-01"]);
    assert_eq!(planned(&waves, "e-tjanster"), "2022-H2");
}
