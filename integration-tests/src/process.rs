//! Running `plexus` as a user would, with a deadline, and killing whatever
//! is left if a test fails half-way.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
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

    /// The stdout as one JSON object per line (`events --json`, `tap --json`).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`{l}` is not JSON: {e}")))
            .collect()
    }

    /// The runtime id announced in the log, if the run got that far.
    pub fn runtime_id(&self) -> Option<String> {
        runtime_id_in(&self.stderr)
    }

    /// Checks that the run, if a runtime started, left nothing behind.
    pub fn checked(self) -> Self {
        if let Some(id) = self.runtime_id() {
            crate::assert_no_residue(&id);
        }
        self
    }

    /// Asserts that plexus refused to start (exit 2) and returns its
    /// one-sentence `plexus: error: …` line.
    pub fn refusal(&self) -> &str {
        assert_eq!(
            self.code,
            Some(2),
            "plexus should have refused; stderr:\n{}",
            self.stderr
        );
        self.stderr
            .lines()
            .find(|l| l.starts_with("plexus: error: "))
            .unwrap_or_else(|| panic!("no `plexus: error:` line in:\n{}", self.stderr))
    }

    /// plexus's one-sentence error (its last `plexus: error: …` line), or
    /// failing one, the last line of stderr.
    pub fn error_line(&self) -> &str {
        // The runtime's reaper, a process of its own, may log after the
        // error (it removed files an observer re-made as the run ended), so
        // the error is looked for before the last line is taken.
        let mut lines = self.stderr.lines().rev();
        lines
            .clone()
            .find(|l| l.starts_with("plexus: error: "))
            .or_else(|| lines.find(|l| !l.trim().is_empty()))
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

/// A `plexus` command still running, whose log can be watched line by line.
/// Dropped before it finished (a failing test), it kills the command's
/// process group and removes the runtime's files.
pub struct Running {
    child: Option<Child>,
    args: Vec<String>,
    stdout: JoinHandle<String>,
    lines: Receiver<String>,
    log: String,
}

/// Starts `plexus` with `args` in `cwd`.
pub fn spawn_plexus(args: &[&str], cwd: &Path) -> Running {
    spawn_plexus_with(args, cwd, &[])
}

/// Starts `plexus` with `args` in `cwd` and extra environment `env`. Python
/// environments are cached under the build's target directory unless `env`
/// says otherwise, so tests share one install and leave the user's cache alone.
pub fn spawn_plexus_with(args: &[&str], cwd: &Path, env: &[(&str, &Path)]) -> Running {
    spawn_program(&binary("plexus"), args, cwd, env)
}

/// Starts `program` (`plexus`, or a script that runs it) as
/// [`spawn_plexus_with`] starts `plexus`.
pub fn spawn_program(program: &Path, args: &[&str], cwd: &Path, env: &[(&str, &Path)]) -> Running {
    let mut command = Command::new(program);
    command.env(
        "PLEXUS_CACHE_DIR",
        crate::bin_dir().join("plexus-test-cache"),
    );
    for (key, value) in env {
        command.env(key, value);
    }
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
    let stdout = reader(child.stdout.take().expect("piped"));
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child: Some(child),
        args: args.iter().map(|a| a.to_string()).collect(),
        stdout,
        lines,
        log: String::new(),
    }
}

