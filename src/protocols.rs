//! `vecsh eval`: the published analogy and word-similarity protocols, reproduced exactly and
//! computed in one batch.
//!
//! Two analogy protocols are reproduced to the question:
//! - `gensim`: `KeyedVectors.evaluate_word_analogies` of gensim 4.4 (the first 300,000 words,
//!   case folded with `str.upper()`, the most frequent variant winning; 3CosAdd with the three
//!   question words' ids excluded; the answer is the first of the top five whose upper-cased form
//!   is not a question word);
//! - `word2vec`: `compute-accuracy.c` of the original word2vec (the first 30,000 words, ASCII
//!   upper-casing, first occurrence wins, only the three input ids excluded, a candidate must
//!   score above zero).
//!
//! `--method mul` scores with gensim's `most_similar_cosmul` formula under the same protocol rules
//! (window, exclusions, answer). gensim 4.4 cannot run that itself as asked: its
//! `evaluate_word_analogies` ignores `similarity_function` and `most_similar_cosmul` ignores
//! `restrict_vocab`; the acceptance reference evaluates `most_similar_cosmul` on the first
//! 300,000 words only, and vecsh matches it. word2vec has no 3CosMul: `--protocol word2vec
//! --method mul` applies word2vec's rules to the 3CosMul score. A question with a zero input
//! vector gets no answer (both tools compute NaN there); zero rows are never answers.
//!
//! Speed comes from batching: 3CosAdd's score is linear, `x·(b̂ − â + ĉ) = x·b̂ − x·â + x·ĉ`, and
//! 3CosMul's is a function of the same three cosines, so the scorer computes the cosines of every
//! vocabulary row with the few hundred distinct question words (a blocked f32 matrix product,
//! FMA kernels) and then combines three of them per question and row, keeping each question's
//! best few candidates. Rows are split between threads with rayon.
//!
//! Word similarity follows gensim's `evaluate_word_pairs` (Pearson and Spearman with average
//! ranks for ties, as scipy).
//!
//! This module never prints: it returns reports; `render::Renderer::report` turns one into text.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;

use crate::index::Store;
use crate::progress::{Progress, Unit};
use crate::search::kernels::{cosines, Combine, Compact, Scan, Top, BLOCK, TILE_W};
use crate::search::{self, Hit, Rows};

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// Whose analogy evaluation to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// gensim 4.4 `evaluate_word_analogies` (restrict 300,000, Unicode upper-casing, top-5 rule).
    Gensim,
    /// word2vec `compute-accuracy.c` (threshold 30,000, ASCII upper-casing, top-1).
    Word2vec,
}

impl Protocol {
    /// The vocabulary window the protocol uses unless `--restrict` says otherwise.
    pub fn default_restrict(self) -> usize {
        match self {
            Protocol::Gensim => 300_000,
            Protocol::Word2vec => 30_000,
        }
    }

    /// Case folding: gensim uses Python's `str.upper()` (full Unicode), word2vec C's `toupper`
    /// in the C locale (ASCII letters only).
    pub fn fold(self, word: &str) -> String {
        match self {
            Protocol::Gensim => word.to_uppercase(),
            Protocol::Word2vec => word.to_ascii_uppercase(),
        }
    }
}

/// How an analogy `a : b :: c : ?` is scored: 3CosAdd, cos(x, b − a + c) (gensim `most_similar`,
/// word2vec), or 3CosMul, ½(1+cos(x,b)) · ½(1+cos(x,c)) / (½(1+cos(x,a)) + 1e-6) (gensim
/// `most_similar_cosmul`). The same choice as the REPL's `--method`.
pub use crate::eval::Method;

/// The method's name in reports.
pub fn method_label(method: Method) -> &'static str {
    match method {
        Method::Add => "3CosAdd",
        Method::Mul => "3CosMul",
    }
}

#[derive(Debug, Clone)]
pub struct AnalogyOptions {
    pub protocol: Protocol,
    pub method: Method,
    /// Vocabulary window (first N words); `None`: the protocol's default.
    pub restrict: Option<usize>,
    /// Keep every question's outcome in the report.
    pub details: bool,
}

