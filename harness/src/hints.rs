//! Hints: a plain-words sentence for the mistakes students really make, recognised from how
//! a failing step failed and what happened before it.

use crate::script::{Role, Step};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    EofLoop,
    StdinEofTraceback,
    StdinEofSpin,
    NotListening,
    ExitedAtStart,
    BufferedOutput,
    NotClosed,
    OneClientOnly,
}

impl Hint {
    pub const ALL: [Hint; 8] = [
        Hint::EofLoop,
        Hint::StdinEofTraceback,
        Hint::StdinEofSpin,
        Hint::NotListening,
        Hint::ExitedAtStart,
        Hint::BufferedOutput,
        Hint::NotClosed,
        Hint::OneClientOnly,
    ];

    /// The stable name used in JSON reports and in the corpus's expectations.
    pub fn id(self) -> &'static str {
        match self {
            Hint::EofLoop => "eof-loop",
            Hint::StdinEofTraceback => "stdin-eof-traceback",
            Hint::StdinEofSpin => "stdin-eof-spin",
            Hint::NotListening => "not-listening",
            Hint::ExitedAtStart => "exited-at-start",
            Hint::BufferedOutput => "buffered-output",
            Hint::NotClosed => "not-closed",
            Hint::OneClientOnly => "one-client-only",
        }
    }

    pub fn from_id(id: &str) -> Option<Hint> {
        Hint::ALL.into_iter().find(|h| h.id() == id)
    }

    pub fn text(self) -> &'static str {
        match self {
            Hint::EofLoop => {
                "after the client closed, your server kept going round its loop: on Linux an \
                 ordinary close makes recv return b'' (it raises ConnectionResetError only for a \
                 reset), so `if not data: break` is needed besides the except"
            }
            Hint::StdinEofTraceback => {
                "your client dies with a traceback (EOFError) when its input ends: catch \
                 EOFError around input() and close the socket (its work was done, so this is \
                 only non-strict)"
            }
            Hint::StdinEofSpin => {
                "your client never exits after its input ended: input() keeps raising EOFError \
                 (or readline() keeps returning ''), so leave the loop there instead of going on"
            }
            Hint::NotListening => {
                "your server is running but does not listen on the address the suite expects \
                 (check the host and port passed to bind)"
            }
            Hint::ExitedAtStart => {
                "your program exited before it served anyone: read the error at the end of its \
                 stderr below"
            }
            Hint::BufferedOutput => {
                "your program's output only appeared when it exited: stdout is buffered, so \
                 flush after each print (print(..., flush=True), sys.stdout.flush(), fflush)"
            }
            Hint::NotClosed => {
                "your server never closed the connection after the client's end of stream: call \
                 conn.close() when the conversation ends"
            }
            Hint::OneClientOnly => {
                "your server stopped after its first client: go back to accept() after each \
                 conversation and keep the listening socket open"
            }
        }
    }
}

/// How a failing step failed, as far as hints care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symptom {
    /// The implementation exited while the peer waited to connect or to be connected to, or
    /// it dropped a connection it never answered and exited.
    ExitedBeforeConnection,
    /// Alive, but nothing accepted the connection.
    NotListening,
    /// Bytes came where the fixture has none, or other bytes than the fixture's.
    UnexpectedBytes,
    /// The connection stayed open where the fixture has its end.
    StayedOpen,
    /// The process was still running where the fixture has its exit.
    StillRunning,
    /// The process exited with another status than the fixture's.
    WrongExit,
    /// An expected printed line never came while the program ran, but did once it exited.
    PrintedOnlyAtExit,
    Other,
}

/// What happened in the run before the failing step.
pub struct Evidence<'a> {
    pub role: Role,
    pub step: &'a Step,
    pub symptom: Symptom,
    /// The peer had half-closed or closed the connection the step is about (or any, for steps
    /// about no connection).
    pub peer_ended: bool,
    pub stdin_closed: bool,
    /// The step is about the first connection of the run (or no connection was opened yet).
    pub first_connection: bool,
    pub stderr: &'a str,
}

/// The hint for a failure, if a known mistake matches.
pub fn diagnose(e: &Evidence) -> Option<Hint> {
    let traceback = |name: &str| e.stderr.contains(name);
    match e.symptom {
        Symptom::ExitedBeforeConnection if e.first_connection => Some(Hint::ExitedAtStart),
        Symptom::ExitedBeforeConnection if e.role == Role::Server => Some(Hint::OneClientOnly),
        Symptom::NotListening => Some(Hint::NotListening),
        Symptom::UnexpectedBytes if e.peer_ended && e.role == Role::Server => Some(Hint::EofLoop),
        Symptom::StayedOpen if e.peer_ended && e.role == Role::Server => Some(Hint::NotClosed),
        Symptom::StayedOpen if e.stdin_closed && e.role == Role::Client => Some(Hint::StdinEofSpin),
        Symptom::StillRunning if e.stdin_closed && e.role == Role::Client => {
            Some(Hint::StdinEofSpin)
        }
        Symptom::WrongExit
            if e.peer_ended
                && e.role == Role::Server
                && (traceback("BrokenPipeError") || traceback("ConnectionResetError")) =>
        {
            Some(Hint::EofLoop)
        }
        Symptom::PrintedOnlyAtExit => Some(Hint::BufferedOutput),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(symptom: Symptom) -> Evidence<'static> {
        Evidence {
            role: Role::Server,
            step: &Step::Exit,
            symptom,
            peer_ended: true,
            stdin_closed: false,
            first_connection: false,
            stderr: "",
        }
    }

    #[test]
    fn ids_round_trip() {
        for h in Hint::ALL {
            assert_eq!(Hint::from_id(h.id()), Some(h));
        }
    }

    #[test]
    fn the_same_symptom_gets_the_hint_only_in_its_setting() {
        assert_eq!(
            diagnose(&evidence(Symptom::UnexpectedBytes)),
            Some(Hint::EofLoop)
        );
        let open_conn = Evidence {
            peer_ended: false,
            ..evidence(Symptom::UnexpectedBytes)
        };
        assert_eq!(diagnose(&open_conn), None);
        let first = Evidence {
            first_connection: true,
            ..evidence(Symptom::ExitedBeforeConnection)
        };
        assert_eq!(diagnose(&first), Some(Hint::ExitedAtStart));
        assert_eq!(
            diagnose(&evidence(Symptom::ExitedBeforeConnection)),
            Some(Hint::OneClientOnly)
        );
        assert_eq!(diagnose(&evidence(Symptom::WrongExit)), None);
        let broken_pipe = Evidence {
            stderr: "BrokenPipeError: [Errno 32] Broken pipe",
            ..evidence(Symptom::WrongExit)
        };
        assert_eq!(diagnose(&broken_pipe), Some(Hint::EofLoop));
    }
}
