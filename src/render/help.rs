//! The texts of `:help` and `:info`: the language and commands with live examples, and the
//! state of the file, index and approximate search, the same in the session and in scripts.

use owo_colors::Style;
use serde::Serialize;

use crate::commands::{Command, TABLE};
use crate::eval::{Method, SearchMode, Session, SettingValue, Settings, Value};
use crate::index::{ApproxKind, ExactPlan, ForestMeta, ListsMeta, Store};
use crate::render::{human_bytes, thousands, Renderer};
use crate::text::{escape, escape_path};

/// What `:help` and `:info` read: the same in the session and in scripts, `-e` and pipes.
pub struct View<'a> {
    pub store: &'a Store,
    pub settings: &'a Settings,
    pub renderer: &'a Renderer,
    /// The vectors are the built-in vocabulary.
    pub builtin: bool,
    /// Why the session's own background build failed, if it did.
    pub build_failure: Option<&'a str>,
}

/// `:help`'s rows for the language (the commands' rows come from the command table).
const EXPRESSIONS: [(&str, &str); 13] = [
    (
        "word  \"c++\"",
        "a word; quote words with other characters (escapes as answers show them: \\\" \\\\ \\t \\e \\x07 \\u{e9})",
    ),
    ("a + b   a - b   -a", "arithmetic on unit word vectors"),
    ("0.5 * a   a / 2   (...)", "scaling and grouping"),
    ("a : b :: c : ?", "analogy, the same as b - a + c"),
    ("sim(a, b)", "cosine similarity"),
    ("odd(a, b, c, ...)", "the one that does not belong"),
    ("mean(a, b, ...)", "the average vector"),
    ("cosmul(expr)", "rank by 3CosMul instead of 3CosAdd"),
    (
        "plot(a, b, ..., k=N)",
        "a map of the points; k=N adds each one's N neighbours; points of several aligned spaces (in(y1900, gay), in(y1990, gay)) are drawn in the last one's coordinates with their neighbours there",
    ),
    (
        "arrows(a, b, c, d)",
        "a map with arrows a → b, c → d; a word through aligned spaces, arrows(in(y1900, gay), in(y1950, gay), in(y1990, gay), k=N), is its path with N neighbours in each (after :align)",
    ),
    ("in(SPACE, expr)", "expr in another open space (--also, :open)"),
    (
        "compare(expr)",
        "expr's neighbours in every open space, with their overlap",
    ),
    ("let name = expr", "name a result; # starts a comment"),
];

/// A setting command's current value, as `:help` shows it after the command's row.
fn setting_now(command: Command, s: &Settings) -> Option<SettingValue> {
    let on = |b: bool| if b { "on" } else { "off" };
    Some(match command {
        Command::K => s.k.into(),
        Command::Exact => match s.mode {
            SearchMode::Exact => "on",
            SearchMode::Approx => "off",
        }
        .into(),
        Command::Include => on(s.include_inputs).into(),
        Command::Method => if s.method == Method::Mul {
            "mul"
        } else {
            "add"
        }
        .into(),
        Command::Restrict => s.restrict.map_or("off".into(), SettingValue::from),
        Command::Subwords => on(s.subwords).into(),
        Command::AllTokens => on(s.all_tokens).into(),
        Command::Background => on(s.background).into(),
        Command::Svg
        | Command::Open
        | Command::Use
        | Command::Compare
        | Command::Align
        | Command::Changed
        | Command::Vars
        | Command::Info
        | Command::Ast
        | Command::Vec
        | Command::Show
        | Command::Eval
        | Command::Help
        | Command::Quit => return None,
    })
}

/// The examples `:help` evaluates, each with the topic of `:help TOPIC` that shows it.
const EXAMPLES: [(&str, &str); 8] = [
    ("arithmetic", "king - man + woman"),
    ("analogy", "man : king :: woman : ?"),
    ("arithmetic", "paris - france + italy"),
    ("sim", "sim(cat, dog)"),
    ("odd", "odd(breakfast, lunch, dinner, car)"),
    ("mean", "mean(red, green, blue)"),
    ("let", "let royal = king - man"),
    ("let", "royal + woman"),
];

