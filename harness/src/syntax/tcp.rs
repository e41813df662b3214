//! TCP steps as written: the peer's connections to the implementation. Their execution
//! is in [`crate::steps::tcp`].
//!
//! ```text
//! listen                  the peer listens on the program's address (the program is the client)
//! accept c1               and takes its connection
//! connect c1              the peer connects (retrying until the server listens)
//! send c1 "hello"         one write; `split 1`: one-byte segments, paced apart;
//!                         `split random 7`: segments of 1-16 bytes cut by seed 7
//! peek c1 10              wait until 10 bytes are buffered, without reading them
//! read c1 => "HELLO"      all it has sent so far (at least the fixture's bytes); `read c1 4`: exactly 4;
//!                         `read c1 or-end`: those bytes, or else the end of the connection with
//!                         none (a program may see the peer's end and stop before it sends again)
//! read-end c1 => eof      how it ends the connection: eof or reset (nothing may come first)
//! shutdown c1             half-close: the peer stops writing and keeps reading
//! close c1 / reset c1     the peer closes (FIN) or aborts (RST); nothing may be left unread
//! ```
//! Every byte the program sends is accounted for: bytes a `read` did not take stay for the
//! next observation on that connection, and bytes still unread at a close, a reset or the
//! end of the case fail it, named.

use super::{count, no_args, Action, Setup, Syntax};
use crate::observation::Kind;
use crate::payload;
use crate::script::Role;
use crate::session::{PeerEnd, Segmentation};
use std::fmt;
use std::time::Duration;

pub const WORDS: &[&str] = &[
    "listen", "accept", "connect", "send", "peek", "read", "read-end", "shutdown", "close", "reset",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Listen,
    Accept(String),
    Connect(String),
    Send {
        conn: String,
        data: Vec<u8>,
        /// How to cut the write into segments; `None`: one write.
        split: Option<Split>,
    },
    Peek {
        conn: String,
        bytes: usize,
    },
    Read {
        conn: String,
        bytes: Option<usize>,
        /// `or-end`: the end of the connection with no byte passes too.
        or_end: bool,
    },
    ReadEnd(String),
    Shutdown(String),
    Close(String),
    Reset(String),
}

pub fn parse(word: &str, rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
    let conn_only = |ctor: fn(String) -> Step| -> Result<Step, String> {
        match args {
            [c] => Ok(ctor(conn_name(c)?)),
            _ => Err(format!(
                "`{word}` takes one connection name, e.g. `{word} c1`"
            )),
        }
    };
    Some(match word {
        "listen" => no_args(word, args, Step::Listen),
        "accept" => conn_only(Step::Accept),
        "connect" => conn_only(Step::Connect),
        "shutdown" => conn_only(Step::Shutdown),
        "close" => conn_only(Step::Close),
        "reset" => conn_only(Step::Reset),
        "read-end" => conn_only(Step::ReadEnd),
        "read" => match args {
            [c] => conn_name(c).map(|conn| Step::Read {
                conn,
                bytes: None,
                or_end: false,
            }),
            [c, "or-end"] => conn_name(c).map(|conn| Step::Read {
                conn,
                bytes: None,
                or_end: true,
            }),
            [c, n] => conn_name(c).and_then(|conn| {
                Ok(Step::Read {
                    conn,
                    bytes: Some(count(n)?),
                    or_end: false,
                })
            }),
            _ => Err(
                "`read` takes a connection and an optional byte count or `or-end`: `read c1 [N|or-end]`"
                    .into(),
            ),
        },
        "peek" => match args {
            [c, n] => conn_name(c).and_then(|conn| {
                Ok(Step::Peek {
                    conn,
                    bytes: count(n)?,
                })
            }),
            _ => Err("`peek` takes a connection and a byte count: `peek c1 N`".into()),
        },
        "send" => parse_send(rest),
        _ => return None,
    })
}

fn parse_send(rest: &str) -> Result<Step, String> {
    let (c, payload_text) = super::split_word(rest);
    let conn = conn_name(c)?;
    let (data, after) = payload::parse_expression(payload_text).map_err(|e| e.to_string())?;
    let split = match after.split_whitespace().collect::<Vec<_>>().as_slice() {
        [] => None,
        ["split", "random", seed] => Some(Split::Random(seed.parse().map_err(|_| {
            format!("bad seed `{seed}` (a whole number: the same seed gives the same cuts)")
        })?)),
        ["split", n] => Some(Split::Every(count(n)?)),
        _ => {
            return Err(format!(
            "unexpected `{}` after the payload (only `split N` or `split random SEED` may follow)",
            after.trim()
        ))
        }
    };
    if data.is_empty() {
        return Err("`send` of no bytes sends nothing: leave the step out".into());
    }
    Ok(Step::Send { conn, data, split })
}

