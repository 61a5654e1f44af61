//! Every SIMD kernel of vecsh and its portable fallback, in one place: the int8 quantiser and
//! normaliser, the f32 and int8 dot products and the exact search's block scans (search), the
//! analogy batch scorer's cosine and combination kernels (protocols), and the 3CosMul scan of
//! every row (the evaluator's `cosmul`). Where a kernel has an AVX2 path, it gives the portable
//! path's results bit for bit (the same f32 operations in the same order, or exact integer
//! arithmetic); the tests below and in protocols' batch scorer check it.

use rayon::prelude::*;

use super::{sort_hits, Bound, Hit, Rows, TopK};

// ---------------------------------------------------------------------------------------------
// Quantisation, normalisation and the exact search's scans
// ---------------------------------------------------------------------------------------------

/// Quantises a unit (or zero) row into `out` (len = stride) and returns its scale.
/// A zero scale marks a zero vector, which search never returns.
pub fn quantize_row(row: &[f32], out: &mut [i8]) -> f32 {
    let max = row_max_abs(row);
    out.fill(0);
    if max == 0.0 {
        return 0.0;
    }
    let scale = max / 127.0;
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { quantize_values_avx2(row, out, scale) };
        return scale;
    }
    quantize_values(row, out, scale);
    scale
}

/// Normalises in place to unit length; a zero vector stays zero. Computed in f64 then stored
/// as f32, like numpy's f32 norm closely enough for the ±1e-4 agreement with gensim.
pub fn normalize(v: &mut [f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { normalize_avx2(v) };
    }
    normalize_body(v)
}

// The code below is written so that the compiler vectorises it (independent accumulators, no
// libm call in the loops); the normaliser is compiled twice, for the baseline CPU and for
// AVX2, with the same operations in the same order, and the AVX2 quantiser does the portable
// one's operations: either way the same bits. A first
// open of a 3M x 300 file spent 2.5 s of CPU here when `round` was a libm call per value and
// the squares were summed one after another.

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantize_values_avx2(row: &[f32], out: &mut [i8], scale: f32) {
    use std::arch::x86_64::*;
    // 32 values at a time: divide, round to nearest even (the conversion's default mode),
    // clamp, and pack to bytes; the scalar tail does the same operations, so the bytes are
    // those of `quantize_values`.
    let (chunks, rest) = row.as_chunks::<32>();
    let vscale = _mm256_set1_ps(scale);
    let (lo, hi) = (_mm256_set1_ps(-127.0), _mm256_set1_ps(127.0));
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (i, c) in chunks.iter().enumerate() {
        let part = |j: usize| {
            // SAFETY: `c` holds 32 floats, so 8 are readable at 8 * j for j < 4.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr().add(8 * j)) };
            let v = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(v, vscale), lo), hi);
            _mm256_cvtps_epi32(v)
        };
        let ab = _mm256_packs_epi32(part(0), part(1));
        let cd = _mm256_packs_epi32(part(2), part(3));
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
        // SAFETY: `out` has room for `row.len()` bytes; these 32 start at 32 * i.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(32 * i).cast(), bytes) };
    }
    let done = chunks.len() * 32;
    quantize_values(rest, &mut out[done..], scale);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn normalize_avx2(v: &mut [f32]) -> f32 {
    normalize_body(v)
}

#[inline(always)]
fn row_max_abs(row: &[f32]) -> f32 {
    let mut maxes = [0f32; 8];
    let (chunks, rest) = row.as_chunks::<8>();
    for c in chunks {
        for i in 0..8 {
            maxes[i] = maxes[i].max(c[i].abs());
        }
    }
    let max = maxes.iter().fold(0f32, |m, &x| m.max(x));
    rest.iter().fold(max, |m, x| m.max(x.abs()))
}

/// One value in steps of `scale`, rounded to the nearest step (ties to even: the error stays
/// within half a step, which is all the search's bound assumes).
#[inline(always)]
fn quantize_value(x: f32, scale: f32) -> i8 {
    (x / scale).clamp(-127.0, 127.0).round_ties_even() as i8
}

/// The portable quantiser: each value in steps of `scale`.
fn quantize_values(row: &[f32], out: &mut [i8], scale: f32) {
    for (o, &x) in out.iter_mut().zip(row) {
        *o = quantize_value(x, scale);
    }
}

#[inline(always)]
fn normalize_body(v: &mut [f32]) -> f32 {
    // Four partial sums of exact f64 squares (an f32 squared fits an f64's mantissa).
    let mut acc = [0f64; 4];
    let (chunks, rest) = v.as_chunks::<4>();
    for c in chunks {
        for i in 0..4 {
            acc[i] += c[i] as f64 * c[i] as f64;
        }
    }
    let tail: f64 = rest.iter().map(|&x| x as f64 * x as f64).sum();
    let norm = ((acc[0] + acc[1]) + (acc[2] + acc[3]) + tail).sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (*x as f64 / norm) as f32;
        }
    }
    norm as f32
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

