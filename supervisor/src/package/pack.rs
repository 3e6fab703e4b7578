//! `plexus pack`: a package directory into a `.plexpkg` zip holding the
//! manifest, what its languages need and a `SHA256SUMS` list. The same
//! directory always gives the same bytes: entries sorted, fixed timestamps
//! and permissions, nothing taken from the machine that packs.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::archive::{self, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES, SUMS_FILE};
use crate::codegen::{self, Target};
use crate::error::UserError;
use crate::language::Lang;
use crate::package::manifest::{Manifest, Package, MANIFEST_FILE};

/// A packed package, in memory.
pub struct Packed {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
    /// Files in the archive, the checksum list included.
    pub files: usize,
    /// Generated schema code that differed from the manifest's schemas
    /// and was rewritten before packing.
    pub regenerated: Vec<PathBuf>,
}

impl Packed {
    /// `<name>-<version>.plexpkg`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.plexpkg",
            self.manifest.package.name,
            self.manifest.version()
        )
    }
}

/// Directories never packed: build output, caches, environments.
const SKIPPED_DIRS: [&str; 4] = ["target", "__pycache__", "node_modules", "plexus-out"];

pub fn pack(dir: &Path) -> Result<Packed, UserError> {
    let package = Package::load_dir(dir)?;
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    files.insert(MANIFEST_FILE.to_string(), package.manifest_path());
    let languages: Vec<Lang> = package
        .manifest
        .processors
        .iter()
        .map(|p| p.language)
        .collect();
    let regenerated = regenerate(dir, &package.manifest, &languages)?;
    let wanted = |name: &str| {
        let top_level_doc = !name.contains('/')
            && ["README", "LICENSE", "COPYING"]
                .iter()
                .any(|d| name.starts_with(d));
        top_level_doc || languages.iter().any(|l| l.packs(name))
    };
    walk(dir, dir, &wanted, &mut files)?;
    for decl in &package.manifest.processors {
        if let Some((name, file)) = decl.language.built_file(dir, &decl.entry)? {
            files.insert(name, file);
        }
    }
    // Checked when the package loaded: regular files under ui/.
    for panel in &package.manifest.panels {
        files.insert(panel.module.clone(), dir.join(&panel.module));
    }
    let bytes = write_zip(&files)?;
    Ok(Packed {
        manifest: package.manifest,
        bytes,
        files: files.len() + 1,
        regenerated,
    })
}

/// Rewrites the generated code of the package's own schemas
/// (`schemas/<name>.py|.ts|.rs`, one per language its processors use), so
/// what is packed never drifts from the manifest. A Rust file rewritten
/// means the built plugin is older than its schemas: packing stops.
fn regenerate(
    dir: &Path,
    manifest: &Manifest,
    languages: &[Lang],
) -> Result<Vec<PathBuf>, UserError> {
    let mut targets: Vec<Target> = languages.iter().filter_map(|l| Target::of(*l)).collect();
    targets.sort();
    targets.dedup();
    let rewritten = codegen::regenerate(dir, &manifest.schema_layouts(), &targets)?;
    if let Some(stale) = rewritten.iter().find(|r| r.target == Target::Rust) {
        return Err(UserError::in_file(
            &stale.path,
            "differed from the manifest's schemas and has been regenerated; rebuild the plugin, then pack again",
        ));
    }
    Ok(rewritten.into_iter().map(|r| r.path).collect())
}

/// Collects the files under `dir` that `wanted` picks, by archive path.
fn walk(
    root: &Path,
    dir: &Path,
    wanted: &dyn Fn(&str) -> bool,
    files: &mut BTreeMap<String, PathBuf>,
) -> Result<(), UserError> {
    let read_err =
        |path: &Path, e: std::io::Error| UserError::in_file(path, format!("cannot read: {e}"));
    let entries = std::fs::read_dir(dir).map_err(|e| read_err(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| read_err(dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|e| read_err(&path, e))?;
        let relative = path
            .strip_prefix(root)
            .expect("walked from the root")
            .to_string_lossy()
            .into_owned();
        if meta.is_dir() {
            let environment = path.join("pyvenv.cfg").exists();
            if !SKIPPED_DIRS.contains(&name.as_str()) && !environment {
                walk(root, &path, wanted, files)?;
            }
            continue;
        }
        if !wanted(&relative) {
            continue;
        }
        if meta.file_type().is_symlink() {
            let target = path.canonicalize().map_err(|e| read_err(&path, e))?;
            let inside = root.canonicalize().is_ok_and(|r| target.starts_with(r));
            if !inside || !target.is_file() {
                return Err(UserError::in_file(
                    &path,
                    "is a symbolic link to something outside the package; copy the file in instead",
                ));
            }
        }
        files.insert(relative, path);
    }
    Ok(())
}

fn write_zip(files: &BTreeMap<String, PathBuf>) -> Result<Vec<u8>, UserError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let zip_err =
        |e: zip::result::ZipError| UserError::Plain(format!("cannot build the archive: {e}"));
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut sums = Vec::new();
    let mut total = 0u64;
    for (name, path) in files {
        let bytes = std::fs::read(path)
            .map_err(|e| UserError::in_file(path, format!("cannot read: {e}")))?;
        let size = bytes.len() as u64;
        total += size;
        if size > MAX_ENTRY_BYTES || total > MAX_TOTAL_BYTES {
            return Err(UserError::in_file(
                path,
                format!("is too large to pack (a package file may have {MAX_ENTRY_BYTES} bytes, a package {MAX_TOTAL_BYTES})"),
            ));
        }
        sums.push((name.as_str(), crate::digest::hex(&Sha256::digest(&bytes))));
        zip.start_file(name.as_str(), options).map_err(zip_err)?;
        zip.write_all(&bytes)
            .map_err(|e| UserError::Plain(format!("cannot build the archive: {e}")))?;
    }
    zip.start_file(SUMS_FILE, options).map_err(zip_err)?;
    zip.write_all(archive::format_sums(sums.into_iter()).as_bytes())
        .map_err(|e| UserError::Plain(format!("cannot build the archive: {e}")))?;
    Ok(zip.finish().map_err(zip_err)?.into_inner())
}
