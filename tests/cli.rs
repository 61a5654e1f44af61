//! The binary end to end: run modes, exit codes, JSON, and build safety across processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::util::{tiny, vecsh, vecsh_process};

#[test]
fn expressions_answer_once() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", "king - man + woman", "-k", "2"])
        .assert()
        .success()
        .stdout(" 1 queen   0.959 █████████▌\n 2 1999    0.662 ██████▌\n");
}

#[test]
fn a_failing_line_is_reported_and_the_rest_still_runs() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", "womn", "-e", "sim(king, queen)"])
        .assert()
        .code(1)
        .stdout("0.5\n")
        .stderr(predicate::str::contains(
            "error: unknown word 'womn'\n  womn\n  ^^^^\n  help: did you mean 'woman'?",
        ));
}

#[test]
fn scripts_name_file_and_line_in_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s.vsh");
    std::fs::write(
        &script,
        "# royalty\nlet royal = king - man\n\nroyal + woman\nqueen +\n",
    )
    .unwrap();
    let out = vecsh(tmp.path())
        .arg(tiny())
        .arg(&script)
        .args(["-k", "1"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout, "royal = king - man\n 1 queen   0.959 █████████▌\n");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.starts_with(&format!("{}:5: error:", script.display())),
        "{stderr}"
    );
}

#[test]
fn lines_come_from_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-k", "1"])
        .write_stdin("man : king :: woman : ?\n")
        .assert()
        .success()
        .stdout(" 1 queen   0.959 █████████▌\n");
}

#[test]
fn json_is_one_object_per_result() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path())
        .arg(tiny())
        .args([
            "--json",
            "-k",
            "1",
            "-e",
            "king",
            "-e",
            "sim(king, queen)",
            "-e",
            "nope",
        ])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let values: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0]["kind"], "neighbours");
    assert_eq!(values[0]["neighbours"][0]["word"], "prince");
    assert_eq!(values[1]["kind"], "scalar");
    assert_eq!(values[2]["kind"], "error");
    assert_eq!(values[2]["error"]["message"], "unknown word 'nope'");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path()).arg("--no-such-flag").assert().code(2);
    vecsh(tmp.path())
        .args(["/no/such/file.txt", "-e", "king"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/no/such/file.txt"));
    vecsh(tmp.path())
        .arg(tiny())
        .arg("/no/such/script.vsh")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read script /no/such/script.vsh",
        ));
}

/// A directory with [`big_fixture`] in it and the path of its index cache there.
fn big_setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = big_fixture(tmp.path());
    let cache = tmp.path().join("cache");
    (tmp, src, cache)
}