/// `dot(row, q)` for every `dims`-wide row of `rows`, into `out` (replacing its contents): the
/// same operations in the same order, so the same bits, compiled for AVX2 when the CPU has it
/// (an approximate search ranks its ~1,300 centroids this way at GloVe's size).
pub fn dots(rows: &[f32], dims: usize, q: &[f32], out: &mut Vec<f32>) {
    out.clear();
    if dims == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { dots_avx2(rows, dims, q, out) };
        return;
    }
    out.extend(rows.chunks_exact(dims).map(|row| dot_body(row, q)));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots_avx2(rows: &[f32], dims: usize, q: &[f32], out: &mut Vec<f32>) {
    out.extend(rows.chunks_exact(dims).map(|row| dot_body(row, q)));
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler vectorise without reassociation.
    let mut acc = [0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// The first stage's upper bounds for one block of rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn pc_uppers(
    rows: &[i8],
    p: usize,
    scales: &[f32],
    resid: &[f32],
    q16: &[i16],
    q_scale: f32,
    bound: Bound,
    qr_norm: f32,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { pc_uppers_avx2(rows, p, scales, resid, q16, q_scale, bound, qr_norm, out) };
            return;
        }
    }
    pc_uppers_with(rows, p, scales, resid, q_scale, bound, qr_norm, out, |r| {
        dot_i8_i16(r, q16)
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn pc_uppers_avx2(
    rows: &[i8],
    p: usize,
    scales: &[f32],
    resid: &[f32],
    q16: &[i16],
    q_scale: f32,
    bound: Bound,
    qr_norm: f32,
    out: &mut [f32],
) {
    pc_uppers_with(rows, p, scales, resid, q_scale, bound, qr_norm, out, |r| {
        // SAFETY: AVX2 is enabled for this function; `r` and `q16` both hold p elements.
        unsafe { dot_i8_i16_avx2(r, q16) }
    })
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pc_uppers_with(
    rows: &[i8],
    p: usize,
    scales: &[f32],
    resid: &[f32],
    q_scale: f32,
    bound: Bound,
    qr_norm: f32,
    out: &mut [f32],
    dot: impl Fn(&[i8]) -> i32,
) {
    let rows = rows.chunks_exact(p).zip(scales).zip(resid);
    for (o, ((row, &scale), &r)) in out.iter_mut().zip(rows) {
        let a = dot(row) as f32 * (scale * q_scale);
        *o = a + bound.at(scale) + qr_norm * r;
    }
}

pub fn dot_i8_i16_dispatch(row: &[i8], q: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { dot_i8_i16_avx2(row, q) };
        }
    }
    dot_i8_i16(row, q)
}

/// One block of quantised rows, all inside one stored chunk.
pub(super) struct Block<'a> {
    pub(super) rows: &'a [i8],
    pub(super) stride: usize,
    pub(super) scales: &'a [f32],
    pub(super) first_id: u32,
}

/// Scans one block: rows whose upper bound reaches the running threshold go to `candidates`
/// (id, upper bound), the best lower bounds into `top`; zero vectors are skipped. Dispatches
/// once per block, not per row, so the whole loop is compiled for AVX2 where the CPU has it.
pub(super) fn scan_block(
    block: &Block,
    q: &[i16],
    q_scale: f32,
    bound: Bound,
    candidates: &mut Vec<(u32, f32)>,
    top: &mut TopK,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { scan_block_avx2(block, q, q_scale, bound, candidates, top) };
            return;
        }
    }
    scan_block_portable(block, q, q_scale, bound, candidates, top);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_block_avx2(
    block: &Block,
    q: &[i16],
    q_scale: f32,
    bound: Bound,
    candidates: &mut Vec<(u32, f32)>,
    top: &mut TopK,
) {
    scan_rows(block, q_scale, bound, candidates, top, |row| {
        // SAFETY: AVX2 is enabled for this function; `row` and `q` both hold `stride` elements.
        unsafe { dot_i8_i16_avx2(row, q) }
    })
}

fn scan_block_portable(
    block: &Block,
    q: &[i16],
    q_scale: f32,
    bound: Bound,
    candidates: &mut Vec<(u32, f32)>,
    top: &mut TopK,
) {
    scan_rows(block, q_scale, bound, candidates, top, |row| {
        dot_i8_i16(row, q)
    })
}

#[inline(always)]
fn scan_rows(
    block: &Block,
    q_scale: f32,
    bound: Bound,
    candidates: &mut Vec<(u32, f32)>,
    top: &mut TopK,
    dot: impl Fn(&[i8]) -> i32,
) {
    let rows = block.rows.chunks_exact(block.stride);
    for (off, (row, &scale)) in rows.zip(block.scales).enumerate() {
        if scale == 0.0 {
            continue;
        }
        let a = dot(row) as f32 * (scale * q_scale);
        let b = bound.at(scale);
        let running = top.min_score();
        if a + b >= running {
            let id = block.first_id + off as u32;
            candidates.push((id, a + b));
            if a - b > running {
                top.push(a - b, id);
            }
        }
    }
}

/// Σ row[i]·q[i] in exact integer arithmetic (|sum| < 2^31 for any stride below 2^16).
fn dot_i8_i16(row: &[i8], q: &[i16]) -> i32 {
    row.iter().zip(q).map(|(&r, &w)| r as i32 * w as i32).sum()
}

