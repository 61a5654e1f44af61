//! `vecsh export`'s output file: never the input (through links), written aside and renamed into
//! place, an existing file replaced only with `--force`, a directory refused, stdout without `-o`.

use std::path::Path;

use crate::util::{tiny, vecsh};

/// A copy of tiny.txt in `dir`, so that a test may lose it without harm.
fn input(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("in.txt");
    std::fs::copy(tiny(), &path).unwrap();
    path
}

/// Only these names are in `dir` (no temporary file left behind).
fn holds_only(dir: &Path, names: &[&str]) {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "cache")
        .collect();
    found.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
}

/// A directory holding a copy of tiny.txt as `in.txt` (and, once vecsh runs, its `cache`).
fn with_input() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = input(tmp.path());
    (tmp, src)
}

/// `vecsh export ARGS` run in `dir`, with its index cache there.
fn export_in(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    vecsh(&dir.join("cache"))
        .current_dir(dir)
        .arg("export")
        .args(args)
        .assert()
}

/// Runs `vecsh export ARGS` in `dir`, expects success, returns stdout.
fn exported(dir: &Path, args: &[&str]) -> String {
    let out = export_in(dir, args).success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

/// Runs `vecsh export ARGS` in `dir`, expects exit 2, returns stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = export_in(dir, args).failure().code(2);
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// `-o F` where F is the input, by its name, through a symbolic link or a hard link: refused
/// before anything is opened for writing, even with `--force`; the input keeps every byte.
#[test]
fn the_output_is_never_the_input() {
    let (tmp, src) = with_input();
    let before = std::fs::read(&src).unwrap();
    std::os::unix::fs::symlink(&src, tmp.path().join("link.txt")).unwrap();
    std::fs::hard_link(&src, tmp.path().join("hard.txt")).unwrap();
    for out in ["in.txt", "./in.txt", "link.txt", "hard.txt"] {
        for force in [false, true] {
            let mut args = vec!["in.txt", "-o", out];
            if force {
                args.push("--force");
            }
            let err = refused(tmp.path(), &args);
            assert!(err.contains("is the input file"), "{out} {force}: {err}");
            assert_eq!(std::fs::read(&src).unwrap(), before, "{out} {force}");
        }
    }
    holds_only(tmp.path(), &["in.txt", "link.txt", "hard.txt"]);
}

/// An existing output is replaced only with `--force`, and then as a whole (renamed into place:
/// a new inode, never the old file truncated).
#[test]
fn an_existing_output_needs_force() {
    let (tmp, _) = with_input();
    let out = tmp.path().join("out.txt");
    std::fs::write(&out, "keep me\n").unwrap();
    let err = refused(tmp.path(), &["in.txt", "-o", "out.txt"]);
    assert!(
        err.contains("out.txt exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me\n");
    // Someone still reading the old file keeps reading the old bytes.
    let old = std::fs::File::open(&out).unwrap();
    exported(tmp.path(), &["in.txt", "-o", "out.txt", "--force"]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("man 1 0 0\n"), "{text}");
    assert_eq!(text.lines().count(), 9);
    let mut kept = String::new();
    std::io::Read::read_to_string(&mut &old, &mut kept).unwrap();
    assert_eq!(kept, "keep me\n");
    holds_only(tmp.path(), &["in.txt", "out.txt"]);
}

/// A new output is written (gzipped for .gz) and nothing else is left beside it.
#[test]
fn a_new_output_is_written_and_nothing_else() {
    let (tmp, _) = with_input();
    exported(tmp.path(), &["in.txt", "-o", "out.txt.gz"]);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(tmp.path().join("out.txt.gz")).unwrap(),
        ),
        &mut text,
    )
    .unwrap();
    assert_eq!(text.lines().count(), 9);
    holds_only(tmp.path(), &["in.txt", "out.txt.gz"]);
}

/// `-o DIR` is an error naming the directory; nothing is written into it.
#[test]
fn a_directory_is_refused() {
    let (tmp, _) = with_input();
    std::fs::create_dir(tmp.path().join("outdir")).unwrap();
    for force in [false, true] {
        let mut args = vec!["in.txt", "-o", "outdir"];
        if force {
            args.push("--force");
        }
        let err = refused(tmp.path(), &args);
        assert!(err.contains("outdir is a directory"), "{err}");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path().join("outdir"))
            .unwrap()
            .count(),
        0
    );
    holds_only(tmp.path(), &["in.txt", "outdir"]);
}

