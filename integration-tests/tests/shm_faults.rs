//! Shared memory when things go wrong: a supervisor killed with SIGKILL
//! gives its runtime's memory back at once, with no later command run, and
//! a `/dev/shm` too small for a run is a sentence, not a SIGBUS.

use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::residue::{runtime_files, runtime_processes};
use integration_tests::{
    binary, fixture, pipeline, pipeline_text, spawn_plexus, spawn_program, write_pipeline,
    PlexusRun,
};

/// How soon after the supervisor's death its runtime's files must be gone.
const GIVEN_BACK_WITHIN: Duration = Duration::from_secs(2);

/// An inotify watch on deletions in `/dev/shm`.
struct Deletions(i32);

impl Deletions {
    fn watch() -> Self {
        // SAFETY: inotify_init1 takes only flags.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        assert!(fd >= 0, "inotify_init1");
        // SAFETY: a valid C string for the duration of the call.
        let wd = unsafe { libc::inotify_add_watch(fd, c"/dev/shm".as_ptr(), libc::IN_DELETE) };
        assert!(wd >= 0, "watching /dev/shm");
        Self(fd)
    }

    /// Sleeps until something in `/dev/shm` is deleted or `deadline` passes.
    fn wait(&self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: self.0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one pollfd we own.
        if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } > 0 {
            let mut buf = [0u8; 4096];
            // SAFETY: reads into a buffer we own, of the length given.
            unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        }
    }
}

impl Drop for Deletions {
    fn drop(&mut self) {
        // SAFETY: closes the fd this watch owns.
        unsafe { libc::close(self.0) };
    }
}

#[test]
fn a_killed_supervisors_shared_memory_is_given_back_at_once() {
    let (tmp, path) = pipeline("source-to-sink.yaml", &[]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap()], tmp.path());
    running.wait_for("processor sink started", Duration::from_secs(30));
    let id = running.runtime_id();
    assert!(!runtime_files(&id).is_empty());

    let deletions = Deletions::watch();
    running.signal(libc::SIGKILL);
    let killed = Instant::now();
    let deadline = killed + GIVEN_BACK_WITHIN;
    while !runtime_files(&id).is_empty() && Instant::now() < deadline {
        deletions.wait(deadline);
    }
    let left = runtime_files(&id);
    assert!(
        left.is_empty(),
        "{} s after the supervisor was killed, runtime {id} still holds {} entries in /dev/shm: {left:?}",
        GIVEN_BACK_WITHIN.as_secs(),
        left.len()
    );
    eprintln!(
        "the runtime's shared memory was gone {:?} after the kill",
        killed.elapsed()
    );
    assert!(
        runtime_processes(&id).is_empty(),
        "workers outlived their supervisor"
    );
    let run = running.finish();
    assert_eq!(run.code, None, "the supervisor was killed");
}

/// Runs `plexus run <pipeline> --frames 30 --json` in a mount namespace of
/// its own whose `/dev/shm` is a fresh tmpfs of `size`, and says on stderr
/// how many entries the run left there (`left N`). None, after saying why,
/// when the test cannot make the namespace (it needs root).
fn run_on_small_shm(size: &str, pipeline: &str) -> Option<PlexusRun> {
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: a private /dev/shm needs root (unshare -m, mount)");
        return None;
    }
    const SCRIPT: &str = r#"mount -t tmpfs -o size="$1",mode=1777 tmpfs /dev/shm || exit 97
"$2" run "$3" --frames 30 --json
code=$?
echo "left $(ls -A /dev/shm | wc -l)" >&2
exit $code"#;
    let (tmp, path) = write_pipeline(pipeline);
    let plexus = binary("plexus");
    let run = spawn_program(
        Path::new("unshare"),
        &[
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
            "sh",
            size,
            plexus.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        tmp.path(),
        &[],
    )
    .finish();
    if run.code == Some(97) {
        eprintln!(
            "skipped: could not mount a tmpfs on /dev/shm:\n{}",
            run.stderr
        );
        return None;
    }
    Some(run)
}

