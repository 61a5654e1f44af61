//! The evaluator's errors: a message with the span it points at and a hint, and the helpers
//! that make them.

use serde::Serialize;

use crate::ast::Span;
use crate::parse;

#[derive(Debug, Clone, Default, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
    /// The errors this one gathers, each with its own span and hint: every unknown word of
    /// `Paris - France + Italy` in one error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<EvalError>,
}

impl EvalError {
    pub(super) fn at(span: Span, message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
            span: Some(span),
            help: None,
            also: Vec::new(),
        }
    }

    pub(super) fn help(mut self, help: impl Into<String>) -> EvalError {
        self.help = Some(help.into());
        self
    }

    /// An error of the whole line, with no span of its own.
    pub(super) fn unplaced(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
            span: None,
            help: None,
            also: Vec::new(),
        }
    }

    /// The error placed at `span` unless it already has a place.
    pub(super) fn at_span(mut self, span: Span) -> EvalError {
        self.span.get_or_insert(span);
        self
    }

    /// The same error with its span moved (an error found in a part of the line).
    pub(super) fn spanned(mut self, f: impl Fn(Span) -> Span) -> EvalError {
        self.span = self.span.map(f);
        self
    }
}

impl From<parse::ParseError> for EvalError {
    fn from(e: parse::ParseError) -> Self {
        EvalError {
            message: e.message,
            span: Some(e.span),
            help: e.help,
            also: Vec::new(),
        }
    }
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// An index failure met during evaluation (a source read in place that was truncated or
/// rewritten since, say): the whole line fails with it.
pub(super) fn index_failure(e: crate::index::IndexError) -> EvalError {
    EvalError::unplaced(e.to_string())
}

/// A factor that scales 32-bit vectors without overflowing them to infinity or to 0 (which
/// would give no neighbours, silently): `1e300 * king` is an error at its span.
pub(super) fn f32_scale(factor: f64, span: Span) -> Result<f64> {
    let magnitude = factor.abs();
    if factor != 0.0 && !(1e-30..=1e30).contains(&magnitude) {
        return Err(EvalError::at(
            span,
            format!("the scale factor {factor:e} is too large or too small for 32-bit vectors"),
        )
        .help("vectors are compared by direction: a factor between 1e-30 and 1e30 does the same"));
    }
    Ok(factor)
}
