//! `vecsh export`: a file's rows as GloVe text or as the Embedding Projector's pair, written
//! aside and renamed into place, never over a file the input is read from, never a word the
//! format cannot hold, and no temporary file left by a failure, Ctrl-C or SIGTERM.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::loader::LoadOptions;
use crate::text::escape_path;

/// Streams the source's rows (after --limit) to GloVe text: exact values, rounded to `decimals`.
/// This is how the built-in vocabulary was made (see README). With an output file, the text is
/// written to a temporary file beside it and renamed into place once complete, so a failed
/// export leaves nothing and a replaced file is never seen half-written.
pub(super) fn glove(
    source: &Path,
    load: &LoadOptions,
    output: Option<&Path>,
    force: bool,
    decimals: usize,
) -> anyhow::Result<()> {
    let inputs = Inputs::of(source, load);
    let Some(output) = output else {
        // Standard output, as a pipe expects (plain text); never the input itself
        // (`vecsh export F >> F`).
        let stdout = std::io::stdout();
        let out_stat = stdout
            .as_fd()
            .try_clone_to_owned()
            .and_then(|fd| std::fs::File::from(fd).metadata());
        if let Ok(out) = out_stat {
            if out.is_file() {
                if let Some(what) = inputs.holds(&out, "") {
                    anyhow::bail!(
                        "standard output is {what}: export would overwrite what it reads"
                    );
                }
            }
        }
        let mut w = std::io::BufWriter::new(stdout.lock());
        write_rows(source, load, &mut w, decimals)?;
        return Ok(w.flush()?);
    };
    let (target, shown) = output_target(&inputs, output, force)?;
    let out = TempFile::create(&target, &shown)?;
    let named = Named {
        inner: out.file()?,
        shown: &shown,
    };
    let written = if target.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(named),
            flate2::Compression::best(),
        );
        write_rows(source, load, &mut gz, decimals)
            .and_then(|()| Ok(gz.finish()?.into_inner().map_err(|e| e.into_error())?))
    } else {
        let mut w = std::io::BufWriter::new(named);
        write_rows(source, load, &mut w, decimals)
            .and_then(|()| Ok(w.into_inner().map_err(|e| e.into_error())?))
    };
    written?;
    out.persist()
}

/// The rows of `source` as GloVe text into `w`; a word the text cannot hold is refused.
fn write_rows(
    source: &Path,
    load: &LoadOptions,
    w: &mut dyn Write,
    decimals: usize,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut row = 0u64;
    // A model's tokens include whitespace and line ends (`Ġ`, `Ċ`), which no line of text can
    // name: those rows are left out, and a note says how many.
    let model = crate::loader::is_model(source, load);
    let mut left_out: Vec<String> = Vec::new();
    let mut skipped = 0usize;
    crate::loader::load(source, load, &|_, _| {}, &mut |batch| {
        let dims = batch.vectors.len() / batch.words.len().max(1);
        for (word, values) in batch.words.iter().zip(batch.vectors.chunks_exact(dims)) {
            row += 1;
            if let Err(e) = check_text_word(word, row) {
                if !model {
                    return Err(e);
                }
                skipped += 1;
                if left_out.len() < 5 {
                    left_out.push(format!("'{}'", crate::text::escape(word)));
                }
                continue;
            }
            line.clear();
            line.push_str(word);
            for x in values {
                line.push(' ');
                line.push_str(&format_value(*x, decimals));
            }
            line.push('\n');
            w.write_all(line.as_bytes())?;
        }
        Ok(())
    })?;
    w.flush()?;
    if skipped > 0 {
        eprintln!(
            "note: {} tokens left out: GloVe text cannot hold a word with a space, tab or line end ({}{})",
            crate::text::thousands(skipped),
            left_out.join(", "),
            if skipped > left_out.len() { ", …" } else { "" }
        );
    }
    Ok(())
}

/// A word of GloVe (or word2vec) text is the line's first field: the empty word, or one holding
/// a character that splits fields or lines (space, tab, line ends, vertical tab, form feed, as
/// vecsh, gensim and Python's `split()` read them), would be read back as other rows or fail.
/// Other Unicode spaces (GloVe 840B's U+00A0) are kept: no reader splits on them.
fn check_text_word(word: &str, row: u64) -> anyhow::Result<()> {
    if word.is_empty() {
        anyhow::bail!(
            "row {row}: an empty word cannot be written as GloVe text (its line would start with a value); export writes no such word"
        );
    }
    if word.contains([' ', '\t', '\n', '\r', '\x0b', '\x0c']) {
        anyhow::bail!(
            "row {row}: the word '{}' holds a space, tab or line end, which would split its line of GloVe text; export writes no such word",
            crate::text::escape(word)
        );
    }
    Ok(())
}

