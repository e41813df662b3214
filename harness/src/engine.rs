//! Runs one case against one implementation: plays the peer step by step, records the
//! transcript, and (checking) compares every observation with the fixture the moment it
//! can: complete when what arrived equals the expected event, failed as soon as it
//! diverges, failed at the deadline when nothing comes. Recording (no fixture yet) waits
//! for the implementation to go quiet instead.

use crate::fixture::{self, Fixture};
use crate::hints::{self, Evidence, Hint, Symptom};
use crate::iut::{describe_status, IutSpec};
use crate::payload::{self, Expected};
use crate::sandbox;
use crate::script::{Case, Step};
use crate::session::{ConnectError, Interest, Session};
use crate::stdout;
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
    /// Prompts stripped from printed lines wherever they appear.
    pub prompts: Vec<String>,
}

/// Everything a run found out.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub transcript: Vec<String>,
    /// One line: what went wrong, or why it is non-strict.
    pub message: Option<String>,
    pub hint: Option<Hint>,
    /// The last lines the implementation wrote to stderr.
    pub stderr_tail: String,
    pub duration: Duration,
    /// Remarks about how the run was made (isolation).
    pub notes: Vec<String>,
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
            duration: Duration::ZERO,
            notes: Vec::new(),
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
        .spawn(move || Runner::new(&case, &program, &mode, &timing).run(&spec))
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
    outcome.duration = started.elapsed();
    outcome
}

/// How one step ended.
enum StepEnd {
    /// Done; the observed value, for observations.
    Ok(Option<String>),
    /// Observed something the fixture does not have, but which the contract tolerates.
    NonStrict {
        observed: String,
        why: String,
        hint: Hint,
    },
    Fail(Failure),
}

struct Failure {
    observed: Option<String>,
    message: String,
    symptom: Symptom,
    verdict: Verdict,
}

impl Failure {
    fn new(symptom: Symptom, observed: Option<String>, message: String) -> Failure {
        Failure {
            observed,
            message,
            symptom,
            verdict: Verdict::Fail,
        }
    }

    fn harness(message: String) -> Failure {
        Failure {
            observed: None,
            message,
            symptom: Symptom::Other,
            verdict: Verdict::Error,
        }
    }
}

struct Runner<'a> {
    case: &'a Case,
    program: &'a ProgramInfo,
    mode: &'a Mode,
    timing: &'a Timing,
    session: Session,
    /// Index of the first printed line no `stdout` step has looked at yet.
    stdout_cursor: usize,
    /// Connections the peer half-closed or closed.
    peer_ended: Vec<String>,
    /// Connections opened so far, in order.
    opened: Vec<String>,
    /// The case has a network namespace of its own (every listener there is the program's).
    private_network: bool,
}

impl<'a> Runner<'a> {
    fn new(case: &'a Case, program: &'a ProgramInfo, mode: &'a Mode, timing: &'a Timing) -> Self {
        Runner {
            case,
            program,
            mode,
            timing,
            session: Session::new(program.addr),
            stdout_cursor: 0,
            peer_ended: Vec::new(),
            opened: Vec::new(),
            private_network: false,
        }
    }

