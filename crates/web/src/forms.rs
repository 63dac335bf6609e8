//! The writing side: signing in and out, the week's forms (a note, something published, a key
//! figure, any event as JSON, a correction, a retraction) and publishing the report. Every POST
//! carries the session's CSRF token; every write needs a signed-in user and lands through the
//! same builders and store checks as the command line's.

use axum::Form;
use axum::extract::{Query, State};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lagesbild_app::staff::{self, Common, NoteSection, Standing};
use lagesbild_app::{clock, day_input, params, publish};
use lagesbild_model::NewEvent;
use lagesbild_store::Outcome;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::error::WebError;
use crate::form_errors::{FormErrors, FormField, Kind};
use crate::pages::{given, page, parse};
use crate::session::{self, viewer, writer};
use crate::throttle::Refusal;
use crate::{AppState, ClientAddr};

/// The week's forms, as `form_errors` describes them: what each field is called in the form,
/// in the page and in the model, and what it takes.
mod spec {
    use crate::form_errors::{ANY, FormField, Kind};

    const OCCURRED: Kind = Kind::Date;

    pub const NOTE: [FormField; 6] = [
        FormField::new(
            "section",
            "note-section",
            &["section", "data.section"],
            Kind::Choice {
                message: "Välj ett avsnitt i rapporten",
            },
        )
        .required(),
        FormField::new(
            "text",
            "note-text",
            &["text", "summary"],
            Kind::Text {
                empty: "Skriv noteringens text",
            },
        )
        .required(),
        FormField::new("points", "note-points", &["data.points"], Kind::Lines),
        FormField::new(
            "lasts",
            "note-lasts-week",
            &["lasts", "data.standing"],
            Kind::Choice {
                message: "Välj hur länge noteringen gäller",
            },
        ),
        FormField::new(
            "until",
            "note-until",
            &["until", "data.until"],
            Kind::Day {
                empty: "Ange sista dagen noteringen gäller, till exempel 31 mars 2025",
            },
        ),
        FormField::new("occurred", "note-occurred", &["occurred"], OCCURRED),
    ];

    pub const PUBLICATION: [FormField; 4] = [
        FormField::new(
            "title",
            "pub-title",
            &["data.title", "summary"],
            Kind::Text {
                empty: "Skriv rubriken på det som publicerats",
            },
        )
        .required(),
        FormField::new("url", "pub-url", &["data.url"], Kind::Url),
        FormField::new(
            "channel",
            "pub-channel",
            &["data.channel"],
            Kind::Text { empty: "" },
        ),
        FormField::new("occurred", "pub-occurred", &["occurred"], OCCURRED),
    ];

    pub const FIGURE: [FormField; 5] = [
        FormField::new(
            "figure",
            "fig-figure",
            &["data.figure"],
            Kind::Id {
                empty: "Ange nyckeltalets id, till exempel konsulter",
            },
        )
        .required(),
        FormField::new(
            "label",
            "fig-label",
            &["data.label", "summary"],
            Kind::Text { empty: "" },
        ),
        FormField::new("value", "fig-value", &["data.value"], Kind::Number).required(),
        FormField::new("unit", "fig-unit", &["data.unit"], Kind::Text { empty: "" }),
        FormField::new("occurred", "fig-occurred", &["occurred"], OCCURRED),
    ];

    pub const PUBLISH: [FormField; 1] = [FormField::new(
        "date",
        "publish-date",
        &["date"],
        Kind::Day {
            empty: "Ange rapportdagen, till exempel 27 december 2024",
        },
    )];

    pub const CORRECTION: [FormField; 6] = [
        FormField::new("target", "cor-target", &["data.target"], Kind::EventRef).required(),
        FormField::new(
            "reason",
            "cor-reason",
            &["data.reason"],
            Kind::Text {
                empty: "Skriv skälet till rättelsen",
            },
        )
        .required(),
        FormField::new(
            "summary_text",
            "cor-summary-text",
            &["summary"],
            Kind::Text {
                empty: "Skriv en sammanfattning av rättelsen",
            },
        )
        .required(),
        FormField::new(
            "new_occurred",
            "cor-new-occurred",
            &["data.occurred"],
            OCCURRED,
        ),
        FormField::new(
            "new_summary",
            "cor-new-summary",
            &["data.summary"],
            Kind::Text { empty: "" },
        ),
        FormField::new(
            "new_data",
            "cor-new-data",
            &["data.data", "data"],
            Kind::Json { empty: "" },
        ),
    ];

    pub const RETRACTION: [FormField; 3] = [
        FormField::new("target", "ret-target", &["data.target"], Kind::EventRef).required(),
        FormField::new(
            "reason",
            "ret-reason",
            &["data.reason"],
            Kind::Text {
                empty: "Skriv skälet till att händelsen dras tillbaka",
            },
        )
        .required(),
        FormField::new(
            "summary_text",
            "ret-summary-text",
            &["summary"],
            Kind::Text {
                empty: "Skriv en sammanfattning",
            },
        )
        .required(),
    ];

