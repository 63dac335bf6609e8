//! Replaying from a checkpoint equals replaying from scratch, for any split point and any mix of
//! programme events, corrections and retractions, and every as-of date; and folding events
//! handed over (`apply_owned`, `apply_fact_owned`, `Material::apply_owned`) equals folding
//! them borrowed.

use chrono::{DateTime, NaiveDate};
use lagesbild_model::{RecordedAt, StoredEvent, event_from_value};
use lagesbild_timeline::{Material, Projection, is_report_material, replay};
use proptest::prelude::*;
use serde_json::json;

const WAVES: [&str; 4] = ["sodra-1", "sodra-2", "norra-ostra", "vastra"];
const MATTERS: [&str; 3] = ["m-1", "m-2", "m-3"];

fn date(months: u32) -> String {
    format!("{}-{:02}", 2018 + months / 12, months % 12 + 1)
}

/// One random event as JSON (`choice` 0–9 a programme event, a correction or a retraction; 10 a
/// timeline-only fact; 11 report material); `seq` is its place in the log, so corrections can
/// point back.
fn event_json(choice: u8, a: u32, b: u32, seq: u64) -> serde_json::Value {
    let source = json!({"title": "Källa"});
    let wave = WAVES[(a % 4) as usize];
    let matter = MATTERS[(a % 3) as usize];
    let occurred = date(a % 96);
    let target = json!({"seq": 1 + u64::from(b) % seq.max(1)});
    match choice {
        0 | 1 => {
            json!({"kind": "plan_revised", "occurred": occurred, "summary": "Ny tidplan.", "source": source,
            "data": {"partial": b.is_multiple_of(3), "waves": [{"wave": wave, "area": "Område", "planned": date(a % 96 + b % 40)}]}})
        }
        2 => {
            json!({"kind": "wave_started", "occurred": occurred, "summary": "Start.", "source": source, "data": {"wave": wave}})
        }
        3 => {
            json!({"kind": "rollout_paused", "occurred": occurred, "summary": "Paus.", "source": source})
        }
        4 => {
            json!({"kind": "rollout_resumed", "occurred": occurred, "summary": "Återstart.", "source": source})
        }
        5 => {
            json!({"kind": "legal_action_filed", "occurred": occurred, "summary": "Stämning.", "source": source,
            "data": {"matter": matter, "plaintiff": "Någon", "next_date": date(a % 96 + 2)}})
        }
        6 => {
            json!({"kind": "legal_action_updated", "occurred": occurred, "summary": "Dom.", "source": source,
            "data": {"matter": matter, "closed": b.is_multiple_of(2)}})
        }
        7 => json!({"kind": "event_corrected", "occurred": "2026-11-23", "summary": "Rättelse.",
            "data": {"target": target, "reason": "Fel datum.", "occurred": date(b % 96)}}),
        8 => json!({"kind": "event_retracted", "occurred": "2026-11-23", "summary": "Återkallad.",
            "data": {"target": target, "reason": "Fel."}}),
        9 => {
            json!({"kind": "budget_set", "occurred": occurred, "summary": "Budget.", "source": source,
            "data": {"budget": "programbudget", "value_msek": a}})
        }
        // Kinds only `mixed` draws: a timeline-only fact and report material.
        10 => {
            json!({"kind": "fact_reported", "occurred": occurred, "stream": "support", "key": format!("fakta-{seq}"),
            "summary": format!("Ärende {a}."), "source": source, "data": {"topic": "support"}})
        }
        _ => {
            json!({"kind": "situation_noted", "occurred": occurred, "stream": "rapport",
            "summary": format!("Läget {b}."), "data": {"section": "operations", "standing": b.is_multiple_of(2)}})
        }
    }
}

/// Like [`stored`], with timeline-only facts and report material in the mix.
fn mixed(events: &[(u8, u32, u32)]) -> Vec<StoredEvent> {
    let widened: Vec<(u8, u32, u32)> = events
        .iter()
        .map(|&(choice, a, b)| {
            (
                if choice % 4 == 0 {
                    10 + choice % 2
                } else {
                    choice % 10
                },
                a,
                b,
            )
        })
        .collect();
    stored(&widened)
}