/// A GloVe file big enough that building it takes a noticeable moment.
fn big_fixture(dir: &Path) -> PathBuf {
    let mut text = String::with_capacity(60 << 20);
    for i in 0..300_000u32 {
        text.push_str(&format!("w{i}"));
        for d in 0..24u32 {
            text.push_str(&format!(
                " {:.5}",
                ((i.wrapping_mul(2654435761) ^ d.wrapping_mul(40503)) % 1000) as f32 / 997.0 - 0.5
            ));
        }
        text.push('\n');
    }
    let path = dir.join("big.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// The names in the index cache `cache` (none while it does not exist).
fn cache_names(cache: &Path) -> Vec<String> {
    std::fs::read_dir(cache)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (polling every `poll_ms`) until `done` holds or `secs` have passed.
fn wait_until(secs: u64, poll_ms: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(poll_ms));
    }
}

/// `vecsh info SRC --json` on `cache`.
fn info_json(cache: &Path, src: &Path) -> serde_json::Value {
    let out = vecsh_process(cache)
        .arg("info")
        .arg(src)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What a killed build leaves in the cache: build directories and indexes set aside.
fn leftovers(cache: &Path) -> Vec<String> {
    cache_names(cache)
        .into_iter()
        .filter(|n| n.contains(".building-") || n.contains(".old-"))
        .collect()
}

#[test]
fn two_processes_opening_a_new_file_build_it_once() {
    let (_tmp, src, cache) = big_setup();
    let spawn = || {
        vecsh_process(&cache)
            .arg("info")
            .arg(&src)
            .arg("--json")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let origins: Vec<String> = [a, b]
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["meta"]["words"], 300_000);
            v["origin"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        origins.iter().filter(|o| *o == "built").count(),
        1,
        "{origins:?}"
    );
}

#[test]
fn a_killed_build_is_not_reused() {
    let (_tmp, src, cache) = big_setup();
    let mut child = vecsh_process(&cache)
        .arg("build")
        .arg(&src)
        .args(["--trees", "0"])
        .spawn()
        .unwrap();
    // Kill it once its build directory exists, i.e. in the middle of writing.
    wait_until(60, 2, || {
        cache_names(&cache).iter().any(|n| n.contains(".building-"))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let v = info_json(&cache, &src);
    assert_eq!(
        v["origin"], "built",
        "a half-built index must be rebuilt, not reused"
    );
    assert_eq!(v["meta"]["words"], 300_000);
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
}

/// A rebuild killed (SIGKILL) while it writes leaves the old index whole in place (or, killed
/// between the swap's two renames, aside as a marked leftover), never a partial one; the next
/// open builds the new one and removes what the killed process left.
#[test]
fn a_rebuild_killed_midway_leaves_the_old_index_or_none() {
    let (_tmp, src, cache) = big_setup();
    let one_shot = || {
        vecsh_process(&cache)
            .arg(&src)
            .args(["-e", "w1", "-k", "1"])
            .output()
            .unwrap()
    };
    assert!(one_shot().status.success());
    let opts = vecsh::index::OpenOptions {
        cache_dir: Some(cache.clone()),
        ..Default::default()
    };
    let dir = vecsh::index::index_dir_for(&src, &opts).unwrap();
    let old = std::fs::read(dir.join("data.mdb")).unwrap();
    // The source changes: the next open rebuilds.
    let mut text = std::fs::read_to_string(&src).unwrap();
    text.push_str(&format!("extra{}\n", " 0.25".repeat(24)));
    std::fs::write(&src, text).unwrap();
    let mut child = vecsh_process(&cache)
        .arg(&src)
        .args(["-e", "w1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(60, 2, || {
        cache_names(&cache).iter().any(|n| n.contains(".building-"))
    });
    let finished_first = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !finished_first,
        "the rebuild ended before it could be killed"
    );
    match std::fs::read(dir.join("data.mdb")) {
        Ok(now) => assert!(now == old, "a killed rebuild left a changed index in place"),
        Err(_) => {
            let aside = cache_names(&cache).iter().any(|n| n.contains(".old-"));
            assert!(aside, "no index in place and none aside");
        }
    }
    let v = info_json(&cache, &src);
    assert_eq!(v["origin"], "built", "{v}");
    assert_eq!(v["meta"]["words"], 300_001, "{v}");
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
}

/// `vecsh build` killed while it builds the lists (after the index itself is in place):
/// the lists are one write transaction, so the index is intact and reused with no lists, or
/// with complete ones, never with part of them; the next build finishes them.
#[test]
fn a_build_killed_during_the_lists_leaves_an_intact_index() {
    let (_tmp, src, cache) = big_setup();
    let mut child = vecsh_process(&cache)
        .arg("build")
        .arg(&src)
        .spawn()
        .unwrap();
    // The index is in place once a finished directory (with data.mdb) exists and no build
    // directory does; the lists' k-means (seconds for 300,000 rows) runs after that.
    wait_until(120, 5, || {
        let names = cache_names(&cache);
        names
            .iter()
            .any(|n| !n.contains(".building-") && cache.join(n).join("data.mdb").is_file())
            && !names.iter().any(|n| n.contains(".building-"))
    });
    std::thread::sleep(Duration::from_millis(300));
    let finished_first = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    let out = vecsh_process(&cache)
        .arg("info")
        .arg(&src)
        .args(["--verify", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = info_json(&cache, &src);
    assert_eq!(v["origin"], "reused", "the index itself was complete");
    // Killed mid-build: no lists; killed during the calibration after them: complete ones.
    assert!(
        v["lists"].is_null() || v["lists"]["rows"] == 300_000,
        "no lists or complete ones: {v}"
    );
    eprintln!(
        "killed {}",
        if finished_first {
            "after the build had ended"
        } else if v["lists"].is_null() {
            "during the lists' build"
        } else {
            "after the lists were committed"
        }
    );
    let out = vecsh_process(&cache)
        .arg("build")
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("index already current"), "{text}");
    assert!(text.contains("lists: "), "{text}");
}

/// Runs `vecsh ARGS` with a standard output whose reading end is already closed (as
/// `vecsh ... | head -1` once head has left); returns the exit code and stderr.
fn closed_stdout(cache: &Path, args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = vecsh_process(cache)
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_0() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protocols");
    let vectors = fixtures.join("vectors.txt");
    let questions = fixtures.join("questions.txt");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![os("completions"), os("fish")],
        vec![os("man")],
        vec![
            os("eval"),
            os("analogy"),
            vectors.as_os_str(),
            questions.as_os_str(),
            os("--details"),
        ],
        vec![tiny().into_os_string().leak(), os("-e"), os("king")],
        vec![
            tiny().into_os_string().leak(),
            os("-e"),
            os("king"),
            os("--json"),
        ],
        vec![os("info"), tiny().into_os_string().leak()],
        vec![
            os("build"),
            tiny().into_os_string().leak(),
            os("--trees"),
            os("1"),
        ],
        // Issue 23: the same everywhere (export printed `vecsh: Broken pipe (os error 32)`).
        vec![
            os("export"),
            tiny().into_os_string().leak(),
            os("-o"),
            os("-"),
        ],
        vec![
            os("export"),
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("assets/glove.6B.50d.50k.txt.gz")
                .into_os_string()
                .leak(),
            os("--limit"),
            os("2000"),
            os("-o"),
            os("-"),
        ],
        vec![os("info"), os("--json"), tiny().into_os_string().leak()],
        vec![os("info"), os("--verify"), tiny().into_os_string().leak()],
        vec![os("man"), os("build")],
        vec![os("--help")],
        vec![tiny().into_os_string().leak(), os("-e"), os(":help")],
        vec![tiny().into_os_string().leak(), os("-e"), os(":info")],
        vec![
            vectors.as_os_str(),
            os("-e"),
            std::ffi::OsStr::new(
                String::leak(format!(":eval analogy {}", questions.display())) as &str,
            ),
        ],
    ];
    for args in cases {
        let (code, stderr) = closed_stdout(tmp.path(), &args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

#[test]
fn an_error_far_right_on_a_long_line_shows_a_window_around_it() {
    let tmp = tempfile::tempdir().unwrap();
    let line = format!("{})", " ".repeat(65_536));
    let out = vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", &line])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].starts_with("error:"), "{stderr}");
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{stderr}");
    // The caret stands under the parenthesis.
    let (text, caret) = (lines[1], lines[2]);
    let col = caret.find('^').expect("a caret");
    assert_eq!(text.chars().nth(col), Some(')'), "{stderr}");
}

#[test]
fn k_0_shows_no_neighbours() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["-k", "0", "-e", "king"],
        vec!["-e", ":k 0", "-e", "king"],
        vec!["-k", "0", "-e", "king - man + woman", "--method", "mul"],
        vec!["-k", "0", "-e", "king", "--approx"],
    ] {
        let out = vecsh(tmp.path())
            .arg(tiny())
            .args(&args)
            .arg("--json")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}");
        let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(
            last["neighbours"],
            serde_json::json!([]),
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn session_commands_work_in_expressions_scripts_and_pipes() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", ":help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Expressions"));
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", ":info"])
        .assert()
        .success()
        .stdout(predicate::str::contains("words    9"));
    // `:quit` ends the lines with the status so far: 1 after a failed line, and `queen` never runs.
    let script = tmp.path().join("s.vsh");
    std::fs::write(&script, "womn\n:q\nqueen\n").unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .arg(&script)
        .assert()
        .code(1)
        .stdout("");
    vecsh(tmp.path())
        .arg(tiny())
        .write_stdin("sim(king, queen)\n:quit\nking\n")
        .assert()
        .success()
        .stdout("0.5\n");
}

#[test]
fn a_script_with_expressions_is_refused_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s.vsh");
    std::fs::write(&script, "king\n").unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .arg(&script)
        .args(["-e", "queen"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("cannot be combined"));
}

#[test]
fn two_scripts_are_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.vsh"), tmp.path().join("b.vsh"));
    std::fs::write(&a, "Royalty\n").unwrap();
    std::fs::write(&b, "king\n").unwrap();
    vecsh(tmp.path())
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is a script, not an embedding file",
        ));
}

#[test]
fn an_invalid_utf8_line_is_reported_and_the_rest_runs() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-k", "1"])
        .write_stdin(&b"sim(king, queen)\n\xff\nsim(man, woman)\n"[..])
        .assert()
        .code(1)
        .stdout("0.5\n0\n")
        .stderr(
            predicate::str::contains("<stdin>:2: error:").and(predicate::str::contains("UTF-8")),
        );
    let script = tmp.path().join("bad.vsh");
    std::fs::write(&script, b"sim(king, queen)\nki\xffng\nsim(man, woman)\n").unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .arg(&script)
        .assert()
        .code(1)
        .stdout("0.5\n0\n")
        .stderr(predicate::str::contains("bad.vsh:2: error:"));
}

#[test]
fn an_open_parenthesis_continues_in_scripts_and_pipes() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s.vsh");
    std::fs::write(&script, "sim(king,\n  queen)\nsim(man,\n").unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .arg(&script)
        .assert()
        .code(1)
        .stdout("0.5\n")
        .stderr(predicate::str::contains("s.vsh:3: error:"));
    vecsh(tmp.path())
        .arg(tiny())
        .write_stdin("sim(king,\nqueen)\n")
        .assert()
        .success()
        .stdout("0.5\n");
}

