//! Did-you-mean: the names and vocabulary words nearest to a mistyped one, and their wording.

use crate::index::Store;

/// The closest name by edit distance, if it is close enough to be a plausible typo.
pub(super) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|&(d, c)| d <= 2 && d < c.chars().count().max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// The vocabulary words (or names) nearest to `text`, ranked by edits and frequency together:
/// each candidate costs its edits, less its Jaro-Winkler similarity (which rewards a shared
/// start), plus a tenth of the log of its frequency rank (ids are in frequency order; names
/// come first), so that among words one edit away a common one comes before a rare one
/// (`frnace` → `france` before `furnace`) while a word one edit away always comes before any
/// two away. Up to three when they cost about the same (`womn` → `women`, `won` or `woman`).
/// Scans the word table once: error path only.
pub(super) fn closest_words<'a>(
    store: &'a Store,
    text: &str,
    names: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let len = text.chars().count();
    let max_distance = if len <= 4 { 1 } else { 2 };
    let mut found: Vec<(f64, &str)> = Vec::new();
    for (rank, candidate) in names.chain(store.words().map(|(_, w)| w)).enumerate() {
        if candidate.chars().count().abs_diff(len) > max_distance {
            continue;
        }
        let d = strsim::damerau_levenshtein(text, candidate);
        // Replacing every character (`😀` → `a`) keeps nothing of what was typed: not close.
        if d <= max_distance && d < len {
            let cost = d as f64 - strsim::jaro_winkler(text, candidate)
                + 0.1 * ((rank + 1) as f64).log10();
            found.push((cost, candidate));
        }
    }
    // Stable: on equal cost the more frequent stays first.
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(best, _)) = found.first() else {
        return Vec::new();
    };
    found
        .iter()
        .filter(|c| c.0 - best < 0.05)
        .take(3)
        .map(|c| c.1.to_string())
        .collect()
}

/// "'a'", "'a' or 'b'", "'a', 'b' or 'c'".
pub(super) fn alternatives(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
