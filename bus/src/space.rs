//! Shared memory is reserved as it is used (docs/ARCHITECTURE.md §3).
//! iceoryx2 maps its segments sparse and writes to them later, so on a full
//! `/dev/shm` the first write to a page kills the process with SIGBUS. Here
//! a segment about to be made is first checked against the room left, and
//! its pages are allocated (`posix_fallocate`) ahead of the loans that will
//! write them: running out is an error naming the port and the sizes, and a
//! process never dies of a later write.
//!
//! A data segment has a slot for every frame all subscribers could hold at
//! once, but iceoryx2 0.10 hands out a never-used slot only after every
//! lower one, and reuses the slot returned last first. So a publisher
//! writes only a prefix of its segment, as long as its peak of frames in
//! flight, and reserving that prefix and two slots more is as safe as
//! reserving the whole segment, at a fraction of the memory. A test below
//! checks that iceoryx2 writes nowhere else.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use iceoryx2::prelude::ZeroCopySend;
use iceoryx2::sample_mut_uninit::SampleMutUninit;
use ipc_schemas::Names;
use thiserror::Error;

use crate::error::BusError;
use crate::files::SHM_DIR;
use crate::keeper;
use crate::keeper::policy::ShmFile;
use crate::Ipc;

/// There is not enough room in `/dev/shm` for a segment.
#[derive(Debug, Clone, Error)]
#[error("not enough shared memory in /dev/shm for {what} (needs {} MiB, {} MiB free)", mib(*.needed), mib(*.free))]
pub struct ShmFull {
    pub what: String,
    pub needed: u64,
    pub free: u64,
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// Bytes left in `/dev/shm` for this user; unknown counts as plenty.
pub fn free() -> u64 {
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid C string, and a buffer statvfs fills on success.
    let rc = unsafe { libc::statvfs(c"/dev/shm".as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return u64::MAX;
    }
    // SAFETY: statvfs succeeded, so it filled the struct.
    let stat = unsafe { stat.assume_init() };
    stat.f_bavail.saturating_mul(stat.f_frsize)
}

/// A loaned sample, whose place in the segment the reservation follows.
pub trait Loaned {
    /// The address of the sample's payload.
    fn address(&self) -> usize;
}

impl<H: ZeroCopySend> Loaned for SampleMutUninit<Ipc, [MaybeUninit<u8>], H> {
    fn address(&self) -> usize {
        self.payload().as_ptr() as usize
    }
}

/// Bytes a slot holds beyond its payload: iceoryx2's chunk header, the user
/// header and alignment.
const SLOT_OVERHEAD: usize = 256;

/// An upper bound on where the first slot's payload starts in a data
/// segment's file: after iceoryx2's management header, a few hundred bytes.
const PREAMBLE: usize = 64 * 1024;

/// Never-used slots reserved beyond the highest one written. A loan takes at
/// most one never-used slot, and iceoryx2 writes the slot's header before
/// plexus sees the loan, so one would do; the second spares a reservation
/// at every new high.
const HEADROOM_SLOTS: usize = 2;

/// What a port's publisher has of shared memory, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShmUsage {
    /// Allocated for its data segment: pages of `/dev/shm` it holds.
    pub reserved: u64,
    /// Written by the frames it loaned: its peak of slots in use at once
    /// times the slot size.
    pub touched: u64,
}

/// One publisher's data segments, as iceoryx2 sizes them: a slot for every
/// frame its subscribers could hold, of the largest slice loaned so far
/// (growing in powers of two).
pub struct Segment {
    names: Names,
    what: String,
    /// The slice length the current segment holds.
    capacity: AtomicUsize,
    /// Loans whose payload ends at or below this address need no more
    /// reservation; 0 until the first loan from the current data file.
    covered: AtomicUsize,
    /// The end of the highest payload loaned from the current data file.
    highest: AtomicUsize,
    /// Locked while a larger segment is made or the reservation grows, so
    /// that two threads never both do it.
    current: Mutex<Option<DataFile>>,
}

/// The current data file and how much of it is reserved.
struct DataFile {
    name: OsString,
    len: usize,
    /// Bytes from the file's start that are allocated.
    reserved: usize,
    /// Bytes from one slot to the next, at most.
    stride: usize,
    /// The first slot's payload: the first loan's, since iceoryx2 hands out
    /// slots of a new segment from the first.
    base: Option<usize>,
}

impl Segment {
    /// Makes the publisher `make` for `what` (a port, a channel) in the
    /// runtime `names`, whose segment holds slices of `capacity` bytes, and
    /// reserves what its first loans need.
    pub fn create<T>(
        names: &Names,
        what: String,
        capacity: usize,
        make: impl FnOnce() -> Result<T, BusError>,
    ) -> Result<(Self, T), BusError> {
        let segment = Self {
            names: names.clone(),
            what,
            capacity: AtomicUsize::new(capacity),
            covered: AtomicUsize::new(0),
            highest: AtomicUsize::new(0),
            current: Mutex::new(None),
        };
        let made = segment.reserving(&mut segment.lock(), capacity, make)?;
        Ok((segment, made))
    }

