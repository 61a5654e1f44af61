//! A map in the interactive session, in a real pseudo-terminal (see tests/repl.rs for why
//! colour is off and TERM is xterm): `plot(...)` draws, `:svg FILE EXPR` writes the picture.

use rexpect::session::PtySession;

use crate::util::{pty_command, spawn_pty, tiny, PROMPT, TIMEOUT_MS};

fn expect(p: &mut PtySession, text: &str) {
    crate::util::expect(p, text).unwrap_or_else(|e| panic!("expected {text:?}: {e}"));
}

#[test]
fn a_plot_in_the_session_draws_and_writes_svg() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = pty_command(&tmp.path().join("cache"), &tmp.path().join("history"));
    cmd.arg(tiny()).arg("--quiet").current_dir(tmp.path());
    let mut p = spawn_pty(cmd, TIMEOUT_MS);
    expect(&mut p, "9 words");
    expect(&mut p, PROMPT);
    p.send_line("plot(king, queen, man, woman)").unwrap();
    expect(&mut p, "╭");
    expect(&mut p, "╰");
    expect(&mut p, "x: ");
    expect(&mut p, "of the variance");
    expect(&mut p, PROMPT);
    p.send_line(":svg pic.svg arrows(man, king, woman, queen)")
        .unwrap();
    expect(&mut p, "wrote pic.svg");
    expect(&mut p, PROMPT);
    let svg = std::fs::read_to_string(tmp.path().join("pic.svg")).unwrap();
    roxmltree::Document::parse(&svg).expect("the picture is well-formed XML");
    // A mistake in the map is reported with its place, and the session goes on.
    p.send_line(":svg pic2.svg plot(kingg)").unwrap();
    expect(&mut p, "unknown word 'kingg'");
    expect(&mut p, PROMPT);
    p.send_control('d').unwrap();
    p.exp_eof().expect("vecsh ends on Ctrl-D");
}
