//! Integration tests for `vecsh::loader`: every format, compression, quirk and error,
//! on small files generated here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tempfile::TempDir;
use vecsh::loader::{load, Batch, Format, LoadError, LoadOptions, LoadReport, Location, Problem};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

struct Loaded {
    report: LoadReport,
    words: Vec<String>,
    vectors: Vec<f32>,
    batches: usize,
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        if name.ends_with('/') {
            out.add_directory(*name, options).unwrap();
        } else {
            out.start_file(*name, options).unwrap();
            out.write_all(bytes).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

fn load_with(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut words = Vec::new();
    let mut vectors = Vec::new();
    let mut batches = 0;
    let report = load(path, opts, &|_, _| {}, &mut |batch: Batch| {
        assert!(!batch.words.is_empty(), "empty batch");
        batches += 1;
        words.extend(batch.words);
        vectors.extend(batch.vectors);
        Ok(())
    })?;
    assert_eq!(vectors.len(), words.len() * report.dims);
    assert_eq!(words.len(), report.words);
    Ok(Loaded {
        report,
        words,
        vectors,
        batches,
    })
}

fn load_ok(path: &Path) -> Loaded {
    load_with(path, &LoadOptions::default()).unwrap_or_else(|e| panic!("load failed: {e}"))
}

fn load_err(path: &Path, opts: &LoadOptions) -> LoadError {
    match load_with(path, opts) {
        Ok(loaded) => panic!(
            "expected an error, loaded {} words: {:?}",
            loaded.words.len(),
            loaded.words
        ),
        Err(e) => e,
    }
}

/// The error message with the temp directory stripped, so tests read like real messages.
fn err_msg(dir: &TempDir, path: &Path, opts: &LoadOptions) -> String {
    let msg = load_err(path, opts).to_string();
    let prefix = format!("{}/", dir.path().display());
    msg.replace(&prefix, "")
}

fn err_default(dir: &TempDir, path: &Path) -> String {
    err_msg(dir, path, &LoadOptions::default())
}

fn opts_limit(limit: usize) -> LoadOptions {
    LoadOptions {
        limit: Some(limit),
        ..Default::default()
    }
}

fn opts_format(format: Format) -> LoadOptions {
    LoadOptions {
        format: Some(format),
        ..Default::default()
    }
}

fn opts_member(member: &str) -> LoadOptions {
    LoadOptions {
        member: Some(member.to_owned()),
        ..Default::default()
    }
}

/// A small vocabulary with values that are exact in f32 and easy to recognise.
fn sample_rows() -> Vec<(String, Vec<f32>)> {
    vec![
        ("the".into(), vec![0.5, -1.25, 3.0]),
        ("of".into(), vec![0.0, 0.0, 0.0]),
        ("king".into(), vec![1e-3, 2.5e2, -0.0625]),
        ("queen".into(), vec![-7.75, 0.125, 42.0]),
    ]
}

fn glove_text(rows: &[(String, Vec<f32>)]) -> Vec<u8> {
    let mut out = String::new();
    for (word, values) in rows {
        out.push_str(word);
        for v in values {
            out.push_str(&format!(" {v}"));
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn w2v_text(rows: &[(String, Vec<f32>)]) -> Vec<u8> {
    let mut out = format!("{} {}\n", rows.len(), rows[0].1.len()).into_bytes();
    out.extend(glove_text(rows));
    out
}

fn w2v_binary(rows: &[(&[u8], Vec<f32>)], newline: bool) -> Vec<u8> {
    let mut out = format!("{} {}\n", rows.len(), rows[0].1.len()).into_bytes();
    for (word, values) in rows {
        out.extend_from_slice(word);
        out.push(b' ');
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        if newline {
            out.push(b'\n');
        }
    }
    out
}

fn sample_binary(newline: bool) -> Vec<u8> {
    let rows = sample_rows();
    let rows: Vec<(&[u8], Vec<f32>)> = rows
        .iter()
        .map(|(w, v)| (w.as_bytes(), v.clone()))
        .collect();
    w2v_binary(&rows, newline)
}

fn assert_sample(loaded: &Loaded) {
    let rows = sample_rows();
    let words: Vec<&str> = rows.iter().map(|(w, _)| w.as_str()).collect();
    let vectors: Vec<f32> = rows.iter().flat_map(|(_, v)| v.clone()).collect();
    assert_eq!(loaded.words, words);
    assert_eq!(loaded.vectors, vectors);
    assert_eq!(loaded.report.dims, 3);
    assert_eq!(loaded.report.words, 4);
    assert_eq!(loaded.report.duplicates, 0);
    assert_eq!(loaded.report.lossy_words, 0);
}

/// `n` rows of `dims` values; row i's values are i + j/4 (exact in f32).
fn big_glove(n: usize, dims: usize) -> Vec<u8> {
    let mut out = String::with_capacity(n * (dims * 10 + 10));
    for i in 0..n {
        out.push_str(&format!("w{i}"));
        for j in 0..dims {
            out.push_str(&format!(" {}", i as f32 + j as f32 / 4.0));
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn assert_big(loaded: &Loaded, n: usize, dims: usize) {
    assert_eq!(loaded.words.len(), n);
    assert_eq!(loaded.report.dims, dims);
    for i in [0, 1, n / 3, n / 2, n - 1] {
        assert_eq!(loaded.words[i], format!("w{i}"));
        for j in 0..dims {
            assert_eq!(loaded.vectors[i * dims + j], i as f32 + j as f32 / 4.0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Formats round trip
// ---------------------------------------------------------------------------------------

#[test]
fn glove_text_round_trip() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", &glove_text(&sample_rows()));
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.format, Format::Glove);
    assert_eq!(loaded.report.compression, "none");
    assert_eq!(loaded.report.header, None);
    assert_eq!(loaded.report.member, None);
}

#[test]
fn word2vec_text_round_trip() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.vec", &w2v_text(&sample_rows()));
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.format, Format::Word2VecText);
    assert_eq!(loaded.report.header, Some((4, 3)));
}

#[test]
fn word2vec_binary_round_trip_with_newlines() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.bin", &sample_binary(true));
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.format, Format::Word2VecBinary);
    assert_eq!(loaded.report.header, Some((4, 3)));
}

#[test]
fn word2vec_binary_round_trip_without_newlines() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.bin", &sample_binary(false));
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.format, Format::Word2VecBinary);
}

#[test]
fn binary_values_are_bit_exact() {
    let dir = TempDir::new().unwrap();
    let values = vec![f32::MIN_POSITIVE, -f32::MAX, 1.0e-40, 0.1, -0.0];
    let path = write(&dir, "w.bin", &w2v_binary(&[(b"x", values.clone())], true));
    let loaded = load_ok(&path);
    let bits: Vec<u32> = loaded.vectors.iter().map(|v| v.to_bits()).collect();
    let expected: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits, expected);
}

#[test]
fn text_values_are_correctly_rounded() {
    let dir = TempDir::new().unwrap();
    let text = "w 0.418 -0.00066023 4.0071 1e-05 -1.5E+2 +3 .5\n";
    let path = write(&dir, "g.txt", text.as_bytes());
    let loaded = load_ok(&path);
    let expected: Vec<f32> = [
        "0.418",
        "-0.00066023",
        "4.0071",
        "1e-05",
        "-1.5E+2",
        "3",
        ".5",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(loaded.vectors, expected);
}

/// Decimal strings of all common shapes parse to the same f32 as the standard library
/// (which rounds correctly), whatever path the loader takes for them.
#[test]
fn text_values_match_std_parsing_bit_for_bit() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let dims = 16;
    let mut text = String::new();
    let mut expected = Vec::new();
    for row in 0..3000 {
        text.push_str(&format!("w{row}"));
        for _ in 0..dims {
            let mut token = String::new();
            if next(2) == 0 {
                token.push('-');
            }
            for _ in 0..next(4) {
                token.push(char::from(b'0' + next(10) as u8));
            }
            if token.trim_start_matches('-').is_empty() || next(3) > 0 {
                token.push('.');
                for _ in 0..=next(12) {
                    token.push(char::from(b'0' + next(10) as u8));
                }
            }
            if next(8) == 0 {
                token.push_str(&format!("e{}", next(20) as i64 - 12));
            }
            let value: f32 = token.parse().unwrap();
            expected.push(value.to_bits());
            text.push(' ');
            text.push_str(&token);
        }
        text.push('\n');
    }
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", text.as_bytes());
    let loaded = load_ok(&path);
    let bits: Vec<u32> = loaded.vectors.iter().map(|v| v.to_bits()).collect();
    for (i, (got, want)) in bits.iter().zip(&expected).enumerate() {
        if got != want {
            let line = text.lines().nth(i / dims).unwrap();
            let token = line.split(' ').nth(1 + i % dims).unwrap();
            panic!(
                "'{token}': got {}, want {}",
                f32::from_bits(*got),
                f32::from_bits(*want)
            );
        }
    }
    assert_eq!(bits.len(), expected.len());
}

#[test]
fn one_dimensional_glove_is_not_mistaken_for_a_header() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"7 0.25\neight 0.5\n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.report.format, Format::Glove);
    assert_eq!(loaded.words, ["7", "eight"]);
    assert_eq!(loaded.vectors, [0.25, 0.5]);
}

#[test]
fn all_zero_vectors_are_kept() {
    let dir = TempDir::new().unwrap();
    let rows = vec![
        ("zero".to_owned(), vec![0.0; 4]),
        ("one".to_owned(), vec![1.0; 4]),
    ];
    let text = write(&dir, "g.txt", &glove_text(&rows));
    assert_eq!(load_ok(&text).vectors[..4], [0.0; 4]);
    let bin_rows: Vec<(&[u8], Vec<f32>)> = vec![(b"zero", vec![0.0; 4]), (b"one", vec![1.0; 4])];
    let bin = write(&dir, "w.bin", &w2v_binary(&bin_rows, true));
    let loaded = load_ok(&bin);
    assert_eq!(loaded.report.format, Format::Word2VecBinary);
    assert_eq!(loaded.words, ["zero", "one"]);
    assert_eq!(loaded.vectors[..4], [0.0; 4]);
}

#[test]
fn binary_detection_survives_newline_bytes_in_the_first_vector() {
    let dir = TempDir::new().unwrap();
    // The first float's first byte is 0x0A, as if the row ended right after the word.
    let first = f32::from_le_bytes([0x0a, 0x00, 0x80, 0x3f]);
    let rows: Vec<(&[u8], Vec<f32>)> = vec![(b"a", vec![first, 2.0]), (b"b", vec![3.0, 4.0])];
    let path = write(&dir, "w.bin", &w2v_binary(&rows, true));
    let loaded = load_ok(&path);
    assert_eq!(loaded.report.format, Format::Word2VecBinary);
    assert_eq!(loaded.vectors, [first, 2.0, 3.0, 4.0]);
}

#[test]
fn text_detection_ignores_odd_bytes_in_later_words() {
    let dir = TempDir::new().unwrap();
    // An escape character in the second word is within 4 x dims bytes of the first.
    let path = write(
        &dir,
        "w.txt",
        b"2 8\na 1 2 3 4 5 6 7 8\n\x1b[0m 1 2 3 4 5 6 7 8\n",
    );
    let loaded = load_ok(&path);
    assert_eq!(loaded.report.format, Format::Word2VecText);
    assert_eq!(loaded.words, ["a", "\x1b[0m"]);
}

#[test]
fn fasttext_model_files_are_recognised() {
    let dir = TempDir::new().unwrap();
    let mut bytes = 793_712_314i32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&12i32.to_le_bytes());
    bytes.extend_from_slice(&[0; 64]);
    let path = write(&dir, "cc.en.300.bin", &bytes);
    assert_eq!(
        err_default(&dir, &path),
        "cc.en.300.bin: byte offset 8: fastText header: dim = 0 is out of range"
    );
}

#[test]
fn format_override_beats_detection() {
    let dir = TempDir::new().unwrap();
    // Forced GloVe on a first line 'count dims': that is a word2vec header (issue 10: it
    // used to build a 1-dimensional index of 400,001 words), and the error says so.
    let path = write(&dir, "w.txt", b"2 1\nx 0.5\ny 0.25\n");
    assert_eq!(
        err_msg(&dir, &path, &opts_format(Format::Glove)),
        "w.txt:1: the first line '2 1' is a word2vec header, not a GloVe row: \
         use --format w2v-text (or no --format)"
    );
    // A first row that is not two integers stays a GloVe row.
    let path = write(&dir, "w.txt", b"2 0.5\nx 0.5\ny 0.25\n");
    let loaded = load_with(&path, &opts_format(Format::Glove)).unwrap();
    assert_eq!(loaded.report.format, Format::Glove);
    assert_eq!(loaded.words, ["2", "x", "y"]);

    // Forced word2vec text on a headerless file: line 1 must be a header.
    let path = write(&dir, "g.txt", &glove_text(&sample_rows()));
    assert_eq!(
        err_msg(&dir, &path, &opts_format(Format::Word2VecText)),
        "g.txt:1: malformed header 'the 0.5 -1.25 3': expected two integers, 'count dims'"
    );

    // Forced text on a binary file fails on the binary bytes.
    let path = write(&dir, "w.bin", &sample_binary(true));
    let msg = err_msg(&dir, &path, &opts_format(Format::Word2VecText));
    assert!(msg.starts_with("w.bin:2: "), "{msg}");

    // Forced binary works on a binary file.
    let loaded = load_with(&path, &opts_format(Format::Word2VecBinary)).unwrap();
    assert_sample(&loaded);
}

#[test]
fn format_names_parse_and_display() {
    for (name, format) in [
        ("glove", Format::Glove),
        ("GloVe", Format::Glove),
        ("w2v-text", Format::Word2VecText),
        ("word2vec-text", Format::Word2VecText),
        ("fasttext", Format::Word2VecText),
        ("w2v-bin", Format::Word2VecBinary),
        ("word2vec-binary", Format::Word2VecBinary),
    ] {
        assert_eq!(name.parse::<Format>().unwrap(), format, "{name}");
    }
    let err = "bert".parse::<Format>().unwrap_err().to_string();
    assert!(err.starts_with("unknown format 'bert'"), "{err}");
    assert_eq!(Format::Glove.to_string(), "GloVe text");
    assert_eq!(Format::Word2VecText.to_string(), "word2vec text");
    assert_eq!(Format::Word2VecBinary.to_string(), "word2vec binary");
}

#[test]
fn report_serialises_to_json() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.vec", &w2v_text(&sample_rows()));
    let json = serde_json::to_value(load_ok(&path).report).unwrap();
    assert_eq!(json["format"], "Word2VecText");
    assert_eq!(json["compression"], "none");
    assert_eq!(json["header"], serde_json::json!([4, 3]));
}

