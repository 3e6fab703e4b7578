//! `plexus validate --deep` (docs/ARCHITECTURE.md §8): the errors a run
//! would meet loading a processor's code — a Python file that does not
//! parse, a Python import that is missing, a TypeScript module that throws
//! as it loads — are found without running anything, in the words `run`
//! uses; and `validate --json`.

use std::path::Path;

use integration_tests::{assert_matches_schema, plexus, write_pipeline};
use serde_json::Value;

/// A package `test.deep` of one processor `test.deep.p` in `language`
/// whose code is `file` with `code`, and a pipeline that runs it.
fn broken_package(
    language: &str,
    entry: &str,
    file: &str,
    code: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, path) = write_pipeline(
        "name: deep\npackages: [pkg]\nprocessors:\n  cam: { type: builtin.test_pattern, config: { width: 32, height: 24 } }\n  p: { type: test.deep_p }\n  sink: { type: builtin.stats_sink }\nconnections: [cam.out -> p.in, p.out -> sink.in]\n",
    );
    let pkg = tmp.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(
        pkg.join("plexus.yaml"),
        format!(
            "package: {{ name: test.deep, version: 0.1.0, plexus: \">=0.1\" }}\nprocessors:\n  - name: test.deep_p\n    language: {language}\n    entry: {entry}\n    mode: reactive\n    inputs: [{{ name: in, schema: video/rgba8 }}]\n    outputs: [{{ name: out, schema: video/rgba8 }}]\n    config: {{}}\n"
        ),
    )
    .unwrap();
    std::fs::write(pkg.join(file), code).unwrap();
    (tmp, path)
}

/// `validate` passes without --deep, and with it fails with the line `run` gives.
fn deep_finds_what_run_finds(tmp: &Path, path: &Path) -> String {
    let pipeline = path.to_str().unwrap();
    let shallow = plexus(&["validate", pipeline], tmp);
    assert_eq!(shallow.code, Some(0), "{}", shallow.stderr);
    let run = plexus(&["run", pipeline, "--frames", "5"], tmp);
    let from_run = run.refusal().to_string();
    let deep = plexus(&["validate", "--deep", pipeline], tmp);
    assert_eq!(
        deep.refusal(),
        from_run,
        "run:\n{}\nvalidate:\n{}",
        run.stderr,
        deep.stderr
    );
    assert!(deep.stdout.is_empty(), "{}", deep.stdout);
    let json = plexus(&["validate", "--deep", "--json", pipeline], tmp);
    assert_eq!(json.code, Some(2));
    let report = json.json();
    assert_matches_schema("validate", &report);
    assert_eq!(report["valid"], false);
    assert_eq!(report["deep"], true);
    assert_eq!(report["errors"][0]["processor"], "p");
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert_eq!(
        format!("plexus: error: {}", message.lines().next().unwrap()),
        from_run
    );
    from_run
}

#[test]
fn a_python_file_that_does_not_parse() {
    let (tmp, path) = broken_package(
        "python",
        "broken:P",
        "broken.py",
        "class P:\n    def process(self, ctx, inputs:\n        pass\n",
    );
    let line = deep_finds_what_run_finds(tmp.path(), &path);
    assert!(
        line.contains("cannot import module `broken`") && line.contains("SyntaxError"),
        "{line}"
    );
}

#[test]
fn a_python_import_that_is_missing() {
    let (tmp, path) = broken_package("python", "needs:P", "needs.py", "import no_such_dependency_here\n\nclass P:\n    def process(self, ctx, inputs):\n        pass\n");
    let line = deep_finds_what_run_finds(tmp.path(), &path);
    assert!(
        line.contains("ModuleNotFoundError") && line.contains("no_such_dependency_here"),
        "{line}"
    );
}

#[test]
fn a_typescript_module_that_throws_as_it_loads() {
    let (tmp, path) = broken_package(
        "deno",
        "throws.ts#P",
        "throws.ts",
        "throw new Error(\"the model file is missing\");\nexport class P { process() {} }\n",
    );
    let line = deep_finds_what_run_finds(tmp.path(), &path);
    assert!(line.contains("the model file is missing"), "{line}");
}

#[test]
fn a_sound_mixed_pipeline_passes_deep_validation_and_says_so_in_json() {
    let example = integration_tests::workspace().join("examples/mixed/pipeline.yaml");
    let dir = example.parent().unwrap();
    let deep = plexus(&["validate", "--deep", example.to_str().unwrap()], dir);
    assert_eq!(deep.code, Some(0), "{}", deep.stderr);
    assert!(
        deep.stdout
            .contains("is valid: 7 processors in 7 workers, and every processor's code loads"),
        "{}",
        deep.stdout
    );
    let json = plexus(&["validate", "--json", example.to_str().unwrap()], dir);
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let report: Value = json.json();
    assert_matches_schema("validate", &report);
    assert_eq!(report["valid"], true);
    assert_eq!(report["deep"], false);
    assert_eq!(report["processors"], 7);
    assert_eq!(report["errors"], serde_json::json!([]));
    // A pipeline that is not even valid YAML is still one JSON answer.
    let (tmp, bad) = write_pipeline("name: [unclosed\n");
    let refused = plexus(&["validate", "--json", bad.to_str().unwrap()], tmp.path());
    assert_eq!(refused.code, Some(2));
    let report = refused.json();
    assert_matches_schema("validate", &report);
    assert_eq!(report["valid"], false);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("pipeline.yaml"),
        "{report}"
    );
}
