//! The code's shape holds: the frontend's layers point down, the plain-Rust
//! layers stay free of the browser, and no crate's modules use each other
//! in a circle.
//!
//! * The frontend's layers, top to bottom: the shell (`app.rs`, `app/`,
//!   `host.rs`, the crate roots), `views/`, `page/`, `sources/`, `model/`.
//!   A file may use (`crate::…`, `super::…`) items of its own layer or of a
//!   layer below, never above: the views take a page and send actions, the
//!   page knows nothing of components, the model nothing of either.
//! * `model/` and `page/` are plain Rust, tested natively: they name none of
//!   `yew`, `web_sys`, `js_sys`, `wasm_bindgen`, `gloo`.
//! * No module cycles in the relay, the simulator or the frontend: when two
//!   files use each other (or a longer circle does), neither can be read or
//!   changed alone. Using one's own parent or child is not a cycle, nor is
//!   what a `tests.rs` file (a module's `#[cfg(test)]` tests) uses.
//!
//! The sources are read, not compiled: comments and string literals are
//! skipped, `use` trees are expanded (`use crate::{a, b::{c, d}}`), and
//! `super::` and `self::` are resolved from the module a line is in
//! (inline `mod tests { … }` included). Each check also runs on small fake
//! trees that break it, so a checker that has gone blind fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------------------
// Reading Rust: tokens without comments and literals.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifiers and punctuation of `text`, each with its line; comments,
/// string and character literals, lifetimes and numbers are left out.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i, &mut line);
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(&chars, i, &mut line);
            } else if word == "b" && at(i) == '\'' {
                i = skip_char_or_lifetime(&chars, i);
            } else if prefix && (at(i) == '"' || at(i) == '#') {
                let mut hashes = 0;
                while at(i + hashes) == '#' {
                    hashes += 1;
                }
                if at(i + hashes) == '"' {
                    i = skip_raw_string(&chars, i + hashes, hashes, &mut line);
                } else if word == "r" && hashes == 1 && is_ident_start(at(i + 1)) {
                    // A raw identifier: `r#type`.
                    let start = i + 1;
                    i = start;
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                    out.push(Token {
                        tok: Tok::Ident(chars[start..i].iter().collect()),
                        line,
                    });
                } else {
                    out.push(Token {
                        tok: Tok::Ident(word),
                        line,
                    });
                }
            } else {
                out.push(Token {
                    tok: Tok::Ident(word),
                    line,
                });
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    out
}

/// Past the string literal whose `"` is at `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    i += 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Past the raw string literal whose `"` is at `i`, closed by `"` and
/// `hashes` `#`s.
fn skip_raw_string(chars: &[char], mut i: usize, hashes: usize, line: &mut usize) -> usize {
    i += 1;
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        if chars[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}

/// Past a character literal (`'x'`, `'\n'`, `'\u{1F600}'`) at `i`, or past
/// the quote of a lifetime or label (`'a`), whose name is then read as an
/// identifier that no path starts with.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 3;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        j + 1
    } else if chars.get(i + 2) == Some(&'\'') {
        i + 3
    } else {
        i + 1
    }
}

// ---------------------------------------------------------------------------
// Paths: what each file names of its crate.

/// A path as written in the source.
#[derive(Clone, Debug)]
struct Written {
    /// `crate`, `super`, `self`, or a name.
    segments: Vec<String>,
    line: usize,
    /// The module the path is written in (a file's, or an inline one's).
    scope: Vec<String>,
    /// Part of a `use` declaration, so a relative first segment may be a
    /// child module.
    in_use: bool,
}

/// One leaf of a `use` tree.
struct UseLeaf {
    segments: Vec<String>,
    line: usize,
    /// The name the leaf binds (none for a glob).
    binds: Option<String>,
}

