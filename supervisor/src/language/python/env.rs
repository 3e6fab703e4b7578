//! Python environments for packages that carry `requirements.txt` or
//! `pyproject.toml`: installed once with the interpreter the Python worker
//! embeds, cached under a key that hashes the requirement file, the Python
//! version and the plexus version, and put on the worker's `sys.path`.
//!
//! An environment is a plain `pip install --target` directory: it needs no
//! activation, and it is built under a temporary name and renamed into
//! place, so an interrupted install never leaves a half-made environment
//! that a later run would trust.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipc_schemas::PythonInfo;

use crate::error::UserError;
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
pub fn ensure(
    package: &str,
    package_dir: &Path,
    python: &PythonInfo,
) -> Result<Option<PathBuf>, UserError> {
    let Some(requirements) = requirement_file(package_dir) else {
        return Ok(None);
    };
    let contents = std::fs::read(&requirements)
        .map_err(|e| UserError::in_file(&requirements, format!("cannot read: {e}")))?;
    let key = crate::digest::key(
        [
            requirements
                .file_name()
                .unwrap_or_default()
                .as_encoded_bytes(),
            &contents,
            python.version.as_bytes(),
            env!("CARGO_PKG_VERSION").as_bytes(),
        ],
        12,
    );
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
            install(package, package_dir, &requirements, building, python)?;
            std::fs::write(building.join(COMPLETE), b"")
                .map_err(|e| UserError::in_file(building, e.to_string()))
        },
    )?;
    Ok(Some(env))
}

/// Marks an environment whose install finished.
const COMPLETE: &str = ".plexus-complete";

fn install(
    package: &str,
    package_dir: &Path,
    requirements: &Path,
    target: &Path,
    python: &PythonInfo,
) -> Result<(), UserError> {
    let mut command = Command::new(&python.executable);
    command
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
        ])
        .arg(target);
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
