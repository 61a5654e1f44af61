//! Verification: every table and chunk hashed against the checksums recorded at build time, each
//! value's extent checked against the mapped file before it is read.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use arroy::distances::Cosine;
use heed::types::Bytes;
use heed::{Env, RoTxn, WithoutTls};
use serde::Serialize;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::lmdb_check;
use super::on_read::Ledger;

use super::cache::{check_target, index_dir_for, is_vecsh_dir, remove_proof, write_proof};
use super::error::{lmdb_err, source_err, IndexError, Result};
use super::open::{companions_current, OpenOptions};
use super::records::{
    unseal, ApproxCalibration, Checksums, FileStat, ForestMeta, ListsMeta, Proof, CELL_RECORDS,
    SCHEMA_VERSION,
};
use super::side::NORMS_SINCE;
use super::{Dbs, Store};

/// What a full verification found, table by table.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub index: PathBuf,
    /// (table, problem or `None` when intact)
    pub tables: Vec<(String, Option<String>)>,
    pub bytes: u64,
    pub seconds: f64,
    /// No index has been built for this file yet: nothing was verified.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_indexed: bool,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        !self.not_indexed && self.tables.iter().all(|(_, problem)| problem.is_none())
    }

    /// The first problem, named with its table.
    pub fn first_problem(&self) -> Option<String> {
        self.tables
            .iter()
            .find_map(|(t, p)| p.as_ref().map(|p| format!("{t}: {p}")))
    }
}

