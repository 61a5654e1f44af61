//! Writing word maps as SVG files, for `--svg FILE` and `:svg FILE EXPR` (front-end only:
//! the evaluator returns maps, `render::svg` turns one into a document, this writes it).
//!
//! `--svg map.svg` writes the run's first map to `map.svg`. When a second map comes, the first
//! is renamed `map-1.svg` and the second written to `map-2.svg`, and so on: one map, one file
//! by the name given; several, numbered files. `:svg FILE EXPR` writes exactly FILE.
//!
//! A file that already exists is never overwritten (it may be the user's own picture, or
//! anything else that happens to end in .svg): that map is refused with an error naming the
//! file. When the first map cannot take its numbered name (`map-1.svg` exists), it keeps
//! `map.svg` and a warning says so.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::eval::Value;
use crate::render::svg::map_svg_in;
use crate::text::escape_path;

/// The `--svg` target of one run and how many maps went to it.
#[derive(Debug, Default)]
pub struct SvgFiles {
    base: Option<PathBuf>,
    count: usize,
    /// Whether the first map reached `base` (only then is there a file to rename).
    first_written: bool,
    /// Said to the user even when notes are not (see [`SvgFiles::take_warnings`]).
    warnings: Vec<String>,
}

impl SvgFiles {
    pub fn new(base: Option<PathBuf>) -> SvgFiles {
        SvgFiles {
            base,
            count: 0,
            first_written: false,
            warnings: Vec::new(),
        }
    }

    /// What went differently from what the user asked, since the last call: a numbered
    /// rename that was not done. The front-end shows these whatever the notes setting.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Writes `value` if it is a map that should go to a file; returns what was done, for a
    /// note to the user (`None`: nothing written).
    pub fn save(&mut self, value: &Value) -> anyhow::Result<Option<String>> {
        let Value::Map {
            query,
            points,
            arrows,
            variance,
            coordinates,
            svg,
        } = value
        else {
            return Ok(None);
        };
        let document = map_svg_in(query, points, arrows, *variance, coordinates.as_deref());
        if let Some(file) = svg {
            let path = PathBuf::from(file);
            write(&path, &document)?;
            return Ok(Some(format!("wrote {}", escape_path(&path))));
        }
        let Some(base) = &self.base else {
            return Ok(None);
        };
        self.count += 1;
        match self.count {
            1 => {
                write(base, &document)?;
                self.first_written = true;
                Ok(Some(format!("wrote {}", escape_path(base))))
            }
            n => {
                let mut note = String::new();
                if n == 2 && self.first_written {
                    let first = numbered(base, 1);
                    match rename_new(base, &first) {
                        Ok(()) => {
                            note = format!(
                                " (and renamed {} to {})",
                                escape_path(base),
                                escape_path(&first)
                            )
                        }
                        Err(e) => {
                            let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                                format!("{} already exists", escape_path(&first))
                            } else {
                                format!(
                                    "cannot rename {} to {}: {e}",
                                    escape_path(base),
                                    escape_path(&first)
                                )
                            };
                            self.warnings.push(format!(
                                "{why}, so the first map stays {}",
                                escape_path(base)
                            ));
                        }
                    }
                }
                let path = numbered(base, n);
                write(&path, &document)?;
                Ok(Some(format!("wrote {}{note}", escape_path(&path))))
            }
        }
    }
}

/// `map.svg` → `map-2.svg`; `maps/x` → `maps/x-2`.
pub fn numbered(base: &Path, n: usize) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    base.with_file_name(name)
}

/// Refuses `path` before anything is drawn for it: it exists (vecsh never overwrites a file)
/// or is a directory.
pub fn check_new(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "{} is a directory: give a file name ending in .svg (e.g. {})",
            escape_path(path),
            escape_path(&path.join("map.svg"))
        );
    }
    if path.symlink_metadata().is_ok() {
        anyhow::bail!(
            "{} already exists: vecsh does not overwrite files (remove it or choose another name)",
            escape_path(path)
        );
    }
    Ok(())
}

/// Writes a new file: never over one that exists (`create_new`, so no race between a check
/// and the write either).
fn write(path: &Path, document: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} already exists: vecsh does not overwrite files (remove it or choose another name)",
            escape_path(path)
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot write {}", escape_path(path)));
        }
    };
    if let Err(e) = file
        .write_all(document.as_bytes())
        .and_then(|()| file.flush())
    {
        // Ours and incomplete: a half picture would only mislead.
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("cannot write {}", escape_path(path)));
    }
    Ok(())
}

/// Renames `from` to `to` unless `to` exists (`AlreadyExists` then): a hard link fails on an
/// existing target atomically; where links are not supported, a check before the rename.
fn rename_new(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => std::fs::remove_file(from),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if to.symlink_metadata().is_ok() => {
            Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
        }
        Err(_) => std::fs::rename(from, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_keeps_the_folder_and_extension() {
        assert_eq!(
            numbered(Path::new("out/map.svg"), 2),
            Path::new("out/map-2.svg")
        );
        assert_eq!(numbered(Path::new("map"), 1), Path::new("map-1"));
    }
}
