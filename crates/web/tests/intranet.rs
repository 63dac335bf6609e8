//! What the intranet reads, through the router without a socket: the Atom feed of published
//! editions (`/rapporter.atom`) parsed by Python's `feedparser` (a real feed parser, not ours),
//! one entry per edition with version 2 standing for its day, permanent links and the PDF's
//! (typed `application/pdf`), the times of
//! the first and the standing version, and hostile text escaped.
//! The log is a temporary file seeded with the real history from `events/`, or a fresh
//! PostgreSQL database in `intranet_postgres.rs`.

mod support;

use std::process::Command;

use axum::Router;
use axum::http::{StatusCode, header};
use chrono::NaiveDate;
use lagesbild_app::staff::{self, Common, Note, NoteSection, Standing};
use lagesbild_model::FuzzyDate;
use lagesbild_render::report::TemplateSet;
use lagesbild_store::{EventRef, Store};
use serde_json::Value;
use support::TestLog;

const HOSTILE: &str =
    "<script>alert(1)</script> {{x}} ]]> \"citat\" & <img src=x onerror=alert(2)> </summary>";

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a day")
}

/// A summary note of `on`'s week, then the report of `on` published at `at`.
fn note_and_publish(store: &mut dyn Store, on: &str, text: &str, at: &str) -> u64 {
    let note = staff::note(
        &Note {
            section: NoteSection::Summary,
            text: text.into(),
            points: vec![],
            standing: Standing::Week,
        },
        &Common {
            occurred: Some(FuzzyDate::Day(day(on))),
            key: None,
            by: Some("anna".into()),
        },
        day(on),
    )
    .expect("a valid note");
    store.append(&[note], &[]).expect("appends");
    let at = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M").expect("a minute");
    lagesbild_app::publish::publish(store, &TemplateSet::embedded(), day(on), at, Some("anna"))
        .expect("publishes")
        .seq
}

/// The status, the content type and the body of `uri`.
async fn get(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let reply = support::get(app, uri, None).await;
    let content_type = reply.header(header::CONTENT_TYPE).to_owned();
    (reply.status, content_type, reply.body)
}

/// The feed as Python's feedparser reads it, as JSON; `None` (with a notice) where feedparser
/// is not installed, except under CI, which installs it (`.ci/run`) and must run this.
fn feedparser(xml: &str) -> Option<Value> {
    let probe = Command::new("python3")
        .args(["-c", "import feedparser"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have Python's feedparser (.ci/run installs it)"
        );
        eprintln!("notice: Python's feedparser is not installed; the feed is not parsed by it");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("feed.atom");
    std::fs::write(&file, xml).expect("writes");
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({
    "bozo": d.bozo, "bozo_exception": str(d.get("bozo_exception", "")), "version": d.version,
    "title": d.feed.get("title"), "id": d.feed.get("id"), "updated": d.feed.get("updated"),
    "links": [dict(l) for l in d.feed.get("links", [])],
    "entries": [{
        "id": e.get("id"), "title": e.get("title"), "link": e.get("link"),
        "published": e.get("published"), "updated": e.get("updated"),
        "author": e.get("author"), "summary": e.get("summary"),
        "links": [dict(l) for l in e.get("links", [])],
        "summary_type": e.get("summary_detail", {}).get("type"),
        "content": [c.get("value") for c in e.get("content", [])],
    } for e in d.entries],
}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("runs python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON from the script"))
}

fn recorded_at(store: &mut dyn Store, seq: u64) -> chrono::DateTime<chrono::Utc> {
    store
        .event(&EventRef::Seq(seq))
        .expect("reads")
        .expect("the event")
        .recorded_at
        .0
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .to_utc()
}

#[tokio::test]
async fn the_feed_lists_each_edition_once_with_its_standing_version_and_hostile_text_escaped() {
    let Some(log) = TestLog::seeded_on(support::backend()) else {
        return;
    };
    // Off tokio's thread, where either backend's store may block.
    let (earlier, first, second) = log.with_store(|store| {
        (
            note_and_publish(store, "2024-12-20", "Veckan före jul.", "2024-12-20T10:00"),
            note_and_publish(store, "2024-12-27", HOSTILE, "2024-12-27T10:00"),
            note_and_publish(store, "2024-12-27", "Ett tillägg.", "2024-12-27T14:00"),
        )
    });
    let app = log.app(None);

    let (status, content_type, xml) = get(&app, "/rapporter.atom").await;
    assert_eq!(status, StatusCode::OK, "{xml}");
    assert_eq!(content_type, "application/atom+xml; charset=utf-8");
    assert!(!xml.contains("<script>"), "raw markup in the feed: {xml}");
    assert!(!xml.contains("<img"), "raw markup in the feed: {xml}");
    // The archive page points feed readers at it.
    let (_, _, archive) = get(&app, "/rapporter").await;
    assert!(archive.contains("href=\"/rapporter.atom\""), "{archive}");

    let Some(feed) = feedparser(&xml) else { return };
    assert_eq!(
        feed["bozo"], false,
        "not well-formed: {}",
        feed["bozo_exception"]
    );
    assert_eq!(feed["version"], "atom10");
    assert_eq!(feed["title"], "Regional rapport – publicerade utgåvor");
    assert!(
        feed["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["rel"] == "self" && l["href"] == "/rapporter.atom"),
        "{feed}"
    );
    let entries = feed["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "one entry per edition: {feed}");

    // Newest day first; the 27th is version 2, linked to its permanent page, first published
    // when version 1 was and updated when version 2 was.
    let newest = &entries[0];
    assert_eq!(newest["id"], "urn:lagesbild:utgava:2024-12-27");
    assert_eq!(newest["link"], format!("/rapporter/{second}"));
    // The standing version's PDF beside its page, typed, and served there.
    let pdf_href = format!("/rapporter/{second}/pdf");
    assert!(
        newest["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["rel"] == "alternate"
                && l["type"] == "application/pdf"
                && l["href"] == pdf_href.as_str()),
        "{newest}"
    );
    let pdf = support::get(&app, &pdf_href, None).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.header(header::CONTENT_TYPE), "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF-"));
    let title = newest["title"].as_str().expect("a title");
    assert!(title.contains("vecka 52 · 27 december 2024"), "{title}");
    assert!(title.ends_with("· version 2"), "{title}");
    let (first_at, second_at) =
        log.with_store(|store| (recorded_at(store, first), recorded_at(store, second)));
    assert_eq!(time(&newest["published"]), first_at);
    assert_eq!(time(&newest["updated"]), second_at);
    assert_eq!(time(&feed["updated"]), second_at);
    assert_eq!(newest["author"], "anna");
    // The hostile note is text in the summary, exactly as typed, and escaped HTML in the
    // content: never markup.
    assert_eq!(newest["summary_type"], "text/plain");
    let summary = newest["summary"].as_str().expect("a summary");
    assert!(summary.contains(HOSTILE), "{summary}");
    assert!(summary.starts_with("Version 2 ersätter"), "{summary}");
    let content = newest["content"][0].as_str().expect("the edition's HTML");
    assert!(
        content.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{content}"
    );
    assert!(!content.contains("<script"), "{content}");
    assert!(content.contains("<h1>"), "the edition itself: {content}");

    let older = &entries[1];
    assert_eq!(older["id"], "urn:lagesbild:utgava:2024-12-20");
    assert_eq!(older["link"], format!("/rapporter/{earlier}"));
    assert_eq!(older["published"], older["updated"]);
    assert!(
        !older["title"]
            .as_str()
            .expect("a title")
            .contains("version"),
        "{older}"
    );
}
