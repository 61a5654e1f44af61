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
    let dict = literal::dict(header, start)?;
    let descr = match dict.get("descr") {
        Some((_, literal::Value::Str(d))) => d.clone(),
        Some((at, literal::Value::List)) => {
            return Err(format!(
                "the .npy array has a structured dtype (byte offset {at}), not floats"
            ))
        }
        Some((at, other)) => {
            return Err(format!(
                "the .npy header's 'descr' is {} (byte offset {at}), not a dtype",
                other.shown()
            ))
        }
        None => return Err("the .npy header has no 'descr'".into()),
    };
    let fortran = match dict.get("fortran_order") {
        Some((_, literal::Value::Bool(b))) => *b,
        // numpy raises on anything else ("fortran_order is not a valid bool").
        Some((at, other)) => {
            return Err(format!(
                "the .npy header's 'fortran_order' is {} (byte offset {at}), not True or False",
                other.shown()
            ))
        }
        None => return Err("the .npy header has no 'fortran_order'".into()),
    };
    let shape: Vec<usize> = match dict.get("shape") {
        Some((at, literal::Value::Tuple(dims))) => dims
            .iter()
            .map(|&d| {
                usize::try_from(d).map_err(|_| {
                    format!("the .npy header's 'shape' has a dimension {d} (byte offset {at})")
                })
            })
            .collect::<Result<_, _>>()?,
        Some((at, other)) => {
            return Err(format!(
                "the .npy header's 'shape' is {} (byte offset {at}), not a tuple of sizes",
                other.shown()
            ))
        }
        None => return Err("the .npy header has no 'shape'".into()),
    };
    if let Some((key, at)) = dict.extra() {
        return Err(format!(
            "the .npy header has a key '{}' (byte offset {at}) besides 'descr', 'fortran_order' and 'shape'; numpy refuses it",
            crate::text::escape(key)
        ));
    }
    let (dtype, width) = match descr.trim_start_matches(['<', '>', '=', '|']) {
        "f4" => (Dtype::F32, 4),
        "f8" => (Dtype::F64, 8),
        "f2" => (Dtype::F16, 2),
        _ => {
            return Err(format!(
                "the .npy array holds {}, not float16, float32 or float64",
                dtype_name(&descr)
            ))
        }
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

/// A numpy dtype string as a reader knows it: `<f16` is a long double (16 bytes), not the
/// float16 that "f16" suggests.
pub fn dtype_name(descr: &str) -> String {
    let bare = descr.trim_start_matches(['<', '>', '=', '|']);
    let (kind, size) = bare.split_at(
        bare.find(|c: char| c.is_ascii_digit())
            .unwrap_or(bare.len()),
    );
    let bits = size.parse::<usize>().map(|n| n * 8).ok();
    let name = match (kind, bits) {
        ("f", Some(16)) => "float16".to_owned(),
        ("f", Some(32)) => "float32".to_owned(),
        ("f", Some(64)) => "float64".to_owned(),
        ("f", Some(96 | 128)) => "long double".to_owned(),
        ("c", Some(b)) => format!("complex{b}"),
        ("i", Some(b)) => format!("int{b}"),
        ("u", Some(b)) => format!("uint{b}"),
        ("b", Some(8)) | ("?", _) => "bool".to_owned(),
        ("O", _) => "Python objects".to_owned(),
        ("U" | "S" | "a", _) => "strings".to_owned(),
        _ => return crate::text::escape(descr).into_owned(),
    };
    format!("{name} ({})", crate::text::escape(descr))
}

/// The header's Python literal, read as numpy's `safe_eval` reads it (a dict of strings,
/// booleans and tuples of ints), where a value numpy would read otherwise or refuse is found:
/// a key given twice (numpy takes the last), a name that is not `True`/`False`.
mod literal {
    use std::collections::HashMap;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Str(String),
        Bool(bool),
        Int(i128),
        Tuple(Vec<i128>),
        /// A list (a structured dtype's fields): skipped.
        List,
        /// Anything else (`Maybe`, `None`): its text.
        Other(String),
    }

    impl Value {
        pub fn shown(&self) -> String {
            let text = match self {
                Value::Str(s) => format!("'{s}'"),
                Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
                Value::Int(i) => i.to_string(),
                Value::Tuple(t) => format!("{t:?}"),
                Value::List => "a list".to_owned(),
                Value::Other(o) => o.clone(),
            };
            crate::text::escape(&text).into_owned()
        }
    }

    /// The keys and values, each value with the file offset where it starts.
    pub struct Dict(HashMap<String, (usize, Value)>, Vec<(String, usize)>);

    impl Dict {
        pub fn get(&self, key: &str) -> Option<&(usize, Value)> {
            self.0.get(key)
        }
        /// A key other than numpy's three, and its offset.
        pub fn extra(&self) -> Option<(&str, usize)> {
            self.1
                .iter()
                .find(|(k, _)| !matches!(k.as_str(), "descr" | "fortran_order" | "shape"))
                .map(|(k, at)| (k.as_str(), *at))
        }
    }

    struct P<'a> {
        s: &'a [u8],
        at: usize,
        base: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.s.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
                self.at += 1;
            }
        }
        fn off(&self) -> usize {
            self.base + self.at
        }
        fn err(&self, what: &str) -> String {
            format!(
                "the .npy header is not a Python dict literal: {what} at byte offset {}",
                self.off()
            )
        }
        fn eat(&mut self, b: u8) -> bool {
            self.ws();
            if self.s.get(self.at) == Some(&b) {
                self.at += 1;
                true
            } else {
                false
            }
        }
        fn string(&mut self) -> Result<String, String> {
            let q = self.s[self.at];
            let start = self.at + 1;
            let len = self.s[start..]
                .iter()
                .position(|&b| b == q || b == b'\\')
                .ok_or_else(|| self.err("an unterminated string"))?;
            if self.s[start + len] != q {
                return Err(self.err("an escape in a string"));
            }
            self.at = start + len + 1;
            String::from_utf8(self.s[start..start + len].to_vec())
                .map_err(|_| self.err("a string that is not UTF-8"))
        }
        fn int(&mut self) -> Result<i128, String> {
            let start = self.at;
            if matches!(self.s.get(self.at), Some(b'-' | b'+')) {
                self.at += 1;
            }
            while self
                .s
                .get(self.at)
                .is_some_and(|b| b.is_ascii_digit() || *b == b'_')
            {
                self.at += 1;
            }
            let text = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
            text.replace('_', "")
                .parse()
                .map_err(|_| self.err("a number out of range"))
        }
        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.s.get(self.at) {
                Some(b'\'' | b'"') => self.string().map(Value::Str),
                Some(b'(') => {
                    self.at += 1;
                    let mut items = Vec::new();
                    loop {
                        if self.eat(b')') {
                            return Ok(Value::Tuple(items));
                        }
                        self.ws();
                        if !self
                            .s
                            .get(self.at)
                            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+'))
                        {
                            return Err(self.err("a tuple of something other than integers"));
                        }
                        items.push(self.int()?);
                        if !self.eat(b',') {
                            if self.eat(b')') {
                                return Ok(Value::Tuple(items));
                            }
                            return Err(self.err("a tuple without ')'"));
                        }
                    }
                }
                Some(b'[') => {
                    // A list of fields: skipped to its matching ']' (strings may hold brackets).
                    let mut depth = 0usize;
                    while let Some(&b) = self.s.get(self.at) {
                        match b {
                            b'[' | b'(' => depth += 1,
                            b']' | b')' => {
                                depth -= 1;
                                if depth == 0 {
                                    self.at += 1;
                                    return Ok(Value::List);
                                }
                            }
                            b'\'' | b'"' => {
                                self.string()?;
                                continue;
                            }
                            _ => {}
                        }
                        self.at += 1;
                    }
                    Err(self.err("a list without ']'"))
                }
                Some(b) if b.is_ascii_digit() || matches!(b, b'-' | b'+') => {
                    self.int().map(Value::Int)
                }
                Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                    let start = self.at;
                    while self
                        .s
                        .get(self.at)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    {
                        self.at += 1;
                    }
                    Ok(match &self.s[start..self.at] {
                        b"True" => Value::Bool(true),
                        b"False" => Value::Bool(false),
                        name => Value::Other(String::from_utf8_lossy(name).into_owned()),
                    })
                }
                _ => Err(self.err("an unexpected character")),
            }
        }
    }

    /// Parses `text`, which starts at file offset `base`.
    pub fn dict(text: &[u8], base: usize) -> Result<Dict, String> {
        let mut p = P {
            s: text,
            at: 0,
            base,
        };
        if !p.eat(b'{') {
            return Err(p.err("no '{'"));
        }
        let mut map = HashMap::new();
        let mut order = Vec::new();
        loop {
            if p.eat(b'}') {
                break;
            }
            p.ws();
            if !matches!(p.s.get(p.at), Some(b'\'' | b'"')) {
                return Err(p.err("a key that is not a string"));
            }
            let key_at = p.off();
            let key = p.string()?;
            if !p.eat(b':') {
                return Err(p.err("no ':' after a key"));
            }
            p.ws();
            let value_at = p.off();
            let value = p.value()?;
            if map.contains_key(&key) {
                return Err(format!(
                    "the .npy header names '{}' twice (the second at byte offset {key_at}); numpy would take the last",
                    crate::text::escape(&key)
                ));
            }
            order.push((key.clone(), key_at));
            map.insert(key, (value_at, value));
            if !p.eat(b',') {
                if p.eat(b'}') {
                    break;
                }
                return Err(p.err("no ',' or '}' after a value"));
            }
        }
        p.ws();
        if p.at < p.s.len() {
            return Err(p.err("text after the dict"));
        }
        Ok(Dict(map, order))
    }
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
