//! Honest counts (docs/ARCHITECTURE.md §8): the summary's figures agree
//! with each other on every edge, however often workers die, and a frame
//! that does not fit its schema is its producer's error, caught at send.

use std::time::Duration;

use integration_tests::residue::worker_pid;
use integration_tests::{assert_no_residue, pipeline, spawn_plexus};
use serde_json::Value;

/// Python may take a while to come up on a cold cache.
const START: Duration = Duration::from_secs(60);

fn processor<'a>(summary: &'a Value, id: &str) -> &'a Value {
    let p = &summary["processors"][id];
    assert!(p.is_object(), "no processor {id} in {summary:#}");
    p
}

fn count(summary: &Value, id: &str, field: &str) -> u64 {
    processor(summary, id)[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{id}.{field} in {summary:#}"))
}

/// A producer that sends 320×240 RGBA frames in 153 600 bytes is told at
/// send, under its own name, whether or not its code passes the error on;
/// nothing reaches its sink, and the log says how many errors it left out.
#[test]
fn a_frame_that_does_not_fit_its_schema_is_its_producers_error() {
    let (tmp, path) = pipeline("wrong-size.yaml", &[]);
    let mut running = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "40", "--json"],
        tmp.path(),
    );
    let id = running.runtime_id();
    let run = running.finish();
    assert_no_residue(&id);
    let summary = run.json();
    for (producer, sink) in [("loud", "loud_sink"), ("quiet", "quiet_sink")] {
        let received = count(&summary, producer, "frames_in");
        assert!(received > 10, "{producer} got too few frames: {summary:#}");
        assert_eq!(
            count(&summary, producer, "errors"),
            received,
            "one error per frame, for {producer}: {summary:#}"
        );
        assert_eq!(count(&summary, producer, "frames_out"), 0, "{summary:#}");
        assert_eq!(count(&summary, sink, "frames_in"), 0, "{summary:#}");
        assert_eq!(count(&summary, sink, "errors"), 0, "{summary:#}");

        let told: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("processor {producer} error:")))
            .collect();
        assert!(
            told.iter().any(|l| l.contains(
                "(video/rgba8 320x240, stride 1280) needs 307200 bytes but carries 153600"
            )),
            "{producer} is told why its frame was refused:\n{}",
            run.stderr
        );
        let untold = format!(
            "{} more errors were not shown ({received} in all)",
            received - 10
        );
        assert!(
            told.iter().any(|l| l.contains(&untold)),
            "the log says `{untold}` for {producer}:\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&format!("processor {sink} error")),
            "{sink} is not blamed:\n{}",
            run.stderr
        );
    }
}

fn kill(pid: u32) {
    // SAFETY: kill(2) of a worker of our own plexus.
    let rc = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill {pid}");
}

/// Workers in the middle of `cam → a → b → c → sink` are killed again and
/// again, once right after a successor was spawned; every edge of the
/// summary still adds up: a consumer never received more than its
/// upstream sent, received and dropped make what was sent, and each
/// pass-through sent what it received, short of the frames it failed on or
/// died holding.
#[test]
fn counts_add_up_on_every_edge_after_repeated_kills() {
    let (tmp, path) = pipeline("kill-chain.yaml", &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    for processor in ["cam", "direct", "a", "b", "c", "sink"] {
        running.wait_for(&format!("processor {processor} started"), START);
    }
    let runtime = running.runtime_id();
    let plexus = running.pid();
    // (victim, and whether its successor is killed too as soon as it is
    // spawned, before it could report anything)
    let schedule = [
        ("b", false),
        ("a", false),
        ("b", true),
        ("c", false),
        ("b", false),
        ("c", true),
    ];
    let mut kills = std::collections::BTreeMap::<&str, u64>::new();
    for (victim, storm) in schedule {
        let pid = worker_pid(&runtime, plexus, victim)
            .unwrap_or_else(|| panic!("{victim} runs before it is killed"));
        kill(pid);
        *kills.entry(victim).or_default() += 1;
        if storm {
            let spawned = running.wait_for_next(&format!("worker {victim} spawned (pid "), START);
            let pid: u32 = spawned
                .split_once("(pid ")
                .and_then(|(_, rest)| rest.split(')').next()?.parse().ok())
                .unwrap_or_else(|| panic!("no pid in `{spawned}`"));
            kill(pid);
            *kills.entry(victim).or_default() += 1;
        }
        running.wait_for_next(&format!("worker {victim} restarted (generation"), START);
        // Let frames flow through the new process for a while: this paces
        // the kills, it waits for nothing.
        std::thread::sleep(Duration::from_millis(300));
    }
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&runtime);
    let summary = run.json();
    let log = &run.stderr;

    for worker in ["a", "b", "c"] {
        assert_eq!(
            summary["workers"][worker]["failure"],
            Value::Null,
            "{summary:#}\n{log}"
        );
    }
    for (up, down) in [
        ("cam", "direct"),
        ("cam", "a"),
        ("a", "b"),
        ("b", "c"),
        ("c", "sink"),
    ] {
        let sent = count(&summary, up, "frames_out");
        let received = count(&summary, down, "frames_in");
        let dropped = count(&summary, down, "dropped");
        assert!(
            received <= sent,
            "{down} received {received} > {up} sent {sent}\n{summary:#}\n{log}"
        );
        assert_eq!(
            received + dropped,
            sent,
            "{down}: received {received} + dropped {dropped} != {up} sent {sent}\n{summary:#}\n{log}"
        );
    }
    assert_eq!(count(&summary, "direct", "dropped"), 0, "{summary:#}");
    for relay in ["a", "b", "c"] {
        let (received, sent) = (
            count(&summary, relay, "frames_in"),
            count(&summary, relay, "frames_out"),
        );
        let lost = count(&summary, relay, "errors") + kills.get(relay).copied().unwrap_or(0);
        assert!(
            sent <= received && received <= sent + lost,
            "{relay} received {received}, sent {sent}, failed on or died holding at most {lost}\n{summary:#}\n{log}"
        );
        assert!(sent > 0, "{summary:#}");
    }
}
