//! File descriptors a `WaitSet` can wait on beside iceoryx2 listeners: a
//! child's pidfd (readable when it exits) and the read end of a self-pipe
//! (readable when a signal arrived). They let the supervisor sleep until a
//! report, a death, a signal or a deadline, with no polling and no threads.

use std::os::fd::{IntoRawFd, OwnedFd};

use iceoryx2_bb_posix::file_descriptor::{FileDescriptor, FileDescriptorBased};
use iceoryx2_bb_posix::file_descriptor_set::SynchronousMultiplexing;

use crate::error::BusError;

#[derive(Debug)]
pub struct WaitableFd {
    fd: FileDescriptor,
}

impl WaitableFd {
    /// A pidfd of `pid`, which must be a child not yet reaped.
    pub fn pidfd(pid: u32) -> Result<Self, BusError> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if raw < 0 {
            return Err(BusError::new(
                format!("pidfd_open({pid})"),
                std::io::Error::last_os_error(),
            ));
        }
        Self::from_raw(raw as i32)
    }

    /// Takes ownership of `fd`.
    pub fn from_owned(fd: OwnedFd) -> Result<Self, BusError> {
        Self::from_raw(fd.into_raw_fd())
    }

    fn from_raw(raw: i32) -> Result<Self, BusError> {
        let fd = FileDescriptor::new(raw)
            .ok_or_else(|| BusError::new(format!("fd {raw}"), "not a valid file descriptor"))?;
        Ok(Self { fd })
    }

    pub fn raw(&self) -> i32 {
        // SAFETY: the handle is only read from, never closed, by callers.
        unsafe { self.fd.native_handle() }
    }
}

impl FileDescriptorBased for WaitableFd {
    fn file_descriptor(&self) -> &FileDescriptor {
        &self.fd
    }
}

impl SynchronousMultiplexing for WaitableFd {}

/// The type of the socket `fd` (`SOCK_STREAM`, `SOCK_SEQPACKET`, …), or
/// `None` when it is no socket.
pub fn socket_type(fd: std::os::fd::RawFd) -> Option<libc::c_int> {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `kind`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut kind).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(kind)
}
