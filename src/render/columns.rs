//! `vecsh eval … --also`: several files' evaluation reports as one table, a column per file
//! (accuracy or correlation, then each file's coverage: questions seen, pairs used, words
//! unknown), each file's `--details` below it.

use std::fmt::Write as _;

use owo_colors::Style;
use unicode_width::UnicodeWidthStr;

use crate::protocols::{method_label, AnalogyReport, Columns, Protocol, Report, SimilarityReport};
use crate::text::{escape, escape_path, thousands};

use super::{analogy_details, percent, Renderer};

/// One row of the table: its label, a cell per column, and how it is painted.
struct Row {
    label: String,
    cells: Vec<String>,
    style: Style,
}

impl Row {
    fn new(label: &str, cells: Vec<String>) -> Row {
        Row {
            label: label.to_string(),
            cells,
            style: Style::new(),
        }
    }

    fn styled(mut self, style: Style) -> Row {
        self.style = style;
        self
    }
}

impl Renderer {
    /// The columns: a title, the files by space name, then the table.
    pub fn eval_columns(&self, c: &Columns) -> String {
        let mut out = String::new();
        let Some(first) = c.columns.first() else {
            return out;
        };
        let files = c.columns.len();
        let title = match &first.report {
            Report::Analogy(r) => format!(
                "{}: {}, {}, {files} files side by side",
                escape_path(&r.questions_file),
                match r.protocol {
                    Protocol::Gensim => "gensim evaluate_word_analogies",
                    Protocol::Word2vec => "word2vec compute-accuracy",
                },
                method_label(r.method)
            ),
            Report::Similarity(r) => format!(
                "{}: gensim evaluate_word_pairs, {files} files side by side",
                escape_path(&r.pairs_file)
            ),
        };
        let _ = writeln!(out, "{}", self.paint(&title, Style::new().bold()));
        let names: Vec<String> = c
            .columns
            .iter()
            .map(|col| escape(&col.space).into_owned())
            .collect();
        let name_w = names.iter().map(|n| n.width()).max().unwrap_or(0);
        for (name, col) in names.iter().zip(&c.columns) {
            let (file, restrict) = match &col.report {
                Report::Analogy(r) => (&r.embeddings, r.restrict),
                Report::Similarity(r) => (&r.embeddings, r.restrict),
            };
            let pad = name_w - name.width();
            let _ = writeln!(
                out,
                "  {name}{:pad$}  {}, first {} words",
                "",
                escape_path(file),
                thousands(restrict)
            );
        }
        let analogies: Vec<&AnalogyReport> = c
            .columns
            .iter()
            .filter_map(|col| match &col.report {
                Report::Analogy(r) => Some(r),
                Report::Similarity(_) => None,
            })
            .collect();
        let similarities: Vec<&SimilarityReport> = c
            .columns
            .iter()
            .filter_map(|col| match &col.report {
                Report::Similarity(r) => Some(r),
                Report::Analogy(_) => None,
            })
            .collect();
        let (head, rows) = if analogies.len() == files {
            ("section", analogy_rows(&analogies))
        } else if similarities.len() == files {
            ("", similarity_rows(&similarities))
        } else {
            return out;
        };
        out.push_str(&self.columns_table(head, &names, &rows));
        for (name, r) in names.iter().zip(&analogies) {
            if r.details.is_some() {
                let _ = writeln!(out, "\ndetails in {name}:");
                out.push_str(&analogy_details(self, r));
            }
        }
        let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
        lines.join("\n")
    }

