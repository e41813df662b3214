//! What a step runs against: the context the step families define and the engine fills
//! ([`Ctx`]: the session, the deadlines, what the run has done so far), how a step ends
//! ([`StepEnd`], [`Failure`]), and what a run is told of its program ([`ProgramInfo`],
//! [`Timing`]). The engine imports this; nothing here imports the engine.

use crate::hints::{self, Evidence, Hint, Symptom};
use crate::iut::{describe_status, IutSpec};
use crate::observation::{ExitStatus, Observation};
use crate::script::Case;
use crate::session::{PeerEnd, Session};
use crate::stdout::Printed;
use crate::tolerance::Tolerance;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Step;

/// The verdict of one case, worst last (a batch's verdict is the greatest). Its word
/// (`non-strict`) is the variant's name in kebab case, derived once (strum) for the
/// report, the JSON and the corpus's expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Verdict {
    Pass,
    NonStrict,
    Skipped,
    Fail,
    Error,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        self.into()
    }
}

/// A verdict is written as its word everywhere.
impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

/// The deadlines of a run. Only failures wait for them; a passing run waits only for the
/// declared silence windows.
#[derive(Debug, Clone)]
pub struct Timing {
    /// How long a server may take to start listening.
    pub connect: Duration,
    /// How long an observation waits for its event.
    pub observe: Duration,
    /// Recording: a read is complete once nothing more arrived for this long.
    pub settle: Duration,
    /// Pause between the pieces of a `send ... split N`, so each is its own segment.
    pub pace: Duration,
    /// After a failed `stdout`, how long the peer waits for the program to exit once its
    /// input and connections are closed (to tell buffered output from missing output).
    pub grace: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            connect: Duration::from_secs(10),
            observe: Duration::from_secs(5),
            settle: Duration::from_millis(200),
            pace: Duration::from_millis(20),
            grace: Duration::from_secs(1),
        }
    }
}

/// What a program's suite says about it besides its cases.
#[derive(Debug, Clone)]
pub struct ProgramInfo {
    pub id: String,
    pub addr: SocketAddr,
    /// Prompts stripped from printed lines wherever they appear, besides those learned.
    pub prompts: Vec<String>,
    /// Texts the reference prints before the data of a line (sticky2's `1: `): labels, not
    /// data, so a program may print its own label there instead (`第一次 b'helloworld'`).
    pub labels: Vec<String>,
    /// Deviations its contract accepts as non-strict.
    pub tolerances: Vec<Tolerance>,
    /// What its server sends for each `b''` when it ignores the end of stream (echo's
    /// `SB`): bytes made of it after the peer's FIN get the `eof-loop` hint.
    pub eof_reply: Option<Vec<u8>>,
    /// The framing whose empty frames its server sends for each `b''` when it ignores the
    /// end of stream (`low` or `header`): bytes that are only such frames get `eof-loop`.
    pub eof_frames: Option<crate::framing::Format>,
    /// The names of framed-header's header keys: the tutorial's, or the course's `keys`.
    pub header_keys: sockref::frame::HeaderKeys,
    /// The literals a course may change, by name (udp-chat's contacts and quit word):
    /// cases write `stdin "${quit}"`, and the bundled reference is given them.
    pub words: std::collections::BTreeMap<String, String>,
}

/// How one step ended.
pub(crate) enum StepEnd {
    /// Done; the observed value, for observations.
    Ok(Option<Observation>),
    /// Observed something the fixture does not have, but which the contract tolerates.
    NonStrict {
        observed: Observation,
        why: String,
        hint: Hint,
    },
    Fail(Failure),
}

pub(crate) struct Failure {
    /// What the transcript shows after `=>` for the failed step.
    pub observed: Option<String>,
    pub message: String,
    /// Boxed: the evidence of a wrong frame holds three byte strings, and a `Failure` is
    /// the error of many a `Result`.
    pub symptom: Box<Symptom>,
    pub verdict: Verdict,
}

impl Failure {
    pub fn new(symptom: Symptom, observed: Option<String>, message: String) -> Failure {
        Failure {
            observed,
            message,
            symptom: Box::new(symptom),
            verdict: Verdict::Fail,
        }
    }

    /// The harness could not do its part: an error, not the program's failure.
    pub fn harness(message: String) -> Failure {
        Failure {
            observed: None,
            message,
            symptom: Box::new(Symptom::Other),
            verdict: Verdict::Error,
        }
    }
}

/// What a step runs against: the session and what the run has done so far.
pub(crate) struct Ctx<'a> {
    pub case: &'a Case,
    pub program: &'a ProgramInfo,
    pub spec: &'a IutSpec,
    pub timing: &'a Timing,
    pub recording: bool,
    pub session: Session,
    /// The fixture's printed lines, in order (checking).
    pub expected_lines: Vec<String>,
    /// `stdout` steps done so far.
    pub stdout_done: usize,
    /// A line was written to the program's stdin.
    pub stdin_used: bool,
    /// A line was written to its stdin after the peer had ended a connection: the program
    /// had its chance to read (and see the end) again.
    pub stdin_after_peer_end: bool,
    /// Connections the peer ended, and how, in order.
    pub peer_ends: Vec<(String, PeerEnd)>,
    /// Connections opened so far, in order.
    pub opened: Vec<String>,
    /// The case has a network namespace of its own (every listener there is the program's).
    pub private_network: bool,
}

