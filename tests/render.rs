//! What results look like: snapshots of tables, numbers, odd(), vars and errors (colour off),
//! from values built by hand and from a session on the fixture; narrow terminals; colour on;
//! and the input highlighter, which may add colour but never change what is shown.

use std::path::Path;

use unicode_width::UnicodeWidthStr;
use vecsh::eval::{EvalError, Method, Neighbour, SearchUsed, Session, Settings, Value, Var};
use vecsh::index::Store;
use vecsh::progress::Silent;
use vecsh::render::Renderer;
use vecsh::repl::line::highlight;

use crate::util::{opts, tiny};

fn plain(width: usize) -> Renderer {
    Renderer {
        color: false,
        width,
        terminal: false,
    }
}

fn n(word: &str, score: f32) -> Neighbour {
    Neighbour {
        word: word.to_string(),
        score,
        label: None,
    }
}

fn neighbours(rows: Vec<Neighbour>) -> Value {
    Value::Neighbours {
        query: "q".into(),
        method: Method::Add,
        search: SearchUsed::Exact,
        approximate: false,
        searched: None,
        neighbours: rows,
        note: None,
        subwords: vec![],
    }
}

/// The fixture's index, built in a fresh cache.
fn tiny_store(cache: &Path) -> Store {
    Store::open(&tiny(), &opts(cache), &Silent)
        .expect("fixture index")
        .0
}

/// Each line of `lines` with what a session on the fixture shows for it, as in a transcript.
fn transcript(store: &Store, renderer: &Renderer, lines: &[&str]) -> String {
    let mut session = Session::new(store, Settings::default());
    let mut out = String::new();
    for line in lines {
        out.push_str(&format!("> {line}\n"));
        match session.run_line(line) {
            Ok(Value::Nothing) => {}
            Ok(value) => out.push_str(&format!("{}\n", renderer.value(&value))),
            Err(e) => out.push_str(&format!("{}\n", renderer.error(line, &e, None))),
        }
    }
    out
}

/// `text` without its ANSI colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn sample_table() -> Value {
    neighbours(vec![
        n("queen", 0.8524),
        n("throne", 0.7664),
        n("daughter-in-law", 0.7011),
        n("royal", 0.5),
        n("antidisestablishmentarianism", 0.31),
        n("pauper", -0.12),
    ])
}

#[test]
fn table() {
    snapshot!("table", plain(80).value(&sample_table()));
}

#[test]
fn table_with_notes() {
    let value = Value::Neighbours {
        query: "king".into(),
        method: Method::Add,
        search: SearchUsed::Approx,
        approximate: true,
        searched: Some("16 of 141 lists".into()),
        neighbours: vec![n("queen", 0.75), n("prince", 0.7)],
        note: Some("the forest is still being built (40%); this answer is exact".into()),
        subwords: vec![],
    };
    snapshot!("table_with_notes", plain(80).value(&value));
    snapshot!("empty_table", plain(80).value(&neighbours(vec![])));
}

#[test]
fn scalars() {
    let scalar = |value| Value::Scalar {
        query: "sim(a, b)".into(),
        value,
        subwords: vec![],
    };
    let shown: Vec<String> = [0.78390002, 1.0, -0.5, 0.0, 1e-7]
        .into_iter()
        .map(|v| plain(80).value(&scalar(v)))
        .collect();
    snapshot!("scalars", shown.join("\n"));
}

#[test]
fn odd_vars_settings_and_ast() {
    let r = plain(80);
    let odd = Value::Odd {
        query: "odd(breakfast, lunch, dinner, car)".into(),
        word: Some("car".into()),
        scores: vec![
            n("car", 0.41),
            n("breakfast", 0.83),
            n("lunch", 0.88),
            n("dinner", 0.9),
        ],
        subwords: vec![],
    };
    let vars = Value::Vars {
        vars: vec![
            Var {
                name: "royal".into(),
                query: "king - man".into(),
                space: None,
            },
            Var {
                name: "x".into(),
                query: "mean(cat, dog)".into(),
                space: None,
            },
        ],
    };
    let shown = [
        r.value(&odd),
        r.value(&vars),
        r.value(&Value::Vars { vars: vec![] }),
        r.value(&Value::Bound {
            name: "royal".into(),
            query: "king - man".into(),
            warning: None,
        }),
        r.value(&Value::Setting {
            name: "k".into(),
            value: "5".into(),
            note: None,
        }),
        r.value(&Value::Ast {
            text: "((king - man) + woman)".into(),
        }),
    ];
    snapshot!("odd_vars_settings_and_ast", shown.join("\n---\n"));
}

#[test]
fn errors() {
    let r = plain(80);
    let err = |start, end, message: &str, help: Option<&str>| EvalError {
        message: message.into(),
        span: Some(vecsh::ast::Span::new(start, end)),
        help: help.map(str::to_string),
        also: Vec::new(),
    };
    let shown = [
        r.error(
            "king - man + womn",
            &err(13, 17, "unknown word 'womn'", Some("did you mean 'woman'?")),
            None,
        ),
        r.error(
            "king +",
            &err(6, 6, "expected a word, number or '(' after '+'", None),
            Some("demo.vsh:3"),
        ),
        // A continued input: the caret goes under the right line.
        r.error(
            "sim(king,\n  qeen)",
            &err(12, 16, "unknown word 'qeen'", Some("did you mean 'queen'?")),
            None,
        ),
        // Wide characters take two columns: the caret still lines up.
        r.error("日本 + xyz", &err(9, 12, "unknown word 'xyz'", None), None),
        r.error(
            ":k",
            &EvalError {
                message: "no span".into(),
                span: None,
                help: None,
                also: Vec::new(),
            },
            None,
        ),
    ];
    snapshot!("errors", shown.join("\n---\n"));
}

