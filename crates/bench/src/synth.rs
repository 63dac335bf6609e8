//! A deterministic generator of synthetic histories of any size, in two layers merged in
//! valid-time order. Every event passes `event_from_value`, so generating includes validating;
//! text is Swedish, of typical length (about 200 characters for summaries).
//!
//! A real log does not grow by having a bigger programme: the Millennium programme has a few
//! hundred programme events over eight years, and the communications staff write a few notes and
//! publications a week however much else is logged. What grows with the log is operational
//! volume: support tickets, deviation reports and figures per unit, every day, in more and more
//! streams. So the history has
//!
//! - a **calendar layer** that depends only on the seed and the day, never on the size: the
//!   programme in stream `program` (a plan revision every two to three months, the waves'
//!   starts, one pause and resumption, legal actions and inquiries opened and later closed) and
//!   the staff's writing in `rapport` (about three situation notes and two or three
//!   communications a week, a weekly `report_published`, the spokespersons' roles), about 3,000
//!   events over 2019–2026, generated in day order;
//! - an **operational layer** that fills the rest: `fact_reported` in `support`/`avvikelser` and
//!   `figure_reported` over a fixed set of [`FIGURES`] figures (three metrics × 60 units),
//!   13 to 10, spread evenly over the span's days.
//!
//! The as-of and report queries therefore face the same programme and the same weekly material
//! at every size, as they would in reality; only the operational streams grow with `n`. For
//! the same seed the calendar's events are identical, in the same relative order, at every size
//! of at least the calendar's; a smaller history is the calendar's first `n` events. Valid time
//! never decreases along the history: within a day the operational events come first, then the
//! calendar's, the weekly report (compiled at 11:15) last.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, Weekday};
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

/// The span's days, both ends included.
pub const SPAN_DAYS: usize = 2_922;

fn span_days() -> u64 {
    SPAN_DAYS as u64
}

/// The valid-time day of operational event `index` of `n`: spread evenly over the span's days,
/// never decreasing; from `n` = 2,922 (the span's days) on, the last one falls on the last day.
pub fn day_of(index: usize, n: usize) -> NaiveDate {
    let offset = (index as u64).saturating_mul(span_days()) / (n.max(1) as u64);
    day(FIRST_DAY) + Days::new(offset.min(span_days() - 1))
}

