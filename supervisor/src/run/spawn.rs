//! Starting worker processes: exec (never a bare fork), each in its own
//! process group, killed by the kernel if the supervisor dies, confined by
//! its Landlock ruleset from before exec (§15), with every line it prints
//! logged under its name, and the line a worker killed for a forbidden
//! system call writes remembered.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ipc_schemas::{env, Names};

use super::recipe::Recipe;
use crate::journal::{LogSink, Stream};
use crate::sandbox::keeper;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

/// Spawns a process of `recipe` as worker `worker` of runtime
/// `runtime_id`. It runs in `dir`, the pipeline's directory, so relative
/// paths in processor configs mean the same as relative paths in the
/// pipeline file.
pub fn spawn(
    recipe: &Recipe,
    runtime_id: &str,
    worker: &str,
    dir: &Path,
    log: Output,
) -> Result<Child> {
    let mut command = recipe.command();
    let parent = std::process::id();
    // Built here: after the fork the child may not allocate.
    let mut ruleset = match &recipe.policy {
        Some(policy) => {
            let root = bus::files::RuntimeFiles::new(&Names::new(runtime_id)?).root_dir();
            let ruleset = policy
                .ruleset(&root)
                .with_context(|| format!("building the sandbox of worker `{worker}`"))?;
            Some(ruleset)
        }
        None => None,
    };
    command
        .env(env::RUNTIME, runtime_id)
        .env(env::WORKER, worker)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let keeper = keeper::attach(&mut command, recipe.policy.as_ref(), runtime_id, worker)?;
    // SAFETY: between fork and exec the child may only make async-signal-safe
    // calls: prctl, getppid and _exit are, and `?` turns an Errno into an
    // io::Error without allocating. `restrict_self` makes two system calls
    // (no_new_privs, landlock_restrict_self) and closes the ruleset's fd;
    // its errors carry an errno, not an allocation.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The supervisor may have died before the death signal was armed.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            if let Some(ruleset) = ruleset.take() {
                if ruleset.restrict_self().is_err() {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", command.get_program().to_string_lossy()))?;
    if let Some(keeper) = keeper {
        keeper.register(child.id());
    }
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    forward_lines(
        stdout,
        worker.to_string(),
        log.clone(),
        Stream::Stdout,
        None,
    );
    let stderr = child.stderr.take().expect("piped");
    TRAPS.watch(pid);
    forward_lines(stderr, worker.to_string(), log, Stream::Stderr, Some(pid));
    Ok(child)
}

/// The system call a worker process was killed for, as the line it wrote
/// before it died said (see `worker-sandbox`): its stderr is read to its
/// end first, for at most a second. Call it when process `pid` died of
/// SIGSYS.
pub fn trapped_call(pid: u32) -> Option<String> {
    TRAPS.take(pid, Duration::from_secs(1))
}

/// Forgets what process `pid`'s stderr said, once it exited otherwise.
pub fn forget_trap(pid: u32) {
    TRAPS.take(pid, Duration::ZERO);
}

/// What the stderr of each worker process told of a trapped system call,
/// by pid, until the supervisor takes it. An entry ends with its stream
/// when no marker came.
struct Traps {
    by_pid: Mutex<BTreeMap<u32, Trap>>,
    changed: Condvar,
}

#[derive(Default)]
struct Trap {
    call: Option<String>,
    closed: bool,
}

static TRAPS: Traps = Traps {
    by_pid: Mutex::new(BTreeMap::new()),
    changed: Condvar::new(),
};

impl Traps {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Trap>> {
        self.by_pid.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watch(&self, pid: u32) {
        self.lock().insert(pid, Trap::default());
    }

    fn record(&self, pid: u32, call: &str) {
        if let Some(trap) = self.lock().get_mut(&pid) {
            trap.call.get_or_insert_with(|| call.to_string());
        }
    }

    /// The stream of `pid` ended: an entry without a call goes.
    fn close(&self, pid: u32) {
        let mut traps = self.lock();
        match traps.get_mut(&pid) {
            Some(trap) if trap.call.is_some() => trap.closed = true,
            _ => {
                traps.remove(&pid);
            }
        }
        self.changed.notify_all();
    }

    fn take(&self, pid: u32, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        let mut traps = self.lock();
        loop {
            let closed = traps.get(&pid).is_none_or(|t| t.closed);
            let left = deadline.saturating_duration_since(Instant::now());
            if closed || left.is_zero() {
                return traps.remove(&pid).and_then(|t| t.call);
            }
            traps = self
                .changed
                .wait_timeout(traps, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
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
/// The stderr of process `trapped` is watched for the marker of a trapped
/// system call.
fn forward_lines(
    stream: impl Read + Send + 'static,
    worker: String,
    log: Output,
    from: Stream,
    trapped: Option<u32>,
) {
    std::thread::Builder::new()
        .name(format!("log-{worker}"))
        .spawn(move || {
            let mut reader = BufReader::new(stream).take(0);
            let mut buf = Vec::with_capacity(256);
            loop {
                buf.clear();
                reader.set_limit(LINE_LIMIT as u64);
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => {
                        if let Some(pid) = trapped {
                            TRAPS.close(pid);
                        }
                        return;
                    }
                    Ok(_) => {}
                }
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                let line = String::from_utf8_lossy(&buf);
                if let Some((pid, call)) = trapped.zip(ipc_schemas::sandbox::trapped_call(&line)) {
                    TRAPS.record(pid, call);
                }
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
