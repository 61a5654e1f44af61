//! Hugging Face models (issue 26): safetensors matrices named by their tokenizer.json. Token
//! neighbours against numpy's exact cosine over the same matrix (tests/fixtures/models, made by
//! its gen.py), every shown token typed back through the real parser, rows read in place, the
//! companions' proof, and each bad input a clear error naming the file.

use std::path::{Path, PathBuf};

use vecsh::ast::{ExprKind, Statement};
use vecsh::index::{Origin, Store};
use vecsh::loader::LoadOptions;
use vecsh::search::Query;

use crate::util;

const FIXTURES: [&str; 7] = [
    "glove20k",
    "bpe",
    "bpe-sharded",
    "wordpiece",
    "m2v-int8",
    "m2v-mapped",
    "sentencepiece",
];

fn models_dir(name: &str) -> PathBuf {
    util::fixture("models", name)
}

fn expected() -> serde_json::Value {
    util::json(&util::fixture("models", "expected.json"))
}

/// Opens a model directory (or file) as `vecsh PATH` does, with the index cache in `cache`.
fn open_model(path: &Path, cache: &Path, load: LoadOptions) -> (Store, Origin) {
    let mut opts = util::opts(cache);
    opts.load = load;
    let source = vecsh::loader::primary_file(path, &opts.load);
    Store::open(&source, &opts, &vecsh::progress::Silent).unwrap()
}

/// Token neighbours equal numpy's exact cosine over the same matrix (f16 and bf16 converted as
/// numpy converts them, int8 as floats; padding rows out), rank by rank to 1e-5; where numpy's
/// answer ties, either token of the tie.
#[test]
fn token_neighbours_equal_numpys_exact_cosine() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = expected();
    for name in FIXTURES {
        let want = &expected["fixtures"][name];
        let (store, _) = open_model(&models_dir(name), tmp.path(), LoadOptions::default());
        let model = store.model().expect("a model");
        assert_eq!(
            store.len(),
            want["vocab_size"].as_u64().unwrap() as usize,
            "{name}"
        );
        assert_eq!(model.tensor, want["tensor"].as_str().unwrap(), "{name}");
        assert_eq!(model.dtype, want["dtype"].as_str().unwrap(), "{name}");
        assert_eq!(
            model.kind.to_string(),
            want["kind"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            model.tokenizer_model,
            want["tokenizer_model"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            model.normalize,
            want["normalize"].as_bool().unwrap(),
            "{name}"
        );
        assert_eq!(model.unk, want["unk"].as_u64().map(|u| u as u32), "{name}");
        // Special and byte tokens are hidden (this script's byte ids are a subset of vecsh's:
        // vecsh also hides single whitespace bytes).
        for id in want["special_ids"]
            .as_array()
            .unwrap()
            .iter()
            .chain(want["byte_ids"].as_array().unwrap())
        {
            let id = id.as_u64().unwrap() as u32;
            assert!(model.hidden.contains(&id), "{name}: id {id} not hidden");
        }
        for q in want["neighbours"].as_array().unwrap() {
            let id = q["id"].as_u64().unwrap() as u32;
            let all = q["top30_all"].as_array().unwrap();
            let numpy: Vec<(u32, f64)> = all
                .iter()
                .map(|h| (h[0].as_u64().unwrap() as u32, h[2].as_f64().unwrap()))
                .collect();
            let v = store.vector(id).unwrap().into_owned();
            let hits = store
                .exact_top_k(&Query {
                    vector: &v,
                    k: 10,
                    exclude: &[id],
                    limit: store.len(),
                })
                .unwrap();
            assert_eq!(hits.len(), 10);
            for (rank, hit) in hits.iter().enumerate() {
                let (want_id, want_score) = numpy[rank];
                assert!(
                    (f64::from(hit.score) - want_score).abs() <= 1e-5,
                    "{name}: token {id} rank {rank}: {} vs numpy's {want_score}",
                    hit.score
                );
                if hit.id != want_id {
                    // A tie in numpy's answer: the token vecsh gave has the same cosine there.
                    let theirs = numpy.iter().find(|(i, _)| *i == hit.id);
                    assert!(
                        theirs.is_some_and(|(_, s)| (s - want_score).abs() <= 1e-6),
                        "{name}: token {id} rank {rank}: id {} vs numpy's {want_id}",
                        hit.id
                    );
                }
            }
        }
    }
}

/// The word a typed line denotes, through the real parser.
fn parsed_word(line: &str) -> Option<String> {
    match vecsh::parse::parse_statement(line).ok()? {
        Statement::Expr(e) => match e.kind {
            ExprKind::Word { text, .. } | ExprKind::Number { text, .. } => Some(text),
            _ => None,
        },
        _ => None,
    }
}

/// Every token of every fixture, shown as answers show it, typed back (bare, or quoted where
/// the language needs it: `##ing`, `-`, `<|endoftext|>`, `\n`) and parsed, is its own row;
/// every shown form is unique.
#[test]
fn every_shown_token_types_back_to_its_row() {
    let tmp = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let (store, _) = open_model(&models_dir(name), tmp.path(), LoadOptions::default());
        let mut seen = std::collections::HashSet::new();
        let mut count = 0;
        for (id, word) in store.words() {
            assert!(seen.insert(word.to_owned()), "{name}: '{word}' twice");
            let typed = vecsh::repl::line::typed_form(word);
            let back = parsed_word(&typed).unwrap_or_else(|| {
                panic!("{name}: token {id} '{word}' typed as {typed} does not parse as a word")
            });
            assert_eq!(
                store.id(&back),
                Some(id),
                "{name}: token {id} '{word}' typed as {typed} reads back as '{back}'"
            );
            count += 1;
        }
        assert_eq!(count, store.len(), "{name}");
    }
}

