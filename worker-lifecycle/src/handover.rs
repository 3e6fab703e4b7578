//! Live swaps (docs/ARCHITECTURE.md §14), the worker's two halves. The
//! process being replaced hands over between two frames ([`hand_over`]);
//! its successor, set up meanwhile, takes over where it stopped
//! ([`take_over`]). Each frame is handled by exactly one of them: the
//! predecessor handles what was queued when it was told, then closes its
//! outputs, so that every consumer reads its last frames before the
//! successor's first; the successor releases unseen the frames below where
//! the predecessor stopped, which the shared counters say.

use bus::waitset::WaitSet;
use bus::Bus;
use ipc_schemas::{Command, ProcessorState, Report};

use crate::arrival::Via;
use crate::control::{report_errors, start, steer_by, Control};
use crate::error::WorkerError;
use crate::ports::Slot;

/// What the process that handed over does next.
pub(crate) enum AfterHandOver {
    /// Its successor serves: it leaves.
    Exit,
    /// The swap failed: it serves on.
    Serve,
    /// The run stops: it drains as every worker does.
    Stop,
}

/// Hands over to a successor: handles what its inputs hold, stops its
/// manual sources, takes every processor's snapshot and closes its outputs,
/// then waits to hear whether the successor took over. A snapshot that fails
/// changes nothing: the worker serves on and says why.
pub(crate) fn hand_over(
    bus: &Bus,
    control: &Control,
    slots: &mut [Slot],
) -> Result<AfterHandOver, WorkerError> {
    let mut errors = Vec::new();
    for slot in slots.iter_mut() {
        for input in 0..slot.inputs.len() {
            slot.drain_input(input, usize::MAX, Via::Woken, &mut errors)?;
        }
        slot.stop(&mut errors);
    }
    report_errors(control, &mut errors)?;
    let mut states = Vec::with_capacity(slots.len());
    for slot in slots.iter_mut() {
        match slot.snapshot() {
            Ok(state) => states.push(state),
            Err(message) => {
                let processor = slot.id.clone();
                start(control, slots)?;
                control.report(&Report::HandOverFailed { processor, message })?;
                return Ok(AfterHandOver::Serve);
            }
        }
    }
    slots.iter().for_each(Slot::close_outputs);
    control.report(&Report::HandedOver { states })?;
    // The running loop's wait set holds the control wake-up already.
    let waitset = WaitSet::new()?;
    loop {
        let report = match control.next_command(&waitset, None)? {
            Command::Exit => return Ok(AfterHandOver::Exit),
            command @ (Command::KeepServing | Command::Stop) => {
                for slot in slots.iter() {
                    slot.reopen_outputs(bus)
                        .map_err(|e| control.fatal(e.into()))?;
                }
                start(control, slots)?;
                return Ok(match command {
                    Command::Stop => AfterHandOver::Stop,
                    _ => AfterHandOver::Serve,
                });
            }
            other => steer_by(slots, other).map_err(|other| {
                WorkerError::Protocol(format!("unexpected {other:?} after handing over"))
            })?,
        };
        if let Some(report) = report {
            control.report(&report)?;
        }
    }
}

/// Takes over from a predecessor: each processor restores the state its
/// predecessor saved and each input begins where the predecessor stopped.
/// A processor that cannot restore ends the successor; the predecessor
/// then serves on.
pub(crate) fn take_over(
    control: &Control,
    slots: &mut [Slot],
    states: &[ProcessorState],
) -> Result<(), WorkerError> {
    for slot in slots.iter_mut() {
        let state = states
            .iter()
            .find(|s| s.processor == slot.id)
            .and_then(|s| s.state.as_deref());
        if let Err(message) = slot.take_over(state) {
            let processor = slot.id.clone();
            control.report(&Report::TakeOverFailed {
                processor: processor.clone(),
                message: message.clone(),
            })?;
            return Err(WorkerError::TakeOver { processor, message });
        }
    }
    Ok(())
}
