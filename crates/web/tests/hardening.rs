//! The web app on an open network (issue 16): where sign-in may send the browser, sign-in
//! throttling, the security headers, errors in the documented form, status codes, input the
//! log refuses, the OpenAPI description, and, on a real socket, the header timeout, the
//! request timeout and the connection cap.

mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lagesbild_web::{AuthConfig, ClientAddr, Config, ServeSettings};
use serde_json::json;
use support::{PASSWORD, Reply, TestLog, csrf_in, get, password_hash, post_json, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Site {
    app: Router,
    config: Config,
    log: TestLog,
    token: String,
}

/// With `Some(extra)`: one user (anna) and one token; with `None`: read-only. On this binary's
/// backend (`hardening_postgres.rs` runs these cases on PostgreSQL); `None` when that is
/// PostgreSQL and no test server is named (the case is then skipped, loudly).
fn site_with(auth: Option<&str>) -> Option<Site> {
    let log = TestLog::seeded_on(support::backend())?;
    let (token, digest) = lagesbild_web::auth::new_token().expect("token");
    let auth = auth.map(|extra| {
        AuthConfig::parse(&format!(
            "{extra}\n[[user]]\nname = \"anna\"\npassword_hash = \"{}\"\n[[token]]\nname = \"robot\"\nsha256 = \"{digest}\"\n",
            password_hash()
        ))
        .expect("valid configuration")
    });
    let config = log.config(auth, lagesbild_render::report::TemplateSet::embedded());
    Some(Site {
        app: support::app(config.clone()),
        config,
        log,
        token,
    })
}

fn site() -> Option<Site> {
    site_with(Some(""))
}

impl Reply {
    /// The documented API error, checked for its shape.
    fn api_error(&self) -> (u64, String) {
        assert!(
            self.header(header::CONTENT_TYPE)
                .starts_with("application/json"),
            "{}: {}",
            self.status,
            self.body
        );
        let error = &self.json()["error"];
        assert_eq!(
            error["status"],
            json!(self.status.as_u16()),
            "{}",
            self.body
        );
        assert!(error.get("field").is_some(), "{}", self.body);
        let message = error["message"].as_str().expect("a message").to_owned();
        (error["status"].as_u64().expect("status"), message)
    }
}

/// A session with its CSRF token, from the sign-in form.
async fn session(app: &Router) -> (String, String) {
    let form = get(app, "/logga-in", None).await;
    let cookie = support::cookie_pair(&form.cookie().expect("a session cookie"));
    (cookie, csrf_in(&form.body))
}

/// Posts the sign-in form from `address`.
async fn sign_in_as(
    app: &Router,
    (cookie, csrf): &(String, String),
    name: &str,
    password: &str,
    next: &str,
    address: Option<&str>,
) -> Reply {
    let body = serde_urlencoded::to_string([
        ("csrf", csrf.as_str()),
        ("name", name),
        ("password", password),
        ("next", next),
    ])
    .expect("encodes");
    let mut request = Request::post("/logga-in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .expect("request");
    if let Some(address) = address {
        let ip: IpAddr = address.parse().expect("address");
        request.extensions_mut().insert(ClientAddr(ip));
    }
    send(app, request).await
}

#[tokio::test]
async fn next_is_only_ever_a_path_on_this_site() {
    let Some(site) = site() else {
        return;
    };
    let app = &site.app;
    // The form never carries a bypass into its hidden field.
    let form = get(app, "/logga-in?next=%2F%09%2Fevil.example", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("name=\"next\" value=\"/skriv\""),
        "{}",
        form.body
    );
    // CR and LF in next were a 500 "failed to parse header value".
    for next in ["%2F%0d%0aLocation:%20http://evil.example", "%0a", "/x%0d"] {
        let form = get(app, &format!("/logga-in?next={next}"), None).await;
        assert_eq!(form.status, StatusCode::OK, "{next}: {}", form.body);
    }
    // After a real sign-in, every known bypass lands on the default page.
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: a=b",
        "//evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/%2F/evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "https://evil.example/",
        "//anna:x@evil.example",
        "@evil.example",
        "/\u{202e}elpmaxe.live",
    ] {
        let session = session(app).await;
        let signed = sign_in_as(app, &session, "anna", PASSWORD, next, Some("192.0.2.1")).await;
        assert_eq!(
            signed.status,
            StatusCode::SEE_OTHER,
            "{next:?}: {}",
            signed.body
        );
        assert_eq!(signed.header(header::LOCATION), "/skriv", "{next:?}");
    }
    let session = session(app).await;
    let signed = sign_in_as(
        app,
        &session,
        "anna",
        PASSWORD,
        "/logg?kind=plan_revised",
        None,
    )
    .await;
    assert_eq!(signed.header(header::LOCATION), "/logg?kind=plan_revised");
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_name_and_per_address_with_retry_after() {
    let Some(site) = site() else {
        return;
    };
    let app = &site.app;
    let session = session(app).await;
    // Five wrong passwords for anna from an attacker's address, then a wait.
    for _ in 0..5 {
        let reply = sign_in_as(app, &session, "anna", "fel", "/", Some("203.0.113.9")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    let throttled = sign_in_as(app, &session, "anna", "fel", "/", Some("203.0.113.9")).await;
    assert_eq!(
        throttled.status,
        StatusCode::UNAUTHORIZED,
        "the sixth is still counted"
    );
    let throttled = sign_in_as(app, &session, "anna", PASSWORD, "/", Some("203.0.113.10")).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
    let retry: u64 = throttled
        .header(header::RETRY_AFTER)
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        throttled
            .body
            .contains("För många misslyckade inloggningar"),
        "{}",
        throttled.body
    );
    // The right password does not get through while waiting: nothing is checked.
    assert!(
        throttled.header(header::SET_COOKIE).is_empty() || !throttled.body.contains("Inloggad som")
    );
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let signed = sign_in_as(app, &session, "anna", PASSWORD, "/", Some("203.0.113.10")).await;
    assert_eq!(
        signed.status,
        StatusCode::SEE_OTHER,
        "after the wait: {}",
        signed.body
    );

    // Anna's own address, once she has signed in from it, is not held up by attacks on her name.
    let session = self::session(app).await;
    for _ in 0..8 {
        sign_in_as(app, &session, "anna", "fel", "/", Some("198.51.100.66")).await;
    }
    let elsewhere = sign_in_as(app, &session, "anna", PASSWORD, "/", Some("198.51.100.67")).await;
    assert_eq!(elsewhere.status, StatusCode::TOO_MANY_REQUESTS);
    let home = sign_in_as(app, &session, "anna", PASSWORD, "/", Some("203.0.113.10")).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER, "{}", home.body);

    // One address guessing at many names waits too.
    let session = self::session(app).await;
    for i in 0..21 {
        sign_in_as(
            app,
            &session,
            &format!("user{i}"),
            "fel",
            "/",
            Some("192.0.2.99"),
        )
        .await;
    }
    let spraying = sign_in_as(app, &session, "someone", "fel", "/", Some("192.0.2.99")).await;
    assert_eq!(spraying.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!spraying.header(header::RETRY_AFTER).is_empty());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let Some(site) = site() else {
        return;
    };
    let app = &site.app;
    for uri in [
        "/",
        "/logg",
        "/logga-in",
        "/finns-inte",
        "/api/events?limit=1",
        "/api/finns-inte",
        "/healthz",
        "/logg/abc",
    ] {
        let reply = get(app, uri, None).await;
        let csp = reply.header(header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("default-src 'none'"), "{uri}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert!(
            !csp.contains("script-src"),
            "{uri}: no script is allowed at all: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{uri}: {csp}");
        assert_eq!(reply.header(header::X_FRAME_OPTIONS), "DENY", "{uri}");
        assert_eq!(
            reply.header(header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{uri}"
        );
        assert_eq!(
            reply.header(header::REFERRER_POLICY),
            "same-origin",
            "{uri}"
        );
        assert_eq!(
            reply.header(header::STRICT_TRANSPORT_SECURITY),
            "",
            "{uri}: plain HTTP"
        );
    }
    // The pages need no inline script or style, which the policy would block: the stylesheet
    // is this site's own file.
    for uri in [
        "/",
        "/rapporter",
        "/forhandsvisning?date=2024-12-27",
        "/tidslinje?as_of=2022-06-01",
        "/vagor?as_of=2022-06-01",
        "/skillnad?from=2019-06-01&to=2022-06-01",
        "/logg",
        "/logg/1",
        "/verifiera",
        "/skriv",
        "/logga-in",
    ] {
        let page = get(app, uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        assert!(!page.body.contains("<script"), "{uri}: a script");
        assert!(!page.body.contains("<style"), "{uri}: an inline stylesheet");
        assert!(!page.body.contains(" style="), "{uri}: a style attribute");
        assert!(
            !has_event_handler(&page.body),
            "{uri}: an event handler attribute"
        );
        assert!(
            page.header(header::CONTENT_SECURITY_POLICY)
                .contains("style-src 'self';"),
            "{uri}"
        );
    }
    // Behind TLS, HSTS too.
    let Some(tls) = site_with(Some("behind_tls = true")) else {
        return;
    };
    let reply = get(&tls.app, "/", None).await;
    assert!(
        reply
            .header(header::STRICT_TRANSPORT_SECURITY)
            .starts_with("max-age=31536000"),
        "{:?}",
        reply.headers
    );
    assert!(
        get(&tls.app, "/logga-in", None)
            .await
            .header(header::SET_COOKIE)
            .contains("Secure")
    );
}

#[tokio::test]
async fn every_api_error_is_the_documented_json_with_a_message_for_people() {
    let Some(site) = site() else {
        return;
    };
    let app = &site.app;
    // 404: an unknown event, by number and by key, without Rust's debug formatting.
    let reply = get(app, "/api/events/99999", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.api_error().1, "no event 99999");
    let reply = get(app, "/api/events/abc", None).await;
    assert_eq!(reply.api_error().1, "no event with key \"abc\"");
    // 404: an unknown API path.
    let reply = get(app, "/api/finns-inte", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.api_error().1, "there is nothing at /api/finns-inte");
    // 405.
    let reply = send(
        app,
        Request::delete("/api/events")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let (_, message) = reply.api_error();
    assert!(message.contains("does not answer DELETE"), "{message}");
    // 413.
    let big = vec![b' '; lagesbild_web_limit() + 1];
    let request = Request::post("/api/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", site.token))
        .body(Body::from(big))
        .expect("request");
    let reply = send(app, request).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        reply.api_error().1.contains("larger than 4 MiB"),
        "{}",
        reply.body
    );
    // 415.
    let request = Request::post("/api/events")
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::AUTHORIZATION, format!("Bearer {}", site.token))
        .body(Body::from("{}"))
        .expect("request");
    let reply = send(app, request).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        reply.api_error().1.contains("application/json"),
        "{}",
        reply.body
    );
    // 400 from a query that does not parse: the reason in words.
    let reply = get(app, "/api/events?limit=many", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let (_, message) = reply.api_error();
    assert_eq!(reply.json()["error"]["field"], json!("limit"));
    assert!(message.contains("not a page size"), "{message}");
    // 400 from axum's own query parsing (a key given twice): still the JSON, in words.
    let reply = get(app, "/api/events?limit=1&limit=2", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let (_, message) = reply.api_error();
    assert!(message.contains("duplicate field"), "{message}");
    // 401 and 403.
    let reply = send(
        app,
        Request::post("/api/events")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.api_error().1.contains("sign in first"));
    // Nothing anywhere shows Rust's debug form of a value.
    for reply in [
        get(app, "/api/events/99999", None).await,
        get(app, "/api/events/abc", None).await,
    ] {
        assert!(
            !reply.body.contains("Seq(") && !reply.body.contains("Key("),
            "{}",
            reply.body
        );
    }
}

/// Whether the HTML has an attribute like ` onclick=`.
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    })
}

