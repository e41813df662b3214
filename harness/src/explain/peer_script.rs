//! `explain --peer-script`: a standalone Python 3 script (standard library only) that plays
//! the peer's side of one case against a running program, so that a student can reproduce
//! a failure by hand and add prints. It is the case's steps, one call each, over a fixed
//! runtime (`peer_runtime.py`, which does what `steps/` does, with the same deadlines),
//! with the fixture's values to compare against. What the peer sends is written as the
//! very bytes the run sends (frames and a course's header keys already encoded, each
//! `split` already cut), so the script re-implements no encoding.

use super::words;
use crate::catalog::Suite;
use crate::framing::Format;
use crate::hints::Lang;
use crate::observation::{ExitStatus, Observation, Source};
use crate::payload::Expected;
use crate::script::Case;
use crate::session::PeerEnd;
use crate::syntax::{expand_words, Action};
use std::fmt::Write as _;

/// The peer's machinery, the same in every script.
const RUNTIME: &str = include_str!("peer_runtime.py");

/// The script for `case` of `suite` (the program's address is `suite.info.addr`), its
/// comments in `lang`; an error when the case has no fixture to compare with.
pub fn script(suite: &Suite, case: &Case, lang: Lang) -> Result<String, String> {
    let info = &suite.info;
    let expected = super::expectations(suite, case)?;
    let actions: Vec<Action> = case.steps.iter().map(|s| s.action()).collect();
    let mut out = String::new();
    header(&mut out, suite, case, lang);
    let needs_command = actions.iter().any(|a| {
        matches!(
            a,
            Action::Stdin(_) | Action::StdinClose | Action::Stdout | Action::Exit { .. }
        )
    });
    let keys = &info.header_keys;
    let _ = writeln!(out, "PROGRAM = {}", py_str(&info.id));
    let _ = writeln!(out, "ROLE = {}", py_str(&case.role.to_string()));
    let _ = writeln!(out, "CASE = {}", py_str(&case.name));
    let _ = writeln!(out, "ADDR = {}", py_str(&info.addr.to_string()));
    let _ = writeln!(
        out,
        "# Whether the case reads the program's stdin, stdout or exit (the script must start it)."
    );
    let _ = writeln!(
        out,
        "NEEDS_COMMAND = {}",
        if needs_command { "True" } else { "False" }
    );
    let _ = writeln!(out, "PROMPTS = {}", py_list(&info.prompts));
    let _ = writeln!(out, "LABELS = {}", py_list(&info.labels));
    let tolerances: Vec<String> = info.tolerances.iter().map(|t| t.id().to_string()).collect();
    let _ = writeln!(out, "TOLERATE = {}", py_list(&tolerances));
    let _ = writeln!(
        out,
        "HEADER_KEYS = {{\"total_size\": {}, \"file_name\": {}, \"md5\": {}}}",
        py_str(&keys.total_size),
        py_str(&keys.file_name),
        py_str(&keys.md5)
    );
    let _ = writeln!(
        out,
        "# The hints the case declares, by step: (id, if, of, advice)."
    );
    let _ = writeln!(out, "HINTS = {{");
    for h in &case.hints {
        let _ = writeln!(
            out,
            "    {}: [({}, {}, {}, {})],",
            h.step + 1,
            py_str(h.hint.id()),
            py_str(crate::hints::SymptomKind::WORDS[symptom_index(h.when)]),
            h.of.as_deref().map_or_else(|| "None".to_string(), py_str),
            py_str(h.hint.text_in(lang))
        );
    }
    let _ = writeln!(out, "}}\n");
    out.push_str(RUNTIME);
    let _ = writeln!(
        out,
        "\n\n# ---- the case: one call per step, as the case file has them ----\n\n\ndef play(p):"
    );
    for (i, (step, action)) in case.steps.iter().zip(&actions).enumerate() {
        let value = expected[i].as_ref();
        let text = match value {
            Some(v) => format!("{step} => {v}"),
            None => step.to_string(),
        };
        let said = words::step(action, case.role, info, lang);
        let _ = writeln!(out, "    # {}. {said}", i + 1);
        let _ = writeln!(
            out,
            "    p.step({}, {}, {})",
            i + 1,
            py_str(&text),
            py_str(&said)
        );
        let next_line = || {
            actions
                .iter()
                .zip(&expected)
                .skip(i + 1)
                .find(|(a, _)| **a == Action::Stdout)
                .and_then(|(_, e)| e.as_ref())
        };
        let call = call(action, value, next_line, info)
            .map_err(|e| format!("step {} `{step}`: {e}", i + 1))?;
        let _ = writeln!(out, "    {call}");
    }
    let _ = writeln!(
        out,
        "\n\nif __name__ == \"__main__\":\n    sys.exit(main(play))"
    );
    Ok(out)
}

