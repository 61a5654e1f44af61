//! Other tools' file formats: one reader module per format, each parsing bytes into words and
//! vectors (and an n-gram table where the model has one) without knowing the loader, and here
//! the glue (`load_<name>`) that hands what a reader found to the loader's rows. How a new
//! format plugs in: see the [loader's docs](super).

pub mod annoy;
pub mod encoder;
pub mod fasttext;
pub mod gensim;
pub mod items;
pub mod lmdb_map;
pub mod npy;
pub mod pickle;
pub mod pickled_items;
pub mod safetensors;
pub mod tokenizer;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::bytes::{decode_word, show};
use super::rows::{word_hash, Rows};
use super::{
    Format, LoadError, LoadReport, Location, Problem, SubwordBatch, Subwords, BINARY_BATCH,
};

/// Hands one batch of rows read into memory to `rows`: the values of `words[i]` are
/// `vectors[i * dims..(i + 1) * dims]`, and it is row `first + i + 1` of the file (for
/// messages). A value that is not finite refuses the file, naming the word. Formats that
/// read their rows into memory (pickles, fastText models) hand them over through here.
fn push_rows<W: AsRef<[u8]>>(
    rows: &mut Rows,
    label: &str,
    first: usize,
    words: &[W],
    vectors: Vec<f32>,
    dims: usize,
) -> Result<(), LoadError> {
    let mut decoded = Vec::with_capacity(words.len());
    let mut hashes = Vec::with_capacity(words.len());
    let mut lossy = Vec::new();
    for (i, bytes) in words.iter().enumerate() {
        let bytes = bytes.as_ref();
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
                    row: (first + i + 1) as u64,
                    index: j + 1,
                    dims,
                    value: vectors[i * dims + j],
                },
            });
        }
        hashes.push(word_hash(word.as_bytes()));
        decoded.push(word);
    }
    rows.push(decoded, vectors, None, &hashes, &lossy, dims)
}

// ---------------------------------------------------------------------------------------
// Pickles: gensim's saved vectors and pickled dicts
// ---------------------------------------------------------------------------------------

pub(super) fn load_pickled(
    path: &Path,
    file: &File,
    label: &str,
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let map = map_file(file, label)?;
    load_pickled_bytes(path, &map, "none", label, rows, subword_sink)
}

