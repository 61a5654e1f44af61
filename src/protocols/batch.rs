//! The batched analogy scorer: every question of a set against every vocabulary row in one
//! pass (queries cut into groups of few distinct words, blocks of rows shared between threads);
//! its SIMD kernels are in `search::kernels`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use super::Method;
use crate::progress::{Progress, Unit};
use crate::search::kernels::{cosines, Combine, Compact, Scan, Top, BLOCK, TILE_W};
use crate::search::{Hit, Rows};

/// One analogy query `a : b :: c : ?` by vocabulary ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalogyQuery {
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

/// What the batch scorer keeps per query.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub method: Method,
    /// Candidates are the rows with id below this.
    pub limit: usize,
    /// Best candidates kept per query (at most `MAX_K`), ids `a`, `b`, `c` never among them.
    pub k: usize,
    /// Only candidates scoring strictly above this (word2vec: 0); `None`: any finite score.
    pub floor: Option<f32>,
}

/// Most candidates the batch scorer keeps per query.
pub use crate::search::kernels::MAX_K;

/// Most distinct words per query group (a multiple of `TILE_W`): a group's cosine block,
/// GROUP_WORDS × BLOCK f32 = 252 KiB, stays in L2 while its questions are scanned.
const GROUP_WORDS: usize = 252;

/// Scores every query against the unit rows `0..limit` in one pass: for each query, the best
/// `k` rows by 3CosAdd or 3CosMul, best first, ties by lower id, never `a`, `b`, `c`, never a
/// zero row. A query with a zero input vector gets no candidates.
///
/// Scores are those of the formula on unit vectors: 3CosAdd reports `x·b̂ − x·â + x·ĉ` (the
/// cosine times ‖b̂ − â + ĉ‖, which ranks the same), 3CosMul the exact gensim objective.
///
/// How: the queries are cut, in order, into groups of at most `GROUP_WORDS` distinct input
/// words. For each block of `BLOCK` rows, each group's cosines with the block are computed (an
/// f32 matrix product with FMA kernels) and every query of the group combines three of them per
/// row, keeping its best candidates. Blocks are shared between threads with rayon.
pub fn batch_analogies(
    rows: &Rows<f32>,
    queries: &[AnalogyQuery],
    opts: &BatchOptions,
    progress: &dyn Progress,
) -> Vec<Vec<Hit>> {
    batch_analogies_until(rows, &[], queries, opts, progress, &AtomicBool::new(false))
        .expect("a flag nobody sets")
}

/// An evaluation stopped before its end because its cancel flag was raised (Ctrl-C in the
/// session). It has no figures: counts of the questions done so far would read as the set's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the evaluation was interrupted")]
pub struct Interrupted;

/// [`batch_analogies`] that stops when `cancel` is raised: every block of rows checks it
/// before its scan, so an interruption costs at most one block per thread. `extra` are unit
/// vectors that are no rows (a model's pooled multi-token words): query id `rows.len + i` is
/// `extra[i]`; they are never candidates.
pub fn batch_analogies_until(
    rows: &Rows<f32>,
    extra: &[Vec<f32>],
    queries: &[AnalogyQuery],
    opts: &BatchOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Vec<Vec<Hit>>, Interrupted> {
    assert!(opts.k <= MAX_K, "at most {MAX_K} candidates per query");
    let limit = opts.limit.min(rows.len);
    let dims = rows.row_len;
    if queries.is_empty() || opts.k == 0 || limit == 0 || dims == 0 {
        return Ok(vec![Vec::new(); queries.len()]);
    }
    let plan = Plan::new(rows, extra, queries);
    let n_blocks = limit.div_ceil(BLOCK);
    let done = AtomicU64::new(0);
    let how = match opts.method {
        Method::Add => Combine::Add,
        Method::Mul => Combine::Mul,
    };
    progress.start("analogies", limit as u64, Unit::Rows);
    let init = opts.floor.unwrap_or(f32::NEG_INFINITY);
    let tops = (0..n_blocks)
        .into_par_iter()
        // Few parts: each starts with empty candidate lists, which costs insertions.
        .with_min_len(n_blocks.div_ceil(2 * rayon::current_num_threads()).max(1))
        .fold(
            || Worker::new(&plan, dims, opts.k, init),
            |mut worker, block| {
                if cancel.load(Ordering::Relaxed) {
                    return worker;
                }
                let start = block * BLOCK;
                let end = (start + BLOCK).min(limit);
                worker.block(rows, start, end, how);
                let total =
                    done.fetch_add((end - start) as u64, Ordering::Relaxed) + (end - start) as u64;
                if block.is_multiple_of(32) {
                    progress.set(total);
                }
                worker
            },
        )
        .map(|w| w.tops)
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.merge(y);
            }
            a
        })
        .unwrap_or_default();
    progress.finish();
    if cancel.load(Ordering::Relaxed) {
        return Err(Interrupted);
    }
    Ok(tops
        .into_iter()
        .zip(&plan.queries)
        .map(|(top, q)| if q.dead { Vec::new() } else { top.hits() })
        .collect())
}

