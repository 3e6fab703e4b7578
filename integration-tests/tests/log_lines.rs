//! The log stays readable when a worker dies with its ports open: iceoryx2's
//! "Detected dead node" warning (a 6 KB Debug dump per line) never reaches
//! it, and the dead worker is named.

use std::time::Duration;

use integration_tests::residue::{assert_no_residue, worker_pid};
use integration_tests::spawn_plexus;

/// The longest log line a person should have to read.
const LONGEST_LINE: usize = 500;

/// A Python processor whose `setup` waits for the file named by its `go`
/// config, so that a test can act while it has joined the runtime but not
/// yet opened its input.
const WAITS_PACKAGE: &str = r#"package: { name: test.waits, version: 0.1.0, plexus: ">=0.1" }
processors:
  - name: test.py_waits_for_file
    language: python
    entry: waits:WaitsForFile
    mode: reactive
    inputs:  [{ name: in, schema: any }]
    outputs: []
    config:
      go: { type: string }
"#;

const WAITS_PY: &str = r#"import os
import time


class WaitsForFile:
    def setup(self, ctx):
        print("setup waiting for its go file", flush=True)
        while not os.path.exists(ctx.config["go"]):
            time.sleep(0.01)

    def process(self, ctx, inputs):
        pass
"#;

#[test]
fn a_worker_killed_with_open_ports_leaves_one_short_line_that_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let package = tmp.path().join("waits");
    std::fs::create_dir(&package).unwrap();
    std::fs::write(package.join("plexus.yaml"), WAITS_PACKAGE).unwrap();
    std::fs::write(package.join("waits.py"), WAITS_PY).unwrap();
    let go = tmp.path().join("go");
    let pipeline = tmp.path().join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: dead-node\n\
             packages: [{}]\n\
             processors:\n  \
               cam: {{ type: builtin.test_pattern, config: {{ width: 32, height: 24, fps: 100 }} }}\n  \
               fast: {{ type: builtin.stats_sink, restart: {{ policy: never }} }}\n  \
               slow: {{ type: test.py_waits_for_file, config: {{ go: \"{}\" }} }}\n\
             connections: [cam.out -> fast.in, cam.out -> slow.in]\n",
            package.display(),
            go.display()
        ),
    )
    .unwrap();

    let mut running = spawn_plexus(
        &["run", pipeline.to_str().unwrap(), "--frames", "30"],
        tmp.path(),
    );
    let id = running.runtime_id();
    // `slow` has joined the runtime and waits in setup, its subscription to
    // cam.out still to come; `fast`, told to configure at the same moment,
    // has subscribed to it long before a Python worker gets this far.
    running.wait_for("setup waiting for its go file", Duration::from_secs(120));
    let fast = worker_pid(&id, running.pid(), "fast").expect("fast's process");
    // SAFETY: kill(2) of a worker of the runtime this test started.
    unsafe { libc::kill(fast as i32, libc::SIGKILL) };
    running.wait_for("worker fast exited (signal 9)", Duration::from_secs(10));
    // Now `slow` opens cam.out, where the dead subscriber was.
    std::fs::write(&go, "").unwrap();
    let run = running.finish();

    let long: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.len() > LONGEST_LINE)
        .collect();
    assert!(
        long.is_empty(),
        "{} log lines are longer than {LONGEST_LINE} bytes; the first begins: {}",
        long.len(),
        long.first().map_or("", |l| &l[..LONGEST_LINE])
    );
    assert!(
        run.stderr.lines().any(|l| l.contains("worker fast failed")),
        "the dead worker is not named:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("processor slow started"),
        "slow never started:\n{}",
        run.stderr
    );
    assert_no_residue(&id);
}
