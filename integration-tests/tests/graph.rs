//! `plexus graph` with the real binary (docs/ARCHITECTURE.md §8): the mixed
//! example drawn as SVG, PNG, DOT and Mermaid, each read back as its tool
//! would, a running runtime drawn with its rates, the README's picture
//! kept current, and the mistakes a user can make told in one sentence.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{
    assert_matches_schema, mixed_processor_ids, plexus, spawn_plexus, workspace, write_pipeline,
};
use serde_json::Value;

const CONNECTIONS: [(&str, &str); 6] = [
    ("camera", "capture_stats"),
    ("camera", "sepia"),
    ("sepia", "invert"),
    ("invert", "bar"),
    ("bar", "stats"),
    ("bar", "png"),
];

/// The languages' fills, as `supervisor/src/graph/model.rs` paints them.
const FILLS: [(&str, [u8; 3]); 3] = [
    ("rust", [0xf6, 0xd2, 0xb8]),
    ("python", [0xcf, 0xe0, 0xf5]),
    ("deno", [0xcf, 0xf0, 0xd8]),
];

fn mixed() -> PathBuf {
    workspace().join("examples/mixed/pipeline.yaml")
}

/// Runs `plexus graph ARGS` in `dir` and returns what it printed.
fn graph(args: &[&str], dir: &Path) -> String {
    let run = plexus(&[&["graph"], args].concat(), dir);
    assert_eq!(run.code, Some(0), "plexus graph {args:?}: {}", run.stderr);
    run.stdout
}

#[test]
fn the_mixed_example_as_svg_has_every_processor_and_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mixed.svg");
    let said = graph(
        &[mixed().to_str().unwrap(), "-o", out.to_str().unwrap()],
        tmp.path(),
    );
    assert!(said.contains("7 processors, 6 connections"), "{said}");
    let text = std::fs::read_to_string(&out).unwrap();
    let svg = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    let root = svg.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<&str> = svg
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    for id in mixed_processor_ids() {
        assert!(texts.contains(&id), "no text `{id}` in {texts:?}");
    }
    for language in ["rust", "python", "deno (TypeScript)"] {
        assert!(texts.contains(&language), "no legend entry {language}");
    }
    let edges: BTreeSet<(&str, &str)> = svg
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge"))
        .map(|n| {
            (
                n.attribute("data-from").unwrap(),
                n.attribute("data-to").unwrap(),
            )
        })
        .collect();
    assert_eq!(edges, CONNECTIONS.into_iter().collect());
    assert_eq!(texts.iter().filter(|t| **t == "video/rgba8").count(), 6);
}

#[test]
fn the_readme_shows_the_graph_plexus_draws_now() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mixed.svg");
    graph(
        &[mixed().to_str().unwrap(), "-o", out.to_str().unwrap()],
        tmp.path(),
    );
    let shown = workspace().join("docs/mixed-graph.svg");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&shown).unwrap(),
        "docs/mixed-graph.svg is out of date: `plexus graph examples/mixed/pipeline.yaml -o docs/mixed-graph.svg` makes it anew"
    );
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(readme.contains("](docs/mixed-graph.svg)"));
}

#[test]
fn the_mixed_example_as_png_shows_every_language() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mixed.png");
    graph(
        &[mixed().to_str().unwrap(), "-o", out.to_str().unwrap()],
        tmp.path(),
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&out).unwrap()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).expect("its pixels");
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    // Seven boxes in five columns with readable (16-pixel) text.
    assert!(
        (1500..8000).contains(&frame.width) && (300..3000).contains(&frame.height),
        "{}×{}",
        frame.width,
        frame.height
    );
    let count = |rgb: [u8; 3]| pixels.chunks(3).filter(|p| *p == rgb).count();
    for (language, fill) in FILLS {
        assert!(count(fill) > 1000, "hardly any {language} colour");
    }
    assert!(count([0, 0, 0]) > 1000, "hardly any text");
}

