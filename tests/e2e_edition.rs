//! The weekly job end to end in a real headless Chromium (Debian's `chromium`): the edition of
//! 20 December 2024 is written and published first (from the command line, as last week's
//! work), then, in the browser, the edition of 27 December 2024 is started from last week, two
//! suggestions are edited and one removed, the rest kept, one point edited in place and one
//! moved, two added, a figure added, the edition submitted for review, approved by a second
//! user, published after the confirmation and opened from the archive. The test counts every
//! click a person makes (typing into a field is not counted) and prints the count that
//! `docs/report.md` records.
//!
//! The job runs twice: with the server on a SQLite file, and on PostgreSQL (`serve --db
//! postgres://…`, the log copied there with `lagesbild copy`; the server from
//! `LAGESBILD_TEST_PG`, said loudly when missing, a failure under `CI=true`).
//!
//! Without a browser this test says so loudly and passes on a developer machine; with
//! `CI=true` a missing browser fails it. `LAGESBILD_CHROMIUM` names another binary.

mod browser_support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use browser_support::{Server, chromium, launch};
use headless_chrome::Tab;
use lagesbild_store::testing::{fresh_database, postgres_test_url};

const PASSWORD: &str = "vinter-2024-lägesbild";

/// Last week's points: what the edition of 20 December 2024 said (11 points).
const LAST_WEEK: [(&str, &str); 11] = [
    (
        "summary",
        "Veckan har präglats av dialogmöten med förvaltningarna i södra området.",
    ),
    (
        "summary",
        "Erfarenhetsinsamlingen efter införandet pågår på alla förvaltningar.",
    ),
    (
        "summary",
        "Antalet konsulter som arbetar med Millennium har minskat sedan pausen.",
    ),
    (
        "summary",
        "Ett uppdrag om handlingsalternativ för fortsatt framdrift har getts.",
    ),
    (
        "summary",
        "Konkurrensverket har ställt frågor om upphandlingen av den externa granskningen.",
    ),
    (
        "summary",
        "Privata vårdgivare har inlett en rättsprocess för att slippa införa Millennium.",
    ),
    (
        "communications",
        "Fortsatt stort medieintresse för Millennium.",
    ),
    (
        "communications",
        "Mediefrågor om upphandling, konsulter och kostnader hanteras löpande.",
    ),
    (
        "communications",
        "Andra regioners journalsystem jämförs ofta med VGR:s införande.",
    ),
    (
        "operations",
        "Produktionen av vård påverkades mer än väntat vid införandet.",
    ),
    (
        "operations",
        "Erfarenheterna fångas upp genom workshops och reflektionsmöten.",
    ),
];

fn lagesbild(db: &Path, now: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("LAGESBILD_NOW", now)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "lagesbild {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The bundled history without the report material of 20 and 27 December 2024, plus the
/// edition of 20 December as last week wrote it, published on its day.
fn last_week_published(dir: &Path) -> PathBuf {
    let db = dir.join("e2e.db");
    let now = "2024-12-20T10:00:00Z";
    lagesbild(&db, now, &["init", "--empty"]);
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&events)
        .expect("events/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(&file).expect("reads").lines() {
            let week = line.contains("\"occurred\":\"2024-12-20\"")
                || line.contains("\"occurred\":\"2024-12-27\"");
            if line.contains("\"stream\":\"rapport\"") && week {
                continue;
            }
            lines.push(line.to_owned());
        }
    }
    for (section, text) in LAST_WEEK {
        lines.push(
            serde_json::json!({
                "kind": "situation_noted", "occurred": "2024-12-20", "stream": "rapport",
                "summary": text, "by": "kommunikator", "data": { "section": section },
            })
            .to_string(),
        );
    }
    lines.push(
        serde_json::json!({
            "kind": "situation_noted", "occurred": "2024-12-20", "stream": "rapport",
            "summary": "Inga beslut om framtiden fattas innan den externa granskningen är klar i mars.",
            "data": { "section": "operations", "until": "2025-03-31" },
        })
        .to_string(),
    );
    let file = dir.join("history.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("writes");
    lagesbild(&db, now, &["import", file.to_str().expect("a path")]);
    let out_dir = dir.join("reports");
    lagesbild(
        &db,
        now,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-20",
            "--out-dir",
            out_dir.to_str().expect("a path"),
        ],
    );
    db
}

fn start_server(dir: &Path, db: &OsStr) -> Server {
    let hash = lagesbild_web::auth::hash_password(PASSWORD).expect("hashes");
    let auth = dir.join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "four_eyes = true\n\
             [[user]]\nname = \"kommunikator\"\npassword_hash = \"{hash}\"\nrole = \"editor\"\n\
             [[user]]\nname = \"granskare\"\npassword_hash = \"{hash}\"\nrole = \"approver\"\n"
        ),
    )
    .expect("writes the configuration");
    Server::start(db, &auth, "2024-12-27T08:15:00Z", &[])
}

/// A person at the browser: every click counted.
struct Person<'a> {
    tab: &'a Tab,
    clicks: u32,
}

