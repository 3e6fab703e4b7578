//! An impaired link between two network namespaces, made in user space:
//! a TUN device in each namespace and a thread of the test process that
//! carries every IP packet from one to the other after a fixed delay,
//! losing a share of them at random, as `tc netem delay … loss …` would.
//! Kernels built without `sch_netem` (the CI machines' among them, where
//! `tc qdisc add … netem` says "Specified qdisc kind is unknown") still
//! have TUN.
//!
//! [`crate::netns::NetPair::impair`] routes each namespace's traffic to
//! the other's address through the line, keeping both addresses, so open
//! TCP connections carry on over it; dropping the line routes them back
//! over the veth.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
/// Larger than any packet a TUN device of MTU 1500 hands over.
const MAX_PACKET: usize = 65_536;

/// `struct ifreq` as TUNSETIFF reads it: a name and the flags.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _rest: [u8; 22],
}

/// Opens a TUN device `name` (IP packets, no extra header) in the calling
/// thread's network namespace; it lives as long as the descriptor.
pub fn open_tun(name: &str) -> std::io::Result<OwnedFd> {
    let name = CString::new(name).expect("an interface name");
    let path = CString::new("/dev/net/tun").unwrap();
    // SAFETY: open(2) of a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: IFF_TUN | IFF_NO_PI,
        _rest: [0; 22],
    };
    for (to, from) in req.name.iter_mut().zip(name.as_bytes()) {
        *to = *from as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads one ifreq, which `req` is, laid out as
    // the kernel's (name, then the flags of its union).
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Packets the line carried and lost, both ways together.
#[derive(Default)]
pub struct LineCounts {
    pub carried: AtomicU64,
    pub lost: AtomicU64,
}

/// The thread carrying packets between two TUN devices; stopped, and
/// the devices gone, when dropped.
pub struct DelayLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub counts: Arc<LineCounts>,
}

impl DelayLine {
    /// Carries packets between `a` and `b`, each one `delay` late and lost
    /// with probability `loss_percent` / 100.
    pub fn start(a: OwnedFd, b: OwnedFd, delay: Duration, loss_percent: f64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(LineCounts::default());
        let (stop_in, counts_in) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            carry([a, b], delay, loss_percent / 100.0, &stop_in, &counts_in)
        });
        Self {
            stop,
            thread: Some(thread),
            counts,
        }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A small xorshift generator: the loss needs no more.
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn carry(fds: [OwnedFd; 2], delay: Duration, loss: f64, stop: &AtomicBool, counts: &LineCounts) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut dice = Dice(seed);
    // Packets read from side i, due to be written to the other side.
    let mut queues: [VecDeque<(Instant, Vec<u8>)>; 2] = [VecDeque::new(), VecDeque::new()];
    let mut buf = vec![0u8; MAX_PACKET];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let next_due = queues
            .iter()
            .filter_map(|q| q.front().map(|(due, _)| *due))
            .min();
        let wait = next_due
            .map_or(Duration::from_millis(50), |due| {
                due.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        let mut polled = fds.each_ref().map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        // The timeout rounds up to whole ms so a due packet is not polled
        // for in a busy loop.
        let timeout = wait.as_micros().div_ceil(1000) as i32;
        // SAFETY: two valid pollfds.
        unsafe { libc::poll(polled.as_mut_ptr(), 2, timeout) };
        for (side, fd) in fds.iter().enumerate() {
            if polled[side].revents & libc::POLLIN == 0 {
                continue;
            }
            loop {
                // SAFETY: reads into `buf`, which has MAX_PACKET bytes.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), MAX_PACKET) };
                if n <= 0 {
                    break;
                }
                if dice.roll() < loss {
                    counts.lost.fetch_add(1, Ordering::Relaxed);
                } else {
                    let due = Instant::now() + delay;
                    queues[side].push_back((due, buf[..n as usize].to_vec()));
                }
            }
        }
        let now = Instant::now();
        for side in 0..2 {
            let to = fds[1 - side].as_raw_fd();
            while queues[side].front().is_some_and(|(due, _)| *due <= now) {
                let (_, packet) = queues[side].pop_front().expect("a packet");
                // SAFETY: writes `packet` to a TUN descriptor; a failed
                // write loses the packet, as a full link would.
                unsafe { libc::write(to, packet.as_ptr().cast(), packet.len()) };
                counts.carried.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
