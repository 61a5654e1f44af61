//! Issue 23's session: `:help TOPIC`, text wrapped at word boundaries on a narrow terminal,
//! every unknown word of a line in one error, warnings and hints for what new users type,
//! the continuation prompt. In a real pseudo-terminal (see tests/repl.rs for why colour is off
//! and TERM is xterm), sized with `stty` before vecsh starts.

use std::path::Path;
use std::process::Command;

use rexpect::session::PtySession;

use crate::util::{expect, history, quit, tiny, vecsh, PROMPT, TIMEOUT_MS};

/// `vecsh ARGS` in a pseudo-terminal `cols` columns wide, with its cache and history in `dir`,
/// waiting for the first prompt; returns the session and the banner.
pub(crate) fn start_sized(dir: &Path, cols: u16, args: &[&str]) -> (PtySession, String) {
    let bin = assert_cmd::cargo::cargo_bin("vecsh");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("stty cols {cols} rows 50; exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .arg("--quiet")
        .current_dir(dir)
        .env("VECSH_CACHE", dir.join("cache"))
        .env("VECSH_HISTORY", history(dir))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn vecsh");
    let banner = expect(&mut p, PROMPT).expect("first prompt");
    (p, decode(&banner))
}

/// Sends `line` and returns everything printed up to the next prompt.
pub(crate) fn answer(p: &mut PtySession, line: &str) -> String {
    p.send_line(line).unwrap();
    // The echo of the line itself, then the answer.
    expect(p, "\n").unwrap();
    let out = expect(p, PROMPT).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    decode(&out)
}

/// What rexpect read (one `char` per byte) as the UTF-8 text it was.
fn decode(read: &str) -> String {
    String::from_utf8_lossy(&read.chars().map(|c| c as u8).collect::<Vec<u8>>()).into_owned()
}

/// The lines of `text` longer than `cols` columns, and those that end inside a word that the
/// next line goes on with (a terminal wrapping a long line cuts anywhere).
fn too_wide(text: &str, cols: usize) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| unicode_width(l) > cols)
        .map(str::to_string)
        .collect()
}

fn unicode_width(s: &str) -> usize {
    s.chars().count()
}

#[test]
fn help_topic_prints_that_entry_and_suggests_a_topic() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut p, _) = start_sized(tmp.path(), 100, &[tiny().to_str().unwrap()]);
    let k = answer(&mut p, ":help :k");
    assert!(
        k.contains(":k N") && k.contains("how many neighbours"),
        "{k}"
    );
    assert!(
        !k.contains("Examples"),
        "the whole help, not the entry:\n{k}"
    );
    let k2 = answer(&mut p, ":help k");
    assert!(k2.contains(":k N"), "{k2}");
    let plot = answer(&mut p, ":help plot");
    assert!(plot.contains("plot(a, b, ..., k=N)"), "{plot}");
    assert!(!plot.contains(":k N"), "{plot}");
    let arrows = answer(&mut p, ":help arrows");
    assert!(arrows.contains("arrows(a, b, c, d)"), "{arrows}");
    let typo = answer(&mut p, ":help plto");
    assert!(typo.contains("did you mean 'plot'?"), "{typo}");
    let nosuch = answer(&mut p, ":help nosuch");
    assert!(
        nosuch.contains("no help on 'nosuch'") && nosuch.contains("arrows"),
        "{nosuch}"
    );
    quit(p);
}

#[test]
fn help_and_the_banner_wrap_at_word_boundaries_at_60_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut p, banner) = start_sized(tmp.path(), 60, &[]);
    assert!(banner.contains("50,000"), "{banner}");
    let wide = too_wide(&banner, 60);
    assert!(wide.is_empty(), "banner lines over 60 columns: {wide:#?}");
    let help = answer(&mut p, ":help");
    let wide = too_wide(&help, 60);
    assert!(wide.is_empty(), "help lines over 60 columns: {wide:#?}");
    assert!(
        help.contains("3CosAdd") && help.contains("3CosMul"),
        "{help}"
    );
    quit(p);
}

