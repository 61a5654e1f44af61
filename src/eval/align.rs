//! `:align A B [N]`: orthogonal Procrustes over the N most frequent words the two spaces share
//! (A's file order), unit rows, no centring: the rotation R minimising ‖A R − B‖, from the SVD
//! of the cross-covariance AᵀB = U Σ Vᵀ, R = U Vᵀ (`scipy.linalg.orthogonal_procrustes`).
//! Afterwards vectors of A carried into B (`in(B, in(A, x))`, `sim`) are rotated by R, and
//! those of B into A by Rᵀ, without the warning of unaligned spaces.

use nalgebra::DMatrix;

use super::{index_failure, EvalError, Result, Session, Value};
use crate::ast::Span;

/// Shared words `:align` uses when no N is given.
pub const DEFAULT_WORDS: usize = 10_000;

/// The rotation R (dims × dims) minimising ‖A R − B‖_F for rows `a[i]`, `b[i]` of one
/// dimension: U Vᵀ from the SVD of AᵀB, accumulated in f64.
pub fn procrustes(a: &[Vec<f32>], b: &[Vec<f32>]) -> DMatrix<f64> {
    let dims = a.first().map_or(0, Vec::len);
    let mut m = DMatrix::<f64>::zeros(dims, dims);
    for (x, y) in a.iter().zip(b) {
        for (i, &xi) in x.iter().enumerate() {
            let xi = f64::from(xi);
            for (j, &yj) in y.iter().enumerate() {
                m[(i, j)] += xi * f64::from(yj);
            }
        }
    }
    let svd = m.svd(true, true);
    let (u, v_t) = (svd.u.expect("asked for U"), svd.v_t.expect("asked for Vᵀ"));
    u * v_t
}

/// `x R` for a row vector `x`.
pub fn rotate(x: &[f64], r: &DMatrix<f64>) -> Vec<f64> {
    (0..r.ncols())
        .map(|j| x.iter().enumerate().map(|(i, xi)| xi * r[(i, j)]).sum())
        .collect()
}

impl Session<'_> {
    /// `:align A B [N]`.
    pub(super) fn align_command(&mut self, args: &str, args_span: Span) -> Result<Value> {
        let usage = "write :align A B [N]: rotate space A onto space B over their N most frequent shared words";
        let mut parts = Vec::new();
        let mut at = 0;
        for piece in args.split_whitespace() {
            let start = at + args[at..].find(piece).unwrap_or(0);
            at = start + piece.len();
            let span = Span::new(args_span.start + start, args_span.start + at);
            parts.push((piece, span));
        }
        let [(a, a_span), (b, b_span), rest @ ..] = parts.as_slice() else {
            return Err(EvalError::at(args_span, "expected two spaces to align").help(usage));
        };
        let (words, words_span) = match rest {
            [] => (DEFAULT_WORDS, None),
            [(n, span)] => (
                n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    EvalError::at(*span, format!("expected a number of words, found '{n}'"))
                        .help(usage)
                })?,
                Some(*span),
            ),
            [_, (_, span), ..] => {
                return Err(EvalError::at(*span, "expected at most A B N").help(usage))
            }
        };
        let (i, j) = (self.space_named(a, *a_span)?, self.space_named(b, *b_span)?);
        if self.spaces.same_store(i, j) {
            return Err(EvalError::at(
                *b_span,
                format!("'{a}' and '{b}' are one store: there is nothing to align"),
            ));
        }
        let (sa, sb) = (self.spaces.store(i), self.spaces.store(j));
        if sa.dims() != sb.dims() {
            return Err(EvalError::at(
                *b_span,
                format!(
                    "'{a}' has {} dimensions and '{b}' {}: only spaces of one dimension can be aligned",
                    sa.dims(),
                    sb.dims()
                ),
            ));
        }
        // An N below the dimensions is the asker's, not the spaces': said at N.
        if let Some(span) = words_span.filter(|_| words < sa.dims()) {
            return Err(EvalError::at(
                span,
                format!(
                    "{words} words are fewer than the {} dimensions of '{a}' and '{b}': a rotation needs at least as many",
                    sa.dims()
                ),
            )
            .help(usage));
        }
        // The N most frequent shared words, in A's file order.
        let mut rows_a = Vec::new();
        let mut rows_b = Vec::new();
        for (id, word) in sa.words() {
            if rows_a.len() == words {
                break;
            }
            let Some(other) = sb.id(word) else { continue };
            let ra = sa.unit_row(id).map_err(index_failure)?;
            let rb = sb.unit_row(other).map_err(index_failure)?;
            if let (Some(ra), Some(rb)) = (ra, rb) {
                rows_a.push(ra.into_owned());
                rows_b.push(rb.into_owned());
            }
        }
        let dims = sa.dims();
        if rows_a.len() < dims {
            return Err(EvalError::at(
                args_span,
                format!(
                    "'{a}' and '{b}' share {} words, fewer than their {dims} dimensions: a rotation needs at least as many",
                    rows_a.len()
                ),
            ));
        }
        let r = procrustes(&rows_a, &rows_b);
        let mean_cos = |rotated: bool| {
            let total: f64 = rows_a
                .iter()
                .zip(&rows_b)
                .map(|(x, y)| {
                    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                    let x = if rotated { rotate(&x, &r) } else { x };
                    let dot: f64 = x.iter().zip(y).map(|(p, q)| p * f64::from(*q)).sum();
                    let norm = x.iter().map(|p| p * p).sum::<f64>().sqrt();
                    if norm > 0.0 {
                        dot / norm
                    } else {
                        0.0
                    }
                })
                .sum();
            total / rows_a.len() as f64
        };
        let (before, after) = (mean_cos(false), mean_cos(true));
        let n = rows_a.len();
        self.spaces.set_alignment(i, j, r);
        Ok(Value::Aligned {
            a: a.to_string(),
            b: b.to_string(),
            words: n,
            dims,
            cosine_before: before,
            cosine_after: after,
        })
    }
}
