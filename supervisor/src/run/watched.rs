//! One processor as the health watch (`health`) sees it: its deadlines, and
//! the words of its shared counters that say whether its process is alive
//! and what call it is in (`bus::counters`).

use std::time::Duration;

use anyhow::Result;
use bus::counters::{Call, Counters};
use ipc_schemas::Names;

use crate::load::deadlines::Deadlines;
use crate::load::plan::PlannedProcessor;

pub struct Watched {
    pub processor: String,
    pub deadlines: Deadlines,
    counters: Counters,
}

impl Watched {
    pub fn open(names: &Names, planned: &PlannedProcessor) -> Result<Self> {
        let spec = &planned.spec;
        Ok(Self {
            processor: spec.id.clone(),
            deadlines: planned.deadlines,
            counters: Counters::open(names, &spec.id, spec.inputs.len(), spec.outputs.len())?,
        })
    }

    /// The call the processor is in, and how long it has been in it by
    /// `now_ns` (`monotonic_ns`).
    pub fn busy_for(&self, now_ns: u64) -> Option<(Call, Duration)> {
        let (call, since) = self.counters.busy().get()?;
        Some((call, Duration::from_nanos(now_ns.saturating_sub(since))))
    }

    /// How long its process's pulse has been silent by `now_ns`; `None`
    /// before the process's first beat.
    pub fn pulse_silent_for(&self, now_ns: u64) -> Option<Duration> {
        let pulse = self.counters.pulse().get();
        (pulse != 0).then(|| Duration::from_nanos(now_ns.saturating_sub(pulse)))
    }

    /// Its process ended: whatever it was doing is over, and its successor
    /// must not be judged by a stale pulse or call. No process of the
    /// processor writes these words now.
    /// A processor `plexus apply` adds starts counting from nothing, even
    /// under the id of one it removed earlier.
    pub fn start_over(&self) {
        self.counters.clear();
    }

    pub fn forget(&self) {
        self.counters.busy().leave();
        self.counters.pulse().set(0);
    }
}
