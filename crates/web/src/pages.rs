//! The reading pages: the latest report and the archive, a preview for any date, the timeline,
//! waves and diff with their date pickers, the audit log, one event, and verification.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use lagesbild_app::window::{self, PageQuery, Window};
use lagesbild_app::{clock, params, publish, replay, report};
use lagesbild_model::{FuzzyDate, RecordedAt, StoredEvent};
use lagesbild_render::doc;
use lagesbild_render::report::ReportFormat;
use lagesbild_render::views::{self as docs, Axes};
use lagesbild_store::{EventRef, Filter, StoreError};
use lagesbild_timeline::{TimelineEntry, TimelineKey};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::AppState;
use crate::error::WebError;
use crate::form_errors::{FormErrors, FormField, Kind};
use crate::session::{Viewer, viewer};
use crate::views::VIEWS;

/// Renders a page for this viewer.
pub(crate) fn page(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    title: &str,
    nav: &str,
    context: Value,
) -> Result<Html<String>, WebError> {
    VIEWS.page(
        name,
        title,
        nav,
        Some(viewer),
        Some(state.writable()),
        context,
    )
}

/// A query parameter, blank meaning absent.
pub(crate) fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub(crate) fn parse<T>(
    field: &str,
    value: &Option<String>,
    parser: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, WebError> {
    given(value)
        .map(|v| parser(v).map_err(|reason| WebError::bad(field, reason)))
        .transpose()
}

/// The body of a full HTML document: what lies inside `<main>`, or inside `<body>`.
fn main_of(html: &str) -> &str {
    let inner = |open: &str, close: &str| {
        let start = html.find(open)?;
        let from = start + html[start..].find('>')? + 1;
        let to = html.rfind(close)?;
        (from <= to).then(|| &html[from..to])
    };
    inner("<main", "</main>")
        .or_else(|| inner("<body", "</body>"))
        .unwrap_or(html)
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.with_store(|store| Ok(store.head()?.seq)).await {
        Ok(seq) => axum::Json(json!({ "status": "ok", "head_seq": seq })).into_response(),
        Err(error) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unavailable", "error": error.to_string() })),
        )
            .into_response(),
    }
}

/// The site's stylesheet. Its address carries a digest of its text (`views::stylesheet_href`),
/// so it may be cached for a year.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        crate::views::stylesheet(),
    )
        .into_response()
}

pub async fn not_found(session: Session) -> Response {
    let _ = viewer(&session).await;
    WebError::NotFound("det finns ingen sida här".into()).into_response()
}

fn provenance(reproduction: &publish::Reproduction) -> Value {
    let p = &reproduction.published;
    json!({
        "seq": reproduction.event.seq,
        "report_date": p.report_date.to_string(),
        "compiled_at": p.compiled_at.to_string(),
        "log_seq": p.log_seq,
        "head_hash": p.head_hash.as_str(),
        "template_digest": p.template_digest.as_str(),
        "template": p.template.as_ref().map(|t| t.as_str()),
        "templates_match": reproduction.templates_match(),
        "current_digest": reproduction.template_digest,
        "by": reproduction.event.event.by.as_ref().map(|b| b.as_str()),
        "recorded_at": reproduction.event.recorded_at.to_string(),
        "log_intact": reproduction.log == publish::LogState::Intact,
        "identical": reproduction.identical(),
        "pdf": reproduction.output(ReportFormat::Pdf).is_some(),
        "outputs": reproduction.outputs.iter().map(|o| json!({
            "format": o.format,
            "published": o.published_sha256,
            "reproduced": o.reproduced_sha256,
            "identical": o.identical(),
        })).collect::<Vec<_>>(),
    })
}

async fn report_page(
    state: AppState,
    viewer: Viewer,
    seq: u64,
    nav: &str,
) -> Result<Html<String>, WebError> {
    let set = state.templates().set().clone();
    // The edition cache when it holds against the edition's event, else rebuilt from the log.
    let (reproduction, notices, sends) = state
        .with_store(move |store| {
            let mut notices = Vec::new();
            let reproduction = publish::view(store, &set, &EventRef::Seq(seq), &mut notices)?;
            let sends = lagesbild_app::mail::sends(store, Some(seq))?;
            Ok((reproduction, swedish(&notices), sends))
        })
        .await?;
    let mail = crate::mailing::context(&state, &sends);
    let body = reproduction
        .text(ReportFormat::Html)
        .map(|html| crate::views::scrollable_tables(main_of(html)));
    let title = format!(
        "Regional rapport {}",
        lagesbild_render::swedish::day(reproduction.published.report_date.first_day())
    );
    page(
        &state,
        &viewer,
        "report",
        &title,
        nav,
        json!({ "report": provenance(&reproduction), "body": body, "cache_notices": notices, "mail": mail }),
    )
}

