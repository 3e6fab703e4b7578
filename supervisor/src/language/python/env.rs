//! Python environments for packages that carry `requirements.txt` or
//! `pyproject.toml`: installed once with the interpreter the Python worker
//! embeds, cached under a key that hashes the requirement file, the Python
//! version and the plexus version, and put on the worker's `sys.path`.
//!
//! A locked run (`plexus run --locked`) builds the environment from the
//! lockfile's pinned requirements instead, installed with
//! `--require-hashes`, under a key that hashes them: the same lock gives
//! the same environment on every machine. `plexus lock` resolves the
//! requirements with pip's `--dry-run --report`, which installs nothing.
//!
//! An environment is a plain `pip install --target` directory: it needs no
//! activation, and it is built under a temporary name and renamed into
//! place, so an interrupted install never leaves a half-made environment
//! that a later run would trust.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipc_schemas::PythonInfo;

use crate::error::UserError;
use crate::lockfile::LockedRequirement;
use crate::provision::cache;
use crate::provision::installer::run_logged;

/// Asks the Python worker binary which interpreter it embeds.
pub fn python_info(worker: &Path) -> Result<PythonInfo, UserError> {
    let out = Command::new(worker)
        .arg("--python-info")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| UserError::Plain(format!("cannot run {}: {e}", worker.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|e| {
        UserError::Plain(format!(
            "{} --python-info gave no interpreter description ({e})",
            worker.display()
        ))
    })
}

/// The file whose contents decide what an environment holds.
fn requirement_file(package_dir: &Path) -> Option<PathBuf> {
    ["requirements.txt", "pyproject.toml"]
        .iter()
        .map(|f| package_dir.join(f))
        .find(|p| p.is_file())
}

/// Makes sure the environment of the package in `package_dir` exists and
/// returns the directory to put on `sys.path`, or `None` when the package
/// has no requirements.
///
/// With `locked` (the lockfile's requirements of the package), the
/// environment holds exactly those, checked against their hashes, and is
/// keyed by them.
pub fn ensure(
    package: &str,
    package_dir: &Path,
    python: &PythonInfo,
    locked: Option<&[LockedRequirement]>,
) -> Result<Option<PathBuf>, UserError> {
    let Some(requirements) = requirement_file(package_dir) else {
        return Ok(None);
    };
    let contents = std::fs::read(&requirements)
        .map_err(|e| UserError::in_file(&requirements, format!("cannot read: {e}")))?;
    let pinned = locked.map(pinned_lines);
    let mut parts: Vec<&[u8]> = vec![
        requirements
            .file_name()
            .unwrap_or_default()
            .as_encoded_bytes(),
        &contents,
        python.version.as_bytes(),
        env!("CARGO_PKG_VERSION").as_bytes(),
    ];
    if let Some(pinned) = &pinned {
        parts.extend([b"locked".as_slice(), pinned.as_bytes()]);
    }
    let key = crate::digest::key(parts, 12);
    let env = cache::root().join("python-envs").join(&key);
    let complete = |env: &Path| env.join(COMPLETE).is_file();
    if complete(&env) {
        tracing::info!(
            "python: reusing the environment of package `{package}` ({})",
            env.display()
        );
        return Ok(Some(env));
    }
    tracing::info!(
        "python: installing the requirements of package `{package}` (first use, cached in {})",
        env.display()
    );
    cache::build_once(
        &env,
        complete,
        |e| UserError::in_file(&env, format!("cannot create the cache: {e}")),
        |building| {
            match &pinned {
                Some(pinned) => install_locked(
                    package,
                    package_dir,
                    &requirements,
                    pinned,
                    building,
                    python,
                )?,
                None => install(package, package_dir, &requirements, building, python)?,
            }
            std::fs::write(building.join(COMPLETE), b"")
                .map_err(|e| UserError::in_file(building, e.to_string()))
        },
    )?;
    Ok(Some(env))
}

/// Marks an environment whose install finished.
const COMPLETE: &str = ".plexus-complete";

/// `pip install ARGS…` run by the embedded interpreter, never prompting.
fn pip(python: &PythonInfo, args: &[&str]) -> Command {
    let mut command = Command::new(&python.executable);
    command
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(args);
    command
}

fn install(
    package: &str,
    package_dir: &Path,
    requirements: &Path,
    target: &Path,
    python: &PythonInfo,
) -> Result<(), UserError> {
    let mut command = pip(python, &["--target"]);
    command.arg(target);
    if requirements.ends_with("requirements.txt") {
        command.arg("-r").arg(requirements);
    } else {
        command.arg(package_dir);
    }
    command.current_dir(package_dir);
    run_logged(command, &format!("pip {package}")).map_err(|why| {
        UserError::in_file(
            requirements,
            format!("installing the Python requirements of package `{package}` failed: {why}"),
        )
    })
}

/// The lockfile's requirements as pip's requirement lines, each pinned to
/// its version and hashes: what a locked environment installs, and what
/// its key hashes.
fn pinned_lines(locked: &[LockedRequirement]) -> String {
    locked
        .iter()
        .map(|r| {
            let hashes: Vec<String> = r
                .sha256
                .iter()
                .map(|h| format!(" --hash=sha256:{h}"))
                .collect();
            format!("{}=={}{}\n", r.name, r.version, hashes.concat())
        })
        .collect()
}

/// The file in a locked environment holding the lines it was installed
/// from (hidden from Python, as no module name starts with a dot).
const PINNED: &str = ".plexus-requirements.txt";

/// Installs exactly the pinned requirements, every file checked against
/// its hash and nothing else pulled in; a `pyproject.toml` package is then
/// installed itself, without its dependencies (the pinned ones are them).
fn install_locked(
    package: &str,
    package_dir: &Path,
    requirements: &Path,
    pinned: &str,
    target: &Path,
    python: &PythonInfo,
) -> Result<(), UserError> {
    let failed = |why: String| {
        UserError::in_file(
            requirements,
            format!(
                "installing the locked Python requirements of package `{package}` failed: {why}"
            ),
        )
    };
    let lines = target.join(PINNED);
    std::fs::write(&lines, pinned).map_err(|e| failed(e.to_string()))?;
    let prefix = format!("pip {package}");
    if !pinned.is_empty() {
        let mut command = pip(python, &["--require-hashes", "--no-deps", "--target"]);
        command.arg(target).arg("-r").arg(&lines);
        run_logged(command, &prefix).map_err(failed)?;
    }
    if !requirements.ends_with("requirements.txt") {
        let mut command = pip(python, &["--no-deps", "--target"]);
        command
            .arg(target)
            .arg(package_dir)
            .current_dir(package_dir);
        run_logged(command, &prefix).map_err(failed)?;
    }
    Ok(())
}

/// Resolves the requirements of the package in `package_dir` as pip would
/// install them here, installing nothing (`--dry-run --report`): each
/// distribution with its version and the sha256 of the file pip chose.
/// A `pyproject.toml` package's own directory is left out: the lock pins
/// it by its files. `None` when the package has no requirements.
pub fn resolve(
    package: &str,
    package_dir: &Path,
    python: &PythonInfo,
) -> Result<Option<Vec<LockedRequirement>>, UserError> {
    let Some(requirements) = requirement_file(package_dir) else {
        return Ok(None);
    };
    let failed = |why: String| {
        UserError::in_file(
            &requirements,
            format!("resolving the Python requirements of package `{package}` failed: {why}"),
        )
    };
    let mut command = pip(
        python,
        &[
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            "-",
        ],
    );
    if requirements.ends_with("requirements.txt") {
        command.arg("-r").arg(&requirements);
    } else {
        command.arg(package_dir);
    }
    tracing::info!("python: resolving the requirements of package `{package}` with pip");
    let out = command
        .current_dir(package_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| failed(format!("cannot run {}: {e}", python.executable.display())))?;
    if !out.status.success() {
        let errors = String::from_utf8_lossy(&out.stderr);
        let last = errors
            .lines()
            .rev()
            .find(|l| l.contains("ERR"))
            .or(errors.lines().last());
        return Err(failed(last.unwrap_or("pip failed").trim().to_string()));
    }
    let report: Report = serde_json::from_slice(&out.stdout)
        .map_err(|e| failed(format!("pip's report is not what plexus reads ({e})")))?;
    let mut locked = Vec::new();
    for item in report.install {
        let Some(archive) = item.download_info.archive_info else {
            // A local directory (the package itself): pinned by its files.
            continue;
        };
        // pip 22 states one `hash`, later ones `hashes` as well.
        let stated = archive
            .hash
            .as_deref()
            .and_then(|h| h.strip_prefix("sha256="));
        let sha256 = archive
            .hashes
            .get("sha256")
            .map(String::as_str)
            .or(stated)
            .map(str::to_string)
            .ok_or_else(|| failed(format!("pip gave no sha256 for `{}`", item.metadata.name)))?;
        locked.push(LockedRequirement {
            name: item.metadata.name.to_ascii_lowercase().replace('_', "-"),
            version: item.metadata.version,
            sha256: vec![sha256.to_ascii_lowercase()],
        });
    }
    locked.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(locked))
}

/// The part of pip's installation report (`--report`, format 1) the lock
/// reads.
#[derive(serde::Deserialize)]
struct Report {
    install: Vec<ReportItem>,
}

#[derive(serde::Deserialize)]
struct ReportItem {
    download_info: DownloadInfo,
    metadata: Metadata,
}

#[derive(serde::Deserialize)]
struct DownloadInfo {
    archive_info: Option<ArchiveInfo>,
}

#[derive(serde::Deserialize)]
struct ArchiveInfo {
    hash: Option<String>,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct Metadata {
    name: String,
    version: String,
}