    fn run(mut self, spec: &IutSpec) -> Outcome {
        let mut outcome = Outcome::new(Verdict::Pass, None);
        let expectations = match self.mode {
            Mode::Check(fixture) => match fixture.expectations(self.case) {
                Ok(e) => e,
                Err(stale) => {
                    return Outcome::error(format!(
                        "the fixture does not belong to this case ({stale}): record it again"
                    ))
                }
            },
            Mode::Record => vec![None; self.case.steps.len()],
        };
        let isolation = match sandbox::enter(self.program.addr) {
            Ok(iso) => iso,
            Err(e) => return Outcome::error(format!("cannot isolate the case: {e}")),
        };
        outcome.notes.extend(isolation.note());
        self.private_network = isolation.is_private();
        for (index, step) in self.case.steps.iter().enumerate() {
            let expected = expectations[index].as_deref();
            let next_stdout = expectations[index + 1..]
                .iter()
                .zip(&self.case.steps[index + 1..])
                .find(|(_, s)| matches!(s, Step::Stdout))
                .and_then(|(e, _)| e.clone());
            match self.step(step, expected, next_stdout.as_deref(), spec) {
                StepEnd::Ok(observed) => outcome
                    .transcript
                    .push(fixture::line(step, observed.as_deref())),
                StepEnd::NonStrict {
                    observed,
                    why,
                    hint,
                } => {
                    outcome
                        .transcript
                        .push(fixture::line(step, Some(&observed)));
                    outcome.verdict = outcome.verdict.max(Verdict::NonStrict);
                    outcome.message = Some(why);
                    outcome.hint = Some(hint);
                }
                StepEnd::Fail(mut failure) => {
                    let value = match (&failure.observed, step.is_observation()) {
                        (Some(o), true) => o.clone(),
                        (Some(o), false) => format!("failed: {o}"),
                        (None, _) => "failed".to_string(),
                    };
                    outcome.transcript.push(fixture::line(step, Some(&value)));
                    if let (Step::Stdout, Verdict::Fail, Some(want)) =
                        (step, failure.verdict, expected)
                    {
                        if self.printed_once_closed(want) {
                            failure.symptom = Symptom::PrintedOnlyAtExit;
                            failure
                                .message
                                .push_str("; it was printed only when the program exited");
                        }
                    }
                    outcome.hint = hints::diagnose(&Evidence {
                        role: self.case.role,
                        step,
                        symptom: failure.symptom.clone(),
                        peer_ended: self.peer_ended_for(step),
                        stdin_closed: self.session.iut.as_ref().is_some_and(|i| i.stdin_closed()),
                        first_connection: match step.conn() {
                            Some(c) => self.opened.first().is_none_or(|f| f == c),
                            None => self.opened.is_empty(),
                        },
                        stderr: &self.stderr_tail(),
                    });
                    outcome.verdict = failure.verdict;
                    outcome.message =
                        Some(format!("step {} `{step}`: {}", index + 1, failure.message));
                    break;
                }
            }
        }
        self.session.teardown();
        outcome.stderr_tail = self.stderr_tail();
        if let Some(iut) = &self.session.iut {
            if iut.out.truncated {
                outcome.notes.push(format!(
                    "stdout was cut after {} MiB ({} bytes printed in all)",
                    crate::iut::STDOUT_CAP >> 20,
                    iut.out.bytes
                ));
            }
        }
        drop(isolation);
        outcome
    }

    fn stderr_tail(&self) -> String {
        self.session
            .iut
            .as_ref()
            .map(|i| i.err.last_lines(20))
            .unwrap_or_default()
    }

