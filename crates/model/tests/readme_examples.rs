//! Every kind has an example in events/README.md, and every example is a valid event, so the
//! contract users write against cannot drift from the code.

use lagesbild_model::{KINDS, parse_event};

#[test]
fn every_kind_has_a_valid_example_in_the_event_format_docs() {
    let readme = include_str!("../../../events/README.md");
    let mut examples = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        match line {
            "```json" => inside = true,
            "```" => inside = false,
            _ if inside => examples.push(line),
            _ => {}
        }
    }
    let mut documented = Vec::new();
    for example in &examples {
        let value: serde_json::Value =
            serde_json::from_str(example).unwrap_or_else(|e| panic!("not JSON ({e}): {example}"));
        let kind = value["kind"].as_str().expect("a kind").to_owned();
        // Shortened digests ("9c98…") are marked as such in the text.
        if !example.contains('…') {
            parse_event(example).unwrap_or_else(|e| panic!("invalid example: {e}\n{example}"));
        }
        documented.push(kind);
    }
    for kind in KINDS {
        assert!(
            documented.iter().any(|d| d == kind),
            "events/README.md has no example of {kind}"
        );
    }
}
