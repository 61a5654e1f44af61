//! The interactive session in a real pseudo-terminal: the built binary, the line editor, and
//! the history file across sessions, on the 9-word fixture.
//!
//! Colour is off (NO_COLOR) so the output is plain text, but TERM names a capable terminal:
//! rustyline falls back to plain line reading (no completion, no history keys) on `dumb`.
//! Lines are sent only once the prompt is back: rustyline asks the terminal for the cursor
//! position when a prompt starts and would take typed-ahead keys for the answer.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use rexpect::process::wait::WaitStatus;
use rexpect::session::PtySession;

use crate::util::{ask, expect, history, quit, tiny, PROMPT, TIMEOUT_MS};

/// `vecsh tiny.txt` in a pseudo-terminal, with its cache and history in `dir`, waiting for the
/// first prompt.
fn start(dir: &Path) -> PtySession {
    start_with(dir, &[])
}

/// `start` with more command-line arguments.
fn start_with(dir: &Path, args: &[&str]) -> PtySession {
    let mut p = spawn_on(dir, &tiny(), args);
    expect(&mut p, "tiny.txt, 9 words × 3 dims").expect("banner");
    expect(&mut p, PROMPT).expect("first prompt");
    p
}

/// A session on `file` with its state in `dir`, before its banner.
fn spawn_on(dir: &Path, file: &Path, args: &[&str]) -> PtySession {
    let mut all = vec![file.as_os_str(), "--quiet".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    crate::util::pty_session(&dir.join("cache"), dir, &all, TIMEOUT_MS)
}

#[test]
fn tab_completes_a_word_from_the_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    p.send("que").unwrap();
    p.flush().unwrap();
    expect(&mut p, "que").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    expect(&mut p, "queen").expect("Tab completes que to queen");
    // The completed word is a real word: Enter shows its neighbours.
    ask(&mut p, "", " 1 e-mail   0.816");
    quit(p);
}

#[test]
fn an_expression_prints_its_table() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    p.send_line("king - man + woman").unwrap();
    expect(&mut p, " 1 queen    0.959 █████████▌").unwrap();
    expect(&mut p, " 2 1999     0.662 ██████▌").unwrap();
    expect(&mut p, PROMPT).unwrap();
    // Errors point at the problem and suggest the fix, and the session goes on.
    ask(&mut p, "king - man + womn", "help: did you mean 'woman'?");
    ask(&mut p, "sim(king, queen)", "0.5");
    quit(p);
}

#[test]
fn ctrl_c_cancels_the_line_and_keeps_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    p.send("king - ").unwrap();
    p.flush().unwrap();
    expect(&mut p, "king - ").unwrap();
    p.send_control('c').unwrap();
    expect(&mut p, PROMPT).expect("a new prompt after Ctrl-C");
    ask(&mut p, "sim(king, queen)", "0.5");
    quit(p);
}

#[test]
fn an_open_parenthesis_continues_on_the_next_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    p.send_line("sim(king,").unwrap();
    // Sent once the continuation prompt is drawn (typed-ahead keys would be read as the
    // terminal's answer to rustyline's cursor query).
    expect(&mut p, "... ").unwrap();
    p.send_line("queen)").unwrap();
    expect(&mut p, "0.5").unwrap();
    expect(&mut p, PROMPT).unwrap();
    quit(p);
}

#[test]
fn history_is_kept_across_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    ask(&mut p, "sim(king, prince)", "0.9");
    ask(&mut p, "sim(king, queen)", "0.5");
    ask(&mut p, "sim(king, queen)", "0.5");
    quit(p);

    // Written by the first session, deduplicated.
    let saved = std::fs::read_to_string(history(tmp.path())).unwrap();
    let lines: Vec<&str> = saved.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines, ["sim(king, prince)", "sim(king, queen)"], "{saved}");

    // Up arrow in a new session recalls the last line of the previous one.
    let mut p = start(tmp.path());
    p.send("\x1b[A").unwrap();
    p.flush().unwrap();
    expect(&mut p, "sim(king, queen)").expect("Up recalls the previous session's line");
    ask(&mut p, "", "0.5");
    quit(p);
}

