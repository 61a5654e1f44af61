//! Reading embedding files: GloVe text, word2vec/fastText text and word2vec C binary,
//! plain, gzipped or inside a zip archive.
//!
//! The loader streams rows to a sink in file order and never prints. Text is parsed in
//! parallel: the input is cut into blocks at line boundaries, each block into pieces that
//! rayon parses independently; the pieces are then handed over in order, which is where
//! line numbers, duplicates, `limit` and the header's row count are settled.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

pub mod formats;

/// Decompressed bytes parsed per round for text; bounds the memory held besides the sink's.
const BLOCK: usize = 8 << 20;
/// Pieces smaller than this cost more in scheduling than they gain in parallelism.
const MIN_PIECE: usize = 64 << 10;
/// Rows per batch for word2vec binary, and a cap on the values in one batch for very
/// wide vectors.
const BINARY_BATCH: usize = 16 << 10;
const BINARY_BATCH_VALUES: usize = 4 << 20;
/// A binary "word" longer than this means we are reading garbage, not a vocabulary.
const MAX_BINARY_WORD: usize = 64 << 10;
/// Headers announcing more dimensions than this are corrupt, not ambitious.
const MAX_DIMS: u64 = 1 << 20;
/// Words with spaces the build report shows.
const SPACED_EXAMPLES: usize = 5;
/// Longest line a text file may have: MAX_DIMS values of up to 63 bytes each. Beyond it
/// (a stream without line ends, /dev/urandom) reading stops instead of filling memory.
const MAX_LINE: usize = 64 << 20;
const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    /// A pickled dict word → vector (`.pkl`).
    Pickle,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Glove => "GloVe text",
            Format::Word2VecText => "word2vec text",
            Format::Word2VecBinary => "word2vec binary",
            Format::FastTextBin => "fastText model",
            Format::Gensim => "gensim saved vectors",
            Format::Pickle => "pickled dict",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}' (expected glove, w2v-text, word2vec-text, fasttext, w2v-bin, word2vec-binary or fasttext-bin)")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "glove" => Ok(Format::Glove),
            "w2v-text" | "word2vec-text" | "fasttext" => Ok(Format::Word2VecText),
            "w2v-bin" | "word2vec-binary" => Ok(Format::Word2VecBinary),
            "fasttext-bin" | "ft-bin" => Ok(Format::FastTextBin),
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
    /// (count, dims) from a header line, if any.
    pub header: Option<(u64, u64)>,
    /// Kept words that contain a space or tab (GloVe 840B has them), and the first few.
    pub spaced_words: usize,
    pub spaced_examples: Vec<String>,
    /// The model's character n-gram table, for models that have one (fastText).
    pub subwords: Option<Subwords>,
    /// xxh3-64 of the whole source file, when it was hashed while being read (uncompressed
    /// regular files): the index need not read the file a second time to fingerprint it.
    #[serde(skip)]
    pub content_hash: Option<u64>,
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
    let label = crate::text::escape_path(path);
    let io_err = |source| LoadError::Io {
        file: label.clone(),
        err: source,
    };
    let mut file = open_nonblocking(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return load_nonregular(file, &label, opts, on_progress, sink);
    }
    let len = meta.len();
    let mut magic = [0u8; 64];
    let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let magic = &magic[..n];

    let compression = sniff(magic);
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
        spaced_words: rows.spaced,
        spaced_examples: std::mem::take(&mut rows.spaced_examples),
        format: layout.format,
        compression,
        member,
        dims: layout.dims,
        words: rows.kept,
        duplicates: rows.duplicates,
        lossy_words: rows.lossy,
        header: layout.header,
        subwords: None,
        content_hash,
    })
}

/// Opens without blocking: opening a FIFO that has no writer would otherwise wait forever.
/// Reads then block as usual (a FIFO without a writer reads as empty).
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // SAFETY: fcntl on a descriptor we own; it changes only its status flags.
    unsafe {
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

/// FIFOs, process substitution (`<(cmd)`), character devices: read once, front to back,
/// as a (possibly gzipped) stream. Formats that need to seek are refused by name.
fn load_nonregular(
    mut file: File,
    label: &str,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    sink: &mut dyn FnMut(Batch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let io_err = |source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    };
    let refuse = |message: &str| LoadError::Archive {
        file: label.to_owned(),
        message: message.to_owned(),
    };
    let mut magic = [0u8; 64];
    let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
    let magic = magic[..n].to_vec();
    if n == 0 {
        return Err(data_error(label, At::File, Problem::Empty));
    }
    if formats::fasttext::sniff(&magic).is_some() {
        return Err(refuse(
            "a fastText model is read from a regular file, not a pipe: save it to a file first",
        ));
    }
    let compression = sniff(&magic);
    if matches!(compression, Compression::Zip) {
        return Err(refuse(
            "a zip archive is read from its end, so it must be a regular file, not a pipe",
        ));
    }
    if opts.member.is_some() {
        return Err(refuse("--member was given, but this is not a zip archive"));
    }
    let count = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: Cursor::new(magic).chain(file),
        count: count.clone(),
    };
    let progress = Progress::counted(on_progress, count, 0);
    let mut rows = Rows::new(sink, opts.limit);
    let (compression, layout) = if matches!(compression, Compression::Gzip) {
        let mut reader =
            flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 18, counted));
        (
            "gzip",
            load_stream(&mut reader, label, opts, &progress, &mut rows)?,
        )
    } else {
        let mut reader = counted;
        (
            "none",
            load_stream(&mut reader, label, opts, &progress, &mut rows)?,
        )
    };
    Ok(LoadReport {
        spaced_words: rows.spaced,
        spaced_examples: std::mem::take(&mut rows.spaced_examples),
        format: layout.format,
        compression,
        member: None,
        dims: layout.dims,
        words: rows.kept,
        duplicates: rows.duplicates,
        lossy_words: rows.lossy,
        header: layout.header,
        subwords: None,
        content_hash: None,
    })
}

// ---------------------------------------------------------------------------------------
// Pickles: gensim's saved vectors and pickled dicts
// ---------------------------------------------------------------------------------------

