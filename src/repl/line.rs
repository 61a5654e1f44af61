//! The line editor's side of the REPL: Tab completion, grey hints, live highlighting and
//! continuation lines while parentheses are open, as a rustyline helper.
//!
//! It reads the line with the parser's own tokenizer ([`parse::tokens`]), which never fails: it
//! runs on every keystroke over half-typed input, where the parser could only report an error.
//! [`classes`] gives each token the class the highlighter colours (a unit test holds them equal
//! to what the parser makes of the same text). Highlighting only wraps the line's own text in
//! colour codes, so its display width never changes (rustyline positions the cursor by the
//! plain text's width).

use std::borrow::Cow;
use std::cell::Cell;

use owo_colors::{OwoColorize, Style};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::commands::{self, Args, Command};
use crate::eval::spaces::StoreRef;
use crate::eval::FUNCTIONS;
use crate::index::Store;
use crate::parse::{self, Kind, Token};

/// Most candidates Tab offers: enough to scan, few enough to fit a screen.
pub const MAX_CANDIDATES: usize = 50;

/// What the line editor needs to know about the vocabulary. `Store` implements it; tests can
/// use a plain list.
pub trait Vocabulary {
    fn contains(&self, word: &str) -> bool;
    /// Up to `max` words starting with `prefix`, most frequent first.
    fn most_frequent_with_prefix(&self, prefix: &str, max: usize) -> Vec<String>;
    /// Whether some word starts with `prefix`.
    fn has_prefix(&self, prefix: &str) -> bool;
}

impl Vocabulary for Store {
    fn contains(&self, word: &str) -> bool {
        self.id(word).is_some()
    }

    fn most_frequent_with_prefix(&self, prefix: &str, max: usize) -> Vec<String> {
        // The prefix scan yields words in byte order while ids are frequency ranks, so the most
        // frequent matches are only known once all are read: fine for a rare prefix, but `s`
        // has 36,000 words among 400,000 (60 ms, on every keystroke for the hint). A common
        // prefix is the reverse case: its words come early in id order, so walk that instead.
        const SCAN: usize = 2_000;
        let mut matches = self.words_with_prefix(prefix, SCAN);
        if matches.len() < SCAN {
            matches.sort_unstable_by_key(|&(_, id)| id);
            // The key of a very long word is cut and hashed: take the word from its id.
            return matches
                .iter()
                .take(max)
                .filter_map(|&(_, id)| self.word(id).map(str::to_string))
                .collect();
        }
        self.words()
            .filter(|(_, w)| w.starts_with(prefix))
            .take(max)
            .map(|(_, w)| w.to_string())
            .collect()
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        !self.words_with_prefix(prefix, 1).is_empty()
    }
}

impl Vocabulary for Vec<&str> {
    fn contains(&self, word: &str) -> bool {
        self.as_slice().contains(&word)
    }

    /// The list order stands for frequency order.
    fn most_frequent_with_prefix(&self, prefix: &str, max: usize) -> Vec<String> {
        self.iter()
            .filter(|w| w.starts_with(prefix))
            .take(max)
            .map(|w| w.to_string())
            .collect()
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.iter().any(|w| w.starts_with(prefix))
    }
}

/// The vocabularies of several spaces as one: a word of any, the first one's words first.
struct Union<'a>(Vec<&'a dyn Vocabulary>);

impl Vocabulary for Union<'_> {
    fn contains(&self, word: &str) -> bool {
        self.0.iter().any(|v| v.contains(word))
    }

    fn most_frequent_with_prefix(&self, prefix: &str, max: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in &self.0 {
            if out.len() >= max {
                break;
            }
            for w in v.most_frequent_with_prefix(prefix, max) {
                if out.len() < max && !out.contains(&w) {
                    out.push(w);
                }
            }
        }
        out
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.0.iter().any(|v| v.has_prefix(prefix))
    }
}

/// One open space as the editor sees it: its name and its words.
pub struct SpaceWords<'a> {
    pub name: &'a str,
    pub vocab: &'a dyn Vocabulary,
}

/// The session's open spaces and which one is active: a word outside `in(…)` is looked up in
/// the active one (and completed from every one, the active one's first); inside
/// `in(NAME, …)` in NAME's; `in(`'s first argument is a space's name.
pub struct OpenSpaces<'a> {
    pub spaces: Vec<SpaceWords<'a>>,
    pub active: usize,
}

impl<'a> OpenSpaces<'a> {
    /// One space, as a session of one file is.
    pub fn one(vocab: &'a dyn Vocabulary) -> OpenSpaces<'a> {
        OpenSpaces {
            spaces: vec![SpaceWords { name: "", vocab }],
            active: 0,
        }
    }

    fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.spaces.iter().map(|s| s.name).filter(|n| !n.is_empty())
    }

    /// The space names starting with `prefix`.
    fn name_candidates(&self, prefix: &str) -> Vec<Completion> {
        self.names()
            .filter(|n| n.starts_with(prefix))
            .take(MAX_CANDIDATES)
            .map(|n| Completion::same(n.to_string()))
            .collect()
    }

    /// The words a word standing at `place` is looked up in (`Where::Active`: the active
    /// space's alone when `looked_up`, as the evaluator looks it up; every space's, the active
    /// one's first, for completion).
    fn vocab(&self, place: Where, looked_up: bool) -> Box<dyn Vocabulary + '_> {
        match place {
            Where::In(i) => Box::new(Union(vec![self.spaces[i].vocab])),
            _ if looked_up || self.spaces.len() == 1 => {
                Box::new(Union(vec![self.spaces[self.active].vocab]))
            }
            _ => {
                let mut all = vec![self.spaces[self.active].vocab];
                all.extend(
                    self.spaces
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != self.active)
                        .map(|(_, s)| s.vocab),
                );
                Box::new(Union(all))
            }
        }
    }
}

/// Where a token stands, for looking its word up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Outside any `in(…)`: the active space.
    Active,
    /// The first argument of `in(`: a space's name.
    SpaceName,
    /// Inside `in(NAME, …)` after the comma: space NAME (an index into `OpenSpaces::spaces`).
    In(usize),
}

