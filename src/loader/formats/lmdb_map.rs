//! An LMDB file (`data.mdb`) read as a plain file, for the tutorial's word ↔ id map
//! (`X.lmdb`): every key and value of its main database, after a structural check, without LMDB.
//!
//! Why not LMDB itself: opening an environment makes or writes `lock.mdb` in the user's folder
//! (even read-only, unless told not to lock), and LMDB trusts its pages — a damaged one can
//! crash it. This reads the snapshot's pages with `pread` and checks what it relies on, as the
//! index's own check does (`index::lmdb_check`, which this layer cannot use): two meta pages
//! with LMDB's magic, the newer one's main tree, each page inside the file, used once, carrying
//! its own number and the kind its depth calls for, every node and value inside its page (or its
//! overflow pages), and the entry count the tree records. Named databases and duplicate-sorted
//! trees (which the tutorial's map does not have) are refused. Format: LMDB 0.9, 64-bit,
//! little-endian, pages of 512 B to 64 KiB.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u32 = 0xBEEF_C0DE;
const PAGE_HEADER: usize = 16;
const NODE_HEADER: usize = 8;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
/// Page flags that do not change how a page is read (dirty, loose, keep).
const P_IGNORED: u16 = 0x10 | 0x4000 | 0x8000;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
/// DUPSORT, DUPFIXED, INTEGERDUP, REVERSEDUP.
const DUP_FLAGS: u16 = 0x04 | 0x10 | 0x20 | 0x40;
/// LMDB's cursor stack holds 32 pages.
const MAX_DEPTH: u16 = 32;

/// One key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Every (key, value) of the main database of the LMDB file `data` (in the walk's order).
pub fn read(data: &Path) -> Result<Vec<Entry>, String> {
    let file = crate::loader::source::open_nonblocking(data).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let len = meta.len();
    let mut metas = [[0u8; 152]; 2];
    file.read_exact_at(&mut metas[0], 0)
        .map_err(|_| format!("{len} bytes, shorter than LMDB's meta page"))?;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    if u32_at(&metas[0], 16) != MAGIC {
        return Err("not an LMDB file (no LMDB magic in its first page)".into());
    }
    let psize = u32_at(&metas[0], 40) as usize;
    if !(512..=65536).contains(&psize) || !psize.is_power_of_two() {
        return Err(format!("implausible LMDB page size {psize}"));
    }
    file.read_exact_at(&mut metas[1], psize as u64)
        .map_err(|_| format!("{len} bytes, shorter than LMDB's two meta pages"))?;
    if u32_at(&metas[1], 16) != MAGIC {
        return Err("LMDB meta page 1 is damaged".into());
    }
    let meta = if u64_at(&metas[1], 144) > u64_at(&metas[0], 144) {
        &metas[1]
    } else {
        &metas[0]
    };
    let last_pg = u64_at(meta, 136);
    if last_pg < 1 || (last_pg + 1).saturating_mul(psize as u64) > len {
        return Err(format!(
            "{len} bytes, but the meta page says pages 0..={last_pg} are used (truncated)"
        ));
    }
    let main = &meta[88..136];
    let flags = u16::from_le_bytes([main[4], main[5]]);
    let depth = u16::from_le_bytes([main[6], main[7]]);
    let entries = u64_at(main, 32);
    let root = u64_at(main, 40);
    if flags & DUP_FLAGS != 0 {
        return Err(format!(
            "the main database has flags {flags:#x} (duplicate keys): not a word ↔ id map"
        ));
    }
    let mut walk = Walk {
        file: &file,
        psize,
        last_pg,
        used: vec![0; (last_pg as usize + 1).div_ceil(64)],
        out: Vec::with_capacity(entries.min(len / 16) as usize),
    };
    walk.mark(0, 2)?;
    if root == u64::MAX {
        if depth != 0 || entries != 0 {
            return Err("the main database has no root but records entries".into());
        }
        return Ok(Vec::new());
    }
    if depth == 0 || depth > MAX_DEPTH {
        return Err(format!("the main database has depth {depth}"));
    }
    let mut stack = vec![(root, 1u16)];
    while let Some((pgno, level)) = stack.pop() {
        walk.page(pgno, level, depth, &mut stack)?;
    }
    if walk.out.len() as u64 != entries {
        return Err(format!(
            "the main database records {entries} entries; its pages hold {}",
            walk.out.len()
        ));
    }
    Ok(walk.out)
}

struct Walk<'f> {
    file: &'f File,
    psize: usize,
    last_pg: u64,
    used: Vec<u64>,
    out: Vec<Entry>,
}

