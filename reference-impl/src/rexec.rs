//! Remote command execution, the tutorial's two versions (远程执行命令的示例 and
//! 远程执行命令): the server runs each command it receives with `sh -c` and sends back
//! stdout followed by stderr in one unframed reply; rexec2 adds `q` to quit. Also the
//! command runner both use (and the framed servers, whose replies it makes too), which
//! reads the two pipes at once (the tutorial reads stdout to its end first and deadlocks
//! once stderr fills its pipe) and bounds every command in time and in output, since the
//! reference is a remote shell.

use std::ffi::OsStr;
use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::console::{print_line, prompt, read_line};
use crate::net::{Conn, Listener};
use crate::{unless_server_gone, Error};

/// The tutorial's `recv(1024)`, for commands and replies alike.
const RECV_SIZE: usize = 1024;
/// The clients' `input('>>>')`.
const PROMPT: &str = ">>>";
/// What rexec2's server prints when a client sends `q` (the tutorial's words: "the
/// client quit the chat normally").
const QUIT_NOTICE: &str = "客户端正常退出聊天了";
/// What rexec2's client prints instead of sending an empty line ("the message must not
/// be empty"): `send(b'')` sends nothing, and both sides would then wait for ever.
const EMPTY_NOTICE: &str = "发送内容不能为空";
/// How long to wait, once the command's process group is killed, for its pipes to close.
/// They close at once unless a process left the group (`setsid`) and holds them; the
/// reply then goes without whatever that process would still write.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// What bounds each command a server runs: it is given a shell by anyone who connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// After this, the command's whole process group is killed and the reply says so.
    pub time_limit: Duration,
    /// At most this many bytes of output are sent; the reply says when it was cut.
    pub max_reply: usize,
}

impl Default for Limits {
    /// 10 s and 64 MiB: far beyond what the suites' commands need, well short of a
    /// runaway command's harm.
    fn default() -> Self {
        Limits {
            time_limit: Duration::from_secs(10),
            max_reply: 64 << 20,
        }
    }
}

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
    let mut conn = Conn::connect(addr)?;
    loop {
        prompt(out, PROMPT)?;
        // The tutorial's client dies here with `EOFError`; closing and exiting 0 is what
        // it meant to do once there is nothing more to say.
        let Some(command) = read_line(input)? else {
            return Ok(());
        };
        if unless_server_gone(conn.send(&command))?.is_none() {
            return Ok(());
        }
        if !receive_and_print(&mut conn, out)? {
            return Ok(());
        }
    }
}

