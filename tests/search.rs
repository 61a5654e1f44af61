//! The staged exact search (principal-component stage, then int8, then f32) must return
//! exactly what a brute-force f32 scan returns: the same ids in the same order with the same
//! scores, ties (equal scores, broken by lower id) included, for any data, k, exclusions and
//! restriction.

use std::borrow::Cow;

use proptest::prelude::*;
use vecsh::index::{OpenOptions, Store, Verify};
use vecsh::ivf::{self, ListsExact};
use vecsh::progress::Silent;
use vecsh::search::{
    brute_force_top_k, exact_top_k_seeded, exact_top_k_staged, pc_stage_from_rows, quant_stride,
    unit_and_quant, Hit, QuantRows, Query, Rows,
};

use crate::util::opts;

/// Splits row-major data into chunks of `rpc` rows, as the index stores it.
fn chunked<T: Copy>(row_len: usize, rpc: usize, data: &[T]) -> Rows<'static, T>
where
    [T]: ToOwned<Owned = Vec<T>>,
{
    let len = data.len() / row_len;
    Rows {
        row_len,
        rows_per_chunk: rpc,
        chunks: data
            .chunks(rpc * row_len)
            .map(|c| Cow::Owned(c.to_vec()))
            .collect(),
        len,
    }
}

struct Fixture {
    unit: Rows<'static, f32>,
    quant: QuantRows<'static>,
}

fn fixture(raw: &[f32], dims: usize, rpc: usize) -> Fixture {
    let (unit, q8, scales) = unit_and_quant(dims, raw);
    Fixture {
        unit: chunked(dims, rpc, &unit),
        quant: QuantRows {
            dims,
            rows: chunked(quant_stride(dims), rpc, &q8),
            scales: chunked(1, rpc, &scales),
        },
    }
}

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
}

/// Clustered rows (a few centres plus noise), some exact duplicates (ties) and zero rows.
fn clustered(n: usize, dims: usize, centres: usize, noise: f32, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let cs: Vec<Vec<f32>> = (0..centres)
        .map(|_| (0..dims).map(|_| lcg(&mut s)).collect())
        .collect();
    let mut raw = Vec::with_capacity(n * dims);
    for i in 0..n {
        if i % 11 == 5 && i > 20 {
            // An exact copy of an earlier row: equal scores, so order is by id.
            let from = (i * 7) % i;
            raw.extend_from_within(from * dims..(from + 1) * dims);
        } else if i % 97 == 3 {
            raw.extend(std::iter::repeat_n(0.0, dims));
        } else {
            let c = &cs[((lcg(&mut s) + 0.5) * (centres - 1) as f32) as usize];
            raw.extend(c.iter().map(|&x| x + noise * lcg(&mut s)));
        }
    }
    raw
}

/// A proptest case's query vector (a random one, or a row of the fixture) and exclusions.
fn query_for(f: &Fixture, seed: u64, random_query: bool, n_exclude: usize) -> (Vec<f32>, Vec<u32>) {
    let (n, dims) = (f.unit.len, f.quant.dims);
    let mut s = seed ^ 0x9e37;
    let q: Vec<f32> = if random_query {
        (0..dims).map(|_| lcg(&mut s)).collect()
    } else {
        f.unit.row(seed as usize % n).to_vec()
    };
    let exclude = (0..n_exclude)
        .map(|i| ((seed as usize >> 8) + i * 31) as u32 % n as u32)
        .collect();
    (q, exclude)
}

fn same(fast: &[Hit], slow: &[Hit], what: &str) {
    let ids = |h: &[Hit]| h.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>();
    assert_eq!(ids(fast), ids(slow), "{what}");
}

