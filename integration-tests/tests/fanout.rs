//! Fan-out (docs/ARCHITECTURE.md §3, §7): every output port is sized for its
//! consumers plus the pipeline's `observers:` slots, a port that would need
//! more subscribers than a port may have is refused at `validate`, and an
//! observer that finds a port full is told which setting raises it.
//!
//! Each test starts several processes on a small machine, so they run one at
//! a time.

use std::sync::Mutex;
use std::time::Duration;

use integration_tests::{assert_no_residue, plexus, spawn_plexus, write_pipeline};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const START: Duration = Duration::from_secs(60);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A camera whose one output feeds `sinks` stats sinks `s1`, `s2`, …, each
/// in a worker of its own, after the top-level lines `top`. 50 fps leaves
/// every sink 160 ms of queue, room for ten processes on two busy cores.
fn fan_out(sinks: usize, top: &str) -> String {
    let mut text = format!(
        "name: wide\n{top}processors:\n  cam: {{ type: builtin.test_pattern, config: {{ width: 32, height: 24, fps: 50 }} }}\n"
    );
    for i in 1..=sinks {
        text.push_str(&format!("  s{i}: {{ type: builtin.stats_sink }}\n"));
    }
    let connections: Vec<String> = (1..=sinks).map(|i| format!("cam.out -> s{i}.in")).collect();
    text.push_str(&format!("connections: [{}]\n", connections.join(", ")));
    text
}

#[test]
fn nine_consumers_of_one_port_each_get_every_frame() {
    let _one = serial();
    let (tmp, path) = write_pipeline(&fan_out(9, ""));
    let run = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "150", "--json"],
        tmp.path(),
    )
    .finish();
    if let Some(id) = run.runtime_id() {
        assert_no_residue(&id);
    }
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(
        summary["processors"]["cam"]["frames_out"], 150,
        "{summary:#}"
    );
    for i in 1..=9 {
        let sink = &summary["processors"][format!("s{i}")];
        assert_eq!(sink["frames_in"], 150, "s{i}: {summary:#}");
        assert_eq!(sink["gaps"], 0, "s{i}: {summary:#}");
    }
}

#[test]
fn a_port_with_more_consumers_than_a_port_may_have_is_refused_at_validate() {
    let (tmp, path) = write_pipeline(&fan_out(31, ""));
    let validated = plexus(&["validate", path.to_str().unwrap()], tmp.path());
    assert!(
        validated.refusal().contains(
            "output `cam.out` has 31 consumers, more than the 29 a port may have beside `observers: 2` and a live swap's slot"
        ),
        "{}",
        validated.stderr
    );

    // Fewer observer slots leave room for more consumers.
    let (tmp, path) = write_pipeline(&fan_out(30, "observers: 1\n"));
    let validated = plexus(&["validate", path.to_str().unwrap()], tmp.path());
    assert_eq!(validated.code, Some(0), "{}", validated.stderr);

    let (tmp, path) = write_pipeline(&fan_out(1, "observers: 40\n"));
    let validated = plexus(&["validate", path.to_str().unwrap()], tmp.path());
    assert!(
        validated
            .refusal()
            .contains("`observers: 40` asks for more than the 32 subscribers a port may have"),
        "{}",
        validated.stderr
    );
}

#[test]
fn an_observer_beyond_the_observer_slots_is_refused_and_the_first_loses_nothing() {
    let _one = serial();
    let (tmp, path) = write_pipeline(&fan_out(1, "observers: 1\n"));
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    running.wait_for("processor s1 started", START);

    let mut first = spawn_plexus(
        &[
            "tap",
            "cam.out",
            "--runtime",
            &id,
            "--count",
            "100",
            "--json",
        ],
        tmp.path(),
    );
    first.wait_for("plexus: tapping cam.out", START);
    // The slot a live swap's successor takes is free while none runs.
    let mut second = spawn_plexus(&["tap", "cam.out", "--runtime", &id], tmp.path());
    second.wait_for("plexus: tapping cam.out", START);
    let third = plexus(&["tap", "cam.out", "--runtime", &id], tmp.path());
    assert!(
        third.refusal().contains(
            "output `cam.out` is full: its consumers and other observers hold all 3 of its subscriber slots; raise `observers:` at the top of pipeline `wide`"
        ),
        "{}",
        third.stderr
    );
    second.signal(libc::SIGINT);
    second.finish();

    let first = first.finish();
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let seqs: Vec<u64> = first
        .json_lines()
        .iter()
        .map(|f| f["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 100, "{}", first.stdout);
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the first tap lost frames: {seqs:?}"
    );

    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let sent = &summary["processors"]["cam"]["frames_out"];
    assert_eq!(
        summary["processors"]["s1"]["frames_in"], *sent,
        "{summary:#}"
    );
    assert_eq!(summary["processors"]["s1"]["gaps"], 0, "{summary:#}");
}
