//! The timeline in windows equals the whole timeline: following the pages forward and backward
//! from any start gives every entry of `Projection::view_public` once, in its order, for every
//! known-at position, as-of day, public-record day and page size, with facts of every date
//! precision, corrections that move facts to other days, retractions and report material.

use chrono::NaiveDate;
use lagesbild_app::replay;
use lagesbild_app::window::{PageQuery, TimelinePage, Window, timeline_page};
use lagesbild_model::parse_event;
use lagesbild_store::{EventLog, SqliteStore};
use lagesbild_timeline::{Projection, TimelineEntry, TimelineKey};

/// xorshift: deterministic choices without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

const DATES: [&str; 12] = [
    "2020",
    "2020-H1",
    "2020-01",
    "2020-01-01",
    "2020-01-01T08:30",
    "2020-01-01T07:00",
    "2020/2021",
    "2020-06-15",
    "2020-06-15",
    "2021-02",
    "2019-12-31",
    "2022-03-04",
];

/// A log of `n` events: facts (most), plans, notes, and corrections and retractions of both.
fn store_with(n: usize, seed: u64) -> SqliteStore {
    let mut rng = Rng(seed | 1);
    let mut store = SqliteStore::open_in_memory().expect("store");
    let mut facts: Vec<u64> = Vec::new();
    for i in 0..n {
        let seq = i as u64 + 1;
        let date = DATES[rng.below(DATES.len() as u64) as usize];
        let published = ["2019-06-01", "2020-03-01", "2021-01-01"][rng.below(3) as usize];
        let line = match rng.below(10) {
            0 if !facts.is_empty() => {
                let target = facts[rng.below(facts.len() as u64) as usize];
                let moved = DATES[rng.below(DATES.len() as u64) as usize];
                format!(
                    r#"{{"kind":"event_corrected","occurred":"2026-11-23","summary":"Rättelse {i}.","data":{{"target":{{"seq":{target}}},"reason":"Fel datum.","occurred":"{moved}","summary":"Flyttad {i}."}}}}"#
                )
            }
            1 if !facts.is_empty() => {
                let target = facts[rng.below(facts.len() as u64) as usize];
                format!(
                    r#"{{"kind":"event_retracted","occurred":"2026-11-23","summary":"Återkallad {i}.","data":{{"target":{{"seq":{target}}},"reason":"Fel."}}}}"#
                )
            }
            2 if !facts.is_empty() => {
                let target = facts[rng.below(facts.len() as u64) as usize];
                format!(
                    r#"{{"kind":"event_corrected","occurred":"2026-11-23","summary":"Rättelse {i}.","data":{{"target":{{"seq":{target}}},"reason":"Fel text.","summary":"Rättad {i}."}}}}"#
                )
            }
            3 => format!(
                r#"{{"kind":"plan_revised","occurred":"{date}","summary":"Plan {i}.","source":{{"title":"Källa","published":"{published}"}},"data":{{"waves":[{{"wave":"w{}","area":"Område","planned":"2030-H1"}}]}}}}"#,
                i % 3
            ),
            4 => format!(
                r#"{{"kind":"situation_noted","occurred":"{date}","summary":"Läget {i}.","data":{{"section":"summary"}}}}"#
            ),
            _ => {
                facts.push(seq);
                format!(
                    r#"{{"kind":"fact_reported","occurred":"{date}","stream":"support","summary":"Ärende {i}.","source":{{"title":"Ärende {i}","published":"{published}"}},"data":{{"topic":"supportarende"}}}}"#
                )
            }
        };
        let event = parse_event(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        // One event per batch, so that every position is a transaction of its own.
        store.append(&[event], &[]).expect("append");
    }
    store
}

fn key(entry: &TimelineEntry) -> TimelineKey {
    TimelineKey {
        occurred: entry.occurred,
        seq: entry.seq,
    }
}

fn full_timeline(store: &mut SqliteStore, seq: u64, query: &PageQuery) -> Vec<TimelineEntry> {
    replay::projection(store, seq)
        .expect("projection")
        .view_public(query.as_of, query.public_at)
        .timeline
}

fn page(store: &mut SqliteStore, seq: u64, query: PageQuery) -> (TimelinePage, Vec<TimelineEntry>) {
    let programme = replay::programme(store, seq).expect("programme");
    let page = timeline_page(store, &programme, &query).expect("page");
    (page, full_timeline(store, seq, &query))
}

/// Follows the pages from `base`'s window to both ends and checks they make up `full`.
fn check_walk(
    store: &SqliteStore,
    programme: &Projection,
    full: &[TimelineEntry],
    base: PageQuery,
) {
    let read =
        |window| timeline_page(store, programme, &PageQuery { window, ..base }).expect("page");
    let first = read(base.window);
    let context = format!("at seq {}, {base:?}", programme.last_seq());
    assert!(first.entries.len() <= base.limit, "{context}");
    let mut entries = first.entries.clone();
    let mut previous = first.previous;
    while let Some(before) = previous {
        let p = read(Window::Before(before));
        assert!(!p.entries.is_empty(), "an empty previous page {context}");
        assert!(p.entries.len() <= base.limit, "{context}");
        // It links on to the page it was reached from.
        assert_eq!(p.next, p.entries.last().map(key), "{context}");
        let mut earlier = p.entries;
        earlier.extend(entries);
        entries = earlier;
        previous = p.previous;
    }
    let mut next = first.next;
    while let Some(after) = next {
        let p = read(Window::After(after));
        assert!(!p.entries.is_empty(), "an empty next page {context}");
        assert_eq!(p.previous, p.entries.first().map(key), "{context}");
        entries.extend(p.entries);
        next = p.next;
    }
    assert_eq!(
        entries.iter().map(key).collect::<Vec<_>>(),
        full.iter().map(key).collect::<Vec<_>>(),
        "{context}"
    );
    assert_eq!(entries, full, "{context}");
}

#[test]
fn pages_from_any_start_make_up_the_whole_timeline() {
    let day = |s: &str| s.parse::<NaiveDate>().expect("day");
    for seed in [3, 17] {
        let mut store = store_with(90, seed);
        let head = store.head().expect("head").seq;
        for seq in [0, 1, 7, 40, head] {
            let programme = replay::programme(&mut store, seq).expect("programme");
            for as_of in [None, Some(day("2020-01-01")), Some(day("2020-12-31"))] {
                for public_at in [None, Some(day("2020-06-01"))] {
                    let axes = PageQuery {
                        as_of,
                        public_at,
                        window: Window::Latest,
                        limit: 1,
                    };
                    let full = full_timeline(&mut store, seq, &axes);
                    for limit in [2, 7, 100] {
                        for window in [
                            Window::Latest,
                            Window::Around(day("2020-01-01")),
                            Window::Around(day("2020-06-15")),
                            Window::Around(day("2030-01-01")),
                        ] {
                            let query = PageQuery {
                                window,
                                limit,
                                ..axes
                            };
                            check_walk(&store, &programme, &full, query);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_latest_page_ends_the_timeline_and_around_a_day_straddles_it() {
    let mut store = store_with(120, 5);
    let head = store.head().expect("head").seq;
    let query = PageQuery {
        as_of: None,
        public_at: None,
        window: Window::Latest,
        limit: 10,
    };
    let (latest, full) = page(&mut store, head, query);
    assert!(full.len() > 20, "the log makes a long timeline");
    assert_eq!(latest.entries, full[full.len() - 10..]);
    assert_eq!(latest.next, None);
    assert_eq!(latest.previous, Some(key(&full[full.len() - 10])));

    let around = "2020-06-15".parse().expect("day");
    let (page_around, full) = page(
        &mut store,
        head,
        PageQuery {
            window: Window::Around(around),
            ..query
        },
    );
    let first_on_or_after = full
        .iter()
        .position(|e| e.occurred.timeline_day() >= around)
        .expect("facts from the day on");
    let start = first_on_or_after.saturating_sub(5);
    assert_eq!(page_around.entries, full[start..start + 10]);
}

#[test]
fn a_cursor_reads_back_and_a_bad_one_is_refused() {
    let key: TimelineKey = "2020-01-01T08:30.17".parse().expect("a cursor");
    assert_eq!(key.seq, 17);
    assert_eq!(key.to_string(), "2020-01-01T08:30.17");
    let span: TimelineKey = "2020/2021.3".parse().expect("a span's cursor");
    assert_eq!(span.to_string(), "2020/2021.3");
    for bad in [
        "",
        "17",
        "2020-01-01",
        "2020-13-01.4",
        "2020-01-01.x",
        "2020.-1",
    ] {
        let error = bad.parse::<TimelineKey>().expect_err(bad);
        assert!(error.contains("DATE.SEQ"), "{error}");
    }
}
