//! `lagesbild serve` and `lagesbild auth`: the web app on the log, and the two helpers that make
//! its configuration (a password hash, an API token).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use lagesbild_render::report::TemplateSet;
use lagesbild_store::StoreLocation;
use lagesbild_web::{AuthConfig, Config, ServeSettings};

use crate::db;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The users and API tokens who may write (TOML; see README). Without it the server is
    /// read-only.
    #[arg(long, env = "LAGESBILD_AUTH")]
    auth: Option<PathBuf>,
    /// A folder of report templates to use instead of the embedded ones; read again while
    /// serving when a file in it changes (a set that does not compile is refused and logged).
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Sign a tree head every SECONDS while serving (and at the start), when the log grew;
    /// needs --signing-key.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    sth_interval: Option<u64>,
    #[command(flatten)]
    signing_key: crate::proof_commands::SigningKeyArg,
    /// Served behind a TLS proxy: the session cookie gets `Secure` and responses carry HSTS
    /// (the same as `behind_tls = true` or `secure_cookies = true` in the auth file).
    #[arg(long, alias = "secure-cookies")]
    behind_tls: bool,
    /// Seconds a client may take to send a request's headers, and a kept-alive connection may
    /// wait idle, before it is closed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_secs: u64,
    /// Seconds one request may take before it is answered 503.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_secs: u64,
    /// The most connections served at once; more wait until one closes.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_connections: u64,
    /// Take the client's address (for sign-in throttling) from the last X-Forwarded-For entry.
    /// Only behind your own proxy, which must set that header.
    #[arg(long)]
    trust_forwarded_for: bool,
}

pub fn serve(location: &StoreLocation, args: &ServeArgs) -> Result<ExitCode> {
    // Creates and seeds the default database on first use, as every command does; on
    // PostgreSQL, checks that the server answers and holds the schema before listening.
    drop(db::open(location)?);
    let mut auth = args.auth.as_deref().map(AuthConfig::load).transpose()?;
    if args.behind_tls {
        // A read-only server behind TLS has no auth file; an empty one still says so.
        auth.get_or_insert_with(AuthConfig::default).secure_cookies = true;
    }
    let templates = match &args.templates {
        Some(dir) => TemplateSet::from_dir(dir)?,
        None => TemplateSet::embedded(),
    };
    let config = Config {
        db: location.clone(),
        auth,
        templates,
        // Read again while serving when a file in the folder changes.
        template_dir: args.templates.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(seconds) = args.sth_interval {
        let Some(key) = args.signing_key.load()? else {
            anyhow::bail!(
                "--sth-interval needs a signing key: --signing-key FILE or LAGESBILD_SIGNING_KEY"
            );
        };
        runtime.spawn(crate::proof_commands::sign_on_schedule(
            location.clone(),
            key,
            std::time::Duration::from_secs(seconds),
        ));
    }
    let mut settings = ServeSettings::new(args.addr);
    settings.header_timeout = Duration::from_secs(args.header_timeout_secs);
    settings.request_timeout = Duration::from_secs(args.request_timeout_secs);
    settings.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    settings.trust_forwarded_for = args.trust_forwarded_for;
    runtime.block_on(lagesbild_web::serve(config, settings))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    action: AuthAction,
}

#[derive(clap::Subcommand)]
enum AuthAction {
    /// Read a password from standard input and print its Argon2id hash for `password_hash`.
    HashPassword,
    /// Make a random API token: prints the token (give it to the client) and its SHA-256 (put
    /// it in the configuration).
    NewToken,
}

pub fn auth(args: &AuthArgs) -> Result<ExitCode> {
    match args.action {
        AuthAction::HashPassword => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                anyhow::bail!("the password is empty");
            }
            let hash = lagesbild_web::auth::hash_password(password).map_err(anyhow::Error::msg)?;
            println!("{hash}");
        }
        AuthAction::NewToken => {
            let (token, digest) = lagesbild_web::auth::new_token().map_err(anyhow::Error::msg)?;
            println!("token:  {token}");
            println!("sha256: {digest}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
