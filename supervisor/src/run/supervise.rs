//! The supervisor's single event loop: sleep in one WaitSet until a worker
//! reports, a worker dies, a signal arrives or a deadline passes, then bring
//! the bookkeeping up to date. Every lifecycle phase is "wait until".

use std::collections::{BTreeMap, BTreeSet};
use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bus::waitset::WaitSet;
use bus::wake::WakeListener;
use bus::Bus;
use ipc_schemas::{EventKind, ExitStatus, Report, PROTOCOL_VERSION};

use super::events::EventLog;
use super::hosts::Outage;
use super::link::Link;
use super::live_config::LiveConfig;
use super::pause::Pauses;
use super::requests::ControlChannel;
use super::signals::Signals;
use super::spawn;
use super::stats::LiveStats;
use super::swap::{Batch, Swap};
use super::worker::{Ending, Retired, WorkerHandle, WorkerState};
use crate::journal::Stream;
use crate::load::plan::Plan;

/// Errors of one processor told in full before the log only samples them.
const ERRORS_TOLD_IN_FULL: u64 = 10;
/// After those, one error in this many is told.
const ERRORS_TOLD_EVERY: u64 = 1000;

/// How many errors a processor reported, and how many of them the log has
/// not told since it last told one.
#[derive(Default)]
struct ErrorCount {
    seen: u64,
    untold: u64,
}

/// Where the run is; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPhase {
    /// Workers are taken through hello, configure and start together. A
    /// crash now is handled by the worker's policy; a refusal (a setup that
    /// failed) ends the run before it began.
    Starting,
    /// Frames flow: crashed workers come back by their policy, users may
    /// restart workers.
    Flowing,
    /// The run is ending, for this reason: workers drain, upstream first,
    /// and none comes back.
    Draining(StopCause),
}

/// Why a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// `plexus stop` asked.
    Requested,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// `--duration` is over.
    Duration,
    /// Every source produced its `--frames`.
    SourcesDone,
    /// Every worker ended on its own.
    WorkersEnded,
    /// plexus gave up on a critical worker.
    CriticalFailure,
    /// `/dev/shm` has no room for what a worker needs.
    OutOfSharedMemory,
    /// Another host is lost for good (`on_lost: fail`, or past its
    /// `lost_timeout_s`), or its link process ended.
    HostLost,
}

/// Why a run must stop before its end; the sentence is the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// plexus gave up on a critical worker.
    CriticalFailure(String),
    /// A worker found no room in `/dev/shm`: restarting it would fail
    /// alike, and every process of the runtime shares that room.
    OutOfSharedMemory(String),
    /// The link to another host failed for good (§16).
    HostLost(String),
}

impl Halt {
    pub fn cause(&self) -> StopCause {
        match self {
            Halt::CriticalFailure(_) => StopCause::CriticalFailure,
            Halt::OutOfSharedMemory(_) => StopCause::OutOfSharedMemory,
            Halt::HostLost(_) => StopCause::HostLost,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Halt::CriticalFailure(m) | Halt::OutOfSharedMemory(m) | Halt::HostLost(m) => m,
        }
    }
}

impl StopCause {
    /// Why, as the `runtime_stopping` event says it.
    pub fn reason(self) -> &'static str {
        match self {
            StopCause::Requested => "`plexus stop` asked",
            StopCause::Interrupted => "interrupted",
            StopCause::Duration => "the duration is over",
            StopCause::SourcesDone => "the sources produced their frames",
            StopCause::WorkersEnded => "every worker ended",
            StopCause::CriticalFailure => "a critical worker failed",
            StopCause::OutOfSharedMemory => "/dev/shm is full",
            StopCause::HostLost => "another host was lost",
        }
    }
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Done,
    Deadline,
    Interrupted,
}

