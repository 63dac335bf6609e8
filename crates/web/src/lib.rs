//! The web app: the weekly report and its archive, time travel through the plan, the audit log
//! and the week's writing, as server-rendered Swedish pages that work without JavaScript, and a
//! JSON API that mirrors them.
//!
//! Every page is a thin shell around the use cases in `lagesbild-app` and the renderers in
//! `lagesbild-render`, the same the command line calls. The store (SQLite or PostgreSQL) is only
//! touched inside [`AppState::with_store`], on tokio's blocking pool, with a connection taken
//! from a small pool ([`pool`]) for the request and given back after it. The report templates
//! are compiled once per server and format, and again only when their folder changes
//! ([`templates`], [`AppState::templates`]).

mod api;
pub mod auth;
mod edition;
mod error;
mod form_errors;
mod forms;
mod listen;
mod mailing;
mod pages;
pub mod pool;
mod security;
mod session;
mod templates;
pub mod throttle;
mod views;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode};
use axum::routing::{get, post};
use lagesbild_render::report::{ReportFormat, ReportRenderer, TemplateSet};
use lagesbild_store::{Store, StoreLocation};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use auth::AuthConfig;
pub use error::{ApiError, WebError};
pub use listen::{ServeSettings, plain_http_warning, serve, serve_listener};

/// The client's address, as the accept loop saw it (or as the trusted proxy forwarded it).
/// Sign-in throttling counts failures per address; without it, only per user name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// How long one request may take, unless [`AppState::with_request_timeout`] says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the server is started with.
#[derive(Clone, Debug)]
pub struct Config {
    /// The log, a SQLite file or a PostgreSQL database. It must exist: the command line
    /// creates and seeds it before serving.
    pub db: StoreLocation,
    /// Who may write; `None` serves read-only.
    pub auth: Option<AuthConfig>,
    /// The report templates (the embedded ones unless a folder is given).
    pub templates: TemplateSet,
    /// The folder `templates` was read from, read again when a file in it changes (see
    /// [`templates`]); `None` keeps `templates` for the server's life.
    pub template_dir: Option<PathBuf>,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    throttle: throttle::Throttle,
    request_timeout: Duration,
    stores: Arc<pool::Pool<Box<dyn Store>>>,
    /// The report templates in use, each format compiled on first use, read again when their
    /// folder changes.
    templates: Arc<templates::Templates>,
    /// The programme at the newest position read, bound to the chain there (waves, matters,
    /// the timeline's programme part), so that a read at the head folds nothing.
    programme: Arc<lagesbild_app::replay::ProgrammeCache>,
}

fn store_pool(config: &Config) -> Arc<pool::Pool<Box<dyn Store>>> {
    let location = config.db.clone();
    Arc::new(pool::Pool::new(pool::MAX_IDLE, move || location.open()))
}

impl AppState {
    /// Checks that the page templates compile, so that a broken build fails at start, not on
    /// the first request.
    pub fn new(config: Config) -> anyhow::Result<AppState> {
        views::Views::new()?;
        Ok(AppState {
            inner: Arc::new(Inner {
                stores: store_pool(&config),
                templates: Arc::new(templates::Templates::new(
                    config.templates.clone(),
                    config.template_dir.clone(),
                )),
                config,
                throttle: throttle::Throttle::default(),
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                programme: Arc::default(),
            }),
        })
    }