fn load_pickled(
    path: &Path,
    file: &File,
    label: &str,
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let map = map_file(file, label)?;
    let v = formats::gensim::read(path, &map).map_err(|e| LoadError::Data {
        location: match e.offset {
            Some(offset) => Location::Offset {
                file: label.to_owned(),
                offset,
            },
            None => Location::File {
                file: label.to_owned(),
            },
        },
        problem: Problem::Pickle(e.message),
    })?;
    let dims = v.dims;
    let mut subwords = None;
    if let Some((minn, maxn, buckets, ngrams)) = &v.ngrams {
        for (i, rows) in ngrams.chunks(BINARY_BATCH * dims).enumerate() {
            subword_sink(SubwordBatch {
                first: i * BINARY_BATCH,
                dims,
                vectors: rows.to_vec(),
            })
            .map_err(LoadError::Sink)?;
        }
        subwords = Some(Subwords {
            model: v.kind.clone(),
            minn: *minn,
            maxn: *maxn,
            buckets: *buckets,
        });
    }
    for (start, chunk) in v.words.chunks(BINARY_BATCH).enumerate() {
        if rows.full() {
            break;
        }
        let first = start * BINARY_BATCH;
        let take = chunk.len().min(rows.room());
        let mut words = Vec::with_capacity(take);
        let mut hashes = Vec::with_capacity(take);
        let mut lossy = Vec::new();
        for (i, bytes) in chunk[..take].iter().enumerate() {
            let (word, was_lossy) = decode_word(bytes);
            if was_lossy {
                lossy.push(i);
            }
            if let Some(j) = v.vectors[(first + i) * dims..(first + i + 1) * dims]
                .iter()
                .position(|x| !x.is_finite())
            {
                return Err(LoadError::Data {
                    location: Location::File {
                        file: label.to_owned(),
                    },
                    problem: Problem::BinaryNotFinite {
                        word: show(bytes),
                        row: (first + i + 1) as u64,
                        index: j + 1,
                        dims,
                        value: v.vectors[(first + i) * dims + j],
                    },
                });
            }
            hashes.push(word_hash(word.as_bytes()));
            words.push(word);
        }
        let vectors = v.vectors[first * dims..(first + take) * dims].to_vec();
        rows.push(words, vectors, None, &hashes, &lossy, dims)?;
    }
    Ok(LoadReport {
        format: if v.gensim {
            Format::Gensim
        } else {
            Format::Pickle
        },
        compression: "none",
        member: None,
        dims,
        words: rows.kept,
        duplicates: rows.duplicates,
        lossy_words: rows.lossy,
        header: None,
        spaced_words: 0,
        spaced_examples: Vec::new(),
        subwords,
        content_hash: None,
    })
}

// ---------------------------------------------------------------------------------------
// Model files: fastText .bin
// ---------------------------------------------------------------------------------------

fn map_file(file: &File, label: &str) -> Result<memmap2::Mmap, LoadError> {
    // SAFETY: as in `load_mapped`: read-only, private to this call.
    unsafe { memmap2::Mmap::map(file) }.map_err(|source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    })
}

/// fastText's `.bin`: the n-gram rows go to `subword_sink`, then each dictionary word with
/// the vector fastText writes to its `.vec` (the word row averaged with its n-gram rows).
fn load_fasttext(
    file: &File,
    len: u64,
    label: &str,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let map = map_file(file, label)?;
    let model = formats::fasttext::parse(&map).map_err(|e| LoadError::Data {
        location: Location::Offset {
            file: label.to_owned(),
            offset: e.offset,
        },
        problem: Problem::FastText(e.problem),
    })?;
    let dims = model.dims();
    let total_rows = (model.words.len() + model.buckets()).max(1) as u64;
    let progress = |done: usize| on_progress(done as u64 * len / total_rows, len);

    let mut first = 0;
    while first < model.buckets() {
        let count = BINARY_BATCH.min(model.buckets() - first);
        let vectors = model.ngram_rows(first, count);
        if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(LoadError::Data {
                location: Location::File {
                    file: label.to_owned(),
                },
                problem: Problem::FastText(formats::fasttext::Problem::Dictionary(format!(
                    "n-gram row {} has a value that is not finite ({})",
                    first + i / dims,
                    vectors[i]
                ))),
            });
        }
        subword_sink(SubwordBatch {
            first,
            dims,
            vectors,
        })
        .map_err(LoadError::Sink)?;
        first += count;
        progress(first);
    }

    let mut start = 0;
    while start < model.words.len() && !rows.full() {
        let end = model.words.len().min(start + BINARY_BATCH.min(rows.room()));
        let mut vectors = vec![0f32; (end - start) * dims];
        vectors
            .par_chunks_mut(dims)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (i, out)| {
                model.word_vector(start + i, out, scratch)
            });
        let mut words = Vec::with_capacity(end - start);
        let mut hashes = Vec::with_capacity(end - start);
        let mut lossy = Vec::new();
        for (i, bytes) in model.words[start..end].iter().enumerate() {
            let (word, was_lossy) = decode_word(bytes);
            if was_lossy {
                lossy.push(i);
            }
            if let Some(j) = vectors[i * dims..(i + 1) * dims]
                .iter()
                .position(|v| !v.is_finite())
            {
                return Err(LoadError::Data {
                    location: Location::File {
                        file: label.to_owned(),
                    },
                    problem: Problem::BinaryNotFinite {
                        word: show(bytes),
                        row: (start + i + 1) as u64,
                        index: j + 1,
                        dims,
                        value: vectors[i * dims + j],
                    },
                });
            }
            hashes.push(word_hash(word.as_bytes()));
            words.push(word);
        }
        rows.push(words, vectors, None, &hashes, &lossy, dims)?;
        progress(model.buckets() + end);
        start = end;
    }
    let args = &model.args;
    Ok(LoadReport {
        spaced_words: rows.spaced,
        spaced_examples: std::mem::take(&mut rows.spaced_examples),
        format: Format::FastTextBin,
        compression: "none",
        member: None,
        dims,
        words: rows.kept,
        duplicates: rows.duplicates,
        lossy_words: rows.lossy,
        header: None,
        subwords: Some(Subwords {
            model: format!("fastText {} ({})", args.model_name(), model.layout),
            minn: args.minn as usize,
            maxn: args.maxn as usize,
            buckets: model.buckets(),
        }),
        content_hash: None,
    })
}

// ---------------------------------------------------------------------------------------
// Compression wrappers
// ---------------------------------------------------------------------------------------

enum Compression {
    None,
    Gzip,
    Zip,
}

/// Content decides, not the file name: downloads often lose or gain extensions.
fn sniff(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        Compression::Zip
    } else {
        Compression::None
    }
}

fn read_up_to(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Counts bytes pulled from the compressed source, which is what progress is measured in.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

struct Progress<'a> {
    callback: &'a (dyn Fn(u64, u64) + Sync),
    /// Mapped sources: hashes and releases what was read (see `Behind`).
    behind: Option<&'a (dyn Fn(usize) + Sync)>,
    /// Compressed sources: (bytes read so far, value at the start of the data).
    counter: Option<(Arc<AtomicU64>, u64)>,
    total: u64,
}

