//! Following a runtime from a std thread of its own, since the bus's ports
//! are not `Send`: its status every second and its events as they come,
//! handed to the async side through tokio channels. The runtime is the one
//! named, the only one running, the newest of several (said on stderr and
//! to the page), or, with none running, the next one to start; when a
//! followed runtime ends, the next one is picked up the same way. The last
//! status and the events of the runtime that ended are kept for the page
//! and for /metrics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bus::events::EventWatcher;
use ipc_schemas::{ControlReply, ControlRequest, EventKind, RuntimeStatus};
use serde_json::Value;
use supervisor::journal::read::Run;
use supervisor::journal::runs_dir;
use supervisor::observe::client::{self, leave_ending_runtime, Client, LiveRuntime};
use supervisor::observe::{Waiter, Woken};
use tokio::sync::{broadcast, watch};

/// How often the runtime is asked for its status.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Events kept for a page that opens later; older ones are in the journal.
const HISTORY: usize = 2000;

/// A runtime being followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub id: String,
    pub pid: u32,
    /// The other runtimes running when it was chosen as the newest.
    pub others: Vec<String>,
}

/// What the dashboard is showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// No runtime runs; the next one to start will be followed.
    Waiting,
    Live(Followed),
    /// The runtime named with --runtime has ended.
    Ended(Followed),
}

impl Watched {
    /// The id of the runtime shown, live or ended.
    pub fn id(&self) -> Option<&str> {
        match self {
            Watched::Live(f) | Watched::Ended(f) => Some(&f.id),
            Watched::Waiting => None,
        }
    }

    /// The id of the runtime running now.
    pub fn live(&self) -> Option<&Followed> {
        match self {
            Watched::Live(f) => Some(f),
            _ => None,
        }
    }
}

/// The events of the runtime shown, as `events --json` objects.
#[derive(Debug, Default)]
pub struct History {
    pub events: VecDeque<Arc<Value>>,
    /// Every event seen, by kind, history included.
    pub counts: BTreeMap<String, u64>,
    next_seq: u64,
}

/// What the watching thread publishes.
pub struct Watch {
    pub watched: watch::Receiver<Watched>,
    /// The newest status, kept after its runtime ended.
    pub status: watch::Receiver<Option<Arc<RuntimeStatus>>>,
    pub history: Arc<Mutex<History>>,
    /// Each event as it comes (after it is in `history`).
    pub events: broadcast::Sender<Arc<Value>>,
    /// Set when the dashboard ends: the bus threads close their ports.
    pub stopping: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Chooses the runtime (`requested`, or by the rules above) and starts
/// following it.
pub fn start(requested: Option<String>) -> Result<Watch> {
    let first = match &requested {
        Some(id) => Watched::Live(Followed {
            pid: client::choose_runtime(Some(id))?.pid,
            id: id.clone(),
            others: Vec::new(),
        }),
        None => newest().map_or(Watched::Waiting, Watched::Live),
    };
    let (watched_tx, watched) = watch::channel(first.clone());
    let (status_tx, status) = watch::channel(None);
    let (events, _) = broadcast::channel(1024);
    let history = Arc::new(Mutex::new(History::default()));
    let stopping = Arc::new(AtomicBool::new(false));
    let thread = Thread {
        named: requested.is_some(),
        watched: watched_tx,
        status: status_tx,
        history: history.clone(),
        events: events.clone(),
        stopping: stopping.clone(),
    };
    let handle = std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || thread.run(first))
        .context("starting the watching thread")?;
    Ok(Watch {
        watched,
        status,
        history,
        events,
        stopping,
        thread: Mutex::new(Some(handle)),
    })
}

impl Watch {
    /// Stops following, waiting at most `patience` for the thread to leave
    /// the bus. A thread waiting for a runtime to start holds no port, and
    /// is left to end with the process.
    pub fn stop(&self, patience: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        let following = matches!(*self.watched.borrow(), Watched::Live(_));
        if let Some(handle) = self.thread.lock().expect("not poisoned").take() {
            if following {
                join_within(handle, patience);
            }
        }
    }
}

/// Waits for `handle`'s thread to end, for at most `patience`.
pub fn join_within(handle: JoinHandle<()>, patience: Duration) {
    let end = Instant::now() + patience;
    while !handle.is_finished() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if handle.is_finished() {
        let _ = handle.join();
    }
}

/// The only runtime running, or the newest of several (by the start time
/// its journal keeps), told on stderr.
fn newest() -> Option<Followed> {
    let live = client::live_runtimes();
    let started = |l: &LiveRuntime| {
        runs_dir()
            .ok()
            .and_then(|dir| Run::open(&dir, &l.id).ok())
            .map_or(0, |run| run.info.start_time_ns)
    };
    let chosen = live.iter().max_by_key(|l| (started(l), l.pid))?;
    let others: Vec<String> = live
        .iter()
        .filter(|l| l.id != chosen.id)
        .map(|l| l.id.clone())
        .collect();
    if !others.is_empty() {
        eprintln!(
            "plexus: {} runtimes are running; the dashboard shows the newest, {} (others: {}; choose one with --runtime)",
            live.len(),
            chosen.id,
            others.join(", ")
        );
    }
    Some(Followed {
        id: chosen.id.clone(),
        pid: chosen.pid,
        others,
    })
}

