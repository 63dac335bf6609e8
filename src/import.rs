//! `import` and `append`: reading events from files, flags or stdin, validating all of them with
//! errors located at file:line and field, then appending them in one transaction, or with
//! `import --batch-size N` in transactions of N events, each reported on stdout once committed.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lagesbild_model::{MAX_LINE_BYTES, NewEvent, parse_event, parse_json_strict, sha256_hex};
use lagesbild_store::{AppendReport, Expectation, Outcome, Store, StoreError, StoreLocation};

use lagesbild_app::provenance;
use lagesbild_render::report::TemplateSet;

use crate::db;

/// The most errors one import reports before it stops reading: enough to fix a file in one
/// pass, few enough to read.
const MAX_REPORTED_ERRORS: usize = 20;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// JSON Lines files, or folders whose *.jsonl files are read in name order.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Check everything and report what would be appended, but write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Commit every N events in a transaction of their own and print `committed lines A-B of
    /// FILE: events X-Y` once each is durable, so that an interrupted import keeps what it
    /// reported and a rerun completes it. Every line is still checked before the first commit.
    #[arg(long, value_name = "N", conflicts_with = "dry_run")]
    batch_size: Option<NonZeroUsize>,
    /// A folder of report templates besides the built-in ones: a `report_published` whose
    /// template digest is theirs is rebuilt with them to check its provenance.
    #[arg(long)]
    templates: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct AppendArgs {
    /// The kind of event; without it, one JSON event is read from standard input.
    #[arg(long)]
    kind: Option<String>,
    /// When it happened: 2019, 2019-H2, hösten 2019, 2019-10, 2019-10-08 or 2019-10-08T05:30.
    #[arg(long)]
    occurred: Option<String>,
    /// One Swedish sentence, as a report would print it.
    #[arg(long)]
    summary: Option<String>,
    #[arg(long)]
    stream: Option<String>,
    /// An idempotency key, unique in the log.
    #[arg(long)]
    key: Option<String>,
    /// Who records the event.
    #[arg(long)]
    by: Option<String>,
    #[arg(long)]
    source_title: Option<String>,
    #[arg(long)]
    source_url: Option<String>,
    #[arg(long)]
    source_published: Option<String>,
    /// The kind's data as a JSON object.
    #[arg(long)]
    data: Option<String>,
    /// Refuse the append unless the event's stream is at this version (0: a new stream).
    #[arg(long)]
    expect_version: Option<u64>,
}

/// An event and where it was read.
pub struct Located {
    pub file: String,
    pub line: usize,
    pub event: NewEvent,
}

/// A refused line: where, which field, why.
pub struct LocatedError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(
                f,
                "{}:{}: field {:?}: {}",
                self.file, self.line, self.field, self.reason
            )
        }
    }
}

pub fn format_errors(errors: &[LocatedError]) -> String {
    let mut text = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    if errors.len() >= MAX_REPORTED_ERRORS {
        text.push_str(&format!("\n(stopped after {MAX_REPORTED_ERRORS} errors)"));
    }
    text
}

fn skip(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// Parses in-memory texts (the bundled history).
pub fn parse_texts(
    texts: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Located>, Vec<LocatedError>> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in texts {
        for (index, line) in text.lines().enumerate() {
            parse_line(&file, index + 1, line, &mut events, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(errors)
    }
}

fn parse_line(
    file: &str,
    line_number: usize,
    line: &str,
    events: &mut Vec<Located>,
    errors: &mut Vec<LocatedError>,
) {
    if skip(line) || errors.len() >= MAX_REPORTED_ERRORS {
        return;
    }
    match parse_event(line) {
        Ok(event) => events.push(Located {
            file: file.to_owned(),
            line: line_number,
            event,
        }),
        Err(error) => errors.push(LocatedError {
            file: file.to_owned(),
            line: line_number,
            field: error.field,
            reason: error.reason,
        }),
    }
}

/// The files a path names: itself, or a folder's *.jsonl files in name order.
fn expand(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read the folder {}", path.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: the folder holds no .jsonl files", path.display());
        }
        Ok(files)
    } else {
        Ok(vec![path.to_owned()])
    }
}

