//! Real media in and out (issue 16), with real files: the test pattern
//! recorded to MP4 by `media.video_recorder`, that clip decoded by
//! `media.video_source` and recorded again; decoding both files with PyAV
//! (in the package's own environment, which plexus built) gives 300 frames
//! each, every one within 35 dB PSNR of its source, and the same duration.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::crasher::run_frames;
use integration_tests::expect::{inverted, sepia_of, with_counter_bar};
use integration_tests::{
    assert_no_residue, bin_dir, example_package, pipeline, ps_worker, spawn_plexus, tapped_seqs,
    workspace, PlexusRun,
};

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
    python(SCRIPT, &[a, b])
}

/// Decodes each of `files`: how many frames, and the error that ended the
/// decoding early, if one did.
fn decode(files: &[&Path]) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
import av

def decoded(path):
    n, error = 0, None
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "SLICE"
        try:
            for _ in c.decode(s):
                n += 1
        except av.error.FFmpegError as e:
            error = str(e)
    return {"frames": n, "error": error}

print(json.dumps([decoded(p) for p in sys.argv[1:]]))
"#;
    python(SCRIPT, files)
}

/// Runs a Python `script` with PyAV and numpy on `args`; returns the JSON it
/// prints.
fn python(script: &str, args: &[&Path]) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .env("PYTHONPATH", media_env())
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

/// Records 300 frames of the test pattern; returns the directory and the
/// clip's path.
fn record_clip() -> (tempfile::TempDir, PathBuf) {
    let record = pipeline("media-record.yaml", &[("rolling_s", "0")]);
    let run = run_frames(&record, FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let clip = record.0.path().join("clip/clip-0001.mp4");
    assert!(clip.is_file(), "{}", run.stderr);
    (record.0, clip)
}

/// Runs `pipeline` with no limit: it ends when its sources finish.
fn run_to_end(pipeline: &(tempfile::TempDir, PathBuf)) -> PlexusRun {
    let (tmp, path) = pipeline;
    let run = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path()).finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    run
}

/// The clip decoded by `media.video_source` and recorded again: the source
/// finishes at the end of the file, so the run ends by itself.
#[test]
fn a_clip_decoded_and_recorded_again_keeps_every_frame() {
    let (_clip_dir, clip) = record_clip();
    let roundtrip = pipeline("media-roundtrip.yaml", &[("clip", clip.to_str().unwrap())]);
    let run = run_to_end(&roundtrip);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(
        summary["processors"]["rec"]["frames_in"], FRAMES,
        "{summary:#}"
    );
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

/// A file cut short: the source decodes what it can, then finishes; the
/// run ends with what was decoded recorded.
#[test]
fn a_truncated_clip_is_decoded_as_far_as_it_goes() {
    let (_clip_dir, clip) = record_clip();
    let bytes = std::fs::read(&clip).unwrap();
    let cut = clip.with_file_name("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 5]).unwrap();
    let roundtrip = pipeline("media-roundtrip.yaml", &[("clip", cut.to_str().unwrap())]);
    let run = run_to_end(&roundtrip);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let got = run.json()["processors"]["rec"]["frames_in"]
        .as_u64()
        .unwrap();
    assert!(
        got > 0 && got < FRAMES,
        "{} frames of a cut file\n{}",
        got,
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("`{}` is damaged after frame {got}", cut.display())),
        "{}",
        run.stderr
    );
}

/// Mistakes a user makes with media are refused before the run, in one
/// sentence naming the processor and the path, with no traceback.
#[test]
fn media_mistakes_are_one_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let not_video = tmp.path().join("notes.txt");
    std::fs::write(&not_video, "not a video").unwrap();
    let missing = tmp.path().join("missing.mp4");
    let under_a_file = not_video.join("out");
    let video = |path: &Path| {
        format!(
            "{{ type: media.video_source, config: {{ path: {} }} }}",
            path.display()
        )
    };
    let pattern = "{ type: builtin.test_pattern, config: { width: 32, height: 24 } }".to_owned();
    let cases = [
        (
            video(&missing),
            String::new(),
            format!(
                "processor `src`: video file `{}` does not exist",
                missing.display()
            ),
        ),
        (
            video(&not_video),
            String::new(),
            format!(
                "processor `src`: `{}` is not a video file FFmpeg can read",
                not_video.display()
            ),
        ),
        (
            pattern.clone(),
            format!("dir: {}", under_a_file.display()),
            // The run makes a processor's write directories before any
            // worker starts (§15), so it is plexus that refuses.
            format!(
                "processor `rec` may write {}, which does not exist and cannot be created",
                under_a_file.display()
            ),
        ),
        (
            pattern,
            "codec: h263x".to_owned(),
            "processor `rec`".to_owned(),
        ),
    ];
    for (source, recorder, needle) in cases {
        let text = format!(
            "name: bad\npackages: [{}]\nprocessors:\n  src: {source}\n  rec: {{ type: media.video_recorder, config: {{ {recorder} }} }}\nconnections: [src.out -> rec.in]\n",
            integration_tests::example_package("media-python").display()
        );
        let path = tmp.path().join("bad.yaml");
        std::fs::write(&path, text).unwrap();
        let run = spawn_plexus(
            &["run", path.to_str().unwrap(), "--frames", "10"],
            tmp.path(),
        )
        .finish();
        let refusal = run.refusal();
        assert!(
            refusal.contains(&needle),
            "`{needle}` missing from: {refusal}"
        );
        assert!(!run.stderr.contains("Traceback"), "{}", run.stderr);
    }
}

