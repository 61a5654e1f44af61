//! The typed syntax tree that `parse` produces from one line and `eval` consumes.
//!
//! Every node carries the byte span of its source text so errors can point a caret at it.

use std::fmt;

/// A half-open byte range `start..end` in the parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// One line of input: what the user typed at the prompt or one line of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// Blank line or a `#` comment: does nothing.
    Empty,
    /// An expression to evaluate and show.
    Expr(Expr),
    /// `let name = expr` or `name = expr`: evaluate and remember under `name`.
    Let {
        name: String,
        name_span: Span,
        value: Expr,
    },
    /// `:name arguments`, e.g. `:k 5`, `:exact off`, `:ast king - man`.
    /// `args` is the raw text after the command name, trimmed; `args_span` locates it.
    Command {
        name: String,
        name_span: Span,
        args: String,
        args_span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A vocabulary word or a named result (`royal`); which one is decided at evaluation.
    /// `quoted` is true for `"..."` words, which never name a result.
    Word { text: String, quoted: bool },
    /// A numeric literal. `text` is kept because a bare number such as `1999` is also a
    /// vocabulary word when it stands where a vector is expected.
    Number { value: f64, text: String },
    /// Unary minus.
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `name(arg, ...)`: `sim`, `odd`, `mean`, `cosmul`, ...
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    /// `k=10` among a call's arguments: an option of the call (the neighbour count of `plot`),
    /// not a value. Only the grammar's `option` rule makes one.
    Option {
        name: String,
        name_span: Span,
        value: f64,
        text: String,
    },
    /// `a : b :: c : ?`, meaning `b - a + c`.
    Analogy {
        a: Box<Expr>,
        b: Box<Expr>,
        c: Box<Expr>,
    },
}

impl fmt::Display for Expr {
    /// The fully parenthesised form shown by `:ast`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Word {
                text,
                quoted: false,
            } => write!(f, "{text}"),
            ExprKind::Word { text, quoted: true } => write!(f, "{text:?}"),
            ExprKind::Number { text, .. } => write!(f, "{text}"),
            ExprKind::Neg(inner) => write!(f, "(-{inner})"),
            ExprKind::Binary { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.symbol()),
            ExprKind::Call { name, args, .. } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                write!(f, ")")
            }
            ExprKind::Option { name, text, .. } => write!(f, "{name}={text}"),
            ExprKind::Analogy { a, b, c } => write!(f, "({a} : {b} :: {c} : ?)"),
        }
    }
}
