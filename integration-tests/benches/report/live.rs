//! The `plexus run` under test: started without `--frames`, its log read
//! live with each line stamped on arrival, its workers found in `/proc`, and
//! stopped with SIGINT at the end — or, if the bench fails half-way, killed
//! with everything of its runtime.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use bus::files::RuntimeFiles;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::Names;

use crate::Result;

/// Time `plexus` gets to stop after SIGINT.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// One line of the supervisor's log and the `monotonic_ns()` it arrived at.
pub struct LogLine {
    pub at_ns: u64,
    pub text: String,
}

/// A running `plexus run`. Dropped before [`Plexus::stop`], it stops the run
/// (SIGINT, then SIGKILL of the supervisor and every worker of its runtime)
/// and removes the runtime's files.
pub struct Plexus {
    child: Option<Child>,
    lines: Receiver<LogLine>,
    stdout: Receiver<String>,
    /// Every line read so far, for error messages.
    log: String,
    /// Lines read while waiting for one of them, handed out again.
    unread: VecDeque<LogLine>,
    runtime: Option<String>,
}

/// What a stopped run left: its `--json` summary.
pub struct Stopped {
    pub summary: serde_json::Value,
}

impl Plexus {
    /// Starts `plexus run <pipeline> --json` in `cwd`.
    pub fn start(plexus: &Path, pipeline: &Path, cwd: &Path) -> Result<Self> {
        let mut child = Command::new(plexus)
            .arg("run")
            .arg(pipeline)
            .arg("--json")
            .current_dir(cwd)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", plexus.display()))?;
        let stdout = read_in_background(child.stdout.take().expect("piped"));
        let stderr = child.stderr.take().expect("piped");
        Ok(Self {
            child: Some(child),
            lines: stamped_lines(stderr),
            stdout,
            log: String::new(),
            unread: VecDeque::new(),
            runtime: None,
        })
    }

    fn keep(&mut self, line: &LogLine) {
        self.log.push_str(&line.text);
        self.log.push('\n');
        if self.runtime.is_none() {
            self.runtime = runtime_id_in(&line.text);
        }
    }

    /// The next log line, waiting at most until `deadline`; `Ok(None)` at
    /// the deadline, an error if the log ended (plexus exited).
    pub fn next_line(&mut self, deadline: Instant) -> Result<Option<LogLine>> {
        if let Some(line) = self.unread.pop_front() {
            return Ok(Some(line));
        }
        self.receive(deadline)
    }

    fn receive(&mut self, deadline: Instant) -> Result<Option<LogLine>> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.keep(&line);
                Ok(Some(line))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(self.ended()),
        }
    }

    /// The log lines that arrived and were not read yet, without waiting.
    pub fn pending_lines(&mut self) -> Result<Vec<LogLine>> {
        let mut lines: Vec<LogLine> = self.unread.drain(..).collect();
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    self.keep(&line);
                    lines.push(line);
                }
                Err(TryRecvError::Empty) => return Ok(lines),
                Err(TryRecvError::Disconnected) => return Err(self.ended()),
            }
        }
    }

    fn ended(&self) -> String {
        format!("`plexus run` ended unexpectedly; its log:\n{}", self.log)
    }

    /// Waits for the line `runtime <id> started:` and returns the id.
    pub fn wait_for_runtime(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        while self.runtime.is_none() {
            if self.next_line(deadline)?.is_none() {
                return Err(format!(
                    "no `runtime … started:` line within {timeout:?}; log so far:\n{}",
                    self.log
                ));
            }
        }
        Ok(self.runtime.clone().expect("just found"))
    }

    /// Waits for the line `processor <processor> started`: its output ports
    /// exist from then on, so an observer can attach. The lines read on the
    /// way are handed out again by [`Plexus::next_line`] and
    /// [`Plexus::pending_lines`].
    pub fn wait_for_processor(&mut self, processor: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let wanted = format!("processor {processor} started");
        let mut read = Vec::new();
        let found = loop {
            match self.receive(deadline)? {
                Some(line) => {
                    let found = line.text.contains(&wanted);
                    read.push(line);
                    if found {
                        break true;
                    }
                }
                None => break false,
            }
        };
        self.unread.extend(read);
        if found {
            Ok(())
        } else {
            Err(format!(
                "no `{wanted}` line within {timeout:?}; log so far:\n{}",
                self.log
            ))
        }
    }

    /// Fails if a log line that arrived since the last read says a worker
    /// failed or is restarting: a run being measured must stay whole.
    pub fn check_workers(&mut self) -> Result<()> {
        self.pending_lines()?.iter().try_for_each(whole)
    }

    /// Reads the log for `span`, as [`Plexus::check_workers`] does.
    pub fn watch(&mut self, span: Duration) -> Result<()> {
        let end = Instant::now() + span;
        while Instant::now() < end {
            match self.next_line(end)? {
                Some(line) => whole(&line)?,
                None => break,
            }
        }
        Ok(())
    }

    pub fn log(&self) -> &str {
        &self.log
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("not stopped yet").id()
    }

    /// Stops the run as Ctrl-C would: SIGINT to the supervisor, which stops
    /// its workers and removes its files. Then checks that nothing of the
    /// runtime is left.
    pub fn stop(mut self) -> Result<Stopped> {
        let mut child = self.child.take().expect("not stopped yet");
        // SAFETY: kill(2) of our own child, not yet reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = match wait_until(&mut child, Instant::now() + STOP_GRACE) {
            Some(status) => status,
            None => {
                self.child = Some(child);
                return Err(format!(
                    "`plexus run` did not stop within {STOP_GRACE:?} of SIGINT; log:\n{}",
                    self.log
                ));
            }
        };
        for line in self.lines.iter() {
            self.log.push_str(&line.text);
            self.log.push('\n');
        }
        let stdout = self
            .stdout
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        self.check_nothing_left()?;
        if !status.success() {
            return Err(format!(
                "`plexus run` stopped with {status}; log:\n{}",
                self.log
            ));
        }
        let summary = stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line).ok())
            .ok_or_else(|| format!("`plexus run --json` printed no summary: {stdout}"))?;
        Ok(Stopped { summary })
    }

    /// No process and no `/dev/shm` file of the runtime may be left; a
    /// leftover is removed (and reported) so the bench leaves nothing.
    fn check_nothing_left(&self) -> Result<()> {
        let Some(runtime) = &self.runtime else {
            return Ok(());
        };
        let left = runtime_pids(runtime, None);
        for &pid in &left {
            // SAFETY: kill(2) of a process whose environment names our runtime.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let files = Names::new(runtime).map(|names| RuntimeFiles::new(&names));
        let files_left = files.as_ref().is_ok_and(|files| files.any_left());
        if files_left {
            if let Ok(files) = &files {
                files.remove_all();
            }
        }
        match (left.is_empty(), files_left) {
            (true, false) => Ok(()),
            _ => Err(format!(
                "runtime {runtime} left processes {left:?} and/or files in /dev/shm \
                 (files left: {files_left}); both were removed"
            )),
        }
    }
}

