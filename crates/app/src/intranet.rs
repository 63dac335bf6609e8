//! The published editions as the intranet shows them: one per report day, the version that
//! stands (the latest of its day) with when its first version came out, each checked byte for
//! byte against its provenance as the permanent page `/rapporter/SEQ` does ([`publish::view`]:
//! from the edition cache when it holds against the event, else rebuilt from the log). The Atom feed, the static export and the mail all read this list, so
//! none of them shows a byte that was not checked against the chain.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use lagesbild_render::report::{ReportFormat, TemplateSet};
use lagesbild_store::{EventRef, Store};
use lagesbild_timeline::ReportModel;

use crate::edition::edition_name;
use crate::publish::{self, PublishError, Reproduction};

/// An edition as published: the version that stands, rebuilt and checked.
#[derive(Debug)]
pub struct PublishedEdition {
    /// The standing version's `report_published` event.
    pub seq: u64,
    /// The report day.
    pub day: NaiveDate,
    /// Its name in paths: `2024-W52`, or the day when it is not a Friday.
    pub name: String,
    /// 1, or 2 and on when it supersedes earlier versions of its day.
    pub version: u32,
    /// Every version's `report_published`, first first; the last is `seq`.
    pub versions: Vec<u64>,
    /// When the first version was recorded.
    pub first_published: DateTime<Utc>,
    /// When the standing version was recorded.
    pub updated: DateTime<Utc>,
    pub by: Option<String>,
    /// The rebuild; [`PublishedEdition::verified`] says whether it matches.
    pub reproduction: Reproduction,
}

impl PublishedEdition {
    /// Rebuilt from the log and templates byte for byte as published.
    pub fn verified(&self) -> bool {
        self.reproduction.identical()
    }

    /// The model, once verified.
    pub fn model(&self) -> Option<&ReportModel> {
        self.reproduction.model.as_ref().filter(|_| self.verified())
    }

    /// A published output's checked bytes; `None` unless verified and published in `format`.
    pub fn text(&self, format: ReportFormat) -> Option<&str> {
        if self.verified() {
            self.reproduction.text(format)
        } else {
            None
        }
    }

    /// The title people see: [`title_of`] its model, or the day when it does not rebuild.
    pub fn title(&self) -> String {
        match self.model() {
            Some(model) => title_of(model),
            None => format!(
                "Regional rapport {}",
                lagesbild_render::swedish::day(self.day)
            ),
        }
    }

    /// The summary section's points, one line each: the edition in brief.
    pub fn summary_lines(&self) -> Vec<String> {
        self.model()
            .map(|m| m.summary.iter().map(|n| n.text.clone()).collect())
            .unwrap_or_default()
    }
}

/// An edition's title: `Regional rapport vecka 52 · 27 december 2024 · nr 12`, and
/// `· version 2` when it is not the first version of its day.
pub fn title_of(model: &ReportModel) -> String {
    let mut title = format!(
        "Regional rapport vecka {} · {} · nr {}",
        model.report_date.iso_week().week(),
        lagesbild_render::swedish::day(model.report_date),
        model.number
    );
    if model.version > 1 {
        title.push_str(&format!(" · version {}", model.version));
    }
    title
}

/// The published editions, newest day first, at most `limit` of them (all with `None`), each
/// viewed with the templates `set` (its own, found by digest) and checked against its event.
pub fn published_editions(
    store: &mut dyn Store,
    set: &TemplateSet,
    limit: Option<usize>,
) -> Result<Vec<PublishedEdition>, PublishError> {
    // Oldest first, so that a day's versions come in order.
    let mut reports = publish::archive(store)?;
    reports.reverse();
    // Per day, its versions: the event and when it was recorded.
    type Versions = Vec<(u64, DateTime<Utc>)>;
    let mut days: Vec<(NaiveDate, Versions)> = Vec::new();
    for (event, p) in &reports {
        let day = p.report_date.first_day();
        let entry = (event.seq, event.recorded_at.0);
        match days.iter_mut().find(|(d, _)| *d == day) {
            Some((_, versions)) => versions.push(entry),
            None => days.push((day, vec![entry])),
        }
    }
    days.sort_by_key(|(day, _)| std::cmp::Reverse(*day));
    days.truncate(limit.unwrap_or(usize::MAX));
    let mut editions = Vec::new();
    for (day, versions) in days {
        let (seq, updated) = *versions.last().expect("a day has a version");
        // Its outputs from the edition cache when they hold against its event, else rebuilt;
        // the model (title, summary) from the log alone, without typesetting the PDF again.
        let mut reproduction = publish::view(store, set, &EventRef::Seq(seq), &mut Vec::new())?;
        if reproduction.identical() && reproduction.model.is_none() {
            reproduction.model = Some(publish::model_of(store, &reproduction.published)?);
        }
        editions.push(PublishedEdition {
            seq,
            day,
            name: edition_name(day),
            version: u32::try_from(versions.len()).unwrap_or(u32::MAX),
            first_published: versions[0].1,
            updated,
            by: reproduction.event.event.by.as_ref().map(|b| b.to_string()),
            versions: versions.iter().map(|(s, _)| *s).collect(),
            reproduction,
        });
    }
    Ok(editions)
}

