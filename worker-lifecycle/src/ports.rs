//! A configured processor with its wired ports and counters.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::counters::{Busy, Call, Counter, Counters};
use bus::frames::{port_wake_listener, FrameSubscriber, InFrame, Received};
use bus::settings::Opening;
use bus::wake::{WakeListener, Waker};
use bus::{Bus, BusError};
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{
    ConfigOutcome, FrameHeader, InputSpec, LatencyMode, Mode, ProcessorSpec, ProcessorState,
    ProcessorStats, Role,
};

use crate::arrival::{Via, Waiting, Watch};
use crate::error::WorkerError;
use crate::manual::{Gate, Producer, Shared};
use crate::outputs::{Loans, OutputPort, Outputs, Told};
use crate::processor::{check_state_size, Input, Processor, ProcessorHost};
use crate::stats::{InputTracker, LatencyHistogram};
use crate::sync::{Held, Matcher};
use worker_sandbox::violations;

pub(crate) struct Slot {
    pub id: String,
    pub processor: Box<dyn Processor>,
    pub inputs: Vec<(FrameSubscriber, InputTracker)>,
    outputs: Arc<[OutputPort]>,
    /// The loans of the call in progress, one entry per output.
    loans: Loans,
    pub latency: LatencyHistogram,
    /// Over every process of the processor (shared memory).
    pub errors: Counter,
    /// Tells the supervisor how long the current call has been running.
    busy: Busy,
    pub frame_limit: Option<u64>,
    pub produced: u64,
    pub drive: Drive,
    /// Per input: whether it is waiting for the processor to release frames.
    stalled: Vec<bool>,
    /// Per input: how it waits for frames (`latency:`), and when the next
    /// is expected.
    waiting: Vec<Waiting>,
    state: SlotState,
    /// Pairs frames of several inputs into sets, per the `sync:` policy.
    matcher: Matcher<InFrame>,
}

/// Whether the worker drives a processor (`plexus pause`, `resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Its frames and productions go to the processor.
    Running,
    /// Paused since then: a source is not asked to produce, and what
    /// arrives for a processor with inputs is dropped.
    Paused { since: Instant },
}

/// What makes a processor run, besides its inputs.
pub(crate) enum Drive {
    /// Only its inputs.
    Reactive,
    /// The worker calls `produce` this often.
    Interval(Duration),
    /// It produces from threads of its own, between `start` and `stop`.
    Manual(Arc<Shared>),
}

/// How often the worker calls a processor's `produce`: every `interval_ms`
/// of a continuous processor, else on the processor's own clock (`own`, a
/// builtin's). A continuous processor with neither could never produce, in
/// any language, so it is refused here rather than by each host.
fn production_interval(mode: Mode, own: Option<Duration>) -> Result<Option<Duration>, String> {
    match (mode, own) {
        (
            Mode::Continuous {
                interval_ms: Some(ms),
            },
            _,
        ) => Ok(Some(Duration::from_millis(ms))),
        (Mode::Continuous { interval_ms: None }, None) => Err(
            "it is mode continuous without `interval_ms`, and has no clock of its own".to_owned(),
        ),
        (_, own) => Ok(own),
    }
}

/// The payload of the sample in `slot`.
fn data_of(slot: &Cell<Option<InFrame>>) -> &[u8] {
    let sample = slot.take().expect("a sample not yet retained");
    let payload = sample.payload();
    // SAFETY: the payload lives in shared memory that stays mapped while the
    // sample exists, wherever the sample struct moves; the sample goes back
    // into `slot`, where it stays until the call ends or the processor
    // retains it, and the slice is only used during the call.
    let data = unsafe { std::slice::from_raw_parts(payload.as_ptr(), payload.len()) };
    slot.set(Some(sample));
    data
}

/// How a consumer opens the output an input is connected to: sized as the
/// plan sized it for every opener of that port.
fn member(input: &InputSpec) -> Opening {
    Opening::Member {
        subscribers: input.subscribers as usize,
    }
}

/// A processor's failure to handle one frame, to be reported.
pub(crate) struct ProcessError {
    pub processor: String,
    pub message: String,
}

