//! Text for the terminal: text from files made safe to show, and counts as people read them.
//!
//! Words, paths and error excerpts come from files a user did not write. Shown raw, an ESC
//! can drive the terminal (move the cursor, retitle the window, rewrite the screen) and a bidi
//! override can make a line read differently from what it holds. Everything that came from a
//! file passes through [`escape`] (or [`escape_bytes`] for raw bytes) before the front-end
//! prints it. Exports and JSON keep the words as they are: those are data, not a terminal.
//!
//! This module is a leaf: anything may use it, it uses nothing of vecsh.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as itself: C0 and C1 controls (tab and newline
/// included: a word holds neither, and a line break inside a table cell breaks the table),
/// DEL, the Unicode bidi controls (embeddings, overrides, isolates, marks), the line and
/// paragraph separators (U+2028, U+2029: they break a line as a newline does), and the invisible
/// zero-width characters (space, non-joiner, joiner, and U+FEFF, the BOM): `ad\u{200b}min`
/// would read as `admin`.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{feff}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{2028}'..='\u{2029}'
        | '\u{61c}')
}

/// A JSON text with every unsafe character (see [`is_unsafe`]) inside its strings written as
/// a `\uXXXX` escape: the same JSON value, but nothing in it can drive the terminal that shows
/// it, and no line separator splits one object over several lines for a reader that splits at
/// U+2028 or U+0085. serde_json writes them raw (JSON allows it).
pub fn json_safe(json: String) -> String {
    if !json.chars().any(is_unsafe) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            // All unsafe characters are in the Basic Multilingual Plane: one escape each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` with every unsafe character written as an escape (`\e`, `\0`, `\t`, `\n`, `\r`,
/// `\x7f`, `\u{202e}`); borrowed when nothing needed escaping, the common case.
/// A literal backslash is kept as it is, so ordinary words read unchanged.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_char(&mut out, c);
    }
    Cow::Owned(out)
}

/// A vocabulary word as answers show it: [`escape`]d, and in quotes as it is typed when a
/// table would hide what it is: the empty word (gensim keeps `''`) as `""`, and a word with a
/// space at an end (tokenizers keep `"a "`) as `"a "`, since `a` alone is another word.
pub fn escape_word(word: &str) -> Cow<'_, str> {
    if word.is_empty() {
        return Cow::Borrowed("\"\"");
    }
    if word.starts_with(char::is_whitespace) || word.ends_with(char::is_whitespace) {
        return Cow::Owned(quoted(word));
    }
    escape(word)
}

/// `word` between quotes as the parser reads it back: `\"` and `\\` escaped as well as the
/// unsafe characters.
fn quoted(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 4);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => push_char(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// Raw bytes (a path on Unix, an excerpt of a file) as safe text: valid UTF-8 as in
/// [`escape`], every byte that is not part of valid UTF-8 as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A path as safe text: its raw bytes on Unix (so `\xff.txt` shows as `\xff.txt`, not as a
/// replacement character), its lossy form elsewhere.
pub fn escape_path(path: &std::path::Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        escape_bytes(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        escape(&path.to_string_lossy()).into_owned()
    }
}

fn push_char(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{1b}' => out.push_str("\\e"),
        '\0' => out.push_str("\\0"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// A count with its digits grouped by thousands (`400,000`): the one way counts are shown, in
/// `vecsh info`, `:info`, the session and notes alike.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_value_but_no_unsafe_character() {
        let word = "a\u{1b}[31m\u{2028}b\u{85}\u{202e}c\u{200b}\u{7f}é";
        let json = serde_json::to_string(&serde_json::json!({ "word": word })).unwrap();
        let safe = json_safe(json);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        assert!(safe.contains('é'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["word"], word);
    }

    /// A token that ends in a space (tokenizers keep `"a "`) showed as `a` in a table: the
    /// space was there but invisible, and typing `a` found another token.
    #[test]
    fn a_word_with_a_space_at_an_end_is_shown_in_quotes() {
        assert_eq!(escape_word("a "), "\"a \"");
        assert_eq!(escape_word(" a"), "\" a\"");
        assert_eq!(escape_word("\u{a0}x"), "\"\u{a0}x\"");
        assert_eq!(escape_word("say \"hi\"\\ "), r#""say \"hi\"\\ ""#);
        assert_eq!(escape_word("\u{1b}x "), "\"\\ex \"");
        assert_eq!(
            escape_word("new york"),
            "new york",
            "a space inside is visible"
        );
        assert_eq!(
            escape_word("a\"b"),
            "a\"b",
            "unquoted words keep their quotes"
        );
    }

    #[test]
    fn line_separators_are_escaped() {
        assert_eq!(escape("a\u{2028}b\u{2029}"), "a\\u{2028}b\\u{2029}");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("queen"), Cow::Borrowed("queen")));
        assert!(matches!(escape("日本 😀 n't"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\e[2Jb");
        assert_eq!(escape("x\0y\u{7f}\u{85}"), "x\\0y\\x7f\\x85");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("\u{2066}i\u{2069}"), "\\u{2066}i\\u{2069}");
        assert_eq!(escape("tab\there\nnl"), "tab\\there\\nnl");
    }

    #[test]
    fn zero_width_characters_and_the_bom_are_escaped() {
        // Invisible on a terminal: `ad\u{200b}min` would read as `admin`.
        assert_eq!(escape("ad\u{200b}min"), "ad\\u{200b}min");
        assert_eq!(escape("a\u{200c}b\u{200d}c"), "a\\u{200c}b\\u{200d}c");
        assert_eq!(escape("\u{feff}word"), "\\u{feff}word");
        for c in [
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}',
            '\u{2066}', '\u{2069}', '\u{feff}',
        ] {
            assert!(is_unsafe(c), "U+{:04X}", c as u32);
        }
        assert_eq!(escape("日本 😀 n't"), "日本 😀 n't");
    }

    #[test]
    fn invalid_utf8_bytes_are_shown_as_hex() {
        assert_eq!(escape_bytes(b"\xff.txt"), "\\xff.txt");
        assert_eq!(escape_bytes("né\u{1b}".as_bytes()), "né\\e");
        assert_eq!(escape_bytes(b"a\xc3"), "a\\xc3");
    }

    #[cfg(unix)]
    #[test]
    fn paths_keep_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let p = std::path::Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff\x1b.txt"));
        assert_eq!(escape_path(p), "/tmp/\\xff\\e.txt");
    }
}
