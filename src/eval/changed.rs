//! `:changed [A B] [N] [k=K] [top=T] [by=local|global]`: the words whose neighbourhoods differ
//! most between two spaces, by Hamilton, Leskovec & Jurafsky's (2016) local neighbourhood
//! measure and, once `:align`ed, by the cosine distance of a word's two aligned vectors.
//!
//! The words measured are the N most frequent the two spaces share, in the first space's file
//! order (A; with no names, the active space, against the other open one). For each, its k
//! nearest neighbours (itself left out) are found in A and in B among the shared words only,
//! exactly, by batched scans (`search::many`); over the union S of the two sets, s_A = the
//! cosines of the word to S in A and s_B in B, and the measure is 1 − cos(s_A, s_B), in f64.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use super::{align, index_failure, ChangedRow, Changes, EvalError, Result, Session, Value};
use crate::ast::Span;
use crate::search::many::{nearest_many, MAX_NEIGHBOURS};
use crate::search::Rows;

/// Words measured when no N is given.
pub const DEFAULT_WORDS: usize = 10_000;
/// Neighbours per word in each space when no k is given (the paper's).
pub const DEFAULT_K: usize = 25;
/// Rows of the ranking shown when no top is given.
pub const DEFAULT_TOP: usize = 20;
/// Most neighbours held for all words measured (N × k, in each space: 160 MB each at most).
pub const MAX_ENTRIES: usize = 20_000_000;

const USAGE: &str = "write :changed [A B] [N] [k=K] [top=T] [by=local|global]: the N most frequent shared words (10,000) ranked by how much their K nearest neighbours (25) differ";

/// Which measure ranks the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Local,
    Global,
}

/// The local neighbourhood measure of one word: `a` and `b` its cosines, in each space, to
/// the words of the union of its two neighbour sets (in one order); 1 − cos(a, b). Two
/// vectors of zeros are the same neighbourhood (0), one against a non-zero is 1.
pub fn local_measure(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    match (na > 0.0, nb > 0.0) {
        (true, true) => 1.0 - dot / (na * nb),
        (false, false) => 0.0,
        _ => 1.0,
    }
}

fn dot64(x: &[f32], y: &[f32]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(p, q)| f64::from(*p) * f64::from(*q))
        .sum()
}

/// The arguments of `:changed`, read.
struct Request {
    spaces: Vec<(String, Span)>,
    words: usize,
    k: usize,
    top: usize,
    by: By,
    by_span: Option<Span>,
}

/// A positive number written after `name=` (or as N), or the error saying what was expected.
fn positive(text: &str, span: Span, what: &str) -> Result<usize> {
    text.parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| EvalError::at(span, format!("{what}, found '{text}'")).help(USAGE))
}

