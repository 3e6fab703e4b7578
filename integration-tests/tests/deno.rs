//! TypeScript processors end to end: the real `deno` runs the host, which
//! reaches shared memory through the plexus FFI library; frames arrive
//! without loss, and Deno's permissions keep a package inside its directory
//! and off the network. What every language must do alike (contain an
//! exception in `process` among it) is in the conformance suite.

use integration_tests::expect::{pattern_rgba, read_png, with_counter_bar};
use integration_tests::{
    example_at_half_rate, fixture, pipeline, plexus_checked, spawn_plexus_with, worker_language,
    PlexusRun,
};

#[test]
fn the_deno_example_draws_its_bar_on_every_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let path = example_at_half_rate(tmp.path(), "deno-pipeline");

    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", "300", "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let p = &summary["processors"];
    let overlay = summary["workers"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, w)| worker_language(w) == "deno");
    assert!(overlay.is_some(), "a deno worker ran: {summary:#}");
    for sink in ["stats", "png"] {
        assert_eq!(p[sink]["frames_in"], 300, "{sink}: {summary:#}");
        assert_eq!(p[sink]["gaps"], 0, "{sink}");
    }

    for seq in [100u64, 200] {
        let image = read_png(&tmp.path().join(format!("png/png-{seq:06}.png")));
        for y in 0..image.height {
            for x in 0..image.width {
                let i = ((y * image.width + x) * 4) as usize;
                let expected = with_counter_bar(seq, image.width, x, y, pattern_rgba(seq, x, y));
                assert_eq!(
                    &image.pixels[i..i + 4],
                    expected,
                    "frame {seq}, pixel ({x}, {y})"
                );
            }
        }
    }
}

/// `cam → p`, `p` of `type_name` from the faulty Deno fixture, at 30 fps: a
/// Deno worker's first exceptions (JIT warm-up, stack capture) are slow
/// enough that on a loaded 2-core machine 100 fps could overflow its input
/// queue and drop frames the assertions count.
fn faulty(type_name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let package = fixture("faulty-deno").display().to_string();
    pipeline(
        "into.yaml",
        &[
            ("package", &package),
            ("type", type_name),
            ("config", ""),
            ("fps", "30"),
        ],
    )
}

fn run_faulty(type_name: &str, frames: &str) -> PlexusRun {
    let (tmp, path) = faulty(type_name);
    plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", frames, "--json"],
        tmp.path(),
    )
}

#[test]
fn reading_outside_the_package_is_refused_by_deno() {
    let run = run_faulty("test.ts_reads_outside", "5");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["processors"]["p"]["errors"], 5);
    assert!(
        run.stderr.contains("/etc/hostname") && run.stderr.contains("read access"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_network_is_refused_by_deno() {
    let run = run_faulty("test.ts_net", "3");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["processors"]["p"]["errors"], 3);
    assert!(run.stderr.contains("net access"), "{}", run.stderr);
}

fn refused(type_name: &str, needles: &[&str]) {
    let (tmp, path) = faulty(type_name);
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
fn a_syntax_error_names_the_file() {
    refused("test.ts_syntax_error", &["processor `p`", "broken.ts"]);
}

#[test]
fn a_missing_export_names_file_and_export() {
    refused("test.ts_missing_export", &["processor `p`", "faulty.ts"]);
}

#[test]
fn a_missing_deno_is_installed_from_npm_and_then_reused() {
    let package = fixture("faulty-deno").display().to_string();
    let (tmp, path) = pipeline(
        "chain.yaml",
        &[
            ("package", &package),
            ("type", "test.ts_throw_every"),
            ("config", "every: 1000"),
        ],
    );
    let cache = tmp.path().join("cache");
    let run = |what: &str| {
        let run = spawn_plexus_with(
            &["run", path.to_str().unwrap(), "--frames", "3", "--json"],
            tmp.path(),
            &[("PLEXUS_CACHE_DIR", &cache)],
        )
        .finish()
        .checked();
        assert_eq!(run.code, Some(0), "{what}: {}", run.stderr);
        assert_eq!(run.json()["processors"]["p"]["frames_in"], 3, "{what}");
        run.stderr
    };
    let first = run("first run");
    assert!(first.contains("installing deno"), "{first}");
    assert!(
        cache.join("deno").is_dir(),
        "deno was installed into the cache"
    );
    let second = run("second run");
    assert!(
        !second.contains("installing deno"),
        "the second run reuses it: {second}"
    );
}

/// A TypeScript processor with `mode: continuous` and `interval_ms: 10` is
/// a source: `produce(ctx)` draws each frame in place.
#[test]
fn a_typescript_continuous_source_produces_exact_frames() {
    integration_tests::source::produces_exact_gradient("source-deno", "test.ts_gradient");
}

/// A TypeScript processor with `mode: manual` produces from a timer of its
/// own, between `start(ctx)` and `stop()`.
#[test]
fn a_typescript_manual_source_produces_exact_frames() {
    integration_tests::source::produces_exact_gradient("source-deno", "test.ts_manual_gradient");
}

/// Killed, a source comes back and its sequence goes on.
#[test]
fn a_typescript_source_resumes_its_sequence_after_a_kill() {
    integration_tests::source::resumes_its_sequence_after_a_kill("source-deno", "test.ts_gradient");
}

/// A TypeScript picture in picture with `sync: all` gets one frame of each
/// source per call, paired by capture time.
#[test]
fn a_typescript_processor_gets_its_inputs_paired_with_sync_all() {
    integration_tests::sync::all_makes_exact_pairs("sync-deno", "test.ts_pip");
}
