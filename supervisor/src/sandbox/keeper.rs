//! The shared-memory keeper's supervisor side (docs/ARCHITECTURE.md §15):
//! one thread that serves every sandboxed native and Python worker
//! process, opening and removing `/dev/shm` files on its behalf when
//! `bus::keeper::policy` says the file is the worker's own, and passing the
//! descriptor back. The wire and the rules live in `bus::keeper`.
//!
//! Each such process gets a `SOCK_SEQPACKET` socket pair at spawn; its end
//! is inherited (its number in `PLEXUS_SHM_KEEPER`), ours joins the thread's
//! poll set once the child's pid is known, so every request is judged as
//! that pid's. The thread takes one request per socket per wake-up, never
//! waits on a worker, and drops a socket whose worker sends what no client
//! sends, does not read its replies, or is gone.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use bus::keeper::{self, policy, Op, Received, Request};
use ipc_schemas::sandbox::env;
use ipc_schemas::{Names, WorkerSandbox};

use super::landlock::Policy;
use crate::language::SharedMemory;

/// A worker process about to be spawned with a keeper socket.
pub struct Pending {
    /// Ours, until the child's pid is known.
    keeper_end: OwnedFd,
    /// The child's: open in the parent until the spawn is done.
    worker_end: OwnedFd,
    worker: String,
    prefix: String,
    processors: Vec<String>,
}

/// Gives the process `command` will start a keeper socket when its
/// sandbox `policy` leaves `/dev/shm` read-only: the socket's worker end is
/// inherited across exec and named in the environment. Call
/// [`Pending::register`] with the child's pid once it is spawned.
pub fn attach(
    command: &mut Command,
    policy: Option<&Policy>,
    runtime_id: &str,
    worker: &str,
) -> Result<Option<Pending>> {
    if policy.is_none_or(|p| p.shared_memory() != SharedMemory::Keeper) {
        return Ok(None);
    }
    let (keeper_end, worker_end) =
        socket_pair().with_context(|| format!("making the keeper socket of worker `{worker}`"))?;
    let inherited: RawFd = worker_end.as_raw_fd();
    command.env(env::SHM_KEEPER, inherited.to_string());
    // SAFETY: fcntl is async-signal-safe and allocates nothing; it only
    // clears close-on-exec on a descriptor the parent keeps open until the
    // spawn is done.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(inherited, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(Some(Pending {
        keeper_end,
        worker_end,
        worker: worker.to_string(),
        prefix: Names::new(runtime_id)?.file_prefix(),
        processors: hosted_processors(command),
    }))
}

/// The processors the worker hosts, from the sandbox its command carries:
/// a worker may write their counters only.
fn hosted_processors(command: &Command) -> Vec<String> {
    command
        .get_envs()
        .find(|(key, _)| *key == env::SANDBOX)
        .and_then(|(_, value)| WorkerSandbox::from_json(value?.to_str()?).ok())
        .map(|sandbox| sandbox.processors.into_keys().collect())
        .unwrap_or_default()
}

/// A socket pair, both ends close-on-exec, the worker's numbered 3 or
/// above (std's spawn moves stdin, stdout and stderr onto 0 to 2 before it
/// runs `pre_exec`).
fn socket_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (ours, theirs) = bus::keeper::socket_pair()?;
    if theirs.as_raw_fd() > 2 {
        return Ok((ours, theirs));
    }
    // SAFETY: duplicates a descriptor we own onto the lowest free number
    // from 3, close-on-exec.
    let moved = unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if moved < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fcntl returned a new descriptor nothing else owns.
    Ok((ours, unsafe { OwnedFd::from_raw_fd(moved) }))
}

impl Pending {
    /// The child `pid` was spawned: its requests are served from now on.
    pub fn register(self, pid: u32) {
        let Pending {
            keeper_end,
            worker_end,
            worker,
            prefix,
            processors,
        } = self;
        drop(worker_end);
        let keeper = keeper();
        keeper.inbox().push(Client {
            socket: keeper_end,
            pid,
            worker,
            prefix,
            processors,
        });
        keeper.wake();
    }
}

/// One worker process's socket, as the keeper serves it.
struct Client {
    socket: OwnedFd,
    pid: u32,
    worker: String,
    prefix: String,
    processors: Vec<String>,
}

/// The keeper thread's mailbox: sockets to add, and how to wake it.
struct Keeper {
    inbox: Mutex<Vec<Client>>,
    wake: OwnedFd,
}

