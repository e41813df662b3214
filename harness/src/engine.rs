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
use crate::hints::Hint;
use crate::iut::IutSpec;
use crate::observation::Observation;
use crate::sandbox;
use crate::script::Case;
use crate::session::Session;
use crate::steps;
use crate::steps::context::{Ctx, Failure, StepEnd};
pub use crate::steps::context::{ProgramInfo, Timing, Verdict};
use std::time::{Duration, Instant};

/// Check against a fixture, or record a new one (reference implementation only).
#[derive(Debug, Clone)]
pub enum Mode {
    Check(Fixture),
    Record,
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
    /// The run's trace as the peer saw it (the newest events, if there were very many),
    /// for the report's sequence diagram and `explain --verbose`.
    pub events: Vec<crate::trace::Entry>,
    /// Events older than the first of `events`, counted but not kept.
    pub events_dropped: usize,
    /// Where the run left the fixture: the failing step (its index in the transcript; the
    /// number of steps for the end of the case) and when, on the trace's clock.
    pub divergence: Option<(usize, Duration)>,
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
            events: Vec::new(),
            events_dropped: 0,
            divergence: None,
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

/// Runs the case in the calling thread, which enters the case's namespaces.
fn run_here(
    case: &Case,
    program: &ProgramInfo,
    spec: &IutSpec,
    mode: &Mode,
    timing: &Timing,
) -> Outcome {
    let expectations = match expectations_of(case, mode) {
        Ok(e) => e,
        Err(stale) => return Outcome::error(stale),
    };
    let mut outcome = Outcome::new(Verdict::Pass, None);
    let entering = Instant::now();
    let transport = steps::transport(&case.steps);
    let isolation = match sandbox::enter(program.addr, transport, spec.isolation) {
        Ok(iso) => iso,
        Err(e) => return Outcome::error(format!("cannot isolate the case: {e}")),
    };
    outcome.waited = entering.elapsed();
    outcome.notes.extend(isolation.note());
    let expected_lines = expectations
        .iter()
        .filter_map(|e| match e {
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
    let failed = play(&mut ctx, &expectations, &mut outcome).or_else(|| {
        // Every byte accounted for: what the program sent that no step read fails the case.
        let failure = steps::unread(&mut ctx)?;
        outcome.transcript.push(format!(
            "(end of case){}{}",
            fixture::ARROW,
            failure.observed.clone().unwrap_or_default()
        ));
        Some((case.steps.len(), failure))
    });
    if let Some((index, failure)) = failed {
        explain(&mut ctx, index, &failure, &mut outcome);
    }
    ctx.session.teardown();
    outcome.stderr_tail = ctx.stderr_tail();
    outcome.deadlines = ctx.session.deadlines;
    outcome.wire_log = ctx.session.trace.last_lines(WIRE_LOG_LINES);
    outcome.events = ctx.session.trace.entries().cloned().collect();
    outcome.events_dropped = ctx.session.trace.dropped;
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

/// What each step is expected to observe (the fixture's values when checking), or why a
/// fixture does not belong to the case.
fn expectations_of(case: &Case, mode: &Mode) -> Result<Vec<Option<Observation>>, String> {
    match mode {
        Mode::Check(fixture) => fixture.expectations(case).map_err(|stale| {
            format!("the fixture does not belong to this case ({stale}): record it again")
        }),
        Mode::Record => Ok(vec![None; case.steps.len()]),
    }
}

/// Plays the steps in order, writing the transcript and the timeline, until one fails:
/// its index and how it failed.
fn play(
    ctx: &mut Ctx,
    expectations: &[Option<Observation>],
    outcome: &mut Outcome,
) -> Option<(usize, Failure)> {
    let started = Instant::now();
    for (index, step) in ctx.case.steps.iter().enumerate() {
        let result = steps::run(step, ctx, expectations[index].as_ref());
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
                return Some((index, failure));
            }
        }
    }
    None
}

/// The verdict, the hint and the message of a failure at step `index` (the number of
/// steps: at the end of the case).
fn explain(ctx: &mut Ctx, index: usize, failure: &Failure, outcome: &mut Outcome) {
    let case = ctx.case;
    let step = &case.steps[index.min(case.steps.len() - 1)];
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
    outcome.divergence = Some((index, ctx.session.trace.elapsed()));
    outcome.message = Some(if index < case.steps.len() {
        // Every byte accounted for, on the failing path too: what no step took is named
        // (a server that floods its client fails its `exit`, and should hear why).
        let unexpected = steps::unexpected_meanwhile(ctx)
            .map(|what| format!("; meanwhile {what}"))
            .unwrap_or_default();
        format!(
            "step {} `{step}`: {}{unexpected}",
            index + 1,
            failure.message
        )
    } else {
        format!("at the end of the case: {}", failure.message)
    });
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