fn lagesbild_web_limit() -> usize {
    4 << 20
}

#[tokio::test]
async fn a_failing_disk_is_a_500_in_the_documented_form_without_details() {
    let Some(site) = site() else {
        return;
    };
    match support::backend() {
        // The log's file replaced by a folder: every open fails.
        support::Backend::Sqlite => {
            std::fs::remove_file(site.log.path()).expect("removes");
            std::fs::create_dir(site.log.path()).expect("a folder in its place");
        }
        // The log's table gone from the database: every read fails.
        support::Backend::Postgres => site.log.execute_raw("", "DROP TABLE events CASCADE"),
    }
    let reply = get(&site.app, "/api/verify", None).await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    let (_, message) = reply.api_error();
    assert_eq!(
        message,
        "internal error: the details are in the server's log"
    );
    assert!(
        !reply.body.contains("test.db") && !reply.body.contains("relation"),
        "no paths or the database's text: {}",
        reply.body
    );
    let page = get(&site.app, "/logg", None).await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(
        page.body.contains("Ett internt fel inträffade"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("test.db"), "{}", page.body);
}

#[tokio::test]
async fn every_page_error_is_the_swedish_page_with_the_banner_only_when_read_only() {
    let Some(site) = site() else {
        return;
    };
    let app = &site.app;
    for (request, status) in [
        (
            Request::get("/finns-inte").body(Body::empty()),
            StatusCode::NOT_FOUND,
        ),
        (
            Request::get("/logg/abc").body(Body::empty()),
            StatusCode::NOT_FOUND,
        ),
        (
            Request::delete("/logg").body(Body::empty()),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Request::post("/logga-in")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("x")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let reply = send(app, request.expect("request")).await;
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(
            reply.header(header::CONTENT_TYPE).starts_with("text/html"),
            "{status}"
        );
        assert!(reply.body.contains("<html lang=\"sv\">"), "{status}");
        assert!(
            !reply.body.contains("läsläge"),
            "{status}: a server with users is not read-only: {}",
            reply.body
        );
    }
    // A query axum itself cannot read is the Swedish page too, saying what was wrong.
    let reply = get(app, "/logg?limit=1&limit=2", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(reply.body.contains("gick inte att läsa"), "{}", reply.body);
    let Some(read_only) = site_with(None) else {
        return;
    };
    let reply = get(&read_only.app, "/finns-inte", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.contains("läsläge"), "{}", reply.body);
}

#[tokio::test]
async fn resending_stored_events_answers_201_as_documented() {
    let Some(site) = site() else {
        return;
    };
    let event = json!({"key": "omskickad-1", "kind": "fact_reported", "occurred": "2025-01-10", "summary": "Skickad två gånger.", "source": {"title": "Intranätet"}});
    let first = post_json(&site.app, "/api/events", Some(&site.token), &event).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.json()["outcomes"][0]["appended"], json!(true));
    let again = post_json(&site.app, "/api/events", Some(&site.token), &event).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.json()["outcomes"][0]["appended"], json!(false));
    assert_eq!(
        again.json()["outcomes"][0]["seq"],
        first.json()["outcomes"][0]["seq"]
    );
}

#[tokio::test]
async fn the_api_refuses_negative_amounts_bidi_controls_and_overlong_text_as_the_cli_does() {
    let Some(site) = site() else {
        return;
    };
    let app = &site.app;
    let contract = json!({"kind": "contract_signed", "occurred": "2025-01-10", "summary": "Avtal.", "source": {"title": "Avtalet"}, "data": {"supplier": "Oracle", "buyer": "VGR", "value_msek": -5}});
    let reply = post_json(app, "/api/events", Some(&site.token), &contract).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.json()["error"]["field"], json!("data.value_msek"));
    assert!(
        reply.api_error().1.contains("-5 is negative"),
        "{}",
        reply.body
    );

    let budget = json!({"kind": "budget_set", "occurred": "2025-01-10", "summary": "Budget.", "source": {"title": "Beslutet"}, "data": {"budget": "program", "value_msek": -0.5}});
    let reply = post_json(app, "/api/events", Some(&site.token), &budget).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);

    for (field, event) in [
        (
            "summary",
            json!({"kind": "fact_reported", "occurred": "2025", "summary": "Betalt \u{202e}000 01 kr", "source": {"title": "T"}}),
        ),
        (
            "source.title",
            json!({"kind": "fact_reported", "occurred": "2025", "summary": "S", "source": {"title": "Rapport \u{2067}x\u{2069}"}}),
        ),
    ] {
        let reply = post_json(app, "/api/events", Some(&site.token), &event).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.json()["error"]["field"], json!(field));
        assert!(
            reply
                .api_error()
                .1
                .contains("bidirectional control character"),
            "{}",
            reply.body
        );
    }

    // Every overlong summary gets the one message, whatever its length (it was "over 2,000"
    // up to 4,000 characters and "at most 4000" past it), the same the import prints.
    for chars in [2_001, 4_000, 4_001, 9_000] {
        let event = json!({"kind": "fact_reported", "occurred": "2025", "summary": "å".repeat(chars), "source": {"title": "T"}});
        let reply = post_json(app, "/api/events", Some(&site.token), &event).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let cli = lagesbild_model::event_from_value(event).expect_err("refused");
        assert_eq!(reply.api_error().1, cli.reason);
        assert_eq!(
            cli.reason,
            format!("the summary is {chars} characters long; at most 2000 are allowed")
        );
    }
}

