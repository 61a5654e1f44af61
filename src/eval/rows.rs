//! `:vec WORD` and `:show ITEM`: a row as the file has it (the unit row times the norm the
//! index keeps for it), and a pixel item drawn with its neighbours.

use crate::ast::{ExprKind, Span, Statement};
use crate::index::PhraseError;
use crate::parse;

use super::error::index_failure;
use super::{EvalError, PictureNeighbour, Result, Session, Value};

/// Sides of the square images `:show` draws: 8 × 8 (scikit-learn's digits) to 64 × 64
/// (28 × 28 is MNIST's).
const PICTURE_SIDES: std::ops::RangeInclusive<usize> = 4..=64;
/// The largest pixel value `:show` accepts: rows in 0..1 or 0..255 are images.
const PIXEL_MAX: f32 = 255.0;

impl Session<'_> {
    /// `:vec WORD`: the word's row as the file has it; an unknown word on a fastText model is
    /// its character n-grams' mean, as gensim gives it.
    pub(super) fn vec_command(&mut self, args: &str, args_span: Span) -> Result<Value> {
        let (word, span) = one_word("vec", args, args_span)?;
        if let Some(id) = self.store().id(&word) {
            let values = self.raw(id, span)?;
            return Ok(Value::Vector {
                norm: self.store().norm(id).unwrap_or_default(),
                dims: values.len(),
                values,
                word,
                oov: false,
                label: self.store().label(id),
                tokens: Vec::new(),
            });
        }
        // A model: the raw token's or normalised form's row, or the phrase's pooled vector as
        // the model's encoder gives it (`StaticModel.encode`, the mean of raw rows).
        if self.store().model().is_some() {
            let failed = |e: PhraseError| EvalError::at(span, e.to_string());
            let shown = |id: u32| self.store().word(id).unwrap_or("?").to_string();
            let (values, tokens) = match self.store().token_row(&word).map_err(failed)? {
                Some(id) => (self.raw(id, span)?, vec![shown(id)]),
                None => match self.store().phrase(&word) {
                    Ok(p) => (p.vector, p.ids.iter().map(|&id| shown(id)).collect()),
                    Err(PhraseError::NoToken(_)) => return Err(self.unknown_word(&word, span)),
                    Err(e) => return Err(failed(e)),
                },
            };
            return Ok(made_vector(word, values, tokens));
        }
        if self.settings.subwords {
            if let Some(values) = self.store().subword_mean(&word) {
                return Ok(made_vector(word, values, Vec::new()));
            }
        }
        Err(self.unknown_word(&word, span))
    }

    /// `:show ITEM`: the item's picture and its neighbours' (`k` of them), for rows that are
    /// square images of pixel values in 0..1 or 0..255.
    pub(super) fn show_command(&mut self, args: &str, args_span: Span) -> Result<Value> {
        let (item, span) = one_word("show", args, args_span)?;
        let Some(id) = self.store().id(&item) else {
            return Err(self.unknown_word(&item, span));
        };
        let values = self.raw(id, span)?;
        let side = picture_side(&values).map_err(|why| {
            EvalError::at(span, format!("'{item}' is not a picture: {why}")).help(
                ":show draws items whose rows are square images (64 or 784 values in 0..1 or \
                 0..255); :vec shows any row's values",
            )
        })?;
        let query = format!("{item:?}");
        let c = self.word(&item, true, span)?;
        let found = match self.neighbours(&c, self.settings.method, query)? {
            Value::Neighbours { neighbours, .. } => neighbours,
            _ => Vec::new(),
        };
        let mut neighbours = Vec::with_capacity(found.len());
        for n in found {
            let Some(nid) = self.store().id(&n.word) else {
                continue;
            };
            neighbours.push(PictureNeighbour {
                values: self.raw(nid, span)?,
                word: n.word,
                score: n.score,
                label: n.label,
            });
        }
        Ok(Value::Picture {
            item,
            label: self.store().label(id),
            width: side,
            height: side,
            values,
            neighbours,
        })
    }

    /// Row `id` as the file has it.
    fn raw(&self, id: u32, span: Span) -> Result<Vec<f32>> {
        match self.store().raw_row(id) {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(EvalError::at(
                span,
                format!("the index has no norm or vector for row {id}"),
            )),
            Err(e) => Err(index_failure(e)),
        }
    }
}

/// The one word (bare or quoted, or an item's number) after `:NAME`, with its span in the line.
fn one_word(name: &str, args: &str, args_span: Span) -> Result<(String, Span)> {
    let shift = |s: Span| Span::new(s.start + args_span.start, s.end + args_span.start);
    let example = if name == "show" { "\"17\"" } else { "king" };
    let statement = parse::parse_statement(args).map_err(|e| EvalError {
        message: e.message,
        span: Some(shift(e.span)),
        help: e.help,
        also: Vec::new(),
    })?;
    match statement {
        Statement::Expr(expr) => match expr.kind {
            ExprKind::Word { text, .. } | ExprKind::Number { text, .. } => {
                Ok((text, shift(expr.span)))
            }
            _ => Err(EvalError::at(
                args_span,
                format!(":{name} takes one word, e.g. :{name} {example}"),
            )
            .help("quote a word that holds operators or blanks: \"e-mail\"")),
        },
        _ => Err(EvalError::at(
            args_span,
            format!(":{name} takes one word, e.g. :{name} {example}"),
        )),
    }
}

/// The side of the square image `values` is, or why it is none.
fn picture_side(values: &[f32]) -> std::result::Result<usize, String> {
    let n = values.len();
    let side = (n as f64).sqrt().round() as usize;
    if side * side != n || !PICTURE_SIDES.contains(&side) {
        return Err(format!("its {n} values are not a square image"));
    }
    // The values are the unit row times the norm: 255 may come back a rounding above it.
    let pixel = |v: f32| (-1e-4..=PIXEL_MAX * (1.0 + 1e-5)).contains(&v);
    if let Some(v) = values.iter().find(|&&v| !pixel(v)) {
        return Err(format!(
            "its {n} values hold {v}, outside the pixel ranges 0..1 and 0..255"
        ));
    }
    Ok(side)
}

/// A vector made for a word the vocabulary lacks (a phrase pooled through the tokenizer, a
/// fastText word from its n-grams), with the norm it has, as `:vec` shows it.
fn made_vector(word: String, values: Vec<f32>, tokens: Vec<String>) -> Value {
    let norm = values
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt() as f32;
    Value::Vector {
        word,
        norm,
        dims: values.len(),
        values,
        oov: true,
        label: None,
        tokens,
    }
}
