//! Reading embedding files: GloVe text, word2vec/fastText text and word2vec C binary,
//! plain, gzipped or inside a zip archive.
//!
//! The loader streams rows to a sink in file order and never prints. Text is parsed in
//! parallel: the input is cut into blocks at line boundaries, each block into pieces that
//! rayon parses independently; the pieces are then handed over in order, which is where
//! line numbers, duplicates, `limit` and the header's row count are settled.
//!
//! # Layout
//!
//! - This file: the public types ([`Format`], [`LoadOptions`], [`Batch`], [`LoadReport`],
//!   [`LoadError`], [`Problem`], …) and the entry points [`load`] / [`load_with_subwords`],
//!   which pick the reader from the file's first bytes (content decides, not the name).
//! - `source`: where the bytes come from (plain files memory-mapped, pipes and devices,
//!   decompressed streams) and the progress reported; `compress`: gzip and zip archives;
//!   `detect`: format, header and dimensions of text and word2vec binary; `text` and
//!   `binary`: their parsers; `rows`: what every format's rows pass through on their way to
//!   the sink (duplicates, the limit, lossy and spaced words); `bytes`: byte-level helpers.
//! - [`formats`]: other tools' files (fastText models, gensim and pickled dicts, with npy
//!   and pickle underneath; the tutorial's Annoy index with its LMDB map; item vectors: `.npy`,
//!   `.npz`, the Projector's `vectors.tsv`, HistWords), one reader module each, and the glue
//!   that hands their rows over. Two have no magic to sniff: the Annoy index is known by its
//!   name (`X.annoy`, the map directory `X.lmdb`) or `--format annoy`, before the file is
//!   opened; the Projector's values by a `.tsv` name and a first line of numbers only.
//!
//! # How a format plugs in
//!
//! 1. A reader, `formats/<name>.rs`, parses the file's bytes (the loader memory-maps the
//!    file) into words, vectors and, where the model has one, an n-gram table, with its own
//!    error type. It knows nothing of the loader, so it is tested on its own.
//! 2. A `load_<name>` in `formats.rs` maps the reader's errors to [`LoadError`] (with a
//!    [`Location`]), hands n-gram rows to the subword sink, hands word rows over in batches
//!    of `BINARY_BATCH` through `formats::push_rows` (which refuses values that are not
//!    finite; `rows::Rows` then drops duplicates and stops at the limit) and returns the
//!    [`LoadReport`]. `load_fasttext` and `load_pickled` are the two examples.
//! 3. A [`Format`] variant (its [`Display`](fmt::Display) name is what reports show; the
//!    `--format` value is cli.rs's `FormatArg`), and in [`load_with_subwords`] a sniff of the
//!    first bytes that routes to `load_<name>` before the compressed and text paths. Forced on
//!    a file that is not one, the format is refused by `detect::detect` (as `FastTextBin`,
//!    `Gensim` and `Pickle` are); a format that needs a regular file is refused for pipes by
//!    `source::load_nonregular`.

use std::fmt;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

mod binary;
mod bytes;
mod compress;
mod decimal;
mod detect;
pub mod formats;
mod rows;
mod shrink_guard;
mod source;
mod text;

use compress::{load_zip, sniff, Compression, Counting};
use formats::{load_annoy, load_fasttext, load_items, load_pickled};
use rows::Rows;
use source::{load_mapped, load_nonregular, load_stream, open_nonblocking, read_up_to, Progress};

