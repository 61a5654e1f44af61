//! numpy's `.npy` files, as gensim writes large arrays beside its pickles
//! (`x.kv.vectors.npy`): a magic, a Python-dict header, then the raw array.

use std::rc::Rc;

use super::pickle::{Array, Dtype};

/// Parses a `.npy` file's bytes into an array, or says what is wrong.
pub fn parse(data: &[u8]) -> Result<Array, String> {
    if !data.starts_with(b"\x93NUMPY") || data.len() < 10 {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let major = data[6];
    let (len, start) = match major {
        1 => (u16::from_le_bytes([data[8], data[9]]) as usize, 10usize),
        2 | 3 => {
            if data.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (
                u32::from_le_bytes(data[8..12].try_into().unwrap()) as usize,
                12,
            )
        }
        v => return Err(format!(".npy version {v} is not supported")),
    };
    let header = data
        .get(start..start.saturating_add(len))
        .ok_or("truncated .npy header")?;
    let header = String::from_utf8_lossy(header);
    let descr = field(&header, "descr").ok_or("the .npy header has no 'descr'")?;
    let descr = descr
        .trim_start_matches(['\'', '"'])
        .split(['\'', '"'])
        .next()
        .unwrap_or("")
        .to_string();
    let fortran = field(&header, "fortran_order").is_some_and(|f| f.starts_with("True"));
    let shape_text = field(&header, "shape").ok_or("the .npy header has no 'shape'")?;
    let inner = shape_text
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or("");
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("bad .npy shape {shape_text}"))
        })
        .collect::<Result<_, _>>()?;
    let (dtype, width) = match descr.trim_start_matches(['<', '>', '=', '|']) {
        "f4" => (Dtype::F32, 4),
        "f8" => (Dtype::F64, 8),
        "f2" => (Dtype::F16, 2),
        _ => return Err(format!("the .npy array holds {descr}, not floats")),
    };
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(width))
        .ok_or("the .npy shape overflows")?;
    let body = &data[start + len..];
    if body.len() < n {
        return Err(format!(
            "the .npy array of shape {shape:?} needs {n} bytes, the file has {}",
            body.len()
        ));
    }
    Ok(Array {
        dtype,
        descr: descr.clone(),
        big_endian: descr.starts_with('>'),
        shape,
        fortran,
        data: Rc::from(&body[..n]),
    })
}

/// The text after `'key':` up to the next top-level comma (a tuple counts as one value).
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    Some(rest)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_v1_header() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }";
        let mut data = b"\x93NUMPY\x01\x00".to_vec();
        data.extend_from_slice(&(header.len() as u16).to_le_bytes());
        data.extend_from_slice(header.as_bytes());
        data.extend_from_slice(&1f32.to_le_bytes());
        data.extend_from_slice(&2f32.to_le_bytes());
        let a = super::parse(&data).unwrap();
        assert_eq!(a.shape, vec![2, 1]);
        assert_eq!(a.to_f32().unwrap(), vec![1.0, 2.0]);
        assert!(super::parse(&data[..data.len() - 1]).is_err());
    }
}
