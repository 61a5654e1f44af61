//! Exact nearest-neighbour search over the stored unit vectors.
//!
//! A plain f32 scan of 400,000 × 50 reads 80 MB per query and is memory-bound near 5–7 ms.
//! Instead each row also has an int8 copy (`QuantRows`, one 64-byte line per 50-d row, 25 MB:
//! it stays in the last-level cache between queries). The scan computes every row's score
//! from the int8 copy together with a proven bound on its error, then rescores in f32 only the
//! rows whose upper bound reaches the k-th best lower bound. The answer is therefore exactly
//! the f32 answer (the test `two_stage_equals_brute_force` checks it), at a fraction of the cost.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

pub mod kernels;
pub mod many;

pub use kernels::{
    dot, dot_i8_i16_dispatch, dots, int8_scores, nearest_i8_i16, normalize, quantize_row,
};
use kernels::{pc_uppers, scan_block, Block};

/// Row-major f32 rows split into equal chunks of `rows_per_chunk` rows (the last may be short),
/// usually borrowed straight from the memory map.
#[derive(Debug, Clone)]
pub struct Rows<'a, T: Clone + 'static> {
    pub row_len: usize,
    pub rows_per_chunk: usize,
    pub chunks: Vec<Cow<'a, [T]>>,
    pub len: usize,
}

impl<'a, T: Copy + 'static> Rows<'a, T> {
    pub fn from_vec(row_len: usize, data: Vec<T>) -> Rows<'static, T> {
        let len = data.len().checked_div(row_len).unwrap_or(0);
        Rows {
            row_len,
            rows_per_chunk: len.max(1),
            chunks: vec![Cow::Owned(data)],
            len,
        }
    }

    pub fn row(&self, id: usize) -> &[T] {
        let chunk = &self.chunks[id / self.rows_per_chunk];
        let at = (id % self.rows_per_chunk) * self.row_len;
        &chunk[at..at + self.row_len]
    }

    /// Rows `start..end` as one slice; the range must lie within one chunk.
    fn span(&self, start: usize, end: usize) -> &[T] {
        let chunk = &self.chunks[start / self.rows_per_chunk];
        let base = start / self.rows_per_chunk * self.rows_per_chunk;
        &chunk[(start - base) * self.row_len..(end - base) * self.row_len]
    }

    /// Splits `0..limit` into ranges of at most `block` rows that never cross a chunk.
    fn blocks(&self, limit: usize, block: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < limit {
            let chunk_end = (start / self.rows_per_chunk + 1) * self.rows_per_chunk;
            let end = (start + block).min(chunk_end).min(limit);
            out.push((start, end));
            start = end;
        }
        out
    }
}

/// `bytes` as a slice of `T`: borrowed where aligned (LMDB places large values 16 bytes into
/// a page, so in practice always), else copied, which only guards against a layout we did
/// not foresee.
pub fn cast_or_copy<T: bytemuck::Pod>(bytes: &[u8]) -> Cow<'_, [T]> {
    match bytemuck::try_cast_slice(bytes) {
        Ok(v) => Cow::Borrowed(v),
        Err(_) => Cow::Owned(bytemuck::pod_collect_to_vec(bytes)),
    }
}

/// The int8 copy: row i is `scale[i] * row8[i]`, rows padded with zeros to `stride` (multiple of 16).
#[derive(Debug, Clone)]
pub struct QuantRows<'a> {
    pub dims: usize,
    pub rows: Rows<'a, i8>,
    pub scales: Rows<'a, f32>,
}

/// Bytes per quantised row: dims rounded up to a multiple of 16, the width of one SIMD load.
pub fn quant_stride(dims: usize) -> usize {
    dims.div_ceil(16) * 16
}

/// One search result: vocabulary id and cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u32,
    pub score: f32,
}

/// Where the f32 stage reads the unit rows it rescores: the index's stored copy, or (for a
/// word2vec .bin read in place) the source file itself. Only a few rows a query are read.
pub trait UnitRows: Sync {
    fn count(&self) -> usize;
    fn unit_row(&self, id: usize) -> Cow<'_, [f32]>;
}

