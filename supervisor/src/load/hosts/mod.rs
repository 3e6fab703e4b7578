//! A pipeline across hosts (docs/ARCHITECTURE.md §16): the `hosts:`,
//! `link:` and per-processor `host:` fields a user writes, the `host:` and
//! `remote:` fields of a host's part, their checks, and the plan of what
//! each host runs and which ports cross between hosts.

mod part;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use ipc_schemas::link::{
    Bridges, Congestion, LinkSettings, LinkSetup, OnLost, Thresholds, LINK_PROTOCOL, LOCAL_HOST,
};
use ipc_schemas::names::validate_id;

use crate::error::excerpt;
use crate::load::pipeline::PipelineFile;

pub use part::{remote_type_name, remote_types, split, Edge, Placed};

/// How long a lost host may stay away under `on_lost: wait` when the
/// pipeline does not say.
const DEFAULT_LOST_TIMEOUT_S: u64 = 60;
const MAX_LOST_TIMEOUT_S: u64 = 24 * 3600;

/// One entry of `hosts:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// Where its agent listens: `tcp/ADDRESS:PORT`.
    pub endpoint: String,
    #[serde(default)]
    pub on_lost: OnLostDecl,
    /// How long `on_lost: wait` waits for the host to come back.
    pub lost_timeout_s: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLostDecl {
    #[default]
    Wait,
    Fail,
}

/// The pipeline's `link:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSection {
    /// The secret every agent of the pipeline is given (`--token-file`),
    /// relative to the pipeline.
    pub token_file: String,
    #[serde(default)]
    pub congestion: Congestion,
    #[serde(default)]
    pub degraded: DegradedDecl,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradedDecl {
    #[serde(default = "default_loss_percent")]
    pub loss_percent: f64,
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u64,
}

impl Default for DegradedDecl {
    fn default() -> Self {
        Self {
            loss_percent: default_loss_percent(),
            latency_ms: default_latency_ms(),
        }
    }
}

fn default_loss_percent() -> f64 {
    1.0
}

fn default_latency_ms() -> u64 {
    100
}

/// One entry of a part's `remote:` section: a processor on another host
/// whose outputs this host's processors read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteEntry {
    pub host: String,
    /// What it is written in, for pictures of the pipeline.
    pub language: String,
    /// Its output ports read here, with their schemas.
    pub outputs: BTreeMap<String, String>,
}

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

/// The host this file runs on: its `host:` (a host's part), else `local`.
pub fn this_host(file: &PipelineFile) -> &str {
    file.host.as_deref().unwrap_or(LOCAL_HOST)
}

/// Where processor `id` runs, `None` for this host.
pub fn host_of<'a>(file: &'a PipelineFile, host: Option<&'a str>) -> Option<&'a str> {
    host.filter(|h| *h != this_host(file))
}

