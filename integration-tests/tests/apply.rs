//! Transactional graph edits (`plexus apply`, docs/ARCHITECTURE.md §14),
//! end to end: a running pipeline with two branches off one test pattern
//! gains a third branch and loses the second, as one batch, while the
//! capture branch runs on without losing a frame; then three files that
//! would break the graph (an unknown type, a cycle, a schema mismatch) are
//! refused with their sentence and change nothing.

use std::path::Path;
use std::time::Duration;

use integration_tests::detached::Data;
use integration_tests::{assert_no_residue, exits_within, fixture};
use serde_json::Value;

const START: Duration = Duration::from_secs(60);

/// A pipeline named `branches` in `dir/file`: the test pattern, the
/// capture branch `cam → py → sink`, and `rest` (processors and
/// connections, YAML lines).
fn pipeline(dir: &Path, file: &str, processors: &str, connections: &str) -> std::path::PathBuf {
    let packages = ["relay-python", "relay-deno"]
        .map(|name| fixture(name).display().to_string())
        .join(", ");
    let text = format!(
        "name: branches\n\
         packages: [{packages}]\n\
         processors:\n  \
           cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 8, fps: 60 }} }}\n  \
           py: {{ type: test.py_pass }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         {processors}\
         connections: [cam.out -> py.in, py.out -> sink.in{connections}]\n"
    );
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// The workers `ps --json` shows, by name, with their pids.
fn workers(data: &Data, cwd: &Path, id: &str) -> Vec<(String, u64)> {
    let ps = data.plexus(&["ps", "--runtime", id, "--json"], cwd);
    assert_eq!(ps.code, Some(0), "{}", ps.stderr);
    let status: Value = ps.json();
    let mut workers: Vec<(String, u64)> = status["runtimes"][0]["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["worker"].as_str().unwrap().to_owned(),
                w["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    workers.sort();
    workers
}

#[test]
fn apply_adds_and_removes_branches_while_capture_loses_nothing() {
    let data = Data::new();
    let tmp = tempfile::tempdir().unwrap();
    let two = pipeline(
        tmp.path(),
        "two.yaml",
        "  ts: { type: test.ts_pass }\n  tsink: { type: builtin.stats_sink }\n",
        ", cam.out -> ts.in, ts.out -> tsink.in",
    );
    let swapped = pipeline(
        tmp.path(),
        "swapped.yaml",
        "  py2: { type: test.py_relay }\n  psink: { type: builtin.stats_sink }\n",
        ", cam.out -> py2.in, py2.out -> psink.in",
    );
    let mut run = data.spawn(&["run", two.to_str().unwrap(), "--json"], tmp.path());
    let id = run.runtime_id();
    run.wait_for("processor tsink started", START);
    let before = workers(&data, tmp.path(), &id);
    let ts_pid = before.iter().find(|(w, _)| w == "ts").unwrap().1;

    let dry = data.plexus(
        &[
            "apply",
            swapped.to_str().unwrap(),
            "--runtime",
            &id,
            "--dry-run",
        ],
        tmp.path(),
    );
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    for line in [
        "+ processor py2 (test.py_relay)",
        "- processor ts",
        "+ connection cam.out -> py2.in",
        "- connection ts.out -> tsink.in",
        "stop worker ts, tsink",
    ] {
        assert!(
            dry.stdout.contains(line),
            "dry run lacks {line:?}: {}",
            dry.stdout
        );
    }
    assert_eq!(
        workers(&data, tmp.path(), &id),
        before,
        "a dry run changed the runtime"
    );

    let applied = data.plexus(
        &["apply", swapped.to_str().unwrap(), "--runtime", &id],
        tmp.path(),
    );
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    assert!(
        applied.stdout.contains("worker `py2` started"),
        "{}",
        applied.stdout
    );
    let after = workers(&data, tmp.path(), &id);
    let names: Vec<&str> = after.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(names, ["cam", "psink", "py", "py2", "sink"]);
    for kept in ["cam", "py", "sink"] {
        let pid = |list: &[(String, u64)]| list.iter().find(|(w, _)| w == kept).unwrap().1;
        assert_eq!(pid(&before), pid(&after), "{kept} was touched");
    }
    assert!(
        exits_within(ts_pid as u32, Duration::from_secs(15)),
        "the removed worker ts (pid {ts_pid}) is still there"
    );
    let again = data.plexus(
        &["apply", swapped.to_str().unwrap(), "--runtime", &id],
        tmp.path(),
    );
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );

    // The runtime's picture of itself is the new file's.
    let graph = data.plexus(&["graph", "--runtime", &id], tmp.path());
    assert_eq!(graph.code, Some(0), "{}", graph.stderr);
    assert!(
        graph.stdout.contains("py2") && !graph.stdout.contains("tsink"),
        "{}",
        graph.stdout
    );

    // Frames reach the new branch.
    integration_tests::tapped_seqs(tmp.path(), &id, "py2.out", 5);

    run.signal(libc::SIGINT);
    let run = run.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let p = &summary["processors"];
    let sent = p["cam"]["frames_out"].as_u64().unwrap();
    assert_eq!(p["sink"]["frames_in"], sent, "{summary:#}");
    assert_eq!(p["sink"]["gaps"], 0, "{summary:#}");
    assert_eq!(p["py"]["frames_in"], sent, "{summary:#}");
    let branch = p["psink"]["frames_in"].as_u64().unwrap();
    assert!(branch > 0 && branch < sent, "{summary:#}");
    assert_eq!(p["psink"]["gaps"], 0, "{summary:#}");
    assert_eq!(p["py2"]["frames_in"], branch, "{summary:#}");
    assert!(
        p.get("ts").is_none(),
        "a removed processor in the summary: {summary:#}"
    );

    let events = data.plexus(&["events", "--runtime", &id, "--json"], tmp.path());
    let lines = events.json_lines();
    for event in &lines {
        integration_tests::json_schema::assert_matches_schema("events", event);
    }
    let changed: Vec<Value> = lines
        .into_iter()
        .filter(|e| e["kind"] == "graph_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{}", events.stdout);
    let diff: Value = serde_json::from_str(changed[0]["diff"].as_str().unwrap()).unwrap();
    assert_eq!(
        diff["processors_added"],
        serde_json::json!(["psink", "py2"])
    );
    assert_eq!(
        diff["processors_removed"],
        serde_json::json!(["ts", "tsink"])
    );
}

#[test]
fn an_apply_that_would_break_the_graph_changes_nothing() {
    let data = Data::new();
    let tmp = tempfile::tempdir().unwrap();
    let base = pipeline(tmp.path(), "base.yaml", "", "");
    let mut run = data.spawn(&["run", base.to_str().unwrap()], tmp.path());
    let id = run.runtime_id();
    run.wait_for("processor sink started", START);
    let before = workers(&data, tmp.path(), &id);

    let unknown = pipeline(
        tmp.path(),
        "unknown.yaml",
        "  nope: { type: test.nope }\n",
        ", cam.out -> nope.in",
    );
    let cycle = pipeline(
        tmp.path(),
        "cycle.yaml",
        "  a: { type: test.py_pass }\n  b: { type: test.py_pass }\n",
        ", a.out -> b.in, b.out -> a.in",
    );
    let mismatch = pipeline(
        tmp.path(),
        "mismatch.yaml",
        "  tone: { type: builtin.test_audio }\n  r: { type: test.py_pass }\n",
        ", tone.out -> r.in",
    );
    for (file, sentence) in [
        (&unknown, "test.nope"),
        (&cycle, "cycle"),
        (&mismatch, "audio/f32"),
    ] {
        let refused = data.plexus(
            &["apply", file.to_str().unwrap(), "--runtime", &id],
            tmp.path(),
        );
        assert_eq!(
            refused.code,
            Some(2),
            "{}: {}",
            file.display(),
            refused.stderr
        );
        assert!(
            refused.refusal().contains(sentence),
            "{}: {}",
            file.display(),
            refused.stderr
        );
        assert_eq!(
            workers(&data, tmp.path(), &id),
            before,
            "{} changed the runtime",
            file.display()
        );
    }

    run.signal(libc::SIGINT);
    let run = run.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
