//! Mistakes in what a user gave plexus (a pipeline, a manifest, a flag),
//! each told in one sentence that names the file and the item at fault.
//! A value from the user is quoted as an [`excerpt`], so a message stays
//! one short line whatever the file holds.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Characters of a user's value that a message quotes.
const EXCERPT_CHARS: usize = 48;
/// Characters of a message built from text plexus does not control (a
/// parser's): enough for any sentence of its own.
const MESSAGE_CHARS: usize = 400;

#[derive(Debug, Error)]
pub enum UserError {
    #[error("{}: {message}", path.display())]
    InFile { path: PathBuf, message: String },
    #[error("{0}")]
    Plain(String),
}

impl UserError {
    pub fn in_file(path: &Path, message: impl Into<String>) -> Self {
        UserError::InFile {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// A YAML error with its line and column when the parser knows them.
    /// The parser quotes the offending value whole (a whole file, when the
    /// file is not YAML of the expected shape), so its quotes are cut to
    /// excerpts and the sentence to a bounded length.
    pub fn yaml(path: &Path, error: &serde_yaml_ng::Error) -> Self {
        let detail = cut_quotes(&error.to_string());
        let detail = match error.location() {
            Some(loc) if !detail.contains("line ") => {
                format!("line {}, column {}: {detail}", loc.line(), loc.column())
            }
            _ => detail,
        };
        Self::in_file(path, cut(&detail, MESSAGE_CHARS))
    }
}

/// A user's value as a message quotes it: control, bidi and other invisible
/// characters escaped (so the message stays one line and reads as it is
/// stored), and cut after a few dozen characters with the full length said.
pub fn excerpt(value: &str) -> String {
    let length = value.chars().count();
    if length <= EXCERPT_CHARS {
        return cut(value, EXCERPT_CHARS);
    }
    format!("{} ({length} characters)", cut(value, EXCERPT_CHARS))
}

/// Whether `c` would change how the rest of a line reads or is invisible:
/// a control character, a line or paragraph separator, a bidi override or
/// isolate, or another format character (zero-width joiners, the
/// byte-order mark).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}')
}

/// `text` with hidden characters escaped, cut to `max` characters (an
/// ellipsis marks the cut).
fn cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if is_hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `message` with each double-quoted run (serde quotes values with Rust's
/// escapes, so a quote inside a value is `\"`) cut to an excerpt.
fn cut_quotes(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let mut escaped = false;
        let close = rest.char_indices().find_map(|(i, c)| {
            let end = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            end.then_some(i)
        });
        let Some(close) = close else {
            break;
        };
        out.push_str(&excerpt(&rest[..close]));
        out.push('"');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_short_and_one_line() {
        assert_eq!(excerpt("camera"), "camera");
        assert_eq!(excerpt("a\nb\u{202e}c"), "a\\nb\\u{202e}c");
        let long = excerpt(&"x".repeat(1 << 20));
        assert!(
            long.len() < 80 && long.ends_with("… (1048576 characters)"),
            "{long}"
        );
    }

    #[test]
    fn a_parser_message_quotes_excerpts() {
        let file = "root:x:0:0:root:/root:/bin/bash\n".repeat(1000);
        let error = serde_yaml_ng::from_str::<std::collections::BTreeMap<String, u8>>(&format!(
            "\"{}\"",
            file.escape_default()
        ))
        .unwrap_err();
        let message = UserError::yaml(Path::new("p.yaml"), &error).to_string();
        assert!(message.len() < 200 && !message.contains('\n'), "{message}");
        assert!(message.contains("root:x:0:0"), "{message}");
    }
}
