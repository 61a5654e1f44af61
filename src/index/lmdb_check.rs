//! A structural check of an LMDB file (`data.mdb`) that reads the file itself, with `pread`,
//! before LMDB walks it.
//!
//! Why: LMDB trusts its pages. A damaged leaf node whose flags say "duplicates" sends
//! `mdb_cursor_next` into a sub-cursor that does not exist (SIGSEGV); a damaged child pointer
//! that lands on a leaf trips an assertion (abort). Checksums of the values cannot help when
//! reading them is what crashes. So before a full verification reads the tables through LMDB,
//! this walks every B-tree of the snapshot LMDB will use (the free-page tree, the main tree and
//! every named database in it) with [`crate::lmdb_file`]'s checked walk (each page in the file,
//! used once, of the kind its depth calls for, every node and overflow value inside), and adds
//! what vecsh's own file must be: leaf nodes carry only the flags vecsh's databases use
//! (overflow data; sub-databases in the main tree), no tree is duplicate-sorted, branch pages
//! (but the free-page tree's) hold two nodes or more, and the page counts and entries recorded
//! for each tree match what the walk found. A session's statement that reads before its
//! background verification has walked every tree has the pages its lookup reads walked the same
//! way first (`check_keys`: the path from the root to the leaves that may hold the keys; counts
//! aside). Format: LMDB 0.9 on 64-bit Linux (lmdb-master-sys
//! 0.2, as heed 0.23 builds it), pages of 512 B to 64 KiB.

use std::fs::File;
use std::path::Path;

use crate::lmdb_file::{
    DbRecord, Leaf, LeafValue, MetaProblem, Snapshot, DB_RECORD, DUP_FLAGS, F_SUBDATA,
};

/// Checks `data` as described in the module docs; `Err` says what is wrong, and where.
pub fn check(data: &Path) -> Result<(), String> {
    check_trees(data, None)
}

/// `check`, of the main tree and only the named databases in `only` (no free-page tree):
/// what opening the databases and reading a few records of `only` touches, in a few reads.
pub fn check_only(data: &Path, only: &[&str]) -> Result<(), String> {
    check_trees(data, Some(only))
}

/// `check` of the main tree and, of database `name`, the pages a lookup of the keys from
/// `keys.0` to `keys.1` reads (a statement's reads before the whole walk has been done).
pub fn check_keys(data: &Path, name: &str, keys: (&[u8], &[u8])) -> Result<(), String> {
    let mut snapshot = snapshot(data)?;
    let main = snapshot.main();
    let named = tree(&mut snapshot, "the main tree", main, true)?;
    let Some((_, record)) = named.into_iter().find(|(n, _)| n == name) else {
        return Err(format!("database {name:?} missing"));
    };
    let what = format!("database {name:?}");
    if record.flags & DUP_FLAGS != 0 {
        return Err(format!(
            "{what}: flags {:#x} vecsh never sets",
            record.flags
        ));
    }
    snapshot.walk_keys(&what, record, 2, Some(keys), &mut |_, leaf| {
        leaf_node(leaf, false, &mut Vec::new())
    })?;
    Ok(())
}

fn snapshot(data: &Path) -> Result<Snapshot, String> {
    let file = File::open(data).map_err(|e| format!("cannot read data.mdb: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read data.mdb: {e}"))?
        .len();
    Snapshot::read(file, len).map_err(|problem| match problem {
        MetaProblem::Short { len, two: false } => {
            format!("data.mdb is {len} bytes, shorter than LMDB's meta page")
        }
        MetaProblem::Short { len, two: true } => {
            format!("data.mdb is {len} bytes, shorter than LMDB's two meta pages")
        }
        MetaProblem::NoMagic(i) => format!("data.mdb: meta page {i} is not an LMDB meta page"),
        MetaProblem::PageSize(psize) => format!("data.mdb: implausible page size {psize}"),
        MetaProblem::PageSizes(a, b) => {
            format!("data.mdb: the meta pages disagree on the page size ({a} and {b})")
        }
        MetaProblem::Truncated { len, last_pg } => format!(
            "data.mdb is {len} bytes but LMDB's meta page says pages 0..={last_pg} are used (truncated)"
        ),
    })
}

fn check_trees(data: &Path, only: Option<&[&str]>) -> Result<(), String> {
    let mut snapshot = snapshot(data)?;
    let (free, main) = (snapshot.free(), snapshot.main());
    if only.is_none() {
        tree(&mut snapshot, "the free-page tree", free, false)?;
    }
    let named = tree(&mut snapshot, "the main tree", main, true)?;
    for (name, record) in named {
        if only.is_none_or(|only| only.contains(&name.as_str())) {
            tree(&mut snapshot, &format!("database {name:?}"), record, false)?;
        }
    }
    Ok(())
}

/// What a leaf node may be: a value in its page or an overflow run; in the main tree, a named
/// database's record (added to `named`).
fn leaf_node(
    leaf: Leaf<'_>,
    main: bool,
    named: &mut Vec<(String, DbRecord)>,
) -> Result<(), String> {
    match (leaf.flags, leaf.value) {
        (_, LeafValue::Inline(_) | LeafValue::Overflow { .. }) => Ok(()),
        (F_SUBDATA, LeafValue::Other(value)) if main => match value {
            Some(value) if value.len() == DB_RECORD => {
                let name = String::from_utf8_lossy(leaf.key).into_owned();
                named.push((name, DbRecord::parse(value)));
                Ok(())
            }
            _ => Err("sub-database record of the wrong size".into()),
        },
        (other, _) => Err(format!("node flags {other:#x} vecsh never writes")),
    }
}

/// Walks one tree; from the main tree, returns the named databases' records.
fn tree(
    snapshot: &mut Snapshot,
    what: &str,
    record: DbRecord,
    main: bool,
) -> Result<Vec<(String, DbRecord)>, String> {
    if record.flags & DUP_FLAGS != 0 {
        return Err(format!(
            "{what}: flags {:#x} vecsh never sets",
            record.flags
        ));
    }
    let mut named = Vec::new();
    // LMDB may leave a branch page of one node in the free-page tree only.
    let min_branch_keys = if what == "the free-page tree" { 1 } else { 2 };
    let counted = snapshot.walk(what, record, min_branch_keys, &mut |_, leaf| {
        leaf_node(leaf, main, &mut named)
    })?;
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
