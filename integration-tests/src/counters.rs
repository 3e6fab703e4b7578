//! The stateful counter fixtures (`counter-python`, `counter-deno`,
//! `counter-rust`) in the chain the live-swap tests run: a test pattern
//! through a Python, a TypeScript and a Rust counter, each stamping how many
//! frames it has handled into its slot (1, 2, 3) of every frame.

use std::path::{Path, PathBuf};

use crate::fixture;

/// Bytes of one of the chain's frames: 64×8 RGBA.
pub const FRAME_BYTES: usize = 64 * 8 * 4;

/// The chain in `tmp/pipeline.yaml` at `fps`, recording `ports` into
/// `tmp/<name>.mcap`.
pub fn chain(tmp: &Path, name: &str, fps: u32, ports: &[&str]) -> PathBuf {
    let packages = ["counter-python", "counter-deno", "counter-rust"]
        .map(|name| fixture(name).display().to_string())
        .join(", ");
    let text = format!(
        "name: {name}\n\
         packages: [{packages}]\n\
         processors:\n  \
           cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 8, fps: {fps} }} }}\n  \
           py: {{ type: test.py_counter, config: {{ slot: 1 }} }}\n  \
           ts: {{ type: test.ts_counter, config: {{ slot: 2 }} }}\n  \
           rs: {{ type: test.rs_counter, config: {{ slot: 3 }} }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections: [cam.out -> py.in, py.out -> ts.in, ts.out -> rs.in, rs.out -> sink.in]\n\
         record: {{ file: {}, ports: [{}] }}\n",
        tmp.join(format!("{name}.mcap")).display(),
        ports.join(", ")
    );
    let path = tmp.join("pipeline.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The count a counter stamped into `slot` of a frame's payload.
pub fn count(payload: &[u8], slot: usize) -> u64 {
    u64::from_le_bytes(payload[8 * slot..8 * slot + 8].try_into().unwrap())
}
