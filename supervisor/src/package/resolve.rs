//! Which packages a pipeline runs with: the ones its `packages:` lists and,
//! transitively, the `dependencies:` their manifests name, found in the
//! store. Each name gets one version: a listed package is what it is, and a
//! dependency gets the highest installed version that matches every
//! requirement on its name, trying lower ones when a higher one leads to a
//! conflict further down. A missing, conflicting or cyclic dependency is one
//! sentence naming the chain that asked for it.
//!
//! The resolved set is what the catalog takes processor types from, what a
//! lockfile pins, and where package-defined schemas are looked up.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use semver::{Version, VersionReq};

use super::manifest::{Dependency, Package};
use super::store::Store;
use crate::error::UserError;
use crate::load::pipeline::Pipeline;

/// The packages a pipeline runs with, listed ones first (in pipeline
/// order), then dependencies by name.
#[derive(Debug)]
pub struct Resolved {
    pub packages: Vec<ResolvedPackage>,
}

#[derive(Debug)]
pub struct ResolvedPackage {
    pub package: Package,
    pub role: Role,
}

/// Why a package is in the resolved set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The pipeline's `packages:` names it, as `entry`.
    Listed { entry: String },
    /// A listed package needs it: `chain` holds the ids (`name@version`)
    /// from that package to the one whose manifest names this one.
    Dependency { chain: Vec<String> },
}

impl ResolvedPackage {
    /// `name@version`.
    pub fn id(&self) -> String {
        self.package.manifest.id()
    }

    pub fn name(&self) -> &str {
        &self.package.manifest.package.name
    }
}

/// Resolves the packages `pipeline` lists and their dependencies from the
/// store. Errors name the pipeline file.
pub fn for_pipeline(pipeline: &Pipeline) -> Result<Resolved, UserError> {
    let mut roots = Vec::new();
    for entry in &pipeline.file.packages {
        let package = super::locate(&pipeline.path, pipeline.dir(), entry)?;
        roots.push((entry.clone(), package));
    }
    let store = Store::open();
    let available = StoreVersions(store.as_ref().ok());
    resolve(roots, &available).map_err(|m| UserError::in_file(&pipeline.path, m))
}

/// Resolves the dependencies of one package (just installed, say) from the
/// store; the error is the sentence a pipeline using it would get.
pub fn for_package(package: Package, store: &Store) -> Result<Resolved, String> {
    let entry = package.manifest.id();
    resolve(vec![(entry, package)], &StoreVersions(Some(store)))
}

/// Where dependencies come from: the store, or a test's list.
trait Available {
    /// The versions of `name` there are, lowest first.
    fn versions(&self, name: &str) -> Vec<Version>;
    fn load(&self, name: &str, version: &Version) -> Result<Package, String>;
}

/// The store; `None` when there is none (no data directory), so nothing is
/// installed.
struct StoreVersions<'a>(Option<&'a Store>);

impl Available for StoreVersions<'_> {
    fn versions(&self, name: &str) -> Vec<Version> {
        let Some(store) = self.0 else {
            return Vec::new();
        };
        store
            .installed()
            .into_iter()
            .filter(|i| i.name == name)
            .map(|i| i.version)
            .collect()
    }

    fn load(&self, name: &str, version: &Version) -> Result<Package, String> {
        let store = self.0.expect("a version was listed, so there is a store");
        let spec = super::store::Spec {
            name: name.to_string(),
            version: Some(version.clone()),
        };
        store
            .find(&spec)?
            .load()
            .map_err(|e| format!("installed package `{spec}` cannot be loaded: {e}"))
    }
}

/// The most candidate versions the search tries before giving up, so a
/// store of many versions with tangled requirements cannot hold `validate`
/// for long.
const MAX_STEPS: usize = 10_000;

/// A requirement on a package name, and who made it.
#[derive(Debug, Clone)]
struct Need {
    name: String,
    req: VersionReq,
    /// Ids from a listed package to the package that needs this.
    chain: Vec<String>,
}

