//! The trace of a run: every event on the wire and on the program's stdio, timestamped, in
//! the order the peer saw them. The wire log of a report is drawn from it (and later the
//! sequence diagram). Memory stays bounded however much a program sends or prints: runs of
//! printed lines are counted in one event, and past a cap only the newest events are kept.

use crate::payload;
use crate::session::End;
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Spawned,
    /// The peer connected or accepted a connection.
    Opened {
        conn: String,
    },
    /// The peer wrote this many bytes in one segment (`stdin` for the program's input);
    /// only the first few are kept.
    Wrote {
        to: String,
        bytes: usize,
        head: Vec<u8>,
    },
    /// One read of the peer returned these bytes (only the first few are kept).
    Received {
        conn: String,
        bytes: usize,
        head: Vec<u8>,
    },
    /// The program ended the connection (FIN or RST).
    Ended {
        conn: String,
        end: End,
    },
    /// The peer half-closed, closed or reset a connection, or closed the program's stdin.
    PeerClosed {
        conn: String,
        how: &'static str,
    },
    /// The program printed this many lines (consecutive printing is counted in one event);
    /// only the first bytes printed are kept.
    Printed {
        lines: u64,
        bytes: u64,
        head: Vec<u8>,
    },
    /// The program exited, as the transcript writes its status.
    Exited {
        status: String,
    },
    /// The peer sent one datagram from socket `sock` to `to` (only its first bytes are
    /// kept, as for every chunk: the full wire log shows them).
    DatagramSent {
        sock: String,
        to: String,
        bytes: usize,
        head: Vec<u8>,
    },
    /// Socket `sock` of the peer received one datagram (only its first bytes are kept).
    DatagramReceived {
        sock: String,
        from: String,
        bytes: usize,
        head: Vec<u8>,
    },
}

/// An event and when it happened, from the start of the run.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: Duration,
    pub event: Event,
}

/// Most events kept; older ones are counted, not kept.
const MAX_EVENTS: usize = 2000;
/// Bytes of each chunk kept for the wire log and the report's diagram.
const HEAD_BYTES: usize = 48;
/// Bytes of each chunk kept when the whole wire log is asked for (`explain --verbose`).
pub const FULL_BYTES: usize = 64 * 1024;

/// Bytes of each chunk that traces keep: [`HEAD_BYTES`] unless a command asked for the
/// whole wire log. Set once, before any case runs, as the language is.
static KEEP_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(HEAD_BYTES);

/// Keep up to `n` bytes of every chunk in every trace from now on.
pub fn keep_bytes(n: usize) {
    KEEP_BYTES.store(n, std::sync::atomic::Ordering::Relaxed);
}

