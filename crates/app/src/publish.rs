//! Publishing the weekly report and reproducing a published one. Publishing renders every
//! format from the log's head (Markdown, HTML and, when the templates have `report.typ`, the
//! PDF) and records a `report_published` event with the provenance (log position, head hash,
//! template digest, each output's SHA-256); reproducing rebuilds the same bytes from the log as
//! it stood at that position and says whether they match. The pages [`view`] an edition: its
//! outputs from the edition cache when they hold against its event ([`crate::edition_cache`]),
//! else reproduced, and kept once found identical.

use chrono::NaiveDate;
use lagesbild_model::kinds::ReportPublished;
use lagesbild_model::{
    EventData, FieldError, FuzzyDate, StoredEvent, event_from_value, sha256_hex,
};
use lagesbild_render::report::{ReportFormat, ReportRenderer, TemplateError, TemplateSet};
use lagesbild_store::{EventRef, Head, Store, StoreError};
use serde_json::json;

use crate::caches::CacheNotice;
use crate::report::build_model_from_log;
use crate::staff::REPORT_STREAM;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("field {}: {}", .0.field, .0.reason)]
    Invalid(FieldError),
    #[error("no event {0}")]
    NoSuchEvent(String),
    #[error("event {seq} is a {kind}, not a report_published")]
    NotAReport { seq: u64, kind: &'static str },
    #[error(
        "the report of event {seq} does not reproduce byte for byte from this log and these templates (see `report reproduce {seq}`)"
    )]
    Mismatch { seq: u64 },
}

/// A report just published: the event that records it and the rendered outputs.
#[derive(Debug)]
pub struct Published {
    /// The `report_published` event's sequence number.
    pub seq: u64,
    /// The log position and head hash the report was built from.
    pub built_from: Head,
    /// The head of the log with the `report_published` event itself: what an auditor keeps to
    /// check later that the publication is still in the log.
    pub head: Head,
    /// Every output's format and bytes, in the order the event lists them.
    pub outputs: Vec<(ReportFormat, Vec<u8>)>,
}

/// Renders the report for `day` in every format from the log's head and records it.
pub fn publish(
    store: &mut dyn Store,
    set: &TemplateSet,
    day: NaiveDate,
    compiled_at: chrono::NaiveDateTime,
    by: Option<&str>,
) -> Result<Published, PublishError> {
    let compiled_at = FuzzyDate::Minute(compiled_at);
    let head = store.head()?;
    // Built from the log alone, never from a cache: what is written and recorded here must
    // follow from the chain (ARCHITECTURE.md, "no byte a user reads comes from an unchecked
    // cache").
    let model = build_model_from_log(store, head.seq, day, compiled_at)?;
    let mut outputs = Vec::new();
    let mut listed = Vec::new();
    for format in set.formats() {
        let bytes = ReportRenderer::new(set.clone(), format)?.render_bytes(&model, format)?;
        listed.push(
            json!({ "format": format.name(), "sha256": sha256_hex(&bytes), "bytes": bytes.len() }),
        );
        outputs.push((format, bytes));
    }
    let mut event = json!({
        "kind": "report_published",
        "occurred": compiled_at.to_string(),
        "stream": REPORT_STREAM,
        "summary": format!("Regional rapport för {} publicerades.", lagesbild_render::swedish::day(day)),
        "data": {
            "report_date": day.to_string(),
            "compiled_at": compiled_at.to_string(),
            "log_seq": head.seq,
            "head_hash": head.hash,
            "template_digest": set.digest(),
            "template": set.origin,
            "outputs": listed,
        }
    });
    if let Some(by) = by.map(str::trim).filter(|b| !b.is_empty()) {
        event["by"] = json!(by);
    }
    let event = event_from_value(event).map_err(PublishError::Invalid)?;
    // The provenance stays exact if others append meanwhile: the report was built from the
    // log up to `head`, whatever follows it.
    let report = store.append(&[event], &[])?;
    // What was just rendered from the log and recorded is what a reproduction gives: kept, so
    // that the edition's pages are served without rebuilding it.
    let kept: Vec<(&str, &[u8])> = outputs
        .iter()
        .map(|(format, bytes)| (format.name(), bytes.as_slice()))
        .collect();
    crate::edition_cache::keep(store, report.head.seq, &set.digest(), &kept);
    Ok(Published {
        seq: report.head.seq,
        built_from: head,
        head: report.head,
        outputs,
    })
}

