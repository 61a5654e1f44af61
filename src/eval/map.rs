//! Building a map's value: its points, one per label, projected to 2-D; across aligned spaces
//! (pictures of change), every point in the last space's coordinates.
//!
//! A picture of change is HistWords' figure (Hamilton, Leskovec & Jurafsky 2016, Fig. 1): a
//! word of several spaces (`arrows(in(y1900, gay), in(y1950, gay), in(y1990, gay))`), each
//! with its nearest neighbours in its own space, all rotated into the last space's coordinates
//! by the rotations `:align` stored, and an arrow along the word's path.

use super::{align, Combination, EvalError, MapPoint, Result, Role, Session, Value, CHANGE_K};
use crate::ast::{Expr, ExprKind};

/// The points of a map as they are added: one per label (the first role given wins, so a word
/// typed as an input stays an input when it is also found as a neighbour).
#[derive(Default)]
pub(super) struct MapBuilder {
    labels: Vec<(String, Role, Option<String>)>,
    vectors: Vec<Vec<f32>>,
}

impl MapBuilder {
    pub(super) fn add(&mut self, label: &str, role: Role, vector: Vec<f32>) -> usize {
        self.add_in(label, role, vector, None)
    }

    /// [`MapBuilder::add`] for a point of a named space (a picture across spaces).
    fn add_in(&mut self, label: &str, role: Role, vector: Vec<f32>, space: Option<&str>) -> usize {
        if let Some(i) = self.labels.iter().position(|(l, _, _)| l == label) {
            return i;
        }
        self.labels
            .push((label.to_string(), role, space.map(str::to_string)));
        self.vectors.push(vector);
        self.labels.len() - 1
    }

    /// The map's value; `coordinates` names the space a picture across spaces is drawn in.
    pub(super) fn finish(
        self,
        query: String,
        arrows: Vec<[usize; 2]>,
        coordinates: Option<String>,
    ) -> Value {
        let refs: Vec<&[f32]> = self.vectors.iter().map(|v| v.as_slice()).collect();
        let projection = crate::projection::pca_2d(&refs);
        let points = self
            .labels
            .into_iter()
            .zip(&projection.coords)
            .map(|((label, role, space), &[x, y])| MapPoint {
                label,
                role,
                x,
                y,
                space,
            })
            .collect();
        Value::Map {
            query,
            points,
            arrows,
            variance: projection.variance,
            coordinates,
            svg: None,
        }
    }
}

/// Whether a map's vectors come from more than one store: then it is a picture of change.
pub(super) fn across_spaces(session: &Session, vectors: &[Combination]) -> bool {
    vectors
        .iter()
        .any(|c| !session.spaces.same_store(c.space, vectors[0].space))
}

