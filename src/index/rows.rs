//! Words and rows: the vocabulary and vector accessors of an open store, and the rows read in
//! place from a word2vec .bin source.

use std::borrow::Cow;
use std::fs::{self, File};
use std::path::Path;

use heed::types::Bytes;
use heed::{Database, RoTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_64;

use crate::loader;
use crate::search::{self, QuantRows, Rows};

use super::error::{lmdb_err, IndexError, Result};
use super::on_read::Part;
use super::records::{FileStat, Meta};
use super::{Dbs, Id, Store};

/// LMDB keys are limited to 511 bytes; longer words are stored under a hashed key.
const MAX_KEY: usize = 500;

impl Store {
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn len(&self) -> usize {
        self.meta.words
    }

    pub fn is_empty(&self) -> bool {
        self.meta.words == 0
    }

    pub fn dims(&self) -> usize {
        self.meta.dims
    }

    /// Bytes the index occupies on disk.
    pub fn disk_size(&self) -> u64 {
        fs::metadata(self.dir.join("data.mdb"))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    pub fn id(&self, word: &str) -> Option<u32> {
        let key = word_key(word);
        if self.verifying_reads() {
            // `word2id` has no checksums of its own: the id it gives is confirmed by the
            // verified `id2word` (each word is there once), or everything is verified first
            // (a word it does not hold, a damaged entry).
            if !self.trusted_pages("word2id", &key) {
                return None;
            }
            let found = self.dbs.word2id.get(&self.rtxn, &key).ok().flatten();
            if let Some(id) = found.filter(|&id| self.word(id) == Some(word)) {
                return Some(id);
            }
            if self.damage_found().is_some() || !self.trusted_everything() {
                return None;
            }
        }
        let id = self.dbs.word2id.get(&self.rtxn, &key).ok().flatten()?;
        // A hashed key could in principle collide: confirm the word itself.
        (key.len() < MAX_KEY || self.word(id) == Some(word)).then_some(id)
    }

    pub fn word(&self, id: u32) -> Option<&str> {
        if (id as usize) >= self.len() || !self.trusted_word(id) {
            return None;
        }
        self.dbs.id2word.get(&self.rtxn, &id).ok().flatten()
    }

    /// Words in id (file) order (none from an index found damaged).
    pub fn words(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        let trusted = self.trusted_everything();
        self.dbs
            .id2word
            .iter(&self.rtxn)
            .ok()
            .filter(|_| trusted)
            .into_iter()
            .flatten()
            .filter_map(|r| r.ok())
    }

    /// Up to `max` words starting with `prefix` with their ids, in byte order.
    pub fn words_with_prefix(&self, prefix: &str, max: usize) -> Vec<(&str, u32)> {
        let Ok(iter) = self.dbs.word2id.prefix_iter(&self.rtxn, prefix.as_bytes()) else {
            return Vec::new();
        };
        iter.filter_map(|r| r.ok())
            .filter_map(|(key, id)| std::str::from_utf8(key).ok().map(|w| (w, id)))
            .take(max)
            .collect()
    }

    /// The unit vector of `id` (zeros for a zero vector); `None` also when it cannot be read
    /// (see [`Store::unit_row`] for the error).
    pub fn vector(&self, id: u32) -> Option<Cow<'_, [f32]>> {
        self.unit_row(id).ok().flatten()
    }

    /// The unit vectors of `ids` (each below `len`), one after another: as `unit_row` reads
    /// them, but a source is checked once for all of them rather than once a row (an
    /// approximate search rescores a dozen or more rows, and each check is two `statx` calls).
    pub(super) fn unit_rows_of(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let dims = self.dims();
        if let Some(file) = self.source_file()? {
            let mut at = Vec::with_capacity(ids.len() * 8);
            for &id in ids {
                at.extend_from_slice(&self.source_offset(id as usize)?);
            }
            return read_source_rows(file, &at, dims).map_err(|e| self.source_error(e));
        }
        let mut out = Vec::with_capacity(ids.len() * dims);
        for &id in ids {
            match self.unit_row(id)? {
                Some(row) => out.extend_from_slice(&row),
                None => out.resize(out.len() + dims, 0.0),
            }
        }
        Ok(out)
    }

    /// Where row `id` lies in the source; an error for an index without that record.
    fn source_offset(&self, id: usize) -> Result<[u8; 8]> {
        self.row_offset(id).ok_or_else(|| {
            let what = format!("no source offset for row {id}");
            self.note_damage(&what);
            IndexError::Damaged {
                path: self.dir.clone(),
                what,
            }
        })
    }

    /// The unit vector of `id`, from the stored copy or read from the source
    /// (`Meta::unit_in_source`); `None` for an id out of range.
    pub fn unit_row(&self, id: u32) -> Result<Option<Cow<'_, [f32]>>> {
        let id = id as usize;
        if id >= self.len() {
            return Ok(None);
        }
        let dims = self.dims();
        if let Some(file) = self.source_file()? {
            let at = self.source_offset(id)?;
            let row = read_source_rows(file, &at, dims).map_err(|e| self.source_error(e))?;
            return Ok(Some(Cow::Owned(row)));
        }
        let rpc = self.meta.rows_per_chunk;
        let Some(chunk) = self.chunk(Part::Unit, self.dbs.unit, (id / rpc) as u32) else {
            return Err(self.damage_error());
        };
        let at = (id % rpc) * dims;
        Ok(Some(match chunk {
            Cow::Borrowed(all) => Cow::Borrowed(&all[at..at + dims]),
            Cow::Owned(all) => Cow::Owned(all[at..at + dims].to_vec()),
        }))
    }

    /// For an index whose rows live in the source: reads them from `source`, opened now (the
    /// file just proven to hold the content the index was built from, whatever path the index
    /// first saw it under). False when the open file's stat is not `stat` (it changed
    /// meanwhile); true for an index that stores its rows.
    pub(super) fn read_rows_from(&mut self, source: &Path, stat: &FileStat) -> bool {
        if !self.meta.unit_in_source {
            return true;
        }
        self.source_path = source.to_path_buf();
        self.source = Some(open_source(source));
        matches!(&self.source, Some(Ok((_, now))) if now == stat)
    }

    /// Whether the rows are read from the source file rather than stored in the index.
    pub fn rows_in_source(&self) -> bool {
        self.meta.unit_in_source
    }

    /// The source the rows are read from (`None`: they are stored), checked unchanged since
    /// this store opened it: a file rewritten in place under an open session is an error,
    /// never rows of another file. Every read from it checks the stat again afterwards
    /// (`read_source_rows`): a rewrite during the reads is an error too. A file replaced by a
    /// rename (or removed) is still the file this store holds: it keeps being read, and
    /// `take_source_note` says once that the path names another file now.
    pub(super) fn source_file(&self) -> Result<Option<SourceFile<'_>>> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let (file, stat) = source
            .as_ref()
            .map_err(|e| self.source_error(std::io::Error::other(e.clone())))?;
        let accepted = self.source_unlinked.get();
        let now = as_opened(file, &accepted.unwrap_or(*stat), accepted.is_none())
            .map_err(|e| self.source_error(e))?;
        match now {
            Opened::Same => {}
            Opened::Unlinked(now) => self.source_unlinked.set(Some(now)),
            Opened::Changed => {
                return Err(self.source_error(std::io::Error::other(
                    "it changed since vecsh opened it; open it again to rebuild the index",
                )))
            }
        }
        Ok(Some(SourceFile {
            encoding: self.meta.row_encoding,
            file,
            stat: self.source_unlinked.get().unwrap_or(*stat),
        }))
    }

    /// Once, after the source's path was seen to name another file (or none): the note that
    /// this store keeps reading the file it opened.
    pub fn take_source_note(&self) -> Option<String> {
        if self.source_unlinked.get().is_none() || self.source_told.replace(true) {
            return None;
        }
        let path = crate::text::escape_path(&self.source_path);
        Some(if self.source_path.exists() {
            format!("{path} now names another file; this session keeps reading the file it opened (open it again for the new one)")
        } else {
            format!("{path} was removed; this session keeps reading the file it opened")
        })
    }

    pub(super) fn source_error(&self, err: std::io::Error) -> IndexError {
        IndexError::Source {
            path: self.source_path.clone(),
            err,
        }
    }

    /// Row `id`'s offset in the source (u64 LE), for an index that reads rows from there.
    fn row_offset(&self, id: usize) -> Option<[u8; 8]> {
        let rpc = self.meta.rows_per_chunk;
        if !self.trusted(Part::Unit, (id / rpc) as u32) {
            return None;
        }
        let bytes = self
            .dbs
            .unit
            .get(&self.rtxn, &((id / rpc) as u32))
            .ok()
            .flatten()?;
        let at = (id % rpc) * 8;
        bytes.get(at..at + 8)?.try_into().ok()
    }

    /// The unit rows of one stored chunk, read from the source when they live there.
    fn unit_chunk(&self, chunk: u32) -> Result<Cow<'_, [f32]>> {
        match self.source_file()? {
            None => self
                .chunk(Part::Unit, self.dbs.unit, chunk)
                .ok_or_else(|| self.damage_error()),
            Some(file) => {
                if !self.trusted(Part::Unit, chunk) {
                    return Err(self.damage_error());
                }
                let offsets = self
                    .dbs
                    .unit
                    .get(&self.rtxn, &chunk)
                    .map_err(|e| lmdb_err(&self.dir, e))?
                    .unwrap_or_default();
                read_source_rows(file, offsets, self.dims())
                    .map(Cow::Owned)
                    .map_err(|e| self.source_error(e))
            }
        }
    }

    /// The character n-gram table's settings, for models that have one (fastText).
    pub fn subwords(&self) -> Option<&loader::Subwords> {
        self.meta.subwords.as_ref()
    }

    /// What fastText and gensim give a word from its character n-grams: the mean of its
    /// n-gram rows (gensim `FastTextKeyedVectors.get_vector` of an unknown word). `None`
    /// without an n-gram table or when no n-gram can be extracted (e.g. `maxn` = 0): such
    /// a word stays unknown rather than becoming the zero vector.
    pub fn subword_mean(&self, word: &str) -> Option<Vec<f32>> {
        let sub = self.meta.subwords.as_ref()?;
        let db = self.dbs.ngrams?;
        let mut buckets = Vec::new();
        crate::loader::formats::fasttext::ngram_buckets(
            word.as_bytes(),
            sub.minn,
            sub.maxn,
            u32::try_from(sub.buckets).ok()?,
            &mut buckets,
        );
        if buckets.is_empty() {
            return None;
        }
        let (dims, rpc) = (self.dims(), self.meta.rows_per_chunk);
        let mut sum = vec![0f32; dims];
        // Summed in f32 in n-gram order, as gensim does, so the last bits agree too.
        for b in &buckets {
            let b = *b as usize;
            let chunk = self.chunk(Part::Ngrams, db, (b / rpc) as u32)?;
            let row = chunk.get((b % rpc) * dims..(b % rpc + 1) * dims)?;
            sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
        }
        let n = buckets.len() as f32;
        sum.iter_mut().for_each(|s| *s /= n);
        Some(sum)
    }

    /// [`Store::subword_mean`], unit-normalised like every word vector; `None` also when
    /// the n-gram rows sum to zero.
    pub fn subword_vector(&self, word: &str) -> Option<Vec<f32>> {
        let mut v = self.subword_mean(word)?;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return None;
        }
        v.iter_mut().for_each(|x| *x /= norm);
        Some(v)
    }

    /// All unit vectors: zero-copy from the map where aligned, or (rows in the source) read
    /// from the source in one pass, which holds them all in memory (evaluations, builds).
    pub fn unit_rows(&self) -> Result<Rows<'_, f32>> {
        if !self.trusted_all(Part::Unit) {
            return Err(self.damage_error());
        }
        if self.source.is_none() {
            return Ok(self.rows(self.dbs.unit, self.dims()));
        }
        let n_chunks = self.len().div_ceil(self.meta.rows_per_chunk);
        Ok(Rows {
            row_len: self.dims(),
            rows_per_chunk: self.meta.rows_per_chunk,
            chunks: (0..n_chunks as u32)
                .map(|c| self.unit_chunk(c))
                .collect::<Result<_>>()?,
            len: self.len(),
        })
    }

    /// The int8 copy used by the exact scan, verified.
    pub fn quant_rows(&self) -> Result<QuantRows<'_>> {
        if !(self.trusted_all(Part::Quant) && self.trusted_all(Part::Scale)) {
            return Err(self.damage_error());
        }
        Ok(quant_rows_in(&self.rtxn, &self.dbs, &self.meta))
    }

    fn rows(&self, db: Database<'static, Id, Bytes>, row_len: usize) -> Rows<'_, f32> {
        let n_chunks = self.len().div_ceil(self.meta.rows_per_chunk);
        let chunks = (0..n_chunks as u32)
            .map(|c| self.chunk(Part::Unit, db, c).unwrap_or_default())
            .collect();
        Rows {
            row_len,
            rows_per_chunk: self.meta.rows_per_chunk,
            chunks,
            len: self.len(),
        }
    }

    /// Chunk `chunk` of `db`, the table of `part`, verified (`None`: missing or damaged).
    pub(super) fn chunk(
        &self,
        part: Part,
        db: Database<'static, Id, Bytes>,
        chunk: u32,
    ) -> Option<Cow<'_, [f32]>> {
        if !self.trusted(part, chunk) {
            return None;
        }
        let bytes = db.get(&self.rtxn, &chunk).ok().flatten()?;
        Some(search::cast_or_copy(bytes))
    }
}

