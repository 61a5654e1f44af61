//! Inverted lists for approximate search: spherical k-means splits the rows into lists around
//! centroids, and a query scans only the rows of its `probes` nearest lists, in int8, each list
//! stored as one contiguous value so a probe is one sequential read.
//!
//! Why not the arroy forest at this size: at 3M x 300 arroy's 30 trees reach recall 0.95 only
//! at ~9 ms and take 14 min and +8 GB to build, because every candidate is an LMDB lookup and
//! an f32 distance (README). Here a candidate costs one int8 dot product from a contiguous
//! block, and the few best are rescored in f32 by the caller, so scores are exact and only
//! recall is approximate.
//!
//! The same lists serve exact search: each is split into cells with a proven cap, and
//! `exact_top_k` reads only the cells whose bound can still reach the answer (README,
//! exact search through the lists' cells).
//!
//! Pure computation: no I/O, no printing. The store (`index`) persists the lists and hands a
//! search the lists it asks for.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::search::{self, Hit, QuantRows, Query, SharedFloor, StageCounts, TopK, UnitRows};

/// Centroids and, for every list, which rows it holds (row ids cell by cell, ascending within
/// a cell).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub dims: usize,
    /// `lists` unit centroids, row-major.
    pub centroids: Vec<f32>,
    /// Every list's cells, for the exact search's bounds.
    pub cells: Cells,
    /// List l holds `ids[offsets[l]..offsets[l + 1]]`.
    pub offsets: Vec<u32>,
    pub ids: Vec<u32>,
}

/// Cells a list is split into for the exact search's bounds.
pub const CELLS_PER_LIST: usize = 4;
const CELL_ITERATIONS: usize = 6;

/// Each list's rows split into `CELLS_PER_LIST` cells (some empty) by spherical k-means. A
/// list can hold rows of several clusters, and their common cap around the list's centroid
/// is wide; each cell's is narrower. A list is stored cell by cell, so a cell is a contiguous
/// run of its list's rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cells {
    /// `CELLS_PER_LIST` unit centroids a list, row-major (zero for an empty cell).
    pub centroids: Vec<f32>,
    /// For every cell, a proven lower bound on x·c over its unit rows x (c its centroid): the
    /// cell lies in a spherical cap around c, which bounds what any query can score in it
    /// (`cap_bound`). 1 for an empty cell.
    pub caps: Vec<f32>,
    /// For every cell, where it ends in its list (a row index within the list).
    pub ends: Vec<u32>,
}

impl Cells {
    pub fn view(&self) -> CellsView<'_> {
        CellsView {
            centroids: &self.centroids,
            caps: &self.caps,
            ends: &self.ends,
        }
    }
}

/// Cells as a search reads them (borrowed from the store).
#[derive(Debug, Clone, Copy)]
pub struct CellsView<'a> {
    pub centroids: &'a [f32],
    pub caps: &'a [f32],
    pub ends: &'a [u32],
}

impl CellsView<'_> {
    /// `Err` says how the cells do not fit `lists` lists of `dims` dimensions.
    pub fn check(&self, lists: usize, dims: usize) -> Result<(), String> {
        let cells = lists * CELLS_PER_LIST;
        if self.centroids.len() != cells * dims
            || self.caps.len() != cells
            || self.ends.len() != cells
        {
            return Err(format!(
                "{} cell centroid values, {} caps and {} ends for {lists} lists of {CELLS_PER_LIST} cells in {dims} dims",
                self.centroids.len(),
                self.caps.len(),
                self.ends.len()
            ));
        }
        match self
            .ends
            .chunks_exact(CELLS_PER_LIST)
            .position(|e| e.windows(2).any(|w| w[0] > w[1]))
        {
            Some(l) => Err(format!("list {l}: cell ends out of order")),
            None => Ok(()),
        }
    }
}

