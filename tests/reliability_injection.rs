//! Injection: every free-text field of every kind, carrying HTML, Markdown and template syntax,
//! renders inert in the analyst's documents (timeline, waves, diff) in Markdown, HTML, the
//! TimelineJS data and the SVG chart, and in the weekly report. The report's own fields are
//! also covered by tests/report.rs; the web pages by crates/web.
//!
//! Which fields are free text is found, not listed: in each example of events/README.md every
//! string is replaced by the hostile text, and the replacement is kept where the event stays
//! valid (identifiers, dates, URLs and keys refuse it).

mod reliability_support;

use lagesbild_model::parse_event;
use reliability_support::{Workspace, path_str};
use serde_json::Value;

const HOSTILE: &str = "<script>alert(1)</script> **fet** [klick](javascript:alert(1)) ![bild](javascript:x) {{title}} {{{raw}}} <img src=x onerror=alert(2)> &lt;b&gt; `kod` | a | b |\n# rubrik\n- punkt <!-- kommentar --> ]]> \"citat' =";

/// Replaces each string of `value` by the hostile text wherever the event stays valid; returns
/// how many fields took it.
fn poison(event: &mut Value) -> usize {
    fn paths(value: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        match value {
            Value::String(_) => out.push(at),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut next = at.clone();
                    next.push(i.to_string());
                    paths(item, next, out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let mut next = at.clone();
                    next.push(key.clone());
                    paths(item, next, out);
                }
            }
            _ => {}
        }
    }
    fn slot<'a>(value: &'a mut Value, at: &[String]) -> &'a mut Value {
        at.iter().fold(value, |v, part| match v {
            Value::Array(items) => &mut items[part.parse::<usize>().expect("an index")],
            Value::Object(map) => map.get_mut(part).expect("a member"),
            _ => unreachable!("paths lead through containers"),
        })
    }
    let mut all = Vec::new();
    paths(event, Vec::new(), &mut all);
    let mut poisoned = 0;
    for at in all {
        if at == ["kind"] {
            continue;
        }
        let old = std::mem::replace(slot(event, &at), Value::String(HOSTILE.to_owned()));
        if parse_event(&event.to_string()).is_ok() {
            poisoned += 1;
        } else {
            *slot(event, &at) = old;
        }
    }
    poisoned
}

fn hostile_examples() -> (String, usize) {
    let readme = include_str!("../events/README.md");
    let mut inside = false;
    let mut lines = String::new();
    let mut fields = 0;
    for line in readme.lines() {
        match line {
            "```json" => inside = true,
            "```" => inside = false,
            _ if inside && !line.contains('…') => {
                let mut event: Value = serde_json::from_str(line).expect("an example");
                fields += poison(&mut event);
                // Keys of their own, beside the bundled history's (corrections still name it).
                if let Some(Value::String(key)) = event.get_mut("key") {
                    *key = format!("injektion-{key}");
                }
                lines.push_str(&event.to_string());
                lines.push('\n');
            }
            _ => {}
        }
    }
    (lines, fields)
}

fn assert_inert_html(what: &str, html: &str) {
    assert!(
        !html.contains("<script"),
        "{what}: a script element survived"
    );
    assert!(
        !html.contains("<img"),
        "{what}: an element from the text survived"
    );
    assert!(
        !html.contains("<!-- kommentar"),
        "{what}: a comment from the text survived"
    );
    assert!(
        !html.to_lowercase().contains("href=\"javascript"),
        "{what}: a javascript link"
    );
    assert!(
        !html.contains("onerror=alert"),
        "{what}: an attribute from the text"
    );
}

fn assert_inert_markdown(what: &str, md: &str) {
    assert!(!md.contains("<script"), "{what}: raw HTML in Markdown");
    assert!(!md.contains("<img"), "{what}: raw HTML in Markdown");
    // `\](javascript:` is the escaped text; an unescaped `](` would make a link.
    assert!(
        md.match_indices("](javascript")
            .all(|(at, _)| md[..at].ends_with('\\')),
        "{what}: a link from the text"
    );
    assert!(!md.contains("**fet**"), "{what}: emphasis from the text");
    assert!(
        !md.contains("\n# rubrik"),
        "{what}: a heading from the text"
    );
    assert!(
        !md.contains("\n- punkt"),
        "{what}: a list item from the text"
    );
    assert!(!md.contains("`kod`"), "{what}: code from the text");
}

#[test]
fn hostile_text_in_every_free_text_field_of_every_kind_renders_inert_in_every_document() {
    // Over the bundled history: some examples correct events of it by sequence number.
    let workspace = Workspace::seeded();
    let (lines, fields) = hostile_examples();
    assert!(
        fields >= 40,
        "only {fields} free-text fields took the hostile text"
    );
    let file = workspace.file("fientlig.jsonl", lines.as_bytes());
    workspace.run(&["import", path_str(&file)]).ok();

    let mut checked = Vec::new();
    for command in [
        vec!["timeline"],
        vec!["waves"],
        vec!["diff", "--from", "2016-01-01", "--to", "2026-01-01"],
    ] {
        let name = command.join(" ");
        let with = |format: &str| {
            let mut args = command.clone();
            args.extend(["--format", format]);
            workspace.run(&args).ok().stdout
        };
        let html = with("html");
        assert_inert_html(&format!("{name} html"), &html);
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{name} html shows the text, escaped"
        );
        let md = with("md");
        assert_inert_markdown(&format!("{name} md"), &md);
        assert!(
            md.contains("&lt;script>"),
            "{name} md shows the text, escaped"
        );
        checked.push(format!(
            "{name}: html {} escaped copies, md {} escaped copies",
            html.matches("&lt;script&gt;alert(1)").count(),
            md.matches("&lt;script>alert(1)").count()
        ));
    }

    // TimelineJS renders its text fields as HTML: they must arrive escaped.
    let timelinejs = workspace
        .run(&["timeline", "--format", "timelinejs"])
        .ok()
        .stdout;
    let parsed: Value = serde_json::from_str(&timelinejs).expect("TimelineJS data is JSON");
    let mut strings = Vec::new();
    fn collect<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            Value::Object(map) => map.values().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    collect(&parsed, &mut strings);
    for text in &strings {
        assert_inert_html("timeline timelinejs", text);
    }
    assert!(
        strings.iter().any(|s| s.contains("&lt;script&gt;")),
        "the TimelineJS data shows the text, escaped"
    );

    let svg = workspace.run(&["waves", "--format", "svg"]).ok().stdout;
    assert_inert_html("waves svg", &svg);

    // The weekly report over the same log.
    for (format, check) in [("html", true), ("md", false)] {
        let out = workspace
            .run(&[
                "report",
                "--date",
                "2024-12-27",
                "--compiled-at",
                "2024-12-27T11:15",
                "--format",
                format,
            ])
            .ok()
            .stdout;
        if check {
            assert_inert_html("report html", &out);
        } else {
            assert_inert_markdown("report md", &out);
        }
    }
    eprintln!("{fields} free-text fields poisoned\n{}", checked.join("\n"));
}
