//! Panels from packages (docs/panels.md), everywhere but the dashboard: a
//! manifest's `panels:` are refused by `validate`, `pack` and `pkg install`
//! with one sentence naming the file and field; a good panel is packed,
//! installed and shown by `pkg inspect` and `describe`; an archive whose
//! panel module was changed after packing is refused by its checksum.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use integration_tests::store::{path_arg, Scratch};
use integration_tests::{assert_matches_schema, example_package, fixture};
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

/// Each refused fixture and what its sentence says after
/// `<fixture>/plexus.yaml: `.
const REFUSED: [(&str, &str); 5] = [
    (
        "dotdot",
        "panels[0].module `ui/../view.js` must not contain `..`: a panel module stays inside the package's ui/ directory",
    ),
    (
        "missing",
        "panels[0].module `ui/absent.js` does not exist in the package",
    ),
    (
        "foreign-type",
        "panels[0].types names `example.invert`, which this package does not declare (it declares test.refused_pass)",
    ),
    (
        "missing-port",
        "panels[0].ports names `histogram`, which processor type `test.refused_pass` does not have (its ports: in, out)",
    ),
    (
        "symlink",
        "panels[0].module `ui/link.js` is or lies under a symbolic link; a panel module must be a regular file inside the package",
    ),
];

#[test]
fn validate_pack_and_install_refuse_each_bad_panel_with_one_sentence() {
    let s = Scratch::new();
    // Installing anything first creates the store, so the refusals below
    // are seen to leave an existing store as it was.
    s.ok(&["pkg", "install", path_arg(&fixture("panel-hostile"))]);
    let before = s.snapshot();
    for (case, sentence) in REFUSED {
        let dir = fixture(&format!("panel-refused/{case}"));
        let expected = format!(
            "plexus: error: {}: {sentence}",
            dir.join("plexus.yaml").display()
        );
        let pipeline = s.path().join(format!("{case}.yaml"));
        std::fs::write(
            &pipeline,
            format!(
                "name: refused\npackages: [{}]\nprocessors:\n  src: {{ type: builtin.test_pattern }}\n  p: {{ type: test.refused_pass }}\n  sink: {{ type: builtin.stats_sink }}\nconnections:\n  - src.out -> p.in\n  - p.out -> sink.in\n",
                dir.display()
            ),
        )
        .unwrap();
        let archive = s.path().join(format!("{case}.plexpkg"));
        let commands: [Vec<&str>; 3] = [
            vec!["validate", path_arg(&pipeline)],
            vec!["pack", path_arg(&dir), "-o", path_arg(&archive)],
            vec!["pkg", "install", path_arg(&dir)],
        ];
        for args in commands {
            let run = s.plexus(&args);
            assert_eq!(run.refusal(), expected, "plexus {args:?}");
        }
        std::fs::remove_file(&pipeline).unwrap();
        assert_eq!(s.snapshot(), before, "{case} changed the scratch directory");
    }
}