/// The comment atop the script: the case in plain words, and how to run it.
fn header(out: &mut String, suite: &Suite, case: &Case, lang: Lang) {
    let _ = writeln!(out, "#!/usr/bin/env python3");
    let _ = writeln!(
        out,
        "# The peer's side of sockcheck's case `{} {}`, as a script you can run and edit.",
        suite.info.id, case.name
    );
    let _ = writeln!(out, "#");
    for line in words::explain(suite, case, lang).lines() {
        let _ = writeln!(out, "# {line}");
    }
    let command = match case.role {
        crate::script::Role::Server => "python3 server.py",
        crate::script::Role::Client => "python3 client.py",
    };
    let _ = write!(
        out,
        "#\n\
         # Usage: python3 peer.py [--addr HOST:PORT] [--timeout SECS] [--keep-going] [-- COMMAND ...]\n\
         #   python3 peer.py -- {command}\n\
         #       the script starts your program (it must, when the case reads the program's\n\
         #       stdin, stdout or exit status), and stops it at the end of the case\n\
         #   python3 peer.py\n\
         #       your program is already running, at --addr\n\
         # Every event is printed as it happens, and each observation says OK or DIFFERENT\n\
         # (what the fixture expects, what came). Like sockcheck, the script stops at the\n\
         # first difference (--keep-going goes on). Exit status: 0 when every observation is\n\
         # as the fixture expects, 1 when not, 2 when it could not run.\n\
         # Written by `sockcheck explain {} {} --peer-script`.\n\n",
        suite.info.id, case.name
    );
}

/// The runtime's call that plays one step, with the fixture's value to compare with.
fn call<'a>(
    action: &Action,
    value: Option<&Observation>,
    next_line: impl Fn() -> Option<&'a Observation>,
    info: &crate::engine::ProgramInfo,
) -> Result<String, String> {
    let wrong = || {
        Err(format!(
            "the fixture's value {} does not fit the step",
            value.map_or("(none)".into(), |v| v.to_string())
        ))
    };
    Ok(match action {
        Action::Spawn => "p.spawn()".into(),
        Action::Stdin(line) => {
            let line = expand_words(line, &info.words)?;
            format!("p.stdin({})", py_bytes(&line))
        }
        Action::StdinClose => "p.stdin_close()".into(),
        Action::Stdout => match value {
            Some(Observation::Line(line)) => format!("p.stdout({})", py_str(line)),
            _ => return wrong(),
        },
        Action::Exit { nonzero } => match value {
            Some(Observation::Exit(status)) => format!(
                "p.exit({}{})",
                py_status(*status),
                if *nonzero { ", nonzero=True" } else { "" }
            ),
            _ => return wrong(),
        },
        Action::Listen => "p.listen()".into(),
        Action::Accept(c) => format!("p.accept({})", py_str(c)),
        Action::Connect(c) => format!("p.connect({})", py_str(c)),
        Action::Send { conn, data, pieces } => format!(
            "p.send({}, {}, {})",
            py_str(conn),
            py_bytes(data),
            py_sizes(pieces)
        ),
        Action::Peek { conn, bytes } => format!("p.peek({}, {bytes})", py_str(conn)),
        Action::Read {
            conn,
            bytes,
            or_end,
        } => match value {
            Some(Observation::Bytes(want)) => format!(
                "p.read({}, {}{}{})",
                py_str(conn),
                py_expected(want),
                bytes.map_or(String::new(), |n| format!(", n={n}")),
                if *or_end { ", or_end=True" } else { "" }
            ),
            _ => return wrong(),
        },
        Action::ReadFrame { conn, format } => match value {
            Some(Observation::Frame(frame)) => {
                let header = match &frame.header {
                    Some(h) => format!(
                        "True, {}, {}",
                        py_str(&h.md5),
                        h.file_name.as_deref().map_or("None".into(), py_str)
                    ),
                    None => "False, None, None".into(),
                };
                let format = match format {
                    Format::Low => "low",
                    Format::Header => "header",
                };
                format!(
                    "p.read_frame({}, {}, Frame({}, {header}))",
                    py_str(conn),
                    py_str(format),
                    py_expected(&frame.body)
                )
            }
            _ => return wrong(),
        },
        Action::ReadEnd(c) => match value {
            Some(Observation::End(end)) => {
                format!("p.read_end({}, {})", py_str(c), py_str(end.word()))
            }
            _ => return wrong(),
        },
        Action::End { conn, how } => {
            let method = match how {
                PeerEnd::HalfClose => "shutdown",
                PeerEnd::Close => "close",
                PeerEnd::Reset => "reset",
            };
            format!("p.{method}({})", py_str(conn))
        }
        Action::Bind(s) => format!("p.bind({})", py_str(s)),
        Action::SendTo { sock, data } => {
            format!("p.sendto({}, {})", py_str(sock), py_bytes(data))
        }
        Action::RecvFrom(s) => match value {
            Some(Observation::Datagram(d)) => {
                let source = match &d.from {
                    Source::Program => "program".to_string(),
                    Source::Other(text) => text.clone(),
                };
                format!(
                    "p.recvfrom({}, Datagram({}, {}))",
                    py_str(s),
                    py_expected(&d.data),
                    py_str(&source)
                )
            }
            _ => return wrong(),
        },
        Action::Dropped => "p.dropped()".into(),
        Action::Quiet(d) => {
            let next = match next_line() {
                Some(Observation::Line(line)) => py_str(line),
                _ => "None".into(),
            };
            format!("p.quiet({}, next_line={next})", d.as_secs_f64())
        }
    })
}

