//! `plexus set` with the real binaries (docs/ARCHITECTURE.md §4, live
//! config): a Python processor with `on_config` takes a change between two
//! frames, with no restart and no frame lost, and keeps it across
//! restarts; one without the hook is restarted with the new config; a
//! builtin takes what it can in place; mistakes are refused in one
//! sentence. That every language's hook works is the conformance suite's
//! `config_set_in_place`.

use std::time::Duration;

use integration_tests::live_config::{no_frame_lost, LiveChain, START};
use integration_tests::{
    assert_no_residue, plexus, ps_worker, spawn_plexus, write_pipeline, PlexusRun,
};
use serde_json::Value;

/// The `value` default of the fill processors' manifests.
const DEFAULT_FILL: u8 = 42;

/// The `config_changed` events among `events`.
fn config_changes(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "config_changed")
        .collect()
}

#[test]
fn python_hook_takes_the_change_in_place_and_keeps_it_across_restarts() {
    let mut chain = LiveChain::start("conform-python", "test.py_fill");
    let before = chain.next_seq();
    let set = chain.set(&["p", "value=7"]);
    assert_eq!(set.code, Some(0), "{}", set.stderr);
    let after = chain.next_seq();
    let worker = ps_worker(chain.tmp.path(), &chain.id, "p");
    assert_eq!(worker["restarts"], 0, "in place, not restarted: {worker:#}");
    chain
        .running
        .wait_for(r#"processor p took config {"value":7} in place"#, START);

    // `plexus restart` brings the worker back with the current config, not
    // the pipeline file's.
    let restart = plexus(&["restart", "p", "--runtime", &chain.id], chain.tmp.path());
    assert_eq!(restart.code, Some(0), "{}", restart.stderr);
    chain
        .running
        .wait_for("worker p restarted (generation 1", START);
    let restarted = chain.next_seq();

    let (summary, _log, fills) = chain.stop();
    assert_eq!(summary["workers"]["p"]["restarts"], 1, "{summary:#}");
    assert_eq!(fills[&before], DEFAULT_FILL);
    assert!(
        fills.range(after..).all(|(_, &v)| v == 7),
        "every frame after the change, across the restart: {fills:?}"
    );
    assert_eq!(fills[&restarted], 7);
}

#[test]
fn python_hook_change_loses_no_frame() {
    let chain = LiveChain::start("conform-python", "test.py_fill");
    // A frame passes before each change and after the last, so that every
    // value fills one.
    let mut seen = vec![(chain.next_seq(), DEFAULT_FILL)];
    for value in [1, 2, 3] {
        let set = chain.set(&["p", &format!("value={value}")]);
        assert_eq!(set.code, Some(0), "{}", set.stderr);
        seen.push((chain.next_seq(), value));
    }
    let events = chain.events();
    let changes = config_changes(&events);
    let applied: Vec<&str> = changes
        .iter()
        .map(|e| e["applied"].as_str().unwrap())
        .collect();
    assert_eq!(applied, ["in_place"; 3], "{changes:#?}");
    let (summary, _log, fills) = chain.stop();
    assert_eq!(summary["workers"]["p"]["restarts"], 0, "{summary:#}");
    no_frame_lost(&summary);
    for (seq, value) in seen {
        assert_eq!(fills[&seq], value, "frame {seq}");
    }
    // The values follow each other in the order they were set.
    let mut order: Vec<u8> = fills.values().copied().collect();
    order.dedup();
    assert_eq!(order, [DEFAULT_FILL, 1, 2, 3]);
}

#[test]
fn a_processor_without_the_hook_restarts_with_the_new_config() {
    let mut chain = LiveChain::start("conform-python", "test.py_fixed_fill");
    let before = chain.next_seq();
    let set = chain.set(&["p", "value=9"]);
    assert_eq!(set.code, Some(0), "{}", set.stderr);
    assert!(
        set.stdout.contains(
            "test.py_fixed_fill has no on_config: worker `p` restarted with the new config"
        ),
        "{}",
        set.stdout
    );
    chain
        .running
        .wait_for("worker p restarted (generation 1", START);
    let after = chain.next_seq();
    let events = chain.events();
    let changes = config_changes(&events);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["changes"], r#"{"value":9}"#);
    assert_eq!(changes[0]["applied"], "restart");
    assert!(
        events.iter().any(|e| e["kind"] == "restart_requested"),
        "a restart on purpose, not a crash"
    );
    assert!(!events.iter().any(|e| e["kind"] == "worker_exited"));

    let (summary, _log, fills) = chain.stop();
    let worker = &summary["workers"]["p"];
    assert_eq!(worker["restarts"], 1, "{summary:#}");
    assert!(worker["failure"].is_null(), "{worker}");
    assert_eq!(fills[&before], DEFAULT_FILL);
    assert!(fills.range(after..).all(|(_, &v)| v == 9), "{fills:?}");
}

#[test]
fn mistakes_are_refused_in_one_sentence() {
    let chain = LiveChain::start("conform-python", "test.py_fill");
    let id = chain.id.clone();
    let cases: [(&[&str], String); 5] = [
        (
            &["p", "valu=3"],
            "processor `p`: unknown config key `valu` (known keys: value)".into(),
        ),
        (
            &["p", "value=300"],
            "processor `p`: config `value` is 300, it must be between 0 and 255".into(),
        ),
        (
            &["p", "value=bright"],
            "processor `p`: config `value` must be of type integer, not `\"bright\"`".into(),
        ),
        (
            &["q", "value=3"],
            format!("runtime {id} has no processor `q` (its processors: "),
        ),
        (
            &["p", "value"],
            "`value` is not of the form key=value".into(),
        ),
    ];
    // Each sentence in full, but for the list of processors.
    for (args, expected) in cases {
        let refused: PlexusRun = chain.set(args);
        let line = refused.refusal();
        assert!(
            line.starts_with(&format!("plexus: error: {expected}")),
            "{args:?}: {line}"
        );
        assert_eq!(
            refused.stderr.trim().lines().count(),
            1,
            "{}",
            refused.stderr
        );
    }
    let hooked = chain.set(&["p", "value=13"]);
    assert_eq!(
        hooked.refusal(),
        "plexus: error: processor `p` refused {\"value\":13}: on_config() of `conform.Fill` raised ValueError: 13 is an unlucky fill; its config is unchanged"
    );
    let last = chain.next_seq();
    assert!(config_changes(&chain.events()).is_empty());
    let (summary, _log, fills) = chain.stop();
    assert_eq!(summary["workers"]["p"]["restarts"], 0, "{summary:#}");
    assert!(fills.values().all(|&v| v == DEFAULT_FILL), "{fills:?}");
    assert!(fills.contains_key(&last));
}

/// The width of the next frame `cam.out` of runtime `id` sends.
fn tapped_width(cwd: &std::path::Path, id: &str) -> u64 {
    let tap = plexus(
        &["tap", "cam.out", "--runtime", id, "--count", "1", "--json"],
        cwd,
    );
    assert_eq!(tap.code, Some(0), "{}", tap.stderr);
    tap.json_lines()[0]["width"].as_u64().unwrap()
}

#[test]
fn the_test_pattern_takes_a_size_in_place_and_a_rate_with_a_restart() {
    let (tmp, path) = write_pipeline(
        "name: pattern\nprocessors:\n  cam: { type: builtin.test_pattern, config: { width: 32, height: 24, fps: 30 } }\n  s: { type: builtin.stats_sink }\nconnections: [cam.out -> s.in]\n",
    );
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    running.wait_for("processor s started", START);
    assert_eq!(tapped_width(tmp.path(), &id), 32);

    let set = plexus(&["set", "cam", "width=16", "--runtime", &id], tmp.path());
    assert_eq!(set.code, Some(0), "{}", set.stderr);
    assert!(set.stdout.contains("in place"), "{}", set.stdout);
    assert_eq!(tapped_width(tmp.path(), &id), 16);

    let set = plexus(&["set", "cam", "fps=60", "--runtime", &id], tmp.path());
    assert_eq!(set.code, Some(0), "{}", set.stderr);
    assert!(
        set.stdout
            .contains("builtin.test_pattern has no on_config: worker `cam` restarted"),
        "{}",
        set.stdout
    );
    running.wait_for("worker cam restarted (generation 1", START);
    // The restart took the whole current config: the new rate and the
    // width set before it.
    assert_eq!(tapped_width(tmp.path(), &id), 16);

    let stop = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = running.finish_within(Duration::from_secs(60));
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["workers"]["cam"]["restarts"], 1, "{summary:#}");
}
