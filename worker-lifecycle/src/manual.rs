//! Manual processors own their timing: between `start` and `stop` they send
//! from threads (or callbacks) of their own through a [`Producer`], while the
//! worker's loop goes on waiting for commands. What those threads cause that
//! the loop must act on (a frame limit reached, a refused frame, a full
//! `/dev/shm`) is left in [`Shared`] and the loop is woken to read it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bus::counters::{Busy, Call, Counter};
use bus::space::ShmFull;
use bus::wake::Waker;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::FrameHeader;

use crate::outputs::{Loans, OutputError, OutputPort, Outputs, Ports};

/// Whether a manual processor's frames go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// `start` has not returned yet, or has and frames flow.
    Open,
    /// Paused by the operator: frames are dropped, not sent, so the
    /// sequence goes on without a gap when it resumes.
    Paused,
    /// The frame limit (`--frames`) is reached: further frames are dropped.
    Finished,
    /// `stop` returned: sending is an error.
    Closed,
}

/// What the producing threads left for the worker's loop.
#[derive(Default)]
pub(crate) struct News {
    /// Errors of the processor's threads (frames the outputs refused among
    /// them), to be reported as processor errors.
    pub errors: Vec<String>,
    pub out_of_memory: Option<ShmFull>,
    /// The frame limit was reached and the loop has not said so yet.
    pub finished: bool,
}

/// The part of a manual processor's slot its threads share.
pub(crate) struct Shared {
    ports: Arc<[OutputPort]>,
    gate: Mutex<Gate>,
    news: Mutex<News>,
    /// Frames this process may send on the first output, if limited.
    limit: Option<u64>,
    /// Frames sent on the first output by this process.
    sent: AtomicU64,
    busy: Busy,
    errors: Counter,
    /// Wakes the worker's loop (the same event its commands arrive on).
    wake: Waker,
}

/// A poisoned lock only means a producing thread panicked while holding
/// it; the state it guards is a plain value that stays valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(
        ports: Arc<[OutputPort]>,
        limit: Option<u64>,
        busy: Busy,
        errors: Counter,
        wake: Waker,
    ) -> Arc<Self> {
        Arc::new(Self {
            ports,
            gate: Mutex::new(Gate::Open),
            news: Mutex::new(News::default()),
            limit,
            sent: AtomicU64::new(0),
            busy,
            errors,
            wake,
        })
    }

    /// Moves the gate (the loop's side: start, pause, resume, stop). A
    /// finished or closed gate stays so.
    pub fn set_gate(&self, to: Gate) {
        let mut gate = lock(&self.gate);
        if matches!(*gate, Gate::Finished | Gate::Closed) && to != Gate::Closed {
            return;
        }
        *gate = to;
        match to {
            // The time since the last frame is what the supervisor watches.
            Gate::Open => self.busy.enter(Call::Between),
            Gate::Paused | Gate::Finished | Gate::Closed => self.busy.leave(),
        }
    }

    /// Finishes the source with its gate held: frames are dropped from now,
    /// and the loop is told.
    fn finish(&self, mut gate: MutexGuard<'_, Gate>) {
        *gate = Gate::Finished;
        self.busy.leave();
        drop(gate);
        self.tell(|news| news.finished = true);
    }

    /// Takes what the threads left since the last look.
    pub fn take_news(&self) -> News {
        std::mem::take(&mut *lock(&self.news))
    }

    /// Passes on what the outputs saw go wrong; a refusal counts as a
    /// processor error, as it does in a call.
    fn book(&self, outputs: Outputs<'_>) {
        let told = outputs.told();
        if told.refused.is_none() && told.out_of_memory.is_none() {
            return;
        }
        if told.refused.is_some() {
            self.errors.add(1);
        }
        self.tell(|news| {
            news.errors.extend(told.refused);
            if news.out_of_memory.is_none() {
                news.out_of_memory = told.out_of_memory;
            }
        });
    }

    /// Tells the loop; a failed wake-up only delays the news to the next
    /// command or stats tick.
    fn tell(&self, news: impl FnOnce(&mut News)) {
        news(&mut lock(&self.news));
        if let Err(e) = self.wake.wake() {
            tracing::warn!("cannot wake the worker's loop: {e}");
        }
    }
}