impl UnitRows for Rows<'_, f32> {
    fn count(&self) -> usize {
        self.len
    }
    fn unit_row(&self, id: usize) -> Cow<'_, [f32]> {
        Cow::Borrowed(self.row(id))
    }
}

/// What to search: the best `k` rows among ids `< limit`, leaving out `exclude`.
#[derive(Debug, Clone)]
pub struct Query<'q> {
    pub vector: &'q [f32],
    pub k: usize,
    pub exclude: &'q [u32],
    pub limit: usize,
}

/// The exact top-k by cosine (the query is normalised here), best first; ties by lower id.
pub fn exact_top_k(unit: &(impl UnitRows + ?Sized), quant: &QuantRows, query: &Query) -> Vec<Hit> {
    exact_top_k_counted(unit, quant, query).0
}

/// [`exact_top_k`] and how many rows its int8 stage passed on.
fn exact_top_k_counted(
    unit: &(impl UnitRows + ?Sized),
    quant: &QuantRows,
    query: &Query,
) -> (Vec<Hit>, StageCounts) {
    let limit = query.limit.min(unit.count());
    let mut q = query.vector.to_vec();
    if normalize(&mut q) == 0.0 || query.k == 0 || limit == 0 {
        return (Vec::new(), StageCounts::default());
    }
    let (q16, q_scale) = quantize_query(&q, quant_stride(quant.dims));
    let bound = int8_bound(&q, &q16, q_scale);

    // Rows are only ever excluded by id, so the heap needs room for k plus every exclusion.
    let keep = query.k + query.exclude.len();
    let mut exclude = query.exclude.to_vec();
    exclude.sort_unstable();

    // One pass, in parallel over blocks: approximate scores, the best `keep` lower bounds, and
    // the candidates whose upper bound reaches the block's running threshold. That threshold
    // never exceeds the final one, so no row that could make the top k is dropped here.
    const BLOCK: usize = 16 * 1024;
    // Blocks must not cross a chunk of either matrix; both use the same rows_per_chunk.
    debug_assert_eq!(quant.rows.rows_per_chunk, quant.scales.rows_per_chunk);
    let blocks = quant.rows.blocks(limit, BLOCK);
    let scanned: Vec<(Vec<(u32, f32)>, TopK)> = blocks
        .par_iter()
        .map(|&(start, end)| {
            let block = Block {
                rows: quant.rows.span(start, end),
                stride: quant.rows.row_len,
                scales: quant.scales.span(start, end),
                first_id: start as u32,
            };
            let mut candidates = Vec::new();
            let mut top = TopK::new(keep);
            scan_block(&block, &q16, q_scale, bound, &mut candidates, &mut top);
            (candidates, top)
        })
        .collect();
    let mut lower = TopK::new(keep);
    for (_, top) in &scanned {
        for &(score, id) in top.heap.iter() {
            lower.push(score.0 .0, id);
        }
    }
    let threshold = lower.min_score();

    // Only rows that can still beat the final threshold are rescored in f32.
    let mut hits: Vec<Hit> = scanned
        .iter()
        .flat_map(|(candidates, _)| candidates)
        .filter(|&&(id, upper)| upper >= threshold && exclude.binary_search(&id).is_err())
        .map(|&(id, _)| Hit {
            id,
            score: dot(&unit.unit_row(id as usize), &q),
        })
        .collect();
    let counts = StageCounts {
        scanned: limit,
        pc_passed: limit,
        int8_passed: hits.len(),
        cells_read: 0,
    };
    sort_hits(&mut hits);
    hits.truncate(query.k);
    (hits, counts)
}