/// The files the input is read from: the source and its companions (`loader::companions`: the
/// tutorial's map, labels, gensim's sidecars), by device and inode, so that a path reaching one
/// through any link is seen.
struct Inputs(Vec<(PathBuf, u64, u64, bool)>);

impl Inputs {
    fn of(source: &Path, load: &LoadOptions) -> Inputs {
        let mut files = vec![(source.to_path_buf(), true)];
        files.extend(
            crate::loader::companions(source, load)
                .into_iter()
                .map(|c| (c, false)),
        );
        Inputs(
            files
                .into_iter()
                .filter_map(|(p, is_source)| {
                    let m = std::fs::metadata(&p).ok()?;
                    Some((p, m.dev(), m.ino(), is_source))
                })
                .collect(),
        )
    }

    /// What the file of `m` is to the input, if it is one of its files; `shown` is how the
    /// user named it (the input's own name is added when it differs).
    fn holds(&self, m: &std::fs::Metadata, shown: &str) -> Option<String> {
        let (path, _, _, is_source) = self
            .0
            .iter()
            .find(|(_, dev, ino, _)| (*dev, *ino) == (m.dev(), m.ino()))?;
        let input = escape_path(path);
        let named = if input == shown {
            String::new()
        } else {
            format!(" {input}")
        };
        Some(if *is_source {
            format!("the input file{named}")
        } else {
            format!("the input's companion file{named} (read with it)")
        })
    }

    /// The refusal when `path` (shown as `shown`) is one of the input's files.
    fn refuse(&self, path: &Path, shown: &str) -> anyhow::Result<()> {
        if let Some(what) = std::fs::metadata(path)
            .ok()
            .and_then(|m| self.holds(&m, shown))
        {
            anyhow::bail!(
                "{shown} is {what}: export never writes over what it reads, even with --force"
            );
        }
        Ok(())
    }
}