#[test]
fn a_dash_means_standard_input_and_output() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .arg("-")
        .write_stdin("sim(king, queen)\n")
        .assert()
        .success()
        .stdout("0.5\n");
    let out = vecsh(tmp.path())
        .current_dir(tmp.path())
        .args(["export"])
        .arg(tiny())
        .args(["-o", "-"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.starts_with("man 1 0 0\n"), "{stdout}");
    assert_eq!(stdout.lines().count(), 9);
    assert!(!tmp.path().join("-").exists(), "no file named -");
}

#[test]
fn expressions_may_start_with_a_minus() {
    let tmp = tempfile::tempdir().unwrap();
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-k", "1", "-e", "-apple"])
        .assert()
        .success()
        .stdout(predicate::str::contains(" 1 "));
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-k", "1", "-e", "-0.5 * apple", "-e", "--json"])
        .assert()
        .code(2);
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-k", "1", "-e", "-0.5 * apple", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("{\"kind\":\"neighbours\""));
}

#[test]
fn overflowing_literals_and_non_finite_results_are_errors_with_a_span() {
    let tmp = tempfile::tempdir().unwrap();
    for (expr, says) in [
        ("1e309", "too large"),
        ("0 * 1e309", "too large"),
        ("1e309 * king", "too large"),
        ("king / 1e-400", "too small"),
        ("1e300 * 1e300", "not a finite number"),
        ("1e300 * king", "too large or too small"),
    ] {
        vecsh(tmp.path())
            .arg(tiny())
            .args(["-e", expr])
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::contains(says).and(predicate::str::contains("^")));
    }
}

