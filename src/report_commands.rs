//! The communications staff's commands: the weekly report (render, publish, reproduce), the
//! templates, and the short commands that add the week's notes, publications and figures.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{NaiveDate, Weekday};
use lagesbild_app::publish::{self, LogState};
use lagesbild_app::staff;
use lagesbild_model::{FieldError, FuzzyDate, NewEvent, sha256_hex};
use lagesbild_render::report::{ReportFormat, ReportRenderer, TemplateSet};
use lagesbild_store::{EventLog, EventRef, StoreLocation};
use lagesbild_timeline::ReportModel;

use crate::{db, import};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Html,
    /// A4, typeset from report.typ, fonts embedded.
    Pdf,
}

impl Format {
    fn report_format(self) -> ReportFormat {
        match self {
            Format::Md => ReportFormat::Markdown,
            Format::Html => ReportFormat::Html,
            Format::Pdf => ReportFormat::Pdf,
        }
    }
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    action: Option<ReportAction>,
    #[command(flatten)]
    options: ReportOptions,
}

#[derive(clap::Subcommand)]
enum ReportAction {
    /// Render the report, write it, and record a report_published event with its provenance.
    Publish(PublishArgs),
    /// Rebuild a published report from the log as it was and compare it byte for byte.
    Reproduce(ReproduceArgs),
    /// Write the archive as static files for the intranet: one page per published report
    /// (the published bytes, checked), an index and the Atom feed, with relative links.
    ExportSite(ExportSiteArgs),
}