impl Slot {
    /// Creates the processor and opens its ports. Outputs open first so a
    /// processor wired to itself through a group never misses its own frames.
    /// Also returns one wake listener per input, in input order. A full
    /// `/dev/shm` stays a bus error: it is the machine's, not the pipeline's.
    /// `loop_wake` wakes the worker's loop (a manual processor's threads
    /// use it to tell the loop what happened); `latency` says how each
    /// input waits.
    pub fn configure(
        bus: &Bus,
        host: &mut dyn ProcessorHost,
        spec: &ProcessorSpec,
        counters: Counters,
        loop_wake: &str,
        role: Role,
        latency: impl Fn(usize) -> LatencyMode,
    ) -> Result<(Self, Vec<WakeListener>), WorkerError> {
        let busy = counters.busy();
        // A successor sets up while its predecessor still writes the same
        // shared words; the supervisor's configure deadline bounds its setup.
        let setup_busy = (role == Role::Serving).then_some(&busy);
        setup_busy.inspect(|b| b.enter(Call::Setup));
        let processor = {
            let _current = violations::current(&spec.id);
            host.create(spec)
        };
        setup_busy.inspect(|b| b.leave());
        let setup = |message| WorkerError::Setup {
            processor: spec.id.clone(),
            message,
        };
        let port = |what: String| {
            move |e: BusError| match e.shm_full() {
                Some(_) => WorkerError::Bus(e),
                None => setup(format!("{what}: {e}")),
            }
        };
        let processor = processor.map_err(setup)?;
        let interval = production_interval(spec.mode, processor.interval()).map_err(setup)?;
        let outputs: Arc<[OutputPort]> = spec
            .outputs
            .iter()
            .enumerate()
            .map(|(index, o)| {
                OutputPort::open(bus, &spec.id, o, counters.output(index))
                    .map_err(port(format!("output `{}`", o.port)))
            })
            .collect::<Result<_, WorkerError>>()?;
        let drive = match (spec.mode, interval) {
            (Mode::Manual, _) => Drive::Manual(Shared::new(
                Arc::clone(&outputs),
                spec.frame_limit,
                busy.clone(),
                counters.errors(),
                Waker::open(bus, loop_wake).map_err(port("the worker's wake-up".into()))?,
            )),
            (_, Some(period)) => Drive::Interval(period),
            (_, None) => Drive::Reactive,
        };
        let inputs = spec
            .inputs
            .iter()
            .enumerate()
            .map(|(index, i)| {
                let sub = FrameSubscriber::open(bus, &i.from_processor, &i.from_port, member(i))
                    .map_err(|e| setup(format!("input `{}`: {e}", i.port)))?;
                Ok((sub, InputTracker::new(&i.port, counters.input(index))))
            })
            .collect::<Result<Vec<_>, WorkerError>>()?;
        let wakes = spec
            .inputs
            .iter()
            .map(|i| {
                port_wake_listener(bus, &i.from_processor, &i.from_port, member(i))
                    .map_err(port(format!("input `{}`", i.port)))
            })
            .collect::<Result<Vec<_>, WorkerError>>()?;
        let slot = Self {
            id: spec.id.clone(),
            processor,
            inputs,
            loans: outputs.iter().map(|_| None).collect(),
            outputs,
            latency: LatencyHistogram::default(),
            errors: counters.errors(),
            busy,
            frame_limit: spec.frame_limit,
            produced: 0,
            drive,
            stalled: vec![false; spec.inputs.len()],
            waiting: (0..spec.inputs.len())
                .map(|i| Waiting::new(latency(i)))
                .collect(),
            matcher: Matcher::new(spec.sync, spec.inputs.len()),
            state: SlotState::Running,
        };
        Ok((slot, wakes))
    }

    /// Whether an input waits `latency: low`.
    pub fn has_low_input(&self) -> bool {
        self.waiting.iter().any(|w| matches!(w, Waiting::Low(_)))
    }

    /// What the wait should do about input `index` at `now_ns`.
    pub fn watch(&self, index: usize, now_ns: u64) -> Watch {
        self.waiting[index].watch(now_ns)
    }

    /// Whether a frame waits on input `index`, without taking it.
    pub fn has_frames(&self, index: usize) -> Result<bool, BusError> {
        self.inputs[index].0.has_frames()
    }

