//! Frame steps run: `read-frame` reads one frame of the framed-low or framed-header
//! protocol the program sends, decoded with the reference's own codecs
//! (`sockref::frame`), so that a fixture reads as the protocol, not as hex. The body must
//! be the fixture's; a header whose `md5` is a placeholder or that lacks `file_name` or
//! `md5` is non-strict (SPEC.md); a bad frame fails with the decoder's named error; bytes
//! after the frame stay for the next step. Their syntax is in [`crate::syntax::frame`].

use super::context::{Ctx, Failure, StepEnd};
use crate::framing::{decode, Format};
use crate::hints::{Hint, Symptom};
use crate::observation::{FrameObs, HeaderObs, Observation};
use crate::payload::{self, Expected};
use crate::session::Interest;
use crate::syntax::frame::Step;
use sockref::frame::{self, HeaderKeys, Limits};
use std::os::fd::RawFd;
use std::time::Instant;

/// How many bytes are read at a time while a frame is incomplete.
const CHUNK: usize = 64 << 10;

impl Step {
    pub(crate) fn run(&self, ctx: &mut Ctx, expected: Option<&Observation>) -> StepEnd {
        let want = match expected {
            Some(Observation::Frame(f)) => Some(f),
            _ => None,
        };
        let name = self.conn.as_str();
        let Some(fd) = ctx.session.conn(name).map(|c| c.fd()) else {
            return StepEnd::Fail(Failure::harness(format!("no connection `{name}`")));
        };
        let format = self.format;
        let deadline = ctx.deadline();
        let limits = Limits::default();
        let keys = &ctx.program.header_keys;
        // Decode what has come, again whenever more comes: a frame, an error, or the end.
        let outcome = ctx
            .session
            .wait_for(deadline, &|_| vec![Interest::Readable(fd)], |s| {
                let have = s.conn(name)?.received.len();
                let c = s.fill(name, have + CHUNK)?;
                match decode(format, &c.received, &limits, keys) {
                    Ok(Some(done)) => Some(Ok(done)),
                    Ok(None) if c.end.is_some() => Some(Err(None)),
                    Ok(None) => None,
                    Err(e) => Some(Err(Some(e))),
                }
            });
        if format == Format::Header && matches!(outcome, Some(Err(Some(_)))) {
            wait_for_big_endian_evidence(ctx, name, fd, &limits);
        }
        let conn = match ctx.session.conn(name) {
            Some(c) => c,
            None => return StepEnd::Fail(Failure::harness(format!("no connection `{name}`"))),
        };
        let starts_with_brace = conn.received.first() == Some(&b'{');
        let got = match outcome {
            Some(Ok((observed, used))) => {
                conn.received.drain(..used);
                observed
            }
            Some(Err(Some(error))) => {
                let bytes = std::mem::take(&mut conn.received);
                let keys = &ctx.program.header_keys;
                return bad_frame(format, keys, &error, &bytes, starts_with_brace, want);
            }
            Some(Err(None)) => {
                let end = conn.end.map(|e| e.word()).unwrap_or("eof");
                let have = conn.received.len();
                return ended(ctx, end, have);
            }
            None => {
                let bytes = conn.received.clone();
                return incomplete(ctx, format, &bytes, want);
            }
        };
        let Some(want) = want else {
            return StepEnd::Ok(Some(Observation::Frame(got)));
        };
        let rest_follows = rest_follows(ctx, name, fd, want, &got);
        compare(want, got, rest_follows)
    }
}

/// A big-endian header length reads as a huge or negative one, so the decoder gave up at
/// the prefix: the header and body it announces get the grace period to come, as evidence
/// for the hint (the frame has failed either way).
fn wait_for_big_endian_evidence(ctx: &mut Ctx, name: &str, fd: RawFd, limits: &Limits) {
    let until = Instant::now() + ctx.timing.grace;
    let keys = &ctx.program.header_keys;
    ctx.session
        .wait_until(until, &|_| vec![Interest::Readable(fd)], |s| {
            let have = s.conn(name)?.received.len();
            let c = s.fill(name, have + CHUNK)?;
            let Some(prefix) = c.received.get(..4) else {
                return Some(());
            };
            let announced = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            if announced <= 0 || announced as usize > limits.max_header || c.end.is_some() {
                return Some(());
            }
            let mut swapped = c.received.clone();
            swapped[..4].reverse();
            (!matches!(decode(Format::Header, &swapped, limits, keys), Ok(None))).then_some(())
        });
}

