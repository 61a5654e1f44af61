//! A Hugging Face `tokenizer.json` read as a vocabulary: for every token id its raw string, the
//! form vecsh shows (and the index stores as the row's word), its kind and the tokenizer's model.
//!
//! Shown forms (docs/formats.md, "Shown forms"):
//! - a word-initial token (byte-level BPE `Ġking`, SentencePiece `▁king`, WordPiece and
//!   WordLevel `king`) is the word, `king`;
//! - a word-internal piece (byte-level BPE and SentencePiece without the marker, WordPiece
//!   `##ing`) is marked `##ing`;
//! - a byte token (SentencePiece `<0x0A>`, a byte-level BPE token that is one control byte or
//!   not valid UTF-8) is its bytes: control characters as themselves (answers show them
//!   escaped, `\n`, and the lexer reads the escape back), bytes that are not UTF-8 as the text
//!   `\xNN`, a leading space kept;
//! - a token of whitespace only is that whitespace;
//! - a special token (an added token with `special: true`) is its content as is.
//!
//! Shown forms are unique: when two tokens would show the same, the lower id keeps it and the
//! other shows its raw string, or, when that is taken too, `RAW (id N)`. An id no token has is
//! `<unused N>`. This module knows nothing of the loader; the glue checks the vocabulary
//! against the matrix.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

/// Token ids beyond this are refused: no tokenizer has 16M tokens, and the vocabulary is
/// allocated by id.
pub const MAX_ID: u64 = 1 << 24;

/// What a token is, for display and for neighbour lists (special and byte tokens are hidden).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Starts a word (`Ġking`, `▁king`, WordPiece `king`).
    Word,
    /// Continues a word (`ing`, `##ing`), or a run of whitespace.
    Piece,
    /// An added token marked special (`<|endoftext|>`, `[CLS]`), or an id no token has.
    Special,
    /// A byte: SentencePiece's `<0xNN>`, a byte-level token that is one control byte or not
    /// valid UTF-8.
    Byte,
}

impl TokenKind {
    /// Kept out of neighbour lists unless asked for (`--all-tokens`).
    pub fn hidden(self) -> bool {
        matches!(self, TokenKind::Special | TokenKind::Byte)
    }
}

/// One token id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// As the tokenizer's vocabulary has it (`Ġking`).
    pub raw: String,
    /// As vecsh shows it and the index names its row (`king`).
    pub shown: String,
    pub kind: TokenKind,
}

/// A tokenizer's vocabulary, by id.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// `BPE`, `WordPiece`, `Unigram` or `WordLevel`.
    pub model: String,
    /// Token `i` is id `i`; every id up to the highest one.
    pub tokens: Vec<Token>,
    /// The unknown token's id, if the model has one.
    pub unk: Option<u32>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    added_tokens: Vec<Added>,
    #[serde(default)]
    normalizer: Option<Value>,
    #[serde(default)]
    pre_tokenizer: Option<Value>,
    #[serde(default)]
    decoder: Option<Value>,
    model: Model,
}

#[derive(Deserialize)]
struct Added {
    id: u64,
    content: String,
    #[serde(default)]
    special: bool,
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    vocab: Value,
    #[serde(default)]
    unk_token: Option<String>,
    #[serde(default)]
    unk_id: Option<u64>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    max_input_chars_per_word: Option<Value>,
    #[serde(default)]
    merges: Option<serde::de::IgnoredAny>,
}

/// A `tokenizer.json` read by Hugging Face's `tokenizers` library, which encodes phrases. The
/// library panics on some damaged files (a `Precompiled` normaliser whose charsmap does not
/// parse): that is an error here carrying the panic's text, which is not printed
/// (`encoder::library_call`).
pub fn library(json: &[u8]) -> Result<tokenizers::Tokenizer, String> {
    super::encoder::library_call(|| {
        tokenizers::Tokenizer::from_bytes(json).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|panic| match panic.as_str() {
        "" => Err("it failed on this file".to_owned()),
        _ => Err(format!("it failed on this file: {panic}")),
    })
}

/// How the vocabulary marks where words start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// GPT-2's byte-level alphabet: `Ġ` is a space, every byte a character.
    ByteLevel,
    /// SentencePiece: `▁` (or the Metaspace's replacement) is a space.
    Metaspace(char),
    /// WordPiece: a word-internal piece starts with `##` (the model's prefix).
    Prefix,
    /// No marker: every token is shown as it is (WordLevel, plain BPE).
    None,
}

