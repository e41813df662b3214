//! The two fixes of the sticky packets (粘包的解决方案): framed-low (low版), whose replies
//! carry their length in 4 bytes before them, and framed-header (可自定制报头版), whose
//! replies carry a JSON header (`total_size`, `file_name`, `md5`) behind such a length.
//! The servers are rexec1's remote shell with framed replies; the clients read exactly one
//! whole frame per command, however the stream splits it, where the tutorial's
//! `recv(4)` assumes the prefix arrives whole. The wire formats live in [`crate::frame`].

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;

use crate::client::{self, never_last, Exchange, Line};
use crate::command::{run_command, Limits};
use crate::frame::{self, Decoded, FrameError, HeaderKeys, MAX_ENCODABLE_LEN};
use crate::net::{Conn, Listener};
use crate::Error;

/// The servers' `conn.recv(1024)` of a command: requests stay unframed, as in the tutorial.
const RECV_SIZE: usize = 1024;
/// The `file_name` of the tutorial's header; free text, kept as the tutorial has it.
const FILE_NAME: &str = "f1.txt";
/// The most a client asks of one `recv` while a frame is incomplete. It never asks for
/// more than the frame still lacks either, so the end of one frame is never read together
/// with what follows it.
const RECV_CHUNK: usize = 64 * 1024;
/// Room for the line the runner adds after an output it cut or a command it killed.
const NOTE_ROOM: usize = 1024;
/// The largest `--max-reply` of a framed server: a prefix declares at most
/// [`MAX_ENCODABLE_LEN`] bytes, and the reply is the capped output plus a note.
pub(crate) const MAX_REPLY: usize = MAX_ENCODABLE_LEN - NOTE_ROOM;

/// framed-low server: runs each command of each client, one client after another, forever,
/// and sends each output (stdout then stderr) behind its length, `struct.pack('i', n)`.
/// A command with no output gets a frame all the same, the 4 bytes of `0`: the tutorial
/// sends its header whatever the output, and its client waits for one.
pub fn framed_low_server(listener: Listener, limits: &Limits) -> Result<(), Error> {
    serve(listener, limits, &Format::Low)
}

/// framed-header server: framed-low's, with the tutorial's JSON header between the prefix
/// and the output: `total_size`, `file_name` `f1.txt` and, where the tutorial has the
/// placeholder `fdsaf2143254f`, the output's real MD5.
#[cfg(test)] // the programs take their keys from the words: `framed_header_server_keyed`
pub fn framed_header_server(listener: Listener, limits: &Limits) -> Result<(), Error> {
    framed_header_server_keyed(listener, limits, &HeaderKeys::default())
}

/// framed-header server with a course's names for the header's keys.
pub fn framed_header_server_keyed(
    listener: Listener,
    limits: &Limits,
    keys: &HeaderKeys,
) -> Result<(), Error> {
    serve(listener, limits, &Format::Header(keys.clone()))
}

/// framed-low client: a command from stdin out, one whole frame in, its body printed,
/// until stdin ends.
pub fn framed_low_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
    limits: &frame::Limits,
) -> Result<(), Error> {
    converse_as_client(addr, input, out, limits, &Format::Low)
}

/// framed-header client: framed-low's, reading a header frame. A real `md5` (32 hex
/// digits) that is not the body's is a protocol error; a placeholder, such as the
/// tutorial's own, is accepted (how strict that is, is the harness's business).
#[cfg(test)] // the programs take their keys from the words: `framed_header_client_keyed`
pub fn framed_header_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
    limits: &frame::Limits,
) -> Result<(), Error> {
    framed_header_client_keyed(addr, input, out, limits, &HeaderKeys::default())
}

/// framed-header client reading a header with a course's names for its keys.
pub fn framed_header_client_keyed(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
    limits: &frame::Limits,
    keys: &HeaderKeys,
) -> Result<(), Error> {
    converse_as_client(addr, input, out, limits, &Format::Header(keys.clone()))
}

/// Which of the two fixes frames the replies.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Format {
    /// framed-low: length, body.
    Low,
    /// framed-header: header length, JSON header (with these key names), body.
    Header(HeaderKeys),
}

