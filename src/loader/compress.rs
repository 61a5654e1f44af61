//! Compression: gzip and zip recognised by their content, the byte counter progress is
//! measured in, and zip archives (choosing the member, reading it as a stream).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::detect::Layout;
use super::rows::Rows;
use super::source::{load_stream, Progress};
use super::{LoadError, LoadOptions};

pub(super) enum Compression {
    None,
    Gzip,
    Zip,
}

/// Content decides, not the file name: downloads often lose or gain extensions.
pub(super) fn sniff(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        Compression::Zip
    } else {
        Compression::None
    }
}

/// Counts bytes pulled from the compressed source, which is what progress is measured in.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

pub(super) fn load_zip(
    file: File,
    label: &str,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
) -> Result<(String, Layout), LoadError> {
    // Member names come from the archive: escaped before they can reach a terminal.
    let archive_err = |message: String| LoadError::Archive {
        file: label.to_owned(),
        message: crate::text::escape(&message).into_owned(),
    };
    let count = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: BufReader::with_capacity(1 << 18, file),
        count: count.clone(),
    };
    let mut archive = zip::ZipArchive::new(counted)
        .map_err(|e| archive_err(format!("not a readable zip archive: {e}")))?;
    let names: Vec<String> = (0..archive.len())
        .filter_map(|i| archive.name_for_index(i))
        .filter(|name| !name.ends_with('/'))
        .map(str::to_owned)
        .collect();
    let member = choose_member(&names, opts.member.as_deref()).map_err(archive_err)?;
    let mut entry = archive
        .by_name(&member)
        .map_err(|e| archive_err(format!("cannot read member '{member}': {e}")))?;
    let total = entry.compressed_size();
    let progress = Progress::counted(on_progress, count, total);
    let member_label = format!("{label}:{}", crate::text::escape(&member));
    let io_err = |source| LoadError::Io {
        file: member_label.clone(),
        err: source,
    };
    // Members are sometimes gzipped themselves (foo.txt.gz inside a zip).
    let mut head = BufReader::with_capacity(1 << 18, &mut entry);
    let gzipped = head.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let layout = if gzipped {
        let mut reader = flate2::bufread::MultiGzDecoder::new(head);
        load_stream(&mut reader, &member_label, opts, &progress, rows)?
    } else {
        load_stream(&mut head, &member_label, opts, &progress, rows)?
    };
    Ok((member, layout))
}

/// Picks the zip member to read; the error message lists what the user can choose from.
fn choose_member(names: &[String], wanted: Option<&str>) -> Result<String, String> {
    let list = |names: &[&String]| {
        names
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all: Vec<&String> = names.iter().collect();
    if let Some(wanted) = wanted {
        if let Some(name) = names.iter().find(|n| *n == wanted) {
            return Ok(name.clone());
        }
        // Archives often nest files in a folder the user does not think of as part of the name.
        let by_base: Vec<&String> = names.iter().filter(|n| base_name(n) == wanted).collect();
        if let [only] = by_base[..] {
            return Ok(only.clone());
        }
        return Err(format!(
            "no member named '{wanted}'; members: {}",
            list(&all)
        ));
    }
    // `torch.save`'s zip (`pytorch_model.bin`): `ARCHIVE/data.pkl` beside its tensors' storages.
    if names
        .iter()
        .any(|n| n.ends_with("/data.pkl") || n == "data.pkl")
    {
        return Err("a PyTorch checkpoint (torch.save's zip of pickled weights): vecsh never unpickles weights (a pickle can run code). Convert it to safetensors first, e.g. in Python: `from safetensors.torch import save_file; save_file(torch.load(PATH, weights_only=True), 'model.safetensors')`, and open the directory with its tokenizer.json".to_owned());
    }
    let candidates: Vec<&String> = names.iter().filter(|n| is_candidate(n)).collect();
    match candidates[..] {
        [only] => Ok(only.clone()),
        [] if names.len() == 1 => Ok(names[0].clone()),
        [] => Err(format!(
            "contains no embedding file (.txt, .vec, .bin, .gz); choose a member with --member: {}",
            list(&all)
        )),
        _ => Err(format!(
            "contains several embedding files; choose one with --member: {}",
            list(&candidates)
        )),
    }
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn is_candidate(name: &str) -> bool {
    let base = base_name(name).to_ascii_lowercase();
    let embedding_ext = [".txt", ".vec", ".bin", ".gz"]
        .iter()
        .any(|ext| base.ends_with(ext));
    let paperwork = ["readme", "license", "licence", "copying", "notice"]
        .iter()
        .any(|p| base.starts_with(p));
    embedding_ext && !paperwork && !name.starts_with("__MACOSX/") && !base.starts_with("._")
}
