//! The implementation under test as a process: spawned through `sh -c` in a fresh temp dir,
//! in its own process group, with `PYTHONUNBUFFERED=1`, its stdio on non-blocking pipes that
//! the engine drains whenever it waits (stdout streams into a [`Printed`] matcher, stderr
//! keeps a tail), and killed (with everything it started) when dropped.

use crate::stdout::Printed;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

/// How to start one implementation.
#[derive(Debug, Clone)]
pub struct IutSpec {
    /// A shell command line; `{host}`, `{port}` and `{addr}` are replaced by the address.
    pub command: String,
    /// A folder copied into the temp dir the program runs in (its submission), if any.
    pub workdir: Option<PathBuf>,
    /// How its cases may be isolated.
    pub isolation: crate::sandbox::Policy,
}

/// How much of the end of stderr is kept for the report.
pub const STDERR_TAIL: usize = 16 << 10;
/// Longest stderr line shown in a report.
const STDERR_LINE: usize = 300;
/// Pipe capacity asked for stdout and stderr: fewer wake-ups for a program that prints a lot.
const PIPE_SIZE: libc::c_int = 1 << 20;

/// The last bytes a program wrote to stderr.
#[derive(Debug, Default)]
pub struct Tail {
    data: Vec<u8>,
    pub eof: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.data.extend_from_slice(chunk);
        if self.data.len() > 2 * STDERR_TAIL {
            let cut = self.data.len() - STDERR_TAIL;
            self.data.drain(..cut);
        }
    }

    fn text(&self) -> std::borrow::Cow<'_, str> {
        let start = self.data.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&self.data[start..])
    }

    /// The last `max_lines` lines, lossily decoded, each cut to an excerpt.
    pub fn last_lines(&self, max_lines: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(max_lines)..]
            .iter()
            .map(|l| {
                if l.len() <= STDERR_LINE {
                    l.to_string()
                } else {
                    let mut cut = STDERR_LINE;
                    while !l.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    format!("{}… ({} bytes)", &l[..cut], l.len())
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The exception that ended the last Python traceback on stderr (`EOFError`,
    /// `ConnectionResetError`), if there is one: the one the program died of. An exception
    /// raised while handling another comes after it, so it is the one named.
    pub fn last_exception(&self) -> Option<String> {
        last_exception(&self.text())
    }
}

/// The exception named by the last line of the last traceback in `text`.
pub fn last_exception(text: &str) -> Option<String> {
    let start = text.rfind("Traceback (most recent call last):")?;
    let after = &text[start..];
    // The traceback's frames are indented; its last unindented line names the exception.
    let line = after
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
        .last()?;
    // The full dotted name (`struct.error`, `json.decoder.JSONDecodeError`): a bare
    // `error` would say nothing.
    let name = line.split(':').next()?.trim();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    valid.then(|| name.to_string())
}

/// A running (or finished) implementation.
pub struct Iut {
    child: Child,
    pidfd: Option<OwnedFd>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    pub out: Printed,
    pub err: Tail,
    pub status: Option<ExitStatus>,
    /// Where pipe reads land, reused by every drain.
    buf: Vec<u8>,
    _workdir: tempfile::TempDir,
}

/// The command line with the address filled in.
pub fn expand(command: &str, addr: std::net::SocketAddr) -> String {
    command
        .replace("{host}", &addr.ip().to_string())
        .replace("{port}", &addr.port().to_string())
        .replace("{addr}", &addr.to_string())
}

impl Iut {
    pub fn spawn(spec: &IutSpec, addr: std::net::SocketAddr, out: Printed) -> io::Result<Iut> {
        let workdir = tempfile::Builder::new()
            .prefix("sockcheck-iut-")
            .tempdir()?;
        if let Some(src) = &spec.workdir {
            crate::workdir::copy_tree(src, workdir.path())?;
        }
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(expand(&spec.command, addr))
            .current_dir(workdir.path())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("SOCKCHECK_HOST", addr.ip().to_string())
            .env("SOCKCHECK_PORT", addr.port().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: only async-signal-safe calls (prctl, setrlimit) between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // Dies with the thread that ran the case, even if the harness is killed.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                let limit = |resource, value: libc::rlim_t| {
                    let lim = libc::rlimit {
                        rlim_cur: value,
                        rlim_max: value,
                    };
                    libc::setrlimit(resource, &lim);
                };
                limit(libc::RLIMIT_CORE, 0);
                limit(libc::RLIMIT_CPU, 120);
                limit(libc::RLIMIT_FSIZE, 256 << 20);
                limit(libc::RLIMIT_AS, 8 << 30);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        for fd in [
            stdin.as_ref().map(|s| s.as_raw_fd()),
            stdout.as_ref().map(|s| s.as_raw_fd()),
            stderr.as_ref().map(|s| s.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        {
            set_nonblocking(fd)?;
            // SAFETY: fcntl on a pipe we own; a refusal only leaves the default size.
            unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE) };
        }
        let pidfd = pidfd_open(child.id());
        Ok(Iut {
            child,
            pidfd,
            stdin,
            stdout,
            stderr,
            out,
            err: Tail::default(),
            status: None,
            buf: vec![0; PIPE_SIZE as usize],
            _workdir: workdir,
        })
    }

    /// The fds to poll for input: stdout, stderr, and the pidfd (readable at exit).
    pub fn poll_fds(&self) -> Vec<RawFd> {
        let mut fds = Vec::new();
        if let Some(s) = &self.stdout {
            fds.push(s.as_raw_fd());
        }
        if let Some(s) = &self.stderr {
            fds.push(s.as_raw_fd());
        }
        if self.status.is_none() {
            if let Some(p) = &self.pidfd {
                fds.push(p.as_raw_fd());
            }
        }
        fds
    }

    /// Whether the exit can only be noticed by asking (no pidfd on this kernel).
    pub fn needs_exit_polling(&self) -> bool {
        self.status.is_none() && self.pidfd.is_none()
    }

    pub fn stdin_fd(&self) -> Option<RawFd> {
        self.stdin.as_ref().map(|s| s.as_raw_fd())
    }

    /// Reads whatever stdout and stderr hold now, and reaps the process if it exited.
    /// Returns how many lines and bytes it read from stdout.
    pub fn drain(&mut self) -> (u64, u64) {
        let (mut lines, mut bytes) = (0, 0);
        if let Some(s) = &mut self.stdout {
            // One pipe's worth at a time, so the other pipes and the peer's sockets get
            // their turn however much the program prints.
            for _ in 0..4 {
                match s.read(&mut self.buf) {
                    Ok(0) => {
                        self.out.finish();
                        self.stdout = None;
                        break;
                    }
                    Ok(n) => {
                        lines += self.out.push(&self.buf[..n]);
                        bytes += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        if let Some(s) = &mut self.stderr {
            for _ in 0..4 {
                match s.read(&mut self.buf) {
                    Ok(0) => {
                        self.err.eof = true;
                        self.stderr = None;
                        break;
                    }
                    Ok(n) => self.err.push(&self.buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
        (lines, bytes)
    }

    /// Writes as much of `data` to stdin as the pipe takes now.
    pub fn write_stdin(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.stdin {
            Some(s) => match s.write(data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                other => other,
            },
            None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin is closed")),
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn stdin_closed(&self) -> bool {
        self.stdin.is_none()
    }

    pub fn exited(&self) -> bool {
        self.status.is_some()
    }

    /// The CPU time the program has used so far: every process of its process group
    /// (the shell that started it, the interpreter, their reaped children), from
    /// `/proc/PID/stat`, to tell a program going round a loop from one that waits.
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        if self.status.is_some() {
            return None;
        }
        let group = self.child.id().to_string();
        let mut ticks = 0u64;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // After the command name (in parentheses, may hold spaces): state, ppid, pgrp,
            // ..., then utime, stime, cutime, cstime as the 12th to 15th fields.
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            if fields.get(2) != Some(&group.as_str()) {
                continue;
            }
            ticks += fields
                .get(11..15)
                .unwrap_or_default()
                .iter()
                .map(|f| f.parse::<u64>().unwrap_or(0))
                .sum::<u64>();
        }
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(std::time::Duration::from_millis(ticks * 1000 / per_second))
    }

    /// Kills the process, its group and (as init of its pid namespace) everything it
    /// started, then reaps it; drains what it printed last.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: signalling our own child and its process group.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            if let Ok(status) = self.child.wait() {
                self.status = Some(status);
            }
        }
        self.stdin = None;
        self.drain_to_eof();
    }

    /// After the process is gone, reads what is left in its pipes. In a pid namespace every
    /// writer is dead by now, so this reads to end of file; without one, a grandchild that
    /// escaped may hold them open, so stop when they are empty rather than wait.
    fn drain_to_eof(&mut self) {
        // Bounded: without a pid namespace an escaped grandchild may go on writing.
        for _ in 0..16 {
            if self.stdout.is_none() || self.drain().1 == 0 {
                break;
            }
        }
        self.drain();
        self.stdout = None;
        self.stderr = None;
        self.out.finish();
    }
}

impl Drop for Iut {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Describes an exit status as the transcript writes it: `0`, `1`, `signal 9`.
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => code.to_string(),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "unknown".into(),
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative return is an fd we now own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
