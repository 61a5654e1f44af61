//! The one tokenizer of a session line: kinds, spans and the words tokens denote.
//!
//! [`tokens`] splits any text into tokens that cover all of it, in order: blanks and comments
//! included, command lines (`:k 5 # five`) included, and it never fails, so the line editor can
//! colour and complete a half-typed line with the very tokens the checker reads. Expression
//! text is split by the grammar's own `tokens` rule (`grammar.pest`); an unterminated quote is
//! one [`Kind::OpenQuote`] token to the end of the text. A quoted token knows the word it
//! denotes ([`Token::word`]), decoded exactly as the evaluator will see it.

use std::borrow::Cow;

use pest::iterators::Pair;
use pest::Parser;

use super::grammar::{LineParser, Rule};
use crate::ast::Span;
use crate::commands::{Args, Command};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A run of blanks (newlines included).
    Blank,
    /// `#` to the end of its line where a token could start; on a command line, a `#` after a
    /// blank outside quotes, to the end of the text.
    Comment,
    /// A bare word (`king`, `e-mail`, `c#`, `?`, `let`).
    Word,
    /// `2`, `.5`, `1e-3`.
    Number,
    /// `"..."`, closed (its escapes may still be wrong: see [`Token::word`]).
    Quoted,
    /// `"...` to the end of the text: unterminated, or still being typed.
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
    /// `:name` at the start of a command line (the name may be empty: `:`).
    CommandName,
    /// A blank-separated argument of a command other than `:ast` (whose arguments are an
    /// expression, split into expression tokens).
    Argument,
    /// Text the tokenizer could not read (the grammar's `tokens` rule accepts any text, so this
    /// only stands for a bug): the rest of the text.
    Error,
}

impl Kind {
    /// Blanks and comments: what stands between the tokens that count.
    pub fn is_trivia(self) -> bool {
        matches!(self, Kind::Blank | Kind::Comment)
    }
}

/// One token: its kind, where it is and its source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: Kind,
    /// Byte offsets into the line.
    pub span: Span,
    /// The source text (`&line[span]`), quotes and escapes included.
    pub text: &'a str,
}

impl<'a> Token<'a> {
    /// The word this token denotes, as the evaluator sees it: a bare word's text; a quoted
    /// word's body with its escapes decoded (`"caf\u{e9}"` is `café`), `None` when the parser
    /// rejects it (an unknown escape, `""`); for an open quote, the word typed so far (an escape
    /// cut off at the end is left out). `None` for every other kind.
    pub fn word(&self) -> Option<Cow<'a, str>> {
        match self.kind {
            Kind::Word => Some(Cow::Borrowed(self.text)),
            Kind::Quoted => {
                let body = &self.text[1..self.text.len() - 1];
                // `""` is the empty word, as for the parser.
                decode(body, false).ok().map(Cow::Owned)
            }
            Kind::OpenQuote => decode(&self.text[1..], true).ok().map(Cow::Owned),
            _ => None,
        }
    }

    /// Whether this token is a bare word shaped as an identifier, the name of a call or of a
    /// binding (see [`is_ident`]).
    pub fn is_ident(&self) -> bool {
        self.kind == Kind::Word && is_ident(self.text)
    }
}

/// Splits a whole session line into tokens covering all of it, in order. A line whose first
/// non-blank character is `:` is a command line: [`Kind::Blank`], [`Kind::CommandName`], then
/// the arguments (expression tokens for `:ast`, else [`Kind::Argument`]s and blanks) and a
/// trailing [`Kind::Comment`]; any other line is split into expression tokens.
pub fn tokens(line: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    match command_colon(line) {
        Some(colon) => command_tokens(line, colon, &mut out),
        None => expr_tokens(line, 0, line.len(), &mut out),
    }
    out
}

/// Where the `:` of a command line is: the first non-blank character, if it is one.
pub(super) fn command_colon(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    trimmed.starts_with(':').then(|| line.len() - trimmed.len())
}

