//! The steps of the case language as written, one module per family: [`process`] (spawn,
//! stdin, stdout, exit), [`tcp`] (listen, accept, connect, send, peek, read, read-end,
//! shutdown, close, reset), [`frame`] (read-frame: a frame of the framed protocols),
//! [`udp`] (bind, sendto, recvfrom, dropped: datagrams) and [`quiet`] (the silence window).
//! Each family gives its step type, its parsing, its canonical text, its checks of order and
//! what the step has the peer do as a family-neutral [`Action`] ([`Syntax`]); their
//! execution is in [`crate::steps`]. Pure: nothing here runs a case.
//! This module is the families' registry on the language side: `families!` below is the
//! one line a new family adds here.

use crate::framing::Format;
use crate::observation::Kind;
use crate::script::Role;
use crate::session::PeerEnd;
use std::fmt;
use std::time::Duration;

/// What each family's step type gives the case language.
pub trait Syntax: Sized {
    /// Its step words.
    const WORDS: &'static [&'static str];
    /// Parses one of its steps from its word and the rest of its line (`args`: the rest
    /// split on blanks); `None` when the word is not one of its own.
    fn parse(word: &str, rest: &str, args: &[&str]) -> Option<Result<Self, String>>;
    /// What the step observes (its fixture line records a value after `=>`), if anything.
    fn observes(&self) -> Option<Kind>;
    /// The connection the step is about, if any.
    fn conn(&self) -> Option<&str> {
        None
    }
    /// Checks that the step can come at this point of its case, and notes what it sets up.
    fn check(&self, _role: Role, _setup: &mut Setup) -> Result<(), String> {
        Ok(())
    }
    /// What the step has the peer do, for whatever renders a case without running it.
    /// Required, so that a new step says what it does where `explain` can read it.
    fn action(&self) -> Action;
}

/// What a step has the peer do (or observe), as a value no family owns: `sockcheck
/// explain` reads a case through it (its plain words, its Python peer) without naming a
/// family, as the engine runs one through [`crate::steps`]. One variant per kind of
/// deed, not per family: a new family reuses these where it can, and adds a variant only
/// for a deed no other step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The program is started (the peer's `spawn`).
    Spawn,
    /// A line (without its newline) is written to the program's stdin, as the case writes
    /// it: `${word}`s unexpanded ([`expand_words`] gives the program's).
    Stdin(Vec<u8>),
    /// The program's stdin is closed.
    StdinClose,
    /// The next printed line that carries data is observed.
    Stdout,
    /// The program's exit is observed; `nonzero`: any failure status will do.
    Exit { nonzero: bool },
    /// The peer listens on the program's address (it plays the server).
    Listen,
    /// The peer accepts the program's connection and names it.
    Accept(String),
    /// The peer connects to the program (retrying while nothing listens) and names it.
    Connect(String),
    /// The peer writes `data` on `conn`, cut into pieces of these lengths (one piece: one
    /// write), each its own segment, paced apart.
    Send {
        conn: String,
        data: Vec<u8>,
        pieces: Vec<usize>,
    },
    /// The peer waits until `bytes` bytes have arrived on `conn`, reading none.
    Peek { conn: String, bytes: usize },
    /// The peer reads on `conn`: everything that has come once the expected bytes are
    /// there (`bytes: None`), or exactly `bytes`; `or_end`: the end of the connection with
    /// no byte passes too.
    Read {
        conn: String,
        bytes: Option<usize>,
        or_end: bool,
    },
    /// The peer reads one frame of `format` on `conn`.
    ReadFrame { conn: String, format: Format },
    /// The peer waits for the program to end `conn` (eof or reset); a byte first fails.
    ReadEnd(String),
    /// The peer ends its side of `conn`: half-closes, closes or resets it.
    End { conn: String, how: PeerEnd },
    /// The peer binds a datagram socket and names it.
    Bind(String),
    /// The peer sends one datagram from `sock`.
    SendTo { sock: String, data: Vec<u8> },
    /// The peer receives the next datagram on `sock`.
    RecvFrom(String),
    /// The peer waits until a datagram of the program is lost on a port nobody bound.
    Dropped,
    /// Nothing may happen for this long.
    Quiet(Duration),
}

/// Declares the families: their modules, a variant of [`Step`] each, and the dispatch of
/// every [`Syntax`] method to them.
macro_rules! families {
    ($($variant:ident($module:ident)),+ $(,)?) => {
        $(pub mod $module;)+

        /// One step of a case.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Step {
            $($variant($module::Step),)+
        }

        /// Every family's words, in the order of the families.
        const FAMILY_WORDS: &[&[&str]] = &[$(<$module::Step as Syntax>::WORDS,)+];

        impl Step {
            /// The step of whichever family owns `word`.
            fn parse_word(word: &str, rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
                $(
                    if let Some(parsed) = <$module::Step as Syntax>::parse(word, rest, args) {
                        return Some(parsed.map(Step::$variant));
                    }
                )+
                None
            }

            /// What the step observes (its fixture line records a value after `=>`).
            pub fn observes(&self) -> Option<Kind> {
                match self {
                    $(Step::$variant(s) => s.observes(),)+
                }
            }

            /// The connection the step is about, if any.
            pub fn conn(&self) -> Option<&str> {
                match self {
                    $(Step::$variant(s) => s.conn(),)+
                }
            }

            fn check_in_family(&self, role: Role, setup: &mut Setup) -> Result<(), String> {
                match self {
                    $(Step::$variant(s) => s.check(role, setup),)+
                }
            }

            /// What the step has the peer do.
            pub fn action(&self) -> Action {
                match self {
                    $(Step::$variant(s) => s.action(),)+
                }
            }
        }

        /// The canonical text of a step: what the transcript shows left of `=>`.
        impl fmt::Display for Step {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Step::$variant(s) => s.fmt(f),)+
                }
            }
        }
    };
}

