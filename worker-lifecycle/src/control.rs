//! The worker's end of its control channel (docs/ARCHITECTURE.md §4): the
//! commands it waits for, the reports it sends, and the commands it answers
//! the same way whether it runs or hands over (pause, resume, live config).

use std::time::{Duration, Instant};

use bus::control::{MessageReceiver, MessageSender};
use bus::waitset::WaitSet;
use bus::wake::WakeListener;
use bus::{Bus, BusError};
use ipc_schemas::{Command, Report};
use worker_sandbox::violations;

use crate::error::WorkerError;
use crate::ports::{ProcessError, Slot};

/// The supervisor's end, as the worker sees it.
pub(crate) struct Control {
    pub commands: MessageReceiver,
    reports: MessageSender,
    pub wake: WakeListener,
}

impl Control {
    /// Opens the control channel `channel`: the worker's name, or a live
    /// swap's successor's own.
    pub(crate) fn open(bus: &Bus, channel: &str) -> Result<Self, BusError> {
        let names = bus.names();
        let commands = MessageReceiver::open(bus, &names.ctl_commands(channel))?;
        let wake = WakeListener::open(bus, &names.worker_wake(channel))?;
        let reports =
            MessageSender::open(bus, &names.ctl_reports(channel), &names.supervisor_wake())?;
        Ok(Self {
            commands,
            reports,
            wake,
        })
    }

    pub(crate) fn report(&self, report: &Report) -> Result<(), BusError> {
        self.reports.send(report).map(|_| ())
    }

    /// Tells the supervisor, when `error` is one the worker cannot go on
    /// after (a full `/dev/shm`), in the sentence the user should read.
    pub(crate) fn fatal(&self, error: WorkerError) -> WorkerError {
        if let WorkerError::Bus(e) = &error {
            if e.shm_full().is_some() {
                let _ = self.report(&Report::Fatal {
                    message: e.to_string(),
                });
            }
        }
        error
    }

    /// Waits for the next command. `timeout` bounds steps the supervisor
    /// owes an answer to; `None` waits as long as the supervisor lives (the
    /// kernel ends us with it).
    pub(crate) fn next_command(
        &self,
        waitset: &WaitSet,
        timeout: Option<Duration>,
    ) -> Result<Command, WorkerError> {
        let _guard = waitset.attach_wake(&self.wake)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            self.wake.drain()?;
            if let Some(command) = self.commands.try_recv::<Command>()? {
                return Ok(command);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Err(WorkerError::Protocol(
                    "the supervisor sent no command in time".into(),
                ));
            }
            waitset.wait_once(Some(left), |_| {})?;
        }
    }
}

/// Starts the manual processors. One that cannot start is reported and
/// ends the worker, as a crash would.
pub(crate) fn start(control: &Control, slots: &mut [Slot]) -> Result<(), WorkerError> {
    for slot in slots {
        if let Err(message) = slot.start() {
            control.report(&Report::ProcessorError {
                processor: slot.id.clone(),
                message: format!("start() failed: {message}"),
            })?;
            return Err(WorkerError::Start {
                processor: slot.id.clone(),
                message,
            });
        }
    }
    Ok(())
}

/// Reports processor errors, then the sandbox violations recorded since
/// the last report; the supervisor logs them (errors sampled when they
/// flood) and the worker carries on. Called after every turn of the loop,
/// so after each processor call and each stats tick.
pub(crate) fn report_errors(
    control: &Control,
    errors: &mut Vec<ProcessError>,
) -> Result<(), WorkerError> {
    for e in errors.drain(..) {
        control.report(&Report::ProcessorError {
            processor: e.processor,
            message: e.message,
        })?;
    }
    for violation in violations::drain() {
        control.report(&Report::Violation(violation))?;
    }
    Ok(())
}

/// Reports every sandbox violation recorded since the last report, the
/// system calls the seccomp filter trapped among them: what a processor
/// tried that its permissions do not allow, in the sentence that names it
/// (docs/ARCHITECTURE.md §15). On stats ticks and around the calls outside
/// the running loop.
pub(crate) fn report_violations(control: &Control) -> Result<(), WorkerError> {
    for violation in violations::drain()
        .into_iter()
        .chain(violations::drain_syscalls())
    {
        control.report(&Report::Violation(violation))?;
    }
    Ok(())
}

/// Pauses (`pause`) or resumes `processor`; returns the report that tells
/// the supervisor, when that changed anything.
pub(crate) fn steer(slots: &mut [Slot], processor: &str, pause: bool) -> Option<Report> {
    let Some(slot) = slots.iter_mut().find(|s| s.id == processor) else {
        tracing::warn!("told to pause or resume `{processor}`, which this worker does not host");
        return None;
    };
    let processor = processor.to_string();
    if pause {
        slot.pause().then_some(Report::Paused { processor })
    } else {
        slot.resume().then_some(Report::Resumed { processor })
    }
}

/// Hands `processor` a user's config changes, between two of its calls;
/// returns the report that tells the supervisor how it took them.
pub(crate) fn reconfigure(
    slots: &mut [Slot],
    processor: String,
    changes_json: &str,
) -> Option<Report> {
    let Some(slot) = slots.iter_mut().find(|s| s.id == processor) else {
        tracing::warn!("told to reconfigure `{processor}`, which this worker does not host");
        return None;
    };
    let outcome = slot.reconfigure(changes_json);
    Some(Report::Reconfigured { processor, outcome })
}

/// Answers the commands a worker takes the same way whether it runs or has
/// handed over (pause, resume, live config): the report to send, if any;
/// any other command is given back.
pub(crate) fn steer_by(slots: &mut [Slot], command: Command) -> Result<Option<Report>, Command> {
    match command {
        Command::Pause { processor } => Ok(steer(slots, &processor, true)),
        Command::Resume { processor } => Ok(steer(slots, &processor, false)),
        Command::Reconfigure {
            processor,
            changes_json,
        } => Ok(reconfigure(slots, processor, &changes_json)),
        other => Err(other),
    }
}