/// Reads lines of at most [`MAX_LINE_BYTES`] each, never holding more than one, so that a
/// hostile file cannot exhaust memory. Yields (line number, the line or why it was refused).
pub struct BoundedLines<R> {
    reader: R,
    line_number: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(reader: R) -> BoundedLines<R> {
        BoundedLines {
            reader,
            line_number: 0,
            buffer: Vec::new(),
        }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = std::io::Result<(usize, Result<String, String>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let limit = u64::try_from(MAX_LINE_BYTES).expect("fits") + 1;
        self.buffer.clear();
        let read = match self
            .reader
            .by_ref()
            .take(limit)
            .read_until(b'\n', &mut self.buffer)
        {
            Ok(read) => read,
            Err(error) => return Some(Err(error)),
        };
        if read == 0 {
            return None;
        }
        self.line_number += 1;
        if self.buffer.len() > MAX_LINE_BYTES && self.buffer.last() != Some(&b'\n') {
            // Skip the rest of the overlong line without keeping it.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match self
                    .reader
                    .by_ref()
                    .take(limit)
                    .read_until(b'\n', &mut rest)
                {
                    Ok(0) => break,
                    Ok(_) if rest.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                    Err(error) => return Some(Err(error)),
                }
            }
            return Some(Ok((
                self.line_number,
                Err(lagesbild_model::text::line_too_long()),
            )));
        }
        let line = match std::str::from_utf8(&self.buffer) {
            Ok(text) => Ok(text.trim_end_matches(['\n', '\r']).to_owned()),
            Err(e) => Err(format!("not valid UTF-8 (at byte {})", e.valid_up_to())),
        };
        Some(Ok((self.line_number, line)))
    }
}

/// Reads one file line by line, handing each valid event to `on_event` and collecting the
/// errors of refused lines and those `on_event` returns; never holds more than one line.
fn read_file_events(
    path: &Path,
    errors: &mut Vec<LocatedError>,
    mut on_event: impl FnMut(Located) -> Result<(), LocatedError>,
) -> Result<()> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
    let mut events = Vec::with_capacity(1);
    for item in BoundedLines::new(BufReader::new(file)) {
        if errors.len() >= MAX_REPORTED_ERRORS {
            break;
        }
        let (line_number, line) = item.with_context(|| format!("cannot read {name}"))?;
        match line {
            Ok(text) => parse_line(&name, line_number, &text, &mut events, errors),
            Err(reason) => errors.push(LocatedError {
                file: name.clone(),
                line: line_number,
                field: "(line)".into(),
                reason,
            }),
        }
        for located in events.drain(..) {
            if let Err(error) = on_event(located) {
                errors.push(error);
            }
        }
    }
    Ok(())
}

/// The keys read so far in one import, with where each was first seen and a digest of its
/// content: a key given twice with different content is an error in the input itself, found
/// before anything is written (the same key with the same content is a harmless repeat).
#[derive(Default)]
pub struct SeenKeys {
    seen: HashMap<String, (String, usize, String)>,
}

impl SeenKeys {
    pub fn check(&mut self, located: &Located) -> Result<(), LocatedError> {
        let Some(key) = &located.event.key else {
            return Ok(());
        };
        let digest = sha256_hex(located.event.canonical_content().as_bytes());
        match self.seen.get(key.as_str()) {
            Some((file, line, first)) if *first != digest => Err(LocatedError {
                file: located.file.clone(),
                line: located.line,
                field: "key".into(),
                reason: format!(
                    "key {:?} is also on {file}:{line} with different content; give each event its own key",
                    key.as_str()
                ),
            }),
            Some(_) => Ok(()),
            None => {
                self.seen.insert(
                    key.to_string(),
                    (located.file.clone(), located.line, digest),
                );
                Ok(())
            }
        }
    }
}

/// Appends located events in one transaction, turning the store's batch positions back into
/// file:line.
pub fn append_located(
    store: &mut dyn Store,
    located: Vec<Located>,
    dry_run: bool,
) -> Result<AppendReport> {
    append_located_as(store, located, dry_run, "imported")
}

/// Like [`append_located`], saying `nothing was {verb}` on failure.
pub fn append_located_as(
    store: &mut dyn Store,
    located: Vec<Located>,
    dry_run: bool,
    verb: &str,
) -> Result<AppendReport> {
    append_located_with(store, located, dry_run, verb, &template_sets(None)?)
}

/// Like [`append_located_as`], rebuilding a `report_published` to check its provenance with one
/// of `sets` (`lagesbild_app::provenance`).
pub fn append_located_with(
    store: &mut dyn Store,
    located: Vec<Located>,
    dry_run: bool,
    verb: &str,
    sets: &[TemplateSet],
) -> Result<AppendReport> {
    let places: Vec<(String, usize)> = located.iter().map(|l| (l.file.clone(), l.line)).collect();
    let batch: Vec<NewEvent> = located.into_iter().map(|l| l.event).collect();
    let result = if dry_run {
        provenance::append_dry_run(store, &batch, &[], sets)
    } else {
        provenance::append(store, &batch, &[], sets)
    };
    result.map_err(|error| locate_store_error(error, &places, verb))
}

/// The template sets a provenance check may rebuild with: the built-in ones and `dir`'s.
pub fn template_sets(dir: Option<&Path>) -> Result<Vec<TemplateSet>> {
    let configured = dir
        .map(|dir| {
            TemplateSet::from_dir(dir)
                .with_context(|| format!("cannot read the templates in {}", dir.display()))
        })
        .transpose()?;
    Ok(provenance::template_sets(configured.as_ref()))
}

