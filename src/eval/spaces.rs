//! The open embedding spaces of a session: each a name and a store, one of them active.
//!
//! A session starts with the store of its FILE (borrowed from the front-end that opened it) and
//! gains others from `--also` and `:open` (owned here). A file opened twice, by any path, is
//! one store with two names: heed refuses to open one LMDB environment twice
//! (`EnvAlreadyOpened`), so a new space is matched against the open ones by its source file's
//! identity (`SourceKey`: device, inode, size, mtime and the options that shape its index)
//! before anything is opened (`Spaces::by_key`), and a new file whose index directory an open
//! store holds is refused (`Spaces::dir_in_use`). Nothing here prints or opens files.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use nalgebra::DMatrix;
use std::path::{Path, PathBuf};

use crate::index::{FileStat, OpenOptions, Store};

/// What makes two opens one store: the same source file — device and inode (any path to it,
/// a symlink or a hard link), unchanged since (size and mtime) — read with the same options
/// that shape an index (format, member, limit, dims, labels, tensor, tokenizer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    options: String,
}

impl SourceKey {
    /// The key of `source` (a file, not a model directory) as `opts` would open it; `None`
    /// when it cannot be looked at or is no regular file (a stream is never one store twice).
    pub fn of(source: &Path, opts: &OpenOptions) -> Option<SourceKey> {
        let meta = std::fs::metadata(source).ok()?;
        if !meta.is_file() {
            return None;
        }
        let stat = FileStat::of(source).ok()?;
        let canonical = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        };
        let load = &opts.load;
        Some(SourceKey {
            dev: stat.dev,
            ino: stat.ino,
            size: stat.size,
            mtime_ns: stat.mtime_ns,
            options: format!(
                "{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}",
                load.format,
                load.member,
                load.limit,
                load.dims,
                canonical(&load.labels),
                load.tensor,
                canonical(&load.tokenizer)
            ),
        })
    }
}

/// Where a space's store lives: the front-end's first store, or one opened later (shared, so
/// that the line editor can complete from it: [`Spaces::handles`]).
#[derive(Clone)]
pub enum StoreRef<'s> {
    Borrowed(&'s Store),
    Shared(Rc<Store>),
}

impl StoreRef<'_> {
    fn get(&self) -> &Store {
        match self {
            StoreRef::Borrowed(store) => store,
            StoreRef::Shared(store) => store,
        }
    }
}

impl std::ops::Deref for StoreRef<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.get()
    }
}

/// One open space: a name and which store it names.
#[derive(Debug, Clone)]
pub struct SpaceInfo {
    pub name: String,
    /// The file as it was given (for `:use` and `:info`).
    pub path: Option<PathBuf>,
    pub store: usize,
}

/// The named spaces and which one is active.
pub struct Spaces<'s> {
    stores: Vec<StoreRef<'s>>,
    /// Each store's source identity when it was opened (`None`: unknown, never matched).
    keys: Vec<Option<SourceKey>>,
    names: Vec<SpaceInfo>,
    /// The space an expression is evaluated in: `:use` changes it for good, `in(SPACE, …)`
    /// while its argument is evaluated (so a `&self` search can run in a vector's own space).
    active: Cell<usize>,
    /// `:align`'s rotations, by (from store, to store): a row vector of the first times the
    /// matrix is in the second's coordinates (both directions are kept: R and Rᵀ).
    alignments: HashMap<(usize, usize), DMatrix<f64>>,
}

impl<'s> Spaces<'s> {
    /// A session of one space.
    pub fn new(name: String, path: Option<PathBuf>, store: &'s Store) -> Spaces<'s> {
        Spaces {
            stores: vec![StoreRef::Borrowed(store)],
            keys: vec![None],
            names: vec![SpaceInfo {
                name,
                path,
                store: 0,
            }],
            active: Cell::new(0),
            alignments: HashMap::new(),
        }
    }

    /// How many spaces have names (a store opened twice counts twice).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The spaces in the order they were opened.
    pub fn list(&self) -> &[SpaceInfo] {
        &self.names
    }

    /// The index of the active space in [`Spaces::list`].
    pub fn active(&self) -> usize {
        self.active.get()
    }

    pub fn active_name(&self) -> &str {
        &self.names[self.active.get()].name
    }

    /// Makes space `i` active; returns the one that was.
    pub fn set_active(&self, i: usize) -> usize {
        self.active.replace(i.min(self.names.len() - 1))
    }

    /// Records `:align`'s rotation of space `from` onto space `to` (and its inverse, Rᵀ).
    pub fn set_alignment(&mut self, from: usize, to: usize, r: DMatrix<f64>) {
        let (x, y) = (self.names[from].store, self.names[to].store);
        self.alignments.insert((y, x), r.transpose());
        self.alignments.insert((x, y), r);
    }

    /// The rotation that carries a vector of space `from` into space `to`, once aligned.
    pub fn alignment(&self, from: usize, to: usize) -> Option<&DMatrix<f64>> {
        self.alignments
            .get(&(self.names[from].store, self.names[to].store))
    }

    /// Makes space `i` active until the guard is dropped.
    pub fn enter(&self, i: usize) -> Entered<'_> {
        Entered {
            active: &self.active,
            was: self.set_active(i),
        }
    }

