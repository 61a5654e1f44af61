//! The index's errors, and the helpers that attach a path to an I/O or LMDB error.

use std::path::{Path, PathBuf};

use crate::loader;
use crate::text::escape_path;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Load(#[from] loader::LoadError),
    // The underlying errors are part of the message and deliberately not `source()`: a chain
    // printer would show them a second time.
    #[error("cannot read {}: {err}", escape_path(path))]
    Source { path: PathBuf, err: std::io::Error },
    #[error("index {}: {err}", escape_path(path))]
    Io { path: PathBuf, err: std::io::Error },
    #[error("index {}: {err}", escape_path(path))]
    Lmdb { path: PathBuf, err: heed::Error },
    #[error("index {}: approximate-search forest: {err}", escape_path(path))]
    Forest { path: PathBuf, err: arroy::Error },
    #[error(
        "index {} is not a complete vecsh index (interrupted build?); it will be rebuilt",
        escape_path(path)
    )]
    Incomplete { path: PathBuf },
    #[error(
        "index {} is damaged ({what}); open its embedding file to rebuild it",
        escape_path(path)
    )]
    Damaged { path: PathBuf, what: String },
    #[error("--index {}: not a vecsh index and not empty (it holds {holds}); vecsh only writes into a new or empty directory or one of its own indexes", escape_path(path))]
    NotAnIndex { path: PathBuf, holds: String },
    #[error(
        "no space left on device while writing the index in {} (it needs about {needed_mb} MB)",
        escape_path(path)
    )]
    NoSpace { path: PathBuf, needed_mb: u64 },
    #[error("--index {}: not a directory; vecsh only writes into a new or empty directory or one of its own indexes", escape_path(path))]
    NotADirectory { path: PathBuf },
    #[error("--index {}: the current directory cannot hold an index (it would be replaced); name a subdirectory", escape_path(path))]
    CurrentDir { path: PathBuf },
    #[error("the index was opened read-only; building the forest needs write access")]
    ReadOnly,
    #[error("the forest build was cancelled")]
    Cancelled,
    #[error("no cache directory: set VECSH_CACHE or HOME, or pass --index DIR")]
    NoCacheDir,
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

pub(super) fn io_err(path: &Path, err: std::io::Error) -> IndexError {
    IndexError::Io {
        path: path.to_path_buf(),
        err,
    }
}

pub(super) fn source_err(path: &Path, err: std::io::Error) -> IndexError {
    IndexError::Source {
        path: path.to_path_buf(),
        err,
    }
}

pub(super) fn lmdb_err(path: &Path, err: heed::Error) -> IndexError {
    IndexError::Lmdb {
        path: path.to_path_buf(),
        err,
    }
}
