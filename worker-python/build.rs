//! Lets `plexus-worker-python` start without any environment set-up: the
//! binary finds libpython through an rpath, and the interpreter's standard
//! library through the home baked in here (an embedded interpreter looks for
//! it next to the executable, which is this binary, where there is none).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
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
