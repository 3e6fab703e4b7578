//! The violations a sandboxed worker's processors commit, as the worker
//! itself sees them (docs/ARCHITECTURE.md §15, *Messages*). The kernel
//! refuses an operation with EACCES or EPERM; the interposed libc functions
//! ([`crate::interpose`]) record what was refused here, and worker-lifecycle
//! drains the records into `Report::Violation` after each processor call
//! and on each stats tick, so the user reads one sentence naming the
//! processor and the permission it lacked, not a bare "Permission denied".
//!
//! The processor named is the one worker-lifecycle is calling on the
//! recording thread ([`current`]); on any other thread (a processor's own,
//! the interpreter's start) it is the worker's only processor, or all of
//! them.
//!
//! Recording happens inside libc calls of arbitrary code, so it keeps to
//! what cannot deadlock or recurse: it allocates only once the kernel has
//! refused, never in a forked child (whose records nobody drains and whose
//! allocator may be locked), and never again on a thread already recording.

use std::cell::Cell;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use ipc_schemas::sandbox::{
    Denied, Endpoint, Permissions, SandboxMode, Violation, ViolationAction, WorkerSandbox,
};

/// The most violations waiting to be drained; later ones are counted.
const QUEUE: usize = 64;

/// The most distinct violations remembered to collapse repeats: a
/// processor trying ever new paths costs bounded memory, and the ones past
/// this are counted, not sent.
const REMEMBERED: usize = 256;

/// The worker's sandbox, as recording needs it.
struct Worker {
    mode: Mode,
    /// The process that activated it: a forked child records nothing.
    pid: u32,
    /// Each processor's id and permissions; [`CURRENT`] indexes this.
    processors: Vec<(String, Permissions)>,
    /// What the whole process may do: the union.
    all: Permissions,
    /// Who a violation outside any processor call is ascribed to.
    anyone: String,
}

/// How violations are reported, for the two modes that enforce anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Each distinct violation once, as denied.
    Strict,
    /// The first of each permission kind per processor, as a warning.
    Declared,
}

static WORKER: OnceLock<Worker> = OnceLock::new();

/// Whether [`BOOK`]'s queue may hold something: drained cheaply when not.
static PENDING: AtomicBool = AtomicBool::new(false);

/// Whether the lifecycle has called a processor yet. Before its first call
/// (the creation that imports a processor's code) what runs is the worker
/// and its interpreter starting, not a processor: what the kernel refuses
/// them (Python looking for optional files) is not a processor's
/// violation, and is not recorded.
static STARTED: AtomicBool = AtomicBool::new(false);

static BOOK: Mutex<Book> = Mutex::new(Book::new());

thread_local! {
    /// The index in [`Worker::processors`] of the processor the lifecycle
    /// is calling on this thread.
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
    /// Set while this thread records: a libc call made while recording is
    /// not recorded again.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

/// Starts recording for a worker confined by `sandbox` (nothing under
/// `sandbox: off`). Called once, when the worker enters its sandbox, before
/// any processor code runs.
pub fn activate(sandbox: &WorkerSandbox) {
    let mode = match sandbox.mode {
        SandboxMode::Strict => Mode::Strict,
        SandboxMode::Declared => Mode::Declared,
        SandboxMode::Off => return,
    };
    let processors: Vec<(String, Permissions)> = sandbox
        .processors
        .iter()
        .map(|(id, permissions)| (id.clone(), permissions.clone()))
        .collect();
    let anyone = processors
        .iter()
        .map(|(id, _)| id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = WORKER.set(Worker {
        mode,
        pid: std::process::id(),
        processors,
        all: sandbox.permissions(),
        anyone,
    });
}

/// Whether a sandbox is active in this process.
pub fn active() -> bool {
    WORKER.get().is_some()
}

/// Names `processor` as the one running on this thread until the returned
/// guard drops; the lifecycle holds one around every call of a processor.
pub fn current(processor: &str) -> Current {
    let index = WORKER
        .get()
        .and_then(|w| w.processors.iter().position(|(id, _)| id == processor));
    let previous = CURRENT.try_with(|c| c.replace(index)).ok().flatten();
    STARTED.store(true, Ordering::Relaxed);
    Current { previous }
}

/// While it lives, violations on this thread are the named processor's.
#[must_use = "the processor is current only while the guard lives"]
pub struct Current {
    previous: Option<usize>,
}

impl Drop for Current {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.previous));
    }
}

