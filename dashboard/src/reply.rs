//! How every route answers a failure: a status and `{"error": "sentence"}`,
//! the sentence as the CLI would print it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 503: nothing to answer from while no runtime is watched.
    pub fn no_runtime() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no runtime is watched: none is running yet",
        )
    }

    /// 500 for what went wrong on our side, with its causes.
    pub fn internal(error: &anyhow::Error) -> Self {
        let chain: Vec<String> = error.chain().map(|c| c.to_string()).collect();
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, chain.join(": "))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// Runs blocking work (the bus, the journal, the package store, encoding)
/// off the event loop.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}