/// Shown forms of each tokenizer kind: a word-initial token is the word, a piece is marked, a
/// byte escaped, a special token as it is.
#[test]
fn shown_forms_of_each_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = expected();
    let check = |name: &str, pairs: &[(&str, &str)]| {
        let (store, _) = open_model(&models_dir(name), tmp.path(), LoadOptions::default());
        let raw_ids: std::collections::HashMap<String, u32> = {
            let t = util::json(&models_dir(name).join("tokenizer.json"));
            t["model"]["vocab"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap() as u32))
                .collect()
        };
        for (raw, shown) in pairs {
            let id = raw_ids[*raw];
            assert_eq!(store.word(id), Some(*shown), "{name}: {raw}");
        }
        let _ = &expected;
    };
    check(
        "bpe",
        &[
            ("Ġking", "king"),
            ("king", "##king"),
            ("<|endoftext|>", "<|endoftext|>"),
            ("Ċ", "\n"),
        ],
    );
    check(
        "sentencepiece",
        &[
            ("▁king", "king"),
            ("<0x0A>", "\n"),
            ("<0xE2>", "\\xe2"),
            ("<s>", "<s>"),
        ],
    );
    check("wordpiece", &[("king", "king"), ("[CLS]", "[CLS]")]);
}

/// F32, F16 and BF16 matrices are read in place (offsets stored, no f32 copy); int8 is copied.
/// model2vec's weights are each row's, as the file has them.
#[test]
fn rows_are_read_in_place_and_weights_kept() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, in_place) in [
        ("bpe", true),
        ("wordpiece", true),
        ("sentencepiece", true),
        ("m2v-int8", false),
    ] {
        let (store, _) = open_model(&models_dir(name), tmp.path(), LoadOptions::default());
        assert_eq!(store.rows_in_source(), in_place, "{name}");
    }
    // Weights: as the `weights` tensor holds them, by token id.
    let path = models_dir("m2v-int8").join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = file.tensor("weights").unwrap();
    let weights: Vec<f32> = w
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let (store, _) = open_model(&models_dir("m2v-int8"), tmp.path(), LoadOptions::default());
    assert!(store.model().unwrap().has_weights);
    for id in [0u32, 1, 7, 500, store.len() as u32 - 1] {
        assert_eq!(store.token_weight(id).unwrap(), Some(weights[id as usize]));
    }
    assert_eq!(store.token_weight(store.len() as u32).unwrap(), None);
    let (plain, _) = open_model(&models_dir("bpe"), tmp.path(), LoadOptions::default());
    assert_eq!(plain.token_weight(3).unwrap(), None);
}

