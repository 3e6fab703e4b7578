//! Frame counters that outlive the process that counts them: each
//! processor's counts live in a small shared-memory file of its runtime,
//! updated at every frame boundary (docs/ARCHITECTURE.md §8). A crashed
//! worker loses no count, its successor goes on counting where it left off,
//! and the supervisor reads the figures whenever it needs them.
//!
//! The same file tells the supervisor whether the processor's process is
//! alive and what the processor is busy with ([`Busy`]): a worker's pulse
//! thread beats whatever its processor does, so a slow processor is judged
//! by its own deadlines, never taken for a dead process.
//!
//! The file is `/dev/shm/plexus_<rt>_counts_<processor>`, so it is removed
//! with the runtime's other files. It holds 64-bit words: the processor's
//! errors, its process's last pulse and what it is busy with, then per input
//! its frames, sequence gaps, out-of-order frames, the next sequence number
//! expected (0: none seen yet), the frames dropped while the processor
//! was paused, those that found no partner under its `sync:` and those a
//! `latency: low` wait caught as they arrived, then per output the frames
//! sent and the shared memory its segment has reserved and has had written
//! (`bus::space`). Only
//! one process of a processor runs at a time, so each word has one writer;
//! the supervisor only reads.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::Names;

use crate::files::SHM_DIR;
use crate::keeper;
use crate::BusError;

/// Words before the inputs': errors, pulse, busy.
const HEADER_WORDS: usize = 3;
const WORDS_PER_INPUT: usize = 7;
const WORDS_PER_OUTPUT: usize = 3;

/// The counters of one processor, mapped into this process.
#[derive(Clone)]
pub struct Counters {
    map: Arc<Mapping>,
    inputs: usize,
}

/// One counter of a [`Counters`] file.
#[derive(Clone)]
pub struct Counter {
    map: Arc<Mapping>,
    index: usize,
}

/// The counters of one input.
#[derive(Clone)]
pub struct InputCounters {
    pub frames: Counter,
    pub seq_gaps: Counter,
    pub out_of_order: Counter,
    /// The sequence number after the highest one seen; 0 before any.
    pub next_seq: Counter,
    /// Frames taken off the input while the processor was paused, and
    /// dropped rather than given to it.
    pub dropped_paused: Counter,
    /// Frames that found no partner under the processor's `sync:` policy.
    pub unmatched: Counter,
    /// Frames taken in a turn that a `latency: low` wait began by finding
    /// a frame as it arrived, without a wake-up.
    pub caught: Counter,
}

/// The counters of one output.
#[derive(Clone)]
pub struct OutputCounters {
    pub sent: Counter,
    /// Bytes of `/dev/shm` its current segment holds, as its producer last
    /// told (at each stats interval).
    pub shm_reserved: Counter,
    /// Bytes of that segment its frames have written: its peak of frames in
    /// flight, in slots.
    pub shm_touched: Counter,
}

impl Counters {
    /// Maps the counters of `processor`, which has `inputs` inputs and
    /// `outputs` outputs, creating them (all zero) if no process of the
    /// runtime did yet.
    pub fn open(
        names: &Names,
        processor: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<Self, BusError> {
        let name = format!("{}counts_{processor}", names.file_prefix());
        let action = || format!("opening the counters of `{processor}` ({SHM_DIR}/{name})");
        let words = HEADER_WORDS + inputs * WORDS_PER_INPUT + outputs * WORDS_PER_OUTPUT;
        let len = words * std::mem::size_of::<u64>();
        // A sandboxed worker may not write /dev/shm itself: its keeper opens
        // the file.
        let file = keeper::open_file(&name, true, 0o600).map_err(|e| BusError::new(action(), e))?;
        // Reserve the pages now, so that a full /dev/shm is an error here
        // rather than a SIGBUS at the first count.
        // SAFETY: a valid fd and a positive length; it only extends the file.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
        if rc != 0 {
            return Err(BusError::new(
                action(),
                std::io::Error::from_raw_os_error(rc),
            ));
        }
        // SAFETY: maps `len` bytes of a file at least that long, shared, so
        // every process sees the same words; the fd may close afterwards.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(BusError::new(action(), std::io::Error::last_os_error()));
        }
        Ok(Self {
            map: Arc::new(Mapping {
                ptr: ptr.cast(),
                words,
            }),
            inputs,
        })
    }

    pub fn errors(&self) -> Counter {
        self.counter(0)
    }

    /// Sets every word to 0: a processor added under the id of one that
    /// ran before (`plexus apply`) counts from nothing.
    pub fn clear(&self) {
        (0..self.map.words).for_each(|i| self.counter(i).set(0));
    }

    /// When the process of the processor last showed it is alive, in
    /// [`monotonic_ns`]; 0 before any process did.
    pub fn pulse(&self) -> Counter {
        self.counter(1)
    }

    pub fn busy(&self) -> Busy {
        Busy(self.counter(2))
    }

