//! Where a runtime's iceoryx2 files live, and their removal when it ends.
//!
//! Cleaning dead nodes can fail in iceoryx2 0.10 when a process died while
//! creating ports, so the only reliable way to leave `/dev/shm` clean is to
//! keep each runtime's files apart and delete them wholesale.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ipc_schemas::Names;

/// Where iceoryx2 keeps shared memory, and plexus its runtimes' files.
pub const SHM_DIR: &str = "/dev/shm";

/// The name, after the runtime's prefix, of iceoryx2 0.10's global
/// management segment: the hex SHA-1 of its type name
/// (`iceoryx2::node::global_management_segment::State`), `_node`, then
/// iceoryx2's version and the configured suffix (`.global_mgmt`). The
/// multi-user test fails if iceoryx2 ever names it otherwise, because the
/// segment iceoryx2 then makes itself is writable by everyone.
const NODE_COUNTER_SEGMENT: &str =
    "9204dd183d1c4d8e1ff592a30766ffa6765aa8b5_node.0_10_0.global_mgmt";

/// How long a runtime's files may be without an owner before they are
/// taken for an orphan: far more than a claim takes.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// iceoryx2's package version as its shared memory records it:
/// major << 32 | minor << 16 | patch, for 0.10.0.
const ICEORYX2_VERSION: u64 = 10 << 16;

/// The files of one runtime.
pub struct RuntimeFiles {
    prefix: String,
}

impl RuntimeFiles {
    pub fn new(names: &Names) -> Self {
        Self {
            prefix: names.file_prefix(),
        }
    }

    /// Prefix of every shared-memory object of the runtime.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// iceoryx2's root directory (node and service records) for the runtime.
    /// It sits on tmpfs beside the shared memory because node bookkeeping on
    /// a disk-backed `/tmp` is slow.
    pub fn root_dir(&self) -> PathBuf {
        Path::new(SHM_DIR).join(format!("{}root", self.prefix))
    }

