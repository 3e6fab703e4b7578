//! The handler of the system calls the seccomp filter traps (SIGSYS).
//! Under `strict` it says which call it was on stderr, in the one line the
//! supervisor's log forwarder looks for, and the worker dies of SIGSYS;
//! under `declared` it records the call (the first of each) and makes it
//! fail with EPERM, so the processor sees an error and the worker lives.
//!
//! A signal handler may only do async-signal-safe work: no allocation, no
//! locks. The record is a fixed array of atomics, one per trapped call,
//! drained by [`take_syscall_violations`] outside the handler.

use std::sync::atomic::{AtomicU8, Ordering};

use ipc_schemas::sandbox::{SandboxMode, SYSCALL_MARKER};

/// The system calls no worker needs, as (number, name): always trapped.
pub static NEVER_NEEDED: &[(i64, &str)] = &[
    (libc::SYS_ptrace, "ptrace"),
    (libc::SYS_process_vm_readv, "process_vm_readv"),
    (libc::SYS_process_vm_writev, "process_vm_writev"),
    (libc::SYS_mount, "mount"),
    (libc::SYS_umount2, "umount2"),
    (libc::SYS_pivot_root, "pivot_root"),
    (libc::SYS_chroot, "chroot"),
    (libc::SYS_kexec_load, "kexec_load"),
    (libc::SYS_kexec_file_load, "kexec_file_load"),
    (libc::SYS_bpf, "bpf"),
    (libc::SYS_keyctl, "keyctl"),
    (libc::SYS_add_key, "add_key"),
    (libc::SYS_request_key, "request_key"),
    (libc::SYS_init_module, "init_module"),
    (libc::SYS_finit_module, "finit_module"),
    (libc::SYS_delete_module, "delete_module"),
    (libc::SYS_reboot, "reboot"),
    (libc::SYS_swapon, "swapon"),
    (libc::SYS_swapoff, "swapoff"),
    (libc::SYS_perf_event_open, "perf_event_open"),
    (libc::SYS_setns, "setns"),
    (libc::SYS_unshare, "unshare"),
    (libc::SYS_open_by_handle_at, "open_by_handle_at"),
    (libc::SYS_name_to_handle_at, "name_to_handle_at"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_iopl, "iopl"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_ioperm, "ioperm"),
    (libc::SYS_acct, "acct"),
    (libc::SYS_settimeofday, "settimeofday"),
    (libc::SYS_clock_settime, "clock_settime"),
    (libc::SYS_clock_adjtime, "clock_adjtime"),
    (libc::SYS_adjtimex, "adjtimex"),
    (libc::SYS_quotactl, "quotactl"),
    (libc::SYS_userfaultfd, "userfaultfd"),
    (libc::SYS_fanotify_init, "fanotify_init"),
];

/// Calls trapped only with some arguments (raw and packet sockets).
static SOMETIMES: &[(i64, &str)] = &[(libc::SYS_socket, "socket")];

/// The most calls the handler tells apart.
const SLOTS: usize = 40;

/// What the handler knows of each trapped call, by its index in
/// [`NEVER_NEEDED`] then [`SOMETIMES`].
const UNSEEN: u8 = 0;
const RECORDED: u8 = 1;
const TAKEN: u8 = 2;

static SEEN: [AtomicU8; SLOTS] = [const { AtomicU8::new(UNSEEN) }; SLOTS];

/// The mode the handler acts for, set once before the filter exists.
static STRICT: AtomicU8 = AtomicU8::new(1);

fn trapped() -> impl Iterator<Item = &'static (i64, &'static str)> {
    NEVER_NEEDED.iter().chain(SOMETIMES)
}

