//! The run journal (docs/ARCHITECTURE.md §7, *Run journal*; §8): what a
//! run leaves behind for `runs`, `events`, `logs` and `summary`, and
//! detached runs with `run -d`, `wait` and `attach`, all with the real
//! `plexus` binary and a data directory of the test's own.

use std::path::Path;
use std::time::Duration;

use integration_tests::detached::{start_detached, Data, Detached};
use integration_tests::{assert_matches_schema, assert_no_residue, pipeline, spawn_plexus_with};

const START: Duration = Duration::from_secs(120);

#[test]
fn a_finished_run_keeps_its_events_its_workers_output_across_restarts_and_its_summary() {
    let data = Data::new();
    let (tmp, path) = pipeline("chatty.yaml", &[]);
    let mut running = data.spawn(
        &["run", path.to_str().unwrap(), "--frames", "150", "--json"],
        tmp.path(),
    );
    let id = running.runtime_id();
    running.wait_for("frame 10 is cursed", START);
    let restart = data.plexus(&["restart", "py", "--runtime", &id], tmp.path());
    assert_eq!(restart.code, Some(0), "{}", restart.stderr);
    running.wait_for("worker py restarted", START);
    let run = running.finish();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_matches_schema("summary", &summary);
    assert_no_residue(&id);

    // `logs py`: the Python worker's lines and nothing else, both of its
    // processes marked, and the traceback of each error it raised.
    let logs = data.plexus(&["logs", "py", "--runtime", &id, "--json"], tmp.path());
    assert_eq!(logs.code, Some(0), "{}", logs.stderr);
    let records = logs.json_lines();
    for record in &records {
        assert_matches_schema("logs", record);
    }
    assert!(
        records.iter().all(|r| r["worker"] == "py"),
        "{}",
        logs.stdout
    );
    let said = |generation: u64, stream: &str, text: &str| {
        records.iter().any(|r| {
            r["generation"] == generation
                && r["stream"] == stream
                && r["line"].as_str().unwrap().contains(text)
        })
    };
    for generation in [0, 1] {
        assert!(
            said(generation, "stdout", "chatty set up in process"),
            "gen {generation}: {}",
            logs.stdout
        );
        assert!(
            said(generation, "stderr", "chatty says this on stderr"),
            "gen {generation}: {}",
            logs.stdout
        );
    }
    assert!(
        said(0, "error", "RuntimeError: frame 10 is cursed"),
        "{}",
        logs.stdout
    );
    assert!(said(0, "error", "Traceback"), "{}", logs.stdout);
    let human = data.plexus(&["logs", "py", "--runtime", &id], tmp.path());
    assert!(
        human.stdout.contains("gen 1  chatty set up in process"),
        "{}",
        human.stdout
    );
    // --since: nothing printed in the future's last 0.001 s.
    let recent = data.plexus(
        &["logs", "py", "--runtime", &id, "--since", "0.001"],
        tmp.path(),
    );
    assert_eq!(recent.code, Some(0), "{}", recent.stderr);
    assert!(
        recent.stdout.len() < human.stdout.len(),
        "{}",
        recent.stdout
    );

    // `events` of the finished run: its whole story, every seq once, in order.
    let events = data.plexus(&["events", "--runtime", &id, "--json"], tmp.path());
    assert_eq!(events.code, Some(0), "{}", events.stderr);
    let events = events.json_lines();
    for event in &events {
        assert_matches_schema("events", event);
    }
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i as u64, "{event}");
    }
    assert_eq!(events.first().unwrap()["kind"], "runtime_started");
    assert_eq!(events.last().unwrap()["kind"], "runtime_stopped");
    assert!(events
        .iter()
        .any(|e| e["kind"] == "restart_requested" && e["worker"] == "py"));
    let lines = data.plexus(&["events", "--runtime", &id], tmp.path());
    assert!(
        lines.stdout.contains("worker py restarted (generation 1"),
        "{}",
        lines.stdout
    );

    // `summary` prints what `run --json` printed, and `runs` lists the run.
    let kept = data.plexus(&["summary", &id, "--json"], tmp.path());
    assert_eq!(kept.code, Some(0), "{}", kept.stderr);
    assert_eq!(kept.json(), summary);
    let table = data.plexus(&["summary", &id], tmp.path());
    assert!(
        table.stdout.contains(&format!(
            "pipeline `chatty` (runtime {id}) completed_with_errors"
        )),
        "{}",
        table.stdout
    );
    let runs = data.plexus(&["runs", "--json"], tmp.path()).json();
    assert_matches_schema("runs", &runs);
    let listed = &runs["runs"][0];
    assert_eq!(listed["runtime"], id.as_str());
    assert_eq!(listed["pipeline"], "chatty");
    assert_eq!(listed["state"], "completed_with_errors");
    assert_eq!(listed["elapsed_ms"], summary["elapsed_ms"]);

    // Mistakes get one sentence.
    let unknown = data.plexus(&["logs", "nobody", "--runtime", &id], tmp.path());
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown
            .stderr
            .contains("has no worker `nobody` (its workers: "),
        "{}",
        unknown.stderr
    );
    let escape = data.plexus(&["summary", "../../etc"], tmp.path());
    assert_eq!(escape.code, Some(2));
    assert!(
        escape.stderr.contains("has no run `../../etc`"),
        "{}",
        escape.stderr
    );
}

