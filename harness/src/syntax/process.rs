//! Process steps as written: the implementation as a process. `spawn` starts it,
//! `stdin "line"` writes a line (and its newline) to its input, `stdin-close` ends its
//! input, `stdout` observes the next line it prints that carries data, `exit` observes its
//! exit status. Their execution is in [`crate::steps::process`].
//!
//! ```text
//! stdin "hello"
//! stdout => "helloSB"          the printed line, prompts and colour codes stripped
//! exit => 0
//! exit nonzero => 1            any failure status: "a non-zero exit"
//! ```

use super::{no_args, Action, Setup, Syntax};
use crate::observation::Kind;
use crate::payload;
use crate::script::Role;
use std::fmt;

pub const WORDS: &[&str] = &["spawn", "stdin", "stdin-close", "stdout", "exit"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Spawn,
    Stdin(Vec<u8>),
    StdinClose,
    Stdout,
    /// `exit`: the fixture's status exactly; `exit nonzero`: any failure status (SPEC.md
    /// asks for "a non-zero exit", not a particular code).
    Exit {
        nonzero: bool,
    },
}

pub fn parse(word: &str, rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
    Some(match word {
        "spawn" => no_args(word, args, Step::Spawn),
        "stdin-close" => no_args(word, args, Step::StdinClose),
        "stdout" => no_args(word, args, Step::Stdout),
        "exit" => match args {
            [] => Ok(Step::Exit { nonzero: false }),
            ["nonzero"] => Ok(Step::Exit { nonzero: true }),
            _ => Err("`exit` takes nothing, or `nonzero`".into()),
        },
        "stdin" => parse_stdin(rest),
        _ => return None,
    })
}

fn parse_stdin(rest: &str) -> Result<Step, String> {
    let (line, after) = payload::parse_expression(rest).map_err(|e| e.to_string())?;
    if !after.trim().is_empty() {
        return Err(format!("unexpected `{}` after the line", after.trim()));
    }
    if line.contains(&b'\n') {
        return Err("a stdin line cannot contain a newline (one `stdin` step per line)".into());
    }
    Ok(Step::Stdin(line))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Spawn => write!(f, "spawn"),
            Step::Stdin(line) => write!(f, "stdin {}", payload::render(line)),
            Step::StdinClose => write!(f, "stdin-close"),
            Step::Stdout => write!(f, "stdout"),
            Step::Exit { nonzero: false } => write!(f, "exit"),
            Step::Exit { nonzero: true } => write!(f, "exit nonzero"),
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
            Step::Stdout => Some(Kind::Line),
            Step::Exit { .. } => Some(Kind::Exit),
            _ => None,
        }
    }

    fn check(&self, role: Role, setup: &mut Setup) -> Result<(), String> {
        match self {
            Step::Spawn if setup.spawned => Err("the implementation is spawned only once".into()),
            Step::Spawn if role == Role::Client && !setup.listening && !setup.datagrams => {
                Err("as the server, the peer must `listen` before it spawns the client".into())
            }
            Step::Spawn => {
                setup.spawned = true;
                Ok(())
            }
            Step::Stdin(_) | Step::StdinClose if setup.stdin_closed => {
                Err("stdin is already closed".into())
            }
            Step::Stdin(_) | Step::StdinClose if !setup.spawned => {
                Err("spawn the implementation before writing to its stdin".into())
            }
            Step::StdinClose => {
                setup.stdin_closed = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn action(&self) -> Action {
        match self {
            Step::Spawn => Action::Spawn,
            Step::Stdin(line) => Action::Stdin(line.clone()),
            Step::StdinClose => Action::StdinClose,
            Step::Stdout => Action::Stdout,
            Step::Exit { nonzero } => Action::Exit { nonzero: *nonzero },
        }
    }
}

/// A stdin line with each `${name}` replaced by the program's word of that name (the
/// transcript keeps the name, so a fixture holds for every course's words).
pub fn expand_words(
    line: &[u8],
    words: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.windows(2).position(|w| w == b"${") {
        out.extend_from_slice(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .iter()
            .position(|&b| b == b'}')
            .ok_or("`${` without its `}` in a stdin line")?;
        let name = String::from_utf8_lossy(&after[..end]);
        let word = words.get(name.as_ref()).ok_or_else(|| {
            format!("`${{{name}}}` names no word of the program (program.toml's [words])")
        })?;
        out.extend_from_slice(word.as_bytes());
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_expanded_by_name_and_unknown_ones_named() {
        let words = [("quit", "q"), ("contact", "taibai")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(expand_words(b"${contact}", &words).unwrap(), b"taibai");
        assert_eq!(
            expand_words(b"say ${quit}!${quit}", &words).unwrap(),
            b"say q!q"
        );
        assert_eq!(
            expand_words(b"no words, $ and {}", &words).unwrap(),
            b"no words, $ and {}"
        );
        let unknown = expand_words(b"${nobody}", &words).unwrap_err();
        assert!(unknown.contains("`${nobody}`"), "{unknown}");
        assert!(expand_words(b"${quit", &words).is_err());
    }
}
