//! `plexus graph --runtime ID`: a running pipeline with its rates. A
//! runtime's status names each processor's ports but not what they are
//! connected to, so the connections come from the pipeline file the
//! runtime was started with, found on its supervisor's command line, and
//! are checked against the status before the status's figures are laid
//! over them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ipc_schemas::{ProcessorStatus, RuntimeStatus};

use crate::error::{excerpt, UserError};
use crate::graph::model::Graph;
use crate::load::load_plan;
use crate::observe::client::{self, Client};

/// The graph of runtime `requested` as it runs now.
pub fn live_graph(requested: &str) -> Result<Graph> {
    let runtime = client::choose_runtime(Some(requested))?;
    let status = Client::connect(&runtime.id)
        .and_then(|c| c.status())
        .with_context(|| format!("asking runtime {} for its status", runtime.id))?;
    let file = started_with(status.pid).ok_or_else(|| {
        UserError::Plain(format!(
            "cannot tell which pipeline file runtime {} was started with; draw it with `plexus graph PIPELINE`",
            status.id
        ))
    })?;
    let plan = load_plan(&file)?;
    let mut graph = Graph::from_plan(&plan);
    overlay(&mut graph, &status, &file, &plan.name)?;
    Ok(graph)
}

/// The pipeline file of the `plexus run PIPELINE` or `plexus replay …
/// --into PIPELINE` whose process is `pid`, made absolute against the
/// directory it was started in.
fn started_with(pid: u32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let file = pipeline_argument(&args)?;
    let file = PathBuf::from(file);
    match file.is_absolute() {
        true => Some(file),
        false => Some(
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()?
                .join(file),
        ),
    }
}

/// The pipeline among `plexus`'s arguments, as `cli.rs` defines them: the
/// first positional argument of `run`, the value of `replay`'s `--into`.
fn pipeline_argument(args: &[String]) -> Option<&str> {
    let (command, rest) = args.get(1..)?.split_first()?;
    // Options of `run` and `replay` that take a value.
    const VALUED: &[&str] = &[
        "--frames",
        "--duration",
        "--into",
        "--replace",
        "--channel",
        "--speed",
    ];
    let mut positional = Vec::new();
    let mut into = None;
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            positional.extend(rest.by_ref());
        } else if let Some((name, value)) = arg.split_once('=').filter(|_| arg.starts_with("--")) {
            if name == "--into" {
                into = Some(value);
            }
        } else if VALUED.contains(&arg.as_str()) {
            let value = rest.next().map(String::as_str);
            if arg == "--into" {
                into = value;
            }
        } else if !arg.starts_with('-') {
            positional.push(arg);
        }
    }
    match command.as_str() {
        "run" => positional.first().map(|a| a.as_str()),
        "replay" => into,
        _ => None,
    }
}

/// Lays the runtime's figures over the graph of its file: each processor's
/// type and language as it runs (a replay runs `builtin.replay` in place
/// of a source), whether it is paused, and on each connection the rate of
/// its upstream. The status counts frames per processor, not per
/// connection, so a connection's rate is its upstream's (the first
/// output's, which is every connection's for processors with one output)
/// and frames dropped on one connection cannot be told apart from the
/// others' yet.
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
                .map(|p| (p.id.as_str(), (p, w.language.as_str())))
        })
        .collect();
    let changed = |what: String| {
        UserError::Plain(format!(
            "runtime {} runs pipeline `{}`, but {} has changed since it started ({what}); `plexus graph {}` draws the file as it is now",
            status.id,
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
        if !from.outputs.contains(&edge.from_port) || !to.inputs.contains(&edge.to_port) {
            return Err(changed(format!(
                "the runtime has no connection `{}.{} -> {}.{}`",
                from.id, edge.from_port, to.id, edge.to_port
            )));
        }
        edge.fps = Some(from.fps);
    }
    graph.title = format!("pipeline {}, runtime {}", status.pipeline, status.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn the_pipeline_is_found_on_run_and_replay_command_lines() {
        let found = |line: &str| pipeline_argument(&args(line)).map(String::from);
        assert_eq!(found("plexus run p.yaml").as_deref(), Some("p.yaml"));
        assert_eq!(
            found("/x/plexus run --frames 30 --json a/p.yaml --duration=2").as_deref(),
            Some("a/p.yaml")
        );
        assert_eq!(
            found("plexus replay rec.mcap --replace cam --into q.yaml --loop").as_deref(),
            Some("q.yaml")
        );
        assert_eq!(
            found("plexus replay rec.mcap --into=q.yaml").as_deref(),
            Some("q.yaml")
        );
        assert_eq!(found("plexus ps"), None);
        assert_eq!(found("plexus"), None);
    }
}