/// The valid-time day of the last event of `events(n, seed)`, the day a benchmark's report is
/// for; the first day of the span for an empty history.
pub fn last_day(n: usize, seed: u64) -> NaiveDate {
    let calendar = Calendar::build(seed);
    let from_calendar = n
        .min(calendar.len())
        .checked_sub(1)
        .map(|i| calendar[i].day);
    let operations = n.saturating_sub(calendar.len());
    let from_operations = operations.checked_sub(1).map(|i| day_of(i, operations));
    from_calendar
        .max(from_operations)
        .unwrap_or_else(|| day(FIRST_DAY))
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

/// A SHA-256-shaped digest: 64 lowercase hex digits.
fn digest(rng: &mut Rng) -> String {
    (0..4).map(|_| format!("{:016x}", rng.next_u64())).collect()
}

// ---- The calendar layer ----

/// An event of the calendar layer and the day it falls on.
struct Dated {
    day: NaiveDate,
    value: Value,
}

/// Something the programme fixed in advance or set in motion, written on its day.
enum Due {
    RoleAssigned {
        role: &'static str,
        person: &'static str,
        title: &'static str,
    },
    WaveStarted {
        wave: usize,
        part: u64,
    },
    Paused,
    Resumed,
    MatterUpdated {
        matter: u64,
        legal: bool,
        closed: bool,
    },
}

const PEOPLE: &[&str] = &[
    "Anna Lindqvist",
    "Johan Berg",
    "Maria Nyström",
    "Erik Holm",
    "Karin Sjöberg",
    "Peter Ekdahl",
    "Lena Åkesson",
];

/// The roles of the report's contact list: days after the span's first day, the window the
/// assignment falls in, role, title. Three at the start, then a new spokesperson twice.
const ROLES: &[(u64, u64, &str, &str)] = &[
    (6, 21, "talesperson", "regiondirektör"),
    (6, 35, "talesperson", "programchef för Millennium"),
    (20, 60, "karngrupp-ledare", "kommunikationschef"),
    (1_160, 120, "talesperson", "hälso- och sjukvårdsdirektör"),
    (2_220, 120, "talesperson", "tillförordnad programchef"),
];

const PLAINTIFFS: &[&str] = &[
    "En privat vårdgivare",
    "En vårdcentral i södra området",
    "En patientförening",
    "En leverantör i upphandlingen",
];

const INQUIRERS: &[&str] = &["IVO", "JO", "IMY", "Regionens revisorer"];

const POINTS: &[&str] = &[
    "Supporten är förstärkt på plats under veckan",
    "Extra utbildningspass erbjuds för nattpersonal",
    "Läkemedelsmodulen uppdateras under helgen",
    "Samtliga enheter har fått en ny kontaktlista",
    "Avvikelser rapporteras som vanligt i MedControl",
    "Nästa avstämning med leverantören sker på torsdag",
];

const TOPICS: &[&str] = &[
    "Frågor och svar om Millennium",
    "Så får du hjälp med inloggningen",
    "Läget i införandet",
    "Nytt stöd för dokumentation av vårdplaner",
    "Information till patienter om väntetider",
];

const CHANNELS: &[&str] = &["Insidan", "vgregion.se", "Pressmeddelande", "Facebook"];

/// The calendar layer as it is built, day by day.
struct Calendar {
    rng: Rng,
    /// What falls due, by day and then by the order it was scheduled in.
    due: BTreeMap<(NaiveDate, u64), Due>,
    scheduled: u64,
    events: Vec<Dated>,
    plans: u64,
    next_plan: NaiveDate,
    waves_started: usize,
    matters: u64,
    communications: u64,
    template_digest: String,
}

impl Calendar {
    /// The whole calendar of `seed`, in day order.
    fn build(seed: u64) -> Vec<Dated> {
        let mut rng = Rng::new(seed);
        let first = day(FIRST_DAY);
        let template_digest = digest(&mut rng);
        let next_plan = first + Days::new(20 + rng.below(40));
        let mut calendar = Calendar {
            rng,
            due: BTreeMap::new(),
            scheduled: 0,
            events: Vec::new(),
            plans: 0,
            next_plan,
            waves_started: 0,
            matters: 0,
            communications: 0,
            template_digest,
        };
        calendar.schedule_roles(first);
        calendar.schedule_waves();
        let mut today = first;
        while today <= day(LAST_DAY) {
            calendar.programme_day(today);
            calendar.staff_day(today);
            today = today + Days::new(1);
        }
        calendar.events
    }

    fn schedule(&mut self, on: NaiveDate, due: Due) {
        self.due.insert((on, self.scheduled), due);
        self.scheduled += 1;
    }

    fn push(&mut self, on: NaiveDate, value: Value) {
        self.events.push(Dated { day: on, value });
    }

    fn schedule_roles(&mut self, first: NaiveDate) {
        let people = self.rng.below(PEOPLE.len() as u64) as usize;
        for (k, &(after, window, role, title)) in ROLES.iter().enumerate() {
            let on = first + Days::new(after + self.rng.below(window));
            let person = PEOPLE[(people + k) % PEOPLE.len()];
            self.schedule(
                on,
                Due::RoleAssigned {
                    role,
                    person,
                    title,
                },
            );
        }
    }

    /// The waves start in order, each in one to three parts a week apart, some 200–400 days
    /// apart; the rollout pauses a few weeks after the second wave and resumes four to eight
    /// months later, and the third wave waits for it.
    fn schedule_waves(&mut self) {
        let mut start = day((2021, 3, 1)) + Days::new(self.rng.below(180));
        for wave in 0..WAVES.len() {
            let parts = 1 + self.rng.below(3);
            for part in 1..=parts {
                self.schedule(
                    start + Days::new(7 * (part - 1)),
                    Due::WaveStarted { wave, part },
                );
            }
            if wave == 1 {
                let paused = start + Days::new(20 + self.rng.below(60));
                let resumed = paused + Days::new(120 + self.rng.below(120));
                self.schedule(paused, Due::Paused);
                self.schedule(resumed, Due::Resumed);
                start = resumed + Days::new(30 + self.rng.below(60));
            } else {
                start = start + Days::new(200 + self.rng.below(200));
            }
        }
    }

    fn programme_day(&mut self, today: NaiveDate) {
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > today {
                break;
            }
            let due = entry.remove();
            self.write_due(today, due);
        }
        if today >= self.next_plan {
            self.plan_revised(today);
            self.next_plan = today + Days::new(60 + self.rng.below(31));
        }
        // A new matter about every three weeks, a third of them in court.
        if self.rng.below(21) == 0 {
            self.matter_opened(today);
        }
    }

    fn write_due(&mut self, today: NaiveDate, due: Due) {
        let rng = &mut self.rng;
        let value = match due {
            Due::RoleAssigned {
                role,
                person,
                title,
            } => {
                let summary = if role == "talesperson" {
                    format!(
                        "{person} är talesperson för VGR i frågor om införandet av Millennium och svarar på frågor från medier, förtroendevalda och medarbetare."
                    )
                } else {
                    format!(
                        "{person} leder kärngruppen för kommunikation och samordnar regionens budskap om införandet av Millennium med förvaltningarna."
                    )
                };
                json!({
                    "kind": "role_assigned", "occurred": today.to_string(), "stream": "rapport",
                    "summary": summary,
                    "data": {"role": role, "person": person, "title": title}
                })
            }
            Due::WaveStarted { wave, part } => {
                if part == 1 {
                    self.waves_started = self.waves_started.max(wave + 1);
                }
                let (id, area) = WAVES[wave];
                let first_unit = rng.below(UNITS) + 1;
                let units: Vec<String> = (0..2 + rng.below(3))
                    .map(|k| format!("Enhet {}", (first_unit + k) % UNITS + 1))
                    .collect();
                json!({
                    "kind": "wave_started", "occurred": today.to_string(), "stream": "program",
                    "summary": format!("Millennium startade i {area} (del {part}); övergången skedde under helgen med förstärkt support på plats och extra personal på de berörda enheterna."),
                    "source": source(rng, today),
                    "data": {"wave": id, "units": units}
                })
            }
            Due::Paused => json!({
                "kind": "rollout_paused", "occurred": today.to_string(), "stream": "program",
                "summary": "Regiondirektören pausade införandet i väntan på en genomgång av patientsäkerheten; de enheter som redan har gått över fortsätter att använda systemet med förstärkt stöd.",
                "source": source(rng, today),
                "data": {"decided_by": "Regiondirektören"}
            }),
            Due::Resumed => json!({
                "kind": "rollout_resumed", "occurred": today.to_string(), "stream": "program",
                "summary": "Införandet återupptogs efter beslut i regionstyrelsen, sedan genomgången av patientsäkerheten visat att de viktigaste bristerna hade åtgärdats.",
                "source": source(rng, today),
                "data": {"decided_by": "Regionstyrelsen"}
            }),
            Due::MatterUpdated {
                matter,
                closed: false,
                ..
            } => json!({
                "kind": "legal_action_updated", "occurred": today.to_string(), "stream": "program",
                "summary": "Domstolen begärde kompletterande yttranden från regionen och motparten; en muntlig förhandling planeras innan målet kan avgöras.",
                "source": source(rng, today),
                "data": {"matter": format!("mal-{matter}"), "next_step": "Muntlig förhandling"}
            }),
            Due::MatterUpdated { matter, legal, .. } => {
                let outcome = if legal {
                    rng.pick(&[
                        "Målet avskrevs.",
                        "Överklagandet avslogs.",
                        "Parterna förlikte sig.",
                    ])
                } else {
                    rng.pick(&[
                        "Ärendet avslutades utan kritik.",
                        "Ärendet avslutades med kritik.",
                    ])
                };
                json!({
                    "kind": "legal_action_updated", "occurred": today.to_string(), "stream": "program",
                    "summary": "Ärendet avslutades efter att regionen lämnat sitt svar och myndigheten inte begärt något mer; beslutet har delgetts programkontoret.",
                    "source": source(rng, today),
                    "data": {"matter": format!("mal-{matter}"), "closed": true, "outcome": outcome}
                })
            }
        };
        self.push(today, value);
    }

    /// A revision of the plan for the waves that have not started yet (once all have, of any).
    fn plan_revised(&mut self, today: NaiveDate) {
        self.plans += 1;
        let rng = &mut self.rng;
        let remaining = WAVES.len() - self.waves_started.min(WAVES.len());
        let (first, count) = if remaining == 0 {
            (rng.below(WAVES.len() as u64) as usize, 1 + rng.below(3))
        } else {
            (self.waves_started, 1 + rng.below(remaining.min(3) as u64))
        };
        // Half-years from now on: each wave one or two halves after the one before.
        let mut half = 2 * today.year() + i32::from(today.month() > 6);
        let waves: Vec<Value> = (0..count as usize)
            .map(|k| {
                half += 1 + rng.below(2) as i32;
                let (wave, area) = WAVES[(first + k) % WAVES.len()];
                json!({"wave": wave, "area": area, "planned": format!("{}-H{}", half / 2, half % 2 + 1)})
            })
            .collect();
        let value = json!({
            "key": format!("plan-{}", self.plans),
            "kind": "plan_revised", "occurred": today.to_string(), "stream": "program",
            "summary": format!("Regionstyrelsen fastställde en reviderad tidplan (revision {}) för {} av införandets etapper efter en samlad bedömning av beredskapen i verksamheterna.", self.plans, count),
            "source": source(rng, today),
            "data": {"decided_by": "Regionstyrelsen", "partial": true, "waves": waves}
        });
        self.push(today, value);
    }

    /// A legal action or an inquiry, closed 30–300 days later; half the legal actions get a
    /// step on the way.
    fn matter_opened(&mut self, today: NaiveDate) {
        self.matters += 1;
        let matter = self.matters;
        let rng = &mut self.rng;
        let legal = rng.below(3) == 0;
        let open_days = 30 + rng.below(270);
        let value = if legal {
            json!({
                "kind": "legal_action_filed", "occurred": today.to_string(), "stream": "program",
                "summary": "En vårdgivare begärde överprövning av beslutet att göra systemet obligatoriskt; förvaltningsrätten har tagit emot målet och begärt regionens yttrande.",
                "source": source(rng, today),
                "data": {"matter": format!("mal-{matter}"), "plaintiff": rng.pick(PLAINTIFFS), "court": "Förvaltningsrätten i Göteborg"}
            })
        } else {
            json!({
                "kind": "inquiry_received", "occurred": today.to_string(), "stream": "program",
                "summary": "En tillsynsmyndighet begärde en redogörelse för hur patientsäkerheten och informationssäkerheten säkras under införandet av det nya journalsystemet.",
                "source": source(rng, today),
                "data": {"matter": format!("mal-{matter}"), "from": rng.pick(INQUIRERS), "due": (today + Days::new(30)).to_string()}
            })
        };
        let step = (legal && rng.below(2) == 0).then(|| 10 + rng.below(open_days - 10));
        self.push(today, value);
        if let Some(step) = step {
            let update = Due::MatterUpdated {
                matter,
                legal,
                closed: false,
            };
            self.schedule(today + Days::new(step), update);
        }
        self.schedule(
            today + Days::new(open_days),
            Due::MatterUpdated {
                matter,
                legal,
                closed: true,
            },
        );
    }

    /// On weekdays: a situation note three days in five, a communication every other day; on
    /// Fridays the week's report, last.
    fn staff_day(&mut self, today: NaiveDate) {
        if matches!(today.weekday(), Weekday::Sat | Weekday::Sun) {
            return;
        }
        if self.rng.below(5) < 3 {
            self.situation_noted(today);
        }
        if self.rng.below(2) == 0 {
            self.communication_published(today);
        }
        if today.weekday() == Weekday::Fri {
            self.report_published(today);
        }
    }

    /// A note for this week's report; one in a hundred stands until withdrawn, six in a hundred
    /// stand until a day a few weeks on, one in eight has points.
    fn situation_noted(&mut self, today: NaiveDate) {
        let rng = &mut self.rng;
        let unit = rng.below(UNITS) + 1;
        let section = rng.pick(&["summary", "communications", "operations"]);
        let mut data = json!({"section": section});
        let summary = match rng.below(100) {
            0 => {
                data["standing"] = json!(true);
                "Supporten för Millennium nås dygnet runt på telefon och via Insidan; frågor om behörigheter, inloggning och utskrifter hanteras av den lokala supporten på varje sjukhus."
                    .to_owned()
            }
            1..=6 => {
                data["until"] = json!((today + Days::new(7 + rng.below(35))).to_string());
                sentence(rng, unit)
            }
            _ => sentence(rng, unit),
        };
        if rng.below(8) == 0 {
            let first = rng.below(POINTS.len() as u64) as usize;
            let points: Vec<&str> = (0..2 + rng.below(3) as usize)
                .map(|k| POINTS[(first + k) % POINTS.len()])
                .collect();
            data["points"] = json!(points);
        }
        self.push(
            today,
            json!({
                "kind": "situation_noted", "occurred": today.to_string(), "stream": "rapport",
                "summary": summary,
                "data": data
            }),
        );
    }

    /// A published item; one in forty is listed under *Samlad information* until retracted.
    fn communication_published(&mut self, today: NaiveDate) {
        self.communications += 1;
        let number = self.communications;
        let rng = &mut self.rng;
        let unit = rng.below(UNITS) + 1;
        let title = format!("{}, enhet {unit}", rng.pick(TOPICS));
        let mut data = json!({
            "title": title,
            "url": format!("https://example.invalid/nyheter/{number}"),
            "channel": rng.pick(CHANNELS),
        });
        if rng.below(40) == 0 {
            data["listing"] = json!("collected");
        }
        self.push(
            today,
            json!({
                "kind": "communication_published", "occurred": today.to_string(), "stream": "rapport",
                "summary": format!("Publicerat: {title}. Informationen riktar sig till medarbetare och patienter och svarar på de vanligaste frågorna om det nya journalsystemet."),
                "data": data
            }),
        );
    }

    /// The week's report, compiled at 11:15 on Friday. Its `log_seq` is the number of calendar
    /// events before it: the calendar cannot know the operational events' positions, and nothing
    /// but `reproduce` reads it.
    fn report_published(&mut self, today: NaiveDate) {
        let compiled_at = format!("{today}T11:15");
        let log_seq = self.events.len();
        let rng = &mut self.rng;
        let value = json!({
            "kind": "report_published", "occurred": compiled_at, "stream": "rapport",
            "summary": format!("Regional rapport för vecka {} publicerades för medarbetare, förtroendevalda och samarbetspartner, med lägesbild, kommunikativa åtgärder och nyckeltal.", today.iso_week().week()),
            "data": {
                "report_date": today.to_string(),
                "compiled_at": compiled_at,
                "log_seq": log_seq,
                "head_hash": digest(rng),
                "template_digest": self.template_digest,
                "template": "embedded",
                "outputs": [{"format": "md", "sha256": digest(rng), "bytes": 9_000 + rng.below(4_000)}]
            }
        });
        self.push(today, value);
    }
}