    /// Deletes every file of the runtime. Call only when no process of the
    /// runtime is left. Returns how many entries were removed.
    pub fn remove_all(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            if !entry
                .file_name()
                .to_string_lossy()
                .starts_with(&self.prefix)
            {
                continue;
            }
            let path = entry.path();
            let result = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "could not remove runtime file: {e}")
                }
            }
        }
        removed
    }

    /// Makes the runtime's files before any process joins its bus, all of
    /// them owner-only, and records that process `pid` owns the runtime.
    ///
    /// iceoryx2 0.10 creates its root directory group-readable and its global
    /// management segment (the node counter every process of a runtime
    /// increments) writable by everyone: another user could then corrupt the
    /// counter and keep every new node of the runtime from starting. Made
    /// first, here, with mode 0700 and 0600, iceoryx2 opens them as they are,
    /// and there is no moment in which another user could open them.
    pub fn claim(&self, pid: u32) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(self.root_dir())?;
        self.create_node_counter()?;
        self.write_owner(pid)
    }

    /// Creates iceoryx2's global management segment, initialised as iceoryx2
    /// would: its version, then a node counter of 0 (16 bytes, `#[repr(C)]`).
    fn create_node_counter(&self) -> std::io::Result<()> {
        let path = Path::new(SHM_DIR).join(format!("{}{NODE_COUNTER_SEGMENT}", self.prefix));
        let mut segment = [0u8; 16];
        segment[..8].copy_from_slice(&ICEORYX2_VERSION.to_ne_bytes());
        owner_only_file(&path)?.write_all(&segment)
    }

    /// Records the owner's pid, so that a later run can tell the runtime was
    /// abandoned if `pid` is gone. The file appears whole (written aside,
    /// then renamed), so a watcher woken by its arrival always reads the pid.
    fn write_owner(&self, pid: u32) -> std::io::Result<()> {
        let file = self.owner_file();
        let partial = file.with_extension("partial");
        owner_only_file(&partial)?.write_all(pid.to_string().as_bytes())?;
        std::fs::rename(&partial, &file)
    }

    fn owner_file(&self) -> PathBuf {
        Path::new(SHM_DIR).join(format!("{}owner", self.prefix))
    }

    /// Every runtime that recorded an owner, with the owner's pid.
    fn owned() -> Vec<(String, u32)> {
        let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let prefix = name.strip_suffix("owner")?.to_string();
                let pid = std::fs::read_to_string(e.path())
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                prefix.starts_with("plexus_").then_some((prefix, pid))
            })
            .collect()
    }

    /// The runtimes whose supervisor is alive, as (id, supervisor pid),
    /// sorted by id. Runtimes whose supervisor died are left out.
    pub fn live_runtimes() -> Vec<(String, u32)> {
        let mut live: Vec<(String, u32)> = Self::owned()
            .into_iter()
            .filter(|(_, pid)| process_alive(*pid))
            .filter_map(|(prefix, pid)| {
                let id = prefix.strip_prefix("plexus_")?.strip_suffix('_')?;
                Some((id.to_string(), pid))
            })
            .collect();
        live.sort();
        live
    }

    /// Removes the files of every runtime whose owning supervisor is dead
    /// (killed with SIGKILL, say, before it could clean up), and says so in
    /// the log.
    pub fn remove_abandoned() {
        for (prefix, _) in Self::owned()
            .into_iter()
            .filter(|(_, pid)| !process_alive(*pid))
        {
            RuntimeFiles {
                prefix: prefix.clone(),
            }
            .remove_all();
            tracing::info!(
                "removed the shared memory of an abandoned runtime ({prefix}*), whose supervisor is gone"
            );
        }
        for prefix in Self::orphans(ORPHAN_AGE) {
            RuntimeFiles { prefix }.remove_all();
        }
    }

    /// The runtimes of this user with files in `/dev/shm` but no owner, for
    /// longer than `age`: an observer that joined a runtime just as it ended
    /// makes iceoryx2 create its root again, and a supervisor that found no
    /// room to record itself leaves its first files. No runtime is ever
    /// without an owner for longer than its claim takes.
    fn orphans(age: std::time::Duration) -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
            return Vec::new();
        };
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let owned: Vec<String> = Self::owned().into_iter().map(|(p, _)| p).collect();
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let prefix = name.strip_suffix("root")?.to_string();
                let meta = e.metadata().ok()?;
                let old = meta.modified().ok()?.elapsed().is_ok_and(|d| d > age);
                (prefix.starts_with("plexus_")
                    && meta.is_dir()
                    && meta.uid() == uid
                    && old
                    && !owned.contains(&prefix))
                .then_some(prefix)
            })
            .collect()
    }

    /// True while anything of the runtime is still in `/dev/shm`.
    pub fn any_left(&self) -> bool {
        std::fs::read_dir(SHM_DIR)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&self.prefix))
            })
            .unwrap_or(false)
    }
}

/// A new file only its owner can read or write.
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Whether process `pid` exists (a zombie not yet reaped does).
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn files_left_without_an_owner_are_removed_once_they_are_old() {
        let prefix = |age: &str| format!("plexus_orphan{age}{}_", std::process::id());
        let (old, young) = (prefix("old"), prefix("young"));
        for prefix in [&old, &young] {
            std::fs::create_dir(Path::new(SHM_DIR).join(format!("{prefix}root"))).unwrap();
            std::fs::write(Path::new(SHM_DIR).join(format!("{prefix}segment")), b"x").unwrap();
        }
        let root = std::fs::File::open(Path::new(SHM_DIR).join(format!("{old}root"))).unwrap();
        root.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();

        let orphans = RuntimeFiles::orphans(ORPHAN_AGE);
        assert!(orphans.contains(&old), "{orphans:?}");
        assert!(
            !orphans.contains(&young),
            "a claim may be under way: {orphans:?}"
        );
        RuntimeFiles::remove_abandoned();
        let left = |prefix: &str| {
            RuntimeFiles {
                prefix: prefix.into(),
            }
            .any_left()
        };
        assert!(!left(&old));
        assert!(left(&young));
        RuntimeFiles { prefix: young }.remove_all();
    }
}
