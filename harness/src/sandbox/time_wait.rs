//! The `TIME_WAIT` purge of the shared network: connections an earlier case left on the
//! address, cleared so that a server without `SO_REUSEADDR` can bind again.

use super::*;
use rustix::event::{PollFd, PollFlags};

/// Clears what earlier connections left on `addr` on the shared network: `TIME_WAIT` (and
/// orphaned `FIN_WAIT`/`LAST_ACK`/`CLOSING` sockets), which make a server that does not set
/// `SO_REUSEADDR` fail with `Address already in use` for a minute.
///
/// How, without privilege: for each such socket, connect to it from its own remote address
/// (both ends are on loopback, and that port is free again once its socket closed). The
/// leftover answers the SYN with an ACK for the old connection; that ACK finds no socket
/// (the first probe is closed at once) or a second probe that did not send what it
/// acknowledges, and either answers it with a RST carrying exactly the sequence number the
/// leftover expects; Linux drops a `TIME_WAIT` on such a RST (RFC 1337's assassination, on
/// unless `net.ipv4.tcp_rfc1337=1`). The second probe's own SYN then finds nothing and is
/// refused: that refusal is the event that says the leftover is gone. Nothing is sent
/// while something listens on `addr`, so no SYN ever opens a connection. A leftover whose
/// remote port is taken again is left alone. Returns what stays, each with its state and
/// why.
pub fn purge_time_wait(addr: SocketAddr) -> Vec<String> {
    let sockets = proc_net_tcp();
    let before = leftovers(addr, &sockets);
    let listening = sockets
        .iter()
        .any(|s| s.state == LISTEN && s.local.port() == addr.port() && same_ip(s.local, addr));
    if listening {
        // A SYN to a TIME_WAIT goes to a listener on its port, which it would connect to.
        return before
            .iter()
            .map(|l| {
                format!(
                    "{} from `{}` to `{}`: not cleared while a program listens there",
                    state_name(l.state),
                    l.local,
                    l.remote
                )
            })
            .collect();
    }
    let (confirmations, unreachable) = send_probes(&before, &sockets);
    await_refusals(confirmations);
    what_stays(addr, &before, &unreachable)
}

/// Why a leftover could not be reached, by its (local, remote).
type Unreachable = Vec<((SocketAddr, SocketAddr), String)>;

/// Sends each leftover its two probes: the second probes, whose refusal confirms that
/// their leftover is gone, and the leftovers no probe could be sent to, with why.
fn send_probes(
    before: &[ProcSocket],
    sockets: &[ProcSocket],
) -> (Vec<socket2::Socket>, Unreachable) {
    let mut confirmations = Vec::new();
    let mut unreachable = Vec::new();
    for leftover in before {
        let (local, remote) = (leftover.local, leftover.remote);
        let probes = probe(local, remote).and_then(|first| {
            drop(first);
            probe(local, remote)
        });
        match probes {
            Ok(Some(second)) => confirmations.push(second),
            Ok(None) => {}
            Err(e) => unreachable.push((
                (local, remote),
                format!(
                    "nothing can be sent from its other end's port ({e}){}",
                    holder_of_port(remote, sockets, leftover)
                ),
            )),
        }
    }
    (confirmations, unreachable)
}

/// The exchanges are a few packets on loopback: waits for every second probe's refusal,
/// at most until a deadline (a leftover that stays only means a server without
/// SO_REUSEADDR may fail to bind, as it would without sockcheck).
fn await_refusals(confirmations: Vec<socket2::Socket>) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut fds: Vec<PollFd<'_>> = confirmations
        .iter()
        .map(|s| PollFd::new(s, PollFlags::OUT))
        .collect();
    while !fds.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let wait = left.clamp(Duration::from_millis(1), Duration::from_secs(2));
        if let Err(e) = crate::poll::poll_fds(&mut fds, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
        fds.retain(|p| p.revents().is_empty());
    }
}

/// What is left on `addr` after the purge, each with its state and why it stayed.
fn what_stays(addr: SocketAddr, before: &[ProcSocket], unreachable: &Unreachable) -> Vec<String> {
    let left = leftovers(addr, &proc_net_tcp());
    left.iter()
        .map(|l| {
            let key = (l.local, l.remote);
            let why = match unreachable.iter().find(|(k, _)| *k == key) {
                Some((_, why)) => why.clone(),
                None if before.iter().any(|b| (b.local, b.remote) == key) => {
                    "it outlived the reset (is net.ipv4.tcp_rfc1337 set to 1?)".to_string()
                }
                None => "it appeared while the others were cleared".to_string(),
            };
            format!(
                "{} from `{}` to `{}`: {why}",
                state_name(l.state),
                l.local,
                l.remote
            )
        })
        .collect()
}

/// A socket bound to `from` that has sent a SYN to `to`; `None` when the connection was
/// refused at once (nothing was there to clear).
pub(super) fn probe(to: SocketAddr, from: SocketAddr) -> io::Result<Option<socket2::Socket>> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let sock = Socket::new(Domain::for_address(from), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&SockAddr::from(from))?;
    sock.set_nonblocking(true)?;
    match sock.connect(&SockAddr::from(to)) {
        Ok(()) => Ok(Some(sock)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(Some(sock)),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(None),
        Err(e) => Err(e),
    }
}

/// Who holds port `remote` now, besides `leftover`, for the note on an uncleared leftover.
pub(super) fn holder_of_port(
    remote: SocketAddr,
    sockets: &[ProcSocket],
    leftover: &ProcSocket,
) -> String {
    let holder = sockets.iter().find(|s| {
        s.local.port() == remote.port()
            && same_ip(s.local, remote)
            && (s.local, s.remote) != (leftover.local, leftover.remote)
    });
    match holder {
        Some(s) if s.inode != 0 => format!(
            ": {} holds it, {} to `{}`",
            describe_owner(s.inode),
            state_name(s.state),
            s.remote
        ),
        Some(s) => format!(
            ": a closed connection holds it, {} to `{}`",
            state_name(s.state),
            s.remote
        ),
        None => String::new(),
    }
}

/// The name of a TCP state as `/proc/net/tcp` numbers it.
pub(super) fn state_name(state: u8) -> &'static str {
    match state {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        _ => "a socket",
    }
}

/// Whether the other end of our connection `ours`–`theirs` is a socket that its program
/// has closed and no process holds any more (it waits for our FIN, in `FIN_WAIT2`).
pub fn orphaned_end(ours: SocketAddr, theirs: SocketAddr) -> bool {
    proc_net_tcp().iter().any(|s| {
        s.local == theirs && s.remote == ours && s.inode == 0 && LEFTOVER_STATES.contains(&s.state)
    })
}

/// The closed connections on `addr` that keep it bound (`TIME_WAIT` and the like), as
/// (local, remote): what a server without `SO_REUSEADDR` would trip on now.
pub fn leftovers_on(addr: SocketAddr) -> Vec<(SocketAddr, SocketAddr)> {
    leftovers(addr, &proc_net_tcp())
        .into_iter()
        .map(|s| (s.local, s.remote))
        .collect()
}

/// The orphaned sockets on `addr` that keep it bound.
pub(super) fn leftovers(addr: SocketAddr, sockets: &[ProcSocket]) -> Vec<ProcSocket> {
    sockets
        .iter()
        .filter(|s| {
            LEFTOVER_STATES.contains(&s.state)
                && s.inode == 0
                && s.local.port() == addr.port()
                && same_ip(s.local, addr)
                && s.remote.ip().is_loopback()
        })
        .cloned()
        .collect()
}