    /// Loans `len` bytes with `loan`, reserving ahead of it when it reaches
    /// a new high. A loan longer than the segment holds makes iceoryx2 map a
    /// larger segment, whose first slots are reserved like the first's.
    pub fn loan<T: Loaned>(
        &self,
        len: usize,
        loan: impl FnOnce() -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        let loaned = if len <= self.capacity.load(Ordering::Acquire) {
            loan()?
        } else {
            let mut current = self.lock();
            let loaned = self.reserving(&mut current, len, loan)?;
            self.capacity
                .store(len.next_power_of_two(), Ordering::Release);
            loaned
        };
        let end = loaned.address() + len;
        self.highest.fetch_max(end, Ordering::Relaxed);
        if end > self.covered.load(Ordering::Acquire) {
            self.reach(loaned.address())?;
        }
        Ok(loaned)
    }

    /// How much shared memory the current data segment holds and has had
    /// written.
    pub fn usage(&self) -> ShmUsage {
        let highest = self.highest.load(Ordering::Relaxed);
        self.lock()
            .as_ref()
            .map_or_else(ShmUsage::default, |file| ShmUsage {
                reserved: file.reserved as u64,
                touched: file.base.map_or(0, |base| highest.saturating_sub(base)) as u64,
            })
    }

    fn lock(&self) -> MutexGuard<'_, Option<DataFile>> {
        // A poisoned lock still holds a consistent reservation: it records
        // an allocation only once it succeeded.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Extends the reservation so that the payload loaned at `address`, and
    /// the slots a next loan could take, are allocated before anything
    /// writes to them.
    fn reach(&self, address: usize) -> Result<(), BusError> {
        let mut current = self.lock();
        let Some(file) = current.as_mut() else {
            return Ok(());
        };
        let base = *file.base.get_or_insert(address);
        let highest = self.highest.load(Ordering::Relaxed);
        let Some(high) = highest
            .checked_sub(base)
            .filter(|&high| address >= base && high <= file.len)
        else {
            tracing::warn!(what = %self.what, "a loan outside its segment's first slots; reserving the whole segment");
            return self.extend(file, file.len, usize::MAX);
        };
        // The next never-used slot ends at most one stride past the highest
        // payload, seen from a first payload at most a preamble into the file.
        let want = high + file.stride * (1 + HEADROOM_SLOTS) + PREAMBLE;
        let covered = highest + file.stride * HEADROOM_SLOTS;
        self.extend(file, want, covered)
    }

    /// Allocates the file's first `want` bytes, then lets loans whose
    /// payload ends below `covered` pass without a look.
    fn extend(&self, file: &mut DataFile, want: usize, covered: usize) -> Result<(), BusError> {
        let (want, covered) = if want >= file.len {
            (file.len, usize::MAX)
        } else {
            (want, covered)
        };
        if want > file.reserved {
            allocate(&file.name, file.reserved, want).map_err(|needed| self.full(needed))?;
            file.reserved = want;
        }
        self.covered.store(covered, Ordering::Release);
        Ok(())
    }

    fn full(&self, needed: u64) -> BusError {
        BusError::plain(ShmFull {
            what: self.what.clone(),
            needed,
            free: free(),
        })
    }

    /// Runs `make`, which makes a data segment for slices of `len` bytes,
    /// and reserves the files it made: the data segment's first slots, and
    /// all of any other file (connections, small and written whole).
    fn reserving<T>(
        &self,
        current: &mut Option<DataFile>,
        len: usize,
        make: impl FnOnce() -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        // iceoryx2 sizes a resized segment's slots to the power of two
        // above header and payload, its first to just their sum.
        let stride = (len + SLOT_OVERHEAD).next_power_of_two();
        let first = stride * (1 + HEADROOM_SLOTS) + PREAMBLE;
        if first as u64 > free() {
            return Err(self.full(first as u64));
        }
        let before = runtime_files(&self.names);
        let made = make()?;
        // Other processes make files meanwhile too; each allocates its own.
        let prefix = self.names.file_prefix();
        let me = std::process::id();
        for name in runtime_files(&self.names).difference(&before) {
            let Some(kind) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(ShmFile::parse)
                .filter(|file| file.owners().contains(&me))
            else {
                continue;
            };
            let len = file_len(name);
            if matches!(kind, ShmFile::Data { .. }) {
                let mut file = DataFile {
                    name: name.clone(),
                    len,
                    reserved: 0,
                    stride,
                    base: None,
                };
                self.highest.store(0, Ordering::Relaxed);
                self.extend(&mut file, first, 0)?;
                *current = Some(file);
            } else {
                allocate(name, 0, len).map_err(|needed| self.full(needed))?;
            }
        }
        Ok(made)
    }
}

/// The size of the file `name` in `/dev/shm`; 0 when it is gone.
fn file_len(name: &OsStr) -> usize {
    std::fs::metadata(Path::new(SHM_DIR).join(name)).map_or(0, |m| m.len() as usize)
}

/// The names of the runtime's regular files in `/dev/shm`.
fn runtime_files(names: &Names) -> HashSet<OsString> {
    let prefix = names.file_prefix();
    std::fs::read_dir(SHM_DIR)
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default()
}

/// Allocates the bytes `from..to` of the file `name` in `/dev/shm`. Fails,
/// with the bytes wanted, only when `/dev/shm` has no room for them; a file
/// that vanished in the meantime (another process's, cleaned up) needs
/// nothing, nor does one this process may not write (another worker's,
/// which its maker allocates), as the keeper of a sandboxed worker says.
fn allocate(name: &OsStr, from: usize, to: usize) -> Result<(), u64> {
    if to <= from {
        return Ok(());
    }
    let Ok(file) = keeper::shm_open(name.as_bytes(), libc::O_WRONLY, 0).map(File::from) else {
        return Ok(());
    };
    let len = (to - from) as libc::off_t;
    // SAFETY: a valid fd; the caller keeps the range within the file, so
    // its size stays.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), from as libc::off_t, len) } {
        libc::ENOSPC => Err(len as u64),
        _ => Ok(()),
    }
}

