//! Sending a published edition by e-mail to the distribution lists of the configuration
//! (politisk ledning, chefer, …): one message per list, `multipart/mixed` holding a
//! `multipart/alternative` (the published Markdown as the plain text, the published HTML with
//! its styles moved into `style` attributes, which mail clients keep) and the attachments (the
//! PDF). Only a report that rebuilds byte for byte is sent. Every attempt, sent or failed, is
//! recorded as an `edition_sent` event, so that the archive shows who got which edition and a
//! failure stays on the edition's page until someone sends it again.
//!
//! The SMTP transport is lettre's blocking one: call [`send_edition`] off async threads (the web
//! app runs it on the blocking pool, like every store call). Headers are built from lettre's
//! typed headers only, which encode any text (a CR or LF included) instead of writing it raw.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDateTime;
use lagesbild_model::kinds::{EditionSent, SendOutcome};
use lagesbild_model::{EventData, FieldError, FuzzyDate, StoredEvent, event_from_value};
use lagesbild_render::report::{ReportFormat, TemplateSet};
use lagesbild_store::{EventRef, Filter, Store, StoreError, scan};
use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::Deserialize;
use serde_json::json;

use crate::publish::{self, PublishError, Reproduction};
use crate::staff::REPORT_STREAM;

/// The longest list name: it goes into every send's summary.
const MAX_LIST_NAME: usize = 100;
/// The most addresses on one list: one message goes to all of them.
const MAX_RECIPIENTS: usize = 500;
/// How much of an SMTP error is kept in the event.
const MAX_ERROR_CHARS: usize = 1000;

/// The `[mail]` table of the configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The sender, `Namn <adress>`.
    pub from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Send to every list when an edition is published (default). Off, editions are sent from
    /// their page only.
    #[serde(default = "yes")]
    pub send_on_publish: bool,
    pub smtp: SmtpConfig,
    #[serde(default, rename = "list")]
    pub lists: Vec<DistributionList>,
}

fn yes() -> bool {
    true
}

/// How to reach the SMTP server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 25 without TLS, 587 with STARTTLS, 465 with TLS.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password (its first line), so that the configuration holds none.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A PEM file of a CA certificate to trust besides the system's (an internal CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long to wait for the server at each step (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

/// Transport security.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain SMTP: only to a server on this machine (loopback).
    None,
    /// STARTTLS required (the default): the message is never sent in the clear.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// A distribution list.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionList {
    pub name: String,
    /// Addresses, `adress` or `Namn <adress>`.
    pub recipients: Vec<String>,
}