impl Ctx<'_> {
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timing.observe
    }

    /// A fresh stdout matcher for the program, from the fixture's lines.
    pub fn new_printed(&self) -> Printed {
        if self.recording {
            Printed::recording(self.program.prompts.clone())
        } else {
            Printed::expecting(
                self.expected_lines.clone(),
                self.program.prompts.clone(),
                &self.program.labels,
            )
        }
    }

    pub fn peer_ended(&mut self, conn: &str, how: PeerEnd) {
        self.peer_ends.push((conn.to_string(), how));
    }

    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.session
            .iut
            .as_ref()
            .and_then(|i| i.status)
            .map(ExitStatus::from_std)
    }

    pub fn status_word(&self) -> String {
        self.session
            .iut
            .as_ref()
            .and_then(|i| i.status)
            .map(describe_status)
            .unwrap_or_else(|| "running".into())
    }

    pub fn exit_phrase(&self) -> String {
        match self.session.iut.as_ref().and_then(|i| i.status) {
            Some(s) => format!("exited with status {}", describe_status(s)),
            None => "is still running".into(),
        }
    }

    /// Starts watching how much CPU the program burns and how much it prints (see
    /// [`CpuWatch::spinning`]).
    pub fn watch_cpu(&self) -> CpuWatch {
        CpuWatch {
            since: Instant::now(),
            cpu: self.session.iut.as_ref().and_then(|i| i.cpu_time()),
            printed: self.printed_bytes(),
        }
    }

    fn printed_bytes(&self) -> u64 {
        self.session.iut.as_ref().map_or(0, |i| i.out.bytes)
    }

    /// Whether a process of the program is runnable now (see [`crate::iut::Iut::runnable`]).
    pub fn program_runnable(&self) -> bool {
        self.session.iut.as_ref().is_some_and(|i| i.runnable())
    }

    pub fn last_exception(&self) -> Option<String> {
        self.session
            .iut
            .as_ref()
            .and_then(|i| i.err.last_exception())
    }

    /// Whether the implementation exits within the grace period (a connection dropped
    /// unanswered is often the listener closing as the program ends).
    pub fn exits_soon(&mut self) -> bool {
        let until = Instant::now() + self.timing.grace;
        self.session
            .wait_until(until, &|_| Vec::new(), |s| s.exited().then_some(()))
            .is_some()
    }

    /// After a `stdout` step failed: closes the program's input and connections, lets it
    /// exit (within the grace period), and tells whether the expected line came then.
    pub fn printed_once_closed(&mut self, ordinal: usize) -> bool {
        if let Some(iut) = &mut self.session.iut {
            iut.close_stdin();
        }
        for conn in self.session.conns.drain(..) {
            conn.close();
        }
        let until = Instant::now() + self.timing.grace;
        self.session
            .wait_until(until, &|_| Vec::new(), |s| s.exited().then_some(()));
        self.session.teardown();
        self.session
            .iut
            .as_ref()
            .is_some_and(|i| i.out.matched(ordinal).is_some())
    }

    pub fn stderr_tail(&self) -> String {
        self.session
            .iut
            .as_ref()
            .map(|i| i.err.last_lines(20))
            .unwrap_or_default()
    }

    /// The evidence for a hint about a failure at `step`.
    pub fn diagnose(&self, step: &Step, symptom: &Symptom) -> Option<Hint> {
        let last_exception = self.last_exception();
        let (peer_ended, served_before) = match step.conn() {
            Some(c) => (
                self.peer_ends
                    .iter()
                    .rev()
                    .find(|(n, _)| n == c)
                    .map(|(_, h)| *h),
                self.opened
                    .iter()
                    .position(|o| o == c)
                    .unwrap_or(self.opened.len()),
            ),
            None => (self.peer_ends.last().map(|(_, h)| *h), self.opened.len()),
        };
        hints::diagnose(&Evidence {
            role: self.case.role,
            symptom,
            peer_ended,
            peer_reset_any: self.peer_ends.iter().any(|(_, h)| *h == PeerEnd::Reset),
            stdin_closed: self.session.iut.as_ref().is_some_and(|i| i.stdin_closed()),
            stdin_after_peer_end: self.stdin_after_peer_end,
            served_before,
            heard_from_program: self.session.trace.heard_from_program,
            exit_failed: self.exit_status().is_some_and(|s| s != ExitStatus::Code(0)),
            last_exception: last_exception.as_deref(),
            eof_reply: self.program.eof_reply.as_deref(),
            eof_frames: self.program.eof_frames,
            header_keys: &self.program.header_keys,
        })
    }
}

/// The program's CPU time at the start of a wait.
pub(crate) struct CpuWatch {
    since: Instant,
    cpu: Option<Duration>,
    /// Bytes the program had printed when the watch started.
    printed: u64,
}

/// A program that used at least this share of the wall time was going round a loop; one
/// that waits in a blocking call uses none (not one 10 ms tick in a 5 s wait). Low,
/// because a loaded machine gives a spinning program only a small part of a core: with a
/// load of 14 on 2 cores, a looping remote shell got 16% of one.
const SPINNING_SHARE: f64 = 0.02;

/// A program that printed this much while the peer waited for it was going round a loop
/// too (a prompt printed at every turn), whatever CPU share a loaded machine gave it: a
/// full pipe of it (64 KiB) has it blocked in write, using no CPU, until the peer drains.
const SPINNING_OUTPUT: u64 = 64 * 1024;

impl CpuWatch {
    /// Whether the program burnt CPU, or kept printing, since the watch started.
    pub fn spinning(&self, ctx: &Ctx) -> bool {
        if ctx.printed_bytes().saturating_sub(self.printed) >= SPINNING_OUTPUT {
            return true;
        }
        let now = ctx.session.iut.as_ref().and_then(|i| i.cpu_time());
        match (self.cpu, now) {
            (Some(before), Some(after)) => {
                let wall = self.since.elapsed().as_secs_f64();
                wall > 0.0 && (after.saturating_sub(before)).as_secs_f64() >= SPINNING_SHARE * wall
            }
            _ => false,
        }
    }
}
