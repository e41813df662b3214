//! TCP steps run: the peer's connections to the implementation, and its reads of them.
//! Every byte the program sends is accounted for: bytes a `read` did not take stay for the
//! next observation on that connection, and bytes still unread at a close, a reset or the
//! end of the case fail it, named. Their syntax is in [`crate::syntax::tcp`].

use super::context::{Ctx, Failure, StepEnd};
use crate::hints::Symptom;
use crate::observation::Observation;
use crate::payload::{self, Expected};
use crate::sandbox;
use crate::session::{ConnectError, End, Interest, PeerEnd, Session, Target, WriteError};
use crate::syntax::tcp::{Split, Step};
use std::os::fd::RawFd;
use std::time::Instant;

/// How many bytes past the expected ones a read looks at, to name what came too many.
const OVERRUN: usize = 64 << 10;

impl Step {
    pub(crate) fn run(&self, ctx: &mut Ctx, expected: Option<&Observation>) -> StepEnd {
        match self {
            Step::Listen => match ctx.session.listen() {
                Ok(()) => StepEnd::Ok(None),
                Err(e) => StepEnd::Fail(Failure::harness(format!(
                    "the peer cannot listen on `{}`: {e}",
                    ctx.program.addr
                ))),
            },
            Step::Connect(name) => connect(ctx, name),
            Step::Accept(name) => accept(ctx, name),
            Step::Send { conn, data, split } => send(ctx, conn, data, *split),
            Step::Peek { conn, bytes } => peek(ctx, conn, *bytes),
            Step::Read {
                conn,
                bytes,
                or_end,
            } => match expected {
                Some(Observation::Bytes(want)) => read_checked(ctx, conn, *bytes, want, *or_end),
                _ => read_recorded(ctx, conn, *bytes),
            },
            Step::ReadEnd(conn) => read_end(ctx, conn, expected),
            Step::Shutdown(name) => {
                ctx.peer_ended(name, PeerEnd::HalfClose);
                ctx.session.peer_closed(name, "half-closed");
                match ctx.session.conn(name).map(|c| c.shutdown_write()) {
                    Some(Ok(())) | None => StepEnd::Ok(None),
                    Some(Err(e)) => StepEnd::Fail(Failure::new(
                        Symptom::Other,
                        None,
                        format!("cannot shut down `{name}`: {e}"),
                    )),
                }
            }
            Step::Close(name) => close(ctx, name, PeerEnd::Close),
            Step::Reset(name) => close(ctx, name, PeerEnd::Reset),
        }
    }
}

fn connect(ctx: &mut Ctx, name: &str) -> StepEnd {
    // The program's listening sockets: in a private namespace every one there is; on the
    // shared network, those its processes (the descendants of the case's init) hold. If it
    // listens and refused us, it listens on another address and will not move.
    let init = ctx.session.iut.as_ref().map(|i| i.pid());
    let isolated = ctx.private_network;
    let program_listeners = move || match (isolated, init) {
        (true, _) => sandbox::tcp_listeners(),
        (false, Some(init)) => sandbox::listeners_of(init),
        (false, None) => Vec::new(),
    };
    let target = ctx.program.addr;
    let listens_elsewhere = move || {
        // A listener that would take our connection may have appeared since the refusal.
        let listeners = program_listeners();
        !listeners.is_empty()
            && !listeners.iter().any(|a| {
                a.port() == target.port() && (a.ip() == target.ip() || a.ip().is_unspecified())
            })
    };
    match ctx
        .session
        .connect(name, ctx.timing.connect, &listens_elsewhere)
    {
        Ok(()) => {
            ctx.opened.push(name.to_string());
            StepEnd::Ok(None)
        }
        Err(ConnectError::Exited) => StepEnd::Fail(Failure::new(
            Symptom::ExitedBeforeConnection,
            Some(format!("exited {}", ctx.status_word())),
            format!(
                "the server exited (status {}) and nothing accepts connections on `{}`",
                ctx.status_word(),
                ctx.program.addr
            ),
        )),
        Err(ConnectError::NotListening) => {
            let listeners = program_listeners();
            let where_ = if listeners.is_empty() {
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
                    ctx.program.addr
                ),
            ))
        }
        Err(ConnectError::Io(e)) => StepEnd::Fail(Failure::new(
            Symptom::Other,
            None,
            format!("cannot connect to `{}`: {e}", ctx.program.addr),
        )),
    }
}