/// Where the published pages are, as the feed and the pages link to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The web app: `/rapporter/SEQ`, `/rapporter.atom`.
    Server,
    /// A static export (`report export-site`): paths relative to the export's root,
    /// `rapporter/SEQ.html`, `rapporter.atom`, so that it works wherever it is served.
    Static,
}

impl Site {
    /// The permanent page of a published version.
    pub fn page(self, seq: u64) -> String {
        match self {
            Site::Server => format!("/rapporter/{seq}"),
            Site::Static => format!("rapporter/{seq}.html"),
        }
    }

    /// The published PDF of a version.
    pub fn pdf(self, seq: u64) -> String {
        match self {
            Site::Server => format!("/rapporter/{seq}/pdf"),
            Site::Static => format!("rapporter/{seq}.pdf"),
        }
    }

    pub fn feed(self) -> &'static str {
        match self {
            Site::Server => "/rapporter.atom",
            Site::Static => "rapporter.atom",
        }
    }

    pub fn archive(self) -> &'static str {
        match self {
            Site::Server => "/rapporter",
            Site::Static => "index.html",
        }
    }
}

/// A permanent name for an edition, the same for all its versions.
pub fn edition_id(day: NaiveDate) -> String {
    format!("urn:lagesbild:utgava:{day}")
}

/// What lies inside `<main>` of a published HTML document, or the whole text.
pub fn main_of(html: &str) -> &str {
    let Some(start) = html.find("<main") else {
        return html;
    };
    let Some(open_end) = html[start..].find('>').map(|i| start + i + 1) else {
        return html;
    };
    match html.rfind("</main>") {
        Some(end) if end >= open_end => &html[open_end..end],
        _ => html,
    }
}

/// The Atom feed of `editions` (as [`published_editions`] gives them). Editions that do not
/// reproduce byte for byte are left out and logged: the feed shows only checked bytes.
/// `empty_updated` is the feed's time when it has no entry.
pub fn atom(editions: &[PublishedEdition], site: Site, empty_updated: DateTime<Utc>) -> String {
    use lagesbild_render::feed::{FeedEntry, FeedHead};
    let entries: Vec<FeedEntry> = editions
        .iter()
        .filter(|e| {
            if !e.verified() {
                tracing::warn!(seq = e.seq, day = %e.day, "edition left out of the feed: it does not reproduce byte for byte");
            }
            e.verified()
        })
        .map(|e| {
            let mut summary = e.summary_lines().join(" · ");
            if e.version > 1 {
                summary = format!(
                    "Version {} ersätter tidigare versioner av utgåvan. {summary}",
                    e.version
                );
            }
            FeedEntry {
                id: edition_id(e.day),
                title: e.title(),
                href: site.page(e.seq),
                // The PDF beside the page, for readers that save or print it.
                alternates: e
                    .reproduction
                    .output(ReportFormat::Pdf)
                    .map(|_| (site.pdf(e.seq), ReportFormat::Pdf.content_type().to_owned()))
                    .into_iter()
                    .collect(),
                published: e.first_published,
                updated: e.updated,
                author: e.by.clone(),
                summary: summary.trim().to_owned(),
                content_html: e.text(ReportFormat::Html).map(|h| main_of(h).trim().to_owned()),
            }
        })
        .collect();
    let head = FeedHead {
        id: "urn:lagesbild:rapporter".into(),
        title: "Regional rapport – publicerade utgåvor".into(),
        self_href: site.feed().into(),
        alternate_href: site.archive().into(),
        updated: empty_updated,
    };
    lagesbild_render::feed::atom(&head, &entries)
}

