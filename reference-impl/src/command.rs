//! The command runner of the remote shells (rexec1, rexec2, sticky1, and the framed
//! servers, whose replies it makes too): it runs a command with `sh -c` in its own process
//! group, reads its stdout and stderr at once (the tutorial reads stdout to its end first
//! and deadlocks once stderr fills its pipe), and bounds it in time and in output, since
//! the reference is a remote shell.

use rustix::process::{kill_process_group, Pid, Signal};
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait, once the command's process group is killed, for its pipes to close.
/// They close at once unless a process left the group (`setsid`) and holds them; the
/// reply then goes without whatever that process would still write.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// How much a pipe's reader asks for at a time: a Linux pipe's whole buffer.
const READ_SIZE: usize = 64 * 1024;

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
    /// The output of a command that could not be run: only why.
    fn failed(error: String) -> Output {
        Output {
            error: Some(error),
            ..Output::default()
        }
    }

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
    let mut group = match Group::spawn(command) {
        Ok(group) => group,
        Err(error) => return Output::failed(error.to_string()),
    };
    let collected = Arc::new(Mutex::new(Collected::default()));
    let (events, reports) = mpsc::channel();
    let open = match start_readers(&mut group, &collected, limits.max_reply, events) {
        Ok(open) => open,
        // `group` is dropped on the way out: the command dies with the reply.
        Err(error) => return Output::failed(error),
    };
    let watched = watch(&mut group, &reports, open, limits.time_limit);
    // Kills what is left of the group (background jobs of a command that finished) and
    // reaps the shell.
    drop(group);
    let mut collected = collected.lock().unwrap_or_else(PoisonError::into_inner);
    collected.take_output(limits.max_reply, watched)
}

/// Starts a thread to read each of the command's pipes into `collected`, and returns how
/// many there are, or why one could not be started. `events` goes to the readers only:
/// if they all die, the runner's `recv` says so instead of waiting.
fn start_readers(
    group: &mut Group,
    collected: &Arc<Mutex<Collected>>,
    max: usize,
    events: Sender<Event>,
) -> Result<usize, String> {
    let readers = [
        (Stream::Stdout, group.0.stdout.take().map(Pipe::Stdout)),
        (Stream::Stderr, group.0.stderr.take().map(Pipe::Stderr)),
    ];
    let mut open = 0;
    for (stream, pipe) in readers {
        let Some(pipe) = pipe else { continue };
        let (collected, events) = (Arc::clone(collected), events.clone());
        thread::Builder::new()
            .name(format!("command {stream:?}"))
            .spawn(move || read_pipe(pipe, stream, &collected, max, &events))
            .map_err(|error| format!("cannot read its {stream:?}: {error}"))?;
        open += 1;
    }
    Ok(open)
}

/// How the wait for the command's output ended.
#[derive(Debug, Clone, Copy)]
struct Watched {
    /// The time limit passed and the group was killed for it.
    timed_out: bool,
    /// Every reader reached the end of its pipe.
    pipes_closed: bool,
}

