//! The builder: turns the grammar's parse tree of a checked line into the typed AST.

use std::sync::LazyLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;

use super::check::{internal_error, unescape};
use super::grammar::{LineParser, Rule};
use super::lexer::span_of;
use super::ParseError;
use crate::ast::{BinOp, Expr, ExprKind, Span, Statement};

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
pub(super) fn build(line: &str) -> Result<Statement, ParseError> {
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
