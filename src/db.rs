//! Opening the log: the default database, the bundled Millennium history it is seeded with, and
//! the clock override that makes test runs reproducible.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use include_dir::{Dir, include_dir};
use lagesbild_store::{SqliteStore, Store};

use crate::import::{self, Located};

/// The Millennium history, compiled into the binary so that a fresh machine has data.
static BUNDLED_EVENTS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/events");

/// Fixes transaction time (RFC 3339) for reproducible runs; meant for tests and demonstrations.
pub const NOW_VARIABLE: &str = "LAGESBILD_NOW";

/// How long a writer waits for another writer's transaction, in milliseconds, before it gives up
/// with a clear error (default [`lagesbild_store::BUSY_TIMEOUT_DEFAULT`], 30 s).
pub const BUSY_TIMEOUT_VARIABLE: &str = "LAGESBILD_BUSY_TIMEOUT_MS";

/// The busy timeout [`BUSY_TIMEOUT_VARIABLE`] asks for, if it is set.
pub fn busy_timeout_override() -> Result<Option<u64>> {
    match std::env::var(BUSY_TIMEOUT_VARIABLE) {
        Ok(text) => text.trim().parse::<u64>().map(Some).with_context(|| {
            format!("{BUSY_TIMEOUT_VARIABLE}={text:?} is not a number of milliseconds")
        }),
        Err(_) => Ok(None),
    }
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// Create the schema only, without the bundled history.
    #[arg(long)]
    empty: bool,
}

/// The bundled history files in name order, as (name, text).
pub fn bundled_files() -> Vec<(String, &'static str)> {
    let mut files: Vec<(String, &'static str)> = BUNDLED_EVENTS
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
        .map(|f| {
            (
                format!("events/{}", f.path().display()),
                f.contents_utf8().expect("bundled events are UTF-8"),
            )
        })
        .collect();
    files.sort();
    files
}

fn clock_override() -> Result<Option<DateTime<Utc>>> {
    match std::env::var(NOW_VARIABLE) {
        Ok(text) => {
            let at = DateTime::parse_from_rfc3339(&text)
                .with_context(|| format!("{NOW_VARIABLE}={text:?} is not an RFC 3339 timestamp"))?;
            Ok(Some(at.with_timezone(&Utc)))
        }
        Err(_) => Ok(None),
    }
}

fn open_raw(path: &Path) -> Result<Box<dyn Store>> {
    let mut store = SqliteStore::open(path).map_err(|error| {
        let hint = if path.exists() && crate::log_commands::not_writable(path) {
            " (it is on a read-only file system or not writable by this user; lagesbild writes \
             the log and its -wal and -shm files beside it; `verify` can still check it)"
        } else {
            ""
        };
        anyhow::Error::new(error).context(format!(
            "cannot open the database {}{hint}; nothing was written",
            path.display()
        ))
    })?;
    if let Some(ms) = busy_timeout_override()? {
        store.set_busy_timeout(ms)?;
    }
    if let Some(at) = clock_override()? {
        store.set_clock(Box::new(move || at));
    }
    Ok(Box::new(store))
}

/// Opens the log for writing. A missing database is created and seeded with the bundled
/// history, which is said on stderr.
pub fn open(path: &Path) -> Result<Box<dyn Store>> {
    let existed = path.exists();
    let mut store = open_raw(path)?;
    if !existed {
        seed(&mut store, path)?;
    }
    Ok(store)
}

/// A log in memory holding the bundled history, for a dry run that must not create a file.
pub fn open_in_memory_seeded() -> Result<Box<dyn Store>> {
    let mut store: Box<dyn Store> = Box::new(SqliteStore::open_in_memory()?);
    let located = import::parse_texts(
        bundled_files()
            .into_iter()
            .map(|(name, text)| (name, text.to_owned())),
    )
    .map_err(|errors| anyhow::anyhow!(import::format_errors(&errors)))
    .context("the bundled history is invalid")?;
    import::append_located(&mut store, located, false)?;
    Ok(store)
}

/// Opens a log that may be empty (for `restore`): never seeds.
pub fn open_unseeded(path: &Path) -> Result<Box<dyn Store>> {
    open_raw(path)
}

fn seed(store: &mut dyn Store, path: &Path) -> Result<()> {
    let located: Vec<Located> = import::parse_texts(
        bundled_files()
            .into_iter()
            .map(|(name, text)| (name, text.to_owned())),
    )
    .map_err(|errors| anyhow::anyhow!(import::format_errors(&errors)))
    .context("the bundled history is invalid")?;
    let report = import::append_located(store, located, false)?;
    eprintln!(
        "created {} and imported the bundled Millennium history: {} events",
        path.display(),
        report.appended()
    );
    Ok(())
}

pub fn init(path: &Path, args: &InitArgs) -> Result<ExitCode> {
    if path.exists() {
        let store = open_raw(path)?;
        let head = store.head()?;
        println!(
            "{} exists already: {} events, head {}",
            path.display(),
            head.seq,
            head.hash
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.empty {
        open_raw(path)?;
        println!("created {} (empty)", path.display());
    } else {
        open(path)?;
    }
    Ok(ExitCode::SUCCESS)
}
