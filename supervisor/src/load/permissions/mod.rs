//! From what a processor's manifest declares and what the pipeline says
//! about it (`sandbox:`, `permissions:` to narrow, `allow:` to widen) to
//! what its worker may do (docs/ARCHITECTURE.md §15): absolute paths, the
//! mode each processor runs in, and what the pipeline granted beyond the
//! package, which `run` prints at start. The pipeline may narrow in silence
//! but widens only by saying so.

use std::path::{Component, Path, PathBuf};

use ipc_schemas::{Permissions, SandboxMode};
use serde_json::{Map, Value};

use crate::error::excerpt;
use crate::load::catalog::{Origin, TypeInfo};
use crate::load::pipeline::ProcessorEntry;
use crate::package::manifest::permissions::{
    endpoint, listen_port, path_spec, PathKind, PathSpec, Scope,
};
use crate::package::manifest::PermissionsDecl;

pub mod banner;
pub mod granted;
pub mod write_dirs;

use granted::Granted;

/// A processor of a pipeline, with what its permissions are resolved from.
pub struct Request<'a> {
    pub id: &'a str,
    pub info: &'a TypeInfo,
    pub entry: &'a ProcessorEntry,
    /// The pipeline's `sandbox:`.
    pub pipeline_mode: Option<SandboxMode>,
    /// Its config, defaults filled in: `{config.KEY}` paths come from it.
    pub config: &'a Map<String, Value>,
    /// The pipeline's directory, absolute.
    pub pipeline_dir: &'a Path,
}

/// The mode of a processor the pipeline says nothing about: packages
/// installed or packed (someone else's code) and the builtins are held
/// strictly; a package directory being worked on only warns.
pub fn default_mode(origin: &Origin) -> SandboxMode {
    match origin {
        Origin::Builtin | Origin::Remote { .. } | Origin::Package { sealed: true, .. } => {
            SandboxMode::Strict
        }
        Origin::Package { sealed: false, .. } => SandboxMode::Declared,
    }
}

/// Resolves what `request`'s processor may do; the error is one sentence
/// naming the field, for the caller to prefix with the processor.
pub fn grant(request: &Request) -> Result<Granted, String> {
    let entry = request.entry;
    let mode = entry
        .sandbox
        .or(request.pipeline_mode)
        .unwrap_or_else(|| default_mode(&request.info.origin));
    let package_dir = match &request.info.origin {
        Origin::Builtin | Origin::Remote { .. } => None,
        Origin::Package { dir, .. } => Some(dir.as_path()),
    };
    let decl = &request.info.decl;
    let declared = resolve(
        &decl.permissions,
        Scope::Manifest(&decl.config),
        package_dir,
        request,
    )?;
    let mut permissions = declared.clone();
    if let Some(narrower) = &entry.permissions {
        narrower.check("permissions", Scope::Pipeline)?;
        let wanted = resolve(narrower, Scope::Pipeline, None, request)?;
        narrow(&mut permissions, &declared, narrower, wanted)?;
    }
    let allowed = match &entry.allow {
        Some(allow) => {
            allow.check("allow", Scope::Pipeline)?;
            resolve(allow, Scope::Pipeline, None, request)?
        }
        None => Permissions::default(),
    };
    let mut permissions = permissions.union(&allowed);
    for (kind, paths) in [
        ("read", &mut permissions.read),
        ("devices", &mut permissions.devices),
    ] {
        paths.retain(|path| {
            let there = path.exists();
            if !there {
                tracing::debug!(
                    "processor `{}`: {kind} {} is left out: it does not exist",
                    request.id,
                    path.display()
                );
            }
            there
        });
    }
    Ok(Granted {
        mode,
        permissions,
        allowed,
    })
}

