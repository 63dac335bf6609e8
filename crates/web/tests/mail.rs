//! Sending a published edition by e-mail, through the router, to a real SMTP server on
//! loopback (aiosmtpd from PyPI, `tools/smtp_sink.py`, started here on a free port): publishing
//! sends to every distribution list; the server refuses the first message, and the failure is
//! recorded as an `edition_sent`, shown on the report's page and in the archive, and sent again
//! from the page (CSRF and role checked); the message received is read by Python's email
//! package: `multipart/mixed` holding `multipart/alternative` (text, HTML with inline styles),
//! and the published PDF attached (`application/pdf`, named after the edition's day, its bytes
//! the recorded digest's); the headers (From, To, Subject with the edition's week and day,
//! Message-ID as recorded, Date), and the bodies with hostile text escaped. Under the four-eyes
//! rule, a report published past the review is not sent from its page. The log is SQLite here,
//! PostgreSQL in `mail_postgres.rs`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use axum::Router;
use axum::http::StatusCode;
use lagesbild_app::staff::{self, Common, Note, NoteSection, Standing};
use lagesbild_model::kinds::{EditionSent, SendOutcome};
use lagesbild_model::{EventData, FuzzyDate};
use lagesbild_web::AuthConfig;
use serde_json::Value;
use support::{TestLog, User, get, password_hash, post, post_form};

const HOSTILE: &str = "<script>alert(1)</script> **fet** & \"citat\"";
const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/smtp_sink.py");

struct Site {
    app: Router,
    log: TestLog,
}

/// Signs `name` in, landing on the edition of 10 January 2025.
async fn sign_in(app: &Router, name: &str) -> User {
    support::sign_in(app, name, "/utgavor/2025-W02").await
}

/// The SMTP server of `tools/smtp_sink.py`, writing what it receives to `folder`.
struct Sink {
    child: Child,
    port: u16,
    folder: PathBuf,
}

impl Sink {
    /// `None` (with a notice) without aiosmtpd, except under CI, which installs it (`.ci/run`).
    fn start(folder: &Path) -> Option<Sink> {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must have aiosmtpd from PyPI (.ci/run installs it)"
            );
            eprintln!(
                "notice: aiosmtpd is not installed; the mail is not sent to a real SMTP server"
            );
            return None;
        }
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
        Some(Sink {
            child,
            port,
            folder: folder.to_owned(),
        })
    }

    /// The server answers the next message 554, once.
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

/// The message as Python's email package reads it.
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

fn sends(log: &TestLog) -> Vec<EditionSent> {
    log.with_store(|store| {
        lagesbild_app::mail::sends(store, None)
            .expect("reads")
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    })
}

/// On this binary's backend (`mail_postgres.rs` runs these cases on PostgreSQL); `None` when
/// that is PostgreSQL and no test server is named (the case is then skipped, loudly).
fn site(port: u16) -> Option<Site> {
    let log = TestLog::seeded_on(support::backend())?;
    let day = chrono::NaiveDate::from_ymd_opt(2024, 12, 27).expect("a day");
    let note = staff::note(
        &Note {
            section: NoteSection::Summary,
            text: HOSTILE.into(),
            points: vec![],
            standing: Standing::Week,
        },
        &Common {
            occurred: Some(FuzzyDate::Day(day)),
            key: None,
            by: Some("anna".into()),
        },
        day,
    )
    .expect("a note");
    log.with_store(|store| store.append(&[note], &[]).expect("appends"));
    let auth = AuthConfig::parse(&format!(
        "[[user]]\nname = \"anna\"\npassword_hash = \"{h}\"\n\
         [[user]]\nname = \"cecilia\"\npassword_hash = \"{h}\"\nrole = \"reader\"\n\
         [mail]\nfrom = \"Koncernstab kommunikation <kommunikation@example.se>\"\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_secs = 10\n\
         [[mail.list]]\nname = \"politisk ledning\"\nrecipients = [\"Ordförande <ordforande@example.se>\", \"vice@example.se\"]\n\
         [[mail.list]]\nname = \"chefer\"\nrecipients = [\"chef@example.se\"]\n",
        h = password_hash()
    ))
    .expect("valid configuration");
    Some(Site {
        app: log.app(Some(auth)),
        log,
    })
}

