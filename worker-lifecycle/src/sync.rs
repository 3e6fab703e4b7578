//! A processor's inputs matched into sets before it is called (`sync: all`
//! and `latest`), so that a processor combining streams (picture in
//! picture, stereo, sensor fusion) neither buffers nor pairs frames itself.
//! Frames wait as the samples they arrived in: nothing is copied.

use std::collections::VecDeque;

use bus::settings::FRAME_BORROWED;
use ipc_schemas::{FrameHeader, SyncPolicy};

/// A received frame waiting for its partners: its sample `S` (the
/// worker's are iceoryx2 samples) and what matching needs to know of it.
pub(crate) struct Held<S> {
    /// The input it came on.
    pub port: usize,
    pub header: FrameHeader,
    pub sample: S,
}

/// The frames of one call, by input; `None` where the processor retained
/// the sample (it keeps views of it), which cannot be given back.
pub(crate) type Returned<S> = Vec<Option<Held<S>>>;

pub(crate) enum Matcher<S> {
    /// Each frame alone.
    Any,
    /// A frame from every input: equal sequence numbers, or capture times
    /// at most `tolerance_ns` apart. Per input, the frames in arrival order.
    All {
        tolerance_ns: Option<u64>,
        queues: Vec<VecDeque<Held<S>>>,
    },
    /// Each frame of `trigger` with the newest frame of every other input,
    /// which stays for the next trigger frame until a newer one arrives.
    Latest {
        trigger: usize,
        newest: Vec<Option<Held<S>>>,
    },
}

impl<S> Matcher<S> {
    pub fn new(policy: SyncPolicy, inputs: usize) -> Self {
        match policy {
            SyncPolicy::Any => Matcher::Any,
            SyncPolicy::All { tolerance_ms } => Matcher::All {
                tolerance_ns: tolerance_ms.map(|ms| ms * 1_000_000),
                queues: (0..inputs).map(|_| VecDeque::new()).collect(),
            },
            SyncPolicy::Latest { trigger } => Matcher::Latest {
                trigger,
                newest: (0..inputs).map(|_| None).collect(),
            },
        }
    }

    /// Takes a frame received on `port`. Returns the set to call the
    /// processor with, by input, once one is complete; `unmatched(port)` is
    /// told of every frame that can no longer be in a set.
    pub fn offer(
        &mut self,
        port: usize,
        held: Held<S>,
        mut unmatched: impl FnMut(usize),
    ) -> Option<Vec<Held<S>>> {
        match self {
            Matcher::Any => Some(vec![held]),
            Matcher::All {
                tolerance_ns,
                queues,
            } => {
                queues[port].push_back(held);
                let set = match_heads(queues, *tolerance_ns, &mut unmatched);
                // An input lends only so many samples at once: the oldest
                // waiting one gives way, or the input would stall.
                if set.is_none() && queues[port].len() >= FRAME_BORROWED {
                    queues[port].pop_front();
                    unmatched(port);
                }
                set
            }
            Matcher::Latest { trigger, newest } if port != *trigger => {
                newest[port] = Some(held);
                None
            }
            Matcher::Latest { trigger, newest } => {
                if newest
                    .iter()
                    .enumerate()
                    .any(|(i, n)| i != *trigger && n.is_none())
                {
                    unmatched(port);
                    return None;
                }
                let trigger = *trigger;
                let mut held = Some(held);
                Some(
                    newest
                        .iter_mut()
                        .enumerate()
                        .map(|(i, n)| match i == trigger {
                            true => held.take().expect("one trigger frame"),
                            false => n.take().expect("checked above"),
                        })
                        .collect(),
                )
            }
        }
    }

    /// Takes back a set after the call: `latest` keeps the other inputs'
    /// frames for the next trigger frame, unless a newer one came.
    pub fn give_back(&mut self, set: Returned<S>) {
        if let Matcher::Latest { trigger, newest } = self {
            for held in set.into_iter().flatten() {
                let port = held.port;
                if port != *trigger && newest[port].is_none() {
                    newest[port] = Some(held);
                }
            }
        }
    }

    /// Ends the run: frames still waiting for partners never found them.
    pub fn flush(&mut self, mut unmatched: impl FnMut(usize)) {
        if let Matcher::All { queues, .. } = self {
            for (port, queue) in queues.iter_mut().enumerate() {
                for _ in queue.drain(..) {
                    unmatched(port);
                }
            }
        }
    }
}