/// The optional first stage: the first `p` principal components of every unit row in int8
/// (`p` a multiple of 16, one scale per row) and an upper bound on the length of the rest.
/// For a unit query q and row x = Bᵀx_p + x_r (B the p × dims basis, x_r the residual):
///   q·x = q_p·x_p + q·x_r ≤ approx(q_p·x_p) + quantisation bound + ‖q_r‖·‖x_r‖
/// (Cauchy–Schwarz on the residual), so a row whose upper bound is below a proven k-th best
/// score cannot be in the answer. At 300 d, p = 112 reads 120 bytes a row instead of 320.
#[derive(Debug, Clone)]
pub struct PcStage<'a> {
    pub dims: usize,
    pub p: usize,
    /// p × dims, row-major (component j is `basis[j * dims..(j + 1) * dims]`).
    pub basis: Cow<'a, [f32]>,
    pub rows: Rows<'a, i8>,
    pub scales: Rows<'a, f32>,
    /// An upper bound on ‖x_r‖ for each row.
    pub resid: Rows<'a, f32>,
}

/// Slack added to every first-stage bound. It covers f32 rounding in the stored basis (its
/// rows are orthonormal to `MAX_ORTHO_ERROR`, checked at build), in the projections and in
/// the f32 dot products the answer is scored with; all are below 1e-5 at 300 d, and the
/// scores that decide a top 10 differ by far more than 1e-4, so the slack costs nothing.
const PC_SLACK: f32 = 1e-4;
/// The largest |BBᵀ − I| entry a basis may have (stage not built otherwise).
pub const MAX_ORTHO_ERROR: f64 = 1e-6;

/// The first `p` principal axes (uncentred: of Σ x xᵀ, since scores are dot products with
/// the origin) of `sample` (unit rows of `dims`), as p × dims f32, each axis signed so its
/// largest-magnitude coordinate is positive (deterministic). `None` when the stored f32
/// basis is not orthonormal to `MAX_ORTHO_ERROR` (then the bound would not hold).
pub fn pc_basis(sample: &[f32], dims: usize, p: usize) -> Option<Vec<f32>> {
    use nalgebra::DMatrix;
    if p == 0 || p >= dims || sample.is_empty() {
        return None;
    }
    let n = sample.len() / dims;
    let x = DMatrix::<f32>::from_row_slice(n, dims, &sample[..n * dims]).map(|v| v as f64);
    let eigen = (x.transpose() * &x).symmetric_eigen();
    let mut order: Vec<usize> = (0..dims).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let mut basis = Vec::with_capacity(p * dims);
    for &k in &order[..p] {
        let v: Vec<f64> = eigen.eigenvectors.column(k).iter().copied().collect();
        let len = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let big = v
            .iter()
            .fold(0f64, |m, &a| if a.abs() > m.abs() { a } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        basis.extend(v.iter().map(|a| (a * sign / len) as f32));
    }
    let worst = (0..p)
        .flat_map(|i| (0..p).map(move |j| (i, j)))
        .map(|(i, j)| {
            let d: f64 = basis[i * dims..(i + 1) * dims]
                .iter()
                .zip(&basis[j * dims..(j + 1) * dims])
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            (d - if i == j { 1.0 } else { 0.0 }).abs()
        })
        .fold(0f64, f64::max);
    (worst <= MAX_ORTHO_ERROR).then_some(basis)
}

/// Projects unit rows onto the basis: the int8 rows (stride p), their scales, and an upper
/// bound on each residual's length: √(‖x‖² − ‖x_p‖² + 1e-5), in f64 (the 1e-5 covers the
/// basis's orthonormality error and f32 rounding of x_p; ‖x‖² is 1 or 0).
pub fn pc_project(
    unit: &[f32],
    dims: usize,
    basis: &[f32],
    p: usize,
) -> (Vec<i8>, Vec<f32>, Vec<f32>) {
    use nalgebra::{DMatrix, DMatrixView};
    let n = unit.len() / dims;
    let b = DMatrix::<f32>::from_row_slice(p, dims, basis);
    let mut q8 = vec![0i8; n * p];
    let mut scales = vec![0f32; n];
    let mut resid = vec![0f32; n];
    const PART: usize = 4096;
    q8.par_chunks_mut(PART * p)
        .zip(scales.par_chunks_mut(PART))
        .zip(resid.par_chunks_mut(PART))
        .enumerate()
        .for_each(|(part, ((q8, scales), resid))| {
            let rows = scales.len();
            let slice = &unit[part * PART * dims..(part * PART + rows) * dims];
            // Row-major rows read as a column-major dims × rows matrix are Xᵀ, with no copy;
            // B·Xᵀ (one GEMM per part) has each row's projection as a contiguous column.
            let xp = &b * DMatrixView::from_slice(slice, dims, rows);
            for (r, x) in slice.chunks_exact(dims).enumerate() {
                let x_sq: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
                if x_sq == 0.0 {
                    continue; // a zero row: scale 0, residual 0 (never returned)
                }
                let row = &xp.as_slice()[r * p..(r + 1) * p];
                let p_sq: f64 = row.iter().map(|&v| v as f64 * v as f64).sum();
                let r_sq = (x_sq - p_sq).max(0.0) + 1e-5;
                resid[r] = (r_sq.sqrt() as f32).next_up();
                scales[r] = quantize_row(row, &mut q8[r * p..(r + 1) * p]);
            }
        });
    (q8, scales, resid)
}

/// Rows sampled (evenly across the file) to compute the basis: enough for the leading axes
/// of a 300-d set to settle, and Σ x xᵀ of them costs a fraction of a second.
pub const PC_SAMPLE: usize = 8192;

/// An evenly spaced sample of at most `PC_SAMPLE` rows of `unit`, in id order.
pub fn pc_sample(unit: &Rows<f32>) -> Vec<f32> {
    let step = unit.len.div_ceil(PC_SAMPLE).max(1);
    (0..unit.len)
        .step_by(step)
        .flat_map(|id| unit.row(id).iter().copied())
        .collect()
}

/// The whole first stage for rows held in memory (tests, and the benchmark's sweep of p);
/// the index builds the same tables chunk by chunk.
pub fn pc_stage_from_rows(unit: &Rows<f32>, p: usize) -> Option<PcStage<'static>> {
    let dims = unit.row_len;
    let basis = pc_basis(&pc_sample(unit), dims, p)?;
    let (mut rows, mut scales, mut resid) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in &unit.chunks {
        let (q8, s, r) = pc_project(chunk, dims, &basis, p);
        rows.push(Cow::Owned(q8));
        scales.push(Cow::Owned(s));
        resid.push(Cow::Owned(r));
    }
    fn chunked<T: Clone>(
        row_len: usize,
        like: &Rows<f32>,
        chunks: Vec<Cow<'static, [T]>>,
    ) -> Rows<'static, T>
    where
        [T]: ToOwned<Owned = Vec<T>>,
    {
        Rows {
            row_len,
            rows_per_chunk: like.rows_per_chunk,
            chunks,
            len: like.len,
        }
    }
    Some(PcStage {
        dims,
        p,
        basis: Cow::Owned(basis),
        rows: chunked(p, unit, rows),
        scales: chunked(1, unit, scales),
        resid: chunked(1, unit, resid),
    })
}