/// The permissions that apply on this thread: the current processor's, or
/// the whole worker's outside a processor call.
fn applying(worker: &Worker) -> &Permissions {
    match CURRENT.try_with(Cell::get).ok().flatten() {
        Some(i) => &worker.processors[i].1,
        None => &worker.all,
    }
}

/// Whether starting processes is allowed here: always without a sandbox.
pub fn may_spawn() -> bool {
    WORKER.get().is_none_or(|w| applying(w).spawn)
}

/// Hands `check` the endpoints the processor running here may connect
/// to; `None` without a sandbox.
pub(crate) fn with_connect<T>(check: impl FnOnce(Option<&[Endpoint]>) -> T) -> T {
    check(WORKER.get().map(|w| applying(w).connect.as_slice()))
}

/// Records that the kernel (or the spawn pre-check) refused what `denied`
/// describes. Does nothing without a sandbox, in a forked child, while
/// this thread records already, or when the target is within what the
/// processor declared (then the refusal was the file's own mode or a
/// privileged port, not the sandbox). `denied` runs only when it records.
pub fn record(denied: impl FnOnce() -> Option<Denied>) {
    let Some(worker) = WORKER.get() else {
        return;
    };
    if std::process::id() != worker.pid || !STARTED.load(Ordering::Relaxed) {
        return;
    }
    let Ok(false) = RECORDING.try_with(|r| r.replace(true)) else {
        return;
    };
    if let Some(denied) = denied() {
        if !declared(applying(worker), &denied) {
            let who = CURRENT.try_with(Cell::get).ok().flatten();
            let name = who.map_or(&worker.anyone, |i| &worker.processors[i].0);
            let mut book = lock();
            book.add(worker.mode, who, name, denied);
            if !book.queue.is_empty() {
                PENDING.store(true, Ordering::Release);
            }
        }
    }
    let _ = RECORDING.try_with(|r| r.set(false));
}

/// Whether `denied` is something `permissions` allow.
fn declared(permissions: &Permissions, denied: &Denied) -> bool {
    let under = |path: &str, roots: &[&[std::path::PathBuf]]| {
        roots
            .iter()
            .flat_map(|r| r.iter())
            .any(|root| Path::new(path).starts_with(root))
    };
    let p = permissions;
    match denied {
        Denied::Read(path) => under(path, &[&p.read, &p.write, &p.devices]),
        Denied::Write(path) => under(path, &[&p.write, &p.devices]),
        Denied::Device(path) => under(path, &[&p.devices]),
        Denied::Connect(endpoint) => p.connect.iter().any(|e| e.to_string() == *endpoint),
        Denied::Listen(port) => p.listen.contains(port),
        Denied::Spawn(_) => p.spawn,
        Denied::SharedMemory(_) | Denied::Syscall(_) => false,
    }
}

/// The violations recorded since the last call, oldest first; cheap when
/// there are none.
pub fn drain() -> Vec<Violation> {
    if !PENDING.swap(false, Ordering::AcqRel) {
        return Vec::new();
    }
    lock().queue.drain(..).collect()
}

/// The system calls the seccomp filter trapped under `declared` since the
/// last call (the first of each call only, [`crate::take_syscall_violations`]),
/// as warnings ascribed to the worker's processors: a signal handler cannot
/// tell which was running. Costs a look at each trapped call's flag, so
/// the lifecycle calls it on stats ticks, not after every call.
pub fn drain_syscalls() -> Vec<Violation> {
    let Some(worker) = WORKER.get() else {
        return Vec::new();
    };
    crate::take_syscall_violations()
        .into_iter()
        .map(|(_, call)| Violation {
            processor: worker.anyone.clone(),
            denied: Denied::Syscall(call.to_string()),
            action: ViolationAction::Warned,
        })
        .collect()
}

/// How many violations were collapsed into earlier ones or found no room,
/// and so were not reported.
pub fn unreported() -> u64 {
    lock().unreported
}

fn lock() -> MutexGuard<'static, Book> {
    BOOK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The violations waiting, and what has been reported.
