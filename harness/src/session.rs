//! The peer's side of one run: the implementation's process and the peer's sockets, all
//! non-blocking, with one `poll` loop that waits for whichever comes first (bytes on a
//! connection, a printed line, the process's exit) and drains stdout and stderr on every
//! wake-up, so a program that prints a lot never blocks on a full pipe. Everything that
//! crosses the wire or the program's stdio is written to the run's [`Trace`]; one write
//! path serves stdin and sockets alike.

use crate::iut::{Iut, IutSpec};
use crate::sandbox;
use crate::stdout::Printed;
use crate::trace::{Event, Trace};
use rustix::event::{PollFd, PollFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

/// How a connection ended, seen from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// End of stream: the implementation closed (FIN).
    Eof,
    /// Abortive close: the implementation reset the connection (RST).
    Reset,
}

/// How the peer (the harness) ended its side of a connection: the other direction of [`End`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEnd {
    /// `shutdown`: FIN, and the peer goes on reading.
    HalfClose,
    /// `close`: FIN.
    Close,
    /// `reset`: RST.
    Reset,
}

impl End {
    pub fn word(self) -> &'static str {
        match self {
            End::Eof => "eof",
            End::Reset => "reset",
        }
    }
}

/// One of the peer's TCP connections.
pub struct Conn {
    pub name: String,
    sock: Socket,
    /// Bytes read from the socket and not yet taken by an observation.
    pub received: Vec<u8>,
    pub end: Option<End>,
    /// A step has reported the end already (so a later silence window is not broken by it).
    pub end_observed: bool,
    /// The peer shut down its write side (half-close).
    pub shut_write: bool,
    pub local_port: u16,
}

