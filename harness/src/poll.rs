//! Waiting on fds with a timeout: `poll` over a set of fds or on one, and pidfds, through
//! which a process's exit is an fd that becomes readable (no signal handler, and no pid
//! that another process could take once it is reaped).

use rustix::event::{PollFd, PollFlags, Timespec};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// Waits until one of `fds` is ready for its events, at most `timeout` (`None`: however
/// long it takes), as `poll` does: the count of ready fds, and their `revents` set. The
/// timeout is cut down to whole milliseconds, the unit of `poll(2)` (rustix passes `ppoll`
/// a timespec): under one, it only looks.
pub fn poll_fds(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    let timeout = timeout.map(|t| {
        let ms = t.as_millis().min(i32::MAX as u128) as i64;
        Timespec {
            tv_sec: ms / 1000,
            tv_nsec: ms % 1000 * 1_000_000,
        }
    });
    Ok(rustix::event::poll(fds, timeout.as_ref())?)
}

/// Whether `fd` is ready for `events` within `timeout` (`None`: waits until it is).
pub fn ready(fd: impl AsFd, events: PollFlags, timeout: Option<Duration>) -> bool {
    let mut one = [PollFd::from_borrowed_fd(fd.as_fd(), events)];
    poll_fds(&mut one, timeout).is_ok_and(|n| n > 0)
}

/// A pidfd of the process `pid`, which becomes readable when it exits; `None` if the
/// kernel has no pidfds (before 5.3) or the process is gone.
pub fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid as libc::pid_t)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// Waits until the process behind `pidfd` has exited (a zombie is enough), at most until
/// `deadline`; whether it has.
pub fn wait_exit(pidfd: &OwnedFd, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    ready(pidfd, PollFlags::IN, Some(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pidfd_becomes_readable_when_its_process_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawns sleep");
        let pidfd = pidfd_open(child.id()).expect("a pidfd (Linux 5.3 and later)");
        assert!(!wait_exit(&pidfd, Instant::now()), "still running");
        child.kill().expect("kills it");
        // Exited, not yet reaped: a zombie is enough.
        assert!(wait_exit(&pidfd, Instant::now() + Duration::from_secs(10)));
        child.wait().expect("reaped");
    }

    #[test]
    fn an_fd_is_ready_only_once_it_has_something() {
        let (mut writer, reader) = {
            let (r, w) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
            (w, r)
        };
        assert!(!ready(&reader, PollFlags::IN, Some(Duration::ZERO)));
        std::io::Write::write_all(&mut writer, b"x").expect("writes");
        assert!(ready(&reader, PollFlags::IN, Some(Duration::from_secs(10))));
        let mut both = [
            PollFd::new(&reader, PollFlags::IN),
            PollFd::new(&writer, PollFlags::IN),
        ];
        assert_eq!(poll_fds(&mut both, Some(Duration::ZERO)).ok(), Some(1));
        assert!(!both[0].revents().is_empty());
        assert!(both[1].revents().is_empty());
    }
}