impl Default for AnalogyOptions {
    fn default() -> Self {
        AnalogyOptions {
            protocol: Protocol::Gensim,
            method: Method::Add,
            restrict: None,
            details: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimilarityOptions {
    /// Vocabulary window (first N words), as gensim's `restrict_vocab`.
    pub restrict: usize,
}

impl Default for SimilarityOptions {
    fn default() -> Self {
        SimilarityOptions { restrict: 300_000 }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// A malformed line in a questions or pairs file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// One analogy question `a : b :: c : d`, words as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub words: [String; 4],
    /// 1-based line in the questions file.
    pub line: usize,
}

/// A `: name` section and its questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub questions: Vec<Question>,
}

/// Parses the questions-words format: `: section` lines, then `a b c d` lines. Blank lines and
/// lines starting with `#` are ignored; anything else is an error naming `origin:line`.
pub fn parse_questions(text: &str, origin: &str) -> Result<Vec<Section>, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: origin.to_string(),
        line,
        message,
    };
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with(':') {
            // gensim: line.lstrip(': ').strip()
            let name = trimmed.trim_start_matches([':', ' ']).trim();
            if name.is_empty() {
                return Err(err(
                    line,
                    "section header without a name (expected `: name`)".into(),
                ));
            }
            sections.push(Section {
                name: name.to_string(),
                line,
                questions: Vec::new(),
            });
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let Ok(words) = <[&str; 4]>::try_from(words.as_slice()) else {
            return Err(err(
                line,
                format!(
                    "expected 4 words `a b c d`, found {}: {trimmed:?}",
                    words.len()
                ),
            ));
        };
        let Some(section) = sections.last_mut() else {
            return Err(err(
                line,
                "question before the first `: section` line".into(),
            ));
        };
        section.questions.push(Question {
            words: words.map(str::to_string),
            line,
        });
    }
    Ok(sections)
}

/// Reads and parses a questions file.
pub fn read_questions(path: &Path) -> anyhow::Result<Vec<Section>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_questions(&text, &path.display().to_string())?)
}

/// One human similarity judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub score: f64,
    pub line: usize,
}

/// Parses `w1<TAB>w2<TAB>score` lines (SimLex-999, WordSim-353); `#` starts a comment line,
/// blank lines are ignored. A line without a tab may separate its three fields by spaces.
pub fn parse_pairs(text: &str, origin: &str) -> Result<Vec<Pair>, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: origin.to_string(),
        line,
        message,
    };
    let mut pairs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = if raw.contains('\t') {
            raw.split('\t').map(str::trim).collect()
        } else {
            raw.split_whitespace().collect()
        };
        let [a, b, score] = fields.as_slice() else {
            return Err(err(
                line,
                format!(
                    "expected `word1<TAB>word2<TAB>score`, found {} fields",
                    fields.len()
                ),
            ));
        };
        if a.is_empty() || b.is_empty() {
            return Err(err(line, "empty word".into()));
        }
        let score: f64 = score
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite())
            .ok_or_else(|| err(line, format!("score {score:?} is not a number")))?;
        pairs.push(Pair {
            a: a.to_string(),
            b: b.to_string(),
            score,
            line,
        });
    }
    Ok(pairs)
}

/// Reads and parses a word-pairs file.
pub fn read_pairs(path: &Path) -> anyhow::Result<Vec<Pair>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_pairs(&text, &path.display().to_string())?)
}

// ---------------------------------------------------------------------------------------------
// Vocabulary folding
// ---------------------------------------------------------------------------------------------

