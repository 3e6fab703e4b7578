//! `GET /api/preview/{processor}/{port}`: the newest frame of a video
//! output. The first request subscribes to the port as an observer, as
//! `plexus tap` does (its own queue, overflowing safely, so the pipeline
//! never waits for us), on a std thread that keeps a copy of the newest
//! frame, at most ten a second; 10 s without a request close it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bus::frames::Received;
use ipc_schemas::{RuntimeStatus, SchemaId};
use serde::Deserialize;
use supervisor::observe::client::{leave_ending_runtime, Client};
use supervisor::observe::{check_port, subscribe, Waiter, Woken};

use crate::picture::Frame;
use crate::reply::{blocking, ApiError};
use crate::watch::{join_within, Watch};

/// A preview nobody asked for this long is closed.
const IDLE: Duration = Duration::from_secs(10);
/// The fewest time between two copies of a frame.
const COPY_EVERY: Duration = Duration::from_millis(100);
const DEFAULT_WIDTH: u32 = 320;
const MAX_WIDTH: u32 = 1920;

/// What a preview has to show.
#[derive(Debug, Clone)]
enum Newest {
    /// Subscribed; no frame came yet.
    Waiting,
    Frame(Arc<Frame>),
    /// The port's frames are not video: the schema's name.
    NotVideo(&'static str),
    /// The subscription failed or ended: why.
    Closed(String),
}

/// One port being previewed.
struct Slot {
    newest: Mutex<Newest>,
    asked: Mutex<Instant>,
}

type Key = (String, String, String);

/// The open previews, by runtime, processor and port.
pub struct Previews {
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stopping: Arc<AtomicBool>,
}

impl Previews {
    pub fn new(stopping: Arc<AtomicBool>) -> Self {
        Self {
            slots: Mutex::default(),
            threads: Mutex::default(),
            stopping,
        }
    }

    /// Waits at most `patience` for every preview to close its port.
    pub fn stop(&self, patience: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        let end = Instant::now() + patience;
        for handle in std::mem::take(&mut *self.threads.lock().expect("not poisoned")) {
            join_within(handle, end.saturating_duration_since(Instant::now()));
        }
    }

    /// The preview of `processor.port` of the runtime `status` is from,
    /// opened now if it is not open.
    fn slot(
        self: &Arc<Self>,
        status: &RuntimeStatus,
        pid: u32,
        processor: &str,
        port: &str,
    ) -> Arc<Slot> {
        let key = (
            status.runtime.clone(),
            processor.to_string(),
            port.to_string(),
        );
        let mut slots = self.slots.lock().expect("not poisoned");
        if let Some(slot) = slots.get(&key) {
            *slot.asked.lock().expect("not poisoned") = Instant::now();
            return slot.clone();
        }
        let slot = Arc::new(Slot {
            newest: Mutex::new(Newest::Waiting),
            asked: Mutex::new(Instant::now()),
        });
        slots.insert(key.clone(), slot.clone());
        let subscription = Subscription {
            previews: self.clone(),
            slot: slot.clone(),
            key,
            pid,
            status: status.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("preview {processor}.{port}"))
            .spawn(move || subscription.run());
        let mut threads = self.threads.lock().expect("not poisoned");
        threads.retain(|t| !t.is_finished());
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => *slot.newest.lock().expect("not poisoned") = Newest::Closed(e.to_string()),
        }
        slot
    }
}

/// One preview's thread.
struct Subscription {
    previews: Arc<Previews>,
    slot: Arc<Slot>,
    key: Key,
    pid: u32,
    status: RuntimeStatus,
}

impl Subscription {
    fn run(self) {
        let ended = match self.follow() {
            Ok(()) => Newest::Closed("the preview was closed".into()),
            Err(e) => Newest::Closed(format!("{e:#}")),
        };
        // Removed first, so the next request opens a new one.
        self.previews
            .slots
            .lock()
            .expect("not poisoned")
            .remove(&self.key);
        *self.slot.newest.lock().expect("not poisoned") = ended;
    }

