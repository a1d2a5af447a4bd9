//! Writing a file so that no reader (and no crash) ever sees half of it: the bytes go to a
//! temporary sibling (`name.tmp.ext`, same directory, so the rename stays on one file system)
//! and are renamed over the destination. Every file the crate writes goes through here: models,
//! run state, optimizer state, figures.

use std::io;
use std::path::{Path, PathBuf};

/// A destination that is written through a temporary sibling and appears only on [`commit`];
/// dropped uncommitted, the temporary file is removed.
///
/// [`commit`]: PendingFile::commit
pub struct PendingFile {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// `dir/name.ext` is written as `dir/name.tmp.ext` (the extension kept, for writers that
    /// choose the format by it, such as the PNG encoder).
    pub fn new(dest: &Path) -> Self {
        let stem = dest.file_stem().unwrap_or_default().to_string_lossy();
        let name = match dest.extension() {
            Some(ext) => format!("{stem}.tmp.{}", ext.to_string_lossy()),
            None => format!("{stem}.tmp"),
        };
        Self {
            tmp: dest.with_file_name(name),
            dest: dest.to_path_buf(),
            committed: false,
        }
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves the written file over the destination.
    pub fn commit(mut self) -> io::Result<()> {
        std::fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let pending = PendingFile::new(path);
    std::fs::write(pending.path(), bytes)?;
    pending.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_file_replaces_the_old_one_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("flowplay-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.flow");
        write(&path, b"old").unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_abandoned_write_keeps_the_old_file_and_removes_the_temporary() {
        let dir = std::env::temp_dir().join(format!("flowplay-abandon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grid.png");
        write(&path, b"old").unwrap();
        {
            let pending = PendingFile::new(&path);
            assert_eq!(pending.path(), dir.join("grid.tmp.png"));
            std::fs::write(pending.path(), b"half").unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
