//! `plexus graph --runtime ID`: a running pipeline with its rates. A
//! runtime's status names each processor's ports but not what they are
//! connected to, so the connections come from the pipeline file the
//! runtime was started with, as its run journal names it, and are checked
//! against the status before the status's figures are laid over them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ipc_schemas::{ProcessorStatus, RuntimeStatus};

use crate::error::{excerpt, UserError};
use crate::graph::model::{Flow, Graph};
use crate::journal::read::Run;
use crate::journal::runs_dir;
use crate::load::load_plan;
use crate::observe::client::{self, Client};

/// The graph of runtime `requested` as it runs now.
pub fn live_graph(requested: &str) -> Result<Graph> {
    let runtime = client::choose_runtime(Some(requested))?;
    let status = Client::connect(&runtime.id)
        .and_then(|c| c.status())
        .with_context(|| format!("asking runtime {} for its status", runtime.id))?;
    of_status(&status)
}

/// The graph of the runtime that gave `status`, with its figures.
pub fn of_status(status: &RuntimeStatus) -> Result<Graph> {
    let (file, _) = started_with(&status.runtime).ok_or_else(|| {
        UserError::Plain(format!(
            "cannot tell which pipeline file runtime {} was started with; draw it with `plexus graph PIPELINE`",
            status.runtime
        ))
    })?;
    let plan = load_plan(&file)?;
    let mut graph = Graph::from_plan(&plan);
    overlay(&mut graph, status, &file, &plan.name)?;
    Ok(graph)
}

/// The pipeline file the run's journal says it was started with (§7,
/// *Run journal*): `run`'s PIPELINE, or `replay`'s `--into`, and the name
/// of the pipeline it ran.
pub fn started_with(runtime: &str) -> Option<(PathBuf, String)> {
    let run = Run::open(&runs_dir().ok()?, runtime).ok()?;
    Some((run.info.file, run.info.pipeline))
}

/// Lays the runtime's figures over the graph of its file: each processor's
/// type and language as it runs (a replay runs `builtin.replay` in place
/// of a source), whether it is paused, and on each connection its rate and
/// the frames it dropped, as its downstream input counts them.
fn overlay(
    graph: &mut Graph,
    status: &RuntimeStatus,
    file: &Path,
    name: &str,
) -> Result<(), UserError> {
    let running: HashMap<&str, (&ProcessorStatus, &str)> = status
        .workers
        .iter()
        .flat_map(|w| {
            w.processors
                .iter()
                .map(|p| (p.processor.as_str(), (p, w.language.as_str())))
        })
        .collect();
    let changed = |what: String| {
        UserError::Plain(format!(
            "runtime {} runs pipeline `{}`, but {} has changed since it started ({what}); `plexus graph {}` draws the file as it is now",
            status.runtime,
            status.pipeline,
            file.display(),
            file.display()
        ))
    };
    if name != status.pipeline {
        return Err(changed(format!(
            "it names the pipeline `{}`",
            excerpt(name)
        )));
    }
    if graph.nodes.len() != running.len() {
        return Err(changed(format!(
            "{} processors, not {}",
            graph.nodes.len(),
            running.len()
        )));
    }
    for node in &mut graph.nodes {
        let Some((processor, language)) = running.get(node.id.as_str()) else {
            return Err(changed(format!(
                "the runtime has no processor `{}`",
                node.id
            )));
        };
        node.type_name = processor.type_name.clone();
        if let Some(lang) = crate::language::by_name(language) {
            node.language = lang.name();
        }
        node.paused = processor.paused;
    }
    for edge in &mut graph.edges {
        let (from, _) = running[graph.nodes[edge.from].id.as_str()];
        let (to, _) = running[graph.nodes[edge.to].id.as_str()];
        let input = to.inputs.iter().find(|i| i.port == edge.to_port);
        let (true, Some(input)) = (from.outputs.iter().any(|o| o.port == edge.from_port), input)
        else {
            return Err(changed(format!(
                "the runtime has no connection `{}.{} -> {}.{}`",
                from.processor, edge.from_port, to.processor, edge.to_port
            )));
        };
        edge.flow = Some(Flow {
            fps: input.fps,
            dropped: input.dropped,
            latency_us: input.latency_us,
        });
    }
    graph.title = format!("pipeline {}, runtime {}", status.pipeline, status.runtime);
    Ok(())
}
