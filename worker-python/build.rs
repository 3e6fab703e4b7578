//! Lets `plexus-worker-python` start without any environment set-up: the
//! binary finds libpython through an rpath, and the interpreter's standard
//! library through the home baked in here (an embedded interpreter looks for
//! it next to the executable, which is this binary, where there is none).
//! Also exports the libc functions the worker interposes, so that libpython
//! and extension modules call them (worker-sandbox/exported.list).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    export_interposers();
    pyo3_build_config::add_libpython_rpath_link_args();
    let config = pyo3_build_config::get();
    let script =
        "import sys, sysconfig; print(sys.base_prefix); print(sysconfig.get_path('stdlib'))";
    let output = config
        .run_python_script(script)
        .unwrap_or_else(|e| panic!("cannot ask the build's Python for its home: {e}"));
    let mut lines = output.lines();
    let (Some(home), Some(stdlib)) = (lines.next(), lines.next()) else {
        panic!("the build's Python did not name its home and standard library: {output:?}");
    };
    println!("cargo:rustc-env=PLEXUS_PYTHON_HOME={home}");
    println!("cargo:rustc-env=PLEXUS_PYTHON_STDLIB={stdlib}");
}

/// Puts the libc functions worker-sandbox's `interpose!` defines in the
/// executable's dynamic symbol table (one list, shared with the native
/// worker), so that libpython, extension modules and plugin libraries bind
/// to them.
fn export_interposers() {
    let list =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker-sandbox/exported.list");
    let list = list
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", list.display()));
    println!("cargo:rerun-if-changed={}", list.display());
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--dynamic-list={}",
        list.display()
    );
}
