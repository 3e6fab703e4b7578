//! The live config scenario that `live_config.rs` and the language
//! conformance suite share (docs/ARCHITECTURE.md §4, live config): the fill
//! processor `p` of `pipelines/chain.yaml` runs until stopped, `plexus set`
//! changes its `value`, and the PNGs its sink wrote tell, frame by frame,
//! which value filled each frame.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::expect::read_png;
use crate::process::{plexus, spawn_plexus, tapped_seqs, PlexusRun, Running};
use crate::{assert_no_residue, fixture, pipeline};

/// How long a worker may take to start or come back on a loaded machine
/// (the first run may install deno).
pub const START: Duration = Duration::from_secs(60);

/// `cam → p → s` and `p → png` with `p` of `kind` from the fixture
/// `package`, running until stopped.
pub struct LiveChain {
    pub tmp: tempfile::TempDir,
    pub running: Running,
    pub id: String,
}

impl LiveChain {
    /// Starts the chain and waits until every processor runs.
    pub fn start(package: &str, kind: &str) -> Self {
        let package = fixture(package).display().to_string();
        let (tmp, path) = pipeline(
            "chain.yaml",
            &[("package", &package), ("type", kind), ("config", "")],
        );
        let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
        let id = running.runtime_id();
        for processor in ["cam", "p", "s", "png"] {
            running.wait_for(&format!("processor {processor} started"), START);
        }
        Self { tmp, running, id }
    }

    /// `plexus set` with `args` (the processor, then the changes).
    pub fn set(&self, args: &[&str]) -> PlexusRun {
        let mut all = vec!["set", "--runtime", &self.id];
        all.extend_from_slice(args);
        plexus(&all, self.tmp.path())
    }

    /// The sequence number of a frame `p` sends from now on.
    pub fn next_seq(&self) -> u64 {
        tapped_seqs(self.tmp.path(), &self.id, "p.out", 1)[0]
    }

    /// The runtime's events so far, as `events --json` prints them.
    pub fn events(&self) -> Vec<Value> {
        let history = plexus(
            &["events", "--runtime", &self.id, "--json"],
            self.tmp.path(),
        );
        assert_eq!(history.code, Some(0), "{}", history.stderr);
        history.json_lines()
    }

    /// Stops the run; returns its summary, its log and, per frame `p`
    /// sent, the value that filled it. The run left nothing behind.
    pub fn stop(self) -> (Value, String, BTreeMap<u64, u8>) {
        let stop = plexus(&["stop", "--runtime", &self.id], self.tmp.path());
        assert_eq!(stop.code, Some(0), "{}", stop.stderr);
        let run = self.running.finish();
        assert_no_residue(&self.id);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let fills = fills(&self.tmp.path().join("png"));
        (run.json(), run.stderr, fills)
    }
}

/// Per frame PNG the sink wrote in `dir` (`png-<seq>.png`; `latest.png` is
/// a copy of the last), by its sequence number, the one byte every channel
/// of every pixel holds.
fn fills(dir: &Path) -> BTreeMap<u64, u8> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_stem()?.to_str()?;
            let seq: u64 = name.strip_prefix("png-")?.parse().ok()?;
            Some((seq, path))
        })
        .map(|(seq, path)| {
            let image = read_png(&path);
            let first = image.pixels[0];
            assert!(
                image.pixels.iter().all(|&b| b == first),
                "frame {seq} is not filled with one value"
            );
            (seq, first)
        })
        .collect()
}

/// Every connection of the chain carried every frame: what the camera sent
/// reached `p`, and what `p` sent reached both sinks, none dropped or
/// skipped on the way.
pub fn no_frame_lost(summary: &Value) {
    let p = &summary["processors"];
    let edges = [("cam", "p"), ("p", "s"), ("p", "png")];
    for (from, to) in edges {
        assert_eq!(
            p[from]["frames_out"], p[to]["frames_in"],
            "{from} → {to}: {summary:#}"
        );
        assert_eq!(p[to]["dropped"], 0, "{to}: {summary:#}");
        assert_eq!(p[to]["gaps"], 0, "{to}: {summary:#}");
    }
    assert_eq!(p["p"]["errors"], 0, "{summary:#}");
}
