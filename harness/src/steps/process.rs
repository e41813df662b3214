//! Process steps run: `spawn` starts the implementation under the case's init, `stdin`
//! writes a line to its input, `stdin-close` ends it, `stdout` matches the next printed
//! line that carries data, `exit` waits for its status. Their syntax is in
//! [`crate::syntax::process`].

use super::context::{Ctx, Failure, StepEnd};
use crate::hints::Symptom;
use crate::observation::{ExitStatus, Observation};
use crate::payload;
use crate::session::{Segmentation, Target, WriteError};
use crate::syntax::process::{expand_words, Step};

impl Step {
    pub(crate) fn run(&self, ctx: &mut Ctx, expected: Option<&Observation>) -> StepEnd {
        match self {
            Step::Spawn => spawn(ctx),
            Step::Stdin(line) => match expand_words(line, &ctx.program.words) {
                Ok(line) => stdin(ctx, &line),
                Err(e) => StepEnd::Fail(Failure::harness(e)),
            },
            Step::StdinClose => {
                if let Some(iut) = &mut ctx.session.iut {
                    iut.close_stdin();
                }
                ctx.session.peer_closed("stdin", "closed");
                StepEnd::Ok(None)
            }
            Step::Stdout => match expected {
                Some(Observation::Line(want)) => stdout_checked(ctx, want),
                _ => stdout_recorded(ctx),
            },
            Step::Exit { nonzero } => exit(ctx, expected, *nonzero),
        }
    }
}

fn spawn(ctx: &mut Ctx) -> StepEnd {
    let printed = ctx.new_printed();
    match ctx.session.spawn(ctx.spec, printed) {
        Ok(()) => StepEnd::Ok(None),
        Err(e) => StepEnd::Fail(Failure::harness(format!(
            "cannot start `{}`: {e}",
            ctx.spec.command
        ))),
    }
}

fn stdin(ctx: &mut Ctx, line: &[u8]) -> StepEnd {
    let mut data = line.to_vec();
    data.push(b'\n');
    ctx.stdin_used = true;
    ctx.stdin_after_peer_end |= !ctx.peer_ends.is_empty();
    let deadline = ctx.timing.observe;
    match ctx
        .session
        .write(&Target::Stdin, &data, Segmentation::Whole, deadline)
    {
        Ok(()) => StepEnd::Ok(None),
        // A program that has ended (a client that saw the server's close and stopped) does
        // not read its input: the line is lost, and the observations that follow judge
        // what it did. One still running that shut its input is another matter.
        Err(WriteError::Gone(_)) if ctx.exits_soon() => StepEnd::Ok(None),
        Err(WriteError::Gone(e)) => StepEnd::Fail(Failure::new(
            Symptom::Other,
            None,
            format!(
                "cannot write to its stdin ({e}); the program {}",
                ctx.exit_phrase()
            ),
        )),
        Err(WriteError::Full) => StepEnd::Fail(Failure::new(
            Symptom::Other,
            None,
            "its stdin is full: the program does not read its input".into(),
        )),
    }
}

/// Waits for the fixture's next line among whatever the program prints.
fn stdout_checked(ctx: &mut Ctx, want: &str) -> StepEnd {
    let ordinal = ctx.stdout_done;
    let deadline = ctx.deadline();
    let found = ctx.session.wait_for(deadline, &|_| Vec::new(), |s| {
        let out = &s.iut.as_ref()?.out;
        match out.matched(ordinal) {
            Some(_) => Some(true),
            None => out.eof.then_some(false),
        }
    });
    if found == Some(true) {
        ctx.stdout_done += 1;
        // The line carries the fixture's data (`b'HELLO'` for `HELLO`, with a label of its
        // own): the transcript shows the fixture's line, so a diff marks only what differs.
        return StepEnd::Ok(Some(Observation::Line(want.to_string())));
    }
    let closed = found.is_some();
    let instead = ctx
        .session
        .iut
        .as_ref()
        .map(|i| i.out.printed_instead())
        .unwrap_or_default();
    let how = if closed {
        "before its stdout closed".to_string()
    } else {
        format!("within {}s", ctx.timing.observe.as_secs())
    };
    let mut message = format!(
        "expected the line {} {how}; printed instead: {}",
        payload::render_line(want),
        if instead.is_empty() {
            "nothing".to_string()
        } else {
            instead.join(", ")
        }
    );
    let observed = instead.first().cloned().unwrap_or_else(|| "nothing".into());
    let mut symptom = Symptom::LineMissing {
        exited: ctx.session.exited(),
    };
    if ctx.printed_once_closed(ordinal) {
        symptom = Symptom::PrintedOnlyAtExit;
        message.push_str("; it was printed only when the program exited");
    }
    StepEnd::Fail(Failure::new(symptom, Some(observed), message))
}