/// The queries, cut into groups of few distinct words.
struct Plan {
    groups: Vec<Group>,
    /// One per query, in order; word indices are local to the query's group.
    queries: Vec<Compact>,
    /// The ids each query may not return.
    excludes: Vec<[u32; 3]>,
}

/// Consecutive queries and their distinct words, packed for the cosine kernel.
struct Group {
    /// Indices into `Plan::queries`.
    queries: std::ops::Range<usize>,
    n_words: usize,
    n_tiles: usize,
    /// Tile-major: [tile][dim][word in tile].
    packed: Vec<f32>,
}

impl Plan {
    fn new(rows: &Rows<f32>, extra: &[Vec<f32>], queries: &[AnalogyQuery]) -> Plan {
        let dims = rows.row_len;
        let vector = |id: u32| match (id as usize).checked_sub(rows.len) {
            Some(i) => extra[i].as_slice(),
            None => rows.row(id as usize),
        };
        let is_zero = |id: u32| vector(id).iter().all(|&x| x == 0.0);
        let mut groups = Vec::new();
        let mut compact = Vec::with_capacity(queries.len());
        let mut slot: HashMap<u32, u16> = HashMap::new();
        let mut words: Vec<u32> = Vec::new();
        let mut first = 0;
        let pack = |words: &[u32], range: std::ops::Range<usize>| {
            let n_tiles = words.len().div_ceil(TILE_W);
            let mut packed = vec![0f32; n_tiles * TILE_W * dims];
            for (w, &id) in words.iter().enumerate() {
                for (k, &x) in vector(id).iter().enumerate() {
                    packed[((w / TILE_W) * dims + k) * TILE_W + w % TILE_W] = x;
                }
            }
            Group {
                queries: range,
                n_words: words.len(),
                n_tiles,
                packed,
            }
        };
        for (i, q) in queries.iter().enumerate() {
            let ids = [q.a, q.b, q.c];
            let new = ids
                .iter()
                .enumerate()
                .filter(|&(n, id)| !slot.contains_key(id) && !ids[..n].contains(id))
                .count();
            if words.len() + new > GROUP_WORDS {
                groups.push(pack(&words, first..i));
                slot.clear();
                words.clear();
                first = i;
            }
            let mut index = |id: u32| {
                *slot.entry(id).or_insert_with(|| {
                    words.push(id);
                    (words.len() - 1) as u16
                })
            };
            let (a, b, c) = (index(q.a), index(q.b), index(q.c));
            compact.push(Compact {
                a,
                b,
                c,
                dead: ids.iter().any(|&id| is_zero(id)),
            });
        }
        groups.push(pack(&words, first..queries.len()));
        let excludes = queries.iter().map(|q| [q.a, q.b, q.c]).collect();
        Plan {
            groups,
            queries: compact,
            excludes,
        }
    }
}

/// One thread's state: its buffers and its best candidates per query.
struct Worker<'p> {
    plan: &'p Plan,
    dims: usize,
    /// Block rows transposed: [dim][row], `BLOCK` rows wide.
    xt: Vec<f32>,
    /// A group's cosines (or halves (1 + cos) / 2 for 3CosMul): [word][row], `BLOCK` wide;
    /// NaN in the columns of rows that may not be candidates (zero rows, padding).
    cos: Vec<f32>,
    tops: Vec<Top>,
    thresholds: Vec<f32>,
    init: f32,
}