/// Waits for the `open` readers to reach the end of their pipes. The group is killed at
/// the time limit, or at the first overflow; from then on the wait lasts [`KILL_GRACE`]
/// at most. It ends early, too, should a reader die.
fn watch(
    group: &mut Group,
    reports: &Receiver<Event>,
    mut open: usize,
    time_limit: Duration,
) -> Watched {
    let deadline = Instant::now().checked_add(time_limit);
    let mut killed_at: Option<Instant> = None;
    let mut timed_out = false;
    while open > 0 {
        let until = match killed_at {
            Some(at) => Some(at + KILL_GRACE),
            None => deadline,
        };
        match next_report(reports, until) {
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
    Watched {
        timed_out,
        pipes_closed: open == 0,
    }
}

/// The readers' next report, waiting until `until`; `None` is a time too far away to be
/// an `Instant`, which is no time limit at all.
fn next_report(
    reports: &Receiver<Event>,
    until: Option<Instant>,
) -> Result<Event, RecvTimeoutError> {
    match until {
        Some(until) => reports.recv_timeout(until.saturating_duration_since(Instant::now())),
        None => reports.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
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

impl Collected {
    /// Keeps as much of `bytes`, read from `stream`, as fits under `max` for that stream,
    /// and drops the rest. Whether this is the first time bytes were dropped, of either
    /// stream: the one overflow the runner is told of.
    fn keep(&mut self, stream: Stream, bytes: &[u8], max: usize) -> bool {
        let first = !self.dropped;
        let kept = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let take = bytes.len().min(max - kept.len());
        kept.extend_from_slice(&bytes[..take]);
        if take < bytes.len() {
            self.dropped = true;
        }
        take < bytes.len() && first
    }

    /// The output of the command, taking what was collected (a reader that outlived the
    /// wait may still hold the rest of its pipe).
    fn take_output(&mut self, max_reply: usize, watched: Watched) -> Output {
        let (stdout, stderr) = (
            std::mem::take(&mut self.stdout),
            std::mem::take(&mut self.stderr),
        );
        Output {
            cut: self.dropped || stdout.len() + stderr.len() > max_reply,
            stdout,
            stderr,
            timed_out: watched.timed_out,
            pipes_closed: watched.pipes_closed,
            error: None,
        }
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
    let mut buf = vec![0; READ_SIZE];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            // Nothing more can be read; what was read is kept.
            Err(_) => break,
        };
        let overflowed = collected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keep(stream, &buf[..n], max);
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
    /// Starts `sh -c command` as the leader of a new process group, its stdout and
    /// stderr piped.
    fn spawn(command: &[u8]) -> io::Result<Group> {
        Command::new("sh")
            .arg("-c")
            .arg(OsStr::from_bytes(command))
            // The server's stdin is none of the command's business (the tutorial's `Popen`
            // lends it; a `cat` would then hang until the time limit).
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map(Group)
    }

    /// SIGKILL to every process of the group. The shell is not reaped before the drop,
    /// so its pid, which is the group's id, cannot have been reused by then.
    fn kill(&mut self) {
        let pgid = Pid::from_child(&self.0);
        // It fails only with ESRCH once every process of the group is gone: that is fine.
        let _ = kill_process_group(pgid, Signal::KILL);
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
    use super::*;
    use crate::testutil::{quick_limits, DEADLINE};

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
    fn no_output_is_an_empty_reply() {
        assert_eq!(
            run_command(b"true", &Limits::default()).into_reply(&Limits::default()),
            b""
        );
    }

    #[test]
    fn output_that_is_not_utf8_is_kept_byte_for_byte() {
        let output = run_command(b"printf '\\377\\376'", &Limits::default());
        assert_eq!(output.stdout, [0xff, 0xfe]);
        // The command's own bytes reach the shell as they are, too.
        let output = run_command(b"printf '\xff\xc3('", &Limits::default());
        assert_eq!(output.stdout, [0xff, 0xc3, b'(']);
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
    fn each_stream_keeps_up_to_the_cap_and_the_first_drop_is_the_overflow() {
        let mut collected = Collected::default();
        assert!(!collected.keep(Stream::Stdout, b"0123", 6));
        // Over the cap: two bytes kept, the rest dropped, and the runner is told.
        assert!(collected.keep(Stream::Stdout, b"4567", 6));
        // Dropped again, of the other stream too: told once is enough.
        assert!(!collected.keep(Stream::Stdout, b"89", 6));
        assert!(!collected.keep(Stream::Stderr, b"abcdefgh", 6));
        assert_eq!(collected.stdout, b"012345");
        assert_eq!(collected.stderr, b"abcdef");
        let watched = Watched {
            timed_out: false,
            pipes_closed: true,
        };
        let output = collected.take_output(6, watched);
        assert!(output.cut);
        let limits = Limits {
            max_reply: 6,
            ..Limits::default()
        };
        assert_eq!(
            output.into_reply(&limits),
            b"012345\nsockref: reply cut at 6 bytes (--max-reply)\n"
        );
    }

    #[test]
    fn a_command_that_cannot_start_says_why_in_its_reply() {
        let reply = Output::failed("no shell".to_owned()).into_reply(&Limits::default());
        assert_eq!(reply, b"sockref: cannot run `sh -c`: no shell\n");
    }
}
