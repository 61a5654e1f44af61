//! The line editor's side of the REPL: a tolerant tokenizer for what is being typed, and the
//! rustyline helper built on it (Tab completion, grey hints, live highlighting, and
//! continuation lines while parentheses are open).
//!
//! The tokenizer follows the lexical rules of `grammar.pest` but never fails: it runs on every
//! keystroke over half-typed input, where the parser could only report an error. Highlighting
//! only wraps the line's own text in colour codes, so its display width never changes
//! (rustyline positions the cursor by the plain text's width).

use std::borrow::Cow;
use std::cell::Cell;

use owo_colors::{OwoColorize, Style};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::commands::{self, Args, Command};
use crate::eval::FUNCTIONS;
use crate::index::Store;
use crate::parse;

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

// ------------------------------------------------------------------------------- tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Blank,
    Comment,
    Word,
    /// `"..."`, closed.
    Quoted,
    /// `"...` to the end of the input: still being typed.
    OpenQuote,
    Number,
    /// `+ - * / , : :: =`
    Operator,
    Paren,
    /// `:name` at the start of a command line.
    CommandName,
    /// A blank-separated argument of a command other than `:ast`.
    Argument,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// A character that can start a word (the grammar's `wchar`).
fn is_wchar(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '+' | '-' | '*' | '/' | '(' | ')' | ',' | ':' | '=' | '"' | '#'
        ))
}

/// Splits any text into tokens covering all of it, in order.
pub fn tokenize(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let trimmed = line.trim_start();
    if trimmed.starts_with(':') {
        tokenize_command(line, line.len() - trimmed.len(), &mut out);
    } else {
        tokenize_expr(line, 0, line.len(), &mut out);
    }
    out
}

fn char_at(line: &str, i: usize) -> Option<char> {
    line.get(i..).and_then(|s| s.chars().next())
}

fn tokenize_expr(line: &str, from: usize, to: usize, out: &mut Vec<Token>) {
    let mut i = from;
    while i < to {
        let Some(c) = char_at(line, i) else { break };
        let start = i;
        let kind = if c.is_whitespace() {
            i = line[i..to]
                .find(|c: char| !c.is_whitespace())
                .map_or(to, |n| i + n);
            Kind::Blank
        } else if c == '#' {
            // Every position this loop reaches is a token start, where `#` opens a comment
            // (a `#` inside a word was consumed with the word). It ends with its line.
            i = line[i..to].find('\n').map_or(to, |n| i + n);
            Kind::Comment
        } else if c == '"' {
            match closing_quote(&line[i + 1..to]) {
                Some(n) => {
                    i += 1 + n + 1;
                    Kind::Quoted
                }
                None => {
                    i = to;
                    Kind::OpenQuote
                }
            }
        } else if line[i..to].starts_with("::") {
            i += 2;
            Kind::Operator
        } else if matches!(c, '+' | '-' | '*' | '/' | ',' | ':' | '=') {
            i += 1;
            Kind::Operator
        } else if c == '(' || c == ')' {
            i += 1;
            Kind::Paren
        } else if let Some(end) = number_end(&line[..to], i) {
            i = end;
            Kind::Number
        } else {
            i = word_end(&line[..to], i);
            Kind::Word
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
}

/// The byte offset of the `"` that closes a quoted word whose body starts `body`, if any.
fn closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (n, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(n),
            _ => {}
        }
    }
    None
}

/// Whether a word continues at `i` (the grammar's `word_rest`), and where that part ends.
fn word_rest(line: &str, i: usize) -> Option<usize> {
    let c = char_at(line, i)?;
    if is_wchar(c) || c == '#' {
        return Some(i + c.len_utf8());
    }
    if c == '-' {
        // Hyphens continue a word only when a word character follows them (`e-mail`); trailing
        // hyphens are minus signs (`king- man`).
        let after = i + line[i..].find(|c| c != '-').unwrap_or(line.len() - i);
        let next = char_at(line, after)?;
        if is_wchar(next) || next == '#' {
            return Some(after + next.len_utf8());
        }
    }
    None
}

fn word_end(line: &str, start: usize) -> usize {
    let mut i = start + char_at(line, start).map_or(1, char::len_utf8);
    while let Some(next) = word_rest(line, i) {
        i = next;
    }
    i
}

