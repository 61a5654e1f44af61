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

/// The vocabulary words (or names) nearest to `text`: fewest edits, then Jaro-Winkler
/// similarity (which rewards a shared start), then frequency; up to three when they are about
/// equally close (`womn` → `women` or `woman`). Scans the word table once: error path only.
pub(super) fn closest_words<'a>(
    store: &'a Store,
    text: &str,
    names: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let len = text.chars().count();
    let max_distance = if len <= 4 { 1 } else { 2 };
    // (edits, -similarity, order seen): ids are in frequency order, so earlier wins ties.
    let mut found: Vec<(usize, f64, usize, &str)> = Vec::new();
    for (seen, candidate) in names.chain(store.words().map(|(_, w)| w)).enumerate() {
        if candidate.chars().count().abs_diff(len) > max_distance {
            continue;
        }
        let d = strsim::damerau_levenshtein(text, candidate);
        // Replacing every character (`😀` → `a`) keeps nothing of what was typed: not close.
        if d <= max_distance && d < len {
            found.push((d, -strsim::jaro_winkler(text, candidate), seen, candidate));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    let Some(&(best_d, best_sim, _, _)) = found.first() else {
        return Vec::new();
    };
    found
        .iter()
        .filter(|c| c.0 == best_d && c.1 - best_sim < 0.02)
        .take(3)
        .map(|c| c.3.to_string())
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
