//! The life of a worker process (docs/ARCHITECTURE.md §4): hello, configure, run
//! until told to stop, drain, report, exit. The worker sleeps in one
//! [`WaitSet`] on its control wake-up (which manual processors' threads also
//! ring), its inputs' wake-ups and its sources' intervals; it polls only
//! around the predicted arrivals of `latency: low` inputs (`active`).

use std::time::Duration;

use bus::alarm::Alarm;
use bus::counters::{Counter, Counters};
use bus::waitset::{Attachment, WaitSet};
use bus::wake::WakeListener;
use bus::Bus;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{
    env, Command, Names, Report, Role, WorkerConfig, PROTOCOL_VERSION, STATS_INTERVAL,
};

use crate::active::{self, Next, Polling};
use crate::arrival::Via;
use crate::control::{
    reconfigure, report_errors, report_violations, start, steer, steer_by, Control,
};
use crate::error::WorkerError;
use crate::handover::{self, AfterHandOver};
use crate::ports::{Drive, Slot};
use crate::processor::ProcessorHost;
use crate::pulse::Pulse;

/// How long a worker waits for a command the supervisor owes it. The
/// supervisor has its own, shorter deadlines; this only ends orphans.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a worker from spawn to exit with processors made by `host`.
pub fn run_worker(host: &mut dyn ProcessorHost) -> Result<(), WorkerError> {
    let runtime = std::env::var(env::RUNTIME).map_err(|_| WorkerError::MissingEnv(env::RUNTIME))?;
    let worker = std::env::var(env::WORKER).map_err(|_| WorkerError::MissingEnv(env::WORKER))?;
    ipc_schemas::names::validate_id(&worker)?;
    let bus = Bus::join(Names::new(&runtime)?, &format!("worker-{worker}"))?;
    let channel = control_channel(&worker)?;
    let control = Control::open(&bus, &channel)?;
    let waitset = WaitSet::new()?;

    control.report(&Report::Hello {
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
    })?;
    let config = match control.next_command(&waitset, Some(COMMAND_TIMEOUT))? {
        Command::Configure(config) => config,
        other => {
            return Err(WorkerError::Protocol(format!(
                "expected Configure, got {other:?}"
            )))
        }
    };
    let counters = config
        .processors
        .iter()
        .map(|spec| Counters::open(bus.names(), &spec.id, spec.inputs.len(), spec.outputs.len()))
        .collect::<Result<Vec<_>, _>>()?;
    let beats: Vec<Counter> = counters.iter().map(Counters::pulse).collect();
    // A successor's pulse would hide a frozen predecessor: it beats once
    // it takes over.
    let mut pulse = match config.role {
        Role::Serving => Some(beat(&beats)?),
        Role::Successor => None,
    };
    let loop_wake = bus.names().worker_wake(&channel);
    let configured = configure(&bus, host, &config, counters, &loop_wake);
    report_violations(&control)?;
    let (mut slots, wakes) = match configured {
        Ok(configured) => configured,
        Err(WorkerError::Setup { processor, message }) => {
            control.report(&Report::ConfigureFailed {
                processor: processor.clone(),
                message: message.clone(),
            })?;
            return Err(WorkerError::Setup { processor, message });
        }
        Err(e) => return Err(control.fatal(e)),
    };
    control.report(&Report::Configured)?;
    loop {
        match control.next_command(&waitset, Some(COMMAND_TIMEOUT))? {
            Command::Start => break,
            Command::TakeOver { states } => {
                handover::take_over(&control, &mut slots, &states)?;
                pulse.get_or_insert(beat(&beats)?);
                break;
            }
            Command::Stop | Command::Exit => return Ok(()),
            // The supervisor hears where its processors stand once the
            // worker runs, below.
            Command::Pause { processor } => {
                steer(&mut slots, &processor, true);
            }
            Command::Resume { processor } => {
                steer(&mut slots, &processor, false);
            }
            Command::Reconfigure {
                processor,
                changes_json,
            } => {
                if let Some(report) = reconfigure(&mut slots, processor, &changes_json) {
                    control.report(&report)?;
                }
            }
            other => {
                return Err(WorkerError::Protocol(format!(
                    "expected Start, got {other:?}"
                )))
            }
        }
    }
    control.report(&Report::Running)?;
    let started = start(&control, &mut slots);
    report_violations(&control)?;
    started?;
    for slot in slots.iter().filter(|s| s.paused()) {
        control.report(&Report::Paused {
            processor: slot.id.clone(),
        })?;
    }
    let ended = run(&bus, &control, &waitset, &mut slots, &wakes).map_err(|e| control.fatal(e))?;

    for slot in &mut slots {
        slot.teardown();
    }
    report_violations(&control)?;
    let unreported = worker_sandbox::violations::unreported();
    if unreported > 0 {
        tracing::info!(
            "{unreported} more sandbox violations repeated earlier ones and were not reported"
        );
    }
    if ended == Ended::HandedOver {
        return Ok(());
    }
    control.report(&Report::Stopped {
        stats: slots.iter_mut().map(Slot::stats).collect(),
    })?;
    // Downstream may still be reading frames from our shared memory: stay
    // until the supervisor says everyone has stopped.
    loop {
        if let Command::Exit = control.next_command(&waitset, None)? {
            return Ok(());
        }
    }
}

