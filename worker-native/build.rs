//! Puts the libc functions worker-sandbox's `interpose!` defines in the
//! executable's dynamic symbol table (worker-sandbox/exported.list, one
//! list shared with the Python worker), so that Rust plugin libraries bind
//! to them as the executable's own code does.

fn main() {
    let list =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker-sandbox/exported.list");
    let list = list
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", list.display()));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", list.display());
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--dynamic-list={}",
        list.display()
    );
}