impl Layout {
    pub fn lists(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The row ids of list `l`.
    pub fn list(&self, l: usize) -> &[u32] {
        &self.ids[self.offsets[l] as usize..self.offsets[l + 1] as usize]
    }
}

/// How many lists for `n` rows: about 2·√n (FAISS's guidance is 1–16·√n), at least 1. Fewer,
/// longer lists make the centroid scan cheap and each probe a long contiguous read.
pub fn lists_for(n: usize) -> usize {
    ((n as f64).sqrt() * 2.0).round().clamp(1.0, 65_536.0) as usize
}

/// Lists a search probes before a calibration chose for the file: recall@10 ≥ 0.95 on GloVe
/// 6B 50d, the clustered and the harder 3M x 300 sets (README, approximate search).
pub const DEFAULT_PROBES: usize = 64;

/// The probe counts a calibration tries, fewest first, stopping at the first that reaches
/// `TARGET_RECALL` on its queries.
pub const PROBE_STEPS: &[usize] = &[8, 16, 24, 32, 48, 64, 96, 128, 192, 256];

/// The recall@10 a calibration tunes the probes for: above the 0.95 goal, since it is
/// measured on a few dozen queries.
pub const TARGET_RECALL: f64 = 0.97;

/// Candidates scored in int8 that the caller rescores in f32, for a top `k`: int8 scores are
/// within ~1 % of the f32 ones, so the true top 10 sit among the best 40.
pub fn candidates_for(k: usize) -> usize {
    (4 * k).max(40)
}

/// Rows a list is trained on: k-means needs tens per centroid, not millions.
const TRAIN_PER_LIST: usize = 40;
const TRAIN_ITERATIONS: usize = 10;
/// Training stops early once fewer than this share of the sample changed list in an iteration.
const TRAIN_CONVERGED: f64 = 0.02;
/// Rows scored against all centroids together, so each centroid is loaded once per block.
const ASSIGN_BLOCK: usize = 64;

/// A small seeded generator (splitmix64): the layout depends only on the data and the seed.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Row `id` of the int8 copy back in f32 (scale · int8): within 0.4 % of the unit row, close
/// enough to cluster by. Appends `dims` values to `out`.
fn dequantized(quant: &QuantRows, id: usize, out: &mut Vec<f32>) {
    let scale = quant.scales.row(id)[0];
    out.extend(
        quant.rows.row(id)[..quant.dims]
            .iter()
            .map(|&x| x as f32 * scale),
    );
}

/// For each row of `block` (row-major, `dims` wide), the index of its nearest centroid by dot
/// product (ties: the lower index) and that dot product.
fn nearest_scored(block: &[f32], dims: usize, centroids: &[f32]) -> Vec<(f32, u32)> {
    let n = block.len() / dims;
    let mut best = vec![(f32::NEG_INFINITY, 0u32); n];
    for (c, centroid) in centroids.chunks_exact(dims).enumerate() {
        for (b, row) in best.iter_mut().zip(block.chunks_exact(dims)) {
            let s = search::dot(row, centroid);
            if s > b.0 {
                *b = (s, c as u32);
            }
        }
    }
    best
}

fn nearest(block: &[f32], dims: usize, centroids: &[f32]) -> Vec<u32> {
    let best = nearest_scored(block, dims, centroids);
    best.into_iter().map(|(_, c)| c).collect()
}

/// Slack in the caps and their bounds. It covers f32 rounding in the dot products of the
/// assignment, of a query with a centroid and of the f32 scores a bound is compared with (all
/// below 2e-5 at 300 d), and centroids' lengths differing from 1 (by ~1e-7).
const CAP_SLACK: f32 = 1e-4;

/// A proven lower bound on x·c for the unit row x whose int8 copy (scale · int8, each value
/// within scale/2 of x's) scored `approx` = x̂·c against the unit centroid c:
///   x·c = x̂·c + (x − x̂)·c ≥ x̂·c − (scale/2)·‖c‖₁.
fn cap_of(approx: f32, scale: f32, centroid_l1: f32) -> f32 {
    approx - 0.5 * scale * centroid_l1 * 1.001 - CAP_SLACK
}

/// An upper bound on q·x for a unit query q and every unit row x of a list whose rows all
/// have x·c ≥ `cap`, where q·c = `qc` (as computed in f32) for its unit centroid c. On the
/// sphere the angle from q to x is at least the angle from q to c less the list's angular
/// radius acos(cap), so
///   q·x ≤ cos(max(0, acos(q·c) − acos(cap))) = q·c·cap + √(1 − (q·c)²)·√(1 − cap²)
/// (1 when q is inside the cap). The bound grows with q·c and falls with cap, so rounding
/// both the safe way (q·c up by the slack, cap already a lower bound) keeps it an upper bound.
pub fn cap_bound(qc: f32, cap: f32) -> f32 {
    let a = (qc as f64 + CAP_SLACK as f64).clamp(-1.0, 1.0);
    let m = (cap as f64).clamp(-1.0, 1.0);
    let cos = if a >= m {
        1.0
    } else {
        a * m + ((1.0 - a * a) * (1.0 - m * m)).sqrt()
    };
    (cos as f32 + CAP_SLACK).next_up()
}

/// For k-means' update step: the sum (in f64) and the count of the rows assigned to each of
/// `k` centroids.
fn sums_by_centroid(
    rows: &[f32],
    dims: usize,
    assigned: &[u32],
    k: usize,
) -> (Vec<f64>, Vec<usize>) {
    let mut sums = vec![0f64; k * dims];
    let mut counts = vec![0usize; k];
    for (row, &c) in rows.chunks_exact(dims).zip(assigned) {
        counts[c as usize] += 1;
        for (s, &x) in sums[c as usize * dims..][..dims].iter_mut().zip(row) {
            *s += x as f64;
        }
    }
    (sums, counts)
}

/// `sums_by_centroid` for the rows `ids` of the int8 copy (dequantized), without copying them.
fn sums_of_ids(
    quant: &QuantRows,
    ids: &[u32],
    assigned: &[u32],
    k: usize,
) -> (Vec<f64>, Vec<usize>) {
    let dims = quant.dims;
    let mut sums = vec![0f64; k * dims];
    let mut counts = vec![0usize; k];
    for (&id, &c) in ids.iter().zip(assigned) {
        counts[c as usize] += 1;
        let scale = quant.scales.row(id as usize)[0];
        let row = &quant.rows.row(id as usize)[..dims];
        for (s, &x) in sums[c as usize * dims..][..dims].iter_mut().zip(row) {
            *s += (x as f32 * scale) as f64;
        }
    }
    (sums, counts)
}

/// The centroids as the assignment kernel reads them: int16, `stride` values each (zero
/// padded), all on one scale so that the best integer dot product is the best centroid. The
/// largest value is at most 32767 and small enough that no int8 row's dot product with a
/// centroid can pass 2^31 (127 · largest · stride).
fn centroids_i16(centroids: &[f32], dims: usize, stride: usize) -> Vec<i16> {
    let max = centroids.iter().fold(0f32, |m, x| m.max(x.abs()));
    let top = (i32::MAX as usize / (127 * stride)).min(32_767) as f32;
    let scale = if max > 0.0 { top / max } else { 0.0 };
    let mut out = vec![0i16; centroids.len() / dims.max(1) * stride];
    for (o, c) in out
        .chunks_exact_mut(stride)
        .zip(centroids.chunks_exact(dims))
    {
        for (o, &x) in o.iter_mut().zip(c) {
            *o = (x * scale).round().clamp(-top, top) as i16;
        }
    }
    out
}

/// For each row of the int8 copy in `ids`, its nearest centroid of `cents`
/// (`centroids_i16`) by int8 dot product (ties: the lower index), `ASSIGN_BLOCK` rows a job on
/// both cores; `None` once `cancel` is set. `done(n)` is told of every `n` rows assigned.
fn assign(
    quant: &QuantRows,
    ids: &[u32],
    cents: &[i16],
    cancel: &AtomicBool,
    done: &(dyn Fn(usize) + Sync),
) -> Option<Vec<u32>> {
    let stride = search::quant_stride(quant.dims);
    let assigned: Vec<u32> = ids
        .par_chunks(ASSIGN_BLOCK)
        .flat_map_iter(|block| {
            if cancel.load(Ordering::Relaxed) {
                return Vec::new();
            }
            let rows: Vec<&[i8]> = block
                .iter()
                .map(|&id| &quant.rows.row(id as usize)[..stride])
                .collect();
            let mut best = Vec::with_capacity(block.len());
            search::nearest_i8_i16(&rows, cents, stride, &mut best);
            done(block.len());
            best.into_iter().map(|(_, c)| c).collect()
        })
        .collect();
    (!cancel.load(Ordering::Relaxed) && assigned.len() == ids.len()).then_some(assigned)
}

/// Spherical k-means on the rows `sample` of the int8 copy (unit rows, scale · int8):
/// `lists` unit centroids; `None` once `cancel` is set.
fn train(
    quant: &QuantRows,
    sample: &[u32],
    lists: usize,
    rng: &mut SplitMix,
    cancel: &AtomicBool,
    on_step: &(dyn Fn(BuildStep) + Sync),
) -> Option<Vec<f32>> {
    let (dims, n) = (quant.dims, sample.len());
    let stride = search::quant_stride(dims);
    let mut centroids: Vec<f32> = Vec::with_capacity(lists * dims);
    for _ in 0..lists {
        dequantized(quant, sample[rng.below(n)] as usize, &mut centroids);
    }
    let mut last: Vec<u32> = Vec::new();
    for _ in 0..TRAIN_ITERATIONS {
        let cents = centroids_i16(&centroids, dims, stride);
        let assigned = assign(quant, sample, &cents, cancel, &|n| {
            on_step(BuildStep::Trained(n))
        })?;
        // Converged: so few rows changed list that another step would barely move a centroid.
        let changed = if last.is_empty() {
            n
        } else {
            assigned.iter().zip(&last).filter(|(a, b)| a != b).count()
        };
        if (changed as f64) < TRAIN_CONVERGED * n as f64 {
            break;
        }
        let (sums, counts) = sums_of_ids(quant, sample, &assigned, lists);
        last = assigned;
        let mut row = Vec::with_capacity(dims);
        for c in 0..lists {
            let out = &mut centroids[c * dims..][..dims];
            if counts[c] == 0 {
                // An empty list takes a random sample row: every centroid keeps a place.
                row.clear();
                dequantized(quant, sample[rng.below(n)] as usize, &mut row);
                out.copy_from_slice(&row);
                continue;
            }
            for (o, &s) in out.iter_mut().zip(&sums[c * dims..][..dims]) {
                *o = s as f32;
            }
            search::normalize(out);
        }
    }
    Some(centroids)
}

/// What `build` reports as it goes, for a progress display: each phase as it begins, with its
/// size, then its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStep {
    /// Training the centroids on a sample of `rows` rows begins (it has no size: it stops when
    /// it converges).
    Training { rows: usize },
    /// `n` more sample rows assigned in a training iteration (a point where a background build
    /// can pause).
    Trained(usize),
    /// Assigning every row to its list begins.
    Assigning { rows: usize },
    /// `n` more rows assigned.
    Assigned(usize),
    /// Splitting the lists into cells begins.
    Splitting { lists: usize },
    /// One more list split.
    Split,
}

