//! Python processors end to end: frames cross into an embedded CPython and
//! back without loss, numpy sees them in place, and every way a Python
//! processor can fail is reported with its cause while the worker lives on.
//! What every language must do alike (an exception in `process` among it) is
//! in the conformance suite.

use integration_tests::expect::{inverted, pattern_rgba, read_png};
use integration_tests::source::produces_exact_gradient;
use integration_tests::{
    assert_no_residue, example_at_half_rate, fixture, pipeline, pipeline_text, plexus_checked,
    spawn_plexus_with, worker_language, write_pipeline,
};

#[test]
fn the_python_example_inverts_every_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let path = example_at_half_rate(tmp.path(), "python-pipeline");

    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", "300", "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let p = &summary["processors"];
    assert_eq!(p["invert"]["frames_in"], 300);
    assert_eq!(p["invert"]["frames_out"], 300);
    assert_eq!(p["invert"]["errors"], 0);
    for sink in ["stats", "png"] {
        assert_eq!(p[sink]["frames_in"], 300, "{sink}");
        assert_eq!(p[sink]["gaps"], 0, "{sink}");
    }
    assert_eq!(worker_language(&summary["workers"]["invert"]), "python");

    let image = read_png(&tmp.path().join("png/png-000200.png"));
    assert_eq!(image.color, png::ColorType::Rgba);
    for y in 0..image.height {
        for x in 0..image.width {
            let i = ((y * image.width + x) * 4) as usize;
            assert_eq!(
                &image.pixels[i..i + 4],
                inverted(pattern_rgba(200, x, y)),
                "pixel ({x}, {y})"
            );
        }
    }
}

/// `cam → p`, `p` of `type_name` from the Python package `package`.
fn faulty_pipeline_text(package: &str, type_name: &str) -> String {
    pipeline_text(
        "into.yaml",
        &[
            ("package", package),
            ("type", type_name),
            ("config", ""),
            ("fps", "100"),
        ],
    )
}

/// `cam → p`, `p` of `type_name` from the faulty Python fixture.
fn faulty_pipeline(type_name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let package = fixture("faulty-python").display().to_string();
    write_pipeline(&faulty_pipeline_text(&package, type_name))
}

#[test]
fn a_view_used_after_process_returned_raises_instead_of_reading_freed_memory() {
    let (tmp, path) = faulty_pipeline("test.py_keeps_view");
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", "20", "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["processors"]["p"]["frames_in"], 20);
    // Every call after the first touches the previous, released view.
    assert_eq!(summary["processors"]["p"]["errors"], 19);
    assert!(run.stderr.contains("released memoryview"), "{}", run.stderr);
}

#[test]
fn a_processor_hoarding_frames_stalls_its_input_but_lives() {
    let (tmp, path) = faulty_pipeline("test.py_hoards_frames");
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", "20", "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    // Kept views keep their frames valid, so only as many frames as a
    // subscriber may lend at once get through.
    assert_eq!(summary["processors"]["p"]["frames_in"], 2);
    assert_eq!(summary["workers"]["p"]["exit"]["code"], 0, "{}", run.stderr);
    // The Python host names the culprit, the runtime the stalled input.
    assert!(
        run.stderr
            .contains("`faulty.HoardsFrames` keeps views of 2 frames"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("input `in` is stalled").count(),
        1,
        "reported once: {}",
        run.stderr
    );
}

/// A pipeline that cannot start: exit 2, one sentence naming the cause.
fn refused(type_name: &str, needles: &[&str]) {
    let (tmp, path) = faulty_pipeline(type_name);
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", "5"],
        tmp.path(),
    );
    let line = run.refusal();
    for needle in needles {
        assert!(line.contains(needle), "`{needle}` missing from: {line}");
    }
}

#[test]
fn an_import_error_names_the_module() {
    refused(
        "test.py_missing_module",
        &["processor `p`", "no_such_module"],
    );
}

#[test]
fn a_missing_class_names_module_and_class() {
    refused(
        "test.py_missing_class",
        &["processor `p`", "faulty", "NoSuchClass"],
    );
}

#[test]
fn an_exception_in_setup_fails_the_processor() {
    refused(
        "test.py_setup_fails",
        &["processor `p`", "SetupFails", "no camera calibration found"],
    );
}

