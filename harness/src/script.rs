//! The case language: one step a line, for the peer to play against the implementation.
//!
//! ```text
//! # echo2 server: the client half-closes and keeps reading
//! role server              the role the implementation plays (server or client)
//! spawn                    start the implementation
//! connect c1               the peer connects (retrying until the server listens)
//! send c1 "hello"          one write; `send c1 "a" * 1024`; `send c1 "hi" split 1` (1-byte pieces)
//! read c1                  observe the next bytes it sends (`read c1 4`: exactly 4 bytes)
//! stdout                   observe the next line it prints
//! shutdown c1              half-close: the peer stops writing and keeps reading
//! read-end c1              observe how it ends the connection: eof or reset
//! exit                     observe its exit status
//! ```
//! Other steps: `listen` and `accept c1` (the peer as server), `close c1`, `reset c1`
//! (abortive close, RST), `stdin "line"` (writes the line and a newline), `stdin-close`,
//! `peek c1 10` (wait until 10 bytes are buffered, without reading them), `quiet 300ms`
//! (a silence window: nothing may arrive). Cases stimulate; the expected values live only
//! in the fixture, which has one line per step: the step, then `=> what was observed`.

use crate::payload;
use std::fmt;
use std::time::Duration;

/// The role the implementation under test plays; the peer plays the other one.
pub use sockref::Role;

/// One step of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Spawn,
    Listen,
    Accept(String),
    Connect(String),
    Send {
        conn: String,
        data: Vec<u8>,
        /// Write in pieces of this many bytes, each its own segment, paced apart.
        split: Option<usize>,
    },
    Shutdown(String),
    Close(String),
    Reset(String),
    Stdin(Vec<u8>),
    StdinClose,
    Peek {
        conn: String,
        bytes: usize,
    },
    Read {
        conn: String,
        bytes: Option<usize>,
    },
    ReadEnd(String),
    Stdout,
    Quiet(Duration),
    Exit,
}

impl Step {
    /// Observations are the steps whose outcome the fixture records after `=>`.
    pub fn is_observation(&self) -> bool {
        matches!(
            self,
            Step::Read { .. } | Step::ReadEnd(_) | Step::Stdout | Step::Quiet(_) | Step::Exit
        )
    }

    /// The connection a step is about, if any.
    pub fn conn(&self) -> Option<&str> {
        match self {
            Step::Accept(c)
            | Step::Connect(c)
            | Step::Shutdown(c)
            | Step::Close(c)
            | Step::Reset(c)
            | Step::ReadEnd(c) => Some(c),
            Step::Send { conn, .. } | Step::Peek { conn, .. } | Step::Read { conn, .. } => {
                Some(conn)
            }
            _ => None,
        }
    }
}

/// The canonical text of a step: what the transcript shows left of `=>`.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Spawn => write!(f, "spawn"),
            Step::Listen => write!(f, "listen"),
            Step::Accept(c) => write!(f, "accept {c}"),
            Step::Connect(c) => write!(f, "connect {c}"),
            Step::Send { conn, data, split } => {
                write!(f, "send {conn} {}", payload::render(data))?;
                if let Some(n) = split {
                    write!(f, " split {n}")?;
                }
                Ok(())
            }
            Step::Shutdown(c) => write!(f, "shutdown {c}"),
            Step::Close(c) => write!(f, "close {c}"),
            Step::Reset(c) => write!(f, "reset {c}"),
            Step::Stdin(line) => write!(f, "stdin {}", payload::render(line)),
            Step::StdinClose => write!(f, "stdin-close"),
            Step::Peek { conn, bytes } => write!(f, "peek {conn} {bytes}"),
            Step::Read { conn, bytes: None } => write!(f, "read {conn}"),
            Step::Read {
                conn,
                bytes: Some(n),
            } => write!(f, "read {conn} {n}"),
            Step::ReadEnd(c) => write!(f, "read-end {c}"),
            Step::Stdout => write!(f, "stdout"),
            Step::Quiet(d) => write!(f, "quiet {}ms", d.as_millis()),
            Step::Exit => write!(f, "exit"),
        }
    }
}

/// A parsed case file.
#[derive(Debug, Clone)]
pub struct Case {
    /// The program id (the suite folder's name).
    pub program: String,
    /// The case name (the file name without `.case`).
    pub name: String,
    pub role: Role,
    /// The comment lines at the top of the file: what the case is about.
    pub about: String,
    pub steps: Vec<Step>,
}

impl Case {
    /// The sum of the declared silence windows: the only time a passing run waits on purpose.
    pub fn silence(&self) -> Duration {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Quiet(d) => *d,
                _ => Duration::ZERO,
            })
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

const STEP_WORDS: &str = "spawn, listen, accept, connect, send, shutdown, close, reset, stdin, \
stdin-close, peek, read, read-end, stdout, quiet, exit";

/// Longest silence window a case may declare.
const MAX_QUIET: Duration = Duration::from_secs(10);

