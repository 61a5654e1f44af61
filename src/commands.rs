//! The command table: every `:` command of the session, with its names, its argument and its
//! line in `:help`. Routing (`runner`, and `eval` for the settings), Tab completion, hints and
//! highlighting (`repl::line`), did-you-mean (`eval`) and `:help`'s list (`render::help`) are
//! all read from [`TABLE`]; a new command is one row here and one arm where it is answered.
//!
//! It sits just above `ast`, below the evaluator, because the evaluator answers the settings
//! commands (`:k`, `:exact`, …) and routes them by this enum: nothing here imports anything.

/// A session command. The variants are in [`TABLE`]'s order (a test holds them equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    K,
    Exact,
    Include,
    Method,
    Restrict,
    Subwords,
    AllTokens,
    Background,
    Svg,
    Open,
    Use,
    Compare,
    Align,
    Changed,
    Vars,
    Info,
    Ast,
    Vec,
    Show,
    Eval,
    Help,
    Quit,
}

/// What follows a command's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    /// Nothing (`:vars`, `:quit`).
    Nothing,
    /// Free text: a number, a file, words (`:k 5`, `:svg FILE EXPR`).
    Text,
    /// One of these words, which Tab offers and the highlighter checks (`:method add|mul`).
    OneOf(&'static [&'static str]),
    /// An expression, highlighted and completed as one (`:ast king - man`).
    Expr,
}

/// One row of the table.
#[derive(Debug)]
pub struct Spec {
    pub command: Command,
    /// The name Tab completes and `:help` shows.
    pub name: &'static str,
    /// Other spellings that run it (never offered by Tab or did-you-mean).
    pub aliases: &'static [&'static str],
    pub args: Args,
    /// Tab completes the name with a blank after it, ready for the argument.
    pub tab_space: bool,
    /// `:help`'s rows for it: the syntax and what it does (the setting's current value is
    /// added by `render::help`).
    pub help: &'static [(&'static str, &'static str)],
}

const ON_OFF: &[&str] = &["on", "off"];

