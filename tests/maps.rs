//! Word maps: `plot(...)` and `arrows(...)` on the built-in vocabulary, drawn in the terminal
//! (snapshots at a fixed width without colour, plus layout assertions that do not depend on
//! accepting a snapshot) and as SVG (parsed as XML).

use std::collections::HashSet;

use vecsh::eval::{MapPoint, Role, Session, Settings, Value};
use vecsh::render::map::{layout, Layout};
use vecsh::render::Renderer;

use crate::util::builtin;

struct Map {
    points: Vec<MapPoint>,
    arrows: Vec<[usize; 2]>,
    variance: [f64; 2],
}

fn map(session: &mut Session, line: &str) -> Map {
    match session.run_line(line).unwrap() {
        Value::Map {
            points,
            arrows,
            variance,
            ..
        } => Map {
            points,
            arrows,
            variance,
        },
        other => panic!("{line}: expected a map, got {other:?}"),
    }
}

/// The promises of the layout, whatever the picture looks like.
fn check_layout(lay: &Layout, points: &[MapPoint], line: &str) {
    assert_eq!(lay.dots.len(), points.len());
    // Every point inside the canvas.
    for (i, &(x, y)) in lay.dots.iter().enumerate() {
        assert!(
            (x as usize) < lay.cols * 2 && (y as usize) < lay.rows * 4,
            "{line}: point {} at {x},{y} outside {}x{}",
            points[i].label,
            lay.cols,
            lay.rows
        );
    }
    let point_cells: HashSet<(usize, usize)> = (0..points.len()).map(|i| lay.cell(i)).collect();
    let mut label_cells = HashSet::new();
    for (i, label) in lay.labels.iter().enumerate() {
        match label {
            Some(l) => {
                assert!(
                    !lay.dropped.contains(&i),
                    "{line}: {} both placed and dropped",
                    points[i].label
                );
                assert!(
                    l.col + l.width <= lay.cols && l.row < lay.rows,
                    "{line}: label {} leaves the canvas",
                    l.text
                );
                for c in l.col..l.col + l.width {
                    assert!(
                        !point_cells.contains(&(c, l.row)),
                        "{line}: label {} covers a point",
                        l.text
                    );
                    assert!(
                        label_cells.insert((c, l.row)),
                        "{line}: label {} overlaps another",
                        l.text
                    );
                }
            }
            None => assert!(
                lay.dropped.contains(&i),
                "{line}: {} neither labelled nor listed",
                points[i].label
            ),
        }
    }
}

#[test]
fn terminal_maps_snapshot_and_keep_their_promises() {
    let store = builtin();
    let mut s = Session::new(&store, Settings::default());
    let plain = Renderer {
        color: false,
        width: 80,
        terminal: false,
    };
    let lines = [
        "plot(king, queen, man, woman, prince, princess)",
        "plot(king - man + woman, k=8)",
        "arrows(man, king, woman, queen, boy, prince, girl, princess)",
        "arrows(france, paris, italy, rome, japan, tokyo, germany, berlin)",
    ];
    let mut shown = String::new();
    for line in lines {
        let m = map(&mut s, line);
        let lay = layout(&m.points, plain.width);
        check_layout(&lay, &m.points, line);
        let text = plain.map(&m.points, &m.arrows, m.variance);
        for (i, p) in m.points.iter().enumerate() {
            if lay.labels[i].is_some() {
                assert!(text.contains(&p.label), "{line}: {} not drawn", p.label);
            }
        }
        assert!(text.contains(&format!("x: {:.1}% of the variance", m.variance[0] * 100.0)));
        assert!(
            text.lines()
                .all(|l| unicode_width::UnicodeWidthStr::width(l) <= 80),
            "{line}: wider than 80"
        );
        shown.push_str(&format!("> {line}\n{text}\n"));
    }
    snapshot!("terminal_maps_snapshot_and_keep_their_promises", shown);
}

#[test]
fn every_requested_word_is_on_the_map() {
    let store = builtin();
    let mut s = Session::new(&store, Settings::default());
    s.run_line("let royal = king - man").unwrap();
    let m = map(&mut s, "plot(king, queen, royal + woman, \"1999\", 15)");
    let labels: Vec<(&str, Role)> = m
        .points
        .iter()
        .map(|p| (p.label.as_str(), p.role))
        .collect();
    assert_eq!(
        labels,
        [
            ("king", Role::Input),
            ("queen", Role::Input),
            ("royal + woman", Role::Expression),
            ("man", Role::Input),
            ("woman", Role::Input),
            ("1999", Role::Input),
            ("15", Role::Input),
        ]
    );
    // k=N adds N neighbours of each argument, none of them an input.
    let m = map(&mut s, "plot(paris, tokyo, k=5)");
    assert!(m.points.iter().filter(|p| p.role == Role::Result).count() >= 5);
    assert!(m
        .points
        .iter()
        .filter(|p| p.role == Role::Result)
        .all(|p| p.label != "paris" && p.label != "tokyo"));
    // The same input gives the same picture.
    let again = map(&mut s, "plot(paris, tokyo, k=5)");
    assert_eq!(again.points, m.points);
    // Arrows join the pairs in order.
    let m = map(&mut s, "arrows(man, king, woman, queen)");
    assert_eq!(m.arrows, [[0, 1], [2, 3]]);
}

