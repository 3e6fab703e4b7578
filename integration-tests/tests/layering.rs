//! The shape of the code, checked: inside every crate of the workspace, no
//! two files import each other, directly or round a circle. A file's
//! imports are its `use crate::…`, `use super::…` and `crate::…` /
//! `super::…` paths, each resolved to the file of the module it names; a
//! `mod` declaration is not an import, and test modules (`#[cfg(test)]`)
//! are left out, as tests may reach anywhere. `cargo test -p integration-tests
//! --test layering` prints any circle it finds, file by file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module tree: its root folder (holding `lib.rs` or `main.rs`) and its
/// files by module path (`["run", "supervise"]`).
struct Tree {
    root: PathBuf,
    files: BTreeMap<Vec<String>, PathBuf>,
}

impl Tree {
    fn read(root: &Path) -> Tree {
        let mut files = BTreeMap::new();
        collect(root, root, &mut files);
        let test_only: Vec<Vec<String>> = files
            .iter()
            .flat_map(|(module, file)| {
                let text = std::fs::read_to_string(file).unwrap();
                test_modules(&text)
                    .into_iter()
                    .map(|name| [module.clone(), vec![name]].concat())
                    .collect::<Vec<_>>()
            })
            .collect();
        files.retain(|module, _| !test_only.iter().any(|t| module.starts_with(t)));
        Tree {
            root: root.to_path_buf(),
            files,
        }
    }

    /// The file of the longest module prefix of `path`.
    fn resolve(&self, path: &[String]) -> Option<&PathBuf> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.files.get(&path[..n]))
    }

    /// Which files each file imports.
    fn imports(&self) -> BTreeMap<&PathBuf, BTreeSet<&PathBuf>> {
        let mut edges = BTreeMap::new();
        for (module, file) in &self.files {
            let text = std::fs::read_to_string(file).unwrap();
            let mut targets = BTreeSet::new();
            for path in paths(&code_only(without_tests(&text))) {
                let Some(absolute) = absolute(module, &path) else {
                    continue;
                };
                if let Some(target) = self.resolve(&absolute).filter(|t| *t != file) {
                    targets.insert(target);
                }
            }
            edges.insert(file, targets);
        }
        edges
    }
}

/// Every `.rs` file under `dir`, by module path relative to `root`.
fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<Vec<String>, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap().with_extension("");
        let mut module: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            module.pop();
        }
        files.insert(module, path);
    }
}

/// The names of the modules `text` declares under `#[cfg(test)]`.
fn test_modules(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]")
        .filter_map(|w| w[1].strip_prefix("mod "))
        .map(|rest| rest.trim_end_matches([';', '{', ' ']).to_string())
        .collect()
}

/// `text` up to its inline test module, if it has one.
fn without_tests(text: &str) -> &str {
    let mut offset = 0;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let inline_test_module = line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim().starts_with("mod ") && next.trim().ends_with('{'));
        if inline_test_module {
            return &text[..offset];
        }
        offset += line.len() + 1;
    }
    text
}

/// The text without comments and string literals.
fn code_only(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_string && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Every path that starts with `crate::` or `super::`, with grouped `use`
/// items (`use super::{a, b::{c, d}}`) expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::"].iter().find(|p| {
            code_at(&bytes, i, p) && (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != ':')
        });
        match starts {
            Some(_) => {
                let (tree, end) = read_use_tree(&bytes, i);
                expand(&tree, &mut Vec::new(), &mut found);
                i = end;
            }
            None => i += 1,
        }
    }
    found
}

fn code_at(chars: &[char], i: usize, word: &str) -> bool {
    word.chars()
        .enumerate()
        .all(|(k, c)| chars.get(i + k) == Some(&c))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A path, or a group of them after a common prefix.
enum UseTree {
    Path(Vec<String>, Vec<UseTree>),
}

/// Reads `a::b::{c, d::e}` from `at`; returns it and where it ended.
fn read_use_tree(chars: &[char], mut at: usize) -> (UseTree, usize) {
    let mut segments = Vec::new();
    let mut group = Vec::new();
    loop {
        while chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        if chars.get(at) == Some(&'{') {
            at += 1;
            loop {
                while chars
                    .get(at)
                    .is_some_and(|c| c.is_whitespace() || *c == ',')
                {
                    at += 1;
                }
                match chars.get(at) {
                    Some('}') | None => return (UseTree::Path(segments, group), at + 1),
                    _ => {
                        let (inner, end) = read_use_tree(chars, at);
                        group.push(inner);
                        at = end;
                    }
                }
            }
        }
        let start = at;
        while chars.get(at).is_some_and(|c| is_ident(*c)) {
            at += 1;
        }
        if at == start {
            return (UseTree::Path(segments, group), at);
        }
        segments.push(chars[start..at].iter().collect());
        if code_at(chars, at, "::") {
            at += 2;
        } else {
            return (UseTree::Path(segments, group), at);
        }
    }
}

fn expand(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let UseTree::Path(segments, group) = tree;
    let depth = prefix.len();
    prefix.extend(segments.iter().filter(|s| *s != "self").cloned());
    if group.is_empty() {
        out.push(prefix.clone());
    }
    for inner in group {
        expand(inner, prefix, out);
    }
    prefix.truncate(depth);
}

/// `path` as seen from `module`, from the crate root.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut parts = path.iter().peekable();
    let mut base: Vec<String> = match parts.next().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => {
            // `super` of `a/b.rs` (module a::b) and of `a/b/mod.rs` is `a`.
            let mut base = module.to_vec();
            base.pop()?;
            base
        }
        _ => return None,
    };
    while parts.peek().map(|s| s.as_str()) == Some("super") {
        parts.next();
        base.pop()?;
    }
    base.extend(parts.cloned());
    Some(base)
}

