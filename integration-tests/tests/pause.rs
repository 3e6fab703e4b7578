//! `plexus pause` and `plexus resume` (issue 15), with the real binaries: a
//! paused source produces nothing and its sequence goes on without a gap;
//! a paused processor in the middle drops what arrives, counted apart from
//! loss, while its sibling branch loses nothing; a paused pipeline costs
//! its workers no CPU; a paused processor stays paused when its worker
//! restarts; the Python and TypeScript pause hooks are called.

use std::time::Duration;

use ipc_schemas::frame::monotonic_ns;
use serde_json::Value;

use integration_tests::residue::worker_processes;
use integration_tests::{
    assert_no_residue, pipeline, plexus, ps_worker, spawn_plexus, tapped_seqs, Running,
};

/// Time a run gets to start (a first run may install numpy or deno).
const START: Duration = Duration::from_secs(180);
/// Time an event the test caused gets to be told.
const TOLD: Duration = Duration::from_secs(30);

/// Starts `pipeline` with `--json` and waits until every processor in
/// `processors` started; returns the run and its runtime id.
fn start(
    pipeline: &(tempfile::TempDir, std::path::PathBuf),
    processors: &[&str],
) -> (Running, String) {
    let (tmp, path) = pipeline;
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    for processor in processors {
        running.wait_for(&format!("processor {processor} started"), START);
    }
    let id = running.runtime_id();
    (running, id)
}

/// Runs `plexus pause` or `plexus resume` with `args` against runtime `id`;
/// returns its one line of output.
fn steer(pipeline: &(tempfile::TempDir, std::path::PathBuf), id: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--runtime", id]);
    let asked = plexus(&all, pipeline.0.path());
    assert_eq!(asked.code, Some(0), "plexus {all:?}: {}", asked.stderr);
    asked.stdout.trim().to_string()
}

