//! Frame steps as written (their execution is in [`crate::steps::frame`]):
//! `read-frame c1 low` and `read-frame c1 header` observe one frame of the
//! framed-low or framed-header protocol the program sends, decoded with the reference's
//! own codecs (`sockref::frame`), so that a fixture reads as the protocol, not as hex.
//!
//! ```text
//! read-frame c1 low => frame "hello\n"
//! read-frame c1 header => frame "hello\n"; md5 verified; file_name "f1.txt"
//! ```
//! The body must be the fixture's. A header whose `md5` is a placeholder (the tutorial's
//! `fdsaf2143254f`) or that lacks `file_name` or `md5` still interoperates: non-strict
//! (SPEC.md). A bad frame fails with the decoder's named error; bytes after the frame stay
//! for the next step, as for every read.

use super::{Action, Setup, Syntax};
use crate::framing::Format;
use crate::observation::Kind;
use crate::script::Role;
use std::fmt;

pub const WORDS: &[&str] = &["read-frame"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub conn: String,
    pub format: Format,
}

pub fn parse(word: &str, args: &[&str]) -> Option<Result<Step, String>> {
    if word != "read-frame" {
        return None;
    }
    let usage = || "`read-frame` takes a connection and a format: `read-frame c1 low|header`";
    Some(match args {
        [c, f] => {
            let format = match *f {
                "low" => Format::Low,
                "header" => Format::Header,
                _ => return Some(Err(usage().into())),
            };
            // A connection name as the TCP steps take it.
            match super::tcp::parse("read", "", &[c]) {
                Some(Ok(super::tcp::Step::Read { conn, .. })) => Ok(Step { conn, format }),
                Some(Err(e)) => Err(e),
                _ => Err(usage().into()),
            }
        }
        _ => Err(usage().into()),
    })
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = match self.format {
            Format::Low => "low",
            Format::Header => "header",
        };
        write!(f, "read-frame {} {format}", self.conn)
    }
}
impl Syntax for Step {
    const WORDS: &'static [&'static str] = WORDS;

    fn parse(word: &str, _rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
        parse(word, args)
    }

    fn observes(&self) -> Option<Kind> {
        Some(Kind::Frame)
    }

    fn conn(&self) -> Option<&str> {
        Some(&self.conn)
    }

    fn check(&self, _role: Role, setup: &mut Setup) -> Result<(), String> {
        match setup.conns.iter().find(|(n, _)| n == &self.conn) {
            None => Err(format!(
                "connection `{}` is not open (connect or accept it first)",
                self.conn
            )),
            Some((_, true)) => Err(format!("connection `{}` is already closed", self.conn)),
            Some(_) => Ok(()),
        }
    }

    fn action(&self) -> Action {
        Action::ReadFrame {
            conn: self.conn.clone(),
            format: self.format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_frame_parses_and_renders_its_canonical_text() {
        for text in ["read-frame c1 low", "read-frame c2 header"] {
            let (w, r) = super::super::split_word(text);
            let args: Vec<&str> = r.split_whitespace().collect();
            let step = parse(w, &args).expect("a frame step").expect("parses");
            assert_eq!(step.to_string(), text);
        }
        assert!(parse("read-frame", &["c1", "json"]).is_some_and(|r| r.is_err()));
        assert!(parse("read-frame", &["c1"]).is_some_and(|r| r.is_err()));
        assert!(parse("read", &["c1"]).is_none());
    }
}
