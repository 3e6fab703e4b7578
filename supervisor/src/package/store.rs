//! The package store: installed packages under the user's data directory,
//! one directory per version (`<data>/packages/<name>/<version>/`). A
//! package enters it whole or not at all: it is extracted and verified in a
//! staging directory inside the store and renamed into place. Changes to the
//! store take its lock, one at a time.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use semver::Version;
use thiserror::Error;

use super::archive::{parse_sums, Archive, SUMS_FILE};
use super::builtins;
use super::manifest::{is_package_name, Manifest, Package, Source};
use crate::error::UserError;
use crate::provision::cache::{staging_name, Staging};

/// The user's data directory: `$PLEXUS_DATA_DIR`, else
/// `$XDG_DATA_HOME/plexus`, else `~/.local/share/plexus`.
pub fn data_dir() -> Result<PathBuf, UserError> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    var("PLEXUS_DATA_DIR")
        .or_else(|| var("XDG_DATA_HOME").map(|d| d.join("plexus")))
        .or_else(|| var("HOME").map(|h| h.join(".local/share/plexus")))
        .ok_or_else(|| {
            UserError::Plain(
                "cannot tell where to keep packages: set PLEXUS_DATA_DIR or HOME".to_string(),
            )
        })
}

/// `name` or `name@version`, as users name installed packages.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub version: Option<Version>,
}

impl Spec {
    /// The error says what in `text` is not of that form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (text, None),
        };
        if !is_package_name(name) {
            return Err(format!("`{text}` is not a package name or NAME@VERSION"));
        }
        let version = version
            .map(|v| {
                Version::parse(v)
                    .map_err(|_| format!("`{v}` in `{text}` is not a version like 1.2.0"))
            })
            .transpose()?;
        Ok(Self {
            name: name.to_string(),
            version,
        })
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One installed package version.
#[derive(Debug)]
pub struct Installed {
    pub name: String,
    pub version: Version,
    pub dir: PathBuf,
}

/// The file in an installed (or cached) package's directory that holds the
/// SHA-256 of the archive it was extracted from: the hash a lockfile pins.
/// Hidden, so it is never packed, and written before the directory is
/// renamed into place, so it is there whenever the package is.
pub const ARCHIVE_SHA256_FILE: &str = ".plexus-archive.sha256";

impl Installed {
    /// The SHA-256 of the archive this package was installed from. A
    /// package installed by a plexus that kept no such record has none.
    pub fn archive_sha256(&self) -> Result<String, String> {
        let text = std::fs::read_to_string(self.dir.join(ARCHIVE_SHA256_FILE)).map_err(|_| {
            format!(
                "package `{}@{}` was installed by an older plexus, which kept no archive hash: reinstall it (`plexus pkg remove {0}@{1}`, then `plexus pkg install`)",
                self.name, self.version
            )
        })?;
        let hash = text.trim();
        match hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            true => Ok(hash.to_ascii_lowercase()),
            false => Err(format!(
                "{}: not a sha256 in hex",
                self.dir.join(ARCHIVE_SHA256_FILE).display()
            )),
        }
    }

    /// Checks the installed files against the `SHA256SUMS` installed with
    /// them: every listed file as listed, and no other file (the checksum
    /// list and the archive hash aside). The error names the first file
    /// that differs.
    pub fn check_files(&self) -> Result<(), String> {
        let id = format!("{}@{}", self.name, self.version);
        let sums = std::fs::read(self.dir.join(SUMS_FILE))
            .map_err(|e| format!("package `{id}`: cannot read its {SUMS_FILE}: {e}"))?;
        let sums = parse_sums(&sums).map_err(|m| format!("package `{id}`: {SUMS_FILE}: {m}"))?;
        let mut found = Vec::new();
        files_under(&self.dir, &self.dir, &mut found)
            .map_err(|e| format!("package `{id}`: cannot list its files: {e}"))?;
        for name in &found {
            if name == SUMS_FILE || name == ARCHIVE_SHA256_FILE {
                continue;
            }
            let Some(listed) = sums.get(name) else {
                return Err(format!(
                    "package `{id}`: file `{name}` was added to it after it was installed"
                ));
            };
            let now = crate::digest::file_sha256(&self.dir.join(name))
                .map_err(|e| format!("package `{id}`: cannot read `{name}`: {e}"))?;
            if &now != listed {
                return Err(format!(
                    "package `{id}`: file `{name}` changed after it was installed"
                ));
            }
        }
        if let Some(gone) = sums.keys().find(|n| !found.contains(n)) {
            return Err(format!(
                "package `{id}`: file `{gone}` was removed after it was installed"
            ));
        }
        Ok(())
    }

    pub fn load(&self) -> Result<Package, UserError> {
        let mut package = Package::load_dir(&self.dir)?;
        package.source = Source::Store;
        Ok(package)
    }
}

