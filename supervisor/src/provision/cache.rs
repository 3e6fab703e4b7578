//! plexus's cache (`$PLEXUS_CACHE_DIR`, else the user's cache directory)
//! and the one way anything enters it or the package store: built in a
//! hidden staging directory beside its final place, then renamed into place,
//! so an interrupted build never leaves a half-made directory that a later
//! run would trust.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where plexus caches environments, tools and extracted archives:
/// `$PLEXUS_CACHE_DIR`, else `$XDG_CACHE_HOME/plexus`, else
/// `~/.cache/plexus`.
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PLEXUS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("plexus")
}

/// A directory being built in `parent`, removed when dropped unless it was
/// renamed into place.
#[derive(Debug)]
pub struct Staging(Option<PathBuf>);

impl Staging {
    /// Creates `parent` if needed and a fresh [`staging_name`] in it.
    pub fn create(parent: &Path, what: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(parent)?;
        let path = parent.join(staging_name(what));
        // Left by an earlier process with the same pid that was killed.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path)?;
        Ok(Self(Some(path)))
    }

    pub fn path(&self) -> &Path {
        self.0.as_deref().expect("not placed yet")
    }

    /// Renames the directory to `dest`. Fails when `dest` exists, and the
    /// staging directory is then removed.
    pub fn place(mut self, dest: &Path) -> std::io::Result<()> {
        let path = self.0.take().expect("placed once");
        std::fs::rename(&path, dest).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&path);
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `.<what>-<pid>-<n>`: hidden, unique, and telling which process owns it,
/// so what a killed process left can be recognised and removed.
pub fn staging_name(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        ".{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Makes sure `dest` exists, building it with `build` in a staging
/// directory when `ready(dest)` says it is not there yet. Two processes may
/// build the same `dest` at once: the first rename wins and the other's
/// work is dropped, as both built the same thing.
pub fn build_once<E>(
    dest: &Path,
    ready: impl Fn(&Path) -> bool,
    staging_error: impl FnOnce(std::io::Error) -> E,
    build: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    if ready(dest) {
        return Ok(());
    }
    let parent = dest.parent().expect("a cache entry has a parent");
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let staging = Staging::create(parent, &format!("{name}.building")).map_err(staging_error)?;
    build(staging.path())?;
    // On failure another process placed the same entry first.
    let _ = staging.place(dest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_leaves_nothing_and_a_finished_one_is_placed_once() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("entry");
        let ready = |d: &Path| d.join("done").is_file();
        let failed: Result<(), String> = build_once(
            &dest,
            ready,
            |e| e.to_string(),
            |dir| {
                std::fs::write(dir.join("half"), b"").unwrap();
                Err("broke".into())
            },
        );
        assert_eq!(failed.unwrap_err(), "broke");
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
        let mut builds = 0;
        for _ in 0..2 {
            build_once(
                &dest,
                ready,
                |e| e.to_string(),
                |dir| {
                    builds += 1;
                    std::fs::write(dir.join("done"), b"").map_err(|e| e.to_string())
                },
            )
            .unwrap();
        }
        assert_eq!(builds, 1);
        assert!(ready(&dest));
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
    }
}
