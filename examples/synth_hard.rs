//! Writes a harder seeded synthetic word2vec binary file than `synth.rs`, for the scaling
//! benchmark's honest figures (clustered data flatters both approximate search and the exact
//! search's pruning bounds):
//!
//!   cargo run --release --example synth_hard -- WORDS DIMS OUT.bin [SEED]
//!
//! Compared with `synth.rs`: 4× the centres (16,384), noise as strong as the centres
//! (1.0 × instead of 0.6 ×, so a row's own centre explains about half its length), and
//! centres that are themselves mixtures of a few shared directions with a decaying spectrum,
//! like real embeddings' leading components, so neighbourhoods overlap instead of sitting
//! apart. The top-10 scores of a typical word are lower and closer to the crowd's.

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [words, dims, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: synth_hard WORDS DIMS OUT.bin [SEED]");
        std::process::exit(2);
    };
    let (words, dims): (usize, usize) =
        (words.parse().expect("WORDS"), dims.parse().expect("DIMS"));
    let mut seed: u64 = rest.first().map_or(7, |s| s.parse().expect("SEED"));
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    // 64 shared directions whose weights fall off like 1/√(j+1): centres share structure.
    let shared: Vec<Vec<f32>> = (0..64)
        .map(|_| (0..dims).map(|_| next()).collect())
        .collect();
    let centres: Vec<Vec<f32>> = (0..16384)
        .map(|_| {
            let mut c: Vec<f32> = (0..dims).map(|_| 0.5 * next()).collect();
            for (j, s) in shared.iter().enumerate() {
                let w = next() * 2.0 / ((j + 1) as f32).sqrt();
                c.iter_mut().zip(s).for_each(|(x, y)| *x += w * y);
            }
            c
        })
        .collect();
    let scale = |c: &[f32]| (c.iter().map(|x| x * x).sum::<f32>() / dims as f32).sqrt();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    writeln!(w, "{words} {dims}")?;
    let mut row = vec![0f32; dims];
    for i in 0..words {
        let centre = &centres[((next() + 0.5) * 16383.0) as usize];
        // Noise per coordinate with the centre's own spread: about half the length is noise.
        let s = scale(centre) * 12f32.sqrt();
        for (x, c) in row.iter_mut().zip(centre) {
            *x = c + s * next();
        }
        write!(w, "w{i} ")?;
        for x in &row {
            w.write_all(&x.to_le_bytes())?;
        }
        w.write_all(b"\n")?;
    }
    w.flush()
}
