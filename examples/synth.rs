//! Writes seeded synthetic embeddings as a word2vec binary file, for the scaling benchmark:
//!
//!   cargo run --release --example synth -- WORDS DIMS OUT.bin [SEED]
//!
//! An output named `*.vec` or `*.txt` gets word2vec text instead, each value with 4 decimals
//! (`-0.1234`): at 2,000,000 x 300 that is crawl-300d-2M.vec's size, 4.45 GB (bench/parse.sh).
//!
//! Vectors are clustered (a few thousand random centres plus noise) so that nearest-neighbour
//! structure resembles real embeddings more than uniform noise does.

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [words, dims, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: synth WORDS DIMS OUT.bin [SEED]");
        std::process::exit(2);
    };
    let (words, dims): (usize, usize) =
        (words.parse().expect("WORDS"), dims.parse().expect("DIMS"));
    let mut seed: u64 = rest.first().map_or(42, |s| s.parse().expect("SEED"));
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..4096)
        .map(|_| (0..dims).map(|_| next()).collect())
        .collect();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    writeln!(w, "{words} {dims}")?;
    let text = out.ends_with(".vec") || out.ends_with(".txt");
    let mut row = vec![0f32; dims];
    let mut line = Vec::with_capacity(dims * 8 + 16);
    for i in 0..words {
        let centre = &centres[((next() + 0.5) * 4095.0) as usize];
        for (x, c) in row.iter_mut().zip(centre) {
            *x = c + 0.6 * next();
        }
        write!(w, "w{i} ")?;
        if text {
            line.clear();
            for (j, x) in row.iter().enumerate() {
                if j > 0 {
                    line.push(b' ');
                }
                four_decimals(*x, &mut line);
            }
            w.write_all(&line)?;
        } else {
            for x in &row {
                w.write_all(&x.to_le_bytes())?;
            }
        }
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// `x` rounded to 4 decimals as `{:.4}` writes it (`-0.0000` for small negatives included),
/// without the formatter's cost: 600 million values take minutes through `write!`.
fn four_decimals(x: f32, out: &mut Vec<u8>) {
    let scaled = (f64::from(x) * 1e4).round();
    if x.is_sign_negative() {
        out.push(b'-');
    }
    let n = scaled.abs() as u64;
    let (int, frac) = (n / 10_000, n % 10_000);
    out.extend_from_slice(int.to_string().as_bytes());
    out.push(b'.');
    for d in [frac / 1000, frac / 100 % 10, frac / 10 % 10, frac % 10] {
        out.push(b'0' + d as u8);
    }
}
