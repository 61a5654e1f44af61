//! Turns values and errors into text for the terminal: aligned neighbour tables with score bars,
//! scalars, and errors with a caret under the offending span. Pure: returns strings.

use owo_colors::{OwoColorize, Style};
use unicode_width::UnicodeWidthStr;

use crate::eval::{EvalError, Neighbour, SearchUsed, Value};

#[derive(Debug, Clone)]
pub struct Renderer {
    pub color: bool,
    /// Terminal width in columns; tables shrink their bars and words to fit.
    pub width: usize,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer {
            color: false,
            width: 80,
        }
    }
}

/// Widest bar, in cells; each cell shows eighths of a block.
const BAR_CELLS: usize = 10;
/// Longest word shown before it is cut with an ellipsis.
const MAX_WORD: usize = 24;

impl Renderer {
    fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }

    /// The text for a value; empty for `Value::Nothing`. Ends without a newline.
    pub fn value(&self, value: &Value) -> String {
        match value {
            Value::Neighbours {
                neighbours,
                search,
                note,
                ..
            } => {
                let mut out = self.table(neighbours);
                if neighbours.is_empty() {
                    out = self.paint("(no neighbours)", Style::new().dimmed());
                }
                if *search == SearchUsed::Approx {
                    out.push('\n');
                    out.push_str(&self.paint("(approximate)", Style::new().dimmed()));
                }
                if let Some(note) = note {
                    out.push('\n');
                    out.push_str(&self.paint(&format!("note: {note}"), Style::new().yellow()));
                }
                out
            }
            Value::Scalar { value, .. } => self.paint(&format_number(*value), Style::new().bold()),
            Value::Odd { word, scores, .. } => {
                let head = format!(
                    "{} {}",
                    self.paint("odd one out:", Style::new().dimmed()),
                    self.paint(word, Style::new().bold())
                );
                format!("{head}\n{}", self.table(scores))
            }
            Value::Bound { name, query } => {
                format!(
                    "{} = {}",
                    self.paint(name, Style::new().cyan().bold()),
                    query
                )
            }
            Value::Setting { name, value } => {
                format!("{} = {}", self.paint(name, Style::new().cyan()), value)
            }
            Value::Ast { text } => text.clone(),
            Value::Vars { vars } => {
                if vars.is_empty() {
                    return self.paint(
                        "(no named results; bind one with: let royal = king - man)",
                        Style::new().dimmed(),
                    );
                }
                let w = vars.iter().map(|(n, _)| n.width()).max().unwrap_or(0);
                vars.iter()
                    .map(|(n, q)| {
                        format!(
                            "{} = {q}",
                            self.paint(&format!("{n:<w$}"), Style::new().cyan())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Value::Nothing => String::new(),
        }
    }

    /// An aligned table: rank, word, score (3 decimals), and a bar proportional to the score.
    /// It fits `width`: the bar shrinks first, then long words are cut, then the bar goes.
    pub fn table(&self, rows: &[Neighbour]) -> String {
        let rank_w = rows.len().to_string().len().max(2);
        let longest = rows
            .iter()
            .map(|n| n.word.width())
            .max()
            .unwrap_or(0)
            .min(MAX_WORD);
        let (word_max, cells) = fit(self.width, rank_w, longest);
        let words: Vec<String> = rows.iter().map(|n| truncate(&n.word, word_max)).collect();
        let word_w = words.iter().map(|w| w.width()).max().unwrap_or(0);
        rows.iter()
            .zip(&words)
            .enumerate()
            .map(|(i, (n, w))| {
                let pad = word_w - w.width();
                let rank = self.paint(&format!("{:>rank_w$}", i + 1), Style::new().dimmed());
                let word = self.paint(w, Style::new().bold());
                let mut line = format!("{rank} {word}{:pad$}  {:>6.3}", "", n.score);
                let bar = bar(n.score, cells);
                if !bar.is_empty() {
                    line.push(' ');
                    line.push_str(&self.paint(&bar, Style::new().green()));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A value on one line of at most `max` columns, for the live examples of `:help`: as
    /// many top neighbours with their scores as fit, a number, the odd word out.
    pub fn inline(&self, value: &Value, max: usize) -> String {
        match value {
            Value::Neighbours { neighbours, .. } => {
                let mut out = String::new();
                let mut used = 0;
                for (i, n) in neighbours.iter().enumerate() {
                    let score = format!(" {:.3}", n.score);
                    let w = if i > 0 { 3 } else { 0 } + n.word.width() + score.len();
                    if i > 0 && used + w > max {
                        break;
                    }
                    if i > 0 {
                        out.push_str(&self.paint(" · ", Style::new().dimmed()));
                    }
                    out.push_str(&self.paint(&n.word, Style::new().bold()));
                    out.push_str(&score);
                    used += w;
                }
                out
            }
            Value::Odd { word, .. } => self.paint(word, Style::new().bold()),
            Value::Nothing => String::new(),
            other => self.value(other),
        }
    }

    /// Public access to the palette for the front-end's own messages.
    pub fn style(&self, text: &str, style: Style) -> String {
        self.paint(text, style)
    }

    /// An error with the line, a caret under its span, and the help, e.g.
    /// ```text
    /// error: unknown word 'womn'
    ///   king - man + womn
    ///                ^^^^
    ///   help: did you mean 'woman'?
    /// ```
    /// `origin` (e.g. `demo.vsh:3`) prefixes the first line when the input came from a file.
    pub fn error(&self, line: &str, err: &EvalError, origin: Option<&str>) -> String {
        let mut out = String::new();
        if let Some(origin) = origin {
            out.push_str(&format!("{origin}: "));
        }
        out.push_str(&format!(
            "{} {}",
            self.paint("error:", Style::new().red().bold()),
            err.message
        ));
        if let Some(span) = err.span {
            // A continued input spans several lines: show the one the span starts on.
            let start = span.start.min(line.len());
            let line_start = line
                .get(..start)
                .and_then(|s| s.rfind('\n'))
                .map_or(0, |i| i + 1);
            let line_end = line[line_start..]
                .find('\n')
                .map_or(line.len(), |i| line_start + i);
            // Tabs become single blanks so the caret lines up whatever the tab stops.
            let shown = line[line_start..line_end].trim_end().replace('\t', " ");
            let start = (start - line_start).min(shown.len());
            let end = span
                .end
                .saturating_sub(line_start)
                .clamp(start, shown.len());
            let lead = shown.get(..start).map_or(start, |s| s.width());
            let marked = shown.get(start..end).map_or(1, |s| s.width()).max(1);
            out.push_str(&format!(
                "\n  {shown}\n  {:lead$}{}",
                "",
                self.paint(&"^".repeat(marked), Style::new().red().bold())
            ));
        }
        if let Some(help) = &err.help {
            out.push_str(&format!(
                "\n  {} {help}",
                self.paint("help:", Style::new().cyan().bold())
            ));
        }
        out
    }
}

/// A bar of `cells` cells for a score in [0, 1], with eighth-block resolution.
pub fn bar(score: f32, cells: usize) -> String {
    const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    let eighths = (score.clamp(0.0, 1.0) * (cells * 8) as f32) as usize;
    let mut s = "█".repeat(eighths / 8);
    s.push_str(EIGHTHS[eighths % 8]);
    s
}

/// Numbers as people read them: 4 decimals for fractions, no trailing zeros.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Narrowest bar worth drawing, in cells.
const MIN_BAR: usize = 4;
/// Words are not cut below this width.
const MIN_WORD: usize = 6;

/// The word width and bar cells of a table row in `width` columns. A row is the rank, a blank,
/// the word, two blanks, the score (6) and, when there is a bar, a blank and the bar.
fn fit(width: usize, rank_w: usize, longest: usize) -> (usize, usize) {
    let room = width.saturating_sub(rank_w + 1 + 2 + 6);
    if room >= longest + 1 + BAR_CELLS {
        (longest, BAR_CELLS)
    } else if room >= longest + 1 + MIN_BAR {
        (longest, room - longest - 1)
    } else if room >= MIN_WORD + 1 + MIN_BAR {
        (room - 1 - MIN_BAR, MIN_BAR)
    } else {
        (longest.min(room.max(MIN_WORD)), 0)
    }
}

/// `word` cut to `max` columns, with an ellipsis when cut.
fn truncate(word: &str, max: usize) -> String {
    if word.width() <= max {
        return word.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in word.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_have_eighth_resolution() {
        assert_eq!(bar(0.852, 10), "████████▌");
        assert_eq!(bar(0.766, 10), "███████▋");
        assert_eq!(bar(1.5, 4), "████");
        assert_eq!(bar(-0.2, 10), "");
    }

    #[test]
    fn numbers_drop_trailing_zeros() {
        assert_eq!(format_number(0.78390002), "0.7839");
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(-0.5), "-0.5");
    }
}
