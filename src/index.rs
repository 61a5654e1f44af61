//! The embedding store: one LMDB environment per embedding file, built once and reused.
//!
//! It holds the vocabulary (word → id, id → word; ids in file order, which is frequency order
//! for GloVe and word2vec), metadata, the unit-normalised vectors laid out contiguously in
//! chunks (so exact search scans them zero-copy from the memory map), their int8 copy for the
//! fast exact scan (see `search`), and, once built, the arroy forest for approximate search.
//!
//! Safety of builds: an index is built in a sibling directory and renamed into place only when
//! complete, under an exclusive file lock, so a killed build never leaves an index that opens
//! as valid, and two processes opening the same new file build it once. vecsh removes or
//! replaces only directories it can prove it made (its marker file, or an LMDB environment and
//! nothing else): a user's directory or file given as `--index` is refused, untouched.
//!
//! Trust: LMDB has no checksums, so every stored table and vector chunk (the forest too) has
//! an xxh3 checksum recorded at build time, of the very bytes written. A full verification
//! reads and hashes everything; it runs at every open that asks for it (sessions, `vecsh
//! eval`), and at any open whose `data.mdb` no longer matches the stat proof (size, mtime,
//! ctime, inode, device) recorded right after the last full verification or build: any write
//! to the file changes those. A build does not read its index back (4.4 GB at 3M x 300). Before a page is touched, the file's size is checked against the pages LMDB's meta
//! page says are used (a truncated map would crash the process with SIGBUS). Staleness: any
//! change of the source's size, mtime, ctime, inode or device means its whole content is hashed
//! and compared before the index is reused.

use std::borrow::Cow;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arroy::distances::Cosine;
use heed::byteorder::BigEndian;
use heed::types::{Bytes, Str, U32};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, PutFlags, RoTxn, WithoutTls};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::ivf;
use crate::lmdb_check;
use crate::loader::{self, Format, LoadOptions};
use crate::progress::{Progress, Unit};
use crate::search::{self, Hit, PcStage, QuantRows, Query, Rows};
use crate::text::escape_path;

/// Bumped whenever the stored layout changes; an index of another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 5;
/// Trees `vecsh build` puts in the forest unless told otherwise (see the README for the
/// recall and build-time measurements behind this choice).
pub const DEFAULT_TREES: usize = 30;
/// Rows per stored vector chunk. Chunks keep each LMDB value (and each write transaction)
/// bounded: 65,536 rows × 300 dims × 4 bytes = 75 MiB at most for common files.
const ROWS_PER_CHUNK: usize = 1 << 16;
/// The exact search's principal-component stage is built for files with at least this many
/// rows and `PC_MIN_DIMS` dimensions, and used for searches over at least this many rows:
/// below, the int8 copy stays in the cache and the stage does not pay (README, performance).
const PC_MIN_ROWS: usize = 200_000;
const PC_MIN_DIMS: usize = 128;

/// `PC_MIN_ROWS`, or `VECSH_PC_MIN_ROWS` when set: tests build the stage on small files.
fn pc_min_rows() -> usize {
    std::env::var("VECSH_PC_MIN_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PC_MIN_ROWS)
}
/// Virtual only: LMDB maps this much address space; the file grows as needed.
const MAP_SIZE: usize = 1 << 40;
/// LMDB keys are limited to 511 bytes; longer words are stored under a hashed key.
const MAX_KEY: usize = 500;
/// The file vecsh writes into every index directory it creates: the proof that it may remove
/// or replace that directory.
const MARKER: &str = "vecsh-index";
/// The stat proof of the last full verification (see the module docs).
const PROOF: &str = "verified.json";
/// The first bytes of every lock file vecsh creates, so that only those are ever removed.
const LOCK_TAG: &[u8] = b"vecsh lock\n";

type Id = U32<BigEndian>;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Load(#[from] loader::LoadError),
    // The underlying errors are part of the message and deliberately not `source()`: a chain
    // printer would show them a second time.
    #[error("cannot read {}: {err}", escape_path(path))]
    Source { path: PathBuf, err: std::io::Error },
    #[error("index {}: {err}", escape_path(path))]
    Io { path: PathBuf, err: std::io::Error },
    #[error("index {}: {err}", escape_path(path))]
    Lmdb { path: PathBuf, err: heed::Error },
    #[error("index {}: approximate-search forest: {err}", escape_path(path))]
    Forest { path: PathBuf, err: arroy::Error },
    #[error(
        "index {} is not a complete vecsh index (interrupted build?); it will be rebuilt",
        escape_path(path)
    )]
    Incomplete { path: PathBuf },
    #[error(
        "index {} is damaged ({what}); open its embedding file to rebuild it",
        escape_path(path)
    )]
    Damaged { path: PathBuf, what: String },
    #[error("--index {}: not a vecsh index and not empty (it holds {holds}); vecsh only writes into a new or empty directory or one of its own indexes", escape_path(path))]
    NotAnIndex { path: PathBuf, holds: String },
    #[error(
        "no space left on device while writing the index in {} (it needs about {needed_mb} MB)",
        escape_path(path)
    )]
    NoSpace { path: PathBuf, needed_mb: u64 },
    #[error("--index {}: not a directory; vecsh only writes into a new or empty directory or one of its own indexes", escape_path(path))]
    NotADirectory { path: PathBuf },
    #[error("--index {}: the current directory cannot hold an index (it would be replaced); name a subdirectory", escape_path(path))]
    CurrentDir { path: PathBuf },
    #[error("the index was opened read-only; building the forest needs write access")]
    ReadOnly,
    #[error("the forest build was cancelled")]
    Cancelled,
    #[error("no cache directory: set VECSH_CACHE or HOME, or pass --index DIR")]
    NoCacheDir,
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

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
}

/// The oversampling a forest search uses unless told otherwise (and that a forest's
/// calibration measures).
pub const DEFAULT_OVERSAMPLING: usize = 8;
/// Lists probed for the exact search's seeds (`Store::exact_seeds`): a fraction of a
/// millisecond, and their best rows are nearly always near the answer's k-th score.
const EXACT_SEED_PROBES: usize = 8;

/// Queries a calibration times (the first one only warms up).
pub const CALIBRATION_QUERIES: usize = 65;

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
/// "forest_calibration"): the auto mode searches approximately only where it pays there,
/// instead of from a fixed vocabulary size. At 3M x 300 (README) arroy's forest was slower
/// than the exact scan at equal recall; the lists are ~10x faster.
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

impl ApproxCalibration {
    /// Approximate search pays when it finds at least 90 % of the exact top 10 in at most a
    /// third of the exact scan's time: otherwise exact, which is also exact, stays the answer
    /// (on GloVe 6B 50d the lists take 0.6 ms against exact's 0.9 ms: not worth the misses).
    pub fn pays(&self) -> bool {
        self.recall >= 0.9 && self.approx_ms * 3.0 <= self.exact_ms
    }

    /// `pays` for searches with `params`: a measurement of another kind or setting says
    /// nothing. Lists searched "as calibrated" (probes 0) search at the measured setting.
    pub fn pays_for(&self, params: &ApproxParams) -> bool {
        let as_calibrated = params.kind == ApproxKind::Lists && params.probes == 0;
        self.kind == params.kind
            && (self.setting == params.setting() || as_calibrated)
            && self.pays()
    }
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
}

/// What a build of an approximate structure made.
#[derive(Debug, Clone, PartialEq)]
pub enum Built {
    Lists(ListsMeta),
    Forest(ForestMeta),
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

    fn from_metadata(m: &fs::Metadata) -> std::io::Result<FileStat> {
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

/// How much an open checks the index's integrity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verify {
    /// Read and hash everything (sessions, `vecsh eval`: they never answer from damage).
    #[default]
    Full,
    /// Trust the stat proof of the last full verification when `data.mdb` still matches it;
    /// verify fully otherwise (one-shot processes, which must stay fast).
    Proof,
}

/// Checksums recorded at build time (stored as JSON under "checksums").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Checksums {
    /// Of the "meta" record's bytes.
    meta: u64,
    word2id: u64,
    id2word: u64,
    unit: Vec<u64>,
    quant: Vec<u64>,
    scale: Vec<u64>,
    /// Of each n-gram chunk (models with subwords).
    #[serde(default)]
    ngrams: Vec<u64>,
    /// Of each `pcstage` chunk and of the stage's basis (meta key "pc_basis").
    #[serde(default)]
    pcstage: Vec<u64>,
    #[serde(default)]
    pc_basis: u64,
}

/// What a full verification found, table by table.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub index: PathBuf,
    /// (table, problem or `None` when intact)
    pub tables: Vec<(String, Option<String>)>,
    pub bytes: u64,
    pub seconds: f64,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.tables.iter().all(|(_, problem)| problem.is_none())
    }

    /// The first problem, named with its table.
    pub fn first_problem(&self) -> Option<String> {
        self.tables
            .iter()
            .find_map(|(t, p)| p.as_ref().map(|p| format!("{t}: {p}")))
    }
}

/// The stat proof kept beside `data.mdb` (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Proof {
    /// `data.mdb` right after its last full verification.
    data: FileStat,
    /// The source when its content last matched `Meta::source_hash`.
    source: FileStat,
}

/// Serde for paths as bytes: a UTF-8 path is a JSON string, any other a `{"bytes": [..]}`.
mod raw_path {
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

/// How an index was obtained by `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A current index was found and reused.
    Reused,
    /// This process built it.
    Built,
    /// Another process was building it; this one waited and then reused it.
    Waited,
}

/// Where the index lives and how to read the source.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Use exactly this directory for the index (`--index DIR`).
    pub index_dir: Option<PathBuf>,
    /// The cache root under which an index directory is derived (`VECSH_CACHE` or XDG cache).
    pub cache_dir: Option<PathBuf>,
    pub load: LoadOptions,
    /// Rebuild even if a current index exists (`--rebuild`).
    pub rebuild: bool,
    /// Open for writing so the forest can be built later in this process.
    pub writable: bool,
    /// How much of the index is checked before it is used.
    pub verify: Verify,
    /// Build the exact search's principal-component stage (`vecsh build`). A first open leaves
    /// it out: projecting 3M x 300 rows costs that open ~10 s more and a second pass over the
    /// vectors (README, performance), against ~2x faster exact queries afterwards.
    pub exact_stage: bool,
}

#[derive(Clone, Copy)]
struct Dbs {
    meta: Database<'static, Str, Bytes>,
    word2id: Database<'static, Bytes, Id>,
    id2word: Database<'static, Id, Str>,
    unit: Database<'static, Id, Bytes>,
    quant: Database<'static, Id, Bytes>,
    scale: Database<'static, Id, Bytes>,
    forest: arroy::Database<'static, Cosine>,
    /// N-gram (bucket) rows, raw, chunk → rows; only for models with subwords.
    ngrams: Option<Database<'static, Id, Bytes>>,
    /// The exact search's first stage, chunk → [int8 rows | scales | residual bounds].
    pcstage: Option<Database<'static, Id, Bytes>>,
    /// The inverted lists, list → [ids | scales | int8 rows] (`ivf::write_list`); empty until
    /// they are built.
    ivf: Database<'static, Id, Bytes>,
}

const DB_NAMES: [&str; 10] = [
    "meta", "word2id", "id2word", "unit", "quant", "scale", "arroy", "ngrams", "pcstage", "ivf",
];

/// An open index. Cheap to query from one thread; `env()` may be shared with a forest builder.
pub struct Store {
    // Declared before `env` so the transaction ends first.
    rtxn: RoTxn<'static, WithoutTls>,
    env: Env<WithoutTls>,
    dbs: Dbs,
    dir: PathBuf,
    meta: Meta,
    writable: bool,
    /// Whether this open ran a full verification (false: the stat proof stood for it).
    verified_now: bool,
    /// Set for the temporary index of a stream: removed last, after the environment closed.
    temporary: Option<RemoveOnDrop>,
    /// The source, opened once, when the rows are read from it (`Meta::unit_in_source`),
    /// with its stat then: a later change of it is an error at the next read.
    source: Option<std::result::Result<(File, FileStat), String>>,
    source_path: PathBuf,
}

/// Removes a temporary index directory when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Temporary indexes of streams are `vecsh-stream-PID-N` in the temp dir.
const STREAM_PREFIX: &str = "vecsh-stream-";

