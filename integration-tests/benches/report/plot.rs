//! The plot of the report: p50 hop latency against payload size, log-log,
//! one line per transport, drawn into memory with plotters and written as a
//! PNG. Text is set in DejaVu Sans, embedded in the binary, so the plot
//! looks the same on a machine without any system font.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::latency_report::Row;
use crate::Result;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 640;
const FONT: &str = "sans-serif";

/// One colour per transport, in the order of [`Row::transports`].
const COLOURS: [RGBColor; 5] = [
    RGBColor(0, 0, 0),
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

pub fn draw(rows: &[Row<'_>], png: &Path) -> Result<()> {
    register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu Sans is not a valid font".to_string())?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    chart(rows, &mut rgb).map_err(|e| format!("drawing the plot: {e}"))?;
    write_png(png, &rgb)
}

fn chart(rows: &[Row<'_>], rgb: &mut [u8]) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let bytes = |row: &Row<'_>| row.size.bytes() as f64;
    let x_max = rows.iter().map(bytes).fold(64.0, f64::max) * 2.0;
    let p50s = || {
        rows.iter()
            .flat_map(|r| r.transports())
            .map(|(_, l)| l.p50_us)
    };
    let y_min = p50s().fold(f64::INFINITY, f64::min).max(0.1) / 2.0;
    let y_max = p50s().fold(1.0, f64::max) * 2.0;

    let mut chart = ChartBuilder::on(&root)
        .caption(
            "plexus: one-way hop latency (p50) vs payload size",
            (FONT, 24),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (32.0..x_max)
                .log_scale()
                .with_key_points(rows.iter().map(bytes).collect()),
            (y_min..y_max)
                .log_scale()
                .with_key_points(one_two_five(y_min, y_max)),
        )?;
    chart
        .configure_mesh()
        .x_desc("payload (bytes)")
        .y_desc("latency p50 (µs)")
        .x_label_formatter(&|b| size_label(*b))
        .y_label_formatter(&|us| format!("{us}"))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()?;

    let names: Vec<&str> = rows
        .first()
        .map(|r| r.transports().into_iter().map(|(name, _)| name).collect())
        .unwrap_or_default();
    for (i, name) in names.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (bytes(r), r.transports()[i].1.p50_us))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// 1, 2, 5, 10, 20, 50, … between `low` and `high`.
fn one_two_five(low: f64, high: f64) -> Vec<f64> {
    let mut decade = 10f64.powf(low.log10().floor());
    let mut ticks = Vec::new();
    while decade <= high {
        ticks.extend(
            [1.0, 2.0, 5.0]
                .map(|m| m * decade)
                .into_iter()
                .filter(|t| (low..=high).contains(t)),
        );
        decade *= 10.0;
    }
    ticks
}

/// `64 B`, `4 KiB`, `1 MiB`, … for a power-of-two byte count.
fn size_label(bytes: f64) -> String {
    let bytes = bytes.round() as u64;
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn write_png(path: &Path, rgb: &[u8]) -> Result<()> {
    let file =
        std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(rgb))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
