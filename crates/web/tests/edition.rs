//! The edition page through the router, without a socket: a week's edition written, edited,
//! reordered, brought over from last week, reviewed by a second person and published, then
//! republished as version 2; every new form refused without the session's CSRF token, by a
//! reader, and with its own work for approval; hostile text in every new field rendered inert.
//! The log is a temporary file seeded with the real history from `events/`, or a fresh
//! PostgreSQL database in `edition_postgres.rs`.

mod support;

use axum::Router;
use axum::http::StatusCode;
use lagesbild_render::report::TemplateSet;
use lagesbild_web::AuthConfig;
use serde_json::Value;
use support::{Reply, TestLog, User, get, password_hash, post, post_form};

const HOSTILE: &str =
    "<script>alert(1)</script> {{x}} **fet** ]]> \"citat\" & <img src=x onerror=alert(2)>";

struct Site {
    app: Router,
    log: TestLog,
}

/// anna (editor, the default role), bertil (approver), cecilia (reader), on this binary's
/// backend (`edition_postgres.rs` runs these cases on PostgreSQL); `None` when that is
/// PostgreSQL and no test server is named (the case is then skipped, loudly).
fn site(four_eyes: bool) -> Option<Site> {
    site_with(four_eyes, TemplateSet::embedded())
}

/// [`site`] with the server running the report templates `templates`.
fn site_with(four_eyes: bool, templates: TemplateSet) -> Option<Site> {
    let log = TestLog::seeded_on(support::backend())?;
    let auth = AuthConfig::parse(&format!(
        "four_eyes = {four_eyes}\ndistribution = \"politisk ledning, chefer och intranätet\"\n\
         [[user]]\nname = \"anna\"\npassword_hash = \"{h}\"\n\
         [[user]]\nname = \"bertil\"\npassword_hash = \"{h}\"\nrole = \"approver\"\n\
         [[user]]\nname = \"cecilia\"\npassword_hash = \"{h}\"\nrole = \"reader\"\n",
        h = password_hash()
    ))
    .expect("valid configuration");
    Some(Site {
        app: support::app(log.config(Some(auth), templates)),
        log,
    })
}

/// Signs `name` in, landing on the edition of 10 January 2025.
async fn sign_in(app: &Router, name: &str) -> User {
    support::sign_in(app, name, "/utgavor/2025-W02").await
}

async fn model(app: &Router, day: &str) -> Value {
    let reply = get(app, &format!("/api/report?date={day}"), None).await;
    serde_json::from_str(&reply.body).expect("the model as JSON")
}

fn seqs(model: &Value, section: &str) -> Vec<u64> {
    model[section]
        .as_array()
        .expect("a section")
        .iter()
        .map(|l| l["seq"].as_u64().expect("a seq"))
        .collect()
}

fn texts(model: &Value, section: &str) -> Vec<String> {
    model[section]
        .as_array()
        .expect("a section")
        .iter()
        .map(|l| l["text"].as_str().expect("a text").to_owned())
        .collect()
}

/// After a change the browser goes back to the edition, the point as the fragment.
fn assert_back(reply: &Reply, code: &str) {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(
        reply
            .location()
            .starts_with(&format!("/utgavor/2025-W02?klart={code}")),
        "{}",
        reply.location()
    );
}

/// Publishes the edition of 27 December 2024 under the four-eyes rule: anna submits, bertil
/// approves, anna publishes after the confirmation.
async fn publish_week_52(app: &Router, anna: &User, bertil: &User) -> String {
    let submitted = post(
        app,
        "/utgavor/2024-W52/granskning",
        anna,
        &[("steg", "skicka")],
    )
    .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    let approved = post(
        app,
        "/utgavor/2024-W52/granskning",
        bertil,
        &[("steg", "godkann")],
    )
    .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let published = post(
        app,
        "/utgavor/2024-W52/publicera",
        anna,
        &[("bekrafta", "ja")],
    )
    .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    assert!(published.location().starts_with("/rapporter/"));
    published.location().to_owned()
}

