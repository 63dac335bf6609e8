//! What every page does for the people using it, through the router without a socket: errors
//! in Swedish on the field they concern with an error summary that links to each (the GOV.UK /
//! DIGG pattern), days typed as people write them, the menu by role, the read-only banner only
//! on a read-only server, the served stylesheet (no inline styles), and wide tables in a
//! labelled, focusable scroll region.

mod support;

use axum::Router;
use axum::http::{StatusCode, header};
use lagesbild_web::AuthConfig;
use serde_json::Value;
use support::{TestLog, User, csrf_in, get, password_hash, post_form};

struct Site {
    app: Router,
    _log: TestLog,
}

/// A log with a few events of the real history, enough for every page to have content, on
/// this binary's backend (`ux_postgres.rs` runs these cases on PostgreSQL); `None` when that is
/// PostgreSQL and no test server is named (the case is then skipped, loudly).
fn site_with(writable: bool) -> Option<Site> {
    let log = TestLog::seeded_on(support::backend())?;
    let auth = writable.then(|| {
        AuthConfig::parse(&format!(
            "[[user]]\nname = \"anna\"\npassword_hash = \"{}\"\n",
            password_hash()
        ))
        .expect("valid configuration")
    });
    Some(Site {
        app: log.app(auth),
        _log: log,
    })
}

/// Signs anna in: her cookie and CSRF token.
async fn sign_in(app: &Router) -> User {
    support::sign_in(app, "anna", "/skriv").await
}

/// The opening tag of the element with `id`.
fn tag_with_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let start = html[..at].rfind('<').expect("a tag");
    let end = at + html[at..].find('>').expect("the tag ends");
    &html[start..=end]
}

async fn json_of(app: &Router, uri: &str) -> Value {
    let reply = get(app, uri, None).await;
    serde_json::from_str(&reply.body).expect("JSON")
}