/// Without `-o`, the rows go to standard output, as Unix tools do (`-o -` too).
#[test]
fn without_output_it_writes_to_stdout() {
    let (tmp, _) = with_input();
    let stdout = exported(tmp.path(), &["in.txt"]);
    assert!(stdout.starts_with("man 1 0 0\n"), "{stdout}");
    assert_eq!(stdout.lines().count(), 9);
    holds_only(tmp.path(), &["in.txt"]);
}

/// A failed export (the input cannot be read) leaves no output and no temporary file behind.
#[test]
fn a_failed_export_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bad.txt"), "a 1 2\nb 1\n").unwrap();
    export_in(tmp.path(), &["bad.txt", "-o", "out.txt"]).failure();
    holds_only(tmp.path(), &["bad.txt"]);
}

/// `vecsh export F >> F`: standard output is the input file, refused before a byte is written.
#[test]
fn standard_output_that_is_the_input_is_refused() {
    let (tmp, src) = with_input();
    let cache = tmp.path().join("cache");
    let before = std::fs::read(&src).unwrap();
    let appended = std::fs::File::options().append(true).open(&src).unwrap();
    let out = crate::util::vecsh_process(&cache)
        .current_dir(tmp.path())
        .args(["export", "in.txt"])
        .stdout(appended)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("standard output is the input file"), "{err}");
    assert_eq!(std::fs::read(&src).unwrap(), before);
}

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Copies the fixture file or directory `rel` into `dir` under its own name.
fn copy_in(dir: &Path, rel: &str) -> std::path::PathBuf {
    let from = fixture(rel);
    let to = dir.join(from.file_name().unwrap());
    if from.is_dir() {
        std::fs::create_dir(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    } else {
        std::fs::copy(&from, &to).unwrap();
    }
    to
}

/// Every file under `dir` with its bytes, to see that nothing was touched.
fn contents(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() == "cache" {
            continue;
        }
        if p.is_dir() {
            out.extend(contents(&p));
        } else if p.is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

/// `--to projector -o DIR` where DIR holds the input pair: refused even with `--force`, by the
/// directory's name or through a link to it; both files keep every byte (they were replaced by
/// the first 5 rows).
#[test]
fn a_projector_export_never_overwrites_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    copy_in(tmp.path(), "items/projector");
    std::os::unix::fs::symlink("projector", tmp.path().join("link")).unwrap();
    let before = contents(tmp.path());
    for out in ["projector", "./projector/", "link"] {
        let err = refused(
            tmp.path(),
            &[
                "projector/vectors.tsv",
                "--to",
                "projector",
                "-o",
                out,
                "--force",
                "--limit",
                "5",
            ],
        );
        assert!(err.contains("is the input"), "{out}: {err}");
        assert_eq!(contents(tmp.path()), before, "{out}");
    }
}

/// The files the input is read from besides itself (the tutorial's map, an `.npy`'s labels, a
/// gensim sidecar, the Projector's metadata) are never an output either: by name, through a
/// symbolic or a hard link, as `-o FILE` or as one of the Projector pair's two files.
#[test]
fn an_inputs_companion_files_are_never_an_output() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    copy_in(t, "annoy/glove.1k.50d.txt.annoy");
    copy_in(t, "annoy/glove.1k.50d.txt.lmdb");
    copy_in(t, "items/songs.npy");
    copy_in(t, "items/songs.labels.txt");
    copy_in(t, "formats/sidecar.kv");
    copy_in(t, "formats/sidecar.kv.vectors.npy");
    copy_in(t, "formats/sidecar.kv.vectors_lockf.npy");
    std::os::unix::fs::symlink("glove.1k.50d.txt.lmdb/data.mdb", t.join("sym.mdb")).unwrap();
    std::fs::hard_link(t.join("songs.labels.txt"), t.join("hard.txt")).unwrap();
    // A Projector directory whose metadata.tsv is the labels' file under another name.
    std::fs::create_dir(t.join("pj")).unwrap();
    std::fs::hard_link(t.join("songs.labels.txt"), t.join("pj/metadata.tsv")).unwrap();
    let before = contents(t);
    let cases: &[&[&str]] = &[
        &[
            "glove.1k.50d.txt.annoy",
            "-o",
            "glove.1k.50d.txt.lmdb/data.mdb",
        ],
        &["glove.1k.50d.txt.annoy", "-o", "sym.mdb"],
        &["glove.1k.50d.txt.lmdb", "-o", "glove.1k.50d.txt.annoy"],
        &["songs.npy", "-o", "songs.labels.txt"],
        &["songs.npy", "-o", "hard.txt"],
        &["sidecar.kv", "-o", "sidecar.kv.vectors.npy"],
        &["sidecar.kv", "-o", "sidecar.kv.vectors_lockf.npy"],
        &["songs.npy", "--to", "projector", "-o", "pj"],
    ];
    for args in cases {
        let mut args = args.to_vec();
        args.push("--force");
        let err = refused(t, &args);
        assert!(err.contains("is the input"), "{args:?}: {err}");
        assert_eq!(contents(t), before, "{args:?}");
    }
}

