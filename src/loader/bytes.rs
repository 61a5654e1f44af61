//! Byte-level helpers shared by detection and the parsers: separators, lines and fields,
//! words decoded from file bytes, and file bytes made safe to show in messages.

pub(super) fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) fn is_blank(s: &[u8]) -> bool {
    s.iter().all(|&b| is_space(b))
}

pub(super) fn is_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

pub(super) fn parse_u64(s: &[u8]) -> Option<u64> {
    if !is_digits(s) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The line starting at `start` without its `\n`, and where the next line starts.
pub(super) fn line_at(data: &[u8], start: usize) -> (&[u8], usize) {
    match memchr::memchr(b'\n', &data[start..]) {
        Some(i) => (&data[start..start + i], start + i + 1),
        None => (&data[start..], data.len()),
    }
}

/// CRLF and trailing blanks are common in the wild and never meaningful.
pub(super) fn trim_line_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = line {
        line = rest;
    }
    line
}

pub(super) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_sep(b)).filter(|f| !f.is_empty())
}

/// For error messages: lossy, and short enough to read.
/// File bytes never reach a terminal raw: controls, DEL, bidi overrides and invalid UTF-8
/// are escaped (`crate::text`).
pub(super) fn show(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let cut = bytes.len() > 4 * MAX;
    let s = crate::text::escape_bytes(&bytes[..bytes.len().min(4 * MAX)]);
    if cut || s.chars().count() > MAX {
        let mut short: String = s.chars().take(MAX).collect();
        short.push('…');
        short
    } else {
        s
    }
}

/// Words that are not UTF-8 are kept (lossily) rather than rejected: one bad byte in a
/// 400k-word vocabulary should not make the file unusable.
pub(super) fn decode_word(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    }
}
