//! Generators shared by the store's integration tests: random valid logs in which every kind can
//! appear, with Swedish text full of quotes, backslashes, newlines, markup and unicode, fuzzy
//! dates of every precision in every written form, optional fields present or absent, random
//! streams and keys, and corrections and retractions that point at earlier events.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ops::Range;

use chrono::{Datelike, Days, NaiveDate};
use lagesbild_model::{
    EventData, FuzzyDate, Half, KINDS, NewEvent, Period, event_from_value, typed_data,
};
use lagesbild_store::{EventLog, SqliteStore};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value, json};

/// CI sets `LAGESBILD_SLOW_TESTS=1` to run the property tests with many more cases.
pub fn slow() -> bool {
    std::env::var("LAGESBILD_SLOW_TESTS").is_ok_and(|v| v == "1")
}

/// `fast` cases normally, `slow` under `LAGESBILD_SLOW_TESTS=1`.
pub fn cases(fast: u32, slow_cases: u32) -> u32 {
    if slow() { slow_cases } else { fast }
}

/// A string of `len` characters from `chars`, the first from `first`. Built from `select`
/// rather than a regex pattern, which proptest compiles anew for every value and which made
/// generation the slowest part of these tests.
fn chars_from(
    first: &'static [char],
    chars: &'static [char],
    len: Range<usize>,
) -> impl Strategy<Value = String> + Clone {
    (select(first), vec(select(chars), len)).prop_map(|(first, rest)| {
        let mut text = String::with_capacity(rest.len() + 1);
        text.push(first);
        text.extend(rest);
        text
    })
}

const LOWER_DIGIT: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
];
const ID_CHARS: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '-',
];
const KEY_CHARS: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '-', '.',
    '_',
];
const DIGITS: &[char] = &['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const PATH_CHARS: &[char] = &[
    'a', 'B', 'c', 'Z', '0', '9', '.', '_', '~', '%', '!', '$', '&', '\'', '(', ')', '*', '+', ',',
    ';', '=', ':', '@', '-', 'å', 'ö',
];

/// Any character but a control character or a bidirectional control (which new input may not
/// hold), as often from the far planes as from Latin.
fn printable() -> impl Strategy<Value = String> {
    vec(any::<char>(), 1..6).prop_map(|chars| {
        chars
            .into_iter()
            .map(|c| {
                if c.is_control()
                    || lagesbild_model::text::is_bidi_control(c)
                    || lagesbild_model::text::is_noncharacter(c)
                {
                    '·'
                } else {
                    c
                }
            })
            .collect()
    })
}

/// The configuration of the store's property tests: [`cases`], and the XorShift generator,
/// several times faster than the default ChaCha in a debug build.
pub fn config(fast: u32, slow_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(fast, slow_cases),
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

/// The kinds that may leave the source out; every other kind is a historical fact.
pub const UNSOURCED_KINDS: &[&str] = &[
    "situation_noted",
    "communication_published",
    "figure_reported",
    "role_assigned",
    "report_published",
    "points_ordered",
    "edition_reviewed",
    "edition_sent",
    "event_corrected",
    "event_retracted",
];

/// The kinds a correction or retraction may not point at.
pub const UNTARGETABLE_KINDS: &[&str] = &["event_corrected", "event_retracted", "report_published"];

const WORDS: &[&str] = &[
    "Regionstyrelsen",
    "beslutade",
    "om",
    "ny",
    "tidplan",
    "för",
    "införandet",
    "av",
    "Millennium",
    "på",
    "SÄS",
    "Närhälsan",
    "Sahlgrenska",
    "Västra Götalandsregionen",
    "hösten",
    "våren",
    "Cerner",
    "reklamationsbrevet",
    "vårdinformationssystem",
    "Region Skåne",
    "Ödeshög",
    "åtgärder",
    "Älvsborg",
    "É",
];

/// Text that has broken escaping, templating or SQL somewhere before.
const ODD: &[&str] = &[
    "\"",
    "\\",
    "\n",
    "\t",
    "\\n",
    "\\\"",
    "\\u0000",
    "<script>alert(\"x\")</script>",
    "</textarea>",
    "{{mall}}",
    "{{{råa}}}",
    "&amp;",
    "'",
    "`",
    "%s",
    "🦀",
    "👩\u{200d}⚕\u{fe0f}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    // A right-to-left mark, not an override: the bidirectional controls (U+202A–U+202E,
    // U+2066–U+2069) are refused in new input; `old_rules.rs` keeps them in stored logs.
    "\u{200f}",
    "\u{200b}",
    "e\u{301}",
    "日本語",
    "𝔘𝔫𝔦",
    "ﬁ",
    "ß",
    "İ",
    "—",
    "«»",
    "/*",
    "--",
    "'); DROP TABLE events; --",
    "null",
    "{}",
    "[]",
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(WORDS).prop_map(str::to_owned),
        3 => select(ODD).prop_map(str::to_owned),
        // Any printable character outside the control categories.
        2 => printable(),
    ]
}

