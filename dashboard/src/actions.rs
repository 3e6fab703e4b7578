//! The POST routes that steer the runtime shown: restart a worker, pause
//! and resume, stop, change config. Each is the request `plexus restart`,
//! `pause`, `resume`, `stop` or `set` sends, through the supervisor's own
//! client, and answers `{"ok": true}` or the runtime's refusal.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ipc_schemas::{ControlReply, ControlRequest, Selection};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use supervisor::observe::client;

use crate::app::App;
use crate::reply::{blocking, ApiError};

/// `{"processor": "id"}`, or nothing for every processor.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Steered {
    processor: Option<String>,
}

/// `{"processor": "id", "changes": {"key": value}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    processor: String,
    changes: Map<String, Value>,
}

pub async fn restart(
    State(app): State<App>,
    Path(worker): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ask(&app, move |reply_to| ControlRequest::RestartWorker {
        worker,
        reply_to,
    })
    .await
}

pub async fn pause(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let processors = selection(&body)?;
    ask(&app, move |reply_to| ControlRequest::Pause {
        processors,
        reply_to,
    })
    .await
}

pub async fn resume(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let processors = selection(&body)?;
    ask(&app, move |reply_to| ControlRequest::Resume {
        processors,
        reply_to,
    })
    .await
}

pub async fn stop(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    ask(&app, |reply_to| ControlRequest::Stop { reply_to }).await
}

pub async fn set(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let Changes { processor, changes } = parsed(&body)?;
    if changes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`changes` names no key to change",
        ));
    }
    let changes_json = Value::Object(changes).to_string();
    ask(&app, move |reply_to| ControlRequest::SetConfig {
        processor,
        changes_json,
        reply_to,
    })
    .await
}

/// The processor a body names, or every one for an empty body.
fn selection(body: &[u8]) -> Result<Selection, ApiError> {
    let steered = match body.iter().all(u8::is_ascii_whitespace) {
        true => Steered::default(),
        false => parsed(body)?,
    };
    Ok(match steered.processor {
        Some(processor) => Selection::Named(vec![processor]),
        None => Selection::All,
    })
}

/// A JSON body, whatever Content-Type it was sent with; one sentence when
/// it is not the shape the action takes.
fn parsed<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request's body is not the JSON this action takes: {e}"),
        )
    })
}

/// Sends the request to the runtime shown, from a client of its own.
async fn ask(
    app: &App,
    make: impl FnOnce(String) -> ControlRequest + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let runtime = app
        .watch
        .watched
        .borrow()
        .live()
        .map(|l| l.id.clone())
        .ok_or_else(ApiError::no_runtime)?;
    blocking(move || match client::request(&runtime, make) {
        Ok(ControlReply::Done { .. }) => Ok(Json(json!({ "ok": true }))),
        Ok(ControlReply::Refused { reason }) => Err(ApiError::new(StatusCode::BAD_REQUEST, reason)),
        Ok(other) => Err(ApiError::internal(&anyhow::anyhow!(
            "runtime {runtime} answered out of turn: {other:?}"
        ))),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{e:#}"),
        )),
    })
    .await
}