#[tokio::test]
async fn a_published_edition_is_mailed_to_every_list_and_a_refused_send_is_shown_and_sent_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(sink) = Sink::start(&dir.path().join("inkorg")) else {
        return;
    };
    let Some(site) = site(sink.port) else {
        return;
    };
    let app = &site.app;
    let anna = sign_in(app, "anna").await;

    // The server refuses the first message: politisk ledning's; chefer get theirs.
    sink.refuse_next();
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
    let page_path = published.location().to_owned();
    let seq: u64 = page_path
        .trim_start_matches("/rapporter/")
        .parse()
        .expect("a report");
    assert_eq!(sink.received().len(), 1);
    let recorded = sends(&site.log);
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(
        (recorded[0].list.as_str(), recorded[0].outcome),
        ("politisk ledning", SendOutcome::Failed)
    );
    let error = recorded[0].error.as_ref().expect("why").as_str();
    assert!(error.contains("554"), "{error}");
    assert_eq!(
        (
            recorded[1].list.as_str(),
            recorded[1].outcome,
            recorded[1].recipients
        ),
        ("chefer", SendOutcome::Sent, 1)
    );
    assert!(recorded.iter().all(|s| s.report_seq == seq));

    // The failure is on the report's page, with a button to send again, and in the archive.
    let page = get(app, &page_path, Some(&anna.cookie)).await;
    assert!(
        page.body
            .contains("Utgåvan har inte kommit fram till <strong>politisk ledning</strong>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Refused once by the test server"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("action=\"/rapporter/{seq}/skicka\"")),
        "{}",
        page.body
    );
    let archive = get(app, "/rapporter", None).await;
    assert!(
        archive
            .body
            .contains("<strong>inte politisk ledning</strong>"),
        "{}",
        archive.body
    );
    assert!(archive.body.contains("chefer (1)"), "{}", archive.body);
    // Signed out, the page says to sign in and offers no button.
    let anonymous = get(app, &page_path, None).await;
    assert!(!anonymous.body.contains("/skicka\""), "{}", anonymous.body);

    // Sending again needs the session's CSRF token and a role that may publish.
    let forged = post_form(
        app,
        &format!("/rapporter/{seq}/skicka"),
        Some(&anna.cookie),
        &[("lista", "politisk ledning")],
    )
    .await;
    assert!(forged.status.is_client_error(), "{}", forged.status);
    let cecilia = sign_in(app, "cecilia").await;
    let reader = post(
        app,
        &format!("/rapporter/{seq}/skicka"),
        &cecilia,
        &[("lista", "politisk ledning")],
    )
    .await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
    assert_eq!(sink.received().len(), 1, "nothing was sent");

    let again = post(
        app,
        &format!("/rapporter/{seq}/skicka"),
        &anna,
        &[("lista", "politisk ledning")],
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(again.location(), format!("/rapporter/{seq}#utskick"));
    let received = sink.received();
    assert_eq!(received.len(), 2);
    let recorded = sends(&site.log);
    assert_eq!(recorded.len(), 3);
    assert_eq!(
        (
            recorded[2].list.as_str(),
            recorded[2].outcome,
            recorded[2].recipients
        ),
        ("politisk ledning", SendOutcome::Sent, 2)
    );
    let page = get(app, &page_path, Some(&anna.cookie)).await;
    assert!(!page.body.contains("har inte kommit fram"), "{}", page.body);
    let archive = get(app, "/rapporter", None).await;
    assert!(
        archive.body.contains("politisk ledning (2)"),
        "{}",
        archive.body
    );

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
    assert_eq!(mail["message_id"], recorded[2].message_id.as_str());
    assert_eq!(mail["date_ok"], true, "{mail}");
    assert_eq!(mail["tree"]["type"], "multipart/mixed", "{mail}");
    let alternative = &mail["tree"]["parts"][0];
    assert_eq!(alternative["type"], "multipart/alternative", "{mail}");
    assert_eq!(alternative["parts"][0]["type"], "text/plain");
    assert_eq!(alternative["parts"][1]["type"], "text/html");
    let parts = mail["parts"].as_array().expect("parts");
    let text = parts[0]["text"].as_str().expect("the text part");
    assert!(text.contains("Sammanfattande lägesbild"), "{text}");
    assert!(
        text.contains("&lt;script>alert(1)&lt;/script> \\*\\*fet\\*\\*"),
        "{text}"
    );
    let html = parts[1]["text"].as_str().expect("the HTML part");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    for absent in ["<script", "<style", "<link", "@media"] {
        assert!(
            !html.contains(absent),
            "{absent} in the mail's HTML: {html}"
        );
    }
    assert!(html.contains("<h1 style=\""), "styles inline: {html}");
    assert!(html.contains("Sammanfattande lägesbild"), "{html}");
    // The published PDF attached: its own part, named after the edition's day, its bytes the
    // ones whose digest the edition recorded (and the download's).
    assert_eq!(
        mail["tree"]["parts"][1]["type"], "application/pdf",
        "{mail}"
    );
    let pdf = &parts[2];
    assert_eq!(pdf["type"], "application/pdf", "{mail}");
    assert_eq!(pdf["disposition"], "attachment", "{mail}");
    assert_eq!(
        pdf["filename"],
        format!("regional-rapport-2024-12-27-h{seq}.pdf"),
        "{mail}"
    );
    let Some(EventData::ReportPublished(report)) = site.log.with_store(|store| {
        store
            .event(&lagesbild_store::EventRef::Seq(seq))
            .expect("reads")
            .map(|e| e.event.data)
    }) else {
        panic!("event {seq} is the report");
    };
    let recorded_pdf = report
        .outputs
        .iter()
        .find(|o| o.format.as_str() == "pdf")
        .expect("the edition published a PDF");
    assert_eq!(pdf["sha256"], recorded_pdf.sha256.as_str(), "{mail}");
    assert_eq!(pdf["size"], recorded_pdf.bytes.expect("its size"), "{mail}");
    let download = get(app, &format!("{page_path}/pdf"), None).await;
    assert_eq!(
        pdf["sha256"],
        lagesbild_model::sha256_hex(&download.bytes),
        "the attachment is the download"
    );
    // The first message (chefer, sent on publish) carried the same file.
    let first = parsed(&received[0]);
    assert_eq!(first["parts"][2]["sha256"], pdf["sha256"], "{first}");
    let envelope: Value = serde_json::from_str(
        &std::fs::read_to_string(received[1].with_extension("json")).expect("the envelope"),
    )
    .expect("JSON");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["ordforande@example.se", "vice@example.se"])
    );

    // The sends are in the log as events like any other.
    let head = site.log.head();
    let last = site.log.with_store(|store| {
        store
            .event(&lagesbild_store::EventRef::Seq(head))
            .expect("reads")
            .expect("the last event")
    });
    assert!(matches!(last.event.data, EventData::EditionSent(_)));
    assert_eq!(last.event.by.as_ref().map(|b| b.as_str()), Some("anna"));
}

