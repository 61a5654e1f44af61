//! The interactive session: a rustyline editor (history, completion, hints, highlighting, see
//! `line`) around the statement runner (`runner`, which answers every line as scripts have
//! it answered), and what it builds in the background: the approximate-search structure when
//! `:exact off` asks for it, and by itself, on a file where it pays, what makes exact search
//! fast (issue 28: the lists with their cells; `--no-background`, `:background off` opt out).

pub mod line;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use owo_colors::Style;
use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{ColorMode, CompletionType, Config, Editor};

use crate::commands::Command;
use crate::eval::SearchMode;
use crate::index::{self, ApproxKind, Built, IndexError, Origin, Store};
use crate::parse;
use crate::progress::{Progress, Unit};
use crate::render::help::{visible_width, wrap};
use crate::render::{seconds, thousands, Renderer};
use crate::runner::{Runner, Step};
use crate::settings::{Resolved, Source};
use crate::text::{escape, escape_path};
use line::LineHelper;

const PROMPT: &str = "> ";
/// The prompt of a line that continues a statement with a parenthesis still open.
pub const CONTINUATION: &str = "... ";
/// Lines kept in the history file; older ones are dropped.
const HISTORY_SIZE: usize = 10_000;
/// How long exit waits for a cancelled forest build to notice before leaving it behind (the
/// build commits nothing unless it completes, so leaving it is safe).
const CANCEL_WAIT: Duration = Duration::from_secs(2);

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

    // ---------------------------------------------------------------------------- forest

    /// Whether a build of the approximate structure the settings name should start: none yet,
    /// none running.
    fn wants_forest(&self) -> bool {
        let kind = self.runner.session().settings.approx.kind;
        // A finished build of the other kind (the session's own lists, when `--forest` asks
        // for the forest) leaves room for this one.
        let other_done = self
            .forest
            .as_ref()
            .is_some_and(|job| job.finished() && job.kind != kind);
        (self.forest.is_none() || other_done)
            && !self
                .store
                .approx_ready(self.runner.session().settings.approx.kind)
    }

    /// Starts the build on its own thread. With `printer` (rustyline's external printer; none
    /// when the terminal has no raw mode), the thread announces the outcome the moment it has
    /// it, above the waiting prompt; without, `announce_forest` does at the next line.
    fn start_forest(&mut self, printer: Option<Printer>) {
        let kind = self.runner.session().settings.approx.kind;
        // A finished build of the other kind is announced first (it leaves the slot).
        self.announce_forest();
        let what = approx_name(kind);
        let builder = match self.store.approx_builder() {
            Ok(b) => b,
            Err(IndexError::ReadOnly) => {
                self.note(&format!("the index is read-only here, so there are no approximate-search {what} to search; answers stay exact (`vecsh build FILE` adds them)"));
                return;
            }
            Err(e) => {
                self.note(&format!(
                    "cannot build the approximate-search {what} ({e}); answers stay exact"
                ));
                return;
            }
        };
        self.note(&format!("building the approximate-search {what} in the background; answers stay exact until ready"));
        self.spawn_build(builder, kind, index::DEFAULT_TREES, false, None, printer);
    }

    /// Runs `builder`'s build of `kind` on a thread of its own, kept as the session's build
    /// job; `auto`: the session's own build (what makes exact search fast). With
    /// `verification`, the thread waits for it first and builds nothing on an index it found
    /// damaged. With `printer` (rustyline's external printer), the thread announces the
    /// outcome the moment it has it, above the waiting prompt; without, `announce_forest` does
    /// at the next line.
    fn spawn_build(
        &mut self,
        builder: index::ApproxBuilder,
        kind: ApproxKind,
        trees: usize,
        auto: bool,
        verification: Option<index::Verification>,
        printer: Option<Printer>,
    ) {
        let progress = Arc::new(TreeCount::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let (p, c) = (progress.clone(), cancel.clone());
        let pause = self.build_pause();
        let announced = Arc::new(AtomicBool::new(false));
        let (approx, renderer, done) = (
            self.approx.clone(),
            self.runner.renderer().clone(),
            announced.clone(),
        );
        let handle = std::thread::spawn(move || {
            // From verified data only: a damaged index is rebuilt, never built upon.
            if verification.is_some_and(|v| v.wait().is_some()) || c.load(Ordering::Relaxed) {
                return Err(IndexError::Cancelled);
            }
            let result = builder.build_in_background(kind, trees, p.as_ref(), &c, &pause);
            if let Some(mut printer) = printer {
                let using_approx = approx.load(Ordering::Relaxed);
                if let Some(message) = forest_message(&renderer, &result, using_approx, auto) {
                    // rustyline prints it above the prompt and redraws the line being typed.
                    if printer.print(format!("{message}\n")).is_ok() {
                        done.store(true, Ordering::Relaxed);
                    }
                }
            }
            result
        });
        self.forest = Some(ForestJob {
            started: Instant::now(),
            cancel,
            progress,
            handle: Some(handle),
            announced,
            kind,
            auto,
        });
    }

    /// The pause statements hold on this session's index, which the builds check; with
    /// `VECSH_BACKGROUND_STEP_MS` (tests), every step of a build sleeps that long.
    fn build_pause(&self) -> index::Pause {
        let pause = self.store.pause().clone();
        if let Some(ms) = std::env::var("VECSH_BACKGROUND_STEP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            pause.set_step_ms(ms);
        }
        pause
    }

    /// Starts, on a file where it pays (`Store::lacks_fast_exact`), the build of what makes
    /// exact search fast (the lists with their cells), unless `--no-background` or
    /// `:background off` said not to or a build already runs. The build thread first waits for
    /// the background verification and builds only on an index it found intact; it runs at low
    /// priority, parks while a statement runs (`index::Pause`), and announces when ready.
    /// Nothing waits for it: quitting cancels it, and a build cancelled or killed commits
    /// nothing (the next session starts it again).
    fn start_background(&mut self, printer: Option<Printer>) {
        if !self.runner.session().settings.background
            || self.forest.is_some()
            || !self.store.is_writable()
            || !self.store.lacks_fast_exact()
        {
            return;
        }
        let Ok(builder) = self.store.approx_builder() else {
            return;
        };
        let verification = self.store.background_verification();
        self.stopped = false;
        self.runner.set_build_failure(None);
        self.spawn_build(builder, ApproxKind::Lists, 0, true, verification, printer);
    }

    /// After `:background on|off`: starts the session's own build, or stops it.
    fn background_changed(&mut self, printer: Option<Printer>) {
        if self.runner.session().settings.background {
            if self.stopped {
                self.forest = None;
            }
            self.start_background(printer);
            return;
        }
        let running = self
            .forest
            .as_ref()
            .is_some_and(|job| job.auto && !job.finished());
        if running {
            self.stop_forest();
            self.forest = None;
            self.stopped = true;
            self.note("background build stopped; answers stay as they were (:background on starts it again)");
        }
    }

    /// Says that the build finished, at the next line, unless the build thread already did
    /// through the external printer. (rustyline 17's printer made keys that arrived in one
    /// read wait for the next key, kkawakam/rustyline#976; fixed in 19.)
    fn announce_forest(&mut self) {
        let Some(job) = &mut self.forest else { return };
        if !job.finished() {
            return;
        }
        let Some(Ok(result)) = job.handle.take().map(JoinHandle::join) else {
            return;
        };
        let announced = job.announced.load(Ordering::Relaxed);
        let (auto, kind) = (job.auto, job.kind);
        if auto {
            // `:info` says why until a build starts again (the message was said once, above).
            match &result {
                Err(IndexError::Cancelled) => {}
                Err(e) => self.runner.set_build_failure(Some(e.to_string())),
                Ok(_) => self.runner.set_build_failure(None),
            }
        }
        if result.is_ok() {
            // How many lists `--approx` probes, and whether exact search tries the cells:
            // measured once, here (about a second at 3M x 300), and stored in the index for
            // later processes. The session's own build is of its first space's index.
            let store = match auto {
                true => self.store,
                false => self.runner.session().store(),
            };
            let params = index::ApproxParams {
                kind,
                ..self.runner.session().settings.approx
            };
            // Measured by the build thread already (`build_in_background`), unless that failed.
            let measured = match store.calibration(kind) {
                Some(c) => Ok(Some(c)),
                None => store.calibrate(&params, index::CALIBRATION_QUERIES),
            };
            match measured {
                Err(e) => self.note(&format!(
                    "cannot measure the approximate-search {} ({e}); it searches at its default setting",
                    approx_name(params.kind)
                )),
                // The session's own lists, measured: said when their cells do not pay here.
                Ok(Some(c)) if auto && !store.exact_plan().cells => self.note(&format!(
                    "the lists' cells answered {:.0} % of the exact queries measured on this file, \
                     too few to be tried: exact search scans as before (:exact off searches the lists)",
                    c.exact_by_cells.unwrap_or(0.0) * 100.0
                )),
                Ok(_) => {}
            }
        }
        if announced {
            return;
        }
        let approx = self.runner.session().settings.mode == SearchMode::Approx;
        if let Some(message) = forest_message(self.runner.renderer(), &result, approx, auto) {
            println!("{message}");
        }
    }

    /// Cancels a running build so that leaving is immediate.
    fn stop_forest(&mut self) {
        if let Some(job) = &mut self.forest {
            job.cancel.store(true, Ordering::Relaxed);
            let deadline = Instant::now() + CANCEL_WAIT;
            while !job.finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
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

/// A background forest build.
struct ForestJob {
    started: Instant,
    cancel: Arc<AtomicBool>,
    progress: Arc<TreeCount>,
    /// The build's outcome; taken once announced.
    handle: Option<JoinHandle<index::Result<Built>>>,
    /// The build thread printed the outcome itself (external printer).
    announced: Arc<AtomicBool>,
    kind: ApproxKind,
    /// Started by the session itself (what makes exact search fast), not by `:exact off`.
    auto: bool,
}

/// "lists" or "forest", as the session names the approximate structure.
fn approx_name(kind: ApproxKind) -> &'static str {
    kind.name()
}

/// What the session says when a build ends (`None` when it was cancelled: the user is leaving);
/// `auto`: a build the session started by itself, for exact search.
fn forest_message(
    r: &Renderer,
    result: &index::Result<Built>,
    approx: bool,
    auto: bool,
) -> Option<String> {
    Some(match result {
        Ok(built) => {
            let using = if auto {
                "exact search tries their cells from the next statement on (answers unchanged)"
            } else if approx {
                "approximate searches now use them (:exact on for exact)"
            } else {
                ":exact off searches them"
            };
            let what = match built {
                Built::Lists(l) => format!(
                    "lists ready: {} lists over {} rows in {:.1} s",
                    thousands(l.lists),
                    thousands(l.rows),
                    l.seconds
                ),
                Built::Forest(f) => {
                    format!("forest ready: {} trees in {:.1} s", f.trees, f.seconds)
                }
            };
            r.style(&format!("{what}; {using}"), Style::new().green())
        }
        Err(IndexError::Cancelled) => return None,
        Err(e) if auto => r.style(
            &format!(
                "background build of the lists failed: {e}; exact search goes on without them"
            ),
            Style::new().yellow(),
        ),
        Err(e) => r.style(
            &format!("approximate-search build failed: {e}; answers stay exact"),
            Style::new().yellow(),
        ),
    })
}

impl ForestJob {
    fn finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// How far the build is: a percentage once trees are reported, and the time it has taken.
    fn progress(&self) -> String {
        let total = self.progress.total.load(Ordering::Relaxed);
        let done = self.progress.done.load(Ordering::Relaxed);
        let elapsed = seconds(self.started.elapsed());
        // The lists' build goes through phases (training, assigning, …): each is named.
        let phase = self
            .progress
            .phase
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let phase = if phase.is_empty() || phase == "forest" {
            String::new()
        } else {
            format!("{phase} ")
        };
        match (done * 100).checked_div(total) {
            Some(percent) if done > 0 => {
                format!("{phase}{}%, {elapsed} so far", percent.min(100))
            }
            _ => format!("{phase}{elapsed} so far"),
        }
    }
}

/// Counts the trees built or the lists' phase and steps, for `:info` and notes.
#[derive(Default)]
struct TreeCount {
    phase: std::sync::Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for TreeCount {
    fn start(&self, what: &str, total: u64, _: Unit) {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = what.to_string();
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
    fn set(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }
    fn finish(&self) {}
    fn note(&self, _: &str) {}
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
