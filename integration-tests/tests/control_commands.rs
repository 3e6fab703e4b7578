//! Controlling a run from another process: `plexus restart WORKER` brings a
//! worker back without failing the run, `plexus stop` ends the run as Ctrl-C
//! would. Mistakes are refused in one sentence.

use std::time::Duration;

use integration_tests::{assert_no_residue, pipeline, plexus, ps_worker, spawn_plexus};

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
        asked.stdout.contains("restarting worker `sink`"),
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
    assert!(
        run.stderr
            .contains("worker sink restarting (attempt 1, in 0 ms)"),
        "restarted at once, no backoff: {}",
        run.stderr
    );

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

    let asked = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(asked.code, Some(0), "{}", asked.stderr);
    assert!(
        asked.stdout.contains(&format!("stopping runtime {id}")),
        "{}",
        asked.stdout
    );

    let run = running.finish();
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
