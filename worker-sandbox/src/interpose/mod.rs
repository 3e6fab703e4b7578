//! The libc functions processors reach files, sockets and processes
//! through, interposed in the native and Python worker executables
//! (docs/ARCHITECTURE.md §15, *Messages*): each does the real operation
//! and, when the sandbox refused it, records a violation naming the
//! processor and what it tried ([`crate::violations`]); the spawning ones
//! refuse at once when spawning is not declared.
//!
//! Why a macro: the `#[no_mangle]` definitions must exist in those two
//! executables only. A cargo feature of this crate would not do: cargo
//! unifies a dependency's features over all packages of one build, so
//! `cargo build --workspace` would hand them to the Deno bridge too, a
//! cdylib, which exports every `#[no_mangle]` symbol it links. So this
//! crate holds the behaviour as plain functions, and [`interpose!`](crate::interpose!)
//! expands, in the binary that invokes it, to the definitions forwarding
//! to them; `worker-sandbox/exported.list`, given to the linker by the
//! build scripts of both workers (`--dynamic-list`), puts them in the
//! executable's dynamic symbol table, so libpython, its extension modules
//! and Rust plugin libraries bind to them as the executable's own code does.
//!
//! They run in every such call of the process, from the interpreter's
//! start on, so each keeps three rules: the real operation is a raw system
//! call, or libc's own definition found with `dlsym(RTLD_NEXT)`, never a
//! function interposed here; nothing is allocated unless the call failed;
//! errno is left as the real call left it. `open` and its kin are variadic
//! in C; they are defined with the mode as a fixed third argument, which
//! the x86-64 and AArch64 Linux calling conventions pass the same way.
//! Not interposed (a refusal there reads as the plain error): the
//! `_FORTIFY_SOURCE` variants (`__open_2` …) and libc's internal opens
//! (`fopen`).

pub mod files;
pub mod net;
pub mod shm;
pub mod spawn;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

use ipc_schemas::sandbox::Denied;

use crate::violations;

/// The C types of the interposed functions' signatures, for the
/// definitions [`interpose!`](crate::interpose!) expands to.
#[doc(hidden)]
pub mod sys {
    pub use libc::{
        mode_t, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t, sockaddr, socklen_t,
    };
    pub use std::ffi::{c_char, c_int};
}

/// Defines, in the invoking executable, every libc function this crate
/// interposes. Only the native and Python workers invoke it, once, at the
/// top of their `main.rs`.
#[macro_export]
macro_rules! interpose {
    () => {
        /// The interposed libc functions (worker-sandbox's `interpose`).
        mod interposed {
            use $crate::interpose::sys::*;
            $crate::interpose_files!();
            $crate::interpose_net!();
            $crate::interpose_spawn!();
            $crate::interpose_shm!();
        }
    };
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno, which libc keeps valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// After a call that failed with `code` (an errno value): records the
/// violation `denied` describes when the refusal may be the sandbox's
/// (EACCES, EPERM). Leaves errno as it was.
fn failed(code: c_int, denied: impl FnOnce() -> Option<Denied>) {
    if code == libc::EACCES || code == libc::EPERM {
        let saved = errno();
        violations::record(denied);
        set_errno(saved);
    }
}

/// The text of a C string the caller passed; `None` for a null pointer.
///
/// # Safety
/// `text` is null or a valid NUL-terminated string.
unsafe fn text(text: *const c_char) -> Option<String> {
    if text.is_null() {
        return None;
    }
    // SAFETY: non-null, so a NUL-terminated string, per the caller.
    let text = unsafe { CStr::from_ptr(text) };
    Some(text.to_string_lossy().into_owned())
}

/// libc's definition of `name`, the next after this executable's, looked
/// up once into `cache`: for calls whose bookkeeping a raw system call
/// would skip (fork's handlers, posix_spawn's).
///
/// # Safety
/// `F` is the function pointer type of `name`'s C signature.
unsafe fn next<F: Copy>(name: &CStr, cache: &AtomicPtr<c_void>) -> Option<F> {
    assert_eq!(size_of::<F>(), size_of::<*mut c_void>());
    let mut found = cache.load(Ordering::Acquire);
    if found.is_null() {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT from this
        // executable's code finds libc's definition.
        found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        cache.store(found, Ordering::Release);
    }
    // SAFETY: a non-null `found` is `name`'s address, and `F` its type.
    (!found.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&found) })
}
