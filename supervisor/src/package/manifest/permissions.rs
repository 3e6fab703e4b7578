//! A `permissions:` block (docs/ARCHITECTURE.md §15): what a processor may
//! do beyond what its worker itself needs — paths to read and write,
//! devices, network endpoints and ports, starting processes. Manifests
//! declare it per processor; pipelines narrow it (`permissions:`) or widen
//! it (`allow:`) with the same shape. Every entry is checked when the file
//! is read, so resolving it into a worker's sandbox cannot fail on form.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use ipc_schemas::Endpoint;
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::{ConfigField, ConfigType};
use crate::error::excerpt;

/// A `permissions:` (or `allow:`) block as written. A field left out is
/// `None`: nothing, in a manifest; the package's own, in a pipeline's
/// `permissions:`, which replaces only the fields it names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsDecl {
    pub read: Option<Vec<String>>,
    pub write: Option<Vec<String>>,
    pub devices: Option<Vec<String>>,
    pub network: Option<NetworkDecl>,
    pub spawn: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDecl {
    /// `host:port` (`[v6]:port` for an IPv6 address).
    pub connect: Option<Vec<String>>,
    /// Wide, so a port out of range is named rather than a parse error.
    pub listen: Option<Vec<i64>>,
}

/// The kinds of path a block lists, by field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Read,
    Write,
    Devices,
}

impl PathKind {
    pub const ALL: [PathKind; 3] = [PathKind::Read, PathKind::Write, PathKind::Devices];

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Read => "read",
            PathKind::Write => "write",
            PathKind::Devices => "devices",
        }
    }
}

/// What the paths of a block are relative to, which decides the forms
/// they may take.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// A manifest's: relative paths stay inside the package directory, and
    /// `{config.KEY}` names a string key of `config`.
    Manifest(&'a BTreeMap<String, ConfigField>),
    /// A pipeline's: relative to the pipeline's directory, as written.
    Pipeline,
}