#[test]
fn the_mixed_example_as_dot_is_accepted_by_graphviz() {
    let tmp = tempfile::tempdir().unwrap();
    let dot = graph(&[mixed().to_str().unwrap()], tmp.path());
    assert!(dot.starts_with("digraph "), "{dot}");
    for (from, to) in CONNECTIONS {
        assert!(dot.contains(&format!("\"{from}\" -> \"{to}\"")), "{dot}");
    }
    // The same as a file, by its extension.
    let file = tmp.path().join("mixed.dot");
    graph(
        &[mixed().to_str().unwrap(), "-o", file.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), dot);
    let svg = tmp.path().join("by-graphviz.svg");
    match Command::new("dot")
        .arg("-Tsvg")
        .arg(&file)
        .arg("-o")
        .arg(&svg)
        .output()
    {
        Err(_) => println!("note: Graphviz's `dot` is not on PATH; the DOT was not rendered"),
        Ok(done) => {
            assert!(
                done.status.success() && done.stderr.is_empty(),
                "dot -Tsvg refused it: {}",
                String::from_utf8_lossy(&done.stderr)
            );
            let drawn = std::fs::read_to_string(&svg).unwrap();
            for id in mixed_processor_ids() {
                assert!(drawn.contains(&format!(">{id}</text>")), "dot drew no {id}");
            }
        }
    }
}

#[test]
fn the_mixed_example_as_mermaid_has_every_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let text = graph(
        &[mixed().to_str().unwrap(), "--format", "mermaid"],
        tmp.path(),
    );
    assert!(text.starts_with("flowchart LR\n"), "{text}");
    // Nodes are `pN["id<br/>type"]`; connections `pA -->|"label"| pB`.
    let node_of = |id: &str| {
        text.lines()
            .find_map(|l| {
                let (name, label) = l.trim().split_once("[\"")?;
                label
                    .starts_with(&format!("{id}<br/>"))
                    .then(|| name.to_string())
            })
            .unwrap_or_else(|| panic!("no node for {id} in\n{text}"))
    };
    for (from, to) in CONNECTIONS {
        let line = format!("{} -->|\"video/rgba8\"| {}", node_of(from), node_of(to));
        assert!(
            text.lines().any(|l| l.trim() == line),
            "no `{line}` in\n{text}"
        );
    }
    assert_eq!(text.matches(" -->|").count(), CONNECTIONS.len());
}