/// Rows per batch for word2vec binary, and a cap on the values in one batch for very
/// wide vectors.
const BINARY_BATCH: usize = 16 << 10;
const BINARY_BATCH_VALUES: usize = 4 << 20;
/// A binary "word" longer than this means we are reading garbage, not a vocabulary.
const MAX_BINARY_WORD: usize = 64 << 10;
/// Headers announcing more dimensions than this are corrupt, not ambitious.
const MAX_DIMS: u64 = 1 << 20;
/// Longest line a text file may have: MAX_DIMS values of up to 63 bytes each. Beyond it
/// (a stream without line ends, /dev/urandom) reading stops instead of filling memory.
const MAX_LINE: usize = 64 << 20;

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    Glove,
    Word2VecText,
    Word2VecBinary,
    /// fastText's native model (`.bin`), with its character n-gram table.
    FastTextBin,
    /// gensim's `KeyedVectors.save` / `Word2Vec.save` / `FastText.save` (a pickle).
    Gensim,
    /// A pickled dict word → vector (`.pkl`), or pickled 2-D arrays of items (the tutorial's
    /// MNIST `.pkl`).
    Pickle,
    /// An Annoy index (`.annoy`, angular) with the tutorial's LMDB map word ↔ id beside it.
    Annoy,
    /// Item vectors: a 2-D `.npy`, an `.npz`, the Embedding Projector's `vectors.tsv`.
    Items,
    /// A Hugging Face model: a safetensors matrix whose rows are the tokens of its
    /// `tokenizer.json` (model2vec, a transformer's input embedding).
    Safetensors,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Glove => "GloVe text",
            Format::Word2VecText => "word2vec text",
            Format::Word2VecBinary => "word2vec binary",
            Format::FastTextBin => "fastText model",
            Format::Gensim => "gensim saved vectors",
            Format::Pickle => "pickle",
            Format::Annoy => "Annoy index",
            Format::Items => "item vectors",
            Format::Safetensors => "safetensors model",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}' (expected glove, w2v-text, word2vec-text, fasttext, w2v-bin, word2vec-binary, fasttext-bin, annoy, items or safetensors)")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "glove" => Ok(Format::Glove),
            "w2v-text" | "word2vec-text" | "fasttext" => Ok(Format::Word2VecText),
            "w2v-bin" | "word2vec-binary" => Ok(Format::Word2VecBinary),
            "fasttext-bin" | "ft-bin" => Ok(Format::FastTextBin),
            "annoy" => Ok(Format::Annoy),
            "items" | "npy" | "npz" | "projector" => Ok(Format::Items),
            "safetensors" => Ok(Format::Safetensors),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Overrides format detection.
    pub format: Option<Format>,
    /// Zip member to read.
    pub member: Option<String>,
    /// Stop after this many kept words.
    pub limit: Option<usize>,
    /// The vectors' dimension, for files that do not record it (an Annoy index).
    pub dims: Option<usize>,
    /// Labels naming the rows of item vectors, one a line.
    pub labels: Option<std::path::PathBuf>,
    /// The tensor of a safetensors model whose rows are the tokens (`--tensor`).
    pub tensor: Option<String>,
    /// The tokenizer of a safetensors model (`--tokenizer`; else `tokenizer.json` beside it).
    pub tokenizer: Option<std::path::PathBuf>,
}