// ---------------------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------------------

#[test]
fn gzip_glove_round_trip() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt.gz", &gzip(&glove_text(&sample_rows())));
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.compression, "gzip");
    assert_eq!(loaded.report.format, Format::Glove);
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", &gzip(&w2v_text(&sample_rows())));
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.compression, "gzip");
    assert_eq!(loaded.report.format, Format::Word2VecText);
}

#[test]
fn gzip_binary_round_trip() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.bin.gz", &gzip(&sample_binary(true)));
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.format, Format::Word2VecBinary);
    assert_eq!(loaded.report.compression, "gzip");
}

#[test]
fn concatenated_gzip_members_are_read_whole() {
    let dir = TempDir::new().unwrap();
    let text = glove_text(&sample_rows());
    let (a, b) = text.split_at(20);
    let mut bytes = gzip(a);
    bytes.extend(gzip(b));
    let path = write(&dir, "g.txt.gz", &bytes);
    assert_sample(&load_ok(&path));
}

#[test]
fn gzip_errors_name_the_file_and_the_decompressed_line() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt.gz", &gzip(b"a 1 2\nb 1 x\n"));
    assert_eq!(
        err_default(&dir, &path),
        "g.txt.gz:2: 'x' is not a number (value 2 of 2)"
    );
}

#[test]
fn corrupt_gzip_is_an_io_error_naming_the_file() {
    let dir = TempDir::new().unwrap();
    let mut bytes = gzip(&big_glove(2000, 5));
    let len = bytes.len();
    bytes[len / 2..len / 2 + 64].fill(0xAA);
    let path = write(&dir, "g.txt.gz", &bytes);
    let err = load_err(&path, &LoadOptions::default());
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("g.txt.gz: "),
        "{}",
        err.to_string()
    );
}