impl Person<'_> {
    /// Types into a field (not counted: it is part of the action that submits it).
    fn type_into(&self, selector: &str, text: &str) {
        let element = self
            .tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        // Clear what the field holds, as a person selecting it all would.
        element
            .call_js_fn("function() { this.value = ''; }", vec![], false)
            .expect("clears");
        element.click().expect("focus");
        element.type_into(text).expect("types");
    }

    /// Clicks something that does not load a page (opening a folded form).
    fn open(&mut self, selector: &str) {
        self.tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .expect("clicks");
        self.clicks += 1;
    }

    /// Clicks something that loads a page whose address contains `arrives`.
    fn click(&mut self, selector: &str, arrives: &str) {
        let before = self.tab.get_url();
        self.tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("{selector} at {before}: {e}"))
            .click()
            .expect("clicks");
        self.clicks += 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.tab.get_url();
            let ready = self
                .tab
                .evaluate("document.readyState", false)
                .ok()
                .and_then(|r| r.value)
                .is_some_and(|v| v == "complete");
            if url != before && url.contains(arrives) && ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "after clicking {selector} on {before}, still at {url}, not at {arrives}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn page(&self) -> String {
        self.tab.get_content().expect("content")
    }

    /// The id of the first element `selector` finds.
    fn id_of(&self, selector: &str) -> String {
        self.tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .get_attribute_value("id")
            .expect("attributes")
            .unwrap_or_else(|| panic!("{selector} has no id"))
    }

    fn sign_in(&mut self, name: &str) {
        self.click("header a[href^='/logga-in']", "/logga-in");
        self.type_into("#name", name);
        self.type_into("#password", PASSWORD);
        self.click("form[action='/logga-in'] button[type=submit]", "/");
    }
}

/// The browser, or `None` after a loud notice (a failure under `CI=true`).
fn browser_or_notice() -> Option<PathBuf> {
    let path = chromium();
    if path.is_none() {
        let message = "NO BROWSER: /usr/bin/chromium is missing, so the end-to-end edition test did not run. Install Debian's chromium package (apt-get install chromium).";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("\n*** {message} ***\n");
    }
    path
}

#[test]
fn the_weekly_job_of_27_december_2024_in_the_browser() {
    let Some(path) = browser_or_notice() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = last_week_published(dir.path());
    weekly_job(path, dir.path(), db.as_os_str());
}

/// The same job with the server on PostgreSQL (`serve --db postgres://…`): last week's log is
/// copied into a fresh database on the server named by `LAGESBILD_TEST_PG`.
#[test]
fn the_weekly_job_of_27_december_2024_in_the_browser_on_postgres() {
    let Some(server) = postgres_test_url("the end-to-end edition test") else {
        return;
    };
    let Some(path) = browser_or_notice() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = last_week_published(dir.path());
    let url = fresh_database(&server, "lagesbild_e2e");
    let from = db.to_str().expect("a UTF-8 path");
    lagesbild(
        &db,
        "2024-12-20T10:00:00Z",
        &["copy", "--from", from, "--to", &url],
    );
    weekly_job(path, dir.path(), OsStr::new(&url));
}

