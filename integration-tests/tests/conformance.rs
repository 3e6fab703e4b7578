//! One conformance suite for the languages a processor may be written in:
//! each scenario is written once and run against Rust, Python and Deno
//! alike (`conformance::python::crash_and_restart`, …), so every language
//! is held to the same promises:
//!
//! - `pass_through_exact_frames`: every frame arrives, byte for byte, in order;
//! - `raise_in_process_contained`: a panic or exception in `process` is
//!   reported as a processor error, and the worker carries on;
//! - `crash_and_restart`: a worker killed with SIGKILL is restarted under its
//!   restart policy, frames flow through it again, and the events tell it;
//! - `hang_detected`: a processor that never returns is killed as
//!   unresponsive and restarted;
//! - `config_defaults_applied`: a config key the pipeline omits gets the
//!   manifest's default;
//! - `config_set_in_place`: `plexus set` of a processor with the `on_config`
//!   hook changes its output from the next frame on, with no restart and no
//!   frame lost, and a change its hook refuses leaves its config as it was.
//!
//! The processors come from the fixtures (`integration-tests/fixtures/`);
//! the ones of a scenario behave alike in every language.

use std::time::Duration;

use serde_json::Value;

use integration_tests::crasher::{a_saw_everything, fan_out, hangs, restarts_and_recovers};
use integration_tests::expect::{pattern_rgba, read_png};
use integration_tests::live_config::{no_frame_lost, LiveChain};
use integration_tests::{
    assert_no_residue, fixture, pipeline, plexus, plexus_checked, ps_worker, spawn_plexus,
    tapped_seqs, worker_language, PlexusRun,
};

/// A processor type and the fixture package it comes from.
type Fixture = (&'static str, &'static str);

/// What the suite needs to know of one language.
struct Language {
    /// How `ps` and the run summary name the language of a worker.
    name: &'static str,
    /// Copies each frame, unchanged, to its output.
    pass: Fixture,
    /// Passes frames through, but fails on every `every`-th (config).
    raise: Fixture,
    /// What the log's report of the failure on frame 10 says.
    raise_says: &'static [&'static str],
    /// Never returns from `process` on its `every`-th frames (config).
    spin: Fixture,
    /// Sends frames whose every byte is config `value`, which it takes from
    /// the manifest's default ([`DEFAULT_FILL`]) alone.
    fill: Fixture,
}

const RUST: Language = Language {
    name: "rust",
    pass: ("conform-rust", "test.pass"),
    raise: ("faulty-rust", "test.panic_every"),
    raise_says: &["processor p error: panicked"],
    spin: ("faulty-rust", "test.spin"),
    fill: ("conform-rust", "test.fill"),
};

const PYTHON: Language = Language {
    name: "python",
    pass: ("relay-python", "test.py_pass"),
    raise: ("faulty-python", "test.py_raise_every"),
    // The traceback names the file.
    raise_says: &["RuntimeError: frame 10 is cursed", "faulty.py"],
    spin: ("faulty-python", "test.py_spin"),
    fill: ("conform-python", "test.py_fill"),
};

const DENO: Language = Language {
    name: "deno",
    pass: ("relay-deno", "test.ts_pass"),
    raise: ("faulty-deno", "test.ts_throw_every"),
    // The stack names the file.
    raise_says: &["frame 10 is cursed", "faulty.ts"],
    spin: ("faulty-deno", "test.ts_spin"),
    fill: ("conform-deno", "test.ts_fill"),
};

/// The `value` default in the manifests of the fill processors.
const DEFAULT_FILL: u8 = 42;

/// How long a worker may take to start or come back on a loaded machine
/// (the first run may install deno).
const START: Duration = Duration::from_secs(60);

/// `pipelines/chain.yaml` with `p` of `processor` configured with
/// `config`, run for `frames` frames; the run left nothing behind. Returns
/// the run's directory too, which holds the PNGs of every frame `p` sent.
fn run_chain(processor: Fixture, config: &str, frames: u64) -> (tempfile::TempDir, PlexusRun) {
    let (package, kind) = processor;
    let package = fixture(package).display().to_string();
    let (tmp, path) = pipeline(
        "chain.yaml",
        &[("package", &package), ("type", kind), ("config", config)],
    );
    let frames = frames.to_string();
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    (tmp, run)
}