/// The control channel this process speaks on: `PLEXUS_CONTROL` when the
/// supervisor set it (a live swap's successor), else the worker's name.
fn control_channel(worker: &str) -> Result<String, WorkerError> {
    match std::env::var(env::CONTROL) {
        Ok(channel) => match channel
            .strip_prefix(worker)
            .and_then(|n| n.strip_prefix('.'))
        {
            Some(n) if n.parse::<u32>().is_ok() => Ok(channel),
            _ => Err(WorkerError::Protocol(format!(
                "{} is `{channel}`, not a control channel of worker `{worker}`",
                env::CONTROL
            ))),
        },
        Err(_) => Ok(worker.to_string()),
    }
}

/// Starts the pulse on `beats`.
fn beat(beats: &[Counter]) -> Result<Pulse, WorkerError> {
    Pulse::start(beats.to_vec())
        .map_err(|e| WorkerError::Protocol(format!("starting the pulse thread: {e}")))
}

/// Wake-up listeners of all inputs, with the slot and input they belong to.
type InputWakes = Vec<(usize, usize, WakeListener)>;

fn configure(
    bus: &Bus,
    host: &mut dyn ProcessorHost,
    config: &WorkerConfig,
    counters: Vec<Counters>,
    loop_wake: &str,
) -> Result<(Vec<Slot>, InputWakes), WorkerError> {
    let mut slots = Vec::new();
    let mut wakes = Vec::new();
    for (spec, counters) in config.processors.iter().zip(counters) {
        let latency = |input| config.latency_of(&spec.id, input);
        let (mut slot, slot_wakes) =
            Slot::configure(bus, host, spec, counters, loop_wake, config.role, latency)?;
        if config.paused.contains(&spec.id) {
            slot.pause();
        }
        wakes.extend(
            slot_wakes
                .into_iter()
                .enumerate()
                .map(|(input, w)| (slots.len(), input, w)),
        );
        slots.push(slot);
    }
    if slots.iter().any(Slot::has_low_input) {
        active::precise_sleeps();
    }
    Ok((slots, wakes))
}

/// Frames one input may take per turn before commands and the other inputs
/// get theirs: a full queue.
const TURN: usize = bus::settings::FRAME_QUEUE;

/// How the running state ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// `Stop`: the inputs are drained.
    Stopped,
    /// A live swap's successor serves instead.
    HandedOver,
}