fn short_text() -> impl Strategy<Value = String> {
    (
        select(WORDS),
        vec((fragment(), select(&[" ", "", "\n", ", ", "\t"][..])), 0..8),
    )
        .prop_map(|(first, rest)| {
            let mut text = first.to_owned();
            for (fragment, separator) in rest {
                text.push_str(separator);
                text.push_str(&fragment);
            }
            text
        })
}

/// Free text: mostly a short sentence, sometimes close to the 2,000 characters a summary may
/// hold.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => short_text(),
        1 => (short_text(), 1_000..=2_000usize).prop_map(|(seed, chars)| {
            seed.chars().cycle().take(chars).collect::<String>()
        }),
    ]
}

/// A stable identifier: `[a-z0-9][a-z0-9-]*`, up to 60 bytes.
pub fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&["sodra-1", "sodra-2", "norra-ostra", "vastra", "hela", "e-tjanster"][..])
            .prop_map(str::to_owned),
        2 => chars_from(LOWER_DIGIT, ID_CHARS, 0..13),
        1 => chars_from(LOWER_DIGIT, ID_CHARS, 59..60),
    ]
}

pub fn stream() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&["program", "region-skane", "rapport"][..]).prop_map(str::to_owned),
        1 => chars_from(LOWER_DIGIT, ID_CHARS, 0..11),
    ]
}

fn key_prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        chars_from(LOWER_DIGIT, KEY_CHARS, 0..41),
        (
            1900u32..2200,
            1u32..=12,
            chars_from(LOWER_DIGIT, ID_CHARS, 0..20)
        )
            .prop_map(|(year, month, rest)| format!("{year}-{month:02}-{rest}")),
        // All digits: a key that reads like a sequence number.
        chars_from(DIGITS, DIGITS, 0..6),
    ]
}

pub fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            select(&["https://", "http://"][..]),
            chars_from(LOWER_DIGIT, &['a', 'z', '0', '.', '-'], 0..20),
            vec(chars_from(PATH_CHARS, PATH_CHARS, 0..15), 0..4),
        )
            .prop_map(|(scheme, host, path)| {
                let mut url = format!("{scheme}{host}");
                for segment in path {
                    url.push('/');
                    url.push_str(&segment);
                }
                url
            }),
        Just("https://sv.wikipedia.org/wiki/Västra_Götalandsregionen".to_owned()),
        Just("https://www.vgregion.se/halsa-och-vard/?q=millennium&sida=2#topp".to_owned()),
    ]
}

