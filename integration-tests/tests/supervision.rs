//! Supervision end to end (docs/ARCHITECTURE.md §5): a worker that crashes — aborts,
//! segfaults, exits, freezes, or hangs past a deadline — is restarted
//! while the rest of the pipeline runs on without losing a frame, and frames
//! flow through it again; past its restart budget it is given up, which ends
//! the run only when the worker is critical.
//!
//! Every pipeline fans a camera out to a plain sink `a` and to a `crasher`
//! that feeds a second sink `b` (`integration_tests::crasher`). The crashers
//! come from the faulty fixtures: they fail on each frame whose
//! `seq % every == every - 1` and pass every other frame through. A hang,
//! which every language must survive alike, is in the conformance suite.

use std::time::Duration;

use integration_tests::crasher::{
    a_saw_everything, dies, fan_out, restarts_and_recovers, run_frames as run,
};
use integration_tests::residue::worker_pid;
use integration_tests::{assert_no_residue, plexus, spawn_plexus, PlexusRun, Running};
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
        &fan_out(
            "faulty-python",
            "test.py_slow",
            "every: 1",
            "restart: { policy: never }",
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
    assert_eq!(crasher["exit"]["code"], 0, "{crasher}\n{log}");
    assert!(!log.contains("missed its"), "{log}");
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
        "restart: { max_restarts: 2, backoff_ms: 0 }",
        critical,
    )
}

/// The summary of the crasher after its budget of two restarts ran out.
fn given_up_after_two_restarts(summary: &Value, log: &str) {
    let crasher = &summary["workers"]["crasher"];
    assert_eq!(crasher["state"], "failed", "{crasher}\n{log}");
    assert_eq!(crasher["restarts"], 2, "{crasher}");
    assert_eq!(crasher["exit"]["signal"], libc::SIGSEGV, "{crasher}");
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

/// A crasher that never fails by itself (`test.abort` aborts only on frame
/// 999 999), restarted by `restart`.
fn healthy_crasher(restart: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    fan_out(
        "faulty-rust",
        "test.abort",
        "every: 1000000",
        &format!("restart: {restart}"),
        false,
    )
}

/// SIGKILLs process `pid`.
fn kill(pid: u32) {
    signal(pid, libc::SIGKILL);
}

/// Sends `signal` to process `pid`.
fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) of a worker of a plexus this test started.
    let sent = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(sent, 0, "signal {signal} to pid {pid}");
}

