//! What the two baseline senders (the raw iceoryx2 publisher and the pipe
//! writer) share: they are this bench binary re-executed in a role, paced
//! like the test pattern and bound to the life of the bench.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::Result;

/// Ends this child when the bench that started it dies, and refuses to
/// start if it already has (`parent` is the pid the bench passed).
pub fn die_with_parent(parent: u64) -> Result<()> {
    // SAFETY: plain system calls without pointers. The death signal ends a
    // child whose bench died mid-run; the check covers a bench that died
    // before the signal was armed.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() as u64 != parent {
            return Err("the bench is gone".into());
        }
    }
    Ok(())
}

/// Sleeps until frame `seq + 1` is due. Pacing against the start keeps the
/// rate fixed whatever a send cost.
pub fn pace(start: Instant, interval: Duration, seq: u64) {
    if let Some(wait) = (start + interval * (seq as u32 + 1)).checked_duration_since(Instant::now())
    {
        std::thread::sleep(wait);
    }
}

/// Parses one numeric argument of a child role.
pub fn number(arg: &str) -> Result<u64> {
    arg.parse::<u64>().map_err(|e| format!("`{arg}`: {e}"))
}

pub fn check_status(who: &str, status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("{who} failed ({status})"))
    }
}
