//! Datagram steps run: the peer's UDP sockets, for udp-hello and udp-chat. Each datagram
//! is one event of the trace and one observation, so boundaries show: two datagrams are
//! two `recvfrom` steps, never one. Every datagram is accounted for: one that no step took
//! fails the silence window it came in, or the end of the case. Their syntax is in
//! [`crate::syntax::udp`].

use super::context::{Ctx, Failure, StepEnd};
use crate::hints::{Hint, Symptom};
use crate::observation::{DatagramObs, Observation, Source};
use crate::payload::Expected;
use crate::sandbox;
use crate::script::Role;
use crate::session::{Interest, Session, Sock};
use crate::syntax::udp::Step;
use crate::trace::Event;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

impl Step {
    pub(crate) fn run(&self, ctx: &mut Ctx, expected: Option<&Observation>) -> StepEnd {
        match self {
            Step::Bind(name) => bind(ctx, name),
            Step::SendTo { sock, data } => send_to(ctx, sock, data),
            Step::RecvFrom(sock) => recv_from(ctx, sock, expected),
            Step::Dropped => dropped(ctx),
        }
    }
}

/// The first datagram some socket holds that no step took, as `u1 "x" (1 bytes) from …`.
pub(crate) fn pending(ctx: &mut Ctx) -> Option<(String, Vec<u8>)> {
    ctx.session.fill_datagrams();
    let program = ctx.program.addr;
    let sock = ctx.session.socks.iter_mut().find(|s| !s.inbox.is_empty())?;
    let d = sock.inbox.pop_front()?;
    let more = sock.inbox.len() + sock.overflow;
    let obs = Observation::Datagram(DatagramObs {
        data: Expected::Exact(d.data.clone()),
        from: Source::of(d.from, program),
    });
    let tail = if more > 0 {
        format!(", and {more} more datagram(s)")
    } else {
        String::new()
    };
    Some((format!("{} {obs}{tail}", sock.name), d.data))
}

/// At the end of a case: a datagram no step took fails it, named.
pub(crate) fn unread(ctx: &mut Ctx) -> Option<Failure> {
    let (what, data) = pending(ctx)?;
    Some(Failure::new(
        Symptom::UnexpectedBytes {
            got: data,
            want: None,
        },
        Some(format!("unread datagram: {what}")),
        format!("the program sent a datagram that no step expected: {what}"),
    ))
}

fn bind(ctx: &mut Ctx, name: &str) -> StepEnd {
    let program = ctx.program.addr;
    let addr = match ctx.case.role {
        // The peer is the server: the program's address, as its client expects.
        Role::Client => program,
        // The peer is a client: an ephemeral port on the program's loopback family.
        Role::Server => SocketAddr::new(
            match program.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            },
            0,
        ),
    };
    match Sock::bind(name, addr) {
        Ok(sock) => {
            if let Some(iut) = &mut ctx.session.iut {
                iut.out.add_port(sock.port(), name);
            }
            ctx.session.trace.push(Event::Opened {
                conn: format!(
                    "{name} (udp {})",
                    sock.local_addr().map(|a| a.to_string()).unwrap_or_default()
                ),
            });
            ctx.session.socks.push(sock);
            StepEnd::Ok(None)
        }
        // In the case's own namespace only the program can hold the server's address: a
        // client that binds it is at fault, not the harness.
        Err(e)
            if e.kind() == io::ErrorKind::AddrInUse
                && ctx.private_network
                && ctx.session.iut.is_some() =>
        {
            StepEnd::Fail(Failure::new(
                Symptom::Other,
                None,
                format!(
                    "the program holds the server's address `{addr}` itself: a client binds \
                     no fixed address (its first sendto picks a port)"
                ),
            ))
        }
        Err(e) => StepEnd::Fail(Failure::harness(format!(
            "the peer cannot bind a datagram socket on `{addr}`: {e}"
        ))),
    }
}

