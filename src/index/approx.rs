//! Approximate search: the inverted lists and the arroy forest, their builders, and their
//! calibration against exact search.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arroy::distances::Cosine;
use heed::types::Bytes;
use heed::{Env, RoTxn, WithoutTls};
use rand::SeedableRng;
use xxhash_rust::xxh3::xxh3_64;

use crate::ivf::{self, BuildStep};
use crate::progress::{Progress, Unit};
use crate::search::{self, Hit, Query};

use super::background::{Pause, Pausing};
use super::error::{lmdb_err, IndexError, Result};
use super::exact::CELLS_MIN_SHARE;
use super::records::{
    now_secs, sealed, unseal, ApproxCalibration, ApproxKind, ApproxParams, FileStat, ForestMeta,
    ListsMeta, ListsParts, Meta, Record, CELL_RECORDS, LIST_SUMS,
};
use super::rows::{quant_rows_in, read_source_rows, SourceFile};
use super::verify::{forest_checksum, TableHasher};
use super::write::free_bytes;
use super::{Dbs, Store};

/// Candidates an approximate search rescores at a time after its first `k`.
const RESCORE_STEP: usize = 4;

/// Trees `vecsh build` puts in the forest unless told otherwise (see the README for the
/// recall and build-time measurements behind this choice).
pub const DEFAULT_TREES: usize = 30;

/// Queries a calibration times (the first one only warms up).
pub const CALIBRATION_QUERIES: usize = 65;

/// What a build of an approximate structure made.
#[derive(Debug, Clone, PartialEq)]
pub enum Built {
    Lists(ListsMeta),
    Forest(ForestMeta),
}

impl Store {
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

    /// A record checked (`records::unseal`); `None` when absent, damaged or implausible.
    fn record<T: Record>(&self, key: &str) -> Option<T> {
        let rtxn = self.env.read_txn().ok()?;
        let bytes = self.dbs.meta.get(&rtxn, key).ok().flatten()?;
        unseal(bytes).ok()
    }

    /// The calibration of the current structure of `kind`, read afresh; `None` without one, or
    /// before its calibration (then `--approx` probes `ivf::DEFAULT_PROBES` lists).
    pub fn calibration(&self, kind: ApproxKind) -> Option<ApproxCalibration> {
        let built_at = self.approx_built_at(kind)?;
        // Lists probed beyond their number would be a damaged record, not a measurement.
        let most = match kind {
            ApproxKind::Lists => self.lists().map_or(0, |l| l.lists),
            ApproxKind::Forest => usize::MAX,
        };
        self.record::<ApproxCalibration>(calibration_key(kind))
            .filter(|c| c.kind == kind && c.built_at == built_at && c.setting <= most)
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
        // 30 % slower than they then are).
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
        let json = sealed(calibration);
        self.dbs
            .meta
            .put(&mut wtxn, calibration_key(calibration.kind), &json)
            .map_err(lmdb)?;
        wtxn.commit().map_err(lmdb)
    }

