//! Tests for `vecsh::parse`: snapshot tables over every rule of the language, explicit span
//! and error (caret) assertions, and a round-trip property over generated expressions.

use std::fmt::Write as _;

use vecsh::ast::{BinOp, Expr, ExprKind, Span, Statement};
use vecsh::parse::{is_incomplete, parse_statement, ParseError};

// ------------------------------------------------------------------------------ rendering

/// A compact S-expression with spans: `(- w:king@0..4 w:man@7..10)@0..10`.
fn sexp(e: &Expr) -> String {
    let s = e.span;
    let at = format!("@{}..{}", s.start, s.end);
    match &e.kind {
        ExprKind::Word {
            text,
            quoted: false,
        } => format!("w:{text}{at}"),
        ExprKind::Word { text, quoted: true } => format!("q:{text:?}{at}"),
        ExprKind::Number { value, text } => format!("n:{text}={value:?}{at}"),
        ExprKind::Neg(inner) => format!("(neg {}){at}", sexp(inner)),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {}){at}", op.symbol(), sexp(lhs), sexp(rhs))
        }
        ExprKind::Call {
            name,
            name_span,
            args,
        } => {
            let mut out = format!("(call {name}@{}..{}", name_span.start, name_span.end);
            for a in args {
                write!(out, " {}", sexp(a)).unwrap();
            }
            format!("{out}){at}")
        }
        ExprKind::Option { name, text, .. } => format!("opt:{name}={text}{at}"),
        ExprKind::Analogy { a, b, c } => {
            format!("(analogy {} {} {}){at}", sexp(a), sexp(b), sexp(c))
        }
    }
}

fn render_statement(st: &Statement) -> String {
    match st {
        Statement::Empty => "empty".to_string(),
        Statement::Expr(e) => format!("expr {}", sexp(e)),
        Statement::Let {
            name,
            name_span,
            value,
        } => {
            format!(
                "let {name}@{}..{} = {}",
                name_span.start,
                name_span.end,
                sexp(value)
            )
        }
        Statement::Command {
            name,
            name_span,
            args,
            args_span,
        } => format!(
            "command {name}@{}..{} args {args:?}@{}..{}",
            name_span.start, name_span.end, args_span.start, args_span.end
        ),
    }
}

/// The caret line under `line` for `span` (the test lines are ASCII where spans matter,
/// otherwise this counts characters).
fn carets(line: &str, span: Span) -> String {
    let pad = line[..span.start].chars().count();
    let width = line[span.start..span.end].chars().count().max(1);
    format!("{}{}", " ".repeat(pad), "^".repeat(width))
}

fn render_error(line: &str, e: &ParseError) -> String {
    let mut out = format!(
        "error: {}\n  | {line}\n  | {}",
        e.message,
        carets(line, e.span)
    );
    if let Some(help) = &e.help {
        write!(out, "\n  = help: {help}").unwrap();
    }
    out
}

fn render(line: &str) -> String {
    match parse_statement(line) {
        Ok(st) => render_statement(&st),
        Err(e) => render_error(line, &e),
    }
}

fn table(lines: &[&str]) -> String {
    let mut out = String::new();
    for line in lines {
        writeln!(out, "> {line}\n{}\n", render(line)).unwrap();
    }
    out
}

// ------------------------------------------------------------------------------ helpers

fn expr(line: &str) -> Expr {
    match parse_statement(line) {
        Ok(Statement::Expr(e)) => e,
        other => panic!("{line:?} is not an expression: {other:?}"),
    }
}

fn err(line: &str) -> ParseError {
    match parse_statement(line) {
        Err(e) => e,
        Ok(st) => panic!("{line:?} parsed as {st:?}"),
    }
}

/// Asserts the error's message, its caret line and (a part of) its help.
#[track_caller]
fn assert_err(line: &str, caret: &str, message: &str, help: Option<&str>) {
    let e = err(line);
    assert_eq!(e.message, message, "message for {line:?}");
    assert_eq!(carets(line, e.span), caret, "caret for {line:?}: {e:?}");
    match (help, &e.help) {
        (None, _) => {}
        (Some(want), Some(got)) => assert!(got.contains(want), "help for {line:?}: {got:?}"),
        (Some(want), None) => panic!("no help for {line:?}, wanted {want:?}"),
    }
    // `Display` is the message alone.
    assert_eq!(e.to_string(), message);
}

