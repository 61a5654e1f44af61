//! Word maps as SVG pictures (the svg crate builds the document; no fonts are needed since
//! the text is left to whatever draws the SVG): the same points as the terminal map, with
//! labels, arrows, axes carrying the variance shares, and the input as the title. Labels are
//! placed as the terminal map places them: none covers another label, a point or an
//! arrowhead; one with no free place is named in a note under the picture.
//!
//! Like the terminal map, both axes share one scale, so distances in the picture are
//! distances in the projection. Pure: returns the document as a string.

use svg::node::element::{
    Circle, Definitions, Group, Line, Marker, Path, Rectangle, Text as TextElement,
};
use svg::Document;

use unicode_width::UnicodeWidthStr;

use super::map::{caption, percent, role_name};
use crate::eval::{MapPoint, Role};
// Text from a file goes through `escape`: controls become visible escapes (XML 1.0 forbids
// most of them); the svg crate escapes `&`, `<` and `>`.
use crate::text::escape;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 600.0;
/// Plot area inside the picture: left, top, right, bottom.
const AREA: (f64, f64, f64, f64) = (70.0, 60.0, 770.0, 540.0);

fn colour(role: Role) -> &'static str {
    match role {
        Role::Input => "#1f77b4",
        Role::Expression => "#9467bd",
        Role::Result => "#2ca02c",
    }
}

// One piece (about 190 lines): one document built top to bottom (title, axes, arrows, points
// and their labels, the colour key), every part placed through the one scale computed at the
// top; split up, each part would take that scale and the area as arguments.
/// The SVG document for one map.
pub fn map_svg(
    title: &str,
    points: &[MapPoint],
    arrows: &[[usize; 2]],
    variance: [f64; 2],
) -> String {
    map_svg_in(title, points, arrows, variance, None)
}

