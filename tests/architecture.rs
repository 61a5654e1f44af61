//! ARCHITECTURE.md's module map names every source file: each `src/**/*.rs` appears in it, as
//! `src/index/open.rs` or as `index/open.rs`.
//!
//! Expected to fail until ARCHITECTURE.md exists (issue 22: the docs branch writes it).

use crate::util::src_files;

/// Whether `text` names `path` (`index/open.rs`) as a whole path: not as the tail of a longer
/// one (`loader/text.rs` does not name `text.rs`).
fn names(text: &str, path: &str) -> bool {
    let part_of_a_path = |c: char| c.is_alphanumeric() || "_-./".contains(c);
    text.match_indices(path).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + path.len()..].chars().next();
        // A path may end a sentence: "… in src/text.rs."
        let after_ok = match after {
            Some('.') => !text[at + path.len() + 1..]
                .chars()
                .next()
                .is_some_and(part_of_a_path),
            Some(c) => !part_of_a_path(c),
            None => true,
        };
        !before.is_some_and(part_of_a_path) && after_ok
    })
}

#[test]
fn architecture_md_names_every_source_file() {
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    let text = std::fs::read_to_string(&doc)
        .unwrap_or_else(|e| panic!("{}: {e} (issue 22's docs branch writes it)", doc.display()));
    let missing: Vec<String> = src_files()
        .into_iter()
        .filter(|file| !names(&text, file) && !names(&text, &file["src/".len()..]))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name {} source file(s):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn a_path_is_named_whole() {
    let text = "`src/index/open.rs` opens; loader/text.rs reads. See search.rs.";
    assert!(names(text, "src/index/open.rs") && names(text, "loader/text.rs"));
    assert!(names(text, "search.rs"));
    assert!(!names(text, "text.rs") && !names(text, "open.rs"));
}
