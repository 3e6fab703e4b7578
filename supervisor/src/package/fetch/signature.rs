//! Package signatures: a minisign signature (ed25519) of an archive's
//! `SHA256SUMS`, in a `.minisig` file beside the archive. `SHA256SUMS`
//! vouches for every other file of the archive and the archive reader
//! checks each file against it, so signing that one list signs the
//! package. A signature must come from a key the user trusts
//! ([`super::trust`]); `--require-signed` refuses archives without one.

use std::path::Path;

use minisign_verify::Signature;

use super::trust::{key_id, TrustedKey};
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

/// Bytes of a signature line: algorithm (2), key id (8), signature (64).
const SIGNATURE_BYTES: usize = 74;
