//! safetensors models (Hugging Face): the files that make one (a file, a model directory, a
//! sharded model's index), the header read with the `safetensors` crate and checked against
//! the file, the choice of the token embedding among the tensors, and rows converted to f32.
//!
//! Nothing here knows the loader: errors are messages without the file's name, which the glue
//! (`formats::load_model`) adds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use safetensors::tensor::Dtype;
use safetensors::tensor::{SafeTensorError, SafeTensors};

/// A header longer than this is refused before it is parsed: a real model's header is well under
/// a megabyte (Llama-3-8B's shards: 25 KB), and the parser would allocate for every tensor a
/// hostile 100 MB header names.
pub const MAX_HEADER: u64 = 16 << 20;

/// Names of the token embedding in transformer models: exact names, then name endings.
const EMBEDDING_NAMES: [&str; 4] = [
    "wte.weight",
    "transformer.wte.weight",
    "shared.weight",
    "tok_embeddings.weight",
];
const EMBEDDING_SUFFIXES: [&str; 5] = [
    ".wte.weight",
    "word_embeddings.weight",
    "embed_tokens.weight",
    "embed_in.weight",
    ".tok_embeddings.weight",
];

/// Whether a tensor's name is a transformer's input embedding's.
fn is_embedding_name(n: &str) -> bool {
    EMBEDDING_NAMES.contains(&n) || EMBEDDING_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Byte offset of its first value in the file.
    pub start: u64,
    /// Its bytes.
    pub len: u64,
}

impl Tensor {
    /// `wte.weight (BF16, 50257 × 768)`.
    pub fn describe(&self) -> String {
        let shape: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        format!(
            "{} ({}, {})",
            crate::text::escape(&self.name),
            dtype_name(self.dtype),
            if shape.is_empty() {
                "scalar".to_owned()
            } else {
                shape.join(" × ")
            }
        )
    }

    /// Rows and columns of a 2-D tensor.
    pub fn matrix(&self) -> Option<(usize, usize)> {
        match self.shape[..] {
            [rows, cols] => Some((rows, cols)),
            _ => None,
        }
    }
}

/// A dtype's name as safetensors writes it (`BF16`).
pub fn dtype_name(dtype: Dtype) -> String {
    format!("{dtype:?}")
}

/// Whether the first bytes (`magic`) of a file of `len` bytes are a safetensors header: an
/// 8-byte little-endian length that fits the file and the cap, then `{"` (or `{}`).
pub fn sniff(magic: &[u8], len: u64) -> bool {
    let Some(n) = magic
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    else {
        return false;
    };
    (2..=MAX_HEADER).contains(&n)
        && n.saturating_add(8) <= len
        && matches!(magic.get(8..10), Some(b"{\"") | Some(b"{}"))
}

/// The tensors of the safetensors file whose whole content is `data`, in file order, checked:
/// the header's length against the file and [`MAX_HEADER`], its JSON, every tensor's offsets
/// (no overlap, no gap, none past the file's end) and its bytes against its shape and dtype.
pub fn header(data: &[u8]) -> Result<Vec<Tensor>, String> {
    let len = data.len() as u64;
    if len < 8 {
        return Err(format!(
            "{len} bytes: too short for a safetensors file (its header's length alone is 8 bytes)"
        ));
    }
    let n = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        return Err(format!(
            "the header's length says {n} bytes, more than vecsh reads ({} MiB; a real model's header is under 1 MiB): not a safetensors file, or a damaged one",
            MAX_HEADER >> 20
        ));
    }
    if n + 8 > len {
        return Err(format!(
            "the header's length says {n} bytes, but the file has only {} after it (truncated?)",
            len - 8
        ));
    }
    let (_, metadata) = SafeTensors::read_metadata(data).map_err(|e| explain(e, data, n))?;
    let start = 8 + n;
    let mut out = Vec::new();
    for name in metadata.offset_keys() {
        let info = metadata.info(&name).expect("a name the metadata listed");
        let (s, e) = info.data_offsets;
        out.push(Tensor {
            name,
            dtype: info.dtype,
            shape: info.shape.clone(),
            start: start + s as u64,
            len: (e - s) as u64,
        });
    }
    Ok(out)
}