/// The watching thread's ends of the channels.
struct Thread {
    /// --runtime named the runtime: when it ends, nothing follows it.
    named: bool,
    watched: watch::Sender<Watched>,
    status: watch::Sender<Option<Arc<RuntimeStatus>>>,
    history: Arc<Mutex<History>>,
    events: broadcast::Sender<Arc<Value>>,
    stopping: Arc<AtomicBool>,
}

/// How following one runtime ended.
enum Left {
    RuntimeEnded,
    DashboardStopping,
}

impl Thread {
    fn run(self, first: Watched) {
        let mut current = first;
        let mut ended: Vec<String> = Vec::new();
        loop {
            let followed = match current {
                Watched::Live(followed) => followed,
                Watched::Ended(_) => return,
                Watched::Waiting => match bus::discovery::wait_for_runtime(&ended) {
                    Ok((id, pid)) => Followed {
                        id,
                        pid,
                        others: Vec::new(),
                    },
                    Err(e) => {
                        tracing::error!("cannot wait for a runtime to start: {e}");
                        return;
                    }
                },
            };
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            self.begin(&followed);
            let left = self.follow(&followed).unwrap_or_else(|e| {
                tracing::warn!("following runtime {}: {e:#}", followed.id);
                Left::RuntimeEnded
            });
            if matches!(left, Left::DashboardStopping) {
                return;
            }
            ended.push(followed.id.clone());
            current = match self.named {
                true => Watched::Ended(followed),
                false => newest()
                    .filter(|f| !ended.contains(&f.id))
                    .map_or(Watched::Waiting, Watched::Live),
            };
            eprintln!(
                "plexus: runtime {} ended; the dashboard {}",
                ended.last().expect("just pushed"),
                match &current {
                    Watched::Live(next) => format!("now shows runtime {}", next.id),
                    Watched::Waiting => "waits for the next one to start".into(),
                    Watched::Ended(_) => "keeps showing it".into(),
                }
            );
            self.watched.send_replace(current.clone());
        }
    }

    /// A new runtime is shown: its events start afresh.
    fn begin(&self, followed: &Followed) {
        *self.history.lock().expect("not poisoned") = History::default();
        self.status.send_replace(None);
        self.watched.send_replace(Watched::Live(followed.clone()));
    }

    /// Asks for the status every second and passes each event on, until
    /// the runtime ends or the dashboard does.
    fn follow(&self, followed: &Followed) -> Result<Left> {
        let client = Client::connect(&followed.id)?;
        let watcher = EventWatcher::open(client.bus())?;
        // The runtime hands us its history on this request; one that is
        // not reading requests yet is starting, and all its events are ahead.
        client.try_request(|reply_to| ControlRequest::Watch { reply_to })?;
        let waiter = Waiter::quiet(followed.pid)?;
        let mut next_status = Instant::now();
        loop {
            if self.pass_events(&watcher)? {
                leave_ending_runtime((watcher, client));
                return Ok(Left::RuntimeEnded);
            }
            if self.stopping.load(Ordering::Relaxed) {
                return Ok(Left::DashboardStopping);
            }
            if Instant::now() >= next_status {
                next_status = Instant::now() + STATUS_EVERY;
                match client.try_request(|reply_to| ControlRequest::Status { reply_to }) {
                    Ok(Some(ControlReply::Status(status))) => {
                        self.status.send_replace(Some(Arc::new(status)));
                    }
                    // Starting or stopping: it answers no requests now.
                    Ok(_) => {}
                    Err(e) => tracing::debug!("status of runtime {}: {e:#}", followed.id),
                }
            }
            let left = next_status.saturating_duration_since(Instant::now());
            match waiter.wait_for(&[watcher.wake()], Some(left))? {
                Woken::News | Woken::Interrupted => watcher.wake().drain()?,
                Woken::SupervisorGone => {
                    self.pass_events(&watcher)?;
                    leave_ending_runtime((watcher, client));
                    return Ok(Left::RuntimeEnded);
                }
            }
        }
    }

    /// Passes on every event waiting; true once the runtime said it stopped.
    fn pass_events(&self, watcher: &EventWatcher) -> Result<bool> {
        let mut stopped = false;
        while let Some(event) = watcher.try_next()? {
            let value = Arc::new(event.to_json());
            {
                let mut history = self.history.lock().expect("not poisoned");
                // The history the runtime replays may repeat what we saw.
                if event.seq < history.next_seq {
                    continue;
                }
                history.next_seq = event.seq + 1;
                *history
                    .counts
                    .entry(event.kind.name().to_string())
                    .or_default() += 1;
                if history.events.len() == HISTORY {
                    history.events.pop_front();
                }
                history.events.push_back(value.clone());
            }
            // Nobody listening is no fault.
            let _ = self.events.send(value);
            stopped |= matches!(event.kind, EventKind::RuntimeStopped { .. });
        }
        Ok(stopped)
    }
}
