//! The header every frame carries in front of its payload on the bus.

use iceoryx2_bb_derive_macros::ZeroCopySend;
use iceoryx2_bb_elementary_traits::zero_copy_send::ZeroCopySend;

/// Per-frame metadata, sent as the iceoryx2 user header of a `[u8]` sample.
///
/// `#[repr(C)]` so that plugins compiled separately, the Python worker and the
/// Deno FFI layer all read the same bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ZeroCopySend)]
#[repr(C)]
#[type_name("plexus::FrameHeader")]
pub struct FrameHeader {
    /// Numeric id of the frame schema (see [`crate::SchemaId`]).
    pub schema: u32,
    /// Pixel format detail reserved for schemas with several layouts.
    pub format: u32,
    /// Sequence number given by the source; processors pass it on unchanged.
    pub seq: u64,
    /// When the source captured the frame, `CLOCK_MONOTONIC` in nanoseconds.
    pub capture_ns: u64,
    pub width: u32,
    pub height: u32,
    /// Bytes per row for video schemas.
    pub stride: u32,
    pub reserved: u32,
}

impl FrameHeader {
    /// The field names, in order, as schemas describe them.
    pub const FIELDS: [&'static str; 8] = [
        "schema",
        "format",
        "seq",
        "capture_ns",
        "width",
        "height",
        "stride",
        "reserved",
    ];
}

/// Reads `CLOCK_MONOTONIC`, the clock shared by every process on the machine,
/// so capture-to-sink latency can be computed across workers.
pub fn monotonic_ns() -> u64 {
    let mut ts = std::mem::MaybeUninit::<Timespec>::uninit();
    // SAFETY: `ts` is writable and `Timespec` has the layout of the 64-bit
    // Linux `struct timespec`, which clock_gettime fills on success;
    // CLOCK_MONOTONIC always exists on Linux.
    let ok = unsafe { clock_gettime(CLOCK_MONOTONIC, ts.as_mut_ptr()) } == 0;
    assert!(ok, "CLOCK_MONOTONIC is unavailable");
    // SAFETY: the call succeeded, so it wrote both fields.
    let ts = unsafe { ts.assume_init() };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

const CLOCK_MONOTONIC: i32 = 1;

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_is_stable() {
        assert_eq!(std::mem::size_of::<FrameHeader>(), 40);
        assert_eq!(std::mem::align_of::<FrameHeader>(), 8);
    }

    #[test]
    fn field_names_match_the_struct() {
        // Destructuring names every field, so adding or renaming one breaks
        // this test until FIELDS follows.
        let FrameHeader {
            schema: _,
            format: _,
            seq: _,
            capture_ns: _,
            width: _,
            height: _,
            stride: _,
            reserved: _,
        } = FrameHeader::default();
        assert_eq!(FrameHeader::FIELDS.len(), 8);
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
