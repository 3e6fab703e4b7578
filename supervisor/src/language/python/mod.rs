//! Python processors: classes in a package's modules, run by
//! `plexus-worker-python` in the CPython it embeds, with the package's
//! requirements installed into a cached environment first.

mod env;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipc_schemas::{Entry, Permissions};

use super::{
    canonical, nothing_verbatim, Declared, Hosted, Language, Launch, ProcessorFile, SharedMemory,
    Template, WorkerBinary,
};
use crate::lockfile::LockedRequirement;
use crate::provision;

pub struct Python;

impl Language for Python {
    fn name(&self) -> &'static str {
        "python"
    }

    fn entry_fits(&self, entry: &str) -> bool {
        split_entry(entry).is_some()
    }

    fn entry_form(&self) -> &'static str {
        "`module:Class`"
    }

    fn resolve(&self, declared: &Declared) -> Result<Entry, String> {
        let (module, class) = split_entry(declared.entry).expect("checked with the manifest");
        Ok(Entry::Python {
            package_dir: canonical(declared.dir).display().to_string(),
            module: module.to_string(),
            class: class.to_string(),
            site_packages: None,
        })
    }

    /// Gives every Python processor its package's environment, installing
    /// what is missing; packages share environments by requirements (or,
    /// in a locked run, by the lock's pinned requirements).
    fn provision(&self, processors: &mut [Hosted]) -> anyhow::Result<Box<dyn Launch>> {
        let worker = provision::beside_plexus("plexus-worker-python")?;
        let python = env::python_info(&worker)?;
        let mut envs: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
        for hosted in processors.iter_mut() {
            if let Entry::Python {
                package_dir,
                site_packages,
                ..
            } = &mut *hosted.entry
            {
                let env = match envs.get(package_dir.as_str()) {
                    Some(env) => env.clone(),
                    None => {
                        let locked = hosted.locked.map(|l| l.python.as_slice());
                        let env = env::ensure(
                            hosted.package,
                            Path::new(package_dir.as_str()),
                            &python,
                            locked,
                        )?;
                        envs.insert(package_dir.clone(), env.clone());
                        env
                    }
                };
                *site_packages = env.map(|e| e.display().to_string());
            }
        }
        Ok(Box::new(PythonLaunch {
            worker: WorkerBinary(worker),
            home: python.home,
        }))
    }

    fn packs(&self, name: &str) -> bool {
        name.ends_with(".py") || name == "requirements.txt" || name == "pyproject.toml"
    }

    fn archive_holds(&self, _dir: &Path, _entry: &str) -> bool {
        // A module may come from the package's requirements.
        true
    }

    fn template(&self) -> Template {
        Template {
            title: "Python",
            entry: "processor:{{class}}",
            build: None,
            processor: ProcessorFile {
                path: "processor.py",
                effect: include_str!("../../../templates/python/processor.py"),
                source: include_str!("../../../templates/python/source.py"),
            },
            files: &[],
            verbatim: nothing_verbatim,
            reserved_names: &[],
        }
    }
}

/// The worker binary, and the Python installation it embeds.
struct PythonLaunch {
    worker: WorkerBinary,
    /// The installation's `sys.base_prefix`: its standard library.
    home: PathBuf,
}

impl Launch for PythonLaunch {
    fn command(
        &self,
        entries: &[&Entry],
        permissions: Option<&Permissions>,
    ) -> anyhow::Result<std::process::Command> {
        self.worker.command(entries, permissions)
    }

    /// The processors' packages and environments, and the installation.
    fn needs(&self, entries: &[&Entry]) -> Vec<PathBuf> {
        let mut needs = self.worker.needs(entries);
        needs.push(self.home.clone());
        needs
    }

    fn shared_memory(&self) -> SharedMemory {
        self.worker.shared_memory()
    }
}

/// For `plexus lock`: the Python requirements of the package in `dir`,
/// resolved by pip for the interpreter the worker embeds; `None` when it
/// has none.
pub fn lock_requirements(
    package: &str,
    dir: &Path,
) -> anyhow::Result<Option<Vec<LockedRequirement>>> {
    let worker = provision::beside_plexus("plexus-worker-python")?;
    let python = env::python_info(&worker)?;
    Ok(env::resolve(package, dir, &python)?)
}

/// Splits `pkg.module:Class` into module and class, both Python identifiers.
fn split_entry(entry: &str) -> Option<(&str, &str)> {
    let (module, class) = entry.split_once(':')?;
    let identifier = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
    };
    (module.split('.').all(identifier) && identifier(class)).then_some((module, class))
}
