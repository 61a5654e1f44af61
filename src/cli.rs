//! The command line: clap flags (`Cli`) are resolved into settings (`settings::Resolved`), then
//! one run mode executes. Exit codes: 0 success, 1 some line failed, 2 usage or I/O error.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;
use clap::builder::TypedValueParser as _;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::eval::{Method, SearchMode, Settings};
use crate::index::{self, OpenOptions, Origin};
use crate::loader::{Format, LoadOptions};
use crate::parse;
use crate::render::{human_bytes, Renderer};
use crate::runner::{Runner, Step};
use crate::settings::{Output, Resolved, Source};
use crate::text::thousands;

mod eval_args;
mod eval_columns;
mod export;

const EXAMPLES: &str = "\
Examples:
  vecsh -e \"king - man + woman\"                 answer once, on the built-in 50k-word GloVe
  vecsh glove.6B.50d.txt                        interactive session on a file (index built once)
  vecsh glove.6B.50d.txt demos/capitals.vsh     run a script
  echo \"man : king :: woman : ?\" | vecsh FILE   read lines from a pipe
  vecsh info glove.6B.50d.txt                   words, dims, format, index path and size
  vecsh glove.6B.50d.txt -e \"paris - france + italy\" -e \"sim(cat, dog)\"
                                                several answers, one per -e
  vecsh build glove.840B.300d.zip --member glove.840B.300d.txt --trees 30
                                                index a zip member, with lists and a 30-tree forest";

#[derive(Parser, Debug)]
#[command(name = "vecsh", version, about = "Explore word embeddings from a terminal: embedding arithmetic, \
nearest neighbours, analogies.", after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Embedding file: GloVe text, word2vec/fastText text or word2vec binary, optionally .gz or
    /// .zip. Without it, the built-in 50,000-word GloVe 6B 50d vocabulary is used. A single
    /// argument ending in .vsh is taken as a script on the built-in vocabulary.
    file: Option<PathBuf>,
    /// A script of vecsh lines to run (`#` starts a comment).
    script: Option<PathBuf>,
    /// Open another embedding file beside FILE as a space of its own (repeatable), named from
    /// the file (`glove.6B.50d.txt` is `glove.6B.50d`) or by NAME; `in(NAME, EXPR)`,
    /// `:use NAME` and `:compare EXPR` use the spaces. --format, --member, --limit, --dims,
    /// --labels, --tensor, --tokenizer, --index and --rebuild apply to FILE only.
    #[arg(long = "also", value_name = "[NAME=]FILE")]
    also: Vec<std::ffi::OsString>,
    /// Evaluate this line and exit (repeatable).
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    exprs: Vec<String>,
    /// Print each line of a script (with the comment above it) or of several -e above its
    /// answer, also when stdout is no terminal (the default on a terminal).
    #[arg(long, overrides_with = "no_echo")]
    echo: bool,
    /// Print answers only, never the lines they answer.
    #[arg(long, overrides_with = "echo")]
    no_echo: bool,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    query: QueryArgs,
    /// Search only the first N words (frequency order for GloVe and word2vec), like gensim's
    /// restrict_vocab, for neighbours, analogies, cosmul and maps; 0: all. The index keeps
    /// every word (--limit is the index-level cut).
    #[arg(long, value_name = "N|off", value_parser = restrict_words)]
    restrict: Option<usize>,
    /// Unknown words get vectors from their character n-grams, for models that have them
    /// (fastText): on or off.
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"], default_value = "on")]
    subwords: String,
    /// Also write each map (plot, arrows) as an SVG picture to FILE; when a run draws several,
    /// they are numbered FILE-1.svg, FILE-2.svg, ...
    #[arg(long, value_name = "FILE", value_parser = clap::builder::OsStringValueParser::new().try_map(svg_file))]
    svg: Option<PathBuf>,
}

/// `--restrict N`, or `off` (= 0: every word) as `:restrict` takes it.
fn restrict_words(arg: &str) -> Result<usize, String> {
    match arg {
        "off" => Ok(0),
        _ => arg.parse().map_err(|_| {
            format!("expected a number of words or off, found '{arg}' (e.g. --restrict 30000)")
        }),
    }
}

/// `--svg` takes a file name ending in .svg, so a slip (`--svg demo.vsh`) can't overwrite a
/// file that is not a picture. Any bytes before the extension (a path need not be UTF-8).
fn svg_file(arg: std::ffi::OsString) -> Result<PathBuf, String> {
    let path = PathBuf::from(arg);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        Ok(path)
    } else {
        Err(format!(
            "expected a file name ending in .svg, found '{}'",
            crate::text::escape_path(&path)
        ))
    }
}

/// Where the vectors come from and how the index is kept: the session's flags, and those of
/// each subcommand that opens a file. Not `global`: a global flag shows in every subcommand's
/// help, also where it does nothing (`completions`).
#[derive(Args, Debug, Clone, Default)]
struct SourceArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Keep the index in this directory instead of the cache.
    #[arg(long, value_name = "DIR")]
    index: Option<PathBuf>,
    /// Rebuild the index even if a current one exists.
    #[arg(long)]
    rebuild: bool,
    /// No progress bars.
    #[arg(short, long)]
    quiet: bool,
}

