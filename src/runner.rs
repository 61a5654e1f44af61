//! The statement runner: one statement of the session, a script, `-e` or a pipe, run the same
//! way by every front-end. It parses the line once, routes the session's commands through the
//! command table (`commands`), evaluates the rest (`eval`), and writes what comes out — text or
//! JSON, errors, notes and SVG files — in one place; the front-end learns only what it needs
//! (whether the statement failed, `:quit`, Ctrl-C).

pub mod detach;
pub mod interrupt;
mod spaces;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use owo_colors::Style;

use crate::ast::{Span, Statement};
use crate::commands::Command;
use crate::eval::{EvalError, SearchUsed, Session, Value};
use crate::index::{ApproxKind, Store};
use crate::parse;
use crate::progress::Silent;
use crate::protocols::{run_eval_until, EvalCommand, Interrupted, Protocol};
use crate::render::help::{help_json, help_text, help_topic, info_json, info_text, View};
use crate::render::Renderer;
use crate::settings::{Resolved, Source};
use crate::svgfiles::SvgFiles;
use crate::text::{escape, json_safe};

/// What a statement did, for the front-end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// It ran; `ok` is false when it failed (a script then exits with 1). `command` is the
    /// session command it was, if any.
    Ran { ok: bool, command: Option<Command> },
    /// `:quit`: the rest of the input is not run.
    Quit,
    /// Ctrl-C stopped it (the session only): the rest of a pasted input is dropped too.
    Interrupted,
    /// It read a part of the index that failed its checksum (a session verifying what it
    /// reads while its full verification runs): nothing was written; the index is rebuilt
    /// and the statement run again.
    Damaged(String),
}

/// Runs statements on one session and writes their results.
pub struct Runner<'s> {
    session: Session<'s>,
    renderer: Renderer,
    /// One JSON object per result (not in the interactive session).
    json: bool,
    /// No notes (`wrote map.svg`) outside the interactive session.
    quiet: bool,
    /// Where maps go as SVG (`--svg FILE`, `:svg FILE EXPR`).
    svg: SvgFiles,
    /// The vectors are the built-in vocabulary (for `:info`).
    builtin: bool,
    /// The interactive session: text only, notes on stdout in colour, Ctrl-C stops an answer.
    /// Otherwise (scripts, `-e`, pipes): errors name their line, Ctrl-C ends the process.
    interactive: bool,
    /// How `:open` opens another space's file (`Resolved::open_other`), and with what
    /// progress.
    other: crate::index::OpenOptions,
    progress_quiet: bool,
    /// Why the session's own background build failed, if it did (for `:info`).
    build_failure: Option<String>,
}

impl<'s> Runner<'s> {
    pub fn new(store: &'s Store, resolved: &Resolved, interactive: bool) -> Runner<'s> {
        let path = match &resolved.source {
            Source::File(path) => Some(resolved.typed.clone().unwrap_or_else(|| path.clone())),
            Source::Builtin => None,
        };
        let mut session = Session::with_space(
            store,
            resolved.settings.clone(),
            resolved.source_name(),
            path,
        );
        // Ctrl-C in the session raises it (`interrupt::Catch`); long scans stop on it.
        session.set_cancel(interrupt::flag());
        // FILE's identity, so that `:open` of it by any path names its store again.
        if let Source::File(path) = &resolved.source {
            let file = crate::loader::primary_file(path, &resolved.open.load);
            session.set_source_key(&file, &resolved.open);
        }
        Runner {
            session,
            other: resolved.open_other(),
            progress_quiet: resolved.output.quiet,
            renderer: resolved.output.renderer.clone(),
            json: resolved.output.json,
            quiet: resolved.output.quiet,
            svg: SvgFiles::new(resolved.output.svg.clone()),
            builtin: matches!(resolved.source, Source::Builtin),
            build_failure: None,
            interactive,
        }
    }

    pub fn session(&self) -> &Session<'s> {
        &self.session
    }

