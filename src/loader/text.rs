//! GloVe and word2vec text: rows parsed in parallel pieces, then handed over in file order
//! (line numbers, blank lines and the header's row count are settled there).

use rayon::prelude::*;

use super::bytes::{decode_word, is_blank, is_sep, line_at, show, trim_line_end};
use super::decimal::parse_short_decimal;
use super::detect::{data_error, At, Layout};
use super::rows::{word_hash, Rows};
use super::{LoadError, Problem};

/// Pieces smaller than this cost more in scheduling than they gain in parallelism.
const MIN_PIECE: usize = 64 << 10;

/// Cuts `data` into consecutive slices of about `target` bytes, each ending after a `\n`
/// (except possibly the last).
pub(super) fn split_lines(data: &[u8], target: usize) -> Vec<&[u8]> {
    let target = target.max(1);
    let mut out = Vec::with_capacity(data.len() / target + 1);
    let mut start = 0;
    while start < data.len() {
        let want = start + target;
        let end = if want >= data.len() {
            data.len()
        } else {
            memchr::memchr(b'\n', &data[want..]).map_or(data.len(), |i| want + i + 1)
        };
        out.push(&data[start..end]);
        start = end;
    }
    out
}

/// Rows parsed from one piece of text. Line numbers are relative to the piece's first
/// line (0-based) because the absolute ones are only known once earlier pieces are counted.
pub(super) struct Piece {
    words: Vec<String>,
    /// `word_hash` of each word, computed here because it parallelises.
    hashes: Vec<u64>,
    vectors: Vec<f32>,
    lossy: Vec<usize>,
    bytes: usize,
    lines: u64,
    /// First line of a run of blank lines at the end of the piece: an error only if a
    /// row follows in a later piece.
    blank_tail: Option<u64>,
    /// The first problem; parsing of the piece stops there.
    error: Option<(u64, Problem)>,
}

pub(super) fn parse_block(block: &[u8], dims: usize) -> Vec<Piece> {
    let target = block
        .len()
        .div_ceil(rayon::current_num_threads() * 4)
        .max(MIN_PIECE);
    split_lines(block, target)
        .into_par_iter()
        .map(|piece| parse_piece(piece, dims))
        .collect()
}

fn parse_piece(text: &[u8], dims: usize) -> Piece {
    // The vectors go to the sink as they are: sized exactly, they waste no memory there
    // and never reallocate here. Counting lines first costs far less than parsing.
    // A value takes at least two bytes ("0 "), which bounds the reservation when a
    // corrupt header claims absurd dimensions.
    let rows = memchr::memchr_iter(b'\n', text).count() + 1;
    let mut piece = Piece {
        words: Vec::with_capacity(rows),
        hashes: Vec::with_capacity(rows),
        vectors: Vec::with_capacity((rows * dims).min(text.len() / 2 + 1)),
        lossy: Vec::new(),
        bytes: text.len(),
        lines: 0,
        blank_tail: None,
        error: None,
    };
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let (line, next) = line_at(text, pos);
        pos = next;
        let line = trim_line_end(line);
        let rel = piece.lines;
        piece.lines += 1;
        if line.is_empty() {
            piece.blank_tail.get_or_insert(rel);
            continue;
        }
        if let Some(blank) = piece.blank_tail {
            piece.error = Some((blank, Problem::BlankLine));
            break;
        }
        if let Err(problem) = parse_row(line, dims, &mut piece, &mut spans) {
            piece.error = Some((rel, problem));
            break;
        }
    }
    piece
}

fn parse_row(
    line: &[u8],
    dims: usize,
    piece: &mut Piece,
    spans: &mut Vec<(usize, usize)>,
) -> Result<(), Problem> {
    let word_end = memchr::memchr2(b' ', b'\t', line).unwrap_or(line.len());
    let before = piece.vectors.len();
    let word = if word_end > 0 && parse_values(&line[word_end..], dims, &mut piece.vectors) {
        &line[..word_end]
    } else {
        piece.vectors.truncate(before);
        parse_row_slowly(line, dims, &mut piece.vectors, spans)?
    };
    let (word, lossy) = decode_word(word);
    if lossy {
        piece.lossy.push(piece.words.len());
    }
    piece.hashes.push(word_hash(word.as_bytes()));
    piece.words.push(word);
    Ok(())
}

/// The common case: one-token word followed by exactly `dims` finite values.
#[inline]
fn parse_values(mut s: &[u8], dims: usize, out: &mut Vec<f32>) -> bool {
    for _ in 0..dims {
        while let [b' ' | b'\t', rest @ ..] = s {
            s = rest;
        }
        // The short path's values are always finite: only fast-float's are checked, so no
        // branch waits on the short path's division (measured 5–11 % faster a value).
        let (value, n) = match parse_short_decimal(s) {
            Some(parsed) => parsed,
            None => match fast_float2::parse_partial::<f32, _>(s) {
                Ok(parsed) if parsed.0.is_finite() => parsed,
                _ => return false,
            },
        };
        s = &s[n..];
        if s.first().is_some_and(|&b| !is_sep(b)) {
            return false;
        }
        out.push(value);
    }
    is_blank(s)
}