/// `vecsh info --verify`: checks the existing index of `source` completely (every table and
/// chunk, the forest, and whether the source still has the content it was built from)
/// without rebuilding anything. A truncated or unreadable index is a report, not an error.
pub fn verify_index(source: &Path, opts: &OpenOptions) -> Result<VerifyReport> {
    let started = Instant::now();
    let dir = index_dir_for(source, opts)?;
    let in_cache = opts.index_dir.is_none();
    check_target(&dir, in_cache)?;
    let damaged = |what: String| {
        // Whatever proof there was, the next open verifies (and rebuilds).
        remove_proof(&dir);
        VerifyReport {
            index: dir.clone(),
            tables: vec![("data.mdb".into(), Some(what))],
            bytes: 0,
            seconds: started.elapsed().as_secs_f64(),
            not_indexed: false,
        }
    };
    if !dir.exists() || (!dir.join("data.mdb").exists() && is_empty_dir(&dir)) {
        return Ok(VerifyReport {
            index: dir.clone(),
            tables: Vec::new(),
            bytes: 0,
            seconds: started.elapsed().as_secs_f64(),
            not_indexed: true,
        });
    }
    if !dir.join("data.mdb").is_file() || !is_vecsh_dir(&dir, in_cache) {
        return Ok(damaged("missing".into()));
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
    // The files read besides the source too (their stat is not trusted here: hashed if changed).
    let companions = companions_current(&store.meta.companions, None, source, &opts.load)?;
    let current = store.meta.schema == SCHEMA_VERSION
        && hash_file(source)? == store.meta.source_hash
        && companions.is_some();
    report.tables.push((
        "source".into(),
        (!current).then(|| "changed since the index was built (it will be rebuilt)".into()),
    ));
    report.seconds = started.elapsed().as_secs_f64();
    if !report.is_intact() {
        // The proof stood for a verification that this one contradicts (damage below the file
        // system keeps the stat): without it, the next one-shot verifies and rebuilds instead
        // of answering from the damaged data.
        remove_proof(&dir);
    } else if before.is_some() && FileStat::of(&data).ok() == before {
        write_proof(
            &dir,
            &Proof {
                data: before.unwrap_or(source_stat),
                source: source_stat,
                companions: companions.map(|(_, stats)| stats).unwrap_or_default(),
            },
        );
    }
    Ok(report)
}

impl Store {
    /// Verifies fully and turns a problem into `IndexError::Damaged`.
    pub(super) fn verify_or_damaged(&mut self) -> Result<()> {
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
        self.parts().verify()
    }

    fn parts(&self) -> Parts<'_> {
        Parts {
            env: &self.env,
            dbs: &self.dbs,
            dir: &self.dir,
            meta: &self.meta,
            cancel: None,
            pause: None,
        }
    }

    /// Whether the metadata record the store was opened with is the one whose checksum the
    /// build recorded (a few reads: the prompt of a session on a proven index waits for this
    /// much, the rest is verified in the background).
    pub(super) fn meta_intact(&self) -> bool {
        let bounds = MapBounds::of(&self.dir.join("data.mdb"));
        let Ok(rtxn) = self.env.read_txn() else {
            return false;
        };
        self.checked_meta(&rtxn, &bounds).is_some_and(|(_, meta)| {
            serde_json::from_slice::<super::Meta>(meta).ok().as_ref() == Some(&self.meta)
        })
    }

    /// A record of the meta table as stored in `txn`; one that lies outside the file's
    /// mapping (`bounds`: a damaged page pointer) counts as missing.
    pub(super) fn bounded_record<'t>(
        &self,
        txn: &'t RoTxn<'_, WithoutTls>,
        bounds: &MapBounds,
        key: &str,
    ) -> Option<&'t [u8]> {
        self.dbs
            .meta
            .get(txn, key)
            .ok()
            .flatten()
            .filter(|b| bounds.holds(b))
    }

    /// The checksums record and the meta record's bytes as stored in `txn`, when the meta
    /// record is the one whose checksum is recorded.
    pub(super) fn checked_meta<'t>(
        &self,
        txn: &'t RoTxn<'_, WithoutTls>,
        bounds: &MapBounds,
    ) -> Option<(Checksums, &'t [u8])> {
        let sums: Checksums =
            serde_json::from_slice(self.bounded_record(txn, bounds, "checksums")?).ok()?;
        let meta = self.bounded_record(txn, bounds, "meta")?;
        (xxh3_64(meta) == sums.meta).then_some((sums, meta))
    }

    /// Starts the full verification on a thread of its own, at low priority, for a session
    /// whose index the stat proof stands for: the session's prompt does not wait for it, its
    /// answers do (`Verification::wait`). `false` if no thread could be started.
    pub(super) fn verify_in_background(&mut self) -> bool {
        // The checksums a statement verifies its reads against (`on_read`).
        let data = self.dir.join("data.mdb");
        let bounds = MapBounds::of(&data);
        let Some(sums) = self
            .dbs
            .meta
            .get(&self.rtxn, "checksums")
            .ok()
            .flatten()
            .filter(|b| bounds.holds(b))
            .and_then(|b| serde_json::from_slice::<Checksums>(b).ok())
        else {
            return false;
        };
        let ledger = Arc::new(Ledger::new(&data, sums));
        let verification = Verification(Arc::new((Mutex::new(Checked::Running), Condvar::new())));
        let cancel = Arc::new(AtomicBool::new(false));
        let pause = Arc::new(AtomicBool::new(false));
        let hold = pause.clone();
        let (env, dbs, dir, meta, shared, stop) = (
            self.env.clone(),
            self.dbs,
            self.dir.clone(),
            self.meta.clone(),
            verification.clone(),
            cancel.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("vecsh-verify".into())
            .spawn(move || {
                lower_priority();
                #[cfg(debug_assertions)]
                if let Some(ms) = std::env::var("VECSH_VERIFY_PAUSE_MS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                {
                    // A test hook: the verification found behind the prompt, or done by an
                    // answer that could not wait, or not yet ended when statements verify
                    // what they read.
                    let until = Instant::now() + std::time::Duration::from_millis(ms);
                    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                read_ahead(&dir.join("data.mdb"), Some(&stop), Some(&hold));
                let parts = Parts {
                    env: &env,
                    dbs: &dbs,
                    dir: &dir,
                    meta: &meta,
                    cancel: Some(&stop),
                    pause: Some(&hold),
                };
                let outcome = parts.verify();
                if !stop.load(Ordering::Relaxed) {
                    shared.publish(outcome, &dir);
                }
                drop(env);
            });
        match spawned {
            Ok(handle) => {
                self.background = Some(Background {
                    verification,
                    ledger,
                    pause,
                    cancel,
                    handle: Some(handle),
                });
                true
            }
            Err(_) => false,
        }
    }

    /// For an answer: the damage the verification of this session's index found, `None` when
    /// it is intact (or there is no background verification). An answer does not wait for the
    /// background thread at its low priority: if it has not finished, this thread verifies
    /// the index itself, at its own priority, and the background one stops.
    pub fn await_verified(&self) -> Option<String> {
        let background = self.background.as_ref()?;
        if !background.verification.finished() {
            // Stopped first: both threads reading and hashing the same index would halve
            // this one's share of the disk and the processor.
            background.cancel.store(true, Ordering::Relaxed);
            read_ahead(&self.dir.join("data.mdb"), None, None);
            let outcome = self.parts().verify();
            background.verification.publish(outcome, &self.dir);
        }
        background.verification.wait()
    }

    /// The background verification of this session's index, when there is one: no answer
    /// may come from the index before it says intact.
    pub fn background_verification(&self) -> Option<Verification> {
        self.background.as_ref().map(|b| b.verification.clone())
    }
}

/// The state of a background verification.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Checked {
    Running,
    Intact,
    Damaged(String),
}