/// Strongly connected groups of more than one file (Tarjan).
fn circles<'a>(edges: &BTreeMap<&'a PathBuf, BTreeSet<&'a PathBuf>>) -> Vec<Vec<&'a PathBuf>> {
    struct State<'a> {
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        found: Vec<Vec<&'a PathBuf>>,
    }
    fn visit<'a>(
        node: &'a PathBuf,
        edges: &BTreeMap<&'a PathBuf, BTreeSet<&'a PathBuf>>,
        s: &mut State<'a>,
    ) {
        let n = s.index.len();
        s.index.insert(node, n);
        s.low.insert(node, n);
        s.stack.push(node);
        s.on_stack.insert(node);
        for &next in edges.get(node).into_iter().flatten() {
            if !s.index.contains_key(next) {
                visit(next, edges, s);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut group = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                group.push(top);
                if top == node {
                    break;
                }
            }
            if group.len() > 1 {
                s.found.push(group);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for &node in edges.keys() {
        if !state.index.contains_key(node) {
            visit(node, edges, &mut state);
        }
    }
    state.found
}

/// Every module tree of the workspace: each member's `src/` and each bench
/// or test folder with a `main.rs`.
fn trees() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    let mut roots = Vec::new();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() {
            continue;
        }
        let dir = workspace.join(member);
        roots.push(dir.join("src"));
        for extra in ["benches", "tests"] {
            let Ok(entries) = std::fs::read_dir(dir.join(extra)) else {
                continue;
            };
            roots.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("main.rs").is_file()),
            );
        }
    }
    roots
}

#[test]
fn no_file_imports_itself_round_a_circle() {
    let mut found = Vec::new();
    let mut files = 0;
    for root in trees() {
        let tree = Tree::read(&root);
        files += tree.files.len();
        for circle in circles(&tree.imports()) {
            let names: Vec<String> = circle
                .iter()
                .map(|f| f.strip_prefix(&tree.root).unwrap().display().to_string())
                .collect();
            found.push(format!("{}: {}", root.display(), names.join(" ⇄ ")));
        }
    }
    assert!(files > 100, "read only {files} files");
    assert!(found.is_empty(), "module circles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_a_circle_and_grouped_imports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("run")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "mod run;\nmod table;\n#[cfg(test)]\nmod testing;\n",
    )
    .unwrap();
    std::fs::write(src.join("testing.rs"), "use crate::table::render;\n").unwrap();
    std::fs::write(
        src.join("table.rs"),
        "pub fn render() {}\n#[cfg(test)]\nmod tests {\n    use crate::run::a::A;\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("run/mod.rs"),
        "mod a;\nmod b;\nuse crate::{table::render, run::a::{A}};\n",
    )
    .unwrap();
    std::fs::write(src.join("run/a.rs"), "use super::b::B; // crate::table\n").unwrap();
    std::fs::write(
        src.join("run/b.rs"),
        "pub struct B;\nfn f() { let s = \"crate::run\"; super::a::A; }\n",
    )
    .unwrap();
    let tree = Tree::read(src);
    let edges = tree.imports();
    let name = |p: &PathBuf| p.strip_prefix(src).unwrap().display().to_string();
    let of =
        |file: &str| -> Vec<String> { edges[&src.join(file)].iter().map(|p| name(p)).collect() };
    assert_eq!(of("run/mod.rs"), ["run/a.rs", "table.rs"]);
    assert_eq!(of("run/a.rs"), ["run/b.rs"]);
    assert_eq!(of("run/b.rs"), ["run/a.rs"]);
    assert!(of("table.rs").is_empty(), "its test module is left out");
    assert!(!edges.contains_key(&src.join("testing.rs")), "test-only");
    let found = circles(&edges);
    assert_eq!(found.len(), 1);
    let mut names: Vec<String> = found[0].iter().map(|p| name(p)).collect();
    names.sort();
    assert_eq!(names, ["run/a.rs", "run/b.rs"]);
}
