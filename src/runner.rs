//! The statement runner: one line of the session, a script, `-e` or a pipe, run the same way
//! by every front-end.

pub mod interrupt;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::parse;
use crate::progress::Silent;
use crate::protocols::{run_eval_until, EvalCommand, Interrupted, Protocol};
use crate::render::help::View;
use crate::text::escape;

/// What `:eval` did: a report, or a stop at Ctrl-C (both rendered).
pub enum EvalOutcome {
    Report(String),
    Interrupted(String),
}

/// `:eval analogy [QUESTIONS|google]` or `:eval similarity PAIRS` on the session's vocabulary:
/// the report `vecsh eval` shows (gensim's protocol, the session's `:method` and `:restrict`).
/// Here in the front-end, not in the evaluator: `protocols` uses the evaluator's types, and
/// two modules never import each other. The scan checks `cancel` as it goes. `Err` is the
/// error as text (escaped).
pub fn eval_command(view: &View, args: &str, cancel: &AtomicBool) -> Result<EvalOutcome, String> {
    let usage = "write :eval analogy [QUESTIONS|google] or :eval similarity PAIRS";
    let args = args.trim();
    let (kind, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let rest = rest.trim();
    let path = match parse::leading_quoted(rest) {
        Ok(Some((path, end))) if rest[end..].trim().is_empty() => Some(PathBuf::from(path)),
        Ok(None) if rest.is_empty() => None,
        Ok(None) if !rest.contains(char::is_whitespace) => Some(PathBuf::from(rest)),
        Ok(_) => {
            return Err(format!(
                "error: one file after :eval {} (quote a name with blanks); {usage}",
                escape(kind)
            ))
        }
        Err(e) => return Err(format!("error: {}; {usage}", escape(&e.message))),
    };
    let file = view.store.meta().source.clone();
    let settings = view.settings;
    let cmd = match (kind, path) {
        ("analogy", questions) => EvalCommand::Analogy {
            file,
            questions,
            protocol: Protocol::Gensim,
            method: settings.method,
            restrict: settings.restrict,
            details: false,
        },
        ("similarity", Some(pairs)) => EvalCommand::Similarity {
            file,
            pairs,
            restrict: settings.restrict.unwrap_or(300_000),
        },
        ("similarity", None) => {
            return Err(format!(
                "error: :eval similarity needs a word pairs file; {usage}"
            ))
        }
        (other, _) => {
            return Err(format!(
                "error: unknown evaluation '{}'; {usage}",
                escape(other)
            ))
        }
    };
    let started = Instant::now();
    match run_eval_until(&cmd, view.store, &Silent, cancel) {
        Ok(Ok(report)) => Ok(EvalOutcome::Report(view.renderer.report(&report))),
        Ok(Err(Interrupted)) => Ok(EvalOutcome::Interrupted(
            view.renderer
                .interrupted_evaluation(&format!(":eval {kind}"), started.elapsed()),
        )),
        Err(e) => Err(format!("error: {}", escape(&format!("{e:#}")))),
    }
}
