//! `lagesbild-bench`: measures import, replay, as-of and known-at queries, the weekly report,
//! verify and peak memory on synthetic histories in on-disk SQLite files, each beside a floor
//! (plain rusqlite doing the same I/O without validation or hashing), and prints the ratios; the
//! Merkle tree's import, proof, signing and verify costs (`tree.rs`).

mod replay;
mod synth;
mod tree;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate};
use clap::{Parser, Subcommand};
use lagesbild_model::{FuzzyDate, NewEvent};
use lagesbild_render::report::{ReportFormat, ReportRenderer, TemplateSet};
use lagesbild_store::{EventLog, EventRef, Filter, SqliteStore, Store};
use lagesbild_timeline::ReportModel;
use rusqlite::Connection;
use serde_json::{Value, json};

/// Events per append transaction, for the store and the floor alike.
const BATCH: usize = 1_000;

/// The log's schema, so that the floor writes into the same table with the same indexes: the
/// table, its indexes and triggers, and the partial indexes schema 7 added to it (the other
/// migrations add tables the append does not write).
const EVENTS_SQL: &str = include_str!("../../store/schema/001_events.sql");
const WINDOW_SQL: &str = include_str!("../../store/schema/007_timeline_window.sql");

#[derive(Parser, Debug)]
#[command(about = "Benchmarks lagesbild on synthetic histories")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// History sizes, in events.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<usize>,
    /// Folder for the database files (default: a temporary folder under target/).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Appends one JSON line per measurement to this file.
    #[arg(long)]
    results: Option<PathBuf>,
    /// A peer's JSON line (its output) from another run, to set beside `--peer-shape` as well.
    #[arg(long)]
    peer_json: Option<PathBuf>,
    /// Where the comparison programs are (`tools/bench-peers.sh` builds and runs them beside
    /// `--peer-shape`); default `../shared/peers` beside the checkout.
    #[arg(long)]
    peers_dir: Option<PathBuf>,
    /// With `--peer-shape`, runs only lagesbild, not the peers.
    #[arg(long)]
    no_peers: bool,
    /// Runs the peer's shape of work instead of the size series.
    #[arg(long)]
    peer_shape: bool,
    #[arg(long, default_value_t = 200_000)]
    peer_n: usize,
    #[arg(long, default_value_t = 100)]
    peer_streams: usize,
    #[arg(long, default_value_t = 1_000)]
    peer_batch: usize,
    /// Random dates and positions per size for the query latencies.
    #[arg(long, default_value_t = 50)]
    queries: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Above this size, skip the checkpointing replay, the query latencies and the report
    /// (their cost grows faster than the log; see BENCHMARKS.md).
    #[arg(long, default_value_t = usize::MAX)]
    full_up_to: usize,
    /// Skips building and rendering the weekly report.
    #[arg(long)]
    no_report: bool,
    /// Skips the latencies of the whole timeline (every fact in memory), which grow with the
    /// log by their nature; the windowed pages are measured either way.
    #[arg(long)]
    no_full_timeline: bool,
    /// Skips the Merkle tree's figures (a second import that keeps the tree current, proofs).
    #[arg(long)]
    no_tree: bool,
    /// Only import, the floor and the full replay (for repetitions of their ratios): no tree,
    /// queries, report, verify or memory.
    #[arg(long)]
    ratios_only: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A full replay (projection and report material) of DB, printing the peak RSS; the parent
    /// runs this in a child process to measure memory.
    ReplayOnly {
        #[arg(long)]
        db: PathBuf,
        /// Folds the programme (without timeline-only facts) in memory and rebuilds the
        /// material index in DB instead.
        #[arg(long)]
        programme: bool,
    },
    /// The full replay against the floor's read on an existing log, without importing.
    ///
    /// Each run times the floor's read (plain rusqlite on the log's own table), the read alone
    /// and the full replay, in one process, and prints their seconds and ratios. The first
    /// replay in a process also pays for faulting in the memory it keeps (870 MB at 1M events),
    /// as the size series' replay does; later runs reuse the memory freed. Opens DB read-only.
    ReplayRatios {
        /// A log written by `make-db` (or any lagesbild SQLite log).
        #[arg(long)]
        db: PathBuf,
        /// How many runs, one after the other.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
    },
    /// Writes the synthetic history of EVENTS events into a new database DB (the same one the
    /// size series imports), for `just bench-web` (`tools/bench-web.sh`) to serve.
    MakeDb {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        events: usize,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::ReplayOnly { db, programme }) = &cli.command {
        return replay_only(db, *programme);
    }
    if let Some(Command::ReplayRatios { db, runs }) = &cli.command {
        return replay_ratios(db, *runs);
    }
    if let Some(Command::MakeDb { db, events }) = &cli.command {
        return make_db(db, *events, cli.seed);
    }
    let temp;
    let dir = match &cli.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
            std::fs::create_dir_all(&target)?;
            temp = tempfile::Builder::new()
                .prefix("lagesbild-bench-")
                .tempdir_in(&target)?;
            temp.path().to_owned()
        }
    };
    let mut results = Results::open(cli.results.as_deref())?;
    if cli.peer_shape {
        return peer_shape(&cli, &dir, &mut results);
    }
    let mut rows = Vec::new();
    for &n in &cli.sizes {
        eprintln!("== {n} events");
        let row = run_size(&cli, &dir, n)?;
        results.write(&row)?;
        rows.push(row);
    }
    print_table(&rows);
    tree::print_table(&rows);
    Ok(())
}