/// How many rows each stage let through, for the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageCounts {
    /// Rows scanned (ids below the limit).
    pub scanned: usize,
    /// Rows the principal-component stage passed on to the int8 stage (all when absent).
    pub pc_passed: usize,
    /// Rows the int8 stage passed on to f32 rescoring.
    pub int8_passed: usize,
    /// Cells of the inverted lists read, when the search went through the cells' caps (0
    /// otherwise; a list read whole counts as all its cells); then `pc_passed` counts the
    /// rows of those cells.
    pub cells_read: usize,
}

/// [`exact_top_k`] with the principal-component stage first when `stage` is given.
pub fn exact_top_k_staged(
    unit: &(impl UnitRows + ?Sized),
    quant: &QuantRows,
    stage: Option<&PcStage>,
    query: &Query,
) -> (Vec<Hit>, StageCounts) {
    exact_top_k_seeded(unit, quant, stage, query, &[])
}

// One piece (about 190 lines): the seeded floor, the principal-component stage, the int8
// stage and the f32 rescoring share one floor that the threads raise together; the bounds that
// make the answer exact are read in one place.
/// [`exact_top_k_staged`] with rows likely to be among the best (`seeds`, e.g. what the
/// inverted lists found): their f32 scores start the stage's floor near the answer's k-th
/// score, so fewer rows pass the first stage. Any ids may be given; the answer is exact
/// whatever they are (they only ever raise a proven lower bound).
pub fn exact_top_k_seeded(
    unit: &(impl UnitRows + ?Sized),
    quant: &QuantRows,
    stage: Option<&PcStage>,
    query: &Query,
    seeds: &[u32],
) -> (Vec<Hit>, StageCounts) {
    let Some(stage) = stage else {
        return exact_top_k_counted(unit, quant, query);
    };
    let limit = query.limit.min(unit.count());
    let mut q = query.vector.to_vec();
    if normalize(&mut q) == 0.0 || query.k == 0 || limit == 0 {
        return (Vec::new(), StageCounts::default());
    }
    let (dims, p) = (stage.dims, stage.p);
    // q_p = Bq and the residual's length ‖q − Bᵀq_p‖, in f64.
    let basis = &stage.basis;
    let qp: Vec<f64> = (0..p)
        .map(|j| {
            basis[j * dims..(j + 1) * dims]
                .iter()
                .zip(&q)
                .map(|(&b, &x)| b as f64 * x as f64)
                .sum()
        })
        .collect();
    let mut qr: Vec<f64> = q.iter().map(|&x| x as f64).collect();
    for (j, &c) in qp.iter().enumerate() {
        for (r, &b) in qr.iter_mut().zip(&basis[j * dims..(j + 1) * dims]) {
            *r -= c * b as f64;
        }
    }
    let qr_norm = (qr.iter().map(|r| r * r).sum::<f64>().sqrt() as f32).next_up();
    let qp32: Vec<f32> = qp.iter().map(|&v| v as f32).collect();
    let (q16, q_scale) = quantize_query(&qp32, p);
    let err_q = qp
        .iter()
        .zip(&q16)
        .map(|(a, &b)| (a - b as f64 * q_scale as f64).powi(2))
        .sum::<f64>()
        .sqrt() as f32;
    let l1_q: f32 = q16.iter().map(|&v| (v as f32 * q_scale).abs()).sum();
    // ‖x_p‖ ≤ ‖x‖ = 1 (to f32 rounding, inside the slack).
    let bound = Bound {
        base: err_q * 1.001 + PC_SLACK,
        per_scale: l1_q * 0.5,
    };

    let mut exclude = query.exclude.to_vec();
    exclude.sort_unstable();
    let excluded = |id: u32| exclude.binary_search(&id).is_ok();
    let (q16_full, q_scale_full) = quantize_query(&q, quant_stride(quant.dims));
    let full_bound = int8_bound(&q, &q16_full, q_scale_full);

    // One pass over the first stage, in parallel over blocks. A row goes on to the int8 stage
    // only if its first-stage upper bound reaches `floor`, and to f32 only if its int8 upper
    // bound does too. `floor` is always the k-th best f32 score of some rows already scored
    // (−∞ until k are), shared by the threads, so it never exceeds the answer's k-th score:
    // every row that could be in the answer is scored in f32. It rises as better rows are
    // scored, so after the first few hundred rows almost every row stops at the first stage,
    // which reads 120 bytes of it (at 300 d) and writes nothing.
    let floor = SharedFloor::new();
    const BLOCK: usize = 16 * 1024;
    let blocks = stage.rows.blocks(limit, BLOCK);
    // The floor starts at the k-th best f32 score of a few seeds: the best first-stage upper
    // bounds among the first `SEED_ROWS` rows of every block (1.6 % of the rows). Without
    // them the floor would rise only as the scan happens on good rows, and half the rows
    // passed the first stage (measured at 3M × 300, clustered).
    let seed_count = 4 * query.k + 32;
    let seed_tops: Vec<TopK> = blocks
        .par_iter()
        .map(|&(start, end)| {
            let n = SEED_ROWS.min(end - start);
            let mut uppers = vec![0f32; n];
            pc_uppers(
                stage.rows.span(start, start + n),
                p,
                stage.scales.span(start, start + n),
                stage.resid.span(start, start + n),
                &q16,
                q_scale,
                bound,
                qr_norm,
                &mut uppers,
            );
            let mut top = TopK::new(seed_count);
            for (off, &u) in uppers.iter().enumerate() {
                let id = (start + off) as u32;
                if u > top.min_score() && !excluded(id) {
                    top.push(u, id);
                }
            }
            top
        })
        .collect();
    let mut best_seeds = TopK::new(seed_count);
    for top in &seed_tops {
        for &(u, id) in top.heap.iter() {
            best_seeds.push(u.0 .0, id);
        }
    }
    let mut seed_ids: Vec<u32> = best_seeds.heap.iter().map(|&(_, id)| id).collect();
    seed_ids.extend(
        seeds
            .iter()
            .filter(|&&id| (id as usize) < limit && !excluded(id)),
    );
    seed_ids.sort_unstable();
    seed_ids.dedup();
    let mut seed_scores = TopK::new(query.k);
    for id in seed_ids {
        if quant.scales.row(id as usize)[0] != 0.0 {
            seed_scores.push(dot(&unit.unit_row(id as usize), &q), id);
        }
    }
    floor.raise(seed_scores.min_score());
    let scanned: Vec<(Vec<Hit>, usize)> = blocks
        .par_iter()
        .map(|&(start, end)| {
            let rows = stage.rows.span(start, end);
            let scales = stage.scales.span(start, end);
            let resid = stage.resid.span(start, end);
            let mut uppers = vec![0f32; SUB_BLOCK];
            let mut best = TopK::new(query.k);
            let mut scored = Vec::new();
            let mut passed = 0;
            for sub in (0..end - start).step_by(SUB_BLOCK) {
                let n = SUB_BLOCK.min(end - start - sub);
                pc_uppers(
                    &rows[sub * p..(sub + n) * p],
                    p,
                    &scales[sub..sub + n],
                    &resid[sub..sub + n],
                    &q16,
                    q_scale,
                    bound,
                    qr_norm,
                    &mut uppers[..n],
                );
                let mut at = floor.get().max(best.min_score());
                for (off, &u) in uppers[..n].iter().enumerate() {
                    if u < at {
                        continue;
                    }
                    let id = start + sub + off;
                    let scale = quant.scales.row(id)[0];
                    if scale == 0.0 || excluded(id as u32) {
                        continue;
                    }
                    passed += 1;
                    let a = dot_i8_i16_dispatch(quant.rows.row(id), &q16_full) as f32
                        * (scale * q_scale_full);
                    if a + full_bound.at(scale) < at {
                        continue;
                    }
                    let score = dot(&unit.unit_row(id), &q);
                    scored.push(Hit {
                        id: id as u32,
                        score,
                    });
                    best.push(score, id as u32);
                    if best.min_score() > at {
                        at = floor.raise(best.min_score());
                    }
                }
            }
            (scored, passed)
        })
        .collect();
    // Every row scoring at least the k-th best was scored, so the best k of them (ties by
    // lower id) are the answer.
    let mut hits: Vec<Hit> = scanned
        .iter()
        .flat_map(|(h, _)| h.iter().copied())
        .collect();
    let counts = StageCounts {
        scanned: limit,
        pc_passed: scanned.iter().map(|s| s.1).sum(),
        int8_passed: hits.len(),
        cells_read: 0,
    };
    sort_hits(&mut hits);
    hits.truncate(query.k);
    (hits, counts)
}