    /// The store of space `i`.
    pub fn store(&self, i: usize) -> &Store {
        self.stores[self.names[i].store].get()
    }

    /// Each space's name and a handle on its store, in [`Spaces::list`]'s order: what the line
    /// editor completes from.
    pub fn handles(&self) -> Vec<(String, StoreRef<'s>)> {
        self.names
            .iter()
            .map(|s| (s.name.clone(), self.stores[s.store].clone()))
            .collect()
    }

    /// Every open store, once each (a store opened under two names is one).
    pub fn stores(&self) -> impl Iterator<Item = &Store> + '_ {
        self.stores.iter().map(StoreRef::get)
    }

    /// The store of the active space.
    pub fn active_store(&self) -> &Store {
        self.store(self.active.get())
    }

    /// Whether space `i` names the session's first store (the front-end's FILE), whose
    /// background build the front-end runs.
    pub fn is_first_store(&self, i: usize) -> bool {
        self.names[i].store == 0
    }

    /// Whether spaces `a` and `b` are one store (one file opened under two names).
    pub fn same_store(&self, a: usize, b: usize) -> bool {
        self.names[a].store == self.names[b].store
    }

    /// The stores of spaces `a` and `b`, in order: a key for what is computed once per pair.
    pub fn store_pair(&self, a: usize, b: usize) -> (usize, usize) {
        let (x, y) = (self.names[a].store, self.names[b].store);
        (x.min(y), x.max(y))
    }

    pub fn name(&self, i: usize) -> &str {
        &self.names[i].name
    }

    /// The space named `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|s| s.name == name)
    }

    /// Records the source identity of the first store (the front-end's FILE).
    pub fn set_first_key(&mut self, key: Option<SourceKey>) {
        self.keys[0] = key;
    }

    /// The first space whose store was opened from the source `key` names, if one was.
    pub fn by_key(&self, key: &SourceKey) -> Option<usize> {
        self.names
            .iter()
            .position(|s| self.keys[s.store].as_ref() == Some(key))
    }

    /// The first space whose store lives in the index directory `dir`: the same path, or both
    /// existing and the same directory (two missing directories are not one).
    pub fn dir_in_use(&self, dir: &Path) -> Option<usize> {
        let same = |a: &Path| {
            a == dir
                || matches!(
                    (std::fs::canonicalize(a), std::fs::canonicalize(dir)),
                    (Ok(x), Ok(y)) if x == y
                )
        };
        self.names
            .iter()
            .position(|s| same(self.stores[s.store].get().dir()))
    }

    /// Adds a space holding a newly opened store (from the source `key`); returns its index.
    /// The name must be free.
    pub fn add(
        &mut self,
        name: String,
        path: Option<PathBuf>,
        store: Store,
        key: Option<SourceKey>,
    ) -> usize {
        self.stores.push(StoreRef::Shared(Rc::new(store)));
        self.keys.push(key);
        self.names.push(SpaceInfo {
            name,
            path,
            store: self.stores.len() - 1,
        });
        self.names.len() - 1
    }

    /// Adds a second name for the store of space `of`; returns the new space's index.
    pub fn alias(&mut self, name: String, path: Option<PathBuf>, of: usize) -> usize {
        let store = self.names[of].store;
        self.names.push(SpaceInfo { name, path, store });
        self.names.len() - 1
    }

    /// `name`, or `name-2`, `name-3`, … : the first that no space has.
    pub fn free_name(&self, name: &str) -> String {
        if self.find(name).is_none() {
            return name.to_string();
        }
        (2..)
            .map(|n| format!("{name}-{n}"))
            .find(|n| self.find(n).is_none())
            .expect("some number is free")
    }
}

