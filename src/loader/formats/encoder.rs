//! A model's tokenizer as an encoder: a Hugging Face `tokenizer.json` read with the `tokenizers`
//! crate, giving a text's token ids as model2vec's `StaticModel.tokenize` gives them, the
//! normaliser alone (an uncased model's `King` → `king`), and raw token ↔ id.
//!
//! # model2vec's semantics, as this module reproduces them
//!
//! Read from model2vec 0.10.0's `model2vec/model.py` (`StaticModel.__init__`, `tokenize`,
//! `encode`, `_encode_dispatch`, `_encode_batch`, `_encode_helper`, `_get_unk_token_id`,
//! `_disable_padding`):
//!
//! 1. **Pre-truncation of the string.** With a `max_length` (the config's `max_length`, else
//!    512; `null` turns truncation off), each sentence is first cut to its first
//!    `max_length × median_token_length` characters (Python `str` slicing: code points), where
//!    `median_token_length = int(np.median([len(t) for t in tokens]))` over every token of
//!    `tokenizer.get_vocab()` (added tokens included; `len` counts code points of the *raw*
//!    token, e.g. `Ġking` is 5; the median of an even count is the mean of the two middle
//!    lengths, truncated by `int`).
//! 2. **Tokenizing.** `tokenizer.encode_batch_fast(sentences, add_special_tokens=False)` with
//!    padding disabled and truncation set to `max_length` tokens (stride 0, from the right:
//!    the first `max_length` ids are kept). The tokenizer file's own truncation and padding are
//!    replaced by these.
//! 3. **The unknown token dropped** after truncation: every id equal to `unk_token_id` is
//!    removed. `unk_token_id` is `token_to_id(model.unk_token)` for BPE, WordPiece and
//!    WordLevel models (none when the model has no unknown token or it is not in the
//!    vocabulary), and the Unigram model's `unk_id`.
//! 4. **Pooling** (`_encode_batch`, done by `index::phrase`, not here): the rows of the ids
//!    (through `mappings` when the model has one), each times `weights[id]` when the model has
//!    weights, averaged; an empty id list gives a zero vector in model2vec (vecsh refuses it
//!    instead); with `normalize` the mean is divided by its norm + 1e-32. int8 embeddings are
//!    pooled in f32 (`np.zeros(..., dtype=float32)`).
//!
//! vecsh uses the same tokenizing (1–3) for raw embedding matrices (transformer input
//! embeddings, single tensors), without the truncation (`max_length` none): ids without
//! special tokens, the unknown token dropped.

use std::path::{Path, PathBuf};

use tokenizers::normalizer::NormalizedString;
use tokenizers::{ModelWrapper, Normalizer, Tokenizer};

use crate::text::{escape, escape_path};

/// model2vec's `DEFAULT_MAX_LENGTH`: at most this many tokens of a sentence are pooled unless
/// the model's config says otherwise.
pub const DEFAULT_MAX_LENGTH: usize = 512;

/// What went wrong reading or using a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{}: not a tokenizer the tokenizers library can read: {reason}", escape_path(.path))]
    Parse { path: PathBuf, reason: String },
    #[error("cannot tokenize '{}' with {}: {reason}", escape(.text), escape_path(.path))]
    Encode {
        path: PathBuf,
        text: String,
        reason: String,
    },
}

/// The tokenizer model's kind, as `tokenizer.json`'s `model.type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    Bpe,
    WordPiece,
    WordLevel,
    Unigram,
}

impl TokenizerKind {
    pub fn name(self) -> &'static str {
        match self {
            TokenizerKind::Bpe => "BPE",
            TokenizerKind::WordPiece => "WordPiece",
            TokenizerKind::WordLevel => "WordLevel",
            TokenizerKind::Unigram => "Unigram",
        }
    }
}

/// A parsed tokenizer with model2vec's tokenizing rules.
pub struct Encoder {
    tokenizer: Tokenizer,
    path: PathBuf,
    kind: TokenizerKind,
    unk: Option<u32>,
    /// Tokens kept of a sentence; `None`: all (raw matrices, or a config's `max_length: null`).
    max_length: Option<usize>,
    /// model2vec's `median_token_length` (see the module docs), computed when first needed
    /// (listing a 150,000-token vocabulary takes ~100 ms).
    median_token_length: std::sync::OnceLock<usize>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("unk", &self.unk)
            .field("max_length", &self.max_length)
            .field("median_token_length", &self.median_token_length.get())
            .finish()
    }
}

