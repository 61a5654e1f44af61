//! Turns values and errors into text for the terminal: aligned neighbour tables with score bars,
//! scalars, and errors with a caret under the offending span. Pure: returns strings.

use owo_colors::{OwoColorize, Style};
use unicode_width::UnicodeWidthStr;

use std::fmt::Write as _;
use std::time::Duration;

use crate::ast::Span;
use crate::eval::{EvalError, Neighbour, SubwordWord, Value};
pub use crate::text::thousands;
use crate::text::{escape, escape_word};

mod changed;
mod columns;
mod compare;
pub mod help;
pub mod map;
pub mod picture;
pub mod svg;
use crate::protocols::{method_label, Protocol, Report};

#[derive(Debug, Clone)]
pub struct Renderer {
    pub color: bool,
    /// Terminal width in columns; tables shrink their bars and words to fit.
    pub width: usize,
    /// Whether stdout is a terminal. Notes and warnings are wrapped at `width` only there:
    /// piped output keeps one line per note, which scripts compare.
    pub terminal: bool,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer {
            color: false,
            width: 80,
            terminal: false,
        }
    }
}

/// Widest bar, in cells; each cell shows eighths of a block.
const BAR_CELLS: usize = 10;

impl Renderer {
    fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }

    /// `label: text`, on one line; on a terminal too narrow for it, wrapped at word boundaries
    /// with the continuation lines indented under the text (a cut mid-word reads badly).
    fn remark(&self, label: &str, text: &str, style: Style) -> String {
        let lead = format!("{label}: ");
        let lines = self.hanging(lead.width(), text);
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let lead = if i == 0 {
                    lead.clone()
                } else {
                    " ".repeat(lead.width())
                };
                self.paint(&format!("{lead}{line}"), style)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `text` as the lines it takes after a lead of `lead` columns: one line, or on a terminal
    /// too narrow for it, lines broken at blanks that fit beside the lead (the continuation
    /// lines go under the text; see `remark`).
    fn hanging(&self, lead: usize, text: &str) -> Vec<String> {
        if self.terminal && lead + help::visible_width(text) > self.width {
            help::wrap(text, self.width.saturating_sub(lead).max(20))
        } else {
            vec![text.to_string()]
        }
    }

    /// The text for a value; empty for `Value::Nothing`. Ends without a newline.
    pub fn value(&self, value: &Value) -> String {
        match value {
            Value::Neighbours {
                query,
                neighbours,
                approximate,
                searched,
                note,
                subwords,
                ..
            } => {
                let mut out = self.table(neighbours);
                if neighbours.is_empty() {
                    out = self.paint("(no neighbours)", Style::new().dimmed());
                }
                out = self.with_subwords(subwords, out);
                // Said first, in a dim line of its own, so no table row is taken for it.
                if *approximate {
                    let what = searched
                        .as_deref()
                        .map_or(String::new(), |s| format!(", {s}"));
                    let header = format!("{} (approximate{what})", escape(query));
                    out = format!("{}\n{out}", self.paint(&header, Style::new().dimmed()));
                }
                if let Some(note) = note {
                    out.push('\n');
                    out.push_str(&self.remark("note", note, Style::new().yellow()));
                }
                out
            }
            Value::Scalar {
                value, subwords, ..
            } => self.with_subwords(
                subwords,
                self.paint(&format_number(*value), Style::new().bold()),
            ),
            Value::Odd {
                word,
                scores,
                subwords,
                ..
            } => {
                let head = match word {
                    Some(word) => format!(
                        "{} {}",
                        self.paint("odd one out:", Style::new().dimmed()),
                        self.paint(&escape_word(word), Style::new().bold())
                    ),
                    None if scores.len() == 2 => self.paint(
                        "no odd one out: two words are always equally far from their mean",
                        Style::new().dimmed(),
                    ),
                    None => self.paint(
                        "no odd one out: the lowest scores tie",
                        Style::new().dimmed(),
                    ),
                };
                // The table marks the words that are not in the vocabulary.
                let marked: Vec<Neighbour> = scores
                    .iter()
                    .map(|n| Neighbour {
                        word: match subwords.iter().find(|s| s.word == n.word) {
                            Some(s) => format!("{} {}", n.word, s.mark()),
                            None => n.word.clone(),
                        },
                        score: n.score,
                        label: n.label,
                    })
                    .collect();
                self.with_subwords(subwords, format!("{head}\n{}", self.table(&marked)))
            }
            Value::Bound {
                name,
                query,
                warning,
            } => {
                let mut out = format!(
                    "{} = {}",
                    self.paint(name, Style::new().cyan().bold()),
                    escape(&query.to_string())
                );
                if let Some(warning) = warning {
                    out.push('\n');
                    out.push_str(&self.remark("warning", &escape(warning), Style::new().yellow()));
                }
                out
            }
            Value::Setting { name, value, note } => {
                let mut out = format!("{} = {}", self.paint(name, Style::new().cyan()), value);
                if let Some(note) = note {
                    out.push('\n');
                    out.push_str(&self.remark("note", note, Style::new().yellow()));
                }
                out
            }
            // The input as a title, so that several maps of one run can be told apart.
            Value::Map {
                query,
                points,
                arrows,
                variance,
                coordinates,
                ..
            } => format!(
                "{}\n{}",
                self.paint(
                    &truncate(&escape(query), self.width.max(map::MIN_COLS + 2)),
                    Style::new().bold()
                ),
                self.map_in(points, arrows, *variance, coordinates.as_deref())
            ),
            Value::Ast { text } => text.clone(),
            Value::Vector {
                word,
                norm,
                values,
                oov,
                label,
                tokens,
                ..
            } => self.vector(word, *norm, values, *oov, *label, tokens),
            Value::Picture {
                item,
                label,
                width,
                values,
                neighbours,
                ..
            } => self.picture(item, *label, *width, values, neighbours),
            Value::Vars { vars } => {
                if vars.is_empty() {
                    return self.paint(
                        "(no named results; bind one with: let royal = king - man)",
                        Style::new().dimmed(),
                    );
                }
                let w = vars.iter().map(|v| v.name.width()).max().unwrap_or(0);
                vars.iter()
                    .map(
                        |crate::eval::Var {
                             name: n,
                             query: q,
                             space,
                         }| {
                            let space = space
                                .as_ref()
                                .map(|s| format!(" ({})", escape(s)))
                                .unwrap_or_default();
                            format!(
                                "{} = {}{space}",
                                self.paint(&format!("{n:<w$}"), Style::new().cyan()),
                                escape(&q.to_string())
                            )
                        },
                    )
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Value::Compare(c) => self.comparison(c),
            Value::Changed(c) => self.changes(c),
            Value::Aligned {
                a,
                b,
                words,
                dims,
                cosine_before,
                cosine_after,
            } => format!(
                "aligned {} onto {} over {} shared words ({dims} dims): mean cosine of their two \
                 vectors {cosine_before:.3} before, {cosine_after:.3} after",
                self.paint(&escape(a), Style::new().cyan().bold()),
                self.paint(&escape(b), Style::new().cyan().bold()),
                thousands(*words),
            ),
            Value::Spaces { spaces } => self.space_rows(spaces),
            Value::SpaceOpened {
                name,
                words,
                dims,
                reused,
                active,
            } => self.space_opened(name, *words, *dims, reused.as_deref(), *active),
            Value::Nothing => String::new(),
        }
    }

    /// `out` preceded by one line per unknown word that got its vector from its character
    /// n-grams or a model's tokenizer: `governmnet (subwords) · did you mean 'government'?`,
    /// `"new york" (2 tokens: new·york)`.
    fn with_subwords(&self, subwords: &[SubwordWord], out: String) -> String {
        if subwords.is_empty() {
            return out;
        }
        let mut lines: Vec<String> = subwords
            .iter()
            .map(|s| {
                let mut line = format!(
                    "{} {}",
                    self.paint(&crate::text::escape(&s.shown_word()), Style::new().bold()),
                    self.paint(&crate::text::escape(&s.mark()), Style::new().yellow())
                );
                if let Some(hint) = &s.hint {
                    line.push_str(&self.paint(
                        &format!(" · {}", crate::text::escape(hint)),
                        Style::new().dimmed(),
                    ));
                }
                line
            })
            .collect();
        lines.push(out);
        lines.join("\n")
    }

    /// An aligned table: rank, word, label (items that have one), score (3 decimals), and a
    /// bar proportional to the score. It fits `width`: the bar shrinks first, then long words
    /// are cut (only then: a word the width holds is shown whole), then the bar goes.
    pub fn table(&self, rows: &[Neighbour]) -> String {
        self.ranked_table(rows, 1)
    }

    /// [`Renderer::table`] whose first row has rank `first` (the rest of a list shown in part).
    fn ranked_table(&self, rows: &[Neighbour], first: usize) -> String {
        let rank_w = (first + rows.len())
            .saturating_sub(1)
            .to_string()
            .len()
            .max(2);
        // Words come from the file: escaped before they reach the terminal.
        let escaped: Vec<std::borrow::Cow<str>> =
            rows.iter().map(|n| escape_word(&n.word)).collect();
        // A long word is cut only when the terminal is too narrow for it (`fit`).
        let longest = escaped.iter().map(|w| w.width()).max().unwrap_or(0);
        // Labelled items (the MNIST pickle) show their label beside them: `17  label 7`.
        let labels: Vec<String> = rows
            .iter()
            .map(|n| n.label.map_or_else(String::new, |l| format!("label {l}")))
            .collect();
        let label_w = labels.iter().map(|l| l.width()).max().unwrap_or(0);
        let label_cols = if label_w > 0 { label_w + 2 } else { 0 };
        let (word_max, cells) = fit(self.width.saturating_sub(label_cols), rank_w, longest);
        let words: Vec<String> = escaped.iter().map(|w| truncate(w, word_max)).collect();
        let word_w = words.iter().map(|w| w.width()).max().unwrap_or(0);
        rows.iter()
            .zip(&words)
            .zip(&labels)
            .enumerate()
            .map(|(i, ((n, w), label))| {
                let pad = word_w - w.width();
                let rank = self.paint(&format!("{:>rank_w$}", first + i), Style::new().dimmed());
                let word = self.paint(w, Style::new().bold());
                let label = if label_w > 0 {
                    format!(
                        "  {}",
                        self.paint(&format!("{label:<label_w$}"), Style::new().cyan())
                    )
                } else {
                    String::new()
                };
                let mut line = format!("{rank} {word}{:pad$}{label}  {:>6.3}", "", n.score);
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
                    let word = escape_word(&n.word);
                    let w = if i > 0 { 3 } else { 0 } + word.width() + score.len();
                    if i > 0 && used + w > max {
                        break;
                    }
                    if i > 0 {
                        out.push_str(&self.paint(" · ", Style::new().dimmed()));
                    }
                    out.push_str(&self.paint(&word, Style::new().bold()));
                    out.push_str(&score);
                    used += w;
                }
                out
            }
            Value::Odd {
                word: Some(word), ..
            } => self.paint(&escape_word(word), Style::new().bold()),
            Value::Odd { word: None, .. } => self.paint("(no odd one out)", Style::new().dimmed()),
            Value::Nothing => String::new(),
            other => self.value(other),
        }
    }

    /// A `vecsh eval` report as text.
    pub fn report(&self, report: &Report) -> String {
        self::report(self, report)
    }

    /// An evaluation stopped by Ctrl-C: what was stopped and after how long, and why there are
    /// no figures.
    pub fn interrupted_evaluation(&self, what: &str, after: Duration) -> String {
        self.paint(
            &format!(
                "(Ctrl-C) {} stopped after {}; no figures, as part of a set would misreport it",
                escape(what),
                seconds(after)
            ),
            Style::new().yellow(),
        )
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
        let lead = origin.map_or(0, |o| o.width() + 2) + "error: ".len();
        let message = self
            .hanging(lead, &escape(&err.message))
            .join(&format!("\n{:lead$}", ""));
        out.push_str(&format!(
            "{} {message}",
            self.paint("error:", Style::new().red().bold()),
        ));
        if !err.also.is_empty() {
            out.push_str(&self.gathered_errors(line, &err.also));
            return out;
        }
        if let Some(span) = err.span {
            out.push_str(&self.caret_lines(line, span));
        }
        if let Some(help) = &err.help {
            let text = self.hanging(8, &escape(help)).join(&format!("\n{:8}", ""));
            out.push_str(&format!(
                "\n  {} {text}",
                self.paint("help:", Style::new().cyan().bold()),
            ));
        }
        out
    }

    /// The parts of an error that gathers several (every unknown word of a line): the line
    /// once with a caret under each part when it fits on one screen line, else each part's own
    /// line and caret; then each part's hint, named by the text it is about.
    fn gathered_errors(&self, line: &str, parts: &[EvalError]) -> String {
        let help = self.paint("help:", Style::new().cyan().bold());
        let shown = line.trim_end().replace('\t', " ");
        let spans: Vec<Span> = parts.iter().filter_map(|p| p.span).collect();
        let one_line = !shown.contains('\n')
            && escape(&shown).width() <= self.width.saturating_sub(2).max(40)
            && spans.len() == parts.len()
            && spans.windows(2).all(|w| w[0].end <= w[1].start)
            && spans.iter().all(|s| {
                s.end <= shown.len()
                    && shown.is_char_boundary(s.start)
                    && shown.is_char_boundary(s.end)
            });
        let mut out = String::new();
        if one_line {
            let mut carets = String::new();
            for span in &spans {
                let lead = escape(&shown[..span.start]).width();
                let marks = escape(&shown[span.start..span.end]).width().max(1);
                carets.push_str(&" ".repeat(lead.saturating_sub(carets.chars().count())));
                carets.push_str(&"^".repeat(marks));
            }
            out.push_str(&format!(
                "\n  {}\n  {}",
                escape(&shown),
                self.paint(&carets, Style::new().red().bold())
            ));
        }
        for part in parts {
            if !one_line {
                if let Some(span) = part.span {
                    out.push_str(&self.caret_lines(line, span));
                }
            }
            let what = part
                .span
                .and_then(|s| line.get(s.start..s.end))
                .map(|t| format!("{}: ", escape(t)))
                .unwrap_or_default();
            match &part.help {
                Some(hint) => out.push_str(&format!("\n  {help} {what}{}", escape(hint))),
                None if !one_line => {}
                None => out.push_str(&format!("\n  {help} {what}no word is close")),
            }
        }
        out
    }

    /// The line of `span` and a caret line under the span, each indented two columns.
    fn caret_lines(&self, line: &str, span: Span) -> String {
        let mut out = String::new();
        {
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
            let start = floor_char(&shown, (start - line_start).min(shown.len()));
            let end = floor_char(
                &shown,
                span.end
                    .saturating_sub(line_start)
                    .clamp(start, shown.len()),
            );
            let (before, marked, after) = caret_window(&shown, start, end, self.width);
            let lead = before.width();
            let carets = marked.width().max(1);
            out.push_str(&format!(
                "\n  {before}{marked}{after}\n  {:lead$}{}",
                "",
                self.paint(&"^".repeat(carets), Style::new().red().bold())
            ));
        }
        out
    }
}

