//! Issue 28: a session builds by itself, behind its prompt, what makes exact search fast on a
//! file where it pays (the lists with their cells), after its verification found the index
//! intact; `--no-background` and `:background off` opt out; a quit or killed build is finished
//! by the next session; a one-shot run builds nothing and says once per index, on a terminal,
//! that `vecsh build` would. Small files stand for large ones through `VECSH_PC_MIN_ROWS`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rexpect::session::PtySession;
use vecsh::index::Store;
use vecsh::progress::Silent;

use crate::util::{ask, expect, opts, quit, vecsh, write_glove_random, PROMPT};

/// Rows of the test file, and the row floor from which the session builds (as
/// `VECSH_PC_MIN_ROWS`): the file pays.
const ROWS: usize = 3000;
const MIN_ROWS: &str = "1000";
/// Dims: the build's dimension floor (`PC_MIN_DIMS`) is 128.
const DIMS: usize = 128;
const WAIT_MS: u64 = 120_000;

fn file(dir: &Path) -> PathBuf {
    write_glove_random(dir, "x.txt", ROWS, DIMS)
}

/// A clustered GloVe file: 30 seeded centres, each row one of them plus small seeded noise,
/// so that the lists' cells answer exact queries (as on the clustered 3M x 300 set).
fn clustered(dir: &Path) -> PathBuf {
    let mut state: u64 = 0x2545f4914f6cdd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..30)
        .map(|_| (0..DIMS).map(|_| next()).collect())
        .collect();
    let mut text = String::new();
    for i in 0..ROWS {
        text.push_str(&format!("w{i}"));
        for x in &centres[i % centres.len()] {
            text.push_str(&format!(" {:.4}", x + 0.15 * next()));
        }
        text.push('\n');
    }
    let path = dir.join("x.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// A GloVe file whose rows have a principal-component stage that pays (as on real embeddings,
/// their variance lies in a few axes): 300 seeded centres in a 16-dimensional subspace, each
/// row one of them plus small seeded noise in all 128 dims.
fn low_rank(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for (i, row) in low_rank_rows().iter().enumerate() {
        text.push_str(&format!("w{i}"));
        for x in row {
            text.push_str(&format!(" {x:.4}"));
        }
        text.push('\n');
    }
    let path = dir.join("x.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// [`low_rank`]'s rows as a word2vec binary file, whose rows an index reads in place (from
/// the source, not a copy).
fn low_rank_bin(dir: &Path) -> PathBuf {
    let rows = low_rank_rows();
    let mut bytes = format!("{} {DIMS}\n", rows.len()).into_bytes();
    for (i, row) in rows.iter().enumerate() {
        bytes.extend_from_slice(format!("w{i} ").as_bytes());
        for x in row {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        bytes.push(b'\n');
    }
    let path = dir.join("x.bin");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn low_rank_rows() -> Vec<Vec<f32>> {
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let axes: Vec<Vec<f32>> = (0..16)
        .map(|_| (0..DIMS).map(|_| next()).collect())
        .collect();
    let centres: Vec<Vec<f32>> = (0..300)
        .map(|_| {
            let z: Vec<f32> = (0..axes.len()).map(|_| next()).collect();
            (0..DIMS)
                .map(|d| z.iter().zip(&axes).map(|(z, a)| z * a[d]).sum())
                .collect()
        })
        .collect();
    (0..ROWS)
        .map(|i| {
            let centre = &centres[i % centres.len()];
            centre.iter().map(|x| x + 0.16 * next()).collect()
        })
        .collect()
}

/// `vecsh ARGS` on a pty, as `util::pty_session`, with the small row floor and `env` set.
fn session(cache: &Path, state: &Path, args: &[&str], env: &[(&str, &str)]) -> PtySession {
    session_waiting(cache, state, args, env, WAIT_MS)
}

/// [`session`] whose expectations wait at most `ms`.
fn session_waiting(
    cache: &Path,
    state: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    ms: u64,
) -> PtySession {
    rexpect::session::spawn_command(command(cache, state, args, env), Some(ms))
        .expect("spawn vecsh")
}

fn command(
    cache: &Path,
    state: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vecsh"));
    cmd.args(args)
        .env("VECSH_CACHE", cache)
        .env("VECSH_HISTORY", crate::util::history(state))
        .env("VECSH_PC_MIN_ROWS", MIN_ROWS)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The index's lists, opened as a one-shot would (no rebuild: the stat proof or a full
/// verification).
fn has_lists(cache: &Path, src: &Path) -> bool {
    let (store, _) = Store::open(src, &opts(cache), &Silent).unwrap();
    store.lists().is_some()
}

/// `vecsh info --verify FILE` succeeds: every table and the lists match their checksums.
fn verifies(cache: &Path, src: &Path) {
    let out = vecsh(cache)
        .args(["info", "--verify"])
        .arg(src)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A one-shot answer on a pipe (so no hint), for comparing answers before and after.
fn answer(cache: &Path, src: &Path, expr: &str) -> String {
    let out = vecsh(cache)
        .env("VECSH_PC_MIN_ROWS", MIN_ROWS)
        .arg(src)
        .args(["--json", "-e", expr])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_session_builds_the_lists_by_itself_announces_them_and_answers_stay_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = clustered(tmp.path());
    let before: Vec<String> = ["w5", "w77 - w3", "w2999"]
        .iter()
        .map(|e| answer(&cache, &src, e))
        .collect();
    assert!(!has_lists(&cache, &src), "a one-shot run builds nothing");
    let arg = src.to_str().unwrap();
    let mut p = session(&cache, tmp.path(), &[arg], &[]);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "lists ready").expect("the session announces its lists");
    expect(&mut p, "exact search tries their cells").unwrap();
    // Then the stage (none pays on these rows: a few large clusters).
    expect(&mut p, "principal-component stage: none pays").unwrap();
    // Measured at the next statement; on clustered rows the cells answer.
    ask(&mut p, "w5", "10 w");
    ask(&mut p, ":info", "exact search goes through their cells");
    quit(p);
    assert!(has_lists(&cache, &src));
    verifies(&cache, &src);
    let after: Vec<String> = ["w5", "w77 - w3", "w2999"]
        .iter()
        .map(|e| answer(&cache, &src, e))
        .collect();
    assert_eq!(before, after, "answers unchanged");
    let info = vecsh(&cache)
        .args(["info", "--json"])
        .arg(&src)
        .env("VECSH_PC_MIN_ROWS", MIN_ROWS)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["exact"]["cells"], true, "{info}");
}

/// On random rows the lists' cells answer too few exact queries: the session says so once it
/// has measured them, and exact search scans as before.
#[test]
fn where_the_cells_do_not_pay_the_session_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = file(tmp.path());
    let mut p = session(&cache, tmp.path(), &[src.to_str().unwrap()], &[]);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "lists ready").expect("the session announces its lists");
    expect(&mut p, "principal-component stage").unwrap();
    ask(&mut p, "w5", "too few to be tried");
    ask(&mut p, ":info", "their cells answer too few exact queries");
    quit(p);
    verifies(&cache, &src);
}

#[test]
fn a_small_file_gets_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    // Below the dimension floor: the plain scan is as fast as it gets.
    let src = write_glove_random(tmp.path(), "narrow.txt", ROWS, 50);
    let mut p = session(&cache, tmp.path(), &[src.to_str().unwrap()], &[]);
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "search");
    std::thread::sleep(Duration::from_secs(3));
    quit(p);
    assert!(!has_lists(&cache, &src));
}

#[test]
fn no_background_and_background_off_build_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = file(tmp.path());
    let arg = src.to_str().unwrap();
    // The flag: nothing starts.
    let mut p = session(&cache, tmp.path(), &[arg, "--no-background"], &[]);
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "off: nothing is built behind the prompt");
    std::thread::sleep(Duration::from_secs(2));
    ask(&mut p, ":background", "background = off");
    quit(p);
    assert!(!has_lists(&cache, &src), "--no-background built lists");

    // The command, typed while a (slowed) build runs: it stops, and nothing is committed.
    let mut p = session(
        &cache,
        tmp.path(),
        &[arg],
        &[("VECSH_BACKGROUND_STEP_MS", "200")],
    );
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "building the lists behind the prompt");
    ask(&mut p, ":background off", "background build stopped");
    ask(&mut p, ":info", "off: nothing is built behind the prompt");
    std::thread::sleep(Duration::from_secs(2));
    quit(p);
    assert!(!has_lists(&cache, &src), ":background off built lists");
    verifies(&cache, &src);
}