fn kept() -> usize {
    KEEP_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// The first bytes of a chunk, as traces keep them.
pub fn head(data: &[u8]) -> Vec<u8> {
    data[..data.len().min(kept())].to_vec()
}

#[derive(Debug)]
pub struct Trace {
    start: Instant,
    entries: VecDeque<Entry>,
    /// Events dropped from the front to stay under the cap.
    pub dropped: usize,
    /// Some byte or datagram of the program's reached the peer during the run.
    pub heard_from_program: bool,
}

impl Default for Trace {
    fn default() -> Trace {
        Trace::new()
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace {
            start: Instant::now(),
            entries: VecDeque::new(),
            dropped: 0,
            heard_from_program: false,
        }
    }

    pub fn push(&mut self, event: Event) {
        let at = self.start.elapsed();
        self.heard_from_program |= matches!(
            event,
            Event::Received { .. } | Event::DatagramReceived { .. }
        );
        // Printing goes on and on: count it in the last event while nothing else happened.
        if let (
            Event::Printed { lines, bytes, head },
            Some(Entry {
                event:
                    Event::Printed {
                        lines: total_lines,
                        bytes: total_bytes,
                        head: first,
                    },
                ..
            }),
        ) = (&event, self.entries.back_mut())
        {
            *total_lines += lines;
            *total_bytes += bytes;
            let more = kept().saturating_sub(first.len()).min(head.len());
            first.extend_from_slice(&head[..more]);
            return;
        }
        if self.entries.len() == MAX_EVENTS {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(Entry { at, event });
    }

    /// A read of the peer: keeps its size and its first bytes.
    pub fn received(&mut self, conn: &str, data: &[u8]) {
        self.push(Event::Received {
            conn: conn.to_string(),
            bytes: data.len(),
            head: head(data),
        });
    }

    /// A datagram the peer received: its size, source and first bytes.
    pub fn datagram(&mut self, sock: &str, from: std::net::SocketAddr, data: &[u8]) {
        self.push(Event::DatagramReceived {
            sock: sock.to_string(),
            from: from.to_string(),
            bytes: data.len(),
            head: head(data),
        });
    }

    /// How long since the trace began: the time an event pushed now would get.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// The last `n` events as wire-log lines.
    /// The last `n` lines of the wire log; a run of the same event (a program flooding
    /// the peer with one datagram) is one line that says how many times and until when.
    pub fn last_lines(&self, n: usize) -> Vec<String> {
        let mut runs: Vec<(&Entry, usize, Duration)> = Vec::new();
        for entry in self.entries.iter().rev() {
            let full = runs.len() == n;
            match runs.last_mut() {
                Some((first, times, _)) if first.event == entry.event => {
                    *first = entry;
                    *times += 1;
                }
                _ if full => break,
                _ => runs.push((entry, 1, entry.at)),
            }
        }
        runs.iter()
            .rev()
            .map(|(entry, times, last)| match times {
                1 => entry.to_string(),
                _ => format!("{entry} (×{times}, the last at {:.3}s)", last.as_secs_f64()),
            })
            .collect()
    }
}

/// One wire-log line: `  0.012s  c1 <- 5 bytes "hello"`.
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>8.3}s  ", self.at.as_secs_f64())?;
        match &self.event {
            Event::Spawned => write!(f, "program started"),
            Event::Opened { conn } => write!(f, "{conn} opened"),
            Event::Wrote { to, bytes, head } => {
                write!(f, "{to} -> {} {}", count(*bytes), payload::quote(head))?;
                if *bytes > head.len() {
                    write!(f, "…")?;
                }
                write!(f, " (peer wrote)")
            }
            Event::Received { conn, bytes, head } => {
                write!(f, "{conn} <- {} {}", count(*bytes), payload::quote(head))?;
                if *bytes > head.len() {
                    write!(f, "…")?;
                }
                Ok(())
            }
            Event::Ended { conn, end } => write!(f, "{conn} <- {} (program ended it)", end.word()),
            Event::PeerClosed { conn, how } => write!(f, "{conn} {how} (peer)"),
            Event::Printed { lines, bytes, .. } => {
                write!(f, "stdout: {lines} line(s), {}", count(*bytes as usize))
            }
            Event::Exited { status } => write!(f, "program exited: {status}"),
            Event::DatagramSent {
                sock,
                to,
                bytes,
                head,
            } => {
                write!(
                    f,
                    "{sock} => {to}: datagram of {} {}",
                    count(*bytes),
                    payload::quote(head)
                )?;
                if *bytes > head.len() {
                    write!(f, "…")?;
                }
                write!(f, " (peer sent)")
            }
            Event::DatagramReceived {
                sock,
                from,
                bytes,
                head,
            } => {
                write!(
                    f,
                    "{sock} <= {from}: datagram of {} {}",
                    count(*bytes),
                    payload::quote(head)
                )?;
                if *bytes > head.len() {
                    write!(f, "…")?;
                }
                Ok(())
            }
        }
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_the_same_event_is_one_line_of_the_wire_log() {
        let mut t = Trace::new();
        t.push(Event::Spawned);
        for _ in 0..500 {
            t.push(Event::Wrote {
                to: "u1".into(),
                bytes: 2,
                head: b"hi".to_vec(),
            });
        }
        t.push(Event::Exited { status: "0".into() });
        let lines = t.last_lines(24);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[1].contains("(×500, the last at"), "{lines:?}");
        assert_eq!(t.last_lines(2).len(), 2);
    }

    #[test]
    fn printing_is_counted_in_one_event_and_the_trace_stays_bounded() {
        let mut t = Trace::new();
        for _ in 0..10_000 {
            t.push(Event::Printed {
                lines: 1,
                bytes: 10,
                head: b"0123456789".to_vec(),
            });
        }
        assert_eq!(t.entries().count(), 1);
        assert!(matches!(
            t.entries().next().map(|e| &e.event),
            Some(Event::Printed {
                lines: 10_000,
                bytes: 100_000,
                head,
            }) if head.len() == HEAD_BYTES
        ));
        for i in 0..MAX_EVENTS + 5 {
            t.push(Event::Wrote {
                to: "c1".into(),
                bytes: i,
                head: Vec::new(),
            });
        }
        assert_eq!(t.entries().count(), MAX_EVENTS);
        assert_eq!(t.dropped, 6);
        let mut big = Trace::new();
        big.received("c1", &[b'x'; 1000]);
        let line = big.last_lines(1).join("");
        assert!(
            line.contains("c1 <- 1000 bytes") && line.len() < 120,
            "{line}"
        );
    }
}
