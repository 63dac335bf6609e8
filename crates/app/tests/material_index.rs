//! The report's material looked up in the index gives the same report as the material folded
//! from the whole log, for every log position and report day, however the index was brought up
//! to date, with corrections and retractions of every kind of material.

use chrono::{Days, NaiveDate};
use lagesbild_app::material::{MATERIAL_FORMAT, catch_up, for_day};
use lagesbild_app::report::fold_material;
use lagesbild_model::{FuzzyDate, parse_event};
use lagesbild_store::{EventLog, SqliteStore};
use lagesbild_timeline::{Projection, ReportModel, build_report};
use proptest::prelude::*;

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date")
}

/// A valid time around the first weeks of 2024, in every precision the report compares.
fn when(day: u64, precision: u8) -> String {
    let d = day0() + Days::new(day);
    match precision % 6 {
        0 => d.format("%Y-%m").to_string(),
        1 => format!("{}T{:02}:{:02}", d, 8 + day % 9, (day * 7) % 60),
        2 => format!("{}T{:02}:00", d, 17 - day % 5),
        3 if day.is_multiple_of(3) => "2024".to_owned(),
        _ => d.to_string(),
    }
}

const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One generated event, given as (choice, day, precision, number, target) so that proptest can
/// shrink it.
fn event_json(kinds: &[&str], op: (u8, u64, u8, u64, usize)) -> String {
    let (choice, day, precision, n, target) = op;
    let occurred = when(day, precision);
    let figure = format!("fig-{}", n % 3);
    match choice % 14 {
        0 => format!(
            r#"{{"kind":"situation_noted","occurred":"{occurred}","summary":"Vecka {n}.","data":{{"section":"summary","points":["Punkt {n}"]}}}}"#
        ),
        1 => format!(
            r#"{{"kind":"situation_noted","occurred":"{occurred}","summary":"Stående {n}.","data":{{"section":"about","standing":true}}}}"#
        ),
        2 => format!(
            r#"{{"kind":"situation_noted","occurred":"{occurred}","summary":"Till och med {n}.","data":{{"section":"operations","until":"{}"}}}}"#,
            when(day + n % 20, 4)
        ),
        3 => format!(
            r#"{{"kind":"communication_published","occurred":"{occurred}","summary":"Nyhet {n}.","data":{{"title":"Nyhet {n}","url":"https://example.invalid/{n}"}}}}"#
        ),
        4 => format!(
            r#"{{"kind":"communication_published","occurred":"{occurred}","summary":"Länk {n}.","data":{{"title":"Länk {n}","listing":"collected"}}}}"#
        ),
        5 => format!(
            r#"{{"kind":"report_published","occurred":"{occurred}","summary":"Rapport {n}.","data":{{"report_date":"{}","compiled_at":"{}T09:00","log_seq":1,"head_hash":"{HASH}","template_digest":"{HASH}","outputs":[{{"format":"md","sha256":"{HASH}"}}]}}}}"#,
            when(day, 4),
            when(day, 4)
        ),
        6 => format!(
            r#"{{"kind":"role_assigned","occurred":"{occurred}","summary":"Roll {n}.","data":{{"role":"talesperson","person":"Person {}","title":"Titel {n}"}}}}"#,
            n % 3
        ),
        7 | 8 => format!(
            r#"{{"kind":"figure_reported","occurred":"{occurred}","summary":"Tal {n}.","data":{{"figure":"{figure}","label":"Tal {}","value":{n},"unit":"st"}}}}"#,
            n % 3
        ),
        9 if !kinds.is_empty() => {
            // Corrects an earlier event: its valid time and summary, or for a figure or a
            // note its data too.
            let seq = 1 + target % kinds.len();
            let data = match kinds[seq - 1] {
                "figure_reported" => format!(
                    r#","data":{{"figure":"fig-{}","value":{},"unit":"st"}}"#,
                    (n + 1) % 3,
                    n * 2
                ),
                "situation_noted" => {
                    r#","data":{"section":"communications","standing":true}"#.to_owned()
                }
                _ => String::new(),
            };
            format!(
                r#"{{"kind":"event_corrected","occurred":"{occurred}","summary":"Rättelse.","data":{{"target":{{"seq":{seq}}},"reason":"Fel.","occurred":"{}","summary":"Rättad {n}."{data}}}}}"#,
                when(day + 3, precision + 1)
            )
        }
        10 if !kinds.is_empty() => format!(
            r#"{{"kind":"event_retracted","occurred":"{occurred}","summary":"Återkallad.","data":{{"target":{{"seq":{}}},"reason":"Fel."}}}}"#,
            1 + target % kinds.len()
        ),
        12 => {
            // The order of a section's points in the edition of the day: the last few seqs,
            // newest first, so that it differs from the order they were written in.
            let order: Vec<String> = (0..=(n % 4))
                .map(|i| (kinds.len() as u64).saturating_sub(i).max(1).to_string())
                .collect();
            format!(
                r#"{{"kind":"points_ordered","occurred":"{occurred}","summary":"Ordning.","data":{{"edition":"{}","section":"{}","order":[{}]}}}}"#,
                when(day, 4),
                ["summary", "operations", "communications", "about"][(n % 4) as usize],
                order.join(",")
            )
        }
        13 => format!(
            r#"{{"kind":"situation_noted","occurred":"{occurred}","summary":"Förslag {n}.","data":{{"section":"summary","carried_from":{},"proposed":true}}}}"#,
            1 + target % kinds.len().max(1)
        ),
        _ => format!(
            r#"{{"kind":"fact_reported","occurred":"{occurred}","stream":"support","summary":"Ärende {n}.","source":{{"title":"Ärende {n}"}},"data":{{"topic":"support"}}}}"#
        ),
    }
}

