//! What a worker's process costs the machine, as `ps` and `top` show it:
//! CPU in percent of one core between two readings of `/proc/<pid>/stat`,
//! and resident memory from `/proc/<pid>/statm`. The supervisor reads them
//! when the worker reports its counters, so CPU covers the same second as
//! the frame rates.

use std::time::Instant;

/// The last reading of one worker's process, and what it gave.
#[derive(Debug, Default)]
pub struct Usage {
    last: Option<Reading>,
    /// CPU ticks of the worker's earlier processes, as last read.
    earlier_ticks: u64,
    /// Over the time between the last two readings of the same process.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    pid: u32,
    /// User and system CPU time, in clock ticks.
    ticks: u64,
    at: Instant,
}

impl Usage {
    /// Reads process `pid` at `now`. A new process starts over: its CPU is
    /// 0 until it was read twice. A process that is gone reads as nothing.
    pub fn measure(&mut self, pid: u32, now: Instant) {
        let read = cpu_ticks(pid).zip(rss_bytes(pid));
        if let Some(ended) = self.last.filter(|l| l.pid != pid || read.is_none()) {
            self.earlier_ticks += ended.ticks;
            self.last = None;
        }
        let Some((ticks, rss)) = read else {
            (self.cpu_percent, self.rss_bytes) = (0.0, 0);
            return;
        };
        self.cpu_percent = match self.last {
            Some(last) => percent(ticks.saturating_sub(last.ticks), now - last.at),
            None => 0.0,
        };
        self.rss_bytes = rss;
        self.last = Some(Reading {
            pid,
            ticks,
            at: now,
        });
    }
}

impl Usage {
    /// CPU time of every process of the worker, as last read, in ms.
    pub fn cpu_ms(&self) -> u64 {
        let ticks = self.earlier_ticks + self.last.map_or(0, |l| l.ticks);
        (ticks as f64 * 1000.0 / clock_ticks_per_second()) as u64
    }
}

/// `ticks` of CPU over `elapsed`, in percent of one core, to 0.1.
fn percent(ticks: u64, elapsed: std::time::Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    let cpu_secs = ticks as f64 / clock_ticks_per_second();
    (cpu_secs / secs * 1000.0).round() / 10.0
}

/// utime + stime of `pid`, fields 14 and 15 of `/proc/<pid>/stat`. They are
/// counted after the command name, which is in parentheses and may hold
/// spaces or parentheses itself, so the last `)` is where fields resume.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ticks_of(&stat)
}

fn cpu_ticks_of(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state), so utime is its 12th field.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident pages of `pid` (the second field of `/proc/<pid>/statm`), in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // Linux's USER_HZ is 100 wherever sysconf could not tell.
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_is_skipped() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0";
        assert_eq!(cpu_ticks_of(stat), Some(12));
    }

    #[test]
    fn this_process_is_measured_and_a_new_one_starts_over() {
        let mut usage = Usage::default();
        let me = std::process::id();
        let t0 = Instant::now();
        usage.measure(me, t0);
        assert_eq!(usage.cpu_percent, 0.0);
        assert!(usage.rss_bytes > 0);
        // Burn some CPU so the second reading has something to show.
        let until = Instant::now() + Duration::from_millis(60);
        let mut spin = 0u64;
        while Instant::now() < until {
            spin = spin.wrapping_add(1);
        }
        assert!(spin > 0);
        usage.measure(me, t0 + Duration::from_millis(100));
        assert!(usage.cpu_percent >= 0.0);
        let used = usage.cpu_ms();
        assert!(used >= 10, "60 ms of spinning shows: {used} ms");
        usage.measure(u32::MAX, t0 + Duration::from_millis(200));
        assert_eq!((usage.cpu_percent, usage.rss_bytes), (0.0, 0));
        // A process that ended keeps its CPU time in the worker's total.
        assert_eq!(usage.cpu_ms(), used);
    }
}