/// Where each token of `toks` stands, and (last) where text typed after them would.
fn places(toks: &[&Token], open: &OpenSpaces) -> Vec<Where> {
    struct Frame {
        is_in: bool,
        commas: usize,
        space: Option<usize>,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut before_paren: Option<&Token> = None;
    let mut out = Vec::with_capacity(toks.len() + 1);
    let here = |stack: &[Frame]| match stack.iter().rev().find(|f| f.is_in) {
        None => Where::Active,
        Some(f) if f.commas == 0 => Where::SpaceName,
        Some(f) => f.space.map_or(Where::Active, Where::In),
    };
    for &t in toks {
        out.push(here(&stack));
        match t.kind {
            Kind::LParen => {
                let is_in = before_paren.is_some_and(|p| p.kind == Kind::Word && p.text == "in");
                stack.push(Frame {
                    is_in,
                    commas: 0,
                    space: None,
                });
            }
            Kind::RParen => {
                stack.pop();
            }
            Kind::Comma => {
                if let Some(top) = stack.last_mut() {
                    top.commas += 1;
                }
            }
            Kind::Word | Kind::Number | Kind::Quoted => {
                if let Some(top) = stack.last_mut().filter(|f| f.is_in && f.commas == 0) {
                    let name = t
                        .word()
                        .map_or_else(|| t.text.to_string(), |w| w.into_owned());
                    top.space = open.spaces.iter().position(|s| s.name == name);
                }
            }
            _ => {}
        }
        if !t.kind.is_trivia() {
            before_paren = Some(t);
        }
    }
    out.push(here(&stack));
    out
}

// ------------------------------------------------------------------------------- classes

/// How the editor reads one token of the line, from the parser's own tokens
/// ([`parse::tokens`]): what the highlighter colours and what it looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Blanks: drawn as typed.
    Blank,
    Comment,
    /// `+ - * / , : :: =` and parentheses.
    Operator,
    Number,
    /// A word to look up: the word it denotes as the evaluator sees it (`None`: a quoted word
    /// the parser rejects, e.g. for an unknown escape), and whether it is quoted.
    Word {
        word: Option<String>,
        quoted: bool,
    },
    /// `"...` to the end of the line: still being typed.
    OpenQuote,
    /// `let` opening a binding.
    Keyword,
    /// The name a binding binds (new, so not a vocabulary word).
    Name,
    /// A word in a call's name position: an identifier right before `(`.
    Function,
    /// `?` on a line with an analogy's `::`.
    Query,
    /// `:name` of a command line.
    CommandName,
    /// An argument of a command other than `:ast`.
    Argument,
    /// Text the tokenizer could not read.
    Error,
}

/// The parser's tokens of `line`, each with the class the editor gives it.
pub fn classes(line: &str) -> Vec<(Token<'_>, Class)> {
    let toks = parse::tokens(line);
    let analogy = toks.iter().any(|t| t.kind == Kind::DColon);
    let significant: Vec<&Token> = toks.iter().filter(|t| !t.kind.is_trivia()).collect();
    let mut sig: usize = 0;
    let mut out = Vec::with_capacity(toks.len());
    for t in &toks {
        let class = match t.kind {
            Kind::Blank => Class::Blank,
            Kind::Comment => Class::Comment,
            Kind::Number => Class::Number,
            Kind::OpenQuote => Class::OpenQuote,
            Kind::CommandName => Class::CommandName,
            Kind::Argument => Class::Argument,
            Kind::Error => Class::Error,
            Kind::Quoted => Class::Word {
                word: t.word().map(|w| w.into_owned()),
                quoted: true,
            },
            Kind::Word => {
                let prev = sig.checked_sub(1).and_then(|p| significant.get(p));
                let next = significant.get(sig + 1).map(|n| n.kind);
                let first = sig == 0 || (sig == 1 && prev.is_some_and(|p| p.text == "let"));
                if sig == 0 && t.text == "let" && next.is_some() {
                    Class::Keyword
                } else if first && next == Some(Kind::Eq) {
                    Class::Name
                } else if next == Some(Kind::LParen) && t.is_ident() {
                    Class::Function
                } else if t.text == "?" && analogy {
                    Class::Query
                } else {
                    Class::Word {
                        word: Some(t.text.to_string()),
                        quoted: false,
                    }
                }
            }
            _ => Class::Operator,
        };
        if !t.kind.is_trivia() {
            sig += 1;
        }
        out.push((*t, class));
    }
    out
}

/// A word as it must be typed: bare when the grammar reads it back as that one word and it
/// holds no terminal control, else quoted (`parse::quoted`).
pub fn typed_form(word: &str) -> String {
    let toks = parse::tokens(word);
    let bare = matches!(toks.as_slice(), [t] if matches!(t.kind, Kind::Word | Kind::Number))
        && word != "let"
        && !word.chars().any(crate::text::is_unsafe);
    if bare {
        return word.to_string();
    }
    parse::quoted(word)
}

// ------------------------------------------------------------------------------- highlighting

/// The colours of the input line.
mod palette {
    use owo_colors::Style;

    pub fn unknown() -> Style {
        Style::new().red()
    }
    pub fn operator() -> Style {
        Style::new().bold()
    }
    pub fn number() -> Style {
        Style::new().yellow()
    }
    pub fn name() -> Style {
        Style::new().cyan()
    }
    pub fn function() -> Style {
        Style::new().blue()
    }
    pub fn keyword() -> Style {
        Style::new().magenta()
    }
    pub fn command() -> Style {
        Style::new().magenta().bold()
    }
    pub fn quoted() -> Style {
        Style::new().green()
    }
    pub fn comment() -> Style {
        Style::new().dimmed()
    }
    pub fn hint() -> Style {
        Style::new().dimmed()
    }
}

