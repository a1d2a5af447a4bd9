//! Native CLI entry point; everything lives in `flowplay::cli`.

/// mimalloc instead of glibc's allocator: a training step frees and reallocates the same few
/// hundred tensors, and mimalloc's free lists do that with less work (6–9 % more steps/s on
/// the bench model; docs/performance.md, finding 13).
#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flowplay::cli::main()
}
