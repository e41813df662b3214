//! The steps of the case language, one module per family: [`process`] (spawn, stdin,
//! stdout, exit), [`tcp`] (listen, accept, connect, send, peek, read, read-end, shutdown,
//! close, reset), [`frame`] (read-frame: a frame of the framed protocols), [`udp`] (bind,
//! sendto, recvfrom, dropped: datagrams) and [`quiet`] (the silence window). Each family
//! keeps its parsing, its canonical text, its checks of order and its execution together.
//! This module is the families' registry, the one place outside them that names them: it
//! dispatches each step, and answers for all families what the engine, the parser and the
//! catalogue ask of a case (the transport it needs, what the program sent that no step
//! took, the words its stdin lines use).

pub mod context;
pub mod frame;
pub mod process;
pub mod quiet;
pub mod tcp;
pub mod udp;

use crate::observation::{Kind, Observation};
use crate::sandbox::Transport;
use crate::script::Role;
use context::{Ctx, Failure, StepEnd};
use std::fmt;

/// One step of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Process(process::Step),
    Tcp(tcp::Step),
    Quiet(quiet::Step),
    Frame(frame::Step),
    Udp(udp::Step),
}

/// Every step word, for the error that names an unknown one.
pub fn words() -> String {
    [
        process::WORDS,
        tcp::WORDS,
        frame::WORDS,
        udp::WORDS,
        quiet::WORDS,
    ]
    .concat()
    .join(", ")
}

impl Step {
    /// Parses a step from its word and the rest of its line.
    pub fn parse(word: &str, rest: &str) -> Result<Step, String> {
        let args: Vec<&str> = rest.split_whitespace().collect();
        let found = process::parse(word, rest, &args)
            .map(|r| r.map(Step::Process))
            .or_else(|| tcp::parse(word, rest, &args).map(|r| r.map(Step::Tcp)))
            .or_else(|| frame::parse(word, &args).map(|r| r.map(Step::Frame)))
            .or_else(|| udp::parse(word, rest, &args).map(|r| r.map(Step::Udp)))
            .or_else(|| quiet::parse(word, &args).map(|r| r.map(Step::Quiet)));
        found.unwrap_or_else(|| Err(format!("unknown step `{word}` (steps: {})", words())))
    }

    /// What the step observes (its fixture line records a value after `=>`), if anything.
    pub fn observes(&self) -> Option<Kind> {
        match self {
            Step::Process(s) => s.observes(),
            Step::Tcp(s) => s.observes(),
            Step::Quiet(_) => Some(Kind::Nothing),
            Step::Frame(s) => s.observes(),
            Step::Udp(s) => s.observes(),
        }
    }

    pub fn is_observation(&self) -> bool {
        self.observes().is_some()
    }

    /// The connection the step is about, if any.
    pub fn conn(&self) -> Option<&str> {
        match self {
            Step::Tcp(s) => s.conn(),
            Step::Frame(s) => Some(&s.conn),
            _ => None,
        }
    }

    /// Checks that the step can come at this point of its case.
    pub fn check(&self, role: Role, setup: &mut Setup) -> Result<(), String> {
        let result = match self {
            Step::Process(s) => s.check(role, setup),
            Step::Tcp(s) => s.check(role, setup),
            Step::Quiet(_) => Ok(()),
            Step::Frame(s) => s.check(setup),
            Step::Udp(s) => s.check(role, setup),
        };
        result?;
        if self.is_observation() && !setup.spawned {
            return Err("spawn the implementation before observing it".into());
        }
        Ok(())
    }

    /// Plays the step; `expected` is the fixture's value when checking an observation.
    pub(crate) fn run(&self, ctx: &mut Ctx, expected: Option<&Observation>) -> StepEnd {
        match self {
            Step::Process(s) => s.run(ctx, expected),
            Step::Tcp(s) => s.run(ctx, expected),
            Step::Quiet(s) => s.run(ctx),
            Step::Frame(s) => s.run(ctx, expected),
            Step::Udp(s) => s.run(ctx, expected),
        }
    }
}

/// The canonical text of a step: what the transcript shows left of `=>`.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Process(s) => s.fmt(f),
            Step::Tcp(s) => s.fmt(f),
            Step::Quiet(s) => s.fmt(f),
            Step::Frame(s) => s.fmt(f),
            Step::Udp(s) => s.fmt(f),
        }
    }
}

/// Whether a case whose steps begin with these words uses datagram sockets: its client
/// role then needs no `listen` (UDP programs may start in either order).
pub fn uses_datagrams<'a>(mut words: impl Iterator<Item = &'a str>) -> bool {
    words.any(|w| udp::WORDS.contains(&w))
}

/// The transport a case's program talks over, for the isolation to keep clear.
pub fn transport(steps: &[Step]) -> Transport {
    match steps.iter().any(|s| matches!(s, Step::Udp(_))) {
        true => Transport::Udp,
        false => Transport::Tcp,
    }
}

/// At the end of a case: the first thing the program sent that no step took (bytes on a
/// connection, then a datagram), as a failure that names it.
pub(crate) fn unread(ctx: &mut Ctx) -> Option<Failure> {
    let names: Vec<String> = ctx.session.conns.iter().map(|c| c.name.clone()).collect();
    names
        .iter()
        .find_map(|name| tcp::unread(ctx, name))
        .or_else(|| udp::unread(ctx))
}

/// A datagram waiting that no step took, named (`u1 "x" from …, and 2 more`), and its bytes.
pub(crate) fn pending_datagram(ctx: &mut Ctx) -> Option<(String, Vec<u8>)> {
    udp::pending(ctx)
}

impl Step {
    /// Checks that each `${word}` of a stdin line is one of the program's words.
    pub fn check_words(
        &self,
        words: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        match self {
            Step::Process(process::Step::Stdin(line)) => {
                process::expand_words(line, words).map(|_| ())
            }
            _ => Ok(()),
        }
    }
}

/// What the steps so far have set up, to reject cases that cannot run.
#[derive(Debug, Default)]
pub struct Setup {
    pub spawned: bool,
    pub listening: bool,
    pub stdin_closed: bool,
    /// Connections opened so far, and whether the peer closed them.
    pub conns: Vec<(String, bool)>,
    /// Datagram sockets bound so far.
    pub socks: Vec<String>,
    /// Datagram sockets a `recvfrom` took a datagram on (a client-role `sendto` answers it).
    pub heard: Vec<String>,
    /// The case uses datagram sockets (its client role needs no `listen`).
    pub datagrams: bool,
}

/// Splits off the first word of a line.
pub fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// A byte count in a step: a whole number from 1 to 64 MiB.
pub fn count(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| (1..=64 << 20).contains(n))
        .ok_or_else(|| format!("bad byte count `{s}` (a whole number from 1)"))
}

/// A step that takes no arguments.
pub fn no_args<T>(word: &str, args: &[&str], step: T) -> Result<T, String> {
    if args.is_empty() {
        Ok(step)
    } else {
        Err(format!("`{word}` takes no arguments"))
    }
}
