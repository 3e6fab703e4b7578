//! Sensor samples through three languages, end to end: the example
//! `examples/samples/pipeline.yaml` (builtin.test_samples' 8-channel
//! sine blocks in Rust, band power per channel with numpy in Python, a
//! threshold in TypeScript, a sink) runs for real and records its three
//! ports; every block, power and flag in the recording is checked against
//! the sine formula computed here, independently of the code under test.
//! The SDKs' refusal of a bad shaped loan is checked in each language's own
//! unit tests; the TypeScript ones run from here, with the deno plexus uses.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{bin_dir, plexus_checked, workspace};
use ipc_schemas::{FrameHeader, SchemaId};

/// The example's source, as its config says (checked against the file).
const CHANNELS: usize = 8;
const RATE: u32 = 250;
const BLOCK: usize = 25;
const HZ: f64 = 3.0;
/// The example's threshold.
const THRESHOLD: f64 = 0.5;
/// Blocks run: 4 s of samples.
const FRAMES: u64 = 40;
/// How far a band power may be from the formula's: numpy sums float32
/// squares, the formula here sums in f64.
const TOLERANCE: f64 = 1e-4;

/// Sample `n` of channel `c` as builtin.test_samples makes it (contract §1):
/// `sin(2π · hz · (c+1) · n / rate)` as f32.
fn sample(c: usize, n: usize) -> f32 {
    (2.0 * PI * HZ * (c + 1) as f64 * n as f64 / f64::from(RATE)).sin() as f32
}

/// The mean power of channel `c` over block `k`, from the formula.
fn power(c: usize, k: usize) -> f64 {
    let squares: f64 = (0..BLOCK)
        .map(|i| f64::from(sample(c, k * BLOCK + i)).powi(2))
        .sum();
    squares / BLOCK as f64
}

/// The example pipeline in `tmp`, its packages found where they are, with a
/// `record:` section that records the three ports into `tmp/samples.mcap`.
fn example(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = workspace().join("examples/samples");
    let text = std::fs::read_to_string(dir.join("pipeline.yaml")).unwrap();
    let config = format!("channels: {CHANNELS}, rate: {RATE}, block: {BLOCK}, hz: {HZ}");
    assert!(
        text.contains(&config) && text.contains(&format!("threshold: {THRESHOLD}")),
        "the example's config is not what this test computes ({config}, threshold {THRESHOLD}):\n{text}"
    );
    let packages = "packages: [bandpower-python, threshold-deno]";
    assert!(text.contains(packages), "{text}");
    let file = tmp.join("samples.mcap");
    let text = text.replace(
        packages,
        &format!(
            "packages: [{0}/bandpower-python, {0}/threshold-deno]",
            dir.display()
        ),
    ) + &format!(
        "record: {{ file: {}, ports: [sensor.out, power.out, gate.out] }}\n",
        file.display()
    );
    let path = tmp.join("pipeline.yaml");
    std::fs::write(&path, text).unwrap();
    (path, file)
}

/// Every frame of a recording, by topic and sequence number.
type Frames = BTreeMap<String, BTreeMap<u64, (FrameHeader, Vec<u8>)>>;

fn read_recording(file: &Path) -> Frames {
    let mut frames = Frames::new();
    integration_tests::recorded::each_frame(file, |topic, frame, payload| {
        let by_seq = frames.entry(topic.to_string()).or_default();
        assert!(
            by_seq
                .insert(frame.seq, (frame, payload.to_vec()))
                .is_none(),
            "{topic} holds frame {} twice",
            frame.seq
        );
    });
    frames
}