/// Rows in file order. `vectors.len() == words.len() * dims`; raw values exactly as in
/// the file (not normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub words: Vec<String>,
    pub vectors: Vec<f32>,
    /// For a word2vec .bin read in place (an uncompressed regular file): the byte offset in
    /// the file of each row's little-endian f32 values, so the index can read them again from
    /// there instead of storing a copy.
    pub offsets: Option<Vec<u64>>,
    /// Each row's label, when the file labels its items (the MNIST pickle's `y` arrays); the
    /// index keeps them in its `labels` table.
    pub labels: Option<Vec<i64>>,
    /// Each row's token weight, for a model2vec model that has them; the index keeps them in
    /// its `weights` table.
    pub weights: Option<Vec<f32>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    pub format: Format,
    /// "none", "gzip" or "zip".
    pub compression: &'static str,
    /// Zip member read.
    pub member: Option<String>,
    pub dims: usize,
    /// Rows kept (unique words, after limit).
    pub words: usize,
    /// Rows dropped because the word was seen before (the first one is kept).
    pub duplicates: usize,
    /// Kept words that were not valid UTF-8 (decoded lossily).
    pub lossy_words: usize,
    /// Words that a Python 2 pickle held as a `str` (bytes) that is not valid UTF-8, decoded
    /// as latin-1 instead (a `str` that is valid UTF-8 is decoded as UTF-8).
    pub latin1_words: usize,
    /// (count, dims) from a header line, if any.
    pub header: Option<(u64, u64)>,
    /// Kept words that contain a space or tab (GloVe 840B has them), and the first few.
    pub spaced_words: usize,
    pub spaced_examples: Vec<String>,
    /// The model's character n-gram table, for models that have one (fastText).
    pub subwords: Option<Subwords>,
    /// Notes on how the rows were named, for `vecsh info` (escaped already), e.g. that the
    /// Projector's labels repeat and the items are numbered.
    pub notes: Vec<String>,
    /// xxh3-64 of the whole source file, when it was hashed while being read (uncompressed
    /// regular files): the index need not read the file a second time to fingerprint it.
    #[serde(skip)]
    pub content_hash: Option<u64>,
    /// What a safetensors model is: its tensor, dtype, tokenizer, hidden rows.
    pub model: Option<ModelMeta>,
    /// How the rows read in place (`Batch::offsets`) are encoded in the source.
    pub row_encoding: RowEncoding,
}

/// How the values of a row read in place from the source are encoded (little-endian).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RowEncoding {
    /// word2vec `.bin`, safetensors F32.
    #[default]
    F32,
    /// IEEE half precision (safetensors F16).
    F16,
    /// bfloat16 (safetensors BF16): the upper half of an f32.
    BF16,
}

impl RowEncoding {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            RowEncoding::F32 => 4,
            RowEncoding::F16 | RowEncoding::BF16 => 2,
        }
    }

    /// Decodes one row's bytes (`out.len()` values) into `out`.
    pub fn decode(self, raw: &[u8], out: &mut [f32]) {
        use formats::safetensors::{to_f32, Dtype};
        let dtype = match self {
            RowEncoding::F32 => Dtype::F32,
            RowEncoding::F16 => Dtype::F16,
            RowEncoding::BF16 => Dtype::BF16,
        };
        to_f32(dtype, raw, out);
    }
}

/// A safetensors model: where its rows come from and what its tokens are (`Meta::model`).
/// Row `i` of the index is token id `i`, named by the token's shown form
/// (`formats::tokenizer`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMeta {
    pub kind: formats::safetensors::Kind,
    /// The matrix's tensor (`wte.weight`).
    pub tensor: String,
    /// Its dtype as safetensors names it (`BF16`).
    pub dtype: String,
    /// The tokenizer file read (absolute), one of the index's companions.
    #[serde(with = "raw_path")]
    pub tokenizer: std::path::PathBuf,
    /// `BPE`, `WordPiece`, `Unigram` or `WordLevel`.
    pub tokenizer_model: String,
    /// model2vec's `normalize` (config.json): an encoded phrase is normalised.
    pub normalize: bool,
    /// The unknown token's id.
    pub unk: Option<u32>,
    /// Rows of special and byte tokens (and ids no token has), in id order: kept out of
    /// neighbour lists unless `--all-tokens`.
    pub hidden: Vec<u32>,
    /// model2vec's per-token weights are in the index's `weights` table.
    pub has_weights: bool,
    /// The tokenizer's token ids (its highest id + 1): the rows loaded, but for `--limit`.
    pub vocab_size: usize,
    /// The matrix's rows (padding rows beyond the vocabulary are not loaded).
    pub matrix_rows: usize,
    /// model2vec's `mapping`: tokens share rows of a smaller matrix.
    #[serde(default)]
    pub mapped: bool,
}

