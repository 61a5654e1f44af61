//! The records an index stores as JSON and the types they hold: the build's metadata (`Meta`),
//! the approximate structures' records and calibrations, the checksums and the stat proof.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::loader::{self, raw_path, Format};

/// Bumped whenever the stored layout changes; an index of another version is rebuilt.
/// 6: each row's norm (`norms`) and, for labelled items, their labels (`labels`; `side`).
/// 7: safetensors models (`Meta::model`), rows read in place in F16/BF16 (`Meta::row_encoding`),
/// model2vec's token weights (`weights`; `side`).
pub const SCHEMA_VERSION: u32 = 7;

/// What the store knows about its source and how it was built (stored as JSON under "meta").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub schema: u32,
    /// The source's path as raw bytes when it is not UTF-8 (paths are bytes on Unix).
    #[serde(with = "raw_path")]
    pub source: PathBuf,
    /// The source's stat when it was read: any difference means its content is hashed again.
    pub source_stat: FileStat,
    /// xxh3-64 of the source's whole content (hex).
    pub source_hash: String,
    pub format: Format,
    pub compression: String,
    pub member: Option<String>,
    pub words: usize,
    pub dims: usize,
    pub limit: Option<usize>,
    pub duplicates: usize,
    pub lossy_words: usize,
    /// Python 2 `str` words that were not UTF-8, decoded as latin-1 (pickles).
    #[serde(default)]
    pub latin1_words: usize,
    /// Words containing spaces (GloVe 840B has them) and the first few of them.
    #[serde(default)]
    pub spaced_words: usize,
    #[serde(default)]
    pub spaced_examples: Vec<String>,
    pub zero_vectors: usize,
    pub rows_per_chunk: usize,
    pub build_seconds: f64,
    pub built_at: u64,
    /// The character n-gram table of models that have one (fastText), stored raw in `ngrams`.
    #[serde(default)]
    pub subwords: Option<loader::Subwords>,
    /// Principal components in the exact search's first stage (`pcstage`); 0: no such stage.
    #[serde(default)]
    pub pc_dims: usize,
    /// Whether the build decided on that stage (`OpenOptions::exact_stage`): an index built
    /// without deciding is rebuilt when a stage is asked for.
    #[serde(default)]
    pub pc_decided: bool,
    /// A word2vec .bin read in place: the `unit` table holds each row's byte offset in the
    /// source (u64 LE) instead of an f32 copy, and rescoring reads the rows from the source
    /// with `pread` (the content hash proved it the file the index was built from). That copy
    /// was 3.6 GB of a 3M x 300 first open's 4.4 GB of writes.
    #[serde(default)]
    pub unit_in_source: bool,
    /// The files besides the source that its rows were read from (`loader::companions`: a map,
    /// labels, gensim's `.npy` sidecars), as they were when read. An index built before this
    /// field existed has none: where the source has companions now, it is rebuilt once.
    #[serde(default)]
    pub companions: Vec<Companion>,
    /// The loader's notes on how rows were named (`LoadReport::notes`), shown by `vecsh info`.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The rows have labels, in the `labels` table (the MNIST pickle's `y` arrays).
    #[serde(default)]
    pub labels: bool,
    /// A safetensors model: its tensor, tokenizer and hidden rows (row `i` is token id `i`).
    #[serde(default)]
    pub model: Option<loader::ModelMeta>,
    /// How rows read in place (`unit_in_source`) are encoded in the source.
    #[serde(default)]
    pub row_encoding: loader::RowEncoding,
}

impl Meta {
    /// What a row is, in the plural, as counts name it: the tokens of a model, the items of an
    /// item file or a labelled pickle (songs, photos, digits), else words.
    pub fn row_noun(&self) -> &'static str {
        if self.model.is_some() {
            "tokens"
        } else if self.format == Format::Items || self.labels {
            "items"
        } else {
            "words"
        }
    }
}

/// A file besides the source whose content the index depends on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Companion {
    #[serde(with = "raw_path")]
    pub path: PathBuf,
    /// Its stat when it was read: any difference means its content is hashed again.
    pub stat: FileStat,
    /// xxh3-64 of its whole content (hex).
    pub hash: String,
}

