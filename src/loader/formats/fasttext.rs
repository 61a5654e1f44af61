//! fastText's native model files (`.bin`): the header, the dictionary and the input matrix,
//! read in place from a byte slice (the loader memory-maps the file), and fastText's
//! character n-gram hashing, which gives unknown words a vector.
//!
//! Two layouts exist. The current one (since 2017) starts with the magic 793712314 and a
//! version (11 or 12), and has a pruning-index size in the dictionary and a "quantized" flag
//! before each matrix. The older one starts directly with the arguments and has neither.
//! Only unsupervised models (cbow, skipgram) hold word vectors; supervised and quantized
//! (`.ftz`) models are refused with a message that says so.
//!
//! Our own reader rather than the `finalfusion` crate: finalfusion reads only the current
//! layout, refuses quantized models without saying why we could not either, copies the whole
//! matrix into RAM and brings ndarray and its own storage formats along. Here the loader hands
//! the n-gram rows straight from the map to the index, and both layouts are 300 lines.

use std::fmt;

/// `int32` at the start of current-layout files.
pub const MAGIC: i32 = 793_712_314;
/// The newest layout version we know (fastText 0.9 writes 12; 11 differs only in meaning).
pub const MAX_VERSION: i32 = 12;
/// Dimensions beyond this mean a corrupt header, not a model.
const MAX_DIMS: i32 = 1 << 20;
/// A dictionary word longer than this means we are reading garbage.
const MAX_WORD: usize = 64 << 10;
/// The longest character n-gram a model may ask for; real models use 3 to 6. A larger `maxn`
/// is a corrupt or hostile header (hashing costs grow with it).
pub const MAX_NGRAM: usize = 64;

/// Which of the two file layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    /// Magic and version first (fastText since 2017).
    Current { version: i32 },
    /// No magic: the arguments come first (gensim's `lee_fasttext.bin`).
    Pre2017,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::Current { version } => write!(f, "version {version}"),
            Layout::Pre2017 => f.write_str("pre-2017 layout"),
        }
    }
}

/// fastText's training arguments as stored in the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub dim: i32,
    pub ws: i32,
    pub epoch: i32,
    pub min_count: i32,
    pub neg: i32,
    pub word_ngrams: i32,
    pub loss: i32,
    /// 1 cbow, 2 skipgram, 3 supervised.
    pub model: i32,
    pub bucket: i32,
    pub minn: i32,
    pub maxn: i32,
    pub lr_update_rate: i32,
    pub t: f64,
}

impl Args {
    pub fn model_name(&self) -> &'static str {
        match self.model {
            1 => "cbow",
            2 => "skipgram",
            _ => "supervised",
        }
    }
}

/// A parsed model, borrowing the file's bytes.
#[derive(Debug)]
pub struct Model<'a> {
    pub layout: Layout,
    pub args: Args,
    /// Dictionary words in file order (fastText sorts them by frequency), raw bytes.
    pub words: Vec<&'a [u8]>,
    pub ntokens: i64,
    /// The input matrix, `(words + bucket) × dim` little-endian f32: word rows, then n-gram rows.
    matrix: &'a [u8],
}

/// What is wrong with a model file, and the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("not a fastText model: no magic number and no plausible pre-2017 header")]
    NotFastText,
    #[error("fastText model version {0} is newer than this vecsh reads (up to {MAX_VERSION})")]
    Version(i32),
    #[error("file ends inside the {0}")]
    Truncated(&'static str),
    #[error("fastText header: {field} = {value} is out of range")]
    BadArg { field: &'static str, value: i64 },
    #[error("fastText header: maxn = {maxn}; n-grams of 0 to {MAX_NGRAM} characters are supported (real models use 3 to 6)")]
    MaxN { maxn: i32 },
    #[error("fastText header: minn = {minn} is above maxn = {maxn}")]
    MinAboveMax { minn: i32, maxn: i32 },
    #[error("this is a supervised fastText model (a classifier, {labels} labels): it has no word vectors to explore")]
    Supervised { labels: i32 },
    #[error("this is a quantized fastText model (.ftz): its vectors are compressed by product quantization, which vecsh does not decode; use the unquantized .bin or the .vec file")]
    Quantized,
    #[error("this fastText model has a pruned dictionary (pruning index of {0} entries), which only quantized models have; vecsh does not read it")]
    Pruned(i64),
    #[error("fastText dictionary: {0}")]
    Dictionary(String),
    #[error("fastText input matrix is {rows} × {cols}; expected {expected_rows} × {expected_cols} (words + buckets × dims)")]
    MatrixShape {
        rows: i64,
        cols: i64,
        expected_rows: i64,
        expected_cols: i64,
    },
}

/// A problem at a byte offset of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub offset: u64,
    pub problem: Problem,
}