/// Stops the run as Ctrl-C would and returns its summary.
fn stop(running: Running, id: &str) -> Value {
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped", "{summary:#}");
    summary
}

/// Pauses `source` for `pause` while `plexus tap` reads `count` frames off
/// its output: no frame captured during the pause goes out, the pause shows
/// between two frames, and the sequence goes on across it.
fn pause_while_tapping(
    pipeline: &(tempfile::TempDir, std::path::PathBuf),
    running: &mut Running,
    id: &str,
    source: &str,
    count: u64,
    pause: Duration,
) {
    let port = format!("{source}.out");
    let count_arg = count.to_string();
    let mut tap = spawn_plexus(
        &[
            "tap",
            &port,
            "--runtime",
            id,
            "--count",
            &count_arg,
            "--json",
        ],
        pipeline.0.path(),
    );
    tap.wait_for(&format!("plexus: tapping {port}"), TOLD);
    tapped_seqs(pipeline.0.path(), id, &port, 10);

    assert_eq!(
        steer(pipeline, id, &["pause", source]),
        format!("pausing processor `{source}` of runtime {id}")
    );
    running.wait_for(&format!("processor {source} paused"), TOLD);
    // From here to the resume no frame may be captured.
    let paused_at = monotonic_ns();
    std::thread::sleep(pause);
    let resumed_at = monotonic_ns();
    steer(pipeline, id, &["resume", source]);
    running.wait_for(&format!("processor {source} resumed"), TOLD);

    let tapped = tap.finish();
    assert_eq!(tapped.code, Some(0), "{}", tapped.stderr);
    let frames = tapped.json_lines();
    assert_eq!(frames.len() as u64, count);
    let field = |f: &Value, name: &str| f[name].as_u64().unwrap();
    for pair in frames.windows(2) {
        assert_eq!(
            field(&pair[1], "seq"),
            field(&pair[0], "seq") + 1,
            "the sequence goes on across the pause: {pair:?}"
        );
    }
    let captures: Vec<u64> = frames.iter().map(|f| field(f, "capture_ns")).collect();
    assert!(
        captures.iter().all(|&c| c < paused_at || c > resumed_at),
        "a frame captured while paused ({paused_at}..{resumed_at}): {captures:?}"
    );
    assert!(
        captures
            .windows(2)
            .any(|w| w[1] - w[0] >= pause.as_nanos() as u64),
        "the pause shows between two frames: {captures:?}"
    );
}

#[test]
fn a_paused_source_produces_nothing_and_goes_on_without_a_gap() {
    // 20 fps: the tap, which has a queue of its own, keeps up with ease.
    let pipeline = pipeline("pause.yaml", &[("fps", "20")]);
    let (mut running, id) = start(&pipeline, &["cam", "a", "mid", "b"]);
    pause_while_tapping(
        &pipeline,
        &mut running,
        &id,
        "cam",
        60,
        Duration::from_secs(2),
    );

    let summary = stop(running, &id);
    let cam = &summary["processors"]["cam"];
    let sent = cam["frames_out"].as_u64().unwrap();
    let paused_ms = cam["paused_ms"].as_u64().unwrap();
    assert!((2000..10_000).contains(&paused_ms), "{summary:#}");
    for sink in ["a", "mid", "b"] {
        let p = &summary["processors"][sink];
        assert_eq!(p["frames_in"], sent, "{sink}: {summary:#}");
        assert_eq!(p["gaps"], 0, "a pause is not loss: {sink}: {summary:#}");
        assert_eq!(p["dropped"], 0, "{sink}: {summary:#}");
        assert_eq!(p["dropped_paused"], 0, "{sink}: {summary:#}");
    }
}

#[test]
fn a_paused_middle_processor_drops_apart_from_loss_and_its_sibling_loses_nothing() {
    let pipeline = pipeline("pause.yaml", &[("fps", "100")]);
    let dir = pipeline.0.path();
    let (mut running, id) = start(&pipeline, &["cam", "a", "mid", "b"]);

    steer(&pipeline, &id, &["pause", "mid"]);
    running.wait_for("processor mid paused", TOLD);
    assert_eq!(
        steer(&pipeline, &id, &["pause", "mid"]),
        format!("processor `mid` of runtime {id} is already paused: nothing changed"),
        "a second pause is a no-op"
    );
    let mid = ps_worker(dir, &id, "mid");
    assert_eq!(mid["state"], "paused", "{mid:#}");
    assert_eq!(mid["processors"][0]["paused"], true, "{mid:#}");
    assert_eq!(ps_worker(dir, &id, "a")["state"], "running");
    // The camera's frames are the clock: 50 of them pass while mid is paused.
    tapped_seqs(dir, &id, "cam.out", 50);

    let unknown = plexus(&["pause", "camera", "--runtime", &id], dir);
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown.error_line().starts_with(&format!(
            "plexus: error: runtime {id} has no processor `camera` (its processors: cam, "
        )),
        "{}",
        unknown.stderr
    );
    let usage = plexus(&["pause", "--runtime", &id], dir);
    assert_eq!(
        usage.code,
        Some(2),
        "neither processors nor --all: {}",
        usage.stderr
    );

    assert_eq!(
        steer(&pipeline, &id, &["resume", "mid", "a"]),
        format!("resuming processor `mid` of runtime {id}; `a` was not paused")
    );
    running.wait_for("processor mid resumed", TOLD);
    tapped_seqs(dir, &id, "mid.out", 10);

    let summary = stop(running, &id);
    let processors = &summary["processors"];
    let sent = processors["cam"]["frames_out"].as_u64().unwrap();
    let a = &processors["a"];
    assert_eq!(a["frames_in"], sent, "{summary:#}");
    assert_eq!(a["gaps"], 0, "{summary:#}");
    assert_eq!(a["dropped"], 0, "{summary:#}");
    let mid = &processors["mid"];
    let skipped = mid["dropped_paused"].as_u64().unwrap();
    assert!(skipped >= 50, "{summary:#}");
    assert_eq!(
        mid["dropped"], 0,
        "dropped while paused is not loss: {summary:#}"
    );
    assert_eq!(mid["gaps"], 0, "{summary:#}");
    assert_eq!(
        mid["frames_in"].as_u64().unwrap() + skipped,
        sent,
        "every frame was either processed or dropped while paused: {summary:#}"
    );
    assert!(mid["paused_ms"].as_u64().unwrap() > 0, "{summary:#}");
    assert_eq!(processors["b"]["dropped"], 0, "{summary:#}");
}

/// CPU time (user and system) a process has used so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After `pid (comm) `: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 1)..]
        .split_whitespace()
        .collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// CPU ticks the worker processes of runtime `id` use over one second.
fn cpu_over_a_second(id: &str) -> u64 {
    let pids = worker_processes(id, None);
    assert!(pids.len() >= 4, "the workers of {id}: {pids:?}");
    let before: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    std::thread::sleep(Duration::from_secs(1));
    let after: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    after - before
}