/// Installs the handler for a worker in `mode`.
pub fn install(mode: SandboxMode) -> std::io::Result<()> {
    debug_assert!(NEVER_NEEDED.len() + SOMETIMES.len() <= SLOTS);
    STRICT.store(u8::from(mode == SandboxMode::Strict), Ordering::SeqCst);
    // SAFETY: a zeroed sigaction is a valid start; the handler has the
    // three-argument form SA_SIGINFO asks for and does only
    // async-signal-safe work.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The trapped calls recorded under `declared` since the last call, as
/// (number, name), each call once in the life of the process.
pub fn take_syscall_violations() -> Vec<(i64, &'static str)> {
    trapped()
        .zip(&SEEN)
        .filter(|(_, seen)| {
            seen.compare_exchange(RECORDED, TAKEN, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
        .map(|(&(nr, name), _)| (nr, name))
        .collect()
}

/// The part of a SIGSYS `siginfo_t` the kernel fills for seccomp, which
/// the `libc` crate does not name.
#[repr(C)]
struct SigsysInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    #[cfg(target_pointer_width = "64")]
    _pad: libc::c_int,
    call_addr: *mut libc::c_void,
    syscall: libc::c_int,
    arch: libc::c_uint,
}

extern "C" fn handler(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a SIGSYS siginfo, laid out as SigsysInfo.
    let nr = i64::from(unsafe { (*info.cast::<SigsysInfo>()).syscall });
    let index = trapped().position(|&(n, _)| n == nr);
    let name = index.map_or("unknown", |i| trapped().nth(i).expect("found").1);
    if STRICT.load(Ordering::SeqCst) == 0 && set_return(context, -i64::from(libc::EPERM)) {
        if let Some(i) = index {
            let _ = SEEN[i].compare_exchange(UNSEEN, RECORDED, Ordering::SeqCst, Ordering::SeqCst);
        }
        return;
    }
    die(nr, name);
}

/// Writes the marker line and dies of SIGSYS, without a core file.
fn die(nr: i64, name: &str) -> ! {
    let mut line = [0u8; 128];
    let len = marker(&mut line, nr, name);
    // SAFETY: write, setrlimit, sigaction, sigprocmask and raise are
    // async-signal-safe; every pointer is to a live local.
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGSYS, &default, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGSYS);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGSYS);
        libc::_exit(128 + libc::SIGSYS)
    }
}

/// The marker the supervisor recognises, `plexus-sandbox: system call
/// <name> (<nr>)\n`, written into `buf` without allocating; its length.
fn marker(buf: &mut [u8; 128], nr: i64, name: &str) -> usize {
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let n = bytes.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    put(SYSCALL_MARKER.as_bytes());
    put(name.as_bytes());
    put(b" (");
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = nr.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if nr < 0 {
        put(b"-");
    }
    put(&digits[at..]);
    put(b")\n");
    len
}

/// Makes the trapped call return `value`; false where the architecture's
/// register is not known here (the handler then kills instead).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn set_return(context: *mut libc::c_void, value: i64) -> bool {
    // SAFETY: the kernel passes the interrupted thread's ucontext; its
    // RAX is restored as the system call's result when the handler returns.
    unsafe {
        (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RAX as usize] = value;
    }
    true
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
fn set_return(context: *mut libc::c_void, value: i64) -> bool {
    // SAFETY: as above; x0 holds the result on aarch64.
    unsafe {
        (*context.cast::<libc::ucontext_t>()).uc_mcontext.regs[0] = value as u64;
    }
    true
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn set_return(_context: *mut libc::c_void, _value: i64) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_call_and_its_number() {
        let mut buf = [0u8; 128];
        let len = marker(&mut buf, 101, "ptrace");
        assert_eq!(&buf[..len], b"plexus-sandbox: system call ptrace (101)\n");
        let line = std::str::from_utf8(&buf[..len - 1]).unwrap();
        assert_eq!(ipc_schemas::sandbox::trapped_call(line), Some("ptrace"));
    }

    #[test]
    fn every_trapped_call_has_a_slot() {
        assert!(trapped().count() <= SLOTS);
    }
}