#[tokio::test]
async fn the_weekly_job_from_last_week_to_a_published_second_version() {
    let Some(site) = site(true) else {
        return;
    };
    let app = &site.app;
    let anna = sign_in(app, "anna").await;
    let bertil = sign_in(app, "bertil").await;

    // The edition of 27 December 2024 is the bundled one; its page reads as the report does.
    let page = get(app, "/utgavor/2024-W52", Some(&anna.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("vecka 52 · 27 december 2024 · nr 1"),
        "the heading"
    );
    let order: Vec<usize> = [
        "Sammanfattande lägesbild",
        "Kommunikativ lägesbild",
        "Verksamhetens kommentar",
        "Kommunikativa åtgärder, urval",
        "Samlad information",
        "Talesperson VGR",
        "Nyckeltal",
        "Om Samordning vårdinformationssystem",
    ]
    .iter()
    .map(|h| {
        page.body
            .find(&format!(">{h}</h2>"))
            .unwrap_or_else(|| panic!("{h}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "the real order");
    assert!(
        page.body.contains("Står till och med 31 mars 2025"),
        "how long it stands"
    );

    // Publishing is refused until someone else approved it, and nobody approves their own.
    let early = post(
        app,
        "/utgavor/2024-W52/publicera",
        &anna,
        &[("bekrafta", "ja")],
    )
    .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert!(early.body.contains("godkännas av någon annan"));
    post(
        app,
        "/utgavor/2024-W52/granskning",
        &bertil,
        &[("steg", "skicka")],
    )
    .await;
    let own = post(
        app,
        "/utgavor/2024-W52/granskning",
        &bertil,
        &[("steg", "godkann")],
    )
    .await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{}", own.body);
    assert!(
        own.body.contains("någon annan måste godkänna"),
        "{}",
        own.body
    );
    let editor = post(
        app,
        "/utgavor/2024-W52/granskning",
        &anna,
        &[("steg", "godkann")],
    )
    .await;
    assert_eq!(
        editor.status,
        StatusCode::CONFLICT,
        "an editor does not approve"
    );

    // The confirmation says the day, week, number, and where it goes.
    let confirm = get(app, "/utgavor/2024-W52/publicera", Some(&anna.cookie)).await;
    assert!(
        confirm.body.contains("<dt>Vecka</dt><dd>52</dd>"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("<dt>Nummer</dt><dd>1</dd>"));
    assert!(
        confirm
            .body
            .contains("politisk ledning, chefer och intranätet")
    );
    let first = publish_week_52(app, &anna, &bertil).await;
    let report = get(app, &format!("{first}/md"), None).await;
    assert!(
        report.body.starts_with(
            "# Regional rapport Samordning vårdinformationssystem · vecka 52 · 27 december 2024 · nr 1\n"
        ),
        "{}",
        &report.body[..200]
    );

    // Week 2: start from last week. Dated points come as suggestions, not in the report yet.
    let before = model(app, "2025-01-10").await;
    assert_eq!(seqs(&before, "summary"), Vec::<u64>::new());
    let started = post(app, "/utgavor/2025-W02/forra-veckan", &anna, &[]).await;
    assert_back(&started, "hamtade");
    let page = get(app, started.location(), Some(&anna.cookie)).await;
    assert!(
        page.body
            .contains("13 punkter från förra veckan är hämtade"),
        "the status"
    );
    assert!(
        page.body
            .contains("13 förslag från förra veckan är inte genomgångna")
    );
    let proposed: Vec<(u64, String)> = model(app, "2025-01-10").await["proposed"]
        .as_array()
        .expect("suggestions")
        .iter()
        .map(|p| {
            (
                p["line"]["seq"].as_u64().expect("seq"),
                p["section"].as_str().expect("section").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        proposed.len(),
        13,
        "6 + 4 + 3: the until-note stands by itself"
    );
    // Doing it twice brings nothing twice.
    let again = post(app, "/utgavor/2025-W02/forra-veckan", &anna, &[]).await;
    assert!(again.location().contains("antal=0"), "{}", again.location());
    // Submitting with suggestions open is refused.
    let refused = post(
        app,
        "/utgavor/2025-W02/granskning",
        &anna,
        &[("steg", "skicka")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    // Edit one suggestion (which keeps it), drop one, keep the rest at once.
    let (edited, _) = proposed[0].clone();
    let revise = post(
        app,
        &format!("/utgavor/2025-W02/punkter/{edited}"),
        &anna,
        &[
            (
                "text",
                "Veckan efter helgerna har präglats av uppstart och planering.",
            ),
            (
                "points",
                "Dialogmöten fortsätter\n\nUtvärderingen sammanställs",
            ),
            ("lasts", "week"),
        ],
    )
    .await;
    assert_back(&revise, "andrad");
    assert!(revise.location().ends_with(&format!("#punkt-{edited}")));
    let (dropped, _) = proposed[1].clone();
    assert_back(
        &post(
            app,
            &format!("/utgavor/2025-W02/poster/{dropped}/ta-bort"),
            &anna,
            &[],
        )
        .await,
        "borttagen",
    );
    let kept = post(app, "/utgavor/2025-W02/behall", &anna, &[]).await;
    assert_back(&kept, "behallen");
    assert!(kept.location().contains("antal=11"), "{}", kept.location());
    let now = model(app, "2025-01-10").await;
    assert!(
        now.get("proposed").is_none(),
        "every suggestion gone through"
    );
    let summary = seqs(&now, "summary");
    assert_eq!(summary.len(), 5, "six less the one dropped");
    assert_eq!(summary[0], edited);
    assert_eq!(
        now["summary"][0]["points"],
        serde_json::json!(["Dialogmöten fortsätter", "Utvärderingen sammanställs"])
    );

    // Move the first point down, add one first in operations, add a figure.
    assert_back(
        &post(
            app,
            &format!("/utgavor/2025-W02/punkter/{edited}/flytta"),
            &anna,
            &[("riktning", "ned")],
        )
        .await,
        "flyttad",
    );
    let added = post(
        app,
        "/utgavor/2025-W02/punkter",
        &anna,
        &[
            ("section", "operations"),
            (
                "text",
                "Analysen av produktionsbortfallet presenteras i februari.",
            ),
            ("lasts", "until"),
            ("until", "2025-01-15"),
            ("position", "0"),
        ],
    )
    .await;
    assert_back(&added, "tillagd");
    let bad_figure = post(
        app,
        "/utgavor/2025-W02/nyckeltal",
        &anna,
        &[
            ("figure", "konsulter"),
            ("label", "Konsulter"),
            ("value", "ca 90"),
            ("unit", "st"),
        ],
    )
    .await;
    assert_eq!(bad_figure.status, StatusCode::BAD_REQUEST);
    assert!(bad_figure.body.contains("Ange ett tal, till exempel 120"));
    assert!(
        bad_figure.body.contains(
            "id=\"nyckeltal-value\" name=\"value\" value=\"ca 90\" aria-invalid=\"true\""
        )
    );
    assert!(
        bad_figure.body.contains("href=\"#nyckeltal-value\""),
        "the error summary links to the field"
    );
    assert_back(
        &post(
            app,
            "/utgavor/2025-W02/nyckeltal",
            &anna,
            &[
                ("figure", "konsulter"),
                ("label", "Konsulter i programmet"),
                ("value", "90"),
                ("unit", "st"),
            ],
        )
        .await,
        "nyckeltal",
    );
    let now = model(app, "2025-01-10").await;
    assert_eq!(seqs(&now, "summary")[1], edited, "moved down one");
    assert_eq!(
        texts(&now, "operations")[0],
        "Analysen av produktionsbortfallet presenteras i februari.",
        "added first"
    );
    assert_eq!(now["number"], 2);
    assert!(
        now["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .any(|f| f["value"] == 90.0)
    );

    // What changed: point by point against the edition of 27 December, word by word.
    let page = get(app, "/utgavor/2025-W02", Some(&anna.cookie)).await;
    assert!(
        page.body
            .contains("Ändrat sedan utgåvan 27 december 2024 (nr 1)")
    );
    assert!(page.body.contains("<strong>Ändrad:</strong>"));
    assert!(page.body.contains("<ins>"), "a word-level diff");
    assert!(page.body.contains("<strong>Borttagen:</strong>"));
    assert!(
        page.body
            .contains("<strong>Ny:</strong> Analysen av produktionsbortfallet")
    );
    assert!(
        page.body.contains("kommer inte med i nästa veckas rapport"),
        "the until flag"
    );

    // Review, approval by bertil, publish on the edition's day.
    assert_back(
        &post(
            app,
            "/utgavor/2025-W02/granskning",
            &anna,
            &[("steg", "skicka")],
        )
        .await,
        "inskickad",
    );
    let returned = post(
        app,
        "/utgavor/2025-W02/granskning",
        &bertil,
        &[("steg", "tillbaka")],
    )
    .await;
    assert_eq!(
        returned.status,
        StatusCode::BAD_REQUEST,
        "a comment is needed"
    );
    assert!(returned.body.contains("Skriv vad som behöver ändras"));
    assert_back(
        &post(
            app,
            "/utgavor/2025-W02/granskning",
            &bertil,
            &[("steg", "godkann")],
        )
        .await,
        "godkand",
    );
    let published = post(
        app,
        "/utgavor/2025-W02/publicera",
        &anna,
        &[("bekrafta", "ja")],
    )
    .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let v1 = published.location().to_owned();
    let md = get(app, &format!("{v1}/md"), None).await;
    assert!(
        md.body.contains("· vecka 2 · 10 januari 2025 · nr 2\n"),
        "{}",
        &md.body[..200]
    );

    // Version 2: change a point, review again, publish again.
    let changed = seqs(&model(app, "2025-01-10").await, "communications")[0];
    post(
        app,
        &format!("/utgavor/2025-W02/punkter/{changed}"),
        &anna,
        &[
            (
                "text",
                "Intresset för Millennium har minskat efter helgerna.",
            ),
            ("lasts", "week"),
        ],
    )
    .await;
    let stale = post(
        app,
        "/utgavor/2025-W02/publicera",
        &anna,
        &[("bekrafta", "ja")],
    )
    .await;
    assert_eq!(
        stale.status,
        StatusCode::CONFLICT,
        "the approval was of version 1"
    );
    post(
        app,
        "/utgavor/2025-W02/granskning",
        &anna,
        &[("steg", "skicka")],
    )
    .await;
    post(
        app,
        "/utgavor/2025-W02/granskning",
        &bertil,
        &[("steg", "godkann")],
    )
    .await;
    let confirm = get(app, "/utgavor/2025-W02/publicera", Some(&anna.cookie)).await;
    assert!(
        confirm
            .body
            .contains("ersätter den publicerade versionen 1"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("Ändrat sedan version 1"));
    let published = post(
        app,
        "/utgavor/2025-W02/publicera",
        &anna,
        &[("bekrafta", "ja")],
    )
    .await;
    let v2 = published.location().to_owned();
    assert_ne!(v1, v2);
    let md = get(app, &format!("{v2}/md"), None).await;
    assert!(
        md.body.contains("· nr 2 · version 2\n"),
        "{}",
        &md.body[..200]
    );
    let archive = get(app, "/rapporter", None).await;
    assert_eq!(
        archive
            .body
            .matches("Regional rapport 2025-01-10</a>")
            .count(),
        2,
        "both versions"
    );
    assert!(
        archive
            .body
            .contains("version 2 <strong>(gällande)</strong>")
    );
    assert!(
        archive
            .body
            .contains(&format!("(ersatt av <a href=\"{v2}\">"))
    );
    assert!(
        archive
            .body
            .contains("0 nya, 1 ändrade och 0 borttagna punkter mot version 1"),
        "{}",
        archive.body
    );
    // Both versions still reproduce byte for byte.
    for permalink in [&v1, &v2] {
        let page = get(app, permalink, None).await;
        assert_eq!(
            page.body.matches("återskapad byte för byte").count(),
            3,
            "{permalink}: md, html and pdf"
        );
    }

    // The edition as it stood before the change is still there.
    let earlier = get(
        app,
        &format!("/utgavor/2025-W02?vid={}", site.log.head() - 6),
        None,
    )
    .await;
    assert!(
        earlier
            .body
            .contains("Så här såg utgåvan ut efter händelse")
    );
    assert!(
        !earlier
            .body
            .contains("Intresset för Millennium har minskat efter helgerna.")
    );
}

#[tokio::test]
async fn every_new_form_needs_the_csrf_token_a_writer_and_an_approver() {
    let Some(site) = site(false) else {
        return;
    };
    let app = &site.app;
    let anna = sign_in(app, "anna").await;
    let cecilia = sign_in(app, "cecilia").await;
    let point = seqs(&model(app, "2024-12-27").await, "summary")[0];
    let routes = [
        "/utgavor/2024-W52/punkter".to_owned(),
        format!("/utgavor/2024-W52/punkter/{point}"),
        format!("/utgavor/2024-W52/punkter/{point}/flytta"),
        format!("/utgavor/2024-W52/poster/{point}"),
        format!("/utgavor/2024-W52/poster/{point}/ta-bort"),
        "/utgavor/2024-W52/forra-veckan".to_owned(),
        "/utgavor/2024-W52/behall".to_owned(),
        "/utgavor/2024-W52/nyckeltal".to_owned(),
        "/utgavor/2024-W52/lankar".to_owned(),
        "/utgavor/2024-W52/granskning".to_owned(),
        "/utgavor/2024-W52/publicera".to_owned(),
    ];
    let fields = [
        ("section", "summary"),
        ("text", "Ny text"),
        ("riktning", "ned"),
        ("title", "Titel"),
        ("figure", "konsulter"),
        ("value", "1"),
        ("steg", "skicka"),
        ("bekrafta", "ja"),
    ];
    let before = site.log.head();
    for route in &routes {
        // No token, another session's token, a reader's session, nobody signed in.
        let mut no_token = fields.to_vec();
        no_token.push(("csrf", ""));
        let reply = post_form(app, route, Some(&anna.cookie), &no_token).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{route} without CSRF");
        let mut foreign = fields.to_vec();
        foreign.push(("csrf", &cecilia.csrf));
        let reply = post_form(app, route, Some(&anna.cookie), &foreign).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{route} with another's CSRF"
        );
        let reply = post(app, route, &cecilia, &fields).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{route} by a reader");
        assert!(
            reply.body.contains("läsbehörighet"),
            "{route}: {}",
            reply.body
        );
        let reply = post_form(app, route, None, &fields).await;
        assert!(
            reply.status == StatusCode::SEE_OTHER && reply.location() == "/logga-in",
            "{route} signed out: {}",
            reply.status
        );
    }
    assert_eq!(site.log.head(), before, "nothing was written");
    // A reader sees the edition without the forms.
    let page = get(app, "/utgavor/2024-W52", Some(&cecilia.cookie)).await;
    assert!(
        !page.body.contains("/punkter\""),
        "no add form for a reader"
    );
    assert!(page.body.contains("Sammanfattande lägesbild"));
}

#[tokio::test]
async fn without_the_four_eyes_rule_publishing_asks_for_a_confirmation_first() {
    let Some(site) = site(false) else {
        return;
    };
    let app = &site.app;
    let anna = sign_in(app, "anna").await;
    let before = site.log.head();
    let unconfirmed = post(app, "/utgavor/2024-W52/publicera", &anna, &[]).await;
    assert_eq!(unconfirmed.status, StatusCode::SEE_OTHER);
    assert_eq!(unconfirmed.location(), "/utgavor/2024-W52/publicera");
    assert_eq!(
        site.log.head(),
        before,
        "nothing published without the confirmation"
    );
    let confirm = get(app, unconfirmed.location(), Some(&anna.cookie)).await;
    for expected in [
        "<dt>Rapportdag</dt><dd>27 december 2024</dd>",
        "<dt>Vecka</dt><dd>52</dd>",
        "<dt>Nummer</dt><dd>1</dd>",
        "<dt>Version</dt><dd>1</dd>",
        "<dt>Skickas till</dt><dd>politisk ledning, chefer och intranätet</dd>",
        "Första utgåvan i serien",
        "name=\"bekrafta\" value=\"ja\"",
    ] {
        assert!(
            confirm.body.contains(expected),
            "{expected}: {}",
            confirm.body
        );
    }
    let published = post(
        app,
        "/utgavor/2024-W52/publicera",
        &anna,
        &[("bekrafta", "ja")],
    )
    .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let reports = get(app, "/api/reports", None).await;
    let reports: Value = serde_json::from_str(&reports.body).expect("JSON");
    assert_eq!(
        reports["reports"][0]["published"]["report_date"], "2024-12-27",
        "the edition's day, not today"
    );
    // A second publication is version 2, never a silent duplicate.
    let again = get(app, "/utgavor/2024-W52/publicera", Some(&anna.cookie)).await;
    assert!(
        again
            .body
            .contains("Publicera version 2 av utgåvan 27 december 2024")
    );
}

#[tokio::test]
async fn hostile_text_in_every_new_field_renders_inert() {
    let Some(site) = site(true) else {
        return;
    };
    let app = &site.app;
    let anna = sign_in(app, "anna").await;
    let bertil = sign_in(app, "bertil").await;
    let day = "2024-W52";
    let model = model(app, "2024-12-27").await;
    let point = seqs(&model, "summary")[0];
    let link = model["collected"][0]["seq"].as_u64().expect("a link");
    let role = model["spokespersons"][0]["seq"].as_u64().expect("a role");
    for (route, fields) in [
        (
            format!("/utgavor/{day}/punkter"),
            vec![
                ("section", "summary"),
                ("text", HOSTILE),
                ("points", HOSTILE),
                ("lasts", "week"),
            ],
        ),
        (
            format!("/utgavor/{day}/punkter/{point}"),
            vec![
                ("text", HOSTILE),
                ("points", HOSTILE),
                ("lasts", "standing"),
            ],
        ),
        (
            format!("/utgavor/{day}/nyckeltal"),
            vec![
                ("figure", "fientlig"),
                ("label", HOSTILE),
                ("value", "3"),
                ("unit", HOSTILE),
            ],
        ),
        (
            format!("/utgavor/{day}/lankar"),
            vec![
                ("title", HOSTILE),
                ("url", "https://example.invalid/samlat?a=1&b=2"),
                ("listing", "collected"),
            ],
        ),
        (
            format!("/utgavor/{day}/poster/{link}"),
            vec![("title", HOSTILE), ("detail", "")],
        ),
        (
            format!("/utgavor/{day}/poster/{role}"),
            vec![("title", HOSTILE), ("detail", HOSTILE)],
        ),
    ] {
        let reply = post(app, &route, &anna, &fields).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{route}: {}",
            reply.body
        );
    }
    post(
        app,
        &format!("/utgavor/{day}/granskning"),
        &anna,
        &[("steg", "skicka")],
    )
    .await;
    let returned = post(
        app,
        &format!("/utgavor/{day}/granskning"),
        &bertil,
        &[("steg", "tillbaka"), ("comment", HOSTILE)],
    )
    .await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);
    // An address that is not one is refused in Swedish, at the field.
    let bad_url = post(
        app,
        &format!("/utgavor/{day}/lankar"),
        &anna,
        &[
            ("title", "Länk"),
            ("url", "javascript:alert(1)"),
            ("listing", "collected"),
        ],
    )
    .await;
    assert_eq!(bad_url.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_url
            .body
            .contains("Ange en fullständig länk som börjar med https://")
    );
    assert!(bad_url.body.contains(
        "id=\"lank-url\" name=\"url\" value=\"javascript:alert(1)\" aria-invalid=\"true\""
    ));
    // A refused form shows what was typed, escaped, too.
    let refused = post(
        app,
        &format!("/utgavor/{day}/nyckeltal"),
        &anna,
        &[("figure", "x"), ("label", HOSTILE), ("value", HOSTILE)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let history_pages = [
        get(app, &format!("/utgavor/{day}"), Some(&anna.cookie)).await,
        get(
            app,
            &format!("/utgavor/{day}/publicera"),
            Some(&anna.cookie),
        )
        .await,
        refused,
    ];
    for page in &history_pages {
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(!page.body.contains("<img src=x"), "escaped");
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    assert!(
        history_pages[0]
            .body
            .contains("Skickad tillbaka av bertil: &lt;script&gt;")
    );
    // And in the report itself, in both formats.
    let md = get(app, "/api/report?date=2024-12-27&format=md", None).await;
    assert!(
        md.body.contains("&lt;script>alert(1)&lt;/script>"),
        "{}",
        md.body
    );
    assert!(
        !md.body.contains("<script>") && !md.body.contains("<img"),
        "{}",
        md.body
    );
    let html = get(app, "/api/report?date=2024-12-27&format=html", None).await;
    assert!(!html.body.contains("<script>alert"));
    // A status code in the address never puts text on the page.
    let page = get(
        app,
        "/utgavor/2024-W52?klart=%3Cscript%3E&punkt=%3Cb%3E",
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>") && !page.body.contains("<b>"));
    // Unknown editions are a 404, in Swedish.
    let missing = get(app, "/utgavor/2024-W60", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// An edition published with an earlier released template set, on a server whose templates
/// have changed since, still serves its page and its files byte for byte (it answered 409 when
/// only the server's own templates were known).
#[tokio::test]
async fn an_edition_published_before_a_template_change_still_serves() {
    let mut changed = TemplateSet::embedded();
    changed.origin = "changed".into();
    for (name, text) in &mut changed.files {
        *text = text.replace("Samlad information", "Samlad info");
        assert!(name.starts_with("report"));
    }
    let Some(site) = site_with(false, changed) else {
        return;
    };
    let earlier_digest = "9be704e6bf2840899a031e34073d62a40cfbf5758720dba82e2ba175d4aed79e";
    let earlier = TemplateSet::released()
        .into_iter()
        .find(|set| set.digest() == earlier_digest)
        .expect("the set of f192b4c is released");
    let day = chrono::NaiveDate::from_ymd_opt(2024, 12, 27).expect("a day");
    // Off tokio's thread, where either backend's store may block.
    let published = site.log.with_store(|store| {
        lagesbild_app::publish::publish(
            store,
            &earlier,
            day,
            day.and_hms_opt(11, 15, 0).expect("a time"),
            Some("anna"),
        )
        .expect("publishes")
    });
    let anna = sign_in(&site.app, "anna").await;
    let seq = published.seq;
    for (format, bytes) in &published.outputs {
        let file = get(
            &site.app,
            &format!("/rapporter/{seq}/{}", format.name()),
            Some(&anna.cookie),
        )
        .await;
        assert_eq!(file.status, StatusCode::OK, "{}", file.body);
        assert_eq!(file.body.as_bytes(), bytes, "{format:?} byte for byte");
        assert!(file.body.contains("Samlad information"));
    }
    let page = get(&site.app, &format!("/rapporter/{seq}"), Some(&anna.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body.matches("återskapad byte för byte").count(),
        2,
        "{}",
        page.body
    );
    assert!(!page.body.contains("andra mallar"), "{}", page.body);
    assert!(page.body.contains(earlier_digest));
}

/// What a person sees when an edition form refuses what they typed: the Swedish message next to
/// the field (`id="FIELD-fel"`), the control marked `aria-invalid` and described by it, the
/// summary at the top linking to the field, and what was typed kept.
fn assert_at_field(reply: &Reply, field: &str, message: &str) {
    let body = &reply.body;
    let at = format!(
        "<p class=\"field-error\" id=\"{field}-fel\"><span class=\"visually-hidden\">Fel: </span>"
    );
    let start = body
        .find(&at)
        .unwrap_or_else(|| panic!("no message at {field}: {body}"))
        + at.len();
    let shown = &body[start..start + body[start..].find("</p>").expect("closed")];
    assert!(
        shown.contains(message),
        "{field}: {shown:?}, wanted {message:?}"
    );
    assert!(
        body.contains(&format!("id=\"{field}\"")),
        "the control {field} is on the page"
    );
    let control = &body[body.find(&format!("id=\"{field}\"")).expect("control")..];
    let control = &control[..control.find('>').expect("tag")];
    assert!(
        control.contains("aria-invalid=\"true\"")
            && control.contains(&format!("aria-describedby=\"{field}-fel")),
        "{field}: {control}"
    );
    let summary = &body[body
        .find("class=\"error-summary\"")
        .expect("an error summary")..];
    let summary = &summary[..summary.find("</div>").expect("closed")];
    assert!(
        summary.contains(&format!("<a href=\"#{field}\">")),
        "the summary links to {field}: {summary}"
    );
    assert_no_internal_words(reply);
}

/// No English reason and no model field name reaches the page.
fn assert_no_internal_words(reply: &Reply) {
    for word in [
        "data.",
        "is not a",
        "must be",
        "not a number",
        "bidirectional",
        "the text",
        "summary:",
        "expected",
    ] {
        let visible = reply.body.replace("aria-invalid", "");
        assert!(
            !visible.contains(word),
            "{word:?} on the page: {}",
            reply.body
        );
    }
}

fn seq_in(location: &str) -> String {
    let at = location.find("punkt=").expect("a point in the address") + 6;
    location[at..]
        .split(['&', '#'])
        .next()
        .expect("a seq")
        .to_owned()
}

#[tokio::test]
async fn every_edition_form_shows_its_refusals_at_the_field_in_swedish() {
    let Some(site) = site(true) else {
        return;
    };
    let app = &site.app;
    let anna = sign_in(app, "anna").await;
    let bertil = sign_in(app, "bertil").await;
    let edition = "/utgavor/2025-W02";

    // Adding a point: every problem at once, at its field, with what was typed kept.
    let add = post(
        app,
        &format!("{edition}/punkter"),
        &anna,
        &[
            ("section", "summary"),
            ("text", "  "),
            ("points", "En underpunkt"),
            ("lasts", "until"),
            ("until", "hösten 20x"),
        ],
    )
    .await;
    assert_eq!(add.status, StatusCode::BAD_REQUEST);
    assert_at_field(&add, "ny-summary-text", "Skriv punktens text");
    assert_at_field(&add, "ny-summary-until", "”hösten 20x” är ingen dag");
    assert!(
        add.body.contains("value=\"hösten 20x\""),
        "the day as typed"
    );
    assert!(
        add.body.contains(">En underpunkt</textarea>"),
        "the sub-points as typed"
    );
    // The use case's own check: a last day is needed when the point stands until one.
    let no_day = post(
        app,
        &format!("{edition}/punkter"),
        &anna,
        &[
            ("section", "summary"),
            ("text", "Punkt"),
            ("lasts", "until"),
        ],
    )
    .await;
    assert_eq!(no_day.status, StatusCode::BAD_REQUEST);
    assert_at_field(
        &no_day,
        "ny-summary-until",
        "Ange den sista dagen punkten står",
    );
    // A day is taken as people write it.
    let added = post(
        app,
        &format!("{edition}/punkter"),
        &anna,
        &[
            ("section", "summary"),
            ("text", "Utbildningen fortsätter."),
            ("lasts", "until"),
            ("until", "31 mars 2025"),
        ],
    )
    .await;
    assert_back(&added, "tillagd");
    let point = seq_in(added.location());
    // Where to add a point is chosen among the points there are.
    let bad_position = post(
        app,
        &format!("{edition}/punkter"),
        &anna,
        &[("section", "summary"), ("text", "Punkt"), ("position", "x")],
    )
    .await;
    assert_at_field(
        &bad_position,
        "ny-summary-position",
        "Välj var punkten ska stå",
    );

    // Editing it: a last day before the point's own day, and a hidden control character.
    let form = format!("punkt-{point}");
    let early = post(
        app,
        &format!("{edition}/punkter/{point}"),
        &anna,
        &[
            ("text", "Utbildningen fortsätter i februari."),
            ("lasts", "until"),
            ("until", "27/12 2024"),
        ],
    )
    .await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST);
    assert_at_field(
        &early,
        &format!("{form}-until"),
        "Den sista dagen kan inte vara före punktens egen dag",
    );
    assert!(
        early
            .body
            .contains(">Utbildningen fortsätter i februari.</textarea>")
    );
    let hidden = post(
        app,
        &format!("{edition}/punkter/{point}"),
        &anna,
        &[("text", "Vänd\u{202E}text"), ("lasts", "week")],
    )
    .await;
    assert_eq!(hidden.status, StatusCode::BAD_REQUEST);
    assert_at_field(&hidden, &format!("{form}-text"), "otillåtet styrtecken");
    let sub = post(
        app,
        &format!("{edition}/punkter/{point}"),
        &anna,
        &[
            ("text", "Punkt"),
            ("points", &"x".repeat(4001)),
            ("lasts", "week"),
        ],
    )
    .await;
    assert_at_field(&sub, &format!("{form}-points"), "högst 4 000 tecken");
    // Moving the only point up is the form's own problem, shown by the point.
    let up = post(
        app,
        &format!("{edition}/punkter/{point}/flytta"),
        &anna,
        &[("riktning", "upp")],
    )
    .await;
    if up.status != StatusCode::SEE_OTHER {
        assert!(
            up.body.contains(&format!("id=\"{form}-fel\"")),
            "{}",
            up.body
        );
        assert!(up.body.contains(&format!("href=\"#{form}-fel\"")));
        assert_no_internal_words(&up);
    }

    // A figure: a name that is no id and a value that is no number, both at once.
    let figure = post(
        app,
        &format!("{edition}/nyckeltal"),
        &anna,
        &[
            ("figure", "Konsulter!"),
            ("label", "Konsulter"),
            ("value", "ca 90"),
            ("unit", "st"),
        ],
    )
    .await;
    assert_eq!(figure.status, StatusCode::BAD_REQUEST);
    assert_at_field(&figure, "nyckeltal-figure", "små bokstäver a–z");
    assert_at_field(&figure, "nyckeltal-value", "Ange ett tal, till exempel 120");
    assert!(figure.body.contains("value=\"ca 90\""));

    // A link: no title and an address that is no https link.
    let link = post(
        app,
        &format!("{edition}/lankar"),
        &anna,
        &[
            ("title", ""),
            ("url", "ftp://example.invalid/"),
            ("listing", "collected"),
        ],
    )
    .await;
    assert_eq!(link.status, StatusCode::BAD_REQUEST);
    assert_at_field(&link, "lank-title", "Skriv länkens titel");
    assert_at_field(&link, "lank-url", "https://");
    assert!(link.body.contains("value=\"ftp://example.invalid/\""));
    let added = post(
        app,
        &format!("{edition}/lankar"),
        &anna,
        &[
            ("title", "Frågor och svar"),
            ("url", "https://example.invalid/fragor"),
            ("listing", "collected"),
        ],
    )
    .await;
    assert_back(&added, "lank");
    let item = seq_in(added.location());

    // Editing the link in place: no title, then a hostile address.
    let untitled = post(
        app,
        &format!("{edition}/poster/{item}"),
        &anna,
        &[("title", " "), ("detail", "https://example.invalid/fragor")],
    )
    .await;
    assert_eq!(untitled.status, StatusCode::BAD_REQUEST);
    assert_at_field(
        &untitled,
        &format!("post-{item}-title"),
        "Skriv länkens titel",
    );
    let script = post(
        app,
        &format!("{edition}/poster/{item}"),
        &anna,
        &[("title", "Frågor"), ("detail", "javascript:alert(1)")],
    )
    .await;
    assert_eq!(script.status, StatusCode::BAD_REQUEST);
    assert_at_field(&script, &format!("post-{item}-detail"), "https://");
    assert!(script.body.contains("value=\"javascript:alert(1)\""));

    // Review: sending back needs a comment; nobody approves their own edition.
    assert_back(
        &post(
            app,
            &format!("{edition}/granskning"),
            &anna,
            &[("steg", "skicka")],
        )
        .await,
        "inskickad",
    );
    let bare = post(
        app,
        &format!("{edition}/granskning"),
        &bertil,
        &[("steg", "tillbaka"), ("comment", "")],
    )
    .await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST);
    assert_at_field(&bare, "granskning-comment", "Skriv vad som behöver ändras");
    let own = post(
        app,
        &format!("{edition}/granskning"),
        &anna,
        &[("steg", "godkann"), ("comment", "")],
    )
    .await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    assert!(
        own.body.contains("<a href=\"#granskning-fel\">"),
        "{}",
        own.body
    );
    assert!(own.body.contains("id=\"granskning-fel\""));
    assert_no_internal_words(&own);

    // Publishing before approval: back on the confirmation, the reason by the button.
    let early = post(
        app,
        &format!("{edition}/publicera"),
        &anna,
        &[("bekrafta", "ja")],
    )
    .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert!(
        early.body.contains("<h1>Publicera utgåvan"),
        "the confirmation page"
    );
    assert!(
        early.body.contains("<a href=\"#publicera-fel\">"),
        "{}",
        early.body
    );
    assert!(early.body.contains("id=\"publicera-fel\""));
    assert_no_internal_words(&early);
}

/// The matter a note of the bundled history follows (KPMG's review) closes before the
/// edition of 10 January 2025: the note is out of the report, and the edition page flags it
/// with a way to edit it (so it stands another way) or remove it.
fn close_the_kpmg_review(log: &TestLog) -> u64 {
    let closing = lagesbild_model::parse_event(
        r#"{"kind":"review_completed","occurred":"2025-01-08","summary":"KPMG lämnade sin granskning.","source":{"title":"Granskningsrapport"},"data":{"matter":"kpmg-granskning","finding":"Styrningen var otillräcklig."}}"#,
    )
    .expect("valid");
    log.with_store(|store| {
        store.append(&[closing], &[]).expect("appends");
        store
            .event(&lagesbild_store::EventRef::Key(
                "rapport-2024-12-27-operations-4".parse().expect("a key"),
            ))
            .expect("reads")
            .expect("the note of 27 December")
            .seq
    })
}

#[tokio::test]
async fn a_note_whose_matter_closed_is_flagged_to_edit_or_remove() {
    const NOTE: &str = "Inga beslut om framtiden fattas innan den externa granskningen";
    for removing in [false, true] {
        let Some(site) = site(false) else {
            return;
        };
        let app = &site.app;
        let seq = close_the_kpmg_review(&site.log);
        let anna = sign_in(app, "anna").await;
        let before = model(app, "2025-01-10").await;
        assert!(
            !texts(&before, "operations")
                .iter()
                .any(|t| t.contains(NOTE)),
            "out of the report once its matter closed"
        );
        assert_eq!(before["lapsed_notes"][0]["seq"], seq);
        let page = get(app, "/utgavor/2025-W02", Some(&anna.cookie)).await;
        let flags = &page.body[page.body.find("id=\"att-kontrollera\"").expect("flags")..];
        let flags = &flags[..flags.find("</section>").expect("closed")];
        assert!(
            flags.contains(&format!("<a href=\"#punkt-{seq}\">”{NOTE}")),
            "{flags}"
        );
        assert!(
            flags.contains("står tills ärendet är avslutat – ärendet avslutades januari 2025")
                || flags
                    .contains("står tills ärendet är avslutat – ärendet avslutades 8 januari 2025"),
            "{flags}"
        );
        assert!(
            flags.contains("Slutsats: Styrningen var otillräcklig"),
            "{flags}"
        );
        assert!(flags.contains(&format!("id=\"punkt-{seq}\"")));
        assert!(flags.contains(&format!("action=\"/utgavor/2025-W02/punkter/{seq}\"")));
        assert!(flags.contains(&format!(
            "action=\"/utgavor/2025-W02/poster/{seq}/ta-bort\""
        )));

        if removing {
            let removed = post(
                app,
                &format!("/utgavor/2025-W02/poster/{seq}/ta-bort"),
                &anna,
                &[],
            )
            .await;
            assert_back(&removed, "borttagen");
            let after = model(app, "2025-01-10").await;
            assert!(after.get("lapsed_notes").is_none(), "{after}");
            assert!(!texts(&after, "operations").iter().any(|t| t.contains(NOTE)));
        } else {
            // Edited to stand until a day: back in the report, no longer flagged.
            let edited = post(
                app,
                &format!("/utgavor/2025-W02/punkter/{seq}"),
                &anna,
                &[
                    ("text", "Inga beslut om framtiden fattas innan regionstyrelsen har behandlat granskningen."),
                    ("lasts", "until"),
                    ("until", "30 april 2025"),
                ],
            )
            .await;
            assert_back(&edited, "andrad");
            let after = model(app, "2025-01-10").await;
            assert!(after.get("lapsed_notes").is_none(), "{after}");
            assert!(
                texts(&after, "operations")
                    .iter()
                    .any(|t| t.contains("innan regionstyrelsen har behandlat")),
                "{after}"
            );
            let page = get(app, "/utgavor/2025-W02", Some(&anna.cookie)).await;
            assert!(!page.body.contains("står tills ärendet är avslutat"));
        }
    }
}

/// The edition of another week is chosen from the page, a day written as people write it.
#[tokio::test]
async fn the_day_chooser_opens_the_edition_of_that_days_week() {
    let Some(site) = site(false) else {
        return;
    };
    let app = &site.app;
    let anna = sign_in(app, "anna").await;
    let page = get(app, "/utgavor/2024-W52", Some(&anna.cookie)).await;
    assert!(
        page.body
            .contains("<form method=\"get\" action=\"/utgavor\" class=\"noprint\" id=\"valj\">")
            && page
                .body
                .contains("name=\"dag\" value=\"27 december 2024\""),
        "the chooser, with the edition's own day: {}",
        page.body
    );
    for (typed, edition) in [
        ("27 december 2024", "/utgavor/2024-W52"),
        ("27/12 2024", "/utgavor/2024-W52"),
        ("2024-12-27", "/utgavor/2024-W52"),
        ("den 23 dec 2024", "/utgavor/2024-W52"),
        ("8 januari 2025", "/utgavor/2025-W02"),
    ] {
        let chosen = get(
            app,
            &format!(
                "/utgavor?dag={}",
                typed.replace(' ', "+").replace('/', "%2F")
            ),
            Some(&anna.cookie),
        )
        .await;
        assert_eq!(chosen.status, StatusCode::SEE_OTHER, "{typed}");
        assert_eq!(chosen.location(), edition, "{typed}");
    }
    let wrong = get(app, "/utgavor?dag=h%C3%B6sten+20x", Some(&anna.cookie)).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_at_field(&wrong, "valj-dag", "”hösten 20x” är ingen dag");
    assert!(wrong.body.contains("value=\"hösten 20x\""), "as typed");
    let blank = get(app, "/utgavor?dag=", Some(&anna.cookie)).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_at_field(&blank, "valj-dag", "Ange en dag");
    // Without a day, this week's edition as before.
    let this_week = get(app, "/utgavor", None).await;
    assert_eq!(this_week.status, StatusCode::SEE_OTHER);
    assert!(this_week.location().starts_with("/utgavor/"));
}
