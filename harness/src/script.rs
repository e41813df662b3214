//! A case file: its role, its comment (what the case is about), its steps and the hints it
//! declares, with the checks of their order. The case language is described once, in the
//! README's *Add a case and record its fixture*; each family's steps are parsed by their
//! module of [`crate::syntax`].
//!
//! ```text
//! # echo2 server: the client half-closes and keeps reading
//! role server
//! spawn
//! connect c1
//! send c1 "hello"
//! read c1
//! shutdown c1
//! read-end c1
//! exit
//! ```

use crate::hints::{Hint, SymptomKind};
use crate::syntax::{self, split_word, Setup};
use std::time::Duration;

/// The role the implementation under test plays; the peer plays the other one.
pub use sockref::Role;
pub use syntax::Step;

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
    /// Hints the case declares for its steps: `hint stderr-deadlock if nothing` after a step
    /// gives that hint when that step fails that way (and only then).
    pub hints: Vec<DeclaredHint>,
}

/// A hint a case declares for one of its steps and one way of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredHint {
    /// The index of the step in `steps`.
    pub step: usize,
    pub when: SymptomKind,
    /// `... if died of struct.error`: only when the program died of this exception.
    pub of: Option<String>,
    pub hint: Hint,
}

impl Case {
    /// The sum of the declared silence windows: the only time a passing run waits on purpose.
    pub fn silence(&self) -> Duration {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Quiet(q) => q.0,
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

/// Parses a case file and checks that its steps make sense in order (a connection is opened
/// before it is used, the implementation is spawned once, the peer listens only when the
/// implementation is the client).
pub fn parse(program: &str, name: &str, text: &str) -> Result<Case, ParseError> {
    let mut role = None;
    let mut about = Vec::new();
    let mut steps = Vec::new();
    // A datagram case has no connection to wait for: its client may start before the
    // peer's server exists (UDP programs may start in either order).
    let mut setup = Setup {
        datagrams: syntax::uses_datagrams(text.lines().map(|l| split_word(l.trim()).0)),
        ..Setup::default()
    };
    let mut hints = Vec::new();
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
        if word == "hint" {
            if steps.is_empty() {
                return Err(err("`hint` follows the step it is about".into()));
            }
            hints.push(parse_hint(steps.len() - 1, rest).map_err(err)?);
            continue;
        }
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
        let step = Step::parse(word, rest).map_err(err)?;
        step.check(role, &mut setup).map_err(err)?;
        steps.push(step);
    }
    let role = role.ok_or(ParseError {
        line: 1,
        message: "no `role server` or `role client` line".into(),
    })?;
    if !setup.spawned {
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
        hints,
    })
}

/// `<hint-id> if <symptom>`, e.g. `stderr-deadlock if nothing`.
fn parse_hint(step: usize, rest: &str) -> Result<DeclaredHint, String> {
    let usage = || {
        format!(
            "`hint` takes a hint and the way the step fails: `hint <id> if <{}> [of <exception>]`",
            SymptomKind::WORDS.join("|")
        )
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (id, when, of) = match words[..] {
        [id, "if", when] => (id, when, None),
        [id, "if", when, "of", exception] => (id, when, Some(exception.to_string())),
        _ => return Err(usage()),
    };
    let hint = Hint::from_id(id).ok_or_else(|| {
        format!(
            "unknown hint `{id}` (known: {})",
            Hint::ALL
                .iter()
                .map(|h| h.id())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let when = SymptomKind::from_word(when).ok_or_else(usage)?;
    Ok(DeclaredHint {
        step,
        when,
        of,
        hint,
    })
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
        let hinted = parse(
            "p",
            "c",
            "role server\nspawn\nconnect c1\nread c1\nhint stderr-deadlock if short\n",
        )
        .unwrap();
        assert_eq!(
            hinted.hints,
            [DeclaredHint {
                step: 2,
                when: SymptomKind::Short,
                of: None,
                hint: Hint::StderrDeadlock
            }]
        );
        // The canonical text parses back to the same step.
        for step in &case.steps {
            let text = step.to_string();
            let (w, r) = split_word(&text);
            assert_eq!(&Step::parse(w, r).unwrap(), step);
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
            (
                "role server\nhint eof-loop if bytes\n",
                2,
                "follows the step",
            ),
            (
                "role server\nspawn\nhint no-such if bytes\n",
                3,
                "unknown hint `no-such`",
            ),
            (
                "role server\nspawn\nhint eof-loop when bytes\n",
                3,
                "hint <id> if",
            ),
            ("role both\n", 1, "unknown role `both`"),
        ];
        for (text, line, needle) in cases {
            let e = parse("p", "c", text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}
