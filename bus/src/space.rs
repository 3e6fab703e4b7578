//! Shared memory is reserved as it is made (docs/ARCHITECTURE.md §3).
//! iceoryx2 maps its segments sparse and writes to them later, so on a full
//! `/dev/shm` the first write to a page kills the process with SIGBUS. Here
//! a segment about to be made is first checked against the room left, and
//! every page of the runtime's new files is allocated at once
//! (`posix_fallocate`), so that running out is an error naming the port
//! and the sizes, and a process never dies of a later write.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

use ipc_schemas::Names;
use thiserror::Error;

use crate::error::BusError;
use crate::files::SHM_DIR;
use crate::keeper;

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

/// One publisher's data segments, as iceoryx2 sizes them: `samples` slots
/// of the largest slice loaned so far, growing in powers of two.
pub struct Segment {
    names: Names,
    what: String,
    samples: usize,
    /// The slice length the current segment holds; locked while a larger
    /// one is made, so that two threads never both grow it.
    capacity: Mutex<usize>,
}

impl Segment {
    /// Makes the publisher `make` for `what` (a port, a channel) in the
    /// runtime `names`, whose segment holds `samples` slices of `capacity`
    /// bytes, and reserves its pages.
    pub fn create<T>(
        names: &Names,
        what: String,
        samples: usize,
        capacity: usize,
        make: impl FnOnce() -> Result<T, BusError>,
    ) -> Result<(Self, T), BusError> {
        let segment = Self {
            names: names.clone(),
            what,
            samples,
            capacity: Mutex::new(capacity),
        };
        let made = segment.reserving(capacity, make)?;
        Ok((segment, made))
    }

    /// Loans `len` bytes with `loan`. A loan longer than the segment holds
    /// makes iceoryx2 map a larger one, which is reserved like the first.
    pub fn loan<T>(
        &self,
        len: usize,
        loan: impl FnOnce() -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        // A poisoned lock still holds a valid length.
        let mut capacity = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
        if len <= *capacity {
            drop(capacity);
            return loan();
        }
        let loaned = self.reserving(len, loan)?;
        *capacity = len.next_power_of_two();
        Ok(loaned)
    }

    /// The bytes a segment of slices of `len` bytes takes, a little over
    /// what iceoryx2 maps (each slot also holds a header and padding).
    fn bytes_for(&self, len: usize) -> u64 {
        const SLOT_OVERHEAD: u64 = 256;
        (self.samples as u64) * (len.next_power_of_two() as u64 + SLOT_OVERHEAD)
    }

    fn reserving<T>(
        &self,
        len: usize,
        make: impl FnOnce() -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        let full = |needed, free| ShmFull {
            what: self.what.clone(),
            needed,
            free,
        };
        let needed = self.bytes_for(len);
        let room = free();
        if needed > room {
            return Err(BusError::plain(full(needed, room)));
        }
        let before = runtime_files(&self.names);
        let made = make()?;
        // Other processes make files meanwhile too; each allocates its own.
        let prefix = self.names.file_prefix();
        let me = std::process::id();
        let mine = |name: &&OsString| {
            name.to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(keeper::policy::ShmFile::parse)
                .is_some_and(|file| file.owners().contains(&me))
        };
        for name in runtime_files(&self.names).difference(&before).filter(mine) {
            allocate(name).map_err(|needed| BusError::plain(full(needed, free())))?;
        }
        Ok(made)
    }
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

/// Allocates every page of the file `name` in `/dev/shm`. Fails, with the
/// file's size, only when `/dev/shm` has no room for it; a file that
/// vanished in the meantime (another process's, cleaned up) needs nothing,
/// nor does one this process may not write (another worker's, which its
/// maker allocates), as the keeper of a sandboxed worker says.
fn allocate(name: &OsStr) -> Result<(), u64> {
    let Ok(file) = keeper::shm_open(name.as_bytes(), libc::O_WRONLY, 0).map(File::from) else {
        return Ok(());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Ok(());
    }
    // SAFETY: a valid fd; the range lies within the file, so its size stays.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) } {
        libc::ENOSPC => Err(len),
        _ => Ok(()),
    }
}

impl BusError {
    /// Why this failed, when it is a full `/dev/shm`.
    pub fn shm_full(&self) -> Option<&ShmFull> {
        self.detail().downcast_ref::<ShmFull>()
    }
}
