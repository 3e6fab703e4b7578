//! Restart policies (docs/ARCHITECTURE.md §5): when a crashed worker comes back,
//! after how long, and when plexus gives up on it. Erlang-style: at most
//! `max_restarts` within `window_secs`, with a backoff that doubles per
//! consecutive restart up to `max_backoff_ms` and starts over once a
//! restarted worker has run healthy for `reset_after_ms`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

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

/// The `restart:` block of a processor in a pipeline. Read it with
/// [`checked`], which refuses numbers outside [`LIMITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartSpec {
    pub policy: Policy,
    pub max_restarts: u32,
    pub window_secs: u64,
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub reset_after_ms: u64,
}

/// The range each number of a `restart:` block must lie in. Beyond them a
/// setting stops meaning anything a run could show: a backoff of 2^63 ms
/// never ends, a window of 0 s gives up at once.
pub const LIMITS: [(&str, u64, u64); 5] = [
    ("max_restarts", 0, 10_000),
    ("window_secs", 1, 86_400),
    ("backoff_ms", 0, 60_000),
    ("max_backoff_ms", 0, 300_000),
    ("reset_after_ms", 1, 3_600_000),
];

/// Reads an optional `restart:` block and refuses numbers outside [`LIMITS`]
/// (for `#[serde(deserialize_with)]`, so the message names where it is).
pub fn checked<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RestartSpec>, D::Error> {
    let spec = Option::<RestartSpec>::deserialize(d)?;
    if let Some(spec) = &spec {
        spec.check().map_err(D::Error::custom)?;
    }
    Ok(spec)
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
            reset_after_ms: 10_000,
        }
    }
}

impl RestartSpec {
    /// One sentence about the first number outside [`LIMITS`], if any.
    pub fn check(&self) -> Result<(), String> {
        let values = [
            u64::from(self.max_restarts),
            self.window_secs,
            self.backoff_ms,
            self.max_backoff_ms,
            self.reset_after_ms,
        ];
        for ((field, min, max), value) in LIMITS.into_iter().zip(values) {
            if !(min..=max).contains(&value) {
                return Err(format!(
                    "restart: `{field}` is {value}, outside the allowed {min}..={max}"
                ));
            }
        }
        Ok(())
    }

    pub const NEVER: RestartSpec = RestartSpec {
        policy: Policy::Never,
        max_restarts: 0,
        window_secs: 10,
        backoff_ms: 0,
        max_backoff_ms: 0,
        reset_after_ms: 10_000,
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
    /// Restarts after a crash over the whole run, for the events' `attempt`.
    attempts: u32,
    /// When the current process reached running, if it did.
    running_since: Option<Instant>,
}

impl Budget {
    /// The worker's current process reached running at `at`.
    pub fn running(&mut self, at: Instant) {
        self.running_since = Some(at);
    }

    /// Crash restarts granted so far; the last one's number.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before the next restart, or `None` when the budget of
    /// `spec` is spent and the worker must be given up.
    pub fn next(&mut self, spec: &RestartSpec, now: Instant) -> Option<Duration> {
        // A process that ran healthy for `reset_after_ms` ended a crash
        // loop, if there was one: its successor's backoff starts over.
        // One that died before (or while) starting keeps the doubling.
        let healthy = Duration::from_millis(spec.reset_after_ms);
        if self
            .running_since
            .take()
            .is_some_and(|t| now.duration_since(t) >= healthy)
        {
            self.consecutive = 0;
        }
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
        self.attempts += 1;
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
    fn a_healthy_run_resets_the_backoff_and_a_crash_loop_keeps_doubling() {
        let spec = RestartSpec {
            reset_after_ms: 1000,
            ..spec(100)
        };
        let mut b = Budget::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ms = |d: Option<Duration>| d.unwrap().as_millis() as u64;
        assert_eq!(ms(b.next(&spec, at(0))), 50);
        // Back and running at 100 ms, dead again 200 ms later: a loop.
        b.running(at(100));
        assert_eq!(ms(b.next(&spec, at(300))), 100);
        // Never reached running: still a loop.
        assert_eq!(ms(b.next(&spec, at(500))), 200);
        // Running for 1 s before it died: the backoff starts over.
        b.running(at(800));
        assert_eq!(ms(b.next(&spec, at(1800))), 50);
        b.running(at(1900));
        assert_eq!(ms(b.next(&spec, at(2000))), 100, "then doubles again");
        assert_eq!(b.attempts(), 5);
    }

    #[test]
    fn numbers_out_of_bounds_are_refused_in_one_sentence() {
        let refused = |yaml: &str| {
            let spec: RestartSpec = serde_yaml_ng::from_str(yaml).unwrap();
            spec.check().unwrap_err()
        };
        let e = refused("{ backoff_ms: 9223372036854775808 }");
        assert!(
            e.contains("`backoff_ms` is 9223372036854775808, outside the allowed 0..=60000"),
            "{e}"
        );
        let e = refused("{ window_secs: 0 }");
        assert!(
            e.contains("`window_secs` is 0, outside the allowed 1..=86400"),
            "{e}"
        );
        let s: RestartSpec =
            serde_yaml_ng::from_str("{ backoff_ms: 60000, reset_after_ms: 300 }").unwrap();
        assert_eq!(s.check(), Ok(()));
        assert_eq!(RestartSpec::default().check(), Ok(()));
        assert_eq!(RestartSpec::NEVER.check(), Ok(()));
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
