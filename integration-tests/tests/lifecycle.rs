//! How runs end: Ctrl-C, a duration, a worker that dies, a worker that will
//! not stop. Each must end with the right outcome and leave nothing behind.

use std::time::Duration;

use integration_tests::{assert_no_residue, exits_within, pipeline, spawn_plexus, PlexusRun};

/// Every frame the source sent reached `sink`, in order.
fn sink_saw_everything(summary: &serde_json::Value, source: &str, sink: &str) {
    let sent = summary["processors"][source]["frames_out"]
        .as_u64()
        .unwrap();
    assert_eq!(
        summary["processors"][sink]["frames_in"], sent,
        "{summary:#}"
    );
    assert_eq!(summary["processors"][sink]["gaps"], 0);
}

fn run_to_end(args: &[&str], tmp: &tempfile::TempDir) -> PlexusRun {
    let run = spawn_plexus(args, tmp.path()).finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    run
}

/// `cam → sink`.
const SOURCE_TO_SINK: &str = "source-to-sink.yaml";

#[test]
fn ctrl_c_stops_the_run_cleanly_and_drains_it() {
    let (tmp, path) = pipeline(SOURCE_TO_SINK, &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    running.wait_for("processor sink started", Duration::from_secs(30));
    running.wait_for("processor cam started", Duration::from_secs(30));
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped");
    sink_saw_everything(&summary, "cam", "sink");
}

#[test]
fn a_duration_ends_the_run() {
    let (tmp, path) = pipeline(SOURCE_TO_SINK, &[]);
    let run = run_to_end(
        &["run", path.to_str().unwrap(), "--duration", "0.5", "--json"],
        &tmp,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed");
    assert!(
        run.stderr
            .contains("runtime stopping: the duration is over"),
        "{}",
        run.stderr
    );
    // 100 fps for half a second, give or take start-up.
    assert!(
        summary["processors"]["cam"]["frames_out"].as_u64().unwrap() >= 10,
        "{summary:#}"
    );
    sink_saw_everything(&summary, "cam", "sink");
}

#[test]
fn a_crashing_worker_does_not_stop_the_others() {
    let (tmp, path) = pipeline("crash-beside-sink.yaml", &[]);
    let run = run_to_end(
        &["run", path.to_str().unwrap(), "--frames", "50", "--json"],
        &tmp,
    );
    assert_eq!(
        run.code,
        Some(1),
        "a failed worker makes the run fail: {}",
        run.stderr
    );
    let summary = run.json();
    assert_eq!(summary["outcome"], "failed");
    assert_eq!(summary["workers"]["crash"]["exit"]["signal"], libc::SIGSEGV);
    assert_eq!(summary["workers"]["crash"]["state"], "failed");
    assert_eq!(summary["processors"]["cam"]["frames_out"], 50);
    assert!(
        run.stderr
            .contains("worker crash failed: worker `crash` died (signal 11)"),
        "{}",
        run.stderr
    );
    sink_saw_everything(&summary, "cam", "a");
    assert_eq!(summary["workers"]["a"]["exit"]["code"], 0);
}

#[test]
fn a_worker_that_does_not_stop_is_killed() {
    let (tmp, path) = pipeline("hang-at-stop.yaml", &[]);
    let run = run_to_end(
        &["run", path.to_str().unwrap(), "--frames", "5", "--json"],
        &tmp,
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "failed");
    let spin = &summary["workers"]["spin"];
    assert_eq!(spin["exit"]["signal"], libc::SIGKILL);
    assert!(
        spin["failure"]
            .as_str()
            .unwrap()
            .contains("missed its stop deadline"),
        "{spin}"
    );
    assert_eq!(summary["workers"]["sink"]["exit"]["code"], 0);
}

#[test]
fn killing_the_supervisor_and_its_reaper_takes_its_workers_and_the_next_run_cleans_up() {
    let (tmp, path) = pipeline(SOURCE_TO_SINK, &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap()], tmp.path());
    running.wait_for("processor sink started", Duration::from_secs(30));
    running.wait_for("processor cam started", Duration::from_secs(30));
    let id = running.runtime_id();
    let workers = integration_tests::residue::runtime_processes(&id);
    assert_eq!(workers.len(), 2, "two workers run: {workers:?}");

    // The reaper would give the memory back at once (tests/shm_faults.rs);
    // killed first, it leaves the cleaning to the next run.
    let reaper = reaper_of(&id).expect("the runtime's reaper runs");
    // SAFETY: kill(2) of the reaper this test found by its command line.
    unsafe { libc::kill(reaper as i32, libc::SIGKILL) };
    assert!(exits_within(reaper, Duration::from_secs(5)));
    running.signal(libc::SIGKILL);
    for pid in &workers {
        assert!(
            exits_within(*pid, Duration::from_secs(1)),
            "worker {pid} outlived its supervisor by more than 1 s"
        );
    }
    let abandoned = integration_tests::residue::runtime_files(&id);
    assert!(
        !abandoned.is_empty(),
        "a killed supervisor and reaper cannot clean up; the next run must"
    );
    // Finishing (not dropping) the killed run keeps the harness from
    // cleaning up in the next run's place.
    assert_eq!(running.finish().code, None, "plexus died by SIGKILL");

    let (tmp2, path2) = pipeline(SOURCE_TO_SINK, &[]);
    let next = run_to_end(&["run", path2.to_str().unwrap(), "--frames", "5"], &tmp2);
    assert_eq!(next.code, Some(0), "{}", next.stderr);
    assert!(
        next.stderr
            .contains(&format!("abandoned runtime (plexus_{id}_")),
        "{}",
        next.stderr
    );
    assert!(
        integration_tests::residue::runtime_files(&id).is_empty(),
        "the abandoned runtime's files are gone"
    );
}

/// The pid of `plexus reap <id> …`, found by its command line.
fn reaper_of(id: &str) -> Option<u32> {
    let wanted = format!("reap\0{id}\0");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(wanted.len()).any(|w| w == wanted.as_bytes()))
        })
}
