//! LMDB's file format read as a plain file, with `pread` and without LMDB: the two meta pages
//! and a checked walk of one B-tree (or of the pages a lookup of some keys reads).
//!
//! LMDB trusts its pages (a damaged one can crash it), and opening an environment makes or
//! writes `lock.mdb`. Two readers therefore read `data.mdb` themselves: the index's structural
//! check of its own file before LMDB walks it (`index::lmdb_check`) and the reader of the
//! tutorial's word ↔ id map (`loader::formats::lmdb_map`). This is what they share: the
//! snapshot's meta page (LMDB's magic in both, one page size, the newer one's trees, pages
//! inside the file) and a walk that checks what LMDB relies on when it reads: each page is in
//! the snapshot and used at most once, carries its own number, has the kind its depth calls
//! for (branch above the leaves, leaves at the tree's depth), its node table and every node lie
//! inside it, and every overflow value lies inside its overflow pages. What a leaf may hold is
//! the caller's to say. Format: LMDB 0.9, 64-bit, little-endian, pages of 512 B to 64 KiB.

use std::fs::File;
use std::os::unix::fs::FileExt;

const MAGIC: u32 = 0xBEEF_C0DE;
/// A page's header: its number, flags, and the bounds of its free space (or an overflow run's
/// page count).
pub const PAGE_HEADER: usize = 16;
const NODE_HEADER: usize = 8;
/// A tree's record (`MDB_db`), in a meta page or a sub-database node.
pub const DB_RECORD: usize = 48;
const P_INVALID: u64 = u64::MAX;

const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
/// Flags LMDB may leave on a page in the file and that do not change how it is read (dirty,
/// loose, keep).
const P_IGNORED: u16 = 0x10 | 0x4000 | 0x8000;

/// A leaf node whose value lies in overflow pages.
pub const F_BIGDATA: u16 = 0x01;
/// A leaf node of the main tree that holds a named database's record.
pub const F_SUBDATA: u16 = 0x02;
/// Database flags under which LMDB reads leaf nodes as duplicates (DUPSORT, DUPFIXED,
/// INTEGERDUP, REVERSEDUP): neither reader accepts such a tree.
pub const DUP_FLAGS: u16 = 0x04 | 0x10 | 0x20 | 0x40;
/// LMDB's cursor stack holds 32 pages.
const MAX_DEPTH: u16 = 32;

/// One tree's record (`MDB_db`).
#[derive(Clone, Copy, Debug)]
pub struct DbRecord {
    pub flags: u16,
    pub depth: u16,
    pub branch_pages: u64,
    pub leaf_pages: u64,
    pub overflow_pages: u64,
    pub entries: u64,
    pub root: u64,
}

impl DbRecord {
    /// The record in `b` (at least [`DB_RECORD`] bytes).
    pub fn parse(b: &[u8]) -> DbRecord {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        DbRecord {
            flags: u16::from_le_bytes([b[4], b[5]]),
            depth: u16::from_le_bytes([b[6], b[7]]),
            branch_pages: u64_at(8),
            leaf_pages: u64_at(16),
            overflow_pages: u64_at(24),
            entries: u64_at(32),
            root: u64_at(40),
        }
    }
}

/// What a tree's walk counted.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub branch_pages: u64,
    pub leaf_pages: u64,
    pub overflow_pages: u64,
    pub entries: u64,
}

/// What is wrong with a file's meta pages; each reader words it for its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaProblem {
    /// The file (`len` bytes) is shorter than one meta page, or than two (`two`).
    Short { len: u64, two: bool },
    /// Meta page 0 or 1 lacks LMDB's magic.
    NoMagic(usize),
    /// The page size meta page 0 gives is not a power of two from 512 to 64 KiB.
    PageSize(usize),
    /// The two meta pages give other page sizes (LMDB takes it from the newer one).
    PageSizes(usize, usize),
    /// The newer meta page uses pages `0..=last_pg`, more than the file's `len` bytes hold.
    Truncated { len: u64, last_pg: u64 },
}

