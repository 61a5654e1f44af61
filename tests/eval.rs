//! The evaluator on a tiny fixture whose answers were computed independently (numpy, the
//! gensim formulas): tests/fixtures/tiny.txt.

use vecsh::eval::{EvalError, Method, Neighbour, Session, Settings, Value};
use vecsh::index::Store;
use vecsh::progress::Silent;

use crate::util::{opts, tiny};

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&tiny(), &opts(tmp.path()), &Silent).unwrap();
    (tmp, store)
}

fn neighbours(v: Value) -> Vec<(String, f32)> {
    match v {
        Value::Neighbours { neighbours, .. } => neighbours
            .into_iter()
            .map(|Neighbour { word, score, .. }| (word, score))
            .collect(),
        other => panic!("expected neighbours, got {other:?}"),
    }
}

fn assert_ranked(got: Vec<(String, f32)>, want: &[(&str, f32)]) {
    let words: Vec<&str> = got.iter().map(|(w, _)| w.as_str()).collect();
    let want_words: Vec<&str> = want.iter().map(|(w, _)| *w).collect();
    assert_eq!(words, want_words);
    for ((w, g), (_, e)) in got.iter().zip(want) {
        assert!((g - e).abs() < 1e-4, "{w}: {g} vs {e}");
    }
}

fn err(session: &mut Session, line: &str) -> EvalError {
    session.run_line(line).expect_err(line)
}

const KING_MAN_WOMAN: [(&str, f32); 5] = [
    ("queen", 0.9586),
    ("1999", 0.6624),
    ("e-mail", 0.6484),
    ("prince", 0.3199),
    ("apple", -0.5615),
];

#[test]
fn arithmetic_and_analogy_match_gensim_formulas() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    assert_ranked(
        neighbours(s.run_line("king - man + woman").unwrap()),
        &KING_MAN_WOMAN,
    );
    assert_ranked(
        neighbours(s.run_line("man : king :: woman : ?").unwrap()),
        &KING_MAN_WOMAN,
    );
    // Scaling the whole expression changes nothing after normalisation.
    assert_ranked(
        neighbours(s.run_line("2 * (king - man + woman) / 4").unwrap()),
        &KING_MAN_WOMAN,
    );
    assert_ranked(
        neighbours(s.run_line("king").unwrap()),
        &[
            ("prince", 0.9959),
            ("e-mail", 0.8165),
            ("man", std::f32::consts::FRAC_1_SQRT_2),
            ("1999", 0.5669),
            ("queen", 0.5),
            ("woman", 0.0),
            ("apple", -std::f32::consts::FRAC_1_SQRT_2),
        ],
    );
}

#[test]
fn zero_vectors_are_never_neighbours() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    let all = neighbours(s.run_line("apple").unwrap());
    assert!(all
        .iter()
        .all(|(w, score)| w != "zero" && score.is_finite()));
    assert_eq!(
        neighbours(s.run_line("zero").unwrap()),
        vec![],
        "a zero query has no neighbours"
    );
}

#[test]
fn named_results_substitute() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    assert_eq!(
        s.run_line("let royal = king - man").unwrap(),
        Value::Bound {
            name: "royal".into(),
            query: "king - man".into(),
            warning: None,
        }
    );
    s.run_line("female = woman").unwrap();
    assert_ranked(
        neighbours(s.run_line("royal + female").unwrap()),
        &KING_MAN_WOMAN,
    );
    match s.run_line(":vars").unwrap() {
        Value::Vars { vars } => assert_eq!(vars.len(), 2),
        other => panic!("{other:?}"),
    }
    // A quoted word is always the vocabulary word, never a name.
    s.run_line("let king = apple").unwrap();
    let plain = neighbours(s.run_line("\"king\"").unwrap());
    assert_eq!(plain[0].0, "prince");
}

