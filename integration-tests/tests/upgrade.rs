//! Lossless hot swaps (`plexus upgrade`, docs/ARCHITECTURE.md §14), end to
//! end: a 60 fps test pattern through stateful counters in Python,
//! TypeScript and Rust, each swapped for a new process 100 times while
//! frames flow. Every counter stamps how many frames it has handled into
//! its slot of each frame, carrying the count across swaps with
//! snapshot/restore; the last port is recorded. So each recorded frame
//! must appear once, in order, with every count equal to its position:
//! a frame lost or handled twice at any hop, or a count not carried, shows.
//! Then the refusals: a new version that cannot set up, or whose ports do
//! not fit, changes nothing and the old process serves on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::assert_no_residue;
use integration_tests::counters::{chain, count, FRAME_BYTES};
use integration_tests::detached::Data;
use integration_tests::process::Running;

/// Swaps of each counter.
const SWAPS: usize = 100;
const START: Duration = Duration::from_secs(60);

/// One test at a time: each swaps workers in front of a 60 fps source, and
/// a handover must take less than a queue of frames (133 ms), which a
/// second test's hundreds of process starts would eat into.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops the run with Ctrl-C and checks it ended cleanly; returns its
/// summary and the frames its source sent.
fn stop(run: Running, id: &str) -> (serde_json::Value, u64) {
    run.signal(libc::SIGINT);
    let run = run.finish();
    assert_no_residue(id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let sent = summary["processors"]["cam"]["frames_out"].as_u64().unwrap();
    (summary, sent)
}

/// The first frame the new process handled, as `plexus upgrade` answers.
fn switch_frame(answer: &str) -> u64 {
    answer
        .split("from frame ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no switch frame in {answer:?}"))
}

#[test]
fn a_hundred_swaps_of_each_language_lose_no_frame_and_carry_the_counts() {
    let _one = serial();
    let data = Data::new();
    let tmp = tempfile::tempdir().unwrap();
    let path = chain(tmp.path(), "swaps", 60, &["rs.out"]);
    let mut run = data.spawn(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = run.runtime_id();
    run.wait_for("processor sink started", START);

    let mut switched: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for round in 0..SWAPS {
        for processor in ["py", "ts", "rs"] {
            let upgraded = data.plexus(&["upgrade", processor, "--runtime", &id], tmp.path());
            assert_eq!(
                upgraded.code,
                Some(0),
                "swap {round} of {processor}: {}",
                upgraded.stderr
            );
            let seq = switch_frame(&upgraded.stdout);
            switched.entry(processor).or_default().push(seq);
        }
    }

    let (summary, sent) = stop(run, &id);
    for p in ["py", "ts", "rs", "sink"] {
        let processor = &summary["processors"][p];
        assert_eq!(processor["frames_in"], sent, "{p}: {summary:#}");
        assert_eq!(processor["gaps"], 0, "{p}: {summary:#}");
        assert_eq!(processor["errors"], 0, "{p}: {summary:#}");
    }
    for (processor, seqs) in &switched {
        assert_eq!(seqs.len(), SWAPS, "{processor}");
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]),
            "{processor} switched at {seqs:?}"
        );
    }

    let mut seqs = Vec::new();
    integration_tests::recorded::each_frame(&tmp.path().join("swaps.mcap"), |topic, h, p| {
        assert_eq!(topic, "/rs/out");
        assert_eq!(p.len(), FRAME_BYTES, "frame {}", h.seq);
        let counts = [1, 2, 3].map(|s| count(p, s));
        assert_eq!(
            counts,
            [h.seq + 1; 3],
            "frame {}: the counts of py, ts and rs",
            h.seq
        );
        seqs.push(h.seq);
    });
    let all: Vec<u64> = (0..sent).collect();
    assert!(
        seqs == all,
        "recorded {} frames of {sent}, not each once in order",
        seqs.len()
    );

    let events = data.plexus(&["events", "--runtime", &id, "--json"], tmp.path());
    let lines = events.json_lines();
    for event in lines
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("upgrade_"))
    {
        integration_tests::json_schema::assert_matches_schema("events", event);
    }
    let completed = lines
        .iter()
        .filter(|e| e["kind"] == "upgrade_completed")
        .count();
    assert_eq!(completed, 3 * SWAPS, "{}", events.stdout);
}

