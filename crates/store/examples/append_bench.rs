//! Appends from 1, 4 and 16 concurrent writers, in batches of 1 and of 100, on SQLite (a file,
//! WAL, `synchronous = FULL`) and on PostgreSQL (`--pg URL` or `LAGESBILD_BENCH_PG`; a fresh
//! database per run, its `fsync` and `synchronous_commit` printed beside the figures): events
//! per second over the wall time and each append call's p50 and p99 latency. An example of the
//! store crate rather than a part of `lagesbild-bench` so that its release build needs only the
//! store's dependencies (BENCHMARKS.md, PostgreSQL).
//!
//! ```sh
//! LAGESBILD_PG_DURABLE=1 tools/with-postgres \
//!     cargo run --release -p lagesbild-store --example append_bench
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use lagesbild_model::{NewEvent, parse_event};
use lagesbild_store::{PostgresStore, SqliteStore, Store, StoreError};

/// Commits per run with batches of one, and batches per run of a hundred, shared among the
/// writers, so that every run does about the same work.
const SINGLE_COMMITS: usize = 1_200;
const HUNDRED_BATCHES: usize = 120;

type Open = Arc<dyn Fn() -> Box<dyn Store> + Send + Sync>;

fn event(writer: usize, index: usize) -> NewEvent {
    parse_event(&format!(
        r#"{{"kind":"fact_reported","occurred":"2024-03","stream":"w{writer}","key":"w{writer}-{index}","summary":"Händelse {index} från skrivare {writer}.","source":{{"title":"Källa"}},"data":{{"topic":"bench"}}}}"#
    ))
    .expect("a valid event")
}

struct Run {
    events: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// `writers` threads, each on a connection of its own, appending `batches` batches of `size`.
fn run(open: &Open, writers: usize, size: usize) -> Result<Run, StoreError> {
    let total = if size == 1 {
        SINGLE_COMMITS
    } else {
        HUNDRED_BATCHES
    };
    let batches = total.div_ceil(writers);
    // Every event is built before the clock starts: only the appends are measured.
    let prepared: Vec<Vec<Vec<NewEvent>>> = (0..writers)
        .map(|writer| {
            (0..batches)
                .map(|b| (0..size).map(|i| event(writer, b * size + i)).collect())
                .collect()
        })
        .collect();
    let stores: Vec<Box<dyn Store>> = (0..writers).map(|_| open()).collect();
    let barrier = Arc::new(std::sync::Barrier::new(writers + 1));
    let threads: Vec<_> = prepared
        .into_iter()
        .zip(stores)
        .map(|(batches, mut store)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<Vec<f64>, StoreError> {
                barrier.wait();
                let mut latencies = Vec::with_capacity(batches.len());
                for batch in batches {
                    let started = Instant::now();
                    loop {
                        match store.append(&batch, &[]) {
                            Ok(_) => break,
                            Err(error) if error.is_retryable() => continue,
                            Err(error) => return Err(error),
                        }
                    }
                    latencies.push(started.elapsed().as_secs_f64() * 1_000.0);
                }
                Ok(latencies)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut latencies_ms = Vec::new();
    for thread in threads {
        latencies_ms.extend(thread.join().expect("a writer finished")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies_ms.sort_by(f64::total_cmp);
    let store = open();
    let events = store.count()? as usize;
    assert_eq!(events, writers * batches * size, "every event appended");
    store.verify(&mut |_| {})?;
    Ok(Run {
        events,
        seconds,
        latencies_ms,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pg = std::env::args()
        .skip_while(|a| a != "--pg")
        .nth(1)
        .or_else(|| std::env::var("LAGESBILD_BENCH_PG").ok())
        .or_else(|| std::env::var("LAGESBILD_TEST_PG").ok());
    let dir = tempfile::tempdir()?;
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load before: {}",
        loadavg.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!("backend     writers  batch   events/s   p50 ms   p99 ms  events");
    let mut number = 0;
    let mut settings_shown = false;
    for backend in ["sqlite", "postgres"] {
        if backend == "postgres" && pg.is_none() {
            println!("postgres: no --pg URL or LAGESBILD_BENCH_PG; not run");
            continue;
        }
        for size in [1, 100] {
            for writers in [1, 4, 16] {
                number += 1;
                let open: Open = match backend {
                    "sqlite" => {
                        let path = dir.path().join(format!("run-{number}.db"));
                        SqliteStore::open(&path)?;
                        Arc::new(move || {
                            Box::new(SqliteStore::open(&path).expect("opens")) as Box<dyn Store>
                        })
                    }
                    _ => {
                        let url = pg.clone().expect("checked above");
                        let database = format!("lagesbild_bench_{}_{number}", std::process::id());
                        let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
                        if !settings_shown {
                            settings_shown = true;
                            for setting in ["fsync", "synchronous_commit", "server_version"] {
                                let row = admin.query_one(&format!("SHOW {setting}"), &[])?;
                                println!("postgres {setting} = {}", row.get::<_, String>(0));
                            }
                        }
                        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))?;
                        admin.batch_execute(&format!("CREATE DATABASE {database}"))?;
                        let url = lagesbild_store::testing::with_database(&url, &database);
                        PostgresStore::open(&url)?;
                        Arc::new(move || {
                            Box::new(PostgresStore::open(&url).expect("opens")) as Box<dyn Store>
                        })
                    }
                };
                let result = run(&open, writers, size)?;
                println!(
                    "{backend:<10} {writers:>8} {size:>6} {:>10.0} {:>8.2} {:>8.2} {:>7}",
                    result.events as f64 / result.seconds,
                    percentile(&result.latencies_ms, 0.5),
                    percentile(&result.latencies_ms, 0.99),
                    result.events
                );
                drop(open);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load after: {}",
        loadavg.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    Ok(())
}
