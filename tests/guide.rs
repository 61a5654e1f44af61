//! Every example of docs/guide.md runs here, as the demos do, so that no text of the manual
//! goes stale:
//!
//! * a ```` ```text ```` block of `$ vecsh …` lines is a transcript: each command runs (stdout
//!   and stderr together) and must print the lines under it. In the expected text `…` stands
//!   for any run of characters (shortened paths) and times (`0.63 s`, `489 ms`) match any time;
//! * a ```` ```text ```` block of `> ` lines is a session: its lines run as a script with
//!   `--echo`, which prints each line after `> ` above its answer as the session shows it (the
//!   banner above them, with its timing, is not compared, nor the `<stdin>:3:` that places a
//!   script's errors);
//! * a ```` ```sh ```` block is a list of commands: each `vecsh` (or `echo … | vecsh`) line runs
//!   and must succeed. The real GloVe 6B 50d is not at hand in tests: `glove.6B.50d.txt` is the
//!   first 6,000 words of the built-in vocabulary's source, `glove.6B.50d.50k.txt.gz` that
//!   source, and the other files named are tests/fixtures/guide/'s. Lines of other tools
//!   (`rsvg-convert`) are listed in [`OTHER_TOOLS`] and skipped.
//!
//! Several `-e` on a terminal show their lines; the transcripts show what a terminal shows, so
//! a command with two or more `-e` runs with `--echo`.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::demos_cache;

/// The words of the built-in vocabulary `glove.6B.50d.txt` stands for: enough for every word
/// the guide's commands use (`cat` is the 5,451st).
const WORDS: usize = 6_000;

/// Commands of the guide's `sh` blocks that are not vecsh's.
const OTHER_TOOLS: [&str; 1] = ["rsvg-convert"];

/// Paths of the guide that tests may not write to, and what they stand for here.
const REDIRECTS: [(&str, &str); 1] = [("/etc/bash_completion.d/vecsh", "vecsh.bash")];

struct Block {
    /// The document the block is in (`docs/guide.md`, `README.md`).
    file: &'static str,
    lang: String,
    /// The line of the guide the block starts on (its opening fence).
    line: usize,
    lines: Vec<String>,
}

fn guide() -> Vec<Block> {
    blocks("docs/guide.md")
}

/// The fenced blocks of `file` (relative to the crate).
fn blocks(file: &'static str) -> Vec<Block> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => {
                open = Some(Block {
                    file,
                    lang: lang.trim().to_string(),
                    line: i + 1,
                    lines: Vec::new(),
                })
            }
            (Some(_), Some("")) => blocks.push(open.take().unwrap()),
            (Some(block), _) => block.lines.push(line.to_string()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed block in {file}");
    blocks
}

/// A directory holding the files the guide names, and a `vecsh` on the PATH.
struct Work {
    dir: tempfile::TempDir,
    path: String,
}

fn work() -> Work {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = root.join("assets/glove.6B.50d.50k.txt.gz");
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&source).unwrap());
    let mut small = std::fs::File::create(d.join("glove.6B.50d.txt")).unwrap();
    for line in std::io::BufReader::new(gz).lines().take(WORDS) {
        writeln!(small, "{}", line.unwrap()).unwrap();
    }
    std::fs::copy(&source, d.join("glove.6B.50d.50k.txt.gz")).unwrap();
    let fixtures = root.join("tests/fixtures/guide");
    for (name, from) in [
        ("questions.txt", "questions.txt"),
        ("my-questions.txt", "questions.txt"),
        ("pairs.txt", "pairs.txt"),
        ("simlex999.txt", "pairs.txt"),
    ] {
        std::fs::copy(fixtures.join(from), d.join(name)).unwrap();
    }
    // The tutorial's MNIST layout, for `:show` (scikit-learn's digits, written by Python 2).
    std::fs::copy(
        root.join("tests/fixtures/pickles/py2_digits_mnist.pkl.gz"),
        d.join("digits.pkl.gz"),
    )
    .unwrap();
    // A model directory (issue 26): the GloVe-as-model2vec fixture.
    std::fs::create_dir(d.join("glove20k")).unwrap();
    let model = root.join("tests/fixtures/models/glove20k");
    for name in ["model.safetensors", "tokenizer.json", "config.json"] {
        std::fs::copy(model.join(name), d.join("glove20k").join(name)).unwrap();
    }
    std::fs::create_dir(d.join("demos")).unwrap();
    for entry in std::fs::read_dir(root.join("demos")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), d.join("demos").join(entry.file_name())).unwrap();
    }
    std::fs::create_dir(d.join("assets")).unwrap();
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("vecsh"), bin.join("vecsh")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Work { dir, path }
}

impl Work {
    /// `line` run by sh in the work directory, stdout and stderr together, stdin `input`.
    fn run(&self, line: &str, input: &str) -> (bool, String) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{line} 2>&1"))
            .current_dir(self.dir.path())
            .env("PATH", &self.path)
            // The built-in vocabulary's index is built once for the demos and this test.
            .env("VECSH_CACHE", demos_cache())
            .env("NO_COLOR", "1")
            .env_remove("VECSH_HISTORY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout)
            .replace(&format!("{}/", self.dir.path().display()), "")
            .replace(
                &format!("{}/", self.dir.path().canonicalize().unwrap().display()),
                "",
            );
        (out.status.success(), text)
    }
}