/// The same with AVX2: 16 int8 values widened to int16 (vpmovsxbw), multiplied by the query's
/// int16 values and summed in pairs into int32 (vpmaddwd): 16 products per step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_i16_avx2(row: &[i8], q: &[i16]) -> i32 {
    use std::arch::x86_64::*;
    debug_assert!(row.len().is_multiple_of(16) && q.len() >= row.len());
    let mut acc = _mm256_setzero_si256();
    for k in (0..row.len()).step_by(16) {
        // SAFETY: k + 16 <= row.len() <= q.len(); unaligned loads.
        let (r, w) = unsafe {
            (
                _mm_loadu_si128(row.as_ptr().add(k) as *const __m128i),
                _mm256_loadu_si256(q.as_ptr().add(k) as *const __m256i),
            )
        };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(r), w));
    }
    let sum = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256(acc, 1),
    );
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0b01_00_11_10));
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0b10_11_00_01));
    _mm_cvtsi128_si32(sum)
}

/// The approximate score `scale · row · q16 · q_scale` of every int8 row in `rows` (a block of
/// `stride`-byte rows with their `scales`) into `out`, replacing its contents. Dispatches to
/// AVX2 once per block.
pub fn int8_scores(
    rows: &[i8],
    stride: usize,
    scales: &[f32],
    q16: &[i16],
    q_scale: f32,
    out: &mut Vec<f32>,
) {
    out.clear();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { int8_scores_avx2(rows, stride, scales, q16, q_scale, out) };
            return;
        }
    }
    for (row, &scale) in rows.chunks_exact(stride).zip(scales) {
        out.push(dot_i8_i16(row, q16) as f32 * (scale * q_scale));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn int8_scores_avx2(
    rows: &[i8],
    stride: usize,
    scales: &[f32],
    q16: &[i16],
    q_scale: f32,
    out: &mut Vec<f32>,
) {
    use std::arch::x86_64::*;
    let n = (rows.len() / stride).min(scales.len());
    out.resize(n, 0.0);
    debug_assert!(stride.is_multiple_of(16) && q16.len() >= stride);
    // Four rows at a time: their four accumulators are summed together by two rounds of
    // horizontal adds, instead of one full reduction per row (a third of a 64-byte row's cost).
    let fours = n / 4 * 4;
    let qs = _mm_set1_ps(q_scale);
    for r in (0..fours).step_by(4) {
        let mut acc = [_mm256_setzero_si256(); 4];
        for k in (0..stride).step_by(16) {
            // SAFETY: k + 16 <= stride <= q16.len(); unaligned load.
            let w = unsafe { _mm256_loadu_si256(q16.as_ptr().add(k) as *const __m256i) };
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: row r + j < n lies in `rows`, and k + 16 <= stride; unaligned load.
                let x = unsafe {
                    _mm_loadu_si128(rows.as_ptr().add((r + j) * stride + k) as *const __m128i)
                };
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_cvtepi8_epi16(x), w));
            }
        }
        let h = _mm256_hadd_epi32(
            _mm256_hadd_epi32(acc[0], acc[1]),
            _mm256_hadd_epi32(acc[2], acc[3]),
        );
        let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        // SAFETY: r + 4 <= n <= scales.len() and out.len() == n; unaligned load and store.
        unsafe {
            let sc = _mm_mul_ps(_mm_loadu_ps(scales.as_ptr().add(r)), qs);
            _mm_storeu_ps(
                out.as_mut_ptr().add(r),
                _mm_mul_ps(_mm_cvtepi32_ps(sums), sc),
            );
        }
    }
    for r in fours..n {
        // SAFETY: AVX2 is enabled for this function; the row and `q16` hold `stride` elements.
        let d = unsafe { dot_i8_i16_avx2(&rows[r * stride..][..stride], q16) };
        out[r] = d as f32 * (scales[r] * q_scale);
    }
}

// ---------------------------------------------------------------------------------------------
// The analogy batch scorer (protocols::batch_analogies)
// ---------------------------------------------------------------------------------------------

/// Most candidates the batch scorer keeps per query.
pub const MAX_K: usize = 8;

/// Vocabulary rows per block (a multiple of `SCAN_STEP` and of `TILE_R`).
pub(crate) const BLOCK: usize = 256;
/// Words per register tile of the cosine kernel.
pub(crate) const TILE_W: usize = 6;
/// Rows per register tile of the cosine kernel (two 8-lane vectors).
pub(crate) const TILE_R: usize = 16;
/// Rows compared per step of the scan (two 8-lane vectors).
pub(crate) const SCAN_STEP: usize = 16;

/// A query as the scan sees it: its words' rows in the group's cosine block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compact {
    pub(crate) a: u16,
    pub(crate) b: u16,
    pub(crate) c: u16,
    /// An input word has a zero vector: no answer (word2vec's NaN query, gensim's NaN mean).
    pub(crate) dead: bool,
}

/// The best `k` candidates of one query, best first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Top {
    len: u8,
    k: u8,
    items: [(f32, u32); MAX_K],
}

impl Top {
    pub(crate) fn new(k: usize) -> Top {
        Top {
            len: 0,
            k: k as u8,
            items: [(f32::NEG_INFINITY, u32::MAX); MAX_K],
        }
    }

    /// `true` when (s, id) ranks before (t, jd): higher score, then lower id.
    fn before(s: f32, id: u32, t: f32, jd: u32) -> bool {
        s > t || (s == t && id < jd)
    }