impl ModelMeta {
    /// How a phrase's tokens make its vector, as `vecsh info` says it.
    pub fn pooling(&self) -> &'static str {
        match (self.kind, self.normalize, self.has_weights) {
            (formats::safetensors::Kind::Model2Vec, true, true) => {
                "model2vec: weighted mean, normalised"
            }
            (formats::safetensors::Kind::Model2Vec, true, false) => "model2vec: mean, normalised",
            (formats::safetensors::Kind::Model2Vec, false, true) => "model2vec: weighted mean",
            (formats::safetensors::Kind::Model2Vec, false, false) => "model2vec: mean",
            _ => "mean of token rows",
        }
    }
}

/// Serde for paths as bytes: a UTF-8 path is a JSON string, any other a `{"bytes": [..]}`.
pub mod raw_path {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bytes { bytes: Vec<u8> },
    }

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        match path.to_str() {
            Some(text) => Repr::Text(text.to_owned()),
            None => Repr::Bytes {
                bytes: path.as_os_str().as_bytes().to_vec(),
            },
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Text(text) => PathBuf::from(text),
            Repr::Bytes { bytes } => PathBuf::from(OsStr::from_bytes(&bytes)),
        })
    }
}

/// How a model builds vectors for unknown words from their character n-grams.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subwords {
    /// What the model is, e.g. "fastText skipgram (version 12)".
    pub model: String,
    pub minn: usize,
    pub maxn: usize,
    pub buckets: usize,
}

/// Consecutive rows of the n-gram (bucket) matrix, raw as in the file; the first batch
/// starts at bucket 0.
#[derive(Debug, Clone, PartialEq)]
pub struct SubwordBatch {
    pub first: usize,
    pub dims: usize,
    pub vectors: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    // The OS error is part of the message and deliberately not `source()`: a chain printer
    // would show it a second time.
    #[error("{file}: {err}")]
    Io { file: String, err: io::Error },
    /// The zip archive is unreadable, or which member to read is unclear.
    #[error("{file}: {message}")]
    Archive { file: String, message: String },
    /// The content is not a valid embedding file.
    #[error("{location}: {problem}")]
    Data {
        location: Location,
        problem: Problem,
    },
    /// The sink refused a batch.
    #[error(transparent)]
    Sink(anyhow::Error),
}

/// Where a data problem is. `file` is the path as given, plus `:member` for zip archives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of the (decompressed) text.
    Line { file: String, line: u64 },
    /// Byte offset within the (decompressed) binary stream.
    Offset { file: String, offset: u64 },
    /// The file as a whole.
    File { file: String },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line { file, line } => write!(f, "{file}:{line}"),
            Location::Offset { file, offset } => write!(f, "{file}: byte offset {offset}"),
            Location::File { file } => f.write_str(file),
        }
    }
}