    /// Processes the frames waiting on input `index`, at most `budget` of
    /// them, come `via` a wake-up or a catch. Returns true when the budget
    /// ran out with frames maybe left.
    pub fn drain_input(
        &mut self,
        index: usize,
        budget: usize,
        via: Via,
        errors: &mut Vec<ProcessError>,
    ) -> Result<bool, BusError> {
        // Frames taken this turn: all but the first were waiting.
        let mut taken: u64 = 0;
        for _ in 0..budget {
            let sample = match self.inputs[index].0.receive()? {
                Received::Frame(sample) => sample,
                Received::Empty => {
                    self.inputs[index].1.waited(taken.saturating_sub(1));
                    return Ok(false);
                }
                Received::AllBorrowed => {
                    self.inputs[index].1.waited(taken);
                    // The processor holds views of earlier frames (a Python
                    // array kept on `self`): this input waits until it lets
                    // go, and safe overflow drops what the wait costs.
                    if !self.stalled[index] {
                        self.stalled[index] = true;
                        self.errors.add(1);
                        errors.push(ProcessError {
                            processor: self.id.clone(),
                            message: format!(
                                "input `{}` is stalled: the processor still holds views of {} earlier frames; release them to receive more",
                                self.inputs[index].1.port(),
                                bus::settings::FRAME_BORROWED
                            ),
                        });
                    }
                    return Ok(false);
                }
            };
            self.stalled[index] = false;
            taken += 1;
            let header = *sample.user_header();
            let now = monotonic_ns();
            self.waiting[index].observe(header.seq, header.capture_ns, now, via);
            if self.inputs[index].1.predecessors(header.seq) {
                continue;
            }
            if self.paused() {
                // Taken off the bus all the same: left queued, they would
                // overflow as loss, and the processor would resume on
                // stale frames.
                self.inputs[index].1.skip(header.seq);
                continue;
            }
            let latency = now.saturating_sub(header.capture_ns);
            self.latency.record(latency);
            self.inputs[index].1.observe(header.seq, latency);
            if via == Via::Caught {
                self.inputs[index].1.caught();
            }
            let held = Held {
                port: index,
                header,
                sample,
            };
            let inputs = &self.inputs;
            if let Some(set) = self
                .matcher
                .offer(index, held, |port| inputs[port].1.unmatched())
            {
                self.call(set, errors)?;
            }
        }
        // The budget ran out with the queue maybe not empty: at least this
        // many were waiting.
        self.inputs[index].1.waited(taken);
        Ok(true)
    }

    /// Calls the processor with one frame, or, its inputs synchronised, a
    /// set of one per input; then gives the matcher back what the processor
    /// did not retain.
    fn call(
        &mut self,
        set: Vec<Held<InFrame>>,
        errors: &mut Vec<ProcessError>,
    ) -> Result<(), BusError> {
        let held: Vec<(usize, FrameHeader, Cell<Option<InFrame>>)> = set
            .into_iter()
            .map(|h| (h.port, h.header, Cell::new(Some(h.sample))))
            .collect();
        let result = {
            let inputs: Vec<Input<'_>> = held
                .iter()
                .map(|(port, header, slot)| Input {
                    port: *port,
                    header,
                    data: data_of(slot),
                    sample: slot,
                })
                .collect();
            let mut outputs = Outputs::new(&self.outputs, &mut self.loans);
            self.busy.enter(Call::Frame);
            let _current = violations::current(&self.id);
            let result = match (&self.matcher, inputs.as_slice()) {
                (Matcher::Any, [input]) => self.processor.process(input, &mut outputs),
                (_, inputs) => self.processor.process_synced(inputs, &mut outputs),
            };
            self.busy.leave();
            (result, outputs.told())
        };
        self.book(result.0, result.1, errors)?;
        let returned = held
            .into_iter()
            .map(|(port, header, slot)| {
                slot.into_inner().map(|sample| Held {
                    port,
                    header,
                    sample,
                })
            })
            .collect();
        self.matcher.give_back(returned);
        Ok(())
    }

    /// Processes everything waiting on every input (at stop: the producers
    /// have stopped, so the queues are finite); frames still waiting for
    /// partners then never find them.
    pub fn drain_all_inputs(&mut self, errors: &mut Vec<ProcessError>) -> Result<(), BusError> {
        for index in 0..self.inputs.len() {
            while self.drain_input(index, usize::MAX, Via::Woken, errors)? {}
        }
        let inputs = &self.inputs;
        self.matcher.flush(|port| inputs[port].1.unmatched());
        Ok(())
    }

