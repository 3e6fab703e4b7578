//! Detached runs (`plexus run -d`): the run goes on in a process of its
//! own, in a session of its own, writing to its journal, and `run -d`
//! returns once every worker runs, with the runtime id. The detached
//! process tells its starter it is ready through a pipe it finds as fd 3;
//! a run that fails to start has its output told by the starter instead.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::new_runtime_id;
use crate::error::UserError;
use crate::journal;

/// The fd a detached run finds its ready pipe on.
const READY_FD: i32 = 3;
/// How much of a failed start's output the starter tells.
const TOLD_ON_FAILURE: u64 = 16 << 10;

/// How a detached run tells its starter that every worker runs.
#[derive(Debug)]
pub struct Ready(OwnedFd);

impl Ready {
    /// The pipe `run -d` left as fd 3; refused when fd 3 is anything else,
    /// since `--detached-as` is `run -d`'s alone.
    pub fn inherited() -> Result<Self, UserError> {
        let refuse = || {
            UserError::Plain("--detached-as is for `plexus run -d` to use, not for people".into())
        };
        // SAFETY: fstat writes into the zeroed struct we own; a closed fd
        // is an error, not undefined behaviour.
        let is_pipe = unsafe {
            let mut stat: libc::stat = std::mem::zeroed();
            libc::fstat(READY_FD, &mut stat) == 0 && stat.st_mode & libc::S_IFMT == libc::S_IFIFO
        };
        if !is_pipe {
            return Err(refuse());
        }
        // SAFETY: fd 3 is open (fstat said so) and nothing else in this
        // process owns it: `run -d` passed it for this alone.
        let fd = unsafe { OwnedFd::from_raw_fd(READY_FD) };
        // Workers and the reaper must not hold it, or the starter would not
        // see it close should this process die before it is ready.
        // SAFETY: sets a flag of an fd we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(refuse());
        }
        Ok(Ready(fd))
    }

    /// Tells the starter the run is up; a starter that is gone is no matter.
    pub fn tell(&self, runtime: &str) {
        let mut pipe = File::from(self.0.try_clone().expect("duplicating the ready pipe"));
        let _ = writeln!(pipe, "ready {runtime}");
    }
}

/// What a detached run was asked to do, passed on to its process.
pub struct Detached<'a> {
    pub pipeline: &'a Path,
    /// Checked against its lockfile (`--locked`).
    pub locked: bool,
    /// Swaps workers as their packages change (`--watch`).
    pub watch: bool,
    pub frames: Option<u64>,
    pub duration: Option<Duration>,
}

/// Starts `plexus run` detached and returns its runtime id once every
/// worker runs. A start that fails is told with the run's own output and
/// its exit code is returned as the error's.
pub fn start(detached: &Detached) -> Result<Result<String, i32>> {
    let runtime = new_runtime_id();
    let dir = journal::run_dir(&runtime)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating the run journal {}", dir.display()))?;
    let log_path = dir.join("supervisor.log");
    let log = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let (mut ready_r, ready_w) = pipe()?;
    let mut command = Command::new(std::env::current_exe().context("finding plexus")?);
    command
        .arg("run")
        .arg(std::path::absolute(detached.pipeline)?)
        .args(["--detached-as", &runtime]);
    if detached.locked {
        command.arg("--locked");
    }
    if detached.watch {
        command.arg("--watch");
    }
    if let Some(frames) = detached.frames {
        command.args(["--frames", &frames.to_string()]);
    }
    if let Some(duration) = detached.duration {
        command.args(["--duration", &duration.as_secs_f64().to_string()]);
    }
    let write_fd = ready_w.as_raw_fd();
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: between fork and exec the child only calls setsid, dup2 and
    // fcntl, which are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            // A session of its own: the terminal's hang-up and Ctrl-C are
            // not the run's.
            nix::unistd::setsid()?;
            // dup2 leaves the copy open across exec; an fd that is 3 already
            // needs that flag cleared instead.
            let kept = match write_fd == READY_FD {
                true => libc::fcntl(write_fd, libc::F_SETFD, 0),
                false => libc::dup2(write_fd, READY_FD),
            };
            if kept < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().context("starting the detached run")?;
    drop(ready_w);
    let mut said = String::new();
    // Ends at the "ready" line, or at the pipe's end when the run stopped
    // before it was ready.
    let _ = std::io::BufReader::new((&mut ready_r).take(64)).read_line(&mut said);
    if said.starts_with("ready ") {
        return Ok(Ok(runtime));
    }
    let code = child.wait()?.code().unwrap_or(1);
    tell_failed_start(&log_path);
    if !dir.join("run.json").exists() {
        // It never began: nothing of it is worth keeping.
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(Err(if code == 0 { 1 } else { code }))
}

/// Copies the end of a failed start's output to our stderr.
fn tell_failed_start(log_path: &Path) {
    let Ok(mut file) = File::open(log_path) else {
        return;
    };
    let length = file.metadata().map_or(0, |m| m.len());
    let mut text = String::new();
    use std::io::Seek;
    let _ = file.seek(std::io::SeekFrom::Start(
        length.saturating_sub(TOLD_ON_FAILURE),
    ));
    let _ = file.read_to_string(&mut text);
    eprint!("{text}");
}

/// A pipe whose ends close on exec.
fn pipe() -> Result<(File, OwnedFd)> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("making a pipe")?;
    Ok((File::from(read), write))
}