/// The int8 copy of an index as read through `rtxn`.
pub(super) fn quant_rows_in<'t>(
    rtxn: &'t RoTxn<WithoutTls>,
    dbs: &Dbs,
    meta: &Meta,
) -> QuantRows<'t> {
    let stride = search::quant_stride(meta.dims);
    let n_chunks = meta.words.div_ceil(meta.rows_per_chunk.max(1));
    let bytes = |db: Database<'static, Id, Bytes>, c: u32| {
        db.get(rtxn, &c).ok().flatten().unwrap_or_default()
    };
    let rows = Rows {
        row_len: stride,
        rows_per_chunk: meta.rows_per_chunk,
        chunks: (0..n_chunks as u32)
            .map(|c| Cow::Borrowed(bytemuck::cast_slice::<u8, i8>(bytes(dbs.quant, c))))
            .collect(),
        len: meta.words,
    };
    let scales = Rows {
        row_len: 1,
        rows_per_chunk: meta.rows_per_chunk,
        chunks: (0..n_chunks as u32)
            .map(|c| search::cast_or_copy(bytes(dbs.scale, c)))
            .collect(),
        len: meta.words,
    };
    QuantRows {
        dims: meta.dims,
        rows,
        scales,
    }
}

/// The empty word's key. LMDB refuses empty keys; a lone 0xFF byte is never UTF-8, so no word
/// has it (gensim keeps `''` as a word: its `toy-model-pretrained.bin` has one).
const EMPTY_WORD_KEY: &[u8] = b"\xff";

