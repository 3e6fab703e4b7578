//! `plexus tap PROCESSOR.PORT`: an extra subscriber on a live output port
//! that prints each frame's header, size and the rate. Its queue overflows
//! on its own, so a slow terminal never holds the pipeline up.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bus::frames::{port_wake_listener, FrameSubscriber, Received, SubscribeError};
use bus::settings::Opening;
use bus::wake::WakeListener;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{FrameHeader, RuntimeStatus, SchemaId};
use serde_json::json;

use super::waiting::{Waiter, Woken};
use crate::error::UserError;
use crate::observe::client::{self, Client};

pub struct TapOptions {
    /// `PROCESSOR.PORT`.
    pub target: String,
    pub count: Option<u64>,
    pub runtime: Option<String>,
    pub json: bool,
}

/// Prints frames as they pass; returns the exit code.
pub fn tap(options: &TapOptions) -> Result<i32> {
    let Some((processor, port)) = options.target.split_once('.') else {
        bail!(UserError::Plain(format!(
            "`{}` is not PROCESSOR.PORT (for example `camera.out`)",
            options.target
        )));
    };
    let runtime = client::choose_runtime(options.runtime.as_deref())?;
    let client = Client::connect(&runtime.id)?;
    let status = client.status()?;
    let (frames, wake) = subscribe(&client, &status, processor, port)?;
    // On stderr, so that stdout stays one line per frame: a script can
    // wait for this line to know the tap holds its slot.
    eprintln!(
        "plexus: tapping {processor}.{port} of runtime {} (Ctrl-C to stop)",
        runtime.id
    );
    let waiter = Waiter::new(runtime.pid)?;
    let mut printer = Printer::new(options.json);
    loop {
        wake.drain()?;
        while let Received::Frame(frame) = frames.receive()? {
            let header = *frame.user_header();
            let len = frame.payload().len();
            drop(frame);
            if !printer.print(&header, len) {
                return Ok(0);
            }
            if options.count.is_some_and(|n| printer.seen >= n) {
                return Ok(0);
            }
        }
        match waiter.wait(&wake)? {
            Woken::News => {}
            Woken::Interrupted => return Ok(0),
            Woken::SupervisorGone => {
                client::leave_ending_runtime((frames, wake, client));
                return Ok(0);
            }
        }
    }
}

/// Joins output `processor.port` as an observer, once the runtime is known
/// to have it: its frames and the event that says one arrived.
pub fn subscribe(
    client: &Client,
    status: &RuntimeStatus,
    processor: &str,
    port: &str,
) -> Result<(FrameSubscriber, WakeListener)> {
    check_port(status, processor, port)?;
    let frames = match FrameSubscriber::open(client.bus(), processor, port, Opening::Observer) {
        Err(SubscribeError::Full { capacity, .. }) => bail!(UserError::Plain(format!(
            "output `{processor}.{port}` is full: its consumers and other observers hold all {capacity} of its subscriber slots; raise `observers:` at the top of pipeline `{}` to let more observers attach at once",
            status.pipeline
        ))),
        opened => opened?,
    };
    let wake = port_wake_listener(client.bus(), processor, port, Opening::Observer)?;
    Ok((frames, wake))
}

/// Refuses a processor or output port the runtime does not have.
pub fn check_port(status: &RuntimeStatus, processor: &str, port: &str) -> Result<(), UserError> {
    let all = status.workers.iter().flat_map(|w| &w.processors);
    let Some(found) = all.clone().find(|p| p.processor == processor) else {
        let ids: Vec<&str> = all.map(|p| p.processor.as_str()).collect();
        return Err(UserError::Plain(format!(
            "runtime {} has no processor `{processor}` (its processors: {})",
            status.runtime,
            ids.join(", ")
        )));
    };
    if !found.outputs.iter().any(|o| o.port == port) {
        let outputs = if found.outputs.is_empty() {
            "none: it is a sink".to_string()
        } else {
            let names: Vec<&str> = found.outputs.iter().map(|o| o.port.as_str()).collect();
            names.join(", ")
        };
        return Err(UserError::Plain(format!(
            "processor `{processor}` has no output `{port}` (its outputs: {outputs})"
        )));
    }
    Ok(())
}

/// One line per frame, with the rate over the last second.
struct Printer {
    json: bool,
    seen: u64,
    arrivals: VecDeque<Instant>,
}

impl Printer {
    fn new(json: bool) -> Self {
        Self {
            json,
            seen: 0,
            arrivals: VecDeque::new(),
        }
    }

    /// Frames per second over the arrivals of the last second.
    fn rate(&mut self, now: Instant) -> f64 {
        self.arrivals.push_back(now);
        while self
            .arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.arrivals.pop_front();
        }
        let span = now.duration_since(self.arrivals[0]).as_secs_f64();
        if span > 0.0 {
            (self.arrivals.len() - 1) as f64 / span
        } else {
            0.0
        }
    }

    /// Prints one frame; false once stdout is closed.
    fn print(&mut self, h: &FrameHeader, len: usize) -> bool {
        self.seen += 1;
        let fps = (self.rate(Instant::now()) * 10.0).round() / 10.0;
        let latency_us = monotonic_ns().saturating_sub(h.capture_ns) / 1000;
        let schema = SchemaId::from_code(h.schema).map_or("unknown", |s| s.name());
        let shaped = h.ndim > 0;
        let line = if self.json {
            let mut line = json!({
                "seq": h.seq, "schema": schema, "width": h.width, "height": h.height,
                "stride": h.stride, "bytes": len, "capture_ns": h.capture_ns,
                "pts_ns": h.pts(), "duration_ns": h.duration_ns,
                "latency_us": latency_us, "fps": fps,
            });
            if shaped {
                line["shape"] = json!(h.dims());
                line["rate"] = json!(h.rate);
            }
            line.to_string()
        } else {
            // A shaped frame (audio, samples, tensors) shows its shape and
            // rate where a video frame shows its size.
            let size = match shaped {
                true => format!("shape {:?}  rate {}", h.dims(), h.rate),
                false => format!("{}x{}  stride {}", h.width, h.height, h.stride),
            };
            format!(
                "seq {:>6}  {schema}  {size}  {len} B  latency {latency_us} µs  {fps:.1} fps",
                h.seq
            )
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    }
}
