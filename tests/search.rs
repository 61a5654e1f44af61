//! The staged exact search (principal-component stage, then int8, then f32) must return
//! exactly what a brute-force f32 scan returns: the same ids in the same order with the same
//! scores, ties (equal scores, broken by lower id) included, for any data, k, exclusions and
//! restriction.

use std::borrow::Cow;

use proptest::prelude::*;
use vecsh::index::{OpenOptions, Store, Verify};
use vecsh::progress::Silent;
use vecsh::search::{
    brute_force_top_k, exact_top_k_seeded, exact_top_k_staged, pc_stage_from_rows, quant_stride,
    unit_and_quant, Hit, QuantRows, Query, Rows,
};

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
        let mut s = seed ^ 0x9e37;
        let q: Vec<f32> = if random_query {
            (0..dims).map(|_| lcg(&mut s)).collect()
        } else {
            f.unit.row(seed as usize % n).to_vec()
        };
        let exclude: Vec<u32> = (0..n_exclude).map(|i| ((seed as usize >> 8) + i * 31) as u32 % n as u32).collect();
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

/// The index builds the stage (here on a small file: `VECSH_PC_MIN_ROWS`), checksums it, and
/// answers through it exactly as a brute-force scan does.
#[test]
fn the_index_stores_the_stage_and_answers_exactly_through_it() {
    std::env::set_var("VECSH_PC_MIN_ROWS", "2000");
    let tmp = tempfile::tempdir().unwrap();
    let (n, dims) = (4000, 128);
    // 200 centres: 20 rows each, so a top 10 lies within its cluster (prunable).
    let raw = clustered(n, dims, 200, 0.2, 11);
    let mut text = String::new();
    for (i, row) in raw.chunks(dims).enumerate() {
        text.push_str(&format!("w{i}"));
        for x in row {
            text.push_str(&format!(" {x}"));
        }
        text.push('\n');
    }
    let src = tmp.path().join("v.txt");
    std::fs::write(&src, text).unwrap();
    let first_open = OpenOptions {
        cache_dir: Some(tmp.path().join("cache")),
        verify: Verify::Full,
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
