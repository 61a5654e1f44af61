//! The settings a run starts with, resolved from the command line: where the vectors come from,
//! how the index is opened, the evaluator's settings and how results are written.
//!
//! `cli` fills them in from its flags and every run mode (`-e`, scripts, pipes, the interactive
//! session in `repl`, the subcommands) reads them from here, so the front-end modules depend on
//! this one and not on each other. A new setting goes into the struct it belongs to:
//! what the evaluator needs into `eval::Settings`, what changes how the index is opened into
//! `OpenOptions`, what changes the output into `Output`; `cli::resolve` sets it from its flag.

use std::path::PathBuf;

use crate::embedded;
use crate::eval::Settings;
use crate::index::{OpenOptions, Origin, Store, Verify};
use crate::progress::{Bars, Progress, Quiet};
use crate::render::Renderer;

/// Where the vectors come from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Builtin,
}

/// How results are written.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// One JSON object per result on stdout instead of text.
    pub json: bool,
    pub renderer: Renderer,
    /// No progress bars.
    pub quiet: bool,
    /// `--svg FILE`: every map is also written as an SVG picture (see `svgfiles`).
    pub svg: Option<PathBuf>,
}

/// The command line resolved into what the run modes need.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub source: Source,
    /// FILE as it was typed (a model directory, where `source` is its safetensors file):
    /// what names the source's space and what `:use` shows.
    pub typed: Option<PathBuf>,
    /// `--also [NAME=]FILE`: more spaces opened beside the source, each with the default load
    /// options (`--format`, `--member`, `--limit`, `--index` are the source's alone).
    pub also: Vec<(Option<String>, PathBuf)>,
    pub open: OpenOptions,
    pub settings: Settings,
    pub output: Output,
}

impl Resolved {
    /// Progress bars on stderr, or only notes when quiet.
    pub fn progress(&self) -> Box<dyn Progress> {
        if self.output.quiet {
            Box::new(Quiet)
        } else {
            Box::new(Bars::new())
        }
    }

    /// How another space's file is opened (`--also`, `:open`): as the source, but with the load
    /// options and the index directory that name one file left at their defaults, and verified
    /// before it answers.
    pub fn open_other(&self) -> OpenOptions {
        OpenOptions {
            index_dir: None,
            load: Default::default(),
            rebuild: false,
            // A session verifies its FILE's index behind the prompt, and its answers wait for
            // that (`Store::await_verified`); another space's index is verified when opened.
            verify: match self.open.verify {
                Verify::Background => Verify::Full,
                other => other,
            },
            ..self.open.clone()
        }
    }

    /// The name of the source's space: its file's, or `builtin`.
    pub fn source_name(&self) -> String {
        match &self.source {
            Source::File(path) => {
                crate::eval::spaces::name_from_path(self.typed.as_deref().unwrap_or(path))
            }
            Source::Builtin => "builtin".to_string(),
        }
    }

    /// Opens (building if needed) the store for the source.
    pub fn open_store(&self) -> anyhow::Result<(Store, Origin)> {
        let path = match &self.source {
            Source::File(path) => path.clone(),
            Source::Builtin => embedded::materialize()?,
        };
        let progress = self.progress();
        Ok(Store::open(&path, &self.open, progress.as_ref())?)
    }
}