#[test]
fn a_bare_number_beside_plus_and_minus_is_the_vocabulary_word() {
    let tmp = tempfile::tempdir().unwrap();
    // tiny.txt has the word 1999; `1999 - 1999` would be 0 as numbers, a zero vector as words.
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", "1999 + 1999", "-k", "1", "--include", "--json"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("\"kind\":\"neighbours\"")
                .and(predicate::str::contains("1999")),
        );
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", "sim(1999, king)"])
        .assert()
        .success();
    // Beside * and / a number is a number.
    vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", "2 * 3"])
        .assert()
        .success()
        .stdout("6\n");
}

#[test]
fn nothing_is_suggested_for_a_word_with_nothing_close() {
    let tmp = tempfile::tempdir().unwrap();
    // The built-in vocabulary has one-character words (',', '.', 'a'): one edit away from any
    // single character, but nothing like it.
    for word in ["😀", "日本"] {
        vecsh(tmp.path())
            .args(["-e", word])
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains("unknown word")
                    .and(predicate::str::contains("did you mean").not()),
            );
    }
}

fn help_of(args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path()).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The flags a help lists, as `--name` (and `-x` for short ones).
fn flags_of(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| {
            l.split([' ', ','])
                .take_while(|w| w.starts_with('-') || w.is_empty())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Each subcommand's help lists what applies there, not every query flag of the session.
#[test]
fn each_subcommand_lists_only_its_own_flags() {
    let query_only = [
        "--top",
        "--exact",
        "--approx",
        "--include",
        "--restrict",
        "--subwords",
        "--svg",
        "-e",
    ];
    let cases: [(&[&str], &[&str], &[&str]); 6] = [
        (
            &["build"],
            &[
                "--trees",
                "--format",
                "--member",
                "--limit",
                "--index",
                "--rebuild",
                "--quiet",
            ],
            &["--method", "--json", "--color", "--decimals", "--verify"],
        ),
        (
            &["export"],
            &["--output", "--decimals", "--format", "--member", "--limit"],
            &[
                "--method",
                "--json",
                "--color",
                "--trees",
                "--index",
                "--rebuild",
            ],
        ),
        (
            &["completions"],
            &[],
            &[
                "--format", "--member", "--limit", "--index", "--quiet", "--method", "--json",
            ],
        ),
        (
            &["info"],
            &["--verify", "--json", "--format", "--index", "--quiet"],
            &["--method", "--trees", "--decimals"],
        ),
        (
            &["eval", "analogy"],
            &[
                "--protocol",
                "--method",
                "--restrict",
                "--details",
                "--also",
                "--json",
                "--format",
                "--quiet",
            ],
            &["--trees", "--decimals"],
        ),
        (
            &["eval", "similarity"],
            &["--restrict", "--also", "--json", "--format", "--quiet"],
            &["--method", "--protocol", "--trees"],
        ),
    ];
    for (args, wanted, unwanted) in cases {
        let help = help_of(args);
        let flags = flags_of(&help);
        for flag in wanted {
            assert!(
                flags.iter().any(|f| f == flag),
                "{args:?} lacks {flag}:\n{help}"
            );
        }
        for flag in unwanted.iter().chain(&query_only) {
            let is_eval_restrict = args[0] == "eval" && *flag == "--restrict";
            if !is_eval_restrict {
                assert!(
                    !flags.iter().any(|f| f == flag),
                    "{args:?} lists {flag}:\n{help}"
                );
            }
        }
    }
    // The top level still has them all.
    let top = flags_of(&help_of(&[]));
    for flag in [
        "--top", "--exact", "--method", "--json", "--format", "--svg", "-e",
    ] {
        assert!(top.iter().any(|f| f == flag), "{flag}");
    }
}

/// FILE and -o say what they are: no argument line without a description (beside it, or on
/// the next line in clap's long layout).
#[test]
fn file_and_output_are_described() {
    for args in [&["build"][..], &["export"], &["info"], &["eval", "analogy"]] {
        let help = help_of(args);
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_arg =
                t.starts_with("<FILE>") || t.starts_with("[FILE]") || t.starts_with("-o, --output");
            if is_arg {
                let beside = t.split_whitespace().count() > 2;
                let below = lines
                    .get(i + 1)
                    .is_some_and(|next| next.starts_with("          ") && !next.trim().is_empty());
                assert!(
                    beside || below,
                    "{args:?}: no description for {line:?}\n{help}"
                );
            }
        }
    }
    assert!(help_of(&["export"]).contains("-o, --output <OUTPUT>"));
}

/// The examples block of `vecsh --help`: every description starts in the same column.
#[test]
fn the_examples_are_aligned() {
    let help = help_of(&[]);
    let block = help.split("Examples:").nth(1).expect("an examples block");
    let mut columns = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        // A description follows a gap of at least two blanks after the command, or stands alone
        // on its own continuation line.
        let body = &line[2..];
        let column = if body.starts_with(' ') {
            Some(line.len() - line.trim_start().len())
        } else {
            body.find("  ")
                .map(|i| 2 + i + body[i..].len() - body[i..].trim_start().len())
        };
        if let Some(c) = column {
            columns.push((c, line.to_string()));
        }
    }
    assert!(columns.len() >= 5, "{block}");
    let first = columns[0].0;
    for (c, line) in &columns {
        assert_eq!(*c, first, "misaligned: {line:?}\n{block}");
    }
}

