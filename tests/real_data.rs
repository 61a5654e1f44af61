//! The acceptance tests on the real GloVe 6B 50d, a test binary of their own so that .ci/run's
//! release step compiles only these: all `#[ignore]`d, run with `VECSH_DATA=DIR cargo test
//! --release --test acceptance -- --ignored`.

// The real-data tests use a few of the suite's helpers.
#[allow(dead_code)]
mod util;

mod acceptance;
mod loader_real;
mod repl_real;
mod restrict_real;
