//! sockcheck: checks implementations of the classic socket programs (any language) by
//! playing their peer over real sockets and through their stdin/stdout, against fixtures
//! recorded from the bundled reference implementation.
//!
//! Codemap: `script` (the case file) and `steps` (the steps, one module per family) →
//! `engine` (runs a case: `session` for sockets and the process, `iut` for spawning and
//! killing, `stdout` for matching what it prints, `trace` for what happened, `sandbox` for
//! namespaces, `init` for the case's pid 1 (and `cgroup` for its cgroup on the shared network), `interrupt` for what an interrupt undoes) → `fixture` and `observation` (expected transcripts, typed) → `batch` (many
//! cases) → `report`. `catalog` finds suites and fixtures, `manifest` reads a submission's
//! `sockcheck.toml`, `hints` names known mistakes, `tolerance` what a contract lets pass.

pub mod batch;
pub mod catalog;
pub mod cgroup;
pub mod demo;
pub mod engine;
pub mod fixture;
pub mod framing;
pub mod hints;
pub mod init;
pub mod interrupt;
pub mod iut;
pub mod manifest;
pub mod observation;
pub mod payload;
pub mod report;
pub mod sandbox;
pub mod script;
pub mod session;
pub mod stdout;
pub mod steps;
pub mod tolerance;
pub mod trace;
pub mod workdir;