/// The file `-o` names, checked before anything is written: never one of the input's files
/// (same device and inode, through symbolic and hard links), never a directory, an existing
/// file only with `--force`. A symbolic link is followed: the file it names is the one
/// replaced. Returns the target and how to name it.
fn output_target(inputs: &Inputs, output: &Path, force: bool) -> anyhow::Result<(PathBuf, String)> {
    let shown = escape_path(output);
    let target = match std::fs::symlink_metadata(output) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(output)
            .with_context(|| format!("{shown} is a symbolic link to a missing file"))?,
        _ => output.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(out) => {
            inputs.refuse(&target, &shown)?;
            if out.is_dir() {
                anyhow::bail!("{shown} is a directory: give a file name (-o DIR/NAME.txt)");
            }
            if !force {
                anyhow::bail!("{shown} exists: --force replaces it");
            }
            if !out.is_file() {
                anyhow::bail!("{shown} is not a regular file: export writes only files");
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot write {shown}")),
    }
    Ok((target, shown))
}

/// The Embedding Projector's pair in the directory `dir`: `vectors.tsv` (values, tab-separated)
/// and `metadata.tsv` (one word a line; one column, so no header). A word holding a tab or a
/// line end would split its row, and an empty one would be a blank line: refused, naming the
/// row. Both files are written under temporary names and renamed at the end; a failure leaves
/// neither, nor the directories it created.
pub(super) fn projector(
    source: &Path,
    load: &LoadOptions,
    dir: &Path,
    force: bool,
    decimals: usize,
) -> anyhow::Result<()> {
    let inputs = Inputs::of(source, load);
    let names = ["vectors.tsv", "metadata.tsv"];
    for n in names {
        let path = dir.join(n);
        let shown = escape_path(&path);
        inputs.refuse(&path, &shown)?;
        if !force && std::fs::symlink_metadata(&path).is_ok() {
            anyhow::bail!("{shown} exists: --force replaces it");
        }
    }
    let made = MadeDirs::create(dir)?;
    let shown: Vec<String> = names.iter().map(|n| escape_path(&dir.join(n))).collect();
    let vectors_out = TempFile::create(&dir.join(names[0]), &shown[0])?;
    let metadata_out = TempFile::create(&dir.join(names[1]), &shown[1])?;
    let mut vectors = std::io::BufWriter::new(Named {
        inner: vectors_out.file()?,
        shown: &shown[0],
    });
    let mut metadata = std::io::BufWriter::new(Named {
        inner: metadata_out.file()?,
        shown: &shown[1],
    });
    let mut row = 0u64;
    let mut line = String::new();
    // A model's tokens that hold a tab or a line end (`Ċ`) are left out, with a note.
    let model = crate::loader::is_model(source, load);
    let mut skipped = 0usize;
    crate::loader::load(source, load, &|_, _| {}, &mut |batch| {
        let dims = batch.vectors.len() / batch.words.len().max(1);
        for (word, values) in batch.words.iter().zip(batch.vectors.chunks_exact(dims)) {
            row += 1;
            if model && (word.is_empty() || word.contains(['\t', '\n', '\r'])) {
                skipped += 1;
                continue;
            }
            if word.is_empty() {
                anyhow::bail!(
                    "row {row}: an empty word would be a blank line of the Projector's metadata.tsv; export writes no such word"
                );
            }
            if word.contains(['\t', '\n', '\r']) {
                anyhow::bail!(
                    "row {row}: the word '{}' holds a tab or a line end, which would split its row in the Projector's files",
                    crate::text::escape(word)
                );
            }
            line.clear();
            for (i, x) in values.iter().enumerate() {
                if i > 0 {
                    line.push('\t');
                }
                line.push_str(&format_value(*x, decimals));
            }
            line.push('\n');
            vectors.write_all(line.as_bytes())?;
            metadata.write_all(word.as_bytes())?;
            metadata.write_all(b"\n")?;
        }
        Ok(())
    })?;
    vectors.flush()?;
    metadata.flush()?;
    if skipped > 0 {
        eprintln!(
            "note: {} tokens left out: the Projector's files cannot hold a word with a tab or line end",
            crate::text::thousands(skipped)
        );
    }
    drop((vectors, metadata));
    vectors_out.persist()?;
    metadata_out.persist()?;
    made.keep();
    Ok(())
}

/// `x` with at most `decimals` decimals and no trailing zeros ("0.418", "-1.2", "0").
fn format_value(x: f32, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Output files: written aside, errors named, removed on failure and on a signal
// ---------------------------------------------------------------------------------------

/// A file being written, whose errors name the output (`cannot write out.txt: no space left
/// on device`) instead of the bare OS error.
struct Named<'a> {
    inner: std::fs::File,
    shown: &'a str,
}

impl Write for Named<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| named(self.shown, e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| named(self.shown, e))
    }
}

/// `e` as "cannot write NAME: what happened", its kind kept.
fn named(shown: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot write {shown}: {}", os_reason(&e)))
}

/// An OS error's text without its number, in lower case ("no space left on device").
fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// A temporary file beside the output (`.NAME.vecsh-PID.tmp`), renamed over it by `persist`,
/// removed when dropped before that and when a signal ends the process. Creating one first
/// removes the temporary files of the same target left by processes no longer alive (a
/// kill -9, a power cut).
struct TempFile {
    tmp: PathBuf,
    target: PathBuf,
    shown: String,
    file: Option<std::fs::File>,
    slot: signals::Slot,
}

impl TempFile {
    fn create(target: &Path, shown: &str) -> anyhow::Result<TempFile> {
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        remove_stale(target);
        let tmp = target.with_file_name(format!(".{name}.vecsh-{}.tmp", std::process::id()));
        // Registered before it exists: a signal between the two removes nothing, or the file.
        let slot = signals::register(&tmp, false);
        let file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| named(shown, e))?;
        Ok(TempFile {
            tmp,
            target: target.to_path_buf(),
            shown: shown.to_string(),
            file: Some(file),
            slot,
        })
    }

    fn file(&self) -> anyhow::Result<std::fs::File> {
        let file = self.file.as_ref().expect("created with its file");
        Ok(file.try_clone()?)
    }

    /// Makes the written file durable and moves it into place.
    fn persist(mut self) -> anyhow::Result<()> {
        let file = self.file.as_ref().expect("created with its file");
        file.sync_all().map_err(|e| named(&self.shown, e))?;
        std::fs::rename(&self.tmp, &self.target).map_err(|e| named(&self.shown, e))?;
        self.file = None;
        signals::release(self.slot.take());
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        signals::release(self.slot.take());
    }
}

