fn main() -> std::process::ExitCode {
    ferrid::cli::main()
}
