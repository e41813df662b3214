//! Runs one case against one implementation: plays the peer step by step, records the
//! transcript, and (checking) compares every observation with the fixture's value the
//! moment it can: complete when what arrived equals the expected event, failed as soon as
//! it diverges, failed at the deadline when nothing comes. Recording (no fixture yet) waits
//! for the implementation to go quiet instead.
//!
//! The step loop knows no family of steps: each step runs itself against a [`Ctx`] (the
//! session, the deadlines, what the run has done so far). After the last step, bytes the
//! program sent that no step read fail the case.

use crate::fixture::{self, Fixture};
use crate::hints::{self, Evidence, Hint, Symptom};
use crate::iut::{describe_status, IutSpec};
use crate::observation::{ExitStatus, Observation};
use crate::sandbox;
use crate::script::Case;
use crate::session::PeerEnd;
use crate::session::Session;
use crate::stdout::Printed;
use crate::steps::{self, Step};
use crate::tolerance::Tolerance;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The verdict of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    NonStrict,
    Skipped,
    Fail,
    Error,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::NonStrict => "non-strict",
            Verdict::Skipped => "skipped",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

/// Check against a fixture, or record a new one (reference implementation only).
#[derive(Debug, Clone)]
pub enum Mode {
    Check(Fixture),
    Record,
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
    /// The literals a course may change, by name (udp-chat's contacts and quit word):
    /// cases write `stdin "${quit}"`, and the bundled reference is given them.
    pub words: std::collections::BTreeMap<String, String>,
}

/// Everything a run found out.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub transcript: Vec<String>,
    /// One line: what went wrong, or why it is non-strict.
    pub message: Option<String>,
    pub hint: Option<Hint>,
    /// The last lines the implementation wrote to stderr (each an excerpt).
    pub stderr_tail: String,
    /// The last events of the run's trace, as wire-log lines.
    pub wire_log: Vec<String>,
    /// Each step as it ran, with its time and a short view of what it observed (for
    /// `sockcheck demo`): `  0.004s  read c1 1024 => "1\n2" … "\n3" (1024 bytes)`.
    pub timeline: Vec<String>,
    pub duration: Duration,
    /// How many waits ran into their deadline: none in a passing run.
    pub deadlines: u32,
    /// Remarks about how the run was made (isolation, output).
    pub notes: Vec<String>,
    /// How long the case waited for its address's lock (the shared network), which its
    /// duration does not count.
    pub waited: Duration,
}

impl Outcome {
    /// An outcome with no transcript yet.
    pub fn new(verdict: Verdict, message: Option<String>) -> Outcome {
        Outcome {
            verdict,
            transcript: Vec::new(),
            message,
            hint: None,
            stderr_tail: String::new(),
            wire_log: Vec::new(),
            timeline: Vec::new(),
            duration: Duration::ZERO,
            deadlines: 0,
            notes: Vec::new(),
            waited: Duration::ZERO,
        }
    }

    /// The check itself could not run.
    pub fn error(message: String) -> Outcome {
        Outcome::new(Verdict::Error, Some(message))
    }
}

/// Runs a case in a thread of its own (which enters the case's namespaces) and waits for it.
pub fn run(
    case: &Case,
    program: &ProgramInfo,
    spec: &IutSpec,
    mode: &Mode,
    timing: &Timing,
) -> Outcome {
    let started = Instant::now();
    let (case, program, spec, mode, timing) = (
        case.clone(),
        program.clone(),
        spec.clone(),
        mode.clone(),
        timing.clone(),
    );
    let joined = std::thread::Builder::new()
        .name(format!("case {}/{}", case.program, case.name))
        .spawn(move || run_here(&case, &program, &spec, &mode, &timing))
        .map_err(|e| format!("cannot start the case's thread: {e}"))
        .and_then(|handle| {
            handle.join().map_err(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("the harness panicked while running the case: {what}")
            })
        });
    let mut outcome = joined.unwrap_or_else(Outcome::error);
    // The case's own time: not the wait for another case's lock on the shared network.
    outcome.duration = started.elapsed().saturating_sub(outcome.waited);
    outcome
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

    /// Starts watching how much CPU the program burns (see [`CpuWatch::spinning`]).
    pub fn watch_cpu(&self) -> CpuWatch {
        CpuWatch {
            since: Instant::now(),
            cpu: self.session.iut.as_ref().and_then(|i| i.cpu_time()),
        }
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

    fn stderr_tail(&self) -> String {
        self.session
            .iut
            .as_ref()
            .map(|i| i.err.last_lines(20))
            .unwrap_or_default()
    }

    /// The evidence for a hint about a failure at `step`.
    fn diagnose(&self, step: &Step, symptom: &Symptom) -> Option<Hint> {
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
        })
    }
}

/// The program's CPU time at the start of a wait.
pub(crate) struct CpuWatch {
    since: Instant,
    cpu: Option<Duration>,
}

/// A program that used at least this share of the wall time was going round a loop; one
/// that waits in a blocking call uses none (not one 10 ms tick in a 5 s wait). Low,
/// because a loaded machine gives a spinning program only a small part of a core: with a
/// load of 14 on 2 cores, a looping remote shell got 16% of one.
const SPINNING_SHARE: f64 = 0.02;

