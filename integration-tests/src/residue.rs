//! Proof that a run left nothing behind: no process of the runtime, no file
//! of it in `/dev/shm`.

use std::path::Path;

fn prefix(runtime: &str) -> String {
    format!("plexus_{runtime}_")
}

/// Pids of live processes whose environment names `runtime`.
pub fn runtime_processes(runtime: &str) -> Vec<u32> {
    worker_processes(runtime, None)
}

/// Pids of live (not zombie) processes whose environment names `runtime`
/// and, if given, `worker`.
pub fn worker_processes(runtime: &str, worker: Option<&str>) -> Vec<u32> {
    let runtime_var = format!("PLEXUS_RUNTIME={runtime}");
    let worker_var = worker.map(|w| format!("PLEXUS_WORKER={w}"));
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let has = |var: &str| environ.split(|b| *b == 0).any(|kv| kv == var.as_bytes());
            has(&runtime_var) && worker_var.as_deref().is_none_or(has)
        })
        .filter(|pid| !is_zombie(*pid))
        .collect()
}

/// The current process of worker `name` of `runtime`: the one `supervisor`
/// started itself, not a child of the worker's that inherited its
/// environment.
pub fn worker_pid(runtime: &str, supervisor: u32, name: &str) -> Option<u32> {
    worker_processes(runtime, Some(name))
        .into_iter()
        .find(|&pid| stat_of(pid).is_some_and(|(_, parent)| parent == supervisor))
}

/// The state letter and the parent pid of process `pid`, if it exists.
fn stat_of(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …; comm may hold spaces and parentheses.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

fn is_zombie(pid: u32) -> bool {
    stat_of(pid).is_none_or(|(state, _)| matches!(state, 'Z' | 'X'))
}

/// Names in `/dev/shm` that belong to `runtime`.
pub fn runtime_files(runtime: &str) -> Vec<String> {
    let prefix = prefix(runtime);
    std::fs::read_dir(Path::new("/dev/shm"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes a runtime's files after a test had to kill it.
pub fn remove_runtime_files(runtime: &str) {
    for name in runtime_files(runtime) {
        let path = Path::new("/dev/shm").join(name);
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
}

/// Fails the test if any process or file of `runtime` is left.
pub fn assert_no_residue(runtime: &str) {
    let procs = runtime_processes(runtime);
    let files = runtime_files(runtime);
    if !files.is_empty() {
        remove_runtime_files(runtime);
    }
    assert!(
        procs.is_empty(),
        "processes of runtime {runtime} are still running: {procs:?}"
    );
    assert!(
        files.is_empty(),
        "runtime {runtime} left files in /dev/shm: {files:?}"
    );
}