#[test]
fn a_quit_or_killed_build_is_finished_by_the_next_session() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = file(tmp.path());
    let arg = src.to_str().unwrap();
    let slow = [("VECSH_BACKGROUND_STEP_MS", "200")];

    // Quit mid-build: the session leaves at once, and nothing is committed.
    let mut p = session(&cache, tmp.path(), &[arg], &slow);
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "building the lists behind the prompt");
    let quitting = std::time::Instant::now();
    quit(p);
    assert!(
        quitting.elapsed() < Duration::from_secs(5),
        "quitting waited for the build: {:?}",
        quitting.elapsed()
    );
    assert!(!has_lists(&cache, &src));
    verifies(&cache, &src);

    // Killed mid-build.
    let mut p = session(&cache, tmp.path(), &[arg], &slow);
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "building the lists behind the prompt");
    std::thread::sleep(Duration::from_millis(1500));
    killed(p);
    assert!(!has_lists(&cache, &src));
    verifies(&cache, &src);

    // The next session builds them, and measures them on the build's thread: quit right
    // after the announcement, without a statement, the calibration is stored.
    let mut p = session(&cache, tmp.path(), &[arg], &[]);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "lists ready").expect("the next session finishes the build");
    quit(p);
    assert!(has_lists(&cache, &src));
    let (store, _) = Store::open(&src, &opts(&cache), &Silent).unwrap();
    assert!(
        store.calibration(vecsh::index::ApproxKind::Lists).is_some(),
        "no calibration: the next statement would wait for it"
    );
    drop(store);
    verifies(&cache, &src);
}