/// Whether the file starts like a fastText model of either layout. The current layout has
/// a magic number; the old one is recognised by a header of plausible arguments, which no
/// text file (ASCII digits and letters) and no word2vec binary (an ASCII header) can be.
pub fn sniff(head: &[u8]) -> Option<Layout> {
    let int = |i: usize| {
        head.get(i * 4..i * 4 + 4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
    };
    if int(0)? == MAGIC {
        return Some(Layout::Current {
            version: int(1).unwrap_or(0),
        });
    }
    // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate
    let v: Vec<i32> = (0..12).map(int).collect::<Option<_>>()?;
    let t = f64::from_le_bytes(head.get(48..56)?.try_into().unwrap());
    let plausible = (1..=MAX_DIMS).contains(&v[0])
        && (1..=10_000).contains(&v[1])
        && (1..=1_000_000).contains(&v[2])
        && v[3] >= 0
        && (0..=10_000).contains(&v[4])
        && (1..=100).contains(&v[5])
        && (1..=4).contains(&v[6])
        && (1..=3).contains(&v[7])
        && v[8] >= 0
        && (0..=1000).contains(&v[9])
        && (0..=1000).contains(&v[10])
        && v[11] >= 0
        && t.is_finite()
        && (0.0..=1.0).contains(&t);
    plausible.then_some(Layout::Pre2017)
}

/// A bounds-checked little-endian reader over the file's bytes.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        match self.data.get(self.at..self.at.saturating_add(n)) {
            Some(bytes) if self.at.checked_add(n).is_some() => {
                self.at += n;
                Ok(bytes)
            }
            _ => Err(self.error(Problem::Truncated(what))),
        }
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, Error> {
        Ok(i64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn f64(&mut self, what: &'static str) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }
    fn error(&self, problem: Problem) -> Error {
        Error {
            offset: self.at as u64,
            problem,
        }
    }
}

/// Parses the header, dictionary and input matrix. The output matrix (training state) is
/// not needed for vectors and is not read.
///
/// One piece (150 lines): it reads the file front to back in fastText's own order (arguments,
/// dictionary, matrix header, matrix), each check next to the field it checks.
pub fn parse(data: &[u8]) -> Result<Model<'_>, Error> {
    let mut c = Cursor { data, at: 0 };
    let layout = sniff(data).unwrap_or(Layout::Pre2017);
    if let Layout::Current { version } = layout {
        c.take(4, "header")?;
        c.i32("header")?;
        if !(1..=MAX_VERSION).contains(&version) {
            return Err(Error {
                offset: 4,
                problem: Problem::Version(version),
            });
        }
    }
    let mut ints = [0i32; 12];
    for v in &mut ints {
        *v = c.i32("header")?;
    }
    let t = c.f64("header")?;
    let [dim, ws, epoch, min_count, neg, word_ngrams, loss, model, bucket, minn, maxn, lr_update_rate] =
        ints;
    let args = Args {
        dim,
        ws,
        epoch,
        min_count,
        neg,
        word_ngrams,
        loss,
        model,
        bucket,
        minn,
        maxn,
        lr_update_rate,
        t,
    };
    let header_at = if layout == Layout::Pre2017 { 0 } else { 8 };
    let bad = |field, value: i32, index: usize| Error {
        offset: (header_at + index * 4) as u64,
        problem: Problem::BadArg {
            field,
            value: value as i64,
        },
    };
    if !(1..=MAX_DIMS).contains(&dim) {
        return Err(bad("dim", dim, 0));
    }
    if bucket < 0 {
        return Err(bad("bucket", bucket, 8));
    }
    if minn < 0 {
        return Err(bad("minn", minn, 9));
    }
    if maxn < 0 || maxn as usize > MAX_NGRAM {
        return Err(Error {
            offset: (header_at + 10 * 4) as u64,
            problem: Problem::MaxN { maxn },
        });
    }
    // maxn 0 is fastText's "no subwords", which keeps the default minn (3).
    if maxn > 0 && minn > maxn {
        return Err(Error {
            offset: (header_at + 9 * 4) as u64,
            problem: Problem::MinAboveMax { minn, maxn },
        });
    }

    let dict_at = c.at as u64;
    let size = c.i32("dictionary")?;
    let nwords = c.i32("dictionary")?;
    let nlabels = c.i32("dictionary")?;
    if nlabels > 0 || model == 3 {
        return Err(Error {
            offset: dict_at,
            problem: Problem::Supervised {
                labels: nlabels.max(0),
            },
        });
    }
    if size < 0 || nwords < 0 || nlabels < 0 || size != nwords + nlabels {
        return Err(Error {
            offset: dict_at,
            problem: Problem::Dictionary(format!(
                "{size} entries, {nwords} words and {nlabels} labels do not add up"
            )),
        });
    }
    let ntokens = c.i64("dictionary")?;
    let pruneidx_size = match layout {
        Layout::Current { .. } => c.i64("dictionary")?,
        Layout::Pre2017 => -1,
    };
    if pruneidx_size > 0 {
        return Err(c.error(Problem::Pruned(pruneidx_size)));
    }
    // Capacity is bounded by the bytes left: each entry takes at least 10 of them.
    let mut words = Vec::with_capacity((nwords as usize).min(data.len() / 10));
    for i in 0..size {
        let start = c.at;
        let rest = &data[start..];
        let Some(len) = memchr::memchr(0, &rest[..rest.len().min(MAX_WORD + 1)]) else {
            return Err(if rest.len() > MAX_WORD {
                c.error(Problem::Dictionary(format!(
                    "word {} of {size} is longer than {MAX_WORD} bytes",
                    i + 1
                )))
            } else {
                c.error(Problem::Truncated("dictionary"))
            });
        };
        let word = c.take(len + 1, "dictionary")?;
        c.i64("dictionary")?; // count
        let kind = c.u8("dictionary")?;
        if kind != 0 {
            return Err(Error {
                offset: start as u64,
                problem: Problem::Dictionary(format!(
                    "entry {} of {size} has type {kind}, expected 0 (a word)",
                    i + 1
                )),
            });
        }
        words.push(&word[..len]);
    }
    if layout != Layout::Pre2017 {
        // A pruning index of 0 entries (pruneidx_size == 0) would mean "every n-gram pruned".
        if pruneidx_size == 0 {
            return Err(c.error(Problem::Pruned(0)));
        }
        if c.u8("matrix header")? != 0 {
            return Err(c.error(Problem::Quantized));
        }
    }
    let matrix_at = c.at as u64;
    let rows = c.i64("matrix header")?;
    let cols = c.i64("matrix header")?;
    let expected_rows = nwords as i64 + bucket as i64;
    if rows != expected_rows || cols != dim as i64 {
        return Err(Error {
            offset: matrix_at,
            problem: Problem::MatrixShape {
                rows,
                cols,
                expected_rows,
                expected_cols: dim as i64,
            },
        });
    }
    let bytes = (rows as usize)
        .checked_mul(cols as usize)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| c.error(Problem::Truncated("input matrix")))?;
    let matrix = c.take(bytes, "input matrix")?;
    Ok(Model {
        layout,
        args,
        words,
        ntokens,
        matrix,
    })
}