// ---- The operational layer ----

/// The metrics reported per unit: id prefix, label, unit, the largest starting value.
const METRICS: &[(&str, &str, &str, u64)] = &[
    ("konsulter", "Konsulter", "st", 120),
    ("arenden", "Öppna supportärenden", "st", 450),
    ("avvikelser", "Rapporterade avvikelser", "st", 60),
];

/// The number of distinct figure ids: every metric for every unit, `konsulter-enhet-17` etc.
pub const FIGURES: usize = METRICS.len() * UNITS as usize;

/// The operational layer: `total` events, 13 facts to 10 figures, evenly over the span.
struct Operations {
    rng: Rng,
    total: usize,
    next: usize,
    figures_reported: usize,
    /// Each figure's current value, a random walk.
    values: Vec<u64>,
}

impl Operations {
    fn new(seed: u64, total: usize) -> Operations {
        // A stream of its own, so that the calendar does not depend on the operational volume.
        let mut rng = Rng::new(seed ^ 0x6F70_6572_6174_696F);
        let values = (0..FIGURES)
            .map(|k| rng.below(METRICS[k / UNITS as usize].3 + 1))
            .collect();
        Operations {
            rng,
            total,
            next: 0,
            figures_reported: 0,
            values,
        }
    }

    fn next_day(&self) -> Option<NaiveDate> {
        (self.next < self.total).then(|| day_of(self.next, self.total))
    }

