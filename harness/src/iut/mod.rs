//! The implementation under test as a process: `sh -c` under the case's init (`init/`,
//! the harness's own binary re-executed), in a fresh temp dir, in its own process group,
//! with `PYTHONUNBUFFERED=1`, its stdio on non-blocking pipes that the engine drains
//! whenever it waits (stdout streams into a [`Printed`] matcher, stderr keeps a tail), and
//! ended (with everything it started) when dropped.
//!
//! This file is the process and its life; `pipes.rs` the pipes to its init, `stderr.rs`
//! what the program wrote to stderr.

mod pipes;
mod stderr;

pub use stderr::{last_exception, Tail, STDERR_TAIL};

use crate::stdout::Printed;
use pipes::{pipe, read_available, read_status, set_nonblocking, set_up_stdio_pipe, PIPE_SIZE};
use rustix::process::{kill_process, kill_process_group, Pid, Signal};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How to start one implementation.
#[derive(Debug, Clone)]
pub struct IutSpec {
    /// A shell command line; `{host}`, `{port}` and `{addr}` are replaced by the address.
    pub command: String,
    /// A folder copied into the temp dir the program runs in (its submission), if any.
    pub workdir: Option<PathBuf>,
    /// How its cases may be isolated.
    pub isolation: crate::sandbox::Policy,
    /// Its resource limits.
    pub limits: crate::init::Limits,
    /// Folders the program must not see (a class's other submissions, the grading's
    /// output, a course's suites): where the case has its own mount namespace, an empty
    /// read-only tmpfs hides each.
    pub hidden: Vec<PathBuf>,
}

/// The binary that carries the `__init` subcommand: the `sockcheck` binary. Its command
/// line sets it to itself; a test sets it to the binary cargo built.
static INIT_PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Names the `sockcheck` binary the cases' init is run from (once per process).
pub fn set_init_program(path: PathBuf) {
    let _ = INIT_PROGRAM.set(path);
}

fn init_program() -> io::Result<PathBuf> {
    match INIT_PROGRAM.get() {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe(),
    }
}

/// How long the init may take to get the program started.
const INIT_READY: Duration = Duration::from_secs(10);
/// How long an init on the shared network may take to kill its descendants once asked.
const INIT_END: Duration = Duration::from_secs(5);

/// A running (or finished) implementation.
pub struct Iut {
    /// The case's init; the program is its child.
    child: Child,
    /// The init is pid 1 of the case's pid namespace (else a subreaper on the shared network).
    pid_namespace: bool,
    /// Where the init says it is ready, or could not start the program, and the
    /// program's wait status.
    status_pipe: std::fs::File,
    pidfd: Option<OwnedFd>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    pub out: Printed,
    pub err: Tail,
    pub status: Option<ExitStatus>,
    /// Where pipe reads land, reused by every drain.
    buf: Vec<u8>,
    /// The temp folder and its registration (see `interrupt.rs`); taken at drop.
    workdir: Option<(crate::interrupt::Ticket, tempfile::TempDir)>,
}

/// The command line with the address filled in.
pub fn expand(command: &str, addr: std::net::SocketAddr) -> String {
    command
        .replace("{host}", &addr.ip().to_string())
        .replace("{port}", &addr.port().to_string())
        .replace("{addr}", &addr.to_string())
}

/// A simple command (no control operators, no leading assignment or keyword) gets `exec `
/// before it, so that the shell is replaced by the program: then the program itself is the
/// init's child, with `PR_SET_PDEATHSIG` and the signals the init forwards, rather than a
/// shell that forked it.
pub fn exec_if_simple(command: &str) -> String {
    let trimmed = command.trim_start();
    let first = trimmed.split_whitespace().next().unwrap_or_default();
    let keyword = [
        "if", "for", "while", "until", "case", "{", "!", "exec", "function", "select",
    ]
    .contains(&first);
    let compound = trimmed
        .chars()
        .any(|c| matches!(c, ';' | '&' | '|' | '\n' | '(' | ')' | '`' | '<' | '>'))
        || trimmed.contains("$(");
    if trimmed.is_empty() || keyword || compound || first.contains('=') {
        command.to_string()
    } else {
        format!("exec {trimmed}")
    }
}

