//! fastText models, gensim saved vectors and pickles: read as gensim 4.4 reads them.
//! Fixtures and gensim's answers come from tests/fixtures/formats/generate.py.

use std::collections::HashMap;
use std::path::PathBuf;

use vecsh::loader::{self, Format, LoadOptions};

use crate::util::{
    assert_close, floats, json, load, load_err as err, opts, ranked, strings, vecsh, Loaded,
};

fn fixture(name: &str) -> PathBuf {
    crate::util::fixture("formats", name)
}

fn expected(name: &str) -> serde_json::Value {
    json(&fixture(&format!("expected/{name}.json")))
}

/// Every checked word's vector equals gensim's `load_facebook_vectors(path)[word]`.
fn vocabulary_matches_gensim(name: &str) -> Loaded {
    let want = expected(name);
    let loaded = load(&fixture(name)).unwrap();
    let words: Vec<String> = want["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(loaded.words, words, "{name}: vocabulary in file order");
    let dims = want["dims"].as_u64().unwrap() as usize;
    assert_eq!(loaded.report.dims, dims);
    let index: HashMap<&str, usize> = loaded
        .words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i))
        .collect();
    for (word, vector) in want["vectors"].as_object().unwrap() {
        let i = index[word.as_str()];
        assert_close(
            &loaded.vectors[i * dims..(i + 1) * dims],
            &floats(vector),
            &format!("{name}: {word}"),
        );
    }
    let sub = loaded.report.subwords.clone().unwrap();
    assert_eq!(sub.minn as u64, want["minn"].as_u64().unwrap());
    assert_eq!(sub.maxn as u64, want["maxn"].as_u64().unwrap());
    assert_eq!(sub.buckets as u64, want["buckets"].as_u64().unwrap());
    assert_eq!(loaded.ngrams.len(), sub.buckets * dims);
    assert_eq!(loaded.report.format, Format::FastTextBin);
    loaded
}

#[test]
fn fasttext_current_layout_version_12_cbow() {
    let loaded = vocabulary_matches_gensim("toy-model.bin");
    assert_eq!(
        loaded.report.subwords.unwrap().model,
        "fastText cbow (version 12)"
    );
}

#[test]
fn fasttext_version_11_skipgram() {
    let loaded = vocabulary_matches_gensim("lee_fasttext_new.bin");
    assert_eq!(
        loaded.report.subwords.unwrap().model,
        "fastText skipgram (version 11)"
    );
}

#[test]
fn fasttext_pre_2017_layout_with_non_ascii_words() {
    let loaded = vocabulary_matches_gensim("non_ascii_fasttext.bin");
    assert_eq!(
        loaded.report.subwords.unwrap().model,
        "fastText skipgram (pre-2017 layout)"
    );
}

#[test]
fn fasttext_written_by_gensim_cbow_and_without_ngrams() {
    vocabulary_matches_gensim("small_cbow.bin");
    let loaded = vocabulary_matches_gensim("small_maxn0.bin");
    assert_eq!(loaded.report.subwords.unwrap().buckets, 0);
}

#[test]
fn fasttext_words_that_are_not_utf8_are_kept_lossily() {
    let loaded = load(&fixture("cp852_fasttext.bin")).unwrap();
    // Lossy decoding can make two words equal; as for every format the first is kept.
    assert_eq!(loaded.report.words + loaded.report.duplicates, 171);
    assert!(loaded.report.lossy_words > 0);
}

#[test]
fn supervised_models_are_refused_clearly() {
    assert_eq!(
        err(&fixture("supervised.bin")),
        format!(
            "{}: byte offset 64: this is a supervised fastText model (a classifier, 1 labels): it has no word vectors to explore",
            fixture("supervised.bin").display()
        )
    );
}

#[test]
fn quantized_models_are_refused_clearly() {
    // toy-model.bin with the quant_input flag set, as fastText's `quantize` writes it.
    let mut bytes = std::fs::read(fixture("toy-model.bin")).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let at = quant_flag_offset(&bytes);
    bytes[at] = 1;
    let path = dir.path().join("model.ftz");
    std::fs::write(&path, &bytes).unwrap();
    let msg = err(&path);
    assert!(msg.contains("quantized fastText model (.ftz)"), "{msg}");
    assert!(msg.contains(&format!("byte offset {}", at + 1)), "{msg}");
}

/// Offset of the byte after the dictionary in a current-layout model without labels.
fn quant_flag_offset(bytes: &[u8]) -> usize {
    let size = i32::from_le_bytes(bytes[64..68].try_into().unwrap()) as usize;
    let mut at = 64 + 12 + 16;
    for _ in 0..size {
        at += bytes[at..].iter().position(|&b| b == 0).unwrap() + 1 + 9;
    }
    at
}

