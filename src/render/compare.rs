//! Several spaces as text: `compare`'s lists side by side (shared words marked and coloured,
//! words another space lacks marked), each pair's agreement and shared vocabulary; the open
//! spaces of `:use` and what `:open` added.

use owo_colors::Style;
use unicode_width::UnicodeWidthStr;

use crate::eval::{Comparison, SpaceRow};
use crate::text::{escape, escape_word, thousands};

use super::{truncate, Renderer};

/// Marks a word that another space's list holds too.
const SHARED: &str = "*";
/// Marks a word that another space's vocabulary does not hold at all.
const ABSENT: &str = "†";
/// Below this share of the smaller vocabulary, a pair's overlap is said as a warning.
const THIN: f64 = 0.5;
/// The fewest characters of a word a column shows before the spaces are shown as blocks.
const MIN_CUT: usize = 10;

impl Renderer {
    /// `compare`: a column per space, a line per pair, a key.
    pub(super) fn comparison(&self, c: &Comparison) -> String {
        let n = c.spaces.len();
        let rows = c
            .spaces
            .iter()
            .map(|s| s.neighbours.len())
            .max()
            .unwrap_or(0);
        let rank_w = rows.max(1).to_string().len().max(2);
        // Each column's cells whole, then cut to fit when they must; below a readable cut (a
        // word shown in 5 letters says nothing) each space gets its own block instead.
        let full = |cut: usize| -> Vec<Vec<(String, bool)>> {
            c.spaces
                .iter()
                .map(|s| {
                    if let Some(missing) = &s.missing {
                        return vec![(truncate(&format!("({})", escape(missing)), cut), false)];
                    }
                    if s.neighbours.is_empty() {
                        return vec![("(no neighbours)".to_string(), false)];
                    }
                    s.neighbours
                        .iter()
                        .map(|h| {
                            let marks = format!(
                                "{}{}",
                                if h.shared_with.is_empty() { "" } else { SHARED },
                                if h.missing_from.is_empty() {
                                    ""
                                } else {
                                    ABSENT
                                }
                            );
                            let word = truncate(&escape_word(&h.word), cut.saturating_sub(9));
                            (
                                format!("{word}{marks} {:.3}", h.score),
                                !h.shared_with.is_empty(),
                            )
                        })
                        .collect()
                })
                .collect()
        };
        let widths_of = |cells: &[Vec<(String, bool)>]| -> Vec<usize> {
            c.spaces
                .iter()
                .zip(cells)
                .map(|(s, col)| {
                    col.iter()
                        .map(|(t, _)| t.width())
                        .chain(std::iter::once(escape(&s.space).width()))
                        .max()
                        .unwrap_or(0)
                })
                .collect()
        };
        let whole = full(usize::MAX);
        let whole_widths = widths_of(&whole);
        let total = rank_w + whole_widths.iter().map(|w| w + 2).sum::<usize>();
        // An even share of the terminal per column.
        let share = self.width.saturating_sub(rank_w) / n.max(1);
        let mut out = Vec::new();
        if total <= self.width || share.saturating_sub(9) >= MIN_CUT {
            let (cells, widths) = if total <= self.width {
                (whole, whole_widths)
            } else {
                let cells = full(share.saturating_sub(2));
                let widths = widths_of(&cells);
                (cells, widths)
            };
            let mut head = " ".repeat(rank_w);
            for (s, w) in c.spaces.iter().zip(&widths) {
                head.push_str("  ");
                head.push_str(
                    &self.paint(&format!("{:<w$}", escape(&s.space)), Style::new().bold()),
                );
            }
            out.push(head.trim_end().to_string());
            for r in 0..rows.max(1) {
                let mut line = self.paint(&format!("{:>rank_w$}", r + 1), Style::new().dimmed());
                for (col, w) in cells.iter().zip(&widths) {
                    line.push_str("  ");
                    match col.get(r) {
                        Some(cell) => line.push_str(&self.cell(cell, *w, r, col.len())),
                        None => line.push_str(&" ".repeat(*w)),
                    }
                }
                out.push(line.trim_end().to_string());
            }
        } else {
            for (s, col) in c.spaces.iter().zip(&whole) {
                out.push(self.paint(&escape(&s.space), Style::new().bold()));
                for (r, cell) in col.iter().enumerate() {
                    let rank = self.paint(&format!("{:>rank_w$}", r + 1), Style::new().dimmed());
                    out.push(format!("{rank}  {}", self.cell(cell, 0, r, col.len())));
                }
            }
        }
        for p in &c.pairs {
            // Lists shorter than k (a small vocabulary): the lengths the figures are over.
            let length = |name: &str| {
                c.spaces
                    .iter()
                    .find(|s| s.space == name)
                    .map_or(0, |s| s.neighbours.len())
            };
            let (la, lb) = (length(&p.a), length(&p.b));
            let lengths = if la.min(lb) < c.k {
                format!(
                    " (lists of {} and {}; RBO over the first {})",
                    thousands(la),
                    thousands(lb),
                    thousands(la.min(lb))
                )
            } else {
                String::new()
            };
            let agreement = match (p.jaccard, p.rbo) {
                (Some(j), Some(r)) => format!(
                    "top-{}{lengths} Jaccard {j:.3} ({} in both lists), RBO {r:.3} (p = {})",
                    c.k, p.common, c.p
                ),
                _ => format!(
                    "no agreement: {}",
                    escape(p.no_agreement.as_deref().unwrap_or("a list is missing"))
                ),
            };
            out.push(format!(
                "{} ~ {}: {agreement}; {} words shared (of {} and {})",
                escape(&p.a),
                escape(&p.b),
                thousands(p.shared_vocabulary),
                thousands(p.words_a),
                thousands(p.words_b),
            ));
            let smaller = p.words_a.min(p.words_b).max(1);
            if (p.shared_vocabulary as f64) < THIN * smaller as f64 {
                let what = if p.shared_vocabulary == 0 {
                    "no words at all: their lists cannot overlap".to_string()
                } else {
                    format!(
                        "only {} words, {:.1}% of the smaller vocabulary: few of one list's \
                         words can be in the other",
                        thousands(p.shared_vocabulary),
                        100.0 * p.shared_vocabulary as f64 / smaller as f64
                    )
                };
                out.push(self.remark(
                    "warning",
                    &format!("{} and {} share {what}", escape(&p.a), escape(&p.b)),
                    Style::new().yellow(),
                ));
            }
        }
        out.push(self.paint(
            &if n == 1 {
                "one space open: --also FILE or :open FILE adds others to compare with".to_string()
            } else {
                format!(
                    "{SHARED} in another space's list too · {ABSENT} not in another space's vocabulary"
                )
            },
            Style::new().dimmed(),
        ));
        out.join("\n")
    }

