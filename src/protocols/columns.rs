//! Several embedding files evaluated side by side (`vecsh eval analogy|similarity A --also B`):
//! the questions or pairs read once, each file's report exactly as it alone would give it, one
//! column per file.

use std::sync::atomic::AtomicBool;

use anyhow::Context;
use serde::Serialize;

use super::run::Input;
use super::{EvalCommand, Report};
use crate::index::Store;
use crate::progress::Progress;

/// One file's column: the name of its space and its report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub space: String,
    pub report: Report,
}

/// The reports of several files, in the order the files were given; `"kind": "columns"` in
/// JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename = "columns")]
pub struct Columns {
    /// `"analogy"` or `"similarity"`.
    pub eval: &'static str,
    pub columns: Vec<Column>,
}

/// Evaluates `cmd` on each named store in turn, as [`super::run_eval`] does on one; a store
/// named twice (one file given twice) is evaluated once. A file whose evaluation fails fails
/// the whole, its error naming the space and its file.
pub fn run_columns(
    cmd: &EvalCommand,
    spaces: &[(String, &Store)],
    progress: &dyn Progress,
) -> anyhow::Result<Columns> {
    let input = Input::load(cmd)?;
    let never = AtomicBool::new(false);
    let mut columns: Vec<Column> = Vec::with_capacity(spaces.len());
    for (i, (name, store)) in spaces.iter().enumerate() {
        let same = spaces[..i]
            .iter()
            .position(|(_, other)| std::ptr::eq(*other, *store));
        let report = match same {
            Some(j) => columns[j].report.clone(),
            None => input
                .run(cmd, store, progress, &never)
                .and_then(|r| r.map_err(|_| anyhow::anyhow!("interrupted")))
                .with_context(|| {
                    format!(
                        "{name} ({})",
                        crate::text::escape_path(&store.meta().source)
                    )
                })?,
        };
        columns.push(Column {
            space: name.clone(),
            report,
        });
    }
    Ok(Columns {
        eval: match cmd {
            EvalCommand::Analogy { .. } => "analogy",
            EvalCommand::Similarity { .. } => "similarity",
        },
        columns,
    })
}