fn send_to(ctx: &mut Ctx, name: &str, data: &[u8]) -> StepEnd {
    let to = match ctx.case.role {
        Role::Server => {
            if let Err(failure) = wait_bound(ctx) {
                return StepEnd::Fail(failure);
            }
            ctx.program.addr
        }
        Role::Client => match ctx.session.socks.iter().find(|s| s.name == name) {
            Some(Sock {
                last_from: Some(from),
                ..
            }) => *from,
            _ => {
                return StepEnd::Fail(Failure::harness(format!(
                    "`{name}` has no datagram to answer"
                )))
            }
        },
    };
    let Some(sock) = ctx.session.socks.iter().find(|s| s.name == name) else {
        return StepEnd::Fail(Failure::harness(format!("no socket `{name}`")));
    };
    match sock.send_to(data, to) {
        Ok(_) => {
            ctx.session.trace.push(Event::DatagramSent {
                sock: name.to_string(),
                to: to.to_string(),
                bytes: data.len(),
                head: crate::trace::head(data),
            });
            StepEnd::Ok(None)
        }
        Err(e) => StepEnd::Fail(Failure::harness(format!(
            "cannot send a datagram from `{name}` to `{to}`: {e}"
        ))),
    }
}

/// Waits until the program (the server) has a datagram socket on its address: a datagram
/// sent before it binds is lost, and the case would test nothing.
fn wait_bound(ctx: &mut Ctx) -> Result<(), Failure> {
    let target = ctx.program.addr;
    let covers = |a: &SocketAddr| {
        a.port() == target.port() && (a.ip() == target.ip() || a.ip().is_unspecified())
    };
    let deadline = Instant::now() + ctx.timing.connect;
    let bound = paced(&mut ctx.session, deadline, |s| {
        if sandbox::udp_sockets().iter().any(covers) {
            Some(true)
        } else if s.exited() {
            Some(false)
        } else {
            None
        }
    });
    match bound {
        Some(true) => Ok(()),
        Some(false) => Err(Failure::new(
            Symptom::ExitedBeforeConnection,
            Some(format!("exited {}", ctx.status_word())),
            format!(
                "the server exited (status {}) without a datagram socket on `{target}`",
                ctx.status_word()
            ),
        )),
        None => {
            let elsewhere = if ctx.private_network {
                let mine: Vec<u16> = ctx.session.socks.iter().map(|s| s.port()).collect();
                let theirs: Vec<String> = sandbox::udp_sockets()
                    .into_iter()
                    .filter(|a| !mine.contains(&a.port()))
                    .map(|a| format!("`{a}`"))
                    .collect();
                if theirs.is_empty() {
                    "; it bound no datagram socket".to_string()
                } else {
                    format!("; it bound {}", theirs.join(", "))
                }
            } else {
                String::new()
            };
            Err(Failure::new(
                Symptom::NotListening,
                None,
                format!(
                    "nothing was bound to udp `{target}` within {}s{elsewhere}",
                    ctx.timing.connect.as_secs()
                ),
            ))
        }
    }
}

/// Longest pause between two looks at something no descriptor signals (a socket bound, a
/// kernel counter), so the wait ends soon after it happens.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// Calls `done` until it gives a value or `deadline` passes, pumping the program's output in
/// between for pauses that start at 1 ms and double up to [`MAX_PAUSE`]. A wait that reaches
/// its deadline is counted, as [`Session::wait_for`] counts it.
fn paced<T>(
    session: &mut Session,
    deadline: Instant,
    mut done: impl FnMut(&mut Session) -> Option<T>,
) -> Option<T> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = done(session) {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            session.deadlines += 1;
            return None;
        }
        session.pump(pause.min(deadline - now), &[]);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

