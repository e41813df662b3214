//! Remote command execution, the tutorial's two versions (远程执行命令的示例 and
//! 远程执行命令): the server runs each command it receives with `sh -c` and sends back
//! stdout followed by stderr in one unframed reply; rexec2 adds `q` to quit. The
//! commands run in [`crate::command`], bounded by its [`Limits`].

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;

use crate::client::{self, never_last, recv_once, Exchange, Line};
use crate::command::{run_command, Limits};
use crate::console::print_line;
use crate::net::{Conn, Listener};
use crate::Error;

/// The server's `recv(1024)` of a command.
const RECV_SIZE: usize = 1024;
/// What rexec2's server prints when a client sends `q` (the tutorial's words: "the
/// client quit the chat normally").
const QUIT_NOTICE: &str = "客户端正常退出聊天了";
/// What rexec2's client prints instead of sending an empty line ("the message must not
/// be empty"): `send(b'')` sends nothing, and both sides would then wait for ever.
const EMPTY_NOTICE: &str = "发送内容不能为空";

/// rexec1 server: runs each command of each client, one client after another, forever.
pub fn rexec1_server(
    listener: Listener,
    out: &mut impl Write,
    limits: &Limits,
) -> Result<(), Error> {
    serve(listener, out, limits, Quit::Never)
}

/// rexec2 server: rexec1's, except that `q` (or `Q`) ends a client's conversation.
pub fn rexec2_server(
    listener: Listener,
    out: &mut impl Write,
    limits: &Limits,
) -> Result<(), Error> {
    serve(listener, out, limits, Quit::OnQ)
}

/// rexec1 client: a command from stdin out, one `recv(1024)` of its output in, printed,
/// until stdin ends. A reply longer than 1024 bytes is left partly unread, and the rest
/// comes out as the next command's reply: the sticky packets of SPEC.md's sticky1.
pub fn rexec1_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Error> {
    let exchange = Exchange {
        line: Line::AsTyped,
        is_last: never_last,
        receive: recv_once,
    };
    client::converse(addr, input, out, exchange)
}

/// rexec2 client: rexec1's, with the input stripped, empty lines refused, and `q` sent
/// as the last word: the client closes right after it, with no reply to wait for.
pub fn rexec2_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Error> {
    let exchange = Exchange {
        line: Line::Stripped {
            empty_notice: Some(EMPTY_NOTICE),
        },
        is_last: is_quit,
        receive: recv_once,
    };
    client::converse(addr, input, out, exchange)
}

/// Whether a conversation can end at the client's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quit {
    /// rexec1: every message is a command (`q` too, which the shell does not know).
    Never,
    /// rexec2: `q` or `Q` ends the conversation.
    OnQ,
}

/// The connection loop: one conversation per client, forever. Clients that connect
/// meanwhile wait in the backlog and are served in turn.
fn serve(
    listener: Listener,
    out: &mut impl Write,
    limits: &Limits,
    quit: Quit,
) -> Result<(), Error> {
    loop {
        let mut conn = listener.accept()?;
        match converse(&mut conn, out, limits, quit) {
            Ok(()) => {}
            // Nowhere to print to any more: every later conversation would fail the same way.
            Err(err @ Error::Stdout(_)) => return Err(err),
            // Whatever one client did to its connection, the next one is still served.
            Err(err) => {
                let _ = writeln!(io::stderr(), "sockref: {err}; serving the next client");
            }
        }
    }
}