/// The end of a command's name that starts after the `:` at `colon`: letters and `-`.
pub(super) fn command_name_end(line: &str, colon: usize) -> usize {
    let name_start = colon + 1;
    line[name_start..]
        .find(|c: char| !(c.is_alphabetic() || c == '-'))
        .map_or(line.len(), |i| name_start + i)
}

/// Where a command's trailing comment starts: a `#` after a blank, outside `"..."`.
pub(super) fn command_comment(line: &str, from: usize) -> Option<usize> {
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

fn command_tokens<'a>(line: &'a str, colon: usize, out: &mut Vec<Token<'a>>) {
    let mut push = |kind, start, end| {
        out.push(Token {
            kind,
            span: Span::new(start, end),
            text: &line[start..end],
        })
    };
    if colon > 0 {
        push(Kind::Blank, 0, colon);
    }
    let name_end = command_name_end(line, colon);
    push(Kind::CommandName, colon, name_end);
    let comment = command_comment(line, name_end);
    let args_end = comment.unwrap_or(line.len());
    // A command whose argument is an expression (`:ast`) is lexed as one.
    let takes_expr = Command::lookup(&line[colon + 1..name_end]).map(Command::args);
    if takes_expr == Some(Args::Expr) {
        expr_tokens(line, name_end, args_end, out);
    } else {
        let mut i = name_end;
        while i < args_end {
            let blank = line[i..].starts_with(char::is_whitespace);
            let end = line[i..args_end]
                .find(|c: char| c.is_whitespace() != blank)
                .map_or(args_end, |n| i + n);
            out.push(Token {
                kind: if blank { Kind::Blank } else { Kind::Argument },
                span: Span::new(i, end),
                text: &line[i..end],
            });
            i = end;
        }
    }
    if let Some(c) = comment {
        out.push(Token {
            kind: Kind::Comment,
            span: Span::new(c, line.len()),
            text: &line[c..],
        });
    }
}

pub(super) fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}

/// Splits `line[from..to]` as expression text with the grammar's `tokens` rule (which accepts
/// any text), blanks and comments included; spans are offsets into `line`.
fn expr_tokens<'a>(line: &'a str, from: usize, to: usize, out: &mut Vec<Token<'a>>) {
    let text = &line[from..to];
    let pairs = match LineParser::parse(Rule::tokens, text) {
        Ok(pairs) => pairs,
        Err(e) => {
            // Not reachable (the rule accepts any text); stay tolerant all the same: the tokens
            // before the point of failure, then the rest as one error token.
            let at = match e.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((s, _)) => s,
            };
            if at > 0 && at < text.len() {
                expr_tokens(line, from, from + at, out);
            }
            let at = if at < text.len() { from + at } else { from };
            if at < to {
                out.push(Token {
                    kind: Kind::Error,
                    span: Span::new(at, to),
                    text: &line[at..to],
                });
            }
            return;
        }
    };
    for pair in pairs.flatten() {
        let kind = match pair.as_rule() {
            Rule::blank => Kind::Blank,
            Rule::comment => Kind::Comment,
            Rule::word => Kind::Word,
            Rule::number => Kind::Number,
            Rule::quoted => Kind::Quoted,
            Rule::open_quote => Kind::OpenQuote,
            Rule::lparen => Kind::LParen,
            Rule::rparen => Kind::RParen,
            Rule::comma => Kind::Comma,
            Rule::colon => Kind::Colon,
            Rule::dcolon => Kind::DColon,
            Rule::eq => Kind::Eq,
            Rule::add => Kind::Plus,
            Rule::sub => Kind::Minus,
            Rule::mul => Kind::Star,
            Rule::div => Kind::Slash,
            _ => continue,
        };
        let span = span_of(&pair);
        out.push(Token {
            kind,
            span: Span::new(from + span.start, from + span.end),
            text: pair.as_str(),
        });
    }
}

