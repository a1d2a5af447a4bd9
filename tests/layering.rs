//! The crate's layering rule (README, "Layout"; `docs/architecture.md`), read off the source
//! text: every `crate::…` and `super::…` path in `src/` (tests included) and in the kernels
//! crate is resolved to the file it names, and
//!
//! 1. a top-level module only uses modules of its own rank or below ([`RANKS`]), and modules of
//!    one rank do not use each other both ways;
//! 2. no two files use each other;
//! 3. `flows/mod.rs` holds the registry only (the traits, the layer table, the modules) and no
//!    helper functions;
//! 4. in the page, each mode (`web/playground`, `web/images`, `web/inverse`, `web/papers`) uses
//!    only the shell (`web/shell`), and only the app (`web/app.rs`) uses the modes;
//! 5. no function is longer than 90 lines, data tables ([`DATA_TABLES`]) aside.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules from the bottom up; a module may use its own rank and those below.
const RANKS: &[&[&str]] = &[
    &[
        "rng",
        "device",
        "atomic_file",
        "readback",
        "numeric",
        "testing",
    ],
    &["fused"],
    &["flows"],
    &["targets", "images", "evaluate"],
    &["train"],
    &["inverse"],
    &["model_file"],
    &["explore", "presets", "reproduce"],
    &["plot"],
    &["cli", "web"],
];

type Module = Vec<String>;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The modules of the `.rs` files under `root`, each with its path.
fn modules(root: &Path) -> BTreeMap<Module, PathBuf> {
    rust_files(root)
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut m: Module = rel
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if m.last().is_some_and(|s| s == "mod" || s == "lib") {
                m.pop();
            }
            (m, path)
        })
        .collect()
}

