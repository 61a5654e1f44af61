//! The clap definitions of `vecsh eval analogy|similarity`, turned into the plain
//! `protocols::EvalCommand` that protocols runs (protocols does not know clap), and the files
//! `--also` names beside FILE.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::protocols::{EvalCommand, Method, Protocol};

/// `vecsh eval …`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum EvalSubcommand {
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
        #[arg(long, value_enum, default_value_t = ProtocolArg::Gensim)]
        protocol: ProtocolArg,
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
        /// Another embedding file evaluated beside FILE, one column each, side by side:
        /// `--also B` or `--also NAME=B` (repeatable). --format, --member, --limit and --index
        /// apply to FILE only.
        #[arg(long = "also", value_name = "[NAME=]FILE")]
        also: Vec<OsString>,
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
        /// Another embedding file evaluated beside FILE, one column each, side by side:
        /// `--also B` or `--also NAME=B` (repeatable). --format, --member, --limit and --index
        /// apply to FILE only.
        #[arg(long = "also", value_name = "[NAME=]FILE")]
        also: Vec<OsString>,
    },
}

impl EvalSubcommand {
    /// `--also`: the other files to evaluate, as given.
    pub fn also(&self) -> &[OsString] {
        match self {
            EvalSubcommand::Analogy { also, .. } | EvalSubcommand::Similarity { also, .. } => also,
        }
    }
}

impl From<EvalSubcommand> for EvalCommand {
    fn from(cmd: EvalSubcommand) -> EvalCommand {
        match cmd {
            EvalSubcommand::Analogy {
                file,
                questions,
                protocol,
                method,
                restrict,
                details,
                also: _,
            } => EvalCommand::Analogy {
                file,
                questions,
                protocol: protocol.into(),
                method,
                restrict,
                details,
            },
            EvalSubcommand::Similarity {
                file,
                pairs,
                restrict,
                also: _,
            } => EvalCommand::Similarity {
                file,
                pairs,
                restrict,
            },
        }
    }
}

/// `--protocol`: whose analogy evaluation to reproduce (`protocols::Protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// gensim 4.4 `evaluate_word_analogies` (restrict 300,000, Unicode upper-casing, top-5 rule).
    Gensim,
    /// word2vec `compute-accuracy.c` (threshold 30,000, ASCII upper-casing, top-1).
    Word2vec,
}

impl From<ProtocolArg> for Protocol {
    fn from(arg: ProtocolArg) -> Protocol {
        match arg {
            ProtocolArg::Gensim => Protocol::Gensim,
            ProtocolArg::Word2vec => Protocol::Word2vec,
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