impl Model<'_> {
    pub fn dims(&self) -> usize {
        self.args.dim as usize
    }

    pub fn buckets(&self) -> usize {
        self.args.bucket as usize
    }

    /// Row `row` of the input matrix (word rows first, then n-gram rows), added into `out`.
    fn add_row(&self, row: usize, out: &mut [f32]) {
        let dims = self.dims();
        let bytes = &self.matrix[row * dims * 4..(row + 1) * dims * 4];
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o += f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    /// The vector fastText writes to the `.vec` for dictionary word `index`: its own row
    /// averaged with the rows of its character n-grams (gensim's `adjust_vectors`, summed in
    /// the same order in f32 so the values agree to the last bits).
    pub fn word_vector(&self, index: usize, out: &mut [f32], scratch: &mut Vec<u32>) {
        out.fill(0.0);
        self.add_row(index, out);
        scratch.clear();
        self.ngram_buckets(self.words[index], scratch);
        for &b in scratch.iter() {
            self.add_row(self.words.len() + b as usize, out);
        }
        let n = (scratch.len() + 1) as f32;
        for o in out.iter_mut() {
            *o /= n;
        }
    }

    /// N-gram rows `first..first + count` as f32 (the bucket matrix, for the index).
    pub fn ngram_rows(&self, first: usize, count: usize) -> Vec<f32> {
        let dims = self.dims();
        let start = (self.words.len() + first) * dims * 4;
        self.matrix[start..start + count * dims * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    pub fn ngram_buckets(&self, word: &[u8], out: &mut Vec<u32>) {
        ngram_buckets(
            word,
            self.args.minn as usize,
            self.args.maxn as usize,
            self.args.bucket as u32,
            out,
        );
    }
}

/// fastText's string hash: 32-bit FNV-1a, except that each byte is sign-extended
/// (`int8_t` → `uint32_t`) before the xor. For ASCII this is plain FNV-1a; for every
/// byte ≥ 0x80 (all of non-ASCII UTF-8) it differs, and so would every bucket.
pub fn hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// Appends the buckets of `word`'s character n-grams, as fastText's `computeSubwords`:
/// the word is wrapped in `<` `>`, n-grams of `minn..=maxn` characters (UTF-8 sequences,
/// not bytes) are taken at every character, except the lone `<` and `>`, each hashed and
/// taken modulo `bucket`. Duplicates stay (fastText sums them twice). Nothing is appended
/// when `bucket` is 0 or `maxn` is 0.
///
/// The n-grams starting at one character share their prefix, so each one's hash continues
/// the previous one's: a word costs O(length × maxn) byte steps, not O(length × maxn²).
pub fn ngram_buckets(word: &[u8], minn: usize, maxn: usize, bucket: u32, out: &mut Vec<u32>) {
    if bucket == 0 || maxn == 0 {
        return;
    }
    let mut w = Vec::with_capacity(word.len() + 2);
    w.push(b'<');
    w.extend_from_slice(word);
    w.push(b'>');
    let len = w.len();
    let continuation = |b: u8| b & 0xC0 == 0x80;
    for i in 0..len {
        if continuation(w[i]) {
            continue;
        }
        let mut h: u32 = 2_166_136_261;
        let mut j = i;
        let mut n = 1;
        while j < len && n <= maxn {
            // One more character: its bytes continue the hash.
            loop {
                h ^= w[j] as i8 as i32 as u32;
                h = h.wrapping_mul(16_777_619);
                j += 1;
                if j >= len || !continuation(w[j]) {
                    break;
                }
            }
            if n >= minn && !(n == 1 && (i == 0 || j == len)) {
                out.push(h % bucket);
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sign_extends_bytes() {
        // Plain FNV-1a 32 of "a" is 0xe40c292c; ASCII is unaffected by sign extension.
        assert_eq!(hash(b"a"), 0xe40c_292c);
        // 'é' is C3 A9: sign-extended it hashes differently from plain FNV-1a.
        let plain = b"\xC3\xA9".iter().fold(2_166_136_261u32, |h, &b| {
            (h ^ b as u32).wrapping_mul(16_777_619)
        });
        assert_ne!(hash("é".as_bytes()), plain);
    }

    #[test]
    fn ngrams_are_over_characters_with_boundaries() {
        // "<ab>" with minn 1, maxn 2: "<a" "a" "ab" "b" "b>" (no lone "<" or ">").
        let mut got = Vec::new();
        ngram_buckets(b"ab", 1, 2, u32::MAX, &mut got);
        let want: Vec<u32> = ["<a", "a", "ab", "b", "b>"]
            .iter()
            .map(|g| hash(g.as_bytes()) % u32::MAX)
            .collect();
        assert_eq!(got, want);
        // A two-byte character counts as one.
        let mut got = Vec::new();
        ngram_buckets("é".as_bytes(), 3, 3, u32::MAX, &mut got);
        assert_eq!(got, vec![hash("<é>".as_bytes()) % u32::MAX]);
    }

    /// The incremental hashes equal each n-gram hashed on its own (the plain definition).
    #[test]
    fn incremental_hashes_equal_each_ngram_hashed_alone() {
        fn plain(word: &[u8], minn: usize, maxn: usize, bucket: u32) -> Vec<u32> {
            let mut w = vec![b'<'];
            w.extend_from_slice(word);
            w.push(b'>');
            let starts: Vec<usize> = (0..w.len()).filter(|&i| w[i] & 0xC0 != 0x80).collect();
            let mut out = Vec::new();
            for (a, &i) in starts.iter().enumerate() {
                for n in 1..=maxn {
                    let Some(&j) = starts
                        .get(a + n)
                        .or((a + n == starts.len()).then_some(&w.len()))
                    else {
                        break;
                    };
                    if n >= minn && !(n == 1 && (i == 0 || j == w.len())) {
                        out.push(hash(&w[i..j]) % bucket);
                    }
                }
            }
            out
        }
        let words: [&[u8]; 6] = [
            b"a",
            b"word",
            "žluťoučký".as_bytes(),
            "naïve café".as_bytes(),
            "\u{1F600}x\u{e9}".as_bytes(),
            b"\xff\xfe\xc3",
        ];
        for word in words {
            for (minn, maxn) in [(1, 1), (1, 3), (3, 6), (2, 64), (5, 4)] {
                let mut got = Vec::new();
                ngram_buckets(word, minn, maxn, 2_000_003, &mut got);
                let want = plain(word, minn, maxn, 2_000_003);
                assert_eq!(got, want, "{word:?} {minn} {maxn}");
            }
        }
    }

    #[test]
    fn no_ngrams_when_maxn_or_bucket_is_zero() {
        let mut got = Vec::new();
        ngram_buckets(b"word", 0, 0, 100, &mut got);
        ngram_buckets(b"word", 3, 6, 0, &mut got);
        assert!(got.is_empty());
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let data = std::fs::read("tests/fixtures/formats/toy-model.bin").unwrap();
        for len in 0..data.len() {
            let _ = parse(&data[..len]);
        }
        assert!(parse(&data).is_ok());
    }
}