#[test]
fn session_on_the_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let lines = [
        "king - man + woman",
        "man : king :: woman : ?",
        "sim(king, queen)",
        "odd(king, queen, prince, apple)",
        "let royal = king - man",
        ":vars",
        ":k 3",
        "royal + woman",
        "king - man + womn",
        "king-man",
        "king * queen",
        "sim(king,",
        ":exact maybe",
    ];
    snapshot!(
        "session_on_the_fixture",
        transcript(&store, &plain(80), &lines)
    );
}

#[test]
fn narrow_terminals_shrink_the_bar_then_cut_words() {
    let table = sample_table();
    let mut shown = Vec::new();
    for width in [40, 30, 24, 12] {
        let text = plain(width).value(&table);
        for line in text.lines() {
            // Below the narrowest useful table (rank, 6 letters, score) lines may overflow.
            if width >= 24 {
                assert!(line.width() <= width, "{line:?} is wider than {width}");
            }
        }
        shown.push(format!("width {width}:\n{text}"));
    }
    snapshot!(
        "narrow_terminals_shrink_the_bar_then_cut_words",
        shown.join("\n")
    );
}

#[test]
fn colour_adds_codes_and_nothing_else() {
    let colour = Renderer {
        color: true,
        width: 80,
        terminal: false,
    };
    let table = sample_table();
    let painted = colour.value(&table);
    assert!(painted.contains("\x1b["), "no colour codes in {painted:?}");
    assert_eq!(strip_ansi(&painted), plain(80).value(&table));

    let err = EvalError {
        message: "unknown word 'womn'".into(),
        span: Some(vecsh::ast::Span::new(13, 17)),
        help: Some("did you mean 'woman'?".into()),
        also: Vec::new(),
    };
    let painted = colour.error("king - man + womn", &err, None);
    assert!(painted.contains("\x1b[31;1m^^^^"), "{painted:?}");
    assert_eq!(
        strip_ansi(&painted),
        plain(80).error("king - man + womn", &err, None)
    );
}

#[test]
fn highlighting_keeps_the_line_as_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let vars = vec!["royal".to_string()];
    let lines = [
        "king - man + woman",
        "king - man + womn",
        "royal + woman # a comment",
        "let x = 0.5 * king",
        "sim(king, \"queen\")",
        "sim(king, \"que",
        "man : king :: woman : ?",
        "e-mail - 1999 / 2e3",
        ":k 5",
        ":exact maybe # why",
        ":ast king- man",
        ":nope",
        "日本 + café",
        "sim(king,\nqueen)",
        "foo(king)",
        "",
    ];
    for line in lines {
        for cursor in [None, Some(line.len())] {
            let painted = highlight(line, cursor, &store, &vars);
            assert_eq!(strip_ansi(&painted), line, "highlighting changed {line:?}");
            for (a, b) in painted.split('\n').zip(line.split('\n')) {
                assert_eq!(strip_ansi(a).width(), b.width(), "width of {line:?}");
            }
        }
    }
    // Unknown words are red; a word being typed is spared while it starts a known one.
    let red = "\x1b[31m";
    assert!(highlight("king + womn", None, &store, &vars).contains(&format!("{red}womn")));
    assert!(!highlight("king + wom", Some(10), &store, &vars).contains(red));
    assert!(highlight("king + wom", None, &store, &vars).contains(&format!("{red}wom")));
    assert!(!highlight("king + woman", None, &store, &vars).contains(red));
    // Named results and functions have their own colours.
    assert!(highlight("royal + woman", None, &store, &vars).contains("\x1b[36mroyal"));
    assert!(highlight("sim(king, queen)", None, &store, &vars).contains("\x1b[34msim"));
    assert!(highlight("foo(king)", None, &store, &vars).contains(&format!("{red}foo")));
}

#[test]
fn file_text_is_escaped_in_tables_examples_and_errors() {
    let r = plain(80);
    let evil = "red\u{1b}[31m\u{202e}";
    let value = neighbours(vec![n(evil, 0.5), n("fine", 0.4)]);
    for text in [r.value(&value), r.inline(&value, 60)] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains(r"red\e[31m"), "{text:?}");
    }
    let err = EvalError {
        message: format!("unknown word '{evil}'"),
        span: Some(vecsh::ast::Span { start: 0, end: 3 }),
        help: Some(format!("did you mean '{evil}'?")),
        also: Vec::new(),
    };
    let text = r.error(&format!("{evil} + king"), &err, Some("a.vsh:1"));
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
}

/// A long word (a phrase, a URL, a Qwen token) was cut at 24 columns on any terminal: it is
/// cut only when the terminal is too narrow for it.
#[test]
fn long_words_are_cut_only_when_the_terminal_is_too_narrow() {
    let long = "https://en.wikipedia.org/wiki/Embedding_(machine_learning)";
    let table = neighbours(vec![n(long, 0.91), n("queen", 0.85)]);
    let wide = plain(120).value(&table);
    assert!(wide.contains(long), "cut on a wide terminal:\n{wide}");
    let narrow = plain(40).value(&table);
    assert!(!narrow.contains(long), "{narrow}");
    assert!(narrow.contains('…'), "{narrow}");
    for line in narrow.lines() {
        assert!(line.width() <= 40, "{line:?}");
    }
}