/// How the file is read: also all that `export` takes (it reads the file, not an index).
#[derive(Args, Debug, Clone, Default)]
struct LoadArgs {
    /// File format, when detection from the content is not wanted: GloVe text, word2vec or
    /// fastText .vec text, word2vec binary, fastText model .bin, gensim .kv/.model, pickled
    /// dict .pkl, Annoy index .annoy, safetensors model + tokenizer.json.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Member of a .zip archive to read.
    #[arg(long, value_name = "NAME")]
    member: Option<String>,
    /// Keep only the first N words (file order, which is frequency order for GloVe and word2vec).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// The vectors' dimension, for an Annoy index whose layout fits more than one.
    #[arg(long, value_name = "D")]
    dims: Option<usize>,
    /// Labels of item vectors (.npy, .npz, vectors.tsv), one a line, one line per row.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// The tensor of a safetensors model whose rows are the tokens (default: model2vec's
    /// `embeddings`, a transformer's input embedding by name, or the one matrix that fits).
    #[arg(long, value_name = "NAME")]
    tensor: Option<String>,
    /// The tokenizer.json of a safetensors model, whatever its name (default: tokenizer.json
    /// beside the model).
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
}

/// How the session answers: top level only (no subcommand searches).
#[derive(Args, Debug, Clone, Default)]
struct QueryArgs {
    /// Number of neighbours to show.
    #[arg(short = 'k', long = "top", value_name = "K", default_value_t = 10)]
    k: usize,
    /// Search exactly: the default, always (what `vecsh build` adds only makes it faster).
    #[arg(long, conflicts_with = "approx")]
    exact: bool,
    /// Search approximately: the inverted lists (built in the background on first use), each
    /// answer rescored exactly.
    #[arg(long)]
    approx: bool,
    /// Lists an approximate search probes: more finds more of the true neighbours, slower.
    /// 0: as many as the lists' calibration on this file chose for recall@10 0.97.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).map(|n| n as usize))]
    probes: usize,
    /// Search approximately in the arroy forest instead of the lists (`vecsh build FILE
    /// --trees 30` builds one; a session builds it on first use; with --exact, for :exact off).
    #[arg(long)]
    forest: bool,
    /// Show the expression's own words among the neighbours.
    #[arg(long)]
    include: bool,
    /// In a session, build nothing behind the prompt (by default a session on a large file
    /// builds the lists that make exact search fast, once its index is verified).
    #[arg(long)]
    no_background: bool,
    /// On a model (safetensors), let special and byte tokens (`<|endoftext|>`, `[CLS]`,
    /// `<0x0A>`) be neighbours too; by default they are left out of answers.
    #[arg(long)]
    all_tokens: bool,
    /// Analogy method: add (3CosAdd, gensim most_similar) or mul (3CosMul, most_similar_cosmul).
    #[arg(long, value_enum, default_value_t = MethodArg::Add)]
    method: MethodArg,
    /// One JSON object per result on stdout.
    #[arg(long)]
    json: bool,
    /// Colour output.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

/// [`SourceArgs`] for `vecsh eval`, global there so that they follow `analogy FILE` and
/// `similarity FILE` as they follow the other subcommands (clap's `global` is per argument, so
/// the struct is repeated; `From` keeps the two in step at compile time).
#[derive(Args, Debug, Clone, Default)]
struct EvalSourceArgs {
    /// File format, when detection from the content is not wanted: GloVe text, word2vec or
    /// fastText .vec text, word2vec binary, fastText model .bin, gensim .kv/.model, pickled
    /// dict .pkl, Annoy index .annoy, safetensors model + tokenizer.json.
    #[arg(long, value_enum, global = true)]
    format: Option<FormatArg>,
    /// Member of a .zip archive to read.
    #[arg(long, value_name = "NAME", global = true)]
    member: Option<String>,
    /// Keep only the first N words (file order, which is frequency order for GloVe and word2vec).
    #[arg(long, value_name = "N", global = true)]
    limit: Option<usize>,
    /// Keep the index in this directory instead of the cache.
    #[arg(long, value_name = "DIR", global = true)]
    index: Option<PathBuf>,
    /// Rebuild the index even if a current one exists.
    #[arg(long, global = true)]
    rebuild: bool,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
}

impl From<&EvalSourceArgs> for SourceArgs {
    fn from(a: &EvalSourceArgs) -> SourceArgs {
        let EvalSourceArgs {
            format,
            member,
            limit,
            index,
            rebuild,
            quiet,
        } = a.clone();
        SourceArgs {
            load: LoadArgs {
                format,
                member,
                limit,
                dims: None,
                labels: None,
                tensor: None,
                tokenizer: None,
            },
            index,
            rebuild,
            quiet,
        }
    }
}

/// `vecsh eval analogy|similarity`: what the reports need of the session's flags.
#[derive(Args, Debug)]
struct EvalArgs {
    #[command(subcommand)]
    command: eval_args::EvalSubcommand,
    #[command(flatten)]
    source: EvalSourceArgs,
    /// The report as one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Colour output.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true)]
    color: ColorArg,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build (or rebuild) the index of FILE, including the approximate-search lists.
    ///
    /// For files of at least 200,000 words and 128 dimensions it also builds the exact search's
    /// principal-component stage (faster exact queries; a first open leaves it out), rebuilding
    /// once an index that was made without it.
    Build {
        /// Embedding file (any format vecsh reads; see `vecsh --help`).
        file: PathBuf,
        /// Trees of an arroy forest to build besides the lists (0: none; the lists are the
        /// default approximate search, `--forest` searches the forest).
        #[arg(long, value_name = "N", default_value_t = 0,
              value_parser = clap::value_parser!(u32).range(0..=1000).map(|n| n as usize))]
        trees: usize,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Show what the index of FILE holds: file, format, words, dims, notes on its rows, index
    /// path and size, lists, forest, and how exact search runs.
    Info {
        /// Embedding file; without it, the built-in vocabulary.
        file: Option<PathBuf>,
        /// Check the whole index (every table, vector chunk and the forest, and the source's
        /// content) against its checksums; exit 1 if anything is damaged. Rebuilds nothing.
        #[arg(long)]
        verify: bool,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Write the first words of FILE as GloVe text, to standard output or to OUTPUT (gzipped when
    /// it ends in .gz).
    Export {
        /// Embedding file to read (any format vecsh reads).
        file: PathBuf,
        /// File to write: GloVe text, gzipped when it ends in .gz; `-` or none for standard
        /// output. Never the input nor a file it is read with; an existing file only with
        /// --force.
        #[arg(short, long, value_name = "OUTPUT")]
        output: Option<PathBuf>,
        /// Replace OUTPUT if it exists (it is written aside and renamed into place).
        #[arg(long)]
        force: bool,
        /// Decimals per value, 0 to 12 (fewer make a smaller file).
        #[arg(long, default_value_t = 6,
              value_parser = clap::value_parser!(u32).range(0..=12).map(|n| n as usize))]
        decimals: usize,
        /// What to write: GloVe text, or the TensorFlow Embedding Projector's pair
        /// (OUTPUT is then a directory that gets vectors.tsv and metadata.tsv).
        #[arg(long, value_enum, default_value_t = ExportTo::Glove)]
        to: ExportTo,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): `vecsh man > vecsh.1` for vecsh, `vecsh man build >
    /// vecsh-build.1` for a subcommand's; then `man ./vecsh.1`.
    Man {
        /// The subcommand whose page to print (default: vecsh's own page).
        subcommand: Option<String>,
    },
    /// Evaluate FILE on word analogies or word similarity, as gensim or word2vec do.
    Eval(EvalArgs),
}