/// Trains the centroids on a seeded sample of the non-zero rows of the int8 copy and assigns
/// every non-zero row to its nearest centroid (zero rows are in no list: search never returns
/// them). `on_step` is told of each phase and step, for progress; `None` once `cancel` is set.
pub fn build(
    quant: &QuantRows,
    seed: u64,
    cancel: &AtomicBool,
    on_step: &(dyn Fn(BuildStep) + Sync),
) -> Option<Layout> {
    let dims = quant.dims;
    let ids: Vec<u32> = (0..quant.rows.len)
        .filter(|&i| quant.scales.row(i)[0] != 0.0)
        .map(|i| i as u32)
        .collect();
    if ids.is_empty() {
        return Some(Layout {
            dims,
            centroids: Vec::new(),
            cells: Cells::default(),
            offsets: vec![0],
            ids,
        });
    }
    let lists = lists_for(ids.len()).min(ids.len());
    let mut rng = SplitMix(seed);
    let train_n = (lists * TRAIN_PER_LIST).min(ids.len());
    // A partial Fisher-Yates shuffle of the ids picks the sample without repeats.
    let mut pick = ids.clone();
    for i in 0..train_n {
        let j = i + rng.below(pick.len() - i);
        pick.swap(i, j);
    }
    on_step(BuildStep::Training { rows: train_n });
    let mut sample = pick;
    sample.truncate(train_n);
    // In id order, the sample's rows are read from the int8 copy front to back.
    sample.sort_unstable();
    let centroids = train(quant, &sample, lists, &mut rng, cancel, on_step)?;
    drop(sample);
    on_step(BuildStep::Assigning { rows: ids.len() });
    // Every row against every centroid: a row in a list that is not its nearest would widen
    // its cell's cap for every query (through ~√lists groups of centroids, 6 probed, the
    // clustered 3M x 300 set's exact search took 70 ms instead of 1.6; docs/performance.md).
    let cents = centroids_i16(&centroids, dims, search::quant_stride(dims));
    let assigned = assign(quant, &ids, &cents, cancel, &|n| {
        on_step(BuildStep::Assigned(n))
    })?;
    drop(cents);
    let mut offsets = vec![0u32; lists + 1];
    for &c in &assigned {
        offsets[c as usize + 1] += 1;
    }
    for l in 0..lists {
        offsets[l + 1] += offsets[l];
    }
    let mut fill = offsets.clone();
    let mut list_ids = vec![0u32; ids.len()];
    // Ids ascend, so each list's ids come out ascending too.
    for (&id, &c) in ids.iter().zip(&assigned) {
        list_ids[fill[c as usize] as usize] = id;
        fill[c as usize] += 1;
    }
    drop(assigned);
    // Each list split into cells, its ids reordered cell by cell.
    on_step(BuildStep::Splitting { lists });
    let split: Vec<SplitList> = (0..lists)
        .into_par_iter()
        .map(|l| {
            let list = &list_ids[offsets[l] as usize..offsets[l + 1] as usize];
            let split = split_into_cells(quant, list);
            on_step(BuildStep::Split);
            split
        })
        .collect();
    if cancel.load(Ordering::Relaxed) {
        return None;
    }
    let mut cells = Cells::default();
    let mut at = 0;
    for SplitList {
        ids,
        centroids: c,
        caps,
        ends,
    } in split
    {
        list_ids[at..at + ids.len()].copy_from_slice(&ids);
        at += ids.len();
        cells.centroids.extend(c);
        cells.caps.extend(caps);
        cells.ends.extend(ends);
    }
    Some(Layout {
        dims,
        centroids,
        cells,
        offsets,
        ids: list_ids,
    })
}