impl MailConfig {
    /// Checks everything a send will need, so that a bad address is an error at start, naming
    /// the list and the entry, not a failed send later.
    pub fn check(&self) -> Result<(), String> {
        mailbox(&self.from).map_err(|e| format!("mail.from: {e}"))?;
        if let Some(reply_to) = &self.reply_to {
            mailbox(reply_to).map_err(|e| format!("mail.reply_to: {e}"))?;
        }
        if self.smtp.host.trim().is_empty() {
            return Err("mail.smtp.host is empty".into());
        }
        if self.smtp.security == Security::None && !is_loopback(&self.smtp.host) {
            return Err(format!(
                "mail.smtp: security = \"none\" sends in the clear and is allowed only to this machine (127.0.0.1, ::1, localhost), not {:?}; use \"starttls\" or \"tls\"",
                self.smtp.host
            ));
        }
        if self.smtp.password_file.is_some() && self.smtp.username.is_none() {
            return Err("mail.smtp: password_file without username".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, list) in self.lists.iter().enumerate() {
            let name = list.name.trim();
            if name.is_empty()
                || name.chars().count() > MAX_LIST_NAME
                || name.chars().any(char::is_control)
            {
                return Err(format!(
                    "mail.list[{i}].name must be 1 to {MAX_LIST_NAME} characters with no control characters"
                ));
            }
            if !names.insert(name.to_lowercase()) {
                return Err(format!("mail.list {name:?} is listed twice"));
            }
            if list.recipients.is_empty() || list.recipients.len() > MAX_RECIPIENTS {
                return Err(format!(
                    "mail.list {name:?}: recipients must list 1 to {MAX_RECIPIENTS} addresses"
                ));
            }
            for (j, recipient) in list.recipients.iter().enumerate() {
                mailbox(recipient)
                    .map_err(|e| format!("mail.list {name:?}: recipients[{j}]: {e}"))?;
            }
        }
        Ok(())
    }

    pub fn list(&self, name: &str) -> Option<&DistributionList> {
        self.lists.iter().find(|l| l.name.trim() == name.trim())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn mailbox(text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("{text:?} is not an e-mail address ({e})"))
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("field {}: {}", .0.field, .0.reason)]
    Invalid(FieldError),
    /// The report does not rebuild byte for byte: its bytes are not sent.
    #[error("rapporten i händelse {0} kan inte återskapas byte för byte och skickas därför inte")]
    NotReproduced(u64),
    #[error("ingen sändlista heter {0:?}")]
    NoSuchList(String),
}

/// A file attached to the mail.
#[derive(Clone, Debug)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The edition's published PDF as an attachment (`application/pdf`, named by
/// [`publish::pdf_filename`] after the edition's day), when it published one and `reproduction`
/// holds byte for byte against its event: the bytes whose digest the edition recorded.
pub fn published_pdf(reproduction: &Reproduction) -> Vec<Attachment> {
    let Some(bytes) = reproduction.verified_bytes(ReportFormat::Pdf) else {
        return Vec::new();
    };
    vec![Attachment {
        filename: publish::pdf_filename(
            reproduction.published.report_date.first_day(),
            reproduction.event.seq,
        ),
        content_type: ReportFormat::Pdf.content_type().to_owned(),
        bytes: bytes.to_vec(),
    }]
}

/// What one message says, the same for every list.
#[derive(Clone, Debug)]
pub struct Letter {
    pub report_seq: u64,
    pub day: chrono::NaiveDate,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
}

/// The subject: `Regional rapport vecka 52 · 27 december 2024 · nr 12`, with the version when it
/// is not the first.
pub fn subject(model: &lagesbild_timeline::ReportModel) -> String {
    crate::intranet::title_of(model)
}

/// The letter for a checked reproduction: its published HTML with the styles inlined, its
/// published Markdown as the plain text, and `attachments`.
pub fn letter(
    reproduction: &Reproduction,
    attachments: Vec<Attachment>,
) -> Result<Letter, MailError> {
    let seq = reproduction.event.seq;
    let (Some(model), true) = (reproduction.model.as_ref(), reproduction.identical()) else {
        return Err(MailError::NotReproduced(seq));
    };
    let html = reproduction
        .text(ReportFormat::Html)
        .ok_or(MailError::NotReproduced(seq))?;
    let text = reproduction
        .text(ReportFormat::Markdown)
        .ok_or(MailError::NotReproduced(seq))?;
    Ok(Letter {
        report_seq: seq,
        day: model.report_date,
        subject: subject(model),
        html: inline_styles(html),
        text: text.to_owned(),
        attachments,
    })
}

/// The document with its `<style>` rules moved into `style` attributes (mail clients drop
/// style sheets), keeping nothing that loads from elsewhere. The published HTML has no scripts
/// or external resources; if inlining fails, the document is sent as it is.
pub fn inline_styles(html: &str) -> String {
    let inliner = css_inline::CSSInliner::options()
        .keep_style_tags(false)
        .keep_link_tags(false)
        .keep_at_rules(false)
        .load_remote_stylesheets(false)
        .build();
    inliner.inline(html).unwrap_or_else(|error| {
        tracing::warn!(%error, "the mail's styles could not be inlined; sent as published");
        html.to_owned()
    })
}

static MESSAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A `Message-ID` no other message has: the report, the time, this process and a counter, at
/// the sender's domain.
fn message_id(report_seq: u64, from: &Mailbox) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let n = MESSAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "<regional-rapport.{report_seq}.{micros}.{}.{n}@{}>",
        std::process::id(),
        from.email.domain()
    )
}

/// The message to one list.
pub fn message(
    config: &MailConfig,
    list: &DistributionList,
    letter: &Letter,
    message_id: &str,
) -> Result<Message, String> {
    let from = mailbox(&config.from)?;
    let mut builder = Message::builder()
        .from(from)
        .subject(letter.subject.clone())
        .message_id(Some(message_id.to_owned()))
        .date_now();
    if let Some(reply_to) = &config.reply_to {
        builder = builder.reply_to(mailbox(reply_to)?);
    }
    for recipient in &list.recipients {
        builder = builder.to(mailbox(recipient)?);
    }
    let mut mixed = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
        letter.text.clone(),
        letter.html.clone(),
    ));
    for attachment in &letter.attachments {
        let content_type = ContentType::parse(&attachment.content_type)
            .map_err(|e| format!("{}: {e}", attachment.content_type))?;
        mixed = mixed.singlepart(
            MailAttachment::new(attachment.filename.clone())
                .body(attachment.bytes.clone(), content_type),
        );
    }
    builder.multipart(mixed).map_err(|e| e.to_string())
}