#[test]
fn requirements_that_cannot_be_installed_are_one_clear_error() {
    let (tmp, path) = pipeline("bad-requirements.yaml", &[]);
    let cache = tmp.path().join("cache");
    let run = spawn_plexus_with(
        &["run", path.to_str().unwrap(), "--frames", "5"],
        tmp.path(),
        &[("PLEXUS_CACHE_DIR", &cache)],
    )
    .finish();
    assert!(
        run.runtime_id().is_none(),
        "nothing starts when requirements fail"
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let line = run.error_line();
    assert!(
        line.contains("requirements.txt")
            && line.contains("test.bad_requirements")
            && line.contains("failed"),
        "{line}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("python-envs"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "a failed install leaves nothing cached: {leftovers:?}"
    );
}

#[test]
fn the_second_run_reuses_the_cached_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let package = tmp.path().join("pkg");
    std::fs::create_dir(&package).unwrap();
    for file in ["plexus.yaml", "faulty.py"] {
        std::fs::copy(fixture("faulty-python").join(file), package.join(file)).unwrap();
    }
    // A small pure-Python requirement keeps the install quick.
    std::fs::write(package.join("requirements.txt"), "six==1.16.0\n").unwrap();
    let path = tmp.path().join("pipeline.yaml");
    std::fs::write(&path, faulty_pipeline_text("./pkg", "test.py_keeps_view")).unwrap();
    let cache = tmp.path().join("cache");
    let run = |what: &str| {
        let run = spawn_plexus_with(
            &["run", path.to_str().unwrap(), "--frames", "3"],
            tmp.path(),
            &[("PLEXUS_CACHE_DIR", &cache)],
        )
        .finish();
        assert_no_residue(&run.runtime_id().expect("the run started"));
        assert_eq!(run.code, Some(0), "{what}: {}", run.stderr);
        run.stderr
    };
    let first = run("first run");
    assert!(
        first.contains("installing the requirements of package `test.faulty_python`"),
        "{first}"
    );
    assert!(
        first.contains("[pip test.faulty_python]"),
        "pip's progress is shown: {first}"
    );
    let second = run("second run");
    assert!(second.contains("reusing the environment"), "{second}");
    assert!(!second.contains("[pip "), "no reinstall: {second}");
}

/// A Python processor with `mode: continuous` and `interval_ms: 10` is a
/// source: `produce(ctx)` draws each frame in place.
#[test]
fn a_python_continuous_source_produces_exact_frames() {
    produces_exact_gradient("source-python", "test.py_gradient");
}

/// A Python processor with `mode: manual` produces from a thread of its
/// own, at 30 frames a second, between `start(ctx)` and `stop()`.
#[test]
fn a_python_manual_source_produces_exact_frames() {
    produces_exact_gradient("source-python", "test.py_manual_gradient");
}

/// Killed, a manual source comes back and its sequence goes on.
#[test]
fn a_python_source_resumes_its_sequence_after_a_kill() {
    integration_tests::source::resumes_its_sequence_after_a_kill(
        "source-python",
        "test.py_manual_gradient",
    );
}

/// A manual source whose `start` never returns is caught by its setup
/// deadline and restarted.
#[test]
fn a_python_source_spinning_in_start_is_restarted() {
    integration_tests::source::a_stuck_source_is_restarted(
        "source-python",
        "test.py_manual_gradient",
        "{ spin: true }",
        "setup_timeout_s: 1",
        "worker src missed its setup deadline",
    );
}

/// A Python picture in picture with `sync: all` gets one frame of each
/// source per call, paired by capture time.
#[test]
fn a_python_processor_gets_its_inputs_paired_with_sync_all() {
    integration_tests::sync::all_makes_exact_pairs("sync-python", "test.py_pip");
}

/// With `sync: latest`, each frame of the trigger input comes with the
/// newest frame of the other.
#[test]
fn a_python_processor_gets_the_newest_inset_with_sync_latest() {
    integration_tests::sync::latest_brings_the_newest("sync-python", "test.py_pip");
}

/// A processor with an input may be continuous too: every frame reaches
/// its `process`, and its `produce` runs on its own interval (50 ms), here
/// sending the newest sequence number it has seen.
#[test]
fn a_continuous_processor_with_an_input_is_driven_both_ways() {
    let pipeline = integration_tests::pipeline("ticker.yaml", &[]);
    let run = integration_tests::crasher::run_frames(&pipeline, 100);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let tick = &summary["processors"]["tick"];
    assert_eq!(tick["frames_in"], 100, "{summary:#}");
    assert_eq!(tick["errors"], 0, "{summary:#}");
    // The camera runs 1 s at 100 fps: about 20 intervals of 50 ms.
    let ticks = tick["frames_out"].as_u64().unwrap();
    assert!((5..=40).contains(&ticks), "{summary:#}");
    assert_eq!(
        summary["processors"]["sink"]["frames_in"], ticks,
        "{summary:#}"
    );
    assert_eq!(summary["processors"]["sink"]["gaps"], 0, "{summary:#}");
}