/// Removes temporary stream indexes (marked as vecsh's) whose process is gone.
fn remove_dead_streams(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(STREAM_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let path = entry.path();
        if pid.is_some_and(|pid| !process_alive(pid)) && path.join(MARKER).is_file() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// The cache root: `$VECSH_CACHE`, else the XDG cache dir (`~/.cache/vecsh`).
pub fn default_cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("VECSH_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "vecsh")
        .map(|d| d.cache_dir().to_path_buf())
        .ok_or(IndexError::NoCacheDir)
}

/// The index directory for `source` under the given options.
pub fn index_dir_for(source: &Path, opts: &OpenOptions) -> Result<PathBuf> {
    if let Some(dir) = &opts.index_dir {
        return Ok(dir.clone());
    }
    let root = match &opts.cache_dir {
        Some(dir) => dir.clone(),
        None => default_cache_dir()?,
    };
    let canonical = fs::canonicalize(source).map_err(|e| source_err(source, e))?;
    // Everything that changes the index's content is part of its name; the path as raw bytes,
    // so that two non-UTF-8 names never share an index.
    let mut identity = canonical.as_os_str().as_bytes().to_vec();
    identity.extend_from_slice(
        format!(
            "\0{:?}\0{:?}\0{:?}",
            opts.load.limit, opts.load.member, opts.load.format
        )
        .as_bytes(),
    );
    let name: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    Ok(root.join(format!("{name}-{:016x}", xxh3_64(&identity))))
}

/// Refuses an `--index` target that vecsh did not make: a regular file, the current
/// directory, or a non-empty directory that is not a vecsh index. Nothing is touched.
fn check_target(dir: &Path, in_cache: bool) -> Result<()> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, e)),
    };
    if !meta.is_dir() {
        return Err(IndexError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let here = std::env::current_dir().and_then(fs::canonicalize).ok();
    if here.is_some() && fs::canonicalize(dir).ok() == here {
        return Err(IndexError::CurrentDir {
            path: dir.to_path_buf(),
        });
    }
    if is_vecsh_dir(dir, in_cache) {
        return Ok(());
    }
    let mut entries: Vec<String> = fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .flatten()
        .map(|e| crate::text::escape_bytes(e.file_name().as_bytes()))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort();
    let n = entries.len();
    let mut holds = entries.into_iter().take(3).collect::<Vec<_>>().join(", ");
    if n > 3 {
        holds.push_str(&format!(" and {} more", n - 3));
    }
    Err(IndexError::NotAnIndex {
        path: dir.to_path_buf(),
        holds,
    })
}

/// Whether `dir` is provably vecsh's: it holds vecsh's marker, or, in vecsh's own cache only
/// (an index built before the marker existed, or one damaged there), nothing but LMDB's files.
fn is_vecsh_dir(dir: &Path, in_cache: bool) -> bool {
    if dir.join(MARKER).is_file() {
        return true;
    }
    if !in_cache {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let mut has_data = false;
    for entry in entries.flatten() {
        match entry.file_name().as_bytes() {
            b"data.mdb" => has_data = true,
            b"lock.mdb" => {}
            _ => return false,
        }
    }
    has_data
}

/// `vecsh info --verify`: checks the existing index of `source` completely (every table and
/// chunk, the forest, and whether the source still has the content it was built from)
/// without rebuilding anything. A truncated or unreadable index is a report, not an error.
pub fn verify_index(source: &Path, opts: &OpenOptions) -> Result<VerifyReport> {
    let started = Instant::now();
    let dir = index_dir_for(source, opts)?;
    let in_cache = opts.index_dir.is_none();
    check_target(&dir, in_cache)?;
    let damaged = |what: String| VerifyReport {
        index: dir.clone(),
        tables: vec![("data.mdb".into(), Some(what))],
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
    };
    if !dir.join("data.mdb").is_file() || !is_vecsh_dir(&dir, in_cache) {
        return Ok(damaged(
            "missing: no index has been built for this file".into(),
        ));
    }
    let data = dir.join("data.mdb");
    let before = FileStat::of(&data).ok();
    let store = match Store::open_dir(&dir, false) {
        Ok(store) => store,
        Err(
            e @ (IndexError::Damaged { .. }
            | IndexError::Incomplete { .. }
            | IndexError::Lmdb { .. }),
        ) => return Ok(damaged(e.to_string())),
        Err(e) => return Err(e),
    };
    let mut report = store.verify()?;
    let source_stat = FileStat::of(source).map_err(|e| source_err(source, e))?;
    let current =
        store.meta.schema == SCHEMA_VERSION && hash_file(source)? == store.meta.source_hash;
    report.tables.push((
        "source".into(),
        (!current).then(|| "changed since the index was built (it will be rebuilt)".into()),
    ));
    report.seconds = started.elapsed().as_secs_f64();
    if report.is_intact() && before.is_some() && FileStat::of(&data).ok() == before {
        write_proof(
            &dir,
            &Proof {
                data: before.unwrap_or(source_stat),
                source: source_stat,
            },
        );
    }
    Ok(report)
}

impl Store {
    /// Opens the index for `source`, building it first when it is missing, stale, damaged or
    /// forced.
    pub fn open(
        source: &Path,
        opts: &OpenOptions,
        progress: &dyn Progress,
    ) -> Result<(Store, Origin)> {
        let source_meta = fs::metadata(source).map_err(|e| source_err(source, e))?;
        if !source_meta.is_file() {
            return Store::open_stream(source, opts, progress);
        }
        let dir = index_dir_for(source, opts)?;
        let in_cache = opts.index_dir.is_none();
        check_target(&dir, in_cache)?;
        let stat = FileStat::of(source).map_err(|e| source_err(source, e))?;
        if !opts.rebuild {
            if let Some(store) = Store::open_current(&dir, &stat, source, opts, progress)? {
                return Ok((store, Origin::Reused));
            }
        }
        let parent = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
        let lock_path = sibling(&dir, ".lock");
        let lock = open_lock(&lock_path)?;
        let waited = match lock.try_lock() {
            Ok(()) => false,
            Err(_) => {
                progress.note(&format!(
                    "waiting for another vecsh process building {}",
                    escape_path(&dir)
                ));
                lock.lock().map_err(|e| io_err(&lock_path, e))?;
                true
            }
        };
        // Another process may have finished the same build while we waited for the lock.
        if waited && !opts.rebuild {
            if let Some(store) = Store::open_current(&dir, &stat, source, opts, progress)? {
                return Ok((store, Origin::Waited));
            }
        }
        let built = build(source, &stat, &dir, in_cache, opts, progress).and_then(|()| {
            // No read-back (it cost a 3M x 300 first open 4.4 GB of reads and as much resident
            // memory): the checksums are of the bytes just written, and the map was seen to
            // show them (`Room::fill`). The proof lets the next one-shot open trust the file
            // as it is now; any later write voids it.
            let data = dir.join("data.mdb");
            let before = FileStat::of(&data).map_err(|e| io_err(&data, e))?;
            let mut store = Store::open_dir(&dir, opts.writable)?;
            store.verified_now = true;
            if !store.read_rows_from(source, &stat) {
                return Err(source_err(
                    source,
                    std::io::Error::other("it changed while vecsh was reading it"),
                ));
            }
            if FileStat::of(&data).ok() == Some(before) {
                write_proof(
                    &dir,
                    &Proof {
                        data: before,
                        source: stat,
                    },
                );
            }
            Ok(store)
        });
        if built.is_err() && !dir.exists() {
            // Nothing was made: the lock file of this failed open would only accumulate.
            let _ = fs::remove_file(&lock_path);
        }
        drop(lock);
        Ok((built?, Origin::Built))
    }

    /// A FIFO, process substitution or device: read once as a stream into a temporary index
    /// (under the temp dir) that is removed when the store is dropped; never reused.
    fn open_stream(
        source: &Path,
        opts: &OpenOptions,
        progress: &dyn Progress,
    ) -> Result<(Store, Origin)> {
        static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let root = std::env::temp_dir();
        remove_dead_streams(&root);
        let dir = root.join(format!(
            "{STREAM_PREFIX}{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        let stat = FileStat::of(source).map_err(|e| source_err(source, e))?;
        let guard = RemoveOnDrop(dir.clone());
        build(source, &stat, &dir, true, opts, progress)?;
        let mut store = Store::open_dir(&dir, opts.writable)?;
        store.verify_or_damaged()?;
        store.verified_now = true;
        store.temporary = Some(guard);
        Ok((store, Origin::Built))
    }

    /// Opens `dir` if it holds a complete, intact index of the current schema for this source.
    fn open_current(
        dir: &Path,
        stat: &FileStat,
        source: &Path,
        opts: &OpenOptions,
        progress: &dyn Progress,
    ) -> Result<Option<Store>> {
        if !dir.join("data.mdb").is_file() || !is_vecsh_dir(dir, opts.index_dir.is_none()) {
            return Ok(None);
        }
        let mut store = match Store::open_dir(dir, opts.writable) {
            Ok(store) => store,
            Err(IndexError::Damaged { what, .. }) => {
                progress.note(&format!(
                    "index {} is damaged ({what}); rebuilding it",
                    escape_path(dir)
                ));
                return Ok(None);
            }
            // Anything unreadable is treated as absent: it gets rebuilt, never trusted.
            Err(_) => return Ok(None),
        };
        // A fastText model indexed before n-grams were stored lacks them: rebuild.
        let incomplete = store.meta.format == Format::FastTextBin && store.meta.subwords.is_none();
        if store.meta.schema != SCHEMA_VERSION
            || store.meta.source_stat.size != stat.size
            || incomplete
            || (opts.exact_stage && !store.meta.pc_decided)
        {
            return Ok(None);
        }
        let proof = read_proof(dir);
        let source_known =
            store.meta.source_stat == *stat || proof.as_ref().is_some_and(|p| p.source == *stat);
        // Any change of the source's stat: its whole content decides.
        if !source_known && hash_file(source)? != store.meta.source_hash {
            return Ok(None);
        }
        if !store.read_rows_from(source, stat) {
            return Ok(None);
        }
        let data_stat = FileStat::of(&dir.join("data.mdb")).ok();
        let proven = opts.verify == Verify::Proof
            && source_known
            && data_stat.is_some()
            && proof.as_ref().map(|p| p.data) == data_stat;
        if !proven {
            // Whatever stops the verification, the index is not trusted: it is rebuilt.
            if let Err(e) = store.verify_or_damaged() {
                let what = match e {
                    IndexError::Damaged { what, .. } => what,
                    other => other.to_string(),
                };
                progress.note(&format!(
                    "index {} is damaged ({what}); rebuilding it",
                    escape_path(dir)
                ));
                return Ok(None);
            }
            store.verified_now = true;
            // Recorded only if nothing wrote to the file while it was being verified.
            let after = FileStat::of(&dir.join("data.mdb")).ok();
            if let (Some(before), true) = (data_stat, data_stat == after) {
                write_proof(
                    dir,
                    &Proof {
                        data: before,
                        source: *stat,
                    },
                );
            }
        }
        Ok(Some(store))
    }

    /// Opens an existing index directory as it is (no staleness check, no verification; the
    /// file's size is checked against LMDB's meta page first, so truncation is an error).
    pub fn open_dir(dir: &Path, writable: bool) -> Result<Store> {
        let damaged = |what: String| IndexError::Damaged {
            path: dir.to_path_buf(),
            what,
        };
        // Before any page is mapped: the file holds the pages LMDB's newest meta page says are
        // in use (a shorter file would raise SIGBUS on first touch of a missing page), and the
        // main tree and the meta table, which opening the databases and reading the record
        // below walk, are sound (LMDB would crash on some damage there; see `lmdb_check`).
        lmdb_check::check_only(&dir.join("data.mdb"), &["meta"]).map_err(damaged)?;
        let env = open_env(dir, !writable).map_err(|e| lmdb_err(dir, e))?;
        let rtxn = env.read_txn().map_err(|e| lmdb_err(dir, e))?;
        let opened = env
            .open_databases_and_commit(rtxn, |opener, rtxn| -> heed::Result<_> {
                let meta = opener.open_database::<Str, Bytes>(rtxn, Some("meta"))?;
                let word2id = opener.open_database::<Bytes, Id>(rtxn, Some("word2id"))?;
                let id2word = opener.open_database::<Id, Str>(rtxn, Some("id2word"))?;
                let unit = opener.open_database::<Id, Bytes>(rtxn, Some("unit"))?;
                let quant = opener.open_database::<Id, Bytes>(rtxn, Some("quant"))?;
                let scale = opener.open_database::<Id, Bytes>(rtxn, Some("scale"))?;
                let forest = opener.open_database::<arroy::internals::KeyCodec, arroy::internals::NodeCodec<Cosine>>(rtxn, Some("arroy"))?;
                let ngrams = opener.open_database::<Id, Bytes>(rtxn, Some("ngrams"))?;
                let pcstage = opener.open_database::<Id, Bytes>(rtxn, Some("pcstage"))?;
                let ivf = opener.open_database::<Id, Bytes>(rtxn, Some("ivf"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((meta, word2id, id2word, unit, quant, scale, forest, (ngrams, pcstage, ivf))))
            })
            .map_err(|e| lmdb_err(dir, e))?;
        let incomplete = || IndexError::Incomplete {
            path: dir.to_path_buf(),
        };
        let (
            Some(meta),
            Some(word2id),
            Some(id2word),
            Some(unit),
            Some(quant),
            Some(scale),
            Some(forest),
            (ngrams, pcstage, Some(ivf)),
        ) = opened.unwrap_commit()
        else {
            return Err(incomplete());
        };
        let dbs = Dbs {
            meta,
            word2id,
            id2word,
            unit,
            quant,
            scale,
            forest,
            ngrams,
            pcstage,
            ivf,
        };
        let rtxn = env
            .clone()
            .static_read_txn()
            .map_err(|e| lmdb_err(dir, e))?;
        let bounds = MapBounds::of(&env, &dir.join("data.mdb"));
        let meta: Meta = dbs
            .meta
            .get(&rtxn, "meta")
            .map_err(|e| lmdb_err(dir, e))?
            .filter(|bytes| bounds.holds(bytes))
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .ok_or_else(incomplete)?;
        let source = meta.unit_in_source.then(|| open_source(&meta.source));
        Ok(Store {
            rtxn,
            env,
            dbs,
            dir: dir.to_path_buf(),
            source,
            source_path: meta.source.clone(),
            meta,
            writable,
            verified_now: false,
            temporary: None,
        })
    }

    /// Whether this open verified the whole index (false: the stat proof of an earlier full
    /// verification stood for it).
    pub fn verified_now(&self) -> bool {
        self.verified_now
    }

    /// Verifies fully and turns a problem into `IndexError::Damaged`.
    fn verify_or_damaged(&mut self) -> Result<()> {
        let report = self.verify()?;
        match report.first_problem() {
            None => Ok(()),
            Some(what) => Err(IndexError::Damaged {
                path: self.dir.clone(),
                what,
            }),
        }
    }

    /// Reads and hashes every stored table and vector chunk (and the forest, when there is
    /// one) and compares them with the checksums recorded at build time.
    pub fn verify(&self) -> Result<VerifyReport> {
        let started = Instant::now();
        // LMDB trusts its pages (a damaged node can crash it): the whole structure is checked
        // from the file first, and the tables are read through LMDB only when it holds.
        if let Err(what) = lmdb_check::check(&self.dir.join("data.mdb")) {
            return Ok(self.report(vec![("data.mdb".into(), Some(what))], 0, started));
        }
        match self.verify_tables() {
            // A read that fails inside LMDB (a damaged page: MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
            // then MDB_BAD_TXN for the rest of the transaction) is damage, not an I/O error.
            Err(e @ (IndexError::Lmdb { .. } | IndexError::Forest { .. })) => Ok(self.report(
                vec![("data.mdb".into(), Some(format!("unreadable: {e}")))],
                0,
                started,
            )),
            other => other,
        }
    }

    fn verify_tables(&self) -> Result<VerifyReport> {
        let started = Instant::now();
        let lmdb = |e| lmdb_err(&self.dir, e);
        let bounds = MapBounds::of(&self.env, &self.dir.join("data.mdb"));
        let outside = |what: &str| Some(format!("{what} points past the end of data.mdb"));
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        let mut tables: Vec<(String, Option<String>)> = Vec::new();
        let mut bytes = 0u64;
        let sums: Option<Checksums> = self
            .dbs
            .meta
            .get(&rtxn, "checksums")
            .map_err(lmdb)?
            .filter(|b| bounds.holds(b))
            .and_then(|b| serde_json::from_slice(b).ok());
        let Some(sums) = sums else {
            tables.push(("checksums".into(), Some("missing or unreadable".into())));
            return Ok(self.report(tables, bytes, started));
        };
        let meta_bytes = self
            .dbs
            .meta
            .get(&rtxn, "meta")
            .map_err(lmdb)?
            .filter(|b| bounds.holds(b))
            .unwrap_or_default();
        tables.push((
            "meta".into(),
            (xxh3_64(meta_bytes) != sums.meta).then(|| "checksum mismatch".into()),
        ));
        let mismatch = |what: &str| Some(format!("checksum mismatch{what}"));
        // The two word tables, hashed in key order exactly as the build hashed them.
        for (name, db, want) in [
            (
                "word2id",
                self.dbs.word2id.remap_types::<Bytes, Bytes>(),
                sums.word2id,
            ),
            (
                "id2word",
                self.dbs.id2word.remap_types::<Bytes, Bytes>(),
                sums.id2word,
            ),
        ] {
            let mut hasher = TableHasher::default();
            let mut problem = None;
            match db.iter(&rtxn) {
                Ok(iter) => {
                    for entry in iter {
                        match entry {
                            Ok((k, v)) if !bounds.holds(k) || !bounds.holds(v) => {
                                problem = outside("an entry");
                                break;
                            }
                            Ok((k, v)) => hasher.add(k, v),
                            Err(e) => {
                                problem = Some(e.to_string());
                                break;
                            }
                        }
                    }
                }
                Err(e) => problem = Some(e.to_string()),
            }
            bytes += hasher.bytes;
            if problem.is_none() && name == "id2word" && hasher.entries != self.meta.words as u64 {
                problem = Some(format!(
                    "{} words, expected {}",
                    hasher.entries, self.meta.words
                ));
            }
            if problem.is_none() && hasher.finish() != want {
                problem = mismatch("");
            }
            tables.push((name.into(), problem));
        }
        let n_chunks = self.meta.words.div_ceil(self.meta.rows_per_chunk.max(1));
        let ngram_chunks = self
            .meta
            .subwords
            .as_ref()
            .map_or(0, |s| s.buckets.div_ceil(self.meta.rows_per_chunk.max(1)));
        let mut chunked = vec![
            ("unit", self.dbs.unit, &sums.unit, n_chunks),
            ("quant", self.dbs.quant, &sums.quant, n_chunks),
            ("scale", self.dbs.scale, &sums.scale, n_chunks),
        ];
        if let (Some(db), true) = (self.dbs.ngrams, self.meta.subwords.is_some()) {
            chunked.push(("ngrams", db, &sums.ngrams, ngram_chunks));
        }
        if self.meta.pc_dims > 0 {
            let basis = self
                .dbs
                .meta
                .get(&rtxn, "pc_basis")
                .map_err(lmdb)?
                .filter(|b| bounds.holds(b));
            let problem = match basis {
                None => Some("missing".to_string()),
                Some(b) => {
                    bytes += b.len() as u64;
                    (xxh3_64(b) != sums.pc_basis).then(|| "checksum mismatch".to_string())
                }
            };
            tables.push(("pc_basis".into(), problem));
            match self.dbs.pcstage {
                Some(db) => chunked.push(("pcstage", db, &sums.pcstage, n_chunks)),
                None => tables.push(("pcstage".into(), Some("missing".into()))),
            }
        }
        for (name, db, want, n_chunks) in chunked {
            let mut problem = None;
            if want.len() != n_chunks {
                problem = Some(format!(
                    "{} chunk checksums for {n_chunks} chunks",
                    want.len()
                ));
            }
            for (c, &want) in want.iter().enumerate() {
                match db.get(&rtxn, &(c as u32)) {
                    Ok(Some(value)) if !bounds.holds(value) => {
                        problem = outside(&format!("chunk {c}"));
                        break;
                    }
                    Ok(Some(value)) => {
                        bytes += value.len() as u64;
                        if xxh3_64(value) != want {
                            problem = mismatch(&format!(" in chunk {c}"));
                            break;
                        }
                    }
                    Ok(None) => {
                        problem = Some(format!("chunk {c} missing"));
                        break;
                    }
                    Err(e) => {
                        problem = Some(format!("chunk {c}: {e}"));
                        break;
                    }
                }
            }
            tables.push((name.into(), problem));
        }
        if let Some(bytes_json) = self.dbs.meta.get(&rtxn, "forest").map_err(lmdb)? {
            let record = Some(bytes_json)
                .filter(|b| bounds.holds(b))
                .and_then(|b| serde_json::from_slice::<ForestMeta>(b).ok());
            let problem = match record {
                None => Some("unreadable record".to_string()),
                Some(record) => match forest_checksum(&rtxn, self.dbs.forest, Some(&bounds)) {
                    Err(e) => Some(e.to_string()),
                    Ok((sum, n)) => {
                        bytes += n;
                        (format!("{sum:016x}") != record.checksum)
                            .then(|| "checksum mismatch".into())
                    }
                },
            };
            tables.push(("forest".into(), problem));
        }
        if let Some(bytes_json) = self.dbs.meta.get(&rtxn, "lists").map_err(lmdb)? {
            let record = Some(bytes_json)
                .filter(|b| bounds.holds(b))
                .and_then(|b| serde_json::from_slice::<ListsMeta>(b).ok());
            let problem = match record {
                None => Some("unreadable record".to_string()),
                Some(record) => match lists_checksum(&rtxn, &self.dbs, &bounds) {
                    Err(e) => Some(e.to_string()),
                    Ok((sum, n, lists)) => {
                        bytes += n;
                        if lists != record.lists {
                            Some(format!("{lists} lists, expected {}", record.lists))
                        } else {
                            (format!("{sum:016x}") != record.checksum)
                                .then(|| "checksum mismatch".into())
                        }
                    }
                },
            };
            tables.push(("lists".into(), problem));
        }
        Ok(self.report(tables, bytes, started))
    }

    fn report(
        &self,
        tables: Vec<(String, Option<String>)>,
        bytes: u64,
        started: Instant,
    ) -> VerifyReport {
        VerifyReport {
            index: self.dir.clone(),
            tables,
            bytes,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

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
        let id = self.dbs.word2id.get(&self.rtxn, &key).ok().flatten()?;
        // A hashed key could in principle collide: confirm the word itself.
        (key.len() < MAX_KEY || self.word(id) == Some(word)).then_some(id)
    }

    pub fn word(&self, id: u32) -> Option<&str> {
        self.dbs.id2word.get(&self.rtxn, &id).ok().flatten()
    }

    /// Words in id (file) order.
    pub fn words(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.dbs
            .id2word
            .iter(&self.rtxn)
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

    /// The unit vector of `id`, from the stored copy or read from the source
    /// (`Meta::unit_in_source`); `None` for an id out of range.
    pub fn unit_row(&self, id: u32) -> Result<Option<Cow<'_, [f32]>>> {
        let id = id as usize;
        if id >= self.len() {
            return Ok(None);
        }
        let dims = self.dims();
        if let Some(file) = self.source_file()? {
            let at = self.row_offset(id).ok_or_else(|| IndexError::Damaged {
                path: self.dir.clone(),
                what: format!("no source offset for row {id}"),
            })?;
            let row = read_source_rows(file, &at, dims).map_err(|e| self.source_error(e))?;
            return Ok(Some(Cow::Owned(row)));
        }
        let rpc = self.meta.rows_per_chunk;
        let Some(chunk) = self.chunk(self.dbs.unit, (id / rpc) as u32) else {
            return Ok(None);
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
    fn read_rows_from(&mut self, source: &Path, stat: &FileStat) -> bool {
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
    /// never rows of another file.
    fn source_file(&self) -> Result<Option<&File>> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let (file, stat) = source
            .as_ref()
            .map_err(|e| self.source_error(std::io::Error::other(e.clone())))?;
        let now = FileStat::of_file(file).map_err(|e| self.source_error(e))?;
        if now != *stat {
            return Err(self.source_error(std::io::Error::other(
                "it changed since vecsh opened it; open it again to rebuild the index",
            )));
        }
        Ok(Some(file))
    }

    fn source_error(&self, err: std::io::Error) -> IndexError {
        IndexError::Source {
            path: self.source_path.clone(),
            err,
        }
    }

    /// Row `id`'s offset in the source (u64 LE), for an index that reads rows from there.
    fn row_offset(&self, id: usize) -> Option<[u8; 8]> {
        let rpc = self.meta.rows_per_chunk;
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
            None => Ok(self.chunk(self.dbs.unit, chunk).unwrap_or_default()),
            Some(file) => {
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
            let chunk = self.chunk(db, (b / rpc) as u32)?;
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

    /// The int8 copy used by the exact scan.
    pub fn quant_rows(&self) -> QuantRows<'_> {
        quant_rows_in(&self.rtxn, &self.dbs, &self.meta)
    }

    fn rows(&self, db: Database<'static, Id, Bytes>, row_len: usize) -> Rows<'_, f32> {
        let n_chunks = self.len().div_ceil(self.meta.rows_per_chunk);
        let chunks = (0..n_chunks as u32)
            .map(|c| self.chunk(db, c).unwrap_or_default())
            .collect();
        Rows {
            row_len,
            rows_per_chunk: self.meta.rows_per_chunk,
            chunks,
            len: self.len(),
        }
    }

    fn chunk(&self, db: Database<'static, Id, Bytes>, chunk: u32) -> Option<Cow<'_, [f32]>> {
        let bytes = db.get(&self.rtxn, &chunk).ok().flatten()?;
        Some(search::cast_or_copy(bytes))
    }

    /// The exact search's principal-component stage, when the index has one.
    pub fn pc_stage(&self) -> Option<PcStage<'_>> {
        let p = self.meta.pc_dims;
        let db = self.dbs.pcstage?;
        if p == 0 {
            return None;
        }
        let basis = self.dbs.meta.get(&self.rtxn, "pc_basis").ok().flatten()?;
        let basis = search::cast_or_copy(basis);
        let rpc = self.meta.rows_per_chunk;
        let n_chunks = self.len().div_ceil(rpc);
        let (mut rows, mut scales, mut resid) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..n_chunks {
            let blob = db.get(&self.rtxn, &(c as u32)).ok().flatten()?;
            let n = rpc.min(self.len() - c * rpc);
            if blob.len() != n * (p + 8) {
                return None;
            }
            let (r, rest) = blob.split_at(n * p);
            let (s, e) = rest.split_at(n * 4);
            rows.push(Cow::Borrowed(bytemuck::cast_slice::<u8, i8>(r)));
            for (out, bytes) in [(&mut scales, s), (&mut resid, e)] {
                out.push(search::cast_or_copy(bytes));
            }
        }
        let rows_of = |row_len| (row_len, rpc, self.len());
        let (_, _, len) = rows_of(0);
        Some(PcStage {
            dims: self.dims(),
            p,
            basis,
            rows: Rows {
                row_len: p,
                rows_per_chunk: rpc,
                chunks: rows,
                len,
            },
            scales: Rows {
                row_len: 1,
                rows_per_chunk: rpc,
                chunks: scales,
                len,
            },
            resid: Rows {
                row_len: 1,
                rows_per_chunk: rpc,
                chunks: resid,
                len,
            },
        })
    }

    /// Exact top-k by cosine over the stored unit vectors: through the principal-component
    /// stage when the index has one and the search covers enough rows for it to pay.
    pub fn exact_top_k(&self, query: &Query) -> Result<Vec<Hit>> {
        Ok(self.exact_top_k_counted(query)?.0)
    }

    /// [`Store::exact_top_k`] and how many rows each stage passed on (for the benchmark).
    pub fn exact_top_k_counted(&self, query: &Query) -> Result<(Vec<Hit>, search::StageCounts)> {
        self.exact_counted(query, self.cells_pay())
    }

    /// Whether exact search tries the lists' cells: unless the lists' calibration measured
    /// that they seldom answer on this file (e.g. GloVe 6B 50d: 3 % of queries, and trying
    /// costs the cached full scan 0.2-0.5 ms).
    fn cells_pay(&self) -> bool {
        self.calibration(ApproxKind::Lists)
            .and_then(|c| c.exact_by_cells)
            .is_none_or(|share| share >= CELLS_MIN_SHARE)
    }

    /// [`Store::exact_top_k_counted`], trying the lists' cells first or not.
    fn exact_counted(
        &self,
        query: &Query,
        try_cells: bool,
    ) -> Result<(Vec<Hit>, search::StageCounts)> {
        let Some(file) = self.source_file()? else {
            return self.exact_over(&self.unit_rows()?, query, try_cells);
        };
        // Only the rows the f32 stage rescores are read (a few dozen a query, ~1 µs each).
        let n_chunks = self.len().div_ceil(self.meta.rows_per_chunk);
        let offsets = (0..n_chunks as u32)
            .map(|c| {
                self.dbs
                    .unit
                    .get(&self.rtxn, &c)
                    .map(Option::unwrap_or_default)
            })
            .collect::<heed::Result<_>>()
            .map_err(|e| lmdb_err(&self.dir, e))?;
        let unit = SourceRows {
            file,
            offsets,
            rows_per_chunk: self.meta.rows_per_chunk,
            dims: self.dims(),
            len: self.len(),
            failed: std::sync::Mutex::new(None),
        };
        let found = self.exact_over(&unit, query, try_cells);
        match unit.failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(self.source_error(e)),
            None => found,
        }
    }

    /// The exact search with its f32 rows read from `unit`: through the lists' cells when the
    /// index has them and they leave few rows to read, else a scan of every row (through the
    /// principal-component stage when the index has one and the search covers enough rows
    /// for it to pay).
    fn exact_over(
        &self,
        unit: &(impl search::UnitRows + ?Sized),
        query: &Query,
        try_cells: bool,
    ) -> Result<(Vec<Hit>, search::StageCounts)> {
        let stage = self
            .pc_stage()
            .filter(|_| query.limit.min(self.len()) >= pc_min_rows());
        let quant = self.quant_rows();
        // The lists path reads a list's rows at 8 + stride bytes each; the full scan reads
        // every row below the limit at its first stage's width. The lists go first only when
        // they would read under half as much (both reads are sequential).
        let limit = query.limit.min(self.len());
        let scan_width = match &stage {
            Some(stage) => stage.p + 8,
            None => search::quant_stride(self.dims()) + 4,
        };
        let budget_rows = limit * scan_width / (search::quant_stride(self.dims()) + 8) / 2;
        let tried = match try_cells {
            true => self.exact_through_lists(unit, query, budget_rows)?,
            false => None,
        };
        let seeds = match tried {
            Some(ivf::ListsExact::Answer(hits, counts)) => return Ok((hits, counts)),
            Some(ivf::ListsExact::TooWide { seeds }) => seeds,
            None if stage.is_some() => self.exact_seeds(query)?,
            None => Vec::new(),
        };
        Ok(search::exact_top_k_seeded(
            unit,
            &quant,
            stage.as_ref(),
            query,
            &seeds,
        ))
    }

    /// The exact search through the lists' cells (`ivf::exact_top_k`); `None` when the index
    /// has no lists, or lists built before their cells were stored.
    fn exact_through_lists(
        &self,
        unit: &(impl search::UnitRows + ?Sized),
        query: &Query,
        budget_rows: usize,
    ) -> Result<Option<ivf::ListsExact>> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        if self.dbs.meta.get(&rtxn, "lists").map_err(lmdb)?.is_none() {
            return Ok(None);
        }
        let mut cell_records = Vec::with_capacity(CELL_RECORDS.len());
        for key in CELL_RECORDS {
            match self.dbs.meta.get(&rtxn, key).map_err(lmdb)? {
                Some(bytes) => cell_records.push(bytes),
                None => return Ok(None),
            }
        }
        let cell_centroids = search::cast_or_copy::<f32>(cell_records[0]);
        let caps = search::cast_or_copy::<f32>(cell_records[1]);
        let ends = search::cast_or_copy::<u32>(cell_records[2]);
        let cells = ivf::CellsView {
            centroids: &cell_centroids,
            caps: &caps,
            ends: &ends,
        };
        let centroids = self.lists_centroids(&rtxn)?;
        let found = ivf::exact_top_k(
            &centroids,
            cells,
            self.dims(),
            unit,
            query,
            budget_rows,
            |l| self.stored_list(&rtxn, l),
            |what| self.damaged(format!("lists: {what}")),
        )?;
        Ok(Some(found))
    }

    fn damaged(&self, what: String) -> IndexError {
        IndexError::Damaged {
            path: self.dir.clone(),
            what,
        }
    }

    /// The lists' centroids in snapshot `rtxn` (empty without lists).
    fn lists_centroids<'t>(&self, rtxn: &'t RoTxn<WithoutTls>) -> Result<Cow<'t, [f32]>> {
        let dims = self.dims();
        let bytes = self
            .dbs
            .meta
            .get(rtxn, "lists_centroids")
            .map_err(|e| lmdb_err(&self.dir, e))?
            .unwrap_or_default();
        if !bytes.len().is_multiple_of(4 * dims) {
            return Err(self.damaged(format!(
                "lists: centroids of {} bytes for {dims} dims",
                bytes.len()
            )));
        }
        Ok(search::cast_or_copy(bytes))
    }

    /// List `l` as stored in snapshot `rtxn`.
    fn stored_list<'t>(&self, rtxn: &'t RoTxn<WithoutTls>, l: usize) -> Result<ivf::ListView<'t>> {
        let bytes = self
            .dbs
            .ivf
            .get(rtxn, &(l as u32))
            .map_err(|e| lmdb_err(&self.dir, e))?
            .ok_or_else(|| self.damaged(format!("lists: list {l} missing")))?;
        ivf::read_list(bytes, self.dims())
            .map_err(|e| self.damaged(format!("lists: list {l}: {e}")))
    }

    /// Seeds for the exact search's first stage: the inverted lists' candidates from their
    /// `EXACT_SEED_PROBES` nearest lists, when the index has lists (none otherwise). They
    /// only start the stage's floor near the answer (at 3M × 300 clustered, the rows passing
    /// the first stage fell from 0.17 % to 0.02 %); the answer stays exact without them.
    pub fn exact_seeds(&self, query: &Query) -> Result<Vec<u32>> {
        let mut q = query.vector.to_vec();
        let normal = search::normalize(&mut q) != 0.0;
        Ok(self
            .lists_candidates(&q, query, EXACT_SEED_PROBES, normal)?
            .unwrap_or_default())
    }

    /// The forest's record, read afresh (a forest built by another thread or process shows up).
    pub fn forest(&self) -> Option<ForestMeta> {
        self.record("forest")
    }

    /// The inverted lists' record, read afresh.
    pub fn lists(&self) -> Option<ListsMeta> {
        self.record("lists")
    }

    /// Whether approximate search of `kind` can run (its structure is complete).
    pub fn approx_ready(&self, kind: ApproxKind) -> bool {
        self.approx_built_at(kind).is_some()
    }

    fn approx_built_at(&self, kind: ApproxKind) -> Option<u64> {
        match kind {
            ApproxKind::Lists => self.lists().map(|l| l.built_at),
            ApproxKind::Forest => self.forest().map(|f| f.built_at),
        }
    }

    fn record<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let rtxn = self.env.read_txn().ok()?;
        let bytes = self.dbs.meta.get(&rtxn, key).ok().flatten()?;
        serde_json::from_slice(bytes).ok()
    }

    /// The calibration of the current structure of `kind`, read afresh; `None` without one, or
    /// before its calibration (then auto search stays exact).
    pub fn calibration(&self, kind: ApproxKind) -> Option<ApproxCalibration> {
        let built_at = self.approx_built_at(kind)?;
        self.record::<ApproxCalibration>(calibration_key(kind))
            .filter(|c| c.kind == kind && c.built_at == built_at)
    }

    /// Measures approximate search with `params` against the exact scan on `queries` rows
    /// spread over the file (each row's own top 10, itself excluded), and stores the result
    /// when the index is writable. About a second at 3M x 300; `None` while the structure of
    /// that kind is not built.
    pub fn calibrate(
        &self,
        params: &ApproxParams,
        queries: usize,
    ) -> Result<Option<ApproxCalibration>> {
        let Some(built_at) = self.approx_built_at(params.kind) else {
            return Ok(None);
        };
        let n = self.len();
        // Each query row read once; zero vectors have no neighbours to compare.
        let mut rows = Vec::new();
        for i in 0..queries.max(1) {
            let id = (i * n / queries.max(1)) as u32;
            if let Some(v) = self.unit_row(id)?.filter(|v| v.iter().any(|&x| x != 0.0)) {
                rows.push((id, v.into_owned()));
            }
        }
        let median = |mut xs: Vec<f64>| {
            xs.sort_by(f64::total_cmp);
            xs.get(xs.len() / 2).copied().unwrap_or(0.0)
        };
        // The exact answers once; the first query warms the caches and the thread pool, so it
        // is not timed (unless it is the only one).
        let timed = |i: usize| i > 0 || rows.len() == 1;
        // Each row's own top 10, itself excluded (a fn: a closure cannot tie its result's
        // lifetime to its argument's).
        fn own_top_10((id, v): &(u32, Vec<f32>), limit: usize) -> Query<'_> {
            Query {
                vector: v,
                k: 10,
                exclude: std::slice::from_ref(id),
                limit,
            }
        }
        let query = |row| own_top_10(row, n);
        // Exact search as it will run once this calibration is stored: first with the cells
        // tried, which measures how often they answer; where that is too seldom for them to be
        // tried later, timed again without them (trying them made GloVe's exact queries look
        // 30 % slower than they then are, and auto chose the lists by that).
        let lists_kind = params.kind == ApproxKind::Lists;
        let time_exact = |try_cells: bool| -> Result<(Vec<f64>, Vec<Vec<Hit>>, usize)> {
            let (mut ms, mut truth, mut by_cells) = (Vec::new(), Vec::new(), 0);
            for (i, row) in rows.iter().enumerate() {
                let t = Instant::now();
                let (exact, counts) = self.exact_counted(&query(row), try_cells)?;
                if timed(i) {
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                by_cells += usize::from(counts.cells_read > 0);
                truth.push(exact);
            }
            Ok((ms, truth, by_cells))
        };
        let (mut exact_ms, truth, by_cells) = time_exact(lists_kind || self.cells_pay())?;
        let cells_share =
            (lists_kind && !rows.is_empty()).then(|| by_cells as f64 / rows.len() as f64);
        if lists_kind && cells_share.is_some_and(|share| share < CELLS_MIN_SHARE) {
            exact_ms = time_exact(false)?.0;
        }
        // Recall and median latency of approximate search at `at`.
        let measure = |at: &ApproxParams| -> Result<(f64, f64)> {
            let (mut ms, mut found, mut wanted) = (Vec::new(), 0usize, 0usize);
            for (i, (row, exact)) in rows.iter().zip(&truth).enumerate() {
                let t = Instant::now();
                let approx = self.approx_top_k(&query(row), at)?.unwrap_or_default();
                if timed(i) {
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                wanted += exact.len();
                found += exact
                    .iter()
                    .filter(|h| approx.iter().any(|x| x.id == h.id))
                    .count();
            }
            let recall = if wanted == 0 {
                0.0
            } else {
                found as f64 / wanted as f64
            };
            Ok((recall, median(ms)))
        };
        // The lists with probes 0 ("as calibrated") are tuned here: the fewest probes whose
        // recall on these queries reaches `ivf::TARGET_RECALL`. How many that takes depends on
        // the data (README: 16 on the clustered and the harder 3M x 300 sets, 96-128 on GloVe).
        let (setting, (recall, approx_ms)) =
            if params.kind == ApproxKind::Lists && params.probes == 0 {
                let lists = self.lists().map_or(1, |l| l.lists.max(1));
                let mut chosen = None;
                for &p in ivf::PROBE_STEPS {
                    let p = p.min(lists);
                    let at = ApproxParams {
                        probes: p,
                        ..*params
                    };
                    let got = measure(&at)?;
                    chosen = Some((p, got));
                    if got.0 >= ivf::TARGET_RECALL || p == lists {
                        break;
                    }
                }
                chosen.unwrap_or((ivf::DEFAULT_PROBES, (0.0, 0.0)))
            } else {
                (params.setting(), measure(params)?)
            };
        let calibration = ApproxCalibration {
            kind: params.kind,
            built_at,
            queries: rows.len(),
            setting,
            exact_ms: median(exact_ms),
            approx_ms,
            recall,
            exact_by_cells: cells_share,
        };
        if self.writable {
            self.store_calibration(&calibration)?;
        }
        Ok(Some(calibration))
    }

    /// Records a calibration (what `calibrate` measured; tests set one directly).
    pub fn store_calibration(&self, calibration: &ApproxCalibration) -> Result<()> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let mut wtxn = self.env.write_txn().map_err(lmdb)?;
        let json = serde_json::to_vec(calibration).expect("calibration serialises");
        self.dbs
            .meta
            .put(&mut wtxn, calibration_key(calibration.kind), &json)
            .map_err(lmdb)?;
        wtxn.commit().map_err(lmdb)
    }

    /// Approximate top-k, rescored exactly in f32 (only recall is approximate); `None` while
    /// the structure `params.kind` names is not built.
    pub fn approx_top_k(&self, query: &Query, params: &ApproxParams) -> Result<Option<Vec<Hit>>> {
        let mut q = query.vector.to_vec();
        let normal = search::normalize(&mut q) != 0.0;
        let found = match params.kind {
            ApproxKind::Lists => {
                let probes = match params.probes {
                    0 => self
                        .calibration(ApproxKind::Lists)
                        .map_or(ivf::DEFAULT_PROBES, |c| c.setting),
                    p => p,
                };
                self.lists_candidates(&q, query, probes, normal)?
            }
            ApproxKind::Forest => self.forest_candidates(&q, query, params.oversampling, normal)?,
        };
        let Some(found) = found else {
            return Ok(None);
        };
        let mut hits = Vec::with_capacity(found.len());
        for id in found {
            if query.exclude.contains(&id) || id as usize >= query.limit {
                continue;
            }
            if let Some(row) = self.unit_row(id)? {
                hits.push(Hit {
                    id,
                    score: search::dot(&row, &q),
                });
            }
        }
        search::sort_hits(&mut hits);
        hits.truncate(query.k);
        Ok(Some(hits))
    }

    /// Candidates from the inverted lists: the best `ivf::candidates_for(k)` by int8 score
    /// among the `probes` nearest lists.
    fn lists_candidates(
        &self,
        q: &[f32],
        query: &Query,
        probes: usize,
        normal: bool,
    ) -> Result<Option<Vec<u32>>> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        // The lists count only once their record is committed; checked in the same snapshot
        // the search reads.
        if self.dbs.meta.get(&rtxn, "lists").map_err(lmdb)?.is_none() {
            return Ok(None);
        }
        if !normal || query.k == 0 {
            return Ok(Some(Vec::new()));
        }
        let centroids = self.lists_centroids(&rtxn)?;
        let found = ivf::candidates(
            &centroids,
            self.dims(),
            q,
            probes,
            ivf::candidates_for(query.k),
            query.exclude,
            query.limit,
            |l| self.stored_list(&rtxn, l),
        )?;
        Ok(Some(found.into_iter().map(|(id, _)| id).collect()))
    }

    /// Candidates from the arroy forest. Asks for k plus the excluded words so that excluded
    /// inputs never cost places.
    fn forest_candidates(
        &self,
        q: &[f32],
        query: &Query,
        oversampling: usize,
        normal: bool,
    ) -> Result<Option<Vec<u32>>> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        if self.dbs.meta.get(&rtxn, "forest").map_err(lmdb)?.is_none() {
            return Ok(None);
        }
        if !normal {
            return Ok(Some(Vec::new()));
        }
        let forest_err = |e| IndexError::Forest {
            path: self.dir.clone(),
            err: e,
        };
        let reader =
            arroy::Reader::<Cosine>::open(&rtxn, 0, self.dbs.forest).map_err(forest_err)?;
        let restricted: roaring::RoaringBitmap;
        let mut nns = reader.nns(query.k + query.exclude.len());
        if let Some(n) = std::num::NonZeroUsize::new(oversampling) {
            nns.oversampling(n);
        }
        if query.limit < self.len() {
            restricted = (0..query.limit as u32).collect();
            nns.candidates(&restricted);
        }
        let found = nns.by_vector(&rtxn, q).map_err(forest_err)?;
        Ok(Some(found.into_iter().map(|(id, _)| id).collect()))
    }

    /// Builds the arroy forest now and measures it (see `ApproxBuilder::build_forest`).
    pub fn build_forest(
        &self,
        trees: usize,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<ForestMeta> {
        let meta = self
            .approx_builder()?
            .build_forest(trees, progress, cancel)?;
        let params = ApproxParams {
            kind: ApproxKind::Forest,
            ..ApproxParams::default()
        };
        self.calibrate(&params, CALIBRATION_QUERIES)?;
        Ok(meta)
    }

    /// Builds the inverted lists now and measures them (see `ApproxBuilder::build_lists`).
    pub fn build_lists(&self, progress: &dyn Progress, cancel: &AtomicBool) -> Result<ListsMeta> {
        let meta = self.approx_builder()?.build_lists(progress, cancel)?;
        self.calibrate(&ApproxParams::default(), CALIBRATION_QUERIES)?;
        Ok(meta)
    }

    /// Whether approximate structures can be built through this store (it was opened writable).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// A handle that builds the lists or the forest on another thread while this store keeps
    /// answering.
    pub fn approx_builder(&self) -> Result<ApproxBuilder> {
        if !self.writable {
            return Err(IndexError::ReadOnly);
        }
        let source = match self.source_file()? {
            Some(file) => Some(file.try_clone().map_err(|e| self.source_error(e))?),
            None => None,
        };
        Ok(ApproxBuilder {
            env: self.env.clone(),
            dbs: self.dbs,
            dir: self.dir.clone(),
            meta: self.meta.clone(),
            source,
        })
    }
}

/// Where the calibration of `kind` is stored in "meta".
fn calibration_key(kind: ApproxKind) -> &'static str {
    match kind {
        ApproxKind::Lists => "lists_calibration",
        ApproxKind::Forest => "forest_calibration",
    }
}

/// The int8 copy of an index as read through `rtxn`.
fn quant_rows_in<'t>(rtxn: &'t RoTxn<WithoutTls>, dbs: &Dbs, meta: &Meta) -> QuantRows<'t> {
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