/// Starts `pipeline` with `args` after the path, then SIGKILLs the first
/// process of worker `crasher` `delay` after plexus says it spawned it.
fn run_killing_at_start(
    pipeline: &(tempfile::TempDir, std::path::PathBuf),
    args: &[&str],
    delay: Duration,
) -> PlexusRun {
    let (tmp, path) = pipeline;
    let mut command = vec!["run", path.to_str().unwrap(), "--json"];
    command.extend_from_slice(args);
    let mut running = spawn_plexus(&command, tmp.path());
    let line = running.wait_for("worker crasher spawned (pid ", Duration::from_secs(30));
    let pid: u32 = line
        .rsplit("(pid ")
        .next()
        .and_then(|rest| rest.split(')').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no pid in `{line}`"));
    std::thread::sleep(delay);
    kill(pid);
    let run = running.finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    run
}

/// A crash while the workers start is a crash like any other: killed at
/// 0, 10, … 190 ms after its spawn — before its hello, while it configures,
/// as it starts — the crasher is restarted by its policy, the camera's own
/// sink gets every frame, and the run completes with its summary.
#[test]
fn a_worker_killed_while_starting_is_restarted_and_capture_runs_on() {
    let pipeline = healthy_crasher("{ policy: on-failure, max_restarts: 5, backoff_ms: 0 }");
    for step in 0..20 {
        let delay = Duration::from_millis(step * 10);
        let run = run_killing_at_start(&pipeline, &["--frames", "150"], delay);
        let log = &run.stderr;
        assert_eq!(run.code, Some(0), "killed {delay:?} after spawn:\n{log}");
        let summary = run.json();
        assert_eq!(
            summary["outcome"], "completed",
            "{delay:?}: {summary:#}\n{log}"
        );
        assert_eq!(summary["processors"]["cam"]["frames_out"], 150, "{delay:?}");
        a_saw_everything(&summary);
        let crasher = &summary["workers"]["crasher"];
        assert!(
            log.contains("worker crasher exited (signal 9)"),
            "{delay:?}: {log}"
        );
        assert_eq!(crasher["restarts"], 1, "{delay:?}: {crasher}\n{log}");
        assert_eq!(crasher["failure"], Value::Null, "{delay:?}: {crasher}");
    }
}

/// Without a policy that restarts it, a worker killed as it starts is given
/// up like any crashed worker: the rest of the pipeline runs, the summary is
/// printed, and the run fails (exit 1), not refused as a mistake (exit 2).
#[test]
fn a_worker_that_cannot_start_fails_the_run_with_its_summary() {
    let pipeline = healthy_crasher("{ policy: never }");
    let run = run_killing_at_start(&pipeline, &["--frames", "150"], Duration::ZERO);
    let log = &run.stderr;
    assert_eq!(run.code, Some(1), "{log}");
    let summary = run.json();
    assert_eq!(summary["outcome"], "failed", "{summary:#}\n{log}");
    assert_eq!(summary["processors"]["cam"]["frames_out"], 150);
    a_saw_everything(&summary);
    let crasher = &summary["workers"]["crasher"];
    assert_eq!(crasher["state"], "failed", "{crasher}");
    let failure = crasher["failure"].as_str().expect("a failure");
    assert!(failure.contains("`crasher` died (signal 9)"), "{failure}");
}

/// Restart numbers outside their bounds are refused before anything
/// starts, in one sentence naming the file, the processor and the field.
#[test]
fn restart_numbers_out_of_bounds_are_refused() {
    for (restart, needle) in [
        (
            "{ backoff_ms: 9223372036854775808 }",
            "`backoff_ms` is 9223372036854775808, outside the allowed 0..=60000",
        ),
        (
            "{ window_secs: 0 }",
            "`window_secs` is 0, outside the allowed 1..=86400",
        ),
        (
            "{ reset_after_ms: 0 }",
            "`reset_after_ms` is 0, outside the allowed 1..=3600000",
        ),
    ] {
        let (tmp, path) = healthy_crasher(restart);
        let validated = plexus(&["validate", path.to_str().unwrap()], tmp.path());
        let line = validated.refusal();
        for part in [path.to_str().unwrap(), "crasher", needle] {
            assert!(line.contains(part), "`{part}` missing from: {line}");
        }
    }
}

/// The current process of worker `name` of a run, found in `/proc`.
fn pid_of(running: &mut Running, name: &str) -> u32 {
    let runtime = running.runtime_id();
    worker_pid(&runtime, running.pid(), name)
        .unwrap_or_else(|| panic!("no process of worker {name}"))
}

/// A worker that is down when the run ends (its restart still minutes
/// away) fails the run: it is never `completed`.
#[test]
fn a_worker_still_down_at_the_end_fails_the_run() {
    let (tmp, path) = healthy_crasher("{ policy: on-failure, backoff_ms: 60000 }");
    let mut running = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "300", "--json"],
        tmp.path(),
    );
    running.wait_for("processor crasher started", Duration::from_secs(30));
    kill(pid_of(&mut running, "crasher"));
    running.wait_for(
        "worker crasher restarting (attempt 1, in 60000 ms)",
        Duration::from_secs(30),
    );
    let run = running.finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    let log = &run.stderr;
    assert_eq!(run.code, Some(1), "{log}");
    let summary = run.json();
    assert_eq!(summary["outcome"], "failed", "{summary:#}\n{log}");
    a_saw_everything(&summary);
    let crasher = &summary["workers"]["crasher"];
    assert_eq!(crasher["state"], "failed", "{crasher}");
    let failure = crasher["failure"].as_str().expect("a failure");
    assert!(
        failure.contains("still down when the run ended"),
        "{failure}"
    );
}

/// Kills spaced wider than `reset_after_ms` are independent faults, not a
/// crash loop: each restart waits `backoff_ms` again instead of doubling.
#[test]
fn the_backoff_starts_over_after_a_healthy_run() {
    let (tmp, path) =
        healthy_crasher("{ policy: on-failure, backoff_ms: 200, reset_after_ms: 300 }");
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    running.wait_for("processor crasher started", Duration::from_secs(30));
    for attempt in 1..=3 {
        kill(pid_of(&mut running, "crasher"));
        running.wait_for(
            &format!("worker crasher restarted (generation {attempt}, pid "),
            Duration::from_secs(30),
        );
        // Healthy for longer than `reset_after_ms` before the next kill.
        std::thread::sleep(Duration::from_millis(500));
    }
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    for attempt in 1..=3 {
        let line = format!("worker crasher restarting (attempt {attempt}, in 200 ms)");
        assert!(log.contains(&line), "no `{line}` in:\n{log}");
    }
    assert_eq!(run.json()["workers"]["crasher"]["restarts"], 3);
}

/// Errors a processor raised (here a panic on every tenth frame, contained
/// at the plugin boundary) are part of the outcome.
#[test]
fn processor_errors_end_the_run_completed_with_errors() {
    let run = run(
        &fan_out(
            "faulty-rust",
            "test.panic_every",
            "every: 10",
            "restart: { policy: never }",
            false,
        ),
        50,
    );
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed_with_errors", "{summary:#}");
    assert_eq!(summary["processors"]["crasher"]["errors"], 5, "{summary:#}");
    assert!(
        log.contains("runtime stopped: completed_with_errors"),
        "{log}"
    );
}

/// A processor that takes 11 s to set up (past the 10 s every handshake
/// step gets) and 4 s over its first frame (past the pulse's 3 s) is slow,
/// not stuck: within its default deadlines it is neither killed nor
/// restarted, and the run completes.
#[test]
fn a_slow_setup_and_a_slow_frame_are_not_taken_for_hung() {
    let run = run(
        &fan_out(
            "faulty-python",
            "test.py_slow_start",
            "setup_s: 11, first_frame_s: 4",
            "restart: { policy: never }",
            false,
        ),
        600,
    );
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}\n{log}");
    a_saw_everything(&summary);
    assert_eq!(summary["workers"]["crasher"]["restarts"], 0, "{log}");
    assert!(!log.contains("missed its"), "{log}");
    assert!(!log.contains("on one frame, past its"), "{log}");
    assert!(
        summary["processors"]["b"]["frames_in"].as_u64().unwrap() > 0,
        "{summary:#}"
    );
}