    pub const RAW: [FormField; 1] = [FormField::new(
        "event",
        "raw-event",
        &["event", ANY],
        Kind::Json {
            empty: "Klistra in en händelse som JSON",
        },
    )
    .required()];
}

/// The forms of the writing page (`/skriv`) and of the advanced page under Granskning
/// (`/granskning/avancerat`), which keeps the raw-JSON, correction and retraction forms out of
/// the editor's way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FormName {
    Note,
    Publication,
    Figure,
    Publish,
    Correction,
    Retraction,
    Raw,
}

impl FormName {
    fn key(self) -> &'static str {
        match self {
            FormName::Note => "note",
            FormName::Publication => "publication",
            FormName::Figure => "figure",
            FormName::Publish => "publish",
            FormName::Correction => "correction",
            FormName::Retraction => "retraction",
            FormName::Raw => "raw",
        }
    }

    fn fields(self) -> &'static [FormField] {
        match self {
            FormName::Note => &spec::NOTE,
            FormName::Publication => &spec::PUBLICATION,
            FormName::Figure => &spec::FIGURE,
            FormName::Publish => &spec::PUBLISH,
            FormName::Correction => &spec::CORRECTION,
            FormName::Retraction => &spec::RETRACTION,
            FormName::Raw => &spec::RAW,
        }
    }

    fn advanced(self) -> bool {
        matches!(
            self,
            FormName::Correction | FormName::Retraction | FormName::Raw
        )
    }
}

/// A failed form: which one, its problems, and what was typed, to show the form again.
struct Failed {
    form: FormName,
    errors: FormErrors,
    values: Value,
    /// 400 for what was typed, 409 when the log refused the event as it stands, 503 when busy.
    status: StatusCode,
}

/// Every field of every form, blank, with what was typed into the failed form on top.
fn form_values(failed: Option<&Failed>) -> Value {
    let mut all = json!({
        "note": { "section": "summary", "text": "", "points": "", "lasts": "", "until": "", "occurred": "" },
        "publication": { "title": "", "url": "", "channel": "", "collected": false, "occurred": "" },
        "figure": { "figure": "", "label": "", "value": "", "unit": "", "occurred": "" },
        "publish": { "date": "" },
        "correction": { "target": "", "reason": "", "summary_text": "", "new_occurred": "", "new_summary": "", "new_data": "" },
        "retraction": { "target": "", "reason": "", "summary_text": "" },
        "raw": { "event": "" },
    });
    if let Some(Failed {
        form,
        values: Value::Object(typed),
        ..
    }) = failed
        && let Some(Value::Object(fields)) = all.get_mut(form.key())
    {
        for (name, value) in typed {
            if fields.contains_key(name) && !value.is_null() {
                fields.insert(name.clone(), value.clone());
            }
        }
    }
    all
}

async fn write_page_with(
    state: &AppState,
    session: &Session,
    advanced: bool,
    failed: Option<Failed>,
) -> Result<Response, WebError> {
    let viewer = viewer(session).await?;
    let today = clock::today().map_err(WebError::Internal)?;
    let sections: Vec<Value> = NoteSection::ALL
        .iter()
        .map(|s| json!({ "name": s.name(), "heading": s.heading() }))
        .collect();
    let status = failed.as_ref().map_or(StatusCode::OK, |f| f.status);
    let values = form_values(failed.as_ref());
    let errors = failed.map(|f| f.errors).unwrap_or_default();
    let (template, title, nav) = if advanced {
        (
            "advanced",
            "Avancerat: händelser, rättelser och tillbakadraganden",
            "avancerat",
        )
    } else {
        ("write", "Skriv och publicera", "skriv")
    };
    let html = page(
        state,
        &viewer,
        template,
        title,
        nav,
        json!({
            "today": today.to_string(),
            "today_swedish": lagesbild_render::swedish::day(today),
            "sections": sections,
            "form_errors": errors.context(),
            "values": values,
        }),
    )?;
    Ok((status, html).into_response())
}

pub async fn write_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    write_page_with(&state, &session, false, None).await
}

pub async fn advanced_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    write_page_with(&state, &session, true, None).await
}

