//! The analyst's commands: `timeline`, `waves` and `diff`, each on two time axes (`--as-of`
//! valid time, `--known-at` transaction time) and in several formats.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use lagesbild_model::RecordedAt;
use lagesbild_render::doc::{self, Doc};
use lagesbild_render::views::{self, Axes};
use lagesbild_store::StoreLocation;
use lagesbild_timeline::Projection;

use crate::{db, log_commands};
use lagesbild_app::replay;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Md,
    Html,
    Json,
    /// TimelineJS 3 JSON (timeline only).
    Timelinejs,
    /// The milestone trend chart alone (waves only).
    Svg,
}

#[derive(clap::Args)]
pub struct TimeArgs {
    /// Valid time: only what had happened by this date (2022-06-01; a coarser date means its
    /// last day).
    #[arg(long, value_parser = parse_as_of)]
    as_of: Option<NaiveDate>,
    /// Transaction time: only what had been recorded by then (RFC 3339, or a day meaning its end).
    #[arg(long, value_parser = log_commands::parse_instant_end)]
    known_at: Option<RecordedAt>,
    /// Public record: only facts whose sources had been published by this day (falling back to
    /// when they were recorded); a coarser date means its last day.
    #[arg(long, value_parser = parse_as_of)]
    public_at: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The earlier date.
    #[arg(long, value_parser = parse_as_of)]
    from: NaiveDate,
    /// The later date (default: today, everything known).
    #[arg(long, value_parser = parse_as_of)]
    to: Option<NaiveDate>,
    #[command(flatten)]
    time: TimeArgs,
}

/// A valid-time day; a coarser date (2019-H2) means its last day.
pub fn parse_as_of(text: &str) -> Result<NaiveDate, String> {
    lagesbild_app::params::as_of(text)
}

/// Writes to the file, or to standard output without one.
pub fn write_out(output: &Option<PathBuf>, text: &str) -> Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(out.flush()?)
        }
    }
}

/// [`write_out`] for bytes that may not be text (the PDF).
pub fn write_bytes_out(output: &Option<PathBuf>, bytes: &[u8]) -> Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            Ok(out.flush()?)
        }
    }
}

/// Says on standard error which caches a read refused and rebuilt from the log.
pub fn print_notices(notices: &[lagesbild_app::caches::CacheNotice]) {
    for notice in notices {
        eprintln!("warning: {notice}; run `lagesbild verify`");
    }
}

fn render_doc(doc: &Doc, format: Format) -> Option<String> {
    match format {
        Format::Text => Some(doc::to_text(doc)),
        Format::Md => Some(doc::to_markdown(doc)),
        Format::Html => Some(doc::to_html_page(doc)),
        _ => None,
    }
}

/// Replays the log as known at `time.known_at` and returns the projection with the axes to
/// print, `as_of` being the valid-time day the caller will view. Without `facts` the timeline-only
/// facts are left out, which the waves do not show, so the cost stays bounded by checkpoints.
fn replayed(
    location: &StoreLocation,
    time: &TimeArgs,
    as_of: Option<NaiveDate>,
    facts: bool,
) -> Result<(Projection, Axes)> {
    let mut store = db::open(location)?;
    let seq = replay::seq_known_at(&store, time.known_at.as_ref())?;
    let mut notices = Vec::new();
    let projection = if facts {
        replay::projection_noted(&mut store, seq, &mut notices)?
    } else {
        replay::programme_noted(&mut store, seq, &mut notices)?
    };
    print_notices(&notices);
    let axes = Axes {
        as_of,
        known_at: time.known_at.map(|t| t.to_string()),
        log_seq: seq,
        public_at: time.public_at,
    };
    Ok((projection, axes))
}

pub fn timeline(location: &StoreLocation, args: &TimeArgs) -> Result<ExitCode> {
    let (projection, axes) = replayed(location, args, args.as_of, true)?;
    let view = projection.view_public(args.as_of, args.public_at);
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&view)? + "\n",
        Format::Timelinejs => serde_json::to_string_pretty(&views::timelinejs(&view))? + "\n",
        Format::Svg => anyhow::bail!(
            "--format svg is for `waves`; the timeline has text, md, html, json and timelinejs"
        ),
        format => {
            render_doc(&views::timeline_doc(&view, &axes), format).expect("a document format")
        }
    };
    write_out(&args.output, &text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn waves(location: &StoreLocation, args: &TimeArgs) -> Result<ExitCode> {
    let (projection, axes) = replayed(location, args, args.as_of, false)?;
    let view = projection.view_public(args.as_of, args.public_at);
    let text = match args.format {
        Format::Json => {
            let waves = serde_json::json!({
                "as_of": view.as_of,
                "log_seq": view.log_seq,
                "plans": view.plans,
                "waves": view.waves,
                "open_matters": view.open_matters().collect::<Vec<_>>(),
            });
            serde_json::to_string_pretty(&waves)? + "\n"
        }
        Format::Svg => lagesbild_render::chart::milestone_trend_svg(&view, "mta") + "\n",
        Format::Timelinejs => anyhow::bail!("--format timelinejs is for `timeline`"),
        format => render_doc(
            &views::waves_doc(&view, &axes, format == Format::Html),
            format,
        )
        .expect("a document format"),
    };
    write_out(&args.output, &text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn diff(location: &StoreLocation, args: &DiffArgs) -> Result<ExitCode> {
    let time = &args.time;
    let to = args.to.or(time.as_of);
    let (projection, axes) = replayed(location, time, to, true)?;
    let public = time.public_at;
    let diff = lagesbild_timeline::diff(
        &projection.view_public(Some(args.from), public),
        &projection.view_public(to, public),
    );
    let text = match time.format {
        Format::Json => serde_json::to_string_pretty(&diff)? + "\n",
        Format::Svg | Format::Timelinejs => anyhow::bail!("diff has text, md, html and json"),
        format => render_doc(&views::diff_doc(&diff, &axes), format).expect("a document format"),
    };
    write_out(&time.output, &text)?;
    Ok(ExitCode::SUCCESS)
}
