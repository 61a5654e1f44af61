//! A structural check of an LMDB file (`data.mdb`) that reads the file itself, with `pread`,
//! before LMDB walks it.
//!
//! Why: LMDB trusts its pages. A damaged leaf node whose flags say "duplicates" sends
//! `mdb_cursor_next` into a sub-cursor that does not exist (SIGSEGV); a damaged child pointer
//! that lands on a leaf trips an assertion (abort). Checksums of the values cannot help when
//! reading them is what crashes. So before a full verification reads the tables through LMDB,
//! this walks every B-tree of the snapshot LMDB will use (the free-page tree, the main tree and
//! every named database in it) and checks what LMDB relies on when it reads: each page is in the
//! file and used at most once, carries its own number, has the kind its depth calls for (branch
//! above the leaves, leaves at the tree's depth), its node table and every node lie inside it,
//! leaf nodes carry only the flags vecsh's databases use (overflow data; sub-databases in the
//! main tree), and every overflow value lies inside its overflow pages. The page counts and
//! entries recorded for each tree must match what the walk found. Format: LMDB 0.9 on 64-bit
//! Linux (lmdb-master-sys 0.2, as heed 0.23 builds it), pages of 512 B to 64 KiB.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u32 = 0xBEEF_C0DE;
const PAGE_HEADER: usize = 16;
const NODE_HEADER: usize = 8;
const DB_RECORD: usize = 48;
const P_INVALID: u64 = u64::MAX;

const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
/// Flags LMDB may leave on a page in the file and that do not change how it is read.
const P_IGNORED: u16 = 0x10 | 0x4000 | 0x8000;

const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
/// Database flags under which LMDB reads leaf nodes as duplicates (DUPSORT, DUPFIXED,
/// INTEGERDUP, REVERSEDUP): vecsh creates no such database.
const DUP_FLAGS: u16 = 0x04 | 0x10 | 0x20 | 0x40;
/// LMDB's cursor stack holds 32 pages.
const MAX_DEPTH: u16 = 32;

/// One tree's record (`MDB_db`).
#[derive(Clone, Copy, Debug)]
struct DbRecord {
    flags: u16,
    depth: u16,
    branch_pages: u64,
    leaf_pages: u64,
    overflow_pages: u64,
    entries: u64,
    root: u64,
}