/// One list split into cells: its ids reordered cell by cell (ascending within a cell), and
/// each cell's centroid, cap and end (as in `Cells`).
struct SplitList {
    ids: Vec<u32>,
    centroids: Vec<f32>,
    caps: Vec<f32>,
    ends: Vec<u32>,
}

/// Spherical k-means of `rows` (f32, `dims` wide) into `k` unit centroids, seeded with evenly
/// spaced rows (no generator: the result depends only on the rows), for few rows.
fn small_kmeans(rows: &[f32], dims: usize, k: usize, iterations: usize) -> Vec<f32> {
    let n = rows.len() / dims;
    let mut centroids: Vec<f32> = (0..k)
        .flat_map(|j| rows[(j * n / k) * dims..][..dims].to_vec())
        .collect();
    centroids.chunks_exact_mut(dims).for_each(|c| {
        search::normalize(c);
    });
    for _ in 0..iterations {
        let assigned = nearest(rows, dims, &centroids);
        let (sums, _) = sums_by_centroid(rows, dims, &assigned, k);
        for (c, sum) in sums.chunks_exact(dims).enumerate() {
            if sum.iter().any(|&s| s != 0.0) {
                let out = &mut centroids[c * dims..][..dims];
                out.iter_mut().zip(sum).for_each(|(o, &s)| *o = s as f32);
                search::normalize(out);
            }
        }
    }
    centroids
}

/// Splits one list (row ids, ascending) into `CELLS_PER_LIST` cells by spherical k-means on
/// its int8 rows, seeded with evenly spaced rows.
fn split_into_cells(quant: &QuantRows, ids: &[u32]) -> SplitList {
    let dims = quant.dims;
    let (n, k) = (ids.len(), CELLS_PER_LIST.min(ids.len()));
    let mut rows = Vec::with_capacity(n * dims);
    for &id in ids {
        dequantized(quant, id as usize, &mut rows);
    }
    let mut centroids = small_kmeans(&rows, dims, k, CELL_ITERATIONS);
    let best = nearest_scored(&rows, dims, &centroids);
    let l1: Vec<f32> = centroids
        .chunks_exact(dims)
        .map(|c| c.iter().map(|x| x.abs()).sum())
        .collect();
    let mut caps = vec![1f32; CELLS_PER_LIST];
    let mut ends = vec![0u32; CELLS_PER_LIST];
    for (i, &(score, c)) in best.iter().enumerate() {
        let scale = quant.scales.row(ids[i] as usize)[0];
        let c = c as usize;
        caps[c] = caps[c].min(cap_of(score, scale, l1[c]));
        ends[c] += 1;
    }
    for c in 1..CELLS_PER_LIST {
        ends[c] += ends[c - 1];
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (best[i].1, ids[i]));
    centroids.resize(CELLS_PER_LIST * dims, 0.0);
    SplitList {
        ids: order.iter().map(|&i| ids[i]).collect(),
        centroids,
        caps,
        ends,
    }
}

/// Bytes of a stored list of `len` rows: ids (u32 LE), then scales (f32 LE), then the int8
/// rows, `quant_stride(dims)` bytes each.
pub fn list_bytes(len: usize, dims: usize) -> usize {
    len * (8 + search::quant_stride(dims))
}

/// Writes the list of rows `ids` from the int8 copy into `out` (`list_bytes` long).
pub fn write_list(ids: &[u32], quant: &QuantRows, out: &mut [u8]) {
    let stride = search::quant_stride(quant.dims);
    let (id_bytes, rest) = out.split_at_mut(ids.len() * 4);
    let (scale_bytes, row_bytes) = rest.split_at_mut(ids.len() * 4);
    for (i, &id) in ids.iter().enumerate() {
        id_bytes[i * 4..][..4].copy_from_slice(&id.to_le_bytes());
        let scale = quant.scales.row(id as usize)[0];
        scale_bytes[i * 4..][..4].copy_from_slice(&scale.to_le_bytes());
        row_bytes[i * stride..][..stride]
            .copy_from_slice(bytemuck::cast_slice(quant.rows.row(id as usize)));
    }
}

/// One list as a search reads it.
pub struct ListView<'a> {
    pub ids: Cow<'a, [u32]>,
    pub scales: Cow<'a, [f32]>,
    pub rows: &'a [i8],
}

/// Reads a stored list back; `Err` says how its length is wrong.
pub fn read_list(bytes: &[u8], dims: usize) -> Result<ListView<'_>, String> {
    let per_row = 8 + search::quant_stride(dims);
    if !bytes.len().is_multiple_of(per_row) {
        return Err(format!(
            "{} bytes is not a whole number of {per_row}-byte rows",
            bytes.len()
        ));
    }
    let len = bytes.len() / per_row;
    let (ids, rest) = bytes.split_at(len * 4);
    let (scales, rows) = rest.split_at(len * 4);
    Ok(ListView {
        ids: search::cast_or_copy(ids),
        scales: search::cast_or_copy(scales),
        rows: bytemuck::cast_slice(rows),
    })
}