/// A space made active for a while ([`Spaces::enter`]); the one before comes back on drop.
pub struct Entered<'a> {
    active: &'a Cell<usize>,
    was: usize,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.active.set(self.was);
    }
}

/// Whether `text` can name a space: letters, digits, `_`, `-` and `.`, not starting with `-`
/// or `.` (so that `NAME=FILE` is told from a path with `=` in it, and the name is one word
/// of the language).
pub fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(starts_name) && chars.all(|c| c.is_alphanumeric() || "_-.".contains(c))
}

/// What a name starts with: a visible letter or digit, or `_` (a combining mark is a letter to
/// `is_alphanumeric` but shows as nothing: a name of marks alone would be invisible).
fn starts_name(c: char) -> bool {
    use unicode_width::UnicodeWidthChar;
    (c.is_alphanumeric() && c.width().unwrap_or(0) > 0) || c == '_'
}

/// `--also NAME=FILE` or `--also FILE`: split at the first `=` only when what is left of it is
/// a name (`./a=b.vec` is a file).
pub fn split_named(arg: &str) -> (Option<&str>, &str) {
    match arg.split_once('=') {
        Some((name, file)) if is_name(name) && !file.is_empty() => (Some(name), file),
        _ => (None, arg),
    }
}

/// A space's name from its file: the file name without its compression and format
/// extensions (`glove.6B.50d.txt.gz` → `glove.6B.50d`), with characters a name cannot hold
/// made `_`. A directory (a model's) is named by itself, whole (`.` by the directory it is).
pub fn name_from_path(path: &Path) -> String {
    let is_dir = path.is_dir();
    let own = if is_dir && path.file_name().is_none() {
        // `.`, `..`, `/`: the name of the directory they stand for.
        std::fs::canonicalize(path).ok()
    } else {
        None
    };
    let file = own
        .as_deref()
        .unwrap_or(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = file.as_str();
    if !is_dir {
        for ext in [".gz", ".zip", ".bz2", ".xz"] {
            if let Some(s) = stem.strip_suffix(ext) {
                stem = s;
                break;
            }
        }
        // `glove.6B.50d` keeps its dots: only an extension starting with a letter goes.
        if let Some((s, ext)) = stem.rsplit_once('.') {
            let extension = ext.starts_with(|c: char| c.is_ascii_alphabetic())
                && ext.chars().all(|c| c.is_ascii_alphanumeric());
            if !s.is_empty() && extension {
                stem = s;
            }
        }
    }
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.chars().next().is_some_and(starts_name) {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_file_stems() {
        let n = |p: &str| name_from_path(Path::new(p));
        assert_eq!(n("/x/glove.6B.50d.txt"), "glove.6B.50d");
        assert_eq!(n("glove.6B.50d.txt.gz"), "glove.6B.50d");
        assert_eq!(n("a.vec"), "a");
        assert_eq!(n("model.bin"), "model");
        assert_eq!(n("my vectors.vec"), "my_vectors");
        assert_eq!(n(".hidden.vec"), "_.hidden");
        assert_eq!(n("vectors"), "vectors");
        // A model directory is named by itself, dots and all.
        let models = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/models");
        assert_eq!(n(&format!("{models}/wordpiece")), "wordpiece");
        assert_eq!(n(&format!("{models}/wordpiece/")), "wordpiece");
        assert_eq!(n(&format!("{models}/wordpiece/..")), "models");
    }

    #[test]
    fn name_equals_file_splits_only_at_a_name() {
        assert_eq!(split_named("b=x.vec"), (Some("b"), "x.vec"));
        assert_eq!(split_named("b=x=y.vec"), (Some("b"), "x=y.vec"));
        assert_eq!(split_named("./a=b.vec"), (None, "./a=b.vec"));
        assert_eq!(split_named("/d/a=b.vec"), (None, "/d/a=b.vec"));
        assert_eq!(split_named("x.vec"), (None, "x.vec"));
        assert_eq!(split_named("=x.vec"), (None, "=x.vec"));
        assert_eq!(split_named("a="), (None, "a="));
        assert!(is_name("y1990") && is_name("glove.6B.50d") && is_name("w2v-small"));
        assert!(!is_name("-x") && !is_name(".x") && !is_name("a/b") && !is_name(""));
    }
}