/// The largest char boundary of `s` at or before `i`.
fn floor_char(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The part of an error line shown around the span `start..end`, escaped (the line may come
/// from a file): what precedes the span, the span, what follows. A line wider than the
/// terminal is cut to a window of about `width` columns around the span, with `…` where it
/// was cut, so a caret far right (column 65,536 and more) stays on screen.
fn caret_window(line: &str, start: usize, end: usize, width: usize) -> (String, String, String) {
    let before = escape(&line[..start]).into_owned();
    let mut marked = escape(&line[start..end]).into_owned();
    let mut after = escape(&line[end..]).into_owned();
    // Room for the two-blank indent; at least enough to show some context.
    let room = width.saturating_sub(2).max(40);
    if before.width() + marked.width() + after.width() <= room {
        return (before, marked, after);
    }
    let keep = |s: &str, cols: usize, from_end: bool| -> String {
        let chars: Vec<char> = s.chars().collect();
        let mut used = 0;
        let mut taken = Vec::new();
        let mut push = |c: char| {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + w > cols {
                return false;
            }
            used += w;
            taken.push(c);
            true
        };
        if from_end {
            for &c in chars.iter().rev() {
                if !push(c) {
                    break;
                }
            }
            taken.reverse();
        } else {
            for &c in &chars {
                if !push(c) {
                    break;
                }
            }
        }
        taken.into_iter().collect()
    };
    // The span itself gets at most half the room; the context before it a third of the rest.
    if marked.width() > room / 2 {
        marked = format!("{}…", keep(&marked, room / 2 - 1, false));
    }
    let rest = room - marked.width();
    let before_room = (rest / 3).max(1);
    let before = if before.width() > before_room {
        format!("…{}", keep(&before, before_room - 1, true))
    } else {
        before
    };
    let after_room = room.saturating_sub(before.width() + marked.width());
    if after.width() > after_room {
        after = format!("{}…", keep(&after, after_room.saturating_sub(1), false));
    }
    (before, marked, after)
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

/// Bytes as KiB, MiB, GiB with one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut x = n as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit < UNITS.len() - 1 {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

/// A duration as people read it: "3.2 ms", "440 ms", "39.6 s".
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.2} %", part as f64 / whole as f64 * 100.0)
    }
}