impl Iut {
    /// Starts the program under a new init. `pid_namespace`: the calling thread is in the
    /// case's own namespaces (the init is their pid 1, and hides the files).
    pub fn spawn(
        spec: &IutSpec,
        addr: std::net::SocketAddr,
        out: Printed,
        pid_namespace: bool,
    ) -> io::Result<Iut> {
        let (ticket, workdir) = crate::interrupt::new_workdir()?;
        let registered = (ticket, workdir);
        let result = Self::spawn_in(spec, addr, out, pid_namespace, &registered);
        match result {
            Ok(mut iut) => {
                iut.workdir = Some(registered);
                Ok(iut)
            }
            Err(e) => {
                crate::interrupt::release(&registered.0, registered.1);
                Err(e)
            }
        }
    }

    fn spawn_in(
        spec: &IutSpec,
        addr: std::net::SocketAddr,
        out: Printed,
        pid_namespace: bool,
        (ticket, workdir): &(crate::interrupt::Ticket, tempfile::TempDir),
    ) -> io::Result<Iut> {
        if let Some(src) = &spec.workdir {
            crate::workdir::copy_tree(src, workdir.path())?;
        }
        let options = init_options(spec, addr, pid_namespace, workdir.path());
        let (status_read, status_write) = pipe()?;
        let mut command = init_command(&options, workdir.path(), addr)?;
        before_exec(&mut command, status_write.as_raw_fd());
        let mut child = crate::interrupt::spawn_init(ticket, pid_namespace, || command.spawn())?;
        drop(status_write);
        let mut status_pipe = std::fs::File::from(status_read);
        set_nonblocking(&status_pipe)?;
        await_ready(&mut child, &mut status_pipe)?;
        let (stdin, stdout, stderr) = nonblocking_stdio(&mut child)?;
        let pidfd = crate::poll::pidfd_open(child.id());
        Ok(Iut {
            child,
            pid_namespace,
            status_pipe,
            pidfd,
            stdin,
            stdout,
            stderr,
            out,
            err: Tail::default(),
            status: None,
            buf: vec![0; PIPE_SIZE],
            workdir: None,
        })
    }

    /// The fds to poll for input: stdout, stderr, and the pidfd (readable at exit).
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = Vec::new();
        if let Some(s) = &self.stdout {
            fds.push(s.as_fd());
        }
        if let Some(s) = &self.stderr {
            fds.push(s.as_fd());
        }
        if self.status.is_none() {
            if let Some(p) = &self.pidfd {
                fds.push(p.as_fd());
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
    /// Returns how many lines and bytes it read from stdout, and the first of those bytes
    /// (as a trace keeps them).
    pub fn drain(&mut self) -> (u64, u64, Vec<u8>) {
        let (mut lines, mut bytes, mut head) = (0, 0, Vec::new());
        if let Some(s) = &mut self.stdout {
            let out = &mut self.out;
            let at_end = read_available(s, &mut self.buf, |chunk| {
                lines += out.push(chunk);
                bytes += chunk.len() as u64;
                if head.is_empty() {
                    head = crate::trace::head(chunk);
                }
            });
            if at_end {
                self.out.finish();
                self.stdout = None;
            }
        }
        if let Some(s) = &mut self.stderr {
            let err = &mut self.err;
            if read_available(s, &mut self.buf, |chunk| err.push(chunk)) {
                self.err.eof = true;
                self.stderr = None;
            }
        }
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(self.program_status(status));
            }
        }
        (lines, bytes, head)
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

    /// The pid of the case's init (the program's parent on the shared network).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&self) -> bool {
        self.status.is_some()
    }