fn text(line: &str, span: Span) -> &str {
    &line[span.start..span.end]
}

/// The same tree with every span zeroed.
fn strip(e: &Expr) -> Expr {
    let kind = match &e.kind {
        ExprKind::Word { .. } | ExprKind::Number { .. } => e.kind.clone(),
        ExprKind::Neg(x) => ExprKind::Neg(Box::new(strip(x))),
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op: *op,
            lhs: Box::new(strip(lhs)),
            rhs: Box::new(strip(rhs)),
        },
        ExprKind::Call { name, args, .. } => ExprKind::Call {
            name: name.clone(),
            name_span: Span::default(),
            args: args.iter().map(strip).collect(),
        },
        ExprKind::Option {
            name, value, text, ..
        } => ExprKind::Option {
            name: name.clone(),
            name_span: Span::default(),
            value: *value,
            text: text.clone(),
        },
        ExprKind::Analogy { a, b, c } => ExprKind::Analogy {
            a: Box::new(strip(a)),
            b: Box::new(strip(b)),
            c: Box::new(strip(c)),
        },
    };
    Expr {
        kind,
        span: Span::default(),
    }
}

/// Span invariants of a parsed tree: leaves cover exactly their text, parents cover their
/// children, everything lies inside the line on char boundaries.
fn check_spans(line: &str, e: &Expr) {
    let s = e.span;
    assert!(s.start <= s.end && s.end <= line.len(), "{line:?}: {e:?}");
    assert!(line.is_char_boundary(s.start) && line.is_char_boundary(s.end));
    let covers = |child: &Expr| {
        assert!(
            s.start <= child.span.start && child.span.end <= s.end,
            "{line:?}: {e:?}"
        );
        check_spans(line, child);
    };
    match &e.kind {
        ExprKind::Word {
            text: t,
            quoted: false,
        } => assert_eq!(text(line, s), t),
        ExprKind::Word { quoted: true, .. } => {
            let src = text(line, s);
            assert!(
                src.len() >= 3 && src.starts_with('"') && src.ends_with('"'),
                "{src:?}"
            );
        }
        ExprKind::Number { text: t, .. } => assert_eq!(text(line, s), t),
        ExprKind::Option {
            name,
            name_span,
            text: t,
            ..
        } => {
            assert_eq!(text(line, *name_span), name);
            assert!(
                text(line, s).starts_with(name.as_str()) && text(line, s).ends_with(t.as_str())
            );
        }
        ExprKind::Neg(x) => {
            assert!(text(line, s).starts_with('-'));
            assert!(text(line, s).ends_with(text(line, x.span)) || text(line, s).ends_with(')'));
            covers(x);
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            covers(lhs);
            covers(rhs);
        }
        ExprKind::Call {
            name,
            name_span,
            args,
        } => {
            assert_eq!(text(line, *name_span), name);
            assert_eq!(name_span.start, s.start);
            assert!(text(line, s).ends_with(')'));
            args.iter().for_each(covers);
        }
        ExprKind::Analogy { a, b, c } => {
            assert!(text(line, s).ends_with('?'));
            covers(a);
            covers(b);
            covers(c);
        }
    }
}

/// Every accepted line: spans are sound, and `:ast`'s form parses back to the same tree.
fn check_accepted(line: &str) {
    if let Ok(st) = parse_statement(line) {
        let value = match &st {
            Statement::Expr(e) => e,
            Statement::Let {
                value,
                name,
                name_span,
            } => {
                assert_eq!(text(line, *name_span), name);
                value
            }
            Statement::Command {
                name,
                name_span,
                args,
                args_span,
            } => {
                assert_eq!(text(line, *name_span), name);
                assert_eq!(text(line, *args_span), args);
                return;
            }
            Statement::Empty => return,
        };
        check_spans(line, value);
        let shown = value.to_string();
        let again = expr(&shown);
        assert_eq!(strip(&again), strip(value), "{line:?} shown as {shown:?}");
    }
}

// ------------------------------------------------------------------------------ tables

const STATEMENTS: &[&str] = &[
    "",
    "   ",
    "# a comment",
    "   # indented comment",
    ":k 5",
    "  :exact off  ",
    ":ast king - man",
    ":ast king - man  # comment is not an argument",
    ":load \"a #b.txt\" # the quoted '#' stays",
    ":help",
    ":load-model glove.6B.50d.txt",
    ":k5",
    "let royal = king - man",
    "let x_2 = 2 * king",
    "royal = king - man",
    "_tmp=king",
    "café = 日本",
    "letter = king",
    "letter - man",
    "let letter = let",
    "x = y # comment",
    "\"let\" + king",
    "king + let",
    "let",
    "let  # the word, alone",
];