/// Kills the session with SIGKILL, which leaves it no chance to clean up, and reaps it.
fn killed(mut p: PtySession) {
    p.process
        .kill(rexpect::process::signal::Signal::SIGKILL)
        .unwrap();
    let _ = p.process.wait();
}

/// Overwrites `len` bytes at `at` of `file` with bytes that differ.
fn scribble(file: &Path, at: usize, len: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    for b in &mut bytes[at..at + len] {
        *b ^= 0x5a;
    }
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn a_damaged_index_does_not_start_a_build() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = clustered(tmp.path());
    answer(&cache, &src, "w5");
    let dir = vecsh::index::index_dir_for(&src, &opts(&cache)).unwrap();
    let data = dir.join("data.mdb");
    let (store, _) = Store::open(&src, &opts(&cache), &Silent).unwrap();
    let row: Vec<u8> = bytemuck::cast_slice(&store.vector(7).unwrap()).to_vec();
    drop(store);
    // Damage the stat proof cannot see (as in tests/trust.rs): the session finds it behind
    // its prompt, where the build waits for it.
    let bytes = std::fs::read(&data).unwrap();
    let at = bytes.windows(row.len()).position(|w| w == row).unwrap();
    scribble(&data, at, 32);
    let proof_path = dir.join("verified.json");
    let mut proof: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&proof_path).unwrap()).unwrap();
    proof["data"] = serde_json::to_value(vecsh::index::FileStat::of(&data).unwrap()).unwrap();
    std::fs::write(&proof_path, serde_json::to_vec(&proof).unwrap()).unwrap();

    // Expectations wait long enough for the lists of 3,000 rows to be built and announced.
    let mut p = session_waiting(&cache, tmp.path(), &[src.to_str().unwrap()], &[], 40_000);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "is damaged").expect("the session finds the damage");
    let announced = expect(&mut p, "lists ready");
    assert!(announced.is_err(), "a build started on a damaged index");
    p.process
        .kill(rexpect::process::signal::Signal::SIGKILL)
        .unwrap();
}