pub fn hash() -> impl Strategy<Value = String> {
    any::<[u8; 32]>().prop_map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A valid date as a writer may give it, with the value it stands for.
#[derive(Clone, Debug)]
pub struct DateInput {
    pub text: String,
    pub date: FuzzyDate,
}

/// Fuzzy dates of every precision, in canonical and Swedish forms, sometimes with spaces.
pub fn date() -> impl Strategy<Value = DateInput> {
    (
        1900i32..=2190,
        1u32..=365,
        0u32..24,
        0u32..60,
        0u8..6,
        0u8..6,
    )
        .prop_map(|(year, ordinal, hour, minute, precision, form)| {
            let day = NaiveDate::from_yo_opt(year, ordinal).expect("every year has 365 days");
            let (text, date) = match precision {
                0 => (
                    if form == 0 {
                        format!(" {year} ")
                    } else {
                        year.to_string()
                    },
                    FuzzyDate::Year(year),
                ),
                1 => {
                    let half = if day.month() <= 6 {
                        Half::Spring
                    } else {
                        Half::Autumn
                    };
                    let (code, word) = match half {
                        Half::Spring => ("H1", "våren"),
                        Half::Autumn => ("H2", "hösten"),
                    };
                    let text = match form {
                        0 => format!("{year}-{code}"),
                        1 => format!("{year}-{}", code.to_lowercase()),
                        2 => format!("{word} {year}"),
                        3 => format!("{} {year}", word.to_uppercase()),
                        4 => {
                            let mut chars = word.chars();
                            let first = chars.next().expect("a word").to_uppercase();
                            format!("{first}{} {year}", chars.as_str())
                        }
                        _ => format!("{word}  {year}"),
                    };
                    (text, FuzzyDate::Half { year, half })
                }
                2 => (
                    format!("{year}-{:02}", day.month()),
                    FuzzyDate::Month {
                        year,
                        month: day.month(),
                    },
                ),
                3 => (day.format("%Y-%m-%d").to_string(), FuzzyDate::Day(day)),
                5 => {
                    // A span of years or of half-years, as sources and people write it.
                    let end = year + 1 + (hour % 9) as i32;
                    let years = FuzzyDate::Span {
                        from: Period::Year(year),
                        to: Period::Year(end),
                    };
                    match form {
                        0 => (format!("{year}/{end}"), years),
                        1 => (format!("{year}–{end}"), years),
                        2 => (format!("{year}-{end}"), years),
                        3 => (format!("{year}/{:02}", end % 100), years),
                        4 => (format!(" {year} – {end} "), years),
                        _ => (
                            format!("hösten {year}–våren {end}"),
                            FuzzyDate::Span {
                                from: Period::Half {
                                    year,
                                    half: Half::Autumn,
                                },
                                to: Period::Half {
                                    year: end,
                                    half: Half::Spring,
                                },
                            },
                        ),
                    }
                }
                _ => {
                    let at = day
                        .and_hms_opt(hour, minute, 0)
                        .expect("hours and minutes are in range");
                    (
                        format!("{}T{hour:02}:{minute:02}", day.format("%Y-%m-%d")),
                        FuzzyDate::Minute(at),
                    )
                }
            };
            DateInput { text, date }
        })
}

fn date_text() -> impl Strategy<Value = Value> {
    date().prop_map(|d| Value::String(d.text))
}

fn day_text() -> impl Strategy<Value = Value> {
    date().prop_map(|d| Value::String(d.date.first_day().format("%Y-%m-%d").to_string()))
}

/// Rounds to `digits` significant digits, the most the log keeps exactly.
fn significant(value: f64, digits: usize) -> f64 {
    format!("{value:.*e}", digits - 1)
        .parse()
        .expect("a number in exponent form reads back")
}

/// An amount: an integer of up to 15 digits, or a fraction of up to 15 significant digits
/// between 0.0001 and 10^15 in size; sometimes a whole number written as a fraction (120.0).
pub fn amount() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(Value::from),
        (0u32..10_000).prop_map(Value::from),
        (-3.9f64..14.9, 1usize..=15, any::<bool>()).prop_map(|(exponent, digits, negative)| {
            let value = significant(10f64.powf(exponent), digits);
            json!(if negative { -value } else { value })
        }),
        select(&[2100.0, 3.7, 120.0, -0.5, 0.0001, 999_999_999_999_999.0][..])
            .prop_map(|v| json!(v)),
    ]
}

/// An amount that cannot be negative (a contract value, a budget, a claim, a cost cap): new
/// input below zero is refused.
pub fn non_negative_amount() -> impl Strategy<Value = Value> {
    amount().prop_map(|value| match value.as_f64() {
        Some(v) if v < 0.0 => {
            // The same digits without the sign, keeping an integer an integer.
            serde_json::from_str(value.to_string().trim_start_matches('-')).expect("a number")
        }
        _ => value,
    })
}

/// Builds an object from fields that may be absent.
fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    let mut map = Map::new();
    for (name, value) in fields {
        if let Some(value) = value {
            map.insert(name.to_owned(), value);
        }
    }
    Value::Object(map)
}

fn t() -> impl Strategy<Value = Value> {
    text().prop_map(Value::String)
}

fn ot() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(t())
}

fn ident() -> impl Strategy<Value = Value> {
    id().prop_map(Value::String)
}

fn texts(range: Range<usize>) -> impl Strategy<Value = Value> {
    vec(text(), range).prop_map(|items| json!(items))
}

fn ids(range: Range<usize>) -> impl Strategy<Value = Value> {
    vec(id(), range).prop_map(|items| json!(items))
}

fn optional<S: Strategy<Value = Value>>(strategy: S) -> impl Strategy<Value = Option<Value>> {
    prop::option::of(strategy)
}