    /// Inserts a candidate in rank order, dropping the one that falls off the end.
    fn insert(&mut self, score: f32, id: u32) {
        let len = self.len as usize;
        let k = self.k as usize;
        let mut at = len.min(k);
        while at > 0 && Top::before(score, id, self.items[at - 1].0, self.items[at - 1].1) {
            at -= 1;
        }
        if at >= k {
            return;
        }
        let last = len.min(k - 1);
        self.items.copy_within(at..last, at + 1);
        self.items[at] = (score, id);
        self.len = (len + 1).min(k) as u8;
    }

    /// The score a new candidate must exceed, or `init` while the list is not full.
    pub(crate) fn threshold(&self, init: f32) -> f32 {
        if (self.len as usize) < self.k as usize {
            init
        } else {
            self.items[self.k as usize - 1].0
        }
    }

    pub(crate) fn merge(&mut self, other: &Top) {
        for &(s, id) in &other.items[..other.len as usize] {
            self.insert(s, id);
        }
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.items[..self.len as usize]
            .iter()
            .map(|&(score, id)| Hit { id, score })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// (b − a) + c, as word2vec's `(M[b2] - M[b1]) + M[b3]`.
    Add,
    /// (b · c) / (a + 1e-6) on halves (1 + cos) / 2, as gensim's most_similar_cosmul.
    Mul,
}

const COSMUL_EPS: f32 = 0.000001;

#[inline(always)]
pub(crate) fn combine(a: f32, b: f32, c: f32, how: Combine) -> f32 {
    match how {
        Combine::Add => (b - a) + c,
        Combine::Mul => (b * c) / (a + COSMUL_EPS),
    }
}

/// One group's queries against one block's cosines.
pub(crate) struct Scan<'a> {
    /// [word][row], BLOCK wide, every word index of `queries` below cos.len() / BLOCK.
    pub(crate) cos: &'a [f32],
    pub(crate) queries: &'a [Compact],
    pub(crate) excludes: &'a [[u32; 3]],
    pub(crate) tops: &'a mut [Top],
    pub(crate) thresholds: &'a mut [f32],
    pub(crate) init: f32,
    /// Id of the block's first row.
    pub(crate) start: u32,
    pub(crate) how: Combine,
}

impl Scan<'_> {
    pub(crate) fn run(self) {
        assert!(
            self.tops.len() == self.queries.len() && self.thresholds.len() == self.queries.len()
        );
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is available (checked above); word indices are checked per query.
                match self.how {
                    Combine::Add => unsafe { self.run_avx2::<false>() },
                    Combine::Mul => unsafe { self.run_avx2::<true>() },
                }
                return;
            }
        }
        self.run_portable();
    }

    /// Row j of the block scored `score`, above the query's threshold: keep it unless it is
    /// an input word; returns the new threshold.
    #[inline(always)]
    fn hit(top: &mut Top, exclude: &[u32; 3], id: u32, score: f32, init: f32) -> f32 {
        if !exclude.contains(&id) {
            top.insert(score, id);
        }
        top.threshold(init)
    }

    pub(crate) fn run_portable(self) {
        for (i, q) in self.queries.iter().enumerate() {
            if q.dead {
                continue;
            }
            let col = |w: u16| &self.cos[w as usize * BLOCK..(w as usize + 1) * BLOCK];
            let (a, b, c) = (col(q.a), col(q.b), col(q.c));
            let mut thr = self.thresholds[i];
            for j in 0..BLOCK {
                let s = combine(a[j], b[j], c[j], self.how);
                if s > thr {
                    thr = Scan::hit(
                        &mut self.tops[i],
                        &self.excludes[i],
                        self.start + j as u32,
                        s,
                        self.init,
                    );
                }
            }
            self.thresholds[i] = thr;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2<const MUL: bool>(self) {
        use std::arch::x86_64::*;
        let eps = _mm256_set1_ps(COSMUL_EPS);
        let base = self.cos.as_ptr();
        let words = self.cos.len() / BLOCK;
        for (i, q) in self.queries.iter().enumerate() {
            if q.dead {
                continue;
            }
            assert!((q.a.max(q.b).max(q.c) as usize) < words);
            // SAFETY: every word index is below cos.len() / BLOCK (asserted just above), so each
            // column pointer has BLOCK readable values after it; j + 16 <= BLOCK below.
            let (pa, pb, pc) = unsafe {
                (
                    base.add(q.a as usize * BLOCK),
                    base.add(q.b as usize * BLOCK),
                    base.add(q.c as usize * BLOCK),
                )
            };
            let mut thr = self.thresholds[i];
            let mut vthr = _mm256_set1_ps(thr);
            let mut j = 0;
            while j < BLOCK {
                let score = |off: usize| {
                    // SAFETY: see above.
                    let (a, b, c) = unsafe {
                        (
                            _mm256_loadu_ps(pa.add(off)),
                            _mm256_loadu_ps(pb.add(off)),
                            _mm256_loadu_ps(pc.add(off)),
                        )
                    };
                    if MUL {
                        _mm256_div_ps(_mm256_mul_ps(b, c), _mm256_add_ps(a, eps))
                    } else {
                        _mm256_add_ps(_mm256_sub_ps(b, a), c)
                    }
                };
                let (s0, s1) = (score(j), score(j + 8));
                // Ordered comparison: NaN (rows that may not be candidates) never passes.
                let (g0, g1) = (
                    _mm256_cmp_ps::<_CMP_GT_OQ>(s0, vthr),
                    _mm256_cmp_ps::<_CMP_GT_OQ>(s1, vthr),
                );
                if _mm256_testz_ps(_mm256_or_ps(g0, g1), _mm256_or_ps(g0, g1)) == 0 {
                    let mut mask =
                        _mm256_movemask_ps(g0) as u32 | (_mm256_movemask_ps(g1) as u32) << 8;
                    let mut lanes = [0f32; 16];
                    // SAFETY: lanes holds 16 f32.
                    unsafe {
                        _mm256_storeu_ps(lanes.as_mut_ptr(), s0);
                        _mm256_storeu_ps(lanes.as_mut_ptr().add(8), s1);
                    }
                    while mask != 0 {
                        let l = mask.trailing_zeros() as usize;
                        mask &= mask - 1;
                        // Lane arithmetic is IEEE like the portable path: identical scores.
                        if lanes[l] > thr {
                            let id = self.start + (j + l) as u32;
                            thr = Scan::hit(
                                &mut self.tops[i],
                                &self.excludes[i],
                                id,
                                lanes[l],
                                self.init,
                            );
                        }
                    }
                    vthr = _mm256_set1_ps(thr);
                }
                j += SCAN_STEP;
            }
            self.thresholds[i] = thr;
        }
    }
}

/// cos[w][j] = Σ_k word_w[k] · xt[k][j] for the group's words and the BLOCK rows of `xt`, each
/// sum in dimension order with fused multiply-adds (the same on every path).
pub(crate) fn cosines(packed: &[f32], n_tiles: usize, dims: usize, xt: &[f32], cos: &mut [f32]) {
    assert_eq!(xt.len(), dims * BLOCK);
    assert_eq!(cos.len(), n_tiles * TILE_W * BLOCK);
    assert_eq!(packed.len(), n_tiles * TILE_W * dims);
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA are available; the lengths are asserted above.
            unsafe { cosines_avx2(packed, n_tiles, dims, xt, cos) };
            return;
        }
    }
    cosines_portable(packed, n_tiles, dims, xt, cos);
}

