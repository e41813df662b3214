//! Observations as values: what the peer saw at an observation step, parsed from the
//! fixture when it loads and compared as values, never as strings. Their text is what a
//! transcript writes after `=>`:
//!
//! ```text
//! read c1 => "HELLO"            bytes (or `<3000 bytes sha256:…>`)
//! read-end c1 => eof            how the connection ended: eof or reset
//! stdout => "b'HELLO'"          a printed line
//! exit => 0                     an exit status: a code, or `signal 9`
//! quiet 300ms => nothing        nothing happened
//! ```

use crate::payload::{self, Expected};
use crate::session::End;
use std::fmt;

/// What the fixture says a step observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    Bytes(Expected),
    End(End),
    Line(String),
    Exit(ExitStatus),
    Nothing,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    pub fn from_std(status: std::process::ExitStatus) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Code(code),
            (None, Some(sig)) => ExitStatus::Signal(sig),
            _ => ExitStatus::Code(-1),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "{c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// The kind of value an observation step records, which decides how its text parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bytes,
    End,
    Line,
    Exit,
    Nothing,
}

impl Observation {
    /// Parses the text after `=>` for a step that observes `kind`.
    pub fn parse(kind: Kind, text: &str) -> Result<Observation, String> {
        match kind {
            Kind::Bytes => payload::parse(text)
                .map(Observation::Bytes)
                .map_err(|e| e.to_string()),
            Kind::End => match text {
                "eof" => Ok(Observation::End(End::Eof)),
                "reset" => Ok(Observation::End(End::Reset)),
                other => Err(format!("`{other}` is not an end (eof or reset)")),
            },
            Kind::Line => match payload::parse(text) {
                Ok(Expected::Exact(bytes)) => Ok(Observation::Line(
                    String::from_utf8_lossy(&bytes).into_owned(),
                )),
                _ => Err(format!("`{text}` is not a quoted line")),
            },
            Kind::Exit => {
                let status = match text.strip_prefix("signal ") {
                    Some(sig) => sig.parse().map(ExitStatus::Signal),
                    None => text.parse().map(ExitStatus::Code),
                };
                status
                    .map(Observation::Exit)
                    .map_err(|_| format!("`{text}` is not an exit status (a number or `signal N`)"))
            }
            Kind::Nothing => match text {
                "nothing" => Ok(Observation::Nothing),
                other => Err(format!("`{other}` is not `nothing`")),
            },
        }
    }
}

/// The canonical text, as the transcript writes it.
impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observation::Bytes(Expected::Exact(b)) => write!(f, "{}", payload::render(b)),
            Observation::Bytes(Expected::Digest { len, sha256_prefix }) => {
                write!(f, "<{len} bytes sha256:{sha256_prefix}>")
            }
            Observation::End(end) => write!(f, "{}", end.word()),
            Observation::Line(l) => write!(f, "{}", payload::render_line(l)),
            Observation::Exit(s) => write!(f, "{s}"),
            Observation::Nothing => write!(f, "nothing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_parses_its_text_and_renders_it_back() {
        for (kind, text) in [
            (Kind::Bytes, "\"a\" * 1024 + \"SB\""),
            (Kind::Bytes, "<3000 bytes sha256:9f86d081884c7d65>"),
            (Kind::End, "eof"),
            (Kind::End, "reset"),
            (Kind::Line, "\"b'HELLO'\""),
            (Kind::Exit, "0"),
            (Kind::Exit, "signal 9"),
            (Kind::Nothing, "nothing"),
        ] {
            let o = Observation::parse(kind, text).unwrap();
            assert_eq!(o.to_string(), text);
        }
        for (kind, text) in [
            (Kind::End, "closed"),
            (Kind::Exit, "zero"),
            (Kind::Line, "HELLO"),
            (Kind::Bytes, "hello"),
            (Kind::Nothing, "quiet"),
        ] {
            assert!(Observation::parse(kind, text).is_err(), "{text}");
        }
    }
}