/// Maps each folded word in `wanted` to the lowest id below `limit` whose folded form equals it
/// (gensim: `{w.upper(): id for w in reversed(vocab[:restrict])}`; word2vec: the first match).
/// Scans ids in order and stops as soon as every wanted word is found.
pub fn fold_lookup(
    store: &Store,
    limit: usize,
    protocol: Protocol,
    wanted: &HashSet<String>,
) -> HashMap<String, u32> {
    let mut found: HashMap<String, u32> = HashMap::with_capacity(wanted.len());
    let mut buf = String::new();
    for (id, word) in store.words().take(limit) {
        if found.len() == wanted.len() {
            break;
        }
        let folded: &str = if word.is_ascii() {
            // No allocation for the common case: ASCII upper-casing is the same for both protocols.
            buf.clear();
            buf.extend(word.bytes().map(|b| b.to_ascii_uppercase() as char));
            &buf
        } else {
            buf = protocol.fold(word);
            &buf
        };
        if wanted.contains(folded) && !found.contains_key(folded) {
            found.insert(folded.to_string(), id);
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The batched scorer
// ---------------------------------------------------------------------------------------------

/// One analogy query `a : b :: c : ?` by vocabulary ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalogyQuery {
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

/// What the batch scorer keeps per query.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub method: Method,
    /// Candidates are the rows with id below this.
    pub limit: usize,
    /// Best candidates kept per query (at most `MAX_K`), ids `a`, `b`, `c` never among them.
    pub k: usize,
    /// Only candidates scoring strictly above this (word2vec: 0); `None`: any finite score.
    pub floor: Option<f32>,
}

/// Most candidates the batch scorer keeps per query.
pub use crate::search::kernels::MAX_K;

/// Most distinct words per query group (a multiple of `TILE_W`): a group's cosine block,
/// GROUP_WORDS × BLOCK f32 = 252 KiB, stays in L2 while its questions are scanned.
const GROUP_WORDS: usize = 252;

/// Scores every query against the unit rows `0..limit` in one pass: for each query, the best
/// `k` rows by 3CosAdd or 3CosMul, best first, ties by lower id, never `a`, `b`, `c`, never a
/// zero row. A query with a zero input vector gets no candidates.
///
/// Scores are those of the formula on unit vectors: 3CosAdd reports `x·b̂ − x·â + x·ĉ` (the
/// cosine times ‖b̂ − â + ĉ‖, which ranks the same), 3CosMul the exact gensim objective.
///
/// How: the queries are cut, in order, into groups of at most `GROUP_WORDS` distinct input
/// words. For each block of `BLOCK` rows, each group's cosines with the block are computed (an
/// f32 matrix product with FMA kernels) and every query of the group combines three of them per
/// row, keeping its best candidates. Blocks are shared between threads with rayon.
pub fn batch_analogies(
    rows: &Rows<f32>,
    queries: &[AnalogyQuery],
    opts: &BatchOptions,
    progress: &dyn Progress,
) -> Vec<Vec<Hit>> {
    batch_analogies_until(rows, queries, opts, progress, &AtomicBool::new(false))
        .expect("a flag nobody sets")
}

/// An evaluation stopped before its end because its cancel flag was raised (Ctrl-C in the
/// session). It has no figures: counts of the questions done so far would read as the set's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the evaluation was interrupted")]
pub struct Interrupted;

/// [`batch_analogies`] that stops when `cancel` is raised: every block of rows checks it
/// before its scan, so an interruption costs at most one block per thread.
pub fn batch_analogies_until(
    rows: &Rows<f32>,
    queries: &[AnalogyQuery],
    opts: &BatchOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Vec<Vec<Hit>>, Interrupted> {
    assert!(opts.k <= MAX_K, "at most {MAX_K} candidates per query");
    let limit = opts.limit.min(rows.len);
    let dims = rows.row_len;
    if queries.is_empty() || opts.k == 0 || limit == 0 || dims == 0 {
        return Ok(vec![Vec::new(); queries.len()]);
    }
    let plan = Plan::new(rows, queries);
    let n_blocks = limit.div_ceil(BLOCK);
    let done = AtomicU64::new(0);
    let how = match opts.method {
        Method::Add => Combine::Add,
        Method::Mul => Combine::Mul,
    };
    progress.start("analogies", limit as u64, Unit::Rows);
    let init = opts.floor.unwrap_or(f32::NEG_INFINITY);
    let tops = (0..n_blocks)
        .into_par_iter()
        // Few parts: each starts with empty candidate lists, which costs insertions.
        .with_min_len(n_blocks.div_ceil(2 * rayon::current_num_threads()).max(1))
        .fold(
            || Worker::new(&plan, dims, opts.k, init),
            |mut worker, block| {
                if cancel.load(Ordering::Relaxed) {
                    return worker;
                }
                let start = block * BLOCK;
                let end = (start + BLOCK).min(limit);
                worker.block(rows, start, end, how);
                let total =
                    done.fetch_add((end - start) as u64, Ordering::Relaxed) + (end - start) as u64;
                if block.is_multiple_of(32) {
                    progress.set(total);
                }
                worker
            },
        )
        .map(|w| w.tops)
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.merge(y);
            }
            a
        })
        .unwrap_or_default();
    progress.finish();
    if cancel.load(Ordering::Relaxed) {
        return Err(Interrupted);
    }
    Ok(tops
        .into_iter()
        .zip(&plan.queries)
        .map(|(top, q)| if q.dead { Vec::new() } else { top.hits() })
        .collect())
}

/// The queries, cut into groups of few distinct words.
struct Plan {
    groups: Vec<Group>,
    /// One per query, in order; word indices are local to the query's group.
    queries: Vec<Compact>,
    /// The ids each query may not return.
    excludes: Vec<[u32; 3]>,
}

/// Consecutive queries and their distinct words, packed for the cosine kernel.
struct Group {
    /// Indices into `Plan::queries`.
    queries: std::ops::Range<usize>,
    n_words: usize,
    n_tiles: usize,
    /// Tile-major: [tile][dim][word in tile].
    packed: Vec<f32>,
}

