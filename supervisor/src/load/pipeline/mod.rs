//! The pipeline file (docs/ARCHITECTURE.md §7) as written by the user, before any
//! processor type is looked up.

mod connection;
pub mod hosts;
mod ordered;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use ipc_schemas::{LatencyMode, SandboxMode};

use crate::error::UserError;
use ipc_schemas::link::LOCAL_HOST;
use ipc_schemas::names::validate_id;

use crate::error::excerpt;
use crate::load::permissions::granted::SandboxUnavailable;
use crate::load::record::RecordSection;
use crate::load::restart::{self, RestartSpec};
use crate::package::manifest::{PermissionsDecl, SyncDecl};
use crate::yaml;
pub use connection::ConnectionDecl;
pub use hosts::remote_type_name;
use hosts::{check_endpoint, HostEntry, LinkSection, RemoteEntry, MAX_LOST_TIMEOUT_S};
pub use ordered::Ordered;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    pub name: String,
    /// Package directories or `.plexpkg` files (relative to the pipeline
    /// file), or installed packages as `name` or `name@version`.
    #[serde(default)]
    pub packages: Vec<String>,
    pub processors: Ordered<ProcessorEntry>,
    #[serde(default)]
    pub connections: Vec<ConnectionDecl>,
    /// How every input waits for its frames, unless its connection says
    /// otherwise.
    #[serde(default)]
    pub latency: LatencyMode,
    /// Subscriber slots each output port keeps for observers (`plexus tap`
    /// and the like) beside its consumers.
    #[serde(default = "default_observers")]
    pub observers: usize,
    /// Ports the run records from its first frame.
    #[serde(default)]
    pub record: Option<RecordSection>,
    /// How strictly every processor's permissions are enforced, unless a
    /// processor says otherwise; by where its package comes from when
    /// absent (`load::permissions`).
    pub sandbox: Option<SandboxMode>,
    /// What happens when the kernel cannot enforce part of the sandbox.
    #[serde(default)]
    pub sandbox_unavailable: SandboxUnavailable,
    /// Other hosts that run processors of the pipeline, by name (§16).
    #[serde(default)]
    pub hosts: BTreeMap<String, HostEntry>,
    /// How frames cross between hosts.
    pub link: Option<LinkSection>,
    /// The host this file runs on: set in a host's part, which the
    /// coordinator writes; `local` when absent.
    pub host: Option<String>,
    /// In a host's part: the other hosts' processors whose outputs this
    /// host's processors read.
    #[serde(default)]
    pub remote: BTreeMap<String, RemoteEntry>,
}

