//! Word maps in the terminal: the points of a `plot(...)` or `arrows(...)` on a braille canvas
//! (drawille rasterises the dots and the arrow lines), with labels placed so that none
//! overwrites another, and the share of variance each axis explains underneath (and, for a
//! picture across spaces, whose coordinates it is drawn in).
//!
//! The layout is computed first ([`layout`], pure data: where each point and label goes,
//! which labels found no room) and then painted ([`Renderer::map`]); tests check the layout's
//! promises without depending on a snapshot.
//!
//! * Size: the canvas takes the terminal's width (at most [`MAX_COLS`], at least
//!   [`MIN_COLS`]) and up to [`MAX_ROWS`] rows. A braille cell is 2×4 dots and a terminal cell
//!   about twice as tall as wide, so a dot is about square: both axes get the same scale, and
//!   distances on the map are distances in the projection. The canvas is then cut to the rows
//!   the points need.
//! * Labels: each point's label goes right of it if that is free, else left, above or below;
//!   a label never covers another label or any point, and never leaves the canvas. Labels with
//!   no free place are dropped and listed under the map. Inputs and expressions are placed
//!   before neighbours, so the words you typed are the last to lose their labels.
//! * Colour by role (input, expression, result) when the renderer colours; plain otherwise.

use owo_colors::Style;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::{truncate, Renderer};
use crate::eval::{MapPoint, Role};
use crate::text::escape;

/// Widest canvas, in columns (inside the frame).
pub const MAX_COLS: usize = 100;
/// Narrowest canvas: below this the map would be noise, so a narrower terminal wraps it.
pub const MIN_COLS: usize = 24;
/// Tallest canvas, in rows.
pub const MAX_ROWS: usize = 18;
/// Longest label shown, in columns, before it is cut with an ellipsis.
const MAX_LABEL: usize = 18;
/// Longest space tag of a label on a picture across spaces (`word (space)`), in columns.
const MAX_TAG: usize = 14;

/// Where one label goes: its first cell and its text (already escaped and cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub col: usize,
    pub row: usize,
    pub text: String,
    /// Display width in columns.
    pub width: usize,
}

/// A map laid out on a grid of `cols` × `rows` cells (inside the frame).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub cols: usize,
    pub rows: usize,
    /// Each point's dot position (x, y) in braille dots: `cols * 2` × `rows * 4`.
    pub dots: Vec<(u32, u32)>,
    /// Each point's label, or `None` when it found no room (then its index is in `dropped`).
    pub labels: Vec<Option<Label>>,
    pub dropped: Vec<usize>,
}

impl Layout {
    /// The cell holding point `i`.
    pub fn cell(&self, i: usize) -> (usize, usize) {
        let (x, y) = self.dots[i];
        (x as usize / 2, y as usize / 4)
    }
}

