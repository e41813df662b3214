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
//! recvfrom u1 => "hi" (2 bytes) from the program's address
//!                               one datagram: its bytes, its length and its source
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
    Datagram(DatagramObs),
    Nothing,
}

/// One datagram as the transcript shows it: its bytes (their length written out, so that
/// an empty datagram reads as one) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatagramObs {
    pub data: Expected,
    pub from: Source,
}

/// The source of a datagram, without the ports that change from run to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The program's own address (a server answering from the socket it bound).
    Program,
    /// Another address, its port redacted: `127.0.0.1:[PORT]` (a client's ephemeral port).
    Other(String),
}

impl Source {
    /// Where `from` is, as the transcript writes it.
    pub fn of(from: std::net::SocketAddr, program: std::net::SocketAddr) -> Source {
        if from == program {
            Source::Program
        } else {
            Source::Other(format!("{}:[PORT]", from.ip()))
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Program => write!(f, "the program's address"),
            Source::Other(text) => write!(f, "{text}"),
        }
    }
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
    Datagram,
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
            Kind::Datagram => parse_datagram(text).map(Observation::Datagram),
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
            Observation::Datagram(d) => {
                let shown = Observation::Bytes(d.data.clone()).to_string();
                write!(f, "{shown}")?;
                // A digest says its length already.
                if !shown.starts_with('<') {
                    write!(f, " ({} bytes)", d.data.len())?;
                }
                write!(f, " from {}", d.from)
            }
            Observation::Nothing => write!(f, "nothing"),
        }
    }
}

/// `"bytes" (N bytes) from SOURCE`, or `<N bytes sha256:…> from SOURCE`.
fn parse_datagram(text: &str) -> Result<DatagramObs, String> {
    let bad = || format!("`{text}` is not a datagram (`\"hi\" (2 bytes) from 127.0.0.1:[PORT]`)");
    let (data, from) = text.rsplit_once(" from ").ok_or_else(bad)?;
    let from = match from {
        "the program's address" => Source::Program,
        other if other.ends_with(":[PORT]") => Source::Other(other.to_string()),
        _ => return Err(bad()),
    };
    let data = if data.starts_with('<') {
        payload::parse(data).map_err(|e| e.to_string())?
    } else {
        let (bytes, count) = data.rsplit_once(" (").ok_or_else(bad)?;
        let bytes = match payload::parse(bytes).map_err(|e| e.to_string())? {
            Expected::Exact(b) => b,
            Expected::Digest { .. } => return Err(bad()),
        };
        if count != format!("{} bytes)", bytes.len()) {
            return Err(format!(
                "`{text}`: the length in brackets is not the datagram's ({})",
                bytes.len()
            ));
        }
        Expected::Exact(bytes)
    };
    Ok(DatagramObs { data, from })
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
            (
                Kind::Datagram,
                "\"hi\" (2 bytes) from the program's address",
            ),
            (Kind::Datagram, "\"\" (0 bytes) from 127.0.0.1:[PORT]"),
            (
                Kind::Datagram,
                "<2000 bytes sha256:9f86d081884c7d65> from 127.0.0.1:[PORT]",
            ),
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
            (Kind::Datagram, "\"hi\" from the program's address"),
            (
                Kind::Datagram,
                "\"hi\" (3 bytes) from the program's address",
            ),
            (Kind::Datagram, "\"hi\" (2 bytes) from 127.0.0.1:9000"),
            (Kind::Frame, "frame \"x\"; md5 fine; file_name missing"),
        ] {
            assert!(Observation::parse(kind, text).is_err(), "{text}");
        }
    }
}