/// Every format the loader reads (`loader::Format`); detection picks one when none is given.
/// (Plain comments, not doc comments: documented values would turn `--help` into clap's long
/// layout, one flag over several lines; the `--format` help describes them instead.)
#[derive(ValueEnum, Debug, Clone, Copy)]
enum FormatArg {
    // GloVe text: a word and its values per line, no header.
    Glove,
    // word2vec or fastText .vec text: a `COUNT DIMS` header line, then GloVe-like rows.
    W2vText,
    // word2vec binary (.bin).
    W2vBin,
    // fastText model (.bin), with its character n-grams for unknown words.
    FasttextBin,
    // gensim KeyedVectors, Word2Vec or FastText saved with .save() (.kv, .model).
    Gensim,
    // A pickled dict word -> vector (.pkl).
    Pickle,
    // An Annoy index (.annoy, angular) with the tutorial's LMDB map (.lmdb) beside it.
    Annoy,
    // Item vectors: a 2-D .npy, an .npz, the Embedding Projector's vectors.tsv (+ metadata.tsv).
    Items,
    // A Hugging Face model: safetensors matrix + tokenizer.json (model2vec, transformer embeddings).
    Safetensors,
}

#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq)]
enum ExportTo {
    /// GloVe text: a word and its values per line.
    #[default]
    Glove,
    /// The Embedding Projector's vectors.tsv and metadata.tsv, in the directory OUTPUT.
    Projector,
}

#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq)]
enum MethodArg {
    #[default]
    Add,
    Mul,
}

#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq)]
enum ColorArg {
    #[default]
    Auto,
    Always,
    Never,
}

