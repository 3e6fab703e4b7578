//! The coordinator's side of a pipeline across hosts (docs/ARCHITECTURE.md
//! §16): starting the link once the local workers are configured and
//! before any source runs, taking in what it hears (events, statuses,
//! logs, outages), letting frames in flight between hosts settle before
//! the stop, and stopping the other hosts' parts after the local one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use ipc_schemas::link::{LinkCommand, LinkStatus};
use ipc_schemas::{ControlReply, EventKind, RuntimeStatus, WorkerStatus};
use serde::{Deserialize, Serialize};

use super::link::{Link, LinkState};
use super::supervise::{Halt, RunPhase, Supervisor, Wake};
use crate::error::UserError;
use crate::journal::Stream;
use crate::load::hosts::HostsPlan;

/// How long the other hosts may take to run their parts: their agents
/// build environments and start workers as a local run does.
const START_WITHIN: Duration = Duration::from_secs(300);
/// How long frames in flight between hosts may take to settle at the end.
const SETTLE_WITHIN: Duration = Duration::from_secs(15);
/// How often the settling looks at the counts: other hosts tell theirs
/// about once a second.
const SETTLE_LOOK: Duration = Duration::from_millis(1100);
/// How long the other hosts may take to stop and send their summaries.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// A time a host was out of reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub host: String,
    /// Until it came back; `None` when it never did.
    pub outage_ms: Option<u64>,
}

/// What the other hosts did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct HostsReport {
    /// Each host's part, as its own run summed it up.
    pub summaries: BTreeMap<String, serde_json::Value>,
    pub links: Vec<LinkStatus>,
    pub outages: Vec<Outage>,
}

/// Starts the link and waits until every other host runs its part.
pub fn start_link(sup: &mut Supervisor, hosts: &HostsPlan, frames: Option<u64>) -> Result<()> {
    let setup = hosts.setup(&sup.runtime_id, frames, false);
    sup.link = Some(Link::spawn(&setup)?);
    let starting = |s: &Supervisor| {
        s.link
            .as_ref()
            .is_some_and(|l| l.state == LinkState::Starting)
    };
    let wake = sup.wait_until(Some(Instant::now() + START_WITHIN), |s| {
        !starting(s) || s.refusal.is_some()
    })?;
    let state = sup.link.as_ref().map(|l| l.state.clone());
    match (wake, state) {
        (Wake::Interrupted, _) => bail!(UserError::Plain("interrupted while starting".into())),
        (_, Some(LinkState::Failed(message))) => bail!(UserError::Plain(message)),
        (Wake::Deadline, _) => bail!(UserError::Plain(format!(
            "the other hosts did not all run their parts within {} s",
            START_WITHIN.as_secs()
        ))),
        _ => Ok(()),
    }
}

/// `validate`'s look at the other hosts: each answers, takes the token
/// and could run its part; the first that cannot is the error.
pub fn check(hosts: &HostsPlan) -> Result<()> {
    let setup = hosts.setup("validate", None, true);
    for (host, problem) in super::link::check(&setup)? {
        if let Some(problem) = problem {
            bail!(UserError::Plain(format!(
                "host `{host}` cannot run its part: {problem}"
            )));
        }
    }
    Ok(())
}

