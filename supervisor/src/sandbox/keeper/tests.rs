//! The keeper thread, served over a real socket as a worker would use it.

use super::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::BorrowedFd;

use ipc_schemas::{Permissions, SandboxMode};

/// A keeper socket registered as this test process's, for runtime `id`
/// hosting `counted`; returns our copy of the worker's end.
fn registered(id: &str, counted: &str) -> OwnedFd {
    let sandbox = WorkerSandbox {
        mode: SandboxMode::Strict,
        processors: BTreeMap::from([(counted.to_string(), Permissions::default())]),
    };
    let mut command = Command::new("true");
    command.env(env::SANDBOX, sandbox.to_json());
    let pending = attach(&mut command, true, id, "w")
        .unwrap()
        .expect("needed");
    assert_eq!(pending.processors, vec![counted.to_string()]);
    let named = command
        .get_envs()
        .find(|(k, _)| *k == env::SHM_KEEPER)
        .and_then(|(_, v)| v?.to_str()?.parse::<RawFd>().ok());
    assert_eq!(named, Some(pending.worker_end.as_raw_fd()));
    let ours = pending.worker_end.try_clone().unwrap();
    pending.register(std::process::id());
    ours
}

fn request(op: Op, flags: i32, name: &str) -> Request<'_> {
    Request {
        op,
        flags,
        mode: 0o600,
        name: name.as_bytes(),
    }
}

fn call(socket: &OwnedFd, request: &Request<'_>) -> std::io::Result<Option<OwnedFd>> {
    keeper::call(BorrowedFd::from(socket.as_fd()), request)
}

#[test]
fn a_worker_gets_its_own_files_and_nothing_else() {
    let id = format!("keepertest{}", std::process::id());
    let prefix = Names::new(&id).unwrap().file_prefix();
    let socket = registered(&id, "mine");
    let create = libc::O_RDWR | libc::O_CREAT;

    let own = format!("{prefix}counts_mine");
    let file = call(&socket, &request(Op::Open, create, &own)).unwrap();
    std::fs::File::from(file.expect("a file"))
        .write_all(b"counted")
        .unwrap();
    let mut text = String::new();
    std::fs::File::open(format!("/dev/shm/{own}"))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "counted");

    let other = format!("{prefix}counts_theirs");
    let refused = call(&socket, &request(Op::Open, create, &other)).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EACCES));
    assert!(!std::path::Path::new(&format!("/dev/shm/{other}")).exists());
    let outside = call(&socket, &request(Op::Open, create, "passwd")).unwrap_err();
    assert_eq!(outside.raw_os_error(), Some(libc::EACCES));

    assert!(call(&socket, &request(Op::Unlink, 0, &own))
        .unwrap()
        .is_none());
    assert!(!std::path::Path::new(&format!("/dev/shm/{own}")).exists());
    let gone = call(&socket, &request(Op::Unlink, 0, &own)).unwrap_err();
    assert_eq!(gone.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn a_socket_sending_garbage_is_dropped_and_others_still_served() {
    let id = format!("keepergarbage{}", std::process::id());
    let prefix = Names::new(&id).unwrap().file_prefix();
    let rogue = registered(&id, "rogue");
    let good = registered(&id, "good");
    // SAFETY: sends 3 bytes of a buffer we own.
    let sent = unsafe { libc::send(rogue.as_raw_fd(), b"bad".as_ptr().cast(), 3, 0) };
    assert_eq!(sent, 3);
    // The keeper closes its end: the rogue sees end of file.
    let mut byte = [0u8; 1];
    // SAFETY: reads into a buffer we own.
    let read = unsafe { libc::recv(rogue.as_raw_fd(), byte.as_mut_ptr().cast(), 1, 0) };
    assert_eq!(read, 0);

    let own = format!("{prefix}counts_good");
    let file = call(
        &good,
        &request(Op::Open, libc::O_RDWR | libc::O_CREAT, &own),
    );
    std::fs::remove_file(format!("/dev/shm/{own}")).unwrap();
    assert!(file.unwrap().is_some());
}

#[test]
fn no_keeper_where_none_is_needed() {
    let mut command = Command::new("true");
    assert!(attach(&mut command, false, "x", "w").unwrap().is_none());
    assert!(command.get_envs().all(|(k, _)| k != env::SHM_KEEPER));
}

#[test]
fn a_fifo_under_an_allowed_name_is_not_opened() {
    let id = format!("keeperfifo{}", std::process::id());
    let prefix = Names::new(&id).unwrap().file_prefix();
    let socket = registered(&id, "f");
    let path = std::ffi::CString::new(format!("/dev/shm/{prefix}counts_f")).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let name = format!("{prefix}counts_f");
    let opened = call(&socket, &request(Op::Open, libc::O_WRONLY, &name));
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    // Without a reader a FIFO opened for writing without waiting is ENXIO;
    // either way the keeper neither blocks nor hands it out.
    assert!(opened.is_err());
}
