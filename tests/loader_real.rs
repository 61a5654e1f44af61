//! The loader on the real GloVe 6B 50d files, in the folder `VECSH_DATA` names (what
//! ../shared/data/fetch-glove.sh prints): all four agree bit for bit; times are printed.
//! Run with `VECSH_DATA=DIR cargo test --release --test acceptance loader_real -- --ignored
//! --nocapture` (.ci/run does).

use std::time::Instant;

use vecsh::loader::{load, Format, LoadOptions};

fn data_dir() -> std::path::PathBuf {
    std::env::var_os("VECSH_DATA")
        .expect("set VECSH_DATA to the folder fetch-glove.sh prints")
        .into()
}

fn time_one(name: &str, format: Format, compression: &str) {
    let path = data_dir().join(name);
    assert!(path.exists(), "missing {}", path.display());
    let start = Instant::now();
    let mut rows = 0usize;
    let mut checksum = 0f64;
    let mut first = None;
    let report = load(&path, &LoadOptions::default(), &|_, _| {}, &mut |batch| {
        rows += batch.words.len();
        checksum += batch.vectors.iter().map(|&v| v as f64).sum::<f64>();
        if first.is_none() {
            first = Some((batch.words[0].clone(), batch.vectors[0]));
        }
        Ok(())
    })
    .unwrap();
    let elapsed = start.elapsed();
    eprintln!(
        "{name}: {:.3} s, {} words, {} dims, {} duplicates, checksum {checksum:.3}",
        elapsed.as_secs_f64(),
        report.words,
        report.dims,
        report.duplicates
    );
    assert_eq!(report.format, format);
    assert_eq!(report.compression, compression);
    assert_eq!(report.words, 400_000);
    assert_eq!(rows, 400_000);
    assert_eq!(report.dims, 50);
    assert_eq!(first, Some(("the".to_owned(), 0.418)));
}

#[test]
#[ignore = "needs the real GloVe files; run in release mode"]
fn real_glove_txt() {
    time_one("glove.6B.50d.txt", Format::Glove, "none");
}

#[test]
#[ignore = "needs the real GloVe files; run in release mode"]
fn real_glove_txt_gz() {
    time_one("glove.6B.50d.txt.gz", Format::Glove, "gzip");
}

#[test]
#[ignore = "needs the real GloVe files; run in release mode"]
fn real_w2v_bin() {
    time_one("glove.6B.50d.w2v.bin", Format::Word2VecBinary, "none");
}

#[test]
#[ignore = "needs the real GloVe files; run in release mode"]
fn real_w2v_txt() {
    time_one("glove.6B.50d.w2v.txt", Format::Word2VecText, "none");
}

/// All four files hold the same vectors, so they must load to the same bits.
#[test]
#[ignore = "needs the real GloVe files; run in release mode"]
fn real_files_agree_bit_for_bit() {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut digests = Vec::new();
    for name in [
        "glove.6B.50d.txt",
        "glove.6B.50d.txt.gz",
        "glove.6B.50d.w2v.bin",
        "glove.6B.50d.w2v.txt",
    ] {
        let path = data_dir().join(name);
        assert!(path.exists(), "missing {}", path.display());
        let mut hasher = DefaultHasher::new();
        load(&path, &LoadOptions::default(), &|_, _| {}, &mut |batch| {
            // Row by row, so that batch boundaries (which differ by format) do not matter.
            let dims = batch.vectors.len() / batch.words.len();
            for (word, vector) in batch.words.iter().zip(batch.vectors.chunks(dims)) {
                word.hash(&mut hasher);
                for v in vector {
                    v.to_bits().hash(&mut hasher);
                }
            }
            Ok(())
        })
        .unwrap();
        digests.push((name, hasher.finish()));
    }
    let first = digests[0].1;
    assert!(digests.iter().all(|(_, d)| *d == first), "{digests:x?}");
}