/// A setup that misses its `setup_timeout_s` is a failed start: the worker
/// is killed and its restart policy decides. Restarted, it sets up in time
/// and the run completes; with no restart, it fails the run (exit 1, not
/// the exit 2 of a pipeline mistake), naming the processor and the setting,
/// while the camera's own sink gets every frame either way.
#[test]
fn a_setup_past_its_deadline_is_a_failed_start_under_the_restart_policy() {
    let config = "setup_s: 30, once: slow-once";
    let restarted = run(
        &fan_out(
            "faulty-python",
            "test.py_slow_start",
            config,
            "setup_timeout_s: 1, restart: { policy: on-failure, backoff_ms: 0 }",
            false,
        ),
        300,
    );
    let log = &restarted.stderr;
    assert_eq!(restarted.code, Some(0), "{log}");
    assert!(
        log.contains("worker crasher missed its setup deadline"),
        "{log}"
    );
    let summary = restarted.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}\n{log}");
    assert_eq!(summary["workers"]["crasher"]["restarts"], 1, "{log}");
    a_saw_everything(&summary);

    let given_up = run(
        &fan_out(
            "faulty-python",
            "test.py_slow_start",
            config,
            "setup_timeout_s: 1, restart: { policy: never }",
            false,
        ),
        300,
    );
    let log = &given_up.stderr;
    assert_eq!(given_up.code, Some(1), "{log}");
    let summary = given_up.json();
    assert_eq!(summary["outcome"], "failed", "{summary:#}\n{log}");
    a_saw_everything(&summary);
    let failure = summary["workers"]["crasher"]["failure"]
        .as_str()
        .expect("a failure");
    assert_eq!(
        failure,
        "processor `crasher` did not finish its setup within 1 s (setup_timeout_s)"
    );
}

/// A process that stops altogether (SIGSTOP: no thread of it runs) falls
/// silent: its pulse stops, it is killed within the pulse deadline and
/// restarted like any crashed worker.
#[test]
fn a_frozen_worker_is_caught_by_its_silent_pulse_and_restarted() {
    let (tmp, path) = healthy_crasher("{ policy: on-failure, backoff_ms: 0 }");
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    running.wait_for("processor crasher started", Duration::from_secs(30));
    signal(pid_of(&mut running, "crasher"), libc::SIGSTOP);
    running.wait_for(
        "worker crasher missed its heartbeat deadline",
        Duration::from_secs(30),
    );
    running.wait_for(
        "worker crasher restarted (generation 1, pid ",
        Duration::from_secs(30),
    );
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["workers"]["crasher"]["restarts"], 1, "{summary:#}");
    a_saw_everything(&summary);
}

/// Deadlines outside their bounds are refused before anything starts, in
/// one sentence naming the file, the processor and the field.
#[test]
fn deadlines_out_of_bounds_are_refused() {
    for (settings, needle) in [
        (
            "setup_timeout_s: 0",
            "processor `crasher`: `setup_timeout_s` is 0, outside the allowed 1..=3600",
        ),
        (
            "frame_timeout_ms: 5",
            "processor `crasher`: `frame_timeout_ms` is 5, outside the allowed 10..=3600000",
        ),
    ] {
        let (tmp, path) = fan_out("faulty-rust", "test.abort", "", settings, false);
        let validated = plexus(&["validate", path.to_str().unwrap()], tmp.path());
        let line = validated.refusal();
        for part in [path.to_str().unwrap(), needle] {
            assert!(line.contains(part), "`{part}` missing from: {line}");
        }
    }
}

/// A `sync:` that does not fit the processor is refused before anything
/// starts, in one sentence naming the file, the processor and the field.
#[test]
fn a_sync_that_does_not_fit_is_refused() {
    for (settings, needle) in [
        (
            "sync: all",
            "processor `crasher`: `sync: all` needs at least two inputs; it has 1",
        ),
        (
            "sync: sometimes",
            "`sync` policy `sometimes` is not one of any, all, latest",
        ),
        (
            "sync: { policy: any, trigger: in }",
            "processor `crasher`: `trigger` applies to `sync: latest` only",
        ),
    ] {
        let (tmp, path) = fan_out("faulty-rust", "test.abort", "", settings, false);
        let validated = plexus(&["validate", path.to_str().unwrap()], tmp.path());
        let line = validated.refusal();
        for part in [path.to_str().unwrap(), needle] {
            assert!(line.contains(part), "`{part}` missing from: {line}");
        }
    }
}
