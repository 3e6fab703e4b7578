//! The resolver against an in-memory store.

use std::path::{Path, PathBuf};

use super::*;
use crate::package::manifest::{self, Source};

/// A package `name@version` depending on `deps` (`name req`, …).
fn package(id: &str, deps: &[(&str, &str)]) -> Package {
    let (name, version) = id.split_once('@').unwrap();
    let deps: Vec<String> = deps
        .iter()
        .map(|(n, r)| format!("{{ name: {n}, version: \"{r}\" }}"))
        .collect();
    let text = format!(
        "package: {{ name: {name}, version: {version} }}\ndependencies: [{}]\nprocessors:\n  - {{ name: {name}.p, language: python, entry: m:C, mode: manual }}\n",
        deps.join(", ")
    );
    Package {
        dir: PathBuf::from(id),
        manifest: manifest::parse(Path::new("plexus.yaml"), &text).unwrap(),
        source: Source::Store,
    }
}

struct Memory(Vec<Package>);

impl Available for Memory {
    fn versions(&self, name: &str) -> Vec<Version> {
        let mut v: Vec<Version> = self
            .0
            .iter()
            .filter(|p| p.manifest.package.name == name)
            .map(|p| p.manifest.version())
            .collect();
        v.sort();
        v
    }

    fn load(&self, name: &str, version: &Version) -> Result<Package, String> {
        Ok(self
            .0
            .iter()
            .find(|p| p.manifest.package.name == name && &p.manifest.version() == version)
            .unwrap()
            .clone())
    }
}

fn run(roots: &[Package], store: &[Package]) -> Result<Vec<String>, String> {
    let roots = roots.iter().map(|p| (p.manifest.id(), p.clone())).collect();
    resolve(roots, &Memory(store.to_vec())).map(|r| r.packages.iter().map(|p| p.id()).collect())
}

#[test]
fn the_highest_matching_version_is_chosen_transitively() {
    let store = [
        package("b@1.2.0", &[("c", "^1")]),
        package("b@1.9.0", &[("c", "^1")]),
        package("b@2.0.0", &[]),
        package("c@1.0.0", &[]),
        package("c@1.4.0", &[]),
    ];
    let got = run(&[package("a@1.0.0", &[("b", "^1.2")])], &store).unwrap();
    assert_eq!(got, ["a@1.0.0", "b@1.9.0", "c@1.4.0"]);
}

#[test]
fn a_conflict_further_down_makes_a_lower_version_chosen() {
    // b 1.9 needs c ^2, which a's own c ^1 excludes; b 1.2 fits.
    let store = [
        package("b@1.2.0", &[("c", "^1")]),
        package("b@1.9.0", &[("c", "^2")]),
        package("c@1.4.0", &[]),
        package("c@2.0.0", &[]),
    ];
    let got = run(&[package("a@1.0.0", &[("c", "^1"), ("b", "^1")])], &store).unwrap();
    assert_eq!(got, ["a@1.0.0", "b@1.2.0", "c@1.4.0"]);
}

#[test]
fn a_missing_dependency_names_the_chain() {
    let store = [package("c@1.1.0", &[("b", "^2")]), package("b@1.3.0", &[])];
    let err = run(&[package("a@1.0.0", &[("c", "^1")])], &store).unwrap_err();
    assert_eq!(
        err,
        "package `a@1.0.0` needs `b ^2` (via `a@1.0.0` → `c@1.1.0` → `b ^2`), but the store has b 1.3.0 only"
    );
    let err = run(&[package("a@1.0.0", &[("zz", "^1")])], &[]).unwrap_err();
    assert_eq!(
        err,
        "package `a@1.0.0` needs `zz ^1`, but zz is not installed (see `plexus pkg list`)"
    );
}

#[test]
fn conflicting_requirements_name_both_chains() {
    let store = [
        package("c@1.0.0", &[("b", "^2")]),
        package("b@1.3.0", &[]),
        package("b@2.0.0", &[]),
    ];
    let err = run(&[package("a@1.0.0", &[("b", "^1"), ("c", "^1")])], &store).unwrap_err();
    assert_eq!(
        err,
        "package `a@1.0.0` needs `b ^2` (via `a@1.0.0` → `c@1.0.0` → `b ^2`), which conflicts with `a@1.0.0` → `b ^1`: no installed version of b satisfies both (installed: 1.3.0, 2.0.0)"
    );
    // A listed package is what it is.
    let err = run(
        &[package("a@1.0.0", &[("c", "^1")]), package("b@1.3.0", &[])],
        &store,
    )
    .unwrap_err();
    assert!(err.ends_with("but the pipeline lists b 1.3.0"), "{err}");
}

#[test]
fn cycles_are_refused_with_their_path() {
    let store = [package("b@1.0.0", &[("a", "^1")])];
    let err = run(&[package("a@1.0.0", &[("b", "^1")])], &store).unwrap_err();
    assert_eq!(
        err,
        "package dependencies are cyclic: `a@1.0.0` → `b@1.0.0` → `a@1.0.0`"
    );
}

#[test]
fn a_name_listed_twice_is_refused() {
    let err = run(&[package("a@1.0.0", &[]), package("a@1.1.0", &[])], &[]).unwrap_err();
    assert!(err.contains("lists package `a` twice"), "{err}");
}
