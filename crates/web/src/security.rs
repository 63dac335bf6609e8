//! What every response carries on an open network: the security headers, and errors in the
//! form the client reads (the documented JSON under `/api/`, the Swedish error page elsewhere),
//! including the ones axum and the middleware make themselves (404, 405, 413, 415, timeouts,
//! panics), which would otherwise be plain text.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::api::MAX_BODY_BYTES;
use crate::error::{INTERNAL_API, INTERNAL_PAGE, PendingError, api_body};
use crate::views::error_page;

/// The pages' Content-Security-Policy: nothing may load but this site's own stylesheet and
/// images, no script at all (the pages need none), no inline style, no framing, forms only to
/// this site.
pub(crate) const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// For documents the report templates make (the published HTML, the API's rendered report):
/// their `<style>` comes from templates a user may edit, so inline styles are allowed there,
/// but still no script, no framing and no forms.
pub(crate) const DOCUMENT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
     form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// HSTS for a server behind TLS: a year, subdomains included.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// What [`headers`] adds: the two policies and whether the server is behind TLS.
pub(crate) type HeaderPolicy = (HeaderValue, HeaderValue, bool);

/// Adds the security headers to every response. The report documents the templates make get
/// [`DOCUMENT_CSP`], everything else the pages' policy.
pub(crate) async fn headers(
    State((page_csp, document_csp, behind_tls)): State<HeaderPolicy>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let document = path == "/api/report"
        || (path.starts_with("/rapporter/")
            && path.trim_end_matches('/').matches('/').count() == 3);
    let csp = if document { document_csp } else { page_csp };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if behind_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// The longest body of an axum rejection read to reuse as the message.
const MAX_REJECTION_BYTES: usize = 4_096;

/// Turns every error response into the documented form: a [`PendingError`] from a handler is
/// rendered now (as a page with the right banner, or as JSON under `/api/`); a plain-text or
/// empty error from axum or a layer gets a message meant for people.
pub(crate) async fn uniform_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let keep_headers = |mut new: Response, old: &Response| {
        for name in [header::RETRY_AFTER, header::ALLOW, header::SET_COOKIE] {
            for value in old.headers().get_all(&name) {
                new.headers_mut().append(name.clone(), value.clone());
            }
        }
        new
    };
    if let Some(pending) = response.extensions_mut().remove::<PendingError>() {
        let new = if api {
            api_body(status, pending.field.as_deref(), &pending.api_message)
        } else {
            error_page(status, &pending.page_message, state.writable())
        };
        return keep_headers(new, &response);
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let (parts, body) = response.into_parts();
    let rejection = match axum::body::to_bytes(body, MAX_REJECTION_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let old = Response::from_parts(parts, Body::empty());
    let (api_message, page_message) = describe(status, &method, &path, &old, rejection.trim());
    let new = if api {
        api_body(status, None, &api_message)
    } else {
        error_page(status, &page_message, state.writable())
    };
    keep_headers(new, &old)
}

/// Messages for the errors axum and the middleware make, in English for the API and Swedish
/// for the pages.
fn describe(
    status: StatusCode,
    method: &Method,
    path: &str,
    response: &Response,
    rejection: &str,
) -> (String, String) {
    let allowed = response
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mib = MAX_BODY_BYTES >> 20;
    match status {
        StatusCode::NOT_FOUND => (
            format!("there is nothing at {path}"),
            "Det finns ingen sida här.".into(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            format!("{path} does not answer {method}; it answers {allowed}"),
            format!("Adressen tar inte emot {method}; den tar emot {allowed}."),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            format!("the request body is larger than {mib} MiB"),
            format!("Det som skickades är större än {mib} MiB."),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "the body is not in a format this route reads (JSON for the API, a form for the pages)"
                .into(),
            "Formuläret skickades i fel format.".into(),
        ),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => (
            "the request took too long and was stopped; try again".into(),
            "Förfrågan tog för lång tid och avbröts. Försök igen.".into(),
        ),
        s if s.is_server_error() => {
            tracing::error!(%status, %path, body = rejection, "internal error answered as 500");
            (INTERNAL_API.into(), INTERNAL_PAGE.into())
        }
        // 400 and 422 from axum's extractors (a query or form that does not parse) say what
        // was wrong in words; keep them.
        _ if !rejection.is_empty() => (
            rejection.to_owned(),
            format!("Uppgifterna i adressen eller formuläret gick inte att läsa ({rejection})."),
        ),
        _ => {
            let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
            (reason.clone(), reason)
        }
    }
}

/// The answer to a panic in a handler: a 500 the error layer then words.
pub(crate) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