impl Session<'_> {
    fn changed_request(&self, args: &str, args_span: Span) -> Result<Request> {
        let mut req = Request {
            spaces: Vec::new(),
            words: DEFAULT_WORDS,
            k: DEFAULT_K,
            top: DEFAULT_TOP,
            by: By::Local,
            by_span: None,
        };
        let mut at = 0;
        for piece in args.split_whitespace() {
            let start = at + args[at..].find(piece).unwrap_or(0);
            at = start + piece.len();
            let span = Span::new(args_span.start + start, args_span.start + at);
            if let Some((name, value)) = piece.split_once('=') {
                let value_span = Span::new(span.start + name.len() + 1, span.end);
                match name {
                    "k" => {
                        req.k = positive(value, value_span, "expected k=K with K a positive number")?;
                        if req.k > MAX_NEIGHBOURS {
                            return Err(EvalError::at(
                                value_span,
                                format!("k={value} is more than {MAX_NEIGHBOURS} neighbours"),
                            ));
                        }
                    }
                    "top" => {
                        req.top =
                            positive(value, value_span, "expected top=T with T a positive number")?
                    }
                    "by" => {
                        req.by = match value {
                            "local" => By::Local,
                            "global" => By::Global,
                            _ => {
                                return Err(EvalError::at(
                                    value_span,
                                    format!("expected by=local or by=global, found '{value}'"),
                                )
                                .help(USAGE))
                            }
                        };
                        req.by_span = Some(span);
                    }
                    _ => {
                        return Err(EvalError::at(
                            span,
                            format!("unknown option '{name}': :changed takes k=K, top=T and by=local|global"),
                        )
                        .help(USAGE))
                    }
                }
                continue;
            }
            // A space's name first (a space may be named 1990), then a number of words.
            let number = piece.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c));
            if self.spaces.find(piece).is_none() && number {
                req.words = positive(piece, span, "expected a positive number of words")?;
                continue;
            }
            if req.spaces.len() == 2 {
                return Err(EvalError::at(
                    span,
                    format!("'{piece}': :changed compares at most two spaces"),
                )
                .help(USAGE));
            }
            req.spaces.push((piece.to_string(), span));
        }
        Ok(req)
    }

    /// The two spaces compared: those named, one named against the active one, or with none
    /// named the active one against the only other open store.
    fn changed_pair(&self, req: &Request, args_span: Span) -> Result<(usize, usize)> {
        let named: Vec<usize> = req
            .spaces
            .iter()
            .map(|(name, span)| self.space_named(name, *span))
            .collect::<Result<_>>()?;
        let active = self.spaces.active();
        let (i, j) = match named.as_slice() {
            [i, j] => (*i, *j),
            [j] => (active, *j),
            _ => {
                let others: Vec<usize> = (0..self.spaces.len())
                    .filter(|&o| {
                        !self.spaces.same_store(o, active)
                            && (0..o).all(|p| !self.spaces.same_store(o, p))
                    })
                    .collect();
                match others.as_slice() {
                    [j] => (active, *j),
                    [] => {
                        return Err(EvalError::at(
                            args_span,
                            format!(
                                ":changed needs two spaces, and only '{}' is open",
                                self.spaces.active_name()
                            ),
                        )
                        .help("open another with :open FILE (or start with --also FILE)"))
                    }
                    more => {
                        return Err(EvalError::at(
                            args_span,
                            format!(
                                "{} spaces are open: name the two to compare",
                                more.len() + 1
                            ),
                        )
                        .help(format!(
                        "e.g. :changed {} {} (the first one's file order is the frequency order)",
                        self.spaces.active_name(),
                        self.spaces.name(more[0])
                    )))
                    }
                }
            }
        };
        if self.spaces.same_store(i, j) {
            let span = req.spaces.last().map_or(args_span, |s| s.1);
            return Err(EvalError::at(
                span,
                format!(
                    "'{}' and '{}' are the same space: nothing changed between them",
                    self.spaces.name(i),
                    self.spaces.name(j)
                ),
            ));
        }
        Ok((i, j))
    }

    /// `:changed …`.
    pub(super) fn changed_command(&mut self, args: &str, args_span: Span) -> Result<Value> {
        let req = self.changed_request(args, args_span)?;
        let (i, j) = self.changed_pair(&req, args_span)?;
        let (name_a, name_b) = (self.spaces.name(i), self.spaces.name(j));
        let (sa, sb) = (self.spaces.store(i), self.spaces.store(j));
        let rotation = if sa.dims() == sb.dims() {
            self.spaces.alignment(i, j)
        } else {
            None
        };
        if req.by == By::Global && rotation.is_none() {
            let span = req.by_span.unwrap_or(args_span);
            let message = if sa.dims() != sb.dims() {
                format!(
                    "'{name_a}' has {} dimensions and '{name_b}' {}: the global measure needs aligned spaces of one dimension (the local one does not)",
                    sa.dims(),
                    sb.dims()
                )
            } else {
                format!("'{name_a}' and '{name_b}' are not aligned: the global measure needs :align {name_a} {name_b} first")
            };
            return Err(EvalError::at(span, message).help("by=local ranks by the neighbourhoods"));
        }
        let rows_a = sa.unit_rows().map_err(index_failure)?;
        let rows_b = sb.unit_rows().map_err(index_failure)?;
        let zero = |rows: &Rows<f32>, id: u32| rows.row(id as usize).iter().all(|&x| x == 0.0);
        // The shared words, in A's file order, with a vector in each.
        let in_b: HashMap<&str, u32> = sb.words().map(|(id, w)| (w, id)).collect();
        let mut ids_a = Vec::new();
        let mut ids_b = Vec::new();
        for (id, word) in sa.words() {
            if let Some(&other) = in_b.get(word) {
                if !zero(&rows_a, id) && !zero(&rows_b, other) {
                    ids_a.push(id);
                    ids_b.push(other);
                }
            }
        }
        drop(in_b);
        let shared = ids_a.len();
        if shared < 2 {
            return Err(EvalError::at(
                args_span,
                format!(
                    "'{name_a}' and '{name_b}' share {} ({name_a} has {}, {name_b} {}): there is nothing to compare",
                    if shared == 0 { "no words".to_string() } else { "one word".to_string() },
                    sa.len(),
                    sb.len()
                ),
            ));
        }
        let k = req.k.min(shared - 1);
        let note = (k < req.k).then(|| {
            format!(
                "the two spaces share only {shared} words: each has {k} neighbours, not {}",
                req.k
            )
        });
        let words = req.words.min(shared);
        if words.saturating_mul(k) > MAX_ENTRIES {
            return Err(EvalError::at(
                args_span,
                format!(
                    "{words} words with {k} neighbours each in each space is more than {MAX_ENTRIES} to hold"
                ),
            )
            .help("ask fewer words (N) or fewer neighbours (k=K)"));
        }
        let queries: Vec<u32> = (0..words as u32).collect();
        let cancel = self.cancel;
        let interrupted = |_| EvalError::at(args_span, "interrupted (Ctrl-C)");
        let near_a = nearest_many(&rows_a, &ids_a, &queries, k, cancel).map_err(interrupted)?;
        let near_b = nearest_many(&rows_b, &ids_b, &queries, k, cancel).map_err(interrupted)?;
        let measures: Vec<(f64, Option<f64>)> = (0..words)
            .into_par_iter()
            .map(|q| {
                let union: BTreeSet<u32> = near_a[q]
                    .iter()
                    .chain(&near_b[q])
                    .map(|&(x, _)| x)
                    .collect();
                let (wa, wb) = (rows_a.row(ids_a[q] as usize), rows_b.row(ids_b[q] as usize));
                let sa: Vec<f64> = union
                    .iter()
                    .map(|&x| dot64(wa, rows_a.row(ids_a[x as usize] as usize)))
                    .collect();
                let sb: Vec<f64> = union
                    .iter()
                    .map(|&x| dot64(wb, rows_b.row(ids_b[x as usize] as usize)))
                    .collect();
                let global = rotation.map(|r| {
                    let x: Vec<f64> = wa.iter().map(|&v| f64::from(v)).collect();
                    let y: Vec<f64> = wb.iter().map(|&v| f64::from(v)).collect();
                    local_measure(&align::rotate(&x, r), &y)
                });
                (local_measure(&sa, &sb), global)
            })
            .collect();
        let mut order: Vec<usize> = (0..words).collect();
        let key = |q: usize| match req.by {
            By::Local => measures[q].0,
            By::Global => measures[q].1.unwrap_or(0.0),
        };
        order.sort_by(|&x, &y| key(y).total_cmp(&key(x)).then(x.cmp(&y)));
        let word = |store: &crate::index::Store, id: u32| store.word(id).unwrap_or("").to_string();
        let rows = order
            .iter()
            .take(req.top)
            .map(|&q| ChangedRow {
                word: word(sa, ids_a[q]),
                frequency_rank: ids_a[q] as usize + 1,
                local: measures[q].0,
                global: measures[q].1,
                neighbours_a: near_a[q]
                    .iter()
                    .map(|&(x, _)| word(sa, ids_a[x as usize]))
                    .collect(),
                neighbours_b: near_b[q]
                    .iter()
                    .map(|&(x, _)| word(sb, ids_b[x as usize]))
                    .collect(),
            })
            .collect();
        Ok(Value::Changed(Box::new(Changes {
            a: name_a.to_string(),
            b: name_b.to_string(),
            words_a: sa.len(),
            words_b: sb.len(),
            dims_a: sa.dims(),
            dims_b: sb.dims(),
            shared,
            asked: req.words,
            words,
            k,
            aligned: rotation.is_some(),
            by: match req.by {
                By::Local => "local",
                By::Global => "global",
            },
            rows,
            note,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measure_is_a_cosine_distance() {
        assert!(local_measure(&[0.5, 0.2], &[0.5, 0.2]).abs() < 1e-15);
        assert!((local_measure(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-15);
        assert!((local_measure(&[1.0, 0.0], &[-1.0, 0.0]) - 2.0).abs() < 1e-15);
        assert_eq!(local_measure(&[0.0], &[0.0]), 0.0);
        assert_eq!(local_measure(&[0.0], &[0.3]), 1.0);
    }
}
