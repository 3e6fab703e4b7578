//! Where a runtime's iceoryx2 files live, and their removal when it ends.
//!
//! Cleaning dead nodes can fail in iceoryx2 0.10 when a process died while
//! creating ports, so the only reliable way to leave `/dev/shm` clean is to
//! keep each runtime's files apart and delete them wholesale.

use std::path::{Path, PathBuf};

use ipc_schemas::Names;

const SHM_DIR: &str = "/dev/shm";

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
