//! The folder a program under test runs in: a fresh copy of its submission for every case.

use std::io;
use std::path::Path;

/// Copies a submission folder (skipping VCS and cache folders) into the temp dir.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    const SKIP: &[&str] = &[".git", "__pycache__", "target", "node_modules", ".venv"];
    const MAX_BYTES: u64 = 64 << 20;
    let mut budget = MAX_BYTES;
    fn walk(src: &Path, dst: &Path, budget: &mut u64) -> io::Result<()> {
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            let name = entry.file_name();
            if SKIP.iter().any(|s| name == *s) {
                continue;
            }
            let kind = entry.file_type()?;
            let to = dst.join(&name);
            if kind.is_dir() {
                std::fs::create_dir_all(&to)?;
                walk(&entry.path(), &to, budget)?;
            } else if kind.is_file() {
                let len = entry.metadata()?.len();
                *budget = budget.checked_sub(len).ok_or_else(|| {
                    io::Error::other(format!(
                        "`{}` is larger than {} MiB: point at a smaller folder",
                        src.display(),
                        MAX_BYTES >> 20
                    ))
                })?;
                std::fs::copy(entry.path(), &to)?;
            }
        }
        Ok(())
    }
    walk(src, dst, &mut budget)
}
