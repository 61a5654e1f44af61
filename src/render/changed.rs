//! `:changed` as text: a line on what was compared, then one row per word (rank, word, local
//! measure, global measure once aligned, its nearest words in each space), every word escaped.

use owo_colors::Style;
use unicode_width::UnicodeWidthStr;

use crate::eval::Changes;
use crate::text::{escape, escape_word, thousands};

use super::{truncate, Renderer};

/// Neighbours shown per space in a row (JSON has all k).
const SHOWN: usize = 3;

impl Renderer {
    /// `:changed`: the head line, the table, a note.
    pub(super) fn changes(&self, c: &Changes) -> String {
        let (a, b) = (escape(&c.a), escape(&c.b));
        let mut out = vec![format!(
            "{} → {}: the {} most frequent of {} shared words ({a} has {}, {b} {}), {} neighbours \
             each; most changed first, by the {} measure",
            self.paint(&a, Style::new().cyan().bold()),
            self.paint(&b, Style::new().cyan().bold()),
            thousands(c.words),
            thousands(c.shared),
            thousands(c.words_a),
            thousands(c.words_b),
            c.k,
            c.by,
        )];
        let rank_w = c.rows.len().max(1).to_string().len();
        let words: Vec<String> = c
            .rows
            .iter()
            .map(|r| escape_word(&r.word).into_owned())
            .collect();
        let word_w = words
            .iter()
            .map(|w| w.width())
            .chain(std::iter::once(4))
            .max()
            .unwrap_or(4)
            .min(24);
        let measures_w = if c.aligned { 16 } else { 8 };
        // What is left of the line for the two lists of neighbours.
        let fixed = rank_w + 2 + word_w + 2 + measures_w + 2;
        let list_w = (self.width.saturating_sub(fixed) / 2).max(12);
        let list = |ws: &[String]| {
            let shown: Vec<String> = ws
                .iter()
                .take(SHOWN)
                .map(|w| escape_word(w).into_owned())
                .collect();
            truncate(&shown.join(", "), list_w.saturating_sub(2))
        };
        let mut head = format!("{:>rank_w$}  {:<word_w$}  {:>6}", "", "word", "local");
        if c.aligned {
            head.push_str(&format!("  {:>6}", "global"));
        }
        let left = format!("nearest in {a}");
        head.push_str(&format!("  {left:<list_w$}nearest in {b}"));
        out.push(self.paint(head.trim_end(), Style::new().bold()));
        for (i, (r, word)) in c.rows.iter().zip(&words).enumerate() {
            let word = truncate(word, word_w);
            let pad = word_w.saturating_sub(word.width());
            let mut line = format!(
                "{}  {}{}  {:>6.3}",
                self.paint(&format!("{:>rank_w$}", i + 1), Style::new().dimmed()),
                self.paint(&word, Style::new().bold()),
                " ".repeat(pad),
                r.local
            );
            if let Some(g) = r.global {
                line.push_str(&format!("  {g:>6.3}"));
            }
            let left = list(&r.neighbours_a);
            let pad = list_w.saturating_sub(left.width());
            line.push_str(&format!(
                "  {left}{}{}",
                " ".repeat(pad),
                list(&r.neighbours_b)
            ));
            out.push(line.trim_end().to_string());
        }
        if let Some(note) = &c.note {
            out.push(self.remark("note", &escape(note), Style::new().yellow()));
        }
        if c.dims_a != c.dims_b {
            out.push(self.paint(
                &format!(
                    "{a} has {} dimensions and {b} {}: no global measure (it needs aligned spaces of one dimension)",
                    c.dims_a, c.dims_b
                ),
                Style::new().dimmed(),
            ));
        } else if !c.aligned && c.shared >= c.dims_a {
            out.push(self.paint(
                &format!(":align {a} {b} adds the global measure (by=global ranks by it)"),
                Style::new().dimmed(),
            ));
        }
        out.join("\n")
    }
}