/// A handle on a background verification, shared with whoever waits for it.
#[derive(Clone)]
pub struct Verification(Arc<(Mutex<Checked>, Condvar)>);

impl Verification {
    /// Waits for the verification to end: `None` when the index is intact, else the damage
    /// found (the stat proof has been removed, so the next open rebuilds).
    pub fn wait(&self) -> Option<String> {
        let (lock, done) = &*self.0;
        let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while *state == Checked::Running {
            state = done.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        match &*state {
            Checked::Damaged(what) => Some(what.clone()),
            _ => None,
        }
    }

    /// Records the outcome of a verification, unless another one was recorded first; damage
    /// removes the stat proof (damage below the file system kept the stat it recorded).
    fn publish(&self, outcome: Result<VerifyReport>, dir: &Path) {
        self.record(
            match outcome {
                Ok(report) => match report.first_problem() {
                    None => Checked::Intact,
                    Some(what) => Checked::Damaged(what),
                },
                // Whatever stops the verification, the index is not trusted.
                Err(e) => Checked::Damaged(e.to_string()),
            },
            dir,
        );
    }

    fn state(&self) -> Checked {
        self.0
             .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, outcome: Checked, dir: &Path) {
        let (lock, done) = &*self.0;
        let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if *state != Checked::Running {
            return;
        }
        if matches!(outcome, Checked::Damaged(_)) {
            remove_proof(dir);
        }
        *state = outcome;
        done.notify_all();
    }

    /// Whether it has ended.
    pub fn finished(&self) -> bool {
        *self.0 .0.lock().unwrap_or_else(PoisonError::into_inner) != Checked::Running
    }
}

/// A store's background verification: its state and its thread, and what statements
/// verified on their first reads meanwhile.
pub(super) struct Background {
    verification: Verification,
    pub(super) ledger: Arc<Ledger>,
    /// Set while a statement reads: the thread waits, leaving it the disk.
    pause: Arc<AtomicBool>,
    /// Tells the thread to stop (the store is dropped, or an answer verified the index).
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Background {
    /// Whether the full verification ended and found the index intact.
    pub(super) fn intact(&self) -> bool {
        self.verification.state() == Checked::Intact
    }

    /// The damage the full verification found, once it has ended.
    pub(super) fn damage_found(&self) -> Option<String> {
        match self.verification.state() {
            Checked::Damaged(what) => Some(what),
            _ => None,
        }
    }

    /// Holds the thread (at its next block, chunk or entry) while a statement reads, or lets
    /// it go on.
    pub(super) fn hold(&self, on: bool) {
        self.pause.store(on, Ordering::Relaxed);
    }

    /// Damage a read found: the verification's outcome (unless it had one), the stat proof
    /// removed, the thread stopped.
    pub(super) fn publish_damage(&self, what: String, dir: &Path) {
        self.cancel.store(true, Ordering::Relaxed);
        self.verification.record(Checked::Damaged(what), dir);
    }
}

impl Drop for Background {
    /// The thread is stopped (at its next chunk or entry) and joined, so that its copy of the
    /// environment is closed before the index may be reopened (a rebuild).
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The calling thread yields the processor to everything else (nice 10): the background
/// verification runs in time nobody else wants.
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread's id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Reads the parts of `data.mdb` that are not in the page cache, in order, ahead of the
/// verification: the environment's map reads no further than the page touched
/// (`NO_READ_AHEAD`), so a cold verification of a 1 GB index faulted it in page by page
/// (16–18 s on this machine's disk, against 1–2 s read in order). `readahead(2)` and
/// `posix_fadvise(WILLNEED)` are best effort (they queued about a quarter of the file), so the
/// missing blocks of 32 MB are read; `mincore` says which (in the page cache, nothing is read).
fn read_ahead(data: &Path, cancel: Option<&AtomicBool>, pause: Option<&AtomicBool>) {
    use std::os::unix::fs::FileExt;
    // Small enough that a statement's reads, for which the thread pauses, queue behind little.
    const BLOCK: usize = 8 << 20;
    let Ok(file) = File::open(data) else {
        return;
    };
    // SAFETY: a read-only map used only for `mincore`, never read, dropped before returning.
    let Ok(map) = (unsafe { memmap2::Mmap::map(&file) }) else {
        return;
    };
    let page = 4096;
    let mut resident = vec![0u8; BLOCK / page];
    let mut buf = Vec::new();
    for at in (0..map.len()).step_by(BLOCK) {
        let len = BLOCK.min(map.len() - at);
        // SAFETY: the range lies in the map; the vector holds a byte per page of it.
        let known = unsafe {
            libc::mincore(
                map.as_ptr().add(at) as *mut libc::c_void,
                len,
                resident.as_mut_ptr(),
            )
        } == 0;
        if known && resident[..len.div_ceil(page)].iter().all(|r| r & 1 == 1) {
            continue;
        }
        if paused(cancel, pause) {
            return;
        }
        buf.resize(len, 0);
        if file.read_exact_at(&mut buf, at as u64).is_err() {
            return;
        }
    }
}

/// Waits while a statement runs (`pause`); whether the verification was cancelled.
fn paused(cancel: Option<&AtomicBool>, pause: Option<&AtomicBool>) -> bool {
    let stop = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    while pause.is_some_and(|p| p.load(Ordering::Relaxed)) && !stop() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    stop()
}

/// What a verification reads: the environment and its tables, where it lives, its record. A
/// store verifies through one; a background verification through its own.
struct Parts<'a> {
    env: &'a Env<WithoutTls>,
    dbs: &'a Dbs,
    dir: &'a Path,
    meta: &'a super::Meta,
    /// Set: stop at the next chunk or entry (a background verification no one needs now).
    cancel: Option<&'a AtomicBool>,
    /// Set: wait at the next chunk or entry until it is clear (a statement is reading).
    pause: Option<&'a AtomicBool>,
}

impl Parts<'_> {
    fn cancelled(&self) -> bool {
        paused(self.cancel, self.pause)
    }

