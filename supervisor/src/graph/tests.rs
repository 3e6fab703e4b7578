//! The layout's promises, checked on small pipelines and on random ones:
//! no box overlaps another or a label, every connection runs left to
//! right into a column further on, long connections pass beside boxes,
//! and the pictures hold every language's colour.

use proptest::prelude::*;

use crate::graph::layout::{layout, Layout, Rect};
use crate::graph::model::{palette, Edge, Graph, Node};

fn node(id: &str, type_name: &str, language: &'static str) -> Node {
    Node {
        id: id.into(),
        type_name: type_name.into(),
        language,
        group: None,
        paused: false,
    }
}

fn edge(from: usize, to: usize) -> Edge {
    Edge {
        from,
        from_port: "out".into(),
        to,
        to_port: "in".into(),
        schema: "video/rgba8".into(),
        flow: None,
    }
}

/// `n0 -> n1 -> …`, all Rust.
pub fn chain(n: usize) -> Graph {
    let nodes = (0..n)
        .map(|i| match i {
            0 => node("n0", "builtin.test_pattern", "rust"),
            i => node(&format!("n{i}"), "example.grayscale", "rust"),
        })
        .collect();
    Graph {
        title: "pipeline chain".into(),
        pipeline: "chain".into(),
        nodes,
        edges: (1..n).map(|i| edge(i - 1, i)).collect(),
    }
}

/// `cam` feeds a Python and a TypeScript branch that meet again at `mix`,
/// which also takes `cam` directly, past a column.
pub fn fan_in_out() -> Graph {
    let mut mix = node("mix", "example.mix", "rust");
    mix.group = Some("effects".into());
    let into = |from, port: &str, schema: &str| Edge {
        to_port: port.into(),
        schema: schema.into(),
        ..edge(from, 3)
    };
    Graph {
        title: "pipeline fan".into(),
        pipeline: "fan".into(),
        nodes: vec![
            node("cam", "builtin.test_pattern", "rust"),
            node("left", "example.invert", "python"),
            node("right", "example.frame_counter_bar", "deno"),
            mix,
        ],
        edges: vec![
            edge(0, 1),
            edge(0, 2),
            into(1, "a", "video/rgba8"),
            into(2, "b", "video/gray8"),
            into(0, "c", "video/rgba8"),
        ],
    }
}

/// Every promise of the layout, for `graph` laid out as `laid`.
fn check(graph: &Graph, laid: &Layout) {
    let page = Rect {
        x: 0,
        y: 0,
        w: laid.width,
        h: laid.height,
    };
    let labels: Vec<Rect> = laid.routes.iter().map(|r| r.label).collect();
    for (i, a) in laid.boxes.iter().enumerate() {
        assert!(inside(a, &page), "box {i} {a:?} is off the page {page:?}");
        for (j, b) in laid.boxes.iter().enumerate().skip(i + 1) {
            assert!(!overlap(a, b), "boxes {i} {a:?} and {j} {b:?} overlap");
        }
        for (e, label) in labels.iter().enumerate() {
            assert!(!overlap(a, label), "box {i} {a:?} and label {e} overlap");
        }
    }
    for (i, a) in labels.iter().enumerate() {
        assert!(inside(a, &page), "label {i} {a:?} is off the page");
        for (j, b) in labels.iter().enumerate().skip(i + 1) {
            assert!(!overlap(a, b), "labels {i} {a:?} and {j} {b:?} overlap");
        }
    }
    for (e, (edge, route)) in graph.edges.iter().zip(&laid.routes).enumerate() {
        assert!(
            laid.columns[edge.from] < laid.columns[edge.to],
            "edge {e} does not go to a column further right"
        );
        let (from, to) = (laid.boxes[edge.from], laid.boxes[edge.to]);
        let first = route.points[0];
        let last = *route.points.last().unwrap();
        assert_eq!(
            first.0,
            from.right(),
            "edge {e} leaves its upstream's right side"
        );
        assert!((from.y..=from.bottom()).contains(&first.1));
        assert_eq!(last.0, to.x, "edge {e} ends at its downstream's left side");
        assert!((to.y..=to.bottom()).contains(&last.1));
        for pair in route.points.windows(2) {
            assert!(
                pair[0].0 <= pair[1].0,
                "edge {e} goes left: {:?}",
                route.points
            );
            // No box but its own two is passed through.
            for step in 0..=16 {
                let x = pair[0].0 + (pair[1].0 - pair[0].0) * step / 16;
                let y = pair[0].1 + (pair[1].1 - pair[0].1) * step / 16;
                for (n, b) in laid.boxes.iter().enumerate() {
                    let within = b.x < x && x < b.right() && b.y < y && y < b.bottom();
                    assert!(
                        !within || n == edge.from || n == edge.to,
                        "edge {e} passes through box {n}"
                    );
                }
            }
        }
    }
}