/// What is wrong with the content; [`Location`] says where. Display is the message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("empty file: no rows")]
    Empty,
    #[error("this is a gzipped fastText model (.bin): decompress it first (gunzip), or load the .vec file")]
    FastTextModel,
    #[error("{0}")]
    FastText(formats::fasttext::Problem),
    #[error("{0}")]
    Pickle(String),
    #[error("{0}")]
    Annoy(String),
    #[error("{0}")]
    Items(String),
    #[error("{0}")]
    Model(String),
    #[error("empty: the header announces {count} rows but none follow")]
    HeaderOnly { count: u64 },
    #[error("malformed header '{line}': expected two integers, 'count dims'")]
    BadHeader { line: String },
    #[error("the header says {dims} dimensions; expected between 1 and {MAX_DIMS}")]
    BadHeaderDims { dims: u64 },
    #[error("the first row has a word but no values, so there are 0 dimensions")]
    NoValues,
    #[error("blank line (blank lines are only allowed at the end of the file)")]
    BlankLine,
    #[error("expected {expected} values after the word, found {found}")]
    WrongValueCount { expected: usize, found: usize },
    #[error("'{token}' is not a number (value {index} of {dims})")]
    NotANumber {
        token: String,
        index: usize,
        dims: usize,
    },
    #[error("'{token}' is not finite (value {index} of {dims})")]
    NotFinite {
        token: String,
        index: usize,
        dims: usize,
    },
    #[error("'{token}' overflows f32 (value {index} of {dims}): its magnitude is beyond 3.4e38, the largest f32")]
    Overflow {
        token: String,
        index: usize,
        dims: usize,
    },
    #[error("the header says {expected} rows, but the file ends after {found}")]
    TooFewRows { expected: u64, found: u64 },
    #[error(
        "more rows than the {expected} the header announces (--limit {expected} reads only those)"
    )]
    TooManyRows { expected: u64 },
    #[error("this row has {found} values, expected {expected} (a ragged row: the fields after the word are numbers)")]
    RaggedRow { expected: usize, found: usize },
    #[error("the first line '{count} {dims}' is a word2vec header, not a GloVe row: use --format w2v-text (or no --format)")]
    HeaderUnderGlove { count: u64, dims: u64 },
    #[error("the first row has {found} values; at most {MAX_DIMS} dimensions are supported")]
    TooManyValues { found: usize },
    #[error("this looks like UTF-16 text: convert it with iconv -f UTF-16 -t UTF-8")]
    Utf16,
    #[error("the input starts with NUL bytes: not an embedding file")]
    NulBytes,
    #[error("no line end in the first {MAX_LINE} bytes: not an embedding file")]
    LineTooLong,
    #[error("row {row} has an empty word (a space where the word should start)")]
    EmptyWord { row: u64 },
    #[error("file ends inside the word of row {row} of {count}")]
    TruncatedWord { row: u64, count: u64 },
    #[error(
        "the word of row {row} is longer than {MAX_BINARY_WORD} bytes; not a word2vec binary file?"
    )]
    WordTooLong { row: u64 },
    #[error("file ends inside the vector of word '{word}' (row {row} of {count}): expected {expected} bytes, found {found}")]
    TruncatedVector {
        word: String,
        row: u64,
        count: u64,
        expected: usize,
        found: usize,
    },
    #[error("value {index} of {dims} of word '{word}' (row {row}) is not finite ({value})")]
    BinaryNotFinite {
        word: String,
        row: u64,
        index: usize,
        dims: usize,
        value: f32,
    },
}

/// The other files the rows of `path` are read from (maps, labels, sidecars): see
/// [`formats::companions`].
pub fn companions(path: &Path, opts: &LoadOptions) -> Vec<std::path::PathBuf> {
    formats::companions(path, opts)
}

/// The file that names what `path` opens: `X.annoy` for the tutorial's map directory `X.lmdb`
/// when `X.annoy` is beside it (so the pair's index is cached under the `.annoy`); for a model
/// directory, the safetensors file holding its matrix (`model.safetensors`, or the shard a
/// sharded model's index names for it), so that `vecsh DIR` and `vecsh DIR/model.safetensors`
/// share one index; else `path` (also when the directory cannot be opened: loading it says why).
pub fn primary_file(path: &Path, opts: &LoadOptions) -> std::path::PathBuf {
    if let Some(dir) = model_dir(path, opts) {
        if let Ok(Some(file)) = formats::safetensors::model_file(dir, opts.tensor.as_deref()) {
            return file;
        }
    }
    match formats::annoy_pair(path, None) {
        Ok(Some((annoy, _))) if annoy != path => annoy,
        _ => path.to_owned(),
    }
}