impl CpuWatch {
    /// Whether the program burnt CPU since the watch started.
    pub fn spinning(&self, ctx: &Ctx) -> bool {
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

/// Runs the case in the calling thread, which enters the case's namespaces.
fn run_here(
    case: &Case,
    program: &ProgramInfo,
    spec: &IutSpec,
    mode: &Mode,
    timing: &Timing,
) -> Outcome {
    let mut outcome = Outcome::new(Verdict::Pass, None);
    let expectations: Vec<Option<Observation>> = match mode {
        Mode::Check(fixture) => match fixture.expectations(case) {
            Ok(e) => e,
            Err(stale) => {
                return Outcome::error(format!(
                    "the fixture does not belong to this case ({stale}): record it again"
                ))
            }
        },
        Mode::Record => vec![None; case.steps.len()],
    };
    let entering = Instant::now();
    let transport = steps::transport(&case.steps);
    let isolation = match sandbox::enter(program.addr, transport, spec.isolation) {
        Ok(iso) => iso,
        Err(e) => return Outcome::error(format!("cannot isolate the case: {e}")),
    };
    outcome.waited = entering.elapsed();
    outcome.notes.extend(isolation.note());
    let expected_lines = case
        .steps
        .iter()
        .zip(&expectations)
        .filter_map(|(_, e)| match e {
            Some(Observation::Line(l)) => Some(l.clone()),
            _ => None,
        })
        .collect();
    let mut ctx = Ctx {
        case,
        program,
        spec,
        timing,
        recording: matches!(mode, Mode::Record),
        session: Session {
            private: isolation.is_private(),
            ..Session::new(program.addr)
        },
        expected_lines,
        stdout_done: 0,
        stdin_used: false,
        stdin_after_peer_end: false,
        peer_ends: Vec::new(),
        opened: Vec::new(),
        private_network: isolation.is_private(),
    };
    let mut failed = None;
    let started = Instant::now();
    for (index, step) in case.steps.iter().enumerate() {
        let result = step.run(&mut ctx, expectations[index].as_ref());
        let seen = match &result {
            StepEnd::Ok(observed) => Some(observed.as_ref()),
            StepEnd::NonStrict { observed, .. } => Some(Some(observed)),
            StepEnd::Fail(_) => None,
        };
        if let Some(observed) = seen {
            outcome.timeline.push(format!(
                "{:>8.3}s  {step}{}",
                started.elapsed().as_secs_f64(),
                observed
                    .map(|o| format!("{}{}", fixture::ARROW, preview(o)))
                    .unwrap_or_default()
            ));
        }
        match result {
            StepEnd::Ok(observed) => outcome.transcript.push(fixture::line(
                step,
                observed.map(|o| o.to_string()).as_deref(),
            )),
            StepEnd::NonStrict {
                observed,
                why,
                hint,
            } => {
                outcome
                    .transcript
                    .push(fixture::line(step, Some(&observed.to_string())));
                outcome.verdict = outcome.verdict.max(Verdict::NonStrict);
                outcome.message = Some(why);
                outcome.hint = Some(hint);
            }
            StepEnd::Fail(failure) => {
                let value = match (&failure.observed, step.is_observation()) {
                    (Some(o), true) => o.clone(),
                    (Some(o), false) => format!("failed: {o}"),
                    (None, _) => "failed".to_string(),
                };
                outcome.transcript.push(fixture::line(step, Some(&value)));
                failed = Some((index, step, failure));
                break;
            }
        }
    }
    if failed.is_none() {
        // Every byte accounted for: what the program sent that no step read fails the case.
        if let Some(failure) = steps::unread(&mut ctx) {
            outcome.transcript.push(format!(
                "(end of case){}{}",
                fixture::ARROW,
                failure.observed.clone().unwrap_or_default()
            ));
            failed = Some((case.steps.len(), &case.steps[case.steps.len() - 1], failure));
        }
    }
    if let Some((index, step, failure)) = failed {
        // A hint the case declares for this step and this way of failing comes first: the
        // case knows what it is about (a short reply to a command flooding stderr).
        let died_of = ctx.last_exception();
        let declared = case
            .hints
            .iter()
            .find(|h| {
                h.step == index
                    && h.when.covers(&failure.symptom)
                    && h.hint.fits(&failure.symptom)
                    && h.of.as_ref().is_none_or(|of| died_of.as_ref() == Some(of))
            })
            .map(|h| h.hint);
        outcome.hint = declared.or_else(|| ctx.diagnose(step, &failure.symptom));
        outcome.verdict = failure.verdict;
        // Every byte accounted for, on the failing path too: datagrams no step took are
        // named (a server that floods its client fails its `exit`, and should hear why).
        let unexpected = match index < case.steps.len() {
            true => steps::pending_datagram(&mut ctx)
                .map(|(what, _)| format!("; meanwhile it sent datagrams no step expected: {what}"))
                .unwrap_or_default(),
            false => String::new(),
        };
        outcome.message = Some(if index < case.steps.len() {
            format!(
                "step {} `{step}`: {}{unexpected}",
                index + 1,
                failure.message
            )
        } else {
            format!("at the end of the case: {}", failure.message)
        });
    }
    ctx.session.teardown();
    outcome.stderr_tail = ctx.stderr_tail();
    outcome.deadlines = ctx.session.deadlines;
    outcome.wire_log = ctx.session.trace.last_lines(WIRE_LOG_LINES);
    if let Some(iut) = &ctx.session.iut {
        if iut.out.bytes > BIG_OUTPUT {
            outcome.notes.push(format!(
                "it printed {} lines ({} MiB) on stdout; the expected lines were looked for among all of them",
                iut.out.lines,
                iut.out.bytes >> 20
            ));
        }
    }
    drop(isolation);
    outcome
}

/// A short view of an observation for a timeline: the bytes' first and last few.
fn preview(observed: &Observation) -> String {
    match observed {
        Observation::Bytes(crate::payload::Expected::Exact(b)) => crate::payload::preview(b),
        Observation::Line(l) => crate::payload::preview(l.as_bytes()),
        other => other.to_string(),
    }
}

/// Events of the trace shown in a report.
const WIRE_LOG_LINES: usize = 24;
/// Output above this size is mentioned in the report's notes.
const BIG_OUTPUT: u64 = 1 << 20;