#[test]
fn zip_with_one_member_and_paperwork() {
    let dir = TempDir::new().unwrap();
    let text = glove_text(&sample_rows());
    let bytes = zip_of(&[
        ("glove/", b""),
        ("glove/README.txt", b"read me"),
        ("glove/glove.6B.3d.txt", &text),
    ]);
    let path = write(&dir, "glove.zip", &bytes);
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.compression, "zip");
    assert_eq!(
        loaded.report.member.as_deref(),
        Some("glove/glove.6B.3d.txt")
    );
}

#[test]
fn zip_with_a_single_member_of_any_name() {
    let dir = TempDir::new().unwrap();
    let bytes = zip_of(&[("vectors", &w2v_text(&sample_rows()))]);
    let path = write(&dir, "v.zip", &bytes);
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.member.as_deref(), Some("vectors"));
}

#[test]
fn zip_with_two_members_needs_member_option() {
    let dir = TempDir::new().unwrap();
    let small = glove_text(&sample_rows());
    let other = b"x 1 2\ny 3 4\n";
    let bytes = zip_of(&[("glove.6B.50d.txt", &small), ("glove.6B.100d.txt", other)]);
    let path = write(&dir, "glove.6B.zip", &bytes);

    assert_eq!(
        err_default(&dir, &path),
        "glove.6B.zip: contains several embedding files; choose one with --member: \
         glove.6B.50d.txt, glove.6B.100d.txt"
    );
    let err = load_err(&path, &LoadOptions::default());
    assert!(matches!(err, LoadError::Archive { .. }), "{err:?}");

    let loaded = load_with(&path, &opts_member("glove.6B.50d.txt")).unwrap();
    assert_sample(&loaded);
    assert_eq!(loaded.report.member.as_deref(), Some("glove.6B.50d.txt"));

    let loaded = load_with(&path, &opts_member("glove.6B.100d.txt")).unwrap();
    assert_eq!(loaded.words, ["x", "y"]);
    assert_eq!(loaded.vectors, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn zip_member_may_be_named_without_its_folder() {
    let dir = TempDir::new().unwrap();
    let text = glove_text(&sample_rows());
    let bytes = zip_of(&[("d/a.txt", &text), ("d/b.txt", b"x 1\n")]);
    let path = write(&dir, "ab.zip", &bytes);
    let loaded = load_with(&path, &opts_member("a.txt")).unwrap();
    assert_sample(&loaded);
    assert_eq!(loaded.report.member.as_deref(), Some("d/a.txt"));
}

#[test]
fn zip_unknown_member_lists_members() {
    let dir = TempDir::new().unwrap();
    let bytes = zip_of(&[("a.txt", b"x 1\n"), ("b.txt", b"y 2\n")]);
    let path = write(&dir, "ab.zip", &bytes);
    assert_eq!(
        err_msg(&dir, &path, &opts_member("c.txt")),
        "ab.zip: no member named 'c.txt'; members: a.txt, b.txt"
    );
}

#[test]
fn zip_without_embedding_files_lists_members() {
    let dir = TempDir::new().unwrap();
    let bytes = zip_of(&[("README", b"x"), ("LICENSE.txt", b"y")]);
    let path = write(&dir, "docs.zip", &bytes);
    assert_eq!(
        err_default(&dir, &path),
        "docs.zip: contains no embedding file (.txt, .vec, .bin, .gz); \
         choose a member with --member: README, LICENSE.txt"
    );
}

#[test]
fn zip_member_stored_without_compression() {
    let dir = TempDir::new().unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    out.start_file("w.vec", options).unwrap();
    out.write_all(&w2v_text(&sample_rows())).unwrap();
    let bytes = out.finish().unwrap().into_inner();
    let path = write(&dir, "w.zip", &bytes);
    assert_sample(&load_ok(&path));
}

#[test]
fn member_option_on_a_file_that_is_not_a_zip() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", &glove_text(&sample_rows()));
    assert_eq!(
        err_msg(&dir, &path, &opts_member("g.txt")),
        "g.txt: --member was given, but this is not a zip archive"
    );
}

#[test]
fn zip_member_that_is_gzipped() {
    let dir = TempDir::new().unwrap();
    let bytes = zip_of(&[("w.bin.gz", &gzip(&sample_binary(true)))]);
    let path = write(&dir, "w.zip", &bytes);
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.format, Format::Word2VecBinary);
    assert_eq!(loaded.report.compression, "zip");
}