/// [`map_svg`] of a picture across spaces drawn in the coordinates of the space
/// `coordinates`: a caption under the title says so.
pub fn map_svg_in(
    title: &str,
    points: &[MapPoint],
    arrows: &[[usize; 2]],
    variance: [f64; 2],
    coordinates: Option<&str>,
) -> String {
    let (left, top, right, bottom) = AREA;
    let lo = |f: fn(&MapPoint) -> f64| points.iter().map(f).fold(f64::INFINITY, f64::min);
    let hi = |f: fn(&MapPoint) -> f64| points.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
    let (xmin, xmax, ymin, ymax) = if points.is_empty() {
        (-1.0, 1.0, -1.0, 1.0)
    } else {
        (lo(|p| p.x), hi(|p| p.x), lo(|p| p.y), hi(|p| p.y))
    };
    // A margin of 8% of the larger range around the points; one scale for both axes.
    let span = (xmax - xmin).max(ymax - ymin).max(1e-9);
    let pad = span * 0.08;
    let (xmin, xmax, ymin, ymax) = (xmin - pad, xmax + pad, ymin - pad, ymax + pad);
    let scale = ((right - left) / (xmax - xmin)).min((bottom - top) / (ymax - ymin));
    let cx = (left + right) / 2.0 - (xmin + xmax) / 2.0 * scale;
    let cy = (top + bottom) / 2.0 + (ymin + ymax) / 2.0 * scale;
    let sx = |x: f64| cx + x * scale;
    let sy = |y: f64| cy - y * scale;

    let arrow_head = Marker::new()
        .set("id", "head")
        .set("viewBox", "0 0 10 10")
        .set("refX", 9)
        .set("refY", 5)
        .set("markerWidth", 7)
        .set("markerHeight", 7)
        .set("orient", "auto-start-reverse")
        .add(
            Path::new()
                .set("d", "M 0 0 L 10 5 L 0 10 z")
                .set("fill", "#555"),
        );
    let mut doc = Document::new()
        .set("xmlns", "http://www.w3.org/2000/svg")
        .set("width", WIDTH)
        .set("height", HEIGHT)
        .set("viewBox", (0, 0, WIDTH, HEIGHT))
        .set("font-family", "sans-serif")
        .add(Definitions::new().add(arrow_head))
        .add(
            Rectangle::new()
                .set("width", WIDTH)
                .set("height", HEIGHT)
                .set("fill", "white"),
        )
        .add(
            TextElement::new(escape(title).into_owned())
                .set("class", "title")
                .set("x", WIDTH / 2.0)
                .set("y", 28)
                .set("text-anchor", "middle")
                .set("font-size", title_size(title)),
        );
    if let Some(space) = coordinates {
        // Left of the colour key, above the frame.
        doc = doc.add(
            TextElement::new(caption(space))
                .set("class", "caption")
                .set("x", left)
                .set("y", top - 8.0)
                .set("font-size", 12)
                .set("fill", "#555"),
        );
    }

    // Axes: the frame, the lines through the origin, and the variance shares.
    let mut axes = Group::new().set("class", "axes");
    axes = axes.add(
        Rectangle::new()
            .set("x", left)
            .set("y", top)
            .set("width", right - left)
            .set("height", bottom - top)
            .set("fill", "none")
            .set("stroke", "#999"),
    );
    if (xmin..=xmax).contains(&0.0) {
        axes = axes.add(dashed(sx(0.0), top, sx(0.0), bottom));
    }
    if (ymin..=ymax).contains(&0.0) {
        axes = axes.add(dashed(left, sy(0.0), right, sy(0.0)));
    }
    for (value, x, y, anchor) in ticks(xmin, xmax)
        .into_iter()
        .map(|v| (v, sx(v), bottom + 18.0, "middle"))
        .chain(
            ticks(ymin, ymax)
                .into_iter()
                .map(|v| (v, left - 6.0, sy(v) + 4.0, "end")),
        )
    {
        axes = axes.add(
            TextElement::new(format!("{value:.2}"))
                .set("class", "tick")
                .set("x", x)
                .set("y", y)
                .set("text-anchor", anchor)
                .set("font-size", 11)
                .set("fill", "#666"),
        );
    }
    axes = axes
        .add(
            TextElement::new(format!("PC1 · {} of the variance", percent(variance[0])))
                .set("class", "axis-x")
                .set("x", (left + right) / 2.0)
                .set("y", bottom + 42.0)
                .set("text-anchor", "middle")
                .set("font-size", 13),
        )
        .add(
            TextElement::new(format!("PC2 · {} of the variance", percent(variance[1])))
                .set("class", "axis-y")
                .set("x", 0)
                .set("y", 0)
                .set(
                    "transform",
                    format!("translate(22 {}) rotate(-90)", (top + bottom) / 2.0),
                )
                .set("text-anchor", "middle")
                .set("font-size", 13),
        );
    doc = doc.add(axes);

    let mut lines = Group::new()
        .set("class", "arrows")
        .set("stroke", "#555")
        .set("stroke-width", 1.5);
    // What labels keep off: points, arrowheads (hard), the arrows' lines (avoided if possible).
    let mut hard: Vec<[f64; 4]> = points
        .iter()
        .map(|p| around(sx(p.x), sy(p.y), 5.5))
        .collect();
    let mut soft: Vec<[f64; 4]> = Vec::new();
    for &[from, to] in arrows {
        let (a, b) = (&points[from], &points[to]);
        let (x1, y1, x2, y2) = (sx(a.x), sy(a.y), sx(b.x), sy(b.y));
        let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1e-9);
        // Stop short of the points so the head stays visible.
        let (ux, uy) = ((x2 - x1) / len * 7.0, (y2 - y1) / len * 7.0);
        let (ex, ey) = (x2 - ux, y2 - uy);
        lines = lines.add(
            Line::new()
                .set("x1", x1 + ux)
                .set("y1", y1 + uy)
                .set("x2", ex)
                .set("y2", ey)
                .set("marker-end", "url(#head)"),
        );
        // The head covers about 11 px back from the line's end; sampled every 2 px.
        let drawn = (len - 14.0).max(0.0);
        let mut t = 0.0;
        while t <= drawn {
            let (px, py) = (ex - (x2 - x1) / len * t, ey - (y2 - y1) / len * t);
            if t <= 16.0 {
                hard.push(around(px, py, 3.0));
            } else {
                soft.push(around(px, py, 1.5));
            }
            t += 2.0;
        }
    }
    doc = doc.add(lines);

    // Labels placed as the terminal map places them: inputs and expressions first, each at the
    // first free place around its point (right, left, above, below, then nudged up or down);
    // a label with no free place is dropped and named in a note under the picture.
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].role == Role::Result, i));
    let mut placed: Vec<Option<(f64, f64)>> = vec![None; points.len()];
    let mut taken: Vec<[f64; 4]> = Vec::new();
    let frame = [left, top, right, bottom];
    for i in order {
        let text = escape(&points[i].label);
        let (x, y) = (sx(points[i].x), sy(points[i].y));
        let w = text.width() as f64 * CHAR_EM * LABEL_SIZE;
        let mid = 0.3 * LABEL_SIZE;
        let mut spots = vec![
            (x + 7.0, y + mid),
            (x - 7.0 - w, y + mid),
            (x - w / 2.0, y - 8.0),
            (x - w / 2.0, y + 8.0 + 0.8 * LABEL_SIZE),
        ];
        for dy in [10.0, 18.0, 26.0, 34.0] {
            for dir in [-1.0, 1.0] {
                spots.push((x + 7.0, y + mid + dir * dy));
                spots.push((x - 7.0 - w, y + mid + dir * dy));
            }
        }
        let fits = |&(lx, ly): &(f64, f64), avoid_lines: bool| {
            let b = label_box(w, lx, ly);
            inside(&b, &frame)
                && !taken.iter().any(|t| overlaps(&b, t))
                && !hard
                    .iter()
                    .enumerate()
                    .any(|(k, h)| k != i && overlaps(&b, h))
                && (!avoid_lines || !soft.iter().any(|h| overlaps(&b, h)))
        };
        let spot = spots
            .iter()
            .find(|s| fits(s, true))
            .or_else(|| spots.iter().find(|s| fits(s, false)));
        if let Some(&(lx, ly)) = spot {
            // A pixel of air between labels.
            let b = label_box(w, lx, ly);
            taken.push([b[0] - 1.0, b[1] - 1.0, b[2] + 1.0, b[3] + 1.0]);
            placed[i] = Some((lx, ly));
        }
    }
    let mut dots = Group::new().set("class", "points");
    for (p, spot) in points.iter().zip(&placed) {
        let (x, y) = (sx(p.x), sy(p.y));
        let mut group = Group::new().set("class", role_name(p.role)).add(
            Circle::new()
                .set("cx", x)
                .set("cy", y)
                .set("r", 4.5)
                .set("fill", colour(p.role)),
        );
        if let Some((lx, ly)) = spot {
            group = group.add(
                TextElement::new(escape(&p.label).into_owned())
                    .set("class", "label")
                    .set("x", *lx)
                    .set("y", *ly)
                    .set("font-size", LABEL_SIZE)
                    .set("fill", colour(p.role)),
            );
        }
        dots = dots.add(group);
    }
    doc = doc.add(dots);
    let dropped: Vec<String> = points
        .iter()
        .zip(&placed)
        .filter(|(_, spot)| spot.is_none())
        .map(|(p, _)| escape(&p.label).into_owned())
        .collect();
    if !dropped.is_empty() {
        doc = doc.add(
            TextElement::new(format!("no room for the labels of: {}", dropped.join(", ")))
                .set("class", "dropped")
                .set("x", left)
                .set("y", HEIGHT - 4.0)
                .set("font-size", 11)
                .set("fill", "#a60"),
        );
    }

    // The colour key, for the roles present.
    let mut key = Group::new().set("class", "key").set("font-size", 12);
    let roles = [Role::Input, Role::Expression, Role::Result]
        .into_iter()
        .filter(|r| points.iter().any(|p| p.role == *r));
    // Above the frame's right end, where no point can be.
    let roles: Vec<Role> = roles.collect();
    for (i, &role) in roles.iter().enumerate() {
        let x = right - (roles.len() - i) as f64 * 95.0 + 10.0;
        key = key
            .add(
                Circle::new()
                    .set("cx", x)
                    .set("cy", top - 12.0)
                    .set("r", 4.5)
                    .set("fill", colour(role)),
            )
            .add(
                TextElement::new(role_name(role))
                    .set("x", x + 8.0)
                    .set("y", top - 8.0),
            );
    }
    doc = doc.add(key);
    doc.to_string()
}

