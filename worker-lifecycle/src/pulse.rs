//! The worker's pulse: a thread of its own stamps the time into every
//! processor's counters (`bus::counters`), whatever the processors are busy
//! with, so the supervisor can tell a live process from a dead or frozen one
//! without asking the processor anything. How long a processor may take is
//! judged separately, by its own deadlines (docs/ARCHITECTURE.md §5).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

use bus::counters::Counter;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::PULSE_INTERVAL;

/// Beats until dropped.
pub(crate) struct Pulse {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Pulse {
    /// Beats once now, then every [`PULSE_INTERVAL`] on a thread.
    pub fn start(words: Vec<Counter>) -> std::io::Result<Self> {
        let beat = move || {
            let now = monotonic_ns();
            for word in &words {
                word.set(now);
            }
        };
        beat();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("plexus-pulse".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(PULSE_INTERVAL) {
                    beat();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::Names;

    #[test]
    fn the_pulse_beats_on_its_own_and_stops_when_dropped() {
        let names = Names::new("c0ffee02").unwrap();
        let counters = bus::counters::Counters::open(&names, "p", 0, 0).unwrap();
        let pulse = Pulse::start(vec![counters.pulse()]).unwrap();
        let first = counters.pulse().get();
        assert_ne!(first, 0, "the first beat is at once");
        // The thread beats while this one sleeps, as it would while a
        // processor is busy.
        std::thread::sleep(PULSE_INTERVAL * 3);
        let later = counters.pulse().get();
        assert!(later > first, "no beat in {:?}", PULSE_INTERVAL * 3);
        drop(pulse);
        let stopped = counters.pulse().get();
        std::thread::sleep(PULSE_INTERVAL * 2);
        assert_eq!(counters.pulse().get(), stopped);
        let _ = std::fs::remove_file(format!(
            "{}/{}counts_p",
            bus::files::SHM_DIR,
            names.file_prefix()
        ));
    }
}
