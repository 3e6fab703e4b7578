//! The panels a running pipeline offers the dashboard (docs/panels.md): for
//! each package a pipeline's processors come from, the panels it declares,
//! with the processors each is mounted beside, and the module's source,
//! read with the checks the package got when it loaded. The dashboard links
//! no package code: it only serves what this gives it.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::UserError;
use crate::load::catalog::Origin;
use crate::load::load_plan;
use crate::load::plan::Plan;
use crate::package::manifest::panels::read_module;
use crate::package::manifest::MANIFEST_FILE;

/// One panel of one package, as a pipeline uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PanelInfo {
    pub package: String,
    pub version: String,
    /// The module's path in the package, e.g. `ui/histogram.js`.
    pub module: String,
    /// The processor types of the package it serves.
    pub types: Vec<String>,
    /// The ports of those types it reads.
    pub ports: Vec<String>,
    pub title: Option<String>,
    /// The pipeline's processors (ids, in pipeline order) whose type it
    /// serves: where it is mounted.
    pub processors: Vec<String>,
    /// The package directory, where the module is read from.
    #[serde(skip)]
    dir: PathBuf,
}

impl PanelInfo {
    /// The module's source: a regular file under the package's `ui/`, no
    /// symbolic link on the way, at most 256 KiB, UTF-8, as when the package
    /// was loaded (it may have changed on disk since).
    pub fn source(&self) -> Result<String, UserError> {
        read_module(&self.dir, &self.module).map_err(|m| {
            UserError::in_file(&self.dir.join(MANIFEST_FILE), format!("panel module {m}"))
        })
    }
}

/// The panels of the packages `plan`'s processors come from, each with the
/// processors it serves, by package, then in the manifest's order. A panel
/// whose types no processor of the pipeline has is left out: there is
/// nothing to mount it beside.
pub fn of_plan(plan: &Plan) -> Vec<PanelInfo> {
    let mut panels: Vec<PanelInfo> = Vec::new();
    for processor in &plan.processors {
        let Origin::Package {
            name,
            dir,
            version,
            panels: declared,
            ..
        } = &processor.origin
        else {
            continue;
        };
        let type_name = &processor.spec.type_name;
        for decl in declared.iter().filter(|d| d.types.contains(type_name)) {
            let version = version.to_string();
            let same = |p: &&mut PanelInfo| {
                p.package == *name && p.version == version && p.module == decl.module
            };
            match panels.iter_mut().find(same) {
                Some(panel) => panel.processors.push(processor.spec.id.clone()),
                None => panels.push(PanelInfo {
                    package: name.clone(),
                    version,
                    module: decl.module.clone(),
                    types: decl.types.clone(),
                    ports: decl.ports.clone(),
                    title: decl.title.clone(),
                    processors: vec![processor.spec.id.clone()],
                    dir: dir.clone(),
                }),
            }
        }
    }
    panels.sort_by(|a, b| (&a.package, &a.version).cmp(&(&b.package, &b.version)));
    panels
}