#[test]
fn staged_equals_brute_force_at_300_dims() {
    let (n, dims) = (6000, 300);
    let f = fixture(&clustered(n, dims, 40, 0.6, 7), dims, 1000);
    let stage = pc_stage_from_rows(&f.unit, 112).expect("basis");
    let mut passed = 0;
    for t in 0..30usize {
        let id = (t * 197) % n;
        let q = f.unit.row(id).to_vec();
        let exclude = [id as u32];
        let query = Query {
            vector: &q,
            k: 10,
            exclude: &exclude,
            limit: n - t * 3,
        };
        let (fast, counts) = exact_top_k_staged(&f.unit, &f.quant, Some(&stage), &query);
        same(
            &fast,
            &brute_force_top_k(&f.unit, &query),
            &format!("t={t}"),
        );
        passed += counts.pc_passed;
    }
    // The stage is only worth having if it prunes: on clustered data most rows stop there.
    assert!(passed < 30 * n / 4, "{passed} rows passed of {}", 30 * n);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn staged_equals_brute_force(
        seed in any::<u64>(),
        n in 1usize..1500,
        dims_p in prop::sample::select(vec![(20usize, 16usize), (48, 16), (64, 32), (130, 48)]),
        centres in 1usize..30,
        noise in 0.0f32..3.0,
        k in 0usize..40,
        restrict in 0usize..1600,
        rpc in prop::sample::select(vec![64usize, 500, 4096]),
        random_query in any::<bool>(),
        n_exclude in 0usize..4,
        seeds in prop::collection::vec(0u32..2000, 0..30),
    ) {
        let (dims, p) = dims_p;
        let f = fixture(&clustered(n, dims, centres, noise, seed), dims, rpc);
        let Some(stage) = pc_stage_from_rows(&f.unit, p) else {
            return Ok(()); // a degenerate sample can leave no orthonormal basis; no stage then
        };
        let (q, exclude) = query_for(&f, seed, random_query, n_exclude);
        let query = Query { vector: &q, k, exclude: &exclude, limit: restrict };
        let (fast, _) = exact_top_k_staged(&f.unit, &f.quant, Some(&stage), &query);
        let slow = brute_force_top_k(&f.unit, &query);
        let ids = |h: &[Hit]| h.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>();
        prop_assert_eq!(ids(&fast), ids(&slow));
        // Seeds never change the answer: any ids (beyond the rows or the restriction,
        // excluded, repeated, zero rows) and the answer itself.
        let mut any_seeds = seeds.clone();
        any_seeds.extend(&exclude);
        any_seeds.extend(seeds.iter().take(3));
        let (seeded, _) = exact_top_k_seeded(&f.unit, &f.quant, Some(&stage), &query, &any_seeds);
        prop_assert_eq!(ids(&seeded), ids(&slow));
        let answer: Vec<u32> = slow.iter().map(|h| h.id).collect();
        let (seeded, _) = exact_top_k_seeded(&f.unit, &f.quant, Some(&stage), &query, &answer);
        prop_assert_eq!(ids(&seeded), ids(&slow));
    }
}

/// Lists over a fixture's int8 copy, stored as the index stores them.
fn lists_of(f: &Fixture, seed: u64) -> (ivf::Layout, Vec<Vec<u8>>) {
    let never = std::sync::atomic::AtomicBool::new(false);
    let layout = ivf::build(&f.quant, seed, &never, &|_| {}).unwrap();
    let stored = (0..layout.lists())
        .map(|l| {
            let ids = layout.list(l);
            let mut out = vec![0u8; ivf::list_bytes(ids.len(), f.quant.dims)];
            ivf::write_list(ids, &f.quant, &mut out);
            out
        })
        .collect();
    (layout, stored)
}

/// The exact search through the lists' cells, stopping where more than `budget` rows are left.
fn through_lists(
    f: &Fixture,
    layout: &ivf::Layout,
    stored: &[Vec<u8>],
    query: &Query,
    budget: usize,
) -> ListsExact {
    let dims = f.quant.dims;
    ivf::exact_top_k(
        &layout.centroids,
        layout.cells.view(),
        dims,
        &f.unit,
        query,
        budget,
        |l| ivf::read_list(&stored[l], dims),
        |what| what,
    )
    .unwrap()
}

#[test]
fn through_the_lists_cells_equals_brute_force_at_300_dims_and_reads_few_cells() {
    let (n, dims) = (20_000, 300);
    // The clustered benchmark's shape (centres and noise of examples/synth.rs) at 20k rows.
    let f = fixture(&clustered(n, dims, 200, 0.6, 5), dims, 4096);
    let (layout, stored) = lists_of(&f, 3);
    let mut read = 0;
    for t in 0..40usize {
        let id = (t * 491) % n;
        let q = f.unit.row(id).to_vec();
        let exclude = [id as u32, (id as u32 + 1) % n as u32];
        let query = Query {
            vector: &q,
            k: 10,
            exclude: &exclude,
            limit: n - t * 7,
        };
        let ListsExact::Answer(hits, counts) =
            through_lists(&f, &layout, &stored, &query, usize::MAX)
        else {
            panic!("an unlimited budget always answers");
        };
        same(
            &hits,
            &brute_force_top_k(&f.unit, &query),
            &format!("t={t}"),
        );
        read += counts.cells_read;
    }
    // 283 lists over 200 clusters: beyond the 8 lists read first, a query reads its own
    // cluster's few cells, not all.
    let cells = layout.lists() * ivf::CELLS_PER_LIST;
    assert!(
        read < 40 * cells / 10,
        "{read} cells read in 40 queries of {cells}"
    );
}

