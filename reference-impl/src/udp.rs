//! The UDP programs (udp下的socket): udp-hello, one `hello` answered with `hi`, and
//! udp-chat, the QQ-style chat (类似于qq聊天) whose server answers each message with a
//! line typed on its stdin.

use std::io::{BufRead, Write};
use std::net::SocketAddr;

use crate::console::{print_line, prompt, read_line, strip};
use crate::net::Datagram;
use crate::pyrepr::bytes_repr;
use crate::Error;

/// The chat client's contacts, the keys of the tutorial's `qq_name_dic`. Every one of them
/// is at the server's address (the tutorial's `('127.0.0.1', 8081)`), so which name is
/// chosen only decides whether anything is sent at all.
const CONTACTS: &[&str] = &["taibai", "Jedan", "Jack", "John"];
/// The chat client's message that ends the chat with a contact (`if msg == 'q'`).
const QUIT: &[u8] = b"q";

/// The chat client's contacts and quit word: the tutorial's, or a course's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatWords {
    pub contacts: Vec<Vec<u8>>,
    pub quit: Vec<u8>,
}

impl Default for ChatWords {
    fn default() -> ChatWords {
        ChatWords {
            contacts: CONTACTS.iter().map(|c| c.as_bytes().to_vec()).collect(),
            quit: QUIT.to_vec(),
        }
    }
}

impl ChatWords {
    /// The words `contacts` (space-separated) and `quit` where given, else the tutorial's.
    pub fn from_words(words: &std::collections::BTreeMap<String, String>) -> ChatWords {
        let mut chat = ChatWords::default();
        if let Some(list) = words.get("contacts") {
            chat.contacts = list
                .split_whitespace()
                .map(|c| c.as_bytes().to_vec())
                .collect();
        }
        if let Some(quit) = words.get("quit") {
            chat.quit = quit.as_bytes().to_vec();
        }
        chat
    }
}

/// The tutorial's `recvfrom(1024)` (the chat client's `BUFSIZE`): a longer datagram is cut
/// to its first 1024 bytes, which SPEC.md makes part of the contract.
const RECV_SIZE: usize = 1024;
/// What the udp-hello client sends, and what its server answers: the tutorial's.
const HELLO: &[u8] = b"hello";
const HI: &[u8] = b"hi";

/// The words of udp-hello a course may change: the client's `request` and the server's
/// `reply` (the tutorial's `hello` and `hi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloWords {
    pub request: Vec<u8>,
    pub reply: Vec<u8>,
}

impl HelloWords {
    /// The words `request` and `reply` where given, else the tutorial's.
    pub fn from_words(words: &std::collections::BTreeMap<String, String>) -> HelloWords {
        let word = |name: &str, tutorial: &[u8]| {
            words
                .get(name)
                .map_or_else(|| tutorial.to_vec(), |w| w.as_bytes().to_vec())
        };
        HelloWords {
            request: word("request", HELLO),
            reply: word("reply", HI),
        }
    }
}
/// The chat server's `input('回复消息: ')`.
const REPLY_PROMPT: &str = "回复消息: ";
/// The chat client's two `input()` prompts.
const CONTACT_PROMPT: &str = "请选择聊天对象: ";
const MESSAGE_PROMPT: &str = "请输入消息,回车发送,输入q结束和他的聊天: ";
/// `\033[1;44m`, bold on blue, and `\033[0m`, back to normal: around each chat message.
const HIGHLIGHT: &str = "\x1b[1;44m";
const NORMAL: &str = "\x1b[0m";

/// udp-hello server: one datagram, printed as `print(msg)` prints bytes (`b'hello'`),
/// answered with the reply (the tutorial's `hi`) at the sender's address.
pub fn hello_server(
    socket: Datagram,
    words: &HelloWords,
    out: &mut impl Write,
) -> Result<(), Error> {
    let (message, from) = socket.recv_from(RECV_SIZE)?;
    print_line(out, &bytes_repr(&message))?;
    socket.send_to(&words.reply, from)
}

/// udp-hello client: sends `hello` and prints the reply as the tutorial's
/// `print(back_msg.decode('utf-8'), addr)` does: `hi ('127.0.0.1', 9000)`.
pub fn hello_client(
    server: SocketAddr,
    words: &HelloWords,
    out: &mut impl Write,
) -> Result<(), Error> {
    let socket = Datagram::for_server(server)?;
    socket.send_to(&words.request, server)?;
    let (reply, from) = socket.recv_from(RECV_SIZE)?;
    // Lossy where `decode('utf-8')` would raise: the suites only send this client ASCII.
    print_line(
        out,
        &format!(
            "{} {}",
            String::from_utf8_lossy(&reply),
            address_tuple(from)
        ),
    )
}

