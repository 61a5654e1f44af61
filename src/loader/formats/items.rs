//! Item embeddings ("songs, photos"): matrices whose rows are items rather than words — a 2-D
//! numpy `.npy`, an `.npz` archive of them, the TensorFlow Embedding Projector's `vectors.tsv`
//! — and the labels that name the rows (one a line, or the Projector's `metadata.tsv`, whose
//! first column is the label and which has a header row when it has several columns).

use std::io::Read;
use std::path::Path;

use super::npy;
use super::pickle::Array;

/// A matrix of items: `rows × dims` values, row after row.
#[derive(Debug)]
pub struct Matrix {
    pub rows: usize,
    pub dims: usize,
    pub values: Vec<f32>,
}

/// A labels file or an archive member is read whole; beyond this it is not one.
const MAX_TEXT: u64 = 1 << 30;

/// The rows of a 2-D float array.
pub fn matrix(a: &Array) -> Result<Matrix, String> {
    if a.shape.len() != 2 || a.shape[1] == 0 {
        return Err(format!(
            "an array of shape {:?}: item vectors are a 2-D array, one row per item",
            a.shape
        ));
    }
    let values = a
        .to_f32()
        .ok_or_else(|| format!("the array holds {}, not floats", npy::dtype_name(&a.descr)))?;
    Ok(Matrix {
        rows: a.shape[0],
        dims: a.shape[1],
        values,
    })
}

/// The array `member` of the `.npz` archive at `path` (`vectors` or `vectors.npy`); without a
/// member, the archive's only array. Several arrays and no member: an error listing them.
pub fn npz(path: &Path, member: Option<&str>) -> Result<Array, String> {
    let file = crate::loader::source::open_nonblocking(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("unreadable .npz: {e}"))?;
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    let shown = || {
        names
            .iter()
            .map(|n| crate::text::escape(n.strip_suffix(".npy").unwrap_or(n)).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = match member {
        Some(m) => names
            .iter()
            .find(|n| *n == m || n.strip_suffix(".npy") == Some(m))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no array '{}' in this .npz; it holds {}",
                    crate::text::escape(m),
                    shown()
                )
            })?,
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(format!(
                "this .npz holds {} arrays ({}): name one with --member",
                names.len(),
                shown()
            ))
        }
    };
    let mut entry = zip
        .by_name(&name)
        .map_err(|e| format!("member {}: {e}", crate::text::escape(&name)))?;
    let declared = entry.size();
    // Deflate expands at most about 1032 times: a larger claim is a lie (or a bomb).
    let most = entry
        .compressed_size()
        .saturating_mul(1032)
        .saturating_add(1 << 10);
    if declared > most {
        return Err(format!(
            "member {} declares {declared} bytes, more than its {} compressed bytes can hold",
            crate::text::escape(&name),
            entry.compressed_size()
        ));
    }
    // Read no more than the member declares (plus one byte, to notice a lie); memory grows
    // with what is read, not with the claim.
    let mut bytes = Vec::with_capacity(declared.min(1 << 26) as usize);
    (&mut entry)
        .take(declared + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("member {}: {e}", crate::text::escape(&name)))?;
    if bytes.len() as u64 != declared {
        return Err(format!(
            "member {} declares {declared} bytes but holds {}",
            crate::text::escape(&name),
            bytes.len()
        ));
    }
    npy::parse(&bytes).map_err(|m| format!("member {}: {m}", crate::text::escape(&name)))
}