/// Seed of the lists' k-means: an index's lists depend only on its rows.
const LISTS_SEED: u64 = 0x001f_5eed;

/// The share of a calibration's exact queries the cells must answer for exact search to keep
/// trying them (clustered 3M x 300: all; the harder set and GloVe 6B 50d: 0-3 %).
const CELLS_MIN_SHARE: f64 = 0.5;

/// The metadata records of the lists' cells (`ivf::Cells`): centroids, caps, ends.
const CELL_RECORDS: [&str; 3] = ["lists_cell_centroids", "lists_cell_caps", "lists_cell_ends"];
/// Bytes of lists written per transaction.
const LISTS_BATCH_BYTES: usize = 64 << 20;

/// Builds the approximate-search structures of one index; `Send`, so it can run in the
/// background.
pub struct ApproxBuilder {
    env: Env<WithoutTls>,
    dbs: Dbs,
    dir: PathBuf,
    meta: Meta,
    /// The source the rows are read from (`Meta::unit_in_source`).
    source: Option<File>,
}

impl ApproxBuilder {
    /// Builds `kind` (the forest with `trees` trees) on a thread pool of its own whose threads
    /// run at a low priority, for a build that runs while the same process answers queries.
    /// On rayon's global pool the exact scan queued behind arroy's tree jobs until the build
    /// was nearly done (a query typed 3 s into a 400k-word build took 40 s); on its own pool
    /// the build takes the cores only when the scan leaves them idle.
    pub fn build_in_background(
        &self,
        kind: ApproxKind,
        trees: usize,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<Built> {
        let run = || match kind {
            ApproxKind::Lists => self.build_lists(progress, cancel).map(Built::Lists),
            ApproxKind::Forest => self
                .build_forest(trees, progress, cancel)
                .map(Built::Forest),
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("vecsh-approx-{i}"))
            .start_handler(|_| lower_thread_priority())
            .build();
        match pool {
            Ok(pool) => pool.install(run),
            // No threads to be had: build on this thread, still at low priority.
            Err(_) => {
                lower_thread_priority();
                run()
            }
        }
    }

    /// Builds the inverted lists from the int8 copy: k-means outside any transaction (minutes
    /// at 3M x 300, while other processes may write their calibrations), then every list, the
    /// centroids and the record in one write transaction, so a cancelled or killed build
    /// commits nothing. Returns at once if the lists exist.
    pub fn build_lists(&self, progress: &dyn Progress, cancel: &AtomicBool) -> Result<ListsMeta> {
        self.build_lists_in_batches(progress, cancel, LISTS_BATCH_BYTES)
    }

    /// `build_lists` committing about `batch_bytes` of lists per transaction (tests use tiny
    /// batches to exercise the many-transaction path that only big files take).
    #[doc(hidden)]
    pub fn build_lists_in_batches(
        &self,
        progress: &dyn Progress,
        cancel: &AtomicBool,
        batch_bytes: usize,
    ) -> Result<ListsMeta> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let started = Instant::now();
        // Lists from before their cells were stored count as missing: they are built again
        // (the exact search needs the cells).
        let existing = |txn: &RoTxn<WithoutTls>| -> Result<Option<ListsMeta>> {
            for key in CELL_RECORDS {
                if self.dbs.meta.get(txn, key).map_err(lmdb)?.is_none() {
                    return Ok(None);
                }
            }
            Ok(self
                .dbs
                .meta
                .get(txn, "lists")
                .map_err(lmdb)?
                .and_then(|b| serde_json::from_slice(b).ok()))
        };
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        if let Some(meta) = existing(&rtxn)? {
            return Ok(meta);
        }
        let quant = quant_rows_in(&rtxn, &self.dbs, &self.meta);
        let dims = self.meta.dims;
        let done = std::sync::atomic::AtomicUsize::new(0);
        progress.start("lists", self.meta.words as u64, Unit::Rows);
        let layout = ivf::build(&quant, LISTS_SEED, cancel, &|rows| {
            let total = done.fetch_add(rows, Ordering::Relaxed) + rows;
            progress.set(total as u64);
        });
        progress.finish();
        let Some(layout) = layout.filter(|_| !cancel.load(Ordering::Relaxed)) else {
            return Err(IndexError::Cancelled);
        };
        // The lists go in in batches of transactions (one for all of them held 940 MB of dirty
        // pages in memory at 3M x 300); they count only once the record is committed, in the
        // last transaction, after every list was checked there, so a kill at any moment
        // leaves complete lists or none. Two processes building at once write the same bytes
        // (the layout depends only on the rows and the seed).
        let mut wtxn = self.env.write_txn().map_err(lmdb)?;
        if let Some(meta) = existing(&wtxn)? {
            return Ok(meta);
        }
        // Older lists stop counting in the same transaction that starts clearing them.
        self.dbs.meta.delete(&mut wtxn, "lists").map_err(lmdb)?;
        self.dbs.ivf.clear(&mut wtxn).map_err(lmdb)?;
        let mut list = Vec::new();
        let mut batch = 0usize;
        for l in 0..layout.lists() {
            let ids = layout.list(l);
            let len = ivf::list_bytes(ids.len(), dims);
            list.clear();
            list.resize(len, 0);
            ivf::write_list(ids, &quant, &mut list);
            self.dbs
                .ivf
                .put(&mut wtxn, &(l as u32), &list)
                .map_err(lmdb)?;
            batch += len;
            if batch >= batch_bytes {
                wtxn.commit().map_err(lmdb)?;
                if cancel.load(Ordering::Relaxed) {
                    return Err(IndexError::Cancelled);
                }
                wtxn = self.env.write_txn().map_err(lmdb)?;
                batch = 0;
            }
        }
        // Write transactions are serialised across processes, so this check inside one is final.
        if let Some(meta) = existing(&wtxn)? {
            return Ok(meta);
        }
        let centroid_bytes: &[u8] = bytemuck::cast_slice(&layout.centroids);
        self.dbs
            .meta
            .put(&mut wtxn, "lists_centroids", centroid_bytes)
            .map_err(lmdb)?;
        let mut hasher = TableHasher::default();
        hasher.add(b"centroids", centroid_bytes);
        let mut bytes = centroid_bytes.len() as u64;
        let cells = &layout.cells;
        let cell_bytes: [&[u8]; 3] = [
            bytemuck::cast_slice(&cells.centroids),
            bytemuck::cast_slice(&cells.caps),
            bytemuck::cast_slice(&cells.ends),
        ];
        for (key, value) in CELL_RECORDS.iter().zip(cell_bytes) {
            self.dbs.meta.put(&mut wtxn, key, value).map_err(lmdb)?;
            hasher.add(key.as_bytes(), value);
            bytes += value.len() as u64;
        }
        let mut stored = 0usize;
        for entry in self
            .dbs
            .ivf
            .remap_types::<Bytes, Bytes>()
            .iter(&wtxn)
            .map_err(lmdb)?
        {
            let (k, v) = entry.map_err(lmdb)?;
            let l = stored;
            let want = layout
                .offsets
                .get(l + 1)
                .map(|&end| ivf::list_bytes((end - layout.offsets[l]) as usize, dims));
            if k != (l as u32).to_be_bytes() || Some(v.len()) != want {
                // Another build cleared the table under this one: it finishes the lists.
                return Err(IndexError::Cancelled);
            }
            hasher.add(k, v);
            bytes += v.len() as u64;
            stored += 1;
        }
        if stored != layout.lists() {
            return Err(IndexError::Cancelled);
        }
        let meta = ListsMeta {
            lists: layout.lists(),
            rows: layout.ids.len(),
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            built_at: now_secs(),
            checksum: format!("{:016x}", hasher.finish()),
        };
        let json = serde_json::to_vec(&meta).expect("lists metadata serialises");
        self.dbs.meta.put(&mut wtxn, "lists", &json).map_err(lmdb)?;
        drop(quant);
        drop(rtxn);
        wtxn.commit().map_err(lmdb)?;
        Ok(meta)
    }

