//! Evaluation of statements against a store. The evaluator never prints: every line yields a
//! `Value` (or an `EvalError` carrying a span) that the front-end renders.
//!
//! Meaning follows gensim's `KeyedVectors.most_similar`: each word's vector is unit-normalised,
//! terms are combined with their signs and scalars, the result is normalised, and neighbours are
//! ranked by cosine with the expression's own words left out. Named results substitute: after
//! `let royal = king - man`, `royal + woman` means exactly `king - man + woman`.

use std::collections::BTreeMap;

use crate::ast::{BinOp, Expr, ExprKind, Span, Statement};
use crate::commands::{self, Command};
use crate::index::{PhraseError, Store};
use crate::parse;
use crate::search::{self, Hit, Query};

pub mod align;
pub mod changed;
pub mod compare;
mod error;
mod map;
mod rows;
pub mod spaces;
mod suggest;
mod value;

pub use error::{EvalError, Result};
pub use value::*;

use error::{f32_scale, index_failure};
use map::MapBuilder;
use spaces::{SourceKey, Spaces};
use suggest::{alternatives, closest, closest_words};

/// A model's hidden tokens (`ModelMeta::hidden`) up to this many are left out of a search by
/// its exclusion list; more are dropped from a longer answer (`Session::search`).
const HIDDEN_EXCLUDED: usize = 64;

/// Word terms (counting repeats) one statement may combine: `let xN = x(N-1) + x(N-1)` doubles
/// them each line, and 3CosMul multiplies one factor per term.
pub const MAX_TERMS: u64 = 10_000;

/// A linear combination of unit word vectors: what a vector expression means.
#[derive(Debug, Clone, PartialEq)]
struct Combination {
    /// Σ weight · unit(word), accumulated in f64.
    vector: Vec<f64>,
    /// (word id, weight, repeats) for each word term, in first-seen order; used for exclusion
    /// and 3CosMul. Terms of one word with weights of one sign are merged (weights summed,
    /// repeats counted: 3CosMul has a factor per repeat, as gensim's has per listed word), so
    /// a binding's size does not grow with how often its words were combined.
    terms: Vec<(u32, f64, u64)>,
    /// (unit vector, weight, repeats) of each unknown word made from its n-grams: it has no
    /// id, so it excludes nothing, and 3CosMul uses the vector itself. Merged the same way.
    subword_terms: Vec<(Vec<f32>, f64, u64)>,
    /// The tokens of phrases pooled through a model's tokenizer (`"new york"`): left out of
    /// the answers like the expression's own words, though they are no term of their own.
    tokens: Vec<u32>,
    /// The space (`Spaces::list`'s index) whose store the ids and the vector belong to.
    space: usize,
}

/// The sign class of a weight, which terms of one word must share to be merged.
fn side(w: f64) -> i8 {
    if w > 0.0 {
        1
    } else if w < 0.0 {
        -1
    } else {
        0
    }
}

impl Combination {
    fn scaled(mut self, factor: f64) -> Combination {
        self.vector.iter_mut().for_each(|x| *x *= factor);
        self.terms.iter_mut().for_each(|t| t.1 *= factor);
        self.subword_terms.iter_mut().for_each(|t| t.1 *= factor);
        self
    }

    fn plus(mut self, other: Combination, sign: f64) -> Combination {
        for (a, b) in self.vector.iter_mut().zip(&other.vector) {
            *a += sign * b;
        }
        for (id, w, n) in other.terms {
            let w = sign * w;
            match self
                .terms
                .iter_mut()
                .find(|t| t.0 == id && side(t.1) == side(w))
            {
                Some(t) => {
                    t.1 += w;
                    t.2 = t.2.saturating_add(n);
                }
                None => self.terms.push((id, w, n)),
            }
        }
        for (v, w, n) in other.subword_terms {
            let w = sign * w;
            match self
                .subword_terms
                .iter_mut()
                .find(|t| t.0 == v && side(t.1) == side(w))
            {
                Some(t) => {
                    t.1 += w;
                    t.2 = t.2.saturating_add(n);
                }
                None => self.subword_terms.push((v, w, n)),
            }
        }
        for id in other.tokens {
            if !self.tokens.contains(&id) {
                self.tokens.push(id);
            }
        }
        self
    }

    /// Word terms, counting repeats.
    fn term_count(&self) -> u64 {
        self.terms
            .iter()
            .map(|t| t.2)
            .chain(self.subword_terms.iter().map(|t| t.2))
            .fold(0, u64::saturating_add)
    }

    /// `self`, or the error of a statement that combines more than [`MAX_TERMS`] word terms.
    fn bounded(self, span: Span) -> Result<Combination> {
        let n = self.term_count();
        if n > MAX_TERMS {
            return Err(EvalError::at(
                span,
                format!(
                    "this combines {n} word terms (counting repeats); one statement may combine at most {MAX_TERMS}"
                ),
            )
            .help("a name used twice counts its words twice (x + x doubles them): scale instead, e.g. 2 * x"));
        }
        Ok(self)
    }

    fn unit_f32(&self) -> Vec<f32> {
        let norm = self.vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return vec![0.0; self.vector.len()];
        }
        self.vector.iter().map(|x| (x / norm) as f32).collect()
    }

    fn input_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.terms.iter().map(|t| t.0).collect();
        ids.extend(&self.tokens);
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// A map's `k=N` option, with its span, when given.
type MapK = Option<(usize, Span)>;

/// What an expression evaluates to before it is shown.
#[derive(Debug, Clone)]
enum Val {
    Vector(Combination),
    Number(f64),
}

struct Binding {
    value: Combination,
    source: String,
}

/// One user's session: settings and named results over its open spaces (`spaces`), one of
/// them active.
pub struct Session<'s> {
    spaces: Spaces<'s>,
    pub settings: Settings,
    vars: BTreeMap<String, Binding>,
    /// Unknown words given subword vectors while evaluating the current line.
    subword_log: std::cell::RefCell<Vec<SubwordWord>>,
    /// Warnings of the current line (a vector carried into a space not aligned with its own),
    /// taken by the front-end after the line's result (`take_warnings`).
    warnings: std::cell::RefCell<Vec<String>>,
    /// Words each pair of stores shares (`compare`), counted once.
    shared_counts: std::cell::RefCell<std::collections::HashMap<(usize, usize), usize>>,
    /// Raised by Ctrl-C in a session (`set_cancel`): long scans (`:changed`) stop on it.
    cancel: &'static std::sync::atomic::AtomicBool,
}

/// The cancel flag of a session nobody interrupts.
static NEVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The functions the language knows, for errors and completion; no name may be bound to one.
pub const FUNCTIONS: [&str; 8] = [
    "sim", "odd", "mean", "cosmul", "plot", "arrows", "in", "compare",
];

impl<'s> Session<'s> {
    /// A session of one space, named `main`.
    pub fn new(store: &'s Store, settings: Settings) -> Session<'s> {
        Session::with_space(store, settings, "main".to_string(), None)
    }

    /// A session of one space named `name` (opened from `path`).
    pub fn with_space(
        store: &'s Store,
        settings: Settings,
        name: String,
        path: Option<std::path::PathBuf>,
    ) -> Session<'s> {
        Session {
            spaces: Spaces::new(name, path, store),
            settings,
            vars: BTreeMap::new(),
            subword_log: Default::default(),
            warnings: Default::default(),
            shared_counts: Default::default(),
            cancel: &NEVER,
        }
    }

    /// The flag Ctrl-C raises (the runner's), which long scans check as they go.
    pub fn set_cancel(&mut self, flag: &'static std::sync::atomic::AtomicBool) {
        self.cancel = flag;
    }

    /// The store of the active space.
    pub fn store(&self) -> &Store {
        self.spaces.active_store()
    }

