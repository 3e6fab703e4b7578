//! `plexus graph` as text for the tools people already use: Graphviz's DOT
//! (`dot -Tsvg`, editors' previews) and Mermaid (Markdown pages on forges).
//! Both carry the same nodes, labels and colours as the pictures; the
//! tools lay them out themselves.

use std::fmt::Write;

use crate::graph::model::{hex, language_label, palette, Graph};

/// The graph as a DOT `digraph`, frames flowing left to right.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "digraph {} {{", dot_quote(&graph.title));
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, label={}, labelloc=t, fontname=\"monospace\"];",
        dot_quote(&graph.title)
    );
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\"];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=10];\n");
    for node in &graph.nodes {
        let colours = palette(node.language);
        let _ = writeln!(
            out,
            "  {} [label={}, fillcolor=\"{}\", color=\"{}\"];",
            dot_quote(&node.id),
            dot_quote(&node.lines().join("\n")),
            hex(colours.fill),
            hex(colours.stroke)
        );
    }
    for edge in &graph.edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            dot_quote(&graph.nodes[edge.from].id),
            dot_quote(&graph.nodes[edge.to].id),
            dot_quote(&edge.lines().join("\n"))
        );
    }
    // Processor ids have no spaces, so these names cannot meet one.
    out.push_str("  subgraph cluster_legend {\n    label=\"languages\";\n");
    for language in graph.languages() {
        let colours = palette(language);
        let _ = writeln!(
            out,
            "    {} [label={}, fillcolor=\"{}\", color=\"{}\"];",
            dot_quote(&format!("language {language}")),
            dot_quote(&language_label(language)),
            hex(colours.fill),
            hex(colours.stroke)
        );
    }
    out.push_str("  }\n}\n");
    out
}

/// A DOT double-quoted string; a line break is DOT's `\n`.
fn dot_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The graph as a Mermaid `flowchart LR`. Nodes are named `p0`, `p1`, … in
/// pipeline order, as a processor id could be one of Mermaid's words
/// (`end`); the labels name the processors.
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(out, "  %% {}", mermaid_text(&graph.title));
    for (i, node) in graph.nodes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  p{i}[\"{}\"]:::{}",
            mermaid_lines(&node.lines()),
            class(node.language)
        );
    }
    for edge in &graph.edges {
        let _ = writeln!(
            out,
            "  p{} -->|\"{}\"| p{}",
            edge.from,
            mermaid_lines(&edge.lines()),
            edge.to
        );
    }
    out.push_str("  subgraph legend [languages]\n");
    for language in graph.languages() {
        let _ = writeln!(
            out,
            "    language_{0}[\"{1}\"]:::{0}",
            class(language),
            mermaid_text(&language_label(language))
        );
    }
    out.push_str("  end\n");
    for language in graph.languages() {
        let colours = palette(language);
        let _ = writeln!(
            out,
            "  classDef {} fill:{},stroke:{},color:#000",
            class(language),
            hex(colours.fill),
            hex(colours.stroke)
        );
    }
    out
}

/// A language's class name: its name, which is a plain word.
fn class(language: &str) -> String {
    match language {
        "" => "unknown".into(),
        name => name.chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
    }
}

fn mermaid_lines(lines: &[String]) -> String {
    let lines: Vec<String> = lines.iter().map(|l| mermaid_text(l)).collect();
    lines.join("<br/>")
}

/// Text inside a quoted Mermaid label: its own quote, markup and `#` as
/// Mermaid's entity codes.
fn mermaid_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::Flow;
    use crate::graph::tests::{chain, fan_in_out};

    #[test]
    fn dot_quotes_every_name_and_labels_every_edge() {
        let mut graph = fan_in_out();
        graph.title = "pipeline \"odd\\name\"".into();
        let dot = dot(&graph);
        assert!(dot.starts_with("digraph \"pipeline \\\"odd\\\\name\\\"\" {\n"));
        assert!(dot.contains("  \"cam\" [label=\"cam\\nbuiltin.test_pattern\""));
        assert!(dot.contains("  \"cam\" -> \"left\" [label=\"video/rgba8\"];"));
        assert!(dot.contains("  \"right\" -> \"mix\" [label=\"out -> b\\nvideo/gray8\"];"));
        assert_eq!(dot.matches(" -> \"").count(), graph.edges.len());
        assert!(dot.contains("\"language rust\""));
        assert!(dot.trim_end().ends_with('}'));
    }

    #[test]
    fn mermaid_is_a_left_to_right_flowchart_with_every_edge() {
        let mut graph = chain(3);
        graph.edges[1].flow = Some(Flow {
            fps: 29.97,
            dropped: 3,
            latency_us: None,
        });
        graph.title = "pipeline <a> \"b\"".into();
        let text = mermaid(&graph);
        assert!(text.starts_with("flowchart LR\n"));
        assert!(text.contains("  %% pipeline #lt;a#gt; #quot;b#quot;\n"));
        assert!(text.contains("  p0[\"n0<br/>builtin.test_pattern\"]:::rust\n"));
        assert!(text.contains("  p0 -->|\"video/rgba8\"| p1\n"));
        assert!(text.contains("  p1 -->|\"video/rgba8<br/>30.0 fps, 3 dropped\"| p2\n"));
        assert!(text.contains("  classDef rust fill:#f6d2b8,stroke:#b7410e,color:#000\n"));
    }
}