    /// Builds the forest with `trees` trees (0: arroy's default) in one write transaction: a
    /// cancelled or killed build commits nothing. Returns at once if a forest exists.
    pub fn build_forest(
        &self,
        trees: usize,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<ForestMeta> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let forest_err = |e| IndexError::Forest {
            path: self.dir.clone(),
            err: e,
        };
        let started = Instant::now();
        // Write transactions are serialised across processes, so this check inside one is final.
        let mut wtxn = self.env.write_txn().map_err(lmdb)?;
        if let Some(existing) = self.dbs.meta.get(&wtxn, "forest").map_err(lmdb)? {
            if let Ok(meta) = serde_json::from_slice::<ForestMeta>(existing) {
                return Ok(meta);
            }
        }
        let dims = self.meta.dims;
        let writer = arroy::Writer::<Cosine>::new(self.dbs.forest, 0, dims);
        writer.clear(&mut wtxn).map_err(forest_err)?;
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        let rpc = self.meta.rows_per_chunk;
        for chunk in 0..self.meta.words.div_ceil(rpc) {
            let bytes = self
                .dbs
                .unit
                .get(&rtxn, &(chunk as u32))
                .map_err(lmdb)?
                .unwrap_or_default();
            let rows: Vec<f32> = match &self.source {
                Some(file) => {
                    read_source_rows(file, bytes, dims).map_err(|e| IndexError::Source {
                        path: self.meta.source.clone(),
                        err: e,
                    })?
                }
                None => bytemuck::pod_collect_to_vec(bytes),
            };
            for (i, row) in rows.chunks_exact(dims).enumerate() {
                // Zero vectors stay out of the forest so they are never returned.
                if row.iter().any(|&x| x != 0.0) {
                    writer
                        .add_item(&mut wtxn, (chunk * rpc + i) as u32, row)
                        .map_err(forest_err)?;
                }
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(IndexError::Cancelled);
            }
        }
        drop(rtxn);
        // arroy hands over its tree counter once, when tree building starts, and bumps it
        // silently; the cancel check runs often during the build, so it reports the counter.
        let trees_done: std::sync::Mutex<Option<std::sync::Arc<std::sync::atomic::AtomicU32>>> =
            std::sync::Mutex::new(None);
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let mut builder = writer.builder(&mut rng);
        if trees > 0 {
            builder.n_trees(trees);
        }
        progress.start("forest", trees as u64, Unit::Trees);
        builder.progress(|p| {
            if let Some(sub) = p.sub.as_ref().filter(|sub| sub.unit.contains("tree")) {
                *trees_done.lock().unwrap_or_else(|e| e.into_inner()) = Some(sub.current.clone());
            }
        });
        builder.cancel(|| {
            if let Some(done) = &*trees_done.lock().unwrap_or_else(|e| e.into_inner()) {
                progress.set(done.load(Ordering::Relaxed) as u64);
            }
            cancel.load(Ordering::Relaxed)
        });
        let built = builder.build(&mut wtxn);
        progress.finish();
        if cancel.load(Ordering::Relaxed) {
            return Err(IndexError::Cancelled);
        }
        built.map_err(forest_err)?;
        let n_trees = arroy::Reader::<Cosine>::open(&wtxn, 0, self.dbs.forest)
            .map_err(forest_err)?
            .n_trees();
        let (sum, _) = forest_checksum(&wtxn, self.dbs.forest, None).map_err(lmdb)?;
        let meta = ForestMeta {
            trees: n_trees,
            seconds: started.elapsed().as_secs_f64(),
            built_at: now_secs(),
            checksum: format!("{sum:016x}"),
        };
        let json = serde_json::to_vec(&meta).expect("forest metadata serialises");
        self.dbs
            .meta
            .put(&mut wtxn, "forest", &json)
            .map_err(lmdb)?;
        wtxn.commit().map_err(lmdb)?;
        Ok(meta)
    }
}

