//! Real pairs of spaces (issue 27): GloVe's first 1,000 words against their own `--limit`ed
//! copy, a 50-d word2vec model gensim trained (tests/fixtures/w2v-trained/gen.py) against them,
//! and vocabularies that barely overlap (token models against GloVe): `compare`, `:align` and
//! `in` give checkable answers, equal to numpy's and scipy's, and always say how many words the
//! spaces share.

use std::collections::HashSet;

use serde_json::Value as Json;

use crate::spaces::{assert_neighbours, assert_procrustes_equals_scipy, neighbour_pairs};
use crate::util::{fixture, json, run, shared_cache};

/// GloVe 6B 50d's first 1,000 words.
fn glove() -> String {
    fixture("annoy", "glove.1k.50d.txt")
        .to_string_lossy()
        .into_owned()
}

/// The word2vec model gensim trained on the Lee corpus (1,092 words × 50).
fn lee() -> String {
    fixture("w2v-trained", "lee.w2v.txt")
        .to_string_lossy()
        .into_owned()
}

/// A model directory of tests/fixtures/models.
fn model(name: &str) -> String {
    fixture("models", name).to_string_lossy().into_owned()
}

fn expected() -> Json {
    json(&fixture("w2v-trained", "expected.json"))
}

/// `vecsh ARGS --json` in this module's cache: its JSON lines and stderr.
fn json_run<S: AsRef<str>>(args: &[S]) -> (Vec<Json>, String) {
    crate::util::json_run("space_pairs", args)
}

/// `vecsh ARGS -e S1 -e S2 … --json`: one JSON value per statement, and stderr.
fn json_statements(args: &[&str], statements: &[String]) -> (Vec<Json>, String) {
    let mut all: Vec<&str> = args.to_vec();
    for statement in statements {
        all.extend(["-e", statement]);
    }
    json_run(&all)
}

/// `vecsh ARGS` as text: stdout and stderr.
fn text_run(args: &[&str]) -> (String, String) {
    let (ok, out, err) = run(&shared_cache("space_pairs"), args);
    assert!(ok, "{args:?}: {err}");
    (out, err)
}

fn close(x: &Json, y: &Json, tolerance: f64, what: &str) {
    let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
    assert!((x - y).abs() < tolerance, "{what}: {x} vs {y}");
}

