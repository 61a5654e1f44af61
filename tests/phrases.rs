//! Phrases and lookups on models (issue 26): vectors pooled through the tokenizer equal
//! model2vec's `StaticModel.encode` and numpy's mean (H-fix's expected.json), the lookup order
//! (shown form, raw token, normalised form, phrase), the marks and JSON tokens, the hidden
//! tokens, evaluations that pool, and the tokenizer read only when a lookup needs it.

use std::path::{Path, PathBuf};

use vecsh::eval::{Session, Settings, Value};
use vecsh::index::{PhraseError, Store};
use vecsh::progress::Silent;

use crate::util::{assert_close, floats, json, opts, ranked, run, session, shared_cache};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn expected() -> serde_json::Value {
    json(&models().join("expected.json"))
}

/// The store of fixture `name` (a model directory), in a cache of the test `test`'s own (a
/// process opens an index once: two tests may not hold the same one).
fn model(name: &str, test: &str) -> Store {
    let cache = shared_cache(&format!("phrases-{test}"));
    let opts = opts(&cache);
    let file = vecsh::loader::primary_file(&models().join(name), &opts.load);
    Store::open(&file, &opts, &Silent)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .0
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Every fixture phrase: the tokens pooled are Python's (`pooled_ids`), the vector is
/// `StaticModel.encode`'s (model2vec fixtures: weights, int8, normalize, mappings) or numpy's
/// float64 mean of the raw rows (BF16, F16, F32 matrices) within 1e-5; a phrase with no known
/// token is an error, never a zero vector.
#[test]
fn phrase_vectors_equal_model2vec_and_numpy() {
    let expected = expected();
    let mut checked = 0;
    for (name, fixture) in expected["fixtures"].as_object().unwrap() {
        let store = model(name, "vectors");
        for phrase in fixture["phrases"].as_array().unwrap() {
            let text = phrase["text"].as_str().unwrap();
            let got = store.phrase(text);
            if phrase["vector"].is_null() {
                assert!(
                    matches!(got, Err(PhraseError::NoToken(_))),
                    "{name} {text:?}: {got:?}"
                );
                continue;
            }
            let got = got.unwrap_or_else(|e| panic!("{name} {text:?}: {e}"));
            assert_eq!(got.ids, ids(&phrase["pooled_ids"]), "{name} {text:?}");
            assert_close(
                &got.vector,
                &floats(&phrase["vector"]),
                &format!("{name} {text:?}"),
            );
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked} phrases compared");
}

/// A one-shot whose words are all shown forms never reads tokenizer.json: the store's
/// tokenizer stays unparsed through arithmetic, sim, plot, :vec and an analogy; the first
/// phrase parses it (the counter can fail).
#[test]
fn known_words_never_read_the_tokenizer() {
    let store = model("glove20k", "lazy");
    let mut s = session(&store, 5);
    for line in [
        "king - man + woman",
        "sim(king, queen)",
        "plot(king, queen, k=2)",
        ":vec king",
        "man : king :: woman : ?",
        "cosmul(king - man + woman)",
    ] {
        s.run_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(!store.encoder_loaded(), "{line} read the tokenizer");
    }
    s.run_line("\"new york\"").unwrap();
    assert!(store.encoder_loaded(), "a phrase reads it");
}

/// The marks: `"new york" (2 tokens: new·york)` above the answer, the tokens in JSON; a
/// normalised form is marked with its one token.
#[test]
fn phrases_are_marked_and_json_lists_their_tokens() {
    let cache = shared_cache("phrases-cli");
    let dir = models().join("glove20k");
    let dir = dir.to_str().unwrap();
    let (ok, out, err) = run(&cache, &[dir, "-k", "3", "-e", "\"new york\""]);
    assert!(ok, "{err}");
    assert!(out.contains("\"new york\" (2 tokens: new·york)"), "{out}");
    let (ok, out, err) = run(&cache, &[dir, "--json", "-e", "\"new york\" - new"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["subwords"][0]["word"], "new york", "{out}");
    assert_eq!(
        v["subwords"][0]["tokens"],
        serde_json::json!(["new", "york"]),
        "{out}"
    );
    let (ok, out, err) = run(&cache, &[dir, "-k", "3", "-e", "KING"]);
    assert!(ok, "{err}");
    assert!(out.contains("KING (1 token: king)"), "{out}");
}

/// Lookup order on a byte-level BPE model: the shown form first (`king` is `Ġking`), then
/// the raw token (`Ġking` typed), then the phrase (`King` = K·ing); on an uncased WordPiece
/// model the normaliser's form (`King` → `king`).
#[test]
fn lookup_order_shown_raw_normalised_phrase() {
    let bpe = model("bpe", "order");
    let king = bpe.id("king").expect("Ġking's shown form");
    assert_eq!(bpe.token_row("Ġking").unwrap(), Some(king));
    assert_eq!(bpe.token_row("King").unwrap(), None);
    let phrase = bpe.phrase("King").unwrap();
    assert_eq!(phrase.ids, vec![43, 272], "K·ing");
    let mut s = session(&bpe, 3);
    match s.run_line("Ġking").unwrap() {
        Value::Neighbours { subwords, .. } => {
            assert_eq!(subwords[0].tokens, vec!["king".to_string()])
        }
        other => panic!("{other:?}"),
    }
    let wordpiece = model("wordpiece", "order");
    assert_eq!(wordpiece.token_row("King").unwrap(), wordpiece.id("king"));
    assert_eq!(wordpiece.token_row("KING").unwrap(), wordpiece.id("king"));
}

/// Phrases work in every expression: arithmetic, sim, plot, mean, :vec (the pooled vector
/// as StaticModel.encode gives it); a phrase with no known token is an error at its span.
#[test]
fn phrases_in_every_expression() {
    let expected = expected();
    let phrase = |name: &str, text: &str| {
        expected["fixtures"][name]["phrases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["text"] == text)
            .unwrap()
            .clone()
    };
    let store = model("m2v-int8", "every");
    // As a session parses it: on a thread, from the start.
    store.warm_encoder();
    let mut s = session(&store, 3);
    let sim = match s.run_line("sim(\"new york\", \"new york\")").unwrap() {
        Value::Scalar {
            value, subwords, ..
        } => {
            assert_eq!(subwords.len(), 1);
            value
        }
        other => panic!("{other:?}"),
    };
    assert!((sim - 1.0).abs() < 1e-6, "{sim}");
    s.run_line("plot(\"new york\", transformer, king, k=2)")
        .unwrap();
    s.run_line("transformer - trans + king").unwrap();
    s.run_line("mean(\"the king of france\", queen)").unwrap();
    match s.run_line(":vec transformer").unwrap() {
        Value::Vector { values, tokens, .. } => {
            assert_eq!(tokens, vec!["trans", "##form", "##er"]);
            assert_close(
                &values,
                &floats(&phrase("m2v-int8", "transformer")["vector"]),
                ":vec",
            );
        }
        other => panic!("{other:?}"),
    }
    let err = s.run_line("king + \"☃\"").unwrap_err();
    assert!(err.message.contains("no token"), "{err:?}");
    assert_eq!(err.span.map(|s| (s.start, s.end)), Some((7, 12)));
}

/// Special and byte tokens stay out of neighbour lists unless --all-tokens (:alltokens on);
/// the answer without them is exactly the --all-tokens answer with them dropped (259 hidden
/// rows here: the search asks for more and drops them), for 3CosAdd and 3CosMul.
#[test]
fn hidden_tokens_only_with_all_tokens() {
    for name in ["sentencepiece", "glove20k"] {
        let store = model(name, "hidden");
        let hidden = store.model().unwrap().hidden.clone();
        assert!(!hidden.is_empty());
        let mut s = Session::new(
            &store,
            Settings {
                k: 10,
                ..Settings::default()
            },
        );
        let mut seen_hidden = false;
        for line in [
            "\"<0x0A>\"",
            "king",
            "the",
            "ork",
            "cosmul(king - the + ork)",
        ] {
            let Ok(shown) = s.run_line(line) else {
                continue;
            };
            let shown = ranked(&shown);
            s.run_line(":alltokens on").unwrap();
            s.run_line(":k 400").unwrap();
            let all = ranked(&s.run_line(line).unwrap());
            s.run_line(":alltokens off").unwrap();
            s.run_line(":k 10").unwrap();
            let visible: Vec<(String, f32)> = all
                .iter()
                .filter(|(w, _)| !hidden.contains(&store.id(w).unwrap()))
                .take(10)
                .cloned()
                .collect();
            assert_eq!(shown, visible, "{name}: {line}");
            seen_hidden |= all[..10]
                .iter()
                .any(|(w, _)| hidden.contains(&store.id(w).unwrap()));
        }
        if name == "sentencepiece" {
            assert!(seen_hidden, "no hidden token among any --all-tokens answer");
        }
    }
}

/// Evaluations pool question words that are several tokens and count them.
#[test]
fn evaluations_pool_multi_token_words() {
    use vecsh::protocols::{
        evaluate_analogies, evaluate_similarity, parse_pairs, parse_questions, AnalogyOptions,
        Method, Protocol, SimilarityOptions,
    };
    let store = model("wordpiece", "evaluations");
    let pairs = parse_pairs(
        "king queen 8\ntransformer king 2\nfrance paris 7\n☃ king 1\n",
        "pairs",
    )
    .unwrap();
    let report = evaluate_similarity(
        &store,
        &pairs,
        Path::new("pairs"),
        &SimilarityOptions::default(),
    )
    .unwrap();
    assert_eq!(report.pooled_words, 1, "{report:?}");
    assert_eq!(report.used, 3, "{report:?}");
    let sections = parse_questions(
        ": test\nking queen he she\ntransformer king france paris\nking transformer france transformer\n",
        "questions",
    )
    .unwrap();
    let report = evaluate_analogies(
        &store,
        &sections,
        Path::new("questions"),
        &AnalogyOptions {
            protocol: Protocol::Gensim,
            method: Method::Add,
            restrict: None,
            details: true,
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(report.pooled_words, 1, "{report:?}");
    // The third question's expected word is several tokens: seen, and missed (a search
    // answers tokens), never skipped as unknown.
    assert_eq!(report.questions_seen, 3, "{report:?}");
    assert_eq!(report.skipped_unknown, 0, "{report:?}");
    let third = &report.details.as_ref().unwrap()[2];
    assert!(third.seen && !third.correct, "{third:?}");
    assert_eq!(report.pooled_questions, 2, "{report:?}");
    let text = vecsh::render::Renderer::default()
        .report(&vecsh::protocols::Report::Analogy(report.clone()));
    assert!(
        text.contains("pooled    1 question word of several tokens, in 2 of the questions seen"),
        "{text}"
    );
}

/// A tokenizer.json changed after the index was opened is an error naming it, never another
/// tokenizing than the index's; so is one that is gone.
#[test]
fn a_changed_or_missing_tokenizer_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    for name in ["model.safetensors", "tokenizer.json", "config.json"] {
        std::fs::copy(models().join("glove20k").join(name), dir.join(name)).unwrap();
    }
    let opts = opts(&tmp.path().join("cache"));
    let file = vecsh::loader::primary_file(&dir, &opts.load);
    let (store, _) = Store::open(&file, &opts, &Silent).unwrap();
    let tokenizer = dir.join("tokenizer.json");
    let mut text = std::fs::read_to_string(&tokenizer).unwrap();
    text.push(' ');
    std::fs::write(&tokenizer, text).unwrap();
    let err = store.phrase("new york").unwrap_err().to_string();
    assert!(
        err.contains("changed since the index was built") && err.contains("tokenizer.json"),
        "{err}"
    );
    // The error is kept: every later lookup says it again.
    assert!(session(&store, 3)
        .run_line("\"new york\"")
        .unwrap_err()
        .message
        .contains("changed"));
    drop(store);
    std::fs::remove_file(&tokenizer).unwrap();
    let (store, _) = Store::open(&file, &opts, &Silent)
        .map(|o| (Some(o.0), ()))
        .unwrap_or((None, ()));
    if let Some(store) = store {
        let err = store.phrase("new york").unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }
}

/// Long texts: model2vec's cuts (the string to 512 × the median token length, then 512 ids,
/// then the unknown token dropped) give StaticModel.encode's vector within 1e-5; a text left
/// with no token is an error (model2vec's zero vector). tests/fixtures/phrases/gen.py made them.
#[test]
fn long_texts_are_cut_as_model2vec_cuts_them() {
    let cases =
        json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/phrases/long.json"));
    let mut stores: std::collections::HashMap<String, Store> = Default::default();
    for case in cases["cases"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        let label = case["label"].as_str().unwrap();
        let store = stores
            .entry(name.to_string())
            .or_insert_with(|| model(name, "long"));
        assert_eq!(
            store.encoder().unwrap().median_token_length() as u64,
            case["median_token_length"].as_u64().unwrap(),
            "{name}"
        );
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids"]);
        match store.phrase(text) {
            Err(PhraseError::NoToken(_)) if want.is_empty() => {}
            Ok(got) => {
                assert_eq!(got.ids, want, "{name} {label}");
                assert_close(
                    &got.vector,
                    &floats(&case["vector"]),
                    &format!("{name} {label}"),
                );
            }
            other => panic!("{name} {label}: {other:?}"),
        }
    }
}

/// An interactive session on a model: the tokenizer parsed behind the prompt, the phrase
/// marked, the hidden-token setting shown.
#[test]
fn a_session_answers_phrases() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = models().join("glove20k");
    let (mut p, _) =
        crate::session::start_sized(tmp.path(), 100, &[dir.to_str().unwrap(), "-k", "2"]);
    let out = crate::session::answer(&mut p, "\"new york\"");
    assert!(out.contains("\"new york\" (2 tokens: new·york)"), "{out}");
    let out = crate::session::answer(&mut p, ":alltokens");
    assert!(out.contains("alltokens = off"), "{out}");
    crate::util::quit(p);
}

/// Every token of a phrase's mark is visible: a lone word-start token (`▁`, shown as a space)
/// is quoted.
#[test]
fn every_token_of_a_mark_is_visible() {
    let store = model("sentencepiece", "visible");
    let mut s = session(&store, 1);
    let value = s.run_line("King").unwrap();
    let text = vecsh::render::Renderer::default().value(&value);
    let marker = text.lines().next().unwrap();
    assert!(marker.starts_with("King (3 tokens: \" \"·"), "{marker}");
}
