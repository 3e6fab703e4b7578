//! The fields of a pipeline across hosts as a user writes them (§16):
//! `hosts:`, `link:`, and in a host's part the `remote:` section, with
//! the checks that need nothing but the field itself.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::excerpt;
use ipc_schemas::link::Congestion;

/// How long a lost host may stay away under `on_lost: wait` when the
/// pipeline does not say.
pub const DEFAULT_LOST_TIMEOUT_S: u64 = 60;
pub const MAX_LOST_TIMEOUT_S: u64 = 24 * 3600;

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

/// The type of the processor `id` of a part's `remote:` section: not a
/// name a package may declare (`remote` is no package).
pub fn remote_type_name(id: &str) -> String {
    format!("remote.{id}")
}

/// `tcp/ADDRESS:PORT`, the only endpoint an agent listens on.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_tcp_address_and_port() {
        assert!(check_endpoint("tcp/10.0.0.2:7447").is_ok());
        assert!(check_endpoint("tcp/[::1]:7447").is_ok());
        assert!(check_endpoint("udp/10.0.0.2:7447").is_err());
        assert!(check_endpoint("tcp/10.0.0.2").is_err());
        assert!(check_endpoint("tcp/10.0.0.2:0").is_err());
        assert!(check_endpoint("tcp/:7447").is_err());
    }
}
