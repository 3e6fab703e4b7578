//! Supervision end to end (ARCHITECTURE §5): a worker that crashes — aborts,
//! segfaults, exits, or hangs until the heartbeat kills it — is restarted
//! while the rest of the pipeline runs on without losing a frame, and frames
//! flow through it again; past its restart budget it is given up, which ends
//! the run only when the worker is critical.
//!
//! Every pipeline fans a camera out to a plain sink `a` and to a `crasher`
//! that feeds a second sink `b`. The crashers come from the faulty fixtures:
//! they fail on each frame whose `seq % every == every - 1` and pass every
//! other frame through.

use std::path::PathBuf;

use integration_tests::{assert_no_residue, spawn_plexus, workspace, write_pipeline, PlexusRun};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    workspace().join("integration-tests/fixtures").join(name)
}

/// `cam → a` and `cam → crasher → b`, the crasher of `kind` from `fixture`
/// with config `every` and the given `restart:` block and `critical` flag.
fn fan_out(fixture_name: &str, kind: &str, every: u64, restart: &str, critical: bool) -> String {
    format!(
        "name: supervision\n\
         packages: [{}]\n\
         processors:\n  \
           cam: {{ type: builtin.test_pattern, config: {{ width: 32, height: 24, fps: 100 }} }}\n  \
           a: {{ type: builtin.stats_sink }}\n  \
           crasher: {{ type: {kind}, config: {{ every: {every} }}, restart: {restart}, critical: {critical} }}\n  \
           b: {{ type: builtin.stats_sink }}\n\
         connections: [cam.out -> a.in, cam.out -> crasher.in, crasher.out -> b.in]\n",
        fixture(fixture_name).display()
    )
}

/// Runs `yaml` for `frames` frames with `--json` and checks that the run
/// left nothing behind.
fn run(yaml: &str, frames: u64) -> PlexusRun {
    let (tmp, path) = write_pipeline(yaml);
    let frames = frames.to_string();
    let run = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    )
    .finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    run
}

/// `a`, fed straight from the camera, saw every frame the camera sent, in
/// order: a crash elsewhere costs the capture nothing.
fn a_saw_everything(summary: &Value) {
    let sent = summary["processors"]["cam"]["frames_out"].as_u64().unwrap();
    assert_eq!(summary["processors"]["a"]["frames_in"], sent, "{summary:#}");
    assert_eq!(summary["processors"]["a"]["seq_gaps"], 0, "{summary:#}");
}

/// One way for a worker to die, in one runtime.
struct Crash {
    fixture: &'static str,
    kind: &'static str,
    /// The crasher fails on every `every`-th frame.
    every: u64,
    frames: u64,
    /// How the log tells the death, e.g. `exited (signal 11)`.
    exit: &'static str,
    /// The worker hangs rather than dies: the heartbeat must kill it.
    hangs: bool,
}

/// Dies on its 40th frame and every 40th after; 300 frames take 3 s, room
/// for at most seven deaths (within the budget of ten) and several restarts
/// even on a loaded machine, where a restart may take a second rather than
/// 0.1 s. The frame count must not be a multiple of 40: the crasher would
/// die on the very last frame, as the run stops, and a crash during the stop
/// is final (and fails the run) whatever the policy.
const DIES: (u64, u64) = (40, 300);

/// Hangs on its 400th frame and every 400th after. The heartbeat takes
/// 2–2.5 s to kill a hung worker, i.e. 200–250 frames at 100 fps, fewer than
/// 400, so each generation hangs at the next multiple: frames 399 (gen 0)
/// and 799 (gen 1) are fatal; gen 2 comes up at ~frame 1050 and the run ends
/// at frame 1159, before 1199, so it never ends with a hung worker (which
/// would miss its stop deadline and fail the run). ~12 s.
const HANGS: (u64, u64) = (400, 1160);

fn dies(fixture: &'static str, kind: &'static str, exit: &'static str) -> Crash {
    Crash {
        fixture,
        kind,
        every: DIES.0,
        frames: DIES.1,
        exit,
        hangs: false,
    }
}

fn hangs(fixture: &'static str, kind: &'static str) -> Crash {
    Crash {
        fixture,
        kind,
        every: HANGS.0,
        frames: HANGS.1,
        exit: "exited (signal 9)",
        hangs: true,
    }
}

/// The crasher dies (or hangs) again and again, is restarted each time, and
/// passes frames between its deaths, while `a` loses nothing.
fn restarts_and_recovers(crash: Crash) {
    let Crash {
        fixture,
        kind,
        every,
        frames,
        exit,
        hangs,
    } = crash;
    assert_ne!(
        frames % every,
        0,
        "the last frame would kill the crasher while the run stops"
    );
    let yaml = fan_out(
        fixture,
        kind,
        every,
        "{ policy: on-failure, max_restarts: 10, backoff_ms: 0 }",
        false,
    );
    let run = run(&yaml, frames);
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}\n{log}");
    assert_eq!(summary["processors"]["cam"]["frames_out"], frames);
    a_saw_everything(&summary);

    let crasher = &summary["workers"]["crasher"];
    assert!(
        crasher["restarts"].as_u64().unwrap() >= 2,
        "{crasher}\n{log}"
    );
    assert_eq!(crasher["failure"], Value::Null, "{crasher}");
    assert_ne!(crasher["state"], "failed", "{crasher}");
    assert!(
        log.contains(&format!("worker crasher {exit}")),
        "the log tells how the crasher died (`{exit}`):\n{log}"
    );
    if hangs {
        assert!(
            log.contains("worker crasher missed its heartbeat deadline"),
            "{log}"
        );
    }
    for line in [
        "input b.in closed",
        "worker crasher restarting (attempt 1, in 0 ms)",
        "worker crasher restarted (generation 1, pid ",
        "input b.in recovered",
    ] {
        assert!(log.contains(line), "no `{line}` in the log:\n{log}");
    }

    // One generation passes at most `every - 1` frames before it dies: `b`
    // got more, so frames flowed again after a restart.
    let through = summary["processors"]["b"]["frames_in"].as_u64().unwrap();
    assert!(
        through > every - 1,
        "b got {through} frames, no more than the first crasher could pass:\n{summary:#}\n{log}"
    );
}

