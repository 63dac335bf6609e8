//! A deterministic generator of synthetic histories of any size: a realistic mix of kinds and
//! streams, valid times spread over 2019–2026 and increasing with the position, Swedish text of
//! typical length. Every event passes `event_from_value`, so generating includes validating.

use chrono::{Datelike, Days, NaiveDate};
use lagesbild_model::{NewEvent, event_from_value};
use serde_json::{Value, json};

/// xorshift64*: small, fast, deterministic; quality is ample for choosing a mix of events.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST_DAY: (i32, u32, u32) = (2019, 1, 1);
const LAST_DAY: (i32, u32, u32) = (2026, 12, 31);

fn day(ymd: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(ymd.0, ymd.1, ymd.2).expect("a constant date")
}

/// The valid-time day of event `index` of `n`: spread evenly over 2019–2026, never decreasing.
pub fn day_of(index: usize, n: usize) -> NaiveDate {
    let span = (day(LAST_DAY) - day(FIRST_DAY)).num_days() as u64;
    let offset = (index as u64).saturating_mul(span) / (n.max(1) as u64);
    day(FIRST_DAY) + Days::new(offset)
}

const WAVES: &[(&str, &str)] = &[
    ("sodra-1", "Merparten av södra området"),
    ("sodra-2", "Resten av södra området"),
    ("norra-ostra", "Norra och östra området"),
    ("vastra", "Västra området med Göteborg"),
    ("hela", "Hela VGR"),
];

const UNITS: u64 = 60;

const OPENINGS: &[&str] = &[
    "Verksamheten rapporterade",
    "Supporten noterade",
    "Förvaltningen meddelade",
    "Vårdenheten beskrev",
    "Programkontoret sammanfattade",
    "Avvikelsegruppen konstaterade",
];

const MIDDLES: &[&str] = &[
    "att inloggningen till journalsystemet tog längre tid än väntat under morgonens ronder",
    "att läkemedelslistorna inte synkroniserades mellan avdelningarna efter uppdateringen",
    "att remisser till laboratoriet fastnade i kön och fick skickas om manuellt",
    "att personalen behövde mer utbildning i att dokumentera vårdplaner i det nya systemet",
    "att väntetiderna på akutmottagningen ökade medan rutinerna anpassades",
    "att integrationen mot röntgensystemet åter fungerade efter felsökning under natten",
];

const ENDINGS: &[&str] = &[
    "; åtgärder pågår och en uppföljning sker vid nästa avstämning.",
    ", och ärendet har lyfts till leverantören för vidare utredning.",
    "; en tillfällig rutin gäller tills en rättning har installerats.",
    ", vilket påverkade patientflödet men inte patientsäkerheten enligt bedömningen.",
];

fn sentence(rng: &mut Rng, unit: u64) -> String {
    format!(
        "{} vid enhet {unit} {}{}",
        rng.pick(OPENINGS),
        rng.pick(MIDDLES),
        rng.pick(ENDINGS)
    )
}

fn source(rng: &mut Rng, day: NaiveDate) -> Value {
    json!({
        "title": rng.pick(&["Regional rapport", "Pressmeddelande", "Protokoll från regionstyrelsen", "Insidan"]),
        "url": format!("https://example.invalid/dokument/{}", rng.below(1_000_000)),
        "published": day.to_string(),
    })
}

/// The state the generator carries between events: which matters are open, which waves started.
struct State {
    rng: Rng,
    matters_opened: u64,
    matters_closed: u64,
    plans: u64,
}

