//! Verification on first read: while a session's full verification runs behind its prompt, a
//! statement hashes each chunk, run of words, list and lists' record it reads against the
//! checksum recorded at build time before using it, once per process (as RocksDB checks each
//! block it reads); what has no checksum of its own waits for the full verification.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use heed::types::Bytes;
use heed::{Database, RoTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_64;

use super::error::IndexError;
use super::lmdb_check;
use super::records::{unseal, Checksums, ListsMeta, ListsParts, CELL_RECORDS, LIST_SUMS};
use super::verify::{MapBounds, TableHasher};
use super::{Id, Store};

/// A table whose parts have checksums of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Part {
    Unit,
    Quant,
    Scale,
    Norms,
    Labels,
    /// model2vec's token weights (`weights`).
    Weights,
    Ngrams,
    PcStage,
    /// The principal-component stage's basis (one record).
    PcBasis,
    /// A run of `Checksums::word_chunk` ids of `id2word`.
    Words,
}

impl Part {
    /// Its database in `data.mdb`.
    fn db(self) -> &'static str {
        match self {
            Part::PcBasis => "meta",
            other => other.name(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Part::Unit => "unit",
            Part::Quant => "quant",
            Part::Scale => "scale",
            Part::Norms => "norms",
            Part::Labels => "labels",
            Part::Weights => "weights",
            Part::Ngrams => "ngrams",
            Part::PcStage => "pcstage",
            Part::PcBasis => "pc_basis",
            Part::Words => "id2word",
        }
    }
}

/// What this process has verified of its index while the full verification runs, shared by the
/// store and its background verification.
pub(super) struct Ledger {
    data: PathBuf,
    /// The build's checksums, read with the record the store opened with.
    sums: Checksums,
    verified: Mutex<HashSet<(Part, u32)>>,
    /// The lists as far as verified: their record's `built_at`, each list's checksum and
    /// whether it was verified.
    lists: Mutex<Option<ListsTrust>>,
    /// `data.mdb`, read ahead of the map (`prefetch`).
    file: Option<fs::File>,
    /// Where the file is mapped, for the file's length it was found at.
    bounds: Mutex<Option<(u64, MapBounds)>>,
    /// The first damage a read found: nothing read after it is trusted.
    damage: Mutex<Option<String>>,
}

struct ListsTrust {
    built_at: u64,
    sums: Vec<u64>,
    verified: Vec<bool>,
}

impl Ledger {
    pub(super) fn new(data: &Path, sums: Checksums) -> Ledger {
        Ledger {
            data: data.to_path_buf(),
            file: fs::File::open(data).ok(),
            sums,
            verified: Mutex::new(HashSet::new()),
            lists: Mutex::new(None),
            bounds: Mutex::new(None),
            damage: Mutex::new(None),
        }
    }

    fn has(&self, part: Part, n: u32) -> bool {
        lock(&self.verified).contains(&(part, n))
    }

    fn mark(&self, part: Part, n: u32) {
        lock(&self.verified).insert((part, n));
    }

    pub(super) fn damage(&self) -> Option<String> {
        lock(&self.damage).clone()
    }

    fn found(&self, what: String) {
        lock(&self.damage).get_or_insert(what);
    }

    /// LMDB's pages that a lookup of `keys` in database `db` reads, checked from the file
    /// before LMDB reads them (it trusts its pages: a damaged node can crash it; the walk of
    /// every tree is the background verification's). The metadata table was checked at open.
    fn pages(&self, db: &str, keys: (&[u8], &[u8])) -> std::result::Result<(), String> {
        if db == "meta" {
            return Ok(());
        }
        lmdb_check::check_keys(&self.data, db, keys)
    }

    /// Reads the file under `bytes` (a value in the map, `holds` checked) into the page cache
    /// in large requests before it is hashed: the map reads no further than the page touched
    /// (`NO_READ_AHEAD`), and cold values of megabytes faulted in page by page took a
    /// hundred times longer than read in order.
    fn prefetch(&self, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        const PIECE: usize = 8 << 20;
        let Some(file) = &self.file else {
            return;
        };
        if bytes.len() < 64 << 10 {
            return;
        }
        let at = bytes.as_ptr() as usize;
        let start = lock(&self.bounds).as_ref().and_then(|(_, b)| {
            b.maps.as_ref().and_then(|maps| {
                maps.iter()
                    .find(|&&(start, stop)| at >= start && at + bytes.len() <= stop)
                    .map(|&(start, _)| start)
            })
        });
        let Some(start) = start else {
            return;
        };
        let mut buf = vec![0u8; PIECE.min(bytes.len())];
        for piece in (0..bytes.len()).step_by(PIECE) {
            let n = PIECE.min(bytes.len() - piece);
            if file
                .read_exact_at(&mut buf[..n], (at - start + piece) as u64)
                .is_err()
            {
                return;
            }
        }
    }