impl Plan {
    fn new(rows: &Rows<f32>, queries: &[AnalogyQuery]) -> Plan {
        let dims = rows.row_len;
        let is_zero = |id: u32| rows.row(id as usize).iter().all(|&x| x == 0.0);
        let mut groups = Vec::new();
        let mut compact = Vec::with_capacity(queries.len());
        let mut slot: HashMap<u32, u16> = HashMap::new();
        let mut words: Vec<u32> = Vec::new();
        let mut first = 0;
        let pack = |words: &[u32], range: std::ops::Range<usize>| {
            let n_tiles = words.len().div_ceil(TILE_W);
            let mut packed = vec![0f32; n_tiles * TILE_W * dims];
            for (w, &id) in words.iter().enumerate() {
                for (k, &x) in rows.row(id as usize).iter().enumerate() {
                    packed[((w / TILE_W) * dims + k) * TILE_W + w % TILE_W] = x;
                }
            }
            Group {
                queries: range,
                n_words: words.len(),
                n_tiles,
                packed,
            }
        };
        for (i, q) in queries.iter().enumerate() {
            let ids = [q.a, q.b, q.c];
            let new = ids
                .iter()
                .enumerate()
                .filter(|&(n, id)| !slot.contains_key(id) && !ids[..n].contains(id))
                .count();
            if words.len() + new > GROUP_WORDS {
                groups.push(pack(&words, first..i));
                slot.clear();
                words.clear();
                first = i;
            }
            let mut index = |id: u32| {
                *slot.entry(id).or_insert_with(|| {
                    words.push(id);
                    (words.len() - 1) as u16
                })
            };
            let (a, b, c) = (index(q.a), index(q.b), index(q.c));
            compact.push(Compact {
                a,
                b,
                c,
                dead: ids.iter().any(|&id| is_zero(id)),
            });
        }
        groups.push(pack(&words, first..queries.len()));
        let excludes = queries.iter().map(|q| [q.a, q.b, q.c]).collect();
        Plan {
            groups,
            queries: compact,
            excludes,
        }
    }
}

/// One thread's state: its buffers and its best candidates per query.
struct Worker<'p> {
    plan: &'p Plan,
    dims: usize,
    /// Block rows transposed: [dim][row], `BLOCK` rows wide.
    xt: Vec<f32>,
    /// A group's cosines (or halves (1 + cos) / 2 for 3CosMul): [word][row], `BLOCK` wide;
    /// NaN in the columns of rows that may not be candidates (zero rows, padding).
    cos: Vec<f32>,
    tops: Vec<Top>,
    thresholds: Vec<f32>,
    init: f32,
}

