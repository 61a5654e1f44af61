//! Exact k nearest neighbours of many query rows at once, among a chosen set of rows (`:changed`'s
//! scans): queries packed in groups, each block of candidate rows read once for every group
//! (a blocked matrix product with the evaluation's FMA kernel), blocks shared between threads.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::kernels::{cosines, BLOCK, TILE_W};
use super::Rows;

/// Most neighbours asked per query.
pub const MAX_NEIGHBOURS: usize = 1000;

/// Query rows per group (a multiple of `TILE_W`): a group's cosines with a block,
/// GROUP × BLOCK f32 = 252 KiB, stay in L2 while its queries are scanned.
const GROUP: usize = 252;

/// Candidates compared with the threshold at once (before any is looked at alone).
const STEP: usize = 16;

/// Most (query, neighbour) entries one pass holds per thread: more queries than this / k are
/// answered in several passes, so that memory stays bounded (16 MiB a thread) whatever N and k.
const PASS_ENTRIES: usize = 1 << 21;

/// A scan stopped because its cancel flag was raised (Ctrl-C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// For each query (an index into `ids`), the `k` candidates of `ids` whose unit rows have the
/// largest dot product with the query's (cosines: the rows are unit or zero), the query itself
/// left out; best first, ties by lower index. Returned as (index into `ids`, cosine). The
/// cosines are f32 sums in dimension order with fused multiply-adds, whatever the path.
///
/// Every block of candidates checks `cancel` before its scan, so an interruption costs at most
/// a block per thread.
pub fn nearest_many(
    rows: &Rows<f32>,
    ids: &[u32],
    queries: &[u32],
    k: usize,
    cancel: &AtomicBool,
) -> Result<Vec<Vec<(u32, f32)>>, Interrupted> {
    nearest_in_passes(rows, ids, queries, k, cancel, PASS_ENTRIES)
}

/// [`nearest_many`], the queries answered `entries / k` at a time.
fn nearest_in_passes(
    rows: &Rows<f32>,
    ids: &[u32],
    queries: &[u32],
    k: usize,
    cancel: &AtomicBool,
    entries: usize,
) -> Result<Vec<Vec<(u32, f32)>>, Interrupted> {
    let per_pass = (entries / k.max(1)).max(1);
    let mut out = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(per_pass) {
        out.extend(one_pass(rows, ids, chunk, k, cancel)?);
    }
    Ok(out)
}

/// One pass over the candidates for every query of `queries`.
fn one_pass(
    rows: &Rows<f32>,
    ids: &[u32],
    queries: &[u32],
    k: usize,
    cancel: &AtomicBool,
) -> Result<Vec<Vec<(u32, f32)>>, Interrupted> {
    assert!(k <= MAX_NEIGHBOURS, "at most {MAX_NEIGHBOURS} neighbours");
    let dims = rows.row_len;
    if queries.is_empty() || k == 0 || ids.is_empty() || dims == 0 {
        return Ok(vec![Vec::new(); queries.len()]);
    }
    let groups: Vec<Group> = queries
        .chunks(GROUP)
        .enumerate()
        .map(|(g, chunk)| Group::new(rows, ids, chunk, g * GROUP, dims))
        .collect();
    let n_blocks = ids.len().div_ceil(BLOCK);
    let tops = (0..n_blocks)
        .into_par_iter()
        .with_min_len(n_blocks.div_ceil(2 * rayon::current_num_threads()).max(1))
        .fold(
            || Worker::new(queries.len(), k, dims),
            |mut worker, block| {
                if !cancel.load(Ordering::Relaxed) {
                    worker.block(rows, ids, queries, &groups, block);
                }
                worker
            },
        )
        .map(|w| w.tops)
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                for (i, s) in y.items {
                    x.insert(s, i);
                }
            }
            a
        })
        .unwrap_or_default();
    if cancel.load(Ordering::Relaxed) {
        return Err(Interrupted);
    }
    Ok(tops.into_iter().map(|t| t.items).collect())
}

/// Consecutive queries, their rows packed tile-major for the cosine kernel.
struct Group {
    /// Index of its first query in the query list.
    first: usize,
    n: usize,
    n_tiles: usize,
    /// [tile][dim][query in tile].
    packed: Vec<f32>,
}

impl Group {
    fn new(rows: &Rows<f32>, ids: &[u32], queries: &[u32], first: usize, dims: usize) -> Group {
        let n_tiles = queries.len().div_ceil(TILE_W);
        let mut packed = vec![0f32; n_tiles * TILE_W * dims];
        for (w, &q) in queries.iter().enumerate() {
            for (d, &x) in rows.row(ids[q as usize] as usize).iter().enumerate() {
                packed[((w / TILE_W) * dims + d) * TILE_W + w % TILE_W] = x;
            }
        }
        Group {
            first,
            n: queries.len(),
            n_tiles,
            packed,
        }
    }
}

/// The best `k` (cosine, index) of one query, best first, ties by lower index.
#[derive(Debug, Clone)]
struct Best {
    k: usize,
    items: Vec<(u32, f32)>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best {
            k,
            items: Vec::with_capacity(k),
        }
    }

    /// The score a candidate must reach (equal scores may still rank by index).
    fn threshold(&self) -> f32 {
        if self.items.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.items[self.k - 1].1
        }
    }

    fn insert(&mut self, score: f32, index: u32) {
        let before = |&(i, s): &(u32, f32)| s > score || (s == score && i < index);
        let at = self.items.partition_point(before);
        if at >= self.k {
            return;
        }
        if self.items.len() == self.k {
            self.items.pop();
        }
        self.items.insert(at, (index, score));
    }
}