#[test]
fn rust_abort_is_restarted_and_frames_flow_again() {
    restarts_and_recovers(dies("faulty-rust", "test.abort", "exited (signal 6)"));
}

#[test]
fn rust_segfault_is_restarted_and_frames_flow_again() {
    restarts_and_recovers(dies("faulty-rust", "test.segfault", "exited (signal 11)"));
}

#[test]
fn rust_hang_is_killed_by_the_heartbeat_and_restarted() {
    restarts_and_recovers(hangs("faulty-rust", "test.spin"));
}

#[test]
fn python_exit_is_restarted_and_frames_flow_again() {
    restarts_and_recovers(dies(
        "faulty-python",
        "test.py_exit",
        "exited (exit code 3)",
    ));
}

#[test]
fn python_segfault_is_restarted_and_frames_flow_again() {
    restarts_and_recovers(dies(
        "faulty-python",
        "test.py_segfault",
        "exited (signal 11)",
    ));
}

#[test]
fn python_hang_is_killed_by_the_heartbeat_and_restarted() {
    restarts_and_recovers(hangs("faulty-python", "test.py_spin"));
}

#[test]
fn a_slow_processor_drops_frames_but_is_not_taken_for_hung() {
    // 100 ms a frame against 100 fps for 6 s: the queue never empties, yet
    // the worker must keep answering pings between frames.
    let run = run(
        &fan_out(
            "faulty-python",
            "test.py_slow",
            1,
            "{ policy: never }",
            false,
        ),
        600,
    );
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    a_saw_everything(&summary);
    let crasher = &summary["workers"]["crasher"];
    assert_eq!(crasher["restarts"], 0, "{crasher}\n{log}");
    assert_eq!(crasher["last_exit"]["code"], 0, "{crasher}\n{log}");
    assert!(!log.contains("missed its heartbeat deadline"), "{log}");
    let taken = summary["processors"]["crasher"]["frames_in"]
        .as_u64()
        .unwrap();
    assert!(
        taken > 10 && taken < 300,
        "a slow consumer drops frames: {taken}"
    );
}

#[test]
fn deno_exit_is_restarted_and_frames_flow_again() {
    restarts_and_recovers(dies("faulty-deno", "test.ts_exit", "exited (exit code 3)"));
}

#[test]
fn deno_hang_is_killed_by_the_heartbeat_and_restarted() {
    restarts_and_recovers(hangs("faulty-deno", "test.ts_spin"));
}

/// A crasher that dies on every frame, with a budget of two restarts.
fn dies_on_every_frame(critical: bool) -> String {
    fan_out(
        "faulty-rust",
        "test.segfault",
        1,
        "{ max_restarts: 2, backoff_ms: 0 }",
        critical,
    )
}

/// The summary of the crasher after its budget of two restarts ran out.
fn given_up_after_two_restarts(summary: &Value, log: &str) {
    let crasher = &summary["workers"]["crasher"];
    assert_eq!(crasher["state"], "failed", "{crasher}\n{log}");
    assert_eq!(crasher["restarts"], 2, "{crasher}");
    assert_eq!(crasher["last_exit"]["signal"], libc::SIGSEGV, "{crasher}");
    let failure = crasher["failure"].as_str().expect("a failure");
    assert!(failure.contains("gave up after 2 restarts"), "{failure}");
    assert!(failure.contains("`crasher`"), "names the worker: {failure}");
    assert!(
        log.contains("worker crasher restarted (generation 2, pid "),
        "{log}"
    );
    assert!(
        log.contains("worker crasher failed: ") && log.contains("gave up after 2 restarts"),
        "{log}"
    );
    assert_eq!(summary["outcome"], "failed", "{summary:#}");
    assert_eq!(summary["processors"]["b"]["frames_in"], 0, "{summary:#}");
}

/// The budget runs out ~0.3 s into the run (three deaths, two restarts of
/// ~0.1 s), or a few seconds on a loaded machine: 400 frames leave room.
#[test]
fn a_worker_past_its_budget_is_given_up_and_the_pipeline_runs_on() {
    let run = run(&dies_on_every_frame(false), 400);
    assert_eq!(
        run.code,
        Some(1),
        "a given-up worker fails the run: {}",
        run.stderr
    );
    let summary = run.json();
    given_up_after_two_restarts(&summary, &run.stderr);
    assert!(
        !run.stderr.contains("a critical worker failed"),
        "{}",
        run.stderr
    );
    // The run went on to its frame count without the crasher.
    assert!(
        run.stderr
            .contains("runtime stopping: the sources produced their frames"),
        "{}",
        run.stderr
    );
    assert_eq!(summary["processors"]["cam"]["frames_out"], 400);
    a_saw_everything(&summary);
}

#[test]
fn a_critical_worker_given_up_stops_the_run() {
    let run = run(&dies_on_every_frame(true), 100_000);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("runtime stopping: a critical worker failed"),
        "{}",
        run.stderr
    );
    let summary = run.json();
    given_up_after_two_restarts(&summary, &run.stderr);
    // It stopped because of the crasher, long before the frame count.
    let sent = summary["processors"]["cam"]["frames_out"].as_u64().unwrap();
    assert!(sent < 1000, "{summary:#}");
    a_saw_everything(&summary);
}
