//! Format detection from the start of the stream: the header line, the dimensions, text or
//! binary, and the early refusals (UTF-16, NUL bytes, model files under the wrong name).

use super::bytes::{
    fields, is_blank, is_digits, is_space, line_at, parse_u64, show, trim_line_end,
};
use super::formats;
use super::{Format, LoadError, Location, Problem, MAX_DIMS};

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub(super) format: Format,
    pub(super) header: Option<(u64, u64)>,
    pub(super) dims: usize,
    /// Offset in the (decompressed) stream where rows begin.
    pub(super) data_start: usize,
    /// Line number of the first row (text only).
    pub(super) first_line: u64,
}

/// Works out format, header and dimensions from the start of the stream. `head` must hold
/// at least the first line and, after a header, the first row's word plus its vector.
pub(super) fn detect(head: &[u8], forced: Option<Format>) -> Result<Layout, (At, Problem)> {
    // Plain model files never get here (`load` reads them); compressed ones do.
    if formats::fasttext::sniff(head).is_some() {
        return Err((At::File, Problem::FastTextModel));
    }
    if forced == Some(Format::FastTextBin) {
        return Err((
            At::File,
            Problem::FastText(formats::fasttext::Problem::NotFastText),
        ));
    }
    // Pickles are read by `load` before this; forced on text, they must not read it as text.
    if matches!(forced, Some(Format::Gensim | Format::Pickle)) {
        return Err((
            At::File,
            Problem::Pickle(
                "not a Python pickle: --format gensim and pickle read .kv, .model and .pkl \
                 files, plain or gzipped"
                    .to_owned(),
            ),
        ));
    }
    let start = &head[..head.len().min(64)];
    if !start.is_empty() && start.iter().all(|&b| b == 0) {
        return Err((At::File, Problem::NulBytes));
    }
    if looks_utf16(start) {
        return Err((At::File, Problem::Utf16));
    }
    let bom = if head.starts_with(BOM) { BOM.len() } else { 0 };
    let (first, next) = line_at(head, bom);
    let first = trim_line_end(first);

    if is_blank(first) {
        return Err(if is_blank(&head[next..]) {
            (At::File, Problem::Empty)
        } else {
            (At::Line(1), Problem::BlankLine)
        });
    }

    let header = match forced {
        Some(Format::Glove) => match parse_header(first) {
            Some((count, dims)) => {
                return Err((At::Line(1), Problem::HeaderUnderGlove { count, dims }))
            }
            None => None,
        },
        Some(_) => Some(parse_header(first).ok_or_else(|| bad_header(first))?),
        None => guess_header(first)?,
    };

    let Some((count, dims)) = header else {
        let dims = fields(first).count() - 1;
        if dims == 0 {
            return Err((At::Line(1), Problem::NoValues));
        }
        // The same limit as for a header's dims.
        if dims as u64 > MAX_DIMS {
            return Err((At::Line(1), Problem::TooManyValues { found: dims }));
        }
        return Ok(Layout {
            format: Format::Glove,
            header: None,
            dims,
            data_start: bom,
            first_line: 1,
        });
    };

    if dims == 0 || dims > MAX_DIMS {
        return Err((At::Line(1), Problem::BadHeaderDims { dims }));
    }
    let dims = dims as usize;
    let Some(word_start) = head[next..].iter().position(|b| !is_space(*b)) else {
        return Err((At::File, Problem::HeaderOnly { count }));
    };
    let format = match forced {
        Some(format) => format,
        None if looks_binary(&head[next + word_start..], dims) => Format::Word2VecBinary,
        None => Format::Word2VecText,
    };
    Ok(Layout {
        format,
        header: Some((count, dims as u64)),
        dims,
        data_start: next,
        first_line: 2,
    })
}

/// A byte-order mark of UTF-16, or text whose every other byte is NUL (ASCII in UTF-16).
pub(super) fn looks_utf16(start: &[u8]) -> bool {
    if start.starts_with(&[0xff, 0xfe]) || start.starts_with(&[0xfe, 0xff]) {
        return true;
    }
    let pairs = start.len() / 2;
    if pairs < 4 {
        return false;
    }
    let even_nul = start.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_nul = start.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    // One half all NUL, the other none: binary floats are never that regular.
    (even_nul == pairs && odd_nul == 0) || (odd_nul == pairs && even_nul == 0)
}

/// A [`Location`] without the file name, which the callers of `detect` add.
#[derive(Debug, Clone, Copy)]
pub(super) enum At {
    Line(u64),
    File,
}

impl At {
    fn with(self, file: &str) -> Location {
        let file = file.to_owned();
        match self {
            At::Line(line) => Location::Line { file, line },
            At::File => Location::File { file },
        }
    }
}

fn bad_header(line: &[u8]) -> (At, Problem) {
    (At::Line(1), Problem::BadHeader { line: show(line) })
}

/// `count dims`, two unsigned integers and nothing else.
fn parse_header(line: &[u8]) -> Option<(u64, u64)> {
    let mut f = fields(line);
    let count = parse_u64(f.next()?)?;
    let dims = parse_u64(f.next()?)?;
    f.next().is_none().then_some((count, dims))
}

/// A first line that starts with an integer and has at most one more field is meant as a
/// header (and must be one), unless it reads as a 1-dimensional GloVe row such as `7 0.25`.
fn guess_header(line: &[u8]) -> Result<Option<(u64, u64)>, (At, Problem)> {
    let f: Vec<&[u8]> = fields(line).take(3).collect();
    match f[..] {
        [a] if is_digits(a) => Err(bad_header(line)),
        [a, b] if is_digits(a) => {
            if let Some(header) = parse_header(line) {
                Ok(Some(header))
            } else if !is_digits(b) && fast_float2::parse::<f32, _>(b).is_ok() {
                Ok(None)
            } else {
                Err(bad_header(line))
            }
        }
        _ => Ok(None),
    }
}

/// word2vec binary stores raw little-endian floats right after the word; a text row has
/// printable characters up to its newline. Float bytes hit a control character almost
/// surely within a few values (zero vectors are all NUL bytes). Only the first row is
/// looked at, because words further on may contain anything.
fn looks_binary(row: &[u8], dims: usize) -> bool {
    let Some(space) = memchr::memchr2(b' ', b'\t', row) else {
        return false;
    };
    let after = &row[space + 1..];
    let window = &after[..after.len().min(dims * 4)];
    let is_control = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\r')) || b == 0x7f;
    match window.iter().position(|&b| b == b'\n' || is_control(b)) {
        None => false,
        Some(i) if window[i] != b'\n' => true,
        // Either the end of a text row or a 0x0A byte inside a float: a text row ends
        // with a number.
        Some(i) => fields(trim_line_end(&window[..i]))
            .last()
            .is_none_or(|last| fast_float2::parse::<f32, _>(last).is_err()),
    }
}

pub(super) fn data_error(label: &str, at: At, problem: Problem) -> LoadError {
    LoadError::Data {
        location: at.with(label),
        problem,
    }
}
