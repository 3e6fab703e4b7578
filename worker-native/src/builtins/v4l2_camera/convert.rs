//! The pixel formats a camera delivers, turned into the RGBA8 frames plexus
//! moves: packed YUYV (4:2:2, BT.601 limited range, what UVC cameras send
//! uncompressed) and Motion JPEG (each frame a JPEG, often without its
//! Huffman tables, which MJPEG leaves to the standard ones).

use crate::builtins::image::jpeg_to_rgba;

const RGBA: usize = 4;

/// How a camera's frames are laid out, as negotiated with the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    /// Y0 U Y1 V for every two pixels, rows `stride` bytes apart.
    Yuyv { stride: usize },
    /// One JPEG per frame.
    Mjpeg,
}

/// An APP0 segment saying "AVI1": MJPEG, so the decoder fills the Huffman
/// tables a frame leaves out with the standard ones (JPEG Annex K.3).
const AVI1: [u8; 9] = [0xFF, 0xE0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0];

/// Turns camera frames into RGBA8, keeping the scratch space MJPEG needs.
pub struct Converter {
    pixels: Pixels,
    width: usize,
    height: usize,
    /// The frame with [`AVI1`] spliced in after its start marker.
    jpeg: Vec<u8>,
}

impl Converter {
    pub fn new(pixels: Pixels, width: u32, height: u32) -> Self {
        Self {
            pixels,
            width: width as usize,
            height: height as usize,
            jpeg: Vec::new(),
        }
    }

    /// The bytes of one RGBA8 frame, rows without padding.
    pub fn frame_len(&self) -> usize {
        self.width * self.height * RGBA
    }

    /// Converts `frame`, as the device delivered it, into `out` of
    /// [`frame_len`](Self::frame_len) bytes. The error says what is wrong
    /// with the frame.
    pub fn convert(&mut self, frame: &[u8], out: &mut [u8]) -> Result<(), String> {
        match self.pixels {
            Pixels::Yuyv { stride } => yuyv_to_rgba(frame, stride, self.width, self.height, out),
            Pixels::Mjpeg => self.mjpeg_to_rgba(frame, out),
        }
    }

    fn mjpeg_to_rgba(&mut self, frame: &[u8], out: &mut [u8]) -> Result<(), String> {
        let Some(rest) = frame.strip_prefix(&[0xFF, 0xD8]) else {
            return Err("the frame is not a JPEG (no start marker)".into());
        };
        self.jpeg.clear();
        self.jpeg.extend_from_slice(&[0xFF, 0xD8]);
        self.jpeg.extend_from_slice(&AVI1);
        self.jpeg.extend_from_slice(rest);
        jpeg_to_rgba(&self.jpeg, self.width, self.height, out)
    }
}

/// BT.601 limited range to RGB in 8.8 fixed point: the integer form of
/// R = 1.164 (Y - 16) + 1.596 (V - 128) and its kin, as V4L2 and FFmpeg's
/// swscale compute it.
fn yuv_to_rgba(y: u8, u: u8, v: u8) -> [u8; 4] {
    let c = 298 * (i32::from(y) - 16) + 128;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| (x >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
        255,
    ]
}

