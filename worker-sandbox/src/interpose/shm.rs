//! `shm_open` and `shm_unlink`, through which iceoryx2 (and a processor's
//! `multiprocessing.shared_memory`) reach `/dev/shm`. A sandboxed native or
//! Python worker may only read `/dev/shm` (Landlock), so in a worker that
//! has a shared-memory keeper every open for writing, creation and removal
//! goes to the supervisor, which does it when the file is the worker's own
//! (`bus::keeper`, docs/ARCHITECTURE.md §15, frame integrity). Everywhere
//! else they behave as glibc's: `open("/dev/shm/" + name, flags |
//! O_NOFOLLOW | O_CLOEXEC, mode)` and `unlink`.
//!
//! A refusal is `EACCES`, recorded as a violation of the shared-memory
//! permission (or of reading, for a read-only open).

use std::ffi::{c_char, c_int, CStr};
use std::os::fd::IntoRawFd;

use ipc_schemas::sandbox::Denied;

use super::{failed, set_errno};

/// `shm_open(3)`, through the worker's keeper when it has one.
///
/// # Safety
/// As for `shm_open(3)`: `name` is a NUL-terminated string.
pub unsafe fn shm_open(name: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    if name.is_null() {
        set_errno(libc::EFAULT);
        return -1;
    }
    // SAFETY: the caller's promise.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    match bus::keeper::shm_open(name, flags, mode) {
        Ok(fd) => fd.into_raw_fd(),
        Err(e) => refused(e, name, bus::keeper::policy::writes(flags)),
    }
}

/// `shm_unlink(3)`, through the worker's keeper when it has one.
///
/// # Safety
/// As for `shm_unlink(3)`: `name` is a NUL-terminated string.
pub unsafe fn shm_unlink(name: *const c_char) -> c_int {
    if name.is_null() {
        set_errno(libc::EFAULT);
        return -1;
    }
    // SAFETY: the caller's promise.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    match bus::keeper::shm_unlink(name) {
        Ok(()) => 0,
        Err(e) => refused(e, name, true),
    }
}

/// Fails the call with `error`'s errno, recording a violation when the
/// refusal may be the sandbox's.
fn refused(error: std::io::Error, name: &[u8], writing: bool) -> c_int {
    let code = error.raw_os_error().unwrap_or(libc::EIO);
    set_errno(code);
    failed(code, || {
        let start = name.iter().position(|&b| b != b'/').unwrap_or(name.len());
        let path = format!("/dev/shm/{}", String::from_utf8_lossy(&name[start..]));
        Some(if writing {
            Denied::SharedMemory(path)
        } else {
            Denied::Read(path)
        })
    });
    -1
}

/// The exported definitions, expanded by [`interpose!`](crate::interpose!)
/// in a module that has imported [`super::sys`].
#[doc(hidden)]
#[macro_export]
macro_rules! interpose_shm {
    () => {
        /// # Safety
        /// As for `shm_open(3)`.
        #[no_mangle]
        pub unsafe extern "C" fn shm_open(
            name: *const c_char,
            flags: c_int,
            mode: mode_t,
        ) -> c_int {
            // SAFETY: the caller's arguments, as for shm_open(3).
            unsafe { $crate::interpose::shm::shm_open(name, flags, mode) }
        }

        /// # Safety
        /// As for `shm_unlink(3)`.
        #[no_mangle]
        pub unsafe extern "C" fn shm_unlink(name: *const c_char) -> c_int {
            // SAFETY: the caller's argument, as for shm_unlink(3).
            unsafe { $crate::interpose::shm::shm_unlink(name) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno() -> c_int {
        // SAFETY: the calling thread's errno.
        unsafe { *libc::__errno_location() }
    }

    /// Without a keeper (no `PLEXUS_SHM_KEEPER` in a test), as glibc's.
    #[test]
    fn without_a_keeper_they_behave_as_glibcs() {
        let name = format!("/plexus_shmtest{}_x\0", std::process::id());
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        // SAFETY: NUL-terminated names.
        let ours = unsafe { shm_open(name.as_ptr().cast(), flags, 0o600) };
        assert!(ours >= 0, "{}", std::io::Error::last_os_error());
        // SAFETY: as above, through glibc itself.
        let again = unsafe { libc::shm_open(name.as_ptr().cast(), libc::O_RDONLY, 0) };
        assert!(again >= 0);
        // SAFETY: F_GETFD only reads the descriptor's flags.
        let cloexec = unsafe { libc::fcntl(ours, libc::F_GETFD) } & libc::FD_CLOEXEC;
        assert_eq!(cloexec, libc::FD_CLOEXEC);
        // SAFETY: closes what we opened.
        unsafe { (libc::close(ours), libc::close(again)) };
        // SAFETY: as above.
        let twice = unsafe { shm_open(name.as_ptr().cast(), flags, 0o600) };
        assert_eq!((twice, errno()), (-1, libc::EEXIST));
        // SAFETY: as above.
        assert_eq!(unsafe { shm_unlink(name.as_ptr().cast()) }, 0);
        // SAFETY: as above.
        let gone = unsafe { shm_unlink(name.as_ptr().cast()) };
        assert_eq!((gone, errno()), (-1, libc::ENOENT));
        // SAFETY: as above.
        let bad = unsafe { shm_open(c"a/b".as_ptr(), libc::O_RDONLY, 0) };
        assert_eq!((bad, errno()), (-1, libc::EINVAL));
    }
}
