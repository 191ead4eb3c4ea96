fn main() -> std::process::ExitCode {
    // Before any thread starts: see `clock::remember_local_offset`.
    ferrid::clock::remember_local_offset();
    ferrid::cli::main()
}
