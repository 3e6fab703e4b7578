//! The `plexus` beside `plexus-link`, as the agent uses it: the nested
//! `plexus run` of a host's part (a child that dies with the agent, its
//! stderr forwarded line by line, its stdout summary kept) and the short
//! `plexus ps/validate/restart/events` commands about it.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipc_schemas::RuntimeStatus;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use thiserror::Error;

/// How long a stopped run may take to end before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The most of the nested run's stdout kept: its summary.
const MAX_SUMMARY: u64 = 4 << 20;

#[derive(Debug, Error)]
pub enum NestedError {
    #[error(
        "`plexus` is missing beside plexus-link in {0} (build it with `cargo build --workspace`)"
    )]
    Missing(String),
    #[error("locating plexus-link: {0}")]
    Exe(String),
    #[error("starting `plexus {0}`: {1}")]
    Spawn(String, String),
}

/// `plexus`, run in the agent's directory.
#[derive(Debug, Clone)]
pub struct Plexus {
    exe: PathBuf,
    dir: PathBuf,
}

/// Called with each `[worker] line` the nested run writes on stderr.
pub type LogSink = Box<dyn Fn(&str, &str) + Send>;

impl Plexus {
    pub fn beside_me(dir: &Path) -> Result<Self, NestedError> {
        let me = std::env::current_exe().map_err(|e| NestedError::Exe(e.to_string()))?;
        let bin = me.parent().unwrap_or(Path::new("/"));
        let exe = bin.join("plexus");
        if !exe.is_file() {
            return Err(NestedError::Missing(bin.display().to_string()));
        }
        Ok(Self {
            exe,
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A `plexus` child that dies with the agent and leaves the terminal's
    /// Ctrl-C to it.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .process_group(0);
        let parent = std::process::id();
        // SAFETY: between fork and exec the child only makes
        // async-signal-safe calls: prctl, getppid and _exit; `?` turns an
        // Errno into an io::Error without allocating.
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                // The agent may have died before the death signal was armed.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        command
    }

    fn spawn(&self, args: &[&str], stdout: Stdio, stderr: Stdio) -> Result<Child, NestedError> {
        self.command(args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| NestedError::Spawn(args.join(" "), e.to_string()))
    }

    /// Runs a short command: its stdout, or its last stderr sentence.
    fn output(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(args)
            .output()
            .map_err(|e| format!("starting `plexus {}`: {e}", args.join(" ")))?;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            false => Err(last_sentence(&String::from_utf8_lossy(&out.stderr))
                .unwrap_or_else(|| format!("`plexus {}` failed ({})", args.join(" "), out.status))),
        }
    }

    /// The runtime as `plexus ps` describes it; `None` while it does not
    /// answer.
    pub fn status(&self, runtime: &str) -> Option<RuntimeStatus> {
        let out = self.output(&["ps", "--runtime", runtime, "--json"]).ok()?;
        let value: serde_json::Value = serde_json::from_str(&out).ok()?;
        let first = value.get("runtimes")?.get(0)?.clone();
        serde_json::from_value(first).ok()
    }

    pub fn validate(&self, file: &Path) -> Result<(), String> {
        self.output(&["validate", &file.to_string_lossy()])
            .map(drop)
    }

    pub fn restart(&self, worker: &str, runtime: &str) -> Result<(), String> {
        self.output(&["restart", worker, "--runtime", runtime])
            .map(drop)
    }

    /// `plexus events --follow --json` of the runtime: one event per line
    /// on the child's stdout.
    pub fn follow_events(&self, runtime: &str) -> Result<Child, NestedError> {
        let args = ["events", "--runtime", runtime, "--follow", "--json"];
        self.spawn(&args, Stdio::piped(), Stdio::null())
    }

    /// Starts `plexus run FILE --runtime-id RUNTIME --json [--frames N]`.
    pub fn run(
        &self,
        file: &Path,
        runtime: &str,
        frames: Option<u64>,
        log: LogSink,
    ) -> Result<NestedRun, NestedError> {
        let file = file.to_string_lossy();
        let frames = frames.map(|n| n.to_string());
        let mut args = vec!["run", &file, "--runtime-id", runtime, "--json"];
        if let Some(n) = &frames {
            args.extend(["--frames", n]);
        }
        let mut child = self.spawn(&args, Stdio::piped(), Stdio::piped())?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let last = Arc::new(Mutex::new(None));
        let stderr_last = last.clone();
        let stderr_thread = std::thread::spawn(move || {
            let Some(stderr) = stderr else { return };
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match worker_line(&line) {
                    Some((worker, text)) => log(worker, text),
                    None => {
                        tracing::info!("nested run: {line}");
                        if let Some(sentence) = last_sentence(&line) {
                            *stderr_last.lock().unwrap_or_else(|p| p.into_inner()) = Some(sentence);
                        }
                    }
                }
            }
        });
        let stdout_thread = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut stdout) = stdout {
                let _ = (&mut stdout).take(MAX_SUMMARY).read_to_string(&mut text);
                // Whatever is beyond is read and dropped, so the run never
                // blocks writing it.
                let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            }
            text
        });
        Ok(NestedRun {
            child,
            last,
            threads: Some((stdout_thread, stderr_thread)),
        })
    }
}

/// A running `plexus run` of this host's part.
pub struct NestedRun {
    child: Child,
    last: Arc<Mutex<Option<String>>>,
    threads: Option<(JoinHandle<String>, JoinHandle<()>)>,
}

impl NestedRun {
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Its last stderr line that was not a worker's, as one sentence.
    pub fn last_sentence(&self) -> Option<String> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Interrupts it as Ctrl-C would, waits for it to end (killing it
    /// after a grace period) and returns the summary it printed.
    pub fn stop(mut self) -> Option<serde_json::Value> {
        let pid = Pid::from_raw(self.child.id() as i32);
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(pid, Signal::SIGINT);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() >= deadline {
                tracing::warn!("the nested run did not stop within {STOP_GRACE:?}: killing it");
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (stdout, stderr) = self.threads.take()?;
        let _ = stderr.join();
        let text = stdout.join().ok()?;
        text.lines()
            .rev()
            .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(serde_json::Value::is_object)
    }
}

impl Drop for NestedRun {
    fn drop(&mut self) {
        if self.threads.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `[worker] text` → (`worker`, `text`).
fn worker_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (worker, text) = rest.split_once("] ")?;
    let ok = !worker.is_empty() && !worker.contains(char::is_whitespace);
    ok.then_some((worker, text))
}

/// The last non-empty line of `text`, without `plexus: error: `.
fn last_sentence(text: &str) -> Option<String> {
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.strip_prefix("plexus: ").unwrap_or(line);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    Some(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_lines_and_sentences_are_told_apart() {
        assert_eq!(
            worker_line("[gray] hello there"),
            Some(("gray", "hello there"))
        );
        assert_eq!(worker_line("plexus: started"), None);
        assert_eq!(worker_line("[not a worker] x"), None);
        assert_eq!(
            last_sentence("plexus: note\nplexus: error: processor `x` needs package `y`\n\n"),
            Some("processor `x` needs package `y`".to_string())
        );
        assert_eq!(last_sentence(" \n"), None);
    }
}