/// One path entry, once checked.
#[derive(Debug, PartialEq, Eq)]
pub enum PathSpec<'a> {
    Absolute(&'a Path),
    /// Relative to the package directory (a manifest's) or the pipeline's.
    Relative(&'a Path),
    /// The value of config key `key` (a path relative to the pipeline's
    /// directory, or absolute), then `rest` beneath it.
    Config {
        key: &'a str,
        rest: &'a Path,
    },
}

const CONFIG_OPEN: &str = "{config.";

impl PermissionsDecl {
    /// The paths of kind `kind`, as written.
    pub fn paths(&self, kind: PathKind) -> Option<&[String]> {
        match kind {
            PathKind::Read => self.read.as_deref(),
            PathKind::Write => self.write.as_deref(),
            PathKind::Devices => self.devices.as_deref(),
        }
    }

    pub fn connect(&self) -> Option<&[String]> {
        self.network.as_ref().and_then(|n| n.connect.as_deref())
    }

    pub fn listen(&self) -> Option<&[i64]> {
        self.network.as_ref().and_then(|n| n.listen.as_deref())
    }

    /// Checks every entry; the message names the field (`permissions.read`),
    /// the caller the file and processor. `field` is the block's own name.
    pub fn check(&self, field: &str, scope: Scope) -> Result<(), String> {
        for kind in PathKind::ALL {
            for text in self.paths(kind).unwrap_or_default() {
                path_spec(text, scope)
                    .map_err(|why| format!("{field}.{} `{}` {why}", kind.name(), excerpt(text)))?;
            }
        }
        for text in self.connect().unwrap_or_default() {
            endpoint(text)
                .map_err(|why| format!("{field}.network.connect `{}` {why}", excerpt(text)))?;
        }
        for &port in self.listen().unwrap_or_default() {
            listen_port(port).map_err(|why| format!("{field}.network.listen port {port} {why}"))?;
        }
        Ok(())
    }

    /// The JSON shape `describe`, `types` and `pkg inspect` show: the
    /// manifest's, every field present.
    pub fn json(&self) -> Value {
        json!({
            "read": self.read.clone().unwrap_or_default(),
            "write": self.write.clone().unwrap_or_default(),
            "devices": self.devices.clone().unwrap_or_default(),
            "network": {
                "connect": self.connect().unwrap_or_default(),
                "listen": self.listen().unwrap_or_default(),
            },
            "spawn": self.spawn.unwrap_or(false),
        })
    }

    /// Each thing it asks for, as `read models/` or `connect host:443`.
    pub fn items(&self) -> Vec<String> {
        let mut items = Vec::new();
        for kind in PathKind::ALL {
            for path in self.paths(kind).unwrap_or_default() {
                items.push(format!("{} {path}", kind.name()));
            }
        }
        items.extend(
            self.connect()
                .unwrap_or_default()
                .iter()
                .map(|e| format!("connect {e}")),
        );
        items.extend(
            self.listen()
                .unwrap_or_default()
                .iter()
                .map(|p| format!("listen {p}")),
        );
        if self.spawn == Some(true) {
            items.push("spawn processes".to_string());
        }
        items
    }
}

/// What a processor asks for, for people: `read models/; connect
/// api.example.com:443`, or `no permissions`.
pub fn asks_for(items: &[String]) -> String {
    match items.is_empty() {
        true => "no permissions".to_string(),
        false => items.join("; "),
    }
}

/// Reads a checked path entry; the error says what is wrong with it.
pub fn path_spec<'a>(text: &'a str, scope: Scope<'a>) -> Result<PathSpec<'a>, String> {
    if text.is_empty() {
        return Err("is empty".to_string());
    }
    if text.contains('\0') {
        return Err("holds a NUL character".to_string());
    }
    let Scope::Manifest(config) = scope else {
        let path = Path::new(text);
        return Ok(match path.is_absolute() {
            true => PathSpec::Absolute(path),
            false => PathSpec::Relative(path),
        });
    };
    if let Some(after) = text.strip_prefix(CONFIG_OPEN) {
        let (key, rest) = after
            .split_once('}')
            .ok_or("opens `{config.` but does not close it with `}`")?;
        let rest = match rest {
            "" => Path::new(""),
            _ => Path::new(rest.strip_prefix('/').ok_or(
                "continues right after `{config.KEY}`; put a `/` between it and the rest",
            )?),
        };
        match config.get(key) {
            None => {
                return Err(format!(
                    "names config key `{}`, which the processor does not declare",
                    excerpt(key)
                ))
            }
            Some(field) if field.kind != ConfigType::String => {
                return Err(format!(
                    "names config key `{key}`, a {}; a path comes from a string",
                    field.kind.name()
                ))
            }
            Some(_) => {}
        }
        stays_inside(rest, "the config value's directory")?;
        return Ok(PathSpec::Config { key, rest });
    }
    if text.contains(CONFIG_OPEN) {
        return Err("uses `{config.KEY}` after its start; it may only begin a path".to_string());
    }
    let path = Path::new(text);
    if path.is_absolute() {
        return Ok(PathSpec::Absolute(path));
    }
    stays_inside(path, "the package directory")?;
    Ok(PathSpec::Relative(path))
}

/// Refuses a relative path that climbs out of the directory it is in.
fn stays_inside(path: &Path, what: &str) -> Result<(), String> {
    match path.components().any(|c| c == Component::ParentDir) {
        true => Err(format!("leaves {what} with `..`")),
        false => Ok(()),
    }
}

/// The longest host name there is.
const MAX_HOST_CHARS: usize = 253;

/// Reads `host:port` or `[v6]:port`.
pub fn endpoint(text: &str) -> Result<Endpoint, String> {
    const FORM: &str = "is not a host and port like example.com:443 or [::1]:8080";
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, port) = rest.split_once("]:").ok_or(FORM)?;
            host.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{FORM}: `{}` is not an IPv6 address", excerpt(host)))?;
            (host, port)
        }
        None => {
            let (host, port) = text.rsplit_once(':').ok_or(FORM)?;
            let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
            if host.is_empty() || host.len() > MAX_HOST_CHARS || !host.chars().all(fits) {
                return Err(format!("{FORM}: `{}` is not a host name", excerpt(host)));
            }
            (host, port)
        }
    };
    let port: i64 = port
        .parse()
        .map_err(|_| format!("{FORM}: `{}` is not a port number", excerpt(port)))?;
    let port = listen_port(port).map_err(|why| format!("names port {port}, which {why}"))?;
    Ok(Endpoint {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// A TCP port: 1 to 65535.
pub fn listen_port(port: i64) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| "is not a TCP port from 1 to 65535".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BTreeMap<String, ConfigField> {
        serde_yaml_ng::from_str("dir: { type: string }\nfps: { type: integer }\n").unwrap()
    }

    fn refusal(yaml: &str) -> String {
        let decl: PermissionsDecl = serde_yaml_ng::from_str(yaml).unwrap();
        decl.check("permissions", Scope::Manifest(&config()))
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn good_blocks_pass() {
        for yaml in [
            "{}",
            "read: [models/, /usr/share/x]",
            "write: ['{config.dir}', '{config.dir}/sub']",
            "devices: [/dev/video0]",
            "network: { connect: [api.example.com:443, '[::1]:8080', 10.0.0.1:1], listen: [8080, 65535] }",
            "spawn: true",
        ] {
            assert_eq!(refusal(yaml), "", "{yaml}");
        }
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            ("read: ['']", "permissions.read `` is empty"),
            (
                "read: [../up]",
                "permissions.read `../up` leaves the package directory",
            ),
            (
                "write: ['{config.nope}']",
                "names config key `nope`, which the processor does not declare",
            ),
            ("write: ['{config.fps}']", "config key `fps`, a integer"),
            ("write: ['{config.dir']", "does not close it"),
            ("write: ['{config.dir}x']", "put a `/` between"),
            (
                "write: ['{config.dir}/../x']",
                "leaves the config value's directory",
            ),
            ("read: ['a/{config.dir}']", "may only begin a path"),
            (
                "network: { connect: [example.com] }",
                "permissions.network.connect `example.com` is not a host and port",
            ),
            (
                "network: { connect: ['exa mple.com:80'] }",
                "is not a host name",
            ),
            (
                "network: { connect: [example.com:http] }",
                "`http` is not a port number",
            ),
            (
                "network: { connect: [example.com:0] }",
                "names port 0, which is not a TCP port",
            ),
            (
                "network: { connect: ['[nope]:80'] }",
                "is not an IPv6 address",
            ),
            (
                "network: { listen: [0] }",
                "permissions.network.listen port 0 is not a TCP port from 1 to 65535",
            ),
            (
                "network: { listen: [65536] }",
                "port 65536 is not a TCP port",
            ),
        ];
        for (yaml, expected) in cases {
            let err = refusal(yaml);
            assert!(err.contains(expected), "{yaml}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        for yaml in ["{ exec: true }", "network: { udp: [53] }"] {
            let err = serde_yaml_ng::from_str::<PermissionsDecl>(yaml).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{err}");
        }
    }

    #[test]
    fn the_forms_of_a_path() {
        let config = config();
        let scope = Scope::Manifest(&config);
        assert_eq!(
            path_spec("{config.dir}/a", scope).unwrap(),
            PathSpec::Config {
                key: "dir",
                rest: Path::new("a")
            }
        );
        assert_eq!(
            path_spec("/etc/x", scope).unwrap(),
            PathSpec::Absolute(Path::new("/etc/x"))
        );
        // A pipeline's own paths may climb: they are its user's.
        assert_eq!(
            path_spec("../data", Scope::Pipeline).unwrap(),
            PathSpec::Relative(Path::new("../data"))
        );
    }

    #[test]
    fn shown_as_asked() {
        let decl: PermissionsDecl =
            serde_yaml_ng::from_str("read: [models/]\nnetwork: { connect: [api.example.com:443] }")
                .unwrap();
        assert_eq!(
            asks_for(&decl.items()),
            "read models/; connect api.example.com:443"
        );
        assert_eq!(
            asks_for(&PermissionsDecl::default().items()),
            "no permissions"
        );
        assert_eq!(
            PermissionsDecl::default().json(),
            json!({"read": [], "write": [], "devices": [], "network": {"connect": [], "listen": []}, "spawn": false})
        );
    }
}
