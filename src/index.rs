//! The embedding store: one LMDB environment per embedding file, built once and reused.
//!
//! It holds the vocabulary (word → id, id → word; ids in file order, which is frequency order
//! for GloVe and word2vec), metadata, the unit-normalised vectors laid out contiguously in
//! chunks (so exact search scans them zero-copy from the memory map), their int8 copy for the
//! fast exact scan (see `search`), and, once built, the arroy forest for approximate search.
//!
//! Safety of builds: an index is built in a sibling directory and renamed into place only when
//! complete, under an exclusive file lock, so a killed build never leaves an index that opens
//! as valid, and two processes opening the same new file build it once.

use std::borrow::Cow;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arroy::distances::Cosine;
use heed::byteorder::BigEndian;
use heed::types::{Bytes, Str, U32};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, PutFlags, RoTxn, WithoutTls};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::loader::{self, Format, LoadOptions};
use crate::progress::{Progress, Unit};
use crate::search::{self, Hit, QuantRows, Query, Rows};

/// Bumped whenever the stored layout changes; an index of another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 1;
/// Trees `vecsh build` puts in the forest unless told otherwise (see the README for the
/// recall and build-time measurements behind this choice).
pub const DEFAULT_TREES: usize = 30;
/// Rows per stored vector chunk. Chunks keep each LMDB value (and each write transaction)
/// bounded: 65,536 rows × 300 dims × 4 bytes = 75 MiB at most for common files.
const ROWS_PER_CHUNK: usize = 1 << 16;
/// Virtual only: LMDB maps this much address space; the file grows as needed.
const MAP_SIZE: usize = 1 << 40;
/// LMDB keys are limited to 511 bytes; longer words are stored under a hashed key.
const MAX_KEY: usize = 500;

type Id = U32<BigEndian>;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Load(#[from] loader::LoadError),
    #[error("cannot read {path}: {source}")]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index {path}: {source}")]
    Lmdb { path: PathBuf, source: heed::Error },
    #[error("index {path}: approximate-search forest: {source}")]
    Forest { path: PathBuf, source: arroy::Error },
    #[error("index {path} is not a complete vecsh index (interrupted build?); it will be rebuilt")]
    Incomplete { path: PathBuf },
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
    pub source: PathBuf,
    pub source_size: u64,
    pub source_mtime_ns: u64,
    /// FNV-1a of the size and the first and last MiB: tells a touched file from a changed one.
    pub fingerprint: String,
    pub format: Format,
    pub compression: String,
    pub member: Option<String>,
    pub words: usize,
    pub dims: usize,
    pub limit: Option<usize>,
    pub duplicates: usize,
    pub lossy_words: usize,
    pub zero_vectors: usize,
    pub rows_per_chunk: usize,
    pub build_seconds: f64,
    pub built_at: u64,
}

/// The approximate-search forest's record (stored under "forest" once the forest is complete).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForestMeta {
    pub trees: usize,
    pub seconds: f64,
    pub built_at: u64,
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
}