/// The recorder killed halfway through 300 frames: it comes back writing a
/// new segment. The first segment decodes without error, the second holds
/// the rest, and every frame the camera sent is in one of them, or is one
/// the summary counts as lost, or is the one the killed recorder held.
#[test]
fn a_killed_recorder_keeps_its_segment_and_starts_a_new_one() {
    let (tmp, path) = pipeline("media-crash.yaml", &[]);
    let frames = FRAMES.to_string();
    let mut running = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    let id = running.runtime_id();
    running.wait_for("processor rec started", std::time::Duration::from_secs(180));
    tapped_seqs(tmp.path(), &id, "cam.out", FRAMES / 2);
    let pid = ps_worker(tmp.path(), &id, "rec")["pid"].as_u64().unwrap() as i32;
    // SAFETY: kill(2) of a worker of our own run.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    running.wait_for(
        "worker rec restarted (generation 1",
        std::time::Duration::from_secs(60),
    );
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let lost = summary["processors"]["rec"]["dropped"].as_u64().unwrap();

    let dir = tmp.path().join("rec");
    let (first, second) = (dir.join("rec-0001.mp4"), dir.join("rec-0002.mp4"));
    let segments = decode(&[&first, &second]);
    println!("segments: {segments}, lost: {lost}");
    assert_eq!(segments[0]["error"], serde_json::Value::Null, "{segments}");
    assert_eq!(segments[1]["error"], serde_json::Value::Null, "{segments}");
    let (a, b) = (
        segments[0]["frames"].as_u64().unwrap(),
        segments[1]["frames"].as_u64().unwrap(),
    );
    assert!(a >= FRAMES / 3 && b >= FRAMES / 3, "{segments}");
    // A fragment is written when the next frame's packet comes, so the
    // killed recorder held at most two frames: the one it was encoding and
    // the one before, whose fragment was still waiting for it.
    let held = FRAMES - (a + b + lost);
    assert!(held <= 2, "{segments}, lost {lost}: {summary:#}");
}

