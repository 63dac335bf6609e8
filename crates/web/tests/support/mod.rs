//! What the web app's router tests share: a log seeded with the real history from `events/`,
//! the app built on it, requests through `Router::oneshot`, signing in with the session's CSRF
//! token. One copy here, so that every test file signs in the same way; and the log on either
//! backend, so that a `*_postgres` test binary runs another file's cases on PostgreSQL.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use lagesbild_model::NewEvent;
use lagesbild_render::report::TemplateSet;
use lagesbild_store::testing::{execute, fresh_database, postgres_test_url};
use lagesbild_store::{SqliteStore, Store, StoreLocation};
use lagesbild_web::{AppState, AuthConfig, Config, router};
use serde_json::Value;
use tower::ServiceExt;

/// Every test user's password.
pub const PASSWORD: &str = "korrekt häst batteri";

/// The hash of [`PASSWORD`], computed once per test binary (Argon2 is slow on purpose).
pub fn password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| lagesbild_web::auth::hash_password(PASSWORD).expect("hashes"))
}

/// The bundled Millennium history from `events/`, in file order.
pub fn bundled_history() -> Vec<NewEvent> {
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&events)
        .expect("events/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut batch = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(&file).expect("reads").lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            batch.push(lagesbild_model::parse_event(line).expect("the bundled history is valid"));
        }
    }
    batch
}

