//! The reference implementation of the tutorial's socket programs: the program table, the
//! error type, and [`run_with`], which the command line (`cli`) calls.
//!
//! Every program uses blocking std sockets, the tutorial's buffer sizes (`recv(1024)`,
//! `recv(2)`, `recvfrom(1024)`, ...) and the tutorial's prints, because the fixtures the
//! suites check against are recorded from it: whatever it does on the wire and on stdout
//! *is* the expected behaviour, so it must be exactly what `SPEC.md` says and nothing more.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;

pub mod cli;
mod client;
mod command;
mod console;
mod echo;
pub mod frame;
mod framed;
mod net;
pub mod pyrepr;
mod recv;
mod rexec;
mod sticky;
#[cfg(test)]
mod testutil;
mod udp;

/// How an echo server answers, read from a course's word `reply`: the harness checks a
/// suite's word with the very parser the reference runs.
pub use echo::EchoReply;

pub use command::Limits;
use net::{Datagram, Listener};

/// The side a program plays: of a TCP connection, or of a UDP exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Binds, then listens and accepts (TCP) or waits for datagrams (UDP).
    Server,
    /// Connects (TCP), or sends datagrams to the server's address (UDP).
    Client,
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "server" => Ok(Role::Server),
            "client" => Ok(Role::Client),
            _ => Err(Error::UnknownRole(s.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Server => "server",
            Role::Client => "client",
        })
    }
}

/// How a program's two sides talk, which decides what its server binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A stream: the server binds and listens with the tutorial's `listen(backlog)`.
    Tcp { backlog: i32 },
    /// Datagrams: the server binds and receives, with no listen and so no backlog.
    Udp,
}

/// One program of `SPEC.md`: its id (the subcommand, the suite and fixture name), the
/// tutorial's hard-coded address and transport (with TCP's `listen()` backlog), the roles
/// the reference implements, and whether its server runs the commands it receives.
#[derive(Debug)]
pub struct Program {
    pub id: &'static str,
    pub default_addr: &'static str,
    pub transport: Transport,
    pub roles: &'static [Role],
    /// The server is a remote shell: it serves loopback only unless asked otherwise, and
    /// runs each command under [`Limits`].
    pub runs_commands: bool,
}

const BOTH: &[Role] = &[Role::Server, Role::Client];
// In the recv demonstrations the interesting side is the server; the peer plays the client.
const SERVER_ONLY: &[Role] = &[Role::Server];

/// Every program the reference implements, in the tutorial's order.
pub const PROGRAMS: &[Program] = &[
    Program {
        id: "echo1",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: false,
    },
    Program {
        id: "echo2",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: false,
    },
    Program {
        id: "echo3",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: false,
    },
    Program {
        id: "recv-partial",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: SERVER_ONLY,
        runs_commands: false,
    },
    Program {
        id: "recv-block",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: SERVER_ONLY,
        runs_commands: false,
    },
    Program {
        id: "recv-eof",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: SERVER_ONLY,
        runs_commands: false,
    },
    Program {
        id: "rexec1",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: true,
    },
    Program {
        id: "rexec2",
        default_addr: "127.0.0.1:8848",
        transport: Transport::Tcp { backlog: 2 },
        roles: BOTH,
        runs_commands: true,
    },
    // The rexec1 pair under another name: SPEC.md's first sticky-packet case is shown
    // with it, and has its own suite and fixtures.
    Program {
        id: "sticky1",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: true,
    },
    Program {
        id: "sticky2",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: false,
    },
    // The two fixes of the sticky packets: rexec1's remote shell with framed replies.
    Program {
        id: "framed-low",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: true,
    },
    Program {
        id: "framed-header",
        default_addr: "127.0.0.1:8080",
        transport: Transport::Tcp { backlog: 5 },
        roles: BOTH,
        runs_commands: true,
    },
    Program {
        id: "udp-hello",
        default_addr: "127.0.0.1:9000",
        transport: Transport::Udp,
        roles: BOTH,
        runs_commands: false,
    },
    Program {
        id: "udp-chat",
        default_addr: "127.0.0.1:8081",
        transport: Transport::Udp,
        roles: BOTH,
        runs_commands: false,
    },
];

/// The program with this id, if the reference implements it.
pub fn find(id: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|program| program.id == id)
}

/// How to run a program, besides which one and which role: everything the command line
/// can say.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where servers bind and clients connect; the program's `default_addr` when `None`.
    pub addr: Option<SocketAddr>,
    /// Lets a server that runs commands bind an address other than loopback.
    pub allow_remote: bool,
    /// The time limit and reply cap of each command, for the servers that run commands.
    pub limits: Limits,
    /// The longest body and header the framed clients accept: a frame that declares more
    /// is a protocol error, found before any of it is stored.
    pub frame_limits: frame::Limits,
    /// The literals a course may change, by name (`--word quit=q`): each program reads
    /// those it has (the echo servers' `reply`; udp-hello's `request` and `reply`;
    /// udp-chat's client: `contacts`, space-separated, and `quit`) and keeps the tutorial's
    /// for the others.
    pub words: std::collections::BTreeMap<String, String>,
}

