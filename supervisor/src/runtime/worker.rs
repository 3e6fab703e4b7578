//! One worker process as the supervisor tracks it: its child, its control
//! channel and where it is in the lifecycle.

use std::process::Child;

use anyhow::{Context, Result};
use bus::control::{MessageReceiver, MessageSender};
use bus::fd::WaitableFd;
use bus::Bus;
use ipc_schemas::{Command, ExitStatus, ProcessorStats, Report};

use crate::manifest::Runtime;

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
    pub runtime: Runtime,
    pub processors: Vec<String>,
    pub pid: u32,
    pub state: WorkerState,
    /// Why the worker failed, when it did; a failed worker is not restarted yet.
    pub failure: Option<String>,
    pub last_exit: Option<ExitStatus>,
    pub stats: Vec<ProcessorStats>,
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
        name: String,
        runtime: Runtime,
        processors: Vec<String>,
        child: Child,
        channel: (MessageSender, MessageReceiver),
    ) -> Result<Self> {
        let pid = child.id();
        let pidfd = WaitableFd::pidfd(pid).with_context(|| format!("watching worker `{name}`"))?;
        Ok(Self {
            name,
            runtime,
            processors,
            pid,
            state: WorkerState::Spawned,
            failure: None,
            last_exit: None,
            stats: Vec::new(),
            child,
            pidfd: Some(pidfd),
            commands: channel.0,
            reports: channel.1,
        })
    }

    pub fn alive(&self) -> bool {
        self.state != WorkerState::Exited
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