/// A camera of 1920×1080 frames on a `/dev/shm` of 8 MiB: the port cannot
/// grow to its frames. The run fails (exit 1) with one sentence naming the
/// port and the sizes, the summary is printed, no process dies of SIGBUS,
/// and nothing is left in `/dev/shm`.
#[test]
fn a_port_that_does_not_fit_in_dev_shm_fails_the_run_in_a_sentence() {
    let pipeline = "name: big\nprocessors:\n  cam: { type: builtin.test_pattern, config: { width: 1920, height: 1080, fps: 30 } }\n  sink: { type: builtin.stats_sink }\nconnections: [cam.out -> sink.in]\n";
    let Some(run) = run_on_small_shm("8M", pipeline) else {
        return;
    };
    failed_for_want_of_room(
        &run,
        "processor `cam`: not enough shared memory in /dev/shm for port cam.out (needs ",
    );
}

/// The run failed (exit 1, outcome `failed`) in the sentence beginning
/// with `sentence`, no process died of SIGBUS and nothing is left in
/// `/dev/shm`.
fn failed_for_want_of_room(run: &PlexusRun, sentence: &str) {
    let log = &run.stderr;
    assert_eq!(run.code, Some(1), "{log}");
    assert!(log.contains(&format!("plexus: error: {sentence}")), "{log}");
    assert!(
        !log.contains("signal 7"),
        "a process died of SIGBUS:\n{log}"
    );
    assert_eq!(run.json()["outcome"], "failed");
    assert!(log.contains("left 0"), "{log}");
}

/// Shared memory is reserved as frames come to use it: a 1080p port starts
/// in a `/dev/shm` of 48 MiB, where all its slots (416 MiB) never fit. When
/// a consumer holds on to frames, the frames in flight outgrow the room
/// left: the run fails in the same sentence, and no process dies of SIGBUS
/// writing into a page that was never there.
#[test]
fn frames_in_flight_that_outgrow_dev_shm_fail_the_run_in_a_sentence() {
    let faulty = fixture("faulty-python");
    let pipeline = format!(
        "name: hoarded\npackages: [{}]\nprocessors:\n  cam: {{ type: builtin.test_pattern, config: {{ width: 1920, height: 1080, fps: 30 }} }}\n  hoard: {{ type: test.py_hoards_frames }}\nconnections: [cam.out -> hoard.in]\n",
        faulty.display()
    );
    let Some(run) = run_on_small_shm("48M", &pipeline) else {
        return;
    };
    failed_for_want_of_room(
        &run,
        "processor `cam`: not enough shared memory in /dev/shm for port cam.out (needs ",
    );
    assert!(
        run.stderr.contains("processor cam started"),
        "the port started in the room it had:\n{}",
        run.stderr
    );
}

/// A `/dev/shm` of 1 MiB has room for the runtime's channels but not for
/// the camera's port as it is made, while the run starts: the run fails
/// (exit 1) in the sentence naming the port, and no source starts.
#[test]
fn a_port_that_does_not_fit_while_the_run_starts_fails_it_in_a_sentence() {
    let Some(run) = run_on_small_shm("1M", &pipeline_text("source-to-sink.yaml", &[])) else {
        return;
    };
    failed_for_want_of_room(
        &run,
        "not enough shared memory in /dev/shm for port cam.out (needs ",
    );
    assert!(
        !run.stderr.contains("processor cam started"),
        "{}",
        run.stderr
    );
    assert!(run.json()["workers"]["cam"]["failure"].is_string());
}

/// A `/dev/shm` of 256 KiB has no room for the runtime itself: refused
/// before any worker starts, in one sentence, exit 1, nothing left behind.
#[test]
fn a_runtime_that_does_not_fit_in_dev_shm_is_refused_in_a_sentence() {
    let Some(run) = run_on_small_shm("256K", &pipeline_text("source-to-sink.yaml", &[])) else {
        return;
    };
    let log = &run.stderr;
    assert_eq!(run.code, Some(1), "{log}");
    let line = log
        .lines()
        .find(|l| l.starts_with("plexus: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{log}"));
    assert!(
        line.starts_with("plexus: error: not enough shared memory in /dev/shm for "),
        "{log}"
    );
    assert!(line.contains("MiB free)"), "{line}");
    assert!(log.contains("left 0"), "{log}");
}