    /// The same state with another limit on how long one request may take (answered 503).
    #[must_use]
    pub fn with_request_timeout(self, timeout: Duration) -> AppState {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            config: shared.config.clone(),
            throttle: throttle::Throttle::default(),
            request_timeout: shared.request_timeout,
            stores: Arc::clone(&shared.stores),
            templates: Arc::clone(&shared.templates),
            programme: Arc::clone(&shared.programme),
        });
        AppState {
            inner: Arc::new(Inner {
                request_timeout: timeout,
                ..inner
            }),
        }
    }

    /// The programme kept in memory between requests ([`lagesbild_app::replay::ProgrammeCache`]).
    pub(crate) fn programme_cache(&self) -> Arc<lagesbild_app::replay::ProgrammeCache> {
        Arc::clone(&self.inner.programme)
    }

    pub(crate) fn throttle(&self) -> &throttle::Throttle {
        &self.inner.throttle
    }

    /// Behind TLS (`secure_cookies`, `behind_tls`): cookies are `Secure` and responses carry HSTS.
    pub(crate) fn behind_tls(&self) -> bool {
        self.config()
            .auth
            .as_ref()
            .is_some_and(|a| a.secure_cookies)
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether anybody can write: with no users and no tokens configured, nobody can.
    pub(crate) fn writable(&self) -> bool {
        self.config()
            .auth
            .as_ref()
            .is_some_and(AuthConfig::can_write)
    }

    pub(crate) fn read_requires_sign_in(&self) -> bool {
        self.config()
            .auth
            .as_ref()
            .is_some_and(|a| a.read_requires_sign_in)
    }

    /// Runs `work` on the blocking pool with a connection taken from the pool (opened when none
    /// is idle) and given back afterwards, so prepared statements outlive the request.
    pub(crate) async fn with_store<T, F>(&self, work: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, WebError> + Send + 'static,
    {
        let stores = Arc::clone(&self.inner.stores);
        tokio::task::spawn_blocking(move || {
            let mut store = stores.take().map_err(WebError::from)?;
            work(&mut **store)
        })
        .await?
    }

    /// The report templates for one request: the configured ones, or the newest set their
    /// folder held that compiled. A request takes them once and uses that set throughout.
    pub(crate) fn templates(&self) -> Arc<templates::Loaded> {
        self.inner.templates.current()
    }

    /// The report templates in use compiled for `format`: once per set, on first use.
    pub(crate) fn renderer(&self, format: ReportFormat) -> Result<Arc<ReportRenderer>, WebError> {
        self.templates()
            .renderer(format)
            .map_err(|e| WebError::Internal(e.to_string()))
    }
}

/// Every route of the app, pages and API, with sessions, request logs, the security headers,
/// uniform errors, a body limit, a request timeout and panics caught.
pub fn router(state: AppState) -> Router {
    let secure = state.behind_tls();
    let page_csp = HeaderValue::from_static(security::PAGE_CSP);
    let document_csp = HeaderValue::from_static(security::DOCUMENT_CSP);
    let timeout = state.inner.request_timeout;
    Router::new()
        .route("/", get(pages::latest))
        .route("/rapporter", get(pages::archive))
        .route("/rapporter.atom", get(pages::feed))
        .route("/rapporter/{seq}", get(pages::published))
        .route("/rapporter/{seq}/{format}", get(pages::published_file))
        .route("/rapporter/{seq}/skicka", post(mailing::resend))
        .route("/forhandsvisning", get(pages::preview))
        .route("/tidslinje", get(pages::timeline))
        .route("/vagor", get(pages::waves))
        .route("/arenden/{id}", get(pages::matter))
        .route("/skillnad", get(pages::diff))
        .route("/logg", get(pages::log))
        .route("/logg/{seq}", get(pages::event))
        .route("/verifiera", get(pages::verify))
        .route("/stil.css", get(pages::stylesheet))
        .route("/skriv", get(forms::write_page))
        .route("/skriv/notering", post(forms::note))
        .route("/skriv/publicerat", post(forms::publication))
        .route("/skriv/nyckeltal", post(forms::figure))
        .route("/skriv/handelse", post(forms::raw_event))
        .route("/skriv/rattelse", post(forms::correction))
        .route("/skriv/tillbakadragande", post(forms::retraction))
        .route("/granskning/avancerat", get(forms::advanced_page))
        .route("/publicera", post(forms::publish))
        .route("/utgavor", get(edition::current))
        .route("/utgavor/{name}", get(edition::show))
        .route("/utgavor/{name}/punkter", post(edition::add_point))
        .route("/utgavor/{name}/punkter/{seq}", post(edition::revise_point))
        .route(
            "/utgavor/{name}/punkter/{seq}/flytta",
            post(edition::move_point),
        )
        .route("/utgavor/{name}/poster/{seq}", post(edition::revise_item))
        .route(
            "/utgavor/{name}/poster/{seq}/ta-bort",
            post(edition::remove_item),
        )
        .route(
            "/utgavor/{name}/forra-veckan",
            post(edition::start_from_last_week),
        )
        .route("/utgavor/{name}/behall", post(edition::keep))
        .route("/utgavor/{name}/nyckeltal", post(edition::add_figure))
        .route("/utgavor/{name}/lankar", post(edition::add_link))
        .route("/utgavor/{name}/granskning", post(edition::review))
        .route(
            "/utgavor/{name}/publicera",
            get(edition::confirm_page).post(edition::publish),
        )
        .route("/logga-in", get(forms::sign_in_page).post(forms::sign_in))
        .route("/logga-ut", post(forms::sign_out))
        .route("/healthz", get(pages::healthz))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/events", get(api::events).post(api::append))
        .route("/api/events/{seq}", get(api::event))
        .route("/api/timeline", get(api::timeline))
        .route("/api/waves", get(api::waves))
        .route("/api/diff", get(api::diff))
        .route("/api/report", get(api::report))
        .route("/api/reports", get(api::reports))
        .route("/api/verify", get(api::verify))
        .route("/api/{*rest}", axum::routing::any(api::not_found))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::guard,
        ))
        .layer(session::layer(secure))
        .layer(CatchPanicLayer::custom(security::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::uniform_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (page_csp, document_csp, secure),
            security::headers,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}