/// A decompressed stream that starts like a pickle (`head`, then the rest in `reader`): read
/// whole and handed to the pickle reader, as a plain file is. `None` when it is no pickle,
/// or `--format` names another format; then `head` and `reader` are text or word2vec binary.
#[allow(clippy::too_many_arguments)]
pub(super) fn load_pickled_stream(
    path: &Path,
    head: &[u8],
    reader: &mut dyn Read,
    compression: &'static str,
    format: Option<Format>,
    label: &str,
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<Option<LoadReport>, LoadError> {
    if !matches!(format, None | Some(Format::Gensim | Format::Pickle)) || !pickle::sniff(head) {
        return Ok(None);
    }
    let mut data = head.to_vec();
    reader.read_to_end(&mut data).map_err(|err| LoadError::Io {
        file: label.to_owned(),
        err,
    })?;
    load_pickled_bytes(path, &data, compression, label, rows, subword_sink).map(Some)
}

fn load_pickled_bytes(
    path: &Path,
    data: &[u8],
    compression: &'static str,
    label: &str,
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let mut v = gensim::read(path, data).map_err(|e| LoadError::Data {
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
    if !v.labels.is_empty() {
        rows.set_labels(std::mem::take(&mut v.labels));
    }
    for (start, chunk) in v.words.chunks(BINARY_BATCH).enumerate() {
        if rows.full() {
            break;
        }
        let first = start * BINARY_BATCH;
        let take = chunk.len().min(rows.room());
        let vectors = v.vectors[first * dims..(first + take) * dims].to_vec();
        push_rows(rows, label, first, &chunk[..take], vectors, dims)?;
    }
    rows.duplicates += v.merged;
    let format = if v.gensim {
        Format::Gensim
    } else {
        Format::Pickle
    };
    // Pickled words are reported without a spaced count, as they always were.
    Ok(LoadReport {
        spaced_words: 0,
        spaced_examples: Vec::new(),
        // Among the rows read (the limit may stop before the end).
        latin1_words: v.latin1.iter().filter(|&&i| (i as u64) < rows.read).count(),
        subwords,
        ..rows.report(format, compression, None, dims, None)
    })
}

// ---------------------------------------------------------------------------------------
// Model files: fastText .bin
// ---------------------------------------------------------------------------------------

/// A file mapped for one reader, watched for shrinking while it is read (`shrink_guard`).
struct Mapped {
    // Unmapped before it is unwatched: fields drop in order.
    map: memmap2::Mmap,
    _watch: super::shrink_guard::Watch,
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

fn map_file(file: &File, label: &str) -> Result<Mapped, LoadError> {
    // SAFETY: as in `load_mapped`: read-only, private to this call, watched.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    })?;
    let _watch = super::shrink_guard::watch(&map);
    Ok(Mapped { map, _watch })
}

/// fastText's `.bin`: the n-gram rows go to `subword_sink`, then each dictionary word with
/// the vector fastText writes to its `.vec` (the word row averaged with its n-gram rows).
pub(super) fn load_fasttext(
    file: &File,
    len: u64,
    label: &str,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let map = map_file(file, label)?;
    let model = fasttext::parse(&map).map_err(|e| LoadError::Data {
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
                problem: Problem::FastText(fasttext::Problem::Dictionary(format!(
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
        push_rows(rows, label, start, &model.words[start..end], vectors, dims)?;
        progress(model.buckets() + end);
        start = end;
    }
    let args = &model.args;
    Ok(LoadReport {
        subwords: Some(Subwords {
            model: format!("fastText {} ({})", args.model_name(), model.layout),
            minn: args.minn as usize,
            maxn: args.maxn as usize,
            buckets: model.buckets(),
        }),
        ..rows.report(Format::FastTextBin, "none", None, dims, None)
    })
}

// ---------------------------------------------------------------------------------------
// The tutorial's index: an Annoy file and its LMDB map
// ---------------------------------------------------------------------------------------

/// What to open when `path` is (half of) the tutorial's index: the `.annoy` file and the map's
/// `data.mdb`, if there is one. `X.annoy` (or any file under `--format annoy`) goes with the map
/// `X.lmdb` beside it when there is one; `X.lmdb` (the directory LMDB made, or `--format annoy`
/// on a directory) goes with `X.annoy`, which must exist. `None`: not an Annoy index.
pub(super) fn annoy_pair(
    path: &Path,
    format: Option<Format>,
) -> Result<Option<(PathBuf, Option<PathBuf>)>, LoadError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let forced = format == Some(Format::Annoy);
    if format.is_some() && !forced {
        return Ok(None);
    }
    let meta = std::fs::metadata(path).ok();
    let with_ext = |ext: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        let Some(stem) = name.strip_suffix(".lmdb").filter(|_| !name.is_empty()) else {
            return match forced {
                true => Err(annoy_error(
                    path,
                    "a directory: the tutorial's map is X.lmdb, beside its index X.annoy".into(),
                )),
                false => Ok(None),
            };
        };
        let annoy = path.with_file_name(format!("{stem}.annoy"));
        if !annoy.is_file() {
            return Err(annoy_error(
                path,
                format!(
                    "the tutorial's LMDB map (word ↔ id); the Annoy index it goes with, {}, is missing",
                    crate::text::escape_path(&annoy)
                ),
            ));
        }
        return Ok(Some((annoy, Some(path.join("data.mdb")))));
    }
    if !forced && !name.ends_with(".annoy") {
        return Ok(None);
    }
    let map = match name.strip_suffix(".annoy") {
        Some(stem) => path.with_file_name(format!("{stem}.lmdb")),
        None => with_ext(".lmdb"),
    };
    let map = match std::fs::metadata(&map) {
        Ok(m) if m.is_dir() => Some(map.join("data.mdb")),
        Ok(_) => Some(map), // an environment opened with subdir=False: the file itself
        Err(_) => None,
    };
    Ok(Some((path.to_owned(), map)))
}

/// An LMDB data file (`X.lmdb/data.mdb`: a meta page, P_META, magic 0xBEEFC0DE) opened
/// directly is no embedding file: the error says which files to open instead.
pub(super) fn refuse_lmdb_data_file(path: &Path, magic: &[u8]) -> Result<(), LoadError> {
    let is_lmdb =
        magic.len() >= 20 && magic[10] & 0x08 != 0 && magic[16..20] == 0xBEEF_C0DEu32.to_le_bytes();
    if !is_lmdb {
        return Ok(());
    }
    let dir = path
        .parent()
        .filter(|d| d.extension().is_some_and(|e| e == "lmdb"));
    let message = match dir {
        Some(dir) => {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let annoy = dir.with_file_name(format!(
                "{}.annoy",
                name.strip_suffix(".lmdb").unwrap_or(&name)
            ));
            format!(
                "an LMDB data file, not vectors: if it is the tutorial's word ↔ id map, open its Annoy index {} (or the directory {}), which reads both",
                crate::text::escape_path(&annoy),
                crate::text::escape_path(dir)
            )
        }
        None => "an LMDB data file, not vectors: if it is the tutorial's word ↔ id map, open its Annoy index X.annoy (or the directory X.lmdb holding this file), which reads both".to_owned(),
    };
    Err(annoy_error(path, message))
}

fn annoy_error(path: &Path, message: String) -> LoadError {
    LoadError::Data {
        location: Location::File {
            file: crate::text::escape_path(path),
        },
        problem: Problem::Annoy(message),
    }
}

/// Items of an Annoy index and their words: `(id, word)` in id order.
type MapItems = Vec<(usize, Vec<u8>)>;

/// The vocabulary the tutorial's map gives the index's items: `(id, word)` in id order. The
/// map has both directions, `i<id>` → `w<word>` and `w<word>` → `i<id>`, and the tutorial's
/// inference looks words up by `w<word>`: a word's row is the id `w<word>` names. A word the
/// tutorial saw twice (its `txn.put` overwrote `w<word>` with the later id) keeps that later
/// row; its earlier id is left out (counted as a duplicate). Directions that disagree
/// otherwise are an error naming the word and both ids. `has(id)`: the index holds item `id`.
fn map_words(
    entries: Vec<lmdb_map::Entry>,
    items: usize,
    has: impl Fn(usize) -> bool,
) -> Result<(MapItems, Vec<usize>), String> {
    let id_of = |digits: &[u8]| -> Option<usize> {
        if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let mut words: Vec<Option<Vec<u8>>> = vec![None; items];
    let mut ids: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    for (key, value) in entries {
        match key.split_first() {
            Some((b'i', digits)) => {
                let id = id_of(digits).ok_or_else(|| {
                    format!("key '{}' is not i<id>", crate::text::escape_bytes(&key))
                })?;
                if id >= items || !has(id) {
                    return Err(format!(
                        "it names item {id}, but the Annoy index holds {items} items (0 to {}){}",
                        items.saturating_sub(1),
                        if id < items { ", and not that one" } else { "" }
                    ));
                }
                let Some((b'w', word)) = value.split_first() else {
                    return Err(format!(
                        "key 'i{id}' holds '{}', not w<word>",
                        crate::text::escape_bytes(&value)
                    ));
                };
                words[id] = Some(word.to_vec());
            }
            Some((b'w', word)) if value.first() == Some(&b'i') && id_of(&value[1..]).is_some() => {
                ids.insert(word.to_vec(), id_of(&value[1..]).unwrap_or(0));
            }
            _ => {
                return Err(format!(
                    "key '{}' → '{}' is neither i<id> → w<word> nor w<word> → i<id>: not the tutorial's word ↔ id map",
                    crate::text::escape_bytes(&key),
                    crate::text::escape_bytes(&value)
                ))
            }
        }
    }
    let present = (0..items).filter(|&i| has(i)).count();
    let named = words.iter().filter(|w| w.is_some()).count();
    if named < present {
        let first = (0..items)
            .find(|&i| has(i) && words[i].is_none())
            .unwrap_or(0);
        return Err(format!(
            "it names {named} of the Annoy index's {present} items (item {first} has no word)"
        ));
    }
    let shown = |w: &[u8]| crate::text::escape_bytes(w);
    // Every w<word> → i<id> must come back: i<id> → w<word>.
    for (word, &id) in &ids {
        match words.get(id).and_then(Option::as_ref) {
            Some(back) if back == word => {}
            back => {
                let other = words
                    .iter()
                    .position(|w| w.as_ref() == Some(word))
                    .map(|j| format!(", and i{j} → w{}", shown(word)))
                    .unwrap_or_default();
                return Err(format!(
                    "its two directions disagree for the word '{}': w{} → i{id}, but i{id} → {}{other}",
                    shown(word),
                    shown(word),
                    match back {
                        Some(b) => format!("w{}", shown(b)),
                        None => "nothing".to_owned(),
                    }
                ));
            }
        }
    }
    let mut kept = Vec::with_capacity(named);
    let mut shadowed = Vec::new();
    for (id, word) in words.into_iter().enumerate() {
        let Some(word) = word else { continue };
        match ids.get(&word) {
            Some(&w_id) if w_id == id => kept.push((id, word)),
            // The same word at a later id, which w<word> names (checked above): the tutorial's
            // txn.put overwrote w<word>, so this row is never found by the word.
            Some(_) => shadowed.push(id),
            _ => {
                return Err(format!(
                "its two directions disagree for the word '{}': i{id} → w{}, but w{} names no id",
                shown(&word),
                shown(&word),
                shown(&word)
            ))
            }
        }
    }
    Ok((kept, shadowed))
}

/// The tutorial's index: vectors from the Annoy file's item nodes, words from its map (or the
/// item numbers when there is none).
pub(super) fn load_annoy(
    annoy_path: &Path,
    map: Option<&Path>,
    dims: Option<usize>,
    rows: &mut Rows,
) -> Result<LoadReport, LoadError> {
    let label = crate::text::escape_path(annoy_path);
    let io_err = |err| LoadError::Io {
        file: label.clone(),
        err,
    };
    let file = super::source::open_nonblocking(annoy_path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(annoy_error(
            annoy_path,
            "not a regular file: an Annoy index is one".into(),
        ));
    }
    let data = map_file(&file, &label)?;
    let index = annoy::parse(&data, dims).map_err(|m| annoy_error(annoy_path, m))?;
    let (items, shadowed): (MapItems, Vec<usize>) = match map {
        Some(map) => {
            let entries = lmdb_map::read(map)
                .map_err(|m| annoy_error(map, format!("the Annoy index's word ↔ id map: {m}")))?;
            map_words(entries, index.items, |i| index.has(i))
                .map_err(|m| annoy_error(map, format!("the Annoy index's word ↔ id map: {m}")))?
        }
        // Without a map, items are named by their ids (ids never added are no items).
        None => (
            (0..index.items)
                .filter(|&i| index.has(i))
                .map(|i| (i, i.to_string().into_bytes()))
                .collect(),
            Vec::new(),
        ),
    };
    let d = index.dims;
    let mut start = 0;
    let mut last_id = None;
    while start < items.len() && !rows.full() {
        let end = items.len().min(start + BINARY_BATCH.min(rows.room()));
        let mut vectors = Vec::with_capacity((end - start) * d);
        let mut words = Vec::with_capacity(end - start);
        for (id, word) in &items[start..end] {
            vectors.extend(index.item(*id));
            words.push(word);
        }
        push_rows(rows, &label, start, &words, vectors, d)?;
        last_id = Some(items[end - 1].0);
        start = end;
    }
    // The rows left out for a later one of the same word, among those read (--limit).
    rows.duplicates += shadowed
        .iter()
        .filter(|&&id| last_id.is_some_and(|last| id < last))
        .count();
    Ok(rows.report(Format::Annoy, "none", None, d, None))
}

// ---------------------------------------------------------------------------------------
// Item embeddings: .npy, .npz, the Embedding Projector's vectors.tsv
// ---------------------------------------------------------------------------------------

/// Where an item matrix comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemSource {
    Npy,
    Npz,
    Projector,
}

/// Whether the regular file `path` (first bytes `magic`) holds item vectors: a `.npy` (by its
/// magic), an `.npz` (a zip of `.npy` members) or the Projector's tab-separated values (a
/// `.tsv`, or any file under `--format items`, whose first line is numbers only).
pub(super) fn item_source(
    path: &Path,
    file: &File,
    magic: &[u8],
    forced: bool,
) -> Option<ItemSource> {
    use std::os::unix::fs::FileExt;
    if magic.starts_with(b"\x93NUMPY") {
        return Some(ItemSource::Npy);
    }
    if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        let zip = zip::ZipArchive::new(file.try_clone().ok()?).ok()?;
        let npy = !zip.is_empty() && zip.file_names().all(|n| n.ends_with(".npy"));
        return npy.then_some(ItemSource::Npz);
    }
    let tsv = path.extension().is_some_and(|e| e == "tsv");
    if !(tsv || forced) {
        return None;
    }
    let mut head = vec![0u8; 1 << 20];
    let n = file.read_at(&mut head, 0).ok()?;
    let first = head[..n].split(|&b| b == b'\n').next()?;
    items::looks_like_projector(first).then_some(ItemSource::Projector)
}

fn items_error(file: &Path, message: String) -> LoadError {
    LoadError::Data {
        location: Location::File {
            file: crate::text::escape_path(file),
        },
        problem: Problem::Items(message),
    }
}

/// A labels file and its labels.
type Labels = (PathBuf, Vec<Vec<u8>>);

/// The labels that name the rows: `--labels FILE`, else the sidecar `x.labels.txt` of `x.npy`
/// or `x.npz`, or the Projector's `metadata.tsv` beside `vectors.tsv` (the file's name with
/// `vectors` replaced by `metadata`); `None`: the rows are numbered.
fn item_labels(
    path: &Path,
    source: ItemSource,
    given: Option<&Path>,
) -> Result<Option<Labels>, LoadError> {
    let read = |p: &Path, metadata: bool| {
        let pickled = p.extension().is_some_and(|e| e == "pkl");
        let labels = if pickled {
            items::pickled_list(p)
        } else if metadata {
            items::metadata(p)
        } else {
            items::labels(p)
        };
        labels
            .map(|l| Some((p.to_owned(), l)))
            .map_err(|m| items_error(p, format!("labels: {m}")))
    };
    match item_labels_path(path, source, given)? {
        Some((p, metadata)) => read(&p, metadata),
        None => Ok(None),
    }
}

/// Which labels file [`item_labels`] reads, and whether it is the Projector's metadata.
fn item_labels_path(
    path: &Path,
    source: ItemSource,
    given: Option<&Path>,
) -> Result<Option<(PathBuf, bool)>, LoadError> {
    if let Some(given) = given {
        return Ok(Some((given.to_owned(), false)));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sidecar = match source {
        ItemSource::Npy | ItemSource::Npz => {
            let stem = name
                .strip_suffix(".npy")
                .or_else(|| name.strip_suffix(".npz"))
                .unwrap_or(&name);
            Some(path.with_file_name(format!("{stem}.labels.txt")))
        }
        ItemSource::Projector => name
            .rfind("vectors")
            .map(|i| path.with_file_name(format!("{}metadata{}", &name[..i], &name[i + 7..]))),
    };
    // HistWords: `D-w.npy` goes with `D-vocab.pkl`.
    if let Some(stem) = name.strip_suffix("-w.npy") {
        let vocab = path.with_file_name(format!("{stem}-vocab.pkl"));
        if vocab.exists() {
            return Ok(Some((vocab, false)));
        }
    }
    match sidecar {
        Some(p) if p.exists() => Ok(Some((p, source == ItemSource::Projector))),
        _ => Ok(None),
    }
}

/// Leaves out the all-zero rows and their labels.
fn drop_zero_rows(matrix: &mut items::Matrix, labels: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let d = matrix.dims;
    let mut kept = Vec::with_capacity(labels.len());
    let mut values = Vec::with_capacity(matrix.values.len());
    for (label, row) in labels.into_iter().zip(matrix.values.chunks_exact(d)) {
        if row.iter().any(|&v| v != 0.0) {
            kept.push(label);
            values.extend_from_slice(row);
        }
    }
    matrix.rows = kept.len();
    matrix.values = values;
    kept
}

/// Item vectors: the matrix's rows, named by their labels (or numbered 0, 1, … without).
pub(super) fn load_items(
    path: &Path,
    file: &File,
    source: ItemSource,
    opts: &super::LoadOptions,
    rows: &mut Rows,
) -> Result<LoadReport, LoadError> {
    let label = crate::text::escape_path(path);
    if opts.member.is_some() && source != ItemSource::Npz {
        return Err(LoadError::Archive {
            file: label,
            message: "--member was given, but this is not a zip archive".to_owned(),
        });
    }
    let matrix = match source {
        ItemSource::Npy => npy::read(path)
            .and_then(|a| items::matrix(&a))
            .map_err(|m| items_error(path, m))?,
        ItemSource::Npz => items::npz(path, opts.member.as_deref())
            .and_then(|a| items::matrix(&a))
            .map_err(|m| items_error(path, m))?,
        ItemSource::Projector => {
            let map = map_file(file, &label)?;
            items::projector_vectors(&map).map_err(|(line, m)| LoadError::Data {
                location: Location::Line {
                    file: label.clone(),
                    line,
                },
                problem: Problem::Items(m),
            })?
        }
    };
    let mut matrix = matrix;
    let mut notes = Vec::new();
    let names = match item_labels(path, source, opts.labels.as_deref())? {
        Some((file, labels)) => {
            if labels.len() != matrix.rows {
                let pickled = file.extension().is_some_and(|e| e == "pkl");
                return Err(items_error(
                    &file,
                    if pickled {
                        format!(
                            "the pickled vocabulary holds {} words for the {} rows of {label}: one word per row",
                            labels.len(),
                            matrix.rows
                        )
                    } else {
                        format!(
                            "{} labels for the {} rows of {label}: one label a line, one line per row",
                            labels.len(),
                            matrix.rows
                        )
                    },
                ));
            }
            let mut seen = std::collections::HashMap::with_capacity(labels.len());
            let mut repeated = None;
            for (i, l) in labels.iter().enumerate() {
                if let Some(first) = seen.insert(l.as_slice(), i) {
                    // The Projector's metadata is often a class per row (MNIST's digits):
                    // labels that repeat name no item, so the items are numbered.
                    if source == ItemSource::Projector && opts.labels.is_none() {
                        repeated.get_or_insert((first, i));
                        continue;
                    }
                    return Err(items_error(
                        &file,
                        format!(
                            "label '{}' names rows {} and {}: each row needs a label of its own",
                            crate::text::escape_bytes(l),
                            first + 1,
                            i + 1
                        ),
                    ));
                }
            }
            if let Some((first, again)) = repeated {
                notes.push(format!(
                    "the labels of {} repeat ({} distinct for {} rows; rows {} and {} are both '{}'): the items are numbered 0 to {}",
                    crate::text::escape_path(&file),
                    crate::text::thousands(seen.len()),
                    crate::text::thousands(labels.len()),
                    first + 1,
                    again + 1,
                    crate::text::escape_bytes(&labels[first]),
                    labels.len() - 1
                ));
                (0..matrix.rows)
                    .map(|i| i.to_string().into_bytes())
                    .collect()
            } else if file.to_string_lossy().ends_with("-vocab.pkl") {
                // HistWords: an all-zero row is a word absent that decade.
                drop_zero_rows(&mut matrix, labels)
            } else {
                labels
            }
        }
        None => (0..matrix.rows)
            .map(|i| i.to_string().into_bytes())
            .collect(),
    };
    let d = matrix.dims;
    let mut start = 0;
    while start < names.len() && !rows.full() {
        let end = names.len().min(start + BINARY_BATCH.min(rows.room()));
        let vectors = matrix.values[start * d..end * d].to_vec();
        push_rows(rows, &label, start, &names[start..end], vectors, d)?;
        start = end;
    }
    Ok(LoadReport {
        notes,
        ..rows.report(Format::Items, "none", None, d, None)
    })
}

// ---------------------------------------------------------------------------------------
// Hugging Face models: a safetensors matrix and its tokenizer.json
// ---------------------------------------------------------------------------------------

fn model_error(file: &str, message: String) -> LoadError {
    LoadError::Data {
        location: Location::File {
            file: file.to_owned(),
        },
        problem: Problem::Model(message),
    }
}

/// The tokenizer of the safetensors file `path`: `--tokenizer`, else `tokenizer.json` beside
/// it (or, for a sentence-transformers layout's `0_StaticEmbedding/model.safetensors`, in the
/// directory above).
pub(super) fn model_tokenizer(path: &Path, opts: &super::LoadOptions) -> Option<PathBuf> {
    if let Some(t) = &opts.tokenizer {
        return Some(t.clone());
    }
    let beside = path.with_file_name("tokenizer.json");
    if beside.is_file() {
        return Some(beside);
    }
    let above = path.parent()?.parent()?.join("tokenizer.json");
    above.is_file().then_some(above)
}

/// model2vec's `normalize` from the `config.json` beside the model (false without one, as
/// model2vec's default).
fn model2vec_normalize(path: &Path) -> Result<bool, LoadError> {
    let config = path.with_file_name("config.json");
    let Ok(bytes) = std::fs::read(&config) else {
        return Ok(false);
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        model_error(
            &crate::text::escape_path(&config),
            format!("not a JSON model configuration ({e})"),
        )
    })?;
    // model2vec tests it as Python does (`if normalize:`): a value that is not a boolean counts
    // by its truthiness, as there.
    use serde_json::Value;
    Ok(match value.get("normalize") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    })
}

/// A safetensors model: the rows of its token embedding, one per token id of its tokenizer
/// (padding rows beyond the highest id are left out), named by the tokens' shown forms. F32,
/// F16 and BF16 rows are handed over with their offsets in the file, so the index reads them
/// in place; model2vec's weights go with the rows.
pub(super) fn load_model(
    path: &Path,
    file: &File,
    opts: &super::LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
) -> Result<LoadReport, LoadError> {
    use safetensors::Dtype;
    let label = crate::text::escape_path(path);
    let map = map_file(file, &label)?;
    let tensors = safetensors::header(&map).map_err(|m| model_error(&label, m))?;
    let Some(tok_path) = model_tokenizer(path, opts) else {
        return Err(model_error(
            &label,
            "a safetensors matrix needs its tokenizer to name its rows: no tokenizer.json beside it; give one with --tokenizer FILE".to_owned(),
        ));
    };
    let tok_label = crate::text::escape_path(&tok_path);
    let json = std::fs::read(&tok_path).map_err(|err| LoadError::Io {
        file: tok_label.clone(),
        err,
    })?;
    // The Hugging Face library must read it too (phrases are encoded with it): checked now, on
    // the other core, rather than at the first phrase.
    // No token id can be beyond the largest tensor's rows: a higher one is refused before the
    // vocabulary is laid out by id.
    let max_tokens = tensors.iter().filter_map(|t| t.shape.first()).max();
    let max_tokens = max_tokens.copied().unwrap_or(0);
    let (vocab, library) = rayon::join(
        || tokenizer::parse(&json, max_tokens),
        // A panic of the library on a hostile file is an error here, not a crash.
        || tokenizer::library(&json).map(drop),
    );
    let vocab = vocab.map_err(|m| model_error(&tok_label, m))?;
    library.map_err(|e| {
        model_error(
            &tok_label,
            format!("the tokenizers library cannot read this tokenizer ({e})"),
        )
    })?;
    let n_tokens = vocab.tokens.len();
    let shard_hint = |m: String| {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| safetensors::is_shard_name(&n))
            && path.with_file_name(safetensors::SHARD_INDEX).is_file()
        {
            format!("{m} (this is one shard of a sharded model: open its directory)")
        } else {
            m
        }
    };
    let choice = safetensors::choose(&tensors, opts.tensor.as_deref(), n_tokens, &tok_label)
        .map_err(|m| model_error(&label, shard_hint(m)))?;
    let t = &tensors[choice.embedding];
    let (matrix_rows, dims) = t.matrix().expect("a chosen matrix is 2-D");
    let Some(size) = safetensors::row_dtype_size(t.dtype) else {
        return Err(model_error(
            &label,
            format!(
                "tensor {}: vecsh reads F64, F32, F16, BF16 and I8 matrices",
                t.describe()
            ),
        ));
    };
    if dims == 0 {
        return Err(model_error(
            &label,
            format!("tensor {}: rows of no values", t.describe()),
        ));
    }
    if dims as u64 > super::MAX_DIMS {
        return Err(model_error(
            &label,
            format!(
                "tensor {}: at most {} dimensions are supported",
                t.describe(),
                super::MAX_DIMS
            ),
        ));
    }
    // model2vec's mapping: token id → row of a smaller matrix.
    let mapping: Option<Vec<usize>> = match choice.mapping {
        None => None,
        Some(i) => {
            let m = &tensors[i];
            let raw = &map[m.start as usize..(m.start + m.len) as usize];
            let values = safetensors::to_u64(m.dtype, raw).ok_or_else(|| {
                model_error(&label, format!("tensor {}: not integers", m.describe()))
            })?;
            if values.len() < n_tokens {
                return Err(model_error(
                    &label,
                    format!(
                        "tensor {} maps {} tokens, but the tokenizer has {n_tokens}",
                        m.describe(),
                        values.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(n_tokens);
            for (id, &v) in values.iter().take(n_tokens).enumerate() {
                if v < 0 || v >= matrix_rows as i128 {
                    return Err(model_error(
                        &label,
                        format!(
                            "tensor {} maps token {id} to row {v}, but the matrix has {matrix_rows} rows",
                            m.describe()
                        ),
                    ));
                }
                out.push(v as usize);
            }
            Some(out)
        }
    };
    let weights: Option<Vec<f32>> = match choice.weights {
        None => None,
        Some(i) => {
            let w = &tensors[i];
            let raw = &map[w.start as usize..(w.start + w.len) as usize];
            let count = w.shape[0];
            if !matches!(w.dtype, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16)
                || count < n_tokens
            {
                return Err(model_error(
                    &label,
                    format!(
                        "tensor {}: model2vec's weights are one float per token, {n_tokens} here",
                        w.describe()
                    ),
                ));
            }
            let mut out = vec![0f32; count];
            safetensors::to_f32(w.dtype, raw, &mut out);
            out.truncate(n_tokens);
            if let Some(id) = out.iter().position(|x| !x.is_finite()) {
                return Err(model_error(
                    &label,
                    format!("tensor {}: token {id}'s weight is not finite", w.describe()),
                ));
            }
            Some(out)
        }
    };
    let normalize = match choice.kind {
        safetensors::Kind::Model2Vec => model2vec_normalize(path)?,
        _ => false,
    };
    let encoding = match t.dtype {
        Dtype::F32 => Some(super::RowEncoding::F32),
        Dtype::F16 => Some(super::RowEncoding::F16),
        Dtype::BF16 => Some(super::RowEncoding::BF16),
        _ => None,
    };
    if let Some(w) = weights {
        rows.set_weights(w);
    }
    let row_bytes = dims * size;
    let source_row = |id: usize| mapping.as_ref().map_or(id, |m| m[id]);
    let batch_rows = (super::BINARY_BATCH_VALUES / dims).clamp(1, BINARY_BATCH);
    let total = map.len() as u64;
    let data = &map[..];
    let hash = std::thread::scope(|scope| -> Result<u64, LoadError> {
        // The content's fingerprint, on the other core while the rows are converted.
        // Both release what they read from this process's page tables (the pages stay in the
        // page cache): a 1 GB matrix does not stay in the resident set while it is indexed.
        let hasher = scope.spawn(|| {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for part in data.chunks(32 << 20) {
                h.update(part);
                super::source::release(part);
            }
            h.digest()
        });
        let mut start = 0;
        while start < n_tokens && !rows.full() {
            let end = n_tokens.min(start + batch_rows.min(rows.room()));
            let mut vectors = vec![0f32; (end - start) * dims];
            vectors
                .par_chunks_mut(dims)
                .enumerate()
                .for_each(|(k, out)| {
                    let at = t.start as usize + source_row(start + k) * row_bytes;
                    safetensors::to_f32(t.dtype, &data[at..at + row_bytes], out);
                });
            if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
                let id = start + i / dims;
                return Err(model_error(
                    &label,
                    format!(
                        "tensor {}: value {} of row {} (token '{}') is not finite ({})",
                        t.describe(),
                        i % dims + 1,
                        source_row(id),
                        crate::text::escape(&vocab.tokens[id].shown),
                        vectors[i]
                    ),
                ));
            }
            let offsets = encoding.map(|_| {
                (start..end)
                    .map(|id| t.start + (source_row(id) * row_bytes) as u64)
                    .collect::<Vec<u64>>()
            });
            let words: Vec<String> = vocab.tokens[start..end]
                .iter()
                .map(|tok| tok.shown.clone())
                .collect();
            let hashes: Vec<u64> = words.iter().map(|w| word_hash(w.as_bytes())).collect();
            if mapping.is_none() {
                let from = t.start as usize + start * row_bytes;
                super::source::release(&data[from..t.start as usize + end * row_bytes]);
            }
            rows.push(words, vectors, offsets, &hashes, &[], dims)?;
            on_progress(t.start + (end * row_bytes) as u64, total);
            start = end;
        }
        Ok(hasher.join().expect("hashing does not panic"))
    })?;
    let mut notes = Vec::new();
    if matrix_rows > n_tokens && mapping.is_none() {
        notes.push(format!(
            "{} rows of {} beyond the tokenizer's {} token ids are padding, left out",
            crate::text::thousands(matrix_rows - n_tokens),
            crate::text::escape(&t.name),
            crate::text::thousands(n_tokens)
        ));
    }
    let loaded = rows.kept as u32;
    let hidden = vocab
        .tokens
        .iter()
        .enumerate()
        .filter(|(id, tok)| tok.kind.hidden() && (*id as u32) < loaded)
        .map(|(id, _)| id as u32)
        .collect();
    let model = super::ModelMeta {
        kind: choice.kind,
        tensor: t.name.clone(),
        dtype: safetensors::dtype_name(t.dtype),
        tokenizer: std::fs::canonicalize(&tok_path).unwrap_or(tok_path),
        tokenizer_model: vocab.model.clone(),
        normalize,
        unk: vocab.unk,
        hidden,
        has_weights: choice.weights.is_some(),
        vocab_size: n_tokens,
        matrix_rows,
        mapped: mapping.is_some(),
    };
    Ok(LoadReport {
        // Shown forms are unique; whitespace tokens are no "words with spaces".
        spaced_words: 0,
        spaced_examples: Vec::new(),
        notes,
        content_hash: Some(hash),
        model: Some(model),
        row_encoding: encoding.unwrap_or_default(),
        ..rows.report(Format::Safetensors, "none", None, dims, None)
    })
}

// ---------------------------------------------------------------------------------------
// Companion files
// ---------------------------------------------------------------------------------------

/// The files besides `path` whose content the rows read from `path` depend on, that exist now:
/// the tutorial's map (`X.lmdb/data.mdb`, or `X.annoy` for `X.lmdb`), the labels of item
/// vectors (`--labels`, `x.labels.txt`, the Projector's `metadata.tsv`, HistWords'
/// `D-vocab.pkl`) and gensim's `.npy` sidecars (`x.kv.*.npy`). What identifies an index and
/// proves it current must cover them as well as `path`.
pub fn companions(path: &Path, opts: &super::LoadOptions) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(Some((annoy, map))) = annoy_pair(path, opts.format) {
        if annoy != path {
            out.push(annoy);
        }
        out.extend(map);
    }
    let name = path.to_string_lossy();
    let sources = match opts.format {
        Some(Format::Items) => vec![ItemSource::Npy, ItemSource::Npz, ItemSource::Projector],
        None if name.ends_with(".npy") => vec![ItemSource::Npy],
        None if name.ends_with(".npz") => vec![ItemSource::Npz],
        None if name.ends_with(".tsv") => vec![ItemSource::Projector],
        _ => Vec::new(),
    };
    {
        for source in sources {
            if let Ok(Some((file, _))) = item_labels_path(path, source, opts.labels.as_deref()) {
                if !out.contains(&file) {
                    out.push(file);
                }
            }
        }
    }
    // gensim's sidecars: only a pickle (or a compressed file, which may hold one) has them, so
    // a directory of other files is not listed on every open (20,000 files cost a one-shot
    // open ~20 ms).
    let pickled = match opts.format {
        Some(Format::Gensim | Format::Pickle) => true,
        Some(_) => false,
        // Never opened unless a regular file: a FIFO would block the open.
        None if !path.is_file() => false,
        None => {
            let mut head = Vec::new();
            let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
            read.is_ok()
                && (pickle::sniff(&head)
                    || head.starts_with(&[0x1f, 0x8b])
                    || head.starts_with(b"PK"))
        }
    };
    if let (true, Some(dir), Some(name)) = (pickled, path.parent(), path.file_name()) {
        let prefix = format!("{}.", name.to_string_lossy());
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut sidecars: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    // gensim writes `.npz` sidecars beside a file saved as `.gz` or `.bz2`.
                    n.starts_with(&prefix) && (n.ends_with(".npy") || n.ends_with(".npz"))
                })
                .map(|e| path.with_file_name(e.file_name()))
                .collect();
            sidecars.sort();
            out.extend(sidecars);
        }
    }
    // A safetensors model's tokenizer, model2vec's config.json and a sharded model's index.
    let model = match opts.format {
        Some(Format::Safetensors) => true,
        Some(_) => false,
        None if name.ends_with(".safetensors") => true,
        None if !path.is_file() => false,
        None => {
            let mut head = Vec::new();
            let read = std::fs::File::open(path).and_then(|f| f.take(16).read_to_end(&mut head));
            read.is_ok()
                && std::fs::metadata(path).is_ok_and(|m| safetensors::sniff(&head, m.len()))
        }
    };
    if model {
        out.extend(model_tokenizer(path, opts));
        out.push(path.with_file_name("config.json"));
        out.push(path.with_file_name(safetensors::SHARD_INDEX));
    }
    out.retain(|p| p.exists());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_rows_hands_over_decoded_unique_words_and_refuses_non_finite_values() {
        let mut batches = Vec::new();
        let mut sink = |batch| {
            batches.push(batch);
            Ok(())
        };
        let mut rows = Rows::new(&mut sink, None);
        let words: [&[u8]; 3] = [b"a", b"b\xff", b"a"];
        push_rows(
            &mut rows,
            "f.kv",
            0,
            &words,
            vec![1., 2., 3., 4., 5., 6.],
            2,
        )
        .unwrap();
        assert_eq!((rows.kept, rows.duplicates, rows.lossy), (2, 1, 1));

        let words = [b"c".to_vec(), b"d".to_vec()];
        let err = push_rows(&mut rows, "f.kv", 10, &words, vec![1., 2., 3., f32::NAN], 2);
        match err {
            Err(LoadError::Data { location, problem }) => {
                assert_eq!(location.to_string(), "f.kv");
                assert!(matches!(
                    problem,
                    Problem::BinaryNotFinite { row: 12, index: 2, dims: 2, ref word, .. } if word == "d"
                ));
            }
            other => panic!("expected a data error, got {other:?}"),
        }
        drop(rows);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].words, ["a", "b\u{fffd}"]);
        assert_eq!(batches[0].vectors, [1., 2., 3., 4.]);
    }
}
