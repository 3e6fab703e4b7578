//! The seam between the shared worker loop and a language runtime.

use std::cell::Cell;
use std::time::Duration;

use bus::frames::InFrame;
use ipc_schemas::control::MAX_STATE_BYTES;
use ipc_schemas::{ConfigOutcome, FrameHeader, ProcessorSpec};

use crate::manual::Producer;
use crate::outputs::Outputs;

/// One frame handed to a processor: borrowed from shared memory for the
/// duration of the call only, unless the processor [retains](Input::retain) it.
pub struct Input<'a> {
    /// Index of the input port in the processor's spec.
    pub port: usize,
    pub header: &'a FrameHeader,
    pub data: &'a [u8],
    pub(crate) sample: &'a Cell<Option<InFrame>>,
}

impl Input<'_> {
    /// Takes over the shared-memory sample behind `data`, so that `data`
    /// stays valid after `process` returns, until the returned sample is
    /// dropped. For runtimes that cannot revoke a view they handed out (a
    /// Python buffer export). A subscriber lends only a few samples at once,
    /// so a processor that retains many stalls its input.
    pub fn retain(&self) -> Option<InFrame> {
        self.sample.take()
    }
}

/// A running processor instance.
pub trait Processor {
    /// Handles one input frame. An `Err` is reported as a processor error;
    /// the worker goes on with the next frame.
    fn process(&mut self, input: &Input<'_>, outputs: &mut Outputs<'_>) -> Result<(), String>;

    /// A processor whose inputs are synchronised (`sync: all` or `latest`):
    /// handles one frame of every input at once, by input index. Others
    /// keep this default, which the worker never calls.
    fn process_synced(
        &mut self,
        inputs: &[Input<'_>],
        outputs: &mut Outputs<'_>,
    ) -> Result<(), String> {
        let _ = (inputs, outputs);
        Err("this processor cannot take synchronised inputs".to_owned())
    }

    /// Sources only: how often [`Processor::produce`] is due.
    fn interval(&self) -> Option<Duration> {
        None
    }

    /// Sources only: produces the next frame(s). `next` is the header they
    /// carry unless the processor knows better: the sequence number after
    /// the last frame the processor sent on its first output, over all its
    /// processes (so a restarted source goes on where it left off), and
    /// the time of this call.
    fn produce(&mut self, _next: &FrameHeader, _outputs: &mut Outputs<'_>) -> Result<(), String> {
        Ok(())
    }

    /// Manual processors only (`mode: manual`): starts producing from
    /// threads or callbacks of the processor's own, which send through
    /// `producer` (a clone per thread) until [`Processor::stop`] returns.
    /// Should return promptly: it is held to the setup deadline. An `Err`
    /// ends the worker like a crash.
    fn start(&mut self, producer: Producer) -> Result<(), String> {
        drop(producer);
        Err("this processor has no start(): it cannot be mode manual".to_owned())
    }

    /// Manual processors only: ends what [`Processor::start`] began and
    /// returns when its threads no longer send; sends after it returns are
    /// refused.
    fn stop(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Called when a user pauses the processor (`plexus pause`), and after
    /// setup when it begins paused (a restart while it was paused): from
    /// then until [`Processor::on_resume`] the worker calls neither
    /// `process` nor `produce`. A source might release its device here.
    fn on_pause(&mut self) {}

    /// Called when the processor is resumed, after an `on_pause`.
    fn on_resume(&mut self) {}

    /// Called when a user changes config keys while the processor runs
    /// (`plexus set`), between two of its calls on the worker's loop, never
    /// during one. `changes_json` is a JSON object of the changed keys and
    /// their new values, already checked against the processor's schema.
    /// The default has no hook: the supervisor then restarts the worker
    /// with the new config. A hook that fails keeps the old config.
    fn on_config(&mut self, changes_json: &str) -> ConfigOutcome {
        let _ = changes_json;
        ConfigOutcome::NoHook
    }

    /// Live swap (`plexus upgrade`, docs/ARCHITECTURE.md §14): the state to
    /// carry to this processor's successor, taken after the last frame it
    /// handled here. `Ok(None)` (the default): it keeps no state.
    fn snapshot(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }

    /// Live swap: takes the state its predecessor's [`Processor::snapshot`]
    /// gave, before its first frame. The default refuses, so a successor
    /// that cannot take its predecessor's state fails the upgrade and the
    /// old version keeps serving, rather than losing the state.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Err(NO_RESTORE.to_owned())
    }

    /// Called once before the worker reports it stopped.
    fn teardown(&mut self) {}
}

/// Why a processor without a `restore` hook cannot succeed its
/// predecessor: what [`Processor::restore`]'s default says, and what every
/// language's host says for a processor that lacks the hook.
pub const NO_RESTORE: &str = "it has no restore() for the state its predecessor saved";

/// Refuses a snapshot of `len` bytes by `processor` (its pipeline id) when
/// it is larger than [`MAX_STATE_BYTES`]; each host checks before it
/// returns the state, and before copying it where it can.
pub fn check_state_size(processor: &str, len: usize) -> Result<(), String> {
    if len <= MAX_STATE_BYTES {
        return Ok(());
    }
    Err(format!(
        "the snapshot of `{processor}` is {len} bytes, more than the {} MiB a live swap carries",
        MAX_STATE_BYTES >> 20
    ))
}

/// Creates processors for one kind of worker (builtins and dylibs, Python, …).
pub trait ProcessorHost {
    /// Instantiates the processor described by `spec`. The error names what
    /// is wrong in one sentence; the worker reports it and exits.
    fn create(&mut self, spec: &ProcessorSpec) -> Result<Box<dyn Processor>, String>;

    /// Everything [`ProcessorHost::create`] does short of calling the
    /// processor's own code (`setup`): loading its library, module or class
    /// and checking what its mode needs, with the same messages
    /// (`plexus validate --deep`).
    fn check(&mut self, spec: &ProcessorSpec) -> Result<(), String> {
        let _ = spec;
        Err("this worker cannot check a processor without running it".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_larger_than_the_bound_is_refused_by_name_and_size() {
        assert_eq!(check_state_size("counter", MAX_STATE_BYTES), Ok(()));
        assert_eq!(
            check_state_size("counter", MAX_STATE_BYTES + 1),
            Err(format!(
                "the snapshot of `counter` is {} bytes, more than the 16 MiB a live swap carries",
                MAX_STATE_BYTES + 1
            ))
        );
    }
}