/// `vecsh DIR` and `vecsh DIR/model.safetensors` are one index; a sharded model's directory is
/// the shard holding its embedding.
#[test]
fn a_model_directory_is_its_safetensors_file() {
    let load = LoadOptions::default();
    let dir = models_dir("bpe");
    assert_eq!(
        vecsh::loader::primary_file(&dir, &load),
        dir.join("model.safetensors")
    );
    let sharded = models_dir("bpe-sharded");
    assert_eq!(
        vecsh::loader::primary_file(&sharded, &load),
        sharded.join("model-00002-of-00002.safetensors")
    );
    // The shard index itself opens the model it indexes.
    let index = sharded.join("model.safetensors.index.json");
    assert_eq!(
        vecsh::loader::primary_file(&index, &load),
        sharded.join("model-00002-of-00002.safetensors")
    );
    assert_eq!(util::load(&index).unwrap().words.len(), 2000);
}

/// Copies a fixture directory into `to` (a fresh directory named like it).
fn copy_model(name: &str, to: &Path) -> PathBuf {
    let dir = to.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(models_dir(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    dir
}

/// The tokenizer is a companion: editing it rebuilds the index (its words are the rows' names).
#[test]
fn an_edited_tokenizer_rebuilds_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_model("wordpiece", tmp.path());
    let cache = tmp.path().join("cache");
    let (store, origin) = open_model(&dir, &cache, LoadOptions::default());
    assert_eq!(origin, Origin::Built);
    let king = store.id("king").unwrap();
    drop(store);
    let (_, origin) = open_model(&dir, &cache, LoadOptions::default());
    assert_eq!(origin, Origin::Reused);
    let tok = dir.join("tokenizer.json");
    let text = std::fs::read_to_string(&tok).unwrap();
    std::fs::write(&tok, text.replace("\"king\"", "\"kong\"")).unwrap();
    let (store, origin) = open_model(&dir, &cache, LoadOptions::default());
    assert_eq!(origin, Origin::Built);
    assert_eq!(store.id("kong"), Some(king));
    assert_eq!(store.id("king"), None);
}

/// `--tokenizer FILE` (any name) and `--tensor NAME` choose; a wrong `--tensor` lists the
/// tensors with their shapes.
#[test]
fn tokenizer_and_tensor_are_chosen_by_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        models_dir("bpe").join("model.safetensors"),
        dir.join("weights.safetensors"),
    )
    .unwrap();
    std::fs::copy(
        models_dir("bpe").join("tokenizer.json"),
        tmp.path().join("gpt.tok"),
    )
    .unwrap();
    let file = dir.join("weights.safetensors");
    let err = util::load_err(&file);
    assert!(
        err.contains("weights.safetensors") && err.contains("--tokenizer"),
        "{err}"
    );
    let load = LoadOptions {
        tokenizer: Some(tmp.path().join("gpt.tok")),
        ..Default::default()
    };
    let loaded = util::load_with(&file, &load).unwrap();
    assert_eq!(loaded.words.len(), 2000);
    assert_eq!(loaded.report.model.unwrap().tensor, "wte.weight");
    let wrong = LoadOptions {
        tensor: Some("nope".into()),
        ..load.clone()
    };
    let err = util::load_with(&file, &wrong).err().unwrap().to_string();
    assert!(
        err.contains("no tensor 'nope'") && err.contains("wte.weight (BF16, 2000 × 50)"),
        "{err}"
    );
    // A tensor with fewer rows than tokens is the error that says so.
    let small = LoadOptions {
        tensor: Some("wpe.weight".into()),
        ..load
    };
    let err = util::load_with(&file, &small).err().unwrap().to_string();
    assert!(err.contains("does not fit"), "{err}");
}