/// How one output of a published report compares with its reproduction.
#[derive(Debug)]
pub struct OutputCheck {
    pub format: String,
    pub published_sha256: String,
    pub reproduced_sha256: String,
    /// The reproduced bytes (the text of Markdown and HTML, the PDF); `None` for an unknown
    /// format.
    pub bytes: Option<Vec<u8>>,
}

impl OutputCheck {
    pub fn identical(&self) -> bool {
        self.published_sha256 == self.reproduced_sha256
    }

    /// The reproduced text of a text format.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes.as_deref()?).ok()
    }
}

/// What became of the log position a report was built from.
#[derive(Debug, PartialEq, Eq)]
pub enum LogState {
    /// The event at the position still has the recorded hash.
    Intact,
    /// The event at the position has another hash now.
    Rewritten { now: String },
    /// The log no longer reaches the position.
    Missing,
}

/// A published report rebuilt from the log.
#[derive(Debug)]
pub struct Reproduction {
    pub event: StoredEvent,
    pub published: ReportPublished,
    /// The templates' digest now, and whether it matches the one recorded.
    pub template_digest: String,
    pub log: LogState,
    /// Empty unless the log is intact.
    pub outputs: Vec<OutputCheck>,
    /// The model the outputs were rebuilt from; `None` unless the log is intact and they were
    /// rebuilt (not served from the edition cache by [`view`]).
    pub model: Option<lagesbild_timeline::ReportModel>,
}

impl Reproduction {
    pub fn templates_match(&self) -> bool {
        self.template_digest == self.published.template_digest.as_str()
    }

    /// Byte for byte the same in every format, from the same templates and log.
    pub fn identical(&self) -> bool {
        self.templates_match()
            && self.log == LogState::Intact
            && !self.outputs.is_empty()
            && self.outputs.iter().all(OutputCheck::identical)
    }

    pub fn text(&self, format: ReportFormat) -> Option<&str> {
        self.output(format).and_then(OutputCheck::text)
    }

    /// The reproduced bytes of one format, whether or not they match.
    pub fn bytes(&self, format: ReportFormat) -> Option<&[u8]> {
        self.output(format).and_then(|o| o.bytes.as_deref())
    }

    pub fn output(&self, format: ReportFormat) -> Option<&OutputCheck> {
        self.outputs.iter().find(|o| o.format == format.name())
    }

    /// The bytes of one format only if the whole publication reproduced byte for byte (the rule
    /// every download follows: nothing is served that was not checked against the chain).
    pub fn verified_bytes(&self, format: ReportFormat) -> Option<&[u8]> {
        if self.identical() {
            self.bytes(format)
        } else {
            None
        }
    }
}

/// The edition recorded by event `which`: its event, the `report_published` data, and the state
/// of the log position it was built from.
fn edition_event(
    store: &dyn Store,
    which: &EventRef,
) -> Result<(StoredEvent, ReportPublished, LogState), PublishError> {
    let Some(event) = store.event(which)? else {
        return Err(PublishError::NoSuchEvent(match which {
            EventRef::Seq(seq) => seq.to_string(),
            EventRef::Key(key) => format!("with key {key:?}"),
        }));
    };
    let EventData::ReportPublished(published) = &event.event.data else {
        return Err(PublishError::NotAReport {
            seq: event.seq,
            kind: event.event.kind(),
        });
    };
    let published = (**published).clone();
    let log = match store.event(&EventRef::Seq(published.log_seq))? {
        Some(at) if at.hash == published.head_hash.as_str() => LogState::Intact,
        Some(at) => LogState::Rewritten { now: at.hash },
        None if published.log_seq == 0 => LogState::Intact,
        None => LogState::Missing,
    };
    Ok((event, published, log))
}