const DB_NAMES: [&str; 7] = [
    "meta", "word2id", "id2word", "unit", "quant", "scale", "arroy",
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
    let canonical = fs::canonicalize(source).map_err(|e| IndexError::Source {
        path: source.to_path_buf(),
        source: e,
    })?;
    // Everything that changes the index's content is part of its name.
    let identity = format!(
        "{}\0{:?}\0{:?}\0{:?}",
        canonical.display(),
        opts.load.limit,
        opts.load.member,
        opts.load.format
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
    Ok(root.join(format!(
        "{name}-{:016x}",
        fnv1a(0xcbf29ce484222325, identity.as_bytes())
    )))
}

impl Store {
    /// Opens the index for `source`, building it first when it is missing, stale or forced.
    pub fn open(
        source: &Path,
        opts: &OpenOptions,
        progress: &dyn Progress,
    ) -> Result<(Store, Origin)> {
        let dir = index_dir_for(source, opts)?;
        let stat = SourceStat::read(source)?;
        if !opts.rebuild {
            if let Some(store) = Store::open_current(&dir, &stat, source, opts.writable)? {
                return Ok((store, Origin::Reused));
            }
        }
        let parent = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
        let lock_path = sibling(&dir, ".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        let waited = match lock.try_lock() {
            Ok(()) => false,
            Err(_) => {
                progress.note(&format!(
                    "waiting for another vecsh process building {}",
                    dir.display()
                ));
                lock.lock().map_err(|e| io_err(&lock_path, e))?;
                true
            }
        };
        // Another process may have finished the same build while we waited for the lock.
        if waited && !opts.rebuild {
            if let Some(store) = Store::open_current(&dir, &stat, source, opts.writable)? {
                return Ok((store, Origin::Waited));
            }
        }
        build(source, &stat, &dir, &opts.load, progress)?;
        let store = Store::open_current(&dir, &stat, source, opts.writable)?
            .ok_or_else(|| IndexError::Incomplete { path: dir.clone() })?;
        drop(lock);
        Ok((store, Origin::Built))
    }

    /// Opens `dir` if it holds a complete index of the current schema for this source.
    fn open_current(
        dir: &Path,
        stat: &SourceStat,
        source: &Path,
        writable: bool,
    ) -> Result<Option<Store>> {
        if !dir.join("data.mdb").is_file() {
            return Ok(None);
        }
        let store = match Store::open_dir(dir, writable) {
            Ok(store) => store,
            // Anything unreadable is treated as absent: it gets rebuilt, never trusted.
            Err(_) => return Ok(None),
        };
        let m = &store.meta;
        let current = m.schema == SCHEMA_VERSION
            && m.source_size == stat.size
            && (m.source_mtime_ns == stat.mtime_ns
                || m.fingerprint == fingerprint(source, stat.size)?);
        Ok(current.then_some(store))
    }

    /// Opens an existing index directory as it is (no staleness check).
    pub fn open_dir(dir: &Path, writable: bool) -> Result<Store> {
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
                Ok(CommitOrAbort::<_, ()>::Commit((meta, word2id, id2word, unit, quant, scale, forest)))
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
        };
        let rtxn = env
            .clone()
            .static_read_txn()
            .map_err(|e| lmdb_err(dir, e))?;
        let meta: Meta = dbs
            .meta
            .get(&rtxn, "meta")
            .map_err(|e| lmdb_err(dir, e))?
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .ok_or_else(incomplete)?;
        Ok(Store {
            rtxn,
            env,
            dbs,
            dir: dir.to_path_buf(),
            meta,
            writable,
        })
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

    /// The unit vector of `id` (zeros for a zero vector).
    pub fn vector(&self, id: u32) -> Option<Cow<'_, [f32]>> {
        let id = id as usize;
        if id >= self.len() {
            return None;
        }
        let rpc = self.meta.rows_per_chunk;
        let chunk = self.chunk(self.dbs.unit, (id / rpc) as u32)?;
        let at = (id % rpc) * self.dims();
        Some(match chunk {
            Cow::Borrowed(all) => Cow::Borrowed(&all[at..at + self.dims()]),
            Cow::Owned(all) => Cow::Owned(all[at..at + self.dims()].to_vec()),
        })
    }

    /// All unit vectors, zero-copy from the map where aligned.
    pub fn unit_rows(&self) -> Rows<'_, f32> {
        self.rows(self.dbs.unit, self.dims())
    }

    /// The int8 copy used by the exact scan.
    pub fn quant_rows(&self) -> QuantRows<'_> {
        let stride = search::quant_stride(self.dims());
        let n_chunks = self.len().div_ceil(self.meta.rows_per_chunk);
        let chunks = (0..n_chunks as u32)
            .map(|c| {
                let bytes = self
                    .dbs
                    .quant
                    .get(&self.rtxn, &c)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                Cow::Borrowed(bytemuck::cast_slice::<u8, i8>(bytes))
            })
            .collect();
        let rows = Rows {
            row_len: stride,
            rows_per_chunk: self.meta.rows_per_chunk,
            chunks,
            len: self.len(),
        };
        QuantRows {
            dims: self.dims(),
            rows,
            scales: self.rows(self.dbs.scale, 1),
        }
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
        // LMDB places large values at a page offset of 16 bytes, so this borrows in practice;
        // the copy only guards against a layout we did not foresee.
        Some(match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            Ok(floats) => Cow::Borrowed(floats),
            Err(_) => Cow::Owned(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
        })
    }

    /// Exact top-k by cosine over the stored unit vectors.
    pub fn exact_top_k(&self, query: &Query) -> Vec<Hit> {
        search::exact_top_k(&self.unit_rows(), &self.quant_rows(), query)
    }

    /// The forest's record, read afresh (a forest built by another thread or process shows up).
    pub fn forest(&self) -> Option<ForestMeta> {
        let rtxn = self.env.read_txn().ok()?;
        let bytes = self.dbs.meta.get(&rtxn, "forest").ok().flatten()?;
        serde_json::from_slice(bytes).ok()
    }

    /// Approximate top-k from the arroy forest, rescored exactly; `None` while there is no forest.
    /// Asks the forest for k plus the excluded words so that excluded inputs never cost places.
    pub fn approx_top_k(&self, query: &Query, oversampling: usize) -> Result<Option<Vec<Hit>>> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        // The forest counts only once its record is committed; checked in the same snapshot
        // the search reads.
        if self.dbs.meta.get(&rtxn, "forest").map_err(lmdb)?.is_none() {
            return Ok(None);
        }
        let forest_err = |e| IndexError::Forest {
            path: self.dir.clone(),
            source: e,
        };
        let reader =
            arroy::Reader::<Cosine>::open(&rtxn, 0, self.dbs.forest).map_err(forest_err)?;
        let mut q = query.vector.to_vec();
        if search::normalize(&mut q) == 0.0 {
            return Ok(Some(Vec::new()));
        }
        let restricted: roaring::RoaringBitmap;
        let mut nns = reader.nns(query.k + query.exclude.len());
        if let Some(n) = std::num::NonZeroUsize::new(oversampling) {
            nns.oversampling(n);
        }
        if query.limit < self.len() {
            restricted = (0..query.limit as u32).collect();
            nns.candidates(&restricted);
        }
        let found = nns.by_vector(&rtxn, &q).map_err(forest_err)?;
        let unit = self.unit_rows();
        let mut hits: Vec<Hit> = found
            .into_iter()
            .filter(|(id, _)| !query.exclude.contains(id))
            .map(|(id, _)| Hit {
                id,
                score: search::dot(unit.row(id as usize), &q),
            })
            .collect();
        search::sort_hits(&mut hits);
        hits.truncate(query.k);
        Ok(Some(hits))
    }

    /// Builds the arroy forest now (see `ForestBuilder::build`).
    pub fn build_forest(
        &self,
        trees: usize,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<ForestMeta> {
        self.forest_builder()?.build(trees, progress, cancel)
    }

    /// Whether the forest can be built through this store (it was opened writable).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// A handle that builds the forest on another thread while this store keeps answering.
    pub fn forest_builder(&self) -> Result<ForestBuilder> {
        if !self.writable {
            return Err(IndexError::ReadOnly);
        }
        Ok(ForestBuilder {
            env: self.env.clone(),
            dbs: self.dbs,
            dir: self.dir.clone(),
            meta: self.meta.clone(),
        })
    }
}