/// The topics of `:help TOPIC` that name each row of [`EXPRESSIONS`] (the first is the one
/// did-you-mean and the list of topics offer); commands are topics by their names.
const EXPRESSION_TOPICS: [&[&str]; 13] = [
    &["word", "words", "quote", "quotes"],
    &["arithmetic", "+", "-"],
    &["scaling", "*", "/", "grouping"],
    &["analogy", "::", "?"],
    &["sim"],
    &["odd"],
    &["mean"],
    &["cosmul"],
    &["plot"],
    &["arrows", "change", "pictures"],
    &["in", "spaces", "space"],
    &["compare"],
    &["let", "names", "comment", "#"],
];

/// `:help`'s last section.
const KEYS: &str =
    "Tab completes words, names, commands and file names; → takes the grey hint; ↑ ↓ \
                    and Ctrl-R search the history; an open ( continues on the next line; Ctrl-C \
                    cancels the line; Ctrl-D quits.";

/// `:help`: the language and commands, with examples evaluated now on this vocabulary, so
/// that what it shows is what this version answers.
pub fn help_text(view: &View) -> String {
    let r = &view.renderer;
    let width = r.width.max(40);
    let heading = |s: &str| r.style(s, Style::new().bold().underline());
    let dim = |s: &str| r.style(s, Style::new().dimmed());
    let mut out = vec![
        heading("Examples"),
        dim("  evaluated just now on this vocabulary:"),
    ];
    out.extend(examples(view, |_| true));
    // The language's rows, then one or more per command of the table.
    let rows = all_rows(view.settings);
    let syntax_w = syntax_width(&rows);
    for (i, (syntax, what)) in rows.iter().enumerate() {
        if i == 0 {
            out.push(heading("Expressions"));
        } else if i == EXPRESSIONS.len() {
            out.push(heading("Commands"));
        }
        out.extend(row_lines(r, syntax, what, syntax_w, width));
    }
    out.push(heading("Keys"));
    out.extend(wrap(KEYS, width - 2).into_iter().map(|l| format!("  {l}")));
    out.join("\n")
}

/// What `:help TOPIC` names: a row of the language, the keys, or a command.
#[derive(Debug, Clone, Copy)]
enum Topic {
    Expression(usize),
    Keys,
    Command(Command),
}

/// The topic `topic` names (`plot`, `:k`, `k`); `Err` says there is no such topic, with the
/// nearest ones, as (message, help).
fn resolve(topic: &str) -> Result<Topic, (String, String)> {
    let topic = topic.trim();
    let key = topic.strip_prefix(':').unwrap_or(topic).to_lowercase();
    if let Some(i) = EXPRESSION_TOPICS
        .iter()
        .position(|t| t.contains(&key.as_str()))
    {
        return Ok(Topic::Expression(i));
    }
    if key == "keys" {
        return Ok(Topic::Keys);
    }
    if let Some(command) = Command::lookup(&key) {
        return Ok(Topic::Command(command));
    }
    let known = topics();
    let near: Vec<&str> = {
        let mut scored: Vec<(usize, &str)> = known
            .iter()
            .map(|t| (strsim::damerau_levenshtein(&key, t), *t))
            .filter(|&(d, t)| d <= 2 && d < t.chars().count())
            .collect();
        scored.sort_by_key(|&(d, _)| d);
        scored.into_iter().take(3).map(|(_, t)| t).collect()
    };
    let message = format!("no help on '{}'", escape(topic));
    let help = if near.is_empty() {
        format!("topics: {}", known.join(" "))
    } else {
        let quoted: Vec<String> = near.iter().map(|t| format!("'{t}'")).collect();
        format!("did you mean {}?", quoted.join(" or "))
    };
    Err((message, help))
}

/// `:help TOPIC`: the entry of one expression form or command (`plot`, `:k`, `k`), with its
/// live examples if `:help` has some. `Err` says there is no such topic, with the nearest
/// ones.
pub fn help_topic(view: &View, topic: &str) -> Result<String, (String, String)> {
    let r = &view.renderer;
    let width = r.width.max(40);
    let mut rows: Vec<(&str, String)> = Vec::new();
    let mut example_topic = None;
    match resolve(topic)? {
        Topic::Expression(i) => {
            rows.push((EXPRESSIONS[i].0, EXPRESSIONS[i].1.to_string()));
            example_topic = Some(EXPRESSION_TOPICS[i][0]);
        }
        Topic::Keys => return Ok(wrap(KEYS, width).join("\n")),
        // `:quit` is listed on its own row; its aliases find it too.
        Topic::Command(command) => rows.extend(command_rows(command, view.settings)),
    }
    let syntax_w = syntax_width(&rows);
    let mut out: Vec<String> = rows
        .iter()
        .flat_map(|(syntax, what)| row_lines(r, syntax, what, syntax_w, width))
        .collect();
    if let Some(t) = example_topic {
        let shown = examples(view, |e| e == t);
        if !shown.is_empty() {
            out.push(r.style("  for example:", Style::new().dimmed()));
            out.extend(shown);
        }
    }
    Ok(out.join("\n"))
}