impl Need {
    fn new(dep: &Dependency, chain: Vec<String>) -> Self {
        Self {
            name: dep.name.clone(),
            req: dep.requirement(),
            chain,
        }
    }

    /// `` `a@1.0.0` → `c@1.1.0` → `b ^2` ``.
    fn path(&self) -> String {
        self.chain
            .iter()
            .map(|id| format!("`{id}`"))
            .chain([format!("`{} {}`", self.name, self.req)])
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// "package `a@1.0.0` needs `b ^2` (via …)", the start of every
    /// sentence about this need.
    fn told(&self) -> String {
        let via = match self.chain.len() {
            1 => String::new(),
            _ => format!(" (via {})", self.path()),
        };
        format!(
            "package `{}` needs `{} {}`{via}",
            self.chain[0], self.name, self.req
        )
    }
}

/// One version chosen for a name.
#[derive(Debug, Clone)]
struct Chosen {
    version: Version,
    /// The names its manifest depends on.
    depends_on: Vec<String>,
    /// The need it was chosen for; `None` for a listed package.
    chosen_for: Option<Need>,
}

#[derive(Debug, Clone, Default)]
struct State {
    chosen: BTreeMap<String, Chosen>,
    /// Needs not yet looked at, in the order they were found.
    pending: VecDeque<Need>,
}

struct Solver<'a> {
    available: &'a dyn Available,
    /// Packages loaded from the store, by name and version: a search that
    /// backtracks asks for the same ones again.
    loaded: HashMap<(String, Version), Package>,
    steps: usize,
}

fn resolve(roots: Vec<(String, Package)>, available: &dyn Available) -> Result<Resolved, String> {
    let mut state = State::default();
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for (entry, package) in &roots {
        let name = &package.manifest.package.name;
        if let Some(first) = listed.insert(name.clone(), entry.clone()) {
            return Err(format!(
                "`packages:` lists package `{name}` twice: as `{first}` and as `{entry}`"
            ));
        }
        let chain = vec![package.manifest.id()];
        state.chosen.insert(name.clone(), chosen(package, None));
        state.pending.extend(
            package
                .manifest
                .dependencies
                .iter()
                .map(|d| Need::new(d, chain.clone())),
        );
    }
    let mut solver = Solver {
        available,
        loaded: HashMap::new(),
        steps: 0,
    };
    let state = solver.search(state)?;
    if let Some(cycle) = find_cycle(&state.chosen) {
        return Err(format!("package dependencies are cyclic: {cycle}"));
    }
    let mut packages: Vec<ResolvedPackage> = roots
        .into_iter()
        .map(|(entry, package)| ResolvedPackage {
            package,
            role: Role::Listed { entry },
        })
        .collect();
    for (name, c) in state.chosen {
        let Some(need) = c.chosen_for else { continue };
        let package = solver
            .loaded
            .remove(&(name, c.version))
            .expect("a chosen dependency was loaded");
        packages.push(ResolvedPackage {
            package,
            role: Role::Dependency { chain: need.chain },
        });
    }
    Ok(Resolved { packages })
}

fn chosen(package: &Package, chosen_for: Option<Need>) -> Chosen {
    Chosen {
        version: package.manifest.version(),
        depends_on: package
            .manifest
            .dependencies
            .iter()
            .map(|d| d.name.clone())
            .collect(),
        chosen_for,
    }
}