/// Lays the points out for a terminal `width` columns wide.
pub fn layout(points: &[MapPoint], width: usize) -> Layout {
    // Two columns for the frame.
    let cols = width.saturating_sub(2).clamp(MIN_COLS, MAX_COLS);
    let (dx, dy) = (cols as f64 * 2.0, MAX_ROWS as f64 * 4.0);
    let (xmin, xmax) = extent(points.iter().map(|p| p.x));
    let (ymin, ymax) = extent(points.iter().map(|p| p.y));
    // One margin dot on each side, and the same scale on both axes (dots are about square).
    let room_x = dx - 3.0;
    let room_y = dy - 3.0;
    let scale = match (xmax - xmin > 0.0, ymax - ymin > 0.0) {
        (true, true) => (room_x / (xmax - xmin)).min(room_y / (ymax - ymin)),
        (true, false) => room_x / (xmax - xmin),
        (false, true) => room_y / (ymax - ymin),
        (false, false) => 0.0,
    };
    let used_y = (ymax - ymin) * scale;
    // Rows the points need (plus one above and below for labels), at least 5.
    let rows = (((used_y + 3.0) / 4.0).ceil() as usize + 2).clamp(5, MAX_ROWS);
    let used_x = (xmax - xmin) * scale;
    // Centre the cloud in the canvas.
    let off_x = (dx - used_x) / 2.0;
    let off_y = (rows as f64 * 4.0 - used_y) / 2.0;
    let dots: Vec<(u32, u32)> = points
        .iter()
        .map(|p| {
            let x = (off_x + (p.x - xmin) * scale).round();
            // Screen rows grow downwards; the y axis grows upwards.
            let y = (off_y + (ymax - p.y) * scale).round();
            (
                (x.max(0.0) as u32).min(cols as u32 * 2 - 1),
                (y.max(0.0) as u32).min(rows as u32 * 4 - 1),
            )
        })
        .collect();
    let mut taken = vec![vec![false; cols]; rows];
    for &(x, y) in &dots {
        taken[y as usize / 4][x as usize / 2] = true;
    }
    // Inputs and expressions first, then results; in input order within a role.
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].role == Role::Result, i));
    let mut labels = vec![None; points.len()];
    let mut dropped = Vec::new();
    for i in order {
        let text = label_text(&points[i]);
        let w = text.width();
        let (c, r) = (dots[i].0 as usize / 2, dots[i].1 as usize / 4);
        let (c, r) = (c as isize, r as isize);
        let w_i = w as isize;
        let candidates = [
            (c + 1, r),
            (c - w_i, r),
            (c + 1, r - 1),
            (c + 1, r + 1),
            (c - w_i, r - 1),
            (c - w_i, r + 1),
            (c - w_i / 2, r - 1),
            (c - w_i / 2, r + 1),
        ];
        let free = |col: isize, row: isize, taken: &Vec<Vec<bool>>| {
            col >= 0
                && row >= 0
                && (col as usize + w) <= cols
                && (row as usize) < rows
                && (col as usize..col as usize + w).all(|k| !taken[row as usize][k])
        };
        match candidates
            .iter()
            .find(|&&(col, row)| free(col, row, &taken))
        {
            Some(&(col, row)) => {
                let (col, row) = (col as usize, row as usize);
                taken[row][col..col + w].iter_mut().for_each(|t| *t = true);
                labels[i] = Some(Label {
                    col,
                    row,
                    text,
                    width: w,
                });
            }
            None => dropped.push(i),
        }
    }
    dropped.sort_unstable();
    Layout {
        cols,
        rows,
        dots,
        labels,
        dropped,
    }
}

/// A point's label as the terminal shows it: escaped and cut to [`MAX_LABEL`] columns; on a
/// picture across spaces the word is cut and its space's tag kept (cut to [`MAX_TAG`]), so
/// that `awful (glove.6B.50d)` is not told from `awful (rot)` by a cut tag alone.
fn label_text(point: &MapPoint) -> String {
    if let Some(space) = &point.space {
        if let Some(word) = point.label.strip_suffix(&format!(" ({space})")) {
            return format!(
                "{} ({})",
                truncate(&escape(word), MAX_LABEL),
                truncate(&escape(space), MAX_TAG)
            );
        }
    }
    truncate(&escape(&point.label), MAX_LABEL)
}

fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.0, 0.0)
    }
}

/// What a cell shows once painted.
#[derive(Clone, Copy, PartialEq)]
enum Ink {
    Blank,
    Line,
    Point(Role),
    Label(Role),
}

fn role_style(role: Role) -> Style {
    match role {
        Role::Input => Style::new().cyan().bold(),
        Role::Expression => Style::new().magenta().bold(),
        Role::Result => Style::new().green(),
    }
}

impl Renderer {
    /// A map as text: the framed canvas, then the variance line, the colour key, and the
    /// labels that found no room.
    pub fn map(&self, points: &[MapPoint], arrows: &[[usize; 2]], variance: [f64; 2]) -> String {
        self.map_in(points, arrows, variance, None)
    }

