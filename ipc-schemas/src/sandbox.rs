//! What a worker may do, as the supervisor resolved it from its processors'
//! declared permissions and the pipeline, and what a worker says when one of
//! its processors tried something it may not (docs/ARCHITECTURE.md §15).
//!
//! The supervisor hands a worker its [`WorkerSandbox`] as JSON in
//! [`env::SANDBOX`]; the worker reads it before anything else runs, since
//! its seccomp filter is applied then. Paths here are absolute.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Environment variables of a sandboxed worker.
pub mod env {
    /// The worker's [`super::WorkerSandbox`], as JSON. Absent: no sandbox
    /// (`sandbox: off`, or a process that is not a worker).
    pub const SANDBOX: &str = "PLEXUS_SANDBOX";
    /// The file descriptor of the worker's end of its shared-memory keeper
    /// socket: the supervisor opens `/dev/shm` files for writing on a
    /// sandboxed worker's behalf, for those that are its own.
    pub const SHM_KEEPER: &str = "PLEXUS_SHM_KEEPER";
}

/// How strictly a processor's permissions are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// Every rule enforced; a forbidden system call kills the worker.
    Strict,
    /// The same rules, but a forbidden system call fails with an error and
    /// the first violation of each kind is a warning, not a kill: for
    /// packages under development.
    Declared,
    /// Nothing enforced: only when the pipeline says so.
    Off,
}

impl SandboxMode {
    /// The word pipelines, tables and JSON use.
    pub fn name(self) -> &'static str {
        match self {
            SandboxMode::Strict => "strict",
            SandboxMode::Declared => "declared",
            SandboxMode::Off => "off",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Self::Strict, Self::Declared, Self::Off]
            .into_iter()
            .find(|m| m.name() == word)
    }
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A host and TCP port a processor may connect to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What one processor may do beyond what its worker itself needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// Files and directories (and what is beneath them) it may read.
    pub read: Vec<PathBuf>,
    /// Files and directories it may read, write, create and remove.
    pub write: Vec<PathBuf>,
    /// Device files it may open for reading and writing (and ioctl).
    pub devices: Vec<PathBuf>,
    /// TCP endpoints it may connect to.
    pub connect: Vec<Endpoint>,
    /// TCP ports it may listen on.
    pub listen: Vec<u16>,
    /// Whether it may start other processes.
    pub spawn: bool,
}

impl Permissions {
    /// Whether it asks for nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Everything `self` or `other` may do: a worker's processors share one
    /// process, so the kernel enforces their union.
    pub fn union(&self, other: &Permissions) -> Permissions {
        fn merged<T: Clone + Ord>(a: &[T], b: &[T]) -> Vec<T> {
            let mut all: Vec<T> = a.iter().chain(b).cloned().collect();
            all.sort();
            all.dedup();
            all
        }
        Permissions {
            read: merged(&self.read, &other.read),
            write: merged(&self.write, &other.write),
            devices: merged(&self.devices, &other.devices),
            connect: merged(&self.connect, &other.connect),
            listen: merged(&self.listen, &other.listen),
            spawn: self.spawn || other.spawn,
        }
    }

    /// Whether it uses the network at all.
    pub fn uses_network(&self) -> bool {
        !self.connect.is_empty() || !self.listen.is_empty()
    }
}

/// A worker's sandbox: its mode and each of its processors' permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSandbox {
    pub mode: SandboxMode,
    /// By processor id.
    pub processors: BTreeMap<String, Permissions>,
}

impl WorkerSandbox {
    /// What the worker's process as a whole may do.
    pub fn permissions(&self) -> Permissions {
        self.processors
            .values()
            .fold(Permissions::default(), |all, p| all.union(p))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a sandbox serializes")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("{} is not a sandbox: {e}", env::SANDBOX))
    }
}

/// What a processor tried that it may not. Externally tagged: it crosses
/// the control channel in bincode, which cannot decode a tag field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Denied {
    /// Open this path for reading.
    Read(String),
    /// Open (or create, or remove) this path for writing.
    Write(String),
    /// Open this device.
    Device(String),
    /// Connect to this endpoint (`host:port`).
    Connect(String),
    /// Listen on this port.
    Listen(u16),
    /// Start this program (or any process).
    Spawn(String),
    /// Open this `/dev/shm` file, which is another worker's, for writing.
    SharedMemory(String),
    /// Make this system call, which no worker needs.
    Syscall(String),
}

impl Denied {
    /// The permission's name, as events and JSON give it.
    pub fn permission(&self) -> &'static str {
        match self {
            Denied::Read(_) => "read",
            Denied::Write(_) => "write",
            Denied::Device(_) => "device",
            Denied::Connect(_) => "connect",
            Denied::Listen(_) => "listen",
            Denied::Spawn(_) => "spawn",
            Denied::SharedMemory(_) => "shared_memory",
            Denied::Syscall(_) => "syscall",
        }
    }

    /// What was tried, as a path, endpoint, port, program or call name.
    pub fn target(&self) -> String {
        match self {
            Denied::Read(t)
            | Denied::Write(t)
            | Denied::Device(t)
            | Denied::Connect(t)
            | Denied::Spawn(t)
            | Denied::SharedMemory(t)
            | Denied::Syscall(t) => t.clone(),
            Denied::Listen(port) => port.to_string(),
        }
    }
}