/// Whether the start of `path` reads as an embedding file rather than a script of vecsh lines:
/// compressed or binary content (a NUL byte) whose first rows load, or text whose first lines
/// read as vectors
/// (`vecsh a.vec b.vec` meant `--also b.vec`). Unreadable files are no embeddings here: the
/// script's own reading says why.
pub fn looks_like_embeddings(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file.take(64 * 1024).read_to_end(&mut head).is_err() {
        return false;
    }
    if is_binary(&head) {
        // Binary: embeddings only if it reads as them (a program, random bytes or a broken
        // archive is not, and `--also` would fail on it).
        return reads_rows(path);
    }
    // Text: the first lines (after a word2vec `N D` header) each a word and at least two
    // numbers, and no more lines than the head holds whole. A script's lines never are.
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    let numbers = |fields: &[&str]| fields.iter().all(|f| f.parse::<f32>().is_ok());
    if let Some(first) = lines.peek() {
        let fields: Vec<&str> = first.split_whitespace().collect();
        if fields.len() == 2 && fields.iter().all(|f| f.parse::<u64>().is_ok()) {
            lines.next();
        }
    }
    let rows: Vec<&str> = lines.take(5).collect();
    !rows.is_empty()
        && rows.iter().all(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() >= 3 && numbers(&fields[1..])
        })
}

/// Compressed or binary content: a gzip or zip magic, or a NUL byte.
fn is_binary(head: &[u8]) -> bool {
    head.starts_with(b"\x1f\x8b") || head.starts_with(b"PK\x03\x04") || head.contains(&0)
}

/// Whether `path` opens as embeddings: its first rows load (reading stops there).
fn reads_rows(path: &Path) -> bool {
    let opts = LoadOptions {
        limit: Some(2),
        ..Default::default()
    };
    let mut rows = false;
    let loaded = load(path, &opts, &|_, _| {}, &mut |batch| {
        rows |= !batch.words.is_empty();
        // Enough seen: stop reading.
        anyhow::ensure!(!rows, "enough");
        Ok(())
    });
    // An archive of several embedding files is one too (which member is another question).
    rows || matches!(loaded, Err(LoadError::Archive { message, .. }) if message.contains("several embedding files"))
}

/// Whether the first 64 KiB of `path` are binary data (`vecsh FILE X`: X is no script).
pub fn looks_binary(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .is_ok()
        && is_binary(&head)
}

/// The model directory `path` names: itself when it is a directory, the directory of a sharded
/// model's `model.safetensors.index.json`.
fn model_dir<'p>(path: &'p Path, opts: &LoadOptions) -> Option<&'p Path> {
    if !matches!(opts.format, None | Some(Format::Safetensors)) {
        return None;
    }
    if path.is_dir() {
        return Some(path);
    }
    let index = path.file_name()? == formats::safetensors::SHARD_INDEX;
    match path.parent() {
        Some(dir) if index && dir.as_os_str().is_empty() => Some(Path::new(".")),
        Some(dir) if index => Some(dir),
        _ => None,
    }
}

/// Whether `path` opens as a safetensors model (a model directory, a safetensors file, or
/// `--format safetensors`): its rows are tokens, some of which (whitespace, line ends) no
/// word-per-line format can hold.
pub fn is_model(path: &Path, opts: &LoadOptions) -> bool {
    match opts.format {
        Some(f) => f == Format::Safetensors,
        None => {
            let path = primary_file(path, opts);
            let mut head = [0u8; 16];
            let len = std::fs::metadata(&path).map_or(0, |m| m.len());
            path.is_file()
                && std::fs::File::open(&path)
                    .and_then(|mut f| read_up_to(&mut f, &mut head))
                    .is_ok_and(|n| formats::safetensors::sniff(&head[..n], len))
        }
    }
}

/// `--tensor` and `--tokenizer` choose within a safetensors model: given for another file they
/// would be ignored, and a user would not learn that the file was not read as they meant.
fn refuse_model_flags(opts: &LoadOptions, label: &str) -> Result<(), LoadError> {
    let flag = match (&opts.tensor, &opts.tokenizer) {
        (Some(_), _) => "--tensor",
        (None, Some(_)) => "--tokenizer",
        (None, None) => return Ok(()),
    };
    Err(LoadError::Data {
        location: Location::File {
            file: label.to_owned(),
        },
        problem: Problem::Model(format!(
            "{flag} applies to safetensors models only, and this is not one (leave {flag} out, or open the model's directory or .safetensors file)"
        )),
    })
}

