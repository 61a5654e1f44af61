//! Vectors from pickles: gensim's saved `KeyedVectors` / `Word2Vec` / `FastText` files
//! (`.kv`, `.model`, with large arrays in sidecar `.npy` files or inline) and plain pickled
//! dicts word → vector (`.pkl`). The pickle is read by [`super::pickle`], which runs nothing.

use std::path::Path;

use super::pickle::{self, Array, Obj, Pickle, Value};

/// What a pickle held, ready for the loader.
#[derive(Debug)]
pub struct Vectors {
    /// "pickled dict", "gensim 4 KeyedVectors", ...
    pub kind: String,
    pub gensim: bool,
    pub words: Vec<Vec<u8>>,
    pub dims: usize,
    pub vectors: Vec<f32>,
    /// gensim FastText: (minn, maxn, buckets, n-gram rows).
    pub ngrams: Option<(usize, usize, usize, Vec<f32>)>,
    /// The indices in `words` of Python 2 `str`s that were not UTF-8, decoded as latin-1.
    pub latin1: Vec<usize>,
    /// Dict keys that Python holds apart but that decode to a word another key has (`'café'` and
    /// `b'caf\xe9'` in one Python 3 dict): one word, the later value; counted as duplicates.
    pub merged: usize,
    /// Each row's label (the MNIST pickle's `y` arrays); empty: the rows have none.
    pub labels: Vec<i64>,
}

/// A problem in a pickle; `offset` when it is in the opcode stream.
#[derive(Debug)]
pub struct Error {
    pub offset: Option<u64>,
    pub message: String,
}

fn err(message: impl Into<String>) -> Error {
    Error {
        offset: None,
        message: message.into(),
    }
}

/// Reads the pickle at `path` (its bytes are `data`); sidecar arrays are looked for beside it.
pub fn read(path: &Path, data: &[u8]) -> Result<Vectors, Error> {
    let p = pickle::parse(data).map_err(|e| Error {
        offset: Some(e.offset),
        // Names in the message come from the file.
        message: crate::text::escape(&e.problem.to_string()).into_owned(),
    })?;
    if let Some(Obj::Dict(items)) = p.obj(&p.root) {
        let (mut v, all_rows) = from_dict(&p, items)?;
        if all_rows {
            v.vectors = p.into_rows();
        }
        return Ok(v);
    }
    match p.obj(&p.root) {
        Some(Obj::Instance { module, name, .. }) if module.starts_with("gensim") => {
            from_gensim(&p, &p.root, None, path, &path.display().to_string(), name)
        }
        Some(Obj::Instance { module, name, .. }) => Err(err(format!(
            "the pickle holds a {}, not word vectors",
            crate::text::escape(&format!("{module}.{name}"))
        ))),
        // Item embeddings: the tutorial's MNIST pickle, 2-D arrays.
        _ if super::pickled_items::looks_like_items(&p, &p.root) => {
            super::pickled_items::read(&p, &p.root)
        }
        _ => Err(err(
            "the pickle holds neither a dict of word vectors, nor 2-D arrays of items, nor a \
             gensim model",
        )),
    }
}

/// A dict key's word: text keys (and bytes keys, as Python 2 str keys) UTF-8 when valid, else
/// latin-1; the flag says latin-1.
fn key_word(p: &Pickle, i: usize, k: &Value) -> Result<(Vec<u8>, bool), Error> {
    match k {
        Value::Str(_) | Value::Py2Str(_) => {
            let (text, was_latin1) = k.text().expect("text");
            Ok((text.as_bytes().to_vec(), was_latin1))
        }
        // Bytes keys as Python 2 str keys: UTF-8 when valid, else latin-1.
        Value::Bytes(b) => {
            let (text, was_latin1) = pickle::py2_text(b);
            Ok((text.as_bytes().to_vec(), was_latin1))
        }
        other => Err(err(format!(
            "entry {} of the dict: the key is {}, not a word (str or bytes)",
            i + 1,
            describe(p, other)
        ))),
    }
}

