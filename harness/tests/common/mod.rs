//! Shared by the integration tests: the checkout's catalogue and the reference command.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use sockcheck::catalog::Catalog;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The suites and fixtures as they are in the checkout (not as embedded at build time).
/// Also points the library at the `sockcheck` binary, whose `__init` every case runs.
pub fn catalog() -> Catalog {
    sockcheck::iut::set_init_program(sockcheck_exe());
    let root = root();
    Catalog::from_dirs(&root.join("suites"), &root.join("fixtures")).expect("the suites parse")
}

/// The sockcheck binary built for these tests, which carries the reference implementation.
pub fn sockcheck_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sockcheck"))
}

/// The processes whose command line or environment holds `marker`, as `pid: cmdline`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == std::process::id().to_string() {
            continue;
        }
        let read = |file: &str| {
            std::fs::read(entry.path().join(file))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default()
        };
        let cmdline = read("cmdline");
        if cmdline.contains("cargo") || cmdline.contains("nextest") {
            continue;
        }
        if holds(&cmdline, marker) || holds(&read("environ"), marker) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

/// Whether `text` holds `marker` as a whole: not as the start of a longer one, as
/// `sockcheck-sample-57` starts `sockcheck-sample-5766`, another test's.
fn holds(text: &str, marker: &str) -> bool {
    text.match_indices(marker).any(|(at, _)| {
        !text[at + marker.len()..]
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// Waits until `check` holds, at most `within`; whether it did.
pub fn eventually(within: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        // Polling /proc: there is no event to wait on for another process's children.
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(100));
    }
}

/// Makes `python3` the cheapest-starting Python 3 of this machine for the corpus, which
/// starts thousands of programs: the system's `/usr/bin/python3` where there is one
/// (Debian builds it with PGO and LTO: it starts a program with the samples' imports in
/// about 60% of the CPU a default pyenv build takes), else the interpreter the `python3` on
/// `PATH` runs, without its launcher (a pyenv shim is a bash script that costs about 90 ms
/// of CPU at every start, which made the corpus four times as costly). The verdicts do not
/// depend on which Python 3 runs them. Once per test process.
pub fn cheapest_python() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let system = Path::new("/usr/bin/python3");
        let dir = if system.is_file() {
            PathBuf::from("/usr/bin")
        } else {
            let Ok(out) = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
            else {
                return;
            };
            let executable = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            match executable.parent().filter(|d| d.is_dir()) {
                Some(dir) => dir.to_path_buf(),
                None => return,
            }
        };
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        let first_python = dirs.iter().find(|d| d.join("python3").is_file());
        if first_python.is_some_and(|d| *d != dir) {
            dirs.insert(0, dir);
            let joined = std::env::join_paths(dirs).expect("PATH entries join");
            std::env::set_var("PATH", joined);
        }
    });
}