/// Makes the calling thread yield the CPU to the rest of the process (nice 10: it still progresses beside other busy processes). On Linux the
/// nice value is per thread; elsewhere this does nothing and the pool of its own is what keeps
/// queries from waiting.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory effects; `who` 0 is the calling thread on Linux. A
    // failure only leaves the priority as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Builds the index for `source` aside and moves it into `dir`. The caller holds the lock and
/// has checked (`check_target`) that `dir` is absent, empty, or vecsh's own.
fn build(
    source: &Path,
    stat: &FileStat,
    dir: &Path,
    in_cache: bool,
    opts: &OpenOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let started = Instant::now();
    let parent = dir.parent().unwrap_or(Path::new("."));
    remove_leftovers(dir);
    let tmp = sibling(dir, &format!(".building-{}", std::process::id()));
    let made = fs::create_dir_all(&tmp)
        .and_then(|()| fs::write(tmp.join(MARKER), "vecsh index directory\n"))
        .map_err(|e| io_err(&tmp, e));
    let seen = BuildSeen::default();
    let result =
        made.and_then(|()| write_index(source, stat, &tmp, opts, progress, &seen, started));
    if let Err(e) = result {
        // A full disk shows up as ENOSPC or, from LMDB's writes, as EIO: decide from the
        // free space left, measured before the partial build is removed.
        let e = match no_space(&e, &tmp) {
            Some(used) => IndexError::NoSpace {
                path: parent.to_path_buf(),
                needed_mb: seen.estimate_mb(used, stat.size),
            },
            None => e,
        };
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let swapped = swap_in(&tmp, dir, in_cache);
    if swapped.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    swapped?;
    if let Ok(d) = File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// If `e` is a write failure on a file system that is (nearly) full, the bytes the partial
/// build in `tmp` had written.
fn no_space(e: &IndexError, tmp: &Path) -> Option<u64> {
    let io_like = matches!(
        e,
        IndexError::Io { .. }
            | IndexError::Lmdb { .. }
            | IndexError::Load(loader::LoadError::Sink(_))
    );
    if !io_like {
        return None;
    }
    // A preallocation the disk cannot hold fails at once with ENOSPC, however much is free.
    let enospc = |err: &std::io::Error| err.raw_os_error() == Some(libc::ENOSPC);
    let named = match e {
        IndexError::Io { err, .. } => enospc(err),
        IndexError::Lmdb {
            err: heed::Error::Io(err),
            ..
        } => enospc(err),
        IndexError::Load(loader::LoadError::Sink(err)) => {
            matches!(err.downcast_ref::<heed::Error>(), Some(heed::Error::Io(err)) if enospc(err))
        }
        _ => false,
    };
    if named {
        return Some(dir_bytes(tmp));
    }
    let free = free_bytes(tmp)?;
    // LMDB grows its file a page run at a time; what it could not get is at least a page.
    (free < 4 << 20).then(|| dir_bytes(tmp))
}

fn free_bytes(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// What a build had seen when it failed, to tell how much space the whole index needs.
#[derive(Default)]
struct BuildSeen {
    /// Source bytes read (compressed bytes for compressed files).
    read: std::sync::atomic::AtomicU64,
    rows: std::sync::atomic::AtomicU64,
    dims: std::sync::atomic::AtomicU64,
}

impl BuildSeen {
    /// The whole index's size in MB: the rows seen, extrapolated to the whole source, times
    /// what a row takes (unit vector, int8 copy, scale, two word-table entries) plus 15 %
    /// for LMDB's pages; never less than what was already written.
    fn estimate_mb(&self, written: u64, total: u64) -> u64 {
        let (read, rows) = (
            self.read.load(Ordering::Relaxed),
            self.rows.load(Ordering::Relaxed),
        );
        let dims = self.dims.load(Ordering::Relaxed) as usize;
        let rows = if read > 0 && total > read {
            rows as f64 * total as f64 / read as f64
        } else {
            rows as f64
        };
        let per_row = (dims * 4 + search::quant_stride(dims) + 4 + 64) as f64;
        let whole = (rows * per_row * 1.15) as u64;
        whole.max(written).div_ceil(1 << 20).max(1)
    }
}

/// Moves the finished build `tmp` to `dir`. An old index is moved away first so that `dir`
/// is never half-written; an empty directory is removed; anything else is refused (checked
/// again here: the directory may have changed while the build ran).
fn swap_in(tmp: &Path, dir: &Path, in_cache: bool) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Err(_) => {}
        Ok(m) if m.is_dir() && is_vecsh_dir(dir, in_cache) => {
            let old = sibling(dir, &format!(".old-{}", std::process::id()));
            fs::rename(dir, &old).map_err(|e| io_err(dir, e))?;
            // Marked before removal, so that a kill here leaves a leftover vecsh may remove.
            let _ = fs::write(old.join(MARKER), "vecsh index directory\n");
            fs::rename(tmp, dir).map_err(|e| io_err(dir, e))?;
            let _ = fs::remove_dir_all(&old);
            return Ok(());
        }
        Ok(_) => {
            check_target(dir, in_cache)?;
            // Empty: removing it loses nothing (`remove_dir` refuses a non-empty one).
            fs::remove_dir(dir).map_err(|e| io_err(dir, e))?;
        }
    }
    fs::rename(tmp, dir).map_err(|e| io_err(dir, e))
}

/// Removes what killed processes left beside `dir` (the caller holds `dir`'s lock): build and
/// replaced directories that carry vecsh's marker and whose process is gone, and vecsh's lock
/// files of indexes that do not exist and whose lock nobody holds.
fn remove_leftovers(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let name = name.as_bytes();
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let entry_name = file_name.as_bytes();
        if let Some(rest) = entry_name.strip_prefix(name) {
            let pid = rest
                .strip_prefix(b".building-")
                .or_else(|| rest.strip_prefix(b".old-"))
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                let path = entry.path();
                if pid != std::process::id() && !process_alive(pid) {
                    if path.join(MARKER).is_file() {
                        let _ = fs::remove_dir_all(&path);
                    } else {
                        // Killed between creating it and marking it: an empty directory,
                        // and `remove_dir` removes nothing else.
                        let _ = fs::remove_dir(&path);
                    }
                }
                continue;
            }
        }
        if let Some(stem) = entry_name.strip_suffix(b".lock") {
            let path = entry.path();
            let index = parent.join(std::ffi::OsStr::from_bytes(stem));
            if stem != name && !index.exists() && is_stale_lock(&path) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Whether `path` is a lock file vecsh created that nobody holds now.
fn is_stale_lock(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut file) = File::options().read(true).write(true).open(path) else {
        return false;
    };
    let mut head = [0u8; LOCK_TAG.len()];
    if file.read_exact(&mut head).is_err() || head != LOCK_TAG {
        return false;
    }
    // Holding it now proves nobody else does; it is released when `file` closes.
    file.try_lock().is_ok()
}

fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        // No procfs to ask: assume alive, so nothing of a running build is ever removed.
        return true;
    }
    // A zombie (killed, not yet reaped by its parent) or a dying process still has its
    // /proc entry, but will never finish a build. The state follows the command name, which
    // may itself contain ')' and blanks: take what follows the last ')'.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.trim_start().chars().next()),
            Some('Z' | 'X' | 'x')
        ),
        Err(_) => false,
    }
}