impl Solver<'_> {
    /// Settles every pending need, depth first over the candidate versions
    /// (highest first); the error is the first failure met, which is the
    /// one the highest versions lead to.
    fn search(&mut self, mut state: State) -> Result<State, String> {
        while let Some(need) = state.pending.pop_front() {
            if let Some(have) = state.chosen.get(&need.name) {
                if need.req.matches(&have.version) {
                    continue;
                }
                return Err(self.conflict(&need, have));
            }
            let installed = self.available.versions(&need.name);
            let candidates: Vec<&Version> = installed
                .iter()
                .rev()
                .filter(|v| need.req.matches(v))
                .collect();
            if candidates.is_empty() {
                return Err(missing(&need, &installed));
            }
            let mut first_failure = None;
            for version in candidates {
                self.steps += 1;
                if self.steps > MAX_STEPS {
                    return Err(format!(
                        "{}, and finding versions that fit every requirement took more than {MAX_STEPS} tries; require narrower versions",
                        need.told()
                    ));
                }
                let package = self.load(&need, version)?;
                let mut next = state.clone();
                let chain: Vec<String> = need
                    .chain
                    .iter()
                    .cloned()
                    .chain([package.manifest.id()])
                    .collect();
                next.pending.extend(
                    package
                        .manifest
                        .dependencies
                        .iter()
                        .map(|d| Need::new(d, chain.clone())),
                );
                next.chosen
                    .insert(need.name.clone(), chosen(package, Some(need.clone())));
                match self.search(next) {
                    Ok(done) => return Ok(done),
                    Err(e) => {
                        first_failure.get_or_insert(e);
                    }
                }
            }
            return Err(first_failure.expect("at least one candidate was tried"));
        }
        Ok(state)
    }

    fn load(&mut self, need: &Need, version: &Version) -> Result<&Package, String> {
        let key = (need.name.clone(), version.clone());
        if !self.loaded.contains_key(&key) {
            let package = self
                .available
                .load(&need.name, version)
                .map_err(|e| format!("{}: {e}", need.told()))?;
            self.loaded.insert(key.clone(), package);
        }
        Ok(&self.loaded[&key])
    }

    /// `need` cannot have the version already chosen for its name.
    fn conflict(&self, need: &Need, have: &Chosen) -> String {
        let Some(other) = &have.chosen_for else {
            return format!(
                "{}, but the pipeline lists {} {}",
                need.told(),
                need.name,
                have.version
            );
        };
        let installed = self.available.versions(&need.name);
        let both: Vec<&Version> = installed
            .iter()
            .filter(|v| need.req.matches(v) && other.req.matches(v))
            .collect();
        let why = match both.is_empty() {
            true => format!(
                "no installed version of {} satisfies both (installed: {})",
                need.name,
                list(&installed)
            ),
            false => format!("{} {} was chosen for that", need.name, have.version),
        };
        format!(
            "{}, which conflicts with {}: {why}",
            need.told(),
            other.path()
        )
    }
}

/// No installed version matches `need`.
fn missing(need: &Need, installed: &[Version]) -> String {
    match installed.is_empty() {
        true => format!(
            "{}, but {} is not installed (see `plexus pkg list`)",
            need.told(),
            need.name
        ),
        false => format!(
            "{}, but the store has {} {} only",
            need.told(),
            need.name,
            list(installed)
        ),
    }
}

fn list(versions: &[Version]) -> String {
    versions
        .iter()
        .map(Version::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cycle among the chosen packages' dependencies, as
/// `` `a@1.0.0` → `b@1.0.0` → `a@1.0.0` ``.
fn find_cycle(chosen: &BTreeMap<String, Chosen>) -> Option<String> {
    fn visit(
        name: &str,
        chosen: &BTreeMap<String, Chosen>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == name) {
            let mut cycle = path[start..].to_vec();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        if done.contains(name) {
            return None;
        }
        path.push(name.to_string());
        for next in &chosen[name].depends_on {
            if let Some(cycle) = visit(next, chosen, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(name.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for name in chosen.keys() {
        if let Some(cycle) = visit(name, chosen, &mut Vec::new(), &mut done) {
            let ids: Vec<String> = cycle
                .iter()
                .map(|n| format!("`{n}@{}`", chosen[n].version))
                .collect();
            return Some(ids.join(" → "));
        }
    }
    None
}

#[cfg(test)]
mod tests;
