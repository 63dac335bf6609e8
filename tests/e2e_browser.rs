//! End to end in a real headless Chromium (Debian's `chromium`, never a downloaded browser):
//! the binary serves a fresh log; the browser signs in, adds a note through the form, publishes
//! the report, opens it from the archive and finds the note, saves a screenshot, and opens the
//! waves for an as-of date through the date picker and finds the plan of that day.
//!
//! Without a browser this test says so loudly and passes on a developer machine; with
//! `CI=true` a missing browser fails it. `LAGESBILD_CHROMIUM` names another binary.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};

const PASSWORD: &str = "vinter-2024-lägesbild";
const NOTE: &str = "Notering från webbläsartestet: driftstoppet följs upp varje vecka.";

fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("LAGESBILD_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from));
    candidates.into_iter().find(|p| p.exists())
}

/// The server as a child process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Server {
    let hash = lagesbild_web::auth::hash_password(PASSWORD).expect("hashes");
    let auth = dir.join("auth.toml");
    std::fs::write(
        &auth,
        format!("[[user]]\nname = \"kommunikator\"\npassword_hash = \"{hash}\"\n"),
    )
    .expect("writes the configuration");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .arg("--db")
        .arg(dir.join("e2e.db"))
        .args(["serve", "--addr", "127.0.0.1:0", "--auth"])
        .arg(&auth)
        // The week of the real report of 27 December 2024, in Swedish time.
        .env("LAGESBILD_NOW", "2024-12-27T10:15:00Z")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .expect("reads");
        if let Some(rest) = line.strip_prefix("lagesbild serves ") {
            break rest
                .split_whitespace()
                .next()
                .expect("a URL")
                .trim_end_matches('/')
                .to_owned();
        }
    };
    Server { child, base }
}

fn launch(path: PathBuf) -> Browser {
    let flags: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1024, 1400)))
        .args(flags)
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .expect("launch options");
    Browser::new(options).expect("Chromium starts")
}

fn fill(tab: &Tab, selector: &str, text: &str) {
    tab.wait_for_element(selector)
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .expect("focus")
        .type_into(text)
        .expect("types");
}

/// Clicks `selector` and waits for `arrived`, which only the next page has.
fn submit(tab: &Tab, selector: &str, arrived: &str) {
    tab.wait_for_element(selector)
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .expect("clicks");
    tab.wait_for_element(arrived).unwrap_or_else(|e| {
        panic!(
            "after clicking {selector}, no {arrived} at {}: {e}",
            tab.get_url()
        )
    });
}

#[test]
fn staff_sign_in_write_a_note_publish_and_find_it_in_the_archive() {
    let Some(path) = chromium() else {
        let message = "NO BROWSER: /usr/bin/chromium is missing, so the end-to-end browser test did not run. Install Debian's chromium package (apt-get install chromium).";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("\n*** {message} ***\n");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path());
    let browser = launch(path);
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(30));

    // Sign in, sent on to the writing page.
    tab.navigate_to(&format!("{}/skriv", server.base))
        .expect("opens");
    tab.wait_until_navigated().expect("loads");
    submit(&tab, "a[href='/logga-in?next=/skriv']", "#password");
    fill(&tab, "#name", "kommunikator");
    fill(&tab, "#password", PASSWORD);
    submit(
        &tab,
        "form[action='/logga-in'] button[type=submit]",
        "#note-text",
    );
    assert!(tab.get_url().ends_with("/skriv"), "{}", tab.get_url());
    let page = tab.get_content().expect("content");
    assert!(page.contains("Inloggad som kommunikator"));

    // A note for this week's summary.
    fill(&tab, "#note-text", NOTE);
    submit(&tab, "#notering button[type=submit]", "p.ok");
    let page = tab.get_content().expect("content");
    assert!(
        page.contains("Sparad i loggen som händelse"),
        "{}",
        tab.get_url()
    );

    // Publish the report of 27 December 2024.
    tab.navigate_to(&format!("{}/skriv", server.base))
        .expect("opens");
    tab.wait_until_navigated().expect("loads");
    submit(&tab, "#publicera button[type=submit]", "#ursprung");
    let permalink = tab.get_url();
    assert!(permalink.contains("/rapporter/"), "{permalink}");

    // Open it from the archive.
    tab.navigate_to(&format!("{}/rapporter", server.base))
        .expect("opens");
    tab.wait_until_navigated().expect("loads");
    submit(&tab, "table a[href^='/rapporter/']", "#ursprung");
    assert_eq!(tab.get_url(), permalink);
    let report = tab.get_content().expect("content");
    assert!(report.contains(NOTE), "the note is in the published report");
    assert!(report.contains("Sammanfattande lägesbild"));
    assert!(report.contains("återskapad byte för byte"));
    let shot = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("a screenshot");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-published-report.png");
    std::fs::write(&out, &shot).expect("saves the screenshot");
    assert!(shot.starts_with(b"\x89PNG"), "a PNG");
    eprintln!("screenshot: {}", out.display());

    // The plan as it stood on 1 June 2022, through the date picker.
    tab.navigate_to(&format!("{}/vagor", server.base))
        .expect("opens");
    tab.wait_until_navigated().expect("loads");
    tab.evaluate(
        "document.getElementById('as_of').value = '2022-06-01'",
        false,
    )
    .expect("sets the date");
    submit(
        &tab,
        "#tidsval button[type=submit]",
        "input#as_of[value='2022-06-01']",
    );
    assert!(
        tab.get_url().contains("as_of=2022-06-01"),
        "{}",
        tab.get_url()
    );
    let waves = tab.get_content().expect("content");
    assert!(
        waves.contains("Läget per 1 juni 2022"),
        "the page says which day"
    );
    let row = waves
        .split("<tr>")
        .find(|row| row.contains("<td>sodra-1</td>"))
        .expect("a row for the first wave");
    assert!(
        row.contains("hösten 2024"),
        "planned for autumn 2024 as of June 2022: {row}"
    );
    let shot = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("a screenshot");
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-waves-2022-06-01.png"),
        shot,
    )
    .expect("saves the screenshot");
}
