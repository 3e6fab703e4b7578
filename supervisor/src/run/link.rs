//! The run's link process (docs/ARCHITECTURE.md §16): `plexus-link
//! coordinate`, started when processors run on other hosts. It is told the
//! setup on its stdin and heard one JSON line at a time on its stdout,
//! which the supervisor's loop reads without blocking, so a slow or silent
//! link never holds the local part of the pipeline up. Zenoh lives in that
//! process only.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, Result};
use bus::fd::WaitableFd;
use ipc_schemas::link::{LinkCommand, LinkReport, LinkSetup, LinkStatus};
use ipc_schemas::{EventKind, RuntimeEvent, RuntimeStatus};
use serde::{Deserialize, Serialize};
use std::os::unix::process::CommandExt;

/// The longest line the link process may write; a longer one is cut off
/// and dropped, never buffered without bound.
const MAX_LINE: usize = 16 << 20;
/// The most worker lines kept between two looks of the supervisor.
const MAX_LOGS: usize = 10_000;

/// A time a host was out of reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub host: String,
    /// Until it came back; `None` when it never did.
    pub outage_ms: Option<u64>,
}

/// Where the link stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    /// Reaching the hosts and starting their parts.
    Starting,
    /// Every host runs its part.
    Ready,
    /// Told to stop every host's part.
    Stopping,
    /// The run cannot go on: one sentence.
    Failed(String),
    /// The process ended after a stop.
    Ended,
    /// The process ended while every host ran its part: the other hosts
    /// are lost, this one's processors go on.
    Gone(String),
}

pub struct Link {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    readable: WaitableFd,
    pending: Vec<u8>,
    pub state: LinkState,
    /// The other hosts, by name.
    hosts: Vec<String>,
    /// Each other host's runtime as last told; while a host is lost, its
    /// workers as they were, `lost`.
    pub statuses: BTreeMap<String, RuntimeStatus>,
    /// Lines the other hosts' workers printed, (host, worker, line), not
    /// yet taken.
    pub logs: Vec<(String, String, String)>,
    pub links: Vec<LinkStatus>,
    /// Each other host's summary, once its part stopped.
    pub summaries: BTreeMap<String, serde_json::Value>,
    /// Each host's answer to a check (`validate`).
    pub checked: Vec<(String, Option<String>)>,
}

impl Link {
    /// Starts `plexus-link coordinate` and hands it `setup`.
    pub fn spawn(setup: &LinkSetup) -> Result<Self> {
        let (child, stdin, stdout) = start(setup)?;
        set_nonblocking(&stdout)?;
        let readable = WaitableFd::from_owned(
            stdout
                .as_fd()
                .try_clone_to_owned()
                .context("duplicating the link's stdout")?,
        )?;
        Ok(Self {
            child,
            stdin: Some(stdin),
            stdout,
            readable,
            pending: Vec::new(),
            state: LinkState::Starting,
            hosts: setup.hosts.iter().map(|h| h.host.clone()).collect(),
            statuses: BTreeMap::new(),
            logs: Vec::new(),
            links: Vec::new(),
            summaries: BTreeMap::new(),
            checked: Vec::new(),
        })
    }

    /// Becomes readable when the link process wrote or ended.
    pub fn fd(&self) -> &WaitableFd {
        &self.readable
    }

