//! `plexus lock PIPELINE`: what the pipeline runs with now, pinned. The
//! packages come from the resolved set (listed and dependencies), each
//! with its version, where it comes from and its sha256; Python
//! requirements are resolved by pip without installing anything; the deno
//! version is the one a run would use.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{LockedPackage, LockedSource, Lockfile, LOCK_FILE, LOCK_VERSION};
use crate::error::UserError;
use crate::language;
use crate::load::catalog::Catalog;
use crate::load::pipeline::{dir_of, Pipeline};
use crate::load::plan::{self, Plan};
use crate::package::manifest::{Source, PLEXUS_VERSION};
use crate::package::pack::pack;
use crate::package::resolve::{self, Resolved, ResolvedPackage, Role};
use crate::package::store::Installed;

/// A pipeline as it would run now: its plan, its packages, and the lock
/// that pins them, short of Python requirements (which only `plexus lock`
/// asks pip for).
pub struct Current {
    pub plan: Plan,
    pub resolved: Resolved,
    pub lock: Lockfile,
}

/// The lockfile beside `pipeline`.
pub fn beside(pipeline: &Path) -> PathBuf {
    dir_of(pipeline).join(LOCK_FILE)
}

/// Loads and checks `pipeline` as `validate` does, and pins what it uses.
pub fn current(pipeline: &Path) -> Result<Current> {
    let pipeline = Pipeline::load(pipeline)?;
    let resolved = resolve::for_pipeline(&pipeline)?;
    let plan = plan::plan(&pipeline, &Catalog::of(&resolved)?)?;
    let mut packages = resolved
        .packages
        .iter()
        .map(pin)
        .collect::<Result<Vec<_>, _>>()?;
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    let runs_typescript = plan.workers.iter().any(|w| w.language.name() == "deno");
    let deno = match runs_typescript {
        true => Some(language::deno::version()?),
        false => None,
    };
    Ok(Current {
        plan,
        resolved,
        lock: Lockfile {
            lock_version: LOCK_VERSION,
            plexus: PLEXUS_VERSION.to_string(),
            deno,
            packages,
        },
    })
}

/// One package pinned: its sha256 is that of the archive it is (or was
/// installed from, or that `plexus pack` makes of its directory), so
/// installing that archive anywhere keeps the pin. An installed package's
/// files are checked against the checksums installed with them first.
fn pin(resolved: &ResolvedPackage) -> Result<LockedPackage, UserError> {
    let package = &resolved.package;
    let manifest = &package.manifest;
    let sha256 = match &package.source {
        Source::Dir => crate::digest::sha256(&pack(&package.dir)?.bytes),
        Source::Archive { sha256 } => sha256.clone(),
        Source::Store => {
            let installed = Installed {
                name: manifest.package.name.clone(),
                version: manifest.version(),
                dir: package.dir.clone(),
            };
            installed.check_files().map_err(UserError::Plain)?;
            installed.archive_sha256().map_err(UserError::Plain)?
        }
    };
    let source = match (&resolved.role, &package.source) {
        (_, Source::Store) | (Role::Dependency { .. }, _) => LockedSource::Store,
        (Role::Listed { entry }, _) => LockedSource::Path(entry.clone()),
    };
    Ok(LockedPackage {
        name: manifest.package.name.clone(),
        version: manifest.version(),
        sha256,
        source,
        python: Vec::new(),
    })
}

/// `plexus lock PIPELINE`: writes `plexus.lock` beside it.
pub fn lock(pipeline: &Path) -> Result<i32> {
    let Current {
        resolved, mut lock, ..
    } = current(pipeline)?;
    for resolved in &resolved.packages {
        let package = &resolved.package;
        let runs_python = package
            .manifest
            .processors
            .iter()
            .any(|p| p.language.name() == "python");
        if !runs_python {
            continue;
        }
        let name = &package.manifest.package.name;
        if let Some(requirements) = language::python::lock_requirements(name, &package.dir)? {
            let entry = lock
                .packages
                .iter_mut()
                .find(|p| &p.name == name)
                .expect("every resolved package is pinned");
            entry.python = requirements;
        }
    }
    let path = beside(pipeline);
    lock.write(&path)?;
    let requirements: usize = lock.packages.iter().map(|p| p.python.len()).sum();
    let deno = lock
        .deno
        .as_ref()
        .map(|v| format!(", deno {v}"))
        .unwrap_or_default();
    println!(
        "locked {} packages and {requirements} Python requirements{deno} into {}",
        lock.packages.len(),
        path.display()
    );
    Ok(0)
}