impl Drop for Plexus {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) of our own child, not yet reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        if wait_until(&mut child, Instant::now() + STOP_GRACE).is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(runtime) = &self.runtime {
            for pid in runtime_pids(runtime, None) {
                // SAFETY: kill(2) of a process whose environment names our
                // runtime, whose supervisor is gone.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            if let Ok(names) = Names::new(runtime) {
                RuntimeFiles::new(&names).remove_all();
            }
        }
    }
}

/// An error if `line` says a worker failed or is restarting.
fn whole(line: &LogLine) -> Result<()> {
    match line.text.contains(" failed") || line.text.contains(" restarting") {
        true => Err(format!("a worker failed while measuring: {}", line.text)),
        false => Ok(()),
    }
}

/// `path` as a YAML scalar for the pipelines the bench writes: a JSON string
/// is a YAML double-quoted scalar, so any path survives.
pub fn yaml_path(path: &Path) -> String {
    serde_json::Value::from(path.to_string_lossy().into_owned()).to_string()
}

/// Reads `stream` to its end on a thread; the text arrives on the channel.
pub fn read_in_background(mut stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

/// Reads `stream` line by line on a thread, stamping each line with
/// `monotonic_ns()` as it arrives; the channel closes at the stream's end.
pub fn stamped_lines(stream: impl Read + Send + 'static) -> Receiver<LogLine> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for text in BufReader::new(stream)
            .lines()
            .map_while(std::io::Result::ok)
        {
            let line = LogLine {
                at_ns: monotonic_ns(),
                text,
            };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Waits for `child` to exit until `deadline`; `None` if it is still running.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

/// The id in a line `… runtime <id> started: …`.
fn runtime_id_in(line: &str) -> Option<String> {
    let rest = &line[line.find("runtime ")? + "runtime ".len()..];
    let id = rest.split_whitespace().next()?;
    (rest.contains(" started:") && !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| id.to_string())
}

/// Live (not zombie) processes whose environment names `runtime` and, if
/// given, `worker`.
pub fn runtime_pids(runtime: &str, worker: Option<&str>) -> Vec<u32> {
    integration_tests::residue::worker_processes(runtime, worker)
}

/// The pid in a log line `worker <worker> spawned (pid N)` or `worker
/// <worker> restarted (generation G, pid N)`, with G for the latter.
pub fn worker_started(line: &str, worker: &str) -> Option<(Option<u64>, u32)> {
    let spawned = format!("worker {worker} spawned (pid ");
    let restarted = format!("worker {worker} restarted (generation ");
    if let Some(at) = line.find(&spawned) {
        let pid = number_before(&line[at + spawned.len()..], ')')?;
        return Some((None, pid as u32));
    }
    let rest = &line[line.find(&restarted)? + restarted.len()..];
    let generation = number_before(rest, ',')?;
    let pid = number_before(&rest[rest.find("pid ")? + "pid ".len()..], ')')?;
    Some((Some(generation), pid as u32))
}

fn number_before(text: &str, end: char) -> Option<u64> {
    text[..text.find(end)?].trim().parse().ok()
}
