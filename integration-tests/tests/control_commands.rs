//! Controlling a run from another process: `plexus restart WORKER` brings a
//! worker back without failing the run, `plexus stop` ends the run as Ctrl-C
//! would. Mistakes are refused in one sentence.

use std::time::Duration;

use serde_json::Value;

use integration_tests::residue::worker_pid;
use integration_tests::{
    assert_no_residue, pipeline, plexus, ps_worker, spawn_plexus, write_pipeline,
};

/// `cam → sink`.
const PIPELINE: &str = "source-to-sink.yaml";

#[test]
fn a_worker_restarted_on_request_comes_back_and_is_not_a_failure() {
    let (tmp, path) = pipeline(PIPELINE, &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    running.wait_for("processor sink started", Duration::from_secs(30));
    running.wait_for("processor cam started", Duration::from_secs(30));
    let id = running.runtime_id();
    // Two seconds of frames pass, and the sink's first process reports them.
    let tapped = plexus(
        &["tap", "cam.out", "--runtime", &id, "--count", "200"],
        tmp.path(),
    );
    assert_eq!(tapped.code, Some(0), "{}", tapped.stderr);
    let sink = ps_worker(tmp.path(), &id, "sink");
    let before = sink["processors"][0]["frames_in"].as_u64().unwrap();
    assert!(before > 0, "{sink:#}");

    let asked = plexus(&["restart", "sink", "--runtime", &id], tmp.path());
    assert_eq!(asked.code, Some(0), "{}", asked.stderr);
    assert!(
        asked.stdout.contains("restarting worker `sink`")
            && asked
                .stdout
                .contains("not a crash: its restart budget is untouched"),
        "{}",
        asked.stdout
    );
    running.wait_for(
        "worker sink restarted (generation 1",
        Duration::from_secs(30),
    );

    let unknown = plexus(&["restart", "camera", "--runtime", &id], tmp.path());
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown
            .error_line()
            .contains("no worker `camera` (its workers: cam, sink)"),
        "{}",
        unknown.stderr
    );

    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped");
    assert_eq!(summary["workers"]["sink"]["restarts"], 1);
    let total = summary["processors"]["sink"]["frames_in"].as_u64().unwrap();
    assert!(
        total >= before,
        "the summary counts the first process's {before} frames too: {summary:#}"
    );
    assert!(
        summary["workers"]["sink"]["failure"].is_null(),
        "{summary:#}"
    );
    // Its own event, not a crash's `exited` and `restarting (attempt …)`.
    let log = &run.stderr;
    assert!(
        log.contains("restart of worker sink requested (pid "),
        "{log}"
    );
    assert!(!log.contains("worker sink exited (signal 9)"), "{log}");
    assert!(!log.contains("worker sink restarting"), "{log}");

    let gone = plexus(&["restart", "sink", "--runtime", &id], tmp.path());
    assert_eq!(gone.code, Some(2));
    assert!(
        gone.error_line()
            .contains(&format!("no plexus runtime `{id}` is running")),
        "{}",
        gone.stderr
    );
}

#[test]
fn stop_from_another_process_ends_the_run_with_its_summary() {
    let (tmp, path) = pipeline(PIPELINE, &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    running.wait_for("processor sink started", Duration::from_secs(30));
    running.wait_for("processor cam started", Duration::from_secs(30));
    let id = running.runtime_id();
    // Observers that stay attached hold writers of the control stream: a
    // command sent beside them still gets through.
    let mut watcher = spawn_plexus(&["events", "--follow", "--runtime", &id], tmp.path());
    watcher.wait_for(&format!("following runtime {id}"), Duration::from_secs(30));
    let mut tap = spawn_plexus(&["tap", "cam.out", "--runtime", &id], tmp.path());
    tap.wait_for("plexus: tapping cam.out", Duration::from_secs(30));

    let asked = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(asked.code, Some(0), "{}", asked.stderr);
    assert!(
        asked.stdout.contains(&format!("stopping runtime {id}")),
        "{}",
        asked.stdout
    );

    let run = running.finish();
    assert_eq!(watcher.finish().code, Some(0));
    drop(tap);
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("runtime stopping: `plexus stop` asked"),
        "{}",
        run.stderr
    );
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped");
    assert_eq!(
        summary["processors"]["sink"]["frames_in"], summary["processors"]["cam"]["frames_out"],
        "drained: {summary:#}"
    );
}

/// An observer that asks for the status again and again (the dashboard,
/// once a second) is answered every time on its one reply channel, and the
/// run goes on: answering it never ends the run.
#[test]
fn an_observer_asking_many_times_is_always_answered_and_the_run_goes_on() {
    let (tmp, path) = pipeline(PIPELINE, &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    running.wait_for("processor cam started", Duration::from_secs(30));
    let id = running.runtime_id();
    {
        let client = supervisor::observe::client::Client::connect(&id).unwrap();
        // Beyond the 16 writers a reply channel allows.
        for asked in 0..40 {
            let status = client
                .status()
                .unwrap_or_else(|e| panic!("request {asked}: {e:#}"));
            assert_eq!(status.runtime, id);
        }
    }
    let asked = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(asked.code, Some(0), "{}", asked.stderr);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["outcome"], "stopped", "{}", run.stderr);
}

/// Requested restarts are not crashes: with a budget of one restart, two
/// requested restarts leave the budget whole, and the first crash after
/// them is restart attempt 1, within budget.
#[test]
fn requested_restarts_do_not_spend_the_crash_budget() {
    let (tmp, path) = write_pipeline(
        "name: requested\n\
         processors:\n  \
           cam: { type: builtin.test_pattern, config: { width: 32, height: 24, fps: 100 } }\n  \
           sink: { type: builtin.stats_sink, restart: { max_restarts: 1, backoff_ms: 0 } }\n\
         connections: [cam.out -> sink.in]\n",
    );
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    running.wait_for("processor sink started", Duration::from_secs(30));
    running.wait_for("processor cam started", Duration::from_secs(30));
    let id = running.runtime_id();
    for generation in 1..=2 {
        let asked = plexus(&["restart", "sink", "--runtime", &id], tmp.path());
        assert_eq!(asked.code, Some(0), "{}", asked.stderr);
        running.wait_for(
            &format!("worker sink restarted (generation {generation}, pid "),
            Duration::from_secs(30),
        );
    }
    let pid = worker_pid(&id, running.pid(), "sink").expect("the sink runs");
    // SAFETY: kill(2) of a worker of the plexus this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    running.wait_for(
        "worker sink restarting (attempt 1, in 0 ms)",
        Duration::from_secs(30),
    );
    running.wait_for(
        "worker sink restarted (generation 3, pid ",
        Duration::from_secs(30),
    );
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Only the crash is told as one, and it is the budget's first attempt.
    let log = &run.stderr;
    assert_eq!(
        log.matches("worker sink exited (signal 9)").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("worker sink restarting (").count(), 1, "{log}");
    let sink = &run.json()["workers"]["sink"];
    assert_eq!(sink["restarts"], 3, "{sink}");
    assert_eq!(sink["failure"], Value::Null, "{sink}");
}