/// Converts a YUYV frame of `height` rows, `stride` bytes apart, into
/// packed RGBA8.
fn yuyv_to_rgba(
    frame: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    out: &mut [u8],
) -> Result<(), String> {
    let row_len = width.div_ceil(2) * 4;
    let needed = stride * (height - 1) + row_len;
    if stride < row_len || frame.len() < needed {
        return Err(format!(
            "the frame holds {} bytes where {width}x{height} YUYV needs {needed}",
            frame.len()
        ));
    }
    for (row, out_row) in frame.chunks(stride).zip(out.chunks_exact_mut(width * RGBA)) {
        for (pair, pixels) in row[..row_len]
            .chunks_exact(4)
            .zip(out_row.chunks_mut(2 * RGBA))
        {
            let (y0, u, y1, v) = (pair[0], pair[1], pair[2], pair[3]);
            pixels[..RGBA].copy_from_slice(&yuv_to_rgba(y0, u, v));
            // An odd width leaves the last pair's second pixel out.
            if pixels.len() == 2 * RGBA {
                pixels[RGBA..].copy_from_slice(&yuv_to_rgba(y1, u, v));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ITU-R BT.601's equations with the limited-range scaling, in floating
    /// point: the reference the fixed-point conversion must stay within one
    /// step of.
    fn reference(y: u8, u: u8, v: u8) -> [f64; 3] {
        let (y, u, v) = (
            f64::from(y) - 16.0,
            f64::from(u) - 128.0,
            f64::from(v) - 128.0,
        );
        let kr = 0.299;
        let kb = 0.114;
        let kg = 1.0 - kr - kb;
        let y = y * 255.0 / 219.0;
        let (u, v) = (u * 255.0 / 224.0, v * 255.0 / 224.0);
        [
            y + 2.0 * (1.0 - kr) * v,
            y - 2.0 * (1.0 - kb) * kb / kg * u - 2.0 * (1.0 - kr) * kr / kg * v,
            y + 2.0 * (1.0 - kb) * u,
        ]
        .map(|c| c.clamp(0.0, 255.0))
    }

    #[test]
    fn every_yuv_value_is_within_one_step_of_bt601() {
        for y in (0..=255u8).step_by(3) {
            for u in 0..=255u8 {
                for v in 0..=255u8 {
                    let got = yuv_to_rgba(y, u, v);
                    let want = reference(y, u, v);
                    for c in 0..3 {
                        let diff = (f64::from(got[c]) - want[c]).abs();
                        assert!(diff <= 1.0, "YUV ({y}, {u}, {v}): {got:?} vs {want:?}");
                    }
                    assert_eq!(got[3], 255);
                }
            }
        }
    }

    #[test]
    fn limited_range_ends_and_primaries() {
        assert_eq!(yuv_to_rgba(16, 128, 128), [0, 0, 0, 255]);
        assert_eq!(yuv_to_rgba(235, 128, 128), [255, 255, 255, 255]);
        // Footroom and headroom clip instead of wrapping.
        assert_eq!(yuv_to_rgba(0, 128, 128), [0, 0, 0, 255]);
        assert_eq!(yuv_to_rgba(255, 128, 128), [255, 255, 255, 255]);
        // BT.601's red, green and blue at full strength.
        let near = |got: [u8; 4], want: [u8; 3]| {
            (0..3).all(|c| got[c].abs_diff(want[c]) <= 2) || panic!("{got:?} is not {want:?}")
        };
        near(yuv_to_rgba(81, 90, 240), [255, 0, 0]);
        near(yuv_to_rgba(145, 54, 34), [0, 255, 0]);
        near(yuv_to_rgba(41, 240, 110), [0, 0, 255]);
    }

    /// A YUYV frame whose every pixel pair has its own Y, U and V.
    fn yuyv_frame(width: usize, height: usize, stride: usize) -> Vec<u8> {
        let mut frame = vec![0xEE; stride * height];
        for y in 0..height {
            for (i, byte) in frame[y * stride..][..width.div_ceil(2) * 4]
                .iter_mut()
                .enumerate()
            {
                *byte = (i * 7 + y * 13) as u8;
            }
        }
        frame
    }

    #[test]
    fn yuyv_frames_convert_pair_by_pair_with_padded_rows() {
        for (width, height, stride) in [(4, 2, 8), (6, 3, 16), (5, 2, 12), (1, 1, 4)] {
            let frame = yuyv_frame(width, height, stride);
            let mut converter =
                Converter::new(Pixels::Yuyv { stride }, width as u32, height as u32);
            let mut out = vec![0; converter.frame_len()];
            converter.convert(&frame, &mut out).unwrap();
            for y in 0..height {
                for x in 0..width {
                    let pair = &frame[y * stride + x / 2 * 4..][..4];
                    let luma = pair[(x % 2) * 2];
                    let at = (y * width + x) * 4;
                    assert_eq!(
                        out[at..at + 4],
                        yuv_to_rgba(luma, pair[1], pair[3]),
                        "{width}x{height} pixel ({x}, {y})"
                    );
                }
            }
        }
    }

    #[test]
    fn a_short_yuyv_frame_is_refused() {
        let mut converter = Converter::new(Pixels::Yuyv { stride: 8 }, 4, 2);
        let mut out = vec![0; converter.frame_len()];
        let e = converter.convert(&[0; 15], &mut out).unwrap_err();
        assert_eq!(e, "the frame holds 15 bytes where 4x2 YUYV needs 16");
    }

    /// A smooth test image, RGB.
    fn image(width: usize, height: usize) -> Vec<u8> {
        (0..height)
            .flat_map(|y| {
                (0..width).flat_map(move |x| {
                    [
                        (x * 255 / width) as u8,
                        (y * 255 / height) as u8,
                        ((x + y) * 127 / (width + height)) as u8 + 64,
                    ]
                })
            })
            .collect()
    }

    fn jpeg(
        rgb: &[u8],
        width: usize,
        height: usize,
        sampling: jpeg_encoder::SamplingFactor,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 95);
        encoder.set_sampling_factor(sampling);
        encoder
            .encode(
                rgb,
                width as u16,
                height as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
        bytes
    }

    /// The JPEG without its DHT segments, as many cameras send MJPEG.
    fn without_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut at = 2;
        loop {
            let marker = jpeg[at + 1];
            let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
            if marker == 0xDA {
                out.extend_from_slice(&jpeg[at..]);
                return out;
            }
            if marker != 0xC4 {
                out.extend_from_slice(&jpeg[at..at + 2 + len]);
            }
            at += 2 + len;
        }
    }

    fn psnr(rgba: &[u8], rgb: &[u8]) -> f64 {
        let squares: f64 = rgba
            .chunks_exact(4)
            .zip(rgb.chunks_exact(3))
            .flat_map(|(a, b)| (0..3).map(move |c| (f64::from(a[c]) - f64::from(b[c])).powi(2)))
            .sum();
        let mse = squares / rgb.len() as f64;
        10.0 * (255.0 * 255.0 / mse).log10()
    }

    #[test]
    fn mjpeg_frames_decode_with_or_without_their_huffman_tables() {
        use jpeg_encoder::SamplingFactor;
        let (width, height) = (64, 48);
        let rgb = image(width, height);
        for sampling in [SamplingFactor::R_4_2_2, SamplingFactor::R_4_2_0] {
            let full = jpeg(&rgb, width, height, sampling);
            let bare = without_huffman_tables(&full);
            let mut plain = zune_jpeg::JpegDecoder::new(
                zune_jpeg::zune_core::bytestream::ZCursor::new(&bare[..]),
            );
            assert!(
                plain.decode().is_err(),
                "a plain JPEG decoder needs the tables"
            );
            let mut converter = Converter::new(Pixels::Mjpeg, width as u32, height as u32);
            let mut with_tables = vec![0; converter.frame_len()];
            let mut without = vec![0; converter.frame_len()];
            converter.convert(&full, &mut with_tables).unwrap();
            converter.convert(&bare, &mut without).unwrap();
            assert_eq!(
                with_tables, without,
                "the standard tables are the encoder's"
            );
            let quality = psnr(&with_tables, &rgb);
            assert!(quality >= 35.0, "{sampling:?}: PSNR {quality:.1} dB");
            assert!(with_tables.chunks_exact(4).all(|p| p[3] == 255));
        }
    }

    #[test]
    fn bad_mjpeg_frames_are_refused_with_a_reason() {
        let rgb = image(32, 16);
        let mut converter = Converter::new(Pixels::Mjpeg, 32, 16);
        let mut out = vec![0; converter.frame_len()];
        let e = converter.convert(b"not a jpeg", &mut out).unwrap_err();
        assert_eq!(e, "the frame is not a JPEG (no start marker)");

        let other = jpeg(
            &image(16, 16),
            16,
            16,
            jpeg_encoder::SamplingFactor::R_4_2_2,
        );
        let e = converter.convert(&other, &mut out).unwrap_err();
        assert_eq!(e, "the JPEG is 16x16, not 32x16");

        let big = jpeg(
            &image(64, 16),
            64,
            16,
            jpeg_encoder::SamplingFactor::R_4_2_2,
        );
        let e = converter.convert(&big, &mut out).unwrap_err();
        assert!(e.starts_with("the JPEG cannot be read"), "{e}");

        // A cut frame decodes to what it holds or fails; either way the
        // converter goes on with the next frame.
        let good = jpeg(&rgb, 32, 16, jpeg_encoder::SamplingFactor::R_4_2_2);
        let _ = converter.convert(&good[..good.len() / 3], &mut out);
        converter.convert(&good, &mut out).unwrap();
        assert!(psnr(&out, &rgb) >= 35.0);
    }
}