/// What became of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationAction {
    /// The call failed with an error the processor sees.
    Denied,
    /// `sandbox: declared`: the call failed, and this is the first of its
    /// kind, so it is a warning.
    Warned,
    /// The worker was killed (a forbidden system call under `strict`).
    Killed,
}

impl ViolationAction {
    pub fn name(self) -> &'static str {
        match self {
            ViolationAction::Denied => "denied",
            ViolationAction::Warned => "warned",
            ViolationAction::Killed => "killed",
        }
    }
}

/// One processor's attempt at something outside its permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub processor: String,
    pub denied: Denied,
    pub action: ViolationAction,
}

impl fmt::Display for Violation {
    /// The one sentence users see: "processor `invert` may not open
    /// /etc/passwd for reading: not in its permissions".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = &self.processor;
        match &self.denied {
            Denied::Read(path) => write!(
                f,
                "processor `{who}` may not open {path} for reading: not in its permissions"
            ),
            Denied::Write(path) => write!(
                f,
                "processor `{who}` may not open {path} for writing: not in its permissions"
            ),
            Denied::Device(path) => write!(
                f,
                "processor `{who}` may not open device {path}: not in its permissions"
            ),
            Denied::Connect(endpoint) => write!(
                f,
                "processor `{who}` may not connect to {endpoint}: not in its permissions"
            ),
            Denied::Listen(port) => write!(
                f,
                "processor `{who}` may not listen on port {port}: not in its permissions"
            ),
            Denied::Spawn(program) => write!(
                f,
                "processor `{who}` may not start {program}: spawning processes is not in its permissions"
            ),
            Denied::SharedMemory(name) => write!(
                f,
                "processor `{who}` may not open {name} for writing: it is another worker's shared memory"
            ),
            Denied::Syscall(call) => write!(
                f,
                "processor `{who}` made the system call `{call}`, which no worker may make: sandbox violation"
            ),
        }?;
        match self.action {
            ViolationAction::Denied => Ok(()),
            ViolationAction::Warned => {
                f.write_str(" (sandbox: declared, so only this first one is reported)")
            }
            ViolationAction::Killed => f.write_str(" (its worker was killed)"),
        }
    }
}

impl Violation {
    /// The event that tells it.
    pub fn event(&self) -> crate::EventKind {
        crate::EventKind::SandboxViolation {
            processor: self.processor.clone(),
            permission: self.denied.permission().to_string(),
            target: self.denied.target(),
            action: self.action.name().to_string(),
            message: self.to_string(),
        }
    }
}

/// How the line starts that a worker killed for a forbidden system call
/// writes to stderr before it dies: `plexus-sandbox: system call <name>
/// (<nr>)`. The supervisor reads the name back with [`trapped_call`].
pub const SYSCALL_MARKER: &str = "plexus-sandbox: system call ";

/// The system call a marker line names, if `line` is one.
pub fn trapped_call(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(SYSCALL_MARKER)?;
    let (name, number) = rest.split_once(' ')?;
    let number = number.strip_prefix('(')?.strip_suffix(')')?;
    let plausible = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && number.parse::<i64>().is_ok();
    plausible.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_line_names_its_call() {
        let line = format!("{SYSCALL_MARKER}process_vm_readv (310)");
        assert_eq!(trapped_call(&line), Some("process_vm_readv"));
        assert_eq!(trapped_call("plexus-sandbox: system call ptrace"), None);
        assert_eq!(trapped_call("processor printed: system call x (1)"), None);
    }

    #[test]
    fn the_sentence_names_processor_path_and_permission() {
        let v = Violation {
            processor: "invert".into(),
            denied: Denied::Read("/etc/passwd".into()),
            action: ViolationAction::Denied,
        };
        assert_eq!(
            v.to_string(),
            "processor `invert` may not open /etc/passwd for reading: not in its permissions"
        );
    }

    #[test]
    fn a_violation_crosses_the_control_channel() {
        let report = crate::Report::Violation(Violation {
            processor: "invert".into(),
            denied: Denied::SharedMemory("/dev/shm/plexus_x".into()),
            action: ViolationAction::Denied,
        });
        let bytes = crate::wire::encode(&report).unwrap();
        assert_eq!(crate::wire::decode::<crate::Report>(&bytes).unwrap(), report);
    }

    #[test]
    fn a_union_keeps_each_entry_once() {
        let a = Permissions {
            read: vec!["/a".into(), "/b".into()],
            listen: vec![80],
            ..Default::default()
        };
        let b = Permissions {
            read: vec!["/b".into()],
            spawn: true,
            ..Default::default()
        };
        let u = a.union(&b);
        assert_eq!(u.read, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(u.spawn);
        assert_eq!(u.listen, vec![80]);
    }

    #[test]
    fn a_sandbox_survives_json() {
        let s = WorkerSandbox {
            mode: SandboxMode::Declared,
            processors: [(
                "p".to_string(),
                Permissions {
                    connect: vec![Endpoint {
                        host: "127.0.0.1".into(),
                        port: 9,
                    }],
                    ..Default::default()
                },
            )]
            .into(),
        };
        assert_eq!(WorkerSandbox::from_json(&s.to_json()).unwrap(), s);
    }
}