/// The one-shot hint: on a terminal, once per index, never on a pipe or with --quiet; and a
/// one-shot run starts no build.
#[test]
fn a_one_shot_run_hints_once_per_index_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = file(tmp.path());
    let arg = src.to_str().unwrap();
    const HINT: &str = "can make exact queries on a file this large much";
    let on_tty = |args: &[&str]| -> String {
        let mut all = vec![arg];
        all.extend_from_slice(args);
        let mut p = session(&cache, tmp.path(), &all, &[]);
        let out = p.exp_eof().unwrap();
        let _ = p.process.wait();
        out
    };
    // A pipe, then --quiet on a terminal: nothing said, nothing marked.
    let piped = vecsh(&cache)
        .env("VECSH_PC_MIN_ROWS", MIN_ROWS)
        .arg(&src)
        .args(["-e", "w5"])
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains(HINT),
        "{piped:?}"
    );
    let quiet = on_tty(&["--quiet", "-e", "w5"]);
    assert!(!quiet.contains(HINT), "--quiet: {quiet}");
    // The first run on a terminal says it, with the bench's factor; the second does not.
    let first = on_tty(&["-e", "w5"]);
    assert!(first.contains(HINT), "{first}");
    assert!(first.contains("26.9 ms -> 1.39 ms"), "{first}");
    assert!(first.contains("vecsh build"), "{first}");
    let second = on_tty(&["-e", "w5"]);
    assert!(!second.contains(HINT), "said twice: {second}");
    assert!(!has_lists(&cache, &src), "a one-shot run built lists");
    // Nothing beside the user's file.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "state")
        .collect();
    names.sort();
    assert_eq!(names, ["c", "x.txt"]);
}

/// A session whose own build finds no room for the lists says why above the prompt, `:info`
/// says so too (it said the build was still to come), and exact answers go on.
#[test]
fn a_build_without_room_says_why_in_info() {
    let tmp = tempfile::tempdir().unwrap();
    let src = file(tmp.path());
    // The index alone, built in a roomy cache, then copied to a tmpfs with no room for lists.
    let roomy = tmp.path().join("roomy");
    vecsh(&roomy)
        .arg(&src)
        .args(["-e", "w5"])
        .assert()
        .success();
    let Some(small) = copied_to_small_tmpfs(&roomy, 64 * 1024) else {
        return;
    };
    let mut p = session(small.path(), tmp.path(), &[src.to_str().unwrap()], &[]);
    expect(&mut p, "background build of the lists failed").expect("the failure is said");
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "failed: ");
    ask(&mut p, "w5", "w");
    quit(p);
}

/// The bytes of every file under `dir`.
/// A copy of the index cache `roomy` on a tmpfs with only `slack` bytes to spare (`None`: not
/// root, the test is skipped).
fn copied_to_small_tmpfs(roomy: &Path, slack: u64) -> Option<crate::util::SmallTmpfs> {
    let small = crate::util::small_tmpfs(walkdir_size(roomy) + slack)?;
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(roomy.join("."))
        .arg(small.path())
        .status()
        .unwrap();
    assert!(copied.success());
    Some(small)
}

fn walkdir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            match e.file_type().unwrap().is_dir() {
                true => walkdir_size(&e.path()),
                false => e.metadata().unwrap().len(),
            }
        })
        .sum()
}

/// What `vecsh info --json FILE` says of exact search (with the small row floor).
fn exact_info(cache: &Path, src: &Path) -> serde_json::Value {
    let out = vecsh(cache)
        .args(["info", "--json"])
        .arg(src)
        .env("VECSH_PC_MIN_ROWS", MIN_ROWS)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    info["exact"].clone()
}

/// The expressions compared before and after a build, and between two indexes.
const EXPRS: [&str; 5] = ["w5", "w77 - w3", "w2999", "w12 + w40", "w1000"];

/// After the lists, the session builds the principal-component stage too (what `vecsh build`
/// adds besides the lists), announces it, and its open store searches through it from the
/// next statement on; answers stay those of the plain scan, and the index verifies.
#[test]
fn a_session_builds_the_principal_component_stage_too_and_answers_stay_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = low_rank(tmp.path());
    let before: Vec<String> = EXPRS.iter().map(|e| answer(&cache, &src, e)).collect();
    assert!(
        exact_info(&cache, &src)["pc_dims"].is_null(),
        "a first open has no stage"
    );
    let mut p = session(&cache, tmp.path(), &[src.to_str().unwrap()], &[]);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "principal-component stage ready").expect("the session announces its stage");
    // The session's own store switched to it, without reopening (`:info`'s exact row).
    p.send_line(":info").unwrap();
    p.exp_regex(r"rows\s+through\s+their\s+\d+\s+principal")
        .expect("the open store searches through the stage");
    expect(&mut p, PROMPT).unwrap();
    for e in EXPRS {
        ask(&mut p, e, "w");
    }
    quit(p);
    verifies(&cache, &src);
    let pc = exact_info(&cache, &src)["pc_dims"].clone();
    assert!(pc.as_u64().is_some_and(|p| p > 0), "no stage: {pc}");
    let after: Vec<String> = EXPRS.iter().map(|e| answer(&cache, &src, e)).collect();
    assert_eq!(before, after, "answers unchanged");
}