#[test]
fn a_detached_run_gives_the_summary_and_exit_code_of_a_foreground_one() {
    let data = Data::new();
    let (tmp, path) = pipeline("source-to-sink.yaml", &[]);
    let foreground = data.plexus(
        &["run", path.to_str().unwrap(), "--frames", "60", "--json"],
        tmp.path(),
    );
    assert_eq!(foreground.code, Some(0), "{}", foreground.stderr);
    let foreground = foreground.json();

    let detached = start_detached(&data, &path, tmp.path(), &["--frames", "60"]);
    let waited = data.plexus(&["wait", &detached.id, "--json"], tmp.path());
    assert_eq!(waited.code, Some(0), "{}", waited.stderr);
    let waited = waited.json();
    assert_matches_schema("summary", &waited);
    assert_eq!(waited["runtime"], detached.id.as_str());
    for field in ["outcome", "pipeline"] {
        assert_eq!(waited[field], foreground[field]);
    }
    for (id, processor) in foreground["processors"].as_object().unwrap() {
        for count in [
            "frames_in",
            "frames_out",
            "dropped",
            "gaps",
            "errors",
            "restarts",
        ] {
            assert_eq!(
                waited["processors"][id][count], processor[count],
                "{id}.{count}"
            );
        }
    }
    assert_no_residue(&detached.id);
    // Waiting again on a run that is over prints the same at once.
    let again = data.plexus(&["wait", &detached.id, "--json"], tmp.path());
    assert_eq!(again.json(), waited);
}

#[test]
fn a_failed_detached_run_makes_wait_exit_1() {
    let data = Data::new();
    let (tmp, path) = pipeline("crash-beside-sink.yaml", &[]);
    let started = data.plexus(
        &[
            "run",
            "-d",
            "--json",
            path.to_str().unwrap(),
            "--frames",
            "50",
        ],
        tmp.path(),
    );
    assert_eq!(started.code, Some(0), "{}", started.stderr);
    assert_matches_schema("run-detached", &started.json());
    let detached = Detached {
        id: started.json()["runtime"].as_str().unwrap().to_string(),
        data: &data,
    };
    let waited = data.plexus(&["wait", &detached.id], tmp.path());
    assert_eq!(waited.code, Some(1), "{}", waited.stderr);
    assert!(
        waited
            .stdout
            .contains(&format!("(runtime {}) failed", detached.id)),
        "{}",
        waited.stdout
    );
    assert!(
        waited.stdout.contains("worker crash failed"),
        "{}",
        waited.stdout
    );
}

#[test]
fn attach_follows_a_detached_run_to_its_summary() {
    let data = Data::new();
    let (tmp, path) = pipeline("chatty.yaml", &[]);
    let detached = start_detached(&data, &path, tmp.path(), &["--frames", "150"]);
    // `run -d` came back with the run going on.
    let runs = data.plexus(&["runs", "--json"], tmp.path()).json();
    assert_eq!(runs["runs"][0]["runtime"], detached.id.as_str());
    assert_eq!(runs["runs"][0]["state"], "running", "{runs}");
    let attached = data.plexus(&["attach", &detached.id], tmp.path());
    assert_eq!(attached.code, Some(0), "{}", attached.stderr);
    for expected in [
        "runtime_stopped",
        "chatty set up in process",
        "RuntimeError: frame 10 is cursed",
        &format!(
            "pipeline `chatty` (runtime {}) completed_with_errors",
            detached.id
        ),
    ] {
        assert!(
            attached.stdout.contains(expected),
            "no `{expected}` in:\n{}",
            attached.stdout
        );
    }
    let again = data.plexus(&["attach", &detached.id], tmp.path());
    assert_eq!(again.code, Some(2));
    assert!(
        again
            .stderr
            .contains("is not running (it is completed_with_errors)"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_detached_run_that_cannot_start_says_why_and_leaves_no_journal() {
    let data = Data::new();
    let (tmp, path) = integration_tests::write_pipeline(&format!(
        "name: fails\npackages: [{}]\nprocessors:\n  cam: {{ type: builtin.test_pattern }}\n  bad: {{ type: test.py_setup_fails }}\nconnections: [cam.out -> bad.in]\n",
        integration_tests::fixture("faulty-python").display()
    ));
    let started = data.plexus(&["run", "-d", path.to_str().unwrap()], tmp.path());
    assert_eq!(started.code, Some(2), "{}", started.stderr);
    assert!(
        started.stdout.is_empty(),
        "no runtime id: {}",
        started.stdout
    );
    assert!(
        started.stderr.contains("no camera calibration found"),
        "{}",
        started.stderr
    );
    let runs = data.plexus(&["runs", "--json"], tmp.path()).json();
    for run in runs["runs"].as_array().unwrap() {
        assert_ne!(run["state"], "running", "{run}");
    }
    // A mistake in the pipeline is told before anything starts.
    let (bad_tmp, bad) = integration_tests::write_pipeline("name: x\nprocessors: {}\n");
    let refused = data.plexus(&["run", "-d", bad.to_str().unwrap()], bad_tmp.path());
    assert_eq!(refused.code, Some(2));
    assert!(
        refused.stderr.contains("pipeline.yaml"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_journal_keeps_only_the_newest_runs_it_is_told_to() {
    let data = Data::new();
    let (tmp, path) = pipeline("source-to-sink.yaml", &[]);
    let keep = [
        ("PLEXUS_DATA_DIR", data.path()),
        ("PLEXUS_RUNS_KEEP", Path::new("2")),
    ];
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = spawn_plexus_with(
            &["run", path.to_str().unwrap(), "--frames", "5"],
            tmp.path(),
            &keep,
        )
        .finish();
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        ids.push(run.runtime_id().unwrap());
    }
    let runs = data.plexus(&["runs", "--json"], tmp.path()).json();
    let listed: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runtime"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    assert!(!data.run_dir(&ids[0]).exists());
}
