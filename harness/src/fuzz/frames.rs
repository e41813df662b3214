//! Generated frames for the framed clients: in place of a whole frame a template sends,
//! any frame SPEC.md lets a server send (any body; for framed-header a header with its keys
//! in any order, the digest in either case, a placeholder or none, no file name or one that
//! is not ASCII, unknown keys, pretty-printed, escaped or raw UTF-8), one it forbids (a
//! length zero, negative or over 1 GiB, a header that is not JSON, not an object, without
//! `total_size` or with a negative or oversized one, a real digest that is wrong), or a
//! frame cut short by the server's close or reset. Each carries what the client must then
//! do, so the template's rest is rewritten to match. Pure: values in, bytes out.

use crate::framing::Format;
use proptest::prelude::*;
use proptest::sample::Index;
use sockref::frame::{self as codec, HeaderKeys};

/// A whole frame a template sends a framed client in one `send`, and the `stdout` steps
/// that see its body printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSlot {
    pub line: usize,
    /// The connection it is sent on (`c1`), for the close or reset that cuts it short.
    pub conn: String,
    /// The byte range of the payload in the line (up to its `split`, if any).
    pub span: (usize, usize),
    /// The lines of the `stdout` steps that follow it, before the next step of the peer's.
    pub stdout: Vec<usize>,
    pub format: Format,
    pub keys: HeaderKeys,
}

/// What the client must do with a generated frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Read it and print its body: the template goes on.
    Read,
    /// Refuse it (SPEC.md: a protocol error): a message and a non-zero exit.
    Refused,
    /// The server ends the connection inside it: a protocol error too.
    Cut(End),
}

/// How the server ends a connection inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `shutdown(SHUT_WR)`: a FIN.
    Shutdown,
    /// An abortive close: an RST.
    Reset,
}

/// A generated frame: its bytes, what the client does with it, and how many non-blank
/// lines its body prints (each a `stdout` step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFrame {
    pub bytes: Vec<u8>,
    pub fate: Fate,
    pub printed: usize,
}

/// Frames of `format` with the course's header `keys`: mostly ones the client reads,
/// then ones it must refuse and ones cut short. Shrinks towards a short body in the
/// tutorial's header.
pub fn frame(format: Format, keys: HeaderKeys) -> BoxedStrategy<GenFrame> {
    let read = {
        let keys = keys.clone();
        (body(), header_plan(false)).prop_map(move |(body, plan)| GenFrame {
            printed: printed_lines(&body),
            bytes: encode(format, &keys, &plan, &body),
            fate: Fate::Read,
        })
    };
    let refused = {
        let keys = keys.clone();
        let content = (short_body(), header_plan(true)).prop_map(move |(body, plan)| GenFrame {
            bytes: encode(format, &keys, &plan, &body),
            fate: Fate::Refused,
            printed: 0,
        });
        // A prefix refused from its four bytes alone, sent alone as the suites do (no body
        // could follow a length like that).
        let prefix = bad_prefix(format).prop_map(|bytes| GenFrame {
            bytes,
            fate: Fate::Refused,
            printed: 0,
        });
        match format {
            Format::Low => prefix.boxed(),
            Format::Header => prop_oneof![3 => content, 1 => prefix].boxed(),
        }
    };
    let cut = (
        body(),
        header_plan(false),
        any::<Index>(),
        prop_oneof![Just(End::Shutdown), Just(End::Reset)],
    )
        .prop_map(move |(body, plan, at, end)| {
            let whole = encode(format, &keys, &plan, &body);
            // Inside the frame: at least its first byte, at most all but its last.
            let at = 1 + at.index(whole.len() - 1);
            GenFrame {
                bytes: whole[..at].to_vec(),
                fate: Fate::Cut(end),
                printed: 0,
            }
        });
    prop_oneof![6 => read, 2 => refused, 2 => cut].boxed()
}

/// How many `stdout` steps a body prints: its non-blank lines (a blank one is no data).
pub fn printed_lines(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(|b| b.is_ascii_whitespace()))
        .count()
}

