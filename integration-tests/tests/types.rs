//! `plexus types` and `plexus describe TYPE`: the processor types a user can
//! put in a pipeline, found without reading a manifest. The store is a
//! private, empty one, so only the builtins and the packages a pipeline
//! lists are there.

use integration_tests::process::spawn_plexus_with;
use integration_tests::{example_in, PlexusRun};
use serde_json::Value;

/// `plexus ARGS` with an empty package store of its own.
fn plexus(tmp: &std::path::Path, args: &[&str]) -> PlexusRun {
    let data = tmp.join("data");
    spawn_plexus_with(args, tmp, &[("PLEXUS_DATA_DIR", data.as_path())]).finish()
}

fn json(tmp: &std::path::Path, args: &[&str]) -> Value {
    let run = plexus(tmp, args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.json()
}

#[test]
fn types_lists_the_builtins_and_a_pipelines_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let builtins = json(tmp.path(), &["types", "--json"]);
    integration_tests::assert_matches_schema("types", &builtins);
    let names: Vec<(&str, &str)> = builtins["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["package"].as_str().unwrap()))
        .collect();
    for builtin in [
        "builtin.test_pattern",
        "builtin.v4l2_camera",
        "builtin.replay",
        "builtin.stats_sink",
        "builtin.png_sink",
    ] {
        assert!(
            names.contains(&(builtin, "builtin")),
            "{builtin}: {names:?}"
        );
    }

    let pipeline = example_in(tmp.path(), "mixed");
    let all = json(
        tmp.path(),
        &["types", "--pipeline", pipeline.to_str().unwrap(), "--json"],
    );
    let language = |name: &str| {
        all["types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["language"].as_str().unwrap().to_string())
    };
    assert_eq!(language("example.sepia").as_deref(), Some("rust"));
    assert_eq!(language("example.invert").as_deref(), Some("python"));
    assert_eq!(
        language("example.frame_counter_bar").as_deref(),
        Some("deno")
    );

    let table = plexus(tmp.path(), &["types"]);
    let header = table.stdout.lines().next().unwrap();
    assert!(header.starts_with("TYPE"), "{}", table.stdout);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("builtin.png_sink") && l.contains("in:video/*")),
        "{}",
        table.stdout
    );
}

#[test]
fn describe_shows_ports_and_every_config_key() {
    let tmp = tempfile::tempdir().unwrap();
    let camera = json(tmp.path(), &["describe", "builtin.v4l2_camera", "--json"]);
    integration_tests::assert_matches_schema("processor-type", &camera);
    assert_eq!(camera["package"], "builtin");
    assert_eq!(camera["mode"], "manual");
    assert_eq!(camera["outputs"][0]["schema"], "video/rgba8");
    let config = camera["config"].as_object().unwrap();
    let keys: Vec<&String> = config.keys().collect();
    assert_eq!(keys, ["device", "format", "fps", "height", "width"]);
    assert_eq!(config["format"]["default"], "auto");
    assert_eq!(config["fps"]["max"], 1000.0);

    let text = plexus(tmp.path(), &["describe", "builtin.replay"]);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout
            .starts_with("from builtin: processor builtin.replay: rust"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("config speed: number default 1.0, min 0.0, max 100.0"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("a recording made by plexus record"),
        "{}",
        text.stdout
    );

    let unknown = plexus(tmp.path(), &["describe", "builtin.nope"]);
    assert_eq!(
        unknown.refusal(),
        "plexus: error: no processor type `builtin.nope` in the builtins and the installed packages; `plexus types` lists them"
    );
}
