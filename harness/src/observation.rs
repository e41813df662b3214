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
    /// A frame of framed-low (`header: None`) or framed-header.
    Frame(FrameObs),
    Nothing,
}

/// A frame as the transcript shows it: its body, and for framed-header what its header
/// says of the body (`total_size` is the body's length).
///
/// ```text
/// frame "hello"
/// frame "hello"; md5 verified; file_name "f1.txt"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameObs {
    pub body: Expected,
    pub header: Option<HeaderObs>,
}

/// What a framed-header header says besides `total_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderObs {
    /// `verified`, `placeholder` or `missing`.
    pub md5: String,
    /// The file name, free text; `None` when the key is missing.
    pub file_name: Option<String>,
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
    Frame,
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
            Kind::Frame => parse_frame(text).map(Observation::Frame),
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
            Observation::Frame(frame) => {
                write!(f, "frame {}", Observation::Bytes(frame.body.clone()))?;
                if let Some(h) = &frame.header {
                    write!(f, "; md5 {}", h.md5)?;
                    match &h.file_name {
                        Some(name) => write!(f, "; file_name {}", payload::quote(name.as_bytes()))?,
                        None => write!(f, "; file_name missing")?,
                    }
                }
                Ok(())
            }
            Observation::Nothing => write!(f, "nothing"),
        }
    }
}

/// `frame <body>[; md5 <state>; file_name <"name"|missing>]`.
fn parse_frame(text: &str) -> Result<FrameObs, String> {
    let bad = || {
        format!("`{text}` is not a frame (`frame \"body\"`, then `; md5 ...; file_name ...` for a header)")
    };
    let rest = text.strip_prefix("frame ").ok_or_else(bad)?;
    let (body, after) = if rest.starts_with('<') {
        let end = rest.find('>').ok_or_else(bad)? + 1;
        (
            payload::parse(&rest[..end]).map_err(|e| e.to_string())?,
            &rest[end..],
        )
    } else {
        let (bytes, after) = payload::parse_expression(rest).map_err(|e| e.to_string())?;
        (Expected::Exact(bytes), after)
    };
    let after = after.trim();
    if after.is_empty() {
        return Ok(FrameObs { body, header: None });
    }
    let after = after.strip_prefix("; md5 ").ok_or_else(bad)?;
    let (md5, file) = after.split_once("; file_name ").ok_or_else(bad)?;
    if !["verified", "placeholder", "missing"].contains(&md5) {
        return Err(format!(
            "`{md5}` is not an md5 state (verified, placeholder or missing)"
        ));
    }
    let file_name = match file {
        "missing" => None,
        quoted => match payload::parse(quoted) {
            Ok(Expected::Exact(name)) => Some(String::from_utf8_lossy(&name).into_owned()),
            _ => return Err(bad()),
        },
    };
    Ok(FrameObs {
        body,
        header: Some(HeaderObs {
            md5: md5.to_string(),
            file_name,
        }),
    })
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
            (Kind::Frame, "frame \"hello\""),
            (Kind::Frame, "frame \"\""),
            (Kind::Frame, "frame <3000 bytes sha256:9f86d081884c7d65>"),
            (
                Kind::Frame,
                "frame \"a; b\"; md5 verified; file_name \"f1.txt\"",
            ),
            (
                Kind::Frame,
                "frame \"x\"; md5 placeholder; file_name missing",
            ),
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
            (Kind::Frame, "\"hello\""),
            (Kind::Frame, "frame \"x\"; md5 fine; file_name missing"),
        ] {
            assert!(Observation::parse(kind, text).is_err(), "{text}");
        }
    }
}
