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
    // shows as the ESC token above does (`\e[31mred`): told apart as `FORM (id N)`
    "\\e[31mred",
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
    // Shown forms may differ from the raw strings (a disambiguated `\\n (id 25)`), so the
    // property is a bijection: each shown form types back to its own row, and all rows are reached.
    let mut rows = std::collections::BTreeSet::new();
    for w in &shown {
        let typed = quoted(w);
        let out = vecsh(&[&s(&dir), "--json", "-e", &format!(":vec {typed}")]);
        assert!(out.0, "{w:?} typed as {typed}: {}", out.2);
        let v: Value = serde_json::from_str(out.1.lines().next().unwrap()).unwrap();
        let values = crate::util::floats(&v["values"]);
        let one = values.iter().position(|&x| x == 1.0).unwrap();
        let raw = HOSTILE_TOKENS[one - 1];
        assert!(w.starts_with(raw), "{w:?} typed as {typed} is {raw:?}");
        assert!(
            rows.insert(one),
            "{w:?} typed as {typed} is {raw:?}, reached twice"
        );
    }
    assert_eq!(rows.len(), HOSTILE_TOKENS.len() - 1);
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

/// A token with a space at its end showed in a table with the space invisible (`trail`), so
/// typing what the table shows found the other token or none: it shows in quotes, as typed.
#[test]
fn a_token_with_a_space_at_its_end_shows_in_quotes_and_types_back() {
    let (_t, dir) = hostile_tokens_model(&["[UNK]", "plain", "trail ", "trail", "x\t"]);
    let out = vecsh(&[&s(&dir), "--all-tokens", "-k", "10", "-e", "plain"]);
    assert!(out.0, "{}", out.2);
    let quoted_line = out.1.lines().find(|l| l.contains("\"")).unwrap_or_else(|| {
        panic!("no token in quotes in the table:\n{}", out.1);
    });
    let shown = &quoted_line[quoted_line.find('"').unwrap()..=quoted_line.rfind('"').unwrap()];
    assert!(shown.ends_with(" \""), "{shown}");
    let row = |typed: &str| {
        let out = vecsh(&[&s(&dir), "--json", "-e", &format!(":vec {typed}")]);
        assert!(out.0, "{typed}: {}", out.2);
        let v: Value = serde_json::from_str(out.1.lines().next().unwrap()).unwrap();
        let values = crate::util::floats(&v["values"]);
        values.iter().position(|&x| x == 1.0).unwrap() - 1
    };
    assert_eq!(row(shown), 2, "{shown} is the token \"trail \"");
    assert_eq!(row("trail"), 3);
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
    // the library's own reason, in vecsh's message
    assert!(
        stderr.contains("Cannot parse precompiled_charsmap"),
        "{stderr}"
    );
}

