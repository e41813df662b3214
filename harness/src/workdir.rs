//! The folder a program under test runs in: a fresh copy of its submission for every case.

use std::io;
use std::path::Path;

/// Folders never copied: version control, caches and build output, which a program under
/// test does not need and which can dwarf the submission itself.
pub const SKIPPED: &[&str] = &[".git", "__pycache__", "target", "node_modules", ".venv"];

/// The most a submission may hold (counting what is copied): it is copied for every case,
/// so a mistaken folder (a home folder, a download folder) is refused rather than copied.
pub const MAX_BYTES: u64 = 64 << 20;

/// The prefix of the temp folders cases run in (see `iut/`). When the submission folder
/// holds the temp folder (run from `/tmp`), the copies of concurrent cases appear in it and
/// must not be copied along.
const CASE_DIR_PREFIX: &str = "sockcheck-iut-";

/// What the walk meets, by its path relative to the folder walked.
enum Item {
    Dir,
    File(u64),
}

/// Visits every folder and file of `src` that a copy takes, each folder before what it
/// holds; skips the `SKIPPED` folders, the folders of cases, and the folder `exclude`
/// (canonical), so that a copy made inside its source never copies itself.
fn walk(
    src: &Path,
    exclude: Option<&Path>,
    visit: &mut dyn FnMut(&Path, Item) -> io::Result<()>,
) -> io::Result<()> {
    fn walk_in(
        src: &Path,
        rel: &Path,
        exclude: Option<&Path>,
        visit: &mut dyn FnMut(&Path, Item) -> io::Result<()>,
    ) -> io::Result<()> {
        for entry in std::fs::read_dir(src.join(rel))? {
            let entry = entry?;
            let name = entry.file_name();
            if SKIPPED.iter().any(|s| name == *s) {
                continue;
            }
            let kind = entry.file_type()?;
            let path = rel.join(&name);
            if kind.is_dir() {
                let case_dir = name.to_string_lossy().starts_with(CASE_DIR_PREFIX);
                if case_dir
                    || exclude
                        .is_some_and(|x| entry.path().canonicalize().ok().as_deref() == Some(x))
                {
                    continue;
                }
                visit(&path, Item::Dir)?;
                walk_in(src, &path, exclude, visit)?;
            } else if kind.is_file() {
                visit(&path, Item::File(entry.metadata()?.len()))?;
            }
        }
        Ok(())
    }
    walk_in(src, Path::new(""), exclude, visit)
}

/// The bytes a copy of `src` takes (the skipped folders not counted).
pub fn measure(src: &Path) -> io::Result<u64> {
    let mut total = 0u64;
    walk(src, None, &mut |_, item| {
        if let Item::File(len) = item {
            total = total.saturating_add(len);
        }
        Ok(())
    })?;
    Ok(total)
}

/// Refuses, before any case runs, a folder that `copy_tree` would refuse for every case.
pub fn check(src: &Path) -> Result<(), String> {
    let size =
        measure(src).map_err(|e| format!("cannot read the folder `{}`: {e}", src.display()))?;
    if size > MAX_BYTES {
        return Err(too_large(src, Some(size)));
    }
    Ok(())
}

fn too_large(src: &Path, size: Option<u64>) -> String {
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let holds = match size {
        Some(size) => format!("holds {:.1} MiB", mib(size)),
        None => "holds too much".to_string(),
    };
    format!(
        "`{}` {holds}, more than the {} MiB copied for each case ({} are not copied): run from a folder that holds only the submission",
        src.display(),
        MAX_BYTES >> 20,
        SKIPPED.join(", ")
    )
}

/// Copies a submission folder into a case's temp folder `dst`, which may lie inside it.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let exclude = dst.canonicalize()?;
    let mut budget = MAX_BYTES;
    walk(src, Some(&exclude), &mut |rel, item| match item {
        Item::Dir => std::fs::create_dir_all(dst.join(rel)),
        Item::File(len) => {
            // The folder may have grown since `check`: the budget still holds.
            budget = budget
                .checked_sub(len)
                .ok_or_else(|| io::Error::other(too_large(src, None)))?;
            std::fs::copy(src.join(rel), dst.join(rel)).map(drop)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    #[test]
    fn copies_files_and_folders_but_not_caches_or_case_folders() {
        let src = tempfile::tempdir().expect("temp dir");
        let dst = tempfile::tempdir().expect("temp dir");
        write(&src.path().join("server.py"), "print('hi')\n");
        write(&src.path().join("lib/util.py"), "x = 1\n");
        write(&src.path().join(".git/HEAD"), "ref\n");
        write(&src.path().join("__pycache__/util.pyc"), "bytecode");
        write(
            &src.path().join("sockcheck-iut-other/server.py"),
            "a concurrent case",
        );
        copy_tree(src.path(), dst.path()).expect("copies");
        let read = |rel: &str| fs::read_to_string(dst.path().join(rel)).ok();
        assert_eq!(read("server.py").as_deref(), Some("print('hi')\n"));
        assert_eq!(read("lib/util.py").as_deref(), Some("x = 1\n"));
        for skipped in [".git", "__pycache__", "sockcheck-iut-other"] {
            assert!(!dst.path().join(skipped).exists(), "{skipped} was copied");
        }
    }

    #[test]
    fn a_copy_inside_its_source_does_not_copy_itself() {
        let src = tempfile::tempdir().expect("temp dir");
        write(&src.path().join("server.py"), "print('hi')\n");
        fs::create_dir(src.path().join("copy")).expect("mkdir");
        // Reached through `..`, so only the canonical paths show that it is the same folder.
        let dst = src.path().join("copy/../copy");
        copy_tree(src.path(), &dst).expect("copies");
        assert!(dst.join("server.py").is_file());
        assert!(!dst.join("copy").exists(), "the copy holds itself");
    }

    #[test]
    fn measure_counts_only_what_is_copied() {
        let src = tempfile::tempdir().expect("temp dir");
        write(&src.path().join("a.py"), "12345");
        write(&src.path().join("sub/b.py"), "123");
        write(&src.path().join("node_modules/big.js"), "not counted");
        write(&src.path().join("sockcheck-iut-x/a.py"), "not counted");
        assert_eq!(measure(src.path()).expect("measures"), 8);
        assert!(check(src.path()).is_ok());
    }

    #[test]
    fn a_folder_over_the_limit_is_refused_naming_its_size() {
        let src = tempfile::tempdir().expect("temp dir");
        // Sparse: its length counts, not the disk it takes.
        let big = fs::File::create(src.path().join("video.mp4")).expect("create");
        big.set_len(MAX_BYTES + (1 << 20)).expect("set_len");
        let message = check(src.path()).expect_err("refused");
        assert!(
            message.contains("65.0 MiB") && message.contains("64 MiB"),
            "{message}"
        );
        assert!(
            message.contains(&src.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains(".git, __pycache__"), "{message}");
    }
}