const EXPRESSIONS: &[&str] = &[
    "king",
    "king - man + woman",
    "king - man - woman",
    "a * b + c / d",
    "a + b * c",
    "a / b / c",
    "(a + b) * c",
    "((king))",
    "-king",
    "- king",
    "--king",
    "-a * b",
    "a * -b",
    "king -man",
    "king-man",
    "king - -man",
    "king- man",
    "king--man",
    "e-mail",
    "2 * king",
    "0.5 * king + .5 * queen",
    "1e-3",
    "2.5E+10 * x",
    "1999",
    "1990s",
    "2.",
    "1.5.2",
    "1-2",
    "'s",
    "u.s.",
    "don't + o'neill",
    "café + 日本",
    "... + ! + ?",
    "?x",
    "c# + f#",
    "king - man  # royalty",
    "\"c++\"",
    "\",\"",
    "\"1/2\" + \"new york\"",
    "\"say \\\"hi\\\"\" + \"back\\\\slash\"",
    "\"tab\\there\" + \"\\u{e9}\"",
    "man : king :: woman : ?",
    "man:king::woman:?",
    "paris - france : france :: germany + x : ?",
    "(a : b :: c : ?) + d",
    "\"?\" : b :: c : ?",
    "-? : (b) :: (? + c) : ?",
    "sim(king, queen)",
    "sim (king, queen)",
    "mean()",
    "odd(a, b, c, d)",
    "cosmul(man : king :: woman : ?)",
    "sim(king - man, sim(a, b) * 2)",
    "(a) * (b)",
    "-(a + b)",
    "sim(a,\n    b)",
    "king\t-\tman",
];

const ERRORS: &[&str] = &[
    "king +# a comment, so nothing follows '+'",
    "sim(",
    "king +",
    "king + * man",
    "(king - man",
    "sim(a, (b",
    "king )",
    "(king))",
    "sim(a b)",
    "sim(a, b c)",
    "sim(a,)",
    "sim(,a)",
    "king man",
    "2 king",
    "(a + b) c",
    "sim(a) (b)",
    "a : b :: c",
    "a : b",
    "a :",
    "a : b :: c :",
    "a : b :: c : d",
    "a : b : c",
    "a :: b",
    "a : b :: c :: ?",
    "a : b :: c : ? + d",
    "a : b :: c : ? d",
    "? : b :: c : ?",
    "a : ? :: c : ?",
    "a : b :: ((?)) : ?",
    "(a : b) + c",
    "sim(a : b :: c, d)",
    "let = x",
    "let (x)",
    "let 3x = king",
    "let e-mail = x",
    "let let = x",
    "let x king",
    "let x",
    "let x =",
    "3x = king",
    "e-mail = x",
    "king - man = x",
    "x = y = z",
    "= x",
    "+ king",
    "()",
    "king , queen",
    "\"unterminated",
    "king + \"unterminated (",
    "king \"open",
    "\"bad \\q escape\"",
    "\"bad \\u{zz} escape\"",
    ":",
    ": k",
    ":5",
    "king-",
    "king + ,",
];

#[test]
fn snapshot_statements() {
    snapshot!("snapshot_statements", table(STATEMENTS));
}

#[test]
fn snapshot_expressions() {
    snapshot!("snapshot_expressions", table(EXPRESSIONS));
}

#[test]
fn snapshot_errors() {
    snapshot!("snapshot_errors", table(ERRORS));
}

#[test]
fn tables_accept_and_reject_as_labelled() {
    for line in STATEMENTS.iter().chain(EXPRESSIONS) {
        assert!(
            parse_statement(line).is_ok(),
            "{line:?}: {:?}",
            parse_statement(line)
        );
        check_accepted(line);
    }
    for line in ERRORS {
        let e = err(line);
        assert!(
            e.span.end <= line.len() && e.span.start <= e.span.end,
            "{line:?}: {e:?}"
        );
        // Human messages, never pest's rule names.
        for raw in [
            "EOI",
            "WHITESPACE",
            "aterm",
            "primary",
            "qmark",
            "_stmt",
            "rule",
        ] {
            assert!(!e.message.contains(raw), "{line:?}: {}", e.message);
        }
    }
}