impl Format {
    /// The frame of a reply.
    fn encode(&self, reply: &[u8]) -> Vec<u8> {
        match self {
            Format::Low => frame::encode_low(reply),
            Format::Header(keys) => frame::encode_header_keyed(reply, FILE_NAME, keys),
        }
    }

    /// The decoder of this format, with the body for the frame: all a client prints.
    fn decode<'a>(
        &self,
        buf: &'a [u8],
        limits: &frame::Limits,
    ) -> Result<Decoded<&'a [u8]>, FrameError> {
        match self {
            Format::Low => frame::decode_low(buf, limits),
            Format::Header(keys) => Ok(match frame::decode_header_keyed(buf, limits, keys)? {
                Decoded::Frame { frame, used } => Decoded::Frame {
                    frame: frame.body,
                    used,
                },
                Decoded::NeedMore { at_least } => Decoded::NeedMore { at_least },
            }),
        }
    }
}

/// The connection loop: one conversation per client, forever. Clients that connect
/// meanwhile wait in the backlog and are served in turn.
fn serve(listener: Listener, limits: &Limits, format: &Format) -> Result<(), Error> {
    // A reply longer than a prefix can declare could not be framed (the encoder panics, as
    // `struct.pack('i', n)` raises): the cap keeps every reply below it. The command line
    // refuses a larger `--max-reply` for these servers; this holds for any caller.
    let limits = Limits {
        max_reply: limits.max_reply.min(MAX_REPLY),
        ..limits.clone()
    };
    loop {
        let mut conn = listener.accept()?;
        // Whatever one client did to its connection, the next one is still served.
        if let Err(err) = converse_as_server(&mut conn, &limits, format) {
            let _ = writeln!(io::stderr(), "sockref: {err}; serving the next client");
        }
    }
}

