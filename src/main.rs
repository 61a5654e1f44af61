fn main() {
    std::process::exit(vecsh::cli::main());
}