/// Every output `published` lists, rebuilt from the log alone up to its position with the
/// templates `set` (no cache: "identical" must never rest on one). Only reads.
pub fn rebuild(
    store: &dyn Store,
    set: &TemplateSet,
    published: &ReportPublished,
) -> Result<(Vec<OutputCheck>, lagesbild_timeline::ReportModel), PublishError> {
    let day = published.report_date.first_day();
    let model = build_model_from_log(store, published.log_seq, day, published.compiled_at)?;
    let mut outputs = Vec::new();
    for output in &published.outputs {
        let format = crate::provenance::format_named(output.format.as_str());
        let bytes = match format {
            Some(format) => {
                Some(ReportRenderer::new(set.clone(), format)?.render_bytes(&model, format)?)
            }
            None => None,
        };
        outputs.push(OutputCheck {
            format: output.format.to_string(),
            published_sha256: output.sha256.to_string(),
            reproduced_sha256: bytes.as_deref().map(sha256_hex).unwrap_or_default(),
            bytes,
        });
    }
    Ok((outputs, model))
}

/// The templates an edition was published with: `current`, the built-in set, or a set the
/// program shipped before ([`crate::provenance::template_sets`]); `current` when its digest is
/// none of them (and then [`Reproduction::templates_match`] is false).
fn own_templates(current: &TemplateSet, published: &ReportPublished) -> TemplateSet {
    // The usual case, without compiling in and hashing every set the program shipped.
    if current.digest() == published.template_digest.as_str() {
        return current.clone();
    }
    let sets = crate::provenance::template_sets(Some(current));
    crate::provenance::template_set_for(&sets, published.template_digest.as_str())
        .unwrap_or(current)
        .clone()
}

/// Rebuilds the report recorded by event `which` with the templates it was published with
/// (see `own_templates`), from the log alone. When every output comes out identical, the outputs
/// are kept in the edition cache.
pub fn reproduce(
    store: &mut dyn Store,
    current: &TemplateSet,
    which: &EventRef,
) -> Result<Reproduction, PublishError> {
    let (_, published, _) = edition_event(store, which)?;
    let set = own_templates(current, &published);
    reproduce_with(store, &set, which)
}

/// Rebuilds the report recorded by event `which` with exactly the templates `set`, to see
/// what other templates would make of it (`report reproduce --templates DIR`); kept in the
/// edition cache when identical.
pub fn reproduce_with(
    store: &mut dyn Store,
    set: &TemplateSet,
    which: &EventRef,
) -> Result<Reproduction, PublishError> {
    let (event, published, log) = edition_event(store, which)?;
    let (outputs, model) = if log == LogState::Intact {
        let (outputs, model) = rebuild(store, set, &published)?;
        (outputs, Some(model))
    } else {
        (Vec::new(), None)
    };
    let reproduction = Reproduction {
        event,
        published,
        template_digest: set.digest(),
        log,
        outputs,
        model,
    };
    if reproduction.identical() {
        let kept: Vec<(&str, &[u8])> = reproduction
            .outputs
            .iter()
            .filter_map(|o| Some((o.format.as_str(), o.bytes.as_deref()?)))
            .collect();
        crate::edition_cache::keep(
            store,
            reproduction.event.seq,
            &reproduction.template_digest,
            &kept,
        );
    }
    Ok(reproduction)
}