/// Every command, in the order `:help` lists them, Tab offers them and did-you-mean prefers
/// them on a tie.
pub const TABLE: [Spec; 22] = [
    Spec {
        command: Command::K,
        name: "k",
        aliases: &[],
        args: Args::Text,
        tab_space: true,
        help: &[(":k N", "how many neighbours")],
    },
    Spec {
        command: Command::Exact,
        name: "exact",
        aliases: &[],
        args: Args::OneOf(ON_OFF),
        tab_space: true,
        help: &[(
            ":exact on|off",
            "exact answers (the default), or approximate ones from the lists",
        )],
    },
    Spec {
        command: Command::Include,
        name: "include",
        aliases: &[],
        args: Args::OneOf(ON_OFF),
        tab_space: true,
        help: &[(":include on|off", "show the expression's own words")],
    },
    Spec {
        command: Command::Method,
        name: "method",
        aliases: &[],
        args: Args::OneOf(&["add", "mul"]),
        tab_space: true,
        help: &[(":method add|mul", "3CosAdd or 3CosMul ranking")],
    },
    Spec {
        command: Command::Restrict,
        name: "restrict",
        aliases: &[],
        args: Args::Text,
        tab_space: true,
        help: &[(":restrict N|off", "search only the first N words")],
    },
    Spec {
        command: Command::Subwords,
        name: "subwords",
        aliases: &[],
        // on|off, but neither offered by Tab nor checked by the highlighter (as before this
        // table): `Args::OneOf(ON_OFF)` would do both.
        args: Args::Text,
        tab_space: true,
        help: &[(
            ":subwords on|off",
            "unknown words from their character n-grams, on fastText models",
        )],
    },
    Spec {
        command: Command::AllTokens,
        name: "alltokens",
        aliases: &[],
        args: Args::OneOf(ON_OFF),
        tab_space: true,
        help: &[(
            ":alltokens on|off",
            "special and byte tokens among the neighbours, on models (flag --all-tokens)",
        )],
    },
    Spec {
        command: Command::Background,
        name: "background",
        aliases: &[],
        args: Args::OneOf(ON_OFF),
        tab_space: true,
        help: &[(
            ":background on|off",
            "build what makes exact search fast behind the prompt, on large files (flag --no-background)",
        )],
    },
    Spec {
        command: Command::Svg,
        name: "svg",
        aliases: &[],
        args: Args::Text,
        tab_space: true,
        help: &[(":svg FILE EXPR", "write the map of EXPR as an SVG picture")],
    },
    Spec {
        command: Command::Open,
        name: "open",
        aliases: &[],
        args: Args::Text,
        tab_space: true,
        help: &[(
            ":open FILE [as NAME]",
            "open another embedding space (named from the file) and make it active",
        )],
    },
    Spec {
        command: Command::Use,
        name: "use",
        aliases: &[],
        args: Args::Text,
        tab_space: true,
        help: &[(
            ":use [NAME]",
            "make a space active, or list the open spaces",
        )],
    },
    Spec {
        command: Command::Compare,
        name: "compare",
        aliases: &[],
        args: Args::Expr,
        tab_space: true,
        help: &[(
            ":compare EXPR",
            "EXPR's neighbours in every open space side by side, with their overlap",
        )],
    },
    Spec {
        command: Command::Align,
        name: "align",
        aliases: &[],
        args: Args::Text,
        tab_space: true,
        help: &[(
            ":align A B [N]",
            "rotate space A onto B over their N most frequent shared words (Procrustes)",
        )],
    },
    Spec {
        command: Command::Changed,
        name: "changed",
        aliases: &[],
        args: Args::Text,
        tab_space: true,
        help: &[
            (
                ":changed [A B] [N]",
                "the N most frequent shared words (10,000) whose neighbours differ most between two spaces",
            ),
            (
                ":changed … k=K top=T",
                "K neighbours a word (25), T rows (20); by=global ranks by the aligned vectors' distance",
            ),
        ],
    },
    Spec {
        command: Command::Vars,
        name: "vars",
        aliases: &[],
        args: Args::Nothing,
        tab_space: false,
        help: &[(":vars", "the named results")],
    },
    Spec {
        command: Command::Info,
        name: "info",
        aliases: &[],
        args: Args::Nothing,
        tab_space: false,
        help: &[(
            ":info",
            "file, vocabulary, index, lists, forest and how exact search runs",
        )],
    },
    Spec {
        command: Command::Ast,
        name: "ast",
        aliases: &[],
        args: Args::Expr,
        tab_space: true,
        help: &[(":ast EXPR", "how an expression is read")],
    },
    Spec {
        command: Command::Vec,
        name: "vec",
        aliases: &[],
        // One word, completed and highlighted as the expression it is.
        args: Args::Expr,
        tab_space: true,
        help: &[(
            ":vec WORD",
            "the word's vector as the file has it: norm, values, sparkline",
        )],
    },
    Spec {
        command: Command::Show,
        name: "show",
        aliases: &[],
        args: Args::Expr,
        tab_space: true,
        help: &[(
            ":show ITEM",
            "draw a pixel item (64 or 784 values) and its neighbours",
        )],
    },
    Spec {
        command: Command::Eval,
        name: "eval",
        aliases: &[],
        args: Args::Text,
        // No blank after the name (as before this table).
        tab_space: false,
        help: &[
            (
                ":eval analogy [FILE]",
                "analogy accuracy as vecsh eval (built-in Google set); Ctrl-C stops",
            ),
            (
                ":eval similarity FILE",
                "word-pair correlation as vecsh eval similarity",
            ),
        ],
    },
    Spec {
        command: Command::Help,
        name: "help",
        aliases: &[],
        // A topic: `:help plot`, `:help :k`.
        args: Args::Text,
        tab_space: false,
        help: &[(
            ":help [TOPIC]",
            "this help, or one entry (:help plot, :help :k)",
        )],
    },
    Spec {
        command: Command::Quit,
        name: "quit",
        aliases: &["q", "exit"],
        args: Args::Nothing,
        tab_space: false,
        help: &[(":quit  :q", "leave (Ctrl-D too)")],
    },
];

impl Command {
    /// The command a name or alias (without the `:`) stands for.
    pub fn lookup(name: &str) -> Option<Command> {
        TABLE
            .iter()
            .find(|s| s.name == name || s.aliases.contains(&name))
            .map(|s| s.command)
    }

    pub fn spec(self) -> &'static Spec {
        &TABLE[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn args(self) -> Args {
        self.spec().args
    }

    /// The words its argument can be, for completion and highlighting (none: any text).
    pub fn values(self) -> &'static [&'static str] {
        match self.args() {
            Args::OneOf(values) => values,
            _ => &[],
        }
    }
}

/// The values the argument of the command named `name` can take; none for an unknown name.
pub fn values(name: &str) -> &'static [&'static str] {
    Command::lookup(name).map_or(&[], Command::values)
}

/// The commands whose name starts with `prefix`, for Tab and the grey hint.
pub fn starting_with(prefix: &str) -> impl Iterator<Item = &'static Spec> + '_ {
    TABLE.iter().filter(move |s| s.name.starts_with(prefix))
}

/// The names did-you-mean picks from for an unknown command: the table's, nothing else (`:let`
/// is no command).
pub fn suggestions() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enum_is_in_table_order() {
        for (i, spec) in TABLE.iter().enumerate() {
            assert_eq!(spec.command as usize, i, "{}", spec.name);
            assert_eq!(spec.command.spec().name, spec.name);
        }
    }

    #[test]
    fn names_and_aliases_find_their_command() {
        assert_eq!(Command::lookup("k"), Some(Command::K));
        assert_eq!(Command::lookup("q"), Some(Command::Quit));
        assert_eq!(Command::lookup("exit"), Some(Command::Quit));
        assert_eq!(Command::lookup("let"), None);
        assert_eq!(values("method"), ["add", "mul"]);
        assert!(values("restrict").is_empty());
        let mut names: Vec<&str> = TABLE
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
            .collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "a name or alias used twice");
    }
}