/// A list whose bound only just reaches the floor must still be read: eight decoy lists
/// nearest the query (centroid = query, no cap) hold rows scoring 0.5; a ninth list, farther
/// off, holds the answer (0.51) on the rim of its cap, with the query on the same great
/// circle, so its bound exceeds 0.51 by the slack alone.
#[test]
fn a_list_whose_bound_just_reaches_the_floor_is_read() {
    let dims = 3;
    let deg = |d: f64| d.to_radians();
    let (q, y) = ([1.0f32, 0.0, 0.0], [0.5f32, 0.0, 0.75f32.sqrt()]);
    let answer_angle = 0.51f64.acos();
    let x2 = [answer_angle.cos() as f32, answer_angle.sin() as f32, 0.0];
    let c2 = [deg(70.0).cos() as f32, deg(70.0).sin() as f32, 0.0];
    let mut raw: Vec<f32> = (0..8).flat_map(|_| y).collect();
    raw.extend(x2);
    let f = fixture(&raw, dims, 64);
    let x2_unit = f.unit.row(8);
    let mut centroids: Vec<f32> = (0..8).flat_map(|_| q).collect();
    centroids.extend(c2);
    // One row a list, in its first cell (the others empty).
    let per = ivf::CELLS_PER_LIST;
    let mut cells = ivf::Cells::default();
    for (l, centroid) in centroids.chunks(dims).enumerate() {
        cells.centroids.extend(centroid);
        cells.centroids.extend(vec![0.0; (per - 1) * dims]);
        cells.caps.push(match l {
            8 => vecsh::search::dot(x2_unit, &c2),
            _ => -1.0,
        });
        cells.caps.extend(vec![1.0; per - 1]);
        cells.ends.extend(vec![1; per]);
    }
    let layout = ivf::Layout {
        dims,
        centroids,
        cells,
        offsets: (0..=9).collect(),
        ids: (0..9).collect(),
    };
    let stored: Vec<Vec<u8>> = (0..9)
        .map(|l| {
            let mut out = vec![0u8; ivf::list_bytes(1, dims)];
            ivf::write_list(layout.list(l), &f.quant, &mut out);
            out
        })
        .collect();
    let query = Query {
        vector: &q,
        k: 1,
        exclude: &[],
        limit: 9,
    };
    let ListsExact::Answer(hits, counts) = through_lists(&f, &layout, &stored, &query, usize::MAX)
    else {
        panic!("an unlimited budget always answers");
    };
    assert_eq!(
        counts.cells_read,
        8 * ivf::CELLS_PER_LIST + 1,
        "the ninth list's cell read"
    );
    same(&hits, &brute_force_top_k(&f.unit, &query), "the rim's row");
    assert_eq!(hits[0].id, 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn through_the_lists_cells_equals_brute_force(
        seed in any::<u64>(),
        n in 1usize..1500,
        dims in prop::sample::select(vec![8usize, 20, 64, 130]),
        centres in 1usize..30,
        noise in 0.0f32..3.0,
        k in 0usize..40,
        restrict in 0usize..1600,
        rpc in prop::sample::select(vec![64usize, 500, 4096]),
        random_query in any::<bool>(),
        n_exclude in 0usize..4,
        budget in prop::sample::select(vec![0usize, 100, usize::MAX]),
    ) {
        let f = fixture(&clustered(n, dims, centres, noise, seed), dims, rpc);
        let (layout, stored) = lists_of(&f, seed ^ 0x51);
        let (q, exclude) = query_for(&f, seed, random_query, n_exclude);
        let query = Query { vector: &q, k, exclude: &exclude, limit: restrict };
        let slow = brute_force_top_k(&f.unit, &query);
        let ids = |h: &[Hit]| h.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>();
        match through_lists(&f, &layout, &stored, &query, budget) {
            ListsExact::Answer(fast, _) => prop_assert_eq!(ids(&fast), ids(&slow)),
            ListsExact::TooWide { seeds } => {
                prop_assert!(budget < usize::MAX, "an unlimited budget always answers");
                // What the lists found so far seeds the full scan, which stays exact.
                prop_assert!(seeds.iter().all(|&id| (id as usize) < restrict.min(n) && !exclude.contains(&id)));
                let (seeded, _) = exact_top_k_seeded(&f.unit, &f.quant, None, &query, &seeds);
                prop_assert_eq!(ids(&seeded), ids(&slow));
            }
        }
    }
}

fn write_text(path: &std::path::Path, raw: &[f32], dims: usize) {
    let mut text = String::new();
    for (i, row) in raw.chunks(dims).enumerate() {
        text.push_str(&format!("w{i}"));
        for x in row {
            text.push_str(&format!(" {x}"));
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// With its lists built, the index answers exact queries through the lists' cells where
/// they leave few rows to read, and the answers are a brute-force scan's, bit for bit.
#[test]
fn the_index_answers_exactly_through_the_lists_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, dims) = (6000, 64);
    let raw = clustered(n, dims, 300, 0.2, 17);
    let src = tmp.path().join("v.txt");
    write_text(&src, &raw, dims);
    let opts = OpenOptions {
        verify: Verify::Full,
        writable: true,
        ..opts(&tmp.path().join("cache"))
    };
    let (store, _) = Store::open(&src, &opts, &Silent).unwrap();
    let never = std::sync::atomic::AtomicBool::new(false);
    store.build_lists(&Silent, &never).unwrap();
    assert!(store.verify().unwrap().is_intact());
    let unit = store.unit_rows().unwrap();
    let mut through_cells = 0;
    for id in (0..n as u32).step_by(97) {
        let q = store.vector(id).unwrap().to_vec();
        for limit in [n, n / 2] {
            let query = Query {
                vector: &q,
                k: 10,
                exclude: &[id],
                limit,
            };
            let (hits, counts) = store.exact_top_k_counted(&query).unwrap();
            same(
                &hits,
                &brute_force_top_k(&unit, &query),
                &format!("id {id}"),
            );
            through_cells += usize::from(counts.cells_read > 0);
        }
    }
    assert!(through_cells > 0, "no query went through the cells");
}

/// The index builds the stage (here on a small file: `OpenOptions::pc_min_rows`), checksums
/// it, and answers through it exactly as a brute-force scan does.
#[test]
fn the_index_stores_the_stage_and_answers_exactly_through_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, dims) = (4000, 128);
    // 200 centres: 20 rows each, so a top 10 lies within its cluster (prunable).
    let raw = clustered(n, dims, 200, 0.2, 11);
    let src = tmp.path().join("v.txt");
    write_text(&src, &raw, dims);
    let first_open = OpenOptions {
        cache_dir: Some(tmp.path().join("cache")),
        verify: Verify::Full,
        pc_min_rows: Some(2000),
        ..Default::default()
    };
    // A first open answers sooner without the stage; `vecsh build` (exact_stage) adds it,
    // rebuilding once, and later opens of either kind reuse that index.
    let (store, _) = Store::open(&src, &first_open, &Silent).unwrap();
    assert!(store.pc_stage().is_none(), "a first open builds no stage");
    drop(store);
    let opts = OpenOptions {
        exact_stage: true,
        ..first_open.clone()
    };
    let (store, origin) = Store::open(&src, &opts, &Silent).unwrap();
    assert!(matches!(origin, vecsh::index::Origin::Built), "{origin:?}");
    drop(store);
    let (store, origin) = Store::open(&src, &first_open, &Silent).unwrap();
    assert!(matches!(origin, vecsh::index::Origin::Reused), "{origin:?}");
    let stage = store
        .pc_stage()
        .expect("a stage for 4,000 clustered rows of 128 d");
    assert_eq!(
        stage.p, 48,
        "the fewer components suffice on clustered rows"
    );
    assert!(store.verify().unwrap().is_intact());
    let unit = store.unit_rows().unwrap();
    let mut pruned = 0;
    for id in (0..n as u32).step_by(157) {
        let q = store.vector(id).unwrap().to_vec();
        let query = Query {
            vector: &q,
            k: 10,
            exclude: &[id],
            limit: n,
        };
        let (hits, counts) = store.exact_top_k_counted(&query).unwrap();
        same(
            &hits,
            &brute_force_top_k(&unit, &query),
            &format!("id {id}"),
        );
        pruned += counts.scanned - counts.pc_passed;
    }
    assert!(pruned > 0, "the stage was used and pruned rows");
    drop(store);
    // Reopened with a full verification, the stage's tables are checked too.
    let (store, _) = Store::open(&src, &opts, &Silent).unwrap();
    assert!(store.verified_now() && store.pc_stage().is_some());
}