/// Reads an embedding file and hands its rows to `sink` in file order, in batches.
///
/// `on_progress(done, total)` reports source bytes consumed (compressed bytes for .gz and
/// .zip). `sink` errors abort the load and come back as [`LoadError::Sink`].
pub fn load(
    path: &Path,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    sink: &mut dyn FnMut(Batch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    load_with_subwords(path, opts, on_progress, sink, &mut |_| Ok(()))
}

/// [`load`], also handing the n-gram matrix of models that have one to `subword_sink`
/// (before the word rows).
pub fn load_with_subwords(
    path: &Path,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    sink: &mut dyn FnMut(Batch) -> anyhow::Result<()>,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let stat = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let (faults, before) = (shrink_guard::faults(), stat(path));
    let loaded = load_unwatched(path, opts, on_progress, sink, subword_sink);
    // A page of a map was gone: zeros were read in its place. A fault of another load in this
    // process (a background build) leaves this file as it was.
    if shrink_guard::faults() != faults && (before != stat(path) || path.is_dir()) {
        return Err(LoadError::Io {
            file: crate::text::escape_path(path),
            err: io::Error::other(
                "the file shrank while it was read (another program truncated or rewrote \
                 it); nothing read from it was kept: open it again once it is written",
            ),
        });
    }
    loaded
}

fn load_unwatched(
    path: &Path,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    sink: &mut dyn FnMut(Batch) -> anyhow::Result<()>,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    // A model directory: its safetensors file (`primary_file`), or why it cannot be opened.
    if let Some(dir) = model_dir(path, opts) {
        match formats::safetensors::model_file(dir, opts.tensor.as_deref()) {
            Ok(Some(file)) => {
                return load_unwatched(&file, opts, on_progress, sink, subword_sink)
            }
            Err(message) => {
                return Err(LoadError::Data {
                    location: Location::File {
                        file: crate::text::escape_path(path),
                    },
                    problem: Problem::Model(message),
                })
            }
            // Not a model, nor the tutorial's map `X.lmdb` (read below).
            Ok(None) if opts.format.is_none() && !path.to_string_lossy().ends_with(".lmdb") => {
                return Err(LoadError::Data {
                    location: Location::File {
                        file: crate::text::escape_path(path),
                    },
                    problem: Problem::Model(
                        "a directory, and no model in it: vecsh opens a model directory holding model.safetensors (or embeddings.safetensors, or a sharded model's model.safetensors.index.json) with its tokenizer.json; other files are opened by their path".to_owned(),
                    ),
                })
            }
            Ok(None) => {}
        }
    }
    // The tutorial's index has no magic: `X.annoy` (or `--format annoy`), and its map `X.lmdb`.
    if let Some((annoy, map)) = formats::annoy_pair(path, opts.format)? {
        refuse_model_flags(opts, &crate::text::escape_path(path))?;
        if opts.member.is_some() {
            return Err(LoadError::Archive {
                file: crate::text::escape_path(path),
                message: "--member was given, but this is not a zip archive".to_owned(),
            });
        }
        let mut rows = Rows::new(sink, opts.limit);
        return load_annoy(&annoy, map.as_deref(), opts.dims, &mut rows);
    }
    let label = crate::text::escape_path(path);
    let io_err = |source| LoadError::Io {
        file: label.clone(),
        err: source,
    };
    let mut file = open_nonblocking(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        refuse_model_flags(opts, &label)?;
        return load_nonregular(file, &label, opts, on_progress, sink);
    }
    let len = meta.len();
    let mut magic = [0u8; 64];
    let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let magic = &magic[..n];

    if opts.format.is_none() {
        formats::refuse_lmdb_data_file(path, magic)?;
    }
    // safetensors has no magic: an 8-byte header length that fits the file, then `{"`.
    let safetensors = match opts.format {
        None => formats::safetensors::sniff(magic, len),
        Some(Format::Safetensors) => true,
        Some(_) => false,
    };
    if safetensors {
        if opts.member.is_some() {
            return Err(LoadError::Archive {
                file: label,
                message: "--member was given, but this is not a zip archive".to_owned(),
            });
        }
        let mut rows = Rows::new(sink, opts.limit);
        return formats::load_model(path, &file, opts, on_progress, &mut rows);
    }
    refuse_model_flags(opts, &label)?;
    let compression = sniff(magic);
    if matches!(opts.format, None | Some(Format::Items)) {
        let forced = opts.format == Some(Format::Items);
        match formats::item_source(path, &file, magic, forced) {
            Some(source) => {
                let mut rows = Rows::new(sink, opts.limit);
                return load_items(path, &file, source, opts, &mut rows);
            }
            None if forced => {
                return Err(LoadError::Data {
                    location: Location::File { file: label },
                    problem: Problem::Items(
                        "not item vectors: --format items reads a 2-D .npy, an .npz of them or the Embedding Projector's vectors.tsv".to_owned(),
                    ),
                })
            }
            None => {}
        }
    }
    let model_format = match opts.format {
        None | Some(Format::FastTextBin) if formats::fasttext::sniff(magic).is_some() => {
            Some(Format::FastTextBin)
        }
        _ => None,
    };
    if model_format.is_some() && matches!(compression, Compression::None) {
        if opts.member.is_some() {
            return Err(LoadError::Archive {
                file: label,
                message: "--member was given, but this is not a zip archive".to_owned(),
            });
        }
        let mut rows = Rows::new(sink, opts.limit);
        return load_fasttext(&file, len, &label, on_progress, &mut rows, subword_sink);
    }
    let pickled = matches!(opts.format, None | Some(Format::Gensim | Format::Pickle))
        && formats::pickle::sniff(magic);
    if pickled && matches!(compression, Compression::None) && opts.member.is_none() {
        let mut rows = Rows::new(sink, opts.limit);
        return load_pickled(path, &file, &label, &mut rows, subword_sink);
    }
    if opts.member.is_some() && !matches!(compression, Compression::Zip) {
        // Silently ignoring it would hide a mix-up of files.
        return Err(LoadError::Archive {
            file: label,
            message: "--member was given, but this is not a zip archive".to_owned(),
        });
    }
    let mut rows = Rows::new(sink, opts.limit);
    let mut content_hash = None;
    let (compression, member, layout) = match compression {
        Compression::Zip => {
            let (member, layout) = load_zip(file, &label, opts, on_progress, &mut rows)?;
            ("zip", Some(member), layout)
        }
        Compression::Gzip => {
            let count = Arc::new(AtomicU64::new(0));
            let counted = Counting {
                inner: file,
                count: count.clone(),
            };
            let mut reader =
                flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 18, counted));
            let progress = Progress::counted(on_progress, count, len);
            // The decompressed stream's format, as a plain file's: a gzipped pickle or gensim
            // file (`x.pkl.gz`, gensim's `x.kv.gz`) is read as one, not taken for text.
            let mut head = [0u8; 64];
            let n = read_up_to(&mut reader, &mut head).map_err(io_err)?;
            let head = &head[..n];
            if let Some(report) = formats::load_pickled_stream(
                path,
                head,
                &mut reader,
                "gzip",
                opts.format,
                &label,
                &mut rows,
                subword_sink,
            )? {
                progress.finish();
                return Ok(report);
            }
            let mut reader = io::Cursor::new(head.to_vec()).chain(reader);
            let layout = load_stream(&mut reader, &label, opts, &progress, &mut rows)?;
            ("gzip", None, layout)
        }
        Compression::None => {
            let (layout, hash) = load_mapped(&file, len, &label, opts, on_progress, &mut rows)?;
            content_hash = Some(hash);
            ("none", None, layout)
        }
    };
    Ok(LoadReport {
        content_hash,
        ..rows.report(
            layout.format,
            compression,
            member,
            layout.dims,
            layout.header,
        )
    })
}