/// udp-chat server: prints each message with its sender, and answers it with a line of
/// stdin, sent to that sender, whoever wrote last. Returns at the end of stdin, noticed
/// when a reply is due; that message goes unanswered.
pub fn chat_server(
    socket: Datagram,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Error> {
    loop {
        let (message, from) = socket.recv_from(RECV_SIZE)?;
        print_line(out, &chat_line(from, &message))?;
        prompt(out, REPLY_PROMPT)?;
        // The tutorial's server dies here with `EOFError`; there is nobody left to answer
        // for, so it ends as a server that was told to stop.
        let Some(reply) = read_line(input)? else {
            return Ok(());
        };
        // Sent even when empty: in UDP `sendto(b'')` is an empty datagram, which the
        // client's `recvfrom` returns, so the client is not left waiting.
        socket.send_to(strip(&reply), from)?;
    }
}

/// udp-chat client: asks for a contact, then for messages to it until `q`; each message
/// to a known contact is sent and its answer printed. One socket for the whole run, as
/// the tutorial's: the server sees the same port for every message. Returns at the end
/// of stdin, at either prompt.
pub fn chat_client(
    server: SocketAddr,
    words: &ChatWords,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Error> {
    let socket = Datagram::for_server(server)?;
    loop {
        prompt(out, CONTACT_PROMPT)?;
        // The tutorial's client dies with `EOFError` at both prompts; ending there is
        // what it meant to do once there is nothing more to say.
        let Some(name) = read_line(input)? else {
            return Ok(());
        };
        // Empty and unknown names alike are not in `qq_name_dic`: nothing goes anywhere.
        let known = words.contacts.iter().any(|contact| contact == strip(&name));
        loop {
            prompt(out, MESSAGE_PROMPT)?;
            let Some(line) = read_line(input)? else {
                return Ok(());
            };
            let message = strip(&line);
            if message == words.quit.as_slice() {
                break;
            }
            // The tutorial's `continue`: ask for the next message without a word, as
            // `sendto(b'')` would send an empty datagram the server did not ask for.
            if message.is_empty() || !known {
                continue;
            }
            socket.send_to(message, server)?;
            let (reply, from) = socket.recv_from(RECV_SIZE)?;
            print_line(out, &chat_line(from, &reply))?;
        }
    }
}

/// The chat's print of a message and its sender, server and client alike:
/// `'来自[%s:%s]的一条消息:\033[1;44m%s\033[0m' % (addr[0], addr[1], msg.decode('utf-8'))`.
/// Lossy where `decode` would raise, e.g. on a character cut at byte 1024.
fn chat_line(from: SocketAddr, message: &[u8]) -> String {
    format!(
        "来自[{}:{}]的一条消息:{HIGHLIGHT}{}{NORMAL}",
        from.ip(),
        from.port(),
        String::from_utf8_lossy(message)
    )
}

/// Python's repr of a socket address tuple, as `print(..., addr)` shows it:
/// `('127.0.0.1', 9000)`, and for IPv6 the 4-tuple `('::1', 9000, 0, 0)` with the flow
/// label and scope id. (Python would add `%interface` to a scoped host; the reference
/// does not serve link-local addresses, and an IP address needs no quoting.)
fn address_tuple(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => format!("('{}', {})", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!(
            "('{}', {}, {}, {})",
            v6.ip(),
            v6.port(),
            v6.flowinfo(),
            v6.scope_id()
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::UdpSocket;
    use std::sync::mpsc::{self, Receiver};
    use std::thread;

    use super::*;
    use crate::testutil::{all_printed, expect_printed, Forward, DEADLINE, SILENCE};

    /// A server's socket on a free port of 127.0.0.1.
    fn ephemeral() -> Datagram {
        Datagram::bind("127.0.0.1:0".parse().unwrap()).unwrap()
    }

    /// The harness's side: a plain socket on a free port, with a deadline on every read.
    fn peer() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(DEADLINE)).unwrap();
        socket
    }

    /// The next datagram on `socket`, whole (the buffer is larger than any the tests
    /// send), and its sender.
    fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0; 4096];
        let (n, from) = socket.recv_from(&mut buf).expect("a datagram in time");
        (buf[..n].to_vec(), from)
    }

    /// The silence window: no datagram arrives on `socket` while it lasts.
    fn expect_silence(socket: &UdpSocket) {
        socket.set_read_timeout(Some(SILENCE)).unwrap();
        let mut buf = [0; 64];
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => panic!("expected silence, got {:?} from {from}", &buf[..n]),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
        }
        socket.set_read_timeout(Some(DEADLINE)).unwrap();
    }

    /// Runs `role` in a thread; [`finish`] waits for its result within the deadline, so a
    /// program that waits when it should not fails the test instead of hanging it.
    fn spawn<T: Send + 'static>(role: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(role());
        });
        rx
    }

    fn finish<T>(done: &Receiver<T>) -> T {
        done.recv_timeout(DEADLINE)
            .expect("the program did not finish in time")
    }

    /// Starts the hello server on a free port: its address, its prints, its result.
    fn start_hello() -> (SocketAddr, Receiver<Vec<u8>>, Receiver<Result<(), Error>>) {
        start_hello_with(HelloWords::from_words(&Default::default()))
    }

    fn start_hello_with(
        words: HelloWords,
    ) -> (SocketAddr, Receiver<Vec<u8>>, Receiver<Result<(), Error>>) {
        let socket = ephemeral();
        let addr = socket.local_addr();
        let (tx, printed) = mpsc::channel();
        let done = spawn(move || hello_server(socket, &words, &mut Forward(tx)));
        (addr, printed, done)
    }

    #[test]
    fn a_courses_hello_words_are_what_is_sent_and_answered() {
        let words: std::collections::BTreeMap<String, String> =
            [("request", "ping"), ("reply", "pong")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let words = HelloWords::from_words(&words);
        let (addr, printed, server) = start_hello_with(words.clone());
        let client = spawn(move || {
            let mut out = Vec::new();
            hello_client(addr, &words, &mut out).map(|()| out)
        });
        let client_out = finish(&client).unwrap();
        finish(&server).unwrap();
        assert_eq!(all_printed(&printed), b"b'ping'\n");
        assert_eq!(
            String::from_utf8(client_out).unwrap(),
            format!("pong ('127.0.0.1', {})\n", addr.port())
        );
    }

    /// Starts the chat server on a free port with `input` as its stdin.
    fn start_chat(
        input: &'static [u8],
    ) -> (SocketAddr, Receiver<Vec<u8>>, Receiver<Result<(), Error>>) {
        let socket = ephemeral();
        let addr = socket.local_addr();
        let (tx, printed) = mpsc::channel();
        let done = spawn(move || {
            let mut input = input;
            chat_server(socket, &mut input, &mut Forward(tx))
        });
        (addr, printed, done)
    }

    /// The chat client against `server` with `input` as its stdin; its result and prints.
    fn start_chat_client(
        server: SocketAddr,
        input: &'static [u8],
    ) -> Receiver<Result<Vec<u8>, Error>> {
        spawn(move || {
            let mut input = input;
            let mut out = Vec::new();
            chat_client(server, &ChatWords::default(), &mut input, &mut out).map(|()| out)
        })
    }

    /// [`chat_line`] and its newline, as bytes.
    fn printed_line(from: SocketAddr, message: &[u8]) -> String {
        format!("{}\n", chat_line(from, message))
    }

    #[test]
    fn hello_server_and_client_round_trip() {
        let (addr, printed, server) = start_hello();
        let client = spawn(move || {
            let mut out = Vec::new();
            hello_client(addr, &HelloWords::from_words(&Default::default()), &mut out).map(|()| out)
        });
        let client_out = finish(&client).unwrap();
        finish(&server).unwrap();
        assert_eq!(all_printed(&printed), b"b'hello'\n");
        assert_eq!(
            String::from_utf8(client_out).unwrap(),
            format!("hi ('127.0.0.1', {})\n", addr.port())
        );
    }

    #[test]
    fn hello_server_answers_hi_at_the_senders_address() {
        let (addr, printed, server) = start_hello();
        let client = peer();
        client.send_to(b"hello", addr).unwrap();
        assert_eq!(receive(&client), (b"hi".to_vec(), addr));
        finish(&server).unwrap();
        assert_eq!(all_printed(&printed), b"b'hello'\n");
    }

    #[test]
    fn hello_client_sends_hello_and_prints_the_reply_and_its_sender() {
        let server = peer();
        let addr = server.local_addr().unwrap();
        let client = spawn(move || {
            let mut out = Vec::new();
            hello_client(addr, &HelloWords::from_words(&Default::default()), &mut out).map(|()| out)
        });
        let (message, from) = receive(&server);
        assert_eq!(message, b"hello");
        server.send_to(b"hi", from).unwrap();
        assert_eq!(
            String::from_utf8(finish(&client).unwrap()).unwrap(),
            format!("hi ('127.0.0.1', {})\n", addr.port())
        );
        expect_silence(&server);
    }

    #[test]
    fn hello_server_prints_the_first_1024_bytes_of_a_long_datagram() {
        let (addr, printed, server) = start_hello();
        let long: Vec<u8> = (0..2000).map(|i| b'a' + (i % 26) as u8).collect();
        let client = peer();
        client.send_to(&long, addr).unwrap();
        assert_eq!(receive(&client), (b"hi".to_vec(), addr));
        finish(&server).unwrap();
        assert_eq!(
            all_printed(&printed),
            format!("{}\n", bytes_repr(&long[..RECV_SIZE])).into_bytes()
        );
    }

    #[test]
    fn hello_server_takes_an_empty_datagram_as_a_message() {
        let (addr, printed, server) = start_hello();
        let client = peer();
        client.send_to(b"", addr).unwrap();
        assert_eq!(receive(&client), (b"hi".to_vec(), addr));
        finish(&server).unwrap();
        assert_eq!(all_printed(&printed), b"b''\n");
    }

    #[test]
    fn chat_server_answers_each_client_with_the_reply_typed_for_it() {
        let (addr, printed, server) = start_chat(b"  for one \t\nfor two\n");
        let (one, two) = (peer(), peer());
        let one_addr = one.local_addr().unwrap();
        let two_addr = two.local_addr().unwrap();
        // Both wait at once: each answer goes to the one it was typed for.
        one.send_to(b"from one", addr).unwrap();
        two.send_to("来自二".as_bytes(), addr).unwrap();
        assert_eq!(receive(&one), (b"for one".to_vec(), addr));
        assert_eq!(receive(&two), (b"for two".to_vec(), addr));
        // Stdin is used up: the next message is printed, and left unanswered.
        one.send_to(b"bye", addr).unwrap();
        finish(&server).unwrap();
        expect_silence(&one);
        expect_silence(&two);
        let expected = [
            printed_line(one_addr, b"from one"),
            REPLY_PROMPT.to_owned(),
            printed_line(two_addr, "来自二".as_bytes()),
            REPLY_PROMPT.to_owned(),
            printed_line(one_addr, b"bye"),
            REPLY_PROMPT.to_owned(),
        ]
        .concat();
        assert_eq!(String::from_utf8(all_printed(&printed)).unwrap(), expected);
    }

    #[test]
    fn chat_server_exits_at_the_end_of_stdin_without_sending() {
        let (addr, printed, server) = start_chat(b"");
        let client = peer();
        let client_addr = client.local_addr().unwrap();
        client.send_to(b"hello", addr).unwrap();
        finish(&server).unwrap();
        expect_silence(&client);
        assert_eq!(
            String::from_utf8(all_printed(&printed)).unwrap(),
            format!("{}{REPLY_PROMPT}", printed_line(client_addr, b"hello"))
        );
    }

    #[test]
    fn chat_server_sends_a_reply_that_strips_to_nothing_as_an_empty_datagram() {
        let (addr, _printed, _server) = start_chat(b" \t \n");
        let client = peer();
        client.send_to(b"hello", addr).unwrap();
        assert_eq!(receive(&client), (Vec::new(), addr));
    }

    #[test]
    fn chat_server_prints_the_first_1024_bytes_of_a_long_datagram_and_an_empty_one() {
        let (addr, printed, _server) = start_chat(b"ok\nok\n");
        let client = peer();
        let client_addr = client.local_addr().unwrap();
        let long: Vec<u8> = (0..2000).map(|i| b'a' + (i % 26) as u8).collect();
        client.send_to(&long, addr).unwrap();
        expect_printed(
            &printed,
            format!(
                "{}{REPLY_PROMPT}",
                printed_line(client_addr, &long[..RECV_SIZE])
            )
            .as_bytes(),
        );
        assert_eq!(receive(&client), (b"ok".to_vec(), addr));
        client.send_to(b"", addr).unwrap();
        expect_printed(
            &printed,
            format!("{}{REPLY_PROMPT}", printed_line(client_addr, b"")).as_bytes(),
        );
        assert_eq!(receive(&client), (b"ok".to_vec(), addr));
    }

    #[test]
    fn chat_client_sends_only_nonempty_messages_to_known_contacts() {
        let server = peer();
        let addr = server.local_addr().unwrap();
        let client = start_chat_client(
            addr,
            // An empty name and an unknown one: their messages go nowhere. Then Jack: the
            // empty messages are skipped, `hi` is sent; then John, and stdin ends.
            b"\nlost\nq\nnobody\nlost too\nq\n  Jack \n\n   \n  hi \nq\nJohn\nsecond\n",
        );
        let (first, client_addr) = receive(&server);
        assert_eq!(first, b"hi");
        server.send_to(b"back one", client_addr).unwrap();
        let (second, from) = receive(&server);
        assert_eq!(second, b"second");
        // One socket for the whole run: the same port, whichever the contact.
        assert_eq!(from, client_addr);
        server.send_to("回二".as_bytes(), client_addr).unwrap();
        let out = String::from_utf8(finish(&client).unwrap()).unwrap();
        expect_silence(&server);
        let expected = [
            CONTACT_PROMPT,
            MESSAGE_PROMPT,
            MESSAGE_PROMPT,
            CONTACT_PROMPT,
            MESSAGE_PROMPT,
            MESSAGE_PROMPT,
            CONTACT_PROMPT,
            MESSAGE_PROMPT,
            MESSAGE_PROMPT,
            MESSAGE_PROMPT,
            &printed_line(addr, b"back one"),
            MESSAGE_PROMPT,
            CONTACT_PROMPT,
            MESSAGE_PROMPT,
            &printed_line(addr, "回二".as_bytes()),
            MESSAGE_PROMPT,
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn chat_client_takes_a_courses_contacts_and_quit_word() {
        let words = [("contacts", "alice bob"), ("quit", "bye")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let chat = ChatWords::from_words(&words);
        assert_eq!(chat.contacts, [b"alice".to_vec(), b"bob".to_vec()]);
        assert_eq!(chat.quit, b"bye");
        assert_eq!(
            ChatWords::from_words(&Default::default()),
            ChatWords::default(),
            "no words: the tutorial's"
        );
        assert_eq!(ChatWords::default().contacts.len(), 4);
        assert_eq!(ChatWords::default().quit, b"q");
    }

    #[test]
    fn chat_client_exits_at_the_end_of_stdin_at_either_prompt() {
        let server = peer();
        let addr = server.local_addr().unwrap();
        let out = finish(&start_chat_client(addr, b"")).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), CONTACT_PROMPT);
        let out = finish(&start_chat_client(addr, b"taibai\n")).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            [CONTACT_PROMPT, MESSAGE_PROMPT].concat()
        );
        expect_silence(&server);
    }

    #[test]
    fn chat_client_prints_an_empty_reply() {
        let server = peer();
        let addr = server.local_addr().unwrap();
        let client = start_chat_client(addr, b"Jedan\nhello\n");
        let (message, client_addr) = receive(&server);
        assert_eq!(message, b"hello");
        server.send_to(b"", client_addr).unwrap();
        let out = String::from_utf8(finish(&client).unwrap()).unwrap();
        assert_eq!(
            out,
            [
                CONTACT_PROMPT,
                MESSAGE_PROMPT,
                &printed_line(addr, b""),
                MESSAGE_PROMPT
            ]
            .concat()
        );
    }

    #[test]
    fn prints_are_the_tutorials_formats() {
        let v4: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        assert_eq!(
            chat_line(v4, "hi 你好".as_bytes()),
            "来自[127.0.0.1:8081]的一条消息:\x1b[1;44mhi 你好\x1b[0m"
        );
        let v6: SocketAddr = "[::1]:8081".parse().unwrap();
        assert_eq!(
            chat_line(v6, b"a\xffb"),
            "来自[::1:8081]的一条消息:\x1b[1;44ma\u{fffd}b\x1b[0m"
        );
        assert_eq!(address_tuple(v4), "('127.0.0.1', 8081)");
        assert_eq!(address_tuple(v6), "('::1', 8081, 0, 0)");
        assert_eq!(
            address_tuple("[::ffff:127.0.0.1]:9000".parse().unwrap()),
            "('::ffff:127.0.0.1', 9000, 0, 0)"
        );
    }
}
