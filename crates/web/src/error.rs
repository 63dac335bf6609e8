//! What can go wrong in a request, and how each becomes a response: a page in Swedish for the
//! browser, a JSON object for the API. Bad input is a 4xx with its reason, never a 500; a 500
//! is kept for the log or the disk failing, and logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lagesbild_app::publish::PublishError;
use lagesbild_model::FieldError;
use lagesbild_store::StoreError;
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
    fn from(error: StoreError) -> WebError {
        match error {
            StoreError::Invalid { index, error } => WebError::bad(
                error.field,
                format!("event {index} of the batch: {}", error.reason),
            ),
            StoreError::KeyConflict { .. } | StoreError::StaleVersion { .. } => {
                WebError::Conflict(error.to_string())
            }
            StoreError::Busy { .. } => WebError::Busy(error.to_string()),
            other => {
                tracing::error!(error = %other, "the log failed");
                WebError::Internal(other.to_string())
            }
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

/// The API's form of an error: `{"error": {"status": 400, "field": …, "message": …}}`.
#[derive(Debug)]
pub struct ApiError(pub WebError);

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(error: E) -> ApiError {
        ApiError(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = match &self.0 {
            WebError::BadInput { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let body = json!({ "error": { "status": status.as_u16(), "field": self.0.field(), "message": message } });
        (status, axum::Json(body)).into_response()
    }
}