// ------------------------------------------------------------------------------ explicit

#[test]
fn spans_of_nodes() {
    let line = "king - man + woman";
    let e = expr(line);
    assert_eq!(e.span, Span::new(0, 18));
    let ExprKind::Binary {
        op: BinOp::Add,
        lhs,
        rhs,
    } = &e.kind
    else {
        panic!("{e:?}")
    };
    assert_eq!(lhs.span, Span::new(0, 10));
    assert_eq!(text(line, lhs.span), "king - man");
    assert_eq!(text(line, rhs.span), "woman");

    // Parentheses make no node and leave the inner span alone, but enclosing nodes cover them.
    let line = "(a + b) * c";
    let e = expr(line);
    assert_eq!(text(line, e.span), "(a + b) * c");
    let ExprKind::Binary {
        op: BinOp::Mul,
        lhs,
        ..
    } = &e.kind
    else {
        panic!("{e:?}")
    };
    assert_eq!(text(line, lhs.span), "a + b");
    assert_eq!(expr("((king))").span, Span::new(2, 6));
    assert_eq!(text("-(a + b)", expr("-(a + b)").span), "-(a + b)");

    // Quoted words include their quotes; calls span name to ')'.
    let line = "sim ( \"c++\" , x )";
    let e = expr(line);
    assert_eq!(e.span, Span::new(0, line.len()));
    let ExprKind::Call {
        name,
        name_span,
        args,
    } = &e.kind
    else {
        panic!("{e:?}")
    };
    assert_eq!((name.as_str(), *name_span), ("sim", Span::new(0, 3)));
    assert_eq!(text(line, args[0].span), "\"c++\"");
    assert_eq!(
        args[0].kind,
        ExprKind::Word {
            text: "c++".into(),
            quoted: true
        }
    );

    // Analogy: `a` to `?`; spans are bytes, not chars.
    let line = "café : 日本 :: x : ?";
    let e = expr(line);
    assert_eq!(e.span, Span::new(0, line.len()));
    let ExprKind::Analogy { a, b, c } = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(
        (text(line, a.span), text(line, b.span), text(line, c.span)),
        ("café", "日本", "x")
    );
    assert_eq!(b.span, Span::new(8, 14));

    // Let and command spans.
    let Ok(Statement::Let {
        name,
        name_span,
        value,
    }) = parse_statement("  let  x1 = 2")
    else {
        panic!()
    };
    assert_eq!(
        (name.as_str(), name_span, value.span),
        ("x1", Span::new(7, 9), Span::new(12, 13))
    );
    let Ok(Statement::Command {
        name,
        name_span,
        args,
        args_span,
    }) = parse_statement("  :exact   off   # why")
    else {
        panic!()
    };
    assert_eq!((name.as_str(), name_span), ("exact", Span::new(3, 8)));
    assert_eq!((args.as_str(), args_span), ("off", Span::new(11, 14)));
}

