//! Native CLI entry point; everything lives in `flowplay::cli`.

fn main() -> std::process::ExitCode {
    flowplay::cli::main()
}
