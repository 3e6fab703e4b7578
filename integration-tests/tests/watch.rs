//! `plexus run --watch` (issue 21), with the real binaries: a copy of a
//! Python package runs behind `builtin.test_pattern` at 60 fps and the run
//! records its output, whose frames each carry the version that made them.
//! Editing the processor's file changes the output within a second with no
//! frame lost; a syntax error keeps the old version running and is
//! reported on run's stderr, the next attempt backing off; fixing it
//! resumes. A Rust package made by `plexus new` is rebuilt with cargo's
//! output shown, and a failed build keeps the old version.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ipc_schemas::frame::monotonic_ns;
use serde_json::Value;

use integration_tests::recorded::each_frame;
use integration_tests::store::Scratch;
use integration_tests::{
    assert_no_residue, bin_dir, fixture, spawn_plexus, spawn_plexus_with, tapped_seqs, Running,
};

/// Time a run gets to start (a first run may build its Python environment).
const START: Duration = Duration::from_secs(180);
/// Time a change gets to be acted on and its outcome told: a swap starts a
/// Python worker, a backed-off attempt waits its delay first.
const TOLD: Duration = Duration::from_secs(30);
/// Time an incremental release build of a small plugin gets.
const BUILD: Duration = Duration::from_secs(120);
/// How soon after an edit the output must show it.
const LIVE_WITHIN: Duration = Duration::from_secs(1);

/// The marker file as the fixture ships it, with `MARKER = 1`.
const FIRST: &str = "MARKER = 1\n";

/// A copy of the `watch-python` fixture in a temporary directory, run by
/// `plexus run --watch`, recording `marker.out`.
struct Watched {
    tmp: tempfile::TempDir,
    running: Running,
    runtime: String,
}

impl Watched {
    fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let package = tmp.path().join("pkg");
        std::fs::create_dir(&package).unwrap();
        for file in ["plexus.yaml", "marker.py"] {
            std::fs::copy(fixture("watch-python").join(file), package.join(file)).unwrap();
        }
        assert!(
            std::fs::read_to_string(package.join("marker.py"))
                .unwrap()
                .contains(FIRST),
            "the fixture starts with {FIRST}"
        );
        let pipeline = tmp.path().join("pipeline.yaml");
        std::fs::write(
            &pipeline,
            format!(
                "name: watched\npackages: [{}]\nrecord: {{ file: {}, ports: [marker.out] }}\nprocessors:\n  cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 8, fps: 60 }} }}\n  marker: {{ type: test.py_marker }}\nconnections: [cam.out -> marker.in]\n",
                package.display(),
                tmp.path().join("out.mcap").display()
            ),
        )
        .unwrap();
        let mut running = spawn_plexus(
            &["run", pipeline.to_str().unwrap(), "--watch", "--json"],
            tmp.path(),
        );
        running.wait_for("processor marker started", START);
        let runtime = running.runtime_id();
        let watching = running.wait_for("[watch] watching", TOLD);
        let dir = package.canonicalize().unwrap();
        assert!(
            watching.contains(&format!("test.watch_python ({})", dir.display())),
            "{watching}"
        );
        Self {
            tmp,
            running,
            runtime,
        }
    }

    fn package(&self) -> PathBuf {
        self.tmp.path().join("pkg")
    }

    /// Rewrites the `MARKER = 1` line of the processor's file as `line`;
    /// returns when it was written, on the frames' clock.
    fn edit(&self, line: &str) -> u64 {
        let file = self.package().join("marker.py");
        let text = std::fs::read_to_string(fixture("watch-python").join("marker.py")).unwrap();
        std::fs::write(&file, text.replace(FIRST, &format!("{line}\n"))).unwrap();
        monotonic_ns()
    }

    /// The next outcome the watcher tells for processor `marker`.
    fn outcome(&mut self) -> String {
        self.running.wait_for_next("[watch] marker", TOLD)
    }

    /// Waits until `count` more frames left the processor.
    fn flows(&self, count: u64) {
        tapped_seqs(self.tmp.path(), &self.runtime, "marker.out", count);
    }

    /// Stops the run as Ctrl-C would; returns its summary and its stderr.
    fn stop(self) -> (Value, String, Vec<Frame>) {
        self.running.signal(libc::SIGINT);
        let run = self.running.finish();
        assert_no_residue(&self.runtime);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let summary = run.json();
        assert_eq!(summary["outcome"], "stopped", "{summary:#}");
        let frames = recorded(&self.tmp.path().join("out.mcap"));
        (summary, run.stderr, frames)
    }
}

/// One recorded output frame: its sequence number, when it was captured,
/// and the marker of the version that made it.
#[derive(Debug, Clone, Copy)]
struct Frame {
    seq: u64,
    capture_ns: u64,
    marker: u64,
}

/// The recording's frames, checked to be one sequence without a gap or a
/// repeat: no frame lost or doubled, across every swap.
fn recorded(file: &Path) -> Vec<Frame> {
    let mut frames = Vec::new();
    each_frame(file, |_, header, payload| {
        frames.push(Frame {
            seq: header.seq,
            capture_ns: header.capture_ns,
            marker: u64::from_le_bytes(payload[..8].try_into().unwrap()),
        });
    });
    assert!(frames.len() > 60, "a second of frames at least: {frames:?}");
    for pair in frames.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq + 1,
            "the output's sequence goes on without a gap or a repeat: {pair:?}"
        );
    }
    frames
}

/// The markers in the order the recording shows them, each once.
fn versions(frames: &[Frame]) -> Vec<u64> {
    let mut seen: Vec<u64> = Vec::new();
    for f in frames {
        if seen.last() != Some(&f.marker) {
            seen.push(f.marker);
        }
    }
    seen
}