fn locate_store_error(error: StoreError, places: &[(String, usize)], verb: &str) -> anyhow::Error {
    let at = |index: usize| match places.get(index) {
        Some((file, 0)) => file.clone(),
        Some((file, line)) => format!("{file}:{line}"),
        None => format!("event {index}"),
    };
    let message = match &error {
        StoreError::Invalid { index, error } => {
            format!("{}: field {:?}: {}", at(*index), error.field, error.reason)
        }
        StoreError::KeyConflict { index, key, seq } => format!(
            "{}: field \"key\": key {key:?} is already in the log as event {seq} with different content; append an event_corrected instead",
            at(*index)
        ),
        _ => return anyhow::Error::new(error).context(format!("nothing was {verb}")),
    };
    anyhow::anyhow!("{message}\nnothing was {verb}")
}

pub fn import(location: &StoreLocation, args: &ImportArgs) -> Result<ExitCode> {
    let missing_file = location.sqlite_path().is_some_and(|path| !path.exists());
    let mut store = if args.dry_run && missing_file {
        // A dry run creates nothing: check against what a first import would meet, the bundled
        // history, in memory.
        eprintln!(
            "{} does not exist: checking against the bundled history in memory",
            location
        );
        db::open_in_memory_seeded()?
    } else {
        db::open(location)?
    };
    let mut files = Vec::new();
    for path in &args.paths {
        files.extend(expand(path)?);
    }
    let sets = template_sets(args.templates.as_deref())?;
    if let Some(batch_size) = args.batch_size {
        return import_in_batches(&mut store, &files, batch_size.get(), &sets);
    }
    let progress = progress_bar(files.len() as u64, "reading");
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut keys = SeenKeys::default();
    for file in &files {
        read_file_events(file, &mut errors, |located| {
            keys.check(&located)?;
            events.push(located);
            Ok(())
        })?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    if !errors.is_empty() {
        bail!("{}\nnothing was imported", format_errors(&errors));
    }
    let count = events.len();
    let spinner = progress_bar(0, "appending");
    let report = append_located_with(&mut store, events, args.dry_run, "imported", &sets)?;
    spinner.finish_and_clear();
    let verb = if args.dry_run {
        "would append"
    } else {
        "appended"
    };
    println!(
        "{verb} {} of {count} events from {} files; {} already present; head {} {}",
        report.appended(),
        files.len(),
        report.already_present(),
        report.head.seq,
        report.head.hash
    );
    if args.dry_run {
        println!("dry run: nothing was written");
    }
    Ok(ExitCode::SUCCESS)
}

/// `import --batch-size N`: checks every line of every file first (nothing is written if one is
/// refused), then reads the files again and appends N events at a time, each batch in its own
/// transaction, printing one line per committed batch. A batch never spans two files. Killed at
/// any moment, the log holds whole batches only, at least those reported, and the same import run
/// again skips what is present (same key, same content) and appends the rest.
fn import_in_batches(
    store: &mut dyn Store,
    files: &[PathBuf],
    batch_size: usize,
    sets: &[TemplateSet],
) -> Result<ExitCode> {
    let mut errors = Vec::new();
    let mut keys = SeenKeys::default();
    let mut count = 0usize;
    for file in files {
        read_file_events(file, &mut errors, |located| {
            count += 1;
            keys.check(&located)
        })?;
    }
    if !errors.is_empty() {
        bail!("{}\nnothing was imported", format_errors(&errors));
    }
    drop(keys);

    let stdout = std::io::stdout();
    let mut appended = 0usize;
    let mut already_present = 0usize;
    let mut batches = 0usize;
    let mut head = store.head()?;
    for file in files {
        let name = file.display().to_string();
        let mut batch: Vec<Located> = Vec::with_capacity(batch_size);
        let mut failure: Option<anyhow::Error> = None;
        let mut commit = |batch: &mut Vec<Located>| -> Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            let (first, last) = (batch[0].line, batch[batch.len() - 1].line);
            let report = append_located_with(store, std::mem::take(batch), false, "imported", sets)
                .map_err(|error| {
                    error.context(format!(
                        "lines {first}-{last} of {name} were not imported; the batches reported committed before are in the log"
                    ))
                })?;
            let new = report.appended();
            let present = report.already_present();
            let events = match report.outcomes.iter().find_map(|o| match o {
                Outcome::Appended { seq, .. } => Some(*seq),
                Outcome::AlreadyPresent { .. } => None,
            }) {
                Some(from) => format!("events {from}-{}", from + new as u64 - 1),
                None => "no new events".to_owned(),
            };
            let present = if present > 0 {
                format!(" ({present} already present)")
            } else {
                String::new()
            };
            let mut out = stdout.lock();
            writeln!(
                out,
                "committed lines {first}-{last} of {name}: {events}{present}"
            )?;
            out.flush()?;
            appended += new;
            already_present += report.already_present();
            batches += 1;
            head = report.head;
            Ok(())
        };
        read_file_events(file, &mut errors, |located| {
            if failure.is_some() {
                return Ok(());
            }
            batch.push(located);
            if batch.len() == batch_size
                && let Err(error) = commit(&mut batch)
            {
                failure = Some(error);
            }
            Ok(())
        })?;
        if let Some(error) = failure {
            return Err(error);
        }
        if !errors.is_empty() {
            bail!(
                "{}\n{name} changed while it was imported; the batches reported committed above are in the log",
                format_errors(&errors)
            );
        }
        commit(&mut batch)?;
    }
    println!(
        "appended {appended} of {count} events from {} files in {batches} batches; {already_present} already present; head {} {}",
        files.len(),
        head.seq,
        head.hash
    );
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal, nothing otherwise.
pub fn progress_bar(len: u64, what: &'static str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = if len == 0 {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::new(len)
    };
    bar.set_message(what);
    bar
}

