//! The keeper's wire over a real socket pair, and the direct path.

use super::*;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    socket_pair().unwrap()
}

#[test]
fn requests_survive_the_wire_and_odd_packets_do_not_decode() {
    let request = Request {
        op: Op::Unlink,
        flags: libc::O_RDWR | libc::O_CREAT,
        mode: 0o600,
        name: b"plexus_x_counts_p",
    };
    let mut buf = [0u8; REQUEST_MAX];
    let len = request.encode(&mut buf);
    assert_eq!(Request::decode(&buf[..len]), Some(request));
    assert_eq!(Request::decode(&buf[..HEADER]), None, "no name");
    buf[0] = 9;
    assert_eq!(Request::decode(&buf[..len]), None, "unknown op");
    assert_eq!(Request::decode(&[1u8; REQUEST_MAX + 1]), None, "too long");
}

#[test]
fn names_follow_glibc() {
    assert_eq!(shm_name(b"//plexus_x").unwrap(), b"plexus_x");
    let errno = |name: &[u8]| shm_name(name).unwrap_err().raw_os_error();
    assert_eq!(errno(b"/"), Some(libc::EINVAL));
    assert_eq!(errno(b"a/b"), Some(libc::EINVAL));
    assert_eq!(errno(&[b'a'; NAME_MAX + 1]), Some(libc::ENAMETOOLONG));
    assert!(shm_name(&[b'a'; NAME_MAX]).is_ok());
}

#[test]
fn the_direct_path_behaves_as_glibc() {
    let name = format!("plexus_keeperdirect{}_x", std::process::id());
    let fd = open_directly(
        name.as_bytes(),
        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
        0o600,
    )
    .unwrap();
    // SAFETY: F_GETFD only reads the descriptor's flags.
    let fd_flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert_eq!(fd_flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    let again = open_directly(
        name.as_bytes(),
        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
        0o600,
    );
    assert_eq!(again.unwrap_err().raw_os_error(), Some(libc::EEXIST));
    unlink_directly(format!("/{name}").as_bytes()).unwrap();
    let gone = unlink_directly(name.as_bytes()).unwrap_err();
    assert_eq!(gone.raw_os_error(), Some(libc::ENOENT));
    let dir = format!("plexus_keeperdirect{}_dir", std::process::id());
    std::fs::create_dir(format!("/dev/shm/{dir}")).unwrap();
    let opened = open_directly(dir.as_bytes(), libc::O_RDWR, 0);
    std::fs::remove_dir(format!("/dev/shm/{dir}")).unwrap();
    assert_eq!(opened.unwrap_err().raw_os_error(), Some(libc::EINVAL));
}

/// A keeper for one request: opens what it is asked to, refuses unlinks.
fn serve_one(keeper: OwnedFd) -> std::thread::JoinHandle<(Op, Vec<u8>)> {
    std::thread::spawn(move || {
        let mut pfd = libc::pollfd {
            fd: keeper.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one pollfd we own.
        unsafe { libc::poll(&mut pfd, 1, 5000) };
        let mut packet = [0; REQUEST_MAX + 1];
        let Received::Request(request) = receive_request(keeper.as_fd(), &mut packet) else {
            panic!("no request");
        };
        match request.op {
            Op::Open => {
                let file = open_directly(request.name, request.flags, request.mode).unwrap();
                send_reply(keeper.as_fd(), 0, Some(file.as_fd())).unwrap();
            }
            Op::Unlink => send_reply(keeper.as_fd(), libc::EACCES, None).unwrap(),
        }
        (request.op, request.name.to_vec())
    })
}

#[test]
fn an_open_over_the_socket_returns_the_keepers_file() {
    let (worker, keeper) = seqpacket_pair();
    let client = Client {
        socket: worker.as_raw_fd(),
        in_flight: Mutex::new(()),
    };
    let name = format!("plexus_keeperwire{}_x", std::process::id());
    let server = serve_one(keeper);
    let request = Request {
        op: Op::Open,
        flags: libc::O_RDWR | libc::O_CREAT,
        mode: 0o600,
        name: name.as_bytes(),
    };
    let mut file = File::from(client.call(&request).unwrap().expect("a file"));
    assert_eq!(
        server.join().unwrap(),
        (Op::Open, name.clone().into_bytes())
    );
    file.write_all(b"through the keeper").unwrap();
    let mut text = String::new();
    std::fs::File::open(format!("/dev/shm/{name}"))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    assert_eq!(text, "through the keeper");
}

#[test]
fn a_refusal_is_the_callers_errno_and_a_closed_keeper_an_error() {
    let (worker, keeper) = seqpacket_pair();
    let client = Client {
        socket: worker.as_raw_fd(),
        in_flight: Mutex::new(()),
    };
    let server = serve_one(keeper);
    let unlink = Request {
        op: Op::Unlink,
        flags: 0,
        mode: 0,
        name: b"plexus_x_owner",
    };
    let refused = client.call(&unlink).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EACCES));
    server.join().unwrap();
    // The keeper's end is gone with its thread.
    assert!(client.call(&unlink).is_err());
}

#[test]
fn a_worker_flooding_its_socket_is_told_apart() {
    let (worker, keeper) = seqpacket_pair();
    let worker = UnixDatagram::from(worker);
    assert!(matches!(
        receive_request(keeper.as_fd(), &mut [0; REQUEST_MAX + 1]),
        Received::Nothing
    ));
    worker.send(&[7u8; REQUEST_MAX + 40]).unwrap();
    assert!(matches!(
        receive_request(keeper.as_fd(), &mut [0; REQUEST_MAX + 1]),
        Received::Malformed
    ));
    drop(worker);
    assert!(matches!(
        receive_request(keeper.as_fd(), &mut [0; REQUEST_MAX + 1]),
        Received::Closed
    ));
}
