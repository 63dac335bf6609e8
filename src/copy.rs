//! `lagesbild copy --from A --to B`: a whole log moved between any two backends (SQLite file to
//! PostgreSQL, back, or file to file), with the same sequence numbers, times and hashes.
//!
//! The events are read from the source in pages up to the head it had when the copy began and
//! written by the target's restore, which recomputes every hash as it goes and commits all of it
//! or nothing; the published reports are checked against the copied log (as `restore` checks
//! them) and the target's head must equal the source's before anything is committed. The caches
//! (checkpoints, the material index, kept editions) are not copied: they are rebuilt from the log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lagesbild_store::{Filter, Store, StoreError, StoreLocation, scan};

use crate::db;

#[derive(clap::Args)]
pub struct CopyArgs {
    /// The log to copy: a SQLite file or a postgres:// URL. It is only read.
    #[arg(long, value_name = "PATH|URL")]
    from: StoreLocation,
    /// Where to copy it: a SQLite file (created if missing) or a postgres:// URL (its schema
    /// created if missing). It must hold no events.
    #[arg(long, value_name = "PATH|URL")]
    to: StoreLocation,
}

/// Removes a SQLite file (with its -wal and -shm files) the copy created, unless the copy
/// succeeded, so that a failed copy leaves nothing behind.
struct CreatedFile {
    path: Option<PathBuf>,
}

impl Drop for CreatedFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        }
    }
}

pub fn copy(args: &CopyArgs) -> Result<ExitCode> {
    let (from, to) = (&args.from, &args.to);
    if from == to {
        bail!("--from and --to are the same log ({from}); nothing was copied");
    }
    if let Some(path) = from.sqlite_path()
        && !path.exists()
    {
        bail!("{from} does not exist: there is no log to copy");
    }
    let source = from
        .open_read_only()
        .with_context(|| format!("cannot open the source {from}; nothing was copied"))?;
    let head = source.head()?;
    let heads = source.tree_heads()?;

    let mut created = CreatedFile {
        path: to
            .sqlite_path()
            .filter(|path| !path.exists())
            .map(PathBuf::from),
    };
    let mut target = db::open_unseeded(to)?;
    let held = target.count()?;
    if held > 0 {
        bail!(
            "the target {to} already holds {held} events; copy needs an empty log, so nothing was copied"
        );
    }

    // Up to the head read above: events appended to the source meanwhile are not copied, and
    // the target's head can be compared with the source's.
    let filter = Filter {
        max_seq: Some(head.seq),
        ..Filter::default()
    };
    let bar = crate::import::progress_bar(head.seq, "copying");
    let mut events = scan(&*source, &filter).inspect(|event| {
        if let Ok(event) = event {
            bar.set_position(event.seq);
        }
    });
    let sets = crate::import::template_sets(None)?;
    let mut check = |copied: &dyn Store| -> Result<(), StoreError> {
        let copied_head = copied.head()?;
        if copied_head.seq != head.seq || copied_head.hash != head.hash {
            return Err(StoreError::Broken {
                seq: copied_head.seq,
                reason: format!(
                    "the copy ends at {}:{}, not at the source's head {}:{}",
                    copied_head.seq, copied_head.hash, head.seq, head.hash
                ),
            });
        }
        lagesbild_app::provenance::check_log(copied, &sets)
    };
    let copied = target.restore_checked(&mut events, &mut check);
    drop(events);
    bar.finish_and_clear();
    let count = copied.with_context(|| {
        format!("cannot copy {from} to {to}; nothing was copied (the target is as it was)")
    })?;
    created.path = None;

    // The signed tree heads, as `restore` stores those of an export: after the events, which
    // they are checked against by `verify`.
    for tree_head in &heads {
        target.insert_tree_head(tree_head).with_context(|| {
            format!(
                "the {count} events were copied to {to} (head {}:{}), but its signed tree heads \
                 could not be stored there",
                head.seq, head.hash
            )
        })?;
    }
    let heads_said = match heads.len() {
        0 => String::new(),
        n => format!(" and {n} signed tree heads"),
    };
    println!(
        "copied {count} events{heads_said} from {from} to {to}; head {}:{}",
        head.seq, head.hash
    );
    Ok(ExitCode::SUCCESS)
}
