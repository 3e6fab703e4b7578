//! A pipeline across hosts (docs/ARCHITECTURE.md §16), planned: what each
//! other host runs, which ports cross between hosts, and what the run's
//! link process is told. The fields as written are `load::pipeline`'s.

mod part;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipc_schemas::link::{Bridges, LinkSettings, LinkSetup, OnLost, Thresholds, LINK_PROTOCOL};

use crate::load::pipeline::hosts::{HostEntry, LinkSection, OnLostDecl, DEFAULT_LOST_TIMEOUT_S};

pub use part::{remote_types, split, Edge, Placed};

/// What a plan across hosts runs where.
#[derive(Debug, Clone)]
pub struct HostsPlan {
    /// The token file, absolute.
    pub token_file: PathBuf,
    pub link: LinkSettings,
    /// What this host's link process carries.
    pub bridges: Bridges,
    /// Every other host that runs processors, in name order.
    pub parts: Vec<HostPart>,
}

/// One other host and what it runs.
#[derive(Debug, Clone)]
pub struct HostPart {
    pub host: String,
    pub endpoint: String,
    pub on_lost: OnLost,
    pub pipeline_yaml: String,
    pub bridges: Bridges,
    /// It has sources: a run limited to a number of frames tells it so.
    pub has_sources: bool,
}

impl HostsPlan {
    /// What the run's link process is told at start.
    pub fn setup(&self, runtime: &str, frames: Option<u64>, check_only: bool) -> LinkSetup {
        LinkSetup {
            protocol: LINK_PROTOCOL,
            runtime: runtime.to_string(),
            token_file: self.token_file.display().to_string(),
            bridges: self.bridges.clone(),
            link: self.link.clone(),
            hosts: self
                .parts
                .iter()
                .map(|p| ipc_schemas::link::HostSetup {
                    host: p.host.clone(),
                    endpoint: p.endpoint.clone(),
                    on_lost: p.on_lost,
                    part: ipc_schemas::link::Part {
                        runtime: runtime.to_string(),
                        host: p.host.clone(),
                        pipeline_yaml: p.pipeline_yaml.clone(),
                        bridges: p.bridges.clone(),
                        link: self.link.clone(),
                        clock_offsets_ns: BTreeMap::new(),
                        frames: frames.filter(|_| p.has_sources),
                    },
                })
                .collect(),
            check_only,
        }
    }
}

/// The run's link settings and token file, from `link:`.
fn link_settings(link: &LinkSection, dir: &Path) -> (PathBuf, LinkSettings) {
    (
        dir.join(&link.token_file),
        LinkSettings {
            congestion: link.congestion,
            degraded: Thresholds {
                loss_percent: link.degraded.loss_percent,
                latency_ms: link.degraded.latency_ms,
            },
        },
    )
}

fn on_lost(entry: &HostEntry) -> OnLost {
    match entry.on_lost {
        OnLostDecl::Fail => OnLost::Fail,
        OnLostDecl::Wait => OnLost::Wait {
            timeout_ms: entry.lost_timeout_s.unwrap_or(DEFAULT_LOST_TIMEOUT_S) * 1000,
        },
    }
}