/// Reads a `tokenizer.json`'s vocabulary for a model whose largest tensor has `max_tokens` rows:
/// a higher id is refused before the vocabulary is laid out by id. `Err`: what is wrong with it
/// (without the file's name, which the caller adds).
pub fn parse(json: &[u8], max_tokens: usize) -> Result<Vocabulary, String> {
    let file: File =
        serde_json::from_slice(json).map_err(|e| format!("not a tokenizer.json ({e})"))?;
    let model = &file.model;
    let kind = match model.kind.as_deref() {
        Some(k @ ("BPE" | "WordPiece" | "Unigram" | "WordLevel")) => k.to_owned(),
        Some(other) => {
            return Err(format!(
                "tokenizer model '{}' is not one vecsh reads (BPE, WordPiece, Unigram, WordLevel)",
                crate::text::escape(other)
            ))
        }
        // Older files have no type: as the tokenizers library tells them apart.
        None if model.vocab.is_array() => "Unigram".to_owned(),
        None if model.merges.is_some() => "BPE".to_owned(),
        None if model.max_input_chars_per_word.is_some() => "WordPiece".to_owned(),
        None => "WordLevel".to_owned(),
    };
    // (raw, id) of the model's vocabulary.
    let mut entries: Vec<(String, u64)> = match &model.vocab {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                v.as_u64().map(|id| (k.clone(), id)).ok_or_else(|| {
                    format!("vocabulary entry '{}' has no id", crate::text::escape(k))
                })
            })
            .collect::<Result<_, _>>()?,
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, e)| match e.get(0).and_then(Value::as_str) {
                Some(piece) => Ok((piece.to_owned(), i as u64)),
                None => Err(format!("vocabulary entry {i} is not [piece, score]")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("the model's vocabulary is neither a map nor a list".to_owned()),
    };
    if let Some((raw, id)) = entries.iter().find(|(_, id)| *id >= MAX_ID) {
        return Err(format!(
            "token '{}' has id {id}; ids beyond {MAX_ID} are refused",
            crate::text::escape(raw)
        ));
    }
    if let Some(a) = file.added_tokens.iter().find(|a| a.id >= MAX_ID) {
        return Err(format!(
            "added token '{}' has id {}; ids beyond {MAX_ID} are refused",
            crate::text::escape(&a.content),
            a.id
        ));
    }
    if entries.is_empty() && file.added_tokens.is_empty() {
        return Err("the vocabulary is empty".to_owned());
    }
    // Deterministic whatever the map's order: by id, then by string.
    entries.sort_unstable_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let highest = entries
        .iter()
        .map(|e| e.1)
        .chain(file.added_tokens.iter().map(|a| a.id))
        .max()
        .unwrap_or(0);
    if highest >= max_tokens as u64 {
        let name = file
            .added_tokens
            .iter()
            .find(|a| a.id == highest)
            .map(|a| a.content.as_str())
            .or_else(|| entries.last().map(|e| e.0.as_str()))
            .unwrap_or_default();
        return Err(format!(
            "its highest token id is {highest} ('{}'), but the model's largest tensor has {max_tokens} rows: this tokenizer does not fit the model",
            crate::text::escape(name)
        ));
    }
    let marker = marker(&file, &kind);
    let byte_fallback = true; // `<0xNN>` is a byte wherever the model knows it as one
    let mut tokens: Vec<Option<Token>> = vec![None; highest as usize + 1];
    for (raw, id) in entries {
        let slot = &mut tokens[id as usize];
        if slot.is_some() {
            continue; // two strings with one id: the first (by string) is the token
        }
        let (shown, kind) = shown_form(&raw, marker, byte_fallback);
        *slot = Some(Token { raw, shown, kind });
    }
    for a in &file.added_tokens {
        let kind = if a.special {
            TokenKind::Special
        } else {
            TokenKind::Word
        };
        tokens[a.id as usize] = Some(Token {
            raw: a.content.clone(),
            shown: a.content.clone(),
            kind,
        });
    }
    let mut tokens: Vec<Token> = tokens
        .into_iter()
        .enumerate()
        .map(|(id, t)| {
            t.unwrap_or_else(|| Token {
                raw: String::new(),
                shown: format!("<unused {id}>"),
                kind: TokenKind::Special,
            })
        })
        .collect();
    make_unique(&mut tokens);
    let by_raw = |s: &str| {
        file.added_tokens
            .iter()
            .find(|a| a.content == s)
            .map(|a| a.id as u32)
            .or_else(|| tokens.iter().position(|t| t.raw == s).map(|i| i as u32))
    };
    let unk = match (&model.unk_token, model.unk_id) {
        (_, Some(id)) if id <= highest => Some(id as u32),
        (Some(s), _) => by_raw(s),
        _ => None,
    };
    Ok(Vocabulary {
        model: kind,
        tokens,
        unk,
    })
}

