//! One worker process as the supervisor tracks it: its child, its control
//! channel and where it is in the lifecycle.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bus::control::{MessageReceiver, MessageSender};
use bus::fd::WaitableFd;
use bus::Bus;
use ipc_schemas::{Command, ExitStatus, ProcessorStats, Report, WorkerConfig};

use super::recipe::Recipe;
use super::usage::Usage;
use super::watched::Watched;
use super::STEP_DEADLINE;
use crate::language::Lang;
use crate::load::plan::PlannedWorker;
use crate::load::restart::{Budget, RestartSpec};

/// The handshake step a worker's process owes next, and by when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub stage: &'static str,
    pub deadline: Instant,
}

impl Step {
    /// What a process owes once spawned.
    fn hello() -> Self {
        Self {
            stage: "hello",
            deadline: Instant::now() + STEP_DEADLINE,
        }
    }
}

/// What plexus is doing about a worker, beside the stage its current
/// process reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Left as it is: its process runs, or ended and stays ended.
    Steady,
    /// Its process is on its way to running and owes `Step` by its
    /// deadline, or is killed.
    Handshake(Step),
    /// Its process ended; the next one is spawned at this instant.
    Backoff(Instant),
    /// plexus gave up on the worker, for this reason; final.
    Failed(String),
}

/// Why the current process is ending, when plexus knows better than its
/// exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// plexus saw it fail (a missed deadline, a setup that failed again):
    /// a crash whatever its exit status says.
    Fault(String),
    /// A user asked for a restart: not a failure, and not budgeted.
    Requested,
}

/// Lifecycle states in order; a worker only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkerState {
    Spawned,
    Greeted,
    Configured,
    Running,
    Stopped,
    Exited,
}

impl WorkerState {
    pub fn name(self) -> &'static str {
        match self {
            WorkerState::Spawned => "spawned",
            WorkerState::Greeted => "hello",
            WorkerState::Configured => "configured",
            WorkerState::Running => "running",
            WorkerState::Stopped => "stopped",
            WorkerState::Exited => "exited",
        }
    }
}

pub struct WorkerHandle {
    pub name: String,
    pub language: Lang,
    pub processors: Vec<String>,
    pub pid: u32,
    /// When the current process was spawned.
    pub spawned_at: Instant,
    /// How far the current process got.
    pub state: WorkerState,
    phase: Phase,
    /// Why the current process is ending, when plexus knows.
    pub ending: Option<Ending>,
    pub last_exit: Option<ExitStatus>,
    pub stats: Vec<ProcessorStats>,
    /// The current process's CPU and memory, as of its last report.
    pub usage: Usage,
    pub restart: RestartSpec,
    pub critical: bool,
    pub budget: Budget,
    pub restarts: u32,
    /// 0 for the first process, +1 per restart.
    pub generation: u32,
    /// What the worker was configured with, to configure a restart alike.
    pub config: Option<WorkerConfig>,
    /// The current process was sent its configuration: from then on it
    /// reads every command in order, pauses among them.
    configure_sent: bool,
    pub recipe: Recipe,
    /// Its processors, with their deadlines and shared counters.
    pub watched: Vec<Watched>,
    /// The pipeline's directory, where the worker runs.
    pub dir: PathBuf,
    child: Child,
    pidfd: Option<WaitableFd>,
    commands: MessageSender,
    reports: MessageReceiver,
}

impl WorkerHandle {
    /// Opens the control channel first, so the worker's hello finds a reader.
    pub fn open_channel(bus: &Bus, name: &str) -> Result<(MessageSender, MessageReceiver)> {
        let names = bus.names();
        let reports = MessageReceiver::open(bus, &names.ctl_reports(name))?;
        let commands =
            MessageSender::open(bus, &names.ctl_commands(name), &names.worker_wake(name))?;
        Ok((commands, reports))
    }

    pub fn new(
        planned: &PlannedWorker,
        recipe: Recipe,
        dir: PathBuf,
        child: Child,
        channel: (MessageSender, MessageReceiver),
        watched: Vec<Watched>,
    ) -> Result<Self> {
        let name = planned.name.clone();
        let pid = child.id();
        let pidfd = WaitableFd::pidfd(pid).with_context(|| format!("watching worker `{name}`"))?;
        Ok(Self {
            name,
            language: planned.language,
            processors: planned.processors.clone(),
            pid,
            spawned_at: Instant::now(),
            state: WorkerState::Spawned,
            phase: Phase::Handshake(Step::hello()),
            ending: None,
            last_exit: None,
            stats: Vec::new(),
            usage: Usage::default(),
            restart: planned.restart,
            critical: planned.critical,
            budget: Budget::default(),
            restarts: 0,
            generation: 0,
            config: None,
            configure_sent: false,
            recipe,
            watched,
            dir,
            child,
            pidfd: Some(pidfd),
            commands: channel.0,
            reports: channel.1,
        })
    }