/// A leaf node's value, as the walk checked it.
pub enum LeafValue<'p> {
    /// In the page (no flags), inside it.
    Inline(&'p [u8]),
    /// In the overflow run at `first` (`F_BIGDATA`), which holds its `size` bytes.
    Overflow { first: u64, size: usize },
    /// Any other flags: the bytes the node says it holds, if they lie inside the page.
    Other(Option<&'p [u8]>),
}

/// One leaf node, handed to the caller of [`Snapshot::walk`].
pub struct Leaf<'p> {
    pub key: &'p [u8],
    pub flags: u16,
    pub value: LeafValue<'p>,
}

/// The snapshot of an LMDB file that LMDB would read: its newer meta page's trees, and the
/// pages walked so far (each may be used once).
pub struct Snapshot {
    file: File,
    len: u64,
    psize: usize,
    /// Pages of the snapshot: 0..=last_pg.
    last_pg: u64,
    used: Vec<u64>,
    free: DbRecord,
    main: DbRecord,
}

impl Snapshot {
    /// Reads the meta pages of `file` (`len` bytes): the newer one is the snapshot.
    pub fn read(file: File, len: u64) -> Result<Snapshot, MetaProblem> {
        let mut metas = [[0u8; 152]; 2];
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        file.read_exact_at(&mut metas[0], 0)
            .map_err(|_| MetaProblem::Short { len, two: false })?;
        if u32_at(&metas[0], 16) != MAGIC {
            return Err(MetaProblem::NoMagic(0));
        }
        let psize = u32_at(&metas[0], 40) as usize;
        if !(512..=65536).contains(&psize) || !psize.is_power_of_two() {
            return Err(MetaProblem::PageSize(psize));
        }
        file.read_exact_at(&mut metas[1], psize as u64)
            .map_err(|_| MetaProblem::Short { len, two: true })?;
        if u32_at(&metas[1], 16) != MAGIC {
            return Err(MetaProblem::NoMagic(1));
        }
        // LMDB takes the page size from the newer meta page (one flipped bit there made every
        // page lie elsewhere: SIGBUS on every open); both must say the size page 1 was found at.
        let psize1 = u32_at(&metas[1], 40) as usize;
        if psize1 != psize {
            return Err(MetaProblem::PageSizes(psize, psize1));
        }
        let meta = if u64_at(&metas[1], 144) > u64_at(&metas[0], 144) {
            &metas[1]
        } else {
            &metas[0]
        };
        let last_pg = u64_at(meta, 136);
        if last_pg < 1 || (last_pg + 1).saturating_mul(psize as u64) > len {
            return Err(MetaProblem::Truncated { len, last_pg });
        }
        let mut snapshot = Snapshot {
            file,
            len,
            psize,
            last_pg,
            used: vec![0; (last_pg as usize + 1).div_ceil(64)],
            free: DbRecord::parse(&meta[40..40 + DB_RECORD]),
            main: DbRecord::parse(&meta[88..88 + DB_RECORD]),
        };
        snapshot
            .mark(0, 2, "the meta pages")
            .expect("pages 0 and 1 are in the snapshot");
        Ok(snapshot)
    }

    /// The free-page tree's record.
    pub fn free(&self) -> DbRecord {
        self.free
    }

    /// The main tree's record.
    pub fn main(&self) -> DbRecord {
        self.main
    }

