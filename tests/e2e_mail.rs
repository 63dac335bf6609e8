//! Printing and sending the edition end to end, in Debian's headless Chromium against the real
//! server process: the edition of 27 December 2024 is published from its page after the
//! confirmation; the PDF is downloaded from the link on the edition's page and read back with
//! `pdftotext` (day, week, number); the mail is received by a real SMTP server on loopback
//! (`tools/smtp_sink.py`, aiosmtpd) that refuses the first message, so the failure shows on the
//! page, and the retry from the page's button succeeds; the message is read by Python's email
//! package (MIME structure, headers, HTML and text parts, the published PDF attached); the sends
//! are in the archive; and the edition is in `/rapporter.atom` as Python's feedparser reads it,
//! with its PDF linked.
//!
//! Without Chromium, pdftotext, aiosmtpd or feedparser this test says so loudly and passes on a
//! developer machine; with `CI=true` (where `.ci/run` installs them) a missing tool fails it.

mod browser_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use browser_support::{Server, chromium, launch, submit};
use serde_json::Value;

const PASSWORD: &str = "vinter-2024-lägesbild";
const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/smtp_sink.py");

/// Fails under CI, where `.ci/run` installs every tool; otherwise a loud notice and `false`.
fn have(tool: &str, ok: bool) -> bool {
    if !ok {
        let message = format!(
            "{tool} is missing, so the end-to-end mail and PDF test did not run (.ci/run installs it)"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("\n*** {message} ***\n");
    }
    ok
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn lagesbild(db: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("LAGESBILD_NOW", "2024-12-27T08:00:00Z")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "lagesbild {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tools/smtp_sink.py serve`: a real SMTP server on a free loopback port.
struct Sink {
    child: Child,
    port: u16,
    folder: PathBuf,
}

impl Sink {
    fn start(folder: &Path) -> Sink {
        std::fs::create_dir_all(folder).expect("mkdir");
        let mut child = Command::new("python3")
            .args(["-u", SINK, "serve"])
            .arg(folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server's port");
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Sink {
            child,
            port,
            folder: folder.to_owned(),
        }
    }

    fn refuse_next(&self) {
        std::fs::write(self.folder.join("REFUSE_NEXT"), "").expect("writes");
    }

    fn received(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.folder)
            .expect("reads")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message as Python's email package reads it (`smtp_sink.py parse`).
fn parsed(file: &Path) -> Value {
    let out = Command::new("python3")
        .args([SINK, "parse"])
        .arg(file)
        .output()
        .expect("runs python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// `GET path` from the server as a plain HTTP client: the status, the headers as text and the
/// body.
fn http_get(base: &str, path: &str) -> (u16, String, Vec<u8>) {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("reads");
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&reply[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let mut body = reply[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunked(&body);
    }
    (status, head, body)
}

fn unchunked(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size");
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..line_end])
                .split(';')
                .next()
                .expect("a size")
                .trim(),
            16,
        )
        .expect("hex");
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// Waits until the page at the tab's address contains `text`, reloading it (a send is recorded
/// before the page is drawn, so this rarely loops).
fn page_with(tab: &headless_chrome::Tab, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = tab.get_content().expect("content");
        if page.contains(text) {
            return page;
        }
        assert!(Instant::now() < deadline, "no {text:?} on the page: {page}");
        std::thread::sleep(Duration::from_millis(200));
        tab.reload(false, None).expect("reloads");
        tab.wait_until_navigated().expect("loads");
    }
}

#[test]
fn publish_print_mail_retry_and_feed_of_27_december_2024_in_the_browser() {
    let browser_path = chromium();
    let pdftotext = Command::new("pdftotext").arg("-v").output().is_ok();
    if !(have("Chromium (/usr/bin/chromium)", browser_path.is_some())
        & have("pdftotext (poppler-utils)", pdftotext)
        & have("aiosmtpd (PyPI)", python_has("aiosmtpd"))
        & have("feedparser (PyPI)", python_has("feedparser")))
    {
        return;
    }
    let browser_path = browser_path.expect("checked");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("e2e.db");
    lagesbild(&db, &["init"]);
    let sink = Sink::start(&dir.path().join("inkorg"));
    let hash = lagesbild_web::auth::hash_password(PASSWORD).expect("hashes");
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "[[user]]\nname = \"kommunikator\"\npassword_hash = \"{hash}\"\nrole = \"editor\"\n\
             [mail]\nfrom = \"Koncernstab kommunikation <kommunikation@example.se>\"\n\
             [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_secs = 10\n\
             [[mail.list]]\nname = \"politisk ledning\"\nrecipients = [\"Ordförande <ordforande@example.se>\", \"vice@example.se\"]\n\
             [[mail.list]]\nname = \"chefer\"\nrecipients = [\"chef@example.se\"]\n",
            port = sink.port
        ),
    )
    .expect("writes the configuration");
    let server = Server::start(&db, &auth, "2024-12-27T08:15:00Z", &[]);
    let browser = launch(browser_path, (1280, 1400), Duration::from_secs(180));
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(60));

    // Sign in, open the edition's publish page and publish after the confirmation; the SMTP
    // server refuses the first message (politisk ledning's).
    tab.navigate_to(&format!(
        "{}/logga-in?next=/utgavor/2024-W52/publicera",
        server.base
    ))
    .expect("opens");
    tab.wait_until_navigated().expect("loads");
    tab.wait_for_element("#name")
        .expect("the form")
        .type_into("kommunikator")
        .expect("types");
    tab.wait_for_element("#password")
        .expect("the form")
        .type_into(PASSWORD)
        .expect("types");
    submit(
        &tab,
        "form[action='/logga-in'] button[type=submit]",
        "form[action='/utgavor/2024-W52/publicera'] button",
    );
    sink.refuse_next();
    submit(
        &tab,
        "form[action='/utgavor/2024-W52/publicera'] button",
        "#utskick",
    );
    let permalink = tab.get_url();
    let seq: u64 = permalink
        .rsplit('/')
        .next()
        .and_then(|s| s.split(['#', '?']).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a report's page: {permalink}"));

    // The failure on the page, with a button to send again.
    let page = page_with(&tab, "Utgåvan har inte kommit fram till");
    assert!(page.contains("<strong>politisk ledning</strong>"), "{page}");
    assert!(page.contains("Refused once by the test server"), "{page}");
    assert_eq!(sink.received().len(), 1, "chefer got theirs");

    // The PDF from the link on the edition's page: a PDF naming the day, week and number.
    let href = tab
        .wait_for_element("a[href$='/pdf'][download]")
        .expect("the PDF link")
        .get_attribute_value("href")
        .expect("attributes")
        .expect("an href");
    let (status, head, pdf) = http_get(&server.base, &href);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/pdf"),
        "{head}"
    );
    assert!(
        head.contains(&format!("regional-rapport-2024-12-27-h{seq}.pdf")),
        "{head}"
    );
    assert!(pdf.starts_with(b"%PDF-"));
    let pdf_file = dir.path().join("rapport.pdf");
    std::fs::write(&pdf_file, &pdf).expect("writes");
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf_file)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    let text = String::from_utf8_lossy(&text.stdout).replace('\u{ad}', "");
    assert!(text.contains("27 december 2024"), "{text}");
    assert!(text.to_lowercase().contains("vecka 52"), "{text}");
    assert!(text.contains("nr "), "{text}");

    // Send again from the page's button: it arrives, and the page says nothing is missing.
    tab.wait_for_element("form[action$='/skicka'] input[value='politisk ledning'] ~ button")
        .expect("the button to send again")
        .click()
        .expect("clicks");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = tab.get_content().unwrap_or_default();
        if tab.get_url().ends_with("#utskick") && !page.contains("har inte kommit fram") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the retry did not arrive: {page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let received = sink.received();
    assert_eq!(received.len(), 2);

    // The message as a mail client reads it.
    let mail = parsed(&received[1]);
    assert_eq!(
        mail["from"],
        "Koncernstab kommunikation <kommunikation@example.se>"
    );
    assert_eq!(
        mail["to"],
        serde_json::json!(["Ordförande <ordforande@example.se>", "vice@example.se"])
    );
    let subject = mail["subject"].as_str().expect("a subject");
    assert!(
        subject.starts_with("Regional rapport vecka 52 · 27 december 2024 · nr "),
        "{subject}"
    );
    // The PDF names the same edition number as the subject.
    let number = subject
        .split("· nr ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a number in the subject");
    assert!(
        text.to_lowercase().contains(&format!("nr {number}")),
        "no nr {number} in the PDF: {text}"
    );
    assert_eq!(mail["date_ok"], true, "{mail}");
    assert!(
        mail["message_id"]
            .as_str()
            .is_some_and(|id| id.starts_with('<') && id.ends_with('>')),
        "{mail}"
    );
    assert_eq!(mail["tree"]["type"], "multipart/mixed", "{mail}");
    assert_eq!(mail["tree"]["parts"][0]["type"], "multipart/alternative");
    assert_eq!(mail["tree"]["parts"][1]["type"], "application/pdf");
    let parts = mail["parts"].as_array().expect("parts");
    assert_eq!(parts[0]["type"], "text/plain");
    assert!(
        parts[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Sammanfattande lägesbild")),
        "{mail}"
    );
    assert_eq!(parts[1]["type"], "text/html");
    let html = parts[1]["text"].as_str().expect("the HTML part");
    assert!(html.contains("<h1 style=\""), "styles inline: {html}");
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "{html}"
    );
    assert_eq!(parts[2]["type"], "application/pdf");
    assert_eq!(parts[2]["disposition"], "attachment");
    assert_eq!(
        parts[2]["filename"],
        format!("regional-rapport-2024-12-27-h{seq}.pdf")
    );
    assert_eq!(
        parts[2]["sha256"],
        lagesbild_model::sha256_hex(&pdf),
        "the attachment is the PDF downloaded from the page"
    );

    // The sends in the archive.
    tab.navigate_to(&format!("{}/rapporter", server.base))
        .expect("opens");
    tab.wait_until_navigated().expect("loads");
    let archive = tab.get_content().expect("content");
    assert!(archive.contains("politisk ledning (2)"), "{archive}");
    assert!(archive.contains("chefer (1)"), "{archive}");

    // The feed, as feedparser reads it: the edition, its page and its PDF.
    let (status, _, xml) = http_get(&server.base, "/rapporter.atom");
    assert_eq!(status, 200);
    let feed_file = dir.path().join("rapporter.atom");
    std::fs::write(&feed_file, &xml).expect("writes");
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({"bozo": d.bozo, "version": d.version, "entries": [
    {"id": e.get("id"), "title": e.get("title"), "link": e.get("link"),
     "links": [dict(l) for l in e.get("links", [])]} for e in d.entries]}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&feed_file)
        .output()
        .expect("runs python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let feed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(feed["bozo"], false, "{feed}");
    assert_eq!(feed["version"], "atom10");
    let entry = feed["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["id"] == "urn:lagesbild:utgava:2024-12-27")
        .unwrap_or_else(|| panic!("the edition in the feed: {feed}"));
    assert_eq!(entry["link"], format!("/rapporter/{seq}"));
    assert!(
        entry["title"]
            .as_str()
            .is_some_and(|t| t.contains("vecka 52 · 27 december 2024")),
        "{entry}"
    );
    assert!(
        entry["links"].as_array().expect("links").iter().any(|l| l["type"]
            == "application/pdf"
            && l["href"] == format!("/rapporter/{seq}/pdf")),
        "{entry}"
    );
}
