//! `vecsh eval analogy|similarity FILE --also B` (issue 27): one column per file, each the
//! report that file alone gives (the same numbers as running it alone), its coverage shown, and
//! a file that cannot be opened or evaluated named in the error.

use std::path::PathBuf;

use serde_json::Value as Json;

use crate::util::{fixture, run, shared_cache};

/// tests/fixtures/protocols/NAME as an argument.
fn protocols(name: &str) -> String {
    fixture("protocols", name).to_string_lossy().into_owned()
}

/// The first 1,000 words of GloVe 6B 50d (tests/fixtures/annoy).
fn glove1k() -> String {
    fixture("annoy", "glove.1k.50d.txt")
        .to_string_lossy()
        .into_owned()
}

/// `vecsh ARGS` in this module's cache: success, stdout, stderr.
fn vecsh(args: &[&str]) -> (bool, String, String) {
    run(&shared_cache("eval_columns"), args)
}

/// `vecsh ARGS --json`: the one object it prints.
fn json_of(args: &[&str]) -> Json {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, out, err) = vecsh(&all);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out}: {e}"))
}

/// A report without its timing, which no two runs share.
fn untimed(report: &Json) -> Json {
    let mut report = report.clone();
    report.as_object_mut().unwrap().remove("seconds");
    report
}

/// Each column of `vecsh eval KIND FILE INPUT --also …` equals `vecsh eval KIND F INPUT` run
/// alone on its file (FILE's load flags only on FILE).
fn assert_columns_equal_each_alone(kind: &str, input: &str, flags: &[&str]) {
    let (a, b) = (protocols("vectors.txt"), glove1k());
    let limited = ["--limit", "12"];
    let mut args = vec!["eval", kind, &a, input];
    args.extend(flags);
    args.extend(limited);
    let named = format!("g={b}");
    args.extend(["--also", &named, "--also", &b]);
    let got = json_of(&args);
    assert_eq!(got["kind"], "columns", "{got}");
    assert_eq!(got["eval"], kind);
    let columns = got["columns"].as_array().unwrap();
    let spaces: Vec<&str> = columns
        .iter()
        .map(|c| c["space"].as_str().unwrap())
        .collect();
    // Named from the file's stem, or as asked; a stem taken already gets a number.
    assert_eq!(spaces, ["vectors", "g", "glove.1k.50d"]);
    let alone = |file: &str, extra: &[&str]| {
        let mut args = vec!["eval", kind, file, input];
        args.extend(flags);
        args.extend(extra);
        untimed(&json_of(&args))
    };
    assert_eq!(untimed(&columns[0]["report"]), alone(&a, &limited));
    let b_alone = alone(&b, &[]);
    assert_eq!(untimed(&columns[1]["report"]), b_alone);
    assert_eq!(untimed(&columns[2]["report"]), b_alone);
    // --limit was FILE's alone.
    assert_eq!(columns[0]["report"]["restrict"], 12);
    assert!(columns[1]["report"]["restrict"].as_u64().unwrap() >= 500);
}

#[test]
fn analogy_columns_equal_each_file_alone() {
    let questions = protocols("questions.txt");
    assert_columns_equal_each_alone("analogy", &questions, &[]);
    // The protocol, method, window and details are every column's.
    assert_columns_equal_each_alone(
        "analogy",
        &questions,
        &[
            "--protocol",
            "word2vec",
            "--method",
            "mul",
            "--restrict",
            "900",
            "--details",
        ],
    );
    // The built-in Google set: 19,544 questions, few of them within 1,000 words.
    assert_columns_equal_each_alone("analogy", "google", &[]);
}

#[test]
fn similarity_columns_equal_each_file_alone() {
    assert_columns_equal_each_alone("similarity", &protocols("pairs.txt"), &[]);
    assert_columns_equal_each_alone(
        "similarity",
        &protocols("pairs.txt"),
        &["--restrict", "500"],
    );
}

