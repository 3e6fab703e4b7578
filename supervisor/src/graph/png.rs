//! `plexus graph -o FILE.png`: the laid-out pipeline drawn into pixels by
//! plexus itself, so a machine with no fonts and no Graphviz still makes a
//! picture. Boxes, lines and arrowheads are filled spans; text is the
//! public-domain 8×8 bitmap font of `font8x8`, doubled, as the layout
//! counts a character 8 units wide. Everything is drawn at twice the
//! layout's size, so the text is 16 pixels high.

use crate::graph::layout::{centred_lines, Layout, Rect, CHAR_W, LINE_H};
use crate::graph::model::{language_label, palette, Graph};

/// Pixels per layout unit.
const SCALE: i32 = 2;
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
const INK: [u8; 3] = [0x00, 0x00, 0x00];
const LABEL_INK: [u8; 3] = [0x33, 0x33, 0x33];
const LINE_COLOUR: [u8; 3] = [0x55, 0x55, 0x55];
/// The largest picture drawn, in pixels a side: a pipeline is at most a
/// few hundred processors, far below this.
const MAX_SIDE: i32 = 32_000;

/// The PNG file of `graph` laid out as `layout`.
pub fn render(graph: &Graph, layout: &Layout) -> anyhow::Result<Vec<u8>> {
    if layout.width * SCALE > MAX_SIDE || layout.height * SCALE > MAX_SIDE {
        anyhow::bail!(crate::error::UserError::Plain(format!(
            "the picture would be {}×{} pixels, too large for a PNG; write an SVG instead",
            layout.width * SCALE,
            layout.height * SCALE
        )));
    }
    let mut canvas = Canvas::new(layout.width * SCALE, layout.height * SCALE);
    let (tx, ty) = layout.title;
    canvas.text(tx, ty, &graph.title, INK, true);
    for (edge, route) in graph.edges.iter().zip(&layout.routes) {
        for pair in route.points.windows(2) {
            canvas.line(pair[0], pair[1], LINE_COLOUR);
        }
        if let [.., before, tip] = route.points.as_slice() {
            canvas.arrowhead(*before, *tip, LINE_COLOUR);
        }
        canvas.fill(&route.label, WHITE);
        for (x, y, line) in centred_lines(&route.label, &edge.lines()) {
            canvas.text(x, y, line, LABEL_INK, false);
        }
    }
    for (node, rect) in graph.nodes.iter().zip(&layout.boxes) {
        let colours = palette(node.language);
        canvas.fill(rect, colours.stroke);
        canvas.fill_inset(rect, 1, colours.fill);
        for (i, (x, y, line)) in centred_lines(rect, &node.lines()).into_iter().enumerate() {
            canvas.text(x, y, line, INK, i == 0);
        }
    }
    for (language, swatch) in &layout.legend {
        let colours = palette(language);
        canvas.fill(swatch, colours.stroke);
        canvas.fill_inset(swatch, 1, colours.fill);
        canvas.text(
            swatch.right() + CHAR_W,
            swatch.y,
            &language_label(language),
            INK,
            false,
        );
    }
    canvas.encode()
}