/// The Projector's `vectors.tsv`: tab-separated values, one row per line, no label column.
/// `Err((line, message))`.
pub fn projector_vectors(data: &[u8]) -> Result<Matrix, (u64, String)> {
    let mut values = Vec::new();
    let mut dims = 0;
    let mut rows = 0;
    // A trailing blank line (or several line ends) closes the file; blank lines within are
    // rows without values, refused below.
    let end = data
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |i| i + 1);
    let text = &data[..end];
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let before = values.len();
        for field in line.split(|&b| b == b'\t') {
            let v = std::str::from_utf8(field)
                .ok()
                .and_then(|s| s.trim().parse::<f32>().ok())
                .ok_or_else(|| {
                    (
                        line_no,
                        format!(
                            "'{}' is not a number (the Projector's vectors.tsv holds only values)",
                            crate::text::escape_bytes(field)
                        ),
                    )
                })?;
            if !v.is_finite() {
                return Err((
                    line_no,
                    format!("'{}' is not finite", crate::text::escape_bytes(field)),
                ));
            }
            values.push(v);
        }
        let n = values.len() - before;
        if rows == 0 {
            dims = n;
        } else if n != dims {
            return Err((line_no, format!("{n} values, the first row had {dims}")));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err((1, "no rows".into()));
    }
    Ok(Matrix { rows, dims, values })
}

/// Whether a first line looks like the Projector's vectors: tab-separated numbers only.
pub fn looks_like_projector(first_line: &[u8]) -> bool {
    let line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    !line.is_empty()
        && line.split(|&b| b == b'\t').all(|f| {
            std::str::from_utf8(f)
                .ok()
                .is_some_and(|s| s.trim().parse::<f32>().is_ok())
        })
}

/// Reads a small text file whole, refusing what is not a regular file.
fn read_text(path: &Path) -> Result<Vec<u8>, String> {
    let file = crate::loader::source::open_nonblocking(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_TEXT {
        return Err(format!("{} bytes: too large for a labels file", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_TEXT)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if text.is_empty() {
        return Vec::new();
    }
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// A pickled list of words (HistWords' `D-vocab.pkl`, written by Python 2); the pickle is
/// interpreted, never run.
pub fn pickled_list(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    use super::pickle::{self, Value};
    let bytes = read_text(path)?;
    let p = pickle::parse(&bytes).map_err(|e| {
        format!(
            "byte offset {}: {}",
            e.offset,
            crate::text::escape(&e.problem.to_string())
        )
    })?;
    let items = p
        .items(&p.root)
        .ok_or("the pickle holds no list of words")?;
    items
        .iter()
        .enumerate()
        .map(|(i, w)| match w {
            // Bytes as a Python 2 `str`: UTF-8 when valid, else latin-1, as for dict keys.
            Value::Bytes(b) => Ok(pickle::py2_text(b).0.as_bytes().to_vec()),
            // A `str` (Python 2's bytes too: UTF-8 when valid, else latin-1, as for dict keys).
            _ => match w.text() {
                Some((text, _latin1)) => Ok(text.as_bytes().to_vec()),
                None => Err(format!("item {} of the pickled list is not a word", i + 1)),
            },
        })
        .collect()
}

/// One label a line.
pub fn labels(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    Ok(lines(&read_text(path)?)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect())
}

/// The Projector's `metadata.tsv`: the first column; with several columns the first line is a
/// header and names no item.
pub fn metadata(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = read_text(path)?;
    let lines = lines(&bytes);
    let header = lines.first().is_some_and(|l| l.contains(&b'\t'));
    Ok(lines
        .into_iter()
        .skip(header as usize)
        .map(|l| l.split(|&b| b == b'\t').next().unwrap_or(l).to_vec())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projector_vectors_are_rows_of_tab_separated_values() {
        let m = projector_vectors(b"1\t2\n3\t4\n").unwrap();
        assert_eq!((m.rows, m.dims, m.values), (2, 2, vec![1., 2., 3., 4.]));
        assert_eq!(projector_vectors(b"1\t2\n3\n").unwrap_err().0, 2);
        assert_eq!(projector_vectors(b"1\tx\n").unwrap_err().0, 1);
        assert!(looks_like_projector(b"0.5\t-1e-3"));
        assert!(!looks_like_projector(b"word\t0.5"));
    }
}