impl Walk<'_> {
    fn mark(&mut self, first: u64, count: u64) -> Result<(), String> {
        let end = first
            .checked_add(count)
            .filter(|&e| e <= self.last_pg + 1)
            .ok_or_else(|| {
                format!(
                    "pages {first}+{count} lie past the last page {}",
                    self.last_pg
                )
            })?;
        for p in first..end {
            let (word, bit) = ((p / 64) as usize, p % 64);
            if self.used[word] & (1 << bit) != 0 {
                return Err(format!("page {p} is used twice"));
            }
            self.used[word] |= 1 << bit;
        }
        Ok(())
    }

    fn read(&self, at: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| format!("bytes {at}+{len} unreadable: {e}"))?;
        Ok(buf)
    }

    /// Reads page `pgno` at `level` (1 at the root): a branch pushes its children, a leaf
    /// adds its entries.
    fn page(
        &mut self,
        pgno: u64,
        level: u16,
        depth: u16,
        stack: &mut Vec<(u64, u16)>,
    ) -> Result<(), String> {
        self.mark(pgno, 1)?;
        let page = self.read(pgno * self.psize as u64, self.psize)?;
        let u16_at = |at: usize| u16::from_le_bytes([page[at], page[at + 1]]);
        let at = |detail: String| format!("page {pgno}: {detail}");
        if u64::from_le_bytes(page[0..8].try_into().unwrap()) != pgno {
            return Err(at("carries another page's number".into()));
        }
        let branch = level < depth;
        let flags = u16_at(10) & !P_IGNORED;
        if flags != if branch { P_BRANCH } else { P_LEAF } {
            return Err(at(format!("flags {flags:#x} at depth {level} of {depth}")));
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
        if keys == 0 {
            return Err(at("no nodes".into()));
        }
        for i in 0..keys {
            let off = u16_at(PAGE_HEADER + 2 * i) as usize;
            if off < upper || off + NODE_HEADER > self.psize {
                return Err(at(format!("node {i} lies outside the node area")));
            }
            let (lo, hi, nflags, ksize) = (
                u16_at(off) as u64,
                u16_at(off + 2) as u64,
                u16_at(off + 4),
                u16_at(off + 6) as usize,
            );
            let key_end = off + NODE_HEADER + ksize;
            if key_end > self.psize {
                return Err(at(format!("node {i}: its key runs past the page")));
            }
            if branch {
                stack.push((lo | hi << 16 | (nflags as u64) << 32, level + 1));
                continue;
            }
            let key = page[off + NODE_HEADER..key_end].to_vec();
            let size = (lo | hi << 16) as usize;
            let value = match nflags {
                0 if key_end + size <= self.psize => page[key_end..key_end + size].to_vec(),
                0 => return Err(at(format!("node {i}: its value runs past the page"))),
                F_BIGDATA if key_end + 8 <= self.psize => {
                    let first = u64::from_le_bytes(page[key_end..key_end + 8].try_into().unwrap());
                    self.overflow(first, size)?
                }
                F_SUBDATA => {
                    return Err("the file holds named databases: not the tutorial's word ↔ id map (which uses the main database)".into())
                }
                other => return Err(at(format!("node {i} has flags {other:#x}"))),
            };
            self.out.push((key, value));
        }
        Ok(())
    }

    /// The `size`-byte value in the overflow pages starting at `first`.
    fn overflow(&mut self, first: u64, size: usize) -> Result<Vec<u8>, String> {
        if first > self.last_pg {
            return Err(format!(
                "overflow page {first} lies past the last page {}",
                self.last_pg
            ));
        }
        let header = self.read(first * self.psize as u64, PAGE_HEADER)?;
        let pgno = u64::from_le_bytes(header[0..8].try_into().unwrap());
        let flags = u16::from_le_bytes([header[10], header[11]]) & !P_IGNORED;
        let pages = u32::from_le_bytes(header[12..16].try_into().unwrap()) as u64;
        if pgno != first || flags != P_OVERFLOW {
            return Err(format!(
                "overflow page {first} carries number {pgno} and flags {flags:#x}"
            ));
        }
        if pages == 0 || (PAGE_HEADER + size) as u64 > pages * self.psize as u64 {
            return Err(format!(
                "overflow run at {first} of {pages} pages cannot hold {size} bytes"
            ));
        }
        self.mark(first, pages)?;
        self.read(first * self.psize as u64 + PAGE_HEADER as u64, size)
    }
}
