//! Sending published editions by e-mail from the web app: to every list when an edition is
//! published, and again from the report's page (`POST /rapporter/SEQ/skicka`) for a list that
//! has not got it; what was sent, to whom and what failed, for the report's page and the
//! archive. The sending itself is `lagesbild_app::mail`, on the blocking pool like every store
//! call, since lettre's SMTP transport blocks.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use lagesbild_app::edition;
use lagesbild_app::mail::{self, Attachment, ListResult};
use lagesbild_app::publish::Reproduction;
use lagesbild_model::kinds::{EditionSent, SendOutcome};
use lagesbild_model::{EventData, StoredEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::AppState;
use crate::error::WebError;

/// The files attached to an edition's mail, for its checked reproduction: the published PDF.
pub(crate) fn attachments(reproduction: &Reproduction) -> Vec<Attachment> {
    mail::published_pdf(reproduction)
}

fn mail_config(state: &AppState) -> Option<&mail::MailConfig> {
    state.config().auth.as_ref().and_then(|a| a.mail.as_ref())
}

/// Sends report `seq` to the list `only` or to every list, recording each attempt.
pub(crate) async fn send(
    state: &AppState,
    seq: u64,
    only: Option<String>,
    by: Option<String>,
) -> Result<Vec<ListResult>, WebError> {
    let Some(config) = mail_config(state).cloned() else {
        return Err(WebError::Conflict(
            "Servern har ingen e-post konfigurerad ([mail] i konfigurationsfilen).".into(),
        ));
    };
    let set = state.templates().set().clone();
    let now = lagesbild_app::clock::now_local().map_err(WebError::Internal)?;
    let rules = state.config().auth.as_ref().map(|a| a.rules());
    state
        .with_store(move |store| {
            // Under the four-eyes rule only an edition approved as it was published is sent,
            // whichever way it was published (the plain publish form skips the review).
            if let Some(rules) = rules.filter(|r| r.four_eyes) {
                let event = store.event(&lagesbild_store::EventRef::Seq(seq))?;
                let Some(EventData::ReportPublished(published)) = event.map(|e| e.event.data)
                else {
                    return Err(WebError::NotFound(format!(
                        "händelse {seq} är ingen publicerad rapport"
                    )));
                };
                let approved = edition::approved_as_published(store, &published, rules)
                    .map_err(|e| WebError::Internal(e.to_string()))?;
                if !approved {
                    return Err(WebError::Conflict(
                        "Rapporten godkändes inte av någon annan innan den publicerades, så den skickas inte (fyra ögon): publicera utgåvan efter granskning.".into(),
                    ));
                }
            }
            let request = mail::SendRequest {
                report_seq: seq,
                only: only.as_deref(),
                by: by.as_deref(),
                now,
            };
            mail::send_edition(store, &set, &config, &request, &attachments).map_err(|e| match e {
                mail::MailError::NoSuchList(name) => WebError::bad(
                    "lista",
                    format!("Det finns ingen sändlista som heter {name:?}."),
                ),
                mail::MailError::NotReproduced(_) => WebError::Conflict(e.to_string()),
                mail::MailError::Publish(e) => e.into(),
                mail::MailError::Store(e) => e.into(),
                mail::MailError::Invalid(f) => {
                    WebError::Internal(format!("{}: {}", f.field, f.reason))
                }
            })
        })
        .await
}

/// After a publish: sends to every list when the configuration says so. The publish stands
/// whatever happens here; a send that fails is recorded and shown on the report's page, and
/// an error that stopped every send (logged here) leaves the lists listed there as not sent.
pub(crate) async fn after_publish(state: &AppState, seq: u64, by: &str) {
    let Some(config) = mail_config(state) else {
        return;
    };
    if !config.send_on_publish || config.lists.is_empty() {
        return;
    }
    if let Err(error) = send(state, seq, None, Some(by.to_owned())).await {
        tracing::error!(seq, %error, "the published edition could not be sent");
    }
}

/// The report's sends and the lists still waiting for it, for the report's page.
pub(crate) fn context(state: &AppState, sends: &[(StoredEvent, EditionSent)]) -> Value {
    let configured = mail_config(state);
    let rows: Vec<Value> = sends
        .iter()
        .map(|(event, s)| {
            json!({
                "seq": event.seq,
                "at": event.event.occurred.to_string(),
                "by": event.event.by.as_ref().map(|b| b.as_str()),
                "list": s.list.as_str(),
                "recipients": s.recipients,
                "message_id": s.message_id.as_str(),
                "sent": s.outcome == SendOutcome::Sent,
                "error": s.error.as_ref().map(|e| e.as_str()),
            })
        })
        .collect();
    let unsent: Vec<&str> = configured
        .map(|c| mail::unsent(c, sends))
        .unwrap_or_default();
    json!({
        "configured": configured.is_some_and(|c| !c.lists.is_empty()),
        "sends": rows,
        "unsent": unsent,
        "can_send": state.writable(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResendForm {
    pub csrf: Option<String>,
    /// One list's name; empty for every list that has not got the edition.
    pub lista: String,
}

/// `POST /rapporter/SEQ/skicka`: sends the report again to one list, or to every list that has
/// not got it. Signed in with a role that may publish, and the session's CSRF token.
pub async fn resend(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(seq): Path<String>,
    Form(form): Form<ResendForm>,
) -> Result<Response, WebError> {
    let by = crate::session::writer(&state, &session, &headers, form.csrf.as_deref()).await?;
    let seq = seq
        .parse::<u64>()
        .map_err(|_| WebError::NotFound(format!("{seq:?} är inget händelsenummer")))?;
    let only = Some(form.lista.trim().to_owned()).filter(|l| !l.is_empty());
    let lists: Vec<String> = match only {
        Some(list) => vec![list],
        None => {
            let config = mail_config(&state).cloned();
            let sends = state
                .with_store(move |store| Ok(mail::sends(store, Some(seq))?))
                .await?;
            config
                .map(|c| {
                    mail::unsent(&c, &sends)
                        .into_iter()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    for list in lists {
        send(&state, seq, Some(list), Some(by.clone())).await?;
    }
    Ok(Redirect::to(&format!("/rapporter/{seq}#utskick")).into_response())
}
