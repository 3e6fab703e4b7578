//! Declared permissions as users meet them (docs/ARCHITECTURE.md §15): a
//! manifest's mistakes told in one sentence, a pipeline that would widen a
//! package's permissions without `allow:` refused, what a run allows
//! beyond its packages and runs unconfined said at start, and the
//! permissions shown by `describe`, `pkg inspect` and `pkg install`.

use std::path::Path;

use integration_tests::process::spawn_plexus_with;
use integration_tests::{assert_matches_schema, example_package, plexus_checked, PlexusRun};
use serde_json::{json, Value};

/// `plexus ARGS` in `tmp`, with an empty package store of its own there.
fn plexus(tmp: &Path, args: &[&str]) -> PlexusRun {
    let data = tmp.join("data");
    spawn_plexus_with(args, tmp, &[("PLEXUS_DATA_DIR", data.as_path())]).finish()
}

/// A package `acme.net` in `tmp/net` whose one source declares
/// `permissions` (YAML flow text), and a pipeline using it that says
/// `extra` about it.
fn package_and_pipeline(tmp: &Path, permissions: &str, extra: &str) -> String {
    let dir = tmp.join("net");
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(
        dir.join("plexus.yaml"),
        format!(
            "package: {{ name: acme.net, version: 1.0.0 }}\nprocessors:\n  - name: acme.net.fetch\n    language: python\n    entry: fetch:Fetch\n    mode: manual\n    outputs: [{{ name: out, schema: video/rgba8 }}]\n    config: {{ out: {{ type: string, default: results }} }}\n    permissions: {permissions}\n"
        ),
    )
    .unwrap();
    let pipeline = tmp.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!("name: p\npackages: [net]\nprocessors:\n  fetch: {{ type: acme.net.fetch{extra} }}\n  stats: {{ type: builtin.stats_sink }}\nconnections: [fetch.out -> stats.in]\n"),
    )
    .unwrap();
    pipeline.display().to_string()
}

#[test]
fn a_manifests_bad_permissions_are_one_sentence() {
    let cases = [
        (
            "{ network: { connect: [example.com] } }",
            "processor `acme.net.fetch`: permissions.network.connect `example.com` is not a host and port like example.com:443",
        ),
        (
            "{ network: { listen: [70000] } }",
            "processor `acme.net.fetch`: permissions.network.listen port 70000 is not a TCP port from 1 to 65535",
        ),
        (
            "{ write: ['{config.nope}'] }",
            "processor `acme.net.fetch`: permissions.write `{config.nope}` names config key `nope`, which the processor does not declare",
        ),
        (
            "{ read: [../../etc] }",
            "processor `acme.net.fetch`: permissions.read `../../etc` leaves the package directory with `..`",
        ),
        ("{ exec: true }", "unknown field `exec`"),
    ];
    for (permissions, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let pipeline = package_and_pipeline(tmp.path(), permissions, "");
        let run = plexus(tmp.path(), &["validate", &pipeline]);
        let line = run.refusal();
        let manifest = tmp.path().join("net/plexus.yaml");
        assert!(
            line.starts_with(&format!("plexus: error: {}: ", manifest.display()))
                && line.contains(expected),
            "{permissions}: {line}"
        );
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    }
}