/// The flags resolved into settings (see `settings` for where a new one goes).
fn resolve(file: Option<PathBuf>, source: &SourceArgs, query: &QueryArgs) -> Resolved {
    let format = source.load.format.map(|f| match f {
        FormatArg::Glove => Format::Glove,
        FormatArg::W2vText => Format::Word2VecText,
        FormatArg::W2vBin => Format::Word2VecBinary,
        FormatArg::FasttextBin => Format::FastTextBin,
        FormatArg::Gensim => Format::Gensim,
        FormatArg::Pickle => Format::Pickle,
        FormatArg::Annoy => Format::Annoy,
        FormatArg::Items => Format::Items,
        FormatArg::Safetensors => Format::Safetensors,
    });
    let open = OpenOptions {
        index_dir: source.index.clone(),
        cache_dir: None,
        load: LoadOptions {
            format,
            member: source.load.member.clone(),
            limit: source.load.limit,
            dims: source.load.dims,
            labels: source.load.labels.clone(),
            tensor: source.load.tensor.clone(),
            tokenizer: source.load.tokenizer.clone(),
        },
        rebuild: source.rebuild,
        writable: false,
        // Sessions and evaluations verify the whole index; one-shot modes opt into the stat
        // proof (`index::Verify`).
        verify: index::Verify::Full,
        exact_stage: false,
        // Read once here: the index takes the stage's row floor as a value.
        pc_min_rows: std::env::var("VECSH_PC_MIN_ROWS")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    // Exact unless approximate answers are asked for; `--forest` asks for the forest's
    // (`--exact --forest`: exact, and the forest for a later `:exact off`).
    let mode = if !query.exact && (query.approx || query.forest) {
        SearchMode::Approx
    } else {
        SearchMode::Exact
    };
    let settings = Settings {
        // 0 is allowed: no neighbours, as gensim's topn=0.
        k: query.k,
        mode,
        approx: index::ApproxParams {
            kind: if query.forest {
                index::ApproxKind::Forest
            } else {
                index::ApproxKind::Lists
            },
            probes: query.probes,
            ..index::ApproxParams::default()
        },
        include_inputs: query.include,
        all_tokens: query.all_tokens,
        background: !query.no_background,
        method: if query.method == MethodArg::Mul {
            Method::Mul
        } else {
            Method::Add
        },
        ..Settings::default()
    };
    let stdout_tty = std::io::stdout().is_terminal();
    let color = match query.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let width = terminal_size::terminal_size().map_or(80, |(w, _)| w.0 as usize);
    let quiet = source.quiet || !std::io::stderr().is_terminal();
    Resolved {
        also: Vec::new(),
        // The tutorial's map `X.lmdb` opens its pair through `X.annoy`, whose index is cached.
        source: file
            .as_ref()
            .map(|f| crate::loader::primary_file(f, &open.load))
            .map_or(Source::Builtin, Source::File),
        // A model directory's space is named by the directory, not by its model.safetensors.
        typed: file,
        open,
        settings,
        output: Output {
            json: query.json,
            renderer: Renderer {
                color,
                width,
                terminal: stdout_tty,
            },
            quiet,
            svg: None,
        },
    }
}

/// The interactive session, which this front-end hands a terminal to: `repl::run`, passed in
/// by `main` so that the two front-ends do not import each other.
pub type Session = fn(Resolved) -> anyhow::Result<i32>;

/// Runs vecsh with the process's arguments; returns the exit code.
pub fn main(session: Session) -> i32 {
    let cli = match Cli::try_parse_from(hyphen_expressions(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(cli, session) {
        Ok(code) => code,
        // The reader of our output left (`vecsh ... | head -1`): what it wanted was written.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("vecsh: {e:#}");
            2
        }
    }
}

/// `-e -king` and `-e "-0.5 * king"`: an expression may start with one `-`, which clap would
/// take for a flag. A value after `-e`/`--expr` that starts with a single `-` is passed joined
/// (`--expr=-king`); `-e --json` still reads `--json` as the flag.
fn hyphen_expressions(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let takes_expr = arg == "-e" || arg == "--expr";
        let next_is_negative = args
            .peek()
            .and_then(|a| a.to_str())
            .is_some_and(|a| a.starts_with('-') && !a.starts_with("--") && a.len() > 1);
        if takes_expr && next_is_negative {
            let mut joined = std::ffi::OsString::from("--expr=");
            joined.push(args.next().expect("peeked"));
            out.push(joined);
        } else {
            out.push(arg);
        }
    }
    out
}

/// The manual page of vecsh or of one of its subcommands (whose pages vecsh's own names as
/// `vecsh-NAME(1)`), rendered into memory; `None` after saying that `name` is no subcommand.
fn man_page(name: Option<&str>) -> anyhow::Result<Option<Vec<u8>>> {
    // Built, so that each subcommand's page is titled and cross-referenced as `vecsh-NAME`.
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let cmd = match name {
        None => cli,
        Some(name) => {
            let Some(sub) = cli.find_subcommand(name).cloned() else {
                let names: Vec<&str> = cli.get_subcommands().map(|s| s.get_name()).collect();
                eprintln!(
                    "vecsh man: no subcommand '{}' (pages: {})",
                    crate::text::escape(name),
                    names.join(", ")
                );
                return Ok(None);
            };
            sub
        }
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    Ok(Some(page))
}

/// Whether `e` is, anywhere in its chain, a write to a reader that left (EPIPE): also through
/// the loader, whose sink's errors (`export` writing its rows) are transparent, not sources.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(is_broken_pipe_cause)
}

fn is_broken_pipe_cause(cause: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        return io.kind() == std::io::ErrorKind::BrokenPipe;
    }
    match cause.downcast_ref::<crate::loader::LoadError>() {
        Some(crate::loader::LoadError::Sink(inner)) => is_broken_pipe(inner),
        _ => false,
    }
}