/// A checked block as absolute paths and parsed endpoints; a field left
/// out is empty. Relative paths are the package's (`package_dir`) in a
/// manifest, the pipeline's otherwise.
fn resolve(
    decl: &PermissionsDecl,
    scope: Scope,
    package_dir: Option<&Path>,
    request: &Request,
) -> Result<Permissions, String> {
    let mut out = Permissions::default();
    for kind in PathKind::ALL {
        let list = match kind {
            PathKind::Read => &mut out.read,
            PathKind::Write => &mut out.write,
            PathKind::Devices => &mut out.devices,
        };
        for text in decl.paths(kind).unwrap_or_default() {
            let spec = path_spec(text, scope).expect("checked when the file was read");
            let path = match (spec, scope) {
                (PathSpec::Absolute(path), _) => path.to_path_buf(),
                (PathSpec::Relative(path), Scope::Pipeline) => request.pipeline_dir.join(path),
                (PathSpec::Relative(path), Scope::Manifest(_)) => match package_dir {
                    Some(dir) => dir.join(path),
                    None => {
                        return Err(format!(
                            "permissions.{} `{}` is relative to a package directory, which a builtin has none of",
                            kind.name(),
                            excerpt(text)
                        ))
                    }
                },
                (PathSpec::Config { key, rest }, _) => {
                    match request.config.get(key).and_then(Value::as_str) {
                        Some(value) if !value.is_empty() => {
                            request.pipeline_dir.join(value).join(rest)
                        }
                        _ => {
                            tracing::debug!(
                                "processor `{}`: {} {text} is left out: config `{key}` is not set",
                                request.id,
                                kind.name()
                            );
                            continue;
                        }
                    }
                }
            };
            list.push(settle(&path));
        }
    }
    for text in decl.connect().unwrap_or_default() {
        out.connect
            .push(endpoint(text).expect("checked when the file was read"));
    }
    for &port in decl.listen().unwrap_or_default() {
        out.listen
            .push(listen_port(port).expect("checked when the file was read"));
    }
    out.spawn = decl.spawn.unwrap_or(false);
    // Sorted and without repeats, as every resolved list is.
    Ok(out.union(&Permissions::default()))
}

/// Replaces each field the pipeline's `permissions:` names with its
/// entries, each of which must lie within what the package declared.
fn narrow(
    permissions: &mut Permissions,
    declared: &Permissions,
    block: &PermissionsDecl,
    wanted: Permissions,
) -> Result<(), String> {
    let widens = |field: &str, what: String| {
        Err(format!(
            "the pipeline widens `permissions.{field}`: {what} is not within what the package declares; a pipeline grants more with `allow:`, which is printed at start"
        ))
    };
    // Writing includes reading: a declared write path may be narrowed to
    // reading it.
    let readable: Vec<PathBuf> = [&declared.read[..], &declared.write[..]].concat();
    for (kind, given, within) in [
        (PathKind::Read, &wanted.read, &readable),
        (PathKind::Write, &wanted.write, &declared.write),
        (PathKind::Devices, &wanted.devices, &declared.devices),
    ] {
        if block.paths(kind).is_none() {
            continue;
        }
        if let Some(path) = given
            .iter()
            .find(|p| !within.iter().any(|d| p.starts_with(d)))
        {
            return widens(kind.name(), path.display().to_string());
        }
        let list = match kind {
            PathKind::Read => &mut permissions.read,
            PathKind::Write => &mut permissions.write,
            PathKind::Devices => &mut permissions.devices,
        };
        *list = given.clone();
    }
    if block.connect().is_some() {
        if let Some(e) = wanted
            .connect
            .iter()
            .find(|e| !declared.connect.contains(e))
        {
            return widens("network.connect", e.to_string());
        }
        permissions.connect = wanted.connect;
    }
    if block.listen().is_some() {
        if let Some(port) = wanted.listen.iter().find(|p| !declared.listen.contains(p)) {
            return widens("network.listen", format!("port {port}"));
        }
        permissions.listen = wanted.listen;
    }
    if let Some(spawn) = block.spawn {
        if spawn && !declared.spawn {
            return widens("spawn", "starting processes".to_string());
        }
        permissions.spawn = spawn;
    }
    Ok(())
}