    /// Whether `bytes` lie in the part of the map the file backs (a damaged node can claim a
    /// value past its end; touching it would raise SIGBUS).
    fn holds(&self, bytes: &[u8]) -> bool {
        let len = fs::metadata(&self.data).map_or(0, |m| m.len());
        let mut bounds = lock(&self.bounds);
        if bounds.as_ref().is_none_or(|(at, _)| *at != len) {
            *bounds = Some((len, MapBounds::of(&self.data)));
        }
        bounds.as_ref().is_some_and(|(_, b)| b.holds(bytes))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    /// What this process verified, while a read must still be verified: a session's full
    /// verification has not ended intact (`None`: the index was verified in full, or the stat
    /// proof of a one-shot process stands for it).
    fn unverified(&self) -> Option<&Ledger> {
        let background = self.background.as_ref()?;
        (!background.intact()).then_some(&*background.ledger)
    }

    /// Holds the background verification while a statement runs (`true`), so that its reads
    /// do not queue behind the verification's, or lets it go on (`false`).
    pub fn hold_verification(&self, on: bool) {
        // A background build (`background::Pause`) waits too.
        self.pause.hold(on);
        if let Some(background) = &self.background {
            background.hold(on);
        }
    }

    /// Whether reads are verified as they come (a session's full verification has not ended
    /// intact).
    pub(super) fn verifying_reads(&self) -> bool {
        self.unverified().is_some()
    }

    /// The error of a read that found damage.
    pub(super) fn damage_error(&self) -> IndexError {
        IndexError::Damaged {
            path: self.dir.clone(),
            what: self
                .damage_found()
                .unwrap_or_else(|| "a part that could not be read".into()),
        }
    }

    /// The damage this process found in its index (on a read, or by its verification): the
    /// statement that read it answers nothing.
    pub fn damage_found(&self) -> Option<String> {
        let background = self.background.as_ref()?;
        background
            .ledger
            .damage()
            .or_else(|| background.damage_found())
    }

    /// Records damage a read found, for the statement and for the next open (the stat proof
    /// is removed).
    fn found(&self, ledger: &Ledger, what: String) {
        ledger.found(what.clone());
        if let Some(background) = &self.background {
            background.publish_damage(what, &self.dir);
        }
    }

    /// Damage a read found outside the checksums (a list missing, a value of the wrong size),
    /// recorded like the rest while reads are verified, so that the statement answers nothing
    /// and the index is rebuilt.
    pub(super) fn note_damage(&self, what: &str) {
        if let Some(ledger) = self.unverified() {
            self.found(ledger, what.to_string());
        }
    }

    /// Whether everything can be trusted: waits for the full verification (a statement that
    /// reads what has no checksum of its own, e.g. every word).
    pub(super) fn trusted_everything(&self) -> bool {
        self.unverified().is_none() || self.await_verified().is_none()
    }

    /// Whether chunk `c` of `part` (or the record `PcBasis`) is verified, verifying it now if
    /// it was not: false on damage (recorded).
    pub(super) fn trusted(&self, part: Part, c: u32) -> bool {
        let Some(ledger) = self.unverified() else {
            return true;
        };
        if ledger.has(part, c) {
            return true;
        }
        if ledger.damage().is_some() {
            return false;
        }
        let sums = &ledger.sums;
        let key = c.to_be_bytes();
        let table = |db: Option<Database<'static, Id, Bytes>>, sums: &[u64]| {
            let db = db.ok_or_else(|| "missing".to_string())?;
            ledger.pages(part.db(), (&key, &key))?;
            let want = *sums
                .get(c as usize)
                .ok_or_else(|| format!("no checksum for chunk {c}"))?;
            let value = db
                .get(&self.rtxn, &c)
                .map_err(|e| format!("chunk {c}: {e}"))?
                .ok_or_else(|| format!("chunk {c} missing"))?;
            Ok::<_, String>((value, want))
        };
        let found = match part {
            Part::Unit => table(Some(self.dbs.unit), &sums.unit),
            Part::Quant => table(Some(self.dbs.quant), &sums.quant),
            Part::Scale => table(Some(self.dbs.scale), &sums.scale),
            Part::Norms => table(self.dbs.norms, &sums.norms),
            Part::Labels => table(self.dbs.labels, &sums.labels),
            Part::Weights => table(self.dbs.weights, &sums.weights),
            Part::Ngrams => table(self.dbs.ngrams, &sums.ngrams),
            Part::PcStage => table(self.dbs.pcstage, &sums.pcstage),
            Part::PcBasis => self
                .dbs
                .meta
                .get(&self.rtxn, "pc_basis")
                .map_err(|e| e.to_string())
                .and_then(|b| b.ok_or_else(|| "missing".into()))
                .map(|b| (b, sums.pc_basis)),
            Part::Words => return self.words_trusted(ledger, c),
        };
        let checked = found.and_then(|(value, want)| {
            if !ledger.holds(value) {
                return Err(format!("chunk {c} points past the end of data.mdb"));
            }
            ledger.prefetch(value);
            (xxh3_64(value) == want)
                .then_some(())
                .ok_or_else(|| format!("checksum mismatch in chunk {c}"))
        });
        match checked {
            Ok(()) => {
                ledger.mark(part, c);
                true
            }
            Err(what) => {
                self.found(ledger, format!("{}: {what}", part.name()));
                false
            }
        }
    }