/// A word that would break its line of GloVe text (a line end, a tab, a space, a vertical tab)
/// or be no word at all (empty) is refused, naming its row and the word escaped; no output
/// file is left. The Projector's pair refuses the empty word as well (its line would vanish).
#[test]
fn words_that_break_the_text_format_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cases = [
        ("newline", "new\\nline"),
        ("cr", "car\\rriage"),
        ("tab", "t\\tab"),
        ("space", "two words"),
        ("vtab", "v\\x0btab"),
        ("empty", "''"),
    ];
    for (name, shown) in cases {
        let src = copy_in(t, &format!("export/{name}.pkl"));
        let src = src.file_name().unwrap().to_str().unwrap().to_string();
        for out in ["out.txt", "out.txt.gz"] {
            let err = refused(t, &[&src, "-o", out]);
            assert!(err.contains("row 2"), "{name}: {err}");
            if shown != "''" {
                assert!(err.contains(&format!("'{shown}'")), "{name}: {err}");
            } else {
                assert!(err.contains("empty word"), "{name}: {err}");
            }
            assert!(!t.join(out).exists(), "{name}");
        }
        let err = refused(t, &[&src]);
        assert!(err.contains("row 2"), "{name} to stdout: {err}");
        if name == "space" || name == "vtab" {
            continue; // one column of metadata.tsv holds them
        }
        let err = refused(t, &[&src, "--to", "projector", "-o", "pj"]);
        assert!(err.contains("row 2"), "{name} projector: {err}");
        assert!(!t.join("pj").exists(), "{name}: projector directory left");
        std::fs::remove_file(t.join(&src)).unwrap();
    }
}

/// A refused Projector export removes the directories it created for `-o` (and nothing it did
/// not create: an existing directory stays, with what was in it).
#[test]
fn a_refused_projector_export_removes_the_directory_it_made() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    copy_in(t, "export/newline.pkl");
    let err = refused(t, &["newline.pkl", "--to", "projector", "-o", "new/deeper"]);
    assert!(err.contains("row 2"), "{err}");
    assert!(!t.join("new").exists());
    std::fs::create_dir(t.join("kept")).unwrap();
    std::fs::write(t.join("kept/notes"), "mine").unwrap();
    refused(t, &["newline.pkl", "--to", "projector", "-o", "kept"]);
    assert_eq!(
        std::fs::read_to_string(t.join("kept/notes")).unwrap(),
        "mine"
    );
    holds_only(&t.join("kept"), &["notes"]);
}

/// A named pipe to export from: the test writes its rows, so the export waits mid-way for as
/// long as the test wants.
fn fifo(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("rows.fifo");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    path
}