impl<'a> Progress<'a> {
    fn mapped(callback: &'a (dyn Fn(u64, u64) + Sync), total: u64) -> Self {
        Progress {
            callback,
            behind: None,
            counter: None,
            total,
        }
    }

    fn counted(callback: &'a (dyn Fn(u64, u64) + Sync), count: Arc<AtomicU64>, total: u64) -> Self {
        let base = count.load(Ordering::Relaxed);
        Progress {
            callback,
            behind: None,
            counter: Some((count, base)),
            total,
        }
    }

    /// `offset` is the position in the uncompressed stream; used only when it is also the
    /// position in the source.
    fn at(&self, offset: u64) {
        let done = match &self.counter {
            Some((count, base)) => count.load(Ordering::Relaxed).saturating_sub(*base),
            None => offset,
        };
        if let Some(behind) = self.behind {
            behind(offset as usize);
        }
        (self.callback)(done.min(self.total), self.total);
    }

    fn finish(&self) {
        (self.callback)(self.total, self.total);
    }
}

fn load_zip(
    file: File,
    label: &str,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
) -> Result<(String, Layout), LoadError> {
    // Member names come from the archive: escaped before they can reach a terminal.
    let archive_err = |message: String| LoadError::Archive {
        file: label.to_owned(),
        message: crate::text::escape(&message).into_owned(),
    };
    let count = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: BufReader::with_capacity(1 << 18, file),
        count: count.clone(),
    };
    let mut archive = zip::ZipArchive::new(counted)
        .map_err(|e| archive_err(format!("not a readable zip archive: {e}")))?;
    let names: Vec<String> = (0..archive.len())
        .filter_map(|i| archive.name_for_index(i))
        .filter(|name| !name.ends_with('/'))
        .map(str::to_owned)
        .collect();
    let member = choose_member(&names, opts.member.as_deref()).map_err(archive_err)?;
    let mut entry = archive
        .by_name(&member)
        .map_err(|e| archive_err(format!("cannot read member '{member}': {e}")))?;
    let total = entry.compressed_size();
    let progress = Progress::counted(on_progress, count, total);
    let member_label = format!("{label}:{}", crate::text::escape(&member));
    let io_err = |source| LoadError::Io {
        file: member_label.clone(),
        err: source,
    };
    // Members are sometimes gzipped themselves (foo.txt.gz inside a zip).
    let mut head = BufReader::with_capacity(1 << 18, &mut entry);
    let gzipped = head.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let layout = if gzipped {
        let mut reader = flate2::bufread::MultiGzDecoder::new(head);
        load_stream(&mut reader, &member_label, opts, &progress, rows)?
    } else {
        load_stream(&mut head, &member_label, opts, &progress, rows)?
    };
    Ok((member, layout))
}

