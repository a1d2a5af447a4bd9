//! Figures written by the commands: a PNG drawn with plotters, saved atomically (temp file,
//! then rename), so an interrupted run never leaves half a picture under the final name.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Writes a PNG of `size` drawn by `draw`, atomically (temp file, then rename).
pub fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    let pending = crate::atomic_file::PendingFile::new(path);
    {
        let root = BitMapBackend::new(pending.path(), size).into_drawing_area();
        draw(&root)?;
        root.present()
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    pending
        .commit()
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