/// The output ports of a manual processor, for its own threads. Each
/// producer keeps its own loans: give every thread that sends a
/// [`clone`](Clone::clone), and loan and send on one port from one thread
/// at a time.
pub struct Producer {
    shared: Arc<Shared>,
    loans: Loans,
}

impl Clone for Producer {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared))
    }
}

impl Producer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let loans = shared.ports.iter().map(|_| None).collect();
        Self { shared, loans }
    }

    /// The number of output ports.
    pub fn len(&self) -> usize {
        self.loans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loans.is_empty()
    }

    /// The header the next frame carries unless the processor knows
    /// better: the sequence number after the last frame sent on the first
    /// output by any process of the processor, and the time now.
    pub fn next_header(&self) -> FrameHeader {
        FrameHeader {
            seq: self
                .shared
                .ports
                .first()
                .map_or(0, |p| p.counters.sent.get()),
            capture_ns: monotonic_ns(),
            ..FrameHeader::default()
        }
    }

    /// Loans `len` bytes on output `port` (see [`Outputs::loan`]).
    pub fn loan(&mut self, port: usize, len: usize) -> Result<&mut [u8], OutputError> {
        drop(gate(&self.shared, port)?);
        let mut outputs = Outputs::new(&self.shared.ports, &mut self.loans);
        let loaned = outputs
            .loan(port, len)
            .map(|bytes| (bytes.as_mut_ptr(), bytes.len()));
        self.shared.book(outputs);
        let (ptr, len) = loaned?;
        // SAFETY: the bytes are the loan now held in `self.loans[port]`,
        // which stays in place (shared memory) until the next loan or send
        // on the port, both of which need `&mut self`.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Sends the buffer loaned on `port` (see [`Outputs::send`]). Returns
    /// whether it went out: a paused or finished processor's frames are
    /// dropped, which is not an error.
    pub fn send(&mut self, port: usize, header: &FrameHeader) -> Result<bool, OutputError> {
        // Held across the send, so a pause or the limit takes effect
        // between two frames, never inside one.
        let gate = gate(&self.shared, port)?;
        if *gate != Gate::Open {
            self.loans[port] = None;
            return Ok(false);
        }
        let mut outputs = Outputs::new(&self.shared.ports, &mut self.loans);
        let sent = outputs.send(port, header);
        self.shared.book(outputs);
        sent?;
        self.shared.busy.enter(Call::Between);
        if port == 0 {
            self.count_first(gate);
        }
        Ok(true)
    }

    /// Counts a frame of the first output against the limit; the one that
    /// reaches it finishes the processor.
    fn count_first(&self, gate: MutexGuard<'_, Gate>) {
        let sent = self.shared.sent.fetch_add(1, Ordering::Relaxed) + 1;
        if self.shared.limit.is_some_and(|limit| sent >= limit) {
            self.shared.finish(gate);
        }
    }

    /// Reports an error of the processor's own threads (a device that
    /// stopped delivering, a frame that could not be read) as a processor
    /// error, as a failed call's would be.
    pub fn fail(&self, message: String) {
        self.shared.errors.add(1);
        self.shared.tell(|news| news.errors.push(message));
    }

    /// The source has sent its last frame (the end of its file): its
    /// further frames are dropped, and the worker tells the supervisor it
    /// finished, so a run ends once its frames are drained. Once is enough;
    /// after `stop` it changes nothing.
    pub fn finish(&self) {
        let gate = lock(&self.shared.gate);
        if matches!(*gate, Gate::Open | Gate::Paused) {
            self.shared.finish(gate);
        }
    }
}

/// The gate, locked, unless it is closed: then sending on `port` is an error
/// naming it.
fn gate(shared: &Shared, port: usize) -> Result<MutexGuard<'_, Gate>, OutputError> {
    let gate = lock(&shared.gate);
    if *gate != Gate::Closed {
        return Ok(gate);
    }
    Err(match shared.ports.get(port) {
        Some(output) => OutputError::Stopped(output.name.clone()),
        None => OutputError::NoSuchPort(port),
    })
}

impl Ports for Producer {
    fn loan(&mut self, port: usize, len: usize) -> Result<&mut [u8], OutputError> {
        Producer::loan(self, port, len)
    }

    fn send(&mut self, port: usize, header: &FrameHeader) -> Result<bool, OutputError> {
        Producer::send(self, port, header)
    }
}
