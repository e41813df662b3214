//! The implementation under test as a process: spawned through `sh -c` in a fresh temp dir,
//! in its own process group, with `PYTHONUNBUFFERED=1`, its stdio on non-blocking pipes that
//! the engine drains whenever it waits, and killed (with everything it started) when dropped.

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
}

/// Most stdout kept for matching; the rest is drained and dropped.
pub const STDOUT_CAP: usize = 8 << 20;
/// How much of the end of stderr is kept for the report.
pub const STDERR_TAIL: usize = 16 << 10;

/// Everything a program printed on stdout, split in lines, up to a cap.
#[derive(Debug, Default)]
pub struct Output {
    pub lines: Vec<String>,
    partial: Vec<u8>,
    pub bytes: usize,
    pub truncated: bool,
    pub eof: bool,
}

impl Output {
    fn push(&mut self, data: &[u8]) {
        self.bytes += data.len();
        if self.truncated {
            return;
        }
        if self.bytes > STDOUT_CAP {
            self.truncated = true;
            return;
        }
        for &b in data {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.lines.push(String::from_utf8_lossy(&line).into_owned());
            } else {
                self.partial.push(b);
            }
        }
    }

    fn finish(&mut self) {
        self.eof = true;
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.lines.push(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

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

    /// The last `max_lines` lines, lossily decoded.
    pub fn last_lines(&self, max_lines: usize) -> String {
        let start = self.data.len().saturating_sub(STDERR_TAIL);
        let text = String::from_utf8_lossy(&self.data[start..]);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(max_lines)..].join("\n")
    }

    pub fn contains(&self, needle: &str) -> bool {
        String::from_utf8_lossy(&self.data).contains(needle)
    }
}

/// A running (or finished) implementation.
pub struct Iut {
    child: Child,
    pidfd: Option<OwnedFd>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    pub out: Output,
    pub err: Tail,
    pub status: Option<ExitStatus>,
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
    pub fn spawn(spec: &IutSpec, addr: std::net::SocketAddr) -> io::Result<Iut> {
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
        }
        let pidfd = pidfd_open(child.id());
        Ok(Iut {
            child,
            pidfd,
            stdin,
            stdout,
            stderr,
            out: Output::default(),
            err: Tail::default(),
            status: None,
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
    pub fn drain(&mut self) {
        let mut buf = [0u8; 65536];
        if let Some(s) = &mut self.stdout {
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        self.out.finish();
                        self.stdout = None;
                        break;
                    }
                    Ok(n) => self.out.push(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        if let Some(s) = &mut self.stderr {
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        self.err.eof = true;
                        self.stderr = None;
                        break;
                    }
                    Ok(n) => self.err.push(&buf[..n]),
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
        self.drain();
        self.stdout = None;
        self.stderr = None;
        if !self.out.eof {
            self.out.finish();
        }
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
