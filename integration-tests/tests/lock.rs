//! The lockfile end to end: `plexus lock` pins a pipeline's packages (a
//! listed directory and a dependency from the store) by version and
//! sha256 and its Python requirements with their hashes; `run --locked`
//! passes on that lock, installing the pinned requirements with their
//! hashes into an environment keyed by the lock, and refuses, naming the
//! difference, once a package's version or one of its files changes.
//! Locking twice gives the same bytes.
//!
//! The Python requirement is `six`, a small pure-Python wheel from PyPI,
//! as the provisioning tests in tests/python.rs use.

use std::path::{Path, PathBuf};

use integration_tests::store::{path_arg, Scratch};
use integration_tests::{assert_matches_schema, assert_no_residue, fixture};
use sha2::{Digest, Sha256};

fn sha256_of(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A pipeline in `s` running `relay/` (the relay fixture, needing `six`
/// and the installed `test.base ^1`) between the test pattern and a sink.
struct Locked {
    s: Scratch,
    pipeline: PathBuf,
    relay: PathBuf,
    cache: PathBuf,
}

impl Locked {
    fn new() -> Self {
        let s = Scratch::new();
        let relay = s.path().join("relay");
        std::fs::create_dir(&relay).unwrap();
        std::fs::copy(
            fixture("relay-python").join("relay.py"),
            relay.join("relay.py"),
        )
        .unwrap();
        let manifest = std::fs::read_to_string(fixture("relay-python").join("plexus.yaml"))
            .unwrap()
            .replace(
                "processors:\n",
                "dependencies: [{ name: test.base, version: \"^1\" }]\nprocessors:\n",
            );
        std::fs::write(relay.join("plexus.yaml"), manifest).unwrap();
        std::fs::write(relay.join("requirements.txt"), "six==1.16.0\n").unwrap();
        let pipeline = s.path().join("pipeline.yaml");
        std::fs::write(
            &pipeline,
            "name: locked\npackages: [./relay]\nprocessors:\n  camera: { type: builtin.test_pattern, config: { width: 64, height: 48, fps: 100 } }\n  relay: { type: test.py_pass }\n  sink: { type: builtin.stats_sink }\nconnections:\n  - camera.out -> relay.in\n  - relay.out -> sink.in\n",
        )
        .unwrap();
        let cache = s.path().join("cache");
        Self {
            s,
            pipeline,
            relay,
            cache,
        }
    }

    /// Packs `test.base@version` and installs the archive; returns the
    /// archive's sha256.
    fn install_base(&self, version: &str) -> String {
        let dir = self.s.path().join(format!("base-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("plexus.yaml"),
            format!("package: {{ name: test.base, version: {version} }}\nprocessors:\n  - {{ name: test.base_source, language: python, entry: m:P, mode: manual, outputs: [{{ name: out, schema: video/rgba8 }}] }}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("m.py"), "class P:\n    pass\n").unwrap();
        let archive = self.s.path().join(format!("base-{version}.plexpkg"));
        self.s
            .ok(&["pack", path_arg(&dir), "-o", path_arg(&archive)]);
        self.s.ok(&["pkg", "install", path_arg(&archive)]);
        sha256_of(&archive)
    }

    fn plexus(&self, args: &[&str]) -> integration_tests::PlexusRun {
        let data = self.s.data();
        integration_tests::spawn_plexus_with(
            args,
            self.s.path(),
            &[
                ("PLEXUS_DATA_DIR", &data),
                ("PLEXUS_CACHE_DIR", &self.cache),
            ],
        )
        .finish()
    }

    fn lock(&self) -> String {
        let run = self.plexus(&["lock", path_arg(&self.pipeline)]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        std::fs::read_to_string(self.s.path().join("plexus.lock")).unwrap()
    }

    /// `run --locked` for a few frames, which must pass; returns its log.
    fn run_locked(&self) -> String {
        let run = self.plexus(&["run", "--locked", path_arg(&self.pipeline), "--frames", "5"]);
        if let Some(id) = run.runtime_id() {
            assert_no_residue(&id);
        }
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        run.stderr
    }

    /// `run --locked`, which must refuse; returns its one sentence.
    fn refused(&self) -> String {
        let run = self.plexus(&["run", "--locked", path_arg(&self.pipeline), "--frames", "5"]);
        assert!(
            run.runtime_id().is_none(),
            "nothing started: {}",
            run.stderr
        );
        run.refusal().to_string()
    }
}

#[test]
fn lock_then_run_locked_passes_and_drift_is_refused() {
    let l = Locked::new();
    let base_sha = l.install_base("1.0.0");

    let line = l.refused();
    assert!(
        line.contains("no plexus.lock beside") && line.contains("run `plexus lock"),
        "{line}"
    );

    let text = l.lock();
    assert_eq!(l.lock(), text, "locking twice gives the same bytes");
    let lock: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_matches_schema("lockfile", &lock);
    assert_eq!(lock["lock_version"], 1);
    let packages = lock["packages"].as_array().unwrap();
    let names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test.base", "test.relay_python"]);
    let (base, relay) = (&packages[0], &packages[1]);
    assert_eq!(base["version"], "1.0.0");
    assert_eq!(base["source"], "store");
    assert_eq!(
        base["sha256"],
        base_sha.as_str(),
        "the installed archive's sha256"
    );
    assert_eq!(relay["source"]["path"], "./relay");
    // A directory is pinned by the archive `plexus pack` makes of it.
    let packed = l.s.path().join("relay.plexpkg");
    l.s.ok(&["pack", path_arg(&l.relay), "-o", path_arg(&packed)]);
    assert_eq!(relay["sha256"], sha256_of(&packed).as_str());
    let python = relay["python"].as_array().unwrap();
    assert_eq!(python.len(), 1, "{python:?}");
    assert_eq!(python[0]["name"], "six");
    assert_eq!(python[0]["version"], "1.16.0");
    assert_eq!(python[0]["sha256"].as_array().unwrap().len(), 1);
    assert!(lock.get("deno").is_none(), "no TypeScript, no deno: {text}");

    let valid = l.plexus(&["validate", "--locked", path_arg(&l.pipeline)]);
    assert_eq!(valid.code, Some(0), "{}", valid.stderr);

    // The locked run installs the pinned requirement with its hash into an
    // environment of its own; the same lock reuses it.
    let first = l.run_locked();
    assert!(first.contains("[pip test.relay_python]"), "{first}");
    let envs: Vec<PathBuf> = std::fs::read_dir(l.cache.join("python-envs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(envs.len(), 1, "{envs:?}");
    let pinned = std::fs::read_to_string(envs[0].join(".plexus-requirements.txt")).unwrap();
    let hash = python[0]["sha256"][0].as_str().unwrap();
    assert_eq!(pinned, format!("six==1.16.0 --hash=sha256:{hash}\n"));
    assert!(envs[0].join("six.py").is_file(), "six is installed");
    let second = l.run_locked();
    assert!(second.contains("reusing the environment"), "{second}");
    assert!(!second.contains("[pip "), "{second}");

    // Another version of a dependency in the store: the pipeline would run
    // it, and the lock says otherwise.
    l.install_base("1.1.0");
    let line = l.refused();
    assert!(
        line.contains(&format!(
            "test.base: the lock has 1.0.0 with sha256 {}…, the pipeline would run 1.1.0",
            &base_sha[..12]
        )),
        "{line}"
    );
    l.s.ok(&["pkg", "remove", "test.base@1.1.0"]);
    l.run_locked();

    // One file of the listed package changes.
    let module = l.relay.join("relay.py");
    let original = std::fs::read_to_string(&module).unwrap();
    std::fs::write(&module, format!("{original}\n# changed\n")).unwrap();
    let line = l.refused();
    assert!(
        line.contains("test.relay_python: the lock has 0.1.0 with sha256")
            && line.contains("a file changed"),
        "{line}"
    );
    std::fs::write(&module, &original).unwrap();

    // One file of an installed package changes.
    let installed = l.s.data().join("packages/test.base/1.0.0/m.py");
    std::fs::write(&installed, "class P:\n    changed = True\n").unwrap();
    let line = l.refused();
    assert!(
        line.contains("package `test.base@1.0.0`: file `m.py` changed after it was installed"),
        "{line}"
    );
}