/// A body a client prints: ASCII (SPEC.md feeds clients ASCII where decoding matters),
/// one to four lines or none at all, or one long line past the 1024-byte buffer.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => short_body(),
        1 => Just(Vec::new()),
        // Past the buffer, up to 200 000 bytes: lines of 4096 bytes or of 60 000 (under
        // the 64 KiB a printed line is compared within).
        1 => (1025usize..200_000, prop_oneof![Just(4096usize), Just(60_000)], any::<bool>())
            .prop_map(|(n, width, newline)| {
                let mut body = Vec::with_capacity(n + n / width + 1);
                for chunk in vec![b'x'; n].chunks(width) {
                    if !body.is_empty() {
                        body.push(b'\n');
                    }
                    body.extend_from_slice(chunk);
                }
                if newline {
                    body.push(b'\n');
                }
                body
            })
            // Shrinking goes straight to the short bodies: each step of a binary search of
            // the length would be a run, most of them waiting out a deadline.
            .no_shrink(),
    ]
}

/// One to four short lines of words, the last newline optional. A line starts with a
/// letter or digit (no blank line, no prompt), and holds no quote (no bytes repr).
fn short_body() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec("[a-zA-Z0-9][a-zA-Z0-9 .,:;!?()-]{0,40}", 1..5),
        any::<bool>(),
    )
        .prop_map(|(lines, newline)| {
            let mut body = lines.join("\n");
            if newline {
                body.push('\n');
            }
            body.into_bytes()
        })
}

/// What a framed-header header says, and how it is written.
#[derive(Debug, Clone)]
struct HeaderPlan {
    size: Size,
    md5: Md5,
    file_name: Option<String>,
    extras: Vec<(String, String)>,
    /// Where the three keys go among the extras.
    order: Vec<Index>,
    style: Style,
    ascii: bool,
    /// The whole header replaced by one that is not a JSON object.
    not_object: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
enum Size {
    Right,
    Absent,
    Negative(i64),
    Oversized(u64),
}

#[derive(Debug, Clone)]
enum Md5 {
    Lower,
    Upper,
    Absent,
    /// Anything but 32 hex digits: not verified (SPEC.md).
    Placeholder(&'static str),
    /// 32 hex digits that are not the body's: refused.
    Wrong {
        upper: bool,
    },
}

/// The header's layout: Python's `json.dumps` default, compact, or indented.
#[derive(Debug, Clone, Copy)]
enum Style {
    Python,
    Compact,
    Indent(usize),
}

/// A header plan; `forbidden`: one SPEC.md forbids (exactly one thing wrong), else one it
/// allows.
fn header_plan(forbidden: bool) -> impl Strategy<Value = HeaderPlan> {
    let allowed_md5 = prop_oneof![
        4 => Just(Md5::Lower),
        1 => Just(Md5::Upper),
        1 => Just(Md5::Absent),
        1 => prop::sample::select(&["fdsaf2143254f", "", "0123456789abcdef0123456789abcde", "g0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0"][..])
            .prop_map(Md5::Placeholder),
    ];
    let file_name = prop_oneof![
        3 => Just(Some("f1.txt".to_string())),
        1 => Just(None),
        1 => "[a-zA-Z0-9 ._\"\\\\-]{0,12}|[报告你好é]{1,4}\\.txt".prop_map(Some),
    ];
    let extras = proptest::collection::vec(("[a-z][a-z_]{0,9}", json_value()), 0..3);
    let order = proptest::collection::vec(any::<Index>(), 3);
    let style = prop_oneof![
        3 => Just(Style::Python),
        1 => Just(Style::Compact),
        1 => prop_oneof![Just(2usize), Just(4)].prop_map(Style::Indent),
    ];
    let fault = if forbidden {
        prop_oneof![
            Just((Size::Absent, None, None)),
            (-(1i64 << 40)..0).prop_map(|n| (Size::Negative(n), None, None)),
            ((1u64 << 30) + 1..1u64 << 40).prop_map(|n| (Size::Oversized(n), None, None)),
            any::<bool>().prop_map(|upper| (Size::Right, Some(Md5::Wrong { upper }), None)),
            prop::sample::select(
                &[
                    "[6]",
                    "6",
                    "\"hello\"",
                    "null",
                    "{\"total_size\": 6",
                    "total_size=6"
                ][..]
            )
            .prop_map(|text| (Size::Right, None, Some(text))),
        ]
        .boxed()
    } else {
        Just((Size::Right, None, None)).boxed()
    };
    (
        fault,
        allowed_md5,
        file_name,
        extras,
        order,
        style,
        any::<bool>(),
    )
        .prop_map(
            |((size, md5, not_object), allowed, file_name, extras, order, style, ascii)| {
                HeaderPlan {
                    size,
                    md5: md5.unwrap_or(allowed),
                    file_name,
                    extras,
                    order,
                    style,
                    ascii,
                    not_object,
                }
            },
        )
}

/// An unknown key's value, as JSON text: any kind, a nested object naming the protocol's
/// keys too (only the top level's count).
fn json_value() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "1",
            "-2.5",
            "\"utf-8\"",
            "\"报告\"",
            "true",
            "null",
            "[1, \"a\"]",
            "{\"total_size\": 99, \"md5\": \"x\"}",
        ][..],
    )
    .prop_map(str::to_string)
}