/// `--format` names every format the loader reads, and each one is accepted.
#[test]
fn format_names_every_format_the_loader_reads() {
    let help = help_of(&[]);
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for name in [
        "glove",
        "w2v-text",
        "w2v-bin",
        "fasttext-bin",
        "gensim",
        "pickle",
    ] {
        assert!(flat.contains(name), "--format lacks {name}: {flat}");
    }
    // A format forced on a file of another kind is an error, never a wrong reading.
    let tmp = tempfile::tempdir().unwrap();
    let headed = tmp.path().join("headed.txt");
    std::fs::write(&headed, "2 3\nking 1 0 0\nqueen 0 1 0\n").unwrap();
    for name in ["gensim", "pickle", "fasttext-bin"] {
        for file in [tiny(), headed.clone()] {
            vecsh(tmp.path())
                .arg(&file)
                .args(["--format", name, "-e", "king"])
                .assert()
                .code(2)
                .stdout("");
        }
    }
}

/// A fixture whose words collide with the syntax, as word2vec's `</s>` and tokenised text's
/// `below,` do.
fn syntax_words(dir: &Path) -> PathBuf {
    let path = dir.join("syntax.txt");
    std::fs::write(
        &path,
        "</s> 1 0 0\nbelow, 0 1 0\n: 0 0 1\n-- 1 1 0\nking 1 0 1\nqueen 0 1 1\ns 1 1 1\nbelow 0 1 0.1\n",
    )
    .unwrap();
    path
}

