//! Where indexes live and what vecsh may remove: cache directories, index directory names, target
//! checks, locks, leftovers of killed builds, streams' temporary indexes and the stat proof's file.

use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use super::error::{io_err, source_err, IndexError, Result};
use super::open::OpenOptions;
use super::records::Proof;

/// The file vecsh writes into every index directory it creates: the proof that it may remove
/// or replace that directory.
pub(super) const MARKER: &str = "vecsh-index";

/// The stat proof of the last full verification (see the `index` module docs).
const PROOF: &str = "verified.json";
/// Marks that a one-shot run said once that `vecsh build` makes exact search faster here.
pub(super) const BUILD_HINT: &str = "build-hint-given";

/// The first bytes of every lock file vecsh creates, so that only those are ever removed.
const LOCK_TAG: &[u8] = b"vecsh lock\n";

/// Removes a temporary index directory when dropped.
pub(super) struct RemoveOnDrop(pub(super) PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Temporary indexes of streams are `vecsh-stream-PID-N` in the temp dir.
pub(super) const STREAM_PREFIX: &str = "vecsh-stream-";

/// Removes temporary stream indexes (marked as vecsh's) whose process is gone.
pub(super) fn remove_dead_streams(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(STREAM_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let path = entry.path();
        if pid.is_some_and(|pid| !process_alive(pid)) && path.join(MARKER).is_file() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// The cache root: `$VECSH_CACHE`, else the XDG cache dir (`~/.cache/vecsh`).
pub fn default_cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("VECSH_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "vecsh")
        .map(|d| d.cache_dir().to_path_buf())
        .ok_or(IndexError::NoCacheDir)
}

/// The index directory for `source` under the given options.
pub fn index_dir_for(source: &Path, opts: &OpenOptions) -> Result<PathBuf> {
    if let Some(dir) = &opts.index_dir {
        return Ok(dir.clone());
    }
    let root = match &opts.cache_dir {
        Some(dir) => dir.clone(),
        None => default_cache_dir()?,
    };
    let canonical = fs::canonicalize(source).map_err(|e| source_err(source, e))?;
    // Everything that changes the index's content is part of its name; the path as raw bytes,
    // so that two non-UTF-8 names never share an index.
    let mut identity = canonical.as_os_str().as_bytes().to_vec();
    identity.extend_from_slice(
        format!(
            "\0{:?}\0{:?}\0{:?}",
            opts.load.limit, opts.load.member, opts.load.format
        )
        .as_bytes(),
    );
    // The options that choose or read companion files, and the companions found (a map,
    // labels, gensim's sidecars): their content is part of the index too. Only when there are
    // any, so that the index of a file without them keeps its name.
    let labels = opts
        .load
        .labels
        .as_ref()
        .map(|l| fs::canonicalize(l).unwrap_or_else(|_| l.clone()));
    let companions: Vec<PathBuf> = labels
        .into_iter()
        .chain(
            crate::loader::companions(source, &opts.load)
                .into_iter()
                .map(|p| fs::canonicalize(&p).unwrap_or(p)),
        )
        .collect();
    // The tensor a model's rows come from (`--tensor`): another tensor is another index.
    if let Some(tensor) = &opts.load.tensor {
        identity.extend_from_slice(format!("\0tensor\0{tensor}").as_bytes());
    }
    if opts.load.dims.is_some() || !companions.is_empty() {
        identity.extend_from_slice(format!("\0{:?}", opts.load.dims).as_bytes());
        for path in companions {
            identity.push(0);
            identity.extend_from_slice(path.as_os_str().as_bytes());
        }
    }
    let name: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    Ok(root.join(format!("{name}-{:016x}", xxh3_64(&identity))))
}

/// Refuses an `--index` target that vecsh did not make: a regular file, the current
/// directory, or a non-empty directory that is not a vecsh index. Nothing is touched.
pub(super) fn check_target(dir: &Path, in_cache: bool) -> Result<()> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, e)),
    };
    if !meta.is_dir() {
        return Err(IndexError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let here = std::env::current_dir().and_then(fs::canonicalize).ok();
    if here.is_some() && fs::canonicalize(dir).ok() == here {
        return Err(IndexError::CurrentDir {
            path: dir.to_path_buf(),
        });
    }
    if is_vecsh_dir(dir, in_cache) {
        return Ok(());
    }
    let mut entries: Vec<String> = fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .flatten()
        .map(|e| crate::text::escape_bytes(e.file_name().as_bytes()))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort();
    let n = entries.len();
    let mut holds = entries.into_iter().take(3).collect::<Vec<_>>().join(", ");
    if n > 3 {
        holds.push_str(&format!(" and {} more", n - 3));
    }
    Err(IndexError::NotAnIndex {
        path: dir.to_path_buf(),
        holds,
    })
}

/// Whether `dir` is provably vecsh's: it holds vecsh's marker, or, in vecsh's own cache only
/// (an index built before the marker existed, or one damaged there), nothing but LMDB's files.
pub(super) fn is_vecsh_dir(dir: &Path, in_cache: bool) -> bool {
    if dir.join(MARKER).is_file() {
        return true;
    }
    if !in_cache {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let mut has_data = false;
    for entry in entries.flatten() {
        match entry.file_name().as_bytes() {
            b"data.mdb" => has_data = true,
            b"lock.mdb" => {}
            _ => return false,
        }
    }
    has_data
}

/// Removes what killed processes left beside `dir` (the caller holds `dir`'s lock): build and
/// replaced directories that carry vecsh's marker and whose process is gone, and vecsh's lock
/// files of indexes that do not exist and whose lock nobody holds.
pub(super) fn remove_leftovers(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let name = name.as_bytes();
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let entry_name = file_name.as_bytes();
        if let Some(rest) = entry_name.strip_prefix(name) {
            let pid = rest
                .strip_prefix(b".building-")
                .or_else(|| rest.strip_prefix(b".old-"))
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                let path = entry.path();
                if pid != std::process::id() && !process_alive(pid) {
                    if rest.starts_with(b".old-") {
                        // A replaced index may still hold what a user put into it: only
                        // vecsh's own files go.
                        if path.join(MARKER).is_file() {
                            retire_old_index(&path, dir);
                        }
                    } else if path.join(MARKER).is_file() {
                        let _ = fs::remove_dir_all(&path);
                    } else {
                        // Killed between creating it and marking it: an empty directory,
                        // and `remove_dir` removes nothing else.
                        let _ = fs::remove_dir(&path);
                    }
                }
                continue;
            }
        }
        if let Some(stem) = entry_name.strip_suffix(b".lock") {
            let path = entry.path();
            let index = parent.join(std::ffi::OsStr::from_bytes(stem));
            if stem != name && !index.exists() && is_stale_lock(&path) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Whether `name` is one of the files vecsh writes into an index directory: LMDB's two files,
/// the marker, the stat proof and the proof's temporary file, the one-shot hint's marker.
pub(super) fn is_index_file(name: &[u8]) -> bool {
    let proof_tmp = name
        .strip_prefix(PROOF.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"."))
        .is_some_and(|pid| !pid.is_empty() && pid.iter().all(u8::is_ascii_digit));
    matches!(name, b"data.mdb" | b"lock.mdb")
        || name == MARKER.as_bytes()
        || name == PROOF.as_bytes()
        || name == BUILD_HINT.as_bytes()
        || proof_tmp
}

/// Retires `old`, an index directory replaced by `dir`: what a user put into it moves into
/// `dir` (unless `dir` has that name already), vecsh's own files are removed, and `old` too if
/// nothing else is left in it. A rebuild replaces only what vecsh wrote.
pub(super) fn retire_old_index(old: &Path, dir: &Path) {
    let Ok(entries) = fs::read_dir(old) else {
        return;
    };
    let dir_exists = dir.is_dir();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if is_index_file(name.as_bytes()) || name.as_bytes() == MARKER.as_bytes() {
            continue;
        }
        let to = dir.join(&name);
        if dir_exists && fs::symlink_metadata(&to).is_err() {
            let _ = fs::rename(entry.path(), to);
        }
    }
    for name in ["data.mdb", "lock.mdb"] {
        let _ = fs::remove_file(old.join(name));
    }
    if let Ok(entries) = fs::read_dir(old) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if is_index_file(name.as_bytes()) && name.as_bytes() != MARKER.as_bytes() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    // The marker last, so that a kill before it leaves a directory vecsh still knows as its
    // own; `remove_dir` removes only an empty directory.
    let _ = fs::remove_file(old.join(MARKER));
    let _ = fs::remove_dir(old);
}

/// Whether `path` is a lock file vecsh created that nobody holds now.
fn is_stale_lock(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut file) = File::options().read(true).write(true).open(path) else {
        return false;
    };
    let mut head = [0u8; LOCK_TAG.len()];
    if file.read_exact(&mut head).is_err() || head != LOCK_TAG {
        return false;
    }
    // Holding it now proves nobody else does; it is released when `file` closes.
    file.try_lock().is_ok()
}

