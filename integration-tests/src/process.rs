//! Running `plexus` as a user would, with a deadline, and killing whatever
//! is left if a test fails half-way.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binary;
use crate::residue::remove_runtime_files;

/// How long any single `plexus` command in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A finished `plexus` command.
#[derive(Debug)]
pub struct PlexusRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl PlexusRun {
    /// The stdout as one JSON object (`run --json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The runtime id announced in the log, if the run got that far.
    pub fn runtime_id(&self) -> Option<String> {
        runtime_id_in(&self.stderr)
    }

    /// The last line of stderr, where plexus puts its one-sentence error.
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

fn runtime_id_in(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        let rest = &l[l.find("runtime ")? + "runtime ".len()..];
        let id = rest.split_whitespace().next()?;
        (rest.contains(" started:") && id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| id.to_string())
    })
}

/// Kills the command's process group if the test unwinds before it ended.
struct Guard {
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // SAFETY: plain kill(2) of our child's own process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

/// Runs `plexus` with `args` in `cwd` and waits for it, at most [`DEADLINE`].
pub fn plexus(args: &[&str], cwd: &Path) -> PlexusRun {
    let mut command = Command::new(binary("plexus"));
    command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .process_group(0);
    let mut child = command.spawn().expect("starting plexus");
    let out = reader(child.stdout.take().expect("piped"));
    let err = reader(child.stderr.take().expect("piped"));
    let mut guard = Guard { child: Some(child) };
    let finished = wait_with_deadline(guard.child.as_mut().expect("set"), DEADLINE);
    if !finished {
        drop(guard);
        let stderr = err.join().unwrap_or_default();
        if let Some(id) = runtime_id_in(&stderr) {
            remove_runtime_files(&id);
        }
        panic!("plexus {args:?} did not finish within {DEADLINE:?}; stderr:\n{stderr}");
    }
    let status = guard
        .child
        .take()
        .expect("set")
        .wait()
        .expect("reaping plexus");
    PlexusRun {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn reader(mut stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

/// Sleeps on the child's pidfd until it exits or the deadline passes.
fn wait_with_deadline(child: &mut Child, deadline: Duration) -> bool {
    // SAFETY: pidfd_open of our own unreaped child.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) } as i32;
    assert!(fd >= 0, "pidfd_open failed");
    let end = Instant::now() + deadline;
    let exited = loop {
        let left = end.saturating_duration_since(Instant::now()).as_millis() as i32;
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left) };
        if n > 0 {
            break true;
        }
        if n == 0 {
            break false;
        }
    };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    exited
}

#[cfg(test)]
mod tests {
    #[test]
    fn runtime_id_is_found_in_the_log() {
        let log = "2026 INFO runtime 0a1b2c3d started: demo\n";
        assert_eq!(super::runtime_id_in(log).as_deref(), Some("0a1b2c3d"));
        assert_eq!(super::runtime_id_in("runtime stopping: x"), None);
    }
}