#[test]
fn a_crowded_narrow_map_drops_labels_and_says_which() {
    let store = builtin();
    let mut s = Session::new(&store, Settings::default());
    let m = map(&mut s, "plot(good, bad, k=40)");
    let narrow = Renderer {
        color: false,
        width: 30,
        terminal: false,
    };
    let lay = layout(&m.points, narrow.width);
    check_layout(&lay, &m.points, "plot(good, bad, k=40)");
    assert!(
        !lay.dropped.is_empty(),
        "40 neighbours can't all be labelled in 28 columns"
    );
    // Inputs lose their labels last.
    assert!(lay.labels[0].is_some() && lay.labels[1].is_some());
    let text = narrow.map(&m.points, &m.arrows, m.variance);
    // The note wraps at the width: read it back as one line.
    let note = text[text.find("no room for the labels of:").expect("a note")..].replace('\n', " ");
    for &i in &lay.dropped {
        assert!(
            note.contains(&m.points[i].label),
            "{} not listed",
            m.points[i].label
        );
    }
    assert!(text
        .lines()
        .all(|l| unicode_width::UnicodeWidthStr::width(l) <= 30));
}

#[test]
fn colour_by_role_only_when_asked() {
    let store = builtin();
    let mut s = Session::new(&store, Settings::default());
    let m = map(&mut s, "plot(king - man + woman, k=3)");
    let plain = Renderer {
        color: false,
        width: 60,
        terminal: false,
    }
    .map(&m.points, &m.arrows, m.variance);
    assert!(!plain.contains('\u{1b}'));
    let coloured = Renderer {
        color: true,
        width: 60,
        terminal: false,
    }
    .map(&m.points, &m.arrows, m.variance);
    assert!(coloured.contains('\u{1b}'));
    for key in ["● input", "● expression", "● result"] {
        assert!(coloured.contains(key), "{key}");
    }
}

#[test]
fn labels_from_the_file_are_escaped() {
    let points = vec![
        MapPoint {
            label: "a\u{1b}[2Jb".into(),
            role: Role::Input,
            x: 0.0,
            y: 0.0,
            space: None,
        },
        MapPoint {
            label: "c".into(),
            role: Role::Result,
            x: 1.0,
            y: 1.0,
            space: None,
        },
    ];
    let text = Renderer::default().map(&points, &[], [0.9, 0.1]);
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("a\\e[2Jb"));
}

#[test]
fn svg_maps_parse_and_hold_every_label() {
    let store = builtin();
    let mut s = Session::new(&store, Settings::default());
    let line = "arrows(man, king, woman, queen)";
    let m = map(&mut s, line);
    let svg = vecsh::render::svg::map_svg(line, &m.points, &m.arrows, m.variance);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        // (the svg crate puts the text on a line of its own; SVG collapses that whitespace)
        .map(|n| {
            n.children()
                .filter_map(|t| t.text())
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect();
    for p in &m.points {
        assert!(
            texts.contains(&p.label),
            "label {} missing from {texts:?}",
            p.label
        );
    }
    assert_eq!(
        doc.descendants()
            .find(|n| n.attribute("class") == Some("title"))
            .and_then(|n| n.text())
            .map(str::trim),
        Some(line)
    );
    let share = |v: f64| format!("{:.1}% of the variance", v * 100.0);
    assert!(texts
        .iter()
        .any(|t| t.starts_with("PC1") && t.contains(&share(m.variance[0]))));
    assert!(texts
        .iter()
        .any(|t| t.starts_with("PC2") && t.contains(&share(m.variance[1]))));
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("line") && n.attribute("marker-end").is_some())
            .count(),
        2
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count(),
        m.points.len() + 1
    );
    // Escaped text stays well-formed XML.
    let odd = vec![MapPoint {
        label: "<&\u{1}>".into(),
        role: Role::Input,
        x: 0.0,
        y: 0.0,
        space: None,
    }];
    let svg = vecsh::render::svg::map_svg("t <&>", &odd, &[], [0.0, 0.0]);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert!(
        doc.descendants()
            .any(|n| n.text().map(str::trim) == Some("<&\\x01>")),
        "{svg}"
    );
}