/// The words and vectors of a dict word → vector. When the vectors are, in order, all the
/// rows the pickle read in one step (a dict of float32 arrays), they are left out of the
/// result, and the flag says to take them whole ([`Pickle::into_rows`]) rather than copy them.
/// A dict whose keys decode to a word twice is read by [`from_dict_merging`].
fn from_dict(p: &Pickle, items: &[(Value, Value)]) -> Result<(Vectors, bool), Error> {
    let mut words = Vec::with_capacity(items.len());
    let mut latin1 = Vec::new();
    for (i, (k, _)) in items.iter().enumerate() {
        let (word, was_latin1) = key_word(p, i, k)?;
        if was_latin1 {
            latin1.push(i);
        }
        words.push(word);
    }
    // Borrowed, not copied: 400k small copies freed at once cost a third of a second.
    let mut seen = std::collections::HashSet::with_capacity(words.len());
    if !words.iter().all(|w| seen.insert(w.as_slice())) {
        return Ok((from_dict_merging(p, items)?, false));
    }
    drop(seen);
    let mut vectors = Vec::new();
    let mut dims = None;
    // Whether every vector so far is the next of the pickle's rows (then none was copied).
    let mut in_rows = true;
    for (i, (_, v)) in items.iter().enumerate() {
        let word = &words[i];
        if in_rows {
            match (p.row_span(v), dims) {
                (Some((start, len)), None) if start == 0 && len > 0 => {
                    dims = Some(len);
                    continue;
                }
                (Some((start, len)), Some(d)) if start == i * d && len == d => continue,
                _ => {
                    in_rows = false;
                    vectors.extend_from_slice(p.rows(0..i * dims.unwrap_or(0)));
                }
            }
        }
        let len = match p.floats(v) {
            Some(values) => {
                vectors.extend_from_slice(values);
                values.len()
            }
            None => {
                let vector = vector_of(p, v).map_err(|why| {
                    err(format!(
                        "entry {} ('{}'): the value is {why}",
                        i + 1,
                        crate::text::escape_bytes(word),
                    ))
                })?;
                vectors.extend_from_slice(&vector);
                vector.len()
            }
        };
        match dims {
            None if len == 0 => {
                return Err(err(format!(
                    "entry 1 ('{}') is an empty vector",
                    crate::text::escape_bytes(word)
                )))
            }
            None => {
                dims = Some(len);
                vectors.reserve(len * (items.len() - 1));
            }
            Some(d) if d != len => {
                return Err(err(format!(
                    "entry {} ('{}') has {len} values, the first had {d}",
                    i + 1,
                    crate::text::escape_bytes(word),
                )))
            }
            _ => {}
        }
    }
    let dims = dims.ok_or_else(|| err("the pickled dict is empty"))?;
    let all_rows = in_rows && p.rows(0..usize::MAX).len() == words.len() * dims;
    if in_rows && !all_rows {
        vectors.extend_from_slice(p.rows(0..words.len() * dims));
    }
    Ok((
        Vectors {
            kind: "pickled dict".into(),
            gensim: false,
            words,
            dims,
            vectors,
            ngrams: None,
            latin1,
            merged: 0,
            labels: Vec::new(),
        },
        all_rows,
    ))
}

