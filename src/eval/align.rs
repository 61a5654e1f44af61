//! `:align A B [N]`: orthogonal Procrustes over the N most frequent words the two spaces share
//! (A's file order), unit rows, no centring: the rotation R minimising ‖A R − B‖, from the SVD
//! of the cross-covariance AᵀB = U Σ Vᵀ, R = U Vᵀ (`scipy.linalg.orthogonal_procrustes`).
//! Afterwards vectors of A carried into B (`in(B, in(A, x))`, `sim`) are rotated by R, and
//! those of B into A by Rᵀ, without the warning of unaligned spaces.

use std::sync::atomic::{AtomicBool, Ordering};

use nalgebra::DMatrix;

use super::compare::CHECK_EVERY;
use super::{index_failure, EvalError, Result, Session, Value};
use crate::ast::Span;

/// Shared words `:align` uses when no N is given.
pub const DEFAULT_WORDS: usize = 10_000;

/// The rotation R (dims × dims) minimising ‖A R − B‖_F for rows `a[i]`, `b[i]` of one
/// dimension: U Vᵀ from the SVD of AᵀB, accumulated in f64.
pub fn procrustes(a: &[Vec<f32>], b: &[Vec<f32>]) -> DMatrix<f64> {
    procrustes_until(a, b, &AtomicBool::new(false)).expect("never cancelled")
}

/// [`procrustes`] that stops (`None`) when `cancel` is raised, checked every [`CHECK_EVERY`]
/// rows (Ctrl-C in a session acts at once on 400k rows).
pub fn procrustes_until(
    a: &[Vec<f32>],
    b: &[Vec<f32>],
    cancel: &AtomicBool,
) -> Option<DMatrix<f64>> {
    let dims = a.first().map_or(0, Vec::len);
    let mut m = DMatrix::<f64>::zeros(dims, dims);
    for (n, (x, y)) in a.iter().zip(b).enumerate() {
        if n.is_multiple_of(CHECK_EVERY) && cancel.load(Ordering::Relaxed) {
            return None;
        }
        for (i, &xi) in x.iter().enumerate() {
            let xi = f64::from(xi);
            for (j, &yj) in y.iter().enumerate() {
                m[(i, j)] += xi * f64::from(yj);
            }
        }
    }
    let svd = m.svd(true, true);
    let (u, v_t) = (svd.u.expect("asked for U"), svd.v_t.expect("asked for Vᵀ"));
    Some(u * v_t)
}

/// `1 word`, `60 words`, digits grouped.
fn counted(n: usize) -> String {
    let noun = if n == 1 { "word" } else { "words" };
    format!("{} {noun}", crate::text::thousands(n))
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
        let words = match rest {
            [] => DEFAULT_WORDS,
            // Digits beyond any count mean every shared word; 0 is refused with the others
            // below the dimensions, once those are known.
            [(n, _)] if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse::<usize>().unwrap_or(usize::MAX)
            }
            [(n, span)] => {
                return Err(EvalError::at(
                    *span,
                    format!("expected a number of words, found '{n}'"),
                )
                .help(usage))
            }
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
        let dims = sa.dims();
        // Ctrl-C stops it anywhere before the rotation is installed, and then nothing changed.
        let stopped = || {
            EvalError::at(
                args_span,
                "interrupted (Ctrl-C): the alignment is as it was",
            )
        };
        if words < dims {
            let shared = self.vocabulary_overlap(i, j).ok_or_else(stopped)?;
            let n_span = rest.first().map_or(args_span, |(_, span)| *span);
            return Err(EvalError::at(
                n_span,
                format!(
                    "N = {words} is fewer than the {dims} dimensions: a rotation needs at least {dims} words (they share {})",
                    counted(shared)
                ),
            )
            .help(usage));
        }
        // The N most frequent shared words, in A's file order.
        let mut rows_a = Vec::new();
        let mut rows_b = Vec::new();
        let cancel = self.cancel;
        for (seen, (id, word)) in sa.words().enumerate() {
            if rows_a.len() == words {
                break;
            }
            if seen.is_multiple_of(CHECK_EVERY) && cancel.load(Ordering::Relaxed) {
                return Err(stopped());
            }
            let Some(other) = sb.id(word) else { continue };
            let ra = sa.unit_row(id).map_err(index_failure)?;
            let rb = sb.unit_row(other).map_err(index_failure)?;
            if let (Some(ra), Some(rb)) = (ra, rb) {
                rows_a.push(ra.into_owned());
                rows_b.push(rb.into_owned());
            }
        }
        if rows_a.len() < dims {
            return Err(EvalError::at(
                args_span,
                format!(
                    "'{a}' and '{b}' share {}, fewer than their {dims} dimensions: a rotation needs at least as many",
                    counted(rows_a.len())
                ),
            ));
        }
        let r = procrustes_until(&rows_a, &rows_b, cancel).ok_or_else(stopped)?;
        let mean_cos = |rotated: bool| {
            let mut total = 0.0;
            for (n, (x, y)) in rows_a.iter().zip(&rows_b).enumerate() {
                if n.is_multiple_of(CHECK_EVERY) && cancel.load(Ordering::Relaxed) {
                    return None;
                }
                total += {
                    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                    let x = if rotated { rotate(&x, &r) } else { x };
                    let dot: f64 = x.iter().zip(y).map(|(p, q)| p * f64::from(*q)).sum();
                    let norm = x.iter().map(|p| p * p).sum::<f64>().sqrt();
                    if norm > 0.0 {
                        dot / norm
                    } else {
                        0.0
                    }
                };
            }
            Some(total / rows_a.len() as f64)
        };
        let before = mean_cos(false).ok_or_else(stopped)?;
        let after = mean_cos(true).ok_or_else(stopped)?;
        let n = rows_a.len();
        if cancel.load(Ordering::Relaxed) {
            return Err(stopped());
        }
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