impl BusError {
    /// Why this failed, when it is a full `/dev/shm`.
    pub fn shm_full(&self) -> Option<&ShmFull> {
        self.detail().downcast_ref::<ShmFull>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::RuntimeFiles;
    use crate::frames::{FramePublisher, FrameSubscriber, Received};
    use crate::settings::Opening;
    use crate::Bus;

    /// Removes the runtime's files however the test ends.
    struct Runtime(RuntimeFiles);

    impl Drop for Runtime {
        fn drop(&mut self) {
            self.0.remove_all();
        }
    }

    /// The byte ranges of `path` that hold pages: the reserved ones and
    /// any page written outside them.
    fn allocated(path: &Path) -> Vec<(u64, u64)> {
        let file = File::open(path).unwrap();
        let len = file.metadata().unwrap().len() as i64;
        let fd = file.as_raw_fd();
        let mut ranges = Vec::new();
        let mut at = 0;
        while at < len {
            // SAFETY: lseek on a valid fd; ENXIO (no data past `at`) is -1.
            let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
            if data < 0 {
                break;
            }
            // SAFETY: as above.
            let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
            ranges.push((data as u64, hole as u64));
            at = hole;
        }
        ranges
    }

    /// A port with one consumer that keeps up and one that never reads:
    /// iceoryx2 writes into the first slots only, as many as are in flight
    /// (8 queued for the stuck one, borrowed and loaned ones), and never a
    /// page beyond the reservation but its own bookkeeping at the file's end.
    #[test]
    fn a_port_writes_only_the_slots_it_reserved() {
        let id = format!("spacetest{}", std::process::id());
        let names = Names::new(&id).unwrap();
        let runtime = Runtime(RuntimeFiles::new(&names));
        runtime.0.claim(std::process::id()).unwrap();
        let bus = Bus::join(names, "space_test").unwrap();
        // Room for six, as for a port with observers: most slots stay unused.
        let opening = Opening::Member { subscribers: 6 };
        let publisher = FramePublisher::open(&bus, "p", "out", opening, 4096).unwrap();
        let reader = FrameSubscriber::open(&bus, "p", "out", opening).unwrap();
        let _stuck = FrameSubscriber::open(&bus, "p", "out", opening).unwrap();

        const LEN: usize = 100_000;
        for n in 0..200u8 {
            let mut frame = publisher.loan(LEN).unwrap();
            frame.bytes_mut().fill(n);
            publisher.send(frame).unwrap();
            while let Received::Frame(frame) = reader.receive().unwrap() {
                assert!(frame.payload().iter().all(|&b| b == n));
            }
        }

        let usage = publisher.shm_usage();
        let slot = (LEN + SLOT_OVERHEAD).next_power_of_two() as u64;
        let data = std::fs::read_dir(SHM_DIR)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.strip_prefix(runtime.0.prefix())
                    .and_then(ShmFile::parse)
                    .is_some_and(|f| matches!(f, ShmFile::Data { .. }))
            })
            .filter(|p| std::fs::metadata(p).unwrap().len() > 10 * slot)
            .collect::<Vec<_>>();
        assert_eq!(data.len(), 1, "one segment of 100 kB slots: {data:?}");
        let len = std::fs::metadata(&data[0]).unwrap().len();
        assert!(
            usage.touched > 8 * slot && usage.touched <= 11 * slot,
            "8 queued and the loaned one, give or take the borrowed: {usage:?}"
        );
        assert!(
            usage.reserved <= usage.touched + 4 * slot,
            "{usage:?}, slot {slot}"
        );
        assert!(usage.reserved * 3 < len, "{usage:?} of {len}");
        for (from, to) in allocated(&data[0]) {
            assert!(
                to <= usage.reserved || from + 64 * 1024 >= len,
                "pages {from}..{to} written outside the reservation {usage:?} of {len}"
            );
        }
    }
}