/// A frame the decoder refused: its error, with the hint its bytes show.
fn bad_frame(
    format: Format,
    keys: &HeaderKeys,
    error: &frame::FrameError,
    bytes: &[u8],
    starts_with_brace: bool,
    want: Option<&FrameObs>,
) -> StepEnd {
    let symptom = if big_endian_prefix(format, keys, bytes, want) {
        Symptom::Declared(Hint::BigEndianLength)
    } else if counted_characters(error, bytes, want) {
        Symptom::Declared(Hint::LengthCountsCharacters)
    } else if format == Format::Header && starts_with_brace {
        Symptom::Declared(Hint::HeaderWithoutPrefix)
    } else {
        Symptom::Other
    };
    StepEnd::Fail(Failure::new(
        symptom,
        Some(format!(
            "bad frame {}",
            payload::excerpt(bytes, bytes.len(), 40)
        )),
        format!("a bad frame: {error}"),
    ))
}

/// The connection ended before a whole frame: unanswered as the program exits, or cut.
fn ended(ctx: &mut Ctx, end: &str, have: usize) -> StepEnd {
    // A connection dropped unanswered as the program ends (a server that died of a reset
    // on an earlier connection): the evidence a TCP read gives too.
    if have == 0 && ctx.exits_soon() {
        return StepEnd::Fail(Failure::new(
            Symptom::ExitedBeforeConnection,
            Some(end.to_string()),
            format!(
                "the connection ended ({end}) unanswered and the program exited (status {})",
                ctx.status_word()
            ),
        ));
    }
    StepEnd::Fail(Failure::new(
        Symptom::Other,
        Some(end.to_string()),
        format!(
            "the connection ended ({end}) {}",
            if have == 0 {
                "before any byte of a frame".to_string()
            } else {
                format!("inside a frame, after {have} bytes of it")
            }
        ),
    ))
}

/// Too few bytes of a frame within the deadline.
fn incomplete(ctx: &Ctx, format: Format, bytes: &[u8], want: Option<&FrameObs>) -> StepEnd {
    let keys = &ctx.program.header_keys;
    let have = bytes.len();
    // A small body's big-endian length reads as a large little-endian one under the limit:
    // the decoder waits for bytes that never come.
    let big_endian = big_endian_prefix(format, keys, bytes, want);
    StepEnd::Fail(Failure::new(
        if big_endian {
            Symptom::Declared(Hint::BigEndianLength)
        } else {
            Symptom::Short { got: have }
        },
        Some(if have == 0 {
            "nothing".into()
        } else {
            payload::excerpt(bytes, have, 40)
        }),
        format!(
            "expected a frame, got {have} bytes of one within {}s",
            ctx.timing.observe.as_secs()
        ),
    ))
}

/// Whether the first four bytes are the length written big-endian: for framed-low, read
/// that way they give the expected body's length; for framed-header, the header and body
/// they announce read that way decode as a frame.
fn big_endian_prefix(
    format: Format,
    keys: &HeaderKeys,
    bytes: &[u8],
    want: Option<&FrameObs>,
) -> bool {
    let Some(prefix) = bytes.get(..4).and_then(|p| <[u8; 4]>::try_from(p).ok()) else {
        return false;
    };
    if i32::from_be_bytes(prefix) == i32::from_le_bytes(prefix) {
        return false;
    }
    match format {
        Format::Low => want.is_some_and(|w| frame::is_big_endian_length(prefix, w.body.len())),
        Format::Header => {
            let mut swapped = bytes.to_vec();
            swapped[..4].reverse();
            matches!(
                decode(format, &swapped, &Limits::default(), keys),
                Ok(Some(_))
            )
        }
    }
}

