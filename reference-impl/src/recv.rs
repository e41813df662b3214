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
    use std::thread;
    use std::time::Duration;

    use super::*;

    type Server = fn(Listener, &mut Vec<u8>) -> Result<(), Error>;

    /// Starts `server` on a free port and returns a client connected to it with the
    /// server's thread, which yields what the server printed.
    fn start(server: Server) -> (TcpStream, thread::JoinHandle<Result<Vec<u8>, Error>>) {
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr();
        let handle = thread::spawn(move || {
            let mut out = Vec::new();
            server(listener, &mut out).map(|()| out)
        });
        (TcpStream::connect(addr).unwrap(), handle)
    }

    #[test]
    fn recv_partial_takes_what_each_recv_allows() {
        let (mut client, server) = start(recv_partial_server);
        client.write_all(b"hello").unwrap();
        assert_eq!(server.join().unwrap().unwrap(), b"b'he'\nb'll'\nb'o'\n");
    }

    #[test]
    fn recv_block_waits_for_the_close() {
        let (mut client, server) = start(recv_block_server);
        client.write_all(b"hello").unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(!server.is_finished(), "the second recv must block");
        drop(client);
        assert_eq!(server.join().unwrap().unwrap(), b"b'hello'\n111\n222\n");
    }

    #[test]
    fn recv_eof_returns_empty_after_the_close() {
        let (mut client, server) = start(recv_eof_server);
        client.write_all(b"hello").unwrap();
        drop(client);
        assert_eq!(server.join().unwrap().unwrap(), b"b'hello'\nb''\nb''\n");
    }
}
