//! Building a changed package before its workers are swapped, with the
//! command its language builds with (`cargo build --release` for Rust),
//! run in the package directory so a workspace member builds alone. The
//! build's output is shown line by line, prefixed with the package's name,
//! and a build in progress when the run ends is killed, not waited for.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Whether a build runs, shared between the watcher and whoever ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// The build's process group.
    Building(u32),
    /// The run is ending: no build starts any more.
    Ended,
}

/// The watcher's builds, which the end of the run stops.
#[derive(Debug, Clone)]
pub struct Builds(Arc<Mutex<State>>);

impl Default for Builds {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(State::Idle)))
    }
}

impl Builds {
    /// Kills the build in progress, with every compiler it started, and
    /// lets no other start.
    pub fn end(&self) {
        let mut state = self.0.lock().expect("builds lock");
        if let State::Building(pid) = *state {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        *state = State::Ended;
    }

    /// Runs `command` (words separated by spaces) in `dir` for `package`;
    /// one sentence when it could not run or failed.
    pub fn run(&self, package: &str, command: &str, dir: &Path) -> Result<(), String> {
        let cannot = |e: std::io::Error| format!("cannot start `{command}`: {e}");
        let mut words = command.split_whitespace();
        let program = words.next().expect("a build command names its program");
        let (reader, writer) = std::io::pipe().map_err(cannot)?;
        let stdout = writer.try_clone().map_err(cannot)?;
        let mut child = {
            let mut state = self.0.lock().expect("builds lock");
            if *state == State::Ended {
                return Err("the run is ending".into());
            }
            let child = Command::new(program)
                .args(words)
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(writer)
                .process_group(0)
                .spawn()
                .map_err(cannot)?;
            *state = State::Building(child.id());
            child
        };
        // Our copies of the pipe's writing end went with the command, so the
        // lines end when the build and whatever it started are done.
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            tracing::info!("[watch {package}] {}", text.trim_end());
            line.clear();
        }
        // Not reaped until here, so the group id `end` reads is the build's
        // until it is cleared.
        {
            let mut state = self.0.lock().expect("builds lock");
            if *state != State::Ended {
                *state = State::Idle;
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("waiting for `{command}`: {e}"))?;
        match status.success() {
            true => Ok(()),
            false => Err(format!("`{command}` failed ({status})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_succeeds_or_fails_in_one_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let builds = Builds::default();
        assert_eq!(builds.run("p", "true", dir.path()), Ok(()));
        let failed = builds.run("p", "false", dir.path()).unwrap_err();
        assert!(
            failed.starts_with("`false` failed (exit status: 1)"),
            "{failed}"
        );
        let missing = builds
            .run("p", "no-such-build-tool --release", dir.path())
            .unwrap_err();
        assert!(
            missing.starts_with("cannot start `no-such-build-tool --release`: "),
            "{missing}"
        );
    }

    #[test]
    fn a_build_in_progress_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let builds = Builds::default();
        let running = builds.clone();
        let build = std::thread::spawn(move || running.run("p", "sleep 600", dir.path()));
        // The build is killed as soon as it is known; until then there is
        // nothing to kill.
        while *builds.0.lock().unwrap() == State::Idle {
            std::thread::yield_now();
        }
        builds.end();
        let ended = build.join().unwrap().unwrap_err();
        assert!(ended.contains("signal: 9"), "{ended}");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            builds.run("p", "true", dir.path()),
            Err("the run is ending".into()),
            "no build starts once the run ends"
        );
    }
}