/// Picks the zip member to read; the error message lists what the user can choose from.
fn choose_member(names: &[String], wanted: Option<&str>) -> Result<String, String> {
    let list = |names: &[&String]| {
        names
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all: Vec<&String> = names.iter().collect();
    if let Some(wanted) = wanted {
        if let Some(name) = names.iter().find(|n| *n == wanted) {
            return Ok(name.clone());
        }
        // Archives often nest files in a folder the user does not think of as part of the name.
        let by_base: Vec<&String> = names.iter().filter(|n| base_name(n) == wanted).collect();
        if let [only] = by_base[..] {
            return Ok(only.clone());
        }
        return Err(format!(
            "no member named '{wanted}'; members: {}",
            list(&all)
        ));
    }
    let candidates: Vec<&String> = names.iter().filter(|n| is_candidate(n)).collect();
    match candidates[..] {
        [only] => Ok(only.clone()),
        [] if names.len() == 1 => Ok(names[0].clone()),
        [] => Err(format!(
            "contains no embedding file (.txt, .vec, .bin, .gz); choose a member with --member: {}",
            list(&all)
        )),
        _ => Err(format!(
            "contains several embedding files; choose one with --member: {}",
            list(&candidates)
        )),
    }
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn is_candidate(name: &str) -> bool {
    let base = base_name(name).to_ascii_lowercase();
    let embedding_ext = [".txt", ".vec", ".bin", ".gz"]
        .iter()
        .any(|ext| base.ends_with(ext));
    let paperwork = ["readme", "license", "licence", "copying", "notice"]
        .iter()
        .any(|p| base.starts_with(p));
    embedding_ext && !paperwork && !name.starts_with("__MACOSX/") && !base.starts_with("._")
}

// ---------------------------------------------------------------------------------------
// Format detection and header parsing
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Layout {
    format: Format,
    header: Option<(u64, u64)>,
    dims: usize,
    /// Offset in the (decompressed) stream where rows begin.
    data_start: usize,
    /// Line number of the first row (text only).
    first_line: u64,
}

/// Works out format, header and dimensions from the start of the stream. `head` must hold
/// at least the first line and, after a header, the first row's word plus its vector.
fn detect(head: &[u8], forced: Option<Format>) -> Result<Layout, (At, Problem)> {
    // Plain model files never get here (`load` reads them); compressed ones do.
    if formats::fasttext::sniff(head).is_some() {
        return Err((At::File, Problem::FastTextModel));
    }
    if forced == Some(Format::FastTextBin) {
        return Err((
            At::File,
            Problem::FastText(formats::fasttext::Problem::NotFastText),
        ));
    }
    // Pickles are read by `load` before this; forced on text, they must not read it as text.
    if matches!(forced, Some(Format::Gensim | Format::Pickle)) {
        return Err((
            At::File,
            Problem::Pickle(
                "not a Python pickle: --format gensim and pickle read uncompressed .kv, .model \
                 and .pkl files"
                    .to_owned(),
            ),
        ));
    }
    let start = &head[..head.len().min(64)];
    if !start.is_empty() && start.iter().all(|&b| b == 0) {
        return Err((At::File, Problem::NulBytes));
    }
    if looks_utf16(start) {
        return Err((At::File, Problem::Utf16));
    }
    let bom = if head.starts_with(BOM) { BOM.len() } else { 0 };
    let (first, next) = line_at(head, bom);
    let first = trim_line_end(first);

    if is_blank(first) {
        return Err(if is_blank(&head[next..]) {
            (At::File, Problem::Empty)
        } else {
            (At::Line(1), Problem::BlankLine)
        });
    }

    let header = match forced {
        Some(Format::Glove) => match parse_header(first) {
            Some((count, dims)) => {
                return Err((At::Line(1), Problem::HeaderUnderGlove { count, dims }))
            }
            None => None,
        },
        Some(_) => Some(parse_header(first).ok_or_else(|| bad_header(first))?),
        None => guess_header(first)?,
    };

    let Some((count, dims)) = header else {
        let dims = fields(first).count() - 1;
        if dims == 0 {
            return Err((At::Line(1), Problem::NoValues));
        }
        // The same limit as for a header's dims.
        if dims as u64 > MAX_DIMS {
            return Err((At::Line(1), Problem::TooManyValues { found: dims }));
        }
        return Ok(Layout {
            format: Format::Glove,
            header: None,
            dims,
            data_start: bom,
            first_line: 1,
        });
    };

    if dims == 0 || dims > MAX_DIMS {
        return Err((At::Line(1), Problem::BadHeaderDims { dims }));
    }
    let dims = dims as usize;
    let Some(word_start) = head[next..].iter().position(|b| !is_space(*b)) else {
        return Err((At::File, Problem::HeaderOnly { count }));
    };
    let format = match forced {
        Some(format) => format,
        None if looks_binary(&head[next + word_start..], dims) => Format::Word2VecBinary,
        None => Format::Word2VecText,
    };
    Ok(Layout {
        format,
        header: Some((count, dims as u64)),
        dims,
        data_start: next,
        first_line: 2,
    })
}

/// A byte-order mark of UTF-16, or text whose every other byte is NUL (ASCII in UTF-16).
fn looks_utf16(start: &[u8]) -> bool {
    if start.starts_with(&[0xff, 0xfe]) || start.starts_with(&[0xfe, 0xff]) {
        return true;
    }
    let pairs = start.len() / 2;
    if pairs < 4 {
        return false;
    }
    let even_nul = start.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_nul = start.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    // One half all NUL, the other none: binary floats are never that regular.
    (even_nul == pairs && odd_nul == 0) || (odd_nul == pairs && even_nul == 0)
}

/// A [`Location`] without the file name, which the callers of `detect` add.
#[derive(Debug, Clone, Copy)]
enum At {
    Line(u64),
    File,
}

impl At {
    fn with(self, file: &str) -> Location {
        let file = file.to_owned();
        match self {
            At::Line(line) => Location::Line { file, line },
            At::File => Location::File { file },
        }
    }
}

fn bad_header(line: &[u8]) -> (At, Problem) {
    (At::Line(1), Problem::BadHeader { line: show(line) })
}

/// `count dims`, two unsigned integers and nothing else.
fn parse_header(line: &[u8]) -> Option<(u64, u64)> {
    let mut f = fields(line);
    let count = parse_u64(f.next()?)?;
    let dims = parse_u64(f.next()?)?;
    f.next().is_none().then_some((count, dims))
}

/// A first line that starts with an integer and has at most one more field is meant as a
/// header (and must be one), unless it reads as a 1-dimensional GloVe row such as `7 0.25`.
fn guess_header(line: &[u8]) -> Result<Option<(u64, u64)>, (At, Problem)> {
    let f: Vec<&[u8]> = fields(line).take(3).collect();
    match f[..] {
        [a] if is_digits(a) => Err(bad_header(line)),
        [a, b] if is_digits(a) => {
            if let Some(header) = parse_header(line) {
                Ok(Some(header))
            } else if !is_digits(b) && fast_float2::parse::<f32, _>(b).is_ok() {
                Ok(None)
            } else {
                Err(bad_header(line))
            }
        }
        _ => Ok(None),
    }
}

/// word2vec binary stores raw little-endian floats right after the word; a text row has
/// printable characters up to its newline. Float bytes hit a control character almost
/// surely within a few values (zero vectors are all NUL bytes). Only the first row is
/// looked at, because words further on may contain anything.
fn looks_binary(row: &[u8], dims: usize) -> bool {
    let Some(space) = memchr::memchr2(b' ', b'\t', row) else {
        return false;
    };
    let after = &row[space + 1..];
    let window = &after[..after.len().min(dims * 4)];
    let is_control = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\r')) || b == 0x7f;
    match window.iter().position(|&b| b == b'\n' || is_control(b)) {
        None => false,
        Some(i) if window[i] != b'\n' => true,
        // Either the end of a text row or a 0x0A byte inside a float: a text row ends
        // with a number.
        Some(i) => fields(trim_line_end(&window[..i]))
            .last()
            .is_none_or(|last| fast_float2::parse::<f32, _>(last).is_err()),
    }
}

// ---------------------------------------------------------------------------------------
// Byte-level helpers
// ---------------------------------------------------------------------------------------

fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_blank(s: &[u8]) -> bool {
    s.iter().all(|&b| is_space(b))
}

fn is_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if !is_digits(s) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The line starting at `start` without its `\n`, and where the next line starts.
fn line_at(data: &[u8], start: usize) -> (&[u8], usize) {
    match memchr::memchr(b'\n', &data[start..]) {
        Some(i) => (&data[start..start + i], start + i + 1),
        None => (&data[start..], data.len()),
    }
}

/// CRLF and trailing blanks are common in the wild and never meaningful.
fn trim_line_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = line {
        line = rest;
    }
    line
}

fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_sep(b)).filter(|f| !f.is_empty())
}

/// For error messages: lossy, and short enough to read.
/// File bytes never reach a terminal raw: controls, DEL, bidi overrides and invalid UTF-8
/// are escaped (`crate::text`).
fn show(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let cut = bytes.len() > 4 * MAX;
    let s = crate::text::escape_bytes(&bytes[..bytes.len().min(4 * MAX)]);
    if cut || s.chars().count() > MAX {
        let mut short: String = s.chars().take(MAX).collect();
        short.push('…');
        short
    } else {
        s
    }
}

/// Words that are not UTF-8 are kept (lossily) rather than rejected: one bad byte in a
/// 400k-word vocabulary should not make the file unusable.
fn decode_word(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    }
}

// ---------------------------------------------------------------------------------------
// Row bookkeeping shared by all formats: duplicates, limit, lossy count, sink
// ---------------------------------------------------------------------------------------

struct Rows<'s> {
    sink: &'s mut dyn FnMut(Batch) -> anyhow::Result<()>,
    seen: Seen,
    limit: Option<usize>,
    /// Rows read from the file (kept or duplicate), for the header's count check.
    read: u64,
    kept: usize,
    duplicates: usize,
    lossy: usize,
    spaced: usize,
    spaced_examples: Vec<String>,
}

impl<'s> Rows<'s> {
    fn new(sink: &'s mut dyn FnMut(Batch) -> anyhow::Result<()>, limit: Option<usize>) -> Self {
        Rows {
            sink,
            seen: Seen::default(),
            limit,
            read: 0,
            kept: 0,
            duplicates: 0,
            lossy: 0,
            spaced: 0,
            spaced_examples: Vec::new(),
        }
    }

