//! What the modules' unit tests share: a listener on a free port, a stdout that reports
//! what a server prints as it prints it, and the deadline that keeps a failing test from
//! hanging.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use crate::net::Listener;

/// How long a step may take before the test fails: generous, as it is only reached
/// when something is wrong.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A declared silence window, the only deliberate wait: how long a test watches for
/// something that must not happen (a print, a reply) before it concludes it did not.
pub const SILENCE: Duration = Duration::from_millis(300);

/// One `read`, again when a signal interrupted it: a socket with a timeout (as the tests
/// set) gets EINTR where one without has its read restarted, and the programs' own `recv`
/// retries it (PEP 475), so a test's read must too.
pub fn read_once(stream: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Limits with a short time limit, so the tests that hit it are quick.
pub fn quick_limits() -> crate::Limits {
    crate::Limits {
        time_limit: Duration::from_secs(1),
        ..crate::Limits::default()
    }
}

/// A listener on a free port of 127.0.0.1, with the tutorial's usual `listen(5)`.
pub fn ephemeral() -> Listener {
    Listener::bind("127.0.0.1:0".parse().unwrap(), 5).unwrap()
}

/// A server's stdout that forwards every write through a channel, so a test can wait
/// for what the server prints as it prints it.
pub struct Forward(pub Sender<Vec<u8>>);

impl Write for Forward {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The test may have stopped listening; the server's output is then unwanted.
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Collects what the server prints until it has printed `expected` (or the deadline).
pub fn expect_printed(printed: &Receiver<Vec<u8>>, expected: &[u8]) {
    let mut got = Vec::new();
    while got.len() < expected.len() {
        match printed.recv_timeout(DEADLINE) {
            Ok(bytes) => got.extend(bytes),
            Err(e) => panic!("waiting for {expected:?}: {e:?}, got {got:?}"),
        }
    }
    assert_eq!(got, expected);
}

/// Everything the server prints, once it has finished.
pub fn all_printed(printed: &Receiver<Vec<u8>>) -> Vec<u8> {
    printed.iter().flatten().collect()
}
