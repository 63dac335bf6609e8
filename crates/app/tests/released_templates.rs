//! An edition published with an earlier template set still passes the provenance check and
//! reproduces byte for byte after the templates changed: the set it recorded by digest is found
//! among the released ones (`report-templates/history/`). Without them the same edition is
//! refused as built with unknown templates, which is what happened before they were kept.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use lagesbild_app::provenance::{check_log, template_set_for, template_sets};
use lagesbild_app::publish::{publish, reproduce, reproduce_with};
use lagesbild_render::report::{ReportFormat, TemplateSet};
use lagesbild_store::{EventLog, EventRef, SqliteStore, StoreError};

/// The set shipped with the edition's heading (f192b4c), the last before the current one.
const EARLIER: &str = "9be704e6bf2840899a031e34073d62a40cfbf5758720dba82e2ba175d4aed79e";

fn seeded() -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().expect("opens");
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&events)
        .expect("events/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut batch = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(&file).expect("reads").lines() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                batch.push(lagesbild_model::parse_event(line).expect("valid"));
            }
        }
    }
    store.append(&batch, &[]).expect("appends");
    store
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 27).expect("a day")
}

fn compiled_at() -> chrono::NaiveDateTime {
    day().and_hms_opt(11, 15, 0).expect("a time")
}

fn earlier_set() -> TemplateSet {
    let sets = TemplateSet::released();
    let set = template_set_for(&sets, EARLIER)
        .expect("the set of f192b4c is released")
        .clone();
    assert_ne!(set.digest(), TemplateSet::embedded().digest());
    set
}

#[test]
fn an_edition_published_with_earlier_templates_reproduces_with_them() {
    let mut store = seeded();
    let earlier = earlier_set();
    let published =
        publish(&mut store, &earlier, day(), compiled_at(), Some("anna")).expect("publishes");

    // The provenance check (import, append, restore, the API) knows the set by its digest.
    check_log(&store, &template_sets(None)).expect("the earlier set is known");
    // Only the released history makes it so: the built-in set alone cannot rebuild it.
    let StoreError::Invalid { error, .. } =
        check_log(&store, &[TemplateSet::embedded()]).expect_err("unknown digest")
    else {
        panic!("a refused claim")
    };
    assert_eq!(error.field, "data.template_digest", "{}", error.reason);

    // Reproduced with the current templates configured, it is rebuilt with its own.
    let reproduction = reproduce(
        &mut store,
        &TemplateSet::embedded(),
        &EventRef::Seq(published.seq),
    )
    .expect("reproduces");
    assert!(reproduction.templates_match());
    assert_eq!(reproduction.template_digest, EARLIER);
    assert!(reproduction.identical(), "{:?}", reproduction.outputs);
    for (format, text) in &published.outputs {
        assert_eq!(
            reproduction.bytes(*format),
            Some(text.as_slice()),
            "{format:?}"
        );
    }

    // Asked for exactly other templates, it says they differ.
    let other = reproduce_with(
        &mut store,
        &TemplateSet::embedded(),
        &EventRef::Seq(published.seq),
    )
    .expect("reproduces");
    assert!(!other.templates_match() && !other.identical());
}

#[test]
fn after_a_template_change_the_edition_published_before_it_still_reproduces() {
    let mut store = seeded();
    // Published with the templates of the day (the built-in ones)...
    let published = publish(
        &mut store,
        &TemplateSet::embedded(),
        day(),
        compiled_at(),
        None,
    )
    .expect("publishes");
    // ...then a template is changed: the server now runs with another set.
    let mut changed = TemplateSet::embedded();
    changed.origin = "changed".into();
    for (name, text) in &mut changed.files {
        if name == "report.html" {
            *text = text.replace("Samlad information", "Samlad info");
        }
    }
    assert_ne!(changed.digest(), TemplateSet::embedded().digest());
    let reproduction =
        reproduce(&mut store, &changed, &EventRef::Seq(published.seq)).expect("reproduces");
    assert!(reproduction.identical());
    let html = reproduction.text(ReportFormat::Html).expect("html");
    assert!(html.contains("Samlad information"));
    check_log(&store, &template_sets(Some(&changed))).expect("still checks");
}