impl<'p> Worker<'p> {
    fn new(plan: &'p Plan, dims: usize, k: usize, init: f32) -> Worker<'p> {
        let most_tiles = plan.groups.iter().map(|g| g.n_tiles).max().unwrap_or(0);
        Worker {
            plan,
            dims,
            xt: vec![0f32; dims * BLOCK],
            cos: vec![0f32; most_tiles * TILE_W * BLOCK],
            tops: vec![Top::new(k); plan.queries.len()],
            thresholds: vec![init; plan.queries.len()],
            init,
        }
    }

    fn block(&mut self, rows: &Rows<f32>, start: usize, end: usize, how: Combine) {
        let dims = self.dims;
        let n = end - start;
        let mut dead_cols: Vec<usize> = (n..BLOCK).collect();
        for j in 0..n {
            let row = rows.row(start + j);
            let mut zero = true;
            for (k, &x) in row.iter().enumerate() {
                self.xt[k * BLOCK + j] = x;
                zero &= x == 0.0;
            }
            if zero {
                dead_cols.push(j);
            }
        }
        for k in 0..dims {
            self.xt[k * BLOCK + n..(k + 1) * BLOCK].fill(0.0);
        }
        for group in &self.plan.groups {
            let cos = &mut self.cos[..group.n_tiles * TILE_W * BLOCK];
            cosines(&group.packed, group.n_tiles, dims, &self.xt, cos);
            let cos = &mut cos[..group.n_words * BLOCK];
            if how == Combine::Mul {
                // gensim: (1 + cos) / 2 per term, in f32.
                cos.iter_mut().for_each(|x| *x = (1.0 + *x) / 2.0);
            }
            for &j in &dead_cols {
                for w in 0..group.n_words {
                    cos[w * BLOCK + j] = f32::NAN;
                }
            }
            let range = group.queries.clone();
            let scan = Scan {
                cos,
                queries: &self.plan.queries[range.clone()],
                excludes: &self.plan.excludes[range.clone()],
                tops: &mut self.tops[range.clone()],
                thresholds: &mut self.thresholds[range],
                init: self.init,
                start: start as u32,
                how,
            };
            scan.run();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search;
    use crate::search::kernels::{combine, cosines_portable};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }

    fn unit_rows(n: usize, dims: usize, seed: u64) -> Rows<'static, f32> {
        let mut s = seed;
        let mut raw: Vec<f32> = (0..n * dims).map(|_| lcg(&mut s)).collect();
        raw[7 * dims..8 * dims].fill(0.0);
        let (unit, _, _) = search::unit_and_quant(dims, &raw);
        Rows::<f32>::from_vec(dims, unit)
    }

    /// The plain definition: every row, every query, sorted.
    fn brute(rows: &Rows<f32>, q: &AnalogyQuery, opts: &BatchOptions) -> Vec<Hit> {
        let dims = rows.row_len;
        let dot =
            |x: &[f32], y: &[f32]| x.iter().zip(y).fold(0f32, |acc, (a, b)| a.mul_add(*b, acc));
        let (a, b, c) = (
            rows.row(q.a as usize),
            rows.row(q.b as usize),
            rows.row(q.c as usize),
        );
        let zero = |r: &[f32]| r.iter().all(|&x| x == 0.0);
        if zero(a) || zero(b) || zero(c) {
            return Vec::new();
        }
        let mut hits: Vec<Hit> = (0..opts.limit.min(rows.len))
            .filter(|&id| ![q.a, q.b, q.c].contains(&(id as u32)) && !zero(rows.row(id)))
            .map(|id| {
                let x = rows.row(id);
                let (ca, cb, cc) = (dot(a, x), dot(b, x), dot(c, x));
                let score = match opts.method {
                    Method::Add => combine(ca, cb, cc, Combine::Add),
                    Method::Mul => combine(
                        (1.0 + ca) / 2.0,
                        (1.0 + cb) / 2.0,
                        (1.0 + cc) / 2.0,
                        Combine::Mul,
                    ),
                };
                Hit {
                    id: id as u32,
                    score,
                }
            })
            .filter(|h| opts.floor.is_none_or(|f| h.score > f))
            .collect();
        assert_eq!(dims, rows.row_len);
        search::sort_hits(&mut hits);
        hits.truncate(opts.k);
        hits
    }

    #[test]
    fn batch_equals_brute_force() {
        for (n, dims, seed) in [(1000, 50, 1), (517, 7, 2), (300, 33, 3)] {
            let rows = unit_rows(n, dims, seed);
            let mut s = seed;
            let mut pick = || ((lcg(&mut s) + 0.5) * n as f32) as u32 % n as u32;
            let queries: Vec<AnalogyQuery> = (0..60)
                .map(|_| AnalogyQuery {
                    a: pick(),
                    b: pick(),
                    c: pick(),
                })
                .chain([
                    AnalogyQuery { a: 7, b: 1, c: 2 },
                    AnalogyQuery { a: 3, b: 3, c: 4 },
                ])
                .collect();
            for method in [Method::Add, Method::Mul] {
                for (k, floor, limit) in [(5, None, n), (1, Some(0.0), n - 13), (8, None, 40)] {
                    let opts = BatchOptions {
                        method,
                        limit,
                        k,
                        floor,
                    };
                    let got = batch_analogies(&rows, &queries, &opts, &crate::progress::Silent);
                    for (q, hits) in queries.iter().zip(&got) {
                        assert_eq!(hits, &brute(&rows, q, &opts), "{q:?} {method:?} k={k}");
                    }
                }
            }
        }
    }

    #[test]
    fn kernels_agree_with_the_portable_path() {
        let dims = 50;
        let rows = unit_rows(BLOCK + 40, dims, 9);
        let queries: Vec<AnalogyQuery> = (0..40)
            .map(|i| AnalogyQuery {
                a: i * 3 % 29,
                b: i * 5 % 31,
                c: i % 13,
            })
            .collect();
        let plan = Plan::new(&rows, &[], &queries);
        let group = &plan.groups[0];
        let mut xt = vec![0f32; dims * BLOCK];
        for j in 0..BLOCK {
            for k in 0..dims {
                xt[k * BLOCK + j] = rows.row(j)[k];
            }
        }
        let mut fast = vec![0f32; group.n_tiles * TILE_W * BLOCK];
        let mut slow = fast.clone();
        cosines(&group.packed, group.n_tiles, dims, &xt, &mut fast);
        cosines_portable(&group.packed, group.n_tiles, dims, &xt, &mut slow);
        assert_eq!(fast, slow);
        for how in [Combine::Add, Combine::Mul] {
            let run = |portable: bool| {
                let n = queries.len();
                let mut tops = vec![Top::new(4); n];
                let mut thresholds = vec![f32::NEG_INFINITY; n];
                let scan = Scan {
                    cos: &fast[..group.n_words * BLOCK],
                    queries: &plan.queries,
                    excludes: &plan.excludes,
                    tops: &mut tops,
                    thresholds: &mut thresholds,
                    init: f32::NEG_INFINITY,
                    start: 0,
                    how,
                };
                if portable {
                    scan.run_portable()
                } else {
                    scan.run()
                }
                tops.iter().map(|t| t.hits()).collect::<Vec<_>>()
            };
            assert_eq!(run(false), run(true));
        }
    }

    #[test]
    fn queries_are_cut_into_groups_of_few_words() {
        let rows = unit_rows(2000, 4, 5);
        let queries: Vec<AnalogyQuery> = (0..400)
            .map(|i| AnalogyQuery {
                a: 2 * i,
                b: 2 * i + 1,
                c: 2 * i,
            })
            .collect();
        let plan = Plan::new(&rows, &[], &queries);
        assert!(plan.groups.iter().all(|g| g.n_words <= GROUP_WORDS));
        assert_eq!(plan.groups.iter().map(|g| g.n_words).sum::<usize>(), 800);
        assert_eq!(plan.groups.last().unwrap().queries.end, 400);
        let opts = BatchOptions {
            method: Method::Add,
            limit: 2000,
            k: 3,
            floor: None,
        };
        let got = batch_analogies(&rows, &queries, &opts, &crate::progress::Silent);
        for (q, hits) in queries.iter().zip(&got).step_by(37) {
            assert_eq!(hits, &brute(&rows, q, &opts));
        }
    }
}