    /// [`Renderer::map`] of a picture across spaces drawn in the coordinates of the space
    /// `coordinates`: a caption under the map says so.
    pub fn map_in(
        &self,
        points: &[MapPoint],
        arrows: &[[usize; 2]],
        variance: [f64; 2],
        coordinates: Option<&str>,
    ) -> String {
        if points.is_empty() {
            return self.paint("(nothing to plot)", Style::new().dimmed());
        }
        let lay = layout(points, self.width);
        let mut canvas = drawille::Canvas::new(lay.cols as u32 * 2, lay.rows as u32 * 4);
        let mut ink = vec![vec![Ink::Blank; lay.cols]; lay.rows];
        for &[from, to] in arrows {
            for (x, y) in arrow_dots(lay.dots[from], lay.dots[to]) {
                if (x as usize) < lay.cols * 2 && (y as usize) < lay.rows * 4 {
                    canvas.set(x, y);
                    ink[y as usize / 4][x as usize / 2] = Ink::Line;
                }
            }
        }
        for (i, &(x, y)) in lay.dots.iter().enumerate() {
            // A point is a 2×2 block of dots, so it reads as a point, not a stray line dot.
            // Kept inside the point's own cell, the one label placement counts as taken.
            let (x0, y0) = (x - x % 2, y - y % 4 + (y % 4).min(2));
            for (px, py) in [(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)] {
                canvas.set(px, py);
            }
            ink[y as usize / 4][x as usize / 2] = Ink::Point(points[i].role);
        }
        // The canvas rows as cells: one string per cell (empty for the second half of a wide
        // character).
        let mut cells: Vec<Vec<String>> = canvas
            .rows()
            .into_iter()
            .take(lay.rows)
            .map(|row| {
                let mut cells: Vec<String> = row.chars().take(lay.cols).map(String::from).collect();
                cells.resize(lay.cols, " ".to_string());
                cells
            })
            .collect();
        cells.resize(lay.rows, vec![" ".to_string(); lay.cols]);
        for (i, label) in lay.labels.iter().enumerate() {
            let Some(label) = label else { continue };
            let mut col = label.col;
            for ch in label.text.chars() {
                let w = ch.width().unwrap_or(0);
                if w == 0 {
                    continue;
                }
                cells[label.row][col] = ch.to_string();
                ink[label.row][col] = Ink::Label(points[i].role);
                for k in 1..w {
                    cells[label.row][col + k] = String::new();
                    ink[label.row][col + k] = Ink::Label(points[i].role);
                }
                col += w;
            }
        }
        let frame = Style::new().dimmed();
        let mut out = Vec::new();
        out.push(self.paint(&format!("╭{}╮", "─".repeat(lay.cols)), frame));
        for (row, inks) in cells.iter().zip(&ink) {
            let mut line = self.paint("│", frame);
            // Runs of cells with the same ink are painted together.
            let mut run = String::new();
            let mut run_ink = Ink::Blank;
            for (cell, &k) in row.iter().zip(inks) {
                if k != run_ink && !run.is_empty() {
                    line.push_str(&self.ink(&run, run_ink));
                    run.clear();
                }
                run_ink = k;
                run.push_str(cell);
            }
            line.push_str(&self.ink(&run, run_ink));
            line.push_str(&self.paint("│", frame));
            out.push(line);
        }
        out.push(self.paint(&format!("╰{}╯", "─".repeat(lay.cols)), frame));
        // The lines under the map wrap at the terminal's width (the canvas is at least
        // MIN_COLS wide, these are not).
        let width = self.width.max(MIN_COLS + 2);
        let footer = format!(
            "x: {} of the variance · y: {} · PCA of {} unit vector{}",
            percent(variance[0]),
            percent(variance[1]),
            points.len(),
            if points.len() == 1 { "" } else { "s" }
        );
        for line in wrap(&footer, width) {
            out.push(self.paint(&line, Style::new().dimmed()));
        }
        if let Some(space) = coordinates {
            for line in wrap(&caption(space), width) {
                out.push(self.paint(&line, Style::new().dimmed()));
            }
        }
        if self.color {
            let roles: Vec<Role> = [Role::Input, Role::Expression, Role::Result]
                .into_iter()
                .filter(|r| points.iter().any(|p| p.role == *r))
                .collect();
            let key: Vec<String> = roles
                .iter()
                .map(|&r| self.paint(&format!("● {}", role_name(r)), role_style(r)))
                .collect();
            out.push(key.join("  "));
        }
        if !lay.dropped.is_empty() {
            let words: Vec<String> = lay
                .dropped
                .iter()
                .map(|&i| escape(&points[i].label).into_owned())
                .collect();
            let note = format!("no room for the labels of: {}", words.join(", "));
            for line in wrap(&note, width) {
                out.push(self.paint(&line, Style::new().yellow()));
            }
        }
        out.join("\n")
    }