/// The text table: a head of space names, a row per section with every column's accuracy, and
/// each file's coverage.
#[test]
fn the_table_puts_files_side_by_side_with_their_coverage() {
    let (a, b) = (protocols("vectors.txt"), glove1k());
    let (ok, out, err) = vecsh(&[
        "eval",
        "analogy",
        &a,
        &protocols("questions.txt"),
        "--also",
        &b,
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].ends_with(
            "questions.txt: gensim evaluate_word_analogies, 3CosAdd, 2 files side by side"
        ),
        "{out}"
    );
    assert!(
        lines[1].starts_with("  vectors       ")
            && lines[1].ends_with("vectors.txt, first 15 words"),
        "{out}"
    );
    assert!(
        lines[2].ends_with("glove.1k.50d.txt, first 1,000 words"),
        "{out}"
    );
    assert!(
        lines[3]
            .split_whitespace()
            .eq(["section", "vectors", "glove.1k.50d"]),
        "{out}"
    );
    let row = |label: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} row: {out}"))
            .to_string()
    };
    // vectors.txt answers 1 of 2 capital-common-countries questions, GloVe's first 1,000
    // words hold no question of that section but Japan/Tokyo/Germany/Berlin…; each from alone.
    let alone_a = json_of(&["eval", "analogy", &a, &protocols("questions.txt")]);
    let alone_b = json_of(&["eval", "analogy", &b, &protocols("questions.txt")]);
    let cell = |r: &Json| {
        let (c, s) = (r["correct"].as_u64().unwrap(), r["seen"].as_u64().unwrap());
        let acc = if s == 0 {
            "-".to_string()
        } else {
            format!("{:.2} %", c as f64 / s as f64 * 100.0)
        };
        format!("{acc}  {c}/{s}")
    };
    let total = row("total");
    assert!(
        total.contains(&cell(&alone_a["total"])) && total.contains(&cell(&alone_b["total"])),
        "{total}"
    );
    let seen = |r: &Json| {
        format!(
            "{} of {}",
            r["questions_seen"].as_u64().unwrap(),
            r["questions_total"].as_u64().unwrap()
        )
    };
    let row_seen = row("questions seen");
    assert!(
        row_seen.contains(&seen(&alone_a)) && row_seen.contains(&seen(&alone_b)),
        "{row_seen}"
    );
    let skipped = row("skipped, unknown words");
    let counts: Vec<&str> = skipped.split_whitespace().skip(3).collect();
    assert_eq!(
        counts,
        [
            alone_a["skipped_unknown"].to_string(),
            alone_b["skipped_unknown"].to_string()
        ],
        "{skipped}"
    );
    // Similarity: the correlations and the pairs each file could score.
    let (ok, out, err) = vecsh(&[
        "eval",
        "similarity",
        &a,
        &protocols("pairs.txt"),
        "--also",
        &b,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("pairs.txt: gensim evaluate_word_pairs, 2 files side by side"));
    for label in ["pearson", "spearman", "pairs used", "unknown words", "time"] {
        assert!(out.lines().any(|l| l.starts_with(label)), "{label}: {out}");
    }
    let used = out.lines().find(|l| l.starts_with("pairs used")).unwrap();
    assert!(used.contains("7 of 8") && used.contains("3 of 8"), "{out}");
}

#[test]
fn a_file_that_cannot_be_opened_or_evaluated_is_named() {
    let a = protocols("vectors.txt");
    let questions = protocols("questions.txt");
    let dir = tempfile::tempdir().unwrap();
    let missing: PathBuf = dir.path().join("nothere.vec");
    let broken = dir.path().join("broken.txt");
    std::fs::write(&broken, "w1 0.1 0.2\nw2 0.1 x\n").unwrap();
    for (arg, says) in [
        (missing.display().to_string(), "nothere.vec"),
        (format!("bad={}", broken.display()), "broken.txt:2"),
    ] {
        let (ok, out, err) = vecsh(&["eval", "analogy", &a, &questions, "--also", &arg]);
        assert!(!ok, "{arg}: {out}");
        assert!(out.is_empty(), "nothing on stdout: {out}");
        assert!(err.contains(&format!("--also {arg}: ")), "{err}");
        assert!(err.contains(says), "{err}");
    }
    // A name given twice.
    let (ok, _, err) = vecsh(&[
        "eval",
        "analogy",
        &a,
        &questions,
        "--also",
        &format!("vectors={}", glove1k()),
    ]);
    assert!(!ok);
    assert!(
        err.contains("a space named 'vectors' is open already"),
        "{err}"
    );
    // A file with no pair within its words: the error names that file's space and path.
    let (ok, _, err) = vecsh(&[
        "eval",
        "similarity",
        &a,
        &protocols("pairs.txt"),
        "--also",
        &fixture("compare", "a.txt").to_string_lossy(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("a (") && err.contains("compare/a.txt): ") && err.contains("no pair"),
        "{err}"
    );
}

/// A model's column pools the words that are no token as the model alone does, and the table
/// says how many (`-` for a file that pools nothing).
#[test]
fn a_model_column_pools_words_as_the_model_alone() {
    let a = protocols("vectors.txt");
    let model = fixture("models", "wordpiece")
        .to_string_lossy()
        .into_owned();
    let wp = format!("wp={model}");
    for (kind, input) in [
        ("analogy", protocols("questions.txt")),
        ("similarity", protocols("pairs.txt")),
    ] {
        let got = json_of(&["eval", kind, &a, &input, "--also", &wp]);
        let alone = json_of(&["eval", kind, &model, &input]);
        assert_eq!(untimed(&got["columns"][1]["report"]), untimed(&alone));
        assert!(alone["pooled_words"].as_u64().unwrap() > 0, "{alone}");
        let (ok, out, err) = vecsh(&["eval", kind, &a, &input, "--also", &wp]);
        assert!(ok, "{err}");
        let pooled = out
            .lines()
            .find(|l| l.starts_with("pooled words"))
            .unwrap_or_else(|| panic!("{out}"));
        let cells: Vec<&str> = pooled["pooled words".len()..]
            .split("  ")
            .filter(|c| !c.trim().is_empty())
            .map(str::trim)
            .collect();
        let words = alone["pooled_words"].to_string();
        let want = match kind {
            "analogy" => format!("{words} in {} questions", alone["pooled_questions"]),
            _ => words,
        };
        assert_eq!(cells, ["-", want.as_str()], "{pooled}");
    }
}