/// The end of a number starting at `i` (`2`, `0.5`, `.5`, `1e-3`), when the token ends there:
/// `1990s`, `2.` and `1-2` are words.
fn number_end(line: &str, i: usize) -> Option<usize> {
    let bytes = line.as_bytes();
    let digits = |from: usize| {
        bytes
            .get(from..)
            .map_or(0, |b| b.iter().take_while(|b| b.is_ascii_digit()).count())
    };
    let mut j = i;
    if bytes.get(j) == Some(&b'.') {
        let d = digits(j + 1);
        if d == 0 {
            return None;
        }
        j += 1 + d;
    } else {
        let d = digits(j);
        if d == 0 {
            return None;
        }
        j += d;
        if bytes.get(j) == Some(&b'.') && digits(j + 1) > 0 {
            j += 1 + digits(j + 1);
        }
    }
    if matches!(bytes.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(bytes.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if digits(k) > 0 {
            j = k + digits(k);
        }
    }
    word_rest(line, j).is_none().then_some(j)
}

/// A command line: blanks, `:name`, then arguments (an expression for `:ast`) and a comment
/// (a `#` after a blank, outside quotes, as the parser has it).
fn tokenize_command(line: &str, colon: usize, out: &mut Vec<Token>) {
    if colon > 0 {
        out.push(Token {
            kind: Kind::Blank,
            start: 0,
            end: colon,
        });
    }
    let name_end = line[colon + 1..]
        .find(|c: char| !(c.is_alphabetic() || c == '-'))
        .map_or(line.len(), |n| colon + 1 + n);
    out.push(Token {
        kind: Kind::CommandName,
        start: colon,
        end: name_end,
    });
    let comment = parse::command_comment(line, name_end);
    let args_end = comment.unwrap_or(line.len());
    if &line[colon + 1..name_end] == "ast" {
        tokenize_expr(line, name_end, args_end, out);
    } else {
        let mut i = name_end;
        while i < args_end {
            let blank = char_at(line, i).is_some_and(char::is_whitespace);
            let end = line[i..args_end]
                .find(|c: char| c.is_whitespace() != blank)
                .map_or(args_end, |n| i + n);
            out.push(Token {
                kind: if blank { Kind::Blank } else { Kind::Argument },
                start: i,
                end,
            });
            i = end;
        }
    }
    if let Some(c) = comment {
        out.push(Token {
            kind: Kind::Comment,
            start: c,
            end: line.len(),
        });
    }
}

/// The word inside a quoted token, decoding the common escapes. Good enough to look it up.
fn unquote(token: &str) -> String {
    let body = token.strip_prefix('"').unwrap_or(token);
    let body = body.strip_suffix('"').unwrap_or(body);
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(e) => out.push(e),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A word as it must be typed: bare when the grammar reads it back as that one word, else quoted.
pub fn typed_form(word: &str) -> String {
    let bare =
        char_at(word, 0).is_some_and(is_wchar) && word_end(word, 0) == word.len() && word != "let";
    if bare {
        return word.to_string();
    }
    format!("{word:?}")
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
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
    let toks = tokenize(line);
    let analogy = toks
        .iter()
        .any(|t| t.kind == Kind::Operator && &line[t.start..t.end] == "::");
    let significant: Vec<&Token> = toks
        .iter()
        .filter(|t| !matches!(t.kind, Kind::Blank | Kind::Comment))
        .collect();
    let text = |t: &Token| &line[t.start..t.end];
    let mut out = String::with_capacity(line.len() * 2);
    let mut sig: usize = 0;
    for t in &toks {
        let word = text(t);
        let typing = cursor == Some(t.end);
        let style = match t.kind {
            Kind::Blank => None,
            Kind::Comment => Some(palette::comment()),
            Kind::Operator | Kind::Paren => Some(palette::operator()),
            Kind::Number => Some(palette::number()),
            Kind::OpenQuote => Some(palette::quoted()),
            Kind::Quoted => {
                let w = unquote(word);
                Some(if vocab.contains(&w) {
                    palette::quoted()
                } else {
                    palette::unknown()
                })
            }
            Kind::CommandName => {
                let name = &word[1..];
                if Command::lookup(name).is_some() {
                    Some(palette::command())
                } else if typing && commands::starting_with(name).next().is_some() {
                    Some(palette::keyword())
                } else {
                    Some(palette::unknown())
                }
            }
            Kind::Argument => {
                let valid = toks
                    .iter()
                    .find(|t| t.kind == Kind::CommandName)
                    .map(|c| commands::values(&line[c.start + 1..c.end]));
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
            Kind::Word => {
                // A word still being typed is not wrong while it can become a known one.
                let starts_a_name = |w: &str| {
                    typing
                        && (vocab.has_prefix(w)
                            || vars.iter().any(|v| v.starts_with(w))
                            || FUNCTIONS.iter().any(|f| f.starts_with(w)))
                };
                let prev = sig
                    .checked_sub(1)
                    .and_then(|p| significant.get(p))
                    .map(|t| text(t));
                let next = significant.get(sig + 1).map(|t| text(t));
                let first = sig == 0 || (sig == 1 && prev == Some("let"));
                if sig == 0 && word == "let" && next.is_some() {
                    Some(palette::keyword())
                } else if first && next == Some("=") {
                    // The name being bound: new, so not a vocabulary word.
                    Some(palette::name())
                } else if next == Some("(") && is_ident(word) {
                    if FUNCTIONS.contains(&word) {
                        Some(palette::function())
                    } else if typing && FUNCTIONS.iter().any(|f| f.starts_with(word)) {
                        None
                    } else {
                        Some(palette::unknown())
                    }
                } else if word == "?" && analogy {
                    Some(palette::operator())
                } else if vars.iter().any(|v| v == word) {
                    Some(palette::name())
                } else if vocab.contains(word) || starts_a_name(word) {
                    None
                } else {
                    Some(palette::unknown())
                }
            }
        };
        if !matches!(t.kind, Kind::Blank | Kind::Comment) {
            sig += 1;
        }
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
    let head = &line[..pos];
    let trimmed = head.trim_start();
    if trimmed.starts_with(':') {
        let colon = head.len() - trimmed.len();
        let name_end = head[colon + 1..]
            .find(|c: char| !(c.is_alphabetic() || c == '-'))
            .map(|n| colon + 1 + n);
        let Some(name_end) = name_end else {
            // The cursor is in the command's name.
            let prefix = &head[colon + 1..];
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
        };
        let name = &head[colon + 1..name_end];
        if Command::lookup(name).map(Command::args) != Some(Args::Expr) {
            let start = head
                .rfind(char::is_whitespace)
                .map_or(name_end, |n| n + 1)
                .max(name_end);
            let prefix = &head[start..];
            let values = commands::values(name)
                .iter()
                .filter(|v| v.starts_with(prefix))
                .map(|v| Completion::same(v.to_string()));
            return (start, values.collect());
        }
    }
    // Inside an unterminated quote: complete the quoted word, closing the quote.
    if let Some(t) = tokenize(head).last().filter(|t| t.kind == Kind::OpenQuote) {
        let prefix = unquote(&head[t.start..]);
        if prefix.is_empty() {
            return (pos, Vec::new());
        }
        let words = vocab.most_frequent_with_prefix(&prefix, MAX_CANDIDATES);
        let quoted = words.into_iter().map(|w| Completion {
            replacement: format!("{w:?}"),
            display: w,
        });
        return (t.start, quoted.collect());
    }
    // The word under the cursor: word characters, `#` and inner hyphens; it can't start with
    // `-` (a minus) or `#` (a comment).
    let mut start = head
        .rfind(|c: char| !(is_wchar(c) || c == '#' || c == '-'))
        .map_or(0, |n| n + char_at(head, n).map_or(1, char::len_utf8));
    start += head[start..]
        .find(|c: char| c != '-' && c != '#')
        .unwrap_or(head.len() - start);
    let prefix = &head[start..];
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
    for w in vocab.most_frequent_with_prefix(prefix, MAX_CANDIDATES) {
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

/// The grey suggestion after the cursor: the rest of the best completion, at the end of the line.
pub fn hint(line: &str, pos: usize, vocab: &dyn Vocabulary, vars: &[String]) -> Option<String> {
    if pos < line.len() || line.trim().is_empty() {
        return None;
    }
    let (start, candidates) = complete(line, pos, vocab, vars);
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
    store: &'s Store,
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
            store,
            vars: Vec::new(),
            color,
            accepted: Cell::new(false),
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
        let (start, candidates) = complete(line, pos, self.store, &self.vars);
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
        hint(line, pos, self.store, &self.vars)
    }
}

impl Highlighter for LineHelper<'_> {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        let cursor = (!self.accepted.get()).then_some(pos);
        Cow::Owned(highlight(line, cursor, self.store, &self.vars))
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

impl Validator for LineHelper<'_> {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if parse::is_incomplete(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for LineHelper<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<(Kind, &str)> {
        tokenize(line)
            .into_iter()
            .map(|t| (t.kind, &line[t.start..t.end]))
            .collect()
    }

    #[test]
    fn tokens_follow_the_grammar() {
        use Kind::*;
        assert_eq!(
            kinds("e-mail - king- man"),
            vec![
                (Word, "e-mail"),
                (Blank, " "),
                (Operator, "-"),
                (Blank, " "),
                (Word, "king"),
                (Operator, "-"),
                (Blank, " "),
                (Word, "man")
            ]
        );
        assert_eq!(
            kinds("1990s 2 .5 1e-3 1-2"),
            vec![
                (Word, "1990s"),
                (Blank, " "),
                (Number, "2"),
                (Blank, " "),
                (Number, ".5"),
                (Blank, " "),
                (Number, "1e-3"),
                (Blank, " "),
                (Word, "1-2")
            ]
        );
        assert_eq!(
            kinds("c# # note"),
            vec![(Word, "c#"), (Blank, " "), (Comment, "# note")]
        );
        assert_eq!(kinds("a : b :: c : ?")[6], (Operator, "::"));
        assert_eq!(
            kinds("sim(\"new york"),
            vec![(Word, "sim"), (Paren, "("), (OpenQuote, "\"new york")]
        );
        assert_eq!(
            kinds("\"a\\\"b\" x"),
            vec![(Quoted, "\"a\\\"b\""), (Blank, " "), (Word, "x")]
        );
        assert_eq!(
            kinds(" :k 5 # five"),
            vec![
                (Blank, " "),
                (CommandName, ":k"),
                (Blank, " "),
                (Argument, "5"),
                (Blank, " "),
                (Comment, "# five")
            ]
        );
        assert_eq!(
            kinds(":ast -a"),
            vec![
                (CommandName, ":ast"),
                (Blank, " "),
                (Operator, "-"),
                (Word, "a")
            ]
        );
        assert_eq!(kinds("日本-語"), vec![(Word, "日本-語")]);
    }

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
}
