//! The writing side: signing in and out, the week's forms (a note, something published, a key
//! figure, any event as JSON, a correction, a retraction) and publishing the report. Every POST
//! carries the session's CSRF token; every write needs a signed-in user and lands through the
//! same builders and store checks as the command line's.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lagesbild_app::staff::{self, Common, NoteSection, Standing};
use lagesbild_app::{clock, params, publish};
use lagesbild_model::NewEvent;
use lagesbild_store::Outcome;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::AppState;
use crate::error::WebError;
use crate::pages::{given, page, parse};
use crate::session::{self, viewer, writer};

/// A failed form: which one, the error, and what was typed, to show the form again.
struct Failed {
    form: &'static str,
    error: WebError,
    values: Value,
}

async fn write_page_with(
    state: &AppState,
    session: &Session,
    failed: Option<Failed>,
) -> Result<Response, WebError> {
    let viewer = viewer(session).await?;
    let today = clock::today().map_err(WebError::Internal)?;
    let sections: Vec<Value> = NoteSection::ALL
        .iter()
        .map(|s| json!({ "name": s.name(), "heading": s.heading() }))
        .collect();
    let (status, error, form, values) = match failed {
        Some(f) => (
            f.error.status(),
            Some(match &f.error {
                WebError::BadInput { field, reason } => format!("{field}: {reason}"),
                other => other.to_string(),
            }),
            Some(f.form),
            f.values,
        ),
        None => (StatusCode::OK, None, None, json!({})),
    };
    // Every field of every form, blank, with what was typed into the failed form on top.
    let mut all = json!({
        "note": { "section": "summary", "text": "", "points": "", "lasts": "", "until": "", "occurred": "" },
        "publication": { "title": "", "url": "", "channel": "", "collected": false, "occurred": "" },
        "figure": { "figure": "", "label": "", "value": "", "unit": "", "occurred": "" },
        "publish": { "date": "" },
        "correction": { "target": "", "reason": "", "summary_text": "", "new_occurred": "", "new_summary": "", "new_data": "" },
        "retraction": { "target": "", "reason": "", "summary_text": "" },
        "raw": { "event": "" },
    });
    if let (Some(form), Value::Object(typed)) = (form, values)
        && let Some(Value::Object(fields)) = all.get_mut(form)
    {
        for (name, value) in typed {
            if fields.contains_key(&name) && !value.is_null() {
                fields.insert(name, value);
            }
        }
    }
    let html = page(
        state,
        &viewer,
        "write",
        "Skriv och publicera",
        "skriv",
        json!({
            "today": today.to_string(),
            "sections": sections,
            "error": error,
            "values": all,
        }),
    )?;
    Ok((status, html).into_response())
}

pub async fn write_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    write_page_with(&state, &session, None).await
}

/// Appends one event written through a form and sends the browser to its page.
async fn record(
    state: &AppState,
    session: &Session,
    form: &'static str,
    values: Value,
    event: Result<NewEvent, WebError>,
) -> Result<Response, WebError> {
    let event = match event {
        Ok(event) => event,
        Err(error) => return failed(state, session, form, values, error).await,
    };
    let sets = lagesbild_app::provenance::template_sets(Some(&state.config().templates));
    let appended = state
        .with_store(move |store| {
            Ok(lagesbild_app::provenance::append(store, vec![event], &[], &sets)?.outcomes[0])
        })
        .await;
    match appended {
        Ok(Outcome::Appended { seq, .. }) => {
            Ok(Redirect::to(&format!("/logg/{seq}?recorded=ny")).into_response())
        }
        Ok(Outcome::AlreadyPresent { seq }) => {
            Ok(Redirect::to(&format!("/logg/{seq}?recorded=redan")).into_response())
        }
        Err(error @ (WebError::BadInput { .. } | WebError::Conflict(_) | WebError::Busy(_))) => {
            failed(state, session, form, values, error).await
        }
        Err(other) => Err(other),
    }
}

async fn failed(
    state: &AppState,
    session: &Session,
    form: &'static str,
    values: Value,
    error: WebError,
) -> Result<Response, WebError> {
    write_page_with(
        state,
        session,
        Some(Failed {
            form,
            error,
            values,
        }),
    )
    .await
}

