//! The echo programs, the tutorial's three rounds (第一版, 第二版, 第三版): one message
//! upper-cased; a conversation of messages answered with `SB` appended; and the same
//! conversation served to one client after another. How the servers answer is the
//! course's word `reply` ([`EchoReply`]).

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;

use crate::client::{self, never_last, recv_once, Exchange, Line};
use crate::console::print_line;
use crate::net::{Conn, Listener};
use crate::pyrepr::bytes_repr;
use crate::Error;

/// The tutorial's `recv(1024)`.
const RECV_SIZE: usize = 1024;

/// How an echo server answers a message, the word `reply`: `upper` (the tutorial's echo1,
/// and most courses' copies of all three), `suffix TEXT` (the tutorial's echo2 and echo3:
/// `suffix SB`), or both, `upper suffix TEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    /// `bytes.upper()`: ASCII letters only, as `to_ascii_uppercase` does.
    pub upper: bool,
    /// Appended after the (upper-cased) message.
    pub suffix: Vec<u8>,
}

impl EchoReply {
    /// The tutorial's answer of program `id`: echo1 upper-cases, echo2 and echo3 append `SB`.
    pub fn tutorial(id: &str) -> EchoReply {
        match id {
            "echo1" => EchoReply {
                upper: true,
                suffix: Vec::new(),
            },
            _ => EchoReply {
                upper: false,
                suffix: b"SB".to_vec(),
            },
        }
    }

    /// The word `reply` where given, else the tutorial's answer of program `id`.
    pub fn from_words(
        id: &str,
        words: &std::collections::BTreeMap<String, String>,
    ) -> Result<EchoReply, Error> {
        match words.get("reply") {
            Some(text) => EchoReply::parse(text).map_err(|message| Error::BadWord {
                word: "reply".into(),
                message,
            }),
            None => Ok(EchoReply::tutorial(id)),
        }
    }

    /// Reads `upper`, `suffix TEXT` or `upper suffix TEXT` (TEXT is the rest of the line,
    /// spaces included, and not empty).
    pub fn parse(text: &str) -> Result<EchoReply, String> {
        let (upper, rest) = match text.strip_prefix("upper") {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => (true, rest.trim_start()),
            _ => (false, text),
        };
        let suffix = match rest.strip_prefix("suffix ") {
            Some(suffix) if !suffix.is_empty() => suffix.as_bytes().to_vec(),
            _ if rest.is_empty() && upper => Vec::new(),
            _ => {
                return Err(format!(
                    "`{text}` is not an echo reply: `upper`, `suffix TEXT` or `upper suffix TEXT`"
                ))
            }
        };
        Ok(EchoReply { upper, suffix })
    }

    /// The reply to `message`.
    pub fn answer(&self, message: &[u8]) -> Vec<u8> {
        let mut reply = if self.upper {
            message.to_ascii_uppercase()
        } else {
            message.to_vec()
        };
        reply.extend_from_slice(&self.suffix);
        reply
    }
}

/// echo1 server: one client, one message, printed and answered (the tutorial: upper-cased).
pub fn echo1_server(
    listener: Listener,
    reply: &EchoReply,
    out: &mut impl Write,
) -> Result<(), Error> {
    let mut conn = listener.accept()?;
    let message = conn.recv(RECV_SIZE)?;
    print_line(out, &String::from_utf8_lossy(&message))?;
    conn.send(&reply.answer(&message))?;
    // The tutorial hangs up (`conn.close()`) before it switches off (`phone.close()`).
    drop(conn);
    drop(listener);
    Ok(())
}

/// echo1 client: sends `hello`, prints the reply as the tutorial does, as bytes (`b'HELLO'`).
pub fn echo1_client(addr: SocketAddr, out: &mut impl Write) -> Result<(), Error> {
    let mut conn = Conn::connect(addr)?;
    conn.send(b"hello")?;
    let reply = conn.recv(RECV_SIZE)?;
    print_line(out, &bytes_repr(&reply))
}

/// echo2 server: one client, one conversation, then exit.
pub fn echo2_server(
    listener: Listener,
    reply: &EchoReply,
    out: &mut impl Write,
) -> Result<(), Error> {
    let mut conn = listener.accept()?;
    converse(&mut conn, reply, out)?;
    drop(conn);
    drop(listener);
    Ok(())
}