/// Opens (creating and tagging it when new) the lock file of an index.
fn open_lock(path: &Path) -> Result<File> {
    use std::io::Write;
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    if file.metadata().map(|m| m.len()).unwrap_or(1) == 0 {
        let _ = file.write_all(LOCK_TAG);
    }
    Ok(file)
}

fn read_proof(dir: &Path) -> Option<Proof> {
    serde_json::from_slice(&fs::read(dir.join(PROOF)).ok()?).ok()
}

/// Writes the proof atomically (a torn proof must not read as valid); failures only cost a
/// verification next time.
fn write_proof(dir: &Path, proof: &Proof) {
    let tmp = dir.join(format!("{PROOF}.{}", std::process::id()));
    let Ok(json) = serde_json::to_vec(proof) else {
        return;
    };
    if fs::write(&tmp, json).is_err() || fs::rename(&tmp, dir.join(PROOF)).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// xxh3-64 of a file's whole content (hex), read in 1 MiB blocks.
pub fn hash_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = File::open(path).map_err(|e| source_err(path, e))?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(source_err(path, e)),
        }
    }
    Ok(format!("{:016x}", hasher.digest()))
}

/// The part of LMDB's map that the file backs. A damaged node can claim a value that runs
/// past the end of `data.mdb`; touching those bytes would raise SIGBUS, so verification
/// checks every value's extent against this before reading it.
struct MapBounds {
    /// Each mapping of the file in this process (start, start + file length); `None`: unknown.
    maps: Option<Vec<(usize, usize)>>,
}

impl MapBounds {
    /// LMDB does not say where it mapped the file (`mdb_env_info`'s address is only that
    /// of a fixed map), so it is read from /proc/self/maps; where that is not available
    /// every extent is accepted.
    fn of(_env: &Env<WithoutTls>, data: &Path) -> MapBounds {
        let unknown = MapBounds { maps: None };
        let (Ok(path), Ok(maps)) = (
            fs::canonicalize(data),
            fs::read_to_string("/proc/self/maps"),
        ) else {
            return unknown;
        };
        let Some(path) = path.to_str() else {
            return unknown;
        };
        let len = fs::metadata(data).map_or(0, |m| m.len()) as usize;
        // "start-end perms offset dev inode   pathname"; the map at offset 0 is LMDB's.
        let starts: Vec<usize> = maps
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let range = fields.next()?;
                let offset = fields.nth(1)?;
                let name = fields.nth(2)?;
                (name == path && u64::from_str_radix(offset, 16).ok()? == 0)
                    .then(|| usize::from_str_radix(range.split('-').next()?, 16).ok())
                    .flatten()
            })
            .collect();
        if starts.is_empty() {
            return unknown;
        }
        MapBounds {
            maps: Some(
                starts
                    .into_iter()
                    .map(|s| (s, s.saturating_add(len)))
                    .collect(),
            ),
        }
    }

    fn holds(&self, bytes: &[u8]) -> bool {
        let at = bytes.as_ptr() as usize;
        let end = at.saturating_add(bytes.len());
        bytes.is_empty()
            || self
                .maps
                .as_ref()
                .is_none_or(|maps| maps.iter().any(|&(start, stop)| at >= start && end <= stop))
    }
}

/// Hashes a table's entries in key order, lengths included so that boundaries count.
#[derive(Default)]
struct TableHasher {
    hasher: Xxh3,
    entries: u64,
    bytes: u64,
}

impl TableHasher {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        self.hasher.update(&(key.len() as u32).to_le_bytes());
        self.hasher.update(key);
        self.hasher.update(&(value.len() as u32).to_le_bytes());
        self.hasher.update(value);
        self.entries += 1;
        self.bytes += (key.len() + value.len()) as u64;
    }

    fn finish(&self) -> u64 {
        self.hasher.digest()
    }
}

/// The checksum of the forest's table (every key and value in key order) and its size.
fn forest_checksum(
    rtxn: &RoTxn,
    forest: arroy::Database<'static, Cosine>,
    bounds: Option<&MapBounds>,
) -> heed::Result<(u64, u64)> {
    let mut hasher = TableHasher::default();
    for entry in forest.remap_types::<Bytes, Bytes>().iter(rtxn)? {
        let (k, v) = entry?;
        if bounds.is_some_and(|b| !b.holds(k) || !b.holds(v)) {
            // Damage: a node whose length runs past the file; reading it would be SIGBUS.
            return Err(heed::Error::Mdb(heed::MdbError::Corrupted));
        }
        hasher.add(k, v);
    }
    Ok((hasher.finish(), hasher.bytes))
}

/// The checksum of the lists (their centroids, their cells, then every key and value of the
/// `ivf` table in key order, as `ApproxBuilder::build_lists` hashed them), their size and how
/// many lists.
fn lists_checksum(rtxn: &RoTxn, dbs: &Dbs, bounds: &MapBounds) -> heed::Result<(u64, u64, usize)> {
    let corrupted = || heed::Error::Mdb(heed::MdbError::Corrupted);
    let mut hasher = TableHasher::default();
    let centroids = dbs
        .meta
        .get(rtxn, "lists_centroids")?
        .ok_or_else(corrupted)?;
    if !bounds.holds(centroids) {
        return Err(corrupted());
    }
    hasher.add(b"centroids", centroids);
    // Lists built before the cells were stored have none; once stored, they are hashed, so a
    // lost cell record is a checksum mismatch.
    for key in CELL_RECORDS {
        if let Some(value) = dbs.meta.get(rtxn, key)? {
            if !bounds.holds(value) {
                return Err(corrupted());
            }
            hasher.add(key.as_bytes(), value);
        }
    }
    let mut lists = 0;
    for entry in dbs.ivf.remap_types::<Bytes, Bytes>().iter(rtxn)? {
        let (k, v) = entry?;
        if !bounds.holds(k) || !bounds.holds(v) {
            // Damage: a value whose length runs past the file; reading it would be SIGBUS.
            return Err(corrupted());
        }
        hasher.add(k, v);
        lists += 1;
    }
    Ok((hasher.finish(), hasher.bytes, lists))
}

fn write_index(
    source: &Path,
    stat: &FileStat,
    tmp: &Path,
    opts: &OpenOptions,
    progress: &dyn Progress,
    seen: &BuildSeen,
    started: Instant,
) -> Result<()> {
    let load = &opts.load;
    let lmdb = |e| lmdb_err(tmp, e);
    let env = open_env_for_build(tmp).map_err(lmdb)?;
    let room = Room::new(&env, tmp).map_err(lmdb)?;
    let wtxn = env.write_txn().map_err(lmdb)?;
    let dbs = env
        .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
            Ok(CommitOrAbort::<_, ()>::Commit((
                opener.create_database::<Str, Bytes>(wtxn, Some(DB_NAMES[0]))?,
                opener.create_database::<Bytes, Id>(wtxn, Some(DB_NAMES[1]))?,
                opener.create_database::<Id, Str>(wtxn, Some(DB_NAMES[2]))?,
                opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[3]))?,
                opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[4]))?,
                opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[5]))?,
                opener.create_database::<arroy::internals::KeyCodec, arroy::internals::NodeCodec<Cosine>>(wtxn, Some(DB_NAMES[6]))?,
                opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[7]))?,
                opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[8]))?,
                opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[9]))?,
            )))
        })
        .map_err(lmdb)?
        .unwrap_commit();
    let (meta_db, word2id, id2word, unit_db, quant_db, scale_db, _forest, ngrams_db, pc_db, _ivf) =
        dbs;

    let mut sink = ChunkWriter {
        env: &env,
        room: &room,
        unit_db,
        quant_db,
        scale_db,
        id2word,
        dims: 0,
        next_id: 0,
        pending: Vec::new(),
        pending_offsets: Vec::new(),
        in_source: None,
        q8: Vec::new(),
        scales: Vec::new(),
        chunk: 0,
        keys: Vec::new(),
        zero: 0,
        id2word_sum: TableHasher::default(),
        unit_sums: Vec::new(),
        quant_sums: Vec::new(),
        scale_sums: Vec::new(),
    };
    let mut ngrams = NgramWriter {
        env: &env,
        room: &room,
        db: ngrams_db,
        pending: Vec::new(),
        chunk: 0,
        dims: 0,
        sums: Vec::new(),
    };
    progress.start("reading", stat.size, Unit::Bytes);
    // The loader parses on its own thread while this one quantises and writes what it has
    // parsed: at 3M x 300 both are seconds long. Two batches in flight bound the memory.
    enum Parsed {
        Rows(loader::Batch),
        Ngrams(loader::SubwordBatch),
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Parsed>(2);
    let stopped = || anyhow::anyhow!("the index writer stopped");
    let report = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let tx = tx;
            loader::load_with_subwords(
                source,
                load,
                &|done, _total| {
                    seen.read.store(done, Ordering::Relaxed);
                    progress.set(done)
                },
                &mut |batch| {
                    seen.rows
                        .fetch_add(batch.words.len() as u64, Ordering::Relaxed);
                    if let Some(dims) = batch.vectors.len().checked_div(batch.words.len()) {
                        seen.dims.store(dims as u64, Ordering::Relaxed);
                    }
                    tx.send(Parsed::Rows(batch)).map_err(|_| stopped())
                },
                &mut |batch| tx.send(Parsed::Ngrams(batch)).map_err(|_| stopped()),
            )
        });
        let mut written = Ok(());
        for parsed in rx.iter() {
            written = match parsed {
                Parsed::Rows(batch) => sink.push(batch),
                Parsed::Ngrams(batch) => ngrams.push(batch),
            };
            if written.is_err() {
                break;
            }
        }
        // Dropping the receiver makes the loader's next send fail, so it stops reading.
        drop(rx);
        let loaded = reader.join().expect("the loader thread does not panic");
        match written {
            // The writer's own error (a full disk, say) is what the loader's stop came from.
            Err(e) => Err(loader::LoadError::Sink(e)),
            Ok(()) => loaded,
        }
    });
    progress.finish();
    let report = report?;
    sink.flush().map_err(lmdb)?;
    if let Some(sub) = &report.subwords {
        ngrams.flush().map_err(lmdb)?;
        debug_assert_eq!(ngrams.chunk as usize, sub.buckets.div_ceil(ROWS_PER_CHUNK));
    }
    let pc_dbs = [unit_db, quant_db, scale_db, pc_db];
    let pc = if opts.exact_stage {
        let in_place = match sink.in_source() {
            true => Some(File::open(source).map_err(|e| source_err(source, e))?),
            false => None,
        };
        let (words, dims) = (report.words, report.dims);
        write_pc_stage(&env, &room, pc_dbs, meta_db, in_place.as_ref(), words, dims)
            .map_err(lmdb)?
    } else {
        PcWritten::default()
    };

    // word → id last, sorted, so LMDB can append instead of inserting at random.
    let mut keys = std::mem::take(&mut sink.keys);
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    room.ensure(keys.iter().map(|(k, _)| k.len() + 24).sum::<usize>() * 2)
        .map_err(lmdb)?;
    let mut wtxn = env.write_txn().map_err(lmdb)?;
    let mut previous: Option<&[u8]> = None;
    let mut word2id_sum = TableHasher::default();
    for (key, id) in &keys {
        // Two long words could share a hashed key: the first (more frequent) one keeps it.
        if previous == Some(key.as_slice()) {
            continue;
        }
        word2id
            .put_with_flags(&mut wtxn, PutFlags::APPEND, key, id)
            .map_err(lmdb)?;
        word2id_sum.add(key, &id.to_be_bytes());
        previous = Some(key);
    }
    let meta = Meta {
        schema: SCHEMA_VERSION,
        source: fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf()),
        source_stat: *stat,
        // A stream cannot be read twice; its temporary index is never reused.
        // The loader hashed what it read (a mapped file): no second read of the source.
        source_hash: match report.content_hash {
            Some(hash) => format!("{hash:016x}"),
            None if fs::metadata(source).is_ok_and(|m| m.is_file()) => hash_file(source)?,
            None => String::new(),
        },
        format: report.format,
        compression: report.compression.to_string(),
        member: report.member.clone(),
        words: report.words,
        dims: report.dims,
        limit: load.limit,
        duplicates: report.duplicates,
        lossy_words: report.lossy_words,
        spaced_words: report.spaced_words,
        spaced_examples: report.spaced_examples.clone(),
        zero_vectors: sink.zero,
        rows_per_chunk: ROWS_PER_CHUNK,
        build_seconds: started.elapsed().as_secs_f64(),
        built_at: now_secs(),
        subwords: report.subwords.clone(),
        pc_dims: pc.p,
        pc_decided: opts.exact_stage,
        unit_in_source: sink.in_source(),
    };
    let meta_json = serde_json::to_vec(&meta).expect("metadata serialises (paths as bytes)");
    let sums = Checksums {
        meta: xxh3_64(&meta_json),
        word2id: word2id_sum.finish(),
        id2word: sink.id2word_sum.finish(),
        unit: std::mem::take(&mut sink.unit_sums),
        quant: std::mem::take(&mut sink.quant_sums),
        scale: std::mem::take(&mut sink.scale_sums),
        ngrams: std::mem::take(&mut ngrams.sums),
        pcstage: pc.sums,
        pc_basis: pc.basis_sum,
    };
    meta_db
        .put(
            &mut wtxn,
            "checksums",
            &serde_json::to_vec(&sums).expect("checksums serialise"),
        )
        .map_err(lmdb)?;
    // The metadata is written last: an index without it never opens as valid.
    meta_db.put(&mut wtxn, "meta", &meta_json).map_err(lmdb)?;
    wtxn.commit().map_err(lmdb)?;
    let used = room.used();
    drop(room);
    drop(env);
    // The environment is closed: cut the preallocated tail LMDB never used, then make the
    // whole file durable with one fsync (the build wrote without syncing).
    let data = tmp.join("data.mdb");
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .map_err(|e| io_err(&data, e))?;
    file.set_len(used).map_err(|e| io_err(&data, e))?;
    file.sync_all().map_err(|e| io_err(&data, e))?;
    Ok(())
}