    pub fn alive(&self) -> bool {
        self.state != WorkerState::Exited
    }

    /// Gone for good: exited with no restart pending.
    pub fn finished(&self) -> bool {
        !self.alive() && !matches!(self.phase, Phase::Backoff(_))
    }

    /// Moves the current process forward to `state`, never back.
    pub fn advance(&mut self, state: WorkerState) {
        self.state = self.state.max(state);
    }

    /// Why plexus gave up on the worker, if it did.
    pub fn failure(&self) -> Option<&str> {
        match &self.phase {
            Phase::Failed(reason) => Some(reason),
            _ => None,
        }
    }

    /// Gives up on the worker for good.
    pub fn fail(&mut self, reason: String) {
        self.phase = Phase::Failed(reason);
    }

    /// Spawns the next process at `at`.
    pub fn back_off_until(&mut self, at: Instant) {
        self.phase = Phase::Backoff(at);
    }

    /// Sends `command` for the handshake step `stage`, which the process
    /// then owes by its deadline. A failed send is only logged: the
    /// deadline ends the attempt.
    pub fn ask(&mut self, command: &Command, stage: &'static str) {
        // Configuring sets every processor up, each with its own deadline,
        // which the health watch enforces with a precise reason.
        let setup: Duration = match command {
            Command::Configure(_) => self.watched.iter().map(|w| w.deadlines.setup).sum(),
            _ => Duration::ZERO,
        };
        self.phase = Phase::Handshake(Step {
            stage,
            deadline: Instant::now() + STEP_DEADLINE + setup,
        });
        self.configure_sent |= matches!(command, Command::Configure(_));
        if let Err(e) = self.send(command) {
            tracing::warn!("{e:#}");
        }
    }

    /// Whether the current process was sent its configuration, so that a
    /// command sent now reaches it after the configuration.
    pub fn configured(&self) -> bool {
        self.configure_sent
    }

    /// Drops a pending restart or handshake step: the worker stays as it is.
    pub fn settle(&mut self) {
        if matches!(self.phase, Phase::Handshake(_) | Phase::Backoff(_)) {
            self.phase = Phase::Steady;
        }
    }

    /// When the next process is due, while the worker waits out its backoff
    /// with no process.
    pub fn down_until(&self) -> Option<Instant> {
        match self.phase {
            Phase::Backoff(at) => Some(at),
            _ => None,
        }
    }

    /// Still on the process the run spawned first: the run takes it through
    /// hello, configure and start together with the others. A restarted
    /// worker is taken through them on its own (`resume_handshake`).
    pub fn on_first_process(&self) -> bool {
        self.generation == 0 && self.alive()
    }

    /// Whether the next process is due by `now`.
    pub fn restart_due(&self, now: Instant) -> bool {
        matches!(self.phase, Phase::Backoff(at) if at <= now)
    }

    /// The handshake step the worker missed by `now`, if any.
    pub fn missed_step(&self, now: Instant) -> Option<Step> {
        match self.phase {
            Phase::Handshake(step) if step.deadline <= now => Some(step),
            _ => None,
        }
    }

    /// When plexus has something to do about the worker next.
    pub fn next_due(&self) -> Option<Instant> {
        match self.phase {
            Phase::Handshake(step) => Some(step.deadline),
            Phase::Backoff(at) => Some(at),
            Phase::Steady | Phase::Failed(_) => None,
        }
    }

    /// Drops what the previous process reported but was not read before it
    /// died: a late hello or `Running` must not be taken for its successor's.
    pub fn forget_reports(&self) -> Result<()> {
        while self.next_report()?.is_some() {}
        Ok(())
    }

    /// Takes the place of the previous process with `child`.
    pub fn replace_child(&mut self, child: Child) -> Result<()> {
        self.pid = child.id();
        self.pidfd = Some(
            WaitableFd::pidfd(self.pid)
                .with_context(|| format!("watching worker `{}`", self.name))?,
        );
        self.child = child;
        self.spawned_at = Instant::now();
        self.state = WorkerState::Spawned;
        self.generation += 1;
        self.restarts += 1;
        self.configure_sent = false;
        self.phase = Phase::Handshake(Step::hello());
        Ok(())
    }