/// Words with spaces (GloVe 840B has them) and all errors: the last `dims` fields are the
/// vector, everything before them is the word, spacing as in the file.
fn parse_row_slowly<'l>(
    line: &'l [u8],
    dims: usize,
    out: &mut Vec<f32>,
    spans: &mut Vec<(usize, usize)>,
) -> Result<&'l [u8], Problem> {
    spans.clear();
    let mut i = 0;
    while i < line.len() {
        if is_sep(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && !is_sep(line[i]) {
            i += 1;
        }
        spans.push((start, i));
    }
    if spans.len() <= dims {
        return Err(Problem::WrongValueCount {
            expected: dims,
            found: spans.len().saturating_sub(1),
        });
    }
    let first_value = spans.len() - dims;
    // A word with spaces ("new york") is text; extra leading fields that are all numbers
    // are a row with too many values.
    if first_value > 1
        && spans[1..first_value]
            .iter()
            .all(|&(start, end)| fast_float2::parse::<f32, _>(&line[start..end]).is_ok())
    {
        return Err(Problem::RaggedRow {
            expected: dims,
            found: spans.len() - 1,
        });
    }
    for (index, &(start, end)) in spans[first_value..].iter().enumerate() {
        let token = &line[start..end];
        let value = fast_float2::parse::<f32, _>(token).map_err(|_| Problem::NotANumber {
            token: show(token),
            index: index + 1,
            dims,
        })?;
        if !value.is_finite() {
            // "inf", "nan" (any case, signed) say so; any other spelling is a number too
            // large for f32.
            let spelled = token.strip_prefix(b"-").or(token.strip_prefix(b"+"));
            let spelled = spelled.unwrap_or(token);
            if !value.is_nan()
                && !spelled
                    .get(..3)
                    .is_some_and(|s| s.eq_ignore_ascii_case(b"inf"))
            {
                return Err(Problem::Overflow {
                    token: show(token),
                    index: index + 1,
                    dims,
                });
            }
            return Err(Problem::NotFinite {
                token: show(token),
                index: index + 1,
                dims,
            });
        }
        out.push(value);
    }
    Ok(trim_line_end(&line[..spans[first_value].0]))
}

/// What carries over from piece to piece: line numbers, a pending blank line, the header.
pub(super) struct TextState<'a> {
    label: &'a str,
    dims: usize,
    header_count: Option<u64>,
    /// Absolute number of the first line of the next piece.
    line: u64,
    pending_blank: Option<u64>,
}

impl<'a> TextState<'a> {
    pub(super) fn new(label: &'a str, layout: &Layout) -> Self {
        TextState {
            label,
            dims: layout.dims,
            header_count: layout.header.map(|(count, _)| count),
            line: layout.first_line,
            pending_blank: None,
        }
    }

    fn error(&self, line: u64, problem: Problem) -> LoadError {
        data_error(self.label, At::Line(line), problem)
    }

    /// Hands the pieces' rows over in order and reports the first problem in file order;
    /// problems after the limit is reached do not count, as those rows are never read.
    pub(super) fn feed(
        &mut self,
        pieces: Option<Vec<Piece>>,
        rows: &mut Rows,
        mut after_piece: impl FnMut(usize),
    ) -> Result<(), LoadError> {
        for piece in pieces.into_iter().flatten() {
            if rows.full() {
                return Ok(());
            }
            let has_content = !piece.words.is_empty() || piece.error.is_some();
            if let (Some(blank), true) = (self.pending_blank, has_content) {
                return Err(self.error(blank, Problem::BlankLine));
            }
            let mut words = piece.words;
            let mut vectors = piece.vectors;
            let mut too_many = None;
            if let Some(count) = self.header_count {
                let room = count.saturating_sub(rows.read);
                if words.len() as u64 > room {
                    too_many = Some(self.line + room);
                    words.truncate(room as usize);
                    vectors.truncate(room as usize * self.dims);
                }
            }
            rows.push(words, vectors, None, &piece.hashes, &piece.lossy, self.dims)?;
            if rows.full() {
                return Ok(());
            }
            if let (Some(line), Some(expected)) = (too_many, self.header_count) {
                return Err(self.error(line, Problem::TooManyRows { expected }));
            }
            if let Some((rel, problem)) = piece.error {
                return Err(self.error(self.line + rel, problem));
            }
            if let Some(rel) = piece.blank_tail {
                self.pending_blank.get_or_insert(self.line + rel);
            }
            self.line += piece.lines;
            after_piece(piece.bytes);
        }
        Ok(())
    }

    /// End-of-file checks, skipped when the limit cut the file short.
    pub(super) fn finish(&self, rows: &Rows) -> Result<(), LoadError> {
        if rows.full() {
            return Ok(());
        }
        if rows.read == 0 {
            return Err(data_error(self.label, At::File, Problem::Empty));
        }
        match self.header_count {
            Some(expected) if rows.read < expected => Err(self.error(
                self.line - 1,
                Problem::TooFewRows {
                    expected,
                    found: rows.read,
                },
            )),
            _ => Ok(()),
        }
    }
}