/// Parses the `use` tree starting at `tokens[*pos]`, under `prefix`.
fn use_tree(tokens: &[Token], pos: &mut usize, prefix: Vec<String>, out: &mut Vec<UseLeaf>) {
    let mut path = prefix;
    while let Some(token) = tokens.get(*pos) {
        match &token.tok {
            Tok::PathSep => *pos += 1,
            Tok::Ident(name) => {
                path.push(name.clone());
                let line = token.line;
                *pos += 1;
                if tokens.get(*pos).map(|t| &t.tok) == Some(&Tok::PathSep) {
                    *pos += 1;
                    continue;
                }
                let mut binds = Some(name.clone());
                if name == "self" {
                    path.pop();
                    binds = path.last().cloned();
                }
                if tokens.get(*pos).map(|t| &t.tok) == Some(&Tok::Ident("as".into())) {
                    binds = match tokens.get(*pos + 1).map(|t| &t.tok) {
                        Some(Tok::Ident(alias)) if alias != "_" => Some(alias.clone()),
                        _ => None,
                    };
                    *pos += 2;
                }
                out.push(UseLeaf {
                    segments: path,
                    line,
                    binds,
                });
                return;
            }
            Tok::Punct('*') => {
                *pos += 1;
                out.push(UseLeaf {
                    segments: path,
                    line: token.line,
                    binds: None,
                });
                return;
            }
            Tok::Punct('{') => {
                *pos += 1;
                loop {
                    match tokens.get(*pos).map(|t| &t.tok) {
                        None => return,
                        Some(Tok::Punct('}')) => {
                            *pos += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *pos += 1,
                        Some(_) => {
                            let before = *pos;
                            use_tree(tokens, pos, path.clone(), out);
                            if *pos == before {
                                *pos += 1;
                            }
                        }
                    }
                }
            }
            _ => return,
        }
    }
}

/// Every path a file writes that may name its own crate: `use` leaves,
/// and paths starting with `crate::`, `super::`, `self::` or a name that
/// some `use` bound. `module` is the file's module path.
fn written_paths(text: &str, module: &[String]) -> (Vec<Written>, BTreeMap<String, Written>) {
    let tokens = tokens(text);
    let mut paths = Vec::new();
    let mut bound = BTreeMap::new();
    let mut loose = Vec::new();
    // Inline modules open: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut opening: Option<String> = None;
    let scope = |inline: &[(String, usize)]| {
        let mut scope = module.to_vec();
        scope.extend(inline.iter().map(|(name, _)| name.clone()));
        scope
    };
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i].tok;
        let next = tokens.get(i + 1).map(|t| &t.tok);
        match tok {
            Tok::Punct('{') => {
                depth += 1;
                if let Some(name) = opening.take() {
                    inline.push((name, depth));
                }
                i += 1;
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, at)| *at == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(word) if word == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct('{'))) =
                    (next, tokens.get(i + 2).map(|t| &t.tok))
                {
                    opening = Some(name.clone());
                }
                i += 1;
            }
            // (Not a bound's `use<'a>`.)
            Tok::Ident(word) if word == "use" && next != Some(&Tok::Punct('<')) => {
                let mut leaves = Vec::new();
                let mut pos = i + 1;
                use_tree(&tokens, &mut pos, Vec::new(), &mut leaves);
                while pos < tokens.len() && tokens[pos].tok != Tok::Punct(';') {
                    pos += 1;
                }
                let here = scope(&inline);
                for leaf in leaves {
                    let written = Written {
                        segments: leaf.segments,
                        line: leaf.line,
                        scope: here.clone(),
                        in_use: true,
                    };
                    if let Some(name) = leaf.binds {
                        bound.insert(name, written.clone());
                    }
                    paths.push(written);
                }
                i = pos + 1;
            }
            Tok::Ident(word) if next == Some(&Tok::PathSep) => {
                let after_sep = i > 0 && tokens[i - 1].tok == Tok::PathSep;
                let macro_crate = i > 0 && tokens[i - 1].tok == Tok::Punct('$');
                let visibility = i > 0 && tokens[i - 1].tok == Tok::Ident("in".into());
                let mut segments = vec![word.clone()];
                let line = tokens[i].line;
                let mut j = i + 1;
                while tokens.get(j).map(|t| &t.tok) == Some(&Tok::PathSep) {
                    match tokens.get(j + 1).map(|t| &t.tok) {
                        Some(Tok::Ident(name)) => {
                            segments.push(name.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                if !after_sep && !macro_crate && !visibility {
                    let written = Written {
                        segments,
                        line,
                        scope: scope(&inline),
                        in_use: false,
                    };
                    if matches!(word.as_str(), "crate" | "super" | "self") {
                        paths.push(written);
                    } else {
                        loose.push(written);
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    // A path through a name a `use` bound: `use crate::model;` then
    // `model::Costs`.
    for path in loose {
        if let Some(binding) = bound.get(&path.segments[0]) {
            let mut segments = binding.segments.clone();
            segments.extend(path.segments[1..].iter().cloned());
            paths.push(Written {
                segments,
                scope: binding.scope.clone(),
                in_use: binding.in_use,
                ..path
            });
        } else {
            paths.push(path);
        }
    }
    (paths, bound)
}

// ---------------------------------------------------------------------------
// A crate's files and what each uses.

/// One `.rs` file under a crate's `src/`.
struct SourceFile {
    /// The path shown in messages (from the workspace, or the fake tree).
    shown: String,
    /// Its module path: `[]` for `lib.rs`, `["model", "world"]` for
    /// `model/world.rs` or `model/world/mod.rs`.
    module: Vec<String>,
    /// A crate root of its own (`main.rs`, `bin/…`): not part of the
    /// library's module tree.
    binary: bool,
    /// A module's `#[cfg(test)]` tests, kept in a file of their own.
    tests_file: bool,
    text: String,
}

/// A use of an item of the crate, resolved to the file that holds it.
struct Use {
    /// The file's index in the crate's files.
    to: usize,
    /// The module path the use names.
    target: Vec<String>,
    line: usize,
    /// As written.
    written: String,
}

struct Crate {
    files: Vec<SourceFile>,
    /// For each file, what it uses of the crate (its own file excluded).
    uses: Vec<Vec<Use>>,
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// Reads the crate whose sources are under `src`, naming its files as
/// `shown_as` followed by their path under `src`.
fn read_crate(src: &Path, shown_as: &str) -> Crate {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    assert!(!paths.is_empty(), "no Rust files under {}", src.display());
    let files: Vec<SourceFile> = paths
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(src).unwrap();
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            let binary = module == ["main"] || module.first().is_some_and(|first| first == "bin");
            if module == ["lib"] || module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            SourceFile {
                shown: format!("{shown_as}/{}", relative.display()),
                module,
                binary,
                tests_file: relative.file_name().is_some_and(|name| name == "tests.rs"),
                text: std::fs::read_to_string(path).unwrap(),
            }
        })
        .collect();
    let library: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .filter(|(_, file)| !file.binary)
        .map(|(index, file)| (file.module.clone(), index))
        .collect();
    let is_module_prefix = |path: &[String]| library.keys().any(|module| module.starts_with(path));
    let uses = files
        .iter()
        .enumerate()
        .map(|(from, file)| {
            if file.binary {
                return Vec::new();
            }
            let (paths, _) = written_paths(&file.text, &file.module);
            paths
                .into_iter()
                .filter_map(|path| {
                    let target = resolve(&path, &is_module_prefix)?;
                    let to = (0..=target.len())
                        .rev()
                        .find_map(|len| library.get(&target[..len]))
                        .copied()?;
                    (to != from).then(|| Use {
                        to,
                        target,
                        line: path.line,
                        written: path.segments.join("::"),
                    })
                })
                .collect()
        })
        .collect();
    Crate { files, uses }
}

/// The module path `path` names in its crate, or `None` for another crate's.
fn resolve(path: &Written, is_module_prefix: &dyn Fn(&[String]) -> bool) -> Option<Vec<String>> {
    let segments = &path.segments;
    let (mut target, rest) = match segments.first()?.as_str() {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (path.scope.clone(), &segments[1..]),
        "super" => (path.scope.clone(), &segments[..]),
        first => {
            // A child module, named relatively (`use lanes::Lane;`).
            let mut child = path.scope.clone();
            child.push(first.to_owned());
            if !(path.in_use && is_module_prefix(&child)) {
                return None;
            }
            (child, &segments[1..])
        }
    };
    for segment in rest {
        if segment == "super" {
            target.pop()?;
        } else {
            target.push(segment.clone());
        }
    }
    Some(target)
}

// ---------------------------------------------------------------------------
// Check 1: the frontend's layers.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Model,
    Sources,
    Page,
    Views,
    Shell,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Model => "model",
            Layer::Sources => "sources",
            Layer::Page => "page",
            Layer::Views => "views",
            Layer::Shell => "the shell",
        })
    }
}

/// The layer of a module, by its folder: everything outside the four
/// folders (the crate roots, `app`, `host`) is the shell.
fn layer(module: &[String]) -> Layer {
    match module.first().map(String::as_str) {
        Some("model") => Layer::Model,
        Some("sources") => Layer::Sources,
        Some("page") => Layer::Page,
        Some("views") => Layer::Views,
        _ => Layer::Shell,
    }
}

/// Every use of an item from a layer above the file's own.
fn upward_imports(krate: &Crate) -> Vec<String> {
    let mut found = Vec::new();
    for (file, uses) in krate.files.iter().zip(&krate.uses) {
        let own = layer(&file.module);
        for found_use in uses {
            let theirs = layer(&found_use.target);
            if theirs > own {
                found.push(format!(
                    "{}:{}: `{}`: {own} uses {theirs}, a layer above it",
                    file.shown, found_use.line, found_use.written
                ));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Check 2: no browser in the plain-Rust layers.

/// The browser's crates, which only the views and the shell may name.
const WEB_CRATES: &[&str] = &["yew", "web_sys", "js_sys", "wasm_bindgen", "gloo"];

/// Whether `name` is one of the browser's crates (or one of their family,
/// such as `gloo_timers` or `wasm_bindgen_futures`).
fn is_web_crate(name: &str) -> bool {
    WEB_CRATES.iter().any(|web| {
        name == *web
            || name
                .strip_prefix(web)
                .is_some_and(|rest| rest.starts_with('_'))
    })
}

/// Every mention of a browser crate in `model/` and `page/`.
fn web_crates_in_plain_layers(krate: &Crate) -> Vec<String> {
    let mut found = Vec::new();
    for file in &krate.files {
        let own = layer(&file.module);
        if !matches!(own, Layer::Model | Layer::Page) {
            continue;
        }
        for token in tokens(&file.text) {
            if let Tok::Ident(name) = &token.tok
                && is_web_crate(name)
            {
                found.push(format!(
                    "{}:{}: `{name}` in {own}, which is plain Rust",
                    file.shown, token.line
                ));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Check 3: no module cycles.

/// Every cycle among a crate's library files, one per group of files that
/// reach each other, written as the circle of uses. An edge between a
/// module and its own ancestor or descendant does not count, nor does what
/// a `tests.rs` file uses.
fn module_cycles(krate: &Crate) -> Vec<String> {
    let files = &krate.files;
    let counts = |from: usize, to: usize| {
        let (a, b) = (&files[from], &files[to]);
        !a.binary
            && !b.binary
            && !a.tests_file
            && !b.tests_file
            && !a.module.starts_with(&b.module)
            && !b.module.starts_with(&a.module)
    };
    // The first use of each file by each other.
    let mut edges: Vec<BTreeMap<usize, &Use>> = vec![BTreeMap::new(); files.len()];
    for (from, uses) in krate.uses.iter().enumerate() {
        for found_use in uses {
            if counts(from, found_use.to) {
                edges[from].entry(found_use.to).or_insert(found_use);
            }
        }
    }
    let mut cycles = Vec::new();
    for group in strongly_connected(&edges) {
        if group.len() < 2 {
            continue;
        }
        let members: BTreeSet<usize> = group.iter().copied().collect();
        let start = *members.first().unwrap();
        let circle = shortest_circle(&edges, &members, start);
        let mut text = format!(
            "a module cycle: {}",
            circle
                .iter()
                .chain([&start])
                .map(|&file| files[file].shown.as_str())
                .collect::<Vec<_>>()
                .join(" -> ")
        );
        for (index, &from) in circle.iter().enumerate() {
            let to = circle.get(index + 1).copied().unwrap_or(start);
            let found_use = edges[from][&to];
            text.push_str(&format!(
                "\n    {}:{}: `{}`",
                files[from].shown, found_use.line, found_use.written
            ));
        }
        if members.len() > circle.len() {
            text.push_str(&format!(
                "\n    (these files all reach each other: {})",
                members
                    .iter()
                    .map(|&file| files[file].shown.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        cycles.push(text);
    }
    cycles
}

/// The groups of nodes that reach each other (Tarjan's algorithm).
fn strongly_connected(edges: &[BTreeMap<usize, &Use>]) -> Vec<Vec<usize>> {
    struct Walk<'a, 'b> {
        edges: &'a [BTreeMap<usize, &'b Use>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        groups: Vec<Vec<usize>>,
    }
    fn visit(walk: &mut Walk, node: usize) {
        walk.index[node] = Some(walk.next);
        walk.low[node] = walk.next;
        walk.next += 1;
        walk.stack.push(node);
        walk.on_stack[node] = true;
        let targets: Vec<usize> = walk.edges[node].keys().copied().collect();
        for to in targets {
            match walk.index[to] {
                None => {
                    visit(walk, to);
                    walk.low[node] = walk.low[node].min(walk.low[to]);
                }
                Some(index) if walk.on_stack[to] => {
                    walk.low[node] = walk.low[node].min(index);
                }
                Some(_) => {}
            }
        }
        if Some(walk.low[node]) == walk.index[node] {
            let mut group = Vec::new();
            while let Some(member) = walk.stack.pop() {
                walk.on_stack[member] = false;
                group.push(member);
                if member == node {
                    break;
                }
            }
            walk.groups.push(group);
        }
    }
    let count = edges.len();
    let mut walk = Walk {
        edges,
        index: vec![None; count],
        low: vec![0; count],
        on_stack: vec![false; count],
        stack: Vec::new(),
        next: 0,
        groups: Vec::new(),
    };
    for node in 0..count {
        if walk.index[node].is_none() {
            visit(&mut walk, node);
        }
    }
    walk.groups
}

/// The shortest circle from `start` back to it within `members`, as the
/// nodes it passes, `start` first.
fn shortest_circle(
    edges: &[BTreeMap<usize, &Use>],
    members: &BTreeSet<usize>,
    start: usize,
) -> Vec<usize> {
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for &node in &frontier {
            for &to in edges[node].keys() {
                if !members.contains(&to) {
                    continue;
                }
                if to == start {
                    let mut circle = vec![node];
                    while let Some(&before) = came_from.get(circle.last().unwrap()) {
                        circle.push(before);
                    }
                    if *circle.last().unwrap() != start {
                        circle.push(start);
                    }
                    circle.reverse();
                    return circle;
                }
                if to != start && !came_from.contains_key(&to) {
                    came_from.insert(to, node);
                    next.push(to);
                }
            }
        }
        frontier = next;
    }
    vec![start]
}

fn edge_count(krate: &Crate) -> usize {
    krate.uses.iter().map(Vec::len).sum()
}

// ---------------------------------------------------------------------------
// The checks on the workspace.

fn workspace_crate(name: &str) -> Crate {
    read_crate(&workspace().join(name).join("src"), &format!("{name}/src"))
}

fn assert_none(found: &[String], what: &str) {
    assert!(
        found.is_empty(),
        "{} {what}:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn frontend_files_use_only_their_own_layer_or_those_below() {
    let frontend = workspace_crate("frontend");
    assert_none(&upward_imports(&frontend), "uses of a layer above");
}

#[test]
fn model_and_page_name_no_browser_crate() {
    let frontend = workspace_crate("frontend");
    assert_none(
        &web_crates_in_plain_layers(&frontend),
        "browser crates in plain Rust",
    );
}

fn assert_no_cycles(name: &str) {
    let krate = workspace_crate(name);
    assert!(
        edge_count(&krate) > 10,
        "{name}: the checker found almost no uses of the crate's own modules"
    );
    assert_none(&module_cycles(&krate), &format!("module cycles in {name}"));
}

#[test]
fn the_relays_modules_use_each_other_one_way() {
    assert_no_cycles("relay");
}

#[test]
fn the_simulators_modules_use_each_other_one_way() {
    assert_no_cycles("sim");
}

#[test]
fn the_frontends_modules_use_each_other_one_way() {
    assert_no_cycles("frontend");
}

// ---------------------------------------------------------------------------
// The checker, on fake trees that break each rule.

/// A fake crate's sources in a directory of their own, removed when done.
struct FakeTree {
    src: PathBuf,
}

impl FakeTree {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let src = std::env::temp_dir().join(format!(
            "loopscope-layers-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&src);
        for (path, text) in files {
            let path = src.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        FakeTree { src }
    }

    fn read(&self) -> Crate {
        read_crate(&self.src, "fake")
    }
}

impl Drop for FakeTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.src);
    }
}

/// A frontend with one upward import (model → page, in a `use` group over
/// several lines), a browser crate in `page/`, and what must not count:
/// browser crates in comments, strings and `views/`, uses downwards, an
/// inline test module's `super::*`, braces in literals.
fn fake_frontend() -> FakeTree {
    FakeTree::new(
        "frontend",
        &[
            (
                "lib.rs",
                "//! yew and web_sys are fine at the top.\nmod app;\nmod model;\nmod page;\nmod views;\n#[wasm_bindgen::prelude::wasm_bindgen]\npub fn f() {}\n",
            ),
            (
                "app.rs",
                "use crate::{model::world::World, page::Page, views::View};\nuse yew::prelude::*;\n",
            ),
            ("model/mod.rs", "pub mod numbers;\npub mod world;\n"),
            (
                "model/numbers.rs",
                "pub fn count<'a>(text: &'a str) -> char {\n    let _ = \"crate::views::View {\";\n    let _ = r#\"use crate::page::Page; \"}\"#;\n    '{'\n}\n",
            ),
            (
                "model/world.rs",
                "//! The world. A comment may name yew, web_sys or crate::views.\nuse std::fmt;\n\nuse crate::{\n    model::numbers::count,\n    page::Page,\n};\n\npub struct World;\n\nfn words() -> &'static str {\n    \"gloo in a string\"\n}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use self::super::World;\n}\n",
            ),
            (
                "page/mod.rs",
                "use crate::model::world::World;\n/* a gloo in a block comment */\nuse web_sys::Window;\npub struct Page;\n",
            ),
            (
                "views/mod.rs",
                "use crate::page::Page;\nuse super::model;\nuse yew::prelude::*;\npub struct View;\nfn f() -> model::world::World { todo!() }\n",
            ),
        ],
    )
}

#[test]
fn the_layer_check_finds_an_upward_import_and_only_that() {
    let fake = fake_frontend();
    let found = upward_imports(&fake.read());
    assert_eq!(
        found,
        ["fake/model/world.rs:6: `crate::page::Page`: model uses page, a layer above it"],
        "{found:#?}"
    );
}

#[test]
fn the_browser_check_finds_a_web_crate_in_page_and_only_that() {
    let fake = fake_frontend();
    let found = web_crates_in_plain_layers(&fake.read());
    assert_eq!(
        found,
        ["fake/page/mod.rs:3: `web_sys` in page, which is plain Rust"],
        "{found:#?}"
    );
    assert!(is_web_crate("gloo_timers") && is_web_crate("wasm_bindgen_futures"));
    assert!(!is_web_crate("yewtree") && !is_web_crate("glooming"));
}

/// A crate with one cycle through `super::super::` and a group `use`
/// (`z` → `x::y` → `z`), and what must not count: a module and its own
/// parent or child using each other, the crate root, and another crate
/// whose name is also one of the crate's modules.
fn fake_cycles() -> FakeTree {
    FakeTree::new(
        "cycles",
        &[
            (
                "lib.rs",
                "mod x;\nmod z;\npub struct Config;\nuse x::Thing;\n",
            ),
            (
                "x/mod.rs",
                "pub mod y;\nuse y::Y;\nuse other::z::Z;\npub struct Thing;\n",
            ),
            (
                "x/y.rs",
                "use super::Thing;\npub struct Y;\nfn f() {\n    let _ = super::super::z::Z;\n    let _ = crate::Config;\n}\n",
            ),
            (
                "z.rs",
                "use crate::{x::{y::Y, Thing}, Config};\npub struct Z;\n",
            ),
        ],
    )
}

#[test]
fn the_cycle_check_finds_a_cycle_and_only_that() {
    let fake = fake_cycles();
    let found = module_cycles(&fake.read());
    assert_eq!(
        found,
        [
            "a module cycle: fake/x/y.rs -> fake/z.rs -> fake/x/y.rs\n    fake/x/y.rs:4: `super::super::z::Z`\n    fake/z.rs:1: `crate::x::y::Y`"
        ],
        "{found:#?}"
    );
}

#[test]
fn use_trees_expand_and_bound_names_resolve() {
    let text = "use crate::{a, b::{self, c as d}, e::*};\nuse ::std::fmt;\nfn f() -> impl Sized + use<> { b::g(); d::h(); $crate::no(); }\n";
    let (paths, bound) = written_paths(text, &["m".to_owned()]);
    let shown: Vec<String> = paths
        .iter()
        .map(|path| format!("{}:{}", path.line, path.segments.join("::")))
        .collect();
    assert_eq!(
        shown,
        [
            "1:crate::a",
            "1:crate::b",
            "1:crate::b::c",
            "1:crate::e",
            "2:std::fmt",
            "3:crate::b::g",
            "3:crate::b::c::h",
        ]
    );
    assert_eq!(bound.keys().collect::<Vec<_>>(), ["a", "b", "d", "fmt"]);
}
