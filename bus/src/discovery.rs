//! Finding runtimes from another process: the ones running now, and waiting
//! — on inotify, not by polling — for the next one to start.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::files::{RuntimeFiles, SHM_DIR};

/// Waits for the first live runtime not in `known`; returns (id, pid).
pub fn wait_for_runtime(known: &[String]) -> io::Result<(String, u32)> {
    // Watch before looking, so a runtime that starts in between is not missed.
    let arrivals = Arrivals::watch()?;
    loop {
        if let Some(found) = RuntimeFiles::live_runtimes()
            .into_iter()
            .find(|(id, _)| !known.contains(id))
        {
            return Ok(found);
        }
        arrivals.wait()?;
    }
}

/// An inotify watch on files renamed into the shared-memory directory, which
/// is how a runtime's owner file appears.
struct Arrivals {
    fd: OwnedFd,
}

impl Arrivals {
    fn watch() -> io::Result<Self> {
        // SAFETY: inotify_init1 takes only flags and touches no memory of ours.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned by inotify_init1 and checked, so it
        // is an open fd nothing else owns; the OwnedFd alone closes it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let dir = CString::new(SHM_DIR).expect("no NUL in a constant path");
        // SAFETY: `dir` is a valid C string for the duration of the call.
        let wd = unsafe { libc::inotify_add_watch(raw, dir.as_ptr(), libc::IN_MOVED_TO) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd })
    }

    /// Blocks until at least one file arrived, and consumes the notices.
    fn wait(&self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a buffer we own, of the length given.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}
