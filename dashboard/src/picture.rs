//! A preview's picture: a video frame (`video/rgba8` or `video/gray8`)
//! scaled down to a width, by nearest sample (a preview needs speed more
//! than smoothness), as RGBA or as a JPEG.

use ipc_schemas::SchemaId;

/// JPEG quality of previews.
const QUALITY: u8 = 70;

/// One frame as a preview keeps it.
#[derive(Debug)]
pub struct Frame {
    pub seq: u64,
    pub schema: SchemaId,
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: u32,
    pub bytes: Vec<u8>,
}

/// A scaled picture, 4 bytes per pixel.
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Frame {
    /// Whether its bytes hold the rows its header claims.
    pub fn is_whole(&self) -> bool {
        let per_pixel = self.schema.bytes_per_pixel().unwrap_or(0) as u64;
        let row = u64::from(self.width) * per_pixel;
        self.width > 0
            && self.height > 0
            && u64::from(self.stride) >= row
            && (u64::from(self.height) - 1) * u64::from(self.stride) + row
                <= self.bytes.len() as u64
    }

    /// The frame scaled to at most `max_width` wide, keeping its aspect.
    /// Call only on a whole video frame.
    pub fn scaled(&self, max_width: u32) -> Rgba {
        let width = self.width.min(max_width).max(1);
        let height = ((u64::from(self.height) * u64::from(width) + u64::from(self.width) / 2)
            / u64::from(self.width))
        .max(1) as u32;
        let mut pixels = Vec::with_capacity(width as usize * height as usize * 4);
        for y in 0..height {
            let sy = (u64::from(y) * u64::from(self.height) / u64::from(height)) as usize;
            let row = &self.bytes[sy * self.stride as usize..];
            for x in 0..width {
                let sx = (u64::from(x) * u64::from(self.width) / u64::from(width)) as usize;
                match self.schema {
                    SchemaId::VideoGray8 => {
                        let v = row[sx];
                        pixels.extend_from_slice(&[v, v, v, 255]);
                    }
                    _ => pixels.extend_from_slice(&row[sx * 4..sx * 4 + 4]),
                }
            }
        }
        Rgba {
            width,
            height,
            pixels,
        }
    }
}

impl Rgba {
    pub fn jpeg(&self) -> Result<Vec<u8>, String> {
        let (Ok(width), Ok(height)) = (u16::try_from(self.width), u16::try_from(self.height))
        else {
            return Err(format!(
                "a {}x{} picture is too large for a JPEG",
                self.width, self.height
            ));
        };
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, QUALITY)
            .encode(&self.pixels, width, height, jpeg_encoder::ColorType::Rgba)
            .map_err(|e| format!("encoding the preview as JPEG: {e}"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(schema: SchemaId, width: u32, height: u32, per_pixel: u32) -> Frame {
        let stride = width * per_pixel + 8;
        let bytes = (0..stride * height).map(|i| (i % 251) as u8).collect();
        Frame {
            seq: 1,
            schema,
            width,
            height,
            stride,
            bytes,
        }
    }

    #[test]
    fn frames_scale_down_keeping_their_aspect() {
        let rgba = frame(SchemaId::VideoRgba8, 640, 480, 4);
        assert!(rgba.is_whole());
        let small = rgba.scaled(320);
        assert_eq!((small.width, small.height), (320, 240));
        assert_eq!(small.pixels.len(), 320 * 240 * 4);
        assert_eq!(&small.pixels[..4], &rgba.bytes[..4]);
        // Never scaled up.
        assert_eq!(rgba.scaled(1920).width, 640);
        let gray = frame(SchemaId::VideoGray8, 100, 50, 1).scaled(10);
        assert_eq!((gray.width, gray.height), (10, 5));
        assert_eq!(gray.pixels[3], 255);
    }

    #[test]
    fn a_frame_shorter_than_its_header_says_is_not_whole() {
        let mut short = frame(SchemaId::VideoRgba8, 64, 64, 4);
        short.bytes.truncate(100);
        assert!(!short.is_whole());
    }

    #[test]
    fn the_jpeg_is_a_jpeg() {
        let jpeg = frame(SchemaId::VideoRgba8, 64, 48, 4)
            .scaled(32)
            .jpeg()
            .unwrap();
        assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    }
}