pub fn append(location: &StoreLocation, args: &AppendArgs) -> Result<ExitCode> {
    let (file, value) = match &args.kind {
        Some(kind) => ("(flags)".to_owned(), event_from_flags(kind, args)?),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .take(u64::try_from(MAX_LINE_BYTES).expect("fits") + 1)
                .read_to_string(&mut text)
                .context("cannot read an event from standard input")?;
            if text.len() > MAX_LINE_BYTES {
                bail!(
                    "(stdin): {}\nnothing was appended",
                    lagesbild_model::text::line_too_long()
                );
            }
            if text.trim().is_empty() {
                bail!(
                    "give the event with --kind, --occurred and --summary, or as one JSON object on standard input"
                );
            }
            let value = parse_json_strict(&text).map_err(|e| {
                anyhow::anyhow!(
                    "(stdin): field {:?}: {}\nnothing was appended",
                    e.field,
                    e.reason
                )
            })?;
            ("(stdin)".to_owned(), value)
        }
    };
    let event = lagesbild_model::event_from_value(value).map_err(|e| {
        anyhow::anyhow!(
            "{file}: field {:?}: {}\nnothing was appended",
            e.field,
            e.reason
        )
    })?;
    let expectations: Vec<Expectation> = args
        .expect_version
        .map(|version| Expectation {
            stream: event.stream.to_string(),
            version,
        })
        .into_iter()
        .collect();
    let mut store = db::open(location)?;
    let report = provenance::append(&mut store, &[event], &expectations, &template_sets(None)?)
        .map_err(|error| match error {
            StoreError::StaleVersion { .. } => anyhow::Error::new(error).context("conflict"),
            other => locate_store_error(other, &[(file.clone(), 0)], "appended"),
        })?;
    match report.outcomes[0] {
        Outcome::Appended {
            seq,
            stream_version,
        } => {
            println!(
                "appended event {seq} (stream version {stream_version}), head {}",
                report.head.hash
            );
        }
        Outcome::AlreadyPresent { seq } => {
            println!("already present as event {seq}; nothing written")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn event_from_flags(kind: &str, args: &AppendArgs) -> Result<serde_json::Value> {
    use serde_json::{Map, Value, json};
    let mut map = Map::new();
    map.insert("kind".into(), json!(kind));
    let Some(occurred) = &args.occurred else {
        bail!("--occurred is required with --kind")
    };
    let Some(summary) = &args.summary else {
        bail!("--summary is required with --kind")
    };
    map.insert("occurred".into(), json!(occurred));
    map.insert("summary".into(), json!(summary));
    for (name, value) in [
        ("stream", &args.stream),
        ("key", &args.key),
        ("by", &args.by),
    ] {
        if let Some(value) = value {
            map.insert(name.into(), json!(value));
        }
    }
    if args.source_title.is_some() || args.source_url.is_some() || args.source_published.is_some() {
        let mut source = Map::new();
        let Some(title) = &args.source_title else {
            bail!("--source-title is required when a source is given")
        };
        source.insert("title".into(), json!(title));
        if let Some(url) = &args.source_url {
            source.insert("url".into(), json!(url));
        }
        if let Some(published) = &args.source_published {
            source.insert("published".into(), json!(published));
        }
        map.insert("source".into(), Value::Object(source));
    }
    if let Some(data) = &args.data {
        let data = parse_json_strict(data).map_err(|e| {
            let field = match e.field.as_str() {
                "(json)" => "data".to_owned(),
                inner => format!("data.{inner}"),
            };
            anyhow::anyhow!("--data: field {field:?}: {}", e.reason)
        })?;
        map.insert("data".into(), data);
    }
    Ok(Value::Object(map))
}
