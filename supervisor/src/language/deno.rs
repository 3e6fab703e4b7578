//! TypeScript processors, run by Deno. A worker is the `deno` executable
//! running plexus's host script, which loads the Deno bridge library over
//! FFI. What it needs before it can start: a `deno` executable
//! (an explicit `PLEXUS_DENO`, then `PATH`, then plexus's cache, where a
//! pinned version is installed from the npm registry on first use), the
//! worker's FFI library, and the TypeScript host and SDK. The host and SDK
//! ship inside `plexus` and are written to the cache, so a worker's read
//! permission can name exactly that directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use ipc_schemas::{DenoCreate, Entry, Permissions, ProcessorSpec};

use super::{
    canonical, entry_paths, nothing_verbatim, relative_path, Declared, Hosted, Language, Launch,
    ProcessorFile, SharedMemory, Template,
};
use crate::provision::installer::run_logged;
use crate::provision::{self, cache};

/// The deno release plexus installs when none is found.
pub const DENO_VERSION: &str = "2.9.6";

/// The host script and SDK (`plexus.ts` and the module it imports), as
/// `(file name, contents)`.
const SDK_FILES: [(&str, &str); 3] = [
    ("host.ts", include_str!("../../../worker-deno/ts/host.ts")),
    (
        "plexus.ts",
        include_str!("../../../worker-deno/ts/plexus.ts"),
    ),
    (
        "shapes.ts",
        include_str!("../../../worker-deno/ts/shapes.ts"),
    ),
];

pub struct Deno;

impl Language for Deno {
    fn name(&self) -> &'static str {
        "deno"
    }

    fn entry_fits(&self, entry: &str) -> bool {
        split_entry(entry).is_some()
    }

    fn entry_form(&self) -> &'static str {
        "`file.ts#ExportName`, the file inside the package"
    }

    fn resolve(&self, declared: &Declared) -> Result<Entry, String> {
        let (file, export) = split_entry(declared.entry).expect("checked with the manifest");
        let package_dir = canonical(declared.dir);
        let path = package_dir.join(file);
        if !path.is_file() || !path.starts_with(&package_dir) {
            return Err(format!(
                "type `{}`: `{file}` is not a file inside the package",
                declared.type_name
            ));
        }
        Ok(Entry::Deno {
            package_dir: package_dir.display().to_string(),
            file: path.display().to_string(),
            export: export.to_string(),
        })
    }

    /// Finds or installs deno, and writes the host and SDK.
    fn provision(&self, _processors: &mut [Hosted]) -> Result<Box<dyn Launch>> {
        Ok(Box::new(DenoLaunch {
            library: provision::beside_plexus(LIBRARY)?,
            deno: find_or_install()?,
            sdk_dir: write_sdk()?,
        }))
    }

    fn packs(&self, name: &str) -> bool {
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        matches!(ext, "ts" | "js" | "mjs") || name == "deno.json" || name == "deno.jsonc"
    }

    fn archive_holds(&self, dir: &Path, entry: &str) -> bool {
        split_entry(entry).is_some_and(|(f, _)| dir.join(f).is_file())
    }

    fn template(&self) -> Template {
        Template {
            title: "TypeScript, run by Deno",
            entry: "processor.ts#{{class}}",
            build: None,
            processor: ProcessorFile {
                path: "processor.ts",
                effect: include_str!("../../templates/deno/processor.ts"),
                source: include_str!("../../templates/deno/source.ts"),
            },
            files: &[],
            verbatim: nothing_verbatim,
            reserved_names: &[],
        }
    }
}

/// Splits `dir/file.ts#Export` into a relative file and an export name.
fn split_entry(entry: &str) -> Option<(&str, &str)> {
    let (file, export) = entry.split_once('#')?;
    let mut chars = export.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    (identifier && relative_path(file)).then_some((file, export))
}

/// The Deno bridge library, built beside `plexus`.
const LIBRARY: &str = "libplexus_deno.so";

/// What every TypeScript worker of a run starts with.
struct DenoLaunch {
    deno: PathBuf,
    library: PathBuf,
    sdk_dir: PathBuf,
}

