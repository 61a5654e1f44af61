//! Opening an index: reused when current (its stat proof or a full verification), built under
//! the lock otherwise; the LMDB environment's options.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use arroy::distances::Cosine;
use heed::types::{Bytes, Str};
use heed::{CommitOrAbort, Env, EnvFlags, EnvOpenOptions, WithoutTls};
use serde::Serialize;

use super::lmdb_check;
use crate::loader::{Format, LoadOptions};
use crate::progress::Progress;
use crate::text::escape_path;

use super::cache::{
    check_target, index_dir_for, is_vecsh_dir, open_lock, read_proof, remove_dead_streams, sibling,
    write_proof, RemoveOnDrop, STREAM_PREFIX,
};
use super::error::{io_err, lmdb_err, source_err, IndexError, Result};
use super::pc_stage::{pc_min_rows, PC_MIN_ROWS};
use super::records::{Companion, FileStat, Meta, Proof, SCHEMA_VERSION};
use super::rows::open_source;
use super::verify::{hash_file, MapBounds};
use super::write::{build, companion_stats};
use super::{Dbs, Id, Store, DB_NAMES};

/// Virtual only: LMDB maps this much address space; the file grows as needed.
const MAP_SIZE: usize = 1 << 40;

/// How much an open checks the index's integrity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verify {
    /// Read and hash everything (sessions, `vecsh eval`: they never answer from damage).
    #[default]
    Full,
    /// Trust the stat proof of the last full verification when `data.mdb` still matches it;
    /// verify fully otherwise (one-shot processes, which must stay fast).
    Proof,
    /// When the stat proof holds, open at once and verify everything in the background
    /// (`Store::background_verification`; sessions: their prompt does not wait for it, their
    /// answers do); verify fully otherwise.
    Background,
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
    /// Rows from which the exact search's principal-component stage is built and used; `None`:
    /// 200,000 (`PC_MIN_ROWS`). The command line passes `VECSH_PC_MIN_ROWS`; tests build the
    /// stage on small files with it.
    pub pc_min_rows: Option<usize>,
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
            store.pc_min_rows = pc_min_rows(opts);
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
                        companions: store.meta.companions.iter().map(|c| c.stat).collect(),
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
        store.pc_min_rows = pc_min_rows(opts);
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
                    "index {} is damaged ({what}); rebuilding it (lists or a stage `vecsh build` \
                     added, if any, are not rebuilt: run it again)",
                    escape_path(dir)
                ));
                return Ok(None);
            }
            // Anything unreadable is treated as absent: it gets rebuilt, never trusted.
            Err(_) => return Ok(None),
        };
        store.pc_min_rows = pc_min_rows(opts);
        // A fastText model indexed before n-grams were stored lacks them: rebuild.
        let incomplete = store.meta.format == Format::FastTextBin && store.meta.subwords.is_none();
        if store.meta.schema < SCHEMA_VERSION && store.meta.source_stat.size == stat.size {
            progress.note(&format!(
                "index {} was built by an older vecsh (schema {}, now {SCHEMA_VERSION}); \
                 rebuilding it once",
                escape_path(dir),
                store.meta.schema
            ));
        }
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
        let Some((companions_known, companion_stats)) =
            companions_current(&store.meta.companions, proof.as_ref(), source, &opts.load)?
        else {
            return Ok(None);
        };
        if !store.read_rows_from(source, stat) {
            return Ok(None);
        }
        let data_stat = FileStat::of(&dir.join("data.mdb")).ok();
        let proven = source_known
            && companions_known
            && data_stat.is_some()
            && proof.as_ref().map(|p| p.data) == data_stat;
        // A session on a proven index: its record checked now, everything else after the
        // prompt, before any answer.
        if proven
            && opts.verify == Verify::Background
            && store.meta_intact()
            && store.verify_in_background()
        {
            return Ok(Some(store));
        }
        if !(proven && opts.verify == Verify::Proof) {
            // Whatever stops the verification, the index is not trusted: it is rebuilt.
            if let Err(e) = store.verify_or_damaged() {
                let what = match e {
                    IndexError::Damaged { what, .. } => what,
                    other => other.to_string(),
                };
                progress.note(&format!(
                    "index {} is damaged ({what}); rebuilding it{}",
                    escape_path(dir),
                    store.dropped_by_rebuild(opts)
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
                        companions: companion_stats,
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
                let side = (opener.open_database::<Id, Bytes>(rtxn, Some("norms"))?, opener.open_database::<Id, Bytes>(rtxn, Some("labels"))?, opener.open_database::<Id, Bytes>(rtxn, Some("weights"))?);
                Ok(CommitOrAbort::<_, ()>::Commit((meta, word2id, id2word, unit, quant, scale, forest, (ngrams, pcstage, ivf), side)))
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
            (norms, labels, weights),
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
            norms,
            labels,
            weights,
        };
        let rtxn = env
            .clone()
            .static_read_txn()
            .map_err(|e| lmdb_err(dir, e))?;
        let bounds = MapBounds::of(&dir.join("data.mdb"));
        // No meta record: a build that never finished. One that does not read is damage (a
        // build writes it whole), said as such when the index is rebuilt.
        let bytes = dbs
            .meta
            .get(&rtxn, "meta")
            .map_err(|e| lmdb_err(dir, e))?
            .ok_or_else(incomplete)?;
        let meta: Meta = bounds
            .holds(bytes)
            .then(|| serde_json::from_slice(bytes).ok())
            .flatten()
            .ok_or_else(|| IndexError::Damaged {
                path: dir.to_path_buf(),
                what: "its meta record is unreadable".into(),
            })?;
        let source = meta.unit_in_source.then(|| open_source(&meta.source));
        Ok(Store {
            rtxn,
            env,
            dbs,
            dir: dir.to_path_buf(),
            source,
            source_unlinked: std::cell::Cell::new(None),
            source_told: std::cell::Cell::new(false),
            source_path: meta.source.clone(),
            meta,
            writable,
            verified_now: false,
            temporary: None,
            pc_min_rows: PC_MIN_ROWS,
            added_stage: Default::default(),
            background: None,
            encoder: Default::default(),
            pause: Default::default(),
        })
    }

    /// What a rebuild of this index under `opts` leaves out that it has now (what `vecsh build`
    /// added), as a clause for the damage note: "" when nothing.
    fn dropped_by_rebuild(&self, opts: &OpenOptions) -> String {
        let mut dropped = Vec::new();
        if self.lists().is_some() {
            dropped.push("its lists");
        }
        if self.forest().is_some() {
            dropped.push("its forest");
        }
        if self.meta.pc_dims > 0 && !opts.exact_stage {
            dropped.push("its principal-component stage");
        }
        if dropped.is_empty() {
            return String::new();
        }
        format!(
            " without {} (`vecsh build {}` adds {} again)",
            dropped.join(" and "),
            escape_path(&self.source_path),
            if dropped.len() == 1 { "it" } else { "them" }
        )
    }

    /// Whether this open verified the whole index (false: the stat proof of an earlier full
    /// verification stood for it).
    pub fn verified_now(&self) -> bool {
        self.verified_now
    }
}

/// Whether the files besides `source` that the index was built from (`Meta::companions`) are
/// still the ones `source` has under these options, with the same content: `None` if not (a
/// companion added, removed or changed: the index is rebuilt, and the loader says what is
/// missing). Otherwise whether each one's stat is the one recorded at build time or in the
/// proof (else its content was hashed and matched), and their stats now.
pub(super) fn companions_current(
    built: &[Companion],
    proof: Option<&Proof>,
    source: &Path,
    load: &LoadOptions,
) -> Result<Option<(bool, Vec<FileStat>)>> {
    let Ok(now) = companion_stats(source, load) else {
        return Ok(None);
    };
    if now.len() != built.len() || now.iter().zip(built).any(|((path, _), c)| *path != c.path) {
        return Ok(None);
    }
    let mut known = true;
    for (i, ((path, stat), c)) in now.iter().zip(built).enumerate() {
        let proven = c.stat == *stat || proof.and_then(|p| p.companions.get(i)) == Some(stat);
        if !proven {
            // Any change of a companion's stat: its whole content decides.
            known = false;
            if hash_file(path)? != c.hash {
                return Ok(None);
            }
        }
    }
    Ok(Some((
        known,
        now.into_iter().map(|(_, stat)| stat).collect(),
    )))
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
