//! Issue 26's safetensors models and tokenizers against a hostile tester's inputs, through the
//! command line: damaged safetensors files (truncated, a flipped header byte, overlapping or
//! outlying offsets, a 100 MB header, a shape that disagrees with its bytes, U8/BOOL dtypes), a
//! missing shard, a tokenizer.json that does not parse or does not fit the matrix, tokens a
//! terminal or the language could misread, a mistyped `--tensor`, a pickled-only model directory,
//! a tokenizer edited after the index was built, a closed pipe, and answers compared with numpy's
//! (tests/fixtures/models/expected.json, made by tests/fixtures/models/gen.py). Every damaged
//! file is made here, in a temporary directory, from the committed fixtures.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::util::run;

fn fixture_dir(name: &str) -> PathBuf {
    crate::util::fixture("models", name)
}

fn expected() -> Value {
    crate::util::json(&fixture_dir("expected.json"))
}

/// A copy of fixture directory `name` in a new temporary directory (returned with its path).
fn copy_fixture(name: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new().unwrap();
    let dst = tmp.path().join(name);
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(fixture_dir(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    (tmp, dst)
}

/// A safetensors file's header (as JSON) and its data bytes.
fn read_st(path: &Path) -> (serde_json::Map<String, Value>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header.as_object().unwrap().clone(), bytes[8 + n..].to_vec())
}

/// Writes a header (as given, offsets untouched) and data as a safetensors file.
fn write_st(path: &Path, header: &serde_json::Map<String, Value>, data: &[u8]) {
    let mut h = serde_json::to_vec(header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    std::fs::write(path, out).unwrap();
}

/// Writes tensors (name, dtype, shape, bytes) as a valid safetensors file.
fn write_tensors(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend_from_slice(bytes);
    }
    write_st(path, &header, &data);
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `vecsh ARGS` with a fresh cache: (ok, stdout, stderr).
fn vecsh(args: &[&str]) -> (bool, String, String) {
    let cache = TempDir::new().unwrap();
    run(cache.path(), args)
}

/// The run failed with a short, clear message naming `what`, without a panic.
fn assert_clear_error(out: &(bool, String, String), what: &str) {
    let (ok, stdout, stderr) = out;
    assert!(!ok, "succeeded; stdout: {stdout}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "a backtrace hint: {stderr}"
    );
    assert!(stderr.contains(what), "does not name {what}: {stderr}");
    assert!(stderr.len() < 4000, "a {} byte message", stderr.len());
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

// ------------------------------------------------------------------ damaged safetensors files

#[test]
fn a_truncated_safetensors_file_is_a_clear_error() {
    let (_t, dir) = copy_fixture("bpe");
    let st = dir.join("model.safetensors");
    let len = std::fs::metadata(&st).unwrap().len();
    for cut in [len - 1, len / 2, 100, 7, 0] {
        let f = std::fs::OpenOptions::new().write(true).open(&st).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let out = vecsh(&[&s(&dir), "-e", "king"]);
        assert_clear_error(&out, "model.safetensors");
    }
}

#[test]
fn a_flipped_header_byte_is_a_clear_error() {
    let (_t, dir) = copy_fixture("bpe");
    let st = dir.join("model.safetensors");
    let orig = std::fs::read(&st).unwrap();
    // the JSON's opening brace, a quote, and the length's high byte
    for (at, byte) in [(8usize, 0xFFu8), (9, b'x'), (7, 0x01), (3, 0x40)] {
        let mut b = orig.clone();
        b[at] = byte;
        std::fs::write(&st, &b).unwrap();
        let out = vecsh(&[&s(&dir), "-e", "king"]);
        assert_clear_error(&out, "model.safetensors");
    }
}

#[test]
fn overlapping_or_outlying_offsets_are_a_clear_error() {
    let (_t, dir) = copy_fixture("bpe");
    let st = dir.join("model.safetensors");
    let (header, data) = read_st(&st);
    let wte = header["wte.weight"]["data_offsets"].clone();
    let (a, b) = (wte[0].as_u64().unwrap(), wte[1].as_u64().unwrap());
    for offsets in [
        json!([a - 100, b - 100]),        // overlaps wpe.weight, before it
        json!([a + 2, b + 2]),            // overlaps ln_f.weight, after it
        json!([a, b + 1_000_000]),        // beyond the file
        json!([b, a]),                    // reversed
        json!([a, u64::MAX]),             // overflow
        json!([u64::MAX - 10, u64::MAX]), // overflow
    ] {
        let mut h = header.clone();
        h["wte.weight"]["data_offsets"] = offsets.clone();
        write_st(&st, &h, &data);
        let out = vecsh(&[&s(&dir), "-e", "king"]);
        assert_clear_error(&out, "model.safetensors");
    }
}

#[test]
fn a_100_mb_header_is_refused_without_reading_it() {
    let (_t, dir) = copy_fixture("bpe");
    let st = dir.join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    for n in [100_000_000u64, 100_000_001, u64::MAX, 1 << 40] {
        let mut b = bytes.clone();
        b[..8].copy_from_slice(&n.to_le_bytes());
        std::fs::write(&st, &b).unwrap();
        let out = vecsh(&[&s(&dir), "-e", "king"]);
        assert_clear_error(&out, "model.safetensors");
    }
}

#[test]
fn a_shape_that_disagrees_with_its_bytes_is_a_clear_error() {
    let (_t, dir) = copy_fixture("bpe");
    let st = dir.join("model.safetensors");
    let (header, data) = read_st(&st);
    for shape in [
        json!([2000, 51]),
        json!([1999, 50]),
        json!([2000, 50, 1, 2]),
        json!([4000, 25, 2]),
        json!([u64::MAX, 2]),
        json!([2000, 0]),
    ] {
        let mut h = header.clone();
        h["wte.weight"]["shape"] = shape;
        write_st(&st, &h, &data);
        let out = vecsh(&[&s(&dir), "-e", "king"]);
        assert_clear_error(&out, "model.safetensors");
    }
}

#[test]
fn u8_and_bool_matrices_are_a_clear_error_naming_the_dtype() {
    let (_t, dir) = copy_fixture("bpe");
    let st = dir.join("model.safetensors");
    let (header, data) = read_st(&st);
    for dtype in ["U8", "BOOL"] {
        let mut h = header.clone();
        h["wte.weight"]["dtype"] = json!(dtype);
        h["wte.weight"]["shape"] = json!([2000, 100]);
        write_st(&st, &h, &data);
        let out = vecsh(&[&s(&dir), "-e", "king"]);
        assert_clear_error(&out, dtype);
    }
}

#[test]
fn a_missing_shard_is_a_clear_error_naming_it() {
    let (_t, dir) = copy_fixture("bpe-sharded");
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let out = vecsh(&[&s(&dir), "-e", "king"]);
    assert_clear_error(&out, "model-00002-of-00002.safetensors");
}

#[test]
fn a_shard_index_naming_a_path_outside_the_directory_is_refused() {
    let (t, dir) = copy_fixture("bpe-sharded");
    let outside = t.path().join("outside.safetensors");
    std::fs::rename(dir.join("model-00002-of-00002.safetensors"), &outside).unwrap();
    let index = dir.join("model.safetensors.index.json");
    let mut v = crate::util::json(&index);
    v["weight_map"]["wte.weight"] = json!("../outside.safetensors");
    std::fs::write(&index, serde_json::to_string(&v).unwrap()).unwrap();
    let out = vecsh(&[&s(&dir), "-e", "king"]);
    assert_clear_error(&out, "outside.safetensors");
}

// ------------------------------------------------------------------ tokenizers that do not fit

#[test]
fn a_tokenizer_json_that_does_not_parse_is_a_clear_error() {
    let (_t, dir) = copy_fixture("bpe");
    for garbage in [
        &b"not json"[..],
        b"",
        b"{}",
        b"{\"model\": {\"type\": \"BPE\"}}",
        b"\xff\xfe\x00",
    ] {
        std::fs::write(dir.join("tokenizer.json"), garbage).unwrap();
        let out = vecsh(&[&s(&dir), "-e", "king"]);
        assert_clear_error(&out, "tokenizer.json");
    }
}

#[test]
fn a_tokenizer_larger_than_the_matrix_is_a_clear_error() {
    let (_t, dir) = copy_fixture("wordpiece");
    std::fs::copy(
        fixture_dir("glove20k").join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    let out = vecsh(&[&s(&dir), "-e", "king"]);
    assert_clear_error(&out, "tokenizer.json");
}

#[test]
fn a_directory_with_only_pytorch_model_bin_is_refused_with_a_hint_and_never_unpickled() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    let pwned = tmp.path().join("pwned");
    // protocol 2: os.system("touch PWNED")
    let cmd = format!("touch {}", pwned.display());
    let mut p = b"\x80\x02cposix\nsystem\nq\x00X".to_vec();
    p.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    p.extend_from_slice(cmd.as_bytes());
    p.extend_from_slice(b"q\x01\x85q\x02Rq\x03.");
    std::fs::write(dir.join("pytorch_model.bin"), p).unwrap();
    std::fs::copy(
        fixture_dir("bpe").join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    let out = vecsh(&[&s(&dir), "-e", "king"]);
    assert_clear_error(&out, "safetensors");
    assert!(!pwned.exists(), "the pickle ran");
}

#[test]
fn a_mistyped_tensor_lists_the_candidates_with_their_shapes() {
    let out = vecsh(&[
        &s(&fixture_dir("bpe")),
        "--tensor",
        "wte.weigth",
        "-e",
        "king",
    ]);
    assert_clear_error(&out, "wte.weigth");
    assert!(out.2.contains("wte.weight"), "{}", out.2);
    assert!(out.2.contains("2000"), "no shape: {}", out.2);
}

#[test]
fn a_tokenizer_with_one_huge_id_fails_at_once() {
    let (_t, dir) = hostile_tokens_model(&["[UNK]", "alpha", "beta", "gamma"]);
    let path = dir.join("tokenizer.json");
    let mut v = crate::util::json(&path);
    v["model"]["vocab"]["far"] = json!((1u64 << 24) - 1);
    std::fs::write(&path, v.to_string()).unwrap();
    let start = std::time::Instant::now();
    let out = vecsh(&[&s(&dir), "-e", "alpha"]);
    assert_clear_error(&out, "tokenizer");
    let took = start.elapsed();
    assert!(took.as_secs_f64() < 2.0, "{took:?} before the error");
}

#[test]
fn a_directory_without_a_model_is_a_clear_error() {
    let tmp = TempDir::new().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let junk = tmp.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("readme.txt"), "hello").unwrap();
    for dir in [&empty, &junk] {
        let out = vecsh(&[&s(dir), "-e", "king"]);
        assert_clear_error(&out, &s(dir));
        assert!(!out.2.contains("os error"), "{}", out.2);
        assert!(out.2.contains("model.safetensors"), "{}", out.2);
    }
}

#[test]
fn a_byte_level_model_can_be_exported() {
    let out = vecsh(&["export", &s(&fixture_dir("bpe"))]);
    assert!(out.0, "{}", out.2);
    assert!(out.1.lines().count() > 1000);
}

// ------------------------------------------------------------------ tokens a terminal or the language could misread

/// A single-tensor model whose WordLevel tokens are hostile, with an F32 matrix: token i's row is
/// e_i + 0.5 e_0 (so every row is distinct and neighbours are deterministic).
fn hostile_tokens_model(tokens: &[&str]) -> (TempDir, PathBuf) {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("hostile");
    std::fs::create_dir(&dir).unwrap();
    let n = tokens.len();
    let mut vocab = serde_json::Map::new();
    for (i, t) in tokens.iter().enumerate() {
        vocab.insert(t.to_string(), json!(i));
    }
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    let dim = n + 1;
    let mut m = vec![0f32; n * dim];
    for i in 0..n {
        m[i * dim] = 0.5;
        m[i * dim + i + 1] = 1.0;
    }
    write_tensors(
        &dir.join("model.safetensors"),
        &[("embeddings", "F32", vec![n, dim], f32_bytes(&m))],
    );
    (tmp, dir)
}

const HOSTILE_TOKENS: &[&str] = &[
    "[UNK]",
    "plain",
    "\u{1b}[31mred",
    "\u{202e}evil",
    "#hash",
    "-neg",
    "--",
    "-",
    "\"quoted\"",
    "back\\slash",
    "a\u{7}bell",
    "\u{0}nul",
    "##ing",
    "Ġspace",
    "▁meta",
    "<0x0A>",
    "king",
    "(paren",
    "1e5",
    "3",
    ":vec",
    "let",
    "a,b",
    "x=y",
    "\n",
    "\\n",
    "\\x41",
    "trail ",
    " lead",
    "",
    "a b",
    "\u{feff}bom",
    "\u{200b}zw",
];

#[test]
fn hostile_tokens_never_reach_the_terminal_raw() {
    let (_t, dir) = hostile_tokens_model(HOSTILE_TOKENS);
    let out = vecsh(&[&s(&dir), "-k", "30", "-e", "plain"]);
    assert!(out.0, "{}", out.2);
    for bad in ['\u{1b}', '\u{202e}', '\u{7}', '\u{0}'] {
        assert!(!out.1.contains(bad), "raw {:?} on stdout: {:?}", bad, out.1);
    }
}

#[test]
fn every_hostile_token_shown_can_be_typed_back() {
    let (_t, dir) = hostile_tokens_model(HOSTILE_TOKENS);
    let out = vecsh(&[
        &s(&dir),
        "--json",
        "--all-tokens",
        "-k",
        "60",
        "-e",
        "plain",
    ]);
    assert!(out.0, "{}", out.2);
    let v: Value = serde_json::from_str(out.1.lines().next().unwrap()).unwrap();
    let shown: Vec<String> = v["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["word"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown.len(), HOSTILE_TOKENS.len() - 1, "{shown:?}");
    // every token, typed back quoted with the language's escapes, is that token: `:vec` gives
    // its row, whose one 1.0 (beside the shared 0.5) says which token it is.
    for w in &shown {
        let typed = quoted(w);
        let out = vecsh(&[&s(&dir), "--json", "-e", &format!(":vec {typed}")]);
        assert!(out.0, "{w:?} typed as {typed}: {}", out.2);
        let v: Value = serde_json::from_str(out.1.lines().next().unwrap()).unwrap();
        let values = crate::util::floats(&v["values"]);
        let one = values.iter().position(|&x| x == 1.0).unwrap();
        assert_eq!(HOSTILE_TOKENS[one - 1], w, "typed as {typed}");
    }
}

/// `w` in double quotes with the lexer's escapes: `\\`, `\"`, `\n`, `\t`, `\r`, `\0`, and `\u{..}`
/// for any other control or format character.
fn quoted(w: &str) -> String {
    let mut out = String::from("\"");
    for c in w.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
#[ignore = "finding 8: a literal backslash is shown unescaped: tokens \"\\n\" and \"\\\\n\" both show \\n"]
fn distinct_tokens_show_distinctly_in_the_table() {
    let (_t, dir) = hostile_tokens_model(HOSTILE_TOKENS);
    let out = vecsh(&[&s(&dir), "--all-tokens", "-k", "60", "-e", "plain"]);
    assert!(out.0, "{}", out.2);
    // ` 1 WORD   0.200 bar`: the word is between the rank and the score, padded
    let shown: Vec<&str> = out
        .1
        .lines()
        .map(|l| {
            let l = l.trim_start();
            let rest = &l[l.find(' ').unwrap() + 1..];
            let end = rest.rfind(" 0.").unwrap();
            &rest[..end]
        })
        .collect();
    let mut unique = shown.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), shown.len(), "{shown:?}");
}

// ------------------------------------------------------------------ the index follows its tokenizer

#[test]
fn editing_tokenizer_json_after_the_index_was_built_rebuilds_it() {
    let (_t, dir) = hostile_tokens_model(&["[UNK]", "alpha", "beta", "gamma"]);
    let cache = TempDir::new().unwrap();
    let (ok, out1, err1) = run(cache.path(), &[&s(&dir), "-e", "sim(alpha, beta)"]);
    assert!(ok, "{err1}");
    // rename alpha -> delta: alpha must now be unknown and delta be row 1
    let path = dir.join("tokenizer.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"alpha\"", "\"delta\"");
    std::fs::write(&path, text).unwrap();
    let (ok, out2, err2) = run(cache.path(), &[&s(&dir), "-e", "sim(delta, beta)"]);
    assert!(ok, "the renamed token is unknown: {err2}");
    assert_eq!(out1, out2);
    let (ok, _, _) = run(cache.path(), &[&s(&dir), "-e", "sim(alpha, beta)"]);
    assert!(!ok, "the old token still answers");
}

// ------------------------------------------------------------------ pipes and JSON

#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::io::Read;
    let cache = TempDir::new().unwrap();
    let mut child = crate::util::vecsh_process(cache.path())
        .args([&s(&fixture_dir("glove20k")), "-k", "5000", "-e", "king"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn one_shot_json_of_a_phrase_says_which_tokens_made_it() {
    let out = vecsh(&[
        &s(&fixture_dir("wordpiece")),
        "--json",
        "-e",
        "\"the king of france\"",
    ]);
    assert!(out.0, "{}", out.2);
    for line in out.1.lines() {
        let _: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    for t in ["the", "king", "of", "france"] {
        assert!(
            out.1.contains(&format!("\"{t}\"")),
            "{t} missing: {}",
            out.1
        );
    }
}

// ------------------------------------------------------------------ answers against numpy

/// Phrase vectors (`:vec`) equal numpy's / StaticModel.encode's to 1e-5, and a phrase with no
/// known token is an error.
#[test]
fn phrase_vectors_equal_the_reference() {
    let exp = expected();
    for (name, f) in exp["fixtures"].as_object().unwrap() {
        for p in f["phrases"].as_array().unwrap() {
            let text = p["text"].as_str().unwrap();
            if text.is_empty() || text.contains('\n') {
                continue;
            }
            let quoted = format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
            let out = vecsh(&[
                &s(&fixture_dir(name)),
                "--json",
                "-e",
                &format!(":vec {quoted}"),
            ]);
            if p["vector"].is_null() {
                assert!(!out.0, "{name} {text:?}: no known token, yet {}", out.1);
                continue;
            }
            assert!(out.0, "{name} {text:?}: {}", out.2);
            let v: Value = serde_json::from_str(out.1.lines().next().unwrap()).unwrap();
            if v["tokens"].is_null() || v["tokens"].as_array().unwrap().len() == 1 {
                // one token, typed: its row (a bare word resolves to its word-initial token,
                // which is not what encode() of the bare word gives in a byte-level BPE)
                assert_eq!(
                    p["pooled_ids"].as_array().unwrap().len(),
                    1,
                    "{name} {text:?}: {v}"
                );
                continue;
            }
            let tokens = v["tokens"].as_array().unwrap().len();
            assert_eq!(
                tokens,
                p["pooled_ids"].as_array().unwrap().len(),
                "{name} {text:?}: {v}"
            );
            let got = crate::util::floats(&v["values"]);
            let want = crate::util::floats(&p["vector"]);
            assert_eq!(got.len(), want.len(), "{name} {text:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{name} {text:?}: {got:?} vs {want:?}");
            }
        }
    }
}

/// Finding 11 (fixed on wt-phrase: blank tokens are quoted in the mark).
#[test]
fn every_token_of_a_phrase_marker_is_visible() {
    let out = vecsh(&[&s(&fixture_dir("sentencepiece")), "-k", "1", "-e", "King"]);
    assert!(out.0, "{}", out.2);
    let marker = out.1.lines().next().unwrap();
    let tokens = &marker[marker.find(": ").unwrap() + 2..marker.rfind(')').unwrap()];
    for t in tokens.split('·') {
        assert!(!t.trim().is_empty(), "an invisible token in {marker:?}");
    }
}

/// Finding 13 (fixed on wt-phrase: an expected word of several tokens is pooled, so the
/// question is seen, and missed).
#[test]
fn an_answer_of_several_tokens_is_not_an_unknown_word() {
    let tmp = TempDir::new().unwrap();
    let questions = tmp.path().join("q.txt");
    // every word is known; spain (the answer) is several WordPiece tokens
    std::fs::write(&questions, ": s\nlondon england madrid spain\n").unwrap();
    let out = vecsh(&[
        "eval",
        "analogy",
        &s(&fixture_dir("wordpiece")),
        &s(&questions),
        "--json",
    ]);
    assert!(out.0, "{}", out.2);
    let v: Value = serde_json::from_str(out.1.trim()).unwrap();
    assert_eq!(v["skipped_unknown"], json!(0), "{v}");
}

#[test]
#[ignore = "finding 16: the tokenizers library's panic message is printed before vecsh's error"]
fn a_tokenizer_the_library_panics_on_prints_no_panic() {
    let (_t, dir) = hostile_tokens_model(&["[UNK]", "a", "b"]);
    let path = dir.join("tokenizer.json");
    let mut v = crate::util::json(&path);
    v["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": "AAAA"});
    std::fs::write(&path, v.to_string()).unwrap();
    let cache = TempDir::new().unwrap();
    let out = crate::util::vecsh(cache.path())
        .env_remove("RUST_BACKTRACE")
        .args([&s(&dir), "-e", "\"a b\""])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("tokenizer.json"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

/// A session on the wordpiece fixture in a pseudo-terminal.
fn session(dir: &Path) -> rexpect::session::PtySession {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vecsh"));
    cmd.arg(fixture_dir("wordpiece"))
        .args(["--quiet", "-k", "2"])
        .env("VECSH_CACHE", dir.join("cache"))
        .env("VECSH_HISTORY", dir.join("history"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(cmd, Some(crate::util::TIMEOUT_MS)).unwrap();
    crate::util::expect(&mut p, crate::util::PROMPT).expect("first prompt");
    p
}

/// Types `typed`, presses Tab, and expects the completed line to answer with neighbours.
fn completes_and_answers(typed: &str) {
    let tmp = TempDir::new().unwrap();
    let mut p = session(tmp.path());
    p.send(typed).unwrap();
    p.flush().unwrap();
    crate::util::expect(&mut p, typed).unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    crate::util::expect(&mut p, "form")
        .unwrap_or_else(|e| panic!("Tab does not complete {typed:?}: {e}"));
    p.send_line("").unwrap();
    crate::util::expect(&mut p, " 1 ").expect("the completed piece answers");
    crate::util::expect(&mut p, crate::util::PROMPT).unwrap();
    crate::util::quit(p);
}

#[test]
fn a_quoted_word_internal_piece_completes() {
    completes_and_answers("\"##for");
}

#[test]
#[ignore = "finding 17: Tab after a bare ##piece (as lists show it) completes nothing"]
fn a_bare_word_internal_piece_completes_to_a_form_that_answers() {
    // `##form` is shown as such in lists; typed bare it is a comment
    completes_and_answers("##for");
}
