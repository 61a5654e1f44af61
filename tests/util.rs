//! What the test files share: the built binary, the built-in vocabulary's index (built once per
//! run), open options with a cache directory, generated GloVe files, fixture paths, per-run
//! caches, the pseudo-terminal helpers, and the readers' helpers: loading a fixture and comparing
//! answers with a reference's.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use rexpect::process::wait::WaitStatus;
use rexpect::session::PtySession;
use vecsh::index::{OpenOptions, Store};
use vecsh::progress::Silent;

// ------------------------------------------------------------------------------ the binary

/// The built `vecsh` with its index cache in `cache`, colour off and no history file.
pub fn vecsh(cache: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(vecsh_process(cache))
}

/// [`vecsh`] as a plain process, for tests that run several at once or kill one.
pub fn vecsh_process(cache: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vecsh"));
    cmd.env("VECSH_CACHE", cache)
        .env("NO_COLOR", "1")
        .env_remove("VECSH_HISTORY");
    cmd
}

// ------------------------------------------------------------------------------ fixtures

/// tests/fixtures/tiny.txt: 9 words in 3 dimensions.
pub fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.txt")
}

/// Open options with the index cache in `cache`, everything else default.
pub fn opts(cache: &Path) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    }
}

/// A directory for this run of the test binary, removed when the process ends (a `static`
/// is never dropped, so a `TempDir` held in one would stay behind after every run).
fn run_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static OWNER: OnceLock<u32> = OnceLock::new();
    extern "C" fn remove() {
        // A forked child that exits before its exec must not remove its parent's directory.
        if OWNER.get() == Some(&std::process::id()) {
            if let Some(dir) = DIR.get() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("vecsh-tests-")
            .tempdir()
            .unwrap()
            .keep();
        OWNER.get_or_init(std::process::id);
        // SAFETY: `remove` is a plain function that touches only the two statics above.
        unsafe { libc::atexit(remove) };
        dir
    })
}

/// A cache directory shared by every test that names it during this run, so that what is
/// built in it (the built-in index, by the binary) is built once.
pub fn shared_cache(name: &str) -> PathBuf {
    run_dir().join(name)
}

/// The cache the demos' transcripts and the guide's examples share, its built-in vocabulary's
/// index built before any of them runs: a vecsh that waits for another's build says so on
/// stderr, which transcripts compare. The first caller builds it; the others wait here.
pub fn demos_cache() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let cache = shared_cache("demos");
            let out = vecsh_process(&cache)
                .args(["--quiet", "-e", "king"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "the built-in vocabulary's index: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            cache
        })
        .clone()
}

/// The index of the built-in 50,000 words (assets/glove.6B.50d.50k.txt.gz), built once per run
/// and shared: heed refuses to open one environment twice in a process (`EnvAlreadyOpened`),
/// and a `Store` is not `Sync`, so the tests that use it take turns.
pub fn builtin() -> MutexGuard<'static, Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/glove.6B.50d.50k.txt.gz");
            let cache = run_dir().join("builtin-store");
            let (store, _) = Store::open(&src, &opts(&cache), &Silent).unwrap();
            Mutex::new(store)
        })
        .lock()
        // One failed test must not fail the others that use the store after it.
        .unwrap_or_else(PoisonError::into_inner)
}

/// Writes a GloVe text file of `n` words `w0`, `w1`, … with `dims` values each, each value
/// `value(row, dim)`, and returns its path.
fn write_glove_of(
    dir: &Path,
    name: &str,
    n: usize,
    dims: usize,
    mut value: impl FnMut(usize, usize) -> String,
) -> PathBuf {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("w{i}"));
        for d in 0..dims {
            text.push(' ');
            text.push_str(&value(i, d));
        }
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A GloVe file whose values cycle with period 19 (`((13 i + 7 d) mod 19 - 9) / 5`): rows
/// repeat, so answers may tie (tests/first_open.rs).
pub fn write_glove_mod19(dir: &Path, name: &str, n: usize, dims: usize) -> PathBuf {
    write_glove_of(dir, name, n, dims, |i, d| {
        let x = (((i * 13 + d * 7) % 19) as f32 - 9.0) / 5.0;
        format!("{x}")
    })
}

/// A GloVe file whose values cycle with period 23 plus a step every fifth row
/// (`((31 i + 17 d) mod 23 - 11) / 7 + (i mod 5) / 10`) (tests/index.rs).
pub fn write_glove_mod23(dir: &Path, name: &str, n: usize, dims: usize) -> PathBuf {
    write_glove_of(dir, name, n, dims, |i, d| {
        let x = (((i * 31 + d * 17) % 23) as f32 - 11.0) / 7.0 + (i % 5) as f32 * 0.1;
        format!("{x}")
    })
}