impl Running {
    /// Waits for a log line containing `needle`, or finds it among the lines
    /// already seen; returns it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        if let Some(line) = self.log.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        self.wait_for_next(needle, timeout)
    }

    /// Waits for a log line containing `needle` among the lines not read yet
    /// (by this or [`Running::wait_for`]); returns it. For events that
    /// happen more than once, such as a worker's spawns.
    pub fn wait_for_next(&mut self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push_str(&line);
                    self.log.push('\n');
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with `{needle}` within {timeout:?}; log so far:\n{}",
                    self.log
                ),
            }
        }
    }

    /// The runtime id, from the `runtime <id> started` line of the log.
    pub fn runtime_id(&mut self) -> String {
        let line = self.wait_for(" started: ", Duration::from_secs(30));
        runtime_id_in(&line).unwrap_or_else(|| panic!("no runtime id in `{line}`"))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `signal` to the supervisor only, as a terminal's Ctrl-C would
    /// reach it (workers sit in process groups of their own).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(self.pid() as i32, signal) };
    }

    /// Waits (at most [`DEADLINE`]) for the command to end.
    pub fn finish(self) -> PlexusRun {
        self.finish_within(DEADLINE)
    }

    /// Waits (at most `deadline`) for the command to end.
    pub fn finish_within(mut self, deadline: Duration) -> PlexusRun {
        let child = self.child.as_mut().expect("running");
        if !exits_within(child.id(), deadline) {
            self.kill();
            panic!(
                "plexus {:?} did not finish within {deadline:?}; stderr:\n{}",
                self.args, self.log
            );
        }
        let status = self
            .child
            .take()
            .expect("running")
            .wait()
            .expect("reaping plexus");
        self.read_rest_of_log();
        let stdout = std::mem::replace(&mut self.stdout, std::thread::spawn(String::new));
        PlexusRun {
            code: status.code(),
            stdout: stdout.join().unwrap_or_default(),
            stderr: std::mem::take(&mut self.log),
        }
    }

    /// Reads the log to its end, which comes when plexus exits.
    fn read_rest_of_log(&mut self) {
        for line in self.lines.iter() {
            self.log.push_str(&line);
            self.log.push('\n');
        }
    }

    /// Kills plexus and its workers and removes what the runtime left.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) of our child's own process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            self.read_rest_of_log();
            if let Some(id) = runtime_id_in(&self.log) {
                remove_runtime_files(&id);
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runtime `id` as `plexus ps --json` lists it now.
pub fn ps_runtime(cwd: &Path, id: &str) -> Value {
    runtime_listed(&plexus(&["ps", "--json"], cwd), id)
}

/// Runtime `id` in what a `plexus ps --json` printed.
pub fn runtime_listed(ps: &PlexusRun, id: &str) -> Value {
    assert_eq!(ps.code, Some(0), "{}", ps.stderr);
    let listed = ps.json();
    listed["runtimes"]
        .as_array()
        .expect("a list of runtimes")
        .iter()
        .find(|r| r["runtime"] == id)
        .unwrap_or_else(|| panic!("runtime {id} not in {listed:#}"))
        .clone()
}

/// Worker `name` of runtime `id` as `plexus ps --json` lists it now.
pub fn ps_worker(cwd: &Path, id: &str, name: &str) -> Value {
    let runtime = ps_runtime(cwd, id);
    runtime["workers"]
        .as_array()
        .expect("a list of workers")
        .iter()
        .find(|w| w["worker"] == name)
        .unwrap_or_else(|| panic!("no worker {name} in {runtime:#}"))
        .clone()
}

/// The language worker `worker` (of `ps --json` or of the run summary's
/// `workers`) runs: the one place the tests read that field.
pub fn worker_language(worker: &Value) -> &str {
    worker["language"]
        .as_str()
        .unwrap_or_else(|| panic!("no language in {worker:#}"))
}

/// The sequence numbers of the next `count` frames passing `port`
/// (`PROCESSOR.PORT`) of runtime `id`, as `plexus tap` shows them.
pub fn tapped_seqs(cwd: &Path, id: &str, port: &str, count: u64) -> Vec<u64> {
    let count = count.to_string();
    let tap = plexus(
        &["tap", port, "--runtime", id, "--count", &count, "--json"],
        cwd,
    );
    assert_eq!(tap.code, Some(0), "{}", tap.stderr);
    let seqs: Vec<u64> = tap
        .json_lines()
        .iter()
        .map(|f| f["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len().to_string(), count, "{}", tap.stdout);
    seqs
}

/// Runs `plexus` with `args` in `cwd` and waits for it, at most [`DEADLINE`].
pub fn plexus(args: &[&str], cwd: &Path) -> PlexusRun {
    spawn_plexus(args, cwd).finish()
}

fn reader(mut stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

/// Sleeps on the pidfd of process `pid` (a child not yet reaped, or any
/// other process) until it exits or `deadline` passes; true if it is gone.
pub fn exits_within(pid: u32, deadline: Duration) -> bool {
    // SAFETY: pidfd_open only names the process; it changes nothing.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd < 0 {
        return true; // already gone
    }
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