#[test]
fn truncated_models_say_where() {
    let bytes = std::fs::read(fixture("toy-model.bin")).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("cut.bin");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let msg = err(&path);
    assert!(msg.contains("file ends inside the input matrix"), "{msg}");
    std::fs::write(&path, &bytes[..40]).unwrap();
    let msg = err(&path);
    assert!(
        msg.ends_with("byte offset 40: file ends inside the header"),
        "{msg}"
    );
}

#[test]
fn newer_versions_are_refused_with_the_version() {
    let mut bytes = std::fs::read(fixture("toy-model.bin")).unwrap();
    bytes[4..8].copy_from_slice(&13i32.to_le_bytes());
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("new.bin");
    std::fs::write(&path, &bytes).unwrap();
    assert!(err(&path).ends_with(
        "byte offset 4: fastText model version 13 is newer than this vecsh reads (up to 12)"
    ));
}

#[test]
fn limit_keeps_the_first_words() {
    let opts = LoadOptions {
        limit: Some(5),
        ..LoadOptions::default()
    };
    let mut words = Vec::new();
    let report = loader::load(&fixture("toy-model.bin"), &opts, &|_, _| {}, &mut |b| {
        words.extend(b.words);
        Ok(())
    })
    .unwrap();
    assert_eq!(report.words, 5);
    assert_eq!(words, ["the", "of", "and", "in", "as"]);
}