pub struct Supervisor {
    /// Never dropped: iceoryx2 cleans dead nodes up as a node is dropped,
    /// and a worker killed while it created a port (a run refused at its
    /// start kills the rest) leaves a service it waits on forever. The
    /// process ends soon after, and the runtime's files go with it
    /// (`run::FilesGuard`), so nothing is left behind.
    pub bus: ManuallyDrop<Bus>,
    /// The graph the runtime runs: the pipeline's plan, as `plexus apply`
    /// last changed it.
    pub plan: Plan,
    pub runtime_id: String,
    /// The pipeline's name, and when the run began, for `plexus ps`.
    pub pipeline: String,
    pub started: Instant,
    pub workers: Vec<WorkerHandle>,
    pub events: EventLog,
    pub finished_sources: BTreeSet<String>,
    pub phase: RunPhase,
    /// When the health watch looks at the workers next.
    pub(super) next_watch: Instant,
    /// Set when the run must stop before its end, and why.
    pub halt: Option<Halt>,
    /// Set when a worker refused its first start (a setup that failed, a
    /// foreign protocol): a mistake in the pipeline or its packages, so the
    /// run cannot begin. A crash is no refusal.
    pub refusal: Option<String>,
    /// Per worker: the inputs (processor, port) it feeds in other workers.
    pub(super) downstream: BTreeMap<String, Vec<(String, String)>>,
    error_counts: BTreeMap<String, ErrorCount>,
    pub(super) control: ControlChannel,
    pub(super) live: LiveStats,
    /// What users paused, which restarted workers are configured with.
    pub(super) pauses: Pauses,
    /// The processors' config schemas and the `plexus set` changes under way.
    pub(super) live_config: LiveConfig,
    /// Live swaps under way, and the processes that handed over and are
    /// leaving (`swap.rs`).
    pub(super) swaps: Vec<Swap>,
    pub(super) batches: Vec<Batch>,
    pub(super) retiring: Vec<Retired>,
    /// Numbers the successors' control channels.
    pub(super) swap_serial: u32,
    /// The link to the other hosts, when processors run there (§16).
    pub link: Option<Link>,
    /// When other hosts were out of reach.
    pub(super) outages: Vec<Outage>,
    wake: WakeListener,
    signals: Signals,
    interrupts: usize,
}

impl Supervisor {
    pub fn new(plan: Plan, bus: Bus, runtime_id: String, pipeline: String) -> Result<Self> {
        let wake = WakeListener::open(&bus, &bus.names().supervisor_wake())?;
        let control = ControlChannel::open(&bus)?;
        let events = EventLog::open(&bus)?;
        Ok(Self {
            plan,
            bus: ManuallyDrop::new(bus),
            runtime_id,
            pipeline,
            started: Instant::now(),
            workers: Vec::new(),
            events,
            finished_sources: BTreeSet::new(),
            phase: RunPhase::Starting,
            next_watch: Instant::now(),
            halt: None,
            refusal: None,
            downstream: BTreeMap::new(),
            error_counts: BTreeMap::new(),
            control,
            live: LiveStats::default(),
            pauses: Pauses::default(),
            live_config: LiveConfig::default(),
            swaps: Vec::new(),
            batches: Vec::new(),
            retiring: Vec::new(),
            swap_serial: 0,
            link: None,
            outages: Vec::new(),
            wake,
            signals: Signals::install()?,
            interrupts: 0,
        })
    }