    fn next_value(&mut self) -> Value {
        let index = self.next;
        let today = day_of(index, self.total);
        self.next += 1;
        let rng = &mut self.rng;
        let unit = rng.below(UNITS) + 1;
        if rng.below(23) < 10 {
            // The figures in turn, so that every unit reports every metric now and then.
            let k = self.figures_reported % FIGURES;
            self.figures_reported += 1;
            let (metric, label, unit_name, largest) = METRICS[k / UNITS as usize];
            let unit = k as u64 % UNITS + 1;
            let step = largest / 10 + 2;
            let value = (self.values[k] + rng.below(2 * step + 1)).saturating_sub(step);
            self.values[k] = value;
            json!({
                "kind": "figure_reported", "occurred": today.to_string(), "stream": "rapport",
                "summary": format!("{label} vid enhet {unit}: {value} {unit_name} enligt veckans sammanställning från verksamheten och förvaltningen, rapporterat till programkontoret."),
                "data": {"figure": format!("{metric}-enhet-{unit}"), "label": format!("{label}, enhet {unit}"), "value": value, "unit": unit_name}
            })
        } else {
            let (stream, topic) = if rng.below(2) == 0 {
                ("support", "supportarende")
            } else {
                ("avvikelser", "avvikelse")
            };
            json!({
                "kind": "fact_reported", "occurred": today.to_string(), "stream": stream,
                "summary": sentence(rng, unit),
                "source": {"title": format!("Ärende {index}"), "url": format!("https://example.invalid/arende/{index}")},
                "data": {"topic": topic}
            })
        }
    }
}

