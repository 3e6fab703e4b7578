//! What must be on disk before a worker can start, whatever its language:
//! the cache plexus keeps its environments and tools in, the installers it
//! runs on the user's behalf, and the worker binaries shipped beside
//! `plexus`. The languages (`crate::language`) build on these pieces.

pub mod cache;
pub mod installer;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// The file `name` installed beside the `plexus` executable: a worker
/// binary or the Deno bridge library.
pub fn beside_plexus(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the plexus executable")?;
    let dir = exe
        .parent()
        .context("the plexus executable has no directory")?;
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "`{name}` is missing from {} (build it with `cargo build --workspace`)",
            dir.display()
        );
    }
    Ok(path)
}
