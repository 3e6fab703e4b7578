//! The active part of a `latency: low` wait (docs/ARCHITECTURE.md §4, *Low
//! latency*): in the window around an input's predicted arrival the worker
//! polls the input's shared memory instead of sleeping, so a frame costs
//! no wake-up. The window is bounded (`arrival`), and the worker still
//! looks at its wait set every [`LOOK_EVERY_NS`], so commands, heartbeats
//! and other inputs are never kept waiting by the polling.

use ipc_schemas::frame::monotonic_ns;

use crate::arrival::Watch;
use crate::error::WorkerError;
use crate::ports::Slot;

/// How often polling looks at the wait set (one `select` without a
/// timeout, about 1 µs here): a command or a due timer waits at most this.
const LOOK_EVERY_NS: u64 = 20_000;

/// How long polling spins on the CPU before it yields it between looks: a
/// producer sharing the core then gets it. Spinning the whole window
/// instead caught 4 % of frames against 15–45 % on this loaded VM: the
/// spinning consumer kept its producer from publishing.
const SPIN_NS: u64 = 20_000;

/// `spin_loop` hints between two looks at the inputs while spinning: about
/// a µs on this machine.
const SPINS: u32 = 32;

/// An input polled now, by its index among the worker's inputs, with its
/// slot and index in the slot, and when its window closes.
pub struct Polled {
    pub k: usize,
    pub slot: usize,
    pub input: usize,
    pub until: u64,
}

/// What the wait does next about the `latency: low` inputs.
pub enum Next {
    /// None is expected soon: sleep until a wake-up.
    Sleep,
    /// Sleep until this time at the latest, when a window opens.
    SleepUntil(u64),
    /// Poll these now.
    Poll(Vec<Polled>),
}

/// What the wait does next, for inputs at `places` (slot, input) at `now`.
pub fn next(places: &[(usize, usize)], slots: &[Slot], now: u64) -> Next {
    let mut polled = Vec::new();
    let mut opens = None::<u64>;
    for (k, &(slot, input)) in places.iter().enumerate() {
        match slots[slot].watch(input, now) {
            Watch::Asleep => {}
            Watch::OpensAt(t) => opens = Some(opens.map_or(t, |o| o.min(t))),
            Watch::PollUntil(until) => polled.push(Polled {
                k,
                slot,
                input,
                until,
            }),
        }
    }
    match (polled.is_empty(), opens) {
        (false, _) => Next::Poll(polled),
        (true, Some(t)) => Next::SleepUntil(t),
        (true, None) => Next::Sleep,
    }
}

/// How polling ended.
pub enum Polling {
    /// Frames arrived on these inputs (indices among the worker's inputs).
    Caught(Vec<usize>),
    /// `look` found something else ready.
    Looked,
    /// Every window closed with no frame: it is late, or lost.
    Closed,
}

/// Polls `polled` until a frame arrives or every window closes, calling
/// `look` (true: something is ready) every [`LOOK_EVERY_NS`].
pub fn poll(
    polled: &[Polled],
    slots: &[Slot],
    mut look: impl FnMut() -> Result<bool, WorkerError>,
) -> Result<Polling, WorkerError> {
    let started = monotonic_ns();
    let mut next_look = started + LOOK_EVERY_NS;
    loop {
        let now = monotonic_ns();
        let caught = arrived(polled, slots, now)?;
        if !caught.is_empty() {
            return Ok(Polling::Caught(caught));
        }
        if polled.iter().all(|p| now > p.until) {
            return Ok(Polling::Closed);
        }
        if now >= next_look {
            if look()? {
                // A frame that arrived since is still caught: its wake-up
                // may have come before the look.
                let caught = arrived(polled, slots, now)?;
                return Ok(match caught.is_empty() {
                    true => Polling::Looked,
                    false => Polling::Caught(caught),
                });
            }
            next_look = now + LOOK_EVERY_NS;
        }
        if now - started < SPIN_NS {
            (0..SPINS).for_each(|_| std::hint::spin_loop());
        } else {
            std::thread::yield_now();
        }
    }
}

/// The inputs among `polled` whose window is open at `now` and that have a
/// frame waiting.
fn arrived(polled: &[Polled], slots: &[Slot], now: u64) -> Result<Vec<usize>, WorkerError> {
    let mut caught = Vec::new();
    for p in polled.iter().filter(|p| now <= p.until) {
        if slots[p.slot].has_frames(p.input)? {
            caught.push(p.k);
        }
    }
    Ok(caught)
}

/// Makes this thread's timed sleeps (the alarm that opens a window) end
/// when asked rather than up to the kernel's default 50 µs later, so that
/// the wait is awake when a window opens, not after the frame it was
/// opened for.
pub fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes a value and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    if rc != 0 {
        tracing::warn!(
            "the timer slack stays at its default: {}",
            std::io::Error::last_os_error()
        );
    }
}
