//! `run --locked` and `validate --locked`: the pipeline as it would run
//! now, compared with its `plexus.lock`. Any difference (a package's
//! version, its files, where it comes from, one more or one fewer, the
//! deno version, the plexus version) refuses the run with one sentence
//! naming it. Python requirements are not resolved again: a locked run
//! installs exactly the lock's.

use std::path::Path;

use anyhow::Result;

use super::make::{beside, current};
use super::{LockedPackage, Lockfile, LOCK_FILE};
use crate::error::{excerpt, UserError};
use crate::load::plan::Plan;

/// The plan of `pipeline`, checked against the lock beside it, which it
/// carries for provisioning.
pub fn locked_plan(pipeline: &Path) -> Result<Plan> {
    let path = beside(pipeline);
    if !path.is_file() {
        return Err(UserError::Plain(format!(
            "no {LOCK_FILE} beside {0}: run `plexus lock {0}`",
            pipeline.display()
        ))
        .into());
    }
    let lock = Lockfile::read(&path)?;
    let now = current(pipeline)?;
    if let Some(drift) = difference(&lock, &now.lock) {
        return Err(UserError::in_file(
            &path,
            format!(
                "{drift}; `plexus lock {}` writes a new lock",
                pipeline.display()
            ),
        )
        .into());
    }
    let mut plan = now.plan;
    plan.lock = Some(lock);
    Ok(plan)
}

/// The first way `now` (what the pipeline would run) differs from
/// `locked`, in one clause; Python requirements aside.
fn difference(locked: &Lockfile, now: &Lockfile) -> Option<String> {
    if locked.plexus != now.plexus {
        return Some(format!(
            "the lock was written by plexus {}, this is plexus {}",
            locked.plexus, now.plexus
        ));
    }
    for package in &now.packages {
        let Some(pinned) = locked.package(&package.name) else {
            return Some(format!(
                "{}: the pipeline would run {} from {}, which the lock does not have",
                package.name, package.version, package.source
            ));
        };
        if let Some(d) = package_difference(pinned, package) {
            return Some(format!("{}: {d}", package.name));
        }
    }
    if let Some(gone) = locked
        .packages
        .iter()
        .find(|p| now.package(&p.name).is_none())
    {
        return Some(format!(
            "{}: the lock has {}, which the pipeline no longer uses",
            excerpt(&gone.name),
            gone.version
        ));
    }
    match (&locked.deno, &now.deno) {
        (Some(l), Some(n)) if l != n => Some(format!(
            "deno: the lock has {l}, the pipeline would run {n}"
        )),
        (None, Some(n)) => Some(format!(
            "deno: the pipeline runs TypeScript with deno {n}, which the lock does not pin"
        )),
        (Some(l), None) => Some(format!(
            "deno: the lock pins {l}, but the pipeline no longer runs TypeScript"
        )),
        _ => None,
    }
}

fn package_difference(locked: &LockedPackage, now: &LockedPackage) -> Option<String> {
    let pinned = format!(
        "the lock has {} with sha256 {}",
        locked.version,
        short(&locked.sha256)
    );
    if locked.version != now.version {
        return Some(format!("{pinned}, the pipeline would run {}", now.version));
    }
    if locked.source != now.source {
        return Some(format!(
            "the lock takes it from {}, the pipeline from {}",
            locked.source, now.source
        ));
    }
    if locked.sha256 != now.sha256 {
        return Some(format!(
            "{pinned}, the pipeline would run {} with sha256 {}: a file changed",
            now.version,
            short(&now.sha256)
        ));
    }
    None
}

/// The first 12 hex digits, as a message shows a hash.
fn short(sha256: &str) -> String {
    format!("{}…", &sha256[..12.min(sha256.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockfile::LockedSource;

    fn lock(packages: &[(&str, &str, &str)]) -> Lockfile {
        Lockfile {
            lock_version: 1,
            plexus: "0.1.0".into(),
            deno: None,
            packages: packages
                .iter()
                .map(|(name, version, hash)| LockedPackage {
                    name: name.to_string(),
                    version: semver::Version::parse(version).unwrap(),
                    sha256: hash.repeat(64),
                    source: LockedSource::Store,
                    python: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn each_drift_is_named() {
        let locked = lock(&[("example.effects", "1.2.0", "a")]);
        assert_eq!(difference(&locked, &locked), None);
        let cases = [
            (
                lock(&[("example.effects", "1.2.1", "a")]),
                "example.effects: the lock has 1.2.0 with sha256 aaaaaaaaaaaa…, the pipeline would run 1.2.1",
            ),
            (
                lock(&[("example.effects", "1.2.0", "b")]),
                "example.effects: the lock has 1.2.0 with sha256 aaaaaaaaaaaa…, the pipeline would run 1.2.0 with sha256 bbbbbbbbbbbb…: a file changed",
            ),
            (
                lock(&[]),
                "example.effects: the lock has 1.2.0, which the pipeline no longer uses",
            ),
            (
                lock(&[("example.effects", "1.2.0", "a"), ("x.y", "1.0.0", "c")]),
                "x.y: the pipeline would run 1.0.0 from the store, which the lock does not have",
            ),
        ];
        for (now, expected) in cases {
            assert_eq!(difference(&locked, &now).as_deref(), Some(expected));
        }
        let mut moved = locked.clone();
        moved.packages[0].source = LockedSource::Path("../fx".into());
        assert_eq!(
            difference(&locked, &moved).unwrap(),
            "example.effects: the lock takes it from the store, the pipeline from `../fx`"
        );
        let mut typescript = locked.clone();
        typescript.deno = Some("2.9.6".into());
        assert!(difference(&locked, &typescript)
            .unwrap()
            .contains("which the lock does not pin"));
    }
}