/// Whether `pid` is a living process: one in /proc that is not a zombie. Without /proc, every
/// process is taken for alive (nothing of a running build, or an export's file, is removed).
pub fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        // No procfs to ask: assume alive, so nothing of a running build is ever removed.
        return true;
    }
    // A zombie (killed, not yet reaped by its parent) or a dying process still has its
    // /proc entry, but will never finish a build. The state follows the command name, which
    // may itself contain ')' and blanks: take what follows the last ')'.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.trim_start().chars().next()),
            Some('Z' | 'X' | 'x')
        ),
        Err(_) => false,
    }
}

/// Opens (creating and tagging it when new) the lock file of an index.
pub(super) fn open_lock(path: &Path) -> Result<File> {
    use std::io::Write;
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    if file.metadata().map(|m| m.len()).unwrap_or(1) == 0 {
        let _ = file.write_all(LOCK_TAG);
    }
    Ok(file)
}

pub(super) fn read_proof(dir: &Path) -> Option<Proof> {
    serde_json::from_slice(&fs::read(dir.join(PROOF)).ok()?).ok()
}

/// Removes the proof: the next open verifies fully.
pub(super) fn remove_proof(dir: &Path) {
    let _ = fs::remove_file(dir.join(PROOF));
}

/// Writes the proof atomically (a torn proof must not read as valid); failures only cost a
/// verification next time.
pub(super) fn write_proof(dir: &Path, proof: &Proof) {
    let tmp = dir.join(format!("{PROOF}.{}", std::process::id()));
    let Ok(json) = serde_json::to_vec(proof) else {
        return;
    };
    if fs::write(&tmp, json).is_err() || fs::rename(&tmp, dir.join(PROOF)).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

pub(super) fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}