/// The scan's shared floor: the largest k-th best f32 score any thread has found so far (an
/// f32 in an atomic, only ever raised).
pub struct SharedFloor(std::sync::atomic::AtomicU32);

impl Default for SharedFloor {
    fn default() -> SharedFloor {
        SharedFloor::new()
    }
}

impl SharedFloor {
    pub fn new() -> SharedFloor {
        SharedFloor(std::sync::atomic::AtomicU32::new(
            f32::NEG_INFINITY.to_bits(),
        ))
    }

    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Raises the floor to `score` if that is higher; returns the floor after.
    pub fn raise(&self, score: f32) -> f32 {
        use std::sync::atomic::Ordering::Relaxed;
        let previous = self
            .0
            .fetch_update(Relaxed, Relaxed, |bits| {
                (score > f32::from_bits(bits)).then_some(score.to_bits())
            })
            .unwrap_or_else(|bits| bits);
        f32::from_bits(previous).max(score)
    }
}

/// Rows at the start of every block whose first-stage bounds pick the seeds.
const SEED_ROWS: usize = 256;

/// Rows whose first-stage bounds are computed at a time, into a buffer that stays in the
/// first-level cache.
const SUB_BLOCK: usize = 1024;

/// The int8 stage's error bound for a unit query (see `Bound`).
pub fn int8_bound(q: &[f32], q16: &[i16], q_scale: f32) -> Bound {
    let q_hat: Vec<f32> = q16.iter().map(|&v| v as f32 * q_scale).collect();
    let err_q = q
        .iter()
        .zip(&q_hat)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f32>()
        .sqrt();
    let l1_q: f32 = q_hat.iter().map(|v| v.abs()).sum();
    Bound {
        base: err_q + 1e-5,
        per_scale: l1_q * 0.5,
    }
}

