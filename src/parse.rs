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

use std::sync::LazyLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;

use crate::ast::{BinOp, Expr, ExprKind, Span, Statement};

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub struct LineParser;
}

use grammar::{LineParser, Rule};

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
    let trimmed = line.trim_start();
    if trimmed.starts_with(':') {
        return parse_command(line, line.len() - trimmed.len());
    }
    let toks = lex(line)?;
    check(line, &toks)?;
    build(line)
}

/// Whether `line` has a `(` that is not closed yet (ignoring those in quotes and comments),
/// so that a line editor should read another line and parse both, joined by a newline.
/// A stray `)` makes the line complete (and wrong): the parser then reports it.
pub fn is_incomplete(line: &str) -> bool {
    let Ok(toks) = lex(line) else { return false };
    let mut depth = 0usize;
    for t in &toks {
        match t.kind {
            Tk::LParen => depth += 1,
            Tk::RParen if depth == 0 => return false,
            Tk::RParen => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

/// How deeply parentheses, calls and unary minus signs may nest (the parser recurses).
const MAX_NESTING: usize = 64;
/// How many tokens a statement may have (trees as deep as that are walked recursively).
const MAX_TOKENS: usize = 4096;

const OPTION_HELP: &str =
    "an option is a name, '=' and a number among a call's arguments, e.g. plot(paris, k=10)";
const ANALOGY_HELP: &str = "an analogy reads a : b :: c : ?, e.g. man : king :: woman : ?";
const LET_HELP: &str =
    "write 'let name = expression'; to look up the word 'let' itself, quote it: \"let\"";
const NAME_HELP: &str =
    "a name starts with a letter or '_' and has only letters, digits and '_', e.g. 'x2'";

// ------------------------------------------------------------------------------- commands

fn parse_command(line: &str, colon: usize) -> Result<Statement, ParseError> {
    let name_start = colon + 1;
    let name_end = line[name_start..]
        .find(|c: char| !(c.is_alphabetic() || c == '-'))
        .map_or(line.len(), |i| name_start + i);
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

/// Where a command's trailing comment starts: a `#` after a blank, outside `"..."`.
/// Also used by the REPL's highlighter, so both agree on where a command ends.
pub(crate) fn command_comment(line: &str, from: usize) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut prev_blank = false;
    for (i, c) in line[from..].char_indices() {
        if in_quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quote = false,
                _ => {}
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == '#' && prev_blank {
            return Some(from + i);
        }
        prev_blank = c.is_whitespace();
    }
    None
}

// ------------------------------------------------------------------------------- tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tk {
    Word,
    Number,
    Quoted,
    OpenQuote,
    LParen,
    RParen,
    Comma,
    Colon,
    DColon,
    Eq,
    Plus,
    Minus,
    Star,
    Slash,
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    kind: Tk,
    span: Span,
    text: &'a str,
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}

/// Splits a line into tokens with the grammar's own `tokens` rule, which accepts any text.
fn lex(line: &str) -> Result<Vec<Tok<'_>>, ParseError> {
    let pairs = LineParser::parse(Rule::tokens, line).map_err(|e| internal_error(line, &e))?;
    let mut toks = Vec::new();
    for pair in pairs.flatten() {
        let kind = match pair.as_rule() {
            Rule::word => Tk::Word,
            Rule::number => Tk::Number,
            Rule::quoted => Tk::Quoted,
            Rule::open_quote => Tk::OpenQuote,
            Rule::lparen => Tk::LParen,
            Rule::rparen => Tk::RParen,
            Rule::comma => Tk::Comma,
            Rule::colon => Tk::Colon,
            Rule::dcolon => Tk::DColon,
            Rule::eq => Tk::Eq,
            Rule::add => Tk::Plus,
            Rule::sub => Tk::Minus,
            Rule::mul => Tk::Star,
            Rule::div => Tk::Slash,
            _ => continue,
        };
        toks.push(Tok {
            kind,
            span: span_of(&pair),
            text: pair.as_str(),
        });
    }
    Ok(toks)
}

/// The error for a line the grammar rejects although the checker accepted it (a bug).
fn internal_error(line: &str, e: &pest::error::Error<Rule>) -> ParseError {
    let at = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let end = line[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    let message = match line[at..].chars().next() {
        Some(c) => format!("unexpected '{c}'"),
        None => "unexpected end of line".to_string(),
    };
    ParseError::new(message, Span::new(at, end))
}

/// Whether `s` is an identifier: a call's name or a NAME (except `let`).
fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphabetic() || c.is_ascii_digit() || c == '_')
}