/// The word's LMDB key: the word itself, or for words too long for a key, a prefix and a hash;
/// for the empty word, [`EMPTY_WORD_KEY`].
pub(super) fn word_key(word: &str) -> Cow<'_, [u8]> {
    if word.is_empty() {
        return Cow::Borrowed(EMPTY_WORD_KEY);
    }
    let bytes = word.as_bytes();
    if bytes.len() < MAX_KEY {
        return Cow::Borrowed(bytes);
    }
    let mut key = bytes[..MAX_KEY - 17].to_vec();
    key.push(0);
    key.extend_from_slice(format!("{:016x}", xxh3_64(bytes)).as_bytes());
    Cow::Owned(key)
}

/// The source a store reads rows from, and its stat when the store opened it: every read
/// compares the file's stat with it after reading.
#[derive(Clone, Copy)]
pub(super) struct SourceFile<'s> {
    pub(super) file: &'s File,
    pub(super) stat: FileStat,
    /// How the rows' values are encoded (f32 for word2vec, f16 or bf16 for some safetensors).
    pub(super) encoding: loader::RowEncoding,
}

/// How an open file compares with the stat it was opened with.
enum Opened {
    Same,
    /// Its content is as it was, but no path names it any more (a rename put another file in
    /// its place, or it was removed): the unlink changed only its ctime. Its stat now.
    Unlinked(FileStat),
    Changed,
}

