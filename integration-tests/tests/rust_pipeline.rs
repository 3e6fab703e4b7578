//! The example Rust pipeline end to end: 300 frames from the builtin source
//! through the grayscale dylib plugin reach both sinks, all of them, in
//! order, and the PNG holds exactly the grayscale of the pattern drawn.

use integration_tests::expect::{gray_of, pattern_rgba, read_png};
use integration_tests::{assert_no_residue, example_in, plexus, worker_language};

#[test]
fn example_pipeline_delivers_every_frame_and_the_right_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = example_in(tmp.path(), "rust-pipeline");

    let run = plexus(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--frames",
            "300",
            "--json",
        ],
        tmp.path(),
    );
    let id = run.runtime_id().expect("a runtime id in the log");
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed");
    assert_eq!(summary["runtime"], id.as_str());
    let p = &summary["processors"];
    assert_eq!(p["camera"]["frames_out"], 300);
    assert_eq!(p["gray"]["frames_in"], 300);
    assert_eq!(p["gray"]["frames_out"], 300);
    assert_eq!(p["gray"]["errors"], 0);
    for sink in ["stats", "png"] {
        assert_eq!(p[sink]["frames_in"], 300, "{sink}");
        assert_eq!(p[sink]["gaps"], 0, "{sink}");
        assert_eq!(p[sink]["dropped"], 0, "{sink}");
    }
    for (name, worker) in summary["workers"].as_object().unwrap() {
        assert_eq!(worker["exit"]["code"], 0, "worker {name}");
        assert_eq!(worker_language(worker), "rust");
    }

    for seq in [0u64, 200] {
        let image = read_png(&tmp.path().join(format!("png/png-{seq:06}.png")));
        assert_eq!((image.width, image.height), (640, 480));
        assert_eq!(image.color, png::ColorType::Grayscale);
        for y in 0..image.height {
            for x in 0..image.width {
                let expected = gray_of(pattern_rgba(seq, x, y));
                let got = image.pixels[(y * image.width + x) as usize];
                assert_eq!(got, expected, "frame {seq}, pixel ({x}, {y})");
            }
        }
    }
    let latest = read_png(&tmp.path().join("png/latest.png"));
    assert_eq!(
        latest.pixels,
        read_png(&tmp.path().join("png/png-000200.png")).pixels
    );
}

/// A Rust plugin processor with `mode: continuous` and `interval_ms: 10` is
/// a source: its `produce` draws each frame in place.
#[test]
fn a_rust_plugin_continuous_source_produces_exact_frames() {
    integration_tests::source::produces_exact_gradient("conform-rust", "test.rs_gradient");
}

/// A Rust plugin processor with `mode: manual` produces from a thread it
/// spawns in `start`, until `stop`.
#[test]
fn a_rust_plugin_manual_source_produces_exact_frames() {
    integration_tests::source::produces_exact_gradient("conform-rust", "test.rs_manual_gradient");
}

/// Killed, a manual source comes back and its sequence goes on.
#[test]
fn a_rust_plugin_source_resumes_its_sequence_after_a_kill() {
    integration_tests::source::resumes_its_sequence_after_a_kill(
        "conform-rust",
        "test.rs_manual_gradient",
    );
}

/// A manual source whose thread deadlocks sends nothing more: past its
/// `frame_timeout_ms` it is taken for stuck and restarted.
#[test]
fn a_rust_plugin_source_whose_thread_deadlocks_is_restarted() {
    integration_tests::source::a_stuck_source_is_restarted(
        "conform-rust",
        "test.rs_manual_gradient",
        "{ hang: true }",
        "frame_timeout_ms: 500",
        "processor src has sent no frame for",
    );
}

/// A Rust plugin picture in picture with `sync: all` gets one frame of each
/// source per call (its `process_synced`), paired by capture time.
#[test]
fn a_rust_plugin_gets_its_inputs_paired_with_sync_all() {
    integration_tests::sync::all_makes_exact_pairs("conform-rust", "test.rs_pip");
}

/// A source's media time travels in the frame header: the Rust gradient
/// presents frame n at n × 10 ms for 10 ms, and that is what `tap` reads
/// off its port.
#[test]
fn a_source_carries_its_media_time_in_the_header() {
    let (tmp, path) = integration_tests::pipeline(
        "source.yaml",
        &[("package", "conform-rust"), ("type", "test.rs_gradient")],
    );
    let mut running =
        integration_tests::spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    running.wait_for("processor src started", std::time::Duration::from_secs(60));
    let tap = integration_tests::plexus(
        &["tap", "src.out", "--runtime", &id, "--count", "5", "--json"],
        tmp.path(),
    );
    assert_eq!(tap.code, Some(0), "{}", tap.stderr);
    let frames = tap.json_lines();
    assert_eq!(frames.len(), 5, "{}", tap.stdout);
    for frame in frames {
        let seq = frame["seq"].as_i64().unwrap();
        assert_eq!(frame["pts_ns"], seq * 10_000_000, "{frame}");
        assert_eq!(frame["duration_ns"], 10_000_000, "{frame}");
    }
    running.signal(libc::SIGINT);
    let run = running.finish();
    integration_tests::assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