// ------------------------------------------------------------------------------ bad input

/// A safetensors file with these tensors (name, dtype, shape, bytes), their offsets tiled.
fn safetensors_file(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend_from_slice(bytes);
    }
    let header = serde_json::to_string(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// A directory with the bpe fixture's tokenizer and `model` as its model.safetensors.
fn with_tokenizer(tmp: &Path, name: &str, model: &[u8]) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        models_dir("bpe").join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(dir.join("model.safetensors"), model).unwrap();
    dir.join("model.safetensors")
}

fn bf16_matrix(rows: usize, dims: usize) -> Vec<u8> {
    (0..rows * dims)
        .flat_map(|i| half::bf16::from_f32(((i * 7919) % 97) as f32 - 48.0).to_le_bytes())
        .collect()
}

/// Each bad safetensors file is an error naming the file and what is wrong, never a panic or
/// a huge allocation.
#[test]
fn bad_safetensors_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let good = safetensors_file(&[("wte.weight", "BF16", vec![2000, 4], bf16_matrix(2000, 4))]);
    let path = with_tokenizer(tmp.path(), "good", &good);
    assert_eq!(util::load(&path).unwrap().words.len(), 2000);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() - 10].to_vec(), "truncated"),
        ("header-only", good[..40].to_vec(), "truncated"),
        (
            "overlap",
            {
                let mut h = serde_json::Map::new();
                h.insert("wte.weight".into(), serde_json::json!({"dtype":"BF16","shape":[2000,4],"data_offsets":[0,16000]}));
                h.insert("b".into(), serde_json::json!({"dtype":"BF16","shape":[4],"data_offsets":[15992,16000]}));
                let h = serde_json::to_string(&h).unwrap();
                let mut f = (h.len() as u64).to_le_bytes().to_vec();
                f.extend_from_slice(h.as_bytes());
                f.extend_from_slice(&bf16_matrix(2000, 4));
                f
            },
            "overlap",
        ),
        (
            "past-end",
            {
                let h = r#"{"wte.weight":{"dtype":"BF16","shape":[2000,4],"data_offsets":[0,16000]},"b":{"dtype":"BF16","shape":[4000],"data_offsets":[16000,24000]}}"#;
                let mut f = (h.len() as u64).to_le_bytes().to_vec();
                f.extend_from_slice(h.as_bytes());
                f.extend_from_slice(&bf16_matrix(2000, 4));
                f
            },
            "truncated",
        ),
        (
            "shape",
            {
                let h = r#"{"wte.weight":{"dtype":"BF16","shape":[2000,5],"data_offsets":[0,16000]}}"#;
                let mut f = (h.len() as u64).to_le_bytes().to_vec();
                f.extend_from_slice(h.as_bytes());
                f.extend_from_slice(&bf16_matrix(2000, 4));
                f
            },
            "disagrees",
        ),
        (
            "huge-header",
            {
                let mut f = 100_000_000u64.to_le_bytes().to_vec();
                f.extend_from_slice(b"{\"wte.weight\":{}}");
                f
            },
            "more than vecsh reads",
        ),
        (
            "dtype",
            safetensors_file(&[("wte.weight", "I32", vec![2000, 2], vec![0; 16000])]),
            "F64, F32, F16, BF16 and I8",
        ),
        (
            "too-few-rows",
            safetensors_file(&[("wte.weight", "BF16", vec![1999, 4], bf16_matrix(1999, 4))]),
            "does not fit",
        ),
        (
            "ambiguous",
            safetensors_file(&[
                ("a.weight", "BF16", vec![2000, 4], bf16_matrix(2000, 4)),
                ("b.weight", "BF16", vec![2000, 4], bf16_matrix(2000, 4)),
            ]),
            "several tensors could be the token embedding: a.weight (BF16, 2000 × 4), b.weight (BF16, 2000 × 4)",
        ),
        (
            "no-columns",
            safetensors_file(&[
                ("embeddings", "F32", vec![10, 0], vec![]),
                ("mapping", "I64", vec![2000], vec![0; 16000]),
            ]),
            "rows of no values",
        ),
        (
            "nan",
            {
                let mut m = bf16_matrix(2000, 4);
                m[8..10].copy_from_slice(&half::bf16::NAN.to_le_bytes());
                safetensors_file(&[("wte.weight", "BF16", vec![2000, 4], m)])
            },
            "not finite",
        ),
    ];
    for (name, bytes, want) in cases {
        let path = with_tokenizer(tmp.path(), name, &bytes);
        // Forced: a file whose header fails the sniff is still read as safetensors.
        let load = LoadOptions {
            format: Some(vecsh::loader::Format::Safetensors),
            ..Default::default()
        };
        let err = match util::load_with(&path, &load) {
            Ok(_) => panic!("{name} loaded"),
            Err(e) => e.to_string(),
        };
        assert!(
            // The model file, or (a matrix too small for it) the tokenizer.
            err.contains(&format!("{name}/model.safetensors"))
                || err.contains(&format!("{name}/tokenizer.json")) && want == "does not fit",
            "{name}: {err}"
        );
        assert!(err.contains(want), "{name}: {err}");
    }
}