    /// A live swap's successor of this worker (docs/ARCHITECTURE.md §14):
    /// the worker as `planned` (the plan it swaps into) in a new process,
    /// speaking on `channel` and started by `recipe`, one generation on. It
    /// has no processors of its own to watch until it is promoted.
    pub fn successor(
        &self,
        planned: &PlannedWorker,
        recipe: Recipe,
        child: Child,
        channel: (MessageSender, MessageReceiver),
    ) -> Result<Self> {
        let mut successor = Self::new(
            planned,
            recipe,
            self.dir.clone(),
            child,
            channel,
            Vec::new(),
        )?;
        successor.restarts = self.restarts;
        successor.generation = self.generation + 1;
        Ok(successor)
    }

    /// Makes `successor`'s process this worker's, keeping the worker's
    /// history (restarts, budget) and watch; returns the process it
    /// replaces, which handed over and is to leave.
    pub fn promote(&mut self, mut successor: WorkerHandle) -> Retired {
        std::mem::swap(&mut self.child, &mut successor.child);
        std::mem::swap(&mut self.commands, &mut successor.commands);
        std::mem::swap(&mut self.reports, &mut successor.reports);
        let old_pid = std::mem::replace(&mut self.pid, successor.pid);
        let old_pidfd = std::mem::replace(&mut self.pidfd, successor.pidfd.take());
        self.recipe = successor.recipe;
        self.spawned_at = successor.spawned_at;
        self.state = successor.state;
        self.generation = successor.generation;
        self.usage = Usage::default();
        self.configure_sent = true;
        self.phase = Phase::Steady;
        Retired {
            name: self.name.clone(),
            pid: old_pid,
            child: successor.child,
            pidfd: old_pidfd,
            commands: successor.commands,
            deadline: Instant::now() + super::STOP_DEADLINE,
        }
    }

    /// Ends the worker for good (`plexus apply` removed it): it is told to
    /// drain and leave, and is killed if it has not by its deadline.
    pub fn retire(self) -> Retired {
        for command in [Command::Stop, Command::Exit] {
            if let Err(e) = self.send(&command) {
                tracing::warn!("{e:#}");
            }
        }
        Retired {
            name: self.name,
            pid: self.pid,
            child: self.child,
            pidfd: self.pidfd,
            commands: self.commands,
            deadline: Instant::now() + super::STOP_DEADLINE * 2,
        }
    }

    /// The state as reported: also says `restarting` and `failed`.
    pub fn state_name(&self) -> &'static str {
        match self.phase {
            Phase::Failed(_) => "failed",
            Phase::Backoff(_) => "restarting",
            Phase::Steady | Phase::Handshake(_) => self.state.name(),
        }
    }

    pub fn pidfd(&self) -> Option<&WaitableFd> {
        self.pidfd.as_ref()
    }

    pub fn send(&self, command: &Command) -> Result<()> {
        self.commands
            .send(command)
            .with_context(|| format!("sending to worker `{}`", self.name))?;
        Ok(())
    }

    pub fn next_report(&self) -> Result<Option<Report>> {
        self.reports
            .try_recv()
            .with_context(|| format!("reading reports of worker `{}`", self.name))
    }

    /// Reaps the process if it has exited; returns its status the first time.
    pub fn reap(&mut self) -> Option<ExitStatus> {
        if !self.alive() {
            return None;
        }
        let status = self.child.try_wait().ok().flatten()?;
        use std::os::unix::process::ExitStatusExt;
        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Code(code),
            (None, Some(signal)) => ExitStatus::Signal(signal),
            (None, None) => ExitStatus::Code(-1),
        };
        self.state = WorkerState::Exited;
        self.last_exit = Some(exit);
        self.pidfd = None;
        Some(exit)
    }

    /// SIGKILLs the worker's process group and waits for the worker.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if !self.alive() {
            return None;
        }
        super::spawn::kill_group(self.pid);
        let _ = self.child.wait();
        self.reap()
    }
}

/// A worker's process that handed over to its successor: it was told to
/// exit, and is killed if it has not by its deadline.
pub struct Retired {
    pub name: String,
    pub pid: u32,
    child: Child,
    pidfd: Option<WaitableFd>,
    commands: MessageSender,
    pub deadline: Instant,
}

impl Retired {
    /// Tells the process to leave.
    pub fn dismiss(&self) {
        if let Err(e) = self.commands.send(&Command::Exit) {
            tracing::warn!("telling worker `{}`'s old process to exit: {e}", self.name);
        }
    }

    pub fn pidfd(&self) -> Option<&WaitableFd> {
        self.pidfd.as_ref()
    }

    /// Whether the process has exited (and is reaped).
    pub fn gone(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
    }

    /// Kills the process's group and reaps it.
    pub fn kill(&mut self) {
        super::spawn::kill_group(self.pid);
        let _ = self.child.wait();
    }
}
