//! The edition page: one page per weekly edition (`/utgavor/2024-W52`) that shows the report
//! as it will read, section by section, where staff edit, remove, move and add points, bring in
//! last week's points, add figures and links, see what changed since the last published
//! edition and what to check, send the edition for review, approve it and publish it after a
//! confirmation. Plain forms and POST-redirect-GET: after a save the browser comes back to the
//! edition with the changed point as the fragment and a status message; nothing needs
//! JavaScript. Every change goes through `lagesbild_app::edition`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use lagesbild_app::clock;
use lagesbild_app::edition::{
    self, Actor, Draft, EditionError, PointInput, Review, Role, Rules, section_name,
};
use lagesbild_app::staff;
use lagesbild_model::kinds::ReviewStep;
use lagesbild_timeline::NoteLine;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::AppState;
use crate::error::WebError;
use crate::form_errors::{FormErrors, FormField, Kind};
use crate::pages::page;
use crate::session::{self, viewer};

fn rules(state: &AppState) -> Rules {
    state
        .config()
        .auth
        .as_ref()
        .map(crate::AuthConfig::rules)
        .unwrap_or(Rules {
            four_eyes: false,
            figure_max_age_weeks: 8,
        })
}

fn role_of(state: &AppState, name: &str) -> Role {
    state
        .config()
        .auth
        .as_ref()
        .map_or(Role::Reader, |a| a.role_of(name))
}

fn distribution(state: &AppState) -> String {
    state.config().auth.as_ref().map_or_else(
        || "politisk ledning och chefer, och publiceras på intranätet".to_owned(),
        |a| a.distribution.clone(),
    )
}

fn day_of(name: &str) -> Result<NaiveDate, WebError> {
    edition::parse_edition(name).map_err(WebError::NotFound)
}

fn now() -> Result<chrono::NaiveDateTime, WebError> {
    clock::now_local().map_err(WebError::Internal)
}