pub struct Store {
    root: PathBuf,
}

/// Why an install was refused. A clash with what is installed is told apart
/// from a bad archive, so that an uploader can answer 409 for the one and
/// 400 for the other; either way the store is left as it was.
#[derive(Debug, Error)]
pub enum InstallError {
    /// The version, or a processor type the package declares, is already
    /// installed (or is a builtin).
    #[error("{0}")]
    Conflict(String),
    /// The archive itself is refused, or the store cannot be written.
    #[error(transparent)]
    Refused(#[from] UserError),
}

/// The file in the store whose lock installs and removals hold.
const LOCK_FILE: &str = ".lock";

impl Store {
    pub fn open() -> Result<Self, UserError> {
        Ok(Self {
            root: data_dir()?.join("packages"),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every installed version, by name then version. Staging directories
    /// (hidden) and anything not laid out as the store lays it are skipped.
    pub fn installed(&self) -> Vec<Installed> {
        let mut all = Vec::new();
        for name_dir in subdirs(&self.root) {
            let Some(name) = file_name(&name_dir).filter(|n| is_package_name(n)) else {
                continue;
            };
            for version_dir in subdirs(&name_dir) {
                if let Some(version) = file_name(&version_dir).and_then(|v| Version::parse(&v).ok())
                {
                    all.push(Installed {
                        name: name.clone(),
                        version,
                        dir: version_dir,
                    });
                }
            }
        }
        all.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        all
    }

    /// The installed package `spec` names: the given version, or the
    /// highest. The error says what is installed instead.
    pub fn find(&self, spec: &Spec) -> Result<Installed, String> {
        let versions: Vec<Installed> = self
            .installed()
            .into_iter()
            .filter(|i| i.name == spec.name)
            .collect();
        let listed = || {
            versions
                .iter()
                .map(|i| i.version.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &spec.version {
            _ if versions.is_empty() => Err(format!(
                "package `{spec}` is not installed (see `plexus pkg list`)"
            )),
            Some(wanted) => {
                let text = listed();
                versions
                    .into_iter()
                    .find(|i| &i.version == wanted)
                    .ok_or_else(|| {
                        format!("package `{spec}` is not installed (installed versions: {text})")
                    })
            }
            None => Ok(versions.into_iter().last().expect("not empty")),
        }
    }

    /// Waits for, then holds until dropped, the store's lock (an flock on
    /// its lock file). Every change to the store holds it from its checks to
    /// its rename, so what the checks found (a version absent, a processor
    /// type free) is still so when the store changes.
    fn lock(&self) -> Result<File, UserError> {
        let path = self.root.join(LOCK_FILE);
        let io = |e: std::io::Error| {
            UserError::in_file(&path, format!("cannot lock the package store: {e}"))
        };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    /// Installs a verified archive; refuses a version already installed and
    /// processor types another installed package (or a builtin) declares.
    pub fn install<R: Read + Seek>(
        &self,
        archive: &mut Archive<R>,
    ) -> Result<Installed, InstallError> {
        let manifest = archive.manifest()?;
        let name = manifest.package.name.clone();
        let version = manifest.version();
        let dest = self.root.join(&name).join(version.to_string());
        let _lock = self.lock()?;
        if dest.exists() {
            return Err(InstallError::Conflict(format!(
                "package `{}` is already installed (in {}); remove it first with `plexus pkg remove {}`",
                manifest.id(),
                dest.display(),
                manifest.id()
            )));
        }
        self.check_conflicts(&manifest)?;
        remove_stale_staging(&self.root);
        unpack(archive, &self.root, &dest)?;
        Ok(Installed {
            name,
            version,
            dir: dest,
        })
    }

    fn check_conflicts(&self, manifest: &Manifest) -> Result<(), InstallError> {
        let builtins = builtins::manifest();
        for decl in &manifest.processors {
            if builtins.processors.iter().any(|b| b.name == decl.name) {
                return Err(InstallError::Conflict(format!(
                    "package `{}` declares processor type `{}`, which is a builtin",
                    manifest.id(),
                    decl.name
                )));
            }
        }
        for other in self
            .installed()
            .iter()
            .filter(|i| i.name != manifest.package.name)
        {
            // A package that no longer loads cannot be used, so it cannot clash.
            let Ok(package) = other.load() else { continue };
            if let Some(clash) = manifest
                .processors
                .iter()
                .find(|d| package.manifest.processors.iter().any(|o| o.name == d.name))
            {
                return Err(InstallError::Conflict(format!(
                    "package `{}` and installed package `{}` both declare processor type `{}`; remove one of them first",
                    manifest.id(),
                    package.manifest.id(),
                    clash.name
                )));
            }
        }
        Ok(())
    }

    /// Removes the package `spec` names; without a version, only when one
    /// version is installed.
    pub fn remove(&self, spec: &Spec) -> Result<Installed, UserError> {
        let _lock = self.lock()?;
        let installed = self.find(spec).map_err(UserError::Plain)?;
        if spec.version.is_none() {
            let versions: Vec<String> = self
                .installed()
                .iter()
                .filter(|i| i.name == spec.name)
                .map(|i| i.version.to_string())
                .collect();
            if versions.len() > 1 {
                return Err(UserError::Plain(format!(
                    "package `{spec}` has versions {} installed; name one, e.g. `plexus pkg remove {spec}@{}`",
                    versions.join(", "),
                    installed.version
                )));
            }
        }
        // Renamed away first, so the package vanishes at once even if
        // deleting its files is interrupted.
        let doomed = self.root.join(staging_name("removing"));
        let io = |e: std::io::Error| {
            UserError::in_file(&installed.dir, format!("cannot remove the package: {e}"))
        };
        std::fs::rename(&installed.dir, &doomed).map_err(io)?;
        std::fs::remove_dir_all(&doomed).map_err(io)?;
        if let Some(name_dir) = installed.dir.parent() {
            // Only succeeds when no other version is left.
            let _ = std::fs::remove_dir(name_dir);
        }
        Ok(installed)
    }
}

/// Extracts `archive` into a fresh staging directory in `parent`, checks
/// that the libraries and files its entries name are there, and renames it
/// to `dest`. On any failure nothing is left behind.
pub fn unpack<R: Read + Seek>(
    archive: &mut Archive<R>,
    parent: &Path,
    dest: &Path,
) -> Result<(), UserError> {
    let io =
        |path: &Path, e: std::io::Error| UserError::in_file(path, format!("cannot write: {e}"));
    let staging = Staging::create(parent, "staging").map_err(|e| io(parent, e))?;
    let dir = staging.path();
    archive.extract(dir)?;
    std::fs::write(dir.join(ARCHIVE_SHA256_FILE), archive.sha256()).map_err(|e| io(dir, e))?;
    let package = Package::load_dir(dir)?;
    for decl in &package.manifest.processors {
        if !decl.language.archive_holds(dir, &decl.entry) {
            return Err(UserError::Plain(format!(
                "package `{}`: processor `{}`: `{}` is missing from the archive",
                package.manifest.id(),
                decl.name,
                decl.entry
            )));
        }
    }
    let name_dir = dest.parent().expect("dest is inside the store");
    std::fs::create_dir_all(name_dir).map_err(|e| io(name_dir, e))?;
    staging.place(dest).map_err(|e| {
        let _ = std::fs::remove_dir(name_dir);
        io(dest, e)
    })
}

/// Removes what installs killed half-way left: staging directories whose
/// process is gone.
fn remove_stale_staging(root: &Path) {
    for dir in subdirs(root) {
        let Some(name) = file_name(&dir) else {
            continue;
        };
        let pid = name
            .strip_prefix(".staging-")
            .or_else(|| name.strip_prefix(".removing-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok());
        let gone = pid.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH)
        });
        if gone {
            tracing::info!("removing {}, left by an interrupted install", dir.display());
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Every file under `dir`, as paths relative to `root` with `/`.
pub fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            files_under(root, &entry.path(), out)?;
        } else {
            let path = entry.path();
            let relative = path.strip_prefix(root).expect("under root");
            out.push(relative.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s = Spec::parse("acme.fx@1.2.0").unwrap();
        assert_eq!((s.name.as_str(), s.version.unwrap().minor), ("acme.fx", 2));
        assert!(Spec::parse("acme.fx").unwrap().version.is_none());
        assert_eq!(
            Spec::parse("acme.fx@1.2").unwrap_err(),
            "`1.2` in `acme.fx@1.2` is not a version like 1.2.0"
        );
        for bad in ["./acme", "Acme", "a@b@c", "x.plexpkg/y"] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }
}
