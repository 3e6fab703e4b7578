//! Starting worker processes: exec (never a bare fork), each in its own
//! process group, killed by the kernel if the supervisor dies, with every
//! line it prints logged under its name.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use ipc_schemas::env;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

/// Spawns `command` as worker `worker` of runtime `runtime_id`. It runs in
/// `dir`, the pipeline's directory, so relative paths in processor configs
/// mean the same as relative paths in the pipeline file.
pub fn spawn(mut command: Command, runtime_id: &str, worker: &str, dir: &Path) -> Result<Child> {
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
    forward_lines(child.stdout.take().expect("piped"), worker.to_string());
    forward_lines(child.stderr.take().expect("piped"), worker.to_string());
    Ok(child)
}

/// Logs each line of `stream` prefixed by the worker's name, on a thread of
/// its own that ends when the worker closes the stream.
fn forward_lines(stream: impl Read + Send + 'static, worker: String) {
    std::thread::Builder::new()
        .name(format!("log-{worker}"))
        .spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                tracing::info!(target: "worker", "[{worker}] {line}");
            }
        })
        .expect("spawning a log thread");
}

/// Kills the whole process group of a worker.
pub fn kill_group(pid: u32) {
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
}