/// An unknown word that is part of a vocabulary word made of syntax characters gets the
/// quoted form that works as its hint, not a piece of it.
#[test]
fn words_that_collide_with_the_syntax_are_suggested_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let file = syntax_words(tmp.path());
    for (typed, quoted) in [
        ("</s>", r#""</s>""#),
        ("below,", r#""below,""#),
        (":", r#"":""#),
        ("--", r#""--""#),
        ("king + </s>", r#""</s>""#),
    ] {
        let out = vecsh(tmp.path())
            .arg(&file)
            .arg(format!("--expr={typed}"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{typed}: {err}");
        assert!(
            err.contains(&format!("did you mean {quoted}?")),
            "{typed}: {err}"
        );
        // And the suggestion works.
        vecsh(tmp.path())
            .arg(&file)
            .arg(format!("--expr={quoted}"))
            .assert()
            .success();
    }
    // A word that reads as itself is no collision: its error keeps its own help.
    for (typed, help) in [
        ("king * queen", "write sim(king, queen)"),
        ("king / 0", "division by zero"),
    ] {
        let out = vecsh(tmp.path())
            .arg(&file)
            .args(["-e", typed])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(help) && !err.contains("did you mean \""),
            "{typed}: {err}"
        );
    }
}

/// `:eval analogy QUESTIONS` and `:eval similarity PAIRS` report as `vecsh eval` does, in
/// `-e` (and so in scripts and pipes) as in the session; a wrong name is an error of that line.
#[test]
fn eval_command_reports_in_expressions() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protocols");
    let questions = fixtures.join("questions.txt");
    let out = vecsh(tmp.path())
        .arg(fixtures.join("vectors.txt"))
        .arg("-e")
        .arg(format!(":eval analogy {}", questions.display()))
        .arg("-e")
        .arg(":eval nonsense")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("capital-common-countries") && stdout.contains("total"),
        "{stdout}"
    );
    assert!(stderr.contains("unknown evaluation 'nonsense'"), "{stderr}");
}

/// `vecsh man` prints a roff manual page generated from the clap definitions: the page's
/// header, its sections, only requests of the man macros, and every subcommand `--help` lists.
/// Where groff is installed it must also format the page without a warning.
#[test]
fn man_prints_a_roff_page_naming_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path()).arg("man").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.lines().any(|l| l.starts_with(".TH vecsh 1")), "{page}");
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(
            page.lines().any(|l| l == format!(".SH {section}")),
            "{section}"
        );
    }
    let known = [
        "ie", "el", "TH", "SH", "SS", "TP", "IP", "RS", "RE", "br", "PP", "sp", "nf", "fi",
    ];
    for line in page
        .lines()
        .filter(|l| l.starts_with('.') || l.starts_with('\''))
    {
        let request = line[1..].split_whitespace().next().unwrap_or("");
        assert!(known.contains(&request), "unexpected roff request: {line}");
    }
    // Every subcommand of `vecsh --help` (its "Commands:" list) has an entry.
    let help = vecsh(tmp.path()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let subcommands: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        // clap's `help` prints the others' help: it has no page of its own.
        .filter(|name| *name != "help")
        .collect();
    assert!(
        subcommands.contains(&"eval") && subcommands.contains(&"man"),
        "{help}"
    );
    for sub in &subcommands {
        assert!(
            page.lines().any(|l| l == format!("vecsh\\-{sub}(1)")),
            "subcommand {sub} missing from the page"
        );
        // The page it names exists: `vecsh man SUB`, titled as named, with its own options.
        let out = vecsh(tmp.path()).args(["man", sub]).output().unwrap();
        assert!(out.status.success(), "{sub}: {out:?}");
        let sub_page = String::from_utf8(out.stdout).unwrap();
        assert!(
            sub_page
                .lines()
                .any(|l| l.starts_with(&format!(".TH vecsh-{sub} 1"))),
            "{sub}: {}",
            &sub_page[..sub_page.len().min(300)]
        );
    }
    let out = vecsh(tmp.path()).args(["man", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no subcommand 'nosuch'") && err.contains("build"),
        "{err}"
    );
    // groff, where installed, formats it without a warning.
    let groff = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    if let Ok(mut groff) = groff {
        use std::io::Write as _;
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let done = groff.wait_with_output().unwrap();
        assert!(done.status.success(), "{done:?}");
        assert_eq!(String::from_utf8_lossy(&done.stderr), "", "groff warned");
    }
}

/// Issue 23: no value of a flag or command aborts. k is capped at the vocabulary (it was
/// `memory allocation of 80000000016 bytes failed`, exit 134); a session survives a huge `:k`.
#[test]
fn a_huge_k_is_capped_at_the_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path())
        .arg(tiny())
        .args(["-k", "10000000000", "-e", "king"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let all = vecsh(tmp.path())
        .arg(tiny())
        .args(["-k", "9", "-e", "king"])
        .assert()
        .success();
    let rows = String::from_utf8_lossy(&all.get_output().stdout).into_owned();
    assert_eq!(stdout, rows);
    let rows = rows.lines().count();
    let out = vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", ":k 99999999999999", "-e", "king", "-e", ":k"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "k = 9", "{stdout}");
    assert!(
        lines[1].starts_with("note: ") && lines[1].contains("9 words"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 2 + rows + 1, "{stdout}");
    assert_eq!(lines[2 + rows], "k = 9", "{stdout}");
    // Flags whose huge values would allocate or loop for ever are refused by the parser.
    for args in [
        vec!["build", "F", "--trees", "99999999999"],
        vec!["export", "F", "-o", "-", "--decimals", "4000000000"],
    ] {
        vecsh(tmp.path())
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error: invalid value"));
    }
}

/// `:k 1e3`, `:k abc`, `:k -1`: errors at the argument's span, each with help that fits it;
/// never the syntax-word hint (`did you mean "-1"?`).
#[test]
fn bad_k_values_are_errors_at_their_span() {
    let tmp = tempfile::tempdir().unwrap();
    for (value, help) in [
        ("1e3", "help: write the number out: :k 1000"),
        ("abc", "help: e.g. :k 20"),
        ("-1", "help: :k 0 shows no neighbours"),
        ("2.5", "help: e.g. :k 20"),
    ] {
        let line = format!(":k {value}");
        let out = vecsh(tmp.path())
            .arg(tiny())
            .args(["-e", &line])
            .assert()
            .code(1);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        let caret = format!("\n  {line}\n     {}\n", "^".repeat(value.len()));
        assert!(stderr.contains(&caret), "{value}: {stderr}");
        assert!(stderr.contains(help), "{value}: {stderr}");
        assert!(!stderr.contains("did you mean"), "{value}: {stderr}");
    }
}

/// Did-you-mean for an unknown command offers only commands that exist (`:let` is none).
#[test]
fn unknown_commands_are_not_offered_let() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", ":lett"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("unknown command ':lett'"), "{stderr}");
    assert!(!stderr.contains(":let'"), "{stderr}");
}

/// `--json`: every stdout line is one JSON object, whatever the line was (`:info`, `:help`,
/// `:eval`, settings, `:vars`, maps, errors); numbers are numbers; `kind` comes first.
#[test]
fn with_json_every_stdout_line_is_one_object() {
    let tmp = tempfile::tempdir().unwrap();
    let questions = tmp.path().join("q.txt");
    std::fs::write(
        &questions,
        ": family\nman king woman queen\nman woman king queen\n",
    )
    .unwrap();
    let eval = format!(":eval analogy {}", questions.display());
    let out = vecsh(tmp.path())
        .arg(tiny())
        .args(["--json", "-e", ":info", "-e", ":help", "-e", &eval])
        .args([
            "-e",
            ":eval analogy nonexistent.txt",
            "-e",
            ":k 3",
            "-e",
            ":restrict 5",
        ])
        .args(["-e", ":restrict off", "-e", "let a = king", "-e", ":vars"])
        .args(["-e", "plot(king, queen)", "-e", "womn", "-e", ":exact auto"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "info", "help", "analogy", "error", "setting", "setting", "setting", "bound", "vars",
            "map", "error", "setting"
        ],
        "{stdout}"
    );
    for line in stdout.lines() {
        assert!(line.starts_with("{\"kind\":"), "{line}");
    }
    assert_eq!(objects[0]["words"], 9);
    assert!(objects[0]["exact"]["rows"].is_number(), "{stdout}");
    assert!(
        objects[1]["commands"].as_array().unwrap().len() > 5,
        "{stdout}"
    );
    assert_eq!(objects[2]["questions_total"], 2);
    assert!(objects[3]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nonexistent.txt"));
    assert_eq!(objects[4]["value"], 3);
    assert_eq!(objects[5]["value"], 5);
    assert_eq!(objects[6]["value"], "off");
    assert_eq!(
        objects[8]["vars"],
        serde_json::json!([{"name": "a", "query": "king"}])
    );
    assert_eq!(objects[11]["value"], "on");
    assert!(objects[11]["note"].is_string());
    assert!(
        out.get_output().stderr.is_empty(),
        "{:?}",
        out.get_output().stderr
    );
}

/// `vecsh SCRIPT -e X` (a script in the file's place, on the built-in vocabulary) ran both;
/// it is refused as `vecsh FILE SCRIPT -e X` is, with the same message and status 2.
#[test]
fn a_lone_script_with_expressions_is_refused_too() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s.vsh");
    std::fs::write(&script, "king\n").unwrap();
    let refused = |args: &[&std::ffi::OsStr]| {
        let out = vecsh(tmp.path()).args(args).assert().code(2).stdout("");
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    };
    let tiny = tiny();
    let lone = refused(&[script.as_os_str(), "-e".as_ref(), "queen".as_ref()]);
    let both = refused(&[
        tiny.as_os_str(),
        script.as_os_str(),
        "-e".as_ref(),
        "queen".as_ref(),
    ]);
    assert_eq!(lone, both);
    assert!(lone.contains("cannot be combined"), "{lone}");
}

/// `:svg FILE` refuses a FILE that exists before drawing anything (it drew the map, then
/// refused); `:svg DIR` and `--svg DIR.svg` are clear errors.
#[test]
fn svg_refuses_existing_files_and_directories_before_drawing() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = tmp.path().join("taken.svg");
    std::fs::write(&taken, "mine").unwrap();
    let dir = tmp.path().join("pictures.svg");
    std::fs::create_dir(&dir).unwrap();
    for (path, says) in [
        (&taken, "already exists: vecsh does not overwrite files"),
        (&dir, "is a directory"),
        (&tmp.path().to_path_buf(), "is a directory"),
    ] {
        let line = format!(":svg {} plot(king, queen)", path.display());
        let out = vecsh(tmp.path())
            .arg(tiny())
            .args(["-e", &line])
            .assert()
            .code(1)
            .stdout("");
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{stderr}");
        let caret = format!(
            "\n       {}\n",
            "^".repeat(path.display().to_string().len())
        );
        assert!(stderr.contains(&caret), "{stderr}");
    }
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "mine");
    for path in [&taken, &dir] {
        let out = vecsh(tmp.path())
            .arg(tiny())
            .arg("--svg")
            .arg(path)
            .args(["-e", "plot(king, queen)"])
            .assert()
            .code(2)
            .stdout("");
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains("already exists") || stderr.contains("is a directory"),
            "{stderr}"
        );
    }
}