/// The store a test binary's cases run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend of this test binary: PostgreSQL for a binary named `*_postgres` (which runs
/// another file's cases again by including it with `#[path]`), SQLite otherwise.
pub fn backend() -> Backend {
    if env!("CARGO_CRATE_NAME").ends_with("_postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// A log of its own for one test: a SQLite file in a temporary folder (removed when dropped),
/// or a fresh database on the PostgreSQL test server (left for the throwaway cluster).
pub struct TestLog {
    location: StoreLocation,
    _dir: Option<tempfile::TempDir>,
}

impl TestLog {
    /// An empty SQLite log (its schema created).
    pub fn empty() -> TestLog {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.db");
        SqliteStore::open(&path).expect("creates the log");
        TestLog {
            location: StoreLocation::Sqlite(path),
            _dir: Some(dir),
        }
    }

    /// A SQLite log holding the bundled history.
    pub fn seeded() -> TestLog {
        TestLog::empty().with_history()
    }

    /// An empty log on `backend`, its schema created; `None` on PostgreSQL when no test server
    /// is named (said loudly; a failure under `CI=true`).
    pub fn empty_on(backend: Backend) -> Option<TestLog> {
        off_runtime(|| TestLog::empty_here(backend))
    }

    fn empty_here(backend: Backend) -> Option<TestLog> {
        match backend {
            Backend::Sqlite => Some(TestLog::empty()),
            Backend::Postgres => {
                let server = postgres_test_url("the web app's router cases")?;
                let location = StoreLocation::Postgres(fresh_database(&server, "lagesbild_web"));
                location.create().expect("creates the schema");
                Some(TestLog {
                    location,
                    _dir: None,
                })
            }
        }
    }

    /// A log on `backend` holding the bundled history (see [`TestLog::empty_on`]).
    pub fn seeded_on(backend: Backend) -> Option<TestLog> {
        TestLog::empty_on(backend).map(TestLog::with_history)
    }

    fn with_history(self) -> TestLog {
        self.with_store(|store| {
            store
                .append(&bundled_history(), &[])
                .expect("appends the history")
        });
        self
    }

    /// Where the log is, as `--db` names it.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The log's SQLite file; for a case that works on the file itself.
    pub fn path(&self) -> &Path {
        self.location
            .sqlite_path()
            .expect("this case works on a SQLite file")
    }

    /// A new connection to the log. Not on an async thread for PostgreSQL: its client blocks
    /// on a runtime of its own (use [`TestLog::with_store`] there).
    pub fn open(&self) -> Box<dyn Store> {
        self.location.open().expect("opens the log")
    }

    /// Runs `work` on a new connection to the log, on a thread of its own, so that a test on
    /// tokio's thread can use the store of either backend (as the app does on the blocking
    /// pool).
    pub fn with_store<T: Send>(&self, work: impl FnOnce(&mut dyn Store) -> T + Send) -> T {
        off_runtime(|| work(&mut *self.open()))
    }

    /// The sequence number of the last event.
    pub fn head(&self) -> u64 {
        self.with_store(|store| store.head().expect("head").seq)
    }

    /// Runs SQL on the log's database behind the store's back, as its owner: `sqlite` on a
    /// file, `postgres` on PostgreSQL (their dialects differ: triggers, binary literals).
    pub fn execute_raw(&self, sqlite: &str, postgres: &str) {
        off_runtime(|| match &self.location {
            StoreLocation::Sqlite(path) => rusqlite::Connection::open(path)
                .expect("opens the file")
                .execute_batch(sqlite)
                .expect("the test's SQL runs"),
            StoreLocation::Postgres(url) => execute(url, postgres),
        })
    }

    /// The server's configuration on this log.
    pub fn config(&self, auth: Option<AuthConfig>, templates: TemplateSet) -> Config {
        Config {
            db: self.location.clone(),
            auth,
            templates,
            template_dir: None,
        }
    }

    /// The app on this log with the embedded report templates; read-only with `auth: None`.
    pub fn app(&self, auth: Option<AuthConfig>) -> Router {
        app(self.config(auth, TemplateSet::embedded()))
    }
}

/// Runs `work` on a thread of its own and waits for it: the PostgreSQL client blocks on a
/// runtime of its own, which panics on a thread that drives tokio (as `#[tokio::test]` does).
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The app as `serve` builds it, without a socket.
pub fn app(config: Config) -> Router {
    router(AppState::new(config).expect("state"))
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as text; empty for a PDF, which is not text (see `bytes`).
    pub body: String,
    /// The body as received.
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The header `name` as text, empty when absent.
    pub fn header(&self, name: impl header::AsHeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header(header::LOCATION)
    }

    /// The Set-Cookie header, if there is one.
    pub fn cookie(&self) -> Option<String> {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Sends `request` through the app; the body must be UTF-8 unless it is a PDF.
pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let binary = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t == "application/pdf");
    Reply {
        status,
        body: if binary {
            String::new()
        } else {
            String::from_utf8(bytes.to_vec()).expect("UTF-8")
        },
        headers,
        bytes: bytes.to_vec(),
    }
}

pub async fn get(app: &Router, uri: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(app, request.body(Body::empty()).expect("request")).await
}

/// Posts `fields` as a form, with the session `cookie` if given (and no CSRF token but one of
/// the fields).
pub async fn post_form(
    app: &Router,
    uri: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Reply {
    let mut request =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let body = serde_urlencoded::to_string(fields).expect("encodes");
    send(app, request.body(Body::from(body)).expect("request")).await
}

/// Posts `body` as JSON, with the API `token` if given.
pub async fn post_json(app: &Router, uri: &str, token: Option<&str>, body: &Value) -> Reply {
    let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(
        app,
        request.body(Body::from(body.to_string())).expect("request"),
    )
    .await
}

/// The `name=value` part of a Set-Cookie header.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("a pair").to_owned()
}

/// The CSRF token of the first form in `html`.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_owned()
}

/// A signed-in session: its cookie and its CSRF token.
pub struct User {
    pub cookie: String,
    pub csrf: String,
}

/// Signs `name` in with [`PASSWORD`], asking to go to `next` afterwards; checks that the
/// session id changed and that `next` says who is signed in, and takes the CSRF token from it.
pub async fn sign_in(app: &Router, name: &str, next: &str) -> User {
    let form = get(app, "/logga-in", None).await;
    let cookie = cookie_pair(&form.cookie().expect("a session cookie"));
    let csrf = csrf_in(&form.body);
    let signed = post_form(
        app,
        "/logga-in",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("name", name),
            ("password", PASSWORD),
            ("next", next),
        ],
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location(), next);
    // The session id changes on sign-in.
    let cookie = cookie_pair(&signed.cookie().expect("a new session id"));
    let page = get(app, next, Some(&cookie)).await;
    assert!(
        page.body.contains(&format!("Inloggad som {name}")),
        "{}",
        page.body
    );
    User {
        csrf: csrf_in(&page.body),
        cookie,
    }
}

/// Posts a form as `user`, the session's CSRF token first.
pub async fn post(app: &Router, uri: &str, user: &User, fields: &[(&str, &str)]) -> Reply {
    let mut all = vec![("csrf", user.csrf.as_str())];
    all.extend_from_slice(fields);
    post_form(app, uri, Some(&user.cookie), &all).await
}

/// `bytes` as lowercase hex, for a binary literal in a test's SQL.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