impl Encoder {
    /// Reads the tokenizer file at `path`.
    pub fn from_file(path: &Path, max_length: Option<usize>) -> Result<Encoder, EncoderError> {
        let bytes = std::fs::read(path).map_err(|e| EncoderError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Encoder::from_bytes(&bytes, path, max_length)
    }

    /// Parses a tokenizer file's content (`path` names it in errors). `max_length`: tokens
    /// kept of a sentence, and with it model2vec's pre-truncation of the string.
    pub fn from_bytes(
        bytes: &[u8],
        path: &Path,
        max_length: Option<usize>,
    ) -> Result<Encoder, EncoderError> {
        let parse_err = |reason: String| EncoderError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        // A bug of the library on a hostile file is an error naming it, not a crash.
        let parsed =
            std::panic::catch_unwind(|| Tokenizer::from_bytes(bytes).map_err(|e| e.to_string()));
        let mut tokenizer = parsed
            .unwrap_or_else(|_| Err("the tokenizers library failed on this file".to_string()))
            .map_err(parse_err)?;
        // model2vec replaces the file's own truncation and padding; truncation is done here
        // (the first `max_length` ids), so the tokenizer's is off.
        tokenizer
            .with_truncation(None)
            .map_err(|e| parse_err(e.to_string()))?;
        tokenizer.with_padding(None);
        let kind = match tokenizer.get_model() {
            ModelWrapper::BPE(_) => TokenizerKind::Bpe,
            ModelWrapper::WordPiece(_) => TokenizerKind::WordPiece,
            ModelWrapper::WordLevel(_) => TokenizerKind::WordLevel,
            ModelWrapper::Unigram(_) => TokenizerKind::Unigram,
        };
        let unk = match tokenizer.get_model() {
            ModelWrapper::BPE(m) => m
                .unk_token
                .as_deref()
                .and_then(|t| tokenizer.token_to_id(t)),
            ModelWrapper::WordPiece(m) => tokenizer.token_to_id(&m.unk_token),
            ModelWrapper::WordLevel(m) => tokenizer.token_to_id(&m.unk_token),
            // The Unigram model keeps its `unk_id` private: read from the file, as model2vec
            // reads it from `to_str()`.
            ModelWrapper::Unigram(_) => {
                let json: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|e| parse_err(e.to_string()))?;
                json["model"]["unk_id"]
                    .as_u64()
                    .and_then(|id| u32::try_from(id).ok())
            }
        };
        Ok(Encoder {
            tokenizer,
            path: path.to_path_buf(),
            kind,
            unk,
            max_length,
            median_token_length: std::sync::OnceLock::new(),
        })
    }

    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// The unknown token's id, which tokenizing drops.
    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    pub fn max_length(&self) -> Option<usize> {
        self.max_length
    }

    pub fn median_token_length(&self) -> usize {
        *self
            .median_token_length
            .get_or_init(|| median_length(self.tokenizer.get_vocab(true).keys()))
    }

    /// The ids of `text` as model2vec's `StaticModel.tokenize` (after `encode`'s
    /// pre-truncation) gives them: no special tokens, at most `max_length`, the unknown token
    /// dropped. May be empty.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, EncoderError> {
        // The cut needs the median only for a text longer than `max` characters: a median of
        // at least 1 cuts nothing shorter (it is 0 only when most tokens are the empty
        // string, which a vocabulary holds at most once).
        let text = match self.max_length {
            Some(max) if text.char_indices().nth(max).is_some() => {
                let chars = max.saturating_mul(self.median_token_length());
                match text.char_indices().nth(chars) {
                    Some((at, _)) => &text[..at],
                    None => text,
                }
            }
            _ => text,
        };
        // As the parse: a bug of the library on some text is an error, not a crash.
        let encoded = std::panic::catch_unwind(|| {
            self.tokenizer
                .encode_fast(text, false)
                .map_err(|e| e.to_string())
        });
        let encoding = encoded
            .unwrap_or_else(|_| Err("the tokenizers library failed on this text".to_string()))
            .map_err(|reason| EncoderError::Encode {
                path: self.path.clone(),
                text: text.to_string(),
                reason,
            })?;
        let ids = encoding.get_ids();
        let ids = match self.max_length {
            Some(max) => &ids[..ids.len().min(max)],
            None => ids,
        };
        Ok(ids
            .iter()
            .copied()
            .filter(|&id| Some(id) != self.unk)
            .collect())
    }

    /// `text` through the tokenizer's normaliser alone (itself when there is none): what an
    /// uncased model makes of `King` before splitting it.
    pub fn normalize(&self, text: &str) -> String {
        let Some(normalizer) = self.tokenizer.get_normalizer() else {
            return text.to_string();
        };
        let mut s = NormalizedString::from(text);
        match normalizer.normalize(&mut s) {
            Ok(()) => s.get().to_string(),
            Err(_) => text.to_string(),
        }
    }

    /// The id of the raw token `token` (`Ġking`, `##ing`, `[CLS]`), added tokens included.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The raw token of `id`.
    pub fn token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }
}

