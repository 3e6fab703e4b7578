//! Which `/dev/shm` files a sandboxed worker may open for writing, create
//! or remove: the shared-memory keeper's rules (docs/ARCHITECTURE.md §15).
//!
//! A worker may write only what is its own. iceoryx2 names its files after
//! the ports that made them, and a port's id (a `UniqueSystemId`) embeds the
//! pid of the process that made it, so the name alone says whose a file is:
//! - `<hash>_<port>__<n>.data` and `<hash>_<port>__mgmt.data`: a publisher's
//!   data segments, writable only by the publisher's process;
//! - `<hash>_<sender>_<receiver>.connection`: the queues between one
//!   publisher and one subscriber, writable by those two only;
//! - `<hash>_<id>.dynamic`, `<hash>_<id>.event_mgmt`, `<hash>_….global_mgmt`:
//!   a service's and the runtime's bookkeeping, where iceoryx2 needs every
//!   participant to register itself, so any worker of the runtime may write
//!   them (not protected: a worker can disturb the bookkeeping, never the
//!   frames);
//! - plexus's `counts_<processor>`: writable only by the worker hosting the
//!   processor.
//!
//! Creating a file whose embedded pid is another process's is refused, and
//! a file may be removed by its owner or, once its owner is gone, by anyone
//! (iceoryx2 cleans up after dead processes). Anything else, or anything
//! outside the runtime's prefix, is refused.

use std::fmt;

/// What a worker asks to do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `open` with these flags.
    Open {
        flags: i32,
    },
    Unlink,
}

/// The process asking, as the keeper knows it.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub pid: u32,
    /// The processors the process hosts.
    pub processors: &'a [String],
}

/// A file of the runtime, by what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmFile<'a> {
    /// A publisher's data segment (or its management part).
    Data { port: u128 },
    /// The queues between a publisher and a subscriber.
    Connection { sender: u128, receiver: u128 },
    /// Bookkeeping every participant writes; `id` when the name has one.
    Shared { id: Option<u128> },
    /// A processor's counters (`bus::counters`).
    Counters { processor: &'a str },
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a file of this runtime, or not one a worker ever writes.
    NotAWorkerFile,
    /// Flags the keeper does not pass on.
    Flags(i32),
    /// Another process's segment, connection or bookkeeping.
    Foreign { owner: u32 },
    /// Another processor's counters.
    OtherProcessor,
    /// A file only the supervisor creates.
    SupervisorOnly,
}

impl Refusal {
    /// What the worker's call fails with.
    pub fn errno(&self) -> i32 {
        match self {
            Refusal::Flags(_) => libc::EINVAL,
            _ => libc::EACCES,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotAWorkerFile => f.write_str("it is no shared memory of a worker"),
            Refusal::Flags(flags) => write!(f, "open flags {flags:#o} are not allowed there"),
            Refusal::Foreign { owner } => write!(f, "it belongs to process {owner}"),
            Refusal::OtherProcessor => f.write_str("it counts a processor of another worker"),
            Refusal::SupervisorOnly => f.write_str("only the supervisor creates it"),
        }
    }
}

/// The flags a request may carry; anything else (`O_PATH`, `O_DIRECTORY`,
/// `O_TMPFILE`…) is no way to open shared memory.
const ALLOWED_FLAGS: i32 = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_NOFOLLOW
    | libc::O_CLOEXEC
    | libc::O_NONBLOCK
    | libc::O_LARGEFILE;

/// Whether `flags` open a file for anything beyond reading.
pub fn writes(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY || flags & (libc::O_CREAT | libc::O_TRUNC) != 0
}

/// The pid inside an iceoryx2 `UniqueSystemId`: it is four `u32`s (seconds,
/// nanoseconds, pid, counter) read as one little-endian `u128`.
pub fn pid_of(id: u128) -> u32 {
    (id >> 64) as u32
}