#[tokio::test]
async fn the_api_serves_its_openapi_description() {
    let Some(site) = site() else {
        return;
    };
    let reply = get(&site.app, "/api/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let spec = reply.json();
    assert!(spec["openapi"].as_str().expect("version").starts_with("3."));
    // Every API route the router has, with each of its methods, is described: read from the
    // router's source, so a new route without a description fails here.
    let source = include_str!("../src/lib.rs");
    let mut routes = 0;
    for line in source.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix(".route(\"/api/") else {
            continue;
        };
        let path = format!("/api/{}", rest.split('"').next().expect("a quoted path"));
        if path.contains("{*") {
            continue; // the API's 404 for everything else
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if line.contains(&format!("{method}(")) {
                assert!(
                    spec["paths"][&path].get(method).is_some(),
                    "{} {path} is not described in crates/web/openapi.json",
                    method.to_uppercase()
                );
                routes += 1;
            }
        }
    }
    assert!(routes >= 10, "read {routes} API routes from the router");
}

/// A server on a loopback port with short limits, and a way to stop it.
async fn listening(
    settings: impl FnOnce(&mut ServeSettings),
) -> Option<(std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, Site)> {
    let site = site()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    let mut serve = ServeSettings::new(addr);
    settings(&mut serve);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = site.config.clone();
    tokio::spawn(async move {
        lagesbild_web::serve_listener(listener, config, serve, async {
            let _ = stopped.await;
        })
        .await
        .expect("serves");
    });
    Some((addr, stop, site))
}

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut buffer = [0u8; 8192];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&all).into_owned()),
            Ok(Ok(n)) => all.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn a_half_sent_request_is_closed_within_the_header_timeout() {
    let Some((addr, _stop, _site)) = listening(|s| s.header_timeout = Duration::from_secs(1)).await
    else {
        return;
    };
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("writes");
    let closed = read_to_close(&mut stream, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(closed.is_some(), "still open after 5 s");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_within_the_header_timeout() {
    let Some((addr, _stop, _site)) = listening(|s| s.header_timeout = Duration::from_secs(1)).await
    else {
        return;
    };
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let started = Instant::now();
    let answered = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed after the answer");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_cut_off_by_the_request_timeout() {
    let Some((addr, _stop, site)) = listening(|s| {
        s.request_timeout = Duration::from_secs(1);
        s.header_timeout = Duration::from_secs(10);
    })
    .await
    else {
        return;
    };
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let head = format!(
        "POST /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"kind\":",
        site.token
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    let started = Instant::now();
    let answer = read_to_close(&mut stream, Duration::from_secs(5)).await;
    let answer = answer.expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"status\":503"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let Some((addr, _stop, _site)) = listening(|s| {
        s.max_connections = 2;
        s.header_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    // Two connections that send nothing hold both places until the header timeout.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects"),
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut third = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the kernel queues it");
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("writes");
    let answer = read_to_close(&mut third, Duration::from_secs(5))
        .await
        .expect("answered once a place was free");
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        waited >= Duration::from_millis(700),
        "answered after {waited:?}, before a place was free"
    );
}
