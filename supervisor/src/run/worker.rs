//! One worker process as the supervisor tracks it: its child, its control
//! channel and where it is in the lifecycle.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command as Process};
use std::time::Instant;

use anyhow::{Context, Result};
use bus::control::{MessageReceiver, MessageSender};
use bus::fd::WaitableFd;
use bus::Bus;
use ipc_schemas::{Command, ExitStatus, ProcessorStats, Report, WorkerConfig};

use crate::language::Lang;
use crate::load::plan::PlannedWorker;
use crate::load::restart::{Budget, RestartSpec};

/// How to start a worker again exactly as it was started the first time.
pub struct Recipe {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
}

impl Recipe {
    pub fn of(command: &Process) -> Self {
        Self {
            program: command.get_program().to_owned(),
            args: command.get_args().map(|a| a.to_owned()).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
                .collect(),
        }
    }

    pub fn command(&self) -> Process {
        let mut command = Process::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }
}

/// What a worker waits for next while it comes back after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub stage: &'static str,
    pub deadline: Instant,
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
    pub state: WorkerState,
    /// Why plexus gave up on the worker; final.
    pub failure: Option<String>,
    /// Why the current process is ending, when plexus killed it.
    pub crash: Option<String>,
    pub last_exit: Option<ExitStatus>,
    pub stats: Vec<ProcessorStats>,
    pub restart: RestartSpec,
    pub critical: bool,
    pub budget: Budget,
    pub restarts: u32,
    /// The current process is being replaced because a user asked.
    pub requested_restart: bool,
    /// 0 for the first process, +1 per restart.
    pub generation: u32,
    /// When the next restart is due, while one is pending.
    pub restart_at: Option<Instant>,
    /// The handshake step a restarted worker owes, with its deadline.
    pub step: Option<Step>,
    /// What the worker was configured with, to configure a restart alike.
    pub config: Option<WorkerConfig>,
    pub recipe: Recipe,
    /// The unanswered ping (nonce, when sent) and when the next one is due.
    pub ping: Option<(u64, Instant)>,
    pub next_ping: Instant,
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
            failure: None,
            crash: None,
            last_exit: None,
            stats: Vec::new(),
            restart: planned.restart,
            critical: planned.critical,
            budget: Budget::default(),
            restarts: 0,
            requested_restart: false,
            generation: 0,
            restart_at: None,
            step: None,
            config: None,
            recipe,
            ping: None,
            next_ping: Instant::now(),
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
        !self.alive() && self.restart_at.is_none()
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
        self.restart_at = None;
        self.ping = None;
        Ok(())
    }

    /// The state as reported: also says `restarting` and `failed`.
    pub fn state_name(&self) -> &'static str {
        if self.failure.is_some() {
            "failed"
        } else if self.restart_at.is_some() {
            "restarting"
        } else {
            self.state.name()
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