/// A GloVe file of seeded pseudo-random values in [-1, 1) with 4 decimals: every row distinct,
/// so every answer is unambiguous (tests/trust.rs).
pub fn write_glove_random(dir: &Path, name: &str, n: usize, dims: usize) -> PathBuf {
    // A seeded LCG.
    let mut state: u64 = 0x9e3779b97f4a7c15;
    write_glove_of(dir, name, n, dims, |_, _| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
        format!("{x:.4}")
    })
}

/// A word2vec binary file with `n` words of `dims` values (deterministic, some zero rows)
/// (tests/first_open.rs, tests/trust.rs).
pub fn write_w2v_bin(dir: &Path, name: &str, n: usize, dims: usize) -> PathBuf {
    let mut bytes = format!("{n} {dims}\n").into_bytes();
    for i in 0..n {
        bytes.extend_from_slice(format!("w{i} ").as_bytes());
        for d in 0..dims {
            let x = if i % 997 == 5 {
                0.0
            } else {
                (((i * 31 + d * 17) % 23) as f32 - 11.0) / 7.0 + (i % 5) as f32 * 0.1
            };
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        bytes.push(b'\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

// ------------------------------------------------------------------------------ small disks

/// A tmpfs of `size` bytes mounted on a new directory, unmounted (and the directory removed)
/// when dropped, even when the test fails: a small disk that fills up for real.
pub struct SmallTmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallTmpfs {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in use on it (`statvfs`), as `df` counts them.
    pub fn used(&self) -> u64 {
        let st = self.statvfs();
        (st.f_blocks - st.f_bfree) * st.f_frsize
    }

    /// Bytes free to this user on it.
    pub fn free(&self) -> u64 {
        let st = self.statvfs();
        st.f_bavail * st.f_frsize
    }

    fn statvfs(&self) -> libc::statvfs {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(self.path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a zeroed statvfs is a valid value for the call to fill.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a NUL-terminated path and `st` a writable statvfs.
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        st
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

/// A new tmpfs of `size` bytes, or `None` (with a note) when mounting is not allowed: it needs
/// root, which CI has.
pub fn small_tmpfs(size: u64) -> Option<SmallTmpfs> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small");
    std::fs::create_dir(&path).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount a tmpfs of {size} bytes");
    Some(SmallTmpfs { path, _dir: dir })
}

// ------------------------------------------------------------------------------ pseudo-terminal

/// Each expectation fails after this long instead of hanging the test run.
pub const TIMEOUT_MS: u64 = 20_000;
pub const PROMPT: &str = "> ";

/// rexpect reads the terminal byte by byte, one `char` per byte: non-ASCII expectations
/// (`×`, bars) have to be spelled the same way.
pub fn raw(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

/// Waits for `text` in the output.
pub fn expect(p: &mut PtySession, text: &str) -> Result<String, rexpect::error::Error> {
    p.exp_string(&raw(text))
}

/// Types `line`, presses Enter and waits for `answer` and the next prompt.
pub fn ask(p: &mut PtySession, line: &str, answer: &str) {
    p.send_line(line).unwrap();
    expect(p, answer).unwrap_or_else(|e| panic!("{line:?} should answer {answer:?}: {e}"));
    expect(p, PROMPT).unwrap();
}

/// Ctrl-D on an empty line; the process must end with status 0.
pub fn quit(mut p: PtySession) {
    p.send_control('d').unwrap();
    p.exp_eof().expect("vecsh ends on Ctrl-D");
    match p.process.wait().unwrap() {
        WaitStatus::Exited(_, code) => assert_eq!(code, 0, "exit code"),
        other => panic!("vecsh did not exit normally: {other:?}"),
    }
}

/// An interactive session of `vecsh ARGS` on a pty, its index cache in `cache` and its history
/// under `state`, without colour on an xterm; each expectation waits at most `timeout_ms`.
pub fn pty_session<S: AsRef<std::ffi::OsStr>>(
    cache: &Path,
    state: &Path,
    args: &[S],
    timeout_ms: u64,
) -> PtySession {
    let mut cmd = pty_command(cache, &history(state));
    cmd.args(args);
    spawn_pty(cmd, timeout_ms)
}

/// `vecsh` as every pty session runs it: its index cache in `cache`, its history at `history`,
/// without colour on an xterm. Callers add arguments, a directory or a test hook's variable.
pub fn pty_command(cache: &Path, history: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vecsh"));
    cmd.env("VECSH_CACHE", cache)
        .env("VECSH_HISTORY", history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    cmd
}

/// `cmd` spawned on a pty; each expectation waits at most `timeout_ms`.
pub fn spawn_pty(cmd: std::process::Command, timeout_ms: u64) -> PtySession {
    rexpect::session::spawn_command(cmd, Some(timeout_ms)).expect("spawn vecsh")
}

/// The session's history file when its state lives in `dir`.
pub fn history(dir: &Path) -> PathBuf {
    dir.join("state/history")
}

// ------------------------------------------------------------------------------ the sources

/// Every `src/**/*.rs`, as paths relative to the repository (`src/index/open.rs`), sorted.
pub fn src_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    let mut names: Vec<String> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap();
            let parts: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
            parts.join("/")
        })
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// Readers' fixtures and answers compared with a reference (tests/formats.rs, tests/readers.rs)
// ---------------------------------------------------------------------------------------

/// `tests/fixtures/DIR/NAME`.
pub fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name)
}

/// The JSON file at `path` (a reference's answers, written by a fixture's generator).
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the loader handed over for a file: its report, words, vectors and n-gram rows.
pub struct Loaded {
    pub report: vecsh::loader::LoadReport,
    pub words: Vec<String>,
    pub vectors: Vec<f32>,
    pub ngrams: Vec<f32>,
}

/// Loads `path` under `opts`, keeping every batch (n-gram batches must come in order).
pub fn load_with(
    path: &Path,
    opts: &vecsh::loader::LoadOptions,
) -> Result<Loaded, vecsh::loader::LoadError> {
    let (mut words, mut vectors, mut ngrams) = (Vec::new(), Vec::new(), Vec::new());
    let report = vecsh::loader::load_with_subwords(
        path,
        opts,
        &|_, _| {},
        &mut |batch| {
            words.extend(batch.words);
            vectors.extend(batch.vectors);
            Ok(())
        },
        &mut |batch| {
            // Batches arrive in order, without gaps.
            assert!(batch.first == 0 || !ngrams.is_empty());
            ngrams.extend(batch.vectors);
            Ok(())
        },
    )?;
    Ok(Loaded {
        report,
        words,
        vectors,
        ngrams,
    })
}

/// Loads `path` with the default options.
pub fn load(path: &Path) -> Result<Loaded, vecsh::loader::LoadError> {
    load_with(path, &vecsh::loader::LoadOptions::default())
}

/// The error loading `path` gives (a panic if it loads).
pub fn load_err(path: &Path) -> String {
    match load(path) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

/// A JSON array of numbers as f32.
pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// A JSON array of strings (a reference's words).
pub fn strings(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

/// A JSON list of `[word, score]` pairs (gensim's `most_similar`, numpy's answers).
pub fn pairs(v: &serde_json::Value) -> Vec<(String, f32)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

/// Equal lengths and every value within 1e-5 of the reference's.
pub fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5, "{what}[{i}]: {g} vs {w}");
    }
}

/// A session on `store` answering `k` neighbours.
pub fn session(store: &Store, k: usize) -> vecsh::eval::Session<'_> {
    vecsh::eval::Session::new(
        store,
        vecsh::eval::Settings {
            k,
            ..vecsh::eval::Settings::default()
        },
    )
}

/// The (word, score) rows of a neighbours value.
pub fn ranked(value: &vecsh::eval::Value) -> Vec<(String, f32)> {
    match value {
        vecsh::eval::Value::Neighbours { neighbours, .. } => neighbours
            .iter()
            .map(|n| (n.word.clone(), n.score))
            .collect(),
        other => panic!("not neighbours: {other:?}"),
    }
}

/// Same words in the same order (near-ties within 1e-5 may swap), scores within `tolerance`
/// of the reference's.
pub fn assert_same_ranking(
    got: &[(String, f32)],
    want: &[(String, f32)],
    tolerance: f32,
    what: &str,
) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        let tie = want.iter().any(|o| o.0 == g.0 && (o.1 - w.1).abs() < 1e-5);
        assert!(g.0 == w.0 || tie, "{what}: {got:?} vs {want:?}");
        assert!(
            (g.1 - w.1).abs() <= tolerance,
            "{what}: {} {} vs {}",
            g.0,
            g.1,
            w.1
        );
    }
}

/// `vecsh ARGS` with its cache in `cache`: whether it succeeded, its stdout and its stderr.
pub fn run(cache: &Path, args: &[&str]) -> (bool, String, String) {
    let out = vecsh(cache).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vecsh ARGS --json` in the shared cache `cache` (`shared_cache`): its stdout as one JSON
/// value per line, and its stderr.
pub fn json_run<S: AsRef<str>>(cache: &str, args: &[S]) -> (Vec<serde_json::Value>, String) {
    let mut all: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    all.push("--json");
    let (_, out, err) = run(&shared_cache(cache), &all);
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}\n{err}")))
        .collect();
    (lines, err)
}