/// Whether `requester` may do `access` to `/dev/shm/<name>` in the runtime
/// whose files start with `prefix`. `alive` says whether a pid is running.
pub fn check(
    prefix: &str,
    name: &[u8],
    requester: Requester<'_>,
    access: Access,
    alive: impl Fn(u32) -> bool,
) -> Result<(), Refusal> {
    let file = std::str::from_utf8(name)
        .ok()
        .and_then(|name| name.strip_prefix(prefix))
        .and_then(ShmFile::parse)
        .ok_or(Refusal::NotAWorkerFile)?;
    let owners = file.owners();
    let own = owners.contains(&requester.pid);
    match access {
        Access::Open { flags } if flags & !ALLOWED_FLAGS != 0 => Err(Refusal::Flags(flags)),
        Access::Open { flags } if !writes(flags) => Ok(()),
        Access::Open { flags } => match file {
            ShmFile::Counters { processor } => hosts(requester, processor),
            ShmFile::Shared { id: None } if flags & libc::O_CREAT != 0 => {
                Err(Refusal::SupervisorOnly)
            }
            ShmFile::Shared { .. } if flags & libc::O_CREAT == 0 || own => Ok(()),
            _ if own => Ok(()),
            _ => Err(foreign(&owners)),
        },
        Access::Unlink => match file {
            ShmFile::Counters { processor } => hosts(requester, processor),
            ShmFile::Shared { .. } => Ok(()),
            _ if own || owners.iter().any(|&pid| !alive(pid)) => Ok(()),
            _ => Err(foreign(&owners)),
        },
    }
}

fn hosts(requester: Requester<'_>, processor: &str) -> Result<(), Refusal> {
    if requester.processors.iter().any(|p| p == processor) {
        Ok(())
    } else {
        Err(Refusal::OtherProcessor)
    }
}

fn foreign(owners: &[u32]) -> Refusal {
    Refusal::Foreign {
        owner: owners.first().copied().unwrap_or(0),
    }
}

/// iceoryx2 0.10 starts a file's name, after the runtime's prefix, with the
/// hex SHA-1 of what it holds and `_`.
const HASH_LEN: usize = 40;

impl<'a> ShmFile<'a> {
    /// What the file `name` (the runtime's prefix taken off) is, if it is
    /// one a worker may ever write.
    pub fn parse(name: &'a str) -> Option<Self> {
        if let Some(processor) = name.strip_prefix("counts_") {
            return ipc_schemas::names::validate_id(processor)
                .is_ok()
                .then_some(ShmFile::Counters { processor });
        }
        let (hash, rest) = name.split_at_checked(HASH_LEN)?;
        if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let rest = rest.strip_prefix('_')?;
        if let Some(port) = rest.strip_suffix(".data") {
            let (port, segment) = port.split_once("__")?;
            let segment_ok = segment == "mgmt" || number(segment).is_some();
            return segment_ok.then_some(ShmFile::Data { port: id(port)? });
        }
        if let Some(ends) = rest.strip_suffix(".connection") {
            let (sender, receiver) = ends.split_once('_')?;
            return Some(ShmFile::Connection {
                sender: id(sender)?,
                receiver: id(receiver)?,
            });
        }
        if let Some(id_text) = rest
            .strip_suffix(".dynamic")
            .or_else(|| rest.strip_suffix(".event_mgmt"))
        {
            return Some(ShmFile::Shared {
                id: Some(id(id_text)?),
            });
        }
        let global = rest.strip_suffix(".global_mgmt")?;
        (!global.contains('/')).then_some(ShmFile::Shared { id: None })
    }

    /// The pids the file's name embeds: whose it is.
    pub fn owners(&self) -> Vec<u32> {
        match *self {
            ShmFile::Data { port } => vec![pid_of(port)],
            ShmFile::Connection { sender, receiver } => vec![pid_of(sender), pid_of(receiver)],
            ShmFile::Shared { id } => id.map(pid_of).into_iter().collect(),
            ShmFile::Counters { .. } => Vec::new(),
        }
    }
}

/// A decimal number with no sign, leading `+` or padding.
fn number(text: &str) -> Option<u128> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A `UniqueSystemId` as iceoryx2 prints it (decimal).
fn id(text: &str) -> Option<u128> {
    number(text)
}

#[cfg(test)]
mod tests;
