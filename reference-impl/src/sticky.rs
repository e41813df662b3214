//! The two sticky-packet cases (哪些情况会发生粘包): sticky1, a receiver that does not
//! drain its buffer, is the rexec1 pair itself; sticky2, a sender whose two small writes
//! arrive as one, is a client that sends `hello` and `world` and a server that reads
//! twice.

use std::io::{BufRead, Write};
use std::net::SocketAddr;

use crate::command::Limits;
use crate::console::print_line;
use crate::net::{Conn, Listener};
use crate::rexec;
use crate::Error;

/// The tutorial's `recv(1024)`.
const RECV_SIZE: usize = 1024;

/// sticky1 server: the rexec1 server. A reply longer than the client's `recv(1024)`
/// stays partly in the client's buffer; the phenomenon is on the client's side.
pub fn sticky1_server(
    listener: Listener,
    out: &mut impl Write,
    limits: &Limits,
) -> Result<(), Error> {
    rexec::rexec1_server(listener, out, limits)
}

/// sticky1 client: the rexec1 client, whose single `recv(1024)` per command leaves the
/// rest of a long reply to come out as the start of the next one.
pub fn sticky1_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Error> {
    rexec::rexec1_client(addr, input, out)
}

/// The buffer sizes of sticky2's two reads, the word `recv` (`1024 1024`, the tutorial's;
/// a course's demonstration may read `5 1024`, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sticky2Reads(pub [usize; 2]);

impl Sticky2Reads {
    /// The word `recv` where given, else the tutorial's two `recv(1024)`.
    pub fn from_words(
        words: &std::collections::BTreeMap<String, String>,
    ) -> Result<Sticky2Reads, Error> {
        let Some(text) = words.get("recv") else {
            return Ok(Sticky2Reads([RECV_SIZE, RECV_SIZE]));
        };
        let sizes: Vec<usize> = text
            .split_whitespace()
            .map(|n| n.parse().ok().filter(|n| (1..=1 << 20).contains(n)))
            .collect::<Option<_>>()
            .unwrap_or_default();
        match sizes[..] {
            [first, second] => Ok(Sticky2Reads([first, second])),
            _ => Err(Error::BadWord {
                word: "recv".into(),
                message: format!(
                    "`{text}` is not two buffer sizes of 1 to 1048576 bytes (e.g. `1024 1024`)"
                ),
            }),
        }
    }
}

/// sticky2 server: two reads (the tutorial's `recv(1024)` twice), printed as its
/// `print('1:', ...)` and `print('2:', ...)`. When both words are buffered before the first
/// read, that is `1: helloworld` and `2: ` (the second read finds the end of stream).
pub fn sticky2_server(
    listener: Listener,
    reads: Sticky2Reads,
    out: &mut impl Write,
) -> Result<(), Error> {
    let mut conn = listener.accept()?;
    for (number, size) in (1..=2).zip(reads.0) {
        let data = match conn.recv(size) {
            Ok(data) => data,
            // A client that resets instead of closing has gone all the same: nothing more
            // is coming, as with `b''`.
            Err(err) if err.is_peer_gone() => Vec::new(),
            Err(err) => return Err(err),
        };
        print_line(
            out,
            &format!("{number}: {}", String::from_utf8_lossy(&data)),
        )?;
    }
    drop(conn);
    drop(listener);
    Ok(())
}

