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
//! Pure computation: no I/O, no printing. The store (`index`) persists the lists and hands a
//! search the lists it asks for.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::search::{self, QuantRows};

/// Centroids and, for every list, which rows it holds (row ids, ascending within a list).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub dims: usize,
    /// `lists` unit centroids, row-major.
    pub centroids: Vec<f32>,
    /// List l holds `ids[offsets[l]..offsets[l + 1]]`.
    pub offsets: Vec<u32>,
    pub ids: Vec<u32>,
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
/// product (ties: the lower index).
fn nearest(block: &[f32], dims: usize, centroids: &[f32]) -> Vec<u32> {
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
    best.into_iter().map(|(_, c)| c).collect()
}

/// Spherical k-means on `sample` (unit rows): `lists` unit centroids.
fn train(sample: &[f32], dims: usize, lists: usize, rng: &mut SplitMix) -> Vec<f32> {
    let n = sample.len() / dims;
    let mut centroids: Vec<f32> = (0..lists)
        .flat_map(|_| sample[rng.below(n) * dims..][..dims].to_vec())
        .collect();
    for _ in 0..TRAIN_ITERATIONS {
        let assigned: Vec<u32> = sample
            .par_chunks(ASSIGN_BLOCK * dims)
            .flat_map_iter(|block| nearest(block, dims, &centroids))
            .collect();
        let mut sums = vec![0f64; lists * dims];
        let mut counts = vec![0usize; lists];
        for (row, &c) in sample.chunks_exact(dims).zip(&assigned) {
            counts[c as usize] += 1;
            for (s, &x) in sums[c as usize * dims..][..dims].iter_mut().zip(row) {
                *s += x as f64;
            }
        }
        for c in 0..lists {
            let out = &mut centroids[c * dims..][..dims];
            if counts[c] == 0 {
                // An empty list takes a random sample row: every centroid keeps a place.
                out.copy_from_slice(&sample[rng.below(n) * dims..][..dims]);
                continue;
            }
            for (o, &s) in out.iter_mut().zip(&sums[c * dims..][..dims]) {
                *o = s as f32;
            }
            search::normalize(out);
        }
    }
    centroids
}

/// Trains the centroids on a seeded sample of the non-zero rows of the int8 copy and assigns
/// every non-zero row to its nearest centroid (zero rows are in no list: search never returns
/// them). `on_rows(n)` is told of every `n` rows assigned, for progress; `None` once
/// `cancel` is set.
pub fn build(
    quant: &QuantRows,
    seed: u64,
    cancel: &AtomicBool,
    on_rows: &(dyn Fn(usize) + Sync),
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
    let mut sample = Vec::with_capacity(train_n * dims);
    for &id in &pick[..train_n] {
        dequantized(quant, id as usize, &mut sample);
    }
    drop(pick);
    let centroids = train(&sample, dims, lists, &mut rng);
    drop(sample);
    if cancel.load(Ordering::Relaxed) {
        return None;
    }
    let assigned: Vec<u32> = ids
        .par_chunks(ASSIGN_BLOCK)
        .flat_map_iter(|block| {
            if cancel.load(Ordering::Relaxed) {
                return Vec::new();
            }
            let mut rows = Vec::with_capacity(block.len() * dims);
            for &id in block {
                dequantized(quant, id as usize, &mut rows);
            }
            on_rows(block.len());
            nearest(&rows, dims, &centroids)
        })
        .collect();
    if cancel.load(Ordering::Relaxed) || assigned.len() != ids.len() {
        return None;
    }
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
    Some(Layout {
        dims,
        centroids,
        offsets,
        ids: list_ids,
    })
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
    // LMDB places large values 16 bytes into a page, so these borrow in practice; the copy
    // only guards against a layout we did not foresee.
    fn words<T: bytemuck::Pod>(bytes: &[u8]) -> Cow<'_, [T]> {
        match bytemuck::try_cast_slice(bytes) {
            Ok(v) => Cow::Borrowed(v),
            Err(_) => Cow::Owned(bytemuck::pod_collect_to_vec(bytes)),
        }
    }
    Ok(ListView {
        ids: words(ids),
        scales: words(scales),
        rows: bytemuck::cast_slice(rows),
    })
}

/// The `want` best rows by int8 score among the `probes` lists whose centroids are nearest to
/// the unit query `q`, best first (ties: lower id), leaving out `exclude` and ids ≥ `limit`.
/// `list(l)` hands over list `l`. Scores are approximate (int8); the caller rescores in f32.
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
) -> Result<Vec<(u32, f32)>, E> {
    let mut near: Vec<(f32, usize)> = centroids
        .chunks_exact(dims)
        .enumerate()
        .map(|(l, c)| (search::dot(c, q), l))
        .collect();
    if near.is_empty() || want == 0 || probes == 0 {
        return Ok(Vec::new());
    }
    let probes = probes.min(near.len());
    near.select_nth_unstable_by(probes - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    near.truncate(probes);
    let stride = search::quant_stride(dims);
    let (q16, q_scale) = search::quantize_query(q, stride);
    let mut top = search::TopK::new(want);
    let mut scores = Vec::new();
    for &(_, l) in &near {
        let view = list(l)?;
        search::int8_scores(view.rows, stride, &view.scales, &q16, q_scale, &mut scores);
        for (&id, &s) in view.ids.iter().zip(&scores) {
            if (id as usize) < limit && !exclude.contains(&id) {
                top.push(s, id);
            }
        }
    }
    Ok(top.into_sorted())
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
        for l in 0..layout.lists() {
            assert!(layout.list(l).windows(2).all(|w| w[0] < w[1]));
        }
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
            let got: Vec<u32> = got.iter().map(|c| c.0).collect();
            found += truth[..10].iter().filter(|t| got.contains(&t.1)).count();
            total += 10;
        }
        // 8 of ~120 lists, over 8 loose clusters: most neighbours share the query's lists.
        assert!(found as f64 / total as f64 > 0.8, "recall {found}/{total}");
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