/// Appends the events one by one (the store refuses some corrections and retractions, as it
/// should; those are skipped), bringing the index up to date after every `every` events.
fn build(ops: &[(u8, u64, u8, u64, usize)], every: usize) -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().expect("store");
    let mut kinds: Vec<&str> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let line = event_json(&kinds, *op);
        let event = parse_event(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let kind = event.kind();
        match store.append(&[event], &[]) {
            Ok(_) => kinds.push(kind),
            Err(e) if std::env::var_os("DBG").is_some() => eprintln!("refused: {e}: {line}"),
            Err(_) => {}
        }
        if every > 0 && i % every == every - 1 {
            catch_up(&mut store).expect("catch up");
        }
    }
    catch_up(&mut store).expect("catch up");
    store
}

fn report(material: &lagesbild_timeline::Material, day: NaiveDate) -> ReportModel {
    let view = Projection::new().view(Some(day));
    let compiled = FuzzyDate::parse("2024-03-01T10:00").expect("a date");
    let mut model = build_report(material, &view, &view, day, compiled);
    // `build_model` sets the position the report was asked at; a fold's own last position is
    // that of its last material event.
    model.log_seq = 0;
    model
}

fn ops() -> impl Strategy<Value = Vec<(u8, u64, u8, u64, usize)>> {
    prop::collection::vec((0u8..12, 0u64..45, 0u8..6, 0u64..40, 0usize..1_000), 1..70)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        if std::env::var_os("LAGESBILD_SLOW_TESTS").is_some() { 400 } else { 48 }
    ))]

    #[test]
    fn the_indexed_material_gives_the_report_of_the_full_fold(
        ops in ops(),
        every in 0usize..9,
        days in prop::collection::vec(0u64..60, 1..5),
    ) {
        let store = build(&ops, every);
        let head = store.head().expect("head").seq;
        for seq in 0..=head {
            let folded = fold_material(&store, seq).expect("fold");
            for offset in &days {
                let day = day0() + Days::new(*offset);
                let indexed = for_day(&store, seq, day).expect("lookup");
                prop_assert_eq!(
                    report(&indexed, day),
                    report(&folded, day),
                    "known at {}, report day {}", seq, day
                );
            }
        }
    }
}

#[test]
fn the_index_is_caught_up_incrementally_and_rebuilt_after_a_restore() {
    let ops: Vec<_> = (0..300u64)
        .map(|i| {
            (
                (i % 12) as u8,
                i % 45,
                (i % 6) as u8,
                i * 7 % 40,
                (i * 7_919 % 997) as usize,
            )
        })
        .collect();
    let store = build(&ops, 17);
    let head = store.head().unwrap().seq;
    assert!(head > 200, "most events are accepted: {head}");
    assert_eq!(
        store.material_position(MATERIAL_FORMAT).unwrap(),
        Some(head)
    );
    let day = day0() + Days::new(30);
    let expected = report(&fold_material(&store, head).unwrap(), day);
    assert_eq!(report(&for_day(&store, head, day).unwrap(), day), expected);
    assert!(!expected.figures.is_empty() && !expected.about.is_empty());
    // Corrections reached the report: a note corrected into a standing one.
    assert!(
        expected
            .communications
            .iter()
            .any(|n| n.text.starts_with("Rättad")),
        "{expected:#?}"
    );

    // An export restored into a new file starts without an index and builds the same one.
    let events: Vec<_> = lagesbild_store::scan(&store, &lagesbild_store::Filter::default())
        .collect::<Result<_, _>>()
        .unwrap();
    let mut restored = SqliteStore::open_in_memory().unwrap();
    restored.restore(events.into_iter().map(Ok)).unwrap();
    assert_eq!(restored.material_position(MATERIAL_FORMAT).unwrap(), None);
    catch_up(&mut restored).unwrap();
    assert_eq!(
        report(&for_day(&restored, head, day).unwrap(), day),
        expected
    );
    // An index kept in another format is emptied and rebuilt.
    assert_eq!(
        restored.material_position(MATERIAL_FORMAT + 1).unwrap(),
        None
    );
}
