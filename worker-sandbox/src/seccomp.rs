//! The worker's seccomp filter (docs/ARCHITECTURE.md §15): system calls no
//! worker needs are trapped (the handler in `trap` kills or warns), and
//! those a processor may lack the permission for fail with an error.
//!
//! One seccomp filter has one action on a match, so the filter is several
//! programs, installed together; the kernel runs them all and takes the
//! strongest action (trap before errno before allow).

use std::collections::BTreeMap;

use ipc_schemas::Permissions;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::trap::NEVER_NEEDED;
use crate::SandboxError;

/// The type of a socket is the low bits of `socket`'s second argument; the
/// rest are flags (`SOCK_NONBLOCK`, `SOCK_CLOEXEC`).
const SOCK_TYPE_MASK: u64 = 0xf;

/// The rules of each action, by system call.
type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// Installs the filter for a worker whose processors may do `permissions`,
/// on every thread of the process.
pub fn install(permissions: &Permissions) -> Result<(), SandboxError> {
    for program in programs(permissions)? {
        seccompiler::apply_filter_all_threads(&program).map_err(SandboxError::Install)?;
    }
    Ok(())
}

/// The programs of the filter, one per action.
fn programs(permissions: &Permissions) -> Result<Vec<BpfProgram>, SandboxError> {
    let errno = |e: i32| SeccompAction::Errno(e as u32);
    [
        (trapped()?, SeccompAction::Trap),
        (spawning(permissions)?, errno(libc::EPERM)),
        (networking(permissions)?, errno(libc::EACCES)),
        // glibc falls back to `clone`, whose flags the filter can see.
        (
            Rules::from([(libc::SYS_clone3, Vec::new())]),
            errno(libc::ENOSYS),
        ),
    ]
    .into_iter()
    .filter(|(rules, _)| !rules.is_empty())
    .map(|(rules, action)| compile(rules, action))
    .collect()
}

fn compile(rules: Rules, action: SeccompAction) -> Result<BpfProgram, SandboxError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(SandboxError::Filter)?;
    SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .and_then(BpfProgram::try_from)
        .map_err(SandboxError::Filter)
}

fn condition(arg: u8, op: Op, value: u64) -> Result<SeccompCondition, SandboxError> {
    SeccompCondition::new(arg, Len::Dword, op, value).map_err(SandboxError::Filter)
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(conditions).map_err(SandboxError::Filter)
}

/// What no worker needs: trapped whatever its permissions.
fn trapped() -> Result<Rules, SandboxError> {
    let mut rules: Rules = NEVER_NEEDED
        .iter()
        .map(|&(nr, _)| (nr, Vec::new()))
        .collect();
    rules.insert(
        libc::SYS_socket,
        vec![
            rule(vec![condition(0, Op::Eq, libc::AF_PACKET as u64)?])?,
            rule(vec![condition(
                1,
                Op::MaskedEq(SOCK_TYPE_MASK),
                libc::SOCK_RAW as u64,
            )?])?,
        ],
    );
    Ok(rules)
}

/// Starting programs and processes, unless a processor may spawn: threads
/// (`clone` with `CLONE_THREAD`) stay allowed.
fn spawning(permissions: &Permissions) -> Result<Rules, SandboxError> {
    if permissions.spawn {
        return Ok(Rules::new());
    }
    let mut rules: Rules = spawn_calls()
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![condition(0, Op::MaskedEq(thread), 0)?])?],
    );
    Ok(rules)
}

#[cfg(target_arch = "x86_64")]
fn spawn_calls() -> Vec<i64> {
    vec![
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_fork,
        libc::SYS_vfork,
    ]
}

/// Other architectures have no `fork` or `vfork` calls: glibc uses `clone`.
#[cfg(not(target_arch = "x86_64"))]
fn spawn_calls() -> Vec<i64> {
    vec![libc::SYS_execve, libc::SYS_execveat]
}

/// Internet sockets: none without a network permission; with one, TCP
/// (Landlock checks its ports) and UDP (for name lookups; not port-checked)
/// only.
fn networking(permissions: &Permissions) -> Result<Rules, SandboxError> {
    let families = [libc::AF_INET, libc::AF_INET6];
    let rules = if permissions.uses_network() {
        let other_types = [libc::SOCK_RDM, libc::SOCK_SEQPACKET, libc::SOCK_DCCP];
        families
            .iter()
            .flat_map(|&family| other_types.iter().map(move |&kind| (family, kind)))
            .map(|(family, kind)| {
                rule(vec![
                    condition(0, Op::Eq, family as u64)?,
                    condition(1, Op::MaskedEq(SOCK_TYPE_MASK), kind as u64)?,
                ])
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        families
            .iter()
            .map(|&family| rule(vec![condition(0, Op::Eq, family as u64)?]))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(Rules::from([(libc::SYS_socket, rules)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_compiles() {
        let nothing = Permissions::default();
        assert_eq!(programs(&nothing).unwrap().len(), 4);
        let spawning = Permissions {
            spawn: true,
            listen: vec![8080],
            ..Permissions::default()
        };
        // Spawning allowed: no errno program for it.
        assert_eq!(programs(&spawning).unwrap().len(), 3);
    }
}
