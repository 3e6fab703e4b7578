//! Sockets: `socket`, `connect`, `bind`. Landlock checks the TCP ports a
//! worker connects to and binds; it cannot check the host, so `connect`
//! does: a TCP connection to a declared port but to a host the processor
//! did not declare is refused here with EACCES, as the kernel refuses an
//! undeclared port. A declared host that is a name, not an address, is not
//! checked (that would need a DNS lookup in every connect): documented.

use std::ffi::c_int;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipc_schemas::sandbox::{Denied, Endpoint};

use super::failed;
use crate::violations;

/// What a processor without network tried, when its socket was refused.
const ANY_HOST: &str = "the network";

/// `socket(2)`, recording a refused internet socket (a processor that
/// declared no network gets none).
pub fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int {
    // SAFETY: plain integers, checked by the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_socket, domain, kind, protocol) } as c_int;
    if fd < 0 && (domain == libc::AF_INET || domain == libc::AF_INET6) {
        failed(super::errno(), || Some(Denied::Connect(ANY_HOST.into())));
    }
    fd
}

/// `connect(2)`, refusing a declared port on an undeclared host and
/// recording any refusal.
///
/// # Safety
/// As for `connect(2)`: `addr` points to `len` readable bytes.
pub unsafe fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    // SAFETY: the caller's promise.
    let peer = unsafe { inet(addr, len) };
    if let Some((ip, port)) = peer {
        let refused = violations::with_connect(|declared| {
            declared.is_some_and(|d| !host_allowed(d, ip, port) && is_tcp(fd))
        });
        if refused {
            failed(libc::EACCES, || Some(connecting(ip, port)));
            super::set_errno(libc::EACCES);
            return -1;
        }
    }
    // SAFETY: the caller's arguments, checked by the kernel.
    let done = unsafe { libc::syscall(libc::SYS_connect, fd, addr, len) } as c_int;
    if done < 0 {
        failed(super::errno(), || {
            peer.map(|(ip, port)| connecting(ip, port))
        });
    }
    done
}

/// `bind(2)`, recording a refused internet address as the port it is.
///
/// # Safety
/// As for `bind(2)`: `addr` points to `len` readable bytes.
pub unsafe fn bind(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    // SAFETY: the caller's arguments, checked by the kernel.
    let done = unsafe { libc::syscall(libc::SYS_bind, fd, addr, len) } as c_int;
    if done < 0 {
        // SAFETY: the caller's promise.
        let port = unsafe { inet(addr, len) }.map(|(_, port)| port);
        failed(super::errno(), || port.map(Denied::Listen));
    }
    done
}

fn connecting(ip: IpAddr, port: u16) -> Denied {
    let endpoint = Endpoint {
        host: ip.to_string(),
        port,
    };
    Denied::Connect(endpoint.to_string())
}

/// The address and port of an internet socket address; `None` for any
/// other family or a short one.
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
unsafe fn inet(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<(IpAddr, u16)> {
    let len = len as usize;
    if addr.is_null() || len < size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: at least the family is readable, per the caller.
    let family = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sa_family_t>()) };
    match c_int::from(family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: long enough, per the check.
            let a = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some((IpAddr::V4(ip), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: long enough, per the check.
            let a = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some((IpAddr::V6(ip).to_canonical(), u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}

/// Whether `fd` is a TCP (stream) socket: the only kind whose peers are
/// declared (UDP, for DNS, is not port-checked).
fn is_tcp(fd: c_int) -> bool {
    bus::fd::socket_type(fd) == Some(libc::SOCK_STREAM)
}

/// Whether connecting to `ip`:`port` is within `declared`: the port is
/// not declared at all (the kernel decides, refusing it), or one of the
/// endpoints with that port names this address, `localhost`, or a host
/// name this layer cannot check.
fn host_allowed(declared: &[Endpoint], ip: IpAddr, port: u16) -> bool {
    let mut on_port = declared.iter().filter(|e| e.port == port).peekable();
    if on_port.peek().is_none() {
        return true;
    }
    on_port.any(
        |e| match e.host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(host) => host.to_canonical() == ip,
            Err(_) if e.host == "localhost" => ip.is_loopback(),
            Err(_) => true,
        },
    )
}

/// The exported definitions, expanded by [`interpose!`](crate::interpose!)
/// in a module that has imported [`super::sys`].
#[doc(hidden)]
#[macro_export]
macro_rules! interpose_net {
    () => {
        #[no_mangle]
        pub extern "C" fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int {
            $crate::interpose::net::socket(domain, kind, protocol)
        }

        /// # Safety
        /// As for `connect(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn connect(
            fd: c_int,
            addr: *const sockaddr,
            len: socklen_t,
        ) -> c_int {
            // SAFETY: the caller's arguments, as for connect(2).
            unsafe { $crate::interpose::net::connect(fd, addr, len) }
        }

        /// # Safety
        /// As for `bind(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
            // SAFETY: the caller's arguments, as for bind(2).
            unsafe { $crate::interpose::net::bind(fd, addr, len) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn a_declared_port_is_open_only_to_its_declared_hosts() {
        let declared = [
            at("127.0.0.1", 8080),
            at("::1", 9090),
            at("localhost", 7070),
        ];
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert!(host_allowed(&declared, v4(127, 0, 0, 1), 8080));
        assert!(!host_allowed(&declared, v4(10, 0, 0, 1), 8080));
        assert!(host_allowed(
            &declared,
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            9090
        ));
        assert!(!host_allowed(&declared, v4(127, 0, 0, 1), 9090));
        assert!(host_allowed(&declared, v4(127, 0, 0, 1), 7070));
        assert!(!host_allowed(&declared, v4(192, 168, 1, 1), 7070));
        // An undeclared port is the kernel's to refuse.
        assert!(host_allowed(&declared, v4(10, 0, 0, 1), 443));
        assert!(host_allowed(
            &[at("example.com", 443)],
            v4(10, 0, 0, 1),
            443
        ));
    }

    #[test]
    fn a_refused_connection_names_its_endpoint() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(connecting(v6, 80), Denied::Connect("[::1]:80".into()));
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(connecting(v4, 80), Denied::Connect("127.0.0.1:80".into()));
    }
}
