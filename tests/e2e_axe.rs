//! Accessibility of every page in a real browser: axe-core (the npm package, installed into
//! `tools/axe/` by `npm ci`) injected into Debian's headless Chromium, run with the WCAG 2.1 A
//! and AA rules on every page of [`PAGES`] at 360 px and 1280 px wide, signed out and signed in,
//! and on forms showing their errors ([`FORM_ERRORS`]). It also checks that no page is wider
//! than a 360 px screen (a wide table scrolls inside its own region instead). It fails on any
//! violation and prints each: the page, the width, the rule, the elements and axe's help.
//!
//! Without Chromium or axe-core this test says so loudly and passes on a developer machine;
//! with `CI=true` either missing fails it. `LAGESBILD_CHROMIUM` names another browser binary,
//! `LAGESBILD_AXE` another `axe.min.js`.

mod browser_support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use browser_support::{Server, chromium, launch, submit};
use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Emulation;

/// Every page of the app, by path. `{report}` stands for a published report's number (the test
/// publishes one first). Add a page here when it is added to the router: it is then checked
/// at both widths, signed out and signed in.
const PAGES: &[&str] = &[
    "/",
    "/rapporter",
    "/rapporter/{report}",
    "/rapporter/{report}/html",
    "/forhandsvisning?date=2024-12-27",
    "/tidslinje",
    "/tidslinje?as_of=2022-06-01",
    "/vagor",
    "/vagor?as_of=2022-06-01",
    // A matter's page, closed and overdue.
    "/arenden/reklamation-2022",
    "/arenden/kpmg-granskning?as_of=2025-06-01",
    "/skillnad",
    "/skillnad?from=2019-06-01&to=2022-06-01",
    "/logg",
    "/logg?kind=plan_revised",
    "/logg/1",
    "/verifiera",
    "/skriv",
    // The week's edition (`/utgavor` sends the browser to it) and its publish confirmation.
    "/utgavor",
    "/utgavor/2024-W52",
    "/utgavor/2024-W52/publicera",
    "/granskning/avancerat",
    "/logga-in",
    "/finns-inte",
    // The reading pages' forms with a refused field.
    "/vagor?as_of=h%C3%B6sten+20x",
    "/forhandsvisning?date=30+februari+2024",
    "/logg?occurred_from=2019-H3",
    // The edition page's day chooser with a day that is no day.
    "/utgavor?dag=h%C3%B6sten+20x",
];

/// A form submitted with refused fields, checked as it comes back (signed in).
struct RefusedForm {
    page: &'static str,
    /// The form's id.
    form: &'static str,
    /// A closed `<details>` to open first (its `summary`), or "".
    open: &'static str,
    /// What is typed into which field.
    fields: &'static [(&'static str, &'static str)],
}

const FORM_ERRORS: &[RefusedForm] = &[
    RefusedForm {
        page: "/skriv",
        form: "nyckeltal",
        open: "",
        fields: &[("#fig-figure", "Konsulter!"), ("#fig-value", "ca 90")],
    },
    RefusedForm {
        page: "/skriv",
        form: "notering",
        open: "",
        fields: &[("#note-text", " "), ("#note-occurred", "hösten 20x")],
    },
    RefusedForm {
        page: "/granskning/avancerat",
        form: "rattelse",
        open: "",
        fields: &[("#cor-target", "999999"), ("#cor-reason", "Fel.")],
    },
    // The edition page's own forms, each a closed `<details>` until opened.
    RefusedForm {
        page: "/utgavor/2024-W52",
        form: "nyckeltal",
        open: "#nyckeltal > summary",
        fields: &[
            ("#nyckeltal-figure", "Konsulter!"),
            ("#nyckeltal-value", "ca 90"),
        ],
    },
    RefusedForm {
        page: "/utgavor/2024-W52",
        form: "ny-summary",
        open: "#ny-summary > summary",
        fields: &[
            ("#ny-summary-text", " "),
            ("#ny-summary-until", "hösten 20x"),
        ],
    },
];