/// `line` with colour codes around its tokens: unknown words red, operators, numbers, named
/// results, functions and commands styled. `cursor` (a byte offset) spares the word being
/// typed: it is not red while it is still the start of a known word. Removing the codes gives
/// back `line` exactly.
pub fn highlight(
    line: &str,
    cursor: Option<usize>,
    vocab: &dyn Vocabulary,
    vars: &[String],
) -> String {
    highlight_in(line, cursor, &OpenSpaces::one(vocab), vars)
}

/// [`highlight`] over several spaces: a word is looked up where the evaluator looks it up
/// (the active space, or NAME's inside `in(NAME, …)`); `in(`'s first argument is red unless it
/// names an open space (or is still the start of one's name).
pub fn highlight_in(
    line: &str,
    cursor: Option<usize>,
    open: &OpenSpaces,
    vars: &[String],
) -> String {
    let classes = classes(line);
    let command = classes
        .iter()
        .find(|(t, _)| t.kind == Kind::CommandName)
        .map(|(c, _)| &c.text[1..]);
    let toks: Vec<&Token> = classes.iter().map(|(t, _)| t).collect();
    let places = places(&toks, open);
    let mut out = String::with_capacity(line.len() * 2);
    for (i, (t, class)) in classes.iter().enumerate() {
        let word = t.text;
        let typing = cursor == Some(t.span.end);
        let vocab = open.vocab(places[i], true);
        let vocab = vocab.as_ref();
        if places[i] == Where::SpaceName && matches!(class, Class::Word { .. }) {
            let name = t.word().unwrap_or_default();
            let known = open.names().any(|n| n == name)
                || (typing && open.names().any(|n| n.starts_with(&*name)));
            let style = if known {
                palette::name()
            } else {
                palette::unknown()
            };
            out.push_str(&word.style(style).to_string());
            continue;
        }
        let style = match class {
            Class::Blank => None,
            Class::Comment => Some(palette::comment()),
            Class::Operator | Class::Query => Some(palette::operator()),
            Class::Number => Some(palette::number()),
            Class::OpenQuote => Some(palette::quoted()),
            Class::Keyword => Some(palette::keyword()),
            Class::Name => Some(palette::name()),
            Class::Error => Some(palette::unknown()),
            Class::Word {
                word: w,
                quoted: true,
            } => Some(if w.as_deref().is_some_and(|w| vocab.contains(w)) {
                palette::quoted()
            } else {
                palette::unknown()
            }),
            Class::CommandName => {
                let name = &word[1..];
                if Command::lookup(name).is_some() {
                    Some(palette::command())
                } else if typing && commands::starting_with(name).next().is_some() {
                    Some(palette::keyword())
                } else {
                    Some(palette::unknown())
                }
            }
            Class::Argument => {
                let valid = command.map(commands::values);
                match valid {
                    Some(values) if values.contains(&word) => Some(palette::quoted()),
                    Some(values)
                        if !values.is_empty()
                            && (!typing || !values.iter().any(|v| v.starts_with(word))) =>
                    {
                        Some(palette::unknown())
                    }
                    _ => None,
                }
            }
            Class::Function => {
                if FUNCTIONS.contains(&word) {
                    Some(palette::function())
                } else if typing && FUNCTIONS.iter().any(|f| f.starts_with(word)) {
                    None
                } else {
                    Some(palette::unknown())
                }
            }
            Class::Word { quoted: false, .. } => {
                // A word still being typed is not wrong while it can become a known one.
                let starts_a_name = |w: &str| {
                    typing
                        && (vocab.has_prefix(w)
                            || vars.iter().any(|v| v.starts_with(w))
                            || FUNCTIONS.iter().any(|f| f.starts_with(w)))
                };
                if vars.iter().any(|v| v == word) {
                    Some(palette::name())
                } else if vocab.contains(word) || starts_a_name(word) {
                    None
                } else {
                    Some(palette::unknown())
                }
            }
        };
        match style {
            // Style each line of a multi-line token by itself, so no code spans a line break.
            Some(style) => {
                for (n, part) in word.split('\n').enumerate() {
                    if n > 0 {
                        out.push('\n');
                    }
                    if !part.is_empty() {
                        out.push_str(&part.style(style).to_string());
                    }
                }
            }
            None => out.push_str(word),
        }
    }
    out
}

// ------------------------------------------------------------------------------- completion

/// One Tab candidate: what the list shows and what replaces the text from `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub display: String,
    pub replacement: String,
}

impl Completion {
    fn same(text: String) -> Completion {
        Completion {
            display: text.clone(),
            replacement: text,
        }
    }
}

/// Candidates for the text before `pos`, and the byte offset they replace from: command names
/// and their values on `:` lines, else named results, functions and vocabulary words (most
/// frequent first) for the word under the cursor, at most `MAX_CANDIDATES`.
pub fn complete(
    line: &str,
    pos: usize,
    vocab: &dyn Vocabulary,
    vars: &[String],
) -> (usize, Vec<Completion>) {
    complete_in(line, pos, &OpenSpaces::one(vocab), vars)
}

