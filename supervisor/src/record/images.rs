//! Video frames as image files, for recordings made with `--video-codec`:
//! JPEG (lossy, small) or PNG (lossless). Done on the writing thread, so
//! the observer that takes frames out of shared memory never waits on it.

use ipc_schemas::recording::Codec;
use ipc_schemas::{FrameHeader, SchemaId};

/// JPEG quality: small files that still show what the camera saw.
const JPEG_QUALITY: u8 = 90;

/// Why a frame could not be made an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("frame {seq} is {width}x{height}, stride {stride}, which {len} bytes do not hold")]
    Geometry {
        seq: u64,
        width: u32,
        height: u32,
        stride: u32,
        len: usize,
    },
    #[error("frame {seq} cannot be encoded as {codec}: {why}")]
    Encode {
        seq: u64,
        codec: &'static str,
        why: String,
    },
}

/// Writes the frame `pixels` (of `header`'s schema and geometry) as an
/// image file in `codec` into `out` (cleared first); `rows` is scratch.
pub fn compress(
    codec: Codec,
    header: &FrameHeader,
    pixels: &[u8],
    rows: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), ImageError> {
    let gray = SchemaId::from_code(header.schema) == Some(SchemaId::VideoGray8);
    let bytes_per_pixel = if gray { 1 } else { 4 };
    let (width, height, stride) = (
        header.width as usize,
        header.height as usize,
        header.stride as usize,
    );
    let row = width * bytes_per_pixel;
    let geometry = || ImageError::Geometry {
        seq: header.seq,
        width: header.width,
        height: header.height,
        stride: header.stride,
        len: pixels.len(),
    };
    if width == 0 || height == 0 || stride < row || pixels.len() < stride * (height - 1) + row {
        return Err(geometry());
    }
    // Both encoders take rows without padding.
    rows.clear();
    for y in 0..height {
        rows.extend_from_slice(&pixels[y * stride..][..row]);
    }
    out.clear();
    let failed = |why: String| ImageError::Encode {
        seq: header.seq,
        codec: codec.format(),
        why,
    };
    let (w, h) = (header.width, header.height);
    match codec {
        Codec::Jpeg => {
            let (Ok(w), Ok(h)) = (u16::try_from(w), u16::try_from(h)) else {
                return Err(failed("JPEG holds at most 65535 pixels a side".into()));
            };
            let color = match gray {
                true => jpeg_encoder::ColorType::Luma,
                false => jpeg_encoder::ColorType::Rgba,
            };
            jpeg_encoder::Encoder::new(&mut *out, JPEG_QUALITY)
                .encode(rows, w, h, color)
                .map_err(|e| failed(e.to_string()))
        }
        Codec::Png => {
            let mut encoder = png::Encoder::new(&mut *out, w, h);
            encoder.set_color(match gray {
                true => png::ColorType::Grayscale,
                false => png::ColorType::Rgba,
            });
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder.write_header().map_err(|e| failed(e.to_string()))?;
            writer
                .write_image_data(rows)
                .map_err(|e| failed(e.to_string()))?;
            writer.finish().map_err(|e| failed(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(width: u32, height: u32, stride: u32) -> FrameHeader {
        FrameHeader {
            schema: SchemaId::VideoRgba8.code(),
            width,
            height,
            stride,
            ..FrameHeader::default()
        }
    }

    #[test]
    fn a_png_holds_the_frame_exactly_without_its_row_padding() {
        let h = header(3, 2, 16);
        let pixels: Vec<u8> = (0..32).collect();
        let (mut rows, mut out) = (Vec::new(), Vec::new());
        compress(Codec::Png, &h, &pixels, &mut rows, &mut out).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(&out))
            .read_info()
            .unwrap();
        let mut back = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut back).unwrap();
        let want: Vec<u8> = [&pixels[0..12], &pixels[16..28]].concat();
        assert_eq!(back, want);
    }

    #[test]
    fn a_jpeg_starts_as_one_and_bad_geometry_is_refused() {
        let h = header(16, 8, 64);
        let (mut rows, mut out) = (Vec::new(), Vec::new());
        compress(Codec::Jpeg, &h, &[128; 512], &mut rows, &mut out).unwrap();
        assert_eq!(&out[..2], [0xFF, 0xD8]);
        let e = compress(Codec::Png, &h, &[0; 100], &mut rows, &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "frame 0 is 16x8, stride 64, which 100 bytes do not hold"
        );
    }
}