/// A tokenizer.json that does not parse, or whose vocabulary does not fit the matrix, is an
/// error naming the tokenizer (or the matrix).
#[test]
fn bad_tokenizers_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = safetensors_file(&[("wte.weight", "BF16", vec![2000, 4], bf16_matrix(2000, 4))]);
    let path = with_tokenizer(tmp.path(), "broken", &model);
    std::fs::write(path.with_file_name("tokenizer.json"), "{\"model\": [").unwrap();
    let err = util::load_err(&path);
    assert!(
        err.contains("broken/tokenizer.json") && err.contains("not a tokenizer.json"),
        "{err}"
    );
    // A vocabulary larger than the matrix: said of the tokenizer, before it is laid out.
    let path = with_tokenizer(tmp.path(), "small", &model);
    let small = safetensors_file(&[("wte.weight", "BF16", vec![100, 4], bf16_matrix(100, 4))]);
    std::fs::write(&path, small).unwrap();
    let err = util::load_err(&path);
    assert!(
        err.contains("small/tokenizer.json") && err.contains("does not fit"),
        "{err}"
    );
    // A tokenizer our reader takes but the tokenizers library refuses.
    let path = with_tokenizer(tmp.path(), "refused", &model);
    let mut t = util::json(&path.with_file_name("tokenizer.json"));
    t["pre_tokenizer"] = serde_json::json!({"type": "NoSuchPreTokenizer"});
    std::fs::write(path.with_file_name("tokenizer.json"), t.to_string()).unwrap();
    let err = util::load_err(&path);
    assert!(
        err.contains("refused/tokenizer.json") && err.contains("tokenizers library"),
        "{err}"
    );
}

