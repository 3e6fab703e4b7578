//! Reading the YAML files users write (pipelines, package manifests) within
//! bounds checked before the parser sees them. The parser's time grows
//! with the square of the nesting depth, so a 200 KB file of `[` held
//! `validate` for minutes; a size cap and a depth scan refuse such a file
//! in milliseconds.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::UserError;

/// The largest pipeline or manifest plexus reads. Real ones are a few KB.
pub const MAX_FILE_BYTES: usize = 4 << 20;
/// The deepest nesting of collections (block levels and `[`/`{` together).
/// Real files nest five or six deep; the parser itself gives up at 128.
pub const MAX_DEPTH: usize = 64;

/// Reads the YAML file `path`, a `what` ("pipeline", "package manifest")
/// for messages, reading no more than the size cap allows.
pub fn read(path: &Path, what: &str) -> Result<String, UserError> {
    let cannot =
        |e: std::io::Error| UserError::in_file(path, format!("cannot read the {what}: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    check_size(path, bytes.len())?;
    String::from_utf8(bytes)
        .map_err(|_| UserError::in_file(path, format!("the {what} is not UTF-8 text")))
}

/// Parses YAML `text` from `path` into `T` once it is within the bounds.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, UserError> {
    check_size(path, text.len())?;
    if let Some(line) = deeper_than(text, MAX_DEPTH) {
        return Err(UserError::in_file(
            path,
            format!(
                "line {line}: nesting is deeper than {MAX_DEPTH} levels, the most plexus reads"
            ),
        ));
    }
    serde_yaml_ng::from_str(text).map_err(|e| UserError::yaml(path, &e))
}

fn check_size(path: &Path, bytes: usize) -> Result<(), UserError> {
    if bytes > MAX_FILE_BYTES {
        return Err(UserError::in_file(
            path,
            format!(
                "the file is larger than {} MiB, the most plexus reads as a pipeline or manifest",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    Ok(())
}

/// Where a scan of the text is, between characters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Where a node may begin: only blanks, indicators or properties so far.
    NodeStart,
    /// Inside a plain scalar.
    Plain,
    /// Inside a quoted scalar opened by this quote.
    Quoted(char),
}

/// The line at which `text` first nests deeper than `limit`, if it does.
/// A scan of the tokens that open levels: `[` and `{` where a node begins
/// (anywhere, inside a flow collection), indentation, and `- ` / `? `
/// entries; quoted scalars, comments and block scalars are skipped. Where
/// the scan cannot tell, it counts a level, so it may overstate depth but
/// never understates it.
fn deeper_than(text: &str, limit: usize) -> Option<usize> {
    let mut flow = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    let mut state = State::NodeStart;
    // The indentation of the line that opened a block scalar (`|`, `>`):
    // the scalar holds every following line indented deeper, or blank.
    let mut block_scalar: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty();
        if let Some(parent) = block_scalar {
            if blank || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let mut block = indents.len();
        let mut chars = line.chars().peekable();
        if flow == 0 && !matches!(state, State::Quoted(_)) {
            let content = line.trim_start();
            if blank || content.starts_with('#') || content.starts_with('%') {
                continue;
            }
            while indents.last().is_some_and(|&top| top > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            block = indents.len();
            state = State::NodeStart;
            if line.starts_with("---") || line.starts_with("...") {
                indents.clear();
                chars.nth(2);
            }
        }
        let mut previous = ' ';
        while let Some(c) = chars.next() {
            let next = chars.peek().copied().unwrap_or(' ');
            match state {
                State::Quoted(quote) => {
                    // `\x` in double quotes and `''` in single quotes
                    // are escapes, not the end.
                    let escape = (c == '\\' && quote == '"')
                        || (c == quote && quote == '\'' && next == '\'');
                    if escape {
                        chars.next();
                    } else if c == quote {
                        state = State::Plain;
                    }
                }
                _ if c == '#' && previous.is_whitespace() => break,
                _ if (c == '[' || c == '{') && (state == State::NodeStart || flow > 0) => {
                    flow += 1;
                    state = State::NodeStart;
                }
                _ if (c == ']' || c == '}') && flow > 0 => {
                    flow -= 1;
                    state = State::Plain;
                }
                _ if c == ',' && flow > 0 => state = State::NodeStart,
                _ if c == ':' && (flow > 0 || next.is_whitespace()) => state = State::NodeStart,
                State::NodeStart => match c {
                    ' ' | '\t' => {}
                    '"' | '\'' => state = State::Quoted(c),
                    '-' | '?' if flow == 0 && next.is_whitespace() => block += 1,
                    '|' | '>' if flow == 0 => {
                        block_scalar = Some(indent);
                        break;
                    }
                    // An anchor or a tag: the node follows it.
                    '&' | '!' => {
                        while chars
                            .peek()
                            .is_some_and(|&c| !c.is_whitespace() && !"[]{},".contains(c))
                        {
                            chars.next();
                        }
                    }
                    _ => state = State::Plain,
                },
                State::Plain => {}
            }
            if block + flow > limit {
                return Some(n + 1);
            }
            previous = c;
        }
        if flow == 0 && state == State::Plain {
            state = State::NodeStart;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str) -> bool {
        deeper_than(text, 4).is_none()
    }

    #[test]
    fn real_files_are_within_bounds() {
        assert!(depth_ok(
            "name: x # [[[[\nprocessors:\n  a: { type: \"t[[[[\", config: { k: 'it''s [[[[' } }\n  b:\n    type: t\n    config:\n      text: |\n        [[[[[[\n          {{{{{\n      other: a [[[[[ b\nconnections: [a.out -> b.in]\n"
        ));
    }

    #[test]
    fn every_kind_of_nesting_counts() {
        assert_eq!(deeper_than("a: [[[[[]]]]]\n", 4), Some(1));
        assert_eq!(deeper_than("a: &x !t {b: [{c: [1]}]}\n", 4), Some(1));
        assert_eq!(deeper_than("- - - - - x\n", 4), Some(1));
        assert_eq!(
            deeper_than("a:\n b:\n  c:\n   d:\n    e:\n     f: 1\n", 4),
            Some(5)
        );
        assert_eq!(deeper_than("a:\n  [\n  [\n  [\n  [\n", 4), Some(4));
        assert_eq!(deeper_than("--- [[[[[[\n", 4), Some(1));
    }

    #[test]
    fn depth_and_size_are_refused_before_parsing() {
        let deep = "[".repeat(200_000);
        let started = std::time::Instant::now();
        let err = parse::<serde_json::Value>(Path::new("p.yaml"), &deep).unwrap_err();
        assert!(started.elapsed().as_secs() < 2, "{:?}", started.elapsed());
        assert_eq!(
            err.to_string(),
            "p.yaml: line 1: nesting is deeper than 64 levels, the most plexus reads"
        );
        let big = format!("# {}\na: 1\n", "x".repeat(MAX_FILE_BYTES));
        let err = parse::<serde_json::Value>(Path::new("p.yaml"), &big).unwrap_err();
        assert!(err.to_string().contains("larger than 4 MiB"), "{err}");
        // The document itself is the first level.
        let nested = format!("{}{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse::<serde_json::Value>(Path::new("p.yaml"), &nested).is_ok());
    }
}
