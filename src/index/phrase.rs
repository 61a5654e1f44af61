//! Phrases on a model: the store's tokenizer, parsed only when a lookup needs it, and the
//! vector of a text that is not one token, pooled as the model's own encoder pools it.
//!
//! **Laziness.** The index stores the vocabulary and the shown forms, so words that are
//! tokens never need `tokenizer.json` (a 7–11 MB JSON file on today's models): it is read and
//! parsed the first time a lookup misses the shown forms ([`Store::encoder`]), once per
//! store, and its content is checked against the hash the index recorded for it as a
//! companion (a file changed since the build is an error, not a silently different
//! tokenizing). [`Store::encoder_loaded`] says whether that happened (tests prove a one-shot
//! of known words never reads it).
//!
//! **Pooling** ([`Store::phrase`]), with the ids of [`Encoder::ids`] (no special tokens, at most
//! `max_length`, the unknown token dropped):
//! - model2vec: exactly `StaticModel.encode` — the mean over the ids of each raw row (the unit
//!   row times the row's norm from the norms table: the row as the file has it; with
//!   `mappings` resolved by the reader, row i is token i's), each times the token's weight when
//!   the model has `weights`; divided by its norm + 1e-32 when the config says `normalize`.
//!   `max_length` is the config's (`config.json` beside the matrix), else 512.
//! - a raw matrix (a transformer's input embedding, a single tensor): the mean of the raw rows.
//!
//! Sums are taken in f64 and rounded once (numpy sums f32 pairwise: the two agree far within
//! 1e-5). A text with no known token is an error, never model2vec's zero vector.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use crate::loader::formats::encoder::{Encoder, EncoderError, DEFAULT_MAX_LENGTH};
use crate::loader::formats::safetensors::Kind;
use crate::text::{escape, escape_path};

use super::error::IndexError;
use super::Store;

/// Why a text got no vector through the tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum PhraseError {
    /// The index holds no model (a GloVe file): there is no tokenizer.
    #[error("this index holds no model with a tokenizer")]
    NoModel,
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// Reading or parsing the tokenizer failed (said once, kept for every later lookup).
    #[error("{0}")]
    Tokenizer(String),
    #[error(
        "the tokenizer {} changed since the index was built (reopen the model to rebuild it)",
        escape_path(.0)
    )]
    Changed(PathBuf),
    #[error(
        "the tokenizer {} was removed or renamed since the index was built (put it back, or reopen the model)",
        escape_path(.0)
    )]
    Missing(PathBuf),
    #[error("cannot read the tokenizer {}: {reason}", escape_path(.path))]
    Unreadable { path: PathBuf, reason: String },
    #[error("'{}' has no token in this model's vocabulary (only the unknown token, or nothing)", escape(.0))]
    NoToken(String),
    /// Some of the text's tokens are rows `--limit` left out (`rows` were loaded).
    #[error(
        "'{}' needs {} beyond the first {rows} rows that --limit loaded (raise it to {} or drop it)",
        escape(.text),
        beyond_list(.beyond),
        .beyond.iter().map(|b| b.1).max().unwrap_or(0) + 1
    )]
    BeyondLimit {
        text: String,
        /// The tokens (raw) and ids beyond the rows loaded, in order, each once.
        beyond: Vec<(String, u32)>,
        rows: usize,
    },
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// A text's vector through the tokenizer, and the tokens that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Phrase {
    /// The pooled ids (rows), in order, repeats kept.
    pub ids: Vec<u32>,
    /// The vector as the model's encoder gives it (`StaticModel.encode`, or the raw mean).
    pub vector: Vec<f32>,
}

type Parsed = std::result::Result<Encoder, String>;

/// The store's tokenizer, parsed at most once (`Store::encoder`), perhaps on a thread started
/// by `Store::warm_encoder`.
#[derive(Default)]
pub(super) struct EncoderCell {
    cell: OnceCell<Parsed>,
    warming: std::cell::RefCell<Option<std::thread::JoinHandle<Parsed>>>,
}