/// `text` with every time (`0.63 s`, `489 ms`) written `<time>`.
fn times(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if starts {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let rest: String = chars[j..chars.len().min(j + 4)].iter().collect();
            let unit = [" ms", " s"].into_iter().find(|u| {
                rest.starts_with(u)
                    && chars
                        .get(j + u.chars().count())
                        .is_none_or(|c| !c.is_alphanumeric())
            });
            if let Some(unit) = unit {
                out.push_str("<time>");
                i = j + unit.chars().count();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Whether `line` is `pattern`, where `…` in the pattern stands for any run of characters.
fn matches(pattern: &str, line: &str) -> bool {
    let (pattern, line) = (times(pattern), times(line));
    let parts: Vec<&str> = pattern.split('…').collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The printed lines must be the expected ones.
fn compare(block: &Block, what: &str, expected: &[String], printed: &str) -> Vec<String> {
    let printed: Vec<&str> = printed.lines().collect();
    let same = expected.len() == printed.len()
        && expected
            .iter()
            .zip(&printed)
            .all(|(e, p)| matches(e.trim_end(), p.trim_end()));
    if same {
        return Vec::new();
    }
    vec![format!(
        "{}:{}: {what} printed\n{}\n--- but the document shows ---\n{}",
        block.file,
        block.line,
        printed.join("\n"),
        expected.join("\n")
    )]
}

/// A transcript command as it runs: several `-e` show their lines, as on a terminal.
fn as_run(command: &str) -> String {
    if command.matches(" -e ").count() >= 2 {
        format!("{command} --echo")
    } else {
        command.to_string()
    }
}

/// Runs a transcript block (`$ vecsh …` lines, each followed by what it prints), adding a
/// failure for each command whose output differs; returns how many commands ran.
fn run_transcript(work: &Work, block: &Block, failures: &mut Vec<String>) -> usize {
    let mut ran = 0;
    let mut i = 0;
    while i < block.lines.len() {
        let command = block.lines[i].strip_prefix("$ ").unwrap().to_string();
        let end = block.lines[i + 1..]
            .iter()
            .position(|l| l.starts_with("$ "))
            .map_or(block.lines.len(), |n| i + 1 + n);
        let (_, out) = work.run(&as_run(&command), "");
        ran += 1;
        failures.extend(compare(
            block,
            &format!("`{command}`"),
            &block.lines[i + 1..end],
            &out,
        ));
        i = end;
    }
    ran
}

#[test]
fn every_example_of_the_guide_runs_as_shown() {
    let work = work();
    let mut failures = Vec::new();
    let mut ran = 0;
    for block in guide() {
        match block.lang.as_str() {
            "sh" => {
                for line in &block.lines {
                    let command = line.split("  #").next().unwrap().trim();
                    let tool = command.split_whitespace().next().unwrap_or("");
                    if command.is_empty() || OTHER_TOOLS.contains(&tool) {
                        continue;
                    }
                    assert!(
                        tool == "vecsh" || tool == "echo",
                        "docs/guide.md:{}: what runs `{tool}`?",
                        block.line
                    );
                    let mut command = command.to_string();
                    for (from, to) in REDIRECTS {
                        command = command.replace(from, to);
                    }
                    let (ok, out) = work.run(&command, "");
                    ran += 1;
                    if !ok {
                        failures.push(format!(
                            "docs/guide.md:{}: `{command}` failed:\n{out}",
                            block.line
                        ));
                    }
                }
            }
            "text" if block.lines.first().is_some_and(|l| l.starts_with("$ ")) => {
                ran += run_transcript(&work, &block, &mut failures);
            }
            "text" if block.lines.iter().any(|l| l.starts_with("> ")) => {
                let start = block
                    .lines
                    .iter()
                    .position(|l| l.starts_with("> "))
                    .unwrap();
                assert!(
                    block.lines[0].starts_with("vecsh "),
                    "docs/guide.md:{}: a session starts with its banner",
                    block.line
                );
                let script: String = block.lines[start..]
                    .iter()
                    .filter_map(|l| l.strip_prefix("> "))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let (_, out) = work.run("vecsh --echo", &script);
                // A script's errors name their line; the session's do not.
                let out: String = out
                    .lines()
                    .map(|l| match l.strip_prefix("<stdin>:") {
                        Some(rest) => rest.split_once(": ").map_or(l, |(_, e)| e),
                        None => l,
                    })
                    .map(|l| format!("{l}\n"))
                    .collect();
                ran += 1;
                failures.extend(compare(&block, "the session", &block.lines[start..], &out));
            }
            other => panic!(
                "docs/guide.md:{}: a ```{other} block this test does not run",
                block.line
            ),
        }
    }
    assert!(ran > 20, "only {ran} examples ran");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The README's tour: each ```` ```text ```` block of `$ vecsh …` lines runs as the guide's
/// transcripts do (the README's other blocks are install and set-up commands, not run here).
#[test]
fn every_transcript_of_the_readme_runs_as_shown() {
    let work = work();
    let mut failures = Vec::new();
    let mut ran = 0;
    for block in blocks("README.md") {
        if block.lang != "text"
            || !block
                .lines
                .first()
                .is_some_and(|l| l.starts_with("$ vecsh"))
        {
            continue;
        }
        ran += run_transcript(&work, &block, &mut failures);
    }
    assert!(ran >= 5, "only {ran} transcripts ran");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn times_and_ellipses_match_as_documented() {
    assert!(matches("built in 0.63 s", "built in 12.5 s"));
    assert!(matches("ready in 489 ms (x)", "ready in 3 ms (x)"));
    assert!(!matches("words 50000", "words 5000"));
    assert!(matches("file      …/a.gz", "file      /tmp/x/a.gz"));
    assert!(matches(
        "index     … (19.6 MiB)",
        "index     /c/d (19.6 MiB)"
    ));
    assert!(!matches(
        "index     … (19.6 MiB)",
        "index     /c/d (19.7 MiB)"
    ));
    assert_eq!(times("1990s 2 seconds 3 s"), "1990s 2 seconds <time>");
}
