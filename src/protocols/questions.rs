//! Question and word-pair files: the questions-words analogy format, `w1<TAB>w2<TAB>score`
//! similarity pairs, and the built-in Google analogy set.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

/// A malformed line in a questions or pairs file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// One analogy question `a : b :: c : d`, words as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub words: [String; 4],
    /// 1-based line in the questions file.
    pub line: usize,
}

/// A `: name` section and its questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub questions: Vec<Question>,
}

/// Parses the questions-words format: `: section` lines, then `a b c d` lines. Blank lines and
/// lines starting with `#` are ignored; anything else is an error naming `origin:line`.
pub fn parse_questions(text: &str, origin: &str) -> Result<Vec<Section>, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: origin.to_string(),
        line,
        message,
    };
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with(':') {
            // gensim: line.lstrip(': ').strip()
            let name = trimmed.trim_start_matches([':', ' ']).trim();
            if name.is_empty() {
                return Err(err(
                    line,
                    "section header without a name (expected `: name`)".into(),
                ));
            }
            sections.push(Section {
                name: name.to_string(),
                line,
                questions: Vec::new(),
            });
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let Ok(words) = <[&str; 4]>::try_from(words.as_slice()) else {
            return Err(err(
                line,
                format!(
                    "expected 4 words `a b c d`, found {}: {trimmed:?}",
                    words.len()
                ),
            ));
        };
        let Some(section) = sections.last_mut() else {
            return Err(err(
                line,
                "question before the first `: section` line".into(),
            ));
        };
        section.questions.push(Question {
            words: words.map(str::to_string),
            line,
        });
    }
    Ok(sections)
}

/// Reads and parses a questions file.
pub fn read_questions(path: &Path) -> anyhow::Result<Vec<Section>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_questions(&text, &path.display().to_string())?)
}

/// One human similarity judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub score: f64,
    pub line: usize,
}

/// Parses `w1<TAB>w2<TAB>score` lines (SimLex-999, WordSim-353); `#` starts a comment line,
/// blank lines are ignored. A line without a tab may separate its three fields by spaces.
pub fn parse_pairs(text: &str, origin: &str) -> Result<Vec<Pair>, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: origin.to_string(),
        line,
        message,
    };
    let mut pairs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = if raw.contains('\t') {
            raw.split('\t').map(str::trim).collect()
        } else {
            raw.split_whitespace().collect()
        };
        let [a, b, score] = fields.as_slice() else {
            return Err(err(
                line,
                format!(
                    "expected `word1<TAB>word2<TAB>score`, found {} fields",
                    fields.len()
                ),
            ));
        };
        if a.is_empty() || b.is_empty() {
            return Err(err(line, "empty word".into()));
        }
        let score: f64 = score
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite())
            .ok_or_else(|| err(line, format!("score {score:?} is not a number")))?;
        pairs.push(Pair {
            a: a.to_string(),
            b: b.to_string(),
            score,
            line,
        });
    }
    Ok(pairs)
}

/// Reads and parses a word-pairs file.
pub fn read_pairs(path: &Path) -> anyhow::Result<Vec<Pair>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_pairs(&text, &path.display().to_string())?)
}

/// The Google analogy test set (Mikolov et al., 2013: 19,544 questions in 14 sections), as
/// word2vec ships it under the Apache License 2.0. Built in so that `vecsh eval analogy FILE`
/// works anywhere, with no download.
pub const GOOGLE_ANALOGIES: &str = include_str!("../../assets/eval/questions-words.txt");

/// How reports name the built-in set.
pub const GOOGLE_LABEL: &str = "google (built in)";

/// The analogy questions: the built-in Google set when QUESTIONS is missing or is the name
/// `google` (and no file of that name exists), else the file at that path.
pub fn load_questions(questions: Option<&Path>) -> anyhow::Result<(Vec<Section>, PathBuf)> {
    match questions {
        Some(path) if path != Path::new("google") || path.exists() => {
            Ok((read_questions(path)?, path.to_path_buf()))
        }
        _ => Ok((
            parse_questions(GOOGLE_ANALOGIES, GOOGLE_LABEL)?,
            PathBuf::from(GOOGLE_LABEL),
        )),
    }
}

/// The word-pair file. SimLex-999 and WordSim-353 carry no licence that allows passing them on,
/// so they are not built in: their names (when no file of that name exists) get an error that
/// says where to download them.
pub fn load_pairs(pairs: &Path) -> anyhow::Result<Vec<Pair>> {
    let known = [
        (
            ["simlex", "simlex999", "simlex-999"],
            "SimLex-999: https://fh295.github.io/simlex.html",
        ),
        (
            ["wordsim", "wordsim353", "ws353"],
            "WordSim-353: https://gabrilovich.com/resources/data/wordsim353/wordsim353.html",
        ),
    ];
    if !pairs.exists() {
        let name = pairs.to_string_lossy().to_lowercase();
        if let Some((_, source)) = known
            .iter()
            .find(|(names, _)| names.contains(&name.as_str()))
        {
            anyhow::bail!(
                "'{}' is not built in (its licence does not allow vecsh to ship it); \
                 download {source} and pass the file's path",
                crate::text::escape(&pairs.to_string_lossy())
            );
        }
    }
    read_pairs(pairs)
}