fn run(cli: Cli, session: Session) -> anyhow::Result<i32> {
    // Subcommands search nothing: the query flags they need (--json, --color, --method) are
    // their own, the rest stay at the session's defaults.
    let output = |json: bool, color: ColorArg| QueryArgs {
        json,
        color,
        ..QueryArgs::default()
    };
    match cli.command {
        Some(Command::Build {
            file,
            trees,
            source,
        }) => build(
            resolve(Some(file), &source, &output(false, ColorArg::Auto)),
            trees,
        ),
        Some(Command::Info {
            file,
            verify: true,
            json,
            source,
        }) => verify(resolve(file, &source, &output(json, ColorArg::Auto))),
        Some(Command::Info {
            file, json, source, ..
        }) => info(resolve(file, &source, &output(json, ColorArg::Auto))),
        Some(Command::Export {
            file,
            output: to,
            force,
            decimals,
            to: kind,
            load,
        }) => {
            let source = SourceArgs {
                load,
                ..SourceArgs::default()
            };
            let resolved = resolve(Some(file.clone()), &source, &output(false, ColorArg::Never));
            let to = to.filter(|p| p.as_os_str() != "-");
            match kind {
                ExportTo::Glove => {
                    export::glove(&file, &resolved.open.load, to.as_deref(), force, decimals)?
                }
                ExportTo::Projector => {
                    let dir = to.ok_or_else(|| {
                        anyhow::anyhow!(
                            "--to projector writes two files: name their directory with -o DIR"
                        )
                    })?;
                    export::projector(&file, &resolved.open.load, &dir, force, decimals)?
                }
            }
            Ok(0)
        }
        Some(Command::Eval(args)) => {
            let also = also_files(args.command.also())?;
            let command = crate::protocols::EvalCommand::from(args.command);
            let mut resolved = resolve(
                Some(command.file().to_path_buf()),
                &SourceArgs::from(&args.source),
                &output(args.json, args.color),
            );
            if !also.is_empty() {
                resolved.also = also;
                return eval_columns::eval_columns(&resolved, &command);
            }
            eval(resolved, &command)
        }
        Some(Command::Completions { shell }) => {
            // Into memory first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "vecsh", &mut script);
            std::io::stdout().lock().write_all(&script)?;
            Ok(0)
        }
        Some(Command::Man { subcommand }) => {
            let Some(page) = man_page(subcommand.as_deref())? else {
                return Ok(2);
            };
            std::io::stdout().lock().write_all(&page)?;
            Ok(0)
        }
        None => {
            let (mut file, mut script) = (cli.file, cli.script);
            let is_script = |p: &Option<PathBuf>| {
                p.as_ref()
                    .is_some_and(|f| f.extension().is_some_and(|e| e == "vsh"))
            };
            if script.is_some() && is_script(&file) {
                anyhow::bail!(
                    "{} is a script, not an embedding file: vecsh runs one script at a time \
                     (`vecsh FILE SCRIPT`, or `vecsh SCRIPT` on the built-in vocabulary)",
                    crate::text::escape_path(file.as_deref().unwrap_or(Path::new("")))
                );
            }
            // `vecsh demo.vsh`: a lone script runs on the built-in vocabulary.
            if script.is_none() && is_script(&file) {
                script = file.take();
            }
            // `vecsh a.vec b.vec` meant two spaces, not b.vec run line by line as a script.
            let named_script = script
                .as_deref()
                .filter(|p| p.as_os_str() != "-" && p.extension().is_none_or(|e| e != "vsh"));
            if let Some(path) = named_script {
                if path.is_dir() {
                    let shown = crate::text::escape_path(path);
                    if let Ok(Some(_)) = crate::loader::formats::safetensors::model_file(path, None)
                    {
                        anyhow::bail!(
                            "{shown} is a model directory, not a script: did you mean --also {shown}?"
                        );
                    }
                    anyhow::bail!("{shown} is a directory, not a script");
                }
                if crate::loader::looks_like_embeddings(path) {
                    let shown = crate::text::escape_path(path);
                    anyhow::bail!(
                        "{shown} is an embedding file, not a script: did you mean --also {shown}?"
                    );
                }
                if crate::loader::looks_binary(path) {
                    anyhow::bail!(
                        "{} is neither a script nor an embedding file (binary data that no \
                         embedding format reads)",
                        crate::text::escape_path(path)
                    );
                }
            }
            if script.is_some() && !cli.exprs.is_empty() {
                // Never drop input silently: one source of lines per run (`vecsh SCRIPT -e X`
                // as `vecsh FILE SCRIPT -e X`).
                anyhow::bail!(
                    "a SCRIPT and -e cannot be combined: run the script, or pass the lines with -e"
                );
            }
            // Before any map is drawn: `--svg` never overwrites, and a directory is no file.
            if let Some(svg) = &cli.svg {
                crate::svgfiles::check_new(svg)?;
            }
            // FILE's flags without FILE would read the built-in vocabulary, which nobody named.
            if file.is_none() {
                let (s, l) = (&cli.source, &cli.source.load);
                let given = [
                    ("--format", l.format.is_some()),
                    ("--member", l.member.is_some()),
                    ("--limit", l.limit.is_some()),
                    ("--dims", l.dims.is_some()),
                    ("--labels", l.labels.is_some()),
                    ("--tensor", l.tensor.is_some()),
                    ("--tokenizer", l.tokenizer.is_some()),
                    ("--index", s.index.is_some()),
                ];
                if let Some((flag, _)) = given.iter().find(|(_, on)| *on) {
                    anyhow::bail!(
                        "{flag} applies to FILE, and no FILE was given (--also files are read \
                         as detected, with no such flags): give the file as FILE to use {flag}"
                    );
                }
            }
            let mut resolved = resolve(file, &cli.source, &cli.query);
            resolved.settings.restrict = cli.restrict.filter(|&n| n > 0);
            resolved.settings.subwords = cli.subwords == "on";
            resolved.output.svg = cli.svg;
            resolved.also = also_files(&cli.also)?;
            let echo = match (cli.echo, cli.no_echo) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            lines(resolved, cli.exprs, script, echo, session)
        }
    }
}

/// `--also [NAME=]FILE` arguments: split at the first `=` only when its left side is a name.
fn also_files(args: &[std::ffi::OsString]) -> anyhow::Result<Vec<(Option<String>, PathBuf)>> {
    let mut spaces = Vec::with_capacity(args.len());
    for arg in args {
        let space = match arg.to_str().map(crate::eval::spaces::split_named) {
            Some((Some(name), file)) => {
                // `--also x=b.txt` with a file of that name: the split read it as the space x
                // of a file b.txt, which is not there.
                if !Path::new(file).exists() && Path::new(arg).is_file() {
                    let shown = crate::text::escape_path(Path::new(arg));
                    anyhow::bail!(
                        "--also {shown} names the space '{name}' of the file {}, which does not \
                         exist; to open the file {shown}, write --also ./{shown}",
                        crate::text::escape_path(Path::new(file))
                    );
                }
                (Some(name.to_string()), PathBuf::from(file))
            }
            _ => (None, PathBuf::from(arg)),
        };
        spaces.push(space);
    }
    Ok(spaces)
}

