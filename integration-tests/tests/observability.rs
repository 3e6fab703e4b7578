//! Watching a run from other processes (docs/ARCHITECTURE.md §6, §8): the event
//! stream with its history, `ps` against /proc, `tap` on a live port and
//! `stop`, each with the real `plexus` binary in separate processes.
//!
//! A watcher started before a run follows the next runtime that starts, so
//! the tests here run one at a time.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use integration_tests::residue::worker_processes;
use integration_tests::{assert_no_residue, pipeline, plexus, ps_runtime, spawn_plexus};
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const START: Duration = Duration::from_secs(60);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `cam → relay → sink`, the relay restarted whenever it dies.
const RESTARTING: &str = "watched.yaml";

/// The events that are not periodic stats, as `kind` or `kind:who`.
fn story(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] != "processor_stats")
        .map(|e| {
            let who = e["worker"].as_str().or(e["processor"].as_str());
            match who {
                Some(who) => format!("{}:{who}", e["kind"].as_str().unwrap()),
                None => e["kind"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

fn position(story: &[String], item: &str) -> usize {
    story
        .iter()
        .position(|s| s == item)
        .unwrap_or_else(|| panic!("no `{item}` in {story:#?}"))
}

#[test]
fn watchers_see_the_whole_life_of_a_run_in_order_and_late_ones_get_the_history() {
    let _one = serial();
    let (tmp, path) = pipeline(RESTARTING, &[]);
    let mut early = spawn_plexus(&["events", "--follow", "--json"], tmp.path());
    early.wait_for("waiting for one to start", START);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    running.wait_for("processor cam started", START);
    running.wait_for("processor relay started", START);
    running.wait_for("processor sink started", START);

    // `ps --json` names exactly the live worker processes of the runtime.
    let runtime = ps_runtime(tmp.path(), &id);
    assert_eq!(runtime["pid"], running.pid());
    assert_eq!(runtime["pipeline"], "watched");
    let mut relay_pid = 0;
    let mut pids = BTreeSet::new();
    for worker in runtime["workers"].as_array().unwrap() {
        let name = worker["worker"].as_str().unwrap();
        let pid = worker["pid"].as_u64().unwrap() as u32;
        assert_eq!(worker["state"], "running", "{worker:#}");
        assert_eq!(
            worker_processes(&id, Some(name)),
            vec![pid],
            "the pid ps gives for {name} is its live process in /proc"
        );
        assert_eq!(worker["processors"][0]["processor"], name);
        pids.insert(pid);
        if name == "relay" {
            relay_pid = pid;
        }
    }
    let live: BTreeSet<u32> = worker_processes(&id, None).into_iter().collect();
    assert_eq!(pids, live, "ps lists every worker process and no other");

    // SAFETY: kill(2) of a worker of our own run.
    unsafe { libc::kill(relay_pid as i32, libc::SIGKILL) };
    running.wait_for("worker relay restarted (generation 1", START);

    let late = plexus(&["events", "--runtime", &id, "--json"], tmp.path());
    assert_eq!(late.code, Some(0), "{}", late.stderr);
    let history = late.json_lines();
    assert_eq!(history[0]["seq"], 0, "history starts at the beginning");
    assert_eq!(history[0]["kind"], "runtime_started");
    assert_eq!(history[0]["runtime"], id.as_str());
    let told = story(&history);
    assert!(
        position(&told, "worker_restarted:relay") > position(&told, "worker_exited:relay"),
        "{told:#?}"
    );

    let stop = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = running.finish();
    let watched = early.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["outcome"], "stopped");
    assert_eq!(watched.code, Some(0), "{}", watched.stderr);
    // Guests leave a runtime that ends without racing its clean-up.
    for guest in [&watched, &stop] {
        assert!(!guest.stderr.contains("WARN"), "{}", guest.stderr);
    }

    let events = watched.json_lines();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert!(events.iter().all(|e| e["time_ns"].as_u64().unwrap() > 0));
    assert_eq!(
        events[0]["runtime"],
        id.as_str(),
        "the watcher followed our run"
    );
    let told = story(&events);
    let at = |item: &str| position(&told, item);
    assert_eq!(told[0], "runtime_started");
    for worker in ["cam", "relay", "sink"] {
        assert!(at(&format!("worker_spawned:{worker}")) < at(&format!("worker_ready:{worker}")));
        assert!(at(&format!("worker_ready:{worker}")) < at(&format!("processor_started:{worker}")));
        assert!(at(&format!("processor_started:{worker}")) < at("worker_exited:relay"));
    }
    let exited = &events
        .iter()
        .find(|e| e["kind"] == "worker_exited")
        .unwrap();
    assert_eq!(exited["worker"], "relay");
    assert_eq!(exited["exit"]["signal"], libc::SIGKILL);
    assert!(at("worker_exited:relay") < at("worker_restarting:relay"));
    assert!(at("worker_restarting:relay") < at("worker_restarted:relay"));
    assert!(at("worker_restarted:relay") < at("runtime_stopping"));
    assert!(at("runtime_stopping") < at("runtime_stopped"));
    assert_eq!(told.last().unwrap(), "runtime_stopped");
}

#[test]
fn tap_prints_live_frames_and_the_sinks_lose_nothing() {
    let _one = serial();
    let (tmp, path) = pipeline(RESTARTING, &[]);
    let mut watcher = spawn_plexus(&["events", "--follow", "--json"], tmp.path());
    watcher.wait_for("waiting for one to start", START);
    let mut running = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "400", "--json"],
        tmp.path(),
    );
    let id = running.runtime_id();
    running.wait_for("processor cam started", START);
    running.wait_for("processor relay started", START);

    let tapped = plexus(
        &[
            "tap",
            "relay.out",
            "--runtime",
            &id,
            "--count",
            "30",
            "--json",
        ],
        tmp.path(),
    );
    assert_eq!(tapped.code, Some(0), "{}", tapped.stderr);
    let frames = tapped.json_lines();
    assert_eq!(frames.len(), 30, "{}", tapped.stdout);
    for frame in &frames {
        integration_tests::assert_matches_schema("tap", frame);
    }
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(frames[0]["schema"], "video/gray8");
    assert_eq!(frames[0]["width"], 64);
    assert_eq!(frames[0]["bytes"], 64 * 48);

    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let sink = &summary["processors"]["sink"];
    assert_eq!(sink["frames_in"], 400, "{summary:#}");
    assert_eq!(sink["dropped"], 0);
    assert_eq!(sink["gaps"], 0);

    // Four seconds of frames: the workers' periodic counters were published.
    let watched = watcher.finish();
    let stats: Vec<Value> = watched
        .json_lines()
        .into_iter()
        .filter(|e| e["kind"] == "processor_stats" && e["processor"] == "sink")
        .collect();
    assert!(stats.len() >= 2, "{}", watched.stdout);
    let port = &stats.last().unwrap()["ports"][0];
    assert_eq!(port["direction"], "in");
    assert_eq!(port["gaps"], 0);
    let frames: Vec<u64> = stats
        .iter()
        .map(|e| e["ports"][0]["frames"].as_u64().unwrap())
        .collect();
    assert!(
        frames.windows(2).all(|w| w[0] <= w[1]) && frames[0] > 0,
        "{frames:?}"
    );
    assert!(
        stats
            .iter()
            .any(|e| e["ports"][0]["fps"].as_f64().unwrap() > 10.0),
        "a 100 fps source shows a rate: {stats:#?}"
    );
}

#[test]
fn observers_refuse_what_is_not_there_in_one_sentence() {
    let _one = serial();
    let (tmp, path) = pipeline(RESTARTING, &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap()], tmp.path());
    let id = running.runtime_id();
    running.wait_for("processor sink started", START);

    for (target, says) in [
        (
            "camera.out",
            "has no processor `camera` (its processors: cam, relay, sink)",
        ),
        (
            "sink.out",
            "processor `sink` has no output `out` (its outputs: none: it is a sink)",
        ),
        ("cam", "`cam` is not PROCESSOR.PORT"),
    ] {
        let tap = plexus(&["tap", target, "--runtime", &id], tmp.path());
        assert!(tap.refusal().contains(says), "{}", tap.stderr);
    }
    let unknown = plexus(&["events", "--runtime", "feedbeef"], tmp.path());
    assert!(
        unknown
            .refusal()
            .contains("no plexus runtime `feedbeef` is running"),
        "{}",
        unknown.stderr
    );

    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // A run that ended is read from its journal (tests/journal.rs).
    let gone = plexus(&["events", "--runtime", &id], tmp.path());
    assert_eq!(gone.code, Some(0), "{}", gone.stderr);
    assert!(
        gone.stdout.contains("runtime stopped: stopped"),
        "{}",
        gone.stdout
    );
}