    /// The limit is reached: stop reading, and skip end-of-file checks.
    fn full(&self) -> bool {
        self.limit.is_some_and(|limit| self.kept >= limit)
    }

    /// How many more rows may be read without passing the limit (duplicates aside).
    fn room(&self) -> usize {
        self.limit
            .map_or(usize::MAX, |limit| limit.saturating_sub(self.kept))
    }

    /// Drops duplicates and rows past the limit, then hands the rest to the sink.
    /// `hashes` are the words' `word_hash`; `lossy` lists (ascending) the indices of words
    /// that were decoded lossily.
    fn push(
        &mut self,
        mut words: Vec<String>,
        mut vectors: Vec<f32>,
        mut offsets: Option<Vec<u64>>,
        hashes: &[u64],
        lossy: &[usize],
        dims: usize,
    ) -> Result<(), LoadError> {
        let mut lossy = lossy.iter().peekable();
        let mut keep = 0;
        for i in 0..words.len() {
            if self.full() {
                break;
            }
            self.read += 1;
            let was_lossy = lossy.next_if_eq(&&i).is_some();
            if !self.seen.insert(hashes[i], &words[i]) {
                self.duplicates += 1;
                continue;
            }
            self.lossy += usize::from(was_lossy);
            if words[i].contains([' ', '\t']) {
                self.spaced += 1;
                if self.spaced_examples.len() < SPACED_EXAMPLES {
                    self.spaced_examples.push(words[i].clone());
                }
            }
            if keep != i {
                words.swap(keep, i);
                vectors.copy_within(i * dims..(i + 1) * dims, keep * dims);
                if let Some(offsets) = offsets.as_mut() {
                    offsets[keep] = offsets[i];
                }
            }
            keep += 1;
            self.kept += 1;
        }
        if keep == 0 {
            return Ok(());
        }
        words.truncate(keep);
        vectors.truncate(keep * dims);
        if let Some(offsets) = offsets.as_mut() {
            offsets.truncate(keep);
        }
        (self.sink)(Batch {
            words,
            vectors,
            offsets,
        })
        .map_err(LoadError::Sink)
    }
}

/// The set of words seen so far. A `HashSet<String>` would clone every word and SipHash
/// it, which made duplicate detection the slowest serial step of a load; instead words are
/// keyed by a fast 64-bit hash and their bytes kept in one arena to confirm matches.
#[derive(Default)]
struct Seen {
    by_hash: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    arena: Vec<u8>,
    /// End offset in `arena` of each word; a word starts where the previous one ends.
    ends: Vec<usize>,
    /// Words whose hash equals that of a different earlier word (vanishingly rare).
    collided: HashSet<String>,
}

impl Seen {
    /// Records `word`; false if it was seen before.
    fn insert(&mut self, hash: u64, word: &str) -> bool {
        match self.by_hash.entry(hash) {
            Entry::Vacant(slot) => {
                slot.insert(self.ends.len() as u32);
                self.arena.extend_from_slice(word.as_bytes());
                self.ends.push(self.arena.len());
                true
            }
            Entry::Occupied(slot) => {
                let i = *slot.get() as usize;
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                if &self.arena[start..self.ends[i]] == word.as_bytes() {
                    false
                } else {
                    self.collided.insert(word.to_owned())
                }
            }
        }
    }
}

/// FxHash-style mixing over 8-byte chunks, finished with murmur3's avalanche so that both
/// the bucket bits and the tag bits hashbrown uses are well spread.
fn word_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, chunk: u64| (h.rotate_left(5) ^ chunk).wrapping_mul(K);
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h = mix(h, u64::from_le_bytes(chunk.try_into().unwrap()));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let last = rest.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        h = mix(h, last);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Keys of `Seen::by_hash` are already hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

// ---------------------------------------------------------------------------------------
// Sources: memory-mapped plain files and decompressed streams
// ---------------------------------------------------------------------------------------

fn load_mapped(
    file: &File,
    len: u64,
    label: &str,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
) -> Result<(Layout, u64), LoadError> {
    if len == 0 {
        return Err(data_error(label, At::File, Problem::Empty));
    }
    // SAFETY: the map is read-only and private to this call. If another process truncates
    // the file meanwhile we may get SIGBUS; every mmap-based reader accepts that risk, and
    // reading 170 MB through read() would cost a copy.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    })?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let data: &[u8] = &map;
    let layout = detect(data, opts.format).map_err(|(at, p)| data_error(label, at, p))?;
    let behind = std::sync::Mutex::new(Behind::new(data));
    let follow = |offset| behind.lock().unwrap_or_else(|e| e.into_inner()).at(offset);
    let progress = Progress {
        behind: Some(&follow),
        ..Progress::mapped(on_progress, len)
    };
    if layout.format == Format::Word2VecBinary {
        let mut reader = Cursor::new(&data[layout.data_start..]);
        parse_binary(&mut reader, label, &layout, &progress, rows, true)?;
    } else {
        let mut text = TextState::new(label, &layout);
        let mut offset = layout.data_start;
        let mut after_piece = |bytes| {
            offset += bytes;
            progress.at(offset as u64);
        };
        // Handing rows over is serial; parsing the next block meanwhile hides it.
        let mut pending: Option<Vec<Piece>> = None;
        for block in split_lines(&data[layout.data_start..], BLOCK) {
            let mut parsed = None;
            rayon::in_place_scope(|scope| {
                scope.spawn(|_| parsed = Some(parse_block(block, layout.dims)));
                text.feed(pending.take(), rows, &mut after_piece)
            })?;
            pending = parsed;
            if rows.full() {
                break;
            }
        }
        text.feed(pending, rows, &mut after_piece)?;
        text.finish(rows)?;
    }
    progress.finish();
    drop(progress);
    // What a limit left unread is hashed too: the fingerprint covers the whole file.
    let hash = behind
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .finish();
    Ok((layout, hash))
}

/// Follows a mapped read: hashes the bytes consumed so far (the content fingerprint, so the
/// file is not read a second time for it) and drops them from this process's page tables
/// behind the reader, so a 3.6 GB source does not stay in the resident set while the index is
/// written (the pages stay in the page cache).
struct Behind<'m> {
    data: &'m [u8],
    hasher: Xxh3,
    done: usize,
}

impl<'m> Behind<'m> {
    /// Bytes hashed and released at a time: large enough that the calls cost nothing.
    const STEP: usize = 32 << 20;

    fn new(data: &'m [u8]) -> Self {
        Behind {
            data,
            hasher: Xxh3::new(),
            done: 0,
        }
    }

    /// The reader has consumed everything before `offset`.
    fn at(&mut self, offset: usize) {
        let offset = offset.min(self.data.len());
        if offset >= self.done + Self::STEP {
            self.advance(offset);
        }
    }