/// One candidate of `candidates`: its id, its int8 score and its int8 scale (which, with
/// `search::int8_bound`, bounds how far its exact score can lie from the int8 one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub score: f32,
    pub scale: f32,
}

/// The `want` best rows by int8 score among the `probes` lists whose centroids are nearest to
/// the unit query `q`, best first (ties: lower id), leaving out `exclude` and ids ≥ `limit`.
/// `list(l)` hands over list `l`. Scores are approximate (int8); the caller rescores in f32.
///
/// All on the calling thread: a query scans ~20k rows in a few tens of microseconds, less
/// than handing work to a pool costs. A row's score is compared with the kept floor before
/// anything else, so the exclusions and the pool of kept rows are touched only by the few that
/// pass.
#[allow(clippy::too_many_arguments)]
pub fn candidates<'a, E>(
    centroids: &[f32],
    dims: usize,
    q: &[f32],
    probes: usize,
    want: usize,
    exclude: &[u32],
    limit: usize,
    mut list: impl FnMut(usize) -> Result<ListView<'a>, E>,
) -> Result<Vec<Candidate>, E> {
    let mut qc = Vec::new();
    search::dots(centroids, dims, q, &mut qc);
    let mut near: Vec<(f32, usize)> = qc.into_iter().enumerate().map(|(l, s)| (s, l)).collect();
    if near.is_empty() || want == 0 || probes == 0 {
        return Ok(Vec::new());
    }
    let probes = probes.min(near.len());
    near.select_nth_unstable_by(probes - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    near.truncate(probes);
    let stride = search::quant_stride(dims);
    let (q16, q_scale) = search::quantize_query(q, stride);
    // The rows above the floor, with their scales; cut back to the `want` best (by score, then
    // lower id) whenever it holds `POOL_FACTOR` times that, which raises the floor. Cheaper
    // than a heap touched by every row that passes: most rows that pass do so in the first
    // lists, and a cut is one selection over a few dozen entries.
    let mut pool: Vec<Candidate> = Vec::with_capacity(POOL_FACTOR * want + 1);
    let mut floor = f32::NEG_INFINITY;
    let mut scores = Vec::new();
    for &(_, l) in &near {
        let view = list(l)?;
        search::int8_scores(view.rows, stride, &view.scales, &q16, q_scale, &mut scores);
        for (i, &s) in scores.iter().enumerate() {
            // Rows at or below the floor cannot enter the best `want`: the test comes first.
            if s <= floor {
                continue;
            }
            let id = view.ids[i];
            if (id as usize) < limit && !exclude.contains(&id) {
                pool.push(Candidate {
                    id,
                    score: s,
                    scale: view.scales[i],
                });
                if pool.len() >= POOL_FACTOR * want {
                    floor = cut_to_best(&mut pool, want);
                }
            }
        }
    }
    cut_to_best(&mut pool, want);
    pool.sort_unstable_by(best_first);
    Ok(pool)
}

/// How far `candidates`' pool grows, in multiples of the candidates wanted, before it is cut.
const POOL_FACTOR: usize = 4;

/// Best score first, ties by lower id.
fn best_first(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.id.cmp(&b.id))
}

/// Keeps the `want` best of `pool` (in no order) and returns the floor a row must beat to
/// enter them: the worst kept score once `want` are kept, −∞ before.
fn cut_to_best(pool: &mut Vec<Candidate>, want: usize) -> f32 {
    if pool.len() > want {
        pool.select_nth_unstable_by(want - 1, best_first);
        pool.truncate(want);
    }
    if pool.len() < want {
        return f32::NEG_INFINITY;
    }
    pool.iter().map(|c| c.score).fold(f32::INFINITY, f32::min)
}

/// Lists an exact search through the lists scans first, nearest centroids first, to raise its
/// floor before it weighs the other lists' bounds.
pub const EXACT_FIRST_LISTS: usize = 8;

/// What an exact search through the lists found.
#[derive(Debug)]
pub enum ListsExact {
    /// The exact answer (best first, ties by lower id) and how many rows each stage passed.
    Answer(Vec<Hit>, StageCounts),
    /// The lists' bounds left more than the budget's rows to read: scanning every row costs
    /// less. `seeds` are the best rows found so far, to start that scan's floor.
    TooWide { seeds: Vec<u32> },
}

