//! Runs vecsh's structural check of an LMDB file (src/index/lmdb_check.rs) and times it:
//!
//!   cargo run --release --example lmdb_check -- INDEX_DIR/data.mdb
fn main() {
    let path = std::env::args().nth(1).expect("usage: lmdb_check DATA.MDB");
    let t = std::time::Instant::now();
    let result = vecsh::index::lmdb_check::check(std::path::Path::new(&path));
    println!("{result:?} in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}
