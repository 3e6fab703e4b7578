//! The `sync:` scenarios every language shares (issue 15): two 30 fps
//! sources, the second started 200 ms after the first, feed a
//! picture-in-picture processor (`pipelines/sync.yaml`). With `sync: all`
//! every frame of both sources is in exactly one set or counted unmatched;
//! with `sync: latest` each frame of the trigger input comes with the newest
//! frame of the other. Every output is checked pixel for pixel against an
//! independent composition of the two source frames it was made of.

use std::path::Path;

use crate::crasher::run_frames;
use crate::expect::{gradient, read_png};
use crate::pipeline;

/// Frames each source sends: the 200 ms head start leaves about 6 of the
/// first source's without a partner, and more when load starts the second
/// source's thread late.
const FRAMES: u64 = 310;
/// At least this many calls must be made: the head start and up to 600 ms
/// of lateness in starting cost up to 24 frames of either source.
const CALLS: u64 = 286;
/// How far behind the main frame an inset may be: the head start and the
/// lateness above, in frames.
const MAX_BEHIND: u64 = 24;

/// `sync: all`, matched by capture time within 10 ms.
pub fn all_makes_exact_pairs(package: &str, kind: &str) {
    let sync = "{ policy: all, tolerance_ms: 10 }";
    let (pip, pairs) = run(package, kind, sync);
    let calls = pip["frames_out"].as_u64().unwrap();
    assert_eq!(
        calls * 2 + pip["unmatched"].as_u64().unwrap(),
        2 * FRAMES,
        "every frame is in one pair or unmatched: {pip:#}"
    );
    for pair in pairs.windows(2) {
        assert!(
            pair[1].0 > pair[0].0 && pair[1].1 > pair[0].1,
            "no frame is in two pairs: {pair:?}"
        );
    }
}

/// `sync: latest` with `main` the trigger.
pub fn latest_brings_the_newest(package: &str, kind: &str) {
    let sync = "{ policy: latest, trigger: main }";
    let (pip, pairs) = run(package, kind, sync);
    let calls = pip["frames_out"].as_u64().unwrap();
    assert_eq!(
        calls + pip["unmatched"].as_u64().unwrap(),
        FRAMES,
        "every main frame is a call or unmatched: {pip:#}"
    );
    for pair in pairs.windows(2) {
        assert_eq!(
            pair[1].0,
            pair[0].0 + 1,
            "one call per main frame: {pair:?}"
        );
        assert!(pair[1].1 >= pair[0].1, "never an older inset: {pair:?}");
    }
}

/// Runs the scenario; returns the summary of `pip` and, per output frame in
/// order, the sequence numbers of its main and inset frames.
fn run(package: &str, kind: &str, sync: &str) -> (serde_json::Value, Vec<(u64, u64)>) {
    let pipeline = pipeline(
        "sync.yaml",
        &[("package", package), ("type", kind), ("sync", sync)],
    );
    let run = run_frames(&pipeline, FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    let pip = summary["processors"]["pip"].clone();
    assert_eq!(pip["frames_in"], 2 * FRAMES, "{summary:#}");
    assert_eq!(pip["dropped"], 0, "{summary:#}");
    assert_eq!(pip["errors"], 0, "{summary:#}");
    let calls = pip["frames_out"].as_u64().unwrap();
    assert!(calls >= CALLS, "{summary:#}");
    assert_eq!(summary["processors"]["sink"]["frames_in"], calls);
    let pairs = composed(&pipeline.0.path().join("png"));
    assert_eq!(pairs.len() as u64, calls);
    (pip, pairs)
}

/// Checks every PNG the sink wrote (frame `n`, named by the main frame's
/// sequence number) against the composition of main frame `n` and the
/// inset frame `b` its top-left pixel names (`gradient` puts `b mod 256` in
/// red at (0, 0)); returns the `(n, b)` pairs in order.
fn composed(dir: &Path) -> Vec<(u64, u64)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "latest.png")
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let n: u64 = name
                .trim_start_matches("png-")
                .trim_end_matches(".png")
                .parse()
                .unwrap_or_else(|_| panic!("a frame's PNG: {name}"));
            let image = read_png(&dir.join(name));
            assert_eq!((image.width, image.height), (32, 24));
            let red = u64::from(image.pixels[0]);
            let b = (n.saturating_sub(MAX_BEHIND)..=n)
                .find(|b| b % 256 == red)
                .unwrap_or_else(|| panic!("frame {n}: no inset within {MAX_BEHIND} frames"));
            for (i, pixel) in image.pixels.chunks(4).enumerate() {
                let (x, y) = (i as u32 % 32, i as u32 / 32);
                let expected = match x < 16 && y < 12 {
                    true => gradient(b, 2 * x, 2 * y),
                    false => gradient(n, x, y),
                };
                assert_eq!(pixel, expected, "frame {n} (inset {b}), pixel ({x}, {y})");
            }
            (n, b)
        })
        .collect()
}