    fn peer_ended_for(&self, step: &Step) -> bool {
        match step.conn() {
            Some(c) => self.peer_ended.iter().any(|e| e == c),
            None => !self.peer_ended.is_empty(),
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timing.observe
    }

    fn step(
        &mut self,
        step: &Step,
        expected: Option<&str>,
        next_stdout: Option<&str>,
        spec: &IutSpec,
    ) -> StepEnd {
        match step {
            Step::Spawn => match self.session.spawn(spec) {
                Ok(()) => StepEnd::Ok(None),
                Err(e) => StepEnd::Fail(Failure::harness(format!(
                    "cannot start `{}`: {e}",
                    spec.command
                ))),
            },
            Step::Listen => match self.session.listen() {
                Ok(()) => StepEnd::Ok(None),
                Err(e) => StepEnd::Fail(Failure::harness(format!(
                    "the peer cannot listen on `{}`: {e}",
                    self.program.addr
                ))),
            },
            Step::Connect(name) => self.connect(name),
            Step::Accept(name) => self.accept(name),
            Step::Send { conn, data, split } => self.send(conn, data, *split),
            Step::Shutdown(name) => {
                self.peer_ended.push(name.clone());
                match self.session.conn(name).map(|c| c.shutdown_write()) {
                    Some(Ok(())) | None => StepEnd::Ok(None),
                    Some(Err(e)) => StepEnd::Fail(Failure::new(
                        Symptom::Other,
                        None,
                        format!("cannot shut down `{name}`: {e}"),
                    )),
                }
            }
            Step::Close(name) => {
                self.peer_ended.push(name.clone());
                drop(self.session.take_conn(name));
                StepEnd::Ok(None)
            }
            Step::Reset(name) => {
                self.peer_ended.push(name.clone());
                match self.session.take_conn(name).map(|c| c.reset()) {
                    Some(Err(e)) => {
                        StepEnd::Fail(Failure::harness(format!("cannot reset `{name}`: {e}")))
                    }
                    _ => StepEnd::Ok(None),
                }
            }
            Step::Stdin(line) => self.write_stdin(line),
            Step::StdinClose => {
                if let Some(iut) = &mut self.session.iut {
                    iut.close_stdin();
                }
                StepEnd::Ok(None)
            }
            Step::Peek { conn, bytes } => self.peek(conn, *bytes),
            Step::Read { conn, bytes } => match (self.mode, expected) {
                (Mode::Check(_), Some(want)) => match payload::parse(want) {
                    Ok(want) => self.read_checked(conn, *bytes, &want),
                    Err(e) => StepEnd::Fail(Failure::harness(format!(
                        "the fixture's value is unreadable: {e}"
                    ))),
                },
                _ => self.read_recorded(conn, *bytes),
            },
            Step::ReadEnd(conn) => self.read_end(conn, expected),
            Step::Stdout => self.stdout(expected),
            Step::Quiet(window) => self.quiet(*window, next_stdout),
            Step::Exit => self.exit(expected),
        }
    }

    fn connect(&mut self, name: &str) -> StepEnd {
        let deadline = Instant::now() + self.timing.connect;
        // In a private namespace every listening socket is the implementation's: if it
        // listens and refused us, it listens on another address and will not move.
        let isolated = self.private_network;
        let target = self.program.addr;
        let listens_elsewhere = move || {
            // A listener that would take our connection may have appeared since the refusal.
            let listeners = sandbox::tcp_listeners();
            isolated
                && !listeners.is_empty()
                && !listeners.iter().any(|a| {
                    a.port() == target.port() && (a.ip() == target.ip() || a.ip().is_unspecified())
                })
        };
        match self.session.connect(name, deadline, &listens_elsewhere) {
            Ok(()) => {
                self.opened.push(name.to_string());
                StepEnd::Ok(None)
            }
            Err(ConnectError::Exited) => StepEnd::Fail(Failure::new(
                Symptom::ExitedBeforeConnection,
                Some(format!("exited {}", self.status_word())),
                format!(
                    "the server exited (status {}) and nothing accepts connections on `{}`",
                    self.status_word(),
                    self.program.addr
                ),
            )),
            Err(ConnectError::NotListening) => {
                let listeners = sandbox::tcp_listeners();
                let where_ = if !self.private_network {
                    String::new()
                } else if listeners.is_empty() {
                    "; it listens nowhere".to_string()
                } else {
                    let list: Vec<String> = listeners.iter().map(|a| format!("`{a}`")).collect();
                    format!("; it listens on {}", list.join(", "))
                };
                StepEnd::Fail(Failure::new(
                    Symptom::NotListening,
                    None,
                    format!(
                        "nothing accepts connections on `{}`{where_}",
                        self.program.addr
                    ),
                ))
            }
            Err(ConnectError::Io(e)) => StepEnd::Fail(Failure::new(
                Symptom::Other,
                None,
                format!("cannot connect to `{}`: {e}", self.program.addr),
            )),
        }
    }

    fn accept(&mut self, name: &str) -> StepEnd {
        let deadline = Instant::now() + self.timing.connect;
        match self.session.accept(name, deadline) {
            Ok(Some(())) => {
                self.opened.push(name.to_string());
                StepEnd::Ok(None)
            }
            Ok(None) if self.session.exited() => StepEnd::Fail(Failure::new(
                Symptom::ExitedBeforeConnection,
                Some(format!("exited {}", self.status_word())),
                format!(
                    "the client exited (status {}) without connecting",
                    self.status_word()
                ),
            )),
            Ok(None) => StepEnd::Fail(Failure::new(
                Symptom::Other,
                None,
                format!(
                    "the client did not connect to `{}` within {}s",
                    self.program.addr,
                    self.timing.connect.as_secs()
                ),
            )),
            Err(e) => StepEnd::Fail(Failure::harness(format!("cannot accept: {e}"))),
        }
    }

    /// Whether the implementation exits within the grace period (a connection dropped
    /// unanswered is often the listener closing as the program ends).
    fn exits_soon(&mut self) -> bool {
        let until = Instant::now() + self.timing.grace;
        self.session
            .wait_for(until, &|_| Vec::new(), |s| s.exited().then_some(()))
            .is_some()
    }

    fn status_word(&self) -> String {
        self.session
            .iut
            .as_ref()
            .and_then(|i| i.status)
            .map(describe_status)
            .unwrap_or_else(|| "running".into())
    }

    fn send(&mut self, name: &str, data: &[u8], split: Option<usize>) -> StepEnd {
        let piece = split.unwrap_or(data.len()).max(1);
        for (i, chunk) in data.chunks(piece).enumerate() {
            if i > 0 {
                // Deliberate pacing, so each piece leaves as a segment of its own.
                let until = Instant::now() + self.timing.pace;
                self.session
                    .wait_for(until, &|_| Vec::new(), |_| None::<()>);
            }
            let mut sent = 0;
            let deadline = self.deadline();
            while sent < chunk.len() {
                let Some(fd) = self.session.conn(name).map(|c| c.fd()) else {
                    return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
                };
                let result =
                    self.session
                        .wait_for(deadline, &|_| vec![Interest::Writable(fd)], |s| {
                            let conn = s.conn(name)?;
                            match conn.write_some(&chunk[sent..]) {
                                Ok(0) => None,
                                other => Some(other),
                            }
                        });
                match result {
                    Some(Ok(n)) => sent += n,
                    Some(Err(e)) => {
                        return StepEnd::Fail(Failure::new(
                            Symptom::Other,
                            None,
                            format!("could not send on `{name}`: the connection is gone ({e})"),
                        ))
                    }
                    None => {
                        return StepEnd::Fail(Failure::new(
                            Symptom::Other,
                            None,
                            format!(
                                "could not send on `{name}` within {}s: the implementation does not read",
                                self.timing.observe.as_secs()
                            ),
                        ))
                    }
                }
            }
        }
        StepEnd::Ok(None)
    }

    fn write_stdin(&mut self, line: &[u8]) -> StepEnd {
        let mut data = line.to_vec();
        data.push(b'\n');
        let mut written = 0;
        let deadline = self.deadline();
        while written < data.len() {
            let fd = self.session.iut.as_ref().and_then(|i| i.stdin_fd());
            let result = self.session.wait_for(
                deadline,
                &|_| fd.map(Interest::Writable).into_iter().collect(),
                |s| match s.iut.as_mut()?.write_stdin(&data[written..]) {
                    Ok(0) => None,
                    other => Some(other),
                },
            );
            match result {
                Some(Ok(n)) => written += n,
                Some(Err(e)) => {
                    return StepEnd::Fail(Failure::new(
                        Symptom::Other,
                        None,
                        format!(
                            "cannot write to its stdin ({e}); the program {}",
                            self.exit_phrase()
                        ),
                    ))
                }
                None => {
                    return StepEnd::Fail(Failure::new(
                        Symptom::Other,
                        None,
                        "its stdin is full: the program does not read its input".into(),
                    ))
                }
            }
        }
        StepEnd::Ok(None)
    }

    fn exit_phrase(&self) -> String {
        match self.session.iut.as_ref().and_then(|i| i.status) {
            Some(s) => format!("exited with status {}", describe_status(s)),
            None => "is still running".into(),
        }
    }

    fn peek(&mut self, name: &str, bytes: usize) -> StepEnd {
        let Some(conn) = self.session.conn(name) else {
            return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
        };
        let fd = conn.fd();
        let want = bytes.saturating_sub(conn.received.len());
        if let Err(e) = conn.set_low_water(want) {
            return StepEnd::Fail(Failure::harness(format!("cannot set SO_RCVLOWAT: {e}")));
        }
        let deadline = self.deadline();
        let ready = self
            .session
            .wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
                let c = s.conn(name)?;
                (c.buffered() >= want).then_some(())
            });
        if let Some(c) = self.session.conn(name) {
            let _ = c.set_low_water(1);
        }
        let have = self
            .session
            .conn(name)
            .map(|c| c.buffered() + c.received.len())
            .unwrap_or(0);
        match ready {
            Some(()) => StepEnd::Ok(None),
            None => StepEnd::Fail(Failure::new(
                Symptom::Other,
                None,
                format!(
                    "only {have} of {bytes} bytes arrived on `{name}` within {}s",
                    self.timing.observe.as_secs()
                ),
            )),
        }
    }

    fn read_checked(&mut self, name: &str, bytes: Option<usize>, want: &Expected) -> StepEnd {
        let limit = bytes.unwrap_or(want.len());
        let Some(fd) = self.session.conn(name).map(|c| c.fd()) else {
            return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
        };
        let deadline = self.deadline();
        self.session
            .wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
                let c = s.conn(name)?;
                c.fill(limit);
                let ready = c.received.len() >= limit
                    || c.end.is_some()
                    || !want.admits_prefix(&c.received[..c.received.len().min(limit)]);
                ready.then_some(())
            });
        let Some(conn) = self.session.conn(name) else {
            return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
        };
        let take = conn.received.len().min(limit);
        let got: Vec<u8> = conn.received.drain(..take).collect();
        let end = conn.end;
        let shown = payload::render(&got);
        if got.len() == limit && want.matches(&got) {
            return StepEnd::Ok(Some(shown));
        }
        let expected = render_expected(want);
        let (symptom, message) = if !want.admits_prefix(&got) || got.len() == limit {
            (
                Symptom::UnexpectedBytes,
                format!("expected {expected}, got {shown}"),
            )
        } else if let (Some(end), true) = (end, got.is_empty() && self.exits_soon()) {
            (
                Symptom::ExitedBeforeConnection,
                format!(
                    "expected {expected}, but the connection ended ({}) unanswered and the program exited (status {})",
                    end.word(),
                    self.status_word()
                ),
            )
        } else if let Some(end) = end {
            (
                Symptom::Other,
                format!(
                    "expected {expected}, but the connection ended ({}) after {}",
                    end.word(),
                    describe_bytes(&got)
                ),
            )
        } else {
            (
                Symptom::Other,
                format!(
                    "expected {expected}, got {} within {}s",
                    describe_bytes(&got),
                    self.timing.observe.as_secs()
                ),
            )
        };
        let observed = if got.is_empty() {
            end.map(|e| e.word().to_string())
                .unwrap_or_else(|| "nothing".into())
        } else {
            shown
        };
        StepEnd::Fail(Failure::new(symptom, Some(observed), message))
    }

    fn read_recorded(&mut self, name: &str, bytes: Option<usize>) -> StepEnd {
        let limit = bytes.unwrap_or(usize::MAX);
        let Some(fd) = self.session.conn(name).map(|c| c.fd()) else {
            return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
        };
        let deadline = self.deadline();
        let mut last_len = 0;
        let mut last_growth = Instant::now();
        while let Some(conn) = self.session.conn(name) {
            conn.fill(limit);
            let len = conn.received.len();
            if len != last_len {
                last_len = len;
                last_growth = Instant::now();
            }
            let settled = len > 0 && bytes.is_none() && last_growth.elapsed() >= self.timing.settle;
            let now = Instant::now();
            if len >= limit || conn.end.is_some() || settled || now >= deadline {
                break;
            }
            let wake = if len > 0 && bytes.is_none() {
                (last_growth + self.timing.settle).min(deadline)
            } else {
                deadline
            };
            self.session.pump(
                wake.saturating_duration_since(now),
                &[Interest::Readable(fd)],
            );
        }
        let Some(conn) = self.session.conn(name) else {
            return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
        };
        let take = conn.received.len().min(limit);
        let got: Vec<u8> = conn.received.drain(..take).collect();
        match (got.is_empty(), bytes) {
            (false, None) => StepEnd::Ok(Some(payload::render(&got))),
            (false, Some(n)) if got.len() == n => StepEnd::Ok(Some(payload::render(&got))),
            _ => StepEnd::Fail(Failure::new(
                Symptom::Other,
                Some(if got.is_empty() {
                    "nothing".into()
                } else {
                    payload::render(&got)
                }),
                format!("recording: {} arrived on `{name}`", describe_bytes(&got)),
            )),
        }
    }

    fn read_end(&mut self, name: &str, expected: Option<&str>) -> StepEnd {
        let Some(fd) = self.session.conn(name).map(|c| c.fd()) else {
            return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
        };
        let deadline = self.deadline();
        let seen = self
            .session
            .wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
                let c = s.conn(name)?;
                c.fill(c.received.len() + 65536);
                if !c.received.is_empty() {
                    Some(Err(std::mem::take(&mut c.received)))
                } else {
                    c.end.map(Ok)
                }
            });
        let observed = match &seen {
            Some(Ok(end)) => end.word().to_string(),
            Some(Err(bytes)) => payload::render(bytes),
            None => "open".to_string(),
        };
        let want = expected.unwrap_or(if matches!(self.mode, Mode::Record) {
            "eof or reset"
        } else {
            "?"
        });
        match seen {
            Some(Ok(_)) if expected.is_none() || expected == Some(observed.as_str()) => {
                StepEnd::Ok(Some(observed))
            }
            Some(Ok(_)) => StepEnd::Fail(Failure::new(
                Symptom::Other,
                Some(observed.clone()),
                format!("expected the connection to end with {want}, it ended with {observed}"),
            )),
            Some(Err(bytes)) => StepEnd::Fail(Failure::new(
                Symptom::UnexpectedBytes,
                Some(observed.clone()),
                format!(
                    "expected the connection to end ({want}), but {} arrived: {observed}",
                    describe_bytes(&bytes)
                ),
            )),
            None => StepEnd::Fail(Failure::new(
                Symptom::StayedOpen,
                Some(observed),
                format!(
                    "expected the connection to end ({want}), it stayed open for {}s",
                    self.timing.observe.as_secs()
                ),
            )),
        }
    }

    fn normalised_lines(&self, from: usize) -> Vec<(usize, String)> {
        let ports = self.session.peer_ports();
        self.session
            .iut
            .as_ref()
            .map(|iut| {
                iut.out.lines[from.min(iut.out.lines.len())..]
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        (
                            from + i,
                            stdout::normalise(l, &self.program.prompts, &ports),
                        )
                    })
                    .filter(|(_, l)| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn stdout_closed(&self) -> bool {
        self.session.iut.as_ref().is_none_or(|i| i.out.eof)
    }

    fn stdout(&mut self, expected: Option<&str>) -> StepEnd {
        let want = match (self.mode, expected) {
            (Mode::Check(_), Some(text)) => match payload::parse(text) {
                Ok(Expected::Exact(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                _ => {
                    return StepEnd::Fail(Failure::harness(format!(
                        "the fixture's printed line `{text}` is not a quoted string"
                    )))
                }
            },
            _ => None,
        };
        let deadline = self.deadline();
        loop {
            let lines = self.normalised_lines(self.stdout_cursor);
            let hit = lines.iter().find(|(_, l)| match &want {
                Some(w) => stdout::line_matches(w, l),
                None => true,
            });
            if let Some((i, line)) = hit {
                self.stdout_cursor = i + 1;
                let shown = match &want {
                    Some(w) => w.clone(),
                    None => line.clone(),
                };
                return StepEnd::Ok(Some(payload::render_line(&shown)));
            }
            let now = Instant::now();
            if self.stdout_closed() || now >= deadline {
                let printed: Vec<String> = lines
                    .iter()
                    .map(|(_, l)| payload::quote(l.as_bytes()))
                    .take(5)
                    .collect();
                let observed = printed.first().cloned().unwrap_or_else(|| "nothing".into());
                let how = if self.stdout_closed() {
                    "before its stdout closed"
                } else {
                    "in time"
                };
                let message = match &want {
                    Some(w) => format!(
                        "expected the line {} {how}; printed instead: {}",
                        payload::quote(w.as_bytes()),
                        if printed.is_empty() {
                            "nothing".to_string()
                        } else {
                            printed.join(", ")
                        }
                    ),
                    None => format!("recording: nothing was printed {how}"),
                };
                return StepEnd::Fail(Failure::new(Symptom::Other, Some(observed), message));
            }
            self.session.pump(deadline - now, &[]);
        }
    }

    /// After a `stdout` step failed: closes the program's input and connections, lets it
    /// exit (within the grace period), and tells whether the expected line came then.
    fn printed_once_closed(&mut self, want_text: &str) -> bool {
        let Ok(Expected::Exact(want)) = payload::parse(want_text) else {
            return false;
        };
        let want = String::from_utf8_lossy(&want).into_owned();
        if let Some(iut) = &mut self.session.iut {
            iut.close_stdin();
        }
        self.session.conns.clear();
        let until = Instant::now() + self.timing.grace;
        self.session
            .wait_for(until, &|_| Vec::new(), |s| s.exited().then_some(()));
        self.session.teardown();
        self.normalised_lines(self.stdout_cursor)
            .iter()
            .any(|(_, l)| stdout::line_matches(&want, l))
    }

    fn quiet(&mut self, window: Duration, next_stdout: Option<&str>) -> StepEnd {
        let until = Instant::now() + window;
        let next_line = next_stdout
            .and_then(|t| payload::parse(t).ok())
            .and_then(|e| match e {
                Expected::Exact(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Expected::Digest { .. } => None,
            });
        let recording = matches!(self.mode, Mode::Record);
        loop {
            // Anything on a connection?
            for conn in &mut self.session.conns {
                conn.fill(conn.received.len() + 65536);
                if !conn.received.is_empty() {
                    let what = format!("{} {}", conn.name, payload::render(&conn.received));
                    return quiet_broken(what, Symptom::UnexpectedBytes);
                }
                if let Some(end) = conn.end {
                    return quiet_broken(format!("{} {}", conn.name, end.word()), Symptom::Other);
                }
            }
            if self.session.exited() {
                return quiet_broken(format!("exit {}", self.status_word()), Symptom::Other);
            }
            let lines = self.normalised_lines(self.stdout_cursor);
            let printed = lines.iter().find(|(_, l)| match &next_line {
                Some(w) if !recording => stdout::line_matches(w, l),
                _ => recording,
            });
            if let Some((_, l)) = printed {
                return quiet_broken(
                    format!("stdout {}", payload::quote(l.as_bytes())),
                    Symptom::Other,
                );
            }
            let now = Instant::now();
            if now >= until {
                return StepEnd::Ok(Some("nothing".into()));
            }
            let fds: Vec<Interest> = self
                .session
                .conns
                .iter()
                .map(|c| Interest::Readable(c.fd()))
                .collect();
            self.session.pump(until - now, &fds);
        }
    }

    fn exit(&mut self, expected: Option<&str>) -> StepEnd {
        let deadline = self.deadline();
        self.session
            .wait_for(deadline, &|_| Vec::new(), |s| s.exited().then_some(()));
        let observed = self.status_word();
        let stdin_closed = self.session.iut.as_ref().is_some_and(|i| i.stdin_closed());
        match expected {
            None if observed != "running" => StepEnd::Ok(Some(observed)),
            Some(want) if want == observed => StepEnd::Ok(Some(observed)),
            Some("0")
                if observed != "running"
                    && !observed.starts_with("signal")
                    && stdin_closed
                    && self.session.iut.as_ref().is_some_and(|i| i.err.contains("EOFError")) =>
            {
                StepEnd::NonStrict {
                    observed,
                    why: "it died with an EOFError traceback when its input ended, after its work was done".into(),
                    hint: Hint::StdinEofTraceback,
                }
            }
            _ if observed == "running" => StepEnd::Fail(Failure::new(
                Symptom::StillRunning,
                Some(observed),
                format!(
                    "expected it to exit{}, it was still running after {}s",
                    expected.map(|w| format!(" with status {w}")).unwrap_or_default(),
                    self.timing.observe.as_secs()
                ),
            )),
            _ => StepEnd::Fail(Failure::new(
                Symptom::WrongExit,
                Some(observed.clone()),
                format!("expected exit status {}, got {observed}", expected.unwrap_or("?")),
            )),
        }
    }
}

fn quiet_broken(what: String, symptom: Symptom) -> StepEnd {
    StepEnd::Fail(Failure::new(
        symptom,
        Some(what.clone()),
        format!("expected nothing during the silence window, got {what}"),
    ))
}

fn render_expected(want: &Expected) -> String {
    match want {
        Expected::Exact(b) => payload::render(b),
        Expected::Digest { len, sha256_prefix } => format!("<{len} bytes sha256:{sha256_prefix}>"),
    }
}

fn describe_bytes(b: &[u8]) -> String {
    match b.len() {
        0 => "no bytes".into(),
        1 => "1 byte".into(),
        n => format!("{n} bytes"),
    }
}