fn overlap(a: &Rect, b: &Rect) -> bool {
    a.x < b.right() && b.x < a.right() && a.y < b.bottom() && b.y < a.bottom()
}

fn inside(a: &Rect, page: &Rect) -> bool {
    a.x >= page.x && a.y >= page.y && a.right() <= page.right() && a.bottom() <= page.bottom()
}

#[test]
fn a_chain_is_one_column_per_processor() {
    let graph = chain(4);
    let laid = layout(&graph);
    assert_eq!(laid.columns, vec![0, 1, 2, 3]);
    // All on one level, so every connection is a straight line.
    assert!(laid.boxes.iter().all(|b| b.y == laid.boxes[0].y));
    check(&graph, &laid);
}

#[test]
fn branches_meet_in_the_column_after_the_longest() {
    let graph = fan_in_out();
    let laid = layout(&graph);
    assert_eq!(laid.columns, vec![0, 1, 1, 2]);
    check(&graph, &laid);
    // The connection that skips a column bends through it beside the boxes.
    assert!(
        laid.routes[4].points.len() > 4,
        "{:?}",
        laid.routes[4].points
    );
}

#[test]
fn barycentres_uncross_connections() {
    // a -> d and b -> c, with c written before d: drawn in pipeline order
    // the two would cross.
    let graph = Graph {
        title: "pipeline x".into(),
        pipeline: "x".into(),
        nodes: vec![
            node("a", "t", "rust"),
            node("b", "t", "rust"),
            node("c", "t", "rust"),
            node("d", "t", "rust"),
        ],
        edges: vec![edge(0, 3), edge(1, 2)],
    };
    let laid = layout(&graph);
    check(&graph, &laid);
    let above = |i: usize, j: usize| laid.boxes[i].y < laid.boxes[j].y;
    assert_eq!(above(0, 1), above(3, 2), "{:?}", laid.boxes);
}

#[test]
fn the_png_shows_every_language_colour_and_black_text() {
    let graph = fan_in_out();
    let file = crate::graph::png::render(&graph, &layout(&graph)).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(file));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let laid = layout(&graph);
    assert_eq!(
        (info.width, info.height),
        (laid.width as u32 * 2, laid.height as u32 * 2)
    );
    let has = |rgb: [u8; 3]| pixels.chunks(3).any(|p| p == rgb);
    for language in ["rust", "python", "deno"] {
        assert!(has(palette(language).fill), "no {language} fill");
        assert!(has(palette(language).stroke), "no {language} outline");
    }
    assert!(has([0, 0, 0]), "no text");
}

/// Pipelines of up to 10 processors, each connection from an earlier
/// processor to a later one, as a plan's acyclic connections can always be
/// numbered.
fn pipelines() -> impl Strategy<Value = Graph> {
    (1usize..10)
        .prop_flat_map(|n| {
            let pairs: Vec<(usize, usize)> = (0..n)
                .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
                .collect();
            let count = pairs.len();
            (
                Just(n),
                Just(pairs),
                proptest::collection::vec(any::<bool>(), count),
            )
        })
        .prop_map(|(n, pairs, chosen)| Graph {
            title: "pipeline random".into(),
            pipeline: "random".into(),
            nodes: (0..n)
                .map(|i| node(&format!("p{i}"), &"x".repeat(i % 4 * 5 + 1), "python"))
                .collect(),
            edges: pairs
                .into_iter()
                .zip(chosen)
                .filter(|(_, keep)| *keep)
                .map(|((a, b), _)| edge(a, b))
                .collect(),
        })
}

proptest! {
    #[test]
    fn any_pipeline_is_laid_out_without_overlap_and_left_to_right(graph in pipelines()) {
        check(&graph, &layout(&graph));
    }
}