struct Book {
    queue: VecDeque<Violation>,
    /// What has been reported, by processor index (`None`: outside any
    /// processor call).
    reported: Vec<(Option<usize>, Denied)>,
    unreported: u64,
}

impl Book {
    const fn new() -> Self {
        Book {
            queue: VecDeque::new(),
            reported: Vec::new(),
            unreported: 0,
        }
    }

    /// Queues `denied` by processor `who` (named `name`) unless it repeats
    /// what was reported: the same violation under `strict`, the same kind
    /// of permission under `declared`.
    fn add(&mut self, mode: Mode, who: Option<usize>, name: &str, denied: Denied) {
        let repeats = |(w, d): &(Option<usize>, Denied)| {
            *w == who
                && match mode {
                    Mode::Strict => *d == denied,
                    Mode::Declared => d.permission() == denied.permission(),
                }
        };
        if self.reported.iter().any(repeats)
            || self.reported.len() >= REMEMBERED
            || self.queue.len() >= QUEUE
        {
            self.unreported += 1;
            return;
        }
        self.reported.push((who, denied.clone()));
        self.queue.push_back(Violation {
            processor: name.to_string(),
            denied,
            action: match mode {
                Mode::Strict => ViolationAction::Denied,
                Mode::Declared => ViolationAction::Warned,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> Denied {
        Denied::Read(path.into())
    }

    #[test]
    fn strict_reports_each_distinct_violation_once() {
        let mut book = Book::new();
        book.add(Mode::Strict, Some(0), "probe", read("/etc/passwd"));
        book.add(Mode::Strict, Some(0), "probe", read("/etc/passwd"));
        book.add(Mode::Strict, Some(0), "probe", read("/etc/shadow"));
        book.add(Mode::Strict, Some(1), "other", read("/etc/passwd"));
        let sent: Vec<String> = book.queue.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            sent,
            [
                "processor `probe` may not open /etc/passwd for reading: not in its permissions",
                "processor `probe` may not open /etc/shadow for reading: not in its permissions",
                "processor `other` may not open /etc/passwd for reading: not in its permissions",
            ]
        );
        assert_eq!(book.unreported, 1);
    }

    #[test]
    fn declared_warns_of_the_first_of_each_kind_only() {
        let mut book = Book::new();
        book.add(Mode::Declared, Some(0), "probe", read("/etc/passwd"));
        book.add(Mode::Declared, Some(0), "probe", read("/etc/shadow"));
        book.add(Mode::Declared, Some(0), "probe", Denied::Listen(80));
        assert_eq!(book.queue.len(), 2);
        assert!(book
            .queue
            .iter()
            .all(|v| v.action == ViolationAction::Warned));
        assert_eq!(book.unreported, 1);
    }

    #[test]
    fn a_flood_of_distinct_violations_is_bounded() {
        let mut book = Book::new();
        for round in 0..20 {
            for n in 0..1000 {
                book.add(Mode::Strict, None, "a, b", read(&format!("/x/{round}/{n}")));
            }
            assert!(book.queue.len() <= QUEUE);
            book.queue.clear();
        }
        assert_eq!(book.reported.len(), REMEMBERED);
        assert_eq!(book.unreported, 20_000 - REMEMBERED as u64);
    }

    #[test]
    fn what_a_processor_declared_is_no_violation() {
        let p = Permissions {
            read: vec!["/data/in".into()],
            write: vec!["/data/out".into()],
            connect: vec![Endpoint {
                host: "127.0.0.1".into(),
                port: 8080,
            }],
            listen: vec![9000],
            ..Default::default()
        };
        assert!(declared(&p, &read("/data/in/a.txt")));
        assert!(declared(&p, &read("/data/out/b")));
        assert!(!declared(&p, &read("/data/input")));
        assert!(declared(&p, &Denied::Write("/data/out/c".into())));
        assert!(!declared(&p, &Denied::Write("/data/in/c".into())));
        assert!(declared(&p, &Denied::Connect("127.0.0.1:8080".into())));
        assert!(!declared(&p, &Denied::Connect("10.0.0.1:8080".into())));
        assert!(declared(&p, &Denied::Listen(9000)));
        assert!(!declared(&p, &Denied::Spawn("/bin/sh".into())));
    }
}
