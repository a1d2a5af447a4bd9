//! Native CLI entry point; everything lives in `flowplay::cli`.

/// mimalloc instead of glibc's allocator: a training step frees and reallocates the same few
/// hundred tensors, and mimalloc's free lists do that with less work (6–9 % more steps/s on
/// the bench model; docs/performance.md, finding 13).
#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    flowplay::cli::main()
}

/// mimalloc hands freed pages back to the system after a short delay (10 ms), and a training
/// step frees and reallocates the same tens of megabytes every few milliseconds, so each step
/// faulted in (and the kernel zeroed) fresh huge pages: 6 % of a step went to `clear_page`.
/// Never purging keeps the process at its peak footprint (≈ 70 MB for the bench model) and
/// cuts the page faults of 400 steps from ≈ 1900 to ≈ 360.
fn keep_freed_memory() {
    #[cfg(not(target_arch = "wasm32"))]
    // SAFETY: sets one of mimalloc's options; `mi_option_purge_delay` is option 15 in
    // mimalloc.h (the Rust bindings do not name it), and a negative delay means never.
    unsafe {
        const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}
