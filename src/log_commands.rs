//! The auditor's commands over the raw log: `log`, `show`, `verify`, `export`, `restore`.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lagesbild_model::{FuzzyDate, RecordedAt, StoredEvent, stored_from_export_value};
use lagesbild_store::{EventLog, EventRef, Filter, Store, StoreError, StoreLocation, scan};

use crate::db;

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Table,
    Json,
    Jsonl,
}

#[derive(clap::Args)]
pub struct LogArgs {
    /// Only this stream (repeatable).
    #[arg(long)]
    stream: Vec<String>,
    /// Only this kind (repeatable).
    #[arg(long)]
    kind: Vec<String>,
    /// Only events that may have happened on or after this date (any date form).
    #[arg(long, value_parser = parse_fuzzy)]
    occurred_from: Option<FuzzyDate>,
    /// Only events that may have happened on or before this date (any date form).
    #[arg(long, value_parser = parse_fuzzy)]
    occurred_to: Option<FuzzyDate>,
    /// Only events recorded at or after this time (a day, or RFC 3339).
    #[arg(long, value_parser = parse_instant)]
    recorded_from: Option<RecordedAt>,
    /// Only events recorded at or before this time (a day means its end, or RFC 3339).
    #[arg(long, value_parser = parse_instant_end)]
    recorded_to: Option<RecordedAt>,
    /// At most this many events.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value = "table")]
    format: LogFormat,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// A sequence number or a key.
    event: String,
    /// Print the full envelope as JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A head you kept from an earlier verify or report, as SEQ:HASH: verify also checks that the
    /// log still holds that event with that hash (detects a restored older copy or a rewrite).
    #[arg(long)]
    expect_head: Option<String>,
    #[command(flatten)]
    tree: crate::proof_commands::VerifyTreeArgs,
    /// Check the caches beside the log (checkpoints, the material index) only for their binding
    /// to the chain and their digests, without recomputing what they should hold.
    #[arg(long)]
    quick: bool,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    evidence: crate::proof_commands::EvidenceArgs,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// An export written by `lagesbild export`.
    file: PathBuf,
    /// The head the export must reach, as SEQ:HASH (from `verify` or `report publish`): an
    /// export whose chain does not hold that event with that hash (truncated, or rechained) is
    /// refused and nothing is restored.
    #[arg(long)]
    expect_head: Option<String>,
    /// A folder of report templates besides the built-in ones, to rebuild the export's
    /// published reports with when checking their provenance.
    #[arg(long)]
    templates: Option<PathBuf>,
    #[command(flatten)]
    heads: crate::proof_commands::RestoreHeadArgs,
}

fn parse_fuzzy(text: &str) -> Result<FuzzyDate, String> {
    FuzzyDate::parse(text).map_err(|e| e.to_string())
}

/// A transaction-time instant: RFC 3339, a Swedish local minute, or a day meaning its first
/// moment (UTC); the syntax is `lagesbild_app::params::instant`'s, shared with the web app.
pub fn parse_instant(text: &str) -> Result<RecordedAt, String> {
    lagesbild_app::params::instant(text, false)
}

/// Like [`parse_instant`], but a bare day means its last moment, so `--recorded-to 2024-12-27`
/// includes that day.
pub fn parse_instant_end(text: &str) -> Result<RecordedAt, String> {
    lagesbild_app::params::instant(text, true)
}

fn broken_or(error: StoreError) -> anyhow::Error {
    anyhow::Error::new(error)
}

