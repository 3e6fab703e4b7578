//! Two hosts on one machine for the tests across hosts: two network
//! namespaces joined by a veth pair, made with iproute2 and removed with
//! everything started in them when the pair drops, a failing test's
//! unwinding included.
//!
//! [`NetPair::impair`] delays and loses packets between the two, as `tc
//! netem` would (see [`crate::delay_line`]).
//!
//! Namespaces isolate the network only: both "hosts" share the filesystem,
//! `/dev/shm` and the clock. Abstract unix sockets are per namespace, so
//! every process of one runtime, and every observer aimed at it (`plexus
//! events`, `ps`, `stop`), must run inside the same namespace.

use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::delay_line::{open_tun, DelayLine};
use crate::process::{spawn_program, Running};

/// Every pair this process made, so that two in one test binary differ.
static PAIRS: AtomicU32 = AtomicU32::new(0);

/// What every name of this harness starts with; the pid of the test
/// process that made it follows, so a crashed run's leftovers are known.
const PREFIX: &str = "plx";

/// `ip`, if this machine has it where Debian puts it or on the `PATH`.
fn ip_binary() -> Option<PathBuf> {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .map(|d| d.join("ip"))
                .find(|p| p.is_file())
        })
}

/// Why namespaces cannot be made here, if they cannot: not root, or no
/// `ip`. CI runs as root with iproute2, so there the tests run.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root (this test runs as another user)".into());
    }
    if ip_binary().is_none() {
        return Some("network namespaces need `ip` (Debian's iproute2), which is missing".into());
    }
    None
}

/// One end of the pair: a namespace with its veth end and address.
#[derive(Debug, Clone)]
pub struct Host {
    /// The namespace's name, as `ip netns` knows it.
    pub ns: String,
    /// The veth end inside it.
    pub dev: String,
    pub addr: Ipv4Addr,
}

/// Two namespaces `a` and `b` joined by a veth pair, `lo` up in each.
pub struct NetPair {
    pub a: Host,
    pub b: Host,
    ip: PathBuf,
    /// The impaired link, while there is one.
    line: Mutex<Option<DelayLine>>,
    /// How many times the link was impaired, for the TUN devices' names.
    impairments: AtomicU32,
}

impl NetPair {
    /// Makes the pair, or prints one line saying why this test is skipped
    /// and returns `None` when namespaces cannot be made here (see
    /// [`unavailable`]). Where they can, a failure to make them fails the
    /// test.
    pub fn create(test: &str) -> Option<Self> {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
        Some(Self::create_here())
    }

    fn create_here() -> Self {
        let ip = ip_binary().expect("checked by unavailable()");
        remove_stale(&ip);
        let pid = std::process::id();
        let n = PAIRS.fetch_add(1, Ordering::Relaxed);
        let name = |side: &str| format!("{PREFIX}{pid}x{n}{side}");
        // A subnet per pair: the pid and the pair's number pick it.
        let (x, y) = (
            200 + (pid % 50) as u8,
            ((pid / 50) as u8).wrapping_add(n as u8 * 37),
        );
        let host = |side: &str, last: u8| Host {
            ns: name(side),
            dev: format!("{}v", name(side)),
            addr: Ipv4Addr::new(10, x, y, last),
        };
        let pair = Self {
            a: host("a", 1),
            b: host("b", 2),
            ip,
            line: Mutex::new(None),
            impairments: AtomicU32::new(0),
        };
        assert!(
            pair.a.dev.len() <= 15,
            "interface name {} too long",
            pair.a.dev
        );
        pair.ip_ok(&["netns", "add", &pair.a.ns]);
        pair.ip_ok(&["netns", "add", &pair.b.ns]);
        pair.ip_ok(&[
            "link",
            "add",
            &pair.a.dev,
            "netns",
            &pair.a.ns,
            "type",
            "veth",
            "peer",
            "name",
            &pair.b.dev,
            "netns",
            &pair.b.ns,
        ]);
        for host in [&pair.a, &pair.b] {
            let addr = format!("{}/24", host.addr);
            pair.exec_ok(host, &["ip", "link", "set", "lo", "up"]);
            pair.exec_ok(host, &["ip", "addr", "add", &addr, "dev", &host.dev]);
            pair.exec_ok(host, &["ip", "link", "set", &host.dev, "up"]);
        }
        pair
    }