/// The source without comments and string literals (a path in a doc comment or a message is
/// not a use).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' or '{' (lifetimes like 'a pass through unchanged).
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                let mut it = rest.chars();
                match (it.next(), it.next(), it.next()) {
                    (Some('\\'), _, _) => {
                        for c in chars.by_ref() {
                            if c == '\'' {
                                break;
                            }
                        }
                    }
                    (Some(_), Some('\''), _) => {
                        chars.next();
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The paths of a `use`-tree or expression path starting at `s` (after `crate::` or
/// `super::`): `a::b::{c, d::e}` gives `[a, b, c]` and `[a, b, d, e]`.
fn path_tree(s: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        while *i < s.len() && s[*i].is_whitespace() {
            *i += 1;
        }
        if *i < s.len() && s[*i] == '{' {
            *i += 1;
            loop {
                path_tree(s, i, path.clone(), out);
                while *i < s.len() && s[*i].is_whitespace() {
                    *i += 1;
                }
                match s.get(*i) {
                    Some(',') => *i += 1,
                    Some('}') => {
                        *i += 1;
                        return;
                    }
                    _ => return,
                }
                while *i < s.len() && s[*i].is_whitespace() {
                    *i += 1;
                }
                if s.get(*i) == Some(&'}') {
                    *i += 1;
                    return;
                }
            }
        }
        let start = *i;
        while *i < s.len() && (s[*i].is_alphanumeric() || s[*i] == '_') {
            *i += 1;
        }
        if start == *i {
            break;
        }
        path.push(s[start..*i].iter().collect());
        if s.get(*i) == Some(&':') && s.get(*i + 1) == Some(&':') {
            *i += 2;
        } else {
            break;
        }
    }
    out.push(path);
}

/// Every module path that `text` (the file of module `module`) names through `crate::` or
/// `super::`, as written (not yet resolved to a file). Inline modules (`mod tests { … }`) are
/// followed: their first `super` is the file's own module.
fn named_paths(text: &str, module: &Module) -> Vec<Vec<String>> {
    let s: Vec<char> = code_only(text).chars().collect();
    let mut out = Vec::new();
    let (mut depth, mut inline_mods) = (0usize, Vec::<usize>::new());
    let mut i = 0;
    while i < s.len() {
        let word_start = i == 0 || !(s[i - 1].is_alphanumeric() || s[i - 1] == '_');
        let at = |i: usize, w: &str| s[i..].iter().take(w.len()).copied().eq(w.chars());
        if word_start && at(i, "crate::") {
            i += "crate::".len();
            path_tree(&s, &mut i, Vec::new(), &mut out);
        } else if word_start && at(i, "super::") {
            let mut supers = 0usize;
            while at(i, "super::") {
                supers += 1;
                i += "super::".len();
            }
            // `super` of `a/b/c.rs` or of `a/b/mod.rs`'s inline module is `a::b`'s parent
            // or `a::b` respectively.
            let mut base = module.clone();
            for _ in 0..supers.saturating_sub(inline_mods.len()) {
                base.pop();
            }
            path_tree(&s, &mut i, base, &mut out);
        } else if word_start && at(i, "mod ") {
            let mut j = i + 4;
            while j < s.len() && (s[j].is_alphanumeric() || s[j] == '_' || s[j] == ' ') {
                j += 1;
            }
            if s.get(j) == Some(&'{') {
                depth += 1;
                inline_mods.push(depth);
                i = j + 1;
            } else {
                i = j;
            }
        } else {
            match s[i] {
                '{' => depth += 1,
                '}' => {
                    if inline_mods.last() == Some(&depth) {
                        inline_mods.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// The file module a path lands in: its longest prefix that is a file.
fn resolve(path: &[String], files: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|k| path[..k].to_vec())
        .find(|m| files.contains_key(m))
}

/// File → the files it uses.
fn edges(root: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = modules(root);
    let mut edges = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let used: BTreeSet<Module> = named_paths(&text, module)
            .iter()
            .filter_map(|p| resolve(p, &files))
            .filter(|m| m != module && !m.is_empty())
            .collect();
        edges.insert(module.clone(), used);
    }
    edges
}

fn name(m: &Module) -> String {
    m.join("/")
}

fn rank(top: &str) -> usize {
    RANKS
        .iter()
        .position(|r| r.contains(&top))
        .unwrap_or_else(|| panic!("top-level module '{top}' has no rank in RANKS: add it"))
}

fn two_way_uses(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<String> {
    let mut found = Vec::new();
    for (a, used) in edges {
        for b in used {
            if a < b && edges.get(b).is_some_and(|u| u.contains(a)) {
                found.push(format!("{} ↔ {}", name(a), name(b)));
            }
        }
    }
    found
}

#[test]
fn no_two_files_use_each_other() {
    for root in ["src", "crates/kernels/src"] {
        let found = two_way_uses(&edges(Path::new(root)));
        assert!(found.is_empty(), "in {root}: {found:#?}");
    }
}

#[test]
fn no_module_uses_a_higher_layer() {
    let edges = edges(Path::new("src"));
    let mut upward = Vec::new();
    let mut tops: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, used) in &edges {
        if a.is_empty() {
            continue;
        }
        for b in used {
            if a[0] == b[0] {
                continue;
            }
            tops.entry(&a[0]).or_default().insert(&b[0]);
            if rank(&a[0]) < rank(&b[0]) {
                upward.push(format!("{} → {}", name(a), name(b)));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "lower layers using higher ones: {upward:#?}"
    );
    for (a, used) in &tops {
        for b in used {
            assert!(
                !tops.get(b).is_some_and(|u| u.contains(a)),
                "{a} and {b} use each other"
            );
        }
    }
}

/// The page's wings (`docs/architecture.md`): the shell below the four modes, the app above
/// them; a mode uses the shell and nothing of another mode.
#[test]
fn the_page_wings_use_only_the_shell() {
    let edges = edges(Path::new("src"));
    let wing =
        |m: &Module| -> Option<String> { (m.len() >= 2 && m[0] == "web").then(|| m[1].clone()) };
    let rank = |w: &str| match w {
        "shell" => 0,
        "playground" | "images" | "inverse" | "papers" => 1,
        "app" => 2,
        other => panic!("web/{other}: not the shell, a mode or the app"),
    };
    let mut wrong = Vec::new();
    for (a, used) in &edges {
        let Some(wa) = wing(a) else { continue };
        for b in used {
            let Some(wb) = wing(b) else { continue };
            if wa != wb && rank(&wa) <= rank(&wb) {
                wrong.push(format!("{} → {}", name(a), name(b)));
            }
        }
    }
    assert!(wrong.is_empty(), "page wings crossing: {wrong:#?}");
}

/// The checker itself finds what it is for: a file pair that uses each other through
/// `super::`, a braced `use crate::{…}` group, a path in an expression, `super` inside an
/// inline test module; not paths in comments or strings.
#[test]
fn the_checker_sees_every_form_of_use() {
    let dir = std::env::temp_dir().join(format!("flowplay-layering-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod a;").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "pub mod x;\npub mod y;\npub mod z;").unwrap();
    std::fs::write(
        dir.join("a/x.rs"),
        "use crate::{a::{y::Thing, z}, b};\n// use super::z::Nothing;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("a/y.rs"),
        "fn f() { let s = \"crate::a::z\"; super::x::g(); }",
    )
    .unwrap();
    std::fs::write(
        dir.join("a/z.rs"),
        "fn h() -> char { '\"' }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::y;\n}",
    )
    .unwrap();
    let e = edges(&dir);
    let m = |s: &str| -> Module { s.split('/').map(String::from).collect() };
    assert_eq!(e[&m("a/x")], BTreeSet::from([m("a/y"), m("a/z")]));
    assert_eq!(e[&m("a/y")], BTreeSet::from([m("a/x")]));
    // In z's inline test module `super` is z itself, `super::super` is `a`.
    assert_eq!(e[&m("a/z")], BTreeSet::from([m("a/y")]));
    assert_eq!(two_way_uses(&e), vec!["a/x ↔ a/y".to_string()]);
    std::fs::remove_dir_all(dir).ok();
}

/// `flows/mod.rs` is the layer registry: module declarations, re-exports, the two traits, the
/// `layers!` table and what the table generates; helpers live in `flows/ops.rs`.
#[test]
fn the_flows_module_file_is_the_registry_only() {
    let text = code_only(&std::fs::read_to_string("src/flows/mod.rs").unwrap());
    let free_functions: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("pub fn") || l.starts_with("fn") || l.starts_with("pub(crate) fn")
        })
        .collect();
    assert!(
        free_functions.is_empty(),
        "helpers in flows/mod.rs: {free_functions:?}"
    );
}

/// Functions that are tables of data rather than logic, exempt from the length rule.
const DATA_TABLES: &[(&str, &str)] = &[("src/presets.rs", "all")];

/// The longest a function may be, in lines from its signature to its closing brace.
const MAX_FUNCTION_LINES: usize = 90;

/// `(name, lines)` of every function in `text` that rustfmt laid out (a signature line starting
/// with `fn`/`pub fn`/`async fn`… and a closing brace at the same indentation).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "fn");
        let is_fn = at.is_some_and(|k| {
            words[..k]
                .iter()
                .all(|w| w.starts_with("pub") || *w == "async" || *w == "const" || *w == "unsafe")
        });
        if let (true, Some(k)) = (is_fn, at)
            && !line.trim_end().ends_with(';')
        {
            let name: String = words
                .get(k + 1)
                .map(|w| {
                    w.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect()
                })
                .unwrap_or_default();
            let close = format!("{}}}", " ".repeat(indent));
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].trim_end() == close)
                .unwrap_or(i);
            out.push((name, end - i + 1));
            i = end + 1;
            continue;
        }
        i += 1;
    }
    out
}

#[test]
fn no_function_is_longer_than_ninety_lines() {
    let mut files = rust_files(Path::new("src"));
    files.extend(rust_files(Path::new("crates/kernels/src")));
    let mut long = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (name, n) in function_lengths(&text) {
            let exempt = DATA_TABLES
                .iter()
                .any(|(f, table)| path == Path::new(f) && name == *table);
            if n > MAX_FUNCTION_LINES && !exempt {
                long.push(format!("{}: {name} ({n} lines)", path.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines: {long:#?}"
    );
    // The measure itself: a 3-line function and a method inside an impl.
    let sample = "fn a() {\n    x();\n}\nimpl B {\n    pub async fn c(&self) {\n        y();\n        z();\n    }\n}\n";
    assert_eq!(
        function_lengths(sample),
        vec![("a".to_string(), 3), ("c".to_string(), 4)]
    );
}
