//! The steps run, one module per family: [`process`], [`tcp`], [`frame`], [`udp`] and
//! [`quiet`], each executing its steps (as [`crate::syntax`] parses them) against the
//! [`context::Ctx`] this module defines. This is the families' registry on the run side,
//! the one place outside them that names them: it dispatches each step to its family, and
//! asks every family, through [`Family`], what the engine and the silence window need to
//! know of a case (the transport it needs, what the program sent that no step took, what
//! breaks a silence and what a silence must wake for).

pub mod context;
pub mod frame;
pub mod process;
pub mod quiet;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod tests;

use crate::hints::Symptom;
use crate::observation::Observation;
use crate::sandbox::Transport;
use crate::session::{Interest, Session};
use crate::syntax::Step;
use context::{Ctx, Failure, StepEnd};

/// What the engine and the silence window ask of every family while a case runs. Each
/// answer defaults to "nothing": a family answers only what it has. There is no teardown
/// hook: the session owns every socket and process, and closes them when it drops.
pub(crate) trait Family: Sync {
    /// The transport a case needs, if one of its steps decides it (TCP otherwise).
    fn transport(&self, _steps: &[Step]) -> Option<Transport> {
        None
    }

    /// At the end of a case: the first thing the program sent that no step took, as a
    /// failure that names it.
    fn unread(&self, _ctx: &mut Ctx) -> Option<Failure> {
        None
    }

    /// When a case fails: what the program sent meanwhile that no step took, as a clause
    /// (`it sent datagrams no step expected: …`) the failure's message adds.
    fn unexpected_meanwhile(&self, _ctx: &mut Ctx) -> Option<String> {
        None
    }

    /// During a silence window: what arrived that breaks it, named, and how.
    fn breaks_silence(&self, _ctx: &mut Ctx) -> Option<(String, Symptom)> {
        None
    }

    /// What a silence window must wake for.
    fn interest(&self, _session: &Session) -> Vec<Interest> {
        Vec::new()
    }
}

/// Every family, in the order their answers are asked for: what came on the wire (bytes
/// and ends of connections, then datagrams) before what the process did (its exit, its
/// printing). A new family adds its line here and its arm in [`run`].
pub(crate) const FAMILIES: &[&dyn Family] = &[
    &tcp::Hooks,
    &frame::Hooks,
    &udp::Hooks,
    &process::Hooks,
    &quiet::Hooks,
];

/// Plays a step; `expected` is the fixture's value when checking an observation.
pub(crate) fn run(step: &Step, ctx: &mut Ctx, expected: Option<&Observation>) -> StepEnd {
    match step {
        Step::Process(s) => s.run(ctx, expected),
        Step::Tcp(s) => s.run(ctx, expected),
        Step::Frame(s) => s.run(ctx, expected),
        Step::Udp(s) => s.run(ctx, expected),
        Step::Quiet(s) => s.run(ctx),
    }
}

/// The transport a case's program talks over, for the isolation to keep clear.
pub fn transport(steps: &[Step]) -> Transport {
    FAMILIES
        .iter()
        .find_map(|family| family.transport(steps))
        .unwrap_or(Transport::Tcp)
}

/// At the end of a case: the first thing the program sent that no step took.
pub(crate) fn unread(ctx: &mut Ctx) -> Option<Failure> {
    FAMILIES.iter().find_map(|family| family.unread(ctx))
}

/// When a case fails: what the program sent meanwhile that no step took.
pub(crate) fn unexpected_meanwhile(ctx: &mut Ctx) -> Option<String> {
    FAMILIES
        .iter()
        .find_map(|family| family.unexpected_meanwhile(ctx))
}
