//! word2vec's C binary format: a text header, then each word followed by its raw
//! little-endian f32 values.

use std::io::{self, BufRead};

use super::bytes::{decode_word, is_space, show};
use super::detect::Layout;
use super::rows::{word_hash, Rows};
use super::source::{read_up_to, Progress};
use super::{LoadError, Location, Problem, BINARY_BATCH, BINARY_BATCH_VALUES, MAX_BINARY_WORD};

/// Sequential: the bytes are already floats, so there is little work to spread out.
pub(super) fn parse_binary(
    reader: &mut dyn BufRead,
    label: &str,
    layout: &Layout,
    progress: &Progress,
    rows: &mut Rows,
    in_place: bool,
) -> Result<(), LoadError> {
    let dims = layout.dims;
    let count = layout.header.map_or(0, |(count, _)| count);
    let mut offset = layout.data_start as u64;
    let at = |offset: u64, problem: Problem| LoadError::Data {
        location: Location::Offset {
            file: label.to_owned(),
            offset,
        },
        problem,
    };
    let io_err = |source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    };

    let mut word = Vec::new();
    let mut raw = vec![0u8; dims * 4];
    let mut row = 0u64;
    while row < count && !rows.full() {
        // Never read past the limit: rows beyond it may be truncated or corrupt.
        let batch_rows = (BINARY_BATCH_VALUES / dims)
            .clamp(1, BINARY_BATCH)
            .min(rows.room()) as u64;
        let batch_rows = batch_rows.min(count - row) as usize;
        let mut words = Vec::with_capacity(batch_rows);
        let mut vectors = Vec::with_capacity(batch_rows * dims);
        let mut lossy = Vec::new();
        let mut hashes = Vec::with_capacity(batch_rows);
        // `offset` counts from the start of the file only when it is read in place.
        let mut offsets = in_place.then(|| Vec::with_capacity(batch_rows));
        for _ in 0..batch_rows {
            row += 1;
            // Vectors end with an optional newline; a space right there is an empty word.
            let buf = reader.fill_buf().map_err(io_err)?;
            let lead = buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if buf.get(lead) == Some(&b' ') {
                return Err(at(offset + lead as u64, Problem::EmptyWord { row }));
            }
            offset += skip_space(reader).map_err(io_err)?;
            let word_start = offset;
            match read_word(reader, &mut word).map_err(io_err)? {
                WordEnd::Space => {}
                WordEnd::Eof if word.is_empty() => {
                    return Err(at(
                        offset,
                        Problem::TooFewRows {
                            expected: count,
                            found: row - 1,
                        },
                    ));
                }
                WordEnd::Eof => {
                    return Err(at(word_start, Problem::TruncatedWord { row, count }));
                }
                WordEnd::TooLong => return Err(at(word_start, Problem::WordTooLong { row })),
            }
            offset += word.len() as u64 + 1;
            let found = read_up_to(reader, &mut raw).map_err(io_err)?;
            if found < raw.len() {
                let problem = Problem::TruncatedVector {
                    word: show(&word),
                    row,
                    count,
                    expected: raw.len(),
                    found,
                };
                return Err(at(offset, problem));
            }
            let start = vectors.len();
            vectors.extend(
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            if let Some(i) = vectors[start..].iter().position(|v| !v.is_finite()) {
                let problem = Problem::BinaryNotFinite {
                    word: show(&word),
                    row,
                    index: i + 1,
                    dims,
                    value: vectors[start + i],
                };
                return Err(at(offset + 4 * i as u64, problem));
            }
            if let Some(offsets) = offsets.as_mut() {
                offsets.push(offset);
            }
            offset += raw.len() as u64;
            let (w, was_lossy) = decode_word(&word);
            if was_lossy {
                lossy.push(words.len());
            }
            hashes.push(word_hash(w.as_bytes()));
            words.push(w);
        }
        rows.push(words, vectors, offsets, &hashes, &lossy, dims)?;
        progress.at(offset);
    }
    if rows.full() {
        return Ok(());
    }
    offset += skip_space(reader).map_err(io_err)?;
    if !reader.fill_buf().map_err(io_err)?.is_empty() {
        return Err(at(offset, Problem::TooManyRows { expected: count }));
    }
    Ok(())
}

enum WordEnd {
    Space,
    Eof,
    TooLong,
}

/// word2vec writes a newline after each vector and some writers do not; skipping
/// whitespace before a word handles both.
fn skip_space(reader: &mut dyn BufRead) -> io::Result<u64> {
    let mut skipped = 0;
    loop {
        let buf = reader.fill_buf()?;
        let len = buf.len();
        let n = buf.iter().position(|&b| !is_space(b)).unwrap_or(len);
        reader.consume(n);
        skipped += n as u64;
        if n < len || len == 0 {
            return Ok(skipped);
        }
    }
}

/// Reads up to the space that ends a word (consumed, not stored).
fn read_word(reader: &mut dyn BufRead, word: &mut Vec<u8>) -> io::Result<WordEnd> {
    word.clear();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(WordEnd::Eof);
        }
        if let Some(i) = memchr::memchr(b' ', buf) {
            word.extend_from_slice(&buf[..i]);
            reader.consume(i + 1);
            return Ok(if word.len() > MAX_BINARY_WORD {
                WordEnd::TooLong
            } else {
                WordEnd::Space
            });
        }
        let n = buf.len();
        word.extend_from_slice(buf);
        reader.consume(n);
        if word.len() > MAX_BINARY_WORD {
            return Ok(WordEnd::TooLong);
        }
    }
}