// ---- The history ----

/// The two layers merged by day: a day's operational events, then its calendar events.
struct History {
    calendar: Vec<Dated>,
    /// How many of the calendar's events the history holds: all of them unless `n` is smaller.
    calendar_len: usize,
    next_calendar: usize,
    operations: Operations,
}

impl Iterator for History {
    type Item = NewEvent;

    fn next(&mut self) -> Option<NewEvent> {
        let calendar_day =
            (self.next_calendar < self.calendar_len).then(|| self.calendar[self.next_calendar].day);
        let value = match (calendar_day, self.operations.next_day()) {
            (None, None) => return None,
            (Some(calendar), Some(operation)) if operation <= calendar => {
                self.operations.next_value()
            }
            (None, Some(_)) => self.operations.next_value(),
            (Some(_), _) => {
                let value = std::mem::take(&mut self.calendar[self.next_calendar].value);
                self.next_calendar += 1;
                value
            }
        };
        match event_from_value(value.clone()) {
            Ok(event) => Some(event),
            Err(error) => panic!("the generator wrote an invalid event ({error}): {value}"),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left =
            self.calendar_len - self.next_calendar + self.operations.total - self.operations.next;
        (left, Some(left))
    }
}

/// `n` events of a synthetic history, the same for the same seed: the calendar of `seed` (about
/// 3,000 events) and `n` minus that many operational events; if `n` is smaller than the
/// calendar, the calendar's first `n` events. Streams; only the calendar is held in memory.
pub fn events(n: usize, seed: u64) -> impl Iterator<Item = NewEvent> {
    let calendar = Calendar::build(seed);
    let calendar_len = n.min(calendar.len());
    History {
        calendar,
        calendar_len,
        next_calendar: 0,
        operations: Operations::new(seed, n - calendar_len),
    }
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
    use std::collections::BTreeSet;
    use std::sync::OnceLock;

    use lagesbild_model::EventData;

    use super::*;

    fn is_operational(event: &NewEvent) -> bool {
        matches!(event.kind(), "fact_reported" | "figure_reported")
    }

    /// What the tests need of one pass over a history, without holding its events.
    struct Summary {
        len: usize,
        kinds: BTreeMap<&'static str, usize>,
        calendar: Vec<NewEvent>,
        figures: BTreeSet<String>,
        valid_time_never_decreases: bool,
        last_day: NaiveDate,
    }

    fn summary(n: usize, seed: u64) -> Summary {
        let mut summary = Summary {
            len: 0,
            kinds: BTreeMap::new(),
            calendar: Vec::new(),
            figures: BTreeSet::new(),
            valid_time_never_decreases: true,
            last_day: day(FIRST_DAY),
        };
        let mut previous = None;
        for event in events(n, seed) {
            summary.len += 1;
            *summary.kinds.entry(event.kind()).or_default() += 1;
            if previous.is_some_and(|previous| previous > event.occurred) {
                summary.valid_time_never_decreases = false;
            }
            previous = Some(event.occurred);
            summary.last_day = event.occurred.first_day();
            if let EventData::FigureReported(figure) = &event.data {
                summary.figures.insert(figure.figure.to_string());
            }
            if !is_operational(&event) {
                summary.calendar.push(event);
            }
        }
        summary
    }

    /// The history of 200,000 events, generated once for the tests that share it.
    fn large() -> &'static Summary {
        static LARGE: OnceLock<Summary> = OnceLock::new();
        LARGE.get_or_init(|| summary(200_000, 42))
    }

