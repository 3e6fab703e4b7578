//! Signals as a flag the working loops look at: an agent stops its part and
//! exits on Ctrl-C or SIGTERM; a coordinator leaves Ctrl-C to its
//! supervisor, which stops it through its stdin.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// `stop` signals set the flag; `ignored` ones are ignored.
pub fn install(stop: &[Signal], ignored: &[Signal]) -> nix::Result<()> {
    let flag = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for (signals, action) in [(stop, &flag), (ignored, &ignore)] {
        for signal in signals {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe; ignoring a signal runs no code at all.
            unsafe { sigaction(*signal, action) }?;
        }
    }
    Ok(())
}

/// True once a stop signal arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
