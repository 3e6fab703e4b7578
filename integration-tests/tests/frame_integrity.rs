//! Frame integrity (docs/ARCHITECTURE.md §15): with its sandbox on, a
//! native or Python worker may only read `/dev/shm`, and writes only its
//! own shared memory, through the supervisor's shared-memory keeper. A
//! processor cannot open, map or write another worker's data segment; one
//! that writes into its input frame kills only itself, and a sibling
//! subscriber of the same frames still reads exactly what the source made;
//! a producer that restarts under the sandbox delivers again (the keeper
//! lets its new segments and connections through); and nothing is left in
//! `/dev/shm` (each run is checked with `assert_no_residue`).

use integration_tests::process::{spawn_plexus_with, PlexusRun};
use integration_tests::{assert_no_residue, fixture, write_pipeline};
use serde_json::Value;

/// Runs `yaml` (with `${integrity}` and `${faulty}` naming the fixture
/// packages) for `frames` frames, every worker sandboxed; checks that the
/// run left nothing behind.
fn run_sandboxed(yaml: &str, frames: u64) -> PlexusRun {
    // Every worker strict, with no declared permissions.
    let yaml = format!("sandbox: strict\n{yaml}")
        .replace(
            "${integrity}",
            &fixture("integrity-python").display().to_string(),
        )
        .replace("${faulty}", &fixture("faulty-python").display().to_string());
    let (tmp, path) = write_pipeline(&yaml);
    let frames = frames.to_string();
    let run = spawn_plexus_with(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
        &[],
    )
    .finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    run
}

/// `sink` got every frame `cam` sent, in order, and raised no error.
fn got_everything(summary: &Value, sink: &str, log: &str) {
    let sent = &summary["processors"]["cam"]["frames_out"];
    let sink = &summary["processors"][sink];
    assert_eq!(&sink["frames_in"], sent, "{summary:#}\n{log}");
    assert_eq!(sink["gaps"], 0, "{summary:#}\n{log}");
    assert_eq!(sink["errors"], 0, "{summary:#}\n{log}");
}

#[test]
fn another_workers_data_segment_cannot_be_opened_for_writing() {
    let run = run_sandboxed(
        r#"
name: tamper
packages: [${integrity}]
processors:
  cam: { type: builtin.test_pattern, config: { width: 32, height: 24, fps: 100 } }
  tamper: { type: test.py_tamper }
  a: { type: builtin.stats_sink }
  b: { type: test.py_check_pattern }
connections: [cam.out -> tamper.in, tamper.out -> a.in, cam.out -> b.in]
"#,
        200,
    );
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}\n{log}");
    // Each way was refused (the processor raises if one worked)…
    assert!(
        log.contains("integrity: refused os.open, shm_open, mmap of plexus_"),
        "{log}"
    );
    assert_eq!(summary["processors"]["tamper"]["errors"], 0, "{log}");
    // …and told as a violation naming the processor and the file.
    assert!(
        log.contains("processor `tamper` may not open /dev/shm/plexus_"),
        "{log}"
    );
    // The pipeline kept running: nothing lost, and the frames intact.
    got_everything(&summary, "a", log);
    got_everything(&summary, "b", log);
}

#[test]
fn a_processor_writing_into_its_input_kills_only_itself() {
    let run = run_sandboxed(
        r#"
name: scribble
packages: [${integrity}]
processors:
  cam: { type: builtin.test_pattern, config: { width: 32, height: 24, fps: 100 } }
  scribble:
    type: test.py_scribble
    restart: { policy: on-failure, max_restarts: 10, backoff_ms: 0 }
  b: { type: test.py_check_pattern }
connections: [cam.out -> scribble.in, cam.out -> b.in]
"#,
        150,
    );
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    let scribbler = &summary["workers"]["scribble"];
    assert!(
        scribbler["restarts"].as_u64().unwrap() >= 1,
        "{scribbler}\n{log}"
    );
    assert!(log.contains("worker scribble exited (signal 11)"), "{log}");
    // The sibling read every frame byte for byte as the source made it.
    got_everything(&summary, "b", log);
}

#[test]
fn a_producer_restarted_under_the_sandbox_delivers_again() {
    // The crasher dies on its 40th frame and every 40th after.
    let every = 40;
    let run = run_sandboxed(
        r#"
name: restart
packages: [${faulty}]
processors:
  cam: { type: builtin.test_pattern, config: { width: 32, height: 24, fps: 100 } }
  a: { type: builtin.stats_sink }
  crasher:
    type: test.py_exit
    config: { every: 40 }
    restart: { policy: on-failure, max_restarts: 10, backoff_ms: 0 }
  b: { type: builtin.stats_sink }
connections: [cam.out -> a.in, cam.out -> crasher.in, crasher.out -> b.in]
"#,
        300,
    );
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    got_everything(&summary, "a", log);
    let crasher = &summary["workers"]["crasher"];
    assert!(
        crasher["restarts"].as_u64().unwrap() >= 1,
        "{crasher}\n{log}"
    );
    for line in [
        "worker crasher restarted (generation 1, pid ",
        "input b.in recovered",
    ] {
        assert!(log.contains(line), "no `{line}` in the log:\n{log}");
    }
    // One generation passes at most `every - 1` frames: b got more, so
    // frames flowed through a restarted producer's new segments.
    let through = summary["processors"]["b"]["frames_in"].as_u64().unwrap();
    assert!(through > every - 1, "{summary:#}\n{log}");
    assert!(
        !log.contains("may not open /dev/shm"),
        "the keeper refused a worker its own files:\n{log}"
    );
}
