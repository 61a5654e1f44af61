//! How much disk a first build needs: LMDB's page arithmetic for a table written in key order,
//! and the estimate a full disk's message gives.
//!
//! The build's map only ever covers space allocated before a transaction (`write::Room`), so
//! each transaction asks for an upper bound of the pages it can take; what a build needs on disk
//! is the largest of those asks. Bounds that are too loose make a build refuse a disk it would
//! fit on (the word → id table was asked for 2.5 times its size: a 46 MB index needed 68 MB
//! free); bounds that are too tight end a build with LMDB's "map full".

/// LMDB's page header and node header, in bytes (`PAGEHDRSZ`, `NODESIZE` in mdb.c).
const PAGE_HEADER: usize = 16;
const NODE_HEADER: usize = 8;
/// A node's entry in its page's pointer table (`indx_t`).
const POINTER: usize = 2;

/// What a table written in key order (`MDB_APPEND`) takes: its entries' nodes, the largest of
/// them and their keys, and the overflow pages of large values.
pub(super) struct AppendedTable {
    page: usize,
    nodes: usize,
    max_node: usize,
    max_key: usize,
    overflow_pages: usize,
}

impl AppendedTable {
    pub(super) fn new(page: usize) -> AppendedTable {
        AppendedTable {
            page,
            nodes: 0,
            max_node: 0,
            max_key: 0,
            overflow_pages: 0,
        }
    }

    /// One entry of a `key`-byte key and a `value`-byte value (`mdb_leaf_size`): a value that
    /// would make the node larger than a page's `nodemax` goes to overflow pages of its own.
    pub(super) fn add(&mut self, key: usize, value: usize) {
        let node_max = (((self.page - PAGE_HEADER) / 2) & !1) - POINTER;
        let mut node = NODE_HEADER + key + value;
        if node > node_max {
            node = NODE_HEADER + key + 8;
            self.overflow_pages += (PAGE_HEADER - 1 + value) / self.page + 1;
        }
        let node = (node + POINTER).next_multiple_of(2);
        self.nodes += node;
        self.max_node = self.max_node.max(node);
        self.max_key = self.max_key.max(key);
    }

    /// An upper bound of the bytes the entries take when appended to a table: LMDB fills a leaf
    /// page until the next node does not fit and starts a new one (each leaf wastes less than
    /// the largest node); each leaf adds a branch entry, and a branch page splits in half;
    /// the page appended to and the pages on the way down are copied once (copy-on-write).
    pub(super) fn bytes(&self) -> usize {
        if self.nodes == 0 {
            return 0;
        }
        let usable = self.page - PAGE_HEADER;
        let leaves = self.nodes.div_ceil(usable - self.max_node);
        let branch_node = (NODE_HEADER + self.max_key + POINTER).next_multiple_of(2);
        let per_branch = (usable / 2 / branch_node).max(2);
        let (mut level, mut branches) = (leaves, 0);
        while level > 1 {
            level = level.div_ceil(per_branch);
            branches += level;
        }
        // The last leaf and its path copied, and the root and freelist pages a commit writes.
        let copied = 8;
        (leaves + branches + self.overflow_pages + copied) * self.page
    }
}

/// What a build had seen when the disk filled, extrapolated to the whole source.
pub(super) struct BuildShape {
    /// Rows of the whole source (extrapolated from what was read).
    pub(super) rows: f64,
    pub(super) dims: usize,
    /// Mean bytes of a word.
    pub(super) word_bytes: f64,
    /// The unit rows stay in the source (8-byte offsets are stored instead).
    pub(super) in_source: bool,
    /// Bytes of fastText n-gram rows (extrapolated).
    pub(super) ngram_bytes: f64,
    /// What the principal-component stage reserves (`pc_stage::pc_reserve`), 0 without one.
    pub(super) pc_bytes: f64,
    pub(super) page: usize,
}