/// What the safetensors crate's error means for this file, with the tensor and the numbers.
fn explain(e: SafeTensorError, data: &[u8], n: u64) -> String {
    let header: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&data[8..8 + n as usize]).ok();
    // (name, dtype, shape, begin, end) of each tensor the header describes, by offset.
    let mut tensors: Vec<(String, String, Vec<u64>, u64, u64)> = header
        .iter()
        .flatten()
        .filter(|(k, _)| *k != "__metadata__")
        .filter_map(|(k, v)| {
            let offsets = v.get("data_offsets")?.as_array()?;
            let shape = v.get("shape")?.as_array()?;
            Some((
                k.clone(),
                v.get("dtype")?.as_str()?.to_owned(),
                shape.iter().filter_map(|d| d.as_u64()).collect(),
                offsets.first()?.as_u64()?,
                offsets.get(1)?.as_u64()?,
            ))
        })
        .collect();
    tensors.sort_by_key(|t| (t.3, t.4));
    let data_len = data.len() as u64 - 8 - n;
    match e {
        SafeTensorError::InvalidHeader(_) => "the header is not UTF-8 text".to_owned(),
        SafeTensorError::InvalidHeaderDeserialization(e) => {
            format!("the header is not a safetensors header ({e})")
        }
        SafeTensorError::InvalidOffset(name) => {
            let at = tensors.iter().position(|t| t.0 == name);
            let detail = at
                .map(|i| {
                    let t = &tensors[i];
                    match i.checked_sub(1).map(|p| &tensors[p]) {
                        Some(prev) if t.3 < prev.4 => format!(
                            "bytes {}..{} overlap tensor '{}' (bytes {}..{})",
                            t.3,
                            t.4,
                            crate::text::escape(&prev.0),
                            prev.3,
                            prev.4
                        ),
                        Some(prev) if t.3 > prev.4 => format!(
                            "bytes {}..{} leave a gap after tensor '{}' (which ends at {})",
                            t.3,
                            t.4,
                            crate::text::escape(&prev.0),
                            prev.4
                        ),
                        None if t.3 != 0 => format!("bytes {}..{} do not start at 0", t.3, t.4),
                        _ => format!("bytes {}..{} end before they start", t.3, t.4),
                    }
                })
                .unwrap_or_else(|| "its byte offsets are wrong".to_owned());
            format!(
                "tensor '{}': {detail} (the header's offsets must tile the data)",
                crate::text::escape(&name)
            )
        }
        SafeTensorError::TensorInvalidInfo | SafeTensorError::MisalignedSlice => {
            let bad = tensors.iter().find(|t| {
                let size = match t.1.as_str() {
                    "F64" | "I64" | "U64" | "C64" => 8,
                    "F32" | "I32" | "U32" => 4,
                    "F16" | "BF16" | "I16" | "U16" => 2,
                    _ => 1,
                };
                let count = t.2.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
                count.and_then(|c| c.checked_mul(size)) != Some(t.4.saturating_sub(t.3))
            });
            match bad {
                Some(t) => format!(
                    "tensor '{}': shape {:?} of {} disagrees with its {} bytes (offsets {}..{})",
                    crate::text::escape(&t.0),
                    t.2,
                    t.1,
                    t.4.saturating_sub(t.3),
                    t.3,
                    t.4
                ),
                None => "a tensor's shape and dtype disagree with its bytes".to_owned(),
            }
        }
        SafeTensorError::ValidationOverflow => "a tensor's shape is too large".to_owned(),
        SafeTensorError::MetadataIncompleteBuffer => {
            let end = tensors.iter().map(|t| t.4).max().unwrap_or(0);
            if end > data_len {
                format!(
                    "the tensors' data ends at byte {} of the file, which has {} bytes (truncated?)",
                    8 + n + end,
                    8 + n + data_len
                )
            } else {
                format!(
                    "{} bytes follow the tensors' data (the header describes {} of the file's {})",
                    data_len - end,
                    8 + n + end,
                    8 + n + data_len
                )
            }
        }
        other => format!("not a safetensors file ({other})"),
    }
}

/// What kind of model the matrix comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// model2vec (`embeddings`, with `weights` and `mapping` when it has them).
    #[serde(rename = "model2vec")]
    Model2Vec,
    /// A transformer's input embedding (`wte.weight`, `*.embed_tokens.weight`, …).
    #[serde(rename = "transformer embedding")]
    Transformer,
    /// The one tensor of a file.
    #[serde(rename = "single tensor")]
    Single,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Model2Vec => "model2vec",
            Kind::Transformer => "transformer embedding",
            Kind::Single => "single tensor",
        })
    }
}

/// The tensors chosen (indices into the file's tensors).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub kind: Kind,
    pub embedding: usize,
    /// model2vec's per-token weights.
    pub weights: Option<usize>,
    /// model2vec's token → row mapping (vocabulary quantisation).
    pub mapping: Option<usize>,
}