fn stored(events: &[(u8, u32, u32)]) -> Vec<StoredEvent> {
    let at = RecordedAt(DateTime::from_timestamp(1_700_000_000, 0).expect("a valid timestamp"));
    events
        .iter()
        .enumerate()
        .map(|(i, &(choice, a, b))| {
            let seq = i as u64 + 1;
            let mut value = event_json(choice, a, b, seq - 1);
            // A correction with nothing before it to point at becomes a plain fact.
            if seq == 1
                && value["kind"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("event_"))
            {
                value = event_json(0, a, b, 0);
            }
            StoredEvent {
                seq,
                stream_version: seq,
                recorded_at: at,
                schema: 1,
                event: event_from_value(value).expect("generated events are valid"),
                prev_hash: String::new(),
                hash: String::new(),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if std::env::var("LAGESBILD_SLOW_TESTS").is_ok() { 1024 } else { 128 }))]

    #[test]
    fn replay_from_a_checkpoint_equals_replay_from_scratch(
        events in prop::collection::vec((any::<u8>(), 0u32..200, 0u32..200), 1..60),
        split in 0usize..60,
        as_of_months in prop::collection::vec(0u32..120, 1..4),
    ) {
        let programme: Vec<(u8, u32, u32)> = events.iter().map(|&(c, a, b)| (c % 10, a, b)).collect();
        let log = stored(&programme);
        let split = split.min(log.len());
        let whole = replay(&log);

        let first = replay(&log[..split]);
        let mut resumed = Projection::from_checkpoint(&first.to_checkpoint()).expect("a checkpoint reads back");
        prop_assert_eq!(&resumed, &first);
        for event in &log[split..] {
            resumed.apply(event);
        }
        prop_assert_eq!(&resumed, &whole);

        // Folding an event twice (a checkpoint older than the events fed) changes nothing.
        let mut again = whole.clone();
        for event in &log {
            again.apply(event);
        }
        prop_assert_eq!(&again, &whole);

        for months in as_of_months {
            let day = NaiveDate::from_ymd_opt(2018 + (months / 12) as i32, months % 12 + 1, 1).unwrap();
            prop_assert_eq!(resumed.view(Some(day)), whole.view(Some(day)));
        }
        prop_assert_eq!(resumed.view(None), whole.view(None));
    }

    #[test]
    fn folding_events_handed_over_equals_folding_them_borrowed(
        events in prop::collection::vec((any::<u8>(), 0u32..200, 0u32..200), 1..80),
    ) {
        let log = mixed(&events);

        // The whole projection and the material, as the full replay folds them.
        let mut borrowed = (Projection::new(), Material::new());
        for event in &log {
            borrowed.0.apply(event);
            borrowed.1.apply(event);
        }
        let mut owned = (Projection::new(), Material::new());
        for event in log.clone() {
            if is_report_material(event.event.data.kind()) {
                owned.0.apply(&event);
                owned.1.apply_owned(event);
            } else {
                owned.1.apply(&event);
                owned.0.apply_owned(event);
            }
        }
        prop_assert_eq!(&owned.0, &borrowed.0);
        prop_assert_eq!(&owned.1, &borrowed.1);

        // The programme, then its facts added handed over, as the timeline and a page fold them.
        let mut programme = Projection::new();
        for event in &log {
            programme.apply_programme(event);
        }
        let mut facts_borrowed = programme.clone();
        let mut facts_owned = programme;
        for event in &log {
            facts_borrowed.apply_fact(event);
        }
        for event in log.clone() {
            facts_owned.apply_fact_owned(event);
        }
        prop_assert_eq!(&facts_owned, &facts_borrowed);
        prop_assert_eq!(&facts_owned, &borrowed.0);
    }
}
