//! Every route through the router, without a socket: pages, the API, signing in, CSRF,
//! read-only mode, hostile input and concurrent appends. The log is a temporary file seeded
//! with the real history from `events/`; `router_postgres.rs` runs the same cases with the log
//! in PostgreSQL.

mod support;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lagesbild_render::report::TemplateSet;
use lagesbild_store::EventRef;
use lagesbild_web::AuthConfig;
use serde_json::json;
use support::{
    PASSWORD, Reply, TestLog, User, cookie_pair, csrf_in, get, hex, password_hash, post_form,
    post_json, send,
};

struct Site {
    app: Router,
    log: TestLog,
    token: String,
}

/// A site with one user (anna) and one token (robot), or read-only with `auth: None`, on this
/// binary's backend; `None` when that is PostgreSQL and no test server is named (the case is
/// then skipped, loudly).
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
    Some(Site {
        app: log.app(auth),
        log,
        token,
    })
}

fn site() -> Option<Site> {
    site_with(Some(""))
}

/// Signs anna in; returns her cookie and the CSRF token of her session.
async fn sign_in(app: &Router) -> User {
    support::sign_in(app, "anna", "/skriv").await
}

#[tokio::test]
async fn every_reading_page_answers_with_the_history() {
    let Some(site) = site() else { return };
    let app = &site.app;
    for (uri, expected) in [
        ("/", "Ingen rapport är publicerad ännu"),
        ("/rapporter", "Ingen rapport är publicerad ännu"),
        (
            "/forhandsvisning?date=2024-12-27",
            "Sammanfattande lägesbild",
        ),
        ("/tidslinje?as_of=2019-06-01", "2021"),
        ("/vagor?as_of=2022-06-01", "<svg"),
        ("/skillnad?from=2019-06-01&to=2022-06-01", "<h1>"),
        ("/skillnad", "Från datum"),
        ("/logg", "Händelser i loggordning"),
        ("/logg?kind=legal_action_filed", "legal_action_filed"),
        ("/logg/1", "Kanonisk form"),
        ("/verifiera", "Loggen är hel: 108 händelser"),
        ("/skriv", "logga in"),
        ("/logga-in", "Lösenord"),
    ] {
        let reply = get(app, uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
        assert!(reply.body.contains(expected), "{uri} lacks {expected:?}");
        assert!(reply.body.contains("<html lang=\"sv\">"), "{uri}");
    }
    let health = get(app, "/healthz", None).await;
    assert_eq!(health.json()["head_seq"], json!(108));
}

#[tokio::test]
async fn each_matter_has_a_page_with_its_history_linked_from_the_waves_page() {
    let Some(site) = site() else { return };
    let app = &site.app;
    // The waves page links every matter, open and closed, to its own page.
    let waves = get(app, "/vagor?as_of=2024-12-27", None).await;
    assert_eq!(waves.status, StatusCode::OK);
    for id in ["kpmg-granskning", "reklamation-2022", "dxc-overprovning"] {
        assert!(
            waves.body.contains(&format!("href=\"/arenden/{id}\"")),
            "the waves page links {id}"
        );
    }
    assert!(waves.body.contains("Avslutade ärenden"));

    // A closed reclamation: opened, answered, closed by the settlement, each with its source.
    let page = get(app, "/arenden/reklamation-2022", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for expected in [
        "<h1>Ärende reklamation-2022</h1>",
        "Läge: avslutat 17 maj 2022",
        "Ärendets historia",
        "2 februari 2022 – öppnat:",
        "30 mars 2022 – besvarat:",
        "17 maj 2022 – avslutat:",
        "(nästa datum: 3 april 2022)",
        "Källa:",
        "aria-current=\"page\"",
    ] {
        assert!(page.body.contains(expected), "lacks {expected:?}");
    }
    // As of a day before the settlement it is open, and the pickers keep the day.
    let before = get(app, "/arenden/reklamation-2022?as_of=2022-03-01", None).await;
    assert!(before.body.contains("Läge: öppet"), "{}", before.body);
    assert!(!before.body.contains("besvarat:"));
    assert!(before.body.contains("value=\"2022-03-01\""));
    // A review whose due date has passed is marked overdue on its page.
    let review = get(app, "/arenden/kpmg-granskning?as_of=2025-06-01", None).await;
    assert!(
        review
            .body
            .contains("Försenat: var mars 2025 (passerat sedan 1 april 2025)"),
        "{}",
        review.body
    );
    // A matter not in the log (or not yet opened on the day) is a 404 in Swedish; hostile text
    // in the address is shown inert.
    let missing = get(app, "/arenden/reklamation-2022?as_of=2021-01-01", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("inget ärende"), "{}", missing.body);
    let hostile = get(app, "/arenden/%3Cscript%3Ealert(1)%3C%2Fscript%3E", None).await;
    assert_eq!(hostile.status, StatusCode::NOT_FOUND);
    assert!(!hostile.body.contains("<script>alert"), "{}", hostile.body);
    // A bad day is a 400 naming the field, with the pickers.
    let bad = get(app, "/arenden/kpmg-granskning?as_of=hösten%2020x", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("Läget per"), "{}", bad.body);
}

#[tokio::test]
async fn the_timeline_and_waves_pages_pick_the_public_record_beside_as_of_and_known_at() {
    let Some(site) = site() else { return };
    let app = &site.app;
    // A fact of spring 2021 whose only source was published in the autumn of 2022.
    let later_source = "Programstyrgruppen konstaterade att ytterligare en översyn";
    let as_of = get(app, "/tidslinje?as_of=2022-06-01", None).await;
    assert!(as_of.body.contains(later_source));
    assert!(
        as_of
            .body
            .contains("id=\"public_at\" name=\"public_at\" value=\"\"")
    );
    assert!(as_of.body.contains("Som allmänheten kände till det den"));
    let public = get(
        app,
        "/tidslinje?as_of=2022-06-01&public_at=2022-06-01",
        None,
    )
    .await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(!public.body.contains(later_source), "not yet public");
    assert!(
        public
            .body
            .contains("som det var offentligt känt 1 juni 2022")
    );
    assert!(
        public
            .body
            .contains("name=\"public_at\" value=\"2022-06-01\"")
    );
    // The waves page and the diff take it too, and the day reads as people type it.
    let waves = get(app, "/vagor?as_of=2022-06-01&public_at=1+juni+2022", None).await;
    assert_eq!(waves.status, StatusCode::OK);
    assert!(
        waves
            .body
            .contains("som det var offentligt känt 1 juni 2022")
    );
    let diff = get(
        app,
        "/skillnad?from=2019-06-01&to=2022-06-01&public_at=2022-06-01",
        None,
    )
    .await;
    assert!(
        !diff.body.contains(later_source),
        "the diff follows the public record"
    );
    // A day that does not read is refused at its field.
    let bad = get(app, "/vagor?public_at=h%C3%B6sten+20x", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("aria-invalid=\"true\""), "{}", bad.body);
    // The API takes the same parameter.
    let api = get(
        app,
        "/api/timeline?as_of=2022-06-01&public_at=2022-06-01",
        None,
    )
    .await;
    assert_eq!(api.json()["public_at"], json!("2022-06-01"));
    let everything = get(app, "/api/timeline?as_of=2022-06-01", None).await;
    assert!(
        api.json()["timeline"].as_array().unwrap().len()
            < everything.json()["timeline"].as_array().unwrap().len()
    );
}

/// The `href` of the link whose text begins with `text`, HTML entities undone.
fn link_to(body: &str, text: &str) -> Option<String> {
    let at = body.find(&format!(">{text}"))?;
    let start = body[..at].rfind("href=\"")? + "href=\"".len();
    let end = start + body[start..].find('"')?;
    Some(
        body[start..end]
            .replace("&amp;", "&")
            .replace("&#x3D;", "="),
    )
}

#[tokio::test]
async fn the_timeline_comes_a_page_at_a_time_with_links_to_the_pages_beside() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let seqs = |reply: &Reply| -> Vec<u64> {
        reply.json()["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .map(|e| e["seq"].as_u64().expect("seq"))
            .collect()
    };
    let whole = get(app, "/api/timeline?limit=1000", None).await;
    assert_eq!(whole.json()["page"]["next"], json!(null));
    assert_eq!(whole.json()["page"]["previous"], json!(null));
    let whole = seqs(&whole);
    assert!(whole.len() > 30, "the history makes a long timeline");

    // From the first page on, `page.next` after `page.next`: every fact once, in order.
    let mut walked = Vec::new();
    let mut uri = "/api/timeline?around=1+januari+2000&limit=7".to_owned();
    loop {
        let reply = get(app, &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
        let page = reply.json()["page"].clone();
        assert_eq!(page["limit"], json!(7));
        let shown = seqs(&reply);
        assert!(!shown.is_empty() && shown.len() <= 7, "{uri}");
        if !walked.is_empty() {
            assert!(page["previous"].is_string(), "{uri}");
        }
        walked.extend(shown);
        match page["next"].as_str() {
            Some(next) => {
                uri = format!("/api/timeline?limit=7&after={}", next.replace('/', "%2F"));
            }
            None => break,
        }
    }
    assert_eq!(walked, whole);

    // The page: the latest facts by default, a link to the earlier ones in Swedish, none to
    // later ones; the earlier page links both ways and keeps the axes and the page size.
    let latest = get(app, "/tidslinje?as_of=2024-12-27&limit=10", None).await;
    assert_eq!(latest.status, StatusCode::OK, "{}", latest.body);
    assert!(latest.body.contains("aria-label=\"Sidor i tidslinjen\""));
    assert!(
        latest.body.contains("Visar 10 händelser"),
        "{}",
        latest.body
    );
    assert!(
        !latest.body.contains("Nästa sida"),
        "the latest page is the last"
    );
    let earlier = link_to(&latest.body, "Föregående sida").expect("a link to earlier facts");
    assert!(
        earlier.contains("as_of=2024-12-27") && earlier.contains("limit=10"),
        "{earlier}"
    );
    assert!(earlier.contains("before="), "{earlier}");
    let page = get(app, &earlier, None).await;
    assert_eq!(page.status, StatusCode::OK, "{earlier}: {}", page.body);
    assert!(link_to(&page.body, "Nästa sida").is_some(), "{}", page.body);
    assert!(link_to(&page.body, "Föregående sida").is_some());
    // Around a day: the form keeps it.
    let around = get(app, "/tidslinje?around=1+juni+2022", None).await;
    assert_eq!(around.status, StatusCode::OK);
    assert!(
        around.body.contains("value=\"1 juni 2022\""),
        "{}",
        around.body
    );

    // Places and sizes that do not read are refused at their field.
    for (uri, field) in [
        ("/api/timeline?after=ig%C3%A5r", "after"),
        ("/api/timeline?before=2024-01-01", "before"),
        ("/api/timeline?limit=0", "limit"),
        ("/api/timeline?limit=1001", "limit"),
        ("/api/timeline?around=2024-02-30", "around"),
        (
            "/api/timeline?around=2024-01-01&after=2024-01-01.3",
            "around",
        ),
    ] {
        let reply = get(app, uri, None).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.body
        );
        assert_eq!(reply.json()["error"]["field"], json!(field), "{uri}");
    }
    let bad = get(app, "/tidslinje?around=2024-02-30", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("href=\"#around\""), "{}", bad.body);
}

#[tokio::test]
async fn the_plan_as_of_a_date_and_as_known_at_a_time() {
    let Some(site) = site() else { return };
    // As of 1 June 2022 the first wave was planned for the second half of 2024.
    let waves = get(&site.app, "/api/waves?as_of=2022-06-01", None).await;
    assert_eq!(waves.status, StatusCode::OK);
    let sodra = waves.json()["waves"]
        .as_array()
        .expect("waves")
        .iter()
        .find(|w| w["wave"] == json!("sodra-1"))
        .cloned()
        .expect("sodra-1");
    assert_eq!(sodra["current"]["planned"], json!("2024-H2"), "{sodra}");
    // Known at a time before anything was recorded: nothing.
    let early = get(&site.app, "/api/timeline?known_at=2000-01-01", None).await;
    assert_eq!(early.json()["log_seq"], json!(0));
    let page = get(&site.app, "/vagor?as_of=2022-06-01", None).await;
    assert!(
        page.body.contains("value=\"2022-06-01\""),
        "the picker keeps the date"
    );
}

#[tokio::test]
async fn bad_parameters_are_a_400_naming_the_field_never_a_500() {
    let Some(site) = site() else { return };
    let app = &site.app;
    for (uri, field) in [
        ("/tidslinje?as_of=2024-13-01", "as_of"),
        ("/vagor?known_at=igår", "known_at"),
        ("/forhandsvisning?date=2024-02-30", "date"),
        ("/logg?kind=bogus", "kind"),
        ("/logg?limit=0", "limit"),
        ("/logg?after=-1", "after"),
    ] {
        // The page again, with the problem in Swedish at the top (see tests/ux.rs).
        let reply = get(app, uri, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            reply.body.contains("Det finns ett problem"),
            "{uri}: {}",
            reply.body
        );
        if !matches!(field, "limit" | "after") {
            assert!(
                reply.body.contains(&format!("href=\"#{field}\"")),
                "{uri}: {}",
                reply.body
            );
        }
    }
    for (uri, field) in [
        ("/api/timeline?as_of=hösten%2020x", "as_of"),
        ("/api/diff", "from"),
        ("/api/events?occurred_from=2019-H3", "occurred_from"),
        ("/api/report?format=pdf", "format"),
    ] {
        let reply = get(app, uri, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.json()["error"]["field"], json!(field), "{uri}");
    }
    assert_eq!(
        get(app, "/logg/999999", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(app, "/logg/abc", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(app, "/finns-inte", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(app, "/api/events/999999", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_log_pages_keep_their_filters() {
    let Some(site) = site() else { return };
    let first = get(&site.app, "/api/events?stream=program&limit=10", None).await;
    let page = first.json();
    assert_eq!(page["events"].as_array().expect("events").len(), 10);
    let after = page["next_after"].as_u64().expect("more follow");
    let second = get(
        &site.app,
        &format!("/api/events?stream=program&limit=10&after={after}"),
        None,
    )
    .await;
    let seqs: Vec<u64> = second.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.iter().all(|s| *s > after));
    let html = get(&site.app, "/logg?stream=program&limit=10", None).await;
    // Handlebars escapes `=` in attributes; the browser reads it back.
    assert!(
        html.body.contains("stream&#x3D;program&amp;after&#x3D;"),
        "the next link keeps the filter"
    );
}

#[tokio::test]
async fn read_only_mode_says_so_and_refuses_every_write() {
    let Some(site) = site_with(None) else { return };
    let app = &site.app;
    let home = get(app, "/", None).await;
    assert!(home.body.contains("Servern körs i läsläge"));
    let before = site.log.head();
    let form = get(app, "/skriv", None).await;
    let cookie = form.cookie().map(|c| cookie_pair(&c));
    let note = post_form(
        app,
        "/skriv/notering",
        cookie.as_deref(),
        &[("section", "summary"), ("text", "x")],
    )
    .await;
    assert_eq!(note.status, StatusCode::FORBIDDEN);
    assert!(note.body.contains("läsläge"));
    let api = post_json(app, "/api/events", Some("anything"), &json!({})).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert!(
        api.json()["error"]["message"]
            .as_str()
            .expect("message")
            .contains("läsläge")
    );
    let publish = post_form(app, "/publicera", None, &[]).await;
    assert_eq!(publish.status, StatusCode::FORBIDDEN);
    assert_eq!(site.log.head(), before);
}

/// A refused sign-in in the error-summary pattern: each problem in Swedish at its field
/// (`aria-invalid`, `aria-describedby`), the summary at the top linking to it, the name as
/// typed kept and the password never sent back.
#[tokio::test]
async fn a_refused_sign_in_says_why_at_the_field_with_a_summary() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let form = get(app, "/logga-in", None).await;
    let cookie = cookie_pair(&form.cookie().expect("a session cookie"));
    let csrf = csrf_in(&form.body);
    assert!(
        !form.body.contains("error-summary"),
        "no problem before a try"
    );

    let blank = post_form(
        app,
        "/logga-in",
        Some(&cookie),
        &[("csrf", &csrf), ("name", " "), ("password", "")],
    )
    .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    for (field, message) in [
        ("name", "Ange ditt namn"),
        ("password", "Ange ditt lösenord"),
    ] {
        assert!(
            blank.body.contains(&format!(
                "<p class=\"field-error\" id=\"{field}-fel\"><span class=\"visually-hidden\">Fel: </span>{message}</p>"
            )),
            "{}",
            blank.body
        );
        assert!(
            blank
                .body
                .contains(&format!("id=\"{field}\" name=\"{field}\""))
        );
        assert!(
            blank
                .body
                .contains(&format!("<a href=\"#{field}\">{message}</a>"))
        );
        assert!(blank.body.contains(&format!(
            "aria-invalid=\"true\" aria-describedby=\"{field}-fel\""
        )));
    }

    let wrong = post_form(
        app,
        "/logga-in",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("name", "anna <b>"),
            ("password", "hemligt-fel"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("class=\"error-summary\""));
    assert!(
        wrong.body.contains(
            "<a href=\"#password\">Fel namn eller lösenord. Kontrollera båda och försök igen</a>"
        ),
        "{}",
        wrong.body
    );
    assert!(wrong.body.contains("id=\"password-fel\""));
    assert!(
        wrong.body.contains("value=\"anna &lt;b&gt;\""),
        "the name as typed, escaped"
    );
    assert!(
        !wrong.body.contains("hemligt-fel"),
        "the password is not sent back"
    );
    assert!(
        !wrong.body.contains("<p class=\"fel\" role=\"alert\">"),
        "the old box is gone"
    );
}

#[tokio::test]
async fn signing_in_takes_the_right_password_and_a_csrf_token() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let form = get(app, "/logga-in", None).await;
    let set_cookie = form.cookie().expect("a session cookie");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains("Secure"), "not asked for");
    let cookie = cookie_pair(&set_cookie);
    let csrf = csrf_in(&form.body);
    let wrong = post_form(
        app,
        "/logga-in",
        Some(&cookie),
        &[("csrf", &csrf), ("name", "anna"), ("password", "fel")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Fel namn eller lösenord"));
    let unknown = post_form(
        app,
        "/logga-in",
        Some(&cookie),
        &[("csrf", &csrf), ("name", "okänd"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let no_csrf = post_form(
        app,
        "/logga-in",
        Some(&cookie),
        &[("name", "anna"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        no_csrf.status,
        StatusCode::FORBIDDEN,
        "login CSRF is refused"
    );
    // Only local paths are followed after signing in.
    let away = post_form(
        app,
        "/logga-in",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("name", "anna"),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(away.location(), "/skriv");
    let User { cookie, csrf } = sign_in(app).await;
    let out = post_form(app, "/logga-ut", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = get(app, "/skriv", Some(&cookie)).await;
    assert!(!after.body.contains("Inloggad som anna"), "signed out");
}

#[tokio::test]
async fn secure_cookies_when_configured() {
    let Some(site) = site_with(Some("secure_cookies = true")) else {
        return;
    };
    let form = get(&site.app, "/logga-in", None).await;
    assert!(form.cookie().expect("cookie").contains("Secure"));
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_writes_nothing() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    let before = site.log.head();
    for token in [None, Some("0".repeat(64))] {
        let mut fields = vec![("section", "summary"), ("text", "Ska inte sparas.")];
        if let Some(token) = &token {
            fields.push(("csrf", token));
        }
        let reply = post_form(app, "/skriv/notering", Some(&cookie), &fields).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{token:?}");
        assert!(reply.body.contains("CSRF"));
    }
    // Another session's token does not pass either.
    let other = get(app, "/logga-in", None).await;
    let reply = post_form(
        app,
        "/skriv/notering",
        Some(&cookie),
        &[
            ("csrf", &csrf_in(&other.body)),
            ("section", "summary"),
            ("text", "x"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Nor does a cookie-authenticated API write without the header.
    let mut request = Request::post("/api/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &cookie);
    let api = send(app, request.body(Body::from("{}")).expect("request")).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    request = Request::post("/api/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf);
    let with_header = send(
        app,
        request
            .body(Body::from(json!({"kind":"situation_noted","occurred":"2024-12-27","stream":"rapport","summary":"Via API med session.","data":{"section":"summary"}}).to_string()))
            .expect("request"),
    )
    .await;
    assert_eq!(
        with_header.status,
        StatusCode::CREATED,
        "{}",
        with_header.body
    );
    assert_eq!(site.log.head(), before + 1);
    let unsigned = post_form(
        app,
        "/skriv/notering",
        None,
        &[("section", "summary"), ("text", "x")],
    )
    .await;
    assert_eq!(unsigned.status, StatusCode::SEE_OTHER);
    assert_eq!(unsigned.location(), "/logga-in");
    assert_eq!(site.log.head(), before + 1);
}

#[tokio::test]
async fn when_reading_requires_signing_in_only_the_sign_in_page_and_health_are_open() {
    let Some(site) = site_with(Some("read_requires_sign_in = true")) else {
        return;
    };
    let app = &site.app;
    let home = get(app, "/vagor?as_of=2022-06-01", None).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(
        home.location(),
        "/logga-in?next=%2Fvagor%3Fas_of%3D2022-06-01"
    );
    assert_eq!(
        get(app, "/api/events", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(app, "/healthz", None).await.status, StatusCode::OK);
    assert_eq!(get(app, "/logga-in", None).await.status, StatusCode::OK);
    let User { cookie, .. } = sign_in(app).await;
    assert_eq!(
        get(app, "/vagor", Some(&cookie)).await.status,
        StatusCode::OK
    );
    let mut request = Request::get("/api/verify");
    request = request.header(header::AUTHORIZATION, format!("Bearer {}", site.token));
    let by_token = send(app, request.body(Body::empty()).expect("request")).await;
    assert_eq!(by_token.status, StatusCode::OK);
}

const HOSTILE: &str = "<script>alert(1)</script> **fet** [x](javascript:alert(1)) {{title}} <img src=x onerror=alert(1)>";

#[tokio::test]
async fn hostile_text_from_a_form_renders_inert_on_every_page() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    let note = post_form(
        app,
        "/skriv/notering",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("section", "summary"),
            ("text", HOSTILE),
            ("points", HOSTILE),
            ("occurred", "2024-12-27"),
        ],
    )
    .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER, "{}", note.body);
    let event_page = note.location().to_owned();
    let publication = post_form(
        app,
        "/skriv/publicerat",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("title", HOSTILE),
            ("channel", HOSTILE),
            ("occurred", "2024-12-27"),
        ],
    )
    .await;
    assert_eq!(
        publication.status,
        StatusCode::SEE_OTHER,
        "{}",
        publication.body
    );
    for uri in [
        event_page.as_str(),
        "/logg?after=100",
        "/forhandsvisning?date=2024-12-27",
        "/tidslinje",
    ] {
        let page = get(app, uri, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        assert!(
            !page.body.contains("<script>alert"),
            "{uri} carries a live script"
        );
        assert!(
            !page.body.contains("<img src=x"),
            "{uri} carries a live img"
        );
        assert!(
            !page.body.contains("href=\"javascript:"),
            "{uri} carries a javascript: link"
        );
    }
    let preview = get(app, "/forhandsvisning?date=2024-12-27", None).await;
    assert!(
        preview
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "shown, escaped"
    );
    assert!(
        preview.body.contains("{{title}}"),
        "template syntax stays text"
    );
    // The failed form shows what was typed, escaped too.
    let bad = post_form(
        app,
        "/skriv/nyckeltal",
        Some(&cookie),
        &[("csrf", &csrf), ("figure", "konsulter"), ("value", HOSTILE)],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("id=\"fig-value-fel\""),
        "the message is on the field"
    );
    assert!(!bad.body.contains("<script>alert"));
}

#[tokio::test]
async fn forms_refuse_bad_input_with_the_field_and_keep_what_was_typed() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    let before = site.log.head();
    for (uri, fields, id, expected) in [
        (
            "/skriv/notering",
            vec![("section", "summary"), ("text", "")],
            "note-text",
            "Skriv noteringens text",
        ),
        (
            "/skriv/notering",
            vec![("section", "nonsense"), ("text", "Text.")],
            "note-section",
            "Välj ett avsnitt i rapporten",
        ),
        (
            "/skriv/notering",
            vec![
                ("section", "summary"),
                ("text", "Text."),
                ("lasts", "until"),
                ("until", "2024-02-30"),
            ],
            "note-until",
            "Dagen 2024-02-30 finns inte i kalendern",
        ),
        (
            "/skriv/notering",
            vec![
                ("section", "summary"),
                ("text", "Text."),
                ("lasts", "until"),
                ("until", ""),
            ],
            "note-until",
            "Ange sista dagen noteringen gäller",
        ),
        (
            "/skriv/notering",
            vec![
                ("section", "summary"),
                ("text", "Text."),
                ("occurred", "hösten 20x"),
            ],
            "note-occurred",
            "”hösten 20x” är inget datum",
        ),
        (
            "/skriv/publicerat",
            vec![("title", "Rubrik"), ("url", "javascript:alert(1)")],
            "pub-url",
            "Ange en fullständig länk som börjar med https://",
        ),
        (
            "/skriv/nyckeltal",
            vec![("figure", "Konsulter!"), ("value", "120")],
            "fig-figure",
            "Ange ett id med små bokstäver",
        ),
        (
            "/skriv/handelse",
            vec![("event", "{\"kind\":\"situation_noted\"")],
            "raw-event",
            "Det är inte giltig JSON (rad 1",
        ),
        (
            "/skriv/handelse",
            vec![(
                "event",
                "{\"kind\":\"situation_noted\",\"occurred\":\"2024-12-27\",\"summary\":\"x\",\"data\":{\"section\":\"summary\"},\"extra\":1}",
            )],
            "raw-event",
            "extra",
        ),
        (
            "/skriv/rattelse",
            vec![
                ("target", "999999"),
                ("reason", "Fel."),
                ("summary_text", "Rättelse."),
                ("new_summary", "Ny."),
            ],
            "cor-target",
            "Loggen har ingen händelse ”999999”",
        ),
        (
            "/skriv/rattelse",
            vec![
                ("target", "12"),
                ("reason", "Fel."),
                ("summary_text", "Rättelse."),
            ],
            "cor-new-occurred",
            "Fyll i det som ska rättas",
        ),
        (
            "/skriv/tillbakadragande",
            vec![
                ("target", ""),
                ("reason", "Fel."),
                ("summary_text", "Tillbaka."),
            ],
            "ret-target",
            "Ange händelsens löpnummer",
        ),
        (
            "/publicera",
            vec![("date", "2024-13-01")],
            "publish-date",
            "finns inte i kalendern",
        ),
    ] {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields.iter().copied());
        let reply = post_form(app, uri, Some(&cookie), &all).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri} {fields:?}: {}",
            reply.status
        );
        assert!(
            reply.body.contains(expected),
            "{uri} {fields:?} lacks {expected:?}: {}",
            reply.body
        );
        // On the field, and linked from the summary.
        assert!(
            reply.body.contains(&format!("id=\"{id}-fel\"")),
            "{uri}: no message on #{id}"
        );
        assert!(
            reply.body.contains(&format!("href=\"#{id}\"")),
            "{uri}: the summary does not link to #{id}"
        );
        if id != "raw-event" {
            for internal in ["data.", " is not ", "YYYY", "summary:"] {
                assert!(
                    !reply.body.contains(internal),
                    "{uri}: {internal:?} shown to the user"
                );
            }
        }
    }
    let typed = post_form(
        app,
        "/skriv/notering",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("section", "operations"),
            ("text", "Behåll mig."),
            ("occurred", "2024-13-45"),
        ],
    )
    .await;
    assert!(
        typed.body.contains("Behåll mig."),
        "the text survives the error"
    );
    assert!(
        typed.body.contains("value=\"operations\" selected"),
        "and the section"
    );
    assert_eq!(site.log.head(), before, "nothing was written");
}

#[tokio::test]
async fn a_note_a_figure_a_correction_and_a_retraction_through_the_forms() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    let note = post_form(
        app,
        "/skriv/notering",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("section", "summary"),
            ("text", "En notering."),
            ("points", "Första\n\nAndra"),
            ("lasts", "standing"),
            ("occurred", "2024-12-27"),
        ],
    )
    .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER, "{}", note.body);
    let seq: u64 = note
        .location()
        .trim_start_matches("/logg/")
        .split('?')
        .next()
        .expect("seq")
        .parse()
        .expect("a number");
    let shown = get(app, note.location(), Some(&cookie)).await;
    assert!(shown.body.contains("Sparad i loggen som händelse"));
    let stored = get(app, &format!("/api/events/{seq}"), None).await.json();
    assert_eq!(stored["by"], json!("anna"), "the writer is recorded");
    assert_eq!(stored["data"]["points"], json!(["Första", "Andra"]));
    assert_eq!(stored["data"]["standing"], json!(true));
    let figure = post_form(
        app,
        "/skriv/nyckeltal",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("figure", "konsulter"),
            ("value", "1 234,5"),
            ("occurred", "2024-12-27"),
        ],
    )
    .await;
    assert_eq!(figure.status, StatusCode::SEE_OTHER, "{}", figure.body);
    let correction = post_form(
        app,
        "/skriv/rattelse",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("target", &seq.to_string()),
            ("reason", "Stavfel."),
            ("summary_text", "Noteringen rättad."),
            ("new_summary", "En rättad notering."),
        ],
    )
    .await;
    assert_eq!(
        correction.status,
        StatusCode::SEE_OTHER,
        "{}",
        correction.body
    );
    let retraction = post_form(
        app,
        "/skriv/tillbakadragande",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("target", &seq.to_string()),
            ("reason", "Gäller inte."),
            ("summary_text", "Noteringen tillbakadragen."),
        ],
    )
    .await;
    assert_eq!(
        retraction.status,
        StatusCode::SEE_OTHER,
        "{}",
        retraction.body
    );
    let raw = post_form(
        app,
        "/skriv/handelse",
        Some(&cookie),
        &[("csrf", &csrf), ("event", r#"{"key":"webb-1","kind":"situation_noted","occurred":"2024-12-27","stream":"rapport","summary":"Som JSON.","data":{"section":"about"}}"#)],
    )
    .await;
    assert_eq!(raw.status, StatusCode::SEE_OTHER);
    let again = post_form(
        app,
        "/skriv/handelse",
        Some(&cookie),
        &[("csrf", &csrf), ("event", r#"{"key":"webb-1","kind":"situation_noted","occurred":"2024-12-27","stream":"rapport","summary":"Som JSON.","data":{"section":"about"}}"#)],
    )
    .await;
    assert!(
        again.location().ends_with("recorded=redan"),
        "the same key and content is recorded once"
    );
    let conflict = post_form(
        app,
        "/skriv/handelse",
        Some(&cookie),
        &[("csrf", &csrf), ("event", r#"{"key":"webb-1","kind":"situation_noted","occurred":"2024-12-27","stream":"rapport","summary":"Annat innehåll.","data":{"section":"about"}}"#)],
    )
    .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    let verify = get(app, "/api/verify", None).await;
    assert_eq!(verify.json()["ok"], json!(true));
}

#[tokio::test]
async fn publishing_puts_the_report_in_the_archive_with_its_provenance() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    post_form(
        app,
        "/skriv/notering",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("section", "communications"),
            ("text", "Veckans nya notering från webben."),
            ("occurred", "2024-12-27"),
        ],
    )
    .await;
    let built_from = site.log.head();
    let published = post_form(
        app,
        "/publicera",
        Some(&cookie),
        &[("csrf", &csrf), ("date", "2024-12-27")],
    )
    .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let permalink = published.location().to_owned();
    assert_eq!(permalink, format!("/rapporter/{}", built_from + 1));
    let archive = get(app, "/rapporter", None).await;
    assert!(archive.body.contains(&format!("href=\"{permalink}\"")));
    let page = get(app, &permalink, None).await;
    assert!(page.body.contains("Veckans nya notering från webben."));
    assert!(page.body.contains(&format!(
        "till och med händelse <a href=\"/logg/{built_from}\">{built_from}</a>"
    )));
    assert_eq!(
        page.body.matches("återskapad byte för byte").count(),
        3,
        "md, html and pdf"
    );
    assert!(
        page.body
            .contains(&format!("href=\"{permalink}/pdf\" download>Ladda ner PDF")),
        "the page offers the PDF"
    );
    assert!(
        archive
            .body
            .contains(&format!("href=\"{permalink}/pdf\" download>PDF")),
        "the archive offers the PDF"
    );
    let home = get(app, "/", None).await;
    assert!(
        home.body.contains("Veckans nya notering från webben."),
        "the latest report is the home page"
    );
    // The PDF download: its bytes are the recorded digest's, named after the edition's day.
    let pdf = get(app, &format!("{permalink}/pdf"), None).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.headers[header::CONTENT_TYPE], "application/pdf");
    assert!(
        pdf.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ASCII")
            .starts_with("attachment; filename=\"regional-rapport-"),
        "{:?}",
        pdf.headers
    );
    assert!(pdf.bytes.starts_with(b"%PDF-"));
    let pdf_digest =
        get(app, "/api/reports", None).await.json()["reports"][0]["published"]["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .find(|o| o["format"] == json!("pdf"))
            .expect("the PDF is an output")["sha256"]
            .clone();
    assert_eq!(pdf_digest, json!(lagesbild_model::sha256_hex(&pdf.bytes)));
    let print = get(app, &format!("{permalink}/html"), None).await;
    assert_eq!(
        print.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let reports = get(app, "/api/reports", None).await.json();
    let digest = reports["reports"][0]["published"]["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["format"] == json!("html"))
        .expect("html")["sha256"]
        .clone();
    assert_eq!(
        json!(lagesbild_model::sha256_hex(print.body.as_bytes())),
        digest,
        "the print view is the published bytes"
    );
    assert_eq!(
        get(app, "/rapporter/1", None).await.status,
        StatusCode::NOT_FOUND,
        "not a report"
    );
}

#[tokio::test]
async fn the_api_appends_with_a_token_all_of_a_batch_or_none() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let before = site.log.head();
    let event = |n: usize| json!({"kind":"figure_reported","occurred":"2024-12-27","stream":"rapport","summary":format!("Mätvärde {n}."),"data":{"figure":"test","value":n,"unit":"st"}});
    let unknown = post_json(app, "/api/events", Some("fel-token"), &event(1)).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let bad_batch = post_json(app, "/api/events", Some(&site.token), &json!([event(1), {"kind":"figure_reported","occurred":"2024-12-27","summary":"x","data":{"figure":"test","value":"många","unit":"st"}}])).await;
    assert_eq!(bad_batch.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_batch.json()["error"]["field"], json!("[1].data.value"));
    assert_eq!(site.log.head(), before, "nothing of the batch was written");
    let not_json = post_json(app, "/api/events", Some(&site.token), &json!("text")).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let ok = post_json(
        app,
        "/api/events",
        Some(&site.token),
        &json!([event(1), event(2)]),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(ok.json()["head"]["seq"], json!(before + 2));
    let stored = get(app, &format!("/api/events/{}", before + 1), None)
        .await
        .json();
    assert_eq!(stored["by"], json!("robot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_many_clients_all_land_in_order_with_the_chain_intact() {
    let Some(site) = site() else { return };
    let before = site.log.head();
    let clients = 8;
    let per_client = 25;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let app = site.app.clone();
        let token = site.token.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_client {
                let event = json!({"key":format!("klient-{client}-{n}"),"kind":"situation_noted","occurred":"2024-12-27","stream":"rapport","summary":format!("Klient {client}, notering {n}."),"data":{"section":"operations"}});
                let reply = post_json(&app, "/api/events", Some(&token), &event).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            }
        }));
    }
    for task in tasks {
        task.await.expect("a client finished");
    }
    let seen = site.log.with_store(|store| {
        assert_eq!(
            store.head().expect("head").seq,
            before + clients * per_client
        );
        store.verify(&mut |_| {}).expect("the chain is intact");
        // Each client's events are in its own order, each exactly once.
        let filter = lagesbild_store::Filter {
            streams: vec!["rapport".into()],
            ..Default::default()
        };
        let mut seen = std::collections::BTreeMap::<u64, Vec<u64>>::new();
        for event in lagesbild_store::scan(&*store, &filter) {
            let event = event.expect("reads");
            if let Some(key) = &event.event.key {
                let parts: Vec<&str> = key.as_str().split('-').collect();
                if parts[0] == "klient" {
                    seen.entry(parts[1].parse().expect("client"))
                        .or_default()
                        .push(parts[2].parse().expect("n"));
                }
            }
        }
        seen
    });
    assert_eq!(seen.len() as u64, clients);
    for numbers in seen.values() {
        assert_eq!(*numbers, (0..per_client).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn the_api_renders_the_report_and_the_diff() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let model = get(app, "/api/report?date=2024-12-27", None).await;
    assert_eq!(model.status, StatusCode::OK);
    assert_eq!(model.json()["log_seq"], json!(108));
    let markdown = get(app, "/api/report?date=2024-12-27&format=md", None).await;
    assert_eq!(
        markdown.headers[header::CONTENT_TYPE],
        "text/markdown; charset=utf-8"
    );
    assert!(
        markdown.body.starts_with("# Regional rapport"),
        "{}",
        &markdown.body[..80]
    );
    let html = get(app, "/api/report?date=2024-12-27&format=html", None).await;
    assert!(
        html.body
            .contains("<h2 id=\"s-summary\">Sammanfattande lägesbild</h2>")
    );
    let diff = get(app, "/api/diff?from=2019-06-01&to=2022-06-01", None).await;
    assert_eq!(diff.status, StatusCode::OK, "{}", diff.body);
    assert!(
        diff.body.contains("2024-H2"),
        "the plan of May 2022 is new in the diff"
    );
    let one = get(
        app,
        "/api/events/2016-11-29-rf-finansieringsprinciper",
        None,
    )
    .await;
    assert_eq!(one.json()["seq"], json!(1), "an event by key");
    let reports = get(app, "/api/reports", None).await;
    assert_eq!(reports.json()["reports"], json!([]));
}

#[tokio::test]
async fn the_verify_page_names_the_first_bad_event_of_a_tampered_log() {
    let Some(site) = site() else { return };
    let ok = get(&site.app, "/api/verify", None).await;
    assert_eq!(ok.json()["ok"], json!(true));
    let rewrite = r#"UPDATE events SET content = replace(content, '"summary":"', '"summary":"Omskrivet: ') WHERE seq = 40;"#;
    site.log.execute_raw(
        &format!("DROP TRIGGER events_refuse_update; {rewrite}"),
        &format!("DROP TRIGGER events_refuse_update ON events; {rewrite}"),
    );
    let page = get(&site.app, "/verifiera", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Loggen är bruten vid händelse 40"),
        "{}",
        page.body
    );
    let api = get(&site.app, "/api/verify", None).await;
    assert_eq!(api.status, StatusCode::CONFLICT);
    assert_eq!(api.json()["first_bad_seq"], json!(40), "{}", api.body);
}

/// Regression: any writer with a token could append a `report_published` with invented
/// provenance (`log_seq` 99999, made-up hashes); it was listed in the archive and became the
/// front page's latest report. The API now refuses every claim that does not hold.
#[tokio::test]
async fn a_forged_report_published_through_the_api_is_refused_and_never_listed() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let before = site.log.head();
    let hash_at = |seq: u64| {
        site.log.with_store(|store| {
            store
                .event(&EventRef::Seq(seq))
                .expect("reads")
                .expect("event")
                .hash
        })
    };
    let forged = |log_seq: u64, head_hash: &str, template_digest: &str| {
        json!({
            "kind": "report_published",
            "occurred": "2024-12-27T11:15",
            "stream": "rapport",
            "summary": "Regional rapport för 27 december 2024 publicerades.",
            "data": {
                "report_date": "2024-12-27",
                "compiled_at": "2024-12-27T11:15",
                "log_seq": log_seq,
                "head_hash": head_hash,
                "template_digest": template_digest,
                "outputs": [{"format": "md", "sha256": "ab".repeat(32)}],
            }
        })
    };
    let digest = TemplateSet::embedded().digest();
    let cases = [
        (forged(99_999, &"cd".repeat(32), &digest), "data.log_seq"),
        (forged(before, &"cd".repeat(32), &digest), "data.head_hash"),
        (
            forged(before, &hash_at(before), &"ef".repeat(32)),
            "data.template_digest",
        ),
        (
            forged(before, &hash_at(before), &digest),
            "data.outputs[0].sha256",
        ),
    ];
    for (event, field) in cases {
        let reply = post_json(app, "/api/events", Some(&site.token), &event).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(
            reply.json()["error"]["field"],
            json!(field),
            "{}",
            reply.body
        );
    }
    assert_eq!(site.log.head(), before, "nothing was written");
    let reports = get(app, "/api/reports", None).await.json();
    assert_eq!(reports["reports"], json!([]), "nothing forged is listed");
}

/// Regression: the page of an edition whose recorded digests are not what the log rebuilds
/// (here appended below the gate, as someone who writes the file and recomputes the chain
/// could) said "återskapad byte för byte". It now compares with a fresh fold and says it
/// differs; and a page built over a cache the read refused says so in Swedish.
#[tokio::test]
async fn a_forged_edition_page_reports_the_difference_and_a_refused_cache_is_noticed() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let head_seq = site.log.head();
    let head_hash = site
        .log
        .with_store(|store| store.head().expect("head").hash);
    let forged = lagesbild_model::event_from_value(json!({
        "kind": "report_published",
        "occurred": "2024-12-27T11:15",
        "stream": "rapport",
        "summary": "Regional rapport för 27 december 2024 publicerades.",
        "data": {
            "report_date": "2024-12-27",
            "compiled_at": "2024-12-27T11:15",
            "log_seq": head_seq,
            "head_hash": head_hash,
            "template_digest": TemplateSet::embedded().digest(),
            "outputs": [{"format": "md", "sha256": "ab".repeat(32)}, {"format": "html", "sha256": "cd".repeat(32)}],
        }
    }))
    .expect("valid");
    site.log
        .with_store(|store| store.append(&[forged], &[]).expect("below the gate"));
    // A checkpoint off the policy, bound and with a correct digest.
    let state = lagesbild_timeline::Projection::new().to_checkpoint();
    let insert = |state_literal: &str| {
        format!(
            "INSERT INTO checkpoints (name, seq, format, chain_hash, digest, state) \
             VALUES ('programme', {head_seq}, {}, '{head_hash}', '{}', {state_literal})",
            lagesbild_timeline::PROJECTION_FORMAT,
            lagesbild_model::sha256_hex(&state),
        )
    };
    site.log.execute_raw(
        &insert(&format!("X'{}'", hex(&state))),
        &insert(&format!("'\\x{}'::bytea", hex(&state))),
    );
    let verify = get(app, "/api/verify", None).await.json();
    assert_eq!(verify["caches_ok"], json!(false), "{verify}");
    assert!(
        verify["cache_problems"][0].as_str().is_some_and(
            |p| p.starts_with(&format!("table checkpoints, programme at event {head_seq}"))
        ),
        "{verify}"
    );
    let page = get(app, "/verifiera", None).await;
    assert!(
        page.body
            .contains("En mellanlagring bredvid loggen stämmer inte"),
        "{}",
        page.body
    );
    let page = get(app, &format!("/rapporter/{}", head_seq + 1), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        !page.body.contains("återskapad byte för byte"),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches("återskapad text skiljer sig").count(),
        2,
        "md and html (the forged claim lists no PDF)"
    );
    let file = get(app, &format!("/rapporter/{}/md", head_seq + 1), None).await;
    assert_eq!(file.status, StatusCode::CONFLICT);
    // The PDF route follows the same rule: nothing served for an edition that does not hold.
    let file = get(app, &format!("/rapporter/{}/pdf", head_seq + 1), None).await;
    assert_eq!(file.status, StatusCode::CONFLICT);
    let waves = get(app, "/vagor?as_of=2024-12-27", None).await;
    assert!(
        waves
            .body
            .contains("En mellanlagring stämde inte med loggen (tabellen checkpoints"),
        "{}",
        waves.body
    );
    assert!(waves.body.contains("pausad"), "the view is the log's");
}

/// The edition cache (`edition_outputs`, issue 17): a published edition's page is served from
/// what publishing kept, and a hand-edited row, its digest recomputed, is never served: the
/// verify API names the table and edition, and the page shows the log's bytes with a notice.
#[tokio::test]
async fn a_hand_edited_cached_edition_is_never_served() {
    let Some(site) = site() else { return };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    post_form(
        app,
        "/skriv/notering",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("section", "communications"),
            ("text", "Veckans nya notering från webben."),
            ("occurred", "2024-12-27"),
        ],
    )
    .await;
    let published = post_form(
        app,
        "/publicera",
        Some(&cookie),
        &[("csrf", &csrf), ("date", "2024-12-27")],
    )
    .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let permalink = published.location().to_owned();
    let seq: u64 = permalink
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a seq");
    let genuine = get(app, &format!("{permalink}/html"), None).await.body;
    let kept = site.log.with_store(|store| {
        store
            .edition_outputs(seq, &TemplateSet::embedded().digest())
            .expect("reads")
            .expect("publishing kept the outputs")
    });
    let html = kept.outputs.iter().find(|o| o.format == "html");
    assert_eq!(html.expect("the html").bytes, genuine.as_bytes());
    let forged = genuine.replace("Veckans nya notering från webben.", "Förfalskad notering.");
    let update = |bytes_literal: &str| {
        format!(
            "UPDATE edition_outputs SET bytes = {bytes_literal}, sha256 = '{}' \
             WHERE seq = {seq} AND format = 'html'",
            lagesbild_model::sha256_hex(forged.as_bytes()),
        )
    };
    site.log.execute_raw(
        &update(&format!("X'{}'", hex(forged.as_bytes()))),
        &update(&format!("'\\x{}'::bytea", hex(forged.as_bytes()))),
    );
    let verify = get(app, "/api/verify", None).await.json();
    assert_eq!(verify["caches_ok"], json!(false), "{verify}");
    assert!(
        verify["cache_problems"][0].as_str().is_some_and(
            |p| p.starts_with(&format!("table edition_outputs, edition at event {seq}"))
        ),
        "{verify}"
    );
    let page = get(app, &permalink, None).await;
    assert!(!page.body.contains("Förfalskad notering."), "{}", page.body);
    assert!(page.body.contains("Veckans nya notering från webben."));
    assert!(
        page.body
            .contains("En mellanlagring stämde inte med loggen (tabellen edition_outputs"),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("återskapad byte för byte").count(), 3);
    // Rebuilt from the log and kept again: the file is the published bytes, verify is clean.
    let file = get(app, &format!("{permalink}/html"), None).await;
    assert_eq!(file.body, genuine);
    let verify = get(app, "/api/verify", None).await.json();
    assert_eq!(verify["caches_ok"], json!(true), "{verify}");
}

/// A plan for a wave `w9` of its own, planned `planned`, as another connection appends it.
fn plan_for_w9(planned: &str, n: usize) -> lagesbild_model::NewEvent {
    lagesbild_model::parse_event(&format!(
        r#"{{"kind":"plan_revised","occurred":"2030-0{}","summary":"Ny plan {n}.","source":{{"title":"Källa"}},"data":{{"waves":[{{"wave":"w9","area":"Nytt område","planned":"{planned}"}}]}}}}"#,
        1 + n % 9
    ))
    .expect("valid")
}

/// What w9 is planned for in an `/api/waves` answer, if it is there.
fn w9_planned(waves: &serde_json::Value) -> Option<String> {
    waves["waves"]
        .as_array()?
        .iter()
        .find(|w| w["wave"] == json!("w9"))
        .map(|w| {
            w["current"]["planned"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
}

/// The answer of a server started now on the same log: its programme replayed, nothing kept.
async fn fresh_answer(log: &TestLog, uri: &str) -> serde_json::Value {
    let fresh = log.app(None);
    let reply = get(&fresh, uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
    reply.json()
}

/// The recorded time of event `seq`, as `known_at` takes it.
fn recorded_at(log: &TestLog, seq: u64) -> String {
    log.with_store(|store| {
        store
            .event(&EventRef::Seq(seq))
            .expect("reads")
            .expect("present")
            .recorded_at
            .to_string()
    })
}

#[tokio::test]
async fn the_waves_kept_between_requests_equal_a_replay_after_another_connection_appends() {
    let Some(site) = site() else { return };
    let seeded = site.log.head();
    let seeded_at = recorded_at(&site.log, seeded);
    let variants = |known: &str| {
        [
            "/api/waves".to_owned(),
            "/api/waves?as_of=2022-06-01".to_owned(),
            "/api/waves?as_of=2030-12-31&public_at=2031-01-01".to_owned(),
            format!("/api/waves?known_at={known}"),
            format!("/api/waves?known_at={known}&as_of=2030-12-31"),
        ]
    };
    for (round, planned) in ["2031-H1", "2032-H2", "2033-H1"].iter().enumerate() {
        for uri in variants(&seeded_at) {
            let served = get(&site.app, &uri, None).await;
            assert_eq!(served.status, StatusCode::OK, "{uri}: {}", served.body);
            assert_eq!(served.json(), fresh_answer(&site.log, &uri).await, "{uri}");
        }
        // Another connection appends behind the server's back (a CLI `append`, another
        // server): the next answer has it.
        let event = plan_for_w9(planned, round);
        site.log
            .with_store(|store| store.append(&[event], &[]).expect("appends"));
        let head = seeded + 1 + round as u64;
        let now = get(&site.app, "/api/waves?as_of=2030-12-31", None)
            .await
            .json();
        assert_eq!(now["log_seq"], json!(head));
        assert_eq!(w9_planned(&now).as_deref(), Some(*planned));
        // Known at the seeded log's time, the plan is not there yet.
        let then = get(
            &site.app,
            &format!("/api/waves?known_at={seeded_at}&as_of=2030-12-31"),
            None,
        )
        .await
        .json();
        assert_eq!(then["log_seq"], json!(seeded));
        assert_eq!(w9_planned(&then), None);
    }
    // The pages that read the same programme agree with the API.
    let page = get(&site.app, "/vagor?as_of=2030-12-31", None).await;
    assert!(page.body.contains("Nytt område"), "{}", page.body);
}

/// Empties the log behind the store's back (its triggers lifted for it) and restores `events`
/// into it through the store, as an operator restoring another export into it would.
fn restore_over(log: &TestLog, events: Vec<lagesbild_model::StoredEvent>) {
    log.execute_raw(
        "DROP TRIGGER events_refuse_delete; DELETE FROM events;
         CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
         BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;",
        "ALTER TABLE events DISABLE TRIGGER events_refuse_delete; DELETE FROM events;
         ALTER TABLE events ENABLE ALWAYS TRIGGER events_refuse_delete;",
    );
    log.with_store(|store| {
        store
            .restore(&mut events.into_iter().map(Ok))
            .expect("restores")
    });
}

/// Every event of a log.
fn all_events(log: &TestLog) -> Vec<lagesbild_model::StoredEvent> {
    log.with_store(|store| {
        lagesbild_store::scan(&*store, &lagesbild_store::Filter::default())
            .collect::<Result<_, _>>()
            .expect("reads")
    })
}

/// A seeded log on this binary's backend with plans for w9 appended.
fn other_log(planned: &[&str]) -> TestLog {
    let log = TestLog::seeded_on(support::backend()).expect("the backend is there");
    let events: Vec<_> = planned
        .iter()
        .enumerate()
        .map(|(n, planned)| plan_for_w9(planned, n))
        .collect();
    log.with_store(|store| store.append(&events, &[]).expect("appends"));
    log
}

#[tokio::test]
async fn the_kept_waves_are_never_served_once_the_log_holds_another_chain() {
    let Some(site) = site() else { return };
    let uri = "/api/waves?as_of=2030-12-31";
    site.log.with_store(|store| {
        store
            .append(&[plan_for_w9("2031-H1", 0)], &[])
            .expect("appends")
    });
    let length = site.log.head();
    let first = get(&site.app, uri, None).await.json();
    assert_eq!(w9_planned(&first).as_deref(), Some("2031-H1"));
    // Another log of the same length restored in its place: the chain hash at the kept
    // position is another, so the kept programme is not served.
    let same_length = other_log(&["2039-H2"]);
    restore_over(&site.log, all_events(&same_length));
    assert_eq!(site.log.head(), length);
    let after_restore = get(&site.app, uri, None).await.json();
    assert_eq!(w9_planned(&after_restore).as_deref(), Some("2039-H2"));
    assert_eq!(after_restore, fresh_answer(&site.log, uri).await);
    // A longer one: its events after the kept position do not continue the kept chain, so
    // they are not folded onto it.
    let longer = other_log(&["2041-H1", "2042-H1", "2043-H1"]);
    restore_over(&site.log, all_events(&longer));
    assert_eq!(site.log.head(), length + 2);
    let after_longer = get(&site.app, uri, None).await.json();
    assert_eq!(w9_planned(&after_longer).as_deref(), Some("2043-H1"));
    let baseline = after_longer["waves"]
        .as_array()
        .and_then(|waves| waves.iter().find(|w| w["wave"] == json!("w9")))
        .map(|w| w["baseline"]["planned"].clone());
    assert_eq!(
        baseline,
        Some(json!("2041-H1")),
        "folded onto another chain"
    );
    assert_eq!(after_longer, fresh_answer(&site.log, uri).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_of_the_waves_while_another_process_appends_match_a_replay() {
    let Some(site) = site() else { return };
    let location = site.log.location().clone();
    let writer = std::thread::spawn(move || {
        let mut store = location.open().expect("opens");
        for n in 0..4 {
            std::thread::sleep(std::time::Duration::from_millis(30));
            store
                .append(&[plan_for_w9(&format!("20{}-H1", 40 + n), n)], &[])
                .expect("appends");
        }
    });
    let mut readers = Vec::new();
    for _ in 0..6 {
        let app = site.app.clone();
        readers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..8 {
                let reply = get(&app, "/api/waves?as_of=2050-01-01", None).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                answers.push(reply.json());
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for reader in readers {
        answers.extend(reader.await.expect("a reader finished"));
    }
    writer.join().expect("the writer finished");
    // Each answer is the replay as known at its own position, whichever request kept what.
    let mut expected = std::collections::BTreeMap::new();
    for answer in answers {
        let seq = answer["log_seq"].as_u64().expect("log_seq");
        if let std::collections::btree_map::Entry::Vacant(slot) = expected.entry(seq) {
            let known = recorded_at(&site.log, seq);
            let uri = format!("/api/waves?as_of=2050-01-01&known_at={known}");
            slot.insert(fresh_answer(&site.log, &uri).await);
        }
        assert_eq!(answer, expected[&seq], "at {seq}");
    }
    let last = get(&site.app, "/api/waves?as_of=2050-01-01", None)
        .await
        .json();
    assert_eq!(w9_planned(&last).as_deref(), Some("2043-H1"));
}

#[tokio::test]
async fn the_report_templates_are_read_again_when_their_folder_changes() {
    let Some(log) = TestLog::seeded_on(support::backend()) else {
        return;
    };
    let folder = tempfile::tempdir().expect("temp dir");
    TemplateSet::embedded()
        .write_to(folder.path())
        .expect("writes the templates");
    let auth = AuthConfig::parse(&format!(
        "[[user]]\nname = \"anna\"\npassword_hash = \"{}\"\n",
        password_hash()
    ))
    .expect("valid configuration");
    let app = support::app(lagesbild_web::Config {
        template_dir: Some(folder.path().to_owned()),
        ..log.config(
            Some(auth),
            TemplateSet::from_dir(folder.path()).expect("reads"),
        )
    });
    let preview = "/forhandsvisning?date=2024-12-27";
    let marker = "Mallen ändrades medan servern körde.";
    assert!(!get(&app, preview, None).await.body.contains(marker));
    // An edition published with the templates as they were.
    let User { cookie, csrf } = sign_in(&app).await;
    let published = post_form(
        &app,
        "/publicera",
        Some(&cookie),
        &[("csrf", &csrf), ("date", "2024-12-27")],
    )
    .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let permalink = published.location().to_owned();
    let published_html = get(&app, &format!("{permalink}/html"), None).await.body;
    // The operator edits the HTML template under the running server: the next view after the
    // folder is looked at again uses it.
    let html_template = folder.path().join("report.html.hbs");
    let edited = std::fs::read_to_string(&html_template)
        .expect("reads")
        .replace("</main>", &format!("<p>{marker}</p></main>"));
    assert!(edited.contains(marker), "the template has a body");
    std::fs::write(&html_template, &edited).expect("writes");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let changed = get(&app, preview, None).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(changed.body.contains(marker), "{}", changed.body);
    assert!(
        get(&app, "/api/report?date=2024-12-27&format=html", None)
            .await
            .body
            .contains(marker)
    );
    // The published edition is still its published bytes, checked against its digests.
    assert_eq!(
        get(&app, &format!("{permalink}/html"), None).await.body,
        published_html
    );
    let page = get(&app, &permalink, None).await;
    assert_eq!(page.body.matches("återskapad byte för byte").count(), 3);
    assert!(!page.body.contains(marker));
    // A template that does not compile: the set in use stays, and every page still answers.
    std::fs::write(&html_template, "{{#each}} ofullständig").expect("writes");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let kept = get(&app, preview, None).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert!(kept.body.contains(marker), "{}", kept.body);
}
