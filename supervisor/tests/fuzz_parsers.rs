//! Fuzzing of the two files users write by hand, the package manifest and
//! the pipeline. Three kinds of input: arbitrary text; YAML-ish noise; and
//! valid documents with a few mutations (a field dropped, duplicated, given
//! a wrong value or a value of the wrong type, a stray key), which get past
//! the YAML parser and exercise each later check. Every input must end in
//! `Ok` or a `UserError`, never a panic; a pipeline goes through every check
//! `plexus validate` makes.
//!
//! Case counts are bounded so `cargo test` stays fast, and the seed is fixed
//! so CI is repeatable; explore further with e.g.
//! `PROPTEST_CASES=100000 PROPTEST_RNG_SEED=$RANDOM cargo test -p supervisor --test fuzz_parsers`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngSeed, TestRunner};
use serde_json::{json, Value};
use supervisor::load::catalog::Catalog;
use supervisor::load::pipeline::Pipeline;
use supervisor::load::plan::plan;
use supervisor::package::manifest;
use supervisor::yaml::{self, MAX_DEPTH};

fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x706c_6578_7573);
    }
    config.failure_persistence = None;
    config
}

// ---- values a mutation puts in place of a good one ----

/// Strings that are wrong somewhere: bad names, versions, ranges, entries,
/// schemas, ports, connections.
const BAD_STRINGS: &[&str] = &[
    "",
    " ",
    "Acme",
    "acme..fx",
    "acme.2fx",
    "../x",
    "a/b",
    "a b",
    "ünï",
    "1.0",
    "1",
    "x",
    "99999999999999999999.0.0",
    ">=99",
    "<0.0.0",
    "soon",
    "java",
    "Rust",
    "sometimes",
    "/lib/x.so",
    "../x.so",
    "a//b.so",
    "m:",
    ":C",
    "a..b:C",
    "x.ts#",
    "#X",
    "x.ts#1",
    "../x.ts#X",
    "é:Ü",
    "video/rgb",
    "video/*",
    "any",
    "in",
    "out",
    "camera.out",
    "camera.out -> camera.in",
    "mid.out -> nowhere.in",
    "->",
    "camera.out => sink.in",
    "a.b.c -> d",
    "builtin.stats_sink",
    "example.grayscale",
    "unknown.type",
    "list",
    "on-failure",
    "acme.fx@1.0.0",
    "x.plexpkg",
    "/",
];

/// Any YAML value: the wrong type for most fields.
fn junk() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::num::f64::ANY.prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
        select(BAD_STRINGS).prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!([1, "two", null])),
        Just(json!({"k": {"k": [0]}})),
    ]
    .boxed()
}

/// One change to a document.
#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    /// Copies an array element or object entry next to itself (duplicate
    /// names, ports, connections).
    Duplicate,
    StrayKey(String, Value),
}

fn mutation() -> impl Strategy<Value = (Index, Mutation)> {
    let kind = prop_oneof![
        2 => Just(Mutation::Remove),
        2 => select(BAD_STRINGS).prop_map(|s| Mutation::Replace(s.into())),
        3 => junk().prop_map(Mutation::Replace),
        1 => Just(Mutation::Duplicate),
        1 => ("[a-z_]{1,8}", junk()).prop_map(|(k, v)| Mutation::StrayKey(k, v)),
    ];
    (any::<Index>(), kind)
}

