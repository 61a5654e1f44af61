//! Other tools' file formats: one reader module per format, each parsing bytes into words and
//! vectors (and an n-gram table where the model has one) without knowing the loader, and here
//! the glue (`load_<name>`) that hands what a reader found to the loader's rows. How a new
//! format plugs in: see the [loader's docs](super).

pub mod fasttext;
pub mod gensim;
pub mod items;
pub mod npy;
pub mod pickle;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use super::bytes::{decode_word, show};
use super::rows::{word_hash, Rows};
use super::{
    Format, LoadError, LoadReport, Location, Problem, SubwordBatch, Subwords, BINARY_BATCH,
};

/// Hands one batch of rows read into memory to `rows`: the values of `words[i]` are
/// `vectors[i * dims..(i + 1) * dims]`, and it is row `first + i + 1` of the file (for
/// messages). A value that is not finite refuses the file, naming the word. Formats that
/// read their rows into memory (pickles, fastText models) hand them over through here.
fn push_rows<W: AsRef<[u8]>>(
    rows: &mut Rows,
    label: &str,
    first: usize,
    words: &[W],
    vectors: Vec<f32>,
    dims: usize,
) -> Result<(), LoadError> {
    let mut decoded = Vec::with_capacity(words.len());
    let mut hashes = Vec::with_capacity(words.len());
    let mut lossy = Vec::new();
    for (i, bytes) in words.iter().enumerate() {
        let bytes = bytes.as_ref();
        let (word, was_lossy) = decode_word(bytes);
        if was_lossy {
            lossy.push(i);
        }
        if let Some(j) = vectors[i * dims..(i + 1) * dims]
            .iter()
            .position(|v| !v.is_finite())
        {
            return Err(LoadError::Data {
                location: Location::File {
                    file: label.to_owned(),
                },
                problem: Problem::BinaryNotFinite {
                    word: show(bytes),
                    row: (first + i + 1) as u64,
                    index: j + 1,
                    dims,
                    value: vectors[i * dims + j],
                },
            });
        }
        hashes.push(word_hash(word.as_bytes()));
        decoded.push(word);
    }
    rows.push(decoded, vectors, None, &hashes, &lossy, dims)
}

// ---------------------------------------------------------------------------------------
// Pickles: gensim's saved vectors and pickled dicts
// ---------------------------------------------------------------------------------------

pub(super) fn load_pickled(
    path: &Path,
    file: &File,
    label: &str,
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let map = map_file(file, label)?;
    load_pickled_bytes(path, &map, "none", label, rows, subword_sink)
}

/// A decompressed stream that starts like a pickle (`head`, then the rest in `reader`): read
/// whole and handed to the pickle reader, as a plain file is. `None` when it is no pickle,
/// or `--format` names another format; then `head` and `reader` are text or word2vec binary.
#[allow(clippy::too_many_arguments)]
pub(super) fn load_pickled_stream(
    path: &Path,
    head: &[u8],
    reader: &mut dyn Read,
    compression: &'static str,
    format: Option<Format>,
    label: &str,
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<Option<LoadReport>, LoadError> {
    if !matches!(format, None | Some(Format::Gensim | Format::Pickle)) || !pickle::sniff(head) {
        return Ok(None);
    }
    let mut data = head.to_vec();
    reader.read_to_end(&mut data).map_err(|err| LoadError::Io {
        file: label.to_owned(),
        err,
    })?;
    load_pickled_bytes(path, &data, compression, label, rows, subword_sink).map(Some)
}

fn load_pickled_bytes(
    path: &Path,
    data: &[u8],
    compression: &'static str,
    label: &str,
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let v = gensim::read(path, data).map_err(|e| LoadError::Data {
        location: match e.offset {
            Some(offset) => Location::Offset {
                file: label.to_owned(),
                offset,
            },
            None => Location::File {
                file: label.to_owned(),
            },
        },
        problem: Problem::Pickle(e.message),
    })?;
    let dims = v.dims;
    let mut subwords = None;
    if let Some((minn, maxn, buckets, ngrams)) = &v.ngrams {
        for (i, rows) in ngrams.chunks(BINARY_BATCH * dims).enumerate() {
            subword_sink(SubwordBatch {
                first: i * BINARY_BATCH,
                dims,
                vectors: rows.to_vec(),
            })
            .map_err(LoadError::Sink)?;
        }
        subwords = Some(Subwords {
            model: v.kind.clone(),
            minn: *minn,
            maxn: *maxn,
            buckets: *buckets,
        });
    }
    for (start, chunk) in v.words.chunks(BINARY_BATCH).enumerate() {
        if rows.full() {
            break;
        }
        let first = start * BINARY_BATCH;
        let take = chunk.len().min(rows.room());
        let vectors = v.vectors[first * dims..(first + take) * dims].to_vec();
        push_rows(rows, label, first, &chunk[..take], vectors, dims)?;
    }
    let format = if v.gensim {
        Format::Gensim
    } else {
        Format::Pickle
    };
    // Pickled words are reported without a spaced count, as they always were.
    Ok(LoadReport {
        spaced_words: 0,
        spaced_examples: Vec::new(),
        // Among the rows read (the limit may stop before the end).
        latin1_words: v.latin1.iter().filter(|&&i| (i as u64) < rows.read).count(),
        subwords,
        ..rows.report(format, compression, None, dims, None)
    })
}

// ---------------------------------------------------------------------------------------
// Model files: fastText .bin
// ---------------------------------------------------------------------------------------

fn map_file(file: &File, label: &str) -> Result<memmap2::Mmap, LoadError> {
    // SAFETY: as in `load_mapped`: read-only, private to this call.
    unsafe { memmap2::Mmap::map(file) }.map_err(|source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    })
}