/// The JSON lines file, if asked for.
struct Results(Option<std::fs::File>);

impl Results {
    fn open(path: Option<&Path>) -> Result<Results> {
        Ok(Results(match path {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            ),
            None => None,
        }))
    }

    fn write(&mut self, value: &Value) -> Result<()> {
        if let Some(file) = &mut self.0 {
            writeln!(file, "{value}")?;
        }
        Ok(())
    }
}

fn rate(count: u64, seconds: f64) -> f64 {
    count as f64 / seconds.max(1e-9)
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted_ms.len() - 1) as f64 * p).round() as usize;
    sorted_ms[index.min(sorted_ms.len() - 1)]
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn run_size(cli: &Cli, dir: &Path, n: usize) -> Result<Value> {
    // Generation and validation alone.
    let started = Instant::now();
    let generated = synth::events(n, cli.seed).count();
    let generate_s = started.elapsed().as_secs_f64();

    // Import through the store, timing only the appends (freeing each batch, which the append
    // borrows, is timed apart), and the floor: the same rows into a fresh file with plain
    // rusqlite. The two alternate batch by batch (each batch's rows are read back from the
    // store's file, untimed, and inserted into the floor's), so that both see the disk as it is
    // at that moment: run one after the other, the floor alone varied by 28 % between runs of
    // one build on this machine's disk (BENCHMARKS.md).
    let db = dir.join(format!("store-{n}.db"));
    remove_db(&db);
    let floor_db = dir.join(format!("floor-{n}.db"));
    remove_db(&floor_db);
    let mut store = SqliteStore::open(&db)?;
    let mut floor = Floor::create(&db, &floor_db)?;
    let mut events = synth::events(n, cli.seed);
    let mut import_s = 0.0;
    let mut floor_insert_s = 0.0;
    let mut floor_free_s = 0.0;
    let mut import_free_s = 0.0;
    let mut appended = 0;
    loop {
        let batch: Vec<NewEvent> = events.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let started = Instant::now();
        store.append(&batch, &[])?;
        import_s += started.elapsed().as_secs_f64();
        // The append borrows the batch; freeing it is timed apart, as the floor's rows are.
        let started = Instant::now();
        drop(batch);
        import_free_s += started.elapsed().as_secs_f64();
        let head = store.head()?.seq;
        let (insert_s, free_s) = floor.insert(appended, head)?;
        floor_insert_s += insert_s;
        floor_free_s += free_s;
        appended = head;
    }
    drop(floor);
    let head = store.head()?.seq;
    if head != n as u64 || generated != n {
        bail!("expected {n} events, the log holds {head}");
    }
    eprintln!(
        "import done in {import_s:.2}s (freeing its batches {import_free_s:.2}s more), floor {floor_insert_s:.2}s (freeing its rows {floor_free_s:.2}s more)"
    );
    let floor_kernel = kernel_seconds();
    let floor_read_s = floor_read(&floor_db)?;
    let floor_read_kernel_s = kernel_seconds() - floor_kernel;
    eprintln!("floor done");

    // A full replay without checkpoints: projection and material in one pass.
    let replay_kernel = kernel_seconds();
    let started = Instant::now();
    let (projection, material, replayed) = replay::full_replay(&store)?;
    let replay_s = started.elapsed().as_secs_f64();
    let replay_kernel_s = kernel_seconds() - replay_kernel;
    let entries = projection.entries().count();
    drop((projection, material));
    // The same read without the fold: every page read and decoded into typed events, then
    // dropped, which is what the floor's read does with its `Value`s. The difference to the
    // replay is the fold's cost (keeping every fact and item in memory).
    let started = Instant::now();
    let read = replay::read_only(&store)?;
    let read_s = started.elapsed().as_secs_f64();

    let full = n <= cli.full_up_to;
    let mut row = json!({
        "events": n,
        "generate_validate_eps": rate(n as u64, generate_s),
        "import_eps": rate(n as u64, import_s),
        "import_s": import_s,
        "floor_insert_eps": rate(n as u64, floor_insert_s),
        "import_over_floor": floor_insert_s / import_s,
        "floor_free_s": floor_free_s,
        "import_free_s": import_free_s,
        "import_over_floor_with_free": (floor_insert_s + floor_free_s) / (import_s + import_free_s),
        "replay_eps": rate(replayed, replay_s),
        "replay_s": replay_s,
        "floor_read_eps": rate(n as u64, floor_read_s),
        "replay_over_floor_read": floor_read_s / replay_s,
        "replay_kernel_s": replay_kernel_s,
        "floor_read_kernel_s": floor_read_kernel_s,
        "read_eps": rate(read, read_s),
        "read_over_floor_read": floor_read_s / read_s,
        "projection_entries": entries,
    });
    eprintln!(
        "import/floor {:.2} (with both freeing their input {:.2}), replay/floor read {:.2}, read (no fold)/floor read {:.2} (load {})",
        row["import_over_floor"].as_f64().unwrap_or(f64::NAN),
        row["import_over_floor_with_free"]
            .as_f64()
            .unwrap_or(f64::NAN),
        row["replay_over_floor_read"].as_f64().unwrap_or(f64::NAN),
        row["read_over_floor_read"].as_f64().unwrap_or(f64::NAN),
        load_average()
    );
    eprintln!(
        "replay {replay_s:.2}s ({replay_kernel_s:.2}s of it in the kernel), floor read \
         {floor_read_s:.2}s ({floor_read_kernel_s:.2}s)"
    );
    row["load_after_ratios"] = json!(load_average());
    if cli.ratios_only {
        drop(store);
        remove_db(&floor_db);
        return Ok(row);
    }
    if !cli.no_tree {
        tree::measure(
            dir,
            &mut store,
            n,
            cli.seed,
            cli.queries,
            import_s,
            &mut row,
        )?;
        eprintln!("tree done");
    }
    if full {
        queries_and_report(cli, &mut store, n, head, &mut row)?;
    }

    // Verify.
    let started = Instant::now();
    let verified = store.verify(&mut |_| {})?;
    let verify_s = started.elapsed().as_secs_f64();
    drop(store);

    // Peak memory of a full replay, and of one of the programme and material, in a child process.
    let peak_kib = child_peak_kib(&db, false)?;
    let programme_peak_kib = child_peak_kib(&db, true)?;
    let db_bytes = std::fs::metadata(&db)?.len();
    row["verify_eps"] = json!(rate(verified.count, verify_s));
    row["replay_peak_rss_kib"] = json!(peak_kib);
    row["programme_replay_peak_rss_kib"] = json!(programme_peak_kib);
    row["db_bytes"] = json!(db_bytes);
    row["load_end"] = json!(load_average());
    remove_db(&floor_db);
    Ok(row)
}