/// The oversampling a forest search uses unless told otherwise (and that a forest's
/// calibration measures).
pub const DEFAULT_OVERSAMPLING: usize = 8;

/// Which structure approximate search reads: the inverted lists (`ivf`, the default) or the
/// arroy forest (`--forest`). The lists replaced the forest as the default because at
/// 3M x 300 they reach recall 0.95 in under 2 ms and build in under 3 minutes, where the
/// forest needed ~9 ms, 14 minutes and +8 GB (README, approximate search).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApproxKind {
    #[default]
    Lists,
    Forest,
}

impl ApproxKind {
    pub fn name(self) -> &'static str {
        match self {
            ApproxKind::Lists => "lists",
            ApproxKind::Forest => "forest",
        }
    }
}

/// How an approximate search searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApproxParams {
    pub kind: ApproxKind,
    /// Lists probed (`ApproxKind::Lists`); 0: as many as the calibration on this file chose
    /// (`ivf::DEFAULT_PROBES` before there is one).
    pub probes: usize,
    /// arroy oversampling (`ApproxKind::Forest`; 0: arroy's default).
    pub oversampling: usize,
}

impl Default for ApproxParams {
    fn default() -> Self {
        ApproxParams {
            kind: ApproxKind::Lists,
            probes: 0,
            oversampling: DEFAULT_OVERSAMPLING,
        }
    }
}

impl ApproxParams {
    /// The one number that sets this kind's speed against its recall.
    pub fn setting(&self) -> usize {
        match self.kind {
            ApproxKind::Lists => self.probes,
            ApproxKind::Forest => self.oversampling,
        }
    }
}

/// What a calibration measured on the file at hand (stored under "lists_calibration" or
/// "forest_calibration"): it chooses how many lists `--approx` probes, and tells exact search
/// whether the lists' cells answer on this file. It never switches the default search from
/// exact to approximate (issue 23: timings vary between builds, answers must not).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ApproxCalibration {
    pub kind: ApproxKind,
    /// The structure it was measured on (its `built_at`): a rebuilt one is measured again.
    pub built_at: u64,
    pub queries: usize,
    /// `ApproxParams::setting` it was measured at (probes or oversampling).
    pub setting: usize,
    /// Median latency of one top-10 query.
    pub exact_ms: f64,
    pub approx_ms: f64,
    /// Mean recall@10 against the exact answers.
    pub recall: f64,
    /// Of the lists' calibration: the share of its exact queries that the lists' cells
    /// answered (`ivf::exact_top_k`), so exact search tries the cells only on files where they
    /// answer (none: measured before cells existed, or a forest's).
    #[serde(default)]
    pub exact_by_cells: Option<f64>,
}

/// The inverted lists' record (stored under "lists" once the lists are complete).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListsMeta {
    pub lists: usize,
    /// Rows in the lists (the non-zero ones).
    pub rows: usize,
    /// Bytes of the lists and their centroids.
    pub bytes: u64,
    pub seconds: f64,
    pub built_at: u64,
    /// xxh3-64 of the centroids, of the cells' records and of every key and value of the `ivf`
    /// table (hex).
    pub checksum: String,
    /// The checksums of the lists' parts, so that a search verifies what it reads and no more
    /// (none: lists built before them, verified whole before a search reads them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<ListsParts>,
}

/// The checksums of the lists' parts (xxh3-64, hex): each is verified on its first read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListsParts {
    /// Of the centroids (meta key "lists_centroids").
    pub centroids: String,
    /// Of the cells' records, keys and values in `CELL_RECORDS` order (as `TableHasher`).
    pub cells: String,
    /// Of the record "lists_sums": the xxh3-64 of each list's value, u64 LE, in list order.
    pub sums: String,
}

/// The approximate-search forest's record (stored under "forest" once the forest is complete).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForestMeta {
    pub trees: usize,
    pub seconds: f64,
    pub built_at: u64,
    /// xxh3-64 of every key and value of the forest's table, in key order (hex).
    #[serde(default)]
    pub checksum: String,
}