fn transport(smtp: &SmtpConfig) -> Result<SmtpTransport, String> {
    let tls = || -> Result<TlsParameters, String> {
        let mut params = TlsParameters::builder(smtp.host.clone());
        if let Some(file) = &smtp.ca_file {
            let pem =
                std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            params = params.add_root_certificate(
                Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", file.display()))?,
            );
        }
        params.build().map_err(|e| e.to_string())
    };
    let builder = SmtpTransport::builder_dangerous(smtp.host.as_str());
    let mut builder = match smtp.security {
        Security::None => builder.port(smtp.port.unwrap_or(25)),
        Security::Starttls => builder
            .port(smtp.port.unwrap_or(587))
            .tls(Tls::Required(tls()?)),
        Security::Tls => builder
            .port(smtp.port.unwrap_or(465))
            .tls(Tls::Wrapper(tls()?)),
    };
    if let Some(username) = &smtp.username {
        let password = match &smtp.password_file {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            None => String::new(),
        };
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    Ok(builder
        .timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))))
        .build())
}

/// Sends `letter` to `list`; the `Message-ID` and, if it failed, why.
fn deliver(
    config: &MailConfig,
    list: &DistributionList,
    letter: &Letter,
) -> (String, Result<(), String>) {
    let id = match mailbox(&config.from) {
        Ok(from) => message_id(letter.report_seq, &from),
        Err(error) => return (String::new(), Err(error)),
    };
    let result = message(config, list, letter, &id).and_then(|message| {
        transport(&config.smtp)?
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    (id, result)
}

/// What became of one list.
#[derive(Clone, Debug)]
pub struct ListResult {
    pub list: String,
    pub recipients: usize,
    pub message_id: String,
    pub error: Option<String>,
    /// The `edition_sent` event recording it.
    pub seq: u64,
}

/// Text fit for the log: no control characters, bidirectional controls or noncharacters (which
/// the log refuses in new text), at most [`MAX_ERROR_CHARS`]. The server's reply is untrusted
/// text, and an attempt must be recorded whatever it says.
fn loggable(text: &str) -> String {
    let refused = |c: char| {
        c.is_control()
            || lagesbild_model::text::is_bidi_control(c)
            || lagesbild_model::text::is_noncharacter(c)
    };
    let clean: String = text
        .chars()
        .map(|c| if refused(c) { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        "okänt fel".into()
    } else {
        clean.to_owned()
    }
}

/// Which report to send, to which list, by whom and when.
#[derive(Clone, Copy, Debug)]
pub struct SendRequest<'a> {
    /// The `report_published` event.
    pub report_seq: u64,
    /// One list's name; `None` for every list.
    pub only: Option<&'a str>,
    pub by: Option<&'a str>,
    pub now: NaiveDateTime,
}

/// Sends the published report `report_seq` to the list named `only`, or to every list, and
/// records each attempt as an `edition_sent` event by `by` at `now`. `attachments` gives the
/// files to attach for the checked reproduction (the PDF, see [`published_pdf`]). A failed send is recorded, not
/// returned as an error: the error is for what stops every send (the report does not rebuild,
/// the log cannot be written).
pub fn send_edition(
    store: &mut dyn Store,
    set: &TemplateSet,
    config: &MailConfig,
    request: &SendRequest<'_>,
    attachments: &dyn Fn(&Reproduction) -> Vec<Attachment>,
) -> Result<Vec<ListResult>, MailError> {
    let SendRequest {
        report_seq,
        only,
        by,
        now,
    } = *request;
    let lists: Vec<&DistributionList> = match only {
        Some(name) => vec![
            config
                .list(name)
                .ok_or_else(|| MailError::NoSuchList(name.to_owned()))?,
        ],
        None => config.lists.iter().collect(),
    };
    // Checked byte for byte against the edition's event, like the permanent page: from the
    // edition cache when it holds (so the PDF is not typeset again), else rebuilt from the log.
    // The subject needs the model, rebuilt from the log alone when the bytes came from the cache.
    let mut reproduction = publish::view(store, set, &EventRef::Seq(report_seq), &mut Vec::new())?;
    if reproduction.identical() && reproduction.model.is_none() {
        reproduction.model = Some(publish::model_of(store, &reproduction.published)?);
    }
    let files = attachments(&reproduction);
    let letter = letter(&reproduction, files)?;
    let mut results = Vec::new();
    for list in lists {
        let (message_id, outcome) = deliver(config, list, &letter);
        let name = list.name.trim();
        let day = lagesbild_render::swedish::day(letter.day);
        let error = outcome.err().map(|e| loggable(&e));
        let summary = match &error {
            None => format!("Utgåvan {day} skickades till {name}."),
            Some(_) => format!("Utgåvan {day} kunde inte skickas till {name}."),
        };
        let mut data = json!({
            "report_seq": report_seq,
            "edition": letter.day.to_string(),
            "list": name,
            "recipients": list.recipients.len(),
            "message_id": if message_id.is_empty() { "<ingen>".to_owned() } else { message_id.clone() },
            "outcome": if error.is_some() { "failed" } else { "sent" },
        });
        if let Some(error) = &error {
            data["error"] = json!(error);
        }
        let mut event = json!({
            "kind": "edition_sent",
            "occurred": FuzzyDate::Minute(now).to_string(),
            "stream": REPORT_STREAM,
            "summary": summary,
            "data": data,
        });
        if let Some(by) = by.map(str::trim).filter(|b| !b.is_empty()) {
            event["by"] = json!(by);
        }
        let event = event_from_value(event).map_err(MailError::Invalid)?;
        let seq = store.append(&[event], &[])?.head.seq;
        match &error {
            None => tracing::info!(report_seq, list = name, %message_id, "edition sent"),
            Some(error) => tracing::warn!(report_seq, list = name, %error, "edition not sent"),
        }
        results.push(ListResult {
            list: name.to_owned(),
            recipients: list.recipients.len(),
            message_id,
            error,
            seq,
        });
    }
    Ok(results)
}

/// Every `edition_sent` in the log, oldest first; of one report only with `report_seq`.
pub fn sends(
    store: &mut dyn Store,
    report_seq: Option<u64>,
) -> Result<Vec<(StoredEvent, EditionSent)>, StoreError> {
    let filter = Filter {
        kinds: vec!["edition_sent".into()],
        ..Filter::default()
    };
    let mut out = Vec::new();
    for event in scan(store, &filter) {
        let event = event?;
        if let EventData::EditionSent(sent) = &event.event.data
            && report_seq.is_none_or(|seq| sent.report_seq == seq)
        {
            let sent = sent.clone();
            out.push((event, sent));
        }
    }
    Ok(out)
}

/// The configured lists that have not got report `report_seq`: no send to them succeeded
/// (never tried, or only failed), given its `sends`.
pub fn unsent<'a>(config: &'a MailConfig, sends: &[(StoredEvent, EditionSent)]) -> Vec<&'a str> {
    config
        .lists
        .iter()
        .map(|l| l.name.trim())
        .filter(|name| {
            !sends
                .iter()
                .any(|(_, s)| s.list.as_str() == *name && s.outcome == SendOutcome::Sent)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<MailConfig, String> {
        let text = format!(
            "from = \"Koncernstab kommunikation <kommunikation@example.se>\"\n{extra}\n[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n[[list]]\nname = \"politisk ledning\"\nrecipients = [\"Anna <anna@example.se>\", \"bo@example.se\"]\n"
        );
        let config: MailConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    #[test]
    fn whatever_the_server_replies_the_attempt_can_be_recorded() {
        let reply = "550 \u{202E}nekad\u{2066} \u{FFFF}\r\nX-Injected: ja\u{0}";
        let text = loggable(reply);
        assert_eq!(text, "550  nekad     X-Injected: ja");
        assert!(lagesbild_model::Text::new(text).is_ok());
        assert_eq!(loggable("\u{202E}\r\n"), "okänt fel");
    }

    #[test]
    fn a_bad_address_or_plain_smtp_to_another_machine_is_refused_at_start() {
        assert!(config("").is_ok());
        let bad = config("").map(|mut c| {
            c.lists[0].recipients.push("inte en adress".into());
            c.check()
        });
        let error = bad.expect("parses").unwrap_err();
        assert!(
            error.contains("\"politisk ledning\": recipients[2]"),
            "{error}"
        );
        let mut plain = config("").expect("valid");
        plain.smtp.host = "smtp.example.se".into();
        assert!(
            plain
                .check()
                .unwrap_err()
                .contains("allowed only to this machine")
        );
        plain.smtp.security = Security::Starttls;
        assert!(plain.check().is_ok());
    }

    #[test]
    fn a_subject_with_cr_lf_cannot_add_a_header() {
        let config = config("").expect("valid");
        let letter = Letter {
            report_seq: 7,
            day: chrono::NaiveDate::from_ymd_opt(2024, 12, 27).expect("a day"),
            subject: "Regional rapport\r\nBcc: inkräktare@example.com\r\n\r\nFalsk text".into(),
            html: "<p>hej</p>".into(),
            text: "hej".into(),
            attachments: vec![Attachment {
                filename: "rapport\r\nX-Evil: 1.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.7".to_vec(),
            }],
        };
        let message =
            message(&config, &config.lists[0], &letter, "<a.b@example.se>").expect("builds");
        let formatted = String::from_utf8_lossy(&message.formatted()).into_owned();
        let head = &formatted[..formatted.find("\r\n\r\n").expect("a header")];
        for line in head.lines() {
            assert!(!line.starts_with("Bcc:"), "{head}");
        }
        assert!(!formatted.contains("\r\nX-Evil:"), "{formatted}");
        assert!(!formatted.contains("\r\nFalsk text"), "{formatted}");
        assert_eq!(
            message.envelope().to().len(),
            2,
            "only the list's addresses"
        );
    }
}
