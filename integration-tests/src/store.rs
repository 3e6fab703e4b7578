//! A scratch directory with a private package store, so package tests never
//! touch the user's data directory, and a way to prove a command changed
//! nothing in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::process::{spawn_plexus_with, PlexusRun, Running};

/// A temporary directory whose `data/` is `PLEXUS_DATA_DIR` for every
/// `plexus` it runs; removed when dropped.
pub struct Scratch {
    tmp: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The data directory; packages live in `data/packages/`.
    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    /// Starts `plexus args` in the scratch directory with its private store.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let data = self.data();
        spawn_plexus_with(args, self.path(), &[("PLEXUS_DATA_DIR", &data)])
    }

    /// Runs `plexus args` in the scratch directory with its private store.
    pub fn plexus(&self, args: &[&str]) -> PlexusRun {
        self.spawn(args).finish()
    }

    /// Runs `plexus args`, which must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.plexus(args);
        assert_eq!(
            run.code,
            Some(0),
            "plexus {args:?} failed; stderr:\n{}",
            run.stderr
        );
        run.stdout
    }

    /// Every path under the scratch directory, with each file's contents.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut all = BTreeMap::new();
        walk(self.path(), &mut all);
        all
    }
}

fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
    for entry in std::fs::read_dir(dir).expect("reading the scratch directory") {
        let path = entry.expect("a directory entry").path();
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.is_dir() {
            out.insert(path.clone(), None);
            walk(&path, out);
        } else {
            out.insert(path.clone(), Some(std::fs::read(&path).unwrap_or_default()));
        }
    }
}

/// A path as a command-line argument.
pub fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A package archive, checksums and all, one of whose entries climbs out
/// of the package with `..`: what every installer must refuse.
pub fn escaping_archive() -> Vec<u8> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let files: [(&str, &[u8]); 3] = [
        (
            "plexus.yaml",
            b"package: { name: test.escaping, version: 1.0.0 }\nprocessors:\n  - { name: test.escaping, language: python, entry: m:P, mode: reactive, inputs: [{ name: in, schema: any }] }\n",
        ),
        ("m.py", b"class P:\n    pass\n"),
        ("../../escaped.py", b"x = 1\n"),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let mut sums = String::new();
    for (name, data) in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(data).unwrap();
        let digest: String = Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        sums += &format!("{digest}  {name}\n");
    }
    zip.start_file("SHA256SUMS", options).unwrap();
    zip.write_all(sums.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}
