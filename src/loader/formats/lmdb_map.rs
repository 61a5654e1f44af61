//! An LMDB file (`data.mdb`) read as a plain file, for the tutorial's word ↔ id map
//! (`X.lmdb`): every key and value of its main database, after a structural check, without LMDB.
//!
//! Why not LMDB itself: opening an environment makes or writes `lock.mdb` in the user's folder
//! (even read-only, unless told not to lock), and LMDB trusts its pages — a damaged one can
//! crash it. This reads the snapshot's pages with `pread` through [`crate::lmdb_file`], the
//! walk the index's own check uses too: two meta pages with LMDB's magic, the newer one's main
//! tree, each page inside the file, used once, carrying its own number and the kind its depth
//! calls for, every node and value inside its page (or its overflow pages); and here, the entry
//! count the tree records. Named databases and duplicate-sorted trees (which the tutorial's map
//! does not have) are refused.

use std::path::Path;

use crate::lmdb_file::{LeafValue, MetaProblem, Snapshot, DUP_FLAGS, F_SUBDATA};

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
    let mut snapshot = Snapshot::read(file, len).map_err(|problem| match problem {
        MetaProblem::Short { len, two: false } => {
            format!("{len} bytes, shorter than LMDB's meta page")
        }
        MetaProblem::Short { len, two: true } => {
            format!("{len} bytes, shorter than LMDB's two meta pages")
        }
        MetaProblem::NoMagic(0) => "not an LMDB file (no LMDB magic in its first page)".into(),
        MetaProblem::NoMagic(i) => format!("LMDB meta page {i} is damaged"),
        MetaProblem::PageSize(psize) => format!("implausible LMDB page size {psize}"),
        MetaProblem::PageSizes(a, b) => {
            format!("the meta pages disagree on the page size ({a} and {b})")
        }
        MetaProblem::Truncated { len, last_pg } => {
            format!("{len} bytes, but the meta page says pages 0..={last_pg} are used (truncated)")
        }
    })?;
    let main = snapshot.main();
    if main.flags & DUP_FLAGS != 0 {
        return Err(format!(
            "the main database has flags {:#x} (duplicate keys): not a word ↔ id map",
            main.flags
        ));
    }
    let mut out = Vec::with_capacity(main.entries.min(len / 16) as usize);
    let counted = snapshot.walk("the main database", main, 1, &mut |snapshot, leaf| {
        let value = match (leaf.flags, leaf.value) {
            (_, LeafValue::Inline(value)) => value.to_vec(),
            (_, LeafValue::Overflow { first, size }) => snapshot.overflow_value(first, size)?,
            (F_SUBDATA, _) => {
                return Err(
                    "the file holds named databases: not the tutorial's word ↔ id map \
                            (which uses the main database)"
                        .into(),
                )
            }
            (other, _) => return Err(format!("node flags {other:#x}")),
        };
        out.push((leaf.key.to_vec(), value));
        Ok(())
    })?;
    if counted.entries != main.entries {
        return Err(format!(
            "the main database records {} entries; its pages hold {}",
            main.entries, counted.entries
        ));
    }
    Ok(out)
}
