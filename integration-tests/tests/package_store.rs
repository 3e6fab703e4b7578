//! The package store end to end: `pack` is deterministic and complete, the
//! store installs, lists, inspects and removes, pipelines name installed
//! packages and archives, and manifests and configs are checked before
//! anything starts.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use integration_tests::store::{path_arg, Scratch};
use integration_tests::{assert_no_residue, example_package, pipeline_text};
use zip::ZipArchive;

/// Copies the example package `name` into `dest` (its files and its
/// panels' `ui/`, not its build).
fn copy_example(name: &str, dest: &Path) {
    copy_files(&example_package(name), dest);
    let ui = example_package(name).join("ui");
    if ui.is_dir() {
        copy_files(&ui, &dest.join("ui"));
    }
}

fn copy_files(from: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
        }
    }
}

fn entry_names(archive: &[u8]) -> Vec<String> {
    let zip = ZipArchive::new(Cursor::new(archive)).unwrap();
    zip.file_names()
        .map(|name| name.unwrap().into_owned())
        .collect()
}

#[test]
fn pack_twice_gives_identical_bytes_whatever_the_file_times() {
    let s = Scratch::new();
    let pkg = s.path().join("effects");
    copy_example("effects-python", &pkg);
    s.ok(&["pack", path_arg(&pkg)]);
    let default = s.path().join("example.effects-0.1.0.plexpkg");
    let first = std::fs::read(&default).expect("the default archive name");
    // New times and permissions on every file must not change a byte.
    for entry in std::fs::read_dir(&pkg).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
            .unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
    }
    s.ok(&["pack", path_arg(&pkg), "-o", "again.plexpkg"]);
    let second = std::fs::read(s.path().join("again.plexpkg")).unwrap();
    assert!(first == second, "two packs of one directory differ");
    let mut names = entry_names(&first);
    names.sort();
    assert_eq!(
        names,
        [
            "README.md",
            "SHA256SUMS",
            "effects.py",
            "plexus.yaml",
            "requirements.txt",
            "ui/histogram.js"
        ]
    );

    // A Rust package ships its built library, also byte for byte again.
    s.ok(&[
        "pack",
        path_arg(&example_package("grayscale-rust")),
        "-o",
        "g1.plexpkg",
    ]);
    s.ok(&[
        "pack",
        path_arg(&example_package("grayscale-rust")),
        "-o",
        "g2.plexpkg",
    ]);
    let g1 = std::fs::read(s.path().join("g1.plexpkg")).unwrap();
    assert!(g1 == std::fs::read(s.path().join("g2.plexpkg")).unwrap());
    assert!(entry_names(&g1).contains(&"libgrayscale_rust.so".to_string()));
}

#[test]
fn pack_names_the_crate_to_build_when_a_plugin_is_not_built() {
    let s = Scratch::new();
    let pkg = s.path().join("unbuilt");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(
        pkg.join("Cargo.toml"),
        "[package]\nname = \"unbuilt-plugin\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(
        pkg.join("plexus.yaml"),
        "package: { name: test.unbuilt, version: 0.1.0 }\nprocessors:\n  - { name: test.unbuilt, language: rust, entry: libunbuilt_plugin.so, mode: reactive, inputs: [{ name: in, schema: any }] }\n",
    )
    .unwrap();
    let run = s.plexus(&["pack", path_arg(&pkg)]);
    let line = run.refusal();
    for needle in [
        "libunbuilt_plugin.so",
        "is not built",
        "cargo build --release -p unbuilt-plugin",
    ] {
        assert!(line.contains(needle), "`{needle}` missing from: {line}");
    }
    assert!(!s.path().join("test.unbuilt-0.1.0.plexpkg").exists());
}

/// A pipeline of the builtin source, the installed grayscale plugin and a sink.
fn grayscale_pipeline(s: &Scratch, package: &str) -> PathBuf {
    let path = s.path().join("pipeline.yaml");
    std::fs::write(
        &path,
        pipeline_text("installed-grayscale.yaml", &[("package", package)]),
    )
    .unwrap();
    path
}

