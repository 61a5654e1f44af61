//! Writing word maps as SVG files, for `--svg FILE` and `:svg FILE EXPR` (front-end only:
//! the evaluator returns maps, `render::svg` turns one into a document, this writes it).
//!
//! `--svg map.svg` writes the run's first map to `map.svg`. When a second map comes, the first
//! is renamed `map-1.svg` and the second written to `map-2.svg`, and so on: one map, one file
//! by the name given; several, numbered files. `:svg FILE EXPR` writes exactly FILE.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::eval::Value;
use crate::render::svg::map_svg;
use crate::text::escape_path;

/// The `--svg` target of one run and how many maps went to it.
#[derive(Debug, Default)]
pub struct SvgFiles {
    base: Option<PathBuf>,
    count: usize,
    /// Whether the first map reached `base` (only then is there a file to rename).
    first_written: bool,
}

impl SvgFiles {
    pub fn new(base: Option<PathBuf>) -> SvgFiles {
        SvgFiles {
            base,
            count: 0,
            first_written: false,
        }
    }

    /// Writes `value` if it is a map that should go to a file; returns what was done, for a
    /// note to the user (`None`: nothing written).
    pub fn save(&mut self, value: &Value) -> anyhow::Result<Option<String>> {
        let Value::Map {
            query,
            points,
            arrows,
            variance,
            svg,
        } = value
        else {
            return Ok(None);
        };
        let document = map_svg(query, points, arrows, *variance);
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
                    std::fs::rename(base, &first).with_context(|| {
                        format!(
                            "cannot rename {} to {}",
                            escape_path(base),
                            escape_path(&first)
                        )
                    })?;
                    note = format!(
                        " (and renamed {} to {})",
                        escape_path(base),
                        escape_path(&first)
                    );
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

fn write(path: &Path, document: &str) -> anyhow::Result<()> {
    std::fs::write(path, document).with_context(|| format!("cannot write {}", escape_path(path)))
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
