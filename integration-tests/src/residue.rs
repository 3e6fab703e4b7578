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
    bus::discovery::runtime_processes(runtime, worker)
}

/// The current process of worker `name` of `runtime`: the one `supervisor`
/// started itself, not a child of the worker's that inherited its
/// environment.
pub fn worker_pid(runtime: &str, supervisor: u32, name: &str) -> Option<u32> {
    worker_processes(runtime, Some(name))
        .into_iter()
        .find(|&pid| {
            bus::discovery::process_stat(pid).is_some_and(|(_, parent)| parent == supervisor)
        })
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
