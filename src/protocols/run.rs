//! One `eval` request run on an open store: the request, its report, and the run.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::{
    evaluate_analogies_until, evaluate_similarity, load_pairs, load_questions, AnalogyOptions,
    AnalogyReport, Interrupted, Method, Pair, Protocol, Section, SimilarityOptions,
    SimilarityReport,
};
use crate::index::Store;
use crate::progress::Progress;

/// An `eval` request (`vecsh eval …` and the session's `:eval` build one).
#[derive(Debug, Clone)]
pub enum EvalCommand {
    /// Word analogies (questions-words format): per-section accuracy as gensim or word2vec
    /// compute it.
    Analogy {
        /// Embedding file.
        file: PathBuf,
        /// Questions: `: section` lines, then `a b c d` lines. `None` (or `google`): the Google
        /// analogy set, built in.
        questions: Option<PathBuf>,
        /// Whose evaluation to reproduce.
        protocol: Protocol,
        /// Analogy method: 3CosAdd or 3CosMul.
        method: Method,
        /// Use only the first N words (`None`: the protocol's default).
        restrict: Option<usize>,
        /// List every question with the protocol's answer.
        details: bool,
    },
    /// Word similarity: Pearson and Spearman correlation of cosine with the human scores.
    Similarity {
        /// Embedding file.
        file: PathBuf,
        /// Word pairs with human scores.
        pairs: PathBuf,
        /// Use only the first N words.
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

/// What `vecsh eval` produces; serialises with a `"kind"` tag for `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Report {
    Analogy(AnalogyReport),
    Similarity(SimilarityReport),
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
    Input::load(cmd)?.run(cmd, store, progress, cancel)
}

/// What an evaluation reads besides the embeddings: the questions or the word pairs, read once
/// however many files they are asked of (`vecsh eval … --also`).
pub(super) enum Input {
    Questions(Vec<Section>, PathBuf),
    Pairs(Vec<Pair>),
}

impl Input {
    /// Reads the questions (or the built-in Google set) or the word pairs `cmd` names.
    pub(super) fn load(cmd: &EvalCommand) -> anyhow::Result<Input> {
        Ok(match cmd {
            EvalCommand::Analogy { questions, .. } => {
                let (sections, path) = load_questions(questions.as_deref())?;
                Input::Questions(sections, path)
            }
            EvalCommand::Similarity { pairs, .. } => Input::Pairs(load_pairs(pairs)?),
        })
    }

    /// Evaluates `cmd` on one store with this input.
    pub(super) fn run(
        &self,
        cmd: &EvalCommand,
        store: &Store,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> anyhow::Result<Result<Report, Interrupted>> {
        match (cmd, self) {
            (
                EvalCommand::Analogy {
                    protocol,
                    method,
                    restrict,
                    details,
                    ..
                },
                Input::Questions(sections, path),
            ) => {
                let opts = AnalogyOptions {
                    protocol: *protocol,
                    method: *method,
                    restrict: *restrict,
                    details: *details,
                };
                Ok(
                    evaluate_analogies_until(store, sections, path, &opts, progress, cancel)?
                        .map(Report::Analogy),
                )
            }
            (
                EvalCommand::Similarity {
                    pairs, restrict, ..
                },
                Input::Pairs(list),
            ) => {
                let opts = SimilarityOptions {
                    restrict: *restrict,
                };
                // A thousand pairs: done before a Ctrl-C could matter.
                Ok(Ok(Report::Similarity(evaluate_similarity(
                    store, list, pairs, &opts,
                )?)))
            }
            _ => anyhow::bail!("the evaluation's input was read for another evaluation"),
        }
    }
}