/// The 2-D tensors, described, for an error that lists the candidates.
fn candidates(tensors: &[Tensor]) -> String {
    let mut listed: Vec<String> = tensors
        .iter()
        .filter(|t| t.shape.len() == 2)
        .map(Tensor::describe)
        .collect();
    if listed.is_empty() {
        listed = tensors.iter().map(Tensor::describe).collect();
        if listed.is_empty() {
            return "the file holds no tensors".to_owned();
        }
    }
    let more = listed.len().saturating_sub(20);
    listed.truncate(20);
    let mut s = format!("tensors: {}", listed.join(", "));
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    s
}

/// Chooses the token embedding: `wanted` (`--tensor`) by name; else model2vec's `embeddings`;
/// else a transformer's input embedding by name; else the only tensor; else the one 2-D tensor
/// with at least `tokens` rows (the tokenizer's highest id + 1). An ambiguous or missing choice
/// is an error listing the candidates with their shapes.
/// `tokenizer` names the tokenizer in messages.
pub fn choose(
    tensors: &[Tensor],
    wanted: Option<&str>,
    tokens: usize,
    tokenizer: &str,
) -> Result<Choice, String> {
    let find = |name: &str| tensors.iter().position(|t| t.name == name);
    let fits = |i: usize| -> Result<usize, String> {
        let t = &tensors[i];
        match t.matrix() {
            Some((rows, cols)) if rows >= tokens && cols > 0 => Ok(i),
            Some((rows, cols)) if cols > 0 => Err(format!(
                "tensor {} has {rows} rows, but the tokenizer {tokenizer} has {tokens} token ids (0 to {}): the tokenizer does not fit this matrix",
                t.describe(),
                tokens.saturating_sub(1)
            )),
            _ => Err(format!(
                "tensor {} is not a matrix (2-D, a row per token)",
                t.describe()
            )),
        }
    };
    let model2vec = |embedding: usize| {
        let one_d = |name: &str| find(name).filter(|&i| tensors[i].shape.len() == 1);
        Choice {
            kind: Kind::Model2Vec,
            embedding,
            weights: one_d("weights"),
            mapping: one_d("mapping"),
        }
    };
    let m2v_name = |name: &str| name == "embeddings" || name == "embedding.weight";
    if let Some(name) = wanted {
        let Some(i) = find(name) else {
            return Err(format!(
                "no tensor '{}' (--tensor); {}",
                crate::text::escape(name),
                candidates(tensors)
            ));
        };
        if m2v_name(name) {
            let m = model2vec(i);
            // With a mapping, the matrix may have fewer rows than tokens.
            if m.mapping.is_some() && tensors[i].matrix().is_some() {
                return Ok(m);
            }
            fits(i)?;
            return Ok(m);
        }
        let kind = if tensors.len() == 1 && !is_embedding_name(name) {
            Kind::Single
        } else {
            Kind::Transformer
        };
        return fits(i).map(|embedding| Choice {
            kind,
            embedding,
            weights: None,
            mapping: None,
        });
    }
    if let Some(i) = tensors.iter().position(|t| m2v_name(&t.name)) {
        let m = model2vec(i);
        // With a mapping, the matrix may have fewer rows than tokens.
        if m.mapping.is_none() || tensors[i].matrix().is_none() {
            fits(i)?;
        }
        return Ok(m);
    }
    let plain = |kind, embedding| Choice {
        kind,
        embedding,
        weights: None,
        mapping: None,
    };
    let by_name: Vec<usize> = (0..tensors.len())
        .filter(|&i| is_embedding_name(&tensors[i].name))
        .collect();
    match by_name[..] {
        [i] => return fits(i).map(|i| plain(Kind::Transformer, i)),
        [] if tensors.len() == 1 => return fits(0).map(|i| plain(Kind::Single, i)),
        [] => {}
        _ => {
            // T5-style: `shared.weight` is the one the encoder and decoder share.
            if let Some(i) = by_name
                .iter()
                .copied()
                .find(|&i| tensors[i].name == "shared.weight")
            {
                return fits(i).map(|i| plain(Kind::Transformer, i));
            }
            let names: Vec<String> = by_name.iter().map(|&i| tensors[i].describe()).collect();
            return Err(format!(
                "several tensors could be the token embedding: {}; choose one with --tensor NAME",
                names.join(", ")
            ));
        }
    }
    let by_shape: Vec<usize> = (0..tensors.len())
        .filter(|&i| {
            tensors[i]
                .matrix()
                .is_some_and(|(r, c)| r >= tokens && c > 0)
        })
        .collect();
    match by_shape[..] {
        [i] => Ok(plain(Kind::Transformer, i)),
        [] => Err(format!(
            "no tensor is the token embedding (none is named like one, and no matrix has a row for each of the tokenizer's {tokens} token ids); {}; choose one with --tensor NAME",
            candidates(tensors)
        )),
        _ => {
            let names: Vec<String> = by_shape.iter().map(|&i| tensors[i].describe()).collect();
            Err(format!(
                "several tensors could be the token embedding: {}; choose one with --tensor NAME",
                names.join(", ")
            ))
        }
    }
}