/// Checks `hosts:`, `link:`, `host:` and `remote:` before anything is
/// resolved: names, endpoints, timeouts, and that every host named is
/// listed.
pub fn check(file: &PipelineFile) -> Result<(), String> {
    if let Some(host) = &file.host {
        validate_id(host)
            .map_err(|_| format!("`host: {}` is not a valid host name", excerpt(host)))?;
    }
    for (name, entry) in &file.hosts {
        validate_id(name).map_err(|_| {
            format!(
                "host name `{}` in `hosts:` is not valid: use 1 to 64 letters, digits, `_` or `-`",
                excerpt(name)
            )
        })?;
        if name == LOCAL_HOST {
            return Err(format!(
                "`hosts:` may not list `{LOCAL_HOST}`: it names the host running `plexus run`"
            ));
        }
        check_endpoint(&entry.endpoint).map_err(|why| {
            format!(
                "host `{name}`: endpoint `{}` {why}",
                excerpt(&entry.endpoint)
            )
        })?;
        if let Some(t) = entry.lost_timeout_s {
            if !(1..=MAX_LOST_TIMEOUT_S).contains(&t) {
                return Err(format!(
                    "host `{name}`: lost_timeout_s must be from 1 to {MAX_LOST_TIMEOUT_S}, not {t}"
                ));
            }
        }
    }
    let here = this_host(file);
    let known = |host: &str| host == here || host == LOCAL_HOST || file.hosts.contains_key(host);
    for (id, entry) in file.processors.iter() {
        if let Some(host) = entry.host.as_deref().filter(|h| !known(h)) {
            return Err(format!(
                "processor `{id}` names host `{}`, which `hosts:` does not list{}",
                excerpt(host),
                listed(file)
            ));
        }
    }
    for (id, entry) in &file.remote {
        validate_id(id).map_err(|e| format!("remote processor id {e}"))?;
        if entry.host == here {
            return Err(format!(
                "remote processor `{id}` is on host `{here}`, the host this file runs on"
            ));
        }
    }
    let remote_hosts = file
        .processors
        .iter()
        .any(|(_, e)| e.host.as_deref().is_some_and(|h| h != here));
    if remote_hosts && file.link.is_none() {
        return Err(
            "processors run on other hosts, so the pipeline needs `link: { token_file: FILE }`: the secret its agents are given with --token-file".into(),
        );
    }
    if let Some(link) = &file.link {
        let d = &link.degraded;
        if !(d.loss_percent.is_finite() && (0.0..=100.0).contains(&d.loss_percent)) {
            return Err("link.degraded.loss_percent must be from 0 to 100".into());
        }
        if d.latency_ms == 0 || d.latency_ms > 3_600_000 {
            return Err("link.degraded.latency_ms must be from 1 to 3600000".into());
        }
    }
    Ok(())
}

fn listed(file: &PipelineFile) -> String {
    match file.hosts.is_empty() {
        true => " (it lists none)".into(),
        false => format!(
            " (it lists: {})",
            file.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `tcp/ADDRESS:PORT`, the only endpoint an agent listens on.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let Some(rest) = endpoint.strip_prefix("tcp/") else {
        return Err("is not of the form tcp/ADDRESS:PORT".into());
    };
    let Some((address, port)) = rest.rsplit_once(':') else {
        return Err("has no port: write tcp/ADDRESS:PORT".into());
    };
    if address.is_empty() || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("has no address: write tcp/ADDRESS:PORT".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "has port `{}`, not a number from 1 to 65535",
            excerpt(port)
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> PipelineFile {
        crate::yaml::parse(Path::new("p.yaml"), text).expect("parses")
    }

    #[test]
    fn endpoints_are_tcp_address_and_port() {
        assert!(check_endpoint("tcp/10.0.0.2:7447").is_ok());
        assert!(check_endpoint("tcp/[::1]:7447").is_ok());
        assert!(check_endpoint("udp/10.0.0.2:7447").is_err());
        assert!(check_endpoint("tcp/10.0.0.2").is_err());
        assert!(check_endpoint("tcp/10.0.0.2:0").is_err());
        assert!(check_endpoint("tcp/:7447").is_err());
    }

    #[test]
    fn a_processor_on_an_unlisted_host_is_named() {
        let f = file("name: x\nhosts: { b: { endpoint: tcp/10.0.0.2:7447 } }\nlink: { token_file: t }\nprocessors:\n  a: { type: t, host: c }\n");
        let err = check(&f).unwrap_err();
        assert!(
            err.contains("processor `a` names host `c`") && err.contains("lists: b"),
            "{err}"
        );
    }

    #[test]
    fn other_hosts_need_a_token() {
        let f = file("name: x\nhosts: { b: { endpoint: tcp/10.0.0.2:7447 } }\nprocessors:\n  a: { type: t, host: b }\n");
        assert!(check(&f).unwrap_err().contains("token_file"));
    }

    #[test]
    fn local_is_not_a_host_to_list() {
        let f = file("name: x\nhosts: { local: { endpoint: tcp/10.0.0.2:7447 } }\nprocessors:\n  a: { type: t }\n");
        assert!(check(&f).unwrap_err().contains("may not list `local`"));
    }
}
