//! The exact-search plan: through the lists' cells where they answer, else the seeded scan
//! (through the principal-component stage where it pays).

use std::borrow::Cow;

use heed::{RoTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_64;

use crate::ivf;
use crate::search::{self, Hit, PcStage, Query, Rows};

use super::error::{lmdb_err, IndexError, Result};
use super::on_read::Part;
use super::records::{ApproxKind, Meta, CELL_RECORDS};
use super::rows::SourceRows;
use super::verify::MapBounds;
use super::Store;

/// Lists probed for the exact search's seeds (`Store::exact_seeds`): a fraction of a
/// millisecond, and their best rows are nearly always near the answer's k-th score.
const EXACT_SEED_PROBES: usize = 8;

/// How exact search runs on this index and what it costs, for `vecsh info` and `:info`:
/// what `vecsh build` added changes only this, never an answer.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ExactPlan {
    /// Rows an unrestricted search covers.
    pub rows: usize,
    /// Exact search tries the lists' cells first (the index has lists with cells, and their
    /// calibration did not find that the cells seldom answer).
    pub cells: bool,
    /// Share of the calibration's exact queries the cells answered.
    pub by_cells: Option<f64>,
    /// Components of the principal-component stage the full scan goes through (none: the
    /// int8 copy of every row).
    pub pc_dims: Option<usize>,
    /// Median milliseconds of one exact top-10 query, as the lists' calibration measured it
    /// (none: not measured; `vecsh build` measures it).
    pub measured_ms: Option<f64>,
}

impl Store {
    /// How exact search runs here (see [`ExactPlan`]).
    pub fn exact_plan(&self) -> ExactPlan {
        let calibration = self.calibration(ApproxKind::Lists);
        // Read afresh: the lists may have been committed since this store was opened.
        let has_cells = self.lists().is_some()
            && self.env.read_txn().is_ok_and(|rtxn| {
                CELL_RECORDS
                    .iter()
                    .all(|key| matches!(self.dbs.meta.get(&rtxn, key), Ok(Some(_))))
            });
        let pc = self.pc_dims();
        ExactPlan {
            rows: self.len(),
            cells: has_cells && self.cells_pay(),
            by_cells: calibration.and_then(|c| c.exact_by_cells),
            pc_dims: (pc > 0 && self.dbs.pcstage.is_some() && self.len() >= self.pc_min_rows)
                .then_some(pc),
            measured_ms: calibration.map(|c| c.exact_ms),
        }
    }

    /// The exact search's principal-component stage, when the index has one.
    pub fn pc_stage(&self) -> Option<PcStage<'_>> {
        let p = self.pc_dims();
        let db = self.dbs.pcstage?;
        if p == 0 {
            return None;
        }
        if !(self.trusted(Part::PcBasis, 0) && self.trusted_all(Part::PcStage)) {
            return None;
        }
        let rtxn = self.stage_txn();
        let basis = self.dbs.meta.get(rtxn, "pc_basis").ok().flatten()?;
        let basis = search::cast_or_copy(basis);
        let rpc = self.meta.rows_per_chunk;
        let n_chunks = self.len().div_ceil(rpc);
        let (mut rows, mut scales, mut resid) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..n_chunks {
            let blob = db.get(rtxn, &(c as u32)).ok().flatten()?;
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
    pub(super) fn cells_pay(&self) -> bool {
        self.calibration(ApproxKind::Lists)
            .and_then(|c| c.exact_by_cells)
            .is_none_or(|share| share >= CELLS_MIN_SHARE)
    }

    /// [`Store::exact_top_k_counted`], trying the lists' cells first or not.
    pub(super) fn exact_counted(
        &self,
        query: &Query,
        try_cells: bool,
    ) -> Result<(Vec<Hit>, search::StageCounts)> {
        let Some(file) = self.source_file()? else {
            return self.exact_over(&self.unit_rows()?, query, try_cells);
        };
        self.exact_from_source(file, query, try_cells)
    }

    /// [`Store::exact_counted`] for rows read in place: `file` is the source, just checked
    /// unchanged since this store opened it.
    pub(super) fn exact_from_source(
        &self,
        file: super::rows::SourceFile<'_>,
        query: &Query,
        try_cells: bool,
    ) -> Result<(Vec<Hit>, search::StageCounts)> {
        // Only the rows the f32 stage rescores are read (a few dozen a query, ~1 µs each).
        if !self.trusted_all(Part::Unit) {
            return Err(self.damage_error());
        }
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
        // The stage and the int8 copy are read (and, in a session whose verification has not
        // ended, verified) only when the lists' cells do not answer.
        let limit = query.limit.min(self.len());
        let staged = self.pc_dims() > 0 && self.dbs.pcstage.is_some() && limit >= self.pc_min_rows;
        // The lists path reads a list's rows at 8 + stride bytes each; the full scan reads
        // every row below the limit at its first stage's width. The lists go first only when
        // they would read under half as much (both reads are sequential).
        let scan_width = match staged {
            true => self.pc_dims() + 8,
            false => search::quant_stride(self.dims()) + 4,
        };
        let budget_rows = limit * scan_width / (search::quant_stride(self.dims()) + 8) / 2;
        let tried = match try_cells {
            true => self.exact_through_lists(unit, query, budget_rows)?,
            false => None,
        };
        let seeds = match tried {
            Some(ivf::ListsExact::Answer(hits, counts)) => return Ok((hits, counts)),
            Some(ivf::ListsExact::TooWide { seeds }) => seeds,
            None if staged => self.exact_seeds(query)?,
            None => Vec::new(),
        };
        let stage = staged.then(|| self.pc_stage()).flatten();
        if self.damage_found().is_some() {
            return Err(self.damage_error());
        }
        let quant = self.quant_rows()?;
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
        self.note_damage(&what);
        IndexError::Damaged {
            path: self.dir.clone(),
            what,
        }
    }

    /// The lists' centroids in snapshot `rtxn` (empty without lists).
    pub(super) fn lists_centroids<'t>(
        &self,
        rtxn: &'t RoTxn<WithoutTls>,
    ) -> Result<Cow<'t, [f32]>> {
        let dims = self.dims();
        if !self.trusted_lists(rtxn) {
            return Err(self.damage_error());
        }
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
    pub(super) fn stored_list<'t>(
        &self,
        rtxn: &'t RoTxn<WithoutTls>,
        l: usize,
    ) -> Result<ivf::ListView<'t>> {
        if !self.trusted_pages("ivf", &(l as u32).to_be_bytes()) {
            return Err(self.damage_error());
        }
        let bytes = self
            .dbs
            .ivf
            .get(rtxn, &(l as u32))
            .map_err(|e| lmdb_err(&self.dir, e))?
            .ok_or_else(|| self.damaged(format!("lists: list {l} missing")))?;
        if !self.trusted_list(l, bytes) {
            return Err(self.damage_error());
        }
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
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect())
    }
}