    /// Every chunk of `part`, verified (see [`Store::trusted`]).
    pub(super) fn trusted_all(&self, part: Part) -> bool {
        if self.unverified().is_none() {
            return true;
        }
        let n = match part {
            Part::Ngrams => self
                .meta
                .subwords
                .as_ref()
                .map_or(0, |s| s.buckets.div_ceil(self.meta.rows_per_chunk.max(1))),
            _ => self.len().div_ceil(self.meta.rows_per_chunk.max(1)),
        };
        (0..n as u32).all(|c| self.trusted(part, c))
    }

    /// Whether word `id`'s entry in `id2word` is verified, verifying its run of ids now if
    /// not (an index built before the runs had checksums waits for the full verification).
    pub(super) fn trusted_word(&self, id: u32) -> bool {
        let Some(ledger) = self.unverified() else {
            return true;
        };
        match ledger.sums.word_chunk {
            0 => self.trusted_everything(),
            run => self.trusted(Part::Words, id / run as u32),
        }
    }

    fn words_trusted(&self, ledger: &Ledger, c: u32) -> bool {
        let run = ledger.sums.word_chunk.max(1);
        let start = c as usize * run;
        let end = (start + run).min(self.meta.words);
        let hashed = || -> std::result::Result<(), String> {
            let want = *ledger
                .sums
                .id2word_chunks
                .get(c as usize)
                .ok_or_else(|| format!("no checksum for ids from {start}"))?;
            let (first, last) = (
                (start as u32).to_be_bytes(),
                (end.max(1) as u32 - 1).to_be_bytes(),
            );
            ledger.pages("id2word", (&first, &last))?;
            let range = start as u32..end as u32;
            let mut hasher = TableHasher::default();
            let iter = self
                .dbs
                .id2word
                .remap_data_type::<Bytes>()
                .range(&self.rtxn, &range)
                .map_err(|e| e.to_string())?;
            for entry in iter {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                if !ledger.holds(v) {
                    return Err("an entry points past the end of data.mdb".into());
                }
                hasher.add(&k.to_be_bytes(), v);
            }
            (hasher.finish() == want)
                .then_some(())
                .ok_or_else(|| format!("checksum mismatch in ids {start}–{}", end.max(1) - 1))
        };
        match hashed() {
            Ok(()) => {
                ledger.mark(Part::Words, c);
                true
            }
            Err(what) => {
                self.found(ledger, format!("id2word: {what}"));
                false
            }
        }
    }