impl<'p> Worker<'p> {
    fn new(plan: &'p Plan, dims: usize, k: usize, init: f32) -> Worker<'p> {
        let most_tiles = plan.groups.iter().map(|g| g.n_tiles).max().unwrap_or(0);
        Worker {
            plan,
            dims,
            xt: vec![0f32; dims * BLOCK],
            cos: vec![0f32; most_tiles * TILE_W * BLOCK],
            tops: vec![Top::new(k); plan.queries.len()],
            thresholds: vec![init; plan.queries.len()],
            init,
        }
    }

    fn block(&mut self, rows: &Rows<f32>, start: usize, end: usize, how: Combine) {
        let dims = self.dims;
        let n = end - start;
        let mut dead_cols: Vec<usize> = (n..BLOCK).collect();
        for j in 0..n {
            let row = rows.row(start + j);
            let mut zero = true;
            for (k, &x) in row.iter().enumerate() {
                self.xt[k * BLOCK + j] = x;
                zero &= x == 0.0;
            }
            if zero {
                dead_cols.push(j);
            }
        }
        for k in 0..dims {
            self.xt[k * BLOCK + n..(k + 1) * BLOCK].fill(0.0);
        }
        for group in &self.plan.groups {
            let cos = &mut self.cos[..group.n_tiles * TILE_W * BLOCK];
            cosines(&group.packed, group.n_tiles, dims, &self.xt, cos);
            let cos = &mut cos[..group.n_words * BLOCK];
            if how == Combine::Mul {
                // gensim: (1 + cos) / 2 per term, in f32.
                cos.iter_mut().for_each(|x| *x = (1.0 + *x) / 2.0);
            }
            for &j in &dead_cols {
                for w in 0..group.n_words {
                    cos[w * BLOCK + j] = f32::NAN;
                }
            }
            let range = group.queries.clone();
            let scan = Scan {
                cos,
                queries: &self.plan.queries[range.clone()],
                excludes: &self.plan.excludes[range.clone()],
                tops: &mut self.tops[range.clone()],
                thresholds: &mut self.thresholds[range],
                init: self.init,
                start: start as u32,
                how,
            };
            scan.run();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Analogies
// ---------------------------------------------------------------------------------------------

/// Correct answers among the questions evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Accuracy {
    pub correct: usize,
    pub seen: usize,
    /// correct / seen (0 when nothing was seen).
    pub accuracy: f64,
}

impl Accuracy {
    fn new(correct: usize, seen: usize) -> Accuracy {
        Accuracy {
            correct,
            seen,
            accuracy: if seen == 0 {
                0.0
            } else {
                correct as f64 / seen as f64
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionResult {
    pub name: String,
    pub correct: usize,
    /// Questions evaluated (all four words known).
    pub seen: usize,
    /// Questions in the file's section.
    pub total: usize,
    /// Questions skipped for a word outside the vocabulary window.
    pub skipped: usize,
    pub accuracy: f64,
}

/// One question's outcome (`--details`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionResult {
    pub line: usize,
    pub section: usize,
    pub question: [String; 4],
    /// False when a word is unknown (the question is skipped).
    pub seen: bool,
    pub correct: bool,
    /// The protocol's answer, as spelt in the vocabulary.
    pub predicted: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalogyReport {
    /// The embedding file the store was built from.
    pub embeddings: PathBuf,
    pub questions_file: PathBuf,
    pub protocol: Protocol,
    pub method: Method,
    /// The vocabulary window used (the first N words; at most the vocabulary's size).
    pub restrict: usize,
    pub sections: Vec<SectionResult>,
    /// The first five sections (the Google set's semantic ones).
    pub semantic: Accuracy,
    /// The sections after the fifth.
    pub syntactic: Accuracy,
    pub total: Accuracy,
    pub questions_total: usize,
    pub questions_seen: usize,
    pub skipped_unknown: usize,
    /// Time the evaluation took (vocabulary lookup, scoring, judging), without opening the store.
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<QuestionResult>>,
}

/// Sections counted as semantic, as compute-accuracy.c's `QID <= 5`.
pub const SEMANTIC_SECTIONS: usize = 5;

/// Evaluates the questions on the store under a protocol. `questions_file` only labels the report.
pub fn evaluate_analogies(
    store: &Store,
    sections: &[Section],
    questions_file: &Path,
    opts: &AnalogyOptions,
    progress: &dyn Progress,
) -> anyhow::Result<AnalogyReport> {
    let never = AtomicBool::new(false);
    Ok(
        evaluate_analogies_until(store, sections, questions_file, opts, progress, &never)?
            .expect("a flag nobody sets"),
    )
}

/// [`evaluate_analogies`] that stops with [`Interrupted`] when `cancel` is raised. The outer
/// error is the index's (rows read from a source that changed since, say).
pub fn evaluate_analogies_until(
    store: &Store,
    sections: &[Section],
    questions_file: &Path,
    opts: &AnalogyOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> anyhow::Result<Result<AnalogyReport, Interrupted>> {
    let started = Instant::now();
    let protocol = opts.protocol;
    let restrict = opts
        .restrict
        .unwrap_or(protocol.default_restrict())
        .min(store.len());
    let folded: Vec<Vec<[String; 4]>> = sections
        .iter()
        .map(|s| {
            s.questions
                .iter()
                .map(|q| q.words.clone().map(|w| protocol.fold(&w)))
                .collect()
        })
        .collect();
    let wanted: HashSet<String> = folded.iter().flatten().flatten().cloned().collect();
    let vocab = fold_lookup(store, restrict, protocol, &wanted);

    // Questions with all four words known, in file order.
    let mut queries = Vec::new();
    let mut which = Vec::new();
    for (s, questions) in folded.iter().enumerate() {
        for (q, words) in questions.iter().enumerate() {
            if let [Some(&a), Some(&b), Some(&c), Some(_)] = words.each_ref().map(|w| vocab.get(w))
            {
                queries.push(AnalogyQuery { a, b, c });
                which.push((s, q));
            }
        }
    }
    let (k, floor) = match protocol {
        // gensim: most_similar(topn=5), then the first whose upper-case is not a question word.
        Protocol::Gensim => (5, None),
        // compute-accuracy.c: bestd starts at 0 and `dist > bestd` keeps the first best.
        Protocol::Word2vec => (1, Some(0.0)),
    };
    let batch = BatchOptions {
        method: opts.method,
        limit: restrict,
        k,
        floor,
    };
    let rows = store.unit_rows()?;
    let hits = match batch_analogies_until(&rows, &queries, &batch, progress, cancel) {
        Ok(hits) => hits,
        Err(stop) => return Ok(Err(stop)),
    };

    let mut outcome: HashMap<(usize, usize), (bool, Option<String>)> =
        HashMap::with_capacity(which.len());
    for (&(s, q), hits) in which.iter().zip(&hits) {
        let [a, b, c, expected] = &folded[s][q];
        let mut predicted: Option<(&str, String)> = None;
        for hit in hits {
            let word = store.word(hit.id).unwrap_or_default();
            let up = protocol.fold(word);
            let stop = match protocol {
                // gensim breaks at the first candidate that is not a question word; if none is,
                // `predicted` is left at the last one.
                Protocol::Gensim => up != *a && up != *b && up != *c,
                Protocol::Word2vec => true,
            };
            predicted = Some((word, up));
            if stop {
                break;
            }
        }
        let correct = predicted.as_ref().is_some_and(|(_, up)| up == expected);
        outcome.insert((s, q), (correct, predicted.map(|(w, _)| w.to_string())));
    }

    let mut results = Vec::with_capacity(sections.len());
    let mut details = opts.details.then(Vec::new);
    for (s, section) in sections.iter().enumerate() {
        let (mut correct, mut seen) = (0, 0);
        for (q, question) in section.questions.iter().enumerate() {
            let found = outcome.remove(&(s, q));
            if let Some((ok, _)) = &found {
                seen += 1;
                correct += *ok as usize;
            }
            if let Some(details) = &mut details {
                let (ok, predicted) = found.clone().map_or((false, None), |(ok, p)| (ok, p));
                details.push(QuestionResult {
                    line: question.line,
                    section: s,
                    question: question.words.clone(),
                    seen: found.is_some(),
                    correct: ok,
                    predicted,
                });
            }
        }
        let total = section.questions.len();
        results.push(SectionResult {
            name: section.name.clone(),
            correct,
            seen,
            total,
            skipped: total - seen,
            accuracy: Accuracy::new(correct, seen).accuracy,
        });
    }
    let sum = |r: &[SectionResult]| {
        Accuracy::new(
            r.iter().map(|s| s.correct).sum(),
            r.iter().map(|s| s.seen).sum(),
        )
    };
    let split = SEMANTIC_SECTIONS.min(results.len());
    let total = sum(&results);
    let questions_total: usize = results.iter().map(|s| s.total).sum();
    Ok(Ok(AnalogyReport {
        embeddings: store.meta().source.clone(),
        questions_file: questions_file.to_path_buf(),
        protocol,
        method: opts.method,
        restrict,
        semantic: sum(&results[..split]),
        syntactic: sum(&results[split..]),
        total,
        questions_total,
        questions_seen: total.seen,
        skipped_unknown: questions_total - total.seen,
        sections: results,
        seconds: started.elapsed().as_secs_f64(),
        details,
    }))
}

// ---------------------------------------------------------------------------------------------
// Word similarity
// ---------------------------------------------------------------------------------------------

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

/// Pearson's r (NaN when either side is constant or the lengths differ).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.is_empty() {
        return f64::NAN;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    r.clamp(-1.0, 1.0)
}

/// Ranks from 1, tied values sharing the average of their ranks (scipy's `rankdata`, 'average').
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) share the mean of ranks i+1..=j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's ρ: Pearson's r of the average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// `vecsh eval …`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum EvalCommand {
    /// Word analogies (questions-words format): per-section accuracy as gensim or word2vec
    /// compute it.
    Analogy {
        /// Embedding file.
        file: PathBuf,
        /// Questions: `: section` lines, then `a b c d` lines. Default (or `google`): the Google
        /// analogy set, built in.
        questions: Option<PathBuf>,
        /// Whose evaluation to reproduce: gensim 4.4 evaluate_word_analogies, or word2vec
        /// compute-accuracy.c.
        #[arg(long, value_enum, default_value_t = Protocol::Gensim)]
        protocol: Protocol,
        /// Analogy method: add (3CosAdd, gensim most_similar) or mul (3CosMul,
        /// most_similar_cosmul).
        #[arg(long, value_name = "METHOD", default_value = "add", value_parser = method_arg())]
        method: Method,
        /// Use only the first N words (default: 300,000 for gensim, 30,000 for word2vec).
        #[arg(long, value_name = "N")]
        restrict: Option<usize>,
        /// List every question with the protocol's answer.
        #[arg(long)]
        details: bool,
    },
    /// Word similarity (SimLex-999, WordSim-353: `w1<TAB>w2<TAB>score`): Pearson and Spearman
    /// correlation of cosine with the human scores, as gensim's evaluate_word_pairs.
    Similarity {
        /// Embedding file.
        file: PathBuf,
        /// Word pairs with human scores (a path: SimLex-999 and WordSim-353 are not built in).
        pairs: PathBuf,
        /// Use only the first N words.
        #[arg(long, value_name = "N", default_value_t = 300_000)]
        restrict: usize,
    },
}

impl EvalCommand {
    /// The embedding file to open.
    pub fn file(&self) -> &Path {
        match self {
            EvalCommand::Analogy { file, .. } | EvalCommand::Similarity { file, .. } => file,
        }
    }

    /// Sets the analogy method (`--method` of `analogy`, for callers that build the command
    /// themselves); ignored by `similarity`.
    pub fn set_method(&mut self, value: Method) {
        if let EvalCommand::Analogy { method, .. } = self {
            *method = value;
        }
    }
}

/// `--method add|mul`, listing its values in the help.
fn method_arg() -> impl clap::builder::TypedValueParser<Value = Method> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["add", "mul"]).map(|s| match s.as_str() {
        "mul" => Method::Mul,
        _ => Method::Add,
    })
}

/// What `vecsh eval` produces; serialises with a `"kind"` tag for `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Report {
    Analogy(AnalogyReport),
    Similarity(SimilarityReport),
}

/// The Google analogy test set (Mikolov et al., 2013: 19,544 questions in 14 sections), as
/// word2vec ships it under the Apache License 2.0. Built in so that `vecsh eval analogy FILE`
/// works anywhere, with no download.
pub const GOOGLE_ANALOGIES: &str = include_str!("../assets/eval/questions-words.txt");

/// How reports name the built-in set.
pub const GOOGLE_LABEL: &str = "google (built in)";

/// The analogy questions: the built-in Google set when QUESTIONS is missing or is the name
/// `google` (and no file of that name exists), else the file at that path.
pub fn load_questions(questions: Option<&Path>) -> anyhow::Result<(Vec<Section>, PathBuf)> {
    match questions {
        Some(path) if path != Path::new("google") || path.exists() => {
            Ok((read_questions(path)?, path.to_path_buf()))
        }
        _ => Ok((
            parse_questions(GOOGLE_ANALOGIES, GOOGLE_LABEL)?,
            PathBuf::from(GOOGLE_LABEL),
        )),
    }
}

/// The word-pair file. SimLex-999 and WordSim-353 carry no licence that allows passing them on,
/// so they are not built in: their names (when no file of that name exists) get an error that
/// says where to download them.
pub fn load_pairs(pairs: &Path) -> anyhow::Result<Vec<Pair>> {
    let known = [
        (
            ["simlex", "simlex999", "simlex-999"],
            "SimLex-999: https://fh295.github.io/simlex.html",
        ),
        (
            ["wordsim", "wordsim353", "ws353"],
            "WordSim-353: https://gabrilovich.com/resources/data/wordsim353/wordsim353.html",
        ),
    ];
    if !pairs.exists() {
        let name = pairs.to_string_lossy().to_lowercase();
        if let Some((_, source)) = known
            .iter()
            .find(|(names, _)| names.contains(&name.as_str()))
        {
            anyhow::bail!(
                "'{}' is not built in (its licence does not allow vecsh to ship it); \
                 download {source} and pass the file's path",
                crate::text::escape(&pairs.to_string_lossy())
            );
        }
    }
    read_pairs(pairs)
}

/// Runs an `eval` subcommand on an open store.
pub fn run_eval(
    cmd: &EvalCommand,
    store: &Store,
    progress: &dyn Progress,
) -> anyhow::Result<Report> {
    let never = AtomicBool::new(false);
    Ok(run_eval_until(cmd, store, progress, &never)?.expect("a flag nobody sets"))
}

/// [`run_eval`] that stops when `cancel` is raised: `Ok(Err(Interrupted))`, no report.
pub fn run_eval_until(
    cmd: &EvalCommand,
    store: &Store,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> anyhow::Result<Result<Report, Interrupted>> {
    match cmd {
        EvalCommand::Analogy {
            questions,
            protocol,
            method,
            restrict,
            details,
            ..
        } => {
            let (sections, path) = load_questions(questions.as_deref())?;
            let opts = AnalogyOptions {
                protocol: *protocol,
                method: *method,
                restrict: *restrict,
                details: *details,
            };
            Ok(
                evaluate_analogies_until(store, &sections, &path, &opts, progress, cancel)?
                    .map(Report::Analogy),
            )
        }
        EvalCommand::Similarity {
            pairs, restrict, ..
        } => {
            let list = load_pairs(pairs)?;
            let opts = SimilarityOptions {
                restrict: *restrict,
            };
            // A thousand pairs: done before a Ctrl-C could matter.
            Ok(Ok(Report::Similarity(evaluate_similarity(
                store, &list, pairs, &opts,
            )?)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::kernels::{combine, cosines_portable};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }

    fn unit_rows(n: usize, dims: usize, seed: u64) -> Rows<'static, f32> {
        let mut s = seed;
        let mut raw: Vec<f32> = (0..n * dims).map(|_| lcg(&mut s)).collect();
        raw[7 * dims..8 * dims].fill(0.0);
        let (unit, _, _) = search::unit_and_quant(dims, &raw);
        Rows::<f32>::from_vec(dims, unit)
    }

    /// The plain definition: every row, every query, sorted.
    fn brute(rows: &Rows<f32>, q: &AnalogyQuery, opts: &BatchOptions) -> Vec<Hit> {
        let dims = rows.row_len;
        let dot =
            |x: &[f32], y: &[f32]| x.iter().zip(y).fold(0f32, |acc, (a, b)| a.mul_add(*b, acc));
        let (a, b, c) = (
            rows.row(q.a as usize),
            rows.row(q.b as usize),
            rows.row(q.c as usize),
        );
        let zero = |r: &[f32]| r.iter().all(|&x| x == 0.0);
        if zero(a) || zero(b) || zero(c) {
            return Vec::new();
        }
        let mut hits: Vec<Hit> = (0..opts.limit.min(rows.len))
            .filter(|&id| ![q.a, q.b, q.c].contains(&(id as u32)) && !zero(rows.row(id)))
            .map(|id| {
                let x = rows.row(id);
                let (ca, cb, cc) = (dot(a, x), dot(b, x), dot(c, x));
                let score = match opts.method {
                    Method::Add => combine(ca, cb, cc, Combine::Add),
                    Method::Mul => combine(
                        (1.0 + ca) / 2.0,
                        (1.0 + cb) / 2.0,
                        (1.0 + cc) / 2.0,
                        Combine::Mul,
                    ),
                };
                Hit {
                    id: id as u32,
                    score,
                }
            })
            .filter(|h| opts.floor.is_none_or(|f| h.score > f))
            .collect();
        assert_eq!(dims, rows.row_len);
        search::sort_hits(&mut hits);
        hits.truncate(opts.k);
        hits
    }

    #[test]
    fn batch_equals_brute_force() {
        for (n, dims, seed) in [(1000, 50, 1), (517, 7, 2), (300, 33, 3)] {
            let rows = unit_rows(n, dims, seed);
            let mut s = seed;
            let mut pick = || ((lcg(&mut s) + 0.5) * n as f32) as u32 % n as u32;
            let queries: Vec<AnalogyQuery> = (0..60)
                .map(|_| AnalogyQuery {
                    a: pick(),
                    b: pick(),
                    c: pick(),
                })
                .chain([
                    AnalogyQuery { a: 7, b: 1, c: 2 },
                    AnalogyQuery { a: 3, b: 3, c: 4 },
                ])
                .collect();
            for method in [Method::Add, Method::Mul] {
                for (k, floor, limit) in [(5, None, n), (1, Some(0.0), n - 13), (8, None, 40)] {
                    let opts = BatchOptions {
                        method,
                        limit,
                        k,
                        floor,
                    };
                    let got = batch_analogies(&rows, &queries, &opts, &crate::progress::Silent);
                    for (q, hits) in queries.iter().zip(&got) {
                        assert_eq!(hits, &brute(&rows, q, &opts), "{q:?} {method:?} k={k}");
                    }
                }
            }
        }
    }

    #[test]
    fn kernels_agree_with_the_portable_path() {
        let dims = 50;
        let rows = unit_rows(BLOCK + 40, dims, 9);
        let queries: Vec<AnalogyQuery> = (0..40)
            .map(|i| AnalogyQuery {
                a: i * 3 % 29,
                b: i * 5 % 31,
                c: i % 13,
            })
            .collect();
        let plan = Plan::new(&rows, &queries);
        let group = &plan.groups[0];
        let mut xt = vec![0f32; dims * BLOCK];
        for j in 0..BLOCK {
            for k in 0..dims {
                xt[k * BLOCK + j] = rows.row(j)[k];
            }
        }
        let mut fast = vec![0f32; group.n_tiles * TILE_W * BLOCK];
        let mut slow = fast.clone();
        cosines(&group.packed, group.n_tiles, dims, &xt, &mut fast);
        cosines_portable(&group.packed, group.n_tiles, dims, &xt, &mut slow);
        assert_eq!(fast, slow);
        for how in [Combine::Add, Combine::Mul] {
            let run = |portable: bool| {
                let n = queries.len();
                let mut tops = vec![Top::new(4); n];
                let mut thresholds = vec![f32::NEG_INFINITY; n];
                let scan = Scan {
                    cos: &fast[..group.n_words * BLOCK],
                    queries: &plan.queries,
                    excludes: &plan.excludes,
                    tops: &mut tops,
                    thresholds: &mut thresholds,
                    init: f32::NEG_INFINITY,
                    start: 0,
                    how,
                };
                if portable {
                    scan.run_portable()
                } else {
                    scan.run()
                }
                tops.iter().map(|t| t.hits()).collect::<Vec<_>>()
            };
            assert_eq!(run(false), run(true));
        }
    }

    #[test]
    fn queries_are_cut_into_groups_of_few_words() {
        let rows = unit_rows(2000, 4, 5);
        let queries: Vec<AnalogyQuery> = (0..400)
            .map(|i| AnalogyQuery {
                a: 2 * i,
                b: 2 * i + 1,
                c: 2 * i,
            })
            .collect();
        let plan = Plan::new(&rows, &queries);
        assert!(plan.groups.iter().all(|g| g.n_words <= GROUP_WORDS));
        assert_eq!(plan.groups.iter().map(|g| g.n_words).sum::<usize>(), 800);
        assert_eq!(plan.groups.last().unwrap().queries.end, 400);
        let opts = BatchOptions {
            method: Method::Add,
            limit: 2000,
            k: 3,
            floor: None,
        };
        let got = batch_analogies(&rows, &queries, &opts, &crate::progress::Silent);
        for (q, hits) in queries.iter().zip(&got).step_by(37) {
            assert_eq!(hits, &brute(&rows, q, &opts));
        }
    }
}