    /// The CPU time the program has used so far: every process of its process group
    /// (the shell that started it, the interpreter, their reaped children), from
    /// `/proc/PID/stat`, to tell a program going round a loop from one that waits.
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        let ticks: u64 = self.group_processes()?.iter().map(|p| p.ticks).sum();
        let per_second = rustix::param::clock_ticks_per_second().max(1);
        Some(std::time::Duration::from_millis(ticks * 1000 / per_second))
    }

    /// Whether a process of the program is runnable: woken by an event (a datagram, an
    /// ICMP error, a byte) and not yet given a core. On a loaded machine a silence window
    /// can end before such a process has run: it is not settled yet.
    pub fn runnable(&self) -> bool {
        self.group_processes()
            .is_some_and(|ps| ps.iter().any(|p| p.state == b'R'))
    }

    /// The processes of the program's group, from `/proc/PID/stat`; `None` once it exited.
    fn group_processes(&self) -> Option<Vec<GroupProcess>> {
        if self.status.is_some() {
            return None;
        }
        let group = self.child.id().to_string();
        let mut found = Vec::new();
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
            found.push(GroupProcess {
                state: fields
                    .first()
                    .and_then(|f| f.bytes().next())
                    .unwrap_or(b'?'),
                ticks: fields
                    .get(11..15)
                    .unwrap_or_default()
                    .iter()
                    .map(|f| f.parse::<u64>().unwrap_or(0))
                    .sum(),
            });
        }
        Some(found)
    }

    /// The program's status, which the init wrote before it exited with `init`; the init's
    /// own status if it wrote none (it was killed, or ended the case).
    fn program_status(&mut self, init: ExitStatus) -> ExitStatus {
        // The init wrote the line before it exited: it is in the pipe now.
        match read_status(&mut self.status_pipe, Instant::now()) {
            Some(line) => line
                .strip_prefix('S')
                .and_then(|raw| raw.parse::<i32>().ok())
                .map(ExitStatus::from_raw)
                .unwrap_or(init),
            None => init,
        }
    }

    /// Ends the case's processes and reaps the init; drains what the program printed last.
    /// In a pid namespace, SIGKILL of the init ends every process in it; on the shared
    /// network the init is asked (SIGTERM) to kill its descendants first, and killed with
    /// its process group if it does not within a deadline.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            // Our own child, not yet reaped: the pid and the process group are still its.
            let pid = Pid::from_child(&self.child);
            if self.pid_namespace {
                let _ = kill_process(pid, Signal::KILL);
                let _ = kill_process_group(pid, Signal::KILL);
            } else {
                let _ = kill_process(pid, Signal::TERM);
                if !self.wait_exit(Instant::now() + INIT_END) {
                    let _ = kill_process_group(pid, Signal::KILL);
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
            if let Ok(status) = self.child.wait() {
                self.status = Some(self.program_status(status));
            }
        }
        self.stdin = None;
        self.drain_to_eof();
    }

    /// Waits until the init has exited, at most until `deadline`.
    fn wait_exit(&self, deadline: Instant) -> bool {
        self.pidfd
            .as_ref()
            .is_some_and(|fd| crate::poll::wait_exit(fd, deadline))
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
        if !self.pid_namespace {
            // The init is reaped: its cgroup, if a SIGKILL kept it from removing it.
            crate::cgroup::remove_after(self.child.id());
        }
        if let Some((ticket, dir)) = self.workdir.take() {
            crate::interrupt::release(&ticket, dir);
        }
    }
}

/// What the case's init is asked: the program (through `sh -c`), its folder, its limits.
fn init_options(
    spec: &IutSpec,
    addr: std::net::SocketAddr,
    pid_namespace: bool,
    workdir: &Path,
) -> crate::init::Options {
    crate::init::Options {
        pid_namespace,
        files: pid_namespace.then(|| workdir.to_path_buf()),
        hidden: spec.hidden.clone(),
        folder: Some(workdir.to_path_buf()),
        limits: spec.limits,
        command: vec![
            "sh".into(),
            "-c".into(),
            exec_if_simple(&expand(&spec.command, addr)).into(),
        ],
    }
}