/// Starts `vecsh export rows.fifo ARGS` with two rows waiting in the pipe (opened for reading
/// and writing, so that opening it never blocks and the export never sees its end) and waits
/// until the temporary file `tmp_name(pid)` exists; returns the child and the pipe.
fn export_midway(
    dir: &Path,
    args: &[&str],
    tmp_name: impl Fn(u32) -> String,
) -> (std::process::Child, std::fs::File) {
    let mut w = std::fs::File::options()
        .read(true)
        .write(true)
        .open(dir.join("rows.fifo"))
        .unwrap();
    std::io::Write::write_all(&mut w, b"alpha 1 2 3\nbeta 4 5 6\n").unwrap();
    let mut child = crate::util::vecsh_process(&dir.join("cache"))
        .current_dir(dir)
        .args(["export", "rows.fifo"])
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tmp = dir.join(tmp_name(child.id()));
    let start = std::time::Instant::now();
    while !tmp.exists() {
        if start.elapsed().as_secs() > 20 || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no {}: {:?}", tmp.display(), child.wait());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The rows read: the export now waits in a read of the pipe.
    std::thread::sleep(std::time::Duration::from_millis(200));
    (child, w)
}

/// Ctrl-C (SIGINT), SIGTERM or SIGHUP in the middle of an export: the temporary file is gone,
/// no output is left, and the process ends by the signal (as a shell expects).
#[test]
fn an_interrupted_export_leaves_no_temporary_file() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        for projector in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let t = tmp.path();
            fifo(t);
            let (mut child, w) = if projector {
                export_midway(t, &["--to", "projector", "-o", "pj"], |pid| {
                    format!("pj/.vectors.tsv.vecsh-{pid}.tmp")
                })
            } else {
                export_midway(t, &["-o", "out.txt"], |pid| {
                    format!(".out.txt.vecsh-{pid}.tmp")
                })
            };
            unsafe { libc::kill(child.id() as i32, sig) };
            let status = child.wait().unwrap();
            drop(w);
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(sig),
                "{status:?}"
            );
            holds_only(t, &["rows.fifo"]);
        }
    }
}

/// After a kill -9 (nothing can clean up), the next export to the same target removes the
/// temporary files that processes no longer alive left for it, and only those.
#[test]
fn a_later_export_removes_stale_temporary_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    input(t);
    fifo(t);
    let (mut child, w) = export_midway(t, &["-o", "out.txt"], |pid| {
        format!(".out.txt.vecsh-{pid}.tmp")
    });
    let dead = format!(".out.txt.vecsh-{}.tmp", child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    drop(w);
    assert!(t.join(&dead).exists(), "kill -9 cannot clean up");
    // A live process's temporary file (this test's) and another target's stay.
    let live = format!(".out.txt.vecsh-{}.tmp", std::process::id());
    std::fs::write(t.join(&live), "in use").unwrap();
    std::fs::write(t.join(".other.txt.vecsh-999999999.tmp"), "not ours").unwrap();
    exported(t, &["in.txt", "-o", "out.txt"]);
    holds_only(
        t,
        &[
            "in.txt",
            "rows.fifo",
            "out.txt",
            &live,
            ".other.txt.vecsh-999999999.tmp",
        ],
    );
}

/// Unmounts a test tmpfs even when the test fails.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A tmpfs of `size` (as mount takes it: `1m`) at `dir/small`; `None` when not root.
fn small_tmpfs(dir: &Path, size: &str) -> Option<(std::path::PathBuf, Mounted)> {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return None;
    }
    let mnt = dir.join("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount a {size} tmpfs");
    Some((mnt.clone(), Mounted(mnt)))
}

/// An export to a full disk names the output file and says no space is left; nothing is left
/// on the disk (GloVe text, gzipped, and the Projector's pair).
#[test]
fn an_export_to_a_full_disk_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mnt, _mounted)) = small_tmpfs(tmp.path(), "256k") else {
        return;
    };
    let src = crate::util::write_glove_random(tmp.path(), "v.txt", 4000, 32);
    for (args, named) in [
        (vec!["-o", "out.txt"], "out.txt"),
        (vec!["--to", "projector", "-o", "pj"], "pj/"),
    ] {
        let out = vecsh(&tmp.path().join("cache"))
            .current_dir(&mnt)
            .arg("export")
            .arg(&src)
            .args(&args)
            .assert()
            .failure()
            .code(2)
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8_lossy(&out);
        assert!(err.contains(&format!("cannot write {named}")), "{err}");
        assert!(err.contains("no space left on device"), "{err}");
        assert!(!err.contains("os error"), "{err}");
        assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0, "{args:?}");
    }
}