/// The identity of a file's current content as far as the file system can tell: any write,
/// rename or replacement changes at least one field (ctime cannot be set by `touch`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

impl FileStat {
    pub fn of(path: &Path) -> std::io::Result<FileStat> {
        FileStat::from_metadata(&fs::metadata(path)?)
    }

    pub fn of_file(file: &File) -> std::io::Result<FileStat> {
        FileStat::from_metadata(&file.metadata()?)
    }

    pub(super) fn from_metadata(m: &fs::Metadata) -> std::io::Result<FileStat> {
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        Ok(FileStat {
            size: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        })
    }
}

/// Checksums recorded at build time (stored as JSON under "checksums").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct Checksums {
    /// Of the "meta" record's bytes.
    pub(super) meta: u64,
    pub(super) word2id: u64,
    pub(super) id2word: u64,
    pub(super) unit: Vec<u64>,
    pub(super) quant: Vec<u64>,
    pub(super) scale: Vec<u64>,
    /// Of each n-gram chunk (models with subwords).
    #[serde(default)]
    pub(super) ngrams: Vec<u64>,
    /// Of each `pcstage` chunk and of the stage's basis (meta key "pc_basis").
    #[serde(default)]
    pub(super) pcstage: Vec<u64>,
    #[serde(default)]
    pub(super) pc_basis: u64,
    /// Of each `norms` chunk and, when the rows have labels, each `labels` chunk (`side`).
    #[serde(default)]
    pub(super) norms: Vec<u64>,
    #[serde(default)]
    pub(super) labels: Vec<u64>,
    /// Of each `weights` chunk, when the rows have token weights (model2vec).
    #[serde(default)]
    pub(super) weights: Vec<u64>,
    /// Of `id2word` in runs of `word_chunk` ids (keys and values as `TableHasher` adds them),
    /// so that a word is verified on its first read (none: an index built before them, whose
    /// word tables are verified whole first).
    #[serde(default)]
    pub(super) id2word_chunks: Vec<u64>,
    #[serde(default)]
    pub(super) word_chunk: usize,
}

/// Ids per checksum of `id2word` (`Checksums::id2word_chunks`): a word read verifies the
/// 4,096 around it (about 0.1 ms), not the table's 3M.
pub(super) const WORD_CHUNK: usize = 4096;

/// The stat proof kept beside `data.mdb` (see the `index` module docs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct Proof {
    /// `data.mdb` right after its last full verification.
    pub(super) data: FileStat,
    /// The source when its content last matched `Meta::source_hash`.
    pub(super) source: FileStat,
    /// Each of `Meta::companions`, in order, when its content last matched its hash (empty:
    /// not known; their content decides).
    #[serde(default)]
    pub(super) companions: Vec<FileStat>,
}

/// A record stored with its own checksum: its JSON with a last member `"xxh3"` holding the
/// xxh3-64 of the JSON without it. Records written after the build (the lists' and forest's
/// records and their calibrations, written by whichever process builds or calibrates) are
/// sealed this way, so that one changed byte in them is damage that verification finds and no
/// reader uses; older versions of vecsh read them still (serde ignores the extra member).
pub(super) fn sealed<T: Serialize>(record: &T) -> Vec<u8> {
    let mut json = serde_json::to_vec(record).expect("records serialise");
    let sum = xxhash_rust::xxh3::xxh3_64(&json);
    json.pop();
    json.extend_from_slice(format!(",\"xxh3\":\"{sum:016x}\"}}").as_bytes());
    json
}

/// What a stored record checks before anything reads it: values it may hold.
pub(super) trait Record: serde::de::DeserializeOwned + Serialize {
    fn check(&self) -> std::result::Result<(), String>;
}