fn accept(ctx: &mut Ctx, name: &str) -> StepEnd {
    let deadline = Instant::now() + ctx.timing.connect;
    match ctx.session.accept(name, deadline) {
        Ok(Some(())) => {
            ctx.opened.push(name.to_string());
            StepEnd::Ok(None)
        }
        Ok(None) if ctx.session.exited() => StepEnd::Fail(Failure::new(
            Symptom::ExitedBeforeConnection,
            Some(format!("exited {}", ctx.status_word())),
            format!(
                "the client exited (status {}) without connecting",
                ctx.status_word()
            ),
        )),
        Ok(None) => StepEnd::Fail(Failure::new(
            Symptom::Other,
            None,
            format!(
                "the client did not connect to `{}` within {}s",
                ctx.program.addr,
                ctx.timing.connect.as_secs()
            ),
        )),
        Err(e) => StepEnd::Fail(Failure::harness(format!("cannot accept: {e}"))),
    }
}

fn send(ctx: &mut Ctx, name: &str, data: &[u8], split: Option<Split>) -> StepEnd {
    let segmentation = Split::segmentation(split, ctx.timing.pace);
    let target = Target::Conn(name.to_string());
    match ctx
        .session
        .write(&target, data, segmentation, ctx.timing.observe)
    {
        Ok(()) => StepEnd::Ok(None),
        Err(WriteError::Gone(e)) => {
            // Gone because the program died: say so, for the hints.
            let died = ctx.exits_soon();
            StepEnd::Fail(Failure::new(
                if died { Symptom::Died } else { Symptom::Other },
                None,
                format!(
                    "could not send on `{name}`: the connection is gone ({e}){}",
                    if died {
                        format!("; the program exited (status {})", ctx.status_word())
                    } else {
                        String::new()
                    }
                ),
            ))
        }
        Err(WriteError::Full) => StepEnd::Fail(Failure::new(
            Symptom::Other,
            None,
            format!(
                "could not send on `{name}` within {}s: the implementation does not read",
                ctx.timing.observe.as_secs()
            ),
        )),
    }
}

fn peek(ctx: &mut Ctx, name: &str, bytes: usize) -> StepEnd {
    let Some(conn) = ctx.session.conn(name) else {
        return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
    };
    let fd = conn.fd();
    let want = bytes.saturating_sub(conn.received.len());
    if let Err(e) = conn.set_low_water(want) {
        return StepEnd::Fail(Failure::harness(format!("cannot set SO_RCVLOWAT: {e}")));
    }
    let deadline = ctx.deadline();
    // Readable below the low-water mark means the program ended its side: nothing more
    // will come, and waiting on would only spin (poll stays ready) until the deadline.
    let ready = ctx
        .session
        .wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
            let c = s.conn(name)?;
            if c.buffered() >= want {
                Some(true)
            } else {
                c.peer_ended().then_some(false)
            }
        });
    let have = match ctx.session.conn(name) {
        Some(c) => {
            let _ = c.set_low_water(1);
            c.buffered() + c.received.len()
        }
        None => 0,
    };
    match ready {
        Some(true) => StepEnd::Ok(None),
        Some(false) => StepEnd::Fail(Failure::new(
            Symptom::Other,
            None,
            format!("only {have} of {bytes} bytes arrived on `{name}` before the program ended it"),
        )),
        None => StepEnd::Fail(Failure::new(
            Symptom::Other,
            None,
            format!(
                "only {have} of {bytes} bytes arrived on `{name}` within {}s",
                ctx.timing.observe.as_secs()
            ),
        )),
    }
}