/// Exact queries' time before and after `vecsh build` on the clustered 3M x 300 file, as the
/// bench measured them (100 piped queries after a first open; `bench_queries` through the
/// index built by `vecsh build`; docs/performance.md, issue 28).
const BUILD_HINT_MS: (f64, f64) = (26.9, 1.39);

/// A one-shot run never builds in the background; on a large file whose index lacks what makes
/// exact search fast it says once per index (on a terminal, unless `--quiet`) that `vecsh build`
/// adds it, with the factor the bench measured.
fn build_hint(store: &index::Store, resolved: &Resolved) {
    let Source::File(path) = &resolved.source else {
        return;
    };
    if resolved.output.quiet || !store.lacks_fast_exact() || !store.first_build_hint() {
        return;
    }
    let (before, after) = BUILD_HINT_MS;
    let file = crate::text::escape_path(resolved.typed.as_deref().unwrap_or(path));
    eprintln!(
        "{}",
        resolved.output.renderer.style(
            &format!(
                "hint: `vecsh build {file}` can make exact queries on a file this large much \
                 faster (about {:.0}x on a clustered 3M x 300 file in our bench: {before} ms -> \
                 {after} ms a query; how much depends on the file); a session builds the lists by \
                 itself in the background (said once for this index)",
                before / after
            ),
            owo_colors::Style::new().dimmed()
        )
    );
}

/// `-e`, script, pipe or interactive session.
fn lines(
    mut resolved: Resolved,
    exprs: Vec<String>,
    script: Option<PathBuf>,
    echo: Option<bool>,
    session: Session,
) -> anyhow::Result<i32> {
    let interactive = exprs.is_empty() && script.is_none() && std::io::stdin().is_terminal();
    if interactive {
        return session(resolved);
    }
    resolved.open.verify = index::Verify::Proof;
    // Read the script before the (possibly long) first build, so a wrong path fails at once.
    let input: Box<dyn BufRead> = match &script {
        Some(path) if path.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| {
                format!("cannot read script {}", crate::text::escape_path(path))
            })?,
        )),
        None if exprs.is_empty() => Box::new(std::io::stdin().lock()),
        None => Box::new(std::io::empty()),
    };
    let name = match &script {
        Some(path) if path.as_os_str() != "-" => crate::text::escape_path(path),
        _ => "<stdin>".to_string(),
    };
    let (store, _) = resolved.open_store()?;
    build_hint(&store, &resolved);
    let mut runner = Runner::new(&store, &resolved, false);
    runner.open_also(&resolved)?;
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    // Each statement's line above its answer, so that a script reads as a transcript: on a
    // terminal unless a single -e asked one thing (JSON carries each answer's input instead).
    let json = resolved.output.json;
    let mut echo = Echo {
        on: !resolved.output.json
            && echo.unwrap_or_else(|| {
                std::io::stdout().is_terminal() && !(script.is_none() && exprs.len() == 1)
            }),
        comments: Vec::new(),
    };
    // One statement: Some(whether it succeeded), or None when `:quit` asks to stop.
    let emit = |runner: &mut Runner,
                out: &mut std::io::StdoutLock,
                line: &str,
                origin: Option<String>|
     -> anyhow::Result<Option<bool>> {
        Ok(match runner.run(line, origin.as_deref(), out, &|| None)? {
            Step::Ran { ok, .. } => Some(ok),
            Step::Quit => None,
            // Only the interactive session catches Ctrl-C.
            Step::Interrupted | Step::Damaged(_) => Some(false),
        })
    };
    for expr in &exprs {
        echo.header(&runner, &mut out, expr)?;
        match emit(&mut runner, &mut out, expr, None)? {
            Some(ok) => failed |= !ok,
            None => return Ok(i32::from(failed)),
        }
    }
    let mut lines = input.split(b'\n');
    let mut number = 0;
    // A statement continues on the next lines while a parenthesis is open, as in the session.
    let mut pending: Option<(String, usize)> = None;
    loop {
        let line = lines
            .next()
            .transpose()
            .with_context(|| format!("cannot read {name}"))?;
        let Some(mut bytes) = line else { break };
        number += 1;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                // Reported with its place; the other lines still run.
                let valid = e.utf8_error().valid_up_to();
                let shown = crate::text::escape_bytes(e.as_bytes());
                let message = format!(
                    "the line is not valid UTF-8 (byte {} of the line: {shown})",
                    valid + 1
                );
                if json {
                    // As any line's error under --json: an object on stdout.
                    let err = crate::eval::EvalError {
                        message,
                        ..Default::default()
                    };
                    let origin = format!("{name}:{number}");
                    writeln!(
                        out,
                        "{}",
                        crate::runner::error_json(&shown, Some(&origin), &err)
                    )?;
                } else {
                    out.flush()?;
                    eprintln!("{name}:{number}: error: {message}");
                }
                failed = true;
                pending = None;
                continue;
            }
        };
        let (statement, first) = match pending.take() {
            Some((mut open, first)) => {
                open.push('\n');
                open.push_str(&text);
                (open, first)
            }
            None => (text, number),
        };
        if parse::is_incomplete(&statement) {
            pending = Some((statement, first));
            continue;
        }
        if echo.skips(&statement) {
            continue;
        }
        echo.header(&runner, &mut out, &statement)?;
        match emit(
            &mut runner,
            &mut out,
            &statement,
            Some(format!("{name}:{first}")),
        )? {
            Some(ok) => failed |= !ok,
            None => return Ok(i32::from(failed)),
        }
    }
    // Input that ends inside a parenthesis is still run, so its error is reported.
    if let Some((statement, first)) = pending {
        echo.header(&runner, &mut out, &statement)?;
        let ran = emit(
            &mut runner,
            &mut out,
            &statement,
            Some(format!("{name}:{first}")),
        )?;
        failed |= ran == Some(false);
    }
    Ok(i32::from(failed))
}

