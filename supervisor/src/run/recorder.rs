//! A run's own recorder (`record:` in the pipeline): `plexus record` as an
//! observer process, started once the workers are configured and before
//! any source runs, so it has every frame from the first; stopped once the
//! workers have drained and exited, so it has every frame to the last. Its
//! lines are the user's to read, as they are when it is run by hand.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

use crate::load::record::RecordPlan;

/// How long the recorder may take to join the runtime.
pub const READY_WITHIN: Duration = Duration::from_secs(10);
/// How long it may take to write what it holds and finish its file.
const FINISH_WITHIN: Duration = Duration::from_secs(60);

/// What the recorder said so far.
#[derive(Default)]
struct Heard {
    /// It holds its ports and records.
    ready: bool,
    /// Its stderr closed: it has exited or is about to.
    ended: bool,
    last: String,
}

pub struct Recorder {
    child: Child,
    heard: Arc<Mutex<Heard>>,
}

impl Recorder {
    /// Starts `plexus record` on runtime `runtime` as `plan` says.
    pub fn spawn(plan: &RecordPlan, runtime: &str) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe().context("finding plexus")?)
            .args(&plan.args)
            .args(["--runtime", runtime])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Ctrl-C at the terminal is the run's to handle: the recorder
            // is stopped after the workers have drained.
            .process_group(0)
            .spawn()
            .context("starting the run's recorder")?;
        let heard = Arc::new(Mutex::new(Heard::default()));
        let stderr = child.stderr.take().expect("piped");
        let told = Arc::clone(&heard);
        std::thread::Builder::new()
            .name("recorder-log".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut heard = told.lock().unwrap_or_else(|e| e.into_inner());
                    heard.ready |= line.starts_with("plexus: recording ");
                    // Why it could not start is the run's own error.
                    if heard.ready || !line.starts_with("plexus: error: ") {
                        eprintln!("{line}");
                    }
                    heard.last = line;
                }
                told.lock().unwrap_or_else(|e| e.into_inner()).ended = true;
            })
            .context("starting the recorder's log thread")?;
        Ok(Self { child, heard })
    }

    /// Whether it records (`Some(true)`), gave up (`Some(false)`), or has
    /// not said yet.
    pub fn started(&self) -> Option<bool> {
        let heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        match (heard.ready, heard.ended) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => None,
        }
    }

    /// Its last line: why it gave up.
    pub fn last_line(&self) -> String {
        let heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        let line = heard
            .last
            .strip_prefix("plexus: error: ")
            .unwrap_or(&heard.last);
        line.to_string()
    }

    /// Stops it as Ctrl-C would and waits for its file to be finished.
    pub fn finish(mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let deadline = Instant::now() + FINISH_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!("the run's recorder did not finish within {FINISH_WITHIN:?}; killing it");
    }
}

impl Drop for Recorder {
    /// A recorder not finished (the run failed to start) is killed: its
    /// file is readable up to its last flush.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
