//! One `eval` request run on an open store: the request, its report, and the run.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::{
    evaluate_analogies_until, evaluate_similarity, load_pairs, load_questions, AnalogyOptions,
    AnalogyReport, Interrupted, Method, Protocol, SimilarityOptions, SimilarityReport,
};
use crate::index::Store;
use crate::progress::Progress;

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