impl Store {
    /// The model's tokenizer, read and parsed on first use (see the module docs).
    pub fn encoder(&self) -> Result<&Encoder, PhraseError> {
        if self.meta.model.is_none() {
            return Err(PhraseError::NoModel);
        }
        let parsed = self.encoder.cell.get_or_init(|| {
            let warming = self.encoder.warming.borrow_mut().take();
            match warming.map(|thread| thread.join()) {
                Some(Ok(parsed)) => parsed,
                // The thread panicked (it never should): parse here, which says why.
                Some(Err(_)) | None => self.parse_tokenizer(),
            }
        });
        parsed
            .as_ref()
            .map_err(|message| PhraseError::Tokenizer(message.clone()))
    }

    /// Whether the tokenizer was read (by this store): false until a lookup needed it (or a
    /// session warmed it).
    pub fn encoder_loaded(&self) -> bool {
        self.encoder.cell.get().is_some() || self.encoder.warming.borrow().is_some()
    }

    /// Starts parsing the model's tokenizer on a thread, so that a session's first phrase
    /// does not wait for it (a 150,000-token tokenizer.json takes a few hundred ms). Only
    /// sessions call it: a one-shot parses the tokenizer only when its input needs it.
    pub fn warm_encoder(&self) {
        let Some(model) = self.meta.model.as_ref() else {
            return;
        };
        if self.encoder_loaded() {
            return;
        }
        let job = self.tokenizer_job(model);
        let thread = std::thread::Builder::new()
            .name("vecsh-tokenizer".into())
            .spawn(move || job.run());
        if let Ok(thread) = thread {
            *self.encoder.warming.borrow_mut() = Some(thread);
        }
    }

    fn parse_tokenizer(&self) -> Parsed {
        match self.meta.model.as_ref() {
            Some(model) => self.tokenizer_job(model).run(),
            None => Err(PhraseError::NoModel.to_string()),
        }
    }

    fn tokenizer_job(&self, model: &crate::loader::ModelMeta) -> TokenizerJob {
        TokenizerJob {
            path: model.tokenizer.clone(),
            hash: self
                .meta
                .companions
                .iter()
                .find(|c| c.path == model.tokenizer)
                .map(|c| c.hash.clone()),
            max_length: match model.kind {
                Kind::Model2Vec => config_max_length(&self.meta.source),
                _ => None,
            },
        }
    }

