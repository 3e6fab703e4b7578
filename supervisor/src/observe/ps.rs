//! `plexus ps`: the runtimes running now, their workers and processors, as
//! each runtime describes itself on request. `plexus top` shows the same
//! description, refreshed.

use anyhow::Result;
use ipc_schemas::RuntimeStatus;
use serde_json::json;

use crate::observe::client::{self, Client};
use crate::observe::top::format::{bytes, seconds};
use crate::table::render;

/// Prints every live runtime, or only `runtime`; returns the exit code.
pub fn ps(runtime: Option<&str>, json: bool) -> Result<i32> {
    let chosen = match runtime {
        Some(id) => vec![client::choose_runtime(Some(id))?],
        None => client::live_runtimes(),
    };
    let mut runtimes = Vec::new();
    for runtime in chosen {
        match Client::connect(&runtime.id).and_then(|c| c.status()) {
            Ok(status) => runtimes.push(status),
            // Starting or stopping right now: it is not listed.
            Err(e) => eprintln!("plexus: runtime {} did not answer: {e:#}", runtime.id),
        }
    }
    if json {
        // docs/ARCHITECTURE.md §8 and docs/json/ps.schema.json.
        println!("{}", json!({ "runtimes": runtimes }));
    } else if runtimes.is_empty() {
        println!("no plexus runtime is running");
    } else {
        let tables: Vec<String> = runtimes.iter().map(table).collect();
        print!("{}", tables.join("\n"));
    }
    Ok(0)
}

fn table(status: &RuntimeStatus) -> String {
    let mut rows = vec![[
        "WORKER",
        "HOST",
        "LANGUAGE",
        "PID",
        "STATE",
        "RESTARTS",
        "UPTIME",
        "CPU%",
        "RSS",
        "PROCESSORS",
    ]
    .map(String::from)
    .to_vec()];
    for w in &status.workers {
        let processors: Vec<String> = w
            .processors
            .iter()
            .map(|p| match p.paused {
                true => format!("{} paused", p.processor),
                false if p.inputs.is_empty() => format!("{} {:.1} fps", p.processor, p.fps_out),
                false => format!("{} {:.1} fps", p.processor, p.fps_in),
            })
            .collect();
        let running = w.pid != 0;
        rows.push(vec![
            w.worker.clone(),
            w.host.clone(),
            w.language.clone(),
            if running {
                w.pid.to_string()
            } else {
                "-".into()
            },
            w.state.clone(),
            w.restarts.to_string(),
            seconds(w.uptime_ms),
            if running {
                format!("{:.1}", w.cpu_percent)
            } else {
                "-".into()
            },
            if running {
                bytes(w.rss_bytes)
            } else {
                "-".into()
            },
            processors.join(", "),
        ]);
    }
    // One host is the usual case: no column says `local` on every row.
    if status
        .workers
        .iter()
        .all(|w| w.host == ipc_schemas::link::LOCAL_HOST)
    {
        for row in &mut rows {
            row.remove(1);
        }
    }
    let mut out = format!(
        "runtime {}  pipeline `{}`  supervisor pid {}  up {}\n{}",
        status.runtime,
        status.pipeline,
        status.pid,
        seconds(status.uptime_ms),
        render(&rows)
    );
    if !status.links.is_empty() {
        out.push('\n');
        out.push_str(&crate::run::summary::links_table(&status.links));
    }
    out
}