/// The lines a script or several `-e` show above their answers (`--echo`): the statement,
/// dim, after `> ` (`... ` on its continued lines), with the comment lines just above it; the
/// output then reads as the same lines typed in a session.
struct Echo {
    on: bool,
    /// The comment lines read since the last statement or blank line.
    comments: Vec<String>,
}

impl Echo {
    /// Blank lines and comments run nothing: a comment is kept for the statement below it,
    /// a blank line forgets it. True when `statement` is one of them (and so has no header).
    fn skips(&mut self, statement: &str) -> bool {
        let trimmed = statement.trim();
        if trimmed.is_empty() {
            self.comments.clear();
            return true;
        }
        if trimmed.starts_with('#') {
            self.comments.push(trimmed.to_string());
            return self.on;
        }
        false
    }

    /// Writes the header of `statement` when echo is on.
    fn header(
        &mut self,
        runner: &Runner,
        out: &mut dyn Write,
        statement: &str,
    ) -> std::io::Result<()> {
        let comments = std::mem::take(&mut self.comments);
        if !self.on {
            return Ok(());
        }
        let dim = |s: &str| {
            runner
                .renderer()
                .style(&crate::text::escape(s), owo_colors::Style::new().dimmed())
        };
        for comment in comments {
            writeln!(out, "{}", dim(&comment))?;
        }
        for (i, line) in statement.lines().enumerate() {
            let prompt = if i == 0 { "> " } else { "... " };
            writeln!(out, "{}", dim(&format!("{prompt}{line}")))?;
        }
        Ok(())
    }
}

/// `vecsh eval analogy|similarity FILE ...`: a report as a table, or one JSON object with --json.
fn eval(resolved: Resolved, cmd: &crate::protocols::EvalCommand) -> anyhow::Result<i32> {
    let (store, _) = resolved.open_store()?;
    let progress = resolved.progress();
    let report = crate::protocols::run_eval(cmd, &store, progress.as_ref())?;
    eval_columns::write_report(&resolved, &report, |r| r.report(&report))?;
    Ok(0)
}

fn build(mut resolved: Resolved, trees: usize) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    resolved.open.writable = true;
    // An explicit build also decides on the exact search's principal-component stage (a
    // first open leaves it out to answer sooner).
    resolved.open.exact_stage = true;
    let started = Instant::now();
    let (store, origin) = resolved.open_store()?;
    let base = started.elapsed();
    let progress = resolved.progress();
    let lists = store.build_lists(progress.as_ref(), &AtomicBool::new(false))?;
    let forest = if trees > 0 {
        Some(store.build_forest(trees, progress.as_ref(), &AtomicBool::new(false))?)
    } else {
        None
    };
    let m = store.meta();
    writeln!(
        out,
        "{}: {} {} × {} dims ({}), index {} in {:.2} s",
        crate::text::escape_path(&m.source),
        thousands(m.words),
        m.row_noun(),
        m.dims,
        m.format,
        if origin == Origin::Built {
            "built"
        } else {
            "already current"
        },
        base.as_secs_f64()
    )?;
    writeln!(
        out,
        "lists: {} lists over {} rows ({}, {:.1} s)",
        thousands(lists.lists),
        thousands(lists.rows),
        human_bytes(lists.bytes),
        lists.seconds
    )?;
    if let Some(c) = store.calibration(index::ApproxKind::Lists) {
        writeln!(
            out,
            "lists measured on {} queries: {:.2} ms at recall@10 {:.3} ({} probes, what --approx uses)",
            thousands(c.queries),
            c.approx_ms,
            c.recall,
            thousands(c.setting),
        )?;
    }
    // Answers stay exact; what the build changed is how fast.
    writeln!(
        out,
        "exact search (the default): {}",
        crate::render::exact_plan(&store.exact_plan())
    )?;
    if let Some(f) = forest {
        writeln!(out, "forest: {} trees ({:.1} s)", f.trees, f.seconds)?;
        if let Some(c) = store.calibration(index::ApproxKind::Forest) {
            writeln!(
                out,
                "forest measured on {} queries: {:.2} ms at recall@10 {:.3} (oversampling {}), exact {:.2} ms",
                c.queries, c.approx_ms, c.recall, c.setting, c.exact_ms,
            )?;
        }
    }
    writeln!(
        out,
        "{} ({})",
        crate::text::escape_path(store.dir()),
        human_bytes(store.disk_size())
    )?;
    Ok(0)
}

/// `vecsh info --verify [FILE]`.
fn verify(resolved: Resolved) -> anyhow::Result<i32> {
    let path = match &resolved.source {
        Source::File(path) => path.clone(),
        Source::Builtin => crate::embedded::materialize()?,
    };
    let report = index::verify_index(&path, &resolved.open)?;
    let mut out = std::io::stdout().lock();
    if resolved.output.json {
        writeln!(
            out,
            "{}",
            crate::text::json_safe(serde_json::to_string(&report)?)
        )?;
    } else {
        writeln!(out, "{}", crate::render::verify_report(&report))?;
    }
    Ok(if report.is_intact() { 0 } else { 1 })
}

