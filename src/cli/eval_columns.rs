//! `vecsh eval analogy|similarity FILE --also B`: every file opened as a space (named from its
//! file, or `NAME=`; one file given twice is one store), evaluated alike, the reports written
//! side by side or as one JSON object.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::eval::spaces::name_from_path;
use crate::index::Store;
use crate::protocols::{run_columns, EvalCommand};
use crate::settings::Resolved;

/// Opens FILE and every `--also` file, evaluates `cmd` on each and writes the columns.
pub(super) fn eval_columns(resolved: &Resolved, cmd: &EvalCommand) -> anyhow::Result<i32> {
    let (first, _) = resolved.open_store()?;
    let other = resolved.open_other();
    let progress = resolved.progress();
    // Each space: its name and which store (0: FILE's, then the others in order).
    let mut names = vec![resolved.source_name()];
    let mut of = vec![0usize];
    let mut dirs = vec![first.dir().to_path_buf()];
    let mut opened: Vec<Store> = Vec::new();
    for (name, path) in &resolved.also {
        let shown = match name {
            Some(name) => format!("{name}={}", crate::text::escape_path(path)),
            None => crate::text::escape_path(path),
        };
        let name = match name {
            Some(name) if names.contains(name) => anyhow::bail!(
                "--also {shown}: a space named '{name}' is open already; choose another NAME="
            ),
            Some(name) => name.clone(),
            None => free_name(&names, &name_from_path(path)),
        };
        let file = crate::loader::primary_file(path, &other.load);
        let dir = crate::index::index_dir_for(&file, &other).ok();
        let known = dir
            .as_deref()
            .and_then(|d| dirs.iter().position(|x| same_dir(x, d)));
        let store = match known {
            Some(i) => i,
            None => {
                let (store, _) = Store::open(&file, &other, progress.as_ref())
                    .with_context(|| format!("--also {shown}"))?;
                dirs.push(store.dir().to_path_buf());
                opened.push(store);
                opened.len()
            }
        };
        names.push(name);
        of.push(store);
    }
    let store = |i: usize| if i == 0 { &first } else { &opened[i - 1] };
    let spaces: Vec<(String, &Store)> = names
        .into_iter()
        .zip(&of)
        .map(|(name, &i)| (name, store(i)))
        .collect();
    let columns = run_columns(cmd, &spaces, progress.as_ref())?;
    write_report(resolved, &columns, |r| r.eval_columns(&columns))?;
    Ok(0)
}

/// An evaluation's report on stdout: one JSON object with --json, else its text.
pub(super) fn write_report<T: serde::Serialize>(
    resolved: &Resolved,
    report: &T,
    text: impl FnOnce(&crate::render::Renderer) -> String,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if resolved.output.json {
        let json = serde_json::to_string(report)?;
        writeln!(out, "{}", crate::text::json_safe(json))?;
    } else {
        writeln!(out, "{}", text(&resolved.output.renderer))?;
    }
    Ok(())
}

/// `name`, or `name-2`, `name-3`, …: the first that `taken` does not hold.
fn free_name(taken: &[String], name: &str) -> String {
    if !taken.iter().any(|t| t == name) {
        return name.to_string();
    }
    (2..)
        .map(|n| format!("{name}-{n}"))
        .find(|n| !taken.contains(n))
        .expect("some number is free")
}

/// Whether two index directories are one (by path, or once resolved).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok() && a.exists()
}