/// The panels of the pipeline runtime `runtime` was started with, as its
/// run journal names the file (the way `plexus graph --runtime` finds it).
pub fn panels_of_runtime(runtime: &str) -> Result<Vec<PanelInfo>, UserError> {
    let (file, pipeline) = crate::graph::live::started_with(runtime).ok_or_else(|| {
        UserError::Plain(format!(
            "cannot tell which pipeline file runtime {} was started with: the run journal has no such run",
            crate::error::excerpt(runtime)
        ))
    })?;
    let plan = load_plan(&file)?;
    if plan.name != pipeline {
        return Err(UserError::in_file(
            &file,
            format!(
                "runtime {runtime} runs pipeline `{pipeline}`, but the file now names `{}`, so its panels cannot be told",
                crate::error::excerpt(&plan.name)
            ),
        ));
    }
    Ok(of_plan(&plan))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A package of two types, a panel serving both and one serving one,
    /// and a pipeline with two processors of the first type.
    fn pipeline(tmp: &Path) -> PathBuf {
        let pkg = tmp.join("pkg");
        std::fs::create_dir_all(pkg.join("ui")).unwrap();
        std::fs::write(
            pkg.join("ui/both.js"),
            "export default function mount() {}\n",
        )
        .unwrap();
        std::fs::write(
            pkg.join("ui/one.mjs"),
            "export default function mount() {}\n",
        )
        .unwrap();
        std::fs::write(pkg.join("fx.py"), "class A: pass\nclass B: pass\n").unwrap();
        std::fs::write(
            pkg.join(MANIFEST_FILE),
            r#"
package: { name: acme.fx, version: 1.2.0 }
processors:
  - { name: acme.a, language: python, entry: fx:A, mode: reactive, inputs: [{ name: in, schema: video/rgba8 }], outputs: [{ name: out, schema: video/rgba8 }] }
  - { name: acme.b, language: python, entry: fx:B, mode: reactive, inputs: [{ name: in, schema: video/rgba8 }], outputs: [{ name: out, schema: video/rgba8 }] }
panels:
  - { module: ui/both.js, types: [acme.a, acme.b], ports: [in], title: Both }
  - { module: ui/one.mjs, types: [acme.b], ports: [out] }
"#,
        )
        .unwrap();
        let path = tmp.join("pipeline.yaml");
        std::fs::write(
            &path,
            r#"
name: panels
packages: [pkg]
processors:
  src: { type: builtin.test_pattern, config: { width: 8, height: 8 } }
  first: { type: acme.a, worker: py }
  second: { type: acme.a, worker: py }
  sink: { type: builtin.stats_sink }
connections:
  - src.out -> first.in
  - first.out -> second.in
  - second.out -> sink.in
"#,
        )
        .unwrap();
        path
    }

    #[test]
    fn a_plan_gives_the_panels_that_serve_its_processors() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = load_plan(&pipeline(tmp.path())).unwrap_or_else(|e| panic!("{e}"));
        let panels = of_plan(&plan);
        // ui/one.mjs serves only acme.b, which no processor has.
        assert_eq!(panels.len(), 1, "{panels:?}");
        let panel = &panels[0];
        assert_eq!(
            (panel.package.as_str(), panel.version.as_str()),
            ("acme.fx", "1.2.0")
        );
        assert_eq!(panel.module, "ui/both.js");
        assert_eq!(panel.types, ["acme.a", "acme.b"]);
        assert_eq!(panel.ports, ["in"]);
        assert_eq!(panel.title.as_deref(), Some("Both"));
        assert_eq!(panel.processors, ["first", "second"]);
        assert_eq!(
            panel.source().unwrap(),
            "export default function mount() {}\n"
        );
        let json = serde_json::to_value(panel).unwrap();
        assert!(json.get("dir").is_none(), "{json}");
        assert_eq!(json["processors"][1], "second");
    }

    #[test]
    fn a_module_changed_since_loading_is_checked_again() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = load_plan(&pipeline(tmp.path())).unwrap();
        let panel = of_plan(&plan).remove(0);
        let module = tmp.path().join("pkg/ui/both.js");
        std::fs::remove_file(&module).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &module).unwrap();
        let err = panel.source().unwrap_err().to_string();
        assert!(
            err.contains("plexus.yaml: panel module `ui/both.js` is or lies under a symbolic link"),
            "{err}"
        );
    }

    #[test]
    fn a_pipeline_of_builtins_has_no_panels() {
        let (_tmp, path) = {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("p.yaml");
            std::fs::write(
                &path,
                "name: plain\nprocessors:\n  src: { type: builtin.test_pattern }\n  sink: { type: builtin.stats_sink }\nconnections:\n  - src.out -> sink.in\n",
            )
            .unwrap();
            (tmp, path)
        };
        assert!(of_plan(&load_plan(&path).unwrap()).is_empty());
    }

    #[test]
    fn a_runtime_the_journal_does_not_know_is_named() {
        let err = panels_of_runtime("../../etc").unwrap_err().to_string();
        assert!(err.contains("runtime ../../etc"), "{err}");
    }
}
