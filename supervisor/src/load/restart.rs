//! Restart policies (docs/ARCHITECTURE.md §5): when a crashed worker comes back,
//! after how long, and when plexus gives up on it. Erlang-style: at most
//! `max_restarts` within `window_secs`, with a backoff that doubles per
//! consecutive restart up to `max_backoff_ms`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// A crash is final.
    Never,
    /// Restart after a crash (death, missed deadline); a clean exit is final.
    OnFailure,
    /// Restart after any exit the supervisor did not ask for.
    Always,
}

/// The `restart:` block of a processor in a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartSpec {
    pub policy: Policy,
    pub max_restarts: u32,
    pub window_secs: u64,
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for RestartSpec {
    /// Without a `restart:` block a crash is final; with one, the policy
    /// defaults to `on-failure` with the budget docs/ARCHITECTURE.md §5 shows.
    fn default() -> Self {
        Self {
            policy: Policy::OnFailure,
            max_restarts: 5,
            window_secs: 10,
            backoff_ms: 50,
            max_backoff_ms: 5000,
        }
    }
}

impl RestartSpec {
    pub const NEVER: RestartSpec = RestartSpec {
        policy: Policy::Never,
        max_restarts: 0,
        window_secs: 10,
        backoff_ms: 0,
        max_backoff_ms: 0,
    };

    /// Whether an exit of this kind calls for a restart at all.
    pub fn applies(&self, crashed: bool) -> bool {
        match self.policy {
            Policy::Never => false,
            Policy::OnFailure => crashed,
            Policy::Always => true,
        }
    }
}

/// Restarts of one worker so far, for the budget and the backoff.
#[derive(Debug, Default)]
pub struct Budget {
    recent: VecDeque<Instant>,
    consecutive: u32,
}

impl Budget {
    /// The delay before the next restart, or `None` when the budget of
    /// `spec` is spent and the worker must be given up.
    pub fn next(&mut self, spec: &RestartSpec, now: Instant) -> Option<Duration> {
        let window = Duration::from_secs(spec.window_secs);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= spec.max_restarts {
            return None;
        }
        // Restarts spaced by more than a window are not consecutive.
        if self.recent.is_empty() {
            self.consecutive = 0;
        }
        self.recent.push_back(now);
        let factor = 1u64.checked_shl(self.consecutive).unwrap_or(u64::MAX);
        self.consecutive += 1;
        Some(Duration::from_millis(
            spec.backoff_ms
                .saturating_mul(factor)
                .min(spec.max_backoff_ms.max(spec.backoff_ms)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max: u32) -> RestartSpec {
        RestartSpec {
            max_restarts: max,
            backoff_ms: 50,
            max_backoff_ms: 300,
            ..RestartSpec::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Budget::default();
        let now = Instant::now();
        let delays: Vec<u64> = (0..5)
            .map(|_| b.next(&spec(10), now).unwrap().as_millis() as u64)
            .collect();
        assert_eq!(delays, [50, 100, 200, 300, 300]);
    }

    #[test]
    fn the_budget_is_per_window() {
        let mut b = Budget::default();
        let t0 = Instant::now();
        assert!(b.next(&spec(2), t0).is_some());
        assert!(b.next(&spec(2), t0).is_some());
        assert!(
            b.next(&spec(2), t0).is_none(),
            "third restart within the window"
        );
        let later = t0 + Duration::from_secs(11);
        assert_eq!(
            b.next(&spec(2), later),
            Some(Duration::from_millis(50)),
            "a new window starts the backoff over"
        );
    }

    #[test]
    fn policies_decide_which_exits_restart() {
        let never = RestartSpec::NEVER;
        let on_failure = RestartSpec::default();
        let always = RestartSpec {
            policy: Policy::Always,
            ..RestartSpec::default()
        };
        assert!(!never.applies(true));
        assert!(on_failure.applies(true) && !on_failure.applies(false));
        assert!(always.applies(false));
    }

    #[test]
    fn the_yaml_form_parses_with_defaults() {
        let s: RestartSpec =
            serde_yaml_ng::from_str("{ policy: always, max_restarts: 2 }").unwrap();
        assert_eq!(s.policy, Policy::Always);
        assert_eq!(s.max_restarts, 2);
        assert_eq!(s.backoff_ms, 50);
        assert!(serde_yaml_ng::from_str::<RestartSpec>("{ policy: sometimes }").is_err());
    }
}
