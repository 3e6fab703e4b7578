//! `plexus graph`: a pipeline, or a running runtime, as a picture. The
//! pipeline becomes a [`model::Graph`] (from its plan, with a live
//! runtime's rates laid over it by `live`), which is laid out once
//! (`layout`) and drawn as SVG or PNG by plexus itself, or written as DOT
//! or Mermaid text (`text`) for those tools to lay out, or as JSON with its
//! layout (`json`) for programs that draw it themselves.

mod json;
mod layout;
pub(crate) mod live;
mod model;
mod png;
mod svg;
#[cfg(test)]
mod tests;
mod text;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ipc_schemas::RuntimeStatus;
use serde_json::Value;

use crate::error::{excerpt, UserError};
use crate::graph::model::Graph;
use crate::load::load_plan;

/// What to draw.
#[derive(Debug)]
pub enum Source {
    /// A pipeline file, as it is written.
    File(PathBuf),
    /// A running runtime, by id, with its rates.
    Runtime(String),
}

/// The formats `plexus graph` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextFormat {
    /// Graphviz's DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// An SVG document.
    Svg,
    /// The graph with its layout as one JSON object
    /// (docs/json/graph.schema.json).
    Json,
}

/// Every format `plexus graph` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text(TextFormat),
    Png,
}

impl Format {
    /// The format a file's extension names.
    fn of(path: &Path) -> Result<Format, UserError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("svg") => Ok(Format::Text(TextFormat::Svg)),
            Some("png") => Ok(Format::Png),
            Some("dot" | "gv") => Ok(Format::Text(TextFormat::Dot)),
            Some("mmd" | "mermaid") => Ok(Format::Text(TextFormat::Mermaid)),
            Some("json") => Ok(Format::Text(TextFormat::Json)),
            _ => Err(UserError::Plain(format!(
                "cannot tell what to write to `{}` from its name: end it in .svg, .png, .dot, .mmd or .json",
                excerpt(&path.display().to_string())
            ))),
        }
    }
}

/// Draws `source` into `output`, or prints it as `format` without one;
/// returns the exit code.
pub fn graph(source: Source, output: Option<&Path>, format: TextFormat) -> Result<i32> {
    // A bad file name is told before any work.
    let format = match output {
        Some(path) => Format::of(path)?,
        None => Format::Text(format),
    };
    let graph = match source {
        Source::File(path) => Graph::from_plan(&load_plan(&path)?),
        Source::Runtime(id) => live::live_graph(&id)?,
    };
    let bytes = render(&graph, format)?;
    match output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            println!(
                "wrote {}: {} processors, {} connections",
                path.display(),
                graph.nodes.len(),
                graph.edges.len()
            );
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .context("writing the graph to stdout")?,
    }
    Ok(0)
}

fn render(graph: &Graph, format: Format) -> Result<Vec<u8>> {
    Ok(match format {
        Format::Text(TextFormat::Dot) => text::dot(graph).into_bytes(),
        Format::Text(TextFormat::Mermaid) => text::mermaid(graph).into_bytes(),
        Format::Text(TextFormat::Svg) => svg::render(graph, &layout::layout(graph)).into_bytes(),
        Format::Text(TextFormat::Json) => format!("{}\n", json::json(graph)).into_bytes(),
        Format::Png => png::render(graph, &layout::layout(graph))?,
    })
}

/// `plexus graph --runtime ID --format json` of the runtime that gave
/// `status`: what the dashboard serves as its graph.
pub fn runtime_json(status: &RuntimeStatus) -> Result<Value> {
    Ok(json::json(&live::of_status(status)?))
}
