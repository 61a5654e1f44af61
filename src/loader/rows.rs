//! Row bookkeeping shared by all formats: duplicates, the limit, the lossy and spaced
//! counts, and handing the kept rows to the sink.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::{Batch, Format, LoadError, LoadReport};

/// Words with spaces the build report shows.
const SPACED_EXAMPLES: usize = 5;

pub(super) struct Rows<'s> {
    sink: &'s mut dyn FnMut(Batch) -> anyhow::Result<()>,
    seen: Seen,
    limit: Option<usize>,
    /// Rows read from the file (kept or duplicate), for the header's count check.
    pub(super) read: u64,
    pub(super) kept: usize,
    pub(super) duplicates: usize,
    pub(super) lossy: usize,
    pub(super) spaced: usize,
    pub(super) spaced_examples: Vec<String>,
    /// The label of every row of the file, in file order (`set_labels`): each kept row's goes
    /// with it into its batch.
    labels: Option<Vec<i64>>,
    /// The token weight of every row (`set_weights`), handed on like the labels.
    weights: Option<Vec<f32>>,
}

impl<'s> Rows<'s> {
    /// The load's report from what these rows counted (the spaced examples taken); no subwords
    /// and no content hash, which the formats that have them set.
    pub(super) fn report(
        &mut self,
        format: Format,
        compression: &'static str,
        member: Option<String>,
        dims: usize,
        header: Option<(u64, u64)>,
    ) -> LoadReport {
        LoadReport {
            format,
            compression,
            member,
            dims,
            words: self.kept,
            duplicates: self.duplicates,
            lossy_words: self.lossy,
            latin1_words: 0,
            header,
            spaced_words: self.spaced,
            spaced_examples: std::mem::take(&mut self.spaced_examples),
            subwords: None,
            notes: Vec::new(),
            content_hash: None,
            model: None,
            row_encoding: Default::default(),
        }
    }

    pub(super) fn new(
        sink: &'s mut dyn FnMut(Batch) -> anyhow::Result<()>,
        limit: Option<usize>,
    ) -> Self {
        Rows {
            sink,
            seen: Seen::default(),
            limit,
            read: 0,
            kept: 0,
            duplicates: 0,
            lossy: 0,
            spaced: 0,
            spaced_examples: Vec::new(),
            labels: None,
            weights: None,
        }
    }

    /// The file labels its rows: `labels[i]` is the label of its row `i` (before duplicates
    /// and the limit), handed on with the rows that are kept.
    pub(super) fn set_labels(&mut self, labels: Vec<i64>) {
        self.labels = Some(labels);
    }

    /// The file weights its rows (model2vec): `weights[i]` is the weight of its row `i`.
    pub(super) fn set_weights(&mut self, weights: Vec<f32>) {
        self.weights = Some(weights);
    }

    /// The limit is reached: stop reading, and skip end-of-file checks.
    pub(super) fn full(&self) -> bool {
        self.limit.is_some_and(|limit| self.kept >= limit)
    }

    /// How many more rows may be read without passing the limit (duplicates aside).
    pub(super) fn room(&self) -> usize {
        self.limit
            .map_or(usize::MAX, |limit| limit.saturating_sub(self.kept))
    }

    /// Drops duplicates and rows past the limit, then hands the rest to the sink.
    /// `hashes` are the words' `word_hash`; `lossy` lists (ascending) the indices of words
    /// that were decoded lossily.
    pub(super) fn push(
        &mut self,
        mut words: Vec<String>,
        mut vectors: Vec<f32>,
        mut offsets: Option<Vec<u64>>,
        hashes: &[u64],
        lossy: &[usize],
        dims: usize,
    ) -> Result<(), LoadError> {
        let mut lossy = lossy.iter().peekable();
        let mut keep = 0;
        let mut labels = self
            .labels
            .as_ref()
            .map(|_| Vec::with_capacity(words.len()));
        let mut weights = self
            .weights
            .as_ref()
            .map(|_| Vec::with_capacity(words.len()));
        for i in 0..words.len() {
            if self.full() {
                break;
            }
            let row = self.read as usize;
            self.read += 1;
            let was_lossy = lossy.next_if_eq(&&i).is_some();
            if !self.seen.insert(hashes[i], &words[i]) {
                self.duplicates += 1;
                continue;
            }
            self.lossy += usize::from(was_lossy);
            if words[i].contains([' ', '\t']) {
                self.spaced += 1;
                if self.spaced_examples.len() < SPACED_EXAMPLES {
                    self.spaced_examples.push(words[i].clone());
                }
            }
            if keep != i {
                words.swap(keep, i);
                vectors.copy_within(i * dims..(i + 1) * dims, keep * dims);
                if let Some(offsets) = offsets.as_mut() {
                    offsets[keep] = offsets[i];
                }
            }
            if let (Some(out), Some(all)) = (labels.as_mut(), self.labels.as_ref()) {
                out.push(all.get(row).copied().unwrap_or_default());
            }
            if let (Some(out), Some(all)) = (weights.as_mut(), self.weights.as_ref()) {
                out.push(all.get(row).copied().unwrap_or_default());
            }
            keep += 1;
            self.kept += 1;
        }
        if keep == 0 {
            return Ok(());
        }
        words.truncate(keep);
        vectors.truncate(keep * dims);
        if let Some(offsets) = offsets.as_mut() {
            offsets.truncate(keep);
        }
        (self.sink)(Batch {
            words,
            vectors,
            offsets,
            labels,
            weights,
        })
        .map_err(LoadError::Sink)
    }
}

/// The set of words seen so far. A `HashSet<String>` would clone every word and SipHash
/// it, which made duplicate detection the slowest serial step of a load; instead words are
/// keyed by a fast 64-bit hash and their bytes kept in one arena to confirm matches.
#[derive(Default)]
struct Seen {
    by_hash: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    arena: Vec<u8>,
    /// End offset in `arena` of each word; a word starts where the previous one ends.
    ends: Vec<usize>,
    /// Words whose hash equals that of a different earlier word (vanishingly rare).
    collided: HashSet<String>,
}

impl Seen {
    /// Records `word`; false if it was seen before.
    fn insert(&mut self, hash: u64, word: &str) -> bool {
        match self.by_hash.entry(hash) {
            Entry::Vacant(slot) => {
                slot.insert(self.ends.len() as u32);
                self.arena.extend_from_slice(word.as_bytes());
                self.ends.push(self.arena.len());
                true
            }
            Entry::Occupied(slot) => {
                let i = *slot.get() as usize;
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                if &self.arena[start..self.ends[i]] == word.as_bytes() {
                    false
                } else {
                    self.collided.insert(word.to_owned())
                }
            }
        }
    }
}

/// FxHash-style mixing over 8-byte chunks, finished with murmur3's avalanche so that both
/// the bucket bits and the tag bits hashbrown uses are well spread.
pub(super) fn word_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, chunk: u64| (h.rotate_left(5) ^ chunk).wrapping_mul(K);
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h = mix(h, u64::from_le_bytes(chunk.try_into().unwrap()));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let last = rest.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        h = mix(h, last);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Keys of `Seen::by_hash` are already hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