    /// One cell of `compare`, padded to `w`: green when another list holds the word, yellow
    /// for why a space has no list.
    fn cell(&self, (text, shared): &(String, bool), w: usize, row: usize, len: usize) -> String {
        let style = if *shared {
            Style::new().green().bold()
        } else if row == 0 && len == 1 && text.starts_with('(') {
            Style::new().yellow()
        } else {
            Style::new()
        };
        let pad = w.saturating_sub(text.width());
        format!("{}{}", self.paint(text, style), " ".repeat(pad))
    }

    /// `:use`: the open spaces, the active one marked.
    pub(super) fn space_rows(&self, rows: &[SpaceRow]) -> String {
        let name_w = rows.iter().map(|r| r.name.width()).max().unwrap_or(0);
        rows.iter()
            .map(|r| {
                let mark = if r.active { "*" } else { " " };
                let name = self.paint(
                    &format!("{:<name_w$}", escape(&r.name)),
                    if r.active {
                        Style::new().cyan().bold()
                    } else {
                        Style::new().cyan()
                    },
                );
                let file = if r.file.is_empty() {
                    "built-in".to_string()
                } else {
                    r.file.clone()
                };
                format!(
                    "{mark} {name}  {} words × {} dims  {}",
                    thousands(r.words),
                    r.dims,
                    self.paint(&file, Style::new().dimmed())
                )
                .trim_end()
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `:open`: the space added.
    pub(super) fn space_opened(
        &self,
        name: &str,
        words: usize,
        dims: usize,
        reused: Option<&str>,
        active: bool,
    ) -> String {
        let mut out = format!(
            "space {} = {} words × {dims} dims",
            self.paint(&escape(name), Style::new().cyan().bold()),
            thousands(words)
        );
        if reused == Some(name) {
            out.push_str(" (already open)");
        } else if let Some(of) = reused {
            out.push_str(&format!(
                " (the file of '{}', already open: one store, two names)",
                escape(of)
            ));
        }
        if active {
            out.push_str(", active");
        }
        out
    }
}
