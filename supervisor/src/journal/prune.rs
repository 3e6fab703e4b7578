//! Keeping the journal bounded across runs: when a run starts, runs past
//! the newest `PLEXUS_RUNS_KEEP` (default 50) or older than
//! `PLEXUS_RUNS_MAX_AGE_DAYS` (default 30) are removed. A run still in
//! progress is never removed.

use std::path::Path;
use std::time::Duration;

use super::read::{self, RunState};
use crate::error::UserError;

/// How many runs the journal keeps at most, by default.
const DEFAULT_KEEP: usize = 50;
/// How old a run the journal keeps at most, by default, in days.
const DEFAULT_MAX_AGE_DAYS: u64 = 30;

/// How much of the past the journal keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub keep: usize,
    pub max_age: Duration,
}

impl Retention {
    /// The retention the environment asks for.
    pub fn from_env() -> Result<Self, UserError> {
        let keep = setting("PLEXUS_RUNS_KEEP")?.unwrap_or(DEFAULT_KEEP as u64) as usize;
        let days = setting("PLEXUS_RUNS_MAX_AGE_DAYS")?.unwrap_or(DEFAULT_MAX_AGE_DAYS);
        Ok(Self {
            keep: keep.max(1),
            max_age: Duration::from_secs(days.saturating_mul(86_400)),
        })
    }
}

fn setting(name: &str) -> Result<Option<u64>, UserError> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(value) => value.trim().parse().map(Some).map_err(|_| {
            UserError::Plain(format!(
                "{name} is `{}`: it must be a whole number",
                crate::error::excerpt(&value)
            ))
        }),
    }
}

/// Removes the runs `retention` does not keep; returns how many. The
/// newest run is kept whatever its age: it is the one just started.
pub fn prune(runs: &Path, retention: Retention, now_ns: u64) -> usize {
    let mut removed = 0;
    let max_age_ns = retention.max_age.as_nanos() as u64;
    for (i, run) in read::list(runs).into_iter().enumerate() {
        let too_many = i >= retention.keep;
        let too_old = i > 0 && now_ns.saturating_sub(run.info.start_time_ns) > max_age_ns;
        if run.state == RunState::Running || !(too_many || too_old) {
            continue;
        }
        match std::fs::remove_dir_all(runs.join(&run.info.runtime)) {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!("could not prune run {}: {e}", run.info.runtime),
        }
    }
    removed
}