/// A 4-byte prefix refused from itself alone: negative, or over 1 GiB (SPEC.md: a client
/// may accept up to 1 GiB, so only beyond that is a length oversized); for framed-header
/// also zero.
fn bad_prefix(format: Format) -> BoxedStrategy<Vec<u8>> {
    let negative = (i32::MIN..0).prop_map(|n| n.to_le_bytes().to_vec());
    let over = ((1i32 << 30) + 1..=i32::MAX).prop_map(|n| n.to_le_bytes().to_vec());
    match format {
        Format::Low => prop_oneof![negative, over].boxed(),
        Format::Header => prop_oneof![negative, over, Just(vec![0u8; 4])].boxed(),
    }
}

/// The frame of `body` as `plan` says (framed-low ignores the plan: a prefix and the body).
fn encode(format: Format, keys: &HeaderKeys, plan: &HeaderPlan, body: &[u8]) -> Vec<u8> {
    match format {
        Format::Low => codec::encode_low(body),
        Format::Header => codec::encode_header_raw(header_text(keys, plan, body).as_bytes(), body),
    }
}

/// The header's JSON text.
fn header_text(keys: &HeaderKeys, plan: &HeaderPlan, body: &[u8]) -> String {
    if let Some(text) = plan.not_object {
        return text.replace("total_size", &keys.total_size);
    }
    let string = |s: &str| json_string(s, plan.ascii);
    let mut seen = std::collections::HashSet::new();
    let mut members: Vec<(String, String)> = plan
        .extras
        .iter()
        .filter(|(name, _)| ![&keys.total_size, &keys.file_name, &keys.md5].contains(&name))
        // One member a name: a duplicate key's meaning differs between parsers.
        .filter(|(name, _)| seen.insert(name.clone()))
        .map(|(name, value)| (string(name), value.clone()))
        .collect();
    let md5 = codec::md5_hex(body);
    let ours = [
        (
            &keys.md5,
            match &plan.md5 {
                Md5::Lower => Some(md5),
                Md5::Upper => Some(md5.to_ascii_uppercase()),
                Md5::Absent => None,
                Md5::Placeholder(p) => Some(p.to_string()),
                // Another body's digest: one bit of the real one flipped.
                Md5::Wrong { upper } => {
                    let mut wrong: Vec<char> = md5.chars().collect();
                    wrong[0] = if wrong[0] == '0' { '1' } else { '0' };
                    let wrong: String = wrong.into_iter().collect();
                    Some(if *upper {
                        wrong.to_ascii_uppercase()
                    } else {
                        wrong
                    })
                }
            }
            .map(|m| string(&m)),
        ),
        (&keys.file_name, plan.file_name.as_deref().map(string)),
        (
            &keys.total_size,
            match plan.size {
                Size::Right => Some(body.len().to_string()),
                Size::Absent => None,
                Size::Negative(n) => Some(n.to_string()),
                Size::Oversized(n) => Some(n.to_string()),
            },
        ),
    ];
    for ((key, value), at) in ours.into_iter().zip(&plan.order) {
        if let Some(value) = value {
            let at = at.index(members.len() + 1);
            members.insert(at, (string(key), value));
        }
    }
    match plan.style {
        Style::Python => object(&members, ", ", ": "),
        Style::Compact => object(&members, ",", ":"),
        Style::Indent(n) => {
            if members.is_empty() {
                return "{}".into();
            }
            let pad = " ".repeat(n);
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{pad}{k}: {v}"))
                .collect();
            format!("{{\n{}\n}}", inner.join(",\n"))
        }
    }
}