/// The edition recorded by event `which` as its pages show it: from the edition cache when the
/// outputs kept for its own templates (as [`reproduce`] chooses them from `current` and the
/// sets the program knows) hold against the edition's event (one seek; see
/// [`crate::edition_cache::served`]), otherwise [`reproduce`]d from the log (and kept when
/// identical). `notices` says what cache was refused.
pub fn view(
    store: &mut dyn Store,
    current: &TemplateSet,
    which: &EventRef,
    notices: &mut Vec<CacheNotice>,
) -> Result<Reproduction, PublishError> {
    let (event, published, log) = edition_event(store, which)?;
    let set = own_templates(current, &published);
    let template_digest = set.digest();
    if log == LogState::Intact
        && let Some(kept) =
            crate::edition_cache::served(store, &event, &published, &template_digest, notices)?
    {
        let mut kept = kept;
        let outputs = published
            .outputs
            .iter()
            .map(|listed| {
                let bytes = kept
                    .iter()
                    .position(|k| k.format == listed.format.as_str())
                    .map(|i| kept.swap_remove(i).bytes);
                OutputCheck {
                    format: listed.format.to_string(),
                    published_sha256: listed.sha256.to_string(),
                    // `served` checked that the bytes hash to the recorded digest.
                    reproduced_sha256: listed.sha256.to_string(),
                    bytes,
                }
            })
            .collect();
        return Ok(Reproduction {
            event,
            published,
            template_digest,
            log,
            outputs,
            // Not rebuilt: the bytes were checked against the edition's recorded digests.
            model: None,
        });
    }
    reproduce_with(store, &set, which)
}

/// The newest `report_published` event's seq (the home page's edition), if any: one seek.
pub fn newest(store: &dyn Store) -> Result<Option<u64>, StoreError> {
    store.newest_of_kind("report_published")
}

/// The PDF of the edition that event `seq` published, as its pages [`view`] it (from the edition
/// cache when that holds against the event, else rebuilt from the log), given only if the whole
/// publication reproduces byte for byte (its digests are the recorded ones). `current` is the
/// configured templates; the edition's own are found by digest. `None` when the event published
/// no PDF (an edition from before the PDF, or templates without `report.typ`);
/// [`PublishError::Mismatch`] when it does not reproduce.
pub fn published_pdf(
    store: &mut dyn Store,
    current: &TemplateSet,
    seq: u64,
) -> Result<Option<Vec<u8>>, PublishError> {
    let reproduction = view(store, current, &EventRef::Seq(seq), &mut Vec::new())?;
    if reproduction.output(ReportFormat::Pdf).is_none() {
        return Ok(None);
    }
    match reproduction.verified_bytes(ReportFormat::Pdf) {
        Some(bytes) => Ok(Some(bytes.to_vec())),
        None => Err(PublishError::Mismatch { seq }),
    }
}

/// The name a published PDF is downloaded and attached under: the edition's day and the event
/// that published it (`regional-rapport-2024-12-27-h4711.pdf`), so that two versions of a day
/// do not overwrite each other in a download folder.
pub fn pdf_filename(day: NaiveDate, seq: u64) -> String {
    format!("regional-rapport-{day}-h{seq}.pdf")
}

/// The report model an edition was built from, rebuilt from the log up to its position (the
/// model alone, no output rendered): for what needs the edition's number and week when its
/// bytes came from the edition cache.
pub fn model_of(
    store: &dyn Store,
    published: &ReportPublished,
) -> Result<lagesbild_timeline::ReportModel, PublishError> {
    let day = published.report_date.first_day();
    Ok(build_model_from_log(
        store,
        published.log_seq,
        day,
        published.compiled_at,
    )?)
}

/// Every `report_published` event in the log, newest first.
pub fn archive(store: &mut dyn Store) -> Result<Vec<(StoredEvent, ReportPublished)>, StoreError> {
    let filter = lagesbild_store::Filter {
        kinds: vec!["report_published".into()],
        ..lagesbild_store::Filter::default()
    };
    let mut reports = Vec::new();
    for event in lagesbild_store::scan(store, &filter) {
        let event = event?;
        if let EventData::ReportPublished(published) = &event.event.data {
            let published = (**published).clone();
            reports.push((event, published));
        }
    }
    reports.reverse();
    Ok(reports)
}
