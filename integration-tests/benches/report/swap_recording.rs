//! What a recording of the swapped processor's output shows of each change
//! of the live swap ([`crate::swap`]): frames lost, frames duplicated, and
//! whether the counter's count went on, each change owning the sequence
//! numbers from its boundary up to the next change's.

use std::path::Path;

/// What the recording shows of one change.
#[derive(Clone, Copy)]
pub struct Frames {
    pub lost: u64,
    pub duplicated: u64,
    /// The counter's stamps only rose across the change: its count went on.
    pub count_went_on: bool,
}

/// What `file` shows of each change, the changes' boundaries given in order
/// with the end last: change i owns the sequence numbers after
/// `boundaries[i]` up to `boundaries[i + 1]`.
pub fn per_change(file: &Path, boundaries: &[u64]) -> Vec<Frames> {
    let recorded = read_recording(file);
    boundaries
        .windows(2)
        .map(|w| frames_between(&recorded, w[0], w[1]))
        .collect()
}

/// Every recorded frame's sequence number and count, in file order.
fn read_recording(file: &Path) -> Vec<(u64, u64)> {
    let mut frames = Vec::new();
    integration_tests::recorded::each_frame(file, |_, header, payload| {
        let count = payload
            .get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        frames.push((header.seq, count));
    });
    frames
}

/// What the recording shows of the change whose frames are those after
/// sequence number `after` up to `until`: each of them once, and the
/// counter's stamps rising from the frame at `after` on.
fn frames_between(recorded: &[(u64, u64)], after: u64, until: u64) -> Frames {
    let mut seen = vec![0u64; (until - after) as usize];
    let mut count_went_on = true;
    let mut previous_count = None;
    for &(seq, count) in recorded.iter().filter(|(s, _)| (after..=until).contains(s)) {
        if seq > after {
            seen[(seq - after - 1) as usize] += 1;
        }
        if previous_count.is_some_and(|p| count <= p) {
            count_went_on = false;
        }
        previous_count = Some(count);
    }
    Frames {
        lost: seen.iter().filter(|&&n| n == 0).count() as u64,
        duplicated: seen.iter().map(|&n| n.saturating_sub(1)).sum(),
        count_went_on,
    }
}
