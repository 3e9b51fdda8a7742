fn main() -> std::process::ExitCode {
    sentinel_host::cli::main()
}
