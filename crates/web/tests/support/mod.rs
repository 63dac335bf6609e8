//! What the web app's router tests share: a log seeded with the real history from `events/`,
//! the app built on it, requests through `Router::oneshot`, signing in with the session's CSRF
//! token. One copy here, so that every test file signs in the same way and the same cases can
//! be run on another store.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use lagesbild_model::NewEvent;
use lagesbild_render::report::TemplateSet;
use lagesbild_store::{EventLog, SqliteStore, Store};
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

/// A log of its own for one test, removed when dropped.
pub struct TestLog {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestLog {
    /// An empty log (its schema created).
    pub fn empty() -> TestLog {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.db");
        SqliteStore::open(&path).expect("creates the log");
        TestLog { path, _dir: dir }
    }

    /// A log holding the bundled history.
    pub fn seeded() -> TestLog {
        let log = TestLog::empty();
        log.open()
            .append(bundled_history(), &[])
            .expect("appends the history");
        log
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the log.
    pub fn open(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.path).expect("opens the log"))
    }

    /// The sequence number of the last event.
    pub fn head(&self) -> u64 {
        self.open().head().expect("head").seq
    }

    /// The server's configuration on this log.
    pub fn config(&self, auth: Option<AuthConfig>, templates: TemplateSet) -> Config {
        Config {
            db: self.path.clone().into(),
            auth,
            templates,
        }
    }

    /// The app on this log with the embedded report templates; read-only with `auth: None`.
    pub fn app(&self, auth: Option<AuthConfig>) -> Router {
        app(self.config(auth, TemplateSet::embedded()))
    }
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