/// A sharded model with its embedding's shard missing, a directory of PyTorch pickles only, and
/// a directory with a tokenizer and nothing else: each a clear error through the binary.
#[test]
fn missing_shards_and_pickled_weights_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = copy_model("bpe-sharded", tmp.path());
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let (ok, _, err) = util::run(&cache, &[dir.to_str().unwrap(), "-q", "-e", "king"]);
    assert!(!ok);
    assert!(
        err.contains("bpe-sharded")
            && err.contains("model-00002-of-00002.safetensors")
            && err.contains("missing"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let pt = tmp.path().join("pt");
    std::fs::create_dir(&pt).unwrap();
    std::fs::write(pt.join("pytorch_model.bin"), b"\x80\x02}q\x00.").unwrap();
    std::fs::write(pt.join("config.json"), b"{}").unwrap();
    let (ok, _, err) = util::run(&cache, &[pt.to_str().unwrap(), "-q", "-e", "king"]);
    assert!(!ok);
    assert!(
        err.contains("pytorch_model.bin")
            && err.contains("never unpickles")
            && err.contains("safetensors"),
        "{err}"
    );

    let tok_only = tmp.path().join("tok");
    std::fs::create_dir(&tok_only).unwrap();
    std::fs::copy(
        models_dir("bpe").join("tokenizer.json"),
        tok_only.join("tokenizer.json"),
    )
    .unwrap();
    let (ok, _, err) = util::run(&cache, &[tok_only.to_str().unwrap(), "-q", "-e", "king"]);
    assert!(!ok);
    assert!(err.contains("no model.safetensors"), "{err}");
}

/// `vecsh info` says what the model is.
#[test]
fn info_shows_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out, err) = util::run(
        tmp.path(),
        &["info", models_dir("m2v-int8").to_str().unwrap(), "-q"],
    );
    assert!(ok, "{err}");
    for want in [
        "safetensors model",
        "model2vec",
        "embeddings",
        "I8",
        "WordPiece",
        "1,225 tokens",
        "model2vec: weighted mean, normalised",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let (ok, out, err) = util::run(
        tmp.path(),
        &["info", models_dir("sentencepiece").to_str().unwrap(), "-q"],
    );
    assert!(ok, "{err}");
    for want in [
        "transformer embedding",
        "model.embed_tokens.weight",
        "F32",
        "BPE",
        "mean of token rows",
        "208 rows",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
}

/// `--tensor` is part of the index's identity: another tensor of the same file is another
/// index, never the first one's rows.
#[test]
fn another_tensor_is_another_index() {
    let tmp = tempfile::tempdir().unwrap();
    let a = bf16_matrix(2000, 4);
    let mut b = a.clone();
    b.reverse();
    let model = safetensors_file(&[
        ("a.weight", "BF16", vec![2000, 4], a),
        ("b.weight", "BF16", vec![2000, 4], b),
    ]);
    let path = with_tokenizer(tmp.path(), "two", &model);
    let cache = tmp.path().join("cache");
    let with = |name: &str| LoadOptions {
        tensor: Some(name.into()),
        ..Default::default()
    };
    let (first, _) = open_model(&path, &cache, with("a.weight"));
    assert_eq!(first.model().unwrap().tensor, "a.weight");
    let row_a = first.raw_row(5).unwrap().unwrap();
    drop(first);
    let (second, origin) = open_model(&path, &cache, with("b.weight"));
    assert_eq!(origin, Origin::Built);
    assert_eq!(second.model().unwrap().tensor, "b.weight");
    assert_ne!(second.raw_row(5).unwrap().unwrap(), row_a);
}

/// F64 matrices are read as numpy's `astype(float32)` reads them (rounded to nearest), copied
/// into the index (only F32, F16 and BF16 rows are read in place).
#[test]
fn f64_matrices_are_rounded_to_f32() {
    let tmp = tempfile::tempdir().unwrap();
    let values: Vec<f64> = (0..2000 * 3)
        .map(|i| (i as f64 * 0.7310585786300049).sin() / 3.0 + 1e-9)
        .collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let model = safetensors_file(&[("wte.weight", "F64", vec![2000, 3], bytes)]);
    let path = with_tokenizer(tmp.path(), "f64", &model);
    let loaded = util::load(&path).unwrap();
    let want: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    assert_eq!(loaded.vectors, want);
    let (store, _) = open_model(&path, &tmp.path().join("cache"), LoadOptions::default());
    assert!(!store.rows_in_source());
    assert_eq!(store.model().unwrap().dtype, "F64");
}
