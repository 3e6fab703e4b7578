//! A worker's Landlock ruleset (§15): what its process may read, write and
//! execute, which TCP ports it may bind and connect to, and that it may
//! neither signal nor reach the abstract sockets of processes outside its
//! sandbox. The [`Policy`] is plain data, kept with the worker's recipe so
//! every process it starts gets the same; [`Policy::ruleset`] turns it into
//! a kernel ruleset in the supervisor before the fork, so that the child
//! only has to call `restrict_self`. Best effort: rights the kernel's ABI
//! lacks are left out (the probe said so at start).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ipc_schemas::Permissions;
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, Scope, ABI,
};

use crate::language::SharedMemory;

/// The newest ABI whose rights plexus asks for: rights added later (such as
/// pathname unix socket rules) are not handled, so they stay allowed.
const ABI_USED: ABI = ABI::V7;

/// What every worker reads: its libraries, the dynamic loader's
/// configuration, the time zone, `/proc` and `/sys` (CPU counts, its own
/// status) and the random and zero devices.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/proc",
    "/sys",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
];

/// What every worker writes.
const SYSTEM_WRITE: &[&str] = &["/dev/null"];

/// Where the system's programs are, which a worker that may spawn runs.
const SYSTEM_EXECUTE: &[&str] = &["/usr", "/bin", "/sbin"];

/// The dynamic loaders an executable may name: the kernel opens the
/// worker's own executable and its loader for execution, so both may be
/// executed even when spawning is not allowed (seccomp refuses `execve`
/// then).
const LOADERS: &[&str] = &[
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
];

/// Where shared memory lives.
const SHM: &str = "/dev/shm";

/// The rights a path is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Read,
    ReadWrite,
    Execute,
}

impl Grant {
    fn access(self) -> BitFlags<AccessFs> {
        let read = AccessFs::ReadFile | AccessFs::ReadDir;
        match self {
            Grant::Read => read,
            Grant::ReadWrite => AccessFs::from_all(ABI_USED) & !AccessFs::Execute,
            Grant::Execute => read | AccessFs::Execute,
        }
    }
}

/// Everything a worker's Landlock ruleset allows, but the runtime's
/// iceoryx2 directory, known only when it is spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    paths: Vec<(PathBuf, Grant)>,
    connect: Vec<u16>,
    listen: Vec<u16>,
}

impl Policy {
    /// The policy of a worker started as `program`, whose processors may
    /// do `permissions`, which needs `needs` to start and writes its shared
    /// memory as `shm` says.
    pub fn of(
        program: &Path,
        permissions: &Permissions,
        needs: Vec<PathBuf>,
        shm: SharedMemory,
    ) -> Self {
        let system =
            |list: &'static [&str], grant| list.iter().map(move |p| (PathBuf::from(p), grant));
        let declared = |list: &[PathBuf], grant| {
            list.iter()
                .map(move |p| (p.clone(), grant))
                .collect::<Vec<_>>()
        };
        let mut paths: Vec<(PathBuf, Grant)> = system(SYSTEM_READ, Grant::Read)
            .chain(system(SYSTEM_WRITE, Grant::ReadWrite))
            .chain(program.parent().map(|dir| (dir.to_path_buf(), Grant::Read)))
            .chain(std::iter::once((program.to_path_buf(), Grant::Execute)))
            .chain(system(LOADERS, Grant::Execute))
            .chain(needs.into_iter().map(|p| (p, Grant::Read)))
            .collect();
        paths.push((
            PathBuf::from(SHM),
            match shm {
                SharedMemory::Direct => Grant::ReadWrite,
                SharedMemory::Keeper => Grant::Read,
            },
        ));
        paths.extend(declared(&permissions.read, Grant::Read));
        paths.extend(declared(&permissions.write, Grant::ReadWrite));
        paths.extend(declared(&permissions.devices, Grant::ReadWrite));
        if permissions.spawn {
            paths.extend(system(SYSTEM_EXECUTE, Grant::Execute));
            paths.extend(declared(&permissions.read, Grant::Execute));
        }
        let mut connect: Vec<u16> = permissions.connect.iter().map(|e| e.port).collect();
        connect.sort_unstable();
        connect.dedup();
        Self {
            paths,
            connect,
            listen: permissions.listen.clone(),
        }
    }

    /// The paths granted, each with its rights (a path may appear more than
    /// once: its rights add up).
    pub fn paths(&self) -> &[(PathBuf, Grant)] {
        &self.paths
    }

