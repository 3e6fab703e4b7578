//! The shared-memory keeper: how a sandboxed worker gets `/dev/shm` files
//! for writing (docs/ARCHITECTURE.md §15, frame integrity).
//!
//! A sandboxed native or Python worker may only read `/dev/shm` (Landlock),
//! so no processor can open, map or write another worker's frames. What the
//! worker itself must write (its own ports' segments and connections, the
//! shared bookkeeping, its processors' counters) it asks the supervisor for:
//! every open for writing, every creation and every unlink goes over the
//! worker's keeper socket, and the supervisor, if [`policy`] allows, opens
//! the file itself and passes the descriptor back.
//!
//! The wire: one `SOCK_SEQPACKET` socket per worker process, whose worker
//! end's number is in [`env::SHM_KEEPER`]. A request is one packet: op
//! (`u32`: 1 open, 2 unlink), flags (`i32`), mode (`u32`), each in native
//! byte order, then the file's name in `/dev/shm` (at most [`NAME_MAX`]
//! bytes). The reply is one packet holding an errno (`i32`, 0 for success)
//! and, for a successful open, the file by `SCM_RIGHTS`. One request is in
//! flight per socket: the client holds a lock until its reply arrives.
//!
//! Without the variable (no sandbox, a Deno worker, the supervisor) the same
//! calls open and remove the files directly, exactly as glibc's `shm_open`
//! and `shm_unlink` do.

pub mod policy;

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

use ipc_schemas::sandbox::env;

/// The longest name a shared-memory file may have (glibc's limit).
pub const NAME_MAX: usize = 255;
/// op, flags and mode.
const HEADER: usize = 12;
/// The longest request.
pub const REQUEST_MAX: usize = HEADER + NAME_MAX;
/// `/dev/shm/`, as glibc's `shm_open` prefixes names.
const SHM_DIR_SLASH: &[u8] = b"/dev/shm/";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Open,
    Unlink,
}

/// One request to the keeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub op: Op,
    pub flags: i32,
    pub mode: u32,
    /// The file's name in `/dev/shm`, no slash.
    pub name: &'a [u8],
}

impl<'a> Request<'a> {
    fn encode(&self, buf: &mut [u8; REQUEST_MAX]) -> usize {
        let op: u32 = match self.op {
            Op::Open => 1,
            Op::Unlink => 2,
        };
        buf[0..4].copy_from_slice(&op.to_ne_bytes());
        buf[4..8].copy_from_slice(&self.flags.to_ne_bytes());
        buf[8..12].copy_from_slice(&self.mode.to_ne_bytes());
        buf[HEADER..HEADER + self.name.len()].copy_from_slice(self.name);
        HEADER + self.name.len()
    }

    /// The request in `packet`, if it is well formed.
    pub fn decode(packet: &'a [u8]) -> Option<Self> {
        if packet.len() <= HEADER || packet.len() > REQUEST_MAX {
            return None;
        }
        let word = |i: usize| <[u8; 4]>::try_from(&packet[i..i + 4]).expect("4 bytes");
        let op = match u32::from_ne_bytes(word(0)) {
            1 => Op::Open,
            2 => Op::Unlink,
            _ => return None,
        };
        Some(Self {
            op,
            flags: i32::from_ne_bytes(word(4)),
            mode: u32::from_ne_bytes(word(8)),
            name: &packet[HEADER..],
        })
    }

    /// What the request asks of the policy.
    pub fn access(&self) -> policy::Access {
        match self.op {
            Op::Open => policy::Access::Open { flags: self.flags },
            Op::Unlink => policy::Access::Unlink,
        }
    }
}

/// Opens the shared-memory object `name` as `shm_open(3)` does: through the
/// keeper when this process has one and the open writes or creates, else
/// directly (`open("/dev/shm/" + name, flags | O_NOFOLLOW | O_CLOEXEC)`).
pub fn shm_open(name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let name = shm_name(name)?;
    match client() {
        Some(keeper) if policy::writes(flags) => keeper
            .call(&Request {
                op: Op::Open,
                flags,
                mode,
                name,
            })?
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EPROTO)),
        _ => open_directly(name, flags, mode),
    }
}