pub fn log(location: &StoreLocation, args: &LogArgs) -> Result<ExitCode> {
    let store = db::open(location)?;
    let filter = Filter {
        streams: args.stream.clone(),
        kinds: args.kind.clone(),
        occurred_from: args.occurred_from.map(|d| d.first_day()),
        occurred_to: args.occurred_to.map(|d| d.last_day()),
        recorded_from: args.recorded_from,
        recorded_to: args.recorded_to,
        max_seq: None,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let events = scan(&store, &filter).take(args.limit.unwrap_or(usize::MAX));
    match args.format {
        LogFormat::Table => {
            writeln!(
                out,
                "{:>6}  {:<27}  {:<9}  {:<24}  {:<16}  summary",
                "seq", "recorded_at", "stream", "kind", "occurred"
            )?;
            for event in events {
                let event = event.map_err(broken_or)?;
                let e = &event.event;
                let summary: String = e.summary.as_str().chars().take(70).collect();
                writeln!(
                    out,
                    "{:>6}  {:<27}  {:<9}  {:<24}  {:<16}  {}",
                    event.seq,
                    event.recorded_at,
                    e.stream,
                    e.kind(),
                    e.occurred.to_string(),
                    summary.replace('\n', " ")
                )?;
            }
        }
        LogFormat::Jsonl => {
            for event in events {
                writeln!(out, "{}", event.map_err(broken_or)?.to_export_value())?;
            }
        }
        LogFormat::Json => {
            let all: Vec<serde_json::Value> = events
                .map(|e| e.map(|e| e.to_export_value()))
                .collect::<Result<_, _>>()
                .map_err(broken_or)?;
            serde_json::to_writer_pretty(&mut out, &all)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn show(location: &StoreLocation, args: &ShowArgs) -> Result<ExitCode> {
    let store = db::open(location)?;
    let which: EventRef = args.event.parse().expect("infallible");
    let Some(event) = store.event(&which)? else {
        bail!("no event {:?} in {}", args.event, location);
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&event.to_export_value())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", describe(&event));
    Ok(ExitCode::SUCCESS)
}

/// The text form of one event for auditors: every field, both hashes and the exact bytes hashed.
pub fn describe(event: &StoredEvent) -> String {
    let e = &event.event;
    let mut text = String::new();
    let mut line = |name: &str, value: &str| text.push_str(&format!("{name:<15} {value}\n"));
    line("seq", &event.seq.to_string());
    line("key", e.key.as_ref().map(|k| k.as_str()).unwrap_or("-"));
    line("kind", e.kind());
    line(
        "stream",
        &format!("{} (version {})", e.stream, event.stream_version),
    );
    line(
        "occurred",
        &format!("{} ({})", e.occurred, e.occurred.precision().as_str()),
    );
    line("recorded_at", &event.recorded_at.to_string());
    line("schema", &event.schema.to_string());
    line("summary", e.summary.as_str());
    if let Some(source) = &e.source {
        let mut s = source.title.to_string();
        if let Some(published) = &source.published {
            s.push_str(&format!(", {published}"));
        }
        if let Some(url) = &source.url {
            s.push_str(&format!(" <{url}>"));
        }
        line("source", &s);
    }
    if let Some(by) = &e.by {
        line("by", by.as_str());
    }
    let data = serde_json::to_value(&e.data).expect("data serializes");
    line(
        "data",
        &data
            .get("data")
            .map(ToString::to_string)
            .unwrap_or_default(),
    );
    line("prev_hash", &event.prev_hash);
    line("hash", &event.hash);
    text.push_str(&format!(
        "canonical envelope (hashed after prev_hash and a newline):\n{}\n",
        event.canonical_envelope()
    ));
    text
}

/// The size an SQLite file's header says the file has (page size times page count), when the
/// header holds a valid count; the file itself is read, not opened as a database.
fn recorded_file_size(path: &Path) -> Result<Option<u64>> {
    use std::io::Read;
    let mut header = [0u8; 100];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if file.read_exact(&mut header).is_err() || !header.starts_with(b"SQLite format 3\0") {
        return Ok(None);
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        size => u64::from(size),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    // The count is valid only when "version-valid-for" equals the change counter.
    if header[92..96] != header[24..28] {
        return Ok(None);
    }
    Ok(Some(page_size * pages))
}

/// A copy of a database in the temporary folder, removed with its `-wal` and `-shm` files when
/// dropped; `verify` reads a copy when the original cannot be opened where it lies.
struct TempCopy {
    path: PathBuf,
}

impl TempCopy {
    fn of(original: &Path) -> Result<TempCopy> {
        let path = std::env::temp_dir().join(format!(
            "lagesbild-verify-{}-{}.db",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        ));
        let copy = TempCopy { path };
        std::fs::copy(original, &copy.path).with_context(|| {
            format!(
                "cannot copy {} to {}",
                original.display(),
                copy.path.display()
            )
        })?;
        let wal = sibling(original, "-wal");
        if wal.exists() {
            std::fs::copy(&wal, sibling(&copy.path, "-wal"))
                .with_context(|| format!("cannot copy {}", wal.display()))?;
        }
        Ok(copy)
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(sibling(&self.path, suffix));
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether `path` lies on a read-only file system or cannot be written by this user: SQLite
/// then cannot create the `-shm` file a WAL database needs even for reading.
pub fn not_writable(path: &Path) -> bool {
    match std::fs::OpenOptions::new().append(true).open(path) {
        Ok(_) => false,
        Err(error) => matches!(
            error.kind(),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
        ),
    }
}

/// The first event that cannot be read from a damaged file, with SQLite's reason; `None` when
/// every event reads. Reads pages of events and, where a page fails, each event alone.
fn first_unreadable_event(store: &dyn lagesbild_store::Store) -> Option<(u64, String)> {
    const PAGE: usize = 1_000;
    let filter = Filter::default();
    let mut after = 0u64;
    loop {
        match store.read_page(&filter, after, PAGE) {
            Ok(events) if events.is_empty() => return None,
            Ok(events) => after = events.last().map_or(after, |e| e.seq),
            Err(page_error) => {
                for seq in after + 1..=after + PAGE as u64 {
                    if let Err(error) = store.event(&EventRef::Seq(seq)) {
                        return Some((seq, error.to_string()));
                    }
                }
                return Some((after + 1, page_error.to_string()));
            }
        }
    }
}

/// `verify` of a file shorter than its header says: pads a copy with empty pages so that SQLite
/// opens it, then names the first event that lay in the missing part.
fn verify_truncated(path: &Path, have: u64, need: u64) -> Result<ExitCode> {
    let what = format!(
        "the database file is truncated: it holds {have} of the {need} bytes its header records"
    );
    let copy = TempCopy::of(path)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy.path)
        .and_then(|file| file.set_len(need))
        .with_context(|| format!("cannot pad the copy {}", copy.path.display()))?;
    let store = match lagesbild_store::SqliteStore::open_read_only(&copy.path) {
        Ok(store) => store,
        Err(error) => {
            println!("FAILED at event 1: {what}, and even its start cannot be read: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match first_unreadable_event(&store) {
        Some((seq, error)) => {
            println!("FAILED at event {seq}: {what}; event {seq} lay in the missing part ({error})")
        }
        None => {
            let last = store.head().map(|h| h.seq).unwrap_or(0);
            println!(
                "FAILED at event {}: {what}; events 1-{last} can still be read, later ones (if there were any) are lost",
                last + 1
            );
        }
    }
    Ok(ExitCode::FAILURE)
}

/// A log opened for `verify`, with the copy it reads if it reads one.
type Opened = (Box<dyn Store>, Option<TempCopy>);

/// A SQLite file opened for `verify` (read-only; a copy of it where it cannot be opened where
/// it lies), or the verdict when the file is too damaged to open.
fn open_file_to_verify(path: &Path) -> Result<Result<Opened, ExitCode>> {
    if !path.exists() {
        bail!(
            "{} does not exist: there is no log to verify",
            path.display()
        );
    }
    let have = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if have < 100 {
        println!(
            "FAILED at event 1: the database file is {have} bytes long, too short for even the header of a log; it was truncated"
        );
        return Ok(Err(ExitCode::FAILURE));
    }
    // With a WAL file beside it the main file may be shorter than its header says: a checkpoint
    // stopped by a full disk leaves the newest pages in the WAL, where SQLite reads them.
    let wal_len = std::fs::metadata(sibling(path, "-wal")).map_or(0, |m| m.len());
    if wal_len == 0
        && let Some(need) = recorded_file_size(path)?
        && have < need
    {
        return verify_truncated(path, have, need).map(Err);
    }
    let mut copy_read = None;
    let store = match lagesbild_store::SqliteStore::open_read_only(path) {
        Ok(store) => store,
        Err(StoreError::Storage { .. }) if not_writable(path) => {
            // SQLite cannot read a WAL database where it cannot create the -shm file beside it
            // (a read-only mount): read a copy of the same bytes instead.
            let copy = TempCopy::of(path)?;
            eprintln!(
                "{} is on a read-only file system or not writable: verifying a copy of it",
                path.display()
            );
            let store = lagesbild_store::SqliteStore::open_read_only(&copy.path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            copy_read = Some(copy);
            store
        }
        Err(error) => {
            return Err(
                anyhow::Error::new(error).context(format!("cannot open {}", path.display()))
            );
        }
    };
    Ok(Ok((Box::new(store), copy_read)))
}

pub fn verify(location: &StoreLocation, args: &VerifyArgs) -> Result<ExitCode> {
    // The copy (if one is read) lives until the end of the check.
    let (store, _copy) = match location {
        StoreLocation::Sqlite(path) => match open_file_to_verify(path)? {
            Ok(opened) => opened,
            Err(verdict) => return Ok(verdict),
        },
        StoreLocation::Postgres(_) => {
            let store = location
                .open_read_only()
                .with_context(|| format!("cannot open the PostgreSQL database {location}"))?;
            (store, None)
        }
    };
    let bar = crate::import::progress_bar(store.count().unwrap_or(0), "verifying");
    let result = store.verify(&mut |done| bar.set_position(done));
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(StoreError::Broken { seq, reason }) => {
            println!("FAILED at event {seq}: {reason}");
            return Ok(ExitCode::FAILURE);
        }
        Err(StoreError::Storage { message: error }) => {
            match first_unreadable_event(&store) {
                Some((seq, reason)) => println!(
                    "FAILED at event {seq}: the database file is damaged and event {seq} cannot be read: {reason}"
                ),
                None => println!("FAILED: the database file cannot be read as a whole: {error}"),
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(other) => return Err(other.into()),
    };
    if let Some(expected) = &args.expect_head {
        let (seq, hash) = parse_head(expected)?;
        match store.event(&EventRef::Seq(seq))? {
            None => {
                println!(
                    "FAILED at event {seq}: the log ends at event {}, before the head you kept; it was truncated or an older copy was restored",
                    report.count
                );
                return Ok(ExitCode::FAILURE);
            }
            Some(event) if event.hash != *hash => {
                println!(
                    "FAILED at event {seq}: its hash is {}, not the {hash} you kept; the log was rewritten",
                    event.hash
                );
                return Ok(ExitCode::FAILURE);
            }
            Some(_) => {}
        }
    }
    // The caches: every checkpoint, the material index and the editions' outputs against the
    // log they claim.
    let caches = lagesbild_app::caches::verify(&store, args.quick)?;
    if !caches.problems.is_empty() {
        for problem in &caches.problems {
            println!("FAILED: cache {problem}");
        }
        println!(
            "the log itself is intact ({} events, head {}:{}); a cache beside it does not match it: someone edited the file",
            report.count, report.head.seq, report.head.hash
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "ok: {} events, chain intact, triggers in place",
        report.count
    );
    println!(
        "ok: caches {} against the log: {} checkpoints, {} material rows, {} editions",
        if args.quick {
            "bound (quick: bindings and digests only)"
        } else {
            "recomputed and equal"
        },
        caches.checkpoints,
        caches.material_rows,
        caches.editions
    );
    if !crate::proof_commands::verify_tree(&store, &args.tree, args.quick)? {
        return Ok(ExitCode::FAILURE);
    }
    println!("head: {}:{}", report.head.seq, report.head.hash);
    Ok(ExitCode::SUCCESS)
}

/// A head as `verify` and `report publish` print it: SEQ:HASH.
fn parse_head(text: &str) -> Result<(u64, String)> {
    let Some((seq, hash)) = text.split_once(':') else {
        bail!("--expect-head must be SEQ:HASH, as verify prints it");
    };
    let seq: u64 = seq
        .parse()
        .with_context(|| format!("--expect-head: {seq:?} is not a sequence number"))?;
    Ok((seq, hash.to_owned()))
}

pub fn export(location: &StoreLocation, args: &ExportArgs) -> Result<ExitCode> {
    let store = db::open(location)?;
    if let Some(dir) = &args.evidence.evidence {
        return crate::proof_commands::export_evidence(&store, dir, &args.evidence, |out| {
            write_export(&store, out)
        });
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(file) => Box::new(BufWriter::new(
            std::fs::File::create(file)
                .with_context(|| format!("cannot create {}", file.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let count = write_export(&store, &mut out)?;
    out.flush()?;
    if let Some(file) = &args.output {
        eprintln!("exported {count} events to {}", file.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The export: the signed tree heads first (so that a restore knows how long the log must
/// be), then every event; returns the number of events.
fn write_export(store: &dyn lagesbild_store::Store, out: &mut dyn Write) -> Result<u64> {
    for head in store.tree_heads()? {
        writeln!(out, "{}", crate::proof_commands::head_line(&head))?;
    }
    let filter = Filter::default();
    let mut count = 0;
    for event in scan(store, &filter) {
        writeln!(out, "{}", event.map_err(broken_or)?.to_export_value())?;
        count += 1;
    }
    Ok(count)
}

pub fn restore(location: &StoreLocation, args: &RestoreArgs) -> Result<ExitCode> {
    let name = args.file.display().to_string();
    let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let mut store = db::open_unseeded(location)?;
    let mut heads = crate::proof_commands::HeadsInExport::new(&name, &args.heads)?;
    let values = crate::import::BoundedLines::new(BufReader::new(file)).filter_map(|item| {
        let result = (|| {
            let (at, line) = item.map_err(|e| (0, format!("cannot read: {e}")))?;
            let line = line.map_err(|reason| (at, reason))?;
            if line.trim().is_empty() {
                return Ok(None);
            }
            let value = lagesbild_model::parse_json_strict(&line)
                .map_err(|e| (at, format!("field {:?}: {}", e.field, e.reason)))?;
            Ok(Some((at, value)))
        })();
        match result {
            Ok(None) => None,
            Ok(Some(value)) => Some(Ok(value)),
            Err((at, reason)) => Some(Err(StoreError::Broken {
                seq: 0,
                reason: format!("{name}:{at}: {reason}"),
            })),
        }
    });
    let mut lines = heads.events(values, |at, value| {
        // An export is a log: its events are checked by the rules they were appended under,
        // as verify checks them.
        stored_from_export_value(value).map_err(|e| StoreError::Broken {
            seq: 0,
            reason: format!("{name}:{at}: field {:?}: {}", e.field, e.reason),
        })
    });
    let expected = args.expect_head.as_deref().map(parse_head).transpose()?;
    let sets = crate::import::template_sets(args.templates.as_deref())?;
    let mut check = |store: &dyn lagesbild_store::Store| -> Result<(), StoreError> {
        if let Some((seq, hash)) = &expected {
            let at = store.event(&EventRef::Seq(*seq))?;
            let reason = match at {
                None => Some(format!(
                    "the export ends at event {}, before the expected head {seq}: it was truncated",
                    store.head()?.seq
                )),
                Some(event) if event.hash != *hash => Some(format!(
                    "event {seq} of the export has hash {}, not the expected {hash}: its chain was rewritten",
                    event.hash
                )),
                Some(_) => None,
            };
            if let Some(reason) = reason {
                return Err(StoreError::Broken {
                    seq: 0,
                    reason: format!("{name}: --expect-head {seq}:{hash}: {reason}"),
                });
            }
        }
        lagesbild_app::provenance::check_log(store, &sets).map_err(|error| match error {
            // The index of a restored event is its seq less one; export lines are one per event.
            StoreError::Invalid { index, error } => StoreError::Broken {
                seq: 0,
                reason: format!(
                    "{name}:{}: event {}: field {:?}: {}",
                    index + 1,
                    index + 1,
                    error.field,
                    error.reason
                ),
            },
            other => other,
        })
    };
    let restored = store.restore_checked(&mut lines, &mut check);
    drop(lines);
    match restored {
        Ok(count) => {
            let head = store.head()?;
            let heads_said = heads.store(&mut store)?;
            println!(
                "restored {count} events into {}; head {}:{}{heads_said}",
                location, head.seq, head.hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(StoreError::Broken { seq: 0, reason }) => bail!("{reason}\nnothing was restored"),
        Err(error) => Err(anyhow::Error::new(error).context("nothing was restored")),
    }
}