/// Every node of `value`, as a path of keys and indices.
fn paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    let children: Vec<(Value, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (json!(k), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (json!(i), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        prefix.push(key);
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn apply(doc: &mut Value, at: Index, mutation: Mutation) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let path = at.get(&all).clone();
    let Some((last, parent_path)) = path.split_last() else {
        if let Mutation::Replace(v) = mutation {
            *doc = v;
        }
        return;
    };
    let mut parent = &mut *doc;
    for key in parent_path {
        parent = match key {
            Value::String(k) => &mut parent[k.as_str()],
            _ => &mut parent[key.as_u64().unwrap() as usize],
        };
    }
    match (parent, last) {
        (Value::Object(map), Value::String(key)) => match mutation {
            Mutation::Remove => {
                map.remove(key);
            }
            Mutation::Replace(v) => {
                map.insert(key.clone(), v);
            }
            Mutation::Duplicate => {
                let copy = map[key].clone();
                map.insert(format!("{key}2"), copy);
            }
            Mutation::StrayKey(k, v) => {
                map.insert(k, v);
            }
        },
        (Value::Array(items), index) => {
            let i = index.as_u64().unwrap() as usize;
            match mutation {
                Mutation::Remove => {
                    items.remove(i);
                }
                Mutation::Replace(v) => items[i] = v,
                Mutation::Duplicate => items.insert(i, items[i].clone()),
                Mutation::StrayKey(_, v) => items.push(v),
            }
        }
        _ => unreachable!("paths lead through objects and arrays"),
    }
}

/// A valid document from `valid`, with up to three mutations.
fn mutated(valid: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    (valid, prop::collection::vec(mutation(), 0..4)).prop_map(|(mut doc, mutations)| {
        for (at, m) in mutations {
            apply(&mut doc, at, m);
        }
        doc
    })
}

/// YAML text for `value`, now and then cut short or with a character
/// spliced in, so the parser also sees broken syntax.
fn yaml_text(value: impl Strategy<Value = Value>) -> impl Strategy<Value = String> {
    let damage = prop_oneof![
        6 => Just(None),
        1 => (any::<Index>(), any::<Option<char>>()).prop_map(Some),
    ];
    (value, damage).prop_map(|(value, damage)| {
        let text = serde_yaml_ng::to_string(&value).expect("a JSON value is valid YAML");
        let Some((at, ch)) = damage else {
            return text;
        };
        let cut = at.index(text.chars().count() + 1);
        let mut out: String = text.chars().take(cut).collect();
        if let Some(ch) = ch {
            out.push(ch);
            out.extend(text.chars().skip(cut));
        }
        out
    })
}

/// Text a user might type: YAML punctuation, keywords and noise.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        select(vec![
            ":",
            " ",
            "\n",
            "  ",
            "- ",
            "{",
            "}",
            "[",
            "]",
            ",",
            "\"",
            "'",
            "&a",
            "*a",
            "!!str",
            "<<: ",
            "#",
            "|",
            ">",
            "~",
            "null",
            "1e999",
            "-1",
            "0x",
            ".nan",
            "package",
            "name",
            "processors",
            "connections",
            "type",
            "->",
            ".",
            "config",
            "version",
            "language",
        ])
        .prop_map(str::to_string),
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..60).prop_map(|p| p.concat()),
        any::<String>(),
    ]
}

// ---- valid manifests ----

fn port_list(min: usize, schemas: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec(select(schemas), min..3).prop_map(|schemas| {
        let ports: Vec<Value> = schemas
            .iter()
            .enumerate()
            .map(|(i, schema)| json!({ "name": format!("port{i}"), "schema": schema }))
            .collect();
        Value::from(ports)
    })
}

fn config_schema() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        (0i64..10, 10i64..20).prop_map(|(min, max)| {
            json!({ "type": "integer", "default": min, "min": min, "max": max })
        }),
        Just(json!({ "type": "number", "min": -1.5, "description": "a gain" })),
        Just(json!({ "type": "string", "enum": ["fast", "slow"], "default": "fast" })),
        Just(json!({ "type": "string", "required": true })),
        Just(json!({ "type": "boolean", "default": true })),
    ];
    prop::collection::btree_map(select(vec!["radius", "mode", "gain", "label"]), field, 0..3)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn valid_processor() -> impl Strategy<Value = Value> {
    let inputs = port_list(
        0,
        &["video/rgba8", "video/gray8", "bytes", "video/*", "any"],
    );
    let outputs = port_list(0, &["video/rgba8", "video/gray8", "bytes"]);
    (
        0..3usize,
        select(vec!["reactive", "continuous", "manual"]),
        inputs,
        outputs,
        config_schema(),
    )
        .prop_map(|(language, mode, inputs, outputs, config)| {
            let (language, entry) = [
                ("rust", "lib/libfx.so"),
                ("python", "fx.effects:Fx"),
                ("deno", "src/fx.ts#Fx"),
            ][language];
            let inputs = match (mode, inputs.as_array().map(Vec::len)) {
                ("reactive", Some(0)) => json!([{ "name": "in", "schema": "any" }]),
                // A manual processor produces on its own: no inputs.
                ("manual", _) => json!([]),
                _ => inputs,
            };
            let mut p = json!({
                "language": language, "entry": entry, "mode": mode,
                "inputs": inputs, "outputs": outputs, "config": config,
            });
            if mode == "continuous" {
                p["interval_ms"] = json!(10);
            }
            p
        })
}