#[test]
fn help_shows_examples_evaluated_on_this_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    p.send_line(":help").unwrap();
    // The fixture's own answer, not a canned text; and an example it can't answer says why.
    expect(&mut p, "queen 0.959").unwrap();
    expect(&mut p, "(unknown words 'paris', 'france' and 'italy')").unwrap();
    expect(&mut p, ":exact on|off").unwrap();
    expect(&mut p, PROMPT).unwrap();
    ask(&mut p, ":info", "lists    none");
    p.send_line(":q").unwrap();
    p.exp_eof().expect(":q ends the session");
    assert!(matches!(
        p.process.wait().unwrap(),
        WaitStatus::Exited(_, 0)
    ));
}

#[test]
fn exact_off_builds_the_lists_in_the_background() {
    exact_off_builds_in_the_background(&[], "lists", "lists ready: 6 lists over 8 rows");
}

#[test]
fn exact_off_with_forest_builds_the_forest_in_the_background() {
    // `--forest` alone asks for the forest's answers from the start; `--exact` keeps the start
    // exact and leaves the forest to `:exact off`.
    exact_off_builds_in_the_background(
        &["--exact", "--forest"],
        "forest",
        "forest ready: 30 trees",
    );
}

fn exact_off_builds_in_the_background(args: &[&str], what: &str, ready: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start_with(tmp.path(), args);
    p.send_line(":exact off").unwrap();
    expect(&mut p, &format!("building the approximate-search {what}")).unwrap();
    expect(&mut p, PROMPT).unwrap();
    // On 9 words the build takes milliseconds, but it runs on its own thread: ask until it is
    // done. The line after it ends starts with the announcement.
    let mut seen = String::new();
    for _ in 0..50 {
        p.send_line(":info").unwrap();
        seen.push_str(&expect(&mut p, PROMPT).unwrap());
        if seen.contains(ready) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(seen.contains(ready), "{seen}");
    ask(&mut p, ":info", &format!("{what:<8} ready: "));
    ask(
        &mut p,
        "king - man + woman",
        "king - man + woman (approximate, ",
    );
    quit(p);
}

/// `vecsh` on the built-in 50,000 words in a pseudo-terminal, waiting for the first prompt.
fn start_builtin(dir: &Path) -> PtySession {
    let mut cmd = Command::new(cargo_bin("vecsh"));
    cmd.arg("--quiet")
        .env("VECSH_CACHE", dir.join("cache"))
        .env("VECSH_HISTORY", history(dir))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawn vecsh");
    expect(&mut p, "50,000 words").expect("banner");
    expect(&mut p, PROMPT).expect("first prompt");
    p
}

#[test]
fn ctrl_c_stops_a_long_answer_and_returns_to_the_prompt() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start_builtin(tmp.path());
    ask(&mut p, ":k 50000", "k = 50000");
    // Twenty 50,000-row answers pasted as one input (bracketed paste): far more than can
    // scroll by before the Ctrl-C arrives, however slowly this test reads. A Ctrl-C that lands
    // while an answer is computed rather than printed is noted as a bare "(Ctrl-C)" (nothing
    // was shown yet): on a loaded machine that happens, so a few tries are allowed, and one
    // must stop an answer mid-print.
    let words = ["king"; 20].join("\n");
    let mut stopped_mid_print = false;
    for _ in 0..5 {
        p.send(&format!("\x1b[200~{words}\x1b[201~\r")).unwrap();
        p.flush().unwrap();
        expect(&mut p, " 200 ").unwrap();
        p.send_control('c').unwrap();
        let shown = expect(&mut p, "(Ctrl-C)").unwrap();
        let note = shown.rsplit('\n').next().unwrap_or_default();
        // The rest of the pasted input is dropped too: back at the prompt before 20 answers.
        let rest = expect(&mut p, PROMPT).unwrap();
        let completed = shown.matches("49999 ").count() + rest.matches("49999 ").count();
        assert!(
            completed < 19,
            "{completed} answers printed in full after Ctrl-C"
        );
        if !note.contains(" rows shown ") {
            continue;
        }
        // The note says how many rows were shown: fewer than all of them.
        let numbers: Vec<usize> = note.split(' ').filter_map(|w| w.parse().ok()).collect();
        // The terminal drops queued output at Ctrl-C, so a cut row may precede the note.
        assert!(
            matches!(numbers[..], [.., shown, all] if shown < all),
            "the rows went on after Ctrl-C: {note}"
        );
        stopped_mid_print = true;
        break;
    }
    assert!(
        stopped_mid_print,
        "no Ctrl-C in five tries stopped an answer while it printed"
    );
    // The session goes on, and the Ctrl-C is not replayed at the prompt.
    ask(&mut p, ":k 1", "k = 1");
    ask(&mut p, "king", " 1 prince");
    quit(p);
}