pub fn source() -> impl Strategy<Value = Value> {
    (
        t(),
        optional(url().prop_map(Value::String)),
        optional(date_text()),
        vec(disagreement(), 0..3),
    )
        .prop_map(|(title, url, published, disputed)| {
            object(vec![
                ("title", Some(title)),
                ("url", url),
                ("published", published),
                ("disputed", (!disputed.is_empty()).then(|| json!(disputed))),
            ])
        })
}

/// A source that says otherwise, about something every event states.
fn disagreement() -> impl Strategy<Value = Value> {
    (
        select(vec!["occurred", "summary", "kind"]),
        t(),
        t(),
        optional(url().prop_map(Value::String)),
        optional(date_text()),
    )
        .prop_map(|(about, says, title, url, published)| {
            object(vec![
                ("about", Some(json!(about))),
                ("says", Some(says)),
                ("title", Some(title)),
                ("url", url),
                ("published", published),
            ])
        })
}

/// The data of `kind`, valid for an event that occurred on `occurred`. Panics for a kind without
/// a generator, so that a kind added to the model cannot go untested.
pub fn data(kind: &'static str, occurred: FuzzyDate) -> BoxedStrategy<Value> {
    match kind {
        "decision_made" => (t(), ot())
            .prop_map(|(decided_by, reference)| {
                object(vec![
                    ("decided_by", Some(decided_by)),
                    ("reference", reference),
                ])
            })
            .boxed(),
        "contract_signed" => (t(), t(), optional(non_negative_amount()), ot())
            .prop_map(|(supplier, buyer, value, term)| {
                object(vec![
                    ("supplier", Some(supplier)),
                    ("buyer", Some(buyer)),
                    ("value_msek", value),
                    ("term", term),
                ])
            })
            .boxed(),
        "agreement_made" => (texts(1..4), optional(texts(0..3)), optional(texts(0..3)))
            .prop_map(|(parties, covers, cancels)| {
                object(vec![
                    ("parties", Some(parties)),
                    ("covers", covers),
                    ("cancels", cancels),
                ])
            })
            .boxed(),
        "budget_set" => (ident(), non_negative_amount(), ot(), ot())
            .prop_map(|(budget, value, decided_by, scope)| {
                object(vec![
                    ("budget", Some(budget)),
                    ("value_msek", Some(value)),
                    ("decided_by", decided_by),
                    ("scope", scope),
                ])
            })
            .boxed(),
        "plan_revised" => (
            ot(),
            ot(),
            optional(any::<bool>().prop_map(Value::Bool)),
            vec((id(), text(), date_text()), 1..5),
        )
            .prop_map(|(decided_by, label, partial, waves)| {
                let mut seen = BTreeSet::new();
                let waves: Vec<Value> = waves
                    .into_iter()
                    .filter(|(wave, _, _)| seen.insert(wave.clone()))
                    .map(|(wave, area, planned)| json!({"wave": wave, "area": area, "planned": planned}))
                    .collect();
                object(vec![
                    ("decided_by", decided_by),
                    ("label", label),
                    ("partial", partial),
                    ("waves", Some(json!(waves))),
                ])
            })
            .boxed(),
        "delay_announced" => (optional(ids(0..3)), optional(any::<u32>().prop_map(Value::from)), ot())
            .prop_map(|(waves, months, reason)| {
                object(vec![
                    ("waves", waves),
                    ("delay_months", months),
                    ("reason", reason),
                ])
            })
            .boxed(),
        "wave_started" => (ident(), optional(texts(0..4)))
            .prop_map(|(wave, units)| object(vec![("wave", Some(wave)), ("units", units)]))
            .boxed(),
        "rollout_paused" | "rollout_resumed" => (optional(ids(0..3)), ot())
            .prop_map(|(waves, decided_by)| {
                object(vec![("waves", waves), ("decided_by", decided_by)])
            })
            .boxed(),
        "wave_completed" => ident()
            .prop_map(|wave| object(vec![("wave", Some(wave))]))
            .boxed(),
        "wave_cancelled" => (ident(), ot())
            .prop_map(|(wave, reason)| object(vec![("wave", Some(wave)), ("reason", reason)]))
            .boxed(),
        "reclamation_sent" => (ident(), t(), t(), optional(date_text()), optional(non_negative_amount()))
            .prop_map(|(matter, from, to, deadline, claim)| {
                object(vec![
                    ("matter", Some(matter)),
                    ("from", Some(from)),
                    ("to", Some(to)),
                    ("deadline", deadline),
                    ("claim_msek", claim),
                ])
            })
            .boxed(),
        "reclamation_answered" => (ident(), t())
            .prop_map(|(matter, from)| object(vec![("matter", Some(matter)), ("from", Some(from))]))
            .boxed(),
        "settlement_reached" => (
            texts(1..3),
            optional(ids(0..3)),
            optional(any::<bool>().prop_map(Value::Bool)),
        )
            .prop_map(|(parties, matters, disclosed)| {
                object(vec![
                    ("parties", Some(parties)),
                    ("matters", matters),
                    ("amount_disclosed", disclosed),
                ])
            })
            .boxed(),
        "legal_action_filed" => (ident(), t(), ot(), ot(), ot(), optional(date_text()), ot())
            .prop_map(|(matter, plaintiff, defendant, court, subject, next_date, next_step)| {
                object(vec![
                    ("matter", Some(matter)),
                    ("plaintiff", Some(plaintiff)),
                    ("defendant", defendant),
                    ("court", court),
                    ("subject", subject),
                    ("next_date", next_date),
                    ("next_step", next_step),
                ])
            })
            .boxed(),
        "legal_action_updated" => (
            ident(),
            optional(any::<bool>().prop_map(Value::Bool)),
            ot(),
            optional(date_text()),
            ot(),
        )
            .prop_map(|(matter, closed, outcome, next_date, next_step)| {
                object(vec![
                    ("matter", Some(matter)),
                    ("closed", closed),
                    ("outcome", outcome),
                    ("next_date", next_date),
                    ("next_step", next_step),
                ])
            })
            .boxed(),
        "review_commissioned" => (ident(), t(), ot(), optional(date_text()), optional(non_negative_amount()))
            .prop_map(|(matter, reviewer, by, due, cap)| {
                object(vec![
                    ("matter", Some(matter)),
                    ("reviewer", Some(reviewer)),
                    ("commissioned_by", by),
                    ("due", due),
                    ("cost_cap_msek", cap),
                ])
            })
            .boxed(),
        "review_completed" => (ident(), ot())
            .prop_map(|(matter, finding)| {
                object(vec![("matter", Some(matter)), ("finding", finding)])
            })
            .boxed(),
        "inquiry_received" => (ident(), t(), ot(), optional(date_text()))
            .prop_map(|(matter, from, subject, due)| {
                object(vec![
                    ("matter", Some(matter)),
                    ("from", Some(from)),
                    ("subject", subject),
                    ("due", due),
                ])
            })
            .boxed(),
        "inquiry_answered" => (ident(), optional(any::<bool>().prop_map(Value::Bool)))
            .prop_map(|(matter, closed)| object(vec![("matter", Some(matter)), ("closed", closed)]))
            .boxed(),
        "recommendation_made" => (
            t(),
            ot(),
            optional(any::<bool>().prop_map(Value::Bool)),
            optional(ids(0..3)),
        )
            .prop_map(|(by, to, ends_programme, ends_waves)| {
                object(vec![
                    ("by", Some(by)),
                    ("to", to),
                    ("ends_programme", ends_programme),
                    ("ends_waves", ends_waves),
                ])
            })
            .boxed(),
        "pause_formalised" => (
            optional(texts(0..3)),
            optional(texts(0..3)),
            optional(any::<u32>().prop_map(Value::from)),
            optional(texts(0..3)),
            optional(ids(0..3)),
        )
            .prop_map(|(parties, may_end, notice, covers, waves)| {
                object(vec![
                    ("parties", parties),
                    ("may_end", may_end),
                    ("notice_months", notice),
                    ("covers", covers),
                    ("waves", waves),
                ])
            })
            .boxed(),
        "fact_reported" => optional(ident())
            .prop_map(|topic| object(vec![("topic", topic)]))
            .boxed(),
        "situation_noted" => {
            let first = occurred.first_day();
            (
                select(&["summary", "communications", "operations", "about"][..]),
                optional(texts(0..4)),
                0u8..4,
                0u64..2_000,
            )
                .prop_map(move |(section, points, stands, days)| {
                    let until = first
                        .checked_add_days(Days::new(days))
                        .expect("dates stay far below the end of the calendar");
                    let until = Value::String(until.format("%Y-%m-%d").to_string());
                    let (until, standing) = match stands {
                        0 => (None, None),
                        1 => (Some(until), None),
                        2 => (Some(until), Some(Value::Bool(false))),
                        _ => (None, Some(Value::Bool(true))),
                    };
                    object(vec![
                        ("section", Some(json!(section))),
                        ("points", points),
                        ("until", until),
                        ("standing", standing),
                    ])
                })
                .boxed()
        }
        "communication_published" => (
            t(),
            optional(url().prop_map(Value::String)),
            ot(),
            optional(select(&["dated", "collected"][..]).prop_map(|l| json!(l))),
        )
            .prop_map(|(title, url, channel, listing)| {
                object(vec![
                    ("title", Some(title)),
                    ("url", url),
                    ("channel", channel),
                    ("listing", listing),
                ])
            })
            .boxed(),
        "figure_reported" => (
            ident(),
            ot(),
            amount(),
            prop_oneof![select(&["st", "MSEK", "%", "timmar"][..]).prop_map(|u| json!(u)), t()],
        )
            .prop_map(|(figure, label, value, unit)| {
                object(vec![
                    ("figure", Some(figure)),
                    ("label", label),
                    ("value", Some(value)),
                    ("unit", Some(unit)),
                ])
            })
            .boxed(),
        "role_assigned" => (ident(), t(), ot())
            .prop_map(|(role, person, title)| {
                object(vec![
                    ("role", Some(role)),
                    ("person", Some(person)),
                    ("title", title),
                ])
            })
            .boxed(),
        "report_published" => (
            day_text(),
            date().prop_map(|d| {
                let day = d.date.first_day();
                json!(format!("{}T{:02}:{:02}", day.format("%Y-%m-%d"), day.ordinal() % 24, day.ordinal() % 60))
            }),
            any::<u64>(),
            hash(),
            hash(),
            ot(),
            vec(
                (ident(), hash(), optional(any::<u64>().prop_map(Value::from))).prop_map(
                    |(format, sha256, bytes)| {
                        object(vec![
                            ("format", Some(format)),
                            ("sha256", Some(json!(sha256))),
                            ("bytes", bytes),
                        ])
                    },
                ),
                1..3,
            ),
        )
            .prop_map(
                |(report_date, compiled_at, log_seq, head_hash, digest, template, outputs)| {
                    object(vec![
                        ("report_date", Some(report_date)),
                        ("compiled_at", Some(compiled_at)),
                        ("log_seq", Some(json!(log_seq))),
                        ("head_hash", Some(json!(head_hash))),
                        ("template_digest", Some(json!(digest))),
                        ("template", template),
                        ("outputs", Some(json!(outputs))),
                    ])
                },
            )
            .boxed(),
        "points_ordered" => (
            day_text(),
            select(&["summary", "communications", "operations", "about"][..]),
            vec(any::<u64>(), 0..5),
        )
            .prop_map(|(edition, section, order)| {
                object(vec![
                    ("edition", Some(edition)),
                    ("section", Some(json!(section))),
                    ("order", Some(json!(order))),
                ])
            })
            .boxed(),
        "edition_reviewed" => (
            day_text(),
            select(&["submitted", "approved", "returned"][..]),
            ot(),
            optional(hash().prop_map(Value::String)),
        )
            .prop_map(|(edition, step, comment, digest)| {
                object(vec![
                    ("edition", Some(edition)),
                    ("step", Some(json!(step))),
                    ("comment", comment),
                    ("draft_sha256", digest),
                ])
            })
            .boxed(),
        // A failed send carries its error, a successful one none (the model refuses otherwise).
        "edition_sent" => (any::<u64>(), day_text(), t(), 0..500u64, t(), any::<bool>(), t())
            .prop_map(|(report_seq, edition, list, recipients, message_id, failed, error)| {
                object(vec![
                    ("report_seq", Some(json!(report_seq))),
                    ("edition", Some(edition)),
                    ("list", Some(list)),
                    ("recipients", Some(json!(recipients))),
                    ("message_id", Some(message_id)),
                    ("outcome", Some(json!(if failed { "failed" } else { "sent" }))),
                    ("error", failed.then_some(error)),
                ])
            })
            .boxed(),
        // The target is filled in by the log generator, which knows the earlier events.
        "event_corrected" | "event_retracted" => t()
            .prop_map(|reason| object(vec![("reason", Some(reason))]))
            .boxed(),
        other => panic!("no data generator for kind {other:?}: add one to tests/common/mod.rs"),
    }
}

