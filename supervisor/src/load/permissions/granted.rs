//! What the plan keeps of a processor's sandbox, and what a run does when
//! the kernel cannot enforce one: types the pipeline and the plan share,
//! in a file of their own so that neither imports the resolution.

use ipc_schemas::{Permissions, SandboxMode};
use serde::Deserialize;

/// What a run does when the kernel cannot enforce part of a sandbox
/// (`sandbox_unavailable:` in a pipeline).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxUnavailable {
    /// Run, and say what is not enforced.
    #[default]
    Warn,
    /// Refuse to start.
    Refuse,
}

/// What one processor may do, as the plan resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// Its own mode; its worker runs in the strictest of its processors'.
    pub mode: SandboxMode,
    /// Absolute paths; those that exist with their links resolved.
    pub permissions: Permissions,
    /// What the pipeline's `allow:` grants beyond the package.
    pub allowed: Permissions,
}
