//! The packages a run watches, taken from its plan: each local package
//! directory with what to build before its workers are swapped and which
//! processors to swap. Installed packages and archives change only by a new
//! install, which a running pipeline takes through `plexus upgrade --to`,
//! so they are named once and left alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::load::catalog::Origin;
use crate::load::plan::Plan;

/// What a swap may take beside its processors' setup: spawning the
/// successor, its hello and configure steps, the hand-over.
const SWAP_ROOM: Duration = Duration::from_secs(30);

/// A local package directory the run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// Absolute, symlinks resolved, as events name paths.
    pub dir: PathBuf,
    /// The command its language runs before the package can run (`cargo
    /// build --release` for Rust), if any.
    pub build: Option<&'static str>,
    /// The processors to swap, one per worker hosting any of the package's
    /// processors: swapping a worker reloads all the code it hosts.
    pub swaps: Vec<Swap>,
}

/// One processor to swap, and how long its swap may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub processor: String,
    pub within: Duration,
}

/// The packages of a plan, watched or not.
#[derive(Debug, Default)]
pub struct Packages {
    pub watched: Vec<Package>,
    /// Installed packages and archives, by name: not watched.
    pub sealed: BTreeSet<String>,
}

impl Packages {
    pub fn of(plan: &Plan) -> Self {
        let mut packages = Self::default();
        let mut swapped_workers = BTreeSet::new();
        for p in &plan.processors {
            let Origin::Package {
                name, dir, sealed, ..
            } = &p.origin
            else {
                continue;
            };
            if *sealed {
                packages.sealed.insert(name.clone());
                continue;
            }
            let language = plan
                .workers
                .iter()
                .find(|w| w.name == p.worker)
                .map(|w| w.language)
                .expect("every planned processor has its worker");
            let index = match packages.watched.iter().position(|w| &w.name == name) {
                Some(index) => index,
                None => {
                    packages.watched.push(Package {
                        name: name.clone(),
                        dir: dir.canonicalize().unwrap_or_else(|_| dir.clone()),
                        build: None,
                        swaps: Vec::new(),
                    });
                    packages.watched.len() - 1
                }
            };
            let package = &mut packages.watched[index];
            package.build = package.build.or(language.template().build);
            if swapped_workers.insert((name.clone(), p.worker.clone())) {
                package.swaps.push(Swap {
                    processor: p.spec.id.clone(),
                    within: p.deadlines.setup + SWAP_ROOM,
                });
            }
        }
        packages
    }

    /// The package whose directory holds `path`, with the path inside it;
    /// the innermost when directories nest.
    pub fn owner<'a>(&'a self, path: &'a Path) -> Option<(&'a Package, &'a Path)> {
        self.watched
            .iter()
            .filter_map(|p| path.strip_prefix(&p.dir).ok().map(|inside| (p, inside)))
            .max_by_key(|(p, _)| p.dir.components().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_plan;

    #[test]
    fn a_local_package_is_watched_with_one_swap_per_worker() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("pkg");
        std::fs::create_dir(&pkg).unwrap();
        std::fs::write(pkg.join("fx.py"), "class A: pass\n").unwrap();
        std::fs::write(
            pkg.join("plexus.yaml"),
            "package: { name: acme.fx, version: 1.0.0 }\nprocessors:\n  - { name: acme.a, language: python, entry: fx:A, mode: reactive, inputs: [{ name: in, schema: video/rgba8 }], outputs: [{ name: out, schema: video/rgba8 }] }\n",
        )
        .unwrap();
        let path = tmp.path().join("pipeline.yaml");
        std::fs::write(
            &path,
            "name: watched\npackages: [pkg]\nprocessors:\n  src: { type: builtin.test_pattern }\n  first: { type: acme.a, worker: py }\n  second: { type: acme.a, worker: py }\n  third: { type: acme.a, setup_timeout_s: 5 }\nconnections: [src.out -> first.in, first.out -> second.in, second.out -> third.in]\n",
        )
        .unwrap();
        let packages = Packages::of(&load_plan(&path).unwrap_or_else(|e| panic!("{e}")));
        assert!(packages.sealed.is_empty(), "{packages:?}");
        let swap = |processor: &str, setup_s| Swap {
            processor: processor.into(),
            within: Duration::from_secs(setup_s) + SWAP_ROOM,
        };
        assert_eq!(
            packages.watched,
            [Package {
                name: "acme.fx".into(),
                dir: pkg.canonicalize().unwrap(),
                build: None,
                // `second` shares `first`'s worker: one swap reloads both.
                swaps: vec![swap("first", 120), swap("third", 5)],
            }]
        );
    }

    fn package(name: &str, dir: &str) -> Package {
        Package {
            name: name.into(),
            dir: dir.into(),
            build: None,
            swaps: Vec::new(),
        }
    }

    #[test]
    fn a_path_belongs_to_the_innermost_package_holding_it() {
        let packages = Packages {
            watched: vec![
                package("outer", "/w/pkgs"),
                package("inner", "/w/pkgs/inner"),
            ],
            sealed: BTreeSet::new(),
        };
        let owner = |path: &'static str| {
            packages
                .owner(Path::new(path))
                .map(|(p, inside)| (p.name.as_str(), inside.to_str().unwrap()))
        };
        assert_eq!(owner("/w/pkgs/a.py"), Some(("outer", "a.py")));
        assert_eq!(owner("/w/pkgs/inner/b/c.py"), Some(("inner", "b/c.py")));
        assert_eq!(
            owner("/w/pkgsx/a.py"),
            None,
            "a prefix of a name is no parent"
        );
        assert_eq!(owner("/elsewhere/a.py"), None);
    }
}