    #[test]
    fn every_generated_event_is_valid_and_the_generator_is_deterministic() {
        let a: Vec<NewEvent> = events(20_000, 7).collect();
        let b: Vec<NewEvent> = events(20_000, 7).collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 20_000);
        assert!(a.iter().any(|e| e.kind() == "plan_revised"));
        let c: Vec<NewEvent> = events(20_000, 8).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn the_span_has_its_days() {
        assert_eq!(
            (day(LAST_DAY) - day(FIRST_DAY)).num_days() + 1,
            SPAN_DAYS as i64
        );
    }

    #[test]
    fn valid_time_never_decreases_and_the_last_day_is_known() {
        for n in [0, 1, 500, 3_000, 20_000] {
            let small = summary(n, 7);
            assert_eq!(small.len, n);
            assert!(small.valid_time_never_decreases, "at {n}");
            assert_eq!(last_day(n, 7), small.last_day, "at {n}");
        }
        let large = large();
        assert!(large.valid_time_never_decreases);
        assert_eq!(large.last_day, day(LAST_DAY));
        assert_eq!(last_day(200_000, 42), day(LAST_DAY));
        assert_eq!(day_of(0, 10), day(FIRST_DAY));
    }

    #[test]
    fn the_calendar_is_the_same_at_every_size() {
        let small = summary(10_000, 42);
        assert_eq!(small.calendar, large().calendar);
        // Below the calendar's size, the history is the calendar's beginning.
        let short: Vec<NewEvent> = events(500, 42).collect();
        assert!(short.iter().all(|e| !is_operational(e)));
        assert_eq!(short[..], large().calendar[..500]);
    }