/// The CPU time this process has spent in the kernel, in seconds (`stime` in /proc/self/stat,
/// in `USER_HZ` ticks, 100 a second on Linux); NaN where that cannot be read. A replay's page
/// faults are counted there.
fn kernel_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The fields after the command's closing parenthesis: state is field 3, stime 15.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().nth(12)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |ticks| ticks / 100.0)
}

/// The one-minute load average, from /proc/loadavg (the machine is shared; BENCHMARKS.md
/// prints it beside each row).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// The first checkpointing replay, the as-of and known-at latencies, and the weekly report.
fn queries_and_report(
    cli: &Cli,
    store: &mut dyn Store,
    n: usize,
    head: u64,
    row: &mut Value,
) -> Result<()> {
    // The first replay through the checkpointing path writes a checkpoint every 10,000 events:
    // the programme, as the CLI, the web app and the report replay it; then the whole timeline
    // projection (every timeline-only fact read from the log) from those checkpoints.
    let started = Instant::now();
    replay::programme(store, head)?;
    let checkpointing_replay_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    replay::projection(store, head)?;
    let timeline_projection_s = started.elapsed().as_secs_f64();
    let checkpoint_bytes = store
        .load_checkpoint(
            replay::CHECKPOINT_NAME,
            lagesbild_timeline::PROJECTION_FORMAT,
            head,
        )?
        .map_or(0, |(_, state)| state.len());
    eprintln!("replays done");

    // Query latencies from the nearest checkpoint: the programme's views (waves, plans,
    // matters: what `waves --as-of` and the report read), then the full timeline, which lists
    // every timeline-only fact and so grows with the log by its nature.
    let mut rng = synth::Rng::new(cli.seed ^ 0xA5A5);
    let first = NaiveDate::from_ymd_opt(2019, 1, 1).expect("a date");
    let days: Vec<NaiveDate> = (0..cli.queries)
        .map(|_| first + Days::new(rng.below(8 * 365)))
        .collect();
    let mut times = Vec::new();
    for _ in 0..cli.queries {
        let at = 1 + rng.below(head);
        times.push(
            store
                .event(&EventRef::Seq(at))?
                .context("a sequence number within the log")?
                .recorded_at,
        );
    }
    let mut latencies = |full: bool| -> Result<(Vec<f64>, Vec<f64>)> {
        let replayed = |store: &mut dyn Store, seq: u64| {
            if full {
                replay::projection(store, seq)
            } else {
                replay::programme(store, seq)
            }
        };
        let mut as_of_ms = Vec::new();
        for day in &days {
            let started = Instant::now();
            let projection = replayed(store, head)?;
            let view = projection.view(Some(*day));
            std::hint::black_box(&view);
            as_of_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let mut known_at_ms = Vec::new();
        for recorded_at in &times {
            let started = Instant::now();
            let seq = store.seq_known_at(recorded_at)?;
            let projection = replayed(store, seq)?;
            let view = projection.view(None);
            std::hint::black_box(&view);
            known_at_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        as_of_ms.sort_by(f64::total_cmp);
        known_at_ms.sort_by(f64::total_cmp);
        Ok((as_of_ms, known_at_ms))
    };
    let (as_of_ms, known_at_ms) = latencies(false)?;
    let (timeline_as_of_ms, timeline_known_at_ms) = if cli.no_full_timeline {
        (Vec::new(), Vec::new())
    } else {
        latencies(true)?
    };
    window_pages(store, &days, &times, row)?;
    row["timeline_as_of_ms_p50"] = json!(percentile(&timeline_as_of_ms, 0.5));
    row["timeline_as_of_ms_p99"] = json!(percentile(&timeline_as_of_ms, 0.99));
    row["timeline_known_at_ms_p50"] = json!(percentile(&timeline_known_at_ms, 0.5));
    row["timeline_known_at_ms_p99"] = json!(percentile(&timeline_known_at_ms, 0.99));
    eprintln!("queries done");

    row["checkpointing_replay_s"] = json!(checkpointing_replay_s);
    row["timeline_projection_s"] = json!(timeline_projection_s);
    row["last_checkpoint_bytes"] = json!(checkpoint_bytes);
    row["as_of_ms_p50"] = json!(percentile(&as_of_ms, 0.5));
    row["as_of_ms_p99"] = json!(percentile(&as_of_ms, 0.99));
    row["known_at_ms_p50"] = json!(percentile(&known_at_ms, 0.5));
    row["known_at_ms_p99"] = json!(percentile(&known_at_ms, 0.99));
    if !cli.no_report {
        report(cli, store, n, head, row)?;
    }
    Ok(())
}

/// The facts on one timeline page, as the web app's `/tidslinje` and `/api/timeline` ask.
const WINDOW_PAGE: usize = lagesbild_app::window::DEFAULT_PAGE;

/// Timeline pages of [`WINDOW_PAGE`] facts (`lagesbild_app::window::page_view`, what the web
/// app serves): *as of* a random day, around that day, at the head; and *known at* a random
/// event's recorded time, around a random day. Each includes the programme from its nearest
/// checkpoint and the facts read from the store; checked to hold a full page or, short of it,
/// the whole timeline (no page before or after; counted as short).
fn window_pages(
    store: &mut dyn Store,
    days: &[NaiveDate],
    times: &[lagesbild_model::RecordedAt],
    row: &mut Value,
) -> Result<()> {
    use lagesbild_app::window::{PageQuery, Window, page_view};
    let head = store.head()?.seq;
    let page = |store: &mut dyn Store,
                seq: u64,
                query: PageQuery,
                short: &mut usize|
     -> Result<f64> {
        let started = Instant::now();
        let programme = replay::programme(store, seq)?;
        let view = page_view(store, &programme, &query)?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        // A page holds a full page of facts unless the timeline has fewer around the day (as
        // of an early day, most of it has not happened yet): then it is the whole timeline,
        // with no page before or after it.
        let held = view.view.timeline.len();
        if held < WINDOW_PAGE && (view.previous.is_some() || view.next.is_some()) {
            bail!(
                "a timeline page around {:?} at seq {seq} held {held} facts, fewer than a page, \
                 yet links a page beyond it",
                query.window,
            );
        }
        *short += usize::from(held < WINDOW_PAGE);
        std::hint::black_box(&view);
        Ok(ms)
    };
    let (mut as_of_short, mut known_at_short) = (0, 0);
    let mut as_of_ms = Vec::new();
    for day in days {
        let query = PageQuery {
            as_of: Some(*day),
            public_at: None,
            window: Window::Around(*day),
            limit: WINDOW_PAGE,
        };
        as_of_ms.push(page(store, head, query, &mut as_of_short)?);
    }
    let mut known_at_ms = Vec::new();
    for (recorded_at, day) in times.iter().zip(days.iter().rev()) {
        let seq = store.seq_known_at(recorded_at)?;
        let query = PageQuery {
            as_of: None,
            public_at: None,
            window: Window::Around(*day),
            limit: WINDOW_PAGE,
        };
        known_at_ms.push(page(store, seq, query, &mut known_at_short)?);
    }
    if !days.is_empty()
        && (as_of_short == days.len() || known_at_short == times.len().min(days.len()))
    {
        bail!("every timeline page of one kind held fewer than {WINDOW_PAGE} facts");
    }
    as_of_ms.sort_by(f64::total_cmp);
    known_at_ms.sort_by(f64::total_cmp);
    row["window_as_of_short_pages"] = json!(as_of_short);
    row["window_known_at_short_pages"] = json!(known_at_short);
    row["window_as_of_ms_p50"] = json!(percentile(&as_of_ms, 0.5));
    row["window_as_of_ms_p99"] = json!(percentile(&as_of_ms, 0.99));
    row["window_known_at_ms_p50"] = json!(percentile(&known_at_ms, 0.5));
    row["window_known_at_ms_p99"] = json!(percentile(&known_at_ms, 0.99));
    eprintln!(
        "window pages of {WINDOW_PAGE}: as-of p50 {:.1} ms, known-at p50 {:.1} ms",
        percentile(&as_of_ms, 0.5),
        percentile(&known_at_ms, 0.5)
    );
    Ok(())
}

/// The weekly report as of the last day of the history: the first (which builds the material
/// index from the whole log), then warm ones (the index is current), then a week's worth of new
/// events and the report again (the index folds only those), and the same report with the
/// material folded from the log, as before the index, for the ratio.
fn report(cli: &Cli, store: &mut dyn Store, n: usize, head: u64, row: &mut Value) -> Result<()> {
    let day = synth::last_day(n, cli.seed);
    let compiled_at = FuzzyDate::Minute(day.and_hms_opt(12, 0, 0).context("a time")?);
    let timed = |store: &mut dyn Store, head: u64| -> Result<(f64, ReportModel)> {
        let started = Instant::now();
        let model = replay::build_model(store, head, day, compiled_at)?;
        Ok((started.elapsed().as_secs_f64() * 1e3, model))
    };
    store.drop_material()?;
    let (first_ms, model) = timed(store, head)?;
    let mut warm_ms = Vec::new();
    for _ in 0..cli.queries.max(3) {
        let (ms, again) = timed(store, head)?;
        if again != model {
            bail!("the report changed between two builds of the same log position");
        }
        warm_ms.push(ms);
    }
    warm_ms.sort_by(f64::total_cmp);

    let started = Instant::now();
    let material = replay::fold_material(store, head)?;
    let projection = replay::programme(store, head)?;
    let view = projection.view(Some(day));
    let since = material.previous_report(day).unwrap_or(day - Days::new(7));
    let mut folded = lagesbild_timeline::build_report(
        &material,
        &view,
        &projection.view(Some(since)),
        day,
        compiled_at,
    );
    folded.log_seq = head;
    let folded_ms = started.elapsed().as_secs_f64() * 1e3;
    if folded != model {
        bail!("the report from the material index differs from the folded one");
    }
    drop(material);

    let renderer = ReportRenderer::new(TemplateSet::embedded(), ReportFormat::Markdown)?;
    let started = Instant::now();
    let markdown = renderer.render(&model, ReportFormat::Markdown)?;
    let render_s = started.elapsed().as_secs_f64();

    // A week's worth of new events at the rate of this history (the last week's events again,
    // without their keys), then the report again.
    let week = u64::try_from(n * 7 / synth::SPAN_DAYS).unwrap_or(1).max(1);
    let tail: Vec<NewEvent> = store
        .read_page(&Filter::default(), head.saturating_sub(week), BATCH * 1_000)?
        .into_iter()
        .map(|e| NewEvent {
            key: None,
            ..e.event
        })
        .collect();
    for batch in tail.chunks(BATCH) {
        store.append(batch, &[])?;
    }
    let new_head = store.head()?.seq;
    let (after_week_ms, _) = timed(store, new_head)?;

    row["report_first_ms"] = json!(first_ms);
    row["report_model_ms"] = json!(percentile(&warm_ms, 0.5));
    row["report_model_ms_p99"] = json!(percentile(&warm_ms, 0.99));
    row["report_after_week_ms"] = json!(after_week_ms);
    row["report_week_events"] = json!(week);
    row["report_folded_ms"] = json!(folded_ms);
    row["render_md_ms"] = json!(render_s * 1e3);
    row["report_md_bytes"] = json!(markdown.len());
    Ok(())
}

/// The floor's file: the store's table, pragmas and batch size, with plain rusqlite, one
/// transaction per batch; no validation, no hashing.
struct Floor {
    /// The store's file, read back (untimed) for each batch's rows.
    source: Connection,
    floor: Connection,
}

impl Floor {
    fn create(source_db: &Path, floor_db: &Path) -> Result<Floor> {
        let source = Connection::open(source_db)?;
        let floor = Connection::open(floor_db)?;
        floor.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        })?;
        floor.pragma_update(None, "synchronous", "FULL")?;
        floor.execute_batch(EVENTS_SQL)?;
        floor.execute_batch(WINDOW_SQL)?;
        Ok(Floor { source, floor })
    }

    /// Inserts the store's rows after `after` up to `upto` in one transaction, as they are;
    /// returns the time of the insert alone, and that of freeing the rows after it (the store's
    /// append borrows its batch, whose freeing is likewise timed apart).
    fn insert(&mut self, after: u64, upto: u64) -> Result<(f64, f64)> {
        use rusqlite::types::Value as SqlValue;
        let mut statement = self.source.prepare_cached(
            "SELECT seq, stream, stream_version, key, kind, occurred, occurred_first, \
             occurred_last, recorded_at, schema_version, content, prev_hash, hash FROM events \
             WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        )?;
        let rows: Vec<Vec<SqlValue>> = statement
            .query_map([after as i64, upto as i64], |row| {
                (0..13).map(|i| row.get::<_, SqlValue>(i)).collect()
            })?
            .collect::<Result<_, _>>()?;
        let started = Instant::now();
        let tx = self
            .floor
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (seq, stream, stream_version, key, kind, occurred, \
                 occurred_first, occurred_last, recorded_at, schema_version, content, prev_hash, \
                 hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for row in &rows {
                insert.execute(rusqlite::params_from_iter(row.iter()))?;
            }
        }
        tx.commit()?;
        let insert_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        drop(rows);
        Ok((insert_s, started.elapsed().as_secs_f64()))
    }
}

/// Reads every row's content in sequence order and parses it as JSON, with plain rusqlite.
fn floor_read(floor_db: &Path) -> Result<f64> {
    let floor = Connection::open(floor_db)?;
    let started = Instant::now();
    std::hint::black_box(floor_read_rows(&floor)?);
    Ok(started.elapsed().as_secs_f64())
}

/// The floor's read through `floor`, returning how many rows it read (the timer is the
/// caller's, started after the file was opened).
fn floor_read_rows(floor: &Connection) -> Result<u64> {
    let mut statement = floor.prepare("SELECT content FROM events ORDER BY seq")?;
    let mut rows = statement.query([])?;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        let text = row.get_ref(0)?.as_str()?;
        let value: Value = serde_json::from_str(text)?;
        std::hint::black_box(&value);
        count += 1;
    }
    Ok(count)
}

