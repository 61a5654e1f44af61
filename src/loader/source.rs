//! Where the bytes come from: plain files memory-mapped (hashed and released behind the
//! reader), pipes and devices, and decompressed streams read block by block; the progress
//! reported while reading.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use super::binary::parse_binary;
use super::bytes::is_blank;
use super::compress::{sniff, Compression, Counting};
use super::detect::{data_error, detect, looks_utf16, At, Layout};
use super::formats;
use super::rows::Rows;
use super::text::{parse_block, split_lines, Piece, TextState};
use super::{Batch, Format, LoadError, LoadOptions, LoadReport, Problem, MAX_LINE};

/// Decompressed bytes parsed per round for text; bounds the memory held besides the sink's.
const BLOCK: usize = 8 << 20;

/// Opens without blocking: opening a FIFO that has no writer would otherwise wait forever.
/// Reads then block as usual (a FIFO without a writer reads as empty).
pub(super) fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // SAFETY: fcntl on a descriptor we own; it changes only its status flags.
    unsafe {
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

/// FIFOs, process substitution (`<(cmd)`), character devices: read once, front to back,
/// as a (possibly gzipped) stream. Formats that need to seek are refused by name.
pub(super) fn load_nonregular(
    mut file: File,
    label: &str,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    sink: &mut dyn FnMut(Batch) -> anyhow::Result<()>,
) -> Result<LoadReport, LoadError> {
    let io_err = |source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    };
    let refuse = |message: &str| LoadError::Archive {
        file: label.to_owned(),
        message: message.to_owned(),
    };
    let mut magic = [0u8; 64];
    let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
    let magic = magic[..n].to_vec();
    if n == 0 {
        return Err(data_error(label, At::File, Problem::Empty));
    }
    if formats::fasttext::sniff(&magic).is_some() {
        return Err(refuse(
            "a fastText model is read from a regular file, not a pipe: save it to a file first",
        ));
    }
    let compression = sniff(&magic);
    if matches!(compression, Compression::Zip) {
        return Err(refuse(
            "a zip archive is read from its end, so it must be a regular file, not a pipe",
        ));
    }
    if opts.member.is_some() {
        return Err(refuse("--member was given, but this is not a zip archive"));
    }
    let count = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: Cursor::new(magic).chain(file),
        count: count.clone(),
    };
    let progress = Progress::counted(on_progress, count, 0);
    let mut rows = Rows::new(sink, opts.limit);
    let (compression, layout) = if matches!(compression, Compression::Gzip) {
        let mut reader =
            flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 18, counted));
        (
            "gzip",
            load_stream(&mut reader, label, opts, &progress, &mut rows)?,
        )
    } else {
        let mut reader = counted;
        (
            "none",
            load_stream(&mut reader, label, opts, &progress, &mut rows)?,
        )
    };
    Ok(rows.report(layout.format, compression, None, layout.dims, layout.header))
}

pub(super) fn read_up_to(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(super) struct Progress<'a> {
    callback: &'a (dyn Fn(u64, u64) + Sync),
    /// Mapped sources: hashes and releases what was read (see `Behind`).
    behind: Option<&'a (dyn Fn(usize) + Sync)>,
    /// Compressed sources: (bytes read so far, value at the start of the data).
    counter: Option<(Arc<AtomicU64>, u64)>,
    total: u64,
}

impl<'a> Progress<'a> {
    pub(super) fn mapped(callback: &'a (dyn Fn(u64, u64) + Sync), total: u64) -> Self {
        Progress {
            callback,
            behind: None,
            counter: None,
            total,
        }
    }

    pub(super) fn counted(
        callback: &'a (dyn Fn(u64, u64) + Sync),
        count: Arc<AtomicU64>,
        total: u64,
    ) -> Self {
        let base = count.load(Ordering::Relaxed);
        Progress {
            callback,
            behind: None,
            counter: Some((count, base)),
            total,
        }
    }

    /// `offset` is the position in the uncompressed stream; used only when it is also the
    /// position in the source.
    pub(super) fn at(&self, offset: u64) {
        let done = match &self.counter {
            Some((count, base)) => count.load(Ordering::Relaxed).saturating_sub(*base),
            None => offset,
        };
        if let Some(behind) = self.behind {
            behind(offset as usize);
        }
        (self.callback)(done.min(self.total), self.total);
    }

