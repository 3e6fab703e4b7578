//! Starting processes: `execve`, `execv`, `execvp`, `posix_spawn`,
//! `posix_spawnp`, `fork`, `vfork`, `system`. Without the spawn permission
//! each fails at once with EPERM and records the violation (seccomp would
//! refuse the fork or exec too, but in a child, or without the program's
//! name). `vfork`, when allowed, is a real `fork`: a wrapper cannot return
//! twice into its caller's frame.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::AtomicPtr;

use ipc_schemas::sandbox::Denied;

use super::{failed, next, set_errno, text};
use crate::violations;

/// What a processor tried when it forked without saying what it would run.
const CHILD: &str = "a child process";

type Argv = *const *const c_char;
type Fork = unsafe extern "C" fn() -> libc::pid_t;
type Execvp = unsafe extern "C" fn(*const c_char, Argv) -> c_int;
type System = unsafe extern "C" fn(*const c_char) -> c_int;
type PosixSpawn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const c_char,
    *const libc::posix_spawn_file_actions_t,
    *const libc::posix_spawnattr_t,
    Argv,
    Argv,
) -> c_int;

static FORK: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static EXECVP: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static SYSTEM: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static POSIX_SPAWN: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static POSIX_SPAWNP: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

extern "C" {
    static environ: Argv;
}

/// The violation of starting `program` (a C string, or null: any child).
///
/// # Safety
/// `program` is null or a NUL-terminated string.
unsafe fn starting(program: *const c_char) -> Option<Denied> {
    // SAFETY: the caller's promise.
    let program = unsafe { text(program) }.unwrap_or_else(|| CHILD.to_string());
    Some(Denied::Spawn(program))
}

/// Whether spawning is refused here, recording it if so.
///
/// # Safety
/// As for [`starting`].
unsafe fn refused(program: *const c_char) -> bool {
    if violations::may_spawn() {
        return false;
    }
    // SAFETY: the caller's promise.
    violations::record(|| unsafe { starting(program) });
    true
}

/// `execve(2)`.
///
/// # Safety
/// As for `execve(2)`.
pub unsafe fn execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the caller's promise.
    if unsafe { refused(path) } {
        set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: the caller's arguments, checked by the kernel; it returns
    // only when it failed.
    let done = unsafe { libc::syscall(libc::SYS_execve, path, argv, envp) } as c_int;
    // SAFETY: the caller's promise.
    failed(super::errno(), || unsafe { starting(path) });
    done
}

/// `execv(3)`: `execve` with this process's environment.
///
/// # Safety
/// As for `execv(3)`.
pub unsafe fn execv(path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: the caller's promise; `environ` is libc's, valid while no
    // other thread changes the environment, as for libc's own execv.
    unsafe { execve(path, argv, environ) }
}