/// 19544 → "19,544".
/// How exact search runs and what it costs (`vecsh info`, `:info`): "the lists' cells (97 %
/// of queries), else an int8 scan of 400,000 rows, rescored in f32; 1.62 ms a query".
pub fn exact_plan(plan: &crate::index::ExactPlan) -> String {
    let rows = thousands(plan.rows);
    let scan = match plan.pc_dims {
        Some(p) => format!("a scan of {rows} rows through their {p} principal components"),
        None => format!("an int8 scan of {rows} rows"),
    };
    let cells = match (plan.cells, plan.by_cells) {
        (true, Some(share)) => format!(
            "the lists' cells ({:.0} % of measured queries), else ",
            share * 100.0
        ),
        (true, None) => "the lists' cells, else ".to_string(),
        (false, _) => String::new(),
    };
    let cost = match plan.measured_ms {
        Some(ms) => format!("{ms:.2} ms a query (measured by the build)"),
        None => "not timed yet (`vecsh build` times it)".to_string(),
    };
    format!("{cells}{scan}, rescored in f32; {cost}")
}

// ---------------------------------------------------------------------------------------------
// `vecsh eval` reports
// ---------------------------------------------------------------------------------------------

/// An `eval` report: an aligned table per section, then semantic / syntactic / total.
fn report(renderer: &Renderer, report: &Report) -> String {
    let paint = |text: &str, style: Style| renderer.paint(text, style);
    let mut out = String::new();
    match report {
        Report::Analogy(r) => {
            let protocol = match r.protocol {
                Protocol::Gensim => "gensim evaluate_word_analogies",
                Protocol::Word2vec => "word2vec compute-accuracy",
            };
            let title = format!(
                "{} on {}: {protocol}, {}, first {} words",
                crate::text::escape_path(&r.questions_file),
                crate::text::escape_path(&r.embeddings),
                method_label(r.method),
                thousands(r.restrict)
            );
            let _ = writeln!(out, "{}", paint(&title, Style::new().bold()));
            let width = r
                .sections
                .iter()
                .map(|s| s.name.chars().count())
                .chain([9])
                .max()
                .unwrap_or(9);
            let head = format!(
                "{:<width$}  {:>7}  {:>7}  {:>8}  {:>7}",
                "section", "correct", "seen", "accuracy", "skipped"
            );
            let _ = writeln!(out, "{}", paint(&head, Style::new().dimmed()));
            let line = |name: &str, correct: usize, seen: usize, skipped: Option<usize>| {
                format!(
                    "{name:<width$}  {:>7}  {:>7}  {:>8}  {:>7}",
                    thousands(correct),
                    thousands(seen),
                    percent(correct, seen),
                    skipped.map(thousands).unwrap_or_default()
                )
            };
            for s in &r.sections {
                let _ = writeln!(out, "{}", line(&s.name, s.correct, s.seen, Some(s.skipped)));
            }
            let _ = writeln!(
                out,
                "{}",
                paint(&"─".repeat(width + 38), Style::new().dimmed())
            );
            // Only for the Google set's sections (`AnalogyReport::semantic`).
            if let (Some(semantic), Some(syntactic)) = (&r.semantic, &r.syntactic) {
                let _ = writeln!(
                    out,
                    "{}",
                    line("semantic", semantic.correct, semantic.seen, None)
                );
                let _ = writeln!(
                    out,
                    "{}",
                    line("syntactic", syntactic.correct, syntactic.seen, None)
                );
            }
            let total = line(
                "total",
                r.total.correct,
                r.total.seen,
                Some(r.skipped_unknown),
            );
            let _ = writeln!(out, "{}", paint(&total, Style::new().bold()));
            let _ = writeln!(
                out,
                "questions seen / total: {} / {} ({}), {} skipped for unknown words; {:.2} s",
                thousands(r.questions_seen),
                thousands(r.questions_total),
                percent(r.questions_seen, r.questions_total),
                thousands(r.skipped_unknown),
                r.seconds
            );
            if r.pooled_words > 0 {
                let _ = writeln!(
                    out,
                    "pooled    {} question word{} of several tokens, in {} of the questions seen",
                    thousands(r.pooled_words),
                    if r.pooled_words == 1 { "" } else { "s" },
                    thousands(r.pooled_questions)
                );
            }
            if r.details.is_some() {
                let _ = writeln!(out);
                out.push_str(&analogy_details(renderer, r));
            }
        }
        Report::Similarity(r) => {
            let title = format!(
                "{} on {}: gensim evaluate_word_pairs, first {} words",
                crate::text::escape_path(&r.pairs_file),
                crate::text::escape_path(&r.embeddings),
                thousands(r.restrict)
            );
            let _ = writeln!(out, "{}", paint(&title, Style::new().bold()));
            let _ = writeln!(out, "pearson   {:>8.4}", r.pearson);
            let _ = writeln!(out, "spearman  {:>8.4}", r.spearman);
            let _ = writeln!(
                out,
                "pairs     {} of {} used, {} with unknown words ({:.1} %); {:.2} s",
                thousands(r.used),
                thousands(r.pairs),
                thousands(r.unknown),
                r.unknown_percent,
                r.seconds
            );
            if r.pooled_words > 0 {
                let _ = writeln!(
                    out,
                    "pooled    {} word{} of several tokens",
                    thousands(r.pooled_words),
                    if r.pooled_words == 1 { "" } else { "s" }
                );
            }
        }
    }
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    lines.join("\n")
}

