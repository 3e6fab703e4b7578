//! A one-shot alarm a `WaitSet` can wait on to the microsecond: a timerfd
//! on the capture clock. The set's own timeouts and intervals are whole
//! milliseconds (epoll's unit, rounded up), too coarse to be awake just
//! before a frame is due (`latency: low`).

use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::BusError;
use crate::fd::WaitableFd;

pub struct Alarm {
    fd: WaitableFd,
}

impl Alarm {
    /// An alarm that is not set.
    pub fn new() -> Result<Self, BusError> {
        // SAFETY: timerfd_create takes a clock and flags and returns a new
        // fd or -1.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(BusError::new(
                "creating an alarm (timerfd_create)",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: `raw` is a new fd that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Self {
            fd: WaitableFd::from_owned(owned)?,
        })
    }

    /// What a `WaitSet` attaches: readable once the alarm rang.
    pub fn fd(&self) -> &WaitableFd {
        &self.fd
    }

    /// Rings at `at_ns` of `CLOCK_MONOTONIC` (the capture clock), at once
    /// if that has passed; replaces the time set before.
    pub fn set(&self, at_ns: u64) -> Result<(), BusError> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            // A zero time would disarm it: the earliest is 1 ns.
            it_value: libc::timespec {
                tv_sec: (at_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (at_ns % 1_000_000_000).max(1) as libc::c_long,
            },
        };
        // SAFETY: a valid timerfd and a valid itimerspec; the old value is
        // not asked for.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.raw(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        match rc {
            0 => Ok(()),
            _ => Err(BusError::new(
                "setting an alarm (timerfd_settime)",
                std::io::Error::last_os_error(),
            )),
        }
    }

    /// Takes a ring, so that a level-triggered wait does not fire again.
    pub fn drain(&self) {
        let mut expirations = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer; the fd is
        // non-blocking, and nothing to read (EAGAIN) is no ring to take.
        let _ = unsafe { libc::read(self.fd.raw(), expirations.as_mut_ptr().cast(), 8) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waitset::WaitSet;
    use ipc_schemas::frame::monotonic_ns;
    use std::time::Duration;

    #[test]
    fn an_alarm_wakes_the_set_at_its_time_and_once() {
        let set = WaitSet::new().unwrap();
        let alarm = Alarm::new().unwrap();
        let attached = set.attach_fd(alarm.fd()).unwrap();
        let at = monotonic_ns() + 2_000_000;
        alarm.set(at).unwrap();
        let mut rang = false;
        set.wait_once(Some(Duration::from_secs(5)), |ready| {
            rang |= ready.is(&attached)
        })
        .unwrap();
        assert!(rang && monotonic_ns() >= at);
        alarm.drain();
        let mut again = false;
        set.wait_once(Some(Duration::from_millis(5)), |ready| {
            again |= ready.is(&attached)
        })
        .unwrap();
        assert!(!again);
    }
}