#[test]
fn options_parse_only_as_call_arguments() {
    use vecsh::ast::{ExprKind, Statement};
    use vecsh::parse::parse_statement;
    let Statement::Expr(e) = parse_statement("plot(king - man + woman, k = 10)").unwrap() else {
        panic!("an expression")
    };
    let ExprKind::Call { name, args, .. } = &e.kind else {
        panic!("a call")
    };
    assert_eq!(name, "plot");
    match &args[1].kind {
        ExprKind::Option { name, value, .. } => assert_eq!((name.as_str(), *value), ("k", 10.0)),
        other => panic!("{other:?}"),
    }
    assert_eq!((args[1].span.start, args[1].span.end), (25, 31));
    // A bare number stays a word; the :ast form parses back.
    assert_eq!(e.to_string(), "plot(((king - man) + woman), k=10)");
    assert!(parse_statement(&e.to_string()).is_ok());
    for (line, message) in [
        ("plot(king, k=)", "expected a number after 'k='"),
        ("plot(king, k=queen)", "expected a number after 'k='"),
        ("plot(king, k=3 queen)", "expected ',' or ')' after 'k=3'"),
        ("king + k=3", "unexpected '='"),
        ("k=3", ""),
        ("plot(-k=3)", "unexpected '='"),
    ] {
        match parse_statement(line) {
            Err(e) => assert!(e.message.contains(message), "{line}: {}", e.message),
            // `k=3` alone names a result: `k = 3`.
            Ok(Statement::Let { .. }) if line == "k=3" => {}
            Ok(other) => panic!("{line}: parsed as {other:?}"),
        }
    }
}

/// A label's box in an SVG map, estimated from its font size: glyphs average at most 0.6 em
/// wide in sans-serif, and a line of text runs from 0.8 em above its baseline to 0.2 em below.
fn label_boxes(doc: &roxmltree::Document) -> Vec<(String, [f64; 4])> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("label"))
        .map(|n| {
            let text: String = n.children().filter_map(|t| t.text()).collect();
            let text = text.trim().to_string();
            let num = |a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
            let (x, y, size) = (num("x"), num("y"), num("font-size"));
            assert_eq!(n.attribute("text-anchor").unwrap_or("start"), "start");
            let w = text.chars().count() as f64 * 0.6 * size;
            (text, [x, y - 0.8 * size, x + w, y + 0.2 * size])
        })
        .collect()
}

fn overlap(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// SVG labels are placed as the terminal map's are: no two boxes intersect, none sits on an
/// arrowhead, and a label that found no room is named in a note instead.
#[test]
fn svg_labels_never_overlap_and_keep_off_arrowheads() {
    let store = builtin();
    let mut s = Session::new(&store, Settings::default());
    for line in [
        "plot(paris, france, rome, italy, tokyo, japan, berlin, germany, k=3)",
        "arrows(man, king, woman, queen, boy, prince, girl, princess)",
        "arrows(france, paris, italy, rome, japan, tokyo, germany, berlin, spain, madrid)",
    ] {
        let m = map(&mut s, line);
        let svg = vecsh::render::svg::map_svg(line, &m.points, &m.arrows, m.variance);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let boxes = label_boxes(&doc);
        for (i, (a, box_a)) in boxes.iter().enumerate() {
            for (b, box_b) in &boxes[i + 1..] {
                assert!(
                    !overlap(box_a, box_b),
                    "{line}: labels {a} {box_a:?} and {b} {box_b:?} overlap"
                );
            }
        }
        // Nor on a point.
        for dot in doc.descendants().filter(|n| n.has_tag_name("circle")) {
            let num = |a: &str| dot.attribute(a).unwrap().parse::<f64>().unwrap();
            let (x, y) = (num("cx"), num("cy"));
            for (label, b) in &boxes {
                assert!(
                    !(b[0] <= x && x <= b[2] && b[1] <= y && y <= b[3]),
                    "{line}: {label} covers the point at ({x:.0}, {y:.0})"
                );
            }
        }
        // The arrowheads: the last 12 px of each arrow.
        for arrow in doc
            .descendants()
            .filter(|n| n.has_tag_name("line") && n.attribute("marker-end").is_some())
        {
            let num = |a: &str| arrow.attribute(a).unwrap().parse::<f64>().unwrap();
            let (x1, y1, x2, y2) = (num("x1"), num("y1"), num("x2"), num("y2"));
            let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1e-9);
            for step in 0..=12 {
                let t = step as f64 / len;
                let (x, y) = (x2 - (x2 - x1) * t, y2 - (y2 - y1) * t);
                for (label, b) in &boxes {
                    assert!(
                        !(b[0] <= x && x <= b[2] && b[1] <= y && y <= b[3]),
                        "{line}: an arrowhead at ({x:.0}, {y:.0}) sits on {label}"
                    );
                }
            }
        }
        // Every point is labelled or named in the note.
        let note: String = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("dropped"))
            .flat_map(|n| n.children().filter_map(|t| t.text()))
            .collect();
        for p in &m.points {
            assert!(
                boxes.iter().any(|(t, _)| *t == p.label) || note.contains(&p.label),
                "{line}: {} is neither labelled nor noted",
                p.label
            );
        }
    }
}
