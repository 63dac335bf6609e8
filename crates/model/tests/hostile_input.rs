//! A long-running property test (the fuzz target: cargo-fuzz needs a nightly toolchain) for the
//! event parser and the date parser: whatever the input, no panic, and every rejection names a
//! field and a reason; whatever is accepted reads back as the same event from its canonical
//! form. `LAGESBILD_SLOW_TESTS=1` runs many more cases (RELIABILITY.md has the counts).

use lagesbild_model::{FuzzyDate, MAX_JSON_DEPTH, event_from_value, parse_event};
use proptest::prelude::*;
use serde_json::Value;

fn slow() -> bool {
    std::env::var_os("LAGESBILD_SLOW_TESTS").is_some_and(|v| v == "1")
}

fn cases(fast: u32, slow_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: if slow() { slow_cases } else { fast },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every example of events/README.md that is a whole event: valid lines to mutate.
fn examples() -> Vec<String> {
    let readme = include_str!("../../../events/README.md");
    let mut inside = false;
    let mut lines = Vec::new();
    for line in readme.lines() {
        match line {
            "```json" => inside = true,
            "```" => inside = false,
            _ if inside && !line.contains('…') => lines.push(line.to_owned()),
            _ => {}
        }
    }
    assert!(lines.len() > 20, "the examples of events/README.md");
    lines
}

/// Checks one input: a rejection is located, an acceptance reads back identically.
fn check_line(line: &str) -> Result<(), TestCaseError> {
    match parse_event(line) {
        Err(error) => {
            prop_assert!(!error.field.is_empty(), "no field named: {error:?}");
            prop_assert!(!error.reason.is_empty(), "no reason given: {error:?}");
            prop_assert!(
                error.reason.chars().count() < 2_000,
                "the reason should stay readable, not repeat the input: {} chars",
                error.reason.chars().count()
            );
        }
        Ok(event) => {
            let again = parse_event(&event.canonical_content())
                .map_err(|e| TestCaseError::fail(format!("accepted but not read back: {e}")))?;
            prop_assert_eq!(again, event);
        }
    }
    Ok(())
}

/// Pieces that make mutations interesting: JSON syntax, field names, dates, escapes, controls.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\0",
    "\n",
    "\u{2028}",
    "null",
    "true",
    "-0",
    "1e999",
    "18446744073709551616",
    "0.1000000000000000055511",
    "\"kind\":",
    "\"occurred\":",
    "\"summary\":",
    "\"data\":",
    "\"key\":\"k\",",
    "\"extra\":1,",
    "\"source\":{\"title\":\"t\"},",
    "2024-02-30",
    "hösten 20x",
    "våren",
    "2019-H3",
    "T25:00",
    "<script>",
    "{{x}}",
    "é",
    "\u{feff}",
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, usize, String),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let piece = prop_oneof![
        proptest::sample::select(PIECES).prop_map(str::to_owned),
        "\\PC{0,6}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        (any::<usize>(), piece.clone()).prop_map(|(at, text)| Mutation::Insert(at, text)),
        (any::<usize>(), 1usize..12).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), 1usize..8, piece).prop_map(|(at, len, t)| Mutation::Replace(at, len, t)),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, mutation: &Mutation) {
    match mutation {
        Mutation::Insert(at, piece) => {
            let at = boundary(text, *at);
            text.insert_str(at, piece);
        }
        Mutation::Delete(at, len) | Mutation::Replace(at, len, _) => {
            let start = boundary(text, *at);
            let end = boundary(text, (start + len).min(text.len()));
            let piece = match mutation {
                Mutation::Replace(_, _, piece) => piece.as_str(),
                _ => "",
            };
            text.replace_range(start..end.max(start), piece);
        }
        Mutation::Duplicate(at, len) => {
            let start = boundary(text, *at);
            let end = boundary(text, (start + len).min(text.len()));
            let copy = text[start..end.max(start)].to_owned();
            text.insert_str(end.max(start), &copy);
        }
    }
}

/// Arbitrary JSON, shallow and deep, using the event's own field names as keys.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        proptest::sample::select(&["2024", "2024-02-30", "hösten 2019", "2019-H2", "x"][..])
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    let keys = proptest::sample::select(
        &[
            "kind", "occurred", "summary", "data", "source", "title", "key", "stream", "by",
            "waves", "wave", "planned", "area", "target", "x",
        ][..],
    );
    leaf.prop_recursive(MAX_JSON_DEPTH as u32 + 4, 256, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((keys.clone(), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(cases(512, 30_000))]

    #[test]
    fn mutated_examples_are_refused_with_a_field_or_read_back(
        which in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let examples = examples();
        let mut line = examples[which % examples.len()].clone();
        for m in &mutations {
            apply(&mut line, m);
        }
        check_line(&line)?;
    }
}

proptest! {
    #![proptest_config(cases(256, 10_000))]

    #[test]
    fn arbitrary_text_never_panics_and_is_located(line in "\\PC{0,200}|[\\x00-\\x7f]{0,200}") {
        check_line(&line)?;
    }

    #[test]
    fn arbitrary_json_events_never_panic_and_are_located(
        value in json_value(),
        kind in proptest::sample::select(lagesbild_model::KINDS),
        summary in "\\PC{0,30}",
    ) {
        // Once as it is, once as the `data` of an otherwise plausible event.
        let _ = check_line(&value.to_string());
        let event = serde_json::json!({
            "kind": kind, "occurred": "2024", "summary": summary,
            "source": {"title": "Källa"}, "data": value,
        });
        match event_from_value(event.clone()) {
            Err(error) => prop_assert!(!error.field.is_empty() && !error.reason.is_empty()),
            Ok(_) => check_line(&event.to_string())?,
        }
    }

    #[test]
    fn the_date_parser_never_panics_and_reads_back_what_it_accepts(
        text in "(hösten |våren |HÖSTEN )?[0-9x-]{0,12}(-H[0-3])?(T[0-9:]{0,6})?|\\PC{0,24}",
    ) {
        match FuzzyDate::parse(&text) {
            Ok(date) => prop_assert_eq!(FuzzyDate::parse(&date.to_string()).ok(), Some(date)),
            Err(error) => {
                prop_assert!(!error.reason.is_empty());
                prop_assert!(error.input.chars().count() <= 80);
                prop_assert!(error.to_string().contains("is not a date"));
            }
        }
    }
}

#[test]
fn impossible_and_malformed_dates_are_refused_naming_the_field() {
    let line = |occurred: &str| {
        format!(
            r#"{{"kind":"fact_reported","occurred":"{occurred}","summary":"x","source":{{"title":"t"}}}}"#
        )
    };
    for (occurred, reason) in [
        ("2024-02-30", "no such day"),
        ("2023-02-29", "no such day"),
        ("hösten 20x", "four digits"),
        ("2019-H3", "month"),
        ("2019-13", "month"),
        ("2019-10-08T24:00", "no such time"),
        ("20244", "four digits"),
        ("1066", "between"),
        ("", "empty"),
    ] {
        let error = parse_event(&line(occurred)).unwrap_err();
        assert_eq!(error.field, "occurred", "{occurred}: {error}");
        assert!(error.reason.contains(reason), "{occurred}: {error}");
    }
}