#[test]
fn words_numbers_and_hyphens() {
    let word = |t: &str| ExprKind::Word {
        text: t.into(),
        quoted: false,
    };
    for w in [
        "'s", "u.s.", "e-mail", "don't", "o'neill", "1990s", "café", "日本", ".", "!", "?",
    ] {
        assert_eq!(expr(w).kind, word(w), "{w:?}");
    }
    for w in ["c#", "king-man", "2.", "1-2", "...", "?!", "a--b", "let"] {
        assert_eq!(expr(w).kind, word(w), "{w:?}");
    }
    for (t, v) in [
        ("0.5", 0.5),
        ("2", 2.0),
        ("1e-3", 0.001),
        (".5", 0.5),
        ("1999", 1999.0),
    ] {
        assert_eq!(
            expr(t).kind,
            ExprKind::Number {
                value: v,
                text: t.into()
            },
            "{t:?}"
        );
    }
    // A leading '-' is an operator, a trailing one too.
    assert_eq!(strip(&expr("king -man")), strip(&expr("king - man")));
    assert_eq!(strip(&expr("king- man")), strip(&expr("king - man")));
    assert!(matches!(expr("-king").kind, ExprKind::Neg(_)));
    // '#' continues a word, starts a comment elsewhere.
    assert_eq!(
        strip(&expr("king - man  # royalty")),
        strip(&expr("king - man"))
    );
    assert_eq!(
        strip(&expr("king - man#  # a comment")),
        strip(&expr("king - man#"))
    );
    assert_eq!(parse_statement("  # only a comment"), Ok(Statement::Empty));
    // Quoting.
    assert_eq!(
        expr("\",\"").kind,
        ExprKind::Word {
            text: ",".into(),
            quoted: true
        }
    );
    assert_eq!(
        expr(r#""a \"b\" \\c""#).kind,
        ExprKind::Word {
            text: r#"a "b" \c"#.into(),
            quoted: true
        }
    );
}

#[test]
fn precedence_and_associativity() {
    let shown = |l: &str| expr(l).to_string();
    assert_eq!(shown("a - b - c"), "((a - b) - c)");
    assert_eq!(shown("a / b / c"), "((a / b) / c)");
    assert_eq!(shown("a + b * c - d / e"), "((a + (b * c)) - (d / e))");
    assert_eq!(shown("-a * b"), "((-a) * b)");
    assert_eq!(shown("a * -b - -c"), "((a * (-b)) - (-c))");
    assert_eq!(shown("(a + b) * c"), "((a + b) * c)");
    assert_eq!(
        shown("a - b : c :: d * e : ?"),
        "((a - b) : c :: (d * e) : ?)"
    );
    assert_eq!(
        shown("sim(a : b :: c : ?, mean())"),
        "sim((a : b :: c : ?), mean())"
    );
    assert_eq!(
        shown("\"c++\" - \"say \\\"hi\\\"\""),
        "(\"c++\" - \"say \\\"hi\\\"\")"
    );
}

#[test]
fn error_messages_and_carets() {
    let after_plus = "expected a word, number or '(' after '+'";
    assert_err("king +", "      ^", after_plus, None);
    assert_err(
        "king + * man",
        "       ^",
        after_plus,
        Some("quote it: \"*\""),
    );
    assert_err("king +# comment", "               ^", after_plus, None);
    assert_err(
        "(king - man",
        "^",
        "unclosed '('",
        Some("add a matching ')'"),
    );
    assert_err("sim(a, (b", "       ^", "unclosed '('", None);
    assert_err("sim(a, b", "   ^", "unclosed '('", Some("arguments of sim"));
    assert_err("king )", "     ^", "unexpected ')'", None);
    assert_err("(king))", "      ^", "unexpected ')'", None);
    let in_sim = "expected ',' or ')' in the arguments of sim";
    assert_err("sim(a b)", "      ^", in_sim, Some("did you mean 'a, b'?"));
    assert_err("sim(a, b c)", "         ^", in_sim, None);
    assert_err(
        "sim(a,)",
        "      ^",
        "expected a word, number or '(' after ','",
        Some("trailing"),
    );
    assert_err(
        "sim(,a)",
        "    ^",
        "expected a word, number or '(' after 'sim('",
        None,
    );
    assert_err(
        "sim(",
        "    ^",
        "expected a word, number or '(' after 'sim('",
        None,
    );
    assert_err(
        "king man",
        "     ^^^",
        "expected an operator between 'king' and 'man'",
        Some("did you mean 'king + man'? To look up an entry made of several words, quote it: \"king man\""),
    );
    assert_err(
        "2 king",
        "  ^^^^",
        "expected an operator between '2' and 'king'",
        Some("'2 * king'"),
    );
    assert_err(
        "(a + b) c",
        "        ^",
        "expected an operator between '(a + b)' and 'c'",
        None,
    );
    assert_err("()", "^^", "empty parentheses", None);
    assert_err(
        "+ king",
        "^",
        "expected a word, number or '(' before '+'",
        None,
    );
    assert_err("king , queen", "     ^", "unexpected ','", Some("\",\""));
    assert_err(
        "king-",
        "     ^",
        "expected a word, number or '(' after '-'",
        None,
    );

    // Analogies.
    let help = "an analogy reads a : b :: c : ?";
    assert_err(
        "a : b :: c",
        "          ^",
        "incomplete analogy: expected ': ?' after 'a : b :: c'",
        Some(help),
    );
    assert_err(
        "a : b",
        "     ^",
        "incomplete analogy: expected '::' after 'a : b'",
        Some(help),
    );
    assert_err(
        "(a : b) + c",
        "      ^",
        "incomplete analogy: expected '::' after 'a : b'",
        Some(help),
    );
    assert_err(
        "sim(a : b :: c, d)",
        "              ^",
        "incomplete analogy: expected ': ?' after 'a : b :: c'",
        None,
    );
    let must_end = "'?' must end an analogy: a : b :: c : ?";
    assert_err("a : b :: c : d", "             ^", must_end, None);
    assert_err("a : b :: c :", "            ^", must_end, None);
    assert_err(
        "a : b : c",
        "      ^",
        "expected '::' after 'a : b', found ':'",
        Some(help),
    );
    assert_err(
        "a :: b",
        "  ^^",
        "'::' must follow 'a : b' in an analogy",
        Some(help),
    );
    assert_err(
        "a : b :: c :: ?",
        "           ^^",
        "expected ': ?' to end the analogy, found '::'",
        None,
    );
    assert_err(
        "a : b :: c : ? + d",
        "               ^",
        "unexpected '+' after the end of the analogy",
        Some("(a : b :: c : ?) + x"),
    );
    let only_end = "'?' can only end an analogy: a : b :: c : ?";
    assert_err("? : b :: c : ?", "^", only_end, Some("\"?\""));
    assert_err("a : ? :: c : ?", "    ^", only_end, None);
    assert_err("a : b :: ( (?) ) : ?", "            ^", only_end, None);

    // Bindings.
    assert_err(
        "let = x",
        "    ^",
        "expected a name after 'let'",
        Some("quote it: \"let\""),
    );
    assert_err(
        "let 3x = king",
        "    ^^",
        "'3x' is not a valid name",
        Some("starts with a letter or '_'"),
    );
    assert_err("3x = king", "^^", "'3x' is not a valid name", None);
    assert_err("e-mail = x", "^^^^^^", "'e-mail' is not a valid name", None);
    assert_err(
        "let let = x",
        "    ^^^",
        "'let' can't be used as a name",
        None,
    );
    assert_err(
        "let x king",
        "      ^^^^",
        "expected '=' after 'let x'",
        None,
    );
    assert_err("let x", "     ^", "expected '=' after 'let x'", None);
    assert_err(
        "let x =",
        "       ^",
        "expected a word, number or '(' after '='",
        None,
    );
    assert_err(
        "king - man = x",
        "           ^",
        "unexpected '='",
        Some("name = expression"),
    );
    assert_err("x = y = z", "      ^", "unexpected '='", Some("only one"));

    // Quotes.
    assert_err("\"unterminated", "^", "unterminated quote", None);
    assert_err("king + \"open (", "       ^", "unterminated quote", None);
    assert_err("king ) \"open", "     ^", "unexpected ')'", None);
    // `""` parses: it is the empty word (the evaluator says when the vocabulary has none).
    assert!(parse_statement("\"\"").is_ok());
    assert_err(
        "\"a \\q\"",
        "   ^^",
        "unknown escape '\\q' in a quoted word",
        None,
    );

    // Commands.
    assert_err(
        ":",
        " ^",
        "expected a command name after ':'",
        Some("':k 5'"),
    );
    assert_err(":5", " ^", "expected a command name after ':'", None);
}

#[test]
fn incomplete_lines() {
    for line in [
        "(king",
        "sim(a,",
        "((a)",
        "sim(king, (queen - man",
        "mean(\"(\"",
        ":ast (king",
    ] {
        assert!(is_incomplete(line), "{line:?}");
    }
    for line in [
        "",
        "king",
        "(a)",
        "\"(\"",
        "king # (",
        "king )(",
        "\"unterminated (",
        "a - b",
    ] {
        assert!(!is_incomplete(line), "{line:?}");
    }
    // Continued lines are joined with a newline and parse as one statement.
    let joined = "sim(king,  # the first\n    queen)";
    assert!(is_incomplete("sim(king,  # the first"));
    assert!(!is_incomplete(joined));
    assert_eq!(expr(joined).to_string(), "sim(king, queen)");
}

// ------------------------------------------------------------------------------ round trip

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
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const WORDS: &[&str] = &[
    "king", "queen", "'s", "u.s.", "e-mail", "don't", "o'neill", "1990s", "café", "日本", "?", "!",
    "...", "c#", "let", "sim", "king-man", "2.", "x_1", "?x",
];
const QUOTED: &[&str] = &[
    "c++",
    ",",
    "1/2",
    "let",
    "?",
    "new york",
    "say \"hi\"",
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "é",
    "\u{7f}",
    ":",
    "#",
    "-x",
    "(",
    "=",
];
const NUMBERS: &[&str] = &["2", "0.5", ".5", "1e-3", "1999", "2.5E+10", "0", "10e5"];
const CALLS: &[&str] = &["sim", "odd", "mean", "cosmul", "f_2", "日本"];

fn node(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

/// A random tree; `analogy_term`: it stands directly as a term of an analogy, where a bare
/// `?` is not allowed.
fn generate(rng: &mut Rng, depth: usize, analogy_term: bool) -> Expr {
    let choice = if depth == 0 {
        rng.below(3)
    } else {
        rng.below(8)
    };
    match choice {
        0 => loop {
            let w = rng.pick(WORDS);
            if !(analogy_term && w == "?") {
                break node(ExprKind::Word {
                    text: w.into(),
                    quoted: false,
                });
            }
        },
        1 => node(ExprKind::Word {
            text: rng.pick(QUOTED).into(),
            quoted: true,
        }),
        2 => {
            let t = rng.pick(NUMBERS);
            node(ExprKind::Number {
                value: t.parse().unwrap(),
                text: t.into(),
            })
        }
        3 => node(ExprKind::Neg(Box::new(generate(rng, depth - 1, false)))),
        4 | 5 => {
            let op = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div][rng.below(4)];
            let lhs = Box::new(generate(rng, depth - 1, false));
            let rhs = Box::new(generate(rng, depth - 1, false));
            node(ExprKind::Binary { op, lhs, rhs })
        }
        6 => {
            let n = rng.below(4);
            let args = (0..n).map(|_| generate(rng, depth - 1, false)).collect();
            node(ExprKind::Call {
                name: rng.pick(CALLS).into(),
                name_span: Span::default(),
                args,
            })
        }
        _ => {
            let mut term = || Box::new(generate(rng, depth - 1, true));
            let (a, b, c) = (term(), term(), term());
            node(ExprKind::Analogy { a, b, c })
        }
    }
}

/// `parse(e.to_string())` is `e` again, modulo spans, also with extra blanks between tokens.
#[test]
fn display_round_trips() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..3000 {
        let e = generate(&mut rng, 1 + i % 5, false);
        let shown = e.to_string();
        let mut lines = vec![shown.clone()];
        let blanks = [" ", "  ", "\t", "\n ", " # comment\n"];
        let spaced: String = shown
            .split(' ')
            .map(|part| part.to_string())
            .reduce(|a, b| format!("{a}{}{b}", blanks[rng.below(blanks.len())]))
            .unwrap();
        if !shown.contains('"') {
            // (blanks inside quoted words would change them)
            lines.push(format!("  {spaced}  "));
        }
        for line in lines {
            let parsed = match parse_statement(&line) {
                Ok(Statement::Expr(p)) => p,
                other => panic!("{line:?} from {e:?}: {other:?}"),
            };
            assert_eq!(strip(&parsed), e, "{line:?}");
            assert_eq!(parsed.to_string(), shown);
            check_spans(&line, &parsed);
        }
    }
}