/// The topics `:help TOPIC` knows, in `:help`'s order: the language's, then the commands'.
pub fn topics() -> Vec<&'static str> {
    EXPRESSION_TOPICS
        .iter()
        .map(|t| t[0])
        .chain(TABLE.iter().map(|s| s.name))
        .chain(std::iter::once("keys"))
        .collect()
}

/// A command's rows in `:help`, with its setting's value now.
fn command_rows(command: Command, settings: &Settings) -> Vec<(&'static str, String)> {
    command
        .spec()
        .help
        .iter()
        .map(|&(syntax, what)| match setting_now(command, settings) {
            Some(now) => (syntax, format!("{what} (now {now})")),
            None => (syntax, what.to_string()),
        })
        .collect()
}

/// Every row of `:help`: the language's, then the commands' in the table's order.
fn all_rows(settings: &Settings) -> Vec<(&'static str, String)> {
    let mut rows: Vec<(&str, String)> = EXPRESSIONS
        .iter()
        .map(|&(syntax, what)| (syntax, what.to_string()))
        .collect();
    for spec in &TABLE {
        rows.extend(command_rows(spec.command, settings));
    }
    rows
}

fn syntax_width(rows: &[(&str, String)]) -> usize {
    rows.iter()
        .map(|(a, _)| a.chars().count())
        .max()
        .unwrap_or(0)
}

/// One row: the syntax in its column, what it does wrapped at word boundaries beside it (or
/// under it, when the column leaves too little room).
fn row_lines(r: &Renderer, syntax: &str, what: &str, syntax_w: usize, width: usize) -> Vec<String> {
    let pad = syntax_w - syntax.chars().count();
    let syntax = r.style(syntax, Style::new().cyan());
    let indent = 2 + syntax_w + 2;
    if width.saturating_sub(indent) < 20 {
        let mut out = vec![format!("  {syntax}")];
        out.extend(
            wrap(what, width - 6)
                .into_iter()
                .map(|l| format!("      {l}")),
        );
        return out;
    }
    wrap(what, width - indent)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("  {syntax}{:pad$}  {l}", "")
            } else {
                format!("{:indent$}{l}", "")
            }
        })
        .collect()
}

/// The examples whose topic `wanted` accepts, each evaluated now in a scratch session (which
/// neither sees nor changes the user's names and settings), result beside it, or under it on
/// a narrow terminal.
fn examples(view: &View, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let r = &view.renderer;
    let width = r.width.max(40);
    let dim = |s: &str| r.style(s, Style::new().dimmed());
    let settings = Settings {
        k: 3,
        mode: SearchMode::Exact,
        ..view.settings.clone()
    };
    let mut scratch = Session::new(view.store, settings);
    let expr_w = EXAMPLES.iter().map(|e| e.1.len()).max().unwrap_or(0);
    let beside = width >= 2 + expr_w + 2 + 20;
    let mut out = Vec::new();
    for (topic, expr) in EXAMPLES {
        // Every example runs, so that later ones see the names earlier ones bound.
        let result = scratch.run_line(expr);
        if !wanted(topic) {
            continue;
        }
        let room = if beside {
            width - (2 + expr_w + 2)
        } else {
            width - 6
        };
        let shown = match result {
            Ok(Value::Bound { name, .. }) => dim(&format!("(names the result {name})")),
            Ok(value) => r.inline(&value, room),
            Err(e) => dim(&format!("({})", e.message)),
        };
        let expr_shown = r.style(&format!("{expr:<expr_w$}"), Style::new().cyan());
        if beside && visible_width(&shown) <= room {
            out.push(format!("  {expr_shown}  {shown}"));
        } else {
            out.push(format!("  {}", r.style(expr, Style::new().cyan())));
            out.push(format!("      {shown}"));
        }
    }
    out
}

/// A row of `:help`: the syntax, what it does, and a setting's current value.
#[derive(Serialize)]
struct HelpRow {
    syntax: &'static str,
    meaning: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    now: Option<SettingValue>,
}

