//! Image files decoded straight into a frame's RGBA8 buffer, for the
//! builtins that receive them: a camera's MJPEG and a recording's JPEG or
//! PNG frames. The size is checked against what is expected before any
//! pixel is decoded, so a corrupt or hostile header cannot make the decoder
//! allocate more.

use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Decodes a JPEG of `width`x`height` into `out` (`width * height * 4`).
pub fn jpeg_to_rgba(
    jpeg: &[u8],
    width: usize,
    height: usize,
    out: &mut [u8],
) -> Result<(), String> {
    let options = DecoderOptions::default()
        .set_max_width(width)
        .set_max_height(height)
        .jpeg_set_out_colorspace(ColorSpace::RGBA);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder
        .decode_headers()
        .map_err(|e| format!("the JPEG cannot be read ({e})"))?;
    let size = decoder.dimensions();
    if size != Some((width, height)) {
        return Err(format!(
            "the JPEG is {}, not {width}x{height}",
            size.map_or("of no size".into(), |(w, h)| format!("{w}x{h}")),
        ));
    }
    decoder
        .decode_into(out)
        .map_err(|e| format!("the JPEG cannot be decoded ({e})"))
}

/// Decodes an 8-bit RGBA PNG of `width`x`height` into `out`.
pub fn png_to_rgba(png: &[u8], width: usize, height: usize, out: &mut [u8]) -> Result<(), String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_limits(png::Limits {
        bytes: width * height * 4 + (1 << 16),
    });
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("the PNG cannot be read ({e})"))?;
    let info = reader.info();
    let found = (info.width as usize, info.height as usize);
    if found != (width, height) {
        return Err(format!(
            "the PNG is {}x{}, not {width}x{height}",
            found.0, found.1
        ));
    }
    if (info.color_type, info.bit_depth) != (png::ColorType::Rgba, png::BitDepth::Eight) {
        return Err(format!(
            "the PNG is {:?} of {:?}-bit samples, not 8-bit RGBA",
            info.color_type, info.bit_depth
        ));
    }
    reader
        .next_frame(out)
        .map(|_| ())
        .map_err(|e| format!("the PNG cannot be decoded ({e})"))
}
