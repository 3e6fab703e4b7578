//! The stateful counter fixtures (`counter-python`, `counter-deno`,
//! `counter-rust`), which the live-swap tests use, as plain processors in a
//! normal run: a test pattern through the three in a chain, each stamping
//! its count into its own slot of every frame, recorded at both ends. Each
//! frame must leave the chain as it entered, but for the three counts,
//! which say how many frames each processor handled up to and including it.

use std::collections::BTreeMap;
use std::path::Path;

use integration_tests::{fixture, plexus_checked};

const FRAMES: u64 = 60;
/// Bytes of one frame: 64×8 RGBA.
const FRAME_BYTES: usize = 64 * 8 * 4;

/// The chain in `tmp`, recording the camera's and the last counter's frames
/// into `tmp/counters.mcap`. Half the demo's rate, so that no frame is
/// dropped on a loaded machine and every count is its frame's position.
fn pipeline(tmp: &Path) -> std::path::PathBuf {
    let packages = ["counter-python", "counter-deno", "counter-rust"]
        .map(|name| fixture(name).display().to_string())
        .join(", ");
    let text = format!(
        "name: counters\n\
         packages: [{packages}]\n\
         processors:\n  \
           cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 8, fps: 30 }} }}\n  \
           py: {{ type: test.py_counter, config: {{ slot: 1 }} }}\n  \
           ts: {{ type: test.ts_counter, config: {{ slot: 2 }} }}\n  \
           rs: {{ type: test.rs_counter, config: {{ slot: 3 }} }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections: [cam.out -> py.in, py.out -> ts.in, ts.out -> rs.in, rs.out -> sink.in]\n\
         record: {{ file: {}, ports: [cam.out, rs.out] }}\n",
        tmp.join("counters.mcap").display()
    );
    let path = tmp.join("pipeline.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn slot(payload: &[u8], slot: usize) -> u64 {
    u64::from_le_bytes(payload[8 * slot..8 * slot + 8].try_into().unwrap())
}

#[test]
fn each_counter_stamps_its_count_into_its_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let path = pipeline(tmp.path());
    let frames = FRAMES.to_string();
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    for id in ["py", "ts", "rs", "sink"] {
        let p = &summary["processors"][id];
        assert_eq!(p["frames_in"], FRAMES, "{id}: {summary:#}");
        assert_eq!(p["errors"], 0, "{id}: {summary:#}");
    }

    let mut by_topic: BTreeMap<String, BTreeMap<u64, Vec<u8>>> = BTreeMap::new();
    integration_tests::recorded::each_frame(&tmp.path().join("counters.mcap"), |topic, h, p| {
        by_topic
            .entry(topic.to_owned())
            .or_default()
            .insert(h.seq, p.to_vec());
    });
    let (cam, out) = (&by_topic["/cam/out"], &by_topic["/rs/out"]);
    let all: Vec<u64> = (0..FRAMES).collect();
    assert_eq!(cam.keys().copied().collect::<Vec<_>>(), all);
    assert_eq!(out.keys().copied().collect::<Vec<_>>(), all);
    for (seq, payload) in out {
        assert_eq!(payload.len(), FRAME_BYTES, "frame {seq}");
        let counts = [1, 2, 3].map(|s| slot(payload, s));
        assert_eq!(
            counts,
            [seq + 1; 3],
            "frame {seq}: the counts of py, ts, rs"
        );
        let input = &cam[seq];
        assert_eq!(payload[..8], input[..8], "frame {seq}: slot 0 is untouched");
        assert_eq!(
            payload[32..],
            input[32..],
            "frame {seq}: the rest is copied"
        );
    }
}