/// Issue 23's stale texts: `--exact` is no longer "the default below 2M words", `:exact off`
/// is not "the approximate forest", and `vecsh info`'s description names every part that
/// `vecsh info` shows (it ended "…forest" and left out the lists).
#[test]
fn help_texts_say_what_vecsh_does_now() {
    let tmp = tempfile::tempdir().unwrap();
    let top = help_of(&[]);
    assert!(!top.contains("2M"), "{top}");
    let exact = top
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--exact"))
        .take(2)
        .collect::<String>();
    assert!(exact.contains("the default"), "{exact}");
    let session = vecsh(tmp.path())
        .arg(tiny())
        .args(["-e", ":help"])
        .assert()
        .success();
    let session = String::from_utf8_lossy(&session.get_output().stdout).into_owned();
    // The row, with the lines its text wraps onto (indented past the syntax column).
    let lines: Vec<&str> = session.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(":exact on|off"))
        .unwrap_or_else(|| panic!("{session}"));
    let row = std::iter::once(lines[at])
        .chain(
            lines[at + 1..]
                .iter()
                .copied()
                .take_while(|l| l.starts_with("   ")),
        )
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!row.contains("forest"), "{row}");
    assert!(row.contains("lists"), "{row}");
    // What `vecsh info` prints, each part named in its description.
    let info = vecsh(tmp.path()).arg("info").arg(tiny()).assert().success();
    let info = String::from_utf8_lossy(&info.get_output().stdout).into_owned();
    let about = help_of(&["info"]);
    let about = about
        .lines()
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    for key in info.lines().filter_map(|l| l.split_whitespace().next()) {
        if key == "built" {
            continue;
        }
        assert!(about.contains(key), "'{key}' missing from: {about}");
    }
    // `--forest` with no forest says so, as `--approx` without lists does.
    for (flag, says) in [
        ("--forest", "the approximate-search forest is not built yet"),
        ("--approx", "the approximate-search lists are not built yet"),
    ] {
        let out = vecsh(tmp.path())
            .arg(tiny())
            .args([flag, "-e", "king"])
            .assert()
            .success();
        let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(out.contains(says), "{flag}: {out}");
        assert!(out.contains("vecsh build"), "{flag}: {out}");
    }
}