impl Supervisor {
    /// Takes in what the link process said since the last look.
    pub(super) fn pump_link(&mut self) {
        let Some(link) = &mut self.link else {
            return;
        };
        let events = link.pump();
        let logs = std::mem::take(&mut link.logs);
        let failed = match &link.state {
            LinkState::Failed(message) => Some(message.clone()),
            _ => None,
        };
        for (host, worker, line) in logs {
            tracing::info!(target: "worker", "[{host}:{worker}] {line}");
            self.events
                .worker_log(&worker)
                .line(&worker, 0, Stream::Stderr, &line);
        }
        for event in events {
            match &event.kind {
                // A host's part starting and stopping is told by the link's
                // own events; the run's lifecycle is this supervisor's.
                EventKind::RuntimeStarted { .. }
                | EventKind::RuntimeStopping { .. }
                | EventKind::RuntimeStopped { .. }
                    if event.host.is_some() =>
                {
                    continue
                }
                EventKind::HostLost { host, .. } => self.outages.push(Outage {
                    host: host.clone(),
                    outage_ms: None,
                }),
                EventKind::HostRecovered { host, outage_ms } => {
                    if let Some(o) = self
                        .outages
                        .iter_mut()
                        .rev()
                        .find(|o| &o.host == host && o.outage_ms.is_none())
                    {
                        o.outage_ms = Some(*outage_ms);
                    }
                }
                _ => {}
            }
            self.events.emit_on(event.host, event.kind);
        }
        if let (Some(message), RunPhase::Flowing) = (failed, self.phase) {
            self.halt.get_or_insert(Halt::HostLost(message));
        }
    }

    /// Every port that crosses between hosts, for `ps`.
    pub(super) fn link_statuses(&self) -> Vec<LinkStatus> {
        self.link
            .as_ref()
            .map(|l| l.links.clone())
            .unwrap_or_default()
    }

    /// Asks the host running worker `worker` to restart it; `None` when no
    /// other host runs it.
    pub(super) fn restart_elsewhere(&mut self, worker: &str) -> Option<ControlReply> {
        let link = self.link.as_mut()?;
        let host = link.host_of_worker(worker)?.to_string();
        link.send(&LinkCommand::RestartWorker {
            host: host.clone(),
            worker: worker.to_string(),
        });
        Some(ControlReply::Done {
            message: format!("asked host {host} to restart worker {worker}"),
        })
    }

    /// Waits until the frames in flight between hosts have arrived: the
    /// counts of every host stop moving (bounded).
    pub(super) fn settle_hosts(&mut self) -> Result<()> {
        if self.link.is_none() {
            return Ok(());
        }
        let deadline = Instant::now() + SETTLE_WITHIN;
        let mut last = None;
        while Instant::now() < deadline {
            if self.wait_until(Some(Instant::now() + SETTLE_LOOK), |_| false)? == Wake::Interrupted
            {
                return Ok(());
            }
            let now = self.counts();
            if last == Some(now) {
                return Ok(());
            }
            last = Some(now);
        }
        tracing::warn!(
            "frames between hosts were still moving after {} s; stopping anyway",
            SETTLE_WITHIN.as_secs()
        );
        Ok(())
    }

    /// Frames counted so far on every host and link.
    fn counts(&self) -> u64 {
        let status = self.status();
        let frames: u64 = status
            .workers
            .iter()
            .flat_map(|w| &w.processors)
            .map(|p| p.frames_in + p.frames_out)
            .sum();
        frames + self.link_statuses().iter().map(|l| l.received).sum::<u64>()
    }

    /// The other hosts' workers, as their runs last told, for `ps`.
    pub(super) fn remote_workers(&self) -> impl Iterator<Item = &WorkerStatus> {
        self.link
            .iter()
            .flat_map(|l| l.statuses.values().flat_map(|s: &RuntimeStatus| &s.workers))
    }

    /// Stops every other host's part, after the local one stopped, and
    /// waits for their summaries.
    pub(super) fn stop_hosts(&mut self) -> Result<()> {
        let Some(link) = &mut self.link else {
            return Ok(());
        };
        link.send(&LinkCommand::Stop);
        self.wait_until(Some(Instant::now() + STOP_WITHIN), |s| {
            s.link
                .as_ref()
                .is_none_or(|l| matches!(l.state, LinkState::Ended | LinkState::Failed(_)))
        })?;
        Ok(())
    }

    /// What the other hosts did.
    pub(super) fn hosts_report(&self) -> Option<HostsReport> {
        let link = self.link.as_ref()?;
        Some(HostsReport {
            summaries: link.summaries.clone(),
            links: link.links.clone(),
            outages: self.outages.clone(),
        })
    }
}