fn recv_from(ctx: &mut Ctx, name: &str, expected: Option<&Observation>) -> StepEnd {
    let started = Instant::now();
    let deadline = first_contact_deadline(ctx);
    // Drops counted from the last one a step accounted for, not from now: a program that
    // answers a port where nothing is bound may well do it before this step begins.
    let no_ports_before = sandbox::udp_no_ports().map(|_| ctx.session.no_ports_seen);
    // A datagram, or `None` once the program has exited with none on its way.
    let got = ctx
        .session
        .wait_for(deadline, &Session::datagram_interest, |s| {
            let exited = s.exited();
            s.fill_datagrams();
            let datagram = s
                .socks
                .iter_mut()
                .find(|k| k.name == name)
                .and_then(|k| k.inbox.pop_front());
            match datagram {
                Some(d) => Some(Some(d)),
                None if exited => Some(None),
                None => None,
            }
        });
    let program = ctx.program.addr;
    let Some(Some(datagram)) = got else {
        return StepEnd::Fail(nothing_came(ctx, name, no_ports_before, started));
    };
    if let Some(sock) = ctx.session.socks.iter_mut().find(|k| k.name == name) {
        sock.last_from = Some(datagram.from);
    }
    if ctx.stdin_used {
        // The program sent a datagram after reading its stdin: whatever it left unfinished
        // on stdout before reading was its prompt (as for a TCP read).
        if let Some(iut) = &mut ctx.session.iut {
            iut.out.learn_prompt();
        }
    }
    let seen = DatagramObs {
        data: Expected::Exact(datagram.data.clone()),
        from: Source::of(datagram.from, program),
    };
    let Some(Observation::Datagram(want)) = expected else {
        return StepEnd::Ok(Some(Observation::Datagram(seen)));
    };
    if want.data.matches(&datagram.data) && want.from == seen.from {
        // The fixture's form (a digest stays a digest).
        return StepEnd::Ok(Some(Observation::Datagram(want.clone())));
    }
    let observed = Observation::Datagram(seen).to_string();
    let want_bytes = match &want.data {
        Expected::Exact(b) => Some(b.clone()),
        Expected::Digest { .. } => None,
    };
    StepEnd::Fail(Failure::new(
        Symptom::UnexpectedBytes {
            got: datagram.data,
            want: want_bytes,
        },
        Some(observed.clone()),
        format!(
            "expected the datagram {}, got {observed}",
            Observation::Datagram(want.clone())
        ),
    ))
}

/// Why no datagram came to `name`, with the hint the evidence supports.
fn nothing_came(
    ctx: &mut Ctx,
    name: &str,
    no_ports_before: Option<u64>,
    started: Instant,
) -> Failure {
    let within = started.elapsed().as_secs();
    // The answer went to another of the peer's sockets: the server answered someone else.
    let elsewhere = ctx
        .session
        .socks
        .iter()
        .find(|s| s.name != name && !s.inbox.is_empty())
        .map(|s| s.name.clone());
    // Or to a port where nothing is bound (in a private namespace, only the program sends).
    let lost = ctx.private_network
        && no_ports_before
            .zip(sandbox::udp_no_ports())
            .is_some_and(|(before, after)| after > before);
    if ctx.case.role == Role::Server && (elsewhere.is_some() || lost) {
        let where_ = match &elsewhere {
            Some(other) => format!("it went to `{other}`, another client"),
            None => "it went to a port where nothing was bound".to_string(),
        };
        return Failure::new(
            Symptom::Declared(Hint::ReplyToFixedAddress),
            None,
            format!(
                "expected a datagram on `{name}`, but {where_}{}",
                match ctx.session.exited() {
                    true => format!("; then the program exited (status {})", ctx.status_word()),
                    false => format!(" (nothing came on `{name}` within {within}s)"),
                }
            ),
        );
    }
    if ctx.session.exited() {
        let no_address = ctx.session.iut.as_ref().is_some_and(|i| {
            i.err
                .last_lines(20)
                .contains("Destination address required")
        });
        // A client gone before its first datagram never started its work (exited-at-start
        // then shows its stderr's last error, a failed bind for one).
        let first = ctx.session.socks.iter().all(|s| s.last_from.is_none());
        let symptom = if no_address {
            Symptom::Declared(Hint::RecvNoAddress)
        } else if first && ctx.case.role == Role::Client {
            Symptom::ExitedBeforeConnection
        } else {
            Symptom::Died
        };
        return Failure::new(
            symptom,
            Some(format!("exited {}", ctx.status_word())),
            format!(
                "expected a datagram on `{name}`; the program exited (status {}) without sending it",
                ctx.status_word()
            ),
        );
    }
    Failure::new(
        Symptom::Short { got: 0 },
        None,
        format!("expected a datagram on `{name}`, none came within {within}s"),
    )
}

