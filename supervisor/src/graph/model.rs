//! What `plexus graph` draws, apart from how: processors and connections
//! with the words and colours they carry. Built once from a plan, so that
//! every output format (SVG, PNG, DOT, Mermaid) shows the same picture.

use ipc_schemas::LatencyUs;

use crate::load::plan::{Plan, PlannedProcessor};

/// A pipeline as a picture shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// The heading: the pipeline's name, and the runtime's id when live.
    pub title: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// In pipeline order.
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// One processor.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub type_name: String,
    /// `rust`, `python` or `deno`: picks the node's colour.
    pub language: &'static str,
    /// The `worker:` group it shares a process with; `None` when it has a
    /// process of its own, as most processors do.
    pub group: Option<String>,
    /// A live runtime's user paused it.
    pub paused: bool,
}

/// One connection, `from.from_port -> to.to_port`, by node index.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub from_port: String,
    pub to: usize,
    pub to_port: String,
    /// The output port's schema, such as `video/rgba8`.
    pub schema: String,
    /// What flows through the connection, for a live runtime.
    pub flow: Option<Flow>,
}

/// A live connection's rate and loss, as its downstream input counts them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flow {
    /// Frames per second over the last second.
    pub fps: f64,
    /// Frames the upstream sent that the input never took, over the run.
    pub dropped: u64,
    /// Capture to the input over the last second; `None` while no frame came.
    pub latency_us: Option<LatencyUs>,
}

/// How a language is painted: a light fill that black text reads on, and a
/// darker outline of the same hue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub fill: [u8; 3],
    pub stroke: [u8; 3],
}

/// The colours of the languages plexus runs; a language added later and
/// not listed here is grey until it is.
pub fn palette(language: &str) -> Palette {
    match language {
        "rust" => Palette {
            fill: [0xf6, 0xd2, 0xb8],
            stroke: [0xb7, 0x41, 0x0e],
        },
        "python" => Palette {
            fill: [0xcf, 0xe0, 0xf5],
            stroke: [0x30, 0x69, 0x98],
        },
        "deno" => Palette {
            fill: [0xcf, 0xf0, 0xd8],
            stroke: [0x1f, 0x7a, 0x44],
        },
        _ => Palette {
            fill: [0xe4, 0xe4, 0xe4],
            stroke: [0x60, 0x60, 0x60],
        },
    }
}

/// `#rrggbb`, as SVG, DOT and Mermaid write a colour.
pub fn hex(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

/// The legend's words for a language.
pub fn language_label(language: &str) -> String {
    match language {
        "deno" => "deno (TypeScript)".into(),
        other => other.into(),
    }
}

impl Graph {
    /// The pipeline of `plan` as it is written.
    pub fn from_plan(plan: &Plan) -> Graph {
        // Other hosts' processors too (§16), boxed by their host.
        let all: Vec<&PlannedProcessor> = plan.processors.iter().chain(&plan.remote).collect();
        let nodes: Vec<Node> = all
            .iter()
            .map(|p| Node {
                id: p.spec.id.clone(),
                type_name: p.spec.type_name.clone(),
                language: plan
                    .workers
                    .iter()
                    .find(|w| w.name == p.worker)
                    .map_or("", |w| w.language.name()),
                group: match &p.host {
                    Some(host) => Some(format!("host {host}")),
                    None => (p.worker != p.spec.id).then(|| p.worker.clone()),
                },
                paused: false,
            })
            .collect();
        let index = |id: &str| nodes.iter().position(|n| n.id == id);
        let mut edges = Vec::new();
        for (to, p) in all.iter().enumerate() {
            for input in &p.spec.inputs {
                let Some(from) = index(&input.from_processor) else {
                    continue; // a plan connects only its own processors
                };
                let schema = all[from]
                    .spec
                    .outputs
                    .iter()
                    .find(|o| o.port == input.from_port)
                    .map_or("", |o| o.schema.name());
                edges.push(Edge {
                    from,
                    from_port: input.from_port.clone(),
                    to,
                    to_port: input.port.clone(),
                    schema: schema.to_string(),
                    flow: None,
                });
            }
        }
        // Edges in the order the upstream's outputs were written reads best.
        edges.sort_by_key(|e| (e.from, e.to));
        Graph {
            title: format!("pipeline {}", plan.name),
            pipeline: plan.name.clone(),
            nodes,
            edges,
        }
    }

    /// The languages the nodes are written in, each once, in the order
    /// they first appear: what the legend lists.
    pub fn languages(&self) -> Vec<&'static str> {
        let mut seen = Vec::new();
        for node in &self.nodes {
            if !seen.contains(&node.language) {
                seen.push(node.language);
            }
        }
        seen
    }
}

impl Node {
    /// The lines written in the node's box: id, type, and the worker group
    /// or pause when there is one.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.id.clone(), self.type_name.clone()];
        if let Some(group) = &self.group {
            lines.push(format!("worker {group}"));
        }
        if self.paused {
            lines.push("paused".into());
        }
        lines
    }
}

impl Edge {
    /// The lines written beside the connection: the ports when they are
    /// not the usual `out` to `in`, the schema, and the live rate.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.from_port != "out" || self.to_port != "in" {
            lines.push(format!("{} -> {}", self.from_port, self.to_port));
        }
        lines.push(self.schema.clone());
        if let Some(flow) = self.flow {
            lines.push(format!("{:.1} fps, {} dropped", flow.fps, flow.dropped));
        }
        lines
    }
}
