//! Event latency: from the moment the supervisor emits an event (its
//! `mono_ns`, CLOCK_MONOTONIC) to the moment a `plexus events --follow
//! --json` watcher in another process has printed it and the bench read the
//! line (stamped on arrival with the same clock).
//!
//! The events come from real happenings: `builtin.test_pattern (32×24,
//! 200 fps) → p → builtin.stats_sink` where `p` (`test.abort`) aborts its
//! worker on every [`EVERY`]th frame and is restarted at once, so the run
//! emits a steady stream of worker exited / restarting / spawned / ready /
//! restarted, processor started, input closed / recovered and per-processor
//! stats events, about 70 a second. Only events emitted after the watcher's
//! first line arrived count, so the history it is handed on joining does not.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use worker_lifecycle::LatencyHistogram;

use crate::live::{stamped_lines, wait_until, yaml_path, LogLine, Plexus};
use crate::restart::Subject;
use crate::Result;

/// `p` aborts on every this many camera frames: ten times a second.
const EVERY: u32 = 20;
/// Events to measure in a full run; a quick run takes a tenth.
const EVENTS: usize = 1000;
const STARTUP: Duration = Duration::from_secs(180);
/// Time the measured events may take to come; about 70 arrive a second.
const DEADLINE: Duration = Duration::from_secs(120);
/// Time the watcher gets to end after the runtime stopped.
const WATCHER_GRACE: Duration = Duration::from_secs(10);

pub struct EventLatency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub events: usize,
    pub seconds: f64,
}

fn pipeline_yaml() -> String {
    let package = yaml_path(&Subject::ALL[0].package());
    format!(
        "# Written by the benchmark: a worker that aborts ten times a second, for events.\n\
         name: events-bench\n\
         packages: [{package}]\n\
         processors:\n  \
           camera: {{ type: builtin.test_pattern, config: {{ width: 32, height: 24, fps: 200 }} }}\n  \
           p:\n    \
             type: test.abort\n    \
             config: {{ every: {EVERY} }}\n    \
             restart: {{ policy: always, max_restarts: 10000, window_secs: 1, backoff_ms: 0 }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections:\n  \
           - camera.out -> p.in\n  \
           - p.out -> sink.in\n"
    )
}

/// The watcher process, killed if the measurement ends early.
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        if wait_until(&mut self.0, Instant::now()).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub fn measure(plexus: &Path, scratch: &Path, quick: bool) -> Result<EventLatency> {
    let wanted = if quick { EVENTS / 10 } else { EVENTS };
    let pipeline = scratch.join("events.yaml");
    std::fs::write(&pipeline, pipeline_yaml())
        .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    eprintln!("report: event latency over {wanted} events");
    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    let mut child = Command::new(plexus)
        .args(["events", "--runtime", &runtime, "--follow", "--json"])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting `plexus events`: {e}"))?;
    let lines = stamped_lines(child.stdout.take().expect("piped"));
    let mut watcher = Watcher(child);
    let measured = watch(&lines, &mut run, wanted)
        .map_err(|e| format!("event latency: {e}\nlog so far:\n{}", run.log()))?;
    // The watcher ends by itself once the runtime has stopped.
    run.stop()?;
    match wait_until(&mut watcher.0, Instant::now() + WATCHER_GRACE) {
        Some(status) if status.success() => Ok(measured),
        Some(status) => Err(format!("`plexus events` ended with {status}")),
        None => Err(format!(
            "`plexus events` did not end within {WATCHER_GRACE:?} of the runtime's stop"
        )),
    }
}

fn watch(lines: &Receiver<LogLine>, run: &mut Plexus, wanted: usize) -> Result<EventLatency> {
    let deadline = Instant::now() + DEADLINE;
    let mut histogram = LatencyHistogram::default();
    let mut live_from = None;
    let mut events = 0;
    let mut first_at = None;
    while events < wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "only {events} of {wanted} events within {DEADLINE:?}"
                ))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("`plexus events` ended after {events} events"))
            }
        };
        // Keeps the supervisor's log flowing and sees a failure early.
        run.pending_lines()?;
        let live_from = *live_from.get_or_insert(line.at_ns);
        let event: serde_json::Value = serde_json::from_str(&line.text)
            .map_err(|e| format!("`plexus events --json` printed `{}`: {e}", line.text))?;
        let mono_ns = event["mono_ns"]
            .as_u64()
            .ok_or(format!("no `mono_ns` in `{}`", line.text))?;
        if mono_ns > live_from {
            histogram.record(line.at_ns.saturating_sub(mono_ns));
            events += 1;
            first_at.get_or_insert(line.at_ns);
        }
    }
    let summary = histogram.summary().ok_or("no live event")?;
    let seconds = first_at.map_or(0.0, |at| {
        ipc_schemas::frame::monotonic_ns().saturating_sub(at) as f64 / 1e9
    });
    Ok(EventLatency {
        p50_us: summary.p50_ns as f64 / 1000.0,
        p99_us: summary.p99_ns as f64 / 1000.0,
        max_us: summary.max_ns as f64 / 1000.0,
        events,
        seconds,
    })
}
