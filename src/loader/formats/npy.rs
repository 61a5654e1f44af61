//! numpy's `.npy` files, as gensim writes large arrays beside its pickles
//! (`x.kv.vectors.npy`): a magic, a Python-dict header, then the raw array.

use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;
use std::rc::Rc;

use super::pickle::{Array, Dtype};

/// A `.npy` header: what the array is and where its bytes are.
struct Header {
    dtype: Dtype,
    descr: String,
    shape: Vec<usize>,
    fortran: bool,
    /// Offset of the array's bytes in the file.
    start: usize,
    /// How many bytes the array takes.
    bytes: usize,
}

/// The longest header read from a sidecar (version 1 headers are at most 64 KiB; version 2
/// headers this long are not numpy's).
const MAX_HEADER: usize = 1 << 20;

/// Parses a `.npy` file's bytes into an array, or says what is wrong.
pub fn parse(data: &[u8]) -> Result<Array, String> {
    let h = header(data)?;
    let body = &data[h.start..];
    if body.len() < h.bytes {
        return Err(short(&h, body.len() as u64));
    }
    let n = h.bytes;
    Ok(array(h, Rc::from(&body[..n])))
}

/// Reads the `.npy` file at `path` with the protections of the main file: only a regular
/// file is read (a FIFO, a device such as `/dev/zero` or a directory is refused without
/// reading; opening does not block), and the size the header announces is checked against
/// the file's before the array is read, so the read is bounded by the file.
pub fn read(path: &Path) -> Result<Array, String> {
    let file = crate::loader::source::open_nonblocking(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "something else"
        };
        return Err(format!(
            "not a regular file ({kind}); a .npy array must be one"
        ));
    }
    let len = meta.len();
    let mut head = vec![0u8; (len.min(MAX_HEADER as u64)) as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| e.to_string())?;
    let h = header(&head)?;
    let have = len.saturating_sub(h.start as u64);
    if have < h.bytes as u64 {
        return Err(short(&h, have));
    }
    let mut body = vec![0u8; h.bytes];
    file.read_exact_at(&mut body, h.start as u64)
        .map_err(|e| e.to_string())?;
    Ok(array(h, Rc::from(body)))
}

fn array(h: Header, data: Rc<[u8]>) -> Array {
    Array {
        dtype: h.dtype,
        big_endian: h.descr.starts_with('>'),
        descr: h.descr,
        shape: h.shape,
        fortran: h.fortran,
        data,
    }
}

fn short(h: &Header, have: u64) -> String {
    format!(
        "the .npy array of shape {:?} needs {} bytes, the file has {have}",
        h.shape, h.bytes
    )
}

/// The magic, version and header dict at the start of `data`.
fn header(data: &[u8]) -> Result<Header, String> {
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
    let bytes = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(width))
        .ok_or("the .npy shape overflows")?;
    Ok(Header {
        dtype,
        descr,
        shape,
        fortran,
        start: start + len,
        bytes,
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
