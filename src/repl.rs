//! The interactive session: a rustyline editor (history, completion, hints, highlighting, see
//! `line`) around the statement runner (`runner`, which answers every line as scripts have
//! it answered); what it builds in the background (the structure `:exact off` asks for, and by
//! itself what makes exact search fast) is in `builds`.

mod builds;
pub mod line;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use owo_colors::Style;
use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{ColorMode, CompletionType, Config, Editor};

use crate::commands::Command;
use crate::eval::SearchMode;
use crate::index::{self, Origin, Store};
use crate::parse;
use crate::render::help::{visible_width, wrap};
use crate::render::{seconds, thousands};
use crate::runner::{Runner, Step};
use crate::settings::{Resolved, Source};
use crate::text::{escape, escape_path};
use builds::ForestJob;
use line::LineHelper;

const PROMPT: &str = "> ";
/// The prompt of a line that continues a statement with a parenthesis still open.
pub const CONTINUATION: &str = "... ";
/// Lines kept in the history file; older ones are dropped.
const HISTORY_SIZE: usize = 10_000;

type LineEditor<'s> = Editor<LineHelper<'s>, FileHistory>;
/// rustyline's printer for messages from other threads while the prompt waits.
type Printer = Box<dyn rustyline::ExternalPrinter + Send>;

fn printer(rl: &mut LineEditor) -> Option<Printer> {
    rl.create_external_printer()
        .ok()
        .map(|p| Box::new(p) as Printer)
}

/// Runs an interactive session until `:quit` or Ctrl-D; returns the exit code.
pub fn run(mut resolved: Resolved) -> anyhow::Result<i32> {
    // Writable, so that `:exact off` can build the forest while the session goes on.
    resolved.open.writable = true;
    // An index the stat proof stands for opens at once; it is verified behind the prompt, and
    // every answer waits for that verification (`Repl::damage`).
    resolved.open.verify = index::Verify::Background;
    // Statements that found the index damaged, run again on the rebuilt one.
    let mut pending: Option<Vec<String>> = None;
    loop {
        let started = Instant::now();
        let (store, origin) = match resolved.open_store() {
            Ok(opened) => opened,
            // An index in a read-only place still answers; it just can't get a forest.
            Err(e) if is_permission_error(&e) => {
                resolved.open.writable = false;
                resolved.open_store()?
            }
            Err(e) => return Err(e),
        };
        let ready = started.elapsed();
        // A model's tokenizer is parsed behind the prompt, ready for the first phrase.
        store.warm_encoder();
        let mut repl = Repl::new(&store, &resolved);
        repl.runner.open_also(&resolved)?;
        if pending.is_none() {
            println!("{}", repl.banner(origin, ready));
        }
        let result = repl.interact(pending.take().unwrap_or_default());
        repl.stop_forest();
        match result? {
            Ended::Quit(code) => return Ok(code),
            Ended::Rebuild(rest) => {
                pending = Some(rest);
                resolved.open.rebuild = true;
            }
        }
    }
}

/// How a session's prompt loop ended.
enum Ended {
    Quit(i32),
    /// The background verification found the index damaged: it is rebuilt and these
    /// statements run on the new one.
    Rebuild(Vec<String>),
}

fn is_permission_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            )
        })
    })
}

/// The history file: `$VECSH_HISTORY`, else `history` in the XDG data directory
/// (`~/.local/share/vecsh/history`).
pub fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VECSH_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    directories::ProjectDirs::from("", "", "vecsh").map(|d| d.data_dir().join("history"))
}

/// What to do after a line.
enum Flow {
    Continue,
    Quit,
    /// `:exact off` without a forest: build it in the background.
    BuildForest,
    /// `:background on|off` ran: start or stop the session's own build.
    Background,
    /// Ctrl-C: the rest of a pasted input is dropped too.
    Interrupted,
    /// The statement read damage (nothing was written): the index is rebuilt and the
    /// statement run again on it.
    Damaged(String),
}

