//! Ctrl-C and SIGTERM as something the supervisor's wait can wake on: the
//! handler writes a byte into a self-pipe whose read end is in the WaitSet.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result};
use bus::fd::WaitableFd;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe only loses a
        // byte, and one pending byte is all the reader needs.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
}

/// The read end of the signal pipe.
pub struct Signals {
    read: WaitableFd,
    _write: OwnedFd,
}

impl Signals {
    pub fn install() -> Result<Self> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .context("creating the signal pipe")?;
        PIPE_WRITE.store(write.as_raw_fd(), Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only calls write(2).
            unsafe { sigaction(signal, &action) }.context("installing signal handlers")?;
        }
        Ok(Self {
            read: WaitableFd::from_owned(read).context("signal pipe")?,
            _write: write,
        })
    }

    pub fn fd(&self) -> &WaitableFd {
        &self.read
    }

    /// Empties the pipe; returns how many signals arrived since last time.
    pub fn take(&self) -> usize {
        let mut buf = [0u8; 64];
        let mut total = 0;
        loop {
            // SAFETY: reading into a local buffer from our own non-blocking pipe.
            let n = unsafe { libc::read(self.read.raw(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return total;
            }
            total += n as usize;
        }
    }
}