/// Issue 23: an approximate answer says so in a dim first line, `QUERY (approximate, N of M
/// lists)`, not in a table line after the rows; JSON carries `"approximate": true`. Counts
/// print the same way everywhere (`5,000` in `vecsh info`, `:info` and `vecsh build`).
#[test]
fn approximate_answers_say_so_first_and_counts_print_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let file = crate::util::write_glove_random(tmp.path(), "v.txt", 5_000, 8);
    let built = vecsh(tmp.path()).arg("build").arg(&file).assert().success();
    let built = String::from_utf8_lossy(&built.get_output().stdout).into_owned();
    assert!(built.contains("5,000 words"), "{built}");
    let out = vecsh(tmp.path())
        .arg(&file)
        .args(["--approx", "-k", "3", "-e", "w1", "-e", "w2 - w3"])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    for (header, query) in [(lines[0], "w1"), (lines[4], "w2 - w3")] {
        let rest = header
            .strip_prefix(&format!("{query} (approximate, "))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(rest.ends_with(" lists)") && rest.contains(" of "), "{out}");
    }
    assert!(!out.contains("\n(approximate)"), "{out}");
    let json = vecsh(tmp.path())
        .arg(&file)
        .args(["--approx", "--json", "-k", "3", "-e", "w1"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(json["approximate"], true, "{json}");
    let exact = vecsh(tmp.path())
        .arg(&file)
        .args(["--json", "-k", "3", "-e", "w1"])
        .assert()
        .success();
    let exact: serde_json::Value = serde_json::from_slice(&exact.get_output().stdout).unwrap();
    assert!(exact.get("approximate").is_none(), "{exact}");
    for args in [
        vec!["info".into(), file.clone().into_os_string()],
        vec![file.clone().into_os_string(), "-e".into(), ":info".into()],
    ] {
        let info = vecsh(tmp.path()).args(&args).assert().success();
        let info = String::from_utf8_lossy(&info.get_output().stdout).into_owned();
        let words = info.lines().find(|l| l.starts_with("words")).unwrap();
        assert!(words.ends_with(" 5,000"), "{info}");
        let lists = info.lines().find(|l| l.starts_with("lists")).unwrap();
        assert!(lists.contains("5,000 rows"), "{info}");
    }
}

/// Words holding a line separator, a bidi override, a C1 control or DEL reached the terminal
/// raw in `--json` (and U+2028 in tables too): escaped, while JSON keeps the same value.
#[test]
fn json_and_tables_escape_every_unsafe_character() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("v.txt");
    let words = [
        "pa\u{2028}ris",
        "ro\u{202e}me",
        "c1\u{9b}31m",
        "del\u{7f}",
        "plain",
    ];
    let text: String = words
        .iter()
        .enumerate()
        .map(|(i, w)| format!("{w} 1 {} 0.5\n", i as f32 * 0.1))
        .collect();
    std::fs::write(&file, text).unwrap();
    let out = vecsh(tmp.path())
        .arg(&file)
        .args(["--json", "-k", "4", "-e", "plain"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert!(
        !stdout
            .chars()
            .any(|c| c != '\n' && vecsh::text::is_unsafe(c)),
        "{stdout:?}"
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim_end()).unwrap();
    let got: Vec<&str> = v["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["word"].as_str().unwrap())
        .collect();
    for w in &words[..4] {
        assert!(got.contains(w), "{w:?} not in {got:?}");
    }
    let out = vecsh(tmp.path())
        .arg(&file)
        .args(["-k", "4", "-e", "plain"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout
            .chars()
            .any(|c| c != '\n' && vecsh::text::is_unsafe(c)),
        "{stdout:?}"
    );
    assert!(stdout.contains("pa\\u{2028}ris"), "{stdout}");
}

/// `--json -e ":help plot"` printed the whole help and `:help nosuch` was no error; `:info`,
/// `:help` and `:eval` objects had no `"input"`, so several `-e` could not be matched to their
/// lines; a script line that is not UTF-8 gave a text error on stderr and no object.
#[test]
fn json_help_topics_inputs_and_undecodable_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path())
        .arg(tiny())
        .args([
            "--json",
            "-e",
            ":help plot",
            "-e",
            ":help nosuch",
            "-e",
            ":info",
        ])
        .args(["-e", ":help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len(), 4, "{stdout}");
    let plot = &objects[0];
    assert_eq!(plot["kind"], "help");
    assert_eq!(plot["topic"], "plot");
    assert_eq!(plot["expressions"].as_array().unwrap().len(), 1, "{plot}");
    assert!(plot["expressions"][0]["syntax"]
        .as_str()
        .unwrap()
        .contains("plot("));
    assert_eq!(plot["commands"], serde_json::json!([]));
    assert_eq!(plot["input"], ":help plot");
    assert_eq!(objects[1]["kind"], "error");
    assert!(objects[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no help on 'nosuch'"));
    assert_eq!(objects[2]["kind"], "info");
    assert_eq!(objects[2]["input"], ":info");
    assert_eq!(objects[3]["input"], ":help");
    assert!(objects[3]["commands"].as_array().unwrap().len() > 5);
    // A line that is not UTF-8, in a script run with --json.
    let script = tmp.path().join("bad.vsh");
    std::fs::write(&script, b"king\n\xff\xfe bad\nqueen\n").unwrap();
    let out = vecsh(tmp.path())
        .arg(tiny())
        .arg(&script)
        .args(["--json", "-k", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let kinds: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(
        kinds,
        ["\"neighbours\"", "\"error\"", "\"neighbours\""],
        "{stdout}"
    );
    assert!(stdout.contains("bad.vsh:2"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