#[derive(clap::Args)]
pub struct ExportSiteArgs {
    /// The folder to write; it must be new, empty, or an earlier export (which is replaced).
    dir: PathBuf,
    #[arg(long)]
    templates: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ReportOptions {
    /// The report date (default: today).
    #[arg(long, value_parser = parse_day, conflicts_with = "week")]
    date: Option<NaiveDate>,
    /// An ISO week, such as 2024-W52; the report is dated its Friday.
    #[arg(long, value_parser = parse_week)]
    week: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// A folder of templates to use instead of the embedded ones.
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Write to this file instead of standard output.
    #[arg(short, long, visible_alias = "out")]
    output: Option<PathBuf>,
    /// The time printed as "Sammanställd", YYYY-MM-DDTHH:MM in Swedish time (default: now).
    #[arg(long, value_parser = parse_minute)]
    compiled_at: Option<FuzzyDate>,
    /// Print the report model as JSON instead of rendering it.
    #[arg(long)]
    context: bool,
    /// Render from a report model in JSON (as --context prints it) instead of the log.
    #[arg(long, conflicts_with = "context")]
    from_context: Option<PathBuf>,
    /// Mark key figures measured more than this many days before the report day as old
    /// (published editions use the default).
    #[arg(long, default_value_t = lagesbild_timeline::FIGURE_MAX_AGE_DAYS)]
    figure_max_age: u64,
    /// Build the edition as the public record stood on this day: facts whose sources were
    /// published later are left out (not for publishing, which uses the whole log).
    #[arg(long, value_parser = parse_day)]
    public_at: Option<NaiveDate>,
}

#[derive(clap::Args)]
pub struct PublishArgs {
    #[arg(long, value_parser = parse_day, conflicts_with = "week")]
    date: Option<NaiveDate>,
    #[arg(long, value_parser = parse_week)]
    week: Option<NaiveDate>,
    #[arg(long)]
    templates: Option<PathBuf>,
    #[arg(long, value_parser = parse_minute)]
    compiled_at: Option<FuzzyDate>,
    /// Where the rendered files are written.
    #[arg(long, default_value = "reports")]
    out_dir: PathBuf,
    /// Who publishes.
    #[arg(long)]
    by: Option<String>,
    /// With a signing key, a signed tree head covering the publication is written too.
    #[command(flatten)]
    signing_key: crate::proof_commands::SigningKeyArg,
}

#[derive(clap::Args)]
pub struct ReproduceArgs {
    /// The report_published event, by sequence number or key.
    event: String,
    /// Rebuild with this folder of templates instead of the ones the report was published
    /// with (the built-in set or an earlier released one, found by the recorded digest)
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Where the published files are (to show a diff if they differ).
    #[arg(long, default_value = "reports")]
    out_dir: PathBuf,
}

#[derive(clap::Args)]
pub struct TemplatesArgs {
    #[command(subcommand)]
    action: TemplatesAction,
}

#[derive(clap::Subcommand)]
enum TemplatesAction {
    /// Write the embedded default templates to a folder for editing.
    Init { dir: PathBuf },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum NoteSection {
    Summary,
    Communications,
    Operations,
    About,
}

#[derive(clap::Args)]
pub struct NoteArgs {
    /// Which section of the report: summary (Sammanfattande lägesbild), communications
    /// (Kommunikativ lägesbild), operations (Verksamhetens kommentar), about.
    #[arg(long, value_enum)]
    section: NoteSection,
    /// The note, one Swedish sentence or paragraph.
    text: String,
    /// A sub-point under the note (repeatable).
    #[arg(long)]
    point: Vec<String>,
    /// The note stands in every report up to and including this day.
    #[arg(long, value_parser = parse_day, conflicts_with = "standing")]
    until: Option<NaiveDate>,
    /// The note stands until it is retracted.
    #[arg(long)]
    standing: bool,
    #[command(flatten)]
    common: StaffArgs,
}

#[derive(clap::Args)]
pub struct PublishedArgs {
    /// The title of what was published.
    title: String,
    #[arg(long)]
    url: Option<String>,
    /// Where it was published (Insidan, Vårdskiftet, VGRfokus …).
    #[arg(long)]
    channel: Option<String>,
    /// A standing link under "Samlad information" instead of a dated item.
    #[arg(long)]
    collected: bool,
    #[command(flatten)]
    common: StaffArgs,
}

#[derive(clap::Args)]
pub struct FigureArgs {
    /// The figure's id, such as konsulter.
    figure: String,
    /// Its value (a decimal point or comma).
    value: String,
    #[arg(long, default_value = "st")]
    unit: String,
    /// The figure's name as the report prints it.
    #[arg(long)]
    label: Option<String>,
    #[command(flatten)]
    common: StaffArgs,
}

#[derive(clap::Args)]
pub struct StaffArgs {
    /// The day it happened (default: today).
    #[arg(long, value_parser = parse_fuzzy)]
    date: Option<FuzzyDate>,
    #[arg(long)]
    key: Option<String>,
    /// Who records it.
    #[arg(long)]
    by: Option<String>,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a day (YYYY-MM-DD)"))
}

fn parse_fuzzy(text: &str) -> Result<FuzzyDate, String> {
    FuzzyDate::parse(text).map_err(|e| e.to_string())
}

fn parse_minute(text: &str) -> Result<FuzzyDate, String> {
    match FuzzyDate::parse(text) {
        Ok(date @ FuzzyDate::Minute(_)) => Ok(date),
        _ => Err(format!("{text:?} is not a time: use YYYY-MM-DDTHH:MM")),
    }
}

/// `2024-W52` → the Friday of that ISO week, the day the weekly report goes out.
fn parse_week(text: &str) -> Result<NaiveDate, String> {
    let error = || format!("{text:?} is not an ISO week: use YYYY-Www, such as 2024-W52");
    let (year, week) = text.split_once("-W").ok_or_else(error)?;
    let year: i32 = year.parse().map_err(|_| error())?;
    let week: u32 = week.parse().map_err(|_| error())?;
    NaiveDate::from_isoywd_opt(year, week, Weekday::Fri).ok_or_else(error)
}

fn now_local() -> Result<chrono::NaiveDateTime> {
    lagesbild_app::clock::now_local().map_err(anyhow::Error::msg)
}

fn today() -> Result<NaiveDate> {
    Ok(now_local()?.date())
}

fn templates(dir: &Option<PathBuf>) -> Result<TemplateSet> {
    Ok(match dir {
        Some(dir) => TemplateSet::from_dir(dir)?,
        None => TemplateSet::embedded(),
    })
}

pub fn report(location: &StoreLocation, args: &ReportArgs) -> Result<ExitCode> {
    match &args.action {
        Some(ReportAction::Publish(publish_args)) => return publish(location, publish_args),
        Some(ReportAction::Reproduce(reproduce_args)) => {
            return reproduce(location, reproduce_args);
        }
        Some(ReportAction::ExportSite(export_args)) => return export_site(location, export_args),
        None => {}
    }
    let o = &args.options;
    let set = templates(&o.templates)?;
    let model: ReportModel = match &o.from_context {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a report model", file.display()))?
        }
        None => {
            let day = match o.date.or(o.week) {
                Some(day) => day,
                None => today()?,
            };
            let compiled_at = match o.compiled_at {
                Some(at) => at,
                None => FuzzyDate::Minute(now_local()?),
            };
            let mut store = db::open(location)?;
            let head = store.head()?.seq;
            let mut notices = Vec::new();
            let mut model = lagesbild_app::report::build_model_public_noted(
                &mut store,
                head,
                day,
                compiled_at,
                o.public_at,
                &mut notices,
            )?;
            crate::analysis::print_notices(&notices);
            model.set_figure_max_age(o.figure_max_age);
            model
        }
    };
    if o.context {
        crate::analysis::write_out(&o.output, &(serde_json::to_string_pretty(&model)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let format = o.format.report_format();
    let bytes = ReportRenderer::new(set, format)?.render_bytes(&model, format)?;
    crate::analysis::write_bytes_out(&o.output, &bytes)?;
    Ok(ExitCode::SUCCESS)
}

fn output_name(day: NaiveDate, seq: u64, format: ReportFormat) -> String {
    format!("regional-rapport-{day}-h{seq}.{}", format.name())
}

fn publish(location: &StoreLocation, args: &PublishArgs) -> Result<ExitCode> {
    let set = templates(&args.templates)?;
    let day = match args.date.or(args.week) {
        Some(day) => day,
        None => today()?,
    };
    let compiled_at = match args.compiled_at {
        Some(FuzzyDate::Minute(at)) => at,
        _ => now_local()?,
    };
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let mut store = db::open(location)?;
    let published = publish::publish(&mut store, &set, day, compiled_at, args.by.as_deref())?;
    let head = &published.built_from;
    for (format, bytes) in &published.outputs {
        let file = args.out_dir.join(output_name(day, head.seq, *format));
        std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
        println!("wrote {} (sha256 {})", file.display(), sha256_hex(bytes));
    }
    // The head printed covers the report_published event itself, so that an auditor who keeps
    // it can later check that the publication is still in the log (`verify --expect-head`).
    println!(
        "published the report for {day} as event {}; built from log position {} ({}); head {}:{}",
        published.seq, head.seq, head.hash, published.head.seq, published.head.hash
    );
    crate::proof_commands::sign_after_publish(&mut store, &args.signing_key)?;
    Ok(ExitCode::SUCCESS)
}

/// Marks a folder as written by `export-site`, so that exporting again may replace it.
const EXPORT_MARKER: &str = ".lagesbild-export";

fn export_site(location: &StoreLocation, args: &ExportSiteArgs) -> Result<ExitCode> {
    let set = templates(&args.templates)?;
    let mut store = db::open(location)?;
    // Everything is built and checked before a file is written.
    let files = lagesbild_app::intranet::export_site(&mut store, &set)?;
    let dir = &args.dir;
    let replaces = dir.exists();
    if replaces {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !dir.join(EXPORT_MARKER).exists() {
            anyhow::bail!(
                "{} is neither empty nor an earlier export (no {EXPORT_MARKER}); nothing was written",
                dir.display()
            );
        }
    }
    // Written beside the target and swapped in whole: a failure leaves the old export as it was.
    let name = dir
        .file_name()
        .with_context(|| format!("{} has no folder name", dir.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The staging and set-aside folders get fresh random names, made with mkdir, which refuses a
    // path that exists: a folder left by a killed run, or planted (as a symlink, say) by someone
    // who can write the parent, is never reused, so only what was built and checked here is
    // swapped in.
    let fresh = |what: &str| -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(&format!(".{name}.{what}-"))
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a folder in {}", parent.display()))
    };
    let staging_dir = fresh("partial")?;
    let staging = staging_dir.path().to_path_buf();
    for file in &files {
        let target = staging.join(&file.path);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))
                .context("nothing was exported")?;
        }
        std::fs::write(&target, &file.bytes)
            .with_context(|| format!("cannot write {}", target.display()))
            .context("nothing was exported")?;
    }
    std::fs::write(
        staging.join(EXPORT_MARKER),
        "written by lagesbild report export-site\n",
    )
    .with_context(|| format!("cannot write in {}", staging.display()))
    .context("nothing was exported")?;
    // Renaming a folder onto an empty one replaces it, so the fresh empty folder is the name
    // the old export is moved to.
    let old_dir = if replaces { Some(fresh("old")?) } else { None };
    if let Some(old) = &old_dir {
        std::fs::rename(dir, old.path())
            .with_context(|| format!("cannot move {} aside", dir.display()))?;
    }
    if let Err(error) = std::fs::rename(&staging, dir) {
        if let Some(old) = &old_dir {
            let _ = std::fs::rename(old.path(), dir);
        }
        return Err(anyhow::Error::new(error).context(format!(
            "cannot move {} to {}; the export was not replaced",
            staging.display(),
            dir.display()
        )));
    }
    // The staging folder is now the export: its guard must not delete it.
    let _ = staging_dir.keep();
    if let Some(old) = old_dir {
        let path = old.path().to_path_buf();
        old.close()
            .with_context(|| format!("cannot remove the earlier export at {}", path.display()))?;
    }
    let pages = files
        .iter()
        .filter(|f| f.path.ends_with(".html") && f.path.starts_with("rapporter/"))
        .count();
    println!(
        "wrote {} files to {}: {pages} report pages, index.html and rapporter.atom",
        files.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn reproduce(location: &StoreLocation, args: &ReproduceArgs) -> Result<ExitCode> {
    let mut store = db::open(location)?;
    let which: EventRef = args.event.parse().expect("infallible");
    // Without a folder, the edition is rebuilt with the templates it was published with, the
    // built-in or a released set; with one, with exactly that folder's, to compare.
    let set = templates(&args.templates)?;
    let outcome = match &args.templates {
        Some(_) => publish::reproduce_with(&mut store, &set, &which)?,
        None => publish::reproduce(&mut store, &set, &which)?,
    };
    let published = &outcome.published;
    if !outcome.templates_match() {
        println!(
            "templates differ: the report used {} (digest {}), these are {} (digest {})",
            published
                .template
                .as_ref()
                .map(|t| t.as_str())
                .unwrap_or("?"),
            published.template_digest,
            set.origin,
            outcome.template_digest
        );
    }
    match &outcome.log {
        LogState::Intact => {}
        LogState::Rewritten { now } => {
            println!(
                "the log was rewritten: event {} now has hash {now}, the report recorded {}",
                published.log_seq, published.head_hash
            );
            return Ok(ExitCode::FAILURE);
        }
        LogState::Missing => {
            println!(
                "the log no longer holds event {} that the report was built from",
                published.log_seq
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let day = published.report_date.first_day();
    for output in &outcome.outputs {
        let Some(bytes) = &output.bytes else {
            println!("{}: unknown format, skipped", output.format);
            continue;
        };
        if output.identical() {
            println!(
                "{}: byte-identical (sha256 {})",
                output.format, output.reproduced_sha256
            );
            continue;
        }
        println!(
            "{}: DIFFERS: published sha256 {}, reproduced {}",
            output.format, output.published_sha256, output.reproduced_sha256
        );
        let Some(format) = lagesbild_app::provenance::format_named(&output.format) else {
            continue;
        };
        let file = args
            .out_dir
            .join(output_name(day, published.log_seq, format));
        // A PDF has no line diff; its digest says it differs.
        let text = match (format, std::str::from_utf8(bytes)) {
            (ReportFormat::Pdf, _) | (_, Err(_)) => continue,
            (_, Ok(text)) => text,
        };
        match std::fs::read_to_string(&file) {
            Ok(original) if sha256_hex(original.as_bytes()) == output.published_sha256 => {
                let diff = similar::TextDiff::from_lines(original.as_str(), text);
                print!(
                    "{}",
                    diff.unified_diff()
                        .header(&file.display().to_string(), "reproduced")
                );
            }
            _ => println!(
                "(the published file {} is not at hand to show a diff)",
                file.display()
            ),
        }
    }
    if outcome.identical() {
        println!(
            "report {} reproduced from log position {}",
            outcome.event.seq, published.log_seq
        );
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

pub fn templates_command(args: &TemplatesArgs) -> Result<ExitCode> {
    match &args.action {
        TemplatesAction::Init { dir } => {
            let written = TemplateSet::embedded()
                .write_to(dir)
                .with_context(|| format!("cannot write templates to {}", dir.display()))?;
            for file in written {
                println!("wrote {}", file.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn common(args: &StaffArgs) -> staff::Common {
    staff::Common {
        occurred: args.date,
        key: args.key.clone(),
        by: args.by.clone(),
    }
}

fn append_staff_event(
    location: &StoreLocation,
    event: Result<NewEvent, FieldError>,
) -> Result<ExitCode> {
    let event = event.map_err(|e| anyhow::anyhow!("field {:?}: {}", e.field, e.reason))?;
    let mut store = db::open(location)?;
    let report = import::append_located(
        &mut store,
        vec![import::Located {
            file: "(arguments)".into(),
            line: 0,
            event,
        }],
        false,
    )?;
    match report.outcomes[0] {
        lagesbild_store::Outcome::Appended { seq, .. } => println!("recorded as event {seq}"),
        lagesbild_store::Outcome::AlreadyPresent { seq } => {
            println!("already recorded as event {seq}")
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn note(location: &StoreLocation, args: &NoteArgs) -> Result<ExitCode> {
    let section = match args.section {
        NoteSection::Summary => staff::NoteSection::Summary,
        NoteSection::Communications => staff::NoteSection::Communications,
        NoteSection::Operations => staff::NoteSection::Operations,
        NoteSection::About => staff::NoteSection::About,
    };
    let standing = match (args.until, args.standing) {
        (Some(day), _) => staff::Standing::Until(day),
        (None, true) => staff::Standing::Standing,
        (None, false) => staff::Standing::Week,
    };
    let note = staff::Note {
        section,
        text: args.text.clone(),
        points: args.point.clone(),
        standing,
    };
    append_staff_event(
        location,
        staff::note(&note, &common(&args.common), today()?),
    )
}

pub fn published(location: &StoreLocation, args: &PublishedArgs) -> Result<ExitCode> {
    let publication = staff::Publication {
        title: args.title.clone(),
        url: args.url.clone(),
        channel: args.channel.clone(),
        collected: args.collected,
    };
    append_staff_event(
        location,
        staff::publication(&publication, &common(&args.common), today()?),
    )
}

pub fn figure(location: &StoreLocation, args: &FigureArgs) -> Result<ExitCode> {
    let figure = staff::Figure {
        figure: args.figure.clone(),
        value: args.value.clone(),
        unit: args.unit.clone(),
        label: args.label.clone(),
    };
    append_staff_event(
        location,
        staff::figure(&figure, &common(&args.common), today()?),
    )
}
