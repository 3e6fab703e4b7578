//! What a worker process applies to itself before any processor code runs
//! (docs/ARCHITECTURE.md §15): the supervisor confined the process with
//! Landlock between fork and exec; here the worker adds its seccomp filter,
//! for every thread it has, and the handler of the system calls that filter
//! traps. Every worker executable (native, Python) and the Deno bridge calls
//! [`enter`] first.

pub mod interpose;
mod seccomp;
mod trap;
pub mod violations;

use ipc_schemas::sandbox::{env, SandboxMode, WorkerSandbox};

pub use trap::take_syscall_violations;

/// The kinds of worker process, which differ in what their runtime needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerKind {
    /// `plexus-worker-native`: builtins and Rust plugins.
    Native,
    /// `plexus-worker-python`: embedded CPython.
    Python,
    /// `deno` running plexus's host script, through the bridge library.
    Deno,
}

impl WorkerKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkerKind::Native => "native",
            WorkerKind::Python => "python",
            WorkerKind::Deno => "deno",
        }
    }
}

/// Why a worker could not enter its sandbox; the worker stops rather than
/// run its processors unconfined.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    Malformed(String),
    #[error("the seccomp filter could not be built: {0}")]
    Filter(seccompiler::BackendError),
    #[error("the seccomp filter could not be installed: {0}")]
    Install(seccompiler::Error),
    #[error("the handler of trapped system calls could not be installed: {0}")]
    Handler(std::io::Error),
}

/// Reads the worker's sandbox from [`env::SANDBOX`] and applies it to the
/// whole process: `Ok(None)` when there is none (`sandbox: off`, or a
/// process started by hand). Call it before any processor is loaded; the
/// filter reaches the threads already running too.
pub fn enter(kind: WorkerKind) -> Result<Option<WorkerSandbox>, SandboxError> {
    let Some(json) = std::env::var_os(env::SANDBOX) else {
        return Ok(None);
    };
    let json = json
        .to_str()
        .ok_or_else(|| SandboxError::Malformed(format!("{} is not UTF-8", env::SANDBOX)))?;
    let sandbox = WorkerSandbox::from_json(json).map_err(SandboxError::Malformed)?;
    if sandbox.mode == SandboxMode::Off {
        return Ok(Some(sandbox));
    }
    violations::activate(&sandbox);
    trap::install(sandbox.mode).map_err(SandboxError::Handler)?;
    seccomp::install(&sandbox.permissions())?;
    tracing::debug!(
        "{} worker: seccomp filter installed ({} mode)",
        kind.name(),
        sandbox.mode
    );
    Ok(Some(sandbox))
}
