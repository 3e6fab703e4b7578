//! The keys whose package signatures the user accepts: minisign public keys
//! kept as `<data>/trusted-keys/<ID>.pub` (the `minisign.pub` format), added
//! with `plexus pkg trust KEY`, listed with `--list` and dropped with
//! `--remove ID`. Trusting is the user's act alone: nothing is trusted by
//! default, and an archive never brings its own key.

use std::io::Read;
use std::path::{Path, PathBuf};

use minisign_verify::PublicKey;

use crate::error::{excerpt, UserError};
use crate::package::store::data_dir;

/// The folder of the data directory holding the trusted keys.
const KEYS_DIR: &str = "trusted-keys";
/// The largest key file read; a `minisign.pub` is about 100 bytes.
const MAX_KEY_FILE_BYTES: u64 = 4 << 10;
const COMMENT_PREFIX: &str = "untrusted comment:";

/// One trusted key.
pub struct TrustedKey {
    /// minisign's id of the key (16 upper-case hex digits).
    pub id: String,
    /// The comment the key came with (minisign writes who made it).
    pub comment: String,
    pub key: PublicKey,
    /// The key's base64 line.
    line: String,
}

impl TrustedKey {
    /// A key as `minisign.pub` holds it (a comment line, then the key) or
    /// its base64 line alone; `from` names where it came from.
    fn parse(text: &str, from: &str) -> Result<Self, UserError> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let (comment, line) = match lines.as_slice() {
            [line] => (None, *line),
            [comment, line] if comment.starts_with(COMMENT_PREFIX) => (Some(*comment), *line),
            _ => return Err(not_a_key(from)),
        };
        let id = key_id(line, PUBLIC_KEY_BYTES).ok_or_else(|| not_a_key(from))?;
        let key = PublicKey::from_base64(line).map_err(|_| not_a_key(from))?;
        let comment = comment
            .map(|c| c[COMMENT_PREFIX.len()..].trim().to_string())
            .unwrap_or_else(|| format!("minisign public key {id}"));
        Ok(Self {
            id,
            comment,
            key,
            line: line.to_string(),
        })
    }
}

fn not_a_key(from: &str) -> UserError {
    UserError::Plain(format!(
        "{} is not a minisign public key (the line after `untrusted comment:` in a minisign.pub, or that file)",
        excerpt(from)
    ))
}

fn keys_dir() -> Result<PathBuf, UserError> {
    Ok(data_dir()?.join(KEYS_DIR))
}

/// Trusts `key`: a minisign public key, or a file holding one. Returns the
/// key and whether it was trusted already.
pub fn add(key: &str) -> Result<(TrustedKey, bool), UserError> {
    let path = Path::new(key);
    let text = if path.is_file() {
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
            .map_err(|e| UserError::in_file(path, format!("cannot read the key: {e}")))?;
        text
    } else {
        key.to_string()
    };
    let key = TrustedKey::parse(&text, key)?;
    let dir = keys_dir()?;
    let dest = dir.join(format!("{}.pub", key.id));
    if dest.is_file() {
        return Ok((key, true));
    }
    let io = |e: std::io::Error| UserError::in_file(&dest, format!("cannot write: {e}"));
    std::fs::create_dir_all(&dir).map_err(io)?;
    // Written aside and renamed, so a half-written key is never read.
    let partial = dir.join(format!(".{}.pub.partial-{}", key.id, std::process::id()));
    std::fs::write(
        &partial,
        format!("{COMMENT_PREFIX} {}\n{}\n", key.comment, key.line),
    )
    .and_then(|()| std::fs::rename(&partial, &dest))
    .map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io(e)
    })?;
    Ok((key, false))
}

/// Every trusted key, by id. A file there that is not a key is skipped
/// with a warning: it vouches for nothing.
pub fn list() -> Result<Vec<TrustedKey>, UserError> {
    let dir = keys_dir()?;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let stored = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string);
        if path.extension().is_none_or(|e| e != "pub") || stored.is_none() {
            continue;
        }
        let mut text = String::new();
        let read = std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text));
        let parsed = read
            .map_err(|e| UserError::in_file(&path, e.to_string()))
            .and_then(|_| TrustedKey::parse(&text, &path.display().to_string()));
        match parsed {
            // The file's name must be its key's id, so removing by id
            // removes that key.
            Ok(key) if Some(&key.id) == stored.as_ref() => keys.push(key),
            Ok(_) => tracing::warn!("{}: not named after its key's id; ignored", path.display()),
            Err(e) => tracing::warn!("{e}; ignored"),
        }
    }
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(keys)
}

/// Stops trusting the key `id` (as `--list` shows it).
pub fn remove(id: &str) -> Result<TrustedKey, UserError> {
    let wanted = id.to_ascii_uppercase();
    // Only a key id names a file, so no path can be smuggled in.
    if wanted.len() != 16 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UserError::Plain(format!(
            "`{}` is not a key id (16 hex digits, as `plexus pkg trust --list` shows)",
            excerpt(id)
        )));
    }
    let key = list()?
        .into_iter()
        .find(|k| k.id == wanted)
        .ok_or_else(|| {
            UserError::Plain(format!(
                "key {wanted} is not trusted (see `plexus pkg trust --list`)"
            ))
        })?;
    let path = keys_dir()?.join(format!("{wanted}.pub"));
    std::fs::remove_file(&path)
        .map_err(|e| UserError::in_file(&path, format!("cannot remove: {e}")))?;
    Ok(key)
}

/// Bytes of a public key line: algorithm (2), key id (8), ed25519 key (32).
pub const PUBLIC_KEY_BYTES: usize = 42;
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

    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    #[test]
    fn keys_parse_alone_or_as_minisign_pub() {
        let bare = TrustedKey::parse(KEY, "arg").unwrap();
        assert_eq!(bare.id, "E7620F1842B4E81F");
        assert_eq!(bare.comment, "minisign public key E7620F1842B4E81F");
        let file = format!("untrusted comment: alice's key\n{KEY}\n");
        assert_eq!(
            TrustedKey::parse(&file, "f").unwrap().comment,
            "alice's key"
        );
        for bad in ["", "RWQ", "hello\nthere", &format!("{KEY}\n{KEY}")] {
            assert!(TrustedKey::parse(bad, "x").is_err(), "{bad:?}");
        }
    }

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
        assert!(key_id(key, 74).is_none());
        assert!(key_id("RWQ", PUBLIC_KEY_BYTES).is_none());
    }
}