/// `int(np.median([len(t) for t in tokens]))`, `len` in code points.
fn median_length<'a>(tokens: impl Iterator<Item = &'a String>) -> usize {
    let mut lengths: Vec<usize> = tokens.map(|t| t.chars().count()).collect();
    if lengths.is_empty() {
        return 0;
    }
    lengths.sort_unstable();
    let n = lengths.len();
    if n % 2 == 1 {
        lengths[n / 2]
    } else {
        // (a + b) / 2 as a float, truncated: the integer halving of the sum.
        (lengths[n / 2 - 1] + lengths[n / 2]) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_numpys_truncated() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(median_length(v(&["a", "bcd", "ef"]).iter()), 2);
        // (1 + 4) / 2 = 2.5 → 2
        assert_eq!(median_length(v(&["a", "abcd"]).iter()), 2);
        // code points, not bytes
        assert_eq!(median_length(v(&["ĠĠ", "éé", "ab"]).iter()), 2);
        assert_eq!(median_length(std::iter::empty()), 0);
    }

    fn fixtures() -> (std::path::PathBuf, serde_json::Value) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
        let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
        (dir, serde_json::from_str(&text).unwrap())
    }

    /// Every fixture phrase's ids (unknown dropped) equal Python's `tokenizers` (H-fix's
    /// expected.json, `pooled_ids`), on every tokenizer kind of the fixtures.
    #[test]
    fn ids_equal_python_tokenizers() {
        let (dir, expected) = fixtures();
        let mut checked = 0;
        for (name, fixture) in expected["fixtures"].as_object().unwrap() {
            let path = dir.join(name).join("tokenizer.json");
            let encoder = Encoder::from_file(&path, Some(DEFAULT_MAX_LENGTH)).unwrap();
            assert_eq!(
                encoder.unk().map(u64::from),
                fixture["unk"].as_u64(),
                "{name}: unk"
            );
            assert_eq!(encoder.kind().name(), fixture["tokenizer_model"], "{name}");
            for phrase in fixture["phrases"].as_array().unwrap() {
                let text = phrase["text"].as_str().unwrap();
                let want: Vec<u32> = phrase["pooled_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u32)
                    .collect();
                assert_eq!(encoder.ids(text).unwrap(), want, "{name}: {text:?}");
                // Raw tokens back to their ids.
                for (id, token) in phrase["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(phrase["tokens"].as_array().unwrap())
                {
                    let id = id.as_u64().unwrap() as u32;
                    assert_eq!(
                        encoder.token_id(token.as_str().unwrap()),
                        Some(id),
                        "{name}: {token}"
                    );
                    assert_eq!(encoder.token(id).as_deref(), token.as_str(), "{name}: {id}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 60, "{checked} phrases checked");
    }

    /// The normaliser alone: an uncased model lowercases (and strips accents, BERT's), a
    /// model without a normaliser keeps the text.
    #[test]
    fn normalizer_alone() {
        let (dir, _) = fixtures();
        let wordpiece = Encoder::from_file(&dir.join("wordpiece/tokenizer.json"), None).unwrap();
        assert_eq!(wordpiece.normalize("King"), "king");
        assert_eq!(wordpiece.normalize("Café"), "cafe");
        let glove = Encoder::from_file(&dir.join("glove20k/tokenizer.json"), None).unwrap();
        assert_eq!(glove.normalize("KING"), "king");
        let bpe = Encoder::from_file(&dir.join("bpe/tokenizer.json"), None).unwrap();
        assert_eq!(bpe.normalize("King"), "King");
    }

    /// model2vec's truncation: the string cut to max_length × median characters, then at most
    /// max_length ids (checked against the arithmetic, the fixtures have no long phrase).
    #[test]
    fn truncation_as_model2vec() {
        let (dir, _) = fixtures();
        let path = dir.join("glove20k/tokenizer.json");
        let full = Encoder::from_file(&path, None).unwrap();
        let cut = Encoder::from_file(&path, Some(3)).unwrap();
        let text = "the king of france and the queen";
        let all = full.ids(text).unwrap();
        assert!(all.len() > 3);
        assert_eq!(cut.ids(text).unwrap(), all[..3].to_vec());
        // The pre-truncation: the string is cut to 2 × median characters first, so `king`
        // is gone although 2 ids would be kept (model2vec 0.10.0 gives `the`'s vector alone).
        let two = Encoder::from_file(&path, Some(2)).unwrap();
        assert_eq!(
            two.median_token_length(),
            7,
            "model2vec's median on this fixture"
        );
        let spaced = format!("the{}king", " ".repeat(14));
        assert_eq!(two.ids(&spaced).unwrap(), full.ids("the").unwrap());
        assert_eq!(full.ids(&spaced).unwrap(), full.ids("the king").unwrap());
        // Ids are cut before the unknown token is dropped: model2vec's tokenize gives [] here.
        assert_eq!(two.ids("☃ ☃ the king").unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn bad_tokenizer_is_an_error_naming_the_file() {
        let err = Encoder::from_bytes(b"{not json", Path::new("/x/tokenizer.json"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/x/tokenizer.json"), "{err}");
    }
}