/// Shortens long source text quoted in a message.
fn short(s: &str) -> String {
    const MAX: usize = 30;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX - 1).collect();
        format!("{head}…")
    }
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

/// Decodes a quoted word (its span includes the quotes).
fn unescape(line: &str, span: Span) -> Result<String, ParseError> {
    let body_start = span.start + 1;
    let body = &line[body_start..span.end - 1];
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let at = body_start + i;
        let Some((j, e)) = chars.next() else {
            unreachable!("the grammar pairs each backslash with a character")
        };
        let bad = |end: usize, what: &str| {
            ParseError::new(
                format!("{what} '{}' in a quoted word", &line[at..end]),
                Span::new(at, end),
            )
            .help("inside quotes write \\\" for '\"' and \\\\ for '\\'")
        };
        match e {
            '"' | '\\' | '\'' => out.push(e),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'u' => {
                // `\u{XXXX}` as printed by `{:?}`
                let rest = &body[j + 1..];
                let close = rest.find('}');
                let decoded = match close {
                    Some(k) if rest.starts_with('{') => u32::from_str_radix(&rest[1..k], 16)
                        .ok()
                        .and_then(char::from_u32)
                        .map(|ch| (ch, k)),
                    _ => None,
                };
                match decoded {
                    Some((ch, k)) => {
                        out.push(ch);
                        while chars.peek().is_some_and(|&(n, _)| n <= j + 1 + k) {
                            chars.next();
                        }
                    }
                    None => {
                        let end = close.map_or(body_start + j + 1, |k| body_start + j + 2 + k);
                        return Err(bad(end, "invalid unicode escape"));
                    }
                }
            }
            _ => return Err(bad(body_start + j + e.len_utf8(), "unknown escape")),
        }
    }
    if out.is_empty() {
        return Err(ParseError::new("empty quoted word", span));
    }
    Ok(out)
}

// ------------------------------------------------------------------------------- checker

/// How far the current expression of a frame has got through `a : b :: c : ?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ana {
    /// No `:` yet (maybe not an analogy at all).
    None,
    /// After `a :`.
    Colon1,
    /// After `a : b ::`.
    DColon,
    /// After `a : b :: c :`: only `?` may follow.
    Colon2,
    /// After the final `?`.
    Done,
}

/// The expression being checked at one level of parentheses.
struct Frame<'a> {
    /// The `(` that opened it (none for the whole line).
    open: Option<Tok<'a>>,
    /// The name of the call whose arguments these are.
    call: Option<&'a str>,
    /// Where this level's source starts: the call's name, or the `(`.
    source_start: usize,
    ana: Ana,
    /// The index of the first token of the current analogy term (or argument).
    term_tok: usize,
    /// Unary minus signs waiting for their operand.
    negs: usize,
    /// Where the current expression (or argument) starts.
    start: Option<usize>,
}

impl<'a> Frame<'a> {
    fn new(
        open: Option<Tok<'a>>,
        call: Option<&'a str>,
        source_start: usize,
        term_tok: usize,
    ) -> Frame<'a> {
        Frame {
            open,
            call,
            source_start,
            ana: Ana::None,
            term_tok,
            negs: 0,
            start: None,
        }
    }
}

fn end_span(line: &str) -> Span {
    Span::new(line.len(), line.len())
}

fn is_operand(kind: Tk) -> bool {
    matches!(kind, Tk::Word | Tk::Number | Tk::Quoted)
}

