//! Turns one line of input into a [`Statement`]; never prints.
//!
//! # The language
//!
//! **Statements.** A line is one of:
//!
//! * *empty*: nothing but blanks and comments → [`Statement::Empty`];
//! * a *command*: the first non-blank character is `:`, followed by a name of letters and
//!   `-`, then arguments → [`Statement::Command`] (`:k 5`, `:exact off`, `:ast king - man`).
//!   The arguments are the raw rest of the line, trimmed, without a trailing comment (a `#`
//!   after a blank, outside `"..."`); they are not parsed here;
//! * a *binding*: `let NAME = EXPR` or `NAME = EXPR` → [`Statement::Let`]. A name is letters,
//!   digits and `_`, not starting with a digit. A line whose first token is the bare word
//!   `let` followed by more is always a binding (`let = x` is an error); anywhere else, and
//!   alone on a line, `let` is a plain word (`"let"` is the word everywhere). `let` itself
//!   can't be a name;
//! * otherwise an *expression* → [`Statement::Expr`].
//!
//! **Comments.** `#` starts a comment that runs to the end of the line wherever a token could
//! start: at the start of the line, after a blank (`king - man  # royalty`), or right after an
//! operator or parenthesis (`king +# x` is `king +`). A `#` inside or at the end of a word is
//! part of it (`c#`, `f#m`), and a word can't start with `#` (quote it: `"#1"`).
//!
//! **Expressions**, loosest first:
//!
//! * the analogy `a : b :: c : ?` → [`ExprKind::Analogy`]; `a`, `b`, `c` are sums. It may
//!   only stand alone, in parentheses or as a call argument: `(a : b :: c : ?) + x`. None of
//!   `a`, `b`, `c` may be just a bare `?`, even in parentheses (`"?"` is the word there);
//!   elsewhere `?` is an ordinary word. `:` and `::` have no other use in expressions;
//! * `+` `-` (left-associative), then `*` `/` (left-associative), then unary `-`, so
//!   `-a * b` is `(-a) * b` and `a - b - c` is `(a - b) - c`;
//! * primaries: calls, parentheses, numbers, quoted words and words.
//!
//! **Calls**: an identifier (same shape as a NAME), optional blanks, then `(`:
//! `sim(a, b)`, `mean ( a )`, `mean()` → [`ExprKind::Call`] with any name and any number of
//! arguments (the evaluator checks them). Arguments are full expressions, analogies included,
//! separated by `,`; the word `,` must be quoted: `","`. Note `king (x)` is a call too.
//! An argument may also be an *option* `name=number` → [`ExprKind::Option`]
//! (`plot(paris, k=10)`: the neighbour count of a map). A bare number in a call is the word
//! it spells (`15` is a GloVe word), and `=` is no word character, so `k=10` can't be mistaken
//! for a word; `k=` must be followed by a number and then `,` or `)`.
//!
//! **Numbers**: ASCII digits with an optional fraction and exponent: `2`, `0.5`, `.5`, `1e-3`,
//! `2.5E+10` → [`ExprKind::Number`] keeping the source `text`, but only when the token ends
//! there: `1990s`, `2.`, `1.5.2` and `1-2` are words. A number where a vector is expected is
//! the word with that text (`1999`); that is the evaluator's business.
//!
//! **Words** → [`ExprKind::Word`] with `quoted: false`: a maximal run of characters other
//! than blanks and `+ - * / ( ) , : = " #`, with two exceptions that keep GloVe's vocabulary
//! typeable: `#` may continue a word (see comments), and `-` may stand *inside* a word
//! (`e-mail`, `king-man` — one word, which the evaluator may flag as "did you mean 'king -
//! man'?"). A word never starts with `-` (`-king`, `king -man` are negations/subtractions)
//! and never ends with `-`: trailing hyphens are minus signs, so `king- man` is `king - man`
//! and `king-` is an error ("expected a word, number or '(' after '-'"); hyphens between word
//! characters all belong to the word (`king--man` is one word). So `'s`, `u.s.`, `don't`,
//! `o'neill`, `1990s`, `café`, `日本`, `...`, `!`, `?` are all words.
//!
//! **Quoted words** `"..."` → [`ExprKind::Word`] with `quoted: true`, for anything else:
//! `"c++"`, `","`, `"1/2"`, `"let"`, `"new york"`. Escapes: `\"` and `\\`, plus those Rust's
//! `{:?}` prints (`\n \t \r \0 \' \u{...}`) so that the `:ast` form always parses again.
//! An unknown escape, an empty word `""` and an unterminated quote are errors.
//!
//! **Spans** are byte offsets into the line. A word's span includes its quotes. Parentheses
//! make no node: `(king)` is the word `king` with span of `king` only, but every node built
//! around a parenthesised operand covers the parentheses: in `(a + b) * c` the product spans
//! the whole text while the sum spans `a + b`. A call spans `name` to `)`, a negation `-` to
//! its operand's end, a binary node its lhs's start to its rhs's end, an analogy `a` to `?`.
//!
//! **Errors** are [`ParseError`]s with a message in words, the span of the offending token
//! (an empty span at the end of the line when something is missing there) and often a help
//! line. They come from a token-level checker that accepts exactly the lines the pest grammar
//! (`grammar.pest`) accepts and explains the first problem; the grammar then builds the AST.
//!
//! Because the parser (and whoever walks the tree) recurses, parentheses, calls and unary
//! minus signs may nest at most 64 deep together, and a statement may have at most 4096
//! tokens; beyond that the line is rejected with an error saying so.
//!
//! [`is_incomplete`] tells a line editor that a line has unclosed `(` so it can read more;
//! newlines count as blanks, so the joined lines parse as one.
//!
//! # Layout
//!
//! A line is split into tokens by [`lexer`] (the one tokenizer: the line editor colours and
//! completes from the same tokens), checked by `check` (the one place errors are made: it
//! accepts exactly the lines the grammar accepts) and built into the AST by `build` from the
//! grammar's parse tree.