/// Appends one event written through a form and sends the browser to its page. Every field is
/// checked as typed first, so that all of a form's problems are shown at once; then the
/// event's own refusal (from the model or the store) is shown on the field it concerns.
async fn record(
    state: &AppState,
    session: &Session,
    form: FormName,
    values: Value,
    event: Result<NewEvent, WebError>,
) -> Result<Response, WebError> {
    let checked = FormErrors::check(form.fields(), &values);
    if !checked.is_empty() {
        return failed(state, session, form, values, checked).await;
    }
    let event = match event {
        Ok(event) => event,
        Err(error) => {
            let errors = FormErrors::from_error(form.fields(), &values, &error);
            return failed(state, session, form, values, errors).await;
        }
    };
    let sets = lagesbild_app::provenance::template_sets(Some(state.templates().set()));
    let appended = state
        .with_store(move |store| {
            Ok(lagesbild_app::provenance::append(store, &[event], &[], &sets)?.outcomes[0])
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
            let errors = FormErrors::from_error(form.fields(), &values, &error);
            refused(state, session, form, values, errors, error.status()).await
        }
        Err(other) => Err(other),
    }
}

async fn failed(
    state: &AppState,
    session: &Session,
    form: FormName,
    values: Value,
    errors: FormErrors,
) -> Result<Response, WebError> {
    refused(
        state,
        session,
        form,
        values,
        errors,
        StatusCode::BAD_REQUEST,
    )
    .await
}

/// The form again, with its problems, what was typed, and the status the refusal deserves.
async fn refused(
    state: &AppState,
    session: &Session,
    form: FormName,
    values: Value,
    errors: FormErrors,
    status: StatusCode,
) -> Result<Response, WebError> {
    write_page_with(
        state,
        session,
        form.advanced(),
        Some(Failed {
            form,
            errors,
            values,
            status,
        }),
    )
    .await
}