/// A label's font size, and the width of its glyphs in em: sans-serif glyphs average about
/// 0.55 em; 0.6 keeps placed labels apart whatever the font.
const LABEL_SIZE: f64 = 14.0;
const CHAR_EM: f64 = 0.6;

/// The box `[x0, y0, x1, y1]` of a label `w` px wide whose baseline starts at (x, y): a line
/// of text runs from 0.8 em above its baseline to 0.2 em below.
fn label_box(w: f64, x: f64, y: f64) -> [f64; 4] {
    [x, y - 0.8 * LABEL_SIZE, x + w, y + 0.2 * LABEL_SIZE]
}

/// The square of half-side `r` around (x, y).
fn around(x: f64, y: f64, r: f64) -> [f64; 4] {
    [x - r, y - r, x + r, y + r]
}

fn overlaps(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn inside(a: &[f64; 4], frame: &[f64; 4]) -> bool {
    a[0] >= frame[0] && a[1] >= frame[1] && a[2] <= frame[2] && a[3] <= frame[3]
}

/// A title fits the picture's width: sans-serif glyphs average about 0.55 em, so long inputs
/// get a smaller font (never below 10 px).
fn title_size(title: &str) -> f64 {
    let chars = title.chars().count().max(1) as f64;
    ((WIDTH - 40.0) / (0.55 * chars)).clamp(10.0, 18.0)
}

fn dashed(x1: f64, y1: f64, x2: f64, y2: f64) -> Line {
    Line::new()
        .set("x1", x1)
        .set("y1", y1)
        .set("x2", x2)
        .set("y2", y2)
        .set("stroke", "#ccc")
        .set("stroke-dasharray", "4 4")
}

/// About five round tick values inside `lo..=hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    if raw <= 0.0 || !raw.is_finite() {
        return Vec::new();
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + 1e-12 {
        // -0.00 reads oddly
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}