/// `path` absolute and without `.` or `..`, with the links of the part
/// that exists resolved, so comparisons and the kernel see the same file.
fn settle(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let mut existing = clean.as_path();
    let mut beneath = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return beneath.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                beneath.push(name.to_owned());
                existing = parent;
            }
            _ => return clean,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ipc_schemas::{Endpoint, SandboxMode};

    use super::banner::{banner, items, Notice};
    use super::granted::SandboxUnavailable;
    use super::write_dirs::make_write_dirs;
    use crate::load::pipeline::Pipeline;
    use crate::load::plan::Plan;
    use crate::load::plan_pipeline;

    /// A package `acme.fx` beside a pipeline in a fresh directory; its one
    /// processor `acme.fx.net` declares `permissions` (YAML flow text).
    fn setup(permissions: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("fx");
        std::fs::create_dir_all(pkg.join("models/small")).unwrap();
        std::fs::write(
            pkg.join("plexus.yaml"),
            format!(
                "package: {{ name: acme.fx, version: 1.0.0 }}\nprocessors:\n  - name: acme.fx.net\n    language: python\n    entry: m:C\n    mode: manual\n    outputs: [{{ name: out, schema: video/rgba8 }}]\n    config: {{ out: {{ type: string, default: results }} }}\n    permissions: {permissions}\n"
            ),
        )
        .unwrap();
        tmp
    }

    fn plan(tmp: &Path, extra_top: &str, entry: &str) -> Result<Plan, String> {
        let text = format!(
            "name: p\npackages: [fx]\n{extra_top}processors:\n  net: {{ type: acme.fx.net{entry} }}\n  png: {{ type: builtin.png_sink, config: {{ dir: frames }} }}\n  cam: {{ type: builtin.v4l2_camera, config: {{ device: /dev/null }} }}\nconnections: [net.out -> png.in]\n"
        );
        let path = tmp.join("pipeline.yaml");
        Pipeline::parse(&path, &text)
            .and_then(|pipeline| plan_pipeline(&pipeline))
            .map_err(|e| e.to_string())
    }

    fn granted<'a>(plan: &'a Plan, id: &str) -> &'a super::Granted {
        &plan
            .processors
            .iter()
            .find(|p| p.spec.id == id)
            .unwrap()
            .sandbox
    }

    const DECLARED: &str = "{ read: [models], write: ['{config.out}'], network: { connect: ['api.example.com:443', 'b.example.com:80'], listen: [8080] } }";

    #[test]
    fn declared_paths_become_absolute_and_modes_follow_the_source() {
        let tmp = setup(DECLARED);
        let plan = plan(tmp.path(), "", "").unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let net = granted(&plan, "net");
        // A package directory under development only warns.
        assert_eq!(net.mode, SandboxMode::Declared);
        assert_eq!(net.permissions.read, [root.join("fx/models")]);
        // Config paths are the pipeline's; made at start, not now.
        assert_eq!(net.permissions.write, [root.join("results")]);
        assert!(!root.join("results").exists());
        assert_eq!(net.permissions.listen, [8080]);
        assert!(net.allowed.is_empty());
        // Builtins are held strictly and get exactly their config's paths.
        let png = granted(&plan, "png");
        assert_eq!(png.mode, SandboxMode::Strict);
        assert_eq!(png.permissions.write, [root.join("frames")]);
        let cam = granted(&plan, "cam");
        assert_eq!(cam.permissions.devices, [Path::new("/dev/null")]);
        let worker = plan.workers.iter().find(|w| w.name == "net").unwrap();
        assert_eq!(worker.sandbox.processors["net"], net.permissions);
        assert_eq!(plan.sandbox_unavailable, SandboxUnavailable::Warn);

        make_write_dirs(&plan).unwrap();
        assert!(root.join("results").is_dir() && root.join("frames").is_dir());
    }

    #[test]
    fn missing_read_paths_are_left_out() {
        let tmp = setup("{ read: [models, absent] }");
        let plan = plan(tmp.path(), "", "").unwrap();
        let root = tmp.path().canonicalize().unwrap();
        assert_eq!(
            granted(&plan, "net").permissions.read,
            [root.join("fx/models")]
        );
    }

    #[test]
    fn the_pipeline_narrows_per_field() {
        let tmp = setup(DECLARED);
        let narrowed = ", permissions: { read: [fx/models/small], network: { connect: ['b.example.com:80'] }, spawn: false }";
        let plan = plan(tmp.path(), "", narrowed).unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let net = &granted(&plan, "net").permissions;
        assert_eq!(net.read, [root.join("fx/models/small")]);
        assert_eq!(
            net.connect,
            [Endpoint {
                host: "b.example.com".into(),
                port: 80
            }]
        );
        // Fields the pipeline does not name keep the package's.
        assert_eq!(net.write, [root.join("results")]);
        assert_eq!(net.listen, [8080]);
    }

    #[test]
    fn the_pipeline_may_not_widen_through_permissions() {
        let tmp = setup(DECLARED);
        let cases = [
            (
                "{ read: [/etc] }",
                "widens `permissions.read`: /etc is not within",
            ),
            ("{ write: [fx/models] }", "widens `permissions.write`"),
            (
                "{ network: { connect: ['evil.example.com:443'] } }",
                "widens `permissions.network.connect`: evil.example.com:443",
            ),
            (
                "{ network: { listen: [9090] } }",
                "widens `permissions.network.listen`: port 9090",
            ),
            ("{ spawn: true }", "widens `permissions.spawn`"),
            ("{ devices: [/dev/null] }", "widens `permissions.devices`"),
        ];
        for (block, expected) in cases {
            let err = plan(tmp.path(), "", &format!(", permissions: {block}")).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "{}: processor `net`: ",
                    tmp.path().join("pipeline.yaml").display()
                )) && err.contains(expected)
                    && err.contains("`allow:`"),
                "{block}: {err}"
            );
        }
    }

    #[test]
    fn allow_widens_and_is_remembered() {
        let tmp = setup("{}");
        let allow = ", allow: { read: [/usr/share], network: { connect: ['example.com:443'] } }";
        let plan = plan(tmp.path(), "", allow).unwrap();
        let net = granted(&plan, "net");
        assert_eq!(
            banner(&plan),
            [Notice::Allowed(
                "processor `net` is allowed beyond its package's permissions: read /usr/share, connect example.com:443".into()
            )]
        );
        assert_eq!(net.permissions.read, [Path::new("/usr/share")]);
        assert_eq!(net.allowed, net.permissions);
        assert_eq!(
            items(&net.allowed),
            ["read /usr/share", "connect example.com:443"]
        );
        let bad = plan_err(tmp.path(), ", allow: { network: { listen: [0] } }");
        assert!(
            bad.contains("processor `net`: allow.network.listen port 0"),
            "{bad}"
        );
    }

    fn plan_err(tmp: &Path, entry: &str) -> String {
        plan(tmp, "", entry).unwrap_err()
    }

    #[test]
    fn modes_come_from_the_processor_then_the_pipeline() {
        let tmp = setup("{}");
        let plan = plan(
            tmp.path(),
            "sandbox: off\nsandbox_unavailable: refuse\n",
            ", sandbox: strict",
        )
        .unwrap();
        assert_eq!(granted(&plan, "net").mode, SandboxMode::Strict);
        assert_eq!(granted(&plan, "png").mode, SandboxMode::Off);
        let off = |id: &str| {
            Notice::Unconfined(format!(
                "processor `{id}` runs with no sandbox (sandbox: off in the pipeline)"
            ))
        };
        assert_eq!(banner(&plan), [off("png"), off("cam")]);
        assert_eq!(plan.sandbox_unavailable, SandboxUnavailable::Refuse);
        let bad = plan_err(tmp.path(), ", sandbox: loose");
        assert!(bad.contains("unknown variant `loose`"), "{bad}");
    }

    #[test]
    fn a_worker_runs_in_its_strictest_processors_mode() {
        let tmp = setup("{ read: [models] }");
        let text = "name: p\npackages: [fx]\nsandbox: off\nprocessors:\n  a: { type: acme.fx.net, worker: w }\n  b: { type: acme.fx.net, worker: w, sandbox: declared }\n";
        let path = tmp.path().join("pipeline.yaml");
        let plan = plan_pipeline(&Pipeline::parse(&path, text).unwrap()).unwrap();
        let w = &plan.workers[0].sandbox;
        assert_eq!(w.mode, SandboxMode::Declared);
        assert_eq!(w.processors.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn settled_paths_have_no_dots_and_real_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        assert_eq!(
            super::settle(&real.join("link/./a/../b/c")),
            real.join("b/c")
        );
    }
}
