//! The life of a package written by a user, in each language: `plexus new`
//! → build → its generated pipeline runs → `pack` → `pkg install` → a
//! pipeline naming the installed package runs 100 frames, none lost, each
//! frame processed as the template says → `pkg remove` → the pipeline is
//! refused with "not installed".

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::expect::{brightened, pattern_rgba, read_png};
use integration_tests::store::{path_arg, Scratch};
use integration_tests::{assert_no_residue, bin_dir, pipeline_text, spawn_plexus_with, PlexusRun};

/// Where generated Rust packages build: one directory kept across runs, so
/// only the first run compiles the SDK's dependencies.
fn cargo_target() -> PathBuf {
    bin_dir()
        .parent()
        .expect("target/<profile>")
        .join("package-roundtrip")
}

/// `plexus args` in the scratch directory, with its private store and the
/// Cargo target directory generated Rust packages build into.
fn plexus(s: &Scratch, args: &[&str]) -> PlexusRun {
    let data = s.data();
    let target = cargo_target();
    let env = [
        ("PLEXUS_DATA_DIR", data.as_path()),
        ("CARGO_TARGET_DIR", &target),
    ];
    spawn_plexus_with(args, s.path(), &env).finish()
}

fn ok(s: &Scratch, args: &[&str]) -> String {
    let run = plexus(s, args);
    assert_eq!(run.code, Some(0), "plexus {args:?} failed:\n{}", run.stderr);
    run.stdout
}

/// Runs a pipeline for 100 frames and checks that every processor saw every
/// frame; returns the summary.
fn run_100(s: &Scratch, pipeline: &Path) -> serde_json::Value {
    let run = plexus(s, &["run", path_arg(pipeline), "--frames", "100", "--json"]);
    assert_no_residue(&run.runtime_id().expect("the run started"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed");
    for (id, p) in summary["processors"].as_object().unwrap() {
        if id != "camera" {
            assert_eq!(p["frames_in"], 100, "{id}: {summary}");
        }
        assert_eq!(p["dropped"], 0, "{id}: {summary}");
        assert_eq!(p["gaps"], 0, "{id}: {summary}");
        assert_eq!(p["errors"], 0, "{id}: {summary}");
    }
    summary
}

fn cargo_build(package: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Offline: the package must build from what its lock file pins and
    // cargo already has, as the workspace's own build fetched it.
    let status = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(package)
        .env("CARGO_TARGET_DIR", cargo_target())
        .status()
        .expect("running cargo");
    assert!(
        status.success(),
        "cargo build of the generated package failed"
    );
}

fn round_trip(lang: &str, name: &str) {
    let s = Scratch::new();
    std::fs::create_dir(s.path().join("src")).unwrap();
    let created = ok(&s, &["new", "--lang", lang, name, "--dir", "src"]);
    let package = s.path().join("src").join(name);
    assert!(created.contains(&format!("in src/{name}")), "{created}");

    // As generated: build (Rust), then its own pipeline runs.
    if lang == "rust" {
        cargo_build(&package);
    }
    let summary = run_100(&s, &package.join("pipeline.yaml"));
    assert_eq!(summary["processors"]["effect"]["type"], name);

    ok(&s, &["pack", path_arg(&package)]);
    let archive = format!("{name}-0.1.0.plexpkg");
    ok(&s, &["pkg", "install", &archive]);
    // What runs from now on is the installed copy alone.
    std::fs::remove_dir_all(&package).unwrap();
    std::fs::remove_file(s.path().join(&archive)).unwrap();

    let pipeline = s.path().join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        pipeline_text("roundtrip.yaml", &[("name", name)]),
    )
    .unwrap();
    run_100(&s, &pipeline);
    let image = read_png(&s.path().join("png/png-000050.png"));
    assert_eq!((image.width, image.height), (64, 48));
    for y in 0..image.height {
        for x in 0..image.width {
            let i = ((y * image.width + x) * 4) as usize;
            let expected = brightened(pattern_rgba(50, x, y), 100);
            assert_eq!(image.pixels[i..i + 4], expected, "pixel ({x}, {y})");
        }
    }

    ok(&s, &["pkg", "remove", name]);
    let run = plexus(&s, &["run", path_arg(&pipeline), "--frames", "100"]);
    let line = run.refusal();
    assert!(
        line.contains(&format!("package `{name}` is not installed")),
        "{line}"
    );
}

/// `plexus new --source` in `lang`: the generated source (mode manual, its
/// own thread or timer) runs its generated pipeline as it is, `--frames`
/// ends it, and its sink sees every frame in order.
fn source_runs_as_generated(lang: &str, name: &str) {
    let s = Scratch::new();
    ok(&s, &["new", "--lang", lang, "--source", name]);
    let package = s.path().join(name);
    if lang == "rust" {
        cargo_build(&package);
    }
    let summary = run_100(&s, &package.join("pipeline.yaml"));
    assert_eq!(summary["processors"]["camera"]["type"], name);
    assert_eq!(summary["processors"]["camera"]["frames_out"], 100);
}

#[test]
fn rust_source_runs_as_generated() {
    source_runs_as_generated("rust", "acme.rust-camera");
}

#[test]
fn python_source_runs_as_generated() {
    source_runs_as_generated("python", "acme.py-camera");
}

#[test]
fn deno_source_runs_as_generated() {
    source_runs_as_generated("deno", "acme.ts-camera");
}

#[test]
fn rust_package_round_trip() {
    round_trip("rust", "acme.brighten-rs");
}

#[test]
fn python_package_round_trip() {
    round_trip("python", "acme.brighten-py");
}

#[test]
fn deno_package_round_trip() {
    round_trip("deno", "acme.brighten-ts");
}

/// Mistakes with `new` and `schemas` get one sentence and exit 2; `new`
/// leaves an existing directory as it was.
#[test]
fn new_and_schemas_refuse_mistakes_in_one_sentence() {
    let s = Scratch::new();
    let existing = s.path().join("acme.fx");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("mine.txt"), "keep").unwrap();
    let before = s.snapshot();
    let cases: [(&[&str], &str); 4] = [
        (
            &["new", "--lang", "python", "acme.fx"],
            "acme.fx: already exists",
        ),
        (
            &["new", "--lang", "deno", "Acme FX"],
            "`Acme FX` is not a package name",
        ),
        (
            &["new", "--lang", "rust", "self"],
            "`self` is reserved in Rust",
        ),
        (
            &["schemas", "describe", "video/rgb"],
            "unknown schema `video/rgb`; the known schemas are video/rgba8, video/gray8, bytes",
        ),
    ];
    for (args, expected) in cases {
        let run = plexus(&s, args);
        assert!(run.refusal().contains(expected), "{args:?}: {}", run.stderr);
    }
    assert_eq!(s.snapshot(), before, "a refused `new` wrote nothing");

    let list: serde_json::Value =
        serde_json::from_str(&ok(&s, &["schemas", "list", "--json"])).unwrap();
    integration_tests::assert_matches_schema("schemas", &list);
    let ids: Vec<&str> = list["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "video/rgba8",
            "video/gray8",
            "bytes",
            "audio/f32",
            "samples/f32",
            "tensor/f32",
            "tensor/u8",
            "record"
        ]
    );
    let rgba = ok(&s, &["schemas", "describe", "video/rgba8"]);
    assert!(rgba.lines().any(|l| l.starts_with("stride ")), "{rgba}");
}