/// Under the four-eyes rule, a report published past the review (the plain publish form) is
/// not mailed, neither on publish nor from its page: only an edition approved as published is.
#[tokio::test]
async fn under_four_eyes_a_report_published_past_the_review_is_not_sent_from_its_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(sink) = Sink::start(&dir.path().join("inkorg")) else {
        return;
    };
    let Some(log) = TestLog::seeded_on(support::backend()) else {
        return;
    };
    let auth = AuthConfig::parse(&format!(
        "four_eyes = true\n\
         [[user]]\nname = \"anna\"\npassword_hash = \"{h}\"\n\
         [mail]\nfrom = \"Koncernstab kommunikation <kommunikation@example.se>\"\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_secs = 10\n\
         [[mail.list]]\nname = \"chefer\"\nrecipients = [\"chef@example.se\"]\n",
        h = password_hash(),
        port = sink.port,
    ))
    .expect("valid configuration");
    let app = log.app(Some(auth));
    let anna = sign_in(&app, "anna").await;
    let published = post(&app, "/publicera", &anna, &[("date", "2024-12-27")]).await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let seq: u64 = published
        .location()
        .trim_start_matches("/rapporter/")
        .parse()
        .expect("a report");
    let refused = post(
        &app,
        &format!("/rapporter/{seq}/skicka"),
        &anna,
        &[("lista", "chefer")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("godkändes inte"),
        "the page says why: {}",
        refused.body
    );
    assert!(sink.received().is_empty(), "nothing was sent");
    assert!(
        log.with_store(|store| lagesbild_app::mail::sends(store, Some(seq))
            .expect("reads")
            .is_empty()),
        "no send was even tried"
    );
}