/// One thread's buffers and its best candidates for every query.
struct Worker {
    dims: usize,
    /// A block's rows transposed: [dim][row], `BLOCK` wide.
    xt: Vec<f32>,
    /// A group's cosines with the block: [query][row], `BLOCK` wide.
    cos: Vec<f32>,
    tops: Vec<Best>,
}

impl Worker {
    fn new(n: usize, k: usize, dims: usize) -> Worker {
        Worker {
            dims,
            xt: vec![0f32; dims * BLOCK],
            cos: vec![0f32; GROUP.div_ceil(TILE_W) * TILE_W * BLOCK],
            tops: vec![Best::new(k); n],
        }
    }

    fn block(
        &mut self,
        rows: &Rows<f32>,
        ids: &[u32],
        queries: &[u32],
        groups: &[Group],
        b: usize,
    ) {
        let dims = self.dims;
        let start = b * BLOCK;
        let end = (start + BLOCK).min(ids.len());
        let n = end - start;
        for (j, &id) in ids[start..end].iter().enumerate() {
            for (d, &x) in rows.row(id as usize).iter().enumerate() {
                self.xt[d * BLOCK + j] = x;
            }
        }
        for d in 0..dims {
            self.xt[d * BLOCK + n..(d + 1) * BLOCK].fill(0.0);
        }
        for group in groups {
            let cos = &mut self.cos[..group.n_tiles * TILE_W * BLOCK];
            cosines(&group.packed, group.n_tiles, dims, &self.xt, cos);
            for w in 0..group.n {
                let q = group.first + w;
                let row = &mut cos[w * BLOCK..(w + 1) * BLOCK];
                // Padding columns and the query itself are never candidates (NaN fails every
                // comparison).
                row[n..].fill(f32::NAN);
                let own = queries[q] as usize;
                if (start..end).contains(&own) {
                    row[own - start] = f32::NAN;
                }
                let top = &mut self.tops[q];
                let mut thr = top.threshold();
                for (c, chunk) in row.chunks_exact(STEP).enumerate() {
                    // Branch-free, so that it vectorises: does any reach the threshold?
                    if !chunk.iter().fold(false, |any, &x| any | (x >= thr)) {
                        continue;
                    }
                    for (l, &x) in chunk.iter().enumerate() {
                        if x >= thr {
                            top.insert(x, (start + c * STEP + l) as u32);
                            thr = top.threshold();
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, dims: usize, seed: u64) -> Rows<'static, f32> {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut data: Vec<f32> = (0..n * dims).map(|_| next()).collect();
        for r in data.chunks_mut(dims) {
            let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            r.iter_mut().for_each(|x| *x /= norm);
        }
        // Two identical rows: a tie, broken by the lower index.
        let copy = data[dims..2 * dims].to_vec();
        data[5 * dims..6 * dims].copy_from_slice(&copy);
        Rows::<f32>::from_vec(dims, data)
    }

    /// The definition: every candidate scored alone, sorted.
    fn brute(rows: &Rows<f32>, ids: &[u32], q: u32, k: usize) -> Vec<(u32, f32)> {
        let x = rows.row(ids[q as usize] as usize);
        let mut all: Vec<(u32, f32)> = (0..ids.len() as u32)
            .filter(|&i| i != q)
            .map(|i| {
                let y = rows.row(ids[i as usize] as usize);
                (i, x.iter().zip(y).fold(0f32, |a, (p, q)| p.mul_add(*q, a)))
            })
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    #[test]
    fn many_queries_equal_one_at_a_time() {
        for (n, dims, k) in [(1500, 50, 25), (700, 7, 3), (40, 12, 39), (300, 33, 50)] {
            let rows = rows(n, dims, n as u64);
            // Candidates: every third row dropped, the rest in another order.
            let mut ids: Vec<u32> = (0..n as u32).filter(|i| i % 3 != 2).collect();
            ids.reverse();
            let queries: Vec<u32> = (0..ids.len().min(600) as u32).collect();
            let got = nearest_many(&rows, &ids, &queries, k, &AtomicBool::new(false)).unwrap();
            for (&q, hits) in queries.iter().zip(&got) {
                assert_eq!(hits, &brute(&rows, &ids, q, k), "n={n} q={q}");
            }
        }
    }

    #[test]
    fn queries_in_several_passes_get_the_same_answers() {
        let rows = rows(900, 20, 11);
        let ids: Vec<u32> = (0..900).collect();
        let queries: Vec<u32> = (0..300).rev().collect();
        let flag = AtomicBool::new(false);
        let one = nearest_many(&rows, &ids, &queries, 9, &flag).unwrap();
        // 7 queries a pass (63 entries / k = 9).
        let many = nearest_in_passes(&rows, &ids, &queries, 9, &flag, 63).unwrap();
        assert_eq!(one, many);
        for (&q, hits) in queries.iter().zip(&many).step_by(17) {
            assert_eq!(hits, &brute(&rows, &ids, q, 9));
        }
    }

    #[test]
    fn a_raised_flag_stops_the_scan() {
        let rows = rows(2000, 16, 3);
        let ids: Vec<u32> = (0..2000).collect();
        let got = nearest_many(&rows, &ids, &[0, 1, 2], 5, &AtomicBool::new(true));
        assert_eq!(got, Err(Interrupted));
    }
}