fn child_peak_kib(db: &Path, programme: bool) -> Result<u64> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("replay-only").arg("--db").arg(db);
    if programme {
        command.arg("--programme");
    }
    let output = command.output()?;
    if !output.status.success() {
        bail!(
            "replay-only failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("vmhwm_kib="))
        .context("replay-only printed no vmhwm_kib")?
        .trim()
        .parse()
        .context("vmhwm_kib is a number")
}

fn make_db(db: &Path, n: usize, seed: u64) -> Result<()> {
    if db.exists() {
        bail!("{} exists; make-db writes a new database", db.display());
    }
    let mut store = SqliteStore::open(db)?;
    let mut events = synth::events(n, seed);
    let started = Instant::now();
    loop {
        let batch: Vec<NewEvent> = events.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        store.append(&batch, &[])?;
    }
    let head = store.head()?;
    eprintln!(
        "{}: {} events in {:.1}s, head {}:{}",
        db.display(),
        head.seq,
        started.elapsed().as_secs_f64(),
        head.seq,
        head.hash
    );
    Ok(())
}

fn replay_only(db: &Path, programme: bool) -> Result<()> {
    let count = if programme {
        let mut store = SqliteStore::open(db)?;
        let (projection, count) = replay::programme_replay(&mut store)?;
        std::hint::black_box(&projection);
        count
    } else {
        let store = SqliteStore::open_read_only(db)?;
        let (projection, material, count) = replay::full_replay(&store)?;
        std::hint::black_box((&projection, &material));
        count
    };
    println!("events={count}");
    println!("vmhwm_kib={}", peak_rss_kib()?);
    Ok(())
}

fn replay_ratios(db: &Path, runs: u64) -> Result<()> {
    let store = SqliteStore::open_read_only(db)
        .with_context(|| format!("{}: not a lagesbild log that can be read", db.display()))?;
    let floor = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("{}: cannot be opened", db.display()))?;
    let timed = |f: &mut dyn FnMut() -> Result<u64>| -> Result<(f64, u64)> {
        let started = Instant::now();
        let count = f()?;
        Ok((started.elapsed().as_secs_f64(), count))
    };
    for run in 1..=runs {
        let (floor_s, floor_n) = timed(&mut || floor_read_rows(&floor))?;
        let (read_s, read_n) = timed(&mut || replay::read_only(&store))?;
        // Timed without dropping what it built, as in the size series.
        let mut dropped = 0.0;
        let (replay_s, replay_n) = timed(&mut || {
            let (projection, material, count) = replay::full_replay(&store)?;
            let started = Instant::now();
            drop((projection, material));
            dropped = started.elapsed().as_secs_f64();
            Ok(count)
        })?;
        let replay_s = replay_s - dropped;
        if read_n != floor_n || replay_n != floor_n {
            bail!("the reads disagree: floor {floor_n}, read {read_n}, replay {replay_n}");
        }
        println!(
            "run {run}: {floor_n} events; floor read {floor_s:.2}s, read {read_s:.2}s, \
             replay {replay_s:.2}s; read/floor read {:.2}, replay/floor read {:.2} (load {})",
            floor_s / read_s,
            floor_s / replay_s,
            load_average()
        );
    }
    Ok(())
}