impl From<EditionError> for WebError {
    fn from(error: EditionError) -> WebError {
        match error {
            EditionError::Invalid(f) | EditionError::Explained(f) => {
                WebError::bad(f.field, f.reason)
            }
            EditionError::Refused(reason) => WebError::Conflict(reason),
            EditionError::NotFound(what) => WebError::NotFound(what),
            EditionError::Store(e) => e.into(),
            EditionError::Publish(e) => e.into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ChooseQuery {
    /// A day of the week whose edition to show, as people write it (the page's day chooser).
    pub dag: Option<String>,
}

/// The day chooser at the top of the edition page (a GET form to `/utgavor`).
const DAY_FORM: &[FormField] = &[FormField::new(
    "dag",
    "valj-dag",
    &["dag"],
    Kind::Day {
        empty: "Ange en dag, till exempel 27 december 2024",
    },
)
.required()];

/// `/utgavor`: this week's edition, or with `?dag=` the edition of that day's week. A day that
/// is no day shows this week's edition with the problem at the chooser.
pub async fn current(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ChooseQuery>,
) -> Result<Response, WebError> {
    let today = clock::today().map_err(WebError::Internal)?;
    let this_week = edition::edition_name(edition::current_edition(today));
    let Some(typed) = query.dag.as_deref() else {
        return Ok(Redirect::to(&format!("/utgavor/{this_week}")).into_response());
    };
    match lagesbild_app::day_input::parse_day(typed) {
        Ok(day) => {
            let name = edition::edition_name(edition::current_edition(day));
            Ok(Redirect::to(&format!("/utgavor/{name}")).into_response())
        }
        Err(_) => {
            let values = json!(query);
            let failure = Failure {
                errors: FormErrors::check(DAY_FORM, &values),
                form: "valj-dag".into(),
                values,
            };
            render(
                &state,
                &session,
                &this_week,
                &EditionQuery::default(),
                Some(failure),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditionQuery {
    /// Show the edition as it stood at this log position.
    pub vid: Option<String>,
    /// What was just done (a fixed code; never text to show).
    pub klart: Option<String>,
    /// The point just changed.
    pub punkt: Option<String>,
    /// How many (points brought in, kept).
    pub antal: Option<String>,
}

/// The Swedish status line for a code the redirects carry; unknown codes show nothing, so no
/// text from the address reaches the page.
fn status_message(code: &str, count: Option<u64>) -> Option<String> {
    let n = count.unwrap_or(0);
    Some(match code {
        "tillagd" => "Punkten är tillagd.".into(),
        "andrad" => "Ändringen är sparad.".into(),
        "borttagen" => "Den är borttagen ur utgåvan.".into(),
        "flyttad" => "Punkten är flyttad.".into(),
        "hamtade" if n == 0 => "Det fanns inga fler punkter att hämta från förra veckan.".into(),
        "hamtade" => format!(
            "{n} punkter från förra veckan är hämtade som förslag: behåll, ändra eller ta bort dem."
        ),
        "behallen" if n > 1 => format!("{n} förslag är behållna."),
        "behallen" => "Förslaget är behållet.".into(),
        "nyckeltal" => "Nyckeltalet är sparat.".into(),
        "lank" => "Länken är sparad.".into(),
        "inskickad" => "Utgåvan är skickad till granskning.".into(),
        "godkand" => "Utgåvan är godkänd och kan publiceras.".into(),
        "tillbaka" => "Utgåvan är skickad tillbaka med din kommentar.".into(),
        _ => return None,
    })
}

/// A form that was refused: which one (the prefix of its element ids, `punkt-12`), its
/// problems with the element ids already prefixed, and what was typed.
struct Failure {
    form: String,
    errors: FormErrors,
    values: Value,
}

// The edition's forms, field by field (`crate::form_errors`). Element ids are relative to the
// form's own prefix (`punkt-12` + `text` is `punkt-12-text`), since a form repeats per point.
const POINT_TEXT: FormField = FormField::new(
    "text",
    "text",
    &["text", "summary"],
    Kind::Text {
        empty: "Skriv punktens text",
    },
)
.required();
const POINT_POINTS: FormField =
    FormField::new("points", "points", &["points", "data.points"], Kind::Lines);
const POINT_LASTS: FormField = FormField::new(
    "lasts",
    "lasts",
    &["lasts", "data.standing"],
    Kind::Choice {
        message: "Välj hur länge punkten står: den här veckan, till och med en dag eller tills den tas bort",
    },
);
const POINT_UNTIL: FormField = FormField::new(
    "until",
    "until",
    &["until", "data.until"],
    Kind::Day {
        empty: "Ange den sista dagen punkten står",
    },
);
/// Editing a point (or a suggestion from last week).
const POINT_FORM: &[FormField] = &[POINT_TEXT, POINT_POINTS, POINT_LASTS, POINT_UNTIL];
/// Adding a point to a section.
const ADD_POINT_FORM: &[FormField] = &[
    POINT_TEXT,
    POINT_POINTS,
    POINT_LASTS,
    POINT_UNTIL,
    FormField::new(
        "position",
        "position",
        &["position"],
        Kind::Choice {
            message: "Välj var punkten ska stå",
        },
    ),
];
const FIGURE_FORM: &[FormField] = &[
    FormField::new(
        "figure",
        "figure",
        &["figure", "data.figure"],
        Kind::Id {
            empty: "Ange nyckeltalets namn, till exempel konsulter",
        },
    )
    .required(),
    FormField::new(
        "label",
        "label",
        &["label", "data.label"],
        Kind::Text { empty: "" },
    ),
    FormField::new("value", "value", &["value", "data.value"], Kind::Number).required(),
    FormField::new(
        "unit",
        "unit",
        &["unit", "data.unit"],
        Kind::Text { empty: "" },
    ),
];
const LINK_FORM: &[FormField] = &[
    FormField::new(
        "title",
        "title",
        &["title", "summary", "data.title"],
        Kind::Text {
            empty: "Skriv länkens titel",
        },
    )
    .required(),
    FormField::new("url", "url", &["url", "data.url"], Kind::Url),
    FormField::new(
        "listing",
        "listing",
        &["listing"],
        Kind::Choice {
            message: "Välj var i rapporten länken står",
        },
    ),
];
/// Editing a link (title, address) or a role (person, title) in place; the use case says
/// which is missing, in Swedish, so neither field is checked as required here.
const ITEM_FORM: &[FormField] = &[
    FormField::new(
        "title",
        "title",
        &["title", "summary", "data.title", "data.person", "person"],
        Kind::Text { empty: "" },
    ),
    FormField::new("detail", "detail", &["detail"], Kind::Text { empty: "" }),
];
const REVIEW_FORM: &[FormField] = &[FormField::new(
    "comment",
    "comment",
    &["comment", "data.comment"],
    Kind::Text { empty: "" },
)];
/// The forms with no field a person types (remove, move, keep, start from last week,
/// publish): their refusals are the form's own.
const NO_FIELDS: &[FormField] = &[];

fn lasts_label(line: &NoteLine) -> String {
    if line.standing {
        "Står tills den tas bort".into()
    } else if let Some(until) = line.until {
        format!(
            "Står till och med {}",
            lagesbild_render::swedish::day(until)
        )
    } else {
        "Står den här veckan".into()
    }
}

fn lasts_value(line: &NoteLine) -> &'static str {
    if line.standing {
        "standing"
    } else if line.until.is_some() {
        "until"
    } else {
        "week"
    }
}

/// The typed values and the form's own problems for form `form`, when it is the one that
/// failed (its fields' messages are in the page's `form_errors`, by element id).
fn form_state(failure: Option<&Failure>, form: &str, defaults: Value) -> Value {
    match failure.filter(|f| f.form == form) {
        Some(f) => {
            let mut values = defaults;
            if let (Value::Object(values), Value::Object(typed)) = (&mut values, &f.values) {
                for (k, v) in typed {
                    if values.contains_key(k) && v.is_string() {
                        values.insert(k.clone(), v.clone());
                    }
                }
            }
            json!({
                "failed": true,
                "general": f.errors.general_messages(),
                "values": values,
                "open": true,
            })
        }
        None => json!({
            "failed": false,
            "general": [],
            "values": defaults,
            "open": false,
        }),
    }
}

fn line_context(
    line: &NoteLine,
    section: &str,
    highlight: Option<u64>,
    failure: Option<&Failure>,
    position: usize,
    count: usize,
) -> Value {
    let form = form_state(
        failure,
        &format!("punkt-{}", line.seq),
        json!({
            "text": line.text,
            "points": line.points.join("\n"),
            "lasts": lasts_value(line),
            "until": line.until.map(|u| u.to_string()).unwrap_or_default(),
        }),
    );
    json!({
        "seq": line.seq,
        "id": format!("punkt-{}", line.seq),
        "section": section,
        "text": line.text,
        "points": line.points,
        "lasts": lasts_label(line),
        "carried": line.carried_from.is_some(),
        "highlight": highlight == Some(line.seq),
        "first": position == 0,
        "last": position + 1 == count,
        "position": position + 1,
        "form": form,
    })
}

fn review_context(review: &Review, viewer: Option<&str>, rules: Rules) -> Value {
    let (state, text) = match review {
        Review::Draft => ("draft", "Utkast: inte skickad till granskning.".to_owned()),
        Review::Submitted { by, .. } => (
            "submitted",
            format!("Skickad till granskning av {by}; väntar på godkännande."),
        ),
        Review::Approved { by, .. } => ("approved", format!("Godkänd av {by}.")),
        Review::Returned { by, comment } => (
            "returned",
            match comment {
                Some(c) => format!("Skickad tillbaka av {by}: {c}"),
                None => format!("Skickad tillbaka av {by}."),
            },
        ),
    };
    let submitted_by = match review {
        Review::Submitted { by, .. } => Some(by.as_str()),
        _ => None,
    };
    json!({
        "state": state,
        "text": text,
        "four_eyes": rules.four_eyes,
        "can_submit": matches!(review, Review::Draft | Review::Returned { .. } | Review::Approved { .. }),
        "awaiting": matches!(review, Review::Submitted { .. }),
        "own": submitted_by.is_some() && submitted_by == viewer,
    })
}

fn draft_context(
    state: &AppState,
    draft: &Draft,
    viewer: Option<&str>,
    highlight: Option<u64>,
    failure: Option<&Failure>,
) -> Value {
    let rules = rules(state);
    let role = viewer.map_or(Role::Reader, |v| role_of(state, v));
    let editable = state.writable() && role.can_edit() && draft.at_head;
    let model = &draft.model;
    let mut sections: Vec<Value> = model
        .note_sections()
        .into_iter()
        .map(|(section, lines)| {
            let name = section_name(section);
            let proposed: Vec<Value> = model
                .proposed
                .iter()
                .filter(|p| p.section == section)
                .enumerate()
                .map(|(i, p)| line_context(&p.line, name, highlight, failure, i, usize::MAX))
                .collect();
            json!({
                "name": name,
                "heading": edition::section_heading(section),
                "lines": lines.iter().enumerate().map(|(i, l)| line_context(l, name, highlight, failure, i, lines.len())).collect::<Vec<_>>(),
                "proposed": proposed,
                "add_id": format!("ny-{name}"),
                "add": form_state(failure, &format!("ny-{name}"), json!({ "text": "", "points": "", "lasts": "week", "until": "", "position": "" })),
                "positions": (1..=lines.len()).map(|p| json!({ "value": p - 1, "label": format!("före punkt {p}") })).collect::<Vec<_>>(),
            })
        })
        .collect();
    // Notes that stood until their matter closed: shown with the flags, to edit or remove.
    let lapsed: Vec<Value> = model
        .lapsed_notes
        .iter()
        .map(|note| {
            let id = format!("punkt-{}", note.seq);
            json!({
                "seq": note.seq,
                "id": id,
                "text": note.text,
                "points": note.points,
                "heading": edition::section_heading(note.section),
                "highlight": highlight == Some(note.seq),
                "form": form_state(failure, &id, json!({
                    "text": note.text,
                    "points": note.points.join("\n"),
                    "lasts": "week",
                    "until": "",
                })),
            })
        })
        .collect();
    let collected: Vec<Value> = model
        .collected
        .iter()
        .map(|l| {
            json!({
                "seq": l.seq, "title": l.title, "url": l.url, "highlight": highlight == Some(l.seq),
                "form": form_state(failure, &format!("post-{}", l.seq), json!({ "title": l.title, "detail": l.url.clone().unwrap_or_default() })),
            })
        })
        .collect();
    let spokespersons: Vec<Value> = model
        .spokespersons
        .iter()
        .map(|p| {
            json!({
                "seq": p.seq, "person": p.person, "title": p.title, "highlight": highlight == Some(p.seq),
                "form": form_state(failure, &format!("post-{}", p.seq), json!({ "title": p.person, "detail": p.title.clone().unwrap_or_default() })),
            })
        })
        .collect();
    let figures: Vec<Value> = model
        .figures
        .iter()
        .map(|f| {
            json!({
                "seq": f.seq, "figure": f.figure, "label": f.label, "value": f.value, "unit": f.unit,
                "as_of": f.as_of.to_string(), "change": f.change, "highlight": highlight == Some(f.seq),
            })
        })
        .collect();
    let changes: Vec<Value> = draft
        .changes
        .iter()
        .map(|s| {
            json!({
                "heading": s.heading,
                "points": s.points.iter().filter(|p| p.change != "same").map(|p| json!({
                    "change": p.change,
                    "label": match p.change { "new" => "Ny", "changed" => "Ändrad", _ => "Borttagen" },
                    "text": p.text,
                    "pieces": p.pieces.iter().map(|x| json!({ "kind": x.kind, "text": x.text, "same": x.kind == "same", "added": x.kind == "added" })).collect::<Vec<_>>(),
                    "seq": p.seq,
                })).collect::<Vec<_>>(),
                "unchanged": s.points.iter().filter(|p| p.change == "same").count(),
            })
        })
        .collect();
    let next_version = draft.versions.len() + 1;
    json!({
        "name": draft.name,
        "day": draft.day.to_string(),
        "day_label": lagesbild_render::swedish::day(draft.day),
        "week": model.week,
        "week_number": model.week.split_once("-W").map(|(_, w)| w.trim_start_matches('0').to_owned()),
        "number": model.number,
        "version": next_version,
        "republish": next_version > 1,
        "title": model.title,
        "editable": editable,
        "signed_in": viewer.is_some(),
        "can_approve": role.can_approve() && state.writable(),
        "at": draft.at,
        "at_head": draft.at_head,
        "about": sections.pop(),
        "sections": sections,
        "has_proposed": !model.proposed.is_empty(),
        "proposed_count": model.proposed.len(),
        "actions": model.actions,
        "collected": collected,
        "spokespersons": spokespersons,
        "figures": figures,
        "new_since": model.new_since,
        "waves": model.waves,
        "open_matters": model.open_matters,
        "sources": model.sources,
        "baseline": draft.baseline.as_ref().map(|b| json!({
            "seq": b.seq,
            "day_label": lagesbild_render::swedish::day(b.day),
            "number": b.number,
            "version": b.version,
            "same_day": b.same_day,
        })),
        "changes": changes,
        "versions": draft.versions,
        "review": review_context(&draft.review, viewer, rules),
        "day_form": form_state(failure, "valj-dag", json!({ "dag": lagesbild_render::swedish::day(draft.day) })),
        "flags": draft.flags,
        "lapsed": lapsed,
        "figure_form": form_state(failure, "nyckeltal", json!({ "figure": "", "label": "", "value": "", "unit": "st" })),
        "link_form": form_state(failure, "lank", json!({ "title": "", "url": "", "listing": "collected" })),
        "review_form": form_state(failure, "granskning", json!({ "comment": "" })),
        "start_form": form_state(failure, "forra-veckan", json!({})),
        "publish_form": form_state(failure, "publicera", json!({})),
        "form_errors": failure.map_or_else(|| FormErrors::default().context(), |f| f.errors.context()),
    })
}

async fn render(
    state: &AppState,
    session: &Session,
    name: &str,
    query: &EditionQuery,
    failure: Option<Failure>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let viewer = viewer(session).await?;
    let day = day_of(name)?;
    let at = match query
        .vid
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| WebError::bad("vid", "ange ett händelsenummer"))?,
        ),
        None => None,
    };
    let rules = rules(state);
    let now = now()?;
    let (draft, history) = state
        .with_store(move |store| {
            let draft = edition::draft(store, day, at, rules, now)?;
            let history = edition::history(store, day, 40)?;
            Ok((draft, history))
        })
        .await?;
    let highlight = query.punkt.as_deref().and_then(|p| p.parse::<u64>().ok());
    let count = query.antal.as_deref().and_then(|p| p.parse::<u64>().ok());
    let mut context = draft_context(
        state,
        &draft,
        viewer.user.as_deref(),
        highlight,
        failure.as_ref(),
    );
    context["status"] = json!(
        query
            .klart
            .as_deref()
            .and_then(|code| status_message(code, count))
    );
    context["history"] = history
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "recorded_at": e.recorded_at.to_string(),
                "by": e.event.by.as_ref().map(|b| b.as_str()),
                "summary": e.event.summary.as_str(),
                "kind": e.event.kind(),
                "current": e.seq == draft.at,
            })
        })
        .collect();
    let title = format!(
        "Utgåvan vecka {} · {}",
        draft.model.week.split_once("-W").map_or("", |(_, w)| w),
        lagesbild_render::swedish::day(day)
    );
    let html = page(state, &viewer, "edition", &title, "skriv", context)?;
    Ok((status, html).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Query(query): Query<EditionQuery>,
) -> Result<Response, WebError> {
    render(&state, &session, &name, &query, None, StatusCode::OK).await
}