impl Launch for DenoLaunch {
    /// `host.ts --check` reads what it would be told to create.
    fn check_input(&self, specs: &[&ProcessorSpec]) -> Result<String> {
        let creates = specs
            .iter()
            .zip(0..)
            .map(|(spec, index)| DenoCreate::describe(index, spec))
            .collect::<Result<Vec<_>, String>>()
            .map_err(anyhow::Error::msg)?;
        Ok(serde_json::to_string(&creates)?)
    }

    /// Runs the host script for processors from the entries' packages: FFI
    /// to the bridge library only, no prompts. Without a sandbox: reads of
    /// the library, the SDK and those packages only, no network. With one,
    /// Deno's own permissions say what the sandbox says (§15).
    fn command(&self, entries: &[&Entry], permissions: Option<&Permissions>) -> Result<Command> {
        let flags = match permissions {
            None => vec![allow("--allow-read", &self.unsandboxed_reads(entries))],
            Some(permissions) => self.flags(entries, permissions),
        };
        let mut import_map = OsString::from("--import-map=");
        import_map.push(self.sdk_dir.join("import_map.json"));
        let mut command = Command::new(&self.deno);
        command
            .args([
                "run",
                "--no-prompt",
                "--no-remote",
                "--no-config",
                "--no-lock",
            ])
            .arg(allow(
                "--allow-ffi",
                &[self.library.clone().into_os_string()],
            ))
            .args(flags)
            .arg(import_map)
            .arg(self.sdk_dir.join("host.ts"))
            .arg(&self.library)
            .env("DENO_DIR", deno_dir())
            .env("NO_COLOR", "1");
        Ok(command)
    }

    /// The deno executable, its cache, the SDK, the bridge library and the
    /// processors' packages.
    fn needs(&self, entries: &[&Entry]) -> Vec<PathBuf> {
        let mut needs = vec![
            self.deno.clone(),
            deno_dir(),
            self.sdk_dir.clone(),
            self.library.clone(),
        ];
        needs.extend(entry_paths(entries));
        // deno reads the extra CA certificates these name as it starts,
        // whatever its flags: public data, and a warning on every start
        // if refused.
        needs.extend(
            ["DENO_CERT", "NODE_EXTRA_CA_CERTS"]
                .into_iter()
                .filter_map(std::env::var_os)
                .map(PathBuf::from),
        );
        needs
    }

    /// JavaScript cannot reach `/dev/shm`: its flags grant nothing there.
    fn shared_memory(&self) -> SharedMemory {
        SharedMemory::Direct
    }
}

impl DenoLaunch {
    /// What a worker without a sandbox may read: the library, the SDK and
    /// the packages.
    fn unsandboxed_reads(&self, entries: &[&Entry]) -> Vec<OsString> {
        let mut read = vec![
            self.library.clone().into_os_string(),
            self.sdk_dir.clone().into_os_string(),
        ];
        read.extend(entries.iter().filter_map(|e| match e {
            Entry::Deno { package_dir, .. } => Some(OsString::from(package_dir)),
            _ => None,
        }));
        read
    }

    /// Deno's permission flags for processors that may do `permissions`:
    /// read what the worker needs and every declared path, write the
    /// declared write paths and devices, connect to the declared endpoints
    /// and listen on the declared ports, run programs only when spawning
    /// is declared.
    fn flags(&self, entries: &[&Entry], permissions: &Permissions) -> Vec<OsString> {
        let paths = |list: &[PathBuf]| -> Vec<OsString> {
            list.iter().map(|p| p.clone().into_os_string()).collect()
        };
        let mut read = paths(&self.needs(entries));
        read.extend(paths(&permissions.read));
        read.extend(paths(&permissions.write));
        read.extend(paths(&permissions.devices));
        let mut write = paths(&permissions.write);
        write.extend(paths(&permissions.devices));
        let net: Vec<OsString> = permissions
            .connect
            .iter()
            .map(|e| OsString::from(e.to_string()))
            .chain(
                permissions
                    .listen
                    .iter()
                    .map(|port| OsString::from(format!("0.0.0.0:{port}"))),
            )
            .collect();
        let mut flags = vec![allow("--allow-read", &read)];
        if !write.is_empty() {
            flags.push(allow("--allow-write", &write));
        }
        if !net.is_empty() {
            flags.push(allow("--allow-net", &net));
        }
        if permissions.spawn {
            flags.push(OsString::from("--allow-run"));
        }
        flags
    }
}