/// echo2 client: a line of stdin out, one `recv(1024)` of reply in, until stdin ends.
pub fn echo2_client(
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

/// echo3 server: echo2's conversation for one client after another, forever. Clients
/// that connect meanwhile wait in the `listen(5)` backlog and are served in turn.
pub fn echo3_server(
    listener: Listener,
    reply: &EchoReply,
    out: &mut impl Write,
) -> Result<(), Error> {
    loop {
        let mut conn = listener.accept()?;
        match converse(&mut conn, reply, out) {
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

/// echo3 client: the echo2 client; only the server changed between the two rounds.
pub fn echo3_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Error> {
    echo2_client(addr, input, out)
}

/// The conversation loop of the echo2 and echo3 servers: print each message, send it back
/// answered (the tutorial: with `SB`). It ends, without error, when the client closes (`recv` gives `b''`) or
/// resets; the tutorial catches only the reset, and on Linux answers every `b''` with
/// `SB` until a broken pipe kills it (SPEC.md's seed bug).
fn converse(conn: &mut Conn, reply: &EchoReply, out: &mut impl Write) -> Result<(), Error> {
    loop {
        let message = match conn.recv(RECV_SIZE) {
            Ok(message) if message.is_empty() => return Ok(()),
            Ok(message) => message,
            Err(err) if err.is_peer_gone() => return Ok(()),
            Err(err) => return Err(err),
        };
        print_line(out, &String::from_utf8_lossy(&message))?;
        match conn.send(&reply.answer(&message)) {
            Ok(()) => {}
            // The tutorial's `try` covers the send too: a reset there ends the conversation.
            Err(err) if err.is_peer_gone() => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::thread;
    use std::time::Duration;

    use socket2::SockRef;

    use super::*;
    use crate::testutil::{ephemeral, read_once};

    #[test]
    fn a_reply_word_reads_upper_suffix_or_both_and_refuses_the_rest() {
        let reply = |text: &str| EchoReply::parse(text).map(|r| r.answer(b"hi, you"));
        assert_eq!(reply("upper").unwrap(), b"HI, YOU");
        assert_eq!(reply("suffix SB").unwrap(), b"hi, youSB");
        assert_eq!(reply("suffix  !!").unwrap(), b"hi, you !!");
        assert_eq!(reply("upper suffix SB").unwrap(), b"HI, YOUSB");
        for bad in [
            "",
            "lower",
            "suffix",
            "suffix ",
            "uppercase",
            "upper suffix",
            "SB",
        ] {
            let refused = EchoReply::parse(bad).unwrap_err();
            assert!(refused.contains(&format!("`{bad}`")), "{refused}");
        }
        assert_eq!(
            EchoReply::tutorial("echo1"),
            EchoReply::parse("upper").unwrap()
        );
        assert_eq!(
            EchoReply::tutorial("echo3"),
            EchoReply::parse("suffix SB").unwrap()
        );
        let words = [("reply".to_string(), "upper".to_string())].into();
        assert_eq!(
            EchoReply::from_words("echo2", &words).unwrap(),
            EchoReply::tutorial("echo1")
        );
        let words = [("reply".to_string(), "x".to_string())].into();
        let refused = EchoReply::from_words("echo2", &words)
            .unwrap_err()
            .to_string();
        assert!(
            refused.starts_with("the word `reply`: `x` is not an echo reply"),
            "{refused}"
        );
    }

    #[test]
    fn echo1_server_and_client() {
        let listener = ephemeral();
        let addr = listener.local_addr();
        let server = thread::spawn(move || {
            let mut out = Vec::new();
            echo1_server(listener, &EchoReply::tutorial("echo1"), &mut out).map(|()| out)
        });
        let mut client_out = Vec::new();
        echo1_client(addr, &mut client_out).unwrap();
        assert_eq!(server.join().unwrap().unwrap(), b"hello\n");
        assert_eq!(client_out, b"b'HELLO'\n");
    }

    #[test]
    fn echo2_server_and_client() {
        let listener = ephemeral();
        let addr = listener.local_addr();
        let server = thread::spawn(move || {
            let mut out = Vec::new();
            echo2_server(listener, &EchoReply::tutorial("echo2"), &mut out).map(|()| out)
        });
        let mut input: &[u8] = b"hello\nworld\r\n";
        let mut client_out = Vec::new();
        echo2_client(addr, &mut input, &mut client_out).unwrap();
        // The client's close at the end of stdin ends the server's conversation.
        assert_eq!(server.join().unwrap().unwrap(), b"hello\nworld\n");
        assert_eq!(client_out, b">>>helloSB\n>>>worldSB\n>>>");
    }

    #[test]
    fn echo2_server_ends_on_reset() {
        let listener = ephemeral();
        let addr = listener.local_addr();
        let server = thread::spawn(move || {
            let mut out = Vec::new();
            echo2_server(listener, &EchoReply::tutorial("echo2"), &mut out).map(|()| out)
        });
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"hi").unwrap();
        let mut reply = [0; 4];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"hiSB");
        // SO_LINGER 0: the close sends RST, the server's recv fails with a reset.
        SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        assert_eq!(server.join().unwrap().unwrap(), b"hi\n");
    }

    #[test]
    fn echo2_client_stops_when_the_server_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut message = [0; 3];
            conn.read_exact(&mut message).unwrap();
            conn.write_all(&message).unwrap();
            // FIN only, then drain: a close with the client's next line still unread would
            // be an abortive close (RST), which the client rightly reports as an error.
            conn.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).unwrap();
            rest
        });
        let mut input: &[u8] = b"one\ntwo\nthree\n";
        let mut client_out = Vec::new();
        echo2_client(addr, &mut input, &mut client_out).unwrap();
        // The client sent `two`, saw the end of stream instead of a reply, and stopped.
        assert_eq!(server.join().unwrap(), b"two");
        assert_eq!(client_out, b">>>one\n>>>");
    }

    #[test]
    fn echo3_serves_waiting_clients_in_turn() {
        let listener = ephemeral();
        let addr = listener.local_addr();
        // The server runs forever; the thread ends with the test process.
        thread::spawn(move || {
            echo3_server(listener, &EchoReply::tutorial("echo3"), &mut io::sink())
        });
        let mut first = TcpStream::connect(addr).unwrap();
        // The second client connects while the first is served: it waits in the backlog.
        let mut second = TcpStream::connect(addr).unwrap();
        second.write_all(b"two").unwrap();
        first.write_all(b"one").unwrap();
        let mut reply = [0; 5];
        first.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"oneSB");
        // A half-close: the server sees `b''`, ends the conversation and takes the next.
        first.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_once(&mut first, &mut reply).unwrap(), 0);
        second.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"twoSB");
        drop(second);
        let mut input: &[u8] = b"three\n";
        let mut client_out = Vec::new();
        echo3_client(addr, &mut input, &mut client_out).unwrap();
        assert_eq!(client_out, b">>>threeSB\n>>>");
    }
}