/// Builds the approximate-search forest of one index; `Send`, so it can run in the background.
pub struct ForestBuilder {
    env: Env<WithoutTls>,
    dbs: Dbs,
    dir: PathBuf,
    meta: Meta,
}

impl ForestBuilder {
    /// `build` on a thread pool of its own whose threads run at a low priority, for a build
    /// that runs while the same process answers queries. On rayon's global pool the exact scan
    /// queued behind arroy's tree jobs until the build was nearly done (a query typed 3 s into
    /// a 400k-word build took 40 s); on its own pool the build takes the cores only when the
    /// scan leaves them idle.
    pub fn build_in_background(
        &self,
        trees: usize,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<ForestMeta> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("vecsh-forest-{i}"))
            .start_handler(|_| lower_thread_priority())
            .build();
        match pool {
            Ok(pool) => pool.install(|| self.build(trees, progress, cancel)),
            // No threads to be had: build on this thread, still at low priority.
            Err(_) => {
                lower_thread_priority();
                self.build(trees, progress, cancel)
            }
        }
    }

    /// Builds the forest with `trees` trees (0: arroy's default) in one write transaction: a
    /// cancelled or killed build commits nothing. Returns at once if a forest exists.
    pub fn build(
        &self,
        trees: usize,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<ForestMeta> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let forest_err = |e| IndexError::Forest {
            path: self.dir.clone(),
            source: e,
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
            for (i, row) in bytes.chunks_exact(dims * 4).enumerate() {
                let row: Vec<f32> = row
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                // Zero vectors stay out of the forest so they are never returned.
                if row.iter().any(|&x| x != 0.0) {
                    writer
                        .add_item(&mut wtxn, (chunk * rpc + i) as u32, &row)
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
        let meta = ForestMeta {
            trees: n_trees,
            seconds: started.elapsed().as_secs_f64(),
            built_at: now_secs(),
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

/// Makes the calling thread yield the CPU to the rest of the process (nice 19). On Linux the
/// nice value is per thread; elsewhere this does nothing and the pool of its own is what keeps
/// queries from waiting.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory effects; `who` 0 is the calling thread on Linux. A
    // failure only leaves the priority as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// Size and mtime of the source, read once per open.
struct SourceStat {
    size: u64,
    mtime_ns: u64,
}

impl SourceStat {
    fn read(source: &Path) -> Result<SourceStat> {
        let meta = fs::metadata(source).map_err(|e| IndexError::Source {
            path: source.to_path_buf(),
            source: e,
        })?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(SourceStat {
            size: meta.len(),
            mtime_ns,
        })
    }
}

/// Builds the index for `source` aside and moves it into `dir`. The caller holds the lock.
fn build(
    source: &Path,
    stat: &SourceStat,
    dir: &Path,
    load: &LoadOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let started = Instant::now();
    let parent = dir.parent().unwrap_or(Path::new("."));
    remove_leftovers(dir);
    let tmp = sibling(dir, &format!(".building-{}", std::process::id()));
    fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    let result = write_index(source, stat, &tmp, load, progress, started);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Swap in: the old index (if any) is moved away first so `dir` is never half-written.
    let old = sibling(dir, &format!(".old-{}", std::process::id()));
    if dir.exists() {
        fs::rename(dir, &old).map_err(|e| io_err(dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| io_err(dir, e))?;
    if let Ok(d) = File::open(parent) {
        let _ = d.sync_all();
    }
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Removes half-built or replaced directories left by killed processes (we hold the lock).
fn remove_leftovers(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = entry_name.strip_prefix(name.as_ref()) {
            if rest.starts_with(".building-") || rest.starts_with(".old-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn write_index(
    source: &Path,
    stat: &SourceStat,
    tmp: &Path,
    load: &LoadOptions,
    progress: &dyn Progress,
    started: Instant,
) -> Result<()> {
    let lmdb = |e| lmdb_err(tmp, e);
    let env = open_env_for_build(tmp).map_err(lmdb)?;
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
            )))
        })
        .map_err(lmdb)?
        .unwrap_commit();
    let (meta_db, word2id, id2word, unit_db, quant_db, scale_db, _forest) = dbs;

    let mut sink = ChunkWriter {
        env: &env,
        unit_db,
        quant_db,
        scale_db,
        id2word,
        dims: 0,
        next_id: 0,
        pending: Vec::new(),
        chunk: 0,
        keys: Vec::new(),
        zero: 0,
    };
    progress.start("reading", stat.size, Unit::Bytes);
    let report = loader::load(
        source,
        load,
        &|done, _total| progress.set(done),
        &mut |batch| sink.push(batch),
    );
    progress.finish();
    let report = report?;
    sink.flush().map_err(lmdb)?;

    // word → id last, sorted, so LMDB can append instead of inserting at random.
    let mut keys = std::mem::take(&mut sink.keys);
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut wtxn = env.write_txn().map_err(lmdb)?;
    let mut previous: Option<&[u8]> = None;
    for (key, id) in &keys {
        // Two long words could share a hashed key: the first (more frequent) one keeps it.
        if previous == Some(key.as_slice()) {
            continue;
        }
        word2id
            .put_with_flags(&mut wtxn, PutFlags::APPEND, key, id)
            .map_err(lmdb)?;
        previous = Some(key);
    }
    let meta = Meta {
        schema: SCHEMA_VERSION,
        source: fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf()),
        source_size: stat.size,
        source_mtime_ns: stat.mtime_ns,
        fingerprint: fingerprint(source, stat.size)?,
        format: report.format,
        compression: report.compression.to_string(),
        member: report.member.clone(),
        words: report.words,
        dims: report.dims,
        limit: load.limit,
        duplicates: report.duplicates,
        lossy_words: report.lossy_words,
        zero_vectors: sink.zero,
        rows_per_chunk: ROWS_PER_CHUNK,
        build_seconds: started.elapsed().as_secs_f64(),
        built_at: now_secs(),
    };
    // The metadata is written last: an index without it never opens as valid.
    meta_db
        .put(
            &mut wtxn,
            "meta",
            &serde_json::to_vec(&meta).expect("metadata serialises"),
        )
        .map_err(lmdb)?;
    wtxn.commit().map_err(lmdb)?;
    env.force_sync().map_err(lmdb)?;
    Ok(())
}

/// Receives the loader's batches in file order and stores them chunk by chunk, one write
/// transaction per chunk so memory stays bounded whatever the file's size.
struct ChunkWriter<'e> {
    env: &'e Env<WithoutTls>,
    unit_db: Database<'static, Id, Bytes>,
    quant_db: Database<'static, Id, Bytes>,
    scale_db: Database<'static, Id, Bytes>,
    id2word: Database<'static, Id, Str>,
    dims: usize,
    next_id: u32,
    /// Raw rows not yet written (less than one chunk).
    pending: Vec<f32>,
    chunk: u32,
    keys: Vec<(Vec<u8>, u32)>,
    zero: usize,
}

impl ChunkWriter<'_> {
    fn push(&mut self, batch: loader::Batch) -> anyhow::Result<()> {
        if batch.words.is_empty() {
            return Ok(());
        }
        self.dims = batch.vectors.len() / batch.words.len();
        let mut wtxn = self.env.write_txn()?;
        for word in &batch.words {
            self.id2word
                .put_with_flags(&mut wtxn, PutFlags::APPEND, &self.next_id, word)?;
            self.keys.push((word_key(word).into_owned(), self.next_id));
            self.next_id += 1;
        }
        wtxn.commit()?;
        self.pending.extend_from_slice(&batch.vectors);
        while self.pending.len() >= ROWS_PER_CHUNK * self.dims {
            let rest = self.pending.split_off(ROWS_PER_CHUNK * self.dims);
            let full = std::mem::replace(&mut self.pending, rest);
            self.write_chunk(&full)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> heed::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.write_chunk(&rest)?;
        }
        Ok(())
    }

    fn write_chunk(&mut self, raw: &[f32]) -> heed::Result<()> {
        let (unit, q8, scales) = search::unit_and_quant(self.dims, raw);
        self.zero += scales.iter().filter(|&&s| s == 0.0).count();
        let mut wtxn = self.env.write_txn()?;
        self.unit_db
            .put(&mut wtxn, &self.chunk, bytemuck::cast_slice(&unit))?;
        self.quant_db
            .put(&mut wtxn, &self.chunk, bytemuck::cast_slice(&q8))?;
        self.scale_db
            .put(&mut wtxn, &self.chunk, bytemuck::cast_slice(&scales))?;
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
    opts.map_size(MAP_SIZE).max_dbs(DB_NAMES.len() as u32);
    // No fsync per commit: the directory is private until renamed, and one force_sync at the
    // end makes it durable before the rename.
    // SAFETY: the build directory is new and private to this process.
    unsafe {
        opts.flags(EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC);
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
    key.extend_from_slice(format!("{:016x}", fnv1a(0xcbf29ce484222325, bytes)).as_bytes());
    Cow::Owned(key)
}

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

/// Content fingerprint: size, first MiB and last MiB. Cheap enough to run on every mtime change.
fn fingerprint(source: &Path, size: u64) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let err = |e| IndexError::Source {
        path: source.to_path_buf(),
        source: e,
    };
    let mut file = File::open(source).map_err(err)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut hash = fnv1a(0xcbf29ce484222325, &size.to_le_bytes());
    let n = read_full(&mut file, &mut buf).map_err(err)?;
    hash = fnv1a(hash, &buf[..n]);
    if size > buf.len() as u64 {
        file.seek(SeekFrom::Start(size - buf.len() as u64))
            .map_err(err)?;
        let n = read_full(&mut file, &mut buf).map_err(err)?;
        hash = fnv1a(hash, &buf[..n]);
    }
    fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match file.read(&mut buf[n..])? {
                0 => break,
                m => n += m,
            }
        }
        Ok(n)
    }
    Ok(format!("{hash:016x}"))
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

fn io_err(path: &Path, source: std::io::Error) -> IndexError {
    IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn lmdb_err(path: &Path, source: heed::Error) -> IndexError {
    IndexError::Lmdb {
        path: path.to_path_buf(),
        source,
    }
}
