//! `compare(EXPR)` and `:compare EXPR`: one expression's neighbours in every open space, side by
//! side, with the agreement of each pair of lists (top-k Jaccard overlap, rank-biased overlap)
//! and how many words the pair's vocabularies share.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    CompareColumn, CompareHit, ComparePair, Comparison, EvalError, Result, SearchMode, Session,
    Value,
};
use crate::ast::{Expr, ExprKind, Span};
use crate::index::Store;

/// The persistence of the rank-biased overlap reported: rank d weighs `p^(d-1)`, so the
/// first 10 ranks carry 86% of the weight (Webber, Moffat & Zobel 2010's usual choice).
pub const RBO_P: f64 = 0.9;

/// |A ∩ B| / |A ∪ B| of two lists' words (1 for two empty lists, as the fixture's numpy; `compare`
/// never reports an empty list's: it has no agreement).
pub fn jaccard(a: &[&str], b: &[&str]) -> f64 {
    let a: HashSet<&str> = a.iter().copied().collect();
    let b: HashSet<&str> = b.iter().copied().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// Extrapolated rank-biased overlap (Webber, Moffat & Zobel 2010, eq. 32 for lists of one
/// length): `X_k/k · p^k + (1-p)/p · Σ_{d=1..k} X_d/d · p^d`, where `X_d` is the number of
/// words the two lists share in their first d. The longer list is cut to the shorter's
/// length; two identical lists score 1, two disjoint 0 (an empty list: 1, as the fixture's
/// numpy; `compare` never reports it: an empty list has no agreement).
pub fn rbo(a: &[&str], b: &[&str], p: f64) -> f64 {
    let k = a.len().min(b.len());
    if k == 0 {
        return 1.0;
    }
    let (mut seen_a, mut seen_b) = (HashSet::new(), HashSet::new());
    let mut overlap = 0usize;
    let mut sum = 0.0;
    let mut weight = 1.0;
    for d in 1..=k {
        let (x, y) = (a[d - 1], b[d - 1]);
        if x == y {
            overlap += 1;
        } else {
            overlap += usize::from(seen_b.contains(x)) + usize::from(seen_a.contains(y));
        }
        seen_a.insert(x);
        seen_b.insert(y);
        weight *= p;
        sum += overlap as f64 / d as f64 * weight;
    }
    overlap as f64 / k as f64 * weight + (1.0 - p) / p * sum
}

/// Words (or rows) between two looks at the cancel flag (Ctrl-C acts at once on 400k-word
/// spaces); `:align` looks as often.
pub(super) const CHECK_EVERY: usize = 4096;

/// How many words of `a`'s vocabulary `b` holds; `None` when `cancel` was raised first.
fn shared_vocabulary(a: &Store, b: &Store, cancel: &AtomicBool) -> Option<usize> {
    // Through the smaller vocabulary: a token model against GloVe looks up 30k words, not 400k.
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut shared = 0;
    for (n, (_, w)) in small.words().enumerate() {
        if n.is_multiple_of(CHECK_EVERY) && cancel.load(Ordering::Relaxed) {
            return None;
        }
        shared += usize::from(large.id(w).is_some());
    }
    Some(shared)
}

impl Session<'_> {
    /// `:compare EXPR`: EXPR parsed where it stands in the line, so its spans are the line's.
    pub(super) fn compare_command(&mut self, args: &str, args_span: Span) -> Result<Value> {
        let text = args.trim();
        if text.is_empty() {
            return Err(
                EvalError::at(args_span, "expected an expression to compare")
                    .help("e.g. :compare king, or :compare king - man + woman"),
            );
        }
        let start = args_span.start + (args.len() - args.trim_start().len());
        let padded = format!("{}{text}", " ".repeat(start));
        let statement = crate::parse::parse_statement(&padded)?;
        let crate::ast::Statement::Expr(expr) = &statement else {
            return Err(EvalError::at(
                Span::new(start, start + text.len()),
                "expected an expression to compare",
            ));
        };
        self.compare(std::slice::from_ref(expr), expr.span, text.to_string())
    }

    /// `compare(EXPR)`: EXPR evaluated in each open space and its k neighbours searched there.
    /// A space where EXPR has no meaning (an unknown word) gets no list and says why; when no
    /// space has one, the first error is the line's.
    pub(super) fn compare(&mut self, args: &[Expr], span: Span, query: String) -> Result<Value> {
        let [expr] = args else {
            return Err(EvalError::at(
                span,
                format!("compare takes one expression, found {}", args.len()),
            )
            .help("e.g. compare(king - man + woman)"));
        };
        if let ExprKind::Option { .. } = expr.kind {
            return Err(EvalError::at(expr.span, "compare takes no options")
                .help("the number of neighbours is :k's"));
        }
        // One column per store: a file opened under two names is compared once.
        let chosen: Vec<usize> = (0..self.spaces.len())
            .filter(|&i| (0..i).all(|j| !self.spaces.same_store(i, j)))
            .collect();
        let n = chosen.len();
        let k = self.settings.k;
        if k == 0 {
            return Err(
                EvalError::at(span, "compare with k = 0 has no neighbours to compare")
                    .help("set how many with :k, e.g. :k 10"),
            );
        }
        // Ctrl-C (the session's flag) stops it between spaces, words and pairs.
        let stopped = || EvalError::at(span, "interrupted (Ctrl-C)");
        let cancel = self.cancel;
        let check = |n: usize| {
            if n.is_multiple_of(CHECK_EVERY) && cancel.load(Ordering::Relaxed) {
                Err(stopped())
            } else {
                Ok(())
            }
        };
        let mut lists: Vec<std::result::Result<Vec<(String, f32)>, EvalError>> = Vec::new();
        for &i in &chosen {
            check(0)?;
            // Not a guard: `vector` borrows the session mutably.
            let was = self.spaces.set_active(i);
            let found = self
                .vector(expr)
                .and_then(|c| self.carry(c, i, expr.span))
                .and_then(|c| {
                    // Exact in every space, whatever `:exact` says: the approximate search's
                    // misses would read as the spaces' disagreement.
                    let mode = std::mem::replace(&mut self.settings.mode, SearchMode::Exact);
                    let searched = self.search(&c, self.settings.method, k);
                    self.settings.mode = mode;
                    let (hits, _, _) = searched?;
                    let _in = self.spaces.enter(i);
                    Ok(self
                        .named(&hits)
                        .into_iter()
                        .map(|h| (h.word, h.score))
                        .collect())
                });
            self.spaces.set_active(was);
            lists.push(found);
        }
        if lists.iter().all(|l| l.is_err()) {
            let first = lists.into_iter().find_map(|l| l.err());
            return Err(first.expect("at least one space"));
        }
        let names: Vec<String> = chosen
            .iter()
            .map(|&i| self.spaces.name(i).to_string())
            .collect();
        let words: Vec<Vec<&str>> = lists
            .iter()
            .map(|l| match l {
                Ok(list) => list.iter().map(|(w, _)| w.as_str()).collect(),
                Err(_) => Vec::new(),
            })
            .collect();
        let sets: Vec<HashSet<&str>> = words.iter().map(|w| w.iter().copied().collect()).collect();
        let mut spaces = Vec::new();
        for (i, list) in lists.iter().enumerate() {
            let column = match list {
                Ok(list) => CompareColumn {
                    space: names[i].clone(),
                    neighbours: list
                        .iter()
                        .enumerate()
                        .map(|(r, (word, score))| {
                            check(r)?;
                            Ok(CompareHit {
                                word: word.clone(),
                                score: *score,
                                shared_with: (0..n)
                                    .filter(|&j| j != i && sets[j].contains(word.as_str()))
                                    .map(|j| names[j].clone())
                                    .collect(),
                                missing_from: (0..n)
                                    .filter(|&j| {
                                        j != i && self.spaces.store(chosen[j]).id(word).is_none()
                                    })
                                    .map(|j| names[j].clone())
                                    .collect(),
                            })
                        })
                        .collect::<Result<Vec<_>>>()?,
                    missing: None,
                },
                Err(e) => CompareColumn {
                    space: names[i].clone(),
                    neighbours: Vec::new(),
                    missing: Some(e.message.clone()),
                },
            };
            spaces.push(column);
        }
        let mut pairs = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                // An empty list (a zero vector, `:restrict` leaving nothing) agrees with
                // nothing: its Jaccard and RBO are undefined, not 1.
                let why = |i: usize| match &lists[i] {
                    Err(_) => Some(format!("'{}' has no list", names[i])),
                    Ok(list) if list.is_empty() => {
                        Some(format!("'{}' found no neighbours", names[i]))
                    }
                    Ok(_) => None,
                };
                let no_agreement = why(a).or_else(|| why(b));
                let both = no_agreement.is_none();
                let (sa, sb) = (self.spaces.store(chosen[a]), self.spaces.store(chosen[b]));
                pairs.push(ComparePair {
                    a: names[a].clone(),
                    b: names[b].clone(),
                    shared_vocabulary: self
                        .vocabulary_overlap(chosen[a], chosen[b])
                        .ok_or_else(stopped)?,
                    words_a: sa.len(),
                    words_b: sb.len(),
                    common: sets[a].intersection(&sets[b]).count(),
                    jaccard: both.then(|| jaccard(&words[a], &words[b])),
                    rbo: both.then(|| rbo(&words[a], &words[b], RBO_P)),
                    no_agreement,
                });
            }
        }
        Ok(Value::Compare(Box::new(Comparison {
            query,
            k,
            p: RBO_P,
            spaces,
            pairs,
        })))
    }

    /// Words spaces `a` and `b` share, counted once per pair of stores in a session; `None`
    /// when Ctrl-C stopped the count (then nothing is kept: the next count starts over).
    pub(super) fn vocabulary_overlap(&self, a: usize, b: usize) -> Option<usize> {
        if self.spaces.same_store(a, b) {
            return Some(self.spaces.store(a).len());
        }
        let key = self.spaces.store_pair(a, b);
        if let Some(&n) = self.shared_counts.borrow().get(&key) {
            return Some(n);
        }
        let n = shared_vocabulary(self.spaces.store(a), self.spaces.store(b), self.cancel)?;
        self.shared_counts.borrow_mut().insert(key, n);
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_lists_agree_fully_and_disjoint_ones_not_at_all() {
        let a = ["a", "b", "c", "d"];
        assert_eq!(jaccard(&a, &a), 1.0);
        assert!((rbo(&a, &a, 0.9) - 1.0).abs() < 1e-12);
        let b = ["w", "x", "y", "z"];
        assert_eq!(jaccard(&a, &b), 0.0);
        assert_eq!(rbo(&a, &b, 0.9), 0.0);
        // The same words in another order: Jaccard cannot tell, RBO can.
        let r = ["d", "c", "b", "a"];
        assert_eq!(jaccard(&a, &r), 1.0);
        assert!(rbo(&a, &r, 0.9) < 1.0);
    }
}
