//! The socket steps every program shares (listen, accept, connect, `recv`, `sendall`, and
//! UDP's `recvfrom`, `sendto`), each one call to the OS as in the tutorial, and each
//! turning an `io::Error` into an [`Error`] that names the address it was about.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use crate::Error;

/// A listening socket and the address it is bound to.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// `socket()`, `SO_REUSEADDR`, `bind(addr)`, `listen(backlog)`: the tutorial's
    /// backlog is part of each program (`listen(5)` mostly, rexec2's `listen(2)`).
    pub fn bind(addr: SocketAddr, backlog: i32) -> Result<Listener, Error> {
        let bind_error = |source| Error::Bind { addr, source };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(bind_error)?;
        // The tutorial does not set it; the reference does, because it is started on the
        // same address case after case, and a TIME_WAIT left by the previous case would
        // otherwise make this bind fail for a minute.
        socket.set_reuse_address(true).map_err(bind_error)?;
        socket.bind(&addr.into()).map_err(bind_error)?;
        socket
            .listen(backlog)
            .map_err(|source| Error::Listen { addr, source })?;
        // Port 0 asks the OS to choose: remember the port it chose, for messages and tests.
        let addr = socket
            .local_addr()
            .ok()
            .and_then(|local| local.as_socket())
            .unwrap_or(addr);
        Ok(Listener {
            socket: socket.into(),
            addr,
        })
    }

    /// The address the listener is bound to: the tests bind port 0 and connect here.
    #[cfg(test)]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the next client, as `phone.accept()`.
    pub fn accept(&self) -> Result<Conn, Error> {
        loop {
            match self.socket.accept() {
                Ok((stream, peer)) => return Ok(Conn { stream, peer }),
                // A client that gave up while it waited in the backlog is no reason to
                // stop: the next one is served as if it had never come.
                Err(source) if source.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(source) => {
                    return Err(Error::Accept {
                        addr: self.addr,
                        source,
                    })
                }
            }
        }
    }
}

/// One TCP connection and the address of the other end.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
}

impl Conn {
    /// Connects to a server, as `phone.connect(addr)`.
    pub fn connect(addr: SocketAddr) -> Result<Conn, Error> {
        let stream = TcpStream::connect(addr).map_err(|source| Error::Connect { addr, source })?;
        Ok(Conn { stream, peer: addr })
    }

    /// `recv(max)`: one read of at most `max` bytes, whatever is buffered, blocking only
    /// while nothing is. Empty means the peer closed its side (end of stream).
    ///
    /// Never a loop to fill the buffer: how many bytes one `recv` returns is exactly what
    /// the recv and sticky-packet programs demonstrate.
    pub fn recv(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0; max];
        loop {
            match self.stream.read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                // Python retries a recv that a signal interrupted (PEP 475); so do we.
                Err(source) if source.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Recv {
                        peer: self.peer,
                        source,
                    })
                }
            }
        }
    }

    /// Sends all of `data`, as `sendall` (and as `send`, for the short messages here).
    /// Empty data sends nothing, as `send(b'')`.
    pub fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.stream.write_all(data).map_err(|source| Error::Send {
            peer: self.peer,
            source,
        })
    }
}

/// A UDP socket, as `socket(type=socket.SOCK_DGRAM)`: no connection, so every datagram
/// says where it goes, and every `recvfrom` says where it came from.
#[derive(Debug)]
pub struct Datagram {
    socket: UdpSocket,
    /// The local address, for messages and tests.
    addr: SocketAddr,
}

impl Datagram {
    /// A server's socket: `bind(addr)`, nothing more (UDP has no `listen`).
    ///
    /// No `SO_REUSEADDR`, unlike [`Listener::bind`]: UDP leaves no TIME_WAIT behind, and on
    /// Linux the option would let two UDP servers bind the same port and silently share its
    /// datagrams, where the second one must fail with a clear error instead.
    pub fn bind(addr: SocketAddr) -> Result<Datagram, Error> {
        let socket = UdpSocket::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        // Port 0 asks the OS to choose: remember the port it chose, for messages and tests.
        let addr = socket.local_addr().unwrap_or(addr);
        Ok(Datagram { socket, addr })
    }

    /// A client's socket, to talk to `server`: bound to the unspecified address of the
    /// server's family and port 0. That is what Python does for the tutorial's clients,
    /// which never bind: the first `sendto` binds the socket to `0.0.0.0` and a port the
    /// OS chooses, and the socket keeps that port for the rest of its life.
    pub fn for_server(server: SocketAddr) -> Result<Datagram, Error> {
        let any = match server {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        Datagram::bind(any)
    }

    /// The address the socket is bound to: the tests bind port 0 and send here.
    #[cfg(test)]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `recvfrom(max)`: the next datagram and its sender, blocking until one comes. A
    /// datagram longer than `max` is cut to its first `max` bytes and the rest is lost
    /// (Linux; what the tutorial's `recvfrom(1024)` shows). An empty datagram is a message
    /// like any other, not an end: UDP has no end of stream.
    pub fn recv_from(&self, max: usize) -> Result<(Vec<u8>, SocketAddr), Error> {
        let mut buf = vec![0; max];
        loop {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    buf.truncate(n);
                    return Ok((buf, from));
                }
                // Python retries a call that a signal interrupted (PEP 475); so do we.
                Err(source) if source.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::RecvFrom {
                        addr: self.addr,
                        source,
                    })
                }
            }
        }
    }

    /// `sendto(data, peer)`: one datagram. Unlike TCP's `send(b'')`, empty data is a
    /// datagram too, and the peer's `recvfrom` returns it.
    pub fn send_to(&self, data: &[u8], peer: SocketAddr) -> Result<(), Error> {
        loop {
            match self.socket.send_to(data, peer) {
                // A datagram goes whole or not at all: there is no partial send to finish.
                Ok(_) => return Ok(()),
                Err(source) if source.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(Error::Send { peer, source }),
            }
        }
    }
}
