//! The stateful counter fixtures (`counter-python`, `counter-deno`,
//! `counter-rust`), which the live-swap tests use, as plain processors in a
//! normal run: a test pattern through the three in a chain, each stamping
//! its count into its own slot of every frame, recorded at both ends. Each
//! frame must leave the chain as it entered, but for the three counts,
//! which say how many frames each processor handled up to and including it.

use std::collections::BTreeMap;

use integration_tests::counters::{chain, count, FRAME_BYTES};

const FRAMES: u64 = 60;
/// Half the demo's rate, so that no frame is dropped on a loaded machine
/// and every count is its frame's position.
const FPS: u32 = 30;

#[test]
fn each_counter_stamps_its_count_into_its_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let path = chain(tmp.path(), "counters", FPS, &["cam.out", "rs.out"]);
    let summary = integration_tests::completed_run(&path, tmp.path(), FRAMES);
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
        let counts = [1, 2, 3].map(|s| count(payload, s));
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