    /// Runs `ip args` on the machine, failing the test if it fails.
    fn ip_ok(&self, args: &[&str]) {
        let out = Command::new(&self.ip)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running ip");
        assert!(
            out.status.success(),
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command that runs `program` inside `host`'s namespace, through
    /// `ip netns exec`, which execs it in place: its pid is the command's.
    pub fn command(&self, host: &Host, program: impl AsRef<Path>) -> Command {
        let mut command = Command::new(&self.ip);
        command
            .args(["netns", "exec", &host.ns])
            .arg(program.as_ref());
        command
    }

    /// Runs `args` (a program and its arguments) inside `host` to its end.
    pub fn exec(&self, host: &Host, args: &[&str]) -> Output {
        self.command(host, args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .expect("running ip netns exec")
    }

    /// [`NetPair::exec`], failing the test if the command fails.
    pub fn exec_ok(&self, host: &Host, args: &[&str]) -> Output {
        let out = self.exec(host, args);
        assert!(
            out.status.success(),
            "`{}` in {} failed: {}{}",
            args.join(" "),
            host.ns,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts `program args` inside `host` as [`spawn_program`] starts a
    /// `plexus` command: log read line by line, killed with its process
    /// group if the test drops it unfinished.
    pub fn spawn(
        &self,
        host: &Host,
        program: &Path,
        args: &[&str],
        cwd: &Path,
        env: &[(&str, &Path)],
    ) -> Running {
        let program = program.to_str().expect("a UTF-8 program path");
        let mut all = vec!["netns", "exec", &host.ns, program];
        all.extend_from_slice(args);
        spawn_program(&self.ip, &all, cwd, env)
    }

    /// Impairs the link both ways, as `tc netem delay DELAY loss LOSS%`
    /// on both ends of the veth would: from now on every packet between
    /// the two addresses is `delay` late and lost with probability
    /// `loss_percent` / 100, until [`NetPair::repair`]. The kernels these
    /// tests run on have no `sch_netem`, so the packets take a
    /// [`DelayLine`] instead of the veth (open connections carry on).
    pub fn impair(&self, delay: Duration, loss_percent: f64) {
        self.repair();
        // A new name each time: a closed TUN device leaves the kernel
        // after a while, and its name stays taken (EBUSY) until then.
        let k = self.impairments.fetch_add(1, Ordering::Relaxed);
        let tun = |host: &Host| format!("{}t{k}", &host.dev[..host.dev.len() - 1]);
        let (tun_a, tun_b) = (tun(&self.a), tun(&self.b));
        let open = |host: &Host, name: &str| {
            let name = name.to_string();
            in_namespace(&host.ns, move || open_tun(&name))
                .unwrap_or_else(|e| panic!("a TUN device in {}: {e}", host.ns))
        };
        let (fd_a, fd_b) = (open(&self.a, &tun_a), open(&self.b, &tun_b));
        let line = DelayLine::start(fd_a, fd_b, delay, loss_percent);
        for (host, dev, peer) in [(&self.a, &tun_a, &self.b), (&self.b, &tun_b, &self.a)] {
            let (peer, me) = (format!("{}/32", peer.addr), host.addr.to_string());
            self.exec_ok(host, &["ip", "link", "set", dev, "up"]);
            self.exec_ok(
                host,
                &["ip", "route", "replace", &peer, "dev", dev, "src", &me],
            );
        }
        *self.line.lock().unwrap_or_else(|e| e.into_inner()) = Some(line);
    }

    /// Ends [`NetPair::impair`]: packets take the veth again.
    pub fn repair(&self) {
        let mut line = self.line.lock().unwrap_or_else(|e| e.into_inner());
        if line.is_none() {
            return;
        }
        for (host, peer) in [(&self.a, &self.b), (&self.b, &self.a)] {
            let peer = format!("{}/32", peer.addr);
            self.exec_ok(host, &["ip", "route", "del", &peer]);
        }
        *line = None;
    }

    /// Packets the impaired link carried and lost so far.
    pub fn impaired_counts(&self) -> Option<(u64, u64)> {
        let line = self.line.lock().unwrap_or_else(|e| e.into_inner());
        line.as_ref().map(|l| {
            (
                l.counts.carried.load(Ordering::Relaxed),
                l.counts.lost.load(Ordering::Relaxed),
            )
        })
    }

    /// Pids of every process inside `host`'s namespace.
    pub fn pids(&self, host: &Host) -> Vec<u32> {
        namespace_pids(&self.ip, &host.ns)
    }

    /// A TCP connection from inside `from`'s namespace to `to`'s address,
    /// made on a thread that joined the namespace: for checks that the
    /// network is as the test thinks.
    pub fn connect(&self, from: &Host, to: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
        in_namespace(&from.ns, move || {
            TcpStream::connect_timeout(&(to, port).into(), Duration::from_secs(3))
        })
    }
}

/// Runs `f` on a thread of its own that joined network namespace `ns`
/// (only that thread changes namespace), and returns what it returned.
pub fn in_namespace<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let path = PathBuf::from("/var/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path)?;
        // SAFETY: setns on an open namespace file; it changes only the
        // network namespace of this thread, which ends with `f`.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        f()
    })
    .join()
    .expect("the thread in the namespace panicked")
}

fn namespace_pids(ip: &Path, ns: &str) -> Vec<u32> {
    Command::new(ip)
        .args(["netns", "pids", ns])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills every process in `ns` and removes it (and so its veth end).
fn remove_namespace(ip: &Path, ns: &str) {
    // A process may fork while the first ones are killed: a few rounds.
    for _ in 0..5 {
        let pids = namespace_pids(ip, ns);
        if pids.is_empty() {
            break;
        }
        for pid in &pids {
            // SAFETY: kill(2) of a process inside a namespace this harness
            // made; nothing else runs there.
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
        for pid in pids {
            crate::exits_within(pid, Duration::from_secs(5));
        }
    }
    let _ = Command::new(ip)
        .args(["netns", "del", ns])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Removes the namespaces of earlier test processes that died without
/// removing theirs (killed by a signal), named after their pids.
fn remove_stale(ip: &Path) {
    let Ok(dir) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('x').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_namespace(ip, &name);
        }
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        // The line's thread first: it holds the TUN devices.
        drop(self.line.lock().unwrap_or_else(|e| e.into_inner()).take());
        for host in [&self.a, &self.b] {
            remove_namespace(&self.ip, &host.ns);
        }
        // Only left if a namespace could not be made or removed.
        let _ = Command::new(&self.ip)
            .args(["link", "del", &self.a.dev])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