#[test]
fn zip_errors_name_archive_member_and_line() {
    let dir = TempDir::new().unwrap();
    let bytes = zip_of(&[("glove.6B.50d.txt", b"a 1 2\nb 1 2\nc 1\n")]);
    let path = write(&dir, "glove.6B.zip", &bytes);
    assert_eq!(
        err_default(&dir, &path),
        "glove.6B.zip:glove.6B.50d.txt:3: expected 2 values after the word, found 1"
    );
    match load_err(&path, &LoadOptions::default()) {
        LoadError::Data {
            location: Location::Line { file, line },
            problem: Problem::WrongValueCount { expected, found },
        } => {
            assert!(file.ends_with("glove.6B.zip:glove.6B.50d.txt"), "{file}");
            assert_eq!((line, expected, found), (3, 2, 1));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn corrupt_zip_is_an_archive_error() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "bad.zip",
        b"PK\x03\x04 this is not really a zip archive",
    );
    let err = load_err(&path, &LoadOptions::default());
    assert!(matches!(err, LoadError::Archive { .. }), "{err:?}");
    let msg = err_default(&dir, &path);
    assert!(
        msg.starts_with("bad.zip: not a readable zip archive"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------
// Real-file quirks
// ---------------------------------------------------------------------------------------

#[test]
fn crlf_line_ends() {
    let dir = TempDir::new().unwrap();
    let text = String::from_utf8(w2v_text(&sample_rows())).unwrap();
    let path = write(&dir, "w.txt", text.replace('\n', "\r\n").as_bytes());
    let loaded = load_ok(&path);
    assert_sample(&loaded);
    assert_eq!(loaded.report.header, Some((4, 3)));
}

#[test]
fn utf8_bom_at_the_start() {
    let dir = TempDir::new().unwrap();
    for (name, body) in [
        ("g.txt", glove_text(&sample_rows())),
        ("w.txt", w2v_text(&sample_rows())),
        ("w.bin", sample_binary(true)),
    ] {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(body);
        let path = write(&dir, name, &bytes);
        let loaded = load_ok(&path);
        assert_sample(&loaded);
        assert_eq!(
            loaded.words[0], "the",
            "{name}: BOM must not stick to the word"
        );
    }
}

#[test]
fn trailing_spaces_and_tabs() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "g.txt",
        b"the 0.5 -1.25 3 \nof 0 0 0\t\nking 0.001 250 -0.0625 \t \r\nqueen -7.75 0.125 42  \n",
    );
    assert_sample(&load_ok(&path));
    // fastText .vec files end every line with a space, the header too.
    let path = write(&dir, "f.vec", b"2 2 \na 1 2 \nb 3 4 \n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.report.header, Some((2, 2)));
    assert_eq!(loaded.vectors, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn tabs_between_fields() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"a\t1\t2\nb  3   4\n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.words, ["a", "b"]);
    assert_eq!(loaded.vectors, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn final_line_without_newline() {
    let dir = TempDir::new().unwrap();
    let mut text = glove_text(&sample_rows());
    text.pop();
    let path = write(&dir, "g.txt", &text);
    assert_sample(&load_ok(&path));
    let gz = write(&dir, "g.txt.gz", &gzip(&text));
    assert_sample(&load_ok(&gz));
}

#[test]
fn glove_words_with_spaces() {
    let dir = TempDir::new().unwrap();
    let text = "the 1 2\n. . . 3 4\nat  name@example.com 5 6\nnew york\t7 8\n";
    let path = write(&dir, "g.txt", text.as_bytes());
    let loaded = load_ok(&path);
    assert_eq!(
        loaded.words,
        ["the", ". . .", "at  name@example.com", "new york"]
    );
    assert_eq!(loaded.vectors, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);

    // With a header the dimension comes from it, even when the first word has spaces.
    let path = write(&dir, "w.txt", b"2 2\nnew york 1 2\nb 3 4\n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.words, ["new york", "b"]);
}

#[test]
fn invalid_utf8_words_are_decoded_lossily() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"caf\xe9 1 2\nok 3 4\n\xff\xfe 5 6\n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.words, ["caf\u{FFFD}", "ok", "\u{FFFD}\u{FFFD}"]);
    assert_eq!(loaded.report.lossy_words, 2);

    let rows: Vec<(&[u8], Vec<f32>)> = vec![(b"caf\xe9", vec![1.0]), (b"ok", vec![2.0])];
    let path = write(&dir, "w.bin", &w2v_binary(&rows, true));
    let loaded = load_ok(&path);
    assert_eq!(loaded.words, ["caf\u{FFFD}", "ok"]);
    assert_eq!(loaded.report.lossy_words, 1);
}

#[test]
fn duplicate_words_keep_the_first() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"a 1 1\nb 2 2\na 3 3\nc 4 4\nb 5 5\na 6 6\n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.words, ["a", "b", "c"]);
    assert_eq!(loaded.vectors, [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]);
    assert_eq!(loaded.report.words, 3);
    assert_eq!(loaded.report.duplicates, 3);

    // The header counts rows, duplicates included.
    let path = write(&dir, "w.txt", b"3 1\na 1\nb 2\na 3\n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.words, ["a", "b"]);
    assert_eq!(loaded.report.duplicates, 1);

    let rows: Vec<(&[u8], Vec<f32>)> = vec![(b"a", vec![1.0]), (b"a", vec![2.0])];
    let path = write(&dir, "w.bin", &w2v_binary(&rows, true));
    let loaded = load_ok(&path);
    assert_eq!(
        (loaded.words, loaded.vectors),
        (vec!["a".to_owned()], vec![1.0])
    );
    assert_eq!(loaded.report.duplicates, 1);
}

#[test]
fn duplicates_across_pieces_and_blocks() {
    let dir = TempDir::new().unwrap();
    let mut text = big_glove(30_000, 4);
    text.extend(big_glove(1_000, 4)); // w0..w999 again, at the end
    let path = write(&dir, "g.txt", &text);
    let loaded = load_ok(&path);
    assert_big(&loaded, 30_000, 4);
    assert_eq!(loaded.report.duplicates, 1_000);
}

#[test]
fn lossy_words_that_collide_are_duplicates() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"\xff 1\n\xfe 2\n");
    let loaded = load_ok(&path);
    assert_eq!(loaded.words, ["\u{FFFD}"]);
    assert_eq!(loaded.report.duplicates, 1);
    assert_eq!(loaded.report.lossy_words, 1);
}

#[test]
fn limit_stops_after_that_many_kept_words() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"a 1\na 2\nb 3\nc 4\nd 5\n");
    let loaded = load_with(&path, &opts_limit(2)).unwrap();
    assert_eq!(loaded.words, ["a", "b"]);
    assert_eq!(loaded.vectors, [1.0, 3.0]);
    assert_eq!(loaded.report.duplicates, 1);

    let loaded = load_with(&path, &opts_limit(100)).unwrap();
    assert_eq!(loaded.words.len(), 4);

    let loaded = load_with(&path, &opts_limit(0)).unwrap();
    assert!(loaded.words.is_empty());
    assert_eq!(loaded.report.dims, 1);
}

#[test]
fn limit_skips_the_header_count_check_and_later_errors() {
    let dir = TempDir::new().unwrap();
    // Header promises 10 rows; the third is broken. Loading 2 words sees neither problem.
    let path = write(&dir, "w.txt", b"10 2\na 1 2\nb 3 4\nc x y\n");
    let loaded = load_with(&path, &opts_limit(2)).unwrap();
    assert_eq!(loaded.words, ["a", "b"]);
    assert_eq!(loaded.report.header, Some((10, 2)));
    // Without the limit, the broken row is reported.
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:4: 'x' is not a number (value 1 of 2)"
    );

    let rows: Vec<(&[u8], Vec<f32>)> = vec![(b"a", vec![1.0]), (b"b", vec![2.0])];
    let mut bytes = w2v_binary(&rows, true);
    bytes[0] = b'9'; // header says 9 rows
    bytes.extend_from_slice(b"c \x01"); // and the third row is truncated
    let path = write(&dir, "w.bin", &bytes);
    let loaded = load_with(&path, &opts_limit(2)).unwrap();
    assert_eq!(loaded.words, ["a", "b"]);
}

#[test]
fn limit_on_large_input_hands_over_exactly_that_many() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt.gz", &gzip(&big_glove(20_000, 3)));
    let loaded = load_with(&path, &opts_limit(12_345)).unwrap();
    assert_eq!(loaded.words.len(), 12_345);
    assert_eq!(loaded.words[12_344], "w12344");
}

