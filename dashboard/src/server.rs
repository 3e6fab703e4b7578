//! The routes and what every request passes through (`security::guard`),
//! and serving them until Ctrl-C or SIGTERM.

use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::app::App;
use crate::{actions, api, assets, live, metrics, packages, panels, preview, security};

/// The largest JSON body an action takes.
const JSON_BODY_LIMIT: usize = 64 << 10;

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/status", get(api::status))
        .route("/api/graph", get(api::graph))
        .route("/api/events", get(api::events))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}/summary", get(api::summary))
        .route("/api/runs/{id}/events", get(api::run_events))
        .route("/api/logs/{worker}", get(api::logs))
        .route("/api/preview/{processor}/{port}", get(preview::preview))
        .route("/api/live", get(live::live))
        .route("/api/workers/{worker}/restart", post(actions::restart))
        .route("/api/pause", post(actions::pause))
        .route("/api/resume", post(actions::resume))
        .route("/api/stop", post(actions::stop))
        .route("/api/set", post(actions::set))
        .route("/api/packages/inspect", post(packages::inspect))
        .route("/api/packages", post(packages::install))
        .route("/api/panels", get(panels::list))
        .route("/panels/{package}/{version}/{file}", get(panels::frame))
        .route("/metrics", get(metrics::metrics))
        .fallback(assets::not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            app.security.clone(),
            security::guard,
        ))
        .with_state(app)
}

/// Serves until Ctrl-C or SIGTERM, then lets the requests in flight end.
pub async fn serve(listener: TcpListener, app: App) -> Result<()> {
    let closing = app.closing.clone();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            ended().await;
            closing.send_replace(true);
        })
        .await
        .context("serving the dashboard")
}

/// Ctrl-C or SIGTERM.
async fn ended() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot watch for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