    /// Runs one production step of a source. Returns true once the source
    /// has reached its frame limit and will produce no more.
    pub fn produce(&mut self, errors: &mut Vec<ProcessError>) -> Result<bool, BusError> {
        if self.finished() {
            return Ok(true);
        }
        if self.paused() {
            return Ok(false);
        }
        self.produced += 1;
        let next = FrameHeader {
            seq: self.outputs.first().map_or(0, |o| o.counters.sent.get()),
            capture_ns: monotonic_ns(),
            ..FrameHeader::default()
        };
        let mut outputs = Outputs::new(&self.outputs, &mut self.loans);
        self.busy.enter(Call::Frame);
        let current = violations::current(&self.id);
        let result = self.processor.produce(&next, &mut outputs);
        drop(current);
        self.busy.leave();
        let told = outputs.told();
        self.book(result, told, errors)?;
        Ok(self.finished())
    }

    /// Lets a manual processor begin producing. Its `start` is held to the
    /// setup deadline; an `Err` is the processor's failure to start.
    pub fn start(&mut self) -> Result<(), String> {
        let Drive::Manual(shared) = &self.drive else {
            return Ok(());
        };
        let producer = Producer::new(Arc::clone(shared));
        self.busy.enter(Call::Setup);
        let current = violations::current(&self.id);
        let started = self.processor.start(producer);
        drop(current);
        self.busy.leave();
        shared.set_gate(self.gate());
        started
    }

    /// Ends a manual processor's producing: after this its sends are
    /// refused.
    pub fn stop(&mut self, errors: &mut Vec<ProcessError>) {
        let Drive::Manual(shared) = &self.drive else {
            return;
        };
        let stopped = {
            let _current = violations::current(&self.id);
            self.processor.stop()
        };
        shared.set_gate(Gate::Closed);
        if let Err(message) = stopped {
            self.errors.add(1);
            errors.push(ProcessError {
                processor: self.id.clone(),
                message: format!("stop() failed: {message}"),
            });
        }
    }

    /// What a manual processor's threads left for the loop: their errors
    /// are added to `errors`; returns true the first time its frame limit
    /// is found reached. A full `/dev/shm` is the worker's end.
    pub fn manual_news(&mut self, errors: &mut Vec<ProcessError>) -> Result<bool, BusError> {
        let Drive::Manual(shared) = &self.drive else {
            return Ok(false);
        };
        let news = shared.take_news();
        let told = Told {
            refused: None,
            out_of_memory: news.out_of_memory,
        };
        for message in news.errors {
            errors.push(ProcessError {
                processor: self.id.clone(),
                message,
            });
        }
        self.book(Ok(()), told, errors)?;
        Ok(news.finished)
    }

    /// Books how one call of the processor went: one error when it failed
    /// or an output refused one of its frames (usually the same failure, when
    /// the processor passed the refusal on), none otherwise. A full
    /// `/dev/shm` is no error of the processor's: the worker cannot go on.
    /// Loans the call left unsent go back to their ports.
    fn book(
        &mut self,
        result: Result<(), String>,
        told: Told,
        errors: &mut Vec<ProcessError>,
    ) -> Result<(), BusError> {
        self.loans.iter_mut().for_each(|loan| *loan = None);
        if let Some(full) = told.out_of_memory {
            return Err(BusError::new(format!("processor `{}`", self.id), full));
        }
        if let Some(message) = result.err().or(told.refused) {
            self.errors.add(1);
            errors.push(ProcessError {
                processor: self.id.clone(),
                message,
            });
        }
        Ok(())
    }

    /// Whether a user paused the processor. A source's production interval
    /// is off the worker's wait set meanwhile, so it costs no wake-ups;
    /// code that sends for a processor on its own (a thread of a source)
    /// must hold back while this is true.
    pub fn paused(&self) -> bool {
        matches!(self.state, SlotState::Paused { .. })
    }

    /// Where a manual processor's frames go in this state.
    fn gate(&self) -> Gate {
        match self.state {
            SlotState::Running => Gate::Open,
            SlotState::Paused { .. } => Gate::Paused,
        }
    }

    /// Stops driving the processor and calls its `on_pause`; false when it
    /// was paused already, which changes nothing.
    pub fn pause(&mut self) -> bool {
        if self.paused() {
            return false;
        }
        self.state = SlotState::Paused {
            since: Instant::now(),
        };
        if let Drive::Manual(shared) = &self.drive {
            shared.set_gate(self.gate());
        }
        self.hook(|p| p.on_pause());
        true
    }

    /// Drives the processor again and calls its `on_resume`; false when it
    /// was not paused.
    pub fn resume(&mut self) -> bool {
        let SlotState::Paused { since } = self.state else {
            return false;
        };
        self.state = SlotState::Running;
        if let Drive::Manual(shared) = &self.drive {
            shared.set_gate(self.gate());
        }
        tracing::info!(
            "processor `{}` resumed after {} ms paused",
            self.id,
            since.elapsed().as_millis()
        );
        self.hook(|p| p.on_resume());
        true
    }