fn common(
    by: String,
    occurred_text: &Option<String>,
    key: &Option<String>,
) -> Result<Common, WebError> {
    Ok(Common {
        occurred: parse("occurred", occurred_text, day_input::parse_date)?,
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
    record(&state, &session, FormName::Note, values, event).await
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
    record(&state, &session, FormName::Publication, values, event).await
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
    record(&state, &session, FormName::Figure, values, event).await
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
    record(&state, &session, FormName::Raw, values, event).await
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
    let nothing_to_correct = [&form.new_occurred, &form.new_summary, &form.new_data]
        .iter()
        .all(|v| given(v).is_none());
    if nothing_to_correct && !form.target.trim().is_empty() {
        let errors = FormErrors::check(&spec::CORRECTION, &values).field(
            "cor-new-occurred",
            "Fyll i det som ska rättas: rätt datum, rätt sammanfattning eller rätt data",
        );
        return failed(&state, &session, FormName::Correction, values, errors).await;
    }
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
    record(&state, &session, FormName::Correction, values, event).await
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
    record(&state, &session, FormName::Retraction, values, event).await
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
        Err(error) => {
            let errors = FormErrors::from_error(&spec::PUBLISH, &values, &error);
            return failed(&state, &session, FormName::Publish, values, errors).await;
        }
    };
    let now = clock::now_local().map_err(WebError::Internal)?;
    let day = day.unwrap_or(now.date());
    let set = state.templates().set().clone();
    let publisher = by.clone();
    let published = state
        .with_store(move |store| Ok(publish::publish(store, &set, day, now, Some(&publisher))?))
        .await?;
    tracing::info!(seq = published.seq, %day, log_seq = published.built_from.seq, "report published");
    // This form skips the edition's review, so under the four-eyes rule nothing is sent
    // from it: the report's page lists the lists as not sent, for after a review.
    let four_eyes = state.config().auth.as_ref().is_some_and(|a| a.four_eyes);
    if !four_eyes {
        crate::mailing::after_publish(&state, published.seq, &by).await;
    }
    Ok(Redirect::to(&format!("/rapporter/{}", published.seq)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

/// Where the sign-in form goes when `next` is missing or not a path on this site.
const DEFAULT_NEXT: &str = "/skriv";

/// The longest `next` kept, in bytes; a longer one is not a link anybody followed here.
const MAX_NEXT_BYTES: usize = 2_000;

/// Only a path on this site: printable ASCII (a browser sends the rest percent-encoded), one
/// leading `/` followed by anything but `/` or `\`, no backslash, control character or space
/// anywhere (browsers and URL parsers skip tabs and
/// newlines and read `\` as `/`, so `/\t/evil.example` or `/\evil.example` would leave the
/// site), and the same again after one round of percent-decoding (`/%2F%2Fevil.example`).
/// Anything else goes to the default page.
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.len() <= MAX_NEXT_BYTES
                && path.bytes().all(|b| b.is_ascii_graphic())
                && is_same_site_path(path.as_bytes())
                && is_same_site_path(&percent_decoded(path.as_bytes())) =>
        {
            path.to_owned()
        }
        _ => DEFAULT_NEXT.to_owned(),
    }
}

fn is_same_site_path(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
        && !matches!(path.get(1), Some(b'/' | b'\\'))
        && path.iter().all(|b| *b > b' ' && *b != 0x7f && *b != b'\\')
}

/// `%XX` decoded once; anything else, including a malformed `%`, kept as it is.
fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            #[allow(clippy::cast_possible_truncation)]
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The sign-in form: its fields, for the error summary (`crate::form_errors`).
const SIGN_IN_FORM: &[FormField] = &[
    FormField::new(
        "name",
        "name",
        &["name"],
        Kind::Text {
            empty: "Ange ditt namn",
        },
    )
    .required(),
    FormField::new(
        "password",
        "password",
        &["password"],
        Kind::Text {
            empty: "Ange ditt lösenord",
        },
    )
    .required(),
];

/// The sign-in page, with the problems of a refused sign-in and the name as typed (never the
/// password).
async fn sign_in_form(
    state: &AppState,
    session: &Session,
    next: Option<&str>,
    name: &str,
    errors: &FormErrors,
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
            "name": name,
            "form_errors": errors.context(),
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
    sign_in_form(
        &state,
        &session,
        given(&query.next),
        "",
        &FormErrors::default(),
        StatusCode::OK,
    )
    .await
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
    client: Option<axum::Extension<ClientAddr>>,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    session::check_csrf(&session, form.csrf.as_deref()).await?;
    let Some(auth) = state.config().auth.clone().filter(|a| !a.users.is_empty()) else {
        return Err(WebError::Forbidden(session::READ_ONLY.into()));
    };
    let address = client.map(|c| c.0.0);
    let name = form.name.trim().to_owned();
    // A blank field is said at the field; it is not a failed attempt.
    let blank = FormErrors::check(
        SIGN_IN_FORM,
        &json!({ "name": form.name, "password": form.password }),
    );
    if !blank.is_empty() {
        return sign_in_form(
            &state,
            &session,
            given(&form.next),
            &name,
            &blank,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let throttle = state.throttle();
    if let Err(refusal) = throttle.check(&name, address, Instant::now()) {
        let seconds = refusal.retry_after_secs();
        let why = match refusal {
            Refusal::Name(_) => "name",
            Refusal::Address(_) => "address",
        };
        tracing::warn!(%name, address = ?address, seconds, why, "sign-in throttled");
        let mut response = sign_in_form(
            &state,
            &session,
            given(&form.next),
            &name,
            &FormErrors::default().general(format!(
                "För många misslyckade inloggningar. Vänta {seconds} s och försök igen."
            )),
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    let password = form.password;
    let checked_name = name.clone();
    let user =
        tokio::task::spawn_blocking(move || auth.check_password(&checked_name, &password)).await?;
    match user {
        Some(user) => {
            throttle.succeeded(&name, address, Instant::now());
            session::sign_in(&session, &user).await?;
            tracing::info!(%user, address = ?address, "signed in");
            Ok(Redirect::to(&local_path(given(&form.next))).into_response())
        }
        None => {
            throttle.failed(&name, address, Instant::now());
            tracing::warn!(%name, address = ?address, "sign-in refused");
            // Which of the two was wrong is not told; the message stands at the password,
            // which is the one typed again.
            sign_in_form(
                &state,
                &session,
                given(&form.next),
                &name,
                &FormErrors::default().field(
                    "password",
                    "Fel namn eller lösenord. Kontrollera båda och försök igen",
                ),
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

#[cfg(test)]
mod tests {
    use super::local_path;

    /// Every `next` here would leave the site in some browser or URL parser, or breaks the
    /// `Location` header; each must fall back to the default page.
    #[test]
    fn next_refuses_every_known_open_redirect_bypass() {
        let bypasses = [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\rLocation: https://evil.example",
            "/ /evil.example",
            " /evil.example",
            "/%2F/evil.example",
            "/%2f/evil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%09/evil.example",
            "/%0d%0aSet-Cookie:x=y",
            "/x%0aLocation:%20https://evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "@evil.example",
            "//user:pass@evil.example",
            "//anna@evil.example/",
            "/\u{a0}/evil.example",
            "/\u{3000}evil.example",
            "/\u{202e}elpmaxe.live",
            "/\0",
            "",
        ];
        for next in bypasses {
            assert_eq!(local_path(Some(next)), "/skriv", "{next:?} was let through");
        }
        assert_eq!(local_path(None), "/skriv");
        assert_eq!(
            local_path(Some(&format!("/{}", "a".repeat(3000)))),
            "/skriv"
        );
    }

    #[test]
    fn next_keeps_paths_on_this_site() {
        for next in [
            "/",
            "/logg?kind=plan_revised&after=10",
            "/v%C3%A5gor",
            "/@anna",
            "/logg/42#fragment",
            "/a%252F%252Fb",
        ] {
            assert_eq!(local_path(Some(next)), next);
        }
    }
}
