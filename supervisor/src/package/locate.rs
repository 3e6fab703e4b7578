//! Finds the package a pipeline's `packages:` entry means: a directory
//! (relative to the pipeline), a `.plexpkg` file (verified and extracted once
//! into the cache), or an installed `name` / `name@version`.

use std::io::BufReader;
use std::path::Path;

use super::archive::Archive;
use super::manifest::{Package, Source, MANIFEST_FILE};
use super::store::{self, Spec, Store};
use crate::error::UserError;
use crate::provision::cache;

pub const ARCHIVE_EXTENSION: &str = "plexpkg";

/// The package `entry` names; `pipeline` is the file that names it and
/// `base` the directory its relative paths start from.
pub fn locate(pipeline: &Path, base: &Path, entry: &str) -> Result<Package, UserError> {
    let path = base.join(entry);
    if path.is_dir() {
        return Package::load_dir(&path);
    }
    let is_archive = path.extension().is_some_and(|e| e == ARCHIVE_EXTENSION);
    if is_archive && path.is_file() {
        return from_archive(&path);
    }
    let not_found = || {
        UserError::in_file(
            pipeline,
            format!("package `{entry}` not found (looked in {})", path.display()),
        )
    };
    if is_archive || entry.contains('/') {
        return Err(not_found());
    }
    match Spec::parse(entry) {
        Ok(spec) => Store::open()?
            .find(&spec)
            .map_err(|m| UserError::in_file(pipeline, m))?
            .load(),
        Err(_) if !entry.contains('@') => Err(not_found()),
        Err(m) => Err(UserError::in_file(pipeline, m)),
    }
}

/// A package archive, extracted into the cache under its own hash the first
/// time a pipeline uses it.
fn from_archive(path: &Path) -> Result<Package, UserError> {
    let sha256 = crate::digest::file_sha256(path)
        .map_err(|e| UserError::in_file(path, format!("cannot read: {e}")))?;
    let cache = cache::root().join("packages");
    // The first 16 bytes of the hash name the extracted directory.
    let dest = cache.join(&sha256[..32]);
    if !dest.join(MANIFEST_FILE).is_file() {
        let file = std::fs::File::open(path)
            .map_err(|e| UserError::in_file(path, format!("cannot read: {e}")))?;
        let mut archive = Archive::open(BufReader::new(file), path)?;
        archive.manifest()?;
        // Another run may have extracted the same archive meanwhile.
        if let Err(e) = store::unpack(&mut archive, &cache, &dest) {
            if !dest.join(MANIFEST_FILE).is_file() {
                return Err(e);
            }
        }
    }
    let mut package = Package::load_dir(&dest)?;
    package.source = Source::Archive { sha256 };
    Ok(package)
}