impl DbRecord {
    fn parse(b: &[u8]) -> DbRecord {
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
#[derive(Default)]
struct Counted {
    branch_pages: u64,
    leaf_pages: u64,
    overflow_pages: u64,
    entries: u64,
}

struct Walker {
    file: File,
    len: u64,
    psize: usize,
    /// Pages of the snapshot: 0..=last_pg.
    last_pg: u64,
    used: Vec<u64>,
}

/// Checks `data` as described in the module docs; `Err` says what is wrong, and where.
pub fn check(data: &Path) -> Result<(), String> {
    check_trees(data, None)
}

/// `check`, of the main tree and only the named databases in `only` (no free-page tree):
/// what opening the databases and reading a few records of `only` touches, in a few reads.
pub fn check_only(data: &Path, only: &[&str]) -> Result<(), String> {
    check_trees(data, Some(only))
}

fn check_trees(data: &Path, only: Option<&[&str]>) -> Result<(), String> {
    let file = File::open(data).map_err(|e| format!("cannot read data.mdb: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read data.mdb: {e}"))?
        .len();
    let mut metas = [[0u8; 152]; 2];
    file.read_exact_at(&mut metas[0], 0)
        .map_err(|_| format!("data.mdb is {len} bytes, shorter than LMDB's meta page"))?;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let psize = u32_at(&metas[0], 40) as usize;
    if !(512..=65536).contains(&psize) || !psize.is_power_of_two() {
        return Err(format!("data.mdb: implausible page size {psize}"));
    }
    file.read_exact_at(&mut metas[1], psize as u64)
        .map_err(|_| format!("data.mdb is {len} bytes, shorter than LMDB's two meta pages"))?;
    for (i, m) in metas.iter().enumerate() {
        if u32_at(m, 16) != MAGIC {
            return Err(format!("data.mdb: meta page {i} is not an LMDB meta page"));
        }
    }
    // LMDB takes the page size from the newer meta page (one flipped bit there made every
    // page lie elsewhere: SIGBUS on every open); both must say the size page 1 was found at.
    let psize1 = u32_at(&metas[1], 40) as usize;
    if psize1 != psize {
        return Err(format!(
            "data.mdb: the meta pages disagree on the page size ({psize} and {psize1})"
        ));
    }
    // The newer of the two meta pages is the snapshot LMDB reads.
    let meta = if u64_at(&metas[1], 144) > u64_at(&metas[0], 144) {
        &metas[1]
    } else {
        &metas[0]
    };
    let last_pg = u64_at(meta, 136);
    if last_pg < 1 || (last_pg + 1).saturating_mul(psize as u64) > len {
        return Err(format!(
            "data.mdb is {len} bytes but LMDB's meta page says pages 0..={last_pg} are used (truncated)"
        ));
    }
    let mut walker = Walker {
        file,
        len,
        psize,
        last_pg,
        used: vec![0; (last_pg as usize + 1).div_ceil(64)],
    };
    walker.mark(0, 2, "the meta pages")?;
    let free = DbRecord::parse(&meta[40..40 + DB_RECORD]);
    let main = DbRecord::parse(&meta[88..88 + DB_RECORD]);
    if only.is_none() {
        walker.tree("the free-page tree", free, false)?;
    }
    let named = walker.tree("the main tree", main, true)?;
    for (name, record) in named {
        if only.is_none_or(|only| only.contains(&name.as_str())) {
            walker.tree(&format!("database {name:?}"), record, false)?;
        }
    }
    Ok(())
}

impl Walker {
    fn read_page(&self, pgno: u64, what: &str) -> Result<Vec<u8>, String> {
        let mut page = vec![0u8; self.psize];
        self.file
            .read_exact_at(&mut page, pgno * self.psize as u64)
            .map_err(|e| format!("{what}: page {pgno} unreadable: {e}"))?;
        Ok(page)
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

    /// Walks one tree; from the main tree, returns the named databases' records.
    fn tree(
        &mut self,
        what: &str,
        record: DbRecord,
        main: bool,
    ) -> Result<Vec<(String, DbRecord)>, String> {
        let mut named = Vec::new();
        if record.flags & DUP_FLAGS != 0 {
            return Err(format!(
                "{what}: flags {:#x} vecsh never sets",
                record.flags
            ));
        }
        let mut counted = Counted::default();
        if record.root == P_INVALID {
            if record.depth != 0 || record.entries != 0 {
                return Err(format!("{what}: no root but depth or entries recorded"));
            }
        } else {
            if record.depth == 0 || record.depth > MAX_DEPTH {
                return Err(format!("{what}: implausible depth {}", record.depth));
            }
            // Depth-first, with an explicit stack: (page, level from 1 at the root).
            let mut stack = vec![(record.root, 1u16)];
            while let Some((pgno, level)) = stack.pop() {
                self.page(
                    what,
                    pgno,
                    level,
                    record.depth,
                    main,
                    &mut counted,
                    &mut stack,
                    &mut named,
                )?;
            }
        }
        let recorded = (
            record.branch_pages,
            record.leaf_pages,
            record.overflow_pages,
            record.entries,
        );
        let found = (
            counted.branch_pages,
            counted.leaf_pages,
            counted.overflow_pages,
            counted.entries,
        );
        if recorded != found {
            return Err(format!(
                "{what}: recorded (branch, leaf, overflow pages, entries) {recorded:?}, found {found:?}"
            ));
        }
        Ok(named)
    }

    #[allow(clippy::too_many_arguments)]
    fn page(
        &mut self,
        what: &str,
        pgno: u64,
        level: u16,
        depth: u16,
        main: bool,
        counted: &mut Counted,
        stack: &mut Vec<(u64, u16)>,
        named: &mut Vec<(String, DbRecord)>,
    ) -> Result<(), String> {
        self.mark(pgno, 1, what)?;
        let page = self.read_page(pgno, what)?;
        let u16_at = |at: usize| u16::from_le_bytes([page[at], page[at + 1]]);
        let u64_at = |at: usize| u64::from_le_bytes(page[at..at + 8].try_into().unwrap());
        let at = |detail: String| format!("{what}: page {pgno}: {detail}");
        if u64_at(0) != pgno {
            return Err(at(format!("carries page number {}", u64_at(0))));
        }
        let flags = u16_at(10) & !P_IGNORED;
        let branch = level < depth;
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
        if keys == 0 || (branch && keys < 2 && what != "the free-page tree") {
            return Err(at(format!("{keys} nodes")));
        }
        if branch {
            counted.branch_pages += 1;
        } else {
            counted.leaf_pages += 1;
        }
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
                stack.push((lo | hi << 16 | (nflags as u64) << 32, level + 1));
                continue;
            }
            counted.entries += 1;
            let size = (lo | hi << 16) as usize;
            match nflags {
                0 => {
                    if data + size > self.psize {
                        return Err(node("value runs past the page"));
                    }
                }
                F_SUBDATA if main => {
                    if size != DB_RECORD || data + size > self.psize {
                        return Err(node("sub-database record of the wrong size"));
                    }
                    let name = String::from_utf8_lossy(&page[off + NODE_HEADER..data]).into_owned();
                    named.push((name, DbRecord::parse(&page[data..data + DB_RECORD])));
                }
                F_BIGDATA => {
                    if data + 8 > self.psize {
                        return Err(node("overflow page number runs past the page"));
                    }
                    let first = u64_at(data);
                    let pages = self.overflow(what, first, size)?;
                    counted.overflow_pages += pages;
                }
                other => return Err(node(&format!("node flags {other:#x} vecsh never writes"))),
            }
        }
        Ok(())
    }

    /// Checks the overflow run at `first` that holds a value of `size` bytes; its page count.
    fn overflow(&mut self, what: &str, first: u64, size: usize) -> Result<u64, String> {
        if first > self.last_pg {
            return Err(format!(
                "{what}: overflow page {first} lies past the last page {}",
                self.last_pg
            ));
        }
        let mut header = [0u8; PAGE_HEADER];
        self.file
            .read_exact_at(&mut header, first * self.psize as u64)
            .map_err(|e| format!("{what}: overflow page {first} unreadable: {e}"))?;
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