/// The exact top-k through the lists and their cells' caps, reading only the cells whose cap
/// bound reaches the floor (the k-th best f32 score found so far): every non-zero row is in
/// exactly one cell, and a row of a cell whose bound is below the floor scores below it, so it
/// cannot be in the answer (nor tie with it). The `EXACT_FIRST_LISTS` lists nearest the query
/// are read whole first and set the floor; if the cells that still reach it hold more than
/// `budget_rows` rows the search stops and says so. In the cells read, rows go from int8 to
/// f32 as in the full scan (`search::exact_top_k_seeded`), so scores are the f32 ones, bit
/// for bit. `bad` turns a list that does not fit its cells into the caller's error.
// One piece (about 190 lines): the floor, the lists read whole, the cells' bounds and the
// parallel cell reads share one top-k and one budget, and the proof that the answer is exact
// is read top to bottom here; split up, each part would pass that state to the next.
#[allow(clippy::too_many_arguments)]
pub fn exact_top_k<'a, E>(
    centroids: &[f32],
    cells: CellsView,
    dims: usize,
    unit: &(impl UnitRows + ?Sized),
    query: &Query,
    budget_rows: usize,
    mut list: impl FnMut(usize) -> Result<ListView<'a>, E>,
    bad: impl Fn(String) -> E,
) -> Result<ListsExact, E> {
    let lists = centroids.len() / dims.max(1);
    let limit = query.limit.min(unit.count());
    let mut q = query.vector.to_vec();
    if search::normalize(&mut q) == 0.0 || query.k == 0 || limit == 0 || lists == 0 {
        return Ok(ListsExact::Answer(Vec::new(), StageCounts::default()));
    }
    cells.check(lists, dims).map_err(&bad)?;
    let mut exclude = query.exclude.to_vec();
    exclude.sort_unstable();
    let wanted = |id: u32| (id as usize) < limit && exclude.binary_search(&id).is_err();
    let stride = search::quant_stride(dims);
    let (q16, q_scale) = search::quantize_query(&q, stride);
    let int8 = search::int8_bound(&q, &q16, q_scale);
    let approx = |view: &ListView, i: usize| {
        let scale = view.scales[i];
        let row = &view.rows[i * stride..][..stride];
        let a = search::dot_i8_i16_dispatch(row, &q16) as f32 * (scale * q_scale);
        (a, a + int8.at(scale))
    };
    // Scores the wanted rows `rows` of a list that can still reach the floor into `scored`,
    // but for those in `skip` (sorted: already scored); returns how many it scored in int8.
    let scan = |view: &ListView,
                rows: std::ops::Range<usize>,
                skip: &[u32],
                floor: &SharedFloor,
                best: &mut TopK,
                scored: &mut Vec<Hit>| {
        let mut at = floor.get().max(best.min_score());
        let mut passed = 0;
        for i in rows {
            let id = view.ids[i];
            if !wanted(id) || skip.binary_search(&id).is_ok() {
                continue;
            }
            passed += 1;
            if approx(view, i).1 < at {
                continue;
            }
            let score = search::dot(&unit.unit_row(id as usize), &q);
            scored.push(Hit { id, score });
            best.push(score, id);
            if best.min_score() > at {
                at = floor.raise(best.min_score());
            }
        }
        passed
    };
    let fits = |l: usize, view: &ListView| {
        let end = cells.ends[(l + 1) * CELLS_PER_LIST - 1] as usize;
        if end == view.ids.len() && view.rows.len() >= end * stride {
            Ok(())
        } else {
            Err(bad(format!(
                "lists: list {l} holds {} rows, its cells {end}",
                view.ids.len()
            )))
        }
    };

    // The query against every list's and every cell's centroid, in parallel (at 3M x 300,
    // 17,320 dot products of 300 values: most of a query's time on clustered data).
    let near: Vec<f32> = centroids
        .par_chunks(dims)
        .map(|c| search::dot(c, &q))
        .collect();
    let cell_bounds: Vec<f32> = cells
        .centroids
        .par_chunks(dims)
        .zip(cells.caps)
        .map(|(c, &cap)| cap_bound(search::dot(c, &q), cap))
        .collect();
    let mut order: Vec<usize> = (0..lists).collect();
    order.sort_unstable_by(|&a, &b| near[b].total_cmp(&near[a]).then(a.cmp(&b)));
    let first = EXACT_FIRST_LISTS.min(lists);
    let floor = SharedFloor::new();
    let mut best = TopK::new(query.k);
    let mut scored = Vec::new();
    let mut passed = 0;
    let first_views = order[..first]
        .iter()
        .map(|&l| {
            let view = list(l)?;
            fits(l, &view)?;
            Ok(view)
        })
        .collect::<Result<Vec<_>, E>>()?;
    // The k best of those rows by int8 score are scored in f32 first: the floor starts near
    // the answer's k-th score, so few other rows are read from the f32 rows (for a word2vec
    // .bin, one pread each).
    let mut likely = TopK::new(query.k);
    for view in &first_views {
        for (i, &id) in view.ids.iter().enumerate() {
            if wanted(id) {
                likely.push(approx(view, i).0, id);
            }
        }
    }
    let mut likely: Vec<u32> = likely.into_sorted().into_iter().map(|(id, _)| id).collect();
    likely.sort_unstable();
    for &id in &likely {
        let score = search::dot(&unit.unit_row(id as usize), &q);
        scored.push(Hit { id, score });
        best.push(score, id);
    }
    floor.raise(best.min_score());
    for view in &first_views {
        passed += scan(
            view,
            0..view.ids.len(),
            &likely,
            &floor,
            &mut best,
            &mut scored,
        );
    }
    // The other lists' cells that can still hold a row of the answer, highest bound first.
    let at = floor.get();
    let mut rest: Vec<(f32, usize, std::ops::Range<usize>)> = Vec::new();
    let mut rows_left = 0usize;
    for &l in &order[first..] {
        let cells_of = l * CELLS_PER_LIST..(l + 1) * CELLS_PER_LIST;
        let mut start = 0;
        for (&bound, &end) in cell_bounds[cells_of.clone()]
            .iter()
            .zip(&cells.ends[cells_of])
        {
            let end = end as usize;
            if end > start && bound >= at {
                rest.push((bound, l, start..end));
                rows_left += end - start;
            }
            start = end;
        }
        if rows_left > budget_rows {
            let seeds = best.into_sorted().into_iter().map(|(id, _)| id).collect();
            return Ok(ListsExact::TooWide { seeds });
        }
    }
    // Equal bounds in list order, then cell order.
    rest.sort_unstable_by(|a, b| {
        (b.0.total_cmp(&a.0))
            .then(a.1.cmp(&b.1))
            .then(a.2.start.cmp(&b.2.start))
    });
    let work = rest
        .into_iter()
        .map(|(bound, l, rows)| {
            let view = list(l)?;
            fits(l, &view)?;
            Ok((bound, view, rows))
        })
        .collect::<Result<Vec<_>, E>>()?;
    let found: Vec<(Vec<Hit>, usize, usize)> = work
        .par_iter()
        .fold(
            || (Vec::new(), 0, 0, TopK::new(query.k)),
            |(mut hits, mut passed, mut read, mut best), (bound, view, rows)| {
                // The floor may have risen past this cell's bound since the cell was chosen.
                if *bound >= floor.get() {
                    passed += scan(view, rows.clone(), &[], &floor, &mut best, &mut hits);
                    read += 1;
                }
                (hits, passed, read, best)
            },
        )
        .map(|(hits, passed, read, _)| (hits, passed, read))
        .collect();
    let cells_read = first * CELLS_PER_LIST + found.iter().map(|f| f.2).sum::<usize>();
    passed += found.iter().map(|f| f.1).sum::<usize>();
    scored.extend(found.into_iter().flat_map(|f| f.0));
    let counts = StageCounts {
        scanned: limit,
        pc_passed: passed,
        int8_passed: scored.len(),
        cells_read,
    };
    search::sort_hits(&mut scored);
    scored.truncate(query.k);
    Ok(ListsExact::Answer(scored, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Rows;

    /// Seeded unit rows in `centres` loose clusters, with every 17th row zero.
    fn quantised(n: usize, dims: usize, seed: u64) -> (Vec<f32>, QuantRows<'static>) {
        let mut rng = SplitMix(seed);
        let mut uniform = move || (rng.next() >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
        let centres: Vec<f32> = (0..8 * dims).map(|_| uniform()).collect();
        let stride = search::quant_stride(dims);
        let (mut unit, mut rows, mut scales) = (Vec::new(), vec![0i8; n * stride], Vec::new());
        for i in 0..n {
            let c = &centres[(i % 8) * dims..][..dims];
            let mut v: Vec<f32> = c.iter().map(|&x| x + 0.7 * uniform()).collect();
            if i % 17 == 5 {
                v.fill(0.0);
            }
            search::normalize(&mut v);
            scales.push(search::quantize_row(&v, &mut rows[i * stride..][..stride]));
            unit.extend(v);
        }
        let quant = QuantRows {
            dims,
            rows: Rows::from_vec(stride, rows),
            scales: Rows::from_vec(1, scales),
        };
        (unit, quant)
    }

    fn stored(layout: &Layout, quant: &QuantRows) -> Vec<Vec<u8>> {
        (0..layout.lists())
            .map(|l| {
                let ids = layout.list(l);
                let mut out = vec![0u8; list_bytes(ids.len(), quant.dims)];
                write_list(ids, quant, &mut out);
                out
            })
            .collect()
    }

    #[test]
    fn every_nonzero_row_is_in_exactly_one_list_and_zero_rows_in_none() {
        let (_, quant) = quantised(3000, 24, 1);
        let layout = build(&quant, 9, &AtomicBool::new(false), &|_| {}).unwrap();
        assert_eq!(layout.lists(), lists_for(3000 - 3000usize.div_ceil(17)));
        let mut seen: Vec<u32> = layout.ids.clone();
        seen.sort_unstable();
        let want: Vec<u32> = (0..3000u32).filter(|i| i % 17 != 5).collect();
        assert_eq!(seen, want);
        // The same data and seed give the same layout.
        let again = build(&quant, 9, &AtomicBool::new(false), &|_| {}).unwrap();
        assert_eq!(layout, again);
    }

    #[test]
    fn probing_every_list_finds_the_int8_brute_force_ranking() {
        let dims = 40;
        let (_, quant) = quantised(2000, dims, 2);
        let layout = build(&quant, 3, &AtomicBool::new(false), &|_| {}).unwrap();
        let lists = stored(&layout, &quant);
        let stride = search::quant_stride(dims);
        for qi in [0usize, 7, 999, 1500] {
            let mut q: Vec<f32> = Vec::new();
            dequantized(&quant, qi, &mut q);
            search::normalize(&mut q);
            let exclude = [qi as u32, 3];
            let limit = 1800;
            let got = candidates(
                &layout.centroids,
                dims,
                &q,
                layout.lists(),
                25,
                &exclude,
                limit,
                |l| read_list(&lists[l], dims),
            )
            .unwrap();
            let (q16, q_scale) = search::quantize_query(&q, stride);
            let mut top = search::TopK::new(25);
            let mut scores = Vec::new();
            search::int8_scores(
                &quant.rows.chunks[0],
                stride,
                &quant.scales.chunks[0],
                &q16,
                q_scale,
                &mut scores,
            );
            for (id, &s) in scores.iter().enumerate() {
                let id = id as u32;
                if (id as usize) < limit
                    && !exclude.contains(&id)
                    && quant.scales.row(id as usize)[0] != 0.0
                {
                    top.push(s, id);
                }
            }
            let got: Vec<(u32, f32)> = got.iter().map(|c| (c.id, c.score)).collect();
            assert_eq!(got, top.into_sorted(), "query row {qi}");
        }
    }

    #[test]
    fn a_few_probes_find_most_true_neighbours() {
        let dims = 32;
        let (unit, quant) = quantised(4000, dims, 4);
        let layout = build(&quant, 5, &AtomicBool::new(false), &|_| {}).unwrap();
        let lists = stored(&layout, &quant);
        let (mut found, mut total) = (0, 0);
        for qi in (0..4000).step_by(97).filter(|i| i % 17 != 5) {
            let q = &unit[qi * dims..][..dims];
            let mut truth: Vec<(f32, u32)> = (0..4000)
                .filter(|&j| j != qi)
                .map(|j| (search::dot(q, &unit[j * dims..][..dims]), j as u32))
                .collect();
            truth.sort_by(|a, b| b.0.total_cmp(&a.0));
            let got = candidates(&layout.centroids, dims, q, 8, 40, &[qi as u32], 4000, |l| {
                read_list(&lists[l], dims)
            })
            .unwrap();
            let got: Vec<u32> = got.iter().map(|c| c.id).collect();
            found += truth[..10].iter().filter(|t| got.contains(&t.1)).count();
            total += 10;
        }
        // 8 of ~120 lists, over 8 loose clusters: most neighbours share the query's lists.
        assert!(found as f64 / total as f64 > 0.8, "recall {found}/{total}");
    }

    #[test]
    fn every_row_lies_inside_its_cells_cap() {
        let dims = 40;
        let (unit, quant) = quantised(3000, dims, 6);
        let layout = build(&quant, 7, &AtomicBool::new(false), &|_| {}).unwrap();
        let cells = &layout.cells;
        cells.view().check(layout.lists(), dims).unwrap();
        let (mut slack, mut split) = (0f32, 0);
        // slack: the largest gap between a non-empty cell's cap and its nearest-to-rim row.
        for l in 0..layout.lists() {
            let list = layout.list(l);
            let ends = &cells.ends[l * CELLS_PER_LIST..][..CELLS_PER_LIST];
            assert_eq!(ends[CELLS_PER_LIST - 1] as usize, list.len());
            let mut start = 0;
            for (j, &end) in ends.iter().enumerate() {
                let c = l * CELLS_PER_LIST + j;
                let centroid = &cells.centroids[c * dims..][..dims];
                let members = &list[start..end as usize];
                assert!(
                    members.windows(2).all(|w| w[0] < w[1]),
                    "ids ascend in a cell"
                );
                split += usize::from(!members.is_empty() && members.len() < list.len());
                let mut lowest = f32::INFINITY;
                for &id in members {
                    let x = search::dot(&unit[id as usize * dims..][..dims], centroid);
                    assert!(cells.caps[c] <= x, "list {l} cell {j}: cap above a row");
                    lowest = lowest.min(x);
                }
                if !members.is_empty() {
                    slack = slack.max(lowest - cells.caps[c]);
                }
                start = end as usize;
            }
        }
        assert!(split > 0, "lists are split into several cells");
        // The int8 copy's error is all the caps give away (at 40 d, about 0.02).
        assert!(slack < 0.05, "caps loose by {slack}");
        // Finite, and not everything: a cap at -1 would bound nothing.
        assert!(cells.caps.iter().all(|&c| c > -1.0 && c <= 1.0));
    }

    /// Unit vectors at chosen angles: c, a direction u ⊥ c, and the point at angle t from c
    /// towards u.
    fn on_arc(c: &[f32], u: &[f32], t: f64) -> Vec<f32> {
        let mut v: Vec<f32> = c
            .iter()
            .zip(u)
            .map(|(&a, &b)| (t.cos() * a as f64 + t.sin() * b as f64) as f32)
            .collect();
        search::normalize(&mut v);
        v
    }

    #[test]
    fn the_cap_bound_holds_even_where_it_is_tight() {
        let mut rng = SplitMix(11);
        let mut uniform = move || (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        for dims in [8usize, 50, 300] {
            for _ in 0..2000 {
                let mut c: Vec<f32> = (0..dims).map(|_| uniform() as f32 - 0.5).collect();
                search::normalize(&mut c);
                let mut u: Vec<f32> = (0..dims).map(|_| uniform() as f32 - 0.5).collect();
                let along = search::dot(&u, &c);
                u.iter_mut().zip(&c).for_each(|(x, &y)| *x -= along * y);
                search::normalize(&mut u);
                // x on the cap's rim, q on the same great circle: q·x is exactly the bound,
                // or q elsewhere at random.
                let radius = uniform() * std::f64::consts::PI;
                let x = on_arc(&c, &u, radius);
                let q = if uniform() < 0.5 {
                    on_arc(&c, &u, uniform() * std::f64::consts::PI)
                } else {
                    let mut q: Vec<f32> = (0..dims).map(|_| uniform() as f32 - 0.5).collect();
                    search::normalize(&mut q);
                    q
                };
                // The cap as computed, without the builder's slack: the bound's own slack
                // covers the rounding of q·c and of the score.
                let cap = search::dot(&x, &c);
                let bound = cap_bound(search::dot(&q, &c), cap);
                let score = search::dot(&q, &x);
                assert!(
                    score <= bound,
                    "{dims} d: score {score} above bound {bound}"
                );
                // And it is not vacuous where q is far outside the cap.
                if radius < 0.5 && search::dot(&q, &c) < (radius + 1.0).cos() as f32 {
                    assert!(bound < 1.0);
                }
            }
        }
    }

    #[test]
    fn cells_that_do_not_fit_their_lists_are_an_error_not_a_panic() {
        let dims = 24;
        let (unit, quant) = quantised(2000, dims, 8);
        let layout = build(&quant, 5, &AtomicBool::new(false), &|_| {}).unwrap();
        let lists = stored(&layout, &quant);
        let unit = Rows::from_vec(dims, unit);
        let q = unit.row(3).to_vec();
        let query = Query {
            vector: &q,
            k: 10,
            exclude: &[],
            limit: 2000,
        };
        let run = |cells: &Cells| {
            exact_top_k(
                &layout.centroids,
                cells.view(),
                dims,
                &unit,
                &query,
                usize::MAX,
                |l| read_list(&lists[l], dims),
                |what| what,
            )
        };
        assert!(matches!(run(&layout.cells), Ok(ListsExact::Answer(..))));
        let mut short = layout.cells.clone();
        short.caps.pop();
        assert!(run(&short).unwrap_err().contains("caps"));
        let mut disorder = layout.cells.clone();
        disorder.ends.swap(0, 1);
        disorder.ends[1] = 0;
        disorder.ends[0] = 1;
        assert!(run(&disorder).unwrap_err().contains("out of order"));
        // Lists are checked as they are read (only their rows are sliced).
        let mut longer = layout.cells.clone();
        for l in 0..layout.lists() {
            longer.ends[(l + 1) * CELLS_PER_LIST - 1] += 1;
        }
        let err = run(&longer).unwrap_err();
        assert!(err.contains("holds") && err.contains("its cells"), "{err}");
    }

    #[test]
    fn a_cancelled_build_returns_nothing() {
        let (_, quant) = quantised(3000, 24, 1);
        assert!(build(&quant, 9, &AtomicBool::new(true), &|_| {}).is_none());
    }

    #[test]
    fn a_list_of_the_wrong_length_is_an_error() {
        let (_, quant) = quantised(100, 24, 1);
        let mut out = vec![0u8; list_bytes(3, 24)];
        write_list(&[1, 2, 3], &quant, &mut out);
        let view = read_list(&out, 24).unwrap();
        assert_eq!(&*view.ids, &[1, 2, 3]);
        assert!(read_list(&out[..out.len() - 1], 24).is_err());
    }
}
