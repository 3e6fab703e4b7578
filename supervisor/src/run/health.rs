//! Is each worker's process alive, and is each processor within its
//! deadlines (docs/ARCHITECTURE.md §5)? Both are read from the processors'
//! shared counters, never asked of the worker: a worker's pulse thread
//! beats whatever its processors do, so a slow processor is never taken for
//! a dead process, and each processor says what call it is in and since
//! when, so one stuck in setup or in a frame is caught by its own deadline.

use std::time::{Duration, Instant};

use bus::counters::Call;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::EventKind;

use super::supervise::{RunPhase, Supervisor};
use super::watched::Watched;
use super::worker::{WorkerHandle, WorkerState};

/// How long a worker's pulse may be silent before its process is taken for
/// frozen. Generous: a busy 2-core machine can hold a thread back a second.
pub const PULSE_DEADLINE: Duration = Duration::from_secs(3);
/// How often the counters are looked at; a deadline is acted on at most
/// this late.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// What the watch found wrong with a worker.
enum Lapse<'a> {
    /// The pulse stopped: the process is frozen (stopped, or starved).
    Silent,
    /// A processor has been setting up for longer than its deadline.
    Setup(&'a Watched),
    /// A processor has been on one frame (or, a manual one, has sent
    /// none) for longer than its deadline.
    Frame(&'a Watched, Call, Duration),
}

impl WorkerHandle {
    fn lapse(&self, now_ns: u64) -> Option<Lapse<'_>> {
        // Setup begins once configure was sent; the pulse beats from then on,
        // and is beating by the time the worker reports configured.
        if !self.alive() || self.state < WorkerState::Greeted || self.state >= WorkerState::Stopped
        {
            return None;
        }
        for watched in &self.watched {
            match watched.busy_for(now_ns) {
                Some((Call::Setup, took)) if took > watched.deadlines.setup => {
                    return Some(Lapse::Setup(watched))
                }
                Some((call @ (Call::Frame | Call::Between), took))
                    if took > watched.deadlines.frame =>
                {
                    return Some(Lapse::Frame(watched, call, took))
                }
                _ => {}
            }
        }
        let silent = self.watched.first()?.pulse_silent_for(now_ns)?;
        (self.state >= WorkerState::Configured && silent > PULSE_DEADLINE).then_some(Lapse::Silent)
    }
}

impl Supervisor {
    /// Kills, at most [`WATCH_INTERVAL`] late, every worker whose pulse
    /// stopped or whose processor is past a deadline; the restart policy
    /// then treats it like any crash. A slow frame is told before the kill.
    pub(super) fn watch(&mut self, now: Instant) {
        if matches!(self.phase, RunPhase::Draining(_)) || now < self.next_watch {
            return;
        }
        self.next_watch = now + WATCH_INTERVAL;
        let now_ns = monotonic_ns();
        for i in 0..self.workers.len() {
            let (stage, reason) = match self.workers[i].lapse(now_ns) {
                None => continue,
                Some(Lapse::Silent) => ("heartbeat", None),
                Some(Lapse::Setup(w)) => (
                    "setup",
                    Some(format!(
                        "processor `{}` did not finish its setup within {} s (setup_timeout_s)",
                        w.processor,
                        w.deadlines.setup.as_secs()
                    )),
                ),
                Some(Lapse::Frame(w, call, elapsed)) => {
                    let limit = w.deadlines.frame.as_millis() as u64;
                    let processor = w.processor.clone();
                    let elapsed_ms = elapsed.as_millis() as u64;
                    let (event, what) = match call {
                        Call::Between => (
                            EventKind::SourceSilent {
                                processor: processor.clone(),
                                elapsed_ms,
                                frame_timeout_ms: limit,
                            },
                            "sent no frame for",
                        ),
                        _ => (
                            EventKind::SlowFrame {
                                processor: processor.clone(),
                                elapsed_ms,
                                frame_timeout_ms: limit,
                            },
                            "spent on one frame",
                        ),
                    };
                    self.events.emit(event);
                    (
                        "frame",
                        Some(format!(
                            "processor `{processor}` {what} more than {limit} ms (frame_timeout_ms)"
                        )),
                    )
                }
            };
            self.kill_for(i, stage, reason);
        }
    }

    /// When [`Supervisor::watch`] looks next, while there is anything to watch.
    pub(super) fn watch_due(&self) -> Option<Instant> {
        let watching = !matches!(self.phase, RunPhase::Draining(_))
            && self.workers.iter().any(WorkerHandle::alive);
        watching.then_some(self.next_watch)
    }
}