    pub fn input(&self, index: usize) -> InputCounters {
        assert!(index < self.inputs, "input {index} of {}", self.inputs);
        let base = HEADER_WORDS + index * WORDS_PER_INPUT;
        InputCounters {
            frames: self.counter(base),
            seq_gaps: self.counter(base + 1),
            out_of_order: self.counter(base + 2),
            next_seq: self.counter(base + 3),
            dropped_paused: self.counter(base + 4),
            unmatched: self.counter(base + 5),
            caught: self.counter(base + 6),
        }
    }

    pub fn output(&self, index: usize) -> OutputCounters {
        let base = HEADER_WORDS + self.inputs * WORDS_PER_INPUT + index * WORDS_PER_OUTPUT;
        OutputCounters {
            sent: self.counter(base),
            shm_reserved: self.counter(base + 1),
            shm_touched: self.counter(base + 2),
        }
    }

    fn counter(&self, index: usize) -> Counter {
        assert!(
            index < self.map.words,
            "counter {index} of {}",
            self.map.words
        );
        Counter {
            map: self.map.clone(),
            index,
        }
    }
}

impl Counter {
    fn word(&self) -> &AtomicU64 {
        // SAFETY: `index` is within the mapping (checked when the counter
        // was made), which lives as long as `map`; the words are 8-byte
        // aligned (the mapping is page-aligned) and only accessed atomically.
        unsafe { &*self.map.ptr.add(self.index) }
    }

    pub fn get(&self) -> u64 {
        self.word().load(Ordering::Acquire)
    }

    pub fn add(&self, n: u64) {
        self.word().fetch_add(n, Ordering::AcqRel);
    }

    pub fn sub(&self, n: u64) {
        self.word().fetch_sub(n, Ordering::AcqRel);
    }

    pub fn set(&self, value: u64) {
        self.word().store(value, Ordering::Release);
    }
}

/// A call into a processor that may take long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Creating it: `setup`, loading a model.
    Setup,
    /// One frame: `process`, or a source's `produce`.
    Frame,
    /// A manual processor's next frame: it produces on its own, so the time
    /// since it last sent is what says it is stuck.
    Between,
}

/// What a processor is busy with, in one word, so that the supervisor never
/// reads half an update: the [`Call`] in the top two bits, when it began
/// ([`monotonic_ns`], well below 2^62) in the rest; 0 when idle.
#[derive(Clone)]
pub struct Busy(Counter);

const CALL_SHIFT: u32 = 62;
const SINCE_MASK: u64 = (1 << CALL_SHIFT) - 1;

impl Busy {
    /// The processor enters `call` now.
    pub fn enter(&self, call: Call) {
        let tag = match call {
            Call::Setup => 1,
            Call::Frame => 2,
            Call::Between => 3,
        };
        self.0
            .set(tag << CALL_SHIFT | (monotonic_ns() & SINCE_MASK));
    }

    /// The processor returned.
    pub fn leave(&self) {
        self.0.set(0);
    }

    /// The call in progress and when it began, if any.
    pub fn get(&self) -> Option<(Call, u64)> {
        let word = self.0.get();
        let call = match word >> CALL_SHIFT {
            1 => Call::Setup,
            2 => Call::Frame,
            3 => Call::Between,
            _ => return None,
        };
        Some((call, word & SINCE_MASK))
    }
}

struct Mapping {
    ptr: *mut AtomicU64,
    words: usize,
}

// SAFETY: the mapping is plain shared memory accessed only through atomics.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `open` mapped; no `Counter` is left.
        unsafe { libc::munmap(self.ptr.cast(), self.words * std::mem::size_of::<u64>()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn counts_are_shared_between_mappings_and_outlive_them() {
        let names = Names::new("c0ffee01").unwrap();
        let path = PathBuf::from(SHM_DIR).join(format!("{}counts_p", names.file_prefix()));
        let writer = Counters::open(&names, "p", 2, 1).unwrap();
        writer.input(1).frames.add(3);
        writer.output(0).sent.add(5);
        writer.output(0).shm_touched.set(7);
        writer.errors().add(1);
        drop(writer);
        let reader = Counters::open(&names, "p", 2, 1).unwrap();
        assert_eq!(reader.input(1).frames.get(), 3);
        assert_eq!(reader.input(0).frames.get(), 0);
        assert_eq!(reader.output(0).sent.get(), 5);
        assert_eq!(reader.output(0).shm_reserved.get(), 0);
        assert_eq!(reader.output(0).shm_touched.get(), 7);
        assert_eq!(reader.errors().get(), 1);
        assert_eq!(reader.busy().get(), None);
        busy_round_trips(&reader);
        let mode = std::fs::metadata(&path).unwrap().permissions();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    fn busy_round_trips(reader: &Counters) {
        let before = monotonic_ns();
        reader.busy().enter(Call::Frame);
        let (call, since) = reader.busy().get().unwrap();
        assert_eq!(call, Call::Frame);
        assert!(since >= before && since <= monotonic_ns());
        reader.busy().enter(Call::Setup);
        assert_eq!(reader.busy().get().unwrap().0, Call::Setup);
        reader.busy().leave();
        assert_eq!(reader.busy().get(), None);
    }
}