struct Repl<'s> {
    store: &'s Store,
    /// Runs each statement and writes its result.
    runner: Runner<'s>,
    /// The source as the banner and `:info` name it.
    source: SourceName,
    forest: Option<ForestJob>,
    /// A build the session started by itself was stopped (`:background off`): a later
    /// `:background on` starts it again.
    stopped: bool,
    /// Whether searches use the forest (`:exact off`), for the build thread's announcement.
    approx: Arc<AtomicBool>,
    history: Option<PathBuf>,
    /// A history write failed: said once, not on every line.
    history_warned: bool,
}

enum SourceName {
    Builtin,
    File(PathBuf),
}

impl<'s> Repl<'s> {
    fn new(store: &'s Store, resolved: &Resolved) -> Repl<'s> {
        let source = match &resolved.source {
            Source::Builtin => SourceName::Builtin,
            // A model directory is shown by its name, as typed, not by its safetensors file.
            Source::File(path) => SourceName::File(resolved.typed.clone().unwrap_or(path.clone())),
        };
        let mut runner = Runner::new(store, resolved, true);
        if runner.renderer().width == 0 {
            // A pseudo-terminal nobody sized reports 0 columns.
            runner.set_width(80);
        }
        Repl {
            store,
            runner,
            source,
            forest: None,
            stopped: false,
            approx: Arc::new(AtomicBool::new(
                resolved.settings.mode == SearchMode::Approx,
            )),
            history: history_path(),
            history_warned: false,
        }
    }

    fn banner(&self, origin: Origin, ready: Duration) -> String {
        let what = match &self.source {
            SourceName::Builtin => format!(
                "built-in GloVe 6B 50d, {} words",
                thousands(self.store.len())
            ),
            SourceName::File(path) => {
                // `.` is shown by its space's name (the directory it stands for); escaped: a
                // file name is text from outside, as any word.
                let name = path.file_name().map_or_else(
                    || escape(self.runner.session().spaces().name(0)).into_owned(),
                    |n| crate::text::escape_path(Path::new(n)),
                );
                let noun = self.store.meta().row_noun();
                format!("{name}, {} {noun}", thousands(self.store.len()))
            }
        };
        let how = match origin {
            Origin::Built => "index built now",
            Origin::Reused => "index reused",
            Origin::Waited => "index built by another process",
        };
        let r = self.runner.renderer();
        let first = format!(
            "{} {} {what} × {} dims, ready in {} ({how})",
            r.style(
                &format!("vecsh {}", env!("CARGO_PKG_VERSION")),
                Style::new().bold()
            ),
            r.style("—", Style::new().dimmed()),
            self.store.dims(),
            seconds(ready),
        );
        // Broken at word boundaries on a narrow terminal, the hints at their separators.
        let width = r.width.max(40);
        let mut lines = wrap(&first, width);
        let mut hints: Vec<String> = Vec::new();
        for hint in [
            ":help lists commands with live examples",
            "Tab completes words",
            "Ctrl-D quits",
        ] {
            match hints.last_mut() {
                Some(last) if visible_width(last) + 3 + hint.len() <= width => {
                    last.push_str(" · ");
                    last.push_str(hint);
                }
                _ => hints.push(hint.to_string()),
            }
        }
        lines.extend(
            hints
                .iter()
                .flat_map(|h| wrap(h, width))
                .map(|h| r.style(&h, Style::new().dimmed())),
        );
        lines.join("\n")
    }

    /// `> `, or with several spaces open the active one's name before it (`glove> `).
    fn prompt(&self) -> String {
        let spaces = self.runner.session().spaces();
        if spaces.len() > 1 {
            format!("{}{PROMPT}", escape(spaces.active_name()))
        } else {
            PROMPT.to_string()
        }
    }

    /// The read-eval-print loop; `pending` statements run first.
    fn interact(&mut self, pending: Vec<String>) -> anyhow::Result<Ended> {
        let config = Config::builder()
            .max_history_size(HISTORY_SIZE)?
            .history_ignore_dups(true)?
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            // Hints and highlighting are colour; with colour off the editor stays plain.
            .color_mode(if self.runner.renderer().color {
                ColorMode::Forced
            } else {
                ColorMode::Disabled
            })
            .build();
        let mut rl: LineEditor<'s> = Editor::with_config(config)?;
        rl.set_helper(Some(LineHelper::new(
            self.store,
            self.runner.renderer().color,
        )));
        self.load_history(&mut rl);
        self.watch_verification(printer(&mut rl));
        for (i, statement) in pending.iter().enumerate() {
            if let Some(ended) = self.damaged(&pending[i..]) {
                return Ok(ended);
            }
            match self.line(statement)? {
                Flow::Quit => return Ok(Ended::Quit(0)),
                Flow::Interrupted => break,
                Flow::Damaged(what) => return Ok(self.rebuild(&what, &pending[i..])),
                Flow::BuildForest => self.start_forest(printer(&mut rl)),
                Flow::Background => self.background_changed(printer(&mut rl)),
                Flow::Continue => {}
            }
        }
        if self.runner.session().settings.mode == SearchMode::Approx && self.wants_forest() {
            // `--approx` on the command line asks for the forest from the start.
            self.start_forest(printer(&mut rl));
        }
        // On a file where it pays, what makes exact search fast, once the index is verified.
        self.start_background(printer(&mut rl));
        loop {
            self.announce_forest();
            if let Some(helper) = rl.helper_mut() {
                // The spaces `--also`, `:open` and `:use` made: completed from and looked up in.
                let spaces = self.runner.session().spaces();
                helper.set_spaces(spaces.handles(), spaces.active());
            }
            let prompt = self.prompt();
            let mut line = match rl.readline(&prompt) {
                Ok(line) => line,
                // Ctrl-C drops the line being edited, not the session.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    self.save_history(&mut rl);
                    return Err(e.into());
                }
            };
            // An open parenthesis: the statement goes on under the continuation prompt.
            let mut cancelled = false;
            while parse::is_incomplete(&line) {
                match rl.readline(CONTINUATION) {
                    Ok(more) => {
                        line.push('\n');
                        line.push_str(&more);
                    }
                    // Ctrl-C drops the whole statement.
                    Err(ReadlineError::Interrupted) => {
                        cancelled = true;
                        break;
                    }
                    // Ctrl-D runs what was typed (the parser says what is missing).
                    Err(ReadlineError::Eof) => break,
                    Err(e) => {
                        self.save_history(&mut rl);
                        return Err(e.into());
                    }
                }
            }
            if cancelled {
                continue;
            }
            // Above the answer that may be the first to use the forest.
            self.announce_forest();
            if !line.trim().is_empty() {
                let _ = rl.add_history_entry(line.as_str());
                // Written at once, so an error or a crash later loses nothing.
                self.save_history(&mut rl);
            }
            let mut quit = false;
            let all = statements(&line);
            for (i, statement) in all.iter().enumerate() {
                if let Some(ended) = self.damaged(&all[i..]) {
                    self.save_history(&mut rl);
                    return Ok(ended);
                }
                match self.line(statement)? {
                    Flow::Continue => {}
                    Flow::Quit => quit = true,
                    Flow::BuildForest => self.start_forest(printer(&mut rl)),
                    Flow::Background => self.background_changed(printer(&mut rl)),
                    Flow::Interrupted => break,
                    Flow::Damaged(what) => {
                        self.save_history(&mut rl);
                        return Ok(self.rebuild(&what, &all[i..]));
                    }
                }
                if quit {
                    break;
                }
            }
            if quit {
                break;
            }
            if let Some(helper) = rl.helper_mut() {
                helper.vars = self
                    .runner
                    .session()
                    .var_names()
                    .map(str::to_string)
                    .collect();
            }
        }
        self.save_history(&mut rl);
        Ok(Ended::Quit(0))
    }

