//! Packages end to end: `pack` is deterministic and complete, the store
//! installs, lists, inspects and removes, pipelines name installed packages,
//! manifests and configs are checked before anything starts, and every
//! hostile archive is refused with one sentence and exit 2, leaving the
//! store and everything around it as it was.

use std::io::{Cursor, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use integration_tests::store::Scratch;
use integration_tests::{assert_no_residue, workspace};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

fn example(name: &str) -> PathBuf {
    workspace().join("examples/packages").join(name)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Copies the example package `name` into `dest` (its files, not its build).
fn copy_example(name: &str, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(example(name)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
        }
    }
}

fn entry_names(archive: &[u8]) -> Vec<String> {
    let zip = ZipArchive::new(Cursor::new(archive)).unwrap();
    zip.file_names().map(str::to_string).collect()
}

#[test]
fn pack_twice_gives_identical_bytes_whatever_the_file_times() {
    let s = Scratch::new();
    let pkg = s.path().join("effects");
    copy_example("effects-python", &pkg);
    s.ok(&["pack", path_str(&pkg)]);
    let default = s.path().join("example.effects-0.1.0.plexpkg");
    let first = std::fs::read(&default).expect("the default archive name");
    // New times and permissions on every file must not change a byte.
    for entry in std::fs::read_dir(&pkg).unwrap() {
        let path = entry.unwrap().path();
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
            .unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
    }
    s.ok(&["pack", path_str(&pkg), "-o", "again.plexpkg"]);
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
            "requirements.txt"
        ]
    );

    // A Rust package ships its built library, also byte for byte again.
    s.ok(&[
        "pack",
        path_str(&example("grayscale-rust")),
        "-o",
        "g1.plexpkg",
    ]);
    s.ok(&[
        "pack",
        path_str(&example("grayscale-rust")),
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
        "package: { name: test.unbuilt, version: 0.1.0 }\nprocessors:\n  - { name: test.unbuilt, runtime: rust, entry: libunbuilt_plugin.so, mode: reactive, inputs: [{ name: in, schema: any }] }\n",
    )
    .unwrap();
    let run = s.plexus(&["pack", path_str(&pkg)]);
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
        format!("name: installed\npackages: [{package}]\nprocessors:\n  cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 48, fps: 200 }} }}\n  g: {{ type: example.grayscale }}\n  s: {{ type: builtin.stats_sink }}\nconnections: [cam.out -> g.in, g.out -> s.in]\n"),
    )
    .unwrap();
    path
}

#[test]
fn installed_packages_are_listed_inspected_run_by_name_and_removed() {
    let s = Scratch::new();
    s.ok(&["pack", path_str(&example("grayscale-rust"))]);
    s.ok(&["pkg", "install", "example.grayscale-0.1.0.plexpkg"]);
    s.ok(&["pkg", "install", path_str(&example("effects-python"))]);
    let installed = s.data().join("packages/example.grayscale/0.1.0");
    assert!(installed.join("libgrayscale_rust.so").is_file());

    let list: serde_json::Value = serde_json::from_str(&s.ok(&["pkg", "list", "--json"])).unwrap();
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
    assert_eq!(inspect["processors"][0]["name"], "example.invert");
    assert!(inspect["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "effects.py"));

    // The installed plugin runs, loaded from the store.
    let pipeline = grayscale_pipeline(&s, "example.grayscale");
    let run = s.plexus(&["run", path_str(&pipeline), "--frames", "20", "--json"]);
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
        let run = s.plexus(&["validate", path_str(&pipeline)]);
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
        path_str(&example("grayscale-rust")),
        "-o",
        "gray.plexpkg",
    ]);
    let pipeline = grayscale_pipeline(&s, "./gray.plexpkg");
    let run = s.plexus(&["run", path_str(&pipeline), "--frames", "10", "--json"]);
    assert_no_residue(&run.runtime_id().expect("the run started"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["processors"]["g"]["frames_out"], 10);
    assert!(
        !s.data().exists(),
        "an archive named by a pipeline is not installed"
    );
}

/// A package directory with one processor `test.clash` declaring `type`.
fn one_processor_package(dir: &Path, name: &str, type_name: &str, extra: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("m.py"), "class P:\n    pass\n").unwrap();
    std::fs::write(
        dir.join("plexus.yaml"),
        format!("package: {{ name: {name}, version: 1.0.0{extra} }}\nprocessors:\n  - name: {type_name}\n    runtime: python\n    entry: m:P\n    mode: reactive\n    inputs: [{{ name: in, schema: any }}]\n    config:\n      mode: {{ type: string, enum: [fast, slow], default: fast }}\n      radius: {{ type: integer, min: 1, max: 32, default: 3 }}\n"),
    )
    .unwrap();
}