/// Waits until the fixture's bytes have arrived (or what arrived diverges, or the
/// connection ends), then takes them: `read c1 N` exactly N bytes, `read c1` everything
/// that has arrived, so bytes sent beyond the expected ones in the same write fail here.
/// `or_end`: an end with no byte before it is observed instead, and passes.
fn read_checked(
    ctx: &mut Ctx,
    name: &str,
    bytes: Option<usize>,
    want: &Expected,
    or_end: bool,
) -> StepEnd {
    let limit = bytes.unwrap_or(want.len());
    let Some(fd) = ctx.session.conn(name).map(|c| c.fd()) else {
        return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
    };
    let deadline = ctx.deadline();
    ctx.session
        .wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
            let c = s.fill(name, limit)?;
            let ready = c.received.len() >= limit
                || c.end.is_some()
                || !want.admits_prefix(&c.received[..c.received.len().min(limit)]);
            ready.then_some(())
        });
    // `read c1` takes all that has come; `read c1 N` leaves the rest for the next step.
    let take_all = bytes.is_none();
    let Some(conn) = ctx
        .session
        .fill(name, if take_all { limit + OVERRUN } else { limit })
    else {
        return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
    };
    let take = if take_all {
        conn.received.len()
    } else {
        conn.received.len().min(limit)
    };
    let got: Vec<u8> = conn.received.drain(..take).collect();
    let end = conn.end;
    if let (true, true, Some(end)) = (or_end, got.is_empty(), end) {
        return StepEnd::Ok(Some(Observation::End(end)));
    }
    // The read stopped at its cap with more on the way: say so rather than a wrong size.
    let and_more = if take_all && got.len() >= limit + OVERRUN {
        " and more"
    } else {
        ""
    };
    if got.len() == limit && want.matches(&got) {
        if ctx.stdin_used {
            // The program sent what it read from stdin: whatever it left unfinished on
            // stdout before reading was its prompt.
            if let Some(iut) = &mut ctx.session.iut {
                iut.out.learn_prompt();
            }
        }
        return StepEnd::Ok(Some(Observation::Bytes(Expected::Exact(got))));
    }
    let (symptom, message) = why_the_read_differs(ctx, want, &got, limit, end, and_more);
    let observed = if got.is_empty() {
        end.map(|e| e.word().to_string())
            .unwrap_or_else(|| "nothing".into())
    } else {
        payload::render(&got)
    };
    StepEnd::Fail(Failure::new(symptom, Some(observed), message))
}

/// How a checked read that did not get the expected bytes failed: other bytes (or more of
/// them), the end of the connection (with the program's exit, when it exits at once), or
/// too few within the deadline.
fn why_the_read_differs(
    ctx: &mut Ctx,
    want: &Expected,
    got: &[u8],
    limit: usize,
    end: Option<End>,
    and_more: &str,
) -> (Symptom, String) {
    let expected = Observation::Bytes(want.clone()).to_string();
    let shown = payload::render(got);
    if !want.admits_prefix(got) || got.len() >= limit {
        (
            Symptom::UnexpectedBytes {
                got: got.to_vec(),
                want: match want {
                    Expected::Exact(w) => Some(w.clone()),
                    Expected::Digest { .. } => None,
                },
            },
            if got.len() > limit && want.matches(&got[..limit]) {
                format!(
                    "expected {expected}, got {shown}{and_more}: {} more than expected",
                    describe_bytes(got.len() - limit)
                )
            } else {
                format!("expected {expected}, got {shown}{and_more}")
            },
        )
    } else if let (Some(end), true) = (end, got.is_empty() && ctx.exits_soon()) {
        (
            Symptom::ExitedBeforeConnection,
            format!(
                "expected {expected}, but the connection ended ({}) unanswered and the program exited (status {})",
                end.word(),
                ctx.status_word()
            ),
        )
    } else if let Some(end) = end {
        (
            Symptom::Other,
            format!(
                "expected {expected}, but the connection ended ({}) after {}",
                end.word(),
                describe_bytes(got.len())
            ),
        )
    } else {
        (
            Symptom::Short { got: got.len() },
            if got.is_empty() {
                format!(
                    "expected {expected}, got nothing within {}s",
                    ctx.timing.observe.as_secs()
                )
            } else {
                format!(
                    "expected {expected}, got {} ({shown}) and then nothing within {}s",
                    describe_bytes(got.len()),
                    ctx.timing.observe.as_secs()
                )
            },
        )
    }
}

