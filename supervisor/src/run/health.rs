//! Hang detection: while frames flow, every running worker is pinged, and
//! one that does not answer within the deadline is killed and handled as
//! crashed. A worker stuck in a processor's endless loop is alive but
//! useless; only a missed answer tells.

use std::time::{Duration, Instant};

use ipc_schemas::Command;

use super::supervise::{RunPhase, Supervisor};
use super::worker::WorkerState;

/// How often a running worker is pinged.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
/// How long a worker may take to answer a ping. Generous: a busy 2-core
/// machine can keep a healthy worker from answering for a second or more.
pub const HEARTBEAT_DEADLINE: Duration = Duration::from_secs(3);

impl Supervisor {
    pub(super) fn heartbeat(&mut self, now: Instant) {
        if self.phase != RunPhase::Flowing {
            return;
        }
        for i in 0..self.workers.len() {
            let worker = &mut self.workers[i];
            if worker.state != WorkerState::Running {
                continue;
            }
            match worker.ping {
                Some((_, sent)) if now.duration_since(sent) >= HEARTBEAT_DEADLINE => {
                    worker.ping = None;
                    self.kill(i, "heartbeat");
                }
                Some(_) => {}
                None if now >= worker.next_ping => {
                    self.ping_nonce += 1;
                    let nonce = self.ping_nonce;
                    let worker = &mut self.workers[i];
                    worker.ping = Some((nonce, now));
                    worker.next_ping = now + HEARTBEAT_INTERVAL;
                    if let Err(e) = worker.send(&Command::Ping { nonce }) {
                        tracing::warn!("{e:#}");
                    }
                }
                None => {}
            }
        }
    }

    pub(super) fn heartbeat_due(&self) -> Option<Instant> {
        if self.phase != RunPhase::Flowing {
            return None;
        }
        self.workers
            .iter()
            .filter(|w| w.state == WorkerState::Running)
            .map(|w| match w.ping {
                Some((_, sent)) => sent + HEARTBEAT_DEADLINE,
                None => w.next_ping,
            })
            .min()
    }
}
