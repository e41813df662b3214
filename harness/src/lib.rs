//! sockcheck: checks implementations of the classic socket programs (any language) by
//! playing their peer over real sockets and through their stdin/stdout, against fixtures
//! recorded from the bundled reference implementation.
//!
//! The modules, their layers and what each may import: the README's *Architecture*
//! (one codemap, there), enforced by `tests/layers.rs`.

pub mod batch;
pub mod catalog;
pub mod cgroup;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod explain;
pub mod fixture;
pub mod framing;
pub mod fuzz;
pub mod grade;
pub mod hints;
pub mod init;
pub mod interrupt;
pub mod iut;
pub mod manifest;
pub mod observation;
pub mod payload;
pub mod poll;
pub mod report;
pub mod sandbox;
pub mod script;
pub mod session;
pub mod stdout;
pub mod steps;
pub mod syntax;
pub mod tolerance;
pub mod trace;
pub mod variant;
pub mod workdir;
