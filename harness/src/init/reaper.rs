//! The init's life once the program runs: the signals it receives (read from a signalfd),
//! the children it reaps, the signals it forwards, and the end of every process of the
//! case.

use super::Options;
use rustix::event::PollFlags;
use rustix::process::{kill_process, Pid, Signal, WaitOptions};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// Signals passed on to the program.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// SIGCHLD, SIGTERM and the forwarded signals, blocked and read from a signalfd.
pub(super) struct SignalFd(OwnedFd);

impl SignalFd {
    pub(super) fn new() -> io::Result<SignalFd> {
        // SAFETY: building a sigset and blocking it in this single-threaded process; the
        // signalfd is a fresh fd we then own.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in FORWARDED.iter().chain(&[libc::SIGCHLD, libc::SIGTERM]) {
                libc::sigaddset(&mut set, *sig);
            }
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(SignalFd(OwnedFd::from_raw_fd(fd)))
        }
    }

    /// Waits at most `timeout` (`None`: forever) for a signal.
    fn next(&self, timeout: Option<Duration>) -> Option<libc::c_int> {
        if !crate::poll::ready(&self.0, PollFlags::IN, timeout) {
            return None;
        }
        // One signalfd_siginfo a read, as bytes: its first field is the signal (ssi_signo,
        // a u32).
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        let n = rustix::io::read(&self.0, &mut info).ok()?;
        let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
        (n == info.len()).then_some(signo as libc::c_int)
    }
}

/// Reaps children and forwards signals until the program exits (its raw wait status) or
/// SIGTERM ends the case (`None`).
pub(super) fn supervise(options: &Options, signals: &SignalFd, program: Pid) -> Option<i32> {
    loop {
        // A child may have exited before the signalfd was read: reap first.
        if let Some(raw) = reap(program) {
            return Some(raw);
        }
        match signals.next(None) {
            Some(libc::SIGCHLD) | None => {}
            Some(libc::SIGTERM) => {
                kill_all(options.pid_namespace, signals);
                return None;
            }
            Some(sig) => {
                // Every forwarded signal has a name.
                if let Some(sig) = Signal::from_named_raw(sig) {
                    let _ = kill_process(program, sig);
                }
            }
        }
    }
}

/// Reaps every child that exited; the program's raw status if it was one of them.
fn reap(program: Pid) -> Option<i32> {
    let mut found = None;
    // Until none has exited (`None`) or none is left (ECHILD).
    while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
        if pid == program {
            found = Some(status.as_raw());
        }
    }
    found
}

/// Kills every process of the case but the init, and reaps them.
pub(super) fn kill_all(pid_namespace: bool, signals: &SignalFd) {
    loop {
        if pid_namespace {
            // Pid 1 signals every other process of its namespace with -1 (the kernel would
            // kill them when pid 1 exits; this makes the reaping explicit). Again on every
            // round, for a child that was being forked during the last one.
            // SAFETY: kill as pid 1 of the case's own pid namespace.
            unsafe { libc::kill(-1, libc::SIGKILL) };
        } else {
            for child in children() {
                let _ = kill_process(child, Signal::KILL);
            }
        }
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return, // ECHILD: nothing left
            }
        }
        // A killed child's own children come back to us (subreaper) when it dies, with no
        // signal of their own: look again at least every 20 ms.
        signals.next(Some(Duration::from_millis(20)));
    }
}

/// The init's children, from /proc (a subreaper's grow as orphans arrive).
fn children() -> Vec<Pid> {
    let me = rustix::process::getpid().as_raw_pid();
    let path = format!("/proc/{me}/task/{me}/children");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .split_whitespace()
            .filter_map(|p| Pid::from_raw(p.parse().ok()?))
            .collect();
    }
    // Kernels without CONFIG_PROC_CHILDREN: every process whose parent is us.
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        if fields.nth(1).and_then(|p| p.parse::<libc::pid_t>().ok()) == Some(me) {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse() {
                found.extend(Pid::from_raw(pid));
            }
        }
    }
    found
}
