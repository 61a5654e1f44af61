//! `vecsh eval` protocols on a fixture whose every answer is worked out by hand below.
//!
//! tests/fixtures/protocols/vectors.txt: 15 words in 9 dimensions e1..e9, in this id order
//! (already unit length except `worse`, which the store normalises to (e5 + e6)/√2):
//!
//! ```text
//!  0 france  e1                 5 better  e5                10 germany e8
//!  1 italy   e2                 6 bad     e6                11 tokyo   0.6 e7 + 0.8 e9
//!  2 paris   0.6 e1 + 0.8 e3    7 worse   (e5 + e6)/√2      12 berlin  0.6 e8 + 0.8 e9
//!  3 rome    0.6 e2 + 0.8 e3    8 well    −0.6 e4 + 0.8 e5  13 Paris   0.8 e2 + 0.6 e3
//!  4 good    e4                 9 japan   e7                14 bonn    0.8 e8 + 0.6 e9
//! ```
//!
//! `Paris` (13) and `paris` (2) fold to the same PARIS: both protocols map PARIS to id 2, the
//! first occurrence. Words of different groups (e1–e3, e4–e6, e7–e9) are orthogonal, so they
//! score exactly 0 under 3CosAdd and ½·½/(½ + 1e-6) ≈ 0.5 under 3CosMul.
//!
//! The candidate score is add = cos(x,b) − cos(x,a) + cos(x,c) (ranks as cos(x, b̂ − â + ĉ)), and
//! mul = P(b)·P(c) / (P(a) + 1e-6) with P(w) = (1 + cos(x,w)) / 2.
//!
//! questions.txt (line: question → the hand computation):
//!
//! ```text
//!  1 : capital-common-countries
//!  2 France Paris Italy Rome    a=france b=paris c=italy. Not excluded: rome, Paris.
//!       Paris: add 0.48 − 0 + 0.8 = 1.28;  mul 0.74·0.9/0.5 = 1.332
//!       rome:  add 0.64 − 0 + 0.6 = 1.24;  mul 0.82·0.8/0.5 = 1.312
//!       gensim skips Paris (PARIS is a question word) → rome: correct.
//!       word2vec excludes only ids 0, 1, 2 → Paris: wrong.
//!  3 Japan Tokyo Germany Berlin a=japan b=tokyo c=germany: the same geometry in e7–e9, with
//!       bonn in Paris's place (1.28 / 1.332) and berlin in rome's (1.24 / 1.312). bonn is no
//!       question word, so both protocols answer bonn: wrong — unless --restrict 14 cuts bonn
//!       (id 14): then berlin, correct.
//!  4 : capital-old
//!  5 Germany Bonn Japan Tokyo   a=germany b=bonn c=japan.
//!       tokyo:  add 0.48 − 0 + 0.6 = 1.08;  mul 0.74·0.8/0.5 = 1.184
//!       berlin: add 0.96 − 0.6 + 0 = 0.36;  mul 0.98·0.5/0.8 = 0.6125   → tokyo: correct.
//!       With --restrict 14, bonn is unknown: skipped.
//!  6 : capital-world
//!  7 Italy Rome Spain Madrid    spain, madrid unknown: skipped.
//!  8 ROME Italy paris FRANCE    a=rome b=italy c=paris (any case folds to the same ids).
//!       france: add 0 − 0 + 0.6 = 0.6;         mul 0.5·0.8/0.5 = 0.8
//!       Paris:  add 0.8 − 0.96 + 0.48 = 0.32;  mul 0.9·0.74/0.98 = 0.6796 → france: correct.
//!  9 : currency
//! 10 japan yen germany mark     yen, mark unknown: skipped.
//! 11 : family
//! 12 king queen man woman       all unknown: skipped.
//! 13 : gram3-comparative        (the sixth section: syntactic)
//! 14 good better bad worse      a=good b=better c=bad.
//!       worse: add 0.7071 − 0 + 0.7071 = 1.4142;  mul 0.8536·0.8536/0.5 = 1.4571
//!       well:  add 0.8 + 0.6 + 0 = 1.4;           mul 0.9·0.5/0.2 = 2.25
//!       3CosAdd → worse: correct; 3CosMul → well: wrong.
//! 15 better good worse bad      a=better b=good c=worse.
//!       bad:  add 0 − 0 + 0.7071 = 0.7071;   mul 0.5·0.8536/0.5 = 0.8536
//!       well: add −0.6 − 0.8 + 0.5657 < 0;   mul 0.2·0.7828/0.9 = 0.174; others 0 / 0.5
//!       → bad: correct.
//! ```
//!
//! Totals (section correct/seen; questions seen of 9):
//! - gensim add:   1/2, 1/1, 1/1, 0/0, 0/0, 2/2 → total 5/6 (no semantic split: capital-old)
//! - gensim mul:   1/2, 1/1, 1/1, 0/0, 0/0, 1/2 → total 4/6
//! - word2vec add: 0/2, 1/1, 1/1, 0/0, 0/0, 2/2 → total 4/6
//! - word2vec mul: 0/2, 1/1, 1/1, 0/0, 0/0, 1/2 → total 3/6
//! - restrict 14 (no bonn): gensim add 2/2, 0/0, 1/1, …, 2/2 → 5/5; word2vec add 1/2 … → 4/5
//! - restrict 13 (no Paris either): word2vec add answers rome on line 2 → 5/5