#[tokio::test]
async fn a_refused_field_is_marked_described_and_linked_from_a_swedish_summary() {
    let Some(site) = site_with(true) else {
        return;
    };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    // The example from the issue: "ca 90" as a figure.
    let reply = post_form(
        app,
        "/skriv/nyckeltal",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("figure", "konsulter"),
            ("value", "ca 90"),
            ("label", "Konsulter i programmet"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let page = &reply.body;
    // The summary: an alert with the heading and a link to the field.
    let summary = tag_with_id(page, "fel");
    assert!(summary.contains("class=\"error-summary\""), "{summary}");
    assert!(summary.contains("role=\"alert\""), "{summary}");
    assert!(page.contains("<h2 id=\"fel-rubrik\">Det finns ett problem</h2>"));
    assert!(
        page.contains("<a href=\"#fig-value\">Ange ett tal, till exempel 120"),
        "the summary links to the field"
    );
    // The field: invalid, described by its message, the message beside it.
    let input = tag_with_id(page, "fig-value");
    assert!(input.contains("aria-invalid=\"true\""), "{input}");
    assert!(
        input.contains("aria-describedby=\"fig-value-fel\""),
        "{input}"
    );
    assert!(
        input.contains("value=\"ca 90\""),
        "what was typed is kept: {input}"
    );
    assert!(page.contains(
        "<p class=\"field-error\" id=\"fig-value-fel\"><span class=\"visually-hidden\">Fel: </span>Ange ett tal, till exempel 120"
    ));
    assert!(
        page.contains("value=\"Konsulter i programmet\""),
        "and the other fields"
    );
    // Only the refused field is marked.
    assert!(!tag_with_id(page, "fig-figure").contains("aria-invalid"));
    assert!(
        page.contains("<title>Fel: Skriv och publicera"),
        "the title says so"
    );
    // No internal names and no English.
    for internal in ["data.value", "is not a number", "\"ca 90\" is"] {
        assert!(!page.contains(internal), "{internal:?} is shown");
    }
}

#[tokio::test]
async fn every_problem_of_a_form_is_listed_at_once_in_the_order_of_the_form() {
    let Some(site) = site_with(true) else {
        return;
    };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    let reply = post_form(
        app,
        "/skriv/nyckeltal",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("figure", ""),
            ("value", "många"),
            ("occurred", "hösten 20x"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let links: Vec<&str> = ["#fig-figure", "#fig-value", "#fig-occurred"]
        .into_iter()
        .filter(|id| reply.body.contains(&format!("<a href=\"{id}\">")))
        .collect();
    assert_eq!(links.len(), 3, "{}", reply.body);
    let first = reply.body.find("href=\"#fig-figure\"").expect("first");
    let last = reply.body.find("href=\"#fig-occurred\"").expect("last");
    assert!(first < last, "in the order of the form");
    // A field with a hint is described by both.
    let occurred = tag_with_id(&reply.body, "fig-occurred");
    assert!(
        occurred.contains("aria-describedby=\"fig-occurred-fel occurred-hint\""),
        "{occurred}"
    );
    // A hostile value comes back escaped in the message and in the field.
    let hostile = post_form(
        app,
        "/skriv/nyckeltal",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("figure", "x"),
            ("value", "<script>alert(1)</script>"),
        ],
    )
    .await;
    assert!(!hostile.body.contains("<script>alert"));
    assert!(
        hostile
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
}

#[tokio::test]
async fn a_day_is_taken_as_people_write_it_wherever_one_is_asked() {
    let Some(site) = site_with(true) else {
        return;
    };
    let app = &site.app;
    let User { cookie, csrf } = sign_in(app).await;
    // A note standing until a day typed in words, dated with a slash.
    let note = post_form(
        app,
        "/skriv/notering",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("section", "operations"),
            ("text", "Inga beslut fattas innan mars."),
            ("lasts", "until"),
            ("until", "31 mars 2025"),
            ("occurred", "27/12 2024"),
        ],
    )
    .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER, "{}", note.body);
    let seq = note
        .location()
        .trim_start_matches("/logg/")
        .split('?')
        .next()
        .expect("a seq")
        .to_owned();
    let event = json_of(app, &format!("/api/events/{seq}")).await;
    assert_eq!(event["data"]["until"], "2025-03-31", "{event}");
    assert_eq!(event["occurred"], "2024-12-27", "{event}");
    // Publishing for a day in words.
    let published = post_form(
        app,
        "/publicera",
        Some(&cookie),
        &[("csrf", &csrf), ("date", "27 december 2024")],
    )
    .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let archive = json_of(app, "/api/reports").await;
    assert!(archive.to_string().contains("2024-12-27"), "{archive}");
    // The query parameters of the reading pages.
    for (uri, expected) in [
        ("/vagor?as_of=1+juni+2022", "Läget per 1 juni 2022"),
        ("/tidslinje?as_of=27%2F12+2024", "2024"),
        (
            "/forhandsvisning?date=27+december+2024",
            "Sammanfattande lägesbild",
        ),
        ("/skillnad?from=1+juni+2019&to=2022-06-01", "<h1>"),
    ] {
        let reply = get(app, uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
        assert!(reply.body.contains(expected), "{uri} lacks {expected:?}");
    }
    // A day that does not read: the page again, the field marked, the forms named.
    let bad = get(app, "/vagor?as_of=h%C3%B6sten+20x", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let input = tag_with_id(&bad.body, "as_of");
    assert!(input.contains("aria-invalid=\"true\""), "{input}");
    assert!(input.contains("value=\"hösten 20x\""), "{input}");
    assert!(
        bad.body
            .contains("Skriv till exempel 27 december 2024, 27/12 2024 eller 2024-12-27"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("<a href=\"#as_of\">"));
    let preview = get(app, "/forhandsvisning?date=30+februari+2024", None).await;
    assert_eq!(preview.status, StatusCode::BAD_REQUEST);
    assert!(
        preview
            .body
            .contains("Dagen 30 februari 2024 finns inte i kalendern")
    );
    assert!(tag_with_id(&preview.body, "date").contains("aria-invalid=\"true\""));
    let log = get(app, "/logg?occurred_from=2019-H3", None).await;
    assert_eq!(log.status, StatusCode::BAD_REQUEST);
    assert!(tag_with_id(&log.body, "occurred_from").contains("aria-invalid=\"true\""));
    assert!(
        log.body.contains("”2019-H3” är inget datum"),
        "{}",
        log.body
    );
}

#[tokio::test]
async fn the_menu_is_by_role_and_marks_where_you_are() {
    let Some(site) = site_with(true) else {
        return;
    };
    let app = &site.app;
    let home = get(app, "/", None).await;
    let menu_start = home
        .body
        .find("<nav class=\"menu\" aria-label=\"Huvudmeny\">")
        .expect("the menu");
    let menu =
        &home.body[menu_start..menu_start + home.body[menu_start..].find("</nav>").expect("ends")];
    let order: Vec<usize> = [
        ">Skriv</a>",
        ">Arkiv</a>",
        ">Analys</span>",
        ">Tidslinje</a>",
        ">Etapper</a>",
        ">Skillnad</a>",
        ">Granskning</span>",
        ">Logg</a>",
        ">Verifiera</a>",
        ">Avancerat</a>",
    ]
    .iter()
    .map(|label| {
        menu.find(label)
            .unwrap_or_else(|| panic!("{label} is not in the menu: {menu}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in this order: {menu}"
    );
    assert!(
        menu.contains("<a href=\"/utgavor\""),
        "Skriv is this week's edition"
    );
    assert!(
        menu.contains("aria-labelledby=\"meny-analys\""),
        "a group is named by its heading"
    );
    for (uri, current) in [
        ("/", "/rapporter"),
        ("/rapporter", "/rapporter"),
        ("/vagor", "/vagor"),
        ("/skillnad", "/skillnad"),
        ("/logg/1", "/logg"),
        ("/verifiera", "/verifiera"),
        ("/skriv", "/utgavor"),
        ("/utgavor/2024-W52", "/utgavor"),
        ("/forhandsvisning?date=2024-12-27", "/utgavor"),
        ("/granskning/avancerat", "/granskning/avancerat"),
    ] {
        let page = get(app, uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        assert!(
            page.body
                .contains(&format!("<a href=\"{current}\" aria-current=\"page\">")),
            "{uri} marks {current}"
        );
        assert_eq!(
            page.body.matches("aria-current=\"page\"").count(),
            1,
            "{uri}"
        );
    }
    // The raw-JSON, correction and retraction forms are under Granskning, not on /skriv.
    let User { cookie, .. } = sign_in(app).await;
    let write = get(app, "/skriv", Some(&cookie)).await;
    for action in [
        "/skriv/handelse",
        "/skriv/rattelse",
        "/skriv/tillbakadragande",
    ] {
        assert!(
            !write.body.contains(&format!("action=\"{action}\"")),
            "{action} on /skriv"
        );
    }
    for action in [
        "/skriv/notering",
        "/skriv/publicerat",
        "/skriv/nyckeltal",
        "/publicera",
    ] {
        assert!(
            write.body.contains(&format!("action=\"{action}\"")),
            "{action}"
        );
    }
    let advanced = get(app, "/granskning/avancerat", Some(&cookie)).await;
    for action in [
        "/skriv/handelse",
        "/skriv/rattelse",
        "/skriv/tillbakadragande",
    ] {
        assert!(
            advanced.body.contains(&format!("action=\"{action}\"")),
            "{action}"
        );
    }
    // A refused correction comes back on the advanced page.
    let csrf = csrf_in(&advanced.body);
    let refused = post_form(
        app,
        "/skriv/rattelse",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("target", ""),
            ("reason", ""),
            ("summary_text", ""),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("<h1>Avancerat"), "{}", refused.body);
    assert_eq!(refused.body.matches("class=\"field-error\"").count(), 3);
}

#[tokio::test]
async fn the_read_only_banner_is_shown_only_on_a_read_only_server() {
    let banner = "Servern körs i läsläge";
    let Some(writable) = site_with(true) else {
        return;
    };
    for uri in [
        "/",
        "/rapporter",
        "/skriv",
        "/vagor",
        "/logga-in",
        "/finns-inte",
    ] {
        let page = get(&writable.app, uri, None).await;
        assert!(!page.body.contains(banner), "{uri} on a writable server");
    }
    let Some(read_only) = site_with(false) else {
        return;
    };
    for uri in ["/", "/rapporter", "/skriv", "/vagor", "/logg"] {
        let page = get(&read_only.app, uri, None).await;
        assert!(page.body.contains(banner), "{uri} on a read-only server");
        assert!(
            !page.body.contains("href=\"/logga-in\""),
            "{uri}: no sign-in link"
        );
    }
}

#[tokio::test]
async fn pages_use_the_served_stylesheet_and_wide_tables_scroll_in_a_labelled_region() {
    let Some(site) = site_with(true) else {
        return;
    };
    let app = &site.app;
    let home = get(app, "/", None).await;
    let link_at = home
        .body
        .find("<link rel=\"stylesheet\" href=\"")
        .expect("a stylesheet")
        + 29;
    let href = &home.body[link_at..link_at + home.body[link_at..].find('"').expect("ends")];
    // Handlebars escapes `=` in attributes; the browser reads it back.
    assert!(href.starts_with("/stil.css?v&#x3D;"), "{href}");
    let sheet = get(app, &href.replace("&#x3D;", "="), None).await;
    assert_eq!(sheet.status, StatusCode::OK);
    assert_eq!(
        sheet.headers.get(header::CONTENT_TYPE).expect("a type"),
        "text/css; charset=utf-8"
    );
    assert!(sheet.body.contains(".error-summary"));
    // A published report, whose tables come from the report template.
    let User { cookie, csrf } = sign_in(app).await;
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
    let report = published.location().to_owned();
    for uri in [
        report.as_str(),
        "/",
        "/rapporter",
        "/vagor?as_of=2022-06-01",
        "/tidslinje",
        "/skillnad?from=2019-06-01",
        "/logg",
        "/logg/1",
        "/verifiera",
        "/skriv",
        "/forhandsvisning?date=2024-12-27",
        "/logga-in",
        "/finns-inte",
    ] {
        let page = get(app, uri, None).await;
        assert!(
            !page.body.contains("<style"),
            "{uri} has an inline stylesheet"
        );
        assert!(
            !page.body.contains(" style=\""),
            "{uri} has an inline style"
        );
        // Every table sits in a region that scrolls by itself, named and focusable.
        let tables = page.body.matches("<table").count();
        let regions = page
            .body
            .matches("<div class=\"table-wrap\" role=\"region\" aria-label")
            .count();
        assert_eq!(tables, regions, "{uri}: {tables} tables, {regions} regions");
        for region in page.body.split("role=\"region\"").skip(1) {
            let tag = &region[..region.find('>').expect("ends")];
            assert!(tag.contains("tabindex=\"0\""), "{uri}: {tag}");
            assert!(!tag.contains("aria-label=\"\""), "{uri}: {tag}");
            assert!(tag.contains("aria-label"), "{uri}: {tag}");
        }
    }
    let waves = get(app, "/vagor?as_of=2022-06-01", None).await;
    assert!(
        waves
            .body
            .contains("role=\"region\" aria-label=\"Etapper: plan, status"),
        "the wave table's region is named by its caption"
    );
}
