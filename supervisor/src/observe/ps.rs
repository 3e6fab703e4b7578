//! `plexus ps`: the runtimes running now, their workers and processors, as
//! each runtime describes itself on request.

use anyhow::Result;
use ipc_schemas::RuntimeStatus;
use serde_json::{json, Value};

use crate::observe::client::{self, Client};
use crate::table::render;

/// Prints every live runtime; returns the exit code.
pub fn ps(json: bool) -> Result<i32> {
    let mut runtimes = Vec::new();
    for runtime in client::live_runtimes() {
        match Client::connect(&runtime.id).and_then(|c| c.status()) {
            Ok(status) => runtimes.push(status),
            // Starting or stopping right now: it is not listed.
            Err(e) => eprintln!("plexus: runtime {} did not answer: {e:#}", runtime.id),
        }
    }
    if json {
        let list: Vec<Value> = runtimes.iter().map(status_json).collect();
        println!("{}", json!({ "runtimes": list }));
    } else if runtimes.is_empty() {
        println!("no plexus runtime is running");
    } else {
        let tables: Vec<String> = runtimes.iter().map(table).collect();
        print!("{}", tables.join("\n"));
    }
    Ok(0)
}

/// docs/ARCHITECTURE.md §8: `{"id", "pid", "pipeline", "uptime_ms", "workers":
/// [{"name", "language", "pid", "state", "restarts", "uptime_ms",
/// "processors": [{"id", "type", "inputs", "outputs", "frames_in",
/// "frames_out", "fps", "paused"}]}]}`.
fn status_json(status: &RuntimeStatus) -> Value {
    let workers: Vec<Value> = status
        .workers
        .iter()
        .map(|w| {
            let processors: Vec<Value> = w
                .processors
                .iter()
                .map(|p| {
                    json!({
                        "id": p.id,
                        "type": p.type_name,
                        "inputs": p.inputs,
                        "outputs": p.outputs,
                        "frames_in": p.frames_in,
                        "frames_out": p.frames_out,
                        "fps": p.fps,
                        "paused": p.paused,
                    })
                })
                .collect();
            json!({
                "name": w.name,
                "language": w.language,
                "pid": w.pid,
                "state": w.state,
                "restarts": w.restarts,
                "uptime_ms": w.uptime_ms,
                "processors": processors,
            })
        })
        .collect();
    json!({
        "id": status.id,
        "pid": status.pid,
        "pipeline": status.pipeline,
        "uptime_ms": status.uptime_ms,
        "workers": workers,
    })
}

fn table(status: &RuntimeStatus) -> String {
    let mut rows = vec![[
        "WORKER",
        "LANGUAGE",
        "PID",
        "STATE",
        "RESTARTS",
        "UPTIME",
        "PROCESSORS",
    ]
    .map(String::from)
    .to_vec()];
    for w in &status.workers {
        let processors: Vec<String> = w
            .processors
            .iter()
            .map(|p| match p.paused {
                true => format!("{} paused", p.id),
                false => format!("{} {:.1} fps", p.id, p.fps),
            })
            .collect();
        rows.push(vec![
            w.name.clone(),
            w.language.clone(),
            if w.pid == 0 {
                "-".into()
            } else {
                w.pid.to_string()
            },
            w.state.clone(),
            w.restarts.to_string(),
            seconds(w.uptime_ms),
            processors.join(", "),
        ]);
    }
    format!(
        "runtime {}  pipeline `{}`  supervisor pid {}  up {}\n{}",
        status.id,
        status.pipeline,
        status.pid,
        seconds(status.uptime_ms),
        render(&rows)
    )
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}
