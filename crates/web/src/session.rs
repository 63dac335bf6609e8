//! Sessions, sign-in state, CSRF tokens and the gate in front of every route.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer};

use crate::AppState;
use crate::auth::{CSRF_KEY, USER_KEY, constant_time_eq, random_hex};
use crate::error::{ApiError, WebError};

/// The session cookie's name.
pub const COOKIE: &str = "lagesbild_session";

/// Forms carry the CSRF token in the field `csrf`; API writes with a session cookie carry it
/// in this header.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub(crate) fn layer(secure: bool) -> SessionManagerLayer<MemoryStore> {
    SessionManagerLayer::new(MemoryStore::default())
        .with_name(COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::hours(8)))
}

/// Who is looking at a page, and the CSRF token for its forms.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user: Option<String>,
    pub csrf: String,
}

fn session_error(error: tower_sessions::session::Error) -> WebError {
    tracing::error!(%error, "session store");
    WebError::Internal("sessionen kunde inte läsas".into())
}

/// The viewer, creating the session's CSRF token on first sight.
pub(crate) async fn viewer(session: &Session) -> Result<Viewer, WebError> {
    let user: Option<String> = session.get(USER_KEY).await.map_err(session_error)?;
    let csrf = match session
        .get::<String>(CSRF_KEY)
        .await
        .map_err(session_error)?
    {
        Some(token) => token,
        None => {
            let token = random_hex(32).map_err(WebError::Internal)?;
            session
                .insert(CSRF_KEY, &token)
                .await
                .map_err(session_error)?;
            token
        }
    };
    Ok(Viewer { user, csrf })
}

/// Refuses a form or request whose CSRF token is missing or not the session's.
pub(crate) async fn check_csrf(session: &Session, submitted: Option<&str>) -> Result<(), WebError> {
    let expected: Option<String> = session.get(CSRF_KEY).await.map_err(session_error)?;
    match (expected, submitted) {
        (Some(expected), Some(submitted))
            if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(WebError::Forbidden(
            "formuläret saknar giltig CSRF-token (sidan kan vara för gammal): ladda om sidan och försök igen".into(),
        )),
    }
}

/// The message every refused write in read-only mode carries.
pub const READ_ONLY: &str =
    "servern körs i läsläge: inga användare eller API-token är konfigurerade, så ingen kan skriva";

/// Signs a user in: a new session id (no fixation), the user, a fresh CSRF token.
pub(crate) async fn sign_in(session: &Session, user: &str) -> Result<(), WebError> {
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(USER_KEY, user)
        .await
        .map_err(session_error)?;
    let token = random_hex(32).map_err(WebError::Internal)?;
    session
        .insert(CSRF_KEY, &token)
        .await
        .map_err(session_error)?;
    Ok(())
}

pub(crate) async fn sign_out(session: &Session) -> Result<(), WebError> {
    session.flush().await.map_err(session_error)
}

/// Who writes: a bearer token (API), or a signed-in user whose request carries the session's
/// CSRF token (forms, or the `X-CSRF-Token` header). Returns the name recorded as `by`.
pub(crate) async fn writer(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    form_token: Option<&str>,
) -> Result<String, WebError> {
    let Some(auth) = state.config().auth.as_ref().filter(|a| a.can_write()) else {
        return Err(WebError::Forbidden(READ_ONLY.into()));
    };
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| WebError::bad("Authorization", "use: Bearer <token>"))?;
        return auth
            .check_token(token.trim())
            .ok_or(WebError::SignInRequired);
    }
    let user: Option<String> = session.get(USER_KEY).await.map_err(session_error)?;
    let Some(user) = user else {
        return Err(WebError::SignInRequired);
    };
    let header = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    check_csrf(session, form_token.or(header)).await?;
    if !auth.role_of(&user).can_edit() {
        return Err(WebError::Forbidden(format!(
            "{user} har läsbehörighet och kan inte skriva eller publicera"
        )));
    }
    Ok(user)
}

/// Paths open to everybody even when reading requires signing in.
fn always_open(path: &str) -> bool {
    // The stylesheet too, or the sign-in page would be unstyled.
    matches!(path, "/logga-in" | "/healthz" | "/stil.css")
}

/// When reading requires signing in, sends pages to the sign-in form and answers the API
/// with 401, unless the request carries a session user or a known bearer token.
pub(crate) async fn guard(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if !state.read_requires_sign_in() || always_open(request.uri().path()) {
        return next.run(request).await;
    }
    let by_token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| state.config().auth.as_ref()?.check_token(t.trim()));
    let by_session: Option<String> = session.get(USER_KEY).await.ok().flatten();
    if by_token.is_some() || by_session.is_some() {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if path.starts_with("/api/") {
        return ApiError(WebError::SignInRequired).into_response();
    }
    let next_page = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let target = format!("/logga-in?{}", crate::views::next_query(&next_page));
    Redirect::to(&target).into_response()
}