#[test]
fn trailing_blank_lines_are_fine() {
    let dir = TempDir::new().unwrap();
    let mut text = w2v_text(&sample_rows());
    text.extend_from_slice(b"\n\r\n  \n\n");
    let path = write(&dir, "w.txt", &text);
    assert_sample(&load_ok(&path));
}

#[test]
fn blank_line_in_the_middle_is_an_error() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"a 1\nb 2\n\nc 3\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:3: blank line (blank lines are only allowed at the end of the file)"
    );
    let path = write(&dir, "g.txt", b"\na 1\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:1: blank line (blank lines are only allowed at the end of the file)"
    );
    let path = write(&dir, "w.txt", b"2 1\na 1\n \t\r\n\nb 2\n");
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:3: blank line (blank lines are only allowed at the end of the file)"
    );
}

/// Pieces and blocks are cut at line boundaries that depend on sizes and thread count;
/// wherever a problem falls, its line number must be right.
#[test]
fn line_numbers_are_right_across_pieces() {
    let dir = TempDir::new().unwrap();
    let n = 40_000;
    let lines: Vec<String> = String::from_utf8(big_glove(n, 3))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    for bad in [1usize, 2, 9_999, 10_000, 20_001, 33_333, n] {
        // A bad value on line `bad`...
        let mut broken = lines.clone();
        broken[bad - 1] = format!("w{} 1 2 oops", bad - 1);
        let path = write(&dir, "g.txt", (broken.join("\n") + "\n").as_bytes());
        assert_eq!(
            err_default(&dir, &path),
            format!("g.txt:{bad}: 'oops' is not a number (value 3 of 3)")
        );
        // ...and a blank line there, followed by more rows.
        if bad < n {
            let mut blank = lines.clone();
            blank[bad - 1] = String::new();
            let path = write(&dir, "g.txt", (blank.join("\n") + "\n").as_bytes());
            let msg = err_default(&dir, &path);
            assert!(
                msg.starts_with(&format!("g.txt:{bad}: blank line")),
                "{msg}"
            );
        }
    }
}

