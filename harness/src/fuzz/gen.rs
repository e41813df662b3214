//! Generated cases: a suite's own cases are the templates (each a conversation SPEC.md
//! allows, in an order the program keeps), and a generated case is one template with the
//! literals the peer sends varied within what SPEC.md lets a peer send that program:
//! messages of any length up to the 1024-byte buffer, ASCII, UTF-8, spaces, either case;
//! shell commands that write to stdout, stderr or both in either order, nothing, a lot, or
//! bytes that are not UTF-8. Pure: text in, text out, no run. proptest draws the values,
//! so a failing case shrinks (a simpler template, the template's own literals back, shorter
//! ones) with proptest's own shrinking.

use super::frames::{self, Fate, FrameSlot, GenFrame};
use crate::catalog::Suite;
use crate::payload;
use crate::script::Role;
use crate::syntax::Action;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Strategy};

/// What a literal of the peer's may be varied into, for this program and place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message to a server that passes bytes through (the echo servers): UTF-8 text, 1 to
    /// 1024 bytes, no newline (SPEC.md: text is UTF-8 on the wire; one `recv(1024)`).
    Message,
    /// A line typed on a client's stdin: printable text, not blank, no newline.
    Line,
    /// A server's reply to a client: ASCII (SPEC.md: clients are fed ASCII where their
    /// decoding matters), 1 to 1024 bytes.
    Reply,
    /// A shell command for the remote-execution servers (`sh -c`).
    Command,
}

/// Where in a template line the peer's literal lies, and what it may become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub line: usize,
    /// The byte range of the quoted literal in the line (quotes included).
    pub span: (usize, usize),
    pub kind: Kind,
}

/// A `send` whose segmentation may vary: where its payload ends in the line (the `split`
/// option, if any, follows) and how many bytes it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitSlot {
    pub line: usize,
    pub at: usize,
    pub len: usize,
}

/// How a `send` is cut into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// One write.
    Whole,
    /// Pieces of this many bytes (at least a 60th of the payload, so a case stays short).
    Every(usize),
    /// Pieces of 1 to 16 bytes, cut by this seed (payloads up to 1024 bytes).
    Random(u64),
}

/// One case of the suite, as canonical lines, with its variable literals and segmentations.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub lines: Vec<String>,
    pub slots: Vec<Slot>,
    pub splits: Vec<SplitSlot>,
    pub frames: Vec<FrameSlot>,
}

/// A generated case: which template, and for each of its slots a new literal, and for
/// each of its sends a new segmentation, or `None` (the template's own: what shrinking
/// goes back to).
#[derive(Debug, Clone)]
pub struct Generated {
    pub template: usize,
    pub literals: Vec<Option<Vec<u8>>>,
    pub cuts: Vec<Option<Cut>>,
    pub frames: Vec<Option<GenFrame>>,
}

/// Whether SPEC.md has the program read whatever segmentation the peer sends with: the
/// framed clients (a frame may arrive in any pieces: no message boundaries). An echo or
/// remote-execution server answers each `recv`, so cutting its input changes its answer
/// with the timing, and the reference could not fix it.
pub fn segmentable(program: &str, role: Role) -> bool {
    program.starts_with("framed-") && role == Role::Client
}

/// The kind of literal a program's peer sends from `role`'s side with `word` (`send`,
/// `stdin`), or `None` where SPEC.md fixes the bytes (the recv demonstrations, the sticky
/// demonstrations' sizes, the frames a framed client reads: not generated yet).
pub fn kind_of(program: &str, role: Role, word: &str) -> Option<Kind> {
    let family = program.trim_end_matches(|c: char| c.is_ascii_digit());
    let family = match family {
        f if f.starts_with("udp-") => "udp",
        f if f.starts_with("framed-") => "framed",
        f => f,
    };
    match (family, role, word) {
        ("echo", Role::Server, "send") => Some(Kind::Message),
        ("echo", Role::Client, "stdin") => Some(Kind::Line),
        ("echo", Role::Client, "send") => Some(Kind::Reply),
        ("rexec", Role::Server, "send") => Some(Kind::Command),
        ("rexec", Role::Client, "stdin") => Some(Kind::Line),
        ("rexec", Role::Client, "send") => Some(Kind::Reply),
        // The framed servers run commands too, and frame their output.
        ("framed", Role::Server, "send") => Some(Kind::Command),
        // A datagram to a server is a message it prints (UTF-8, up to the 1024-byte
        // buffer, so never truncated mid-character); a server's datagram to a client is
        // a reply; a chat's typed lines are lines (the contacts and `q` are words).
        ("udp", Role::Server, "sendto") => Some(Kind::Message),
        ("udp", Role::Client, "sendto") => Some(Kind::Reply),
        ("udp", _, "stdin") if program == "udp-chat" => Some(Kind::Line),
        _ => None,
    }
}

