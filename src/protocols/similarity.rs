//! The word-similarity evaluation: cosine against human scores, as gensim's
//! `evaluate_word_pairs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::{fold_lookup, pearson, spearman, Pair, Protocol, SimilarityOptions};
use crate::index::Store;
use crate::search;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarityReport {
    pub embeddings: PathBuf,
    pub pairs_file: PathBuf,
    pub restrict: usize,
    /// Pairs in the file.
    pub pairs: usize,
    /// Pairs with both words known (those correlated).
    pub used: usize,
    /// Pairs with an unknown word (skipped).
    pub unknown: usize,
    /// unknown / pairs · 100, as gensim's oov_ratio.
    pub unknown_percent: f64,
    pub pearson: f64,
    pub spearman: f64,
    pub seconds: f64,
}

/// Correlates cosine similarity with human scores as gensim's `evaluate_word_pairs` (restrict
/// window, case-insensitive, pairs with an unknown word skipped). `pairs_file` labels the report.
pub fn evaluate_similarity(
    store: &Store,
    pairs: &[Pair],
    pairs_file: &Path,
    opts: &SimilarityOptions,
) -> anyhow::Result<SimilarityReport> {
    let started = Instant::now();
    let restrict = opts.restrict.min(store.len());
    let protocol = Protocol::Gensim;
    let folded: Vec<(String, String)> = pairs
        .iter()
        .map(|p| (protocol.fold(&p.a), protocol.fold(&p.b)))
        .collect();
    let wanted: HashSet<String> = folded
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let vocab = fold_lookup(store, restrict, protocol, &wanted);
    let (mut gold, mut model) = (Vec::new(), Vec::new());
    for (pair, (a, b)) in pairs.iter().zip(&folded) {
        if let (Some(&a), Some(&b)) = (vocab.get(a), vocab.get(b)) {
            gold.push(pair.score);
            // gensim's similarity() is a float32 cosine.
            let row = |id| {
                store
                    .unit_row(id)?
                    .ok_or_else(|| anyhow::anyhow!("no vector for row {id}"))
            };
            model.push(search::dot(&row(a)?, &row(b)?) as f64);
        }
    }
    if gold.is_empty() {
        anyhow::bail!(
            "{}: no pair has both words among the first {restrict} words",
            pairs_file.display()
        );
    }
    let unknown = pairs.len() - gold.len();
    Ok(SimilarityReport {
        embeddings: store.meta().source.clone(),
        pairs_file: pairs_file.to_path_buf(),
        restrict,
        pairs: pairs.len(),
        used: gold.len(),
        unknown,
        unknown_percent: unknown as f64 / pairs.len() as f64 * 100.0,
        pearson: pearson(&gold, &model),
        spearman: spearman(&gold, &model),
        seconds: started.elapsed().as_secs_f64(),
    })
}