#[test]
fn a_pipeline_widens_only_with_allow() {
    let tmp = tempfile::tempdir().unwrap();
    let declared = "{ read: [models], network: { connect: ['api.example.com:443'] } }";
    let narrowing = ", permissions: { read: [net/models], network: { connect: [] } }";
    let pipeline = package_and_pipeline(tmp.path(), declared, narrowing);
    let run = plexus(tmp.path(), &["validate", &pipeline]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    for widening in [
        ", permissions: { read: [/etc] }",
        ", permissions: { network: { connect: ['evil.example.com:443'] } }",
        ", permissions: { spawn: true }",
    ] {
        let pipeline = package_and_pipeline(tmp.path(), declared, widening);
        let run = plexus(tmp.path(), &["validate", &pipeline]);
        let line = run.refusal();
        assert!(
            line.contains(&format!(
                "{pipeline}: processor `fetch`: the pipeline widens `permissions."
            )) && line.contains("grants more with `allow:`"),
            "{widening}: {line}"
        );
    }
}

#[test]
fn a_run_says_what_it_allows_and_runs_unconfined() {
    let (tmp, path) = integration_tests::write_pipeline(
        "name: banner\nprocessors:\n  source: { type: builtin.test_pattern, config: { width: 64, height: 48, fps: 100 }, allow: { read: [/usr/share], network: { connect: ['example.com:443'] } } }\n  stats: { type: builtin.stats_sink, sandbox: off }\n  frames: { type: builtin.png_sink, config: { dir: out/frames, every: 1000 } }\nconnections: [source.out -> stats.in, source.out -> frames.in]\n",
    );
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", "5", "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["outcome"], "completed");
    let said = |line: &str| run.stderr.lines().any(|l| l == format!("plexus: {line}"));
    assert!(
        said("processor `source` is allowed beyond its package's permissions: read /usr/share, connect example.com:443"),
        "{}",
        run.stderr
    );
    assert!(
        said("processor `stats` runs with no sandbox (sandbox: off in the pipeline)"),
        "{}",
        run.stderr
    );
    // Only what the pipeline says is told: the sink runs in its sandbox.
    assert!(!run.stderr.contains("`frames`"), "{}", run.stderr);
    // Its write directory was made before it started.
    assert!(tmp.path().join("out/frames").is_dir());

    // `validate` makes nothing.
    std::fs::remove_dir_all(tmp.path().join("out")).unwrap();
    let valid = plexus(tmp.path(), &["validate", path.to_str().unwrap()]);
    assert_eq!(valid.code, Some(0), "{}", valid.stderr);
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn describe_and_types_show_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let run = plexus(tmp.path(), &["describe", "builtin.png_sink", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let sink = run.json();
    assert_matches_schema("processor-type", &sink);
    assert_eq!(
        sink["permissions"],
        json!({"read": [], "write": ["{config.dir}"], "devices": [], "network": {"connect": [], "listen": []}, "spawn": false})
    );
    let text = plexus(tmp.path(), &["describe", "builtin.v4l2_camera"]);
    assert!(
        text.stdout
            .contains("    permissions: devices {config.device}\n"),
        "{}",
        text.stdout
    );
    let pattern = plexus(tmp.path(), &["describe", "builtin.test_pattern"]);
    assert!(
        pattern.stdout.contains("    permissions: no permissions\n"),
        "{}",
        pattern.stdout
    );
    let types = plexus(tmp.path(), &["types", "--json"]);
    assert_eq!(types.code, Some(0), "{}", types.stderr);
    let types = types.json();
    assert_matches_schema("types", &types);
    let replay = types["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "builtin.replay")
        .unwrap();
    assert_eq!(replay["permissions"]["read"], json!(["{config.path}"]));
}

#[test]
fn pkg_inspect_and_install_show_what_a_package_asks_for() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("media.plexpkg");
    let media = example_package("media-python");
    let packed = plexus(
        tmp.path(),
        &[
            "pack",
            media.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(packed.code, Some(0), "{}", packed.stderr);

    let inspect = plexus(
        tmp.path(),
        &["pkg", "inspect", archive.to_str().unwrap(), "--json"],
    );
    assert_eq!(inspect.code, Some(0), "{}", inspect.stderr);
    let description = inspect.json();
    assert_matches_schema("package", &description);
    let permissions = |name: &str| -> Value {
        description["processors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["permissions"]
            .clone()
    };
    assert_eq!(
        permissions("media.video_source")["read"],
        json!(["{config.path}"])
    );
    assert_eq!(
        permissions("media.video_recorder")["write"],
        json!(["{config.dir}"])
    );
    let text = plexus(tmp.path(), &["pkg", "inspect", archive.to_str().unwrap()]);
    assert!(
        text.stdout
            .contains("    permissions: read {config.path}\n"),
        "{}",
        text.stdout
    );

    let installed = plexus(tmp.path(), &["pkg", "install", archive.to_str().unwrap()]);
    assert_eq!(installed.code, Some(0), "{}", installed.stderr);
    let lines: Vec<&str> = installed.stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "media.video_source asks for: read {config.path}",
            "media.video_recorder asks for: write {config.dir}",
        ],
        "{}",
        installed.stdout
    );
    assert!(
        lines[2].starts_with("installed media@0.1.0"),
        "{}",
        installed.stdout
    );

    let effects = example_package("effects-python");
    let plain = plexus(tmp.path(), &["pkg", "install", effects.to_str().unwrap()]);
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    assert!(
        plain
            .stdout
            .starts_with("example.invert asks for no permissions\n"),
        "{}",
        plain.stdout
    );
}
