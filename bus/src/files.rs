//! Where a runtime's iceoryx2 files live, and their removal when it ends.
//!
//! Cleaning dead nodes can fail in iceoryx2 0.10 when a process died while
//! creating ports, so the only reliable way to leave `/dev/shm` clean is to
//! keep each runtime's files apart and delete them wholesale.

use std::path::{Path, PathBuf};

use ipc_schemas::Names;

/// Where iceoryx2 keeps shared memory, and plexus its runtimes' files.
pub const SHM_DIR: &str = "/dev/shm";

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

    /// Records that process `pid` owns the runtime, so that a later run can
    /// tell the runtime was abandoned if `pid` is gone.
    /// The file appears whole (written aside, then renamed), so a watcher
    /// woken by its arrival always reads the pid.
    pub fn write_owner(&self, pid: u32) -> std::io::Result<()> {
        let file = self.owner_file();
        let partial = file.with_extension("partial");
        std::fs::write(&partial, pid.to_string())?;
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

fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
