//! What the bench reads about processes, its own and others: CPU time and
//! resident memory.

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
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(super::cpu_ns(pid).is_some_and(|ns| ns > 0));
        let memory = super::resident(pid).expect("own status");
        assert!(memory.total > 0 && memory.total >= memory.anon);
    }
}