    fn ink(&self, text: &str, ink: Ink) -> String {
        match ink {
            Ink::Blank => text.to_string(),
            Ink::Line => self.paint(text, Style::new().dimmed()),
            Ink::Point(role) | Ink::Label(role) => self.paint(text, role_style(role)),
        }
    }
}

/// `text` broken at spaces into lines of at most `width` columns (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Input => "input",
        Role::Expression => "expression",
        Role::Result => "result",
    }
}

/// What a picture across spaces says of its coordinates (the terminal's and the SVG's).
pub fn caption(space: &str) -> String {
    format!(
        "in the coordinates of {} (the others rotated onto it by :align)",
        escape(space)
    )
}

/// "62.4%".
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The dots of an arrow from `a` to `b`: a line that stops short of `b`'s point, and a head of
/// two short strokes. drawille draws the lines; this only says where.
fn arrow_dots(a: (u32, u32), b: (u32, u32)) -> Vec<(u32, u32)> {
    let (ax, ay, bx, by) = (a.0 as f64, a.1 as f64, b.0 as f64, b.1 as f64);
    let len = ((bx - ax).powi(2) + (by - ay).powi(2)).sqrt();
    if len < 4.0 {
        return Vec::new();
    }
    let (ux, uy) = ((bx - ax) / len, (by - ay) / len);
    // Start and end two dots away from the points, so the points stay readable.
    let start = (ax + 2.0 * ux, ay + 2.0 * uy);
    let tip = (bx - 2.0 * ux, by - 2.0 * uy);
    let back = (tip.0 - 3.0 * ux, tip.1 - 3.0 * uy);
    let wings = [
        (back.0 - 2.0 * uy, back.1 + 2.0 * ux),
        (back.0 + 2.0 * uy, back.1 - 2.0 * ux),
    ];
    let mut scratch = drawille::Canvas::new(0, 0);
    let at = |p: (f64, f64)| (p.0.round().max(0.0) as u32, p.1.round().max(0.0) as u32);
    let (s, t) = (at(start), at(tip));
    scratch.line(s.0, s.1, t.0, t.1);
    for w in wings {
        let w = at(w);
        scratch.line(t.0, t.1, w.0, w.1);
    }
    // Read the dots back from the scratch canvas.
    let max_x = [s.0, t.0, at(wings[0]).0, at(wings[1]).0]
        .into_iter()
        .max()
        .unwrap_or(0)
        + 1;
    let max_y = [s.1, t.1, at(wings[0]).1, at(wings[1]).1]
        .into_iter()
        .max()
        .unwrap_or(0)
        + 1;
    let mut dots = Vec::new();
    for y in 0..=max_y {
        for x in 0..=max_x {
            if scratch.get(x, y) {
                dots.push((x, y));
            }
        }
    }
    dots
}
