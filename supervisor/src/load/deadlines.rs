//! How long a processor may take (docs/ARCHITECTURE.md §5): to set up
//! (`setup_timeout_s`: loading a model may take minutes) and over one frame
//! (`frame_timeout_ms`). A processor is judged by these alone; its process
//! is judged alive by its pulse, which beats whatever the processor does.

use std::time::Duration;

/// Without `setup_timeout_s`: room to load a large model.
pub const DEFAULT_SETUP_TIMEOUT_S: u64 = 120;
/// Without `frame_timeout_ms`: a frame taking this long is stuck, not slow.
pub const DEFAULT_FRAME_TIMEOUT_MS: u64 = 10_000;

/// The range each deadline must lie in: one that is 0 cannot be met, one
/// longer than an hour catches nothing.
pub const LIMITS: [(&str, u64, u64); 2] = [
    ("setup_timeout_s", 1, 3_600),
    ("frame_timeout_ms", 10, 3_600_000),
];

/// One processor's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub setup: Duration,
    pub frame: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            setup: Duration::from_secs(DEFAULT_SETUP_TIMEOUT_S),
            frame: Duration::from_millis(DEFAULT_FRAME_TIMEOUT_MS),
        }
    }
}

impl Deadlines {
    /// The deadlines a processor entry's two optional fields give, or one
    /// sentence about the first outside [`LIMITS`].
    pub fn from_fields(setup_s: Option<u64>, frame_ms: Option<u64>) -> Result<Self, String> {
        let [setup, frame] = LIMITS;
        Ok(Self {
            setup: Duration::from_secs(within(setup, setup_s, DEFAULT_SETUP_TIMEOUT_S)?),
            frame: Duration::from_millis(within(frame, frame_ms, DEFAULT_FRAME_TIMEOUT_MS)?),
        })
    }
}

fn within(
    (field, min, max): (&str, u64, u64),
    value: Option<u64>,
    default: u64,
) -> Result<u64, String> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(format!(
            "`{field}` is {v}, outside the allowed {min}..={max}"
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_deadlines_take_the_defaults_and_bounds_are_enforced() {
        assert_eq!(Deadlines::from_fields(None, None), Ok(Deadlines::default()));
        let set = Deadlines::from_fields(Some(300), Some(50)).unwrap();
        assert_eq!(set.setup, Duration::from_secs(300));
        assert_eq!(set.frame, Duration::from_millis(50));
        assert_eq!(
            Deadlines::from_fields(Some(0), None).unwrap_err(),
            "`setup_timeout_s` is 0, outside the allowed 1..=3600"
        );
        assert_eq!(
            Deadlines::from_fields(None, Some(u64::MAX)).unwrap_err(),
            format!(
                "`frame_timeout_ms` is {}, outside the allowed 10..=3600000",
                u64::MAX
            )
        );
    }
}