use std::path::{Path, PathBuf};

use vecsh::index::Store;
use vecsh::progress::Silent;
use vecsh::protocols::{
    average_ranks, evaluate_analogies, evaluate_similarity, parse_pairs, parse_questions, pearson,
    read_questions, run_eval, spearman, AnalogyOptions, AnalogyReport, EvalCommand, Method,
    Protocol, Report, SimilarityOptions,
};

use crate::util::opts;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/protocols")
        .join(name)
}

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&fixture("vectors.txt"), &opts(tmp.path()), &Silent).unwrap();
    (tmp, store)
}

fn analogies(
    store: &Store,
    protocol: Protocol,
    method: Method,
    restrict: Option<usize>,
) -> AnalogyReport {
    let path = fixture("questions.txt");
    let sections = read_questions(&path).unwrap();
    let opts = AnalogyOptions {
        protocol,
        method,
        restrict,
        details: true,
    };
    evaluate_analogies(store, &sections, &path, &opts, &Silent).unwrap()
}

/// (correct, seen) per section.
fn counts(r: &AnalogyReport) -> Vec<(usize, usize)> {
    r.sections.iter().map(|s| (s.correct, s.seen)).collect()
}

/// The protocol's answer to the question on `line`.
fn answer(r: &AnalogyReport, line: usize) -> Option<String> {
    let q = r
        .details
        .as_ref()
        .unwrap()
        .iter()
        .find(|q| q.line == line)
        .unwrap();
    q.predicted.clone()
}

#[test]
fn gensim_add() {
    let (_tmp, store) = store();
    let r = analogies(&store, Protocol::Gensim, Method::Add, None);
    assert_eq!(
        r.restrict, 15,
        "the default 300,000 is cut to the vocabulary"
    );
    assert_eq!(counts(&r), [(1, 2), (1, 1), (1, 1), (0, 0), (0, 0), (2, 2)]);
    // `capital-old` is none of the Google set's sections: no semantic/syntactic split.
    assert_eq!((r.semantic, r.syntactic), (None, None));
    assert_eq!((r.total.correct, r.total.seen), (5, 6));
    assert_eq!(
        (r.questions_seen, r.questions_total, r.skipped_unknown),
        (6, 9, 3)
    );
    let skipped: Vec<usize> = r.sections.iter().map(|s| s.skipped).collect();
    assert_eq!(skipped, [0, 0, 1, 1, 1, 0]);
    // Paris ranks first but folds to a question word: gensim takes rome.
    assert_eq!(answer(&r, 2).as_deref(), Some("rome"));
    assert_eq!(answer(&r, 3).as_deref(), Some("bonn"));
    assert_eq!(answer(&r, 5).as_deref(), Some("tokyo"));
    assert_eq!(answer(&r, 7), None);
    assert_eq!(answer(&r, 8).as_deref(), Some("france"));
    assert_eq!(answer(&r, 14).as_deref(), Some("worse"));
    assert_eq!(answer(&r, 15).as_deref(), Some("bad"));
    assert!((r.total.accuracy - 5.0 / 6.0).abs() < 1e-12);
}