/// `:help` under `--json`: the language's and the commands' rows, as one object; with a
/// topic, only its rows (`"topic"` names it; `keys` only for the whole help or `:help keys`).
#[derive(Serialize)]
pub struct HelpJson {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    expressions: Vec<HelpRow>,
    commands: Vec<HelpRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<&'static str>,
}

/// `:help [TOPIC]` as one JSON object (`{"kind":"help","expressions":[…],"commands":[…],
/// "keys":…}`); `Err` as [`help_topic`]'s.
pub fn help_json(view: &View, topic: &str) -> Result<HelpJson, (String, String)> {
    let expression = |i: usize| HelpRow {
        syntax: EXPRESSIONS[i].0,
        meaning: EXPRESSIONS[i].1,
        now: None,
    };
    let command = |spec: &'static crate::commands::Spec| {
        spec.help.iter().map(move |&(syntax, meaning)| HelpRow {
            syntax,
            meaning,
            now: setting_now(spec.command, view.settings),
        })
    };
    let topic = topic.trim();
    if topic.is_empty() {
        return Ok(HelpJson {
            kind: "help",
            topic: None,
            expressions: (0..EXPRESSIONS.len()).map(expression).collect(),
            commands: TABLE.iter().flat_map(command).collect(),
            keys: Some(KEYS),
        });
    }
    let mut help = HelpJson {
        kind: "help",
        topic: Some(topic.to_string()),
        expressions: Vec::new(),
        commands: Vec::new(),
        keys: None,
    };
    match resolve(topic)? {
        Topic::Expression(i) => help.expressions.push(expression(i)),
        Topic::Keys => help.keys = Some(KEYS),
        Topic::Command(c) => help.commands.extend(command(c.spec())),
    }
    Ok(help)
}

/// `:info` under `--json`.
#[derive(Serialize)]
pub struct InfoJson<'a> {
    kind: &'static str,
    file: &'a std::path::Path,
    builtin: bool,
    format: String,
    words: usize,
    dims: usize,
    index: &'a std::path::Path,
    size_bytes: u64,
    lists: Option<ListsMeta>,
    forest: Option<ForestMeta>,
    /// The progress of an approximate-search build running in the background.
    building: Option<String>,
    exact: ExactPlan,
    search: SearchJson,
}

#[derive(Serialize)]
struct SearchJson {
    /// `"exact"` or `"approx"`.
    mode: SearchMode,
    /// What approximate search reads: `"lists"` or `"forest"`.
    approx: ApproxKind,
    k: usize,
    method: Method,
    include: bool,
    restrict: Option<usize>,
}

/// `:info` as one JSON object (see docs/json.md).
pub fn info_json<'a>(view: &'a View, building: Option<String>) -> InfoJson<'a> {
    let m = view.store.meta();
    let s = view.settings;
    let info = InfoJson {
        kind: "info",
        file: &m.source,
        builtin: view.builtin,
        format: m.format.to_string(),
        words: m.words,
        dims: m.dims,
        index: view.store.dir(),
        size_bytes: view.store.disk_size(),
        lists: view.store.lists(),
        forest: view.store.forest(),
        building,
        exact: view.store.exact_plan(),
        search: SearchJson {
            mode: s.mode,
            approx: s.approx.kind,
            k: s.k,
            method: s.method,
            include: s.include_inputs,
            restrict: s.restrict,
        },
    };
    info
}