/// How a correction names its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetBy {
    Key,
    Seq,
    Both,
}

/// The shape of one event of a generated log.
#[derive(Clone, Debug)]
pub struct Plan {
    pub kind: &'static str,
    pub key: Option<String>,
    /// For corrections and retractions: the index of the target in the log.
    pub target: Option<usize>,
    pub target_by: TargetBy,
}

/// A generated log: each event as a writer gives it (JSON), appended in batches of the given
/// sizes. Every event is appended (keys are unique), so event `i` gets sequence number `i + 1`.
#[derive(Clone, Debug)]
pub struct GeneratedLog {
    pub plans: Vec<Plan>,
    pub events: Vec<Value>,
    pub batch_sizes: Vec<usize>,
}

fn plans(
    mut kinds: Vec<&'static str>,
    keys: Vec<Option<String>>,
    picks: Vec<Index>,
    styles: Vec<u8>,
) -> Vec<Plan> {
    // A correction needs an earlier event to point at: start with one that can be pointed at.
    match kinds
        .iter()
        .position(|kind| !UNTARGETABLE_KINDS.contains(kind))
    {
        Some(first) => kinds.rotate_left(first),
        None => kinds[0] = "fact_reported",
    }
    let mut plans: Vec<Plan> = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.into_iter().enumerate() {
        let key = keys[i].as_ref().map(|prefix| format!("{prefix}-{i}"));
        let (target, target_by) = if kind == "event_corrected" || kind == "event_retracted" {
            let candidates: Vec<usize> = (0..i)
                .filter(|&j| !UNTARGETABLE_KINDS.contains(&plans[j].kind))
                .collect();
            let target = candidates[picks[i].index(candidates.len())];
            let by = match (styles[i], plans[target].key.is_some()) {
                (_, false) | (0, true) => TargetBy::Seq,
                (1, true) => TargetBy::Key,
                _ => TargetBy::Both,
            };
            (Some(target), by)
        } else {
            (None, TargetBy::Seq)
        };
        plans.push(Plan {
            kind,
            key,
            target,
            target_by,
        });
    }
    plans
}