/// The running state: returns when `Stop` arrives, after draining inputs,
/// or once a live swap's successor took over.
fn run(
    bus: &Bus,
    control: &Control,
    waitset: &WaitSet,
    slots: &mut [Slot],
    wakes: &InputWakes,
) -> Result<Ended, WorkerError> {
    let low = slots.iter().any(Slot::has_low_input);
    let alarm = low.then(Alarm::new).transpose()?;
    let mut attached = Attached::to(waitset, control, slots, wakes, alarm.as_ref())?;
    let mut errors = Vec::new();
    let mut finished_sources = vec![false; slots.len()];
    // Inputs whose last turn ended with frames maybe left: served again
    // without sleeping, but only after commands had their turn, so a
    // consumer slower than its producer still hears `Stop` and drops
    // frames (safe overflow) instead of falling ever further behind.
    let mut backlog: Vec<usize> = Vec::new();
    loop {
        let woken = attached.wait(waitset, std::mem::take(&mut backlog), slots)?;
        for (k, via) in woken.inputs {
            let (slot, input, wake) = &wakes[k];
            // A caught frame's wake-up may come after this: its turn then
            // finds the input empty, which costs a look, never a frame.
            wake.drain()?;
            if slots[*slot].drain_input(*input, TURN, via, &mut errors)? {
                backlog.push(k);
            }
        }
        for slot in woken.sources {
            if !finished_sources[slot] && slots[slot].produce(&mut errors)? {
                finished_sources[slot] = true;
                control.report(&Report::SourceFinished {
                    processor: slots[slot].id.clone(),
                })?;
            }
        }
        if woken.control || woken.stats {
            for slot in slots.iter_mut() {
                if slot.manual_news(&mut errors)? {
                    control.report(&Report::SourceFinished {
                        processor: slot.id.clone(),
                    })?;
                }
            }
        }
        report_errors(control, &mut errors)?;
        if woken.stats {
            report_violations(control)?;
            control.report(&Report::Stats {
                stats: slots.iter_mut().map(Slot::stats).collect(),
            })?;
        }
        if woken.control {
            let turn = match handle_commands(control, slots)? {
                Turn::HandOver => match handover::hand_over(bus, control, slots)? {
                    AfterHandOver::Exit => return Ok(Ended::HandedOver),
                    AfterHandOver::Serve => Turn::Serve,
                    AfterHandOver::Stop => Turn::Stop,
                },
                turn => turn,
            };
            if turn == Turn::Stop {
                for slot in slots.iter_mut() {
                    slot.stop(&mut errors);
                    slot.manual_news(&mut errors)?;
                }
                for slot in slots.iter_mut() {
                    slot.drain_all_inputs(&mut errors)?;
                }
                report_errors(control, &mut errors)?;
                return Ok(Ended::Stopped);
            }
            attached.sync_sources(waitset, slots)?;
        }
    }
}

/// What a running worker waits for: commands, every input, the interval of
/// each source that is not paused, and the stats interval.
struct Attached<'set, 'source> {
    control: Attachment<'set, 'source>,
    inputs: Vec<Attachment<'set, 'source>>,
    /// By input: its slot and its index there.
    places: Vec<(usize, usize)>,
    /// Opens the windows of `latency: low` inputs, when there are any.
    alarm: Option<(&'source Alarm, Attachment<'set, 'source>)>,
    /// By slot; a paused source has none, so it costs no wake-ups.
    sources: Vec<(usize, Attachment<'set, 'static>)>,
    stats: Attachment<'set, 'static>,
}

/// What one wait found ready.
struct Woken {
    control: bool,
    stats: bool,
    /// Indices into the input wakes, each once, in order, with how each
    /// was found ready.
    inputs: Vec<(usize, Via)>,
    /// Slots whose source interval is due.
    sources: Vec<usize>,
}

impl<'set, 'source> Attached<'set, 'source> {
    fn to(
        waitset: &'set WaitSet,
        control: &'source Control,
        slots: &[Slot],
        wakes: &'source InputWakes,
        alarm: Option<&'source Alarm>,
    ) -> Result<Self, WorkerError> {
        let mut attached = Self {
            control: waitset.attach_wake(&control.wake)?,
            inputs: wakes
                .iter()
                .map(|(_, _, w)| waitset.attach_wake(w))
                .collect::<Result<_, _>>()?,
            places: wakes.iter().map(|&(s, i, _)| (s, i)).collect(),
            alarm: alarm
                .map(|a| waitset.attach_fd(a.fd()).map(|g| (a, g)))
                .transpose()?,
            sources: slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s.drive {
                    Drive::Interval(period) => Some((i, period)),
                    Drive::Reactive | Drive::Manual(_) => None,
                })
                .map(|(i, period)| waitset.attach_interval(period).map(|g| (i, g)))
                .collect::<Result<_, _>>()?,
            stats: waitset.attach_interval(STATS_INTERVAL)?,
        };
        attached.sync_sources(waitset, slots)?;
        Ok(attached)
    }