    #[test]
    fn the_kind_mix_is_operational_at_large_sizes() {
        let large = large();
        let count = |kind: &str| large.kinds.get(kind).copied().unwrap_or(0) as u64;
        let share = |kind: &str| count(kind) as f64 / large.len as f64;
        let kinds = &large.kinds;
        // Facts and figures 13 to 10, as in the old mix's 52 % and 40 %.
        assert!((0.53..0.60).contains(&share("fact_reported")), "{kinds:?}");
        assert!(
            (0.40..0.47).contains(&share("figure_reported")),
            "{kinds:?}"
        );
        // The calendar: a few thousand events, a few hundred of them the programme's.
        assert!((2_000..5_000).contains(&large.calendar.len()), "{kinds:?}");
        let programme = large
            .calendar
            .iter()
            .filter(|e| e.stream.as_str() == "program");
        assert!((150..600).contains(&programme.count()), "{kinds:?}");
        assert!((25..60).contains(&count("plan_revised")), "{kinds:?}");
        assert!((5..=15).contains(&count("wave_started")), "{kinds:?}");
        assert_eq!(count("rollout_paused"), 1);
        assert_eq!(count("rollout_resumed"), 1);
        // The staff: about three notes and two or three communications a week, one report.
        let weeks = span_days() / 7;
        assert!(
            (2 * weeks..4 * weeks).contains(&count("situation_noted")),
            "{kinds:?}"
        );
        let communications = count("communication_published");
        assert!(
            (2 * weeks..3 * weeks).contains(&communications),
            "{kinds:?}"
        );
        assert!(
            (weeks..=weeks + 1).contains(&count("report_published")),
            "{kinds:?}"
        );
        assert_eq!(count("role_assigned"), ROLES.len() as u64);
    }

    #[test]
    fn the_figures_are_a_fixed_set() {
        assert_eq!(large().figures.len(), FIGURES);
        assert!(large().figures.contains("konsulter-enhet-17"));
    }
}