/// The build environment's map (LMDB's WRITEMAP: pages are written in place, without the
/// copy a `pwrite` of every dirty page costs). Writing through a map into a sparse file
/// would raise SIGBUS when the disk fills, so the map only ever covers space already
/// allocated with `fallocate`: a full disk is an ENOSPC error from `ensure`, before any
/// page of it is touched.
struct Room<'e> {
    env: &'e Env<WithoutTls>,
    file: File,
    /// The map size, all of it allocated on disk.
    size: std::cell::Cell<usize>,
    /// Where LMDB mapped the file (it moves when the map grows); `None`: unknown.
    base: std::cell::Cell<Option<usize>>,
    data: PathBuf,
    page: usize,
}

impl<'e> Room<'e> {
    /// The map a new build starts with (LMDB sizes the file to it).
    const INITIAL: usize = 1 << 20;

    fn new(env: &'e Env<WithoutTls>, dir: &Path) -> heed::Result<Room<'e>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join("data.mdb"))?;
        let room = Room {
            env,
            file,
            size: std::cell::Cell::new(0),
            base: std::cell::Cell::new(None),
            data: dir.join("data.mdb"),
            page: env.unnamed_database_stat().page_size as usize,
        };
        room.allocate(env.info().map_size)?;
        room.find_base();
        Ok(room)
    }

    fn find_base(&self) {
        let base = match MapBounds::of(self.env, &self.data).maps.as_deref() {
            Some(&[(start, _)]) => Some(start),
            _ => None,
        };
        self.base.set(base);
    }

    /// Fills a value's reserved space (MDB_RESERVE: LMDB's pages in the map) with `bytes`.
    /// They go in with `pwrite` at the pages' place in the file rather than through the
    /// map: a write through the map faults every 4 KB page in, reading (zero-filling) it
    /// first, which made page faults half of a 3M x 300 build's time. The shared map and the
    /// file are the same page cache, so LMDB and later readers see the bytes either way.
    fn fill(&self, space: &mut heed::ReservedSpace, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let at = space.as_uninit_mut().as_ptr() as usize;
        let size = self.size.get();
        match self.base.get() {
            Some(base)
                if at >= base && at + bytes.len() <= base + size && bytes.len() == space.size() =>
            {
                // In pieces on every core: the kernel's copy into the page cache is the
                // build's largest cost, and one core does not reach the memory's bandwidth.
                let offset = at - base;
                let piece = bytes
                    .len()
                    .div_ceil(rayon::current_num_threads())
                    .max(1 << 20);
                use rayon::prelude::*;
                let file = &self.file;
                bytes
                    .par_chunks(piece)
                    .enumerate()
                    .try_for_each(|(i, part)| {
                        file.write_all_at(part, (offset + i * piece) as u64)
                    })?;
                // SAFETY: every byte of the reserved space was just written through the file,
                // whose page cache pages are the ones this shared map shows.
                unsafe { space.assume_written(bytes.len()) };
                // The map must show what went to the file (a wrong base would have written
                // elsewhere): both ends are compared, two pages read.
                let shown = space.written_mut();
                let edge = bytes.len().min(64);
                if shown[..edge] != bytes[..edge]
                    || shown[bytes.len() - edge..] != bytes[bytes.len() - edge..]
                {
                    return Err(std::io::Error::other(
                        "the build's map does not show what was written to data.mdb",
                    ));
                }
                Ok(())
            }
            _ => std::io::Write::write_all(space, bytes),
        }
    }

    /// The bytes LMDB's pages use so far.
    fn used(&self) -> u64 {
        (self.env.info().last_page_number as u64 + 1) * self.page as u64
    }

    /// Makes sure the next write transaction has `need` bytes (plus slack for B-tree pages)
    /// of allocated map; grows by half again at least, so a build grows it a few dozen times.
    /// Called between transactions only (LMDB remaps on a resize).
    fn ensure(&self, need: usize) -> heed::Result<()> {
        let want = self.used() as usize + need + need / 8 + (2 << 20);
        let size = self.size.get();
        if want <= size {
            return Ok(());
        }
        let round = |n: usize| n.next_multiple_of(1 << 20);
        let grown = round(want.max(size + size / 2));
        // Near a full disk the exact need may still fit where the larger step does not.
        if self.allocate(grown).is_err() {
            self.allocate(round(want))?;
        }
        // SAFETY: no transaction is open (callers call this between transactions), and the
        // new size is allocated on disk, so every page of the new map is backed.
        unsafe { self.env.resize(self.size.get())? };
        self.find_base();
        Ok(())
    }

    /// Allocates the file's blocks up to `size` bytes.
    fn allocate(&self, size: usize) -> heed::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: fallocate on an open file descriptor this struct owns; mode 0 allocates
        // blocks (and extends the size) without changing any byte already written.
        let rc = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, 0, size as libc::off_t) };
        if rc != 0 {
            return Err(heed::Error::Io(std::io::Error::last_os_error()));
        }
        self.size.set(size);
        Ok(())
    }
}

/// What `write_pc_stage` stored: p (0: no stage) and the checksums.
#[derive(Default)]
struct PcWritten {
    p: usize,
    sums: Vec<u64>,
    basis_sum: u64,
}

/// Principal components tried for `dims`, fewest first: 112 and 160 of 300 (37 % and 53 %,
/// measured: README, performance), scaled for other widths.
fn pc_dims_for(dims: usize) -> [usize; 2] {
    [dims * 112 / 300, dims * 160 / 300].map(|p| p.next_multiple_of(16))
}

/// Chunks (of `ROWS_PER_CHUNK` rows) and queries the build's calibration of the stage uses.
const PC_CALIBRATION_CHUNKS: usize = 8;
const PC_CALIBRATION_QUERIES: usize = 9;
/// Above this median fraction of rows passed a stage is not kept (measured at 1M × 300: it
/// pays at 0.03–0.9 %, costs 1.2–3× the plain scan at 5–15 %).
const PC_MAX_PASS: f64 = 0.01;

/// Builds the exact search's first stage from the unit rows just written: the basis from an
/// even sample of rows; p chosen by calibration (the fewest components of `pc_dims_for` whose
/// stage stops all but `PC_MAX_PASS` of the rows, measured on the first chunks with a few of
/// their own rows as queries: a prefix has a lower k-th best score than the whole file, so it
/// passes more rows and errs towards more components or none); then every chunk projected
/// (`search::pc_project`). No stage (p = 0) for small or narrow files, when no orthonormal
/// basis comes out, or when no p prunes enough (heavy-noise data).
fn write_pc_stage(
    env: &Env<WithoutTls>,
    room: &Room,
    [unit_db, quant_db, scale_db, pc_db]: [Database<'static, Id, Bytes>; 4],
    meta_db: Database<'static, Str, Bytes>,
    in_place: Option<&File>,
    words: usize,
    dims: usize,
) -> heed::Result<PcWritten> {
    if words < pc_min_rows() || dims < PC_MIN_DIMS {
        return Ok(PcWritten::default());
    }
    let n_chunks = words.div_ceil(ROWS_PER_CHUNK);
    // All the room the stage can take, before the read transaction below: the map may only
    // grow between transactions (`Room::ensure`). Per row: at most the larger p of int8,
    // a scale and a residual bound; the basis; a page per chunk for LMDB's own pages.
    let p_max = pc_dims_for(dims)[1];
    room.ensure(words * (p_max + 8) + p_max * dims * 4 + (n_chunks + 1) * room.page * 2)?;
    let rtxn = env.read_txn()?;
    let floats = search::cast_or_copy::<f32>;
    let chunks_of = |db: Database<'static, Id, Bytes>, n: usize| -> heed::Result<Vec<&[u8]>> {
        (0..n as u32)
            .map(|c| Ok(db.get(&rtxn, &c)?.unwrap_or_default()))
            .collect()
    };
    let rows_of = |row_len, chunks, len| Rows {
        row_len,
        rows_per_chunk: ROWS_PER_CHUNK,
        chunks,
        len,
    };
    // Rows read in place come from the source, a chunk at a time (all of them at once held
    // 3.6 GB at 3M x 300): the sample row by row, the calibration's prefix, then each chunk
    // as it is projected.
    let unit_bytes = chunks_of(unit_db, n_chunks)?;
    let chunk_rows = |c: usize| -> std::io::Result<Cow<[f32]>> {
        match in_place {
            Some(file) => read_source_rows(file, unit_bytes[c], dims).map(Cow::Owned),
            None => Ok(floats(unit_bytes[c])),
        }
    };
    // The rows `search::pc_sample` takes from the whole matrix, in the same order.
    let step = words.div_ceil(search::PC_SAMPLE).max(1);
    let mut sample = Vec::with_capacity(words.div_ceil(step) * dims);
    for id in (0..words).step_by(step) {
        let (c, i) = (id / ROWS_PER_CHUNK, id % ROWS_PER_CHUNK);
        match in_place {
            Some(file) => {
                sample.extend(read_source_rows(file, &unit_bytes[c][i * 8..][..8], dims)?)
            }
            None => sample.extend_from_slice(&floats(unit_bytes[c])[i * dims..][..dims]),
        }
    }
    let candidates = pc_dims_for(dims);
    let Some(basis) = search::pc_basis(&sample, dims, candidates[1]) else {
        return Ok(PcWritten::default());
    };
    drop(sample);

    // Calibration on the prefix.
    let cal_chunks = n_chunks.min(PC_CALIBRATION_CHUNKS);
    let len = words.min(cal_chunks * ROWS_PER_CHUNK);
    let prefix_chunks = (0..cal_chunks)
        .map(chunk_rows)
        .collect::<std::io::Result<_>>()?;
    let prefix = rows_of(dims, prefix_chunks, len);
    let quant = QuantRows {
        dims,
        rows: Rows {
            row_len: search::quant_stride(dims),
            rows_per_chunk: ROWS_PER_CHUNK,
            chunks: chunks_of(quant_db, cal_chunks)?
                .into_iter()
                .map(|b| Cow::Borrowed(bytemuck::cast_slice::<u8, i8>(b)))
                .collect(),
            len,
        },
        scales: rows_of(
            1,
            chunks_of(scale_db, cal_chunks)?
                .into_iter()
                .map(floats)
                .collect(),
            len,
        ),
    };
    // The calibration's queries (a few of the prefix's own rows) and their answers, the same
    // for every p: each search is seeded with its answer, as the inverted lists nearly always
    // seed one (`Store::exact_seeds`), so what is measured is the bound's strength.
    // A query for row `id` leaves that row out (`exclude` is the row itself).
    fn calibration_query<'a>(prefix: &'a Rows<f32>, id: &'a [u32; 1]) -> Query<'a> {
        Query {
            vector: prefix.row(id[0] as usize),
            k: 10,
            exclude: id,
            limit: prefix.len,
        }
    }
    let calibration: Vec<([u32; 1], Vec<u32>)> = (0..PC_CALIBRATION_QUERIES)
        .map(|i| {
            let id = [(i * len / PC_CALIBRATION_QUERIES + 1).min(len - 1) as u32];
            let answer = search::exact_top_k(&prefix, &quant, &calibration_query(&prefix, &id));
            (id, answer.iter().map(|h| h.id).collect())
        })
        .collect();
    let mut chosen = None;
    for p in candidates {
        // The leading p axes of the larger basis are the p-component basis.
        let basis = &basis[..p * dims];
        let (mut rows, mut scales, mut resid) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in &prefix.chunks {
            let (q8, s, r) = search::pc_project(chunk, dims, basis, p);
            rows.push(Cow::Owned(q8));
            scales.push(Cow::Owned(s));
            resid.push(Cow::Owned(r));
        }
        let stage = PcStage {
            dims,
            p,
            basis: Cow::Borrowed(basis),
            rows: Rows {
                row_len: p,
                rows_per_chunk: ROWS_PER_CHUNK,
                chunks: rows,
                len,
            },
            scales: rows_of(1, scales, len),
            resid: rows_of(1, resid, len),
        };
        let mut passed: Vec<f64> = calibration
            .iter()
            .map(|(id, answer)| {
                let query = calibration_query(&prefix, id);
                let (_, counts) =
                    search::exact_top_k_seeded(&prefix, &quant, Some(&stage), &query, answer);
                counts.pc_passed as f64 / len as f64
            })
            .collect();
        passed.sort_by(f64::total_cmp);
        if passed[passed.len() / 2] <= PC_MAX_PASS {
            chosen = Some(p);
            break;
        }
    }
    let Some(p) = chosen else {
        return Ok(PcWritten::default());
    };

    let basis = &basis[..p * dims];
    let basis_bytes: &[u8] = bytemuck::cast_slice(basis);
    let mut out = PcWritten {
        p,
        sums: Vec::with_capacity(n_chunks),
        basis_sum: xxh3_64(basis_bytes),
    };
    let mut wtxn = env.write_txn()?;
    meta_db.put(&mut wtxn, "pc_basis", basis_bytes)?;
    wtxn.commit()?;
    let mut prefix_chunks = prefix.chunks;
    for c in 0..n_chunks {
        let chunk = match prefix_chunks.get_mut(c) {
            Some(chunk) => std::mem::take(chunk),
            None => chunk_rows(c)?,
        };
        let (q8, scales, resid) = search::pc_project(&chunk, dims, basis, p);
        drop(chunk);
        let mut blob = Vec::with_capacity(q8.len() + 8 * scales.len());
        blob.extend_from_slice(bytemuck::cast_slice(&q8));
        blob.extend_from_slice(bytemuck::cast_slice(&scales));
        blob.extend_from_slice(bytemuck::cast_slice(&resid));
        out.sums.push(xxh3_64(&blob));
        let mut wtxn = env.write_txn()?;
        pc_db.put(&mut wtxn, &(c as u32), &blob)?;
        wtxn.commit()?;
    }
    Ok(out)
}

