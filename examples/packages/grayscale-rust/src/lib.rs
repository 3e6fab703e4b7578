//! `example.grayscale` and `example.sepia`: the reference Rust plugin, small
//! enough to read in one sitting. Grayscale turns RGBA8 frames into GRAY8
//! frames of the same size; sepia (in `sepia.rs`) tones them and stays RGBA8,
//! so it can feed processors that take colour frames.

mod sepia;

use plexus_plugin_sdk::serde_json::Value;
use plexus_plugin_sdk::{export_plugin, FrameHeader, InputFrame, OutputPorts, Processor, SchemaId};

const OUT: usize = 0;

struct Grayscale;

impl Processor for Grayscale {
    fn setup(_config: &Value) -> Result<Self, String> {
        Ok(Grayscale)
    }

    fn process(&mut self, input: &InputFrame<'_>, out: &mut OutputPorts<'_>) -> Result<(), String> {
        let layout = Layout::of_rgba_input("example.grayscale", input)?;
        let gray = out.loan(OUT, layout.width * layout.height)?;
        rgba_to_gray(input.data, &layout, gray);
        let header = FrameHeader {
            stride: input.header.width,
            ..input.header
        };
        out.send(OUT, &header)
    }
}

export_plugin!(Grayscale => "example.grayscale", sepia::Sepia => "example.sepia");

/// The pixel geometry of an RGBA8 frame, checked against its byte length.
#[derive(Debug)]
struct Layout {
    width: usize,
    height: usize,
    /// Bytes from one row to the next, at least `width * 4`.
    stride: usize,
}

impl Layout {
    /// The layout of `input`, which must be an RGBA8 frame, for the
    /// processor `type_name`.
    fn of_rgba_input(type_name: &str, input: &InputFrame<'_>) -> Result<Layout, String> {
        if input.schema() != Some(SchemaId::VideoRgba8) {
            return Err(format!(
                "{type_name} takes video/rgba8 frames, frame {} has schema code {}",
                input.header.seq, input.header.schema
            ));
        }
        Layout::of(&input.header, input.data.len())
    }

    fn of(header: &FrameHeader, len: usize) -> Result<Layout, String> {
        let (width, height) = (header.width as usize, header.height as usize);
        let row = width * 4;
        // A stride of 0 means tightly packed rows.
        let stride = if header.stride == 0 {
            row
        } else {
            header.stride as usize
        };
        if stride < row {
            return Err(format!(
                "frame {} has a stride of {stride} bytes, less than the {row} its width of {width} needs",
                header.seq
            ));
        }
        let needed = match height {
            0 => Some(0),
            h => stride.checked_mul(h - 1).and_then(|n| n.checked_add(row)),
        };
        match needed {
            Some(needed) if needed <= len => Ok(Layout { width, height, stride }),
            _ => Err(format!(
                "frame {} is {len} bytes, too short for {width}x{height} RGBA8 with a stride of {stride}",
                header.seq
            )),
        }
    }
}

/// The luma of an RGBA pixel with the BT.601 weights in 8-bit fixed point.
fn luma(px: &[u8]) -> u8 {
    let (r, g, b) = (u32::from(px[0]), u32::from(px[1]), u32::from(px[2]));
    ((77 * r + 150 * g + 29 * b) >> 8) as u8
}

/// Calls `each(src, dst)` for every pixel of `rgba`, skipping row padding,
/// where `dst` is that pixel's `channels` bytes in the tightly packed `out`.
fn for_each_pixel(
    rgba: &[u8],
    layout: &Layout,
    out: &mut [u8],
    channels: usize,
    mut each: impl FnMut(&[u8], &mut [u8]),
) {
    if layout.width == 0 {
        return;
    }
    let rows = rgba
        .chunks(layout.stride)
        .zip(out.chunks_exact_mut(layout.width * channels));
    for (src, dst) in rows.take(layout.height) {
        let pixels = src[..layout.width * 4].chunks_exact(4);
        for (px, d) in pixels.zip(dst.chunks_exact_mut(channels)) {
            each(px, d);
        }
    }
}

/// Writes the luma of each pixel of `rgba` into `gray` (tightly packed,
/// `width * height` bytes).
fn rgba_to_gray(rgba: &[u8], layout: &Layout, gray: &mut [u8]) {
    for_each_pixel(rgba, layout, gray, 1, |px, g| g[0] = luma(px));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(width: u32, height: u32, stride: u32) -> FrameHeader {
        FrameHeader {
            width,
            height,
            stride,
            seq: 9,
            schema: SchemaId::VideoRgba8.code(),
            ..FrameHeader::default()
        }
    }

    #[test]
    fn luma_uses_the_fixed_point_weights() {
        let rgba = [
            255, 255, 255, 255, 255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 10, 20, 30, 0, 0, 0, 0, 0,
        ];
        let layout = Layout::of(&header(3, 2, 12), rgba.len()).unwrap();
        let mut gray = [0xAA; 6];
        rgba_to_gray(&rgba, &layout, &mut gray);
        let expected = (77 * 10 + 150 * 20 + 29 * 30) >> 8;
        assert_eq!(gray, [255, 76, 149, 28, expected as u8, 0]);
    }

    #[test]
    fn padded_rows_are_skipped() {
        // 1x2 frame, rows padded to 8 bytes with junk that must not leak in.
        let rgba = [100, 100, 100, 0, 9, 9, 9, 9, 200, 200, 200, 0];
        let layout = Layout::of(&header(1, 2, 8), rgba.len()).unwrap();
        let mut gray = [0; 2];
        rgba_to_gray(&rgba, &layout, &mut gray);
        assert_eq!(gray, [100, 200]);
    }

    #[test]
    fn short_or_inconsistent_frames_are_refused() {
        assert!(Layout::of(&header(2, 2, 8), 15)
            .unwrap_err()
            .contains("too short"));
        assert!(Layout::of(&header(2, 2, 12), 19)
            .unwrap_err()
            .contains("too short"));
        assert!(Layout::of(&header(2, 2, 4), 64)
            .unwrap_err()
            .contains("stride of 4"));
        assert!(Layout::of(&header(u32::MAX, u32::MAX, u32::MAX), 64).is_err());
        assert!(Layout::of(&header(2, 2, 0), 16).is_ok());
        assert!(Layout::of(&header(0, 0, 0), 0).is_ok());
    }
}