fn correction_data(
    plan: &Plan,
    target_kind: &'static str,
    target_ref: Value,
) -> BoxedStrategy<Value> {
    let kind = plan.kind;
    let base = data(kind, FuzzyDate::Year(2000));
    if kind == "event_retracted" {
        return base
            .prop_map(move |mut data| {
                data["target"] = target_ref.clone();
                data
            })
            .boxed();
    }
    // A corrected note must stand until a day on or after its date, whichever it is; a day in
    // the last years of the calendar is after every generated date.
    let corrected_data = data(target_kind, FuzzyDate::Year(2195));
    (base, 1u8..16, date_text(), t(), source(), corrected_data)
        .prop_map(
            move |(mut data, mut which, occurred, summary, source, corrected)| {
                // A note's date may only move along with data that still fits it.
                if target_kind == "situation_noted" && which & 1 != 0 {
                    which |= 8;
                }
                data["target"] = target_ref.clone();
                for (bit, name, value) in [
                    (1, "occurred", &occurred),
                    (2, "summary", &summary),
                    (4, "source", &source),
                    (8, "data", &corrected),
                ] {
                    if which & bit != 0 {
                        data[name] = value.clone();
                    }
                }
                data
            },
        )
        .boxed()
}

fn event_json(plan: &Plan, plans: &[Plan]) -> BoxedStrategy<Value> {
    let kind = plan.kind;
    let key = plan.key.clone();
    let data_strategy = move |occurred: FuzzyDate| -> BoxedStrategy<Value> { data(kind, occurred) };
    let special = plan.target.map(|target| {
        let target_plan = &plans[target];
        let target_ref = match plan.target_by {
            TargetBy::Seq => json!({"seq": target + 1}),
            TargetBy::Key => json!({"key": target_plan.key}),
            TargetBy::Both => json!({"key": target_plan.key, "seq": target + 1}),
        };
        correction_data(plan, target_plan.kind, target_ref)
    });
    let sourced = !UNSOURCED_KINDS.contains(&kind);
    let source = if sourced {
        source().prop_map(Some).boxed()
    } else {
        prop::option::of(source()).boxed()
    };
    (
        date(),
        text(),
        prop::option::of(stream()),
        ot(),
        source,
        any::<bool>(),
    )
        .prop_flat_map(
            move |(occurred, summary, stream, by, source, omit_empty_data)| {
                let data = match &special {
                    Some(strategy) => strategy.clone(),
                    None => data_strategy(occurred.date),
                };
                let key = key.clone();
                data.prop_map(move |data| {
                    let mut event = object(vec![
                        ("key", key.clone().map(Value::String)),
                        ("kind", Some(json!(kind))),
                        ("occurred", Some(json!(occurred.text))),
                        ("stream", stream.clone().map(Value::String)),
                        ("summary", Some(json!(summary))),
                        ("by", by.clone()),
                        ("source", source.clone()),
                    ]);
                    let empty = data.as_object().is_some_and(Map::is_empty);
                    if !(empty && omit_empty_data) {
                        event["data"] = data;
                    }
                    event
                })
            },
        )
        .boxed()
}

