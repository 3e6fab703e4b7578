//! Finding runtimes from another process: the ones running now, waiting —
//! on inotify, not by polling — for the next one to start, and the live
//! processes of one runtime, by the environment every worker gets.

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

/// Pids of the live (not zombie) processes whose environment names runtime
/// `runtime` (`PLEXUS_RUNTIME`) and, if given, worker `worker`
/// (`PLEXUS_WORKER`).
pub fn runtime_processes(runtime: &str, worker: Option<&str>) -> Vec<u32> {
    let runtime_var = format!("{}={runtime}", ipc_schemas::env::RUNTIME);
    let worker_var = worker.map(|w| format!("{}={w}", ipc_schemas::env::WORKER));
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let has = |var: &str| environ.split(|b| *b == 0).any(|kv| kv == var.as_bytes());
            has(&runtime_var) && worker_var.as_deref().is_none_or(has)
        })
        .filter(|&pid| process_stat(pid).is_some_and(|(state, _)| !matches!(state, 'Z' | 'X')))
        .collect()
}

/// The state letter and the parent pid of process `pid`, if it exists.
pub fn process_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …; comm may hold spaces and parentheses.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
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
