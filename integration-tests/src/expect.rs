//! The frames the tests expect, computed here from the documented formulas
//! rather than by calling the code under test.

/// `builtin.test_pattern`, frame `n`, pixel (x, y): R = (x + n) mod 256,
/// G = (y + 2n) mod 256, B = (x xor y) mod 256, A = 255.
pub fn pattern_rgba(n: u64, x: u32, y: u32) -> [u8; 4] {
    [
        ((x as u64 + n) % 256) as u8,
        ((y as u64 + 2 * n) % 256) as u8,
        ((x ^ y) % 256) as u8,
        255,
    ]
}

/// `example.grayscale`: (77 R + 150 G + 29 B) >> 8.
pub fn gray_of(rgba: [u8; 4]) -> u8 {
    ((77 * rgba[0] as u32 + 150 * rgba[1] as u32 + 29 * rgba[2] as u32) >> 8) as u8
}

/// `example.sepia`: the luma above, then R = min(255, 300 l / 256),
/// G = 230 l / 256, B = 175 l / 256 (integer division), alpha kept.
pub fn sepia_of(rgba: [u8; 4]) -> [u8; 4] {
    let l = gray_of(rgba) as u32;
    [
        (l * 300 / 256).min(255) as u8,
        (l * 230 / 256) as u8,
        (l * 175 / 256) as u8,
        rgba[3],
    ]
}

/// `example.invert` with `keep_alpha`: 255 - each colour channel.
pub fn inverted(rgba: [u8; 4]) -> [u8; 4] {
    [255 - rgba[0], 255 - rgba[1], 255 - rgba[2], rgba[3]]
}

/// The processor `plexus new` generates: each colour channel plus `amount`,
/// at most 255; alpha kept.
pub fn brightened(rgba: [u8; 4], amount: u8) -> [u8; 4] {
    let up = |c: u8| c.saturating_add(amount);
    [up(rgba[0]), up(rgba[1]), up(rgba[2]), rgba[3]]
}

/// `example.frame_counter_bar` at frame `n` of width `w`: white over rows
/// 0..8 and columns 0..(n mod w), the input elsewhere.
pub fn with_counter_bar(n: u64, w: u32, x: u32, y: u32, input: [u8; 4]) -> [u8; 4] {
    if y < 8 && (x as u64) < n % w as u64 {
        [255; 4]
    } else {
        input
    }
}

/// A decoded PNG.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub color: png::ColorType,
    pub pixels: Vec<u8>,
}

pub fn read_png(path: &std::path::Path) -> Image {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG header");
    let size = reader.output_buffer_size().expect("an addressable image");
    let mut pixels = vec![0; size];
    let info = reader.next_frame(&mut pixels).expect("a PNG frame");
    pixels.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        color: info.color_type,
        pixels,
    }
}

/// `test.py_gradient` (fixtures/source-python) at frame `n`, pixel (x, y).
pub fn gradient(n: u64, x: u32, y: u32) -> [u8; 4] {
    let n = n as u32;
    [
        ((x + n) % 256) as u8,
        ((y + 2 * n) % 256) as u8,
        ((x * y) % 256) as u8,
        255,
    ]
}
