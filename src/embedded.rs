//! The built-in vocabulary: the 50,000 most frequent words of GloVe 6B 50d (Stanford, PDDL 1.0),
//! as gzipped GloVe text with 4 decimals, compiled into the binary. It was made with
//! `vecsh export glove.6B.50d.txt --limit 50000 --decimals 4 -o assets/glove.6B.50d.50k.txt.gz`.
//!
//! On first use it is written to the cache directory so it goes through the same loader and
//! index as any other file; the index is then reused like any other.

use std::path::PathBuf;

use anyhow::Context;

use crate::index::default_cache_dir;

pub const FILE_NAME: &str = "glove.6B.50d.50k.txt.gz";
pub const BYTES: &[u8] = include_bytes!("../assets/glove.6B.50d.50k.txt.gz");

/// The path of the built-in vocabulary file, writing it into the cache first if needed.
pub fn materialize() -> anyhow::Result<PathBuf> {
    let dir = default_cache_dir()?.join("builtin");
    let path = dir.join(FILE_NAME);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == BYTES.len() as u64) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Written aside and renamed so a concurrent or interrupted write is never seen half-done.
    let tmp = dir.join(format!("{FILE_NAME}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, BYTES).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