/// How this tokenizer marks where words start.
fn marker(file: &File, kind: &str) -> Marker {
    let has_type =
        |v: &Option<Value>, ty: &str| v.as_ref().is_some_and(|v| find_type(v, ty).is_some());
    if has_type(&file.pre_tokenizer, "ByteLevel") || has_type(&file.decoder, "ByteLevel") {
        return Marker::ByteLevel;
    }
    for part in [&file.pre_tokenizer, &file.decoder] {
        if let Some(meta) = part.as_ref().and_then(|v| find_type(v, "Metaspace")) {
            let c = meta
                .get("replacement")
                .and_then(Value::as_str)
                .and_then(|s| s.chars().next())
                .unwrap_or('▁');
            return Marker::Metaspace(c);
        }
    }
    // Llama-style: the normaliser replaces spaces with `▁`, the decoder puts them back.
    let mentions = |v: &Option<Value>| v.as_ref().is_some_and(|v| v.to_string().contains('▁'));
    if mentions(&file.normalizer) || mentions(&file.decoder) {
        return Marker::Metaspace('▁');
    }
    if kind == "WordPiece" || file.model.continuing_subword_prefix.as_deref() == Some("##") {
        return Marker::Prefix;
    }
    Marker::None
}

/// The object of type `ty` in `v` (itself, or inside a `Sequence`).
fn find_type<'v>(v: &'v Value, ty: &str) -> Option<&'v Value> {
    match v {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some(ty) {
                return Some(v);
            }
            map.values().find_map(|x| find_type(x, ty))
        }
        Value::Array(items) => items.iter().find_map(|x| find_type(x, ty)),
        _ => None,
    }
}

/// GPT-2's byte-level alphabet: the character each byte is written as.
pub fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
        out[b as usize] = if printable {
            char::from(b)
        } else {
            n += 1;
            char::from_u32(255 + n).expect("below U+0200")
        };
    }
    out
}

fn byte_of_char() -> &'static HashMap<char, u8> {
    static MAP: std::sync::OnceLock<HashMap<char, u8>> = std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        byte_chars()
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect()
    })
}

/// `<0xNN>`'s byte.
fn fallback_byte(raw: &str) -> Option<u8> {
    let hex = raw.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2)
        .then(|| u8::from_str_radix(hex, 16).ok())
        .flatten()
}

/// Bytes as text: valid UTF-8 as it is, every other byte as the four characters `\xNN`.
/// Whether they were all valid.
fn lossless(bytes: &[u8]) -> (String, bool) {
    let mut out = String::with_capacity(bytes.len());
    let mut valid = true;
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            valid = false;
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    (out, valid)
}