/// fastText's `.bin`: the n-gram rows go to `subword_sink`, then each dictionary word with
/// the vector fastText writes to its `.vec` (the word row averaged with its n-gram rows).
pub(super) fn load_fasttext(
    file: &File,
    len: u64,
    label: &str,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
    subword_sink: &mut dyn FnMut(SubwordBatch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let map = map_file(file, label)?;
    let model = fasttext::parse(&map).map_err(|e| LoadError::Data {
        location: Location::Offset {
            file: label.to_owned(),
            offset: e.offset,
        },
        problem: Problem::FastText(e.problem),
    })?;
    let dims = model.dims();
    let total_rows = (model.words.len() + model.buckets()).max(1) as u64;
    let progress = |done: usize| on_progress(done as u64 * len / total_rows, len);

    let mut first = 0;
    while first < model.buckets() {
        let count = BINARY_BATCH.min(model.buckets() - first);
        let vectors = model.ngram_rows(first, count);
        if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(LoadError::Data {
                location: Location::File {
                    file: label.to_owned(),
                },
                problem: Problem::FastText(fasttext::Problem::Dictionary(format!(
                    "n-gram row {} has a value that is not finite ({})",
                    first + i / dims,
                    vectors[i]
                ))),
            });
        }
        subword_sink(SubwordBatch {
            first,
            dims,
            vectors,
        })
        .map_err(LoadError::Sink)?;
        first += count;
        progress(first);
    }

    let mut start = 0;
    while start < model.words.len() && !rows.full() {
        let end = model.words.len().min(start + BINARY_BATCH.min(rows.room()));
        let mut vectors = vec![0f32; (end - start) * dims];
        vectors
            .par_chunks_mut(dims)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (i, out)| {
                model.word_vector(start + i, out, scratch)
            });
        push_rows(rows, label, start, &model.words[start..end], vectors, dims)?;
        progress(model.buckets() + end);
        start = end;
    }
    let args = &model.args;
    Ok(LoadReport {
        subwords: Some(Subwords {
            model: format!("fastText {} ({})", args.model_name(), model.layout),
            minn: args.minn as usize,
            maxn: args.maxn as usize,
            buckets: model.buckets(),
        }),
        ..rows.report(Format::FastTextBin, "none", None, dims, None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_rows_hands_over_decoded_unique_words_and_refuses_non_finite_values() {
        let mut batches = Vec::new();
        let mut sink = |batch| {
            batches.push(batch);
            Ok(())
        };
        let mut rows = Rows::new(&mut sink, None);
        let words: [&[u8]; 3] = [b"a", b"b\xff", b"a"];
        push_rows(
            &mut rows,
            "f.kv",
            0,
            &words,
            vec![1., 2., 3., 4., 5., 6.],
            2,
        )
        .unwrap();
        assert_eq!((rows.kept, rows.duplicates, rows.lossy), (2, 1, 1));

        let words = [b"c".to_vec(), b"d".to_vec()];
        let err = push_rows(&mut rows, "f.kv", 10, &words, vec![1., 2., 3., f32::NAN], 2);
        match err {
            Err(LoadError::Data { location, problem }) => {
                assert_eq!(location.to_string(), "f.kv");
                assert!(matches!(
                    problem,
                    Problem::BinaryNotFinite { row: 12, index: 2, dims: 2, ref word, .. } if word == "d"
                ));
            }
            other => panic!("expected a data error, got {other:?}"),
        }
        drop(rows);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].words, ["a", "b\u{fffd}"]);
        assert_eq!(batches[0].vectors, [1., 2., 3., 4.]);
    }
}