    pub(super) fn finish(&self) {
        (self.callback)(self.total, self.total);
    }
}

pub(super) fn load_mapped(
    file: &File,
    len: u64,
    label: &str,
    opts: &LoadOptions,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    rows: &mut Rows,
) -> Result<(Layout, u64), LoadError> {
    if len == 0 {
        return Err(data_error(label, At::File, Problem::Empty));
    }
    // SAFETY: the map is read-only and private to this call. If another process truncates
    // the file meanwhile, the pages that are gone read as zeros (`shrink_guard`) and the load
    // is refused; reading 170 MB through read() would cost a copy.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    })?;
    let _watch = super::shrink_guard::watch(&map);
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let data: &[u8] = &map;
    let layout = detect(data, opts.format).map_err(|(at, p)| data_error(label, at, p))?;
    let behind = std::sync::Mutex::new(Behind::new(data));
    let follow = |offset| behind.lock().unwrap_or_else(|e| e.into_inner()).at(offset);
    let progress = Progress {
        behind: Some(&follow),
        ..Progress::mapped(on_progress, len)
    };
    if layout.format == Format::Word2VecBinary {
        let mut reader = Cursor::new(&data[layout.data_start..]);
        parse_binary(&mut reader, label, &layout, &progress, rows, true)?;
    } else {
        let mut text = TextState::new(label, &layout);
        let mut offset = layout.data_start;
        let mut after_piece = |bytes| {
            offset += bytes;
            progress.at(offset as u64);
        };
        // Handing rows over is serial; parsing the next block meanwhile hides it.
        let mut pending: Option<Vec<Piece>> = None;
        for block in split_lines(&data[layout.data_start..], BLOCK) {
            let mut parsed = None;
            rayon::in_place_scope(|scope| {
                scope.spawn(|_| parsed = Some(parse_block(block, layout.dims)));
                text.feed(pending.take(), rows, &mut after_piece)
            })?;
            pending = parsed;
            if rows.full() {
                break;
            }
        }
        text.feed(pending, rows, &mut after_piece)?;
        text.finish(rows)?;
    }
    progress.finish();
    drop(progress);
    // What a limit left unread is hashed too: the fingerprint covers the whole file.
    let hash = behind
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .finish();
    Ok((layout, hash))
}

/// Follows a mapped read: hashes the bytes consumed so far (the content fingerprint, so the
/// file is not read a second time for it) and drops them from this process's page tables
/// behind the reader, so a 3.6 GB source does not stay in the resident set while the index is
/// written (the pages stay in the page cache).
struct Behind<'m> {
    data: &'m [u8],
    hasher: Xxh3,
    done: usize,
}

impl<'m> Behind<'m> {
    /// Bytes hashed and released at a time: large enough that the calls cost nothing.
    const STEP: usize = 32 << 20;

    fn new(data: &'m [u8]) -> Self {
        Behind {
            data,
            hasher: Xxh3::new(),
            done: 0,
        }
    }

    /// The reader has consumed everything before `offset`.
    fn at(&mut self, offset: usize) {
        let offset = offset.min(self.data.len());
        if offset >= self.done + Self::STEP {
            self.advance(offset);
        }
    }

    fn advance(&mut self, offset: usize) {
        self.hasher.update(&self.data[self.done..offset]);
        release(&self.data[self.done..offset]);
        self.done = offset;
    }

    fn finish(mut self) -> u64 {
        self.advance(self.data.len());
        self.hasher.digest()
    }
}