/// A session on the wordpiece fixture in a pseudo-terminal.
fn session(dir: &Path) -> rexpect::session::PtySession {
    let mut cmd = crate::util::pty_command(&dir.join("cache"), &dir.join("history"));
    cmd.arg(fixture_dir("wordpiece"))
        .args(["--quiet", "-k", "2"]);
    let mut p = crate::util::spawn_pty(cmd, crate::util::TIMEOUT_MS);
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
fn a_bare_word_internal_piece_completes_to_a_form_that_answers() {
    // `##form` is shown as such in lists; typed bare it is a comment
    completes_and_answers("##for");
}

#[test]
fn a_phrase_beyond_the_limit_says_so() {
    let out = vecsh(&[
        &s(&fixture_dir("glove20k")),
        "--limit",
        "100",
        "-e",
        "\"new york\"",
    ]);
    assert!(!out.0, "{}", out.1);
    assert!(out.2.contains("limit"), "{}", out.2);
}

#[test]
fn tensor_on_a_text_file_is_an_error() {
    let out = vecsh(&[&s(&crate::util::tiny()), "--tensor", "x", "-e", "king"]);
    assert!(!out.0, "{}", out.1);
    assert!(
        out.2
            .contains("--tensor applies to safetensors models only"),
        "{}",
        out.2
    );
    let tok = fixture_dir("bpe").join("tokenizer.json");
    let out = vecsh(&[
        &s(&crate::util::tiny()),
        "--tokenizer",
        &s(&tok),
        "-e",
        "king",
    ]);
    assert!(!out.0, "{}", out.1);
    assert!(
        out.2
            .contains("--tokenizer applies to safetensors models only"),
        "{}",
        out.2
    );
}

#[test]
fn a_pytorch_checkpoint_file_gets_the_safetensors_hint() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("pytorch_model.bin");
    // a torch.save zip: archive/data.pkl, archive/data/0, archive/version (stored, no compression)
    let mut zip = Vec::new();
    let mut central = Vec::new();
    let files: [(&str, &[u8]); 3] = [
        ("archive/data.pkl", b"\x80\x02}q\x00."),
        ("archive/data/0", &[0u8; 64]),
        ("archive/version", b"3\n"),
    ];
    for (name, data) in files {
        let offset = zip.len() as u32;
        let crc = crc32(data);
        let mut local = b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(name.len() as u16).to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        zip.extend_from_slice(&local);
        zip.extend_from_slice(data);
        let mut c = b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0u8; 12]);
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        central.extend_from_slice(&c);
    }
    let cd_offset = zip.len() as u32;
    zip.extend_from_slice(&central);
    zip.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x03\x00\x03\x00");
    zip.extend_from_slice(&(central.len() as u32).to_le_bytes());
    zip.extend_from_slice(&cd_offset.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    std::fs::write(&path, zip).unwrap();
    let out = vecsh(&[&s(&path), "-e", "king"]);
    assert_clear_error(&out, "safetensors");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Finding 9: a shown `##piece` typed bare is a comment; the line says how to type the token.
#[test]
fn a_word_internal_piece_typed_bare_gets_a_hint() {
    let out = vecsh(&[&s(&fixture_dir("m2v-int8")), "-k", "2", "-e", "##ers"]);
    assert!(out.0, "{}", out.2);
    assert!(out.2.contains("comment"), "{}", out.2);
    assert!(out.2.contains("\"##ers\""), "{}", out.2);
    // any piece starting with what was typed
    let out = vecsh(&[&s(&fixture_dir("wordpiece")), "-k", "2", "-e", "##fo"]);
    assert!(out.2.contains("\"##fo"), "{}", out.2);
    // an ordinary comment, or one naming no token, stays quiet
    for quiet in ["## heading", "##zzzzqq", "# ##ers"] {
        let out = vecsh(&[&s(&fixture_dir("m2v-int8")), "-k", "2", "-e", quiet]);
        assert!(out.0 && out.2.is_empty(), "{quiet}: {}", out.2);
    }
    // the same in a script, where `## heading` comments are common
    let tmp = TempDir::new().unwrap();
    let script = tmp.path().join("s.vsh");
    std::fs::write(&script, "## Section one\n##ers\n").unwrap();
    let out = vecsh(&[&s(&fixture_dir("m2v-int8")), "-k", "2", &s(&script)]);
    assert!(out.0, "{}", out.2);
    assert_eq!(out.2.matches("\"##ers\"").count(), 1, "{}", out.2);
    assert!(!out.2.contains("Section"), "{}", out.2);
}

/// Finding 14: under `--limit`, a phrase whose tokens are beyond the limit says so.
#[test]
fn a_phrase_with_tokens_beyond_the_limit_names_them() {
    let dir = s(&fixture_dir("glove20k"));
    let out = vecsh(&[&dir, "--limit", "100", "-e", "\"new york\""]);
    assert!(!out.0);
    assert!(out.2.contains("--limit"), "{}", out.2);
    assert!(out.2.contains("york"), "{}", out.2);
    assert!(!out.2.contains("no token in this model"), "{}", out.2);
}

/// Finding 10: a tokenizer changed (or removed) under a session is said to have changed, not
/// to be unreadable.
#[test]
fn a_tokenizer_changed_under_a_session_is_said_to_have_changed() {
    use std::io::{BufRead, Write};
    for removed in [false, true] {
        let (_t, dir) = copy_fixture("glove20k");
        let cache = TempDir::new().unwrap();
        let mut child = crate::util::vecsh_process(cache.path())
            .args([&s(&dir), "-k", "1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        writeln!(stdin, "king").unwrap();
        stdin.flush().unwrap();
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.contains("prince"), "{first}");
        let path = dir.join("tokenizer.json");
        if removed {
            std::fs::remove_file(&path).unwrap();
        } else {
            let mut v = crate::util::json(&path);
            let york = v["model"]["vocab"]["york"].take();
            v["model"]["vocab"]["zzzz"] = york;
            v["model"]["vocab"].as_object_mut().unwrap().remove("york");
            std::fs::write(&path, v.to_string()).unwrap();
        }
        writeln!(stdin, "\"new york\"").unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("tokenizer.json"), "{stderr}");
        assert!(stderr.contains("reopen"), "{stderr}");
        assert!(!stderr.contains("can read"), "{stderr}");
        assert!(!stderr.contains("os error"), "{stderr}");
    }
}

/// Finding 15: a long phrase's marker is shortened, with the count.
#[test]
fn a_long_phrase_marker_is_shortened() {
    let text = format!("\"{}\"", ["king", "queen"].repeat(100).join(" "));
    let out = vecsh(&[&s(&fixture_dir("glove20k")), "-k", "1", "-e", &text]);
    assert!(out.0, "{}", out.2);
    let marker = out.1.lines().next().unwrap();
    assert!(marker.contains("200 tokens"), "{marker}");
    assert!(marker.contains('…'), "{marker}");
    assert!(marker.chars().count() < 200, "{marker}");
    // :vec's head line too
    let out = vecsh(&[&s(&fixture_dir("glove20k")), "-e", &format!(":vec {text}")]);
    assert!(out.0, "{}", out.2);
    let head = out.1.lines().next().unwrap();
    assert!(head.contains("200 tokens") && head.contains('…'), "{head}");
    assert!(head.chars().count() < 250, "{head}");
    // the JSON keeps every token
    let out = vecsh(&[
        &s(&fixture_dir("glove20k")),
        "--json",
        "-k",
        "1",
        "-e",
        &text,
    ]);
    assert!(out.1.matches("\"queen\"").count() >= 100, "{}", out.1);
}

/// Finding 9's other half: a token shown `-neg`, typed bare, is the negation of `neg`; the
/// line notes how to type the token (the answer, or error, is the language's).
#[test]
fn a_token_shown_with_a_leading_minus_typed_bare_gets_a_hint() {
    let (_t, dir) = hostile_tokens_model(&["[UNK]", "plain", "neg", "-neg", "-lone"]);
    for typed in ["-neg", "-lone"] {
        let out = vecsh(&[&s(&dir), "-k", "2", "-e", typed]);
        assert!(
            out.2.contains(&format!("\"{typed}\"")),
            "{typed}: {}",
            out.2
        );
        assert!(out.2.contains("negat"), "{typed}: {}", out.2);
    }
    // a negation of a word with no such token stays as it was
    let out = vecsh(&[&s(&dir), "-k", "2", "-e", "-plain"]);
    assert!(out.0 && out.2.is_empty(), "{}", out.2);
    // typed quoted, it is the token
    let out = vecsh(&[&s(&dir), "-k", "2", "-e", "\"-neg\""]);
    assert!(out.0 && out.2.is_empty(), "{}", out.2);
}

/// Finding 9 in the session: a bare `##piece` entered gets the note, and the prompt comes back.
#[test]
fn a_bare_word_internal_piece_entered_in_the_session_gets_a_note() {
    let tmp = TempDir::new().unwrap();
    let mut p = session(tmp.path());
    p.send_line("##form").unwrap();
    crate::util::expect(&mut p, "is typed \"##form\"").expect("the note");
    crate::util::expect(&mut p, crate::util::PROMPT).unwrap();
    crate::util::quit(p);
}

#[test]
fn weights_that_are_not_one_per_token_are_an_error() {
    let (_t, dir) = copy_fixture("m2v-mapped");
    let st = dir.join("model.safetensors");
    let (mut header, data) = read_st(&st);
    let n = header["weights"]["shape"][0].as_u64().unwrap();
    header["weights"]["shape"] = json!([n / 5, 5]);
    write_st(&st, &header, &data);
    let out = vecsh(&[&s(&dir), "-e", "king"]);
    assert_clear_error(&out, "weights");
}

/// Finding 18: a shard index whose weight_map is empty says so (it suggested `--tensor` and
/// listed no tensors).
#[test]
fn a_shard_index_listing_no_tensors_says_so() {
    let (_t, dir) = copy_fixture("bpe-sharded");
    let index = dir.join("model.safetensors.index.json");
    let mut json: Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    json["weight_map"] = json!({});
    std::fs::write(&index, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = vecsh(&[&s(&dir), "-e", "king"]);
    assert_clear_error(&out, "lists no tensors");
    assert!(!out.2.contains("--tensor"), "{}", out.2);
}

/// Finding 20: model2vec normalises when `normalize` is truthy in Python's sense (`if
/// normalize:`), so a config saying `"yes"` pools to a unit vector as model2vec does.
#[test]
fn a_truthy_normalize_that_is_not_a_boolean_normalises_as_model2vec_does() {
    let (_t, dir) = copy_fixture("m2v-int8");
    let config = dir.join("config.json");
    let mut json: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    json["normalize"] = json!("yes");
    std::fs::write(&config, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = vecsh(&[&s(&dir), "--json", "-e", ":vec \"new york\""]);
    assert!(out.0, "{}", out.2);
    let v: Value = serde_json::from_str(out.1.lines().next().unwrap()).unwrap();
    let norm = v["norm"].as_f64().unwrap_or_else(|| panic!("{}", out.1));
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}: {}", out.1);
}

/// The rest of finding 8: a form told apart as `FORM (id N)` (the literal `\e[31mred` beside
/// the ESC one, which shows as `\e[31mred`) typed back in quotes exactly as the terminal shows it — where the
/// lexer reads `\n` as a line end — is token N, not the line end.
#[test]
fn a_told_apart_form_typed_as_the_terminal_shows_it_is_its_own_token() {
    let (_t, dir) = hostile_tokens_model(HOSTILE_TOKENS);
    let out = vecsh(&[&s(&dir), "--all-tokens", "-k", "60", "-e", "plain"]);
    assert!(out.0, "{}", out.2);
    let told: Vec<&str> = out
        .1
        .lines()
        .filter(|l| l.contains(" (id "))
        .map(|l| {
            // ` 25 FORM (id 25)   0.500 ▌`: after the rank, up to the id's parenthesis.
            let l = l.trim_start();
            let l = &l[l.find(' ').unwrap() + 1..];
            let i = l.find(" (id ").unwrap();
            &l[..i + l[i..].find(')').unwrap() + 1]
        })
        .collect();
    assert!(!told.is_empty(), "no told-apart form: {}", out.1);
    for form in told {
        let id: usize = form
            .rsplit_once(" (id ")
            .unwrap()
            .1
            .trim_end_matches(')')
            .parse()
            .unwrap();
        let out = vecsh(&[&s(&dir), "--json", "-e", &format!(":vec \"{form}\"")]);
        assert!(out.0, "{form}: {}", out.2);
        let v: Value = serde_json::from_str(out.1.lines().next().unwrap()).unwrap();
        let values = crate::util::floats(&v["values"]);
        let one = values.iter().position(|&x| x == 1.0).unwrap();
        // Row `id` holds its 1.0 at `id + 1` (as in `every_hostile_token_shown_can_be_typed_back`).
        assert_eq!(
            one - 1,
            id,
            "{form} typed as shown is {:?}",
            HOSTILE_TOKENS[one - 1]
        );
    }
}
