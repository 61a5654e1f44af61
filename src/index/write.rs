//! The first build: an index written aside (the LMDB map grown on allocated space, the chunk
//! and n-gram writers) and swapped into place.

use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use arroy::distances::Cosine;
use heed::types::{Bytes, Str};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, PutFlags, WithoutTls};
use xxhash_rust::xxh3::xxh3_64;

use crate::loader;
use crate::progress::{Progress, Unit};
use crate::search;

use super::cache::{
    check_target, is_vecsh_dir, remove_leftovers, retire_old_index, sibling, MARKER,
};
use super::error::{io_err, lmdb_err, source_err, IndexError, Result};
use super::open::OpenOptions;
use super::pc_stage::{pc_min_rows, pc_reserve, write_pc_stage, PcWritten};
use super::records::{now_secs, Checksums, Companion, FileStat, Meta, SCHEMA_VERSION, WORD_CHUNK};
use super::rows::{word_key, SourceFile};
use super::side::SideWriter;
use super::space::{build_need, AppendedTable, BuildShape};
use super::verify::{hash_file, MapBounds, TableHasher};
use super::{Id, DB_NAMES};

/// Rows per stored vector chunk. Chunks keep each LMDB value (and each write transaction)
/// bounded: 65,536 rows × 300 dims × 4 bytes = 75 MiB at most for common files.
pub(super) const ROWS_PER_CHUNK: usize = 1 << 16;