/// The templates of `suite` for `role`: every case with something to vary, its steps
/// written canonically, the peer's literals that may vary found in its lines. A literal
/// that is a word of the course's (`${...}`) or the quit word stays as it is. A case with
/// nothing to vary is left out: replayed, it would only repeat the suite. None at all: SPEC.md
/// fixes every byte the peer sends that program (the recv and sticky demonstrations).
pub fn templates(suite: &Suite, role: Role, quit: &[u8]) -> Vec<Template> {
    suite
        .cases
        .iter()
        .filter(|c| c.role == role)
        .map(|case| {
            let lines: Vec<String> = case.steps.iter().map(written).collect();
            let slots = lines
                .iter()
                .enumerate()
                .filter_map(|(i, line)| slot_of(&suite.info.id, role, i, line, quit))
                // A literal the case then expects silence after (a command with no
                // output) keeps its meaning: the generated ones always answer; and one
                // whose answer the case reads by size (`read c1 6`, `peek`) too.
                .filter(|slot| {
                    !lines[slot.line + 1..]
                        .iter()
                        .take_while(|l| !l.starts_with("send ") && !l.starts_with("stdin "))
                        .any(|l| sized_read(l))
                        && lines
                            .get(slot.line + 1)
                            .is_none_or(|next| !next.starts_with("quiet"))
                })
                .collect();
            // A case where the client rejects a frame and exits: the rest of a cut frame
            // would meet a closed connection, when the client stopped reading is timing.
            let rejects = case
                .steps
                .iter()
                .any(|s| s.action() == Action::Exit { nonzero: true });
            let splits = if segmentable(&suite.info.id, role) && !rejects {
                case.steps
                    .iter()
                    .enumerate()
                    .filter_map(|(i, step)| match step.action() {
                        Action::Send { data, .. } => Some(SplitSlot {
                            line: i,
                            at: lines[i].find(" split ").unwrap_or(lines[i].len()),
                            len: data.len(),
                        }),
                        _ => None,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let frames = if segmentable(&suite.info.id, role) {
                frame_slots(suite, &case.steps, &lines)
            } else {
                Vec::new()
            };
            Template {
                name: case.name.clone(),
                lines,
                slots,
                splits,
                frames,
            }
        })
        .filter(|t| !(t.slots.is_empty() && t.splits.is_empty() && t.frames.is_empty()))
        .collect()
}

/// The sends of `steps` that are one whole frame the client reads (the program's format,
/// the course's keys), with the `stdout` steps that see its body: the frames a generated
/// case replaces. A frame the case has the client refuse is no slot: the case is about it.
fn frame_slots(suite: &Suite, steps: &[crate::script::Step], lines: &[String]) -> Vec<FrameSlot> {
    let Some(format) = suite.info.eof_frames else {
        return Vec::new();
    };
    let keys = &suite.info.header_keys;
    let limits = sockref::frame::Limits::default();
    steps
        .iter()
        .enumerate()
        .filter_map(|(i, step)| {
            let Action::Send { conn, data, .. } = step.action() else {
                return None;
            };
            match crate::framing::decode(format, &data, &limits, keys) {
                Ok(Some((_, used))) if used == data.len() => {}
                _ => return None,
            }
            let later = steps[i + 1..]
                .iter()
                .take_while(|s| matches!(s.action(), Action::Stdout | Action::Exit { .. }));
            let mut stdout = Vec::new();
            for (j, s) in later.enumerate() {
                match s.action() {
                    Action::Exit { nonzero: true } => return None,
                    Action::Stdout => stdout.push(i + 1 + j),
                    _ => {}
                }
            }
            let line = &lines[i];
            let start = line.find('"')?;
            let end = line.find(" split ").unwrap_or(line.len());
            Some(FrameSlot {
                line: i,
                conn,
                span: (start, end),
                stdout,
                format,
                keys: keys.clone(),
            })
        })
        .collect()
}

/// A step as a case file writes it: its canonical text, except a `send` of a long,
/// varied payload, which the canonical text (a transcript's) shows as a digest that no
/// case can send: that is written out as a literal, its `split` kept.
fn written(step: &crate::script::Step) -> String {
    let text = step.to_string();
    match step.action() {
        Action::Send { conn, data, .. } if text.contains(" sha256:") => {
            let split = text.find(" split ").map_or("", |at| &text[at..]);
            format!("send {conn} {}{split}", payload::expression(&data))
        }
        _ => text,
    }
}

/// `read CONN N` or `peek CONN N`: a read whose size the case fixed.
fn sized_read(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    matches!(words.as_slice(), ["read" | "peek", _, n, ..] if n.parse::<usize>().is_ok())
}

/// The slot of a line, if it is `send CONN "..."`, `sendto SOCK "..."` or `stdin "..."`
/// with a single literal of a kind the program's peer may vary.
fn slot_of(program: &str, role: Role, line: usize, text: &str, quit: &[u8]) -> Option<Slot> {
    let word = text.split_whitespace().next()?;
    let kind = kind_of(program, role, word)?;
    let start = text.find('"')?;
    // Only a literal that is the whole payload: `send c1 "x" * 3` or a frame is not varied.
    let before = text[..start].split_whitespace().count();
    let expected_before = if word == "stdin" { 1 } else { 2 };
    if before != expected_before {
        return None;
    }
    let (bytes, rest) = payload::parse_quoted(&text[start..]).ok()?;
    let end = text.len() - rest.len();
    let after = rest.trim();
    if !(after.is_empty() || after.starts_with("split ")) {
        return None;
    }
    // A course's word, the quit word however typed (` Q `), or a blank line (the rule
    // about empty input) keeps its meaning.
    // A literal with a newline is as many printed lines as the case's `stdout` steps
    // expect; one line of another kind would leave a step with nothing to see.
    let quits = bytes.trim_ascii().eq_ignore_ascii_case(quit);
    let blank = bytes.iter().all(|b| b.is_ascii_whitespace());
    let lines = bytes.contains(&b'\n');
    if bytes.windows(2).any(|w| w == b"${") || quits || blank || lines {
        return None;
    }
    Some(Slot {
        line,
        span: (start, end),
        kind,
    })
}

/// The case text of a generated case: `role`, then the template's lines with its new
/// literals, frames and segmentations in place, and the rest of the case rewritten to what
/// a generated frame makes the client do.
pub fn render(role: Role, template: &Template, generated: &Generated) -> String {
    let (literals, cuts) = (&generated.literals, &generated.cuts);
    let frame_at = |line: usize| {
        template
            .frames
            .iter()
            .zip(&generated.frames)
            .find(|(slot, _)| slot.line == line)
            .and_then(|(_, frame)| frame.as_ref())
    };
    let mut lines = template.lines.clone();
    // The segmentation first: it is the end of its line, after every payload's span.
    for (slot, cut) in template.splits.iter().zip(cuts) {
        let frame = frame_at(slot.line);
        // A new frame under the template's own split is cut as the template says, within
        // the same bounds as any cut: `split random 8` of 179 000 bytes would be 20 000
        // paced pieces.
        let own = frame.map(|_| template_cut(&lines[slot.line][slot.at..]));
        // A refused frame goes whole: the client may stop reading at any byte of it, and
        // the rest of a cut one would meet a closed connection.
        let cut = match frame {
            Some(f) if f.fate == Fate::Refused => Some(&Cut::Whole),
            _ => cut.as_ref().or(own.as_ref()),
        };
        let len = frame.map_or(slot.len, |f| f.bytes.len());
        if let Some(cut) = cut {
            let line = &mut lines[slot.line];
            line.truncate(slot.at);
            match cut {
                Cut::Whole => {}
                Cut::Every(n) => {
                    let n = (*n).max(len.div_ceil(60)).max(1);
                    line.push_str(&format!(" split {n}"));
                }
                Cut::Random(seed) if len <= 1024 => line.push_str(&format!(" split random {seed}")),
                Cut::Random(_) => line.push_str(&format!(" split {}", len.div_ceil(60))),
            }
        }
    }
    // The payloads, from the last of a line to the first, so that earlier spans stay right.
    let mut spans: Vec<(usize, (usize, usize), &[u8])> = template
        .slots
        .iter()
        .zip(literals)
        .filter_map(|(slot, l)| Some((slot.line, slot.span, l.as_deref()?)))
        .chain(
            template
                .frames
                .iter()
                .zip(&generated.frames)
                .filter_map(|(slot, f)| Some((slot.line, slot.span, &f.as_ref()?.bytes[..]))),
        )
        .collect();
    spans.sort_by_key(|&(line, span, _)| std::cmp::Reverse((line, span.0)));
    for (line, span, bytes) in spans {
        lines[line].replace_range(span.0..span.1, &payload::expression(bytes));
    }
    // What the client does after each new frame, from the last frame to the first, so that
    // earlier lines keep their places.
    for (slot, frame) in template.frames.iter().zip(&generated.frames).rev() {
        let Some(frame) = frame else { continue };
        match frame.fate {
            Fate::Read => {
                for &line in slot.stdout.iter().rev() {
                    lines.remove(line);
                }
                for _ in 0..frame.printed {
                    lines.insert(slot.line + 1, "stdout".into());
                }
            }
            Fate::Refused => {
                lines.truncate(slot.line + 1);
                lines.push("exit nonzero".into());
            }
            Fate::Cut(end) => {
                lines.truncate(slot.line + 1);
                let how = match end {
                    frames::End::Shutdown => "shutdown",
                    frames::End::Reset => "reset",
                };
                lines.push(format!("{how} {}", slot.conn));
                lines.push("exit nonzero".into());
            }
        }
    }
    format!("role {role}\n{}\n", lines.join("\n"))
}

/// The cut a template's `split` option says (` split 3`, ` split random 8`, or none).
fn template_cut(option: &str) -> Cut {
    let words: Vec<&str> = option.split_whitespace().collect();
    match words.as_slice() {
        ["split", "random", seed] => seed.parse().map_or(Cut::Whole, Cut::Random),
        ["split", n] => n.parse().map_or(Cut::Whole, Cut::Every),
        _ => Cut::Whole,
    }
}

/// The generator of cases from `templates`: a template (shrinking towards the first),
/// then for each of its slots the template's literal or a new one of its kind.
pub fn strategy(templates: Vec<Template>) -> BoxedStrategy<Generated> {
    let count = templates.len();
    (0..count)
        .prop_flat_map(move |t| {
            let slots: Vec<BoxedStrategy<Option<Vec<u8>>>> = templates[t]
                .slots
                .iter()
                .map(|s| proptest::option::weighted(0.8, literal(s.kind)).boxed())
                .collect();
            let cuts: Vec<BoxedStrategy<Option<Cut>>> = templates[t]
                .splits
                .iter()
                .map(|_| proptest::option::weighted(0.8, cut()).boxed())
                .collect();
            let frames: Vec<BoxedStrategy<Option<GenFrame>>> = templates[t]
                .frames
                .iter()
                .map(|f| {
                    proptest::option::weighted(0.8, frames::frame(f.format, f.keys.clone())).boxed()
                })
                .collect();
            (Just(t), slots, cuts, frames)
        })
        .prop_map(|(template, literals, cuts, frames)| Generated {
            template,
            literals,
            cuts,
            frames,
        })
        .boxed()
}

/// A segmentation: shrinks towards one write.
fn cut() -> impl Strategy<Value = Cut> {
    prop_oneof![
        Just(Cut::Whole),
        (1usize..=64).prop_map(Cut::Every),
        any::<u64>().prop_map(Cut::Random),
    ]
}

/// New literals of a kind; proptest shrinks each towards a short, plain one.
pub fn literal(kind: Kind) -> BoxedStrategy<Vec<u8>> {
    match kind {
        // Not blank: a blank line printed is no data (SPEC.md compares printed data), so the
        // reference's print of it could not be told from no print.
        Kind::Message => text(1024, true)
            .prop_filter("a message that is not blank", |m| {
                !m.iter().all(|b| b.is_ascii_whitespace())
            })
            .boxed(),
        Kind::Line => text(200, false)
            .prop_filter("a line that is not blank", |l| {
                !l.iter().all(|b| b.is_ascii_whitespace())
            })
            .boxed(),
        Kind::Reply => proptest::collection::vec(0x20u8..0x7f, 1..1024)
            .prop_filter("a reply that is not blank", |r| {
                !r.iter().all(|b| b.is_ascii_whitespace())
            })
            .boxed(),
        Kind::Command => command().boxed(),
    }
}

/// UTF-8 text of 1 to `max` bytes without a newline: mostly ASCII words with spaces and
/// both cases, some accented and CJK letters; `spaces_around`: spaces at either end too.
fn text(max: usize, spaces_around: bool) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => "[a-zA-Z0-9]{1,12}",
        2 => Just(" ".to_string()),
        1 => "[!-/:-@]{1,3}",
        1 => "[éÉüßñ]{1,3}",
        1 => "[你好世界粘包]{1,3}",
    ];
    let long = prop_oneof![
        9 => Just(None),
        1 => (1usize..=max).prop_map(Some),
    ];
    (proptest::collection::vec(piece, 1..12), long, any::<bool>()).prop_map(
        move |(pieces, long, pad)| {
            let mut s = pieces.concat();
            if let Some(n) = long {
                // At and up to the buffer: a run of one letter, whole characters only.
                s = "x".repeat(n);
            }
            if spaces_around && pad && s.len() + 2 <= max {
                s = format!(" {s} ");
            }
            let mut bytes = s.into_bytes();
            while bytes.len() > max {
                bytes.pop();
                while std::str::from_utf8(&bytes).is_err() {
                    bytes.pop();
                }
            }
            if bytes.is_empty() {
                bytes.push(b'x');
            }
            bytes
        },
    )
}

/// A shell command of one to four parts, each writing to stdout or stderr: a short word,
/// UTF-8, bytes that are not UTF-8, nothing, or a lot (up to 200 000 bytes, past a pipe's
/// 64 KiB), in any order.
fn command() -> impl Strategy<Value = Vec<u8>> {
    let part = (
        prop_oneof![
            4 => "[a-zA-Z0-9 ]{1,16}".prop_map(|w| format!("printf '{w}'")),
            1 => Just("printf 'h\\303\\251llo'".to_string()),
            1 => Just("printf '\\377\\376'".to_string()),
            1 => Just("true".to_string()),
            1 => (1usize..200_000).prop_map(|n| format!("head -c {n} /dev/zero | tr '\\0' x")),
        ],
        any::<bool>(),
    )
        .prop_map(|(cmd, to_stderr)| {
            if to_stderr {
                format!("{{ {cmd}; }} >&2")
            } else {
                cmd
            }
        });
    // Some output always: a command with none gets no reply at all (SPEC.md), which the
    // template's `read` after it would wait for in vain.
    proptest::collection::vec(part, 1..5)
        .prop_filter("a command with output", |parts| {
            parts.iter().any(|p| !p.contains("true"))
        })
        .prop_map(|parts| parts.join("; ").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    fn template(lines: &[&str], program: &str, role: Role) -> Template {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let slots = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| slot_of(program, role, i, l, b"q"))
            .collect();
        Template {
            name: "t".into(),
            lines,
            slots,
            splits: Vec::new(),
            frames: Vec::new(),
        }
    }

    #[test]
    fn only_whole_literals_of_a_varied_kind_are_slots() {
        let t = template(
            &[
                "spawn",
                "connect c1",
                "send c1 \"hello\"",
                "read c1",
                "send c1 \"a\" * 3",
                "send c1 \"q\"",
                "send c1 \"x\" split 1",
                "send c1 \" Q \"",
                "send c1 \"  \"",
            ],
            "echo2",
            Role::Server,
        );
        let lines: Vec<usize> = t.slots.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 6]);
        let text = render(
            Role::Server,
            &t,
            &Generated {
                template: 0,
                literals: vec![Some(b"h\xc3\xa9 \"x\"".to_vec()), Some(b"yy".to_vec())],
                cuts: Vec::new(),
                frames: Vec::new(),
            },
        );
        assert!(text.contains("send c1 \"hé \\\"x\\\"\"\n"), "{text}");
        assert!(text.contains("send c1 \"yy\" split 1\n"), "{text}");
        assert!(text.starts_with("role server\n"));
        // The recv demonstrations send what SPEC.md fixes.
        assert!(
            template(&["send c1 \"hello\""], "recv-partial", Role::Server)
                .slots
                .is_empty()
        );
    }

    #[test]
    fn a_framed_clients_sends_are_cut_anew_and_long_ones_stay_short() {
        let mut t = template(
            &["send c1 header(\"hi\\n\") split 1", "send c1 \"abc\""],
            "framed-header",
            Role::Client,
        );
        t.splits = vec![
            SplitSlot {
                line: 0,
                at: t.lines[0].find(" split ").expect("a split"),
                len: 100,
            },
            SplitSlot {
                line: 1,
                at: t.lines[1].len(),
                len: 6000,
            },
        ];
        let cut = |cuts: Vec<Option<Cut>>| {
            render(
                Role::Client,
                &t,
                &Generated {
                    template: 0,
                    literals: Vec::new(),
                    cuts,
                    frames: Vec::new(),
                },
            )
        };
        let text = cut(vec![Some(Cut::Whole), Some(Cut::Every(1))]);
        assert!(text.contains("send c1 header(\"hi\\n\")\n"), "{text}");
        // 6000 bytes in pieces of at least 100: at most 60 pieces, 1.2 s of pacing.
        assert!(text.contains("send c1 \"abc\" split 100\n"), "{text}");
        let text = cut(vec![Some(Cut::Random(9)), None]);
        assert!(
            text.contains("header(\"hi\\n\") split random 9\n"),
            "{text}"
        );
        assert!(text.contains("send c1 \"abc\"\n"), "{text}");
        assert!(segmentable("framed-low", Role::Client));
        assert!(!segmentable("framed-low", Role::Server) && !segmentable("echo2", Role::Server));
    }

    #[test]
    fn a_new_frame_rewrites_what_the_client_must_then_do() {
        let lines = [
            "send c1 \"\\x03\\0\\0\\0hi\\n\" split 2",
            "stdout",
            "stdin \"printf x\"",
            "read c1",
            "exit",
        ];
        let t = Template {
            name: "t".into(),
            lines: lines.iter().map(|l| l.to_string()).collect(),
            slots: Vec::new(),
            splits: vec![SplitSlot {
                line: 0,
                at: lines[0].find(" split ").expect("a split"),
                len: 7,
            }],
            frames: vec![FrameSlot {
                line: 0,
                conn: "c1".into(),
                span: (8, lines[0].find(" split ").expect("a split")),
                stdout: vec![1],
                format: crate::framing::Format::Low,
                keys: Default::default(),
            }],
        };
        let with = |frame: GenFrame| {
            render(
                Role::Client,
                &t,
                &Generated {
                    template: 0,
                    literals: Vec::new(),
                    cuts: vec![None],
                    frames: vec![Some(frame)],
                },
            )
        };
        // Read: as many `stdout` steps as printed lines, the template's split kept.
        let text = with(GenFrame {
            bytes: b"\x04\0\0\0a\nb\n".to_vec(),
            fate: Fate::Read,
            printed: 2,
        });
        assert!(
            text.contains("send c1 \"\\x04\\0\\0\\0a\\nb\\n\" split 2\nstdout\nstdout\nstdin"),
            "{text}"
        );
        // Refused: sent whole, then a non-zero exit and nothing else.
        let text = with(GenFrame {
            bytes: b"\xff\xff\xff\xff".to_vec(),
            fate: Fate::Refused,
            printed: 0,
        });
        assert!(
            text.ends_with("send c1 \"\\xff\\xff\\xff\\xff\"\nexit nonzero\n"),
            "{text}"
        );
        // Cut short: the peer's end, then a non-zero exit.
        let text = with(GenFrame {
            bytes: b"\x04\0".to_vec(),
            fate: Fate::Cut(frames::End::Reset),
            printed: 0,
        });
        assert!(
            text.ends_with("split 2\nreset c1\nexit nonzero\n"),
            "{text}"
        );
    }

    #[test]
    fn literals_stay_within_what_spec_lets_a_peer_send() {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
        );
        for kind in [Kind::Message, Kind::Line, Kind::Reply, Kind::Command] {
            let strategy = literal(kind);
            for _ in 0..300 {
                let value = strategy.new_tree(&mut runner).expect("a value").current();
                assert!(!value.is_empty() && !value.contains(&b'\n'), "{kind:?}");
                match kind {
                    Kind::Message => {
                        assert!(value.len() <= 1024 && std::str::from_utf8(&value).is_ok());
                        assert!(!value.iter().all(|b| b.is_ascii_whitespace()));
                    }
                    Kind::Line => assert!(!value.iter().all(|b| b.is_ascii_whitespace())),
                    Kind::Reply => assert!(value.iter().all(|b| (0x20..0x7f).contains(b))),
                    Kind::Command => assert!(value.is_ascii()),
                }
            }
        }
    }
}