/// Whether a framed-header frame (`bytes`) failed its digest because its `total_size`
/// counted the characters of the expected body, whose real `md5` it declares (the server
/// hashed the bytes it sent, then declared their characters).
fn counted_characters(error: &frame::FrameError, bytes: &[u8], want: Option<&FrameObs>) -> bool {
    let (frame::FrameError::DigestMismatch { declared, .. }, Some(want)) = (error, want) else {
        return false;
    };
    let Expected::Exact(body) = &want.body else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    let header_len = bytes
        .get(..4)
        .and_then(|p| <[u8; 4]>::try_from(p).ok())
        .and_then(|p| usize::try_from(i32::from_le_bytes(p)).ok())
        .unwrap_or(0);
    let total_size = bytes
        .get(4..4 + header_len)
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(h).ok())
        .and_then(|h| h.get("total_size").and_then(serde_json::Value::as_u64));
    !text.is_ascii()
        && total_size == Some(text.chars().count() as u64)
        && declared.eq_ignore_ascii_case(&frame::md5_hex(body))
}

/// Whether the rest of the expected body came right after a frame whose body is shorter
/// than the expected one: a declared length that was short (stdout's alone, characters
/// instead of bytes). The rest is waited for within the grace period, and no longer than
/// the bytes keep agreeing with it; it is evidence for a hint only, and the bytes stay for
/// the next step.
fn rest_follows(ctx: &mut Ctx, name: &str, fd: RawFd, want: &FrameObs, got: &FrameObs) -> bool {
    let Expected::Exact(got) = &got.body else {
        return false;
    };
    let missing = want.body.len().saturating_sub(got.len());
    if missing == 0 || !want.body.admits_prefix(got) {
        return false;
    }
    let until = Instant::now() + ctx.timing.grace;
    let whole = |c: &crate::session::Conn| {
        [got.as_slice(), &c.received[..c.received.len().min(missing)]].concat()
    };
    ctx.session
        .wait_until(until, &|_| vec![Interest::Readable(fd)], |s| {
            let c = s.fill(name, missing)?;
            (c.received.len() >= missing || c.end.is_some() || !want.body.admits_prefix(&whole(c)))
                .then_some(())
        });
    ctx.session
        .conn(name)
        .is_some_and(|c| want.body.matches(&whole(c)))
}

/// The body must be the fixture's; a header that is less than strict is non-strict.
/// `rest_follows`: the body is short and the rest of the expected one followed the frame.
fn compare(want: &FrameObs, got: FrameObs, rest_follows: bool) -> StepEnd {
    let body = match &got.body {
        Expected::Exact(b) => b.clone(),
        Expected::Digest { .. } => Vec::new(),
    };
    if !want.body.matches(&body) {
        let shown = Observation::Frame(got).to_string();
        return StepEnd::Fail(Failure::new(
            Symptom::WrongBody {
                got: body,
                want: match &want.body {
                    Expected::Exact(w) => Some(w.clone()),
                    Expected::Digest { .. } => None,
                },
                rest_follows,
            },
            Some(shown.clone()),
            format!("expected {}, got {shown}", Observation::Frame(want.clone())),
        ));
    }
    if let (Some(w), Some(g)) = (&want.header, &got.header) {
        let mut lacks = Vec::new();
        if g.md5 != w.md5 {
            lacks.push(format!(
                "its md5 is {} (a real digest is 32 hex digits)",
                g.md5
            ));
        }
        if g.file_name.is_none() && w.file_name.is_some() {
            lacks.push("it has no file_name".to_string());
        }
        if !lacks.is_empty() {
            return StepEnd::NonStrict {
                observed: Observation::Frame(got),
                why: format!(
                    "the frame's header interoperates, but {}",
                    lacks.join(" and ")
                ),
                hint: Hint::HeaderNotStrict,
            };
        }
    }
    // The file name is free text (SPEC.md): the fixture's shows the reference's.
    StepEnd::Ok(Some(Observation::Frame(FrameObs {
        header: got.header.map(|h| HeaderObs {
            file_name: h.file_name,
            md5: h.md5,
        }),
        body: Expected::Exact(body),
    })))
}

/// The family's answers to the engine: none beyond its steps.
pub(crate) struct Hooks;

impl super::Family for Hooks {}