/// The first words of GloVe's file, in order.
fn glove_words() -> Vec<String> {
    std::fs::read_to_string(glove())
        .unwrap()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

// ------------------------------------------------------------------ GloVe and its limited copy

const LIMIT: usize = 300;

#[test]
fn glove_against_its_limited_copy_agrees_on_every_word_within_the_limit() {
    let g = glove();
    let full = format!("full={g}");
    let words = glove_words();
    let first: HashSet<&str> = words[..LIMIT].iter().map(String::as_str).collect();
    let limit = LIMIT.to_string();
    // FILE limited to its first 300 words, the same file whole beside it.
    let queries = ["the", "government", "president", "game", "week"];
    let statements: Vec<String> = [":use".to_string()]
        .into_iter()
        .chain(queries.iter().map(|q| format!("compare({q})")))
        .collect();
    let (out, err) = json_statements(&[&g, "--limit", &limit, "--also", &full], &statements);
    let spaces: Vec<(&str, u64)> = out[0]["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["words"].as_u64().unwrap()))
        .collect();
    assert_eq!(spaces, [("glove.1k.50d", 300), ("full", 1000)], "{err}");
    for (q, c) in queries.iter().zip(&out[1..]) {
        assert!(first.contains(q), "{q} is within the limit");
        assert_eq!(c["kind"], "compare", "{q}: {c}");
        let pair = &c["pairs"][0];
        assert_eq!(pair["shared_vocabulary"], LIMIT, "{q}");
        assert_eq!(
            (&pair["words_a"], &pair["words_b"]),
            (&300.into(), &1000.into())
        );
        // The limited copy's list is the whole file's restricted to its first 300 words.
        let (alone, _) = json_run(&[&g, "--restrict", &limit, "-e", q]);
        assert_neighbours(&c["spaces"][0]["neighbours"], &alone[0]["neighbours"], q);
        let (whole, _) = json_run(&[&g, "-e", q]);
        assert_neighbours(&c["spaces"][1]["neighbours"], &whole[0]["neighbours"], q);
        // Jaccard 1 exactly when the whole file's list lies within the limit.
        let inside = neighbour_pairs(&whole[0]["neighbours"])
            .iter()
            .all(|(w, _)| first.contains(w.as_str()));
        let jaccard = pair["jaccard"].as_f64().unwrap();
        assert_eq!(jaccard == 1.0, inside, "{q}: {jaccard}");
    }
    // `the`'s neighbours are all frequent words: the two lists are one.
    assert_eq!(out[1]["pairs"][0]["jaccard"], 1.0);
    assert_eq!(out[1]["pairs"][0]["rbo"], 1.0);
    // A word beyond the limit: no list in the copy, the reason said, the whole file's list kept.
    let beyond = &words[LIMIT + 50];
    let (out, _) = json_run(&[
        &g,
        "--limit",
        &limit,
        "--also",
        &full,
        "-e",
        &format!("compare({beyond})"),
    ]);
    assert_eq!(
        out[0]["spaces"][0]["missing"],
        format!("unknown word '{beyond}'")
    );
    assert_eq!(
        out[0]["spaces"][1]["neighbours"].as_array().unwrap().len(),
        10
    );
}

#[test]
fn glove_aligned_onto_its_limited_copy_is_the_identity() {
    let g = glove();
    let full = format!("full={g}");
    let (out, err) = json_run(&[
        &g,
        "--limit",
        "300",
        "--also",
        &full,
        "-e",
        ":align glove.1k.50d full",
        "-e",
        "in(full, in(glove.1k.50d, president))",
        "-e",
        "sim(in(full, week), week)",
    ]);
    let a = &out[0];
    assert_eq!(a["kind"], "aligned", "{err}");
    assert_eq!(a["words"], 300);
    // The same vectors: cosine 1 before, and the rotation found changes nothing (residual 0).
    close(&a["cosine_before"], &1.0.into(), 1e-6, "before");
    close(&a["cosine_after"], &1.0.into(), 1e-6, "after");
    let carried = neighbour_pairs(&out[1]["neighbours"]);
    assert_eq!(carried[0].0, "president");
    assert!((carried[0].1 - 1.0).abs() < 1e-5, "{carried:?}");
    let (whole, _) = json_run(&[&g, "-e", "president"]);
    let whole = neighbour_pairs(&whole[0]["neighbours"]);
    // Past the word itself, the whole file's own list.
    for ((w, x), (v, y)) in carried[1..].iter().zip(&whole) {
        assert_eq!(w, v);
        assert!((x - y).abs() < 1e-5, "{w}: {x} vs {y}");
    }
    close(&out[2]["value"], &1.0.into(), 1e-5, "sim across the copy");
}

// ------------------------------------------------------------------ gensim's word2vec and GloVe

#[test]
fn trained_word2vec_against_glove_equals_numpy() {
    let want = expected();
    let (l, g) = (lee(), glove());
    let named = format!("glove={g}");
    let queries: Vec<&String> = want["queries"].as_object().unwrap().keys().collect();
    let statements: Vec<String> = [":use".to_string()]
        .into_iter()
        .chain(queries.iter().map(|q| format!("compare({q})")))
        .collect();
    let (out, err) = json_statements(&[&l, "--also", &named], &statements);
    let words: Vec<u64> = out[0]["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["words"].as_u64().unwrap())
        .collect();
    assert_eq!(
        words,
        [
            want["words"]["lee"].as_u64().unwrap(),
            want["words"]["glove"].as_u64().unwrap()
        ],
        "{err}"
    );
    for (q, got) in queries.iter().zip(&out[1..]) {
        let w = &want["queries"][q.as_str()];
        assert_eq!(got["kind"], "compare", "{q}: {got}");
        assert_eq!(got["spaces"][0]["space"], "lee.w2v");
        assert_neighbours(
            &got["spaces"][0]["neighbours"],
            &w["lee"],
            &format!("{q} in lee"),
        );
        assert_neighbours(
            &got["spaces"][1]["neighbours"],
            &w["glove"],
            &format!("{q} in glove"),
        );
        let pair = &got["pairs"][0];
        assert_eq!(pair["shared_vocabulary"], want["shared_vocabulary"], "{q}");
        assert_eq!(pair["common"], w["common"], "{q}");
        close(&pair["jaccard"], &w["jaccard"], 1e-9, q);
        close(&pair["rbo"], &w["rbo"], 1e-9, q);
    }
}

#[test]
fn trained_word2vec_aligned_onto_glove_equals_scipy() {
    let want = &expected()["align"];
    let (l, g) = (lee(), glove());
    let named = format!("glove={g}");
    let carried: Vec<&String> = want["neighbours_in_glove"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let statements: Vec<String> = [":align lee.w2v glove".to_string()]
        .into_iter()
        .chain(
            carried
                .iter()
                .map(|w| format!("in(glove, in(lee.w2v, {w}))")),
        )
        .collect();
    let (out, err) = json_statements(&[&l, "--also", &named], &statements);
    assert_eq!(out[0]["kind"], "aligned", "{err}");
    assert_eq!(out[0]["words"], want["words"]);
    for key in ["cosine_before", "cosine_after"] {
        close(&out[0][key], &want[key], 1e-5, key);
    }
    for (word, got) in carried.iter().zip(&out[1..]) {
        assert_neighbours(
            &got["neighbours"],
            &want["neighbours_in_glove"][word.as_str()],
            &format!("lee's {word} in glove"),
        );
    }
    // The rotation itself, from the two files' unit rows as vecsh reads them.
    assert_procrustes_equals_scipy(
        &fixture("w2v-trained", "lee.w2v.txt"),
        &fixture("annoy", "glove.1k.50d.txt"),
        want,
    );
}

// ------------------------------------------------------------------ barely overlapping

/// The words of a WordPiece `tokenizer.json` that GloVe's first 1,000 words hold: its tokens
/// are shown as they are spelt (`king`, `##ing`), so those are the words the two share.
fn wordpiece_shared_with_glove() -> usize {
    let tokenizer = json(&fixture("models", "wordpiece/tokenizer.json"));
    let glove: HashSet<String> = glove_words().into_iter().collect();
    tokenizer["model"]["vocab"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|t| glove.contains(t.as_str()))
        .count()
}

#[test]
fn a_token_model_against_glove_says_how_many_words_are_shared() {
    let g = glove();
    let shared = wordpiece_shared_with_glove();
    assert!(shared > 50 && shared < 500, "{shared}");
    let wp = format!("wp={}", model("wordpiece"));
    let (out, err) = json_run(&[
        &g,
        "--also",
        &wp,
        "-e",
        "compare(the)",
        "-e",
        ":align wp glove.1k.50d",
    ]);
    let pair = &out[0]["pairs"][0];
    assert_eq!(pair["shared_vocabulary"], shared, "{err}");
    assert_eq!(
        (&pair["words_a"], &pair["words_b"]),
        (&1000.into(), &1225.into())
    );
    // The alignment's own count of shared words is the same.
    assert_eq!(out[1]["kind"], "aligned", "{}", out[1]);
    assert_eq!(out[1]["words"], shared);
    // As text: the count beside the agreement, a warning, and the alignment's count.
    let (text, _) = text_run(&[
        &g,
        "--also",
        &wp,
        "-e",
        ":compare the",
        "-e",
        ":align wp glove.1k.50d",
    ]);
    let count = format!("{shared} words shared (of 1,000 and 1,225)");
    assert!(text.contains(&count), "{text}");
    let thin = format!(
        "warning: glove.1k.50d and wp share only {shared} words, {:.1}% of the smaller vocabulary",
        shared as f64 / 10.0
    );
    assert!(text.contains(&thin), "{text}");
    assert!(
        text.contains(&format!(
            "aligned wp onto glove.1k.50d over {shared} shared words"
        )),
        "{text}"
    );
    // A SentencePiece model shares fewer still: compare and align count the same words.
    let sp = format!("sp={}", model("sentencepiece"));
    let (out, _) = json_run(&[
        &g,
        "--also",
        &sp,
        "-e",
        "compare(the)",
        "-e",
        ":align sp glove.1k.50d",
    ]);
    let shared = out[0]["pairs"][0]["shared_vocabulary"].as_u64().unwrap();
    assert!(shared > 50 && shared < 300, "{shared}");
    assert_eq!(out[1]["words"], shared);
}

#[test]
fn spaces_that_share_no_word_say_so_and_cannot_be_aligned() {
    let dir = tempfile::tempdir().unwrap();
    // 50-d rows named w0…w59: no word of GloVe's nor of the model's.
    let other = crate::util::write_glove_random(dir.path(), "other.txt", 60, 50);
    let other = other.to_string_lossy().into_owned();
    let wp = format!("wp={}", model("wordpiece"));
    let (text, _) = text_run(&[&other, "--also", &wp, "-e", ":compare the"]);
    // The model's list is shown, the other's absence said, and the pair's count is 0.
    assert!(text.contains("(unknown word 'the')"), "{text}");
    assert!(text.contains("0 words shared (of 60 and 1,225)"), "{text}");
    assert!(
        text.contains("warning: other and wp share no words at all"),
        "{text}"
    );
    let (out, _) = json_run(&[&other, "--also", &wp, "-e", ":align other wp"]);
    assert_eq!(
        out[0]["error"]["message"],
        "'other' and 'wp' share 0 words, fewer than their 50 dimensions: a rotation needs at least as many"
    );
}
