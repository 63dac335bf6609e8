//! The JSON API, mirroring the pages: the log (read and append), the timeline, waves and diff
//! at any two axes, the report, the archive and verification. Errors are
//! `{"error": {"status", "field", "message"}}` with the same reasons the command line prints.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lagesbild_app::{params, publish};
use lagesbild_model::NewEvent;
use lagesbild_render::report::ReportFormat;
use lagesbild_store::{EventRef, Outcome};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::AppState;
use crate::error::{ApiError, WebError};
use crate::forms::event_from_json;
use crate::pages::{self, LogQuery, TimeQuery, given, parse};
use crate::session::writer;

/// The most events one POST may carry.
pub const MAX_BATCH: usize = 1_000;

/// The largest request body, in bytes: a full batch of ordinary events fits many times over,
/// and a hostile client cannot make the server buffer more.
pub const MAX_BODY_BYTES: usize = 4 << 20;

pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let request = pages::log_request(&query)?;
    let (events, more) = pages::log_page(&state, request).await?;
    let next_after = if more {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(json!({
        "events": events.iter().map(|e| e.to_export_value()).collect::<Vec<_>>(),
        "next_after": next_after,
    })))
}

pub async fn event(
    State(state): State<AppState>,
    Path(which): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let which: EventRef = which.parse().expect("infallible");
    let shown = match &which {
        EventRef::Seq(seq) => seq.to_string(),
        EventRef::Key(key) => format!("with key {key:?}"),
    };
    let event = state
        .with_store(move |store| Ok(store.event(&which)?))
        .await?
        .ok_or_else(|| WebError::NotFound(format!("no event {shown}")))?;
    Ok(Json(event.to_export_value()))
}

/// Appends one event (a JSON object) or a batch (an array), all in one transaction: all land or
/// none. Authorization: a bearer token, or a signed-in session with `X-CSRF-Token`.
pub async fn append(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let by = writer(&state, &session, &headers, None).await?;
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return Err(WebError::UnsupportedMediaType(
            "send the events as JSON with Content-Type: application/json".into(),
        )
        .into());
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| WebError::bad("body", format!("not JSON: {e}")))?;
    let (values, single) = match value {
        Value::Array(items) => (items, false),
        object @ Value::Object(_) => (vec![object], true),
        _ => {
            return Err(WebError::bad(
                "body",
                "send one event as an object or a batch as an array",
            )
            .into());
        }
    };
    if values.is_empty() || values.len() > MAX_BATCH {
        return Err(WebError::bad("body", format!("a batch holds 1 to {MAX_BATCH} events")).into());
    }
    let mut batch: Vec<NewEvent> = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        // The same limit as one line of an import, with the same message.
        let bytes = serde_json::to_vec(&value).map_or(0, |v| v.len());
        if bytes > lagesbild_model::MAX_LINE_BYTES {
            let field = if single {
                "body".to_owned()
            } else {
                format!("[{index}]")
            };
            return Err(WebError::bad(field, lagesbild_model::text::line_too_long()).into());
        }
        let event = event_from_json(value, &by).map_err(|error| match error {
            WebError::BadInput { field, reason } if !single => {
                WebError::bad(format!("[{index}].{field}"), reason)
            }
            other => other,
        })?;
        batch.push(event);
    }
    // A report_published's claims (position, hash, digests) are checked against the log.
    let sets = lagesbild_app::provenance::template_sets(Some(state.templates().set()));
    let report = state
        .with_store(move |store| {
            Ok(lagesbild_app::provenance::append(
                store,
                &batch,
                &[],
                &sets,
            )?)
        })
        .await?;
    let outcomes: Vec<Value> = report
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Appended {
                seq,
                stream_version,
            } => json!({ "seq": seq, "stream_version": stream_version, "appended": true }),
            Outcome::AlreadyPresent { seq } => json!({ "seq": seq, "appended": false }),
        })
        .collect();
    // 201 whether or not every event was new: resending a batch is answered as its first
    // sending was, with the same outcomes (`appended: false` says which were there already).
    let status = StatusCode::CREATED;
    let body = json!({
        "outcomes": outcomes,
        "head": { "seq": report.head.seq, "hash": report.head.hash },
    });
    Ok((status, Json(body)).into_response())
}