/// [`complete`] over several spaces: words of every open space (the active one's first), or
/// inside `in(NAME, …)` of NAME's; space names as `in(`'s first argument and the arguments of
/// `:use` and `:align`.
pub fn complete_in(
    line: &str,
    pos: usize,
    open: &OpenSpaces,
    vars: &[String],
) -> (usize, Vec<Completion>) {
    let head = &line[..pos];
    let toks = parse::tokens(head);
    let refs: Vec<&Token> = toks.iter().collect();
    let places = places(&refs, open);
    // Where the token starting at `start` stands (or text typed at the cursor would), and the
    // words completed there.
    let place_at = |start: usize| {
        toks.iter()
            .position(|t| t.span.start == start && start < pos)
            .map_or(places[toks.len()], |i| places[i])
    };
    if let Some(cmd) = toks.iter().find(|t| t.kind == Kind::CommandName) {
        let colon = cmd.span.start;
        if cmd.span.end == head.len() {
            // The cursor is in the command's name.
            let prefix = &cmd.text[1..];
            let names = commands::starting_with(prefix)
                .map(|c| Completion {
                    display: format!(":{}", c.name),
                    replacement: if c.tab_space {
                        format!("{} ", c.name)
                    } else {
                        c.name.to_string()
                    },
                })
                .collect();
            return (colon + 1, names);
        }
        let name = &cmd.text[1..];
        if Command::lookup(name).map(Command::args) != Some(Args::Expr) {
            // The argument under the cursor (none in a comment).
            let (start, prefix) = match toks.last() {
                Some(t) if t.kind == Kind::Argument => (t.span.start, t.text),
                Some(t) if t.kind == Kind::Comment => return (pos, Vec::new()),
                _ => (pos, ""),
            };
            if let Some(candidates) = argument_candidates(name, &toks, start, prefix, open) {
                return (start, candidates);
            }
            let values = commands::values(name)
                .iter()
                .filter(|v| v.starts_with(prefix))
                .map(|v| Completion::same(v.to_string()));
            return (start, values.collect());
        }
    }
    // Inside an unterminated quote: complete the quoted word, closing the quote.
    if let Some(t) = toks.last().filter(|t| t.kind == Kind::OpenQuote) {
        let prefix = t.word().unwrap_or_default();
        if prefix.is_empty() {
            return (pos, Vec::new());
        }
        let vocab = open.vocab(place_at(t.span.start), false);
        let words = vocab.most_frequent_with_prefix(&prefix, MAX_CANDIDATES);
        let quoted = words.into_iter().map(|w| Completion {
            replacement: parse::quoted(&w),
            display: w,
        });
        return (t.span.start, quoted.collect());
    }
    // A model's word-internal piece typed as lists show it (`##for`) is a comment to the
    // grammar: completed to its quoted form (`"##form"`), which is the token.
    if let Some(t) = toks.last().filter(|t| t.kind == Kind::Comment) {
        let vocab = open.vocab(place_at(t.span.start), false);
        return (t.span.start, piece_candidates(t.text, vocab.as_ref()));
    }
    // The word under the cursor: a word or number, with the hyphens typed after it (`king-`
    // may become `king-size`); not a minus sign before it.
    let mut start = pos;
    for t in toks.iter().rev() {
        let joined =
            t.span.end == start && matches!(t.kind, Kind::Word | Kind::Number | Kind::Minus);
        if !joined {
            break;
        }
        start = t.span.start;
    }
    start += head[start..]
        .find(|c: char| c != '-')
        .unwrap_or(head.len() - start);
    let prefix = &head[start..];
    let place = place_at(start);
    if place == Where::SpaceName {
        return (start, open.name_candidates(prefix));
    }
    if prefix.is_empty() {
        return (pos, Vec::new());
    }
    let mut out: Vec<Completion> = Vec::new();
    let push = |c: Completion, out: &mut Vec<Completion>| {
        if out.len() < MAX_CANDIDATES && !out.iter().any(|o| o.replacement == c.replacement) {
            out.push(c);
        }
    };
    let mut names: Vec<&String> = vars.iter().filter(|v| v.starts_with(prefix)).collect();
    names.sort();
    for v in names {
        push(Completion::same(v.clone()), &mut out);
    }
    // Functions only from two letters on, so that `s` offers the frequent words first.
    if prefix.len() >= 2 {
        for f in FUNCTIONS.iter().filter(|f| f.starts_with(prefix)) {
            push(
                Completion {
                    display: format!("{f}("),
                    replacement: format!("{f}("),
                },
                &mut out,
            );
        }
    }
    for w in open
        .vocab(place, false)
        .most_frequent_with_prefix(prefix, MAX_CANDIDATES)
    {
        push(
            Completion {
                replacement: typed_form(&w),
                display: w,
            },
            &mut out,
        );
    }
    (start, out)
}

/// The quoted forms of the vocabulary's words starting with `comment`, when it is a bare
/// `##piece` (no blank in it): a model's word-internal pieces are shown `##ing`, which the
/// grammar reads as a comment. Nothing for any other comment.
fn piece_candidates(comment: &str, vocab: &dyn Vocabulary) -> Vec<Completion> {
    if parse::commented_piece(comment) != Some(comment) {
        return Vec::new();
    }
    vocab
        .most_frequent_with_prefix(comment, MAX_CANDIDATES)
        .into_iter()
        .map(|w| Completion {
            replacement: parse::quoted(&w),
            display: w,
        })
        .collect()
}

/// Candidates for the argument starting at `start` of the command `name` that are not in the
/// command table: file names for the first argument of `:svg FILE EXPR` and the second of
/// `:eval analogy FILE` / `:eval similarity FILE`, topics for `:help TOPIC`. `None`: the
/// table's values, if any, apply.
fn argument_candidates(
    name: &str,
    toks: &[Token],
    start: usize,
    prefix: &str,
    open: &OpenSpaces,
) -> Option<Vec<Completion>> {
    let before = toks
        .iter()
        .filter(|t| t.kind == Kind::Argument && t.span.start < start)
        .count();
    match (Command::lookup(name), before) {
        (Some(Command::Svg), 0) | (Some(Command::Eval), 1) | (Some(Command::Open), 0) => {
            Some(file_names(prefix))
        }
        (Some(Command::Use), 0) | (Some(Command::Align), 0 | 1) => {
            Some(open.name_candidates(prefix))
        }
        (Some(Command::Help), 0) => Some(
            crate::render::help::topics()
                .into_iter()
                .filter(|t| t.starts_with(prefix))
                .map(|t| Completion::same(t.to_string()))
                .collect(),
        ),
        _ => None,
    }
}