    // ---------------------------------------------------------------------------- trust

    /// Before a statement: the damage already found in the index (a `:` command waits for the
    /// background verification, if it still runs; any other statement verifies what it reads
    /// as it reads it, `Store::damage_found` after it). On damage, says so and ends the loop
    /// so that the index is rebuilt and `rest` runs on the new one.
    fn damaged(&self, rest: &[String]) -> Option<Ended> {
        let command = rest
            .first()
            .is_some_and(|s| s.trim_start().starts_with(':'));
        let what = match command {
            true => self.store.await_verified(),
            false => self.store.damage_found(),
        }?;
        Some(self.rebuild(&what, rest))
    }

    /// Says that the index is damaged and ends the loop so that it is rebuilt and `rest` runs
    /// on the new one.
    fn rebuild(&self, what: &str, rest: &[String]) -> Ended {
        eprintln!(
            "{}",
            self.runner.renderer().style(
                &format!(
                    "index {} is damaged ({what}); rebuilding it (this session's named results \
                     and settings start anew)",
                    escape_path(self.store.dir())
                ),
                Style::new().yellow()
            )
        );
        Ended::Rebuild(rest.to_vec())
    }

    /// Says, above the waiting prompt, what the background verification found if it finds
    /// damage (without a printer, the next statement says it).
    fn watch_verification(&self, printer: Option<Printer>) {
        let (Some(verification), Some(mut printer)) =
            (self.store.background_verification(), printer)
        else {
            return;
        };
        let (renderer, dir) = (
            self.runner.renderer().clone(),
            escape_path(self.store.dir()),
        );
        std::thread::spawn(move || {
            if let Some(what) = verification.wait() {
                let message = format!(
                    "warning: index {dir} is damaged ({what}); it is rebuilt before the next answer"
                );
                let _ = printer.print(format!(
                    "{}\n",
                    renderer.style(&message, Style::new().yellow())
                ));
            }
        });
    }