/// A log of `extra` random events; with `every_kind`, also one event of every kind, shuffled in.
pub fn log(every_kind: bool, extra: Range<usize>) -> impl Strategy<Value = GeneratedLog> {
    let kinds = vec(select(KINDS), extra).prop_flat_map(move |mut kinds| {
        if every_kind {
            kinds.extend_from_slice(KINDS);
        }
        Just(kinds).prop_shuffle()
    });
    kinds
        .prop_flat_map(|kinds| {
            let len = kinds.len();
            (
                Just(kinds),
                vec(prop::option::weighted(0.7, key_prefix()), len),
                vec(any::<Index>(), len),
                vec(0u8..3, len),
                vec(1usize..8, len),
            )
        })
        .prop_flat_map(|(kinds, keys, picks, styles, batch_sizes)| {
            let plans = plans(kinds, keys, picks, styles);
            let events: Vec<BoxedStrategy<Value>> =
                plans.iter().map(|plan| event_json(plan, &plans)).collect();
            (Just(plans), events, Just(batch_sizes))
        })
        .prop_map(|(plans, events, batch_sizes)| GeneratedLog {
            plans,
            events,
            batch_sizes,
        })
}

impl GeneratedLog {
    /// The events as the model parses them.
    pub fn parsed(&self) -> Result<Vec<NewEvent>, String> {
        self.events
            .iter()
            .map(|json| event_from_value(json.clone()).map_err(|e| format!("{e} in {json}")))
            .collect()
    }