/// Recording: takes the next non-empty printed line.
fn stdout_recorded(ctx: &mut Ctx) -> StepEnd {
    let deadline = ctx.deadline();
    let found = ctx.session.wait_for(deadline, &|_| Vec::new(), |s| {
        let out = &mut s.iut.as_mut()?.out;
        match out.take_recorded() {
            Some(line) => Some(Some(line)),
            None => out.eof.then_some(None),
        }
    });
    match found {
        Some(Some(line)) => StepEnd::Ok(Some(Observation::Line(line))),
        _ => StepEnd::Fail(Failure::new(
            Symptom::Other,
            Some("nothing".into()),
            "recording: nothing was printed".into(),
        )),
    }
}

fn exit(ctx: &mut Ctx, expected: Option<&Observation>, nonzero: bool) -> StepEnd {
    let deadline = ctx.deadline();
    let cpu = ctx.watch_cpu();
    ctx.session
        .wait_for(deadline, &|_| Vec::new(), |s| s.exited().then_some(()));
    let Some(observed) = ctx.exit_status() else {
        let want = match expected {
            _ if nonzero => " with a non-zero status".to_string(),
            Some(Observation::Exit(w)) => format!(" with status {w}"),
            _ => String::new(),
        };
        return StepEnd::Fail(Failure::new(
            Symptom::StillRunning {
                spinning: cpu.spinning(ctx),
            },
            Some("running".into()),
            format!(
                "expected it to exit{want}, it was still running after {}s",
                ctx.timing.observe.as_secs()
            ),
        ));
    };
    let failed = |s: ExitStatus| matches!(s, ExitStatus::Code(c) if c != 0);
    let want = match expected {
        None => return StepEnd::Ok(Some(Observation::Exit(observed))),
        Some(Observation::Exit(w)) if *w == observed || (nonzero && failed(observed)) => {
            return StepEnd::Ok(Some(Observation::Exit(observed)))
        }
        Some(Observation::Exit(w)) => *w,
        Some(other) => {
            return StepEnd::Fail(Failure::harness(format!(
                "the fixture's `{other}` is not an exit status"
            )))
        }
    };
    let last_exception = ctx.last_exception();
    let stdin_closed = ctx.session.iut.as_ref().is_some_and(|i| i.stdin_closed());
    let excuse = ctx.program.tolerances.iter().find_map(|t| {
        t.excuse(&crate::tolerance::ExitEvidence {
            expected: want,
            observed,
            stdin_closed,
            last_exception: last_exception.as_deref(),
        })
    });
    if let Some((why, hint)) = excuse {
        return StepEnd::NonStrict {
            observed: Observation::Exit(observed),
            why,
            hint,
        };
    }
    let died_of = last_exception
        .map(|e| format!(" (it died of {e})"))
        .unwrap_or_default();
    StepEnd::Fail(Failure::new(
        Symptom::WrongExit {
            errored: want == ExitStatus::Code(0) && observed != want,
        },
        Some(observed.to_string()),
        if nonzero {
            format!("expected a non-zero exit status (an error), got {observed}{died_of}")
        } else {
            format!("expected exit status {want}, got {observed}{died_of}")
        },
    ))
}

/// The family's answers to the engine: a silence is broken by the program's exit, or by
/// the next line the fixture expects on stdout (other printing is fine).
pub(crate) struct Hooks;

impl super::Family for Hooks {
    fn breaks_silence(&self, ctx: &mut Ctx) -> Option<(String, Symptom)> {
        if ctx.session.exited() {
            // It died where it should have waited (for input, for a datagram).
            return Some((format!("exit {}", ctx.status_word()), Symptom::Died));
        }
        let out = &ctx.session.iut.as_ref()?.out;
        let line = out.matched(ctx.stdout_done)?;
        Some((
            format!("stdout {}", payload::render_line(line)),
            Symptom::Other,
        ))
    }
}