/// Compares `file` with `opened`; `unlink_ok`: an unlink since is no change (once only: after
/// it, the file's stat must stay as it was then).
fn as_opened(file: &File, opened: &FileStat, unlink_ok: bool) -> std::io::Result<Opened> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    let now = FileStat::from_metadata(&m)?;
    if now == *opened {
        return Ok(Opened::Same);
    }
    let content_kept = now.size == opened.size
        && now.mtime_ns == opened.mtime_ns
        && now.ino == opened.ino
        && now.dev == opened.dev;
    Ok(if unlink_ok && content_kept && m.nlink() == 0 {
        Opened::Unlinked(now)
    } else {
        Opened::Changed
    })
}

/// Opens the source whose rows the index reads in place, and its stat at that moment.
pub(super) fn open_source(path: &Path) -> std::result::Result<(File, FileStat), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let stat = FileStat::of_file(&file).map_err(|e| e.to_string())?;
    Ok((file, stat))
}

/// Rows read from a source below which they are normalised on the calling thread.
const PARALLEL_NORMALIZE_ROWS: usize = 1024;

/// Reads the rows at `offsets` (u64 LE, one a row: `Meta::unit_in_source`) from the word2vec
/// .bin or safetensors file they were parsed from, converts them to f32 as the loader did
/// (`SourceFile::encoding`) and normalises them as the build did, so the values are the bits
/// an f32 copy would have held. With `pread`, never a map: a source truncated since
/// the index was built is an error, never a SIGBUS.
///
/// The file's stat is compared with `source.stat` after the reads: a file rewritten in place
/// while it was read (or since it was opened) gives an error, never another file's rows or a
/// mix of two files' (a write updates the file's times before its bytes change).
pub(super) fn read_source_rows(
    source: SourceFile<'_>,
    offsets: &[u8],
    dims: usize,
) -> std::io::Result<Vec<f32>> {
    let file = source.file;
    use rayon::prelude::*;
    use std::os::unix::fs::FileExt;
    let row_bytes = dims * source.encoding.size();
    let encoding = source.encoding;
    let offsets: Vec<u64> = offsets
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let n = offsets.len();
    let mut out = vec![0f32; n * dims];
    let short = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            std::io::Error::new(
                e.kind(),
                "it is shorter than when its index was built (truncated?); open it again to \
                 rebuild the index",
            )
        } else {
            e
        }
    };
    let decode = |raw: &[u8], row: &mut [f32]| encoding.decode(raw, row);
    let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) else {
        return Ok(out);
    };
    // Rows lie in file order, one after another but for dropped duplicates: one read of the
    // whole span when it is not much larger than the rows themselves.
    let span = last
        .checked_sub(first)
        .and_then(|d| d.checked_add(row_bytes as u64))
        .filter(|&span| n > 1 && span <= (2 * n * row_bytes) as u64)
        .map(|span| span as usize)
        .filter(|_| {
            offsets
                .windows(2)
                .all(|w| w[0].saturating_add(row_bytes as u64) <= w[1])
        });
    if let Some(span) = span {
        let mut buf = vec![0u8; span];
        file.read_exact_at(&mut buf, first).map_err(short)?;
        for (row, &at) in out.chunks_exact_mut(dims).zip(&offsets) {
            // In the span: the offsets were checked to increase by at least a row each.
            let at = (at - first) as usize;
            decode(&buf[at..at + row_bytes], row);
        }
    } else {
        let mut raw = vec![0u8; row_bytes];
        for (row, &at) in out.chunks_exact_mut(dims).zip(&offsets) {
            file.read_exact_at(&mut raw, at).map_err(short)?;
            decode(&raw, row);
        }
    }
    // An unlink during the reads (a rename over the path) changes nothing that was read.
    if matches!(as_opened(file, &source.stat, true)?, Opened::Changed) {
        return Err(std::io::Error::other(
            "it changed while vecsh was reading it; open it again to rebuild the index",
        ));
    }
    // A few rows (a search's rescoring) on this thread: handing them to the pool costs more.
    if n < PARALLEL_NORMALIZE_ROWS {
        out.chunks_exact_mut(dims).for_each(|row| {
            search::normalize(row);
        });
    } else {
        out.par_chunks_mut(dims).for_each(|row| {
            search::normalize(row);
        });
    }
    Ok(out)
}