/// The plain f32 scan: the reference the fast path must equal, and the fallback for tests.
pub fn brute_force_top_k(unit: &Rows<f32>, query: &Query) -> Vec<Hit> {
    let mut q = query.vector.to_vec();
    if normalize(&mut q) == 0.0 {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = (0..query.limit.min(unit.len))
        .filter(|&id| !query.exclude.contains(&(id as u32)))
        .filter(|&id| unit.row(id).iter().any(|&x| x != 0.0))
        .map(|id| Hit {
            id: id as u32,
            score: dot(unit.row(id), &q),
        })
        .collect();
    sort_hits(&mut hits);
    hits.truncate(query.k);
    hits
}

pub fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
}

/// The query at i16 precision: its own rounding error is ~1e-5, negligible beside the rows'.
pub fn quantize_query(q: &[f32], stride: usize) -> (Vec<i16>, f32) {
    let max = q.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = max / 32767.0;
    let mut out = vec![0i16; stride];
    for (o, &x) in out.iter_mut().zip(q) {
        *o = (x / scale).round().clamp(-32767.0, 32767.0) as i16;
    }
    (out, scale)
}

/// The bound on |exact − approximate| score for a row of a given scale:
/// ‖q − q̂‖₂·‖x‖₂ + ‖q̂‖₁·scale/2 (‖x‖₂ = 1), plus slack for f32 rounding.
#[derive(Clone, Copy)]
pub struct Bound {
    base: f32,
    per_scale: f32,
}