#[test]
fn scalars_sim_odd_mean_cosmul() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    match s.run_line("sim(king, queen)").unwrap() {
        Value::Scalar { value, .. } => assert!((value - 0.5).abs() < 1e-6),
        other => panic!("{other:?}"),
    }
    match s.run_line("2 * sim(king, queen) + 1").unwrap() {
        Value::Scalar { value, .. } => assert!((value - 2.0).abs() < 1e-6),
        other => panic!("{other:?}"),
    }
    match s.run_line("odd(man, woman, king, queen, apple)").unwrap() {
        Value::Odd { word, scores, .. } => {
            assert_eq!(word.as_deref(), Some("apple"));
            assert_eq!(scores[0].word, "apple");
        }
        other => panic!("{other:?}"),
    }
    assert_ranked(
        neighbours(s.run_line("mean(king, woman - man)").unwrap()),
        &KING_MAN_WOMAN,
    );
    let mul = [
        ("queen", 1.2803),
        ("1999", 0.9199),
        ("e-mail", 0.9082),
        ("prince", 0.643),
        ("apple", 0.1464),
    ];
    assert_ranked(
        neighbours(s.run_line("cosmul(king - man + woman)").unwrap()),
        &mul,
    );
    s.run_line(":method mul").unwrap();
    assert_eq!(s.settings.method, Method::Mul);
    assert_ranked(neighbours(s.run_line("king - man + woman").unwrap()), &mul);
}

#[test]
fn settings_commands() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    s.run_line(":k 2").unwrap();
    assert_eq!(neighbours(s.run_line("king").unwrap()).len(), 2);
    s.run_line(":include on").unwrap();
    assert_eq!(neighbours(s.run_line("king").unwrap())[0].0, "king");
    assert!(err(&mut s, ":k zero")
        .message
        .contains("expected a whole number"));
    assert!(err(&mut s, ":exact maybe")
        .message
        .contains("expected on or off"));
    let unknown = err(&mut s, ":incude on");
    assert_eq!(unknown.help.as_deref(), Some("did you mean ':include'?"));
    match s.run_line(":ast king - man + woman").unwrap() {
        Value::Ast { text } => assert_eq!(text, "((king - man) + woman)"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn words_as_glove_has_them() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    // e-mail = (1,1,1)/√3 is nearest to 1999 = (.2,.3,.1): cos 0.9258.
    assert_eq!(neighbours(s.run_line("e-mail").unwrap())[0].0, "1999");
    assert!(
        !neighbours(s.run_line("1999 - man").unwrap()).is_empty(),
        "a bare number beside '-' is the word"
    );
    assert!(
        !neighbours(s.run_line("1999").unwrap()).is_empty(),
        "a lone number is the word"
    );
}

#[test]
fn errors_carry_spans_and_suggestions() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    let e = err(&mut s, "king - man + womn");
    assert_eq!(e.message, "unknown word 'womn'");
    assert_eq!((e.span.unwrap().start, e.span.unwrap().end), (13, 17));
    assert_eq!(e.help.as_deref(), Some("did you mean 'woman'?"));

    assert_eq!(
        err(&mut s, "King").help.as_deref(),
        Some("did you mean 'king'?")
    );
    let hyphen = err(&mut s, "king-man");
    assert_eq!(
        hyphen.help.as_deref(),
        Some("did you mean 'king - man'? (put spaces around '-' to subtract)")
    );

    let div = err(&mut s, "king / 0");
    assert_eq!(
        (div.message.as_str(), div.span.unwrap().start),
        ("division by zero", 7)
    );
    assert!(err(&mut s, "king * queen")
        .help
        .unwrap()
        .contains("sim(king, queen)"));
    assert!(err(&mut s, "king / queen")
        .message
        .contains("divide by a vector"));
    assert!(err(&mut s, "sim(king)").message.contains("two expressions"));
    assert_eq!(
        err(&mut s, "smi(king, queen)").help.as_deref(),
        Some("did you mean 'sim'?")
    );
    assert!(err(&mut s, "let x = 3")
        .message
        .contains("only vector results"));
    assert!(err(&mut s, "king + 0.5")
        .message
        .contains("cannot add the number"));
    assert_eq!(s.run_line("   ").unwrap(), Value::Nothing);
    assert_eq!(s.run_line("# a comment").unwrap(), Value::Nothing);
}

#[test]
fn an_unknown_command_is_never_its_own_suggestion() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    for name in [":help", ":info", ":quit"] {
        let help = err(&mut s, name).help.unwrap_or_default();
        assert!(!help.contains(&format!("'{name}'")), "{name}: {help}");
    }
}

#[test]
fn nothing_is_suggested_when_nothing_is_close() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    for word in ["😀", "x", "日本"] {
        let e = err(&mut s, word);
        assert!(e.message.contains("unknown word"), "{word}: {}", e.message);
        assert_eq!(e.help, None, "{word}");
    }
}

