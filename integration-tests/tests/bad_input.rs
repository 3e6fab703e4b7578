//! Every mistake a user can make in a pipeline or a package is answered by
//! one sentence naming the file and the item, a non-zero exit, and nothing
//! left running. (A plugin that panics is contained: the conformance suite.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::{
    assert_no_residue, pipeline, pipeline_text, plexus, spawn_plexus_with, write_pipeline,
    PlexusRun,
};

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
    // `validate --deep` opens the library as the run did, and says the same.
    let deep = plexus(&["validate", "--deep", path.to_str().unwrap()], tmp.path());
    assert_eq!(deep.refusal(), line, "{}", deep.stderr);
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
    assert!(line.contains("ABI 4.0, this worker speaks 3.1"), "{line}");
}

/// How long a refusal of bad input may take, however large the input: a
/// generous bound for checks that take milliseconds.
const PROMPTLY: Duration = Duration::from_secs(2);

/// Runs `plexus validate` on `path` with `env`, and checks it refused
/// within [`PROMPTLY`] in one short line; returns that line.
fn validate_refused(path: &Path, env: &[(&str, &Path)]) -> String {
    let run = spawn_plexus_with(
        &["validate", path.to_str().unwrap()],
        path.parent().unwrap(),
        env,
    )
    .finish_within(PROMPTLY);
    let line = run.refusal().to_string();
    assert_eq!(
        line,
        run.error_line(),
        "the refusal is not one line:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.len() < 600,
        "a refusal of {} bytes:\n{}",
        run.stderr.len(),
        &run.stderr[..run.stderr.len().min(2000)]
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    line
}

/// `plexus validate` on `path` passes.
fn validates(path: &Path, env: &[(&str, &Path)]) {
    let run = spawn_plexus_with(
        &["validate", path.to_str().unwrap()],
        path.parent().unwrap(),
        env,
    )
    .finish_within(PROMPTLY);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn deep_nesting_is_refused_at_once() {
    let deep = "[".repeat(200_000);
    let (tmp, path) = write_pipeline(&deep);
    let line = validate_refused(&path, &[]);
    assert!(
        line.contains("pipeline.yaml: line 1: nesting is deeper than 64 levels"),
        "{line}"
    );

    let package = tmp.path().join("deep");
    std::fs::create_dir(&package).unwrap();
    std::fs::write(
        package.join("plexus.yaml"),
        format!("package: {{ name: deep, version: 1.0.0 }}\nprocessors: {deep}"),
    )
    .unwrap();
    std::fs::write(
        &path,
        "name: x\npackages: [./deep]\nprocessors:\n  cam: { type: builtin.test_pattern }\n",
    )
    .unwrap();
    let line = validate_refused(&path, &[]);
    assert!(
        line.contains("deep/plexus.yaml: line 2: nesting is deeper than 64 levels"),
        "{line}"
    );
}

#[test]
fn a_file_over_the_size_cap_is_refused_unread() {
    let comment = format!("# {}\n", "x".repeat(20 << 20));
    let (_tmp, path) = write_pipeline(&format!(
        "{comment}name: x\nprocessors:\n  cam: {{ type: builtin.test_pattern }}\n"
    ));
    let line = validate_refused(&path, &[]);
    assert!(
        line.contains("pipeline.yaml: the file is larger than 4 MiB"),
        "{line}"
    );
}

/// A text file that is not a pipeline (`plexus validate /etc/passwd`): the
/// parser's message quotes the file as one string, cut to an excerpt.
#[test]
fn a_refusal_quotes_an_excerpt_not_the_file() {
    let passwd: String = (0..1000)
        .map(|n| format!("user{n}:x:{n}:{n}:User {n}:/home/user{n}:/bin/sh\n"))
        .collect();
    let (_tmp, path) = write_pipeline(&passwd);
    let line = validate_refused(&path, &[]);
    assert!(
        line.contains("pipeline.yaml") && line.contains("user0:x:0:0") && !line.contains("user999"),
        "{line}"
    );
}

/// The pipeline `bad/named.yaml` with its name, processor id and worker
/// group given as YAML.
fn named(name: &str, id: &str, worker: &str) -> (tempfile::TempDir, PathBuf) {
    write_pipeline(&pipeline_text(
        "bad/named.yaml",
        &[("name", name), ("id", id), ("worker", worker)],
    ))
}

#[test]
fn names_that_print_badly_are_refused() {
    let long = "x".repeat(1 << 20);
    let refused_names = [
        ("\"\"", "the pipeline name ``"),
        (long.as_str(), "the pipeline name `xxxx"),
        ("\"two\\nlines\"", "the pipeline name `two\\nlines`"),
        ("\"bell\\a\"", "the pipeline name `bell\\u{7}`"),
        (
            "\"abc\\u202Egnp.exe\"",
            "the pipeline name `abc\\u{202e}gnp.exe`",
        ),
        ("\" padded \"", "the pipeline name ` padded `"),
    ];
    for (name, expected) in refused_names {
        let (_tmp, path) = named(name, "cam", "cam");
        let line = validate_refused(&path, &[]);
        assert!(
            line.contains(expected) && line.contains("1 to 128 printable characters"),
            "{line}"
        );
    }
    // YAML admits implicit keys of at most 1024 characters: a longer id
    // is an explicit key, `? id` then `: value`.
    let long_id = format!("? {long}\n  ");
    for (id, worker, expected) in [
        (long_id.as_str(), "w", "processor id `xxxx"),
        ("\"a\\nb\"", "w", "processor id `a\\nb` is not a valid name"),
        (
            "cam",
            "\"w\\u202E\"",
            "worker `w\\u{202e}` is not a valid name",
        ),
    ] {
        let (_tmp, path) = named("x", id, worker);
        let line = validate_refused(&path, &[]);
        assert!(line.contains(expected), "{line}");
    }
    let (_tmp, path) = named("\"Démo 2: caméra (test)\"", "cam", "cam");
    validates(&path, &[]);
}

/// Processors `p0`, `p1`… of which every `per_worker` share a worker.
fn sources(count: usize, per_worker: usize) -> (tempfile::TempDir, PathBuf) {
    let processors: String = (0..count)
        .map(|n| {
            format!(
                "  p{n}: {{ type: builtin.test_pattern, worker: w{} }}\n",
                n / per_worker
            )
        })
        .collect();
    write_pipeline(&format!("name: many\nprocessors:\n{processors}"))
}

#[test]
fn more_workers_than_a_runtime_may_start_are_refused() {
    let (_tmp, path) = sources(10_007, 1);
    let line = validate_refused(&path, &[]);
    assert!(
        line.contains("would start 10007 workers, more than the 256 a runtime may")
            && line.contains("PLEXUS_MAX_WORKERS"),
        "{line}"
    );

    let two = [("PLEXUS_MAX_WORKERS", Path::new("2"))];
    let (_tmp, path) = sources(3, 2);
    validates(&path, &two);
    let (_tmp, path) = sources(3, 1);
    let line = validate_refused(&path, &two);
    assert!(
        line.contains("would start 3 workers, more than the 2"),
        "{line}"
    );

    for value in ["1000", "0", "many"] {
        let line = validate_refused(&path, &[("PLEXUS_MAX_WORKERS", Path::new(value))]);
        assert!(
            line.contains(&format!(
                "PLEXUS_MAX_WORKERS is `{value}`; set it to a number from 1 to 256"
            )),
            "{line}"
        );
    }
}

/// `plexus types --json | head -c 1` is a reader that stopped reading, not
/// a fault of plexus: nothing is said on stderr, no panic message.
#[test]
fn a_reader_that_stops_reading_gets_no_panic_message() {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the two fds of the array we own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both fds were just opened and nothing else owns them.
    let (read, write) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    // The reader is gone before plexus writes a byte.
    drop(read);
    let out = std::process::Command::new(integration_tests::binary("plexus"))
        .args(["types", "--json"])
        .stdout(std::process::Stdio::from(write))
        .output()
        .expect("running plexus");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!out.status.success());
}