    /// The events as the store should hold them: targets carry the sequence number the store
    /// resolved, corrected data is in the canonical form of the target's kind.
    pub fn expected(&self) -> Result<Vec<NewEvent>, String> {
        let mut events = self.parsed()?;
        for (i, plan) in self.plans.iter().enumerate() {
            let Some(target) = plan.target else { continue };
            let target_kind = self.plans[target].kind;
            let event = &mut events[i];
            if let EventData::EventCorrected(correction) = &mut event.data
                && let Some(data) = correction.data.take()
            {
                let typed = typed_data(target_kind, data).map_err(|e| e.to_string())?;
                let mut value = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
                correction.data = value.get_mut("data").map(Value::take);
            }
            event
                .data
                .target_mut()
                .expect("corrections and retractions have a target")
                .seq = Some(target as u64 + 1);
        }
        Ok(events)
    }

    /// The events split into the generated batch sizes.
    pub fn batches(&self) -> Result<Vec<Vec<NewEvent>>, String> {
        let mut events = self.parsed()?.into_iter();
        let mut batches = Vec::new();
        for size in self.batch_sizes.iter().cycle() {
            let batch: Vec<NewEvent> = events.by_ref().take(*size).collect();
            if batch.is_empty() {
                break;
            }
            batches.push(batch);
        }
        Ok(batches)
    }

    /// Appends the whole log, batch by batch.
    pub fn append_to(&self, store: &mut SqliteStore) -> Result<(), String> {
        for batch in self.batches()? {
            store.append(&batch, &[]).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// A fixed clock that ticks one second per call, for reproducible transaction times.
pub fn ticking_clock(start: &str) -> impl Fn() -> chrono::DateTime<chrono::Utc> + Send + 'static {
    let start = chrono::DateTime::parse_from_rfc3339(start)
        .expect("an RFC 3339 start")
        .with_timezone(&chrono::Utc);
    let ticks = std::sync::atomic::AtomicI64::new(0);
    move || {
        let tick = ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        start + chrono::Duration::seconds(tick)
    }
}