/// [`from_dict`] for a dict whose keys decode to one word more than once: every vector copied.
fn from_dict_merging(p: &Pickle, items: &[(Value, Value)]) -> Result<Vectors, Error> {
    let mut words: Vec<Vec<u8>> = Vec::with_capacity(items.len());
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(items.len());
    let mut dims = None;
    let mut latin1 = Vec::new();
    // Keys that decode to the same word (a Python 2 'caf\xe9' and u'caf\xe9', which Python 3
    // reads with encoding='latin1' as one key) are one key, as Python builds the dict: the
    // first keeps its place, the last value wins.
    // Each word's row, and the key as Python 3 holds it (encoding='latin1': a Python 2 str is
    // latin-1 text, bytes stay bytes), to tell one Python key from two that decode alike.
    let mut seen: std::collections::HashMap<Vec<u8>, (usize, PyKey)> =
        std::collections::HashMap::with_capacity(items.len());
    let mut merged = 0;
    for (i, (k, v)) in items.iter().enumerate() {
        let (word, was_latin1) = match k {
            Value::Str(_) | Value::Py2Str(_) => {
                let (text, was_latin1) = k.text().expect("text");
                (text.as_bytes().to_vec(), was_latin1)
            }
            // Bytes keys as Python 2 str keys: UTF-8 when valid, else latin-1.
            Value::Bytes(b) => {
                let (text, was_latin1) = pickle::py2_text(b);
                (text.as_bytes().to_vec(), was_latin1)
            }
            other => {
                return Err(err(format!(
                    "entry {} of the dict: the key is {}, not a word (str or bytes)",
                    i + 1,
                    describe(p, other)
                )))
            }
        };
        let vector = vector_of(p, v).map_err(|why| {
            err(format!(
                "entry {} ('{}'): the value is {why}",
                i + 1,
                crate::text::escape_bytes(&word),
            ))
        })?;
        match dims {
            None if vector.is_empty() => {
                return Err(err(format!(
                    "entry 1 ('{}') is an empty vector",
                    crate::text::escape_bytes(&word)
                )))
            }
            None => dims = Some(vector.len()),
            Some(d) if d != vector.len() => {
                return Err(err(format!(
                    "entry {} ('{}') has {} values, the first had {d}",
                    i + 1,
                    crate::text::escape_bytes(&word),
                    vector.len()
                )))
            }
            _ => {}
        }
        let key = PyKey::of(k);
        match seen.entry(word) {
            std::collections::hash_map::Entry::Occupied(at) => {
                let (row, first) = at.get();
                rows[*row] = vector;
                merged += usize::from(*first != key);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                if was_latin1 {
                    latin1.push(words.len());
                }
                words.push(slot.key().clone());
                slot.insert((rows.len(), key));
                rows.push(vector);
            }
        }
    }
    let dims = dims.ok_or_else(|| err("the pickled dict is empty"))?;
    Ok(Vectors {
        kind: "pickled dict".into(),
        gensim: false,
        words,
        dims,
        vectors: rows.concat(),
        ngrams: None,
        latin1,
        merged,
        labels: Vec::new(),
    })
}

/// A dict key as Python 3 holds it after `pickle.load(f, encoding='latin1')`.
#[derive(PartialEq)]
enum PyKey {
    Text(String),
    Bytes(Vec<u8>),
}

impl PyKey {
    fn of(k: &Value) -> PyKey {
        match k {
            Value::Str(s) => PyKey::Text(s.to_string()),
            Value::Py2Str(b) => PyKey::Text(b.iter().map(|&c| c as char).collect()),
            Value::Bytes(b) => PyKey::Bytes(b.to_vec()),
            _ => PyKey::Bytes(Vec::new()),
        }
    }
}

/// A dict value as a vector: a list or tuple of numbers, or a 1-D float array; `Err` says what
/// it is instead. Python ints become f32 as numpy makes them (`float(x)`, then f32).
fn vector_of(p: &Pickle, v: &Value) -> Result<Vec<f32>, String> {
    match p.obj(v) {
        Some(Obj::List(items) | Obj::Tuple(items)) => {
            let what = match p.obj(v) {
                Some(Obj::List(_)) => "a list",
                _ => "a tuple",
            };
            items
                .iter()
                .enumerate()
                .map(|(j, x)| {
                    let f = match x {
                        Value::Float(f) => *f as f32,
                        Value::Int(i) => *i as f64 as f32,
                        other => {
                            return Err(format!(
                                "{what} whose item {} is {}, not a number",
                                j + 1,
                                describe(p, other)
                            ))
                        }
                    };
                    if f.is_infinite() {
                        return Err(format!(
                            "{what} whose item {} overflows f32 (an infinity, or a number beyond 3.4e38, the largest f32)",
                            j + 1
                        ));
                    }
                    Ok(f)
                })
                .collect()
        }
        Some(Obj::Array(a)) if a.shape.len() == 1 => a.to_f32().ok_or_else(|| {
            format!(
                "a 1-D array of {}, not floats",
                super::npy::dtype_name(&a.descr)
            )
        }),
        _ => Err(format!(
            "{}, not a list, tuple or 1-D float array",
            describe(p, v)
        )),
    }
}