    /// The kernel ruleset, with `runtime_root` (the runtime's iceoryx2
    /// directory) read-write. Paths that do not exist are left out.
    pub fn ruleset(&self, runtime_root: &Path) -> Result<RulesetCreated> {
        let net = AccessNet::BindTcp | AccessNet::ConnectTcp;
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(ABI_USED))?
            .handle_access(net)?
            .scope(Scope::AbstractUnixSocket | Scope::Signal)?
            .create()
            .context("creating a Landlock ruleset")?;
        let root = (runtime_root.to_path_buf(), Grant::ReadWrite);
        for (path, grant) in self.paths.iter().chain(std::iter::once(&root)) {
            let Ok(fd) = PathFd::new(path) else {
                tracing::debug!("sandbox: {} does not exist; no rule for it", path.display());
                continue;
            };
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, grant.access()))
                .with_context(|| format!("granting {}", path.display()))?;
        }
        let ports = self
            .connect
            .iter()
            .map(|&port| NetPort::new(port, AccessNet::ConnectTcp))
            .chain(
                self.listen
                    .iter()
                    .map(|&port| NetPort::new(port, AccessNet::BindTcp)),
            );
        for port in ports {
            ruleset = ruleset.add_rule(port).context("granting a TCP port")?;
        }
        Ok(ruleset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::Endpoint;

    fn granted(policy: &Policy, path: &str) -> Vec<Grant> {
        policy
            .paths()
            .iter()
            .filter(|(p, _)| p == Path::new(path))
            .map(|(_, g)| *g)
            .collect()
    }

    #[test]
    fn declared_paths_and_ports_are_granted_and_spawning_executes() {
        let permissions = Permissions {
            read: vec!["/data/in".into()],
            write: vec!["/data/out".into()],
            devices: vec!["/dev/video0".into()],
            connect: vec![Endpoint {
                host: "localhost".into(),
                port: 9000,
            }],
            listen: vec![8080],
            spawn: false,
        };
        let policy = Policy::of(
            Path::new("/opt/plexus/plexus-worker-python"),
            &permissions,
            vec!["/opt/python".into()],
            SharedMemory::Keeper,
        );
        assert_eq!(granted(&policy, "/data/in"), [Grant::Read]);
        assert_eq!(granted(&policy, "/data/out"), [Grant::ReadWrite]);
        assert_eq!(granted(&policy, "/dev/video0"), [Grant::ReadWrite]);
        assert_eq!(granted(&policy, "/opt/python"), [Grant::Read]);
        assert_eq!(granted(&policy, "/opt/plexus"), [Grant::Read]);
        assert_eq!(granted(&policy, "/dev/shm"), [Grant::Read]);
        assert_eq!(granted(&policy, "/etc/passwd"), []);
        let executed: Vec<&Path> = policy
            .paths()
            .iter()
            .filter(|(_, g)| *g == Grant::Execute)
            .map(|(p, _)| p.as_path())
            .collect();
        // Only the worker itself and the dynamic loader.
        assert!(executed.contains(&Path::new("/opt/plexus/plexus-worker-python")));
        assert!(executed.iter().all(|p| *p == Path::new("/opt/plexus/plexus-worker-python")
            || LOADERS.iter().any(|l| Path::new(l) == *p)), "{executed:?}");
        assert_eq!(
            (policy.connect.as_slice(), policy.listen.as_slice()),
            (&[9000][..], &[8080][..])
        );

        let spawning = Permissions {
            spawn: true,
            ..permissions
        };
        let policy = Policy::of(
            Path::new("/opt/deno/deno"),
            &spawning,
            Vec::new(),
            SharedMemory::Direct,
        );
        assert_eq!(granted(&policy, "/dev/shm"), [Grant::ReadWrite]);
        assert_eq!(granted(&policy, "/data/in"), [Grant::Read, Grant::Execute]);
        assert!(granted(&policy, "/usr").contains(&Grant::Execute));
    }

    #[test]
    fn read_write_never_executes() {
        assert!(!Grant::ReadWrite.access().contains(AccessFs::Execute));
        assert!(Grant::ReadWrite
            .access()
            .contains(AccessFs::MakeReg | AccessFs::Truncate));
        assert_eq!(Grant::Read.access(), AccessFs::ReadFile | AccessFs::ReadDir);
    }
}
