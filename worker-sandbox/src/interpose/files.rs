//! Opening files: `open`, `open64`, `openat`, `openat64`, `creat`,
//! `creat64`. A refused open is a violation of the read, write, device or
//! shared-memory permission, by the path and the open flags.

use std::ffi::{c_char, c_int};
use std::path::PathBuf;

use ipc_schemas::sandbox::Denied;

use super::{failed, text};

/// `openat(2)` as libc's, recording a refusal.
///
/// # Safety
/// As for `openat(2)`: `path` is a NUL-terminated string or null.
pub unsafe fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    // SAFETY: the caller's arguments, passed on to the kernel, which
    // checks them.
    let fd = unsafe { libc::syscall(libc::SYS_openat, dirfd, path, flags, mode) } as c_int;
    if fd < 0 {
        // SAFETY: `path` as the caller gave it.
        failed(super::errno(), || unsafe { opened(dirfd, path, flags) });
    }
    fd
}

/// `open(2)`: an `openat` from the working directory.
///
/// # Safety
/// As for [`openat`].
pub unsafe fn open(path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    // SAFETY: the caller's promise.
    unsafe { openat(libc::AT_FDCWD, path, flags, mode) }
}

/// `creat(2)`: an `open` for writing that creates or truncates.
///
/// # Safety
/// As for [`openat`].
pub unsafe fn creat(path: *const c_char, mode: libc::mode_t) -> c_int {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    // SAFETY: the caller's promise.
    unsafe { openat(libc::AT_FDCWD, path, flags, mode) }
}

/// What an open of `path` relative to `dirfd` with `flags` tried.
///
/// # Safety
/// `path` is a NUL-terminated string or null.
unsafe fn opened(dirfd: c_int, path: *const c_char, flags: c_int) -> Option<Denied> {
    // SAFETY: the caller's promise.
    let path = unsafe { text(path) }?;
    let writing =
        flags & libc::O_ACCMODE != libc::O_RDONLY || flags & (libc::O_CREAT | libc::O_TRUNC) != 0;
    Some(denied(absolute(dirfd, path), writing))
}

/// `path` made absolute: the user reads where it was, not where relative
/// to what.
fn absolute(dirfd: c_int, path: String) -> String {
    if path.starts_with('/') {
        return path;
    }
    let base = if dirfd == libc::AT_FDCWD {
        std::env::current_dir()
    } else {
        std::fs::read_link(format!("/proc/self/fd/{dirfd}"))
    };
    match base {
        Ok(base) => base.join(&path).display().to_string(),
        Err(_) => path,
    }
}

/// The permission an open of `path` lacked.
fn denied(path: String, writing: bool) -> Denied {
    let under = |dir: &str| PathBuf::from(&path).starts_with(dir);
    if under("/dev/shm") && writing {
        Denied::SharedMemory(path)
    } else if under("/dev") && !under("/dev/shm") {
        Denied::Device(path)
    } else if writing {
        Denied::Write(path)
    } else {
        Denied::Read(path)
    }
}

/// The exported definitions, expanded by [`interpose!`](crate::interpose!)
/// in a module that has imported [`super::sys`].
#[doc(hidden)]
#[macro_export]
macro_rules! interpose_files {
    () => {
        /// # Safety
        /// As for `open(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
            // SAFETY: the caller's arguments, as for open(2).
            unsafe { $crate::interpose::files::open(path, flags, mode) }
        }

        /// # Safety
        /// As for `open(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
            // SAFETY: the caller's arguments, as for open(2).
            unsafe { $crate::interpose::files::open(path, flags, mode) }
        }

        /// # Safety
        /// As for `openat(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn openat(
            dirfd: c_int,
            path: *const c_char,
            flags: c_int,
            mode: mode_t,
        ) -> c_int {
            // SAFETY: the caller's arguments, as for openat(2).
            unsafe { $crate::interpose::files::openat(dirfd, path, flags, mode) }
        }

        /// # Safety
        /// As for `openat(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn openat64(
            dirfd: c_int,
            path: *const c_char,
            flags: c_int,
            mode: mode_t,
        ) -> c_int {
            // SAFETY: the caller's arguments, as for openat(2).
            unsafe { $crate::interpose::files::openat(dirfd, path, flags, mode) }
        }

        /// # Safety
        /// As for `creat(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn creat(path: *const c_char, mode: mode_t) -> c_int {
            // SAFETY: the caller's arguments, as for creat(2).
            unsafe { $crate::interpose::files::creat(path, mode) }
        }

        /// # Safety
        /// As for `creat(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn creat64(path: *const c_char, mode: mode_t) -> c_int {
            // SAFETY: the caller's arguments, as for creat(2).
            unsafe { $crate::interpose::files::creat(path, mode) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permission_follows_from_path_and_flags() {
        let d = |p: &str, w| denied(p.to_string(), w);
        assert_eq!(d("/etc/passwd", false), Denied::Read("/etc/passwd".into()));
        assert_eq!(d("/tmp/x", true), Denied::Write("/tmp/x".into()));
        assert_eq!(d("/dev/video0", true), Denied::Device("/dev/video0".into()));
        assert_eq!(
            d("/dev/shm/plexus_x.data", true),
            Denied::SharedMemory("/dev/shm/plexus_x.data".into())
        );
        assert_eq!(
            d("/dev/shm/plexus_x.data", false),
            Denied::Read("/dev/shm/plexus_x.data".into())
        );
        assert_eq!(d("/devices", false), Denied::Read("/devices".into()));
    }

    #[test]
    fn a_relative_path_is_told_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute(libc::AT_FDCWD, "a/b".into()),
            cwd.join("a/b").display().to_string()
        );
        assert_eq!(absolute(5, "/x".into()), "/x");
    }
}