/// Builds the index for `source` aside and moves it into `dir`. The caller holds the lock and
/// has checked (`check_target`) that `dir` is absent, empty, or vecsh's own.
pub(super) fn build(
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
                needed_mb: seen.estimate_mb(used, stat.size, opts),
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

/// The companions of `source` (`loader::companions`) that exist now, by canonical path, with
/// their stat. One that is not a regular file (a FIFO, a device) is an error: hashing it could
/// wait or read forever.
pub(super) fn companion_stats(
    source: &Path,
    load: &loader::LoadOptions,
) -> Result<Vec<(PathBuf, FileStat)>> {
    loader::companions(source, load)
        .into_iter()
        .map(|path| {
            let path = fs::canonicalize(&path).map_err(|e| source_err(&path, e))?;
            let meta = fs::metadata(&path).map_err(|e| source_err(&path, e))?;
            if !meta.is_file() {
                return Err(source_err(
                    &path,
                    std::io::Error::other("not a regular file"),
                ));
            }
            let stat = FileStat::from_metadata(&meta).map_err(|e| source_err(&path, e))?;
            Ok((path, stat))
        })
        .collect()
}

/// Hashes each companion; one whose stat changed since `companion_stats` (while the rows were
/// read) is an error, as a source that changed is.
fn hash_companions(stats: Vec<(PathBuf, FileStat)>) -> Result<Vec<Companion>> {
    stats
        .into_iter()
        .map(|(path, stat)| {
            let hash = hash_file(&path)?;
            if FileStat::of(&path).ok() != Some(stat) {
                return Err(source_err(
                    &path,
                    std::io::Error::other("it changed while vecsh was reading it"),
                ));
            }
            Ok(Companion { path, stat, hash })
        })
        .collect()
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

/// Bytes free to this user on the file system holding `path`.
pub(super) fn free_bytes(path: &Path) -> Option<u64> {
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
    /// The words' bytes, and whether their rows stay in the source (offsets are stored).
    word_bytes: std::sync::atomic::AtomicU64,
    in_source: std::sync::atomic::AtomicBool,
    /// Bytes of fastText n-gram rows.
    ngram_bytes: std::sync::atomic::AtomicU64,
}

impl BuildSeen {
    /// The free space, in MB, a first build of the whole source needs (`space::build_need`):
    /// what was seen, extrapolated to the whole source; never less than what was already
    /// allocated.
    fn estimate_mb(&self, written: u64, total: u64, opts: &OpenOptions) -> u64 {
        let (read, rows) = (
            self.read.load(Ordering::Relaxed),
            self.rows.load(Ordering::Relaxed),
        );
        let dims = self.dims.load(Ordering::Relaxed) as usize;
        let scale = if read > 0 && total > read {
            total as f64 / read as f64
        } else {
            1.0
        };
        let whole_rows = rows as f64 * scale;
        let shape = BuildShape {
            rows: whole_rows,
            dims,
            word_bytes: self.word_bytes.load(Ordering::Relaxed) as f64 / rows.max(1) as f64,
            in_source: self.in_source.load(Ordering::Relaxed),
            ngram_bytes: self.ngram_bytes.load(Ordering::Relaxed) as f64 * scale,
            pc_bytes: match opts.exact_stage {
                true => pc_reserve(whole_rows as usize, dims, pc_min_rows(opts), 4096) as f64,
                false => 0.0,
            },
            page: 4096,
        };
        build_need(&shape, ROWS_PER_CHUNK)
            .max(written)
            .div_ceil(1 << 20)
            .max(1)
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
            retire_old_index(&old, dir);
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

// One piece: the build's steps in the order an index's validity rests on (rows and
// n-grams, the stage, word → id, then the checksums and the meta record last, the unused tail
// cut and one fsync), sharing the environment, the map's room, the writers and their running
// checksums; split up, each part would only pass that state on to the next.
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
    // Before any row is read, like the source's: a companion written while it is read is seen.
    let companions = if fs::metadata(source).is_ok_and(|m| m.is_file()) {
        companion_stats(source, load)?
    } else {
        Vec::new()
    };
    let lmdb = |e| lmdb_err(tmp, e);
    let env = open_env_for_build(tmp).map_err(lmdb)?;
    let room = Room::new(&env, tmp).map_err(lmdb)?;
    // The first answer scans the int8 copy and reads a few unit rows; only the exact stage
    // (`vecsh build`) reads them all back during the build.
    room.drop_lag.set((!opts.exact_stage).then_some(DROP_LAG));
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
                (
                    opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[10]))?,
                    opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[11]))?,
                    opener.create_database::<Id, Bytes>(wtxn, Some(DB_NAMES[12]))?,
                ),
            )))
        })
        .map_err(lmdb)?
        .unwrap_commit();
    let (
        meta_db,
        word2id,
        id2word,
        unit_db,
        quant_db,
        scale_db,
        _forest,
        ngrams_db,
        pc_db,
        _ivf,
        (norms_db, labels_db, weights_db),
    ) = dbs;

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
        keys: WordKeys::default(),
        zero: 0,
        id2word_sum: TableHasher::default(),
        word_chunk_sum: TableHasher::default(),
        id2word_chunks: Vec::new(),
        unit_sums: Vec::new(),
        quant_sums: Vec::new(),
        scale_sums: Vec::new(),
        side: SideWriter::new(norms_db, labels_db, weights_db),
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
                    let bytes = batch.words.iter().map(|w| w.len() as u64).sum();
                    seen.word_bytes.fetch_add(bytes, Ordering::Relaxed);
                    seen.in_source
                        .store(batch.offsets.is_some(), Ordering::Relaxed);
                    if let Some(dims) = batch.vectors.len().checked_div(batch.words.len()) {
                        seen.dims.store(dims as u64, Ordering::Relaxed);
                    }
                    tx.send(Parsed::Rows(batch)).map_err(|_| stopped())
                },
                &mut |batch| {
                    let bytes = batch.vectors.len() as u64 * 4;
                    seen.ngram_bytes.fetch_add(bytes, Ordering::Relaxed);
                    tx.send(Parsed::Ngrams(batch)).map_err(|_| stopped())
                },
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
    // Every row is written: a thread of its own makes them durable while word → id is sorted
    // and stored, so the final fsync finds little left to write (it took 0.30–0.37 s after the
    // last put at 2M x 300, 34–52 ms on GloVe 6B 50d). If the build fails before the join, the
    // thread finishes on its own: it only syncs a descriptor of the temporary file.
    let early_sync = room
        .file
        .try_clone()
        .map(|file| std::thread::spawn(move || file.sync_data()))
        .map_err(|e| io_err(tmp, e))?;
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
        let min_rows = pc_min_rows(opts);
        write_pc_stage(
            &env,
            &room,
            pc_dbs,
            meta_db,
            in_place.as_ref().map(|file| SourceFile {
                file,
                stat: *stat,
                encoding: report.row_encoding,
            }),
            words,
            dims,
            min_rows,
        )
        .map_err(lmdb)?
    } else {
        PcWritten::default()
    };

    // word → id last, sorted, so LMDB can append instead of inserting at random.
    let mut keys = std::mem::take(&mut sink.keys);
    keys.sort();
    let mut table = AppendedTable::new(room.page);
    keys.sorted().for_each(|(k, _)| table.add(k.len(), 4));
    room.ensure(table.bytes()).map_err(lmdb)?;
    let mut wtxn = env.write_txn().map_err(lmdb)?;
    let mut previous: Option<&[u8]> = None;
    let mut word2id_sum = TableHasher::default();
    for (key, id) in keys.sorted() {
        let id = &id;
        // Two long words could share a hashed key: the first (more frequent) one keeps it.
        if previous == Some(key) {
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
        latin1_words: report.latin1_words,
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
        companions: hash_companions(companions)?,
        notes: report.notes.clone(),
        labels: sink.side.labelled(),
        model: report.model.clone(),
        row_encoding: report.row_encoding,
    };
    let meta_json = serde_json::to_vec(&meta).expect("metadata serialises (paths as bytes)");
    let sums = Checksums {
        meta: xxh3_64(&meta_json),
        word2id: word2id_sum.finish(),
        id2word: sink.id2word_sum.finish(),
        id2word_chunks: sink.word_chunks(),
        word_chunk: WORD_CHUNK,
        unit: std::mem::take(&mut sink.unit_sums),
        quant: std::mem::take(&mut sink.quant_sums),
        scale: std::mem::take(&mut sink.scale_sums),
        ngrams: std::mem::take(&mut ngrams.sums),
        pcstage: pc.sums,
        pc_basis: pc.basis_sum,
        norms: std::mem::take(&mut sink.side.norm_sums),
        labels: std::mem::take(&mut sink.side.label_sums),
        weights: std::mem::take(&mut sink.side.weight_sums),
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
    let data = tmp.join("data.mdb");
    early_sync
        .join()
        .expect("the sync thread does not panic")
        .map_err(|e| io_err(&data, e))?;
    let used = room.used();
    drop(room);
    drop(env);
    // The environment is closed: cut the preallocated tail LMDB never used, then make the
    // whole file durable with one fsync (the build wrote without syncing).
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
pub(super) struct Room<'e> {
    env: &'e Env<WithoutTls>,
    file: File,
    /// The map size, all of it allocated on disk.
    size: std::cell::Cell<usize>,
    /// Where LMDB mapped the file (it moves when the map grows); `None`: unknown.
    base: std::cell::Cell<Option<usize>>,
    data: PathBuf,
    pub(super) page: usize,
    /// How far behind the writer the unit rows leave the page cache (`drop_behind`); `None`:
    /// they stay.
    drop_lag: std::cell::Cell<Option<usize>>,
    /// Unit values written back but still in the page cache, oldest first: (offset, length).
    behind: std::cell::RefCell<std::collections::VecDeque<(u64, usize)>>,
}

/// Bytes of unit rows `Room::drop_behind` leaves in the page cache behind the writer: two
/// 300-dimension chunks, so the write-back of a value has had a chunk's time to finish
/// before it is waited for. An index whose rows are smaller keeps them all.
const DROP_LAG: usize = 160 << 20;

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
            drop_lag: std::cell::Cell::new(None),
            behind: Default::default(),
        };
        room.allocate(env.info().map_size)?;
        room.find_base();
        Ok(room)
    }

    fn find_base(&self) {
        let base = match MapBounds::of(&self.data).maps.as_deref() {
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
    pub(super) fn fill(
        &self,
        space: &mut heed::ReservedSpace,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        self.fill_at(space, bytes).map(drop)
    }

    /// `fill` for a value the rest of the build never reads again (the unit rows when no
    /// stage is computed from them): once written back to the disk, its pages leave the page
    /// cache `DROP_LAG` bytes behind the writer (`drop_behind`).
    fn fill_and_drop_behind(
        &self,
        space: &mut heed::ReservedSpace,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        match self.fill_at(space, bytes)? {
            Some(offset) => match self.drop_lag.get() {
                Some(lag) => self.drop_behind(offset, bytes.len(), lag),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Starts the write-back of `len` bytes at `offset` of the file, and drops from the page
    /// cache what was queued before the last `lag` bytes, once it is on the disk.
    ///
    /// Why: a page of page cache this VM's guest has not used lately costs a host fault on
    /// first touch, so the kernel's copy into fresh pages ran at 0.4–0.8 GB/s (36–39 % of the
    /// 2M x 300 text file's CPU time). Pages dropped here go back to the free lists warm, and
    /// the next values' page cache is made of them. Only clean, unmapped pages are dropped
    /// (`POSIX_FADV_DONTNEED`), so no byte is lost; the final fsync still makes the whole file
    /// durable before the rename, and a write-back error here fails the build.
    fn drop_behind(&self, offset: u64, len: usize, lag: usize) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let range = |offset: u64, len: usize, flags| {
            // SAFETY: a write-back request on a file descriptor this struct owns; it changes no
            // byte of the file.
            let rc = unsafe {
                libc::sync_file_range(fd, offset as libc::off64_t, len as libc::off64_t, flags)
            };
            match rc {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        };
        range(offset, len, libc::SYNC_FILE_RANGE_WRITE)?;
        let mut queue = self.behind.borrow_mut();
        queue.push_back((offset, len));
        while queue.iter().map(|&(_, len)| len).sum::<usize>() > lag {
            let Some((offset, len)) = queue.pop_front() else {
                break;
            };
            range(
                offset,
                len,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            )?;
            // SAFETY: advice on a file descriptor this struct owns: DONTNEED drops only clean
            // pages that no process maps (the bytes stay on the disk, where reads find them).
            unsafe {
                libc::posix_fadvise(
                    fd,
                    offset as libc::off_t,
                    len as libc::off_t,
                    libc::POSIX_FADV_DONTNEED,
                );
            }
        }
        Ok(())
    }

    /// `fill`, saying at which offset of the file the bytes went when they went by `pwrite`.
    fn fill_at(
        &self,
        space: &mut heed::ReservedSpace,
        bytes: &[u8],
    ) -> std::io::Result<Option<u64>> {
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
                Ok(Some(offset as u64))
            }
            _ => std::io::Write::write_all(space, bytes).map(|()| None),
        }
    }

    /// The bytes LMDB's pages use so far.
    fn used(&self) -> u64 {
        (self.env.info().last_page_number as u64 + 1) * self.page as u64
    }

    /// Makes sure the next write transaction has `need` bytes (plus slack for B-tree pages)
    /// of allocated map; grows by a quarter at least, so a build grows it a few dozen times
    /// (about 40 at 3M x 300), and a build on a roomy disk allocates at most a quarter more
    /// than it asked for (by half, a 46 MiB index took 72 MiB while it was built).
    /// Called between transactions only (LMDB remaps on a resize).
    pub(super) fn ensure(&self, need: usize) -> heed::Result<()> {
        let want = self.used() as usize + need + need / 8 + (2 << 20);
        let size = self.size.get();
        if want <= size {
            return Ok(());
        }
        let round = |n: usize| n.next_multiple_of(1 << 20);
        let grown = round(want.max(size + size / 4));
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
    keys: WordKeys,
    zero: usize,
    /// Checksums of what was written, in the order verification reads it back.
    id2word_sum: TableHasher,
    /// Of the `WORD_CHUNK` ids being written, and of each run written (`Checksums`).
    word_chunk_sum: TableHasher,
    id2word_chunks: Vec<u64>,
    unit_sums: Vec<u64>,
    quant_sums: Vec<u64>,
    scale_sums: Vec<u64>,
    /// Each row's norm and label (`side`).
    side: SideWriter,
}

impl ChunkWriter<'_> {
    fn push(&mut self, batch: loader::Batch) -> anyhow::Result<()> {
        if batch.words.is_empty() {
            return Ok(());
        }
        self.dims = batch.vectors.len() / batch.words.len();
        let mut table = AppendedTable::new(self.room.page);
        batch.words.iter().for_each(|w| table.add(4, w.len()));
        self.room.ensure(table.bytes())?;
        let mut wtxn = self.env.write_txn()?;
        for word in &batch.words {
            self.id2word
                .put_with_flags(&mut wtxn, PutFlags::APPEND, &self.next_id, word)?;
            self.id2word_sum
                .add(&self.next_id.to_be_bytes(), word.as_bytes());
            self.word_chunk_sum
                .add(&self.next_id.to_be_bytes(), word.as_bytes());
            if (self.next_id as usize + 1).is_multiple_of(WORD_CHUNK) {
                let run = std::mem::take(&mut self.word_chunk_sum);
                self.id2word_chunks.push(run.finish());
            }
            self.keys.push(&word_key(word), self.next_id);
            self.next_id += 1;
        }
        wtxn.commit()?;
        let in_source = batch.offsets.is_some();
        if *self.in_source.get_or_insert(in_source) != in_source {
            anyhow::bail!("the loader gave row offsets for some batches only");
        }
        self.side.push_labels(batch.labels.as_deref())?;
        self.side.push_weights(batch.weights.as_deref())?;
        if in_source {
            return self.push_in_source(batch);
        }
        self.pending.extend_from_slice(&batch.vectors);
        let chunk_len = ROWS_PER_CHUNK * self.dims;
        while self.pending.len() >= chunk_len {
            // The buffers are reused from chunk to chunk: a fresh 75 MB allocation each time
            // cost a page fault and a zeroed page for every 4 KB of it.
            let mut rows = std::mem::take(&mut self.pending);
            let done = self.write_chunk(&mut rows[..chunk_len]);
            rows.drain(..chunk_len);
            self.pending = rows;
            done?;
        }
        Ok(())
    }

    /// Rows read in place: each batch is normalised and quantised as it comes, and only its
    /// int8 copy, scales, norms and offsets wait for the chunk to fill (at 4,096 dimensions a
    /// chunk's f32 rows were 1 GiB, its int8 copy is a quarter of that).
    fn push_in_source(&mut self, mut batch: loader::Batch) -> anyhow::Result<()> {
        use rayon::prelude::*;
        let dims = self.dims;
        let stride = search::quant_stride(dims);
        let n = batch.words.len();
        let old = self.scales.len();
        self.q8.resize((old + n) * stride, 0);
        self.scales.resize(old + n, 0.0);
        self.side.norms.resize(old + n, 0.0);
        batch
            .vectors
            .par_chunks_mut(dims)
            .zip(self.q8[old * stride..].par_chunks_mut(stride))
            .zip(
                self.scales[old..]
                    .par_iter_mut()
                    .zip(self.side.norms[old..].par_iter_mut()),
            )
            .for_each(|((row, out), (scale, norm))| {
                *norm = search::normalize(row);
                *scale = search::quantize_row(row, out);
            });
        self.pending_offsets
            .extend_from_slice(batch.offsets.as_deref().unwrap_or_default());
        while self.scales.len() >= ROWS_PER_CHUNK {
            self.write_quantized(ROWS_PER_CHUNK)?;
        }
        Ok(())
    }

    /// Writes the first `n` rows quantised by `push_in_source` as a chunk (their offsets as
    /// the unit value) and drops them from the pending buffers.
    fn write_quantized(&mut self, n: usize) -> heed::Result<()> {
        let stride = search::quant_stride(self.dims);
        let rest_q8 = self.q8.split_off(n * stride);
        let rest_scales = self.scales.split_off(n);
        let rest_norms = self.side.norms.split_off(n);
        let rest_offsets = self.pending_offsets.split_off(n);
        self.zero += self.scales.iter().filter(|&&s| s == 0.0).count();
        let offset_bytes: Vec<u8> = self
            .pending_offsets
            .iter()
            .flat_map(|o| o.to_le_bytes())
            .collect();
        let written = self.put_chunk(&offset_bytes, n);
        self.q8 = rest_q8;
        self.scales = rest_scales;
        self.side.norms = rest_norms;
        self.pending_offsets = rest_offsets;
        written
    }

    /// Stores one chunk: `unit` (rows or offsets), the int8 copy and scales in `q8` and
    /// `scales`, and the side tables (`side.norms` and what it holds), with their checksums.
    fn put_chunk(&mut self, unit: &[u8], n: usize) -> heed::Result<()> {
        let (q8, scales): (&[u8], &[u8]) = (
            bytemuck::cast_slice(&self.q8),
            bytemuck::cast_slice(&self.scales),
        );
        self.unit_sums.push(xxh3_64(unit));
        self.quant_sums.push(xxh3_64(q8));
        self.scale_sums.push(xxh3_64(scales));
        self.room.ensure(
            unit.len() + q8.len() + scales.len() + SideWriter::chunk_bytes(n) + 5 * self.room.page,
        )?;
        let mut wtxn = self.env.write_txn()?;
        for (db, bytes, is_unit) in [
            (self.unit_db, unit, true),
            (self.quant_db, q8, false),
            (self.scale_db, scales, false),
        ] {
            db.put_reserved(&mut wtxn, &self.chunk, bytes.len(), |space| match is_unit {
                true => self.room.fill_and_drop_behind(space, bytes),
                false => self.room.fill(space, bytes),
            })?;
        }
        self.side.put(&mut wtxn, self.room, self.chunk, n)?;
        wtxn.commit()?;
        self.chunk += 1;
        Ok(())
    }

    fn flush(&mut self) -> heed::Result<()> {
        if self.in_source() && !self.scales.is_empty() {
            return self.write_quantized(self.scales.len());
        }
        if !self.pending.is_empty() {
            let mut rest = std::mem::take(&mut self.pending);
            self.write_chunk(&mut rest)?;
        }
        Ok(())
    }

    /// The checksums of `id2word`'s runs of `WORD_CHUNK` ids, the last one partial.
    fn word_chunks(&mut self) -> Vec<u64> {
        let mut sums = std::mem::take(&mut self.id2word_chunks);
        if !(self.next_id as usize).is_multiple_of(WORD_CHUNK) {
            sums.push(self.word_chunk_sum.finish());
        }
        sums
    }

    fn in_source(&self) -> bool {
        self.in_source == Some(true)
    }

    /// Normalises `rows` in place (they become the unit chunk), quantises them into reused
    /// buffers, and stores the three values: the same bytes as `search::unit_and_quant`.
    /// (Rows read in place from the source go through `push_in_source` instead.)
    fn write_chunk(&mut self, rows: &mut [f32]) -> heed::Result<()> {
        use rayon::prelude::*;
        let dims = self.dims;
        let stride = search::quant_stride(dims);
        let n = rows.len() / dims;
        self.q8.clear();
        self.q8.resize(n * stride, 0);
        self.scales.clear();
        self.scales.resize(n, 0.0);
        self.side.norms.clear();
        self.side.norms.resize(n, 0.0);
        rows.par_chunks_mut(dims)
            .zip(self.q8.par_chunks_mut(stride))
            .zip(
                self.scales
                    .par_iter_mut()
                    .zip(self.side.norms.par_iter_mut()),
            )
            .for_each(|((row, out), (scale, norm))| {
                *norm = search::normalize(row);
                *scale = search::quantize_row(row, out);
            });
        self.zero += self.scales.iter().filter(|&&s| s == 0.0).count();
        debug_assert!(
            !self.in_source(),
            "rows read in place go through push_in_source"
        );
        self.put_chunk(bytemuck::cast_slice(&*rows), n)
    }
}

/// The word → id table's keys (`word_key`) in one arena, sorted for LMDB's appends. A `Vec`
/// a key made the sort (by `memcmp`) and the frees a fifth of a GloVe 6B 50d first open; here
/// keys are ordered by their first eight bytes as an integer first, on every core.
#[derive(Default)]
struct WordKeys {
    bytes: Vec<u8>,
    /// (first eight bytes big-endian, zero-padded; start in `bytes`; length; id).
    entries: Vec<(u64, usize, u32, u32)>,
}

impl WordKeys {
    fn push(&mut self, key: &[u8], id: u32) {
        let mut head = [0u8; 8];
        let n = key.len().min(8);
        head[..n].copy_from_slice(&key[..n]);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        self.entries
            .push((u64::from_be_bytes(head), start, key.len() as u32, id));
    }

    fn key(&self, entry: &(u64, usize, u32, u32)) -> &[u8] {
        &self.bytes[entry.1..entry.1 + entry.2 as usize]
    }

    /// Sorts the keys in byte order (LMDB's), equal keys by id.
    fn sort(&mut self) {
        use rayon::prelude::*;
        let mut entries = std::mem::take(&mut self.entries);
        // Zero padding keeps the integer order that of the bytes: a key that ends inside the
        // first eight bytes sorts before one it is a prefix of, or ties and is compared whole.
        entries.par_sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.key(a).cmp(self.key(b)))
                .then_with(|| a.3.cmp(&b.3))
        });
        self.entries = entries;
    }

    /// The keys and their ids, in the order `sort` left them.
    fn sorted(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        self.entries.iter().map(|e| (self.key(e), e.3))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Values dropped from the page cache behind the writer (here each once the next one is
    /// written: a lag of 4 MB, values of 3 MB) read back as written, across resizes of the map.
    #[test]
    fn values_dropped_behind_the_writer_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env_for_build(dir.path()).unwrap();
        let room = Room::new(&env, dir.path()).unwrap();
        room.drop_lag.set(Some(4 << 20));
        let wtxn = env.write_txn().unwrap();
        let db = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
                Ok(CommitOrAbort::<_, ()>::Commit(
                    opener.create_database::<Id, Bytes>(wtxn, Some("t"))?,
                ))
            })
            .unwrap()
            .unwrap_commit();
        let value = |i: u32| -> Vec<u8> {
            (0..(3 << 20) + 17 * i as usize)
                .map(|j| (j as u32).wrapping_mul(2_654_435_761).wrapping_add(i) as u8)
                .collect()
        };
        for i in 0..6u32 {
            let bytes = value(i);
            room.ensure(bytes.len() + 4 * room.page).unwrap();
            let mut wtxn = env.write_txn().unwrap();
            db.put_reserved(&mut wtxn, &i, bytes.len(), |space| {
                room.fill_and_drop_behind(space, &bytes)
            })
            .unwrap();
            wtxn.commit().unwrap();
        }
        // Five were written back and dropped, the last one waits in the queue.
        assert_eq!(room.behind.borrow().len(), 1);
        let rtxn = env.read_txn().unwrap();
        for i in 0..6u32 {
            assert!(
                db.get(&rtxn, &i).unwrap() == Some(&value(i)[..]),
                "value {i}"
            );
        }
    }
}