#[test]
fn a_paused_pipeline_costs_its_workers_no_cpu() {
    let pipeline = pipeline("pause-hooks.yaml", &[("width", "320"), ("height", "240")]);
    let processors = ["cam", "py", "ts", "sink"];
    let (mut running, id) = start(&pipeline, &processors);
    tapped_seqs(pipeline.0.path(), &id, "ts.out", 10);
    let flowing = cpu_over_a_second(&id);

    steer(&pipeline, &id, &["pause", "--all"]);
    for processor in processors {
        running.wait_for(&format!("processor {processor} paused"), TOLD);
    }
    let paused = cpu_over_a_second(&id);
    // A worker still beats its pulse and reports its counters: microseconds.
    assert!(
        paused <= 3,
        "paused workers used {paused} ticks in 1 s (flowing: {flowing})"
    );
    assert!(flowing > paused, "flowing {flowing} ticks, paused {paused}");

    assert!(steer(&pipeline, &id, &["resume", "--all"]).starts_with("resuming processors"));
    for processor in processors {
        running.wait_for(&format!("processor {processor} resumed"), TOLD);
    }
    tapped_seqs(pipeline.0.path(), &id, "ts.out", 10);
    let summary = stop(running, &id);
    // The workers pause one after another, so a relay may still send what
    // the next one, already paused, drops: gaps further down, never loss.
    assert_eq!(summary["processors"]["sink"]["dropped"], 0, "{summary:#}");
}

#[test]
fn pause_hooks_run_in_python_and_typescript_and_a_restart_stays_paused() {
    let pipeline = pipeline("pause-hooks.yaml", &[("width", "32"), ("height", "24")]);
    let dir = pipeline.0.path();
    let (mut running, id) = start(&pipeline, &["cam", "py", "ts", "sink"]);
    let pid = |worker: &str| ps_worker(dir, &id, worker)["pid"].as_u64().unwrap();
    let (py, ts) = (pid("py"), pid("ts"));

    steer(&pipeline, &id, &["pause", "py", "ts"]);
    running.wait_for("processor py paused", TOLD);
    running.wait_for("processor ts paused", TOLD);
    running.wait_for(&format!("[py] on_pause #1 in pid {py}"), TOLD);
    running.wait_for(&format!("[ts] on_pause #1 in pid {ts}"), TOLD);

    // SAFETY: kill(2) of a worker of our own run.
    assert_eq!(unsafe { libc::kill(py as i32, libc::SIGKILL) }, 0);
    running.wait_for("worker py restarted (generation 1", START);
    // Told again by the new process, which began paused and said so.
    running.wait_for_next("processor py paused", TOLD);
    let py = pid("py");
    running.wait_for(&format!("[py] on_pause #1 in pid {py}"), TOLD);
    let worker = ps_worker(dir, &id, "py");
    assert_eq!(worker["state"], "paused", "{worker:#}");
    tapped_seqs(dir, &id, "cam.out", 25);

    steer(&pipeline, &id, &["resume", "--all"]);
    running.wait_for("processor py resumed", TOLD);
    running.wait_for("processor ts resumed", TOLD);
    running.wait_for(&format!("[py] on_resume #1 in pid {py}"), TOLD);
    running.wait_for(&format!("[ts] on_resume #1 in pid {ts}"), TOLD);
    tapped_seqs(dir, &id, "ts.out", 10);

    let summary = stop(running, &id);
    let processors = &summary["processors"];
    assert!(
        processors["py"]["dropped_paused"].as_u64().unwrap() >= 25,
        "the restarted py dropped the camera's frames while paused: {summary:#}"
    );
    assert_eq!(summary["workers"]["py"]["restarts"], 1, "{summary:#}");
}

/// A manual source (a Python thread of its own) paused for a second: its
/// frames are dropped at its outputs, so none captured meanwhile goes out,
/// and its sequence goes on without a gap when it resumes.
#[test]
fn a_paused_manual_source_sends_nothing_and_goes_on_without_a_gap() {
    let pipeline = pipeline(
        "source.yaml",
        &[
            ("package", "source-python"),
            ("type", "test.py_manual_gradient"),
        ],
    );
    let (mut running, id) = start(&pipeline, &["src", "sink"]);
    pause_while_tapping(
        &pipeline,
        &mut running,
        &id,
        "src",
        40,
        Duration::from_secs(1),
    );
    let summary = stop(running, &id);
    let sink = &summary["processors"]["sink"];
    assert_eq!(
        sink["frames_in"], summary["processors"]["src"]["frames_out"],
        "{summary:#}"
    );
    assert_eq!(sink["gaps"], 0, "{summary:#}");
}