#[test]
fn earliest_error_wins() {
    let dir = TempDir::new().unwrap();
    let mut lines: Vec<String> = String::from_utf8(big_glove(30_000, 3))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines[29_000] = "late 1 2".into();
    lines[15_000] = "middle 1 x 3".into();
    lines[20] = "early nan 1 2".into();
    let path = write(&dir, "g.txt", (lines.join("\n") + "\n").as_bytes());
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:21: 'nan' is not finite (value 1 of 3)"
    );
}

#[test]
fn large_plain_and_gzip_files_span_several_blocks() {
    let dir = TempDir::new().unwrap();
    // About 10 MB of text: more than one 8 MiB block.
    let n = 110_000;
    let mut text = b"110001 10\n".to_vec();
    text.extend(big_glove(n, 10));
    assert!(text.len() > 9 << 20, "{}", text.len());
    let plain = write(&dir, "w.txt", &text);
    let gz = write(&dir, "w.txt.gz", &gzip(&text));
    for path in [&plain, &gz] {
        // The header promises one row more than there is: the check runs at the very end.
        let msg = err_default(&dir, path);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            msg,
            format!("{name}:110001: the header says 110001 rows, but the file ends after 110000")
        );
    }
    text[..10].copy_from_slice(b"110000 10\n");
    let plain = write(&dir, "w.txt", &text);
    let gz = write(&dir, "w.txt.gz", &gzip(&text));
    for path in [&plain, &gz] {
        let loaded = load_ok(path);
        assert_big(&loaded, n, 10);
        assert!(loaded.batches > 1);
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn wrong_number_of_values() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"a 1 2 3\nb 1 2 3\nc 1 2\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:3: expected 3 values after the word, found 2"
    );
    let path = write(&dir, "g.txt", b"a 1 2 3\nb\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:2: expected 3 values after the word, found 0"
    );
}

#[test]
fn header_dims_disagree_with_rows() {
    let dir = TempDir::new().unwrap();
    let mut text = b"2 50\n".to_vec();
    text.extend(big_glove(2, 49));
    let path = write(&dir, "w.txt", &text);
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:2: expected 50 values after the word, found 49"
    );
    match load_err(&path, &LoadOptions::default()) {
        LoadError::Data {
            location: Location::Line { line: 2, .. },
            problem:
                Problem::WrongValueCount {
                    expected: 50,
                    found: 49,
                },
        } => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn not_a_number() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "g.txt", b"a 1 2 3 4\nb 1 2 3 4\nc 1 2 3 abc\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:3: 'abc' is not a number (value 4 of 4)"
    );
    let path = write(&dir, "g.txt", b"a 1 2\nb 1.5x 2\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:2: '1.5x' is not a number (value 1 of 2)"
    );
    let path = write(&dir, "g.txt", b"a 1 2\nb 1,5 2\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:2: '1,5' is not a number (value 1 of 2)"
    );
}