/// Back to the edition after a change: the status code, the point as the fragment.
fn back(name: &str, code: &str, seq: Option<u64>, count: Option<usize>) -> Response {
    let mut target = format!("/utgavor/{name}?klart={code}");
    if let Some(seq) = seq {
        target.push_str(&format!("&punkt={seq}"));
    }
    if let Some(count) = count {
        target.push_str(&format!("&antal={count}"));
    }
    if let Some(seq) = seq {
        target.push_str(&format!("#punkt-{seq}"));
    }
    Redirect::to(&target).into_response()
}

/// Who writes, checked as every write is (signed in or a token, CSRF, not a reader).
async fn actor(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<Actor, WebError> {
    let name = session::writer(state, session, headers, csrf).await?;
    let role = role_of(state, &name);
    Ok(Actor { name, role })
}

/// Runs a change: every field of `fields` is checked as typed first, then the use case runs.
/// A refused one shows the edition again (400 for a field, 409 for the edition's state) with
/// each problem at its field and in the summary at the top, in Swedish, and what was typed
/// kept; the model's own reasons only reach the server's log (`crate::form_errors`).
#[allow(clippy::too_many_arguments)]
async fn change<T, F>(
    state: &AppState,
    session: &Session,
    name: &str,
    form: String,
    fields: &'static [FormField],
    values: Value,
    work: F,
) -> Result<Result<T, Response>, WebError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn lagesbild_store::Store) -> Result<T, EditionError> + Send + 'static,
{
    let checked = FormErrors::check(fields, &values);
    if !checked.is_empty() {
        let failure = Failure {
            errors: checked.within(&form),
            form,
            values,
        };
        return Ok(Err(refused(
            state,
            session,
            name,
            failure,
            StatusCode::BAD_REQUEST,
        )
        .await?));
    }
    let outcome = state
        .with_store(move |store| match work(store) {
            Ok(value) => Ok(Ok(value)),
            Err(
                error @ (EditionError::Invalid(_)
                | EditionError::Explained(_)
                | EditionError::Refused(_)),
            ) => Ok(Err(error)),
            Err(other) => Err(WebError::from(other)),
        })
        .await;
    let (errors, status) = match outcome {
        Ok(Ok(value)) => return Ok(Ok(value)),
        Ok(Err(EditionError::Explained(f))) => (
            FormErrors::explained(fields, &f.field, &f.reason),
            StatusCode::BAD_REQUEST,
        ),
        Ok(Err(EditionError::Invalid(f))) => (
            FormErrors::from_error(fields, &values, &WebError::bad(f.field, f.reason)),
            StatusCode::BAD_REQUEST,
        ),
        Ok(Err(EditionError::Refused(reason))) => {
            (FormErrors::default().general(reason), StatusCode::CONFLICT)
        }
        Ok(Err(other)) => return Err(other.into()),
        Err(error @ (WebError::BadInput { .. } | WebError::Conflict(_) | WebError::Busy(_))) => {
            let status = error.status();
            (FormErrors::from_error(fields, &values, &error), status)
        }
        Err(other) => return Err(other),
    };
    let failure = Failure {
        errors: errors.within(&form),
        form,
        values,
    };
    Ok(Err(refused(state, session, name, failure, status).await?))
}

