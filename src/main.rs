//! The vecsh binary: the command line (`cli`) given the interactive session (`repl`) to run.

fn main() {
    // The two front-ends meet here: the command line hands a terminal to the session.
    std::process::exit(vecsh::cli::main(vecsh::repl::run));
}