/// The entries of a zip archive, in order, with their bytes.
fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = ZipArchive::new(Cursor::new(archive)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn a_package_panel_is_packed_installed_inspected_and_described() {
    let s = Scratch::new();
    let archive = s.path().join("effects.plexpkg");
    s.ok(&[
        "pack",
        path_arg(&example_package("effects-python")),
        "-o",
        path_arg(&archive),
    ]);
    let packed = entries(&std::fs::read(&archive).unwrap());
    let module = packed
        .iter()
        .find(|(name, _)| name == "ui/histogram.js")
        .expect("the panel module is in the archive");
    assert_eq!(
        module.1,
        std::fs::read(example_package("effects-python").join("ui/histogram.js")).unwrap()
    );

    let expected = serde_json::json!([{
        "module": "ui/histogram.js",
        "types": ["example.invert"],
        "ports": ["in"],
        "title": "Luminance histogram",
    }]);
    // The archive, before it is installed, and the installed package.
    let of_archive = json(&s.ok(&["pkg", "inspect", path_arg(&archive), "--json"]));
    assert_matches_schema("package", &of_archive);
    assert_eq!(of_archive["panels"], expected);
    s.ok(&["pkg", "install", path_arg(&archive)]);
    assert!(s
        .data()
        .join("packages/example.effects/0.1.0/ui/histogram.js")
        .is_file());
    let installed = json(&s.ok(&["pkg", "inspect", "example.effects", "--json"]));
    assert_matches_schema("package", &installed);
    assert_eq!(installed["panels"], expected);
    let text = s.ok(&["pkg", "inspect", "example.effects"]);
    assert!(
        text.contains(
            "panel ui/histogram.js \"Luminance histogram\": types example.invert, ports in\n"
        ),
        "{text}"
    );

    let described = json(&s.ok(&["describe", "example.invert", "--json"]));
    assert_matches_schema("processor-type", &described);
    assert_eq!(described["panels"], expected);
    let text = s.ok(&["describe", "example.invert"]);
    assert!(text.contains("    panel ui/histogram.js"), "{text}");
    // A builtin has no panels, and says so as an empty list.
    let builtin = json(&s.ok(&["describe", "builtin.stats_sink", "--json"]));
    assert_eq!(builtin["panels"], serde_json::json!([]));
}

/// Packs the hostile fixture and rebuilds its archive with `change` made
/// to its entries; returns the rebuilt archive's path.
fn altered_archive(
    s: &Scratch,
    name: &str,
    change: impl FnOnce(&mut Vec<(String, Vec<u8>)>),
) -> std::path::PathBuf {
    let packed = s.path().join("hostile.plexpkg");
    s.ok(&[
        "pack",
        path_arg(&fixture("panel-hostile")),
        "-o",
        path_arg(&packed),
    ]);
    let mut all = entries(&std::fs::read(&packed).unwrap());
    change(&mut all);
    let path = s.path().join(name);
    std::fs::write(&path, zip_of(&all)).unwrap();
    path
}

fn assert_refused_untouched(s: &Scratch, archive: &Path, sentence: &str) {
    let before = s.snapshot();
    for args in [
        vec!["pkg", "install", path_arg(archive)],
        vec!["pkg", "inspect", path_arg(archive), "--json"],
    ] {
        let run = s.plexus(&args);
        assert_eq!(
            run.refusal(),
            format!("plexus: error: {}: {sentence}", archive.display()),
            "plexus {args:?}"
        );
    }
    assert_eq!(s.snapshot(), before);
    assert!(!s.data().join("packages/test.panel_hostile").exists());
}

#[test]
fn an_archive_whose_panel_changed_after_packing_is_refused() {
    let s = Scratch::new();
    let altered = altered_archive(&s, "altered.plexpkg", |all| {
        let (_, bytes) = all
            .iter_mut()
            .find(|(name, _)| name == "ui/probe.js")
            .expect("the module was packed");
        bytes.extend_from_slice(b"\nparent.postMessage('escaped', '*');\n");
    });
    assert_refused_untouched(
        &s,
        &altered,
        "entry `ui/probe.js` does not match its checksum in SHA256SUMS",
    );

    // Left out with its checksum line, the module is missed by name.
    let without = altered_archive(&s, "without.plexpkg", |all| {
        all.retain(|(name, _)| name != "ui/probe.js");
        let (_, sums) = all
            .iter_mut()
            .find(|(name, _)| name == "SHA256SUMS")
            .unwrap();
        let kept: String = String::from_utf8(sums.clone())
            .unwrap()
            .lines()
            .filter(|l| !l.ends_with("  ui/probe.js"))
            .map(|l| format!("{l}\n"))
            .collect();
        *sums = kept.into_bytes();
    });
    let label = format!("{}:plexus.yaml", without.display());
    let run = s.plexus(&["pkg", "install", path_arg(&without)]);
    assert_eq!(
        run.refusal(),
        format!("plexus: error: {label}: panels[0].module `ui/probe.js` is not in the archive")
    );
    assert!(!s.data().join("packages/test.panel_hostile").exists());
}