    fn advance(&mut self, offset: usize) {
        self.hasher.update(&self.data[self.done..offset]);
        release(&self.data[self.done..offset]);
        self.done = offset;
    }

    fn finish(mut self) -> u64 {
        self.advance(self.data.len());
        self.hasher.digest()
    }
}

/// Drops the whole pages inside `bytes` (part of a read-only file mapping) from the page
/// tables; a later read faults them back in from the page cache, unchanged.
fn release(bytes: &[u8]) {
    #[cfg(unix)]
    {
        let page = 4096usize;
        let start = (bytes.as_ptr() as usize).next_multiple_of(page);
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: the range lies inside a private, read-only file mapping that outlives
            // this call; MADV_DONTNEED there only unmaps pages that hold the file's content,
            // so later reads see the same bytes.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
}

/// Reads a decompressed stream block by block; only the current block, the one being
/// read ahead and their parsed rows are in memory.
fn load_stream(
    reader: &mut (dyn Read + Send),
    label: &str,
    opts: &LoadOptions,
    progress: &Progress,
    rows: &mut Rows,
) -> Result<Layout, LoadError> {
    let io_err = |source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    };
    let mut cur = Vec::with_capacity(BLOCK + BLOCK / 8);
    let mut eof = fill(reader, &mut cur, BLOCK).map_err(io_err)?;
    // Detection needs the whole first line.
    while !eof && memchr::memchr(b'\n', &cur).is_none() {
        let start = &cur[..cur.len().min(64)];
        if start.iter().all(|&b| b == 0) || looks_utf16(start) {
            break; // `detect` says what it is
        }
        if cur.len() >= MAX_LINE {
            return Err(data_error(label, At::Line(1), Problem::LineTooLong));
        }
        let want = cur.len() + BLOCK;
        eof = fill(reader, &mut cur, want).map_err(io_err)?;
    }
    let layout = detect(&cur, opts.format).map_err(|(at, p)| data_error(label, at, p))?;

    if layout.format == Format::Word2VecBinary {
        let head = Cursor::new(&cur[layout.data_start..]);
        let mut reader = BufReader::with_capacity(1 << 18, head.chain(reader));
        parse_binary(&mut reader, label, &layout, progress, rows, false)?;
        progress.finish();
        return Ok(layout);
    }

    let mut text = TextState::new(label, &layout);
    let mut next = Vec::with_capacity(BLOCK + BLOCK / 8);
    let mut start = layout.data_start;
    let mut pending: Option<Vec<Piece>> = None;
    loop {
        let end = if eof {
            cur.len()
        } else {
            match memchr::memrchr(b'\n', &cur[start..]) {
                Some(i) => start + i + 1,
                None => {
                    // A line longer than a block: grow the block until it holds a line end.
                    if cur.len() - start >= MAX_LINE {
                        return Err(data_error(label, At::File, Problem::LineTooLong));
                    }
                    let want = cur.len() + BLOCK;
                    eof = fill(reader, &mut cur, want).map_err(io_err)?;
                    continue;
                }
            }
        };
        next.clear();
        next.extend_from_slice(&cur[end..]);
        let block = &cur[start..end];
        // Three stages at once: decompress the next block, parse this one, hand over the
        // rows of the previous one. Decompression and handing over are sequential; this
        // keeps both cores busy.
        let mut parsed = None;
        let mut next_eof = Ok(true);
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| parsed = Some(parse_block(block, layout.dims)));
            if !eof {
                scope.spawn(|_| next_eof = fill(reader, &mut next, BLOCK));
            }
            // The counter moves while the next block decompresses alongside.
            text.feed(pending.take(), rows, |_| progress.at(0))
        })?;
        pending = parsed;
        if eof || rows.full() {
            break;
        }
        eof = next_eof.map_err(io_err)?;
        std::mem::swap(&mut cur, &mut next);
        start = 0;
    }
    text.feed(pending, rows, |_| progress.at(0))?;
    text.finish(rows)?;
    progress.finish();
    Ok(layout)
}

/// Reads until `buf` holds `want` bytes; returns whether the stream ended first.
fn fill(reader: &mut (dyn Read + Send), buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    if buf.len() >= want {
        return Ok(false);
    }
    let missing = want - buf.len();
    buf.reserve(missing);
    let n = reader.take(missing as u64).read_to_end(buf)?;
    Ok(n < missing)
}

fn data_error(label: &str, at: At, problem: Problem) -> LoadError {
    LoadError::Data {
        location: at.with(label),
        problem,
    }
}

// ---------------------------------------------------------------------------------------
// Text parsing
// ---------------------------------------------------------------------------------------

/// Cuts `data` into consecutive slices of about `target` bytes, each ending after a `\n`
/// (except possibly the last).
fn split_lines(data: &[u8], target: usize) -> Vec<&[u8]> {
    let target = target.max(1);
    let mut out = Vec::with_capacity(data.len() / target + 1);
    let mut start = 0;
    while start < data.len() {
        let want = start + target;
        let end = if want >= data.len() {
            data.len()
        } else {
            memchr::memchr(b'\n', &data[want..]).map_or(data.len(), |i| want + i + 1)
        };
        out.push(&data[start..end]);
        start = end;
    }
    out
}

/// Rows parsed from one piece of text. Line numbers are relative to the piece's first
/// line (0-based) because the absolute ones are only known once earlier pieces are counted.
struct Piece {
    words: Vec<String>,
    /// `word_hash` of each word, computed here because it parallelises.
    hashes: Vec<u64>,
    vectors: Vec<f32>,
    lossy: Vec<usize>,
    bytes: usize,
    lines: u64,
    /// First line of a run of blank lines at the end of the piece: an error only if a
    /// row follows in a later piece.
    blank_tail: Option<u64>,
    /// The first problem; parsing of the piece stops there.
    error: Option<(u64, Problem)>,
}

fn parse_block(block: &[u8], dims: usize) -> Vec<Piece> {
    let target = block
        .len()
        .div_ceil(rayon::current_num_threads() * 4)
        .max(MIN_PIECE);
    split_lines(block, target)
        .into_par_iter()
        .map(|piece| parse_piece(piece, dims))
        .collect()
}

