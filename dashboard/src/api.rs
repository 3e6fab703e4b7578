//! The JSON routes that read: each answers exactly what the CLI's `--json`
//! prints for the same question (`top`, `graph`, `events`, `runs`,
//! `summary`, `logs`), so a script can move between the two freely.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use supervisor::journal::files;
use supervisor::journal::read::{parsed, Run};
use supervisor::journal::{is_runtime_id, runs_dir};

use crate::app::App;
use crate::reply::{blocking, ApiError};

/// Lines of a worker's log one request returns: the newest.
const LOG_LINES: usize = 200;

/// `top --json`: the newest status of the runtime shown, kept after it ended.
pub async fn status(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let status = app.watch.status.borrow().clone();
    let status = status.ok_or_else(ApiError::no_runtime)?;
    Ok(Json(
        serde_json::to_value(&*status).map_err(|e| ApiError::internal(&e.into()))?,
    ))
}

/// `graph --runtime ID --format json`.
pub async fn graph(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let status = app.watch.status.borrow().clone();
    let status = status.ok_or_else(ApiError::no_runtime)?;
    blocking(move || {
        supervisor::graph::runtime_json(&status)
            .map(Json)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, format!("{e:#}")))
    })
    .await
}

/// The events of the runtime shown so far, as `events --json` objects.
pub async fn events(State(app): State<App>) -> Json<Vec<Value>> {
    let history = app.watch.history.lock().expect("not poisoned");
    Json(history.events.iter().map(|e| (**e).clone()).collect())
}

/// `runs --json`.
pub async fn runs() -> Result<Json<Value>, ApiError> {
    blocking(|| {
        supervisor::observe::runs_json()
            .map(Json)
            .map_err(internal_user)
    })
    .await
}

/// `summary ID --json`.
pub async fn summary(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = runtime_id(id)?;
    blocking(move || {
        supervisor::observe::summary_json(&id)
            .map(Json)
            .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))
    })
    .await
}

/// The events a run's journal keeps, oldest first.
pub async fn run_events(Path(id): Path<String>) -> Result<Json<Vec<Value>>, ApiError> {
    let id = runtime_id(id)?;
    blocking(move || {
        let run = open_run(&id)?;
        run.events().map(Json).map_err(|e| {
            ApiError::internal(&anyhow::anyhow!("reading the events of run {id}: {e}"))
        })
    })
    .await
}

/// `logs WORKER --json` of the runtime shown: its newest lines.
pub async fn logs(
    State(app): State<App>,
    Path(worker): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let id = app
        .watch
        .watched
        .borrow()
        .id()
        .map(str::to_string)
        .ok_or_else(ApiError::no_runtime)?;
    blocking(move || {
        let run = open_run(&id)?;
        let path = run
            .log_path(&worker)
            .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
        let lines = files::lines(&path)
            .map_err(|e| ApiError::internal(&anyhow::anyhow!("reading {}: {e}", path.display())))?;
        let mut records = parsed(lines);
        let skip = records.len().saturating_sub(LOG_LINES);
        records.drain(..skip);
        Ok(Json(records))
    })
    .await
}

/// A runtime id from a path, or 404.
fn runtime_id(id: String) -> Result<String, ApiError> {
    match is_runtime_id(&id) {
        true => Ok(id),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "`{}` is not a runtime id (8 lowercase hex digits)",
                supervisor::error::excerpt(&id)
            ),
        )),
    }
}

fn open_run(id: &str) -> Result<Run, ApiError> {
    let runs = runs_dir().map_err(internal_user)?;
    Run::open(&runs, id).map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))
}

fn internal_user(e: supervisor::error::UserError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}
