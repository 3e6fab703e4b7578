//! `plexus graph -o FILE.svg`: the laid-out pipeline as an SVG document,
//! which browsers, README pages and editors show as it is, with text that
//! stays text (searchable, sharp at any zoom).

use std::fmt::Write;

use crate::graph::layout::{centred_lines, Layout, Rect};
use crate::graph::model::{hex, language_label, palette, Graph};

/// Where a line's baseline sits below the top of its row (of
/// [`crate::graph::layout::LINE_H`]).
const BASELINE: i32 = 11;
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const LINE_COLOUR: &str = "#555555";

/// The SVG document of `graph` laid out as `layout`.
pub fn render(graph: &Graph, layout: &Layout) -> String {
    let mut svg = String::new();
    let (w, h) = (layout.width, layout.height);
    // Writing to a String cannot fail.
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="13">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(&graph.title));
    let _ = writeln!(
        svg,
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{LINE_COLOUR}"/></marker></defs>"#
    );
    let _ = writeln!(svg, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let (tx, ty) = layout.title;
    let _ = writeln!(
        svg,
        r#"<text x="{tx}" y="{}" font-weight="bold">{}</text>"#,
        ty + BASELINE,
        escape(&graph.title)
    );
    for (edge, route) in graph.edges.iter().zip(&layout.routes) {
        let points: Vec<String> = route
            .points
            .iter()
            .map(|(x, y)| format!("{x},{y}"))
            .collect();
        let from = &graph.nodes[edge.from].id;
        let to = &graph.nodes[edge.to].id;
        let _ = writeln!(
            svg,
            r#"<g class="edge" data-from="{}" data-to="{}"><polyline points="{}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5" marker-end="url(#arrow)"/>"#,
            escape(from),
            escape(to),
            points.join(" ")
        );
        let lines = edge.lines();
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="white" fill-opacity="0.9"/>"#,
            route.label.x, route.label.y, route.label.w, route.label.h
        );
        text_block(&mut svg, &route.label, &lines, "#333333", false);
        let _ = writeln!(svg, "</g>");
    }
    for (node, rect) in graph.nodes.iter().zip(&layout.boxes) {
        let colours = palette(node.language);
        let _ = writeln!(
            svg,
            r#"<g class="node" id="node-{}"><rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="{}" stroke="{}" stroke-width="1.5"/>"#,
            escape(&node.id),
            rect.x,
            rect.y,
            rect.w,
            rect.h,
            hex(colours.fill),
            hex(colours.stroke)
        );
        text_block(&mut svg, rect, &node.lines(), "black", true);
        let _ = writeln!(svg, "</g>");
    }
    for (language, swatch) in &layout.legend {
        let colours = palette(language);
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{}" stroke="{}"/><text x="{}" y="{}">{}</text>"#,
            swatch.x,
            swatch.y,
            swatch.w,
            swatch.h,
            hex(colours.fill),
            hex(colours.stroke),
            swatch.right() + 8,
            swatch.y + BASELINE,
            escape(&language_label(language))
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// `lines` centred in `rect`, the first in bold if `heading`.
fn text_block(svg: &mut String, rect: &Rect, lines: &[String], colour: &str, heading: bool) {
    let middle = rect.x + rect.w / 2;
    for (i, (_, y, line)) in centred_lines(rect, lines).into_iter().enumerate() {
        let weight = match heading && i == 0 {
            true => r#" font-weight="bold""#,
            false => "",
        };
        let _ = writeln!(
            svg,
            r#"<text x="{middle}" y="{}" text-anchor="middle" fill="{colour}"{weight}>{}</text>"#,
            y + BASELINE,
            escape(line)
        );
    }
}

/// `text` safe inside an element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
