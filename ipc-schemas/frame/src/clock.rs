//! The capture clock: every process stamps and compares `capture_ns` with it.

/// Reads `CLOCK_MONOTONIC`, the clock shared by every process on the machine,
/// so capture-to-sink latency can be computed across workers.
pub fn monotonic_ns() -> u64 {
    let mut ts = std::mem::MaybeUninit::<Timespec>::uninit();
    // SAFETY: `ts` is writable and `Timespec` has the layout of the 64-bit
    // Linux `struct timespec`, which clock_gettime fills on success;
    // CLOCK_MONOTONIC always exists on Linux.
    let ok = unsafe { clock_gettime(CLOCK_MONOTONIC, ts.as_mut_ptr()) } == 0;
    assert!(ok, "CLOCK_MONOTONIC is unavailable");
    // SAFETY: the call succeeded, so it wrote both fields.
    let ts = unsafe { ts.assume_init() };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

const CLOCK_MONOTONIC: i32 = 1;

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
