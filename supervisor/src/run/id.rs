//! Runtime ids: short, unique among the runtimes of a machine, and valid in
//! iceoryx2 service and file names.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Eight lowercase hex digits from the process id, the time and the
/// standard library's per-process random hash keys.
pub fn new_runtime_id() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_short_hex_and_differ() {
        let a = super::new_runtime_id();
        let b = super::new_runtime_id();
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