    /// Rows under a head of column names; labels left, cells right-aligned. A row of no label
    /// and no cells is a rule.
    fn columns_table(&self, head: &str, names: &[String], rows: &[Row]) -> String {
        let label_w = rows
            .iter()
            .map(|r| r.label.width())
            .chain([head.width()])
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..names.len())
            .map(|i| {
                rows.iter()
                    .filter_map(|r| r.cells.get(i))
                    .map(|c| c.width())
                    .chain([names[i].width()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |label: &str, cells: &[String]| {
            let mut text = format!("{label}{:pad$}", "", pad = label_w - label.width());
            for (cell, w) in cells.iter().zip(&widths) {
                let _ = write!(text, "  {:>pad$}{cell}", "", pad = w - cell.width());
            }
            text
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            self.paint(&line(head, names), Style::new().dimmed())
        );
        let total: usize = label_w + widths.iter().map(|w| w + 2).sum::<usize>();
        for row in rows {
            if row.label.is_empty() && row.cells.is_empty() {
                let _ = writeln!(
                    out,
                    "{}",
                    self.paint(&"─".repeat(total), Style::new().dimmed())
                );
                continue;
            }
            let _ = writeln!(
                out,
                "{}",
                self.paint(&line(&row.label, &row.cells), row.style)
            );
        }
        out
    }
}

/// A rule between the sections and the totals.
fn rule() -> Row {
    Row::new("", Vec::new())
}

/// `75.00 %  3/4` (or `-  0/0`), the correct / seen part padded to `w` columns.
fn accuracy(correct: usize, seen: usize, w: usize) -> String {
    format!(
        "{:>8}  {:>w$}",
        percent(correct, seen),
        format!("{}/{}", thousands(correct), thousands(seen))
    )
}

/// An analogy report's rows: each section's accuracy, the groups, the total, then how much of
/// the questions each file could answer.
fn analogy_rows(reports: &[&AnalogyReport]) -> Vec<Row> {
    // The correct/seen parts of a column line up with each other.
    let widths: Vec<usize> = reports
        .iter()
        .map(|r| {
            r.sections
                .iter()
                .map(|s| (s.correct, s.seen))
                .chain([(r.total.correct, r.total.seen)])
                .map(|(c, s)| format!("{}/{}", thousands(c), thousands(s)).width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut rows = Vec::new();
    // Every report has the same sections: the questions file was read once for all.
    for (i, s) in reports[0].sections.iter().enumerate() {
        rows.push(Row::new(
            &s.name,
            reports
                .iter()
                .zip(&widths)
                .map(|(r, &w)| {
                    r.sections
                        .get(i)
                        .map_or("-".to_string(), |s| accuracy(s.correct, s.seen, w))
                })
                .collect(),
        ));
    }
    rows.push(rule());
    type Group = fn(&AnalogyReport) -> Option<crate::protocols::Accuracy>;
    let groups: [(&str, Group); 2] = [("semantic", |r| r.semantic), ("syntactic", |r| r.syntactic)];
    for (label, group) in groups {
        if reports.iter().any(|r| group(r).is_some()) {
            rows.push(Row::new(
                label,
                reports
                    .iter()
                    .zip(&widths)
                    .map(|(r, &w)| {
                        group(r).map_or("-".to_string(), |a| accuracy(a.correct, a.seen, w))
                    })
                    .collect(),
            ));
        }
    }
    rows.push(
        Row::new(
            "total",
            reports
                .iter()
                .zip(&widths)
                .map(|(r, &w)| accuracy(r.total.correct, r.total.seen, w))
                .collect(),
        )
        .styled(Style::new().bold()),
    );
    rows.push(Row::new(
        "questions seen",
        reports
            .iter()
            .map(|r| {
                format!(
                    "{} of {} ({})",
                    thousands(r.questions_seen),
                    thousands(r.questions_total),
                    percent(r.questions_seen, r.questions_total)
                )
            })
            .collect(),
    ));
    rows.push(Row::new(
        "skipped, unknown words",
        reports
            .iter()
            .map(|r| thousands(r.skipped_unknown))
            .collect(),
    ));
    rows.extend(closing_rows(
        reports,
        |r| {
            (r.pooled_words > 0).then(|| {
                format!(
                    "{} in {} questions",
                    thousands(r.pooled_words),
                    thousands(r.pooled_questions)
                )
            })
        },
        |r| r.seconds,
    ));
    rows
}

/// A similarity report's rows: the two correlations, then the pairs each file could score.
fn similarity_rows(reports: &[&SimilarityReport]) -> Vec<Row> {
    let mut rows = vec![
        Row::new(
            "pearson",
            reports
                .iter()
                .map(|r| format!("{:.4}", r.pearson))
                .collect(),
        ),
        Row::new(
            "spearman",
            reports
                .iter()
                .map(|r| format!("{:.4}", r.spearman))
                .collect(),
        )
        .styled(Style::new().bold()),
        Row::new(
            "pairs used",
            reports
                .iter()
                .map(|r| format!("{} of {}", thousands(r.used), thousands(r.pairs)))
                .collect(),
        ),
        Row::new(
            "unknown words",
            reports
                .iter()
                .map(|r| format!("{} ({:.1} %)", thousands(r.unknown), r.unknown_percent))
                .collect(),
        ),
    ];
    rows.extend(closing_rows(
        reports,
        |r| (r.pooled_words > 0).then(|| thousands(r.pooled_words)),
        |r| r.seconds,
    ));
    rows
}

/// The rows a report's table ends with: the words pooled through a model's tokenizer (only when
/// some column has some; `-` for a column without) and each evaluation's time.
fn closing_rows<R>(
    reports: &[&R],
    pooled: impl Fn(&R) -> Option<String>,
    seconds: impl Fn(&R) -> f64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let cells: Vec<Option<String>> = reports.iter().map(|r| pooled(r)).collect();
    if cells.iter().any(Option::is_some) {
        rows.push(Row::new(
            "pooled words",
            cells
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "-".to_string()))
                .collect(),
        ));
    }
    rows.push(Row::new(
        "time",
        reports
            .iter()
            .map(|r| format!("{:.2} s", seconds(r)))
            .collect(),
    ));
    rows
}