    /// Attaches the interval of each source that is to produce and detaches
    /// that of each paused one.
    fn sync_sources(&mut self, waitset: &'set WaitSet, slots: &[Slot]) -> Result<(), WorkerError> {
        for (i, slot) in slots.iter().enumerate() {
            let Drive::Interval(period) = slot.drive else {
                continue;
            };
            let attached = self.sources.iter().position(|(s, _)| *s == i);
            match (slot.paused(), attached) {
                (false, None) => self.sources.push((i, waitset.attach_interval(period)?)),
                (true, Some(k)) => drop(self.sources.swap_remove(k)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Sleeps until something is ready, or only looks when `backlog`
    /// inputs are still to be served; they are served in this turn too.
    /// Around the predicted arrival of a `latency: low` input's frame it
    /// polls instead (`active`); a window that closes without the frame
    /// leaves the wake-up to bring it.
    fn wait(
        &self,
        waitset: &WaitSet,
        backlog: Vec<usize>,
        slots: &[Slot],
    ) -> Result<Woken, WorkerError> {
        let mut woken = Woken {
            control: false,
            stats: false,
            inputs: backlog.into_iter().map(|k| (k, Via::Woken)).collect(),
            sources: Vec::new(),
        };
        if !woken.inputs.is_empty() {
            self.look(waitset, Some(Duration::ZERO), &mut woken)?;
        } else {
            loop {
                let now = monotonic_ns();
                let ready = match active::next(&self.places, slots, now) {
                    Next::Sleep => self.look(waitset, None, &mut woken)?,
                    Next::SleepUntil(t) => match &self.alarm {
                        Some((alarm, _)) => {
                            alarm.set(t)?;
                            self.look(waitset, None, &mut woken)?
                        }
                        None => self.look(waitset, None, &mut woken)?,
                    },
                    Next::Poll(polled) => {
                        let look = || self.look(waitset, Some(Duration::ZERO), &mut woken);
                        match active::poll(&polled, slots, look)? {
                            Polling::Caught(caught) => {
                                woken
                                    .inputs
                                    .extend(caught.into_iter().map(|k| (k, Via::Caught)));
                                true
                            }
                            Polling::Looked => true,
                            Polling::Closed => false,
                        }
                    }
                };
                if ready {
                    break;
                }
            }
        }
        // An input both caught and woken is served once, as caught.
        woken
            .inputs
            .sort_unstable_by_key(|&(k, via)| (k, via == Via::Woken));
        woken.inputs.dedup_by_key(|&mut (k, _)| k);
        Ok(woken)
    }

    /// Waits at most `timeout` (`None`: no limit) and adds what is ready
    /// to `woken`; says whether anything was.
    fn look(
        &self,
        waitset: &WaitSet,
        timeout: Option<Duration>,
        woken: &mut Woken,
    ) -> Result<bool, WorkerError> {
        let mut any = false;
        waitset.wait_once(timeout, |ready| {
            // The alarm only ends a sleep: the loop then polls.
            if let Some((alarm, attachment)) = &self.alarm {
                if ready.is(attachment) {
                    alarm.drain();
                    return;
                }
            }
            any = true;
            woken.control |= ready.is(&self.control);
            woken.stats |= ready.is(&self.stats);
            for (k, attachment) in self.inputs.iter().enumerate() {
                if ready.is(attachment) {
                    woken.inputs.push((k, Via::Woken));
                }
            }
            for (slot, attachment) in &self.sources {
                if ready.is(attachment) {
                    woken.sources.push(*slot);
                }
            }
        })?;
        Ok(any)
    }
}

/// What the commands of one turn ask of the running loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    Serve,
    Stop,
    HandOver,
}

/// Handles waiting commands; says whether one of them ends serving.
fn handle_commands(control: &Control, slots: &mut [Slot]) -> Result<Turn, WorkerError> {
    control.wake.drain()?;
    while let Some(command) = control.commands.try_recv::<Command>()? {
        let report = match command {
            // What came after it waits for the handover's own loop.
            Command::HandOver => return Ok(Turn::HandOver),
            // A swap failed after this worker's snapshot did: it serves on.
            Command::KeepServing => None,
            Command::Stop | Command::Exit => return Ok(Turn::Stop),
            other => steer_by(slots, other).map_err(|other| {
                WorkerError::Protocol(format!("unexpected {other:?} while running"))
            })?,
        };
        if let Some(report) = report {
            control.report(&report)?;
        }
    }
    Ok(Turn::Serve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_environment_is_explained() {
        std::env::remove_var(env::RUNTIME);
        struct NoHost;
        impl ProcessorHost for NoHost {
            fn create(
                &mut self,
                _: &ipc_schemas::ProcessorSpec,
            ) -> Result<Box<dyn crate::Processor>, String> {
                Err("none".into())
            }
        }
        let err = run_worker(&mut NoHost).unwrap_err();
        assert!(
            err.to_string().contains("PLEXUS_RUNTIME is not set"),
            "{err}"
        );
    }
}