/// Bytes of free space a first build of this shape needs: the finished index (each chunk's
/// three values on overflow pages, both word tables, the n-grams and the stage), plus the slack
/// `Room::ensure` asks for beyond its largest transaction, and LMDB's lock file.
pub(super) fn build_need(shape: &BuildShape, rows_per_chunk: usize) -> u64 {
    let page = shape.page as f64;
    let rows = shape.rows.max(0.0);
    let unit_row = if shape.in_source { 8 } else { shape.dims * 4 };
    let row = (unit_row + crate::search::quant_stride(shape.dims) + 4) as f64;
    let chunks = (rows / rows_per_chunk as f64).ceil();
    // Three values per chunk, each on its own overflow run (at most a page of slack each).
    let chunk_bytes = rows * row + chunks * 3.0 * page;
    // A word's node in each word table (`AppendedTable::add`), and pages about 2 % short of
    // full with their branch pages.
    let node = ((NODE_HEADER + 4 + POINTER) as f64 + shape.word_bytes + 1.0) * 1.02;
    let words = 2.0 * rows * node + 16.0 * page;
    let whole = chunk_bytes + words + shape.ngram_bytes + shape.pc_bytes;
    // `Room::ensure` keeps an eighth of a transaction's need and 2 MiB free beyond it; the
    // largest transaction is a chunk of rows or of n-grams, the stage or a word table.
    let ngram_chunk = shape
        .ngram_bytes
        .min((rows_per_chunk * shape.dims * 4) as f64);
    let largest = (rows.min(rows_per_chunk as f64) * row)
        .max(ngram_chunk)
        .max(rows * node)
        .max(shape.pc_bytes);
    // The map is allocated in whole MiB; LMDB's lock file, the marker and the proof.
    let rounding = (1 << 20) as f64;
    let lock = 64.0 * 1024.0;
    (whole + largest / 8.0 + (2 << 20) as f64 + rounding + lock) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_stay_in_the_node_and_large_ones_go_to_overflow_pages() {
        let mut t = AppendedTable::new(4096);
        t.add(4, 10);
        assert_eq!(t.nodes, (8 + 4 + 10 + 2));
        assert_eq!(t.overflow_pages, 0);
        t.add(4, 5000);
        // 16 + 5000 bytes: two pages; the node keeps a page number.
        assert_eq!(t.overflow_pages, 2);
        assert_eq!(t.nodes, 24 + 22);
    }

    /// The bound against LMDB itself: tables written in key order with short and long keys,
    /// and values small, near a page's node limit and on overflow pages, take no more pages
    /// than `bytes` says, and not much fewer.
    #[test]
    fn the_bound_holds_for_tables_lmdb_writes() {
        use heed::types::Bytes;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        // (entries, longest key, longest value, how loose the bound may be in %): word -> id,
        // id -> word, long words (each leaf may waste the longest node, so the bound assumes
        // it), words near a page's node limit or on overflow pages.
        for (entries, key_max, value_max, loose) in [
            (60_000, 16, 4, 5),
            (60_000, 4, 24, 5),
            (5_000, 499, 4, 40),
            (3_000, 4, 6_000, 10),
        ] {
            let dir = tempfile::tempdir().unwrap();
            // SAFETY: a new environment in a private directory.
            let env = unsafe {
                heed::EnvOpenOptions::new()
                    .map_size(1 << 30)
                    .max_dbs(2)
                    .open(dir.path())
            }
            .unwrap();
            let wtxn = env.write_txn().unwrap();
            let db = env
                .create_databases_and_commit(wtxn, |opener, wtxn| {
                    let db = opener.create_database::<Bytes, Bytes>(wtxn, Some("t"))?;
                    heed::Result::Ok(heed::CommitOrAbort::<_, ()>::Commit(db))
                })
                .unwrap()
                .unwrap_commit();
            let mut wtxn = env.write_txn().unwrap();
            let mut rows: Vec<(Vec<u8>, Vec<u8>)> = (0..entries)
                .map(|i: u32| {
                    let mut key = i.to_be_bytes().to_vec();
                    key.resize(4.max(1 + next(key_max)), b'k');
                    (key, vec![7u8; 1 + next(value_max)])
                })
                .collect();
            rows.sort();
            let mut table = AppendedTable::new(4096);
            for (key, value) in &rows {
                db.put_with_flags(&mut wtxn, heed::PutFlags::APPEND, key, value)
                    .unwrap();
                table.add(key.len(), value.len());
            }
            wtxn.commit().unwrap();
            let rtxn = env.read_txn().unwrap();
            let st = db.stat(&rtxn).unwrap();
            let used = (st.branch_pages + st.leaf_pages + st.overflow_pages) * 4096;
            let bound = table.bytes();
            assert!(
                used <= bound,
                "{used} bytes used, {bound} bound ({key_max}, {value_max})"
            );
            assert!(
                bound <= used + used * loose / 100 + 16 * 4096,
                "{bound} bound for {used} bytes ({key_max}, {value_max})"
            );
        }
    }

    #[test]
    fn an_appended_table_is_bounded_tightly() {
        // 400,000 words of 8 bytes with 4-byte values: 22-byte nodes, about 2,160 leaf pages.
        let mut t = AppendedTable::new(4096);
        for _ in 0..400_000 {
            t.add(8, 4);
        }
        let leaves = 400_000 * 22 / 4080;
        assert!(t.bytes() >= leaves * 4096, "{}", t.bytes());
        assert!(t.bytes() <= leaves * 4096 * 102 / 100, "{}", t.bytes());
    }
}