fn info(mut resolved: Resolved) -> anyhow::Result<i32> {
    resolved.open.verify = index::Verify::Proof;
    let mut out = std::io::stdout().lock();
    let json = resolved.output.json;
    let started = Instant::now();
    let (store, origin) = resolved.open_store()?;
    let ready = started.elapsed();
    let m = store.meta();
    let forest = store.forest();
    let lists = store.lists();
    if json {
        let value = serde_json::json!({
            "meta": m, "index": store.dir(), "size_bytes": store.disk_size(), "forest": forest,
            "lists": lists, "exact": store.exact_plan(),
            "origin": origin, "ready_seconds": ready.as_secs_f64(),
        });
        writeln!(out, "{}", crate::text::json_safe(value.to_string()))?;
        return Ok(0);
    }
    let mut extra = Vec::new();
    if m.duplicates > 0 {
        extra.push(format!(
            "{} dropped",
            counted(m.duplicates, "duplicate word", "duplicate words")
        ));
    }
    if m.lossy_words > 0 {
        extra.push(format!(
            "{} with invalid UTF-8",
            counted(m.lossy_words, "word", "words")
        ));
    }
    if m.latin1_words > 0 {
        extra.push(format!(
            "{} decoded as latin-1 (a Python 2 str that is not UTF-8)",
            counted(m.latin1_words, "word", "words")
        ));
    }
    if m.spaced_words > 0 {
        let shown: Vec<String> = m
            .spaced_examples
            .iter()
            .map(|w| format!("'{}'", crate::text::escape(w)))
            .collect();
        extra.push(format!(
            "{} with spaces ({})",
            counted(m.spaced_words, "word", "words"),
            shown.join(", ")
        ));
    }
    if m.zero_vectors > 0 {
        extra.push(counted(m.zero_vectors, "zero vector", "zero vectors"));
    }
    // Written escaped by the loader; escaped again in case the record was edited.
    extra.extend(m.notes.iter().map(|n| crate::text::escape(n).into_owned()));
    writeln!(out, "file      {}", crate::text::escape_path(&m.source))?;
    writeln!(
        out,
        "format    {}{}{}",
        m.format,
        if m.compression == "none" {
            String::new()
        } else {
            format!(", {}", m.compression)
        },
        m.member
            .as_ref()
            .map_or(String::new(), |mb| format!(" member {mb}"))
    )?;
    if let Some(model) = &m.model {
        writeln!(
            out,
            "model     {}: tensor {} ({}, {} × {}), {} tokens{}",
            model.kind,
            crate::text::escape(&model.tensor),
            crate::text::escape(&model.dtype),
            thousands(model.matrix_rows),
            m.dims,
            thousands(model.vocab_size),
            // Padding rows beyond the tokens are the loader's note, below.
            if model.mapped {
                " sharing its rows (model2vec's mapping)"
            } else {
                ""
            }
        )?;
        writeln!(
            out,
            "tokenizer {} ({}); {} special or byte tokens kept out of neighbour lists",
            crate::text::escape(&model.tokenizer_model),
            crate::text::escape_path(&model.tokenizer),
            thousands(model.hidden.len())
        )?;
        writeln!(out, "pooling   {}", model.pooling())?;
    }
    if let Some(sub) = &m.subwords {
        writeln!(
            out,
            "subwords  {}: n-grams of {}–{} characters in {} buckets",
            sub.model,
            sub.minn,
            sub.maxn,
            thousands(sub.buckets)
        )?;
    }
    writeln!(
        out,
        "{:<10}{}{}",
        m.row_noun(),
        thousands(m.words),
        m.limit
            .map_or(String::new(), |l| format!(" (limit {})", thousands(l)))
    )?;
    writeln!(out, "dims      {}", m.dims)?;
    if m.labels {
        writeln!(
            out,
            "labels    {} items labelled by the file (shown beside each item)",
            thousands(m.words)
        )?;
    }
    if !extra.is_empty() {
        writeln!(out, "notes     {}", extra.join(", "))?;
    }
    writeln!(
        out,
        "index     {} ({})",
        crate::text::escape_path(store.dir()),
        human_bytes(store.disk_size())
    )?;
    writeln!(
        out,
        "built     in {:.2} s{}",
        m.build_seconds,
        match origin {
            Origin::Built => " (just now)",
            Origin::Waited => " (by another process, waited for it)",
            Origin::Reused => "",
        }
    )?;
    match lists {
        Some(l) => writeln!(
            out,
            "lists     {} lists over {} rows ({}), built in {:.1} s",
            thousands(l.lists),
            thousands(l.rows),
            human_bytes(l.bytes),
            l.seconds
        )?,
        None => writeln!(
            out,
            "lists     not built (exact search; `vecsh build` adds them)"
        )?,
    }
    match forest {
        Some(f) => writeln!(
            out,
            "forest    {} trees, built in {:.1} s",
            thousands(f.trees),
            f.seconds
        )?,
        None => writeln!(
            out,
            "forest    not built (`vecsh build --trees 30` adds one; `--forest` searches it)"
        )?,
    }
    writeln!(
        out,
        "exact     {}",
        crate::render::exact_plan(&store.exact_plan())
    )?;
    Ok(0)
}

/// `n` and what it counts, singular or plural: `1 word`, `2,000 words`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(counted(1, "word", "words"), "1 word");
        assert_eq!(counted(0, "word", "words"), "0 words");
        assert_eq!(
            counted(2000, "zero vector", "zero vectors"),
            "2,000 zero vectors"
        );
    }
}