/// A principal-component stage committed after the store opened its index: its components
/// and a read snapshot that holds it (the store's own predates it).
pub(super) struct AddedStage {
    p: usize,
    rtxn: RoTxn<'static, WithoutTls>,
}

impl Store {
    /// Components of the principal-component stage exact search goes through (0: none).
    pub(super) fn pc_dims(&self) -> usize {
        match self.meta.pc_dims {
            0 => self.added_stage.get().map_or(0, |s| s.p),
            p => p,
        }
    }

    /// The snapshot the stage is read through.
    fn stage_txn(&self) -> &RoTxn<'static, WithoutTls> {
        self.added_stage.get().map_or(&self.rtxn, |s| &s.rtxn)
    }

    /// Once a principal-component stage was added to this store's index after it opened
    /// (the session's own build, `ApproxBuilder::build_pc_stage`), exact search goes through
    /// it from the next search on, without reopening: the meta record and the checksums are
    /// read again in a new snapshot, checked (the record against its checksum, the same index
    /// but for the stage) and the stage hashed against its checksums. Its components, or
    /// `None` when the index has no stage, or while this session's verification has not ended
    /// intact (nothing is built before it has), or when anything does not check out (exact
    /// search then scans as before; the next open verifies the index as a whole).
    pub fn adopt_pc_stage(&self) -> Option<usize> {
        if self.pc_dims() > 0 {
            return Some(self.pc_dims());
        }
        let db = self.dbs.pcstage?;
        if self.verifying_reads() {
            return None;
        }
        let rtxn = self.env.clone().static_read_txn().ok()?;
        let bounds = MapBounds::of(&self.dir.join("data.mdb"));
        let p = {
            let (sums, meta_bytes) = self.checked_meta(&rtxn, &bounds)?;
            let meta: Meta = serde_json::from_slice(meta_bytes).ok()?;
            let mut was = meta.clone();
            (was.pc_dims, was.pc_decided) = (self.meta.pc_dims, self.meta.pc_decided);
            let n_chunks = self.len().div_ceil(self.meta.rows_per_chunk.max(1));
            if was != self.meta || meta.pc_dims == 0 || sums.pcstage.len() != n_chunks {
                return None;
            }
            let intact = self
                .bounded_record(&rtxn, &bounds, "pc_basis")
                .is_some_and(|b| xxh3_64(b) == sums.pc_basis)
                && sums.pcstage.iter().enumerate().all(|(c, &sum)| {
                    matches!(db.get(&rtxn, &(c as u32)), Ok(Some(b)) if bounds.holds(b) && xxh3_64(b) == sum)
                });
            if !intact {
                return None;
            }
            meta.pc_dims
        };
        let _ = self.added_stage.set(AddedStage { p, rtxn });
        Some(self.pc_dims())
    }

    /// Whether the index has decided on its principal-component stage (built it, or found
    /// that none pays), as stored now: `vecsh build` does, a first open does not.
    pub fn pc_stage_decided(&self) -> bool {
        if self.meta.pc_decided || self.added_stage.get().is_some() {
            return true;
        }
        let Ok(rtxn) = self.env.read_txn() else {
            return false;
        };
        self.dbs
            .meta
            .get(&rtxn, "meta")
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<Meta>(b).ok())
            .is_some_and(|m| m.pc_decided)
    }
}

/// The share of a calibration's exact queries the cells must answer for exact search to keep
/// trying them (clustered 3M x 300: all; the harder set and GloVe 6B 50d: 0-3 %).
pub(super) const CELLS_MIN_SHARE: f64 = 0.5;
