//! The layers of src/: no module imports from a module above it (a `use crate::X` or a
//! `crate::X::` path in a module below X), the two front-ends do not import each other, every
//! top-level module has its place, and nothing outside the command line knows clap.
//!
//! Written with issue 22's layout: it fails on the tree before that issue's branches are merged
//! (cli imports repl, protocols knows clap, fastText and the other formats are top-level
//! modules) and is expected to pass once they are. It lists every violation it finds.

use std::collections::BTreeSet;

use crate::util::src_files;

/// The layers, top to bottom. A module may import from its own layer and from the layers below
/// it, never from one above.
const LAYERS: &[&[&str]] = &[
    &["cli", "repl"],
    &["runner", "settings"],
    &["render", "svgfiles"],
    &["protocols"],
    &["eval"],
    // The command table sits with the syntax: the evaluator routes the settings commands by it
    // and the lexer reads which commands take an expression.
    &["parse", "ast", "commands"],
    &["embedded"],
    &["index"],
    &["search", "ivf", "projection"],
    &["loader"],
    &["text", "progress", "lmdb_file"],
];

/// Modules of one layer that may not import each other: the two front-ends.
const APART: &[[&str; 2]] = &[["cli", "repl"]];

/// The files that may use clap: the command line and the binary.
fn may_use_clap(file: &str) -> bool {
    file == "src/cli.rs" || file.starts_with("src/cli/") || file == "src/main.rs"
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a source file belongs to: `src/index/open.rs` → `index`; `None` for
/// the crate roots (src/lib.rs declares the modules; src/main.rs is the binary).
fn module_of(file: &str) -> Option<&str> {
    let rel = file.strip_prefix("src/").unwrap();
    if rel == "lib.rs" || rel == "main.rs" {
        return None;
    }
    let first = rel.split('/').next().unwrap();
    Some(first.strip_suffix(".rs").unwrap_or(first))
}

/// `text` with comments, string literals and character literals blanked out (newlines kept, so
/// offsets keep their line), leaving only code.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        // A line comment (doc comments included).
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
            continue;
        }
        // A block comment; they nest.
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            continue;
        }
        // A raw string: r"…", r#"…"#, br#"…"#.
        if c[i] == 'r'
            && (i == 0 || !ident(c[i - 1]) || (c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2]))))
        {
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            if c.get(j) == Some(&'"') {
                let hashes = j - i - 1;
                let mut k = j + 1;
                while k < c.len()
                    && !(c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#')))
                {
                    k += 1;
                }
                let end = (k + 1 + hashes).min(c.len());
                for &ch in &c[i..end] {
                    blank(&mut out, ch);
                }
                i = end;
                continue;
            }
        }
        // A string.
        if c[i] == '"' {
            blank(&mut out, c[i]);
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            if i < c.len() {
                blank(&mut out, c[i]);
                i += 1;
            }
            continue;
        }
        // A character literal ('x', '\n', '\u{e9}', '"'), not a lifetime ('a).
        if c[i] == '\'' {
            let end = if c.get(i + 1) == Some(&'\\') {
                (i + 2..c.len()).find(|&k| c[k] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            if let Some(end) = end {
                for &ch in &c[i..=end] {
                    blank(&mut out, ch);
                }
                i = end + 1;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// The top-level modules `code` reaches through `crate::`, each with the line of its first
/// mention: `use crate::index::Store`, `crate::text::escape(…)`, `use crate::{eval, render::X}`.
fn crate_references(code: &str) -> Vec<(String, usize)> {
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident_end = |s: &str| {
        s.find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .unwrap_or(s.len())
    };
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$') {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // The items of the group, split at its top-level commas.
            let mut depth = 0;
            let mut item_start = 0;
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        let item = group[item_start..k].trim();
                        found.push((item[..ident_end(item)].to_string(), line_of(at)));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let item = group[item_start..k].trim();
                        found.push((item[..ident_end(item)].to_string(), line_of(at)));
                        item_start = k + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push((rest[..ident_end(rest)].to_string(), line_of(at)));
        }
    }
    found.retain(|(m, _)| !m.is_empty() && m != "self");
    found
}

/// The violations in one source file (`file` as `src/index/open.rs`, `code` from [`code_only`]).
fn violations_in(file: &str, code: &str) -> Vec<String> {
    let mut found = Vec::new();
    if !may_use_clap(file) {
        let mention = code.match_indices("clap").find(|&(at, _)| {
            let before = code[..at].chars().next_back();
            let after = code[at + "clap".len()..]
                .trim_start_matches(|ch: char| ch.is_alphanumeric() || ch == '_');
            !before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_') && after.starts_with("::")
        });
        if let Some((at, _)) = mention {
            let line = code[..at].matches('\n').count() + 1;
            found.push(format!(
                "{file}:{line}: uses clap; only the command line (src/cli.rs, src/cli/) may"
            ));
        }
    }
    let Some(from) = module_of(file) else {
        return found;
    };
    let Some(from_layer) = layer(from) else {
        found.push(format!("{file}: module `{from}` has no layer"));
        return found;
    };
    let mut seen = BTreeSet::new();
    for (to, line) in crate_references(code) {
        if to == from || !seen.insert(to.clone()) {
            continue;
        }
        let Some(to_layer) = layer(&to) else {
            found.push(format!(
                "{file}:{line}: `{from}` imports `{to}`, which has no layer"
            ));
            continue;
        };
        if to_layer < from_layer {
            found.push(format!(
                "{file}:{line}: `{from}` imports `{to}`, a layer above it"
            ));
        } else if APART
            .iter()
            .any(|pair| pair.contains(&from) && pair.contains(&to.as_str()))
        {
            found.push(format!(
                "{file}:{line}: `{from}` imports `{to}`; neither may import the other"
            ));
        }
    }
    found
}

/// Every violation in the tree, one line each.
fn violations() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for file in src_files() {
        let code = code_only(&std::fs::read_to_string(root.join(&file)).unwrap());
        found.extend(violations_in(&file, &code));
    }
    found
}

/// Expected to fail until issue 22's branches are merged (then: `cargo test --test tests
/// layers`).
#[test]
fn no_module_imports_from_a_module_above_it() {
    let found = violations();
    assert!(
        found.is_empty(),
        "{} layering violation(s):\n  {}",
        found.len(),
        found.join("\n  ")
    );
}

#[test]
fn comments_strings_and_characters_are_not_code() {
    let text = "use crate::a; // crate::b\nlet s = \"crate::c\"; let r = r#\"crate::d\"#;\n\
                /* crate::e /* nested */ crate::f */ let q = '\"'; crate::g::h(); fn f<'a>() {}";
    let code = code_only(text);
    let modules: Vec<String> = crate_references(&code)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(modules, ["a", "g"]);
    assert_eq!(code.lines().count(), text.lines().count());
    assert!(code.contains("fn f<'a>()"));
}

#[test]
fn grouped_imports_name_each_module() {
    let code = "use crate::{\n    eval::{Session, Value},\n    index::Store,\n    text,\n};\n$crate::x::y;";
    let refs = crate_references(code);
    assert_eq!(
        refs,
        [
            ("eval".to_string(), 1),
            ("index".to_string(), 1),
            ("text".to_string(), 1)
        ]
    );
}

#[test]
fn each_kind_of_violation_is_found() {
    let check = |file: &str, code: &str| violations_in(file, &code_only(code));
    assert_eq!(
        check(
            "src/index/open.rs",
            "use crate::loader::load;\nuse crate::eval::Value;"
        ),
        ["src/index/open.rs:2: `index` imports `eval`, a layer above it"]
    );
    assert_eq!(
        check("src/repl.rs", "fn f() { crate::cli::main(); }"),
        ["src/repl.rs:1: `repl` imports `cli`; neither may import the other"]
    );
    assert_eq!(
        check(
            "src/parse/lexer.rs",
            "use crate::{ast::Span, parse::Token};"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        check("src/eval.rs", "use crate::oracle::Answer;"),
        ["src/eval.rs:1: `eval` imports `oracle`, which has no layer"]
    );
    assert_eq!(
        check("src/oracle.rs", ""),
        ["src/oracle.rs: module `oracle` has no layer"]
    );
    assert_eq!(
        check(
            "src/protocols/args.rs",
            "/// Not clap::Args.\n#[derive(clap::Args)]\nstruct A;"
        ),
        ["src/protocols/args.rs:2: uses clap; only the command line (src/cli.rs, src/cli/) may"]
    );
    assert!(check("src/cli/args.rs", "#[derive(clap::Args)] struct A;").is_empty());
    assert!(check("src/main.rs", "use crate::whatever;").is_empty());
}