/// Recording: `read c1 N` waits for N bytes; `read c1` for bytes, then for them to settle.
fn read_recorded(ctx: &mut Ctx, name: &str, bytes: Option<usize>) -> StepEnd {
    let limit = bytes.unwrap_or(usize::MAX);
    let Some(fd) = ctx.session.conn(name).map(|c| c.fd()) else {
        return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
    };
    let deadline = ctx.deadline();
    let mut last_len = 0;
    let mut last_growth = Instant::now();
    while let Some(conn) = ctx.session.fill(name, limit) {
        let len = conn.received.len();
        let ended = conn.end.is_some();
        if len != last_len {
            last_len = len;
            last_growth = Instant::now();
        }
        let settled = len > 0 && bytes.is_none() && last_growth.elapsed() >= ctx.timing.settle;
        let now = Instant::now();
        if now >= deadline {
            ctx.session.deadlines += 1;
            break;
        }
        if len >= limit || ended || settled {
            break;
        }
        let wake = if len > 0 && bytes.is_none() {
            (last_growth + ctx.timing.settle).min(deadline)
        } else {
            deadline
        };
        ctx.session.pump(
            wake.saturating_duration_since(now),
            &[Interest::Readable(fd)],
        );
    }
    let Some(conn) = ctx.session.conn(name) else {
        return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
    };
    let take = conn.received.len().min(limit);
    let got: Vec<u8> = conn.received.drain(..take).collect();
    match (got.is_empty(), bytes) {
        (false, None) => StepEnd::Ok(Some(Observation::Bytes(Expected::Exact(got)))),
        (false, Some(n)) if got.len() == n => {
            StepEnd::Ok(Some(Observation::Bytes(Expected::Exact(got))))
        }
        _ => StepEnd::Fail(Failure::new(
            Symptom::Other,
            Some(if got.is_empty() {
                "nothing".into()
            } else {
                payload::render(&got)
            }),
            format!(
                "recording: {} arrived on `{name}`",
                describe_bytes(got.len())
            ),
        )),
    }
}

/// Waits for the connection to end; any byte before the end fails the step.
fn read_end(ctx: &mut Ctx, name: &str, expected: Option<&Observation>) -> StepEnd {
    let Some(fd) = ctx.session.conn(name).map(|c| c.fd()) else {
        return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
    };
    let deadline = ctx.deadline();
    let cpu = ctx.watch_cpu();
    let seen = ctx
        .session
        .wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
            let have = s.conn(name)?.received.len();
            let c = s.fill(name, have + OVERRUN)?;
            if !c.received.is_empty() {
                Some(Err(std::mem::take(&mut c.received)))
            } else {
                c.end.map(Ok)
            }
        });
    let want = match expected {
        Some(Observation::End(e)) => Some(*e),
        _ => None,
    };
    let want_word = want.map(End::word).unwrap_or("eof or reset");
    match seen {
        Some(Ok(end)) if want.is_none_or(|w| w == end) => {
            if let Some(c) = ctx.session.conn(name) {
                c.end_observed = true;
            }
            StepEnd::Ok(Some(Observation::End(end)))
        }
        Some(Ok(end)) => StepEnd::Fail(Failure::new(
            Symptom::Other,
            Some(end.word().into()),
            format!(
                "expected the connection to end with {want_word}, it ended with {}",
                end.word()
            ),
        )),
        Some(Err(first)) => {
            let bytes = what_keeps_coming(ctx, name, fd, first);
            let shown = payload::render(&bytes);
            StepEnd::Fail(Failure::new(
                Symptom::UnexpectedBytes {
                    got: bytes.clone(),
                    want: None,
                },
                Some(shown.clone()),
                format!(
                    "expected the connection to end ({want_word}), but {} arrived: {shown}",
                    describe_bytes(bytes.len())
                ),
            ))
        }
        None => StepEnd::Fail(Failure::new(
            Symptom::StayedOpen {
                spinning: cpu.spinning(ctx),
            },
            Some("open".into()),
            format!(
                "expected the connection to end ({want_word}), it stayed open for {}s",
                ctx.timing.observe.as_secs()
            ),
        )),
    }
}