/// Bytes per value of the dtypes vecsh reads as rows; `None`: not one of them.
pub fn row_dtype_size(dtype: Dtype) -> Option<usize> {
    match dtype {
        Dtype::F64 => Some(8),
        Dtype::F32 => Some(4),
        Dtype::F16 | Dtype::BF16 => Some(2),
        Dtype::I8 => Some(1),
        _ => None,
    }
}

/// Converts `raw` values of `dtype` (one of [`row_dtype_size`]'s) to f32 as numpy's
/// `astype(float32)` does: f16 and bf16 exactly, f64 rounded to nearest, i8 exactly.
pub fn to_f32(dtype: Dtype, raw: &[u8], out: &mut [f32]) {
    match dtype {
        Dtype::F32 => {
            for (x, b) in out.iter_mut().zip(raw.chunks_exact(4)) {
                *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Dtype::F16 => {
            for (x, b) in out.iter_mut().zip(raw.chunks_exact(2)) {
                *x = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        Dtype::BF16 => {
            for (x, b) in out.iter_mut().zip(raw.chunks_exact(2)) {
                *x = half::bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        Dtype::F64 => {
            for (x, b) in out.iter_mut().zip(raw.chunks_exact(8)) {
                *x = f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32;
            }
        }
        Dtype::I8 => {
            for (x, &b) in out.iter_mut().zip(raw) {
                *x = f32::from(b as i8);
            }
        }
        _ => {}
    }
}

/// The integer values of a 1-D tensor (model2vec's `mapping`); `None` for a float dtype.
pub fn to_u64(dtype: Dtype, raw: &[u8]) -> Option<Vec<i128>> {
    let v = match dtype {
        Dtype::I64 => raw
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as i128)
            .collect(),
        Dtype::U64 => raw
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as i128)
            .collect(),
        Dtype::I32 => raw
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as i128)
            .collect(),
        Dtype::U32 => raw
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as i128)
            .collect(),
        Dtype::I16 => raw
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as i128)
            .collect(),
        Dtype::U16 => raw
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as i128)
            .collect(),
        Dtype::I8 => raw.iter().map(|&b| b as i8 as i128).collect(),
        Dtype::U8 => raw.iter().map(|&b| b as i128).collect(),
        _ => return None,
    };
    Some(v)
}

// ---------------------------------------------------------------------------------------
// The files of a model
// ---------------------------------------------------------------------------------------

/// The index of a sharded model.
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

/// A sharded model's index: tensor name → the shard file's name. Shard names are plain file
/// names in the index's directory (a path is refused).
pub fn shard_map(json: &[u8]) -> Result<BTreeMap<String, String>, String> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let index: Index =
        serde_json::from_slice(json).map_err(|e| format!("not a sharded model's index ({e})"))?;
    if let Some((t, f)) = index.weight_map.iter().find(|(_, f)| {
        f.is_empty() || f.contains('/') || f.contains('\\') || *f == ".." || *f == "."
    }) {
        return Err(format!(
            "tensor '{}' is in '{}', which is not a file name in the model's directory",
            crate::text::escape(t),
            crate::text::escape(f)
        ));
    }
    Ok(index.weight_map)
}

/// The tensor a sharded model's embedding is by name (as [`choose`] would pick it without the
/// shapes): `wanted`, model2vec's `embeddings`, or the one name like a transformer's.
pub fn embedding_by_name<'m>(
    map: &'m BTreeMap<String, String>,
    wanted: Option<&str>,
) -> Option<(&'m String, &'m String)> {
    if let Some(w) = wanted {
        return map.get_key_value(w);
    }
    if let Some(e) = map.get_key_value("embeddings") {
        return Some(e);
    }
    let named: Vec<_> = map.iter().filter(|(n, _)| is_embedding_name(n)).collect();
    match named[..] {
        [one] => Some(one),
        _ => named.into_iter().find(|(n, _)| *n == "shared.weight"),
    }
}