/// The frames of `topic`, checked to be blocks 0 to FRAMES-1 of `schema`
/// with `shape` (packed), each with its payload.
fn shaped<'a>(
    frames: &'a Frames,
    topic: &str,
    schema: SchemaId,
    shape: &[u32],
) -> Vec<(usize, &'a [u8])> {
    let by_seq = &frames[topic];
    assert_eq!(
        by_seq.keys().copied().collect::<Vec<_>>(),
        (0..FRAMES).collect::<Vec<_>>(),
        "{topic}"
    );
    let element = schema.element_bytes().unwrap();
    let mut strides = vec![element; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    by_seq
        .iter()
        .map(|(&seq, (header, payload))| {
            let ndim = header.ndim as usize;
            assert_eq!(header.schema, schema.code(), "{topic} frame {seq}");
            assert_eq!(
                (&header.shape[..ndim], &header.strides[..ndim]),
                (shape, &strides[..]),
                "{topic} frame {seq}: shape and strides"
            );
            let len = shape.iter().product::<u32>() * element;
            assert_eq!(payload.len(), len as usize, "{topic} frame {seq}");
            (seq as usize, payload.as_slice())
        })
        .collect()
}

fn floats(payload: &[u8]) -> Vec<f32> {
    payload
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn band_power_and_flags_of_sine_blocks_match_the_formula() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, file) = example(tmp.path());
    let summary = integration_tests::completed_run(&path, tmp.path(), FRAMES);
    for id in ["power", "gate", "stats"] {
        let p = &summary["processors"][id];
        assert_eq!(p["frames_in"], FRAMES, "{id}: {summary:#}");
        assert_eq!(p["errors"], 0, "{id}: {summary:#}");
        assert_eq!(p["gaps"], 0, "{id}: {summary:#}");
    }

    let recorded = read_recording(&file);
    // The blocks themselves: the source is where the formula starts.
    let shape = [CHANNELS as u32, BLOCK as u32];
    for (k, payload) in shaped(&recorded, "/sensor/out", SchemaId::SamplesF32, &shape) {
        assert_eq!(recorded["/sensor/out"][&(k as u64)].0.rate, RATE);
        for (at, &got) in floats(payload).iter().enumerate() {
            let (c, i) = (at / BLOCK, at % BLOCK);
            let want = sample(c, k * BLOCK + i);
            assert!(
                (got - want).abs() <= 1e-6,
                "block {k}, channel {c}, sample {i}: {got}, the formula says {want}"
            );
        }
    }

    // Python's band power per channel, block by block.
    let powers: BTreeMap<usize, Vec<f32>> = shaped(
        &recorded,
        "/power/out",
        SchemaId::TensorF32,
        &[CHANNELS as u32],
    )
    .into_iter()
    .map(|(k, payload)| (k, floats(payload)))
    .collect();
    for (&k, block) in &powers {
        for (c, &got) in block.iter().enumerate() {
            let want = power(c, k);
            assert!(
                (f64::from(got) - want).abs() <= TOLERANCE,
                "block {k}, channel {c}: band power {got}, the formula says {want}"
            );
        }
    }

    // TypeScript's flags: 1 where the power it received is above the
    // threshold, which is also the formula's verdict wherever that is not
    // within rounding of the threshold.
    let mut seen = [0_usize; 2];
    for (k, flags) in shaped(
        &recorded,
        "/gate/out",
        SchemaId::TensorU8,
        &[CHANNELS as u32],
    ) {
        for (c, &flag) in flags.iter().enumerate() {
            let received = f64::from(powers[&k][c]);
            assert_eq!(
                flag,
                u8::from(received > THRESHOLD),
                "block {k}, channel {c}: flag {flag} for power {received}"
            );
            let want = power(c, k);
            if (want - THRESHOLD).abs() > TOLERANCE {
                assert_eq!(flag, u8::from(want > THRESHOLD), "block {k}, channel {c}");
            }
            seen[usize::from(flag)] += 1;
        }
    }
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "the example must flag some channels and not others to show anything: {seen:?}"
    );
}

/// The deno plexus ran the example with: `PLEXUS_DENO`, one on `PATH`, or
/// the one it installed into the tests' cache.
fn deno() -> PathBuf {
    if let Some(explicit) = std::env::var_os("PLEXUS_DENO") {
        return PathBuf::from(explicit);
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("deno"))
            .find(|d| d.is_file())
    });
    if let Some(deno) = on_path {
        return deno;
    }
    let installs = bin_dir().join("plexus-test-cache/deno");
    std::fs::read_dir(&installs)
        .unwrap_or_else(|e| panic!("{}: {e}", installs.display()))
        .filter_map(|version| Some(version.ok()?.path().join("node_modules/deno/deno")))
        .find(|deno| deno.is_file())
        .unwrap_or_else(|| panic!("no deno installed under {}", installs.display()))
}

/// The TypeScript SDK's unit tests (shaped frames, `loanArray` and the
/// sentence a bad one throws, besides the lifetime rules), with the deno
/// that `validate --deep` of the example provisions and loads it with.
#[test]
fn the_typescript_sdk_unit_tests_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = example(tmp.path());
    let checked = plexus_checked(&["validate", "--deep", path.to_str().unwrap()], tmp.path());
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);

    let out = Command::new(deno())
        .args([
            "test",
            "--no-config",
            "--no-lock",
            "--no-remote",
            "plexus_test.ts",
        ])
        .current_dir(workspace().join("worker-deno/ts"))
        .env("DENO_DIR", tmp.path().join("deno-dir"))
        .env("NO_COLOR", "1")
        .output()
        .expect("running deno test");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("a bad loanArray throws one sentence naming the port ... ok"),
        "{log}"
    );
}

/// `plexus tap` shows a shaped frame's shape and rate where a video frame
/// shows its size, in text and in JSON its schema describes.
#[test]
fn tap_shows_the_shape_and_rate_of_audio_frames() {
    let (tmp, path) = integration_tests::write_pipeline(
        "name: tapped\nprocessors:\n  \
         tone: { type: builtin.test_audio, config: { channels: 2, rate: 48000, block: 480 } }\n  \
         sink: { type: builtin.stats_sink }\nconnections:\n  - tone.out -> sink.in\n",
    );
    let mut running = integration_tests::spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "300"],
        tmp.path(),
    );
    let id = running.runtime_id();
    running.wait_for("processor tone started", std::time::Duration::from_secs(60));
    let tap = |json: &[&str]| {
        let mut args = vec!["tap", "tone.out", "--runtime", &id, "--count", "3"];
        args.extend_from_slice(json);
        integration_tests::plexus(&args, tmp.path())
    };
    let tapped = tap(&["--json"]);
    assert_eq!(tapped.code, Some(0), "{}", tapped.stderr);
    let frames = tapped.json_lines();
    assert_eq!(frames.len(), 3, "{}", tapped.stdout);
    for frame in &frames {
        integration_tests::assert_matches_schema("tap", frame);
        assert_eq!(frame["schema"], "audio/f32", "{frame}");
        assert_eq!(frame["shape"], serde_json::json!([480, 2]), "{frame}");
        assert_eq!(frame["rate"], 48000, "{frame}");
        assert_eq!(frame["bytes"], 480 * 2 * 4, "{frame}");
    }
    let text = tap(&[]);
    assert!(
        text.stdout
            .contains("audio/f32  shape [480, 2]  rate 48000  3840 B"),
        "{}",
        text.stdout
    );
    let run = running.finish();
    integration_tests::assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
