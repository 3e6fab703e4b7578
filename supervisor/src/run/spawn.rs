//! Starting worker processes: exec (never a bare fork), each in its own
//! process group, killed by the kernel if the supervisor dies, with every
//! line it prints logged under its name.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use ipc_schemas::env;

use crate::journal::{LogSink, Stream};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

/// Spawns `command` as worker `worker` of runtime `runtime_id`. It runs in
/// `dir`, the pipeline's directory, so relative paths in processor configs
/// mean the same as relative paths in the pipeline file.
pub fn spawn(
    mut command: Command,
    runtime_id: &str,
    worker: &str,
    dir: &Path,
    log: Output,
) -> Result<Child> {
    let parent = std::process::id();
    command
        .env(env::RUNTIME, runtime_id)
        .env(env::WORKER, worker)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: between fork and exec the child may only make async-signal-safe
    // calls: prctl, getppid and _exit are, and `?` turns an Errno into an
    // io::Error without allocating.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The supervisor may have died before the death signal was armed.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", command.get_program().to_string_lossy()))?;
    let stdout = child.stdout.take().expect("piped");
    forward_lines(stdout, worker.to_string(), log.clone(), Stream::Stdout);
    let stderr = child.stderr.take().expect("piped");
    forward_lines(stderr, worker.to_string(), log, Stream::Stderr);
    Ok(child)
}

/// Where one process of a worker prints to: the run journal's log of the
/// worker, marked with the process's generation (0 for the first).
#[derive(Clone)]
pub struct Output {
    pub sink: LogSink,
    pub generation: u32,
}

/// The longest line a worker's output is kept as; a longer one is cut into
/// pieces of this size, so a worker printing without newlines cannot make
/// the supervisor hold its output in memory.
const LINE_LIMIT: usize = 64 << 10;

/// Logs each line of `stream` prefixed by the worker's name, and keeps it in
/// the journal, on a thread of its own that ends when the worker closes it.
fn forward_lines(stream: impl Read + Send + 'static, worker: String, log: Output, from: Stream) {
    std::thread::Builder::new()
        .name(format!("log-{worker}"))
        .spawn(move || {
            let mut reader = BufReader::new(stream).take(0);
            let mut buf = Vec::with_capacity(256);
            loop {
                buf.clear();
                reader.set_limit(LINE_LIMIT as u64);
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                let line = String::from_utf8_lossy(&buf);
                tracing::info!(target: "worker", "[{worker}] {line}");
                log.sink.line(&worker, log.generation, from, &line);
            }
        })
        .expect("spawning a log thread");
}

/// Kills the whole process group of a worker.
pub fn kill_group(pid: u32) {
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

/// Starts the runtime's reaper: `plexus reap <runtime> <pid>`, in a process
/// group of its own and without a death signal, so that it outlives a
/// supervisor killed with SIGKILL (whose workers die with it, of their
/// death signal) and gives the runtime's shared memory back at once, with no
/// later `plexus` command needed. It holds no pipe of the supervisor's
/// stdout, so a reader of `plexus run`'s output sees it end with the run.
pub fn start_reaper(runtime_id: &str) -> Result<()> {
    let exe = std::env::current_exe().context("finding the plexus executable")?;
    Command::new(exe)
        .args(["reap", runtime_id, &std::process::id().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the runtime's reaper")?;
    Ok(())
}

/// The reaper's work: waits for `supervisor` to end, then for every worker
/// of `runtime` (found by their environment, as the kernel has already sent
/// them their death signal), then removes the runtime's files. After a
/// normal end the supervisor has removed them itself and nothing is left.
pub fn reap(runtime: &str, supervisor: u32) -> Result<i32> {
    // The supervisor is our parent while it lives: if it is not, it is gone
    // already, and the pid may belong to another process by now.
    if std::os::unix::process::parent_id() == supervisor {
        wait_for_exit(supervisor, None);
    }
    let deadline = std::time::Instant::now() + REAP_WAIT;
    for pid in bus::discovery::runtime_processes(runtime, None) {
        wait_for_exit(pid, Some(deadline));
    }
    let names = ipc_schemas::Names::new(runtime)?;
    let removed = bus::files::RuntimeFiles::new(&names).remove_all();
    if removed > 0 {
        tracing::info!(
            "removed the shared memory of runtime {runtime} ({removed} entries): its supervisor ended without removing it"
        );
    }
    Ok(0)
}

/// How long the reaper waits for workers that were sent SIGKILL.
const REAP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sleeps on a pidfd of `pid` until it exits (or `deadline` passes).
pub fn wait_for_exit(pid: u32, deadline: Option<std::time::Instant>) {
    let Ok(fd) = bus::fd::WaitableFd::pidfd(pid) else {
        return; // already gone
    };
    loop {
        let timeout = deadline.map_or(-1, |d| {
            d.saturating_duration_since(std::time::Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32
        });
        let mut pfd = libc::pollfd {
            fd: fd.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one pollfd we own, for the length given.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if rc >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}