families! {
    Process(process),
    Tcp(tcp),
    Frame(frame),
    Udp(udp),
    Quiet(quiet),
}

/// A stdin line with each `${name}` replaced by the program's word of that name.
pub use process::expand_words;

/// Every step word, for the error that names an unknown one.
pub fn words() -> String {
    FAMILY_WORDS.concat().join(", ")
}

impl Step {
    /// Parses a step from its word and the rest of its line.
    pub fn parse(word: &str, rest: &str) -> Result<Step, String> {
        let args: Vec<&str> = rest.split_whitespace().collect();
        Step::parse_word(word, rest, &args)
            .unwrap_or_else(|| Err(format!("unknown step `{word}` (steps: {})", words())))
    }

    pub fn is_observation(&self) -> bool {
        self.observes().is_some()
    }

    /// Checks that the step can come at this point of its case.
    pub fn check(&self, role: Role, setup: &mut Setup) -> Result<(), String> {
        self.check_in_family(role, setup)?;
        if self.is_observation() && !setup.spawned {
            return Err("spawn the implementation before observing it".into());
        }
        Ok(())
    }

    /// Rewrites the bytes the step sends to the program (a TCP `send`) with `rewrite`: how
    /// a course's framed-header keys replace the tutorial's in the frames its cases send.
    pub fn rewrite_sent(&mut self, rewrite: impl Fn(&[u8]) -> Vec<u8>) {
        if let Step::Tcp(tcp::Step::Send { data, .. }) = self {
            *data = rewrite(data);
        }
    }

    /// Checks that each `${word}` of a stdin line is one of the program's words.
    pub fn check_words(
        &self,
        words: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        match self {
            Step::Process(process::Step::Stdin(line)) => {
                process::expand_words(line, words).map(|_| ())
            }
            _ => Ok(()),
        }
    }
}

/// Whether a case whose steps begin with these words uses datagram sockets: its client
/// role then needs no `listen` (UDP programs may start in either order).
pub fn uses_datagrams<'a>(mut words: impl Iterator<Item = &'a str>) -> bool {
    words.any(|w| <udp::Step as Syntax>::WORDS.contains(&w))
}

/// What the steps so far have set up, to reject cases that cannot run.
#[derive(Debug, Default)]
pub struct Setup {
    pub spawned: bool,
    pub listening: bool,
    pub stdin_closed: bool,
    /// Connections opened so far, and whether the peer closed them.
    pub conns: Vec<(String, bool)>,
    /// Datagram sockets bound so far.
    pub socks: Vec<String>,
    /// Datagram sockets a `recvfrom` took a datagram on (a client-role `sendto` answers it).
    pub heard: Vec<String>,
    /// The case uses datagram sockets (its client role needs no `listen`).
    pub datagrams: bool,
}

/// Splits off the first word of a line.
pub fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// A byte count in a step: a whole number from 1 to 64 MiB.
pub fn count(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| (1..=64 << 20).contains(n))
        .ok_or_else(|| format!("bad byte count `{s}` (a whole number from 1)"))
}

/// A step that takes no arguments.
pub fn no_args<T>(word: &str, args: &[&str], step: T) -> Result<T, String> {
    if args.is_empty() {
        Ok(step)
    } else {
        Err(format!("`{word}` takes no arguments"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(line: &str) -> Action {
        let (word, rest) = split_word(line);
        Step::parse(word, rest).expect("parses").action()
    }

    #[test]
    fn a_send_says_the_very_pieces_the_run_writes() {
        let pieces = |line: &str| match action(line) {
            Action::Send { pieces, data, .. } => {
                assert_eq!(pieces.iter().sum::<usize>(), data.len(), "{line}");
                pieces
            }
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(pieces("send c1 \"hello\""), [5]);
        assert_eq!(pieces("send c1 \"hello\" split 2"), [2, 2, 1]);
        let random = crate::session::Segmentation::Random {
            seed: 7,
            pace: Duration::ZERO,
        };
        assert_eq!(
            pieces("send c1 \"a\" * 100 split random 7"),
            random.pieces(100)
        );
    }

    #[test]
    fn every_family_says_what_its_steps_do() {
        assert_eq!(action("spawn"), Action::Spawn);
        assert_eq!(
            action("stdin \"${quit}\""),
            Action::Stdin(b"${quit}".to_vec())
        );
        assert_eq!(
            action("reset c2"),
            Action::End {
                conn: "c2".into(),
                how: PeerEnd::Reset
            }
        );
        assert_eq!(
            action("read-frame c1 header"),
            Action::ReadFrame {
                conn: "c1".into(),
                format: Format::Header
            }
        );
        assert_eq!(
            action("sendto u1 \"\""),
            Action::SendTo {
                sock: "u1".into(),
                data: Vec::new()
            }
        );
        assert_eq!(
            action("quiet 300ms"),
            Action::Quiet(Duration::from_millis(300))
        );
    }
}