pub async fn latest(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, WebError> {
    let viewer = viewer(&session).await?;
    let newest = state
        .with_store(|store| Ok(publish::newest(store)?))
        .await?;
    match newest {
        Some(seq) => report_page(state, viewer, seq, "rapport").await,
        None => page(
            &state,
            &viewer,
            "report",
            "Senaste rapporten",
            "rapport",
            json!({ "report": null, "body": null }),
        ),
    }
}

pub async fn archive(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, WebError> {
    let viewer = viewer(&session).await?;
    let (reports, versions, sends) = state
        .with_store(|store| {
            let reports = publish::archive(store)?;
            let versions = lagesbild_app::edition::archive_versions(store, &reports)?;
            let sends = lagesbild_app::mail::sends(store, None)?;
            Ok((reports, versions, sends))
        })
        .await?;
    let rows: Vec<Value> = reports
        .iter()
        .zip(&versions)
        .map(|((event, p), v)| {
            json!({
                "seq": event.seq,
                "version": v.version,
                "current": v.current,
                "superseded_by": v.superseded_by,
                "changed": v.changed,
                "edition": lagesbild_app::edition::edition_name(p.report_date.first_day()),
                "report_date": p.report_date.to_string(),
                "compiled_at": p.compiled_at.to_string(),
                "log_seq": p.log_seq,
                "head_hash": p.head_hash.as_str(),
                "by": event.event.by.as_ref().map(|b| b.as_str()),
                "sent_to": sent_to(&sends, event.seq),
                "pdf": p.outputs.iter().any(|o| o.format.as_str() == ReportFormat::Pdf.name()),
            })
        })
        .collect();
    page(
        &state,
        &viewer,
        "archive",
        "Publicerade rapporter",
        "arkiv",
        json!({ "reports": rows }),
    )
}

pub async fn published(
    State(state): State<AppState>,
    session: Session,
    Path(seq): Path<String>,
) -> Result<Html<String>, WebError> {
    let viewer = viewer(&session).await?;
    let seq = seq
        .parse::<u64>()
        .map_err(|_| WebError::NotFound(format!("{seq:?} är inget händelsenummer")))?;
    report_page(state, viewer, seq, "arkiv").await
}

/// The published bytes themselves: `html` (also the print view), `md` or `pdf` (a download,
/// named after the edition's day). Only bytes that reproduced from the chain are served; a
/// publication that does not reproduce is a 409, whichever format is asked for.
pub async fn published_file(
    State(state): State<AppState>,
    Path((seq, format)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let seq = seq
        .parse::<u64>()
        .map_err(|_| WebError::NotFound(format!("{seq:?} är inget händelsenummer")))?;
    let Some(format) = lagesbild_app::provenance::format_named(&format) else {
        return Err(WebError::NotFound(format!(
            "formatet {format:?} finns inte: html, md eller pdf"
        )));
    };
    let set = state.templates().set().clone();
    let reproduction = state
        .with_store(move |store| {
            Ok(publish::view(
                store,
                &set,
                &EventRef::Seq(seq),
                &mut Vec::new(),
            )?)
        })
        .await?;
    if !reproduction.identical() {
        return Err(WebError::Conflict(format!(
            "rapporten i händelse {seq} kan inte återskapas byte för byte med dessa mallar och denna logg; se /rapporter/{seq}"
        )));
    }
    let bytes = reproduction
        .verified_bytes(format)
        .ok_or_else(|| {
            WebError::NotFound(format!("rapporten publicerades inte som {}", format.name()))
        })?
        .to_vec();
    if format == ReportFormat::Pdf {
        let day = reproduction.published.report_date.first_day();
        let disposition = format!(
            "attachment; filename=\"{}\"",
            lagesbild_app::publish::pdf_filename(day, seq)
        );
        return Ok((
            [
                (header::CONTENT_TYPE, format.content_type().to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response());
    }
    Ok(([(header::CONTENT_TYPE, format.content_type())], bytes).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct DateQuery {
    pub date: Option<String>,
}

/// The report model for `day` from the whole log, compiled now, and the Swedish notices of
/// caches the build refused.
/// The lists report `seq` went to, with how many recipients, and those whose last attempt
/// failed, for the archive: who got which edition.
fn sent_to(sends: &[(StoredEvent, lagesbild_model::kinds::EditionSent)], seq: u64) -> Vec<Value> {
    use lagesbild_model::kinds::SendOutcome;
    let mut lists: Vec<(String, u64, bool)> = Vec::new();
    for (_, s) in sends.iter().filter(|(_, s)| s.report_seq == seq) {
        let sent = s.outcome == SendOutcome::Sent;
        match lists.iter_mut().find(|(l, _, _)| l == s.list.as_str()) {
            // Once sent, a later failure does not unsend it.
            Some(entry) => {
                if sent || !entry.2 {
                    *entry = (entry.0.clone(), s.recipients, sent || entry.2);
                }
            }
            None => lists.push((s.list.to_string(), s.recipients, sent)),
        }
    }
    lists
        .into_iter()
        .map(|(list, recipients, sent)| json!({ "list": list, "recipients": recipients, "sent": sent }))
        .collect()
}

pub(crate) async fn current_model(
    state: &AppState,
    day: Option<NaiveDate>,
) -> Result<(lagesbild_timeline::ReportModel, NaiveDate, Vec<String>), WebError> {
    let now = clock::now_local().map_err(WebError::Internal)?;
    let day = day.unwrap_or(now.date());
    let (model, notices) = state
        .with_store(move |store| {
            let head = store.head()?.seq;
            let mut notices = Vec::new();
            let model =
                report::build_model_noted(store, head, day, FuzzyDate::Minute(now), &mut notices)?;
            Ok((model, swedish(&notices)))
        })
        .await?;
    Ok((model, day, notices))
}

fn swedish(notices: &[lagesbild_app::caches::CacheNotice]) -> Vec<String> {
    notices.iter().map(|n| n.swedish()).collect()
}

const PREVIEW_FORM: [FormField; 1] = [FormField::new(
    "date",
    "date",
    &["date"],
    Kind::Day { empty: "" },
)];

pub async fn preview(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<DateQuery>,
) -> Result<Response, WebError> {
    let viewer = viewer(&session).await?;
    let errors = FormErrors::check(&PREVIEW_FORM, &json!({ "date": query.date }));
    if !errors.is_empty() {
        let context = json!({
            "date": given(&query.date), "body": "", "log_seq": null, "form_errors": errors.context(),
        });
        let title = "Förhandsvisning av rapporten";
        return page(
            &state,
            &viewer,
            "preview",
            title,
            "forhandsvisning",
            context,
        )
        .map(|html| (StatusCode::BAD_REQUEST, html).into_response());
    }
    let day = parse("date", &query.date, params::day)?;
    let (model, day, notices) = current_model(&state, day).await?;
    let html = state
        .renderer(ReportFormat::Html)?
        .render(&model, ReportFormat::Html)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    page(
        &state,
        &viewer,
        "preview",
        "Förhandsvisning av rapporten",
        "forhandsvisning",
        json!({
            "date": given(&query.date).map_or_else(|| day.to_string(), str::to_owned),
            "body": crate::views::scrollable_tables(main_of(&html)),
            "log_seq": model.log_seq,
            "cache_notices": notices,
        }),
    )
    .map(IntoResponse::into_response)
}

#[derive(Debug, Default, Deserialize)]
pub struct TimeQuery {
    pub as_of: Option<String>,
    pub known_at: Option<String>,
    /// The public-record day (`--public-at`): only facts whose sources had been published.
    pub public_at: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The timeline's page: around a day, or after or before a place (`DATE.SEQ`), and how
    /// many facts (`lagesbild_app::window`).
    pub around: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// The timeline page `query` asks for on the axes `asked`: at most one of `around`, `after`
/// and `before` (none: the latest facts), `limit` facts (default
/// [`window::DEFAULT_PAGE`]).
pub(crate) fn page_query(query: &TimeQuery, asked: &Asked) -> Result<PageQuery, WebError> {
    let around = parse("around", &query.around, params::day)?;
    let after = parse("after", &query.after, |t| t.parse::<TimelineKey>())?;
    let before = parse("before", &query.before, |t| t.parse::<TimelineKey>())?;
    let window = match (around, after, before) {
        (None, None, None) => Window::Latest,
        (Some(day), None, None) => Window::Around(day),
        (None, Some(key), None) => Window::After(key),
        (None, None, Some(key)) => Window::Before(key),
        _ => {
            let field = if around.is_some() { "around" } else { "after" };
            return Err(WebError::bad(
                field,
                "give only one of around, after and before",
            ));
        }
    };
    let limit = match given(&query.limit) {
        None => window::DEFAULT_PAGE,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=window::MAX_PAGE).contains(n))
            .ok_or_else(|| {
                WebError::bad(
                    "limit",
                    format!(
                        "{text:?} is not a number of facts from 1 to {}",
                        window::MAX_PAGE
                    ),
                )
            })?,
    };
    Ok(PageQuery {
        as_of: asked.as_of,
        public_at: asked.public_at,
        window,
        limit,
    })
}

/// A page of the timeline as the query asks for it, its axes, and the Swedish notices of the
/// checkpoints the replay refused.
pub(crate) async fn timeline_page(
    state: &AppState,
    query: &TimeQuery,
) -> Result<(window::PageView, PageQuery, Axes, Vec<String>), WebError> {
    let asked = asked(query)?;
    let page_query = page_query(query, &asked)?;
    let known_text = given(&query.known_at).map(str::to_owned);
    let known_at = asked.known_at;
    let cache = state.programme_cache();
    let (page, log_seq, notices) = state
        .with_store(move |store| {
            let seq = replay::seq_known_at(store, known_at.as_ref())?;
            let mut notices = Vec::new();
            let programme = cache.programme(store, seq, &mut notices)?;
            let page = window::page_view(store, &programme, &page_query)?;
            Ok((page, seq, swedish(&notices)))
        })
        .await?;
    let axes = Axes {
        as_of: asked.as_of,
        known_at: known_text,
        log_seq,
        public_at: asked.public_at,
    };
    Ok((page, page_query, axes, notices))
}

/// The address of the timeline page beside this one: the same axes and size, `(name, key)`
/// the place it starts from.
fn timeline_href(query: &TimeQuery, (name, key): (&str, TimelineKey)) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (field, value) in [
        ("as_of", &query.as_of),
        ("known_at", &query.known_at),
        ("public_at", &query.public_at),
        ("limit", &query.limit),
    ] {
        if let Some(value) = given(value) {
            pairs.push((field, value.to_owned()));
        }
    }
    pairs.push((name, key.to_string()));
    format!(
        "/tidslinje?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

/// The two axes of a time query, parsed.
pub(crate) struct Asked {
    pub as_of: Option<NaiveDate>,
    pub known_at: Option<RecordedAt>,
    pub public_at: Option<NaiveDate>,
}

pub(crate) fn asked(query: &TimeQuery) -> Result<Asked, WebError> {
    Ok(Asked {
        as_of: parse("as_of", &query.as_of, params::as_of)?,
        known_at: parse("known_at", &query.known_at, |t| params::instant(t, true))?,
        public_at: parse("public_at", &query.public_at, params::as_of)?,
    })
}

/// Which replay a page needs: everything, or the programme without the timeline-only facts
/// (bounded by checkpoints; enough for waves, plans and matters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Facts {
    With,
    Without,
}

/// The projection as known at `known_at`, the axes to print, and the Swedish notices of
/// checkpoints the replay refused.
pub(crate) async fn replayed(
    state: &AppState,
    known_at: Option<RecordedAt>,
    as_of: Option<NaiveDate>,
    known_text: Option<String>,
    facts: Facts,
) -> Result<(Arc<lagesbild_timeline::Projection>, Axes, Vec<String>), WebError> {
    let cache = state.programme_cache();
    state
        .with_store(move |store| {
            let seq = replay::seq_known_at(store, known_at.as_ref())?;
            let mut notices = Vec::new();
            let projection = match facts {
                Facts::With => Arc::new(replay::projection_noted(store, seq, &mut notices)?),
                Facts::Without => cache.programme(store, seq, &mut notices)?,
            };
            Ok((
                projection,
                Axes {
                    as_of,
                    known_at: known_text,
                    log_seq: seq,
                    public_at: None,
                },
                swedish(&notices),
            ))
        })
        .await
}

/// The analysis pages' time pickers, for `form_errors`.
const TIME_FORM: [FormField; 6] = [
    FormField::new("around", "around", &["around"], Kind::Day { empty: "" }),
    FormField::new("as_of", "as_of", &["as_of"], Kind::AsOf),
    FormField::new("known_at", "known_at", &["known_at"], Kind::Instant),
    FormField::new("public_at", "public_at", &["public_at"], Kind::AsOf),
    FormField::new("from", "from", &["from"], Kind::AsOf),
    FormField::new("to", "to", &["to"], Kind::AsOf),
];

/// An analysis page: the date pickers, and the document `body` built from the axes asked for.
fn analysis_page(
    state: &AppState,
    viewer: &Viewer,
    query: &TimeQuery,
    kind: &str,
    (title, nav): (&str, &str),
    (body, notices): (String, Vec<String>),
    paging: Option<Value>,
) -> Result<Html<String>, WebError> {
    let context = json!({
        "cache_notices": notices,
        "paging": paging,
        "around": given(&query.around),
        "kind": kind,
        "as_of": given(&query.as_of),
        "known_at": given(&query.known_at),
        "public_at": given(&query.public_at),
        "from": given(&query.from),
        "to": given(&query.to),
        "body": crate::views::scrollable_tables(&body),
    });
    page(state, viewer, "analysis", title, nav, context)
}

/// The analysis page with its pickers and what is wrong with them (a 400), when the time
/// parameters asked for do not read; `None` when they do.
fn analysis_refused(
    state: &AppState,
    viewer: &Viewer,
    query: &TimeQuery,
    kind: &str,
    titles: (&str, &str),
) -> Option<Result<Response, WebError>> {
    let typed = json!({
        "as_of": query.as_of, "known_at": query.known_at, "public_at": query.public_at,
        "from": query.from, "to": query.to, "around": query.around,
    });
    let errors = FormErrors::check(&TIME_FORM, &typed);
    if errors.is_empty() {
        return None;
    }
    let context = json!({
        "kind": kind,
        "as_of": given(&query.as_of),
        "known_at": given(&query.known_at),
        "public_at": given(&query.public_at),
        "from": given(&query.from),
        "to": given(&query.to),
        "around": given(&query.around),
        "body": "",
        "form_errors": errors.context(),
    });
    Some(
        page(state, viewer, "analysis", titles.0, titles.1, context)
            .map(|html| (StatusCode::BAD_REQUEST, html).into_response()),
    )
}

/// The view as of the asked day, as known at the asked time, and its axes.
pub(crate) async fn asked_view(
    state: &AppState,
    query: &TimeQuery,
    facts: Facts,
) -> Result<(lagesbild_timeline::View, Axes, Vec<String>), WebError> {
    let asked = asked(query)?;
    let known_text = given(&query.known_at).map(str::to_owned);
    let (projection, mut axes, notices) =
        replayed(state, asked.known_at, asked.as_of, known_text, facts).await?;
    axes.public_at = asked.public_at;
    Ok((
        projection.view_public(asked.as_of, asked.public_at),
        axes,
        notices,
    ))
}

pub async fn timeline(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<TimeQuery>,
) -> Result<Response, WebError> {
    let viewer = viewer(&session).await?;
    let titles = ("Tidslinje", "tidslinje");
    if let Some(refused) = analysis_refused(&state, &viewer, &query, "timeline", titles) {
        return refused;
    }
    let (page, asked, axes, notices) = timeline_page(&state, &query).await?;
    let body = doc::to_html_body(&docs::timeline_doc(&page.view, &axes));
    let shown = &page.view.timeline;
    let paging = json!({
        "previous": page.previous.map(|key| timeline_href(&query, ("before", key))),
        "next": page.next.map(|key| timeline_href(&query, ("after", key))),
        "summary": page_summary(shown, asked.limit),
    });
    analysis_page(
        &state,
        &viewer,
        &query,
        "timeline",
        titles,
        (body, notices),
        Some(paging),
    )
    .map(IntoResponse::into_response)
}

pub async fn waves(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<TimeQuery>,
) -> Result<Response, WebError> {
    let viewer = viewer(&session).await?;
    let titles = ("Etapper och planer", "vagor");
    if let Some(refused) = analysis_refused(&state, &viewer, &query, "waves", titles) {
        return refused;
    }
    let (view, axes, notices) = asked_view(&state, &query, Facts::Without).await?;
    let body = doc::to_html_body(&docs::waves_doc_linked(
        &view,
        &axes,
        true,
        Some(matter_href),
    ));
    analysis_page(
        &state,
        &viewer,
        &query,
        "waves",
        titles,
        (body, notices),
        None,
    )
    .map(IntoResponse::into_response)
}

/// The address of a matter's page. Matter ids are `[a-z0-9-]+`, so the id needs no escaping.
fn matter_href(id: &str) -> String {
    format!("/arenden/{id}")
}

/// One matter's page (`/arenden/ID`): its history as of the day and as known at the time the
/// pickers ask for, reached from the waves page where matters are listed.
pub async fn matter(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<TimeQuery>,
) -> Result<Response, WebError> {
    let viewer = viewer(&session).await?;
    let titles = ("Ärende", "vagor");
    if let Some(refused) = analysis_refused(&state, &viewer, &query, "matter", titles) {
        return refused;
    }
    let (view, axes, notices) = asked_view(&state, &query, Facts::Without).await?;
    let Some(matter) = view.matter(&id) else {
        return Err(WebError::NotFound(format!(
            "inget ärende {:?} i loggen vid den valda tidpunkten",
            id.chars().take(64).collect::<String>()
        )));
    };
    let document = docs::matter_doc(matter, &axes);
    let body = doc::to_html_body(&document);
    let titles = (document.title.as_str(), "vagor");
    analysis_page(
        &state,
        &viewer,
        &query,
        "matter",
        titles,
        (body, notices),
        None,
    )
    .map(IntoResponse::into_response)
}

pub async fn diff(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<TimeQuery>,
) -> Result<Response, WebError> {
    let viewer = viewer(&session).await?;
    let titles = ("Skillnad mellan två datum", "skillnad");
    if let Some(refused) = analysis_refused(&state, &viewer, &query, "diff", titles) {
        return refused;
    }
    let asked = asked(&query)?;
    let from = parse("from", &query.from, params::as_of)?;
    let to = parse("to", &query.to, params::as_of)?;
    let (body, notices) = match from {
        Some(from) => {
            let (projection, axes, notices) = replayed(
                &state,
                asked.known_at,
                to,
                given(&query.known_at).map(str::to_owned),
                Facts::With,
            )
            .await?;
            let public = asked.public_at;
            let diff = lagesbild_timeline::diff(
                &projection.view_public(Some(from), public),
                &projection.view_public(to, public),
            );
            let axes = Axes {
                public_at: public,
                ..axes
            };
            (doc::to_html_body(&docs::diff_doc(&diff, &axes)), notices)
        }
        None => (String::new(), Vec::new()),
    };
    analysis_page(
        &state,
        &viewer,
        &query,
        "diff",
        titles,
        (body, notices),
        None,
    )
    .map(IntoResponse::into_response)
}

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    pub kind: Option<String>,
    pub stream: Option<String>,
    pub occurred_from: Option<String>,
    pub occurred_to: Option<String>,
    pub recorded_from: Option<String>,
    pub recorded_to: Option<String>,
    pub after: Option<String>,
    pub limit: Option<String>,
}

/// The largest page of the log one request returns.
pub const MAX_PAGE: usize = 500;

pub(crate) struct LogRequest {
    pub filter: Filter,
    pub after: u64,
    pub limit: usize,
}

pub(crate) fn log_request(query: &LogQuery) -> Result<LogRequest, WebError> {
    let list = |value: &Option<String>| -> Vec<String> {
        given(value)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let kinds = list(&query.kind);
    for kind in &kinds {
        if !lagesbild_model::KINDS.contains(&kind.as_str()) {
            return Err(WebError::bad(
                "kind",
                format!("{kind:?} is not a kind of event"),
            ));
        }
    }
    let fuzzy = lagesbild_app::day_input::parse_date;
    let limit = parse("limit", &query.limit, |t| {
        t.parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| format!("{t:?} is not a page size from 1 to {MAX_PAGE}"))
    })?
    .unwrap_or(50);
    Ok(LogRequest {
        filter: Filter {
            streams: list(&query.stream),
            kinds,
            occurred_from: parse("occurred_from", &query.occurred_from, fuzzy)?
                .map(|d| d.first_day()),
            occurred_to: parse("occurred_to", &query.occurred_to, fuzzy)?.map(|d| d.last_day()),
            recorded_from: parse("recorded_from", &query.recorded_from, |t| {
                params::instant(t, false)
            })?,
            recorded_to: parse("recorded_to", &query.recorded_to, |t| {
                params::instant(t, true)
            })?,
            max_seq: None,
        },
        after: parse("after", &query.after, |t| {
            t.parse::<u64>()
                .map_err(|_| format!("{t:?} is not a sequence number"))
        })?
        .unwrap_or(0),
        limit,
    })
}

/// One page of the filtered log, and whether more follow.
pub(crate) async fn log_page(
    state: &AppState,
    request: LogRequest,
) -> Result<(Vec<StoredEvent>, bool), WebError> {
    state
        .with_store(move |store| {
            let mut events = store.read_page(&request.filter, request.after, request.limit + 1)?;
            let more = events.len() > request.limit;
            events.truncate(request.limit);
            Ok((events, more))
        })
        .await
}

/// The log's filter form, for `form_errors`.
const LOG_FORM: [FormField; 6] = [
    FormField::new(
        "kind",
        "kind",
        &["kind"],
        Kind::Choice {
            message: "Välj en typ av händelse i listan",
        },
    ),
    FormField::new("stream", "stream", &["stream"], Kind::Text { empty: "" }),
    FormField::new(
        "occurred_from",
        "occurred_from",
        &["occurred_from"],
        Kind::Date,
    ),
    FormField::new("occurred_to", "occurred_to", &["occurred_to"], Kind::Date),
    FormField::new(
        "recorded_from",
        "recorded_from",
        &["recorded_from"],
        Kind::Instant,
    ),
    FormField::new(
        "recorded_to",
        "recorded_to",
        &["recorded_to"],
        Kind::Instant,
    ),
];

pub async fn log(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<LogQuery>,
) -> Result<Response, WebError> {
    let viewer = viewer(&session).await?;
    let kinds: Vec<Value> = lagesbild_model::KINDS
        .iter()
        .map(|k| json!({ "name": k, "selected": given(&query.kind) == Some(*k) }))
        .collect();
    let q = json!({
        "stream": given(&query.stream),
        "occurred_from": given(&query.occurred_from),
        "occurred_to": given(&query.occurred_to),
        "recorded_from": given(&query.recorded_from),
        "recorded_to": given(&query.recorded_to),
    });
    let request = match log_request(&query) {
        Ok(request) => request,
        Err(error @ WebError::BadInput { .. }) => {
            let typed = json!({
                "kind": query.kind, "stream": query.stream,
                "occurred_from": query.occurred_from, "occurred_to": query.occurred_to,
                "recorded_from": query.recorded_from, "recorded_to": query.recorded_to,
                "after": query.after, "limit": query.limit,
            });
            // `after` and `limit` come from the pager's links, not from the form.
            let errors = match error.field() {
                Some("after" | "limit") => FormErrors::default().general(
                    "Sidans läge eller storlek i adressen går inte att läsa; börja om från första sidan",
                ),
                _ => FormErrors::from_error(&LOG_FORM, &typed, &error),
            };
            let context = json!({
                "events": [], "next": null, "kinds": kinds, "q": q,
                "form_errors": errors.context(), "refused": true,
            });
            return page(&state, &viewer, "log", "Loggen", "logg", context)
                .map(|html| (StatusCode::BAD_REQUEST, html).into_response());
        }
        Err(other) => return Err(other),
    };
    let limit = request.limit;
    let (events, more) = log_page(&state, request).await?;
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "recorded_at": e.recorded_at.to_string(),
                "stream": e.event.stream.as_str(),
                "kind": e.event.kind(),
                "occurred": e.event.occurred.to_string(),
                "summary": e.event.summary.as_str(),
            })
        })
        .collect();
    // The next page keeps every filter and moves `after` on.
    let next = match (more, events.last()) {
        (true, Some(last)) => {
            let mut pairs: Vec<(&str, String)> = Vec::new();
            for (name, value) in [
                ("kind", &query.kind),
                ("stream", &query.stream),
                ("occurred_from", &query.occurred_from),
                ("occurred_to", &query.occurred_to),
                ("recorded_from", &query.recorded_from),
                ("recorded_to", &query.recorded_to),
            ] {
                if let Some(value) = given(value) {
                    pairs.push((name, value.to_owned()));
                }
            }
            pairs.push(("after", last.seq.to_string()));
            pairs.push(("limit", limit.to_string()));
            Some(format!(
                "/logg?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            ))
        }
        _ => None,
    };
    page(
        &state,
        &viewer,
        "log",
        "Loggen",
        "logg",
        json!({ "events": rows, "next": next, "kinds": kinds, "q": q, "refused": false }),
    )
    .map(IntoResponse::into_response)
}

/// Everything an auditor needs of one event: fields, source, data, hashes, the hashed bytes.
pub(crate) fn event_context(event: &StoredEvent) -> Value {
    let e = &event.event;
    let data = serde_json::to_value(&e.data)
        .ok()
        .and_then(|v| v.get("data").cloned())
        .unwrap_or(Value::Null);
    json!({
        "seq": event.seq,
        "key": e.key.as_ref().map(|k| k.as_str()),
        "kind": e.kind(),
        "stream": e.stream.as_str(),
        "stream_version": event.stream_version,
        "occurred": e.occurred.to_string(),
        "precision": e.occurred.precision().as_str(),
        "recorded_at": event.recorded_at.to_string(),
        "schema": event.schema,
        "summary": e.summary.as_str(),
        "by": e.by.as_ref().map(|b| b.as_str()),
        "source": e.source.as_ref().map(|s| json!({
            "title": s.title.as_str(),
            "url": s.url.as_ref().map(|u| u.as_str()),
            "published": s.published.map(|p| p.to_string()),
        })),
        "data": serde_json::to_string_pretty(&data).unwrap_or_default(),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "envelope": event.canonical_envelope(),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct EventQuery {
    /// Set after a form recorded the event.
    pub recorded: Option<String>,
}

pub async fn event(
    State(state): State<AppState>,
    session: Session,
    Path(seq): Path<String>,
    Query(query): Query<EventQuery>,
) -> Result<Html<String>, WebError> {
    let viewer = viewer(&session).await?;
    let seq = seq
        .parse::<u64>()
        .map_err(|_| WebError::NotFound(format!("{seq:?} är inget händelsenummer")))?;
    let event = state
        .with_store(move |store| Ok(store.event(&EventRef::Seq(seq))?))
        .await?
        .ok_or_else(|| WebError::NotFound(format!("loggen har ingen händelse {seq}")))?;
    let mut context = event_context(&event);
    context["recorded_now"] = json!(given(&query.recorded).is_some());
    context["already"] = json!(given(&query.recorded) == Some("redan"));
    page(
        &state,
        &viewer,
        "event",
        &format!("Händelse {seq}"),
        "logg",
        json!({ "event": context }),
    )
}

/// The result of a chain check, for the page and the API.
pub(crate) async fn run_verify(state: &AppState) -> Result<Value, WebError> {
    let sets = lagesbild_app::provenance::template_sets(Some(state.templates().set()));
    state
        .with_store(move |store| {
            let started = std::time::Instant::now();
            let result = store.verify(&mut |_| {});
            let millis = started.elapsed().as_millis() as u64;
            Ok(match result {
                Ok(report) => {
                    // The caches beside the log too, as `lagesbild verify` checks them.
                    let caches = lagesbild_app::caches::verify_with(store, false, &sets)?;
                    json!({
                        "ok": true,
                        "count": report.count,
                        "head_seq": report.head.seq,
                        "head_hash": report.head.hash,
                        "millis": started.elapsed().as_millis() as u64,
                        "caches_ok": caches.problems.is_empty(),
                        "cache_problems": caches.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })
                }
                Err(StoreError::Broken { seq, reason }) => json!({
                    "ok": false, "first_bad_seq": seq, "reason": reason, "millis": millis,
                }),
                Err(other) => return Err(other.into()),
            })
        })
        .await
}

pub async fn verify(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, WebError> {
    let viewer = viewer(&session).await?;
    let result = run_verify(&state).await?;
    page(
        &state,
        &viewer,
        "verify",
        "Verifiera loggen",
        "verifiera",
        json!({ "result": result }),
    )
}

/// How many editions the feed lists, newest first: a feed reader needs the recent ones, and
/// each entry is rebuilt and checked on every request.
pub(crate) const FEED_ENTRIES: usize = 20;

/// `GET /rapporter.atom`: the Atom feed of published editions, the standing version of each.
pub async fn feed(State(state): State<AppState>) -> Result<Response, WebError> {
    let set = state.templates().set().clone();
    let xml = state
        .with_store(move |store| {
            let editions =
                lagesbild_app::intranet::published_editions(store, &set, Some(FEED_ENTRIES))?;
            let head = store.head()?;
            let updated = store
                .event(&EventRef::Seq(head.seq))?
                .map_or(chrono::DateTime::UNIX_EPOCH, |e| e.recorded_at.0);
            Ok(lagesbild_app::intranet::atom(
                &editions,
                lagesbild_app::intranet::Site::Server,
                updated,
            ))
        })
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

/// "Visar 100 händelser, 3 mars 2024 – 9 april 2024": what a page of the timeline holds.
fn page_summary(shown: &[TimelineEntry], limit: usize) -> String {
    let (Some(first), Some(last)) = (shown.first(), shown.last()) else {
        return "Inga händelser på den här sidan.".to_owned();
    };
    let day = |e: &TimelineEntry| lagesbild_render::swedish::day(e.occurred.timeline_day());
    let count = if shown.len() == 1 {
        "1 händelse".to_owned()
    } else {
        format!("{} händelser", shown.len())
    };
    format!(
        "Visar {count} ({} till {}), högst {limit} per sida.",
        day(first),
        day(last)
    )
}