/// Parses a case file and checks that its steps make sense in order (a connection is opened
/// before it is used, the implementation is spawned once, the peer listens only when the
/// implementation is the client).
pub fn parse(program: &str, name: &str, text: &str) -> Result<Case, ParseError> {
    let mut role = None;
    let mut about = Vec::new();
    let mut steps = Vec::new();
    let mut checker = Checker::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |message: String| ParseError { line, message };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if role.is_none() && steps.is_empty() {
                about.push(comment.trim().to_string());
            }
            continue;
        }
        let (word, rest) = split_word(trimmed);
        if word == "role" {
            if role.is_some() || !steps.is_empty() {
                return Err(err("`role` must come once, before the first step".into()));
            }
            role =
                Some(rest.trim().parse::<Role>().map_err(|_| {
                    err(format!("unknown role `{}` (server or client)", rest.trim()))
                })?);
            continue;
        }
        let Some(role) = role else {
            return Err(err(
                "the first line must be `role server` or `role client`".into()
            ));
        };
        let step = parse_step(word, rest).map_err(err)?;
        checker.check(role, &step).map_err(err)?;
        steps.push(step);
    }
    let role = role.ok_or(ParseError {
        line: 1,
        message: "no `role server` or `role client` line".into(),
    })?;
    if !checker.spawned {
        return Err(ParseError {
            line: text.lines().count().max(1),
            message: "the case never spawns the implementation".into(),
        });
    }
    Ok(Case {
        program: program.to_string(),
        name: name.to_string(),
        role,
        about: about.join(" "),
        steps,
    })
}

fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn parse_step(word: &str, rest: &str) -> Result<Step, String> {
    let args: Vec<&str> = rest.split_whitespace().collect();
    let conn_only = |ctor: fn(String) -> Step| -> Result<Step, String> {
        match args.as_slice() {
            [c] => Ok(ctor(conn_name(c)?)),
            _ => Err(format!(
                "`{word}` takes one connection name, e.g. `{word} c1`"
            )),
        }
    };
    let no_args = |step: Step| -> Result<Step, String> {
        if args.is_empty() {
            Ok(step)
        } else {
            Err(format!("`{word}` takes no arguments"))
        }
    };
    match word {
        "spawn" => no_args(Step::Spawn),
        "listen" => no_args(Step::Listen),
        "stdin-close" => no_args(Step::StdinClose),
        "stdout" => no_args(Step::Stdout),
        "exit" => no_args(Step::Exit),
        "accept" => conn_only(Step::Accept),
        "connect" => conn_only(Step::Connect),
        "shutdown" => conn_only(Step::Shutdown),
        "close" => conn_only(Step::Close),
        "reset" => conn_only(Step::Reset),
        "read-end" => conn_only(Step::ReadEnd),
        "read" => match args.as_slice() {
            [c] => Ok(Step::Read {
                conn: conn_name(c)?,
                bytes: None,
            }),
            [c, n] => Ok(Step::Read {
                conn: conn_name(c)?,
                bytes: Some(count(n)?),
            }),
            _ => Err("`read` takes a connection and an optional byte count: `read c1 [N]`".into()),
        },
        "peek" => match args.as_slice() {
            [c, n] => Ok(Step::Peek {
                conn: conn_name(c)?,
                bytes: count(n)?,
            }),
            _ => Err("`peek` takes a connection and a byte count: `peek c1 N`".into()),
        },
        "quiet" => match args.as_slice() {
            [d] => {
                let d = duration(d)?;
                if d.is_zero() || d > MAX_QUIET {
                    return Err(format!(
                        "a silence window lasts from 1ms to {}s",
                        MAX_QUIET.as_secs()
                    ));
                }
                Ok(Step::Quiet(d))
            }
            _ => Err("`quiet` takes a duration: `quiet 300ms`".into()),
        },
        "stdin" => {
            let (mut line, after) = payload::parse_expression(rest).map_err(|e| e.to_string())?;
            if !after.trim().is_empty() {
                return Err(format!("unexpected `{}` after the line", after.trim()));
            }
            if line.contains(&b'\n') {
                return Err(
                    "a stdin line cannot contain a newline (one `stdin` step per line)".into(),
                );
            }
            line.shrink_to_fit();
            Ok(Step::Stdin(line))
        }
        "send" => {
            let (c, payload_text) = split_word(rest);
            let conn = conn_name(c)?;
            let (data, after) =
                payload::parse_expression(payload_text).map_err(|e| e.to_string())?;
            let split = match after.split_whitespace().collect::<Vec<_>>().as_slice() {
                [] => None,
                ["split", n] => Some(count(n)?),
                _ => {
                    return Err(format!(
                        "unexpected `{}` after the payload (only `split N` may follow)",
                        after.trim()
                    ))
                }
            };
            if data.is_empty() {
                return Err("`send` of no bytes sends nothing: leave the step out".into());
            }
            Ok(Step::Send { conn, data, split })
        }
        other => Err(format!("unknown step `{other}` (steps: {STEP_WORDS})")),
    }
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

fn count(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| (1..=64 << 20).contains(n))
        .ok_or_else(|| format!("bad byte count `{s}` (a whole number from 1)"))
}