fn valid_manifest() -> impl Strategy<Value = Value> {
    (
        select(vec!["acme.fx", "acme", "acme.fx_2-b.x9"]),
        select(vec!["1.0.0", "0.1.0-alpha.1+build.5", "12.3.4"]),
        select(vec![
            None,
            Some(">=0.1"),
            Some("*"),
            Some("^0"),
            Some(">=0.1, <1"),
        ]),
        prop::collection::vec(valid_processor(), 1..4),
    )
        .prop_map(|(name, version, plexus, processors)| {
            let processors: Vec<Value> = processors
                .into_iter()
                .enumerate()
                .map(|(i, mut p)| {
                    p["name"] = json!(format!("{name}.p{i}"));
                    p
                })
                .collect();
            let mut package = json!({ "name": name, "version": version });
            if let Some(range) = plexus {
                package["plexus"] = json!(range);
            }
            json!({ "package": package, "processors": processors })
        })
}

// ---- valid pipelines ----

fn examples_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/packages");
        let dir = dir.canonicalize().expect("the examples exist");
        dir.to_string_lossy().into_owned()
    })
}

/// Test pattern → a chain of shipped effects → a sink, with the packages
/// that declare the effects.
fn valid_pipeline() -> impl Strategy<Value = Value> {
    let effects = prop::collection::vec(
        select(vec![
            ("example.invert", "effects-python"),
            ("example.frame_counter_bar", "overlay-deno"),
        ]),
        0..3,
    );
    let sink = select(vec![
        json!({ "type": "builtin.stats_sink" }),
        json!({ "type": "builtin.png_sink", "config": { "dir": "out", "every": 10 } }),
    ]);
    let restart = prop::option::of(select(vec!["never", "on-failure", "always"]));
    (1u32..2000, 1u32..1000, effects, sink, restart).prop_map(
        |(width, fps, effects, sink, restart)| {
            let mut processors = serde_json::Map::new();
            processors.insert(
                "camera".into(),
                json!({ "type": "builtin.test_pattern", "config": { "width": width, "height": 2, "fps": fps } }),
            );
            let mut connections = Vec::new();
            let mut packages = Vec::new();
            let mut last = "camera".to_string();
            for (i, (type_name, package)) in effects.into_iter().enumerate() {
                let id = format!("fx{i}");
                let mut entry = json!({ "type": type_name });
                if let Some(policy) = restart {
                    entry["restart"] = json!({ "policy": policy, "max_restarts": 3 });
                }
                processors.insert(id.clone(), entry);
                connections.push(json!(format!("{last}.out -> {id}.in")));
                let dir = format!("{}/{package}", examples_dir());
                if !packages.contains(&json!(dir)) {
                    packages.push(json!(dir));
                }
                last = id;
            }
            processors.insert("sink".into(), sink);
            connections.push(json!(format!("{last}.out -> sink.in")));
            json!({ "name": "fuzz", "packages": packages, "processors": processors, "connections": connections })
        },
    )
}

// ---- running the parsers ----

/// How far a pipeline got through the checks `plexus validate` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    Parser,
    Catalog,
    Planner,
    Valid,
}

/// Parses and checks a pipeline as `plexus validate` does; only a panic
/// fails a case.
fn validate(text: &str) -> Reached {
    // Relative package paths resolve next to a pipeline in an empty
    // directory, and installed-package lookups read an empty store.
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("PLEXUS_DATA_DIR", dir.path().join("data"));
        dir
    });
    let path = dir.path().join("pipeline.yaml");
    let Ok(pipeline) = Pipeline::parse(&path, text) else {
        return Reached::Parser;
    };
    let Ok(catalog) = Catalog::for_pipeline(&pipeline) else {
        return Reached::Catalog;
    };
    match plan(&pipeline, &catalog) {
        Ok(_) => Reached::Valid,
        Err(_) => Reached::Planner,
    }
}

/// Parses and checks a manifest; only a panic fails a case.
fn parse_manifest(text: &str) -> bool {
    manifest::parse(Path::new("plexus.yaml"), text).is_ok()
}

proptest! {
    #![proptest_config(config(2500))]

    #[test]
    fn manifests_from_noise(text in yamlish()) {
        parse_manifest(&text);
    }

    #[test]
    fn mutated_manifests(text in yaml_text(mutated(valid_manifest()))) {
        parse_manifest(&text);
    }

    #[test]
    fn pipelines_from_noise(text in yamlish()) {
        validate(&text);
    }

    #[test]
    fn mutated_pipelines(text in yaml_text(mutated(valid_pipeline()))) {
        validate(&text);
    }
}