/// The conversation loop: `recv(1024)` a command, run it, send its output. It ends,
/// without error, when the client closes (`recv` gives `b''`), resets, or (rexec2) says
/// `q`. The tutorial catches only the reset, and on Linux runs the empty command of every
/// `b''` in a busy loop (SPEC.md's seed bug).
fn converse(
    conn: &mut Conn,
    out: &mut impl Write,
    limits: &Limits,
    quit: Quit,
) -> Result<(), Error> {
    loop {
        let command = match conn.recv(RECV_SIZE) {
            Ok(command) if command.is_empty() => return Ok(()),
            Ok(command) => command,
            Err(err) if err.is_peer_gone() => return Ok(()),
            Err(err) => return Err(err),
        };
        // The tutorial compares the bytes as received; a client typing by hand (netcat)
        // sends a newline too, so the comparison ignores surrounding whitespace.
        if quit == Quit::OnQ && is_quit(command.trim_ascii()) {
            print_line(out, QUIT_NOTICE)?;
            return Ok(());
        }
        // No output means an empty reply, which sends nothing at all: the tutorial's
        // behaviour, and the client then waits (SPEC.md).
        let reply = run_command(&command, limits).into_reply(limits);
        match conn.send(&reply) {
            Ok(()) => {}
            // The tutorial's `try` covers the send too: a reset there ends the conversation.
            Err(err) if err.is_peer_gone() => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

/// `from_client_data.upper() == b"Q"`.
fn is_quit(command: &[u8]) -> bool {
    command.eq_ignore_ascii_case(b"q")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::mpsc::{self, Receiver};
    use std::thread;

    use super::*;
    use crate::testutil::{
        all_printed, ephemeral, expect_printed, quick_limits, read_once, Forward, DEADLINE, SILENCE,
    };

    type Server = fn(Listener, &mut Forward, &Limits) -> Result<(), Error>;

    /// Starts `server` on a free port with `limits`, and returns its address and what it
    /// prints. The server runs forever; its thread ends with the test process.
    fn start(server: Server, limits: Limits) -> (SocketAddr, Receiver<Vec<u8>>) {
        let listener = ephemeral();
        let addr = listener.local_addr();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || server(listener, &mut Forward(tx), &limits));
        (addr, rx)
    }

    /// A client of a server under test, with a deadline on every read.
    fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    /// Sends `command` and reads its reply of exactly `expected.len()` bytes.
    fn exchange(stream: &mut TcpStream, command: &[u8], expected: &[u8]) {
        stream.write_all(command).unwrap();
        let mut reply = vec![0; expected.len()];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&reply),
            String::from_utf8_lossy(expected)
        );
    }

    /// The silence window: nothing arrives on `stream` while it lasts.
    fn expect_silence(stream: &mut TcpStream) {
        stream.set_read_timeout(Some(SILENCE)).unwrap();
        let mut buf = [0; 64];
        match read_once(stream, &mut buf) {
            Ok(n) => panic!("expected silence, got {:?}", &buf[..n]),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
        }
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
    }

    type Client = fn(SocketAddr, &mut &'static [u8], &mut Vec<u8>) -> Result<(), Error>;

    /// Runs a client in a thread and waits for it within the deadline, so a client that
    /// waits when it should not fails the test instead of hanging it.
    fn run_client(client: Client, addr: SocketAddr, input: &'static [u8]) -> Vec<u8> {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut input = input;
            let mut out = Vec::new();
            let result = client(addr, &mut input, &mut out);
            let _ = tx.send(result.map(|()| out));
        });
        match rx.recv_timeout(DEADLINE) {
            Ok(result) => result.unwrap(),
            Err(e) => panic!("the client did not finish: {e:?}"),
        }
    }

    #[test]
    fn reply_is_stdout_then_stderr_in_one_send() {
        let (addr, _) = start(rexec1_server, Limits::default());
        let mut client = connect(addr);
        client
            .write_all(b"echo out; echo err >&2; echo more")
            .unwrap();
        // One write of 13 bytes on loopback arrives whole: a single read takes it all.
        // Two sends could arrive apart.
        let mut reply = [0; 64];
        let n = read_once(&mut client, &mut reply).unwrap();
        assert_eq!(&reply[..n], b"out\nmore\nerr\n");
    }

    #[test]
    fn no_output_sends_nothing() {
        let (addr, _) = start(rexec1_server, Limits::default());
        let mut client = connect(addr);
        client.write_all(b"true;").unwrap();
        expect_silence(&mut client);
        // Should the server not have read `true;` yet, the two arrive as one command,
        // which prints the same: the reply is still exactly `next`.
        exchange(&mut client, b" echo next", b"next\n");
    }

    #[test]
    fn output_that_is_not_utf8_passes_byte_for_byte() {
        let (addr, _) = start(rexec1_server, Limits::default());
        let mut client = connect(addr);
        exchange(&mut client, b"printf '\\377\\376' >&2", &[0xff, 0xfe]);
    }

    #[test]
    fn a_command_that_timed_out_ends_with_a_message_and_the_conversation_goes_on() {
        let (addr, _) = start(rexec1_server, quick_limits());
        let mut client = connect(addr);
        exchange(
            &mut client,
            b"sleep 100",
            b"sockref: command timed out after 1 s and was killed\n",
        );
        exchange(&mut client, b"echo after", b"after\n");
    }

    #[test]
    fn the_server_ends_a_conversation_at_end_of_stream_and_takes_the_next_client() {
        let (addr, _) = start(rexec1_server, Limits::default());
        let mut first = connect(addr);
        // The second client waits in the backlog while the first is served.
        let mut second = connect(addr);
        second.write_all(b"echo two").unwrap();
        exchange(&mut first, b"echo one", b"one\n");
        // A half-close: the server sees `b''`, ends the conversation and takes the next.
        first.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        first.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"");
        let mut reply = [0; 4];
        second.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"two\n");
    }

    #[test]
    fn rexec1_runs_q_as_a_command() {
        let (addr, printed) = start(rexec1_server, Limits::default());
        let mut client = connect(addr);
        client.write_all(b"q").unwrap();
        // Whatever the shell says about a command named `q`, it says something.
        let mut reply = [0; 256];
        assert!(read_once(&mut client, &mut reply).unwrap() > 0);
        exchange(&mut client, b"echo still here", b"still here\n");
        assert!(
            printed.try_recv().is_err(),
            "rexec1's server prints nothing"
        );
    }

    #[test]
    fn q_ends_the_conversation_without_a_reply_and_the_next_client_is_served() {
        let (addr, printed) = start(rexec2_server, Limits::default());
        let mut first = connect(addr);
        exchange(&mut first, b"echo hi", b"hi\n");
        first.write_all(b"q").unwrap();
        expect_printed(&printed, "客户端正常退出聊天了\n".as_bytes());
        // The server closed the connection without a word.
        let mut rest = Vec::new();
        first.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"");
        let mut second = connect(addr);
        exchange(&mut second, b"echo two", b"two\n");
        // Upper case, and with a newline as a hand-typed one would have, quits too.
        second.write_all(b"Q\n").unwrap();
        expect_printed(&printed, "客户端正常退出聊天了\n".as_bytes());
        rest.clear();
        second.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"");
    }

    #[test]
    fn rexec1_client_prints_each_reply_as_print_does() {
        let (addr, _) = start(rexec1_server, Limits::default());
        let out = run_client(
            rexec1_client,
            addr,
            b"echo hello\nprintf 'a\\nb'\necho oops >&2\n",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ">>>hello\n\n>>>a\nb\n>>>oops\n\n>>>"
        );
    }

    #[test]
    fn rexec1_client_stops_when_the_server_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut command = [0; 3];
            conn.read_exact(&mut command).unwrap();
            conn.write_all(b"ok\n").unwrap();
            // FIN only, then drain: closing with the next command unread would reset.
            conn.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).unwrap();
            rest
        });
        let out = run_client(rexec1_client, addr, b"one\ntwo\nthree\n");
        assert_eq!(server.join().unwrap(), b"two");
        assert_eq!(out, b">>>ok\n\n>>>");
    }

    #[test]
    fn rexec2_client_refuses_empty_lines_and_quits_without_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut command = [0; 7];
            conn.read_exact(&mut command).unwrap();
            assert_eq!(&command, b"echo hi");
            conn.write_all(b"hi\n").unwrap();
            // No reply to `q`: the client must close on its own.
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).unwrap();
            rest
        });
        let out = run_client(rexec2_client, addr, b"  \n\n  echo hi \t\n q \nnot sent\n");
        assert_eq!(server.join().unwrap(), b"q");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ">>>发送内容不能为空\n>>>发送内容不能为空\n>>>hi\n\n>>>"
        );
    }

    #[test]
    fn rexec2_pair_runs_commands_until_q() {
        let (addr, printed) = start(rexec2_server, Limits::default());
        let out = run_client(rexec2_client, addr, b"echo one\nQ\n");
        assert_eq!(out, b">>>one\n\n>>>");
        expect_printed(&printed, "客户端正常退出聊天了\n".as_bytes());
    }

    #[test]
    fn rexec1_conversation_ends_at_the_close_and_prints_nothing() {
        // rexec1's server prints nothing of its own, not even for a failing command.
        let listener = ephemeral();
        let addr = listener.local_addr();
        let (tx, rx) = mpsc::channel();
        let server = thread::spawn(move || {
            let mut conn = listener.accept().unwrap();
            converse(&mut conn, &mut Forward(tx), &Limits::default(), Quit::Never)
        });
        let mut client = connect(addr);
        exchange(&mut client, b"echo x; false", b"x\n");
        drop(client);
        server.join().unwrap().unwrap();
        assert_eq!(all_printed(&rx), b"");
    }
}