#[test]
fn python_and_deno_errors_reach_watchers_with_their_traceback() {
    let _one = serial();
    let (tmp, path) = pipeline("errors.yaml", &[]);
    let mut watcher = spawn_plexus(&["events", "--follow", "--json"], tmp.path());
    watcher.wait_for("waiting for one to start", START);
    let run = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "20"],
        tmp.path(),
    )
    .finish()
    .checked();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let watched = watcher.finish();
    assert_eq!(watched.code, Some(0), "{}", watched.stderr);
    let errors: Vec<Value> = watched
        .json_lines()
        .into_iter()
        .filter(|e| e["kind"] == "processor_error")
        .collect();
    let message_of = |processor: &str| {
        errors
            .iter()
            .find(|e| e["processor"] == processor)
            .and_then(|e| e["message"].as_str())
            .unwrap_or_else(|| panic!("no error of {processor} in {errors:#?}"))
            .to_string()
    };
    let python = message_of("py");
    assert!(python.contains("Traceback"), "{python}");
    assert!(python.contains("faulty.py"), "{python}");
    let deno = message_of("ts");
    assert!(
        deno.contains("faulty.ts"),
        "the stack names the file: {deno}"
    );
}

#[test]
fn a_runtime_whose_supervisor_died_is_not_listed_and_its_watcher_is_told() {
    let _one = serial();
    let (tmp, path) = pipeline(RESTARTING, &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap()], tmp.path());
    let id = running.runtime_id();
    running.wait_for("processor sink started", START);
    let mut watcher = spawn_plexus(&["events", "--follow", "--runtime", &id], tmp.path());
    watcher.wait_for(&format!("following runtime {id}"), START);

    running.signal(libc::SIGKILL);
    let killed = running.finish();
    assert_eq!(killed.code, None, "killed by a signal");
    let watched = watcher.finish();
    assert_eq!(watched.code, Some(1), "{}", watched.stderr);
    assert!(
        watched.stderr.contains("supervisor (pid")
            && watched.stderr.contains("ended without stopping"),
        "{}",
        watched.stderr
    );
    assert!(
        watched.stdout.contains("runtime_started"),
        "{}",
        watched.stdout
    );

    let ps = plexus(&["ps", "--json"], tmp.path());
    assert_eq!(ps.code, Some(0), "{}", ps.stderr);
    let listed = ps.json();
    assert!(
        listed["runtimes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["runtime"] != id.as_str()),
        "a dead runtime is not listed: {listed:#}"
    );
    // Its workers died with it (PR_SET_PDEATHSIG) and `ps` cleaned its files.
    assert_no_residue(&id);
}