/// The files and directories whose path starts with `prefix` (`dir/ma` → `dir/map.svg`),
/// directories with a `/` to go on, hidden ones only when the prefix starts with `.`, sorted;
/// a name with blanks or quotes is replaced quoted, as the commands read it. Nothing when the
/// directory cannot be read.
fn file_names(prefix: &str) -> Vec<Completion> {
    // A quoted name being typed is completed without its opening quote.
    let typed = prefix.strip_prefix('"').unwrap_or(prefix);
    let (dir, stem) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
        return Vec::new();
    };
    let mut found: Vec<(String, bool)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let hidden = name.starts_with('.') && !stem.starts_with('.');
            (name.starts_with(stem) && !hidden).then(|| (name, e.path().is_dir()))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .take(MAX_CANDIDATES)
        .map(|(name, is_dir)| {
            let slash = if is_dir { "/" } else { "" };
            let path = format!("{dir}{name}{slash}");
            let replacement = if path.contains(|c: char| c.is_whitespace() || c == '"') {
                // Closed only on a file: a directory's name goes on.
                let inner = format!("\"{}", path.replace('\\', "\\\\").replace('"', "\\\""));
                if is_dir {
                    inner
                } else {
                    format!("{inner}\" ")
                }
            } else if is_dir {
                path
            } else {
                format!("{path} ")
            };
            Completion {
                display: format!("{name}{slash}"),
                replacement,
            }
        })
        .collect()
}

/// The grey suggestion after the cursor: the rest of the best completion, at the end of the line.
pub fn hint(line: &str, pos: usize, vocab: &dyn Vocabulary, vars: &[String]) -> Option<String> {
    hint_in(line, pos, &OpenSpaces::one(vocab), vars)
}

/// [`hint`] over several spaces ([`complete_in`]).
pub fn hint_in(line: &str, pos: usize, open: &OpenSpaces, vars: &[String]) -> Option<String> {
    if pos < line.len() || line.trim().is_empty() {
        return None;
    }
    let (start, candidates) = complete_in(line, pos, open, vars);
    let typed = &line[start..pos];
    let best = candidates.into_iter().next()?;
    let rest = best.replacement.strip_prefix(typed)?.trim_end();
    // A hint is drawn as it is: none for a word holding control characters.
    let safe = !rest.chars().any(crate::text::is_unsafe);
    (!rest.is_empty() && safe).then(|| rest.to_string())
}

// ------------------------------------------------------------------------------- rustyline

/// The rustyline helper: completion, hints, highlighting and validation over one store.
pub struct LineHelper<'s> {
    /// The open spaces' names and stores ([`LineHelper::set_spaces`]), the active one's index.
    spaces: Vec<(String, StoreRef<'s>)>,
    active: usize,
    /// Named results of the session, refreshed after each line.
    pub vars: Vec<String>,
    /// Colour (and so hints, which without colour would look typed) is on.
    color: bool,
    /// The next highlight is the final one of an accepted line: no word is "being typed".
    accepted: Cell<bool>,
}

impl<'s> LineHelper<'s> {
    pub fn new(store: &'s Store, color: bool) -> LineHelper<'s> {
        LineHelper {
            spaces: vec![(String::new(), StoreRef::Borrowed(store))],
            active: 0,
            vars: Vec::new(),
            color,
            accepted: Cell::new(false),
        }
    }

    /// The session's open spaces (`Spaces::handles`) and the active one, refreshed after each
    /// line.
    pub fn set_spaces(&mut self, spaces: Vec<(String, StoreRef<'s>)>, active: usize) {
        if !spaces.is_empty() {
            self.active = active.min(spaces.len() - 1);
            self.spaces = spaces;
        }
    }

    fn open(&self) -> OpenSpaces<'_> {
        OpenSpaces {
            spaces: self
                .spaces
                .iter()
                .map(|(name, store)| SpaceWords {
                    name,
                    vocab: &**store,
                })
                .collect(),
            active: self.active,
        }
    }
}

impl Completer for LineHelper<'_> {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, candidates) = complete_in(line, pos, &self.open(), &self.vars);
        Ok((
            start,
            candidates
                .into_iter()
                .map(|c| Pair {
                    // The list shows vocabulary text: escaped, like every file text on screen.
                    display: crate::text::escape(&c.display).into_owned(),
                    replacement: c.replacement,
                })
                .collect(),
        ))
    }
}

impl Hinter for LineHelper<'_> {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if !self.color {
            return None;
        }
        hint_in(line, pos, &self.open(), &self.vars)
    }
}

impl Highlighter for LineHelper<'_> {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        let cursor = (!self.accepted.get()).then_some(pos);
        Cow::Owned(highlight_in(line, cursor, &self.open(), &self.vars))
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if self.color && default {
            Cow::Owned(prompt.style(Style::new().cyan().bold()).to_string())
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(hint.style(palette::hint()).to_string())
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        // Colours depend on the whole line and on where the cursor is, so every edit and move
        // redraws the line (a few lookups: cheap).
        self.accepted.set(kind == CmdKind::ForcedRefresh);
        self.color
    }
}

/// Every line is accepted at Enter: a line left with an open parenthesis is continued by the
/// session under its own prompt (`repl::CONTINUATION`), which rustyline's multi-line editing
/// would not show.
impl Validator for LineHelper<'_> {
    fn validate(&self, _: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(ValidationResult::Valid(None))
    }
}

