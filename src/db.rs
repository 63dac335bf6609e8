//! Opening the log: the default database, the bundled Millennium history it is seeded with, and
//! the clock override that makes test runs reproducible.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use include_dir::{Dir, include_dir};
use lagesbild_store::{SqliteStore, Store, StoreLocation};

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

/// Opens the log at `location` without seeding it; `create` says whether a PostgreSQL database
/// without the schema gets one (`init`, `restore`, the target of `copy`) or is refused.
fn open_raw(location: &StoreLocation, create: bool) -> Result<Box<dyn Store>> {
    let opened = match location {
        StoreLocation::Sqlite(path) => SqliteStore::open(path)
            .map(|store| Box::new(store) as Box<dyn Store>)
            .map_err(|error| {
                let hint = if path.exists() && crate::log_commands::not_writable(path) {
                    " (it is on a read-only file system or not writable by this user; lagesbild \
                     writes the log and its -wal and -shm files beside it; `verify` can still \
                     check it)"
                } else {
                    ""
                };
                anyhow::Error::new(error).context(format!(
                    "cannot open the database {location}{hint}; nothing was written"
                ))
            }),
        StoreLocation::Postgres(_) => {
            let opened = if create {
                location.create()
            } else {
                location.open()
            };
            opened.with_context(|| {
                format!("cannot open the PostgreSQL database {location}; nothing was written")
            })
        }
    };
    let mut store = opened?;
    if let Some(ms) = busy_timeout_override()? {
        store.set_busy_timeout(ms)?;
    }
    if let Some(at) = clock_override()? {
        store.set_clock(Box::new(move || at));
    }
    Ok(store)
}

/// Opens the log for writing. A missing SQLite file is created and seeded with the bundled
/// history, which is said on stderr; a PostgreSQL database must hold the schema (`init`).
pub fn open(location: &StoreLocation) -> Result<Box<dyn Store>> {
    let missing_file = location.sqlite_path().is_some_and(|path| !path.exists());
    let mut store = open_raw(location, false)?;
    if missing_file {
        seed(&mut store, location)?;
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

/// Opens a log that may be empty (for `restore` and the target of `copy`): never seeds, and
/// creates the schema of a PostgreSQL database that has none.
pub fn open_unseeded(location: &StoreLocation) -> Result<Box<dyn Store>> {
    open_raw(location, true)
}

fn seed(store: &mut dyn Store, location: &StoreLocation) -> Result<()> {
    let located: Vec<Located> = import::parse_texts(
        bundled_files()
            .into_iter()
            .map(|(name, text)| (name, text.to_owned())),
    )
    .map_err(|errors| anyhow::anyhow!(import::format_errors(&errors)))
    .context("the bundled history is invalid")?;
    let report = import::append_located(store, located, false)?;
    eprintln!(
        "created {location} and imported the bundled Millennium history: {} events",
        report.appended()
    );
    Ok(())
}

/// `lagesbild init`: creates the log (a SQLite file, or the schema in a PostgreSQL database) and
/// imports the bundled history into it unless `--empty`; a log that holds events is left as it
/// is.
pub fn init(location: &StoreLocation, args: &InitArgs) -> Result<ExitCode> {
    let existing_file = location.sqlite_path().is_some_and(Path::exists);
    let mut store = open_raw(location, true)?;
    let head = store.head()?;
    if existing_file || head.seq > 0 {
        println!(
            "{location} exists already: {} events, head {}",
            head.seq, head.hash
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.empty {
        println!("created {location} (empty)");
    } else {
        seed(&mut store, location)?;
    }
    Ok(ExitCode::SUCCESS)
}