impl Conn {
    fn new(name: &str, sock: Socket) -> io::Result<Conn> {
        sock.set_nonblocking(true)?;
        // Each write is its own segment: the cases control segmentation.
        sock.set_tcp_nodelay(true)?;
        let local_port = sock
            .local_addr()?
            .as_socket()
            .map(|a| a.port())
            .unwrap_or_default();
        Ok(Conn {
            name: name.to_string(),
            sock,
            received: Vec::new(),
            end: None,
            end_observed: false,
            shut_write: false,
            local_port,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Reads what the socket holds now, at most until `received` holds `limit` bytes.
    /// Notes the end of the connection when it comes; every read goes into the trace.
    pub fn fill(&mut self, limit: usize, trace: &mut Trace) {
        while self.end.is_none() && self.received.len() < limit {
            let want = (limit - self.received.len()).min(65536);
            let mut buf = vec![MaybeUninit::<u8>::uninit(); want];
            match self.sock.recv(&mut buf) {
                Ok(0) => self.ended(End::Eof, trace),
                Ok(n) => {
                    // SAFETY: recv initialised the first n bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
                    trace.received(&self.name, bytes);
                    self.received.extend_from_slice(bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.ended(End::Reset, trace),
            }
        }
    }

    fn ended(&mut self, end: End, trace: &mut Trace) {
        self.end = Some(end);
        trace.push(Event::Ended {
            conn: self.name.clone(),
            end,
        });
    }

    /// How many bytes the kernel holds for us, unread.
    pub fn buffered(&self) -> usize {
        rustix::io::ioctl_fionread(&self.sock).map_or(0, |n| n as usize)
    }

    /// Whether the program ended its side (FIN, or a reset): whatever it sent before is
    /// all it will send. Polled, as this does not read.
    pub fn peer_ended(&self) -> bool {
        crate::poll::ready(&self.sock, PollFlags::RDHUP, Some(Duration::ZERO))
    }

    /// Sets the receive low-water mark, so that `poll` reports the socket readable only once
    /// that many bytes are buffered (used by `peek`).
    pub fn set_low_water(&self, bytes: usize) -> io::Result<()> {
        self.sock
            .set_recv_buffer_size(self.sock.recv_buffer_size()?.max(bytes * 2))?;
        let value = bytes.max(1) as libc::c_int;
        // SAFETY: setsockopt with an int option.
        let rc = unsafe {
            libc::setsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes as much as the socket takes now.
    pub fn write_some(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.sock.send(data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.shut_write = true;
        self.sock.shutdown(std::net::Shutdown::Write)
    }

    /// Closes with a FIN, as a program's `close` does; but with a RST, which nothing can
    /// see, when the program has closed its end already and no process holds it any more.
    /// Its socket then waits for our FIN in `FIN_WAIT2`, and a FIN would leave it in
    /// `TIME_WAIT` on the program's port for a minute; on the shared network a server that
    /// does not set `SO_REUSEADDR` could not bind that port again in the next case.
    pub fn close(self) {
        let ends = (self.sock.local_addr(), self.sock.peer_addr());
        if let (Ok(ours), Ok(theirs)) = ends {
            if let (Some(ours), Some(theirs)) = (ours.as_socket(), theirs.as_socket()) {
                if sandbox::orphaned_end(ours, theirs) {
                    let _ = self.sock.set_linger(Some(Duration::ZERO));
                }
            }
        }
    }

    /// Closes abortively: `SO_LINGER` 0 turns the close into a RST. Returns once the
    /// program's end of the connection is gone, at most `RESET_SETTLES` later: on a loaded
    /// machine the kernel may handle the RST after the close returns (in `ksoftirqd`), and
    /// a program's next `send` would still find its connection open, so a case about a
    /// reset between two exchanges would test nothing. Polled: no event says a socket of
    /// another process is gone; the first look usually finds it gone.
    pub fn reset(self) -> io::Result<()> {
        let ends = (self.sock.local_addr(), self.sock.peer_addr());
        self.sock.set_linger(Some(Duration::ZERO))?;
        drop(self);
        let (Ok(ours), Ok(theirs)) = ends else {
            return Ok(());
        };
        let (Some(ours), Some(theirs)) = (ours.as_socket(), theirs.as_socket()) else {
            return Ok(());
        };
        let deadline = Instant::now() + RESET_SETTLES;
        let mut pause = Duration::from_millis(1);
        while sandbox::connection_listed(theirs, ours) && Instant::now() < deadline {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// What a wait is interested in besides the implementation's output and exit.
#[derive(Debug, Clone, Copy)]
pub enum Interest {
    Readable(RawFd),
    Writable(RawFd),
}

/// Where the peer writes: the program's stdin, or one of its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdin,
    Conn(String),
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::Stdin => "stdin",
            Target::Conn(c) => c,
        }
    }
}

/// How a write is cut into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segmentation {
    /// One write.
    Whole,
    /// Pieces of this many bytes, each its own segment, `pace` apart.
    Pieces { size: usize, pace: Duration },
    /// Pieces of 1 to 16 bytes cut at points a generator seeded with `seed` chooses,
    /// `pace` apart: the same seed, the same cuts.
    Random { seed: u64, pace: Duration },
}

impl Segmentation {
    /// The lengths of the pieces `len` bytes are cut into.
    pub fn pieces(self, len: usize) -> Vec<usize> {
        match self {
            Segmentation::Whole => vec![len],
            Segmentation::Pieces { size, .. } => {
                let size = size.max(1);
                (0..len)
                    .step_by(size)
                    .map(|at| size.min(len - at))
                    .collect()
            }
            Segmentation::Random { seed, .. } => {
                // splitmix64: small, well known, and the same on every machine.
                let mut state = seed;
                let mut next = move || {
                    state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    z ^ (z >> 31)
                };
                let mut out = Vec::new();
                let mut left = len;
                while left > 0 {
                    let piece = (1 + (next() % 16) as usize).min(left);
                    out.push(piece);
                    left -= piece;
                }
                out
            }
        }
    }

    fn pace(self) -> Duration {
        match self {
            Segmentation::Whole => Duration::ZERO,
            Segmentation::Pieces { pace, .. } | Segmentation::Random { pace, .. } => pace,
        }
    }
}

/// Why a write did not complete.
#[derive(Debug)]
pub enum WriteError {
    /// The connection or pipe is gone.
    Gone(io::Error),
    /// The program did not read within the deadline.
    Full,
}

/// The process and the peer's sockets of one run.
pub struct Session {
    pub addr: SocketAddr,
    pub iut: Option<Iut>,
    pub listener: Option<Socket>,
    pub conns: Vec<Conn>,
    /// The peer's datagram sockets (the UDP programs).
    pub socks: Vec<Sock>,
    /// The namespace's count of datagrams dropped for want of a socket, as last seen.
    pub no_ports_seen: u64,
    pub trace: Trace,
    /// How many waits ran into their deadline (a passing run reaches none).
    pub deadlines: u32,
    /// The case runs in namespaces of its own (its init is their pid 1).
    pub private: bool,
}

/// Longest single poll when the kernel gives no pidfd to wait on the exit.
const EXIT_POLL_SLICE: Duration = Duration::from_millis(10);
/// How many times its patience a program that keeps printing, or keeps working, may take
/// to listen.
const MAX_PATIENCE_FACTOR: u32 = 6;

/// How long a reset waits for the program's end of the connection to go.
const RESET_SETTLES: Duration = Duration::from_secs(1);
/// Longest pause between two attempts to connect to a program that does not listen yet.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_millis(50);

/// How often a refused connect looks for the program's listeners elsewhere.
const LOOK_ELSEWHERE_EVERY: Duration = Duration::from_millis(100);

impl Session {
    pub fn new(addr: SocketAddr) -> Session {
        Session {
            addr,
            iut: None,
            listener: None,
            conns: Vec::new(),
            socks: Vec::new(),
            no_ports_seen: crate::sandbox::udp_no_ports().unwrap_or(0),
            trace: Trace::new(),
            deadlines: 0,
            private: false,
        }
    }

    /// Starts the program; what it prints goes to `printed`.
    pub fn spawn(&mut self, spec: &IutSpec, printed: Printed) -> io::Result<()> {
        let mut iut = Iut::spawn(spec, self.addr, printed, self.private)?;
        // Datagram sockets bound before the program started: their ports are redacted too.
        for sock in &self.socks {
            iut.out.add_port(sock.port(), &sock.name);
        }
        self.iut = Some(iut);
        self.trace.push(Event::Spawned);
        Ok(())
    }

    pub fn conn(&mut self, name: &str) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.name == name)
    }

    pub fn take_conn(&mut self, name: &str) -> Option<Conn> {
        let i = self.conns.iter().position(|c| c.name == name)?;
        Some(self.conns.remove(i))
    }

    /// Reads what connection `name` holds now, up to `limit` bytes received in all.
    pub fn fill(&mut self, name: &str, limit: usize) -> Option<&mut Conn> {
        let Session { conns, trace, .. } = self;
        let conn = conns.iter_mut().find(|c| c.name == name)?;
        conn.fill(limit, trace);
        Some(conn)
    }

    pub fn exited(&self) -> bool {
        self.iut.as_ref().is_some_and(|i| i.exited())
    }

    /// Notes a connection the peer opened.
    fn opened(&mut self, conn: Conn) {
        if let Some(iut) = &mut self.iut {
            iut.out.add_port(conn.local_port, &conn.name);
        }
        self.trace.push(Event::Opened {
            conn: conn.name.clone(),
        });
        self.conns.push(conn);
    }

    /// Notes that the peer half-closed, closed or reset a connection, or closed stdin.
    pub fn peer_closed(&mut self, conn: &str, how: &'static str) {
        self.trace.push(Event::PeerClosed {
            conn: conn.to_string(),
            how,
        });
    }

    /// Waits at most `timeout` for one of `interest`, output or exit; then drains output.
    pub fn pump(&mut self, timeout: Duration, interest: &[Interest]) {
        let mut fds: Vec<PollFd<'_>> = interest
            .iter()
            .map(|i| {
                let (fd, events) = match *i {
                    Interest::Readable(fd) => (fd, PollFlags::IN),
                    Interest::Writable(fd) => (fd, PollFlags::OUT),
                };
                // SAFETY: an interest names a socket its caller holds (a connection, the
                // listener, a datagram socket, one being connected) or the program's
                // stdin, open for the whole wait; the borrow ends with the poll below.
                PollFd::from_borrowed_fd(unsafe { BorrowedFd::borrow_raw(fd) }, events)
            })
            .collect();
        let mut timeout = timeout;
        if let Some(iut) = &self.iut {
            fds.extend(
                iut.poll_fds()
                    .into_iter()
                    .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN)),
            );
            if iut.needs_exit_polling() {
                timeout = timeout.min(EXIT_POLL_SLICE);
            }
        }
        let _ = crate::poll::poll_fds(&mut fds, Some(timeout));
        self.drain();
    }

    /// Reads what the program printed, and notes its exit.
    pub fn drain(&mut self) {
        if let Some(iut) = &mut self.iut {
            let was_running = !iut.exited();
            let (lines, bytes, head) = iut.drain();
            if bytes > 0 {
                self.trace.push(Event::Printed { lines, bytes, head });
            }
            if was_running {
                if let Some(status) = iut.status {
                    self.trace.push(Event::Exited {
                        status: crate::iut::describe_status(status),
                    });
                }
            }
        }
    }

    /// Calls `done` until it gives a value or `deadline` passes, pumping in between. A
    /// wait that reaches its deadline is counted.
    pub fn wait_for<T>(
        &mut self,
        deadline: Instant,
        interest: &dyn Fn(&Session) -> Vec<Interest>,
        done: impl FnMut(&mut Session) -> Option<T>,
    ) -> Option<T> {
        let found = self.wait_until(deadline, interest, done);
        if found.is_none() {
            self.deadlines += 1;
        }
        found
    }

    /// As [`Session::wait_for`], for a wait whose end is not a failure (a silence window,
    /// pacing, a grace period): reaching `until` is not counted as a deadline.
    pub fn wait_until<T>(
        &mut self,
        until: Instant,
        interest: &dyn Fn(&Session) -> Vec<Interest>,
        mut done: impl FnMut(&mut Session) -> Option<T>,
    ) -> Option<T> {
        loop {
            if let Some(value) = done(self) {
                return Some(value);
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            let fds = interest(self);
            self.pump(until - now, &fds);
        }
    }

    /// Writes all of `data` to `target`, cut as `segmentation` says, each piece within
    /// `deadline` of its start. Stdin and sockets share this one path.
    pub fn write(
        &mut self,
        target: &Target,
        data: &[u8],
        segmentation: Segmentation,
        deadline: Duration,
    ) -> Result<(), WriteError> {
        let pace = segmentation.pace();
        let mut at = 0;
        for (i, piece) in segmentation.pieces(data.len()).into_iter().enumerate() {
            let chunk = &data[at..at + piece];
            at += piece;
            if i > 0 {
                // Deliberate pacing, so each piece leaves as a segment of its own.
                self.wait_until(Instant::now() + pace, &|_| Vec::new(), |_| None::<()>);
            }
            let until = Instant::now() + deadline;
            let mut sent = 0;
            while sent < chunk.len() {
                let fd = match target {
                    Target::Stdin => self.iut.as_ref().and_then(|i| i.stdin_fd()),
                    Target::Conn(name) => {
                        self.conns.iter().find(|c| &c.name == name).map(|c| c.fd())
                    }
                };
                let Some(fd) = fd else {
                    return Err(WriteError::Gone(io::Error::new(
                        io::ErrorKind::NotConnected,
                        format!("`{}` is closed", target.name()),
                    )));
                };
                let result = self.wait_for(until, &|_| vec![Interest::Writable(fd)], |s| {
                    let wrote = match target {
                        Target::Stdin => s.iut.as_mut()?.write_stdin(&chunk[sent..]),
                        Target::Conn(name) => s.conn(name)?.write_some(&chunk[sent..]),
                    };
                    match wrote {
                        Ok(0) => None,
                        other => Some(other),
                    }
                });
                match result {
                    Some(Ok(n)) => {
                        sent += n;
                        self.trace.push(Event::Wrote {
                            to: target.name().to_string(),
                            bytes: n,
                            head: crate::trace::head(&chunk[sent - n..sent]),
                        });
                    }
                    Some(Err(e)) => return Err(WriteError::Gone(e)),
                    None => return Err(WriteError::Full),
                }
            }
        }
        Ok(())
    }

    /// Connects to the implementation's address, retrying while nothing listens yet, until
    /// `deadline`, until the implementation exits, or until `listens_elsewhere` says that
    /// waiting longer is pointless. Attempts are paced by the clock, not by how often the
    /// program wakes the loop: between two, the loop only drains what it prints.
    pub fn connect(
        &mut self,
        name: &str,
        patience: Duration,
        listens_elsewhere: &dyn Fn() -> bool,
    ) -> Result<(), ConnectError> {
        let mut backoff = Duration::from_millis(2);
        // A program that is still printing is still starting: each new output gives it
        // `patience` again, up to a cap, so a flood before `listen` is not "not listening"
        // on a loaded machine, and a program that only prints still fails in the end. So
        // is one still working when its patience runs out (runnable: running, or waiting
        // for a core): on a loaded machine, 300 `fork`s before `listen` took longer than
        // the patience. One that sleeps instead of listening is not given more.
        let started = Instant::now();
        let cap = started + patience * MAX_PATIENCE_FACTOR;
        let mut deadline = started + patience;
        let mut printed = self.printed_bytes();
        let mut last_look: Option<Instant> = None;
        loop {
            let now_printed = self.printed_bytes();
            if now_printed != printed {
                printed = now_printed;
                deadline = (Instant::now() + patience).min(cap).max(deadline);
            }
            match self.try_connect(name, deadline) {
                Ok(()) => return Ok(()),
                // Refused: nothing listens yet. Reset: the listener closed while the
                // handshake was under way (a server dying as the next client connects),
                // which the next attempt tells apart: the program has exited, or it listens
                // again, or nothing does.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(ConnectError::NotListening)
                }
                Err(e) => return Err(ConnectError::Io(e)),
            }
            if self.exited() {
                return Err(ConnectError::Exited);
            }
            let now = Instant::now();
            if now >= deadline && now < cap && self.iut.as_ref().is_some_and(|i| i.runnable()) {
                deadline = (now + patience).min(cap);
            }
            if now >= deadline {
                self.deadlines += 1;
                return Err(ConnectError::NotListening);
            }
            // Looking costs a walk of the kernel's whole TCP hash table (about 1.6 ms of
            // CPU: a case's namespace shares the host's), so not at every retry: at most
            // every LOOK_ELSEWHERE_EVERY, which a wrong port is still told within.
            if last_look.is_none_or(|t: Instant| t.elapsed() >= LOOK_ELSEWHERE_EVERY) {
                last_look = Some(Instant::now());
                if listens_elsewhere() {
                    return Err(ConnectError::NotListening);
                }
            }
            // Nothing listens yet: wait for the next attempt (waking at once if it exits).
            let next = now + backoff.min(deadline - now);
            self.wait_until(next, &|_| Vec::new(), |s| s.exited().then_some(()));
            backoff = (backoff * 2).min(MAX_CONNECT_BACKOFF);
        }
    }

    fn printed_bytes(&self) -> u64 {
        self.iut.as_ref().map_or(0, |i| i.out.bytes)
    }

    fn try_connect(&mut self, name: &str, deadline: Instant) -> io::Result<()> {
        let sock = Socket::new(
            Domain::for_address(self.addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        // So that the clearing of a TIME_WAIT on the shared network (`sandbox`) may bind this
        // port again while this socket's own TIME_WAIT holds it.
        sock.set_reuse_address(true)?;
        sock.set_nonblocking(true)?;
        match sock.connect(&SockAddr::from(self.addr)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let fd = sock.as_raw_fd();
                let ready = self.wait_for(deadline, &|_| vec![Interest::Writable(fd)], |_| {
                    crate::poll::ready(&sock, PollFlags::OUT, Some(Duration::ZERO)).then_some(())
                });
                if ready.is_none() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                if let Some(err) = sock.take_error()? {
                    return Err(err);
                }
            }
            Err(e) => return Err(e),
        }
        let conn = Conn::new(name, sock)?;
        self.opened(conn);
        Ok(())
    }

    /// Listens on the implementation's address (the peer as server).
    pub fn listen(&mut self) -> io::Result<()> {
        let sock = Socket::new(
            Domain::for_address(self.addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        sock.set_reuse_address(true)?;
        sock.bind(&SockAddr::from(self.addr))?;
        sock.listen(16)?;
        sock.set_nonblocking(true)?;
        self.listener = Some(sock);
        Ok(())
    }

    /// Accepts the implementation's connection; `None` at the deadline or when the
    /// implementation exited without connecting.
    pub fn accept(&mut self, name: &str, deadline: Instant) -> io::Result<Option<()>> {
        let Some(fd) = self.listener.as_ref().map(|l| l.as_raw_fd()) else {
            return Err(io::Error::other("the peer is not listening"));
        };
        let accepted = self.wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
            let listener = s.listener.as_ref()?;
            match listener.accept() {
                Ok((sock, _)) => Some(Ok(sock)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // An exit with nothing queued means it never connected.
                    s.exited().then(|| Err(io::ErrorKind::NotConnected.into()))
                }
                Err(e) => Some(Err(e)),
            }
        });
        match accepted {
            None => Ok(None),
            Some(Err(e)) if e.kind() == io::ErrorKind::NotConnected => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(sock)) => {
                let conn = Conn::new(name, sock)?;
                self.opened(conn);
                Ok(Some(()))
            }
        }
    }

    /// Kills the implementation and closes every socket: the connections with a RST, which
    /// the dead program cannot see, so that its closed ends leave no `TIME_WAIT` on its port
    /// (see [`Conn::close`]).
    pub fn teardown(&mut self) {
        if let Some(iut) = &mut self.iut {
            iut.kill();
        }
        self.drain();
        for conn in self.conns.drain(..) {
            let _ = conn.reset();
        }
        self.socks.clear();
        self.listener = None;
    }
}

/// The largest datagram (IPv4's limit): each is received whole, to see its real length.
pub const MAX_DATAGRAM: usize = 65_536;
/// Datagrams kept unread per socket; a program that floods the peer is named with the
/// first of them, and memory stays bounded.
const MAX_QUEUED: usize = 64;

/// A datagram the peer received, and from where.
#[derive(Debug)]
pub struct Datagram {
    pub data: Vec<u8>,
    pub from: SocketAddr,
}

/// One datagram socket of the peer, and what it received that no step took yet.
#[derive(Debug)]
pub struct Sock {
    pub name: String,
    socket: UdpSocket,
    pub inbox: VecDeque<Datagram>,
    /// Datagrams received beyond [`MAX_QUEUED`] (counted, not kept).
    pub overflow: usize,
    /// Where the last datagram a step took came from: where `sendto` answers.
    pub last_from: Option<SocketAddr>,
}

impl Sock {
    pub fn bind(name: &str, addr: SocketAddr) -> io::Result<Sock> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        Ok(Sock {
            name: name.to_string(),
            socket,
            inbox: VecDeque::new(),
            overflow: 0,
            last_from: None,
        })
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(data, to)
    }

    /// Takes every datagram waiting in the socket into the inbox.
    fn fill(&mut self, trace: &mut Trace) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    trace.datagram(&self.name, from, &buf[..n]);
                    if self.inbox.len() < MAX_QUEUED {
                        self.inbox.push_back(Datagram {
                            data: buf[..n].to_vec(),
                            from,
                        });
                    } else {
                        self.overflow += 1;
                    }
                }
                // An ICMP error from an earlier send to a port nobody bound may surface
                // once; it is not a datagram of the program.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(_) => break,
            }
        }
    }
}