/// Bytes came where the connection should have ended: what else comes right after them
/// (until it stops for the settle time, the connection ends, the grace period is over, or
/// `OVERRUN` bytes), so a hint sees the loop whole (a framed server sending the prefix and
/// the header of each empty frame in two writes showed only the prefix).
fn what_keeps_coming(ctx: &mut Ctx, name: &str, fd: RawFd, mut bytes: Vec<u8>) -> Vec<u8> {
    let until = Instant::now() + ctx.timing.grace;
    let settle = ctx.timing.settle;
    let mut last_growth = Instant::now();
    while let Some(c) = ctx.session.fill(name, OVERRUN) {
        if !c.received.is_empty() {
            bytes.append(&mut c.received);
            last_growth = Instant::now();
        }
        let now = Instant::now();
        let quiet_until = last_growth + settle;
        if c.end.is_some() || bytes.len() >= OVERRUN || now >= until || now >= quiet_until {
            break;
        }
        ctx.session
            .pump(quiet_until.min(until) - now, &[Interest::Readable(fd)]);
    }
    bytes
}

/// The peer closes or resets a connection: whatever the program sent that no step read is
/// a failure, named, before the connection goes.
fn close(ctx: &mut Ctx, name: &str, how: PeerEnd) -> StepEnd {
    if let Some(unread) = unread(ctx, name) {
        return StepEnd::Fail(unread);
    }
    ctx.peer_ended(name, how);
    let Some(conn) = ctx.session.take_conn(name) else {
        return StepEnd::Ok(None);
    };
    match how {
        PeerEnd::Reset => {
            ctx.session.peer_closed(name, "reset");
            match conn.reset() {
                Ok(()) => StepEnd::Ok(None),
                Err(e) => StepEnd::Fail(Failure::harness(format!("cannot reset `{name}`: {e}"))),
            }
        }
        _ => {
            ctx.session.peer_closed(name, "closed");
            conn.close();
            StepEnd::Ok(None)
        }
    }
}

/// Bytes that arrived on `name` and no step took, as a failure.
pub(crate) fn unread(ctx: &mut Ctx, name: &str) -> Option<Failure> {
    let have = ctx.session.conn(name)?.received.len();
    let conn = ctx.session.fill(name, have + OVERRUN)?;
    if conn.received.is_empty() {
        return None;
    }
    let bytes = std::mem::take(&mut conn.received);
    let shown = payload::render(&bytes);
    Some(Failure::new(
        Symptom::UnexpectedBytes {
            got: bytes.clone(),
            want: None,
        },
        Some(format!("unread {shown}")),
        format!(
            "{} arrived on `{name}` that no step expected: {shown}",
            describe_bytes(bytes.len())
        ),
    ))
}

fn describe_bytes(n: usize) -> String {
    match n {
        0 => "no bytes".into(),
        1 => "1 byte".into(),
        n => format!("{n} bytes"),
    }
}

/// The family's answers to the engine: the bytes and ends of its connections.
pub(crate) struct Hooks;

impl super::Family for Hooks {
    fn unread(&self, ctx: &mut Ctx) -> Option<Failure> {
        let names: Vec<String> = ctx.session.conns.iter().map(|c| c.name.clone()).collect();
        names.iter().find_map(|name| unread(ctx, name))
    }

    fn breaks_silence(&self, ctx: &mut Ctx) -> Option<(String, Symptom)> {
        let names: Vec<String> = ctx.session.conns.iter().map(|c| c.name.clone()).collect();
        for name in names {
            let Some(conn) = ctx.session.fill(&name, 1 << 16) else {
                continue;
            };
            if !conn.received.is_empty() {
                let what = format!("{} {}", conn.name, payload::render(&conn.received));
                let bytes = std::mem::take(&mut conn.received);
                let symptom = Symptom::UnexpectedBytes {
                    got: bytes,
                    want: None,
                };
                return Some((what, symptom));
            }
            if let (Some(end), false) = (conn.end, conn.end_observed) {
                return Some((format!("{} {}", conn.name, end.word()), Symptom::Other));
            }
        }
        None
    }

    fn interest(&self, session: &Session) -> Vec<Interest> {
        session
            .conns
            .iter()
            // An ended connection is always readable: waiting on it would spin.
            .filter(|c| c.end.is_none())
            .map(|c| Interest::Readable(c.fd()))
            .collect()
    }
}