fn duration(s: &str) -> Result<Duration, String> {
    let parsed = if let Some(ms) = s.strip_suffix("ms") {
        ms.parse().ok().map(Duration::from_millis)
    } else if let Some(secs) = s.strip_suffix('s') {
        secs.parse().ok().map(Duration::from_secs)
    } else {
        None
    };
    parsed.ok_or_else(|| format!("bad duration `{s}` (e.g. `300ms` or `2s`)"))
}

/// Tracks what the steps so far have set up, to reject cases that cannot run.
#[derive(Default)]
struct Checker {
    spawned: bool,
    listening: bool,
    stdin_closed: bool,
    /// Connections opened so far, and whether the peer closed them.
    conns: Vec<(String, bool)>,
}

impl Checker {
    fn check(&mut self, role: Role, step: &Step) -> Result<(), String> {
        let known = |name: &str| self.conns.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
        match step {
            Step::Spawn if self.spawned => {
                return Err("the implementation is spawned only once".into())
            }
            Step::Spawn if role == Role::Client && !self.listening => {
                return Err(
                    "as the server, the peer must `listen` before it spawns the client".into(),
                )
            }
            Step::Spawn => self.spawned = true,
            Step::Listen if role == Role::Server => {
                return Err("`listen` is for cases where the implementation is the client".into())
            }
            Step::Listen if self.listening => return Err("the peer listens only once".into()),
            Step::Listen => self.listening = true,
            Step::Connect(_) if role == Role::Client => {
                return Err("`connect` is for cases where the implementation is the server".into())
            }
            Step::Accept(_) if !self.listening => {
                return Err("`accept` needs `listen` first".into())
            }
            Step::Stdin(_) | Step::StdinClose if self.stdin_closed => {
                return Err("stdin is already closed".into())
            }
            Step::StdinClose => self.stdin_closed = true,
            _ => {}
        }
        if matches!(step, Step::Connect(_) | Step::Accept(_)) {
            let name = step.conn().unwrap_or_default();
            if known(name).is_some() {
                return Err(format!("connection `{name}` is already open"));
            }
            if !self.spawned {
                return Err("spawn the implementation before connecting to it".into());
            }
            self.conns.push((name.to_string(), false));
        } else if let Some(name) = step.conn() {
            match known(name) {
                None => {
                    return Err(format!(
                        "connection `{name}` is not open (connect or accept it first)"
                    ))
                }
                Some(true) => return Err(format!("connection `{name}` is already closed")),
                Some(false) => {}
            }
            if matches!(step, Step::Close(_) | Step::Reset(_)) {
                if let Some(entry) = self.conns.iter_mut().find(|(n, _)| n == name) {
                    entry.1 = true;
                }
            }
        } else if step.is_observation() && !self.spawned {
            return Err("spawn the implementation before observing it".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: &str = "# the client half-closes\n# and keeps reading\nrole server\nspawn\nconnect c1\n\
send c1 \"hello\"\nread c1\nstdout\nsend c1 \"a\" * 1024 split 512\nshutdown c1\nread-end c1\nquiet 300ms\nexit\n";

    #[test]
    fn parses_a_case_and_renders_each_step_canonically() {
        let case = parse("echo2", "half-close", ECHO).unwrap();
        assert_eq!(case.role, Role::Server);
        assert_eq!(case.about, "the client half-closes and keeps reading");
        let shown: Vec<String> = case.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            shown,
            [
                "spawn",
                "connect c1",
                "send c1 \"hello\"",
                "read c1",
                "stdout",
                "send c1 \"a\" * 1024 split 512",
                "shutdown c1",
                "read-end c1",
                "quiet 300ms",
                "exit"
            ]
        );
        assert_eq!(case.silence(), Duration::from_millis(300));
        // The canonical text parses back to the same step.
        for step in &case.steps {
            let text = step.to_string();
            let (w, r) = split_word(&text);
            assert_eq!(&parse_step(w, r).unwrap(), step);
        }
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            ("spawn\n", 1, "first line must be `role"),
            ("role server\nsned c1 \"x\"\n", 2, "unknown step `sned`"),
            ("role server\nspawn\nread c1\n", 3, "`c1` is not open"),
            (
                "role server\nconnect c1\n",
                2,
                "spawn the implementation before",
            ),
            ("role client\nspawn\n", 2, "must `listen` before"),
            ("role server\nlisten\n", 2, "`listen` is for cases"),
            (
                "role server\nspawn\nconnect c1\nclose c1\nsend c1 \"x\"\n",
                5,
                "already closed",
            ),
            ("role server\nspawn\nquiet 20m\n", 3, "bad duration"),
            (
                "role server\nspawn\nstdin \"a\\nb\"\n",
                3,
                "cannot contain a newline",
            ),
            (
                "role server\nspawn\nconnect c1\nsend c1 \"x\" twice\n",
                4,
                "only `split N`",
            ),
            ("role server\n", 1, "never spawns"),
            ("role both\n", 1, "unknown role `both`"),
        ];
        for (text, line, needle) in cases {
            let e = parse("p", "c", text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}
