//! The tokens of a line: the grammar's `tokens` rule, turned into a list of kinds and spans.

use pest::iterators::Pair;
use pest::Parser;

use super::check::internal_error;
use super::grammar::{LineParser, Rule};
use super::ParseError;
use crate::ast::Span;

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
pub(super) enum Tk {
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
pub(super) struct Tok<'a> {
    pub(super) kind: Tk,
    pub(super) span: Span,
    pub(super) text: &'a str,
}

pub(super) fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}

/// Splits a line into tokens with the grammar's own `tokens` rule, which accepts any text.
pub(super) fn lex(line: &str) -> Result<Vec<Tok<'_>>, ParseError> {
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

/// Whether `s` is an identifier: a call's name or a NAME (except `let`).
pub(super) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphabetic() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

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
