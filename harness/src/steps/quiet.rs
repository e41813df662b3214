//! The silence window run: for the declared time nothing may happen: nothing any family
//! says breaks a silence (a byte on a connection, an end of one no step has seen yet, a
//! datagram), no exit, and not the next line the fixture expects on stdout (other
//! printing is allowed, and when recording, lines printed before the window that no step
//! took are not data). It is the only deliberate wait of a passing run. Its syntax is in
//! [`crate::syntax::quiet`].

use super::context::{Ctx, Failure, StepEnd};
use super::FAMILIES;
use crate::hints::Symptom;
use crate::observation::Observation;
use crate::syntax::quiet::Step;
use std::time::{Duration, Instant};

/// How much longer a window waits for a program that is runnable as it ends (a spinning
/// one always is), and how often it looks.
const SETTLE_AT_MOST: Duration = Duration::from_secs(1);
const SETTLE_POLL: Duration = Duration::from_millis(5);

impl Step {
    pub(crate) fn run(&self, ctx: &mut Ctx) -> StepEnd {
        let until = Instant::now() + self.0;
        loop {
            for family in FAMILIES {
                if let Some((what, symptom)) = family.breaks_silence(ctx) {
                    return broken(what, symptom);
                }
            }
            let now = Instant::now();
            // A program woken during the window but not yet run (a loaded machine) has
            // not had its chance to break the silence: the window waits for it to settle,
            // at most SETTLE_AT_MOST more. Polled: no event says a process went to sleep.
            let settling = now >= until && now < until + SETTLE_AT_MOST && ctx.program_runnable();
            if now >= until && !settling {
                if ctx.recording {
                    // What the reference printed before a silence window and no `stdout`
                    // step took (a notice, a prompt line) is not data: it must not become
                    // the expected value of the next `stdout` step.
                    if let Some(iut) = &mut ctx.session.iut {
                        while iut.out.take_recorded().is_some() {}
                    }
                }
                return StepEnd::Ok(Some(Observation::Nothing));
            }
            let fds: Vec<_> = FAMILIES
                .iter()
                .flat_map(|family| family.interest(&ctx.session))
                .collect();
            let wait = match settling {
                true => SETTLE_POLL,
                false => until - now,
            };
            ctx.session.pump(wait, &fds);
        }
    }
}

fn broken(what: String, symptom: Symptom) -> StepEnd {
    StepEnd::Fail(Failure::new(
        symptom,
        Some(what.clone()),
        format!("expected nothing during the silence window, got {what}"),
    ))
}

/// The family's answers to the engine: none beyond its steps.
pub(crate) struct Hooks;

impl super::Family for Hooks {}
