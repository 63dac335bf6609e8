//! The `lagesbild` command line: wiring only. Each subcommand parses its arguments, opens the
//! log and calls the library crates; the work happens there.

mod analysis;
mod copy;
mod db;
mod import;
mod log_commands;
mod proof_commands;
mod report_commands;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lagesbild_store::StoreLocation;

#[derive(Parser)]
#[command(
    name = "lagesbild",
    version,
    about = "An append-only event log of the Millennium rollout, turned into timelines and weekly situation reports",
    after_help = "Without a database, the first command creates lagesbild.db and imports the bundled Millennium history."
)]
struct Cli {
    /// The log: a SQLite file, or a PostgreSQL database as postgres://USER@HOST[:PORT]/DBNAME
    /// (create its schema with `init`).
    #[arg(
        long,
        global = true,
        env = "LAGESBILD_DB",
        default_value = "lagesbild.db",
        value_name = "PATH|URL"
    )]
    db: StoreLocation,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database (a SQLite file, or the schema in PostgreSQL) and import the bundled
    /// Millennium history (or nothing, with --empty).
    Init(db::InitArgs),
    /// Import events from JSON Lines files or folders, in one transaction (or in batches with --batch-size).
    Import(import::ImportArgs),
    /// Append one event given by flags, or as one JSON object on standard input.
    Append(import::AppendArgs),
    /// List events, filtered.
    Log(log_commands::LogArgs),
    /// Show one event with its hashes, by sequence number or key.
    Show(log_commands::ShowArgs),
    /// Recompute the hash chain and check every invariant of the log.
    Verify(log_commands::VerifyArgs),
    /// Write the whole log as JSON Lines with full envelopes.
    Export(log_commands::ExportArgs),
    /// Load an export into an empty database, checking every hash.
    Restore(log_commands::RestoreArgs),
    /// Copy a whole log between two databases (SQLite or PostgreSQL), with identical hashes.
    Copy(copy::CopyArgs),
    /// Make an Ed25519 key pair for signing tree heads.
    Keygen(proof_commands::KeygenArgs),
    /// Sign a tree head (size, Merkle root, time) of the whole log and print it.
    Checkpoint(proof_commands::CheckpointArgs),
    /// Print a self-contained Merkle proof: an event's inclusion, or one size's consistency with another.
    Proof(proof_commands::ProofArgs),
    /// Every programme fact in valid-time order, as of a date and as known at a time.
    Timeline(analysis::TimeArgs),
    /// Each wave's plans, state and slippage, the plan history and the milestone trend chart.
    Waves(analysis::TimeArgs),
    /// What changed in plans, wave states and open matters between two dates.
    Diff(analysis::DiffArgs),
    /// The weekly Regional rapport: render it, publish it, reproduce a published one.
    Report(report_commands::ReportArgs),
    /// The report templates: write the embedded defaults out for editing.
    Templates(report_commands::TemplatesArgs),
    /// Add a note to the week's report.
    Note(report_commands::NoteArgs),
    /// Record something published (for "Kommunikativa åtgärder" or "Samlad information").
    Published(report_commands::PublishedArgs),
    /// Record a key figure.
    Figure(report_commands::FigureArgs),
    /// Serve the web app: reports, time travel, the audit log and the week's writing.
    Serve(serve::ServeArgs),
    /// Make the web app's credentials: a password hash or an API token.
    Auth(serve::AuthArgs),
}

/// The exit status of a command whose standard output was closed early (`lagesbild log | head`):
/// 141, as for a Unix tool ended by SIGPIPE (128 + 13), so a pipeline under `pipefail` sees
/// what it sees for `cat` or `grep`. Nothing is printed.
const BROKEN_PIPE_STATUS: i32 = 141;

/// Whether a panic is `println!` finding standard output (or error) closed.
fn is_broken_pipe_panic(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    message.starts_with("failed printing to std") && message.contains("Broken pipe")
}

fn is_broken_pipe_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a closed pipe is an error on write: in `println!` a panic, in a
    // `write!` an error. Both end the command quietly instead of with a backtrace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_broken_pipe_panic(info) {
            std::process::exit(BROKEN_PIPE_STATUS);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    // Warnings only, except that the server logs its requests; RUST_LOG overrides both.
    let default_log_filter = match cli.command {
        Command::Serve(_) => "warn,lagesbild=info,lagesbild_web=info,tower_http=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Init(args) => db::init(&cli.db, &args),
        Command::Import(args) => import::import(&cli.db, &args),
        Command::Append(args) => import::append(&cli.db, &args),
        Command::Log(args) => log_commands::log(&cli.db, &args),
        Command::Show(args) => log_commands::show(&cli.db, &args),
        Command::Verify(args) => log_commands::verify(&cli.db, &args),
        Command::Export(args) => log_commands::export(&cli.db, &args),
        Command::Restore(args) => log_commands::restore(&cli.db, &args),
        Command::Copy(args) => copy::copy(&args),
        Command::Keygen(args) => proof_commands::keygen(&args),
        Command::Checkpoint(args) => proof_commands::checkpoint(&cli.db, &args),
        Command::Proof(args) => proof_commands::proof(&cli.db, &args),
        Command::Timeline(args) => analysis::timeline(&cli.db, &args),
        Command::Waves(args) => analysis::waves(&cli.db, &args),
        Command::Diff(args) => analysis::diff(&cli.db, &args),
        Command::Report(args) => report_commands::report(&cli.db, &args),
        Command::Templates(args) => report_commands::templates_command(&args),
        Command::Note(args) => report_commands::note(&cli.db, &args),
        Command::Published(args) => report_commands::published(&cli.db, &args),
        Command::Figure(args) => report_commands::figure(&cli.db, &args),
        Command::Serve(args) => serve::serve(&cli.db, &args),
        Command::Auth(args) => serve::auth(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) if is_broken_pipe_error(&error) => {
            std::process::exit(BROKEN_PIPE_STATUS);
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