/// Explains the first reason why the grammar would reject the line, if any.
fn check(line: &str, toks: &[Tok<'_>]) -> Result<(), ParseError> {
    if let Some(t) = toks.get(MAX_TOKENS) {
        return Err(ParseError::new(
            format!("this line is too long: more than {MAX_TOKENS} words, numbers and symbols"),
            Span::new(t.span.start, line.len()),
        )
        .help("split it up, naming parts of it with 'let'"));
    }
    if let Some(i) = toks.iter().position(|t| t.kind == Tk::OpenQuote) {
        // Everything after an unterminated quote is inside it (it is the last token); but
        // report an earlier problem first if there is one.
        let open = toks[i];
        check_statement(line, &toks[..i], true)?;
        return Err(ParseError::new(
            "unterminated quote",
            Span::new(open.span.start, open.span.start + 1),
        )
        .help("end the quoted word with '\"'; inside quotes write \\\" for '\"'"));
    }
    check_statement(line, toks, false)
}

/// `partial`: the tokens stop early (at an unterminated quote), so don't complain about what
/// is missing at their end.
fn check_statement(line: &str, toks: &[Tok<'_>], partial: bool) -> Result<(), ParseError> {
    let at = |i: usize| toks.get(i).map_or(end_span(line), |t| t.span);
    let Some(first) = toks.first() else {
        return Ok(());
    };
    if first.kind == Tk::Word && first.text == "let" && (toks.len() > 1 || partial) {
        let name = match toks.get(1) {
            Some(t) if t.kind == Tk::Word && is_ident(t.text) && t.text != "let" => t,
            Some(t) if t.text == "let" => {
                return Err(ParseError::new("'let' can't be used as a name", t.span)
                    .help("pick another name, e.g. 'let l = ...'"));
            }
            Some(t) if is_operand(t.kind) => {
                return Err(ParseError::new(
                    format!("'{}' is not a valid name", short(t.text)),
                    t.span,
                )
                .help(NAME_HELP));
            }
            None if partial => return Ok(()),
            _ => return Err(ParseError::new("expected a name after 'let'", at(1)).help(LET_HELP)),
        };
        match toks.get(2) {
            Some(t) if t.kind == Tk::Eq => {}
            None if partial => return Ok(()),
            _ => {
                return Err(ParseError::new(
                    format!("expected '=' after 'let {}'", name.text),
                    at(2),
                )
                .help(format!("write 'let {} = expression'", name.text)));
            }
        }
        return check_expr(line, toks, 3, partial);
    }
    if toks.len() >= 2 && toks[1].kind == Tk::Eq && is_operand(first.kind) {
        if !(first.kind == Tk::Word && is_ident(first.text)) {
            return Err(ParseError::new(
                format!("'{}' is not a valid name", short(first.text)),
                first.span,
            )
            .help(NAME_HELP));
        }
        return check_expr(line, toks, 2, partial);
    }
    check_expr(line, toks, 0, partial)
}

/// The source text of a token for messages.
fn tok_text(t: &Tok<'_>) -> String {
    short(t.text)
}

/// "expected a word, number or '(' ..." at `found` (a token, or the end of the line).
/// `call`: the name of the call when `prev` is its `(`.
fn expected_operand(
    line: &str,
    prev: Option<&Tok<'_>>,
    found: Option<&Tok<'_>>,
    call: Option<&str>,
) -> ParseError {
    let span = found.map_or(end_span(line), |t| t.span);
    if let (Some(p), Some(f)) = (prev, found) {
        if p.kind == Tk::LParen && f.kind == Tk::RParen {
            return ParseError::new("empty parentheses", p.span.to(f.span))
                .help("put an expression inside, e.g. (king - man)");
        }
    }
    let message = match (prev, found) {
        (Some(p), _) if p.kind == Tk::LParen && call.is_some() => format!(
            "expected a word, number or '(' after '{}('",
            call.unwrap_or_default()
        ),
        (Some(p), _) => format!("expected a word, number or '(' after '{}'", tok_text(p)),
        (None, Some(f)) => format!("expected a word, number or '(' before '{}'", tok_text(f)),
        (None, None) => "expected a word, number or '('".to_string(),
    };
    let err = ParseError::new(message, span);
    match found.map(|f| f.kind) {
        Some(Tk::RParen) if prev.is_some_and(|p| p.kind == Tk::Comma) => {
            err.help("remove the trailing ','")
        }
        Some(Tk::Eq) => err.help("'=' names a result: write 'name = expression'"),
        Some(Tk::Plus | Tk::Star | Tk::Slash | Tk::Comma | Tk::Colon | Tk::DColon) => {
            let f = found.map_or("", |f| f.text);
            err.help(format!(
                "to look up the word '{f}' itself, quote it: \"{f}\""
            ))
        }
        _ => err,
    }
}

/// Checks that the current expression of `frame` is not an unfinished analogy, at `found`.
fn finish_expr(
    line: &str,
    frame: &Frame<'_>,
    prev: &Tok<'_>,
    found: Option<&Tok<'_>>,
) -> Result<(), ParseError> {
    let span = found.map_or(end_span(line), |t| t.span);
    let src = || short(&line[frame.start.unwrap_or(prev.span.start)..prev.span.end]);
    let missing = match frame.ana {
        Ana::Colon1 => "'::'",
        Ana::DColon => "': ?'",
        _ => return Ok(()),
    };
    Err(ParseError::new(
        format!("incomplete analogy: expected {missing} after '{}'", src()),
        span,
    )
    .help(ANALOGY_HELP))
}

fn check_expr(line: &str, toks: &[Tok<'_>], from: usize, partial: bool) -> Result<(), ParseError> {
    let mut stack = vec![Frame::new(None, None, 0, from)];
    // How deeply the parser will recurse: open parentheses plus pending unary minus signs.
    let mut nesting = 0;
    let too_deep = |nesting: usize, t: &Tok<'_>| {
        if nesting > MAX_NESTING {
            Err(ParseError::new(
                format!("too deeply nested: more than {MAX_NESTING} levels of '(' and unary '-'"),
                t.span,
            )
            .help("split the expression up, naming its parts with 'let'"))
        } else {
            Ok(())
        }
    };
    let mut expect_operand = true;
    let mut prev: Option<&Tok<'_>> = from.checked_sub(1).map(|i| &toks[i]);
    // Where the last complete operand (including its parentheses) started.
    let mut last_operand_start = 0;
    let mut k = from;
    while k < toks.len() {
        let t = &toks[k];
        let depth = stack.len();
        let top = stack.last_mut().expect("the line's frame is never popped");
        if expect_operand {
            top.start.get_or_insert(t.span.start);
            if top.ana == Ana::Colon2 {
                if t.kind == Tk::Word && t.text == "?" {
                    top.ana = Ana::Done;
                    expect_operand = false;
                    last_operand_start = t.span.start;
                } else {
                    return Err(
                        ParseError::new("'?' must end an analogy: a : b :: c : ?", t.span).help(
                            "the '?' stands for the word to find, e.g. man : king :: woman : ?",
                        ),
                    );
                }
            } else {
                match t.kind {
                    Tk::Word | Tk::Number | Tk::Quoted => {
                        if t.kind == Tk::Quoted {
                            unescape(line, t.span)?;
                        }
                        let next = toks.get(k + 1);
                        // `name=number` opens a call's argument: an option (`plot(x, k=10)`).
                        let starts_argument =
                            top.call.is_some() && top.negs == 0 && top.start == Some(t.span.start);
                        if starts_argument
                            && t.kind == Tk::Word
                            && is_ident(t.text)
                            && next.is_some_and(|n| n.kind == Tk::Eq)
                        {
                            let option = || format!("{}=", t.text);
                            match toks.get(k + 2) {
                                Some(n) if n.kind == Tk::Number => {}
                                None if partial => return Ok(()),
                                found => {
                                    let span = found.map_or(end_span(line), |f| f.span);
                                    return Err(ParseError::new(
                                        format!("expected a number after '{}'", option()),
                                        span,
                                    )
                                    .help(OPTION_HELP));
                                }
                            }
                            match toks.get(k + 3) {
                                None
                                | Some(Tok {
                                    kind: Tk::Comma | Tk::RParen,
                                    ..
                                }) => {}
                                Some(f) => {
                                    let name = top.call.unwrap_or_default();
                                    return Err(ParseError::new(
                                        format!(
                                            "expected ',' or ')' after '{}{}' in the arguments of {name}",
                                            option(),
                                            toks[k + 2].text
                                        ),
                                        f.span,
                                    )
                                    .help(OPTION_HELP));
                                }
                            }
                            expect_operand = false;
                            last_operand_start = t.span.start;
                            prev = Some(&toks[k + 2]);
                            k += 3;
                            continue;
                        }
                        if t.kind == Tk::Word && is_ident(t.text) {
                            if let Some(open) = next.filter(|n| n.kind == Tk::LParen) {
                                nesting += 1;
                                too_deep(nesting, open)?;
                                stack.push(Frame::new(
                                    Some(*open),
                                    Some(t.text),
                                    t.span.start,
                                    k + 2,
                                ));
                                prev = Some(open);
                                k += 2;
                                continue;
                            }
                        }
                        expect_operand = false;
                        last_operand_start = t.span.start;
                        nesting -= top.negs;
                        top.negs = 0;
                    }
                    Tk::Minus => {
                        top.negs += 1;
                        nesting += 1;
                        too_deep(nesting, t)?;
                    }
                    Tk::LParen => {
                        nesting += 1;
                        too_deep(nesting, t)?;
                        stack.push(Frame::new(Some(*t), None, t.span.start, k + 1));
                    }
                    Tk::RParen
                        if top.call.is_some()
                            && top
                                .open
                                .is_some_and(|o| prev.is_some_and(|p| p.span == o.span)) =>
                    {
                        // `name()`
                        let frame = stack.pop().expect("a call frame");
                        expect_operand = false;
                        last_operand_start = frame.source_start;
                        let outer = stack.last_mut().expect("the line's frame");
                        nesting -= 1 + outer.negs;
                        outer.negs = 0;
                    }
                    _ => {
                        let call = top.call.filter(|_| {
                            top.open
                                .is_some_and(|o| prev.is_some_and(|p| p.span == o.span))
                        });
                        return Err(expected_operand(line, prev, Some(t), call));
                    }
                }
            }
        } else {
            let after_analogy = || {
                ParseError::new(format!("unexpected '{}' after the end of the analogy", tok_text(t)), t.span)
                    .help("'?' ends an analogy; to use its result in a larger expression, put the analogy in parentheses: (a : b :: c : ?) + x")
            };
            match t.kind {
                Tk::Plus | Tk::Minus | Tk::Star | Tk::Slash => {
                    if top.ana == Ana::Done {
                        return Err(after_analogy());
                    }
                    expect_operand = true;
                }
                Tk::Word | Tk::Number | Tk::Quoted | Tk::LParen => {
                    if top.ana == Ana::Done {
                        return Err(after_analogy());
                    }
                    let left = short(&line[last_operand_start..prev.map_or(0, |p| p.span.end)]);
                    let right = tok_text(t);
                    if let Some(name) = top.call {
                        let err = ParseError::new(
                            format!("expected ',' or ')' in the arguments of {name}"),
                            t.span,
                        );
                        return Err(if t.kind == Tk::LParen {
                            err.help("separate arguments with ','")
                        } else {
                            err.help(format!(
                                "separate arguments with ',': did you mean '{left}, {right}'?"
                            ))
                        });
                    }
                    let err = ParseError::new(
                        format!("expected an operator between '{left}' and '{right}'"),
                        t.span,
                    );
                    let prev_kind = prev.map(|p| p.kind);
                    let help = match (prev_kind, t.kind) {
                        (Some(Tk::Word), Tk::Word) => format!(
                            "did you mean '{left} + {right}'? To look up an entry made of several words, quote it: \"{left} {right}\""
                        ),
                        (Some(Tk::Number), Tk::Word | Tk::Quoted | Tk::LParen)
                        | (Some(Tk::Word | Tk::Quoted | Tk::RParen), Tk::Number) => {
                            format!("did you mean '{left} * {right}'?")
                        }
                        _ => "put an operator (+ - * /) between them".to_string(),
                    };
                    return Err(err.help(help));
                }
                Tk::RParen => {
                    if depth == 1 {
                        return Err(ParseError::new("unexpected ')'", t.span)
                            .help("there is no '(' for it to close"));
                    }
                    finish_expr(line, top, prev.expect("an operand came before"), Some(t))?;
                    last_operand_start = stack.pop().expect("checked depth").source_start;
                    let outer = stack.last_mut().expect("the line's frame");
                    nesting -= 1 + outer.negs;
                    outer.negs = 0;
                }
                Tk::Comma => {
                    if top.call.is_none() {
                        return Err(ParseError::new("unexpected ','", t.span).help(
                            "',' separates the arguments of a call such as sim(a, b); to look up the word ',' itself, quote it: \",\"",
                        ));
                    }
                    finish_expr(line, top, prev.expect("an operand came before"), Some(t))?;
                    top.ana = Ana::None;
                    top.term_tok = k + 1;
                    top.start = None;
                    expect_operand = true;
                }
                Tk::Colon | Tk::DColon if bare_q_term(&toks[top.term_tok..k]).is_some() => {
                    let q = bare_q_term(&toks[top.term_tok..k]).unwrap_or(t.span);
                    return Err(misplaced_q(q));
                }
                Tk::Colon => match top.ana {
                    Ana::None => {
                        top.ana = Ana::Colon1;
                        top.term_tok = k + 1;
                        expect_operand = true;
                    }
                    Ana::DColon => {
                        top.ana = Ana::Colon2;
                        expect_operand = true;
                    }
                    Ana::Colon1 => {
                        let src =
                            short(&line[top.start.unwrap_or(0)..prev.map_or(0, |p| p.span.end)]);
                        return Err(ParseError::new(
                            format!("expected '::' after '{src}', found ':'"),
                            t.span,
                        )
                        .help(ANALOGY_HELP));
                    }
                    Ana::Done | Ana::Colon2 => return Err(after_analogy()),
                },
                Tk::DColon => match top.ana {
                    Ana::Colon1 => {
                        top.ana = Ana::DColon;
                        top.term_tok = k + 1;
                        expect_operand = true;
                    }
                    Ana::None => {
                        return Err(ParseError::new(
                            "'::' must follow 'a : b' in an analogy",
                            t.span,
                        )
                        .help(ANALOGY_HELP));
                    }
                    Ana::DColon => {
                        return Err(ParseError::new(
                            "expected ': ?' to end the analogy, found '::'",
                            t.span,
                        )
                        .help(ANALOGY_HELP));
                    }
                    Ana::Done | Ana::Colon2 => return Err(after_analogy()),
                },
                Tk::Eq => {
                    let help = if from > 0 {
                        "a line names only one result: 'name = expression'"
                    } else {
                        "'=' names a result and must follow a single name at the start of the line: 'name = expression'"
                    };
                    return Err(ParseError::new("unexpected '='", t.span).help(help));
                }
                Tk::OpenQuote => unreachable!("check() cuts the tokens before an open quote"),
            }
        }
        prev = Some(t);
        k += 1;
    }
    if partial {
        return Ok(());
    }
    let top = stack.last().expect("the line's frame");
    if expect_operand {
        if top.ana == Ana::Colon2 {
            return Err(
                ParseError::new("'?' must end an analogy: a : b :: c : ?", end_span(line))
                    .help("the '?' stands for the word to find, e.g. man : king :: woman : ?"),
            );
        }
        let call = top.call.filter(|_| {
            top.open
                .is_some_and(|o| prev.is_some_and(|p| p.span == o.span))
        });
        return Err(expected_operand(line, prev, None, call));
    }
    finish_expr(line, top, prev.expect("an operand came before"), None)?;
    if let Some(open) = top.open {
        let err = ParseError::new("unclosed '('", open.span);
        return Err(match top.call {
            Some(name) => err.help(format!("add ')' to end the arguments of {name}")),
            None => err.help("add a matching ')'"),
        });
    }
    Ok(())
}

/// If `term` is just a bare `?`, perhaps in parentheses, the span of the `?`.
fn bare_q_term(mut term: &[Tok<'_>]) -> Option<Span> {
    while term.len() >= 3 && term[0].kind == Tk::LParen && term[term.len() - 1].kind == Tk::RParen {
        term = &term[1..term.len() - 1];
    }
    match term {
        [q] if q.kind == Tk::Word && q.text == "?" => Some(q.span),
        _ => None,
    }
}

fn misplaced_q(span: Span) -> ParseError {
    ParseError::new("'?' can only end an analogy: a : b :: c : ?", span)
        .help("to look up the word '?' itself, quote it: \"?\"")
}

// ------------------------------------------------------------------------------- builder

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
        .op(Op::prefix(Rule::neg))
});

/// An expression and the span of its source including any parentheses around it.
struct Built {
    expr: Expr,
    outer: Span,
}

impl Built {
    fn new(kind: ExprKind, span: Span) -> Built {
        Built {
            expr: Expr { kind, span },
            outer: span,
        }
    }
}

/// Parses with the grammar and builds the AST.
fn build(line: &str) -> Result<Statement, ParseError> {
    let mut pairs =
        LineParser::parse(Rule::statement, line).map_err(|e| internal_error(line, &e))?;
    let statement = pairs.next().expect("the statement rule matched");
    let inner = statement.into_inner().next().expect("at least EOI");
    match inner.as_rule() {
        Rule::EOI => Ok(Statement::Empty),
        Rule::let_stmt | Rule::assign => {
            let mut parts = inner.into_inner().filter(|p| p.as_rule() != Rule::kw_let);
            let name = parts.next().expect("a name");
            let value = build_expr(parts.next().expect("a value"))?;
            Ok(Statement::Let {
                name: name.as_str().to_string(),
                name_span: span_of(&name),
                value: value.expr,
            })
        }
        _ => Ok(Statement::Expr(build_expr(inner)?.expr)),
    }
}

fn build_expr(pair: Pair<'_, Rule>) -> Result<Built, ParseError> {
    match pair.as_rule() {
        Rule::expr => {
            let mut parts = pair.into_inner();
            let first = build_expr(parts.next().expect("a sum"))?;
            let Some(b) = parts.next() else {
                return Ok(first);
            };
            // `a : b :: c : ?`
            let b = build_expr(b)?;
            let c = build_expr(parts.next().expect("an analogy's third term"))?;
            let q = parts.next().expect("the final '?'");
            let span = first.outer.to(span_of(&q));
            let kind = ExprKind::Analogy {
                a: Box::new(first.expr),
                b: Box::new(b.expr),
                c: Box::new(c.expr),
            };
            Ok(Built::new(kind, span))
        }
        Rule::sum => build_sum(pair.into_inner()),
        rule => unreachable!("not an expression: {rule:?}"),
    }
}

fn build_sum(pairs: Pairs<'_, Rule>) -> Result<Built, ParseError> {
    PRATT
        .map_primary(build_primary)
        .map_prefix(|op, rhs| {
            let rhs = rhs?;
            let span = span_of(&op).to(rhs.outer);
            Ok(Built::new(ExprKind::Neg(Box::new(rhs.expr)), span))
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let op = match op.as_rule() {
                Rule::add => BinOp::Add,
                Rule::sub => BinOp::Sub,
                Rule::mul => BinOp::Mul,
                Rule::div => BinOp::Div,
                rule => unreachable!("not an operator: {rule:?}"),
            };
            let span = lhs.outer.to(rhs.outer);
            let kind = ExprKind::Binary {
                op,
                lhs: Box::new(lhs.expr),
                rhs: Box::new(rhs.expr),
            };
            Ok(Built::new(kind, span))
        })
        .parse(pairs)
}

fn build_primary(pair: Pair<'_, Rule>) -> Result<Built, ParseError> {
    let span = span_of(&pair);
    let text = pair.as_str();
    let kind = match pair.as_rule() {
        Rule::word => ExprKind::Word {
            text: text.to_string(),
            quoted: false,
        },
        Rule::number => {
            let value: f64 = text
                .parse()
                .expect("the grammar only accepts valid numbers");
            // f64 turns 1e309 into infinity and 1e-400 into 0: say so instead of computing
            // with a number that is not the one typed.
            if !value.is_finite() {
                return Err(ParseError::new(
                    format!("the number {text} is too large (it overflows a 64-bit float)"),
                    span,
                ));
            }
            let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
            if value == 0.0 && mantissa.chars().any(|c| c.is_ascii_digit() && c != '0') {
                return Err(ParseError::new(
                    format!("the number {text} is too small (it rounds to 0)"),
                    span,
                ));
            }
            ExprKind::Number {
                value,
                text: text.to_string(),
            }
        }
        Rule::quoted => ExprKind::Word {
            text: unescape(pair.get_input(), span)?,
            quoted: true,
        },
        Rule::paren => {
            let inner = build_expr(pair.into_inner().next().expect("an expression"))?;
            return Ok(Built {
                expr: inner.expr,
                outer: span,
            });
        }
        Rule::call => {
            let mut parts = pair.into_inner();
            let name = parts.next().expect("a name");
            let args = parts
                .map(|p| {
                    if p.as_rule() == Rule::option {
                        return Ok(build_option(p));
                    }
                    build_expr(p).map(|b| b.expr)
                })
                .collect::<Result<_, _>>()?;
            ExprKind::Call {
                name: name.as_str().to_string(),
                name_span: span_of(&name),
                args,
            }
        }
        rule => unreachable!("not a primary: {rule:?}"),
    };
    Ok(Built::new(kind, span))
}

/// `k=10` in a call's arguments.
fn build_option(pair: Pair<'_, Rule>) -> Expr {
    let span = span_of(&pair);
    let mut parts = pair.into_inner();
    let name = parts.next().expect("an option's name");
    let number = parts.next().expect("an option's number");
    Expr {
        kind: ExprKind::Option {
            name: name.as_str().to_string(),
            name_span: span_of(&name),
            value: number
                .as_str()
                .parse()
                .expect("the grammar only accepts valid numbers"),
            text: number.as_str().to_string(),
        },
        span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const PIECES: &[&str] = &[
        "king", "man", "?", "2", ".5", "1e-3", "(", ")", "(", ")", ",", ":", "::", "+", "-", "-",
        "*", "/", "=", "let", "sim", "mean", "\"a b\"", "\"?\"", "e-mail", "x_1", "#c\n", "c#",
        "'s", "u.s.", "3x", "日本", "king-", "?x", "\"", "\"\"", "\"\\q\"",
    ];

    /// Pushes the tokens of a random valid expression.
    fn gen_expr(rng: &mut Rng, depth: usize, out: &mut Vec<&'static str>) {
        let leaves = ["king", "?", "2", "\"a b\"", "e-mail", "日本", "x_1", "'s"];
        match if depth == 0 { 0 } else { rng.below(7) } {
            0 => out.push(leaves[rng.below(leaves.len())]),
            1 => {
                out.push("-");
                gen_expr(rng, depth - 1, out);
            }
            2 | 3 => {
                gen_expr(rng, depth - 1, out);
                out.push(["+", "-", "*", "/"][rng.below(4)]);
                gen_expr(rng, depth - 1, out);
            }
            4 => {
                out.push("(");
                gen_expr(rng, depth - 1, out);
                out.push(")");
            }
            5 => {
                out.push(["sim", "mean", "let", "plot"][rng.below(4)]);
                out.push("(");
                for i in 0..rng.below(3) {
                    if i > 0 {
                        out.push(",");
                    }
                    if rng.below(4) == 0 {
                        // an option, sometimes with a wrong value
                        out.extend(["k", "="]);
                        out.push(["10", "2", "king", "-"][rng.below(4)]);
                    } else {
                        gen_expr(rng, depth - 1, out);
                    }
                }
                out.push(")");
            }
            _ => {
                out.push("(");
                for sep in [":", "::", ":"] {
                    gen_expr(rng, depth - 1, out);
                    out.push(sep);
                }
                out.push("?");
                out.push(")");
            }
        }
    }

    fn gen_line(rng: &mut Rng) -> String {
        let mut toks = Vec::new();
        match rng.below(8) {
            0 => toks.extend(["let", "x", "="]),
            1 => toks.extend(["x", "="]),
            _ => {}
        }
        let top = toks.len();
        let depth = 1 + rng.below(4);
        gen_expr(rng, depth, &mut toks);
        // Sometimes unwrap a top-level analogy.
        if rng.below(2) == 0 && toks.get(top) == Some(&"(") && toks.last() == Some(&")") {
            toks.remove(top);
            toks.pop();
        }
        for _ in 0..rng.below(3) {
            let at = rng.below(toks.len() + 1);
            match rng.below(3) {
                0 if at < toks.len() => {
                    toks.remove(at);
                }
                1 if at < toks.len() => toks[at] = PIECES[rng.below(PIECES.len())],
                _ => toks.insert(at, PIECES[rng.below(PIECES.len())]),
            }
        }
        let mut line = String::new();
        for t in toks {
            line.push_str(t);
            line.push_str(["", " ", " ", "  "][rng.below(4)]);
        }
        line
    }

    /// The checker and the grammar accept exactly the same lines, and neither panics.
    #[test]
    fn checker_agrees_with_grammar() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut rejected) = (0, 0);
        for i in 0..20_000 {
            let line = if i % 4 == 0 {
                let mut line = String::new();
                for _ in 0..1 + rng.below(9) {
                    line.push_str(PIECES[rng.below(PIECES.len())]);
                    line.push_str(["", " ", " "][rng.below(3)]);
                }
                line
            } else {
                gen_line(&mut rng)
            };
            let toks = lex(&line).expect("lexing never fails");
            let checked = check(&line, &toks);
            let built = build(&line);
            assert_eq!(
                checked.is_ok(),
                built.is_ok(),
                "checker and grammar disagree on {line:?}: {checked:?} / {built:?}"
            );
            if let Err(e) = checked {
                assert!(
                    e.span.start <= e.span.end && e.span.end <= line.len(),
                    "{line:?}: {e:?}"
                );
                assert!(line.is_char_boundary(e.span.start) && line.is_char_boundary(e.span.end));
                rejected += 1;
            } else {
                accepted += 1;
            }
            let _ = is_incomplete(&line);
        }
        // Make sure the generator exercises both sides.
        assert!(
            accepted > 3_000 && rejected > 3_000,
            "{accepted} accepted, {rejected} rejected"
        );
    }

    #[test]
    fn lexer_never_fails() {
        for line in [
            "",
            "\"",
            "\"\\",
            "a\"b",
            "((",
            "#",
            "-",
            "--x",
            "\u{a0}x\u{3000}",
        ] {
            assert!(lex(line).is_ok(), "{line:?}");
        }
    }
}