const WIDTHS: [u32; 2] = [360, 1280];
const PASSWORD: &str = "vinter-2024-lägesbild";

fn axe_source() -> Option<String> {
    let path = std::env::var_os("LAGESBILD_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/axe/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(path).ok()
}

/// Loud on a developer machine, fatal in CI.
fn missing(message: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("\n*** {message} ***\n");
}

fn start_server(dir: &Path) -> Server {
    let hash = lagesbild_web::auth::hash_password(PASSWORD).expect("hashes");
    let auth = dir.join("auth.toml");
    std::fs::write(
        &auth,
        format!("[[user]]\nname = \"granskare\"\npassword_hash = \"{hash}\"\n"),
    )
    .expect("writes the configuration");
    Server::start(
        dir.join("axe.db"),
        &auth,
        "2024-12-27T10:15:00Z",
        &[("RUST_LOG", "warn")],
    )
}

/// The viewport as a phone's (360 px, touch) or a desktop's.
fn set_width(tab: &Tab, width: u32) {
    tab.call_method(Emulation::SetDeviceMetricsOverride {
        width,
        height: 800,
        device_scale_factor: 1.0,
        mobile: width < 600,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .expect("sets the viewport");
}

fn open(tab: &Tab, url: &str) {
    tab.navigate_to(url)
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    tab.wait_until_navigated()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
}

fn fill(tab: &Tab, selector: &str, text: &str) {
    let element = tab
        .wait_for_element(selector)
        .unwrap_or_else(|e| panic!("{selector}: {e}"));
    element.click().expect("focus");
    // Replace what is there rather than append to a default value.
    element
        .call_js_fn("function() { this.value = ''; }", vec![], false)
        .expect("clears");
    element.type_into(text).expect("types");
}

/// What the page was checked for and what was found.
struct Finding {
    page: String,
    width: u32,
    who: &'static str,
    text: String,
}

/// Runs axe-core with the WCAG 2.1 A and AA rules on the page the tab shows, and measures
/// whether the page is wider than the viewport. Returns one line per problem.
fn check_page(tab: &Tab, axe: &str) -> Vec<String> {
    let loaded = tab
        .evaluate("typeof axe === 'object'", false)
        .expect("evaluates")
        .value
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if !loaded {
        tab.evaluate(axe, false).expect("injects axe-core");
    }
    let script = r#"
        axe.run(document, {
            runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
            resultTypes: ['violations']
        }).then(function (results) {
            return JSON.stringify(results.violations.map(function (v) {
                return {
                    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                    nodes: v.nodes.map(function (n) {
                        return { target: n.target.join(' '), summary: n.failureSummary };
                    })
                };
            }));
        })"#;
    let result = tab.evaluate(script, true).expect("axe runs");
    let text = result
        .value
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("axe returns its violations as JSON");
    let violations: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut problems = Vec::new();
    for violation in violations.as_array().expect("a list") {
        let mut line = format!(
            "{} ({}): {} <{}>",
            violation["id"].as_str().unwrap_or("?"),
            violation["impact"].as_str().unwrap_or("?"),
            violation["help"].as_str().unwrap_or("?"),
            violation["helpUrl"].as_str().unwrap_or("?"),
        );
        for node in violation["nodes"].as_array().into_iter().flatten() {
            let _ = write!(
                line,
                "\n        at {}: {}",
                node["target"].as_str().unwrap_or("?"),
                node["summary"].as_str().unwrap_or("").replace('\n', " ")
            );
        }
        problems.push(line);
    }
    // A page must not be wider than the screen: only a table's own region may scroll.
    let overflow = tab
        .evaluate(
            "JSON.stringify([document.documentElement.scrollWidth, window.innerWidth])",
            false,
        )
        .expect("measures")
        .value
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("widths");
    let widths: Vec<u32> = serde_json::from_str(&overflow).expect("two widths");
    if widths[0] > widths[1] {
        problems.push(format!(
            "page-too-wide: the page is {} px wide in a {} px viewport (something does not wrap or scroll in its own region)",
            widths[0], widths[1]
        ));
    }
    problems
}

fn check_all(
    tab: &Tab,
    base: &str,
    axe: &str,
    report: u64,
    who: &'static str,
    findings: &mut Vec<Finding>,
) -> usize {
    let mut checked = 0;
    for width in WIDTHS {
        set_width(tab, width);
        for page in PAGES {
            let path = page.replace("{report}", &report.to_string());
            open(tab, &format!("{base}{path}"));
            for text in check_page(tab, axe) {
                findings.push(Finding {
                    page: path.clone(),
                    width,
                    who,
                    text,
                });
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_page_passes_axe_core_wcag_2_1_a_and_aa_at_360_and_1280_px() {
    let Some(browser_path) = chromium() else {
        missing(
            "NO BROWSER: /usr/bin/chromium is missing, so the axe-core accessibility test did not run. Install Debian's chromium package (apt-get install chromium).",
        );
        return;
    };
    let Some(axe) = axe_source() else {
        missing(
            "NO AXE-CORE: tools/axe/node_modules/axe-core/axe.min.js is missing, so the accessibility test did not run. Install it with `npm ci --prefix tools/axe`.",
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path());
    let browser = launch(browser_path, (1280, 900), Duration::from_secs(300));
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(60));
    let base = server.base.clone();

    // Sign in and publish the report of 27 December 2024, so that its pages exist.
    open(&tab, &format!("{base}/logga-in?next=/skriv"));
    fill(&tab, "#name", "granskare");
    fill(&tab, "#password", PASSWORD);
    submit(
        &tab,
        "form[action='/logga-in'] button[type=submit]",
        "#publicera",
    );
    submit(&tab, "#publicera button[type=submit]", "#ursprung");
    let url = tab.get_url();
    let report: u64 = url
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("publishing ends on the report's page, not {url}"));

    let mut findings = Vec::new();
    let mut checked = check_all(&tab, &base, &axe, report, "inloggad", &mut findings);

    // Forms as they come back with refused fields.
    for width in WIDTHS {
        set_width(&tab, width);
        for RefusedForm {
            page,
            form,
            open: details,
            fields,
        } in FORM_ERRORS
        {
            open(&tab, &format!("{base}{page}"));
            if !details.is_empty() {
                tab.wait_for_element(details)
                    .unwrap_or_else(|e| panic!("{details}: {e}"))
                    .click()
                    .expect("opens");
            }
            for (selector, text) in fields.iter() {
                fill(&tab, &format!("#{form} {selector}"), text);
            }
            submit(
                &tab,
                &format!("#{form} button[type=submit]"),
                ".error-summary",
            );
            for text in check_page(&tab, &axe) {
                findings.push(Finding {
                    page: format!("{page} (#{form} refused)"),
                    width,
                    who: "inloggad",
                    text,
                });
            }
            checked += 1;
        }
    }

    // Signed out.
    set_width(&tab, 1280);
    open(&tab, &format!("{base}/skriv"));
    submit(
        &tab,
        "form[action='/logga-ut'] button[type=submit]",
        "header a[href='/logga-in']",
    );
    checked += check_all(&tab, &base, &axe, report, "utloggad", &mut findings);

    eprintln!("axe-core checked {checked} page views");
    if !findings.is_empty() {
        let mut report_text = format!(
            "{} accessibility problems (WCAG 2.1 A/AA, axe-core):\n",
            findings.len()
        );
        for f in &findings {
            let _ = writeln!(
                report_text,
                "  {} at {} px ({}): {}",
                f.page, f.width, f.who, f.text
            );
        }
        panic!("{report_text}");
    }
}
