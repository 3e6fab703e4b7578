//! Every mistake a user can make in a pipeline or a package is answered by
//! one sentence naming the file and the item, a non-zero exit, and nothing
//! left running. (A plugin that panics is contained: the conformance suite.)

use std::path::{Path, PathBuf};

use integration_tests::{assert_no_residue, pipeline, plexus, PlexusRun};

/// Runs `command` (run or validate) on `pipelines/bad/<name>` and checks the
/// refusal is one clean sentence that names the pipeline file and contains
/// every `needle`.
fn refused(command: &str, name: &str, needles: &[&str]) -> PlexusRun {
    let (tmp, path) = pipeline(&format!("bad/{name}"), &[]);
    let run = plexus(&[command, path.to_str().unwrap()], tmp.path());
    if let Some(id) = run.runtime_id() {
        assert_no_residue(&id);
    }
    assert_eq!(
        run.code,
        Some(2),
        "{command} should refuse; stderr:\n{}",
        run.stderr
    );
    let line = run.error_line();
    assert!(line.starts_with("plexus: error: "), "{line}");
    for needle in needles {
        assert!(line.contains(needle), "`{needle}` missing from: {line}");
    }
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    run
}

/// A static mistake is found by `validate` and by `run` alike.
fn refused_before_start(name: &str, needles: &[&str]) {
    for command in ["validate", "run"] {
        let run = refused(command, name, needles);
        assert!(
            run.runtime_id().is_none(),
            "{command} started a runtime for an invalid pipeline"
        );
    }
}

#[test]
fn unknown_processor_type() {
    refused_before_start(
        "unknown-type.yaml",
        &[
            "pipeline.yaml",
            "`cam`",
            "unknown type `builtin.test_patern`",
            "builtin.test_pattern",
        ],
    );
}

#[test]
fn unknown_port() {
    refused_before_start(
        "unknown-port.yaml",
        &["pipeline.yaml", "`cam`", "no output `video`", "out"],
    );
}

#[test]
fn schemas_that_differ() {
    refused_before_start(
        "schemas-differ.yaml",
        &[
            "pipeline.yaml",
            "g1.out -> g2.in",
            "video/gray8",
            "video/rgba8",
        ],
    );
}

#[test]
fn duplicate_processor_id() {
    refused_before_start(
        "duplicate-id.yaml",
        &["pipeline.yaml", "duplicate processor id `cam`", "line "],
    );
}

#[test]
fn connection_to_itself() {
    refused_before_start(
        "connected-to-itself.yaml",
        &["pipeline.yaml", "`g` is connected to itself"],
    );
}

#[test]
fn cycle() {
    refused_before_start("cycle.yaml", &["pipeline.yaml", "cycle"]);
}

#[test]
fn malformed_yaml_names_line_and_column() {
    refused_before_start("malformed.yaml", &["pipeline.yaml", "line ", "column "]);
}

#[test]
fn missing_package_directory() {
    refused_before_start(
        "missing-package.yaml",
        &["pipeline.yaml", "package `./no-such-package` not found"],
    );
}

#[test]
fn package_without_manifest() {
    let (tmp, path) = pipeline("bad/empty-package.yaml", &[]);
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let run = plexus(&["validate", path.to_str().unwrap()], tmp.path());
    assert_eq!(run.code, Some(2));
    let line = run.error_line();
    assert!(
        line.contains("empty/plexus.yaml") && line.contains("cannot read the package manifest"),
        "{line}"
    );
}

/// A package whose manifest points at `library` as a Rust plugin.
fn plugin_package(dir: &Path, library: &Path, type_name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(library, dir.join("libplugin.so")).unwrap();
    std::fs::write(
        dir.join("plexus.yaml"),
        format!(
            "package: {{ name: test.lib, version: 0.1.0 }}\nprocessors:\n  - name: {type_name}\n    language: rust\n    entry: libplugin.so\n    mode: reactive\n    inputs: [{{ name: in, schema: video/rgba8 }}]\n    outputs: [{{ name: out, schema: video/rgba8 }}]\n"
        ),
    )
    .unwrap();
}

/// A real shared library that is not a plexus plugin.
fn some_system_library() -> PathBuf {
    [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
        "/usr/lib/libm.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("libm on this machine")
}

/// Runs a pipeline whose plugin `p` is `library`; returns the refusal.
fn plugin_refused(library: &Path, type_name: &str) -> String {
    let (tmp, path) = pipeline("bad/plugin.yaml", &[("type", type_name)]);
    plugin_package(&tmp.path().join("pkg"), library, type_name);
    let run = plexus(
        &["run", path.to_str().unwrap(), "--frames", "5"],
        tmp.path(),
    );
    assert_no_residue(&run.runtime_id().expect("the run started"));
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let line = run.error_line().to_string();
    assert!(line.contains("processor `p`"), "{line}");
    line
}

#[test]
fn a_library_that_is_not_a_plexus_plugin() {
    let line = plugin_refused(&some_system_library(), "test.not_a_plugin");
    assert!(
        line.contains("libplugin.so") && line.contains("not a plexus plugin"),
        "{line}"
    );
}

#[test]
fn a_plugin_built_for_another_abi_major() {
    let built = integration_tests::bin_dir().join("libwrong_abi_plugin.so");
    assert!(
        built.is_file(),
        "{} is missing: run `cargo build --workspace`",
        built.display()
    );
    let line = plugin_refused(&built, "test.wrong_abi");
    assert!(line.contains("ABI 2"), "{line}");
}