pub async fn timeline(
    State(state): State<AppState>,
    Query(query): Query<TimeQuery>,
) -> Result<Json<Value>, ApiError> {
    let (page, asked, _, _) = pages::timeline_page(&state, &query).await?;
    let mut body = serde_json::to_value(&page.view).map_err(internal)?;
    body["page"] = json!({
        "limit": asked.limit,
        "previous": page.previous.map(|key| key.to_string()),
        "next": page.next.map(|key| key.to_string()),
    });
    Ok(Json(body))
}

pub async fn waves(
    State(state): State<AppState>,
    Query(query): Query<TimeQuery>,
) -> Result<Json<Value>, ApiError> {
    let (view, _, _) = pages::asked_view(&state, &query, pages::Facts::Without).await?;
    Ok(Json(json!({
        "as_of": view.as_of,
        "log_seq": view.log_seq,
        "plans": view.plans,
        "waves": view.waves,
        "open_matters": view.open_matters().collect::<Vec<_>>(),
    })))
}

pub async fn diff(
    State(state): State<AppState>,
    Query(query): Query<TimeQuery>,
) -> Result<Json<Value>, ApiError> {
    let asked = pages::asked(&query)?;
    let from = parse("from", &query.from, params::as_of)?
        .ok_or_else(|| WebError::bad("from", "give the earlier date"))?;
    let to = parse("to", &query.to, params::as_of)?;
    let (projection, _, _) =
        pages::replayed(&state, asked.known_at, to, None, pages::Facts::With).await?;
    let public = asked.public_at;
    let diff = lagesbild_timeline::diff(
        &projection.view_public(Some(from), public),
        &projection.view_public(to, public),
    );
    Ok(Json(serde_json::to_value(diff).map_err(internal)?))
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    pub date: Option<String>,
    /// `json` (the model, the default), `md` or `html`.
    pub format: Option<String>,
}

pub async fn report(
    State(state): State<AppState>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let day = parse("date", &query.date, params::day)?;
    let format = match given(&query.format) {
        None | Some("json") => None,
        Some("md") => Some(ReportFormat::Markdown),
        Some("html") => Some(ReportFormat::Html),
        Some(other) => {
            return Err(
                WebError::bad("format", format!("{other:?} is not json, md or html")).into(),
            );
        }
    };
    let (model, _, _) = pages::current_model(&state, day).await?;
    let Some(format) = format else {
        return Ok(Json(serde_json::to_value(&model).map_err(internal)?).into_response());
    };
    let text = state
        .renderer(format)?
        .render(&model, format)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], text).into_response())
}

pub async fn reports(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let reports = state
        .with_store(|store| Ok(publish::archive(store)?))
        .await?;
    let list: Vec<Value> = reports
        .iter()
        .map(|(event, published)| {
            json!({
                "seq": event.seq,
                "url": format!("/rapporter/{}", event.seq),
                "published": serde_json::to_value(published).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({ "reports": list })))
}

pub async fn verify(State(state): State<AppState>) -> Result<Response, ApiError> {
    let result = pages::run_verify(&state).await?;
    let status = if result["ok"] == json!(true) {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(result)).into_response())
}

fn internal(error: serde_json::Error) -> WebError {
    WebError::Internal(error.to_string())
}

/// The OpenAPI 3.1 description of `/api/`, written by hand next to the routes
/// (`crates/web/openapi.json`); the schemathesis run checks the server against it.
pub const OPENAPI: &str = include_str!("../openapi.json");

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Any other path under `/api/`: the API's 404, in its JSON.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(WebError::NotFound(format!(
        "there is nothing at {}",
        uri.path()
    )))
}