fn one(state: &mut State, index: usize, n: usize) -> Value {
    let d = day_of(index, n);
    let rng = &mut state.rng;
    let unit = rng.below(UNITS) + 1;
    let roll = rng.below(100_000);
    match roll {
        // Plan revisions of a few waves: about 1 in 5,000.
        0..20 => {
            state.plans += 1;
            let count = 1 + rng.below(3) as usize;
            let first = rng.below(WAVES.len() as u64) as usize;
            let waves: Vec<Value> = (0..count)
                .map(|k| {
                    let (wave, area) = WAVES[(first + k) % WAVES.len()];
                    let year = d.year() + 1 + rng.below(3) as i32;
                    json!({"wave": wave, "area": area, "planned": format!("{year}-H{}", 1 + rng.below(2))})
                })
                .collect();
            json!({
                "key": format!("plan-{}", state.plans),
                "kind": "plan_revised", "occurred": d.to_string(), "stream": "program",
                "summary": format!("Regionstyrelsen fastställde en reviderad tidplan (revision {}) för {} av införandets etapper efter en samlad bedömning av beredskapen i verksamheterna.", state.plans, count),
                "source": source(rng, d),
                "data": {"decided_by": "Regionstyrelsen", "partial": true, "waves": waves}
            })
        }
        20..30 => {
            let (wave, area) = WAVES[rng.below(WAVES.len() as u64) as usize];
            json!({
                "kind": "wave_started", "occurred": d.to_string(), "stream": "program",
                "summary": format!("Millennium startade i {area}; övergången skedde under helgen med förstärkt support på plats."),
                "source": source(rng, d),
                "data": {"wave": wave, "units": [format!("Enhet {unit}")]}
            })
        }
        30..35 => json!({
            "kind": "rollout_paused", "occurred": d.to_string(), "stream": "program",
            "summary": "Regiondirektören pausade införandet i väntan på en genomgång av patientsäkerheten.",
            "source": source(rng, d),
            "data": {"decided_by": "Regiondirektören"}
        }),
        35..40 => json!({
            "kind": "rollout_resumed", "occurred": d.to_string(), "stream": "program",
            "summary": "Införandet återupptogs efter beslut i regionstyrelsen.",
            "source": source(rng, d),
            "data": {"decided_by": "Regionstyrelsen"}
        }),
        40..50 => {
            state.matters_opened += 1;
            json!({
                "kind": "legal_action_filed", "occurred": d.to_string(), "stream": "program",
                "summary": "En vårdgivare begärde överprövning av beslutet att göra systemet obligatoriskt; förvaltningsrätten har tagit emot målet.",
                "source": source(rng, d),
                "data": {"matter": format!("mal-{}", state.matters_opened), "plaintiff": "En privat vårdgivare", "court": "Förvaltningsrätten"}
            })
        }
        50..60 => {
            state.matters_opened += 1;
            json!({
                "kind": "inquiry_received", "occurred": d.to_string(), "stream": "program",
                "summary": "Inspektionen för vård och omsorg begärde en redogörelse för hur patientsäkerheten säkras under införandet.",
                "source": source(rng, d),
                "data": {"matter": format!("mal-{}", state.matters_opened), "from": "IVO"}
            })
        }
        60..80 if state.matters_closed < state.matters_opened => {
            state.matters_closed += 1;
            json!({
                "kind": "legal_action_updated", "occurred": d.to_string(), "stream": "program",
                "summary": "Ärendet avslutades efter att regionen lämnat sitt svar och myndigheten inte begärt något mer.",
                "source": source(rng, d),
                "data": {"matter": format!("mal-{}", state.matters_closed), "closed": true, "outcome": "Avslutat."}
            })
        }
        // Weekly situation notes, about 3 %.
        80..3_080 => {
            let section = rng.pick(&["summary", "communications", "operations"]);
            json!({
                "kind": "situation_noted", "occurred": d.to_string(), "stream": "rapport",
                "summary": sentence(rng, unit),
                "data": {"section": section}
            })
        }
        // Communications, about 5 %.
        3_080..8_080 => json!({
            "kind": "communication_published", "occurred": d.to_string(), "stream": "rapport",
            "summary": format!("Information om läget vid enhet {unit} publicerades för medarbetare och patienter, med svar på de vanligaste frågorna om det nya journalsystemet."),
            "data": {"title": format!("Frågor och svar om Millennium, enhet {unit}"), "url": format!("https://example.invalid/nyheter/{index}"), "channel": "Insidan"}
        }),
        // Figures per unit, about 40 %.
        8_080..48_080 => {
            let (figure, label, unit_name) = match rng.below(3) {
                0 => ("konsulter", "Konsulter", "st"),
                1 => ("arenden", "Öppna supportärenden", "st"),
                _ => ("avvikelser", "Rapporterade avvikelser", "st"),
            };
            let value = rng.below(500);
            json!({
                "kind": "figure_reported", "occurred": d.to_string(), "stream": "rapport",
                "summary": format!("{label} vid enhet {unit}: {value} {unit_name} enligt veckans sammanställning från verksamheten och förvaltningen, rapporterat till programkontoret."),
                "data": {"figure": format!("{figure}-enhet-{unit}"), "label": format!("{label}, enhet {unit}"), "value": value, "unit": unit_name}
            })
        }
        // Operational facts: support tickets and deviation reports, the rest.
        _ => {
            let (stream, topic) = if rng.below(2) == 0 {
                ("support", "supportarende")
            } else {
                ("avvikelser", "avvikelse")
            };
            json!({
                "kind": "fact_reported", "occurred": d.to_string(), "stream": stream,
                "summary": sentence(rng, unit),
                "source": {"title": format!("Ärende {index}"), "url": format!("https://example.invalid/arende/{index}")},
                "data": {"topic": topic}
            })
        }
    }
}

/// `n` events of a synthetic history, the same for the same seed.
pub fn events(n: usize, seed: u64) -> impl Iterator<Item = NewEvent> {
    let mut state = State {
        rng: Rng::new(seed),
        matters_opened: 0,
        matters_closed: 0,
        plans: 0,
    };
    (0..n).map(move |index| {
        let value = one(&mut state, index, n);
        match event_from_value(value.clone()) {
            Ok(event) => event,
            Err(error) => panic!("the generator wrote an invalid event ({error}): {value}"),
        }
    })
}

/// The peer's shape of work: `n` events round robin over `streams` streams, each with about 200
/// characters of Swedish text, a date and a source URL.
pub fn peer_events(n: usize, streams: usize) -> impl Iterator<Item = NewEvent> {
    let text = "Privata vårdgivare startade en rättsprocess för att slippa införa systemet; skriftväxling pågår. ".repeat(2);
    let text = text.trim_end().to_owned();
    (0..n).map(move |i| {
        let value = json!({
            "kind": "fact_reported",
            "occurred": format!("2024-{:02}-15", (i % 1000) % 12 + 1),
            "stream": format!("wave-{}", i % streams.max(1)),
            "summary": text,
            "source": {"title": "Källa", "url": "https://example.invalid/doc"},
        });
        event_from_value(value).expect("the peer's event is valid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_event_is_valid_and_the_generator_is_deterministic() {
        let a: Vec<NewEvent> = events(20_000, 7).collect();
        let b: Vec<NewEvent> = events(20_000, 7).collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|e| e.kind() == "plan_revised"));
    }

    #[test]
    fn valid_time_never_decreases() {
        let days: Vec<NaiveDate> = (0..1_000).map(|i| day_of(i, 1_000)).collect();
        assert!(days.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(days[0], day(FIRST_DAY));
    }
}