/// Drops the whole pages inside `bytes` (part of a read-only file mapping) from the page
/// tables; a later read faults them back in from the page cache, unchanged.
pub(super) fn release(bytes: &[u8]) {
    #[cfg(unix)]
    {
        let page = 4096usize;
        let start = (bytes.as_ptr() as usize).next_multiple_of(page);
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: the range lies inside a private, read-only file mapping that outlives
            // this call; MADV_DONTNEED there only unmaps pages that hold the file's content,
            // so later reads see the same bytes.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
}

/// Reads a decompressed stream block by block; only the current block, the one being
/// read ahead and their parsed rows are in memory.
pub(super) fn load_stream(
    reader: &mut (dyn Read + Send),
    label: &str,
    opts: &LoadOptions,
    progress: &Progress,
    rows: &mut Rows,
) -> Result<Layout, LoadError> {
    let io_err = |source| LoadError::Io {
        file: label.to_owned(),
        err: source,
    };
    let mut cur = Vec::with_capacity(BLOCK + BLOCK / 8);
    let mut eof = fill(reader, &mut cur, BLOCK).map_err(io_err)?;
    // Detection needs the whole first line.
    while !eof && memchr::memchr(b'\n', &cur).is_none() {
        let start = &cur[..cur.len().min(64)];
        if start.iter().all(|&b| b == 0) || looks_utf16(start) {
            break; // `detect` says what it is
        }
        if cur.len() >= MAX_LINE {
            return Err(data_error(label, At::Line(1), Problem::LineTooLong));
        }
        let want = cur.len() + BLOCK;
        eof = fill(reader, &mut cur, want).map_err(io_err)?;
    }
    let layout = match detect(&cur, opts.format) {
        // Only the first block was seen: blank lines may go on past it and rows follow, which
        // a plain file would call a blank line 1. Read on (block by block, keeping none).
        Err((At::File, Problem::Empty)) if !eof => {
            let mut rest = Vec::with_capacity(BLOCK);
            loop {
                rest.clear();
                let done = fill(reader, &mut rest, BLOCK).map_err(io_err)?;
                if !is_blank(&rest) {
                    return Err(data_error(label, At::Line(1), Problem::BlankLine));
                }
                if done {
                    return Err(data_error(label, At::File, Problem::Empty));
                }
            }
        }
        other => other.map_err(|(at, p)| data_error(label, at, p))?,
    };

    if layout.format == Format::Word2VecBinary {
        let head = Cursor::new(&cur[layout.data_start..]);
        let mut reader = BufReader::with_capacity(1 << 18, head.chain(reader));
        parse_binary(&mut reader, label, &layout, progress, rows, false)?;
        progress.finish();
        return Ok(layout);
    }

    let mut text = TextState::new(label, &layout);
    let mut next = Vec::with_capacity(BLOCK + BLOCK / 8);
    let mut start = layout.data_start;
    let mut pending: Option<Vec<Piece>> = None;
    loop {
        let end = if eof {
            cur.len()
        } else {
            match memchr::memrchr(b'\n', &cur[start..]) {
                Some(i) => start + i + 1,
                None => {
                    // A line longer than a block: grow the block until it holds a line end.
                    if cur.len() - start >= MAX_LINE {
                        return Err(data_error(label, At::File, Problem::LineTooLong));
                    }
                    let want = cur.len() + BLOCK;
                    eof = fill(reader, &mut cur, want).map_err(io_err)?;
                    continue;
                }
            }
        };
        next.clear();
        next.extend_from_slice(&cur[end..]);
        let block = &cur[start..end];
        // Three stages at once: decompress the next block, parse this one, hand over the
        // rows of the previous one. Decompression and handing over are sequential; this
        // keeps both cores busy.
        let mut parsed = None;
        let mut next_eof = Ok(true);
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| parsed = Some(parse_block(block, layout.dims)));
            if !eof {
                scope.spawn(|_| next_eof = fill(reader, &mut next, BLOCK));
            }
            // The counter moves while the next block decompresses alongside.
            text.feed(pending.take(), rows, |_| progress.at(0))
        })?;
        pending = parsed;
        if eof || rows.full() {
            break;
        }
        eof = next_eof.map_err(io_err)?;
        std::mem::swap(&mut cur, &mut next);
        start = 0;
    }
    text.feed(pending, rows, |_| progress.at(0))?;
    text.finish(rows)?;
    progress.finish();
    Ok(layout)
}

/// Reads until `buf` holds `want` bytes; returns whether the stream ended first.
fn fill(reader: &mut (dyn Read + Send), buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    if buf.len() >= want {
        return Ok(false);
    }
    let missing = want - buf.len();
    buf.reserve(missing);
    let n = reader.take(missing as u64).read_to_end(buf)?;
    Ok(n < missing)
}