#[test]
fn the_mixed_example_as_json_has_every_box_and_path() {
    let tmp = tempfile::tempdir().unwrap();
    let text = graph(&[mixed().to_str().unwrap(), "--format", "json"], tmp.path());
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_matches_schema("graph", &json);
    assert_eq!(json["pipeline"], "mixed-demo");
    let nodes = json["nodes"].as_array().unwrap();
    let ids: Vec<&str> = nodes
        .iter()
        .map(|n| n["processor"].as_str().unwrap())
        .collect();
    assert_eq!(ids, mixed_processor_ids());
    let (width, height) = (
        json["width"].as_i64().unwrap(),
        json["height"].as_i64().unwrap(),
    );
    for node in nodes {
        let x = node["x"].as_i64().unwrap();
        let y = node["y"].as_i64().unwrap();
        assert!(
            x >= 0 && x + node["width"].as_i64().unwrap() <= width,
            "{node}"
        );
        assert!(
            y >= 0 && y + node["height"].as_i64().unwrap() <= height,
            "{node}"
        );
    }
    let edges: BTreeSet<(&str, &str)> = json["edges"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|e| {
            // A file has no figures.
            assert_eq!(
                (&e["fps"], &e["dropped"]),
                (&Value::Null, &Value::from(0)),
                "{e}"
            );
        })
        .map(|e| (e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(edges, CONNECTIONS.into_iter().collect());
    // The same written to a file named .json.
    let out = tmp.path().join("graph.json");
    graph(
        &[mixed().to_str().unwrap(), "-o", out.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

#[test]
fn mistakes_are_one_sentence_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let mixed = mixed();
    let mixed = mixed.to_str().unwrap();
    let refused = |args: &[&str]| plexus(&[&["graph"], args].concat(), tmp.path());

    let run = refused(&[mixed, "-o", "graph.jpg"]);
    assert!(
        run.refusal()
            .contains("cannot tell what to write to `graph.jpg`"),
        "{}",
        run.stderr
    );
    assert!(!tmp.path().join("graph.jpg").exists());

    let run = refused(&["no-such.yaml"]);
    assert!(run.refusal().contains("no-such.yaml"), "{}", run.stderr);

    let run = refused(&["--runtime", "0badcafe"]);
    assert!(
        run.refusal()
            .contains("no plexus runtime `0badcafe` is running"),
        "{}",
        run.stderr
    );

    // clap's own refusals: both sources, or neither.
    assert_eq!(refused(&[mixed, "--runtime", "0badcafe"]).code, Some(2));
    assert_eq!(refused(&[]).code, Some(2));
    for run in [
        refused(&[mixed, "-o", "graph.jpg"]),
        refused(&["no-such.yaml"]),
    ] {
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

/// A camera feeding two sinks, builtins only, so nothing is built or installed.
const LIVE: &str = "\
name: live-graph
processors:
  cam: { type: builtin.test_pattern, config: { width: 64, height: 48, fps: 30 } }
  first: { type: builtin.stats_sink }
  second: { type: builtin.stats_sink }
connections: [cam.out -> first.in, cam.out -> second.in]
";

#[test]
fn a_running_runtime_is_drawn_with_its_rates() {
    let (tmp, path) = write_pipeline(LIVE);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap()], tmp.path());
    let id = running.runtime_id();
    for processor in ["cam", "first", "second"] {
        running.wait_for(
            &format!("processor {processor} started"),
            Duration::from_secs(60),
        );
    }
    let out = tmp.path().join("live.svg");
    // Rates come with the first stats, a second after the start.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rates = loop {
        graph(&["--runtime", &id, "-o", out.to_str().unwrap()], tmp.path());
        let text = std::fs::read_to_string(&out).unwrap();
        let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
        let rates: Vec<f64> = svg
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            // Live, a frame on its way counts as dropped for an instant
            // (docs/ARCHITECTURE.md §8), so only the rate is read.
            .filter_map(|n| {
                let (fps, dropped) = n.text()?.split_once(" fps, ")?;
                dropped.strip_suffix(" dropped")?.parse::<u64>().ok()?;
                fps.parse().ok()
            })
            .collect();
        assert!(text.contains(&format!("runtime {id}")), "{text}");
        assert_eq!(rates.len(), 2, "one rate per connection:\n{text}");
        if rates.iter().all(|r| *r > 0.0) || Instant::now() > deadline {
            break rates;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(rates.iter().all(|r| (10.0..60.0).contains(r)), "{rates:?}");
    // DOT of a live runtime carries the rates too.
    let dot = graph(&["--runtime", &id], tmp.path());
    assert!(
        dot.contains("\"cam\" -> \"first\" [label=\"video/rgba8\\n"),
        "{dot}"
    );
    assert!(
        dot.contains(" fps, ") && dot.contains(" dropped\"]"),
        "{dot}"
    );
    // JSON of a live runtime: each connection with its input's figures.
    let json: Value =
        serde_json::from_str(&graph(&["--runtime", &id, "--format", "json"], tmp.path())).unwrap();
    assert_matches_schema("graph", &json);
    assert_eq!(json["pipeline"], "live-graph");
    for edge in json["edges"].as_array().unwrap() {
        assert_eq!(edge["from"], "cam", "{edge}");
        assert!(edge["fps"].as_f64().unwrap() > 0.0, "{edge}");
        assert!(edge["latency_us"]["p99"].is_u64(), "{edge}");
    }

    let stop = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = running.finish().checked();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