/// `execvp(3)`: libc's, which searches `PATH`.
///
/// # Safety
/// As for `execvp(3)`.
pub unsafe fn execvp(file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: the caller's promise.
    if unsafe { refused(file) } {
        set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: execvp's C signature.
    let Some(real) = (unsafe { next::<Execvp>(c"execvp", &EXECVP) }) else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: the caller's arguments, to libc's execvp.
    let done = unsafe { real(file, argv) };
    // SAFETY: the caller's promise.
    failed(super::errno(), || unsafe { starting(file) });
    done
}

/// `posix_spawn(3)` (`search`: `posix_spawnp`), which returns its error.
///
/// # Safety
/// As for `posix_spawn(3)`.
pub unsafe fn posix_spawn(
    search: bool,
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attributes: *const libc::posix_spawnattr_t,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: the caller's promise.
    if unsafe { refused(path) } {
        return libc::EPERM;
    }
    let (name, cache) = match search {
        false => (c"posix_spawn", &POSIX_SPAWN),
        true => (c"posix_spawnp", &POSIX_SPAWNP),
    };
    // SAFETY: posix_spawn's and posix_spawnp's C signature.
    let Some(real) = (unsafe { next::<PosixSpawn>(name, cache) }) else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's arguments, to libc's function.
    let error = unsafe { real(pid, path, actions, attributes, argv, envp) };
    // SAFETY: the caller's promise.
    failed(error, || unsafe { starting(path) });
    error
}

/// `fork(2)` and `vfork(2)`: libc's fork, which runs the fork handlers.
pub fn fork() -> libc::pid_t {
    // SAFETY: no program named.
    if unsafe { refused(std::ptr::null()) } {
        set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: fork's C signature.
    let Some(real) = (unsafe { next::<Fork>(c"fork", &FORK) }) else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: libc's fork.
    let pid = unsafe { real() };
    if pid < 0 {
        // SAFETY: no program named.
        failed(super::errno(), || unsafe { starting(std::ptr::null()) });
    }
    pid
}

/// `system(3)`: the command is what the violation names.
///
/// # Safety
/// As for `system(3)`.
pub unsafe fn system(command: *const c_char) -> c_int {
    // A null command asks whether a shell exists, starting none.
    // SAFETY: the caller's promise.
    if !command.is_null() && unsafe { refused(command) } {
        set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: system's C signature.
    let Some(real) = (unsafe { next::<System>(c"system", &SYSTEM) }) else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: the caller's argument, to libc's system.
    let status = unsafe { real(command) };
    if status == -1 {
        // SAFETY: the caller's promise.
        failed(super::errno(), || unsafe { starting(command) });
    }
    status
}

/// The exported definitions, expanded by [`interpose!`](crate::interpose!)
/// in a module that has imported [`super::sys`].
#[doc(hidden)]
#[macro_export]
macro_rules! interpose_spawn {
    () => {
        /// # Safety
        /// As for `execve(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn execve(
            path: *const c_char,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int {
            // SAFETY: the caller's arguments, as for execve(2).
            unsafe { $crate::interpose::spawn::execve(path, argv, envp) }
        }

        /// # Safety
        /// As for `execv(3)`.
        #[no_mangle]
        pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
            // SAFETY: the caller's arguments, as for execv(3).
            unsafe { $crate::interpose::spawn::execv(path, argv) }
        }

        /// # Safety
        /// As for `execvp(3)`.
        #[no_mangle]
        pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
            // SAFETY: the caller's arguments, as for execvp(3).
            unsafe { $crate::interpose::spawn::execvp(file, argv) }
        }

        /// # Safety
        /// As for `posix_spawn(3)`.
        #[no_mangle]
        pub unsafe extern "C" fn posix_spawn(
            pid: *mut pid_t,
            path: *const c_char,
            actions: *const posix_spawn_file_actions_t,
            attributes: *const posix_spawnattr_t,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int {
            // SAFETY: the caller's arguments, as for posix_spawn(3).
            unsafe {
                $crate::interpose::spawn::posix_spawn(
                    false, pid, path, actions, attributes, argv, envp,
                )
            }
        }

        /// # Safety
        /// As for `posix_spawnp(3)`.
        #[no_mangle]
        pub unsafe extern "C" fn posix_spawnp(
            pid: *mut pid_t,
            file: *const c_char,
            actions: *const posix_spawn_file_actions_t,
            attributes: *const posix_spawnattr_t,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int {
            // SAFETY: the caller's arguments, as for posix_spawnp(3).
            unsafe {
                $crate::interpose::spawn::posix_spawn(
                    true, pid, file, actions, attributes, argv, envp,
                )
            }
        }

        #[no_mangle]
        pub extern "C" fn fork() -> pid_t {
            $crate::interpose::spawn::fork()
        }

        #[no_mangle]
        pub extern "C" fn vfork() -> pid_t {
            $crate::interpose::spawn::fork()
        }

        /// # Safety
        /// As for `system(3)`.
        #[no_mangle]
        pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
            // SAFETY: the caller's argument, as for system(3).
            unsafe { $crate::interpose::spawn::system(command) }
        }
    };
}
