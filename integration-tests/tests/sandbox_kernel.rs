//! The kernel's share of the sandbox (docs/ARCHITECTURE.md §15), with real
//! workers: a system call no worker may make kills only its worker under
//! `strict`, told as a `sandbox_violation` event naming the call, and the
//! restart policy brings it back; under `declared` the call fails and the
//! worker lives; Landlock keeps a worker from files it was not granted;
//! the example pipelines of all three languages still run sandboxed.

use std::path::Path;

use integration_tests::detached::Data;
use integration_tests::{
    assert_no_residue, example_at_half_rate, fixture, pipeline_text, write_pipeline,
};
use serde_json::Value;

/// The fan-out pipeline (`cam → a`, `cam → crasher → b`) with the crasher
/// `kind` of the fixture package, failing on every 40th frame, restarted on
/// failure, all of it in sandbox `mode`.
fn fan_out(mode: &str, kind: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let package = fixture("sandbox-kernel-python").display().to_string();
    let text = pipeline_text(
        "fan-out.yaml",
        &[
            ("package", &package),
            ("type", kind),
            ("config", "every: 40"),
            (
                "settings",
                "restart: { policy: on-failure, max_restarts: 10, backoff_ms: 0 }",
            ),
            ("critical", "false"),
        ],
    );
    write_pipeline(&format!("sandbox: {mode}\n{text}"))
}

/// Runs `pipeline` for `frames` frames in `data`'s journal; its summary,
/// its log and its events.
fn run(data: &Data, pipeline: &Path, cwd: &Path, frames: u64) -> (Value, String, Vec<Value>) {
    let frames = frames.to_string();
    let run = data.plexus(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--frames",
            &frames,
            "--json",
        ],
        cwd,
    );
    let id = run.runtime_id().expect("the run started");
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let events = data.plexus(&["events", "--runtime", &id, "--json"], cwd);
    assert_eq!(events.code, Some(0), "{}", events.stderr);
    (run.json(), run.stderr.clone(), events.json_lines())
}

fn violations(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "sandbox_violation")
        .collect()
}

#[test]
fn under_strict_a_forbidden_system_call_kills_only_its_worker_which_restarts() {
    let data = Data::new();
    let (tmp, path) = fan_out("strict", "test.py_ptrace");
    let (summary, log, events) = run(&data, &path, tmp.path(), 300);

    // The capture lost nothing: only the crasher died.
    let sent = summary["processors"]["cam"]["frames_out"].as_u64().unwrap();
    assert_eq!(summary["processors"]["a"]["frames_in"], sent, "{summary:#}");
    assert_eq!(summary["processors"]["a"]["gaps"], 0, "{summary:#}");
    assert!(log.contains("worker crasher exited (signal 31)"), "{log}");

    let told = violations(&events);
    assert!(!told.is_empty(), "no sandbox_violation event:\n{log}");
    for violation in &told {
        assert_eq!(violation["processor"], "crasher", "{violation}");
        assert_eq!(violation["permission"], "syscall", "{violation}");
        assert_eq!(violation["target"], "ptrace", "{violation}");
        assert_eq!(violation["action"], "killed", "{violation}");
    }
    // Each death told once, before the restart that follows it.
    let restarts = summary["workers"]["crasher"]["restarts"].as_u64().unwrap();
    assert!(restarts >= 2, "{summary:#}\n{log}");
    let first_violation = events.iter().position(|e| e["kind"] == "sandbox_violation");
    let first_restart = events.iter().position(|e| e["kind"] == "worker_restarted");
    assert!(first_violation < first_restart, "{events:#?}");
    // Frames flowed through the restarted worker.
    let through = summary["processors"]["b"]["frames_in"].as_u64().unwrap();
    assert!(through > 39, "{summary:#}\n{log}");
}

#[test]
fn under_declared_a_forbidden_system_call_fails_and_the_worker_lives() {
    let data = Data::new();
    let (tmp, path) = fan_out("declared", "test.py_ptrace");
    let (summary, log, events) = run(&data, &path, tmp.path(), 150);

    let crasher = &summary["workers"]["crasher"];
    assert_eq!(crasher["restarts"], 0, "{crasher}\n{log}");
    assert!(!log.contains("worker crasher exited (signal"), "{log}");
    // ptrace returned EPERM (1) to the processor, each time.
    assert!(log.contains("ptrace failed with errno 1"), "{log}");
    assert!(!log.contains("ptrace succeeded"), "{log}");
    assert!(
        violations(&events).iter().all(|v| v["action"] != "killed"),
        "{events:#?}"
    );
    assert_eq!(summary["processors"]["b"]["frames_in"], 150, "{summary:#}");
}

#[test]
fn a_strict_worker_cannot_read_what_it_was_not_granted() {
    let data = Data::new();
    let (tmp, path) = fan_out("strict", "test.py_reads_passwd");
    let (summary, log, _) = run(&data, &path, tmp.path(), 100);
    assert!(log.contains("reading /etc/passwd was refused"), "{log}");
    assert!(!log.contains("read /etc/passwd\n"), "{log}");
    // Refused, not killed: the worker goes on.
    assert_eq!(summary["workers"]["crasher"]["restarts"], 0, "{summary:#}");
    assert_eq!(summary["processors"]["b"]["frames_in"], 100, "{summary:#}");
}

/// The flagship example (Rust, Python and TypeScript processors, builtins)
/// runs under `strict` as it runs without a sandbox.
#[test]
fn the_mixed_example_runs_under_strict() {
    let data = Data::new();
    let tmp = tempfile::tempdir().unwrap();
    let path = example_at_half_rate(tmp.path(), "mixed");
    // The example itself says so: every example runs under strict.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\nsandbox: strict"), "{text}");
    let (summary, log, events) = run(&data, &path, tmp.path(), 120);
    assert_eq!(summary["outcome"], "completed", "{summary:#}\n{log}");
    assert!(violations(&events).is_empty(), "{events:#?}");
    for sink in ["capture_stats", "stats", "png"] {
        let seen = summary["processors"][sink]["frames_in"].as_u64().unwrap();
        assert!(seen > 100, "{sink} saw {seen}:\n{summary:#}\n{log}");
    }
    assert!(
        std::fs::read_dir(tmp.path().join("png")).unwrap().count() > 0,
        "the PNG sink wrote nothing"
    );
}