/// Runs one role of one program: servers bind the address, clients connect or send to it.
/// Prints go to stdout, prompts read stdin.
///
/// Returns when the program would exit 0; the servers of echo3, rexec1, rexec2, sticky1,
/// framed-low and framed-header never return `Ok`, nor does udp-chat's while stdin lasts.
/// A server that runs commands refuses an address other than loopback unless
/// `options.allow_remote` is set: it would give a shell to anyone who can reach it.
pub fn run_with(id: &str, role: Role, options: &Options) -> Result<(), Error> {
    let program = find(id).ok_or_else(|| Error::UnknownProgram(id.to_owned()))?;
    if !program.roles.contains(&role) {
        return Err(Error::NoRole {
            program: program.id,
            role,
        });
    }
    let addr = match options.addr {
        Some(addr) => addr,
        None => program
            .default_addr
            .parse()
            .expect("every default address in PROGRAMS is a valid socket address"),
    };
    // Locked once for the whole run: the programs are single-threaded, and every print
    // flushes, so nothing waits in the buffer when the harness reads a line.
    let mut out = io::stdout().lock();
    match role {
        Role::Server => {
            if program.runs_commands && !options.allow_remote && !is_loopback(addr) {
                return Err(Error::RemoteShell { addr });
            }
            let backlog = match program.transport {
                Transport::Tcp { backlog } => backlog,
                Transport::Udp => return run_udp_server(program, addr, options, &mut out),
            };
            // A course's words are checked before the address is taken.
            check_words(program.id, &options.words)?;
            let echo_reply = || echo::EchoReply::from_words(program.id, &options.words);
            let listener = Listener::bind(addr, backlog)?;
            let limits = &options.limits;
            match program.id {
                "echo1" => echo::echo1_server(listener, &echo_reply()?, &mut out),
                "echo2" => echo::echo2_server(listener, &echo_reply()?, &mut out),
                "echo3" => echo::echo3_server(listener, &echo_reply()?, &mut out),
                "recv-partial" => recv::recv_partial_server(listener, &mut out),
                "recv-block" => recv::recv_block_server(listener, &mut out),
                "recv-eof" => recv::recv_eof_server(listener, &mut out),
                "rexec1" => rexec::rexec1_server(listener, &mut out, limits),
                "rexec2" => rexec::rexec2_server(listener, &mut out, limits),
                "sticky1" => sticky::sticky1_server(listener, &mut out, limits),
                "sticky2" => {
                    let reads = sticky::Sticky2Reads::from_words(&options.words)?;
                    sticky::sticky2_server(listener, reads, &mut out)
                }
                "framed-low" => framed::framed_low_server(listener, limits),
                "framed-header" => framed::framed_header_server_keyed(
                    listener,
                    limits,
                    &header_keys(&options.words)?,
                ),
                _ => unreachable!("PROGRAMS lists a server with no implementation"),
            }
        }
        Role::Client => {
            let mut input = io::stdin().lock();
            match program.id {
                "echo1" => echo::echo1_client(addr, &mut out),
                "echo2" => echo::echo2_client(addr, &mut input, &mut out),
                "echo3" => echo::echo3_client(addr, &mut input, &mut out),
                "rexec1" => rexec::rexec1_client(addr, &mut input, &mut out),
                "rexec2" => rexec::rexec2_client(addr, &mut input, &mut out),
                "sticky1" => sticky::sticky1_client(addr, &mut input, &mut out),
                "sticky2" => sticky::sticky2_client(addr),
                "framed-low" => {
                    framed::framed_low_client(addr, &mut input, &mut out, &options.frame_limits)
                }
                "framed-header" => framed::framed_header_client_keyed(
                    addr,
                    &mut input,
                    &mut out,
                    &options.frame_limits,
                    &header_keys(&options.words)?,
                ),
                "udp-hello" => {
                    udp::hello_client(addr, &udp::HelloWords::from_words(&options.words), &mut out)
                }
                "udp-chat" => {
                    let words = udp::ChatWords::from_words(&options.words);
                    udp::chat_client(addr, &words, &mut input, &mut out)
                }
                _ => unreachable!("PROGRAMS lists a client with no implementation"),
            }
        }
    }
}

