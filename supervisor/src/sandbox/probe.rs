//! What this kernel can enforce of a sandbox: the Landlock ABI (file rules
//! since 1, truncation since 3, TCP ports since 4, device ioctls since 5,
//! signal and abstract-socket scopes since 6) and seccomp filters with the
//! trap action. A run with sandboxed workers says at start what it cannot
//! enforce, or refuses to start when its pipeline says so.

use crate::error::UserError;
use crate::load::permissions::granted::SandboxUnavailable;

/// What the running kernel supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// The Landlock ABI version; 0 without Landlock.
    pub landlock_abi: i32,
    /// Whether seccomp filters (and their trap action) are available.
    pub seccomp: bool,
}

impl Support {
    /// Asks the kernel.
    pub fn probe() -> Self {
        Self {
            landlock_abi: landlock_abi(),
            seccomp: seccomp_trap_available(),
        }
    }

    /// What a sandbox cannot enforce here, one phrase each.
    pub fn missing(&self) -> Vec<&'static str> {
        let abi = self.landlock_abi;
        let mut missing = Vec::new();
        if abi < 1 {
            missing.push("file access rules (Landlock)");
        } else {
            if abi < 3 {
                missing.push("truncation rules (Landlock ABI 3)");
            }
            if abi < 4 {
                missing.push("TCP port rules (Landlock ABI 4)");
            }
            if abi < 5 {
                missing.push("device ioctl rules (Landlock ABI 5)");
            }
            if abi < 6 {
                missing.push("signal and abstract socket isolation (Landlock ABI 6)");
            }
        }
        if !self.seccomp {
            missing.push("system call filters (seccomp)");
        }
        missing
    }
}

/// Warns naming what `support` cannot enforce of the sandbox of pipeline
/// `pipeline`, or refuses the run.
pub fn gate(support: &Support, pipeline: &str, then: SandboxUnavailable) -> Result<(), UserError> {
    let missing = support.missing();
    if missing.is_empty() {
        return Ok(());
    }
    let what = missing.join(", ");
    match then {
        SandboxUnavailable::Warn => {
            tracing::warn!(
                "this kernel cannot enforce part of the sandbox of pipeline `{pipeline}`: {what}; its workers run without it"
            );
            Ok(())
        }
        SandboxUnavailable::Refuse => Err(UserError::Plain(format!(
            "pipeline `{pipeline}` refuses to run where its sandbox cannot be enforced (sandbox_unavailable: refuse), and this kernel lacks {what}"
        ))),
    }
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`.
fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute and size 0 the call only reads the flag.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    abi.max(0) as i32
}

/// `seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &SECCOMP_RET_TRAP)`.
fn seccomp_trap_available() -> bool {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
    const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
    let action = SECCOMP_RET_TRAP;
    // SAFETY: the kernel reads one u32 from a live local.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_uint,
            &action as *const u32,
        )
    };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_kernel_misses_the_newer_rules() {
        let old = Support {
            landlock_abi: 2,
            seccomp: true,
        };
        let missing = old.missing();
        assert!(
            missing.contains(&"TCP port rules (Landlock ABI 4)"),
            "{missing:?}"
        );
        assert!(!missing.contains(&"file access rules (Landlock)"));
        let none = Support {
            landlock_abi: 0,
            seccomp: false,
        };
        assert_eq!(
            none.missing(),
            [
                "file access rules (Landlock)",
                "system call filters (seccomp)"
            ]
        );
        let refused = gate(&none, "demo", SandboxUnavailable::Refuse).unwrap_err();
        assert!(refused.to_string().contains("pipeline `demo`"), "{refused}");
        assert!(gate(&none, "demo", SandboxUnavailable::Warn).is_ok());
    }

    #[test]
    fn this_kernel_is_probed() {
        let here = Support::probe();
        // The machines plexus is tested on have both (Landlock ABI ≥ 6).
        assert!(here.landlock_abi >= 1 && here.seccomp, "{here:?}");
    }
}