fn parse_piece(text: &[u8], dims: usize) -> Piece {
    // The vectors go to the sink as they are: sized exactly, they waste no memory there
    // and never reallocate here. Counting lines first costs far less than parsing.
    // A value takes at least two bytes ("0 "), which bounds the reservation when a
    // corrupt header claims absurd dimensions.
    let rows = memchr::memchr_iter(b'\n', text).count() + 1;
    let mut piece = Piece {
        words: Vec::with_capacity(rows),
        hashes: Vec::with_capacity(rows),
        vectors: Vec::with_capacity((rows * dims).min(text.len() / 2 + 1)),
        lossy: Vec::new(),
        bytes: text.len(),
        lines: 0,
        blank_tail: None,
        error: None,
    };
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let (line, next) = line_at(text, pos);
        pos = next;
        let line = trim_line_end(line);
        let rel = piece.lines;
        piece.lines += 1;
        if line.is_empty() {
            piece.blank_tail.get_or_insert(rel);
            continue;
        }
        if let Some(blank) = piece.blank_tail {
            piece.error = Some((blank, Problem::BlankLine));
            break;
        }
        if let Err(problem) = parse_row(line, dims, &mut piece, &mut spans) {
            piece.error = Some((rel, problem));
            break;
        }
    }
    piece
}

fn parse_row(
    line: &[u8],
    dims: usize,
    piece: &mut Piece,
    spans: &mut Vec<(usize, usize)>,
) -> Result<(), Problem> {
    let word_end = memchr::memchr2(b' ', b'\t', line).unwrap_or(line.len());
    let before = piece.vectors.len();
    let word = if word_end > 0 && parse_values(&line[word_end..], dims, &mut piece.vectors) {
        &line[..word_end]
    } else {
        piece.vectors.truncate(before);
        parse_row_slowly(line, dims, &mut piece.vectors, spans)?
    };
    let (word, lossy) = decode_word(word);
    if lossy {
        piece.lossy.push(piece.words.len());
    }
    piece.hashes.push(word_hash(word.as_bytes()));
    piece.words.push(word);
    Ok(())
}

/// The common case: one-token word followed by exactly `dims` finite values.
#[inline]
fn parse_values(mut s: &[u8], dims: usize, out: &mut Vec<f32>) -> bool {
    for _ in 0..dims {
        while let [b' ' | b'\t', rest @ ..] = s {
            s = rest;
        }
        let (value, n) = match parse_short_decimal(s) {
            Some(parsed) => parsed,
            None => match fast_float2::parse_partial::<f32, _>(s) {
                Ok(parsed) => parsed,
                Err(_) => return false,
            },
        };
        if !value.is_finite() {
            return false;
        }
        s = &s[n..];
        if s.first().is_some_and(|&b| !is_sep(b)) {
            return false;
        }
        out.push(value);
    }
    is_blank(s)
}

/// Embedding files write short plain decimals ("-0.41242"); for those, integer mantissa
/// over an exact power of ten is correctly rounded (Clinger's fast path) and about twice as
/// fast as the general parser. Anything else (exponents, long mantissas, '+', nan/inf)
/// returns None and goes to fast-float.
#[inline]
fn parse_short_decimal(s: &[u8]) -> Option<(f32, usize)> {
    // Exactly representable in f32, so the division below rounds only once.
    const POW10: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
    let negative = s.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let mut mantissa: u32 = 0;
    let mut digits = 0;
    while let Some(d) = s.get(i).map(|b| b.wrapping_sub(b'0')).filter(|d| *d < 10) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u32::from(d));
        digits += 1;
        i += 1;
    }
    let mut decimals = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = s.get(i).map(|b| b.wrapping_sub(b'0')).filter(|d| *d < 10) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u32::from(d));
            decimals += 1;
            i += 1;
        }
    }
    let total = digits + decimals;
    // At most 9 digits cannot overflow u32; beyond 2^24 the mantissa is not exact in f32.
    if total == 0 || total > 9 || mantissa > 1 << 24 || decimals >= POW10.len() {
        return None;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        return None;
    }
    let value = mantissa as f32 / POW10[decimals];
    Some((if negative { -value } else { value }, i))
}

/// Words with spaces (GloVe 840B has them) and all errors: the last `dims` fields are the
/// vector, everything before them is the word, spacing as in the file.
fn parse_row_slowly<'l>(
    line: &'l [u8],
    dims: usize,
    out: &mut Vec<f32>,
    spans: &mut Vec<(usize, usize)>,
) -> Result<&'l [u8], Problem> {
    spans.clear();
    let mut i = 0;
    while i < line.len() {
        if is_sep(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && !is_sep(line[i]) {
            i += 1;
        }
        spans.push((start, i));
    }
    if spans.len() <= dims {
        return Err(Problem::WrongValueCount {
            expected: dims,
            found: spans.len().saturating_sub(1),
        });
    }
    let first_value = spans.len() - dims;
    // A word with spaces ("new york") is text; extra leading fields that are all numbers
    // are a row with too many values.
    if first_value > 1
        && spans[1..first_value]
            .iter()
            .all(|&(start, end)| fast_float2::parse::<f32, _>(&line[start..end]).is_ok())
    {
        return Err(Problem::RaggedRow {
            expected: dims,
            found: spans.len() - 1,
        });
    }
    for (index, &(start, end)) in spans[first_value..].iter().enumerate() {
        let token = &line[start..end];
        let value = fast_float2::parse::<f32, _>(token).map_err(|_| Problem::NotANumber {
            token: show(token),
            index: index + 1,
            dims,
        })?;
        if !value.is_finite() {
            return Err(Problem::NotFinite {
                token: show(token),
                index: index + 1,
                dims,
            });
        }
        out.push(value);
    }
    Ok(trim_line_end(&line[..spans[first_value].0]))
}

/// What carries over from piece to piece: line numbers, a pending blank line, the header.
struct TextState<'a> {
    label: &'a str,
    dims: usize,
    header_count: Option<u64>,
    /// Absolute number of the first line of the next piece.
    line: u64,
    pending_blank: Option<u64>,
}

impl<'a> TextState<'a> {
    fn new(label: &'a str, layout: &Layout) -> Self {
        TextState {
            label,
            dims: layout.dims,
            header_count: layout.header.map(|(count, _)| count),
            line: layout.first_line,
            pending_blank: None,
        }
    }

    fn error(&self, line: u64, problem: Problem) -> LoadError {
        data_error(self.label, At::Line(line), problem)
    }

