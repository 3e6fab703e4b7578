//! What the benchmarks share: where the release binaries they measure are,
//! a scratch directory, publishing a report, and reading CPU time and
//! resident memory of processes.

use std::path::PathBuf;

use crate::workspace;

/// `target/release` of this workspace, where `cargo build --release` puts
/// the binaries the benchmarks run.
fn release_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace().join(dir).join("release"),
        None => workspace().join("target").join("release"),
    }
}

/// The release directory, once every file in `needed` is there; otherwise
/// one sentence naming what is missing and how to build it.
pub fn require_release(needed: &[&str]) -> Result<PathBuf, String> {
    let release = release_dir();
    let missing: Vec<String> = needed
        .iter()
        .map(|name| release.join(name))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        Ok(release)
    } else {
        Err(format!(
            "missing release binaries {}: run `cargo build --release --workspace` first",
            missing.join(", ")
        ))
    }
}

/// A private temporary directory for pipeline files, removed at the end.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(bench: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("plexus-{bench}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `bench-results/` of the workspace (gitignored), created if need be.
pub fn results_dir() -> Result<PathBuf, String> {
    let dir = workspace().join("bench-results");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Prints `report` and writes it to `bench-results/<bench>.md`.
pub fn publish(bench: &str, report: &str) -> Result<(), String> {
    print!("{report}");
    let out = results_dir()?.join(format!("{bench}.md"));
    std::fs::write(&out, report).map_err(|e| format!("writing {}: {e}", out.display()))?;
    eprintln!("{bench}: table written to {}", out.display());
    Ok(())
}

/// CPU time `pid` has used so far, all its threads, user and system, in ns;
/// `None` once it is gone. It is read from the process's CPU-time clock,
/// which has nanosecond resolution where `/proc/<pid>/stat` counts ticks of
/// 10 ms — too coarse for a few microseconds per frame.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let mut clock: libc::clockid_t = 0;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both calls write only to the out-parameters passed.
    unsafe {
        if libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) != 0 {
            return None;
        }
        if libc::clock_gettime(clock, &mut ts) != 0 {
            return None;
        }
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// CPU time the calling thread has used so far, in ns.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes only the timespec passed; the clock always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Resident memory of one process, in KiB, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Default)]
pub struct Resident {
    /// All resident pages (`VmRSS`).
    pub total: u64,
    /// Private heap and stacks (`RssAnon`).
    pub anon: u64,
    /// Mapped files: the binary, its libraries, the interpreter (`RssFile`).
    pub file: u64,
    /// Shared memory: iceoryx2's segments the process touched (`RssShmem`),
    /// counted again in every process that maps the same pages.
    pub shmem: u64,
}

pub fn resident(pid: u32) -> Option<Resident> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    Some(Resident {
        total: field("VmRSS")?,
        anon: field("RssAnon")?,
        file: field("RssFile")?,
        shmem: field("RssShmem")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_cpu_time_and_memory_are_readable() {
        let pid = std::process::id();
        let before = super::thread_cpu_ns();
        // Burn a little CPU so both clocks must have advanced.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i * i));
        }
        assert!(super::thread_cpu_ns() > before);
        assert!(super::cpu_ns(pid).is_some_and(|ns| ns >= super::thread_cpu_ns() - before));
        let memory = super::resident(pid).expect("own /proc status");
        assert!(memory.total > 0);
        assert!(memory.total >= memory.anon && memory.total >= memory.file);
    }

    #[test]
    fn a_process_that_is_gone_has_no_cpu_time_nor_memory() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawning true");
        let pid = child.id();
        child.wait().expect("reaping true");
        assert_eq!(super::cpu_ns(pid), None);
        assert!(super::resident(pid).is_none());
    }
}