    /// Reads and hashes every stored table and vector chunk (and the forest, when there is
    /// one) and compares them with the checksums recorded at build time.
    pub(super) fn verify(&self) -> Result<VerifyReport> {
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

    // One piece: one snapshot, one `MapBounds` and one report, each table checked
    // in turn against its recorded checksum in a few lines that add to that shared state.
    fn verify_tables(&self) -> Result<VerifyReport> {
        let started = Instant::now();
        let lmdb = |e| lmdb_err(self.dir, e);
        let bounds = MapBounds::of(&self.dir.join("data.mdb"));
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        let mut tables: Vec<(String, Option<String>)> = Vec::new();
        let bytes = 0u64;
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
        // The two word tables, on a thread of their own while the chunks are hashed here.
        let words_at = tables.len();
        std::thread::scope(|scope| {
            let words = std::thread::Builder::new()
                .spawn_scoped(scope, || self.word_tables(&sums, &bounds))
                .ok();
            let report = self.chunk_tables(&rtxn, &sums, &bounds, tables, bytes, started);
            let (words, word_bytes) = match words.map(|w| w.join()) {
                Some(Ok(found)) => found,
                // No thread: the tables are hashed here.
                None => self.word_tables(&sums, &bounds),
                Some(Err(_)) => (
                    vec![("word2id".into(), Some("its verification failed".into()))],
                    0,
                ),
            };
            report.map(|mut report| {
                report.tables.splice(words_at..words_at, words);
                report.bytes += word_bytes;
                report
            })
        })
    }

    /// The chunked tables, the principal-component basis, the forest, the lists and the
    /// calibrations, added to `tables`.
    fn chunk_tables(
        &self,
        rtxn: &RoTxn<WithoutTls>,
        sums: &Checksums,
        bounds: &MapBounds,
        mut tables: Vec<(String, Option<String>)>,
        mut bytes: u64,
        started: Instant,
    ) -> Result<VerifyReport> {
        let lmdb = |e| lmdb_err(self.dir, e);
        let outside = |what: &str| Some(format!("{what} points past the end of data.mdb"));
        let mismatch = |what: &str| Some(format!("checksum mismatch{what}"));
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
        // The side tables (`side`): every row's norm; the labels of labelled rows. An index
        // of an older schema has none (the source line says it will be rebuilt).
        match self.dbs.norms {
            _ if self.meta.schema < NORMS_SINCE => {}
            Some(db) => chunked.push(("norms", db, &sums.norms, n_chunks)),
            None => tables.push(("norms".into(), Some("missing".into()))),
        }
        if self.meta.model.as_ref().is_some_and(|m| m.has_weights) {
            match self.dbs.weights {
                Some(db) => chunked.push(("weights", db, &sums.weights, n_chunks)),
                None => tables.push(("weights".into(), Some("missing".into()))),
            }
        }
        if self.meta.labels {
            match self.dbs.labels {
                Some(db) => chunked.push(("labels", db, &sums.labels, n_chunks)),
                None => tables.push(("labels".into(), Some("missing".into()))),
            }
        }
        if let (Some(db), true) = (self.dbs.ngrams, self.meta.subwords.is_some()) {
            chunked.push(("ngrams", db, &sums.ngrams, ngram_chunks));
        }
        if self.meta.pc_dims > 0 {
            let basis = self
                .dbs
                .meta
                .get(rtxn, "pc_basis")
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
                if self.cancelled() {
                    problem = Some("verification stopped".into());
                    break;
                }
                match db.get(rtxn, &(c as u32)) {
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
        if let Some(bytes_json) = self.dbs.meta.get(rtxn, "forest").map_err(lmdb)? {
            let record = Some(bytes_json)
                .filter(|b| bounds.holds(b))
                .ok_or_else(|| "points past the end of data.mdb".to_string())
                .and_then(unseal::<ForestMeta>);
            let problem = match record {
                Err(e) => Some(format!("record: {e}")),
                Ok(record) => match forest_checksum(rtxn, self.dbs.forest, Some(bounds)) {
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
        if let Some(bytes_json) = self.dbs.meta.get(rtxn, "lists").map_err(lmdb)? {
            let record = Some(bytes_json)
                .filter(|b| bounds.holds(b))
                .ok_or_else(|| "points past the end of data.mdb".to_string())
                .and_then(unseal::<ListsMeta>);
            let problem = match record {
                Err(e) => Some(format!("record: {e}")),
                Ok(record) => match lists_checksum(rtxn, self.dbs, bounds) {
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
        // The calibrations decide how searches run (a lists' calibration of 0 probes answered
        // every approximate query with nothing): each is checked like the other records.
        for key in ["lists_calibration", "forest_calibration"] {
            if let Some(value) = self.dbs.meta.get(rtxn, key).map_err(lmdb)? {
                let problem = Some(value)
                    .filter(|b| bounds.holds(b))
                    .ok_or_else(|| "points past the end of data.mdb".to_string())
                    .and_then(unseal::<ApproxCalibration>)
                    .err();
                tables.push((key.into(), problem));
            }
        }
        Ok(self.report(tables, bytes, started))
    }

    /// The two word tables, hashed in key order exactly as the build hashed them (on a thread
    /// of their own beside the chunks: about half of a verification's work at 3M words).
    fn word_tables(
        &self,
        sums: &Checksums,
        bounds: &MapBounds,
    ) -> (Vec<(String, Option<String>)>, u64) {
        let mut tables: Vec<(String, Option<String>)> = Vec::new();
        let mut bytes = 0u64;
        let outside = |what: &str| Some(format!("{what} points past the end of data.mdb"));
        let mismatch = |what: &str| Some(format!("checksum mismatch{what}"));
        let rtxn = match self.env.read_txn() {
            Ok(rtxn) => rtxn,
            Err(e) => {
                tables.push(("word2id".into(), Some(e.to_string())));
                return (tables, bytes);
            }
        };
        let rtxn = &rtxn;
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
            match db.iter(rtxn) {
                Ok(iter) => {
                    for entry in iter {
                        if hasher.entries % 65_536 == 0 && self.cancelled() {
                            problem = Some("verification stopped".into());
                            break;
                        }
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
        (tables, bytes)
    }

    fn report(
        &self,
        tables: Vec<(String, Option<String>)>,
        bytes: u64,
        started: Instant,
    ) -> VerifyReport {
        VerifyReport {
            index: self.dir.to_path_buf(),
            tables,
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            not_indexed: false,
        }
    }
}

fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut e| e.next().is_none())
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
pub(super) struct MapBounds {
    /// Each mapping of the file in this process (start, start + file length); `None`: unknown.
    pub(super) maps: Option<Vec<(usize, usize)>>,
}

impl MapBounds {
    /// LMDB does not say where it mapped the file (`mdb_env_info`'s address is only that
    /// of a fixed map), so it is read from /proc/self/maps; where that is not available
    /// every extent is accepted.
    pub(super) fn of(data: &Path) -> MapBounds {
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

    pub(super) fn holds(&self, bytes: &[u8]) -> bool {
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
pub(super) struct TableHasher {
    hasher: Xxh3,
    entries: u64,
    bytes: u64,
}

impl TableHasher {
    pub(super) fn add(&mut self, key: &[u8], value: &[u8]) {
        self.hasher.update(&(key.len() as u32).to_le_bytes());
        self.hasher.update(key);
        self.hasher.update(&(value.len() as u32).to_le_bytes());
        self.hasher.update(value);
        self.entries += 1;
        self.bytes += (key.len() + value.len()) as u64;
    }

    pub(super) fn finish(&self) -> u64 {
        self.hasher.digest()
    }
}

/// The checksum of the forest's table (every key and value in key order) and its size.
pub(super) fn forest_checksum(
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