fn describe(p: &Pickle, v: &Value) -> String {
    match v {
        Value::None => "None".into(),
        Value::Bool(_) => "a bool".into(),
        Value::Int(_) => "an int".into(),
        Value::Float(_) => "a float".into(),
        Value::Str(_) | Value::Py2Str(_) => "a str".into(),
        Value::Bytes(_) => "bytes".into(),
        Value::Ref(_) => match p.obj(v) {
            Some(Obj::Array(a)) => format!(
                "a {}-D array of {}",
                a.shape.len(),
                super::npy::dtype_name(&a.descr)
            ),
            Some(Obj::Instance { module, name, .. }) | Some(Obj::Opaque { module, name }) => {
                crate::text::escape(&format!("a {module}.{name}")).into_owned()
            }
            Some(Obj::Dict(_)) => "a dict".into(),
            Some(Obj::List(_)) => "a list".into(),
            Some(Obj::Tuple(_)) => "a tuple".into(),
            Some(Obj::Set(_)) => "a set".into(),
            Some(Obj::Global { .. }) => "a class or function".into(),
            Some(Obj::Dtype { .. }) => "a numpy dtype".into(),
            _ => "an object".into(),
        },
    }
}

/// An array attribute: inline in the pickle, or (set to None there, or left out) in
/// `prefix.attr.npy` — or, when `prefix` ends in `.gz` or `.bz2`, in `prefix.attr.npz`, which
/// gensim writes with `numpy.savez_compressed` (one member, `val`) and reads back from there.
/// gensim lists the attributes it saved apart in `__numpys`: such a sidecar that is missing is
/// an error naming it, not an attribute the file lacks.
fn array_attr(p: &Pickle, obj: &Value, attr: &str, prefix: &str) -> Result<Option<Array>, Error> {
    if let Some(v) = p.get(obj, attr) {
        match p.obj(v) {
            Some(Obj::Array(a)) => return Ok(Some(a.clone())),
            Some(other) => {
                return Err(err(format!(
                    "'{attr}' is {}, not an array",
                    match other {
                        Obj::Opaque { .. } => "an object array",
                        _ => "not an array",
                    }
                )))
            }
            None if *v != Value::None => return Err(err(format!("'{attr}' is not an array"))),
            None => {}
        }
    }
    let compressed = prefix.ends_with(".gz") || prefix.ends_with(".bz2");
    let sidecar = format!("{prefix}.{attr}.{}", if compressed { "npz" } else { "npy" });
    let saved_apart = p
        .get(obj, "__numpys")
        .and_then(|l| p.items(l))
        .is_some_and(|l| l.iter().any(|n| matches!(n, Value::Str(s) if &**s == attr)));
    // gensim leaves arrays it saved separately out of the pickle.
    match std::fs::symlink_metadata(&sidecar) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match saved_apart {
                true => Err(err(format!(
                    "'{attr}' was saved separately, in {}, which is missing (gensim saves large arrays beside the pickle: keep the .npy and .npz files with it)",
                    crate::text::escape(&sidecar)
                ))),
                false => Ok(None),
            }
        }
        _ => {}
    }
    let read = if compressed {
        npz_sidecar(Path::new(&sidecar))
    } else {
        super::npy::read(Path::new(&sidecar))
    };
    read.map(Some).map_err(|m| {
        err(format!(
            "'{attr}' was saved separately, in {}: {m}",
            crate::text::escape(&sidecar)
        ))
    })
}