/// A raw vocabulary token's shown form and kind under `marker`.
fn shown_form(raw: &str, marker: Marker, byte_fallback: bool) -> (String, TokenKind) {
    let bytes: Vec<u8> = match marker {
        Marker::ByteLevel => {
            let map = byte_of_char();
            match raw
                .chars()
                .map(|c| map.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
            {
                Some(b) => b,
                // Not in the byte alphabet: shown as it is.
                None => return (raw.to_owned(), TokenKind::Word),
            }
        }
        Marker::Metaspace(space) => {
            if let Some(b) = fallback_byte(raw).filter(|_| byte_fallback) {
                let shown = if b < 0x20 || b == 0x7f {
                    char::from(b).to_string()
                } else {
                    format!("\\x{b:02x}")
                };
                return (shown, TokenKind::Byte);
            }
            raw.replace(space, " ").into_bytes()
        }
        Marker::Prefix => {
            return match raw.strip_prefix("##") {
                Some(rest) if !rest.is_empty() => (raw.to_owned(), TokenKind::Piece),
                _ => (raw.to_owned(), TokenKind::Word),
            }
        }
        Marker::None => return (raw.to_owned(), TokenKind::Word),
    };
    let (text, valid) = lossless(&bytes);
    let control = bytes.len() == 1 && (bytes[0] < 0x20 || bytes[0] == 0x7f);
    if !valid || control {
        return (text, TokenKind::Byte);
    }
    if text.chars().all(char::is_whitespace) {
        let kind = if bytes.len() == 1 {
            TokenKind::Byte
        } else {
            TokenKind::Piece
        };
        return (text, kind);
    }
    match text.strip_prefix(' ') {
        Some(word) => (word.to_owned(), TokenKind::Word),
        None => (format!("##{text}"), TokenKind::Piece),
    }
}

/// Makes every shown form unique: the lower id keeps a form; a later one takes its raw string,
/// else `RAW (id N)`.
fn make_unique(tokens: &mut [Token]) {
    // Keyed by how answers show a form (`text::escape_word`), not by the form: a token that is a
    // newline and one that is a backslash and an `n` are different words that both show `\n`.
    let key = |s: &str| crate::text::escape_word(s).into_owned();
    let mut taken: HashMap<String, usize> = HashMap::with_capacity(tokens.len());
    let mut clashes = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        match taken.entry(key(&t.shown)) {
            std::collections::hash_map::Entry::Occupied(_) => clashes.push(id),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
        }
    }
    for id in clashes {
        let t = &tokens[id];
        let mut shown = t.raw.clone();
        if shown.is_empty() || taken.contains_key(&key(&shown)) {
            shown = format!("{} (id {id})", t.raw);
        }
        while taken.contains_key(&key(&shown)) {
            shown.push('\'');
        }
        taken.insert(key(&shown), id);
        tokens[id].shown = shown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_is_gpt2s() {
        let chars = byte_chars();
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[b'a' as usize], 'a');
        let distinct: std::collections::HashSet<char> = chars.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn shown_forms_follow_the_rules() {
        let bl = Marker::ByteLevel;
        assert_eq!(
            shown_form("Ġking", bl, true),
            ("king".into(), TokenKind::Word)
        );
        assert_eq!(
            shown_form("ing", bl, true),
            ("##ing".into(), TokenKind::Piece)
        );
        assert_eq!(shown_form("Ċ", bl, true), ("\n".into(), TokenKind::Byte));
        assert_eq!(shown_form("Ġ", bl, true), (" ".into(), TokenKind::Byte));
        assert_eq!(shown_form("ĠĠ", bl, true), ("  ".into(), TokenKind::Piece));
        // 0xE2 alone is not UTF-8.
        assert_eq!(shown_form("â", bl, true), ("\\xe2".into(), TokenKind::Byte));
        assert_eq!(
            shown_form("Ġâ", bl, true),
            (" \\xe2".into(), TokenKind::Byte)
        );
        let sp = Marker::Metaspace('▁');
        assert_eq!(
            shown_form("▁king", sp, true),
            ("king".into(), TokenKind::Word)
        );
        assert_eq!(
            shown_form("ing", sp, true),
            ("##ing".into(), TokenKind::Piece)
        );
        assert_eq!(
            shown_form("<0x0A>", sp, true),
            ("\n".into(), TokenKind::Byte)
        );
        assert_eq!(
            shown_form("<0xE2>", sp, true),
            ("\\xe2".into(), TokenKind::Byte)
        );
        let wp = Marker::Prefix;
        assert_eq!(
            shown_form("##ing", wp, true),
            ("##ing".into(), TokenKind::Piece)
        );
        assert_eq!(
            shown_form("king", wp, true),
            ("king".into(), TokenKind::Word)
        );
    }

    #[test]
    fn clashes_fall_back_to_the_raw_string_then_the_id() {
        let json = r###"{"added_tokens":[],"pre_tokenizer":{"type":"ByteLevel"},
            "model":{"type":"BPE","vocab":{"Ġ##a":0,"a":1,"##a":2},"merges":[]}}"###;
        let v = parse(json.as_bytes(), 3).unwrap();
        assert!(parse(json.as_bytes(), 2)
            .unwrap_err()
            .contains("does not fit"));
        let shown: Vec<&str> = v.tokens.iter().map(|t| t.shown.as_str()).collect();
        // `Ġ##a` is `##a`; the piece `a` would be `##a` too: it shows its raw `a`. The piece
        // `##a` would be `####a`.
        assert_eq!(shown, ["##a", "a", "####a"]);
    }

    /// A SentencePiece Unigram vocabulary (a list of pieces and scores) with Metaspace.
    #[test]
    fn unigram_pieces_are_shown_like_sentencepiece_bpe() {
        let json = r#"{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
            "model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0.0],["▁king",-1.0],["ing",-2.0],["<0x0A>",-3.0]]},
            "added_tokens":[{"id":0,"content":"<unk>","special":true}]}"#;
        let v = parse(json.as_bytes(), 4).unwrap();
        assert_eq!(v.model, "Unigram");
        assert_eq!(v.unk, Some(0));
        let shown: Vec<(&str, TokenKind)> = v
            .tokens
            .iter()
            .map(|t| (t.shown.as_str(), t.kind))
            .collect();
        assert_eq!(
            shown,
            [
                ("<unk>", TokenKind::Special),
                ("king", TokenKind::Word),
                ("##ing", TokenKind::Piece),
                ("\n", TokenKind::Byte),
            ]
        );
    }

    /// Two tokens that would show alike in answers (an ESC, and a backslash and an `e`) do
    /// not share a display: the later one shows its id (H-fix's finding 8).
    #[test]
    fn forms_that_show_alike_are_told_apart() {
        let json = r#"{"model":{"type":"WordLevel","vocab":{"\u001b":0,"\\e":1,"x":2}}}"#;
        let v = parse(json.as_bytes(), 3).unwrap();
        assert_eq!(v.tokens[0].shown, "\u{1b}");
        assert_eq!(v.tokens[1].shown, "\\e (id 1)");
        let shown: std::collections::HashSet<String> = v
            .tokens
            .iter()
            .map(|t| crate::text::escape_word(&t.shown).into_owned())
            .collect();
        assert_eq!(shown.len(), 3);
    }

    #[test]
    fn bad_tokenizers_are_errors() {
        let max = usize::MAX;
        assert!(parse(b"{", max)
            .unwrap_err()
            .contains("not a tokenizer.json"));
        assert!(parse(
            br#"{"model":{"type":"BPE","vocab":{"a":99999999999}}}"#,
            max
        )
        .unwrap_err()
        .contains("refused"));
        assert!(parse(br#"{"model":{"type":"Nope","vocab":{}}}"#, max).is_err());
        assert!(parse(br#"{"model":{"type":"WordLevel","vocab":{}}}"#, max)
            .unwrap_err()
            .contains("empty"));
    }
}