/// Removes `.NAME.vecsh-PID.tmp` (and the older `.NAME.partial-PID`) beside `target` whose PID
/// names no living process: what an export killed outright left of this target. A live
/// process's file, or another target's, is never touched.
fn remove_stale(target: &Path) {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id();
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(file) = file.to_str() else { continue };
        let Some(rest) = file.strip_prefix('.').and_then(|f| f.strip_prefix(name)) else {
            continue;
        };
        let pid = rest
            .strip_prefix(".vecsh-")
            .and_then(|r| r.strip_suffix(".tmp"))
            .or_else(|| rest.strip_prefix(".partial-"));
        let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != own
            && !crate::index::process_alive(pid)
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The directories `create` made for `-o DIR` (none that existed before), removed when
/// dropped unless kept, and when a signal ends the process.
struct MadeDirs {
    made: Vec<(PathBuf, signals::Slot)>,
}

impl MadeDirs {
    fn create(dir: &Path) -> anyhow::Result<MadeDirs> {
        let mut missing = Vec::new();
        let mut d = dir;
        while !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err() {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        // Outermost first, each registered before it exists.
        let mut made = MadeDirs { made: Vec::new() };
        for d in missing.into_iter().rev() {
            let slot = signals::register(&d, true);
            made.made.push((d.clone(), slot));
            match std::fs::create_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", escape_path(&d)))
                }
            }
        }
        Ok(made)
    }

    fn keep(mut self) {
        for (_, slot) in self.made.drain(..) {
            signals::release(slot);
        }
    }
}

impl Drop for MadeDirs {
    fn drop(&mut self) {
        // Innermost first; only empty ones go (never anything a user put there meanwhile).
        for (d, slot) in self.made.drain(..).rev() {
            let _ = std::fs::remove_dir(&d);
            signals::release(slot);
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP while an export writes: the handler removes the registered
/// temporary files and directories (`unlink`, `rmdir`: async-signal-safe), then the signal
/// ends the process as it would have (a shell sees "killed by SIGINT"). A signal the process
/// ignored (`nohup`) stays ignored.
mod signals {
    use std::ffi::{c_char, CString};
    use std::path::Path;
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::Once;

    const SLOTS: usize = 8;
    type Slots = [AtomicPtr<c_char>; SLOTS];
    static FILES: Slots = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
    static DIRS: Slots = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
    static INSTALL: Once = Once::new();

    /// A registered path: a file or a directory, and its slot.
    pub(super) type Slot = Option<(bool, usize)>;

    /// Registers `path` (a directory when `dir`) for removal by a signal; `None` when all
    /// slots are taken (the path is then removed only by `Drop`, and a file by a later
    /// export's sweep of stale files).
    pub(super) fn register(path: &Path, dir: bool) -> Slot {
        INSTALL.call_once(install);
        let c = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).ok()?;
        // Leaked on purpose: a handler running on another thread may still read a released
        // path, so its memory is never freed (a few short strings per process).
        let ptr = c.into_raw();
        let slots = if dir { &DIRS } else { &FILES };
        let i = slots.iter().position(|slot| {
            slot.compare_exchange(
                std::ptr::null_mut(),
                ptr,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
        })?;
        Some((dir, i))
    }

    /// The path of `slot` is no longer removed by a signal (renamed into place, or removed).
    pub(super) fn release(slot: Slot) {
        if let Some((dir, i)) = slot {
            let slots = if dir { &DIRS } else { &FILES };
            slots[i].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }

    fn install() {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a zeroed sigaction is "no flags, empty mask"; the handler only calls
            // async-signal-safe functions (unlink, rmdir, raise) on registered C strings.
            unsafe {
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut previous) != 0
                    || previous.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESETHAND;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        // Files first, then directories innermost first (registered outermost first).
        for slot in &FILES {
            let p = slot.load(Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: `p` is a leaked, never freed, NUL-terminated string.
                unsafe { libc::unlink(p) };
            }
        }
        for slot in DIRS.iter().rev() {
            let p = slot.load(Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: as above.
                unsafe { libc::rmdir(p) };
            }
        }
        // SA_RESETHAND put the default action back: the signal, delivered again when this
        // handler returns, ends the process.
        // SAFETY: raise is async-signal-safe.
        unsafe { libc::raise(sig) };
    }
}
