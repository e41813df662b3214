//! Datagram steps as written: the peer's UDP sockets, for udp-hello and udp-chat. Their
//! execution is in [`crate::steps::udp`].
//!
//! ```text
//! bind u1                  a datagram socket: on 127.0.0.1, port chosen by the kernel, when
//!                          the program is the server; on the program's address when it is
//!                          the client (the peer is its server)
//! sendto u1 "hello"        one datagram (may be empty: `sendto u1 ""`): to the program's
//!                          address (it is the server; the step waits until it has bound it),
//!                          or back to where u1's last datagram came from (it is the client)
//! recvfrom u1 => "hi" (2 bytes) from the program's address
//!                          the next datagram u1 received: its bytes, length and source
//! dropped                  wait until a datagram of the program reached a port where no
//!                          socket was bound (sent before the peer's server was up)
//! ```
//! Each datagram is one event of the trace and one observation, so boundaries show: two
//! datagrams are two `recvfrom` steps, never one. Every datagram is accounted for: one
//! that no step took fails the silence window it came in, or the end of the case.

use super::{Action, Setup, Syntax};
use crate::observation::Kind;
use crate::payload;
use crate::script::Role;
use crate::session;
use std::fmt;

pub const WORDS: &[&str] = &["bind", "sendto", "recvfrom", "dropped"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Bind(String),
    SendTo { sock: String, data: Vec<u8> },
    RecvFrom(String),
    Dropped,
}

pub fn parse(word: &str, rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
    let sock_only = |ctor: fn(String) -> Step| match args {
        [s] => sock_name(s).map(ctor),
        _ => Err(format!("`{word}` takes one socket name, e.g. `{word} u1`")),
    };
    Some(match word {
        "bind" => sock_only(Step::Bind),
        "recvfrom" => sock_only(Step::RecvFrom),
        "dropped" => super::no_args(word, args, Step::Dropped),
        "sendto" => {
            let (s, payload_text) = super::split_word(rest);
            sock_name(s).and_then(|sock| {
                let (data, after) =
                    payload::parse_expression(payload_text).map_err(|e| e.to_string())?;
                if !after.trim().is_empty() {
                    return Err(format!(
                        "unexpected `{}` after the payload: a datagram is sent whole",
                        after.trim()
                    ));
                }
                if data.len() > session::MAX_DATAGRAM - 29 {
                    return Err(format!(
                        "a datagram holds at most {} bytes, not {}",
                        session::MAX_DATAGRAM - 29,
                        data.len()
                    ));
                }
                Ok(Step::SendTo { sock, data })
            })
        }
        _ => return None,
    })
}

/// Socket names: `u` and a number, so a case reads datagram sockets apart from connections.
fn sock_name(s: &str) -> Result<String, String> {
    let ok = s.len() > 1 && s.starts_with('u') && s[1..].chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "bad datagram socket name `{s}` (`u` and a number, e.g. `u1`)"
        ))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Bind(s) => write!(f, "bind {s}"),
            Step::SendTo { sock, data } => write!(f, "sendto {sock} {}", payload::render(data)),
            Step::RecvFrom(s) => write!(f, "recvfrom {s}"),
            Step::Dropped => write!(f, "dropped"),
        }
    }
}

impl Step {
    pub fn sock(&self) -> Option<&str> {
        match self {
            Step::Bind(s) | Step::RecvFrom(s) | Step::SendTo { sock: s, .. } => Some(s),
            Step::Dropped => None,
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
            Step::RecvFrom(_) => Some(Kind::Datagram),
            _ => None,
        }
    }

    fn check(&self, role: Role, setup: &mut Setup) -> Result<(), String> {
        let Some(name) = self.sock() else {
            return if setup.spawned {
                Ok(())
            } else {
                Err("`dropped` waits for the program: spawn it first".into())
            };
        };
        let known = setup.socks.iter().any(|s| s == name);
        match self {
            Step::Bind(_) if known => Err(format!("socket `{name}` is already bound")),
            Step::Bind(_) if role == Role::Client && !setup.socks.is_empty() => Err(
                "the program is the client: the peer binds one socket, on its server's address"
                    .into(),
            ),
            Step::Bind(_) => {
                setup.socks.push(name.to_string());
                Ok(())
            }
            _ if !known => Err(format!("socket `{name}` is not bound (bind it first)")),
            Step::SendTo { .. } if !setup.spawned => {
                Err("spawn the implementation before sending to it".into())
            }
            Step::SendTo { .. }
                if role == Role::Client && !setup.heard.iter().any(|s| s == name) =>
            {
                Err(format!(
                    "the program is the client: `sendto {name}` answers the datagram a \
                     `recvfrom {name}` took, so one must come first"
                ))
            }
            Step::RecvFrom(_) => {
                if !setup.heard.iter().any(|s| s == name) {
                    setup.heard.push(name.to_string());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn action(&self) -> Action {
        match self {
            Step::Bind(s) => Action::Bind(s.clone()),
            Step::SendTo { sock, data } => Action::SendTo {
                sock: sock.clone(),
                data: data.clone(),
            },
            Step::RecvFrom(s) => Action::RecvFrom(s.clone()),
            Step::Dropped => Action::Dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<Step, String> {
        let (word, rest) = super::super::split_word(line);
        let args: Vec<&str> = rest.split_whitespace().collect();
        parse(word, rest, &args).expect("a datagram word")
    }

    #[test]
    fn steps_parse_and_render_back() {
        for text in [
            "bind u1",
            "sendto u2 \"hello\"",
            "sendto u1 \"\"",
            "sendto u1 \"a\" * 2000",
            "recvfrom u1",
            "dropped",
        ] {
            assert_eq!(parsed(text).unwrap().to_string(), text);
        }
        for (text, why) in [
            ("bind c1", "bad datagram socket name"),
            ("bind u", "bad datagram socket name"),
            ("recvfrom", "one socket name"),
            ("sendto u1 \"x\" split 1", "sent whole"),
            ("sendto u1 \"a\" * 70000", "at most"),
            ("dropped u1", "no arguments"),
        ] {
            let err = parsed(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn order_checks_know_the_roles() {
        let check = |role, lines: &[&str]| -> Result<(), String> {
            let mut setup = Setup {
                spawned: true,
                datagrams: true,
                ..Setup::default()
            };
            for line in lines {
                parsed(line)?.check(role, &mut setup)?;
            }
            Ok(())
        };
        assert!(check(
            Role::Server,
            &["bind u1", "bind u2", "sendto u2 \"x\"", "recvfrom u2"]
        )
        .is_ok());
        assert!(check(
            Role::Client,
            &["bind u1", "recvfrom u1", "sendto u1 \"hi\""]
        )
        .is_ok());
        let no_answer = check(Role::Client, &["bind u1", "sendto u1 \"hi\""]).unwrap_err();
        assert!(no_answer.contains("recvfrom u1"), "{no_answer}");
        let two_servers = check(Role::Client, &["bind u1", "bind u2"]).unwrap_err();
        assert!(two_servers.contains("one socket"), "{two_servers}");
        let unbound = check(Role::Server, &["recvfrom u1"]).unwrap_err();
        assert!(unbound.contains("not bound"), "{unbound}");
        let twice = check(Role::Server, &["bind u1", "bind u1"]).unwrap_err();
        assert!(twice.contains("already bound"), "{twice}");
    }
}
