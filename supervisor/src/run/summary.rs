//! The end-of-run summary: per processor frames in/out, drops, gaps,
//! errors, latency and time paused; per worker restarts and exit. Printed as a table for
//! people or as the JSON object of docs/ARCHITECTURE.md §8 for scripts.

use std::collections::BTreeMap;
use std::time::Duration;

use ipc_schemas::ExitStatus;
use serde_json::{json, Value};

use super::RunReport;
use crate::load::plan::Plan;
use crate::table::render;

pub struct ProcessorLine {
    pub id: String,
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
    /// How long a user kept it paused.
    pub paused: Duration,
    pub seq_gaps: u64,
    pub errors: u64,
    pub restarts: u32,
    pub latency_us: Option<(f64, f64)>,
}

pub fn processor_lines(plan: &Plan, report: &RunReport) -> Vec<ProcessorLine> {
    plan.processors
        .iter()
        .map(|p| {
            let stats = report.stats.get(&p.spec.id);
            let inputs = stats.map(|s| s.inputs.as_slice()).unwrap_or_default();
            ProcessorLine {
                id: p.spec.id.clone(),
                type_name: p.spec.type_name.clone(),
                worker: p.worker.clone(),
                frames_in: inputs.iter().map(|s| s.frames).sum(),
                frames_out: stats.map_or(0, |s| s.outputs.iter().map(|o| o.frames).sum()),
                dropped: inputs.iter().map(|s| s.dropped).sum(),
                dropped_paused: inputs.iter().map(|s| s.dropped_paused).sum(),
                unmatched: inputs.iter().map(|s| s.unmatched).sum(),
                paused: report.paused.get(&p.spec.id).copied().unwrap_or_default(),
                seq_gaps: inputs.iter().map(|s| s.seq_gaps).sum(),
                errors: stats.map_or(0, |s| s.errors),
                restarts: report
                    .workers
                    .iter()
                    .find(|w| w.name == p.worker)
                    .map_or(0, |w| w.restarts),
                latency_us: stats
                    .and_then(|s| s.latency)
                    .map(|l| (l.p50_ns as f64 / 1000.0, l.p99_ns as f64 / 1000.0)),
            }
        })
        .collect()
}

fn exit_json(exit: Option<ExitStatus>) -> Value {
    match exit {
        Some(ExitStatus::Code(c)) => json!({ "code": c }),
        Some(ExitStatus::Signal(s)) => json!({ "signal": s }),
        None => Value::Null,
    }
}

pub fn to_json(plan: &Plan, report: &RunReport) -> Value {
    let processors: serde_json::Map<String, Value> = processor_lines(plan, report)
        .into_iter()
        .map(|l| {
            let value = json!({
                "type": l.type_name,
                "worker": l.worker,
                "frames_in": l.frames_in,
                "frames_out": l.frames_out,
                "dropped": l.dropped,
                "dropped_paused": l.dropped_paused,
                "unmatched": l.unmatched,
                "paused_ms": l.paused.as_millis() as u64,
                "errors": l.errors,
                "restarts": l.restarts,
                "seq_gaps": l.seq_gaps,
                "latency_p50_us": l.latency_us.map(|l| l.0),
                "latency_p99_us": l.latency_us.map(|l| l.1),
            });
            (l.id, value)
        })
        .collect();
    let workers: serde_json::Map<String, Value> = report
        .workers
        .iter()
        .map(|w| {
            let value = json!({
                "language": w.language.name(),
                "restarts": w.restarts,
                "last_exit": exit_json(w.last_exit),
                "state": w.state,
                "failure": w.failure,
            });
            (w.name.clone(), value)
        })
        .collect();
    json!({
        "runtime": report.runtime_id,
        "pipeline": plan.name,
        "outcome": report.outcome.name(),
        "elapsed_s": report.elapsed.as_secs_f64(),
        "processors": processors,
        "workers": workers,
    })
}

/// How long a processor was paused and what its inputs dropped meanwhile.
fn paused_cell(line: &ProcessorLine) -> String {
    match (line.paused.is_zero(), line.dropped_paused) {
        (true, 0) => "-".into(),
        (_, 0) => format!("{:.1} s", line.paused.as_secs_f64()),
        (_, dropped) => format!("{:.1} s ({dropped} dropped)", line.paused.as_secs_f64()),
    }
}

pub fn to_table(plan: &Plan, report: &RunReport) -> String {
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
    for l in processor_lines(plan, report) {
        let paused = paused_cell(&l);
        rows.push(vec![
            l.id,
            l.type_name,
            l.worker,
            l.frames_in.to_string(),
            l.frames_out.to_string(),
            l.dropped.to_string(),
            l.seq_gaps.to_string(),
            l.errors.to_string(),
            l.restarts.to_string(),
            paused,
            l.latency_us
                .map_or("-".into(), |(a, b)| format!("{a:.0}/{b:.0} µs")),
        ]);
    }
    let mut out = format!(
        "pipeline `{}` (runtime {}) {} in {:.2} s\n\n",
        plan.name,
        report.runtime_id,
        report.outcome.name(),
        report.elapsed.as_secs_f64()
    );
    out.push_str(&render(&rows));
    let failures: BTreeMap<&str, &str> = report
        .workers
        .iter()
        .filter_map(|w| w.failure.as_deref().map(|f| (w.name.as_str(), f)))
        .collect();
    for (worker, failure) in failures {
        out.push_str(&format!("\nworker {worker} failed: {failure}"));
    }
    out
}