#[test]
fn every_unknown_word_of_a_line_is_reported_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path())
        .args(["-e", "Paris - France + Italy"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("error:").count(),
        1,
        "one error for the line:\n{err}"
    );
    for (word, fix) in [("Paris", "paris"), ("France", "france"), ("Italy", "italy")] {
        assert!(err.contains(&format!("'{word}'")), "{word}:\n{err}");
        assert!(
            err.contains(&format!("{word}: did you mean '{fix}'?")),
            "{word}:\n{err}"
        );
    }
    // A caret under each.
    assert!(
        err.contains("\n  Paris - France + Italy\n  ^^^^^   ^^^^^^   ^^^^^\n"),
        "{err}"
    );
    // One unknown word: the error as before.
    let out = vecsh(tmp.path())
        .args(["-e", "king - womn"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: unknown word 'womn'\n  king - womn\n         ^^^^"),
        "{err}"
    );
}

#[test]
fn did_you_mean_weighs_frequency_with_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path()).args(["-e", "frnace"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let help = err.lines().find(|l| l.contains("help:")).unwrap_or("");
    assert!(help.contains("'france'"), "{err}");
    let (france, furnace) = (help.find("'france'"), help.find("'furnace'"));
    if let (Some(a), Some(b)) = (france, furnace) {
        assert!(a < b, "france should come first: {help}");
    }
}

#[test]
fn let_warns_when_it_hides_a_word_and_exit_hints_how_to_leave() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut p, _) = start_sized(tmp.path(), 100, &[tiny().to_str().unwrap()]);
    let shadow = answer(&mut p, "let king = queen");
    assert!(
        shadow.contains("warning:") && shadow.contains("hides the vocabulary word 'king'"),
        "{shadow}"
    );
    let fresh = answer(&mut p, "let royal = queen");
    assert!(!fresh.contains("warning"), "{fresh}");
    for word in ["exit", "quit"] {
        let out = answer(&mut p, word);
        assert!(
            out.contains(":quit") && out.contains("Ctrl-D"),
            "{word} should say how to leave:\n{out}"
        );
    }
    quit(p);
}

#[test]
fn an_open_parenthesis_shows_a_continuation_prompt() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut p, _) = start_sized(tmp.path(), 100, &[tiny().to_str().unwrap()]);
    p.send_line("sim(king,").unwrap();
    expect(&mut p, "... ").expect("a continuation prompt");
    p.send_line("queen)").unwrap();
    expect(&mut p, "0.5").unwrap();
    expect(&mut p, PROMPT).unwrap();
    quit(p);
}

/// `vecsh demos/capitals.vsh` in a terminal: everything it printed, to the end.
fn run_in_terminal(args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let cache = crate::util::shared_cache("session-builtin");
    let mut cmd = crate::util::pty_command(&cache, &history(tmp.path()));
    cmd.args(args)
        .arg("--quiet")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let mut p = crate::util::spawn_pty(cmd, 60_000);
    let out = p.exp_eof().expect("vecsh ends");
    drop(tmp);
    decode(&out).replace("\r\n", "\n")
}

#[test]
fn a_script_in_a_terminal_reads_as_a_transcript() {
    let out = run_in_terminal(&["demos/capitals.vsh"]);
    // Each statement's line above its answer, with the comment above it.
    let at = out
        .find("# The same in analogy notation:\n> france : paris :: japan : ?\n")
        .unwrap_or_else(|| panic!("no header:\n{out}"));
    assert!(out[at..].contains("tokyo"), "{out}");
    assert!(out.contains("> :k 3\nk = 3\n"), "{out}");
    assert!(out.contains("> germany : berlin :: spain : ?\n"), "{out}");
    // --no-echo: bare answers.
    let bare = run_in_terminal(&["demos/capitals.vsh", "--no-echo"]);
    assert!(
        !bare.contains("> ") && !bare.contains("# The same"),
        "{bare}"
    );
    // A single -e stays bare; several show their lines.
    let one = run_in_terminal(&["-e", "king"]);
    assert!(!one.contains("> king"), "{one}");
    let two = run_in_terminal(&["-e", "king", "-e", ":k 2"]);
    assert!(
        two.contains("> king\n") && two.contains("> :k 2\nk = 2"),
        "{two}"
    );
}