fn conn_name(s: &str) -> Result<String, String> {
    let ok = s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "bad connection name `{s}` (lowercase letters and digits, e.g. `c1`)"
        ))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Listen => write!(f, "listen"),
            Step::Accept(c) => write!(f, "accept {c}"),
            Step::Connect(c) => write!(f, "connect {c}"),
            Step::Send { conn, data, split } => {
                write!(f, "send {conn} {}", payload::render(data))?;
                match split {
                    Some(Split::Every(n)) => write!(f, " split {n}")?,
                    Some(Split::Random(seed)) => write!(f, " split random {seed}")?,
                    None => {}
                }
                Ok(())
            }
            Step::Peek { conn, bytes } => write!(f, "peek {conn} {bytes}"),
            Step::Read {
                conn,
                bytes: None,
                or_end,
            } => write!(f, "read {conn}{}", if *or_end { " or-end" } else { "" }),
            Step::Read {
                conn,
                bytes: Some(n),
                ..
            } => write!(f, "read {conn} {n}"),
            Step::ReadEnd(c) => write!(f, "read-end {c}"),
            Step::Shutdown(c) => write!(f, "shutdown {c}"),
            Step::Close(c) => write!(f, "close {c}"),
            Step::Reset(c) => write!(f, "reset {c}"),
        }
    }
}

impl Syntax for Step {
    const WORDS: &'static [&'static str] = WORDS;

    fn parse(word: &str, rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
        parse(word, rest, args)
    }

    fn observes(&self) -> Option<Kind> {
        match self {
            Step::Read { .. } => Some(Kind::Bytes),
            Step::ReadEnd(_) => Some(Kind::End),
            _ => None,
        }
    }

    fn conn(&self) -> Option<&str> {
        match self {
            Step::Listen => None,
            Step::Accept(c)
            | Step::Connect(c)
            | Step::ReadEnd(c)
            | Step::Shutdown(c)
            | Step::Close(c)
            | Step::Reset(c) => Some(c),
            Step::Send { conn, .. } | Step::Peek { conn, .. } | Step::Read { conn, .. } => {
                Some(conn)
            }
        }
    }

    fn check(&self, role: Role, setup: &mut Setup) -> Result<(), String> {
        match self {
            Step::Listen if role == Role::Server => {
                return Err("`listen` is for cases where the implementation is the client".into())
            }
            Step::Listen if setup.listening => return Err("the peer listens only once".into()),
            Step::Listen => {
                setup.listening = true;
                return Ok(());
            }
            Step::Connect(_) if role == Role::Client => {
                return Err("`connect` is for cases where the implementation is the server".into())
            }
            Step::Accept(_) if !setup.listening => {
                return Err("`accept` needs `listen` first".into())
            }
            _ => {}
        }
        let name = self.conn().unwrap_or_default();
        let known = setup
            .conns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, closed)| *closed);
        if matches!(self, Step::Connect(_) | Step::Accept(_)) {
            if known.is_some() {
                return Err(format!("connection `{name}` is already open"));
            }
            if !setup.spawned {
                return Err("spawn the implementation before connecting to it".into());
            }
            setup.conns.push((name.to_string(), false));
            return Ok(());
        }
        match known {
            None => Err(format!(
                "connection `{name}` is not open (connect or accept it first)"
            )),
            Some(true) => Err(format!("connection `{name}` is already closed")),
            Some(false) => {
                if matches!(self, Step::Close(_) | Step::Reset(_)) {
                    if let Some(entry) = setup.conns.iter_mut().find(|(n, _)| n == name) {
                        entry.1 = true;
                    }
                }
                Ok(())
            }
        }
    }

    fn action(&self) -> Action {
        match self {
            Step::Listen => Action::Listen,
            Step::Accept(c) => Action::Accept(c.clone()),
            Step::Connect(c) => Action::Connect(c.clone()),
            Step::Send { conn, data, split } => Action::Send {
                conn: conn.clone(),
                data: data.clone(),
                // The very cuts the run makes: the pace does not change them.
                pieces: Split::segmentation(*split, Duration::ZERO).pieces(data.len()),
            },
            Step::Peek { conn, bytes } => Action::Peek {
                conn: conn.clone(),
                bytes: *bytes,
            },
            Step::Read {
                conn,
                bytes,
                or_end,
            } => Action::Read {
                conn: conn.clone(),
                bytes: *bytes,
                or_end: *or_end,
            },
            Step::ReadEnd(c) => Action::ReadEnd(c.clone()),
            Step::Shutdown(c) => Action::End {
                conn: c.clone(),
                how: PeerEnd::HalfClose,
            },
            Step::Close(c) => Action::End {
                conn: c.clone(),
                how: PeerEnd::Close,
            },
            Step::Reset(c) => Action::End {
                conn: c.clone(),
                how: PeerEnd::Reset,
            },
        }
    }
}

/// How a `send` cuts its bytes into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `split N`: pieces of N bytes.
    Every(usize),
    /// `split random SEED`: pieces of 1 to 16 bytes, cut where a generator seeded with SEED
    /// says: the same seed gives the same cuts, run after run.
    Random(u64),
}

impl Split {
    /// How the session writes a `send` cut this way (`None`: one write), its pieces `pace`
    /// apart: one mapping for the run and for `explain`, so both make the same cuts.
    pub fn segmentation(split: Option<Split>, pace: Duration) -> Segmentation {
        match split {
            None => Segmentation::Whole,
            Some(Split::Every(size)) => Segmentation::Pieces { size, pace },
            Some(Split::Random(seed)) => Segmentation::Random { seed, pace },
        }
    }
}