pub(crate) fn cosines_portable(
    packed: &[f32],
    n_tiles: usize,
    dims: usize,
    xt: &[f32],
    cos: &mut [f32],
) {
    for j0 in (0..BLOCK).step_by(TILE_R) {
        for t in 0..n_tiles {
            let mut acc = [[0f32; TILE_R]; TILE_W];
            let tile = &packed[t * dims * TILE_W..(t + 1) * dims * TILE_W];
            for k in 0..dims {
                let x = &xt[k * BLOCK + j0..k * BLOCK + j0 + TILE_R];
                for (i, acc) in acc.iter_mut().enumerate() {
                    let u = tile[k * TILE_W + i];
                    for (a, &x) in acc.iter_mut().zip(x) {
                        *a = u.mul_add(x, *a);
                    }
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                let w = t * TILE_W + i;
                cos[w * BLOCK + j0..w * BLOCK + j0 + TILE_R].copy_from_slice(acc);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cosines_avx2(packed: &[f32], n_tiles: usize, dims: usize, xt: &[f32], cos: &mut [f32]) {
    use std::arch::x86_64::*;
    let (xp, up, cp) = (xt.as_ptr(), packed.as_ptr(), cos.as_mut_ptr());
    for j0 in (0..BLOCK).step_by(TILE_R) {
        for t in 0..n_tiles {
            let mut acc = [[_mm256_setzero_ps(); 2]; TILE_W];
            // SAFETY (all pointer arithmetic below): k < dims and j0 + 16 <= BLOCK, so xt reads
            // stay within dims·BLOCK; tile t's values are at (t·dims + k)·TILE_W + i <
            // packed.len(); stores go to rows below n_tiles·TILE_W, columns j0..j0+16 of cos.
            unsafe {
                let tile = up.add(t * dims * TILE_W);
                for k in 0..dims {
                    let x0 = _mm256_loadu_ps(xp.add(k * BLOCK + j0));
                    let x1 = _mm256_loadu_ps(xp.add(k * BLOCK + j0 + 8));
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let u = _mm256_broadcast_ss(&*tile.add(k * TILE_W + i));
                        acc[0] = _mm256_fmadd_ps(u, x0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(u, x1, acc[1]);
                    }
                }
                for (i, acc) in acc.iter().enumerate() {
                    let at = cp.add((t * TILE_W + i) * BLOCK + j0);
                    _mm256_storeu_ps(at, acc[0]);
                    _mm256_storeu_ps(at.add(8), acc[1]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3CosMul over every row (the evaluator's `cosmul`)
// ---------------------------------------------------------------------------------------------

/// 3CosMul (gensim's most_similar_cosmul) of the rows `0..limit` of `unit` outside `exclude`:
/// Π (1+cos(x, pos))/2 / (Π (1+cos(x, neg))/2 + ε), every row scored in f32; zero rows are
/// never returned. The best `k`, best first, ties by lower id.
pub fn cosmul_top_k(
    unit: &Rows<f32>,
    pos: &[Vec<f32>],
    neg: &[Vec<f32>],
    k: usize,
    exclude: &[u32],
    limit: usize,
) -> Vec<Hit> {
    let mut hits: Vec<Hit> = (0..limit)
        .into_par_iter()
        .filter(|id| !exclude.contains(&(*id as u32)))
        .filter_map(|id| {
            let row = unit.row(id);
            if row.iter().all(|&x| x == 0.0) {
                return None;
            }
            let p: f32 = pos.iter().map(|v| (1.0 + dot(row, v)) / 2.0).product();
            let n: f32 = neg.iter().map(|v| (1.0 + dot(row, v)) / 2.0).product();
            Some(Hit {
                id: id as u32,
                score: p / (n + 1e-6),
            })
        })
        .collect();
    // Only the best k need ordering: partition first, then sort those few.
    if hits.len() > k {
        hits.select_nth_unstable_by(k, |a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(k);
    }
    sort_hits(&mut hits);
    hits.truncate(k);
    hits
}

// ---------------------------------------------------------------------------------------------
// The lists' assignment (ivf::build): many int8 rows against many int16 centroids
// ---------------------------------------------------------------------------------------------

/// Rows per register tile of the assignment kernel.
const NEAREST_ROWS: usize = 4;
/// Centroids per register tile of the assignment kernel (`NEAREST_ROWS` × this = 8 sums, one
/// vector after the reduction).
const NEAREST_CENTS: usize = 2;
/// Centroids scored against a block of rows before the next ones (about 128 KB of centroids at
/// 300 dims, which stay in L2 while every row of the block passes them).
const NEAREST_CENT_BYTES: usize = 128 << 10;

/// The 8 dot products of a tile of `NEAREST_ROWS` int8 rows with centroids c and c + 1: lane
/// i·2 + j is row i's dot product with centroid c + j.
///
/// # Safety
/// AVX2 must be available; every row must hold `stride` values (a multiple of 16) and
/// centroid c + 1 must lie within `cents` (`stride` values a centroid).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_dots(
    tile: &[&[i8]; NEAREST_ROWS],
    cents: &[i16],
    c: usize,
    stride: usize,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_si256(); NEAREST_ROWS * NEAREST_CENTS];
    for k in (0..stride).step_by(16) {
        // SAFETY: k + 16 <= stride <= each row's length; (c + 1)·stride + k + 16 <=
        // cents.len() (the caller's promise).
        let w: [__m256i; NEAREST_CENTS] = std::array::from_fn(|j| unsafe {
            _mm256_loadu_si256(cents.as_ptr().add((c + j) * stride + k).cast())
        });
        for (i, row) in tile.iter().enumerate() {
            // SAFETY: as above.
            let x = unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(row.as_ptr().add(k).cast())) };
            for j in 0..NEAREST_CENTS {
                let a = &mut acc[i * NEAREST_CENTS + j];
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, w[j]));
            }
        }
    }
    // The 8 sums into one vector.
    let t0 = _mm256_hadd_epi32(acc[0], acc[1]);
    let t1 = _mm256_hadd_epi32(acc[2], acc[3]);
    let t2 = _mm256_hadd_epi32(acc[4], acc[5]);
    let t3 = _mm256_hadd_epi32(acc[6], acc[7]);
    let u0 = _mm256_hadd_epi32(t0, t1);
    let u1 = _mm256_hadd_epi32(t2, t3);
    _mm256_add_epi32(
        _mm256_permute2x128_si256(u0, u1, 0x20),
        _mm256_permute2x128_si256(u0, u1, 0x31),
    )
}

/// For each int8 row of `rows` (`stride` values each), the centroid of `cents` (int16,
/// `stride` values each) with the highest dot product, as (dot product, centroid), ties to the
/// lower centroid. The dot products are exact integers, so the AVX2 path and the portable
/// one agree bit for bit. The caller keeps every |dot product| below 2^31 (e.g. 127 ·
/// max|cent| · stride < 2^31). `out` is overwritten, one entry a row.
pub fn nearest_i8_i16(rows: &[&[i8]], cents: &[i16], stride: usize, out: &mut Vec<(i32, u32)>) {
    out.clear();
    out.resize(rows.len(), (i32::MIN, 0));
    if stride == 0 || cents.is_empty() {
        return;
    }
    assert!(stride.is_multiple_of(16) && cents.len().is_multiple_of(stride));
    assert!(rows.iter().all(|r| r.len() >= stride));
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2; lengths are asserted above.
            unsafe { nearest_avx2(rows, cents, stride, out) };
            return;
        }
    }
    nearest_portable(rows, cents, stride, out);
}

/// The portable assignment: every row against every centroid, in the AVX2 path's order.
pub(crate) fn nearest_portable(
    rows: &[&[i8]],
    cents: &[i16],
    stride: usize,
    out: &mut [(i32, u32)],
) {
    for (row, best) in rows.iter().zip(out.iter_mut()) {
        for (c, cent) in cents.chunks_exact(stride).enumerate() {
            let s = dot_i8_i16(&row[..stride], cent);
            if s > best.0 {
                *best = (s, c as u32);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nearest_avx2(rows: &[&[i8]], cents: &[i16], stride: usize, out: &mut [(i32, u32)]) {
    use std::arch::x86_64::*;
    let n_cents = cents.len() / stride;
    let per_block =
        (NEAREST_CENT_BYTES / (2 * stride)).max(NEAREST_CENTS) / NEAREST_CENTS * NEAREST_CENTS;
    let mut first = 0;
    while first < n_cents {
        let end = (first + per_block).min(n_cents);
        let paired = first + (end - first) / NEAREST_CENTS * NEAREST_CENTS;
        let mut r0 = 0;
        while r0 + NEAREST_ROWS <= rows.len() {
            let tile: [&[i8]; NEAREST_ROWS] = std::array::from_fn(|i| rows[r0 + i]);
            // Lane i·2 + j: row i's best score so far among centroids c + j of this block, and
            // which centroid (the first to reach it: the lowest).
            let mut best_s = _mm256_set1_epi32(i32::MIN);
            let mut best_c = _mm256_setzero_si256();
            let step = _mm256_set1_epi32(NEAREST_CENTS as i32);
            let mut at = _mm256_add_epi32(
                _mm256_set1_epi32(first as i32),
                _mm256_setr_epi32(0, 1, 0, 1, 0, 1, 0, 1),
            );
            let mut c = first;
            while c < paired {
                // SAFETY: centroids c and c + 1 are below n_cents; rows hold `stride` values.
                let sums = unsafe { tile_dots(&tile, cents, c, stride) };
                let better = _mm256_cmpgt_epi32(sums, best_s);
                best_s = _mm256_blendv_epi8(best_s, sums, better);
                best_c = _mm256_blendv_epi8(best_c, at, better);
                at = _mm256_add_epi32(at, step);
                c += NEAREST_CENTS;
            }
            let (mut s, mut cs) = ([0i32; 8], [0i32; 8]);
            // SAFETY: each holds 8 i32.
            unsafe {
                _mm256_storeu_si256(s.as_mut_ptr().cast(), best_s);
                _mm256_storeu_si256(cs.as_mut_ptr().cast(), best_c);
            }
            if paired > first {
                for i in 0..NEAREST_ROWS {
                    // Lanes of one row in order of their first centroid: on equal scores the
                    // lower centroid wins, as an earlier block's did.
                    let mut lanes: [(i32, u32); NEAREST_CENTS] = std::array::from_fn(|j| {
                        let m = i * NEAREST_CENTS + j;
                        (s[m], cs[m] as u32)
                    });
                    lanes.sort_unstable_by_key(|&(_, c)| c);
                    for (score, c) in lanes {
                        if score > out[r0 + i].0 {
                            out[r0 + i] = (score, c);
                        }
                    }
                }
            }
            for c in paired..end {
                let cent = &cents[c * stride..][..stride];
                for i in 0..NEAREST_ROWS {
                    // SAFETY: AVX2 is enabled here; both hold `stride` values.
                    let s = unsafe { dot_i8_i16_avx2(&tile[i][..stride], cent) };
                    if s > out[r0 + i].0 {
                        out[r0 + i] = (s, c as u32);
                    }
                }
            }
            r0 += NEAREST_ROWS;
        }
        for (row, best) in rows[r0..].iter().zip(&mut out[r0..]) {
            for c in first..end {
                // SAFETY: AVX2 is enabled here; both hold `stride` values.
                let s = unsafe { dot_i8_i16_avx2(&row[..stride], &cents[c * stride..][..stride]) };
                if s > best.0 {
                    *best = (s, c as u32);
                }
            }
        }
        first = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::quant_stride;

    /// A small deterministic generator so tests need no extra crate.
    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }

    /// The assignment kernel finds each row's best centroid by exact integer dot product, the
    /// same (score, centroid) on the AVX2 path as on the portable one, ties to the lower
    /// centroid, for row and centroid counts that leave partial tiles and span several
    /// centroid blocks.
    #[test]
    fn nearest_centroids_agree_with_the_portable_path_and_brute_force() {
        let mut seed = 3;
        for (dims, n_rows, n_cents) in [(50, 67, 31), (300, 9, 451), (8, 5, 1), (16, 4, 2)] {
            let stride = quant_stride(dims);
            let mut rows = vec![0i8; n_rows * stride];
            for row in rows.chunks_exact_mut(stride) {
                let v: Vec<f32> = (0..dims).map(|_| lcg(&mut seed)).collect();
                quantize_row(&v, row);
            }
            let mut cents = vec![0i16; n_cents * stride];
            for c in cents.chunks_exact_mut(stride) {
                for x in &mut c[..dims] {
                    *x = (lcg(&mut seed) * 1000.0) as i16;
                }
            }
            // Centroids 1, 2 and 300 (in a later block of centroids) repeat centroid 0: ties
            // the lower index wins, across lanes and blocks.
            let first = cents[..stride].to_vec();
            for c in [1, 2, 300].into_iter().filter(|&c| c < n_cents) {
                cents[c * stride..][..stride].copy_from_slice(&first);
            }
            let views: Vec<&[i8]> = rows.chunks_exact(stride).collect();
            let mut got = Vec::new();
            nearest_i8_i16(&views, &cents, stride, &mut got);
            let mut portable = vec![(i32::MIN, 0); n_rows];
            nearest_portable(&views, &cents, stride, &mut portable);
            assert_eq!(got, portable, "{dims} d");
            for (row, &(score, c)) in views.iter().zip(&got) {
                let scores: Vec<i32> = cents
                    .chunks_exact(stride)
                    .map(|w| row.iter().zip(w).map(|(&a, &b)| a as i32 * b as i32).sum())
                    .collect();
                let max = *scores.iter().max().unwrap();
                let first = scores.iter().position(|&s| s == max).unwrap();
                assert_eq!((score, c), (max, first as u32), "{dims} d");
                assert!(
                    ![1, 2, 300].contains(&c),
                    "a tie goes to the lower centroid"
                );
            }
        }
    }

    /// The centroid scorer gives `dot`'s bits for every row.
    #[test]
    fn dots_equal_dot() {
        let mut seed = 5;
        for dims in [1, 7, 8, 50, 300] {
            let rows: Vec<f32> = (0..37 * dims).map(|_| lcg(&mut seed)).collect();
            let q: Vec<f32> = (0..dims).map(|_| lcg(&mut seed)).collect();
            let mut got = vec![9.0];
            dots(&rows, dims, &q, &mut got);
            let want: Vec<f32> = rows.chunks_exact(dims).map(|r| dot(r, &q)).collect();
            assert_eq!(got, want, "{dims} dims");
        }
    }

    /// The block scorer (four rows at a time, then the rest one by one) gives every row the
    /// score the portable per-row product gives, bit for bit, extreme values included.
    #[test]
    fn int8_scores_equal_the_portable_per_row_scores() {
        let mut seed = 11;
        for dims in [16, 50, 64, 300] {
            let stride = quant_stride(dims);
            for n in [0usize, 1, 3, 4, 5, 8, 9, 13] {
                let rows: Vec<i8> = (0..n * stride)
                    .map(|i| match i % 29 {
                        0 => 127,
                        1 => -127,
                        _ => (lcg(&mut seed) * 254.0) as i8,
                    })
                    .collect();
                let scales: Vec<f32> = (0..n).map(|_| lcg(&mut seed).abs() / 127.0).collect();
                let q16: Vec<i16> = (0..stride)
                    .map(|i| match i % 7 {
                        0 => 32767,
                        1 => -32767,
                        _ => (lcg(&mut seed) * 65000.0) as i16,
                    })
                    .collect();
                let q_scale = 1.0 / 32767.0;
                let mut got = Vec::new();
                int8_scores(&rows, stride, &scales, &q16, q_scale, &mut got);
                let want: Vec<f32> = rows
                    .chunks_exact(stride)
                    .zip(&scales)
                    .map(|(row, &s)| dot_i8_i16(row, &q16) as f32 * (s * q_scale))
                    .collect();
                assert_eq!(got, want, "{dims} dims, {n} rows");
            }
        }
    }

    /// The AVX2 quantiser gives the portable one's bytes, ties (exact half steps) and the
    /// ±127 ends included, and every value is within half a step of its row (the bound's
    /// premise); likewise for the normaliser.
    #[test]
    fn simd_quantise_and_normalise_equal_the_portable_code() {
        let mut seed = 7;
        for dims in [1, 7, 8, 31, 32, 33, 50, 300, 301] {
            for case in 0..40 {
                let mut row: Vec<f32> = (0..dims).map(|_| lcg(&mut seed)).collect();
                if case % 4 == 1 {
                    // Values on exact half steps of the row's scale: ties.
                    let max = 127.0f32;
                    for (i, x) in row.iter_mut().enumerate() {
                        *x = ((i % 255) as f32 - 127.0 + 0.5).clamp(-max, max);
                    }
                    row[0] = max;
                }
                if case % 4 == 2 {
                    row.iter_mut().for_each(|x| *x = 0.0);
                }
                let mut unit = row.clone();
                let norm = normalize_body(&mut unit);
                let mut unit_fast = row.clone();
                assert_eq!(normalize(&mut unit_fast).to_bits(), norm.to_bits());
                assert_eq!(unit_fast, unit);
                let stride = quant_stride(dims);
                let (mut a, mut b) = (vec![1i8; stride], vec![2i8; stride]);
                let scale = quantize_row(&row, &mut a);
                b.fill(0);
                quantize_values(&row, &mut b, scale);
                assert_eq!(a, b, "dims {dims} case {case}");
                assert!(a[dims..].iter().all(|&x| x == 0), "padding is zero");
                for (&x, &q) in row.iter().zip(&a) {
                    assert!(
                        (x - q as f32 * scale).abs() <= scale * 0.5 * (1.0 + 1e-6),
                        "{x} {q} {scale}"
                    );
                }
            }
        }
    }

    #[test]
    fn top_keeps_best_first_ties_by_id() {
        let mut top = Top::new(3);
        for (s, id) in [(0.5, 9), (0.7, 4), (0.5, 2), (0.9, 8), (0.5, 1), (0.1, 0)] {
            top.insert(s, id);
        }
        assert_eq!(top.threshold(f32::NEG_INFINITY), 0.5);
        let ids: Vec<u32> = top.hits().iter().map(|h| h.id).collect();
        assert_eq!(ids, [8, 4, 1]);
        let mut other = Top::new(3);
        other.insert(0.6, 3);
        other.insert(0.5, 0);
        top.merge(&other);
        let ids: Vec<u32> = top.hits().iter().map(|h| h.id).collect();
        assert_eq!(ids, [8, 4, 3]);
    }
}