impl Session {
    /// Reads what every datagram socket of the session holds now.
    pub fn fill_datagrams(&mut self) {
        let Session { socks, trace, .. } = self;
        for sock in socks.iter_mut() {
            sock.fill(trace);
        }
    }

    /// The readable interest of every datagram socket.
    pub fn datagram_interest(&self) -> Vec<Interest> {
        self.socks
            .iter()
            .map(|s| Interest::Readable(s.fd()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose other end ("the program's") closed first, as a `Conn` of ours.
    fn closed_by_the_other_end() -> (Conn, SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("an address");
        let ours = std::net::TcpStream::connect(addr).expect("connects");
        let (theirs, _) = listener.accept().expect("accepts");
        drop(listener);
        drop(theirs);
        let conn = Conn::new("c1", Socket::from(ours)).expect("a conn");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut trace = Trace::default();
        let mut conn = conn;
        while conn.end.is_none() && Instant::now() < deadline {
            conn.fill(1, &mut trace);
            // Waits for the FIN, at most 100 ms a round.
            crate::poll::ready(&conn.sock, PollFlags::IN, Some(Duration::from_millis(100)));
        }
        assert_eq!(conn.end, Some(End::Eof));
        (conn, addr)
    }

    #[test]
    fn closing_after_the_other_end_closed_leaves_no_time_wait_on_its_port() {
        let (conn, addr) = closed_by_the_other_end();
        conn.close();
        assert_eq!(sandbox::leftovers_on(addr), []);
        // Without the reset, the other end's port waits in TIME_WAIT.
        let (conn, addr) = closed_by_the_other_end();
        drop(conn);
        let deadline = Instant::now() + Duration::from_secs(5);
        // On loopback the FIN is handled within the close, so this rarely goes round.
        while sandbox::leftovers_on(addr).is_empty() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(sandbox::leftovers_on(addr).len(), 1);
        sandbox::purge_time_wait(addr);
    }

    #[test]
    fn segmentations_cut_every_byte_once_and_random_cuts_replay() {
        let pace = Duration::ZERO;
        assert_eq!(Segmentation::Whole.pieces(5), [5]);
        assert_eq!(Segmentation::Pieces { size: 2, pace }.pieces(5), [2, 2, 1]);
        let random = Segmentation::Random { seed: 7, pace };
        let cuts = random.pieces(1000);
        assert_eq!(cuts.iter().sum::<usize>(), 1000);
        assert!(cuts.iter().all(|&p| (1..=16).contains(&p)));
        assert_eq!(cuts, random.pieces(1000), "the same seed, the same cuts");
        assert_ne!(cuts, Segmentation::Random { seed: 8, pace }.pieces(1000));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("nothing listens there")]
    NotListening,
    #[error("the implementation exited before it accepted the connection")]
    Exited,
    #[error("{0}")]
    Io(io::Error),
}