    /// The background build's progress when the active space is FILE's, whose build it is:
    /// another space's `:info` and notes never show it.
    fn own_build(&self, building: &dyn Fn() -> Option<String>) -> Option<String> {
        let spaces = self.session.spaces();
        if spaces.is_first_store(spaces.active()) {
            building()
        } else {
            None
        }
    }

    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The terminal's width, for the tables that follow.
    pub fn set_width(&mut self, width: usize) {
        self.renderer.width = width;
    }

    fn view(&self) -> View<'_> {
        View {
            store: self.session.store(),
            settings: &self.session.settings,
            renderer: &self.renderer,
            builtin: self.builtin,
            build_failure: self.build_failure.as_deref(),
        }
    }

    /// Records why the session's own background build failed (`None`: it was started again),
    /// which `:info` shows instead of the build still to come.
    pub fn set_build_failure(&mut self, failure: Option<String>) {
        self.build_failure = failure;
    }

    /// Runs one statement (a line, or lines joined while a parenthesis was open) and writes its
    /// result to `out`, its errors to stderr. `origin` (`script.vsh:3`) places errors of
    /// scripts; `building` is the progress of an approximate-search build still running in the
    /// background, if any (for `:info` and the notes of exact answers).
    pub fn run(
        &mut self,
        line: &str,
        origin: Option<&str>,
        out: &mut dyn Write,
        building: &dyn Fn() -> Option<String>,
    ) -> anyhow::Result<Step> {
        let parsed = parse::parse_statement(line);
        let command = match &parsed {
            Ok(Statement::Command { name, .. }) => Command::lookup(name),
            _ => None,
        };
        let ran = |ok: bool| Step::Ran { ok, command };

        match command {
            Some(Command::Help) => {
                let (args, args_span) = match &parsed {
                    Ok(Statement::Command {
                        args, args_span, ..
                    }) => (args.as_str(), *args_span),
                    _ => ("", Span::default()),
                };
                let found = if self.json {
                    help_json(&self.view(), args).map(|help| json_text(&help, line))
                } else if args.trim().is_empty() {
                    Ok(help_text(&self.view()))
                } else {
                    help_topic(&self.view(), args)
                };
                return match found {
                    Ok(text) => {
                        writeln!(out, "{text}")?;
                        Ok(ran(true))
                    }
                    Err((message, help)) => {
                        let err = EvalError {
                            message,
                            span: Some(args_span),
                            help: Some(help),
                            ..Default::default()
                        };
                        self.write_result(line, &Err(err), origin, out)?;
                        Ok(ran(false))
                    }
                };
            }
            Some(Command::Info) if self.json => {
                json_line(
                    out,
                    &info_json(&self.view(), self.own_build(building)),
                    line,
                )?;
                return Ok(ran(true));
            }
            Some(Command::Info) => {
                writeln!(out, "{}", info_text(&self.view(), self.own_build(building)))?;
                return Ok(ran(true));
            }
            Some(Command::Quit) => return Ok(Step::Quit),
            _ => {}
        }
        // In the session, Ctrl-C from here to the end of the answer stops it (see `interrupt`);
        // elsewhere it ends the process.
        let _catch = self.interactive.then(interrupt::Catch::new);
        if let (Some(Command::Eval), Ok(Statement::Command { args, .. })) = (command, &parsed) {
            return self.evaluation(args, origin, out);
        }
        let empty = matches!(parsed, Ok(Statement::Empty));
        let negated = match &parsed {
            Ok(Statement::Expr(expr)) => self.negated_token(expr),
            _ => None,
        };
        // The background verifications wait while the statement reads (`on_read`); every
        // store is held, since `:use` may change which one is active.
        self.hold_verification(true);
        let mut result = match (command, &parsed) {
            (
                Some(Command::Open),
                Ok(Statement::Command {
                    args, args_span, ..
                }),
            ) => self.open_command(args, *args_span),
            _ => self.session.run_parsed(parsed, line),
        };
        self.hold_verification(false);
        if let Some(what) = self.session.store().damage_found() {
            return Ok(Step::Damaged(what));
        }
        // The source whose rows are read in place was replaced under us: said once.
        if let Some(note) = self.session.store().take_source_note() {
            out.flush()?;
            eprintln!("{}", self.renderer.style(&note, Style::new().yellow()));
        }
        // A vector read in a space not aligned with its own: said with the answer.
        for warning in self.session.take_warnings() {
            out.flush()?;
            eprintln!(
                "{}",
                self.renderer
                    .style(&format!("warning: {warning}"), Style::new().yellow())
            );
        }
        if self.interactive && interrupt::interrupted() {
            // An `:open` stopped says what became of it.
            match (&result, command) {
                (Err(e), Some(Command::Open)) => {
                    self.note(out, &format!("(Ctrl-C) {}", e.message))?
                }
                _ => self.note(out, "(Ctrl-C)")?,
            }
            return Ok(Step::Interrupted);
        }
        if let Ok(Value::Neighbours {
            search: SearchUsed::Exact,
            note: note @ Some(_),
            ..
        }) = &mut result
        {
            if let Some(progress) = self.own_build(building) {
                *note = Some(format!(
                    "the approximate-search {} still being built ({progress}); this answer is exact",
                    match self.session.settings.approx.kind {
                        ApproxKind::Lists => "lists are",
                        ApproxKind::Forest => "forest is",
                    },
                ));
            }
        }
        if !self.write_result(line, &result, origin, out)? {
            return Ok(Step::Interrupted);
        }
        let note = if empty {
            self.piece_note(line)
        } else {
            negated.map(|token| {
                let typed = escape(&parse::quoted(&token)).into_owned();
                let token = escape(&token);
                let word = token.strip_prefix('-').unwrap_or(&token);
                format!(
                    "note: {token} negates {word} ('-' before a word does); the token {token} is typed {typed}"
                )
            })
        };
        // How to type a shown token the language read otherwise (`##ers`, `-neg`).
        if let Some(note) = note {
            if self.interactive {
                self.note(out, &note)?;
            } else {
                // Like a warning, whatever `quiet` says: the answer was not the token's.
                out.flush()?;
                eprintln!("{}", self.renderer.style(&note, Style::new().yellow()));
            }
        }
        // `exit` or `quit` alone is a word like any other; a newcomer may mean to leave.
        if self.interactive && matches!(line.trim(), "exit" | "quit") {
            self.note(out, "(to leave the session, type :quit or press Ctrl-D)")?;
        }
        let Ok(value) = &result else {
            return Ok(ran(false));
        };
        Ok(ran(self.save_svg(value, out)?))
    }

    /// Writes a statement's value (stdout) or error (stderr). False when Ctrl-C stopped it.
    fn write_result(
        &self,
        line: &str,
        result: &Result<Value, EvalError>,
        origin: Option<&str>,
        out: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        match result {
            Ok(Value::Nothing) => {}
            Ok(value) if self.interactive => {
                return Ok(print_interruptibly(&self.renderer.value(value), out));
            }
            Ok(value) if self.json => {
                json_line(out, value, line)?;
            }
            Ok(value) => writeln!(out, "{}", self.renderer.value(value))?,
            Err(err) if self.json && !self.interactive => {
                writeln!(out, "{}", error_json(line, origin, err))?;
            }
            Err(err) => {
                out.flush()?;
                eprintln!("{}", self.renderer.error(line, err, origin));
            }
        }
        Ok(true)
    }

    /// Writes a map's SVG file when one is wanted, with its note. False when it failed.
    fn save_svg(&mut self, value: &Value, out: &mut dyn Write) -> anyhow::Result<bool> {
        let saved = self.svg.save(value);
        let warnings = self.svg.take_warnings();
        if self.interactive {
            for warning in warnings {
                self.note(out, &format!("warning: {warning}"))?;
            }
        } else {
            if !warnings.is_empty() {
                out.flush()?;
            }
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
        }
        match saved {
            Ok(Some(note)) if self.interactive => self.note(out, &note)?,
            Ok(Some(note)) if !self.quiet => eprintln!("{note}"),
            Ok(_) => {}
            Err(e) if self.interactive => eprintln!(
                "{}",
                self.renderer
                    .style(&format!("error: {e:#}"), Style::new().red())
            ),
            Err(e) => {
                out.flush()?;
                eprintln!("error: {e:#}");
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `:eval ...`: in the session under the Ctrl-C catch (the scan checks the flag, so Ctrl-C
    /// stops it and the prompt comes back, with a note and no figures).
    fn evaluation(
        &self,
        args: &str,
        origin: Option<&str>,
        out: &mut dyn Write,
    ) -> anyhow::Result<Step> {
        let ran = |ok: bool| Step::Ran {
            ok,
            command: Some(Command::Eval),
        };
        if !self.interactive {
            // No Ctrl-C catch here: outside the session, Ctrl-C ends the process.
            let never = AtomicBool::new(false);
            let found = eval_command(&self.view(), args, &never);
            if self.json {
                // The report as `vecsh eval --json` prints it; an error as a line's error.
                match found {
                    Ok(EvalOutcome::Report(report)) => {
                        json_line(out, &report, &format!(":eval {args}"))?;
                        return Ok(ran(true));
                    }
                    Ok(EvalOutcome::Interrupted(_)) => return Ok(ran(false)),
                    Err(e) => {
                        let line = format!(":eval {args}");
                        let message = e.strip_prefix("error: ").unwrap_or(&e).to_string();
                        let err = EvalError {
                            message,
                            span: None,
                            help: None,
                            also: Vec::new(),
                        };
                        writeln!(out, "{}", error_json(&line, origin, &err))?;
                        return Ok(ran(false));
                    }
                }
            }
            return match found {
                Ok(EvalOutcome::Report(report)) => {
                    writeln!(out, "{}", self.renderer.report(&report))?;
                    Ok(ran(true))
                }
                Ok(EvalOutcome::Interrupted(text)) => {
                    writeln!(out, "{text}")?;
                    Ok(ran(true))
                }
                Err(e) => {
                    out.flush()?;
                    match origin {
                        Some(o) => eprintln!("{o}: {e}"),
                        None => eprintln!("{e}"),
                    }
                    Ok(ran(false))
                }
            };
        }
        match eval_command(&self.view(), args, interrupt::flag()) {
            Ok(EvalOutcome::Report(report)) => Ok(
                if print_interruptibly(&self.renderer.report(&report), out) {
                    ran(true)
                } else {
                    Step::Interrupted
                },
            ),
            Ok(EvalOutcome::Interrupted(text)) => {
                writeln!(out, "{text}")?;
                Ok(Step::Interrupted)
            }
            Err(e) => {
                eprintln!("{}", self.renderer.style(&e, Style::new().red()));
                Ok(ran(false))
            }
        }
    }

    /// A note of the session, in colour on stdout.
    /// A line that is only a comment naming a model's word-internal piece as lists show it
    /// (`##ers`): the note that it is a comment, and how to type the token (`"##ers"`). `None`
    /// for other comments (`## heading`), other lines, and stores without a model.
    fn piece_note(&self, line: &str) -> Option<String> {
        let store = self.session.store();
        store.model()?;
        let toks = parse::tokens(line);
        let comment = toks.iter().find(|t| t.kind == parse::Kind::Comment)?;
        let piece = parse::commented_piece(comment.text)?;
        let (token, exact) = match store.id(piece) {
            Some(_) => (piece.to_string(), true),
            None => {
                let mut found = store.words_with_prefix(piece, 2_000);
                found.sort_unstable_by_key(|&(_, id)| id);
                let id = found.first()?.1;
                (store.word(id)?.to_string(), false)
            }
        };
        let typed = escape(&parse::quoted(&token)).into_owned();
        let piece = escape(piece);
        Some(if exact {
            format!(
                "note: {piece} is a comment ('#' starts one); the token {piece} is typed {typed}"
            )
        } else {
            format!(
                "note: {piece} is a comment ('#' starts one); a token starting with it is typed quoted, e.g. {typed}"
            )
        })
    }

    /// A statement that is only `-word` (unquoted), on a model with a token shown `-word`:
    /// that token, which the language reads as the negation of `word`.
    /// Holds (or lets go on) the background verification of every open store.
    fn hold_verification(&self, on: bool) {
        for store in self.session.spaces().stores() {
            store.hold_verification(on);
        }
    }

    fn negated_token(&self, expr: &crate::ast::Expr) -> Option<String> {
        use crate::ast::ExprKind;
        let store = self.session.store();
        store.model()?;
        let ExprKind::Neg(inner) = &expr.kind else {
            return None;
        };
        let text = match &inner.kind {
            ExprKind::Word {
                text,
                quoted: false,
            } => text,
            ExprKind::Number { text, .. } => text,
            _ => return None,
        };
        let token = format!("-{text}");
        store.id(&token).map(|_| token)
    }

    fn note(&self, out: &mut dyn Write, message: &str) -> std::io::Result<()> {
        writeln!(
            out,
            "{}",
            self.renderer.style(message, Style::new().yellow())
        )
    }
}

/// Prints `text` line by line, stopping at Ctrl-C with a note of how much was shown: a
/// 400,000-row answer takes seconds to scroll past.
/// Returns false when Ctrl-C stopped it.
fn print_interruptibly(text: &str, out: &mut dyn Write) -> bool {
    let total = text.lines().count();
    for (i, line) in text.lines().enumerate() {
        if interrupt::interrupted() {
            // The terminal discards its queued output at Ctrl-C, which may leave half a row:
            // the note replaces it.
            let _ = writeln!(out, "\r\x1b[K… {i} of {total} rows shown (Ctrl-C)");
            return false;
        }
        if writeln!(out, "{line}").is_err() {
            return true;
        }
    }
    true
}

/// What `:eval` did: a report, or a stop at Ctrl-C (rendered).
enum EvalOutcome {
    Report(Box<crate::protocols::Report>),
    Interrupted(String),
}

/// One object as one line under `--json`: its own fields, then `"input"`, the line it answers
/// (so that the answers of several `-e` can be matched to them), every character that could
/// drive a terminal escaped.
fn json_text<T: serde::Serialize>(value: &T, input: &str) -> String {
    #[derive(serde::Serialize)]
    struct WithInput<'a, T> {
        #[serde(flatten)]
        value: &'a T,
        input: &'a str,
    }
    // Objects with string keys and numbers (NaN becomes null): serialising cannot fail.
    json_safe(serde_json::to_string(&WithInput { value, input }).expect("an object serialises"))
}

/// [`json_text`] written as a line of `out`.
fn json_line<T: serde::Serialize>(
    out: &mut dyn Write,
    value: &T,
    input: &str,
) -> anyhow::Result<()> {
    writeln!(out, "{}", json_text(value, input))?;
    Ok(())
}

/// A line's error under `--json`: `kind` first, then the line, where it came from and the
/// error (`message`, `span` in bytes, `help`).
pub fn error_json(line: &str, origin: Option<&str>, error: &EvalError) -> String {
    #[derive(serde::Serialize)]
    struct ErrorJson<'a> {
        kind: &'static str,
        line: &'a str,
        origin: Option<&'a str>,
        error: &'a EvalError,
    }
    json_safe(
        serde_json::to_string(&ErrorJson {
            kind: "error",
            line,
            origin,
            error,
        })
        .expect("an error serialises"),
    )
}

/// `:eval analogy [QUESTIONS|google]` or `:eval similarity PAIRS` on the session's vocabulary:
/// the report `vecsh eval` shows (gensim's protocol, the session's `:method` and `:restrict`).
/// Here in the runner, not in the evaluator: `protocols` uses the evaluator's types, and
/// two modules never import each other. The scan checks `cancel` as it goes. `Err` is the
/// error as text (escaped).
fn eval_command(view: &View, args: &str, cancel: &AtomicBool) -> Result<EvalOutcome, String> {
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
        Ok(Ok(report)) => Ok(EvalOutcome::Report(Box::new(report))),
        Ok(Err(Interrupted)) => Ok(EvalOutcome::Interrupted(
            view.renderer
                .interrupted_evaluation(&format!(":eval {kind}"), started.elapsed()),
        )),
        Err(e) => Err(format!("error: {}", escape(&format!("{e:#}")))),
    }
}