/// `--details`: one line per question, its mark, place, words and the protocol's answer.
fn analogy_details(renderer: &Renderer, r: &crate::protocols::AnalogyReport) -> String {
    let mut out = String::new();
    for d in r.details.iter().flatten() {
        let mark = match (d.seen, d.correct) {
            (false, _) => renderer.paint("skip", Style::new().dimmed()),
            (true, true) => renderer.paint("ok  ", Style::new().green()),
            (true, false) => renderer.paint("miss", Style::new().red()),
        };
        let _ = writeln!(
            out,
            "{mark} {}:{} {} → {}",
            crate::text::escape_path(&r.questions_file),
            d.line,
            crate::text::escape(&d.question.join(" ")),
            crate::text::escape(d.predicted.as_deref().unwrap_or("-"))
        );
    }
    out
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

/// `vecsh info --verify`: one line per table, then the verdict. Ends without a newline.
pub fn verify_report(report: &crate::index::VerifyReport) -> String {
    let mut out = format!("verify    {}\n", crate::text::escape_path(&report.index));
    if report.not_indexed {
        out.push_str(
            "not indexed yet: no index has been built for this file (opening it builds one)",
        );
        return out;
    }
    for (table, problem) in &report.tables {
        let state = match problem {
            None => "ok".to_string(),
            Some(p) => format!("DAMAGED: {}", crate::text::escape(p)),
        };
        out.push_str(&format!("  {table:<9} {state}\n"));
    }
    out.push_str(&format!(
        "{} ({:.1} MB read in {:.3} s)",
        if report.is_intact() {
            "intact"
        } else {
            "damaged: the next open rebuilds it from its file"
        },
        report.bytes as f64 / 1e6,
        report.seconds
    ));
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

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(19544), "19,544");
        assert_eq!(thousands(300000), "300,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