/// sticky2 client: `hello` and `world` in two sends with no pause between, then close.
pub fn sticky2_client(addr: SocketAddr) -> Result<(), Error> {
    let mut conn = Conn::connect(addr)?;
    conn.send(b"hello")?;
    conn.send(b"world")?;
    drop(conn);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use socket2::SockRef;

    use super::*;
    use crate::testutil::{all_printed, ephemeral, expect_printed, Forward, DEADLINE};

    /// Starts sticky2's server on a free port; returns its address, its prints and thread.
    fn start_sticky2() -> (
        SocketAddr,
        mpsc::Receiver<Vec<u8>>,
        thread::JoinHandle<Result<(), Error>>,
    ) {
        let listener = ephemeral();
        let addr = listener.local_addr();
        let (tx, rx) = mpsc::channel();
        let reads = Sticky2Reads::from_words(&Default::default()).unwrap();
        let server = thread::spawn(move || sticky2_server(listener, reads, &mut Forward(tx)));
        (addr, rx, server)
    }

    #[test]
    fn a_courses_read_sizes_split_the_stream_there_and_bad_ones_are_named() {
        let words = |text: &str| [("recv".to_string(), text.to_string())].into();
        let reads = Sticky2Reads::from_words(&words("5 1024")).unwrap();
        assert_eq!(reads, Sticky2Reads([5, 1024]));
        let listener = ephemeral();
        let addr = listener.local_addr();
        let (tx, printed) = mpsc::channel();
        let server = thread::spawn(move || sticky2_server(listener, reads, &mut Forward(tx)));
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"helloworld").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        server.join().unwrap().unwrap();
        assert_eq!(all_printed(&printed), b"1: hello\n2: world\n");
        for bad in ["1024", "0 1024", "5 x", "1 2 3", "2000000 1"] {
            let refused = Sticky2Reads::from_words(&words(bad))
                .unwrap_err()
                .to_string();
            assert!(
                refused.starts_with(&format!("the word `recv`: `{bad}`")),
                "{refused}"
            );
        }
    }

    #[test]
    fn sticky1_server_leaves_the_rest_of_a_long_reply_for_the_next_read() {
        let listener = ephemeral();
        let addr = listener.local_addr();
        thread::spawn(move || sticky1_server(listener, &mut std::io::sink(), &Limits::default()));
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(DEADLINE)).unwrap();
        // 3000 bytes: 300 lines of `line NNN\n`.
        let first: String = (0..300).map(|i| format!("line {i:03}\n")).collect();
        client
            .write_all(b"awk 'BEGIN { for (i = 0; i < 300; i++) printf \"line %03d\\n\", i }'")
            .unwrap();
        let mut head = [0; RECV_SIZE];
        client.read_exact(&mut head).unwrap();
        assert_eq!(&head[..], &first.as_bytes()[..RECV_SIZE]);
        client.write_all(b"echo new").unwrap();
        // What comes next is the rest of the first reply, then the new one: one stream.
        let mut rest = vec![0; first.len() - RECV_SIZE + 4];
        client.read_exact(&mut rest).unwrap();
        assert_eq!(&rest[..rest.len() - 4], &first.as_bytes()[RECV_SIZE..]);
        assert_eq!(&rest[rest.len() - 4..], b"new\n");
    }

    #[test]
    fn sticky1_client_prints_the_leftover_as_the_next_reply() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reply: Vec<u8> = (0..3000).map(|i| b'a' + (i % 26) as u8).collect();
        let sent = reply.clone();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut command = [0; 3];
            conn.read_exact(&mut command).unwrap();
            conn.write_all(&sent).unwrap();
            conn.read_exact(&mut command).unwrap();
            // No reply to the second command: the client prints what it left behind. It
            // then closes with bytes unread, which resets the connection.
            let _ = conn.read_to_end(&mut Vec::new());
            command
        });
        let mut input: &[u8] = b"one\ntwo\n";
        let mut out = Vec::new();
        sticky1_client(addr, &mut input, &mut out).unwrap();
        assert_eq!(&server.join().unwrap(), b"two");
        let expected = format!(
            ">>>{}\n>>>{}\n>>>",
            String::from_utf8_lossy(&reply[..1024]),
            String::from_utf8_lossy(&reply[1024..2048])
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn sticky2_server_prints_one_read_with_both_words() {
        let (addr, printed, server) = start_sticky2();
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"helloworld").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        server.join().unwrap().unwrap();
        assert_eq!(all_printed(&printed), b"1: helloworld\n2: \n");
    }

    #[test]
    fn sticky2_server_takes_a_reset_as_the_end() {
        let (addr, printed, server) = start_sticky2();
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"hello").unwrap();
        // Once the server has read it, only the reset is left to come.
        expect_printed(&printed, b"1: hello\n");
        // SO_LINGER 0: the close sends RST, the server's second recv fails with a reset.
        SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        server.join().unwrap().unwrap();
        assert_eq!(all_printed(&printed), b"2: \n");
    }

    #[test]
    fn sticky2_client_sends_both_words_and_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        sticky2_client(addr).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut received = Vec::new();
        conn.read_to_end(&mut received).unwrap();
        assert_eq!(received, b"helloworld");
    }
}