/// `:info`: where the vectors come from, the index, its lists and forest, and exact search.
pub fn info_text(view: &View, building: Option<String>) -> String {
    let m = view.store.meta();
    let r = &view.renderer;
    let key = |k: &str| r.style(&format!("{k:<8}"), Style::new().cyan());
    let file = if view.builtin {
        format!("built-in GloVe 6B 50d ({})", escape_path(&m.source))
    } else {
        escape_path(&m.source)
    };
    let s = &view.settings;
    let kind = s.approx.kind;
    let ready = |k: ApproxKind| match k {
        ApproxKind::Lists => view.store.lists().map(|l| {
            format!(
                "ready: {} lists over {} rows ({}), built in {:.1} s",
                thousands(l.lists),
                thousands(l.rows),
                human_bytes(l.bytes),
                l.seconds
            )
        }),
        ApproxKind::Forest => view
            .store
            .forest()
            .map(|f| format!("ready: {} trees, built in {:.1} s", f.trees, f.seconds)),
    };
    let state = |k: ApproxKind| match (ready(k), &building) {
        (Some(r), _) => r,
        (None, Some(progress)) if k == kind => {
            format!("building ({progress}); answers stay exact until ready")
        }
        (None, _) if k != kind => "none".into(),
        (None, _) if view.store.is_writable() => {
            "none: searches are exact (:exact off builds them in the background)".into()
        }
        (None, _) => {
            "none: searches are exact (the index is read-only here; `vecsh build FILE` adds them)"
                .into()
        }
    };
    let what = kind.name();
    let search = match s.mode {
        SearchMode::Exact => "exact".to_string(),
        SearchMode::Approx => match view.store.calibration(kind) {
            Some(c) => format!(
                "approximate ({what}: {:.1} ms at recall@10 {:.2} measured on this file)",
                c.approx_ms, c.recall
            ),
            None => format!("approximate ({what})"),
        },
    };
    let mut rows = vec![
        ("file", file),
        ("format", m.format.to_string()),
        (m.row_noun(), thousands(m.words)),
        ("dims", m.dims.to_string()),
        (
            "index",
            format!(
                "{} ({})",
                escape_path(view.store.dir()),
                human_bytes(view.store.disk_size())
            ),
        ),
        ("lists", state(ApproxKind::Lists)),
    ];
    if view.store.forest().is_some() || kind == ApproxKind::Forest {
        rows.push(("forest", state(ApproxKind::Forest)));
    }
    // The session's own build of what makes exact search fast (issue 28), where it pays.
    if view.store.background_pays() || !s.background {
        let build = match (&building, s.background) {
            (Some(progress), _) => format!(
                "building the {} behind the prompt ({progress}); it pauses while a statement runs",
                match progress.starts_with("principal components") {
                    true => "principal-component stage",
                    false => "lists",
                }
            ),
            (None, false) => "off: nothing is built behind the prompt (:background on)".into(),
            (None, true) if !view.store.background_pays() => {
                "on: nothing to build (exact search is fast as it is on a file this size)".into()
            }
            (None, true) if view.store.lists().is_some() && view.store.pc_stage_decided() => {
                let plan = view.store.exact_plan();
                let built = match plan.pc_dims {
                    Some(p) => format!(
                        "the lists and the principal-component stage ({p} components) are built"
                    ),
                    None => "the lists are built (no principal-component stage pays here)".into(),
                };
                match plan.cells {
                    true => format!("done: {built}; exact search goes through their cells"),
                    false => format!(
                        "done: {built}; their cells answer too few exact queries on this file \
                         to be tried"
                    ),
                }
            }
            (None, true) if !view.store.is_writable() => {
                "none: the index is read-only here (`vecsh build FILE` adds the lists and the \
                 stage)"
                    .into()
            }
            (None, true) => match view.build_failure {
                Some(why) => format!("failed: {why}; the next session tries again"),
                None => "on: the lists and the principal-component stage are built once the \
                         index is verified"
                    .into(),
            },
        };
        rows.push(("build", build));
    }
    rows.push(("exact", crate::render::exact_plan(&view.store.exact_plan())));
    rows.push((
        "search",
        format!(
            "{search}; k {}; method {}; inputs {}",
            s.k,
            if s.method == Method::Mul {
                "mul"
            } else {
                "add"
            },
            if s.include_inputs { "shown" } else { "hidden" }
        ),
    ));
    // On a terminal too narrow for a row, its value wraps at blanks under itself.
    let room = r.width.saturating_sub(9).max(20);
    rows.iter()
        .map(|(k, value)| {
            let lines = if r.terminal && visible_width(value) > room {
                wrap(value, room)
            } else {
                vec![value.clone()]
            };
            let mut out = format!("{} {}", key(k), lines[0]);
            for line in &lines[1..] {
                out.push_str(&format!("\n{:9}{line}", ""));
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` in lines of at most `width` columns, broken at blanks (a word longer than a line
/// stands alone). Colour codes in `text` take no columns.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut used = 0;
    for word in text.split_whitespace() {
        let w = visible_width(word);
        let last = lines.last_mut().expect("never empty");
        if !last.is_empty() && used + 1 + w > width {
            lines.push(word.to_string());
            used = w;
        } else {
            if !last.is_empty() {
                last.push(' ');
                used += 1;
            }
            last.push_str(word);
            used += w;
        }
    }
    lines
}

/// The columns `text` takes on a terminal: its characters' widths, colour codes taking none.
pub fn visible_width(text: &str) -> usize {
    use unicode_width::UnicodeWidthChar;
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        width += c.width().unwrap_or(0);
    }
    width
}