    /// The open spaces.
    pub fn spaces(&self) -> &Spaces<'s> {
        &self.spaces
    }

    /// The warnings of the last line, once.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings.take()
    }

    /// Records the identity of the session's first space's source (its FILE, opened with
    /// `opts`), so that `:open` of the same file by any path names that store again.
    pub fn set_source_key(&mut self, path: &std::path::Path, opts: &crate::index::OpenOptions) {
        self.spaces.set_first_key(SourceKey::of(path, opts));
    }

    /// The space already holding the store of `path` opened with `opts` (`Ok(Some(i))`): the
    /// same file by any path (device and inode), unchanged (size, mtime), with the same load
    /// options; `:open` and `--also` give it a second name instead of opening it again (heed
    /// refuses to open one environment twice). `Ok(None)`: open it, from `key`. An error when
    /// its index directory is one an open store maps (the file changed since it was opened
    /// there, or `--index` gave FILE that directory): opening it would rebuild that directory
    /// under the open store.
    pub fn space_of_file(
        &self,
        path: &std::path::Path,
        opts: &crate::index::OpenOptions,
    ) -> std::result::Result<(Option<usize>, Option<SourceKey>), String> {
        let key = SourceKey::of(path, opts);
        if let Some(i) = key.as_ref().and_then(|k| self.spaces.by_key(k)) {
            return Ok((Some(i), key));
        }
        let Ok(dir) = crate::index::index_dir_for(path, opts) else {
            return Ok((None, key));
        };
        let Some(i) = self.spaces.dir_in_use(&dir) else {
            return Ok((None, key));
        };
        let name = self.spaces.name(i);
        let shown = crate::text::escape_path(path);
        let same_path = self.spaces.list()[i]
            .path
            .as_ref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .is_some_and(|p| std::fs::canonicalize(path).ok() == Some(p));
        Err(if same_path {
            format!(
                "{shown} changed since space '{name}' opened it, and its index directory {} is \
                 the one '{name}' holds: one session cannot hold both versions; copy the file \
                 (e.g. cp {shown} new.txt) and open the copy, or start a new session",
                crate::text::escape_path(&dir)
            )
        } else {
            format!(
                "the index directory of {shown}, {}, holds the index of space '{name}' (given by \
                 --index): one directory cannot hold two indexes; give --index another directory",
                crate::text::escape_path(&dir)
            )
        })
    }

    /// Checks a new space's name (`as NAME`, `NAME=FILE`): a name, and free. `span` places the
    /// error.
    pub fn check_space_name(&self, name: &str, span: Span) -> Result<()> {
        if !spaces::is_name(name) {
            return Err(
                EvalError::at(span, format!("'{name}' cannot name a space")).help(
                    "a space's name is letters, digits, _, - and ., e.g. y1990 or glove.6B.50d",
                ),
            );
        }
        if self.spaces.find(name).is_some() {
            return Err(
                EvalError::at(span, format!("a space named '{name}' is open already"))
                    .help("choose another name with `as NAME`; :use lists the open spaces"),
            );
        }
        Ok(())
    }

    /// `:open FILE [as NAME]`'s argument: the file (quoted when it holds blanks), its span, and
    /// the name asked for (checked: a name, and free).
    pub fn open_args(&self, args: &str, args_span: Span) -> Result<(String, Span, Option<String>)> {
        let usage = "write :open FILE or :open FILE as NAME";
        let shift = |s: Span| Span::new(s.start + args_span.start, s.end + args_span.start);
        let quoted = parse::leading_quoted(args).map_err(|e| EvalError::from(e).spanned(shift))?;
        let (file, end) = match quoted {
            Some((name, end)) => (name, end),
            None => {
                let end = args.find(char::is_whitespace).unwrap_or(args.len());
                (args[..end].to_string(), end)
            }
        };
        if file.is_empty() {
            return Err(EvalError::at(args_span, "expected a file to open").help(usage));
        }
        let file_span = shift(Span::new(0, end));
        let rest = &args[end..];
        let rest_start = end + (rest.len() - rest.trim_start().len());
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok((file, file_span, None));
        }
        let rest_span = shift(Span::new(rest_start, args.len()));
        let Some(name) = rest
            .strip_prefix("as")
            .filter(|n| n.starts_with(char::is_whitespace))
        else {
            return Err(
                EvalError::at(rest_span, format!("expected `as NAME`, found '{rest}'")).help(usage),
            );
        };
        let name = name.trim();
        let name_span = Span::new(
            args_span.start + args.len() - name.len(),
            args_span.start + args.len(),
        );
        if name.is_empty() {
            return Err(EvalError::at(rest_span, "expected a name after `as`").help(usage));
        }
        self.check_space_name(name, name_span)?;
        Ok((file, file_span, Some(name.to_string())))
    }

    /// Adds a space: a newly opened store, or (`Err(i)`) a second name for space `i`'s.
    /// Unnamed, it is named from its file (made unique). The new space becomes active when
    /// `activate`. Returns the value that reports it.
    pub fn add_space(
        &mut self,
        name: Option<String>,
        path: std::path::PathBuf,
        store: std::result::Result<(Store, Option<SourceKey>), usize>,
        activate: bool,
    ) -> Value {
        // The file open already and no new name asked for: that space, made active.
        if let (None, Err(of)) = (&name, &store) {
            if activate {
                self.spaces.set_active(*of);
            }
            let open = self.spaces.store(*of);
            return Value::SpaceOpened {
                name: self.spaces.name(*of).to_string(),
                words: open.len(),
                dims: open.dims(),
                reused: Some(self.spaces.name(*of).to_string()),
                active: self.spaces.active() == *of,
            };
        }
        let name = name.unwrap_or_else(|| self.spaces.free_name(&spaces::name_from_path(&path)));
        let (i, reused) = match store {
            Ok((store, key)) => (self.spaces.add(name, Some(path), store, key), None),
            Err(of) => (
                self.spaces.alias(name, Some(path), of),
                Some(self.spaces.name(of).to_string()),
            ),
        };
        if activate {
            self.spaces.set_active(i);
        }
        let store = self.spaces.store(i);
        Value::SpaceOpened {
            name: self.spaces.name(i).to_string(),
            words: store.len(),
            dims: store.dims(),
            reused,
            active: self.spaces.active() == i,
        }
    }

    /// The open spaces as `:use` lists them.
    fn space_list(&self) -> Value {
        Value::Spaces {
            spaces: self
                .spaces
                .list()
                .iter()
                .enumerate()
                .map(|(i, s)| SpaceRow {
                    name: s.name.clone(),
                    file: s
                        .path
                        .as_deref()
                        .map(crate::text::escape_path)
                        .unwrap_or_default(),
                    words: self.spaces.store(i).len(),
                    dims: self.spaces.store(i).dims(),
                    active: i == self.spaces.active(),
                })
                .collect(),
        }
    }

    /// The space a name given by the user stands for, or the error with did-you-mean.
    fn space_named(&self, name: &str, span: Span) -> Result<usize> {
        if let Some(i) = self.spaces.find(name) {
            return Ok(i);
        }
        let names = || self.spaces.list().iter().map(|s| s.name.as_str());
        let mut err = EvalError::at(span, format!("no space is named '{name}'"));
        // `b` for `b.w2v`: a name that starts with what was typed is the likelier one.
        let prefixed = names().find(|n| n.starts_with(name));
        err = match prefixed.or_else(|| closest(name, names())) {
            Some(best) => err.help(format!("did you mean '{best}'?")),
            None => err.help(format!(
                "the open spaces: {}",
                names().collect::<Vec<_>>().join(", ")
            )),
        };
        Err(err)
    }

    /// A vector in space `to`: itself when it is of that space's store; otherwise, of the same
    /// dimensions, its coordinates read in `to` with a warning (the two spaces' axes are not
    /// aligned, so the answer means something only if they share them, as a file and its
    /// `--limit`ed copy do); of other dimensions, an error at `span`.
    fn carry(&self, mut c: Combination, to: usize, span: Span) -> Result<Combination> {
        if self.spaces.same_store(c.space, to) {
            c.space = to;
            return Ok(c);
        }
        let (from_name, to_name) = (self.spaces.name(c.space), self.spaces.name(to));
        let (from_dims, to_dims) = (c.vector.len(), self.spaces.store(to).dims());
        if from_dims != to_dims {
            return Err(EvalError::at(
                span,
                format!(
                    "this is a vector of space '{from_name}' ({from_dims} dimensions); space '{to_name}' has {to_dims}"
                ),
            )
            .help("vectors of spaces of different dimensions cannot be compared or searched in each other"));
        }
        let from = self.spaces.store(c.space);
        let unit = |id: u32| match from.unit_row(id) {
            Ok(Some(row)) => Ok(row.into_owned()),
            Ok(None) => Err(EvalError::at(
                span,
                format!("the index of '{from_name}' has no vector for row {id}"),
            )),
            Err(e) => Err(index_failure(e).at_span(span)),
        };
        // Aligned (`:align`): every part rotated into `to`'s coordinates, and no warning.
        if let Some(r) = self.spaces.alignment(c.space, to) {
            let turn = |v: &[f32]| -> Vec<f32> {
                let v: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
                align::rotate(&v, r).iter().map(|&x| x as f32).collect()
            };
            let mut carried = Vec::new();
            for &(id, w, n) in &c.terms {
                carried.push((turn(&unit(id)?), w, n));
            }
            for (v, w, n) in &c.subword_terms {
                carried.push((turn(v), *w, *n));
            }
            return Ok(Combination {
                vector: align::rotate(&c.vector, r),
                terms: Vec::new(),
                subword_terms: carried,
                tokens: Vec::new(),
                space: to,
            });
        }
        self.warnings.borrow_mut().push(format!(
            "'{from_name}' and '{to_name}' are not aligned: a vector of '{from_name}' is read in '{to_name}' coordinate by coordinate, which means something only if the two share their axes (as a file and its --limit'ed copy do)"
        ));
        let mut carried = Vec::new();
        for &(id, w, n) in &c.terms {
            carried.push((unit(id)?, w, n));
        }
        carried.append(&mut c.subword_terms);
        Ok(Combination {
            vector: c.vector,
            terms: Vec::new(),
            subword_terms: carried,
            tokens: Vec::new(),
            space: to,
        })
    }

    /// `l + sign · r` (the whole at `span`), both of one space: `r` (at `r_span`) carried
    /// into `l`'s.
    fn combine(
        &self,
        l: Combination,
        r: Combination,
        sign: f64,
        span: Span,
        r_span: Span,
    ) -> Result<Combination> {
        let r = if self.spaces.same_store(l.space, r.space) {
            r
        } else {
            self.carry(r, l.space, r_span)?
        };
        l.plus(r, sign).bounded(span)
    }

    /// Names of the results bound so far.
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(|k| k.as_str())
    }

    /// Parses and evaluates one line.
    pub fn run_line(&mut self, line: &str) -> Result<Value> {
        self.run_parsed(parse::parse_statement(line), line)
    }

    /// Evaluates `line` as the parser read it (the runner parses each line once).
    pub fn run_parsed(
        &mut self,
        parsed: std::result::Result<Statement, parse::ParseError>,
        line: &str,
    ) -> Result<Value> {
        // A command's argument is no vocabulary word (`:k -1` is not `"-1"`).
        let command = matches!(&parsed, Ok(Statement::Command { name, .. })
            if !matches!(Command::lookup(name), Some(Command::Ast | Command::Svg | Command::Vec | Command::Show | Command::Compare)));
        parsed
            .map_err(EvalError::from)
            .and_then(|statement| self.run(&statement, line))
            .map_err(|err| {
                if command {
                    err
                } else {
                    self.syntax_word_hint(line, err)
                }
            })
    }

    /// A vocabulary word made of syntax characters (`</s>`, `below,`, `:`, `--`, common in
    /// word2vec and tokenised text) reads as operators and pieces, and fails on one of them:
    /// when the blank-delimited run of text at the error is itself a word, the hint is the
    /// quoted form that works instead of a suggestion for the piece.
    fn syntax_word_hint(&self, line: &str, err: EvalError) -> EvalError {
        let Some(span) = err.span else { return err };
        let at = span.start.min(line.len());
        let start = line[..at].rfind(char::is_whitespace).map_or(0, |i| {
            i + line[i..].chars().next().map_or(1, char::len_utf8)
        });
        let end = line[at..]
            .find(char::is_whitespace)
            .map_or(line.len(), |i| at + i);
        let run = &line[start..end];
        // A lone operator is the syntax itself (`king +` lacks a term); the parser's help says
        // how to quote one.
        let operator = matches!(run, "+" | "-" | "*" | "/" | "(" | ")" | "," | "=");
        if operator || run.is_empty() || run.starts_with('"') || self.store().id(run).is_none() {
            return err;
        }
        // A run that already reads as one word or number (`king` in `king * queen`, `e-mail`,
        // `0`) is no collision: the error is about something else, and keeps its own help.
        let plain = matches!(
            parse::parse_statement(run),
            Ok(Statement::Expr(Expr {
                kind: ExprKind::Word { .. } | ExprKind::Number { .. },
                ..
            }))
        );
        if plain {
            return err;
        }
        let quoted = format!("\"{}\"", run.replace('\\', "\\\\").replace('"', "\\\""));
        // The pieces of such a word (`<` and `s>` of `</s>`) are not what was meant: the error
        // is the first piece's alone, with the quoted form as its hint.
        let err = match err.also.first() {
            Some(first) => first.clone(),
            None => err,
        };
        err.help(format!(
            "did you mean {quoted}? (a word with characters of the syntax is looked up in quotes)"
        ))
    }

    pub fn run(&mut self, statement: &Statement, line: &str) -> Result<Value> {
        self.warnings.borrow_mut().clear();
        self.run_statement(statement, line)
            .map_err(|err| self.every_unknown_word(statement, err))
    }

    /// An unknown word fails the line at the first one met; when the line has others, the
    /// error names them all, each with its span and did-you-mean (`Paris - France + Italy`).
    fn every_unknown_word(&self, statement: &Statement, err: EvalError) -> EvalError {
        let expr = match statement {
            Statement::Expr(expr) | Statement::Let { value: expr, .. } => expr,
            _ => return err,
        };
        let mut unknown = Vec::new();
        self.unknown_words(expr, &mut unknown);
        if unknown.len() < 2 || !unknown.iter().any(|(_, span)| Some(*span) == err.span) {
            return err;
        }
        let mut names: Vec<String> = Vec::new();
        for (text, _) in &unknown {
            let quoted = format!("'{text}'");
            if !names.contains(&quoted) {
                names.push(quoted);
            }
        }
        let message = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("unknown words {} and {last}", rest.join(", "))
            }
            _ => format!("unknown word {}", names.concat()),
        };
        EvalError {
            message,
            span: Some(unknown[0].1),
            help: None,
            also: unknown
                .iter()
                .map(|(text, span)| self.unknown_word(text, *span))
                .collect(),
        }
    }

    /// The words of `expr` that are neither names nor vocabulary words (nor made from
    /// n-grams), in the order they appear.
    fn unknown_words<'e>(&self, expr: &'e Expr, out: &mut Vec<(&'e str, Span)>) {
        match &expr.kind {
            ExprKind::Word { text, quoted } => {
                let known = (!quoted && self.vars.contains_key(text))
                    || self.store().id(text).is_some()
                    || (self.settings.subwords && self.store().subword_vector(text).is_some())
                    || self.model_resolves(text);
                if !known {
                    out.push((text, expr.span));
                }
            }
            ExprKind::Number { .. } | ExprKind::Option { .. } => {}
            ExprKind::Neg(inner) => self.unknown_words(inner, out),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.unknown_words(lhs, out);
                self.unknown_words(rhs, out);
            }
            ExprKind::Call { name, args, .. } if name == "in" && args.len() == 2 => {
                // The space's name is no word; the expression's words are looked up there.
                if let Ok(i) = self.space_arg(&args[0]) {
                    let _in = self.spaces.enter(i);
                    self.unknown_words(&args[1], out);
                }
            }
            ExprKind::Call { args, .. } => args.iter().for_each(|a| self.unknown_words(a, out)),
            ExprKind::Analogy { a, b, c } => {
                for e in [a, b, c] {
                    self.unknown_words(e, out);
                }
            }
        }
    }

    fn run_statement(&mut self, statement: &Statement, line: &str) -> Result<Value> {
        match statement {
            Statement::Empty => Ok(Value::Nothing),
            Statement::Expr(expr) => self.show(expr, line),
            Statement::Let {
                name,
                name_span,
                value,
            } => {
                let combination = match self.eval(value)? {
                    Val::Vector(c) => c,
                    Val::Number(_) => {
                        return Err(
                            EvalError::at(value.span, "only vector results can be named")
                                .help("a name stands for a vector, e.g. let royal = king - man"),
                        )
                    }
                };
                if FUNCTIONS.contains(&name.as_str()) {
                    return Err(EvalError::at(
                        *name_span,
                        format!("'{name}' is a function name"),
                    ));
                }
                let source = source_text(line, value.span);
                self.vars.insert(
                    name.clone(),
                    Binding {
                        value: combination,
                        source: source.clone(),
                    },
                );
                // The name wins over the word from now on: say so once, with the way back.
                let warning = self.store().id(name).map(|_| {
                    format!(
                        "'{name}' now hides the vocabulary word '{name}'; \"{name}\" in quotes \
                         is still the word"
                    )
                });
                Ok(Value::Bound {
                    name: name.clone(),
                    query: source,
                    warning,
                })
            }
            Statement::Command {
                name,
                name_span,
                args,
                args_span,
            } => self.command(name, *name_span, args, *args_span),
        }
    }

    fn command(
        &mut self,
        name: &str,
        name_span: Span,
        args: &str,
        args_span: Span,
    ) -> Result<Value> {
        let setting = |name: &str, value: SettingValue| {
            Ok(Value::Setting {
                name: name.to_string(),
                value,
                note: None,
            })
        };
        let on_off = |args: &str| match args {
            "on" | "true" | "yes" => Ok(true),
            "off" | "false" | "no" => Ok(false),
            _ => Err(EvalError::at(
                args_span,
                format!("expected on or off, found '{args}'"),
            )),
        };
        match Command::lookup(name) {
            Some(Command::K) => {
                if args.is_empty() {
                    return setting("k", self.settings.k.into());
                }
                // 0 shows no neighbours, as gensim's topn=0.
                let k = parse_k(args).map_err(|help| {
                    EvalError::at(
                        args_span,
                        format!("expected a whole number (0 or more), found '{args}'"),
                    )
                    .help(help)
                })?;
                // More than the vocabulary would only allocate: capped, and said so.
                let words = self.store().len();
                self.settings.k = k.min(words);
                if k > words {
                    return Ok(Value::Setting {
                        name: "k".to_string(),
                        value: self.settings.k.into(),
                        note: Some(format!(
                            "k is at most the vocabulary's {} words",
                            crate::text::thousands(words)
                        )),
                    });
                }
                setting("k", self.settings.k.into())
            }
            Some(Command::Exact) => {
                // `auto` chose by a timing, so answers changed behind the user's back; it is
                // gone, and taken as `on` (issue 23).
                if args == "auto" {
                    self.settings.mode = SearchMode::Exact;
                    return Ok(Value::Setting {
                        name: "exact".to_string(),
                        value: mode_name(self.settings.mode).into(),
                        note: Some(
                            "there is no auto mode any more: answers are exact unless you ask for \
                             approximate ones with :exact off"
                                .to_string(),
                        ),
                    });
                }
                if !args.is_empty() {
                    self.settings.mode = if on_off(args)? {
                        SearchMode::Exact
                    } else {
                        SearchMode::Approx
                    };
                }
                setting("exact", mode_name(self.settings.mode).into())
            }
            Some(Command::Background) => {
                if !args.is_empty() {
                    self.settings.background = on_off(args)?;
                }
                setting(
                    "background",
                    if self.settings.background {
                        "on"
                    } else {
                        "off"
                    }
                    .into(),
                )
            }
            Some(Command::Subwords) => {
                if !args.is_empty() {
                    self.settings.subwords = on_off(args)?;
                }
                let on = self.settings.subwords;
                Ok(Value::Setting {
                    name: "subwords".to_string(),
                    value: if on { "on" } else { "off" }.into(),
                    note: (on && self.store().subwords().is_none())
                        .then(|| "this model has no character n-grams".to_string()),
                })
            }
            Some(Command::AllTokens) => {
                if !args.is_empty() {
                    self.settings.all_tokens = on_off(args)?;
                }
                let on = self.settings.all_tokens;
                Ok(Value::Setting {
                    name: "alltokens".to_string(),
                    value: if on { "on" } else { "off" }.into(),
                    note: (on && self.store().model().is_none())
                        .then(|| "this index holds no model's tokens".to_string()),
                })
            }
            Some(Command::Include) => {
                if !args.is_empty() {
                    self.settings.include_inputs = on_off(args)?;
                }
                setting(
                    "include",
                    if self.settings.include_inputs {
                        "on"
                    } else {
                        "off"
                    }
                    .into(),
                )
            }
            Some(Command::Method) => {
                match args {
                    "" => {}
                    "add" | "3cosadd" => self.settings.method = Method::Add,
                    "mul" | "3cosmul" | "cosmul" => self.settings.method = Method::Mul,
                    _ => {
                        return Err(EvalError::at(
                            args_span,
                            format!("expected add or mul, found '{args}'"),
                        ))
                    }
                }
                setting("method", method_name(self.settings.method).into())
            }
            Some(Command::Restrict) => {
                match args {
                    "" => {}
                    "off" | "0" => self.settings.restrict = None,
                    _ => {
                        let n: usize = args.parse().map_err(|_| {
                            EvalError::at(
                                args_span,
                                format!("expected a number of words or off, found '{args}'"),
                            )
                            .help("':restrict 30000' searches the 30,000 most frequent words; ':restrict off' all")
                        })?;
                        self.settings.restrict = Some(n);
                    }
                }
                setting(
                    "restrict",
                    self.settings
                        .restrict
                        .map_or_else(|| "off".into(), SettingValue::from),
                )
            }
            Some(Command::Svg) => self.svg_command(args, args_span),
            Some(Command::Compare) => self.compare_command(args, args_span),
            Some(Command::Align) => self.align_command(args, args_span),
            Some(Command::Changed) => self.changed_command(args, args_span),
            Some(Command::Use) => {
                if args.is_empty() {
                    return Ok(self.space_list());
                }
                let i = self.space_named(args, args_span)?;
                self.spaces.set_active(i);
                let Value::Spaces { mut spaces } = self.space_list() else {
                    unreachable!("space_list lists spaces")
                };
                Ok(Value::Spaces {
                    spaces: spaces.drain(i..=i).collect(),
                })
            }
            Some(Command::Vec) => self.vec_command(args, args_span),
            Some(Command::Show) => self.show_command(args, args_span),
            Some(Command::Vars) => Ok(Value::Vars {
                vars: self
                    .vars
                    .iter()
                    .map(|(k, b)| Var {
                        name: k.clone(),
                        query: b.source.clone(),
                        space: (self.spaces.len() > 1)
                            .then(|| self.spaces.name(b.value.space).to_string()),
                    })
                    .collect(),
            }),
            Some(Command::Ast) => {
                let inner = parse::parse_statement(args).map_err(|e| {
                    let shift =
                        |s: Span| Span::new(s.start + args_span.start, s.end + args_span.start);
                    EvalError {
                        message: e.message,
                        span: Some(shift(e.span)),
                        help: e.help,
                        also: Vec::new(),
                    }
                })?;
                let text = match inner {
                    Statement::Expr(e) => e.to_string(),
                    Statement::Let { name, value, .. } => format!("let {name} = {value}"),
                    Statement::Empty => String::new(),
                    Statement::Command { name, args, .. } => format!(":{name} {args}"),
                };
                Ok(Value::Ast { text })
            }
            // The runner answers the others; here they are unknown, as any other name.
            Some(Command::Info | Command::Eval | Command::Help | Command::Quit | Command::Open)
            | None => {
                let mut err = EvalError::at(name_span, format!("unknown command ':{name}'"));
                // Never the rejected name itself (`:help` is the runner's, not ours).
                let known = commands::suggestions().filter(|c| *c != name);
                if let Some(best) = closest(name, known) {
                    err = err.help(format!("did you mean ':{best}'?"));
                } else {
                    err = err.help("type :help for the list of commands");
                }
                Err(err)
            }
        }
    }

    /// Evaluates an expression statement into something to show.
    fn show(&mut self, expr: &Expr, line: &str) -> Result<Value> {
        self.subword_log.borrow_mut().clear();
        let mut value = self.show_value(expr, line)?;
        let mut log = self.subword_log.take();
        let mut seen = std::collections::HashSet::new();
        log.retain(|w| seen.insert(w.word.clone()));
        match &mut value {
            Value::Neighbours { subwords, .. }
            | Value::Scalar { subwords, .. }
            | Value::Odd { subwords, .. } => *subwords = log,
            _ => {}
        }
        Ok(value)
    }

    fn show_value(&mut self, expr: &Expr, line: &str) -> Result<Value> {
        let query = source_text(line, expr.span);
        if let ExprKind::Call { name, args, .. } = &expr.kind {
            match name.as_str() {
                "odd" => return self.odd(args, expr.span, query),
                "compare" => return self.compare(args, expr.span, query),
                "plot" => return self.plot(args, expr.span, query, line),
                "arrows" => return self.arrows(args, expr.span, query, line),
                "cosmul" => {
                    let [arg] = args.as_slice() else {
                        return Err(EvalError::at(
                            expr.span,
                            "cosmul takes one expression, e.g. cosmul(king - man + woman)",
                        ));
                    };
                    let c = self.vector(arg)?;
                    return self.neighbours(&c, Method::Mul, query);
                }
                _ => {}
            }
        }
        // A lone number such as `1999` (or `-1999`) is the vocabulary word when there is one.
        if self.names_word(expr) {
            let c = self.vector(expr)?;
            return self.neighbours(&c, self.settings.method, query);
        }
        match self.eval(expr)? {
            Val::Number(value) => Ok(Value::Scalar {
                query,
                value,
                subwords: Vec::new(),
            }),
            Val::Vector(c) => self.neighbours(&c, self.settings.method, query),
        }
    }

    fn neighbours(&self, c: &Combination, method: Method, query: String) -> Result<Value> {
        // Searched in the vector's own space (`in(a, king)` in a session on b).
        let _in = self.spaces.enter(c.space);
        let (hits, search, note) = self.search(c, method, self.settings.k)?;
        let approximate = search == SearchUsed::Approx;
        Ok(Value::Neighbours {
            query,
            method,
            search,
            approximate,
            searched: approximate.then(|| self.store().approx_searched(&self.settings.approx)),
            neighbours: self.named(&hits),
            note,
            subwords: Vec::new(),
        })
    }

    /// The `k` best words for `c` under the session's settings, which search answered, and a
    /// note when the requested search could not be used.
    fn search(
        &self,
        c: &Combination,
        method: Method,
        k: usize,
    ) -> Result<(Vec<Hit>, SearchUsed, Option<String>)> {
        let _in = self.spaces.enter(c.space);
        // Never more than there are rows (`-k 10000000000` would allocate 80 GB).
        let k = k.min(self.search_limit());
        if k == 0 {
            return Ok((Vec::new(), SearchUsed::Exact, None));
        }
        let mut exclude = if self.settings.include_inputs {
            Vec::new()
        } else {
            c.input_ids()
        };
        // A model's special and byte tokens are no answers unless asked for. A few are simply
        // excluded; many (byte-level vocabularies have thousands of partial UTF-8 pieces)
        // would widen every scan's candidate heap by as many, so then the search asks for more
        // than k and drops them, asking again for more in the rare case too few are left.
        let hidden: &[u32] = match self.store().model() {
            Some(model) if !self.settings.all_tokens => &model.hidden,
            _ => &[],
        };
        if hidden.len() <= HIDDEN_EXCLUDED {
            exclude.extend(hidden);
            exclude.sort_unstable();
            exclude.dedup();
            return self.search_excluding(c, method, k, &exclude);
        }
        let mut extra = 16usize;
        loop {
            let want = (k + extra).min(self.search_limit());
            let (mut hits, used, note) = self.search_excluding(c, method, want, &exclude)?;
            let found = hits.len();
            hits.retain(|h| hidden.binary_search(&h.id).is_err());
            if hits.len() >= k || found < want || want == self.search_limit() {
                hits.truncate(k);
                return Ok((hits, used, note));
            }
            extra = extra.saturating_mul(8);
        }
    }

    /// [`Session::search`] with the ids to leave out decided.
    fn search_excluding(
        &self,
        c: &Combination,
        method: Method,
        k: usize,
        exclude: &[u32],
    ) -> Result<(Vec<Hit>, SearchUsed, Option<String>)> {
        let exclude = exclude.to_vec();
        let limit = self.search_limit();
        if method == Method::Mul {
            let hits = cosmul_top_k(self.store(), &c.terms, &c.subword_terms, k, &exclude, limit)
                .map_err(index_failure)?;
            return Ok((hits, SearchUsed::Exact, None));
        }
        let vector = c.unit_f32();
        let q = Query {
            vector: &vector,
            k,
            exclude: &exclude,
            limit,
        };
        // Approximate only when asked. A forest asked for a small candidate set reads the
        // candidates one by one, while the exact scan of the first N rows simply stops at row
        // N: below the size where the forest wins at all, a restricted search is exact even
        // under `--approx`.
        let want_approx = match self.settings.mode {
            SearchMode::Exact => false,
            SearchMode::Approx => limit >= self.store().len() || limit >= APPROX_MIN_WORDS,
        };
        let mut note = None;
        if want_approx {
            match self.store().approx_top_k(&q, &self.settings.approx) {
                Ok(Some(hits)) => return Ok((hits, SearchUsed::Approx, None)),
                Ok(None) => {
                    note = Some(match self.settings.approx.kind {
                        crate::index::ApproxKind::Lists => "the approximate-search lists are not \
                            built yet; this answer is exact (`vecsh build FILE` builds them)"
                            .to_string(),
                        crate::index::ApproxKind::Forest => "the approximate-search forest is not \
                            built yet; this answer is exact (`vecsh build FILE --trees 30` builds \
                            one)"
                            .to_string(),
                    });
                }
                Err(e) => {
                    note = Some(format!(
                        "approximate search failed ({e}); this answer is exact"
                    ))
                }
            }
        }
        let hits = self.store().exact_top_k(&q).map_err(index_failure)?;
        Ok((hits, SearchUsed::Exact, note))
    }

    /// How many rows a search may look at: every word, or the first `restrict` of them.
    pub fn search_limit(&self) -> usize {
        let len = self.store().len();
        self.settings.restrict.map_or(len, |n| n.min(len))
    }

    fn named(&self, hits: &[Hit]) -> Vec<Neighbour> {
        hits.iter()
            .map(|h| Neighbour {
                word: self.store().word(h.id).unwrap_or("?").to_string(),
                score: h.score,
                label: self.store().label(h.id),
            })
            .collect()
    }

    /// `:svg FILE EXPR`: the map of EXPR (a `plot(...)` or `arrows(...)`), to be written to
    /// FILE by the front-end. EXPR's spans stay those of the whole line, so errors point into it.
    fn svg_command(&mut self, args: &str, args_span: Span) -> Result<Value> {
        let usage = "write :svg FILE.svg plot(...) or :svg FILE.svg arrows(...)";
        // A quoted name may hold blanks: `:svg "my map.svg" plot(...)`.
        let quoted = parse::leading_quoted(args).map_err(|e| {
            let shift = |s: Span| Span::new(s.start + args_span.start, s.end + args_span.start);
            EvalError::from(e).spanned(shift)
        })?;
        let (file, file_end) = match quoted {
            Some((name, end)) => (std::borrow::Cow::Owned(name), end),
            None => {
                let end = args.find(char::is_whitespace).unwrap_or(args.len());
                (std::borrow::Cow::Borrowed(&args[..end]), end)
            }
        };
        let file_span = Span::new(args_span.start, args_span.start + file_end);
        if file.is_empty() {
            return Err(EvalError::at(args_span, "expected a file name and a map").help(usage));
        }
        // Checked before the map is drawn (the front-end's write refuses them too, atomically,
        // but only after the answer was shown).
        let path = std::path::Path::new(&*file);
        if path.is_dir() {
            return Err(EvalError::at(
                file_span,
                format!("{file} is a directory: give a file name ending in .svg"),
            )
            .help(usage));
        }
        if path.symlink_metadata().is_ok() {
            return Err(EvalError::at(
                file_span,
                format!("{file} already exists: vecsh does not overwrite files"),
            )
            .help("remove it or choose another name"));
        }
        if !file.to_ascii_lowercase().ends_with(".svg") {
            return Err(EvalError::at(
                file_span,
                format!("expected a file name ending in .svg, found '{file}'"),
            )
            .help(usage));
        }
        let rest = &args[file_end..];
        let expr_start = args_span.start + file_end + (rest.len() - rest.trim_start().len());
        let expr_text = rest.trim();
        if expr_text.is_empty() {
            return Err(EvalError::at(
                Span::new(args_span.end, args_span.end),
                format!("expected a map to write to {file}"),
            )
            .help(usage));
        }
        // Parsed as if it stood where it stands in the line, so spans need no shifting.
        let padded = format!("{}{expr_text}", " ".repeat(expr_start));
        let statement = parse::parse_statement(&padded)?;
        let Statement::Expr(expr) = &statement else {
            return Err(EvalError::at(
                Span::new(expr_start, expr_start + expr_text.len()),
                "expected plot(...) or arrows(...)",
            )
            .help(usage));
        };
        let is_map =
            matches!(&expr.kind, ExprKind::Call { name, .. } if name == "plot" || name == "arrows");
        if !is_map {
            return Err(EvalError::at(expr.span, "expected plot(...) or arrows(...)").help(usage));
        }
        let shown = self
            .show(expr, &padded)
            .map_err(|err| self.every_unknown_word(&statement, err))?;
        let mut shown = shown;
        if let Value::Map { svg, .. } = &mut shown {
            *svg = Some(file.to_string());
        }
        Ok(shown)
    }

    /// A map's `k=N` (with its span) and its expressions: `name` is the function, for the
    /// errors.
    fn map_options<'e>(&self, name: &str, args: &'e [Expr]) -> Result<(MapK, Vec<&'e Expr>)> {
        let mut k = None;
        let mut exprs = Vec::new();
        for arg in args {
            match &arg.kind {
                ExprKind::Option {
                    name: option,
                    name_span,
                    value,
                    text,
                } => {
                    if option != "k" {
                        return Err(EvalError::at(
                            *name_span,
                            format!("unknown option '{option}' of {name}"),
                        )
                        .help(format!(
                            "{name} knows k=N: each expression's N nearest neighbours"
                        )));
                    }
                    // Silently letting the last one win would hide a slip.
                    if k.is_some() {
                        return Err(EvalError::at(arg.span, format!("{option} is given twice"))
                            .help(format!(
                                "give each option once, e.g. {name}(king, queen, k=3)"
                            )));
                    }
                    let n = *value as usize;
                    if value.fract() != 0.0 || n == 0 || n > MAP_MAX_K {
                        return Err(EvalError::at(
                            arg.span,
                            format!("k={text}: expected a whole number from 1 to {MAP_MAX_K}"),
                        ));
                    }
                    k = Some((n, arg.span));
                }
                _ => exprs.push(arg),
            }
        }
        Ok((k, exprs))
    }

    /// `plot(a, b, ..., k=N)`: each argument is a point (a word is an input; an expression or
    /// a named result is an expression point, with its words as inputs); `k=N` adds each
    /// argument's N neighbours under the session's settings (restriction, method, include).
    /// Arguments from several spaces make a picture of change (`map::change_map`).
    fn plot(&mut self, args: &[Expr], span: Span, query: String, line: &str) -> Result<Value> {
        let (k, exprs) = self.map_options("plot", args)?;
        if exprs.is_empty() {
            return Err(EvalError::at(
                span,
                "plot needs at least one expression, e.g. plot(king, queen, man, woman)",
            )
            .help("plot(king - man + woman, k=10) shows an expression with its 10 neighbours"));
        }
        let mut vectors = Vec::new();
        for arg in &exprs {
            vectors.push(self.map_vector(arg)?);
        }
        let k = k.map(|(n, _)| n);
        if map::across_spaces(self, &vectors) {
            return self.change_map(&exprs, vectors, k, false, query, line);
        }
        let mut map = MapBuilder::default();
        for (arg, c) in exprs.iter().zip(&vectors) {
            self.add_argument(&mut map, arg, c, line, true)?;
        }
        if let Some(k) = k {
            for c in &vectors {
                let _in = self.spaces.enter(c.space);
                let (hits, _, _) = self.search(c, self.settings.method, k)?;
                for h in hits {
                    if let Some(word) = self.store().word(h.id) {
                        map.add(word, Role::Result, self.unit(h.id)?);
                    }
                }
            }
        }
        Ok(map.finish(query, Vec::new(), None))
    }

    /// `arrows(a, b, c, d, ...)`: an arrow from each argument to the next, in pairs (a → b,
    /// c → d), the offset picture of the word2vec papers. Arguments from several spaces make
    /// a picture of change (`map::change_map`): a word's path, with `k=N` neighbours.
    fn arrows(&mut self, args: &[Expr], span: Span, query: String, line: &str) -> Result<Value> {
        let (k, exprs) = self.map_options("arrows", args)?;
        let mut vectors = Vec::new();
        for arg in &exprs {
            vectors.push(self.map_vector(arg)?);
        }
        if vectors.len() >= 2 && map::across_spaces(self, &vectors) {
            return self.change_map(&exprs, vectors, k.map(|(n, _)| n), true, query, line);
        }
        if let Some((_, option)) = k {
            return Err(EvalError::at(option, "arrows takes no options").help(
                "for neighbours, use plot(expression, k=N); arrows(in(a, w), in(b, w), k=N) draws a word's path through aligned spaces with N neighbours in each",
            ));
        }
        if exprs.len() < 2 || !exprs.len().is_multiple_of(2) {
            return Err(EvalError::at(
                span,
                format!("arrows takes pairs of expressions, found {}", exprs.len()),
            )
            .help("e.g. arrows(man, king, woman, queen) draws man → king and woman → queen"));
        }
        let mut map = MapBuilder::default();
        let mut ends = Vec::new();
        for (arg, c) in exprs.iter().zip(&vectors) {
            ends.push(self.add_argument(&mut map, arg, c, line, false)?);
        }
        let arrows = ends.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
        Ok(map.finish(query, arrows, None))
    }

    /// Puts one argument of a map on it and returns its point's index. A word (not a named
    /// result) is an input; anything else an expression point, labelled with its source text,
    /// and with `with_words` its words as inputs too.
    fn add_argument(
        &self,
        map: &mut MapBuilder,
        arg: &Expr,
        c: &Combination,
        line: &str,
        with_words: bool,
    ) -> Result<usize> {
        let is_word = match &arg.kind {
            ExprKind::Word { text, quoted } => *quoted || !self.vars.contains_key(text),
            ExprKind::Number { .. } => true,
            _ => false,
        };
        if is_word {
            return Ok(map.add(&source_text_of(arg), Role::Input, c.unit_f32()));
        }
        let at = map.add(&source_text(line, arg.span), Role::Expression, c.unit_f32());
        if with_words {
            let _in = self.spaces.enter(c.space);
            for id in c.input_ids() {
                if let Some(word) = self.store().word(id) {
                    map.add(word, Role::Input, self.unit(id)?);
                }
            }
        }
        Ok(at)
    }

    /// An argument of a map: a vector, where a bare number is the word it spells (`15`).
    /// A point of a map: a vector with a direction, since a map shows unit vectors.
    fn map_vector(&mut self, arg: &Expr) -> Result<Combination> {
        let v = self.eval(arg)?;
        let c = self.as_vector(v, arg)?;
        if c.unit_f32().iter().all(|&x| x == 0.0) {
            return Err(EvalError::at(
                arg.span,
                format!(
                    "'{}' has no direction (its vector is zero), so it has no place on a map",
                    source_text_of(arg)
                ),
            ));
        }
        Ok(c)
    }

    /// The unit vector of `id`, an id from the word table. Only a source read in place that
    /// was truncated or rewritten since the index was built can make this fail.
    fn unit(&self, id: u32) -> Result<Vec<f32>> {
        match self.store().unit_row(id) {
            Ok(Some(row)) => Ok(row.into_owned()),
            Ok(None) => Err(EvalError::unplaced(format!(
                "the index has no vector for row {id}"
            ))),
            Err(e) => Err(index_failure(e)),
        }
    }

    /// gensim's doesnt_match: the word whose unit vector is least similar to the mean of all.
    fn odd(&mut self, args: &[Expr], span: Span, query: String) -> Result<Value> {
        if args.len() < 2 {
            return Err(EvalError::at(
                span,
                "odd needs at least two words, e.g. odd(breakfast, cereal, dinner, lunch)",
            ));
        }
        let mut units = Vec::new();
        let mut first = None;
        for arg in args {
            let c = self.vector(arg)?;
            let space = *first.get_or_insert(c.space);
            let c = self.carry(c, space, arg.span)?;
            units.push((source_text_of(arg), c.unit_f32()));
        }
        let dims = units[0].1.len();
        let mut mean = vec![0f32; dims];
        for (_, u) in &units {
            mean.iter_mut()
                .zip(u)
                .for_each(|(m, x)| *m += x / units.len() as f32);
        }
        let mut scores: Vec<Neighbour> = units
            .iter()
            .map(|(w, u)| Neighbour {
                word: w.clone(),
                score: search::dot(u, &mean),
                label: None,
            })
            .collect();
        // Show every word with its cosine to the (normalised) mean, least similar first.
        let norm = search::dot(&mean, &mean).sqrt();
        if norm > 0.0 {
            scores.iter_mut().for_each(|n| n.score /= norm);
        }
        scores.sort_by(|a, b| a.score.total_cmp(&b.score));
        // Two terms are always equally far from their mean; a tie at the bottom has no odd one.
        let word = match scores.as_slice() {
            [lowest, next, ..] if scores.len() > 2 && next.score - lowest.score > ODD_TIE => {
                Some(lowest.word.clone())
            }
            _ => None,
        };
        Ok(Value::Odd {
            query,
            word,
            scores,
            subwords: Vec::new(),
        })
    }

    fn vector(&mut self, expr: &Expr) -> Result<Combination> {
        match self.eval(expr)? {
            Val::Vector(c) => Ok(c),
            // `sim(1999, 1998)`: a bare number where a vector goes is the word.
            n @ Val::Number(_) if self.names_word(expr) => self.as_vector(n, expr),
            Val::Number(n) => Err(EvalError::at(
                expr.span,
                format!("expected a vector here, found the number {n}"),
            )),
        }
    }

    fn eval(&mut self, expr: &Expr) -> Result<Val> {
        match &expr.kind {
            ExprKind::Word { text, quoted } => self.word(text, *quoted, expr.span).map(Val::Vector),
            ExprKind::Number { value, .. } => Ok(Val::Number(*value)),
            ExprKind::Neg(inner) => Ok(match self.eval(inner)? {
                Val::Number(n) => Val::Number(-n),
                Val::Vector(c) => Val::Vector(c.scaled(-1.0)),
            }),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, expr.span),
            ExprKind::Analogy { a, b, c } => {
                let (a_span, c_span) = (a.span, c.span);
                let (a, b, c) = (self.vector(a)?, self.vector(b)?, self.vector(c)?);
                let ba = self.combine(b, a, -1.0, expr.span, a_span)?;
                Ok(Val::Vector(self.combine(ba, c, 1.0, expr.span, c_span)?))
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } => self.call(name, *name_span, args, expr.span),
            ExprKind::Option { name, .. } => Err(EvalError::at(
                expr.span,
                format!("'{name}=' is an option of plot(...), not a value"),
            )
            .help("e.g. plot(king - man + woman, k=10)")),
        }
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, span: Span) -> Result<Val> {
        // A bare number beside + or - with a vector is a word (`1999 + 2000`), not a scalar.
        // README: a bare number is a number next to * and /, the vocabulary word elsewhere:
        // `1999 - 1998` subtracts the words' vectors, while `2 * sim(a, b) - 1` stays
        // arithmetic (a computed number on one side).
        let words =
            matches!(op, BinOp::Add | BinOp::Sub) && self.names_word(lhs) && self.names_word(rhs);
        let l = self.eval(lhs)?;
        let r = self.eval(rhs)?;
        let result = self.arithmetic(op, lhs, rhs, l, r, span, words)?;
        // Numbers that overflow (1e300 * 1e300) or lose meaning (0 * inf) stop here.
        if let Val::Number(x) = result {
            if !x.is_finite() {
                return Err(EvalError::at(
                    span,
                    format!("the result is not a finite number ({x})"),
                ));
            }
        }
        Ok(result)
    }

    #[allow(clippy::too_many_arguments)]
    fn arithmetic(
        &mut self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        l: Val,
        r: Val,
        span: Span,
        words: bool,
    ) -> Result<Val> {
        match (op, l, r) {
            (BinOp::Add | BinOp::Sub, Val::Number(a), Val::Number(b)) if !words => {
                Ok(Val::Number(if op == BinOp::Add { a + b } else { a - b }))
            }
            (BinOp::Add | BinOp::Sub, l, r) => {
                let sign = if op == BinOp::Add { 1.0 } else { -1.0 };
                let l = self.as_vector(l, lhs)?;
                let r = self.as_vector(r, rhs)?;
                Ok(Val::Vector(self.combine(l, r, sign, span, rhs.span)?))
            }
            (BinOp::Mul, Val::Number(a), Val::Number(b)) => Ok(Val::Number(a * b)),
            (BinOp::Mul, Val::Number(a), Val::Vector(c))
            | (BinOp::Mul, Val::Vector(c), Val::Number(a)) => {
                Ok(Val::Vector(c.scaled(f32_scale(a, span)?)))
            }
            (BinOp::Mul, Val::Vector(_), Val::Vector(_)) => {
                Err(
                    EvalError::at(span, "cannot multiply two vectors").help(format!(
                        "for their cosine similarity, write sim({}, {})",
                        lhs, rhs
                    )),
                )
            }
            (BinOp::Div, _, Val::Number(0.0)) => Err(EvalError::at(rhs.span, "division by zero")),
            (BinOp::Div, Val::Number(a), Val::Number(b)) => Ok(Val::Number(a / b)),
            (BinOp::Div, Val::Vector(c), Val::Number(b)) => {
                Ok(Val::Vector(c.scaled(f32_scale(1.0 / b, span)?)))
            }
            (BinOp::Div, _, Val::Vector(_)) => {
                Err(EvalError::at(rhs.span, "cannot divide by a vector")
                    .help("divide by a number, e.g. king / 2"))
            }
        }
    }

    /// A number standing where a vector is expected is the vocabulary word it spells.
    /// Whether `expr` is a bare number that names a vocabulary word, or its negation (`1999`,
    /// `-1999`): the word wherever a number is not wanted (see `binary`).
    fn names_word(&self, expr: &Expr) -> bool {
        match &expr.kind {
            ExprKind::Number { text, .. } => self.store().id(text).is_some(),
            ExprKind::Neg(inner) => self.names_word(inner),
            _ => false,
        }
    }

    fn as_vector(&mut self, v: Val, expr: &Expr) -> Result<Combination> {
        match (v, &expr.kind) {
            (Val::Vector(c), _) => Ok(c),
            (Val::Number(_), ExprKind::Number { text, .. }) if self.store().id(text).is_some() => {
                self.word(text, true, expr.span)
            }
            (Val::Number(n), ExprKind::Neg(inner)) if self.names_word(inner) => {
                Ok(self.as_vector(Val::Number(-n), inner)?.scaled(-1.0))
            }
            // The number as typed when it is a literal; the span shows which one otherwise.
            (Val::Number(_), kind) => Err(EvalError::at(expr.span, match kind {
                ExprKind::Number { text, .. } => format!("cannot add the number {text} to a vector"),
                _ => "cannot add the number this computes to a vector".to_string(),
            })
                .help("scale a vector with * or /, e.g. 0.5 * king; quote a word that looks like a number: \"1/2\"")),
        }
    }

    fn call(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<Val> {
        match name {
            "sim" => {
                let [a, b] = args else {
                    return Err(EvalError::at(
                        span,
                        "sim takes two expressions, e.g. sim(king, queen)",
                    ));
                };
                let b_span = b.span;
                let (a, b) = (self.vector(a)?, self.vector(b)?);
                // Across spaces: `b` read in `a`'s (an error for other dimensions).
                let b = self.carry(b, a.space, b_span)?;
                Ok(Val::Number(search::dot(&a.unit_f32(), &b.unit_f32()) as f64))
            }
            "in" => self.in_space(args, span),
            "mean" => {
                if args.is_empty() {
                    return Err(EvalError::at(span, "mean needs at least one expression"));
                }
                let mut total: Option<Combination> = None;
                for arg in args {
                    let c = self.vector(arg)?;
                    total = Some(match total {
                        None => c,
                        Some(t) => self.combine(t, c, 1.0, span, arg.span)?,
                    });
                }
                Ok(Val::Vector(
                    total
                        .expect("at least one argument")
                        .scaled(1.0 / args.len() as f64),
                ))
            }
            "odd" | "cosmul" | "plot" | "arrows" | "compare" => Err(EvalError::at(
                span,
                format!("{name}(...) can only stand alone on a line"),
            )
            .help(format!(
                "its result is a ranking, not a vector: write {name}(...) by itself"
            ))),
            _ => {
                let mut err = EvalError::at(name_span, format!("unknown function '{name}'"));
                if let Some(best) = closest(name, FUNCTIONS.iter().copied()) {
                    err = err.help(format!("did you mean '{best}'?"));
                } else {
                    err = err.help(
                        "functions: sim(a, b), odd(a, b, c, ...), mean(a, b, ...), cosmul(expr), plot(a, b, ..., k=N), arrows(a, b, c, d, ...), in(SPACE, expr), compare(expr)",
                    );
                }
                Err(err)
            }
        }
    }

    /// The space an argument names: a bare word, a number or a quoted string.
    fn space_arg(&self, arg: &Expr) -> Result<usize> {
        match &arg.kind {
            ExprKind::Word { text, .. } | ExprKind::Number { text, .. } => {
                self.space_named(text, arg.span)
            }
            _ => Err(
                EvalError::at(arg.span, "expected the name of an open space here")
                    .help("e.g. in(glove, king); :use lists the open spaces"),
            ),
        }
    }

    /// `in(SPACE, EXPR)`: EXPR evaluated in SPACE (its words looked up there); a vector of
    /// another space in it is carried into SPACE (`carry`).
    fn in_space(&mut self, args: &[Expr], span: Span) -> Result<Val> {
        let [space, expr] = args else {
            return Err(EvalError::at(
                span,
                format!(
                    "in takes a space and an expression, found {} arguments",
                    args.len()
                ),
            )
            .help("e.g. in(glove, king - man + woman)"));
        };
        if let ExprKind::Option { .. } = expr.kind {
            return Err(EvalError::at(expr.span, "in takes no options"));
        }
        let i = self.space_arg(space)?;
        // Not a guard: `eval` borrows the session mutably.
        let was = self.spaces.set_active(i);
        // A number computed there (`in(b, sim(king, queen))`) is that space's answer; a bare
        // number naming a word there is the word.
        let v = match self.eval(expr) {
            Ok(n @ Val::Number(_)) if self.names_word(expr) => {
                self.as_vector(n, expr).map(Val::Vector)
            }
            other => other,
        };
        self.spaces.set_active(was);
        match v? {
            Val::Vector(c) => self.carry(c, i, expr.span).map(Val::Vector),
            number => Ok(number),
        }
    }

    fn word(&self, text: &str, quoted: bool, span: Span) -> Result<Combination> {
        if !quoted {
            if let Some(binding) = self.vars.get(text) {
                return Ok(binding.value.clone());
            }
        }
        if text.is_empty() && self.store().id(text).is_none() {
            return Err(EvalError::at(span, "empty quoted word")
                .help("\"\" is the empty word, and this vocabulary has none"));
        }
        if let Some(id) = self.store().id(text) {
            let unit = self.unit(id).map_err(|e| e.at_span(span))?;
            return Ok(Combination {
                vector: unit.iter().map(|&x| x as f64).collect(),
                terms: vec![(id, 1.0, 1)],
                subword_terms: Vec::new(),
                tokens: Vec::new(),
                space: self.spaces.active(),
            });
        }
        // A model: a raw token, the normaliser's form, or a phrase through its tokenizer.
        if self.store().model().is_some() {
            return self.model_word(text, span);
        }
        // fastText models: an unknown word is the mean of its character n-gram vectors.
        if self.settings.subwords {
            if let Some(unit) = self.store().subword_vector(text) {
                self.subword_log.borrow_mut().push(SubwordWord {
                    word: text.to_string(),
                    oov: true,
                    hint: self.unknown_word(text, span).help,
                    tokens: Vec::new(),
                });
                return Ok(Combination {
                    vector: unit.iter().map(|&x| x as f64).collect(),
                    terms: Vec::new(),
                    subword_terms: vec![(unit, 1.0, 1)],
                    tokens: Vec::new(),
                    space: self.spaces.active(),
                });
            }
        }
        Err(self.unknown_word(text, span))
    }

    /// A typed text that is no shown form, on a model (`index::phrase`): the raw token
    /// (`Ġking`) or the normaliser's form (`King` on an uncased model) is that token's row;
    /// anything else is pooled through the tokenizer (`"new york"`), its tokens left out of
    /// the answers like the expression's own words. Logged for the output's mark.
    fn model_word(&self, text: &str, span: Span) -> Result<Combination> {
        let failed = |e: PhraseError| EvalError::at(span, e.to_string());
        let single = |id: u32| -> Result<Combination> {
            let unit = self.unit(id).map_err(|e| e.at_span(span))?;
            Ok(Combination {
                vector: unit.iter().map(|&x| x as f64).collect(),
                terms: vec![(id, 1.0, 1)],
                subword_terms: Vec::new(),
                tokens: Vec::new(),
                space: self.spaces.active(),
            })
        };
        let log = |ids: &[u32]| {
            self.subword_log.borrow_mut().push(SubwordWord {
                word: text.to_string(),
                oov: true,
                hint: None,
                tokens: ids
                    .iter()
                    .map(|&id| self.store().word(id).unwrap_or("?").to_string())
                    .collect(),
            })
        };
        if let Some(id) = self.store().token_row(text).map_err(failed)? {
            log(&[id]);
            return single(id);
        }
        let phrase = match self.store().phrase(text) {
            Ok(phrase) => phrase,
            Err(PhraseError::NoToken(_)) => {
                let unknown = self.unknown_word(text, span);
                return Err(EvalError {
                    message: format!(
                        "'{text}' has no token in this model's vocabulary (the tokenizer \
                         leaves only the unknown token, or nothing)"
                    ),
                    ..unknown
                });
            }
            Err(e) => return Err(failed(e)),
        };
        log(&phrase.ids);
        // One token (or one repeated): that token's row, an input like a typed word.
        if phrase.ids.iter().all(|&id| id == phrase.ids[0]) {
            return single(phrase.ids[0]);
        }
        let norm = phrase
            .vector
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            return Err(EvalError::at(
                span,
                format!("'{text}' pools to a zero vector (its tokens' rows cancel out)"),
            ));
        }
        let unit: Vec<f32> = phrase
            .vector
            .iter()
            .map(|&x| (f64::from(x) / norm) as f32)
            .collect();
        let mut tokens = phrase.ids.clone();
        tokens.sort_unstable();
        tokens.dedup();
        Ok(Combination {
            vector: unit.iter().map(|&x| x as f64).collect(),
            terms: Vec::new(),
            subword_terms: vec![(unit, 1.0, 1)],
            tokens,
            space: self.spaces.active(),
        })
    }

    /// Whether a text that is no shown form gets a vector on a model (a raw token, the
    /// normaliser's form, a phrase with a known token).
    fn model_resolves(&self, text: &str) -> bool {
        self.store().model().is_some()
            && (matches!(self.store().token_row(text), Ok(Some(_)))
                || self.store().phrase(text).is_ok())
    }

    fn unknown_word(&self, text: &str, span: Span) -> EvalError {
        let err = EvalError::at(span, format!("unknown word '{text}'"));
        // `king-man` is one token (a word may contain '-', like e-mail); if its parts are known,
        // the user almost certainly meant subtraction.
        if text.contains('-') && !text.starts_with('-') && !text.ends_with('-') {
            let parts: Vec<&str> = text.split('-').collect();
            if parts
                .iter()
                .all(|p| self.store().id(p).is_some() || self.vars.contains_key(*p))
            {
                return err.help(format!(
                    "did you mean '{}'? (put spaces around '-' to subtract)",
                    parts.join(" - ")
                ));
            }
        }
        let lower = text.to_lowercase();
        if lower != text && self.store().id(&lower).is_some() {
            return err.help(format!("did you mean '{lower}'?"));
        }
        let names = self.vars.keys().map(|k| k.as_str());
        match closest_words(self.store(), &lower, names).as_slice() {
            [] => err,
            found => err.help(format!("did you mean {}?", alternatives(found))),
        }
    }
}

fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Exact => "on",
        SearchMode::Approx => "off",
    }
}

/// `:k N`'s number, or the help for what was typed instead.
fn parse_k(args: &str) -> std::result::Result<usize, String> {
    if let Ok(k) = args.parse::<usize>() {
        return Ok(k);
    }
    if args.starts_with('-') && args[1..].parse::<u128>().is_ok() {
        return Err(":k 0 shows no neighbours".to_string());
    }
    if let Ok(x) = args.parse::<f64>() {
        let integral = x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 1e15;
        if integral && args.contains(['e', 'E']) {
            return Err(format!("write the number out: :k {}", x as u64));
        }
    }
    Err("e.g. :k 20".to_string())
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Add => "add",
        Method::Mul => "mul",
    }
}

fn source_text(line: &str, span: Span) -> String {
    line.get(span.start..span.end)
        .unwrap_or("")
        .trim()
        .to_string()
}

fn source_text_of(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Word { text, .. } | ExprKind::Number { text, .. } => text.clone(),
        _ => expr.to_string(),
    }
}

/// 3CosMul (gensim's most_similar_cosmul): Π (1+cos(x, pos))/2 / (Π (1+cos(x, neg))/2 + ε).
/// Only the first `limit` rows are candidates.
fn cosmul_top_k(
    store: &Store,
    terms: &[(u32, f64, u64)],
    subword_terms: &[(Vec<f32>, f64, u64)],
    k: usize,
    exclude: &[u32],
    limit: usize,
) -> crate::index::Result<Vec<Hit>> {
    // Every row is scored in f32: an index that reads rows from the source reads them all.
    let unit = store.unit_rows()?;
    let signed = |positive: bool| -> Vec<Vec<f32>> {
        let side = |w: f64| if positive { w > 0.0 } else { w < 0.0 };
        // One factor per repeat (`MAX_TERMS` bounds them), as gensim has one per listed word.
        let repeat = |n: u64| 0..n.min(MAX_TERMS);
        terms
            .iter()
            .filter(|t| side(t.1))
            .flat_map(|t| repeat(t.2).map(|_| unit.row(t.0 as usize).to_vec()))
            .chain(
                subword_terms
                    .iter()
                    .filter(|t| side(t.1))
                    .flat_map(|t| repeat(t.2).map(|_| t.0.clone())),
            )
            .collect()
    };
    let (pos, neg) = (signed(true), signed(false));
    Ok(search::kernels::cosmul_top_k(
        &unit,
        &pos,
        &neg,
        k,
        exclude,
        limit.min(store.len()),
    ))
}