use crate::ast::{Span, Statement};

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub struct LineParser;
}

mod build;
mod check;
pub mod lexer;

use build::build;
use check::{check, unescape};
use lexer::{command_colon, command_comment, command_name_end, lex};
pub use lexer::{is_ident, tokens, Kind, Token};

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong, in words: "expected a word, number or '(' after '+'".
    pub message: String,
    /// Byte range of the offending token, or an empty range at the end of the line when
    /// something is missing there.
    pub span: Span,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl ParseError {
    fn new(message: impl Into<String>, span: Span) -> ParseError {
        ParseError {
            message: message.into(),
            span,
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> ParseError {
        self.help = Some(help.into());
        self
    }
}

/// Parses one line (or several lines joined by newlines, see [`is_incomplete`]).
pub fn parse_statement(line: &str) -> Result<Statement, ParseError> {
    if let Some(colon) = command_colon(line) {
        return parse_command(line, colon);
    }
    let toks = lex(line);
    check(line, &toks)?;
    build(line)
}

/// Whether `line` has a `(` that is not closed yet (ignoring those in quotes and comments),
/// so that a line editor should read another line and parse both, joined by a newline.
/// A stray `)` makes the line complete (and wrong): the parser then reports it.
pub fn is_incomplete(line: &str) -> bool {
    let mut depth = 0usize;
    for t in &lex(line) {
        match t.kind {
            Kind::LParen => depth += 1,
            Kind::RParen if depth == 0 => return false,
            Kind::RParen => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

/// A word quoted as the grammar reads it back: `"` and `\` escaped, and every character that
/// could drive the terminal (controls, bidi, zero-width: `text::is_unsafe`) written `\u{..}`,
/// so that completion never inserts it raw (rustyline echoes what it inserts).
pub fn quoted(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // And what Rust's `{:?}` escapes (line separators, unassigned code points, ...).
            c if crate::text::is_unsafe(c) || (c != '\'' && c.escape_debug().nth(1).is_some()) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The word a comment names when it is a bare `##piece` (`##ers`, up to the first blank): a
/// model's word-internal pieces are shown that way, and typed so they are a comment. `None`
/// for any other comment (`## heading`, `# note`, `##`).
pub fn commented_piece(comment: &str) -> Option<&str> {
    let word = comment.split(char::is_whitespace).next()?;
    (word.len() > 2 && word.starts_with("##")).then_some(word)
}

// ------------------------------------------------------------------------------- commands

fn parse_command(line: &str, colon: usize) -> Result<Statement, ParseError> {
    let name_start = colon + 1;
    let name_end = command_name_end(line, colon);
    if name_end == name_start {
        let found = line[name_start..].chars().next();
        let span = match found {
            Some(c) if !c.is_whitespace() => Span::new(name_start, name_start + c.len_utf8()),
            _ => Span::new(name_start, name_start),
        };
        return Err(ParseError::new("expected a command name after ':'", span)
            .help("commands look like ':k 5' or ':help'"));
    }
    let rest_end = command_comment(line, name_end).unwrap_or(line.len());
    let rest = &line[name_end..rest_end];
    let args_start = name_end + (rest.len() - rest.trim_start().len());
    let args_end = (name_end + rest.trim_end().len()).max(args_start);
    Ok(Statement::Command {
        name: line[name_start..name_end].to_string(),
        name_span: Span::new(name_start, name_end),
        args: line[args_start..args_end].to_string(),
        args_span: Span::new(args_start, args_end),
    })
}

/// A quoted token at the start of `text` (`"my map.svg" plot(...)`, a command's file name with
/// blanks): its decoded text and the bytes it takes; `None` when `text` starts with no quote.
/// The quotes and escapes are those of a quoted word.
pub fn leading_quoted(text: &str) -> Result<Option<(String, usize)>, ParseError> {
    if !text.starts_with('"') {
        return Ok(None);
    }
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return unescape(text, Span::new(0, i + 1)).map(|s| Some((s, i + 1))),
            _ => {}
        }
    }
    Err(ParseError::new("unclosed quote", Span::new(0, text.len()))
        .help("end the quoted name with '\"'"))
}