/// Checks the words a course gives program `id` that the reference reads and could not
/// take (the echo servers' `reply`, sticky2's `recv`), so that a bad one is named before a
/// program starts; the harness checks a suite's words with it when it loads.
pub fn check_words(
    id: &str,
    words: &std::collections::BTreeMap<String, String>,
) -> Result<(), Error> {
    match id {
        "echo1" | "echo2" | "echo3" => echo::EchoReply::from_words(id, words).map(drop),
        "sticky2" => sticky::Sticky2Reads::from_words(words).map(drop),
        "framed-header" => header_keys(words).map(drop),
        _ => Ok(()),
    }
}

/// framed-header's word `keys`: the names of its header's size, file name and digest keys
/// (the tutorial's `total_size file_name md5` when the word is not given).
fn header_keys(
    words: &std::collections::BTreeMap<String, String>,
) -> Result<frame::HeaderKeys, Error> {
    words.get("keys").map_or_else(
        || Ok(frame::HeaderKeys::default()),
        |text| {
            frame::HeaderKeys::parse(text).map_err(|message| Error::BadWord {
                word: "keys".into(),
                message,
            })
        },
    )
}

/// The server role of a UDP program: its socket is bound here, as a TCP server's listener
/// is in [`run_with`], so a bind that fails gives the same error naming the address.
fn run_udp_server(
    program: &Program,
    addr: SocketAddr,
    options: &Options,
    out: &mut impl io::Write,
) -> Result<(), Error> {
    let socket = Datagram::bind(addr)?;
    match program.id {
        "udp-hello" => udp::hello_server(socket, &udp::HelloWords::from_words(&options.words), out),
        "udp-chat" => udp::chat_server(socket, &mut io::stdin().lock(), out),
        _ => unreachable!("PROGRAMS lists a UDP server with no implementation"),
    }
}

/// Whether `addr` can only be reached from this machine: 127.0.0.0/8, `::1`, or an
/// IPv4-mapped IPv6 form of those.
fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Everything that stops a program, each message naming what it was about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No program has this id.
    #[error("unknown program `{0}`")]
    UnknownProgram(String),
    /// Neither `server` nor `client`.
    #[error("unknown role `{0}` (expected `server` or `client`)")]
    UnknownRole(String),
    /// The program exists but the reference does not implement this role of it.
    #[error("program `{program}` has no {role} role")]
    NoRole { program: &'static str, role: Role },
    /// A server that runs commands was asked to bind an address other than loopback
    /// without `allow_remote`.
    #[error(
        "refusing to serve a remote shell on `{addr}` (not loopback); \
         add --allow-remote if you mean it"
    )]
    RemoteShell { addr: SocketAddr },
    /// Creating the listening socket or binding it failed.
    #[error("cannot bind `{addr}`: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// `listen` on the bound socket failed.
    #[error("cannot listen on `{addr}`: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    /// `accept` on the listener failed.
    #[error("cannot accept a connection on `{addr}`: {source}")]
    Accept { addr: SocketAddr, source: io::Error },
    /// The client could not connect.
    #[error("cannot connect to `{addr}`: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    /// A `recv` on a connection failed (a reset, typically).
    #[error("cannot receive from `{peer}`: {source}")]
    Recv { peer: SocketAddr, source: io::Error },
    /// A `recvfrom` on the UDP socket bound to `addr` failed. It has no peer to name: a
    /// datagram may come from anyone.
    #[error("cannot receive a datagram on `{addr}`: {source}")]
    RecvFrom { addr: SocketAddr, source: io::Error },
    /// A send on a connection, or a `sendto` of a datagram, failed (a reset or a broken
    /// pipe, typically, for TCP).
    #[error("cannot send to `{peer}`: {source}")]
    Send { peer: SocketAddr, source: io::Error },
    /// A framed client received a frame that breaks the protocol; the stream cannot be
    /// read any further.
    #[error("bad frame from `{peer}`: {source}")]
    BadFrame {
        peer: SocketAddr,
        source: frame::FrameError,
    },
    /// The server closed the connection in the middle of a frame: `received` bytes of it
    /// had come, and at least `missing` more were due.
    #[error(
        "`{peer}` closed the connection in the middle of a frame, after {received} \
         byte(s) of it; at least {missing} more were due"
    )]
    ClosedMidFrame {
        peer: SocketAddr,
        received: usize,
        missing: usize,
    },
    /// Reading a line of standard input failed (not its end: that is no error).
    #[error("cannot read standard input: {0}")]
    Stdin(#[source] io::Error),
    /// A course's word (`--word NAME=VALUE`) the program cannot take.
    #[error("the word `{word}`: {message}")]
    BadWord { word: String, message: String },
    /// Printing failed, e.g. the reader of stdout went away.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] io::Error),
}