    /// Reads what the link process wrote so far; returns the events to
    /// publish, in order.
    pub fn pump(&mut self) -> Vec<RuntimeEvent> {
        let mut events = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        // What it wrote last (a `fatal` line, say) is read before its end
        // is taken in.
        let mut closed = false;
        loop {
            match self.stdout.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("reading the link process: {e}");
                    closed = true;
                    break;
                }
            }
        }
        while let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=at).collect();
            match serde_json::from_slice::<LinkReport>(&line) {
                Ok(report) => events.extend(self.apply(report)),
                Err(e) => tracing::warn!("the link process wrote a line plexus cannot read: {e}"),
            }
        }
        if self.pending.len() > MAX_LINE {
            tracing::warn!("the link process wrote a line longer than {MAX_LINE} bytes; dropped");
            self.pending.clear();
        }
        if closed {
            events.extend(self.end());
        }
        events
    }

    fn apply(&mut self, report: LinkReport) -> Option<RuntimeEvent> {
        match report {
            LinkReport::Ready => {
                if self.state == LinkState::Starting {
                    self.state = LinkState::Ready;
                }
            }
            LinkReport::Checked { host, problem } => self.checked.push((host, problem)),
            LinkReport::Event { event } => return Some(event),
            LinkReport::Status {
                host,
                status: Some(mut status),
            } => {
                for w in &mut status.workers {
                    w.host = host.clone();
                }
                self.statuses.insert(host, status);
            }
            LinkReport::Status { host, status: None } => {
                for w in self
                    .statuses
                    .get_mut(&host)
                    .into_iter()
                    .flat_map(|s| &mut s.workers)
                {
                    w.state = "lost".into();
                    w.pid = 0;
                    w.cpu_percent = 0.0;
                    for p in &mut w.processors {
                        p.fps_in = 0.0;
                        p.fps_out = 0.0;
                    }
                }
            }
            LinkReport::Log { host, worker, line } => {
                if self.logs.len() < MAX_LOGS {
                    self.logs.push((host, worker, line));
                }
            }
            LinkReport::Links { links } => self.links = links,
            LinkReport::Summary { host, summary } => {
                self.summaries.insert(host, summary);
            }
            LinkReport::Fatal { message } => {
                if !matches!(self.state, LinkState::Failed(_)) {
                    self.state = LinkState::Failed(message);
                }
            }
        }
        None
    }

    /// Its output closed: after a stop, it is over; before, it failed,
    /// and every host still reachable is told lost (their agents stop
    /// their parts once this process is gone).
    fn end(&mut self) -> Vec<RuntimeEvent> {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => "its output closed".to_string(),
        };
        let (next, lost) = match &self.state {
            LinkState::Failed(_) | LinkState::Ended | LinkState::Gone(_) => return Vec::new(),
            LinkState::Stopping => (LinkState::Ended, false),
            LinkState::Starting => (
                LinkState::Failed(format!(
                    "the link process ended ({status}) before every host ran its part"
                )),
                false,
            ),
            LinkState::Ready => (
                LinkState::Gone(format!("the link process ended ({status})")),
                true,
            ),
        };
        self.state = next;
        if !lost {
            return Vec::new();
        }
        tracing::error!("the link process ended ({status}): the other hosts' parts stop");
        self.hosts
            .iter()
            .map(|host| RuntimeEvent {
                seq: 0,
                time_ns: 0,
                mono_ns: 0,
                host: Some(host.clone()),
                kind: EventKind::HostLost {
                    host: host.clone(),
                    reason: format!("this host's link process ended ({status})"),
                },
            })
            .collect()
    }

    /// Which other host runs worker `worker`, as last told.
    pub fn host_of_worker(&self, worker: &str) -> Option<&str> {
        self.statuses.iter().find_map(|(host, status)| {
            status
                .workers
                .iter()
                .any(|w| w.worker == worker)
                .then_some(host.as_str())
        })
    }

    /// Tells the link process `command`; a link that is gone is told nothing.
    pub fn send(&mut self, command: &LinkCommand) {
        let Some(stdin) = &mut self.stdin else {
            return;
        };
        if matches!(command, LinkCommand::Stop) && self.state == LinkState::Ready {
            self.state = LinkState::Stopping;
        }
        let line = serde_json::to_string(command).expect("link commands serialise");
        if writeln!(stdin, "{line}").is_err() {
            self.stdin = None;
        }
    }
}

impl Drop for Link {
    /// Closing its stdin tells it to stop every host's part; one that does
    /// not end soon is killed, so nothing is left running.
    fn drop(&mut self) {
        self.stdin = None;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks every other host whether it could run its part (`validate`):
/// each host's problem, if it has one. A host that cannot be reached, or
/// refuses the token, is an error.
pub fn check(setup: &LinkSetup) -> Result<Vec<(String, Option<String>)>> {
    let (mut child, stdin, stdout) = start(setup)?;
    drop(stdin);
    let mut checked = Vec::new();
    let mut fatal = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        match serde_json::from_str::<LinkReport>(&line.context("reading the link process")?) {
            Ok(LinkReport::Checked { host, problem }) => checked.push((host, problem)),
            Ok(LinkReport::Fatal { message }) => fatal = Some(message),
            _ => {}
        }
    }
    let status = child.wait().context("waiting for the link process")?;
    match fatal {
        Some(message) => Err(crate::error::UserError::Plain(message).into()),
        None if !status.success() => anyhow::bail!("the link process ended with {status}"),
        None => Ok(checked),
    }
}

/// Starts `plexus-link coordinate` with `setup` on the first line of its
/// stdin.
fn start(setup: &LinkSetup) -> Result<(Child, ChildStdin, ChildStdout)> {
    let exe = crate::provision::beside_plexus("plexus-link")?;
    let mut child = Command::new(&exe)
        .arg("coordinate")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Ctrl-C is the run's to handle: the link is stopped after the
        // local workers drained.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let line = serde_json::to_string(setup).context("writing the link setup")?;
    writeln!(stdin, "{line}").context("handing the link process its setup")?;
    Ok((child, stdin, stdout))
}

fn set_nonblocking(stdout: &ChildStdout) -> Result<()> {
    let fd = stdout.as_raw_fd();
    // SAFETY: fcntl on an fd this process owns, reading then setting its
    // status flags; no memory is passed.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    };
    if !ok {
        return Err(std::io::Error::last_os_error())
            .context("making the link's output non-blocking");
    }
    Ok(())
}