/// An exit status as Python's `returncode` gives it: the code, or minus the signal.
fn py_status(status: ExitStatus) -> String {
    match status {
        ExitStatus::Code(c) => c.to_string(),
        ExitStatus::Signal(s) => (-s).to_string(),
    }
}

fn py_expected(want: &Expected) -> String {
    match want {
        Expected::Exact(bytes) => py_bytes(bytes),
        Expected::Digest { len, sha256_prefix } => {
            format!("Digest({len}, {})", py_str(sha256_prefix))
        }
    }
}

/// The index of a way of failing in [`crate::hints::SymptomKind::WORDS`].
fn symptom_index(kind: crate::hints::SymptomKind) -> usize {
    crate::hints::SymptomKind::WORDS
        .iter()
        .position(|w| crate::hints::SymptomKind::from_word(w) == Some(kind))
        .unwrap_or(0)
}

/// A Python `str` literal (JSON's string syntax is Python's too, escapes and all).
pub fn py_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn py_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| py_str(i)).collect();
    format!("[{}]", items.join(", "))
}

/// Pieces' lengths as a Python list: `[1] * 1024`, `[512] * 2 + [3]`, or each one.
fn py_sizes(pieces: &[usize]) -> String {
    let Some((&last, body)) = pieces.split_last() else {
        return "[]".into();
    };
    match body.first() {
        None => format!("[{last}]"),
        Some(&first) if body.iter().all(|&p| p == first) => {
            if last == first {
                format!("[{first}] * {}", pieces.len())
            } else if body.len() == 1 {
                format!("[{first}, {last}]")
            } else {
                format!("[{first}] * {} + [{last}]", body.len())
            }
        }
        Some(_) => {
            let all: Vec<String> = pieces.iter().map(|p| p.to_string()).collect();
            format!("[{}]", all.join(", "))
        }
    }
}

/// A Python `bytes` expression: literals, and runs as `b'x' * n`, joined by `+` (cut where
/// a transcript cuts them: [`crate::payload::run_length_parts`]).
pub fn py_bytes(data: &[u8]) -> String {
    let mut parts = crate::payload::run_length_parts(data, py_bytes_literal);
    match parts.len() {
        1 => parts.remove(0),
        _ => format!("({})", parts.join(" + ")),
    }
}

/// `b'...'`: printable ASCII as is, the rest escaped.
fn py_bytes_literal(data: &[u8]) -> String {
    let mut out = String::from("b'");
    for &b in data {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_python_literals_with_runs() {
        assert_eq!(py_bytes(b""), "b''");
        assert_eq!(py_bytes(b"it's\n\\"), r"b'it\'s\n\\'");
        assert_eq!(py_bytes(&[0x0b, 0, 0, 0, b'{']), r"b'\x0b\x00\x00\x00{'");
        let mut run = vec![b'a'; 1000];
        run.extend_from_slice(b"SB");
        assert_eq!(py_bytes(&run), "(b'a' * 1000 + b'SB')");
        assert_eq!(py_bytes(&[b'x'; 20]), "b'x' * 20");
    }

    #[test]
    fn sizes_are_short() {
        assert_eq!(py_sizes(&[5]), "[5]");
        assert_eq!(py_sizes(&[1; 4]), "[1] * 4");
        assert_eq!(py_sizes(&[2, 2, 1]), "[2] * 2 + [1]");
        assert_eq!(py_sizes(&[2, 1]), "[2, 1]");
        assert_eq!(py_sizes(&[3, 1, 16]), "[3, 1, 16]");
    }

    #[test]
    fn strings_are_python_literals() {
        assert_eq!(
            py_str("a\"b\n\u{1b}[0m 你好"),
            "\"a\\\"b\\n\\u001b[0m 你好\""
        );
    }
}
