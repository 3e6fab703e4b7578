//! `example.sepia`: a colour effect that keeps frames RGBA8, so a Rust stage
//! can sit in front of processors that take colour. Each pixel's luma is
//! mapped onto a warm brown tone; alpha passes through.

use plexus_plugin_sdk::serde_json::Value;
use plexus_plugin_sdk::{FrameHeader, InputFrame, OutputPorts, Processor};

use crate::{for_each_pixel, luma, Layout, OUT};

/// The tone, per colour channel, as a multiple of the luma in 8-bit fixed
/// point (256 = 1.0): red above one (clamped to 255), blue well below.
const TONE: [u32; 3] = [300, 230, 175];

/// The toned colour of each luma, worked out once at compile time so the
/// per-pixel work stays a lookup even in unoptimised builds.
const TONED: [[u8; 3]; 256] = {
    let mut table = [[0; 3]; 256];
    let mut l = 0;
    while l < 256 {
        let mut c = 0;
        while c < 3 {
            let v = (l as u32 * TONE[c]) >> 8;
            table[l][c] = if v > 255 { 255 } else { v as u8 };
            c += 1;
        }
        l += 1;
    }
    table
};

pub(crate) struct Sepia;

impl Processor for Sepia {
    fn setup(_config: &Value) -> Result<Self, String> {
        Ok(Sepia)
    }

    fn process(&mut self, input: &InputFrame<'_>, out: &mut OutputPorts<'_>) -> Result<(), String> {
        let layout = Layout::of_rgba_input("example.sepia", input)?;
        let toned = out.loan(OUT, layout.width * layout.height * 4)?;
        tone(input.data, &layout, toned);
        let header = FrameHeader {
            stride: input.header.width * 4,
            ..input.header
        };
        out.send(OUT, &header)
    }
}

/// Writes the sepia tone of each pixel of `rgba` into `out` (tightly packed
/// RGBA, `width * height * 4` bytes).
fn tone(rgba: &[u8], layout: &Layout, out: &mut [u8]) {
    for_each_pixel(rgba, layout, out, 4, |px, o| {
        let [r, g, b] = TONED[usize::from(luma(px))];
        o.copy_from_slice(&[r, g, b, px[3]]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_is_toned_warm_and_alpha_kept() {
        // White, black and a mid grey, in a 3x1 frame padded to 16 bytes a row.
        let rgba = [
            255, 255, 255, 200, 0, 0, 0, 10, 128, 128, 128, 255, 7, 7, 7, 7,
        ];
        let layout = Layout {
            width: 3,
            height: 1,
            stride: 16,
        };
        let mut out = [0xAA; 12];
        tone(&rgba, &layout, &mut out);
        // Luma 255 → (298 clamped, 229, 174); luma 128 → (150, 115, 87).
        assert_eq!(out, [255, 229, 174, 200, 0, 0, 0, 10, 150, 115, 87, 255]);
    }
}