/// A Python package of the test's own, `test.versioned` with one processor
/// `test.marker`, which stamps `marker` into the first byte of each frame.
/// `schema` is its ports' schema; `body` its `process` method's body.
fn versioned(dir: &Path, version: &str, schema: &str, body: &str) -> PathBuf {
    let root = dir.join(format!("versioned-{version}"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("plexus.yaml"),
        format!(
            "package: {{ name: test.versioned, version: {version}, plexus: \">=0.1\" }}\n\
             processors:\n  \
               - name: test.marker\n    \
                 language: python\n    \
                 entry: marker:Marker\n    \
                 mode: reactive\n    \
                 inputs:  [{{ name: in,  schema: {schema} }}]\n    \
                 outputs: [{{ name: out, schema: {schema} }}]\n    \
                 config: {{}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("marker.py"),
        format!("class Marker:\n    def process(self, ctx, inputs):\n{body}\n"),
    )
    .unwrap();
    root
}

/// Stamps `marker` and passes the frame on.
fn stamping(marker: u8) -> String {
    format!(
        "        frame = inputs[\"in\"]\n        \
         out = ctx.outputs[\"out\"].loan(len(frame))\n        \
         memoryview(out)[:] = memoryview(frame)\n        \
         memoryview(out)[0] = {marker}\n        \
         out.send(frame)"
    )
}

#[test]
fn a_version_that_does_not_fit_or_set_up_changes_nothing() {
    let _one = serial();
    let data = Data::new();
    let tmp = tempfile::tempdir().unwrap();
    for (version, schema, body) in [
        ("0.1.0", "video/rgba8", stamping(1)),
        ("0.2.0", "video/gray8", stamping(2)),
        ("0.3.0", "video/rgba8", stamping(3)),
        ("0.4.0", "video/rgba8", "        return (".to_owned()),
    ] {
        let dir = versioned(tmp.path(), version, schema, &body);
        let installed = data.plexus(&["pkg", "install", dir.to_str().unwrap()], tmp.path());
        assert_eq!(installed.code, Some(0), "{}", installed.stderr);
    }
    let path = tmp.path().join("pipeline.yaml");
    let recording = tmp.path().join("versions.mcap");
    std::fs::write(
        &path,
        format!(
            "name: versions\n\
             packages: [test.versioned@0.1.0]\n\
             processors:\n  \
               cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 8, fps: 60 }} }}\n  \
               mark: {{ type: test.marker }}\n  \
               sink: {{ type: builtin.stats_sink }}\n\
             connections: [cam.out -> mark.in, mark.out -> sink.in]\n\
             record: {{ file: {}, ports: [mark.out] }}\n",
            recording.display()
        ),
    )
    .unwrap();
    let mut run = data.spawn(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = run.runtime_id();
    run.wait_for("processor sink started", START);
    let upgrade = |to: &str| {
        data.plexus(
            &["upgrade", "mark", "--to", to, "--runtime", &id],
            tmp.path(),
        )
    };

    let refused = upgrade("test.versioned@0.2.0");
    assert!(
        refused.refusal().contains("video/gray8"),
        "a version whose ports do not fit: {}",
        refused.stderr
    );
    let refused = upgrade("test.other@1.0.0");
    assert!(
        refused.refusal().contains(
            "processor `mark` is a test.marker of package `test.versioned`, not of `test.other`"
        ),
        "{}",
        refused.stderr
    );
    let refused = upgrade("test.versioned@0.4.0");
    assert!(
        refused.refusal().contains("could not set up") && refused.refusal().contains("SyntaxError"),
        "a version that cannot set up: {}",
        refused.stderr
    );
    // The traceback comes before the end of the sentence.
    assert!(
        refused.stderr.contains("worker `mark` serves on as it was"),
        "{}",
        refused.stderr
    );

    let upgraded = upgrade("test.versioned@0.3.0");
    assert_eq!(upgraded.code, Some(0), "{}", upgraded.stderr);
    let switch = switch_frame(&upgraded.stdout);
    // Frames of the new version pass before the run stops.
    integration_tests::tapped_seqs(tmp.path(), &id, "mark.out", 5);

    let (summary, sent) = stop(run, &id);
    assert_eq!(
        summary["processors"]["sink"]["frames_in"], sent,
        "{summary:#}"
    );
    assert_eq!(summary["processors"]["sink"]["gaps"], 0, "{summary:#}");
    assert!(switch < sent, "switched at {switch} of {sent}");

    let mut seqs = Vec::new();
    integration_tests::recorded::each_frame(&recording, |_, h, p| {
        let expected = if h.seq < switch { 1 } else { 3 };
        assert_eq!(p[0], expected, "frame {} of a switch at {switch}", h.seq);
        seqs.push(h.seq);
    });
    assert!(
        seqs == (0..sent).collect::<Vec<_>>(),
        "recorded {} frames of {sent}, not each once in order",
        seqs.len()
    );
}