fn default_observers() -> usize {
    bus::settings::DEFAULT_OBSERVERS
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorEntry {
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Processors naming the same group share one worker process.
    pub worker: Option<String>,
    /// What happens when the processor's worker crashes.
    #[serde(default, deserialize_with = "restart::checked")]
    pub restart: Option<RestartSpec>,
    /// Giving up on this processor's worker stops the whole pipeline.
    #[serde(default)]
    pub critical: bool,
    /// How long its setup may take, in seconds (`load::deadlines`).
    pub setup_timeout_s: Option<u64>,
    /// How long one frame may take, in milliseconds.
    pub frame_timeout_ms: Option<u64>,
    /// How it is called when it has several inputs (`package::manifest::sync`); the
    /// manifest's default otherwise.
    pub sync: Option<SyncDecl>,
    /// How strictly its permissions are enforced; the pipeline's otherwise.
    pub sandbox: Option<SandboxMode>,
    /// Narrows what its package declares: each field named replaces the
    /// package's, and may only name what that allows.
    pub permissions: Option<PermissionsDecl>,
    /// Grants beyond what its package declares, printed at start.
    pub allow: Option<PermissionsDecl>,
    /// The host it runs on, a name of `hosts:`; the host running `plexus
    /// run` when absent.
    pub host: Option<String>,
}

impl ProcessorEntry {
    /// The entry a part's `remote:` processor stands as: its type, and the
    /// host it runs on.
    fn remote(type_name: String, host: String) -> Self {
        Self {
            type_name,
            config: serde_json::Map::new(),
            worker: None,
            restart: None,
            critical: false,
            setup_timeout_s: None,
            frame_timeout_ms: None,
            sync: None,
            sandbox: None,
            permissions: None,
            allow: None,
            host: Some(host),
        }
    }
}

/// A loaded pipeline and where it came from.
#[derive(Debug)]
pub struct Pipeline {
    pub path: PathBuf,
    pub file: PipelineFile,
    /// The file as YAML, from which a host's part copies its processors
    /// as they were written.
    pub raw: serde_yaml_ng::Value,
}

impl Pipeline {
    pub fn load(path: &Path) -> Result<Self, UserError> {
        Self::parse(path, &yaml::read(path, "pipeline")?)
    }

    /// Parses pipeline text; `path` names it in messages and anchors its
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, UserError> {
        let mut file: PipelineFile = yaml::parse(path, text)?;
        file.check_hosts()
            .map_err(|m| UserError::in_file(path, m))?;
        file.take_in_remote()
            .map_err(|m| UserError::in_file(path, m))?;
        Ok(Self {
            path: path.to_path_buf(),
            raw: yaml::parse(path, text)?,
            file,
        })
    }

    /// Puts a processor of `type_name` with `config` in the place of
    /// processor `id`, keeping its connections and its other settings.
    pub fn replace(
        &mut self,
        id: &str,
        type_name: &str,
        config: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), UserError> {
        let ids: Vec<String> = self
            .file
            .processors
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        let Some(entry) = self.file.processors.get_mut(id) else {
            return Err(UserError::Plain(format!(
                "pipeline `{}` has no processor `{}` to replace (its processors: {})",
                self.path.display(),
                crate::error::excerpt(id),
                ids.join(", ")
            )));
        };
        entry.type_name = type_name.to_string();
        entry.config = config;
        Ok(())
    }

    /// The directory relative paths in the pipeline are resolved against.
    pub fn dir(&self) -> &Path {
        dir_of(&self.path)
    }
}

impl PipelineFile {
    /// The host this file runs on: its `host:` (a host's part), else
    /// `local`.
    pub fn this_host(&self) -> &str {
        self.host.as_deref().unwrap_or(LOCAL_HOST)
    }

    /// Checks `hosts:`, `link:`, `host:` and `remote:` before anything is
    /// resolved: names, endpoints, timeouts, and that every host named is
    /// listed.
    fn check_hosts(&self) -> Result<(), String> {
        let file = self;
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
        let here = file.this_host();
        let known =
            |host: &str| host == here || host == LOCAL_HOST || file.hosts.contains_key(host);
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

    /// Puts each `remote:` processor first among the processors, as an
    /// entry of its own type on its host, so that connections from it are
    /// planned as any other.
    fn take_in_remote(&mut self) -> Result<(), String> {
        let remote: Vec<(String, ProcessorEntry)> = self
            .remote
            .iter()
            .map(|(id, entry)| {
                if self.processors.iter().any(|(other, _)| other == id) {
                    return Err(format!(
                        "processor `{id}` is both in `remote:` and in `processors:`"
                    ));
                }
                Ok((
                    id.clone(),
                    ProcessorEntry::remote(remote_type_name(id), entry.host.clone()),
                ))
            })
            .collect::<Result<_, String>>()?;
        self.processors.prepend(remote);
        Ok(())
    }
}

/// The hosts `hosts:` lists, for a message.
fn listed(file: &PipelineFile) -> String {
    match file.hosts.is_empty() {
        true => " (it lists none)".into(),
        false => format!(
            " (it lists: {})",
            file.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The directory of the pipeline file `path`, absolute, with its links
/// resolved when it exists: where workers run and relative paths point.
pub fn absolute_dir(path: &Path) -> PathBuf {
    let dir = dir_of(path);
    dir.canonicalize()
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// The directory of a pipeline file, `.` for a bare file name.
pub fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineFile, String> {
        yaml::parse(Path::new("p.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_file_parses_in_order() {
        let p = parse("name: x\nprocessors:\n  b: { type: t }\n  a: { type: t, config: { k: 1 } }\nconnections: [b.out -> a.in]\n")
            .unwrap();
        let ids: Vec<_> = p.processors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(p.processors.iter().nth(1).unwrap().1.config["k"], 1);
    }

    #[test]
    fn malformed_yaml_names_line_and_column() {
        let err = parse("name: x\nprocessors:\n  a: { type: t\n").unwrap_err();
        assert!(
            err.starts_with("p.yaml: ") && err.contains("line "),
            "{err}"
        );
    }

    #[test]
    fn duplicate_processor_ids_are_refused() {
        let err = parse("name: x\nprocessors:\n  a: { type: t }\n  a: { type: u }\n").unwrap_err();
        assert!(err.contains("duplicate processor id `a`"), "{err}");
    }

    #[test]
    fn a_bad_latency_is_refused_naming_the_field() {
        let bad = refused("name: x\nlatency: fast\nprocessors:\n  a: { type: t }\n");
        assert!(bad.contains("latency: unknown variant `fast`"), "{bad}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse("name: x\nprocessors:\n  a: { type: t, colour: red }\n").unwrap_err();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    fn refused(text: &str) -> String {
        Pipeline::parse(Path::new("p.yaml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_processor_on_an_unlisted_host_is_named() {
        let err = refused("name: x\nhosts: { b: { endpoint: tcp/10.0.0.2:7447 } }\nlink: { token_file: t }\nprocessors:\n  a: { type: t, host: c }\n");
        assert!(
            err.contains("processor `a` names host `c`") && err.contains("lists: b"),
            "{err}"
        );
    }

    #[test]
    fn other_hosts_need_a_token() {
        let err = refused("name: x\nhosts: { b: { endpoint: tcp/10.0.0.2:7447 } }\nprocessors:\n  a: { type: t, host: b }\n");
        assert!(err.contains("token_file"), "{err}");
    }

    #[test]
    fn local_is_not_a_host_to_list() {
        let err = refused("name: x\nhosts: { local: { endpoint: tcp/10.0.0.2:7447 } }\nprocessors:\n  a: { type: t }\n");
        assert!(err.contains("may not list `local`"), "{err}");
    }
}