/// Removes the shared-memory object `name` as `shm_unlink(3)` does, through
/// the keeper when this process has one.
pub fn shm_unlink(name: &[u8]) -> io::Result<()> {
    let name = shm_name(name)?;
    match client() {
        Some(keeper) => keeper
            .call(&Request {
                op: Op::Unlink,
                flags: 0,
                mode: 0,
                name,
            })
            .map(drop),
        None => unlink_directly(name),
    }
}

/// Opens plexus's own file `name` in `/dev/shm` for reading and writing
/// (creating it with `mode` when `create`), through the keeper if any.
pub fn open_file(name: &str, create: bool, mode: u32) -> io::Result<File> {
    let flags = libc::O_RDWR | if create { libc::O_CREAT } else { 0 };
    shm_open(name.as_bytes(), flags, mode).map(File::from)
}

/// The name glibc would open: leading slashes dropped, then one non-empty
/// path component of at most [`NAME_MAX`] bytes.
fn shm_name(name: &[u8]) -> io::Result<&[u8]> {
    let start = name.iter().position(|&b| b != b'/').unwrap_or(name.len());
    let name = &name[start..];
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if name.len() > NAME_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    Ok(name)
}

/// `/dev/shm/<name>` as a C string, on the stack.
fn shm_path(name: &[u8]) -> [u8; SHM_DIR_SLASH.len() + NAME_MAX + 1] {
    let mut path = [0u8; SHM_DIR_SLASH.len() + NAME_MAX + 1];
    path[..SHM_DIR_SLASH.len()].copy_from_slice(SHM_DIR_SLASH);
    path[SHM_DIR_SLASH.len()..SHM_DIR_SLASH.len() + name.len()].copy_from_slice(name);
    path
}

/// Opens `/dev/shm/<name>` with a plain system call: the keeper's own open,
/// and a worker's when it needs no keeper. A directory is `EINVAL`, as
/// glibc says.
pub fn open_directly(name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let path = shm_path(shm_name(name)?);
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated and outlives the call; openat with
    // AT_FDCWD only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            mode as libc::c_uint,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EISDIR) => io::Error::from_raw_os_error(libc::EINVAL),
            _ => err,
        });
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// Removes `/dev/shm/<name>` with a plain system call; `EPERM` is `EACCES`,
/// as glibc says.
pub fn unlink_directly(name: &[u8]) -> io::Result<()> {
    let path = shm_path(shm_name(name)?);
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, path.as_ptr(), 0) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EPERM) => io::Error::from_raw_os_error(libc::EACCES),
            _ => err,
        });
    }
    Ok(())
}

/// This process's end of its keeper socket.
struct Client {
    socket: RawFd,
    /// Held from a request until its reply: one request in flight.
    in_flight: Mutex<()>,
}

/// The keeper of this process, if it has one: [`env::SHM_KEEPER`] names an
/// open `SOCK_SEQPACKET` socket. Read once; the descriptor is then made
/// close-on-exec, so a program the worker starts has no keeper.
fn client() -> Option<&'static Client> {
    static CLIENT: OnceLock<Option<Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let socket: RawFd = std::env::var(env::SHM_KEEPER).ok()?.parse().ok()?;
            if crate::fd::socket_type(socket) != Some(libc::SOCK_SEQPACKET) {
                tracing::warn!(
                    "{} names descriptor {socket}, which is no keeper socket",
                    env::SHM_KEEPER
                );
                return None;
            }
            // SAFETY: fcntl on a descriptor that is open (checked above).
            unsafe { libc::fcntl(socket, libc::F_SETFD, libc::FD_CLOEXEC) };
            Some(Client {
                socket,
                in_flight: Mutex::new(()),
            })
        })
        .as_ref()
}

/// A pair of connected keeper sockets (`SOCK_SEQPACKET`), both ends
/// close-on-exec.
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into `fds`.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just made and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Client {
    /// Sends `request` and waits for its reply.
    fn call(&self, request: &Request) -> io::Result<Option<OwnedFd>> {
        // A poisoned lock guards nothing: the socket holds no half request.
        let _turn = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the descriptor stays open for the process's life.
        call(unsafe { BorrowedFd::borrow_raw(self.socket) }, request)
    }
}