#[test]
fn gzipped_models_are_refused_clearly() {
    use std::io::Write;
    let bytes = std::fs::read(fixture("non_ascii_fasttext.bin")).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("model.bin.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    assert!(err(&path).ends_with("this is a gzipped fastText model (.bin): decompress it first (gunzip), or load the .vec file"));
}

// ---------------------------------------------------------------------------------------
// Subword vectors from the index
// ---------------------------------------------------------------------------------------

fn store(name: &str, cache: &tempfile::TempDir) -> vecsh::index::Store {
    vecsh::index::Store::open(
        &fixture(name),
        &opts(cache.path()),
        &vecsh::progress::Silent,
    )
    .unwrap()
    .0
}

#[test]
fn unknown_words_get_gensims_vector_from_their_ngrams() {
    let cache = tempfile::TempDir::new().unwrap();
    let mut checked = 0;
    for name in [
        "toy-model.bin",
        "lee_fasttext_new.bin",
        "non_ascii_fasttext.bin",
        "small_cbow.bin",
        "small_maxn0.bin",
    ] {
        let want = expected(name);
        let store = store(name, &cache);
        for (word, answer) in want["unknown"].as_object().unwrap() {
            assert_eq!(
                store.id(word),
                None,
                "{name}: {word} is not in the vocabulary"
            );
            let got = store.subword_mean(word);
            if answer.is_null() {
                assert_eq!(got, None, "{name}: {word} has no n-grams: stays unknown");
                continue;
            }
            assert_close(
                &got.unwrap_or_else(|| panic!("{name}: no vector for {word}")),
                &floats(&answer["vector"]),
                &format!("{name}: unknown {word}"),
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}

#[test]
fn governmnet_is_close_to_government_as_in_gensim() {
    let cache = tempfile::TempDir::new().unwrap();
    let store = store("lee_fasttext_new.bin", &cache);
    let oov = store.subword_vector("governmnet").unwrap();
    let known = store.vector(store.id("government").unwrap()).unwrap();
    let sim: f32 = oov.iter().zip(known.iter()).map(|(a, b)| a * b).sum();
    // gensim 4.4: kv.similarity('governmnet', 'government') = 0.97492546
    assert!((sim - 0.974_925_46).abs() < 1e-5, "{sim}");
    let sub = store.subwords().unwrap();
    assert_eq!((sub.minn, sub.maxn, sub.buckets), (3, 6, 1000));
}

#[test]
fn models_without_ngrams_leave_unknown_words_unknown() {
    let cache = tempfile::TempDir::new().unwrap();
    let store = store("small_maxn0.bin", &cache);
    assert_eq!(store.subwords().unwrap().buckets, 0);
    assert_eq!(store.subword_vector("governmnet"), None);
}

#[test]
fn the_ngram_table_is_checksummed_with_the_rest() {
    let cache = tempfile::TempDir::new().unwrap();
    let store = store("lee_fasttext_new.bin", &cache);
    let report = store.verify().unwrap();
    assert!(
        report
            .tables
            .iter()
            .any(|(name, problem)| name == "ngrams" && problem.is_none()),
        "{:?}",
        report.tables
    );
}

// ---------------------------------------------------------------------------------------
// Unknown words everywhere a word goes
// ---------------------------------------------------------------------------------------

use vecsh::eval::{Session, Value};

fn session(store: &vecsh::index::Store) -> Session<'_> {
    crate::util::session(store, 5)
}

/// gensim's answer: same words in the same order (near-ties of the 2-d toy models may swap),
/// scores within 1e-4.
fn assert_same_ranking(got: &[(String, f32)], want: &serde_json::Value, what: &str) {
    crate::util::assert_same_ranking(got, &crate::util::pairs(want), 1e-4, what)
}

#[test]
fn unknown_words_have_gensims_neighbours() {
    let cache = tempfile::TempDir::new().unwrap();
    let mut checked = 0;
    for name in [
        "toy-model.bin",
        "lee_fasttext_new.bin",
        "non_ascii_fasttext.bin",
        "small_cbow.bin",
    ] {
        let want = expected(name);
        let store = store(name, &cache);
        let mut s = session(&store);
        for (word, answer) in want["unknown"].as_object().unwrap() {
            if answer.is_null() {
                continue;
            }
            let value = s.run_line(&format!("\"{word}\"")).unwrap();
            assert_same_ranking(
                &ranked(&value),
                &answer["neighbours"],
                &format!("{name}: {word}"),
            );
            let Value::Neighbours { subwords, .. } = &value else {
                unreachable!()
            };
            assert_eq!(subwords.len(), 1);
            assert_eq!(&subwords[0].word, word);
            checked += 1;
        }
        for (word, answer) in want["neighbours"].as_object().unwrap() {
            let value = s.run_line(&format!("\"{word}\"")).unwrap();
            assert_same_ranking(&ranked(&value), answer, &format!("{name}: {word}"));
        }
    }
    assert!(checked >= 20, "{checked}");
}

#[test]
fn unknown_words_work_in_arithmetic_sim_odd_and_cosmul_as_in_gensim() {
    let cache = tempfile::TempDir::new().unwrap();
    let want = expected("lee_fasttext_new.bin");
    let store = store("lee_fasttext_new.bin", &cache);
    let mut s = session(&store);
    let exprs = want["expressions"].as_object().unwrap();
    for line in [
        "governmnet - government + country",
        "cosmul(governmnet - government + country)",
    ] {
        let value = s.run_line(line).unwrap();
        assert_same_ranking(&ranked(&value), &exprs[line], line);
    }
    match s.run_line("sim(governmnet, government)").unwrap() {
        Value::Scalar {
            value, subwords, ..
        } => {
            let want = exprs["sim(governmnet, government)"].as_f64().unwrap();
            assert!((value - want).abs() < 1e-5, "{value} vs {want}");
            assert_eq!(subwords[0].word, "governmnet");
        }
        other => panic!("{other:?}"),
    }
    match s
        .run_line("odd(governmnet, government, country, people)")
        .unwrap()
    {
        Value::Odd { word, .. } => assert_eq!(
            word.as_deref(),
            exprs["odd(governmnet, government, country, people)"].as_str()
        ),
        other => panic!("{other:?}"),
    }
    // Named results keep the subword vector.
    s.run_line("let g = governmnet").unwrap();
    let via_name = ranked(&s.run_line("g - government + country").unwrap());
    assert_same_ranking(
        &via_name,
        &exprs["governmnet - government + country"],
        "via name",
    );
}

#[test]
fn unknown_words_are_marked_in_json_with_the_hint() {
    let cache = tempfile::TempDir::new().unwrap();
    let store = store("lee_fasttext_new.bin", &cache);
    let mut s = session(&store);
    let json = serde_json::to_value(s.run_line("governmnet").unwrap()).unwrap();
    assert_eq!(
        json["subwords"],
        serde_json::json!([{"word": "governmnet", "oov": true, "hint": "did you mean 'government'?"}])
    );
    // A vocabulary word carries no mark.
    let json = serde_json::to_value(s.run_line("government").unwrap()).unwrap();
    assert!(json.get("subwords").is_none(), "{json}");
}

#[test]
fn subwords_off_and_models_without_ngrams_keep_unknown_words_unknown() {
    let cache = tempfile::TempDir::new().unwrap();
    let store_ = store("lee_fasttext_new.bin", &cache);
    let mut s = session(&store_);
    assert!(s.run_line("governmnet").is_ok());
    s.run_line(":subwords off").unwrap();
    let err = s.run_line("governmnet").unwrap_err();
    assert_eq!(err.message, "unknown word 'governmnet'");
    assert_eq!(err.help.as_deref(), Some("did you mean 'government'?"));
    s.run_line(":subwords on").unwrap();
    assert!(s.run_line("governmnet").is_ok());

    let store_ = store("small_maxn0.bin", &cache);
    let mut s = session(&store_);
    assert_eq!(
        s.run_line("governmnet").unwrap_err().message,
        "unknown word 'governmnet'"
    );
}

#[test]
fn the_rendered_table_marks_unknown_words() {
    let cache = tempfile::TempDir::new().unwrap();
    let store = store("lee_fasttext_new.bin", &cache);
    let mut s = session(&store);
    let r = vecsh::render::Renderer::default();
    let text = r.value(&s.run_line("governmnet").unwrap());
    assert!(
        text.starts_with("governmnet (subwords) · did you mean 'government'?\n 1 efforts"),
        "{text}"
    );
    let text = r.value(
        &s.run_line("odd(governmnet, government, country, people)")
            .unwrap(),
    );
    assert!(text.contains("governmnet (subwords)"), "{text}");
}

#[test]
fn command_line_subwords_flag_json_mark_and_info() {
    let cache = tempfile::TempDir::new().unwrap();
    let model = fixture("lee_fasttext_new.bin");
    let out = vecsh(cache.path())
        .arg(&model)
        .args(["--json", "-k", "1", "-e", "governmnet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["subwords"][0]["oov"], true);
    assert_eq!(json["neighbours"][0]["word"], "efforts");

    let out = vecsh(cache.path())
        .arg(&model)
        .args(["--subwords", "off", "-e", "governmnet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown word 'governmnet'"), "{stderr}");

    let out = vecsh(cache.path())
        .arg("info")
        .arg(&model)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "subwords  fastText skipgram (version 11): n-grams of 3–6 characters in 1,000 buckets"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("format    fastText model"), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// Pickles and gensim's saved vectors
// ---------------------------------------------------------------------------------------

#[test]
fn pickled_dicts_of_lists_tuples_and_arrays_protocols_2_to_5() {
    let want = expected("pickles");
    let want = want.as_object().unwrap();
    for name in [
        "dict_list_p2.pkl",
        "dict_tuple_p3.pkl",
        "dict_f32_p4.pkl",
        "dict_f64_bytes_p5.pkl",
        "ordered_f32_p2.pkl",
    ] {
        let loaded = load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.report.format, Format::Pickle, "{name}");
        let order = [
            "king", "queen", "man", "woman", "paris", "france", "rome", "italy", "naïve",
        ];
        assert_eq!(loaded.words, order, "{name}: in insertion order");
        for (i, word) in order.iter().enumerate() {
            let vector = &want[*word];
            assert_close(
                &loaded.vectors[i * 6..(i + 1) * 6],
                &floats(vector),
                &format!("{name}: {word}"),
            );
        }
    }
}

#[test]
fn gensim_keyed_vectors_and_models_equal_gensim() {
    let want = expected("gensim");
    let cache = tempfile::TempDir::new().unwrap();
    for name in ["inline.kv", "sidecar.kv", "w2v.model", "ft.model"] {
        let w = &want[name];
        let loaded = load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.report.format, Format::Gensim, "{name}");
        let words = strings(&w["words"]);
        assert_eq!(loaded.words, words, "{name}: key → index order");
        let dims = loaded.report.dims;
        for (i, row) in w["vectors"].as_array().unwrap().iter().enumerate() {
            assert_close(
                &loaded.vectors[i * dims..(i + 1) * dims],
                &floats(row),
                &format!("{name}: row {i}"),
            );
        }
        let store = store(name, &cache);
        let mut s = session(&store);
        for (word, answer) in w["neighbours"].as_object().unwrap() {
            let value = s.run_line(&format!("\"{word}\"")).unwrap();
            assert_same_ranking(&ranked(&value), answer, &format!("{name}: {word}"));
        }
        if name == "ft.model" {
            assert_eq!(loaded.report.subwords.as_ref().unwrap().buckets, 300);
            for (word, vector) in w["unknown"].as_object().unwrap() {
                assert_close(
                    &store.subword_mean(word).unwrap(),
                    &floats(vector),
                    &format!("ft.model: unknown {word}"),
                );
            }
        }
    }
}

#[test]
fn gensim_3_files_are_read_or_refused_naming_the_version() {
    // gensim 3.8's own test model: gensim 4.4 loads it as the words t, e, s × 300 dims.
    let loaded = load(&fixture("gensim-3.8.0.w2v")).unwrap();
    assert_eq!(loaded.report.format, Format::Gensim);
    assert_eq!(loaded.words, ["t", "e", "s"]);
    assert_eq!(loaded.report.dims, 300);
}

fn write_tmp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn hostile_pickles_are_refused_and_nothing_runs() {
    let dir = tempfile::TempDir::new().unwrap();
    let marker = dir.path().join("pwned");
    // pickle.dumps of a __reduce__ returning (os.system, ("touch <marker>",)), protocol 2 and 4.
    let command = format!("touch {}", marker.display());
    let mut p2 = b"\x80\x02cposix\nsystem\nq\x00X".to_vec();
    p2.extend_from_slice(&(command.len() as u32).to_le_bytes());
    p2.extend_from_slice(command.as_bytes());
    p2.extend_from_slice(b"q\x01\x85q\x02Rq\x03.");
    let mut p4 = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c".to_vec();
    p4.push(command.len() as u8);
    p4.extend_from_slice(command.as_bytes());
    p4.extend_from_slice(b"\x85R.");
    for (name, bytes, what) in [
        ("p2.pkl", &p2, "posix.system"),
        ("p4.pkl", &p4, "os.system"),
    ] {
        let path = write_tmp(&dir, name, bytes);
        let msg = err(&path);
        assert!(
            msg.contains(&format!("this pickle calls {what}; vecsh never runs code")),
            "{msg}"
        );
        assert!(!marker.exists(), "the command ran");
    }
    // A dict whose value is built by eval(): refused too, inside a valid-looking dict.
    let mut nested =
        b"\x80\x04}\x8c\x04king\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85Rs.".to_vec();
    let path = write_tmp(&dir, "eval.pkl", &nested);
    assert!(err(&path).contains("calls builtins.eval"));
    nested.clear();

    // Deep nesting: 100,000 nested lists.
    let mut deep = b"\x80\x04".to_vec();
    for _ in 0..100_000 {
        deep.extend_from_slice(b"]");
    }
    for _ in 0..99_999 {
        deep.extend_from_slice(b"a");
    }
    deep.push(b'.');
    let path = write_tmp(&dir, "deep.pkl", &deep);
    assert!(
        err(&path).contains("nests deeper than 1000 levels"),
        "{}",
        err(&path)
    );
    // Deep nesting by marks.
    let mut marks = b"\x80\x04".to_vec();
    marks.extend(std::iter::repeat_n(b'(', 100_000));
    let path = write_tmp(&dir, "marks.pkl", &marks);
    assert!(err(&path).contains("nests deeper"), "{}", err(&path));

    // Huge declared lengths: a 2^60-byte string and a 2^60-byte bytes object.
    for (name, op) in [("str.pkl", 0x8du8), ("bytes.pkl", 0x8e)] {
        let mut huge = vec![0x80, 0x04, op];
        huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
        huge.extend_from_slice(b"abc.");
        let path = write_tmp(&dir, name, &huge);
        let msg = err(&path);
        assert!(
            msg.contains("declares a length of 1152921504606846976 bytes"),
            "{msg}"
        );
    }
    // Memo references to nothing, stack underflow, no STOP: errors, not panics.
    for (i, bytes) in [
        &b"\x80\x04h\x07."[..],
        b"\x80\x04a.",
        b"\x80\x04]",
        b"\x80\x04\x85.",
    ]
    .iter()
    .enumerate()
    {
        let path = write_tmp(&dir, &format!("bad{i}.pkl"), bytes);
        let _ = err(&path);
    }
}

/// `vecsh eval` keeps subwords off, as gensim's evaluations skip unknown words: on a fastText
/// model, a pair with a misspelled word is counted as unknown, not scored from its n-grams.
#[test]
fn eval_counts_unknown_words_as_unknown_not_from_subwords() {
    let cache = tempfile::TempDir::new().unwrap();
    let pairs = cache.path().join("pairs.tsv");
    std::fs::write(
        &pairs,
        "governmnet\tgovernment\t9\nthe\tof\t1\nsaid\twould\t3\n",
    )
    .unwrap();
    let out = vecsh(cache.path())
        .args(["eval", "similarity"])
        .arg(fixture("lee_fasttext_new.bin"))
        .arg(&pairs)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["pairs"], 3, "{json}");
    assert_eq!(json["unknown"], 1, "{json}");
    assert_eq!(json["used"], 2, "{json}");
}