/// `--flag=a,b,c`.
fn allow(flag: &str, values: &[OsString]) -> OsString {
    let mut arg = OsString::from(flag);
    arg.push("=");
    arg.push(values.join(std::ffi::OsStr::new(",")));
    arg
}

/// Deno's own cache (compiled modules), which workers read.
fn deno_dir() -> PathBuf {
    cache::root().join("deno-dir")
}

/// The version of the deno a TypeScript worker would run (`2.9.6`), found
/// or installed as for a run: what a lockfile pins.
pub fn version() -> Result<String> {
    let deno = find_or_install()?;
    let out = Command::new(&deno)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} --version", deno.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)`
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("deno "))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|v| semver::Version::parse(v).is_ok())
        .map(str::to_string)
        .with_context(|| format!("{} --version does not say its version", deno.display()))
}

/// `PLEXUS_DENO`, `deno` on `PATH`, the cached install, or a new install.
fn find_or_install() -> Result<PathBuf> {
    if let Some(explicit) = std::env::var_os("PLEXUS_DENO") {
        let path = PathBuf::from(explicit);
        if !path.is_file() {
            bail!("PLEXUS_DENO names {}, which is not a file", path.display());
        }
        return Ok(path);
    }
    if let Some(on_path) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("deno"))
            .find(|d| d.is_file())
    }) {
        return Ok(on_path);
    }
    let home = cache::root().join("deno").join(DENO_VERSION);
    let binary = |root: &Path| root.join("node_modules/deno/deno");
    if !binary(&home).is_file() {
        tracing::info!(
            "deno: not found; installing deno {DENO_VERSION} from the npm registry into {} (first use: a download of about 40 MB, which npm reports when done)",
            home.display()
        );
    }
    cache::build_once(
        &home,
        |home| binary(home).is_file(),
        |e| anyhow::Error::new(e).context(format!("creating {}", home.display())),
        |building| {
            npm_install(building)?;
            let deno = binary(building);
            let runs = Command::new(&deno)
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !runs {
                bail!("the installed {} does not run", deno.display());
            }
            Ok(())
        },
    )
    .context("deno is not installed (set PLEXUS_DENO or put deno on PATH), and installing it from the npm registry failed")?;
    Ok(binary(&home))
}

fn npm_install(prefix: &Path) -> Result<()> {
    let mut command = Command::new("npm");
    command
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--prefix",
        ])
        .arg(prefix)
        .arg(format!("deno@{DENO_VERSION}"));
    run_logged(command, "npm deno")
        .map_err(|why| anyhow::anyhow!("npm install deno@{DENO_VERSION} failed: {why}"))
}

/// Writes the host and SDK (and the import map that lets packages import
/// the SDK as `"plexus"`) into a cache directory named by their hash.
fn write_sdk() -> Result<PathBuf> {
    let import_map = r#"{ "imports": { "plexus": "./plexus.ts" } }"#;
    let parts = SDK_FILES
        .iter()
        .flat_map(|(name, text)| [name.as_bytes(), text.as_bytes()]);
    let dir = cache::root()
        .join("deno-sdk")
        .join(crate::digest::key(parts, 8));
    cache::build_once(
        &dir,
        |dir| dir.join("import_map.json").is_file(),
        |e| anyhow::Error::new(e).context(format!("creating {}", dir.display())),
        |building| {
            for (name, text) in SDK_FILES
                .into_iter()
                .chain([("import_map.json", import_map)])
            {
                std::fs::write(building.join(name), text)
                    .with_context(|| format!("writing {name}"))?;
            }
            Ok(())
        },
    )?;
    Ok(dir)
}