    /// Hands the pieces' rows over in order and reports the first problem in file order;
    /// problems after the limit is reached do not count, as those rows are never read.
    fn feed(
        &mut self,
        pieces: Option<Vec<Piece>>,
        rows: &mut Rows,
        mut after_piece: impl FnMut(usize),
    ) -> Result<(), LoadError> {
        for piece in pieces.into_iter().flatten() {
            if rows.full() {
                return Ok(());
            }
            let has_content = !piece.words.is_empty() || piece.error.is_some();
            if let (Some(blank), true) = (self.pending_blank, has_content) {
                return Err(self.error(blank, Problem::BlankLine));
            }
            let mut words = piece.words;
            let mut vectors = piece.vectors;
            let mut too_many = None;
            if let Some(count) = self.header_count {
                let room = count.saturating_sub(rows.read);
                if words.len() as u64 > room {
                    too_many = Some(self.line + room);
                    words.truncate(room as usize);
                    vectors.truncate(room as usize * self.dims);
                }
            }
            rows.push(words, vectors, None, &piece.hashes, &piece.lossy, self.dims)?;
            if rows.full() {
                return Ok(());
            }
            if let (Some(line), Some(expected)) = (too_many, self.header_count) {
                return Err(self.error(line, Problem::TooManyRows { expected }));
            }
            if let Some((rel, problem)) = piece.error {
                return Err(self.error(self.line + rel, problem));
            }
            if let Some(rel) = piece.blank_tail {
                self.pending_blank.get_or_insert(self.line + rel);
            }
            self.line += piece.lines;
            after_piece(piece.bytes);
        }
        Ok(())
    }

    /// End-of-file checks, skipped when the limit cut the file short.
    fn finish(&self, rows: &Rows) -> Result<(), LoadError> {
        if rows.full() {
            return Ok(());
        }
        if rows.read == 0 {
            return Err(data_error(self.label, At::File, Problem::Empty));
        }
        match self.header_count {
            Some(expected) if rows.read < expected => Err(self.error(
                self.line - 1,
                Problem::TooFewRows {
                    expected,
                    found: rows.read,
                },
            )),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// word2vec binary
// ---------------------------------------------------------------------------------------

/// Sequential: the bytes are already floats, so there is little work to spread out.
fn parse_binary(
    reader: &mut dyn BufRead,
    label: &str,
    layout: &Layout,
    progress: &Progress,
    rows: &mut Rows,
    in_place: bool,
) -> Result<(), LoadError> {
    let dims = layout.dims;
    let count = layout.header.map_or(0, |(count, _)| count);
    let mut offset = layout.data_start as u64;
    let at = |offset: u64, problem: Problem| LoadError::Data {
        location: Location::Offset {
            file: label.to_owned(),
            offset,
        },
        problem,
    };
    let io_err = |source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    };

    let mut word = Vec::new();
    let mut raw = vec![0u8; dims * 4];
    let mut row = 0u64;
    while row < count && !rows.full() {
        // Never read past the limit: rows beyond it may be truncated or corrupt.
        let batch_rows = (BINARY_BATCH_VALUES / dims)
            .clamp(1, BINARY_BATCH)
            .min(rows.room()) as u64;
        let batch_rows = batch_rows.min(count - row) as usize;
        let mut words = Vec::with_capacity(batch_rows);
        let mut vectors = Vec::with_capacity(batch_rows * dims);
        let mut lossy = Vec::new();
        let mut hashes = Vec::with_capacity(batch_rows);
        // `offset` counts from the start of the file only when it is read in place.
        let mut offsets = in_place.then(|| Vec::with_capacity(batch_rows));
        for _ in 0..batch_rows {
            row += 1;
            // Vectors end with an optional newline; a space right there is an empty word.
            let buf = reader.fill_buf().map_err(io_err)?;
            let lead = buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if buf.get(lead) == Some(&b' ') {
                return Err(at(offset + lead as u64, Problem::EmptyWord { row }));
            }
            offset += skip_space(reader).map_err(io_err)?;
            let word_start = offset;
            match read_word(reader, &mut word).map_err(io_err)? {
                WordEnd::Space => {}
                WordEnd::Eof if word.is_empty() => {
                    return Err(at(
                        offset,
                        Problem::TooFewRows {
                            expected: count,
                            found: row - 1,
                        },
                    ));
                }
                WordEnd::Eof => {
                    return Err(at(word_start, Problem::TruncatedWord { row, count }));
                }
                WordEnd::TooLong => return Err(at(word_start, Problem::WordTooLong { row })),
            }
            offset += word.len() as u64 + 1;
            let found = read_up_to(reader, &mut raw).map_err(io_err)?;
            if found < raw.len() {
                let problem = Problem::TruncatedVector {
                    word: show(&word),
                    row,
                    count,
                    expected: raw.len(),
                    found,
                };
                return Err(at(offset, problem));
            }
            let start = vectors.len();
            vectors.extend(
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            if let Some(i) = vectors[start..].iter().position(|v| !v.is_finite()) {
                let problem = Problem::BinaryNotFinite {
                    word: show(&word),
                    row,
                    index: i + 1,
                    dims,
                    value: vectors[start + i],
                };
                return Err(at(offset + 4 * i as u64, problem));
            }
            if let Some(offsets) = offsets.as_mut() {
                offsets.push(offset);
            }
            offset += raw.len() as u64;
            let (w, was_lossy) = decode_word(&word);
            if was_lossy {
                lossy.push(words.len());
            }
            hashes.push(word_hash(w.as_bytes()));
            words.push(w);
        }
        rows.push(words, vectors, offsets, &hashes, &lossy, dims)?;
        progress.at(offset);
    }
    if rows.full() {
        return Ok(());
    }
    offset += skip_space(reader).map_err(io_err)?;
    if !reader.fill_buf().map_err(io_err)?.is_empty() {
        return Err(at(offset, Problem::TooManyRows { expected: count }));
    }
    Ok(())
}

enum WordEnd {
    Space,
    Eof,
    TooLong,
}

/// word2vec writes a newline after each vector and some writers do not; skipping
/// whitespace before a word handles both.
fn skip_space(reader: &mut dyn BufRead) -> io::Result<u64> {
    let mut skipped = 0;
    loop {
        let buf = reader.fill_buf()?;
        let len = buf.len();
        let n = buf.iter().position(|&b| !is_space(b)).unwrap_or(len);
        reader.consume(n);
        skipped += n as u64;
        if n < len || len == 0 {
            return Ok(skipped);
        }
    }
}

/// Reads up to the space that ends a word (consumed, not stored).
fn read_word(reader: &mut dyn BufRead, word: &mut Vec<u8>) -> io::Result<WordEnd> {
    word.clear();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(WordEnd::Eof);
        }
        if let Some(i) = memchr::memchr(b' ', buf) {
            word.extend_from_slice(&buf[..i]);
            reader.consume(i + 1);
            return Ok(if word.len() > MAX_BINARY_WORD {
                WordEnd::TooLong
            } else {
                WordEnd::Space
            });
        }
        let n = buf.len();
        word.extend_from_slice(buf);
        reader.consume(n);
        if word.len() > MAX_BINARY_WORD {
            return Ok(WordEnd::TooLong);
        }
    }
}