#[test]
fn installed_packages_are_listed_inspected_run_by_name_and_removed() {
    let s = Scratch::new();
    s.ok(&["pack", path_arg(&example_package("grayscale-rust"))]);
    s.ok(&["pkg", "install", "example.grayscale-0.1.0.plexpkg"]);
    s.ok(&[
        "pkg",
        "install",
        path_arg(&example_package("effects-python")),
    ]);
    let installed = s.data().join("packages/example.grayscale/0.1.0");
    assert!(installed.join("libgrayscale_rust.so").is_file());

    let list: serde_json::Value = serde_json::from_str(&s.ok(&["pkg", "list", "--json"])).unwrap();
    integration_tests::assert_matches_schema("pkg-list", &list);
    let names: Vec<(&str, &str)> = list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("example.effects", "0.1.0"), ("example.grayscale", "0.1.0")]
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&s.ok(&["pkg", "inspect", "example.effects@0.1.0", "--json"]))
            .unwrap();
    integration_tests::assert_matches_schema("package", &inspect);
    assert_eq!(inspect["processors"][0]["name"], "example.invert");
    assert!(inspect["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "effects.py"));

    // The installed plugin runs, loaded from the store.
    let pipeline = grayscale_pipeline(&s, "example.grayscale");
    let run = s.plexus(&["run", path_arg(&pipeline), "--frames", "20", "--json"]);
    assert_no_residue(&run.runtime_id().expect("the run started"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["processors"]["s"]["frames_in"], 20);

    // A duplicate install is refused; the store is unchanged.
    let before = s.snapshot();
    let again = s.plexus(&["pkg", "install", "example.grayscale-0.1.0.plexpkg"]);
    assert!(
        again.refusal().contains("is already installed"),
        "{}",
        again.stderr
    );
    assert_eq!(s.snapshot(), before);

    s.ok(&["pkg", "remove", "example.grayscale"]);
    assert!(!s.data().join("packages/example.grayscale").exists());
    for spec in ["example.grayscale", "example.grayscale@0.1.0"] {
        let pipeline = grayscale_pipeline(&s, spec);
        let run = s.plexus(&["validate", path_arg(&pipeline)]);
        let line = run.refusal();
        assert!(
            line.contains("pipeline.yaml")
                && line.contains(&format!(
                    "package `{spec}` is not installed (see `plexus pkg list`)"
                )),
            "{line}"
        );
    }
    let list = s.ok(&["pkg", "list"]);
    assert!(
        list.contains("example.effects") && !list.contains("example.grayscale"),
        "{list}"
    );
}

#[test]
fn a_pipeline_may_name_a_package_archive() {
    let s = Scratch::new();
    s.ok(&[
        "pack",
        path_arg(&example_package("grayscale-rust")),
        "-o",
        "gray.plexpkg",
    ]);
    let pipeline = grayscale_pipeline(&s, "./gray.plexpkg");
    let run = s.plexus(&["run", path_arg(&pipeline), "--frames", "10", "--json"]);
    assert_no_residue(&run.runtime_id().expect("the run started"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["processors"]["g"]["frames_out"], 10);
    // The data directory holds the run's journal now, but no store.
    assert!(
        !s.data().join("packages").exists(),
        "an archive named by a pipeline is not installed"
    );
}

/// A package directory with one processor `test.clash` declaring `type`.
fn one_processor_package(dir: &Path, name: &str, type_name: &str, extra: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("m.py"), "class P:\n    pass\n").unwrap();
    std::fs::write(
        dir.join("plexus.yaml"),
        format!("package: {{ name: {name}, version: 1.0.0{extra} }}\nprocessors:\n  - name: {type_name}\n    language: python\n    entry: m:P\n    mode: reactive\n    inputs: [{{ name: in, schema: any }}]\n    config:\n      mode: {{ type: string, enum: [fast, slow], default: fast }}\n      radius: {{ type: integer, min: 1, max: 32, default: 3 }}\n"),
    )
    .unwrap();
}

#[test]
fn two_packages_declaring_one_processor_type_are_refused_naming_both() {
    let s = Scratch::new();
    s.ok(&[
        "pkg",
        "install",
        path_arg(&example_package("effects-python")),
    ]);
    let other = s.path().join("other");
    one_processor_package(&other, "test.other", "example.invert", "");
    let before = s.snapshot();
    let run = s.plexus(&["pkg", "install", path_arg(&other)]);
    let line = run.refusal();
    for needle in [
        "test.other@1.0.0",
        "example.effects@0.1.0",
        "`example.invert`",
    ] {
        assert!(line.contains(needle), "`{needle}` missing from: {line}");
    }
    assert_eq!(s.snapshot(), before);
}

#[test]
fn concurrent_installs_of_two_clashing_packages_let_exactly_one_in() {
    const ROUNDS: usize = 10;
    const INSTALLS: usize = 8;
    for round in 0..ROUNDS {
        let s = Scratch::new();
        // Packed first, so that the installs race over the store alone.
        let archives = ["test.left", "test.right"].map(|name| {
            let dir = s.path().join(name);
            one_processor_package(&dir, name, "test.clash", "");
            let archive = format!("{name}.plexpkg");
            s.ok(&["pack", path_arg(&dir), "-o", &archive]);
            archive
        });
        let installs: Vec<_> = (0..INSTALLS)
            .map(|i| s.spawn(&["pkg", "install", &archives[i % 2]]))
            .collect();
        let runs: Vec<_> = installs.into_iter().map(|r| r.finish()).collect();
        let winners = runs.iter().filter(|r| r.code == Some(0)).count();
        assert_eq!(winners, 1, "round {round}: {winners} installs succeeded");
        for run in runs.iter().filter(|r| r.code != Some(0)) {
            let line = run.refusal();
            assert!(
                line.contains("is already installed")
                    || line.contains("both declare processor type `test.clash`"),
                "round {round}: {line}"
            );
        }
        let list: serde_json::Value =
            serde_json::from_str(&s.ok(&["pkg", "list", "--json"])).unwrap();
        assert_eq!(
            list["packages"].as_array().unwrap().len(),
            1,
            "round {round}: {list}"
        );
    }
}

#[test]
fn a_package_needing_a_newer_plexus_is_refused() {
    let s = Scratch::new();
    let pkg = s.path().join("future");
    one_processor_package(&pkg, "test.future", "test.future", ", plexus: \">=99\"");
    let run = s.plexus(&["pkg", "install", path_arg(&pkg)]);
    let line = run.refusal();
    assert!(
        line.contains("future/plexus.yaml")
            && line.contains("needs plexus >=99, but this is plexus"),
        "{line}"
    );
    assert!(!s.data().join("packages/test.future").exists());
}

#[test]
fn a_pipeline_config_is_checked_against_the_schema_before_anything_starts() {
    let s = Scratch::new();
    one_processor_package(&s.path().join("pkg"), "test.cfg", "test.cfg", "");
    let cases = [
        (
            "{ mode: medium }",
            "config `mode` is \"medium\", it must be one of \"fast\", \"slow\"",
        ),
        (
            "{ radius: 0 }",
            "config `radius` is 0, it must be between 1 and 32",
        ),
        ("{ radius: two }", "config `radius` must be of type integer"),
        (
            "{ colour: red }",
            "unknown config key `colour` (known keys: mode, radius)",
        ),
    ];
    for (config, expected) in cases {
        let pipeline = s.path().join("pipeline.yaml");
        std::fs::write(
            &pipeline,
            pipeline_text("config-check.yaml", &[("config", config)]),
        )
        .unwrap();
        for command in ["validate", "run"] {
            let run = s.plexus(&[command, path_arg(&pipeline)]);
            assert!(run.runtime_id().is_none(), "{command} started a runtime");
            let line = run.refusal();
            assert!(
                line.contains("pipeline.yaml")
                    && line.contains("processor `p`")
                    && line.contains(expected),
                "{command} {config}: {line}"
            );
        }
    }
}

#[test]
fn a_staging_directory_left_by_a_killed_install_is_ignored_and_cleaned() {
    let s = Scratch::new();
    s.ok(&[
        "pkg",
        "install",
        path_arg(&example_package("effects-python")),
    ]);
    // A pid that surely ended: a child we reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let stale = s.data().join(format!("packages/.staging-{}-0", child.id()));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("plexus.yaml"), "half written").unwrap();
    let list: serde_json::Value = serde_json::from_str(&s.ok(&["pkg", "list", "--json"])).unwrap();
    assert_eq!(list["packages"].as_array().unwrap().len(), 1);
    s.ok(&["pkg", "install", path_arg(&example_package("overlay-deno"))]);
    assert!(
        !stale.exists(),
        "the next install removes what a killed one left"
    );
}
