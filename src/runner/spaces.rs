//! Opening further spaces: `--also` and `:open FILE [as NAME]`, a file's own space or a
//! member of a zip (`ZIP::MEMBER`), opened on a thread a Ctrl-C leaves building.

use std::path::{Path, PathBuf};

use crate::ast::Span;
use crate::eval::{EvalError, Value};
use crate::index::Store;
use crate::settings::Resolved;

use super::{detach, interrupt, Runner};

impl Runner<'_> {
    /// Opens the spaces of `--also` beside the source (none active); a name that is no name or
    /// is taken, or a file that does not open, fails the run.
    pub fn open_also(&mut self, resolved: &Resolved) -> anyhow::Result<()> {
        for (name, path) in &resolved.also {
            if let Some(name) = name {
                self.session
                    .check_space_name(name, Span::default())
                    .map_err(|e| anyhow::anyhow!("--also {name}=…: {}", e.message))?;
            }
            self.add_space(name.clone(), path.clone(), false)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        }
        Ok(())
    }

    /// Opens `path` as a new space (or names the open store of the same file again).
    fn add_space(
        &mut self,
        mut name: Option<String>,
        path: PathBuf,
        activate: bool,
    ) -> anyhow::Result<Value> {
        // `ZIP::MEMBER`: one member of an archive (FILE's is `--member`).
        let mut opts = self.other.clone();
        let source = match split_member(&path) {
            Some((zip, member)) => {
                let stem = crate::eval::spaces::name_from_path(Path::new(&member));
                let name_free = self.session.spaces().free_name(&stem);
                name.get_or_insert(name_free);
                opts.load.member = Some(member);
                zip
            }
            None => path.clone(),
        };
        let opts = &opts;
        // A model directory opens through its safetensors file, as the source does.
        let file = crate::loader::primary_file(&source, &opts.load);
        let (open, key) = self
            .session
            .space_of_file(&file, opts)
            .map_err(anyhow::Error::msg)?;
        let store = match open {
            Some(i) => Err(i),
            None => {
                let progress: Box<dyn crate::progress::Progress + Send> = if self.progress_quiet {
                    Box::new(crate::progress::Quiet)
                } else {
                    Box::new(crate::progress::Bars::new())
                };
                let store = if self.interactive {
                    // Ctrl-C: back to the prompt at once, the space not opened.
                    let opened = detach::open_until(&file, opts, progress, interrupt::flag())
                        .map_err(|e| member_hint(e.into(), &source))?;
                    let Some((store, _)) = opened else {
                        anyhow::bail!(
                            "{} not opened; its index goes on building in the background and is kept for the next :open",
                            crate::text::escape_path(&path)
                        );
                    };
                    store
                } else {
                    Store::open(&file, opts, progress.as_ref())
                        .map_err(|e| member_hint(e.into(), &source))?
                        .0
                };
                Ok((store, key))
            }
        };
        Ok(self.session.add_space(name, path, store, activate))
    }

    /// `:open FILE [as NAME]`.
    pub(super) fn open_command(&mut self, args: &str, args_span: Span) -> Result<Value, EvalError> {
        let (file, file_span, name) = self.session.open_args(args, args_span)?;
        self.add_space(name, home_expanded(&file), true)
            .map_err(|e| EvalError {
                message: format!("{e:#}"),
                span: Some(file_span),
                help: None,
                also: Vec::new(),
            })
    }
}

/// A path typed in a line: a leading `~/` is the home directory, as in a shell.
fn home_expanded(file: &str) -> PathBuf {
    match (file.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if !home.is_empty() => PathBuf::from(home).join(rest),
        _ => PathBuf::from(file),
    }
}

/// `ZIP::MEMBER` split into the archive and its member, when the whole is no file and the part
/// before the first `::` is one.
fn split_member(path: &Path) -> Option<(PathBuf, String)> {
    if path.exists() {
        return None;
    }
    let text = path.to_str()?;
    let (zip, member) = text.split_once("::")?;
    (Path::new(zip).is_file() && !member.is_empty())
        .then(|| (PathBuf::from(zip), member.to_string()))
}

/// An archive of several embedding files opened beside FILE: how to name one (`--member` is
/// FILE's alone).
fn member_hint(e: anyhow::Error, zip: &Path) -> anyhow::Error {
    let message = format!("{e:#}");
    let Some((_, members)) = message.split_once("choose one with --member: ") else {
        return e;
    };
    let first = members.split(", ").next().unwrap_or("MEMBER");
    let zip = crate::text::escape_path(zip);
    anyhow::anyhow!(
        "{message}; beside FILE name one as ZIP::MEMBER, e.g. --also {zip}::{first} or :open {zip}::{first}"
    )
}