/// Reads a record written by [`sealed`] (or, by an older version, without a checksum) and
/// checks it: `Err` says what is wrong with it.
pub(super) fn unseal<T: Record>(bytes: &[u8]) -> std::result::Result<T, String> {
    // `,"xxh3":"` + 16 hex digits + `"}`
    const TAIL: usize = 9 + 16 + 2;
    let record: T = match bytes.len().checked_sub(TAIL).map(|at| bytes.split_at(at)) {
        Some((body, tail)) if tail.starts_with(b",\"xxh3\":\"") => {
            let want = std::str::from_utf8(&tail[9..25])
                .ok()
                .and_then(|h| u64::from_str_radix(h, 16).ok());
            let mut json = body.to_vec();
            json.push(b'}');
            if tail[25..] != *b"\"}" || want != Some(xxhash_rust::xxh3::xxh3_64(&json)) {
                return Err("checksum mismatch".into());
            }
            serde_json::from_slice(&json).map_err(|e| format!("unreadable: {e}"))?
        }
        // Written by an older version, without a checksum: read only if it is exactly what
        // this version would write for it (a damaged member name, e.g. of the checksum, would
        // otherwise pass as an unknown member).
        _ => {
            let value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| format!("unreadable: {e}"))?;
            let record: T =
                serde_json::from_value(value.clone()).map_err(|e| format!("unreadable: {e}"))?;
            if serde_json::to_value(&record).ok() != Some(value) {
                return Err("unreadable: members this version does not write".into());
            }
            record
        }
    };
    record.check()?;
    Ok(record)
}

impl Record for ApproxCalibration {
    fn check(&self) -> std::result::Result<(), String> {
        let share = |x: f64| (0.0..=1.0).contains(&x);
        let ms = |x: f64| x.is_finite() && x >= 0.0;
        if self.setting == 0 {
            return Err("setting 0".into());
        }
        if self.queries == 0 || !share(self.recall) || !ms(self.exact_ms) || !ms(self.approx_ms) {
            return Err("implausible measurements".into());
        }
        if self.exact_by_cells.is_some_and(|x| !share(x)) {
            return Err("implausible share of cells".into());
        }
        Ok(())
    }
}

impl Record for ListsMeta {
    fn check(&self) -> std::result::Result<(), String> {
        if self.lists == 0 || self.rows < self.lists || self.checksum.len() != 16 {
            return Err(format!(
                "implausible record ({} lists over {} rows)",
                self.lists, self.rows
            ));
        }
        Ok(())
    }
}

impl Record for ForestMeta {
    fn check(&self) -> std::result::Result<(), String> {
        if self.trees == 0 || self.checksum.len() != 16 {
            return Err(format!("implausible record ({} trees)", self.trees));
        }
        Ok(())
    }
}

/// The metadata records of the lists' cells (`ivf::Cells`): centroids, caps, ends.
pub(super) const CELL_RECORDS: [&str; 3] =
    ["lists_cell_centroids", "lists_cell_caps", "lists_cell_ends"];

/// The metadata record of each list's checksum (`ListsParts::sums`).
pub(super) const LIST_SUMS: &str = "lists_sums";

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration() -> ApproxCalibration {
        ApproxCalibration {
            kind: ApproxKind::Lists,
            built_at: 1_700_000_000,
            queries: 65,
            setting: 8,
            exact_ms: 1.5,
            approx_ms: 0.25,
            recall: 0.97,
            exact_by_cells: Some(0.5),
        }
    }

    /// A sealed record reads back; any changed byte in it is refused; a record of an older
    /// version (no checksum) is read when its values are plausible.
    #[test]
    fn sealed_records_refuse_any_changed_byte() {
        let sealed_bytes = sealed(&calibration());
        assert_eq!(
            unseal::<ApproxCalibration>(&sealed_bytes),
            Ok(calibration())
        );
        for at in 0..sealed_bytes.len() {
            let mut bytes = sealed_bytes.clone();
            bytes[at] ^= 0x01;
            assert!(
                unseal::<ApproxCalibration>(&bytes).is_err(),
                "byte {at} changed: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let legacy = serde_json::to_vec(&calibration()).unwrap();
        assert_eq!(unseal::<ApproxCalibration>(&legacy), Ok(calibration()));
        let zero = String::from_utf8(legacy)
            .unwrap()
            .replace("\"setting\":8", "\"setting\":0");
        assert!(unseal::<ApproxCalibration>(zero.as_bytes()).is_err());
    }
}