#[test]
fn echo_is_forced_or_refused_when_piped_and_json_carries_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let piped = vecsh(tmp.path())
        .current_dir(root)
        .arg("demos/capitals.vsh")
        .output()
        .unwrap();
    let piped = String::from_utf8_lossy(&piped.stdout).into_owned();
    assert!(
        !piped.is_empty() && !piped.contains("> ") && !piped.contains('#'),
        "{piped}"
    );
    let echoed = vecsh(tmp.path())
        .current_dir(root)
        .args(["demos/capitals.vsh", "--echo"])
        .output()
        .unwrap();
    let echoed = String::from_utf8_lossy(&echoed.stdout).into_owned();
    assert!(
        echoed.contains("# The same in analogy notation:\n> france : paris :: japan : ?\n"),
        "{echoed}"
    );
    // The answers are those of the bare run, in the same order.
    let answers: Vec<&str> = echoed
        .lines()
        .filter(|l| !l.starts_with("> ") && !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(answers, piped.lines().collect::<Vec<_>>());
    let json = vecsh(tmp.path())
        .args(["--json", "-e", "king", "-e", "sim(king, queen)"])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&json.stdout).into_owned();
    let inputs: Vec<String> = json
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["input"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(inputs, ["king", "sim(king, queen)"], "{json}");
}

/// Several maps in one run can be told apart: each starts with its input as a title.
#[test]
fn terminal_maps_have_a_title_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path())
        .args([
            "-e",
            "plot(king, queen, man)",
            "-e",
            "arrows(man, king, woman, queen)",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "plot(king, queen, man)", "{out}");
    assert!(lines[1].starts_with('╭'), "{out}");
    let second = lines
        .iter()
        .position(|l| *l == "arrows(man, king, woman, queen)")
        .unwrap_or_else(|| panic!("no title for the second map:\n{out}"));
    assert!(lines[second + 1].starts_with('╭'), "{out}");
}

/// `:svg FILE EXPR` reports every unknown word of its map at once too, and writes nothing.
#[test]
fn svg_command_reports_every_unknown_word() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(tmp.path())
        .current_dir(tmp.path())
        .args(["-e", ":svg m.svg plot(Paris, France, italy)"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown words 'Paris' and 'France'")
            && err.contains("Paris: did you mean 'paris'?")
            && err.contains("France: did you mean 'france'?"),
        "{err}"
    );
    assert!(!tmp.path().join("m.svg").exists());
}

#[test]
fn notes_wrap_at_word_boundaries_on_a_narrow_terminal_and_stay_one_line_when_piped() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut p, _) = start_sized(tmp.path(), 60, &[]);
    let note = answer(&mut p, ":exact auto");
    assert!(note.contains("no auto mode"), "{note}");
    let wide = too_wide(&note, 60);
    assert!(wide.is_empty(), "note lines over 60 columns: {wide:#?}");
    // The continuation lines are indented under the note's text.
    assert!(note.contains("\n      "), "{note}");
    // So are `:info`'s rows, warnings and errors' hints.
    for line in [
        ":info",
        "let king = queen",
        ":k 1e3",
        "frnace + itly + germny - berlinn",
    ] {
        let shown = answer(&mut p, line);
        // A path longer than a line cannot be broken at a blank: it stands alone.
        let wide: Vec<String> = too_wide(&shown, 60)
            .into_iter()
            .filter(|l| !l.split_whitespace().any(|w| w.chars().count() > 40))
            .collect();
        assert!(wide.is_empty(), "{line}: lines over 60 columns: {wide:#?}");
    }
    quit(p);
    // Piped, a note stays one line: scripts compare such lines.
    let out = vecsh(tmp.path())
        .args(["-e", ":exact auto"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("note:")).unwrap_or("");
    assert!(
        line.contains("no auto mode") && line.contains(":exact off"),
        "{text}"
    );
}
