//! A processor's inputs matched into sets before it is called (`sync: all`
//! and `latest`), so that a processor combining streams (picture in
//! picture, stereo, sensor fusion) neither buffers nor pairs frames itself.
//! Frames wait as the samples they arrived in: nothing is copied.

use std::collections::VecDeque;

use bus::frames::InFrame;
use bus::settings::FRAME_BORROWED;
use ipc_schemas::{FrameHeader, SyncPolicy};

/// A received frame waiting for its partners.
pub(crate) struct Held {
    /// The input it came on.
    pub port: usize,
    pub header: FrameHeader,
    pub sample: InFrame,
}

/// The frames of one call, by input; `None` where the processor retained
/// the sample (it keeps views of it), which cannot be given back.
pub(crate) type Returned = Vec<Option<Held>>;

pub(crate) enum Matcher {
    /// Each frame alone.
    Any,
    /// A frame from every input: equal sequence numbers, or capture times
    /// at most `tolerance_ns` apart. Per input, the frames in arrival order.
    All {
        tolerance_ns: Option<u64>,
        queues: Vec<VecDeque<Held>>,
    },
    /// Each frame of `trigger` with the newest frame of every other input,
    /// which stays for the next trigger frame until a newer one arrives.
    Latest {
        trigger: usize,
        newest: Vec<Option<Held>>,
    },
}

impl Matcher {
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
        held: Held,
        mut unmatched: impl FnMut(usize),
    ) -> Option<Vec<Held>> {
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
    pub fn give_back(&mut self, set: Returned) {
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
fn match_heads(
    queues: &mut [VecDeque<Held>],
    tolerance_ns: Option<u64>,
    unmatched: &mut impl FnMut(usize),
) -> Option<Vec<Held>> {
    let key = |h: &Held| match tolerance_ns {
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
