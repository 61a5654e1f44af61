//! The checker: explains in words the first reason the grammar rejects a line (the one place
//! parse errors are made).

use super::grammar::Rule;
use super::lexer::{decode, is_ident, Kind, Token};
use super::ParseError;
use crate::ast::Span;

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

/// The error for a line the grammar rejects although the checker accepted it (a bug).
pub(super) fn internal_error(line: &str, e: &pest::error::Error<Rule>) -> ParseError {
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

/// Decodes a quoted word (its span includes the quotes), or says what is wrong with it.
pub(super) fn unescape(line: &str, span: Span) -> Result<String, ParseError> {
    let body_start = span.start + 1;
    let out = decode(&line[body_start..span.end - 1], false).map_err(|bad| {
        let (at, end) = (body_start + bad.start, body_start + bad.end);
        ParseError::new(
            format!("{} '{}' in a quoted word", bad.what, &line[at..end]),
            Span::new(at, end),
        )
        .help("inside quotes write \\\" for '\"' and \\\\ for '\\'")
    })?;
    // `""` is the empty word (gensim keeps `''`); the evaluator says when there is none.
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
    open: Option<Token<'a>>,
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
        open: Option<Token<'a>>,
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

fn is_operand(kind: Kind) -> bool {
    matches!(kind, Kind::Word | Kind::Number | Kind::Quoted)
}

/// Explains the first reason why the grammar would reject the line, if any.
pub(super) fn check(line: &str, toks: &[Token<'_>]) -> Result<(), ParseError> {
    if let Some(t) = toks.get(MAX_TOKENS) {
        return Err(ParseError::new(
            format!("this line is too long: more than {MAX_TOKENS} words, numbers and symbols"),
            Span::new(t.span.start, line.len()),
        )
        .help("split it up, naming parts of it with 'let'"));
    }
    if let Some(t) = toks.iter().find(|t| t.kind == Kind::Error) {
        // The grammar's `tokens` rule reads any text: this is a bug, reported as the grammar would.
        let c = t.text.chars().next().unwrap_or(' ');
        return Err(ParseError::new(
            format!("unexpected '{c}'"),
            Span::new(t.span.start, t.span.start + c.len_utf8()),
        ));
    }
    if let Some(i) = toks.iter().position(|t| t.kind == Kind::OpenQuote) {
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
fn check_statement(line: &str, toks: &[Token<'_>], partial: bool) -> Result<(), ParseError> {
    let at = |i: usize| toks.get(i).map_or(end_span(line), |t| t.span);
    let Some(first) = toks.first() else {
        return Ok(());
    };
    if first.kind == Kind::Word && first.text == "let" && (toks.len() > 1 || partial) {
        let name = match toks.get(1) {
            Some(t) if t.kind == Kind::Word && is_ident(t.text) && t.text != "let" => t,
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
            Some(t) if t.kind == Kind::Eq => {}
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
    if toks.len() >= 2 && toks[1].kind == Kind::Eq && is_operand(first.kind) {
        if !(first.kind == Kind::Word && is_ident(first.text)) {
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
fn tok_text(t: &Token<'_>) -> String {
    short(t.text)
}

/// "expected a word, number or '(' ..." at `found` (a token, or the end of the line).
/// `call`: the name of the call when `prev` is its `(`.
fn expected_operand(
    line: &str,
    prev: Option<&Token<'_>>,
    found: Option<&Token<'_>>,
    call: Option<&str>,
) -> ParseError {
    let span = found.map_or(end_span(line), |t| t.span);
    if let (Some(p), Some(f)) = (prev, found) {
        if p.kind == Kind::LParen && f.kind == Kind::RParen {
            return ParseError::new("empty parentheses", p.span.to(f.span))
                .help("put an expression inside, e.g. (king - man)");
        }
    }
    let message = match (prev, found) {
        (Some(p), _) if p.kind == Kind::LParen && call.is_some() => format!(
            "expected a word, number or '(' after '{}('",
            call.unwrap_or_default()
        ),
        (Some(p), _) => format!("expected a word, number or '(' after '{}'", tok_text(p)),
        (None, Some(f)) => format!("expected a word, number or '(' before '{}'", tok_text(f)),
        (None, None) => "expected a word, number or '('".to_string(),
    };
    let err = ParseError::new(message, span);
    match found.map(|f| f.kind) {
        Some(Kind::RParen) if prev.is_some_and(|p| p.kind == Kind::Comma) => {
            err.help("remove the trailing ','")
        }
        Some(Kind::Eq) => err.help("'=' names a result: write 'name = expression'"),
        Some(Kind::Plus | Kind::Star | Kind::Slash | Kind::Comma | Kind::Colon | Kind::DColon) => {
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
    prev: &Token<'_>,
    found: Option<&Token<'_>>,
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

/// Walks the tokens of an expression from `from` once, left to right, and returns the first
/// reason the grammar rejects them. One piece (about 300 lines) on purpose: a single pass with
/// one explicit stack of frames, whose state (an operand expected or not, each frame's progress
/// through an analogy, the nesting depth) every branch reads and updates; split up, that state
/// would be threaded through helpers without making any rule easier to read.
fn check_expr(
    line: &str,
    toks: &[Token<'_>],
    from: usize,
    partial: bool,
) -> Result<(), ParseError> {
    let mut stack = vec![Frame::new(None, None, 0, from)];
    // How deeply the parser will recurse: open parentheses plus pending unary minus signs.
    let mut nesting = 0;
    let too_deep = |nesting: usize, t: &Token<'_>| {
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
    let mut prev: Option<&Token<'_>> = from.checked_sub(1).map(|i| &toks[i]);
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
                if t.kind == Kind::Word && t.text == "?" {
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
                    Kind::Word | Kind::Number | Kind::Quoted => {
                        if t.kind == Kind::Quoted {
                            unescape(line, t.span)?;
                        }
                        let next = toks.get(k + 1);
                        // `name=number` opens a call's argument: an option (`plot(x, k=10)`).
                        let starts_argument =
                            top.call.is_some() && top.negs == 0 && top.start == Some(t.span.start);
                        if starts_argument
                            && t.kind == Kind::Word
                            && is_ident(t.text)
                            && next.is_some_and(|n| n.kind == Kind::Eq)
                        {
                            let option = || format!("{}=", t.text);
                            match toks.get(k + 2) {
                                Some(n) if n.kind == Kind::Number => {}
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
                                | Some(Token {
                                    kind: Kind::Comma | Kind::RParen,
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
                        if t.kind == Kind::Word && is_ident(t.text) {
                            if let Some(open) = next.filter(|n| n.kind == Kind::LParen) {
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
                    Kind::Minus => {
                        top.negs += 1;
                        nesting += 1;
                        too_deep(nesting, t)?;
                    }
                    Kind::LParen => {
                        nesting += 1;
                        too_deep(nesting, t)?;
                        stack.push(Frame::new(Some(*t), None, t.span.start, k + 1));
                    }
                    Kind::RParen
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
                Kind::Plus | Kind::Minus | Kind::Star | Kind::Slash => {
                    if top.ana == Ana::Done {
                        return Err(after_analogy());
                    }
                    expect_operand = true;
                }
                Kind::Word | Kind::Number | Kind::Quoted | Kind::LParen => {
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
                        return Err(if t.kind == Kind::LParen {
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
                        (Some(Kind::Word), Kind::Word) => format!(
                            "did you mean '{left} + {right}'? To look up an entry made of several words, quote it: \"{left} {right}\""
                        ),
                        (Some(Kind::Number), Kind::Word | Kind::Quoted | Kind::LParen)
                        | (Some(Kind::Word | Kind::Quoted | Kind::RParen), Kind::Number) => {
                            format!("did you mean '{left} * {right}'?")
                        }
                        _ => "put an operator (+ - * /) between them".to_string(),
                    };
                    return Err(err.help(help));
                }
                Kind::RParen => {
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
                Kind::Comma => {
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
                Kind::Colon | Kind::DColon if bare_q_term(&toks[top.term_tok..k]).is_some() => {
                    let q = bare_q_term(&toks[top.term_tok..k]).unwrap_or(t.span);
                    return Err(misplaced_q(q));
                }
                Kind::Colon => match top.ana {
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
                Kind::DColon => match top.ana {
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
                Kind::Eq => {
                    let help = if from > 0 {
                        "a line names only one result: 'name = expression'"
                    } else {
                        "'=' names a result and must follow a single name at the start of the line: 'name = expression'"
                    };
                    return Err(ParseError::new("unexpected '='", t.span).help(help));
                }
                Kind::OpenQuote => unreachable!("check() cuts the tokens before an open quote"),
                Kind::Error => unreachable!("check() reports unreadable text first"),
                Kind::Blank | Kind::Comment | Kind::CommandName | Kind::Argument => {
                    unreachable!("lex() yields the tokens of an expression that count")
                }
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
fn bare_q_term(mut term: &[Token<'_>]) -> Option<Span> {
    while term.len() >= 3
        && term[0].kind == Kind::LParen
        && term[term.len() - 1].kind == Kind::RParen
    {
        term = &term[1..term.len() - 1];
    }
    match term {
        [q] if q.kind == Kind::Word && q.text == "?" => Some(q.span),
        _ => None,
    }
}

fn misplaced_q(span: Span) -> ParseError {
    ParseError::new("'?' can only end an analogy: a : b :: c : ?", span)
        .help("to look up the word '?' itself, quote it: \"?\"")
}

#[cfg(test)]
mod tests {
    use super::super::build::build;
    use super::super::is_incomplete;
    use super::super::lexer::lex;
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
            let toks = lex(&line);
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
}
