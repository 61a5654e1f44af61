//! The first open's build path (issue 12): the source is hashed while it is read, the index
//! is written through a growing, preallocated WRITEMAP map, and nothing is read back.
//! Kills and full disks on this path are covered by tests/trust.rs and tests/index.rs.

use std::path::Path;

use vecsh::index::{hash_file, Origin, Store};
use vecsh::loader::{load, LoadOptions};
use vecsh::progress::Silent;
use vecsh::search::{brute_force_top_k, Query};

use crate::util::{opts, write_glove_mod19, write_w2v_bin};

fn content_hash(path: &Path, limit: Option<usize>) -> Option<String> {
    let opts = LoadOptions {
        limit,
        ..Default::default()
    };
    let report = load(path, &opts, &|_, _| {}, &mut |_| Ok(())).unwrap();
    report.content_hash.map(|h| format!("{h:016x}"))
}

#[test]
fn the_loader_hashes_the_whole_file_while_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Larger than the 32 MiB the hasher releases at a time, so several steps are taken.
    let bin = write_w2v_bin(tmp.path(), "v.bin", 30_000, 300);
    let txt = write_glove_mod19(tmp.path(), "v.txt", 5_000, 20);
    for path in [&bin, &txt] {
        let whole = hash_file(path).unwrap();
        assert_eq!(content_hash(path, None).as_deref(), Some(whole.as_str()));
        // A limit stops the parse early; the rest of the file is still hashed.
        assert_eq!(content_hash(path, Some(7)).as_deref(), Some(whole.as_str()));
    }
}

#[test]
fn a_build_over_several_chunks_and_map_growths_verifies_and_answers_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    // 140,000 rows: three vector chunks of 65,536 rows, and the map grows many times.
    let (n, dims) = (140_000, 24);
    let src = write_w2v_bin(tmp.path(), "v.bin", n, dims);
    let cache = tmp.path().join("cache");
    let opts = opts(&cache);
    let (store, origin) = Store::open(&src, &opts, &Silent).unwrap();
    assert_eq!(origin, Origin::Built);
    assert_eq!(store.len(), n);
    // The source fingerprint recorded is the whole file's hash.
    assert_eq!(store.meta().source_hash, hash_file(&src).unwrap());
    // Everything written reads back with the checksums recorded while writing.
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{:?}", report.first_problem());
    // The preallocated tail was cut: the file is what LMDB uses, give or take its last page.
    let data = store.dir().join("data.mdb");
    let size = std::fs::metadata(&data).unwrap().len();
    let payload = (n * (dims * 4 + 32 + 4)) as u64;
    assert!(
        size < payload * 2,
        "data.mdb is {size} bytes for {payload} of rows"
    );
    // Exact answers equal a brute-force scan of the vectors read from the source.
    let mut raw = Vec::new();
    load(&src, &LoadOptions::default(), &|_, _| {}, &mut |b| {
        raw.extend_from_slice(&b.vectors);
        Ok(())
    })
    .unwrap();
    let (unit, _, _) = vecsh::search::unit_and_quant(dims, &raw);
    for id in [0u32, 1, 65_535, 65_536, 139_999] {
        let v = store.vector(id).unwrap().into_owned();
        assert_eq!(&v[..], &unit[id as usize * dims..(id as usize + 1) * dims]);
        let query = Query {
            vector: &v,
            k: 10,
            exclude: &[id],
            limit: n,
        };
        let got = store.exact_top_k(&query).unwrap();
        let want = brute_force_top_k(&store.unit_rows().unwrap(), &query);
        assert_eq!(
            got.iter().map(|h| h.id).collect::<Vec<_>>(),
            want.iter().map(|h| h.id).collect::<Vec<_>>()
        );
    }
    drop(store);
    // Reused without a rebuild; the build's proof stands for a verification.
    let (store, origin) = Store::open(&src, &opts, &Silent).unwrap();
    assert_eq!(origin, Origin::Reused);
    assert_eq!(store.len(), n);
}