/// `:eval analogy` on the built-in 50,000 words takes tens of seconds in a debug build; Ctrl-C
/// stops the scan (the cancel flag is checked per block of rows) and the prompt comes back at
/// once, with a note and no figures, and the session goes on.
#[test]
fn ctrl_c_stops_a_long_evaluation_and_returns_to_the_prompt() {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(10);
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start_builtin(tmp.path());
    p.send_line(":eval analogy").unwrap();
    // Past reading the questions, inside the scan.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pressed = std::time::Instant::now();
    p.send_control('c').unwrap();
    let before = expect(&mut p, "(Ctrl-C) :eval analogy stopped after").unwrap();
    assert!(
        !before.contains("total"),
        "the evaluation finished first: {before}"
    );
    expect(&mut p, PROMPT).unwrap();
    let took = pressed.elapsed();
    assert!(took < BOUND, "back at the prompt {took:?} after Ctrl-C");
    ask(&mut p, ":k 1", "k = 1");
    ask(&mut p, "king", " 1 prince");
    quit(p);
}

/// "forest ready" is said when the build ends, above the waiting prompt, with no key typed
/// (rustyline's external printer); and keys typed at once afterwards (one write, as a paste
/// or a quick typist) are all read, not held back until the next key.
#[test]
fn forest_ready_is_announced_while_the_prompt_waits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    p.send_line(":exact off").unwrap();
    expect(&mut p, "building the approximate-search lists").unwrap();
    expect(&mut p, PROMPT).unwrap();
    // Nothing typed: the message must come by itself (the 9-word build takes milliseconds).
    expect(&mut p, "lists ready: ").expect("announced with no key typed");
    expect(&mut p, PROMPT).unwrap();
    p.send("king - man + woman\r").unwrap();
    p.flush().unwrap();
    expect(&mut p, "king - man + woman (approximate, ").unwrap();
    expect(&mut p, PROMPT).unwrap();
    quit(p);
}

/// The rows of item files (songs, photos) and of models (tokens) were counted as "words" in
/// the banner, `vecsh info`, `:info` and `vecsh build`.
#[test]
fn rows_are_counted_as_what_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let songs = crate::util::fixture("items", "songs.npy");
    let model = crate::util::fixture("models", "wordpiece");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = crate::util::vecsh(&tmp.path().join("cache"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let info = run(&["info".as_ref(), songs.as_os_str()]);
    assert!(info.contains("items     120"), "{info}");
    let info = run(&[songs.as_os_str(), "-e".as_ref(), ":info".as_ref()]);
    assert!(info.contains("items") && !info.contains("words"), "{info}");
    let built = run(&["build".as_ref(), songs.as_os_str()]);
    assert!(built.contains("120 items"), "{built}");
    let info = run(&["info".as_ref(), model.as_os_str()]);
    assert!(info.contains("tokens "), "{info}");
    let mut p = spawn_on(tmp.path(), &songs, &[]);
    expect(&mut p, "songs.npy, 120 items").expect("banner");
    expect(&mut p, PROMPT).expect("first prompt");
    quit(p);
}

/// Lines that reach the terminal in one read (typed ahead while a statement runs, or pasted)
/// are each answered, in order: none is dropped between one prompt and the next.
#[test]
fn lines_arriving_in_one_read_are_all_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(tmp.path());
    // One write: the editor reads both lines at once.
    p.send("sim(king, queen)\nsim(man, woman)\n").unwrap();
    p.flush().unwrap();
    expect(&mut p, "sim(king, queen)").expect("the first line is answered");
    expect(&mut p, "sim(man, woman)").expect("the second line is answered too");
    expect(&mut p, PROMPT).unwrap();
    quit(p);
}
