//! What a TypeScript worker needs before it can start: a `deno` executable
//! (an explicit `PLEXUS_DENO`, then `PATH`, then plexus's cache, where a
//! pinned version is installed from the npm registry on first use), the
//! worker's FFI library, and the TypeScript host and SDK. The host and SDK
//! ship inside `plexus` and are written to the cache, so a worker's read
//! permission can name exactly that directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::installer::run_logged;
use crate::python_env::cache_root;

/// The deno release plexus installs when none is found.
pub const DENO_VERSION: &str = "2.9.6";

/// The host script and SDK, as `(file name, contents)`.
const SDK_FILES: [(&str, &str); 2] = [
    ("host.ts", include_str!("../../worker-deno/ts/host.ts")),
    ("plexus.ts", include_str!("../../worker-deno/ts/plexus.ts")),
];

/// The worker's FFI library, built beside `plexus`.
const LIBRARY: &str = "libplexus_deno.so";

#[derive(Debug, Clone)]
pub struct DenoSetup {
    pub deno: PathBuf,
    pub library: PathBuf,
    pub sdk_dir: PathBuf,
}

impl DenoSetup {
    /// Finds or installs everything a TypeScript worker needs.
    pub fn prepare() -> Result<Self> {
        let exe = std::env::current_exe().context("locating the plexus executable")?;
        let library = exe
            .parent()
            .context("the plexus executable has no directory")?
            .join(LIBRARY);
        if !library.is_file() {
            bail!(
                "`{LIBRARY}` is missing from {} (build it with `cargo build --workspace`)",
                library.parent().unwrap_or(Path::new("")).display()
            );
        }
        Ok(Self {
            deno: find_or_install()?,
            library,
            sdk_dir: write_sdk()?,
        })
    }

    /// The command that runs a TypeScript worker hosting processors from
    /// `package_dirs`: FFI to our library only, reads of the library, the SDK
    /// and those packages only, no network, no prompts.
    pub fn command(&self, package_dirs: &[PathBuf]) -> Command {
        let mut read = vec![
            self.library.clone().into_os_string(),
            self.sdk_dir.clone().into_os_string(),
        ];
        read.extend(package_dirs.iter().map(|d| d.clone().into_os_string()));
        let mut allow_read = OsString::from("--allow-read=");
        allow_read.push(read.join(std::ffi::OsStr::new(",")));
        let mut allow_ffi = OsString::from("--allow-ffi=");
        allow_ffi.push(&self.library);
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
            .arg(allow_ffi)
            .arg(allow_read)
            .arg(import_map)
            .arg(self.sdk_dir.join("host.ts"))
            .arg(&self.library)
            .env("DENO_DIR", cache_root().join("deno-dir"))
            .env("NO_COLOR", "1");
        command
    }
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
    let home = cache_root().join("deno").join(DENO_VERSION);
    let binary = |root: &Path| root.join("node_modules/deno/deno");
    if binary(&home).is_file() {
        return Ok(binary(&home));
    }
    tracing::info!(
        "deno: not found; installing deno {DENO_VERSION} from the npm registry into {} (first use: a download of about 40 MB, which npm reports when done)",
        home.display()
    );
    let parent = home.parent().expect("a versioned directory has a parent");
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let building = parent.join(format!("{DENO_VERSION}.installing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let installed = npm_install(&building).and_then(|()| {
        let deno = binary(&building);
        let ok = Command::new(&deno)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            bail!("the installed {} does not run", deno.display())
        }
    });
    if let Err(e) = installed {
        let _ = std::fs::remove_dir_all(&building);
        return Err(e.context("deno is not installed (set PLEXUS_DENO or put deno on PATH), and installing it from the npm registry failed"));
    }
    if std::fs::rename(&building, &home).is_err() {
        // Another run installed the same version first.
        let _ = std::fs::remove_dir_all(&building);
    }
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
    let mut hash = Sha256::new();
    for (name, text) in SDK_FILES {
        hash.update(name);
        hash.update(text);
    }
    let key: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cache_root().join("deno-sdk").join(key);
    if dir.join("import_map.json").is_file() {
        return Ok(dir);
    }
    let building = dir.with_extension(format!("writing-{}", std::process::id()));
    std::fs::create_dir_all(&building)
        .with_context(|| format!("creating {}", building.display()))?;
    for (name, text) in SDK_FILES
        .into_iter()
        .chain([("import_map.json", import_map)])
    {
        std::fs::write(building.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    if std::fs::rename(&building, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    Ok(dir)
}
