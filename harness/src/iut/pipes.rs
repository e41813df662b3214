//! The pipes between the harness and a case's init: their creation, non-blocking reads,
//! and the status pipe's lines (ready, could not start, the program's wait status).

use rustix::event::PollFlags;
use rustix::fs::OFlags;
use rustix::pipe::PipeFlags;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

/// Pipe capacity asked for stdout and stderr: fewer wake-ups for a program that prints a lot.
pub(super) const PIPE_SIZE: usize = 1 << 20;

/// A pipe, both ends close-on-exec.
pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?)
}

/// Reads one line from the init's status pipe, waiting until `deadline` for it.
pub(super) fn read_status(pipe: &mut std::fs::File, deadline: Instant) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) if byte[0] == b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                crate::poll::ready(&*pipe, PollFlags::IN, Some(left));
            }
            Err(_) => return None,
        }
    }
}

pub(super) fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
    Ok(())
}

/// Makes one of the program's stdio pipes non-blocking, and asks for [`PIPE_SIZE`].
pub(super) fn set_up_stdio_pipe(fd: impl AsFd) -> io::Result<()> {
    set_nonblocking(&fd)?;
    // A refusal only leaves the default size.
    let _ = rustix::pipe::fcntl_setpipe_size(&fd, PIPE_SIZE);
    Ok(())
}

/// Reads what `pipe` holds now into `buf`, handing each chunk to `take`: one pipe's worth
/// at a time and at most four, so the other pipes and the peer's sockets get their turn
/// however much the program prints. Returns whether it read to the end of the pipe.
pub(super) fn read_available(
    pipe: &mut impl Read,
    buf: &mut [u8],
    mut take: impl FnMut(&[u8]),
) -> bool {
    for _ in 0..4 {
        match pipe.read(buf) {
            Ok(0) => return true,
            Ok(n) => take(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    false
}
