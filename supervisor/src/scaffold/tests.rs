use super::*;
use crate::load::catalog::Catalog;
use crate::load::pipeline::Pipeline;
use crate::load::plan::plan;

const LANGS: [&str; 3] = ["rust", "python", "deno"];

fn lang(name: &str) -> Lang {
    crate::language::by_name(name).unwrap()
}

#[test]
fn names_follow_the_package_name() {
    let n = Names::of(lang("rust"), "acme.edge-glow_2").unwrap();
    assert_eq!(n.class, "EdgeGlow2");
    assert_eq!(n.crate_name, "acme-edge-glow_2");
    assert_eq!(n.library, "libacme_edge_glow_2.so");
    assert_eq!(
        Names::of(lang("python"), "none").unwrap().class,
        "NoneProcessor"
    );
    assert_eq!(
        Names::of(lang("python"), "self").unwrap().class,
        "SelfProcessor"
    );
}

#[test]
fn bad_names_are_refused_in_one_sentence() {
    for bad in ["Acme", "../x", "acme..x", "acme.2x", "", "a b"] {
        let err = Names::of(lang("python"), bad).unwrap_err().to_string();
        assert!(err.contains("is not a package name"), "{bad}: {err}");
    }
    let err = Names::of(lang("rust"), "self").unwrap_err().to_string();
    assert!(err.contains("`self` is reserved in Rust"), "{err}");
}

#[test]
fn every_placeholder_is_filled() {
    for name in LANGS {
        let lang = lang(name);
        let names = Names::of(lang, "acme.brighten").unwrap();
        for kind in [Kind::Effect, Kind::Source] {
            for (path, text) in files(lang, kind, &names) {
                if !path.starts_with("vendor/") && path != "Cargo.lock" {
                    assert!(!text.contains("{{"), "{lang:?} {kind:?} {path}:\n{text}");
                }
            }
        }
    }
}

/// The generated manifest and pipeline pass every check `plexus validate`
/// makes (for Python and Deno, which need no build).
#[test]
fn the_generated_pipeline_validates() {
    let parent = tempfile::tempdir().unwrap();
    for lang in [lang("python"), lang("deno")] {
        for (kind, processors) in [(Kind::Effect, 3), (Kind::Source, 2)] {
            let name = format!("acme.{}-{kind:?}", lang.name()).to_lowercase();
            let dir = create(lang, kind, &name, parent.path()).unwrap();
            let pipeline = Pipeline::load(&dir.join(PIPELINE_FILE)).unwrap();
            let catalog = Catalog::for_pipeline(&pipeline).unwrap();
            let plan = plan(&pipeline, &catalog).unwrap_or_else(|e| panic!("{lang:?}: {e}"));
            assert_eq!(plan.processors.len(), processors);
        }
    }
}

#[test]
fn an_existing_directory_is_left_alone() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("acme.fx");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep"), "mine").unwrap();
    let err = create(lang("rust"), Kind::Effect, "acme.fx", parent.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("acme.fx: already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("keep")).unwrap(), "mine");
    let entries = std::fs::read_dir(parent.path()).unwrap().count();
    assert_eq!(entries, 1, "nothing else was written");
    let err = create(
        lang("rust"),
        Kind::Effect,
        "acme.fx",
        &parent.path().join("missing"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn a_rust_package_carries_the_sdk_and_a_lock() {
    let parent = tempfile::tempdir().unwrap();
    let dir = create(lang("rust"), Kind::Effect, "acme.fx", parent.path()).unwrap();
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "src/lib.rs",
        "vendor/plugin-sdk/src/lib.rs",
        "vendor/frame/src/frame.rs",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"acme-fx\"") && cargo.contains("[workspace]"));
    let manifest = std::fs::read_to_string(dir.join("plexus.yaml")).unwrap();
    assert!(manifest.contains("entry: libacme_fx.so"), "{manifest}");
}