    /// Processes events until `done` holds, `deadline` passes, or a new
    /// signal arrives.
    pub fn wait_until(
        &mut self,
        deadline: Option<Instant>,
        done: impl Fn(&Self) -> bool,
    ) -> Result<Wake> {
        let interrupts_before = self.interrupts;
        loop {
            self.pump_reports()?;
            self.reap_exited();
            self.tick(Instant::now());
            if done(self) {
                return Ok(Wake::Done);
            }
            if self.interrupts > interrupts_before {
                return Ok(Wake::Interrupted);
            }
            let timeout = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Ok(Wake::Deadline),
                },
                None => Duration::from_secs(3600),
            };
            let internal = self
                .next_due()
                .map(|due| due.saturating_duration_since(Instant::now()));
            self.sleep(internal.map_or(timeout, |i| i.min(timeout)))?;
        }
    }

    /// Blocks until any source of events is ready or `timeout` passes.
    fn sleep(&mut self, timeout: Duration) -> Result<()> {
        let waitset = WaitSet::new()?;
        let _reports = waitset.attach_wake(&self.wake)?;
        let _signals = waitset.attach_fd(self.signals.fd())?;
        let _link = self
            .link
            .as_ref()
            .map(|l| waitset.attach_fd(l.fd()))
            .transpose()?;
        let _deaths = self
            .workers
            .iter()
            .chain(self.swaps.iter().map(|s| &s.successor))
            .filter_map(|w| w.pidfd())
            .chain(self.retiring.iter().filter_map(|r| r.pidfd()))
            .map(|fd| waitset.attach_fd(fd))
            .collect::<Result<Vec<_>, _>>()?;
        waitset
            .wait_once(Some(timeout), |_| {})
            .context("waiting for workers")?;
        self.interrupts += self.signals.take();
        Ok(())
    }

    fn pump_reports(&mut self) -> Result<()> {
        self.wake.drain()?;
        for i in 0..self.workers.len() {
            while let Some(report) = self.workers[i].next_report()? {
                self.apply(i, report);
            }
        }
        self.pump_swaps()?;
        self.pump_link();
        self.pump_control()?;
        Ok(())
    }

    /// Books one report of worker `i`.
    fn apply(&mut self, i: usize, report: Report) {
        let worker = &mut self.workers[i];
        match report {
            Report::Hello { protocol, pid } => self.greeted(i, protocol, pid),
            Report::Configured => {
                worker.advance(WorkerState::Configured);
                self.resume_handshake(i);
            }
            Report::ConfigureFailed { processor, message } => {
                let reason = super::check::named(&processor, &message);
                // A restarted worker that cannot set up again crashed again;
                // at start-up the run cannot go on.
                if worker.generation > 0 {
                    worker.ending = Some(Ending::Fault(reason));
                } else {
                    self.refuse(i, reason);
                }
            }
            Report::Running => self.running(i),
            Report::Fatal { message } => {
                self.give_up(i, message.clone());
                self.halt.get_or_insert(Halt::OutOfSharedMemory(message));
            }
            Report::SourceFinished { processor } => {
                self.finished_sources.insert(processor);
            }
            Report::ProcessorError { processor, message } => {
                self.processor_error(i, processor, message)
            }
            Report::Violation(violation) => self.violation(i, violation),
            Report::Paused { processor } => {
                self.events.emit(EventKind::ProcessorPaused { processor })
            }
            Report::Resumed { processor } => {
                self.events.emit(EventKind::ProcessorResumed { processor })
            }
            Report::Reconfigured { processor, outcome } => self.reconfigured(i, processor, outcome),
            Report::Stats { stats } => {
                let now = Instant::now();
                worker.usage.measure(worker.pid, now);
                for event in self.live.update(stats, now) {
                    self.events.emit(event);
                }
            }
            Report::HandedOver { states } => self.handed_over(i, Ok(states)),
            Report::HandOverFailed { processor, message } => {
                let reason = format!("processor `{processor}`'s snapshot() failed: {message}");
                self.handed_over(i, Err(reason))
            }
            Report::TakeOverFailed { .. } => {
                tracing::warn!(
                    "worker `{}` reported a swap step nobody asked for",
                    worker.name
                )
            }
            Report::Stopped { stats } => {
                worker.advance(WorkerState::Stopped);
                for last in &stats {
                    self.live.book_latency(last);
                }
                worker.stats = stats;
                let processors = worker.processors.clone();
                self.tell_untold_errors(&processors);
                for processor in processors {
                    self.events.emit(EventKind::ProcessorStopped { processor });
                }
            }
        }
    }

    /// A worker's hello: it must speak this protocol and be the process
    /// plexus started.
    fn greeted(&mut self, i: usize, protocol: u32, pid: u32) {
        let worker = &mut self.workers[i];
        if protocol != PROTOCOL_VERSION {
            let reason = format!(
                "worker `{}` speaks protocol {protocol}, this plexus speaks {PROTOCOL_VERSION}",
                worker.name
            );
            self.refuse(i, reason);
        } else if pid != worker.pid {
            let reason = format!(
                "worker `{}` greeted with pid {pid}, expected {}",
                worker.name, worker.pid
            );
            self.refuse(i, reason);
        } else {
            worker.advance(WorkerState::Greeted);
            self.resume_handshake(i);
        }
    }

    /// Gives up on worker `i`, which cannot work as it is whatever its
    /// restart policy says; while the run starts, that ends it.
    fn refuse(&mut self, i: usize, reason: String) {
        if self.phase == RunPhase::Starting {
            self.refusal.get_or_insert_with(|| reason.clone());
        }
        self.workers[i].fail(reason);
    }

    fn running(&mut self, i: usize) {
        let worker = &mut self.workers[i];
        worker.advance(WorkerState::Running);
        worker.budget.running(Instant::now());
        let name = worker.name.clone();
        let processors = worker.processors.clone();
        self.events.emit(EventKind::WorkerReady { worker: name });
        for processor in processors {
            self.events.emit(EventKind::ProcessorStarted { processor });
        }
        self.resume_handshake(i);
    }

    /// A processor failing on every frame would bury the log: tell the first
    /// few errors, then one in a thousand, each saying how many were not
    /// told, so that the log never hides errors silently.
    /// Each error told is also kept in its worker's log, where `plexus
    /// logs` shows it (a Python traceback, say) among what the worker printed.
    fn processor_error(&mut self, i: usize, processor: String, message: String) {
        let count = self.error_counts.entry(processor.clone()).or_default();
        count.seen += 1;
        let seen = count.seen;
        let message = if seen < ERRORS_TOLD_IN_FULL {
            message
        } else if seen == ERRORS_TOLD_IN_FULL {
            format!("{message} (error {seen}: from now on only every {ERRORS_TOLD_EVERY}th is told, with how many were not)")
        } else if seen.is_multiple_of(ERRORS_TOLD_EVERY) {
            format!(
                "{message} (error {seen}; {} since the last one told were not shown)",
                std::mem::take(&mut count.untold)
            )
        } else {
            count.untold += 1;
            return;
        };
        let worker = &self.workers[i];
        self.events.worker_log(&worker.name).line(
            &worker.name,
            worker.generation,
            Stream::Error,
            &format!("processor {processor} error: {message}"),
        );
        self.events
            .emit(EventKind::ProcessorError { processor, message });
    }

    /// Tells a processor's attempt at something outside its permissions,
    /// in the worker's log and as an event.
    fn violation(&mut self, i: usize, violation: ipc_schemas::Violation) {
        let worker = &self.workers[i];
        self.events.worker_log(&worker.name).line(
            &worker.name,
            worker.generation,
            Stream::Error,
            &violation.to_string(),
        );
        self.events.emit(violation.event());
    }

    /// Says, for each of `processors` that are stopping, how many of their
    /// errors the log left out since the last one it told.
    fn tell_untold_errors(&mut self, processors: &[String]) {
        for processor in processors {
            let Some(count) = self.error_counts.get_mut(processor) else {
                continue;
            };
            let untold = std::mem::take(&mut count.untold);
            if untold > 0 {
                let message = format!(
                    "{untold} more errors were not shown ({} in all)",
                    count.seen
                );
                self.events.emit(EventKind::ProcessorError {
                    processor: processor.clone(),
                    message,
                });
            }
        }
    }

    fn reap_exited(&mut self) {
        for i in 0..self.workers.len() {
            let was = self.workers[i].state;
            let pid = self.workers[i].pid;
            if let Some(status) = self.workers[i].reap() {
                self.tell_trapped_call(i, pid, status);
                self.handle_exit(i, status, was);
            }
        }
        self.reap_swaps();
    }

    /// A worker killed by its seccomp filter (SIGSYS) said which system
    /// call it made: a sandbox violation of its processors, told before its
    /// exit.
    fn tell_trapped_call(&mut self, i: usize, pid: u32, status: ExitStatus) {
        if status != ExitStatus::Signal(libc::SIGSYS) {
            spawn::forget_trap(pid);
            return;
        }
        let Some(call) = spawn::trapped_call(pid) else {
            return;
        };
        let processor = self.workers[i].processors.join(", ");
        self.violation(
            i,
            ipc_schemas::Violation {
                processor,
                denied: ipc_schemas::Denied::Syscall(call),
                action: ipc_schemas::ViolationAction::Killed,
            },
        );
    }

    /// Kills a worker that missed the deadline of `stage`; its exit is then
    /// handled like any crash.
    pub fn kill(&mut self, i: usize, stage: &str) {
        self.kill_for(i, stage, None);
    }

    /// [`Supervisor::kill`], with the `reason` the worker failed for when
    /// it is given up, if plexus knows better than "missed its deadline".
    pub fn kill_for(&mut self, i: usize, stage: &str, reason: Option<String>) {
        let worker = &mut self.workers[i];
        if !worker.alive() {
            return;
        }
        let name = worker.name.clone();
        self.events.emit(EventKind::WorkerUnresponsive {
            worker: name.clone(),
            stage: stage.to_string(),
        });
        let worker = &mut self.workers[i];
        if worker.state < WorkerState::Stopped {
            worker.ending =
                Some(Ending::Fault(reason.unwrap_or_else(|| {
                    format!("worker `{name}` missed its {stage} deadline")
                })));
        }
        let was = worker.state;
        if let Some(status) = worker.kill() {
            self.handle_exit(i, status, was);
        }
    }

    /// Whether any processor reported an error during the run.
    pub fn raised_errors(&self) -> bool {
        !self.error_counts.is_empty()
    }

    pub fn send_all(&self, command: &ipc_schemas::Command) -> Result<()> {
        for w in self.workers.iter().filter(|w| w.alive()) {
            w.send(command)
                .with_context(|| format!("worker `{}`", w.name))?;
        }
        Ok(())
    }
}

/// Kills whatever is still alive if a run ends early (error or panic).
impl Drop for Supervisor {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.kill();
        }
        for s in &mut self.swaps {
            s.successor.kill();
        }
        for r in &mut self.retiring {
            r.kill();
        }
    }
}