#[test]
fn an_edit_is_live_within_a_second_a_broken_one_keeps_the_old_version_and_a_fix_resumes() {
    let mut watched = Watched::start();
    watched.flows(10);

    let edited = watched.edit("MARKER = 2");
    let swapped = watched.outcome();
    assert!(
        swapped.contains("[watch] marker: ") && !swapped.contains("kept its old version"),
        "the edit is swapped in: {swapped}"
    );
    watched.flows(10);

    let broken = watched.edit("MARKER = = 3");
    let kept = watched.outcome();
    assert!(
        kept.contains("[watch] marker kept its old version: "),
        "the old version is kept: {kept}"
    );
    // The reason may be a traceback of several lines, the error in its last.
    watched.running.wait_for("SyntaxError", TOLD);
    watched.flows(10);

    let fixed = watched.edit("MARKER = 3");
    watched
        .running
        .wait_for_next("[watch] test.watch_python failed 1 time in a row: backing off, trying again 1 s after its last change", TOLD);
    let resumed = watched.outcome();
    assert!(
        resumed.contains("[watch] marker: ") && !resumed.contains("kept its old version"),
        "the fix is swapped in: {resumed}"
    );
    watched.flows(10);

    let (summary, _, frames) = watched.stop();
    assert_eq!(versions(&frames), [1, 2, 3], "{frames:?}");
    let first_of = |marker| frames.iter().find(|f| f.marker == marker).unwrap();
    let live_after = first_of(2).capture_ns.saturating_sub(edited);
    assert!(
        live_after < LIVE_WITHIN.as_nanos() as u64,
        "the edit shows in the output {} ms after it was saved",
        live_after / 1_000_000
    );
    assert!(
        frames
            .iter()
            .filter(|f| (broken..fixed).contains(&f.capture_ns))
            .all(|f| f.marker == 2),
        "while the file was broken the version before served"
    );
    assert!(first_of(3).capture_ns > fixed, "{frames:?}");
    let marker = &summary["processors"]["marker"];
    assert_eq!(marker["gaps"], 0, "{summary:#}");
    assert_eq!(marker["dropped"], 0, "{summary:#}");
}

#[test]
fn a_broken_edit_keeps_the_old_version_and_the_next_attempt_backs_off() {
    let mut watched = Watched::start();
    watched.flows(10);

    watched.edit("MARKER = = 2");
    let kept = watched.outcome();
    assert!(
        kept.contains("[watch] marker kept its old version: "),
        "{kept}"
    );
    watched.flows(10);

    watched.edit("MARKER = = 3");
    watched
        .running
        .wait_for_next("[watch] test.watch_python failed 1 time in a row: backing off, trying again 1 s after its last change", TOLD);
    let kept = watched.outcome();
    assert!(
        kept.contains("[watch] marker kept its old version: "),
        "{kept}"
    );
    watched.edit("MARKER = = 4");
    watched
        .running
        .wait_for_next("[watch] test.watch_python failed 2 times in a row: backing off, trying again 2 s after its last change", TOLD);
    watched.outcome();
    watched.flows(10);

    let (summary, stderr, frames) = watched.stop();
    assert_eq!(
        stderr
            .matches("test.watch_python changed: reloading")
            .count(),
        3,
        "each edit is one reload: {stderr}"
    );
    assert_eq!(versions(&frames), [1], "only the first version served");
    assert_eq!(summary["processors"]["marker"]["gaps"], 0, "{summary:#}");
}

/// Where the Rust package of the test builds: one directory kept across
/// runs, so only the first run compiles the SDK's dependencies.
fn cargo_target() -> PathBuf {
    bin_dir()
        .parent()
        .expect("target/<profile>")
        .join("watch-rust")
}

#[test]
fn a_rust_package_is_rebuilt_showing_cargo_and_a_failed_build_keeps_the_old_version() {
    let s = Scratch::new();
    let name = "acme.watch-rs";
    s.ok(&["new", "--lang", "rust", name]);
    let package = s.path().join(name);
    let target = cargo_target();
    // Built once before the run, as `plexus new` says; offline, from what
    // the workspace's own build fetched.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--offline", "--quiet"])
        .current_dir(&package)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("running cargo");
    assert!(
        built.success(),
        "cargo build of the generated package failed"
    );

    let data = s.data();
    let pipeline = package.join("pipeline.yaml");
    let mut running = spawn_plexus_with(
        &["run", pipeline.to_str().unwrap(), "--watch", "--json"],
        s.path(),
        &[("PLEXUS_DATA_DIR", &data), ("CARGO_TARGET_DIR", &target)],
    );
    running.wait_for("processor effect started", START);
    let runtime = running.runtime_id();
    running.wait_for("[watch] watching", TOLD);

    let lib = package.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{source}\nfn broken( {{\n")).unwrap();
    running.wait_for_next(&format!("[watch {name}] error"), BUILD);
    let failed = running.wait_for_next(&format!("[watch] {name}"), BUILD);
    assert!(
        failed.contains(&format!(
            "[watch] {name} did not build, its workers keep their old version: `cargo build --release` failed"
        )),
        "{failed}"
    );
    tapped_seqs(s.path(), &runtime, "effect.out", 10);

    std::fs::write(&lib, format!("{source}\n// fixed\n")).unwrap();
    running.wait_for_next(
        &format!("[watch] {name} failed 1 time in a row: backing off"),
        TOLD,
    );
    running.wait_for_next(
        &format!("[watch {name}]     Finished `release` profile"),
        BUILD,
    );
    // Built, the processor's worker is asked to swap; whether it could is
    // the swap's own test (an_edit_is_live_…).
    running.wait_for_next("[watch] effect", TOLD);

    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&runtime);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped", "{summary:#}");
    assert_eq!(summary["processors"]["effect"]["gaps"], 0, "{summary:#}");
}
