//! Package signatures: a minisign signature (ed25519) of an archive's
//! `SHA256SUMS`, in a `.minisig` file beside the archive. `SHA256SUMS`
//! vouches for every other file of the archive and the archive reader
//! checks each file against it, so signing that one list signs the
//! package. A signature must come from a key the user trusts
//! ([`super::trust`]); `--require-signed` refuses archives without one.

use std::path::Path;

use minisign_verify::Signature;

use super::trust::TrustedKey;
use crate::error::UserError;

/// The largest `.minisig` file read (real ones are a few hundred bytes).
pub const MAX_SIGNATURE_BYTES: u64 = 16 << 10;
/// What a signature file is called: the archive's name and this.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// Whether an archive must be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A signature is checked when there is one.
    IfPresent,
    /// An archive without a signature is refused (`--require-signed`).
    Required,
}

/// What was found out about an archive's signature.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by the trusted key with this id.
    Signed(String),
    /// Without a signature, which the policy allowed.
    Unsigned,
}

/// Checks `signature` (the `.minisig` file's bytes, if there is one) over
/// `sums`, the archive's `SHA256SUMS`, against the trusted `keys`. The
/// error names the archive (`archive`) and says what to do.
pub fn check(
    archive: &Path,
    sums: &[u8],
    signature: Option<&[u8]>,
    policy: Policy,
    keys: &[TrustedKey],
) -> Result<Verdict, UserError> {
    let refuse = |m: String| UserError::in_file(archive, m);
    let Some(bytes) = signature else {
        return match policy {
            Policy::IfPresent => Ok(Verdict::Unsigned),
            Policy::Required => Err(unsigned(archive)),
        };
    };
    let not_minisign = || {
        refuse(format!(
            "its {SIGNATURE_SUFFIX} file is not a minisign signature"
        ))
    };
    let text = std::str::from_utf8(bytes).map_err(|_| not_minisign())?;
    let parsed = Signature::decode(text).map_err(|_| not_minisign())?;
    let id = text
        .lines()
        .nth(1)
        .and_then(|line| key_id(line, SIGNATURE_BYTES))
        .ok_or_else(not_minisign)?;
    let key = keys.iter().find(|k| k.id == id).ok_or_else(|| {
        refuse(format!(
            "it is signed by key {id}, which is not trusted; trust it with `plexus pkg trust KEY` if you know whose it is"
        ))
    })?;
    // Legacy signatures (of the data itself rather than its hash) are
    // still what some minisign versions write by default.
    key.key.verify(sums, &parsed, true).map_err(|_| {
        refuse(format!(
            "its signature by key {id} does not match the archive's SHA256SUMS: the archive was changed after it was signed, or the signature belongs to another archive"
        ))
    })?;
    Ok(Verdict::Signed(id))
}

/// The refusal of an unsigned archive (or a directory) under
/// [`Policy::Required`].
pub fn unsigned(archive: &Path) -> UserError {
    UserError::in_file(
        archive,
        format!("it is not signed (there is no {SIGNATURE_SUFFIX} file beside it) and --require-signed was given"),
    )
}

/// Bytes of a public key line: algorithm (2), key id (8), ed25519 key (32).
pub const PUBLIC_KEY_BYTES: usize = 42;
/// Bytes of a signature line: algorithm (2), key id (8), signature (64).
const SIGNATURE_BYTES: usize = 74;

/// The key id in a base64 key or signature `line` of `len` decoded bytes,
/// as minisign prints it: the 8 id bytes as a little-endian number in
/// upper-case hex.
pub fn key_id(line: &str, len: usize) -> Option<String> {
    let bytes = base64(line.trim())?;
    if bytes.len() != len || !matches!(&bytes[..2], b"Ed" | b"ED") {
        return None;
    }
    let id = u64::from_le_bytes(bytes[2..10].try_into().expect("8 bytes"));
    Some(format!("{id:016X}"))
}

/// Standard base64 with padding, as minisign writes it.
fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (n, quad) in bytes.chunks(4).enumerate() {
        let last = n + 1 == bytes.len() / 4;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut word = 0u32;
        for &c in &quad[..4 - pad] {
            word = word << 6 | value(c)?;
        }
        word <<= 6 * pad as u32;
        out.extend_from_slice(&word.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64("aGk=").unwrap(), b"hi");
        assert_eq!(base64("aGV5").unwrap(), b"hey");
        assert!(base64("aGk").is_none());
        assert!(base64("a=Gk").is_none());
        assert!(base64("aG.k").is_none());
    }

    #[test]
    fn key_ids_read_as_minisign_prints_them() {
        // minisign's own example key, whose id minisign prints as E7620F1842B4E81F.
        let key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
        assert_eq!(
            key_id(key, PUBLIC_KEY_BYTES).as_deref(),
            Some("E7620F1842B4E81F")
        );
        assert!(key_id(key, SIGNATURE_BYTES).is_none());
        assert!(key_id("RWQ", PUBLIC_KEY_BYTES).is_none());
    }
}
