//! Writes seeded synthetic embeddings as a word2vec binary file, for the scaling benchmark:
//!
//!   cargo run --release --example synth -- WORDS DIMS OUT.bin [SEED]
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
    let mut row = vec![0f32; dims];
    for i in 0..words {
        let centre = &centres[((next() + 0.5) * 4095.0) as usize];
        for (x, c) in row.iter_mut().zip(centre) {
            *x = c + 0.6 * next();
        }
        write!(w, "w{i} ")?;
        for x in &row {
            w.write_all(&x.to_le_bytes())?;
        }
        w.write_all(b"\n")?;
    }
    w.flush()
}
