//! The shared secret that lets a coordinator give an agent work: read from
//! a file only its owner may read, and compared in constant time.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("{what} `{path}` cannot be read: {reason}")]
    Unreadable {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("{what} `{path}` is empty: put a long random secret in it (for example `head -c 32 /dev/urandom | base64 > {path}`)")]
    Empty { what: &'static str, path: String },
    #[error("{what} `{path}` may be read by other users (mode {mode:o}): make it private with `chmod 600 {path}`")]
    Exposed {
        what: &'static str,
        path: String,
        mode: u32,
    },
}

/// The token, as its file holds it without surrounding white space.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Reads the token file; `what` names it in errors (`--token-file`,
    /// `link.token_file`).
    pub fn read(path: &Path, what: &'static str) -> Result<Self, TokenError> {
        let shown = path.display().to_string();
        let unreadable = |e: std::io::Error| TokenError::Unreadable {
            what,
            path: shown.clone(),
            reason: e.to_string(),
        };
        let mode = std::fs::metadata(path)
            .map_err(unreadable)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(TokenError::Exposed {
                what,
                path: shown,
                mode: mode & 0o777,
            });
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(TokenError::Empty { what, path: shown });
        }
        Ok(Self(secret.to_string()))
    }

    /// The secret, to present to an agent.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Whether `offered` is this token, in time that depends only on the
    /// lengths, never on where the first difference lies.
    pub fn accepts(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        let longest = a.len().max(b.len());
        let mut differ = (a.len() != b.len()) as u8;
        for i in 0..longest {
            differ |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
        }
        std::hint::black_box(differ) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, mode: u32) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn a_private_token_file_is_read_without_its_newline() {
        let f = file("s3cret\n", 0o600);
        let token = Token::read(f.path(), "--token-file").unwrap();
        assert!(token.accepts("s3cret"));
        assert!(!token.accepts("s3cre"));
        assert!(!token.accepts("s3cret!"));
        assert!(!token.accepts("S3cret"));
        assert!(!token.accepts(""));
    }

    #[test]
    fn a_file_others_may_read_is_refused_with_the_fix() {
        let f = file("s3cret", 0o644);
        let err = Token::read(f.path(), "--token-file").unwrap_err();
        assert!(matches!(err, TokenError::Exposed { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn an_empty_or_missing_file_is_refused() {
        let f = file(" \n", 0o600);
        assert!(matches!(
            Token::read(f.path(), "link.token_file"),
            Err(TokenError::Empty { .. })
        ));
        let err = Token::read(Path::new("/nonexistent/t"), "link.token_file").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("link.token_file `/nonexistent/t` cannot be read"));
    }
}
