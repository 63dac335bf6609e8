//! End to end in a real headless Chromium (Debian's `chromium`, never a downloaded browser):
//! the binary serves a fresh log; the browser signs in, adds a note through the form, publishes
//! the report, opens it from the archive and finds the note, saves a screenshot, and opens the
//! waves for an as-of date through the date picker and finds the plan of that day.
//!
//! Without a browser this test says so loudly and passes on a developer machine; with
//! `CI=true` a missing browser fails it. `LAGESBILD_CHROMIUM` names another binary.

mod browser_support;

use std::path::Path;
use std::time::Duration;

use browser_support::{Server, chromium, launch, submit};
use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;

const PASSWORD: &str = "vinter-2024-lägesbild";
const NOTE: &str = "Notering från webbläsartestet: driftstoppet följs upp varje vecka.";

fn start_server(dir: &Path) -> Server {
    let hash = lagesbild_web::auth::hash_password(PASSWORD).expect("hashes");
    let auth = dir.join("auth.toml");
    std::fs::write(
        &auth,
        format!("[[user]]\nname = \"kommunikator\"\npassword_hash = \"{hash}\"\n"),
    )
    .expect("writes the configuration");
    // The week of the real report of 27 December 2024, in Swedish time.
    Server::start(dir.join("e2e.db"), &auth, "2024-12-27T10:15:00Z", &[])
}

fn fill(tab: &Tab, selector: &str, text: &str) {
    tab.wait_for_element(selector)
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .expect("focus")
        .type_into(text)
        .expect("types");
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
    let browser = launch(path, (1024, 1400), Duration::from_secs(120));
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