/// Sends `request` on a worker's end of a keeper socket and waits for its
/// reply: the file, for an open. The caller makes sure no other request is
/// in flight on the socket.
pub fn call(socket: BorrowedFd<'_>, request: &Request) -> io::Result<Option<OwnedFd>> {
    let mut packet = [0u8; REQUEST_MAX];
    let len = request.encode(&mut packet);
    // SAFETY: sends `len` bytes of a buffer we own.
    let sent = retry(|| unsafe {
        libc::send(
            socket.as_raw_fd(),
            packet.as_ptr().cast(),
            len,
            libc::MSG_NOSIGNAL,
        )
    })?;
    if sent as usize != len {
        return Err(io::Error::from_raw_os_error(libc::EPROTO));
    }
    let (errno, file) = receive_reply(socket.as_raw_fd())?;
    match errno {
        0 => Ok(file),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Retries a call interrupted by a signal.
fn retry(mut call: impl FnMut() -> isize) -> io::Result<isize> {
    loop {
        let rc = call();
        if rc >= 0 {
            return Ok(rc);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Room for the control message of one descriptor.
#[repr(C)]
union Control {
    header: libc::cmsghdr,
    bytes: [u8; 32],
}

fn receive_reply(socket: RawFd) -> io::Result<(i32, Option<OwnedFd>)> {
    let mut errno = [0u8; 4];
    let mut iov = libc::iovec {
        iov_base: errno.as_mut_ptr().cast(),
        iov_len: errno.len(),
    };
    let mut control = Control { bytes: [0; 32] };
    // SAFETY: msghdr is plain data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut control).cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as _;
    // SAFETY: `msg` points at buffers we own that outlive the call.
    let len = retry(|| unsafe { libc::recvmsg(socket, &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    // SAFETY: the kernel filled `msg`'s control buffer; the macros walk it
    // within `msg_controllen`.
    let file = unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        (!header.is_null()
            && (*header).cmsg_level == libc::SOL_SOCKET
            && (*header).cmsg_type == libc::SCM_RIGHTS)
            .then(|| {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
                OwnedFd::from_raw_fd(fd)
            })
    };
    match len {
        0 => Err(io::Error::from_raw_os_error(libc::ECONNRESET)),
        4 => Ok((i32::from_ne_bytes(errno), file)),
        _ => Err(io::Error::from_raw_os_error(libc::EPROTO)),
    }
}

/// What [`receive_request`] found on a keeper's end of a socket.
#[derive(Debug)]
pub enum Received<'a> {
    Request(Request<'a>),
    /// Nothing waiting.
    Nothing,
    /// The worker closed its end.
    Closed,
    /// The worker sent what no client sends.
    Malformed,
}

/// Room for one request and one byte more, to tell a longer packet.
pub type Packet = [u8; REQUEST_MAX + 1];

/// Takes the next request off the keeper's end of a worker's socket into
/// `packet`, without waiting. Descriptors a worker might send along are
/// discarded by the kernel (no room is given for them).
pub fn receive_request<'a>(socket: BorrowedFd<'_>, packet: &'a mut Packet) -> Received<'a> {
    // SAFETY: receives into a buffer we own, of the length given; MSG_TRUNC
    // makes a longer packet report its full length.
    let rc = retry(|| unsafe {
        libc::recv(
            socket.as_raw_fd(),
            packet.as_mut_ptr().cast(),
            packet.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    });
    match rc {
        Ok(0) => Received::Closed,
        Ok(len) if len as usize > REQUEST_MAX => Received::Malformed,
        Ok(len) => {
            Request::decode(&packet[..len as usize]).map_or(Received::Malformed, Received::Request)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Received::Nothing,
        Err(_) => Received::Closed,
    }
}

/// Answers a request: `errno` (0 for success) and, for an open, the file.
/// Never waits: a worker that does not read its replies fails here.
pub fn send_reply(
    socket: BorrowedFd<'_>,
    errno: i32,
    file: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut bytes = errno.to_ne_bytes();
    let mut iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    let mut control = Control { bytes: [0; 32] };
    // SAFETY: msghdr is plain data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(file) = file {
        msg.msg_control = (&raw mut control).cast();
        // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes; the header
        // and data written lie within `control`, which is large enough for
        // one descriptor and aligned for a cmsghdr.
        unsafe {
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as _;
            let header = libc::CMSG_FIRSTHDR(&msg);
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), file.as_raw_fd());
        }
    }
    // SAFETY: `msg` points at buffers we own that outlive the call.
    let sent = retry(|| unsafe {
        libc::sendmsg(
            socket.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    })?;
    if sent as usize != bytes.len() {
        return Err(io::Error::from_raw_os_error(libc::EPROTO));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
