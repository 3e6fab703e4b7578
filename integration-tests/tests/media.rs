//! Real media in and out (issue 16), with real files: the test pattern
//! recorded to MP4 by `media.video_recorder`, that clip decoded by
//! `media.video_source` and recorded again; decoding both files with PyAV
//! (in the package's own environment, which plexus built) gives 300 frames
//! each, every one within 35 dB PSNR of its source, and the same duration.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::crasher::run_frames;
use integration_tests::{bin_dir, pipeline};

const FRAMES: u64 = 300;

/// The Python environment plexus built for the media package: the one with
/// PyAV in it.
fn media_env() -> PathBuf {
    let envs = bin_dir().join("plexus-test-cache/python-envs");
    std::fs::read_dir(&envs)
        .unwrap_or_else(|e| panic!("{}: {e}", envs.display()))
        .flatten()
        .map(|e| e.path())
        .find(|env| env.join("av").is_dir())
        .expect("a run of the media package installed PyAV")
}

/// Decodes `a` and `b` with PyAV and compares them frame by frame.
fn compare(a: &Path, b: &Path) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
import av, numpy as np

def frames(path):
    with av.open(path) as c:
        s = c.streams.video[0]
        out = [f.to_ndarray(format="rgb24").astype(np.float64) for f in c.decode(s)]
        duration = float(s.duration * s.time_base) if s.duration else float(c.duration or 0) / av.time_base
        return out, duration

def psnr(x, y):
    mse = np.mean((x - y) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)

(a, da), (b, db) = frames(sys.argv[1]), frames(sys.argv[2])
print(json.dumps({
    "frames_a": len(a), "frames_b": len(b),
    "min_psnr": min(psnr(x, y) for x, y in zip(a, b)),
    "duration_a": da, "duration_b": db,
}))
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(a)
        .arg(b)
        .env("PYTHONPATH", media_env())
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the comparison's JSON")
}

#[test]
fn a_clip_decoded_and_recorded_again_keeps_every_frame() {
    let record = pipeline("media-record.yaml", &[]);
    let run = run_frames(&record, FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let clip = record.0.path().join("clip/clip-0001.mp4");
    assert!(clip.is_file(), "{}", run.stderr);

    let roundtrip = pipeline("media-roundtrip.yaml", &[("clip", clip.to_str().unwrap())]);
    let run = run_frames(&roundtrip, FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["processors"]["rec"]["frames_in"], FRAMES, "{summary:#}");
    assert_eq!(summary["processors"]["rec"]["errors"], 0, "{summary:#}");
    let out = roundtrip.0.path().join("out/out-0001.mp4");

    let compared = compare(&clip, &out);
    println!("round trip: {compared}");
    assert_eq!(compared["frames_a"], FRAMES, "{compared}");
    assert_eq!(compared["frames_b"], FRAMES, "{compared}");
    let psnr = compared["min_psnr"].as_f64().unwrap();
    assert!(psnr >= 35.0, "worst frame {psnr:.1} dB: {compared}");
    let (da, db) = (
        compared["duration_a"].as_f64().unwrap(),
        compared["duration_b"].as_f64().unwrap(),
    );
    assert!((da - db).abs() <= 1.0 / 30.0, "{compared}");
}