/// A session killed while it writes the stage leaves an index without one that verifies; the
/// next session builds it and announces it.
#[test]
fn a_build_killed_mid_stage_is_finished_by_the_next_session() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = low_rank(tmp.path());
    let arg = src.to_str().unwrap();
    let slow = [("VECSH_BACKGROUND_STEP_MS", "400")];
    let mut p = session(&cache, tmp.path(), &[arg], &slow);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "lists ready").unwrap();
    // Asked until the build is in its stage, then killed there.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        p.send_line(":info").unwrap();
        let row = p.exp_regex("build +[^\r\n]*").unwrap().1;
        expect(&mut p, PROMPT).unwrap();
        if row.contains("building the principal-component") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no stage phase: {row}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    killed(p);
    verifies(&cache, &src);
    assert!(
        exact_info(&cache, &src)["pc_dims"].is_null(),
        "killed after the stage was sealed"
    );

    let mut p = session(&cache, tmp.path(), &[arg], &[]);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "principal-component stage ready").expect("the next session finishes it");
    quit(p);
    verifies(&cache, &src);
    assert!(exact_info(&cache, &src)["pc_dims"]
        .as_u64()
        .is_some_and(|p| p > 0));
}

/// The index a session completes by itself and the one `vecsh build` writes search the same
/// way (stage and cells) and answer the same.
#[test]
fn the_session_built_index_and_vecsh_builds_answer_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    built_and_session_answer_the_same(&low_rank(tmp.path()));
}

/// As above, on a word2vec binary file: the stage is built from rows read in place.
#[test]
fn the_session_built_index_and_vecsh_builds_answer_the_same_rows_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    built_and_session_answer_the_same(&low_rank_bin(tmp.path()));
}

fn built_and_session_answer_the_same(src: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let (built, session_cache) = (tmp.path().join("b"), tmp.path().join("s"));
    let src = src.to_path_buf();
    vecsh(&built)
        .env("VECSH_PC_MIN_ROWS", MIN_ROWS)
        .arg("build")
        .arg(&src)
        .assert()
        .success();
    let mut p = session(&session_cache, tmp.path(), &[src.to_str().unwrap()], &[]);
    expect(&mut p, PROMPT).unwrap();
    expect(&mut p, "principal-component stage ready").unwrap();
    quit(p);
    let (a, b) = (exact_info(&built, &src), exact_info(&session_cache, &src));
    assert_eq!(a["pc_dims"], b["pc_dims"], "{a} against {b}");
    assert!(a["pc_dims"].as_u64().is_some_and(|p| p > 0), "{a}");
    assert_eq!(a["cells"], b["cells"], "{a} against {b}");
    for e in EXPRS {
        assert_eq!(
            answer(&built, &src, e),
            answer(&session_cache, &src, e),
            "{e}"
        );
    }
}

/// A session whose index has its lists but no room left for the stage says why the stage's
/// build failed, `:info` says so, exact answers go on, and the index still verifies.
#[test]
fn a_stage_without_room_says_why_and_answers_go_on() {
    let tmp = tempfile::tempdir().unwrap();
    let src = low_rank(tmp.path());
    let arg = src.to_str().unwrap();
    // The index and its lists (`:exact off` in a session that builds nothing by itself), in a
    // roomy cache, then copied to a tmpfs with no room for the stage.
    let roomy = tmp.path().join("roomy");
    let mut p = session(
        &roomy,
        tmp.path(),
        &[arg],
        &[("VECSH_PC_MIN_ROWS", "100000")],
    );
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":exact off", "lists");
    expect(&mut p, "lists ready").unwrap();
    quit(p);
    let Some(small) = copied_to_small_tmpfs(&roomy, 16 * 1024) else {
        return;
    };
    let before = answer(&roomy, &src, "w5");
    let mut p = session(small.path(), tmp.path(), &[arg], &[]);
    expect(
        &mut p,
        "background build of the principal-component stage failed",
    )
    .expect("the failure is said");
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "failed: the principal-component stage");
    ask(&mut p, "w5", "w");
    quit(p);
    assert_eq!(answer(small.path(), &src, "w5"), before);
    verifies(small.path(), &src);
    assert!(exact_info(small.path(), &src)["pc_dims"].is_null());
}