#[test]
fn nan_and_infinity_are_errors() {
    let dir = TempDir::new().unwrap();
    for token in ["nan", "NaN", "inf", "-inf", "Infinity"] {
        let text = format!("a 1 2 3\nb 1 {token} 3\n");
        let path = write(&dir, "g.txt", text.as_bytes());
        assert_eq!(
            err_default(&dir, &path),
            format!("g.txt:2: '{token}' is not finite (value 2 of 3)")
        );
    }
    // A number beyond f32 is said to overflow (issue 24).
    for token in ["1e39", "-4e38"] {
        let text = format!("a 1 2 3\nb 1 {token} 3\n");
        let path = write(&dir, "g.txt", text.as_bytes());
        assert_eq!(
            err_default(&dir, &path),
            format!("g.txt:2: '{token}' overflows f32 (value 2 of 3): its magnitude is beyond 3.4e38, the largest f32")
        );
    }
    let rows: Vec<(&[u8], Vec<f32>)> = vec![(b"a", vec![1.0, 2.0]), (b"b", vec![1.0, f32::NAN])];
    let path = write(&dir, "w.bin", &w2v_binary(&rows, true));
    // Header 4 bytes, row a: 2 + 8 + 1, row b: 2 + 4 bytes before the bad value.
    assert_eq!(
        err_default(&dir, &path),
        "w.bin: byte offset 21: value 2 of 2 of word 'b' (row 2) is not finite (NaN)"
    );
}

#[test]
fn truncated_binary() {
    let dir = TempDir::new().unwrap();
    let mut bytes = sample_binary(true);
    // Header "4 3\n" is 4 bytes; rows are word + space + 12 bytes + newline.
    let queen_vector = 4 + (3 + 1 + 12 + 1) + (2 + 1 + 12 + 1) + (4 + 1 + 12 + 1) + 6;
    bytes.truncate(queen_vector + 5);
    let path = write(&dir, "w.bin", &bytes);
    assert_eq!(
        err_default(&dir, &path),
        format!(
            "w.bin: byte offset {queen_vector}: file ends inside the vector of word 'queen' \
             (row 4 of 4): expected 12 bytes, found 5"
        )
    );
    match load_err(&path, &LoadOptions::default()) {
        LoadError::Data {
            location: Location::Offset { offset, .. },
            problem:
                Problem::TruncatedVector {
                    row: 4,
                    count: 4,
                    expected: 12,
                    found: 5,
                    ..
                },
        } => assert_eq!(offset, queen_vector as u64),
        other => panic!("unexpected {other:?}"),
    }

    // Truncated inside a word.
    bytes.truncate(queen_vector - 3);
    let path = write(&dir, "w.bin", &bytes);
    assert_eq!(
        err_default(&dir, &path),
        format!(
            "w.bin: byte offset {}: file ends inside the word of row 4 of 4",
            queen_vector - 6
        )
    );

    // The same inside a gzip stream: offsets are in the decompressed stream.
    let mut bytes = sample_binary(false);
    bytes.truncate(bytes.len() - 1);
    let path = write(&dir, "w.bin.gz", &gzip(&bytes));
    let msg = err_default(&dir, &path);
    assert!(
        msg.starts_with("w.bin.gz: byte offset ")
            && msg.ends_with("(row 4 of 4): expected 12 bytes, found 11"),
        "{msg}"
    );
}

#[test]
fn runaway_binary_word() {
    let dir = TempDir::new().unwrap();
    let mut bytes = b"1 2\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 70_000));
    let path = write(&dir, "w.bin", &bytes);
    assert_eq!(
        err_msg(&dir, &path, &opts_format(Format::Word2VecBinary)),
        "w.bin: byte offset 4: the word of row 1 is longer than 65536 bytes; \
         not a word2vec binary file?"
    );
}

#[test]
fn header_count_disagrees_with_rows() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.txt", b"5 2\na 1 2\nb 3 4\nc 5 6\n");
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:4: the header says 5 rows, but the file ends after 3"
    );
    let path = write(&dir, "w.txt", b"2 2\na 1 2\nb 3 4\nc 5 6\nd 7 8\n");
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:4: more rows than the 2 the header announces (--limit 2 reads only those)"
    );

    let rows: Vec<(&[u8], Vec<f32>)> = vec![(b"a", vec![1.0]), (b"b", vec![2.0])];
    let mut bytes = w2v_binary(&rows, true);
    bytes[0] = b'3';
    let path = write(&dir, "w.bin", &bytes);
    assert_eq!(
        err_default(&dir, &path),
        "w.bin: byte offset 18: the header says 3 rows, but the file ends after 2"
    );
    bytes[0] = b'1';
    let path = write(&dir, "w.bin", &bytes);
    assert_eq!(
        err_default(&dir, &path),
        "w.bin: byte offset 11: more rows than the 1 the header announces (--limit 1 reads only those)"
    );
}