/// One file of a static export, at a path relative to the export's root.
#[derive(Debug)]
pub struct SiteFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Store(#[from] lagesbild_store::StoreError),
    #[error("the index page: {0}")]
    Render(String),
    /// Some published versions do not rebuild byte for byte; nothing is exported.
    #[error(
        "{} not rebuilt byte for byte from this log with these templates, so nothing was exported: {}; give the templates they were published with (--templates DIR) or run `lagesbild report reproduce SEQ` to see why",
        if .0.len() == 1 { "this published report is" } else { "these published reports are" },
        .0.join(", ")
    )]
    NotReproduced(Vec<String>),
}

/// Swedish local time, as the pages print it.
fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn format_label(format: &str) -> &'static str {
    match format {
        "html" => "Webbsida (HTML)",
        "md" => "Markdown",
        "pdf" => "PDF",
        _ => "Fil",
    }
}

/// Every file of a static export of the archive: for every published version, its outputs
/// exactly as published (`rapporter/SEQ.html`, `rapporter/SEQ.md`), each checked byte for
/// byte first; `index.html` listing the editions with relative links; and the Atom feed
/// `rapporter.atom`. A version that does not rebuild is an error naming it, and nothing is
/// returned, so an export never holds an unchecked byte.
pub fn export_site(store: &mut dyn Store, set: &TemplateSet) -> Result<Vec<SiteFile>, ExportError> {
    let editions = published_editions(store, set, None)?;
    let mut files = Vec::new();
    let mut refused = Vec::new();
    let mut listed = Vec::new();
    for edition in &editions {
        // Every version, the standing one last; the standing one is already rebuilt.
        let mut earlier = Vec::new();
        for (i, &seq) in edition.versions.iter().enumerate() {
            let rebuilt;
            let reproduction = if seq == edition.seq {
                &edition.reproduction
            } else {
                rebuilt = publish::view(store, set, &EventRef::Seq(seq), &mut Vec::new())?;
                &rebuilt
            };
            if !reproduction.identical() {
                refused.push(format!("event {seq} ({})", edition.day));
                continue;
            }
            for output in &reproduction.outputs {
                if let Some(bytes) = &output.bytes {
                    files.push(SiteFile {
                        path: format!("rapporter/{seq}.{}", output.format),
                        bytes: bytes.clone(),
                    });
                }
            }
            if seq != edition.seq {
                earlier.push(serde_json::json!({
                    "label": format!("version {}", i + 1),
                    "href": Site::Static.page(seq),
                    "pdf": reproduction.output(ReportFormat::Pdf).map(|_| Site::Static.pdf(seq)),
                }));
            }
        }
        listed.push(serde_json::json!({
            "name": edition.name,
            "title": edition.title(),
            "href": Site::Static.page(edition.seq),
            "published": local(edition.first_published),
            "by": edition.by,
            "updated": (edition.version > 1).then(|| local(edition.updated)),
            "summary": edition.summary_lines(),
            "files": edition.reproduction.outputs.iter().map(|o| serde_json::json!({
                "label": format_label(&o.format),
                "href": format!("rapporter/{}.{}", edition.seq, o.format),
                "sha256": o.published_sha256,
            })).collect::<Vec<_>>(),
            "earlier": earlier,
        }));
    }
    if !refused.is_empty() {
        return Err(ExportError::NotReproduced(refused));
    }
    let index = lagesbild_render::site::index(&serde_json::json!({
        "feed": Site::Static.feed(),
        "editions": listed,
    }))
    .map_err(|e| ExportError::Render(e.to_string()))?;
    files.push(SiteFile {
        path: "index.html".into(),
        bytes: index.into_bytes(),
    });
    let head = store.head()?;
    let updated = store
        .event(&EventRef::Seq(head.seq))?
        .map_or(DateTime::UNIX_EPOCH, |e| e.recorded_at.0);
    files.push(SiteFile {
        path: Site::Static.feed().into(),
        bytes: atom(&editions, Site::Static, updated).into_bytes(),
    });
    Ok(files)
}