/// rexec2 client: rexec1's, with the input stripped, empty lines refused, and `q` sent
/// as the last word: the client closes right after it, with no reply to wait for.
pub fn rexec2_client(
    addr: SocketAddr,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Error> {
    let mut conn = Conn::connect(addr)?;
    loop {
        prompt(out, PROMPT)?;
        let Some(line) = read_line(input)? else {
            return Ok(());
        };
        let command = strip(&line);
        if command.is_empty() {
            print_line(out, EMPTY_NOTICE)?;
            continue;
        }
        if unless_server_gone(conn.send(command))?.is_none() {
            return Ok(());
        }
        if is_quit(command) {
            return Ok(());
        }
        if !receive_and_print(&mut conn, out)? {
            return Ok(());
        }
    }
}

/// The clients' `recv(1024)` and `print(data.decode(...))`: the reply as text (the
/// tutorial decodes GBK for Chinese Windows; the shell here speaks UTF-8), and the
/// newline `print` adds after it, even when the output ends with its own. `false` when
/// the server has closed (or reset) instead: the client stops rather than spin on `b''`.
fn receive_and_print(conn: &mut Conn, out: &mut impl Write) -> Result<bool, Error> {
    let reply = unless_server_gone(conn.recv(RECV_SIZE))?.unwrap_or_default();
    if reply.is_empty() {
        return Ok(false);
    }
    print_line(out, &String::from_utf8_lossy(&reply))?;
    Ok(true)
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

/// `input().strip()`: without the whitespace around it, as Python's `str.strip` sees
/// whitespace (Unicode's, and the separators `\x1c` to `\x1f`). Input that is not UTF-8
/// loses the ASCII whitespace only.
pub(crate) fn strip(line: &[u8]) -> &[u8] {
    match std::str::from_utf8(line) {
        Ok(text) => text
            .trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
            .as_bytes(),
        Err(_) => line.trim_ascii(),
    }
}

/// What running one command gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Output {
    /// At most [`Limits::max_reply`] bytes of each stream.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Stdout and stderr together went beyond [`Limits::max_reply`].
    cut: bool,
    /// The command ran out of time and was killed.
    timed_out: bool,
    /// Both pipes reached their end: every process that could write to them is gone.
    /// `false` when the command could not be started, or when a process outlived the
    /// kill of the group (it left the group) and kept them open.
    pipes_closed: bool,
    /// Why the command could not be run, if it could not.
    error: Option<String>,
}

impl Output {
    /// The reply: stdout then stderr, as the tutorial's `stdout.read() + stderr.read()`,
    /// cut at the cap, and after them a line that says why the output stops short, if it
    /// does.
    pub(crate) fn into_reply(self, limits: &Limits) -> Vec<u8> {
        let mut reply = self.stdout;
        reply.extend_from_slice(&self.stderr);
        let note = if let Some(error) = self.error {
            format!("sockref: cannot run `sh -c`: {error}\n")
        } else if self.cut {
            reply.truncate(limits.max_reply);
            format!(
                "sockref: reply cut at {} bytes (--max-reply)\n",
                limits.max_reply
            )
        } else if self.timed_out {
            format!(
                "sockref: command timed out after {} s and was killed\n",
                limits.time_limit.as_secs_f64()
            )
        } else {
            return reply;
        };
        if !reply.is_empty() && !reply.ends_with(b"\n") {
            reply.push(b'\n');
        }
        reply.extend_from_slice(note.as_bytes());
        reply
    }
}

/// The two pipes of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// The pipes' readers report through a channel, so the runner can wait for them and for
/// its deadline at once.
enum Event {
    /// One pipe reached its end.
    Closed,
    /// One stream went beyond the cap by itself: the reply is sure to be cut, and
    /// nothing the command writes from now on can be sent.
    Overflow,
}

/// What the two readers collect, kept apart from them so the runner can take what there
/// is even if a reader never finishes.
#[derive(Default)]
struct Collected {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// A reader dropped bytes beyond the cap.
    dropped: bool,
}

/// Runs `command` with `sh -c` in the server's working directory, stdin empty, in its own
/// process group, and collects stdout and stderr, reading both at once. The whole group
/// is killed when the time limit passes, when either stream alone goes beyond the cap
/// (what stdout holds by then is all of it that is sent), and in any case once the output
/// is complete, so that no process of the command outlives it.
///
/// Each stream keeps up to the cap by itself, so that for a command that ends, the reply
/// is exactly the first `max_reply` bytes of stdout followed by stderr, however the two
/// readers happened to interleave.
pub(crate) fn run_command(command: &[u8], limits: &Limits) -> Output {
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(OsStr::from_bytes(command))
        // The server's stdin is none of the command's business (the tutorial's `Popen`
        // lends it; a `cat` would then hang until the time limit).
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut group = match spawned {
        Ok(child) => Group(child),
        Err(error) => {
            return Output {
                error: Some(error.to_string()),
                ..Output::default()
            }
        }
    };
    let collected = Arc::new(Mutex::new(Collected::default()));
    let (events, reports) = mpsc::channel();
    let readers = [
        (Stream::Stdout, group.0.stdout.take().map(Pipe::Stdout)),
        (Stream::Stderr, group.0.stderr.take().map(Pipe::Stderr)),
    ];
    let mut open = 0;
    for (stream, pipe) in readers {
        let Some(pipe) = pipe else { continue };
        let (collected, events) = (Arc::clone(&collected), events.clone());
        let max = limits.max_reply;
        let started = thread::Builder::new()
            .name(format!("command {stream:?}"))
            .spawn(move || read_pipe(pipe, stream, &collected, max, &events));
        match started {
            Ok(_) => open += 1,
            Err(error) => {
                // `group` is dropped on the way out: the command dies with the reply.
                return Output {
                    error: Some(format!("cannot read its {stream:?}: {error}")),
                    ..Output::default()
                };
            }
        }
    }
    // Only the readers hold senders now: if both die, `recv` says so instead of waiting.
    drop(events);

    let deadline = Instant::now().checked_add(limits.time_limit);
    let mut killed_at: Option<Instant> = None;
    let mut timed_out = false;
    while open > 0 {
        let until = match killed_at {
            Some(at) => Some(at + KILL_GRACE),
            None => deadline,
        };
        let report = match until {
            Some(until) => reports.recv_timeout(until.saturating_duration_since(Instant::now())),
            // A time limit too far away to be an `Instant`: no time limit.
            None => reports.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match report {
            Ok(Event::Closed) => open -= 1,
            Ok(Event::Overflow) => {
                if killed_at.is_none() {
                    group.kill();
                    killed_at = Some(Instant::now());
                }
            }
            Err(RecvTimeoutError::Timeout) if killed_at.is_none() => {
                group.kill();
                killed_at = Some(Instant::now());
                timed_out = true;
            }
            // The grace after the kill is over, or a reader died: reply with what there is.
            Err(_) => break,
        }
    }
    // Kills what is left of the group (background jobs of a command that finished) and
    // reaps the shell.
    drop(group);

    let mut collected = collected.lock().unwrap_or_else(PoisonError::into_inner);
    let (stdout, stderr) = (
        std::mem::take(&mut collected.stdout),
        std::mem::take(&mut collected.stderr),
    );
    Output {
        cut: collected.dropped || stdout.len() + stderr.len() > limits.max_reply,
        stdout,
        stderr,
        timed_out,
        pipes_closed: open == 0,
        error: None,
    }
}

/// One of the command's pipes, for the thread that reads it.
enum Pipe {
    Stdout(ChildStdout),
    Stderr(ChildStderr),
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Pipe::Stdout(pipe) => pipe.read(buf),
            Pipe::Stderr(pipe) => pipe.read(buf),
        }
    }
}