#[test]
fn empty_files() {
    let dir = TempDir::new().unwrap();
    for (name, bytes) in [
        ("empty.txt", b"".to_vec()),
        ("blank.txt", b"\n \n\r\n".to_vec()),
        ("bom.txt", b"\xEF\xBB\xBF".to_vec()),
        ("empty.txt.gz", gzip(b"")),
    ] {
        let path = write(&dir, name, &bytes);
        assert_eq!(
            err_default(&dir, &path),
            format!("{name}: empty file: no rows")
        );
    }
    for (name, bytes) in [
        ("header.txt", b"400000 50\n".to_vec()),
        ("header-no-newline.txt", b"400000 50".to_vec()),
        ("header-blank.txt", b"400000 50\n\n\n".to_vec()),
        ("header.txt.gz", gzip(b"400000 50\n")),
    ] {
        let path = write(&dir, name, &bytes);
        assert_eq!(
            err_default(&dir, &path),
            format!("{name}: empty: the header announces 400000 rows but none follow")
        );
    }
}

#[test]
fn malformed_headers() {
    let dir = TempDir::new().unwrap();
    for header in [
        "400000 fifty",
        "400000",
        "400000 50x",
        "99999999999999999999999 50",
    ] {
        let text = format!("{header}\nthe 1 2\n");
        let path = write(&dir, "w.txt", text.as_bytes());
        assert_eq!(
            err_default(&dir, &path),
            format!("w.txt:1: malformed header '{header}': expected two integers, 'count dims'")
        );
    }
}

#[test]
fn absurd_header_dimensions_fail_cleanly() {
    let dir = TempDir::new().unwrap();
    // Within the accepted range but far wider than the rows: must not try to reserve
    // rows x dims values up front.
    let mut text = b"50000 1000000\n".to_vec();
    text.extend(big_glove(50_000, 2));
    let path = write(&dir, "w.txt", &text);
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:2: expected 1000000 values after the word, found 2"
    );
    let rows: Vec<(&[u8], Vec<f32>)> = vec![(b"a", vec![1.0; 4])];
    let mut bytes = w2v_binary(&rows, true);
    bytes.splice(0..3, b"100000 1000000".iter().copied());
    let path = write(&dir, "w.bin", &bytes);
    let msg = err_default(&dir, &path);
    assert!(
        msg.ends_with("file ends inside the vector of word 'a' (row 1 of 100000): expected 4000000 bytes, found 17"),
        "{msg}"
    );
    let path = write(&dir, "w.txt", b"1 2000000\na 1\n");
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:1: the header says 2000000 dimensions; expected between 1 and 1048576"
    );
}

#[test]
fn zero_dimensions() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.txt", b"10 0\na\n");
    assert_eq!(
        err_default(&dir, &path),
        "w.txt:1: the header says 0 dimensions; expected between 1 and 1048576"
    );
    let path = write(&dir, "g.txt", b"word\nother\n");
    assert_eq!(
        err_default(&dir, &path),
        "g.txt:1: the first row has a word but no values, so there are 0 dimensions"
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.txt");
    let err = load_err(&path, &LoadOptions::default());
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert!(err_default(&dir, &path).starts_with("nope.txt: "));
}

#[test]
fn sink_errors_abort_the_load() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "w.bin", &sample_binary(true));
    let mut calls = 0;
    let err = load(&path, &LoadOptions::default(), &|_, _| {}, &mut |_| {
        calls += 1;
        anyhow::bail!("index is full")
    })
    .unwrap_err();
    assert!(matches!(err, LoadError::Sink(_)), "{err:?}");
    assert_eq!(err.to_string(), "index is full");
    assert_eq!(calls, 1);

    let path = write(&dir, "g.txt", &big_glove(50_000, 2));
    let mut calls = 0;
    let err = load(&path, &LoadOptions::default(), &|_, _| {}, &mut |_| {
        calls += 1;
        anyhow::bail!("no")
    })
    .unwrap_err();
    assert!(matches!(err, LoadError::Sink(_)));
    assert_eq!(calls, 1);
}

#[test]
fn errors_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<LoadError>();
    assert_send_sync::<LoadReport>();
}

// ---------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------

fn progress_of(path: &Path) -> Vec<(u64, u64)> {
    let calls = Mutex::new(Vec::new());
    let progress = |done, total| calls.lock().unwrap().push((done, total));
    load(path, &LoadOptions::default(), &progress, &mut |_| Ok(())).unwrap();
    calls.into_inner().unwrap()
}

fn assert_progress(calls: &[(u64, u64)], total: u64, min_calls: usize) {
    assert!(calls.len() >= min_calls, "only {} calls", calls.len());
    assert!(calls.iter().all(|&(_, t)| t == total), "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{calls:?}");
    assert_eq!(calls.last(), Some(&(total, total)));
}

#[test]
fn progress_counts_source_bytes() {
    let dir = TempDir::new().unwrap();
    let text = big_glove(100_000, 8);
    let plain = write(&dir, "g.txt", &text);
    assert_progress(&progress_of(&plain), text.len() as u64, 8);

    let gz_bytes = gzip(&text);
    let gz = write(&dir, "g.txt.gz", &gz_bytes);
    assert_progress(&progress_of(&gz), gz_bytes.len() as u64, 2);

    let rows: Vec<(Vec<u8>, Vec<f32>)> = (0..40_000)
        .map(|i| (format!("w{i}").into_bytes(), vec![i as f32; 4]))
        .collect();
    let rows: Vec<(&[u8], Vec<f32>)> = rows.iter().map(|(w, v)| (&w[..], v.clone())).collect();
    let bin_bytes = w2v_binary(&rows, true);
    let bin = write(&dir, "w.bin", &bin_bytes);
    assert_progress(&progress_of(&bin), bin_bytes.len() as u64, 3);

    let member = b"a 1 2\nb 3 4\n";
    let zip_bytes = zip_of(&[("a.txt", member)]);
    let zipped = write(&dir, "a.zip", &zip_bytes);
    let calls = progress_of(&zipped);
    let (_, total) = *calls.last().unwrap();
    assert!(total > 0 && total < zip_bytes.len() as u64, "{calls:?}");
    assert_progress(&calls, total, 1);
}