#[test]
fn gensim_mul() {
    let (_tmp, store) = store();
    let r = analogies(&store, Protocol::Gensim, Method::Mul, None);
    assert_eq!(counts(&r), [(1, 2), (1, 1), (1, 1), (0, 0), (0, 0), (1, 2)]);
    assert_eq!((r.total.correct, r.total.seen), (4, 6));
    assert_eq!(answer(&r, 2).as_deref(), Some("rome"));
    // 3CosMul rewards well's opposition to good: 2.25 against worse's 1.4571.
    assert_eq!(answer(&r, 14).as_deref(), Some("well"));
    assert_eq!(answer(&r, 15).as_deref(), Some("bad"));
}

#[test]
fn word2vec_add() {
    let (_tmp, store) = store();
    let r = analogies(&store, Protocol::Word2vec, Method::Add, None);
    assert_eq!(r.restrict, 15);
    assert_eq!(counts(&r), [(0, 2), (1, 1), (1, 1), (0, 0), (0, 0), (2, 2)]);
    assert_eq!((r.total.correct, r.total.seen), (4, 6));
    assert_eq!(
        (r.questions_seen, r.questions_total, r.skipped_unknown),
        (6, 9, 3)
    );
    // Only ids 0, 1, 2 are excluded: Paris (13), a case variant of paris, is the answer.
    assert_eq!(answer(&r, 2).as_deref(), Some("Paris"));
    assert_eq!(answer(&r, 14).as_deref(), Some("worse"));
}

#[test]
fn word2vec_mul() {
    let (_tmp, store) = store();
    let r = analogies(&store, Protocol::Word2vec, Method::Mul, None);
    assert_eq!(counts(&r), [(0, 2), (1, 1), (1, 1), (0, 0), (0, 0), (1, 2)]);
    assert_eq!((r.total.correct, r.total.seen), (3, 6));
    assert_eq!(answer(&r, 2).as_deref(), Some("Paris"));
    assert_eq!(answer(&r, 14).as_deref(), Some("well"));
}

#[test]
fn restrict_cuts_words_out_of_questions_and_answers() {
    let (_tmp, store) = store();
    // Without bonn (id 14): line 3 answers berlin, line 5 (which asks about Bonn) is skipped.
    let r = analogies(&store, Protocol::Gensim, Method::Add, Some(14));
    assert_eq!(r.restrict, 14);
    assert_eq!(counts(&r), [(2, 2), (0, 0), (1, 1), (0, 0), (0, 0), (2, 2)]);
    assert_eq!(
        (r.total.correct, r.total.seen, r.skipped_unknown),
        (5, 5, 4)
    );
    assert_eq!(answer(&r, 3).as_deref(), Some("berlin"));
    assert_eq!(answer(&r, 5), None);
    let r = analogies(&store, Protocol::Word2vec, Method::Add, Some(14));
    assert_eq!(counts(&r), [(1, 2), (0, 0), (1, 1), (0, 0), (0, 0), (2, 2)]);
    assert_eq!((r.total.correct, r.total.seen), (4, 5));
    // Without Paris (id 13) too, word2vec's best remaining word on line 2 is rome.
    let r = analogies(&store, Protocol::Word2vec, Method::Add, Some(13));
    assert_eq!(answer(&r, 2).as_deref(), Some("rome"));
    assert_eq!((r.total.correct, r.total.seen), (5, 5));
}

