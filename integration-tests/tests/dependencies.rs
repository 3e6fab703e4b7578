//! Package dependencies end to end: packages installed into a private
//! store name others with semver requirements; `validate` resolves a
//! pipeline's packages and their dependencies from the store, choosing the
//! highest matching version, and refuses a missing, conflicting or cyclic
//! dependency with one sentence naming the chain. `pkg install` installs a
//! package whose dependencies are missing, saying which.

use std::path::{Path, PathBuf};

use integration_tests::assert_matches_schema;
use integration_tests::store::{path_arg, Scratch};

/// Writes package `name@version` into `parent/<name>-<version>/`: one
/// Python source type `<name>.p`, and `deps` as `(name, requirement)`.
fn package(parent: &Path, name: &str, version: &str, deps: &[(&str, &str)]) -> PathBuf {
    let dir = parent.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let deps: Vec<String> = deps
        .iter()
        .map(|(n, r)| format!("{{ name: {n}, version: \"{r}\" }}"))
        .collect();
    std::fs::write(
        dir.join("plexus.yaml"),
        format!(
            "package: {{ name: {name}, version: {version} }}\ndependencies: [{}]\nprocessors:\n  - {{ name: {name}.p, language: python, entry: m:P, mode: manual, outputs: [{{ name: out, schema: video/rgba8 }}] }}\n",
            deps.join(", ")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("m.py"), "class P:\n    pass\n").unwrap();
    dir
}

fn install(s: &Scratch, dir: &Path) -> String {
    let run = s.plexus(&["pkg", "install", path_arg(dir)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.stderr
}

/// A pipeline listing `app` (a directory) and running the source type
/// `source` into a stats sink.
fn pipeline(s: &Scratch, app: &Path, source: &str) -> PathBuf {
    let path = s.path().join("pipeline.yaml");
    std::fs::write(
        &path,
        format!(
            "name: deps\npackages: [{}]\nprocessors:\n  src: {{ type: {source} }}\n  sink: {{ type: builtin.stats_sink }}\nconnections:\n  - src.out -> sink.in\n",
            path_arg(app)
        ),
    )
    .unwrap();
    path
}

/// `validate` refuses with one sentence, exit 2, naming the pipeline file.
fn refusal(s: &Scratch, pipeline: &Path) -> String {
    let run = s.plexus(&["validate", path_arg(pipeline)]);
    let line = run.refusal().to_string();
    assert_eq!(
        run.stderr.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "one line: {}",
        run.stderr
    );
    assert!(line.contains(path_arg(pipeline)), "{line}");
    line
}

#[test]
fn a_satisfied_chain_validates_with_the_highest_matching_versions() {
    let s = Scratch::new();
    let src = s.path().join("src");
    install(&s, &package(&src, "test.base", "1.0.0", &[]));
    install(&s, &package(&src, "test.base", "1.4.0", &[]));
    install(&s, &package(&src, "test.base", "2.0.0", &[]));
    install(
        &s,
        &package(&src, "test.mid", "1.1.0", &[("test.base", "^1.2")]),
    );
    let app = package(&src, "test.app", "1.0.0", &[("test.mid", "^1")]);
    // A dependency's types are usable: test.base comes in through test.mid.
    let path = pipeline(&s, &app, "test.base.p");
    let out = s.ok(&["validate", path_arg(&path)]);
    assert!(out.contains("is valid"), "{out}");
    // The version chosen is the highest matching every requirement, as
    // the lock pins it.
    s.ok(&["lock", path_arg(&path)]);
    let lock = std::fs::read_to_string(s.path().join("plexus.lock")).unwrap();
    for pinned in [
        "- name: test.app\n  version: 1.0.0\n",
        "- name: test.base\n  version: 1.4.0\n",
        "- name: test.mid\n  version: 1.1.0\n",
    ] {
        assert!(lock.contains(pinned), "{pinned} in:\n{lock}");
    }
    let inspected = s.plexus(&["pkg", "inspect", "test.mid", "--json"]);
    let inspected = inspected.json();
    assert_matches_schema("package", &inspected);
    assert_eq!(
        inspected["dependencies"],
        serde_json::json!([{ "name": "test.base", "version": "^1.2" }])
    );
    let text = s.ok(&["pkg", "inspect", "test.mid"]);
    assert!(text.contains("needs:    test.base ^1.2"), "{text}");
}

#[test]
fn a_missing_dependency_is_one_sentence_naming_the_chain() {
    let s = Scratch::new();
    let src = s.path().join("src");
    install(&s, &package(&src, "test.base", "1.3.0", &[]));
    let warned = install(
        &s,
        &package(&src, "test.mid", "1.1.0", &[("test.base", "^2")]),
    );
    assert!(
        warned.contains("warning: package `test.mid@1.1.0` needs `test.base ^2`, but the store has test.base 1.3.0 only"),
        "pkg install says what is missing: {warned}"
    );
    let app = package(&src, "test.app", "1.0.0", &[("test.mid", "^1")]);
    let line = refusal(&s, &pipeline(&s, &app, "test.app.p"));
    assert!(
        line.ends_with("package `test.app@1.0.0` needs `test.base ^2` (via `test.app@1.0.0` → `test.mid@1.1.0` → `test.base ^2`), but the store has test.base 1.3.0 only"),
        "{line}"
    );
    let alone = package(&src, "test.alone", "1.0.0", &[("test.nowhere", "^1")]);
    let line = refusal(&s, &pipeline(&s, &alone, "test.alone.p"));
    assert!(
        line.ends_with("package `test.alone@1.0.0` needs `test.nowhere ^1`, but test.nowhere is not installed (see `plexus pkg list`)"),
        "{line}"
    );
}

#[test]
fn conflicting_dependencies_are_one_sentence_naming_both_chains() {
    let s = Scratch::new();
    let src = s.path().join("src");
    install(&s, &package(&src, "test.base", "1.4.0", &[]));
    install(&s, &package(&src, "test.base", "2.0.0", &[]));
    install(
        &s,
        &package(&src, "test.other", "1.0.0", &[("test.base", "^2")]),
    );
    let app = package(
        &src,
        "test.app",
        "1.0.0",
        &[("test.base", "^1"), ("test.other", "^1")],
    );
    let line = refusal(&s, &pipeline(&s, &app, "test.app.p"));
    assert!(
        line.ends_with("package `test.app@1.0.0` needs `test.base ^2` (via `test.app@1.0.0` → `test.other@1.0.0` → `test.base ^2`), which conflicts with `test.app@1.0.0` → `test.base ^1`: no installed version of test.base satisfies both (installed: 1.4.0, 2.0.0)"),
        "{line}"
    );
}

#[test]
fn cyclic_dependencies_are_one_sentence_naming_the_cycle() {
    let s = Scratch::new();
    let src = s.path().join("src");
    install(&s, &package(&src, "test.b", "1.0.0", &[("test.c", "^1")]));
    install(&s, &package(&src, "test.c", "1.0.0", &[("test.b", "^1")]));
    let app = package(&src, "test.a", "1.0.0", &[("test.b", "^1")]);
    let line = refusal(&s, &pipeline(&s, &app, "test.a.p"));
    assert!(
        line.ends_with(
            "package dependencies are cyclic: `test.b@1.0.0` → `test.c@1.0.0` → `test.b@1.0.0`"
        ),
        "{line}"
    );
}

#[test]
fn a_bad_dependency_in_a_manifest_is_named() {
    let s = Scratch::new();
    let src = s.path().join("src");
    let own = package(&src, "test.selfish", "1.0.0", &[("test.selfish", "^1")]);
    let run = s.plexus(&["pkg", "install", path_arg(&own)]);
    assert!(
        run.refusal()
            .contains("dependencies[0]: package `test.selfish` cannot depend on itself"),
        "{}",
        run.stderr
    );
    let bad = package(&src, "test.vague", "1.0.0", &[("test.base", "soon")]);
    let run = s.plexus(&["pkg", "install", path_arg(&bad)]);
    assert!(
        run.refusal()
            .contains("dependencies[0].version `soon` is not a version requirement"),
        "{}",
        run.stderr
    );
}
