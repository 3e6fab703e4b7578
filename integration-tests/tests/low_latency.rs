//! `latency: low` with the real binaries (docs/ARCHITECTURE.md §4, *Low
//! latency*): an input that polls around its frames' predicted arrival
//! still gets every frame in order, a source that changes its rate mid-run
//! loses none (a wrong prediction is slower, never lossy), the catch rate
//! is reported, and a bad value is refused in one sentence. Nothing here is
//! timed: the latency itself is the bench report's.

use std::time::Duration;

use integration_tests::live_config::START;
use integration_tests::{
    assert_matches_schema, assert_no_residue, completed_run, fixture, plexus, spawn_plexus,
    tapped_seqs, write_pipeline,
};
use serde_json::Value;

/// `sink` got every frame `source` sent, once each and in order: as many
/// as were sent, and no sequence number skipped (a frame out of order
/// skips one before it).
fn got_every_frame_in_order(summary: &Value, source: &str, sink: &str) {
    let sent = summary["processors"][source]["frames_out"]
        .as_u64()
        .unwrap();
    let s = &summary["processors"][sink];
    assert!(sent > 0, "{summary:#}");
    assert_eq!(s["frames_in"], sent, "{summary:#}");
    assert_eq!(s["gaps"], 0, "{summary:#}");
    assert_eq!(s["dropped"], 0, "{summary:#}");
    assert_eq!(s["errors"], 0, "{summary:#}");
}

/// The catch rate `sink` reports is there, and sane: some frames caught,
/// never more than it took.
fn caught_some(summary: &Value, sink: &str) {
    let s = &summary["processors"][sink];
    let caught = s["caught"].as_u64().expect("caught is reported");
    let percent = s["caught_percent"].as_f64().expect("caught_percent too");
    assert!(caught > 0, "a steady source is caught: {summary:#}");
    assert!(caught <= s["frames_in"].as_u64().unwrap(), "{summary:#}");
    assert!((0.0..=100.0).contains(&percent), "{summary:#}");
}

#[test]
fn a_low_latency_run_delivers_every_frame_in_order() {
    let (tmp, path) = write_pipeline(
        "name: low\nlatency: low\nprocessors:\n  cam: { type: builtin.test_pattern, config: { width: 8, height: 2, fps: 100 } }\n  s: { type: builtin.stats_sink }\nconnections: [cam.out -> s.in]\n",
    );
    let summary = completed_run(&path, tmp.path(), 300);
    assert_matches_schema("summary", &summary);
    assert_eq!(summary["processors"]["cam"]["frames_out"], 300);
    got_every_frame_in_order(&summary, "cam", "s");
    caught_some(&summary, "s");
}

#[test]
fn an_efficient_input_catches_nothing() {
    let (tmp, path) = write_pipeline(
        "name: efficient\nlatency: low\nprocessors:\n  cam: { type: builtin.test_pattern, config: { width: 8, height: 2, fps: 100 } }\n  s: { type: builtin.stats_sink }\nconnections: [{ from: cam.out, to: s.in, latency: efficient }]\n",
    );
    let summary = completed_run(&path, tmp.path(), 30);
    got_every_frame_in_order(&summary, "cam", "s");
    assert_eq!(summary["processors"]["s"]["caught"], 0, "{summary:#}");
}

#[test]
fn a_source_changing_its_rate_loses_no_frame() {
    // The connection says `low`; the pipeline leaves the default.
    let yaml = format!(
        "name: rates\npackages: [{}]\nprocessors:\n  src: {{ type: test.py_manual_gradient, config: {{ width: 4, height: 2, fps: 30 }} }}\n  s: {{ type: builtin.stats_sink }}\nconnections:\n  - {{ from: src.out, to: s.in, latency: low }}\n",
        fixture("source-python").display()
    );
    let (tmp, path) = write_pipeline(&yaml);
    let cwd = tmp.path();
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], cwd);
    let id = running.runtime_id();
    running.wait_for("processor s started", START);
    // Each rate holds while a tap sees its frames go by: 30 fps, then 100,
    // then 10.
    tapped_seqs(cwd, &id, "src.out", 30);
    for (fps, frames) in [(100, 100), (10, 10)] {
        let set = plexus(
            &["set", "src", &format!("fps={fps}"), "--runtime", &id],
            cwd,
        );
        assert_eq!(set.code, Some(0), "{}", set.stderr);
        assert!(set.stdout.contains("in place"), "{}", set.stdout);
        tapped_seqs(cwd, &id, "src.out", frames);
    }
    let ps = plexus(&["ps", "--runtime", &id, "--json"], cwd);
    assert_eq!(ps.code, Some(0), "{}", ps.stderr);
    let ps = ps.json();
    assert_matches_schema("ps", &ps);
    let input = &ps["runtimes"][0]["workers"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["worker"] == "s"))
        .expect("worker s is listed")["processors"][0]["inputs"][0];
    assert!(input["caught"].as_u64().is_some(), "{ps:#}");

    let stop = plexus(&["stop", "--runtime", &id], cwd);
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = running.finish_within(Duration::from_secs(60));
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["workers"]["src"]["restarts"], 0, "{summary:#}");
    got_every_frame_in_order(&summary, "src", "s");
    caught_some(&summary, "s");
}

#[test]
fn a_bad_latency_is_refused_in_one_sentence() {
    let (tmp, path) = write_pipeline(
        "name: bad\nprocessors:\n  cam: { type: builtin.test_pattern }\n  s: { type: builtin.stats_sink }\nconnections: [{ from: cam.out, to: s.in, latency: fast }]\n",
    );
    let run = plexus(&["validate", path.to_str().unwrap()], tmp.path());
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let refusal = run.refusal();
    assert!(
        refusal.contains("latency: unknown variant `fast`"),
        "{refusal}"
    );
    assert!(
        refusal.contains("expected `efficient` or `low`"),
        "{refusal}"
    );
}
