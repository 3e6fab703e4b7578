//! Installing a package by upload: `POST /api/packages/inspect` says what
//! an archive holds and asks for, installing nothing, and `POST
//! /api/packages` installs it. The body goes to a temporary file, counted
//! against the size a package may have, and then through exactly what
//! `plexus pkg inspect FILE` and `pkg install FILE` do: the archive's
//! checks, staging, checksums and the store's lock. A clash with what is
//! installed is 409, a hostile or broken archive 400; either way the store
//! is left as it was.

use std::fs::File;
use std::io::{BufReader, Seek, Write};
use std::path::Path;

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use supervisor::package::archive::{Archive, MAX_TOTAL_BYTES};
use supervisor::package::commands::describe_archive;
use supervisor::package::store::{InstallError, Store};

use crate::reply::{blocking, ApiError};

/// How an uploaded archive is named in messages.
const LABEL: &str = "uploaded package";

pub async fn inspect(body: Body) -> Result<Json<Value>, ApiError> {
    let file = receive(body).await?;
    blocking(move || {
        let mut archive = open(file)?;
        describe_archive(&mut archive, Path::new(LABEL))
            .map(Json)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
    })
    .await
}

pub async fn install(body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let file = receive(body).await?;
    blocking(move || {
        let mut archive = open(file)?;
        let store = Store::open()
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        match store.install(&mut archive) {
            Ok(installed) => {
                tracing::info!(
                    "installed {}@{} into {} (uploaded)",
                    installed.name,
                    installed.version,
                    installed.dir.display()
                );
                let installed = json!({
                    "package": installed.name,
                    "version": installed.version.to_string(),
                });
                Ok((StatusCode::CREATED, Json(json!({ "installed": installed }))))
            }
            Err(InstallError::Conflict(message)) => {
                Err(ApiError::new(StatusCode::CONFLICT, message))
            }
            Err(InstallError::Refused(e)) => {
                Err(ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
            }
        }
    })
    .await
}

/// The request's body in a temporary file (gone when dropped), refused
/// once it is larger than a package may be.
async fn receive(mut body: Body) -> Result<File, ApiError> {
    let mut file = tempfile::tempfile().map_err(|e| {
        ApiError::internal(&anyhow::anyhow!(
            "making a temporary file for the upload: {e}"
        ))
    })?;
    let mut received: u64 = 0;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("reading the upload: {e}"))
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers
        };
        received += chunk.len() as u64;
        if received > MAX_TOTAL_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the {LABEL} is larger than a package may be ({} MiB)",
                    MAX_TOTAL_BYTES >> 20
                ),
            ));
        }
        file.write_all(&chunk).map_err(|e| {
            ApiError::internal(&anyhow::anyhow!(
                "writing the upload to a temporary file: {e}"
            ))
        })?;
    }
    if received == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request carries no package: send the .plexpkg file as its body",
        ));
    }
    file.rewind()
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("rereading the upload: {e}")))?;
    Ok(file)
}

fn open(file: File) -> Result<Archive<BufReader<File>>, ApiError> {
    Archive::open(BufReader::new(file), Path::new(LABEL))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}
