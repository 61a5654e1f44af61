//! The word-similarity evaluation: cosine against human scores, as gensim's
//! `evaluate_word_pairs`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::analogy::pooled_unit;
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
    /// On a model: distinct words that are no token, pooled through the tokenizer.
    #[serde(skip_serializing_if = "is_zero")]
    pub pooled_words: usize,
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
    // On a model, a word that is no token is pooled through the tokenizer as the file spells
    // it (`index::phrase`); each distinct one is counted.
    let mut pooled: HashMap<String, Option<Vec<f32>>> = HashMap::new();
    let (mut gold, mut model) = (Vec::new(), Vec::new());
    // gensim's similarity() is a float32 cosine.
    let row = |id| -> anyhow::Result<Vec<f32>> {
        Ok(store
            .unit_row(id)?
            .ok_or_else(|| anyhow::anyhow!("no vector for row {id}"))?
            .into_owned())
    };
    for (pair, (a, b)) in pairs.iter().zip(&folded) {
        let mut vector = |folded: &String, typed: &str| -> anyhow::Result<Option<Vec<f32>>> {
            if let Some(&id) = vocab.get(folded) {
                return row(id).map(Some);
            }
            if store.model().is_none() {
                return Ok(None);
            }
            if !pooled.contains_key(folded) {
                pooled.insert(folded.clone(), pooled_unit(store, typed, restrict)?);
            }
            Ok(pooled[folded].clone())
        };
        if let (Some(x), Some(y)) = (vector(a, &pair.a)?, vector(b, &pair.b)?) {
            gold.push(pair.score);
            model.push(search::dot(&x, &y) as f64);
        }
    }
    let pooled_words = pooled.values().filter(|v| v.is_some()).count();
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
        pooled_words,
        pearson: pearson(&gold, &model),
        spearman: spearman(&gold, &model),
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