fn pass_through_exact_frames(language: &Language) {
    const FRAMES: u64 = 50;
    let (tmp, run) = run_chain(language.pass, "", FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    assert_eq!(worker_language(&summary["workers"]["p"]), language.name);
    let p = &summary["processors"];
    assert_eq!(p["p"]["frames_in"], FRAMES, "{summary:#}");
    assert_eq!(p["p"]["frames_out"], FRAMES, "{summary:#}");
    assert_eq!(p["p"]["errors"], 0, "{summary:#}");
    // Every frame, in order, none lost on the way.
    assert_eq!(p["s"]["frames_in"], FRAMES, "{summary:#}");
    assert_eq!(p["s"]["gaps"], 0, "{summary:#}");
    assert_eq!(p["s"]["dropped"], 0, "{summary:#}");
    // Each of them byte for byte the frame the camera drew.
    for seq in 0..FRAMES {
        let image = read_png(&tmp.path().join(format!("png/png-{seq:06}.png")));
        assert_eq!((image.width, image.height), (32, 24));
        assert_eq!(image.color, png::ColorType::Rgba);
        let drawn: Vec<u8> = (0..image.height)
            .flat_map(|y| (0..image.width).flat_map(move |x| pattern_rgba(seq, x, y)))
            .collect();
        assert!(image.pixels == drawn, "frame {seq} changed on its way");
    }
}

fn raise_in_process_contained(language: &Language) {
    // Frames 0, 10, …, 40 fail: five errors, forty-five frames passed on.
    let (_tmp, run) = run_chain(language.raise, "every: 10", 50);
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    let p = &summary["processors"];
    assert_eq!(p["p"]["frames_in"], 50, "{summary:#}");
    assert_eq!(p["p"]["errors"], 5, "{summary:#}");
    assert_eq!(p["p"]["frames_out"], 45, "{summary:#}");
    assert_eq!(
        p["s"]["frames_in"], 45,
        "frames after each failure still flow: {summary:#}"
    );
    let worker = &summary["workers"]["p"];
    assert_eq!(
        worker["exit"]["code"], 0,
        "the worker survived every failure: {worker}"
    );
    assert_eq!(worker["restarts"], 0, "{worker}");
    assert!(log.contains("processor p error: "), "{log}");
    for says in language.raise_says {
        assert!(log.contains(says), "no `{says}` in the log:\n{log}");
    }
}

/// The kill → restart story of worker `crasher` in a runtime's events.
fn crasher_story(events: &[serde_json::Value]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e["worker"] == "crasher")
        .filter_map(|e| e["kind"].as_str())
        .filter(|kind| {
            matches!(
                *kind,
                "worker_exited" | "worker_restarting" | "worker_restarted"
            )
        })
        .collect()
}

