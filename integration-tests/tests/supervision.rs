//! Supervision end to end (docs/ARCHITECTURE.md §5): a worker that crashes — aborts,
//! segfaults, exits, or hangs until the heartbeat kills it — is restarted
//! while the rest of the pipeline runs on without losing a frame, and frames
//! flow through it again; past its restart budget it is given up, which ends
//! the run only when the worker is critical.
//!
//! Every pipeline fans a camera out to a plain sink `a` and to a `crasher`
//! that feeds a second sink `b` (`integration_tests::crasher`). The crashers
//! come from the faulty fixtures: they fail on each frame whose
//! `seq % every == every - 1` and pass every other frame through. A hang,
//! which every language must survive alike, is in the conformance suite.

use integration_tests::crasher::{
    a_saw_everything, dies, fan_out, restarts_and_recovers, run_frames as run,
};
use serde_json::Value;

#[test]
fn rust_abort_is_restarted_and_frames_flow_again() {
    restarts_and_recovers(dies("faulty-rust", "test.abort", "exited (signal 6)"));
}

#[test]
fn rust_segfault_is_restarted_and_frames_flow_again() {
    restarts_and_recovers(dies("faulty-rust", "test.segfault", "exited (signal 11)"));
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
fn a_slow_processor_drops_frames_but_is_not_taken_for_hung() {
    // 100 ms a frame against 100 fps for 6 s: the queue never empties, yet
    // the worker must keep answering pings between frames.
    let run = run(
        fan_out(
            "faulty-python",
            "test.py_slow",
            "every: 1",
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

/// A crasher that dies on every frame, with a budget of two restarts.
fn dies_on_every_frame(critical: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    fan_out(
        "faulty-rust",
        "test.segfault",
        "every: 1",
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
    let run = run(dies_on_every_frame(false), 400);
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
    let run = run(dies_on_every_frame(true), 100_000);
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