    /// The row a typed text names through the tokenizer when it is no shown form: the raw
    /// token (`Ġking`, `▁king`), else the normaliser's form of it (an uncased model's `King`)
    /// as a shown form or a raw token. `None` for a model-less index or when nothing matches.
    pub fn token_row(&self, text: &str) -> Result<Option<u32>, PhraseError> {
        if self.meta.model.is_none() {
            return Ok(None);
        }
        if let Some(id) = self.disambiguated_row(text) {
            return Ok(Some(id));
        }
        let encoder = self.encoder()?;
        let in_rows = |id: u32| ((id as usize) < self.len()).then_some(id);
        if let Some(id) = encoder.token_id(text).and_then(in_rows) {
            return Ok(Some(id));
        }
        let normal = encoder.normalize(text);
        if normal != text {
            if let Some(id) = self.id(&normal) {
                return Ok(Some(id));
            }
            if let Some(id) = encoder.token_id(&normal).and_then(in_rows) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// A form shown as `FORM (id N)` (two tokens that would show alike, told apart), typed back
    /// in quotes: the lexer reads the escapes the form shows (`"\n (id 30)"` is a line end), so
    /// the typed text is matched escaped as answers show it, as well as verbatim.
    fn disambiguated_row(&self, text: &str) -> Option<u32> {
        let (form, rest) = text.rsplit_once(" (id ")?;
        let id: u32 = rest.strip_suffix(')')?.parse().ok()?;
        let shown = self.word(id)?;
        let (shown_form, _) = shown.rsplit_once(" (id ")?;
        (shown == text || crate::text::escape(form) == shown_form).then_some(id)
    }

    /// `text`'s vector through the tokenizer (see the module docs); an error when no known
    /// token is left.
    pub fn phrase(&self, text: &str) -> Result<Phrase, PhraseError> {
        let encoder = self.encoder()?;
        let ids = encoder.ids(text)?;
        if ids.is_empty() {
            return Err(PhraseError::NoToken(text.to_string()));
        }
        // Ids beyond the rows loaded (`--limit`) have no row to pool: said, naming them.
        let mut beyond: Vec<(String, u32)> = Vec::new();
        for &id in ids.iter().filter(|&&id| id as usize >= self.len()) {
            if !beyond.iter().any(|b| b.1 == id) {
                let token = encoder.token(id).unwrap_or_else(|| "?".to_string());
                beyond.push((token, id));
            }
        }
        if !beyond.is_empty() {
            return Err(PhraseError::BeyondLimit {
                text: text.to_string(),
                beyond,
                rows: self.len(),
            });
        }
        let vector = self.pool(&ids)?;
        Ok(Phrase { ids, vector })
    }

    /// The pooled vector of `ids` (rows), as the model's encoder pools them.
    pub fn pool(&self, ids: &[u32]) -> Result<Vec<f32>, PhraseError> {
        let model = self.meta.model.as_ref().ok_or(PhraseError::NoModel)?;
        let model2vec = model.kind == Kind::Model2Vec;
        let mut sum = vec![0f64; self.dims()];
        for &id in ids {
            let row = self
                .raw_row(id)?
                .ok_or_else(|| PhraseError::NoToken(format!("row {id}")))?;
            let weight = if model2vec && model.has_weights {
                f64::from(self.token_weight(id)?.unwrap_or(1.0))
            } else {
                1.0
            };
            for (s, &x) in sum.iter_mut().zip(&row) {
                *s += f64::from(x) * weight;
            }
        }
        let n = ids.len().max(1) as f64;
        let mut mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        if model2vec && model.normalize {
            let norm = mean
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt()
                + 1e-32;
            mean.iter_mut()
                .for_each(|x| *x = (f64::from(*x) / norm) as f32);
        }
        Ok(mean)
    }
}

/// `york (id 1234)`, `york (id 1234), city (id 2000)`, the first five of more and how many.
fn beyond_list(beyond: &[(String, u32)]) -> String {
    let mut named: Vec<String> = beyond
        .iter()
        .take(5)
        .map(|(token, id)| format!("{} (id {id})", escape(token)))
        .collect();
    if beyond.len() > 5 {
        named.push(format!("and {} more", beyond.len() - 5));
    }
    let what = if beyond.len() == 1 {
        "the token"
    } else {
        "the tokens"
    };
    format!("{what} {}", named.join(", "))
}

/// What reading and parsing the tokenizer needs, apart from the store (it may run on a
/// thread of its own).
struct TokenizerJob {
    path: PathBuf,
    /// The hash recorded when the index was built, when it is one of the index's companions.
    hash: Option<String>,
    max_length: Option<usize>,
}

impl TokenizerJob {
    /// The tokenizer file's content, checked against the recorded hash, parsed.
    fn run(self) -> Parsed {
        let read = || -> Result<Encoder, PhraseError> {
            let bytes = std::fs::read(&self.path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => PhraseError::Missing(self.path.clone()),
                _ => PhraseError::Unreadable {
                    path: self.path.clone(),
                    reason: os_reason(&e),
                },
            })?;
            if let Some(hash) = &self.hash {
                if format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)) != *hash {
                    return Err(PhraseError::Changed(self.path.clone()));
                }
            }
            Ok(Encoder::from_bytes(&bytes, &self.path, self.max_length)?)
        };
        read().map_err(|e| e.to_string())
    }
}

/// An OS error's text without its number ("permission denied").
fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text
        .rfind(" (os error ")
        .map_or(text.as_str(), |at| &text[..at]);
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// model2vec's `max_length`: the `max_length` of the `config.json` beside the model's matrix
/// (`null`: no truncation), else 512, as `StaticModel.from_pretrained` resolves it.
fn config_max_length(source: &Path) -> Option<usize> {
    let config = source.parent().map(|dir| dir.join("config.json"));
    let value: Option<serde_json::Value> = config
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    match value.as_ref().and_then(|v| v.get("max_length")) {
        Some(serde_json::Value::Null) => None,
        Some(v) => v
            .as_u64()
            .map_or(Some(DEFAULT_MAX_LENGTH), |n| Some(n as usize)),
        None => Some(DEFAULT_MAX_LENGTH),
    }
}