/// With `rolling_s: 4`, 300 frames at 30 fps are three segments of 120, 120
/// and 60 frames, each of which decodes whole.
#[test]
fn a_rolling_recorder_cuts_segments_of_its_length() {
    let record = pipeline("media-record.yaml", &[("rolling_s", "4")]);
    let run = run_frames(&record, FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let dir = record.0.path().join("clip");
    let files: Vec<PathBuf> = (1..=3)
        .map(|n| dir.join(format!("clip-{n:04}.mp4")))
        .collect();
    assert!(!dir.join("clip-0004.mp4").exists());
    let segments = decode(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    for (segment, frames) in segments.as_array().unwrap().iter().zip([120, 120, 60]) {
        assert_eq!(segment["frames"], frames, "{segments}");
        assert_eq!(segment["error"], serde_json::Value::Null, "{segments}");
    }
}

/// `examples/video/<name>.yaml` at 320x240, writing into `out`, as a
/// pipeline to run in a directory of its own.
fn video_example(tmp: &Path, out: &Path, name: &str) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(workspace().join(format!("examples/video/{name}.yaml")))
        .unwrap()
        .replace(
            "../packages/",
            &format!("{}/", example_package("").display()),
        )
        .replace("../../plexus-out/video", out.to_str().unwrap())
        .replace("width: 640, height: 480", "width: 320, height: 240");
    let path = tmp.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    (tempfile::tempdir().unwrap(), path)
}

/// `examples/video` as a user runs it, at 320x240 to keep the test short:
/// the sample made, then played through sepia (Rust), invert (Python) and
/// the counter bar (TypeScript) into MP4. Every frame arrives, and every
/// tenth output frame is, within 35 dB PSNR, that chain applied to the
/// decoded input frame, computed here.
#[test]
fn the_video_demo_applies_the_chain_to_every_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("video");
    let example = |name: &str| video_example(tmp.path(), &out, name);
    let made = run_frames(&example("sample"), FRAMES);
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let run = run_to_end(&example("pipeline"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    for sink in ["capture_stats", "recorder"] {
        assert_eq!(
            summary["processors"][sink]["frames_in"], FRAMES,
            "{summary:#}"
        );
    }

    const SCRIPT: &str = r#"
import json, sys
import av

def frames(path):
    with av.open(path) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

given, made, dir = frames(sys.argv[1]), frames(sys.argv[2]), sys.argv[3]
for n in range(0, len(made), 10):
    open(f"{dir}/in-{n}.raw", "wb").write(given[n].tobytes())
    open(f"{dir}/out-{n}.raw", "wb").write(made[n].tobytes())
h, w = made[0].shape[:2]
print(json.dumps({"given": len(given), "made": len(made), "width": w, "height": h}))
"#;
    let decoded = python(
        SCRIPT,
        &[
            &out.join("sample-0001.mp4"),
            &out.join("output-0001.mp4"),
            tmp.path(),
        ],
    );
    assert_eq!(decoded["made"], FRAMES, "{decoded}");
    let width = decoded["width"].as_u64().unwrap() as u32;
    let mut worst = f64::INFINITY;
    for n in (0..FRAMES).step_by(10) {
        let given = std::fs::read(tmp.path().join(format!("in-{n}.raw"))).unwrap();
        let made = std::fs::read(tmp.path().join(format!("out-{n}.raw"))).unwrap();
        let squared: f64 = given
            .chunks(3)
            .zip(made.chunks(3))
            .enumerate()
            .map(|(i, (g, m))| {
                let (x, y) = (i as u32 % width, i as u32 / width);
                let rgba = [g[0], g[1], g[2], 255];
                let expected = with_counter_bar(n, width, x, y, inverted(sepia_of(rgba)));
                (0..3)
                    .map(|c| (f64::from(expected[c]) - f64::from(m[c])).powi(2))
                    .sum::<f64>()
            })
            .sum();
        let mse = squared / given.len() as f64;
        let psnr = 10.0 * (255.0_f64.powi(2) / mse.max(1e-9)).log10();
        assert!(psnr >= 35.0, "frame {n}: {psnr:.1} dB");
        worst = worst.min(psnr);
    }
    println!("video demo: worst frame {worst:.1} dB PSNR against the chain");
}

/// The crash journey on the video demo: while it plays, the recorder, the
/// Python and the TypeScript workers are killed, one after the other. Each
/// comes back; the source decodes on, so its own sink gets every frame; the
/// recorder's segments all decode; and of the frames the recorder received,
/// every one is in a segment but for at most the two the killed recorder
/// held (as `a_killed_recorder_keeps_its_segment_and_starts_a_new_one`
/// explains: the one it was encoding and the one whose fragment waited for
/// it).
#[test]
fn the_video_demo_rides_out_its_workers_being_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("video");
    let made = run_frames(&video_example(tmp.path(), &out, "sample"), FRAMES);
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let (dir, path) = video_example(tmp.path(), &out, "pipeline");
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], dir.path());
    let id = running.runtime_id();
    running.wait_for(
        "processor recorder started",
        std::time::Duration::from_secs(180),
    );
    for victim in ["recorder", "invert", "bar"] {
        tapped_seqs(dir.path(), &id, "source.out", 20);
        let pid = ps_worker(dir.path(), &id, victim)["pid"].as_u64().unwrap() as i32;
        // SAFETY: kill(2) of a worker of our own run.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        running.wait_for(
            &format!("worker {victim} restarted (generation 1"),
            std::time::Duration::from_secs(60),
        );
    }
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let p = &summary["processors"];
    assert_eq!(p["capture_stats"]["frames_in"], FRAMES, "{summary:#}");
    assert_eq!(p["capture_stats"]["dropped"], 0, "{summary:#}");
    let segments: Vec<PathBuf> = (1..)
        .map(|n| out.join(format!("output-{n:04}.mp4")))
        .take_while(|f| f.exists())
        .collect();
    assert_eq!(
        segments.len(),
        2,
        "the recorder was killed once: {segments:?}"
    );
    let decoded = decode(&segments.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let mut in_files = 0;
    for segment in decoded.as_array().unwrap() {
        assert_eq!(segment["error"], serde_json::Value::Null, "{decoded}");
        in_files += segment["frames"].as_u64().unwrap();
    }
    let received = p["recorder"]["frames_in"].as_u64().unwrap();
    assert!(
        received - in_files <= 2,
        "received {received}, in the files {in_files}: {decoded}"
    );
}