/// Receives the loader's batches in file order and stores them chunk by chunk, one write
/// transaction per chunk so memory stays bounded whatever the file's size.
struct ChunkWriter<'e> {
    env: &'e Env<WithoutTls>,
    room: &'e Room<'e>,
    unit_db: Database<'static, Id, Bytes>,
    quant_db: Database<'static, Id, Bytes>,
    scale_db: Database<'static, Id, Bytes>,
    id2word: Database<'static, Id, Str>,
    dims: usize,
    next_id: u32,
    /// Raw rows not yet written (less than one chunk).
    pending: Vec<f32>,
    /// The rows' offsets in the source, when it is read in place (`Meta::unit_in_source`).
    pending_offsets: Vec<u64>,
    /// Whether the batches come with offsets (decided by the first one).
    in_source: Option<bool>,
    /// The int8 copy and scales of the chunk being written (reused).
    q8: Vec<i8>,
    scales: Vec<f32>,
    chunk: u32,
    keys: Vec<(Vec<u8>, u32)>,
    zero: usize,
    /// Checksums of what was written, in the order verification reads it back.
    id2word_sum: TableHasher,
    unit_sums: Vec<u64>,
    quant_sums: Vec<u64>,
    scale_sums: Vec<u64>,
}

impl ChunkWriter<'_> {
    fn push(&mut self, batch: loader::Batch) -> anyhow::Result<()> {
        if batch.words.is_empty() {
            return Ok(());
        }
        self.dims = batch.vectors.len() / batch.words.len();
        self.room
            .ensure(batch.words.iter().map(|w| w.len() + 24).sum::<usize>() * 2)?;
        let mut wtxn = self.env.write_txn()?;
        for word in &batch.words {
            self.id2word
                .put_with_flags(&mut wtxn, PutFlags::APPEND, &self.next_id, word)?;
            self.id2word_sum
                .add(&self.next_id.to_be_bytes(), word.as_bytes());
            self.keys.push((word_key(word).into_owned(), self.next_id));
            self.next_id += 1;
        }
        wtxn.commit()?;
        let in_source = batch.offsets.is_some();
        if *self.in_source.get_or_insert(in_source) != in_source {
            anyhow::bail!("the loader gave row offsets for some batches only");
        }
        self.pending.extend_from_slice(&batch.vectors);
        if let Some(offsets) = &batch.offsets {
            self.pending_offsets.extend_from_slice(offsets);
        }
        let chunk_len = ROWS_PER_CHUNK * self.dims;
        while self.pending.len() >= chunk_len {
            // The buffers are reused from chunk to chunk: a fresh 75 MB allocation each time
            // cost a page fault and a zeroed page for every 4 KB of it.
            let mut rows = std::mem::take(&mut self.pending);
            let mut offsets = std::mem::take(&mut self.pending_offsets);
            let at = offsets.len().min(ROWS_PER_CHUNK);
            let done = self.write_chunk(&mut rows[..chunk_len], &offsets[..at]);
            rows.drain(..chunk_len);
            offsets.drain(..at);
            self.pending = rows;
            self.pending_offsets = offsets;
            done?;
        }
        Ok(())
    }

    fn flush(&mut self) -> heed::Result<()> {
        if !self.pending.is_empty() {
            let mut rest = std::mem::take(&mut self.pending);
            let offsets = std::mem::take(&mut self.pending_offsets);
            self.write_chunk(&mut rest, &offsets)?;
        }
        Ok(())
    }

    fn in_source(&self) -> bool {
        self.in_source == Some(true)
    }

    /// Normalises `rows` in place (they become the unit chunk), quantises them into reused
    /// buffers, and stores the three values: the same bytes as `search::unit_and_quant`.
    /// With the source read in place, the unit value is the rows' `offsets` instead.
    fn write_chunk(&mut self, rows: &mut [f32], offsets: &[u64]) -> heed::Result<()> {
        use rayon::prelude::*;
        let dims = self.dims;
        let stride = search::quant_stride(dims);
        let n = rows.len() / dims;
        self.q8.clear();
        self.q8.resize(n * stride, 0);
        self.scales.clear();
        self.scales.resize(n, 0.0);
        rows.par_chunks_mut(dims)
            .zip(self.q8.par_chunks_mut(stride))
            .zip(self.scales.par_iter_mut())
            .for_each(|((row, out), scale)| {
                search::normalize(row);
                *scale = search::quantize_row(row, out);
            });
        let (unit, q8, scales) = (&*rows, &self.q8, &self.scales);
        self.zero += scales.iter().filter(|&&s| s == 0.0).count();
        let offset_bytes: Vec<u8>;
        let unit: &[u8] = if self.in_source() {
            debug_assert_eq!(offsets.len(), n);
            offset_bytes = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
            &offset_bytes
        } else {
            bytemuck::cast_slice(unit)
        };
        let (unit, q8, scales): (&[u8], &[u8], &[u8]) =
            (unit, bytemuck::cast_slice(q8), bytemuck::cast_slice(scales));
        self.unit_sums.push(xxh3_64(unit));
        self.quant_sums.push(xxh3_64(q8));
        self.scale_sums.push(xxh3_64(scales));
        self.room
            .ensure(unit.len() + q8.len() + scales.len() + 3 * self.room.page)?;
        let mut wtxn = self.env.write_txn()?;
        for (db, bytes) in [
            (self.unit_db, unit),
            (self.quant_db, q8),
            (self.scale_db, scales),
        ] {
            db.put_reserved(&mut wtxn, &self.chunk, bytes.len(), |space| {
                self.room.fill(space, bytes)
            })?;
        }
        wtxn.commit()?;
        self.chunk += 1;
        Ok(())
    }
}

/// Stores the n-gram rows raw (they are averaged before normalising), in chunks of
/// `ROWS_PER_CHUNK` rows like the word vectors, so a lookup borrows a row from the map.
struct NgramWriter<'e> {
    env: &'e Env<WithoutTls>,
    room: &'e Room<'e>,
    db: Database<'static, Id, Bytes>,
    pending: Vec<f32>,
    chunk: u32,
    dims: usize,
    sums: Vec<u64>,
}

impl NgramWriter<'_> {
    fn push(&mut self, batch: loader::SubwordBatch) -> anyhow::Result<()> {
        self.dims = batch.dims;
        self.pending.extend_from_slice(&batch.vectors);
        self.write_full()?;
        Ok(())
    }

    fn write_full(&mut self) -> heed::Result<()> {
        let chunk_len = ROWS_PER_CHUNK * self.dims;
        while !self.pending.is_empty() && self.pending.len() >= chunk_len {
            let rest = self.pending.split_off(chunk_len);
            let full = std::mem::replace(&mut self.pending, rest);
            self.write_chunk(&full)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> heed::Result<()> {
        self.write_full()?;
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.write_chunk(&rest)?;
        }
        Ok(())
    }

    fn write_chunk(&mut self, rows: &[f32]) -> heed::Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(rows);
        self.sums.push(xxh3_64(bytes));
        self.room.ensure(bytes.len() + self.room.page)?;
        let mut wtxn = self.env.write_txn()?;
        self.db.put(&mut wtxn, &self.chunk, bytes)?;
        wtxn.commit()?;
        self.chunk += 1;
        Ok(())
    }
}

fn open_env(dir: &Path, read_only: bool) -> heed::Result<Env<WithoutTls>> {
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.map_size(MAP_SIZE).max_dbs(DB_NAMES.len() as u32);
    // NO_READ_AHEAD: a query touches a small part of the file; read-ahead would pull in most
    // of it on a cold start (145 ms → 10 ms first query, per the arroy notes).
    let mut flags = EnvFlags::NO_READ_AHEAD;
    if read_only {
        flags |= EnvFlags::READ_ONLY;
    }
    // SAFETY: each process opens an index directory at most once (one Store per index), and
    // the files are only modified through LMDB.
    unsafe {
        opts.flags(flags);
        opts.open(dir)
    }
}

fn open_env_for_build(dir: &Path) -> heed::Result<Env<WithoutTls>> {
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    // The map starts small and grows with the build (see `Room`): under WRITEMAP, LMDB sizes
    // the file to the map, and every byte of it is allocated on disk first.
    opts.map_size(Room::INITIAL).max_dbs(DB_NAMES.len() as u32);
    // No fsync per commit: the directory is private until renamed, and one fsync at the end
    // makes it durable before the rename. WRITEMAP: LMDB keeps no private copy of each dirty
    // page to pwrite at commit (B-tree pages are written in place, the large values go in
    // through `Room::fill`); `Room` keeps a full disk an error, never SIGBUS. NO_READ_AHEAD: a
    // fault on the map would otherwise read (zero-fill) megabytes of preallocated file ahead.
    // SAFETY: the build directory is new and private to this process.
    unsafe {
        opts.flags(
            EnvFlags::NO_SYNC
                | EnvFlags::NO_META_SYNC
                | EnvFlags::WRITE_MAP
                | EnvFlags::NO_READ_AHEAD,
        );
        opts.open(dir)
    }
}

/// The word's LMDB key: the word itself, or for words too long for a key, a prefix and a hash.
fn word_key(word: &str) -> Cow<'_, [u8]> {
    let bytes = word.as_bytes();
    if bytes.len() < MAX_KEY {
        return Cow::Borrowed(bytes);
    }
    let mut key = bytes[..MAX_KEY - 17].to_vec();
    key.push(0);
    key.extend_from_slice(format!("{:016x}", xxh3_64(bytes)).as_bytes());
    Cow::Owned(key)
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens the source whose rows the index reads in place, and its stat at that moment.
fn open_source(path: &Path) -> std::result::Result<(File, FileStat), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let stat = FileStat::of_file(&file).map_err(|e| e.to_string())?;
    Ok((file, stat))
}

/// Reads the rows at `offsets` (u64 LE, one a row: `Meta::unit_in_source`) from the word2vec
/// .bin they were parsed from and normalises them as the build did, so the values are the
/// bits an f32 copy would have held. With `pread`, never a map: a source truncated since
/// the index was built is an error, never a SIGBUS.
fn read_source_rows(file: &File, offsets: &[u8], dims: usize) -> std::io::Result<Vec<f32>> {
    use rayon::prelude::*;
    use std::os::unix::fs::FileExt;
    let row_bytes = dims * 4;
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
    let decode = |raw: &[u8], row: &mut [f32]| {
        for (x, b) in row.iter_mut().zip(raw.chunks_exact(4)) {
            *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    };
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
    out.par_chunks_mut(dims).for_each(|row| {
        search::normalize(row);
    });
    Ok(out)
}

/// The rows an exact search rescores, read from the source one by one (see
/// `read_source_rows`); the first failure is kept and reported after the search.
struct SourceRows<'s> {
    file: &'s File,
    /// Each chunk's offsets (u64 LE a row), borrowed from the map.
    offsets: Vec<&'s [u8]>,
    rows_per_chunk: usize,
    dims: usize,
    len: usize,
    failed: std::sync::Mutex<Option<std::io::Error>>,
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

fn io_err(path: &Path, err: std::io::Error) -> IndexError {
    IndexError::Io {
        path: path.to_path_buf(),
        err,
    }
}

fn source_err(path: &Path, err: std::io::Error) -> IndexError {
    IndexError::Source {
        path: path.to_path_buf(),
        err,
    }
}

fn lmdb_err(path: &Path, err: heed::Error) -> IndexError {
    IndexError::Lmdb {
        path: path.to_path_buf(),
        err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists built before their cells were stored are built again, with cells, and in the
    /// meantime count as absent (never half-cleared lists under a valid record).
    #[test]
    fn lists_without_cells_are_rebuilt_with_them() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("v.txt");
        let mut text = String::new();
        let mut state = 7u64;
        for i in 0..2000 {
            text.push_str(&format!("w{i}"));
            for _ in 0..16 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                text.push_str(&format!(
                    " {:.4}",
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                ));
            }
            text.push('\n');
        }
        std::fs::write(&src, text).unwrap();
        let opts = OpenOptions {
            cache_dir: Some(tmp.path().join("cache")),
            writable: true,
            ..Default::default()
        };
        let (store, _) = Store::open(&src, &opts, &crate::progress::Silent).unwrap();
        let never = AtomicBool::new(false);
        let first = store.build_lists(&crate::progress::Silent, &never).unwrap();
        // As an index of the previous release holds them: lists, no cells.
        let mut wtxn = store.env.write_txn().unwrap();
        for key in CELL_RECORDS {
            store.dbs.meta.delete(&mut wtxn, key).unwrap();
        }
        wtxn.commit().unwrap();
        let q = store.vector(5).unwrap().to_vec();
        let query = Query {
            vector: &q,
            k: 5,
            exclude: &[5],
            limit: store.len(),
        };
        let (old, counts) = store.exact_top_k_counted(&query).unwrap();
        assert_eq!(counts.cells_read, 0, "no cells: the full scan answers");
        let again = store
            .approx_builder()
            .unwrap()
            .build_lists_in_batches(&crate::progress::Silent, &never, 1)
            .unwrap();
        assert_ne!(again.built_at, 0);
        assert_eq!((again.lists, again.rows), (first.lists, first.rows));
        let rtxn = store.env.read_txn().unwrap();
        for key in CELL_RECORDS {
            assert!(store.dbs.meta.get(&rtxn, key).unwrap().is_some(), "{key}");
        }
        drop(rtxn);
        assert!(store.verify().unwrap().is_intact());
        let (new, _) = store.exact_top_k_counted(&query).unwrap();
        assert_eq!(old, new);
    }

    /// Offsets that a damaged table could hold (out of order, overlapping, past the end, near
    /// u64::MAX) give rows or an error, never a panic.
    #[test]
    fn source_rows_at_any_offsets_never_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("rows");
        let values: Vec<f32> = (0..64).map(|i| i as f32 + 1.0).collect();
        fs::write(&path, bytemuck::cast_slice::<f32, u8>(&values)).unwrap();
        let file = File::open(&path).unwrap();
        let bytes =
            |offsets: &[u64]| -> Vec<u8> { offsets.iter().flat_map(|o| o.to_le_bytes()).collect() };
        let dims = 4;
        // In order: one read of the span; rows normalised.
        let rows = read_source_rows(&file, &bytes(&[0, 16, 48]), dims).unwrap();
        let mut want = values[12..16].to_vec();
        search::normalize(&mut want);
        assert_eq!(&rows[8..12], &want[..]);
        // Out of order and overlapping: read row by row, same values.
        let rows = read_source_rows(&file, &bytes(&[48, 4, 0]), dims).unwrap();
        assert_eq!(&rows[0..4], &want[..]);
        for damaged in [
            vec![0, 250],
            vec![u64::MAX - 2, 0],
            vec![0, u64::MAX - 2],
            vec![u64::MAX],
        ] {
            assert!(read_source_rows(&file, &bytes(&damaged), dims).is_err());
        }
    }
}
