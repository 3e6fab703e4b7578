//! Helpers shared by the end-to-end tests: find the built binaries and the
//! pipelines of `integration-tests/pipelines/`, run `plexus` with a
//! deadline, prove that a run left nothing behind, and recompute frames
//! independently of the code under test.

pub mod bench;
pub mod counters;
pub mod crasher;
pub mod dashboard;
pub mod delay_line;
pub mod detached;
pub mod expect;
pub mod file_server;
pub mod hosts;
pub mod http;
pub mod json_schema;
pub mod live_config;
pub mod mcap_reader;
pub mod netns;
pub mod process;
pub mod recorded;
pub mod residue;
pub mod source;
pub mod store;
pub mod sync;

use std::path::{Path, PathBuf};

pub use json_schema::assert_matches_schema;
pub use process::{
    exits_within, plexus, ps_runtime, ps_worker, spawn_plexus, spawn_plexus_with, spawn_program,
    tapped_seqs, worker_language, PlexusRun, Running,
};
pub use residue::assert_no_residue;

/// The processors of `examples/mixed/pipeline.yaml`, in pipeline order,
/// with the language of each one's worker.
pub const MIXED_PROCESSORS: [(&str, &str); 7] = [
    ("camera", "rust"),
    ("capture_stats", "rust"),
    ("sepia", "rust"),
    ("invert", "python"),
    ("bar", "deno"),
    ("stats", "rust"),
    ("png", "rust"),
];

/// The ids of [`MIXED_PROCESSORS`].
pub fn mixed_processor_ids() -> [&'static str; 7] {
    MIXED_PROCESSORS.map(|(id, _)| id)
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests sits in the workspace")
        .to_path_buf()
}

/// Where cargo put the binaries of this build (the test's own profile).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // tests run from target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_path_buf()
}

/// A binary of the workspace, which must have been built first.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// Writes `yaml` as `pipeline.yaml` in a fresh temporary directory, which
/// is removed when the returned guard drops.
pub fn write_pipeline(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let path = tmp.path().join("pipeline.yaml");
    std::fs::write(&path, yaml).expect("writing the pipeline");
    (tmp, path)
}

/// The text of `integration-tests/pipelines/<name>`, with every `${key}`
/// replaced by its value: `${fixtures}` and `${examples}` by the directories
/// of [`fixture`] and [`example_package`], the others by `vars`.
pub fn pipeline_text(name: &str, vars: &[(&str, &str)]) -> String {
    let path = workspace().join("integration-tests/pipelines").join(name);
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    for (key, value) in vars {
        let placeholder = format!("${{{key}}}");
        assert!(text.contains(&placeholder), "{name} has no {placeholder}");
        text = text.replace(&placeholder, value);
    }
    let fixtures = fixture("");
    let examples = example_package("");
    for (key, dir) in [("fixtures", &fixtures), ("examples", &examples)] {
        let dir = dir.display().to_string();
        text = text.replace(&format!("${{{key}}}"), dir.trim_end_matches('/'));
    }
    assert!(
        !text.contains("${"),
        "{name}: a placeholder is left unreplaced:\n{text}"
    );
    text
}

/// The pipeline `integration-tests/pipelines/<name>`, filled in as
/// [`pipeline_text`] does and written as [`write_pipeline`] does.
pub fn pipeline(name: &str, vars: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    write_pipeline(&pipeline_text(name, vars))
}

/// A package shipped in `examples/packages/`.
pub fn example_package(name: &str) -> PathBuf {
    workspace().join("examples/packages").join(name)
}

/// A fixture package of the integration tests.
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("integration-tests/fixtures").join(name)
}

/// Copies the shipped example `examples/<example>/pipeline.yaml` into `tmp`
/// as it is, except that its packages are found from there and its PNG sink
/// writes to `tmp/png`. Returns the copy's path.
pub fn example_in(tmp: &Path, example: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        workspace()
            .join("examples")
            .join(example)
            .join("pipeline.yaml"),
    )
    .expect("reading the example pipeline");
    let packages = workspace().join("examples/packages");
    let text = text.replace("../packages/", &format!("{}/", packages.display()));
    let png = tmp.join("png");
    let text: String = text
        .lines()
        .map(|line| match line.find("dir: ../../plexus-out/") {
            Some(at) => {
                let rest = &line[at + "dir: ".len()..];
                let end = rest.find([',', ' ', '}']).unwrap_or(rest.len());
                format!("{}dir: {}{}", &line[..at], png.display(), &rest[end..])
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(&png.display().to_string()),
        "the example {example} writes no PNGs under ../../plexus-out/"
    );
    let path = tmp.join("pipeline.yaml");
    std::fs::write(&path, text).expect("writing the pipeline");
    path
}

/// [`example_in`] with the camera at 30 frames a second instead of the demo's
/// 60: the tests that count every frame at a sink must not lose one on a
/// loaded CI machine, with two cores for the workers, CPython and deno.
pub fn example_at_half_rate(tmp: &Path, example: &str) -> PathBuf {
    let path = example_in(tmp, example);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("fps: 60"),
        "the example {example} runs at 60 fps"
    );
    std::fs::write(&path, text.replace("fps: 60", "fps: 30")).unwrap();
    path
}

/// Runs the pipeline at `path` until its sources sent `frames` each,
/// checks it completed (exit 0, outcome `completed`) and left nothing
/// behind, and returns its summary.
pub fn completed_run(path: &Path, cwd: &Path, frames: u64) -> serde_json::Value {
    let frames = frames.to_string();
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        cwd,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    summary
}

/// Runs `plexus` and, if a runtime started, checks it left nothing behind.
pub fn plexus_checked(args: &[&str], cwd: &Path) -> PlexusRun {
    plexus(args, cwd).checked()
}