    /// `len` bytes at `at`.
    pub fn read_at(&self, at: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| format!("bytes {at}+{len} unreadable: {e}"))?;
        Ok(buf)
    }

    /// The `size`-byte value of the overflow run at `first` (checked by the walk).
    pub fn overflow_value(&self, first: u64, size: usize) -> Result<Vec<u8>, String> {
        self.read_at(first * self.psize as u64 + PAGE_HEADER as u64, size)
    }

    /// Marks pages `first..first + count` as used, once.
    fn mark(&mut self, first: u64, count: u64, what: &str) -> Result<(), String> {
        let end = first.checked_add(count).filter(|&e| e <= self.last_pg + 1);
        let Some(end) = end else {
            return Err(format!(
                "{what}: pages {first}+{count} lie past the last page {} of the snapshot",
                self.last_pg
            ));
        };
        if end.saturating_mul(self.psize as u64) > self.len {
            return Err(format!(
                "{what}: page {first} lies past the end of data.mdb"
            ));
        }
        for p in first..end {
            let (word, bit) = ((p / 64) as usize, p % 64);
            if self.used[word] & (1 << bit) != 0 {
                return Err(format!("{what}: page {p} is used twice"));
            }
            self.used[word] |= 1 << bit;
        }
        Ok(())
    }

    /// Walks the tree of `record` (named `what` in messages), depth first, checking each page
    /// (see the module docs) and handing each leaf node to `leaf`, whose error is reported at
    /// the node. Branch pages must hold `min_branch_keys` nodes or more. Returns what it
    /// counted; comparing that with the record is the caller's.
    pub fn walk(
        &mut self,
        what: &str,
        record: DbRecord,
        min_branch_keys: usize,
        leaf: &mut dyn FnMut(&Snapshot, Leaf<'_>) -> Result<(), String>,
    ) -> Result<Counted, String> {
        self.walk_keys(what, record, min_branch_keys, None, leaf)
    }

    /// [`Snapshot::walk`] of only the pages that a lookup of a key from `keys.0` to `keys.1`
    /// (both included, in LMDB's byte order) reads: the pages on the paths from the root to
    /// the leaves that may hold them, and their overflow runs. All of `record`'s tree when
    /// `keys` is `None`.
    pub fn walk_keys(
        &mut self,
        what: &str,
        record: DbRecord,
        min_branch_keys: usize,
        keys: Option<(&[u8], &[u8])>,
        leaf: &mut dyn FnMut(&Snapshot, Leaf<'_>) -> Result<(), String>,
    ) -> Result<Counted, String> {
        let mut counted = Counted::default();
        if record.root == P_INVALID {
            if record.depth != 0 || record.entries != 0 {
                return Err(format!("{what}: no root but depth or entries recorded"));
            }
            return Ok(counted);
        }
        if record.depth == 0 || record.depth > MAX_DEPTH {
            return Err(format!("{what}: implausible depth {}", record.depth));
        }
        // Depth-first, with an explicit stack: (page, level from 1 at the root).
        let mut stack = vec![(record.root, 1u16)];
        while let Some((pgno, level)) = stack.pop() {
            let page = Page {
                what,
                pgno,
                level,
                depth: record.depth,
                min_branch_keys,
                keys,
            };
            self.page(page, &mut counted, &mut stack, leaf)?;
        }
        Ok(counted)
    }

    fn page(
        &mut self,
        p: Page<'_>,
        counted: &mut Counted,
        stack: &mut Vec<(u64, u16)>,
        leaf: &mut dyn FnMut(&Snapshot, Leaf<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let Page { what, pgno, .. } = p;
        self.mark(pgno, 1, what)?;
        let page = self
            .read_at(pgno * self.psize as u64, self.psize)
            .map_err(|e| format!("{what}: page {pgno}: {e}"))?;
        let u16_at = |at: usize| u16::from_le_bytes([page[at], page[at + 1]]);
        let u64_at = |at: usize| u64::from_le_bytes(page[at..at + 8].try_into().unwrap());
        let at = |detail: String| format!("{what}: page {pgno}: {detail}");
        if u64_at(0) != pgno {
            return Err(at(format!("carries page number {}", u64_at(0))));
        }
        let flags = u16_at(10) & !P_IGNORED;
        let branch = p.level < p.depth;
        let want = if branch { P_BRANCH } else { P_LEAF };
        if flags != want {
            return Err(at(format!(
                "flags {flags:#x} where a {} page belongs",
                if branch { "branch" } else { "leaf" }
            )));
        }
        let (lower, upper) = (u16_at(12) as usize, u16_at(14) as usize);
        if lower < PAGE_HEADER
            || !(lower - PAGE_HEADER).is_multiple_of(2)
            || upper > self.psize
            || lower > upper
        {
            return Err(at(format!("free-space bounds {lower}..{upper}")));
        }
        let keys = (lower - PAGE_HEADER) / 2;
        if keys == 0 || (branch && keys < p.min_branch_keys) {
            return Err(at(format!("{keys} nodes")));
        }
        if branch {
            counted.branch_pages += 1;
        } else {
            counted.leaf_pages += 1;
        }
        // A branch's children, with the first key each may hold (none: the leftmost).
        let mut children: Vec<(u64, Option<&[u8]>)> = Vec::new();
        for i in 0..keys {
            let off = u16_at(PAGE_HEADER + 2 * i) as usize;
            let node = |detail: &str| at(format!("node {i} at {off}: {detail}"));
            if off < upper || !off.is_multiple_of(2) || off + NODE_HEADER > self.psize {
                return Err(node("outside the page's node area"));
            }
            let (lo, hi, nflags, ksize) = (
                u16_at(off) as u64,
                u16_at(off + 2) as u64,
                u16_at(off + 4),
                u16_at(off + 6) as usize,
            );
            let data = off + NODE_HEADER + ksize;
            if data > self.psize {
                return Err(node("key runs past the page"));
            }
            if branch {
                let first = (i > 0).then(|| &page[off + NODE_HEADER..data]);
                children.push((lo | hi << 16 | (nflags as u64) << 32, first));
                continue;
            }
            counted.entries += 1;
            let size = (lo | hi << 16) as usize;
            let value = match nflags {
                0 if data + size > self.psize => return Err(node("value runs past the page")),
                0 => LeafValue::Inline(&page[data..data + size]),
                F_BIGDATA => {
                    if data + 8 > self.psize {
                        return Err(node("overflow page number runs past the page"));
                    }
                    let first = u64_at(data);
                    counted.overflow_pages += self.overflow(what, first, size)?;
                    LeafValue::Overflow { first, size }
                }
                _ => LeafValue::Other(page.get(data..data + size)),
            };
            let key = &page[off + NODE_HEADER..data];
            leaf(
                self,
                Leaf {
                    key,
                    flags: nflags,
                    value,
                },
            )
            .map_err(|e| node(&e))?;
        }
        // Child i holds the keys from its first key up to the next child's first key.
        for (i, &(child, first)) in children.iter().enumerate() {
            let wanted = p.keys.is_none_or(|(lo, hi)| {
                first.is_none_or(|first| first <= hi)
                    && children
                        .get(i + 1)
                        .and_then(|&(_, next)| next)
                        .is_none_or(|next| next > lo)
            });
            if wanted {
                stack.push((child, p.level + 1));
            }
        }
        Ok(())
    }

    /// Checks the overflow run at `first` that holds a value of `size` bytes, and marks its
    /// pages; its page count.
    fn overflow(&mut self, what: &str, first: u64, size: usize) -> Result<u64, String> {
        if first > self.last_pg {
            return Err(format!(
                "{what}: overflow page {first} lies past the last page {}",
                self.last_pg
            ));
        }
        let header = self
            .read_at(first * self.psize as u64, PAGE_HEADER)
            .map_err(|e| format!("{what}: overflow page {first}: {e}"))?;
        let pgno = u64::from_le_bytes(header[0..8].try_into().unwrap());
        let flags = u16::from_le_bytes([header[10], header[11]]) & !P_IGNORED;
        let pages = u32::from_le_bytes(header[12..16].try_into().unwrap()) as u64;
        if pgno != first || flags != P_OVERFLOW {
            return Err(format!(
                "{what}: overflow page {first} carries number {pgno} and flags {flags:#x}"
            ));
        }
        if pages == 0 || (PAGE_HEADER + size) as u64 > pages * self.psize as u64 {
            return Err(format!(
                "{what}: overflow run at {first} of {pages} pages cannot hold {size} bytes"
            ));
        }
        self.mark(first, pages, what)?;
        Ok(pages)
    }
}

/// One page of a walk: where it is and what its tree asks of it.
#[derive(Clone, Copy)]
struct Page<'w> {
    what: &'w str,
    pgno: u64,
    level: u16,
    depth: u16,
    min_branch_keys: usize,
    /// Only the pages a lookup of these keys reads (`Snapshot::walk_keys`).
    keys: Option<(&'w [u8], &'w [u8])>,
}