/// An RGB picture, addressed in layout units and drawn at [`SCALE`].
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![0xff; (width * height * 3) as usize],
        }
    }

    /// Paints one pixel, in pixels; outside the picture, nothing.
    fn dot(&mut self, x: i32, y: i32, colour: [u8; 3]) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            let at = ((y * self.width + x) * 3) as usize;
            self.pixels[at..at + 3].copy_from_slice(&colour);
        }
    }

    /// Fills a span of pixels.
    fn span(&mut self, x0: i32, x1: i32, y0: i32, y1: i32, colour: [u8; 3]) {
        for y in y0.max(0)..y1.min(self.height) {
            for x in x0.max(0)..x1.min(self.width) {
                self.dot(x, y, colour);
            }
        }
    }

    fn fill(&mut self, rect: &Rect, colour: [u8; 3]) {
        self.fill_inset(rect, 0, colour);
    }

    /// Fills `rect` less `inset` units on every side: a filled box drawn
    /// over one of the outline's colour leaves the outline.
    fn fill_inset(&mut self, rect: &Rect, inset: i32, colour: [u8; 3]) {
        self.span(
            (rect.x + inset) * SCALE,
            (rect.right() - inset) * SCALE,
            (rect.y + inset) * SCALE,
            (rect.bottom() - inset) * SCALE,
            colour,
        );
    }

    /// A line three pixels thick, stepping along its longer axis.
    fn line(&mut self, from: (i32, i32), to: (i32, i32), colour: [u8; 3]) {
        let (x0, y0) = (from.0 * SCALE, from.1 * SCALE);
        let (x1, y1) = (to.0 * SCALE, to.1 * SCALE);
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for i in 0..=steps {
            let x = x0 + (x1 - x0) * i / steps;
            let y = y0 + (y1 - y0) * i / steps;
            self.span(x - 1, x + 2, y - 1, y + 2, colour);
        }
    }

    /// A filled triangle pointing from `from` to `tip`, ending at `tip`.
    fn arrowhead(&mut self, from: (i32, i32), tip: (i32, i32), colour: [u8; 3]) {
        let (dx, dy) = ((tip.0 - from.0) as f64, (tip.1 - from.1) as f64);
        let length = (dx * dx + dy * dy).sqrt();
        if length == 0.0 {
            return;
        }
        let (ux, uy) = (dx / length, dy / length);
        let (long, half) = (7.0 * SCALE as f64, 4.0 * SCALE as f64);
        let (tx, ty) = ((tip.0 * SCALE) as f64, (tip.1 * SCALE) as f64);
        let (bx, by) = (tx - ux * long, ty - uy * long);
        let corners = [
            (tx, ty),
            (bx - uy * half, by + ux * half),
            (bx + uy * half, by - ux * half),
        ];
        let top = corners.iter().map(|c| c.1).fold(f64::MAX, f64::min) as i32;
        let bottom = corners.iter().map(|c| c.1).fold(f64::MIN, f64::max) as i32;
        for y in top..=bottom {
            let yc = y as f64 + 0.5;
            // Where this row crosses the triangle's sides.
            let mut xs = Vec::new();
            for i in 0..3 {
                let (a, b) = (corners[i], corners[(i + 1) % 3]);
                if (a.1 <= yc && yc < b.1) || (b.1 <= yc && yc < a.1) {
                    xs.push(a.0 + (yc - a.1) * (b.0 - a.0) / (b.1 - a.1));
                }
            }
            if let (Some(lo), Some(hi)) = (
                xs.iter().copied().reduce(f64::min),
                xs.iter().copied().reduce(f64::max),
            ) {
                self.span(lo.round() as i32, hi.round() as i32 + 1, y, y + 1, colour);
            }
        }
    }

    /// `text` in the bitmap font from the top left of its [`LINE_H`] row;
    /// `bold` draws each glyph twice, a pixel apart. A character outside
    /// ASCII is a `?`.
    fn text(&mut self, x: i32, y: i32, text: &str, colour: [u8; 3], bold: bool) {
        let top = (y + (LINE_H - 8) / 2) * SCALE;
        for (i, c) in text.chars().enumerate() {
            let glyph = match c.is_ascii() {
                true => font8x8::legacy::BASIC_LEGACY[c as usize],
                false => font8x8::legacy::BASIC_LEGACY[b'?' as usize],
            };
            let left = (x + i as i32 * CHAR_W) * SCALE;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    // font8x8 keeps a row's leftmost pixel in its lowest bit.
                    if bits >> col & 1 == 1 {
                        let px = left + col * SCALE;
                        let py = top + row as i32 * SCALE;
                        let thick = SCALE + i32::from(bold);
                        self.span(px, px + thick, py, py + SCALE, colour);
                    }
                }
            }
        }
    }

    fn encode(self) -> anyhow::Result<Vec<u8>> {
        let mut file = Vec::new();
        let mut encoder = png::Encoder::new(&mut file, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(file)
    }
}
