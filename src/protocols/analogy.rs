//! The analogy evaluation: questions mapped to ids under a protocol's rules, scored in one
//! batch, answers picked and counted per section.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::{
    batch_analogies_until, fold_lookup, AnalogyOptions, AnalogyQuery, BatchOptions, Interrupted,
    Method, Protocol, Section,
};
use crate::index::Store;
use crate::progress::Progress;

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
    /// The Google set's semantic sections (`GOOGLE_SEMANTIC`), when every section is one of the
    /// Google set's by name; `None` (omitted in JSON) for any other file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic: Option<Accuracy>,
    /// The Google set's syntactic sections (`GOOGLE_SYNTACTIC`), as `semantic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syntactic: Option<Accuracy>,
    pub total: Accuracy,
    pub questions_total: usize,
    pub questions_seen: usize,
    pub skipped_unknown: usize,
    /// On a model: distinct question words that are no token, pooled through the tokenizer
    /// (`index::phrase`), and the questions evaluated with at least one of them (one whose
    /// expected word is pooled is always missed: a search answers tokens).
    #[serde(skip_serializing_if = "is_zero")]
    pub pooled_words: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub pooled_questions: usize,
    /// Time the evaluation took (vocabulary lookup, scoring, judging), without opening the store.
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<QuestionResult>>,
}

/// The Google set's semantic sections, by name (compute-accuracy.c's `QID <= 5` on that file).
pub const GOOGLE_SEMANTIC: [&str; 5] = [
    "capital-common-countries",
    "capital-world",
    "currency",
    "city-in-state",
    "family",
];

/// The Google set's syntactic sections, by name.
pub const GOOGLE_SYNTACTIC: [&str; 9] = [
    "gram1-adjective-to-adverb",
    "gram2-opposite",
    "gram3-comparative",
    "gram4-superlative",
    "gram5-present-participle",
    "gram6-nationality-adjective",
    "gram7-past-tense",
    "gram8-plural",
    "gram9-plural-verbs",
];

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
    // On a model, a question word that is no token is pooled through the tokenizer as typed
    // in the file; its vector gets an id past the rows. An expected word of several tokens is
    // known, so its question is seen, but a search answers tokens: it is always missed.
    let mut pooled: HashMap<String, u32> = HashMap::new();
    let mut extra: Vec<Vec<f32>> = Vec::new();
    if store.model().is_some() {
        for (s, questions) in folded.iter().enumerate() {
            for (q, words) in questions.iter().enumerate() {
                let typed = &sections[s].questions[q].words;
                for (w, typed) in words.iter().zip(typed) {
                    if vocab.contains_key(w) || pooled.contains_key(w) {
                        continue;
                    }
                    if let Some(unit) = pooled_unit(store, typed, restrict)? {
                        pooled.insert(w.clone(), (store.len() + extra.len()) as u32);
                        extra.push(unit);
                    }
                }
            }
        }
    }
    let lookup = |w: &String| vocab.get(w).or_else(|| pooled.get(w));

    // Questions with all four words known (or pooled), in file order.
    let mut queries = Vec::new();
    let mut which = Vec::new();
    let mut pooled_questions = 0;
    for (s, questions) in folded.iter().enumerate() {
        for (q, words) in questions.iter().enumerate() {
            let [a, b, c, d] = words;
            if let (Some(&a), Some(&b), Some(&c), Some(&d)) =
                (lookup(a), lookup(b), lookup(c), lookup(d))
            {
                pooled_questions +=
                    [a, b, c, d].iter().any(|&id| id as usize >= store.len()) as usize;
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
    let hits = match batch_analogies_until(&rows, &extra, &queries, &batch, progress, cancel) {
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
    // The split is the Google set's: only where every section is one of its sections by name
    // (the first five sections of any other file are not "semantic").
    let google = results.iter().all(|s| {
        GOOGLE_SEMANTIC.contains(&s.name.as_str()) || GOOGLE_SYNTACTIC.contains(&s.name.as_str())
    });
    let group = |names: &[&str]| {
        let picked: Vec<SectionResult> = results
            .iter()
            .filter(|s| names.contains(&s.name.as_str()))
            .cloned()
            .collect();
        sum(&picked)
    };
    let (semantic, syntactic) = match google {
        true => (
            Some(group(&GOOGLE_SEMANTIC)),
            Some(group(&GOOGLE_SYNTACTIC)),
        ),
        false => (None, None),
    };
    let total = sum(&results);
    let questions_total: usize = results.iter().map(|s| s.total).sum();
    Ok(Ok(AnalogyReport {
        embeddings: store.meta().source.clone(),
        questions_file: questions_file.to_path_buf(),
        protocol,
        method: opts.method,
        restrict,
        semantic,
        syntactic,
        total,
        questions_total,
        questions_seen: total.seen,
        skipped_unknown: questions_total - total.seen,
        pooled_words: pooled.len(),
        pooled_questions,
        sections: results,
        seconds: started.elapsed().as_secs_f64(),
        details,
    }))
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The unit vector of a question word pooled through a model's tokenizer; `None` when no
/// known token is left, a token is outside the vocabulary window (`restrict`), or it pools to
/// zero. The index's errors (a tokenizer that changed, rows that cannot be read) stop the
/// evaluation.
pub(super) fn pooled_unit(
    store: &Store,
    word: &str,
    restrict: usize,
) -> anyhow::Result<Option<Vec<f32>>> {
    let phrase = match store.phrase(word) {
        Ok(phrase) if phrase.ids.iter().all(|&id| (id as usize) < restrict) => phrase,
        Ok(_) => return Ok(None),
        Err(crate::index::PhraseError::NoToken(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let norm = phrase
        .vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    Ok((norm > 0.0).then(|| {
        phrase
            .vector
            .iter()
            .map(|&x| (f64::from(x) / norm) as f32)
            .collect()
    }))
}