/// The page a refused form comes back to: the publish confirmation for publishing, the
/// edition for everything else.
async fn refused(
    state: &AppState,
    session: &Session,
    name: &str,
    failure: Failure,
    status: StatusCode,
) -> Result<Response, WebError> {
    if failure.form == "publicera" {
        confirm(state, session, name, Some(failure), status).await
    } else {
        render(
            state,
            session,
            name,
            &EditionQuery::default(),
            Some(failure),
            status,
        )
        .await
    }
}

fn seq_of(text: &str) -> Result<u64, WebError> {
    text.parse::<u64>()
        .map_err(|_| WebError::NotFound(format!("{text:?} är ingen punkt")))
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct PointForm {
    pub csrf: Option<String>,
    pub section: String,
    pub text: String,
    pub points: String,
    pub lasts: String,
    pub until: Option<String>,
    /// Where to add it: before the point at this index; blank for last.
    pub position: Option<String>,
}

impl PointForm {
    fn input(&self) -> PointInput {
        PointInput {
            text: self.text.clone(),
            points: self.points.clone(),
            lasts: self.lasts.clone(),
            until: self.until.clone(),
        }
    }
}

pub async fn add_point(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<PointForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let section = if edition::NOTE_SECTIONS
        .iter()
        .any(|(_, n, _)| *n == form.section)
    {
        form.section.clone()
    } else {
        return Err(WebError::bad("section", "Välj en del av rapporten."));
    };
    let input = form.input();
    let values = json!(form);
    let position = match form.position.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => match p.parse::<usize>() {
            Ok(p) => Some(p),
            Err(_) => {
                let failure = Failure {
                    errors: FormErrors::default()
                        .field("position", "Välj var punkten ska stå")
                        .within(&format!("ny-{section}")),
                    form: format!("ny-{section}"),
                    values,
                };
                return refused(&state, &session, &name, failure, StatusCode::BAD_REQUEST).await;
            }
        },
    };
    let section_for_work = section.clone();
    match change(
        &state,
        &session,
        &name,
        format!("ny-{section}"),
        ADD_POINT_FORM,
        values,
        move |store| edition::add_point(store, day, &actor, &section_for_work, &input, position),
    )
    .await?
    {
        Ok(seq) => Ok(back(&name, "tillagd", Some(seq), None)),
        Err(page) => Ok(page),
    }
}