#[test]
fn run_eval_reads_the_files_and_renders_a_table() {
    let (_tmp, store) = store();
    let mut cmd = EvalCommand::Analogy {
        file: fixture("vectors.txt"),
        questions: Some(fixture("questions.txt")),
        protocol: Protocol::Word2vec,
        method: Method::Add,
        restrict: None,
        details: false,
    };
    cmd.set_method(Method::Mul);
    assert_eq!(cmd.file(), fixture("vectors.txt"));
    let report = run_eval(&cmd, &store, &Silent).unwrap();
    let Report::Analogy(r) = &report else {
        panic!("analogy report expected")
    };
    assert_eq!(
        (r.method, r.total.correct, r.total.seen),
        (Method::Mul, 3, 6)
    );
    assert!(r.details.is_none());
    let text = vecsh::render::Renderer::default().report(&report);
    assert!(text.contains("gram3-comparative"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["total", "3", "6", "50.00", "%", "3"]),
        "{text}"
    );
    assert!(text.contains("questions seen / total: 6 / 9"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["kind"], "analogy");
    assert_eq!(json["protocol"], "word2vec");
    assert_eq!(json["total"]["correct"], 3);
    assert_eq!(json["sections"][0]["name"], "capital-common-countries");
}

/// pairs.txt, with the cosines worked out from the table above:
///
/// ```text
/// line pair            gold  cosine
///  2   france italy    1.0   0
///  3   paris rome      3.0   0.8·0.8 = 0.64
///  4   Paris ROME      3.5   0.64: PARIS folds to paris (id 2), not Paris (whose cosine is 0.96)
///  5   tokyo berlin    2.0   0.64
///  6   good well       0.5   −0.6
///  8   better well     8.0   0.8
///  9   bonn berlin     6.0   0.48 + 0.48 = 0.96 (unknown with --restrict 14)
/// 10   spain madrid    5.0   unknown
/// ```
///
/// Pearson: Σg = 24, Σm = 3.08, Σgm = 17.3, Σg² = 126.5, Σm² = 3.1504, n = 7:
/// r = (17.3 − 24·3.08/7) / √((126.5 − 24²/7)(3.1504 − 3.08²/7)) = 6.74 / √(44.2142857 · 1.7952)
///   = 0.7565231.
/// Spearman: gold ranks 2 4 5 3 1 7 6; cosine ranks 2 4 4 4 1 6 7 (three tied 0.64s share 4):
/// ρ = 25 / √(28 · 26) = 0.9265616.
#[test]
fn similarity_as_gensim() {
    let (_tmp, store) = store();
    let path = fixture("pairs.txt");
    let pairs = vecsh::protocols::read_pairs(&path).unwrap();
    assert_eq!(pairs.len(), 8);
    let r = evaluate_similarity(&store, &pairs, &path, &SimilarityOptions::default()).unwrap();
    assert_eq!((r.pairs, r.used, r.unknown), (8, 7, 1));
    assert!((r.unknown_percent - 12.5).abs() < 1e-12);
    assert!((r.pearson - 0.756_523_06).abs() < 1e-6, "{}", r.pearson);
    assert!(
        (r.spearman - 25.0 / 728f64.sqrt()).abs() < 1e-9,
        "{}",
        r.spearman
    );

    let r =
        evaluate_similarity(&store, &pairs, &path, &SimilarityOptions { restrict: 14 }).unwrap();
    assert_eq!((r.used, r.unknown), (6, 2));

    let none = parse_pairs("spain\tmadrid\t5\n", "x").unwrap();
    let err = evaluate_similarity(&store, &none, Path::new("x"), &SimilarityOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("no pair"), "{err}");
}

#[test]
fn pearson_and_spearman_by_hand() {
    // x = 1..5, y = 2 4 5 4 5: deviations −2 −1 0 1 2 and −2 0 1 0 1, Σdxdy = 6, Σdx² = 10,
    // Σdy² = 6 → r = 6/√60.
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let y = [2.0, 4.0, 5.0, 4.0, 5.0];
    assert!((pearson(&x, &y) - 6.0 / 60f64.sqrt()).abs() < 1e-12);
    // Ties share the mean rank: 2 → 1, the two 4s → 2.5, the two 5s → 4.5.
    assert_eq!(average_ranks(&y), [1.0, 2.5, 4.5, 2.5, 4.5]);
    // Rank deviations −2 −0.5 1.5 −0.5 1.5: Σ = 7, Σ² = 9 → ρ = 7/√90.
    assert!((spearman(&x, &y) - 7.0 / 90f64.sqrt()).abs() < 1e-12);
    assert!((pearson(&x, &x.map(|v| -2.0 * v)) + 1.0).abs() < 1e-12);
    assert!(
        pearson(&x, &[3.0; 5]).is_nan(),
        "a constant side has no correlation"
    );
}

#[test]
fn parse_errors_name_file_and_line() {
    let err = parse_questions("a b c d\n", "q.txt").unwrap_err();
    assert_eq!((err.file.as_str(), err.line), ("q.txt", 1));
    assert!(
        err.to_string().starts_with("q.txt:1: question before"),
        "{err}"
    );

    let err = parse_questions(": s\n\n# note\na b c\n", "q.txt").unwrap_err();
    assert_eq!(
        err.to_string(),
        "q.txt:4: expected 4 words `a b c d`, found 3: \"a b c\""
    );

    let err = parse_questions(": s\na b c d\n:\n", "q.txt").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("q.txt:3: section header without a name"),
        "{err}"
    );

    let sections = parse_questions(": one\nA b C d\n\n:  two \n", "q.txt").unwrap();
    assert_eq!(sections.len(), 2);
    assert_eq!(
        sections[0].questions[0].words,
        ["A", "b", "C", "d"].map(String::from)
    );
    assert_eq!(
        (sections[0].questions[0].line, sections[1].name.as_str()),
        (2, "two")
    );

    let err = parse_pairs("# c\nx\ty\tz\n", "p.txt").unwrap_err();
    assert_eq!(err.to_string(), "p.txt:2: score \"z\" is not a number");
    let err = parse_pairs("x y\n", "p.txt").unwrap_err();
    assert!(err.to_string().starts_with("p.txt:1: expected"), "{err}");
    let pairs = parse_pairs("a b 1.5\nc\td\t2\r\n", "p.txt").unwrap();
    assert_eq!(
        (pairs[0].score, pairs[1].b.as_str(), pairs[1].score),
        (1.5, "d", 2.0)
    );

    // Through a file: the path is the origin.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.txt");
    std::fs::write(&path, ": s\na b c d\na b c d e\n").unwrap();
    let err = read_questions(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3: expected 4 words", path.display())),
        "{err}"
    );
}

