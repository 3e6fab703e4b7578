//! `plexus pause` and `plexus resume` (docs/ARCHITECTURE.md §4, §5): which
//! processors a user paused and for how long, and how the runtime answers.
//! The runtime keeps this record itself rather than asking its workers, so
//! a worker restarted after a crash is configured with its processors'
//! pauses (a crash never resumes one), and the summary says how long each
//! processor was paused. The requests are handled in `control.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipc_schemas::Command;

/// What a request asks of its processors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    Pause,
    Resume,
}

impl Steer {
    pub fn command(self, processor: &str) -> Command {
        let processor = processor.to_string();
        match self {
            Steer::Pause => Command::Pause { processor },
            Steer::Resume => Command::Resume { processor },
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Steer::Pause => "pausing",
            Steer::Resume => "resuming",
        }
    }

    /// How a processor the request leaves as it is stands already.
    fn already(self) -> &'static str {
        match self {
            Steer::Pause => "already paused",
            Steer::Resume => "not paused",
        }
    }
}

/// The pauses of one runtime's processors.
#[derive(Default)]
pub struct Pauses {
    by_processor: BTreeMap<String, Record>,
}

#[derive(Default)]
struct Record {
    /// Paused since then; `None` while it runs.
    since: Option<Instant>,
    /// How long its pauses that ended lasted.
    ended: Duration,
}

impl Pauses {
    /// Pauses `processor` at `now`; false when it is paused already.
    pub fn pause(&mut self, processor: &str, now: Instant) -> bool {
        let record = self.by_processor.entry(processor.to_string()).or_default();
        if record.since.is_some() {
            return false;
        }
        record.since = Some(now);
        true
    }

    /// Resumes `processor` at `now`; false when it was not paused.
    pub fn resume(&mut self, processor: &str, now: Instant) -> bool {
        let Some(record) = self.by_processor.get_mut(processor) else {
            return false;
        };
        let Some(since) = record.since.take() else {
            return false;
        };
        record.ended += now.saturating_duration_since(since);
        true
    }

    pub fn is_paused(&self, processor: &str) -> bool {
        self.by_processor
            .get(processor)
            .is_some_and(|r| r.since.is_some())
    }

    /// The paused ones among `processors`, in their order.
    pub fn among(&self, processors: &[String]) -> Vec<String> {
        processors
            .iter()
            .filter(|p| self.is_paused(p))
            .cloned()
            .collect()
    }

    /// How long `processor` was paused over the run, up to `now`.
    pub fn total(&self, processor: &str, now: Instant) -> Duration {
        self.by_processor
            .get(processor)
            .map_or(Duration::ZERO, |r| {
                r.ended
                    + r.since
                        .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
            })
    }
}

/// The answer to a pause or resume request: what it changed, and what it
/// left as it was.
pub fn told(runtime: &str, steer: Steer, changed: &[String], unchanged: &[String]) -> String {
    let list = |names: &[String]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        quoted.join(", ")
    };
    let noun = |names: &[String]| match names.len() {
        1 => "processor",
        _ => "processors",
    };
    let is = |names: &[String]| match names.len() {
        1 => "is",
        _ => "are",
    };
    if changed.is_empty() {
        return format!(
            "{} {} of runtime {runtime} {} {}: nothing changed",
            noun(unchanged),
            list(unchanged),
            is(unchanged),
            steer.already()
        );
    }
    let mut message = format!(
        "{} {} {} of runtime {runtime}",
        steer.verb(),
        noun(changed),
        list(changed)
    );
    if !unchanged.is_empty() {
        let was = match unchanged.len() {
            1 => "was",
            _ => "were",
        };
        message += &format!("; {} {was} {}", list(unchanged), steer.already());
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_time_adds_up_every_pause_and_the_one_still_running() {
        let mut pauses = Pauses::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(!pauses.resume("cam", at(0)), "never paused");
        assert!(pauses.pause("cam", at(100)));
        assert!(
            !pauses.pause("cam", at(150)),
            "a second pause changes nothing"
        );
        assert!(pauses.is_paused("cam"));
        assert!(pauses.resume("cam", at(300)));
        assert!(!pauses.resume("cam", at(350)));
        assert!(pauses.pause("cam", at(1000)));
        assert_eq!(pauses.total("cam", at(1500)), Duration::from_millis(700));
        assert_eq!(pauses.total("sink", at(1500)), Duration::ZERO);
        let workers = ["sink".to_string(), "cam".to_string()];
        assert_eq!(pauses.among(&workers), ["cam"]);
    }

    #[test]
    fn the_answer_says_what_changed_and_what_was_already_so() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            told("0a1b2c3d", Steer::Pause, &names(&["cam"]), &[]),
            "pausing processor `cam` of runtime 0a1b2c3d"
        );
        assert_eq!(
            told(
                "0a1b2c3d",
                Steer::Resume,
                &names(&["a", "b"]),
                &names(&["c"])
            ),
            "resuming processors `a`, `b` of runtime 0a1b2c3d; `c` was not paused"
        );
        assert_eq!(
            told("0a1b2c3d", Steer::Pause, &[], &names(&["a", "b"])),
            "processors `a`, `b` of runtime 0a1b2c3d are already paused: nothing changed"
        );
    }
}
