//! The silence window: `quiet 300ms => nothing`. For the declared time nothing may happen:
//! no byte on any connection, no datagram, no end of a connection that no step has seen yet, no exit,
//! and not the next line the fixture expects on stdout (other printing is allowed, and
//! when recording, lines printed before the window that no step took are not data). It is
//! the only deliberate wait of a passing run.

use super::context::{Ctx, Failure, StepEnd};
use crate::hints::Symptom;
use crate::observation::Observation;
use crate::payload;
use crate::session::Interest;
use std::fmt;
use std::time::{Duration, Instant};

pub const WORDS: &[&str] = &["quiet"];

/// Longest silence window a case may declare.
const MAX_QUIET: Duration = Duration::from_secs(10);

/// How much longer a window waits for a program that is runnable as it ends (a spinning
/// one always is), and how often it looks.
const SETTLE_AT_MOST: Duration = Duration::from_secs(1);
const SETTLE_POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step(pub Duration);

pub fn parse(word: &str, args: &[&str]) -> Option<Result<Step, String>> {
    if word != "quiet" {
        return None;
    }
    Some(match args {
        [d] => duration(d).and_then(|d| {
            if d.is_zero() || d > MAX_QUIET {
                Err(format!(
                    "a silence window lasts from 1ms to {}s",
                    MAX_QUIET.as_secs()
                ))
            } else {
                Ok(Step(d))
            }
        }),
        _ => Err("`quiet` takes a duration: `quiet 300ms`".into()),
    })
}

fn duration(s: &str) -> Result<Duration, String> {
    let parsed = if let Some(ms) = s.strip_suffix("ms") {
        ms.parse().ok().map(Duration::from_millis)
    } else if let Some(secs) = s.strip_suffix('s') {
        secs.parse().ok().map(Duration::from_secs)
    } else {
        None
    };
    parsed.ok_or_else(|| format!("bad duration `{s}` (e.g. `300ms` or `2s`)"))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quiet {}ms", self.0.as_millis())
    }
}

impl Step {
    pub(crate) fn run(&self, ctx: &mut Ctx) -> StepEnd {
        let until = Instant::now() + self.0;
        let next_line = ctx.stdout_done;
        loop {
            let Ctx { session, .. } = ctx;
            let names: Vec<String> = session.conns.iter().map(|c| c.name.clone()).collect();
            for name in names {
                let Some(conn) = session.fill(&name, 1 << 16) else {
                    continue;
                };
                if !conn.received.is_empty() {
                    let what = format!("{} {}", conn.name, payload::render(&conn.received));
                    let bytes = std::mem::take(&mut conn.received);
                    return broken(
                        what,
                        Symptom::UnexpectedBytes {
                            got: bytes,
                            want: None,
                        },
                    );
                }
                if let (Some(end), false) = (conn.end, conn.end_observed) {
                    return broken(format!("{} {}", conn.name, end.word()), Symptom::Other);
                }
            }
            if let Some((what, data)) = super::pending_datagram(ctx) {
                return broken(
                    format!("the datagram {what}"),
                    Symptom::UnexpectedBytes {
                        got: data,
                        want: None,
                    },
                );
            }
            if ctx.session.exited() {
                // It died where it should have waited (for input, for a datagram).
                return broken(format!("exit {}", ctx.status_word()), Symptom::Died);
            }
            // Checking: the next expected line must not come yet (other printing is fine).
            if let Some(out) = ctx.session.iut.as_ref().map(|i| &i.out) {
                if let Some(line) = out.matched(next_line) {
                    return broken(
                        format!("stdout {}", payload::render_line(line)),
                        Symptom::Other,
                    );
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
            let mut fds: Vec<Interest> = ctx
                .session
                .conns
                .iter()
                // An ended connection is always readable: waiting on it would spin.
                .filter(|c| c.end.is_none())
                .map(|c| Interest::Readable(c.fd()))
                .collect();
            fds.extend(ctx.session.datagram_interest());
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