impl Helper for LineHelper<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_forms_quote_what_the_grammar_would_split() {
        assert_eq!(typed_form("e-mail"), "e-mail");
        assert_eq!(typed_form("c++"), "\"c++\"");
        assert_eq!(typed_form("-lrb-"), "\"-lrb-\"");
        assert_eq!(typed_form("let"), "\"let\"");
        assert_eq!(typed_form("u.s."), "u.s.");
    }

    #[test]
    fn completion_finds_the_word_under_the_cursor() {
        let vocab = &vec!["the", "queen", "question", "quest", "simple", "sim", "c++"];
        let vars = vec!["quux".to_string()];
        let (start, c) = complete("sim(que", 7, vocab, &vars);
        assert_eq!(start, 4);
        assert_eq!(
            c.iter().map(|c| c.replacement.as_str()).collect::<Vec<_>>(),
            ["queen", "question", "quest"]
        );
        let (start, c) = complete("king -qu", 8, vocab, &vars);
        assert_eq!((start, c[0].replacement.as_str()), (6, "quux"));
        let (_, c) = complete("si", 2, vocab, &vars);
        assert_eq!(c[0].replacement, "sim(");
        let (_, c) = complete("c", 1, vocab, &vars);
        assert_eq!(c[0].replacement, "\"c++\"");
        let (start, c) = complete(":ex", 3, vocab, &vars);
        assert_eq!((start, c[0].replacement.as_str()), (1, "exact "));
        let (start, c) = complete(":method m", 9, vocab, &vars);
        assert_eq!((start, c[0].replacement.as_str()), (8, "mul"));
        assert_eq!(hint("king + qu", 9, vocab, &vars).as_deref(), Some("ux"));
        assert_eq!(hint("que", 2, vocab, &vars), None);
    }

    /// A word-internal piece typed bare, as lists show it (`##for`), is a comment: Tab offers
    /// its quoted form, which is the token; an ordinary comment is left alone.
    #[test]
    fn completion_offers_every_spaces_words_and_space_names() {
        let a = vec!["king", "kingdom", "w03", "w00"];
        let t = vec!["w00", "t26", "kin"];
        let open = OpenSpaces {
            spaces: vec![
                SpaceWords {
                    name: "a",
                    vocab: &a,
                },
                SpaceWords {
                    name: "third",
                    vocab: &t,
                },
            ],
            active: 0,
        };
        let words = |line: &str| -> Vec<String> {
            complete_in(line, line.len(), &open, &[])
                .1
                .into_iter()
                .map(|c| c.replacement)
                .collect()
        };
        // Outside in(): every space's words, the active one's first.
        assert_eq!(words("ki"), ["king", "kingdom", "kin"]);
        assert_eq!(words("t2"), ["t26"]);
        // Inside in(NAME, …): NAME's alone, however deep.
        assert_eq!(words("in(third, w0"), ["w00"]);
        assert_eq!(words("in(third, king - ki"), ["kin"]);
        assert_eq!(words("in(a, mean(w0"), ["w03", "w00"]);
        assert_eq!(words("in(third, in(a, w0"), ["w03", "w00"]);
        assert_eq!(words("in(third, w00) + w0"), ["w03", "w00"]);
        // A space's name as in('s first argument, and after :use and :align.
        assert_eq!(words("in(th"), ["third"]);
        assert_eq!(words("sim(king, in("), ["a", "third"]);
        assert_eq!(words(":use t"), ["third"]);
        assert_eq!(words(":align a t"), ["third"]);
        assert_eq!(words(":align "), ["a", "third"]);
        assert_eq!(words(":compare in(th"), ["third"]);
        assert_eq!(words(":compare in(third, w0"), ["w00"]);
        // Highlighting looks a word up where the evaluator does.
        let red = |line: &str| highlight_in(line, None, &open, &[]).contains("\u{1b}[31m");
        assert!(!red("in(third, t26)") && red("t26") && red("in(thrd, t26)"));
        assert!(!red("in(a, king) + kingdom") && red("in(third, kingdom)"));
    }

    #[test]
    fn a_bare_piece_completes_quoted() {
        let vocab = &vec!["for", "##form", "##fore", "##s"];
        let (start, c) = complete("king + ##for", 12, vocab, &[]);
        assert_eq!(start, 7);
        assert_eq!(
            c.iter().map(|c| c.replacement.as_str()).collect::<Vec<_>>(),
            ["\"##form\"", "\"##fore\""]
        );
        assert_eq!(complete("##s", 3, vocab, &[]).1[0].replacement, "\"##s\"");
        for quiet in ["## for", "##", "# ##for", "#for"] {
            assert!(
                complete(quiet, quiet.len(), vocab, &[]).1.is_empty(),
                "{quiet}"
            );
        }
    }

    /// Words holding terminal controls (BEL, backspace, C1 CSI, bidi overrides, zero-width
    /// characters) are inserted escaped, never raw, and what is inserted still evaluates to the
    /// word: a quoted word with `\u{..}` escapes.
    #[test]
    fn completion_inserts_no_terminal_controls() {
        let words = [
            "ab\u{7}c",
            "ab\u{8}\u{8}x",
            "ab\u{9b}31m",
            "ab\u{1b}[2J",
            "ab\u{200b}min",
            "ab\u{202e}txt",
            "ab\u{2066}q",
            "ab\u{feff}",
            "ab\u{61c}z",
            "ab\u{200d}z",
        ];
        let vocab = &words.to_vec();
        for line in ["ab", "king + ab", "\"ab"] {
            let (start, c) = complete(line, line.len(), vocab, &[]);
            assert_eq!(c.len(), words.len(), "{line}: {c:?}");
            for (c, word) in c.iter().zip(words) {
                assert!(
                    !c.replacement.chars().any(crate::text::is_unsafe),
                    "{line}: {word:?} inserted as {:?}",
                    c.replacement
                );
                let typed = format!("{}{}", &line[..start], c.replacement);
                let toks = parse::tokens(&typed);
                let last = toks.last().expect("a token");
                assert_eq!(last.word().as_deref(), Some(word), "{line}: {typed:?}");
            }
        }
    }

    /// The old character scan cut a command's argument after a blank at the blank's first byte:
    /// inside a no-break space (two bytes), a panic.
    #[test]
    fn completion_offers_file_names_after_svg_and_eval_and_topics_after_help() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap();
        std::fs::write(tmp.path().join("map.svg"), "").unwrap();
        std::fs::write(tmp.path().join("pairs.txt"), "").unwrap();
        std::fs::write(tmp.path().join("my map.svg"), "").unwrap();
        std::fs::create_dir(tmp.path().join("maps")).unwrap();
        let vocab = vec!["map", "maps"];
        let offered = |line: &str| -> Vec<String> {
            let (start, c) = complete(line, line.len(), &vocab, &[]);
            c.into_iter()
                .map(|c| format!("{}{}", &line[..start], c.replacement))
                .collect()
        };
        assert_eq!(
            offered(&format!(":svg {dir}/ma")),
            [format!(":svg {dir}/map.svg "), format!(":svg {dir}/maps/")]
        );
        assert_eq!(
            offered(&format!(":svg {dir}/my")),
            [format!(":svg \"{dir}/my map.svg\" ")]
        );
        assert_eq!(
            offered(&format!(":eval similarity {dir}/pa")),
            [format!(":eval similarity {dir}/pairs.txt ")]
        );
        assert!(offered(&format!(":eval {dir}/pa")).is_empty());
        // `:help` completes its topics.
        assert_eq!(offered(":help pl"), [":help plot"]);
        assert_eq!(
            offered(":help a"),
            [
                ":help arithmetic",
                ":help analogy",
                ":help arrows",
                ":help alltokens",
                ":help align",
                ":help ast"
            ]
        );
        assert!(offered(":svg /no/such/dir/x").is_empty());
    }

    #[test]
    fn completion_after_a_wide_blank() {
        let vocab = &vec!["king"];
        for line in [":exact \u{a0}", ":exact on\u{3000}o", "king\u{a0}k"] {
            let _ = complete(line, line.len(), vocab, &[]);
        }
        let (start, c) = complete(":exact\u{a0}o", 9, vocab, &[]);
        assert_eq!((start, c[0].replacement.as_str()), (8, "on"));
    }

    const RED: &str = "\x1b[31m";

    /// Drift case: `"caf\u{e9}"` evaluates to `café`, so with `café` in the vocabulary it is
    /// a known word, not painted red.
    #[test]
    fn a_quoted_word_is_looked_up_as_it_evaluates() {
        let vocab = &vec!["café", "king"];
        let painted = highlight("king + \"caf\\u{e9}\"", None, vocab, &[]);
        assert!(!painted.contains(RED), "{painted:?}");
        let painted = highlight("\"caf\\u{e8}\"", None, vocab, &[]);
        assert!(painted.contains(RED), "{painted:?}");
    }

    /// Drift case: the grammar's identifiers take ASCII digits only, so `x٣(king)` is no call
    /// (the parser reads the word `x٣`, then a parenthesis): the editor looks `x٣` up as a word
    /// instead of painting it as an unknown function.
    #[test]
    fn a_word_with_a_unicode_digit_is_classed_as_the_grammar_classes_it() {
        let vocab = &vec!["x٣", "king"];
        let painted = highlight("x٣(king)", None, vocab, &[]);
        assert!(!painted.starts_with(RED), "{painted:?}");
        // With an ASCII digit it is a call's name, and `x3` is no function.
        let painted = highlight("x3(king)", None, &vec!["x3", "king"], &[]);
        assert!(painted.starts_with(RED), "{painted:?}");
    }

    mod same_tokens_as_the_parser {
        //! The editor's token classes equal the parser's on random lines.
        use proptest::prelude::*;

        use super::super::{classes, Class};
        use crate::ast::{Expr, ExprKind, Span, Statement};
        use crate::parse::{parse_statement, Kind};

        /// The alphabet of random lines: words (Unicode letters and digits too), numbers, quoted
        /// words with escapes, operators, parentheses, `let`, comments and junk.
        const PIECES: &[&str] = &[
            "king",
            "café",
            "日本",
            "x٣",
            "٣",
            "٣x",
            "x_1",
            "e-mail",
            "c#",
            "'s",
            "?",
            "let",
            "sim",
            "mean",
            "x",
            "1990s",
            "u.s.",
            "king-",
            "a--b",
            "2",
            ".5",
            "1e-3",
            "10",
            "\"a b\"",
            "\"caf\\u{e9}\"",
            "\"\\\"x\"",
            "\"\\q\"",
            "\"\"",
            "\"?\"",
            "\"\\u{zz}\"",
            "\"x\\n\"",
            "\"let\"",
            "\"",
            "\"caf\\u{e",
            "+",
            "-",
            "*",
            "/",
            "=",
            ",",
            ":",
            "::",
            "(",
            ")",
            "(",
            ")",
            "# c",
            "#",
            "!",
            "\\",
            "\u{a0}",
            "é",
        ];
        const SEPARATORS: &[&str] = &["", "", " ", " ", "  ", "\n", "\t"];
        const PREFIXES: &[&str] = &["", "", "", "", ":k ", ":ast ", ":", " :exact ", ":method "];

        fn line() -> impl Strategy<Value = String> {
            (
                prop::sample::select(PREFIXES),
                prop::collection::vec(
                    (
                        prop::sample::select(PIECES),
                        prop::sample::select(SEPARATORS),
                    ),
                    0..12,
                ),
            )
                .prop_map(|(prefix, pieces)| {
                    let mut line = prefix.to_string();
                    for (piece, sep) in pieces {
                        line.push_str(piece);
                        line.push_str(sep);
                    }
                    line
                })
        }

        /// Operands and operators of expressions the parser mostly accepts.
        const OPERANDS: &[&str] = &[
            "king",
            "café",
            "日本",
            "x٣",
            "x_1",
            "e-mail",
            "c#",
            "'s",
            "?",
            "2",
            ".5",
            "1e-3",
            "\"a b\"",
            "\"caf\\u{e9}\"",
            "\"\\q\"",
            "(king - man)",
            "sim(king, x٣)",
            "mean(a, k=10)",
            "x٣ (a)",
            "let(a)",
            "-king",
            "f(a : b :: c : ?)",
            "x3(y)",
        ];
        const OPERATORS: &[&str] = &[" + ", "-", " * ", " / ", " - ", "+"];

        fn expression() -> impl Strategy<Value = String> {
            (
                prop::sample::select(&["", "", "let x = ", "x = ", "y=", ":ast "][..]),
                prop::collection::vec(
                    (
                        prop::sample::select(OPERANDS),
                        prop::sample::select(OPERATORS),
                    ),
                    0..5,
                ),
                prop::sample::select(OPERANDS),
                prop::sample::select(&["", "", " # note", " : b :: c : ?"][..]),
            )
                .prop_map(|(head, terms, last, tail)| {
                    let mut line = head.to_string();
                    for (operand, operator) in terms {
                        line.push_str(operand);
                        line.push_str(operator);
                    }
                    line + last + tail
                })
        }

        /// The words (span, word, quoted), numbers, call names and bound name of a tree.
        #[derive(Debug, Default, PartialEq)]
        struct Leaves {
            words: Vec<(Span, String, bool)>,
            numbers: Vec<Span>,
            calls: Vec<Span>,
            names: Vec<Span>,
        }

        fn leaves(e: &Expr, out: &mut Leaves) {
            match &e.kind {
                ExprKind::Word { text, quoted } => out.words.push((e.span, text.clone(), *quoted)),
                ExprKind::Number { .. } => out.numbers.push(e.span),
                ExprKind::Option {
                    name,
                    name_span,
                    text,
                    ..
                } => {
                    // An option's name is looked up like a word by the editor.
                    out.words.push((*name_span, name.clone(), false));
                    out.numbers
                        .push(Span::new(e.span.end - text.len(), e.span.end));
                }
                ExprKind::Call {
                    name_span, args, ..
                } => {
                    out.calls.push(*name_span);
                    args.iter().for_each(|a| leaves(a, out));
                }
                ExprKind::Neg(x) => leaves(x, out),
                ExprKind::Binary { lhs, rhs, .. } => {
                    leaves(lhs, out);
                    leaves(rhs, out);
                }
                ExprKind::Analogy { a, b, c } => {
                    for x in [a, b, c] {
                        leaves(x, out);
                    }
                }
            }
        }

        fn sorted(mut l: Leaves) -> Leaves {
            // A bare `?` is the analogy's query or a word, depending on the line: left out.
            l.words.retain(|(_, w, quoted)| *quoted || w != "?");
            l.words.sort_by_key(|w| w.0.start);
            l.numbers.sort_by_key(|s| s.start);
            l.calls.sort_by_key(|s| s.start);
            l
        }

        fn same_classes(line: &str) -> Result<(), TestCaseError> {
            let classes = classes(line);
            // The tokens cover the line, in order.
            let mut at = 0;
            for (t, _) in &classes {
                prop_assert_eq!(t.span.start, at, "{:?}", classes);
                prop_assert_eq!(t.text, &line[t.span.start..t.span.end]);
                at = t.span.end;
            }
            prop_assert_eq!(at, line.len());
            // Each word, number and call name is what the parser makes of it.
            let significant: Vec<_> = classes
                .iter()
                .filter(|(t, _)| !t.kind.is_trivia())
                .collect();
            for (n, (t, class)) in significant.iter().enumerate() {
                let alone = parse_statement(t.text);
                // In parentheses, as `let()` alone would open a binding.
                let call = parse_statement(&format!("({}())", t.text));
                let is_call = matches!(&call, Ok(Statement::Expr(Expr { kind: ExprKind::Call { name, .. }, .. })) if name == t.text);
                let before_paren = significant
                    .get(n + 1)
                    .is_some_and(|(next, _)| next.kind == Kind::LParen);
                match class {
                    Class::Word { word, quoted } => {
                        let parsed = match alone {
                            Ok(Statement::Expr(Expr {
                                kind: ExprKind::Word { text, quoted: q },
                                ..
                            })) if q == *quoted => Some(text),
                            Err(_) if *quoted => None,
                            other => {
                                return Err(TestCaseError::fail(format!(
                                    "{line:?}: {:?} is {class:?} for the editor, {other:?} for the parser",
                                    t.text
                                )))
                            }
                        };
                        prop_assert_eq!(word, &parsed, "{:?} in {:?}", t.text, line);
                        prop_assert!(
                            !(before_paren && !quoted && is_call),
                            "{:?} in {:?}: a call's name for the parser, a word for the editor",
                            t.text,
                            line
                        );
                    }
                    Class::Function => prop_assert!(
                        is_call,
                        "{:?} in {:?}: a call's name for the editor, {:?} for the parser",
                        t.text,
                        line,
                        call
                    ),
                    // A literal out of a float's range is a number the parser refuses as
                    // such ("too small", "too large"): the editor still shows a number.
                    Class::Number => prop_assert!(
                        matches!(
                            &alone,
                            Ok(Statement::Expr(Expr {
                                kind: ExprKind::Number { .. },
                                ..
                            }))
                        ) || alone
                            .as_ref()
                            .is_err_and(|e| e.message.starts_with("the number ")),
                        "{:?} in {:?}",
                        t.text,
                        line
                    ),
                    _ => {}
                }
            }
            // On a line the parser accepts, the editor's words, numbers, calls and bound name
            // are the tree's.
            let (tree, mut name) = match parse_statement(line) {
                Ok(Statement::Expr(e)) => (Some(e), None),
                Ok(Statement::Let {
                    name_span, value, ..
                }) => (Some(value), Some(name_span)),
                _ => (None, None),
            };
            if let Some(tree) = tree {
                let mut want = Leaves::default();
                leaves(&tree, &mut want);
                want.names.extend(name.take());
                let mut got = Leaves::default();
                for (t, class) in &classes {
                    match class {
                        Class::Word {
                            word: Some(w),
                            quoted,
                        } => got.words.push((t.span, w.clone(), *quoted)),
                        Class::Number => got.numbers.push(t.span),
                        Class::Function => got.calls.push(t.span),
                        Class::Name => got.names.push(t.span),
                        _ => {}
                    }
                }
                prop_assert_eq!(sorted(got), sorted(want), "{:?}", line);
            }
            Ok(())
        }

        /// Found by the property below: a literal out of a float's range.
        #[test]
        fn numbers_out_of_range_class_as_numbers() {
            for line in ["1e-3210", "1e400", "2 * 1e-999"] {
                same_classes(line).unwrap();
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            #[test]
            fn the_editor_classes_tokens_as_the_parser_does(
                line in prop_oneof![line(), expression()]
            ) {
                same_classes(&line)?;
            }
        }

        #[test]
        fn the_drift_cases() {
            for line in [
                "\"caf\\u{e9}\"",
                "x٣(king)",
                "king + x٣ (a)",
                "let x = \"caf\\u{e9}\" - x٣",
            ] {
                same_classes(line).unwrap();
            }
        }
    }
}
