fn main() {
    // The two front-ends meet here: the command line hands a terminal to the session.
    std::process::exit(vecsh::cli::main(vecsh::repl::run));
}