impl Bound {
    #[inline(always)]
    pub fn at(self, scale: f32) -> f32 {
        self.base + self.per_scale * scale
    }
}

/// A bounded min-heap keeping the `cap` largest scores.
pub struct TopK {
    cap: usize,
    heap: BinaryHeap<(std::cmp::Reverse<OrdF32>, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF32(f32);
impl Eq for OrdF32 {}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl TopK {
    pub fn new(cap: usize) -> TopK {
        TopK {
            cap,
            heap: BinaryHeap::with_capacity(cap + 1),
        }
    }

    pub fn push(&mut self, score: f32, id: u32) {
        if self.heap.len() < self.cap {
            self.heap.push((std::cmp::Reverse(OrdF32(score)), id));
        } else if let Some(mut min) = self.heap.peek_mut() {
            if score > min.0 .0 .0 {
                *min = (std::cmp::Reverse(OrdF32(score)), id);
            }
        }
    }

    /// The kept (id, score) pairs, best first; ties by lower id.
    pub fn into_sorted(self) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = self.heap.into_iter().map(|(s, id)| (id, s.0 .0)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// The smallest kept score, or −∞ while fewer than `cap` are kept (then every row qualifies).
    pub fn min_score(&self) -> f32 {
        if self.heap.len() < self.cap {
            return f32::NEG_INFINITY;
        }
        self.heap.peek().map_or(f32::NEG_INFINITY, |m| m.0 .0 .0)
    }
}

/// Builds both matrices from raw rows; used by the store's build and by tests.
pub fn unit_and_quant(dims: usize, raw: &[f32]) -> (Vec<f32>, Vec<i8>, Vec<f32>) {
    let n = raw.len() / dims;
    let stride = quant_stride(dims);
    let mut unit = raw.to_vec();
    let mut q8 = vec![0i8; n * stride];
    let mut scales = vec![0f32; n];
    unit.par_chunks_mut(dims)
        .zip(q8.par_chunks_mut(stride))
        .zip(scales.par_iter_mut())
        .for_each(|((row, out), scale)| {
            normalize(row);
            *scale = quantize_row(row, out);
        });
    (unit, q8, scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator so tests need no extra crate.
    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }

    fn fixture(n: usize, dims: usize, seed: u64) -> (Rows<'static, f32>, QuantRows<'static>) {
        let mut s = seed;
        let mut raw: Vec<f32> = (0..n * dims).map(|_| lcg(&mut s)).collect();
        // Clustered rows make many near-ties, the hard case for the bound.
        for r in 0..n {
            if r % 7 == 0 && r >= 7 {
                let (before, after) = raw.split_at_mut(r * dims);
                for (x, y) in after[..dims].iter_mut().zip(&before[(r - 7) * dims..]) {
                    *x = *y + *x * 0.01;
                }
            }
        }
        raw[3 * dims..4 * dims].fill(0.0); // a zero vector
        let (unit, q8, scales) = unit_and_quant(dims, &raw);
        let quant = QuantRows {
            dims,
            rows: Rows::<i8>::from_vec(quant_stride(dims), q8),
            scales: Rows::<f32>::from_vec(1, scales),
        };
        (Rows::<f32>::from_vec(dims, unit), quant)
    }

    #[test]
    fn two_stage_equals_brute_force() {
        for (n, dims, seed) in [(5000, 50, 1), (3000, 300, 2), (700, 7, 3), (40, 16, 4)] {
            let (unit, quant) = fixture(n, dims, seed);
            let mut s = seed + 100;
            for t in 0..40 {
                let q: Vec<f32> = if t % 2 == 0 {
                    unit.row(t * 13 % n).to_vec()
                } else {
                    (0..dims).map(|_| lcg(&mut s)).collect()
                };
                let exclude = [(t * 13 % n) as u32, 5];
                let query = Query {
                    vector: &q,
                    k: 1 + t % 12,
                    exclude: &exclude,
                    limit: n - t,
                };
                let fast = exact_top_k(&unit, &quant, &query);
                let slow = brute_force_top_k(&unit, &query);
                let ids = |h: &[Hit]| h.iter().map(|h| h.id).collect::<Vec<_>>();
                assert_eq!(ids(&fast), ids(&slow), "n={n} dims={dims} t={t}");
                for (a, b) in fast.iter().zip(&slow) {
                    assert_eq!(a.score, b.score);
                }
            }
        }
    }

    #[test]
    fn zero_vectors_and_excluded_ids_are_never_returned() {
        let (unit, quant) = fixture(200, 8, 9);
        let q = unit.row(10).to_vec();
        let hits = exact_top_k(
            &unit,
            &quant,
            &Query {
                vector: &q,
                k: 200,
                exclude: &[10],
                limit: 200,
            },
        );
        assert_eq!(
            hits.len(),
            198,
            "all but the zero row 3 and the excluded row 10"
        );
        assert!(hits
            .iter()
            .all(|h| h.id != 3 && h.id != 10 && h.score.is_finite()));
        let zero = vec![0f32; 8];
        let none = exact_top_k(
            &unit,
            &quant,
            &Query {
                vector: &zero,
                k: 5,
                exclude: &[],
                limit: 200,
            },
        );
        assert!(none.is_empty());
    }

    #[test]
    fn chunked_rows_index_across_chunks() {
        let rows = Rows {
            row_len: 2,
            rows_per_chunk: 2,
            chunks: vec![Cow::Owned(vec![0., 1., 2., 3.]), Cow::Owned(vec![4., 5.])],
            len: 3,
        };
        assert_eq!(rows.row(2), &[4., 5.]);
        assert_eq!(rows.blocks(3, 5), [(0, 2), (2, 3)]);
        assert_eq!(rows.span(0, 2), &[0., 1., 2., 3.]);
    }
}