pub async fn revise_point(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((name, seq)): Path<(String, String)>,
    Form(form): Form<PointForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let seq = seq_of(&seq)?;
    let input = form.input();
    let values = json!(form);
    match change(
        &state,
        &session,
        &name,
        format!("punkt-{seq}"),
        POINT_FORM,
        values,
        move |store| edition::revise_point(store, day, &actor, seq, &input),
    )
    .await?
    {
        Ok(seq) => Ok(back(&name, "andrad", Some(seq), None)),
        Err(page) => Ok(page),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct CsrfOnly {
    pub csrf: Option<String>,
}

pub async fn remove_item(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((name, seq)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let seq = seq_of(&seq)?;
    match change(
        &state,
        &session,
        &name,
        format!("punkt-{seq}"),
        NO_FIELDS,
        json!({}),
        move |store| edition::remove_item(store, day, &actor, seq),
    )
    .await?
    {
        Ok(_) => Ok(back(&name, "borttagen", None, None)),
        Err(page) => Ok(page),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct MoveForm {
    pub csrf: Option<String>,
    /// `upp` or `ned`.
    pub riktning: String,
}

pub async fn move_point(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((name, seq)): Path<(String, String)>,
    Form(form): Form<MoveForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let seq = seq_of(&seq)?;
    let up = match form.riktning.as_str() {
        "upp" => true,
        "ned" => false,
        _ => return Err(WebError::bad("riktning", "Välj upp eller ned.")),
    };
    match change(
        &state,
        &session,
        &name,
        format!("punkt-{seq}"),
        NO_FIELDS,
        json!({}),
        move |store| edition::move_point(store, day, &actor, seq, up),
    )
    .await?
    {
        Ok(seq) => Ok(back(&name, "flyttad", Some(seq), None)),
        Err(page) => Ok(page),
    }
}

pub async fn start_from_last_week(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    match change(
        &state,
        &session,
        &name,
        "forra-veckan".into(),
        NO_FIELDS,
        json!({}),
        move |store| edition::start_from_last_week(store, day, &actor),
    )
    .await?
    {
        Ok(n) => Ok(back(&name, "hamtade", None, Some(n))),
        Err(page) => Ok(page),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct KeepForm {
    pub csrf: Option<String>,
    /// One suggestion; blank keeps every one still open.
    pub punkt: Option<String>,
}

pub async fn keep(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<KeepForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let seq = match form
        .punkt
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => Some(seq_of(p)?),
        None => None,
    };
    let form_name = seq.map_or("forra-veckan".to_owned(), |s| format!("punkt-{s}"));
    match change(
        &state,
        &session,
        &name,
        form_name,
        NO_FIELDS,
        json!({}),
        move |store| edition::keep_proposed(store, day, &actor, seq),
    )
    .await?
    {
        Ok(n) => Ok(back(&name, "behallen", seq, Some(n))),
        Err(page) => Ok(page),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct FigureForm {
    pub csrf: Option<String>,
    pub figure: String,
    pub label: String,
    pub value: String,
    pub unit: String,
}

pub async fn add_figure(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<FigureForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let figure = staff::Figure {
        figure: form.figure.clone(),
        value: form.value.clone(),
        unit: if form.unit.trim().is_empty() {
            "st".into()
        } else {
            form.unit.clone()
        },
        label: Some(form.label.clone()),
    };
    let values = json!(form);
    match change(
        &state,
        &session,
        &name,
        "nyckeltal".into(),
        FIGURE_FORM,
        values,
        move |store| edition::add_figure(store, day, &actor, &figure),
    )
    .await?
    {
        Ok(seq) => Ok(back(&name, "nyckeltal", Some(seq), None)),
        Err(page) => Ok(page),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct LinkForm {
    pub csrf: Option<String>,
    pub title: String,
    pub url: String,
    /// `collected` (Samlad information) or `dated` (Kommunikativa åtgärder).
    pub listing: String,
}

pub async fn add_link(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<LinkForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let publication = staff::Publication {
        title: form.title.clone(),
        url: Some(form.url.clone()),
        channel: None,
        collected: form.listing != "dated",
    };
    let values = json!(form);
    match change(
        &state,
        &session,
        &name,
        "lank".into(),
        LINK_FORM,
        values,
        move |store| edition::add_link(store, day, &actor, &publication),
    )
    .await?
    {
        Ok(seq) => Ok(back(&name, "lank", Some(seq), None)),
        Err(page) => Ok(page),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ItemForm {
    pub csrf: Option<String>,
    /// A link's title or a role's person.
    pub title: String,
    /// A link's address or a role's title.
    pub detail: String,
}

pub async fn revise_item(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((name, seq)): Path<(String, String)>,
    Form(form): Form<ItemForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let seq = seq_of(&seq)?;
    let (title, detail) = (form.title.clone(), form.detail.clone());
    let values = json!(form);
    match change(
        &state,
        &session,
        &name,
        format!("post-{seq}"),
        ITEM_FORM,
        values,
        move |store| edition::revise_item(store, day, &actor, seq, &title, &detail),
    )
    .await?
    {
        Ok(seq) => Ok(back(&name, "andrad", Some(seq), None)),
        Err(page) => Ok(page),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ReviewForm {
    pub csrf: Option<String>,
    /// `skicka`, `godkann` or `tillbaka`.
    pub steg: String,
    pub comment: String,
}

pub async fn review(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    let (step, code) = match form.steg.as_str() {
        "skicka" => (ReviewStep::Submitted, "inskickad"),
        "godkann" => (ReviewStep::Approved, "godkand"),
        "tillbaka" => (ReviewStep::Returned, "tillbaka"),
        _ => {
            return Err(WebError::bad(
                "steg",
                "Välj skicka, godkänn eller skicka tillbaka.",
            ));
        }
    };
    let rules = rules(&state);
    let now = now()?;
    let comment = form.comment.clone();
    let values = json!(form);
    match change(
        &state,
        &session,
        &name,
        "granskning".into(),
        REVIEW_FORM,
        values,
        move |store| edition::review(store, day, &actor, step, Some(&comment), rules, now),
    )
    .await?
    {
        Ok(_) => Ok(back(&name, code, None, None)),
        Err(page) => Ok(page),
    }
}

/// `GET /utgavor/NAME/publicera`: what will be published, and where it goes, before anything is.
pub async fn confirm_page(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    confirm(&state, &session, &name, None, StatusCode::OK).await
}

/// The publish confirmation, with the refusal of a publish that failed.
async fn confirm(
    state: &AppState,
    session: &Session,
    name: &str,
    failure: Option<Failure>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let viewer = viewer(session).await?;
    let day = day_of(name)?;
    let rules = rules(state);
    let now = now()?;
    let draft = state
        .with_store(move |store| Ok(edition::draft(store, day, None, rules, now)?))
        .await?;
    let user = viewer.user.clone();
    let actor = Actor {
        name: user.clone().unwrap_or_default(),
        role: user.as_deref().map_or(Role::Reader, |u| role_of(state, u)),
    };
    let blocker = if user.is_none() {
        Some("Logga in för att publicera.".to_owned())
    } else if !state.writable() {
        Some(session::READ_ONLY.to_owned())
    } else {
        edition::publish_blocker(&draft, &actor, rules)
    };
    let mut context = draft_context(state, &draft, user.as_deref(), None, failure.as_ref());
    context["blocker"] = json!(blocker);
    context["distribution"] = json!(distribution(state));
    let title = format!("Publicera utgåvan {}", lagesbild_render::swedish::day(day));
    let html = page(state, &viewer, "edition-publish", &title, "skriv", context)?;
    Ok((status, html).into_response())
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct PublishForm {
    pub csrf: Option<String>,
    /// `ja` once the person saw the confirmation page.
    pub bekrafta: String,
}

pub async fn publish(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<PublishForm>,
) -> Result<Response, WebError> {
    let actor = actor(&state, &session, &headers, form.csrf.as_deref()).await?;
    let day = day_of(&name)?;
    if form.bekrafta != "ja" {
        return Ok(Redirect::to(&format!("/utgavor/{name}/publicera")).into_response());
    }
    let rules = rules(&state);
    let now = now()?;
    let set = state.templates().set().clone();
    let by = actor.name.clone();
    match change(
        &state,
        &session,
        &name,
        "publicera".into(),
        NO_FIELDS,
        json!({}),
        move |store| edition::publish_edition(store, &set, day, &actor, rules, now),
    )
    .await?
    {
        Ok(published) => {
            tracing::info!(seq = published.seq, %day, "edition published");
            // Published under the edition's rules (approved, where four eyes are required),
            // so it goes to the distribution lists now; the report's page shows how it went.
            crate::mailing::after_publish(&state, published.seq, &by).await;
            Ok(Redirect::to(&format!("/rapporter/{}", published.seq)).into_response())
        }
        Err(page) => Ok(page),
    }
}