/// The deadline of a wait for a datagram of the program: a client's first datagram comes
/// once it has started, so it gets a server's patience to listen, as a TCP client's
/// connection does; later ones the usual observation time.
fn first_contact_deadline(ctx: &Ctx) -> Instant {
    let first = ctx.session.socks.iter().all(|s| s.last_from.is_none());
    if ctx.case.role == Role::Client && first {
        Instant::now() + ctx.timing.connect
    } else {
        ctx.deadline()
    }
}

fn dropped(ctx: &mut Ctx) -> StepEnd {
    if !ctx.private_network {
        // The host's count grows with any program's lost datagram, and the program's own
        // send cannot be told apart from that noise: the case is not run rather than
        // given a verdict by chance.
        return StepEnd::Fail(Failure {
            observed: None,
            message: "skipped on the shared network: a datagram lost before the server is up \
                      can only be seen in the case's own network namespace"
                .to_string(),
            symptom: Box::new(Symptom::Other),
            verdict: super::context::Verdict::Skipped,
        });
    }
    let seen = ctx.session.no_ports_seen;
    let started = Instant::now();
    let deadline = first_contact_deadline(ctx);
    // The case's own namespace: only the program's datagrams can be dropped here.
    let now = paced(&mut ctx.session, deadline, |s| {
        let count = sandbox::udp_no_ports()?;
        (count > seen || s.exited()).then_some(count)
    });
    match now {
        Some(count) if count > seen => {
            ctx.session.no_ports_seen = count;
            StepEnd::Ok(None)
        }
        Some(_) => StepEnd::Fail(Failure::new(
            Symptom::Died,
            Some(format!("exited {}", ctx.status_word())),
            format!(
                "the program exited (status {}) and none of its datagrams was lost on a port \
                 where nothing was bound",
                ctx.status_word()
            ),
        )),
        None => StepEnd::Fail(Failure::new(
            Symptom::Short { got: 0 },
            None,
            format!(
                "expected the program to send a datagram to a port nobody bound yet; it sent \
                 none within {}s",
                started.elapsed().as_secs()
            ),
        )),
    }
}

/// The family's answers to the engine: its transport, and the datagrams no step took.
pub(crate) struct Hooks;

impl super::Family for Hooks {
    fn transport(&self, steps: &[crate::syntax::Step]) -> Option<sandbox::Transport> {
        steps
            .iter()
            .any(|s| matches!(s, crate::syntax::Step::Udp(_)))
            .then_some(sandbox::Transport::Udp)
    }

    fn unread(&self, ctx: &mut Ctx) -> Option<Failure> {
        unread(ctx)
    }

    fn unexpected_meanwhile(&self, ctx: &mut Ctx) -> Option<String> {
        pending(ctx).map(|(what, _)| format!("it sent datagrams no step expected: {what}"))
    }

    fn breaks_silence(&self, ctx: &mut Ctx) -> Option<(String, Symptom)> {
        pending(ctx).map(|(what, data)| {
            let symptom = Symptom::UnexpectedBytes {
                got: data,
                want: None,
            };
            (format!("the datagram {what}"), symptom)
        })
    }

    fn interest(&self, session: &Session) -> Vec<Interest> {
        session.datagram_interest()
    }
}