/// The rows an exact search rescores, read from the source one by one (see
/// `read_source_rows`); the first failure is kept and reported after the search.
pub(super) struct SourceRows<'s> {
    pub(super) file: SourceFile<'s>,
    /// Each chunk's offsets (u64 LE a row), borrowed from the map.
    pub(super) offsets: Vec<&'s [u8]>,
    pub(super) rows_per_chunk: usize,
    pub(super) dims: usize,
    pub(super) len: usize,
    pub(super) failed: std::sync::Mutex<Option<std::io::Error>>,
}

impl search::UnitRows for SourceRows<'_> {
    fn count(&self) -> usize {
        self.len
    }

    fn unit_row(&self, id: usize) -> Cow<'_, [f32]> {
        let at = (id % self.rows_per_chunk) * 8;
        let read = self
            .offsets
            .get(id / self.rows_per_chunk)
            .and_then(|chunk| chunk.get(at..at + 8))
            .ok_or_else(|| std::io::Error::other("the index has no source offset for this row"))
            .and_then(|at| read_source_rows(self.file, at, self.dims));
        match read {
            Ok(row) => Cow::Owned(row),
            Err(e) => {
                let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                failed.get_or_insert(e);
                Cow::Owned(vec![0.0; self.dims])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets that a damaged table could hold (out of order, overlapping, past the end, near
    /// u64::MAX) give rows or an error, never a panic.
    #[test]
    fn source_rows_at_any_offsets_never_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("rows");
        let values: Vec<f32> = (0..64).map(|i| i as f32 + 1.0).collect();
        fs::write(&path, bytemuck::cast_slice::<f32, u8>(&values)).unwrap();
        let file = File::open(&path).unwrap();
        let stat = FileStat::of_file(&file).unwrap();
        let file = SourceFile {
            file: &file,
            stat,
            encoding: loader::RowEncoding::F32,
        };
        let bytes =
            |offsets: &[u64]| -> Vec<u8> { offsets.iter().flat_map(|o| o.to_le_bytes()).collect() };
        let dims = 4;
        // In order: one read of the span; rows normalised.
        let rows = read_source_rows(file, &bytes(&[0, 16, 48]), dims).unwrap();
        let mut want = values[12..16].to_vec();
        search::normalize(&mut want);
        assert_eq!(&rows[8..12], &want[..]);
        // Out of order and overlapping: read row by row, same values.
        let rows = read_source_rows(file, &bytes(&[48, 4, 0]), dims).unwrap();
        assert_eq!(&rows[0..4], &want[..]);
        for damaged in [
            vec![0, 250],
            vec![u64::MAX - 2, 0],
            vec![0, u64::MAX - 2],
            vec![u64::MAX],
        ] {
            assert!(read_source_rows(file, &bytes(&damaged), dims).is_err());
        }
    }

    /// A source rewritten in place between a query's check of its stat and its reads (the race
    /// of a rewrite during a query): the rows read are another file's, so the answer is an
    /// error saying the file changed, never a mixed answer.
    #[test]
    fn a_rewrite_after_the_check_and_before_the_reads_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let (n, dims) = (64usize, 4usize);
        let row = |i: usize| -> Vec<f32> {
            (0..dims)
                .map(|d| ((i * 7 + d * 3) % 11) as f32 - 5.0)
                .collect()
        };
        let bin_of = |swap: bool| {
            let mut bin = format!("{n} {dims}\n").into_bytes();
            for i in 0..n {
                bin.extend_from_slice(format!("w{i} ").as_bytes());
                // Rows 1 and 2 swapped: same size, other content.
                let r = match (swap, i) {
                    (true, 1) => row(2),
                    (true, 2) => row(1),
                    _ => row(i),
                };
                bin.extend_from_slice(bytemuck::cast_slice(&r));
                bin.push(b'\n');
            }
            bin
        };
        let path = tmp.path().join("v.bin");
        fs::write(&path, bin_of(false)).unwrap();
        let opts = super::super::OpenOptions {
            cache_dir: Some(tmp.path().join("cache")),
            ..Default::default()
        };
        let (store, _) = Store::open(&path, &opts, &crate::progress::Silent).unwrap();
        assert!(store.rows_in_source());
        let v = store.vector(1).unwrap().into_owned();
        let q = search::Query {
            vector: &v,
            k: 3,
            exclude: &[],
            limit: n,
        };
        // The check a query makes first passes ...
        let file = store.source_file().unwrap().expect("rows in the source");
        // ... then the file is rewritten in place (after a clock tick, so its times differ) ...
        std::thread::sleep(std::time::Duration::from_millis(20));
        use std::io::Write;
        let mut w = fs::File::options().write(true).open(&path).unwrap();
        w.write_all(&bin_of(true)).unwrap();
        drop(w);
        // ... and the reads that follow see it.
        let err = store
            .exact_from_source(file, &q, false)
            .map(|(hits, _)| hits.iter().map(|h| h.id).collect::<Vec<_>>())
            .unwrap_err()
            .to_string();
        assert!(err.contains("v.bin") && err.contains("changed"), "{err}");
    }
}