/// What `vecsh DIR` opens in a model directory: `model.safetensors`, `embeddings.safetensors`, a
/// sentence-transformers layout's `0_StaticEmbedding/model.safetensors`, or the shard holding
/// the embedding of a sharded model. `Ok(None)`: `dir` is no model directory at all (not even
/// a refused one). `Err`: a model directory vecsh cannot open, and why.
pub fn model_file(dir: &Path, wanted: Option<&str>) -> Result<Option<PathBuf>, String> {
    for name in [
        "model.safetensors",
        "embeddings.safetensors",
        "0_StaticEmbedding/model.safetensors",
    ] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(Some(p));
        }
    }
    let index = dir.join(SHARD_INDEX);
    if index.is_file() {
        let json = std::fs::read(&index).map_err(|e| format!("{SHARD_INDEX}: {e}"))?;
        let map = shard_map(&json).map_err(|e| format!("{SHARD_INDEX}: {e}"))?;
        let Some((tensor, shard)) = embedding_by_name(&map, wanted) else {
            let names: Vec<String> = map
                .keys()
                .take(20)
                .map(|n| crate::text::escape(n).into_owned())
                .collect();
            return Err(match wanted {
                Some(w) => format!(
                    "{SHARD_INDEX} names no tensor '{}' (tensors: {})",
                    crate::text::escape(w),
                    names.join(", ")
                ),
                None => format!(
                    "{SHARD_INDEX} names no tensor that is clearly the token embedding; choose one with --tensor NAME (tensors: {})",
                    names.join(", ")
                ),
            });
        };
        let p = dir.join(shard);
        if !p.is_file() {
            return Err(format!(
                "the shard '{}' holding '{}' is missing (named by {SHARD_INDEX})",
                crate::text::escape(shard),
                crate::text::escape(tensor)
            ));
        }
        return Ok(Some(p));
    }
    let pickled = [
        "pytorch_model.bin",
        "model.bin",
        "pytorch_model.bin.index.json",
    ]
    .iter()
    .find(|n| dir.join(n).exists());
    if let Some(name) = pickled {
        return Err(format!(
            "this model directory holds {name}, PyTorch's pickled weights, and no safetensors file: vecsh never unpickles weights (a pickle can run code). Convert it to safetensors first, e.g. in Python: `from safetensors.torch import save_file; save_file(torch.load('{name}', weights_only=True), 'model.safetensors')`"
        ));
    }
    if dir.join("tokenizer.json").is_file() {
        return Err(
            "a tokenizer.json but no model.safetensors, embeddings.safetensors or model.safetensors.index.json"
                .to_owned(),
        );
    }
    Ok(None)
}

/// Whether a file name is one shard of a sharded model (`model-00001-of-00002.safetensors`).
pub fn is_shard_name(name: &str) -> bool {
    name.ends_with(".safetensors") && name.contains("-of-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn headers_are_checked_against_the_file() {
        let ok = file(
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
            &[0; 16],
        );
        let t = header(&ok).unwrap();
        assert_eq!(t[0].start, ok.len() as u64 - 16);
        assert!(sniff(&ok, ok.len() as u64));
        // Truncated.
        let err = header(&ok[..ok.len() - 1]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        // Offsets past the end of the data.
        let past = file(
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}"#,
            &[0; 16],
        );
        assert!(header(&past).unwrap_err().contains("truncated"));
        // Overlapping.
        let overlap = file(
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
            &[0; 16],
        );
        let err = header(&overlap).unwrap_err();
        assert!(err.contains("overlap"), "{err}");
        // A shape that disagrees with the bytes.
        let shape = file(
            r#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#,
            &[0; 16],
        );
        let err = header(&shape).unwrap_err();
        assert!(err.contains("disagrees"), "{err}");
        // A 100 MB header: refused before anything is parsed or allocated.
        let mut huge = (100_000_000u64).to_le_bytes().to_vec();
        huge.extend_from_slice(b"{\"a\":");
        let err = header(&huge).unwrap_err();
        assert!(err.contains("more than vecsh reads"), "{err}");
        assert!(!sniff(&huge, u64::MAX));
    }

    #[test]
    fn conversions_are_numpys() {
        let mut out = [0f32; 2];
        to_f32(Dtype::BF16, &[0x80, 0x3f, 0x00, 0xc0], &mut out);
        assert_eq!(out, [1.0, -2.0]);
        to_f32(Dtype::F16, &[0x00, 0x3c, 0x00, 0xb8], &mut out);
        assert_eq!(out, [1.0, -0.5]);
        to_f32(Dtype::I8, &[0x7f, 0x80], &mut out);
        assert_eq!(out, [127.0, -128.0]);
    }
}