/// The conversation loop: `recv(1024)` a command, run it, send its output as one frame. It
/// ends, without error, when the client closes (`recv` gives `b''`) or resets. The
/// tutorial catches only the reset, and on Linux sends an empty frame for every `b''`
/// until the broken pipe kills it (SPEC.md's seed bug).
fn converse_as_server(conn: &mut Conn, limits: &Limits, format: &Format) -> Result<(), Error> {
    loop {
        let command = match conn.recv(RECV_SIZE) {
            Ok(command) if command.is_empty() => return Ok(()),
            Ok(command) => command,
            Err(err) if err.is_peer_gone() => return Ok(()),
            Err(err) => return Err(err),
        };
        let reply = run_command(&command, limits).into_reply(limits);
        // One send for the whole frame, where the tutorial makes three (header, stdout,
        // stderr): the stream is the same, and a reader must cope with any split anyway.
        match conn.send(&format.encode(&reply)) {
            Ok(()) => {}
            // The tutorial's `try` covers the sends too: a reset there ends the conversation.
            Err(err) if err.is_peer_gone() => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

/// The clients' loop: `input('>>>').strip()`, skip an empty line, send, read one frame,
/// print its body. End of stdin, or the server closing between two replies, ends it.
fn converse_as_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
    limits: &frame::Limits,
    format: &Format,
) -> Result<(), Error> {
    let exchange = Exchange {
        // Silently, as the tutorial's `if not cmd: continue`: unlike rexec2's client, its
        // framed clients print no notice, and the reference prints what they do.
        line: Line::Stripped { empty_notice: None },
        is_last: never_last,
        receive: |conn: &mut Conn| read_frame(conn, addr, limits, format),
    };
    client::converse(addr, input, out, exchange)
}

/// Reads exactly one frame from `conn`, in whatever pieces it comes, and returns its body;
/// `None` if the server closed the connection before the frame's first byte.
///
/// Each `recv` asks for no more than the decoder says the frame still lacks, so nothing
/// after the frame is read, and what is stored grows with what arrived, never with what a
/// prefix declares: a length over the limit is refused from its 4 bytes alone.
fn read_frame(
    conn: &mut Conn,
    peer: SocketAddr,
    limits: &frame::Limits,
    format: &Format,
) -> Result<Option<Vec<u8>>, Error> {
    let mut buf = Vec::new();
    // How long `buf` must be before the decoder has anything new to say: decoding sooner
    // would only parse the same header again.
    let mut wanted = 0;
    loop {
        if buf.len() >= wanted {
            match format.decode(&buf, limits) {
                Ok(Decoded::Frame { frame: body, used }) => {
                    // The body is the end of the frame, in both formats, and the frame is
                    // all that was read.
                    debug_assert_eq!(used, buf.len());
                    let header_len = used - body.len();
                    buf.drain(..header_len);
                    return Ok(Some(buf));
                }
                Ok(Decoded::NeedMore { at_least }) => wanted = buf.len() + at_least,
                Err(source) => return Err(Error::BadFrame { peer, source }),
            }
        }
        let missing = wanted - buf.len();
        let more = match conn.recv(missing.min(RECV_CHUNK)) {
            // A reset before the frame's first byte ends the exchanges as a close does.
            Err(err) if err.is_peer_gone() && buf.is_empty() => return Ok(None),
            received => received?,
        };
        if more.is_empty() {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(Error::ClosedMidFrame {
                peer,
                received: buf.len(),
                missing,
            });
        }
        buf.extend_from_slice(&more);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::thread::{self, JoinHandle};

    use super::*;
    use crate::frame::{Digest, FileName, HeaderFrame};
    use crate::testutil::{ephemeral, DEADLINE};

    type Server = fn(Listener, &Limits) -> Result<(), Error>;

    /// Starts `server` on a free port and returns its address. The server runs forever;
    /// its thread ends with the test process.
    fn start(server: Server) -> SocketAddr {
        let listener = ephemeral();
        let addr = listener.local_addr();
        thread::spawn(move || server(listener, &Limits::default()));
        addr
    }

    /// A client of a server under test, with a deadline on every read.
    fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    /// Sends `command` and reads one framed-low frame: its prefix, then its body.
    fn low_exchange(stream: &mut TcpStream, command: &[u8]) -> Vec<u8> {
        stream.write_all(command).unwrap();
        let mut prefix = [0; 4];
        stream.read_exact(&mut prefix).unwrap();
        let length = usize::try_from(i32::from_le_bytes(prefix)).unwrap();
        let mut body = vec![0; length];
        stream.read_exact(&mut body).unwrap();
        body
    }

    /// Sends `command` and reads one framed-header frame, as it came: its prefix, the
    /// header, and as many bytes of body as the header's `total_size` says.
    fn header_exchange(stream: &mut TcpStream, command: &[u8]) -> Vec<u8> {
        stream.write_all(command).unwrap();
        let mut frame = vec![0; 4];
        stream.read_exact(&mut frame).unwrap();
        let length =
            usize::try_from(i32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]])).unwrap();
        let mut header = vec![0; length];
        stream.read_exact(&mut header).unwrap();
        let header_json: serde_json::Value = serde_json::from_slice(&header).unwrap();
        let total_size = usize::try_from(header_json["total_size"].as_u64().unwrap()).unwrap();
        let mut body = vec![0; total_size];
        stream.read_exact(&mut body).unwrap();
        frame.extend(header);
        frame.extend(body);
        frame
    }

    /// `frame` as a whole framed-header frame, and nothing more.
    fn decode_whole(frame: &[u8]) -> HeaderFrame<'_> {
        match frame::decode_header(frame, &frame::Limits::default()) {
            Ok(Decoded::Frame {
                frame: decoded,
                used,
            }) => {
                assert_eq!(used, frame.len());
                decoded
            }
            other => panic!("not a whole frame: {other:?}"),
        }
    }

    #[test]
    fn low_server_frames_stdout_then_stderr() {
        let addr = start(framed_low_server);
        let mut client = connect(addr);
        let body = low_exchange(&mut client, b"echo out; echo err >&2; echo more");
        assert_eq!(body, b"out\nmore\nerr\n");
        // Output that is not UTF-8 passes byte for byte.
        let body = low_exchange(&mut client, b"printf '\\377\\376' >&2");
        assert_eq!(body, [0xff, 0xfe]);
    }

    #[test]
    fn low_server_sends_an_empty_frame_for_no_output() {
        let addr = start(framed_low_server);
        let mut client = connect(addr);
        client.write_all(b"true").unwrap();
        let mut frame = [0xaa; 4];
        client.read_exact(&mut frame).unwrap();
        assert_eq!(frame, [0; 4]);
        // Nothing else came with it: the next frame starts right at the next reply.
        assert_eq!(low_exchange(&mut client, b"echo next"), b"next\n");
    }

    #[test]
    fn low_server_sends_a_large_reply_in_one_frame() {
        let addr = start(framed_low_server);
        let mut client = connect(addr);
        let body = low_exchange(&mut client, b"head -c 1048576 /dev/zero | tr '\\0' x");
        assert_eq!(body.len(), 1 << 20);
        assert!(body.iter().all(|&byte| byte == b'x'));
        assert_eq!(low_exchange(&mut client, b"echo after"), b"after\n");
    }

    #[test]
    fn header_server_sends_the_tutorial_header_with_the_real_md5() {
        let addr = start(framed_header_server);
        let mut client = connect(addr);
        let frame = header_exchange(&mut client, b"echo out; echo err >&2");
        let decoded = decode_whole(&frame);
        assert_eq!(decoded.body, b"out\nerr\n");
        assert_eq!(
            decoded.header,
            r#"{"md5": "8eff5c3508f20736ad5f78e862bb9816", "file_name": "f1.txt", "total_size": 8}"#,
        );
        assert_eq!(decoded.digest, Digest::Verified);
        assert_eq!(decoded.file_name, FileName::Text("f1.txt".to_owned()));
        assert!(decoded.is_strict());
    }

    #[test]
    fn header_server_frames_no_output_and_large_output() {
        let addr = start(framed_header_server);
        let mut client = connect(addr);
        let frame = header_exchange(&mut client, b"true");
        let decoded = decode_whole(&frame);
        assert_eq!(decoded.body, b"");
        // The MD5 of nothing.
        assert!(decoded
            .header
            .contains(r#""md5": "d41d8cd98f00b204e9800998ecf8427e""#));
        assert!(decoded.is_strict());
        let frame = header_exchange(&mut client, b"head -c 1048576 /dev/zero");
        let decoded = decode_whole(&frame);
        assert_eq!(decoded.body.len(), 1 << 20);
        assert_eq!(decoded.digest, Digest::Verified);
    }

    #[test]
    fn servers_end_a_conversation_at_end_of_stream_and_take_the_next_client() {
        for (server, format) in [
            (framed_low_server as Server, Format::Low),
            (framed_header_server, Format::Header(HeaderKeys::default())),
        ] {
            let addr = start(server);
            let mut first = connect(addr);
            // The second client waits in the backlog while the first is served.
            let mut second = connect(addr);
            second.write_all(b"echo two").unwrap();
            first.write_all(b"echo one").unwrap();
            let expected = format.encode(b"one\n");
            let mut reply = vec![0; expected.len()];
            first.read_exact(&mut reply).unwrap();
            assert_eq!(reply, expected);
            // A half-close: the server sees `b''` and, rather than send a frame for it,
            // ends the conversation and takes the next client.
            first.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            first.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, b"");
            second.shutdown(Shutdown::Write).unwrap();
            let mut reply = Vec::new();
            second.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, format.encode(b"two\n"));
        }
    }

    type Client =
        fn(SocketAddr, &mut &'static [u8], &mut Vec<u8>, &frame::Limits) -> Result<(), Error>;

    /// Runs a client in a thread and waits for it within the deadline, so a client that
    /// waits when it should not fails the test instead of hanging it. Returns how it
    /// ended and what it printed.
    fn run_client(
        client: Client,
        addr: SocketAddr,
        input: &'static [u8],
        limits: frame::Limits,
    ) -> (Result<(), Error>, String) {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut input = input;
            let mut out = Vec::new();
            let result = client(addr, &mut input, &mut out, &limits);
            let _ = tx.send((result, out));
        });
        match rx.recv_timeout(DEADLINE) {
            Ok((result, out)) => (result, String::from_utf8(out).unwrap()),
            Err(e) => panic!("the client did not finish: {e:?}"),
        }
    }

    /// What the test server does once it has sent its reply.
    #[derive(Clone, Copy)]
    enum Then {
        /// Keeps the connection open until the client closes it: a client that waits for
        /// more never finishes.
        Hold,
        /// Ends its side (FIN), then waits for the client to close.
        Close,
    }

    /// A one-client server that reads `command`, sends `reply` (one byte per write, with
    /// Nagle off, if `bytewise`), and then does as `then` says. Its thread returns what the
    /// client sent after the command before it closed, or the error of its reset.
    fn answer_once(
        command: &'static [u8],
        reply: Vec<u8>,
        bytewise: bool,
        then: Then,
    ) -> (SocketAddr, JoinHandle<io::Result<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut got = vec![0; command.len()];
            conn.read_exact(&mut got).unwrap();
            assert_eq!(got, command);
            if bytewise {
                conn.set_nodelay(true).unwrap();
                for byte in &reply {
                    conn.write_all(std::slice::from_ref(byte)).unwrap();
                }
            } else {
                conn.write_all(&reply).unwrap();
            }
            if let Then::Close = then {
                conn.shutdown(Shutdown::Write).unwrap();
            }
            // Drained, so that the close is a FIN: closing with input unread would reset.
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).map(|_| rest)
        });
        (addr, server)
    }

    /// A client's error, and that it printed no more than its first prompt.
    fn expect_error(ended: (Result<(), Error>, String)) -> Error {
        let (result, out) = ended;
        assert_eq!(out, ">>>");
        result.unwrap_err()
    }

    #[test]
    fn low_client_prints_each_reply_as_print_does() {
        let addr = start(framed_low_server);
        let (result, out) = run_client(
            framed_low_client,
            addr,
            b"echo hello\n\n   \n  true \nprintf 'a\\nb'\necho oops >&2\n",
            frame::Limits::default(),
        );
        result.unwrap();
        // Empty and blank lines are skipped without a word, as the tutorial's `continue`;
        // the empty frame of `true` prints as `print('')`.
        assert_eq!(out, ">>>hello\n\n>>>>>>>>>\n>>>a\nb\n>>>oops\n\n>>>");
    }

    #[test]
    fn header_client_prints_each_reply_as_print_does() {
        let addr = start(framed_header_server);
        let (result, out) = run_client(
            framed_header_client,
            addr,
            b" echo hello\t\ntrue\necho oops >&2\n",
            frame::Limits::default(),
        );
        result.unwrap();
        assert_eq!(out, ">>>hello\n\n>>>\n>>>oops\n\n>>>");
    }

    #[test]
    fn clients_read_a_large_reply_whole() {
        for (server, client) in [
            (framed_low_server as Server, framed_low_client as Client),
            (framed_header_server, framed_header_client),
        ] {
            let addr = start(server);
            let (result, out) = run_client(
                client,
                addr,
                b"head -c 1048576 /dev/zero | tr '\\0' y\necho after\n",
                frame::Limits::default(),
            );
            result.unwrap();
            let expected = format!(">>>{}\n>>>after\n\n>>>", "y".repeat(1 << 20));
            // Not `assert_eq!`: a failure would print two megabytes.
            assert!(out == expected, "{} bytes printed", out.len());
        }
    }

    #[test]
    fn clients_read_a_frame_sent_one_byte_at_a_time() {
        let (addr, server) = answer_once(b"cmd", frame::encode_low(b"split\n"), true, Then::Hold);
        let (result, out) = run_client(framed_low_client, addr, b"cmd\n", frame::Limits::default());
        result.unwrap();
        assert_eq!(out, ">>>split\n\n>>>");
        assert_eq!(server.join().unwrap().unwrap(), b"");

        let reply = frame::encode_header(b"split\n", "f1.txt");
        let (addr, server) = answer_once(b"cmd", reply, true, Then::Hold);
        let (result, out) = run_client(
            framed_header_client,
            addr,
            b"cmd\n",
            frame::Limits::default(),
        );
        result.unwrap();
        assert_eq!(out, ">>>split\n\n>>>");
        assert_eq!(server.join().unwrap().unwrap(), b"");
    }

    #[test]
    fn low_client_rejects_a_negative_length() {
        let (addr, server) = answer_once(b"ls", (-5i32).to_le_bytes().to_vec(), false, Then::Hold);
        let err = expect_error(run_client(
            framed_low_client,
            addr,
            b"ls\nnot sent\n",
            frame::Limits::default(),
        ));
        assert!(
            matches!(
                err,
                Error::BadFrame {
                    source: FrameError::NegativeLength { length: -5 },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("bad frame from `{addr}`: the prefix declares a negative length, `-5`")
        );
        // The client closed without sending anything more.
        assert_eq!(server.join().unwrap().unwrap(), b"");
    }

    #[test]
    fn low_client_rejects_an_oversized_length_from_the_prefix_alone() {
        // 2 GiB - 1 declared and never sent: a client that tried to read (or store) it
        // would wait for ever on the held connection.
        let prefix = i32::MAX.to_le_bytes().to_vec();
        let (addr, server) = answer_once(b"ls", prefix, false, Then::Hold);
        let err = expect_error(run_client(
            framed_low_client,
            addr,
            b"ls\n",
            frame::Limits::default(),
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "bad frame from `{addr}`: the prefix declares a length of `2147483647` bytes, \
                 over the limit of `67108864`"
            )
        );
        assert_eq!(server.join().unwrap().unwrap(), b"");

        // The limit is the client's: one byte over it is refused the same way.
        let limits = frame::Limits {
            max_body: 16,
            ..frame::Limits::default()
        };
        let (addr, _) = answer_once(b"ls", frame::encode_low(&[b'x'; 17]), false, Then::Hold);
        let err = expect_error(run_client(framed_low_client, addr, b"ls\n", limits));
        assert!(
            matches!(
                err,
                Error::BadFrame {
                    source: FrameError::LengthOverLimit {
                        length: 17,
                        limit: 16
                    },
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn header_client_rejects_a_header_that_is_not_json() {
        let reply = frame::encode_header_raw(b"{'total_size': 2}", b"hi");
        let (addr, server) = answer_once(b"ls", reply, false, Then::Hold);
        let err = expect_error(run_client(
            framed_header_client,
            addr,
            b"ls\n",
            frame::Limits::default(),
        ));
        assert!(
            matches!(
                err,
                Error::BadFrame {
                    source: FrameError::HeaderNotJson { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "bad frame from `{addr}`: the header is not JSON: key must be a string at \
                 line 1 column 2"
            )
        );
        // The client stopped at the header, with the body unread: its close is a reset.
        let ended = server.join().unwrap();
        assert!(
            matches!(&ended, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{ended:?}"
        );
    }

    #[test]
    fn header_client_rejects_an_oversized_header_or_total_size() {
        let limits = frame::Limits {
            max_body: 4,
            max_header: 20,
        };
        let reply = frame::encode_header_raw(br#"{"total_size": 2, "x": 1}"#, b"hi");
        let (addr, _) = answer_once(b"ls", reply, false, Then::Hold);
        let err = expect_error(run_client(framed_header_client, addr, b"ls\n", limits));
        assert_eq!(
            err.to_string(),
            format!(
                "bad frame from `{addr}`: the prefix declares a header length of `25` bytes, \
                 over the limit of `20`"
            )
        );
        let reply = frame::encode_header_raw(br#"{"total_size": 5}"#, b"");
        let (addr, _) = answer_once(b"ls", reply, false, Then::Hold);
        let err = expect_error(run_client(framed_header_client, addr, b"ls\n", limits));
        assert_eq!(
            err.to_string(),
            format!("bad frame from `{addr}`: `total_size` is `5` bytes, over the limit of `4`")
        );
    }

    #[test]
    fn header_client_rejects_an_md5_mismatch() {
        // A real digest: of `hello`, not of the body.
        let header = r#"{"md5": "5d41402abc4b2a76b9719d911017c592", "file_name": "f1.txt", "total_size": 5}"#;
        let reply = frame::encode_header_raw(header.as_bytes(), b"hallo");
        let (addr, server) = answer_once(b"ls", reply, false, Then::Hold);
        let err = expect_error(run_client(
            framed_header_client,
            addr,
            b"ls\n",
            frame::Limits::default(),
        ));
        assert!(
            matches!(
                err,
                Error::BadFrame {
                    source: FrameError::DigestMismatch { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "bad frame from `{addr}`: `md5` is `5d41402abc4b2a76b9719d911017c592` but the \
                 body's MD5 is `598d4c200461b81522a3328565c25f7c`"
            )
        );
        assert_eq!(server.join().unwrap().unwrap(), b"");
    }

    #[test]
    fn header_client_accepts_the_tutorial_placeholder_md5() {
        let header = r#"{"md5": "fdsaf2143254f", "file_name": "f1.txt", "total_size": 12}"#;
        let reply = frame::encode_header_raw(header.as_bytes(), b"hello world\n");
        let (addr, server) = answer_once(b"ls", reply, false, Then::Hold);
        let (result, out) = run_client(
            framed_header_client,
            addr,
            b"ls\n",
            frame::Limits::default(),
        );
        result.unwrap();
        assert_eq!(out, ">>>hello world\n\n>>>");
        assert_eq!(server.join().unwrap().unwrap(), b"");
    }

    #[test]
    fn clients_report_a_peer_that_closes_mid_frame() {
        // Mid-body: 10 bytes declared, 4 sent.
        let reply = [&10i32.to_le_bytes()[..], b"abcd"].concat();
        let (addr, server) = answer_once(b"ls", reply, false, Then::Close);
        let err = expect_error(run_client(
            framed_low_client,
            addr,
            b"ls\n",
            frame::Limits::default(),
        ));
        assert!(
            matches!(
                err,
                Error::ClosedMidFrame {
                    received: 8,
                    missing: 6,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "`{addr}` closed the connection in the middle of a frame, after 8 byte(s) of \
                 it; at least 6 more were due"
            )
        );
        assert_eq!(server.join().unwrap().unwrap(), b"");

        // Mid-prefix, which the tutorial's `recv(4)` would take for a whole one.
        let (addr, _) = answer_once(b"ls", vec![5, 0], false, Then::Close);
        let err = expect_error(run_client(
            framed_header_client,
            addr,
            b"ls\n",
            frame::Limits::default(),
        ));
        assert!(
            matches!(
                err,
                Error::ClosedMidFrame {
                    received: 2,
                    missing: 2,
                    ..
                }
            ),
            "{err:?}"
        );

        // Mid-body of a header frame, the header whole.
        let reply = frame::encode_header(b"0123456789", "f1.txt");
        let cut = reply.len() - 3;
        let (addr, _) = answer_once(b"ls", reply[..cut].to_vec(), false, Then::Close);
        let err = expect_error(run_client(
            framed_header_client,
            addr,
            b"ls\n",
            frame::Limits::default(),
        ));
        assert!(
            matches!(err, Error::ClosedMidFrame { missing: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn clients_stop_when_the_server_closes_between_exchanges() {
        for (client, reply) in [
            (framed_low_client as Client, frame::encode_low(b"ok")),
            (framed_header_client, frame::encode_header(b"ok", "f1.txt")),
        ] {
            let (addr, server) = answer_once(b"one", reply, false, Then::Close);
            let (result, out) =
                run_client(client, addr, b"one\ntwo\nthree\n", frame::Limits::default());
            result.unwrap();
            assert_eq!(out, ">>>ok\n>>>");
            // The next command went out before the client saw the close; no more after it.
            assert_eq!(server.join().unwrap().unwrap(), b"two");
        }
    }
}
