//! What can go wrong in a request, and how each becomes a response: a page in Swedish for the
//! browser, a JSON object for the API. Bad input is a 4xx with its reason, never a 500; a 500
//! is kept for the log or the disk failing, and logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lagesbild_app::publish::PublishError;
use lagesbild_model::FieldError;
use lagesbild_store::{ErrorKind, StoreError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A parameter or form field is wrong.
    #[error("{field}: {reason}")]
    BadInput { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// Signing in is needed.
    #[error("logga in först")]
    SignInRequired,
    #[error("{0}")]
    Forbidden(String),
    /// The log refused the write as it stands (a key reused with other content, a stale
    /// expected version): the client may retry with other input.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Busy(String),
    /// The body is not in the format the route reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn bad(field: impl Into<String>, reason: impl Into<String>) -> WebError {
        WebError::BadInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadInput { .. } => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::SignInRequired => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            WebError::BadInput { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<FieldError> for WebError {
    fn from(error: FieldError) -> WebError {
        WebError::bad(error.field, error.reason)
    }
}

impl From<StoreError> for WebError {
    /// By the error's kind: Busy 503 (retry as is), Conflict 409 (the log as it stands refuses
    /// it), NotFound 404, Invalid 400, Storage 500 (logged, a generic body).
    fn from(error: StoreError) -> WebError {
        match error {
            StoreError::Invalid { index, error } => WebError::bad(
                error.field,
                format!("event {index} of the batch: {}", error.reason),
            ),
            other => match other.kind() {
                ErrorKind::Busy => WebError::Busy(other.to_string()),
                ErrorKind::Conflict => WebError::Conflict(other.to_string()),
                ErrorKind::NotFound => WebError::NotFound(other.to_string()),
                ErrorKind::Invalid => WebError::bad("event", other.to_string()),
                ErrorKind::Storage => {
                    tracing::error!(error = %other, "the log failed");
                    WebError::Internal(other.to_string())
                }
            },
        }
    }
}

impl From<PublishError> for WebError {
    fn from(error: PublishError) -> WebError {
        match error {
            PublishError::Store(e) => e.into(),
            PublishError::Invalid(e) => e.into(),
            PublishError::NoSuchEvent(what) => WebError::NotFound(format!("ingen händelse {what}")),
            PublishError::NotAReport { seq, kind } => WebError::NotFound(format!(
                "händelse {seq} är en {kind}, inte en publicerad rapport"
            )),
            PublishError::Mismatch { seq } => WebError::Conflict(format!(
                "rapporten i händelse {seq} kan inte återskapas byte för byte med dessa mallar och denna logg; se /rapporter/{seq}"
            )),
            PublishError::Template(e) => {
                tracing::error!(error = %e, "a report template failed");
                WebError::Internal(e.to_string())
            }
        }
    }
}

impl From<tokio::task::JoinError> for WebError {
    fn from(error: tokio::task::JoinError) -> WebError {
        tracing::error!(error = %error, "a blocking task failed");
        WebError::Internal("ett internt fel inträffade".into())
    }
}

/// What a client is told about a 500: the details are for the server's log, not the network.
pub(crate) const INTERNAL_API: &str = "internal error: the details are in the server's log";
pub(crate) const INTERNAL_PAGE: &str =
    "Ett internt fel inträffade. Detaljerna finns i serverns logg.";

impl WebError {
    /// The message a person reads on the API, without internal details.
    fn api_message(&self) -> String {
        match self {
            WebError::BadInput { reason, .. } => reason.clone(),
            WebError::SignInRequired => {
                "sign in first: send a bearer token or a signed-in session cookie".into()
            }
            WebError::Internal(details) => {
                tracing::error!(%details, "internal error answered as 500");
                INTERNAL_API.into()
            }
            other => other.to_string(),
        }
    }

    /// The message a person reads on an error page.
    fn page_message(&self) -> String {
        match self {
            WebError::BadInput { field, reason } => format!("{field}: {reason}"),
            WebError::Internal(details) => {
                tracing::error!(%details, "internal error answered as 500");
                INTERNAL_PAGE.into()
            }
            other => other.to_string(),
        }
    }
}

/// The API's form of an error: `{"error": {"status": 400, "field": …, "message": …}}`.
#[derive(Debug)]
pub struct ApiError(pub WebError);

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(error: E) -> ApiError {
        ApiError(error.into())
    }
}

/// The documented JSON error body.
pub(crate) fn api_body(status: StatusCode, field: Option<&str>, message: &str) -> Response {
    let body =
        json!({ "error": { "status": status.as_u16(), "field": field, "message": message } });
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_body(self.0.status(), self.0.field(), &self.0.api_message())
    }
}

/// A page error on its way out: [`crate::security::uniform_errors`] renders it as the Swedish
/// error page (it knows whether the server is read-only, which the error does not), or as the
/// API's JSON when the path is under `/api/`.
#[derive(Clone, Debug)]
pub(crate) struct PendingError {
    pub page_message: String,
    pub api_message: String,
    pub field: Option<String>,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if self == WebError::SignInRequired {
            return axum::response::Redirect::to("/logga-in").into_response();
        }
        let status = self.status();
        let pending = PendingError {
            page_message: self.page_message(),
            api_message: self.api_message(),
            field: self.field().map(str::to_owned),
        };
        // The plain text is only seen if the error layer is missing.
        let mut response = (status, pending.page_message.clone()).into_response();
        response.extensions_mut().insert(pending);
        response
    }
}

impl PartialEq for WebError {
    fn eq(&self, other: &WebError) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store error's status follows its kind, whatever the variant or backend.
    #[test]
    fn a_store_error_is_answered_by_its_kind() {
        let cases = [
            (
                StoreError::Busy { timeout_ms: 5 },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::Aborted {
                    message: "deadlock".into(),
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::KeyConflict {
                    index: 0,
                    key: "k".into(),
                    seq: 1,
                },
                StatusCode::CONFLICT,
            ),
            (
                StoreError::StaleVersion {
                    stream: "s".into(),
                    expected: 0,
                    actual: 1,
                },
                StatusCode::CONFLICT,
            ),
            (
                StoreError::NotFound("no tree".into()),
                StatusCode::NOT_FOUND,
            ),
            (
                StoreError::Invalid {
                    index: 0,
                    error: FieldError::new("data.target.key", "no such event"),
                },
                StatusCode::BAD_REQUEST,
            ),
            (
                StoreError::Storage {
                    message: "disk".into(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            let shown = error.to_string();
            let web = WebError::from(error);
            assert_eq!(web.status(), status, "{shown}");
        }
    }
}