impl Session<'_> {
    /// A picture across spaces (`plot` or `arrows` whose arguments come from several spaces):
    /// each argument in the last one's coordinates, labelled `TEXT (SPACE)`, with its `k`
    /// nearest neighbours in its own space (labelled alike); an arrow joins consecutive
    /// arguments that show one text in two spaces (a word's path). `arrows` with no such path
    /// draws its pairs (a → b, c → d) instead. A space not aligned with the last one is an
    /// error at its argument.
    pub(super) fn change_map(
        &mut self,
        args: &[&Expr],
        vectors: Vec<Combination>,
        k: Option<usize>,
        pairs: bool,
        query: String,
        line: &str,
    ) -> Result<Value> {
        let to = vectors.last().expect("a map has an argument").space;
        let to_name = self.spaces.name(to).to_string();
        for (arg, c) in args.iter().zip(&vectors) {
            if self.spaces.same_store(c.space, to) {
                continue;
            }
            let from = self.spaces.name(c.space);
            let (dims, to_dims) = (
                self.spaces.store(c.space).dims(),
                self.spaces.store(to).dims(),
            );
            if dims != to_dims {
                return Err(EvalError::at(
                    arg.span,
                    format!(
                        "space '{from}' has {dims} dimensions and '{to_name}' {to_dims}: only aligned spaces of one dimension can be drawn together"
                    ),
                ));
            }
            if self.spaces.alignment(c.space, to).is_none() {
                return Err(EvalError::at(
                    arg.span,
                    format!(
                        "space '{from}' is not aligned with '{to_name}', whose coordinates this picture is drawn in"
                    ),
                )
                .help(format!(
                    "run :align {from} {to_name} first: a picture across spaces rotates each into the last one's coordinates"
                )));
            }
        }
        let mut map = MapBuilder::default();
        let mut ends = Vec::new();
        let mut texts = Vec::new();
        for (arg, c) in args.iter().zip(&vectors) {
            let (text, is_word) = self.shown_text(arg, line);
            let space = self.spaces.name(c.space).to_string();
            let carried = self.carry(c.clone(), to, arg.span)?;
            let role = if is_word {
                Role::Input
            } else {
                Role::Expression
            };
            let label = format!("{text} ({space})");
            ends.push(map.add_in(&label, role, carried.unit_f32(), Some(&space)));
            texts.push(text);
        }
        let k = k.unwrap_or(CHANGE_K);
        for c in &vectors {
            let space = self.spaces.name(c.space).to_string();
            let (hits, _, _) = self.search(c, self.settings.method, k)?;
            for h in hits {
                let (word, unit) = {
                    let _in = self.spaces.enter(c.space);
                    let Some(word) = self.store().word(h.id) else {
                        continue;
                    };
                    (word.to_string(), self.unit(h.id)?)
                };
                let turned = self.turned(unit, c.space, to);
                map.add_in(
                    &format!("{word} ({space})"),
                    Role::Result,
                    turned,
                    Some(&space),
                );
            }
        }
        let mut arrows: Vec<[usize; 2]> = (1..ends.len())
            .filter(|&i| {
                texts[i - 1] == texts[i]
                    && !self
                        .spaces
                        .same_store(vectors[i - 1].space, vectors[i].space)
                    && ends[i - 1] != ends[i]
            })
            .map(|i| [ends[i - 1], ends[i]])
            .collect();
        if pairs && arrows.is_empty() {
            if !ends.len().is_multiple_of(2) {
                return Err(EvalError::at(
                    args[0].span.to(args[args.len() - 1].span),
                    format!(
                        "arrows takes pairs of expressions, or one word through several spaces; found {} that are neither",
                        args.len()
                    ),
                )
                .help("e.g. arrows(in(y1900, gay), in(y1950, gay), in(y1990, gay)) draws gay's path"));
            }
            arrows = ends.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
        }
        Ok(map.finish(query, arrows, Some(to_name)))
    }

    /// The text a map's argument is shown by, and whether it is a word: what `in(SPACE, …)`
    /// holds (the space is said by the label's tag), or the argument as typed.
    fn shown_text(&self, arg: &Expr, line: &str) -> (String, bool) {
        let inner = match &arg.kind {
            ExprKind::Call { name, args, .. } if name == "in" && args.len() == 2 => &args[1],
            _ => arg,
        };
        let is_word = match &inner.kind {
            ExprKind::Word { text, quoted } => *quoted || !self.vars.contains_key(text),
            ExprKind::Number { .. } => true,
            _ => false,
        };
        let text = if is_word {
            super::source_text_of(inner)
        } else {
            super::source_text(line, inner.span)
        };
        (text, is_word)
    }

    /// A unit row of space `from` in space `to`'s coordinates (rotated when they are aligned
    /// stores; `change_map` has checked that they are).
    fn turned(&self, unit: Vec<f32>, from: usize, to: usize) -> Vec<f32> {
        match self.spaces.alignment(from, to) {
            Some(r) if !self.spaces.same_store(from, to) => {
                let v: Vec<f64> = unit.iter().map(|&x| f64::from(x)).collect();
                align::rotate(&v, r).iter().map(|&x| x as f32).collect()
            }
            _ => unit,
        }
    }
}