/// Reads one of the command's pipes to its end, keeping up to `max` bytes and draining
/// the rest, so the command never blocks on a full pipe while it is alive.
fn read_pipe(
    mut pipe: Pipe,
    stream: Stream,
    collected: &Mutex<Collected>,
    max: usize,
    events: &Sender<Event>,
) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            // Nothing more can be read; what was read is kept.
            Err(_) => break,
        };
        let overflowed = {
            let mut collected = collected.lock().unwrap_or_else(PoisonError::into_inner);
            let first = !collected.dropped;
            let kept = match stream {
                Stream::Stdout => &mut collected.stdout,
                Stream::Stderr => &mut collected.stderr,
            };
            let take = n.min(max - kept.len());
            kept.extend_from_slice(&buf[..take]);
            if take < n {
                collected.dropped = true;
            }
            take < n && first
        };
        if overflowed {
            // The runner may have stopped listening (its grace is over); nothing to do then.
            let _ = events.send(Event::Overflow);
        }
    }
    let _ = events.send(Event::Closed);
}

/// The shell of one command, the leader of its own process group. Dropping it kills the
/// group and reaps the shell, so no path leaves a process behind.
struct Group(Child);

impl Group {
    /// SIGKILL to every process of the group. The shell is not reaped before the drop,
    /// so its pid, which is the group's id, cannot have been reused by then.
    fn kill(&mut self) {
        let Ok(pgid) = libc::pid_t::try_from(self.0.id()) else {
            return;
        };
        // SAFETY: kill(2) takes no pointers; a negative pid names a process group.
        // It fails only with ESRCH once every process of the group is gone: that is fine.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        // Dead or dying of SIGKILL: the wait is short. An error means it was reaped already.
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::mpsc::{self, Receiver};
    use std::thread;

    use super::*;
    use crate::testutil::{all_printed, ephemeral, expect_printed, Forward, DEADLINE, SILENCE};

    /// Limits with a short time limit, so the tests that hit it are quick.
    fn quick_limits() -> Limits {
        Limits {
            time_limit: Duration::from_secs(1),
            ..Limits::default()
        }
    }

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
        match stream.read(&mut buf) {
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
    fn output_is_stdout_then_stderr() {
        let output = run_command(b"echo out; echo err >&2; echo more", &Limits::default());
        assert_eq!(output.stdout, b"out\nmore\n");
        assert_eq!(output.stderr, b"err\n");
        assert!(output.pipes_closed);
        let reply = output.into_reply(&Limits::default());
        assert_eq!(reply, b"out\nmore\nerr\n");
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
        let n = client.read(&mut reply).unwrap();
        assert_eq!(&reply[..n], b"out\nmore\nerr\n");
    }

    #[test]
    fn stderr_beyond_a_pipe_does_not_deadlock() {
        // About 190 KB on stderr: three times a Linux pipe's 64 KiB, between two lines
        // of stdout. Reading stdout to its end first would wait for ever (the time limit
        // would then end it, and the reply would say so).
        let command = b"echo first; \
            awk 'BEGIN { for (i = 0; i < 20000; i++) print \"line\", i }' >&2; \
            echo last";
        let output = run_command(command, &Limits::default());
        assert!(!output.timed_out);
        assert_eq!(output.stdout, b"first\nlast\n");
        let expected: String = (0..20000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(output.stderr.len(), expected.len());
        assert!(output.stderr == expected.as_bytes());
    }

    #[test]
    fn no_output_sends_nothing() {
        assert_eq!(
            run_command(b"true", &Limits::default()).into_reply(&Limits::default()),
            b""
        );
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
        let output = run_command(b"printf '\\377\\376'", &Limits::default());
        assert_eq!(output.stdout, [0xff, 0xfe]);
        // The command's own bytes reach the shell as they are, too.
        let output = run_command(b"printf '\xff\xc3('", &Limits::default());
        assert_eq!(output.stdout, [0xff, 0xc3, b'(']);
        let (addr, _) = start(rexec1_server, Limits::default());
        let mut client = connect(addr);
        exchange(&mut client, b"printf '\\377\\376' >&2", &[0xff, 0xfe]);
    }

    #[test]
    fn time_limit_kills_the_whole_group() {
        let limits = quick_limits();
        let started = Instant::now();
        // The background sleep holds the pipes open too: they close only if it dies
        // with the shell, that is, if the group is killed and not just the shell.
        let output = run_command(b"echo started; sleep 100 & sleep 100", &limits);
        assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());
        assert!(output.timed_out);
        assert!(output.pipes_closed, "a process of the group survived");
        assert_eq!(
            output.into_reply(&limits),
            b"started\nsockref: command timed out after 1 s and was killed\n"
        );
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
    fn reply_is_cut_at_the_cap_with_a_marker() {
        let limits = Limits {
            max_reply: 10,
            ..Limits::default()
        };
        let reply = run_command(b"echo 0123; echo 456789abcdef >&2", &limits).into_reply(&limits);
        assert_eq!(
            reply,
            b"0123\n45678\nsockref: reply cut at 10 bytes (--max-reply)\n"
        );
        // A command that never stops writing is killed at the cap, not at the time limit.
        let output = run_command(b"while :; do echo y; done", &limits);
        assert!(output.cut && !output.timed_out, "{output:?}");
        assert_eq!(output.stdout, b"y\ny\ny\ny\ny\n");
        // Exactly the cap is not cut, even from both streams; one byte more is.
        let output = run_command(b"printf 01234 >&2; printf 56789", &limits);
        assert!(!output.cut);
        assert_eq!(output.into_reply(&limits), b"5678901234");
        let reply = run_command(b"printf 01234 >&2; printf 567890", &limits).into_reply(&limits);
        assert_eq!(
            reply,
            b"5678900123\nsockref: reply cut at 10 bytes (--max-reply)\n"
        );
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
        assert!(client.read(&mut reply).unwrap() > 0);
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
    fn strip_is_python_str_strip() {
        assert_eq!(strip(b" \t ls -l \r\x0b\x0c"), b"ls -l");
        assert_eq!(strip("\u{3000}pwd\x1f".as_bytes()), b"pwd");
        assert_eq!(strip(b" \xff "), b"\xff");
        assert_eq!(strip(b"   "), b"");
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
