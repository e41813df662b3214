//! Embeds `suites/` and the fixtures of `fixtures/` (not the student corpus) into the
//! binary, so an installed `sockcheck` needs no checkout. Cargo re-runs this when anything
//! under those folders changes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut out = String::new();
    for (name, dir, ext) in [
        ("SUITE_FILES", "suites", None),
        ("FIXTURE_FILES", "fixtures", Some("snap")),
    ] {
        let base = root.join(dir);
        println!("cargo:rerun-if-changed={}", base.display());
        let mut files = Vec::new();
        collect(&base, &base, ext, &mut files);
        files.sort();
        writeln!(out, "pub static {name}: &[(&str, &str)] = &[").unwrap();
        for (rel, abs) in files {
            writeln!(
                out,
                "    ({rel:?}, include_str!({:?})),",
                abs.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    std::fs::write(dest, out).expect("write embedded.rs");
}

/// Files two levels down (`<program>/<file>`), skipping the student corpus. The coverage
/// tables (`COVERAGE.md`) come along: `sockcheck variant init` writes them into a course's
/// folder beside its cases.
fn collect(base: &Path, dir: &Path, ext: Option<&str>, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if path.is_dir() {
            if dir == base && rel != "students" {
                collect(base, &path, ext, files);
            }
        } else if dir != base && ext.is_none_or(|e| path.extension().is_some_and(|x| x == e)) {
            let canonical = path.canonicalize().unwrap_or(path);
            files.push((rel, canonical));
        }
    }
}
