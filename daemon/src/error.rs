//! One error type for every handler, with one mapping to HTTP: bad input 400, unknown model
//! 404, client gone 499, queue full 503 (with Retry-After), model larger than the budget 507,
//! anything else 500. The body is Ollama's `{"error": "..."}`; the `/v1` layer rewrites it into
//! OpenAI's envelope (see `routes::openai`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ollmlx_api::ollama::ErrorResponse;

use crate::pool::PoolError;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    BadRequest(String),
    /// The model is not in the store.
    #[error("model '{0}' not found")]
    ModelNotFound(String),
    /// Some other thing is not there.
    #[error("{0}")]
    NotFound(String),
    /// Too many requests are waiting for models.
    #[error("server busy, please try again.  maximum pending requests exceeded")]
    QueueFull {
        /// Seconds to put in Retry-After.
        retry_after_secs: u64,
    },
    /// A wait for room or a load ran out of time.
    #[error("{0}")]
    Unavailable(String),
    /// The model can never fit in the budget.
    #[error("{0}")]
    TooLarge(String),
    /// The client went away before the reply.
    #[error("request canceled")]
    ClientGone,
    /// Something failed on our side.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::ModelNotFound(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::QueueFull { .. } | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooLarge(_) => StatusCode::INSUFFICIENT_STORAGE,
            // 499 is nginx's "client closed request", which Ollama also uses.
            ApiError::ClientGone => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Shorthand for a 400.
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> ApiError {
        match e {
            PoolError::QueueFull => ApiError::QueueFull { retry_after_secs: 1 },
            PoolError::TooLarge { .. } => ApiError::TooLarge(e.to_string()),
            PoolError::Timeout { .. } | PoolError::ShuttingDown => ApiError::Unavailable(e.to_string()),
            PoolError::NotLoaded { .. } => ApiError::NotFound(e.to_string()),
            PoolError::Load { .. } | PoolError::Backend(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ollmlx_store::StoreError> for ApiError {
    fn from(e: ollmlx_store::StoreError) -> ApiError {
        use ollmlx_store::StoreError as S;
        match e {
            S::NotFound { name } => ApiError::ModelNotFound(name),
            S::InvalidName(_) | S::AlreadyExists { .. } | S::ReadOnly { .. } => ApiError::BadRequest(e.to_string()),
            S::Busy { .. } => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(%status, error = %self, "request failed");
        } else {
            tracing::debug!(%status, error = %self, "request rejected");
        }
        let mut resp = (status, Json(ErrorResponse { error: self.to_string() })).into_response();
        if let ApiError::QueueFull { retry_after_secs } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}