    /// What an approximate search with `params` reads, for the header of its answer: "16 of 141
    /// lists" (the probes as `approx_top_k` resolves them), "a forest of 30 trees".
    pub fn approx_searched(&self, params: &ApproxParams) -> String {
        match params.kind {
            ApproxKind::Lists => {
                let lists = self.lists().map_or(0, |l| l.lists);
                let probes = match params.probes {
                    0 => self
                        .calibration(ApproxKind::Lists)
                        .map_or(ivf::DEFAULT_PROBES, |c| c.setting),
                    p => p,
                };
                format!(
                    "{} of {} lists",
                    crate::text::thousands(probes.min(lists)),
                    crate::text::thousands(lists)
                )
            }
            ApproxKind::Forest => {
                let trees = self.forest().map_or(0, |f| f.trees);
                format!("a forest of {} trees", crate::text::thousands(trees))
            }
        }
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
                let found = self.lists_candidates(&q, query, probes, normal)?;
                // Each candidate's int8 score plus the int8 error bound: no exact score of
                // that row can exceed it.
                let bound = {
                    let (q16, q_scale) = search::quantize_query(&q, search::quant_stride(q.len()));
                    search::int8_bound(&q, &q16, q_scale)
                };
                found.map(|found| {
                    found
                        .into_iter()
                        .map(|c| (c.id, c.score + bound.at(c.scale)))
                        .collect::<Vec<_>>()
                })
            }
            ApproxKind::Forest => self
                .forest_candidates(&q, query, params.oversampling, normal)?
                .map(|ids| ids.into_iter().map(|id| (id, f32::INFINITY)).collect()),
        };
        let Some(found) = found else {
            return Ok(None);
        };
        self.rescored(&q, query, &found).map(Some)
    }

    /// The exact top `query.k` among `found` (id, upper bound on its exact score), best
    /// candidates first. Rows are read and scored in f32 a few at a time, and the rest left
    /// out once no bound among them reaches the k-th exact score found: the answer is the one
    /// rescoring every candidate gives, with fewer row reads.
    fn rescored(&self, q: &[f32], query: &Query, found: &[(u32, f32)]) -> Result<Vec<Hit>> {
        let dims = self.dims();
        let mut rest_best = vec![f32::NEG_INFINITY; found.len() + 1];
        for i in (0..found.len()).rev() {
            rest_best[i] = rest_best[i + 1].max(found[i].1);
        }
        let mut hits: Vec<Hit> = Vec::with_capacity(found.len());
        let mut at = 0;
        while at < found.len() {
            if query.k > 0 && hits.len() >= query.k {
                search::sort_hits(&mut hits);
                hits.truncate(query.k);
                // Strictly below: a row tying the k-th score could still win on a lower id.
                if rest_best[at] < hits[query.k - 1].score {
                    break;
                }
            }
            let step = if at == 0 {
                query.k.max(1)
            } else {
                RESCORE_STEP
            };
            let end = (at + step).min(found.len());
            let ids: Vec<u32> = found[at..end]
                .iter()
                .map(|&(id, _)| id)
                .filter(|&id| {
                    !query.exclude.contains(&id)
                        && (id as usize) < query.limit
                        && (id as usize) < self.len()
                })
                .collect();
            let rows = self.unit_rows_of(&ids)?;
            hits.extend(
                ids.iter()
                    .zip(rows.chunks_exact(dims.max(1)))
                    .map(|(&id, row)| Hit {
                        id,
                        score: search::dot(row, q),
                    }),
            );
            at = end;
        }
        search::sort_hits(&mut hits);
        hits.truncate(query.k);
        Ok(hits)
    }

    /// Candidates from the inverted lists: the best `ivf::candidates_for(k)` by int8 score
    /// among the `probes` nearest lists.
    pub(super) fn lists_candidates(
        &self,
        q: &[f32],
        query: &Query,
        probes: usize,
        normal: bool,
    ) -> Result<Option<Vec<ivf::Candidate>>> {
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
        Ok(Some(found))
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
        // The forest has one checksum: it is read once everything is verified.
        if !self.trusted_everything() {
            return Err(self.damage_error());
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
            Some(s) => Some((
                s.file.try_clone().map_err(|e| self.source_error(e))?,
                s.stat,
            )),
            None => None,
        };
        Ok(ApproxBuilder {
            env: self.env.clone(),
            dbs: self.dbs,
            dir: self.dir.clone(),
            meta: self.meta.clone(),
            source,
            pc_min_rows: self.pc_min_rows,
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

/// Seed of the lists' k-means: an index's lists depend only on its rows.
const LISTS_SEED: u64 = 0x001f_5eed;

/// Bytes of lists written per transaction.
const LISTS_BATCH_BYTES: usize = 64 << 20;

/// Builds the approximate-search structures of one index; `Send`, so it can run in the
/// background.
pub struct ApproxBuilder {
    pub(super) env: Env<WithoutTls>,
    pub(super) dbs: Dbs,
    pub(super) dir: PathBuf,
    pub(super) meta: Meta,
    /// The source the rows are read from (`Meta::unit_in_source`), and its stat when the store
    /// opened it.
    pub(super) source: Option<(File, FileStat)>,
    /// The store's `pc_min_rows`, for the store the calibration reads through.
    pub(super) pc_min_rows: usize,
}

impl ApproxBuilder {
    /// Builds `kind` (the forest with `trees` trees) on a thread pool of its own whose threads
    /// run at a low priority, for a build that runs while the same process answers queries.
    /// On rayon's global pool the exact scan queued behind arroy's tree jobs until the build
    /// was nearly done (a query typed 3 s into a 400k-word build took 40 s); on its own pool
    /// the build takes the cores only when the scan leaves them idle.
    ///
    /// `pause` is held while the session runs a statement: the build parks at its next block
    /// boundary until it is released (every progress step checks it; loops without steps can
    /// call `pause.wait_while_paused(cancel)` themselves), so that a query typed during the
    /// build answers about as fast as when idle.
    pub fn build_in_background(
        &self,
        kind: ApproxKind,
        trees: usize,
        progress: &dyn Progress,
        cancel: &AtomicBool,
        pause: &Pause,
    ) -> Result<Built> {
        let pausing = Pausing {
            inner: progress,
            pause,
            cancel,
        };
        let progress: &dyn Progress = &pausing;
        let run = || {
            let built = match kind {
                ApproxKind::Lists => self.build_lists(progress, cancel).map(Built::Lists)?,
                ApproxKind::Forest => self
                    .build_forest(trees, progress, cancel)
                    .map(Built::Forest)?,
            };
            // Measured here too, on this pool, so that the session's next statement does not
            // wait for it (2.8 s at 3M x 300); the session measures again only if this failed.
            pause.wait_while_paused(cancel);
            if !cancel.load(Ordering::Relaxed) {
                let params = ApproxParams {
                    kind,
                    ..ApproxParams::default()
                };
                let _ = self
                    .calibration_store()
                    .and_then(|store| store.calibrate(&params, CALIBRATION_QUERIES));
            }
            Ok(built)
        };
        on_build_pool(run)
    }

    /// A store on this builder's environment (the same one: LMDB allows one per process), for
    /// the calibration after a build in the background. It reads the index as the session's
    /// store does, verified by the session before the build began.
    pub(super) fn calibration_store(&self) -> Result<Store> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let rtxn = self.env.clone().static_read_txn().map_err(lmdb)?;
        let source = self.source.as_ref().map(|(file, stat)| {
            file.try_clone()
                .map(|f| (f, *stat))
                .map_err(|e| e.to_string())
        });
        Ok(Store {
            rtxn,
            env: self.env.clone(),
            dbs: self.dbs,
            dir: self.dir.clone(),
            source,
            source_unlinked: std::cell::Cell::new(None),
            source_told: std::cell::Cell::new(false),
            source_path: self.meta.source.clone(),
            meta: self.meta.clone(),
            writable: true,
            verified_now: false,
            temporary: None,
            pc_min_rows: self.pc_min_rows,
            added_stage: Default::default(),
            background: None,
            encoder: Default::default(),
            pause: Default::default(),
        })
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
        // The lists hold each row's int8 copy and id (and LMDB copies pages it rewrites).
        let per_row = search::quant_stride(self.meta.dims) + 16;
        self.write_lists(progress, cancel, batch_bytes)
            .map_err(|e| self.full_disk(e, self.meta.words * per_row * 3 / 2))
    }

    /// A write that failed on a full file system, as a first build says it (LMDB reports some
    /// of those as EIO: "Input/output error (os error 5)"); `needed` is about what the
    /// structure takes.
    pub(super) fn full_disk(&self, e: IndexError, needed: usize) -> IndexError {
        let io = match &e {
            IndexError::Lmdb {
                err: heed::Error::Io(io),
                ..
            }
            | IndexError::Io { err: io, .. } => Some(io),
            IndexError::Forest {
                err: arroy::Error::Heed(heed::Error::Io(io)),
                ..
            } => Some(io),
            _ => None,
        };
        let Some(io) = io else { return e };
        let full = io.raw_os_error() == Some(libc::ENOSPC)
            || (io.raw_os_error() == Some(libc::EIO)
                && free_bytes(&self.dir).is_some_and(|free| free < 4 << 20));
        if !full {
            return e;
        }
        IndexError::NoSpace {
            path: self.dir.clone(),
            needed_mb: (needed as u64).div_ceil(1 << 20).max(1),
        }
    }

    fn write_lists(
        &self,
        progress: &dyn Progress,
        cancel: &AtomicBool,
        batch_bytes: usize,
    ) -> Result<ListsMeta> {
        let lmdb = |e| lmdb_err(&self.dir, e);
        let started = Instant::now();
        // Lists from before their cells were stored count as missing: they are built again
        // (the exact search needs the cells); so do lists from before their parts had
        // checksums of their own (a search would verify them whole before its first answer).
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
                .and_then(|b| unseal::<ListsMeta>(b).ok())
                .filter(|meta| meta.parts.is_some()))
        };
        let rtxn = self.env.read_txn().map_err(lmdb)?;
        if let Some(meta) = existing(&rtxn)? {
            return Ok(meta);
        }
        let quant = quant_rows_in(&rtxn, &self.dbs, &self.meta);
        let dims = self.meta.dims;
        let done = std::sync::atomic::AtomicUsize::new(0);
        let layout = ivf::build(&quant, LISTS_SEED, cancel, &|step| match step {
            // Training has no size (it stops when it converges): its bar shows the time spent;
            // its steps only move the position, where a background build may pause.
            BuildStep::Training { .. } => {
                done.store(0, Ordering::Relaxed);
                progress.start("training", 0, Unit::Rows)
            }
            BuildStep::Assigning { rows } => {
                done.store(0, Ordering::Relaxed);
                progress.start("assigning", rows as u64, Unit::Rows)
            }
            BuildStep::Splitting { lists } => {
                done.store(0, Ordering::Relaxed);
                progress.start("cells", lists as u64, Unit::Lists)
            }
            BuildStep::Trained(n) | BuildStep::Assigned(n) => {
                progress.set((done.fetch_add(n, Ordering::Relaxed) + n) as u64);
            }
            BuildStep::Split => progress.set((done.fetch_add(1, Ordering::Relaxed) + 1) as u64),
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
        progress.start("writing", layout.lists() as u64, Unit::Lists);
        for l in 0..layout.lists() {
            progress.set(l as u64);
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
                    progress.finish();
                    return Err(IndexError::Cancelled);
                }
                wtxn = self.env.write_txn().map_err(lmdb)?;
                batch = 0;
            }
        }
        progress.finish();
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
        let mut cells_hasher = TableHasher::default();
        let mut list_sums: Vec<u8> = Vec::with_capacity(layout.lists() * 8);
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
            cells_hasher.add(key.as_bytes(), value);
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
            list_sums.extend_from_slice(&xxh3_64(v).to_le_bytes());
            bytes += v.len() as u64;
            stored += 1;
        }
        if stored != layout.lists() {
            return Err(IndexError::Cancelled);
        }
        self.dbs
            .meta
            .put(&mut wtxn, LIST_SUMS, &list_sums)
            .map_err(lmdb)?;
        let hex = |sum: u64| format!("{sum:016x}");
        let parts = ListsParts {
            centroids: hex(xxh3_64(centroid_bytes)),
            cells: hex(cells_hasher.finish()),
            sums: hex(xxh3_64(&list_sums)),
        };
        let meta = ListsMeta {
            lists: layout.lists(),
            rows: layout.ids.len(),
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            built_at: now_secs(),
            checksum: format!("{:016x}", hasher.finish()),
            parts: Some(parts),
        };
        let json = sealed(&meta);
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
        // The forest holds a copy of every row and its trees' nodes.
        let needed = self.meta.words * (self.meta.dims * 4 + 64) * 2;
        self.write_forest(trees, progress, cancel)
            .map_err(|e| self.full_disk(e, needed))
    }

    fn write_forest(
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
            if let Ok(meta) = unseal::<ForestMeta>(existing) {
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
                Some((file, stat)) => {
                    let source = SourceFile {
                        file,
                        stat: *stat,
                        encoding: self.meta.row_encoding,
                    };
                    read_source_rows(source, bytes, dims).map_err(|e| IndexError::Source {
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
        let json = sealed(&meta);
        self.dbs
            .meta
            .put(&mut wtxn, "forest", &json)
            .map_err(lmdb)?;
        wtxn.commit().map_err(lmdb)?;
        Ok(meta)
    }
}

/// Runs `run` on a pool of low-priority threads of its own (`build_in_background`), or on
/// this thread at low priority when no threads are to be had.
pub(super) fn on_build_pool<R: Send>(run: impl FnOnce() -> R + Send) -> R {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("vecsh-approx-{i}"))
        .start_handler(|_| lower_thread_priority())
        .build();
    match pool {
        Ok(pool) => pool.install(run),
        Err(_) => {
            lower_thread_priority();
            run()
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::OpenOptions;

    /// Lists built before their cells were stored are built again, with cells, and in the
    /// meantime count as absent (never half-cleared lists under a valid record).
    /// A writable store over `rows` seeded random rows of `dims` values, in a fresh directory.
    fn random_store(rows: usize, dims: usize, seed: u64) -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("v.txt");
        let mut text = String::new();
        let mut state = seed;
        for i in 0..rows {
            text.push_str(&format!("w{i}"));
            for _ in 0..dims {
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
        (tmp, store)
    }

    /// What a progress display is told: each phase's name and size, in order.
    #[derive(Default)]
    struct Phases(std::sync::Mutex<Vec<(String, u64)>>);

    impl Progress for Phases {
        fn start(&self, what: &str, total: u64, _: Unit) {
            self.0.lock().unwrap().push((what.to_string(), total));
        }
        fn set(&self, _: u64) {}
        fn finish(&self) {}
        fn note(&self, _: &str) {}
    }

    /// The bar said `0/400000 rows, eta 0s` for seconds while the centroids were trained: each
    /// phase is named, and only the phases whose size is known have one.
    #[test]
    fn a_lists_build_names_its_phases() {
        let (_tmp, store) = random_store(1500, 8, 11);
        let phases = Phases::default();
        let meta = store.build_lists(&phases, &AtomicBool::new(false)).unwrap();
        let seen = phases.0.into_inner().unwrap();
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["training", "assigning", "cells", "writing"],
            "{seen:?}"
        );
        assert_eq!(seen[0].1, 0, "training has no size: {seen:?}");
        assert_eq!(seen[1].1, 1500);
        assert_eq!(seen[2].1, meta.lists as u64);
        assert_eq!(seen[3].1, meta.lists as u64);
    }

    #[test]
    fn lists_without_cells_are_rebuilt_with_them() {
        let (_tmp, store) = random_store(2000, 16, 7);
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
}