fn crash_and_restart(language: &Language) {
    let (package, kind) = language.pass;
    let (tmp, path) = fan_out(
        package,
        kind,
        "",
        "restart: { policy: on-failure, max_restarts: 10, backoff_ms: 0 }",
        false,
    );
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    for processor in ["cam", "a", "crasher", "b"] {
        running.wait_for(&format!("processor {processor} started"), START);
    }

    let before = ps_worker(tmp.path(), &id, "crasher");
    assert_eq!(worker_language(&before), language.name, "{before:#}");
    assert_eq!(before["state"], "running", "{before:#}");
    assert_eq!(before["restarts"], 0, "{before:#}");
    let last_seen = *tapped_seqs(tmp.path(), &id, "crasher.out", 1)
        .last()
        .unwrap();
    let pid = before["pid"].as_u64().unwrap() as i32;
    // SAFETY: kill(2) of a worker of our own run.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

    running.wait_for("worker crasher restarted (generation 1", START);
    let after = ps_worker(tmp.path(), &id, "crasher");
    assert_ne!(after["pid"], pid, "{after:#}");
    assert_eq!(after["restarts"], 1, "{after:#}");
    // Frames leave the restarted worker, newer than any before the kill.
    let seqs = tapped_seqs(tmp.path(), &id, "crasher.out", 3);
    assert!(
        seqs.iter().all(|&s| s > last_seen),
        "after the restart: {seqs:?}, before: {last_seen}"
    );

    let history = plexus(&["events", "--runtime", &id, "--json"], tmp.path());
    assert_eq!(history.code, Some(0), "{}", history.stderr);
    let events = history.json_lines();
    assert_eq!(
        crasher_story(&events),
        ["worker_exited", "worker_restarting", "worker_restarted"],
        "{}",
        history.stdout
    );
    let exited = events
        .iter()
        .find(|e| e["kind"] == "worker_exited")
        .unwrap();
    assert_eq!(exited["exit"]["signal"], libc::SIGKILL, "{exited:#}");

    let stop = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped", "{summary:#}");
    let crasher = &summary["workers"]["crasher"];
    assert_eq!(crasher["restarts"], 1, "{crasher}");
    assert!(crasher["failure"].is_null(), "{crasher}");
    a_saw_everything(&summary);
}

fn hang_detected(language: &Language) {
    let (package, kind) = language.spin;
    restarts_and_recovers(hangs(package, kind));
}

fn config_defaults_applied(language: &Language) {
    const FRAMES: u64 = 10;
    // The pipeline gives `p` no config at all.
    let (tmp, run) = run_chain(language.fill, "", FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(
        summary["processors"]["p"]["frames_out"], FRAMES,
        "{summary:#}"
    );
    assert_eq!(summary["processors"]["p"]["errors"], 0, "{summary:#}");
    for seq in [0, FRAMES - 1] {
        let image = read_png(&tmp.path().join(format!("png/png-{seq:06}.png")));
        assert!(
            image.pixels.iter().all(|&b| b == DEFAULT_FILL),
            "frame {seq} is not filled with the default {DEFAULT_FILL}"
        );
    }
}

fn config_set_in_place(language: &Language) {
    let (package, kind) = language.fill;
    let chain = LiveChain::start(package, kind);
    let before = chain.next_seq();
    let set = chain.set(&["p", "value=7"]);
    assert_eq!(set.code, Some(0), "{}", set.stderr);
    assert!(
        set.stdout
            .contains(r#"processor `p` took {"value":7} in place"#),
        "{}",
        set.stdout
    );
    let after = chain.next_seq();
    // The hook refuses 13: nothing changes, and the user reads why.
    let refused = chain.set(&["p", "value=13"]);
    let line = refused.refusal();
    assert!(line.contains("13 is an unlucky fill"), "{line}");
    assert!(line.ends_with("its config is unchanged"), "{line}");
    let changed: Vec<Value> = chain
        .events()
        .into_iter()
        .filter(|e| e["kind"] == "config_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(changed[0]["processor"], "p");
    assert_eq!(changed[0]["changes"], r#"{"value":7}"#);
    assert_eq!(changed[0]["applied"], "in_place");
    let last = chain.next_seq();

    let (summary, _log, fills) = chain.stop();
    assert_eq!(summary["workers"]["p"]["restarts"], 0, "{summary:#}");
    no_frame_lost(&summary);
    // The default until the change, the new value from the frame after it
    // on: one switch, and never back.
    assert_eq!(fills[&before], DEFAULT_FILL);
    assert!(fills.range(after..).all(|(_, &v)| v == 7), "{fills:?}");
    assert_eq!(fills[&last], 7, "the refused change took no effect");
    let switch = fills.values().position(|&v| v == 7).unwrap();
    assert!(fills.values().take(switch).all(|&v| v == DEFAULT_FILL));
    assert!(fills.values().skip(switch).all(|&v| v == 7));
}

/// Every scenario, once per language.
macro_rules! conformance {
    ($($language:ident: $table:ident),* $(,)?) => {$(
        mod $language {
            #[test]
            fn pass_through_exact_frames() {
                super::pass_through_exact_frames(&super::$table);
            }

            #[test]
            fn raise_in_process_contained() {
                super::raise_in_process_contained(&super::$table);
            }

            #[test]
            fn crash_and_restart() {
                super::crash_and_restart(&super::$table);
            }

            #[test]
            fn hang_detected() {
                super::hang_detected(&super::$table);
            }

            #[test]
            fn config_defaults_applied() {
                super::config_defaults_applied(&super::$table);
            }

            #[test]
            fn config_set_in_place() {
                super::config_set_in_place(&super::$table);
            }
        }
    )*};
}

conformance! {
    rust: RUST,
    python: PYTHON,
    deno: DENO,
}