/// A compressed sidecar's array (member `val`), read only when it is a regular file (a FIFO
/// is refused without being opened for reading, as for a `.npy`).
fn npz_sidecar(path: &Path) -> Result<Array, String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => super::items::npz(path, Some("val")),
        Ok(_) => Err("not a regular file; a .npz archive must be one".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn matrix(a: &Array, what: &str) -> Result<(usize, Vec<f32>), Error> {
    if a.shape.len() != 2 {
        return Err(err(format!(
            "'{what}' has shape {:?}, expected 2-D",
            a.shape
        )));
    }
    let v = a.to_f32().ok_or_else(|| {
        err(format!(
            "'{what}' holds {}, not floats",
            super::npy::dtype_name(&a.descr)
        ))
    })?;
    Ok((a.shape[1], v))
}

fn int_attr(p: &Pickle, obj: &Value, attr: &str) -> Option<i64> {
    match p.get(obj, attr)? {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn from_gensim(
    p: &Pickle,
    obj: &Value,
    model: Option<&Value>,
    path: &Path,
    prefix: &str,
    class: &str,
) -> Result<Vectors, Error> {
    // The class name comes from the file: escaped before it reaches any message.
    let class = &crate::text::escape(class).into_owned();
    // A model (Word2Vec, FastText) keeps its vectors in `wv`, saved with prefix `x.wv`.
    if let Some(wv) = p.get(obj, "wv") {
        if let Some(Obj::Instance { name, .. }) = p.obj(wv) {
            let name = name.clone();
            let mut v = from_gensim(p, wv, Some(obj), path, &format!("{prefix}.wv"), &name)?;
            v.kind = format!("{} ({class} model)", v.kind);
            return Ok(v);
        }
    }
    let words: Vec<Vec<u8>> = if let Some(list) = p.get(obj, "index_to_key") {
        strings(p, list, "index_to_key")?
    } else if let Some(list) = p
        .get(obj, "index2word")
        .or_else(|| p.get(obj, "index2entity"))
    {
        // gensim 3.x: `vocab` maps words to Vocab objects; index2word lists them in order.
        strings(p, list, "index2word")?
    } else if p.get(obj, "vocab").is_some() {
        return Err(err(format!(
            "a gensim 3.x {class} without index2word: load it with gensim 3.8 and save it again with gensim 4, or save the vectors with save_word2vec_format"
        )));
    } else {
        return Err(err(format!(
            "a gensim {class} without key_to_index/index_to_key: not a KeyedVectors file"
        )));
    };
    let version = if p.get(obj, "index_to_key").is_some() {
        "gensim 4"
    } else {
        "gensim 3"
    };
    let fasttext = class.contains("FastText") || p.get(obj, "vectors_ngrams").is_some();
    if fasttext {
        return fasttext_vectors(p, obj, model, prefix, words, format!("{version} {class}"));
    }
    let array = match array_attr(p, obj, "vectors", prefix)? {
        Some(a) => a,
        None => array_attr(p, obj, "syn0", prefix)?
            .ok_or_else(|| err(format!("a gensim {class} without vectors")))?,
    };
    let (dims, vectors) = matrix(&array, "vectors")?;
    if vectors.len() != words.len() * dims {
        return Err(err(format!(
            "{} words but {} vectors of {dims} dimensions",
            words.len(),
            vectors.len() / dims.max(1)
        )));
    }
    let _ = path;
    Ok(Vectors {
        kind: format!("{version} {class}"),
        gensim: true,
        words,
        dims,
        vectors,
        ngrams: None,
        latin1: Vec::new(),
        merged: 0,
        labels: Vec::new(),
    })
}

use super::fasttext::MAX_NGRAM;

/// A gensim FastText's vectors: the word vectors it saved (`vectors`, as gensim 3.x keeps
/// them) or, when it saved none (gensim 4), each word's row averaged with its n-gram rows, as
/// gensim's `adjust_vectors`; n-grams hashed modulo the model's `bucket`, not the matrix's row
/// count. A gensim 3.x matrix pruned to the n-grams it saw (`hash2index`: bucket → row) is
/// unpacked to `bucket` rows, the buckets it never saw left zero (so they add nothing, as in the
/// gensim 3.x that wrote it). A matrix with fewer rows than `bucket` and no such map is refused:
/// hashing would land past its end (gensim raises an IndexError).
fn fasttext_vectors(
    p: &Pickle,
    obj: &Value,
    model: Option<&Value>,
    prefix: &str,
    words: Vec<Vec<u8>>,
    kind: String,
) -> Result<Vectors, Error> {
    let vocab = array_attr(p, obj, "vectors_vocab", prefix)?
        .ok_or_else(|| err("a FastText model without vectors_vocab"))?;
    let ngrams = array_attr(p, obj, "vectors_ngrams", prefix)?
        .ok_or_else(|| err("a FastText model without vectors_ngrams"))?;
    let (dims, vocab) = matrix(&vocab, "vectors_vocab")?;
    let (ndims, ngrams) = matrix(&ngrams, "vectors_ngrams")?;
    let rows = ngrams.len() / ndims.max(1);
    if ndims != dims || vocab.len() != words.len() * dims {
        return Err(err(format!(
            "vectors_vocab ({} rows × {dims}) and vectors_ngrams (× {ndims}) do not fit {} words",
            vocab.len() / dims.max(1),
            words.len()
        )));
    }
    let count = |attr: &str| -> Result<Option<usize>, Error> {
        match int_attr(p, obj, attr) {
            None => Ok(None),
            Some(v) => usize::try_from(v)
                .map(Some)
                .map_err(|_| err(format!("'{attr}' is {v}, not a count"))),
        }
    };
    let minn = count("min_n")?.unwrap_or(0);
    let maxn = count("max_n")?.unwrap_or(0);
    // (max_n < min_n is gensim's way to use no n-grams at all.)
    if maxn > MAX_NGRAM {
        return Err(err(format!(
            "max_n = {maxn}: n-grams longer than {MAX_NGRAM} characters are not supported (real models use 3 to 6)"
        )));
    }
    // gensim 4 moves a model's `bucket` onto its vectors when it loads it.
    let bucket = match model.and_then(|m| int_attr(p, m, "bucket")) {
        Some(b) => Some(b),
        None => int_attr(p, obj, "bucket"),
    };
    let bucket = match bucket {
        None => rows,
        Some(b) => usize::try_from(b)
            .ok()
            .filter(|&b| u32::try_from(b).is_ok())
            .ok_or_else(|| err(format!("'bucket' is {b}, not a count of n-gram buckets")))?,
    };
    let ngrams = match p.get(obj, "hash2index").and_then(|h| p.obj(h)) {
        Some(Obj::Dict(map)) => unpack(p, map, &ngrams, rows, bucket, dims)?,
        _ if rows < bucket => {
            return Err(err(format!(
                "vectors_ngrams has {rows} rows, fewer than the model's bucket {bucket}: n-grams would hash past its end (gensim cannot load it either)"
            )))
        }
        _ => {
            let mut ngrams = ngrams;
            ngrams.truncate(bucket * dims);
            ngrams
        }
    };
    let vectors = match array_attr(p, obj, "vectors", prefix)? {
        Some(saved) => {
            let (vdims, saved) = matrix(&saved, "vectors")?;
            if vdims != dims || saved.len() != words.len() * dims {
                return Err(err(format!(
                    "'vectors' has {} rows × {vdims}; expected {} words × {dims}",
                    saved.len() / vdims.max(1),
                    words.len()
                )));
            }
            saved
        }
        None => adjust_vectors(&words, vocab, &ngrams, minn, maxn, bucket, dims),
    };
    Ok(Vectors {
        kind,
        gensim: true,
        words,
        dims,
        vectors,
        ngrams: Some((minn, maxn, bucket, ngrams)),
        latin1: Vec::new(),
        merged: 0,
        labels: Vec::new(),
    })
}

/// gensim's `adjust_vectors`: each word's row averaged with its n-gram rows (summed in f32 in
/// n-gram order, as gensim does).
fn adjust_vectors(
    words: &[Vec<u8>],
    mut vectors: Vec<f32>,
    ngrams: &[f32],
    minn: usize,
    maxn: usize,
    bucket: usize,
    dims: usize,
) -> Vec<f32> {
    let mut scratch = Vec::new();
    for (i, word) in words.iter().enumerate() {
        scratch.clear();
        super::fasttext::ngram_buckets(word, minn, maxn, bucket as u32, &mut scratch);
        let row = &mut vectors[i * dims..(i + 1) * dims];
        for &b in &scratch {
            let g = &ngrams[b as usize * dims..(b as usize + 1) * dims];
            row.iter_mut().zip(g).for_each(|(r, x)| *r += x);
        }
        let n = (scratch.len() + 1) as f32;
        row.iter_mut().for_each(|r| *r /= n);
    }
    vectors
}

/// A pruned gensim 3.x n-gram matrix back to `bucket` rows: row `h` is packed row
/// `hash2index[h]`; buckets the map does not name stay zero.
fn unpack(
    p: &Pickle,
    map: &[(Value, Value)],
    packed: &[f32],
    rows: usize,
    bucket: usize,
    dims: usize,
) -> Result<Vec<f32>, Error> {
    let mut out = vec![0f32; bucket * dims];
    for (h, i) in map {
        let (Value::Int(h), Value::Int(i)) = (h, i) else {
            return Err(err(format!(
                "'hash2index' maps {} to {}, not a bucket to a row",
                describe(p, h),
                describe(p, i)
            )));
        };
        let (Ok(h), Ok(i)) = (usize::try_from(*h), usize::try_from(*i)) else {
            return Err(err(format!("'hash2index' maps {h} to {i}")));
        };
        if h >= bucket || i >= rows {
            return Err(err(format!(
                "'hash2index' maps bucket {h} to row {i}; the model has {bucket} buckets and vectors_ngrams {rows} rows"
            )));
        }
        out[h * dims..(h + 1) * dims].copy_from_slice(&packed[i * dims..(i + 1) * dims]);
    }
    Ok(out)
}

fn strings(p: &Pickle, list: &Value, what: &str) -> Result<Vec<Vec<u8>>, Error> {
    let items = p
        .items(list)
        .ok_or_else(|| err(format!("'{what}' is not a list")))?;
    items
        .iter()
        .map(|w| match w {
            Value::Str(_) | Value::Py2Str(_) => Ok(w.text().expect("text").0.as_bytes().to_vec()),
            Value::Bytes(b) => Ok(b.to_vec()),
            Value::Int(i) => Ok(i.to_string().into_bytes()),
            _ => Err(err(format!("'{what}' holds something that is not a word"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::pickle::{parse_with, Obj, Value};

    #[test]
    fn a_dict_of_arrays_lists_and_shared_arrays_gives_every_word_its_vector() {
        // The vectors are the rows read in one step only in part: each word still gets its own.
        for name in [
            "pickles/fast_mixed_p4.pkl",
            "pickles/py3_empty_word.pkl",
            "pickles/py2_words_p2.pkl",
            "formats/dict_f32_p4.pkl",
            "formats/dict_f64_bytes_p5.pkl",
        ] {
            let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            let data = std::fs::read(&path).unwrap();
            // The dict as the opcodes build it, each value's floats.
            let plain = parse_with(&data, false).unwrap();
            let Some(Obj::Dict(items)) = plain.obj(&plain.root) else {
                panic!("{name}: not a dict")
            };
            let mut want = Vec::new();
            for (_, v) in items {
                match plain.obj(v) {
                    Some(Obj::Array(a)) if a.shape.len() == 1 => {
                        want.push(a.to_f32().unwrap_or_default())
                    }
                    Some(Obj::List(xs)) => want.push(
                        xs.iter()
                            .map(|x| match x {
                                Value::Float(f) => *f as f32,
                                Value::Int(i) => *i as f32,
                                _ => f32::NAN,
                            })
                            .collect(),
                    ),
                    _ => want.push(Vec::new()),
                }
            }
            let v = super::read(std::path::Path::new(&path), &data).unwrap();
            assert_eq!(v.words.len(), want.len(), "{name}");
            assert_eq!(v.vectors.len(), want.len() * v.dims, "{name}");
            for (i, row) in want.iter().enumerate() {
                let got = &v.vectors[i * v.dims..(i + 1) * v.dims];
                assert_eq!(got, &row[..], "{name}: entry {i}");
            }
        }
    }
}
