//! Shared by the integration tests: the checkout's catalogue and the reference command.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use sockcheck::catalog::Catalog;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
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