    fn follow(&self) -> Result<()> {
        let (runtime, processor, port) = &self.key;
        let client = Client::connect(runtime)?;
        let (frames, wake) = subscribe(&client, &self.status, processor, port)?;
        let waiter = Waiter::quiet(self.pid)?;
        let mut copied: Option<Instant> = None;
        // The newest frame not copied yet, held until a copy is due.
        let mut held = None;
        loop {
            wake.drain()?;
            while let Received::Frame(frame) = frames.receive()? {
                held = Some(frame);
            }
            // A copy is made only for a request that came after the last
            // one, and at most every COPY_EVERY: a frame nobody asks for is
            // never copied, so a page polling slowly costs that little.
            let asked = *self.slot.asked.lock().expect("not poisoned");
            let due = copied.is_none_or(|at| asked > at && at.elapsed() >= COPY_EVERY);
            if let Some(frame) = held.take_if(|_| due) {
                copied = Some(Instant::now());
                let header = *frame.user_header();
                let newest = match SchemaId::from_code(header.schema) {
                    Some(schema @ (SchemaId::VideoRgba8 | SchemaId::VideoGray8)) => {
                        Newest::Frame(Arc::new(Frame {
                            seq: header.seq,
                            schema,
                            width: header.width,
                            height: header.height,
                            stride: header.stride,
                            bytes: frame.payload().to_vec(),
                        }))
                    }
                    other => Newest::NotVideo(other.map_or("unknown", |s| s.name())),
                };
                *self.slot.newest.lock().expect("not poisoned") = newest;
            }
            let idle = self.slot.asked.lock().expect("not poisoned").elapsed() >= IDLE;
            if idle || self.previews.stopping.load(Ordering::Relaxed) {
                return Ok(());
            }
            let wait = match held {
                Some(_) => COPY_EVERY,
                None => Duration::from_secs(1),
            };
            if waiter.wait_for(&[&wake], Some(wait))? == Woken::SupervisorGone {
                drop(held);
                leave_ending_runtime((frames, wake, client));
                anyhow::bail!("runtime {runtime} has ended");
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Options {
    max_width: Option<u32>,
    format: Option<String>,
}

/// What a preview is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Jpeg,
    Rgba,
}

pub async fn preview(
    State(previews): State<Arc<Previews>>,
    State(watch): State<Arc<Watch>>,
    Path((processor, port)): Path<(String, String)>,
    Query(options): Query<Options>,
) -> Result<Response, ApiError> {
    let encoding = match options.format.as_deref() {
        None | Some("jpeg") => Encoding::Jpeg,
        Some("rgba") => Encoding::Rgba,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "format `{}` is not one a preview is sent as: jpeg or rgba",
                    supervisor::error::excerpt(other)
                ),
            ))
        }
    };
    let max_width = options
        .max_width
        .unwrap_or(DEFAULT_WIDTH)
        .clamp(1, MAX_WIDTH);
    let Some(live) = watch.watched.borrow().live().cloned() else {
        return Err(ApiError::no_runtime());
    };
    let status = watch.status.borrow().clone();
    let Some(status) = status.filter(|s| s.runtime == live.id) else {
        return Err(ApiError::no_runtime());
    };
    check_port(&status, &processor, &port)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    let slot = previews.slot(&status, live.pid, &processor, &port);
    let newest = slot.newest.lock().expect("not poisoned").clone();
    let frame = match newest {
        Newest::Frame(frame) => frame,
        Newest::Waiting => {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no frame has come from `{processor}.{port}` yet"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(response);
        }
        Newest::NotVideo(schema) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("output `{processor}.{port}` sends {schema} frames, not video (video/rgba8 or video/gray8)"),
            ))
        }
        Newest::Closed(why) => return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why)),
    };
    if !frame.is_whole() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "frame {} of `{processor}.{port}` holds fewer bytes than its {}x{} header says",
                frame.seq, frame.width, frame.height
            ),
        ));
    }
    blocking(move || {
        let picture = frame.scaled(max_width);
        let (kind, body) = match encoding {
            Encoding::Jpeg => (
                "image/jpeg",
                picture
                    .jpeg()
                    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?,
            ),
            Encoding::Rgba => ("application/octet-stream", picture.pixels),
        };
        let headers = [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (
                header::HeaderName::from_static("x-plexus-seq"),
                frame.seq.to_string(),
            ),
            (
                header::HeaderName::from_static("x-plexus-width"),
                picture.width.to_string(),
            ),
            (
                header::HeaderName::from_static("x-plexus-height"),
                picture.height.to_string(),
            ),
        ];
        Ok((headers, body).into_response())
    })
    .await
}