/// The weekly job in Chromium at `path` against a server on the log `db` (a file or a URL).
fn weekly_job(path: PathBuf, dir: &Path, db: &OsStr) {
    let server = start_server(dir, db);
    let browser = launch(path, (1280, 1400), Duration::from_secs(180));
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(30));
    tab.navigate_to(&server.base).expect("opens");
    tab.wait_until_navigated().expect("loads");
    let mut anna = Person {
        tab: &tab,
        clicks: 0,
    };

    // Sign in and open this week's edition from the menu.
    anna.sign_in("kommunikator");
    anna.click("nav a[href='/utgavor']", "/utgavor/2024-W52");
    assert!(anna.page().contains("vecka 52 · 27 december 2024 · nr 2"));

    // Start from last week: every point comes as a suggestion, none in the report yet.
    let before_job = anna.clicks;
    anna.click(
        "form[action='/utgavor/2024-W52/forra-veckan'] button",
        "klart=hamtade",
    );
    assert!(
        anna.page()
            .contains("11 punkter från förra veckan är hämtade som förslag")
    );

    // Edit two suggestions (which keeps them), remove one, keep the rest as they are.
    for text in [
        "Veckan har varit lugn med många röda dagar; utvärderingarna av införandet fortsätter.",
        "Erfarenhetsinsamlingen fortsätter efter helgerna och samlas i en sammansatt analys.",
    ] {
        let id = anna.id_of(".proposed li.point");
        anna.open(&format!("#{id} details > summary"));
        anna.type_into(&format!("#{id}-text"), text);
        anna.click(
            &format!("#{id} details button[type=submit]"),
            "klart=andrad",
        );
    }
    let dropped = anna.id_of(".proposed li.point");
    anna.click(
        &format!("#{dropped} form[action$='/ta-bort'] button"),
        "klart=borttagen",
    );
    anna.click(
        "form[action='/utgavor/2024-W52/behall'] button",
        "klart=behallen",
    );
    assert!(
        anna.page().contains("8 förslag är behållna."),
        "{}",
        anna.page()
    );
    let kept = anna.clicks;

    // Edit one kept point in place, move one, add two.
    let in_place = anna.id_of("#del-communications ~ ul.points > li.point");
    anna.open(&format!("#{in_place} details > summary"));
    anna.type_into(
        &format!("#{in_place}-text"),
        "Fortfarande stort intresse för Millennium, även om publiceringarna var färre i veckan.",
    );
    anna.click(
        &format!("#{in_place} details button[type=submit]"),
        "klart=andrad",
    );
    assert!(anna.page().contains("Ändringen är sparad."));
    let moved = anna.id_of("#del-operations ~ ul.points > li.point");
    anna.click(
        &format!("#{moved} form[action$='/flytta'] button"),
        "klart=flyttad",
    );
    for (section, text) in [
        (
            "summary",
            "Konkurrensverket har fått svar på sina frågor om upphandlingen av KPMG AB.",
        ),
        (
            "communications",
            "Kommunikationsinsatser som visar VGR:s fortsatta arbete är viktiga för förtroendet.",
        ),
    ] {
        anna.open(&format!("#ny-{section} > summary"));
        anna.type_into(&format!("#ny-{section}-text"), text);
        anna.click(
            &format!("#ny-{section} button[type=submit]"),
            "klart=tillagd",
        );
    }
    let edited_and_added = anna.clicks;

    // A key figure.
    anna.open("#nyckeltal > summary");
    anna.type_into("#nyckeltal-figure", "konsulter");
    anna.type_into("#nyckeltal-label", "Konsulter i programmet");
    anna.type_into("#nyckeltal-value", "90");
    anna.click("#nyckeltal button[type=submit]", "klart=nyckeltal");

    // What changed since last week, point by point, before sending it for review.
    let page = anna.page();
    assert!(page.contains("Ändrat sedan utgåvan 20 december 2024 (nr 1)"));
    assert!(page.contains("<ins>"), "a word-level diff");
    assert!(page.contains("<strong>Borttagen:</strong>"));
    anna.click(
        "form[action='/utgavor/2024-W52/granskning'] button",
        "klart=inskickad",
    );
    anna.click("form[action='/logga-ut'] button", "/");
    let editor_clicks = anna.clicks;

    // A second person approves, and publishes after the confirmation.
    let mut bertil = Person {
        tab: &tab,
        clicks: 0,
    };
    bertil.sign_in("granskare");
    bertil.click("nav a[href='/utgavor']", "/utgavor/2024-W52");
    assert!(
        bertil
            .page()
            .contains("Skickad till granskning av kommunikator")
    );
    bertil.click("input[value='godkann'] ~ button", "klart=godkand");
    bertil.click("a[href='/utgavor/2024-W52/publicera']", "/publicera");
    let confirm = bertil.page();
    assert!(confirm.contains("<dt>Vecka</dt><dd>52</dd>"));
    assert!(confirm.contains("<dt>Nummer</dt><dd>2</dd>"));
    assert!(confirm.contains("<dt>Skickas till</dt>"));
    bertil.click(
        "form[action='/utgavor/2024-W52/publicera'] button",
        "/rapporter/",
    );
    let permalink = tab.get_url();

    // Open it from the archive.
    bertil.click("nav a[href='/rapporter']", "/rapporter");
    assert!(
        bertil
            .page()
            .contains("version 1 <strong>(gällande)</strong>")
    );
    bertil.click("table a[href^='/rapporter/']", "/rapporter/");
    assert_eq!(
        tab.get_url(),
        permalink,
        "the newest is the edition just published"
    );
    let report = bertil.page();
    assert!(report.contains("vecka 52 · 27 december 2024 · nr 2"));
    assert!(report.contains("Veckan har varit lugn med många röda dagar"));
    assert!(report.contains("Fortfarande stort intresse för Millennium, även om"));
    assert!(report.contains("Konkurrensverket har fått svar på sina frågor"));
    assert!(report.contains("Konsulter i programmet"));
    assert!(report.contains("återskapad byte för byte"));
    for (_, text) in LAST_WEEK {
        if text.starts_with("Antalet konsulter") {
            assert!(!report.contains(text), "the removed point is not published");
        }
    }
    let approver_clicks = bertil.clicks;
    let job = edited_and_added - before_job;
    eprintln!(
        "the weekly job: {job} clicks to bring in last week's 11 points, keep 10 of them (editing 3), drop 1, move 1 and add 2 ({} of them to bring in, edit two, drop one and keep the rest); the editor {} clicks in all, signing in and out included, the approver {}; {} in all",
        kept - before_job,
        editor_clicks,
        approver_clicks,
        editor_clicks + approver_clicks
    );
    assert_eq!(
        kept - before_job,
        7,
        "1 to bring in, 2 per edit, 1 to drop, 1 to keep the rest"
    );
    assert!(
        job < 15,
        "fewer than 15 clicks to keep 10 points, edit 3 and add 2: {job}"
    );
}