    /// Whether LMDB may look `key` up in database `db` (the pages it reads checked, see
    /// `Ledger::pages`): false on damage (recorded).
    pub(super) fn trusted_pages(&self, db: &str, key: &[u8]) -> bool {
        let Some(ledger) = self.unverified() else {
            return true;
        };
        if ledger.damage().is_some() {
            return false;
        }
        match ledger.pages(db, (key, key)) {
            Ok(()) => true,
            Err(what) => {
                self.found(ledger, what);
                false
            }
        }
    }

    /// Whether the lists' centroids, cells and per-list checksums in snapshot `rtxn` are
    /// verified, verifying them now if not (lists built before their parts had checksums
    /// wait for the full verification).
    pub(super) fn trusted_lists(&self, rtxn: &RoTxn<WithoutTls>) -> bool {
        let Some(ledger) = self.unverified() else {
            return true;
        };
        let record = match self.dbs.meta.get(rtxn, "lists") {
            Ok(Some(bytes)) if ledger.holds(bytes) => unseal::<ListsMeta>(bytes),
            Ok(Some(_)) => Err("points past the end of data.mdb".into()),
            Ok(None) => return true,
            Err(e) => Err(e.to_string()),
        };
        let record = match record {
            Ok(record) => record,
            Err(what) => {
                self.found(ledger, format!("lists: record: {what}"));
                return false;
            }
        };
        if lock(&ledger.lists)
            .as_ref()
            .is_some_and(|t| t.built_at == record.built_at)
        {
            return true;
        }
        let Some(parts) = &record.parts else {
            return self.trusted_everything();
        };
        match self.lists_parts(ledger, rtxn, parts, record.lists) {
            Ok(sums) => {
                *lock(&ledger.lists) = Some(ListsTrust {
                    built_at: record.built_at,
                    verified: vec![false; sums.len()],
                    sums,
                });
                true
            }
            Err(what) => {
                self.found(ledger, format!("lists: {what}"));
                false
            }
        }
    }

    /// The lists' centroids, cells and per-list checksums hashed against `parts`; the
    /// per-list checksums.
    fn lists_parts(
        &self,
        ledger: &Ledger,
        rtxn: &RoTxn<WithoutTls>,
        parts: &ListsParts,
        lists: usize,
    ) -> std::result::Result<Vec<u64>, String> {
        let get = |key: &str| -> std::result::Result<&[u8], String> {
            let bytes = self
                .dbs
                .meta
                .get(rtxn, key)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{key} missing"))?;
            if !ledger.holds(bytes) {
                return Err(format!("{key} points past the end of data.mdb"));
            }
            ledger.prefetch(bytes);
            Ok(bytes)
        };
        let hex = |sum: u64| format!("{sum:016x}");
        if hex(xxh3_64(get("lists_centroids")?)) != parts.centroids {
            return Err("checksum mismatch in the centroids".into());
        }
        let mut cells = TableHasher::default();
        for key in CELL_RECORDS {
            cells.add(key.as_bytes(), get(key)?);
        }
        if hex(cells.finish()) != parts.cells {
            return Err("checksum mismatch in the cells".into());
        }
        let sums = get(LIST_SUMS)?;
        if hex(xxh3_64(sums)) != parts.sums || sums.len() != lists * 8 {
            return Err("checksum mismatch in the lists' checksums".into());
        }
        Ok(sums
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
            .collect())
    }

    /// Whether list `l`, `bytes` as read, is verified (after [`Store::trusted_lists`]),
    /// verifying it now if not.
    pub(super) fn trusted_list(&self, l: usize, bytes: &[u8]) -> bool {
        let Some(ledger) = self.unverified() else {
            return true;
        };
        let mut lists = lock(&ledger.lists);
        let Some(trust) = lists.as_mut() else {
            // Lists without parts' checksums: verified in full (`trusted_lists`).
            drop(lists);
            return self.trusted_everything();
        };
        match trust.verified.get(l) {
            Some(true) => return true,
            Some(false) => {}
            None => {
                drop(lists);
                self.found(ledger, format!("lists: list {l}: no checksum"));
                return false;
            }
        }
        let intact = ledger.holds(bytes) && {
            ledger.prefetch(bytes);
            xxh3_64(bytes) == trust.sums[l]
        };
        if intact {
            trust.verified[l] = true;
            return true;
        }
        drop(lists);
        self.found(ledger, format!("lists: list {l}: checksum mismatch"));
        false
    }
}
