//! When the watcher acts on a package: once its files have been quiet for
//! [`QUIET`] (a save is often several writes, a `git checkout` many), and,
//! after attempts that failed, only after a delay that doubles with each
//! failure, so a broken edit saved again and again does not start a worker
//! or a build each time. Pure: the caller says what time it is.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a package's files must be quiet before it is reloaded.
pub const QUIET: Duration = Duration::from_millis(150);
/// The delay after the first failure; it doubles with each next one.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest delay, however many attempts failed.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How a reload of a package ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Succeeded,
    /// Its build failed, or a worker kept its old version.
    Failed,
}

/// Since a change, after `failures` failed attempts in a row, how long the
/// package waits before it is tried again: 1 s, 2 s, 4 s … at most 30 s.
pub fn backoff(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => FIRST_BACKOFF
            .saturating_mul(1u32.checked_shl(n - 1).unwrap_or(u32::MAX))
            .min(MAX_BACKOFF),
    }
}

#[derive(Debug, Default)]
struct Package {
    /// The last change not acted on yet.
    changed: Option<Instant>,
    /// Attempts that failed since the last success.
    failures: u32,
}

impl Package {
    fn due(&self) -> Option<Instant> {
        self.changed
            .map(|at| at + QUIET.max(backoff(self.failures)))
    }
}

/// The packages with changes not acted on yet, and their failures.
#[derive(Debug, Default)]
pub struct Schedule {
    packages: BTreeMap<String, Package>,
}

/// What noting a change meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    /// A new burst of changes, to be acted on `QUIET` after its last.
    Burst,
    /// A new burst of a package whose last `failures` attempts failed: it is
    /// tried `delay` after the burst's last change.
    BackingOff { failures: u32, delay: Duration },
    /// One more change of a burst already noted.
    More,
}

impl Schedule {
    /// Notes a change of `package` at `at`.
    pub fn changed(&mut self, package: &str, at: Instant) -> Noted {
        let state = self.packages.entry(package.to_string()).or_default();
        let first = state.changed.is_none();
        state.changed = Some(at);
        match (first, state.failures) {
            (false, _) => Noted::More,
            (true, 0) => Noted::Burst,
            (true, failures) => Noted::BackingOff {
                failures,
                delay: backoff(failures),
            },
        }
    }

    /// When the next package is due, if any has changes waiting.
    pub fn next_due(&self) -> Option<Instant> {
        self.packages.values().filter_map(Package::due).min()
    }

    /// The packages due by `now`, in name order; their changes count as
    /// acted on.
    pub fn take_due(&mut self, now: Instant) -> Vec<String> {
        self.packages
            .iter_mut()
            .filter(|(_, state)| state.due().is_some_and(|due| due <= now))
            .map(|(name, state)| {
                state.changed = None;
                name.clone()
            })
            .collect()
    }

    /// Records how the attempt at `package` ended: a success forgets its
    /// failures.
    pub fn finished(&mut self, package: &str, attempt: Attempt) {
        let state = self.packages.entry(package.to_string()).or_default();
        state.failures = match attempt {
            Attempt::Succeeded => 0,
            Attempt::Failed => state.failures.saturating_add(1),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_thirty() {
        let seconds: Vec<u64> = (0..9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(seconds, [0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(40), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_burst_is_acted_on_once_its_last_change_is_quiet() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        assert_eq!(s.next_due(), None);
        assert_eq!(s.changed("a", t0), Noted::Burst);
        assert_eq!(s.changed("a", t0 + ms(100)), Noted::More);
        assert_eq!(s.changed("a", t0 + ms(200)), Noted::More);
        assert_eq!(s.next_due(), Some(t0 + ms(200) + QUIET));
        assert!(s.take_due(t0 + ms(200) + QUIET - ms(1)).is_empty());
        assert_eq!(s.take_due(t0 + ms(200) + QUIET), ["a"]);
        assert_eq!(s.next_due(), None, "acted on once");
        assert!(s.take_due(t0 + ms(10_000)).is_empty());
    }

    #[test]
    fn packages_are_due_on_their_own() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.changed("b", t0);
        s.changed("a", t0 + ms(100));
        assert_eq!(s.next_due(), Some(t0 + QUIET));
        assert_eq!(s.take_due(t0 + QUIET), ["b"]);
        assert_eq!(s.next_due(), Some(t0 + ms(100) + QUIET));
        s.changed("b", t0 + ms(120));
        assert_eq!(s.take_due(t0 + ms(400)), ["a", "b"]);
    }

    #[test]
    fn failures_back_off_and_a_success_resets() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.changed("a", t0);
        assert_eq!(s.take_due(t0 + QUIET), ["a"]);
        s.finished("a", Attempt::Failed);
        // Failures alone do not retry: the next change does, a second later.
        assert_eq!(s.next_due(), None);
        let t1 = t0 + ms(5_000);
        assert_eq!(
            s.changed("a", t1),
            Noted::BackingOff {
                failures: 1,
                delay: Duration::from_secs(1)
            }
        );
        assert!(s.take_due(t1 + ms(999)).is_empty());
        assert_eq!(s.take_due(t1 + ms(1_000)), ["a"]);
        s.finished("a", Attempt::Failed);

        // Two failures: two seconds after the burst's last change.
        let t2 = t1 + ms(5_000);
        s.changed("a", t2);
        assert_eq!(s.changed("a", t2 + ms(500)), Noted::More);
        assert_eq!(s.next_due(), Some(t2 + ms(2_500)));
        assert_eq!(s.take_due(t2 + ms(2_500)), ["a"]);
        s.finished("a", Attempt::Succeeded);

        let t3 = t2 + ms(5_000);
        assert_eq!(s.changed("a", t3), Noted::Burst);
        assert_eq!(s.take_due(t3 + QUIET), ["a"]);
    }

    #[test]
    fn one_package_failing_does_not_delay_another() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.finished("broken", Attempt::Failed);
        s.finished("broken", Attempt::Failed);
        s.changed("broken", t0);
        s.changed("fine", t0);
        assert_eq!(s.take_due(t0 + QUIET), ["fine"]);
        assert_eq!(s.take_due(t0 + ms(2_000)), ["broken"]);
    }
}