// ---- nesting ----

/// One level of a nested document.
#[derive(Debug, Clone, Copy)]
enum Level {
    Map,
    Seq,
    FlowSeq,
    FlowMap,
}

/// Nested levels, block ones first: a flow collection holds flow only.
fn levels(max: usize) -> impl Strategy<Value = Vec<Level>> {
    let block = prop::collection::vec(select(vec![Level::Map, Level::Seq]), 0..max);
    let flow = prop::collection::vec(select(vec![Level::FlowSeq, Level::FlowMap]), 0..max);
    (block, flow).prop_map(|(mut block, flow)| {
        block.extend(flow);
        block
    })
}

/// YAML text of `levels`, one collection in the next, around a `1`.
fn nested(levels: &[Level], indent: usize) -> String {
    let pad = " ".repeat(indent);
    let flow = |levels: &[Level]| {
        let mut open = String::new();
        let mut close = String::new();
        for level in levels {
            let (o, c) = match level {
                Level::FlowSeq => ("[", "]"),
                _ => ("{k: ", "}"),
            };
            open.push_str(o);
            close.insert_str(0, c);
        }
        format!("{pad}{open}1{close}\n")
    };
    match levels.split_first() {
        Some((Level::Map, rest)) => format!("{pad}k:\n{}", nested(rest, indent + 2)),
        Some((Level::Seq, rest)) => format!("{pad}-\n{}", nested(rest, indent + 2)),
        _ => flow(levels),
    }
}

/// Long runs of the characters that open levels, with the ones that
/// quote, comment or break a line between them.
fn bracket_noise() -> impl Strategy<Value = String> {
    let piece = select(vec![
        "[", "[", "[", "{", "{a: ", "- ", "? ", "\n", "  ", "\"", "'", "#", ",", "]", "|\n", "&a ",
        "!t ", "---\n", "x",
    ]);
    prop::collection::vec(piece, 100_000..300_000).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(config(64))]

    /// The depth scan never lets a document deeper than the limit reach the
    /// parser, and passes real nesting well below it.
    #[test]
    fn nesting_is_bounded_exactly_enough(levels in levels(MAX_DEPTH)) {
        let text = nested(&levels, 0);
        let parsed = yaml::parse::<Value>(Path::new("p.yaml"), &text);
        if levels.len() >= MAX_DEPTH {
            let err = parsed.unwrap_err().to_string();
            prop_assert!(err.contains("nesting is deeper than"), "{err}\n{text}");
        } else if levels.len() <= MAX_DEPTH - 2 {
            prop_assert!(parsed.is_ok(), "{}\n{text}", parsed.unwrap_err());
        }
    }
}

proptest! {
    #![proptest_config(config(8))]

    /// Whatever the brackets, a file is answered promptly: the parser never
    /// gets nesting deep enough to be slow.
    #[test]
    fn bracket_noise_is_answered_promptly(text in bracket_noise()) {
        let started = std::time::Instant::now();
        let _ = yaml::parse::<Value>(Path::new("p.yaml"), &text);
        prop_assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }
}

fn draw<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, runner: &mut TestRunner) -> T {
    strategy.new_tree(runner).unwrap().current()
}

/// The generators reach deep: unmutated documents pass every check, and
/// mutated ones are refused at every stage, the planner's included.
#[test]
fn the_generators_reach_every_check() {
    let mut runner = TestRunner::new(config(0));
    for _ in 0..200 {
        let value = draw(valid_manifest(), &mut runner);
        let text = serde_yaml_ng::to_string(&value).unwrap();
        let parsed = manifest::parse(Path::new("plexus.yaml"), &text);
        assert!(parsed.is_ok(), "{text}\n{}", parsed.unwrap_err());
        let value = draw(valid_pipeline(), &mut runner);
        let text = serde_yaml_ng::to_string(&value).unwrap();
        assert_eq!(validate(&text), Reached::Valid, "{text}");
    }
    let mut reached = BTreeMap::new();
    for _ in 0..1000 {
        let text = draw(yaml_text(mutated(valid_pipeline())), &mut runner);
        *reached.entry(validate(&text)).or_insert(0) += 1;
    }
    let stages = [
        Reached::Parser,
        Reached::Catalog,
        Reached::Planner,
        Reached::Valid,
    ];
    for stage in stages {
        assert!(reached.get(&stage) >= Some(&10), "{reached:?}");
    }
}