impl Error {
    /// Whether this is a receive or send that failed because the peer is gone: a reset,
    /// or a broken pipe, which is what sending after a reset gives. The tutorial's
    /// servers catch `ConnectionResetError` to end a conversation; this is that test.
    pub(crate) fn is_peer_gone(&self) -> bool {
        match self {
            Error::Recv { source, .. } | Error::Send { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
            _ => false,
        }
    }
}

/// A client's send or receive between two exchanges: `Ok(None)` when the server is gone
/// (a reset, or the broken pipe that sending after one gives). SPEC.md: a server that
/// closes between exchanges, in either way, ends the client, which exits 0.
pub(crate) fn unless_server_gone<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_peer_gone() => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_peer_that_left_ends_the_exchanges_quietly() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let recv = |kind| Error::Recv {
            peer,
            source: io::Error::from(kind),
        };
        for gone in [io::ErrorKind::ConnectionReset, io::ErrorKind::BrokenPipe] {
            assert!(matches!(
                unless_server_gone::<()>(Err(recv(gone))),
                Ok(None)
            ));
        }
        // Any other failure is still an error: the client must not exit 0 on it.
        let other = unless_server_gone::<()>(Err(recv(io::ErrorKind::TimedOut)));
        assert!(matches!(other, Err(Error::Recv { .. })));
        assert!(matches!(unless_server_gone(Ok(7)), Ok(Some(7))));
    }

    #[test]
    fn program_ids_are_unique_and_found() {
        for (i, program) in PROGRAMS.iter().enumerate() {
            assert!(PROGRAMS[..i].iter().all(|other| other.id != program.id));
            assert_eq!(find(program.id).map(|p| p.id), Some(program.id));
        }
        assert!(find("echo4").is_none());
    }

    #[test]
    fn default_addresses_parse() {
        for program in PROGRAMS {
            let parsed: Result<SocketAddr, _> = program.default_addr.parse();
            assert!(parsed.is_ok(), "{}: {}", program.id, program.default_addr);
        }
    }

    #[test]
    fn role_round_trips_through_its_name() {
        for role in [Role::Server, Role::Client] {
            assert_eq!(role.to_string().parse::<Role>().ok(), Some(role));
        }
        let err = "Server".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown role `Server` (expected `server` or `client`)"
        );
    }

    #[test]
    fn run_refuses_unknown_programs_and_roles() {
        let err = run_with("foo", Role::Server, &Options::default()).unwrap_err();
        assert_eq!(err.to_string(), "unknown program `foo`");
        let err = run_with("recv-eof", Role::Client, &Options::default()).unwrap_err();
        assert_eq!(err.to_string(), "program `recv-eof` has no client role");
    }

    #[test]
    fn bind_error_names_the_address() {
        let first = testutil::ephemeral();
        let addr = first.local_addr();
        // SO_REUSEADDR does not let a second socket listen where one already listens.
        let err = Listener::bind(addr, 5).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("cannot bind `{addr}`: ")),
            "{message}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn udp_servers_bind_udp_and_name_the_address_when_it_is_taken() {
        for id in ["udp-hello", "udp-chat"] {
            let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = taken.local_addr().unwrap();
            let options = Options {
                addr: Some(addr),
                ..Options::default()
            };
            // In a thread with a deadline: a server that bound TCP instead would not fail,
            // it would wait for a connection forever.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || tx.send(run_with(id, Role::Server, &options)));
            let err = rx.recv_timeout(testutil::DEADLINE).unwrap().unwrap_err();
            assert!(matches!(err, Error::Bind { .. }), "{id}: {err}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("cannot bind `{addr}`: ")),
                "{id}: {message}"
            );
        }
    }

    #[test]
    fn servers_that_run_commands_refuse_remote_addresses() {
        for (id, addr) in [
            ("rexec1", "0.0.0.0:0"),
            ("rexec2", "[::]:0"),
            ("sticky1", "192.0.2.1:0"),
            ("framed-low", "0.0.0.0:0"),
            ("framed-header", "[::ffff:10.0.0.1]:0"),
        ] {
            let options = Options {
                addr: Some(addr.parse().unwrap()),
                ..Options::default()
            };
            let err = run_with(id, Role::Server, &options).unwrap_err();
            assert!(matches!(err, Error::RemoteShell { .. }), "{id}: {err}");
        }
        let err = run_with(
            "rexec1",
            Role::Server,
            &Options {
                addr: Some("0.0.0.0:8080".parse().unwrap()),
                ..Options::default()
            },
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "refusing to serve a remote shell on `0.0.0.0:8080` (not loopback); \
             add --allow-remote if you mean it"
        );
    }

    #[test]
    fn loopback_is_any_127_address_and_its_ipv6_forms() {
        for addr in [
            "127.0.0.1:1",
            "127.1.2.3:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(is_loopback(addr.parse().unwrap()), "{addr}");
        }
        for addr in ["0.0.0.0:1", "[::]:1", "10.0.0.1:1", "[::ffff:10.0.0.1]:1"] {
            assert!(!is_loopback(addr.parse().unwrap()), "{addr}");
        }
    }
}