/// Issue 23: `odd(cat, dog)` answered `cat` though both score the same: with two terms, or when
/// the lowest scores are within 1e-6, there is no odd one out.
#[test]
fn no_odd_one_out_for_two_terms_or_a_tie() {
    let (_tmp, store) = store();
    let mut s = Session::new(&store, Settings::default());
    for line in [
        "odd(king, queen)",
        "odd(king, king, queen, queen)",
        "odd(king, king, king)",
    ] {
        match s.run_line(line).unwrap() {
            Value::Odd { word, scores, .. } => {
                assert_eq!(word, None, "{line}: {scores:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    let r = vecsh::render::Renderer::default();
    let shown = r.value(&s.run_line("odd(king, queen)").unwrap());
    assert!(shown.starts_with("no odd one out"), "{shown}");
    let json = serde_json::to_value(s.run_line("odd(king, queen)").unwrap()).unwrap();
    assert_eq!(json["word"], serde_json::Value::Null, "{json}");
    match s.run_line("odd(man, woman, king, queen, apple)").unwrap() {
        Value::Odd { word, .. } => assert_eq!(word.as_deref(), Some("apple")),
        other => panic!("{other:?}"),
    }
}

/// `let xN = x(N-1) + x(N-1)` doubled what a binding held each line (4 GB after 30 lines): a
/// word's terms are merged (weights summed, repeats counted), so memory stays flat, and a
/// statement that combines more word terms than the limit is an error at its span.
#[test]
fn doubling_let_chains_stay_small_and_stop_with_a_clear_error() {
    let (_t, store) = store();
    let mut s = Session::new(&store, Settings::default());
    s.run_line("let x0 = king").unwrap();
    let started = std::time::Instant::now();
    let mut stopped = None;
    for n in 1..=24 {
        let line = format!("let x{n} = x{} + x{}", n - 1, n - 1);
        if let Err(e) = s.run_line(&line) {
            stopped = Some((n, e));
            break;
        }
    }
    let (n, e) = stopped.expect("the chain stops with an error");
    assert!(
        e.message.contains("word terms") && e.message.contains("at most"),
        "line {n}: {e:?}"
    );
    assert!(n <= 20, "stopped at line {n}");
    assert!(started.elapsed().as_secs() < 5);
    // The bindings before it hold king alone, 2^(n-1) times over: its neighbours.
    let last = format!("x{}", n - 1);
    assert_eq!(
        neighbours(s.run_line(&last).unwrap()),
        neighbours(s.run_line("king").unwrap())
    );
    // 3CosMul of it has a factor per repeat (thousands: the scores underflow, no crash).
    assert!(s.run_line(&format!("cosmul({last})")).is_ok());
    // Repeats count as gensim counts them: cosmul(a + a - b) has a's factor twice.
    assert_ne!(
        neighbours(s.run_line("cosmul(king + king - man)").unwrap()),
        neighbours(s.run_line("cosmul(king - man)").unwrap())
    );
}

/// A bare number is the vocabulary word except beside `*` and `/`: `-1999` and `-(1999)` are
/// the negated word (they were the number -1999), `-1999 + king` adds the words, while
/// `2 * -3` stays arithmetic.
#[test]
fn a_negated_bare_number_is_the_negated_word() {
    let (_tmp, store) = store();
    let mut s = Session::new(&store, Settings::default());
    let want = neighbours(s.run_line("-\"1999\"").unwrap());
    assert!(!want.is_empty());
    assert_eq!(neighbours(s.run_line("-1999").unwrap()), want);
    assert_eq!(neighbours(s.run_line("-(1999)").unwrap()), want);
    assert_eq!(
        neighbours(s.run_line("-1999 + king").unwrap()),
        neighbours(s.run_line("-\"1999\" + king").unwrap())
    );
    assert_eq!(
        neighbours(s.run_line("sim(-1999, king) * king").unwrap()),
        neighbours(s.run_line("sim(-\"1999\", king) * king").unwrap())
    );
    match s.run_line("2 * -3").unwrap() {
        Value::Scalar { value, .. } => assert_eq!(value, -6.0),
        other => panic!("{other:?}"),
    }
    // A number that names no word stays a number.
    match s.run_line("-17").unwrap() {
        Value::Scalar { value, .. } => assert_eq!(value, -17.0),
        other => panic!("{other:?}"),
    }
}