    /// Runs one statement.
    fn line(&mut self, line: &str) -> anyhow::Result<Flow> {
        // The terminal may have been resized since the last line.
        if let Some((w, _)) = terminal_size::terminal_size().filter(|(w, _)| w.0 > 0) {
            self.runner.set_width(w.0 as usize);
        }
        let forest = &self.forest;
        let building = || {
            forest
                .as_ref()
                .filter(|job| !job.finished())
                .map(ForestJob::progress)
        };
        let step = self
            .runner
            .run(line, None, &mut std::io::stdout(), &building)?;
        Ok(match step {
            Step::Quit => Flow::Quit,
            Step::Interrupted => Flow::Interrupted,
            Step::Damaged(what) => Flow::Damaged(what),
            Step::Ran {
                ok: true,
                command: Some(Command::Exact),
            } if self.runner.session().settings.mode == SearchMode::Approx
                && self.wants_forest() =>
            {
                Flow::BuildForest
            }
            Step::Ran {
                ok: true,
                command: Some(Command::Background),
            } => Flow::Background,
            Step::Ran { .. } => Flow::Continue,
        })
    }

    fn note(&self, message: &str) {
        println!(
            "{}",
            self.runner.renderer().style(message, Style::new().yellow())
        );
    }

    // ---------------------------------------------------------------------------- history

    fn load_history(&mut self, rl: &mut LineEditor<'s>) {
        let Some(path) = &self.history else { return };
        if let Err(e) = rl.load_history(path) {
            let missing =
                matches!(&e, ReadlineError::Io(io) if io.kind() == std::io::ErrorKind::NotFound);
            if !missing {
                self.note(&format!("cannot read the history {}: {e}", path.display()));
            }
        }
    }

    fn save_history(&mut self, rl: &mut LineEditor<'s>) {
        let Some(path) = self.history.clone() else {
            return;
        };
        if rl.history().is_empty() {
            return;
        }
        let saved = ensure_parent(&path)
            .map_err(ReadlineError::Io)
            .and_then(|()| rl.append_history(&path));
        if let Err(e) = saved {
            if !self.history_warned {
                self.history_warned = true;
                self.note(&format!(
                    "cannot save the history to {}: {e}",
                    path.display()
                ));
            }
        }
    }
}

/// The statements of one input. An input holds several lines when an open parenthesis
/// continued it, or when several lines were pasted at once: lines are joined only while a
/// parenthesis is open, so that pasted lines still run one by one.
fn statements(input: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in input.split('\n') {
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
        if !parse::is_incomplete(&current) {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn ensure_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_split_into_statements_unless_a_parenthesis_is_open() {
        assert_eq!(statements("king"), ["king"]);
        assert_eq!(statements("king\nqueen"), ["king", "queen"]);
        assert_eq!(
            statements("sim(king,\nqueen)\nman"),
            ["sim(king,\nqueen)", "man"]
        );
        assert_eq!(statements("sim(king,\n"), ["sim(king,\n"]);
    }
}