/// The tokens of an expression line that count (no blanks, no comments): what the checker
/// and [`super::is_incomplete`] read.
pub(super) fn lex(line: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    expr_tokens(line, 0, line.len(), &mut out);
    out.retain(|t| !t.kind.is_trivia());
    out
}

/// Whether `s` is an identifier: a call's name or a NAME (except `let`). Letters (Unicode) and
/// `_`, then letters, ASCII digits and `_`, as the grammar's `ident`.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphabetic() || c.is_ascii_digit() || c == '_')
}

/// A bad escape in the body of a quoted word: its byte range in the body and what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadEscape {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) what: &'static str,
}

/// Decodes the body of a quoted word (between its quotes): `\"` and `\\`, those Rust's `{:?}`
/// prints (`\n \t \r \0 \' \u{...}`), and `\e` and `\xNN`, which answers show. `partial`:
/// the body is still being typed (an open quote), so an escape cut off by its end is left out
/// instead of being an error.
pub(super) fn decode(body: &str, partial: bool) -> Result<String, BadEscape> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((j, e)) = chars.next() else {
            // The grammar pairs each backslash of a closed quote with a character.
            return if partial {
                Ok(out)
            } else {
                Err(BadEscape {
                    start: i,
                    end: body.len(),
                    what: "unknown escape",
                })
            };
        };
        match e {
            '"' | '\\' | '\'' => out.push(e),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            // As answers show them (`text::escape`), so that what is shown can be typed back.
            'e' => out.push('\u{1b}'),
            'x' => {
                let digits = body.get(j + 1..j + 3);
                match digits.and_then(|d| u8::from_str_radix(d, 16).ok()) {
                    Some(byte)
                        if digits.is_some_and(|d| d.bytes().all(|b| b.is_ascii_hexdigit())) =>
                    {
                        out.push(char::from(byte));
                        chars.next();
                        chars.next();
                    }
                    _ if partial
                        && body.len() < j + 3
                        && body[j + 1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        return Ok(out);
                    }
                    _ => {
                        return Err(BadEscape {
                            start: i,
                            end: (j
                                + 1
                                + body[j + 1..]
                                    .chars()
                                    .take(2)
                                    .map(char::len_utf8)
                                    .sum::<usize>()),
                            what: "invalid \\x escape (two hex digits: \\x07)",
                        })
                    }
                }
            }
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
                    None if partial
                        && close.is_none()
                        && (rest.is_empty()
                            || rest.starts_with('{')
                                && rest[1..].chars().all(|c| c.is_ascii_hexdigit())) =>
                    {
                        return Ok(out);
                    }
                    None => {
                        let end = close.map_or(j + 1, |k| j + 2 + k);
                        return Err(BadEscape {
                            start: i,
                            end,
                            what: "invalid unicode escape",
                        });
                    }
                }
            }
            _ => {
                return Err(BadEscape {
                    start: i,
                    end: j + e.len_utf8(),
                    what: "unknown escape",
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word an answer or a hint shows (`text::escape`: `\e`, `\x07`, `\u{202e}`) can be
    /// typed back between quotes: `did you mean 'bell\x07'?` then `"bell\x07"` was "unknown
    /// escape '\x'".
    #[test]
    fn what_answers_show_can_be_typed_back() {
        assert_eq!(decode(r"bell\x07", false).unwrap(), "bell\u{7}");
        assert_eq!(decode(r"\e[31m", false).unwrap(), "\u{1b}[31m");
        assert_eq!(decode(r"a\x85b", false).unwrap(), "a\u{85}b");
        assert!(decode(r"\x7", false).is_err(), "two hex digits");
        assert!(decode(r"\xzz", false).is_err());
        assert_eq!(decode(r"\x0", true).unwrap(), "", "cut off while typed");
        proptest::proptest!(|(word in "[^\"\\\\]{0,12}")| {
            let shown = crate::text::escape(&word);
            proptest::prop_assert_eq!(decode(&shown, false).unwrap(), word);
        });
    }

    /// A word shown in quotes (one with a space at an end) types back as itself, whatever it
    /// holds: quotes, backslashes, controls.
    #[test]
    fn a_word_shown_in_quotes_types_back() {
        proptest::proptest!(|(word in "[ a\"\\\u{1b}\u{a0}]{1,6}")| {
            // Only those: `""` (two quotes) shows as itself, like the empty word (not new).
            let has_end_space =
                word.starts_with(char::is_whitespace) || word.ends_with(char::is_whitespace);
            proptest::prop_assume!(has_end_space);
            let shown = crate::text::escape_word(&word);
            let body = shown.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
            proptest::prop_assert!(body.is_some(), "{shown} is not in quotes");
            proptest::prop_assert_eq!(decode(body.unwrap(), false).unwrap(), word);
        });
    }

    fn kinds(line: &str) -> Vec<(Kind, &str)> {
        tokens(line).into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn lexer_never_fails_and_covers_the_line() {
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
            " :",
            ":ast \"a",
            "a # b\nc",
        ] {
            let toks = tokens(line);
            let mut at = 0;
            for t in &toks {
                assert_ne!(t.kind, Kind::Error, "{line:?}");
                assert_eq!(t.span.start, at, "{line:?}: {toks:?}");
                assert_eq!(t.text, &line[t.span.start..t.span.end]);
                at = t.span.end;
            }
            assert_eq!(at, line.len(), "{line:?}");
        }
    }

    #[test]
    fn tokens_follow_the_grammar() {
        use Kind::*;
        assert_eq!(
            kinds("e-mail - king- man"),
            vec![
                (Word, "e-mail"),
                (Blank, " "),
                (Minus, "-"),
                (Blank, " "),
                (Word, "king"),
                (Minus, "-"),
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
            kinds("c# # note\nx"),
            vec![
                (Word, "c#"),
                (Blank, " "),
                (Comment, "# note"),
                (Blank, "\n"),
                (Word, "x")
            ]
        );
        assert_eq!(kinds("a : b :: c : ?")[6], (DColon, "::"));
        assert_eq!(
            kinds("sim(\"new york"),
            vec![(Word, "sim"), (LParen, "("), (OpenQuote, "\"new york")]
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
                (Minus, "-"),
                (Word, "a")
            ]
        );
        assert_eq!(kinds("日本-語"), vec![(Word, "日本-語")]);
    }

    #[test]
    fn tokens_denote_the_words_the_evaluator_sees() {
        let word = |line: &str| tokens(line)[0].word().map(Cow::into_owned);
        assert_eq!(word("café").as_deref(), Some("café"));
        assert_eq!(word("\"caf\\u{e9}\"").as_deref(), Some("café"));
        assert_eq!(word("\"a\\\"b\\\\c\\n\"").as_deref(), Some("a\"b\\c\n"));
        assert_eq!(word("\"\\q\""), None);
        assert_eq!(word("\"\\u{d800}\""), None);
        // The empty word (gensim keeps `''`).
        assert_eq!(word("\"\"").as_deref(), Some(""));
        assert_eq!(word("2"), None);
        // An open quote: the word so far, without an escape cut off at the end.
        assert_eq!(word("\"caf\\u{e").as_deref(), Some("caf"));
        assert_eq!(word("\"caf\\").as_deref(), Some("caf"));
        assert_eq!(word("\"caf\\u{e9}").as_deref(), Some("café"));
        assert_eq!(word("\"").as_deref(), Some(""));
        assert_eq!(word("\"a\\q"), None);
        assert_eq!(word("\"caf\\u{e,"), None);
    }

    #[test]
    fn identifiers_take_ascii_digits_only() {
        assert!(is_ident("x_1"));
        assert!(is_ident("日本"));
        assert!(!is_ident("x٣"));
        assert!(!is_ident("1x"));
        assert!(!is_ident("e-mail"));
    }
}
