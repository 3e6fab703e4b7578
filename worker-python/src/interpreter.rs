//! The embedded interpreter: started so that it works from wherever the
//! binary lies, with the built-in `plexus` module registered, and described
//! for the supervisor (`--python-info`), which creates package environments
//! with the matching `python` executable.

use std::path::Path;
use std::sync::OnceLock;

use ipc_schemas::PythonInfo;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::traceback;

/// `sys.base_prefix` of the interpreter the build linked.
const HOME: &str = env!("PLEXUS_PYTHON_HOME");
/// Its standard library, checked before pointing the interpreter at `HOME`.
const STDLIB: &str = env!("PLEXUS_PYTHON_STDLIB");

/// The module processors `import plexus` from, built into the binary.
#[pymodule]
mod plexus {
    #[pymodule_export]
    use crate::context::Context;
    #[pymodule_export]
    use crate::frame::Frame;
    #[pymodule_export]
    use crate::outputs::{OutBuffer, Output};
    #[pymodule_export]
    use crate::traceback::ConfigError;
}

/// Starts the interpreter; later calls return the first outcome. The
/// interpreter is never finalised: many extension modules do not survive it,
/// and the process ends right after the worker does.
pub fn start() -> Result<(), String> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    STARTED.get_or_init(initialize).clone()
}

fn initialize() -> Result<(), String> {
    let set_home = std::env::var_os("PYTHONHOME").is_none();
    if set_home {
        if !Path::new(STDLIB).join("os.py").is_file() {
            return Err(format!(
                "the standard library of the Python this worker was built with is missing from `{STDLIB}`; set PYTHONHOME or rebuild the worker"
            ));
        }
        // Read once by the interpreter's initialisation; no other thread
        // runs yet.
        std::env::set_var("PYTHONHOME", HOME);
    }
    pyo3::append_to_inittab!(plexus);
    Python::initialize();
    Python::attach(|py| {
        configure(py, set_home).map_err(|e| {
            format!(
                "cannot set up the embedded Python: {}",
                traceback::describe(py, &e)
            )
        })
    })
}

/// Makes the embedded interpreter behave like a normal one for the code it
/// runs.
fn configure(py: Python<'_>, set_home: bool) -> PyResult<()> {
    let sys = py.import("sys")?;
    // Without this, sys.executable would name whatever `python3` is first
    // on PATH; subprocess and multiprocessing start children with it.
    if let Ok(interpreter) = linked(py) {
        sys.setattr("executable", interpreter.executable)?;
    }
    // stdout is a pipe to the supervisor's log: block buffering would hold
    // a processor's prints back until the buffer fills.
    let kwargs = PyDict::new(py);
    kwargs.set_item("line_buffering", true)?;
    sys.getattr("stdout")?
        .call_method("reconfigure", (), Some(&kwargs))?;
    if set_home {
        // Only this interpreter needs it; a child running another Python
        // must not inherit it.
        py.import("os")?
            .getattr("environ")?
            .call_method1("pop", ("PYTHONHOME", py.None()))?;
    }
    Ok(())
}

/// The interpreter this binary embeds.
pub fn linked(py: Python<'_>) -> PyResult<PythonInfo> {
    let sys = py.import("sys")?;
    let home: String = sys.getattr("base_prefix")?.extract()?;
    let version_info = sys.getattr("version_info")?;
    let major: u8 = version_info.getattr("major")?.extract()?;
    let minor: u8 = version_info.getattr("minor")?.extract()?;
    let version: String = sys.getattr("version")?.extract()?;
    let version = version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let executable = Path::new(&home)
        .join("bin")
        .join(format!("python{major}.{minor}"));
    if !executable.is_file() {
        return Err(pyo3::exceptions::PyFileNotFoundError::new_err(format!(
            "the Python installation at `{home}` has no `bin/python{major}.{minor}`"
        )));
    }
    Ok(PythonInfo {
        executable,
        version,
        home: home.into(),
    })
}

/// One JSON line for `--python-info`.
pub fn describe() -> Result<String, String> {
    start()?;
    Python::attach(|py| {
        let me = linked(py).map_err(|e| e.to_string())?;
        serde_json::to_string(&me).map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use pyo3::types::PyDict;

    use super::*;
    use crate::testing::{run, with_python};

    #[test]
    fn describes_the_linked_interpreter() {
        with_python(|py| {
            let me = linked(py).unwrap();
            assert_eq!(me.home, Path::new(HOME));
            assert!(me.executable.starts_with(HOME), "{:?}", me.executable);
            let output = std::process::Command::new(&me.executable)
                .args(["-c", "import platform; print(platform.python_version())"])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), me.version);
            let executable: PathBuf = py
                .import("sys")
                .unwrap()
                .getattr("executable")
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(executable, me.executable);
        });
    }

    /// Every member the shipped stubs declare exists on the built-in module.
    #[test]
    fn the_stubs_match_the_module() {
        let stubs = concat!(env!("CARGO_MANIFEST_DIR"), "/python/plexus.pyi");
        with_python(|py| {
            let locals = PyDict::new(py);
            locals.set_item("path", stubs).unwrap();
            run(
                py,
                r#"
import ast, plexus
tree = ast.parse(open(path).read())
classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
assert {c.name for c in classes} == {"Frame", "OutBuffer", "Output", "Context", "ConfigError"}
for c in classes:
    for f in c.body:
        if isinstance(f, ast.FunctionDef) and f.name != "__buffer__":
            assert hasattr(getattr(plexus, c.name), f.name), (c.name, f.name)
"#,
                &locals,
            )
            .unwrap();
        });
    }
}
