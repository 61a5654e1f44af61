//! Item embeddings in a pickle: the tutorial's MNIST `.pkl` (`((X_train, y_train), (X_valid,
//! y_valid), (X_test, y_test))`), a single 2-D array, or a tuple or list of 2-D arrays. Rows are
//! items, named by their numbers 0, 1, 2, … across the arrays in order, as the tutorial's
//! `vector_utils.py` numbers them. The integer labels beside each array (`y_*`) are kept, one a
//! row (the index's `labels` table), when every set has them.

use super::gensim::{Error, Vectors};
use super::pickle::{Array, Obj, Pickle, Value};

/// Whether `root` has the shape of item embeddings (an array, or a tuple or list of arrays or
/// of (array, labels) pairs): then [`read`] says what is wrong with it, if anything.
pub fn looks_like_items(p: &Pickle, root: &Value) -> bool {
    match p.obj(root) {
        Some(Obj::Array(_)) => true,
        Some(Obj::Tuple(parts) | Obj::List(parts)) => {
            !parts.is_empty()
                && parts.iter().all(|part| match p.obj(part) {
                    Some(Obj::Array(_)) => true,
                    Some(Obj::Tuple(pair) | Obj::List(pair)) => {
                        matches!(pair.first().and_then(|x| p.obj(x)), Some(Obj::Array(_)))
                    }
                    _ => false,
                })
        }
        _ => false,
    }
}

fn err(message: impl Into<String>) -> Error {
    Error {
        offset: None,
        message: message.into(),
    }
}

/// The items of `root` (see the module documentation).
pub fn read(p: &Pickle, root: &Value) -> Result<Vectors, Error> {
    // The labels of each set, while every set so far has integer labels.
    let mut labels: Option<Vec<Vec<i64>>> = None;
    let (arrays, layout): (Vec<&Array>, String) = match p.obj(root) {
        Some(Obj::Array(a)) => (vec![a], "a 2-D array".into()),
        Some(Obj::Tuple(parts) | Obj::List(parts)) => {
            let mut arrays = Vec::with_capacity(parts.len());
            let mut pairs = 0;
            labels = Some(Vec::new());
            for (i, part) in parts.iter().enumerate() {
                match p.obj(part) {
                    Some(Obj::Array(a)) => {
                        arrays.push(a);
                        labels = None;
                    }
                    Some(Obj::Tuple(pair) | Obj::List(pair)) => {
                        match pair.first().map(|x| p.obj(x)) {
                            Some(Some(Obj::Array(a))) => {
                                arrays.push(a);
                                pairs += 1;
                                let ints = pair.get(1).and_then(|y| int_labels(p, y));
                                labels = labels.zip(ints).map(|(mut all, ints)| {
                                    all.push(ints);
                                    all
                                });
                            }
                            _ => return Err(err(format!("set {} is not (array, labels)", i + 1))),
                        }
                    }
                    _ => {
                        return Err(err(format!(
                            "part {} is neither an array nor (array, labels)",
                            i + 1
                        )))
                    }
                }
            }
            let layout = if pairs == parts.len() {
                format!("{} (array, labels) sets, as the MNIST pickle", parts.len())
            } else {
                format!("{} arrays", parts.len())
            };
            (arrays, layout)
        }
        _ => return Err(err("the pickle holds no arrays of items")),
    };
    let mut dims = None;
    let mut vectors = Vec::new();
    let mut count = 0usize;
    for (i, a) in arrays.iter().enumerate() {
        let what = if arrays.len() == 1 {
            "the array".to_owned()
        } else {
            format!("array {}", i + 1)
        };
        let (rows, d) = match a.shape[..] {
            [rows, d] => (rows, d),
            _ => {
                return Err(err(format!(
                    "{what} has shape {:?}; items are the rows of 2-D arrays",
                    a.shape
                )))
            }
        };
        if d == 0 {
            return Err(err(format!("{what} has rows of 0 values")));
        }
        match dims {
            None => dims = Some(d),
            Some(first) if first != d => {
                return Err(err(format!(
                    "{what} has rows of {d} values, the first array {first}"
                )))
            }
            _ => {}
        }
        let values = a.to_f32().ok_or_else(|| {
            err(format!(
                "{what} holds {}, not floats (float16, float32 or float64)",
                super::npy::dtype_name(&a.descr)
            ))
        })?;
        vectors.extend(values);
        count += rows;
        if let Some(set) = labels.as_ref().and_then(|all| all.get(i)) {
            if set.len() != rows {
                return Err(err(format!(
                    "set {} has {} labels for {rows} rows",
                    i + 1,
                    set.len()
                )));
            }
        }
    }
    let dims = dims.ok_or_else(|| err("the pickle holds no arrays of items"))?;
    Ok(Vectors {
        kind: format!("pickled items ({layout})"),
        gensim: false,
        words: (0..count).map(|i| i.to_string().into_bytes()).collect(),
        dims,
        vectors,
        ngrams: None,
        latin1: Vec::new(),
        merged: 0,
        labels: labels.map_or_else(Vec::new, |all| all.concat()),
    })
}

/// A set's labels as integers: a 1-D array of integers (any width, either byte order) or a
/// list of Python ints; `None` for anything else (such labels are left out).
fn int_labels(p: &Pickle, y: &Value) -> Option<Vec<i64>> {
    match p.obj(y)? {
        Obj::List(items) | Obj::Tuple(items) => items
            .iter()
            .map(|v| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .collect(),
        Obj::Array(a) => {
            let d = a.descr.trim_start_matches(['<', '>', '=', '|']);
            let (signed, width) = match d {
                "int8" => (true, 1),
                "uint8" => (false, 1),
                "int16" => (true, 2),
                "uint16" => (false, 2),
                "int32" => (true, 4),
                "uint32" => (false, 4),
                "int64" => (true, 8),
                "uint64" => (false, 8),
                _ => {
                    let signed = match d.chars().next()? {
                        'i' => true,
                        'u' => false,
                        _ => return None,
                    };
                    (signed, d.get(1..)?.parse::<usize>().ok()?)
                }
            };
            if !matches!(width, 1 | 2 | 4 | 8) || a.shape.len() != 1 {
                return None;
            }
            if a.data.len() != a.shape[0] * width {
                return None;
            }
            let values = a.data.chunks_exact(width).map(|c| {
                let mut b = [0u8; 8];
                if a.big_endian {
                    b[..width]
                        .iter_mut()
                        .zip(c.iter().rev())
                        .for_each(|(o, i)| *o = *i);
                } else {
                    b[..width].copy_from_slice(c);
                }
                let raw = u64::from_le_bytes(b);
                let shift = 64 - 8 * width as u32;
                if signed {
                    ((raw << shift) as i64) >> shift
                } else {
                    raw as i64
                }
            });
            Some(values.collect())
        }
        _ => None,
    }
}
