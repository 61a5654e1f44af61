//! Rows as the file has them, drawn: `:vec`'s norm, first values and sparkline, and `:show`'s
//! pixel items as half-block pictures (two pixels a character cell), neighbours beside the item
//! as far as the terminal is wide.

use owo_colors::Style;
use unicode_width::UnicodeWidthStr;

use crate::eval::{Neighbour, PictureNeighbour};
use crate::text::{escape, escape_word};

use super::{truncate, Renderer};

/// The sparkline's eight levels, lowest first.
const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Columns between two pictures.
const GAP: usize = 3;
/// Without colour, a pixel is drawn when it is at least this bright (of the picture's
/// brightest).
const INK: f32 = 0.35;

impl Renderer {
    /// `:vec`: a head line (word, norm, dimensions), the first values that fit, a sparkline of
    /// all of them.
    pub(super) fn vector(
        &self,
        word: &str,
        norm: f32,
        values: &[f32],
        oov: bool,
        label: Option<i64>,
        tokens: &[String],
    ) -> String {
        let mut head = format!(
            "{}  {}",
            self.paint(&escape_word(word), Style::new().bold()),
            self.paint(
                &format!("norm {norm:.4}  {} dims", values.len()),
                Style::new().dimmed()
            )
        );
        if let Some(label) = label {
            head.push_str(&format!("  label {label}"));
        }
        if oov && tokens.is_empty() {
            head.push_str(&self.paint(
                "  (subwords: the mean of its character n-grams)",
                Style::new().yellow(),
            ));
        } else if oov {
            let shown: Vec<String> = tokens
                .iter()
                .map(|t| crate::eval::visible_token(t))
                .collect();
            let what = match shown.len() {
                1 => format!("  (1 token: {})", shown[0]),
                n => format!("  ({n} tokens: {}, pooled)", shown.join("·")),
            };
            head.push_str(&self.paint(&escape(&what), Style::new().yellow()));
        }
        let width = self.width.max(20);
        let mut shown = String::new();
        for (i, v) in values.iter().enumerate() {
            let cell = format!("{}{v:.4}", if i > 0 { " " } else { "" });
            // Room is kept for the ellipsis when values remain.
            let rest = if i + 1 < values.len() { 2 } else { 0 };
            if shown.width() + cell.width() + rest > width {
                shown.push_str(" …");
                break;
            }
            shown.push_str(&cell);
        }
        let line = sparkline(values, width);
        format!(
            "{head}\n{shown}\n{}",
            self.paint(&line, Style::new().green())
        )
    }

    /// `:show`: the item's picture, then as many neighbours' pictures beside it as the width
    /// holds; the other neighbours as a table below.
    pub(super) fn picture(
        &self,
        item: &str,
        label: Option<i64>,
        side: usize,
        values: &[f32],
        neighbours: &[PictureNeighbour],
    ) -> String {
        let caption = |word: &str, label: Option<i64>| match label {
            Some(label) => format!("{}  label {label}", escape_word(word)),
            None => escape_word(word).into_owned(),
        };
        let mut panels = vec![Panel::new(
            self.pixels(values, side),
            caption(item, label),
            String::new(),
        )];
        let mut used = panels[0].width;
        let mut drawn = 0;
        for n in neighbours {
            let panel = Panel::new(
                self.pixels(&n.values, side),
                caption(&n.word, n.label),
                format!("{:.3}", n.score),
            );
            if used + GAP + panel.width > self.width {
                break;
            }
            used += GAP + panel.width;
            panels.push(panel);
            drawn += 1;
        }
        let mut out = join(&panels);
        if drawn < neighbours.len() {
            let rest: Vec<Neighbour> = neighbours[drawn..]
                .iter()
                .map(|n| Neighbour {
                    word: n.word.clone(),
                    score: n.score,
                    label: n.label,
                })
                .collect();
            out.push('\n');
            out.push_str(&self.ranked_table(&rest, drawn + 1));
        }
        out
    }

    /// The half-block lines of a `side` × `side` picture: each cell is a pixel above another,
    /// pictures of 16 pixels or less drawn twice as large. In colour, grey levels (the
    /// brightest pixel white); without, a pixel is ink or paper.
    fn pixels(&self, values: &[f32], side: usize) -> (Vec<String>, usize) {
        let zoom = if side <= 16 { 2 } else { 1 };
        let max = values.iter().copied().fold(0f32, f32::max);
        let at = |x: usize, y: usize| -> f32 {
            let (x, y) = (x / zoom, y / zoom);
            if y >= side || max <= 0.0 {
                return 0.0;
            }
            (values.get(y * side + x).copied().unwrap_or(0.0) / max).clamp(0.0, 1.0)
        };
        let (cols, rows) = (side * zoom, side * zoom);
        let lines = (0..rows.div_ceil(2))
            .map(|line| {
                let mut out = String::new();
                for x in 0..cols {
                    let (top, bottom) = (at(x, 2 * line), at(x, 2 * line + 1));
                    if self.color {
                        let grey = |v: f32| 232 + (v * 23.0).round() as u8;
                        out.push_str(&format!(
                            "\x1b[38;5;{}m\x1b[48;5;{}m▀",
                            grey(top),
                            grey(bottom)
                        ));
                    } else {
                        out.push(match (top >= INK, bottom >= INK) {
                            (true, true) => '█',
                            (true, false) => '▀',
                            (false, true) => '▄',
                            (false, false) => ' ',
                        });
                    }
                }
                if self.color {
                    out.push_str("\x1b[0m");
                }
                out
            })
            .collect();
        (lines, cols)
    }
}

/// A picture with its two caption lines, and the columns it takes.
struct Panel {
    lines: Vec<String>,
    width: usize,
}

impl Panel {
    fn new((picture, cols): (Vec<String>, usize), caption: String, score: String) -> Panel {
        // A caption wider than the picture is cut to twice its width at most.
        let caption = truncate(&caption, (2 * cols).max(12));
        let width = cols.max(caption.width()).max(score.width());
        let pad = |s: &str, w: usize| format!("{s}{:1$}", "", width - w);
        let mut lines: Vec<String> = picture.iter().map(|l| pad(l, cols)).collect();
        lines.push(pad(&caption, caption.width()));
        lines.push(pad(&score, score.width()));
        Panel { lines, width }
    }
}

/// Panels side by side, `GAP` columns apart; trailing blanks trimmed.
fn join(panels: &[Panel]) -> String {
    let rows = panels.iter().map(|p| p.lines.len()).max().unwrap_or(0);
    (0..rows)
        .map(|r| {
            let line = panels
                .iter()
                .map(|p| {
                    p.lines
                        .get(r)
                        .cloned()
                        .unwrap_or_else(|| " ".repeat(p.width))
                })
                .collect::<Vec<_>>()
                .join(&" ".repeat(GAP));
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A sparkline of `values` in at most `width` cells: each cell the mean of the values it
/// stands for, scaled between the lowest and highest cell.
fn sparkline(values: &[f32], width: usize) -> String {
    if values.is_empty() {
        return String::new();
    }
    let per = values.len().div_ceil(width.max(1));
    let cells: Vec<f32> = values
        .chunks(per)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    let lo = cells.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = cells.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    cells
        .iter()
        .map(|&v| {
            let level = if hi > lo {
                ((v - lo) / (hi - lo) * 7.0).round() as usize
            } else {
                3
            };
            SPARKS[level.min(7)]
        })
        .collect()
}