/// The process's peak resident set size, from /proc/self/status.
fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

/// Builds and runs the peers through `tools/bench-peers.sh` on the same shape of work, in the
/// same run: one JSON line per peer, or one saying why it was not run.
fn run_peers(cli: &Cli, dir: &Path) -> Result<Vec<Value>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/bench-peers.sh");
    let mut command = std::process::Command::new("bash");
    command
        .arg(&script)
        .arg(cli.peer_n.to_string())
        .arg(cli.peer_streams.to_string())
        .arg(cli.peer_batch.max(1).to_string())
        .arg(dir);
    if let Some(peers) = &cli.peers_dir {
        command.env("PEERS_DIR", peers);
    }
    eprintln!("== peers ({})", script.display());
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let peers: Vec<Value> = stdout
        .lines()
        .filter(|line| line.trim_start().starts_with('{'))
        .map(|line| serde_json::from_str(line).context("a peer printed a line that is not JSON"))
        .collect::<Result<_>>()?;
    if !output.status.success() || peers.is_empty() {
        bail!("{} failed or printed nothing: {stdout}", script.display());
    }
    Ok(peers)
}

fn peer_shape(cli: &Cli, dir: &Path, results: &mut Results) -> Result<()> {
    let mut peers = if cli.no_peers {
        Vec::new()
    } else {
        run_peers(cli, dir)?
    };
    let db = dir.join("peer-shape.db");
    remove_db(&db);
    let mut store = SqliteStore::open(&db)?;
    let (n, batch_size) = (cli.peer_n, cli.peer_batch.max(1));
    // Timed like the peer: building (here also validating) the events and saving them.
    let started = Instant::now();
    let mut events = synth::peer_events(n, cli.peer_streams);
    let mut store_only_s = 0.0;
    loop {
        let batch: Vec<NewEvent> = events.by_ref().take(batch_size).collect();
        if batch.is_empty() {
            break;
        }
        let t = Instant::now();
        store.append(&batch, &[])?;
        store_only_s += t.elapsed().as_secs_f64();
    }
    let append_s = started.elapsed().as_secs_f64();
    // Read every event back in global order, decoded, in pages of 10,000 like the peer.
    let started = Instant::now();
    let mut after = 0;
    let mut count = 0u64;
    loop {
        let page = store.read_page(&Filter::default(), after, 10_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        count += page.len() as u64;
        std::hint::black_box(&page);
    }
    let read_s = started.elapsed().as_secs_f64();
    let mut line = json!({
        "bench": "lagesbild peer-shape",
        "events": n, "streams": cli.peer_streams, "batch": batch_size,
        "append_s": append_s, "append_eps": rate(n as u64, append_s).round(),
        "append_store_only_eps": rate(n as u64, store_only_s).round(),
        "read_s": read_s, "read_eps": rate(count, read_s).round(), "read_count": count,
    });
    if let Some(path) = &cli.peer_json {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let peer: Value = serde_json::from_str(text.trim())
            .with_context(|| format!("{} is not the peer's JSON line", path.display()))?;
        peers.push(peer);
    }
    println!(
        "\n| peer | peer append ev/s | peer read ev/s | lagesbild append ev/s (store only) | lagesbild read ev/s | append ratio | read ratio |"
    );
    println!("|{}", "---|".repeat(7));
    for peer in &mut peers {
        let name = peer["peer"].as_str().unwrap_or("?").to_owned();
        if let Some(why) = peer["not_run"].as_str() {
            println!("| {name} | not run: {why} | | | | | |");
            eprintln!("peer {name} not run: {why}");
            continue;
        }
        let ratio = |ours: &str, theirs: &str| {
            line[ours].as_f64().unwrap_or(f64::NAN) / peer[theirs].as_f64().unwrap_or(f64::NAN)
        };
        let (append_ratio, read_ratio) = (
            ratio("append_eps", "append_eps"),
            ratio("read_eps", "read_eps"),
        );
        peer["append_over_peer"] = json!(append_ratio);
        peer["read_over_peer"] = json!(read_ratio);
        println!(
            "| {name} | {} | {} | {} ({}) | {} | {append_ratio:.2} | {read_ratio:.2} |",
            peer["append_eps"],
            peer["read_eps"],
            line["append_eps"],
            line["append_store_only_eps"],
            line["read_eps"]
        );
    }
    line["peers"] = json!(peers);
    println!("\n{line}");
    results.write(&line)
}

fn print_table(rows: &[Value]) {
    let f = |row: &Value, key: &str| row[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "\n| events | gen+validate ev/s | import ev/s | floor insert ev/s | import/floor | replay ev/s | floor read ev/s | replay/floor | as-of p50/p99 ms | known-at p50/p99 ms | first checkpointing replay s | report model ms | render md ms | verify ev/s | replay peak RSS KiB |"
    );
    println!("|{}", "---|".repeat(15));
    for row in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} |",
            row["events"],
            f(row, "generate_validate_eps"),
            f(row, "import_eps"),
            f(row, "floor_insert_eps"),
            f(row, "import_over_floor"),
            f(row, "replay_eps"),
            f(row, "floor_read_eps"),
            f(row, "replay_over_floor_read"),
            f(row, "as_of_ms_p50"),
            f(row, "as_of_ms_p99"),
            f(row, "known_at_ms_p50"),
            f(row, "known_at_ms_p99"),
            f(row, "checkpointing_replay_s"),
            f(row, "report_model_ms"),
            f(row, "render_md_ms"),
            f(row, "verify_eps"),
            f(row, "replay_peak_rss_kib"),
        );
    }
    println!(
        "\n| events | import s | first checkpointing replay s (x import) | whole timeline projection s | report first s (x import) | window as-of p50/p99 ms | window known-at p50/p99 ms | load |"
    );
    println!("|{}", "---|".repeat(8));
    for row in rows {
        let import_s = f(row, "import_s");
        println!(
            "| {} | {:.2} | {:.2} ({:.2}x) | {:.2} | {:.2} ({:.2}x) | {:.1} / {:.1} | {:.1} / {:.1} | {} |",
            row["events"],
            import_s,
            f(row, "checkpointing_replay_s"),
            f(row, "checkpointing_replay_s") / import_s,
            f(row, "timeline_projection_s"),
            f(row, "report_first_ms") / 1e3,
            f(row, "report_first_ms") / 1e3 / import_s,
            f(row, "window_as_of_ms_p50"),
            f(row, "window_as_of_ms_p99"),
            f(row, "window_known_at_ms_p50"),
            f(row, "window_known_at_ms_p99"),
            row["load_end"].as_str().unwrap_or("?"),
        );
    }
    let queried = rows
        .iter()
        .rev()
        .find(|row| row.get("as_of_ms_p50").is_some());
    if let (Some(small), Some(large)) = (rows.first(), queried) {
        println!(
            "window pages of {WINDOW_PAGE}, largest with queries ({}) / smallest ({}): as-of p50 {:.2}x, p99 {:.2}x; known-at p50 {:.2}x, p99 {:.2}x",
            large["events"],
            small["events"],
            f(large, "window_as_of_ms_p50") / f(small, "window_as_of_ms_p50"),
            f(large, "window_as_of_ms_p99") / f(small, "window_as_of_ms_p99"),
            f(large, "window_known_at_ms_p50") / f(small, "window_known_at_ms_p50"),
            f(large, "window_known_at_ms_p99") / f(small, "window_known_at_ms_p99"),
        );
    }
    if let (Some(small), Some(large)) = (rows.first(), queried) {
        println!(
            "\nlatency, largest with queries ({}) / smallest ({}): as-of p50 {:.1}x, as-of p99 {:.1}x, known-at p50 {:.1}x, known-at p99 {:.1}x",
            large["events"],
            small["events"],
            f(large, "as_of_ms_p50") / f(small, "as_of_ms_p50"),
            f(large, "as_of_ms_p99") / f(small, "as_of_ms_p99"),
            f(large, "known_at_ms_p50") / f(small, "known_at_ms_p50"),
            f(large, "known_at_ms_p99") / f(small, "known_at_ms_p99"),
        );
        println!(
            "with the full timeline: as-of p50 {:.1} / {:.1} ms ({:.1}x), known-at p50 {:.1} / {:.1} ms ({:.1}x); report model {:.1} / {:.1} ms ({:.1}x)",
            f(small, "timeline_as_of_ms_p50"),
            f(large, "timeline_as_of_ms_p50"),
            f(large, "timeline_as_of_ms_p50") / f(small, "timeline_as_of_ms_p50"),
            f(small, "timeline_known_at_ms_p50"),
            f(large, "timeline_known_at_ms_p50"),
            f(large, "timeline_known_at_ms_p50") / f(small, "timeline_known_at_ms_p50"),
            f(small, "report_model_ms"),
            f(large, "report_model_ms"),
            f(large, "report_model_ms") / f(small, "report_model_ms"),
        );
        println!(
            "report: first (builds the material index) {:.1} / {:.1} ms; after a week of new events {:.1} / {:.1} ms ({:.1}x); material folded from the log {:.1} / {:.1} ms ({:.1}x)",
            f(small, "report_first_ms"),
            f(large, "report_first_ms"),
            f(small, "report_after_week_ms"),
            f(large, "report_after_week_ms"),
            f(large, "report_after_week_ms") / f(small, "report_after_week_ms"),
            f(small, "report_folded_ms"),
            f(large, "report_folded_ms"),
            f(large, "report_folded_ms") / f(small, "report_folded_ms"),
        );
    }
    if let (Some(small), Some(large)) = (rows.first(), rows.last()) {
        println!(
            "peak memory of a full replay, largest ({}) / smallest ({}): {:.2}x",
            large["events"],
            small["events"],
            f(large, "replay_peak_rss_kib") / f(small, "replay_peak_rss_kib"),
        );
        println!(
            "peak memory of a replay of the programme (in memory) and the material (into its index), largest / smallest: {:.0} / {:.0} KiB = {:.2}x",
            f(large, "programme_replay_peak_rss_kib"),
            f(small, "programme_replay_peak_rss_kib"),
            f(large, "programme_replay_peak_rss_kib") / f(small, "programme_replay_peak_rss_kib"),
        );
    }
}
