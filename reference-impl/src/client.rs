//! The loop of the tutorial's interactive TCP clients (echo2 and echo3, rexec1 and so
//! sticky1, rexec2, framed-low, framed-header): prompt `>>>`, read a line, send it, read
//! one reply and print it, until stdin ends or the server goes. What differs between them
//! is an [`Exchange`]: how a line becomes a message, whether a message is the last word,
//! and how a reply is read.

use std::io::{BufRead, Write};
use std::net::SocketAddr;

use crate::console::{print_line, prompt, read_line, strip};
use crate::net::Conn;
use crate::{unless_server_gone, Error};

/// The clients' `input('>>>')`.
const PROMPT: &str = ">>>";
/// The unframed clients' `recv(1024)` of a reply.
const RECV_SIZE: usize = 1024;

/// How a client makes a message of a line of stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// `input()`: the line as typed, even empty. `send(b'')` then sends nothing, and the
    /// client waits for a reply, as the tutorial's does.
    AsTyped,
    /// `input().strip()`; an empty message is not sent (the tutorial's `continue`: both
    /// sides would wait for ever), and `empty_notice` is printed instead, if there is one.
    Stripped { empty_notice: Option<&'static str> },
}

/// The part of the loop that is each client's own.
pub(crate) struct Exchange<R> {
    /// How a line of stdin becomes the message.
    pub(crate) line: Line,
    /// Whether a message, once sent, is the client's last word: it closes right after it,
    /// with no reply to wait for (rexec2's `q`).
    pub(crate) is_last: fn(&[u8]) -> bool,
    /// Reads one reply, to be printed; `None` when the server closed (or reset) instead.
    pub(crate) receive: R,
}

/// Connects to `addr` and runs the loop: prompt, read a line, send the message, read the
/// reply and `print()` it. It ends, and the client exits 0, at the end of stdin, after the
/// last word, or when the server closes or resets between two replies.
pub(crate) fn converse<R>(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
    mut exchange: Exchange<R>,
) -> Result<(), Error>
where
    R: FnMut(&mut Conn) -> Result<Option<Vec<u8>>, Error>,
{
    let mut conn = Conn::connect(addr)?;
    loop {
        prompt(out, PROMPT)?;
        // The tutorial's client dies here with `EOFError`; closing and exiting 0 is what it
        // meant to do once there is nothing more to say.
        let Some(line) = read_line(input)? else {
            return Ok(());
        };
        let message = match exchange.line {
            Line::AsTyped => &line[..],
            Line::Stripped { empty_notice } => {
                let message = strip(&line);
                if message.is_empty() {
                    if let Some(notice) = empty_notice {
                        print_line(out, notice)?;
                    }
                    continue;
                }
                message
            }
        };
        // The server closed or reset between exchanges: stop instead of spinning on `b''`.
        if unless_server_gone(conn.send(message))?.is_none() {
            return Ok(());
        }
        if (exchange.is_last)(message) {
            return Ok(());
        }
        let Some(reply) = (exchange.receive)(&mut conn)? else {
            return Ok(());
        };
        // `print(data.decode(...))`: the reply as text (the tutorial decodes GBK for
        // Chinese Windows; the shell here speaks UTF-8), and the newline `print` adds
        // after it, even when the reply ends with its own, or is empty.
        print_line(out, &String::from_utf8_lossy(&reply))?;
    }
}

/// The unframed clients' reply: one `recv(1024)`, however much more the server sent.
/// `None` when the server has closed or reset, rather than a `b''` to print.
pub(crate) fn recv_once(conn: &mut Conn) -> Result<Option<Vec<u8>>, Error> {
    let reply = unless_server_gone(conn.recv(RECV_SIZE))?.unwrap_or_default();
    Ok(Some(reply).filter(|reply| !reply.is_empty()))
}

/// For [`Exchange::is_last`]: every message expects a reply.
pub(crate) fn never_last(_message: &[u8]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener};
    use std::thread;

    use super::*;
    use crate::testutil::DEADLINE;

    #[test]
    fn a_line_as_typed_is_sent_even_empty_and_waits_for_its_reply() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(DEADLINE)).unwrap();
            // The empty line sends nothing: the client is waiting for this reply to it.
            conn.write_all(b"first").unwrap();
            let mut message = [0; 1];
            conn.read_exact(&mut message).unwrap();
            conn.write_all(b"second").unwrap();
            conn.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).unwrap();
            (message, rest)
        });
        let mut input: &[u8] = b"\nx\n";
        let mut out = Vec::new();
        let exchange = Exchange {
            line: Line::AsTyped,
            is_last: never_last,
            receive: recv_once,
        };
        converse(addr, &mut input, &mut out, exchange).unwrap();
        assert_eq!(server.join().unwrap(), (*b"x", Vec::new()));
        assert_eq!(out, b">>>first\n>>>second\n>>>");
    }
}