    /// Hands the processor config changes (`plexus set`) through its
    /// `on_config` hook, paused or not: a paused processor resumes with them.
    pub fn reconfigure(&mut self, changes_json: &str) -> ConfigOutcome {
        let outcome = self.hook(|p| p.on_config(changes_json));
        match &outcome {
            ConfigOutcome::Applied => {
                tracing::info!("processor `{}` took config {changes_json}", self.id)
            }
            ConfigOutcome::NoHook => {}
            ConfigOutcome::Failed { message } => tracing::warn!(
                "processor `{}` refused config {changes_json}: {message}",
                self.id
            ),
        }
        outcome
    }

    /// Calls a hook under the frame deadline: a hook that hangs is caught
    /// like a frame that does.
    fn hook<T>(&mut self, call: impl FnOnce(&mut dyn Processor) -> T) -> T {
        self.busy.enter(Call::Frame);
        let current = violations::current(&self.id);
        let result = call(self.processor.as_mut());
        drop(current);
        self.busy.leave();
        result
    }

    /// Live swap, in the process handing over: the processor's state and
    /// where its successor begins, after its last frame here.
    pub fn snapshot(&mut self) -> Result<ProcessorState, String> {
        let state = self.hook(|p| p.snapshot())?;
        if let Some(state) = &state {
            check_state_size(&self.id, state.len())?;
        }
        let seq = match self.inputs.first() {
            Some((_, tracker)) => tracker.next_seq(),
            None => self.outputs.first().map_or(0, |o| o.counters.sent.get()),
        };
        Ok(ProcessorState {
            processor: self.id.clone(),
            state,
            seq,
        })
    }

    /// Closes the outputs for a live swap, or opens them again (`bus`)
    /// when the successor failed.
    pub fn close_outputs(&self) {
        self.outputs.iter().for_each(OutputPort::close);
    }

    pub fn reopen_outputs(&self, bus: &Bus) -> Result<(), BusError> {
        self.outputs.iter().try_for_each(|o| o.reopen(bus))
    }

    /// Live swap, in the successor: restores the predecessor's state and
    /// takes each input over where the predecessor left it.
    pub fn take_over(&mut self, state: Option<&[u8]>) -> Result<(), String> {
        if let Some(state) = state {
            self.hook(|p| p.restore(state))?;
        }
        for (_, tracker) in &mut self.inputs {
            tracker.take_over();
        }
        Ok(())
    }

    /// Calls the processor's `teardown`.
    pub fn teardown(&mut self) {
        let _current = violations::current(&self.id);
        self.processor.teardown();
    }

    pub fn finished(&self) -> bool {
        self.frame_limit.is_some_and(|limit| self.produced >= limit)
    }

    /// The counters so far and the figures of the interval since the last
    /// call, which start over.
    pub fn stats(&mut self) -> ProcessorStats {
        let mut recent = LatencyHistogram::default();
        for (_, tracker) in &self.inputs {
            recent.absorb(tracker.recent_latency());
        }
        ProcessorStats {
            processor: self.id.clone(),
            recent_latency: recent.summary(),
            inputs: self.inputs.iter_mut().map(|(_, t)| t.stats()).collect(),
            outputs: self
                .outputs
                .iter()
                .map(|o| {
                    o.count_shm();
                    ipc_schemas::PortStats {
                        port: o.name.clone(),
                        frames: o.counters.sent.get(),
                        ..Default::default()
                    }
                })
                .collect(),
            errors: self.errors.get(),
            latency: self.latency.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuous_processor_needs_an_interval_or_a_clock_of_its_own() {
        let every = |ms| Mode::Continuous {
            interval_ms: Some(ms),
        };
        let clockless = Mode::Continuous { interval_ms: None };
        let own = Some(Duration::from_millis(33));
        assert_eq!(
            production_interval(every(10), None),
            Ok(Some(Duration::from_millis(10)))
        );
        assert_eq!(
            production_interval(every(10), own),
            Ok(Some(Duration::from_millis(10)))
        );
        assert_eq!(production_interval(clockless, own), Ok(own));
        assert_eq!(production_interval(Mode::Reactive, None), Ok(None));
        let message = production_interval(clockless, None).unwrap_err();
        assert!(message.contains("without `interval_ms`"), "{message}");
    }
}
