//! Shared memory when things go wrong: a supervisor killed with SIGKILL
//! gives its runtime's memory back at once, with no later command run.

use std::time::{Duration, Instant};

use integration_tests::residue::{runtime_files, runtime_processes};
use integration_tests::{pipeline, spawn_plexus};

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