fn object(members: &[(String, String)], comma: &str, colon: &str) -> String {
    let inner: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{k}{colon}{v}"))
        .collect();
    format!("{{{}}}", inner.join(comma))
}

/// `s` as a JSON string; `ascii`: with every character beyond ASCII escaped as `\uXXXX`
/// (Python's default, `ensure_ascii`), else as raw UTF-8.
fn json_string(s: &str, ascii: bool) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    if !ascii {
        return quoted;
    }
    let mut out = String::with_capacity(quoted.len());
    for c in quoted.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use sockref::frame::{Decoded, Limits};

    fn frames(format: Format, keys: HeaderKeys, n: usize) -> Vec<GenFrame> {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[3; 32]),
        );
        let strategy = frame(format, keys);
        (0..n)
            .map(|_| strategy.new_tree(&mut runner).expect("a frame").current())
            .collect()
    }

    /// Every frame does what its fate says to the reference's own decoder (with SPEC.md's
    /// limits, 1 GiB): read whole, refused, or still wanting more when cut.
    #[test]
    fn each_frames_fate_is_what_the_reference_decoder_makes_of_it() {
        let limits = Limits {
            max_body: 1 << 30,
            max_header: 1 << 30,
        };
        let keys = HeaderKeys::parse("filesize filename md5").expect("keys");
        let mut seen = std::collections::HashSet::new();
        for (format, keys) in [
            (Format::Low, HeaderKeys::default()),
            (Format::Header, HeaderKeys::default()),
            (Format::Header, keys),
        ] {
            for frame in frames(format, keys.clone(), 400) {
                let decoded = match format {
                    Format::Low => codec::decode_low(&frame.bytes, &limits).map(|d| match d {
                        Decoded::Frame { frame, used } => Decoded::Frame {
                            frame: frame.to_vec(),
                            used,
                        },
                        Decoded::NeedMore { at_least } => Decoded::NeedMore { at_least },
                    }),
                    Format::Header => {
                        codec::decode_header_keyed(&frame.bytes, &limits, &keys).map(|d| match d {
                            Decoded::Frame { frame, used } => Decoded::Frame {
                                frame: frame.body.to_vec(),
                                used,
                            },
                            Decoded::NeedMore { at_least } => Decoded::NeedMore { at_least },
                        })
                    }
                };
                match (frame.fate, decoded) {
                    (Fate::Read, Ok(Decoded::Frame { frame: body, used })) => {
                        assert_eq!(used, frame.bytes.len());
                        assert_eq!(printed_lines(&body), frame.printed);
                    }
                    (Fate::Refused, Err(_)) => {}
                    (Fate::Cut(_), Ok(Decoded::NeedMore { .. })) => {}
                    (fate, got) => panic!("{fate:?} but {got:?}: {:?}", frame.bytes),
                }
                seen.insert(format!("{format:?} {:?}", frame.fate));
            }
        }
        // Every fate of both formats comes up.
        assert_eq!(seen.len(), 8, "{seen:?}");
    }

    #[test]
    fn headers_vary_in_what_spec_allows() {
        let all: Vec<String> = frames(Format::Header, HeaderKeys::default(), 400)
            .into_iter()
            .filter(|f| f.fate == Fate::Read)
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .collect();
        let any = |needle: &str| all.iter().any(|h| h.contains(needle));
        assert!(any("\"md5\": \"") && any("\"md5\":\"") && any("\n  \""));
        assert!(all.iter().any(|h| !h.contains("\"md5\"")));
        assert!(all.iter().any(|h| !h.contains("file_name")));
        assert!(any("\\u62a5") && any("报"));
        assert!(any("fdsaf2143254f"));
        assert!(all
            .iter()
            .any(|h| h.find("total_size") < h.find("md5") && h.contains("md5")));
    }
}
