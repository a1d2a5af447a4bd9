//! Ctrl-C as a flag: the long commands (`train`, `fit2d`, `fit`) check it between steps, save
//! what they have, and exit with code 130 instead of dying mid-write.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process; a second call is a no-op).
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    });
}

/// Whether Ctrl-C was pressed since the start.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