/// The parser recurses, so nesting and length are bounded, and it stays linear-ish: deep
/// parentheses must not make it backtrack exponentially.
#[test]
fn limits_and_speed() {
    let started = std::time::Instant::now();
    let nested = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(
        expr(&nested(64)).kind,
        ExprKind::Word {
            text: "x".into(),
            quoted: false
        }
    );
    let too_deep = "too deeply nested: more than 64 levels of '(' and unary '-'";
    let line = nested(65);
    assert_eq!(err(&line).message, too_deep);
    assert_eq!(err(&line).span, Span::new(64, 65));
    assert_eq!(err(&format!("{}x", "-".repeat(65))).message, too_deep);
    assert_eq!(
        err(&format!("{}x{}", "-(".repeat(33), ")".repeat(33))).message,
        too_deep
    );
    assert!(parse_statement(&format!("{}x{}", "-(".repeat(32), ")".repeat(32))).is_ok());
    assert!(parse_statement(&format!(
        "{}x{}",
        "(a : b :: ".repeat(64),
        " : ?)".repeat(64)
    ))
    .is_ok());
    assert!(parse_statement(&format!("{}x{}", "sim(a, ".repeat(64), ")".repeat(64))).is_ok());

    let long = format!("x{}", " - x".repeat(2047));
    assert!(parse_statement(&long).is_ok());
    let e = err(&format!("x{}", " - x".repeat(2048)));
    assert!(e.message.starts_with("this line is too long"), "{e:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