fn common(by: String, occurred: &Option<String>, key: &Option<String>) -> Result<Common, WebError> {
    Ok(Common {
        occurred: parse("occurred", occurred, |t| {
            lagesbild_model::FuzzyDate::parse(t).map_err(|e| e.to_string())
        })?,
        key: given(key).map(str::to_owned),
        by: Some(by),
    })
}

fn today() -> Result<chrono::NaiveDate, WebError> {
    clock::today().map_err(WebError::Internal)
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NoteForm {
    pub csrf: Option<String>,
    pub section: String,
    pub text: String,
    pub points: String,
    /// `week`, `until` or `standing`.
    pub lasts: String,
    pub until: Option<String>,
    pub occurred: Option<String>,
    pub key: Option<String>,
}

pub async fn note(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<NoteForm>,
) -> Result<Response, WebError> {
    let by = writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let values = json!(form);
    let event = (|| {
        let section = NoteSection::from_name(&form.section).ok_or_else(|| {
            WebError::bad(
                "section",
                format!("{:?} is not a section of the report", form.section),
            )
        })?;
        let standing = match form.lasts.as_str() {
            "" | "week" => Standing::Week,
            "standing" => Standing::Standing,
            "until" => Standing::Until(
                parse("until", &form.until, params::day)?
                    .ok_or_else(|| WebError::bad("until", "give the last day the note stands"))?,
            ),
            other => {
                return Err(WebError::bad(
                    "lasts",
                    format!("{other:?} is not week, until or standing"),
                ));
            }
        };
        let note = staff::Note {
            section,
            text: form.text.clone(),
            points: form.points.lines().map(str::to_owned).collect(),
            standing,
        };
        Ok(staff::note(
            &note,
            &common(by, &form.occurred, &form.key)?,
            today()?,
        )?)
    })();
    record(&state, &session, "note", values, event).await
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct PublicationForm {
    pub csrf: Option<String>,
    pub title: String,
    pub url: Option<String>,
    pub channel: Option<String>,
    pub collected: Option<String>,
    pub occurred: Option<String>,
    pub key: Option<String>,
}

pub async fn publication(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<PublicationForm>,
) -> Result<Response, WebError> {
    let by = writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let values = json!(form);
    let event = (|| {
        let publication = staff::Publication {
            title: form.title.clone(),
            url: form.url.clone(),
            channel: form.channel.clone(),
            collected: given(&form.collected).is_some(),
        };
        Ok(staff::publication(
            &publication,
            &common(by, &form.occurred, &form.key)?,
            today()?,
        )?)
    })();
    record(&state, &session, "publication", values, event).await
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct FigureForm {
    pub csrf: Option<String>,
    pub figure: String,
    pub value: String,
    pub unit: String,
    pub label: Option<String>,
    pub occurred: Option<String>,
    pub key: Option<String>,
}

pub async fn figure(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<FigureForm>,
) -> Result<Response, WebError> {
    let by = writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let values = json!(form);
    let event = (|| {
        let unit = if form.unit.trim().is_empty() {
            "st".to_owned()
        } else {
            form.unit.clone()
        };
        let figure = staff::Figure {
            figure: form.figure.clone(),
            value: form.value.clone(),
            unit,
            label: form.label.clone(),
        };
        Ok(staff::figure(
            &figure,
            &common(by, &form.occurred, &form.key)?,
            today()?,
        )?)
    })();
    record(&state, &session, "figure", values, event).await
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RawForm {
    pub csrf: Option<String>,
    pub event: String,
}

/// Parses one event as JSON by the import's rules, recording the writer as `by` unless given.
pub(crate) fn event_from_json(value: Value, by: &str) -> Result<NewEvent, WebError> {
    let mut value = value;
    if let Some(map) = value.as_object_mut() {
        map.entry("by").or_insert_with(|| json!(by));
    }
    Ok(lagesbild_model::event_from_value(value)?)
}

pub async fn raw_event(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<RawForm>,
) -> Result<Response, WebError> {
    let by = writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let values = json!(form);
    let event = serde_json::from_str::<Value>(&form.event)
        .map_err(|e| WebError::bad("event", format!("not JSON: {e}")))
        .and_then(|value| event_from_json(value, &by));
    record(&state, &session, "raw", values, event).await
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct CorrectionForm {
    pub csrf: Option<String>,
    pub target: String,
    pub reason: String,
    pub summary_text: String,
    pub new_occurred: Option<String>,
    pub new_summary: Option<String>,
    pub new_data: Option<String>,
    pub occurred: Option<String>,
    pub key: Option<String>,
}

pub async fn correction(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CorrectionForm>,
) -> Result<Response, WebError> {
    let by = writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let values = json!(form);
    let event = (|| {
        let correction = staff::Correction {
            target: form.target.clone(),
            reason: form.reason.clone(),
            occurred: form.new_occurred.clone(),
            summary: form.new_summary.clone(),
            data: form.new_data.clone(),
        };
        Ok(staff::correction(
            &correction,
            &form.summary_text,
            &common(by, &form.occurred, &form.key)?,
            today()?,
        )?)
    })();
    record(&state, &session, "correction", values, event).await
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RetractionForm {
    pub csrf: Option<String>,
    pub target: String,
    pub reason: String,
    pub summary_text: String,
    pub occurred: Option<String>,
    pub key: Option<String>,
}

pub async fn retraction(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<RetractionForm>,
) -> Result<Response, WebError> {
    let by = writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let values = json!(form);
    let event = (|| {
        Ok(staff::retraction(
            &form.target,
            &form.reason,
            &form.summary_text,
            &common(by, &form.occurred, &form.key)?,
            today()?,
        )?)
    })();
    record(&state, &session, "retraction", values, event).await
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct PublishForm {
    pub csrf: Option<String>,
    pub date: Option<String>,
}

pub async fn publish(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<PublishForm>,
) -> Result<Response, WebError> {
    let by = writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let values = json!(form);
    let day = match parse("date", &form.date, params::day) {
        Ok(day) => day,
        Err(error) => return failed(&state, &session, "publish", values, error).await,
    };
    let now = clock::now_local().map_err(WebError::Internal)?;
    let day = day.unwrap_or(now.date());
    let set = state.config().templates.clone();
    let published = state
        .with_store(move |store| Ok(publish::publish(store, &set, day, now, Some(&by))?))
        .await?;
    tracing::info!(seq = published.seq, %day, log_seq = published.built_from.seq, "report published");
    Ok(Redirect::to(&format!("/rapporter/{}", published.seq)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

/// Only a path on this site: `/…`, not `//host` or a full URL.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/skriv".to_owned(),
    }
}

async fn sign_in_form(
    state: &AppState,
    session: &Session,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let viewer = viewer(session).await?;
    let html = page(
        state,
        &viewer,
        "signin",
        "Logga in",
        "",
        json!({
            "next": local_path(next),
            "error": error,
            "can_sign_in": state.config().auth.as_ref().is_some_and(|a| !a.users.is_empty()),
        }),
    )?;
    Ok((status, html).into_response())
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<NextQuery>,
) -> Result<Response, WebError> {
    sign_in_form(&state, &session, given(&query.next), None, StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    pub csrf: Option<String>,
    pub name: String,
    pub password: String,
    pub next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    session::check_csrf(&session, form.csrf.as_deref()).await?;
    let Some(auth) = state.config().auth.clone().filter(|a| !a.users.is_empty()) else {
        return Err(WebError::Forbidden(session::READ_ONLY.into()));
    };
    let name = form.name.trim().to_owned();
    let password = form.password;
    let user = tokio::task::spawn_blocking(move || auth.check_password(&name, &password)).await?;
    match user {
        Some(user) => {
            session::sign_in(&session, &user).await?;
            tracing::info!(%user, "signed in");
            Ok(Redirect::to(&local_path(given(&form.next))).into_response())
        }
        None => {
            tracing::warn!(name = %form.name.trim(), "sign-in refused");
            sign_in_form(
                &state,
                &session,
                given(&form.next),
                Some("Fel namn eller lösenord."),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

pub async fn sign_out(session: Session, Form(form): Form<CsrfForm>) -> Result<Response, WebError> {
    session::check_csrf(&session, form.csrf.as_deref()).await?;
    session::sign_out(&session).await?;
    Ok(Redirect::to("/").into_response())
}
