//! The peer's side of one run: the implementation's process and the peer's sockets, all
//! non-blocking, with one `poll` loop that waits for whichever comes first (bytes on a
//! connection, a printed line, the process's exit) and drains stdout and stderr on every
//! wake-up, so a program that prints a lot never blocks on a full pipe.

use crate::iut::{Iut, IutSpec};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// How a connection ended, seen from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// End of stream: the implementation closed (FIN).
    Eof,
    /// Abortive close: the implementation reset the connection (RST).
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
            shut_write: false,
            local_port,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Reads what the socket holds now, at most until `received` holds `limit` bytes.
    /// Notes the end of the connection when it comes.
    pub fn fill(&mut self, limit: usize) {
        while self.end.is_none() && self.received.len() < limit {
            let want = (limit - self.received.len()).min(65536);
            let mut buf = vec![MaybeUninit::<u8>::uninit(); want];
            match self.sock.recv(&mut buf) {
                Ok(0) => self.end = Some(End::Eof),
                Ok(n) => {
                    // SAFETY: recv initialised the first n bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
                    self.received.extend_from_slice(bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.end = Some(End::Reset),
            }
        }
    }

    /// How many bytes the kernel holds for us, unread.
    pub fn buffered(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes an int.
        let rc = unsafe { libc::ioctl(self.fd(), libc::FIONREAD, &mut n) };
        if rc < 0 {
            0
        } else {
            n as usize
        }
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

    /// Closes abortively: `SO_LINGER` 0 turns the close into a RST.
    pub fn reset(self) -> io::Result<()> {
        self.sock.set_linger(Some(Duration::ZERO))?;
        drop(self);
        Ok(())
    }
}

/// What a wait is interested in besides the implementation's output and exit.
#[derive(Debug, Clone, Copy)]
pub enum Interest {
    Readable(RawFd),
    Writable(RawFd),
}

/// The process and the peer's sockets of one run.
pub struct Session {
    pub addr: SocketAddr,
    pub iut: Option<Iut>,
    pub listener: Option<Socket>,
    pub conns: Vec<Conn>,
}

/// Longest single poll when the kernel gives no pidfd to wait on the exit.
const EXIT_POLL_SLICE: Duration = Duration::from_millis(10);

impl Session {
    pub fn new(addr: SocketAddr) -> Session {
        Session {
            addr,
            iut: None,
            listener: None,
            conns: Vec::new(),
        }
    }

    pub fn spawn(&mut self, spec: &IutSpec) -> io::Result<()> {
        self.iut = Some(Iut::spawn(spec, self.addr)?);
        Ok(())
    }

    pub fn conn(&mut self, name: &str) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.name == name)
    }

    pub fn take_conn(&mut self, name: &str) -> Option<Conn> {
        let i = self.conns.iter().position(|c| c.name == name)?;
        Some(self.conns.remove(i))
    }

    pub fn exited(&self) -> bool {
        self.iut.as_ref().is_some_and(|i| i.exited())
    }

    /// The peer's ephemeral ports, redacted from what the implementation prints.
    pub fn peer_ports(&self) -> Vec<u16> {
        self.conns.iter().map(|c| c.local_port).collect()
    }

    /// Waits at most `timeout` for one of `interest`, output or exit; then drains output.
    pub fn pump(&mut self, timeout: Duration, interest: &[Interest]) {
        let mut fds: Vec<libc::pollfd> = interest
            .iter()
            .map(|i| match *i {
                Interest::Readable(fd) => libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                Interest::Writable(fd) => libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                },
            })
            .collect();
        let mut timeout = timeout;
        if let Some(iut) = &self.iut {
            fds.extend(iut.poll_fds().into_iter().map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }));
            if iut.needs_exit_polling() {
                timeout = timeout.min(EXIT_POLL_SLICE);
            }
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if let Some(iut) = &mut self.iut {
            iut.drain();
        }
    }

    /// Calls `done` until it gives a value or `deadline` passes, pumping in between.
    pub fn wait_for<T>(
        &mut self,
        deadline: Instant,
        interest: &dyn Fn(&Session) -> Vec<Interest>,
        mut done: impl FnMut(&mut Session) -> Option<T>,
    ) -> Option<T> {
        loop {
            if let Some(value) = done(self) {
                return Some(value);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let fds = interest(self);
            self.pump(deadline - now, &fds);
        }
    }

    /// Connects to the implementation's address, retrying while nothing listens yet, until
    /// `deadline`, until the implementation exits, or until `listens_elsewhere` says that
    /// waiting longer is pointless.
    pub fn connect(
        &mut self,
        name: &str,
        deadline: Instant,
        listens_elsewhere: &dyn Fn() -> bool,
    ) -> Result<(), ConnectError> {
        let mut backoff = Duration::from_millis(2);
        loop {
            match self.try_connect(name, deadline) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(ConnectError::NotListening)
                }
                Err(e) => return Err(ConnectError::Io(e)),
            }
            if self.exited() {
                return Err(ConnectError::Exited);
            }
            let now = Instant::now();
            if now >= deadline || listens_elsewhere() {
                return Err(ConnectError::NotListening);
            }
            // Nothing listens yet: wait a little for it (waking at once if it exits).
            self.pump(backoff.min(deadline - now), &[]);
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }

    fn try_connect(&mut self, name: &str, deadline: Instant) -> io::Result<()> {
        let sock = Socket::new(
            Domain::for_address(self.addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        sock.set_nonblocking(true)?;
        match sock.connect(&SockAddr::from(self.addr)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let fd = sock.as_raw_fd();
                let ready = self.wait_for(deadline, &|_| vec![Interest::Writable(fd)], |_| {
                    poll_now(fd, libc::POLLOUT).then_some(())
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
        self.conns.push(Conn::new(name, sock)?);
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
                self.conns.push(Conn::new(name, sock)?);
                Ok(Some(()))
            }
        }
    }

    /// Kills the implementation and closes every socket.
    pub fn teardown(&mut self) {
        if let Some(iut) = &mut self.iut {
            iut.kill();
        }
        self.conns.clear();
        self.listener = None;
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

/// Whether `fd` is ready for `events` right now.
pub fn poll_now(fd: RawFd, events: libc::c_short) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}
