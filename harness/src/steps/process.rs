//! Process steps: the implementation as a process. `spawn` starts it, `stdin "line"` writes
//! a line (and its newline) to its input, `stdin-close` ends its input, `stdout` observes
//! the next line it prints that carries data, `exit` observes its exit status.
//!
//! ```text
//! stdin "hello"
//! stdout => "helloSB"          the printed line, prompts and colour codes stripped
//! exit => 0
//! exit nonzero => 1            any failure status: "a non-zero exit"
//! ```

use super::context::{Ctx, Failure, StepEnd};
use super::{no_args, Setup};
use crate::hints::Symptom;
use crate::observation::{ExitStatus, Kind, Observation};
use crate::payload;
use crate::script::Role;
use crate::session::{Segmentation, Target, WriteError};
use std::fmt;

pub const WORDS: &[&str] = &["spawn", "stdin", "stdin-close", "stdout", "exit"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Spawn,
    Stdin(Vec<u8>),
    StdinClose,
    Stdout,
    /// `exit`: the fixture's status exactly; `exit nonzero`: any failure status (SPEC.md
    /// asks for "a non-zero exit", not a particular code).
    Exit {
        nonzero: bool,
    },
}

pub fn parse(word: &str, rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
    Some(match word {
        "spawn" => no_args(word, args, Step::Spawn),
        "stdin-close" => no_args(word, args, Step::StdinClose),
        "stdout" => no_args(word, args, Step::Stdout),
        "exit" => match args {
            [] => Ok(Step::Exit { nonzero: false }),
            ["nonzero"] => Ok(Step::Exit { nonzero: true }),
            _ => Err("`exit` takes nothing, or `nonzero`".into()),
        },
        "stdin" => parse_stdin(rest),
        _ => return None,
    })
}

fn parse_stdin(rest: &str) -> Result<Step, String> {
    let (line, after) = payload::parse_expression(rest).map_err(|e| e.to_string())?;
    if !after.trim().is_empty() {
        return Err(format!("unexpected `{}` after the line", after.trim()));
    }
    if line.contains(&b'\n') {
        return Err("a stdin line cannot contain a newline (one `stdin` step per line)".into());
    }
    Ok(Step::Stdin(line))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Spawn => write!(f, "spawn"),
            Step::Stdin(line) => write!(f, "stdin {}", payload::render(line)),
            Step::StdinClose => write!(f, "stdin-close"),
            Step::Stdout => write!(f, "stdout"),
            Step::Exit { nonzero: false } => write!(f, "exit"),
            Step::Exit { nonzero: true } => write!(f, "exit nonzero"),
        }
    }
}

impl Step {
    pub fn observes(&self) -> Option<Kind> {
        match self {
            Step::Stdout => Some(Kind::Line),
            Step::Exit { .. } => Some(Kind::Exit),
            _ => None,
        }
    }

    pub fn check(&self, role: Role, setup: &mut Setup) -> Result<(), String> {
        match self {
            Step::Spawn if setup.spawned => Err("the implementation is spawned only once".into()),
            Step::Spawn if role == Role::Client && !setup.listening && !setup.datagrams => {
                Err("as the server, the peer must `listen` before it spawns the client".into())
            }
            Step::Spawn => {
                setup.spawned = true;
                Ok(())
            }
            Step::Stdin(_) | Step::StdinClose if setup.stdin_closed => {
                Err("stdin is already closed".into())
            }
            Step::Stdin(_) | Step::StdinClose if !setup.spawned => {
                Err("spawn the implementation before writing to its stdin".into())
            }
            Step::StdinClose => {
                setup.stdin_closed = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

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

/// A stdin line with each `${name}` replaced by the program's word of that name (the
/// transcript keeps the name, so a fixture holds for every course's words).
pub fn expand_words(
    line: &[u8],
    words: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.windows(2).position(|w| w == b"${") {
        out.extend_from_slice(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .iter()
            .position(|&b| b == b'}')
            .ok_or("`${` without its `}` in a stdin line")?;
        let name = String::from_utf8_lossy(&after[..end]);
        let word = words.get(name.as_ref()).ok_or_else(|| {
            format!("`${{{name}}}` names no word of the program (program.toml's [words])")
        })?;
        out.extend_from_slice(word.as_bytes());
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest);
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_expanded_by_name_and_unknown_ones_named() {
        let words = [("quit", "q"), ("contact", "taibai")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(expand_words(b"${contact}", &words).unwrap(), b"taibai");
        assert_eq!(
            expand_words(b"say ${quit}!${quit}", &words).unwrap(),
            b"say q!q"
        );
        assert_eq!(
            expand_words(b"no words, $ and {}", &words).unwrap(),
            b"no words, $ and {}"
        );
        let unknown = expand_words(b"${nobody}", &words).unwrap_err();
        assert!(unknown.contains("`${nobody}`"), "{unknown}");
        assert!(expand_words(b"${quit", &words).is_err());
    }
}
