//! The end-of-run summary: per processor frames in/out, drops, gaps,
//! errors, latency and time paused; per worker restarts and exit. It is
//! one value, [`Summary`], printed as a table for people or as the JSON
//! object of docs/ARCHITECTURE.md §8 for scripts, and kept in the run
//! journal, from which `plexus summary` and `plexus wait` print it again.

use std::collections::BTreeMap;

use ipc_schemas::link::LinkStatus;
use ipc_schemas::{ExitStatus, LatencyUs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::link::Outage;
use super::{Outcome, RunReport};
use crate::load::pipeline::Ordered;
use crate::load::plan::Plan;
use crate::table::render;

/// What a run did, in the words of every output (`run --json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    pub runtime: String,
    pub pipeline: String,
    /// `completed`, `completed_with_errors`, `stopped` or `failed`.
    pub outcome: String,
    pub elapsed_ms: u64,
    /// In pipeline order.
    pub processors: Ordered<ProcessorSummary>,
    pub workers: BTreeMap<String, WorkerSummary>,
    /// Each other host's part, as its own run summed it up (§16).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, Value>,
    /// Every port that crossed between hosts, per receiving host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkStatus>,
    /// When another host was out of reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outages: Vec<Outage>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProcessorSummary {
    #[serde(rename = "type")]
    pub type_name: String,
    pub worker: String,
    pub frames_in: u64,
    pub frames_out: u64,
    /// Frames its upstream ports sent while it was subscribed that its
    /// inputs never got (docs/ARCHITECTURE.md §8).
    pub dropped: u64,
    /// Frames its inputs dropped because it was paused: not lost.
    pub dropped_paused: u64,
    /// Frames its inputs received that found no partner under its `sync:`.
    pub unmatched: u64,
    /// Frames its `latency: low` inputs caught as they arrived, without a
    /// wake-up, and their share of `frames_in` in percent.
    pub caught: u64,
    pub caught_percent: f64,
    /// How long a user kept it paused.
    pub paused_ms: u64,
    pub errors: u64,
    pub restarts: u32,
    /// Sequence numbers its inputs never saw.
    pub gaps: u64,
    /// Capture to input; `None` for a source.
    pub latency_us: Option<LatencyUs>,
    /// Bytes of `/dev/shm` its outputs' segments held at the end, and of
    /// those, the bytes their frames wrote (docs/ARCHITECTURE.md §3).
    #[serde(default)]
    pub shm_reserved_bytes: u64,
    #[serde(default)]
    pub shm_touched_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerSummary {
    pub language: String,
    pub restarts: u32,
    /// How its last process ended; `None` while it never ended.
    pub exit: Option<ExitStatus>,
    pub state: String,
    pub failure: Option<String>,
}

impl Summary {
    pub fn of(plan: &Plan, report: &RunReport) -> Summary {
        let restarts_of = |worker: &str| {
            report
                .workers
                .iter()
                .find(|w| w.name == worker)
                .map_or(0, |w| w.restarts)
        };
        let processors = plan
            .processors
            .iter()
            .map(|p| {
                let stats = report.stats.get(&p.spec.id);
                let inputs = stats.map(|s| s.inputs.as_slice()).unwrap_or_default();
                let outputs = stats.map(|s| s.outputs.as_slice()).unwrap_or_default();
                let frames_in = inputs.iter().map(|s| s.frames).sum();
                let caught = inputs.iter().map(|s| s.caught).sum();
                let line = ProcessorSummary {
                    type_name: p.spec.type_name.clone(),
                    worker: p.worker.clone(),
                    frames_in,
                    frames_out: outputs.iter().map(|o| o.frames).sum(),
                    dropped: inputs.iter().map(|s| s.dropped).sum(),
                    dropped_paused: inputs.iter().map(|s| s.dropped_paused).sum(),
                    unmatched: inputs.iter().map(|s| s.unmatched).sum(),
                    caught,
                    caught_percent: ipc_schemas::caught_percent(caught, frames_in),
                    paused_ms: report
                        .paused
                        .get(&p.spec.id)
                        .map_or(0, |d| d.as_millis() as u64),
                    gaps: inputs.iter().map(|s| s.seq_gaps).sum(),
                    errors: stats.map_or(0, |s| s.errors),
                    restarts: restarts_of(&p.worker),
                    latency_us: stats.and_then(|s| s.latency).map(LatencyUs::from),
                    shm_reserved_bytes: outputs.iter().map(|o| o.shm_reserved).sum(),
                    shm_touched_bytes: outputs.iter().map(|o| o.shm_touched).sum(),
                };
                (p.spec.id.clone(), line)
            })
            .collect();
        let workers = report
            .workers
            .iter()
            .map(|w| {
                let summary = WorkerSummary {
                    language: w.language.name().to_string(),
                    restarts: w.restarts,
                    exit: w.last_exit,
                    state: w.state.to_string(),
                    failure: w.failure.clone(),
                };
                (w.name.clone(), summary)
            })
            .collect();
        Summary {
            runtime: report.runtime_id.clone(),
            pipeline: plan.name.clone(),
            outcome: report.outcome.name().to_string(),
            elapsed_ms: report.elapsed.as_millis() as u64,
            processors,
            workers,
            hosts: report
                .hosts
                .as_ref()
                .map(|h| h.summaries.clone())
                .unwrap_or_default(),
            links: report
                .hosts
                .as_ref()
                .map(|h| h.links.clone())
                .unwrap_or_default(),
            outages: report
                .hosts
                .as_ref()
                .map(|h| h.outages.clone())
                .unwrap_or_default(),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a summary is plain data")
    }

    /// The exit code of the run it sums up: 1 when it failed, else 0.
    pub fn exit_code(&self) -> i32 {
        match self.outcome == Outcome::Failed.name() {
            true => 1,
            false => 0,
        }
    }

    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "PROCESSOR",
            "TYPE",
            "WORKER",
            "IN",
            "OUT",
            "DROPPED",
            "GAPS",
            "ERRORS",
            "RESTARTS",
            "PAUSED",
            "LATENCY p50/p99",
        ]
        .map(String::from)
        .to_vec()];
        for (id, l) in self.processors.iter() {
            rows.push(vec![
                id.clone(),
                l.type_name.clone(),
                l.worker.clone(),
                l.frames_in.to_string(),
                l.frames_out.to_string(),
                l.dropped.to_string(),
                l.gaps.to_string(),
                l.errors.to_string(),
                l.restarts.to_string(),
                paused_cell(l),
                l.latency_us
                    .map_or("-".into(), |l| format!("{}/{} µs", l.p50, l.p99)),
            ]);
        }
        let mut out = format!(
            "pipeline `{}` (runtime {}) {} in {:.2} s\n\n",
            self.pipeline,
            self.runtime,
            self.outcome,
            self.elapsed_ms as f64 / 1000.0
        );
        out.push_str(&render(&rows));
        for (worker, w) in &self.workers {
            if let Some(failure) = &w.failure {
                out.push_str(&format!("\nworker {worker} failed: {failure}"));
            }
        }
        for (host, summary) in &self.hosts {
            out.push_str(&format!("\n\nhost {host}: "));
            match serde_json::from_value::<Summary>(summary.clone()) {
                Ok(part) => out.push_str(&part.to_table()),
                Err(_) => out.push_str("its summary could not be read"),
            }
        }
        if !self.links.is_empty() {
            out.push_str("\n\n");
            out.push_str(&links_table(&self.links));
        }
        for o in &self.outages {
            out.push_str(&match o.outage_ms {
                Some(ms) => format!(
                    "\nhost {} was out of reach for {:.1} s",
                    o.host,
                    ms as f64 / 1000.0
                ),
                None => format!("\nhost {} was out of reach until the end", o.host),
            });
        }
        out
    }
}

/// The ports that crossed between hosts, as `ps` and the summary show them.
pub fn links_table(links: &[LinkStatus]) -> String {
    let mut rows = vec![[
        "LINK",
        "FROM",
        "TO",
        "SENT",
        "RECEIVED",
        "DROPPED",
        "LATENCY p50/p99",
    ]
    .map(String::from)
    .to_vec()];
    for l in links {
        rows.push(vec![
            format!("{}.{}", l.port.processor, l.port.port),
            l.from_host.clone(),
            l.to_host.clone(),
            l.sent.to_string(),
            l.received.to_string(),
            l.dropped.to_string(),
            l.latency_us
                .map_or("-".into(), |l| format!("{}/{} µs", l.p50, l.p99)),
        ]);
    }
    render(&rows)
}

/// How long a processor was paused and what its inputs dropped meanwhile.
fn paused_cell(line: &ProcessorSummary) -> String {
    let seconds = line.paused_ms as f64 / 1000.0;
    match (line.paused_ms, line.dropped_paused) {
        (0, 0) => "-".into(),
        (_, 0) => format!("{seconds:.1} s"),
        (_, dropped) => format!("{seconds:.1} s ({dropped} dropped)"),
    }
}