/// The init's command: the `sockcheck` binary with `options`, in the case's folder, with
/// the environment the program gets, its stdio on pipes, in a process group of its own.
fn init_command(
    options: &crate::init::Options,
    workdir: &Path,
    addr: std::net::SocketAddr,
) -> io::Result<Command> {
    let mut command = Command::new(init_program()?);
    command
        .args(options.to_args())
        .current_dir(workdir)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SOCKCHECK_HOST", addr.ip().to_string())
        .env("SOCKCHECK_PORT", addr.port().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    Ok(command)
}

/// What the init's side of the fork does before it execs: the status pipe as fd 3, death
/// with the case's thread, and (in a user namespace) the capabilities the init needs.
fn before_exec(command: &mut Command, status_fd: RawFd) {
    let harness = rustix::process::getpid();
    let user_namespace = crate::sandbox::in_user_namespace();
    // SIGTERM, which the init takes as the end of the case: it kills everything (on the
    // shared network its descendants, one by one) and removes the case's folder.
    let death_signal = Signal::TERM;
    // SAFETY: only async-signal-safe calls (fcntl, dup2, prctl, getppid, capget,
    // capset) between fork and exec; `status_fd` is open in the child, a copy of the
    // harness's, which drops it only once the spawn has returned.
    unsafe {
        command.pre_exec(move || {
            // The status pipe becomes fd 3 (dup2 also drops its close-on-exec).
            let high = rustix::io::fcntl_dupfd_cloexec(BorrowedFd::borrow_raw(status_fd), 10)?;
            if libc::dup2(high.as_raw_fd(), crate::init::STATUS_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            drop(high);
            // The init ends with the thread that ran the case, even if the harness is
            // killed (and if the harness died already, it does not start).
            let _ = rustix::process::set_parent_process_death_signal(Some(death_signal));
            // (In a pid namespace the parent is outside it: getppid says none.)
            if rustix::process::getppid().is_some_and(|parent| parent != harness) {
                libc::_exit(126);
            }
            if user_namespace {
                crate::init::keep_sys_admin();
            }
            Ok(())
        });
    }
}

/// Waits for the init to say it started the program; kills it if it says it could not,
/// or says nothing in time.
fn await_ready(child: &mut Child, status_pipe: &mut std::fs::File) -> io::Result<()> {
    match read_status(status_pipe, Instant::now() + INIT_READY) {
        Some(line) if line.starts_with('R') => Ok(()),
        other => {
            // Our own child, not yet reaped.
            let _ = kill_process(Pid::from_child(child), Signal::KILL);
            let _ = child.wait();
            let why = match other {
                Some(line) => line.trim_start_matches('E').to_string(),
                None => "it did not start".to_string(),
            };
            Err(io::Error::other(format!("the case's init: {why}")))
        }
    }
}

/// The program's stdio, taken from the init's `Child`, each pipe non-blocking (the engine
/// drains them whenever it waits) and large; ends the init if one cannot be made so.
fn nonblocking_stdio(
    child: &mut Child,
) -> io::Result<(Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>)> {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(|s| s.as_fd()),
        stdout.as_ref().map(|s| s.as_fd()),
        stderr.as_ref().map(|s| s.as_fd()),
    ]
    .into_iter()
    .flatten()
    {
        if let Err(e) = set_up_stdio_pipe(fd) {
            // No Iut will end it: end it here (SIGTERM: it also kills its descendants).
            // Our own child, not yet reaped.
            let _ = kill_process(Pid::from_child(child), Signal::TERM);
            let _ = child.wait();
            return Err(e);
        }
    }
    Ok((stdin, stdout, stderr))
}

/// Describes an exit status as the transcript writes it: `0`, `1`, `signal 9`.
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => code.to_string(),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "unknown".into(),
    }
}

/// One process of the program's group, as `/proc/PID/stat` shows it.
struct GroupProcess {
    /// `R` runnable, `S` waiting, ...
    state: u8,
    /// CPU time in clock ticks, its reaped children's included.
    ticks: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_simple_command_is_exec_ed() {
        assert_eq!(
            exec_if_simple("python3 server.py 8080"),
            "exec python3 server.py 8080"
        );
        assert_eq!(
            exec_if_simple("'/x y/sockcheck' reference echo1 server --addr 127.0.0.1:8080"),
            "exec '/x y/sockcheck' reference echo1 server --addr 127.0.0.1:8080"
        );
        for unchanged in [
            "cd sub; python3 s.py",
            "python3 s.py && echo done",
            "python3 s.py | tee log",
            "python3 s.py > log",
            "PORT=1 python3 s.py",
            "if true; then python3 s.py; fi",
            "exec python3 s.py",
            "echo $(pwd)",
            "",
        ] {
            assert_eq!(exec_if_simple(unchanged), unchanged);
        }
    }
}