/// The keeper, its thread started by the first registration.
fn keeper() -> &'static Keeper {
    static KEEPER: OnceLock<Keeper> = OnceLock::new();
    KEEPER.get_or_init(|| {
        // SAFETY: eventfd takes flags only and returns a new descriptor.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        assert!(raw >= 0, "eventfd: {}", std::io::Error::last_os_error());
        // SAFETY: a new descriptor nothing else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(raw) };
        std::thread::Builder::new()
            .name("shm-keeper".into())
            .spawn(serve)
            .expect("spawning the shared-memory keeper");
        Keeper {
            inbox: Mutex::new(Vec::new()),
            wake,
        }
    })
}

impl Keeper {
    fn inbox(&self) -> std::sync::MutexGuard<'_, Vec<Client>> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes we own to the eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }
}

/// The keeper thread: waits on every socket and the wake-up, serves what
/// arrived, forever (the supervisor's process ends it).
fn serve() {
    let keeper = keeper();
    let mut clients: Vec<Client> = Vec::new();
    loop {
        let mut fds: Vec<libc::pollfd> = std::iter::once(keeper.wake.as_raw_fd())
            .chain(clients.iter().map(|c| c.socket.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: polls the pollfds of a vector we own, of the length given.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc < 0 {
            continue; // interrupted
        }
        let mut ready = fds[1..].iter().map(|fd| fd.revents);
        clients.retain(|client| match ready.next() {
            Some(0) | None => true,
            Some(_) => serve_one(client),
        });
        if fds[0].revents != 0 {
            let mut count = [0u8; 8];
            // SAFETY: reads 8 bytes into a buffer we own from the eventfd.
            unsafe { libc::read(keeper.wake.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
            clients.append(&mut keeper.inbox());
        }
    }
}

/// Serves the next request on `client`'s socket; false when the socket is
/// to be dropped.
fn serve_one(client: &Client) -> bool {
    let mut packet: keeper::Packet = [0; keeper::REQUEST_MAX + 1];
    let request = match keeper::receive_request(client.socket.as_fd(), &mut packet) {
        Received::Request(request) => request,
        Received::Nothing => return true,
        Received::Closed => return false,
        Received::Malformed => {
            tracing::warn!(
                "worker `{}` (pid {}) sent its shared-memory keeper a malformed request: its socket is closed",
                client.worker,
                client.pid
            );
            return false;
        }
    };
    let (errno, file) = answer(client, &request);
    match keeper::send_reply(
        client.socket.as_fd(),
        errno,
        file.as_ref().map(|f| f.as_fd()),
    ) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                "worker `{}` (pid {}) does not read its shared-memory keeper's replies ({e}): its socket is closed",
                client.worker,
                client.pid
            );
            false
        }
    }
}

/// What the keeper answers `request`: an errno (0 for success) and, for a
/// successful open, the file.
fn answer(client: &Client, request: &Request<'_>) -> (i32, Option<OwnedFd>) {
    let requester = policy::Requester {
        pid: client.pid,
        processors: &client.processors,
    };
    let verdict = policy::check(
        &client.prefix,
        request.name,
        requester,
        request.access(),
        bus::files::process_alive,
    );
    if let Err(refusal) = verdict {
        let what = match request.op {
            Op::Open => "open for writing",
            Op::Unlink => "remove",
        };
        tracing::info!(
            "worker `{}` (pid {}) may not {what} /dev/shm/{}: {refusal}",
            client.worker,
            client.pid,
            String::from_utf8_lossy(request.name)
        );
        return (refusal.errno(), None);
    }
    let result = match request.op {
        Op::Open => open_regular(request.name, request.flags, request.mode).map(Some),
        Op::Unlink => keeper::unlink_directly(request.name).map(|()| None),
    };
    match result {
        Ok(file) => (0, file),
        Err(e) => (e.raw_os_error().unwrap_or(libc::EIO), None),
    }
}

/// Opens a regular file for a worker, never waiting: whatever else may sit
/// under an allowed name (a FIFO made by another user) is refused.
fn open_regular(name: &[u8], flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let file = keeper::open_directly(name, flags | libc::O_NONBLOCK, mode & 0o777)?;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `stat` for an open descriptor.
    if unsafe { libc::fstat(file.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it filled the struct.
    if unsafe { stat.assume_init() }.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_GETFL and F_SETFL only read and set the file's flags.
        unsafe {
            let status = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, status & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests;