/// Pairs the frames at the head of every queue, dropping those that can no
/// longer be paired: one behind the newest head by sequence number, or by
/// more than the tolerance in capture time. Every input's frames arrive in
/// order, so nothing later on another input could match them.
fn match_heads<S>(
    queues: &mut [VecDeque<Held<S>>],
    tolerance_ns: Option<u64>,
    unmatched: &mut impl FnMut(usize),
) -> Option<Vec<Held<S>>> {
    let key = |h: &Held<S>| match tolerance_ns {
        None => h.header.seq,
        Some(_) => h.header.capture_ns,
    };
    let slack = tolerance_ns.unwrap_or(0);
    loop {
        let heads: Vec<u64> = queues
            .iter()
            .map(|q| q.front().map(key))
            .collect::<Option<_>>()?;
        let newest = *heads.iter().max().expect("two inputs or more");
        let oldest = *heads.iter().min().expect("two inputs or more");
        if newest - oldest <= slack {
            return Some(
                queues
                    .iter_mut()
                    .map(|q| q.pop_front().expect("a head"))
                    .collect(),
            );
        }
        for (port, head) in heads.iter().enumerate() {
            if newest - head > slack {
                queues[port].pop_front();
                unmatched(port);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame on `port` with sequence number `seq`, captured at `ms`.
    fn frame(port: usize, seq: u64, ms: u64) -> Held<()> {
        Held {
            port,
            header: FrameHeader {
                seq,
                capture_ns: ms * 1_000_000,
                ..FrameHeader::default()
            },
            sample: (),
        }
    }

    /// Offers `frames` in order; returns the sets made, as (port, seq)
    /// lists, and the unmatched count per input.
    fn run(
        matcher: &mut Matcher<()>,
        frames: &[(usize, u64, u64)],
    ) -> (Vec<Vec<(usize, u64)>>, Vec<u64>) {
        let mut unmatched = vec![0; 3];
        let mut sets = Vec::new();
        for &(port, seq, ms) in frames {
            if let Some(set) = matcher.offer(port, frame(port, seq, ms), |p| unmatched[p] += 1) {
                sets.push(set.iter().map(|h| (h.port, h.header.seq)).collect());
                matcher.give_back(set.into_iter().map(Some).collect());
            }
        }
        (sets, unmatched)
    }

    #[test]
    fn all_by_sequence_pairs_equal_numbers_and_drops_the_behind() {
        let mut all = Matcher::new(SyncPolicy::All { tolerance_ms: None }, 2);
        // Input 0 is two frames ahead: its 0 and 1 never find partners.
        let (sets, unmatched) = run(
            &mut all,
            &[
                (0, 0, 0),
                (0, 1, 33),
                (0, 2, 66),
                (1, 2, 70),
                (0, 3, 99),
                (1, 3, 100),
            ],
        );
        assert_eq!(sets, [vec![(0, 2), (1, 2)], vec![(0, 3), (1, 3)]]);
        assert_eq!(unmatched, [2, 0, 0]);
    }

    #[test]
    fn all_by_capture_time_pairs_within_the_tolerance() {
        let mut all = Matcher::new(
            SyncPolicy::All {
                tolerance_ms: Some(10),
            },
            2,
        );
        let (sets, unmatched) = run(
            &mut all,
            // 0@0 has no partner within 10 ms; 0@33 pairs with 1@40;
            // 1@80 is 14 ms before 0@94: behind, unmatched; 1@90 pairs.
            &[
                (0, 0, 0),
                (0, 1, 33),
                (1, 7, 40),
                (1, 8, 80),
                (1, 9, 90),
                (0, 2, 94),
            ],
        );
        assert_eq!(sets, [vec![(0, 1), (1, 7)], vec![(0, 2), (1, 9)]]);
        assert_eq!(unmatched, [1, 1, 0]);
    }

    #[test]
    fn all_keeps_no_more_than_an_input_may_lend_and_flushes_the_rest() {
        let mut all = Matcher::new(SyncPolicy::All { tolerance_ms: None }, 2);
        // Input 1 never sends: input 0 may hold only what it can lend.
        let (sets, unmatched) = run(&mut all, &[(0, 0, 0), (0, 1, 1), (0, 2, 2)]);
        assert!(sets.is_empty());
        assert_eq!(unmatched[0], 3 - (FRAME_BORROWED as u64 - 1));
        let mut flushed = vec![0; 2];
        all.flush(|p| flushed[p] += 1);
        assert_eq!(
            flushed,
            [FRAME_BORROWED as u64 - 1, 0],
            "the waiting ones at the end"
        );
    }

    #[test]
    fn latest_brings_the_newest_of_the_others_and_keeps_it() {
        let mut latest = Matcher::new(SyncPolicy::Latest { trigger: 1 }, 3);
        let (sets, unmatched) = run(
            &mut latest,
            &[
                (1, 0, 0), // nothing from 0 and 2 yet: unmatched
                (0, 5, 1),
                (2, 9, 2),
                (1, 1, 3), // with 0#5 and 2#9
                (0, 6, 4),
                (1, 2, 5), // with 0#6 and, again, 2#9
            ],
        );
        assert_eq!(
            sets,
            [vec![(0, 5), (1, 1), (2, 9)], vec![(0, 6), (1, 2), (2, 9)]]
        );
        assert_eq!(unmatched, [0, 1, 0]);
    }

    #[test]
    fn a_retained_frame_is_not_offered_again() {
        let mut latest = Matcher::new(SyncPolicy::Latest { trigger: 0 }, 2);
        let mut nothing = |_| {};
        assert!(latest.offer(1, frame(1, 3, 0), &mut nothing).is_none());
        let set = latest.offer(0, frame(0, 0, 1), &mut nothing).unwrap();
        // The processor kept the other input's sample: nothing to give back.
        latest.give_back(
            set.into_iter()
                .map(|h| (h.port == 0).then_some(h))
                .collect(),
        );
        assert!(latest.offer(0, frame(0, 1, 2), &mut nothing).is_none());
    }
}
