//! SHA-256 digests as plexus writes them: lowercase hex (package checksums),
//! and the names of cache directories derived from what they hold.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cache directory's name for what `parts` hold: the hex of the first
/// `bytes` bytes of their SHA-256. Each part is hashed after its length, so
/// no two different lists of parts share a name.
pub fn key<'a>(parts: impl IntoIterator<Item = &'a [u8]>, bytes: usize) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hex(&hash.finalize()[..bytes])
}

/// The SHA-256 of the file at `path`, in lowercase hex, read in pieces.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hash.finalize()));
        }
        hash.update(&buf[..n]);
    }
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_apart_where_the_parts_split() {
        let ab: [&[u8]; 2] = [b"ab", b"c"];
        let a_bc: [&[u8]; 2] = [b"a", b"bc"];
        assert_ne!(key(ab, 8), key(a_bc, 8));
        assert_eq!(key(ab, 8), key(ab, 8));
        assert_eq!(key(ab, 8).len(), 16);
        assert_eq!(hex(&[0, 0xab, 0x7f]), "00ab7f");
    }
}
