//! The three servers of "how `recv` works" (详解recv的工作原理): each accepts one client
//! and prints what every `recv` returned, as Python's bytes repr, to show that `recv`
//! takes what is buffered up to its limit, blocks while nothing is, and returns `b''`
//! once the peer has closed.

use std::io::Write;

use crate::console::print_line;
use crate::net::Listener;
use crate::pyrepr::bytes_repr;
use crate::Error;

/// The tutorial's `recv(1024)`, where it does not ask for less.
const RECV_SIZE: usize = 1024;

/// recv-partial: `recv(2)`, `recv(2)`, `recv(1)`; after `hello`, `b'he'`, `b'll'`, `b'o'`.
pub fn recv_partial_server(listener: Listener, out: &mut impl Write) -> Result<(), Error> {
    let mut conn = listener.accept()?;
    for size in [2, 2, 1] {
        print_line(out, &bytes_repr(&conn.recv(size)?))?;
    }
    drop(conn);
    drop(listener);
    Ok(())
}

/// recv-block: after the first message is read, the second `recv(1024)` blocks until the
/// client sends more or closes, so `222` appears only then.
pub fn recv_block_server(listener: Listener, out: &mut impl Write) -> Result<(), Error> {
    let mut conn = listener.accept()?;
    print_line(out, &bytes_repr(&conn.recv(RECV_SIZE)?))?;
    print_line(out, "111")?;
    // The tutorial ignores what this recv returns: only that it returned matters. Its
    // cases never reset the connection, so a failure is ignored too rather than reported.
    let _ = conn.recv(RECV_SIZE);
    print_line(out, "222")?;
    drop(conn);
    drop(listener);
    Ok(())
}

/// recv-eof: three `recv(1024)`; after `hello` and a close, `b'hello'`, `b''`, `b''`.
pub fn recv_eof_server(listener: Listener, out: &mut impl Write) -> Result<(), Error> {
    let mut conn = listener.accept()?;
    for _ in 0..3 {
        print_line(out, &bytes_repr(&conn.recv(RECV_SIZE)?))?;
    }
    drop(conn);
    drop(listener);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
    use std::thread;

    use super::*;
    use crate::testutil::{all_printed, ephemeral, expect_printed, Forward, SILENCE};

    type Server = fn(Listener, &mut Forward) -> Result<(), Error>;

    /// Starts `server` on a free port and returns a client connected to it, what the
    /// server prints, and its thread.
    fn start(
        server: Server,
    ) -> (
        TcpStream,
        Receiver<Vec<u8>>,
        thread::JoinHandle<Result<(), Error>>,
    ) {
        let listener = ephemeral();
        let addr = listener.local_addr();
        let (tx, rx) = mpsc::channel();
        let handle = thread::spawn(move || server(listener, &mut Forward(tx)));
        (TcpStream::connect(addr).unwrap(), rx, handle)
    }

    #[test]
    fn recv_partial_takes_what_each_recv_allows() {
        let (mut client, printed, server) = start(recv_partial_server);
        client.write_all(b"hello").unwrap();
        server.join().unwrap().unwrap();
        assert_eq!(all_printed(&printed), b"b'he'\nb'll'\nb'o'\n");
    }

    #[test]
    fn recv_block_waits_for_the_close() {
        let (mut client, printed, server) = start(recv_block_server);
        client.write_all(b"hello").unwrap();
        expect_printed(&printed, b"b'hello'\n111\n");
        // The silence window: the second recv must block while the client is connected
        // and quiet, so nothing more is printed meanwhile.
        assert_eq!(
            printed.recv_timeout(SILENCE),
            Err(RecvTimeoutError::Timeout),
            "the second recv must block"
        );
        drop(client);
        expect_printed(&printed, b"222\n");
        server.join().unwrap().unwrap();
        assert_eq!(all_printed(&printed), b"");
    }

    #[test]
    fn recv_eof_returns_empty_after_the_close() {
        let (mut client, printed, server) = start(recv_eof_server);
        client.write_all(b"hello").unwrap();
        drop(client);
        server.join().unwrap().unwrap();
        assert_eq!(all_printed(&printed), b"b'hello'\nb''\nb''\n");
    }
}