/// `vecsh eval analogy FILE` with no QUESTIONS uses the Google analogy set built into the
/// binary, wherever it runs (it used to look in ../shared/eval, a path of vecsh's own
/// development setup); `google` names it; anything else is a path.
#[test]
fn the_google_analogy_set_is_built_in() {
    let tmp = tempfile::tempdir().unwrap();
    let vectors =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protocols/vectors.txt");
    let run = |extra: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("vecsh")
            .unwrap()
            .current_dir(tmp.path())
            .env("VECSH_CACHE", tmp.path().join("cache"))
            .args(["eval", "analogy"])
            .arg(&vectors)
            .args(extra)
            .args(["--json", "--quiet"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    for extra in [&[][..], &["google"][..]] {
        let json = run(extra);
        assert_eq!(json["questions_total"], 19_544, "{extra:?}: {json}");
        assert_eq!(json["questions_file"], "google (built in)", "{extra:?}");
    }
    let out = assert_cmd::Command::cargo_bin("vecsh")
        .unwrap()
        .current_dir(tmp.path())
        .env("VECSH_CACHE", tmp.path().join("cache"))
        .args(["eval", "analogy"])
        .arg(&vectors)
        .arg("nonexistent.txt")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nonexistent.txt"), "{stderr}");
}

/// SimLex-999 and WordSim-353 are not redistributable, so they stay paths; their names get an
/// error that says where to find them.
#[test]
fn similarity_set_names_say_where_to_get_the_set() {
    let tmp = tempfile::tempdir().unwrap();
    let vectors =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protocols/vectors.txt");
    for name in ["simlex", "wordsim"] {
        let out = assert_cmd::Command::cargo_bin("vecsh")
            .unwrap()
            .current_dir(tmp.path())
            .env("VECSH_CACHE", tmp.path().join("cache"))
            .args(["eval", "similarity"])
            .arg(&vectors)
            .arg(name)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not built in") && stderr.contains("http"),
            "{stderr}"
        );
    }
}

/// The report shows file names and question words from files: escaped, so a crafted questions
/// file cannot drive the terminal (with colour off, no ESC byte reaches the output at all).
#[test]
fn eval_reports_escape_file_names_and_words() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protocols");
    let questions = tmp.path().join("q\u{1b}[2J.txt");
    let text = std::fs::read_to_string(fixtures.join("questions.txt")).unwrap();
    std::fs::write(
        &questions,
        format!("{text}\nking queen man wo\u{1b}]0;x\u{7}man\n"),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("vecsh")
        .unwrap()
        .env("VECSH_CACHE", tmp.path().join("cache"))
        .env("NO_COLOR", "1")
        .args(["eval", "analogy"])
        .arg(fixtures.join("vectors.txt"))
        .arg(&questions)
        .args(["--details", "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout:?}"
    );
    assert!(stdout.contains("q\\e[2J.txt"), "{stdout}");
}

/// Issue 23: the semantic/syntactic split is the Google set's, by section name: reported when
/// every section is one of the Google set's (wherever it stands in the file), omitted otherwise
/// (it called the first five sections of any file semantic).
#[test]
fn the_semantic_split_is_reported_only_for_the_google_sections_by_name() {
    let (tmp, store) = store();
    let questions = tmp.path().join("google-named.txt");
    std::fs::write(
        &questions,
        ": gram3-comparative\ngood better bad worse\n: family\nROME Italy paris FRANCE\n\
         : capital-common-countries\nFrance Paris Italy Rome\n",
    )
    .unwrap();
    let sections = vecsh::protocols::read_questions(&questions).unwrap();
    let r = vecsh::protocols::evaluate_analogies(
        &store,
        &sections,
        &questions,
        &AnalogyOptions {
            protocol: Protocol::Gensim,
            method: Method::Add,
            restrict: None,
            details: false,
        },
        &Silent,
    )
    .unwrap();
    let semantic = r.semantic.expect("Google sections: split");
    let syntactic = r.syntactic.expect("Google sections: split");
    assert_eq!(semantic.seen, 2, "family and capital-common-countries");
    assert_eq!(syntactic.seen, 1, "gram3-comparative");
    // Not the Google set's sections: neither line, neither JSON field.
    let r = analogies(&store, Protocol::Gensim, Method::Add, None);
    let text =
        vecsh::render::Renderer::default().report(&vecsh::protocols::Report::Analogy(r.clone()));
    assert!(
        !text.contains("semantic") && !text.contains("syntactic"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert!(
        json.get("semantic").is_none() && json.get("syntactic").is_none(),
        "{json}"
    );
}