#[test]
fn two_packages_declaring_one_processor_type_are_refused_naming_both() {
    let s = Scratch::new();
    s.ok(&["pkg", "install", path_str(&example("effects-python"))]);
    let other = s.path().join("other");
    one_processor_package(&other, "test.other", "example.invert", "");
    let before = s.snapshot();
    let run = s.plexus(&["pkg", "install", path_str(&other)]);
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
fn a_package_needing_a_newer_plexus_is_refused() {
    let s = Scratch::new();
    let pkg = s.path().join("future");
    one_processor_package(&pkg, "test.future", "test.future", ", plexus: \">=99\"");
    let run = s.plexus(&["pkg", "install", path_str(&pkg)]);
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
            format!("name: cfg\npackages: [./pkg]\nprocessors:\n  cam: {{ type: builtin.test_pattern }}\n  p: {{ type: test.cfg, config: {config} }}\nconnections: [cam.out -> p.in]\n"),
        )
        .unwrap();
        for command in ["validate", "run"] {
            let run = s.plexus(&[command, path_str(&pipeline)]);
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
    s.ok(&["pkg", "install", path_str(&example("effects-python"))]);
    // A pid that surely ended: a child we reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let stale = s.data().join(format!("packages/.staging-{}-0", child.id()));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("plexus.yaml"), "half written").unwrap();
    let list: serde_json::Value = serde_json::from_str(&s.ok(&["pkg", "list", "--json"])).unwrap();
    assert_eq!(list["packages"].as_array().unwrap().len(), 1);
    s.ok(&["pkg", "install", path_str(&example("overlay-deno"))]);
    assert!(
        !stale.exists(),
        "the next install removes what a killed one left"
    );
}

// ---- hostile archives ----

const MANIFEST: &str = "package: { name: test.hostile, version: 1.0.0 }\nprocessors:\n  - { name: test.hostile, runtime: python, entry: m:P, mode: reactive, inputs: [{ name: in, schema: any }] }\n";

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds an archive as `plexus pack` would, or with one fault on purpose.
struct Builder {
    zip: ZipWriter<Cursor<Vec<u8>>>,
    sums: String,
}

impl Builder {
    fn new() -> Self {
        Self {
            zip: ZipWriter::new(Cursor::new(Vec::new())),
            sums: String::new(),
        }
    }

    fn options() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    /// A file listed in SHA256SUMS with `listed`'s checksum.
    fn file_claiming(mut self, name: &str, data: &[u8], listed: &[u8]) -> Self {
        self.zip.start_file(name, Self::options()).unwrap();
        self.zip.write_all(data).unwrap();
        self.sums += &format!("{}  {name}\n", sha256(listed));
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.file_claiming(name, data, data)
    }

    fn good() -> Self {
        Self::new()
            .file("plexus.yaml", MANIFEST.as_bytes())
            .file("m.py", b"class P:\n    pass\n")
    }

    fn symlink(mut self, name: &str, target: &str) -> Self {
        self.zip.add_symlink(name, target, Self::options()).unwrap();
        self.sums += &format!("{}  {name}\n", sha256(target.as_bytes()));
        self
    }

    fn finish(mut self) -> Vec<u8> {
        self.zip.start_file("SHA256SUMS", Self::options()).unwrap();
        self.zip.write_all(self.sums.as_bytes()).unwrap();
        self.zip.finish().unwrap().into_inner()
    }
}

/// Rewrites the uncompressed size the local and central headers of entry
/// `name` declare, as a zip bomb lies about it.
fn declare_size(archive: &mut [u8], name: &str, size: u32) {
    let mut patched = 0;
    // (signature, offset of the name length, offset of the name, offset of the size)
    for (signature, name_len_at, name_at, size_at) in
        [(0x04034b50u32, 26, 30, 22), (0x02014b50u32, 28, 46, 24)]
    {
        for at in 0..archive.len().saturating_sub(name_at) {
            if archive[at..at + 4] != signature.to_le_bytes() {
                continue;
            }
            let len = u16::from_le_bytes([archive[at + name_len_at], archive[at + name_len_at + 1]])
                as usize;
            if archive.get(at + name_at..at + name_at + len) == Some(name.as_bytes()) {
                archive[at + size_at..at + size_at + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
    }
    assert_eq!(patched, 2, "both headers of `{name}` patched");
}

/// Installs (and inspects) `archive`, which must be refused with one
/// sentence naming it and every `needle`, with nothing changed around.
fn refused(archive: &[u8], needles: &[&str]) {
    let s = Scratch::new();
    // Something installed, so "unchanged" covers a store that is not empty.
    s.ok(&["pkg", "install", path_str(&example("overlay-deno"))]);
    std::fs::write(s.path().join("hostile.plexpkg"), archive).unwrap();
    let before = s.snapshot();
    for command in ["install", "inspect"] {
        let run = s.plexus(&["pkg", command, "hostile.plexpkg"]);
        let line = run.refusal();
        assert!(line.contains("hostile.plexpkg"), "{command}: {line}");
        for needle in needles {
            assert!(
                line.contains(needle),
                "{command}: `{needle}` missing from: {line}"
            );
        }
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(
            s.snapshot(),
            before,
            "{command} changed the files around it"
        );
    }
}

#[test]
fn hostile_entries_with_dotdot_paths() {
    refused(
        &Builder::good().file("../../../escaped.py", b"x").finish(),
        &["entry `../../../escaped.py`", "unsafe path"],
    );
    refused(
        &Builder::good().file("lib/../../escaped.py", b"x").finish(),
        &["entry `lib/../../escaped.py`", "unsafe path"],
    );
}

#[test]
fn hostile_entries_with_absolute_paths() {
    let target = std::env::temp_dir().join("plexus-hostile-absolute.py");
    refused(
        &Builder::good().file(path_str(&target), b"x").finish(),
        &["unsafe path"],
    );
    assert!(!target.exists());
}

#[test]
fn hostile_symlink_pointing_outside() {
    refused(
        &Builder::good()
            .symlink("m2.py", "../../../../etc/passwd")
            .finish(),
        &["entry `m2.py`", "symbolic link"],
    );
}

#[test]
fn hostile_file_whose_checksum_does_not_match() {
    refused(
        &Builder::good()
            .file_claiming(
                "evil.py",
                b"import os; os.system('rm -rf ~')",
                b"print('hello')",
            )
            .finish(),
        &[
            "entry `evil.py`",
            "does not match its checksum in SHA256SUMS",
        ],
    );
    // A file the list does not vouch for at all.
    let mut unlisted = Builder::good();
    unlisted
        .zip
        .start_file("extra.py", Builder::options())
        .unwrap();
    unlisted.zip.write_all(b"x").unwrap();
    refused(&unlisted.finish(), &["entry `extra.py` has no checksum"]);
}

#[test]
fn hostile_missing_or_malformed_manifest() {
    refused(
        &Builder::new().file("m.py", b"x").finish(),
        &["has no `plexus.yaml`"],
    );
    refused(
        &Builder::new()
            .file(
                "plexus.yaml",
                b"package: { name: test.x, version: 1.0.0\nprocessors: [",
            )
            .finish(),
        &["plexus.yaml", "line "],
    );
    refused(&Builder::new().finish(), &["has no `plexus.yaml`"]);
}

#[test]
fn hostile_zip_bomb_declaring_too_much() {
    let mut archive = Builder::good().file("big.bin", &[0u8; 1000]).finish();
    declare_size(&mut archive, "big.bin", 300 << 20);
    refused(
        &archive,
        &["entry `big.bin`", "declares 314572800 bytes, more than"],
    );

    let mut builder = Builder::good();
    for i in 0..5 {
        builder = builder.file(&format!("part{i}.bin"), &[0u8; 1000]);
    }
    let mut archive = builder.finish();
    for i in 0..5 {
        declare_size(&mut archive, &format!("part{i}.bin"), 250 << 20);
    }
    refused(
        &archive,
        &["more than the 1073741824 bytes a package may hold in all"],
    );
}

#[test]
fn hostile_zip_bomb_holding_more_than_it_declares() {
    // 64 MiB of zeros deflate to a few dozen KiB; the headers claim 1000 bytes.
    let zeros = vec![0u8; 64 << 20];
    let mut archive = Builder::good()
        .file_claiming("bomb.bin", &zeros, &zeros[..1000])
        .finish();
    declare_size(&mut archive, "bomb.bin", 1000);
    assert!(
        archive.len() < 1 << 20,
        "the bomb is small: {} bytes",
        archive.len()
    );
    refused(
        &archive,
        &[
            "entry `bomb.bin`",
            "holds more than the 1000 bytes its header declares",
        ],
    );
}

#[test]
fn hostile_truncated_archive() {
    let s = Scratch::new();
    s.ok(&[
        "pack",
        path_str(&example("effects-python")),
        "-o",
        "whole.plexpkg",
    ]);
    let whole = std::fs::read(s.path().join("whole.plexpkg")).unwrap();
    for keep in [whole.len() / 2, whole.len() - 10] {
        refused(&whole[..keep], &["not a readable package archive"]);
    }
    // Cut inside an entry's data, with the directory intact: the bytes of
    // the entry no longer inflate to what was packed.
    let mut corrupt = whole.clone();
    let mut zip = ZipArchive::new(Cursor::new(&whole)).unwrap();
    let start = zip.by_name("effects.py").unwrap().data_start() as usize;
    corrupt[start..start + 8].fill(0xff);
    let mut probe = Vec::new();
    let inflates = ZipArchive::new(Cursor::new(&corrupt))
        .unwrap()
        .by_name("effects.py")
        .unwrap()
        .read_to_end(&mut probe)
        .is_ok();
    assert!(!inflates, "the damage is real");
    refused(&corrupt, &["entry `effects.py`"]);
}

#[test]
fn hostile_manifest_declaring_an_unknown_runtime_or_schema() {
    refused(
        &Builder::new()
            .file(
                "plexus.yaml",
                MANIFEST
                    .replace("runtime: python", "runtime: cobol")
                    .as_bytes(),
            )
            .file("m.py", b"x")
            .finish(),
        &["plexus.yaml", "unknown variant `cobol`"],
    );
    refused(
        &Builder::new()
            .file(
                "plexus.yaml",
                MANIFEST
                    .replace("schema: any", "schema: video/rgb565")
                    .as_bytes(),
            )
            .file("m.py", b"x")
            .finish(),
        &[
            "plexus.yaml",
            "input `in` has unknown schema `video/rgb565`",
        ],
    );
}
